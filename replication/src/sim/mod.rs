//! A deterministic simulator: a whole ensemble of [`Peer`]s in one thread, with a simulated
//! network (drop, delay, reorder, duplicate, partition), a simulated disk per server (a crash
//! loses what was not fsynced) and a simulated clock, every choice drawn from one seed. In the
//! manner of TigerBeetle's VOPR, a failing seed replays exactly.
//!
//! Checkers, run as the simulation goes: replicas never apply different payloads at the same
//! position of the committed sequence (which also makes applied sequences prefixes of each
//! other and keeps every applied, i.e. acknowledged, proposal in the history); at most one
//! leader per epoch; a truncation never cuts what the server applied; an ack never covers
//! entries that are not durable; snapshots are taken and installed at the zxid the protocol
//! says; every peer's invariants hold after every step. After the faults heal, a leader must
//! be elected and a new proposal must be applied by every server within a bound, and then
//! every server's state must equal the committed history.
//!
//! Runs include up to two observers (from the seed), checked by `observers.rs`: an observer
//! never leads, never votes, never acknowledges, and its log only ever holds committed
//! entries; `observers_do_not_count` shows that killing every observer leaves the ensemble
//! writable while losing a majority of voters does not.

mod catch_up;
mod disk;
mod observers;
mod reconfig;
mod rng;
mod snapshot;

pub use catch_up::a_lagging_follower_gets_one_snapshot;
pub use observers::observers_do_not_count;
pub use reconfig::{
    grow_shrink_and_remove_the_leader, join_listing_itself_then_kill_the_leader,
    membership_payload, read_membership,
};

pub use rng::Rng;

use crate::command::{Command, Role};
use crate::config::Config;
use crate::message::{Entry, Message, Payload};
use crate::peer::{Event, Peer, Restored, Stats};
use crate::zxid::Zxid;
use crate::ServerId;
use disk::Disk;
use std::collections::BTreeMap;
use std::fmt;

/// The simulated length of one tick, in milliseconds.
const TICK_MS: u64 = 10;

/// The knobs of one run, all derived from its seed.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Voters.
    pub servers: usize,
    /// Observers, beside the voters (ids after theirs).
    pub observers: usize,
    /// Servers started as joiners, members of no configuration (ids after the observers');
    /// reconfigurations may add them.
    pub spares: usize,
    /// Mean time between reconfigurations proposed during the fault phase (0: none).
    pub reconfig_every_ms: u64,
    /// How long faults are injected, in simulated milliseconds.
    pub fault_ms: u64,
    /// After the faults heal, how long the ensemble has to commit a new proposal everywhere.
    pub liveness_ms: u64,
    pub drop_ppm: u64,
    pub duplicate_ppm: u64,
    pub delay_max_ms: u64,
    pub fsync_max_ms: u64,
    /// Mean time between server crashes during the fault phase (0: none).
    pub crash_every_ms: u64,
    /// Mean time between partition changes during the fault phase (0: none).
    pub partition_every_ms: u64,
    pub request_every_ms: u64,
    pub snapshot_every_ms: u64,
    /// Print every event to stderr.
    pub trace: bool,
}

impl Options {
    /// Picks the ensemble size and the fault mix from the seed, so that a run of many seeds
    /// covers calm runs, lossy networks, crash storms and partitions.
    pub fn from_seed(seed: u64) -> Options {
        let mut rng = Rng::new(seed ^ 0x0bad_5eed);
        let servers = if rng.chance(500_000) { 3 } else { 5 };
        let lossy = rng.chance(600_000);
        Options {
            seed,
            servers,
            fault_ms: 2_000,
            liveness_ms: 3_000,
            drop_ppm: if lossy { rng.between(1_000, 50_000) } else { 0 },
            duplicate_ppm: if lossy { rng.between(0, 30_000) } else { 0 },
            delay_max_ms: rng.between(1, 30),
            fsync_max_ms: rng.between(1, 15),
            crash_every_ms: if rng.chance(700_000) {
                rng.between(100, 800)
            } else {
                0
            },
            partition_every_ms: if rng.chance(500_000) {
                rng.between(100, 800)
            } else {
                0
            },
            request_every_ms: rng.between(2, 10),
            snapshot_every_ms: rng.between(50, 400),
            trace: false,
            // Drawn last, so that the fault mix of every seed is what it was before observers.
            observers: rng.below(3) as usize,
            // And these after, so that runs without reconfiguration stay as they were.
            spares: 0,
            reconfig_every_ms: 0,
        }
        .with_reconfig(&mut rng)
    }

