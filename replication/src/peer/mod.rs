//! The peer: one server's side of the protocol. `step` takes one event and returns the
//! commands it caused; all protocol state lives here, all side effects live in the server.

mod election;
mod follower;
mod leader;

use crate::command::{Command, EpochState, Role};
use crate::config::{Config, Membership};
use crate::error::{ConfigError, ProposeError};
use crate::log::Log;
use crate::message::{Entry, Message, Payload, Vote};
use crate::zxid::Zxid;
use crate::ServerId;
use election::Looking;
use follower::Following;
use leader::Leading;

/// Something that happened to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message from another peer arrived.
    Message { from: ServerId, message: Message },
    /// One tick of the server's clock elapsed; every timeout is counted in ticks.
    Tick,
    /// Clients want these payloads replicated, in this order. Accepted payloads come back as
    /// one [`Command::Append`] whose entries carry the zxids they were given; refused ones as
    /// [`Command::Rejected`].
    Propose { payloads: Vec<Payload> },
    /// Every entry the server was asked to append, up to `zxid`, is durable. After a
    /// [`Command::Truncate`] the server must not report writes issued before it.
    Durable { zxid: Zxid },
    /// The server's connection from this peer broke (its process died, or the network
    /// reset the connection). A follower whose leader this is stops following at once
    /// instead of waiting `follower_timeout_ticks`, as a ZooKeeper follower does when its
    /// socket to the leader fails. Only ever a hint: going back to looking is always safe.
    PeerDisconnected { from: ServerId },
    /// The snapshot asked for by [`Command::SendSnapshot`] (for `to`, in handshake `attempt`,
    /// at `zxid`) is ready and `total` bytes long.
    SnapshotReady {
        to: ServerId,
        attempt: u64,
        zxid: Zxid,
        total: u64,
    },
}

/// What the server found on its disk at startup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// The saved epochs; all zero on a fresh data directory.
    pub epochs: EpochState,
    /// The zxid the restored state machine is at (its newest snapshot's), 0 if none.
    pub snapshot_zxid: Zxid,
    /// The durable log entries after the snapshot, in zxid order. They are not known to be
    /// committed: the next leader decides.
    pub entries: Vec<Entry>,
}

/// Counters that show what the protocol went through; the simulator reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub elections: u64,
    pub leaderships: u64,
    pub syncs_diff: u64,
    pub syncs_trunc: u64,
    pub syncs_snap: u64,
    /// Snapshot chunks a leader sent, resent ones included.
    pub snapshot_chunks_sent: u64,
    /// Snapshot transfers a leader gave up (no progress, or the log it had to keep grew
    /// past `snapshot_retain_entries_max`).
    pub snapshot_transfers_abandoned: u64,
    /// Entries this peer proposed as leader (Apache's `proposal_count`).
    pub proposals: u64,
    pub handshakes: u64,
    pub stale_messages: u64,
    /// Times a follower stopped following because its connection from the leader broke.
    pub leader_disconnects: u64,
    /// Times a follower in discovery learned that the peer it chose follows another, and
    /// went back to the election instead of waiting out its follower timeout.
    pub wrong_leader_choices: u64,
    /// Messages that contradict the protocol's invariants (for example a truncation below the
    /// applied point). They are refused; the simulator requires this to stay zero.
    pub violations: u64,
    /// What the most recent violation was.
    pub last_violation: Option<&'static str>,
}

/// What a leader knows of its learners, for Apache's `learners` and `synced_followers`
/// metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderView {
    /// Learners in touch with this leader, at any stage of their handshake.
    pub learners: usize,
    /// Learners synchronized and told they are up to date: the followers that take part in
    /// the broadcast.
    pub synced: usize,
    /// Observers synchronized and receiving the committed stream (Apache's
    /// `synced_observers`).
    pub synced_observers: usize,
}

enum State {
    Looking(Looking),
    Following(Following),
    Leading(Box<Leading>),
}

/// One server's protocol state machine.
pub struct Peer {
    /// The settings, with `voters`, `observers` and `version` always the active (newest
    /// committed) configuration.
    config: Config,
    /// Reconfigurations in the log that are not applied yet, in zxid order. Until they are
    /// committed, every quorum must hold a majority of each of them as well as of the active
    /// configuration (docs/replication.md, "Dynamic reconfiguration").
    pending: Vec<Membership>,
    /// The active configuration changed during this step; `after_reconfig` acts on it once
    /// the step's messages are out.
    reconfigured: bool,
    epochs: EpochState,
    log: Log,
    durable: Zxid,
    applied: Zxid,
    now: u64,
    round: u64,
    attempt_seq: u32,
    role: Role,
    state: State,
    stats: Stats,
    out: Vec<Command>,
}

