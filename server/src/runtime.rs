//! Starts the executors and wires their channels.
//!
//! Layout: one sequencer executor and `shards` shard executors, each pinned to a core. On a
//! machine with fewer cores than executors, executors share cores round-robin (the
//! sequencer on `sequencer_core`, the shards on the cores after it), which is what keeps
//! the defaults working on a 2-core machine. Every shard has one bounded channel to the
//! sequencer and one back; nothing else is shared between threads.

use std::net::SocketAddr;
use std::time::Duration;

use glommio::channels::shared_channel;
use glommio::{LocalExecutorBuilder, Placement};
use thiserror::Error;
use tracing::info;

use crate::messages::{SnapshotPrepared, ToSequencer, ToShard};
use crate::sequencer::{self, InitialState, SequencerSettings, StorageSettings};
use crate::shard::{self, ShardSettings};
use crate::snapshotter::{self, SnapshotSettings, Snapshotter};

/// How long start-up waits for a busy client port to be released.
const PORT_PATIENCE: Duration = Duration::from_secs(5);

/// Requests a shard may have in flight to the sequencer before its connections wait.
pub const TO_SEQUENCER_CAPACITY: usize = 4096;
/// Committed transactions the sequencer may have in flight to one shard before it waits.
pub const TO_SHARD_CAPACITY: usize = 16384;
/// Snapshots prepared for followers waiting for the sequencer: one per transfer at most,
/// and transfers are one per member.
pub const SNAPSHOTS_PREPARED_CAPACITY: usize = 4;

#[derive(Debug)]
pub struct RuntimeSettings {
    pub client_addr: SocketAddr,
    /// The secure client port's listeners, already bound (`net::tls::bind_secure_listeners`).
    pub secure: Option<crate::net::tls::SecureListeners>,
    pub shards: usize,
    pub sequencer_core: usize,
    pub shard: ShardSettings,
    pub sequencer: SequencerSettings,
    pub storage: StorageSettings,
    pub snapshots: SnapshotSettings,
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error("client port {addr} is not available: {source}")]
    PortInUse {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start executor {name}: {source}")]
    Executor {
        name: String,
        source: glommio::GlommioError<()>,
    },
}

