//! A shard's state machine: its connections, its copy of the tree and its watches. Every
//! method is synchronous and does no I/O: it reads no clock (time comes in as `now`), no
//! process-wide static (whether this member serves comes in through [`ShardState::set_serving`]),
//! and holds no channel. What must happen outside is pushed, in order, onto an effect list
//! that the executor (`exec.rs`) drains after every call; a simulator can drain it instead.
//!
//! The effects ([`Effect`]) and their contract:
//! - `Frame(conn, bytes)`: write `bytes` to the connection, after every earlier effect of
//!   the same connection. The bytes are already counted in the connection's backlog
//!   (`ConnBacklog::add`); whoever writes them calls `drained` once they are on the wire.
//! - `Close(conn)`: flush what is queued on the connection, then close it. No `Frame` for
//!   that connection follows it.
//! - `Handshake(conn, outcome)`: the handshake of `conn` ended; its reader goes on to read
//!   requests (`Accepted`) or stops (`Refused`).
//! - `Gathered(token, gathered)`: the server-wide gather `token` that this shard started
//!   has its answer.
//! - `Fatal(line)`: this copy cannot go on (its digest differs from the sequencer's, or the
//!   leader's snapshot does not decode): log `line` and stop the server.
//!
//! Time comes in twice: `now` (an `Instant`, for latencies) on every request and sequencer
//! message, and the wall-clock `now_ms` of a handshake (for `cons`). Two inputs are still
//! drawn or shared inside: a SASL step's nonce comes from the OS random source
//! (`sasl::random_nonce`), and the released-zxid watermark in the settings is shared with
//! this server's sequencer (per server, not per process).
//!
//! Messages for the sequencer are not effects: `on_request` and `on_sequencer` return
//! them, because the executor must await the send before it reads the next request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use ringkeeper_engine::acl::{check_perm, SUPER_SCHEME};
use ringkeeper_engine::jute::records::{
    self, ConnectRequest, GetDataResponse, ReconfigRequest, Request, RequestHeader, Response,
};
use ringkeeper_engine::jute::{Decode, Reader};
use ringkeeper_engine::read::{self, Answer};
use ringkeeper_engine::session::negotiate_timeout;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::watch::WatchManager;
use ringkeeper_engine::{perms, ErrorCode, Id, OpCode, SessionId, Zxid};
use tracing::{debug, info, warn};

mod read_only;

use super::backlog::{ConnBacklog, ShardBacklog};
use super::counters::{self, ConnStats, FourLetterContext, ServerCounters};
use super::refusal::{self, Refusal};
use super::replies;
use crate::fourlw::{ConnectionInfo, PathWatches, SessionWatches};
use crate::messages::ShardReport;
use crate::messages::{ConnId, Gathered, Origin, ShardId, ToSequencer, ToShard, Write};

/// What a shard needs from the configuration.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    pub id: ShardId,
    pub packet_limit: usize,
    /// Largest read reply sent (`ringkeeper.replyBytesMax`); larger ones become errors.
    /// `None`, the default, sends any size, as Apache does.
    pub reply_bytes_max: Option<usize>,
    pub tick_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// Connections allowed from one client address (0: no limit), as maxClientCnxns.
    pub max_client_cnxns: usize,
    /// Time a new connection has to send its whole handshake (or four-letter word).
    pub handshake_timeout_ms: u64,
    /// Requests one connection may have unanswered before the server stops reading it.
    pub max_outstanding_per_conn: usize,
    /// Counts connections per client address across every shard.
    pub limiter: crate::net::limiter::ConnectionLimiter,
    /// `user:base64(sha1)` of the super user, if configured.
    pub super_digest: Option<String>,
    /// Bytes a connection may have queued for a client that does not read; past it the
    /// connection is closed rather than allowed to grow the server's memory.
    pub max_queued_bytes: usize,
    /// This shard's share of `ringkeeper.queuedReplyBytesMax`: past it, connections with
    /// replies waiting are not read (see `backlog`).
    pub shard_queued_reply_bytes_max: usize,
    /// Watches one connection may hold.
    pub max_watches_per_conn: usize,
    pub four_letter: FourLetterContext,
    /// The highest zxid the sequencer has released (made durable and acknowledged).
    pub released: crate::watermark::Watermark,
    /// SASL DIGEST-MD5 users; `None` refuses SASL requests.
    pub sasl: Option<std::sync::Arc<crate::sasl::SaslServerConfig>>,
    /// What reconfig requests are checked against (`crate::reconfig`).
    pub reconfig: std::sync::Arc<crate::reconfig::ReconfigView>,
}

/// How a handshake ended, told to the connection's reader task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    Accepted,
    Refused,
}

/// What the shard asks its executor to do; see the module doc for the contract.
#[derive(Debug)]
pub enum Effect {
    Frame(ConnId, Vec<u8>),
    Close(ConnId),
    Handshake(ConnId, HandshakeOutcome),
    /// Boxed: a gather is large and rare, frames are small and constant.
    Gathered(u64, Box<Gathered>),
    Fatal(String),
}

/// Effects compare exactly, except a gather's contents, which are the sequencer's and
/// not this shard's decision: two `Gathered` effects are equal when their tokens are.
impl PartialEq for Effect {
    fn eq(&self, other: &Self) -> bool {
        use Effect::*;
        match (self, other) {
            (Frame(a, x), Frame(b, y)) => a == b && x == y,
            (Close(a), Close(b)) => a == b,
            (Handshake(a, x), Handshake(b, y)) => a == b && x == y,
            (Gathered(a, _), Gathered(b, _)) => a == b,
            (Fatal(a), Fatal(b)) => a == b,
            _ => false,
        }
    }
}

pub struct Handshake {
    pub conn: ConnId,
    pub last_zxid_seen: Zxid,
}

