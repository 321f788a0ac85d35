//! A deterministic simulator of whole ringkeeper servers, in the manner of TigerBeetle's
//! VOPR: N servers (1 or 3), each its real `SequencerState`, its real `ShardState`s and its
//! log written by the real `LogWriter` over a power-loss-simulating `SimDir`, wired by a
//! small executor (`node`) that carries out their effects as the glommio executors do.
//! Clients (`client`) speak the real jute protocol. Everything — message delays, loss,
//! duplication, reordering, partitions, crashes with torn or lost unsynced writes, clock
//! jumps, clients moving between members — is drawn from one seed, so a failing seed
//! replays exactly. No thread, socket, file or clock is touched.
//!
//! Checked: the client-visible history (`engine::history`: writes linearizable, reads
//! sequentially consistent, a read after `sync` linearizable, and on a standalone server
//! every read linearizable, which its read fence promises); no acknowledged write or
//! sequential create lost (the final linearizable reads and listing); at most one leader
//! per epoch; no server stops itself (a digest mismatch on a shard is fatal); and after the
//! faults heal and the servers go quiet, every copy of the tree on every member (the
//! sequencer's and each shard's) has the same digest.
//!
//! Reconfiguration: in a third of the 3-server runs an operator client authenticates as
//! super and removes and adds back members (`Options::reconfig_every_ms`); a member keeps
//! the configuration it last wrote down (`zoo.cfg.dynamic.<version>`) across crashes and
//! restarts with it, as a real one does.
//!
//! Not simulated: the snapshotter (logs are never purged, recovery replays them whole),
//! four-letter words and TLS/SASL, and the connection layer's throttling (`shard::conn`).

mod client;
mod config;
mod node;
mod world;

use std::fmt;

pub use crate::planted::Bug;

/// The knobs of one run, all drawn from its seed (except the planted bug).
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// 1 (a standalone server, an ensemble of one) or 3.
    pub servers: usize,
    pub clients: usize,
    /// Requests a client sends without waiting for their answers, at most.
    pub pipeline_max: usize,
    /// How long faults are injected, in simulated milliseconds.
    pub fault_ms: u64,
    pub loss_one_in: u64,
    pub duplicate_one_in: u64,
    pub reorder_one_in: u64,
    pub delay_max_ms: u64,
    pub fsync_max_ms: u64,
    /// Mean time between crashes (0: none).
    pub crash_every_ms: u64,
    /// Mean time between partition changes (0: none; never for one server).
    pub partition_every_ms: u64,
    /// Mean time between clock jumps (0: none).
    pub clock_jump_every_ms: u64,
    /// Mean time between client connections breaking (0: none).
    pub conn_break_every_ms: u64,
    /// Committed proposals a leader keeps for diffs; a follower further behind gets a
    /// snapshot (small windows make snapshot installs happen).
    pub log_window: usize,
    /// Mean time between an operator's reconfig requests (0: none; never for one server).
    /// The operator is a client with super's digest: it removes a member, then adds it
    /// back, through the client port like `zkCli.sh reconfig`.
    pub reconfig_every_ms: u64,
    /// A bug planted in the server (only with the `sim-bugs` feature).
    pub bug: Option<Bug>,
}

impl Options {
    /// Picks the ensemble size and the fault mix from the seed, so that many seeds cover
    /// calm runs, lossy networks, crash storms and partitions.
    pub fn from_seed(seed: u64) -> Options {
        let mut rng = ringkeeper_engine::storage::SimRng::new(seed ^ 0x005e_ed0f_5e7e);
        let servers = if rng.chance(3) { 1 } else { 3 };
        let lossy = rng.chance(2);
        let mut between = |lo: u64, hi: u64| lo + rng.below(hi - lo + 1);
        Options {
            seed,
            servers,
            clients: between(2, 4) as usize,
            pipeline_max: between(1, 4) as usize,
            fault_ms: between(1500, 3000),
            loss_one_in: if lossy { between(20, 200) } else { 0 },
            duplicate_one_in: if lossy { between(20, 200) } else { 0 },
            reorder_one_in: between(5, 50),
            delay_max_ms: between(1, 20),
            fsync_max_ms: between(1, 10),
            crash_every_ms: between(0, 2) * between(200, 1000),
            partition_every_ms: if servers > 1 {
                between(0, 1) * between(200, 800)
            } else {
                0
            },
            clock_jump_every_ms: between(0, 1) * between(500, 2000),
            conn_break_every_ms: between(0, 1) * between(50, 500),
            log_window: if between(0, 1) == 0 {
                between(5, 100) as usize
            } else {
                10_000
            },
            // Drawn last, so that the draws before it mean what they meant before.
            reconfig_every_ms: if servers > 1 && between(0, 2) == 0 {
                between(100, 600)
            } else {
                0
            },
            bug: None,
        }
    }
}

