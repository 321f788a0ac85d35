//! The follower's side of Zab. Every message from the leader is checked against the epoch it
//! accepted and the handshake attempt in progress, so that delayed, duplicated or reordered
//! messages are ignored; a gap in the proposal stream starts a fresh handshake instead of
//! leaving a hole in the log.

use super::{Peer, State};
use crate::command::{Command, Role};
use crate::message::{Entry, Message, Payload, SyncConfig, SyncMode};
use crate::zxid::{self, Zxid};
use crate::ServerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// FollowerInfo sent; waiting for the leader's epoch (Zab phase 1).
    Discovering,
    /// Epoch acknowledged; waiting for the sync (Zab phase 2).
    Syncing,
    /// Log matches the leader's; receiving proposals (Zab phase 3). `uptodate` once the leader
    /// said a quorum is synchronized and clients may be served.
    Synced { uptodate: bool },
}

/// A follower's side of a snapshot transfer: chunks are taken in order only, so the bytes
/// held are always a prefix, and every chunk is answered with the length of that prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Receiving {
    pub(crate) zxid: Zxid,
    pub(crate) total: u64,
    pub(crate) received: u64,
}

/// What to do with one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkVerdict {
    /// Store it (it continues the prefix; offset 0 starts a new snapshot).
    Store,
    /// Not the next bytes (a duplicate, a reordered or a lost predecessor): only ack.
    Skip,
    /// Malformed: past the end, or larger than the limit.
    Refuse,
}

impl Receiving {
    /// Judges a chunk against what is held (`None`: nothing yet), and moves the prefix on.
    pub(crate) fn take(
        held: &mut Option<Receiving>,
        zxid: Zxid,
        offset: u64,
        total: u64,
        len: u64,
        bytes_max: u64,
    ) -> ChunkVerdict {
        if total > bytes_max || offset.checked_add(len).is_none_or(|end| end > total) {
            return ChunkVerdict::Refuse;
        }
        let same = held.is_some_and(|r| r.zxid == zxid && r.total == total);
        if offset == 0 && !(same && held.is_some_and(|r| r.received > 0)) {
            *held = Some(Receiving {
                zxid,
                total,
                received: len,
            });
            return ChunkVerdict::Store;
        }
        match held {
            Some(r) if same && r.received == offset && (len > 0 || total == 0) => {
                r.received += len;
                ChunkVerdict::Store
            }
            _ => ChunkVerdict::Skip,
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.received == self.total
    }
}

#[derive(Debug)]
pub(super) struct Following {
    pub(super) leader: ServerId,
    phase: Phase,
    attempt: u64,
    epoch: u32,
    commit_seen: Zxid,
    /// The snapshot installed during this handshake, if any. A leader that repeats a sync
    /// for one attempt (because the follower asked again) may send bundles that the network
    /// interleaves; anything older than an installed snapshot belongs to an earlier bundle.
    installed: Option<Zxid>,
    /// The snapshot being received in this handshake: its zxid, length and the bytes held.
    receiving: Option<Receiving>,
    /// The end of the history the sync gave us. The epoch is adopted (and acks start) only
    /// once the log is durable up to here: a current epoch saved ahead of the history it
    /// stands for would, after a crash, let this server win an election without that
    /// history and lose committed proposals.
    sync_end: Option<Zxid>,
    epoch_adopted: bool,
    /// Whether this handshake is an observer's (by the active configuration when it began).
    observer: bool,
    last_heard: u64,
    last_sent: u64,
}

impl Following {
    /// Still in Zab phase 1: the chosen leader has not answered with an epoch yet.
    pub(super) fn discovering(&self) -> bool {
        self.phase == Phase::Discovering
    }
}

fn following(state: &mut State) -> Option<&mut Following> {
    match state {
        State::Following(f) => Some(f),
        _ => None,
    }
}

impl Peer {
    pub(super) fn become_follower(&mut self, leader: ServerId) {
        self.state = State::Following(Following {
            leader,
            phase: Phase::Discovering,
            attempt: 0,
            epoch: 0,
            commit_seen: 0,
            installed: None,
            receiving: None,
            sync_end: None,
            epoch_adopted: false,
            observer: false,
            last_heard: self.now,
            last_sent: self.now,
        });
        self.start_handshake();
    }

