//! The sequencer's state machine. `handle` and `tick` take a message or the time and push
//! the resulting messages onto the shards' queues.
//!
//! There is one write path. Every server runs the `replication` protocol (`protocol`): an
//! ensemble member with its peers, a standalone server as an ensemble of one, whose own
//! durable log is its quorum. A write is validated, proposed, logged in the group-commit
//! batch, and applied (to this tree and the shards) once the protocol says it is committed.

use std::collections::HashMap;

use ringkeeper_engine::prep::{self, PrepContext};
use ringkeeper_engine::session::{SessionSettings, SessionTracker};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::{Id, ServerId, SessionId, Zxid};

use crate::messages::{ConnId, ShardId, ToSequencer, ToShard, Write};

mod effect;
#[cfg(test)]
mod effect_tests;
mod leader_digest;
mod protocol;
#[cfg(test)]
mod protocol_tests;
pub use effect::Effect;
pub use protocol::Replica;

impl SequencerSettings {
    /// An empty session table keyed as these settings say.
    pub fn session_tracker(
        &self,
        now_ms: i64,
    ) -> Result<SessionTracker, ringkeeper_engine::session::SessionError> {
        let mut tracker = SessionTracker::new(
            self.server_id,
            now_ms,
            &self.session_secret,
            SessionSettings {
                tick_time_ms: self.tick_ms as i32,
                sessions_max: self.max_sessions,
            },
        )?;
        if let Some(legacy) = &self.legacy_session_secret {
            tracker.accept_legacy_secret(legacy);
        }
        Ok(tracker)
    }
}

/// What the sequencer needs from the configuration.
#[derive(Debug, Clone)]
pub struct SequencerSettings {
    pub server_id: ServerId,
    /// Keys session passwords; every server of an ensemble must share it so that a session
    /// can resume on any of them.
    pub session_secret: Vec<u8>,
    /// Also accepted when a session resumes (`SessionTracker::accept_legacy_secret`).
    pub legacy_session_secret: Option<Vec<u8>>,
    pub tick_ms: i64,
    pub extended_types: bool,
    /// The `sasl` and `x509` providers registered (`authProvider.N`, a secure client port):
    /// ACLs of a scheme without one are InvalidACL, as in Apache.
    pub acl_schemes: ringkeeper_engine::acl::AclSchemes,
    pub max_sessions: usize,
    /// How often empty containers and expired TTL nodes are looked for, and how many go.
    pub containers: crate::containers::ContainerReaping,
    /// Session shards; any further queue (the snapshotter) gets the committed stream only.
    pub shard_count: usize,
    /// A group-commit batch stops taking requests at this many bytes of log records...
    pub batch_bytes_max: usize,
    /// ...or at this many transactions; further requests wait for the next batch.
    pub batch_txns_max: usize,
    /// Raised to the last zxid of each released batch (see `crate::watermark`).
    pub released: crate::watermark::Watermark,
}

/// The durable state recovered at startup, where the sequencer begins.
pub struct InitialState {
    pub tree: DataTree,
    pub sessions: Vec<(SessionId, i32)>,
    pub last_zxid: Zxid,
}

pub struct SequencerState {
    settings: SequencerSettings,
    tree: DataTree,
    sessions: SessionTracker,
    /// Which connection currently holds each session.
    owners: HashMap<SessionId, (ShardId, ConnId)>,
    last_zxid: Zxid,
    /// How many queues take the committed stream: the session shards, then the
    /// snapshotter's.
    queue_count: usize,
    next_container_check_ms: i64,
    stopping: bool,
    /// Four-letter-word gathers waiting for shard reports, by (origin shard, token).
    gathers: HashMap<(ShardId, u64), Vec<crate::messages::ShardReport>>,
    /// The group-commit batch being gathered while the previous one is written.
    open: Batch,
    poisoned: bool,
    /// Group-commit statistics for `mntr`.
    fsync_us: crate::latency::Distribution,
    batch_txns: crate::latency::Distribution,
    /// The replication protocol, which decides what is committed, and what it needs.
    replica: Box<Replica>,
}