/// A request waiting for its turn to be answered, so that replies leave in request order.
enum Pending {
    /// Forwarded to the sequencer; answered when its commit (or refusal) arrives.
    Write {
        xid: i32,
        kinds: Vec<OpCode>,
        /// When the request arrived, for its latency.
        started: Instant,
    },
    /// A read that arrived behind a pending write: it must see that write's effect.
    Read {
        header: RequestHeader,
        request: Request,
        /// The shard must have applied this zxid before answering: every write
        /// acknowledged anywhere before the read arrived.
        fence: Zxid,
        started: Instant,
        /// Bytes held in the connection's backlog for its reply until it is built
        /// (`replies::reply_estimate`).
        reserved: usize,
    },
    /// An error answer (e.g. an unknown opcode) waiting behind a pending write; with
    /// `close_after` the connection closes once it is out.
    Error {
        xid: i32,
        err: ErrorCode,
        close_after: bool,
    },
    /// A reply built when its request arrived (a SASL step, which authenticates at once)
    /// waiting behind a pending write.
    Frame(Vec<u8>),
}

pub(super) struct Conn {
    backlog: Rc<ConnBacklog>,
    pub session: SessionId,
    pub timeout_ms: i32,
    /// Whether the client's ConnectRequest carried the trailing readOnly flag; the answer
    /// carries it only then, since old clients would misread the extra byte.
    sent_read_only: bool,
    /// A read-only session (`read_only.rs`): local to this shard and to this connection.
    read_only: bool,
    requested_timeout_ms: i32,
    requested_passwd: Vec<u8>,
    /// Until the sequencer accepts or refuses the session, the connection's reader
    /// waits for a `Handshake` effect.
    handshaking: bool,
    pub auth: Vec<Id>,
    /// The connection's SASL exchange, from its first SASL request on.
    sasl: Option<crate::sasl::DigestMd5Server>,
    pending: VecDeque<Pending>,
    touched: bool,
    closing: bool,
    /// Set by a request that ends the connection after its answer (an unknown opcode):
    /// requests read after it are not run.
    hanging_up: bool,
    pub stats: ConnStats,
}

pub struct ShardState {
    pub settings: ShardSettings,
    pub(super) tree: DataTree,
    pub(super) watches: WatchManager<ConnId>,
    pub(super) conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    last_zxid: Zxid,
    /// An ensemble member without a quorum takes no connections.
    suspended: bool,
    pub(super) counters: ServerCounters,
    /// Four-letter words waiting for a server-wide gather, by token.
    gathers: HashSet<u64>,
    next_gather: u64,
    /// Connections whose next read waits for this shard to catch up with a fence.
    fenced: std::collections::BTreeSet<ConnId>,
    /// Request latency per operation, from arrival in this shard to the answer.
    pub(super) latency: crate::latency::RequestLatency,
    /// Reply bytes queued on this shard's connections.
    pub(crate) backlog: Rc<ShardBacklog>,
    /// Whether this member serves clients (an ensemble member without a quorum does
    /// not); set by the executor from the member's role.
    serving: bool,
    /// Whether this member, cut off from its quorum, serves read-only clients now; set by
    /// the executor like `serving`.
    read_only: bool,
    /// What the executor must do, in order; see the module doc.
    effects: Vec<Effect>,
}

impl ShardState {
    pub fn new(settings: ShardSettings, tree: DataTree, last_zxid: Zxid) -> Self {
        let watches = WatchManager::new(settings.max_watches_per_conn);
        Self {
            tree,
            watches,
            conns: HashMap::new(),
            next_conn: 1,
            last_zxid,
            suspended: false,
            counters: Default::default(),
            gathers: HashSet::new(),
            next_gather: 1,
            fenced: Default::default(),
            latency: Default::default(),
            backlog: ShardBacklog::new(settings.shard_queued_reply_bytes_max),
            serving: true,
            read_only: false,
            effects: Vec::new(),
            settings,
        }
    }

    /// The digest of this shard's copy of the tree (the simulator compares every copy).
    pub fn tree_digest(&self) -> u64 {
        self.tree.digest()
    }

    /// The planted bug `SkipApply` (simulator tests only): shard 1 skips every fifth
    /// transaction.
    fn planted_skip(&self, txn: &Txn) -> bool {
        crate::planted::active(crate::planted::Bug::SkipApply)
            && self.settings.id == 1
            && txn.zxid % 5 == 0
    }

    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Tells the shard whether this member serves clients now.
    pub fn set_serving(&mut self, serving: bool) {
        self.serving = serving;
    }

    pub fn serving(&self) -> bool {
        self.serving
    }

    /// Tells the shard whether this member serves read-only clients now.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The effects pushed since the last call, in the order they must be carried out.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Takes the leader's snapshot as this shard's tree. It arrives while the server is
    /// suspended, so no connection (and so no watch) is left to tell.
    fn reset(&mut self, snapshot: &[u8], zxid: Zxid) {
        self.close_all();
        match ringkeeper_engine::storage::decode_snapshot(snapshot) {
            Ok(snap) => {
                self.tree = snap.tree;
                self.follow_snapshot_config();
                self.keep_own_config_view();
                self.last_zxid = zxid;
                self.watches = WatchManager::new(self.settings.max_watches_per_conn);
            }
            Err(e) => self.effects.push(Effect::Fatal(format!(
                "cannot decode the leader's snapshot: {e}; stopping"
            ))),
        }
    }

