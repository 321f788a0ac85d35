//! Protocol settings. Every timeout is counted in ticks, because the peer has no clock: the
//! server decides how long a tick is (ZooKeeper's `tickTime`).

use crate::error::ConfigError;
use crate::ServerId;

/// Settings of one peer. Every limit is named with its unit last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This server's id.
    pub id: ServerId,
    /// Every voting member (the `server.N` lines without `:observer`); this server is one of
    /// them or one of `observers`.
    pub voters: Vec<ServerId>,
    /// Members that follow the committed stream but never vote, never acknowledge and never
    /// lead (Apache's observers, `server.N=...:observer`). Quorums count voters only.
    pub observers: Vec<ServerId>,
    /// While looking, a peer re-broadcasts its vote this often, since notifications may be lost.
    pub election_retry_ticks: u32,
    /// A leader pings its followers this often; pings carry the commit point and trigger acks.
    pub heartbeat_ticks: u32,
    /// A follower repeats its current handshake message this often until the leader answers.
    pub handshake_retry_ticks: u32,
    /// A follower that hears nothing from its leader for this long goes back to looking
    /// (ZooKeeper's syncLimit).
    pub follower_timeout_ticks: u32,
    /// A leader that has not heard from a quorum for this long steps down.
    pub leader_timeout_ticks: u32,
    /// A leader that is not established (discovery and synchronization done with a quorum)
    /// within this long steps down (ZooKeeper's initLimit).
    pub init_timeout_ticks: u32,
    /// Committed proposals kept in memory to bring lagging followers up to date with a diff;
    /// a follower further behind gets a snapshot (ZooKeeper's commitLogCount).
    pub log_window_entries_max: usize,
    /// Proposals a leader lets wait for a quorum before it refuses new ones.
    pub proposals_outstanding_max: usize,
    /// Proposals a leader resends in one go to a follower whose acks stopped advancing.
    pub retransmit_entries_max: usize,
    /// Bytes of a snapshot in one [`crate::Message::SnapshotChunk`].
    pub snapshot_chunk_bytes: u64,
    /// Chunks a leader sends ahead of the follower's acknowledgements (flow control).
    pub snapshot_window_chunks: u64,
    /// A leader whose snapshot transfer made no progress for this long resends from the
    /// last acknowledged byte.
    pub snapshot_retry_ticks: u32,
    /// A transfer (waiting for the snapshot, or for acks) with no progress for this long is
    /// given up: the follower is told to start a new handshake.
    pub snapshot_stall_ticks: u32,
    /// Proposals a leader keeps beyond `log_window_entries_max` so that a follower whose
    /// snapshot is on its way can be sent what followed it; past this the transfer is given
    /// up (and the follower's next handshake gets a newer snapshot).
    pub snapshot_retain_entries_max: usize,
    /// The largest snapshot a follower accepts.
    pub snapshot_bytes_max: u64,
}

impl Config {
    /// Settings with ZooKeeper-like proportions for a server whose tick is about 50 ms.
    pub fn new(id: ServerId, voters: Vec<ServerId>) -> Config {
        Config {
            id,
            voters,
            observers: Vec::new(),
            election_retry_ticks: 2,
            heartbeat_ticks: 1,
            handshake_retry_ticks: 2,
            follower_timeout_ticks: 10,
            leader_timeout_ticks: 10,
            init_timeout_ticks: 20,
            log_window_entries_max: 500,
            proposals_outstanding_max: 1000,
            retransmit_entries_max: 500,
            snapshot_chunk_bytes: 1 << 20,
            snapshot_window_chunks: 8,
            snapshot_retry_ticks: 10,
            snapshot_stall_ticks: 100,
            snapshot_retain_entries_max: 1_000_000,
            snapshot_bytes_max: 4 << 30,
        }
    }

    /// Checks that the settings can work before a peer is built from them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen: Vec<ServerId> = self.voters.iter().chain(&self.observers).copied().collect();
        seen.sort_unstable();
        for pair in seen.windows(2) {
            if pair[0] == pair[1] {
                return Err(ConfigError::DuplicateVoter(pair[0]));
            }
        }
        if self.voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        if !self.is_member(self.id) {
            return Err(ConfigError::NotAVoter(self.id));
        }
        let positive = [
            ("election_retry_ticks", self.election_retry_ticks as usize),
            ("heartbeat_ticks", self.heartbeat_ticks as usize),
            ("handshake_retry_ticks", self.handshake_retry_ticks as usize),
            (
                "follower_timeout_ticks",
                self.follower_timeout_ticks as usize,
            ),
            ("leader_timeout_ticks", self.leader_timeout_ticks as usize),
            ("init_timeout_ticks", self.init_timeout_ticks as usize),
            ("proposals_outstanding_max", self.proposals_outstanding_max),
            ("retransmit_entries_max", self.retransmit_entries_max),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes as usize),
            (
                "snapshot_window_chunks",
                self.snapshot_window_chunks as usize,
            ),
            ("snapshot_retry_ticks", self.snapshot_retry_ticks as usize),
            ("snapshot_stall_ticks", self.snapshot_stall_ticks as usize),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }

    /// Whether `id` is a voter or an observer of this configuration.
    pub fn is_member(&self, id: ServerId) -> bool {
        self.voters.contains(&id) || self.observers.contains(&id)
    }

    /// Whether this server is an observer: it follows but never votes, acks or leads.
    pub fn is_observer(&self) -> bool {
        self.observers.contains(&self.id)
    }

    /// The number of voters that make a majority; observers never count.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}
