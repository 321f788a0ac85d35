//! Client load for multi-server tests: clients that write unique nodes and record every
//! acknowledged write, so that a test can check none was lost across elections, restarts
//! and migrations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zookeeper_client::{Client, CreateMode, Error};

/// Session timeout of the test clients; sessions must survive elections and restarts.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(15);
/// One client operation; an operation that takes longer is counted as not acknowledged.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the given connect string, retrying until `wait` runs out.
pub async fn try_connect(connect: &str, wait: Duration) -> Result<Client, String> {
    let deadline = Instant::now() + wait;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(8),
            Client::connector()
                .with_session_timeout(SESSION_TIMEOUT)
                .with_connection_timeout(Duration::from_secs(3))
                .connect(connect),
        )
        .await;
        let error = match attempt {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "connect timed out".to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("connecting to {connect}: {error}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Several clients writing unique nodes under a directory, recording every acknowledged
/// write. Odd writers create sequential nodes, even ones named nodes. A write that fails or
/// times out is not acknowledged and is only counted by error kind.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    errors: Arc<Mutex<BTreeMap<String, usize>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(connect: String, writers: usize, dir: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(BTreeMap::new()));
        let tasks = (0..writers)
            .map(|writer| {
                let (stop, acked, errors) = (stop.clone(), acked.clone(), errors.clone());
                let connect = connect.clone();
                tokio::spawn(async move {
                    write_loop(writer, connect, dir, stop, acked, errors).await;
                })
            })
            .collect();
        Load {
            stop,
            acked,
            errors,
            tasks,
        }
    }

    /// When each acknowledged write was acknowledged, in order.
    pub fn acked_times(&self) -> Vec<Instant> {
        self.acked
            .lock()
            .unwrap()
            .iter()
            .map(|(_, at)| *at)
            .collect()
    }

    pub fn acked_since(&self, since: Instant) -> usize {
        self.acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, at)| *at >= since)
            .count()
    }

    /// Waits until at least `count` more writes are acknowledged after `since`.
    pub async fn wait_acked_since(&self, since: Instant, count: usize, wait: Duration, what: &str) {
        let deadline = Instant::now() + wait;
        while self.acked_since(since) < count {
            if Instant::now() >= deadline {
                panic!(
                    "{what}: only {} writes acknowledged in {wait:?} (errors so far: {:?})",
                    self.acked_since(since),
                    self.errors.lock().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the writers and returns the names of the acknowledged nodes.
    pub async fn finish(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a load writer panicked");
        }
        let acked: BTreeSet<String> = self
            .acked
            .lock()
            .unwrap()
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        eprintln!(
            "load: {} acknowledged writes, errors {:?}",
            acked.len(),
            self.errors.lock().unwrap()
        );
        acked
    }
}

async fn write_loop(
    writer: usize,
    connect: String,
    dir: &'static str,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    errors: Arc<Mutex<BTreeMap<String, usize>>>,
) {
    let count_error = |kind: String| *errors.lock().unwrap().entry(kind).or_insert(0) += 1;
    let sequential = writer % 2 == 1;
    let mode = if sequential {
        CreateMode::PersistentSequential
    } else {
        CreateMode::Persistent
    };
    let options = mode.with_acls(zookeeper_client::Acls::anyone_all());
    let mut counter = 0u64;
    'session: while !stop.load(Ordering::SeqCst) {
        let client = match try_connect(&connect, Duration::from_secs(2)).await {
            Ok(client) => client,
            Err(_) => {
                count_error("connect".to_string());
                continue 'session;
            }
        };
        while !stop.load(Ordering::SeqCst) {
            counter += 1;
            let name = if sequential {
                format!("s{writer}-")
            } else {
                format!("w{writer}-{counter}")
            };
            let path = format!("{dir}/{name}");
            match tokio::time::timeout(OP_TIMEOUT, client.create(&path, b"x", &options)).await {
                Ok(Ok((_, sequence))) => {
                    let child = if sequential {
                        format!("{name}{sequence}")
                    } else {
                        name
                    };
                    acked.lock().unwrap().push((child, Instant::now()));
                }
                Ok(Err(error @ (Error::SessionExpired | Error::ClientClosed))) => {
                    count_error(format!("{error:?}"));
                    continue 'session;
                }
                Ok(Err(Error::NodeExists)) => {
                    // A retried create whose first attempt did land; not acknowledged to us.
                    count_error("NodeExists".to_string());
                }
                Ok(Err(error)) => {
                    count_error(format!("{error:?}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => count_error("timeout".to_string()),
            }
        }
    }
}