/// One group-commit batch: the encoded log records of the transactions proposed or
/// received while it was open; the protocol hears they are durable once it is written.
#[derive(Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub first_zxid: Zxid,
    pub txns: usize,
    /// Each record's zxid and where it ends in `bytes`, so a truncation can cut the batch.
    pub ends: Vec<(Zxid, usize)>,
    /// Cut the log after this zxid before writing `bytes` (Zab's TRUNC).
    pub truncate_after: Option<Zxid>,
    /// Replace the log with the leader's snapshot before writing `bytes`.
    pub install: Option<(Zxid, std::sync::Arc<[u8]>)>,
    /// The log generation the batch belongs to (see `Replica`).
    pub generation: u64,
}

impl Batch {
    /// The zxid of the last record, if any.
    pub fn last_zxid(&self) -> Option<Zxid> {
        self.ends.last().map(|(z, _)| *z)
    }
}

impl SequencerState {
    pub fn new(
        settings: SequencerSettings,
        initial: InitialState,
        queue_count: usize,
        protocol: (Replica, Vec<ringkeeper_replication::Command>),
        now_ms: i64,
    ) -> Result<Self, ringkeeper_engine::session::SessionError> {
        let mut sessions = settings.session_tracker(now_ms)?;
        // A recovered session gets a whole timeout from now, as Apache does on load: its
        // client may be reconnecting right now.
        for (id, timeout_ms) in &initial.sessions {
            sessions.restore(*id, *timeout_ms, now_ms);
        }
        let next_container_check_ms = now_ms + settings.containers.check_interval_ms;
        let (replica, commands) = protocol;
        let mut state = Self {
            settings,
            // The shards fire watches; the sequencer's trees need no triggers.
            tree: initial.tree.without_watch_triggers(),
            sessions,
            owners: HashMap::new(),
            last_zxid: initial.last_zxid,
            queue_count,
            next_container_check_ms,
            stopping: false,
            gathers: HashMap::new(),
            open: Batch::default(),
            poisoned: false,
            fsync_us: Default::default(),
            batch_txns: Default::default(),
            replica: Box::new(replica),
        };
        state.start_protocol(commands, now_ms);
        Ok(state)
    }

    /// Queues a message for a shard behind everything already decided. What a message
    /// waits for (a commit) is decided by the protocol, which hears of durability only
    /// after the batch's fdatasync (persist, then send): it goes out when it is decided.
    fn send(&mut self, shard: ShardId, msg: ToShard) {
        // Once stopping, the shards have been told to shut down and hear nothing more.
        if !self.stopping && shard < self.queue_count {
            self.replica.effects.push(Effect::ToShard(shard, msg));
        }
    }