impl Peer {
    /// A peer on a fresh data directory. The returned commands must be executed first.
    pub fn new(config: Config) -> Result<(Peer, Vec<Command>), ConfigError> {
        Peer::restore(config, Restored::default())
    }

    /// A peer restarted from what the server found on disk. The returned commands (saving the
    /// bumped boot counter, the first votes) must be executed first.
    pub fn restore(
        config: Config,
        restored: Restored,
    ) -> Result<(Peer, Vec<Command>), ConfigError> {
        config.validate()?;
        let mut epochs = restored.epochs;
        epochs.boot = epochs.boot.wrapping_add(1);
        let log = Log::new(restored.snapshot_zxid, restored.entries);
        let durable = log.last();
        let mut peer = Peer {
            config,
            pending: Vec::new(),
            reconfigured: false,
            epochs,
            log,
            durable,
            applied: restored.snapshot_zxid,
            now: 0,
            round: 0,
            attempt_seq: 0,
            role: Role::Looking,
            state: State::Looking(Looking::default()),
            stats: Stats::default(),
            out: Vec::new(),
        };
        peer.out.push(Command::SaveEpochs(peer.epochs));
        let restored_entries = peer.log.range(peer.applied, Zxid::MAX, usize::MAX);
        peer.note_appended(&restored_entries);
        peer.emit_membership();
        peer.out.push(Command::Role(Role::Looking));
        peer.become_looking();
        let commands = std::mem::take(&mut peer.out);
        Ok((peer, commands))
    }

