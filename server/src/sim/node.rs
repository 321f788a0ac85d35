//! One simulated server: its real `SequencerState`, its real `ShardState`s and its log, written
//! by the real `LogWriter` over a power-loss-simulating `SimDir`. The methods here are the
//! simulator's executor: they carry out the state machines' effects as `sequencer::driver`,
//! the sequencer's `commit_loop` and `shard::exec` do (in order; persist, then send; epochs
//! before what follows), and hand what leaves the server (client frames, peer messages) to
//! the world as [`Out`]s.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringkeeper_engine::storage::{block_on, recover, LogWriter, SegmentPolicy, SimDir};
use ringkeeper_engine::Zxid;
use ringkeeper_replication::{Message, Peer, ServerId};

use crate::messages::{ConnId, ShardId, SnapshotPrepared, ToSequencer, ToShard};
use crate::replica::role::ServingRole;
use crate::replica::{epochs, ReplicaSettings};
use crate::sequencer::{Batch, Effect, Replica, SequencerSettings, SequencerState};
use crate::shard::backlog::ConnBacklog;
use crate::shard::{Effect as ShardEffect, HandshakeOutcome, ShardState};
use crate::snapshotter::{SnapshotSettings, Snapshotter};
use crate::startup;
use crate::watermark::Watermark;

use super::config;

/// What leaves a server.
#[derive(Debug)]
pub enum Out {
    /// Reply bytes for a client connection.
    Frame(ShardId, ConnId, Vec<u8>),
    /// The server closed (and forgot) a client connection.
    Closed(ShardId, ConnId),
    Peer(ServerId, PeerMsg),
    FreshLink(ServerId),
    /// The snapshotter prepared a follower's snapshot; the world hands it to the sequencer
    /// after a while, as the real snapshotter's channel does.
    SnapshotPrepared(SnapshotPrepared),
    /// The server stopped itself; in a correct server this is a bug or a divergence.
    Fatal(String),
}

/// A message between members: the protocol's, or one of the server's own (`replica::app`).
#[derive(Debug, Clone)]
pub enum PeerMsg {
    Protocol(Message),
    App(Vec<u8>),
}

/// A server that is up: what a process holds in memory.
pub struct Running {
    pub seq: SequencerState,
    pub shards: Vec<ShardState>,
    log: LogWriter,
    /// Messages from the shards to the sequencer, in the order they were sent.
    pub seq_inbox: VecDeque<ToSequencer>,
    /// The sequencer's stream to each shard.
    pub shard_inbox: Vec<VecDeque<ToShard>>,
    /// The group-commit batch being written and synced.
    pub in_flight: Option<Batch>,
    backlogs: HashMap<(ShardId, ConnId), Rc<ConnBacklog>>,
    /// Handshakes waiting for their shard to catch up with the client's last zxid.
    pub catching_up: Vec<(ShardId, ConnId, Zxid, i64)>,
    pub role: ServingRole,
    /// The snapshotter's copy of the tree, fed the committed stream (the sequencer's last
    /// queue) as the real one is; it writes no files here, but prepares the snapshots a
    /// leader sends to far-behind followers.
    snapshotter: Snapshotter,
}

pub struct Node {
    pub id: ServerId,
    /// The servers of the run (1 or 3).
    servers: usize,
    /// Whether the shards take reconfig requests (`reconfigEnabled`).
    reconfig: bool,
    /// The configuration this member starts with: zoo.cfg's, then the last one it wrote
    /// down (`Effect::WriteDynamicConfig`). Survives crashes, as the files do: the real
    /// write is `replace_file`'s, durable before it returns.
    pub start_config: config::StartConfig,
    pub disk: SimDir,
    pub run: Option<Running>,
    /// Bumped by every crash: events meant for an earlier process are dropped.
    pub incarnation: u64,
    /// This server's clock runs this far ahead of the simulated time (clock jumps).
    pub skew_ms: i64,
    log_window: usize,
}

