//! The sequencer: the one executor that owns every write.
//!
//! Shards forward writes, handshakes and session activity here. The sequencer validates each
//! write against the latest state (its own copy of the tree, to which it applies every
//! transaction as soon as it forms it), assigns the zxid and the time, and streams the
//! committed transaction to every shard in zxid order. Because one thread does all of this,
//! no two writes ever race and no lock is needed. Sessions live here too: handshakes are
//! decided here and sessions expire here, by a replicated close-session transaction.

mod driver;
mod outbox;
mod state;

pub use state::{Batch, Effect, InitialState, Replica, SequencerSettings, SequencerState};

use std::path::PathBuf;

use crate::storage::UringLog;
use ringkeeper_engine::storage::{SegmentPolicy, SegmentPosition, StorageError};

/// Where and how the sequencer keeps its log.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub dir: PathBuf,
    pub force_sync: bool,
    pub policy: SegmentPolicy,
    /// Where recovery says the log continues (None: start a new segment).
    pub position: Option<SegmentPosition>,
}

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use glommio::channels::local_channel;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use tracing::debug;

use crate::messages::{SnapshotPrepared, ToSequencer, ToShard};
use driver::Driver;

/// Milliseconds since the Unix epoch: the ctime/mtime clients see, and the session clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the sequencer's protocol starts with. A standalone server is an ensemble of one:
/// it has no transport (no peer port) and its one voter is its quorum.
pub struct EnsembleSettings {
    pub replica: crate::replica::ReplicaSettings,
    pub start: crate::replica::ReplicaStart,
    /// None: a standalone server, which talks to no peer.
    pub transport: Option<crate::peer::TransportSettings>,
}

/// The sequencer's cross-thread queues.
pub struct Queues {
    /// From each shard.
    pub inbound: Vec<ConnectedReceiver<ToSequencer>>,
    /// To each shard, then to the snapshotter.
    pub outbound: Vec<ConnectedSender<ToShard>>,
    /// From the snapshotter: snapshots prepared for followers.
    pub prepared: ConnectedReceiver<SnapshotPrepared>,
}

/// Runs the sequencer until every shard has hung up.
pub async fn run(
    settings: SequencerSettings,
    storage: StorageSettings,
    initial: InitialState,
    queues: Queues,
    ensemble: EnsembleSettings,
) {
    let Queues {
        inbound,
        outbound,
        prepared,
    } = queues;
    // Each shard's stream must stay in zxid order even though several tasks produce
    // messages: every producer pushes into the shard's queue synchronously (in the order it
    // decides things), and one forwarding task per shard moves that queue onto the
    // cross-thread channel, waiting on it when the shard is slow (see `outbox`).
    let progress = Rc::new(crate::notify::Notify::new());
    // The last queue is the snapshotter's (see `runtime::start`).
    let snapshotter = outbound.len().saturating_sub(1);
    let outbound = outbound
        .into_iter()
        .enumerate()
        .map(|(i, out)| match i == snapshotter {
            true => (out, outbox::Bound::SNAPSHOTTER),
            false => (out, outbox::Bound::SHARD),
        })
        .collect();
    let (outboxes, forwarders) = outbox::Outboxes::start(outbound, progress.clone());
    let tick = Duration::from_millis(settings.tick_ms.max(1) as u64);
    let log = match UringLog::open(
        storage.dir.clone(),
        storage.policy,
        storage.force_sync,
        storage.position.clone(),
    ) {
        Ok(log) => log,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the transaction log");
            crate::shutdown::request();
            return;
        }
    };
    let epochs_dir = ensemble.replica.dir.clone();
    let (protocol, peers, links) = match start_protocol(ensemble).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "cannot join the ensemble");
            crate::shutdown::request();
            return;
        }
    };
    let io = driver::Io {
        released: settings.released.clone(),
        outboxes,
        peers,
        epochs_dir,
    };
    let queue_count = io.outboxes.len();
    let state = match SequencerState::new(settings, initial, queue_count, protocol, now_ms()) {
        Ok(s) => {
            let driver = Rc::new(Driver {
                state: RefCell::new(s),
                io,
                progress,
            });
            // The protocol's start-up effects (epochs, and for an ensemble of one its
            // leadership and the commit of its log tail).
            driver.call(|_| ());
            driver
        }
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
    // The protocol's start-up commands may have logged (a restored tail) or applied.
    let _ = kick.try_send(());
    let peer_tasks = match links {
        Some(links) => peer_tasks(&state, links, &kick),
        None => Vec::new(),
    };
    let committer = glommio::spawn_local(commit_loop(state.clone(), log, kick_rx));
    // Snapshots for followers come back from the snapshotter; their chunks go out from here.
    let snapshots = {
        let state = state.clone();
        let kick = kick.clone();
        glommio::spawn_local(async move {
            while let Some(p) = prepared.recv().await {
                state.call(|s| s.on_snapshot_prepared(p, now_ms()));
                let _ = kick.try_send(());
            }
        })
    };

    let ticker = {
        let state = state.clone();
        let kick = kick.clone();
        glommio::spawn_local(async move {
            // A timer: Apache checks expiry once per tick; half a tick keeps the worst-case
            // lateness of an expiry under one tick. Shutdown does not wait for it.
            let half_tick = tick / 2;
            let mut next_tick = std::time::Instant::now() + half_tick;
            loop {
                let left = next_tick.saturating_duration_since(std::time::Instant::now());
                if crate::shutdown::unless_requested(glommio::timer::sleep(left))
                    .await
                    .is_none()
                {
                    // Tell the shards first: they close their connections and hang up,
                    // which is what ends this executor's readers.
                    state.shutdown();
                    break;
                }
                next_tick += half_tick;
                state.call(|s| s.tick(now_ms()));
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
                // Back-pressure: a full batch takes nothing more until the committer has
                // taken it, and a full shard queue nothing until that shard has caught up.
                // The shard's channel then fills and its connections stop being read.
                if !state.may_take_work() {
                    let _ = kick.try_send(());
                    state.progress.until(|| state.may_take_work()).await;
                }
                state.call(|s| s.handle(msg, now_ms()));
                let _ = kick.try_send(());
            }
        }));
    }
    for r in readers {
        r.await;
    }
    debug!("all shards hung up; sequencer stopping");
    drop(peer_tasks);
    drop(snapshots);
    state.shutdown();
    drop(ticker);
    drop(committer);
    for f in forwarders {
        f.await;
    }
    debug!(
        peak = state.io.outboxes.peak(),
        "sequencer stopped; the longest a shard queue ever was"
    );
}

