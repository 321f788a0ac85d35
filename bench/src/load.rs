//! The traffic generator proper: connections that pipeline requests (closed loop) or send
//! them on a fixed schedule (open loop), record per-operation latency, count every error by
//! code, and stop by themselves at the deadline or after the request budget.
//!
//! Each connection runs as one tokio task with a writer half and a reader half joined
//! together. The writer registers a request as pending before writing it, so the reader,
//! which sees replies in request order (the protocol guarantees it per connection), can
//! always pair a reply with its request and check the xid.

use crate::check::{self, Call, Recorded};
use crate::keys::{key_path, KeyChooser, Rng};
use crate::options::{Distribution, Mix, OpKind};
use crate::schedule::Schedule;
use crate::session::{self, reply_header, Session, SessionError};
use crate::stats::{summarize, RunStats, Summary};
use ringkeeper_engine::history::{self, CheckReport, History};
use ringkeeper_engine::jute::records::{
    decode_response, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
    GetDataRequest, MultiOp, Request, Response, SetDataRequest, SyncRequest,
};
use ringkeeper_engine::{xid, Acl, ErrorCode, OpCode};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Everything a run needs. Built by `rk-load` from its flags and by the suite directly.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Servers as `host:port`; connection i starts at host i mod len.
    pub hosts: Vec<String>,
    /// Concurrent sessions.
    pub connections: usize,
    /// Requests outstanding per connection at most.
    pub in_flight: usize,
    /// Operation mix.
    pub mix: Mix,
    /// Number of keys under the root.
    pub keys: u64,
    /// How keys are drawn.
    pub distribution: Distribution,
    /// Bytes written by setData and create, and stored in every key at setup.
    pub value_size: usize,
    /// Measured time after the warm-up (closed and open loop alike).
    pub duration: Duration,
    /// Stop after this many measured requests in total instead of after `duration`.
    pub requests: Option<u64>,
    /// Time before measuring starts; its replies are not recorded.
    pub warmup: Duration,
    /// Open loop at this many requests per second in total; `None` for closed loop.
    pub rate: Option<f64>,
    /// Parent of the keys and of the sequential nodes.
    pub root: String,
    /// Create the root and the keys first (existing nodes are kept).
    pub setup: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Session timeout asked for.
    pub session_timeout_ms: i32,
    /// Print a progress line each second on stderr.
    pub progress: bool,
    /// How long to wait for outstanding replies after the sending stops.
    pub drain_timeout: Duration,
    /// Hard bound on the whole run, setup excluded.
    pub time_limit: Duration,
    /// Record every request and reply and check the history at the end (`--check`).
    pub check: bool,
    /// A server process on this machine whose CPU time over the measured window is
    /// reported (`--server-pid`).
    pub server_pid: Option<u32>,
    /// Ends the measured window early once set (the suite's catch-up scenario stops the
    /// load when a restarted member serves again); `duration` stays the upper bound.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            hosts: vec!["127.0.0.1:2181".into()],
            connections: 16,
            in_flight: 4,
            mix: Mix::default_read_heavy(),
            keys: 1000,
            distribution: Distribution::Uniform,
            value_size: 100,
            duration: Duration::from_secs(10),
            requests: None,
            warmup: Duration::from_secs(1),
            rate: None,
            root: "/rk-bench".into(),
            setup: true,
            seed: 1,
            session_timeout_ms: 30_000,
            progress: true,
            drain_timeout: Duration::from_secs(10),
            time_limit: Duration::from_secs(3600),
            check: false,
            server_pid: None,
            stop: None,
        }
    }
}

