//! The messages peers exchange. They are Rust values for now; the wire frame (flatbuffers
//! with a crc32c) is part of the server integration and is specified in docs/replication.md.
//!
//! Every message from a leader carries its epoch and every handshake message carries the
//! follower's attempt number, so that a message that was delayed, duplicated or reordered by
//! the network is recognised as stale and ignored instead of being acted on twice.

use crate::config::Membership;
use crate::zxid::Zxid;
use crate::ServerId;
use std::sync::Arc;

/// A proposal's opaque body; the server puts an encoded transaction in it. Shared, because the
/// same proposal goes to the log, to every follower and to the state machine.
pub type Payload = Arc<[u8]>;

/// One proposal in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub zxid: Zxid,
    pub payload: Payload,
}

/// A candidate leader as fast leader election ranks it: the most recent history wins, the
/// history being compared by the epoch the voter last synchronized with, then its last zxid,
/// and the server id breaks ties. The field order makes the derived `Ord` exactly that rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    pub epoch: u32,
    pub zxid: Zxid,
    pub leader: ServerId,
}

/// What the sender of a vote is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoterState {
    Looking,
    Following,
    Leading,
    /// An observer looking for the leader (Apache's OBSERVING notification). It asks, it does
    /// not vote: voters never count it, and only a leader answers it.
    Observing,
}

/// How a leader brought a follower up to date (Zab phase 2); the follower's handling is the
/// same for all three, the mode is recorded for statistics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// The follower's history is a prefix of the leader's: send the proposals it lacks.
    Diff,
    /// The follower has proposals that were never committed: cut them, then send the rest.
    Trunc,
    /// The follower is behind the leader's in-memory window: a snapshot came first.
    Snap,
}

/// What a `Sync` tells a learner about configurations: the leader's active one (which the
/// learner takes if it is newer than its own) and whether the leader treats this learner as
/// an observer (committed entries only, no acks) or as a participant. A learner whose own view
/// of itself differs starts a new handshake instead of taking the sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    pub active: Membership,
    pub observer: bool,
}

impl SyncConfig {
    /// The `members` bytes of a `Sync` frame (docs/peer-protocol.md): a flags byte (bit 0:
    /// observer), the version as a big-endian i64, then the voters and the observers, each
    /// as a big-endian u16 count followed by that many big-endian u64 ids.
    pub fn encode(&self) -> Vec<u8> {
        let m = &self.active;
        let mut out = Vec::with_capacity(13 + 8 * (m.voters.len() + m.observers.len()));
        out.push(u8::from(self.observer));
        out.extend_from_slice(&m.version.to_be_bytes());
        for ids in [&m.voters, &m.observers] {
            out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
            for id in ids {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
        out
    }

    /// Reads what [`SyncConfig::encode`] wrote; anything else (unknown flags, counts over
    /// [`crate::config::MEMBERS_MAX`], short or trailing bytes) is an error.
    pub fn decode(bytes: &[u8]) -> Result<SyncConfig, &'static str> {
        let (&flags, rest) = bytes.split_first().ok_or("empty")?;
        if flags > 1 {
            return Err("unknown flags");
        }
        let (version, mut rest) = rest.split_first_chunk::<8>().ok_or("short version")?;
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            let (count, after) = rest.split_first_chunk::<2>().ok_or("short count")?;
            let count = u16::from_be_bytes(*count) as usize;
            if count > crate::config::MEMBERS_MAX {
                return Err("too many members");
            }
            rest = after;
            for _ in 0..count {
                let (id, after) = rest.split_first_chunk::<8>().ok_or("short id")?;
                list.push(u64::from_be_bytes(*id));
                rest = after;
            }
        }
        if !rest.is_empty() {
            return Err("trailing bytes");
        }
        let [voters, observers] = lists;
        Ok(SyncConfig {
            active: Membership {
                version: i64::from_be_bytes(*version),
                voters,
                observers,
            },
            observer: flags == 1,
        })
    }
}

