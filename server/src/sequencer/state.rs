//! The sequencer's state machine: every decision, none of the I/O. `handle` and `tick`
//! take a message or the time and push the resulting messages onto the shards' queues.

use std::collections::HashMap;

use glommio::channels::local_channel::LocalSender;
use ringkeeper_engine::prep::{self, PrepContext};
use ringkeeper_engine::session::{SessionSettings, SessionTracker};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::{ErrorCode, Id, ServerId, SessionId, Zxid};
use tracing::{info, warn};

use crate::messages::{ConnId, Origin, ShardId, ToSequencer, ToShard, Write};

#[path = "replicated.rs"]
mod replicated;
#[cfg(test)]
#[path = "replicated_tests.rs"]
mod replicated_tests;
pub use replicated::Replica;

/// What the sequencer needs from the configuration.
#[derive(Debug, Clone)]
pub struct SequencerSettings {
    pub server_id: ServerId,
    /// Keys session passwords; every server of an ensemble must share it so that a session
    /// can resume on any of them.
    pub session_secret: Vec<u8>,
    pub tick_ms: i64,
    pub extended_types: bool,
    /// The `sasl` and `x509` providers registered (`authProvider.N`, a secure client port):
    /// ACLs of a scheme without one are InvalidACL, as in Apache.
    pub acl_schemes: ringkeeper_engine::acl::AclSchemes,
    pub max_sessions: usize,
    /// How often empty containers and expired TTL nodes are looked for, and how many go.
    pub containers: super::containers::ContainerReaping,
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
    queues: Vec<LocalSender<ToShard>>,
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
    /// Set on an ensemble member: the replication protocol decides what is committed.
    replica: Option<Box<Replica>>,
}