/// The group-commit loop: takes whatever batch has gathered, makes it durable with one
/// write and one fdatasync, then tells the protocol, which commits what a quorum has.
/// While a batch is being written the next one gathers, so under load every fdatasync
/// carries many transactions.
async fn commit_loop(
    state: Rc<Driver>,
    mut log: UringLog,
    kick: glommio::channels::local_channel::LocalReceiver<()>,
) {
    while kick.recv().await.is_some() {
        loop {
            let batch = state.take_batch();
            let Some(mut batch) = batch else { break };
            if let Err(e) = replicated_log_changes(&mut log, &mut batch).await {
                tracing::error!(error = %e, "cannot change the transaction log as the leader asked; stopping");
                state.call(|s| s.on_log_failed());
                crate::shutdown::request();
                continue;
            }
            if batch.txns > 0 {
                let started = std::time::Instant::now();
                let bytes = std::mem::take(&mut batch.bytes);
                let appended = log.append(bytes, batch.first_zxid).await;
                if appended.is_ok() {
                    let micros = started.elapsed().as_micros() as u64;
                    state.state.borrow_mut().record_batch(micros, batch.txns);
                }
                if let Err(e) = appended {
                    if e.is_disk_full() {
                        tracing::error!(error = %e, "disk full: the transaction log stopped; no more writes are accepted; reads go on until shutdown");
                    } else {
                        tracing::error!(error = %e, "transaction log failed; stopping the server");
                        crate::shutdown::request();
                    }
                    state.call(|s| s.on_log_failed());
                    continue;
                }
            }
            // Persist, then acknowledge: the protocol hears of durability only now, and
            // only then commits and releases what waited for it.
            if let Some(zxid) = batch.last_zxid() {
                state.call(|s| s.on_log_durable(batch.generation, zxid, now_ms()));
            }
        }
    }
}

/// The log changes an ensemble member's protocol asks for, which must reach the disk
/// before the batch's own records: installing the leader's snapshot, cutting the log.
async fn replicated_log_changes(
    log: &mut UringLog,
    batch: &mut state::Batch,
) -> Result<(), StorageError> {
    if let Some((zxid, data)) = batch.install.take() {
        log.replace_with_snapshot(zxid, &data).await?;
    }
    if let Some(after) = batch.truncate_after.take() {
        log.truncate_after(after).await?;
    }
    Ok(())
}

/// How long a member waits for its peer ports to become free at start-up.
const PEER_BIND_PATIENCE: Duration = Duration::from_secs(30);

