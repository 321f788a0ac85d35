//! The simulated world: the event queue, the clock, the network between members, the
//! clients, the faults and the checks. One seeded `SimRng` draws every choice.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use ringkeeper_engine::history::{self, Action, History, Op};
use ringkeeper_engine::storage::SimRng;
use ringkeeper_replication::{Role, ServerId};

use super::client::{self, Client, Link};
use super::node::{Node, Out, PeerMsg};
use super::{config, Failure, Options, Report};

/// Events queued at once, at most: past it the run fails rather than grow.
const EVENTS_MAX: usize = 200_000;
/// Operations recorded in the history, at most; clients stop sending past it.
const HISTORY_MAX: usize = 4_000;
/// A client gives up on a request (or a handshake) after this long and reconnects.
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// After the faults heal: clients go on this long, then stop.
const CALM_MS: u64 = 1_000;
/// The whole run, faults and recovery included, must end within this much simulated time.
const RUN_MS_MAX: u64 = 60_000;

#[derive(Debug)]
enum Ev {
    SeqStep(usize, u64),
    ShardStep(usize, u64, usize),
    CommitEnd(usize, u64),
    SeqTick(usize, u64),
    PeerTick(usize, u64),
    /// The snapshotter's snapshot for a follower reaches the sequencer.
    Prepared(usize, u64, crate::messages::SnapshotPrepared),
    Deliver {
        from: usize,
        to: usize,
        link: u64,
        msg: PeerMsg,
    },
    ToClient(usize, Link, u64, Vec<u8>),
    ClientClosed(usize, Link, u64),
    ClientAct(usize),
    ClientTimeout(usize, Link, i32),
    Crash,
    Restart(usize),
    Repartition,
    ClockJump,
    ConnBreak,
    Heal,
    StopClients,
    Converge,
}

/// Where each server's pending work stands in the queue, so that it is queued once.
#[derive(Default, Clone)]
struct Scheduled {
    seq: bool,
    shards: [bool; config::SHARDS],
    commit: bool,
}

pub struct World {
    o: Options,
    rng: SimRng,
    now: u64,
    seq_no: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    base: Instant,
    nodes: Vec<Node>,
    scheduled: Vec<Scheduled>,
    /// Partition group of each member.
    group: Vec<u8>,
    /// Generation of each directed link; a break bumps it and loses what is in flight.
    links: Vec<Vec<u64>>,
    /// When the last message on each directed link arrives (TCP keeps order).
    link_busy: Vec<Vec<u64>>,
    clients: Vec<Client>,
    /// Which client holds each (node, incarnation, shard, conn).
    owners: HashMap<(usize, u64, usize, u64), usize>,
    /// When the last frame on each client connection arrives.
    conn_busy: HashMap<usize, u64>,
    next_history_id: u32,
    next_token: u64,
    stamp: u64,
    history: Vec<Op>,
    leaders: BTreeMap<u32, ServerId>,
    phase: Phase,
    final_children: Option<Vec<String>>,
    setup_left: Vec<&'static str>,
    /// The servers must agree by then, once the clients stopped.
    settle_deadline: u64,
    report: Report,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Faults,
    Calm,
    Final,
    Done,
}