    /// The effects of the calls since the last take, in order (see `effect`).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.replica.effects)
    }

    /// The executor could not carry out an effect this server's safety depends on (the
    /// epoch file): take no more writes; the server is stopping.
    pub fn on_fatal(&mut self) {
        self.poisoned = true;
    }

    /// The digest of the sequencer's committed tree (the simulator compares every copy).
    pub fn tree_digest(&self) -> u64 {
        self.tree.digest()
    }

    /// The last zxid applied to the sequencer's committed tree.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Whether the open batch is full: readers then wait until the committer takes it,
    /// which bounds both the memory a batch holds and the latency of one fdatasync.
    pub fn batch_full(&self) -> bool {
        self.open.bytes.len() >= self.settings.batch_bytes_max
            || self.open.txns >= self.settings.batch_txns_max
            || self.replica.outstanding_full()
    }

    /// Takes the batch gathered so far for the committer, or None if there is nothing.
    pub fn take_batch(&mut self) -> Option<Batch> {
        if self.open.bytes.is_empty()
            && self.open.truncate_after.is_none()
            && self.open.install.is_none()
        {
            return None;
        }
        let mut batch = std::mem::take(&mut self.open);
        // Every record still in the batch belongs to the current generation: a truncation
        // cuts the open batch as well as the log.
        batch.generation = self.replica.log_generation;
        Some(batch)
    }

    /// Records one durable batch: its write + fdatasync time and its size.
    pub fn record_batch(&mut self, micros: u64, txns: usize) {
        self.fsync_us.record(micros);
        self.batch_txns.record(txns as u64);
    }

    pub fn handle(&mut self, msg: ToSequencer, now_ms: i64) {
        match msg {
            ToSequencer::Connect {
                shard,
                conn,
                session,
                passwd,
                timeout_ms,
            } => self.connect(shard, conn, session, &passwd, timeout_ms, now_ms),
            ToSequencer::Write {
                origin,
                session,
                auth,
                write,
            } => self.write(origin, session, &auth, write, now_ms),
            ToSequencer::Sync { origin, path } => self.sync(origin, path),
            ToSequencer::Touch { sessions } => self.touch(sessions, now_ms),
            ToSequencer::Gather { shard, token } => {
                self.gathers.insert((shard, token), Vec::new());
                for s in 0..self.settings.shard_count {
                    self.send(
                        s,
                        ToShard::Report {
                            origin: shard,
                            token,
                        },
                    );
                }
            }
            ToSequencer::Report {
                origin,
                token,
                report,
            } => {
                let n = self.settings.shard_count;
                let Some(parts) = self.gathers.get_mut(&(origin, token)) else {
                    return;
                };
                parts.push(report);
                if parts.len() >= n {
                    let reports = self.gathers.remove(&(origin, token)).unwrap_or_default();
                    let gathered = crate::messages::Gathered {
                        reports,
                        session_count: self.sessions.len() as u64,
                        session_buckets: self.sessions.expiry_buckets(),
                        fsync_us: self.fsync_us.clone(),
                        batch_txns: self.batch_txns.clone(),
                    };
                    self.send(origin, ToShard::Gathered { token, gathered });
                }
            }
            ToSequencer::Disconnected {
                shard,
                conn,
                session,
            } => {
                if self.owners.get(&session) == Some(&(shard, conn)) {
                    self.owners.remove(&session);
                    // The session keeps running until its timeout, as in ZooKeeper, so that
                    // the client can resume it on another connection.
                    self.sessions.touch(session, now_ms);
                }
            }
        }
    }

    /// A checked resume: the session moves to this connection (the old one, wherever it is,
    /// is closed) and the handshake is answered.
    fn accept_resume(&mut self, shard: ShardId, conn: ConnId, session: SessionId, timeout_ms: i32) {
        if let Some(old) = self.owners.insert(session, (shard, conn)) {
            if old != (shard, conn) {
                self.send(
                    old.0,
                    ToShard::SessionMoved {
                        session,
                        new_owner: (shard, conn),
                    },
                );
            }
        }
        let passwd = self.sessions.password(session);
        self.send(
            shard,
            ToShard::ConnectAccepted {
                conn,
                session,
                passwd,
                timeout_ms,
            },
        );
    }

    /// Expires sessions and reaps containers.
    pub fn tick(&mut self, now_ms: i64) {
        self.expire_and_reap(now_ms);
    }

    pub fn shutdown(&mut self) {
        if !self.stopping {
            for shard in 0..self.queue_count {
                self.send(shard, ToShard::Shutdown);
            }
            self.stopping = true;
        }
    }
}

/// Validates a client write against `tree` into its transaction, as Apache's
/// PrepRequestProcessor does; a closeSession also closes the session in `sessions`.
fn prep_write(
    tree: &DataTree,
    sessions: &mut SessionTracker,
    extended_types: bool,
    acl_schemes: ringkeeper_engine::acl::AclSchemes,
    session: SessionId,
    auth: &[Id],
    write: Write,
) -> TxnBody {
    let ctx = PrepContext {
        session,
        auth,
        extended_types,
        ttl_max_ms: ringkeeper_engine::txn::TTL_MAX_MS,
        acl_schemes,
    };
    match write {
        Write::Op(op) => prep::prep(tree, &ctx, &op).unwrap_or_else(TxnBody::Error),
        Write::Multi(ops) => {
            let ops: Vec<prep::WriteOp> = ops.into_iter().map(|(_, op)| op).collect();
            prep::prep_multi(tree, &ctx, &ops)
        }
        Write::Invalid(err) => TxnBody::Error(err),
        // The shard checked it against its view; the protocol refuses it if another is in
        // progress or its voters hold no synchronized quorum (`propose`).
        Write::Reconfig(servers) => TxnBody::Reconfig { servers },
        Write::CloseSession => {
            sessions.close(session);
            prep::prep_close_session(tree, session)
        }
    }
}

/// Appends a transaction's log record to a batch.
fn log_into(open: &mut Batch, txn: &Txn) {
    if open.txns == 0 {
        open.first_zxid = txn.zxid;
    }
    ringkeeper_engine::storage::encode_record(txn, open.first_zxid, &mut open.bytes);
    open.txns += 1;
    open.ends.push((txn.zxid, open.bytes.len()));
}