    /// Starts (or restarts) the handshake with the same leader under a new attempt number,
    /// which makes every message of earlier attempts stale.
    fn start_handshake(&mut self) {
        self.stats.handshakes += 1;
        let attempt = self.next_attempt();
        let now = self.now;
        let observer = self.config.is_observer();
        let Some(f) = following(&mut self.state) else {
            return;
        };
        f.observer = observer;
        f.attempt = attempt;
        f.phase = Phase::Discovering;
        f.epoch = 0;
        f.commit_seen = 0;
        f.installed = None;
        f.receiving = None;
        f.sync_end = None;
        f.epoch_adopted = false;
        f.last_sent = now;
        let leader = f.leader;
        self.set_role(Role::Looking);
        self.send_follower_info(leader, attempt);
    }

    fn send_follower_info(&mut self, leader: ServerId, attempt: u64) {
        let message = Message::FollowerInfo {
            attempt,
            accepted_epoch: self.epochs.accepted_epoch,
            accepted_leader: self.epochs.accepted_leader,
            last_zxid: self.log.last(),
        };
        self.send(leader, message);
    }

    fn send_ack_epoch(&mut self, leader: ServerId, epoch: u32, attempt: u64) {
        let message = Message::AckEpoch {
            epoch,
            attempt,
            current_epoch: self.epochs.current_epoch,
            last_zxid: self.log.last(),
        };
        self.send(leader, message);
    }

    pub(super) fn on_follower_message(&mut self, from: ServerId, message: Message) {
        let now = self.now;
        let Some(f) = following(&mut self.state) else {
            return;
        };
        let Some(epoch) = message.leader_epoch().filter(|_| from == f.leader) else {
            self.stats.stale_messages += 1;
            return;
        };
        if f.phase == Phase::Discovering || epoch == f.epoch {
            f.last_heard = now;
        } else if epoch > f.epoch {
            // Our leader stepped down and was elected again under a newer epoch while we
            // were still in the old one: its earlier handshake is void, start another.
            f.last_heard = now;
            self.start_handshake();
            return;
        } else {
            // Only messages of the leadership we joined prove that it is alive.
            self.stats.stale_messages += 1;
            return;
        }
        match message {
            Message::NewEpoch { epoch, attempt } => self.on_new_epoch(epoch, attempt),
            Message::SnapshotChunk {
                epoch,
                attempt,
                zxid,
                offset,
                total,
                data,
            } => self.on_snapshot_chunk(epoch, attempt, zxid, offset, total, data),
            Message::Sync {
                epoch,
                attempt,
                mode,
                prev,
                entries,
                committed,
                config,
            } => {
                if self.take_sync_config(epoch, attempt, config) {
                    self.on_sync(epoch, attempt, mode, prev, entries, committed);
                }
            }
            Message::UpToDate { epoch, committed } => self.on_uptodate(epoch, committed),
            Message::Proposal { epoch, entries } => self.on_proposal(epoch, entries),
            Message::Commit { epoch, zxid } => {
                if self.synced_in(epoch) {
                    self.on_commit(zxid);
                }
            }
            Message::Ping {
                epoch, committed, ..
            } => {
                if self.synced_in(epoch) {
                    self.on_commit(committed);
                    self.send_ack();
                    self.observer_catch_up(committed);
                }
            }
            Message::Resync { epoch } => {
                let current = following(&mut self.state).map(|f| f.epoch);
                if current == Some(epoch) {
                    self.start_handshake();
                } else {
                    self.stats.stale_messages += 1;
                }
            }
            _ => self.stats.stale_messages += 1,
        }
    }

    fn synced_in(&mut self, epoch: u32) -> bool {
        let synced = following(&mut self.state)
            .is_some_and(|f| f.epoch == epoch && matches!(f.phase, Phase::Synced { .. }));
        if !synced {
            self.stats.stale_messages += 1;
        }
        synced
    }