/// Failures that stop a run before it measures anything.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Creating the root or the keys failed.
    #[error("setup: {0}")]
    Setup(String),
    /// The async runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Latency and errors of every measured reply.
    pub stats: RunStats,
    /// Seconds from the end of the warm-up to the last measured reply.
    pub measured_seconds: f64,
    /// Watch notifications received.
    pub notifications: u64,
    /// Requests sent in the measured window that never got a reply (connection lost or
    /// drain timeout); they are also counted as ConnectionLoss errors of their operation.
    pub unanswered: u64,
    /// Connection-level failures by message.
    pub connection_errors: BTreeMap<String, u64>,
    /// Sessions opened after the first one of each connection.
    pub reconnects: u64,
    /// The recorded history (`--check`).
    pub history: Option<History>,
    /// Its check (`--check`).
    pub check: Option<CheckReport>,
    /// Whether connections stopped early because the history reached its bound.
    pub history_full: bool,
    /// CPU seconds (user + system) the server given by `server_pid` used from the end of
    /// the warm-up to the end of the run.
    pub server_cpu_seconds: Option<f64>,
}

/// The JSON form of a report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportJson {
    /// Servers driven.
    pub hosts: Vec<String>,
    /// Connections.
    pub connections: usize,
    /// In flight per connection.
    pub in_flight: usize,
    /// The mix, as `op=weight,...`.
    pub mix: String,
    /// Key count.
    pub keys: u64,
    /// Key distribution.
    pub distribution: Distribution,
    /// Value bytes.
    pub value_size: usize,
    /// Open-loop rate, if any.
    pub rate: Option<f64>,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Measured seconds.
    pub measured_seconds: f64,
    /// Per operation.
    pub ops: BTreeMap<String, Summary>,
    /// All operations together.
    pub total: Summary,
    /// Watch notifications received.
    pub notifications: u64,
    /// Requests never answered.
    pub unanswered: u64,
    /// Connection errors by message.
    pub connection_errors: BTreeMap<String, u64>,
    /// Reconnects.
    pub reconnects: u64,
    /// CPU seconds of `--server-pid` over the measured window.
    pub server_cpu_seconds: Option<f64>,
    /// Those per measured reply, in microseconds.
    pub server_cpu_us_per_op: Option<f64>,
    /// `--check`: whether the history passed (absent without `--check`).
    pub check_passed: Option<bool>,
    /// `--check`: violations found in all.
    pub check_violation_count: usize,
    /// `--check`: the first violations, in words.
    pub check_violations: Vec<String>,
}

impl LoadReport {
    /// The JSON document `--json` writes.
    pub fn to_json(&self, cfg: &LoadConfig) -> ReportJson {
        let secs = self.measured_seconds;
        ReportJson {
            hosts: cfg.hosts.clone(),
            connections: cfg.connections,
            in_flight: cfg.in_flight,
            mix: cfg.mix.to_string(),
            keys: cfg.keys,
            distribution: cfg.distribution,
            value_size: cfg.value_size,
            rate: cfg.rate,
            warmup_s: cfg.warmup.as_secs_f64(),
            measured_seconds: secs,
            ops: self
                .stats
                .ops
                .iter()
                .map(|(op, s)| (op.name().to_string(), summarize(s, secs)))
                .collect(),
            total: summarize(&self.stats.total(), secs),
            notifications: self.notifications,
            unanswered: self.unanswered,
            connection_errors: self.connection_errors.clone(),
            reconnects: self.reconnects,
            server_cpu_seconds: self.server_cpu_seconds,
            server_cpu_us_per_op: self.server_cpu_us_per_op(),
            check_passed: self.check.as_ref().map(CheckReport::passed),
            check_violation_count: self.check.as_ref().map_or(0, |c| c.violation_count),
            check_violations: self
                .check
                .iter()
                .flat_map(|c| c.violations.iter().map(ToString::to_string))
                .collect(),
        }
    }

    /// The summary of one operation, if it was measured.
    pub fn op(&self, op: OpKind) -> Option<Summary> {
        self.stats
            .ops
            .get(&op)
            .map(|s| summarize(s, self.measured_seconds))
    }

    /// Server CPU microseconds per measured reply, when a server pid was given.
    pub fn server_cpu_us_per_op(&self) -> Option<f64> {
        let replies = self.stats.total().latency.len();
        (replies > 0)
            .then_some(())
            .and(self.server_cpu_seconds)
            .map(|cpu| cpu * 1e6 / replies as f64)
    }