impl World {
    pub fn new(o: Options) -> World {
        let reconfig = o.reconfig_every_ms > 0;
        let nodes = (1..=o.servers as u64)
            .map(|id| Node::new(id, o.servers, reconfig, o.log_window))
            .collect();
        let n = o.servers;
        let mut clients: Vec<Client> = (0..o.clients).map(|i| Client::new(i as u32)).collect();
        if reconfig {
            clients.push(Client::operator(o.clients as u32, o.servers));
        }
        let next_history_id = clients.len() as u32;
        World {
            rng: SimRng::new(o.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            now: 0,
            seq_no: 0,
            queue: BTreeMap::new(),
            base: Instant::now(),
            nodes,
            scheduled: vec![Scheduled::default(); n],
            group: vec![0; n],
            links: vec![vec![0; n]; n],
            link_busy: vec![vec![0; n]; n],
            clients,
            owners: HashMap::new(),
            conn_busy: HashMap::new(),
            next_history_id,
            next_token: 1,
            stamp: 0,
            history: Vec::new(),
            leaders: BTreeMap::new(),
            phase: Phase::Setup,
            final_children: None,
            setup_left: client::SETUP.to_vec(),
            settle_deadline: 0,
            report: Report {
                seed: o.seed,
                servers: o.servers,
                ..Report::default()
            },
            o,
        }
    }

    pub(super) fn fail(&self, message: impl Into<String>) -> Failure {
        Failure {
            seed: self.o.seed,
            time_ms: self.now,
            message: message.into(),
            replay_env: super::replay_env(&self.o),
        }
    }

    fn schedule(&mut self, delay: u64, ev: Ev) -> Result<(), Failure> {
        if self.queue.len() >= EVENTS_MAX {
            return Err(self.fail("event queue full"));
        }
        self.seq_no += 1;
        self.queue.insert((self.now + delay, self.seq_no), ev);
        Ok(())
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.rng.below(hi.saturating_sub(lo) + 1)
    }

    /// A time on the history's clock: nanoseconds, strictly increasing.
    fn stamp(&mut self) -> u64 {
        self.stamp = (self.stamp + 1).max(self.now * 1_000_000);
        self.stamp
    }

    pub fn run(mut self) -> Result<Report, Failure> {
        for i in 0..self.nodes.len() {
            self.start_node(i)?;
        }
        self.schedule(1, Ev::ClientAct(0))?;
        while let Some(((at, _), ev)) = self.queue.pop_first() {
            self.now = at;
            self.report.events += 1;
            if self.now > RUN_MS_MAX {
                return Err(self.fail(format!(
                    "no end by {RUN_MS_MAX} ms (phase {:?})",
                    self.phase
                )));
            }
            self.handle(ev)?;
            if self.phase == Phase::Done {
                self.report.ops = self.history.len();
                return Ok(self.report);
            }
        }
        Err(self.fail("the event queue ran dry"))
    }

    fn handle(&mut self, ev: Ev) -> Result<(), Failure> {
        match ev {
            Ev::SeqStep(i, inc) if self.live(i, inc) => {
                self.scheduled[i].seq = false;
                let now_ms = self.nodes[i].clock_ms(self.now);
                let mut out = Vec::new();
                self.nodes[i].seq_step(now_ms, &mut out);
                self.after(i, out)
            }
            Ev::ShardStep(i, inc, s) if self.live(i, inc) => {
                self.scheduled[i].shards[s] = false;
                let mut out = Vec::new();
                let now = Node::instant(self.base, self.now);
                self.nodes[i].shard_step(s, now, &mut out);
                self.after(i, out)
            }
            Ev::CommitEnd(i, inc) if self.live(i, inc) => {
                self.scheduled[i].commit = false;
                let now_ms = self.nodes[i].clock_ms(self.now);
                let mut out = Vec::new();
                self.nodes[i].commit_end(now_ms, &mut out);
                self.after(i, out)
            }
            Ev::SeqTick(i, inc) if self.live(i, inc) => self.seq_tick(i, inc),
            Ev::PeerTick(i, inc) if self.live(i, inc) => self.peer_tick(i, inc),
            Ev::Prepared(i, inc, p) if self.live(i, inc) => {
                let now_ms = self.nodes[i].clock_ms(self.now);
                let mut out = Vec::new();
                self.nodes[i].seq_call(&mut out, |s| s.on_snapshot_prepared(p, now_ms));
                self.after(i, out)
            }
            Ev::Deliver {
                from,
                to,
                link,
                msg,
            } => self.deliver(from, to, link, msg),
            Ev::ToClient(c, link, inc, frame) => self.frame_to_client(c, link, inc, frame),
            Ev::ClientClosed(c, link, inc) => self.client_closed(c, link, inc),
            Ev::ClientAct(c) => self.client_act(c),
            Ev::ClientTimeout(c, link, xid) => self.client_timeout(c, link, xid),
            Ev::Crash => self.crash(),
            Ev::Restart(i) => self.restart(i),
            Ev::Repartition => self.repartition(),
            Ev::ClockJump => self.clock_jump(),
            Ev::ConnBreak => self.conn_break(),
            Ev::Heal => self.heal(),
            Ev::StopClients => self.stop_clients(),
            Ev::Converge => self.converge(),
            // An event for a process that has since crashed.
            _ => Ok(()),
        }
    }

    fn live(&self, i: usize, inc: u64) -> bool {
        self.nodes[i].run.is_some() && self.nodes[i].incarnation == inc
    }

    fn start_node(&mut self, i: usize) -> Result<(), Failure> {
        let mut out = Vec::new();
        let started = self.nodes[i].start(self.now, &mut out);
        started.map_err(|e| self.fail(format!("server {} cannot start: {e}", i + 1)))?;
        self.scheduled[i] = Scheduled::default();
        let inc = self.nodes[i].incarnation;
        let tick = self.between(1, config::TICK_MS as u64 / 2);
        self.schedule(tick, Ev::SeqTick(i, inc))?;
        if self.o.servers > 1 {
            self.schedule(config::PEER_TICK_MS, Ev::PeerTick(i, inc))?;
        }
        self.after(i, out)
    }

    fn seq_tick(&mut self, i: usize, inc: u64) -> Result<(), Failure> {
        let now_ms = self.nodes[i].clock_ms(self.now);
        let mut out = Vec::new();
        self.nodes[i].touch(now_ms, &mut out);
        self.nodes[i].seq_call(&mut out, |s| s.tick(now_ms));
        self.nodes[i].check_catch_up(now_ms, &mut out);
        self.schedule(config::TICK_MS as u64 / 2, Ev::SeqTick(i, inc))?;
        self.after(i, out)
    }

    fn peer_tick(&mut self, i: usize, inc: u64) -> Result<(), Failure> {
        let now_ms = self.nodes[i].clock_ms(self.now);
        let mut out = Vec::new();
        self.nodes[i].seq_call(&mut out, |s| s.peer_tick(now_ms));
        self.schedule(config::PEER_TICK_MS, Ev::PeerTick(i, inc))?;
        self.after(i, out)
    }

    /// Carries what left server `i` to its destinations, checks the leader, and queues
    /// the server's pending work.
    fn after(&mut self, i: usize, out: Vec<Out>) -> Result<(), Failure> {
        for o in out {
            self.route(i, o)?;
        }
        self.check_leader(i)?;
        self.queue_work(i)
    }

    fn route(&mut self, i: usize, o: Out) -> Result<(), Failure> {
        match o {
            Out::Frame(shard, conn, frame) => self.onto_conn(i, shard, conn, Some(frame)),
            Out::Closed(shard, conn) => self.onto_conn(i, shard, conn, None),
            Out::Peer(to_id, msg) => self.send_peer(i, to_id, msg),
            Out::FreshLink(to_id) => {
                // A new connection: what the old one carried is lost.
                if let Some(to) = self.index_of(to_id) {
                    self.links[i][to] += 1;
                }
                Ok(())
            }
            Out::Fatal(line) => Err(self.fail(format!("server {} stopped: {line}", i + 1))),
            Out::SnapshotPrepared(p) => {
                // Encoding takes the snapshotter a while; writes go on meanwhile.
                let inc = self.nodes[i].incarnation;
                let delay = self.between(1, 4 * config::PEER_TICK_MS);
                self.schedule(delay, Ev::Prepared(i, inc, p))
            }
        }
    }

    /// A frame (or, with `None`, the close) on a client's connection, to arrive after
    /// what the connection carried before.
    fn onto_conn(
        &mut self,
        i: usize,
        shard: usize,
        conn: u64,
        frame: Option<Vec<u8>>,
    ) -> Result<(), Failure> {
        let inc = self.nodes[i].incarnation;
        let key = (i, inc, shard, conn);
        let owner = match frame {
            Some(_) => self.owners.get(&key).copied(),
            None => self.owners.remove(&key),
        };
        let Some(c) = owner else {
            return Ok(());
        };
        let link = Link {
            node: i,
            shard,
            conn,
            established: false,
        };
        let at = self.conn_time(c);
        match frame {
            Some(frame) => self.schedule(at, Ev::ToClient(c, link, inc, frame)),
            None => self.schedule(at, Ev::ClientClosed(c, link, inc)),
        }
    }

    /// Frames to one client keep their order: each arrives after the one before.
    fn conn_time(&mut self, c: usize) -> u64 {
        let delay = self.between(0, 3);
        let busy = self.conn_busy.get(&c).copied().unwrap_or(0);
        let at = (self.now + delay).max(busy);
        self.conn_busy.insert(c, at);
        at - self.now
    }

    fn index_of(&self, id: ServerId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    fn queue_work(&mut self, i: usize) -> Result<(), Failure> {
        let Some(run) = self.nodes[i].run.as_ref() else {
            return Ok(());
        };
        let inc = self.nodes[i].incarnation;
        let seq_waiting = !run.seq_inbox.is_empty();
        let shards_waiting: Vec<bool> = run.shard_inbox.iter().map(|q| !q.is_empty()).collect();
        if seq_waiting && !self.scheduled[i].seq {
            self.scheduled[i].seq = true;
            let d = self.between(0, 1);
            self.schedule(d, Ev::SeqStep(i, inc))?;
        }
        for (s, waiting) in shards_waiting.into_iter().enumerate() {
            if waiting && !self.scheduled[i].shards[s] {
                self.scheduled[i].shards[s] = true;
                // Shards run on their own cores: one may lag the other.
                let d = self.between(0, 4);
                self.schedule(d, Ev::ShardStep(i, inc, s))?;
            }
        }
        if !self.scheduled[i].commit && self.nodes[i].commit_begin() {
            self.scheduled[i].commit = true;
            let d = self.between(1, self.o.fsync_max_ms);
            self.schedule(d, Ev::CommitEnd(i, inc))?;
        }
        Ok(())
    }

    /// At most one leader per epoch, ever.
    fn check_leader(&mut self, i: usize) -> Result<(), Failure> {
        let Some(run) = self.nodes[i].run.as_ref() else {
            return Ok(());
        };
        if let Role::Leading { epoch } = run.seq.replica().role() {
            let id = self.nodes[i].id;
            let first = *self.leaders.entry(epoch).or_insert(id);
            if first != id {
                return Err(self.fail(format!(
                    "two leaders in epoch {epoch}: servers {first} and {id}"
                )));
            }
        }
        Ok(())
    }

    /// Sends a message to another member, subject to partitions and the network's faults.
    fn send_peer(&mut self, from: usize, to_id: ServerId, msg: PeerMsg) -> Result<(), Failure> {
        self.report.peer_messages += 1;
        let Some(to) = self.index_of(to_id) else {
            return Ok(());
        };
        if self.group[from] != self.group[to] || self.nodes[to].run.is_none() {
            return Ok(());
        }
        let faulty = self.phase == Phase::Faults;
        let link = self.links[from][to];
        let delay = self.between(1, self.o.delay_max_ms);
        let protocol = matches!(msg, PeerMsg::Protocol(_));
        // The protocol's messages survive loss, duplication and reordering (its own
        // simulator checks that); the server's own messages ride TCP, in order.
        if protocol && faulty && self.o.loss_one_in > 0 && self.rng.chance(self.o.loss_one_in) {
            return Ok(());
        }
        if protocol
            && faulty
            && self.o.duplicate_one_in > 0
            && self.rng.chance(self.o.duplicate_one_in)
        {
            let later = delay + self.between(1, 30);
            let copy = Ev::Deliver {
                from,
                to,
                link,
                msg: msg.clone(),
            };
            self.schedule(later, copy)?;
        }
        let reorder = protocol && faulty && self.rng.chance(self.o.reorder_one_in);
        let at = if reorder {
            self.now + delay
        } else {
            let at = (self.now + delay).max(self.link_busy[from][to]);
            self.link_busy[from][to] = at;
            at
        };
        self.schedule(
            at - self.now,
            Ev::Deliver {
                from,
                to,
                link,
                msg,
            },
        )
    }

    fn deliver(&mut self, from: usize, to: usize, link: u64, msg: PeerMsg) -> Result<(), Failure> {
        if self.links[from][to] != link || self.group[from] != self.group[to] {
            return Ok(());
        }
        if self.nodes[to].run.is_none() {
            return Ok(());
        }
        let from_id = self.nodes[from].id;
        let now_ms = self.nodes[to].clock_ms(self.now);
        let mut out = Vec::new();
        match msg {
            PeerMsg::Protocol(m) => {
                self.nodes[to].seq_call(&mut out, |s| s.on_peer_message(from_id, m, now_ms))
            }
            PeerMsg::App(data) => {
                self.nodes[to].seq_call(&mut out, |s| s.on_peer_app(from_id, &data, now_ms))
            }
        }
        self.after(to, out)
    }

    /// The connections between `a` and `b` break: what they carry is lost, and each side
    /// that is up hears of it.
    fn break_link(&mut self, a: usize, b: usize) -> Result<(), Failure> {
        self.links[a][b] += 1;
        self.links[b][a] += 1;
        for (me, other) in [(a, b), (b, a)] {
            if self.nodes[me].run.is_some() {
                let other_id = self.nodes[other].id;
                let now_ms = self.nodes[me].clock_ms(self.now);
                let mut out = Vec::new();
                self.nodes[me].seq_call(&mut out, |s| s.on_peer_disconnected(other_id, now_ms));
                self.after(me, out)?;
            }
        }
        Ok(())
    }
}

mod clients;
mod faults;
mod finish;

/// Records an operation as sent; returns its index in the history.
fn record(history: &mut Vec<Op>, client: u32, invoke_ns: u64, action: Action) -> usize {
    history.push(Op {
        client,
        invoke_ns,
        complete_ns: None,
        action,
    });
    history.len() - 1
}

/// The history as the checker takes it.
fn as_history(ops: &[Op], final_sequences: Option<Vec<i64>>) -> History {
    let mut h = History {
        ops: ops.to_vec(),
        ..History::default()
    };
    for key in client::KEYS {
        h.initial_versions.insert(key.to_owned(), 0);
    }
    if let Some(seqs) = final_sequences {
        h.final_sequences
            .insert(client::SEQ_PARENT.to_owned(), seqs);
    }
    h
}

fn check_history(h: &History) -> Result<(), String> {
    let report = history::check(h);
    if report.passed() {
        return Ok(());
    }
    let shown: Vec<String> = report
        .violations
        .iter()
        .take(5)
        .map(|v| v.to_string())
        .collect();
    Err(format!(
        "history check: {} violations, first: {}",
        report.violation_count,
        shown.join("; ")
    ))
}