/// The simulated wall clock starts here, so that session deadlines look like real ones.
const EPOCH_MS: i64 = 1_700_000_000_000;

impl Node {
    pub fn new(id: ServerId, servers: usize, reconfig: bool, log_window: usize) -> Node {
        Node {
            id,
            servers,
            reconfig,
            start_config: config::StartConfig::initial(servers),
            log_window,
            disk: SimDir::new(),
            run: None,
            incarnation: 0,
            skew_ms: 0,
        }
    }

    pub fn clock_ms(&self, sim_ms: u64) -> i64 {
        EPOCH_MS + sim_ms as i64 + self.skew_ms
    }

    pub fn instant(base: Instant, sim_ms: u64) -> Instant {
        base + Duration::from_millis(sim_ms)
    }

    fn standalone(&self) -> bool {
        self.servers == 1
    }

    /// As `startup::set_config_node`: the member's view, from the configuration it starts
    /// with (none on a standalone server).
    fn set_config_node(&self, tree: &mut ringkeeper_engine::tree::DataTree, now_ms: i64) {
        if self.standalone() {
            return;
        }
        let start = &self.start_config;
        let text = crate::config::membership_text(&start.members(), start.version);
        tree.set_config_data(text.as_bytes(), start.version as Zxid, now_ms);
    }

    /// Starts the server from its disk, as `main` does: recovery, the epoch file, the
    /// snapshot plus log tail, then the protocol and the state machines.
    pub fn start(&mut self, sim_ms: u64, out: &mut Vec<Out>) -> Result<(), String> {
        let now_ms = self.clock_ms(sim_ms);
        let recovered = recover(&mut self.disk).map_err(|e| format!("recovery: {e}"))?;
        let position = recovered.next_segment.clone();
        drop(recovered);
        let epochs = epochs::load(&self.disk).map_err(|e| format!("epoch file: {e}"))?;
        let (mut initial, restored) = startup::restore_from(&self.disk, epochs, self.id)?;
        self.set_config_node(&mut initial.tree, now_ms);
        let (replica, commands) = self.replica(restored)?;
        let released = Watermark::new(initial.last_zxid);
        let shards = (0..config::SHARDS)
            .map(|i| {
                let view = self.start_config.reconfig_view(self.reconfig, self.servers);
                let settings = config::shard(i, released.clone(), view);
                ShardState::new(settings, initial.tree.independent_copy(), initial.last_zxid)
            })
            .collect();
        let settings: SequencerSettings = config::sequencer(self.id, released);
        let snapshotter = Snapshotter::new(
            SnapshotSettings {
                dir: PathBuf::new(),
                snap_count: u64::MAX,
                retain: 1,
            },
            initial.tree.independent_copy(),
            &initial.sessions,
            initial.last_zxid,
        );
        let seq = SequencerState::new(
            settings,
            initial,
            config::SHARDS + 1,
            (replica, commands),
            now_ms,
        )
        .map_err(|e| format!("sequencer: {e}"))?;
        let policy = SegmentPolicy {
            segment_bytes_max: config::SEGMENT_BYTES_MAX,
            preallocate_bytes: config::SEGMENT_BYTES_MAX,
        };
        let role = if self.standalone() {
            ServingRole::Standalone
        } else {
            ServingRole::Looking
        };
        let mut run = Running {
            seq,
            shards,
            log: LogWriter::new(policy, true, position),
            seq_inbox: VecDeque::new(),
            shard_inbox: (0..config::SHARDS).map(|_| VecDeque::new()).collect(),
            in_flight: None,
            backlogs: HashMap::new(),
            catching_up: Vec::new(),
            role,
            snapshotter,
        };
        for s in &mut run.shards {
            s.set_serving(role != ServingRole::Looking);
        }
        self.run = Some(run);
        // The protocol's start-up effects, as `sequencer::run` carries them out.
        self.seq_call(out, |_| ());
        Ok(())
    }

