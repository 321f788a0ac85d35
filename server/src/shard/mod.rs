//! A session shard: one pinned executor that accepts client connections on the shared
//! client port, holds its own full copy of the data tree, serves reads from it, forwards
//! writes to the sequencer, and applies the sequencer's committed stream in zxid order,
//! firing the watches of its own connections.

mod backlog;
mod conn;
mod exec;
mod hangup;
mod refusal;
mod replies;
mod state;
#[cfg(test)]
mod state_tests;
mod stats;

pub use state::{ShardSettings, ShardState};
pub use stats::{Asker, FourLetterContext};

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use tracing::{debug, info, warn};

use crate::messages::{ToSequencer, ToShard};

/// A shard's own listeners on the client port and, when configured, the secure client port.
pub struct Listeners {
    pub plain: std::net::TcpListener,
    pub secure: Option<(std::net::TcpListener, crate::net::tls::TlsServer)>,
}

/// Runs one shard until shutdown.
pub async fn run(
    settings: ShardSettings,
    tree: ringkeeper_engine::tree::DataTree,
    last_zxid: ringkeeper_engine::Zxid,
    listeners: Listeners,
    to_seq: ConnectedSender<ToSequencer>,
    from_seq: ConnectedReceiver<ToShard>,
) {
    let id = settings.id;
    let tick_ms = settings.tick_ms;
    let listener = crate::net::listener::into_glommio(listeners.plain);
    let state = Rc::new(RefCell::new(exec::Shard::new(ShardState::new(
        settings, tree, last_zxid,
    ))));
    let to_seq = Rc::new(to_seq);

    // The committed stream: applied strictly in the order the sequencer sent it.
    let applier = {
        let state = state.clone();
        let to_seq = to_seq.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = from_seq.recv().await {
                let stop = matches!(msg, ToShard::Shutdown);
                let reply = state.borrow_mut().on_sequencer(msg);
                if let Some(reply) = reply {
                    if to_seq.send(reply).await.is_err() {
                        break;
                    }
                }
                if stop {
                    break;
                }
            }
        })
    };

    // Session activity goes to the sequencer twice per tick, batched, so that pings cost
    // the sequencer nothing per request.
    let toucher = {
        let state = state.clone();
        let to_seq = to_seq.clone();
        glommio::spawn_local(async move {
            let half_tick = Duration::from_millis((tick_ms.max(2) / 2) as u64);
            loop {
                glommio::timer::sleep(half_tick.min(Duration::from_millis(100))).await;
                if crate::shutdown::requested() {
                    break;
                }
                let sessions = state.borrow_mut().take_touched();
                if !sessions.is_empty()
                    && to_seq.send(ToSequencer::Touch { sessions }).await.is_err()
                {
                    break;
                }
            }
        })
    };

    // The secure client port, when configured: its own accept loop, same state.
    let secure = listeners.secure.map(|(listener, tls)| {
        let listener = crate::net::listener::into_glommio(listener);
        glommio::spawn_local(conn::accept_secure(
            state.clone(),
            to_seq.clone(),
            listener,
            tls,
        ))
    });
    info!(shard = id, "shard serving");
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            while !crate::shutdown::requested() {
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                conn::spawn_conn(&state, conn::serve(state.clone(), to_seq.clone(), stream));
            }
            Some(Err(e)) => {
                // Running out of descriptors must not kill the shard; back off and retry.
                warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    debug!(shard = id, "shard stopping");
    drop(listener);
    if let Some(secure) = secure {
        secure.await;
    }
    state.borrow_mut().close_all();
    // Connections not yet registered (before or inside their handshake) end here too.
    state.borrow_mut().hangups.hang_up_all();
    toucher.await;
    drop(to_seq);
    applier.await;
}