    /// All operations together.
    pub fn total(&self) -> Summary {
        summarize(&self.stats.total(), self.measured_seconds)
    }
}

/// Counters the progress line reads while connections run.
#[derive(Default)]
struct Shared {
    completed: AtomicU64,
    errors: AtomicU64,
    notifications: AtomicU64,
    connected: AtomicU64,
    stop: AtomicBool,
    /// Sessions opened so far: each session is one client of the history.
    sessions: AtomicU32,
    /// Sequential creates sent by a checked run.
    creates: AtomicU64,
    /// A connection stopped because its share of the history was used up.
    history_full: AtomicBool,
}

/// Immutable per-run context handed to every connection.
struct Plan {
    cfg: LoadConfig,
    chooser: KeyChooser,
    value: Vec<u8>,
    start: Instant,
    measure_from: Instant,
    /// Sending stops here.
    deadline: Instant,
    /// Everything stops here.
    hard_end: Instant,
    /// Parent of the checked run's sequential creates (`--check`).
    check_parent: Option<String>,
}

impl Plan {
    /// Whether sending is over at `now`: the deadline passed or the run was stopped.
    fn over(&self, now: Instant) -> bool {
        now >= self.deadline
            || self
                .cfg
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

/// One connection's results.
#[derive(Default)]
struct ConnOutcome {
    stats: RunStats,
    history: Vec<history::Op>,
    unanswered: u64,
    connection_errors: BTreeMap<String, u64>,
    reconnects: u64,
    last_reply: Option<Instant>,
}

struct Pending {
    xid: i32,
    op: OpKind,
    intended: Instant,
    measured: bool,
    /// The sync half of a `sync` operation: its reply frees no slot and is not timed.
    aux: bool,
    /// The history entry to complete with the reply (`--check`).
    record: Option<Recorded>,
}

/// What one connection remembers across its sessions for choosing requests.
#[derive(Default)]
struct ConnMemory {
    /// Nodes it created and may delete.
    created: Mutex<VecDeque<String>>,
    /// The last version it saw of each key, for conditional writes (`--check`).
    versions: Mutex<HashMap<String, i32>>,
}

/// A request as [`build_request`] makes it.
struct Built {
    op: OpKind,
    request: Request,
    /// For `sync`: the path to sync before the read.
    sync_first: Option<String>,
    /// The history entry's call (`--check`).
    call: Option<Call>,
}

/// Checks a configuration for values that would make a run meaningless or unbounded.
pub fn validate(cfg: &LoadConfig) -> Result<(), LoadError> {
    let bad = |m: &str| Err(LoadError::Config(m.to_string()));
    if cfg.hosts.is_empty() {
        return bad("no hosts");
    }
    if cfg.connections == 0 || cfg.connections > 100_000 {
        return bad("connections must be in 1..=100000");
    }
    if cfg.in_flight == 0 || cfg.in_flight > 100_000 {
        return bad("in-flight must be in 1..=100000");
    }
    if cfg.keys == 0 {
        return bad("keys must be at least 1");
    }
    if cfg.value_size > 1 << 20 {
        return bad("value-size above 1 MiB exceeds ZooKeeper's default jute.maxbuffer");
    }
    if let Some(r) = cfg.rate {
        if !(r.is_finite() && r > 0.0) {
            return bad("rate must be a positive number");
        }
    }
    if cfg.requests == Some(0) {
        return bad("requests must be at least 1");
    }
    if !cfg.root.starts_with('/') || cfg.root.len() < 2 || cfg.root.ends_with('/') {
        return bad("root must be an absolute path other than /, without a trailing slash");
    }
    if cfg.check {
        if cfg.keys > check::CHECK_KEYS_MAX {
            return bad("--check reads every key's version first: at most 100000 keys");
        }
        if cfg.value_size < check::TOKEN_BYTES {
            return bad("--check needs a value size of at least 16 bytes for the value's token");
        }
        if let Some((op, _)) = cfg
            .mix
            .weights
            .iter()
            .find(|(op, _)| matches!(op, OpKind::Delete | OpKind::Multi))
        {
            return bad(&format!(
                "--check does not record {op}: use getData, sync, setData, create, exists, getChildren, watch"
            ));
        }
    }
    Ok(())
}

/// Runs the load on a fresh multi-threaded tokio runtime with `threads` workers.
pub fn run_blocking(cfg: &LoadConfig, threads: usize) -> Result<LoadReport, LoadError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    runtime.block_on(run(cfg))
}

/// Runs the load: setup, warm-up, measurement, drain.
pub async fn run(cfg: &LoadConfig) -> Result<LoadReport, LoadError> {
    validate(cfg)?;
    if cfg.setup {
        crate::populate::populate(
            &cfg.hosts,
            &cfg.root,
            cfg.keys,
            cfg.value_size,
            cfg.connections.clamp(1, 4),
        )
        .await
        .map_err(LoadError::Setup)?;
    }
    let checking = match cfg.check {
        true => Some(prepare_check(cfg).await.map_err(LoadError::Setup)?),
        false => None,
    };
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let deadline = if cfg.requests.is_some() {
        start + cfg.time_limit
    } else {
        (measure_from + cfg.duration).min(start + cfg.time_limit)
    };
    let hard_end = (deadline + cfg.drain_timeout).min(start + cfg.time_limit + cfg.drain_timeout);
    let plan = Arc::new(Plan {
        cfg: cfg.clone(),
        chooser: KeyChooser::new(cfg.distribution, cfg.keys),
        value: vec![b'v'; cfg.value_size],
        start,
        measure_from,
        deadline,
        hard_end,
        check_parent: checking.as_ref().map(|(parent, _)| parent.clone()),
    });
    let shared = Arc::new(Shared::default());
    let progress = cfg.progress.then(|| {
        let shared = shared.clone();
        let connections = cfg.connections;
        tokio::spawn(progress_lines(shared, start, measure_from, connections))
    });
    let cpu_at_start = cfg.server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            crate::proc_stat::cpu_seconds(pid)
        })
    });
    let mut tasks = Vec::with_capacity(cfg.connections);
    for index in 0..cfg.connections {
        let budget = cfg.requests.map(|total| {
            let n = cfg.connections as u64;
            total / n + u64::from((index as u64) < total % n)
        });
        tasks.push(tokio::spawn(connection(
            plan.clone(),
            shared.clone(),
            index,
            budget,
        )));
    }
    let mut report = LoadReport {
        stats: RunStats::default(),
        measured_seconds: 0.0,
        notifications: 0,
        unanswered: 0,
        connection_errors: BTreeMap::new(),
        reconnects: 0,
        history: None,
        check: None,
        history_full: false,
        server_cpu_seconds: None,
    };
    let mut ops = Vec::new();
    let mut last_reply = measure_from;
    for task in tasks {
        match task.await {
            Ok(outcome) => {
                report.stats.merge(&outcome.stats);
                ops.extend(outcome.history);
                report.unanswered += outcome.unanswered;
                report.reconnects += outcome.reconnects;
                for (msg, n) in outcome.connection_errors {
                    *report.connection_errors.entry(msg).or_insert(0) += n;
                }
                if let Some(t) = outcome.last_reply {
                    last_reply = last_reply.max(t);
                }
            }
            Err(e) => {
                *report
                    .connection_errors
                    .entry(format!("connection task failed: {e}"))
                    .or_insert(0) += 1;
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let cpu_at_end = cfg.server_pid.and_then(crate::proc_stat::cpu_seconds);
    if let (Some(start), Some(end)) = (cpu_at_start, cpu_at_end) {
        if let Ok(Some(start)) = start.await {
            report.server_cpu_seconds = Some(end - start);
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    report.notifications = shared.notifications.load(Ordering::Relaxed);
    report.measured_seconds = last_reply.duration_since(measure_from).as_secs_f64();
    report.history_full = shared.history_full.load(Ordering::Relaxed);
    if let Some((parent, initial_versions)) = checking {
        let listing = check::list_sequences(&cfg.hosts[0], &parent)
            .await
            .map_err(|e| LoadError::Setup(format!("listing {parent} after the run: {e}")))?;
        let h = History {
            ops,
            initial_versions,
            final_sequences: [(parent, listing)].into_iter().collect(),
        };
        report.check = Some(history::check(&h));
        report.history = Some(h);
    }
    Ok(report)
}

/// Before a checked run: a fresh parent for its sequential creates (so that every child
/// is this run's) and the version of every key.
async fn prepare_check(cfg: &LoadConfig) -> Result<(String, BTreeMap<String, i32>), String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let parent = format!("{}/check-{stamp}", cfg.root);
    let host = &cfg.hosts[0];
    crate::populate::create_all(host, [cfg.root.clone(), parent.clone()].into_iter(), 0, 1).await?;
    let versions = check::initial_versions(host, &cfg.root, cfg.keys).await?;
    Ok((parent, versions))
}

async fn progress_lines(shared: Arc<Shared>, start: Instant, measure_from: Instant, conns: usize) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut last = 0u64;
    loop {
        let now = tick.tick().await;
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let done = shared.completed.load(Ordering::Relaxed);
        let phase = if now < measure_from {
            "warm-up"
        } else {
            "measure"
        };
        eprintln!(
            "[{:>4}s {phase}] {:>10} replies {:>9} /s  errors {}  notifications {}  connected {}/{}",
            now.duration_since(start).as_secs(),
            done,
            done - last,
            shared.errors.load(Ordering::Relaxed),
            shared.notifications.load(Ordering::Relaxed),
            shared.connected.load(Ordering::Relaxed),
            conns
        );
        last = done;
    }
}

/// One connection: sessions are reopened (on the next host) after a failure until the
/// deadline, so a server restart shows up as errors and a gap, not as an aborted run.
async fn connection(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    index: usize,
    budget: Option<u64>,
) -> ConnOutcome {
    let cfg = &plan.cfg;
    let mut out = ConnOutcome::default();
    let mut ws = WriterState {
        rng: Rng::new(cfg.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ index as u64),
        schedule: cfg
            .rate
            .and_then(|r| Schedule::new(r, cfg.connections, index)),
        next_n: 0,
        budget,
        next_xid: 1,
        client: 0,
        next_token: (index as u64) << TOKEN_INDEX_SHIFT,
        records_left: check::CHECK_OPS_MAX / cfg.connections.max(1),
    };
    let memory = ConnMemory::default();
    let mut attempt = 0usize;
    loop {
        let now = Instant::now();
        if plan.over(now) || ws.budget == Some(0) {
            break;
        }
        let addr = &cfg.hosts[(index + attempt) % cfg.hosts.len()];
        if attempt > 0 {
            out.reconnects += 1;
        }
        attempt += 1;
        let left = plan.hard_end.saturating_duration_since(now);
        let sess = match session::connect(
            addr,
            cfg.session_timeout_ms,
            left.min(Duration::from_secs(10)),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                *out.connection_errors.entry(e.to_string()).or_insert(0) += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // The ephemerals of a lost session are gone with it.
        if let Ok(mut c) = memory.created.lock() {
            c.clear();
        }
        shared.connected.fetch_add(1, Ordering::Relaxed);
        ws.client = shared.sessions.fetch_add(1, Ordering::Relaxed);
        let (result, sess) = run_session(&plan, &shared, &mut ws, &memory, &mut out, sess).await;
        shared.connected.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                let close_xid = ws.next_xid;
                session::close(sess, close_xid).await;
                break;
            }
            Err(e) => {
                *out.connection_errors.entry(e.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// What the sending half keeps across sessions of one connection.
struct WriterState {
    rng: Rng,
    schedule: Option<Schedule>,
    /// Index of the next request in the open-loop schedule.
    next_n: u64,
    /// Measured requests this connection may still send.
    budget: Option<u64>,
    next_xid: i32,
    /// The current session's number in the history.
    client: u32,
    /// The token of this connection's next checked write.
    next_token: u64,
    /// History entries this connection may still add (`--check`).
    records_left: usize,
}

/// Checked writes' tokens are the connection index shifted by this, plus a counter: unique
/// over a run of up to 2^40 writes per connection.
const TOKEN_INDEX_SHIFT: u32 = 40;

impl WriterState {
    fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        // Positive xids only: the negative ones are the protocol's (ping, notification).
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }
}

/// Runs one session until the deadline, the budget or a failure. Requests left without a
/// reply are counted as ConnectionLoss errors of their operation, never dropped. Returns
/// the session so the caller can close it.
async fn run_session(
    plan: &Plan,
    shared: &Shared,
    ws: &mut WriterState,
    memory: &ConnMemory,
    out: &mut ConnOutcome,
    mut sess: Session,
) -> (Result<(), SessionError>, Session) {
    let permits = Semaphore::new(plan.cfg.in_flight);
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let ping_every = (sess.timeout / 3).max(Duration::from_millis(100));
    let result = {
        let writer = write_loop(
            plan,
            shared,
            ws,
            memory,
            &permits,
            tx,
            &mut sess.writer,
            ping_every,
        );
        let reader = read_loop(
            plan,
            shared,
            &permits,
            &mut rx,
            &mut queue,
            &mut sess.reader,
            memory,
            out,
        );
        tokio::pin!(writer);
        tokio::pin!(reader);
        let mut writer_done = false;
        loop {
            tokio::select! {
                w = &mut writer, if !writer_done => {
                    writer_done = true;
                    if let Err(e) = w {
                        break Err(e);
                    }
                }
                r = &mut reader => break r,
            }
        }
    };
    while let Ok(p) = rx.try_recv() {
        queue.push_back(p);
    }
    for p in queue.drain(..) {
        if let Some(rec) = p.record {
            out.history.push(rec.unanswered());
        }
        if p.measured {
            out.unanswered += 1;
            *out.stats
                .op(p.op)
                .errors
                .entry(ErrorCode::ConnectionLoss.code())
                .or_insert(0) += 1;
        }
    }
    (result, sess)
}

/// Sends requests: as fast as the in-flight limit allows (closed loop) or at their
/// scheduled times (open loop), until the deadline or the budget.
#[allow(clippy::too_many_arguments)]
async fn write_loop(
    plan: &Plan,
    shared: &Shared,
    ws: &mut WriterState,
    memory: &ConnMemory,
    permits: &Semaphore,
    tx: mpsc::UnboundedSender<Pending>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    ping_every: Duration,
) -> Result<(), SessionError> {
    let cfg = &plan.cfg;
    let mut last_send = Instant::now();
    loop {
        if ws.budget == Some(0) {
            return Ok(());
        }
        let intended = match ws.schedule {
            Some(s) => {
                let due = plan.start + s.intended(ws.next_n);
                if plan.over(due) {
                    return Ok(());
                }
                // A slow schedule would leave the session idle; pings keep it alive.
                while due.saturating_duration_since(Instant::now()) > ping_every {
                    tokio::time::sleep_until(last_send + ping_every).await;
                    if Instant::now() >= last_send + ping_every {
                        session::write_request(writer, xid::PING, &Request::Ping).await?;
                        last_send = Instant::now();
                    }
                }
                tokio::time::sleep_until(due).await;
                // The permit may take a while when the server falls behind; that wait is
                // part of the latency, which counts from `due`.
                acquire(permits).await;
                ws.next_n += 1;
                due
            }
            None => {
                acquire(permits).await;
                let now = Instant::now();
                if plan.over(now) {
                    permits.add_permits(1);
                    return Ok(());
                }
                now
            }
        };
        let measured = intended >= plan.measure_from;
        if measured {
            if let Some(b) = ws.budget.as_mut() {
                *b -= 1;
            }
        }
        if cfg.check {
            if ws.records_left == 0 {
                shared.history_full.store(true, Ordering::Relaxed);
                return Ok(());
            }
            ws.records_left -= 1;
        }
        let op = cfg.mix.pick(ws.rng.below(cfg.mix.total()));
        let sent_ns = Instant::now().duration_since(plan.start).as_nanos() as u64;
        let built = build_request(plan, shared, ws, memory, op, sent_ns);
        if let Some(path) = built.sync_first {
            let xid = ws.take_xid();
            let sync = Pending {
                xid,
                op: built.op,
                intended,
                measured: false,
                aux: true,
                record: None,
            };
            if tx.send(sync).is_err() {
                return Ok(());
            }
            session::write_request(writer, xid, &Request::Sync(SyncRequest { path })).await?;
        }
        let xid = ws.take_xid();
        let record = built.call.map(|call| Recorded {
            client: ws.client,
            invoke_ns: sent_ns,
            call,
        });
        // Registered before it is written, so the reader always finds it.
        let pending = Pending {
            xid,
            op: built.op,
            intended,
            measured,
            aux: false,
            record,
        };
        if tx.send(pending).is_err() {
            return Ok(());
        }
        session::write_request(writer, xid, &built.request).await?;
        last_send = Instant::now();
    }
}

async fn acquire(permits: &Semaphore) {
    // The semaphore is never closed, so acquiring only fails if it were; then there is
    // nothing to wait for either.
    if let Ok(p) = permits.acquire().await {
        p.forget();
    }
}

/// Builds the request for `op`; a delete with nothing to delete becomes a create. In a
/// checked run, reads, writes and creates also carry their history entry, writes write a
/// value of their own and are conditional on the last version seen half of the time, and
/// creates are persistent under the run's own parent (up to a bound, then reads).
fn build_request(
    plan: &Plan,
    shared: &Shared,
    ws: &mut WriterState,
    memory: &ConnMemory,
    op: OpKind,
    sent_ns: u64,
) -> Built {
    let cfg = &plan.cfg;
    let key = key_path(&cfg.root, plan.chooser.next(&mut ws.rng));
    let read = |key: &str, synced_from_ns| {
        cfg.check.then(|| Call::Read {
            key: key.to_string(),
            synced_from_ns,
        })
    };
    let built = |op, request, call| Built {
        op,
        request,
        sync_first: None,
        call,
    };
    let get = |path: String, watch| Request::GetData(GetDataRequest { path, watch });
    match op {
        OpKind::GetData => built(op, get(key.clone(), false), read(&key, None)),
        OpKind::Sync => Built {
            op,
            request: get(key.clone(), false),
            sync_first: Some(key.clone()),
            call: read(&key, Some(sent_ns)),
        },
        OpKind::Watch => built(op, get(key, true), None),
        OpKind::Exists => built(
            op,
            Request::Exists(ExistsRequest {
                path: key,
                watch: false,
            }),
            None,
        ),
        OpKind::GetChildren => built(
            op,
            Request::GetChildren(GetChildrenRequest {
                path: key,
                watch: false,
            }),
            None,
        ),
        OpKind::SetData if cfg.check => {
            let token = ws.next_token;
            ws.next_token += 1;
            let expected = if ws.rng.below(2) == 0 {
                memory
                    .versions
                    .lock()
                    .ok()
                    .and_then(|v| v.get(&key).copied())
            } else {
                None
            };
            let request = Request::SetData(SetDataRequest {
                path: key.clone(),
                data: Some(check::value_of(token, cfg.value_size)),
                version: expected.unwrap_or(-1),
            });
            let call = Call::Write {
                key,
                expected,
                token,
            };
            built(op, request, Some(call))
        }
        OpKind::SetData => built(
            op,
            Request::SetData(SetDataRequest {
                path: key,
                data: Some(plan.value.clone()),
                version: -1,
            }),
            None,
        ),
        OpKind::Multi => {
            let other = key_path(&cfg.root, plan.chooser.next(&mut ws.rng));
            let set = |path| {
                MultiOp::SetData(SetDataRequest {
                    path,
                    data: Some(plan.value.clone()),
                    version: -1,
                })
            };
            built(op, Request::Multi(vec![set(key), set(other)]), None)
        }
        OpKind::Delete => {
            let victim = memory.created.lock().ok().and_then(|mut c| c.pop_front());
            match victim {
                Some(path) => built(
                    op,
                    Request::Delete(DeleteRequest { path, version: -1 }),
                    None,
                ),
                None => built(OpKind::Create, create_request(plan), None),
            }
        }
        OpKind::Create => match &plan.check_parent {
            Some(parent)
                if shared.creates.fetch_add(1, Ordering::Relaxed) < check::CHECK_CREATES_MAX =>
            {
                let request = Request::Create(CreateRequest {
                    path: format!("{parent}/n-"),
                    data: Some(plan.value.clone()),
                    acl: Acl::open_unsafe(),
                    flags: 2, // Persistent sequential: the final listing must still hold it.
                });
                let call = Call::Create {
                    parent: parent.clone(),
                };
                built(op, request, Some(call))
            }
            Some(_) => built(OpKind::GetData, get(key.clone(), false), read(&key, None)),
            None => built(op, create_request(plan), None),
        },
    }
}

fn create_request(plan: &Plan) -> Request {
    Request::Create(CreateRequest {
        path: format!("{}/seq/n-", plan.cfg.root),
        data: Some(plan.value.clone()),
        acl: Acl::open_unsafe(),
        flags: 3, // Ephemeral sequential.
    })
}

/// Pairs replies with pending requests and records them; ends when the writer is done and
/// every pending request is answered, or at the hard end of the run.
#[allow(clippy::too_many_arguments)]
async fn read_loop(
    plan: &Plan,
    shared: &Shared,
    permits: &Semaphore,
    rx: &mut mpsc::UnboundedReceiver<Pending>,
    queue: &mut VecDeque<Pending>,
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    memory: &ConnMemory,
    out: &mut ConnOutcome,
) -> Result<(), SessionError> {
    // A read whose sync failed is recorded as a plain read: nothing promises it is fresh.
    let mut sync_failed = false;
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(p) => queue.push_back(p),
                None => return Ok(()),
            }
        }
        let frame = match tokio::time::timeout_at(plan.hard_end, session::read_frame(reader)).await
        {
            Ok(f) => f?,
            Err(_) => return Err(SessionError::Timeout("reply before the drain deadline")),
        };
        let now = Instant::now();
        let (header, mut body) = reply_header(&frame)?;
        if header.xid == xid::NOTIFICATION {
            shared.notifications.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if header.xid == xid::PING {
            continue;
        }
        // The request was registered before it was written, so it is in the channel now.
        while let Ok(p) = rx.try_recv() {
            queue.push_back(p);
        }
        let Some(p) = queue.pop_front() else {
            return Err(SessionError::Protocol(format!(
                "reply xid {} with no request outstanding",
                header.xid
            )));
        };
        if p.xid != header.xid {
            return Err(SessionError::Protocol(format!(
                "reply xid {} where {} was expected (replies out of order)",
                header.xid, p.xid
            )));
        }
        if p.aux {
            if header.err != 0 {
                sync_failed = true;
                *out.stats.op(p.op).errors.entry(header.err).or_insert(0) += 1;
            }
            continue;
        }
        permits.add_permits(1);
        if let Some(mut rec) = p.record {
            if let Call::Read { synced_from_ns, .. } = &mut rec.call {
                if std::mem::take(&mut sync_failed) {
                    *synced_from_ns = None;
                }
            }
            let done_ns = now.duration_since(plan.start).as_nanos() as u64;
            let (op, seen) = rec.answered(done_ns, header.err, &mut body);
            out.history.push(op);
            if let (Some((key, version)), Ok(mut known)) = (seen, memory.versions.lock()) {
                known.insert(key, version);
            }
        } else if p.op == OpKind::Create && header.err == 0 {
            if let Ok(Response::Create(c)) = decode_response(OpCode::Create, &mut body) {
                if let Ok(mut list) = memory.created.lock() {
                    list.push_back(c.path);
                }
            }
        }
        if p.measured {
            let latency = now.duration_since(p.intended).as_nanos() as u64;
            out.stats.op(p.op).record(latency, header.err);
            out.last_reply = Some(now);
            shared.completed.fetch_add(1, Ordering::Relaxed);
            if header.err != 0 {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