    /// A network that loses, duplicates and partitions nothing, and no crash but the ones a
    /// scripted test makes.
    pub fn calm(seed: u64, servers: usize, observers: usize) -> Options {
        Options {
            seed,
            servers,
            observers,
            fault_ms: 0,
            liveness_ms: 0,
            drop_ppm: 0,
            duplicate_ppm: 0,
            delay_max_ms: 3,
            fsync_max_ms: 3,
            crash_every_ms: 0,
            partition_every_ms: 0,
            request_every_ms: 5,
            snapshot_every_ms: 200,
            trace: false,
            spares: 0,
            reconfig_every_ms: 0,
        }
    }
}

/// A checker found a violation, or the ensemble did not recover in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub time_ms: u64,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at {} ms: {}\nreplay: RK_SIM_SEED={} cargo test -p ringkeeper-replication --test simulation replay -- --nocapture",
            self.seed, self.time_ms, self.message, self.seed
        )
    }
}

/// What a successful run went through.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub servers: usize,
    pub observers: usize,
    pub committed: usize,
    /// Configurations activated (committed reconfigurations), counted once each.
    pub reconfigs: usize,
    pub crashes: u64,
    pub messages: u64,
    pub dropped: u64,
    pub recovery_ms: u64,
    pub stats: Stats,
}

#[derive(Debug)]
enum SimEvent {
    Deliver {
        from: usize,
        to: usize,
        message: Message,
    },
    Tick(usize),
    FsyncDone {
        node: usize,
        incarnation: u64,
    },
    Crash,
    Restart(usize),
    Request,
    Repartition,
    TakeSnapshot,
    /// A leader's server finished preparing the snapshot a transfer asked for.
    SnapshotReady {
        node: usize,
        incarnation: u64,
        to: ServerId,
        attempt: u64,
        zxid: Zxid,
        total: u64,
    },
    Heal,
    Probe,
    Reconfig,
}

struct Node {
    id: ServerId,
    peer: Option<Peer>,
    disk: Disk,
    state: Vec<Entry>,
    role: Role,
    incarnation: u64,
    stats: Stats,
    /// Whether the server was an observer both before and after the step whose commands are
    /// being carried out (a reconfiguration may change what it is during a step).
    observer_step: bool,
    /// Leader: the snapshot prepared for each follower, by (attempt, zxid). In memory only.
    outgoing: BTreeMap<ServerId, (u64, Zxid, Payload)>,
    /// Follower: the chunks of a snapshot received so far (zxid, total, bytes). In memory
    /// only, so a crash mid-transfer loses them, as a real follower's staging does.
    incoming: Option<(Zxid, u64, Vec<u8>)>,
    /// Snapshots installed, and snapshots a leader was asked to prepare for this server
    /// after it had installed one in its current incarnation (each a defect: the
    /// follower should have been caught up by a diff).
    installs: u64,
    snapshots_after_install: u64,
    installed_now: bool,
}

/// One simulated ensemble.
pub struct Simulation {
    options: Options,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), SimEvent>,
    nodes: Vec<Node>,
    group: Vec<u8>,
    healed: bool,
    drop_ppm: u64,
    duplicate_ppm: u64,
    canonical: Vec<Entry>,
    leaders: BTreeMap<u32, ServerId>,
    requests: u64,
    probe: Option<Payload>,
    probe_index: Option<usize>,
    report: Report,
    /// Every configuration activated anywhere, by version: each must be the one committed
    /// at that zxid.
    activated: BTreeMap<Zxid, crate::config::Membership>,
}

