//! Protocol settings. Every timeout is counted in ticks, because the peer has no clock: the
//! server decides how long a tick is (ZooKeeper's `tickTime`).

use crate::error::ConfigError;
use crate::zxid::Zxid;
use crate::ServerId;

/// One configuration of the ensemble (Apache's QuorumVerifier): who votes, who observes, and
/// its version, the zxid of the reconfiguration entry that made it (0 for the configuration
/// a server was started with).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Membership {
    pub version: Zxid,
    pub voters: Vec<ServerId>,
    pub observers: Vec<ServerId>,
}

/// At most this many voters plus observers in one configuration (a limit on everything; it
/// also bounds the `members` field of a `Sync` frame).
pub const MEMBERS_MAX: usize = 255;

impl Membership {
    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.contains(&id)
    }

    pub fn is_member(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    /// Whether `ids` holds a majority of this configuration's voters (other ids are ignored).
    pub fn is_majority(&self, ids: &[ServerId]) -> bool {
        let count = self.voters.iter().filter(|v| ids.contains(v)).count();
        count > self.voters.len() / 2
    }

    /// A configuration can work: at least one voter, nobody twice, at most [`MEMBERS_MAX`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen: Vec<ServerId> = self.voters.iter().chain(&self.observers).copied().collect();
        if seen.len() > MEMBERS_MAX {
            return Err(ConfigError::TooManyMembers(seen.len()));
        }
        seen.sort_unstable();
        for pair in seen.windows(2) {
            if pair[0] == pair[1] {
                return Err(ConfigError::DuplicateVoter(pair[0]));
            }
        }
        if self.voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        Ok(())
    }
}

/// Tells the protocol which payloads are reconfigurations and what they change to (the
/// payload format belongs to the server; the protocol only needs the new membership). The
/// returned membership's `version` is ignored: a configuration's version is its entry's zxid.
#[derive(Clone, Copy)]
pub struct MembershipReader(pub fn(&[u8]) -> Option<Membership>);

impl MembershipReader {
    /// A reader for servers that never reconfigure: no payload is a reconfiguration.
    pub fn none() -> MembershipReader {
        MembershipReader(|_| None)
    }

    pub fn read(&self, payload: &[u8]) -> Option<Membership> {
        (self.0)(payload)
    }
}

impl std::fmt::Debug for MembershipReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MembershipReader")
    }
}

impl PartialEq for MembershipReader {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for MembershipReader {}

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
    /// The version of the configuration `voters` and `observers` describe (0 for a static
    /// configuration; the zxid of the reconfiguration entry that made it otherwise).
    pub version: Zxid,
    /// Which payloads are reconfigurations (docs/replication.md, "Dynamic reconfiguration").
    pub membership_reader: MembershipReader,
    /// Learners a leader keeps that are members of none of its configurations (servers about
    /// to be added, or removed ones that still follow).
    pub non_member_learners_max: usize,
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
            version: 0,
            membership_reader: MembershipReader::none(),
            non_member_learners_max: 16,
            snapshot_chunk_bytes: 1 << 20,
            snapshot_window_chunks: 8,
            snapshot_retry_ticks: 10,
            snapshot_stall_ticks: 100,
            snapshot_retain_entries_max: 1_000_000,
            snapshot_bytes_max: 4 << 30,
        }
    }

    /// Checks that the settings can work before a peer is built from them. A server that is
    /// a member of none of the configuration is a joiner: it asks the voters for the leader
    /// and learns the stream without a vote until a reconfiguration adds it
    /// (docs/replication.md, "Dynamic reconfiguration").
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.membership().validate()?;
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

    /// The configuration these settings describe.
    pub fn membership(&self) -> Membership {
        Membership {
            version: self.version,
            voters: self.voters.clone(),
            observers: self.observers.clone(),
        }
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
