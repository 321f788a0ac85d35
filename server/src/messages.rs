//! What shards and the sequencer say to each other. These values cross executor threads
//! through glommio shared channels, so they own their data (no Rc). The one thing shared is
//! immutable: a committed transaction reaches every shard and the snapshotter as one
//! `Arc<Txn>` (and a snapshot as one `Arc<[u8]>`), which each reads and none changes; only
//! its reference count is written by more than one core, once per receiver.

use ringkeeper_engine::prep::WriteOp;
use ringkeeper_engine::txn::Txn;
use ringkeeper_engine::{ErrorCode, Id, OpCode, SessionId, Zxid};
use std::sync::Arc;

/// Index of a session shard (and of its channels).
pub type ShardId = usize;
/// A connection's number, unique within its shard.
pub type ConnId = u64;

/// Where a request came from, so its reply finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub shard: ShardId,
    pub conn: ConnId,
    pub xid: i32,
}

/// A write a client asked for, as the sequencer needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Op(WriteOp),
    /// Each operation with the opcode it came under (it decides the shape of its result).
    Multi(Vec<(OpCode, WriteOp)>),
    CloseSession,
    /// A write refused before validation (e.g. unknown create flags). It still becomes an
    /// error transaction, so it takes a zxid and keeps its place in the reply order.
    Invalid(ErrorCode),
    /// A reconfiguration that passed its checks (`crate::reconfig::check`): the new member
    /// list as Apache's server lines (`server.N=spec`), proposed as a `Reconfig` txn.
    Reconfig(Vec<String>),
}

/// Shard -> sequencer.
#[derive(Debug)]
pub enum ToSequencer {
    /// A handshake: `session == 0` asks for a new session, otherwise a resume.
    Connect {
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: Vec<u8>,
        timeout_ms: i32,
    },
    /// A write to validate, sequence and commit.
    Write {
        origin: Origin,
        session: SessionId,
        auth: Vec<Id>,
        write: Write,
    },
    /// A sync: answered once every transaction committed before it has reached the shard.
    Sync { origin: Origin, path: String },
    /// Sessions that showed activity on this shard since the last report.
    Touch { sessions: Vec<SessionId> },
    /// A connection closed without closing its session (the session lives until it expires).
    Disconnected {
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
    },
    /// A four-letter word wants every shard's view: ask them all.
    Gather { shard: ShardId, token: u64 },
    /// One shard's part of a gather started by `origin`.
    Report {
        origin: ShardId,
        token: u64,
        report: ShardReport,
    },
}

/// What one shard contributes to a server-wide four-letter word.
#[derive(Debug, Clone, Default)]
pub struct ShardReport {
    pub connections: Vec<crate::fourlw::ConnectionInfo>,
    pub watches_by_session: Vec<crate::fourlw::SessionWatches>,
    pub watches_by_path: Vec<crate::fourlw::PathWatches>,
    pub apache_watch_count: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Read replies refused for exceeding `ringkeeper.replyBytesMax`.
    pub replies_too_large: u64,
    /// Requests received by this shard and not yet answered.
    pub outstanding: u64,
    /// Reply bytes queued on this shard and not yet written to clients.
    pub queued_reply_bytes: u64,
    pub latency: crate::latency::RequestLatency,
}

/// Every shard's report plus the sequencer's session table, for one four-letter word.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub reports: Vec<ShardReport>,
    pub session_count: u64,
    /// Expiry deadline (ms since the epoch) and the sessions due then.
    pub session_buckets: Vec<(i64, Vec<SessionId>)>,
    /// Group commit: the time of each batch's write + fdatasync (µs), and its transactions.
    pub fsync_us: crate::latency::Distribution,
    pub batch_txns: crate::latency::Distribution,
}

/// One commit inside [`ToShard::Commits`]: the fields of [`ToShard::Commit`].
#[derive(Debug)]
pub struct Commit {
    pub txn: Arc<Txn>,
    pub origin: Option<Origin>,
    pub digest: u64,
}

/// Sequencer -> shard, in one ordered stream per shard.
#[derive(Debug)]
pub enum ToShard {
    /// A committed transaction every shard applies in zxid order. `origin` is set on the
    /// copy that goes to the shard holding the requesting connection. `digest` is the
    /// sequencer's tree digest after `txn`, which every copy checks its own against.
    /// `txn` is one decoded transaction shared by every queue's copy of the message (read
    /// only; its reference count is the one word more than one core writes) rather than a
    /// clone per shard.
    Commit {
        txn: Arc<Txn>,
        origin: Option<Origin>,
        digest: u64,
    },
    /// Several `Commit`s in zxid order, and nothing else: the sequencer's queue to a shard
    /// hands over what it holds as one message, so the shard is woken (and the channel
    /// touched) once per batch rather than once per transaction (`sequencer::outbox`).
    Commits(Vec<Commit>),
    /// A request refused before it became a transaction (session expired or moved).
    Refused {
        origin: Origin,
        err: ErrorCode,
        zxid: Zxid,
    },
    /// The answer to a `Sync`.
    SyncDone {
        origin: Origin,
        path: String,
        zxid: Zxid,
    },
    /// The handshake succeeded.
    ConnectAccepted {
        conn: ConnId,
        session: SessionId,
        passwd: [u8; 16],
        timeout_ms: i32,
    },
    /// The handshake named a session that is unknown, expired or has another password.
    ConnectRefused { conn: ConnId },
    /// Another connection took over this session: close the old one if it is here.
    SessionMoved {
        session: SessionId,
        new_owner: (ShardId, ConnId),
    },
    /// Asks for this shard's part of a gather.
    Report { origin: ShardId, token: u64 },
    /// The completed gather, for the shard that started it.
    Gathered { token: u64, gathered: Gathered },
    /// The server is shutting down.
    Shutdown,
    /// Ensemble member without a quorum: close every connection and accept none until
    /// `Resume` (clients move to another member, as with Apache).
    Suspend,
    /// Serving again, as leader or follower.
    Resume,
    /// Replace the whole tree with a snapshot (a follower synchronized by the leader's
    /// snapshot). Arrives only while suspended. The bytes are immutable and shared by
    /// every receiver, each of which decodes its own copy of the tree.
    Reset {
        snapshot: std::sync::Arc<[u8]>,
        zxid: Zxid,
    },
    /// Close this connection without an answer (a handshake the server cannot take now).
    CloseConn { conn: ConnId },
    /// For the snapshotter only: encode the state (which, at this point of the stream, is at
    /// `zxid`) for follower `to`'s handshake `attempt`, and send it back as a
    /// [`SnapshotPrepared`]. The leader's sequencer never encodes a snapshot itself.
    SnapshotFor { to: u64, attempt: u64, zxid: Zxid },
}

/// The snapshotter's answer to [`ToShard::SnapshotFor`]: the encoded snapshot, shared.
#[derive(Debug, Clone)]
pub struct SnapshotPrepared {
    pub to: u64,
    pub attempt: u64,
    pub zxid: Zxid,
    pub data: std::sync::Arc<[u8]>,
}
