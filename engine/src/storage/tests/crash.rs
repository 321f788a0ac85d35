//! The seeded crash simulation: many lives of a writer over one [`SimDir`], each ended by
//! an injected I/O failure and a power loss (losing unsynced writes, or tearing them),
//! each followed by recovery. After every recovery:
//!
//! - every acknowledged txn is there (last zxid at or past the last acknowledged one);
//! - nothing past the last attempted txn appears;
//! - the state is exactly the state after some prefix of the history (digest and sessions
//!   equal those recorded after that txn): no txn is half-applied;
//! - the tree's indexes are consistent.
//!
//! Any failure names its seed; rerun `crash_seed(seed)` to replay it.

use super::workload::Workload;
use crate::storage::*;
use crate::tree::DataTree;
use crate::types::Zxid;

/// What the state was after one txn of the history.
struct Point {
    zxid: Zxid,
    digest: u64,
    sessions: Vec<(i64, i32)>,
}

/// Whether a life ends here: only by the injected failure. Any other error (a segment
/// that already exists, a poisoned log, a batch refused) is a bug of the writer.
fn stopped<T>(seed: u64, result: Result<T, StorageError>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) if e.to_string().contains(INJECTED_FAILURE) => true,
        Err(e) => panic!("seed {seed}: the writer failed by itself: {e}"),
    }
}

fn crash_seed(seed: u64) {
    let mut rng = SimRng::new(seed);
    let mut workload = Workload::new(seed ^ 0x9e37_79b9);
    let mut dir = SimDir::new();
    let policy = SegmentPolicy {
        segment_bytes_max: 1024 + rng.below(4096),
        preallocate_bytes: 2048,
    };
    // The history as written, acknowledged or not, and how much of it is acknowledged.
    let mut history: Vec<Point> = Vec::new();
    let mut acked: Option<Zxid> = None;
    let mut lives = 0;
    let mut torn_seen = 0;
    for life in 0..30 {
        let rec = recover(&mut dir).unwrap_or_else(|e| panic!("seed {seed} life {life}: {e}"));
        torn_seen += rec.warnings.iter().filter(|w| w.contains("torn")).count();
        rec.tree
            .check_invariants()
            .unwrap_or_else(|e| panic!("seed {seed} life {life}: {e}"));
        let attempted = history.last().map(|p| p.zxid);
        if let Some(a) = acked {
            assert!(
                rec.last_zxid >= a,
                "seed {seed} life {life}: acknowledged {a:#x} lost, recovered to {:#x}",
                rec.last_zxid
            );
        }
        assert!(
            rec.last_zxid <= attempted.unwrap_or(0),
            "seed {seed} life {life}: unwritten txns appeared"
        );
        if rec.last_zxid == 0 {
            assert_eq!(
                rec.tree.digest(),
                DataTree::new().digest(),
                "seed {seed} life {life}"
            );
            history.clear();
        } else {
            let at = history
                .iter()
                .position(|p| p.zxid == rec.last_zxid)
                .unwrap_or_else(|| {
                    panic!(
                        "seed {seed} life {life}: recovered to unknown zxid {:#x}",
                        rec.last_zxid
                    )
                });
            let point = &history[at];
            assert_eq!(
                rec.tree.digest(),
                point.digest,
                "seed {seed} life {life}: state differs at {:#x}",
                point.zxid
            );
            assert_eq!(
                rec.sessions, point.sessions,
                "seed {seed} life {life}: sessions differ"
            );
            history.truncate(at + 1);
        }
        acked = Some(rec.last_zxid).filter(|z| *z != 0);
        lives += 1;

        // A new life: the writer continues from the recovered state, sometimes in a new
        // epoch, until an injected I/O failure stops it.
        let mut tree = rec.tree;
        workload.reset_sessions(&rec.sessions);
        let mut log = LogWriter::new(policy, true, rec.next_segment);
        let mut next = if rec.last_zxid != 0 && rng.chance(4) {
            (((rec.last_zxid as u64 >> 32) + 1) << 32 | 1) as Zxid
        } else {
            rec.last_zxid + 1
        };
        dir.fail_after(rng.below(60));
        'life: loop {
            let n = 1 + rng.below(8) as usize;
            let mut batch = Vec::with_capacity(n);
            for _ in 0..n {
                let txn = workload.next_txn(&tree, next);
                tree.apply(&txn);
                workload.observe(&txn);
                history.push(Point {
                    zxid: next,
                    digest: tree.digest(),
                    sessions: workload.sessions(),
                });
                batch.push(txn);
                next += 1;
            }
            if stopped(seed, block_on(log.append_txns(&mut dir, &batch))) {
                break 'life;
            }
            acked = Some(next - 1);
            if rng.chance(6) {
                let z = next - 1;
                let bytes = encode_snapshot(&tree, &workload.sessions(), z);
                if stopped(seed, write_snapshot(&mut dir, z, &bytes)) {
                    break 'life;
                }
                let doomed = purge_plan(&dir.list().unwrap(), 2);
                for name in &doomed {
                    if stopped(seed, dir.remove(name)) {
                        break 'life;
                    }
                }
                if stopped(seed, dir.sync_dir()) {
                    break 'life;
                }
            }
        }
        // Power loss. The failed call itself did nothing; what came before it and was
        // not synced is lost or torn.
        dir.fail_after(u64::MAX);
        let mode = if rng.chance(2) {
            CrashMode::Torn
        } else {
            CrashMode::LoseUnsynced
        };
        dir.crash(mode, &mut rng);
    }
    assert_eq!(lives, 30);
    let _ = torn_seen;
}

#[test]
fn acknowledged_writes_survive_crashes_and_nothing_is_half_applied() {
    for seed in 1..=40 {
        crash_seed(seed);
    }
}

#[test]
fn torn_tails_do_occur_in_the_simulation() {
    // A check of the test itself: the torn-write model must actually exercise truncation.
    let mut rng = SimRng::new(99);
    let mut dir = SimDir::new();
    let mut workload = Workload::new(3);
    let mut tree = DataTree::new();
    let mut torn = 0;
    let mut log = LogWriter::new(SegmentPolicy::default(), true, None);
    let mut next = 1;
    for _ in 0..200 {
        let mut batch = Vec::new();
        for _ in 0..6 {
            let txn = workload.next_txn(&tree, next);
            tree.apply(&txn);
            workload.observe(&txn);
            batch.push(txn);
            next += 1;
        }
        // Fail the sync that follows the write.
        dir.fail_after(if log.position().is_some() { 1 } else { 4 });
        let failed = block_on(log.append_txns(&mut dir, &batch)).is_err();
        assert!(failed);
        dir.fail_after(u64::MAX);
        dir.crash(CrashMode::Torn, &mut rng);
        let rec = recover(&mut dir).unwrap();
        torn += rec.warnings.iter().filter(|w| w.contains("torn")).count();
        tree = rec.tree;
        workload.reset_sessions(&rec.sessions);
        next = rec.last_zxid + 1;
        log = LogWriter::new(SegmentPolicy::default(), true, rec.next_segment);
    }
    assert!(torn > 20, "only {torn} torn tails in 200 torn crashes");
}
