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

#[derive(Debug)]
enum Stage {
    Info,
    EpochAcked { current_epoch: u32, last_zxid: Zxid },
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
            _ => self.stats.stale_messages += 1,
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
        match l.learners.get(&from) {
            Some(existing) if attempt < existing.attempt => {
                self.stats.stale_messages += 1;
                return;
            }
            Some(existing) if attempt == existing.attempt => {}
            _ => {
                l.learners.insert(
                    from,
                    Learner {
                        observer,
                        attempt,
                        accepted_epoch,
                        stage: Stage::Info,
                        last_heard: now,
                    },
                );
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
        let Some(l) = leading(&mut self.state) else {
            return;
        };
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
        let Some(l) = leading(&mut self.state) else {
            return;
        };
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
                Stage::Info => return,
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
            self.out.push(Command::SendSnapshot {
                to: id,
                epoch,
                attempt,
                zxid: applied,
            });
        }
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
        let Some(l) = leading(&mut self.state) else {
            return;
        };
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
        let Some(l) = leading(&mut self.state) else {
            return;
        };
        if now - l.last_heartbeat < config.heartbeat_ticks as u64 {
            return;
        }
        l.last_heartbeat = now;
        let (epoch, committed, broadcasting) = (l.epoch, l.committed, l.phase == Phase::Broadcast);
        let mut messages = Vec::new();
        let mut resync = Vec::new();
        for (id, learner) in l.learners.iter_mut() {
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
            // What the follower lacks has left the window; a new handshake will send a
            // snapshot. Forgetting it also keeps its stale ack out of the quorum count.
            l.learners.remove(&id);
            messages.push((id, Message::Resync { epoch }));
        }
        for (to, message) in messages {
            self.send(to, message);
        }
    }
}