/// A message between two peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Fast leader election notification. Peers that are not looking answer a looking peer
    /// with their own state so that a restarted server finds an established leader.
    Vote {
        round: u64,
        vote: Vote,
        state: VoterState,
    },
    /// Follower to leader, Zab phase 1 (discovery): the epoch it last accepted and how far
    /// its log goes. `attempt` numbers the follower's handshakes.
    FollowerInfo {
        attempt: u64,
        accepted_epoch: u32,
        accepted_leader: Option<ServerId>,
        last_zxid: Zxid,
    },
    /// Leader to follower: the new epoch, above every epoch a quorum had accepted.
    NewEpoch { epoch: u32, attempt: u64 },
    /// Follower to leader: it accepted the epoch and will not accept older leaders; it reports
    /// its history so that the leader can check it is not ahead and choose how to sync it.
    AckEpoch {
        epoch: u32,
        attempt: u64,
        current_epoch: u32,
        last_zxid: Zxid,
    },
    /// Leader to follower, Zab phase 2 (snapshot case): bytes `offset..offset + data.len()`
    /// of the leader's state as of `zxid`, which is `total` bytes long. Sent in a window the
    /// follower's [`Message::SnapshotAck`]s move forward; the [`Message::Sync`] whose `prev`
    /// is `zxid` follows once every byte is acknowledged.
    SnapshotChunk {
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        offset: u64,
        total: u64,
        data: Payload,
    },
    /// Follower to leader: it holds the first `received` bytes of the snapshot at `zxid`
    /// (cumulative, so a lost ack is covered by the next; a duplicate or out-of-order chunk
    /// is answered with the same count, which tells the leader where to resume).
    SnapshotAck {
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        received: u64,
    },
    /// Leader to follower, Zab phase 2 (ZooKeeper's DIFF/TRUNC plus NEWLEADER in one message):
    /// keep your log up to `prev`, drop what follows, append `entries`, take the epoch as your
    /// current one and apply up to `committed`. Acking the last entry is the NEWLEADER ack.
    Sync {
        epoch: u32,
        attempt: u64,
        mode: SyncMode,
        prev: Zxid,
        entries: Vec<Entry>,
        committed: Zxid,
        /// Absent only from a leader of an older ringkeeper.
        config: Option<SyncConfig>,
    },
    /// Leader to follower: a quorum is synchronized; the follower may serve clients.
    UpToDate { epoch: u32, committed: Zxid },
    /// Leader to followers, Zab phase 3 (broadcast): proposals in zxid order.
    Proposal { epoch: u32, entries: Vec<Entry> },
    /// Follower to leader: everything up to `zxid` is durable in its log, and that log matches
    /// the leader's up to there. Acks are cumulative, so a lost one is covered by the next.
    Ack { epoch: u32, zxid: Zxid },
    /// Leader to followers: everything up to `zxid` is committed.
    Commit { epoch: u32, zxid: Zxid },
    /// Leader heartbeat; repeats the commit point so that a lost commit is only a delay.
    Ping {
        epoch: u32,
        committed: Zxid,
        last_zxid: Zxid,
    },
    /// Leader to follower: it can no longer resend what the follower lacks; start a new
    /// handshake (which may bring a snapshot).
    Resync { epoch: u32 },
}

impl Message {
    /// The epoch a leader's message was sent in; `None` for messages leaders do not send.
    pub fn leader_epoch(&self) -> Option<u32> {
        match self {
            Message::NewEpoch { epoch, .. }
            | Message::SnapshotChunk { epoch, .. }
            | Message::Sync { epoch, .. }
            | Message::UpToDate { epoch, .. }
            | Message::Proposal { epoch, .. }
            | Message::Commit { epoch, .. }
            | Message::Ping { epoch, .. }
            | Message::Resync { epoch } => Some(*epoch),
            Message::Vote { .. }
            | Message::FollowerInfo { .. }
            | Message::AckEpoch { .. }
            | Message::SnapshotAck { .. }
            | Message::Ack { .. } => None,
        }
    }

    /// A short name for logs and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Vote { .. } => "vote",
            Message::FollowerInfo { .. } => "followerinfo",
            Message::NewEpoch { .. } => "newepoch",
            Message::AckEpoch { .. } => "ackepoch",
            Message::SnapshotChunk { .. } => "snapshotchunk",
            Message::SnapshotAck { .. } => "snapshotack",
            Message::Sync { .. } => "sync",
            Message::UpToDate { .. } => "uptodate",
            Message::Proposal { .. } => "proposal",
            Message::Ack { .. } => "ack",
            Message::Commit { .. } => "commit",
            Message::Ping { .. } => "ping",
            Message::Resync { .. } => "resync",
        }
    }
}
