//! A session shard: one pinned executor that accepts client connections on the shared
//! client port, holds its own full copy of the data tree, serves reads from it, forwards
//! writes to the sequencer, and applies the sequencer's committed stream in zxid order,
//! firing the watches of its own connections.

// layering: a module here imports only modules after it in this order, so they form no
// circle: conn, exec, stats, state, replies, refusal, counters, backlog, hangup. `conn` runs
// a connection's tasks over `exec`, which carries out the effects of `state`; `stats`
// answers four-letter words from `state`; what a read answers is `ringkeeper_engine::read`.
// The test `layering` below keeps the order true.
pub(crate) mod backlog;
mod conn;
mod counters;
mod exec;
mod hangup;
mod refusal;
mod replies;
mod state;
#[cfg(test)]
mod state_tests;
mod stats;

pub use counters::{Asker, FourLetterContext};
pub use state::{Effect, Handshake, HandshakeOutcome, ShardSettings, ShardState};

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use tracing::{debug, info, warn};

use crate::messages::{ToSequencer, ToShard};

/// Gather reports waiting for the sequencer. Gathers are rare (a server-wide four-letter
/// word); a full queue means the sequencer is saturated, and dropping a report only makes
/// one answer partial after `GATHER_WAIT`.
const REPORTS_QUEUED_MAX: usize = 64;

/// How long an accept loop pauses after a failed accept (out of descriptors) before it
/// tries again.
pub(crate) const ACCEPT_RETRY: Duration = Duration::from_millis(10);

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

    // The committed stream: applied strictly in the order the sequencer sent it. The
    // applier never waits on the sequencer, which is what lets the sequencer wait on it (see
    // `sequencer::outbox`): its one reply, this shard's part of a gather, goes through a
    // small queue of its own, dropped when full (the asker then answers without it).
    let (report_tx, report_rx) = local_channel::new_bounded::<ToSequencer>(REPORTS_QUEUED_MAX);
    let reporter = {
        let to_seq = to_seq.clone();
        glommio::spawn_local(async move {
            while let Some(report) = report_rx.recv().await {
                if to_seq.send(report).await.is_err() {
                    break;
                }
            }
        })
    };
    let applier = {
        let state = state.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = from_seq.recv().await {
                let stop = matches!(msg, ToShard::Shutdown);
                let reply = state.borrow_mut().on_sequencer(msg);
                if let Some(reply) = reply {
                    if report_tx.try_send(reply).is_err() {
                        debug!(shard = id, "gather report dropped: too many queued");
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
            // A timer; shutdown ends it at once.
            let half_tick = Duration::from_millis((tick_ms.max(2) / 2) as u64);
            let period = half_tick.min(Duration::from_millis(100));
            loop {
                let slept = crate::shutdown::unless_requested(glommio::timer::sleep(period)).await;
                if slept.is_none() {
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
        let accepted = crate::shutdown::unless_requested(listener.accept()).await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                conn::spawn_conn(&state, conn::serve(state.clone(), to_seq.clone(), stream));
            }
            Some(Err(e)) => {
                // Running out of descriptors must not kill the shard; a retry backoff (no
                // event says a descriptor was freed), then retry.
                warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(ACCEPT_RETRY).await;
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
    reporter.await;
}

#[cfg(test)]
mod layering {
    /// Top to bottom: each module may import only the ones below it.
    const ORDER: [&str; 9] = [
        "conn", "exec", "stats", "state", "replies", "refusal", "counters", "backlog", "hangup",
    ];
    const SOURCES: [(&str, &str); 9] = [
        ("conn", include_str!("conn.rs")),
        ("exec", include_str!("exec.rs")),
        ("stats", include_str!("stats.rs")),
        ("state", include_str!("state.rs")),
        ("replies", include_str!("replies.rs")),
        ("refusal", include_str!("refusal.rs")),
        ("counters", include_str!("counters.rs")),
        ("backlog", include_str!("backlog.rs")),
        ("hangup", include_str!("hangup.rs")),
    ];

    fn rank(module: &str) -> Option<usize> {
        ORDER.iter().position(|m| *m == module)
    }

    #[test]
    fn shard_modules_import_each_other_in_one_direction() {
        for (name, text) in SOURCES {
            let own = rank(name).expect("every source is in the order");
            for (at, _) in text.match_indices("super::") {
                let used: String = text[at + "super::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(r) = rank(&used) {
                    assert!(
                        r > own,
                        "shard::{name} imports shard::{used}, which is above it"
                    );
                }
            }
        }
    }
}