/// One group-commit batch: the encoded log records of its transactions and every message
/// decided while it was open, released together once the records are durable.
#[derive(Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub first_zxid: Zxid,
    pub txns: usize,
    pub msgs: Vec<(ShardId, ToShard)>,
    /// Each record's zxid and where it ends in `bytes`, so a truncation can cut the batch.
    pub ends: Vec<(Zxid, usize)>,
    /// Ensemble: cut the log after this zxid before writing `bytes` (Zab's TRUNC).
    pub truncate_after: Option<Zxid>,
    /// Ensemble: replace the log with the leader's snapshot before writing `bytes`.
    pub install: Option<(Zxid, std::sync::Arc<[u8]>)>,
    /// Ensemble: the log generation the batch belongs to (see `Replica`).
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
        queues: Vec<LocalSender<ToShard>>,
        now_ms: i64,
    ) -> Result<Self, ringkeeper_engine::session::SessionError> {
        let mut sessions = SessionTracker::new(
            settings.server_id,
            now_ms,
            &settings.session_secret,
            SessionSettings {
                tick_time_ms: settings.tick_ms as i32,
                sessions_max: settings.max_sessions,
            },
        )?;
        // A recovered session gets a whole timeout from now, as Apache does on load: its
        // client may be reconnecting right now.
        for (id, timeout_ms) in &initial.sessions {
            sessions.restore(*id, *timeout_ms, now_ms);
        }
        let next_container_check_ms = now_ms + settings.containers.check_interval_ms;
        Ok(Self {
            settings,
            tree: initial.tree,
            sessions,
            owners: HashMap::new(),
            last_zxid: initial.last_zxid,
            queues,
            next_container_check_ms,
            stopping: false,
            gathers: HashMap::new(),
            open: Batch::default(),
            poisoned: false,
            fsync_us: Default::default(),
            batch_txns: Default::default(),
            replica: None,
        })
    }

    pub fn queues_open(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Queues a message for a shard behind everything already decided: it leaves with the
    /// batch being gathered, once that batch is durable (persist, then send).
    fn send(&mut self, shard: ShardId, msg: ToShard) {
        if self.replica.is_some() {
            // In an ensemble, what a message waits for (a commit) is decided by the
            // protocol, not by this server's log: it goes out when it is decided.
            if let Some(q) = self.queues.get(shard) {
                let _ = q.try_send(msg);
            }
            return;
        }
        self.open.msgs.push((shard, msg));
    }

    pub fn is_replicated(&self) -> bool {
        self.replica.is_some()
    }

    pub fn replica(&self) -> Option<&Replica> {
        self.replica.as_deref()
    }

    /// Appends a transaction's log record to the open batch.
    fn log_txn(&mut self, txn: &Txn) {
        if self.open.txns == 0 {
            self.open.first_zxid = txn.zxid;
        }
        ringkeeper_engine::storage::encode_record(txn, self.open.first_zxid, &mut self.open.bytes);
        self.open.txns += 1;
        self.open.ends.push((txn.zxid, self.open.bytes.len()));
    }

    /// Whether the open batch is full: readers then wait until the committer takes it,
    /// which bounds both the memory a batch holds and the latency of one fdatasync.
    pub fn batch_full(&self) -> bool {
        self.open.bytes.len() >= self.settings.batch_bytes_max
            || self.open.txns >= self.settings.batch_txns_max
            || self.replica.as_ref().is_some_and(|r| r.outstanding_full())
    }

    /// Takes the batch gathered so far for the committer, or None if there is nothing.
    pub fn take_batch(&mut self) -> Option<Batch> {
        if self.open.msgs.is_empty()
            && self.open.bytes.is_empty()
            && self.open.truncate_after.is_none()
            && self.open.install.is_none()
        {
            return None;
        }
        let mut batch = std::mem::take(&mut self.open);
        // Every record still in the batch belongs to the current generation: a truncation
        // cuts the open batch as well as the log.
        batch.generation = self.replica.as_ref().map_or(0, |r| r.log_generation);
        Some(batch)
    }

    /// Hands a durable batch's messages to the shards, in order, then raises the released
    /// watermark to the batch's last zxid: every shard's queue now holds those commits.
    pub fn release(&mut self, msgs: Vec<(ShardId, ToShard)>) {
        let mut top = None;
        for (shard, msg) in msgs {
            if let ToShard::Commit { txn, .. } = &msg {
                top = Some(txn.zxid);
            }
            if let Some(q) = self.queues.get(shard) {
                // The queue is unbounded, so this fails only once the shard has gone away.
                let _ = q.try_send(msg);
            }
        }
        if let Some(z) = top {
            self.settings.released.raise(z);
        }
    }

    /// Records one durable batch: its write + fdatasync time and its size.
    pub fn record_batch(&mut self, micros: u64, txns: usize) {
        self.fsync_us.record(micros);
        self.batch_txns.record(txns as u64);
    }

    /// The log failed: refuse every write from now on; reads go on being served.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Forms, applies and broadcasts one transaction; `origin` learns its outcome.
    fn commit(
        &mut self,
        session: SessionId,
        cxid: i32,
        body: TxnBody,
        now_ms: i64,
        origin: Option<Origin>,
    ) {
        self.last_zxid += 1;
        let txn = Txn {
            zxid: self.last_zxid,
            time_ms: now_ms,
            session,
            cxid,
            body,
        };
        // The sequencer's own tree must move first so the next request is validated
        // against the state this transaction leaves behind.
        let _ = self.tree.apply(&txn);
        let digest = self.tree.digest();
        self.log_txn(&txn);
        let n = self.queues.len();
        for shard in 0..n {
            let origin = origin.filter(|o| o.shard == shard);
            self.send(
                shard,
                ToShard::Commit {
                    txn: txn.clone(),
                    origin,
                    digest,
                },
            );
        }
    }

    pub fn handle(&mut self, msg: ToSequencer, now_ms: i64) {
        if self.replica.is_some() {
            match msg {
                ToSequencer::Connect {
                    shard,
                    conn,
                    session,
                    passwd,
                    timeout_ms,
                } => {
                    return self.replica_connect(shard, conn, session, &passwd, timeout_ms, now_ms)
                }
                ToSequencer::Write {
                    origin,
                    session,
                    auth,
                    write,
                } => return self.replica_write(origin, session, &auth, write, now_ms),
                ToSequencer::Sync { origin, path } => return self.replica_sync(origin, path),
                ToSequencer::Touch { sessions } => return self.replica_touch(sessions, now_ms),
                other => return self.handle_common(other, now_ms),
            }
        }
        self.handle_common(msg, now_ms)
    }

    fn handle_common(&mut self, msg: ToSequencer, now_ms: i64) {
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
            ToSequencer::Sync { origin, path } => self.send(
                origin.shard,
                ToShard::SyncDone {
                    origin,
                    path,
                    zxid: self.last_zxid,
                },
            ),
            ToSequencer::Touch { sessions } => {
                for s in sessions {
                    self.sessions.touch(s, now_ms);
                }
            }
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

    fn connect(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: &[u8],
        timeout_ms: i32,
        now_ms: i64,
    ) {
        if session == 0 {
            let Ok((id, pw)) = self.sessions.create(timeout_ms, now_ms) else {
                warn!("session limit reached; refusing a new session");
                self.send(shard, ToShard::ConnectRefused { conn });
                return;
            };
            self.owners.insert(id, (shard, conn));
            self.commit(id, 0, TxnBody::CreateSession { timeout_ms }, now_ms, None);
            self.send(
                shard,
                ToShard::ConnectAccepted {
                    conn,
                    session: id,
                    passwd: pw,
                    timeout_ms,
                },
            );
            return;
        }
        if !self.sessions.check_password(session, passwd) || !self.sessions.touch(session, now_ms) {
            self.send(shard, ToShard::ConnectRefused { conn });
            return;
        }
        self.accept_resume(shard, conn, session, timeout_ms);
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

    fn write(
        &mut self,
        origin: Origin,
        session: SessionId,
        auth: &[Id],
        write: Write,
        now_ms: i64,
    ) {
        if self.poisoned {
            // The log can take no more writes (disk full or an I/O error): refuse, while the
            // shards go on serving reads until the operator stops the server.
            self.send(
                origin.shard,
                ToShard::Refused {
                    origin,
                    err: ErrorCode::SystemError,
                    zxid: self.last_zxid,
                },
            );
            return;
        }
        if !self.sessions.touch(session, now_ms) {
            self.send(
                origin.shard,
                ToShard::Refused {
                    origin,
                    err: ErrorCode::SessionExpired,
                    zxid: self.last_zxid,
                },
            );
            return;
        }
        if self.owners.get(&session) != Some(&(origin.shard, origin.conn)) {
            self.send(
                origin.shard,
                ToShard::Refused {
                    origin,
                    err: ErrorCode::SessionMoved,
                    zxid: self.last_zxid,
                },
            );
            return;
        }
        if matches!(write, Write::CloseSession) {
            self.owners.remove(&session);
        }
        let body = prep_write(
            &self.tree,
            &mut self.sessions,
            self.settings.extended_types,
            self.settings.acl_schemes,
            session,
            auth,
            write,
        );
        self.commit(session, origin.xid, body, now_ms, Some(origin));
    }

    /// Expires sessions and reaps containers. Returns false once the server is stopping.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        if crate::shutdown::requested() {
            return false;
        }
        if self.replica.is_some() {
            self.replica_tick(now_ms);
            return true;
        }
        for session in self.sessions.expired(now_ms) {
            info!(session = format_args!("0x{session:x}"), "session expired");
            self.sessions.close(session);
            self.owners.remove(&session);
            let body = prep::prep_close_session(&self.tree, session);
            self.commit(session, 0, body, now_ms, None);
        }
        if now_ms >= self.next_container_check_ms {
            let candidates = self.settings.containers.candidates(&self.tree, now_ms);
            self.next_container_check_ms =
                now_ms + self.settings.containers.pause_after_ms(candidates.len());
            for path in candidates {
                let ctx = PrepContext::new(0, &[]);
                let op = prep::WriteOp::DeleteContainer { path };
                // A node that gained a child since it was listed is simply left alone.
                if let Ok(body) = prep::prep(&self.tree, &ctx, &op) {
                    self.commit(0, 0, body, now_ms, None);
                }
            }
        }
        true
    }

    pub fn shutdown(&mut self) {
        if !self.stopping {
            self.stopping = true;
            let msgs = (0..self.queues.len())
                .map(|shard| (shard, ToShard::Shutdown))
                .collect();
            self.release(msgs);
            self.queues.clear();
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
        Write::CloseSession => {
            sessions.close(session);
            prep::prep_close_session(tree, session)
        }
    }
}

/// What a batch that could not be made durable turns into: its transactions are dropped
/// (never acknowledged, never applied by a shard) and their requesters get SystemError.
pub fn refuse_undurable(msgs: Vec<(ShardId, ToShard)>) -> Vec<(ShardId, ToShard)> {
    msgs.into_iter()
        .filter_map(|(shard, msg)| match msg {
            ToShard::Commit {
                txn,
                origin: Some(origin),
                ..
            } => Some((
                shard,
                ToShard::Refused {
                    origin,
                    err: ErrorCode::SystemError,
                    zxid: txn.zxid - 1,
                },
            )),
            ToShard::Commit { origin: None, .. } => None,
            // A session whose creation is not durable does not exist.
            ToShard::ConnectAccepted { conn, .. } => {
                Some((shard, ToShard::ConnectRefused { conn }))
            }
            other => Some((shard, other)),
        })
        .collect()
}