    /// Feeds one event and returns the commands to execute, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Tick => {
                self.now += 1;
                self.on_tick();
            }
            Event::Durable { zxid } => self.on_durable(zxid),
            Event::Propose { payloads } => {
                if let Err(error) = self.propose_entries(&payloads) {
                    let exhausted = error == ProposeError::ZxidExhausted;
                    self.out.push(Command::Rejected { payloads, error });
                    if exhausted {
                        // A new epoch restarts the counter; ZooKeeper forces an election too.
                        self.become_looking();
                    }
                }
            }
            Event::Message { from, message } => self.on_message(from, message),
            Event::SnapshotReady {
                to,
                attempt,
                zxid,
                total,
            } => self.on_snapshot_ready(to, attempt, zxid, total),
            Event::PeerDisconnected { from } => {
                if matches!(&self.state, State::Following(f) if f.leader == from) {
                    self.stats.leader_disconnects += 1;
                    self.become_looking();
                }
                self.on_learner_disconnected(from);
            }
        }
        self.after_reconfig();
        std::mem::take(&mut self.out)
    }

    /// Like `step(Event::Propose)`, but a refusal comes back as an error.
    pub fn propose(&mut self, payloads: Vec<Payload>) -> Result<Vec<Command>, ProposeError> {
        match self.propose_entries(&payloads) {
            Ok(()) => {
                self.after_reconfig();
                Ok(std::mem::take(&mut self.out))
            }
            Err(error) => {
                self.out.clear();
                Err(error)
            }
        }
    }

    pub fn id(&self) -> ServerId {
        self.config.id
    }

    /// Whether this peer is an observer of the active configuration: it follows the committed
    /// stream, never votes, never acknowledges and never leads.
    pub fn is_observer(&self) -> bool {
        self.config.is_observer()
    }

    /// The active configuration: the newest committed one.
    pub fn membership(&self) -> Membership {
        self.config.membership()
    }

    /// The newest reconfiguration in the log that is not committed yet, if any.
    pub fn pending_membership(&self) -> Option<Membership> {
        self.pending.last().cloned()
    }

    /// The serving role last reported with [`Command::Role`].
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader this peer follows or is, if any, established or not.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.state {
            State::Looking(_) => None,
            State::Following(f) => Some(f.leader),
            State::Leading(_) => Some(self.config.id),
        }
    }

    pub fn epochs(&self) -> EpochState {
        self.epochs
    }

    /// The newest zxid in the log, durable or not.
    pub fn last_zxid(&self) -> Zxid {
        self.log.last()
    }

    pub fn applied_zxid(&self) -> Zxid {
        self.applied
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A leader's count of its learners; `None` unless this peer leads.
    pub fn leader_view(&self) -> Option<LeaderView> {
        match &self.state {
            State::Leading(l) => Some(l.view()),
            _ => None,
        }
    }

    /// Checks the peer's invariants; the simulator calls it after every step.
    pub fn validate(&self) -> Result<(), String> {
        self.log.validate()?;
        let (base, last) = (self.log.base(), self.log.last());
        if !(base <= self.applied && self.applied <= last) {
            return Err(format!(
                "applied {:#x} outside log [{base:#x}, {last:#x}]",
                self.applied
            ));
        }
        if self.durable > last {
            return Err(format!(
                "durable {:#x} beyond log end {last:#x}",
                self.durable
            ));
        }
        if self.epochs.current_epoch > self.epochs.accepted_epoch {
            return Err(format!("epochs out of order: {:?}", self.epochs));
        }
        if let State::Leading(l) = &self.state {
            l.validate(self.applied, last)?;
        }
        Ok(())
    }

    fn on_message(&mut self, from: ServerId, message: Message) {
        // Servers outside every configuration we know are heard too: a joiner registers as a
        // learner before the reconfiguration that adds it, and each handler checks the sender.
        if from == self.config.id {
            self.stats.stale_messages += 1;
            return;
        }
        if let Message::Vote { round, vote, state } = message {
            self.on_vote(from, round, vote, state);
            return;
        }
        if matches!(message, Message::FollowerInfo { .. })
            && !matches!(self.state, State::Leading(_))
        {
            // The sender chose us as its leader, but we are not leading: an election race
            // (it decided on a quorum it saw before a better vote reached it). If we still
            // vote for ourselves it counts as a vote for us (it decided on our vote, and
            // votes no more: Apache's out-of-election notifications), which may complete
            // our quorum; otherwise saying what we are sends it back to the election now,
            // not after its follower timeout.
            if self.count_follower_as_vote(from) {
                return;
            }
            self.answer_with_own_state(from);
            return;
        }
        match self.state {
            State::Looking(_) => self.stats.stale_messages += 1,
            State::Following(_) => self.on_follower_message(from, message),
            State::Leading(_) => self.on_leader_message(from, message),
        }
    }

    fn on_tick(&mut self) {
        match self.state {
            State::Looking(_) => self.on_looking_tick(),
            State::Following(_) => self.on_follower_tick(),
            State::Leading(_) => self.on_leader_tick(),
        }
    }

    fn on_durable(&mut self, zxid: Zxid) {
        if zxid <= self.durable {
            return;
        }
        // A report about an entry that is no longer in the log belongs to writes a truncation
        // undid; taking it would acknowledge data that is not on disk.
        if zxid > self.log.last() || !self.log.contains(zxid) {
            self.stats.stale_messages += 1;
            return;
        }
        self.durable = zxid;
        match self.state {
            State::Looking(_) => {}
            State::Following(_) => self.on_follower_durable(),
            State::Leading(_) => self.maybe_commit(),
        }
    }

    fn self_vote(&self) -> Vote {
        Vote {
            epoch: self.epochs.current_epoch,
            zxid: self.log.last(),
            leader: self.config.id,
        }
    }

    fn send(&mut self, to: ServerId, message: Message) {
        self.out.push(Command::Send { to, message });
    }

    fn broadcast(&mut self, message: Message) {
        for to in self.all_voters() {
            if to != self.config.id {
                self.send(to, message.clone());
            }
        }
    }

    /// The voters of the active configuration and of every pending one, sorted, each once:
    /// the peers an election involves.
    fn all_voters(&self) -> Vec<ServerId> {
        let mut ids: Vec<ServerId> = self.config.voters.clone();
        for m in &self.pending {
            ids.extend(&m.voters);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether `id` votes here: a voter of the active configuration or of a pending one.
    fn votes(&self, id: ServerId) -> bool {
        self.config.voters.contains(&id) || self.pending.iter().any(|m| m.is_voter(id))
    }

    /// Whether this peer takes part in elections and promises epochs.
    fn can_vote(&self) -> bool {
        !self.config.is_observer() && self.votes(self.config.id)
    }

    /// Whether `ids` is a quorum: a majority of the active configuration's voters and of
    /// every pending configuration's (Zab's reconfiguration rule: until a reconfiguration
    /// commits, both the old and the new configuration must agree).
    fn is_quorum(&self, ids: &[ServerId]) -> bool {
        let active = self
            .config
            .voters
            .iter()
            .filter(|v| ids.contains(v))
            .count();
        active > self.config.voters.len() / 2 && self.pending.iter().all(|m| m.is_majority(ids))
    }

    /// Reports the configurations to the server.
    fn emit_membership(&mut self) {
        self.out.push(Command::Membership {
            active: self.config.membership(),
            pending: self.pending.last().cloned(),
        });
    }

    /// The membership an entry changes to, if it is a reconfiguration.
    fn membership_in(&self, entry: &Entry) -> Option<Membership> {
        let mut m = self.config.membership_reader.read(&entry.payload)?;
        m.version = entry.zxid;
        Some(m)
    }

    /// Notes reconfigurations among entries just added to the log.
    fn note_appended(&mut self, entries: &[Entry]) {
        let floor = self.applied.max(self.config.version);
        let mut changed = false;
        for entry in entries.iter().filter(|e| e.zxid > floor) {
            if let Some(m) = self.membership_in(entry) {
                if crate::planted::activate_on_log() {
                    // The planted bug of the simulator's tests (never in a release build).
                    self.activate(m);
                    continue;
                }
                self.pending.push(m);
                changed = true;
            }
        }
        if changed {
            self.emit_membership();
        }
    }

    /// Makes `m` the active configuration (a committed reconfiguration, or a leader's newer
    /// one given with a sync).
    fn activate(&mut self, m: Membership) {
        if m.version <= self.config.version {
            return;
        }
        self.pending.retain(|p| p.version > m.version);
        self.config.voters = m.voters;
        self.config.observers = m.observers;
        self.config.version = m.version;
        self.reconfigured = true;
        self.emit_membership();
    }

    /// After a step that changed the active configuration: a leader that no longer votes
    /// steps down (the remaining voters elect its successor), and its learners whose kind
    /// changed start over; a follower whose leader no longer votes looks for another, and one
    /// whose own kind changed starts a new handshake.
    fn after_reconfig(&mut self) {
        // Acting on one change may commit (and activate) another.
        while std::mem::take(&mut self.reconfigured) {
            match self.state {
                State::Leading(_) => self.leader_after_reconfig(),
                State::Following(_) => self.follower_after_reconfig(),
                State::Looking(_) => {}
            }
        }
    }

    fn set_role(&mut self, role: Role) {
        if self.role != role {
            self.role = role;
            self.out.push(Command::Role(role));
        }
    }

    fn save_epochs(&mut self) {
        self.out.push(Command::SaveEpochs(self.epochs));
    }

    fn append(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        for entry in &entries {
            self.log.push(entry.clone());
        }
        self.out.push(Command::Append {
            entries: entries.clone(),
        });
        self.note_appended(&entries);
    }

    fn truncate_after(&mut self, zxid: Zxid) {
        if zxid >= self.log.last() {
            return;
        }
        self.log.truncate_after(zxid);
        self.durable = self.durable.min(zxid);
        self.out.push(Command::Truncate { after: zxid });
        let before = self.pending.len();
        self.pending.retain(|m| m.version <= zxid);
        if self.pending.len() != before {
            self.emit_membership();
        }
    }

    /// Applies committed entries up to `zxid`, or up to the log's end if that is sooner.
    fn apply_upto(&mut self, zxid: Zxid) {
        let target = zxid.min(self.log.last());
        if target <= self.applied {
            return;
        }
        let entries = self.log.range(self.applied, target, usize::MAX);
        self.applied = target;
        self.out.push(Command::Apply { entries });
        self.trim_log();
        // A reconfiguration takes effect when it is committed (applied), on every server.
        while self.pending.first().is_some_and(|m| m.version <= target) {
            let m = self.pending.remove(0);
            self.activate(m);
        }
    }

    fn violation(&mut self, what: &'static str) {
        self.stats.violations += 1;
        self.stats.last_violation = Some(what);
    }

    fn next_attempt(&mut self) -> u64 {
        self.attempt_seq = self.attempt_seq.wrapping_add(1);
        ((self.epochs.boot as u64) << 32) | self.attempt_seq as u64
    }
}
