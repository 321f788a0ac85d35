//! Crash test (storage issue): a write load runs while the server is killed with SIGKILL at
//! seeded random moments, many times in a row. After every restart each acknowledged write
//! must be there with its data, and nothing that was never acknowledged may appear half
//! applied: every node found was at least attempted, with exactly the attempted data, and
//! the two nodes of each multi exist together or not at all.
//!
//! The seed is printed; `RK_CRASH_SEED=<n>` replays a run's kill schedule.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// Kill/restart rounds per run.
const ROUNDS: usize = 8;
/// Concurrent writers, each with its own session, so batches really group.
const WRITERS: usize = 4;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[derive(Default)]
struct Ledger {
    /// Every path a writer tried to create, with the data it sent.
    attempted: BTreeMap<String, Vec<u8>>,
    /// The paths whose create (or multi) was acknowledged.
    acknowledged: BTreeSet<String>,
    /// Pairs created by one multi: both or neither may exist.
    pairs: Vec<(String, String)>,
}

async fn write_until_killed(
    connect_string: String,
    writer: usize,
    round: usize,
    ledger: Arc<Mutex<Ledger>>,
) {
    let Ok(client) = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(2))
        .connect(&connect_string)
        .await
    else {
        return;
    };
    for i in 0.. {
        let base = format!("/crash/r{round}w{writer}n{i}");
        let data = format!("{base}:data").into_bytes();
        if i % 4 == 3 {
            let (a, b) = (format!("{base}a"), format!("{base}b"));
            {
                let mut l = ledger.lock().unwrap();
                l.attempted.insert(a.clone(), data.clone());
                l.attempted.insert(b.clone(), data.clone());
                l.pairs.push((a.clone(), b.clone()));
            }
            let mut multi = client.new_multi_writer();
            if multi.add_create(&a, &data, &persistent()).is_err()
                || multi.add_create(&b, &data, &persistent()).is_err()
            {
                return;
            }
            match multi.commit().await {
                Ok(_) => {
                    let mut l = ledger.lock().unwrap();
                    l.acknowledged.insert(a);
                    l.acknowledged.insert(b);
                }
                Err(_) => return,
            }
        } else {
            ledger
                .lock()
                .unwrap()
                .attempted
                .insert(base.clone(), data.clone());
            match client.create(&base, &data, &persistent()).await {
                Ok(_) => {
                    ledger.lock().unwrap().acknowledged.insert(base);
                }
                Err(_) => return,
            }
        }
    }
}

async fn verify(server: &TestServer, ledger: &Ledger, round: usize, seed: u64) {
    let client = connect(server).await;
    let found: BTreeSet<String> = client
        .list_children("/crash")
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("/crash/{c}"))
        .collect();
    for path in &ledger.acknowledged {
        assert!(
            found.contains(path),
            "round {round} (seed {seed}): acknowledged {path} is missing after the crash"
        );
    }
    for path in &found {
        let Some(expected) = ledger.attempted.get(path) else {
            panic!("round {round} (seed {seed}): {path} exists but was never written");
        };
        let (data, stat) = client.get_data(path).await.unwrap();
        assert_eq!(
            &data, expected,
            "round {round} (seed {seed}): {path} has other data than was written"
        );
        assert_eq!(
            stat.version, 0,
            "round {round} (seed {seed}): {path} was modified"
        );
    }
    for (a, b) in &ledger.pairs {
        assert_eq!(
            found.contains(a),
            found.contains(b),
            "round {round} (seed {seed}): multi half applied: {a} and {b} must exist together"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let seed = std::env::var("RK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_u64);
    println!("crash test seed {seed} (RK_CRASH_SEED to replay)");
    let mut rng = XorShift(seed | 1);
    let mut server = TestServer::start_default();
    {
        let client = connect(&server).await;
        client.create("/crash", b"", &persistent()).await.unwrap();
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..ROUNDS {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            writers.push(tokio::spawn(write_until_killed(
                server.connect_string(),
                w,
                round,
                ledger.clone(),
            )));
        }
        // Kill somewhere between 50 and 550 ms into the load: early kills catch the first
        // batches of a fresh segment, late ones a busy group commit.
        let delay = 50 + rng.next() % 500;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
        }
        server.restart();
        let snapshot = {
            let l = ledger.lock().unwrap();
            Ledger {
                attempted: l.attempted.clone(),
                acknowledged: l.acknowledged.clone(),
                pairs: l.pairs.clone(),
            }
        };
        verify(&server, &snapshot, round, seed).await;
    }
    let total = ledger.lock().unwrap().acknowledged.len();
    assert!(
        total > 0,
        "the load acknowledged nothing: the test checked nothing"
    );
    println!("{total} acknowledged writes survived {ROUNDS} SIGKILLs");
}
