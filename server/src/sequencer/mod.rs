//! The sequencer: the one executor that owns every write.
//!
//! Shards forward writes, handshakes and session activity here. The sequencer validates each
//! write against the latest state (its own copy of the tree, to which it applies every
//! transaction as soon as it forms it), assigns the zxid and the time, and streams the
//! committed transaction to every shard in zxid order. Because one thread does all of this,
//! no two writes ever race and no lock is needed. Sessions live here too: handshakes are
//! decided here and sessions expire here, by a replicated close-session transaction.

mod state;

pub use state::{InitialState, SequencerSettings, SequencerState};

use std::path::PathBuf;

use crate::storage::log::{LogError, LogPosition, LogWriter};
use ringkeeper_engine::storage::SegmentPolicy;

/// Where and how the sequencer keeps its log.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub dir: PathBuf,
    pub force_sync: bool,
    pub policy: SegmentPolicy,
    /// Where recovery says the log continues (None: start a new segment).
    pub position: Option<LogPosition>,
}

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use glommio::channels::local_channel::{self, LocalSender};
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use tracing::{debug, warn};

use crate::messages::{ToSequencer, ToShard};

/// Milliseconds since the Unix epoch: the ctime/mtime clients see, and the session clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the sequencer until every shard has hung up.
pub async fn run(
    settings: SequencerSettings,
    storage: StorageSettings,
    initial: InitialState,
    inbound: Vec<ConnectedReceiver<ToSequencer>>,
    outbound: Vec<ConnectedSender<ToShard>>,
) {
    // Each shard's stream must stay in zxid order even though several tasks produce
    // messages: every producer pushes into an unbounded local queue synchronously (in the
    // order it decides things), and one forwarding task per shard moves that queue onto
    // the cross-thread channel, waiting on it when the shard is slow.
    let mut queues: Vec<LocalSender<ToShard>> = Vec::new();
    let mut forwarders = Vec::new();
    for out in outbound {
        let (tx, rx) = local_channel::new_unbounded::<ToShard>();
        queues.push(tx);
        forwarders.push(glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                if out.send(msg).await.is_err() {
                    break;
                }
            }
        }));
    }

    let tick = Duration::from_millis(settings.tick_ms.max(1) as u64);
    let log = match LogWriter::open(
        storage.dir.clone(),
        storage.policy,
        storage.force_sync,
        storage.position.clone(),
    )
    .await
    {
        Ok(log) => log,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the transaction log");
            crate::shutdown::request();
            return;
        }
    };
    let state = match SequencerState::new(settings, initial, queues, now_ms()) {
        Ok(s) => Rc::new(RefCell::new(s)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the sequencer");
            crate::shutdown::request();
            return;
        }
    };

    // Whoever adds to the open batch kicks the committer; a kick while it is busy is
    // remembered by the channel's single slot, so no batch is ever left behind.
    let (kick_tx, kick_rx) = local_channel::new_bounded::<()>(1);
    let kick = Rc::new(kick_tx);
    let committer = glommio::spawn_local(commit_loop(state.clone(), log, kick_rx));

    let ticker = {
        let state = state.clone();
        let kick = kick.clone();
        glommio::spawn_local(async move {
            // Apache checks expiry once per tick; half a tick keeps the worst-case lateness
            // of an expiry under one tick.
            // The stop flag is checked far more often than a tick so that shutdown is prompt.
            let step = (tick / 2).min(Duration::from_millis(50));
            let mut next_tick = std::time::Instant::now() + tick / 2;
            loop {
                glommio::timer::sleep(step).await;
                if crate::shutdown::requested() {
                    // Tell the shards first: they close their connections and hang up,
                    // which is what ends this executor's readers.
                    state.borrow_mut().shutdown();
                    break;
                }
                if std::time::Instant::now() < next_tick {
                    continue;
                }
                next_tick += tick / 2;
                state.borrow_mut().tick(now_ms());
                let _ = kick.try_send(());
            }
        })
    };

    let mut readers = Vec::new();
    for rx in inbound {
        let state = state.clone();
        let kick = kick.clone();
        readers.push(glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                // Backpressure: a full batch takes nothing more until the committer has
                // taken it. The shard's channel then fills and its connections wait.
                while state.borrow().batch_full() {
                    let _ = kick.try_send(());
                    glommio::timer::sleep(Duration::from_micros(200)).await;
                }
                state.borrow_mut().handle(msg, now_ms());
                let _ = kick.try_send(());
            }
        }));
    }
    for r in readers {
        r.await;
    }
    debug!("all shards hung up; sequencer stopping");
    state.borrow_mut().shutdown();
    drop(ticker);
    drop(committer);
    for f in forwarders {
        f.await;
    }
    if state.borrow().queues_open() {
        warn!("sequencer stopped with shard queues still open");
    }
}

/// The group-commit loop: takes whatever batch has gathered, makes it durable with one
/// write and one fdatasync, then releases its replies and transactions to the shards.
/// While a batch is being written the next one gathers, so under load every fdatasync
/// carries many transactions.
async fn commit_loop(
    state: Rc<RefCell<SequencerState>>,
    mut log: LogWriter,
    kick: glommio::channels::local_channel::LocalReceiver<()>,
) {
    while kick.recv().await.is_some() {
        loop {
            let batch = state.borrow_mut().take_batch();
            let Some(batch) = batch else { break };
            if batch.txns > 0 {
                let started = std::time::Instant::now();
                let appended = log.append(batch.bytes, batch.first_zxid).await;
                if appended.is_ok() {
                    let micros = started.elapsed().as_micros() as u64;
                    state.borrow_mut().record_batch(micros, batch.txns);
                }
                if let Err(e) = appended {
                    match e {
                        LogError::DiskFull { .. } => {
                            tracing::error!(error = %e, "transaction log stopped: no more writes are accepted; reads go on until shutdown");
                        }
                        _ => {
                            tracing::error!(error = %e, "transaction log failed; stopping the server");
                            crate::shutdown::request();
                        }
                    }
                    {
                        let mut st = state.borrow_mut();
                        st.poison();
                        let refusals = state::refuse_undurable(batch.msgs);
                        st.release(refusals);
                    }
                    continue;
                }
            }
            state.borrow_mut().release(batch.msgs);
        }
    }
}