    /// The simulated members have no zoo.cfg: what a member wrote down is kept here, and a
    /// restarted member comes back with it.
    fn write_config(&mut self, version: u64, lines: Vec<String>) {
        self.start_config = config::StartConfig { version, lines };
    }

    /// The protocol restored from the disk, as the member's configuration says.
    fn replica(
        &self,
        restored: ringkeeper_replication::Restored,
    ) -> Result<(Replica, Vec<ringkeeper_replication::Command>), String> {
        let protocol = config::protocol(self.id, &self.start_config, self.log_window);
        let (peer, commands) = Peer::restore(protocol.clone(), restored)
            .map_err(|e| format!("protocol restore: {e}"))?;
        let tick = Duration::from_millis(config::PEER_TICK_MS);
        let settings = ReplicaSettings::new(protocol, tick, PathBuf::new());
        Ok((Replica::new(settings, peer), commands))
    }

    /// Runs one call into the sequencer, then carries out its effects in order
    /// (`sequencer::driver::Driver::call`).
    pub fn seq_call(&mut self, out: &mut Vec<Out>, f: impl FnOnce(&mut SequencerState)) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        f(&mut run.seq);
        let effects = run.seq.take_effects();
        for effect in effects {
            if !self.carry_out(effect, out) {
                return;
            }
        }
    }

    /// Carries out one sequencer effect; false stops the rest of the list.
    fn carry_out(&mut self, effect: Effect, out: &mut Vec<Out>) -> bool {
        let Some(run) = self.run.as_mut() else {
            return false;
        };
        match effect {
            Effect::ToShard(shard, msg) if shard == config::SHARDS => {
                // The snapshotter's queue, taken at once (its order is all that matters).
                match msg {
                    ToShard::Commit { txn, .. } => {
                        if let Err(line) = run.snapshotter.apply(&txn) {
                            out.push(Out::Fatal(format!("snapshotter: {line}")));
                            return false;
                        }
                    }
                    ToShard::Reset { snapshot, zxid } => run.snapshotter.reset(&snapshot, zxid),
                    ToShard::SnapshotFor { to, attempt, zxid } => {
                        if run.snapshotter.last_zxid() != zxid {
                            out.push(Out::Fatal(format!(
                                "snapshot for {to} asked at 0x{zxid:x}, the snapshotter is at 0x{:x}",
                                run.snapshotter.last_zxid()
                            )));
                            return false;
                        }
                        out.push(Out::SnapshotPrepared(SnapshotPrepared {
                            to,
                            attempt,
                            zxid,
                            data: run.snapshotter.encode().into(),
                        }));
                    }
                    _ => {}
                }
            }
            Effect::ToShard(shard, msg) => {
                if let Some(q) = run.shard_inbox.get_mut(shard) {
                    q.push_back(msg);
                }
            }
            Effect::Released(zxid) => run.seq_settings_released().raise(zxid),
            Effect::PeerSend(to, m) => out.push(Out::Peer(to, PeerMsg::Protocol(m))),
            Effect::PeerApp(to, data) => out.push(Out::Peer(to, PeerMsg::App(data))),
            Effect::FreshLink(to) => out.push(Out::FreshLink(to)),
            Effect::SaveEpochs(e) => {
                // Durable before anything after it, as the driver's synchronous save is.
                if let Err(err) = epochs::save(&mut self.disk, &e) {
                    run.seq.on_fatal();
                    out.push(Out::Fatal(format!("cannot save the epoch file: {err}")));
                    return false;
                }
            }
            // Kept as the files would keep it (their round trip: config::tests).
            Effect::WriteDynamicConfig { version, servers } => self.write_config(version, servers),
            Effect::SetRole(role) => {
                run.role = role;
                for s in &mut run.shards {
                    s.set_serving(role != ServingRole::Looking);
                }
            }
            Effect::Fatal(reason) => {
                out.push(Out::Fatal(format!("sequencer: {reason}")));
                return false;
            }
        }
        true
    }

    /// Carries out the effects a shard call left (`shard::exec::Shard::carry_out`); the
    /// connections it closed are forgotten after, as their reader tasks do.
    pub fn shard_effects(&mut self, shard: ShardId, out: &mut Vec<Out>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let effects = run.shards[shard].take_effects();
        let mut gone = Vec::new();
        for effect in effects {
            match effect {
                ShardEffect::Frame(conn, bytes) => {
                    // The simulated socket takes the bytes at once.
                    if let Some(b) = run.backlogs.get(&(shard, conn)) {
                        b.drained(bytes.len());
                    }
                    out.push(Out::Frame(shard, conn, bytes));
                }
                ShardEffect::Close(conn) => gone.push(conn),
                ShardEffect::Handshake(conn, HandshakeOutcome::Refused) => gone.push(conn),
                ShardEffect::Handshake(_, HandshakeOutcome::Accepted) => {}
                ShardEffect::Gathered(..) => {}
                ShardEffect::Fatal(line) => out.push(Out::Fatal(line)),
            }
        }
        for conn in gone {
            self.forget_conn(shard, conn, out);
        }
    }

    /// Removes a connection from its shard; its session's sequencer hears of it.
    pub fn forget_conn(&mut self, shard: ShardId, conn: ConnId, out: &mut Vec<Out>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if run.backlogs.remove(&(shard, conn)).is_none() {
            return;
        }
        if let Some(msg) = run.shards[shard].remove_conn(conn) {
            run.seq_inbox.push_back(msg);
        }
        // remove_conn may leave a Close of its own; the connection is already gone.
        let _ = run.shards[shard].take_effects();
        out.push(Out::Closed(shard, conn));
    }

    /// A client's handshake frame (without its length prefix) arriving at `shard`.
    pub fn open_conn(
        &mut self,
        shard: ShardId,
        frame: &[u8],
        now_ms: i64,
        out: &mut Vec<Out>,
    ) -> Option<ConnId> {
        let run = self.run.as_mut()?;
        let backlog = ConnBacklog::new(&run.shards[shard].backlog);
        let begun = run.shards[shard].begin_handshake(frame, None, backlog.clone(), now_ms);
        let Ok(h) = begun else {
            self.shard_effects(shard, out);
            return None;
        };
        run.backlogs.insert((shard, h.conn), backlog);
        if run.shards[shard].last_zxid() < h.last_zxid_seen {
            // conn.rs waits (up to CATCH_UP_WAIT) for the shard to catch up.
            let deadline = now_ms + config::CATCH_UP_WAIT_MS;
            run.catching_up
                .push((shard, h.conn, h.last_zxid_seen, deadline));
        } else if let Some(msg) = run.shards[shard].connect_message(h.conn) {
            run.seq_inbox.push_back(msg);
        }
        self.shard_effects(shard, out);
        Some(h.conn)
    }

    /// Handshakes whose shard caught up go on to the sequencer; those past their deadline
    /// are refused, as conn.rs refuses a client that saw a newer zxid.
    pub fn check_catch_up(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let waiting = std::mem::take(&mut run.catching_up);
        let mut refused = Vec::new();
        for (shard, conn, zxid, deadline) in waiting {
            if run.shards[shard].last_zxid() >= zxid {
                if let Some(msg) = run.shards[shard].connect_message(conn) {
                    run.seq_inbox.push_back(msg);
                }
            } else if now_ms >= deadline {
                refused.push((shard, conn));
            } else {
                run.catching_up.push((shard, conn, zxid, deadline));
            }
        }
        for (shard, conn) in refused {
            self.forget_conn(shard, conn, out);
        }
    }

    /// A request frame (without its length prefix) on a connection.
    pub fn request(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        frame: &[u8],
        now: Instant,
        out: &mut Vec<Out>,
    ) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if !run.backlogs.contains_key(&(shard, conn)) {
            return;
        }
        match run.shards[shard].on_request(conn, frame, now) {
            Ok(Some(msg)) => run.seq_inbox.push_back(msg),
            Ok(None) => {}
            Err(_) => {
                self.shard_effects(shard, out);
                self.forget_conn(shard, conn, out);
                return;
            }
        }
        self.shard_effects(shard, out);
    }

    /// The shard applies the next message of the sequencer's stream.
    pub fn shard_step(&mut self, shard: ShardId, now: Instant, out: &mut Vec<Out>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let Some(msg) = run.shard_inbox[shard].pop_front() else {
            return;
        };
        if let Some(reply) = run.shards[shard].on_sequencer(msg, now) {
            run.seq_inbox.push_back(reply);
        }
        self.shard_effects(shard, out);
    }

    /// The sequencer reads the next message from its shards.
    pub fn seq_step(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        let Some(msg) = self.run.as_mut().and_then(|r| r.seq_inbox.pop_front()) else {
            return;
        };
        self.seq_call(out, |s| s.handle(msg, now_ms));
    }

    /// Sessions active on the shards since the last report (the shards' toucher task).
    pub fn touch(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let touched: Vec<_> = run.shards.iter_mut().map(|s| s.take_touched()).collect();
        for sessions in touched {
            if !sessions.is_empty() {
                self.seq_call(out, |q| q.handle(ToSequencer::Touch { sessions }, now_ms));
            }
        }
    }

    /// The committer takes the open batch, if it is idle and there is one.
    pub fn commit_begin(&mut self) -> bool {
        let Some(run) = self.run.as_mut() else {
            return false;
        };
        if run.in_flight.is_some() {
            return false;
        }
        run.in_flight = run.seq.take_batch();
        run.in_flight.is_some()
    }

    /// The batch in flight is written and synced with the real log writer, then the
    /// protocol hears it is durable (`sequencer::commit_loop`).
    pub fn commit_end(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        let Some(mut batch) = self.run.as_mut().and_then(|r| r.in_flight.take()) else {
            return;
        };
        if let Err(e) = self.write_batch(&mut batch) {
            self.seq_call(out, |s| s.on_log_failed());
            out.push(Out::Fatal(format!("log write failed: {e}")));
            return;
        }
        if let Some(zxid) = batch.last_zxid() {
            let generation = batch.generation;
            self.seq_call(out, |s| s.on_log_durable(generation, zxid, now_ms));
        }
    }

    /// The log changes and records of one batch, through the shipping writer.
    fn write_batch(&mut self, batch: &mut Batch) -> Result<(), String> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let disk = &mut self.disk;
        if let Some((zxid, data)) = batch.install.take() {
            block_on(run.log.replace_with_snapshot(disk, zxid, &data))
                .map_err(|e| e.to_string())?;
        }
        if let Some(after) = batch.truncate_after.take() {
            block_on(run.log.truncate_after(disk, after)).map_err(|e| e.to_string())?;
        }
        if batch.txns > 0 {
            let bytes = std::mem::take(&mut batch.bytes);
            block_on(run.log.append(disk, bytes, batch.first_zxid)).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Power fails. With `torn`, the batch in flight was being written: the writer gets
    /// `fail_at` mutating calls in, then the disk keeps a random part of what was not synced.
    pub fn crash(&mut self, torn: Option<u64>, rng: &mut ringkeeper_engine::storage::SimRng) {
        use ringkeeper_engine::storage::CrashMode;
        if let (Some(fail_at), Some(mut batch)) =
            (torn, self.run.as_mut().and_then(|r| r.in_flight.take()))
        {
            self.disk.fail_after(fail_at);
            let _ = self.write_batch(&mut batch);
        }
        let mode = if torn.is_some() {
            CrashMode::Torn
        } else {
            CrashMode::LoseUnsynced
        };
        self.disk.crash(mode, rng);
        // A fresh disk handle: no injected failure outlives the process.
        self.disk.fail_after(u64::MAX);
        self.run = None;
        self.incarnation += 1;
    }
}

impl Running {
    fn seq_settings_released(&self) -> Watermark {
        self.shards[0].settings.released.clone()
    }
}
