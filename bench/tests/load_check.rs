//! `rk-load --check` against a real server: a few seconds of contended reads, synced
//! reads, conditional writes and sequential creates must pass the history check, and the
//! same history, corrupted, must not.
//!
//! The server is ringkeeper from `target/{release,debug}/ringkeeper` (without one the
//! tests print `SKIPPED` and pass), or Apache ZooKeeper 3.8 with `RK_TEST_SERVER=apache`.

mod common;

use ringkeeper_bench::load::{self, LoadConfig};
use ringkeeper_bench::options::Mix;
use ringkeeper_bench::suite::server::{pick_addr, Server, ServerKind, APACHE_CLASSPATH};
use ringkeeper_engine::history::{self, Action, Observed, ViolationKind, WriteOutcome};
use std::time::Duration;

fn server_kind() -> Option<ServerKind> {
    if std::env::var("RK_TEST_SERVER").as_deref() == Ok("apache") {
        return Some(ServerKind::Apache(APACHE_CLASSPATH.to_string()));
    }
    common::server_binary().map(ServerKind::Ringkeeper)
}

/// Runs a checked load for `seconds` against a fresh server, doing `meanwhile` to the
/// server while it runs, and returns the load's report.
fn checked_run(
    name: &str,
    seconds: u64,
    meanwhile: impl FnOnce(&mut Server),
) -> Option<load::LoadReport> {
    let kind = server_kind()?;
    let dir = std::env::temp_dir().join(format!("rk-load-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = pick_addr(7717 + name.len() as u32).expect("address");
    let mut server = Server::start(kind, &dir, &addr).expect("server starts");
    let cfg = LoadConfig {
        hosts: vec![server.addr.clone()],
        connections: 6,
        in_flight: 4,
        // Few keys, so that writers contend and conditional writes meet BADVERSION.
        keys: 8,
        mix: Mix::parse("getData=4,sync=2,setData=3,create=1,exists=1").expect("mix"),
        duration: Duration::from_secs(seconds),
        warmup: Duration::ZERO,
        progress: false,
        check: true,
        ..LoadConfig::default()
    };
    let load = std::thread::spawn(move || load::run_blocking(&cfg, 2));
    meanwhile(&mut server);
    let report = load.join().expect("load thread").expect("checked run");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Some(report)
}

#[test]
fn a_checked_run_passes_and_a_corrupted_copy_of_its_history_fails() {
    let Some(run) = checked_run("plain", 3, |_| {}) else {
        return;
    };
    let (mut h, report) = (run.history.expect("history"), run.check.expect("check"));
    assert!(report.passed(), "{:?}", report.violations);
    let count = |f: &dyn Fn(&Action) -> bool| h.ops.iter().filter(|o| f(&o.action)).count();
    let applied = count(&|a| {
        matches!(
            a,
            Action::Write {
                outcome: WriteOutcome::Applied { .. },
                ..
            }
        )
    });
    let refused = count(&|a| {
        matches!(
            a,
            Action::Write {
                outcome: WriteOutcome::BadVersion,
                ..
            }
        )
    });
    let synced = count(&|a| {
        matches!(
            a,
            Action::Read {
                synced_from_ns: Some(_),
                observed: Some(_),
                ..
            }
        )
    });
    assert!(
        applied > 50 && refused > 0 && synced > 50,
        "too little was exercised: {applied} writes, {refused} BADVERSION, {synced} synced reads"
    );
    assert_eq!(report.keys, 8);
    assert_eq!(report.parents, 1);

    // A synced read sent after some write of its key was acknowledged now claims to see
    // the key's initial value: a stale read.
    let acked: Vec<(String, u64)> = h
        .ops
        .iter()
        .filter_map(|o| match (&o.action, o.complete_ns) {
            (
                Action::Write {
                    key,
                    outcome: WriteOutcome::Applied { .. },
                    ..
                },
                Some(done),
            ) => Some((key.clone(), done)),
            _ => None,
        })
        .collect();
    let initial = h.initial_versions.clone();
    let victim = h
        .ops
        .iter_mut()
        .find_map(|o| match &mut o.action {
            Action::Read {
                key,
                synced_from_ns: Some(from),
                observed: Some(seen),
            } if acked.iter().any(|(k, done)| k == key && done < from) => Some((key, seen)),
            _ => None,
        })
        .expect("a synced read after an acknowledged write");
    *victim.1 = Observed {
        version: initial[victim.0.as_str()],
        token: None,
    };
    let stale = history::check(&h);
    assert!(
        stale
            .violations
            .iter()
            .any(|v| v.kind == ViolationKind::StaleRead),
        "{:?}",
        stale.violations
    );

    // Dropping an acknowledged node from the final listing: a lost create.
    let listing = h.final_sequences.values_mut().next().expect("listing");
    assert!(!listing.is_empty(), "no sequential creates were made");
    listing.remove(0);
    let lost = history::check(&h);
    assert!(
        lost.violations
            .iter()
            .any(|v| v.kind == ViolationKind::LostCreate),
        "{:?}",
        lost.violations
    );
}

#[test]
fn a_checked_run_across_a_server_crash_passes() {
    // SIGKILL after a second of load, restart from the same data a second later: the
    // requests in flight get no reply, and every acknowledged one must survive.
    let Some(run) = checked_run("crash", 4, |server| {
        std::thread::sleep(Duration::from_secs(1));
        server.kill();
        std::thread::sleep(Duration::from_secs(1));
        server.respawn().expect("restart");
        server.wait_serving().expect("serves again");
    }) else {
        return;
    };
    let check = run.check.expect("check");
    assert!(check.passed(), "{:?}", check.violations);
    assert!(run.reconnects > 0, "the crash went unnoticed");
    let ops = run.history.expect("history").ops;
    let after_restart = ops
        .iter()
        .filter(|o| o.invoke_ns > 2_500_000_000 && o.complete_ns.is_some())
        .count();
    assert!(
        after_restart > 50,
        "only {after_restart} operations after the restart"
    );
}
