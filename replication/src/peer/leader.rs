//! The leader's side of Zab. Phase 1 (discovery): gather a quorum of followers, pick an epoch
//! above every epoch they accepted, and have a quorum acknowledge it. Phase 2
//! (synchronization): bring each follower's log to the leader's history by diff, truncation
//! or snapshot; once a quorum has that history durable it is committed. Phase 3 (broadcast):
//! propose, count durable acks, commit at a quorum, pipelined.

use super::{Peer, State};
use crate::command::{Command, Role};
use crate::error::ProposeError;
use crate::message::{Entry, Message, Payload, SyncConfig, SyncMode};
use crate::zxid::{self, Zxid, EPOCH_MAX};
use crate::ServerId;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of FollowerInfo to pick the epoch.
    Discovery,
    /// NewEpoch sent; waiting for a quorum of AckEpoch.
    EpochAcks,
    /// Followers are being synchronized; waiting for a quorum to have the history durable.
    Sync,
    /// Established: accepting proposals.
    Broadcast,
}

#[derive(Debug)]
struct Synced {
    current_epoch: u32,
    last_zxid: Zxid,
    /// Our last zxid when the sync was sent: acking it is ZooKeeper's NEWLEADER ack.
    newleader_zxid: Zxid,
    /// The follower's newest ack in this handshake; none until its first, so that a
    /// follower that has not processed the sync is never counted.
    acked: Option<Zxid>,
    acked_at_heartbeat: Option<Zxid>,
    uptodate_sent: bool,
}

/// A snapshot on its way to a learner (Zab phase 2, snapshot case). The sync that continues
/// from it is sent once every byte is acknowledged; until then the log is kept from `zxid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub(crate) current_epoch: u32,
    /// The follower's last zxid when it asked to be synchronized.
    pub(crate) last_zxid: Zxid,
    /// The snapshot's point: our applied zxid when the transfer started.
    pub(crate) zxid: Zxid,
    /// The snapshot's length, once the server reported it ready.
    pub(crate) total: Option<u64>,
    /// Bytes sent (the next chunk starts here) and bytes the follower acknowledged.
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    /// Whether any ack arrived (a snapshot of 0 bytes still needs one).
    pub(crate) ack_seen: bool,
    /// The tick of the last progress: ready, or an ack that moved forward.
    pub(crate) progress_at: u64,
    /// The tick of the last (re)send, for the retry timer.
    pub(crate) sent_at: u64,
}

/// What a transfer step asks for: chunks to send, and whether it is complete.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TransferStep {
    /// `(offset, len)` of each chunk to send, in order.
    pub(crate) chunks: Vec<(u64, u64)>,
    pub(crate) complete: bool,
}

impl Transfer {
    pub(crate) fn new(current_epoch: u32, last_zxid: Zxid, zxid: Zxid, now: u64) -> Transfer {
        Transfer {
            current_epoch,
            last_zxid,
            zxid,
            total: None,
            sent: 0,
            acked: 0,
            ack_seen: false,
            progress_at: now,
            sent_at: now,
        }
    }

    /// Sends what the window allows: chunks of `chunk` bytes, at most `window` of them
    /// beyond the acknowledged point. A snapshot of 0 bytes is one empty chunk.
    fn fill(&mut self, chunk: u64, window: u64, now: u64) -> Vec<(u64, u64)> {
        let Some(total) = self.total else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if total == 0 {
            if self.sent == 0 && !self.ack_seen {
                self.sent_at = now;
                out.push((0, 0));
            }
            return out;
        }
        let limit = self
            .acked
            .saturating_add(chunk.saturating_mul(window))
            .min(total);
        while self.sent < limit {
            let len = chunk.min(total - self.sent);
            out.push((self.sent, len));
            self.sent += len;
        }
        if !out.is_empty() {
            self.sent_at = now;
        }
        out
    }

    /// The server has the snapshot: start sending.
    pub(crate) fn ready(&mut self, total: u64, chunk: u64, window: u64, now: u64) -> TransferStep {
        if self.total.is_some() {
            return TransferStep::default();
        }
        self.total = Some(total);
        self.progress_at = now;
        TransferStep {
            chunks: self.fill(chunk, window, now),
            complete: false,
        }
    }

    /// The follower holds the first `received` bytes.
    pub(crate) fn ack(&mut self, received: u64, chunk: u64, window: u64, now: u64) -> TransferStep {
        let Some(total) = self.total else {
            return TransferStep::default();
        };
        let received = received.min(total);
        if received > self.acked || !self.ack_seen {
            self.progress_at = now;
        }
        self.ack_seen = true;
        self.acked = self.acked.max(received);
        // A follower that lost chunks acks the same count again: it still needs the bytes
        // after it; what was sent beyond is resent when the window reaches it.
        if self.sent < self.acked {
            self.sent = self.acked;
        }
        if self.acked == total {
            return TransferStep {
                chunks: Vec::new(),
                complete: true,
            };
        }
        TransferStep {
            chunks: self.fill(chunk, window, now),
            complete: false,
        }
    }