/// The running executors.
pub struct Runtime {
    handles: Vec<(String, glommio::ExecutorJoinHandle<()>)>,
    pub client_addr: SocketAddr,
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn start(
    settings: RuntimeSettings,
    initial: InitialState,
    ensemble: sequencer::EnsembleSettings,
) -> Result<Runtime, StartError> {
    let addr = settings.client_addr;
    // A server restarted at once may find the port still held for a moment by its previous
    // process (io_uring closes an exited process's sockets a little later). Sharing the port
    // with that dying listener (SO_REUSEPORT) would hand it some new connections, so wait
    // for it to go, a bounded time.
    let deadline = std::time::Instant::now() + PORT_PATIENCE;
    loop {
        match crate::net::listener::probe_free(addr) {
            Ok(()) => break,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(source) => return Err(StartError::PortInUse { addr, source }),
        }
    }
    // Bind every listener before any executor starts, so that a bind error is reported
    // before anything runs, and so that the port accepts connections as soon as we return.
    let mut listeners = Vec::new();
    for _ in 0..settings.shards.max(1) {
        listeners.push(
            crate::net::listener::bind_shared(addr)
                .map_err(|source| StartError::Bind { addr, source })?,
        );
    }
    let client_addr = listeners[0].local_addr().unwrap_or(addr);
    let ncores = cores();
    let mut handles = Vec::new();

    let mut seq_inbound = Vec::new();
    let mut seq_outbound = Vec::new();
    let mut shard_ends = Vec::new();
    // The snapshotter's stream: the last of the sequencer's outbound queues.
    let (to_snap_tx, to_snap_rx) = shared_channel::new_bounded::<ToShard>(TO_SHARD_CAPACITY);
    // Snapshots the snapshotter prepared for followers, back to the sequencer.
    let (prepared_tx, prepared_rx) =
        shared_channel::new_bounded::<SnapshotPrepared>(SNAPSHOTS_PREPARED_CAPACITY);
    for _ in 0..listeners.len() {
        let (to_seq_tx, to_seq_rx) =
            shared_channel::new_bounded::<ToSequencer>(TO_SEQUENCER_CAPACITY);
        let (to_shard_tx, to_shard_rx) = shared_channel::new_bounded::<ToShard>(TO_SHARD_CAPACITY);
        seq_inbound.push(to_seq_rx);
        seq_outbound.push(to_shard_tx);
        shard_ends.push((to_seq_tx, to_shard_rx));
    }

    seq_outbound.push(to_snap_tx);
    let seq_core = settings.sequencer_core % ncores;
    let seq_settings = settings.sequencer.clone();
    let storage = settings.storage.clone();
    // Every shard starts from its own copy of the recovered tree: shared nothing.
    let snapshotter = Snapshotter::new(
        settings.snapshots.clone(),
        initial.tree.independent_copy(),
        &initial.sessions,
        initial.last_zxid,
    );
    let shard_trees: Vec<_> = (0..listeners.len())
        .map(|_| initial.tree.independent_copy())
        .collect();
    // Each shard takes the next secure listener, if there is a secure port.
    let mut secure = settings
        .secure
        .map(|ports| (ports.tls, ports.listeners.into_iter()));
    let last_zxid = initial.last_zxid;
    let name = "rk-sequencer".to_string();
    let h = LocalExecutorBuilder::new(Placement::Fixed(seq_core))
        .name(&name)
        .spawn(move || async move {
            let _guard = park_guard();
            let mut inbound = Vec::new();
            for rx in seq_inbound {
                inbound.push(rx.connect().await);
            }
            let mut outbound = Vec::new();
            for tx in seq_outbound {
                outbound.push(tx.connect().await);
            }
            let prepared = prepared_rx.connect().await;
            let queues = sequencer::Queues {
                inbound,
                outbound,
                prepared,
            };
            sequencer::run(seq_settings, storage, initial, queues, ensemble).await;
        })
        .map_err(|source| StartError::Executor {
            name: name.clone(),
            source,
        })?;
    handles.push((name, h));
    info!(core = seq_core, "sequencer started");

    for (i, ((listener, (to_seq_tx, to_shard_rx)), tree)) in listeners
        .into_iter()
        .zip(shard_ends)
        .zip(shard_trees)
        .enumerate()
    {
        let secure = secure
            .as_mut()
            .and_then(|(tls, ports)| ports.next().map(|l| (l, tls.clone())));
        let core = (seq_core + 1 + i) % ncores;
        let mut shard_settings = settings.shard.clone();
        shard_settings.id = i;
        let name = format!("rk-shard-{i}");
        let h = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&name)
            .spawn(move || async move {
                let _guard = park_guard();
                let to_seq = to_seq_tx.connect().await;
                let from_seq = to_shard_rx.connect().await;
                let listeners = shard::Listeners {
                    plain: listener,
                    secure,
                };
                shard::run(shard_settings, tree, last_zxid, listeners, to_seq, from_seq).await;
            })
            .map_err(|source| StartError::Executor {
                name: name.clone(),
                source,
            })?;
        info!(shard = i, core, "shard started");
        handles.push((name, h));
    }
    // The snapshotter shares a core with the sequencer: it works in bursts, and a burst
    // there delays only itself.
    let name = "rk-snapshotter".to_string();
    let h = LocalExecutorBuilder::new(Placement::Fixed(seq_core))
        .name(&name)
        .spawn(move || async move {
            let _guard = park_guard();
            let from_seq = to_snap_rx.connect().await;
            let to_seq = prepared_tx.connect().await;
            snapshotter::run(snapshotter, from_seq, to_seq).await;
        })
        .map_err(|source| StartError::Executor {
            name: name.clone(),
            source,
        })?;
    handles.push((name, h));
    Ok(Runtime {
        handles,
        client_addr,
    })
}

/// How often every executor wakes, whatever it waits for; see [`park_guard`].
pub const PARK_GUARD: Duration = Duration::from_millis(10);

/// Starts a timer that wakes this executor every [`PARK_GUARD`] until the returned task is
/// dropped (with the executor's main future).
///
/// Nothing waits on it and nothing is checked when it fires: it bounds the cost of two
/// wake-ups glommio 0.9 can lose. An executor can park while a task queue is still
/// runnable, when its preemption timer has fired before it ran anything (fixed upstream in
/// glommio/glommio#53); it then sleeps until its next timer or I/O completion. And
/// connecting a shared channel does not wake a parked peer executor (seen as a server that
/// never starts serving). The timers that polled for shutdown and back-pressure used to hide
/// both; without any, a lost wake-up on the sequencer would last until its next session
/// tick, the likeliest reason some read-throughput points ran at a third of their rate
/// before this guard (docs/benchmarks.md, "Issue 15: sleeps and bounded queues").
fn park_guard() -> glommio::Task<()> {
    glommio::spawn_local(async {
        loop {
            glommio::timer::sleep(PARK_GUARD).await;
        }
    })
}

impl Runtime {
    /// Waits for every executor to finish, at most `timeout` in all. Returns false if some
    /// were still running (the caller exits anyway: all state worth keeping is durable).
    pub fn join(self, timeout: Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (name, h) in self.handles {
                if h.join().is_err() {
                    tracing::error!(executor = %name, "executor panicked");
                } else {
                    tracing::debug!(executor = %name, "executor stopped");
                }
            }
            let _ = tx.send(());
        });
        rx.recv_timeout(timeout).is_ok()
    }
}
