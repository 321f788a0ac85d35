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
use ringkeeper_engine::history::{self, Action, History, Observed, ViolationKind, WriteOutcome};
use std::time::Duration;

fn server_kind() -> Option<ServerKind> {
    if std::env::var("RK_TEST_SERVER").as_deref() == Ok("apache") {
        return Some(ServerKind::Apache(APACHE_CLASSPATH.to_string()));
    }
    common::server_binary().map(ServerKind::Ringkeeper)
}

/// Runs a checked load for `seconds` against a fresh server and returns its history and
/// whether it passed.
fn checked_run(seconds: u64) -> Option<(History, history::CheckReport)> {
    let kind = server_kind()?;
    let dir = std::env::temp_dir().join(format!("rk-load-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = pick_addr(7717).expect("address");
    let server = Server::start(kind, &dir, &addr).expect("server starts");
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(load::run(&cfg)).expect("checked run");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Some((report.history?, report.check?))
}

#[test]
fn a_checked_run_passes_and_a_corrupted_copy_of_its_history_fails() {
    let Some((mut h, report)) = checked_run(3) else {
        return;
    };
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