    /// A tick: after `retry` ticks without a send or progress, go back to the acknowledged
    /// point and send the window again (chunks or acks were lost). Returns `None` when the
    /// transfer has made no progress for `stall` ticks and should be given up.
    pub(crate) fn tick(
        &mut self,
        chunk: u64,
        window: u64,
        retry: u64,
        stall: u64,
        now: u64,
    ) -> Option<Vec<(u64, u64)>> {
        if now.saturating_sub(self.progress_at) > stall {
            return None;
        }
        if self.total.is_none() || now.saturating_sub(self.sent_at.max(self.progress_at)) < retry {
            return Some(Vec::new());
        }
        self.sent = self.acked;
        if self.total == Some(0) {
            self.ack_seen = false;
        }
        Some(self.fill(chunk, window, now))
    }
}

#[derive(Debug)]
enum Stage {
    Info,
    EpochAcked { current_epoch: u32, last_zxid: Zxid },
    Snapshot(Transfer),
    Synced(Synced),
}

#[derive(Debug)]
struct Learner {
    /// An observer: synchronized only once the leader is established, sent committed
    /// proposals only, and never counted for a quorum.
    observer: bool,
    attempt: u64,
    accepted_epoch: u32,
    stage: Stage,
    last_heard: u64,
    /// The connection it registered on is gone (`Event::PeerDisconnected`): nothing sent
    /// on it can arrive any more, so its next FollowerInfo starts over whatever its attempt
    /// number. A member restarted with a wiped data directory counts its attempts from a
    /// lower boot number than before, and was refused as stale until the leader gave up on
    /// the silent learner (about a second in the catch-up benchmark).
    link_lost: bool,
}

#[derive(Debug)]
pub(super) struct Leading {
    phase: Phase,
    epoch: u32,
    started: u64,
    last_heartbeat: u64,
    learners: BTreeMap<ServerId, Learner>,
    establish_zxid: Zxid,
    committed: Zxid,
    next_counter: u32,
}

impl Leading {
    pub(super) fn view(&self) -> super::LeaderView {
        super::LeaderView {
            learners: self.learners.len(),
            synced: self.synced(false).count(),
            synced_observers: self.synced(true).count(),
        }
    }