    /// Zab phase 1: promise to follow `epoch`, unless we promised a newer one (or the same
    /// one to a different leader).
    fn on_new_epoch(&mut self, epoch: u32, attempt: u64) {
        let accepted = self.epochs;
        // Every participant promises, a joiner too (a configuration it has not heard of yet
        // may count it); an observer does not.
        let promises = !self.config.is_observer();
        let joiner = promises && !self.can_vote();
        let Some(f) = following(&mut self.state) else {
            return;
        };
        if attempt != f.attempt {
            self.stats.stale_messages += 1;
            return;
        }
        let leader = f.leader;
        match f.phase {
            Phase::Discovering if !promises => {
                // An observer promises nothing: it is sent committed proposals only, so any
                // leader's history is one it may follow, and its epochs count for no quorum.
                f.epoch = epoch;
                f.phase = Phase::Syncing;
                self.send_ack_epoch(leader, epoch, attempt);
            }
            Phase::Discovering => {
                // The same epoch is acceptable again from the same leader (a reconnect), or if
                // we had promised it to ourselves: we are following now, so our own leadership
                // of that epoch is over and no one else can count that promise.
                let acceptable = epoch > accepted.accepted_epoch
                    || (epoch == accepted.accepted_epoch
                        && (accepted.accepted_leader == Some(leader)
                            || accepted.accepted_leader == Some(self.config.id)));
                if !acceptable && joiner && epoch == accepted.accepted_epoch {
                    // A joiner promised this epoch to another would-be leader (one that
                    // counted it in a configuration this leader does not have). This leader
                    // counts no promise of ours: had it, it would have picked an epoch above
                    // ours in discovery, or stepped down on our FollowerInfo. So follow it
                    // and keep the promise made, as Apache's learner acks an epoch it had
                    // accepted already without promising again. Refusing instead left the
                    // joiner looking for as long as this leader lasted (simulator seed 442).
                    f.epoch = epoch;
                    f.phase = Phase::Syncing;
                    self.send_ack_epoch(leader, epoch, attempt);
                    return;
                }
                if !acceptable {
                    // This leader is behind the ensemble; look for the real one.
                    self.become_looking();
                    return;
                }
                f.epoch = epoch;
                f.phase = Phase::Syncing;
                if epoch != accepted.accepted_epoch || accepted.accepted_leader != Some(leader) {
                    self.epochs.accepted_epoch = epoch;
                    self.epochs.accepted_leader = Some(leader);
                    self.save_epochs();
                }
                self.send_ack_epoch(leader, epoch, attempt);
            }
            Phase::Syncing if f.epoch == epoch => self.send_ack_epoch(leader, epoch, attempt),
            _ => self.stats.stale_messages += 1,
        }
    }

    fn in_sync_handshake(&mut self, epoch: u32, attempt: u64) -> bool {
        let ok = following(&mut self.state)
            .is_some_and(|f| f.phase == Phase::Syncing && f.epoch == epoch && f.attempt == attempt);
        if !ok {
            self.stats.stale_messages += 1;
        }
        ok
    }

    /// Takes the configuration a sync carries: the leader's active configuration if it is
    /// newer than ours; and if the leader treats us as another kind of learner than we think
    /// we are (our configurations differed), a new handshake instead of the sync.
    fn take_sync_config(&mut self, epoch: u32, attempt: u64, config: Option<SyncConfig>) -> bool {
        let Some(config) = config else {
            return true;
        };
        let Some(began_as_observer) = following(&mut self.state)
            .filter(|f| f.phase == Phase::Syncing && f.epoch == epoch && f.attempt == attempt)
            .map(|f| f.observer)
        else {
            // Stale; `on_sync` counts it.
            return true;
        };
        if config.active.validate().is_err() {
            self.violation("sync carries an invalid configuration");
            return false;
        }
        self.activate(config.active);
        let observer = self.config.is_observer();
        if config.observer != observer || began_as_observer != observer {
            // Our configurations differed (ours is now at least the leader's), or the newer
            // one changed what we are since this handshake began (an observer promised no
            // epoch): start over as what we are.
            self.start_handshake();
            return false;
        }
        true
    }