    /// A reconfiguration this member learns only through the leader's snapshot (it was not
    /// there for the commit): the snapshot's config node, newer than this member's view
    /// (its mzxid is the configuration's version), becomes the view.
    fn follow_snapshot_config(&mut self) {
        let Some((data, stat)) = self.tree.get_data(ringkeeper_engine::tree::CONFIG_NODE) else {
            return;
        };
        let lines: Vec<String> = String::from_utf8_lossy(data)
            .lines()
            .filter(|l| l.starts_with("server."))
            .map(str::to_owned)
            .collect();
        if !lines.is_empty()
            && u64::try_from(stat.mzxid).is_ok_and(|v| v > self.settings.reconfig.version)
        {
            std::sync::Arc::make_mut(&mut self.settings.reconfig).follow(&lines, stat.mzxid);
        }
    }

    /// After the leader's snapshot, `/zookeeper/config` shows this member's view of the
    /// ensemble again, as Apache's learner sets it after a sync (`initConfigInZKDatabase`).
    /// The snapshot's mtime is kept: the shard reads no clock. A standalone server (no
    /// members) takes no snapshots from anyone and leaves the node alone.
    fn keep_own_config_view(&mut self) {
        let view = &self.settings.reconfig;
        if view.members.is_empty() {
            return;
        }
        let data = crate::config::membership_text(&view.members, view.version);
        let mtime = self
            .tree
            .stat(ringkeeper_engine::tree::CONFIG_NODE)
            .map_or(0, |s| s.mtime);
        let version = i64::try_from(view.version).unwrap_or(i64::MAX);
        self.tree.set_config_data(data.as_bytes(), version, mtime);
    }

