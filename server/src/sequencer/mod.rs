//! The sequencer: the one executor that owns every write.
//!
//! Shards forward writes, handshakes and session activity here. The sequencer validates each
//! write against the latest state (its own copy of the tree, to which it applies every
//! transaction as soon as it forms it), assigns the zxid and the time, and streams the
//! committed transaction to every shard in zxid order. Because one thread does all of this,
//! no two writes ever race and no lock is needed. Sessions live here too: handshakes are
//! decided here and sessions expire here, by a replicated close-session transaction.

mod state;

pub use state::{SequencerSettings, SequencerState};

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
    let state = match SequencerState::new(settings, queues, now_ms()) {
        Ok(s) => Rc::new(RefCell::new(s)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the sequencer");
            crate::shutdown::request();
            return;
        }
    };

    let ticker = {
        let state = state.clone();
        glommio::spawn_local(async move {
            // Apache checks expiry once per tick; half a tick keeps the worst-case lateness
            // of an expiry under one tick.
            loop {
                glommio::timer::sleep(tick / 2).await;
                if !state.borrow_mut().tick(now_ms()) {
                    break;
                }
            }
        })
    };

    let mut readers = Vec::new();
    for rx in inbound {
        let state = state.clone();
        readers.push(glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                state.borrow_mut().handle(msg, now_ms());
            }
        }));
    }
    for r in readers {
        r.await;
    }
    debug!("all shards hung up; sequencer stopping");
    state.borrow_mut().shutdown();
    drop(ticker);
    for f in forwarders {
        f.await;
    }
    if state.borrow().queues_open() {
        warn!("sequencer stopped with shard queues still open");
    }
}