/// Runs the simulation a seed describes.
pub fn run(seed: u64) -> Result<Report, Failure> {
    let mut options = Options::from_seed(seed);
    options.trace = std::env::var_os("RK_SIM_TRACE").is_some();
    Simulation::new(options).run()
}

fn config_for(id: ServerId, membership: &crate::config::Membership) -> Config {
    let mut config = Config::new(id, membership.voters.clone());
    config.observers = membership.observers.clone();
    config.version = membership.version;
    config.membership_reader = crate::config::MembershipReader(read_membership);
    // A small window makes lagging followers need snapshots often enough to test them.
    config.log_window_entries_max = 32;
    // Small chunks and a small window make every snapshot a multi-chunk, flow-controlled
    // transfer whose chunks the network loses, duplicates and reorders.
    config.snapshot_chunk_bytes = 128;
    config.snapshot_window_chunks = 4;
    config.snapshot_retry_ticks = 3;
    config.snapshot_stall_ticks = 40;
    config.snapshot_retain_entries_max = 2_000;
    config.proposals_outstanding_max = 64;
    config.retransmit_entries_max = 64;
    config
}

impl Simulation {
    pub fn new(options: Options) -> Simulation {
        let rng = Rng::new(options.seed);
        let members = options.servers + options.observers + options.spares;
        let initial = crate::config::Membership {
            version: 0,
            voters: (1..=options.servers as u64).collect(),
            observers: (options.servers as u64 + 1..=(options.servers + options.observers) as u64)
                .collect(),
        };
        let nodes = (0..members)
            .map(|i| Node {
                id: i as ServerId + 1,
                peer: None,
                disk: Disk {
                    membership: initial.clone(),
                    ..Disk::default()
                },
                state: Vec::new(),
                role: Role::Looking,
                incarnation: 0,
                stats: Stats::default(),
                observer_step: false,
                outgoing: BTreeMap::new(),
                incoming: None,
                installs: 0,
                snapshots_after_install: 0,
                installed_now: false,
            })
            .collect();
        Simulation {
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            group: vec![0; members],
            healed: false,
            drop_ppm: options.drop_ppm,
            duplicate_ppm: options.duplicate_ppm,
            canonical: Vec::new(),
            leaders: BTreeMap::new(),
            requests: 0,
            probe: None,
            probe_index: None,
            report: Report {
                seed: options.seed,
                servers: options.servers,
                observers: options.observers,
                ..Report::default()
            },
            options,
            activated: BTreeMap::new(),
        }
    }

    fn fail(&self, message: impl Into<String>) -> Failure {
        Failure {
            seed: self.options.seed,
            time_ms: self.now,
            message: message.into(),
        }
    }