    /// Queues a frame for a connection, closing it if the client has stopped reading.
    pub(super) fn send_frame(&mut self, conn: ConnId, mut frame: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let queued = c.backlog.queued() + frame.len();
        if queued > self.settings.max_queued_bytes {
            warn!(
                conn,
                queued,
                limit = self.settings.max_queued_bytes,
                "client is not reading its replies; closing the connection"
            );
            c.closing = true;
            self.effects.push(Effect::Close(conn));
            return;
        }
        if c.backlog.queued() > 0 && frame.capacity() > frame.len() + frame.len() / 4 {
            // A frame that will wait behind others holds its whole allocation, which the
            // encoder grew by doubling; the backlog counts lengths, so trim it to match.
            frame.shrink_to_fit();
        }
        c.backlog.add(frame.len());
        c.stats.packets_sent += 1;
        self.counters.packets_sent += 1;
        self.effects.push(Effect::Frame(conn, frame));
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.closing {
                c.closing = true;
                self.effects.push(Effect::Close(conn));
            }
        }
    }

    /// Closes a connection, and ends its handshake if it is still in one, so that its
    /// reader does not wait for an answer that will not come.
    fn close_refusing_handshake(&mut self, conn: ConnId) {
        let h = self
            .conns
            .get_mut(&conn)
            .is_some_and(|c| std::mem::take(&mut c.handshaking));
        self.close_conn(conn);
        if h {
            self.effects
                .push(Effect::Handshake(conn, HandshakeOutcome::Refused));
        }
    }

    /// Closes a connection whose session now belongs to another connection (here or on
    /// another member).
    fn close_moved(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            // The session lives on elsewhere: this connection must not report it as
            // disconnected, which would count against the new owner.
            c.session = 0;
        }
        self.close_conn(conn);
    }

    pub fn close_all(&mut self) {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        // In connection order, so that the effects do not depend on the map's hashing
        // (the simulator replays a seed exactly).
        ids.sort_unstable();
        for id in ids {
            self.close_conn(id);
        }
    }

    /// Decodes a handshake and registers the connection.
    pub(crate) fn begin_handshake(
        &mut self,
        frame: &[u8],
        peer: Option<SocketAddr>,
        backlog: Rc<ConnBacklog>,
        now_ms: i64,
    ) -> Result<Handshake, String> {
        let mut r = Reader::new(frame);
        let req =
            ConnectRequest::decode(&mut r).map_err(|e| format!("malformed ConnectRequest: {e}"))?;
        let read_only = self.suspended || !self.serving;
        if read_only && !self.takes_read_only_client(&req) {
            return Err("this ensemble member has no quorum and serves no clients".to_owned());
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let mut auth = Vec::new();
        if let Some(p) = peer {
            // Every connection is authenticated as its address, for the `ip` ACL scheme.
            auth.push(Id::new("ip", p.ip().to_string()));
        }
        let timeout_ms = negotiate_timeout(
            req.time_out,
            self.settings.min_session_timeout_ms,
            self.settings.max_session_timeout_ms,
        );
        self.conns.insert(
            conn,
            Conn {
                backlog,
                session: req.session_id,
                timeout_ms,
                sent_read_only: req.read_only.is_some(),
                read_only,
                requested_timeout_ms: timeout_ms,
                requested_passwd: req.passwd.clone(),
                handshaking: true,
                auth,
                sasl: None,
                pending: VecDeque::new(),
                touched: false,
                closing: false,
                hanging_up: false,
                stats: ConnStats::new(peer, now_ms),
            },
        );
        Ok(Handshake {
            conn,
            last_zxid_seen: req.last_zxid_seen,
        })
    }

    pub(crate) fn connect_message(&mut self, conn: ConnId) -> Option<ToSequencer> {
        let c = self.conns.get(&conn)?;
        if c.read_only {
            self.settle_read_only_session(conn);
            return None;
        }
        Some(ToSequencer::Connect {
            shard: self.settings.id,
            conn,
            session: c.session,
            passwd: c.requested_passwd.clone(),
            timeout_ms: c.requested_timeout_ms,
        })
    }

    /// Forgets a connection; returns the message telling the sequencer its session lost it.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) -> Option<ToSequencer> {
        let c = self.conns.remove(&conn)?;
        self.watches.remove_watcher(conn);
        if !c.closing {
            self.effects.push(Effect::Close(conn));
        }
        if c.session != 0 && !c.handshaking && !c.read_only {
            Some(ToSequencer::Disconnected {
                shard: self.settings.id,
                conn,
                session: c.session,
            })
        } else {
            None
        }
    }

    /// Requests of every connection of this shard not yet answered.
    pub fn outstanding_total(&self) -> usize {
        self.conns.values().map(|c| c.pending.len()).sum()
    }

    /// Requests of a connection not yet answered.
    pub fn outstanding(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.pending.len())
    }

    /// Sessions with activity since the last report, for the sequencer's expiry clock.
    pub fn take_touched(&mut self) -> Vec<SessionId> {
        let mut out = Vec::new();
        for c in self.conns.values_mut() {
            if c.touched && c.session != 0 && !c.handshaking && !c.read_only {
                c.touched = false;
                out.push(c.session);
            }
        }
        // Sorted, so that the report does not depend on the map's hashing.
        out.sort_unstable();
        out
    }

    /// Starts a server-wide gather; the answer comes as a `Gathered` effect.
    pub(super) fn begin_gather(&mut self) -> ToSequencer {
        let token = self.next_gather;
        self.next_gather += 1;
        self.gathers.insert(token);
        ToSequencer::Gather {
            shard: self.settings.id,
            token,
        }
    }

    pub(super) fn end_gather(&mut self, token: u64) {
        self.gathers.remove(&token);
    }

    /// Handles one request frame. Returns a message for the sequencer, or why the
    /// connection must close.
    pub(crate) fn on_request(
        &mut self,
        conn: ConnId,
        frame: &[u8],
        now: Instant,
    ) -> Result<Option<ToSequencer>, String> {
        // Read as Apache reads a request, so that odd bytes get Apache's answers.
        let mut r = Reader::new(frame).like_java();
        let header =
            RequestHeader::decode(&mut r).map_err(|e| format!("malformed request header: {e}"))?;
        self.counters.packets_received += 1;
        if self.conns.get(&conn).is_some_and(|c| c.hanging_up) {
            // An earlier request ends this connection; nothing after it runs.
            return Ok(None);
        }
        let decoded = match refusal::by_opcode(header.op) {
            Some(refused) => Err(refused),
            None => records::decode_request(&header, &mut r).map_err(|e| {
                debug!(conn, op = header.op, error = %e, "request body does not decode");
                let op = OpCode::from_code(header.op).unwrap_or(OpCode::Error);
                refusal::undecodable(op, &e)
            }),
        };
        let request = match decoded {
            Ok(request) => request,
            Err(refused) => return self.refuse(conn, header.xid, refused),
        };
        let session = {
            let Some(c) = self.conns.get_mut(&conn) else {
                return Ok(None);
            };
            c.touched = true;
            c.stats.packets_received += 1;
            c.stats.last_cxid = header.xid;
            c.stats.last_op = header.op;
            c.session
        };
        self.run_request(conn, header, session, request, now)
    }

    /// Runs a decoded request: authentication at once, a read answered or queued, a write
    /// recorded and handed back for the sequencer.
    fn run_request(
        &mut self,
        conn: ConnId,
        header: RequestHeader,
        session: SessionId,
        request: Request,
        now: Instant,
    ) -> Result<Option<ToSequencer>, String> {
        if self.authenticate_at_once(conn, header.xid, &request)? {
            return Ok(None);
        }
        if self.refused_as_read_only(conn, header.xid, &request) {
            return Ok(None);
        }
        let origin = Origin {
            shard: self.settings.id,
            conn,
            xid: header.xid,
        };
        let op = OpCode::from_code(header.op).unwrap_or(OpCode::Error);
        let write = match request {
            Request::Sync(s) => {
                self.push_pending(
                    conn,
                    Pending::Write {
                        xid: header.xid,
                        kinds: vec![op],
                        started: now,
                    },
                );
                return Ok(Some(ToSequencer::Sync {
                    origin,
                    path: s.path,
                }));
            }
            Request::CloseSession => Write::CloseSession,
            Request::Reconfig(r) => match self.reconfig_write(conn, header.clone(), r, now) {
                Some(write) => write,
                None => return Ok(None),
            },
            other => match replies::route(other) {
                replies::Route::Write(w) => w,
                replies::Route::Local(read) => {
                    self.answer_now_or_queue(conn, header, read, now);
                    return Ok(None);
                }
            },
        };
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let kinds = replies::reply_kinds(&write, op);
        self.push_pending(
            conn,
            Pending::Write {
                xid: header.xid,
                kinds,
                started: now,
            },
        );
        Ok(Some(ToSequencer::Write {
            origin,
            session,
            auth,
            write,
        }))
    }

    /// An auth packet takes effect at once (its answer still waits its turn); a SASL step
    /// is answered in turn. Returns whether the request is done with.
    fn authenticate_at_once(
        &mut self,
        conn: ConnId,
        xid: i32,
        request: &Request,
    ) -> Result<bool, String> {
        if let Request::Auth(packet) = request {
            // Authentication takes effect at once, for the requests that follow it; its
            // answer still waits its turn behind earlier requests.
            let ok = self.authenticate(conn, &packet.scheme, &packet.auth);
            if !ok {
                let frame = records::encode_reply(xid, 0, ErrorCode::AuthFailed, &Response::Empty);
                self.send_frame(conn, frame);
                self.close_conn(conn);
                return Ok(true);
            }
        }
        if let Request::Sasl(step) = request {
            // Apache's processPacket dereferences the token before anything else, so a
            // null one ends the connection whatever the SASL set-up.
            if step.token.is_none() {
                return Err("SASL request with a null token".to_owned());
            }
            let token = step.token.clone().unwrap_or_default();
            self.sasl_step(conn, xid, &token);
            return Ok(true);
        }
        Ok(false)
    }

    fn record_latency(&mut self, op: i32, started: Instant, now: Instant) {
        let name = OpCode::from_code(op).map_or("unknown", OpCode::name);
        let micros = now.saturating_duration_since(started).as_micros() as u64;
        self.latency.record(name, micros);
    }

    /// Carries out a refusal; `Err` closes the connection at once.
    fn refuse(
        &mut self,
        conn: ConnId,
        xid: i32,
        refused: Refusal,
    ) -> Result<Option<ToSequencer>, String> {
        match refused {
            Refusal::Answer(err) => self.answer_error(conn, xid, err, false),
            Refusal::AnswerAndClose(err) => {
                debug!(conn, xid, ?err, "request refused; closing after its answer");
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.hanging_up = true;
                }
                self.answer_error(conn, xid, err, true);
            }
            Refusal::Close => return Err("auth or SASL packet does not decode".to_owned()),
        }
        Ok(None)
    }

    /// Answers a request with an error in its turn: now if nothing is ahead of it,
    /// otherwise behind the requests still pending on its connection. With `close_after`
    /// the connection closes once that answer is out.
    fn answer_error(&mut self, conn: ConnId, xid: i32, err: ErrorCode, close_after: bool) {
        if self.conns.get(&conn).is_some_and(|c| c.pending.is_empty()) {
            let frame = records::encode_reply(xid, self.last_zxid, err, &Response::Empty);
            self.send_frame(conn, frame);
            if close_after {
                self.close_conn(conn);
            }
        } else {
            self.push_pending(
                conn,
                Pending::Error {
                    xid,
                    err,
                    close_after,
                },
            );
        }
    }

    fn push_pending(&mut self, conn: ConnId, p: Pending) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.pending.push_back(p);
        }
    }

    fn answer_now_or_queue(
        &mut self,
        conn: ConnId,
        header: RequestHeader,
        request: Request,
        now: Instant,
    ) {
        let fence = self.settings.released.get();
        // The planted bug `SkipReadFence` (simulator tests only) answers at once.
        let caught_up =
            self.last_zxid >= fence || crate::planted::active(crate::planted::Bug::SkipReadFence);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.pending.is_empty() || !caught_up {
            let reserved = replies::reply_estimate(&self.tree, &request);
            c.backlog.reserve(reserved);
            c.pending.push_back(Pending::Read {
                header,
                request,
                fence,
                started: now,
                reserved,
            });
            if !caught_up {
                self.fenced.insert(conn);
            }
            return;
        }
        let op = header.op;
        if let Some(frame) = self.answer_read(conn, &header, request) {
            self.send_frame(conn, frame);
        }
        self.record_latency(op, now, now);
    }

    /// A reconfig request that passes its checks, as the write the sequencer proposes; one
    /// refused by them is answered in its turn, as a read is, and gives `None`.
    fn reconfig_write(
        &mut self,
        conn: ConnId,
        header: RequestHeader,
        r: ReconfigRequest,
        now: Instant,
    ) -> Option<Write> {
        match self.checked_reconfig(conn, &r) {
            Ok(lines) => Some(Write::Reconfig(lines)),
            Err(_) => {
                self.answer_now_or_queue(conn, header, Request::Reconfig(r), now);
                None
            }
        }
    }

    /// A reconfig request's checks (`crate::reconfig::check`) against this member's view and
    /// the connection's ids: the new member list as server lines, or Apache's error.
    fn checked_reconfig(
        &self,
        conn: ConnId,
        r: &ReconfigRequest,
    ) -> Result<Vec<String>, ErrorCode> {
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.as_slice())
            .unwrap_or_default();
        let config_acl = self
            .tree
            .acl(ringkeeper_engine::tree::CONFIG_NODE)
            .map(|(acl, _)| acl)
            .unwrap_or_default();
        let members = crate::reconfig::check(&self.settings.reconfig, r, config_acl, auth)?;
        Ok(members
            .iter()
            .map(|m| format!("server.{}={}", m.id, m))
            .collect())
    }

    /// The reply to a committed reconfiguration, as Apache's: the config node's new data and
    /// its stat (a getData reply).
    fn reconfig_reply(&self, xid: i32, zxid: Zxid) -> Vec<u8> {
        match self
            .tree
            .get_data_or_null(ringkeeper_engine::tree::CONFIG_NODE)
        {
            Some((data, stat)) => {
                let resp = Response::GetData(GetDataResponse {
                    data: data.map(<[u8]>::to_vec),
                    stat,
                });
                records::encode_reply(xid, zxid, ErrorCode::Ok, &resp)
            }
            None => records::encode_reply(xid, zxid, ErrorCode::NoNode, &Response::Empty),
        }
    }

    /// Answers a read from this shard's tree (`engine::read`), sends the watch events it
    /// fires, and returns its reply, if it has one.
    fn answer_read(
        &mut self,
        conn: ConnId,
        header: &RequestHeader,
        req: Request,
    ) -> Option<Vec<u8>> {
        if let Request::Reconfig(r) = &req {
            let code = match self.checked_reconfig(conn, r) {
                Err(e) => e,
                // It failed a check when it arrived and waited its turn behind a write that
                // committed another reconfiguration: Apache's answer while one is running.
                Ok(_) => ErrorCode::ReconfigInProgress,
            };
            let frame = records::encode_reply(header.xid, self.last_zxid, code, &Response::Empty);
            return Some(frame);
        }
        let c = self.conns.get(&conn)?;
        let mut reader = read::Reader {
            tree: &self.tree,
            watches: &mut self.watches,
            watcher: conn,
            session: c.session,
            auth: &c.auth,
        };
        let answered = read::answer(&mut reader, header.xid, req);
        for (event, path) in &answered.events {
            let frame = replies::notification(*event, path);
            self.send_frame(conn, frame);
        }
        let (xid, result) = match answered.answer {
            Answer::None => return None,
            Answer::Auth => {
                let ok = records::encode_reply(header.xid, 0, ErrorCode::Ok, &Response::Empty);
                return Some(ok);
            }
            Answer::Reply { xid, result } => (xid, result),
        };
        let frame = match result {
            Ok(resp) => records::encode_reply(xid, self.last_zxid, ErrorCode::Ok, &resp),
            Err(e) => records::encode_reply(xid, self.last_zxid, e, &Response::Empty),
        };
        Some(self.within_reply_limit(conn, header.op, xid, frame))
    }

    /// A reply larger than a Java client's jute.maxbuffer makes it drop the connection,
    /// reconnect and ask again, for ever (a getChildren of a huge directory is the usual
    /// case). Apache sends it anyway, and clients that grow their buffer (go-zookeeper)
    /// rely on that, so the limit is opt-in: with `ringkeeper.replyBytesMax` set, a larger
    /// reply is answered MarshallingError, which ends that loop with an error the
    /// application sees.
    fn within_reply_limit(&mut self, conn: ConnId, op: i32, xid: i32, frame: Vec<u8>) -> Vec<u8> {
        let body = frame.len().saturating_sub(4);
        let limit = self.settings.reply_bytes_max.unwrap_or(usize::MAX);
        if body <= limit {
            return frame;
        }
        warn!(
            conn,
            op,
            bytes = body,
            limit,
            "reply larger than ringkeeper.replyBytesMax; answering MarshallingError"
        );
        self.counters.replies_too_large += 1;
        let err = ErrorCode::MarshallingError;
        records::encode_reply(xid, self.last_zxid, err, &Response::Empty)
    }

    /// After a write's answer went out, answers the reads that were waiting behind it.
    fn drain_reads(&mut self, conn: ConnId, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.pending.front() {
                Some(Pending::Read { fence, .. }) if *fence <= self.last_zxid => {}
                Some(Pending::Error { .. } | Pending::Frame(_)) => {}
                Some(Pending::Read { .. }) => {
                    // Still waiting for this shard to apply what was acknowledged
                    // elsewhere before the read arrived; the applier comes back here.
                    self.fenced.insert(conn);
                    return;
                }
                _ => return,
            }
            match c.pending.pop_front() {
                Some(Pending::Read {
                    header,
                    request,
                    started,
                    reserved,
                    ..
                }) => {
                    c.backlog.release(reserved);
                    let op = header.op;
                    if let Some(frame) = self.answer_read(conn, &header, request) {
                        self.send_frame(conn, frame);
                    }
                    self.record_latency(op, started, now);
                }
                Some(Pending::Error {
                    xid,
                    err,
                    close_after,
                }) => {
                    let frame = records::encode_reply(xid, self.last_zxid, err, &Response::Empty);
                    self.send_frame(conn, frame);
                    if close_after {
                        self.close_conn(conn);
                        return;
                    }
                }
                Some(Pending::Frame(frame)) => self.send_frame(conn, frame),
                _ => return,
            }
        }
    }

    /// Sends the answer to the write at the head of a connection's queue.
    fn complete_write(&mut self, origin: Origin, frame: Vec<u8>, now: Instant) {
        let Some(c) = self.conns.get_mut(&origin.conn) else {
            return;
        };
        let op = match c.pending.front() {
            Some(Pending::Write {
                xid,
                kinds,
                started,
            }) if *xid == origin.xid => {
                let done = (kinds.first().copied(), *started);
                c.pending.pop_front();
                done
            }
            _ => {
                // In an ensemble an answer can overtake an earlier write's: the leader
                // refuses a request at once, while the write before it waits for a quorum.
                // The answer then waits in that write's place, so replies keep their order.
                let place = c
                    .pending
                    .iter()
                    .position(|p| matches!(p, Pending::Write { xid, .. } if *xid == origin.xid));
                match place {
                    Some(i) => {
                        if let Some(Pending::Write { kinds, started, .. }) = c.pending.get(i) {
                            let (kind, started) = (kinds.first().copied(), *started);
                            if let Some(kind) = kind {
                                let micros = now.saturating_duration_since(started);
                                self.latency.record(kind.name(), micros.as_micros() as u64);
                            }
                        }
                        if let Some(slot) = c.pending.get_mut(i) {
                            *slot = Pending::Frame(frame);
                        }
                    }
                    None => warn!(
                        conn = origin.conn,
                        xid = origin.xid,
                        "answer for a write this connection is not waiting for"
                    ),
                }
                return;
            }
        };
        self.send_frame(origin.conn, frame);
        if let (Some(kind), started) = op {
            let micros = now.saturating_duration_since(started).as_micros() as u64;
            self.latency.record(kind.name(), micros);
        }
        self.drain_reads(origin.conn, now);
    }

    fn pending_kinds(&self, origin: Origin) -> Option<Vec<OpCode>> {
        self.conns
            .get(&origin.conn)?
            .pending
            .iter()
            .find_map(|p| match p {
                Pending::Write { xid, kinds, .. } if *xid == origin.xid => Some(kinds.clone()),
                _ => None,
            })
    }

    fn authenticate(&mut self, conn: ConnId, scheme: &str, auth: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        match scheme {
            "digest" => {
                let Ok(text) = std::str::from_utf8(auth) else {
                    return false;
                };
                let id = ringkeeper_engine::acl::digest(text);
                if self.settings.super_digest.as_deref() == Some(id.as_str()) {
                    c.auth.push(Id::new("super", ""));
                }
                let id = Id::new("digest", id);
                if !c.auth.contains(&id) {
                    c.auth.push(id);
                }
                true
            }
            // Apache's `IPAuthenticationProvider` ignores what the client claims and
            // records the connection's real address, which the handshake already did;
            // the answer is Ok, so clients that add `ip` credentials keep working.
            "ip" => {
                if let Some(peer) = c.stats.peer {
                    let id = Id::new("ip", peer.ip().to_string());
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
                true
            }
            other => {
                info!(
                    conn,
                    scheme = other,
                    "authentication with an unsupported scheme"
                );
                false
            }
        }
    }

    /// One step of a SASL DIGEST-MD5 exchange (Apache's `ZooKeeperServer.processSasl`).
    /// A success adds `sasl:<user>` (and `super` for `zookeeper.superUser`) to the
    /// connection at once, for the requests that follow; a failure answers AuthFailed with
    /// a null token, as Apache does, and closes the connection. Replies carry zxid 0.
    /// Without a JAAS server section Apache has no SASL server for the connection and
    /// answers Ok with a null token, which tells a SASL client nothing; so does this.
    fn sasl_step(&mut self, conn: ConnId, xid: i32, token: &[u8]) {
        let reply = |token: Option<Vec<u8>>, err: ErrorCode| {
            records::encode_reply_with_body(
                xid,
                0,
                err,
                &Response::Sasl(records::SetSaslResponse { token }),
            )
        };
        let Some(users) = self.settings.sasl.clone() else {
            self.send_in_turn(conn, reply(None, ErrorCode::Ok));
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.sasl.is_none() {
            match crate::sasl::random_nonce() {
                Ok(nonce) => c.sasl = Some(crate::sasl::DigestMd5Server::new(nonce)),
                Err(e) => warn!(conn, error = %e, "cannot draw a SASL nonce"),
            }
        }
        let outcome = match c.sasl.as_mut() {
            Some(server) => server.step(token, &users),
            None => Err(crate::sasl::SaslError::Finished),
        };
        let frame = match outcome {
            Ok(crate::sasl::Step::Challenge(token)) => reply(Some(token), ErrorCode::Ok),
            Ok(crate::sasl::Step::Success { token, user }) => {
                info!(conn, user, "SASL DIGEST-MD5 authentication succeeded");
                if users.super_user.as_deref() == Some(user.as_str()) {
                    c.auth.push(Id::new(SUPER_SCHEME, ""));
                }
                let id = Id::new("sasl", user);
                if !c.auth.contains(&id) {
                    c.auth.push(id);
                }
                reply(Some(token), ErrorCode::Ok)
            }
            Err(e) => {
                info!(conn, error = %e, "SASL authentication failed; closing");
                let frame = reply(None, ErrorCode::AuthFailed);
                self.send_frame(conn, frame);
                self.close_conn(conn);
                return;
            }
        };
        self.send_in_turn(conn, frame);
    }

    /// Sends a reply answered on the spot (not by the read path) in request order: at
    /// once when nothing earlier is pending, else after what is.
    fn send_in_turn(&mut self, conn: ConnId, frame: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.pending.is_empty() {
            self.send_frame(conn, frame);
        } else {
            c.pending.push_back(Pending::Frame(frame));
        }
    }

    /// Applies one message of the sequencer's stream; returns a message to send back.
    pub fn on_sequencer(&mut self, msg: ToShard, now: Instant) -> Option<ToSequencer> {
        match msg {
            ToShard::Report { origin, token } => {
                let report = self.report();
                return Some(ToSequencer::Report {
                    origin,
                    token,
                    report,
                });
            }
            ToShard::Gathered { token, gathered } => {
                if self.gathers.remove(&token) {
                    self.effects
                        .push(Effect::Gathered(token, Box::new(gathered)));
                }
            }
            ToShard::Commit {
                txn,
                origin,
                digest,
            } => self.on_commit(txn, origin, digest, now),
            ToShard::Commits(commits) => {
                for c in commits {
                    self.on_commit(c.txn, c.origin, c.digest, now);
                }
            }
            ToShard::Refused { origin, err, zxid } => self.on_refused(origin, err, zxid, now),
            ToShard::SyncDone { origin, path, zxid } => {
                let body = Response::Sync(records::SyncResponse { path });
                let frame = records::encode_reply(origin.xid, zxid, ErrorCode::Ok, &body);
                self.complete_write(origin, frame, now);
            }
            ToShard::ConnectAccepted {
                conn,
                session,
                passwd,
                timeout_ms,
            } => self.on_connect_accepted(conn, session, passwd, timeout_ms),
            ToShard::ConnectRefused { conn } => self.on_connect_refused(conn),
            ToShard::SessionMoved { session, new_owner } => {
                self.on_session_moved(session, new_owner)
            }
            ToShard::Shutdown => self.close_all(),
            ToShard::Suspend => {
                self.suspended = true;
                self.close_all();
            }
            ToShard::Resume => {
                self.suspended = false;
                self.close_read_only();
            }
            ToShard::Reset { snapshot, zxid } => self.reset(&snapshot, zxid),
            ToShard::CloseConn { conn } => self.close_refusing_handshake(conn),
            // The snapshotter's alone; a shard is never sent one.
            ToShard::SnapshotFor { .. } => {}
        }
        None
    }

    /// A request refused before it became a transaction is answered with its error in its
    /// turn, except SessionMoved.
    fn on_refused(&mut self, origin: Origin, err: ErrorCode, zxid: Zxid, now: Instant) {
        if err == ErrorCode::SessionMoved {
            // The client resumed its session elsewhere. Apache's FinalRequestProcessor
            // answers SessionMovedException by closing the connection without a reply
            // (ZOOKEEPER-710): a reply would let a client that still reads this
            // connection act on a session it no longer holds here.
            debug!(
                conn = origin.conn,
                "request on a session that moved to another connection; closing"
            );
            self.close_moved(origin.conn);
            return;
        }
        let frame = records::encode_reply(origin.xid, zxid, err, &Response::Empty);
        self.complete_write(origin, frame, now);
    }

    /// Applies a committed transaction: checks the copy against the sequencer's digest,
    /// fires watches, releases the reads waiting for it, answers its writer.
    fn on_commit(
        &mut self,
        txn: std::sync::Arc<Txn>,
        origin: Option<Origin>,
        digest: u64,
        now: Instant,
    ) {
        let kinds = origin.and_then(|o| self.pending_kinds(o));
        if let TxnBody::Reconfig { servers } = &txn.body {
            std::sync::Arc::make_mut(&mut self.settings.reconfig).follow(servers, txn.zxid);
        }
        let result = if self.planted_skip(&txn) {
            DataTree::new().apply(&txn)
        } else {
            self.tree.apply(&txn)
        };
        let copy = crate::divergence::TreeCopy::Shard(self.settings.id);
        let ours = self.tree.digest();
        let diverged = crate::divergence::failed_apply(copy, &txn, &result)
            .or_else(|| crate::divergence::mismatch(copy, txn.zxid, ours, digest));
        if let Some(line) = diverged {
            self.effects.push(Effect::Fatal(line));
        }
        self.last_zxid = txn.zxid;
        for trigger in &result.triggers {
            for (watcher, event, path) in self.watches.trigger(&trigger.path, trigger.event) {
                // A watch must not tell a client about a node it may not read.
                let allowed = self
                    .conns
                    .get(&watcher)
                    .is_some_and(|c| check_perm(&trigger.acl, perms::READ, &c.auth));
                if allowed {
                    let frame = replies::notification(event, &path);
                    self.send_frame(watcher, frame);
                }
            }
        }
        if !self.fenced.is_empty() {
            let waiting: Vec<ConnId> = std::mem::take(&mut self.fenced).into_iter().collect();
            for conn in waiting {
                self.drain_reads(conn, now);
            }
        }
        if let (Some(origin), Some(kinds)) = (origin, kinds) {
            let frame = if kinds == [OpCode::Reconfig] && result.err() == ErrorCode::Ok {
                self.reconfig_reply(origin.xid, txn.zxid)
            } else {
                replies::write_reply(origin.xid, txn.zxid, &kinds, &result)
            };
            self.complete_write(origin, frame, now);
        }
        if let TxnBody::CloseSession { .. } = txn.body {
            let mut ids: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| c.session == txn.session)
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            for id in ids {
                self.close_conn(id);
            }
        }
    }

    fn on_connect_accepted(
        &mut self,
        conn: ConnId,
        session: SessionId,
        passwd: [u8; 16],
        timeout_ms: i32,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.session = session;
        c.timeout_ms = timeout_ms;
        c.touched = true;
        let frame = records::encode_connect_response(&records::ConnectResponse {
            protocol_version: 0,
            time_out: timeout_ms,
            session_id: session,
            passwd: passwd.to_vec(),
            read_only: c.read_only_flag(),
        });
        if std::mem::take(&mut c.handshaking) {
            self.effects
                .push(Effect::Handshake(conn, HandshakeOutcome::Accepted));
        }
        self.send_frame(conn, frame);
    }

    fn on_connect_refused(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // ZooKeeper answers an unknown or expired session with a zero timeout, a zero
        // session id and a zero password, then closes.
        let frame = records::encode_connect_response(&records::ConnectResponse::expired(
            c.read_only_flag(),
        ));
        let h = std::mem::take(&mut c.handshaking);
        c.session = 0;
        self.send_frame(conn, frame);
        self.close_conn(conn);
        if h {
            self.effects
                .push(Effect::Handshake(conn, HandshakeOutcome::Refused));
        }
    }

    /// Another connection (here or on another member) took the session over.
    fn on_session_moved(&mut self, session: SessionId, new_owner: (ShardId, ConnId)) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| c.session == session && (self.settings.id, **id) != new_owner)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            debug!(
                conn = id,
                "session moved to another connection; closing this one"
            );
            self.close_moved(id);
        }
    }
}

