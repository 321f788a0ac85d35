//! What a peer asks its server to do. The server executes commands in the order given; the
//! durability contract of each one is part of the protocol's safety argument, so it is spelled
//! out on each variant and in docs/replication.md.

use crate::config::Membership;
use crate::error::ProposeError;
use crate::message::{Entry, Message, Payload};
use crate::zxid::Zxid;
use crate::ServerId;

/// The epochs a peer must never forget (ZooKeeper's acceptedEpoch and currentEpoch files),
/// plus a boot counter that keeps handshake attempt numbers unique across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EpochState {
    /// The newest epoch this peer promised to follow (Zab phase 1).
    pub accepted_epoch: u32,
    /// The leader that proposed `accepted_epoch`; the same epoch from another leader is
    /// refused, so that two leaders can never both gather a quorum for one epoch.
    pub accepted_leader: Option<ServerId>,
    /// The epoch whose leader this peer last synchronized with (Zab phase 2).
    pub current_epoch: u32,
    /// How many times this peer started; bumped at every restore.
    pub boot: u32,
}

/// Whether the server may serve clients, and how writes are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// No established leader: serve nothing (or read-only clients at most).
    Looking,
    /// Synchronized with `leader` in `epoch`: serve reads, forward writes to the leader.
    Following { leader: ServerId, epoch: u32 },
    /// Established leader of `epoch`: sequence writes and propose them.
    Leading { epoch: u32 },
}

/// One side effect for the server to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write these epochs durably (write, fsync) before executing the next command.
    SaveEpochs(EpochState),
    /// Append entries to the log. Buffered: the server may batch them into one write and one
    /// fdatasync, then reports [`crate::Event::Durable`]; nothing is acknowledged before that.
    Append { entries: Vec<Entry> },
    /// Drop every log entry after `after`, durably, before executing the next command. Only
    /// proposals that were never committed are ever dropped.
    Truncate { after: Zxid },
    /// Send a message to another peer.
    Send { to: ServerId, message: Message },
    /// Apply these committed entries to the state machine, in order.
    Apply { entries: Vec<Entry> },
    /// Make a snapshot of the state machine as of `zxid` (which, at this point of the command
    /// stream, is exactly what it has applied) available for sending to `to`, off the write
    /// path, and report its length with [`crate::Event::SnapshotReady`]. The protocol then
    /// asks for it piece by piece with [`Command::SendSnapshotChunk`].
    SendSnapshot {
        to: ServerId,
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        /// Why a snapshot and not a diff: the follower's last zxid, which the leader's log
        /// does not reach back to...
        follower_zxid: Zxid,
        /// ...since the log starts after this zxid (its base). For the server's log line.
        log_base: Zxid,
    },
    /// Send bytes `offset..offset + len` of the snapshot prepared for `to` as a
    /// [`Message::SnapshotChunk`] (with the snapshot's `total` length).
    SendSnapshotChunk {
        to: ServerId,
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        offset: u64,
        len: u64,
    },
    /// Keep these bytes of the leader's snapshot at `zxid`, `total` bytes long; a chunk at
    /// offset 0 starts a new snapshot and drops any partial one. Chunks come in order.
    StoreSnapshotChunk {
        zxid: Zxid,
        offset: u64,
        total: u64,
        data: Payload,
    },
    /// Every byte of the snapshot at `zxid` is stored: check it, then replace the state
    /// machine and the whole log with it, durably, before executing the next command.
    InstallSnapshot { zxid: Zxid },
    /// The serving role changed.
    Role(Role),
    /// The configurations changed: `active` is the newest committed one (write it durably,
    /// Apache's `zoo.cfg.dynamic.<version>`, before executing the next command), `pending`
    /// the reconfiguration logged and not committed yet, if any (its new members must be
    /// reachable, since its quorum counts too).
    Membership {
        active: Membership,
        pending: Option<Membership>,
    },
    /// Client proposals that were not accepted; nothing was logged for them.
    Rejected {
        payloads: Vec<Payload>,
        error: ProposeError,
    },
}