    /// The active configuration changed while following.
    pub(super) fn follower_after_reconfig(&mut self) {
        let Some(f) = following(&mut self.state) else {
            return;
        };
        if !self.config.voters.contains(&f.leader) {
            // Our leader was removed (or made an observer): it steps down, and the new
            // voters elect its successor.
            self.become_looking();
        } else if f.observer != self.config.is_observer() {
            // An observer made a participant (or the reverse) is synchronized again as what
            // it now is; the leader sends it a Resync for the same reason.
            self.start_handshake();
        }
    }

    /// Zab phase 2, snapshot case: keep the leader's chunks in order, ack each with what is
    /// held, and once every byte is here replace our state with the leader's.
    fn on_snapshot_chunk(
        &mut self,
        epoch: u32,
        attempt: u64,
        zxid: Zxid,
        offset: u64,
        total: u64,
        data: Payload,
    ) {
        if !self.in_sync_handshake(epoch, attempt) {
            return;
        }
        let bytes_max = self.config.snapshot_bytes_max;
        let applied = self.applied;
        let Some(f) = following(&mut self.state) else {
            return;
        };
        let leader = f.leader;
        if let Some(installed) = f.installed {
            if zxid == installed {
                // Our final ack was lost: say again that we have it all.
                self.send(
                    leader,
                    Message::SnapshotAck {
                        epoch,
                        attempt,
                        zxid,
                        received: total,
                    },
                );
            } else {
                self.stats.stale_messages += 1;
            }
            return;
        }
        if zxid < applied {
            // A leader's snapshot is never behind what we applied, since we only apply what
            // is committed and the leader has everything committed.
            self.violation("snapshot behind the applied point");
            return;
        }
        let verdict = Receiving::take(
            &mut f.receiving,
            zxid,
            offset,
            total,
            data.len() as u64,
            bytes_max,
        );
        let held = f.receiving.filter(|r| r.zxid == zxid && r.total == total);
        match verdict {
            ChunkVerdict::Refuse => {
                self.violation("snapshot chunk past its end or over the size limit");
                return;
            }
            ChunkVerdict::Skip => self.stats.stale_messages += 1,
            ChunkVerdict::Store => self.out.push(Command::StoreSnapshotChunk {
                zxid,
                offset,
                total,
                data,
            }),
        }
        let received = held.map_or(0, |r| r.received);
        if held.is_some_and(|r| r.complete()) && verdict == ChunkVerdict::Store {
            self.out.push(Command::InstallSnapshot { zxid });
            self.log.reset(zxid);
            if !self.pending.is_empty() {
                // Logged reconfigurations went with the log; the sync that follows carries
                // the leader's active configuration.
                self.pending.clear();
                self.emit_membership();
            }
            self.durable = zxid;
            self.applied = zxid;
            if let Some(f) = following(&mut self.state) {
                f.installed = Some(zxid);
                f.receiving = None;
            }
        }
        self.send(
            leader,
            Message::SnapshotAck {
                epoch,
                attempt,
                zxid,
                received,
            },
        );
    }

    fn installed(&mut self) -> Option<Zxid> {
        following(&mut self.state).and_then(|f| f.installed)
    }

