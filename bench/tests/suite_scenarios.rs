//! The snapshot and ensemble scenarios of rk-bench-suite against a real ringkeeper.
//!
//! As in smoke.rs, the server binary is `target/{release,debug}/ringkeeper` of this
//! workspace; without one these tests print `SKIPPED` and pass.

mod common;

use common::server_binary;
use ringkeeper_bench::suite::ensemble::{self, Ensemble};
use ringkeeper_bench::suite::server::{pick_addr, Launch, Server, ServerKind};
use ringkeeper_bench::suite::snapshot::{self, snapshot_dir};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rk-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn snapshot_rounds_are_snap_count_transactions_apart_and_match_the_servers_log() {
    let Some(bin) = server_binary() else { return };
    let dir = scratch("snapshot");
    let addr = pick_addr(4242).expect("address");
    let snap_count = 40;
    let launch = Launch {
        extra_cfg: format!("snapCount={snap_count}\n"),
        ..Launch::default()
    };
    let srv = Server::start_with(ServerKind::Ringkeeper(bin), &dir, &addr, &launch)
        .expect("server starts");
    let rt = runtime();
    let row = rt
        .block_on(async {
            ringkeeper_bench::populate::populate(std::slice::from_ref(&addr), "/snap", 200, 100, 2)
                .await?;
            snapshot::measure(&srv, "/snap", 200, snap_count, 3).await
        })
        .expect("snapshot scenario");
    assert_eq!(row.rounds.len(), 3, "{row:?}");
    // ringkeeper snapshots after exactly snapCount transactions, and during the rounds the
    // only transactions are this scenario's setData requests.
    for pair in row.rounds.windows(2) {
        assert_eq!(
            pair[1].zxid - pair[0].zxid,
            i64::from(snap_count),
            "{row:?}"
        );
    }
    let dir_of_snaps = snapshot_dir(&srv.kind, &srv.dir.join("data"));
    for r in &row.rounds {
        assert!(r.bytes > 0, "{r:?}");
        assert!(r.external_ms >= 0.0 && r.external_ms < 60_000.0, "{r:?}");
        // The server's log line names the same zxid, so the match is exact.
        assert!(r.server_reported_ms.is_some(), "no log line for {r:?}");
    }
    let newest = row.rounds.last().expect("rounds");
    assert!(
        dir_of_snaps
            .join(format!("snapshot.{:016x}", newest.zxid))
            .is_file(),
        "the newest snapshot is on disk under its zxid"
    );
    assert!(row.external_ms.min <= row.external_ms.median);
    assert!(row.external_ms.median <= row.external_ms.max);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_ensemble_elects_a_leader_and_fails_over_or_says_why_not_without_hanging() {
    let Some(bin) = server_binary() else { return };
    let dir = scratch("ensemble");
    let kind = ServerKind::Ringkeeper(bin);
    let timeout = Duration::from_secs(30);
    let t0 = Instant::now();
    let started = Ensemble::start(&kind, &dir, 3, 4300, timeout);
    match started {
        Err(e) => {
            // A build without replication runs every member standalone: the scenario must
            // say so promptly instead of waiting for a quorum that never forms.
            assert!(e.contains("no leader elected within"), "{e}");
            assert!(
                t0.elapsed() < timeout + Duration::from_secs(130),
                "took {:?}",
                t0.elapsed()
            );
        }
        Ok(mut ens) => {
            let modes = ens.modes(None);
            assert!(ensemble::settled(&modes, None).is_some(), "{modes:?}");
            let rt = runtime();
            let row = rt
                .block_on(ensemble::failover(&mut ens, 3, 1, timeout))
                .expect("failover");
            let round = &row.rounds[0];
            assert_ne!(round.killed, round.new_leader);
            assert!(round.writes_before > 0);
            assert!(round.write_ms > 0.0 && round.leader_ms > 0.0, "{round:?}");
            // The old leader was restarted and the ensemble is whole again.
            assert!(ensemble::settled(&ens.modes(None), None).is_some());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