/// A check failed, or the servers did not recover in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub time_ms: u64,
    pub message: String,
    /// What the replay must set beyond the seed: a planted bug, or a server count that
    /// is not the seed's own.
    pub replay_env: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at {} ms: {}\nreplay: {}RK_SIM_SEED={} cargo test -p ringkeeper-server --test sim -- replay --nocapture",
            self.seed, self.time_ms, self.message, self.replay_env, self.seed
        )
    }
}

/// The environment a replay of `o` needs besides `RK_SIM_SEED` (read by tests/sim.rs).
fn replay_env(o: &Options) -> String {
    let mut env = String::new();
    if let Some(bug) = o.bug {
        env.push_str(&format!("RK_SIM_BUG={bug:?} "));
    }
    let own = Options::from_seed(o.seed);
    if o.servers != own.servers {
        env.push_str(&format!("RK_SIM_SERVERS={} ", o.servers));
    }
    if o.reconfig_every_ms != own.reconfig_every_ms {
        env.push_str(&format!("RK_SIM_RECONFIG_MS={} ", o.reconfig_every_ms));
    }
    env
}

/// What a passing run went through.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub servers: usize,
    pub ops: usize,
    pub acknowledged_writes: usize,
    pub crashes: u64,
    /// Crashes while a batch was being written (torn or lost unsynced writes).
    pub torn_crashes: u64,
    /// Sessions a client resumed on another member than the one it was on.
    pub moved_sessions: u64,
    /// Sessions found expired or refused at a reconnect.
    pub lost_sessions: u64,
    /// Reconfigurations the operator saw committed (removals and additions).
    pub reconfigs: u64,
    pub peer_messages: u64,
    pub events: u64,
    /// The protocol's counters, summed over every server process of the run.
    pub protocol: ProtocolCounters,
}

/// The protocol's statistics that show what a run exercised.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProtocolCounters {
    pub leaderships: u64,
    pub syncs_diff: u64,
    pub syncs_trunc: u64,
    pub syncs_snap: u64,
    /// Snapshot chunks leaders sent (resent ones included): each snapshot is many.
    pub snapshot_chunks: u64,
    /// Messages that contradict the protocol's invariants: must stay zero.
    pub violations: u64,
}

impl ProtocolCounters {
    fn of(s: &ringkeeper_replication::Stats) -> ProtocolCounters {
        ProtocolCounters {
            leaderships: s.leaderships,
            syncs_diff: s.syncs_diff,
            syncs_trunc: s.syncs_trunc,
            syncs_snap: s.syncs_snap,
            snapshot_chunks: s.snapshot_chunks_sent,
            violations: s.violations,
        }
    }

    fn add(&mut self, o: &ProtocolCounters) {
        self.leaderships += o.leaderships;
        self.syncs_diff += o.syncs_diff;
        self.syncs_trunc += o.syncs_trunc;
        self.syncs_snap += o.syncs_snap;
        self.snapshot_chunks += o.snapshot_chunks;
        self.violations += o.violations;
    }
}

impl Report {
    /// Adds another run's counts to these (a long run's totals).
    pub fn add(&mut self, o: &Report) {
        self.ops += o.ops;
        self.acknowledged_writes += o.acknowledged_writes;
        self.crashes += o.crashes;
        self.torn_crashes += o.torn_crashes;
        self.moved_sessions += o.moved_sessions;
        self.lost_sessions += o.lost_sessions;
        self.reconfigs += o.reconfigs;
        self.peer_messages += o.peer_messages;
        self.events += o.events;
        self.protocol.add(&o.protocol);
    }
}

/// Runs the simulation a seed describes.
pub fn run_seed(seed: u64) -> Result<Report, Failure> {
    run(Options::from_seed(seed))
}

/// Runs one simulation.
pub fn run(options: Options) -> Result<Report, Failure> {
    #[cfg(feature = "sim-bugs")]
    crate::planted::plant(options.bug);
    #[cfg(not(feature = "sim-bugs"))]
    if options.bug.is_some() {
        return Err(Failure {
            seed: options.seed,
            time_ms: 0,
            message: "a planted bug needs the sim-bugs feature".to_owned(),
            replay_env: replay_env(&options),
        });
    }
    let result = world::World::new(options).run();
    #[cfg(feature = "sim-bugs")]
    crate::planted::plant(None);
    result
}