    fn schedule(&mut self, delay: u64, event: SimEvent) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), event);
    }

    fn mean_delay(&mut self, mean: u64) -> u64 {
        self.rng.between(1, mean.max(1) * 2)
    }

    /// Starts every server, their ticks, client requests and snapshots.
    fn start(&mut self) -> Result<(), Failure> {
        for i in 0..self.nodes.len() {
            self.start_node(i)?;
            // Ticks are staggered so that servers do not act in lockstep.
            let offset = self.rng.between(1, TICK_MS);
            self.schedule(offset, SimEvent::Tick(i));
        }
        let every = self.options.request_every_ms;
        self.schedule(every, SimEvent::Request);
        let d = self.mean_delay(self.options.snapshot_every_ms);
        self.schedule(d, SimEvent::TakeSnapshot);
        Ok(())
    }

    pub fn run(mut self) -> Result<Report, Failure> {
        self.start()?;
        if self.options.crash_every_ms > 0 {
            let d = self.mean_delay(self.options.crash_every_ms);
            self.schedule(d, SimEvent::Crash);
        }
        if self.options.partition_every_ms > 0 {
            let d = self.mean_delay(self.options.partition_every_ms);
            self.schedule(d, SimEvent::Repartition);
        }
        if self.options.reconfig_every_ms > 0 {
            let d = self.mean_delay(self.options.reconfig_every_ms);
            self.schedule(d, SimEvent::Reconfig);
        }
        self.schedule(self.options.fault_ms, SimEvent::Heal);
        let deadline = self.options.fault_ms + self.options.liveness_ms;
        while let Some(((time, _), event)) = self.queue.pop_first() {
            self.now = time;
            if time > deadline {
                return Err(self.liveness_failure());
            }
            if self.options.trace {
                eprintln!("{time:>6} {event:?}");
            }
            self.handle(event)?;
            if self.probe_done() {
                self.report.recovery_ms = self.now - self.options.fault_ms;
                return self.finish();
            }
        }
        Err(self.liveness_failure())
    }

    fn liveness_failure(&self) -> Failure {
        let roles: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{}:{:?}/leader {:?}/applied {}",
                    n.id,
                    n.role,
                    n.peer.as_ref().and_then(|p| p.leader()),
                    n.state.len()
                )
            })
            .collect();
        self.fail(format!(
            "liveness: no new proposal committed everywhere within {} ms after healing; {}",
            self.options.liveness_ms,
            roles.join(", ")
        ))
    }

    fn handle(&mut self, event: SimEvent) -> Result<(), Failure> {
        match event {
            SimEvent::Deliver { from, to, message } => {
                if self.group[from] != self.group[to] {
                    self.report.dropped += 1;
                    return Ok(());
                }
                let from_id = self.nodes[from].id;
                self.step(
                    to,
                    Event::Message {
                        from: from_id,
                        message,
                    },
                )
            }
            SimEvent::Tick(i) => {
                self.schedule(TICK_MS, SimEvent::Tick(i));
                self.step(i, Event::Tick)
            }
            SimEvent::FsyncDone { node, incarnation } => self.fsync_done(node, incarnation),
            SimEvent::Crash => {
                if self.healed {
                    return Ok(());
                }
                let i = self.rng.below(self.nodes.len() as u64) as usize;
                if self.nodes[i].peer.is_some() {
                    self.crash_and_tell(i)?;
                    let down = self.rng.between(20, 500);
                    self.schedule(down, SimEvent::Restart(i));
                }
                let d = self.mean_delay(self.options.crash_every_ms);
                self.schedule(d, SimEvent::Crash);
                Ok(())
            }
            SimEvent::Restart(i) => {
                if self.nodes[i].peer.is_none() {
                    self.start_node(i)?;
                }
                Ok(())
            }
            SimEvent::Request => {
                if !self.healed {
                    self.request()?;
                    let d = self.mean_delay(self.options.request_every_ms);
                    self.schedule(d, SimEvent::Request);
                }
                Ok(())
            }
            SimEvent::Repartition => {
                if self.healed {
                    return Ok(());
                }
                if self.rng.chance(300_000) {
                    self.group.iter_mut().for_each(|g| *g = 0);
                } else {
                    for g in self.group.iter_mut() {
                        *g = self.rng.below(2) as u8;
                    }
                }
                let d = self.mean_delay(self.options.partition_every_ms);
                self.schedule(d, SimEvent::Repartition);
                Ok(())
            }
            SimEvent::TakeSnapshot => {
                let i = self.rng.below(self.nodes.len() as u64) as usize;
                let node = &mut self.nodes[i];
                if node.peer.is_some() {
                    node.disk.take_snapshot(&node.state);
                }
                let d = self.mean_delay(self.options.snapshot_every_ms);
                self.schedule(d, SimEvent::TakeSnapshot);
                Ok(())
            }
            SimEvent::SnapshotReady {
                node,
                incarnation,
                to,
                attempt,
                zxid,
                total,
            } => {
                if self.nodes[node].incarnation != incarnation {
                    return Ok(());
                }
                self.step(
                    node,
                    Event::SnapshotReady {
                        to,
                        attempt,
                        zxid,
                        total,
                    },
                )
            }
            SimEvent::Heal => {
                self.healed = true;
                self.group.iter_mut().for_each(|g| *g = 0);
                self.drop_ppm = 0;
                self.duplicate_ppm = 0;
                for i in 0..self.nodes.len() {
                    if self.nodes[i].peer.is_none() {
                        self.start_node(i)?;
                    }
                }
                self.probe = Some(format!("probe-{}", self.options.seed).into_bytes().into());
                self.schedule(1, SimEvent::Probe);
                Ok(())
            }
            SimEvent::Reconfig => {
                if self.healed {
                    return Ok(());
                }
                self.reconfigure()?;
                let d = self.mean_delay(self.options.reconfig_every_ms);
                self.schedule(d, SimEvent::Reconfig);
                Ok(())
            }
            SimEvent::Probe => {
                if self.probe_index.is_some() {
                    return Ok(());
                }
                if let Some(payload) = self.probe.clone().filter(|_| !self.probe_proposed()) {
                    if let Some(i) = self.leader_node() {
                        self.step(
                            i,
                            Event::Propose {
                                payloads: vec![payload],
                            },
                        )?;
                    }
                }
                self.schedule(TICK_MS, SimEvent::Probe);
                Ok(())
            }
        }
    }

    fn leader_node(&self) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.peer.is_some() && matches!(n.role, Role::Leading { .. }))
    }

    /// Whether the probe sits in some live leader's log, in which case it will commit unless
    /// that leader fails; a leader that fails makes the probe be proposed again.
    fn probe_proposed(&self) -> bool {
        let Some(probe) = &self.probe else {
            return false;
        };
        self.nodes.iter().any(|n| {
            n.peer.is_some()
                && matches!(n.role, Role::Leading { .. })
                && n.disk.written.iter().any(|e| &e.payload == probe)
        })
    }

    fn probe_done(&self) -> bool {
        let Some(index) = self.probe_index else {
            return false;
        };
        self.nodes
            .iter()
            .all(|n| n.peer.is_some() && n.state.len() > index)
    }

    fn finish(mut self) -> Result<Report, Failure> {
        for node in &self.nodes {
            if node.state != self.canonical {
                return Err(self.fail(format!(
                    "server {} ends with {} applied entries, the committed history has {}",
                    node.id,
                    node.state.len(),
                    self.canonical.len()
                )));
            }
        }
        self.report.committed = self.canonical.len();
        self.report.reconfigs = self.activated.len();
        let mut total = Stats::default();
        for node in &self.nodes {
            let s = match &node.peer {
                Some(p) => add(node.stats, p.stats()),
                None => node.stats,
            };
            total = add(total, s);
        }
        self.report.stats = total;
        Ok(self.report)
    }

    fn request(&mut self) -> Result<(), Failure> {
        let i = self.rng.below(self.nodes.len() as u64) as usize;
        if self.nodes[i].peer.is_none() {
            return Ok(());
        }
        let count = self.rng.between(1, 3);
        let payloads = (0..count)
            .map(|_| {
                self.requests += 1;
                Payload::from(format!("w{}", self.requests).into_bytes())
            })
            .collect();
        // Followers and looking servers refuse; that is part of what is tested.
        self.step(i, Event::Propose { payloads })
    }

    fn start_node(&mut self, i: usize) -> Result<(), Failure> {
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        node.state = node.disk.snapshot.clone();
        node.role = Role::Looking;
        let restored = Restored {
            epochs: node.disk.epochs,
            snapshot_zxid: node.disk.snapshot_zxid,
            entries: node.disk.written.clone(),
        };
        if self.options.trace {
            eprintln!(
                "{:>6} {} restarts: snapshot {:#x}, log {} entries to {:#x}, {:?}",
                self.now,
                node.id,
                restored.snapshot_zxid,
                restored.entries.len(),
                restored.entries.last().map_or(0, |e| e.zxid),
                restored.epochs
            );
        }
        let config = config_for(node.id, &node.disk.membership);
        let (peer, commands) =
            Peer::restore(config, restored).map_err(|e| self.fail(format!("config: {e}")))?;
        self.nodes[i].observer_step = peer.is_observer();
        self.nodes[i].peer = Some(peer);
        self.execute(i, commands)
    }

    /// Crashes a server; the others' connections from it break, and those that notice in
    /// time (not across a partition) hear of it, as a server's transport does.
    fn crash_and_tell(&mut self, i: usize) -> Result<(), Failure> {
        self.crash_node(i);
        let crashed = self.nodes[i].id;
        for j in 0..self.nodes.len() {
            if j != i && self.group[j] == self.group[i] && self.nodes[j].peer.is_some() {
                self.step(j, Event::PeerDisconnected { from: crashed })?;
            }
        }
        Ok(())
    }

    fn crash_node(&mut self, i: usize) {
        self.report.crashes += 1;
        let node = &mut self.nodes[i];
        if let Some(peer) = node.peer.take() {
            node.stats = add(node.stats, peer.stats());
        }
        node.disk.crash();
        node.state.clear();
        node.outgoing.clear();
        node.incoming = None;
        node.installed_now = false;
        node.role = Role::Looking;
    }

    fn step(&mut self, i: usize, event: Event) -> Result<(), Failure> {
        let Some(peer) = self.nodes[i].peer.as_mut() else {
            return Ok(());
        };
        let was_observer = peer.is_observer();
        let commands = peer.step(event);
        self.nodes[i].observer_step = was_observer && peer.is_observer();
        let Some(peer) = self.nodes[i].peer.as_ref() else {
            return Ok(());
        };
        if let Err(e) = peer.validate() {
            return Err(self.fail(format!("server {} invariant: {e}", i + 1)));
        }
        if peer.stats().violations > 0 {
            let what = peer.stats().last_violation.unwrap_or("?");
            return Err(self.fail(format!("server {} saw a protocol violation: {what}", i + 1)));
        }
        self.execute(i, commands)
    }

    fn execute(&mut self, i: usize, commands: Vec<Command>) -> Result<(), Failure> {
        for command in commands {
            if self.options.trace {
                eprintln!("{:>6} {} -> {command:?}", self.now, i + 1);
            }
            self.execute_one(i, command)?;
        }
        Ok(())
    }

    /// A leader's server prepares the snapshot a transfer asked for (counting one asked for a
    /// server that installed one in its current incarnation).
    fn prepare_snapshot(
        &mut self,
        i: usize,
        to: ServerId,
        attempt: u64,
        zxid: Zxid,
    ) -> Result<(), Failure> {
        let id = self.nodes[i].id;
        if let Some(j) = self.nodes.iter().position(|n| n.id == to) {
            if self.nodes[j].installed_now {
                self.nodes[j].snapshots_after_install += 1;
            }
        }
        let state = &self.nodes[i].state;
        if last_zxid(state) != zxid {
            return Err(self.fail(format!(
                "server {id} asked for a snapshot at {zxid:#x} with state at {:#x}",
                last_zxid(state)
            )));
        }
        // Prepared off the write path: ready after a while, as a real server's
        // snapshotter reports it.
        let data: Payload = snapshot::encode(state).into();
        let total = data.len() as u64;
        self.nodes[i].outgoing.insert(to, (attempt, zxid, data));
        let incarnation = self.nodes[i].incarnation;
        let delay = self.rng.between(1, 20);
        self.schedule(
            delay,
            SimEvent::SnapshotReady {
                node: i,
                incarnation,
                to,
                attempt,
                zxid,
                total,
            },
        );
        Ok(())
    }

    fn execute_one(&mut self, i: usize, command: Command) -> Result<(), Failure> {
        let id = self.nodes[i].id;
        self.check_observer_command(i, &command)?;
        match command {
            Command::SaveEpochs(epochs) => self.nodes[i].disk.epochs = epochs,
            Command::Append { entries } => {
                let disk = &mut self.nodes[i].disk;
                let mut last = disk.last_written();
                for entry in entries {
                    if entry.zxid <= last {
                        return Err(self.fail(format!(
                            "server {id} appended {:#x} after {last:#x}",
                            entry.zxid
                        )));
                    }
                    last = entry.zxid;
                    disk.written.push(entry);
                }
                self.start_fsync(i);
            }
            Command::Truncate { after } => {
                let applied = last_zxid(&self.nodes[i].state);
                if after < applied {
                    return Err(self.fail(format!(
                        "server {id} told to truncate after {after:#x}, below applied {applied:#x}"
                    )));
                }
                self.nodes[i].disk.truncate_after(after);
            }
            Command::Send { to, message } => {
                if let Message::Ack { zxid, .. } = &message {
                    let durable = self.nodes[i].disk.last_durable();
                    if *zxid > durable {
                        return Err(self.fail(format!(
                            "server {id} acked {zxid:#x} with only {durable:#x} durable"
                        )));
                    }
                }
                self.send(i, to, message);
            }
            Command::Apply { entries } => {
                for entry in entries {
                    self.apply(i, entry)?;
                }
            }
            Command::SendSnapshot {
                to, attempt, zxid, ..
            } => self.prepare_snapshot(i, to, attempt, zxid)?,
            Command::SendSnapshotChunk {
                to,
                epoch,
                attempt,
                zxid,
                offset,
                len,
            } => {
                let Some((_, _, data)) = self.nodes[i]
                    .outgoing
                    .get(&to)
                    .filter(|(a, z, _)| (*a, *z) == (attempt, zxid))
                else {
                    return Err(self.fail(format!(
                        "server {id} asked to send a chunk of a snapshot it never prepared \
                         ({zxid:#x} for {to})"
                    )));
                };
                let total = data.len() as u64;
                let Some(bytes) = offset
                    .checked_add(len)
                    .filter(|end| *end <= total)
                    .map(|end| Payload::from(&data[offset as usize..end as usize]))
                else {
                    return Err(self.fail(format!(
                        "server {id} asked for bytes {offset}+{len} of a {total}-byte snapshot"
                    )));
                };
                let message = Message::SnapshotChunk {
                    epoch,
                    attempt,
                    zxid,
                    offset,
                    total,
                    data: bytes,
                };
                self.send(i, to, message);
            }
            Command::StoreSnapshotChunk {
                zxid,
                offset,
                total,
                data,
            } => {
                let node = &mut self.nodes[i];
                if offset == 0 {
                    node.incoming = Some((zxid, total, Vec::new()));
                }
                match node.incoming.as_mut() {
                    Some((z, t, bytes))
                        if (*z, *t) == (zxid, total) && bytes.len() as u64 == offset =>
                    {
                        bytes.extend_from_slice(&data);
                    }
                    _ => {
                        return Err(self.fail(format!(
                            "server {id} told to store bytes at {offset} of snapshot {zxid:#x} \
                             out of order"
                        )))
                    }
                }
            }
            Command::InstallSnapshot { zxid } => {
                let Some((z, total, data)) = self.nodes[i].incoming.take() else {
                    return Err(self.fail(format!("server {id} installs a snapshot it has not")));
                };
                if z != zxid || data.len() as u64 != total {
                    return Err(self.fail(format!(
                        "server {id} installs snapshot {zxid:#x} holding {} of {total} bytes of {z:#x}",
                        data.len()
                    )));
                }
                let state = snapshot::decode(&data).map_err(|e| self.fail(e))?;
                if last_zxid(&state) != zxid {
                    return Err(self.fail(format!(
                        "server {id}: snapshot labelled {zxid:#x} is not at that zxid"
                    )));
                }
                if state.len() > self.canonical.len() || state[..] != self.canonical[..state.len()]
                {
                    return Err(self.fail(format!(
                        "server {id} installed a snapshot that is not a prefix of the committed history"
                    )));
                }
                self.nodes[i].disk.install_snapshot(zxid, state.clone());
                self.nodes[i].state = state;
                self.nodes[i].installs += 1;
                self.nodes[i].installed_now = true;
            }
            Command::Role(role) => {
                self.check_leader_votes(i, role)?;
                self.nodes[i].role = role;
                if let Role::Leading { epoch } = role {
                    if let Some(other) = self.leaders.insert(epoch, id) {
                        if other != id {
                            return Err(self
                                .fail(format!("servers {other} and {id} both led epoch {epoch}")));
                        }
                    }
                }
            }
            Command::Rejected { .. } => {}
            Command::Membership { active, .. } => {
                self.check_activated(i, &active)?;
                // The server writes the active configuration durably before going on.
                self.nodes[i].disk.membership = active;
            }
        }
        Ok(())
    }

    fn apply(&mut self, i: usize, entry: Entry) -> Result<(), Failure> {
        let id = self.nodes[i].id;
        let index = self.nodes[i].state.len();
        let previous = last_zxid(&self.nodes[i].state);
        if entry.zxid <= previous {
            return Err(self.fail(format!(
                "server {id} applied {:#x} after {previous:#x}",
                entry.zxid
            )));
        }
        match self.canonical.get(index) {
            Some(existing) if *existing != entry => {
                return Err(self.fail(format!(
                    "server {id} applied {:#x} {:?} at position {index}, but {:#x} {:?} was applied there before",
                    entry.zxid,
                    String::from_utf8_lossy(&entry.payload),
                    existing.zxid,
                    String::from_utf8_lossy(&existing.payload)
                )));
            }
            Some(_) => {}
            None => {
                if self.probe.as_ref() == Some(&entry.payload) {
                    self.probe_index = Some(index);
                }
                self.canonical.push(entry.clone());
            }
        }
        self.nodes[i].state.push(entry);
        Ok(())
    }

    fn send(&mut self, from: usize, to: ServerId, message: Message) {
        self.report.messages += 1;
        let Some(to) = self.nodes.iter().position(|n| n.id == to) else {
            return;
        };
        if self.group[from] != self.group[to] || self.rng.chance(self.drop_ppm) {
            self.report.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.duplicate_ppm) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            // Independent delays reorder messages, including the two copies of a duplicate.
            let delay = self.rng.between(1, self.options.delay_max_ms);
            let message = message.clone();
            self.schedule(delay, SimEvent::Deliver { from, to, message });
        }
    }

    fn start_fsync(&mut self, i: usize) {
        let disk = &mut self.nodes[i].disk;
        if disk.fsync_covers.is_some() || disk.written.len() <= disk.durable_len {
            return;
        }
        disk.fsync_covers = Some(disk.written.len());
        let incarnation = self.nodes[i].incarnation;
        let delay = self.rng.between(1, self.options.fsync_max_ms);
        self.schedule(
            delay,
            SimEvent::FsyncDone {
                node: i,
                incarnation,
            },
        );
    }

    fn fsync_done(&mut self, i: usize, incarnation: u64) -> Result<(), Failure> {
        let node = &mut self.nodes[i];
        if node.peer.is_none() || node.incarnation != incarnation {
            return Ok(());
        }
        let Some(covers) = node.disk.fsync_covers.take() else {
            return Ok(());
        };
        node.disk.durable_len = node
            .disk
            .durable_len
            .max(covers.min(node.disk.written.len()));
        let zxid = node.disk.last_durable();
        self.start_fsync(i);
        self.step(i, Event::Durable { zxid })
    }
}

fn last_zxid(state: &[Entry]) -> Zxid {
    state.last().map_or(0, |e| e.zxid)
}

fn add(a: Stats, b: Stats) -> Stats {
    Stats {
        elections: a.elections + b.elections,
        leaderships: a.leaderships + b.leaderships,
        syncs_diff: a.syncs_diff + b.syncs_diff,
        syncs_trunc: a.syncs_trunc + b.syncs_trunc,
        syncs_snap: a.syncs_snap + b.syncs_snap,
        snapshot_chunks_sent: a.snapshot_chunks_sent + b.snapshot_chunks_sent,
        snapshot_transfers_abandoned: a.snapshot_transfers_abandoned
            + b.snapshot_transfers_abandoned,
        proposals: a.proposals + b.proposals,
        handshakes: a.handshakes + b.handshakes,
        stale_messages: a.stale_messages + b.stale_messages,
        leader_disconnects: a.leader_disconnects + b.leader_disconnects,
        wrong_leader_choices: a.wrong_leader_choices + b.wrong_leader_choices,
        violations: a.violations + b.violations,
        last_violation: b.last_violation.or(a.last_violation),
    }
}