    /// The learners of one kind that are synchronized and told they may serve.
    fn synced(&self, observers: bool) -> impl Iterator<Item = ServerId> + '_ {
        self.learners
            .iter()
            .filter(move |(_, l)| l.observer == observers)
            .filter(|(_, l)| matches!(&l.stage, Stage::Synced(s) if s.uptodate_sent))
            .map(|(id, _)| *id)
    }

    /// The voters that are synchronized (at any point after their sync was sent): the ones
    /// proposals and commits go to.
    fn synced_voters(&self) -> Vec<ServerId> {
        self.learners
            .iter()
            .filter(|(_, f)| !f.observer && matches!(f.stage, Stage::Synced(_)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Learners that are not observers (voters, and members of no configuration yet).
    fn participants(&self) -> impl Iterator<Item = (ServerId, &Learner)> + '_ {
        self.learners
            .iter()
            .filter(|(_, l)| !l.observer)
            .map(|(id, l)| (*id, l))
    }

    pub(super) fn validate(&self, applied: Zxid, last: Zxid) -> Result<(), String> {
        if self.phase == Phase::Broadcast {
            if self.committed != applied {
                return Err(format!(
                    "leader committed {:#x} but applied {applied:#x}",
                    self.committed
                ));
            }
            if self.committed > last {
                return Err(format!("leader committed {:#x} beyond log", self.committed));
            }
        }
        Ok(())
    }
}

/// Borrows only the state field, so that the log and the outbox stay usable alongside.
fn leading(state: &mut State) -> Option<&mut Leading> {
    match state {
        State::Leading(l) => Some(l),
        _ => None,
    }
}

/// The leader's state again, in a step that found this peer leading a moment ago and has
/// changed no state since (the borrow checker makes it look twice). Not leading here is a
/// bug in this crate, never something a peer sent, so it stops the program as an assertion.
fn still_leading(state: &mut State) -> &mut Leading {
    match state {
        State::Leading(l) => l,
        State::Looking(_) | State::Following(_) => {
            unreachable!("invariant: a leader's step found it not leading anymore")
        }
    }
}

impl Peer {
    pub(super) fn become_leader(&mut self) {
        self.stats.leaderships += 1;
        self.state = State::Leading(Box::new(Leading {
            phase: Phase::Discovery,
            epoch: 0,
            started: self.now,
            last_heartbeat: self.now,
            learners: BTreeMap::new(),
            establish_zxid: 0,
            committed: self.applied,
            next_counter: 1,
        }));
        self.check_discovery();
    }

    pub(super) fn on_leader_message(&mut self, from: ServerId, message: Message) {
        let now = self.now;
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        if let Some(learner) = l.learners.get_mut(&from) {
            learner.last_heard = now;
        }
        match message {
            Message::FollowerInfo {
                attempt,
                accepted_epoch,
                accepted_leader,
                last_zxid: _,
            } => self.on_follower_info(from, attempt, accepted_epoch, accepted_leader),
            Message::AckEpoch {
                epoch,
                attempt,
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(from, epoch, attempt, current_epoch, last_zxid),
            Message::Ack { epoch, zxid } => self.on_ack(from, epoch, zxid),
            Message::SnapshotAck {
                epoch,
                attempt,
                zxid,
                received,
            } => self.on_snapshot_ack(from, epoch, attempt, zxid, received),
            _ => self.stats.stale_messages += 1,
        }
    }

    /// A learner's connection to us ended (`Event::PeerDisconnected`). It stays a learner (a
    /// new connection from the same process goes on where this one stopped), but its next
    /// FollowerInfo is taken whatever its attempt (`Learner::link_lost`).
    pub(super) fn on_learner_disconnected(&mut self, from: ServerId) {
        if let Some(learner) = leading(&mut self.state).and_then(|l| l.learners.get_mut(&from)) {
            learner.link_lost = true;
        }
    }

    fn on_follower_info(
        &mut self,
        from: ServerId,
        attempt: u64,
        accepted_epoch: u32,
        accepted_leader: Option<ServerId>,
    ) {
        let now = self.now;
        let id = self.config.id;
        let observer = self.config.observers.contains(&from);
        let votes = self.votes(from);
        let member =
            votes || self.config.is_member(from) || self.pending.iter().any(|m| m.is_member(from));
        let non_members_max = self.config.non_member_learners_max;
        let non_members = self.leading_ref().map_or(0, |l| {
            l.learners
                .keys()
                .filter(|k| {
                    !self.config.is_member(**k) && !self.pending.iter().any(|m| m.is_member(**k))
                })
                .count()
        });
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        if !member && !l.learners.contains_key(&from) && non_members >= non_members_max {
            // A limit on learners that belong to no configuration (joiners, removed servers).
            self.stats.stale_messages += 1;
            return;
        }
        // Only a voter's promise counts: an observer or a joiner promises nothing (it
        // follows any leader), so it has no say in this.
        let promised_elsewhere = votes
            && (accepted_epoch > l.epoch
                || (accepted_epoch == l.epoch
                    && accepted_leader != Some(id)
                    && accepted_leader != Some(from)));
        if l.phase != Phase::Discovery && promised_elsewhere {
            // The follower promised our epoch (or a newer one) to another leader and will
            // refuse ours. Only a new election, which picks an epoch above its promise, can
            // bring it back; without this it would stay out of the ensemble for good.
            self.become_looking();
            return;
        }
        let learner = Learner {
            observer,
            attempt,
            accepted_epoch,
            stage: Stage::Info,
            last_heard: now,
            link_lost: false,
        };
        match l.learners.get(&from) {
            Some(existing) if attempt < existing.attempt && !existing.link_lost => {
                self.stats.stale_messages += 1;
                return;
            }
            Some(existing) if attempt == existing.attempt => {}
            _ => {
                l.learners.insert(from, learner);
            }
        }
        if l.phase == Phase::Discovery {
            self.check_discovery();
        } else {
            let epoch = l.epoch;
            self.send(from, Message::NewEpoch { epoch, attempt });
        }
    }

    /// Zab phase 1: with a quorum of followers known, pick an epoch none of them accepted.
    fn check_discovery(&mut self) {
        let own_accepted = self.epochs.accepted_epoch;
        let Some(l) = self.leading_ref() else {
            return;
        };
        if l.phase != Phase::Discovery {
            return;
        }
        let mut known: Vec<ServerId> = l
            .participants()
            .map(|(id, _)| id)
            .filter(|id| self.votes(*id))
            .collect();
        let highest = l
            .participants()
            .filter(|(id, _)| self.votes(*id))
            .map(|(_, f)| f.accepted_epoch)
            .fold(own_accepted, u32::max);
        known.push(self.config.id);
        if !self.is_quorum(&known) {
            return;
        }
        let l = still_leading(&mut self.state);
        if highest >= EPOCH_MAX {
            // No epoch left to pick; staying out of the way is all a leader can do.
            self.become_looking();
            return;
        }
        let epoch = highest + 1;
        l.epoch = epoch;
        l.phase = Phase::EpochAcks;
        let invitations: Vec<(ServerId, u64)> =
            l.learners.iter().map(|(id, f)| (*id, f.attempt)).collect();
        self.epochs.accepted_epoch = epoch;
        self.epochs.accepted_leader = Some(self.config.id);
        self.save_epochs();
        for (to, attempt) in invitations {
            self.send(to, Message::NewEpoch { epoch, attempt });
        }
        self.check_epoch_quorum();
    }

    fn on_ack_epoch(
        &mut self,
        from: ServerId,
        epoch: u32,
        attempt: u64,
        current_epoch: u32,
        last_zxid: Zxid,
    ) {
        let ours = (self.epochs.current_epoch, self.log.last());
        // Only a voter of the newest configuration our log holds can have committed entries
        // we lack: anything committed after that configuration's entry needs a majority of
        // it, and a later configuration would be held by a majority of it (of which our
        // epoch quorum holds one). A removed server's longer history is uncommitted.
        let votes = match self.pending.last() {
            Some(latest) => latest.is_voter(from),
            None => self.config.voters.contains(&from),
        };
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let known = l.learners.get(&from).map(|f| (f.attempt, f.observer));
        let Some((_, observer)) = known.filter(|(a, _)| *a == attempt) else {
            self.stats.stale_messages += 1;
            return;
        };
        if l.phase == Phase::Discovery || epoch != l.epoch {
            self.stats.stale_messages += 1;
            return;
        }
        // An observer's log holds committed proposals only, which every leader has: its
        // history can never be newer than ours.
        if votes && !observer && l.phase == Phase::EpochAcks && (current_epoch, last_zxid) > ours {
            // The follower has a newer history than ours, so we may lack committed proposals:
            // we must not lead. The next election prefers that follower. Once a quorum acked
            // the epoch no older leader can commit anything, so later joiners need no check.
            self.become_looking();
            return;
        }
        let phase = l.phase;
        if let Some(learner) = l.learners.get_mut(&from) {
            if Self::repeat_to_ignore(learner) {
                return;
            }
            if !matches!(learner.stage, Stage::Synced(_)) {
                learner.stage = Stage::EpochAcked {
                    current_epoch,
                    last_zxid,
                };
            }
        }
        if phase == Phase::EpochAcks {
            self.check_epoch_quorum();
        } else if observer && phase != Phase::Broadcast {
            // An observer is synchronized with committed history only; it waits for the
            // establishment (`on_established`).
        } else {
            // Established already, or synchronizing: a late joiner (or a follower whose sync
            // was lost, asking again) is synchronized right away.
            self.sync_learner(from);
        }
    }

    /// Whether an AckEpoch from this learner is a repeat to leave unanswered: its snapshot
    /// is on the way (retransmission and the stall timer take care of losses), or it acked
    /// its sync in this handshake, so it is past phase 2 and the repeat was still on its way
    /// (answering it from its original point, which may have left the log by now, would
    /// send it a second snapshot for nothing).
    fn repeat_to_ignore(learner: &Learner) -> bool {
        match &learner.stage {
            Stage::Snapshot(_) => true,
            Stage::Synced(s) => s.acked.is_some(),
            _ => false,
        }
    }

    /// End of Zab phase 1: a quorum promised to follow this epoch; start phase 2.
    fn check_epoch_quorum(&mut self) {
        let last = self.log.last();
        let applied = self.applied;
        let Some(l) = self.leading_ref() else {
            return;
        };
        if l.phase != Phase::EpochAcks {
            return;
        }
        let mut acked: Vec<ServerId> = l
            .participants()
            .filter(|(_, f)| !matches!(f.stage, Stage::Info))
            .map(|(id, _)| id)
            .collect();
        acked.push(self.config.id);
        if !self.is_quorum(&acked) {
            return;
        }
        let l = still_leading(&mut self.state);
        l.phase = Phase::Sync;
        l.establish_zxid = last;
        l.committed = applied;
        l.next_counter = 1;
        let ready: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, f)| !f.observer && !matches!(f.stage, Stage::Info))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.sync_learner(id);
        }
        self.maybe_commit();
    }

    /// Zab phase 2: choose how to bring one follower to our history and send it.
    fn sync_learner(&mut self, id: ServerId) {
        let applied = self.applied;
        let (current_epoch, f_last, attempt, epoch, committed, previous, observer) = {
            let Some(l) = leading(&mut self.state) else {
                return;
            };
            let (epoch, committed) = (l.epoch, l.committed);
            let Some(learner) = l.learners.get_mut(&id) else {
                return;
            };
            let (current_epoch, f_last, previous) = match &learner.stage {
                Stage::Info | Stage::Snapshot(_) => return,
                Stage::EpochAcked {
                    current_epoch,
                    last_zxid,
                } => (*current_epoch, *last_zxid, None),
                Stage::Synced(s) => (
                    s.current_epoch,
                    s.last_zxid,
                    Some((s.acked, s.uptodate_sent)),
                ),
            };
            (
                current_epoch,
                f_last,
                learner.attempt,
                epoch,
                committed,
                previous,
                learner.observer,
            )
        };
        // An observer is given committed history only (it is synchronized once the leader
        // is established, when everything up to `committed` is final), so its log is always
        // a prefix of the committed history and it never has anything to truncate or ack.
        let last = if observer { committed } else { self.log.last() };
        let (mode, prev) = if f_last >= last {
            if f_last == last {
                (SyncMode::Diff, last)
            } else {
                (SyncMode::Trunc, last)
            }
        } else {
            match self.log.floor(f_last) {
                Some(t) if t == f_last => (SyncMode::Diff, t),
                Some(t) => (SyncMode::Trunc, t),
                None => (SyncMode::Snap, applied),
            }
        };
        match mode {
            SyncMode::Diff => self.stats.syncs_diff += 1,
            SyncMode::Trunc => self.stats.syncs_trunc += 1,
            SyncMode::Snap => self.stats.syncs_snap += 1,
        }
        if mode == SyncMode::Snap {
            self.start_snapshot(id, (epoch, attempt), (current_epoch, f_last));
            return;
        }
        self.send_sync(id, mode, prev, (current_epoch, f_last), previous);
    }

    /// Zab phase 2, snapshot case: has the server prepare a snapshot at the applied point.
    /// The sync follows once it is acknowledged (`finish_transfer`); the log is kept from
    /// that point until then (`trim_log`).
    fn start_snapshot(
        &mut self,
        id: ServerId,
        (epoch, attempt): (u32, u64),
        (current_epoch, f_last): (u32, Zxid),
    ) {
        let (applied, now) = (self.applied, self.now);
        if let Some(learner) = leading(&mut self.state).and_then(|l| l.learners.get_mut(&id)) {
            learner.stage = Stage::Snapshot(Transfer::new(current_epoch, f_last, applied, now));
        }
        self.out.push(Command::SendSnapshot {
            to: id,
            epoch,
            attempt,
            zxid: applied,
            follower_zxid: f_last,
            log_base: self.log.base(),
        });
    }

    /// Sends the sync (diff, truncation, or what followed a snapshot) and records the
    /// learner as synchronized.
    fn send_sync(
        &mut self,
        id: ServerId,
        mode: SyncMode,
        prev: Zxid,
        (current_epoch, f_last): (u32, Zxid),
        previous: Option<(Option<Zxid>, bool)>,
    ) {
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let (epoch, committed) = (l.epoch, l.committed);
        let Some(learner) = l.learners.get(&id) else {
            return;
        };
        let (attempt, observer) = (learner.attempt, learner.observer);
        let last = if observer { committed } else { self.log.last() };
        let entries = self.log.range(prev, last, usize::MAX);
        let config = Some(SyncConfig {
            active: self.config.membership(),
            observer,
        });
        self.send(
            id,
            Message::Sync {
                epoch,
                attempt,
                mode,
                prev,
                entries,
                committed,
                config,
            },
        );
        let (acked, uptodate_sent) = previous.unwrap_or((None, observer));
        if let Some(learner) = leading(&mut self.state).and_then(|l| l.learners.get_mut(&id)) {
            learner.stage = Stage::Synced(Synced {
                current_epoch,
                last_zxid: f_last,
                newleader_zxid: last,
                acked,
                acked_at_heartbeat: acked,
                uptodate_sent,
            });
        }
    }

    /// The server prepared the snapshot a transfer waits for.
    pub(super) fn on_snapshot_ready(&mut self, to: ServerId, attempt: u64, zxid: Zxid, total: u64) {
        let (now, chunk, window) = (
            self.now,
            self.config.snapshot_chunk_bytes,
            self.config.snapshot_window_chunks,
        );
        let step = match self.transfer_of(to, attempt, zxid) {
            Some(t) => t.ready(total, chunk, window, now),
            None => {
                self.stats.stale_messages += 1;
                return;
            }
        };
        self.transfer_step(to, step);
    }

    fn on_snapshot_ack(
        &mut self,
        from: ServerId,
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        received: u64,
    ) {
        let (now, chunk, window) = (
            self.now,
            self.config.snapshot_chunk_bytes,
            self.config.snapshot_window_chunks,
        );
        if leading(&mut self.state).is_none_or(|l| l.epoch != epoch) {
            self.stats.stale_messages += 1;
            return;
        }
        let step = match self.transfer_of(from, attempt, zxid) {
            Some(t) => t.ack(received, chunk, window, now),
            None => {
                // Acks of a transfer that completed (or was given up) are expected.
                self.stats.stale_messages += 1;
                return;
            }
        };
        self.transfer_step(from, step);
    }

    fn transfer_of(&mut self, id: ServerId, attempt: u64, zxid: Zxid) -> Option<&mut Transfer> {
        let learner = leading(&mut self.state)?.learners.get_mut(&id)?;
        if learner.attempt != attempt {
            return None;
        }
        match &mut learner.stage {
            Stage::Snapshot(t) if t.zxid == zxid => Some(t),
            _ => None,
        }
    }

    fn transfer_step(&mut self, id: ServerId, step: TransferStep) {
        self.send_chunks(id, &step.chunks);
        if step.complete {
            self.finish_transfer(id);
        }
    }

    fn send_chunks(&mut self, id: ServerId, chunks: &[(u64, u64)]) {
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let epoch = l.epoch;
        let Some(Learner {
            attempt,
            stage: Stage::Snapshot(t),
            ..
        }) = l.learners.get(&id)
        else {
            return;
        };
        let (attempt, zxid) = (*attempt, t.zxid);
        for &(offset, len) in chunks {
            self.stats.snapshot_chunks_sent += 1;
            self.out.push(Command::SendSnapshotChunk {
                to: id,
                epoch,
                attempt,
                zxid,
                offset,
                len,
            });
        }
    }

    /// Every byte of the snapshot is with the follower: send what followed it.
    fn finish_transfer(&mut self, id: ServerId) {
        let Some(Learner {
            stage: Stage::Snapshot(t),
            ..
        }) = leading(&mut self.state).and_then(|l| l.learners.get(&id))
        else {
            return;
        };
        let (current_epoch, zxid) = (t.current_epoch, t.zxid);
        if !self.log.contains(zxid) {
            // Cannot happen while `trim_log` keeps the floor; start over rather than guess.
            self.abandon_transfer(id);
            return;
        }
        // The follower's log now starts at the snapshot: a repeated sync continues from it.
        self.send_sync(id, SyncMode::Snap, zxid, (current_epoch, zxid), None);
    }

    /// Gives a transfer up: the follower starts a new handshake (and gets a newer snapshot).
    fn abandon_transfer(&mut self, id: ServerId) {
        self.stats.snapshot_transfers_abandoned += 1;
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let epoch = l.epoch;
        l.learners.remove(&id);
        self.send(id, Message::Resync { epoch });
    }

    /// The point the log must still reach back to for a learner: a running snapshot
    /// transfer's zxid, or the start of a sync not acknowledged yet (the follower repeats
    /// its AckEpoch until the sync arrives, and a repeat is answered with the same sync,
    /// which after a snapshot is the diff from the snapshot's zxid; without this floor the
    /// window moved past it during a large transfer and the repeat got a second snapshot).
    /// A silent learner (nothing heard for `silent` ticks) holds nothing by its sync.
    fn held_point(learner: &Learner, now: u64, silent: u64) -> Option<Zxid> {
        match &learner.stage {
            Stage::Snapshot(t) => Some(t.zxid),
            Stage::Synced(s)
                if s.acked.is_none()
                    && !learner.observer
                    && now.saturating_sub(learner.last_heard) <= silent =>
            {
                Some(s.last_zxid)
            }
            _ => None,
        }
    }

    /// The oldest point a snapshot transfer or an unacknowledged sync continues from.
    fn transfer_floor(&self) -> Option<Zxid> {
        let (now, silent) = (self.now, self.config.leader_timeout_ticks as u64);
        self.leading_ref()?
            .learners
            .values()
            .filter_map(|l| Self::held_point(l, now, silent))
            .min()
    }

    /// Bounds the in-memory log: the window of applied entries, plus whatever a running
    /// snapshot transfer continues from, up to `snapshot_retain_entries_max` more.
    pub(super) fn trim_log(&mut self) {
        let keep = self.config.log_window_entries_max;
        let (now, silent) = (self.now, self.config.leader_timeout_ticks as u64);
        let floor = self.transfer_floor();
        self.log.trim(self.applied, keep, floor);
        if floor.is_none()
            || self.log.len() <= keep.saturating_add(self.config.snapshot_retain_entries_max)
        {
            return;
        }
        let over: Vec<ServerId> = self
            .leading_ref()
            .map(|l| {
                l.learners
                    .iter()
                    .filter(|(_, f)| Self::held_point(f, now, silent).is_some())
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for id in over {
            self.abandon_transfer(id);
        }
        self.log.trim(self.applied, keep, None);
    }

    fn on_ack(&mut self, from: ServerId, epoch: u32, zxid: Zxid) {
        let last = self.log.last();
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        if epoch != l.epoch {
            self.stats.stale_messages += 1;
            return;
        }
        let Some(Learner {
            stage: Stage::Synced(s),
            observer: false,
            ..
        }) = l.learners.get_mut(&from)
        else {
            // Observers never ack; an ack from one counts for nothing.
            self.stats.stale_messages += 1;
            return;
        };
        s.acked = Some(s.acked.map_or(zxid, |a| a.max(zxid)).min(last));
        self.maybe_commit();
        self.send_uptodate();
    }

    /// Tells every synchronized follower whose NEWLEADER ack arrived that it may serve.
    fn send_uptodate(&mut self) {
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        if l.phase != Phase::Broadcast {
            return;
        }
        let (epoch, committed) = (l.epoch, l.committed);
        let mut ready = Vec::new();
        for (id, learner) in l.learners.iter_mut() {
            if let Stage::Synced(s) = &mut learner.stage {
                if !s.uptodate_sent && s.acked.is_some_and(|a| a >= s.newleader_zxid) {
                    s.uptodate_sent = true;
                    ready.push(*id);
                }
            }
        }
        for id in ready {
            self.send(id, Message::UpToDate { epoch, committed });
        }
    }

    /// Commits whatever a quorum (this leader included) has durable. The first time a quorum
    /// has the whole initial history, the leader is established (end of Zab phase 2).
    pub(super) fn maybe_commit(&mut self) {
        // The planted bug of the simulator's tests (never compiled into a release build).
        let durable = self.durable;
        let Some(l) = self.leading_ref() else {
            return;
        };
        let mut acks: Vec<(ServerId, Zxid)> = vec![(self.config.id, durable)];
        for (id, learner) in l.participants() {
            if let Stage::Synced(s) = &learner.stage {
                if let Some(acked) = s.acked {
                    acks.push((id, acked));
                }
            }
        }
        let Some(candidate) = self.commit_candidate(&acks) else {
            return;
        };
        let l = still_leading(&mut self.state);
        let mut established_now = false;
        if l.phase == Phase::Sync {
            if candidate < l.establish_zxid {
                return;
            }
            l.phase = Phase::Broadcast;
            established_now = true;
        }
        if l.phase != Phase::Broadcast || candidate <= l.committed {
            if established_now {
                self.on_established();
            }
            return;
        }
        let newly_committed = l.committed;
        l.committed = candidate;
        let epoch = l.epoch;
        let targets = l.synced_voters();
        let observers: Vec<ServerId> = l.synced(true).collect();
        // Taken before applying, which may trim them from the in-memory window.
        let inform = if observers.is_empty() {
            Vec::new()
        } else {
            self.log.range(newly_committed, candidate, usize::MAX)
        };
        self.apply_upto(candidate);
        let commit = Message::Commit {
            epoch,
            zxid: candidate,
        };
        for to in targets {
            self.send(to, commit.clone());
        }
        self.inform_observers(&observers, epoch, inform, candidate);
        if established_now {
            self.on_established();
        }
    }

    /// The newest zxid that a quorum has durable, the quorum being counted for each
    /// candidate: a majority of the active configuration, and of every pending configuration
    /// whose reconfiguration entry is at or before the candidate (entries before a
    /// reconfiguration commit under the configurations before it).
    fn commit_candidate(&self, acks: &[(ServerId, Zxid)]) -> Option<Zxid> {
        if crate::planted::self_quorum() {
            // The planted bug of the simulator's tests (never compiled into a release build).
            return Some(acks[0].1);
        }
        let mut candidates: Vec<Zxid> = acks.iter().map(|(_, z)| *z).collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        for candidate in candidates {
            let ids: Vec<ServerId> = acks
                .iter()
                .filter(|(_, z)| *z >= candidate)
                .map(|(id, _)| *id)
                .collect();
            let active = self
                .config
                .voters
                .iter()
                .filter(|v| ids.contains(v))
                .count();
            if active > self.config.voters.len() / 2
                && self
                    .pending
                    .iter()
                    .filter(|m| m.version <= candidate)
                    .all(|m| m.is_majority(&ids))
            {
                return Some(candidate);
            }
        }
        None
    }

    /// Apache's INFORM: an observer gets each commit once, with its proposals, as a
    /// `Proposal` of exactly the newly committed entries followed by their `Commit`.
    fn inform_observers(
        &mut self,
        observers: &[ServerId],
        epoch: u32,
        entries: Vec<Entry>,
        committed: Zxid,
    ) {
        if entries.is_empty() {
            return;
        }
        for &to in observers {
            let entries = entries.clone();
            self.send(to, Message::Proposal { epoch, entries });
            let zxid = committed;
            self.send(to, Message::Commit { epoch, zxid });
        }
    }

    fn on_established(&mut self) {
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let epoch = l.epoch;
        // Our history is durable here (it is part of the quorum count), so the epoch may now
        // be saved as current without running ahead of the log it stands for.
        self.epochs.current_epoch = epoch;
        self.save_epochs();
        if !self.config.voters.contains(&self.config.id) {
            // The history just committed removed us: we never serve as leader, and
            // `leader_after_reconfig` steps down once this step's commits are out.
            return;
        }
        self.set_role(Role::Leading { epoch });
        self.send_uptodate();
        let waiting: Vec<ServerId> = self
            .leading_ref()
            .map(|l| {
                l.learners
                    .iter()
                    .filter(|(_, f)| f.observer && matches!(f.stage, Stage::EpochAcked { .. }))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        for id in waiting {
            self.sync_learner(id);
        }
    }

    /// The active configuration changed (a reconfiguration committed): a leader that no
    /// longer votes steps down, and learners whose kind changed (observer or participant) are
    /// told to start a new handshake, in which they are synchronized as their new kind.
    pub(super) fn leader_after_reconfig(&mut self) {
        if !self.config.voters.contains(&self.config.id) {
            // Leadership passes by election among the new voters: they learn of the commit,
            // see that their leader no longer votes, and look at once.
            self.become_looking();
            return;
        }
        let observers = self.config.observers.clone();
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        let epoch = l.epoch;
        let changed: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(id, f)| f.observer != observers.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in changed {
            l.learners.remove(&id);
            self.out.push(Command::Send {
                to: id,
                message: Message::Resync { epoch },
            });
        }
        // The quorum may have changed with the configuration.
        self.maybe_commit();
    }

    fn leading_ref(&self) -> Option<&Leading> {
        match &self.state {
            State::Leading(l) => Some(l),
            _ => None,
        }
    }

    /// Zab phase 3: assign zxids, log, and send to every synchronized follower.
    pub(super) fn propose_entries(&mut self, payloads: &[Payload]) -> Result<(), ProposeError> {
        let max = self.config.proposals_outstanding_max;
        let last = self.log.last();
        let leader_hint = match &self.state {
            State::Following(f) if matches!(self.role, Role::Following { .. }) => Some(f.leader),
            _ => None,
        };
        if !matches!(&self.state, State::Leading(l) if l.phase == Phase::Broadcast) {
            return Err(ProposeError::NotLeader {
                leader: leader_hint,
            });
        }
        if payloads.is_empty() {
            return Ok(());
        }
        let reconfigs: Vec<_> = payloads
            .iter()
            .filter_map(|p| self.config.membership_reader.read(p))
            .collect();
        if !reconfigs.is_empty() {
            if reconfigs.len() > 1 || !self.pending.is_empty() {
                return Err(ProposeError::ReconfigInProgress);
            }
            // Apache's isQuorumSynced: the new voters must hold a majority already following
            // this leader (as participants), or the reconfiguration could never commit.
            let new = &reconfigs[0];
            let mut synced: Vec<ServerId> = self
                .leading_ref()
                .map(|l| {
                    l.participants()
                        .filter(|(_, f)| matches!(&f.stage, Stage::Synced(s) if s.uptodate_sent))
                        .map(|(id, _)| id)
                        .collect()
                })
                .unwrap_or_default();
            synced.push(self.config.id);
            if new.validate().is_err() || !new.is_majority(&synced) {
                return Err(ProposeError::NewConfigNoQuorum);
            }
        }
        let Some(l) = leading(&mut self.state) else {
            return Err(ProposeError::NotLeader { leader: None });
        };
        let outstanding = if zxid::epoch_of(l.committed) == l.epoch {
            (zxid::counter_of(last) - zxid::counter_of(l.committed)) as usize
        } else if zxid::epoch_of(last) == l.epoch {
            zxid::counter_of(last) as usize
        } else {
            0
        };
        if outstanding + payloads.len() > max {
            return Err(ProposeError::Busy { outstanding, max });
        }
        if l.next_counter as u64 + payloads.len() as u64 >= u32::MAX as u64 {
            return Err(ProposeError::ZxidExhausted);
        }
        let epoch = l.epoch;
        let mut entries = Vec::with_capacity(payloads.len());
        for payload in payloads {
            entries.push(Entry {
                zxid: zxid::make(epoch, l.next_counter),
                payload: payload.clone(),
            });
            l.next_counter += 1;
        }
        // Observers hear of these only once they are committed (`inform_observers`).
        let targets = l.synced_voters();
        self.stats.proposals += entries.len() as u64;
        self.append(entries.clone());
        for to in targets {
            self.send(
                to,
                Message::Proposal {
                    epoch,
                    entries: entries.clone(),
                },
            );
        }
        Ok(())
    }

    pub(super) fn on_leader_tick(&mut self) {
        let now = self.now;
        let config = self.config.clone();
        let last = self.log.last();
        let Some(l) = self.leading_ref() else {
            return;
        };
        if l.phase != Phase::Broadcast {
            if now - l.started > config.init_timeout_ticks as u64 {
                self.become_looking();
                return;
            }
        } else {
            let mut alive: Vec<ServerId> = l
                .participants()
                .filter(|(_, f)| matches!(f.stage, Stage::Synced(_)))
                .filter(|(_, f)| now - f.last_heard <= config.leader_timeout_ticks as u64)
                .map(|(id, _)| id)
                .collect();
            alive.push(config.id);
            if !self.is_quorum(&alive) {
                self.become_looking();
                return;
            }
        }
        let l = still_leading(&mut self.state);
        if now - l.last_heartbeat < config.heartbeat_ticks as u64 {
            return;
        }
        l.last_heartbeat = now;
        let (epoch, committed, broadcasting) = (l.epoch, l.committed, l.phase == Phase::Broadcast);
        let mut messages = Vec::new();
        let mut resync = Vec::new();
        let mut chunks = Vec::new();
        for (id, learner) in l.learners.iter_mut() {
            if let Stage::Snapshot(t) = &mut learner.stage {
                match t.tick(
                    config.snapshot_chunk_bytes,
                    config.snapshot_window_chunks,
                    config.snapshot_retry_ticks as u64,
                    config.snapshot_stall_ticks as u64,
                    now,
                ) {
                    Some(c) => chunks.push((*id, c)),
                    None => resync.push(*id),
                }
            }
            // An observer's log ends at the commit point: it is sent nothing beyond it.
            let last_zxid = if learner.observer { committed } else { last };
            messages.push((
                *id,
                Message::Ping {
                    epoch,
                    committed,
                    last_zxid,
                },
            ));
            let Stage::Synced(s) = &mut learner.stage else {
                continue;
            };
            if learner.observer {
                continue;
            }
            let stalled = s.acked.is_some_and(|a| a < last) && s.acked == s.acked_at_heartbeat;
            s.acked_at_heartbeat = s.acked;
            if broadcasting && stalled {
                // Acks stopped advancing: proposals may have been lost on the way. Resending
                // is harmless because followers skip what they already logged.
                // Only the ack is known to be in the follower's log: with several sync
                // bundles of one handshake in flight, `prev` may be one it never applied.
                let from = s.acked.unwrap_or(last);
                if self.log.contains(from) {
                    let entries = self.log.range(from, last, config.retransmit_entries_max);
                    if !entries.is_empty() {
                        messages.push((*id, Message::Proposal { epoch, entries }));
                    }
                } else {
                    resync.push(*id);
                }
            }
        }
        for id in resync {
            // What the follower lacks has left the window (a new handshake will send a
            // snapshot), or its snapshot transfer stalled. Forgetting it also keeps its stale
            // ack out of the quorum count.
            if matches!(l.learners.get(&id), Some(f) if matches!(f.stage, Stage::Snapshot(_))) {
                self.stats.snapshot_transfers_abandoned += 1;
            }
            l.learners.remove(&id);
            messages.push((id, Message::Resync { epoch }));
        }
        for (to, message) in messages {
            self.send(to, message);
        }
        for (id, c) in chunks {
            self.send_chunks(id, &c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transfer;

    #[test]
    fn the_window_moves_with_acks_and_retries_go_back() {
        let mut t = Transfer::new(1, 5, 9, 0);
        // Nothing goes out before the snapshot is ready, and acks before it are ignored.
        assert!(t.ack(10, 10, 3, 0).chunks.is_empty());
        let step = t.ready(45, 10, 3, 1);
        assert_eq!(step.chunks, vec![(0, 10), (10, 10), (20, 10)]);
        assert!(!step.complete);
        // Readiness is reported once.
        assert!(t.ready(45, 10, 3, 1).chunks.is_empty());
        let step = t.ack(10, 10, 3, 2);
        assert_eq!(step.chunks, vec![(30, 10)]);
        // No progress within `retry` ticks: nothing; after it, the window again from 10.
        assert_eq!(t.tick(10, 3, 4, 50, 4), Some(vec![]));
        assert_eq!(
            t.tick(10, 3, 4, 50, 6),
            Some(vec![(10, 10), (20, 10), (30, 10)])
        );
        // An ack beyond what was sent (sent before a retry) moves both points.
        let step = t.ack(40, 10, 3, 7);
        assert_eq!(step.chunks, vec![(40, 5)]);
        assert!(t.ack(45, 10, 3, 8).complete);
        // No progress for longer than `stall`: give up.
        let mut stuck = Transfer::new(1, 5, 9, 0);
        assert_eq!(stuck.tick(10, 3, 4, 50, 50), Some(vec![]));
        assert_eq!(stuck.tick(10, 3, 4, 50, 51), None);
    }

    #[test]
    fn an_empty_snapshot_is_one_empty_chunk() {
        let mut t = Transfer::new(1, 5, 9, 0);
        assert_eq!(t.ready(0, 10, 3, 0).chunks, vec![(0, 0)]);
        assert!(t.ack(0, 10, 3, 1).complete);
    }
}