    /// Zab phase 2: make our log the leader's history, adopt its epoch, then acknowledge once
    /// durable (that ack is ZooKeeper's NEWLEADER ack).
    fn on_sync(
        &mut self,
        epoch: u32,
        attempt: u64,
        mode: SyncMode,
        prev: Zxid,
        entries: Vec<Entry>,
        committed: Zxid,
    ) {
        if !self.in_sync_handshake(epoch, attempt) {
            return;
        }
        if self.installed().is_some_and(|installed| prev < installed) {
            self.stats.stale_messages += 1;
            return;
        }
        if prev > self.log.last() {
            // The snapshot this sync builds on has not arrived (yet); the handshake retry
            // asks again if it was lost.
            if mode != SyncMode::Snap {
                self.violation("sync continues past the end of the log");
            }
            return;
        }
        if !self.log.contains(prev) || prev < self.applied {
            // The leader believes our history reaches `prev` and that nothing after it is
            // committed; neither holds, so this sync would corrupt us.
            self.violation(if prev < self.applied {
                "sync truncates below the applied point"
            } else {
                "sync continues from a zxid the log does not have"
            });
            self.start_handshake();
            return;
        }
        self.truncate_after(prev);
        let mut fresh = Vec::with_capacity(entries.len());
        let mut last = prev;
        for entry in entries {
            if entry.zxid <= last {
                self.violation("sync entries out of order");
                self.start_handshake();
                return;
            }
            last = entry.zxid;
            fresh.push(entry);
        }
        self.append(fresh);
        let sync_end = self.log.last();
        let observer = self.config.is_observer();
        let Some(f) = following(&mut self.state) else {
            return;
        };
        // An observer is sent committed history only, so it is up to date as soon as it has
        // it: there is no NEWLEADER ack to wait for, and it never acks.
        f.phase = Phase::Synced { uptodate: observer };
        f.commit_seen = f.commit_seen.max(committed);
        f.sync_end = Some(sync_end);
        let (leader, epoch) = (f.leader, f.epoch);
        self.on_commit(committed);
        if observer {
            self.set_role(Role::Following { leader, epoch });
            return;
        }
        self.adopt_epoch_when_durable();
        self.send_ack();
    }

    /// An observer is sent each commit once, with its proposals (Apache's INFORM). A ping
    /// whose commit point is past our log's end means one of them was lost, and only a new
    /// handshake brings it back (there are no acks from which the leader could notice).
    fn observer_catch_up(&mut self, committed: Zxid) {
        if self.config.is_observer() && committed > self.log.last() {
            self.start_handshake();
        }
    }

    /// Zab phase 2, the NEWLEADER step: with the leader's history durable, take its epoch as
    /// our current one (durably) before the first ack says so.
    fn adopt_epoch_when_durable(&mut self) {
        if self.config.is_observer() {
            // An observer's epochs never take part in an election or a quorum.
            return;
        }
        let durable = self.durable;
        let Some(f) = following(&mut self.state) else {
            return;
        };
        if f.epoch_adopted || f.sync_end.is_none_or(|end| durable < end) {
            return;
        }
        f.epoch_adopted = true;
        self.epochs.current_epoch = f.epoch;
        self.save_epochs();
    }

    fn on_uptodate(&mut self, epoch: u32, committed: Zxid) {
        if !self.synced_in(epoch) {
            return;
        }
        let Some(f) = following(&mut self.state) else {
            return;
        };
        let leader = f.leader;
        f.phase = Phase::Synced { uptodate: true };
        self.on_commit(committed);
        self.set_role(Role::Following { leader, epoch });
    }

    /// Zab phase 3: log proposals in zxid order; a gap means something was lost, so the log
    /// stays as it is and a new handshake fills the hole.
    fn on_proposal(&mut self, epoch: u32, entries: Vec<Entry>) {
        if !self.synced_in(epoch) {
            return;
        }
        let mut fresh = Vec::with_capacity(entries.len());
        let mut last = self.log.last();
        let mut gap = false;
        for entry in entries {
            if entry.zxid <= last {
                continue;
            }
            let expected = if zxid::epoch_of(last) == epoch {
                last + 1
            } else {
                zxid::make(epoch, 1)
            };
            if entry.zxid != expected {
                gap = true;
                break;
            }
            last = entry.zxid;
            fresh.push(entry);
        }
        self.append(fresh);
        if gap {
            self.start_handshake();
            return;
        }
        let commit_seen = following(&mut self.state).map_or(0, |f| f.commit_seen);
        self.apply_upto(commit_seen);
    }