/// What the four-letter words read of a shard.
impl ShardState {
    /// This shard's part of a server-wide four-letter word.
    pub(super) fn report(&self) -> ShardReport {
        ShardReport {
            connections: self.connections(),
            watches_by_session: self
                .watches
                .by_watcher()
                .into_iter()
                .map(|(conn, paths)| SessionWatches {
                    session_id: self.session_of(conn),
                    paths,
                })
                .collect(),
            watches_by_path: self
                .watches
                .by_path()
                .into_iter()
                .map(|(path, conns)| PathWatches {
                    path,
                    session_ids: conns.into_iter().map(|c| self.session_of(c)).collect(),
                })
                .collect(),
            apache_watch_count: self.watches.apache_watch_count() as u64,
            packets_received: self.counters.packets_received,
            packets_sent: self.counters.packets_sent,
            replies_too_large: self.counters.replies_too_large,
            outstanding: self.outstanding_total() as u64,
            queued_reply_bytes: self.backlog.queued() as u64,
            latency: self.latency.clone(),
        }
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        let mut out: Vec<ConnectionInfo> = self
            .conns
            .values()
            .filter_map(|c| {
                Some(ConnectionInfo {
                    remote: c.stats.peer?,
                    received: c.stats.packets_received,
                    sent: c.stats.packets_sent,
                    session_id: c.session,
                    last_op: counters::short_op(c.stats.last_op).to_owned(),
                    established_ms: c.stats.established_ms,
                    session_timeout_ms: c.timeout_ms,
                    last_cxid: c.stats.last_cxid as i64,
                    last_zxid: self.last_zxid(),
                    ..Default::default()
                })
            })
            .collect();
        out.sort_by_key(|c| c.remote);
        out
    }

    fn session_of(&self, conn: ConnId) -> i64 {
        self.conns.get(&conn).map(|c| c.session).unwrap_or(0)
    }
}