/// The peer transport of an ensemble member, and how often its protocol ticks.
struct PeerLinks {
    transport: Rc<crate::peer::Transport>,
    inbound: glommio::channels::local_channel::LocalReceiver<crate::peer::Inbound>,
    peer_tick: Duration,
}

/// Starts the peer transport (ensemble members only) and the protocol.
async fn start_protocol(
    ensemble: EnsembleSettings,
) -> Result<
    (
        Protocol,
        Rc<dyn crate::replica::PeerSink>,
        Option<PeerLinks>,
    ),
    String,
> {
    let config = ensemble.replica.protocol.clone();
    let peer_tick = ensemble.replica.peer_tick;
    let (peer, commands) = ringkeeper_replication::Peer::restore(config, ensemble.start.restored)
        .map_err(|e| format!("ensemble configuration: {e}"))?;
    let Some(transport_settings) = ensemble.transport else {
        let replica = Replica::new(ensemble.replica, peer);
        return Ok(((replica, commands), Rc::new(crate::replica::NoPeers), None));
    };
    let (transport, inbound) = bind_transport(transport_settings).await?;
    let transport = Rc::new(transport);
    let sink: Rc<dyn crate::replica::PeerSink> = transport.clone();
    let replica = Replica::new(ensemble.replica, peer);
    let links = PeerLinks {
        transport,
        inbound,
        peer_tick,
    };
    Ok(((replica, commands), sink, Some(links)))
}

/// The protocol and the commands it gave on start-up.
type Protocol = (Replica, Vec<ringkeeper_replication::Command>);

async fn bind_transport(
    settings: crate::peer::TransportSettings,
) -> Result<
    (
        crate::peer::Transport,
        glommio::channels::local_channel::LocalReceiver<crate::peer::Inbound>,
    ),
    String,
> {
    // A member restarted at once may find its peer ports still held by its previous
    // process for a moment (io_uring closes that process's sockets a little after it
    // exits): retry for a while rather than leave the ensemble.
    let deadline = std::time::Instant::now() + PEER_BIND_PATIENCE;
    loop {
        match crate::peer::Transport::start(settings.clone()).await {
            Ok(started) => return Ok(started),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                debug!(error = %e, "peer port busy; retrying");
                // A retry backoff: the port is freed by another process, which tells us
                // nothing when it is done.
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(format!("peer ports: {e}")),
        }
    }
}

/// The tasks that feed the protocol its peers' messages and its ticks. They stop when
/// dropped.
fn peer_tasks(
    state: &Rc<Driver>,
    links: PeerLinks,
    kick: &Rc<glommio::channels::local_channel::LocalSender<()>>,
) -> Vec<glommio::Task<()>> {
    let PeerLinks {
        transport,
        inbound,
        peer_tick,
    } = links;
    let mut tasks = Vec::new();
    {
        let state = state.clone();
        let kick = kick.clone();
        tasks.push(glommio::spawn_local(async move {
            while let Some(msg) = inbound.recv().await {
                // A follower's shards that fall behind stop it taking more from its
                // leader (whose messages then wait in the transport's bounded queue and
                // the socket), as a leader's stop its clients.
                state.progress.until(|| state.io.outboxes.has_room()).await;
                match msg {
                    crate::peer::Inbound::Protocol { from, message } => {
                        state.call(|s| s.on_peer_message(from, message, now_ms()))
                    }
                    crate::peer::Inbound::App { from, data } => {
                        state.call(|s| s.on_peer_app(from, &data, now_ms()))
                    }
                    crate::peer::Inbound::Disconnected { from } => {
                        state.call(|s| s.on_peer_disconnected(from, now_ms()))
                    }
                }
                let _ = kick.try_send(());
            }
        }));
    }
    {
        let state = state.clone();
        let kick = kick.clone();
        tasks.push(glommio::spawn_local(async move {
            // A timer: the protocol's heartbeats and elections count in peer ticks.
            let mut next = std::time::Instant::now() + peer_tick;
            loop {
                let left = next.saturating_duration_since(std::time::Instant::now());
                if crate::shutdown::unless_requested(glommio::timer::sleep(left))
                    .await
                    .is_none()
                {
                    transport.stop();
                    break;
                }
                next += peer_tick;
                state.call(|s| s.peer_tick(now_ms()));
                {
                    let s = state.state.borrow();
                    crate::metrics::quorum::set_leader_view(s.replica().leader_view());
                    crate::metrics::quorum::set_quorum_size(s.replica().voter_count());
                    crate::metrics::quorum::set_protocol_stats(&s.replica().protocol_stats());
                }
                let _ = kick.try_send(());
            }
        }));
    }
    tasks
}