    fn on_commit(&mut self, zxid: Zxid) {
        let Some(f) = following(&mut self.state) else {
            return;
        };
        f.commit_seen = f.commit_seen.max(zxid);
        let commit_seen = f.commit_seen;
        self.apply_upto(commit_seen);
    }

    fn send_ack(&mut self) {
        if self.config.is_observer() {
            // An observer's log counts for no quorum, so it has nothing to acknowledge.
            return;
        }
        let durable = self.durable;
        let Some(f) = following(&mut self.state) else {
            return;
        };
        if !matches!(f.phase, Phase::Synced { .. }) || !f.epoch_adopted {
            return;
        }
        let (leader, epoch) = (f.leader, f.epoch);
        self.send(
            leader,
            Message::Ack {
                epoch,
                zxid: durable,
            },
        );
    }

    pub(super) fn on_follower_durable(&mut self) {
        self.adopt_epoch_when_durable();
        self.send_ack();
    }

    pub(super) fn on_follower_tick(&mut self) {
        let now = self.now;
        let timeout = self.config.follower_timeout_ticks as u64;
        let retry = self.config.handshake_retry_ticks as u64;
        let Some(f) = following(&mut self.state) else {
            return;
        };
        if now - f.last_heard > timeout {
            self.become_looking();
            return;
        }
        if now - f.last_sent < retry {
            return;
        }
        f.last_sent = now;
        let (leader, epoch, attempt, phase) = (f.leader, f.epoch, f.attempt, f.phase);
        match phase {
            Phase::Discovering => self.send_follower_info(leader, attempt),
            Phase::Syncing => self.send_ack_epoch(leader, epoch, attempt),
            Phase::Synced { uptodate: false } => self.send_ack(),
            Phase::Synced { uptodate: true } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ChunkVerdict, Receiving};

    #[test]
    fn chunks_are_taken_in_order_only() {
        let mut held = None;
        let take = |h: &mut Option<Receiving>, zxid, offset, total, len| {
            Receiving::take(h, zxid, offset, total, len, 100)
        };
        // A chunk in the middle with nothing held is skipped (its predecessor was lost).
        assert_eq!(take(&mut held, 7, 10, 30, 10), ChunkVerdict::Skip);
        assert_eq!(take(&mut held, 7, 0, 30, 10), ChunkVerdict::Store);
        // A duplicate of the first chunk does not restart the transfer.
        assert_eq!(take(&mut held, 7, 0, 30, 10), ChunkVerdict::Skip);
        // Reordered: 20 before 10 is skipped, then 10 and a resent 20 are taken.
        assert_eq!(take(&mut held, 7, 20, 30, 10), ChunkVerdict::Skip);
        assert_eq!(take(&mut held, 7, 10, 30, 10), ChunkVerdict::Store);
        assert_eq!(held.map(|r| r.received), Some(20));
        // A chunk of another snapshot (a new leader's) in the middle is skipped...
        assert_eq!(take(&mut held, 8, 20, 30, 10), ChunkVerdict::Skip);
        assert_eq!(take(&mut held, 7, 20, 30, 10), ChunkVerdict::Store);
        assert!(held.is_some_and(|r| r.complete()));
        // ...and its first chunk starts over.
        assert_eq!(take(&mut held, 8, 0, 5, 5), ChunkVerdict::Store);
        assert_eq!(
            held,
            Some(Receiving {
                zxid: 8,
                total: 5,
                received: 5
            })
        );
        // Past the end, or over the limit: refused.
        assert_eq!(take(&mut held, 9, 0, 5, 6), ChunkVerdict::Refuse);
        assert_eq!(take(&mut held, 9, 0, 101, 1), ChunkVerdict::Refuse);
        assert_eq!(take(&mut held, 9, u64::MAX, 5, 1), ChunkVerdict::Refuse);
        // An empty snapshot is one empty chunk.
        let mut empty = None;
        assert_eq!(take(&mut empty, 3, 0, 0, 0), ChunkVerdict::Store);
        assert!(empty.is_some_and(|r| r.complete()));
    }
}
