//! The whole-server simulator (`ringkeeper_server::sim`): a few hundred seeds in CI, the
//! replay of one seed, a long run of many, and the proof that it finds planted bugs.
//!
//! - `RK_SIM_SEED=123 cargo test -p ringkeeper-server --test sim -- replay --nocapture`
//!   replays seed 123 (with `RK_SIM_BUG=AckBeforeDurable` etc. that bug planted, with
//!   `RK_SIM_SERVERS=3` that many servers whatever the seed says). A failure prints the
//!   whole command.
//! - `RK_SIM_SEEDS=1000000 RK_SIM_FIRST=0 cargo test --release -p ringkeeper-server --test sim
//!   -- seeds --nocapture` runs a million seeds.

use ringkeeper_server::sim::{self, Bug, Options};

/// Seeds `cargo test` runs by default.
const CI_SEEDS: u64 = 200;
/// Seeds `reconfigurations_under_faults` runs by default.
const RECONFIG_SEEDS: u64 = 60;
/// A planted bug must be found within this many seeds.
const BUG_SEEDS_MAX: u64 = 300;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn seeds() {
    let first = env_u64("RK_SIM_FIRST").unwrap_or(0);
    let count = env_u64("RK_SIM_SEEDS").unwrap_or(CI_SEEDS);
    let mut total = sim::Report::default();
    for seed in first..first + count {
        match sim::run_seed(seed) {
            Ok(report) => total.add(&report),
            Err(failure) => panic!("{failure}"),
        }
        if count > CI_SEEDS && (seed - first + 1).is_multiple_of(1000) {
            eprintln!("{} seeds passed", seed - first + 1);
        }
    }
    eprintln!("{total:?}");
    if count >= CI_SEEDS {
        assert_exercised(&total);
    }
}

/// Every fault and recovery path must have happened in a run of many seeds, or the seeds
/// test nothing.
fn assert_exercised(total: &sim::Report) {
    let counts = [
        ("acknowledged writes", total.acknowledged_writes as u64),
        ("crashes", total.crashes),
        ("torn crashes", total.torn_crashes),
        ("sessions moved between members", total.moved_sessions),
        ("sessions lost", total.lost_sessions),
        ("leaderships", total.protocol.leaderships),
        ("truncations", total.protocol.syncs_trunc),
        ("snapshot installs", total.protocol.syncs_snap),
        ("snapshot chunks", total.protocol.snapshot_chunks),
        ("reconfigurations", total.reconfigs),
    ];
    for (what, n) in counts {
        assert!(n > 0, "no {what} in the whole run: {total:?}");
    }
    // Snapshots are streamed: several chunks each (512-byte chunks in the simulator).
    assert!(
        total.protocol.snapshot_chunks > 2 * total.protocol.syncs_snap,
        "snapshots were not chunked: {total:?}"
    );
}

fn bug_named(name: &str) -> Option<Bug> {
    [
        Bug::AckBeforeDurable,
        Bug::SelfQuorum,
        Bug::SkipReadFence,
        Bug::SkipApply,
        Bug::ReconfigActiveOnLog,
    ]
    .into_iter()
    .find(|b| format!("{b:?}") == name)
}

#[test]
fn replay() {
    let Some(seed) = env_u64("RK_SIM_SEED") else {
        return;
    };
    let mut options = Options::from_seed(seed);
    if let Some(servers) = env_u64("RK_SIM_SERVERS") {
        options.servers = servers as usize;
    }
    if let Some(every) = env_u64("RK_SIM_RECONFIG_MS") {
        options.reconfig_every_ms = every;
    }
    options.bug = std::env::var("RK_SIM_BUG").ok().and_then(|b| bug_named(&b));
    eprintln!("{options:?}");
    match sim::run(options) {
        Ok(report) => eprintln!("passed: {report:?}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Seeds of three servers with an operator that removes members and adds them back under
/// the faults (the leader too), so that every one of them goes through reconfigurations:
/// the checks are those of every run (no acknowledged write lost, one leader per epoch,
/// the history, every copy of the tree alike at the end).
#[test]
fn reconfigurations_under_faults() {
    let first = env_u64("RK_SIM_FIRST").unwrap_or(0);
    let count = env_u64("RK_SIM_SEEDS").unwrap_or(RECONFIG_SEEDS);
    let mut total = sim::Report::default();
    for seed in first..first + count {
        let mut o = Options::from_seed(seed);
        o.servers = 3;
        o.reconfig_every_ms = 100 + seed % 400;
        match sim::run(o) {
            Ok(report) => total.add(&report),
            Err(failure) => panic!("{failure}"),
        }
    }
    eprintln!("{total:?}");
    assert!(
        total.reconfigs >= count,
        "fewer reconfigurations committed than seeds: {total:?}"
    );
}

/// Finds `bug` within [`BUG_SEEDS_MAX`] seeds of `servers` servers, and checks that the
/// correct server passes the seeds it took.
fn finds(bug: Bug, servers: usize) {
    finds_with(bug, servers, None);
}

/// As [`finds`], with an operator reconfiguring every `reconfig_ms` (about) in every seed.
fn finds_with(bug: Bug, servers: usize, reconfig_ms: Option<u64>) {
    let with = |seed: u64, bug: Option<Bug>| {
        let mut o = Options::from_seed(seed);
        o.servers = servers;
        if let Some(every) = reconfig_ms {
            o.reconfig_every_ms = every;
        }
        o.bug = bug;
        sim::run(o)
    };
    let found = (0..BUG_SEEDS_MAX).find(|seed| with(*seed, Some(bug)).is_err());
    let Some(found) = found else {
        panic!("{bug:?} not found in {BUG_SEEDS_MAX} seeds");
    };
    let failure = with(found, Some(bug)).expect_err("a failing seed fails again");
    eprintln!("{bug:?} found by seed {found}: {failure}");
    for seed in 0..=found {
        if let Err(failure) = with(seed, None) {
            panic!("the correct server fails: {failure}");
        }
    }
}

#[test]
fn finds_ack_before_durable() {
    finds(Bug::AckBeforeDurable, 1);
}

#[test]
fn finds_self_quorum() {
    finds(Bug::SelfQuorum, 3);
}

#[test]
fn finds_skipped_read_fence() {
    finds(Bug::SkipReadFence, 1);
}

#[test]
fn finds_skipped_apply() {
    finds(Bug::SkipApply, 3);
}

#[test]
fn finds_a_reconfiguration_active_before_it_commits() {
    finds_with(Bug::ReconfigActiveOnLog, 3, Some(150));
}

/// A seed replays exactly: the same run twice goes through the same events.
#[test]
fn a_seed_replays_exactly() {
    for seed in 0..20 {
        let a = sim::run_seed(seed).map(|r| format!("{r:?}"));
        let b = sim::run_seed(seed).map(|r| format!("{r:?}"));
        assert_eq!(a, b, "seed {seed} ran two different ways");
    }
}
