//! The sequencer's one write path: the `replication` protocol (`Peer`) decides what is
//! committed. A standalone server runs it as an ensemble of one: it leads at once (its one
//! vote is a quorum), and its own durable log commits each write.
//!
//! - **Leader.** A client write (local, or forwarded by a follower) is validated against the
//!   leader's *ahead* tree, which holds every proposed transaction, and proposed; the
//!   protocol gives it its zxid, logs it (group commit, as standalone) and sends it to the
//!   followers. The leader applies it to its committed tree and hands it to the shards only
//!   when the protocol says a quorum has it durable (`Command::Apply`). If leadership is
//!   lost, the ahead tree is simply dropped: nothing uncommitted ever reached the committed
//!   tree, the shards or the snapshotter.
//! - **Follower.** Writes and new sessions are forwarded to the leader; the follower logs
//!   the leader's proposals and applies them on commit, answering its own clients when their
//!   transaction is applied. Reads never leave the shards.
//! - **Looking.** No quorum: the shards close their connections and take no new ones, so
//!   clients move to a member that can serve them.
//!
//! Sessions are global: every member tracks the committed session table (from the
//! CreateSession and CloseSession transactions); only the leader expires sessions, and
//! followers report their clients' activity to it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use ringkeeper_engine::jute::{Decode, Encode};
use ringkeeper_engine::prep::{self, PrepContext};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::{ErrorCode, Id, SessionId, Zxid};
use ringkeeper_replication::{
    Command, Entry, Event, Membership, Message, Peer, ProposeError, Role, ServerId,
};
use tracing::{debug, error, info, warn};

use super::leader_digest::LeaderDigests;
use super::Effect;
use super::SequencerState;
use crate::divergence::{failed_apply, TreeCopy};
use crate::messages::{ConnId, Origin, ShardId, ToShard, Write};
use crate::replica::app::AppMessage;
use crate::replica::role::ServingRole;
use crate::replica::ReplicaSettings;

/// A request of this server's clients waiting for its transaction to be applied.
#[derive(Debug, Clone)]
enum Waiting {
    Write(Origin),
    Connect {
        shard: ShardId,
        conn: ConnId,
        timeout_ms: i32,
    },
}

/// Something to do once the committed history reaches a zxid.
enum Gated {
    Shard(ShardId, ToShard),
    App(ServerId, AppMessage),
    /// A resume a follower could not validate from what it had applied (see `Resume`).
    Resume(Resume),
}

/// A handshake resuming a session this follower has not seen created. The session may have
/// been created (and its client answered) on another member a moment ago, in a commit this
/// follower has not applied yet: Apache's follower asks its leader (`validateSession`), so a
/// client that moves at once still resumes. Here the follower syncs with the leader and
/// validates again once it has applied everything the leader had proposed; only a session
/// still unknown then is refused.
struct Resume {
    shard: ShardId,
    conn: ConnId,
    session: SessionId,
    passwd: Vec<u8>,
    timeout_ms: i32,
    now_ms: i64,
}

/// What a follower's sync with its leader is for.
enum SyncFor {
    /// A client's `sync` request on `path`.
    Client(Origin, String),
    /// A resume to validate after the sync (see `Resume`).
    Resume(Resume),
}

/// The protocol and everything the sequencer keeps for it.
pub struct Replica {
    settings: ReplicaSettings,
    peer: Peer,
    /// What the calls since the executor last looked asked for (see `effect`).
    pub(super) effects: Vec<Effect>,
    role: Role,
    /// Leader only: the committed tree plus every proposed transaction, for validation.
    ahead: Option<DataTree>,
    /// The committed session table (id -> timeout), as in snapshots.
    committed_sessions: BTreeMap<SessionId, i32>,
    applied: Zxid,
    last_proposed: Zxid,
    waiting: HashMap<(SessionId, i32), Waiting>,
    gated: VecDeque<(Zxid, Gated)>,
    /// Leader only: its own proposals not yet applied, in zxid order, as it formed them;
    /// logging and applying them then needs no decoding of their payloads.
    proposed: VecDeque<Txn>,
    /// Follower: sessions with activity since the last report to the leader.
    touched: BTreeSet<SessionId>,
    /// Follower: syncs forwarded to the leader, by token.
    syncs: HashMap<u64, SyncFor>,
    next_token: u64,
    /// Bumped by every truncation or snapshot install: durability reports of batches
    /// written before one must not reach the protocol.
    pub(super) log_generation: u64,
    /// Not leading: this member's digests and the leader's, to compare at equal zxids.
    leader_digests: LeaderDigests,
    /// Leading: the zxid whose digest the other members were last told.
    digest_sent: Zxid,
    /// Leading: the snapshot prepared for each follower whose transfer runs, with the
    /// handshake attempt and zxid it is for. At most one per member; dropped with the
    /// leadership.
    outgoing: BTreeMap<ServerId, (u64, Zxid, Arc<[u8]>)>,
    /// Following: the leader's snapshot being received (zxid, total, bytes so far).
    incoming: Option<(Zxid, u64, Vec<u8>)>,
    /// The version of the newest active configuration the protocol reported.
    config_active: Zxid,
    /// The version of the newest configuration asked to be written to disk (at start, the
    /// one zoo.cfg gave the protocol).
    config_written: Zxid,
}

impl Replica {
    pub fn new(settings: ReplicaSettings, peer: Peer) -> Replica {
        let applied = peer.applied_zxid();
        Replica {
            peer,
            effects: Vec::new(),
            role: Role::Looking,
            ahead: None,
            committed_sessions: BTreeMap::new(),
            applied,
            last_proposed: applied,
            waiting: HashMap::new(),
            gated: VecDeque::new(),
            proposed: VecDeque::new(),
            touched: BTreeSet::new(),
            syncs: HashMap::new(),
            next_token: 1,
            log_generation: 0,
            leader_digests: LeaderDigests::default(),
            digest_sent: applied,
            outgoing: BTreeMap::new(),
            incoming: None,
            config_active: settings.protocol.version,
            config_written: settings.protocol.version,
            settings,
        }
    }

    fn my_id(&self) -> ServerId {
        self.settings.protocol.id
    }

    /// The zoo.cfg to rewrite when a reconfiguration activates, and this member's id.
    pub fn config_file(&self) -> Option<(std::path::PathBuf, ServerId)> {
        let file = self.settings.config_file.clone()?;
        Some((file, self.my_id()))
    }

    fn leader_id(&self) -> Option<ServerId> {
        match self.role {
            Role::Following { leader, .. } => Some(leader),
            _ => None,
        }
    }

    fn send_app(&mut self, to: ServerId, m: &AppMessage) {
        self.effects.push(Effect::PeerApp(to, m.encode()));
    }

    /// For the metrics port: the leader's view of its followers.
    pub fn leader_view(&self) -> Option<ringkeeper_replication::LeaderView> {
        self.peer.leader_view()
    }

    /// For `mntr` and the metrics port: the active configuration's voting members.
    pub fn voter_count(&self) -> usize {
        self.peer.membership().voters.len()
    }

    /// For the metrics port: the protocol's counters.
    pub fn protocol_stats(&self) -> ringkeeper_replication::Stats {
        self.peer.stats()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// This leader's own proposal `zxid`, if it still holds it; older ones are dropped.
    fn take_proposed(&mut self, zxid: Zxid) -> Option<Txn> {
        while self.proposed.front().is_some_and(|t| t.zxid < zxid) {
            self.proposed.pop_front();
        }
        match self.proposed.front() {
            Some(t) if t.zxid == zxid => self.proposed.pop_front(),
            _ => None,
        }
    }

    /// An ensemble of one: a standalone server.
    pub fn is_alone(&self) -> bool {
        self.settings.protocol.voters.len() == 1 && self.settings.protocol.observers.is_empty()
    }

    pub fn committed_session_count(&self) -> usize {
        self.committed_sessions.len()
    }

    pub fn outstanding_full(&self) -> bool {
        let max = self.settings.protocol.proposals_outstanding_max as i64;
        matches!(self.role, Role::Leading { .. })
            && (self.last_proposed - self.applied) >= max.saturating_sub(1)
            && ringkeeper_replication::zxid::epoch_of(self.last_proposed)
                == ringkeeper_replication::zxid::epoch_of(self.applied)
    }
}

/// A transaction's payload in a proposal: the transaction's own encoding. The zxid inside
/// is a placeholder when the leader encodes it (the protocol assigns the zxid); every
/// reader takes the entry's zxid instead.
fn txn_of(entry: &Entry) -> Option<Txn> {
    match Txn::from_bytes(&entry.payload) {
        Ok(mut txn) => {
            txn.zxid = entry.zxid;
            Some(txn)
        }
        Err(e) => {
            error!(zxid = format_args!("0x{:x}", entry.zxid), error = %e, "undecodable proposal");
            None
        }
    }
}

impl SequencerState {
    fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    /// Feeds the protocol's start-up commands (save the bumped boot counter, first votes;
    /// for an ensemble of one, its leadership and the commit of its whole log tail).
    pub(super) fn start_protocol(&mut self, commands: Vec<Command>, now_ms: i64) {
        self.replica.committed_sessions =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        self.set_role(ServingRole::Looking);
        self.exec(commands, now_ms);
    }

    /// Publishes this server's role to the shards and the four-letter words. A standalone
    /// server (an ensemble of one) keeps saying `standalone`, as Apache's does.
    fn set_role(&mut self, serving: ServingRole) {
        if !self.replica.is_alone() {
            self.replica.effects.push(Effect::SetRole(serving));
        }
    }

    /// This server cannot go on safely: no more writes, and the executor stops it.
    fn fatal(&mut self, reason: String) {
        error!("{reason}; stopping");
        self.poisoned = true;
        self.replica.effects.push(Effect::Fatal(reason));
    }

    /// The log could not take a batch: no transaction proposed so far will become durable
    /// here, so every client waiting on one is refused with SystemError now (a session
    /// whose creation is not durable does not exist).
    pub fn on_log_failed(&mut self) {
        self.poisoned = true;
        let zxid = self.last_zxid;
        let waiting: Vec<Waiting> = self.replica.waiting.drain().map(|(_, w)| w).collect();
        for w in waiting {
            self.refuse_waiting(w, ErrorCode::SystemError, zxid);
        }
    }

    /// One protocol tick, plus the leader's session expiry and a follower's activity report.
    pub fn peer_tick(&mut self, now_ms: i64) {
        let commands = self.replica_mut().peer.step(Event::Tick);
        self.exec(commands, now_ms);
        self.tell_digest();
        let r = self.replica_mut();
        if let Some(leader) = r.leader_id() {
            if !r.touched.is_empty() {
                let sessions: Vec<SessionId> = std::mem::take(&mut r.touched).into_iter().collect();
                for chunk in sessions.chunks(crate::replica::app::TOUCH_SESSIONS_MAX) {
                    r.send_app(
                        leader,
                        &AppMessage::Touch {
                            sessions: chunk.to_vec(),
                        },
                    );
                }
            }
        }
    }

    /// Leader: tells the other members the digest of its committed tree, when it moved
    /// since the last time. Once per peer tick bounds what the check costs the ensemble.
    fn tell_digest(&mut self) {
        let digest = self.tree.digest();
        let r = &mut self.replica;
        if !matches!(r.role, Role::Leading { .. }) || r.applied == r.digest_sent {
            return;
        }
        r.digest_sent = r.applied;
        let m = AppMessage::Digest {
            zxid: r.applied,
            digest,
        };
        let me = r.my_id();
        let protocol = &r.settings.protocol;
        let others: Vec<ServerId> = protocol
            .voters
            .iter()
            .chain(&protocol.observers)
            .copied()
            .filter(|id| *id != me)
            .collect();
        for to in others {
            r.send_app(to, &m);
        }
    }

    /// Only the leader expires sessions and reaps containers, by proposing the
    /// transactions that do it.
    pub(super) fn expire_and_reap(&mut self, now_ms: i64) {
        if !matches!(self.replica_mut().role, Role::Leading { .. }) {
            return;
        }
        for session in self.sessions.expired(now_ms) {
            info!(session = format_args!("0x{session:x}"), "session expired");
            self.sessions.close(session);
            let body = {
                let tree = self.prep_tree();
                prep::prep_close_session(tree, session)
            };
            self.propose(session, 0, body, now_ms, None, None);
        }
        if now_ms >= self.next_container_check_ms {
            let candidates = self
                .settings
                .containers
                .candidates(self.prep_tree(), now_ms);
            self.next_container_check_ms =
                now_ms + self.settings.containers.pause_after_ms(candidates.len());
            for path in candidates {
                let ctx = PrepContext::new(0, &[]);
                let op = prep::WriteOp::DeleteContainer { path };
                if let Ok(body) = prep::prep(self.prep_tree(), &ctx, &op) {
                    self.propose(0, 0, body, now_ms, None, None);
                }
            }
        }
    }

    fn prep_tree(&self) -> &DataTree {
        prep_tree(&self.replica, &self.tree)
    }

    /// A message from another member.
    pub fn on_peer_message(&mut self, from: ServerId, message: Message, now_ms: i64) {
        trace_message("in", from, &message);
        if matches!(message, Message::FollowerInfo { .. }) {
            // A follower's handshake starts: answer it on a fresh connection, as Apache's
            // leader answers on the socket the learner just opened.
            self.replica_mut().effects.push(Effect::FreshLink(from));
        }
        let commands = self
            .replica_mut()
            .peer
            .step(Event::Message { from, message });
        self.exec(commands, now_ms);
    }

    /// The snapshotter encoded the snapshot a follower's transfer waits for.
    /// A leader that is not established yet (its role still Looking) takes it too: its first
    /// followers may need a snapshot before it has a quorum. The protocol ignores a snapshot
    /// no transfer waits for (another attempt, or no longer leading).
    pub fn on_snapshot_prepared(&mut self, p: crate::messages::SnapshotPrepared, now_ms: i64) {
        if self.replica_mut().peer.leader() != Some(self.replica_mut().my_id()) {
            return;
        }
        self.snapshot_prepared(p.to, p.attempt, p.zxid, p.data, now_ms);
    }

    /// A member's quorum connection to this one broke: a follower whose leader it is stops
    /// following at once (the protocol decides), so failover does not wait for syncLimit.
    pub fn on_peer_disconnected(&mut self, from: ServerId, now_ms: i64) {
        let commands = self
            .replica_mut()
            .peer
            .step(Event::PeerDisconnected { from });
        self.exec(commands, now_ms);
    }

    /// One of the server's own messages from another member.
    pub fn on_peer_app(&mut self, from: ServerId, data: &[u8], now_ms: i64) {
        let m = match AppMessage::decode(data) {
            Ok(m) => m,
            Err(e) => {
                warn!(from, error = %e, "dropping a malformed message from a peer");
                return;
            }
        };
        let leading = matches!(self.replica_mut().role, Role::Leading { .. });
        let from_leader = self.replica_mut().leader_id() == Some(from);
        match m {
            AppMessage::Forward {
                session,
                cxid,
                auth,
                write,
            } if leading => self.lead_write(session, cxid, &auth, write, now_ms, None, Some(from)),
            AppMessage::CreateSession {
                session,
                timeout_ms,
            } if leading => {
                self.sessions.restore(session, timeout_ms, now_ms);
                let _ = self.sessions.set_owner(session, from);
                let body = TxnBody::CreateSession { timeout_ms };
                self.propose(session, 0, body, now_ms, None, Some(from));
            }
            AppMessage::Revalidate { session } if leading => {
                if self.sessions.touch(session, now_ms) {
                    let _ = self.sessions.set_owner(session, from);
                }
            }
            AppMessage::Touch { sessions } if leading => {
                for s in sessions {
                    self.sessions.touch(s, now_ms);
                }
            }
            AppMessage::Sync { token } if leading => {
                let r = self.replica_mut();
                let zxid = r.last_proposed;
                let reply = AppMessage::SyncDone { token, zxid };
                self.gate(zxid, Gated::App(from, reply));
            }
            AppMessage::Refused {
                session,
                cxid,
                err,
                zxid,
            } if from_leader => match self.replica_mut().waiting.remove(&(session, cxid)) {
                Some(Waiting::Write(origin)) => self.refuse_write(origin, err, zxid),
                Some(Waiting::Connect { shard, conn, .. }) => {
                    self.sessions.close(session);
                    self.send(shard, ToShard::ConnectRefused { conn })
                }
                None => {}
            },
            AppMessage::Digest { zxid, digest } if from_leader => {
                let r = self.replica_mut();
                let applied = r.applied;
                if let Some(line) = r.leader_digests.leader_said(zxid, digest, applied) {
                    self.fatal(line);
                }
            }
            AppMessage::SyncDone { token, zxid } if from_leader => {
                match self.replica_mut().syncs.remove(&token) {
                    Some(SyncFor::Client(origin, path)) => self.gate(
                        zxid,
                        Gated::Shard(origin.shard, ToShard::SyncDone { origin, path, zxid }),
                    ),
                    Some(SyncFor::Resume(resume)) => self.gate(zxid, Gated::Resume(resume)),
                    None => {}
                }
            }
            other => {
                // A leader's message after it lost leadership, or a forward to a member
                // that is no longer leading: the sender's clients are being disconnected.
                tracing::debug!(from, message = ?other, "peer message for another role; ignored");
            }
        }
    }

    /// The log is durable up to `zxid` (a batch of generation `generation` was written).
    pub fn on_log_durable(&mut self, generation: u64, zxid: Zxid, now_ms: i64) {
        let r = self.replica_mut();
        if generation != r.log_generation {
            return;
        }
        let commands = r.peer.step(Event::Durable { zxid });
        self.exec(commands, now_ms);
    }

    /// Does `msg` after the committed history reaches `zxid` (at once if it has).
    fn gate(&mut self, zxid: Zxid, what: Gated) {
        let r = self.replica_mut();
        if zxid <= r.applied {
            self.release_gated(what);
        } else {
            r.gated.push_back((zxid, what));
        }
    }

    fn release_gated(&mut self, what: Gated) {
        match what {
            Gated::Shard(shard, msg) => self.send(shard, msg),
            Gated::App(to, m) => self.replica_mut().send_app(to, &m),
            Gated::Resume(resume) => self.resume(resume, false),
        }
    }

    /// Carries out the protocol's commands, in order.
    fn exec(&mut self, commands: Vec<Command>, now_ms: i64) {
        for command in commands {
            match command {
                // The executor makes it durable before it carries out anything after it.
                Command::SaveEpochs(epochs) => {
                    self.replica_mut().effects.push(Effect::SaveEpochs(epochs))
                }
                Command::Append { entries } => {
                    self.append_entries(&entries);
                    self.planted_early_durable(&entries, now_ms);
                }
                Command::Truncate { after } => self.truncate_log(after),
                Command::Send { to, message } => {
                    trace_message("out", to, &message);
                    let effects = &mut self.replica_mut().effects;
                    if matches!(message, Message::FollowerInfo { .. }) {
                        // Following a leader starts on a new connection, as Apache's learner
                        // opens one: the old one may sit in TCP retransmission backoff.
                        effects.push(Effect::FreshLink(to));
                    }
                    effects.push(Effect::PeerSend(to, message))
                }
                Command::Apply { entries } => {
                    self.apply_entries(&entries, now_ms);
                    self.write_active_config();
                }
                Command::SendSnapshot {
                    to,
                    attempt,
                    zxid,
                    follower_zxid,
                    log_base,
                    ..
                } => self.prepare_snapshot(to, attempt, zxid, (follower_zxid, log_base), now_ms),
                Command::SendSnapshotChunk {
                    to,
                    epoch,
                    attempt,
                    zxid,
                    offset,
                    len,
                } => self.send_snapshot_chunk(to, (epoch, attempt, zxid), offset, len),
                Command::StoreSnapshotChunk {
                    zxid,
                    offset,
                    total,
                    data,
                } => self.store_snapshot_chunk(zxid, offset, total, &data),
                Command::InstallSnapshot { zxid } => {
                    let held = self.replica_mut().incoming.take();
                    match held {
                        Some((z, total, bytes)) if z == zxid && bytes.len() as u64 == total => {
                            self.install_snapshot(zxid, bytes.into(), now_ms)
                        }
                        _ => self.fatal(format!(
                            "told to install the leader's snapshot 0x{zxid:x} without all of it"
                        )),
                    }
                }
                Command::Role(role) => self.change_role(role, now_ms),
                Command::Rejected { payloads, error } => {
                    warn!(count = payloads.len(), error = ?error, "proposals rejected");
                }
                Command::Membership { active, pending } => self.on_membership(active, pending),
            }
        }
    }

    fn append_entries(&mut self, entries: &[Entry]) {
        for entry in entries {
            let own = self
                .replica
                .proposed
                .iter()
                .rev()
                .find(|t| t.zxid == entry.zxid);
            if let Some(txn) = own {
                super::log_into(&mut self.open, txn);
                continue;
            }
            let Some(txn) = txn_of(entry) else {
                // A proposal we cannot read cannot be logged faithfully; leave the ensemble.
                self.fatal(format!("undecodable proposal 0x{:x} to log", entry.zxid));
                return;
            };
            super::log_into(&mut self.open, &txn);
        }
    }

    /// The planted bug `AckBeforeDurable` (simulator tests only): tells the protocol that
    /// records are durable while they are still in the open batch.
    fn planted_early_durable(&mut self, entries: &[Entry], now_ms: i64) {
        if !crate::planted::active(crate::planted::Bug::AckBeforeDurable) {
            return;
        }
        if let Some(last) = entries.last() {
            let commands = self
                .replica_mut()
                .peer
                .step(Event::Durable { zxid: last.zxid });
            self.exec(commands, now_ms);
        }
    }

    /// The protocol has activated (or is voting on) a configuration: an active one newer
    /// than what is on disk is written down. Still to build: dropping a removed member's
    /// peer link (replication.md, "Dynamic reconfiguration").
    fn on_membership(&mut self, active: Membership, pending: Option<Membership>) {
        debug!(active = ?active, pending = ?pending, "configurations");
        let r = self.replica_mut();
        r.config_active = r.config_active.max(active.version);
        self.write_active_config();
    }

    /// Asks the executor to write the active configuration down (Apache's
    /// `zoo.cfg.dynamic.<hex version>` and zoo.cfg pointing at it) once this member's tree
    /// holds its server lines (`/zookeeper/config` with the version as its mzxid): at once
    /// for a committed reconfiguration, which the protocol activates right after its entry
    /// applies; after the diff or snapshot for one a leader's sync made active first.
    fn write_active_config(&mut self) {
        let (active, written) = (self.replica.config_active, self.replica.config_written);
        if active <= written {
            return;
        }
        let Some((data, stat)) = self.tree.get_data(ringkeeper_engine::tree::CONFIG_NODE) else {
            return;
        };
        let Some(version) = u64::try_from(active).ok().filter(|_| stat.mzxid == active) else {
            return;
        };
        let servers: Vec<String> = String::from_utf8_lossy(data)
            .lines()
            .filter(|l| l.starts_with("server."))
            .map(str::to_owned)
            .collect();
        if servers.is_empty() {
            return;
        }
        let r = self.replica_mut();
        r.config_written = active;
        r.effects
            .push(Effect::WriteDynamicConfig { version, servers });
    }

    /// Cuts the open batch and has the committer cut the log before its next write.
    fn truncate_log(&mut self, after: Zxid) {
        let cut = self
            .open
            .ends
            .iter()
            .take_while(|(z, _)| *z <= after)
            .last()
            .map_or(0, |(_, end)| *end);
        if cut == 0 {
            self.open.bytes.clear();
            self.open.ends.clear();
            self.open.txns = 0;
        } else {
            self.open.bytes.truncate(cut);
            self.open.ends.retain(|(z, _)| *z <= after);
            self.open.txns = self.open.ends.len();
        }
        self.replica_mut().log_generation += 1;
        self.replica_mut().proposed.clear();
        self.open.truncate_after = Some(self.open.truncate_after.map_or(after, |t| t.min(after)));
    }

    /// The protocol wants a snapshot for a far-behind follower. The snapshotter's copy of
    /// the tree encodes it (the request follows the commits up to `zxid` in its stream), so
    /// this core does nothing of the tree's size; it comes back through
    /// [`SequencerState::on_snapshot_prepared`]. Without a snapshotter queue (a state driven
    /// by tests) it is encoded here.
    /// `why` is the follower's last zxid and our log's base, which is after it.
    fn prepare_snapshot(
        &mut self,
        to: ServerId,
        attempt: u64,
        zxid: Zxid,
        why: (Zxid, Zxid),
        now_ms: i64,
    ) {
        let applied = self.replica_mut().applied;
        if zxid != applied {
            // The protocol names the applied point, which is where the committed tree is.
            error!(
                zxid = format_args!("0x{zxid:x}"),
                applied = format_args!("0x{applied:x}"),
                "snapshot requested at a point the committed tree is not at; not sent"
            );
            return;
        }
        let (follower_zxid, log_base) = why;
        info!(
            to,
            zxid = format_args!("0x{zxid:x}"),
            follower_zxid = format_args!("0x{follower_zxid:x}"),
            log_base = format_args!("0x{log_base:x}"),
            "preparing a snapshot for a follower, not a diff: our log does not reach back \
             to its last zxid"
        );
        if self.queue_count > self.settings.shard_count {
            let snapshotter = self.queue_count - 1;
            self.replica_mut().effects.push(Effect::ToShard(
                snapshotter,
                ToShard::SnapshotFor { to, attempt, zxid },
            ));
            return;
        }
        let sessions: Vec<(SessionId, i32)> = self
            .replica_mut()
            .committed_sessions
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let data: Arc<[u8]> =
            ringkeeper_engine::storage::encode_snapshot(&self.tree, &sessions, zxid).into();
        self.snapshot_prepared(to, attempt, zxid, data, now_ms);
    }

    pub(super) fn snapshot_prepared(
        &mut self,
        to: ServerId,
        attempt: u64,
        zxid: Zxid,
        data: Arc<[u8]>,
        now_ms: i64,
    ) {
        let total = data.len() as u64;
        info!(
            to,
            zxid = format_args!("0x{zxid:x}"),
            bytes = total,
            "sending a snapshot to a follower"
        );
        let r = self.replica_mut();
        r.outgoing.insert(to, (attempt, zxid, data));
        let commands = r.peer.step(Event::SnapshotReady {
            to,
            attempt,
            zxid,
            total,
        });
        self.exec(commands, now_ms);
    }

    /// One chunk of a prepared snapshot: the only copy is of the chunk's own bytes.
    fn send_snapshot_chunk(
        &mut self,
        to: ServerId,
        (epoch, attempt, zxid): (u32, u64, Zxid),
        offset: u64,
        len: u64,
    ) {
        let r = self.replica_mut();
        let Some((_, _, data)) = r
            .outgoing
            .get(&to)
            .filter(|(a, z, _)| (*a, *z) == (attempt, zxid))
        else {
            warn!(
                to,
                "a snapshot chunk was asked for a snapshot not prepared; not sent"
            );
            return;
        };
        let total = data.len() as u64;
        let Some(bytes) = offset
            .checked_add(len)
            .filter(|end| *end <= total)
            .map(|end| Arc::<[u8]>::from(&data[offset as usize..end as usize]))
        else {
            warn!(
                to,
                offset, len, total, "a snapshot chunk past its end; not sent"
            );
            return;
        };
        r.effects.push(Effect::PeerSend(
            to,
            Message::SnapshotChunk {
                epoch,
                attempt,
                zxid,
                offset,
                total,
                data: bytes,
            },
        ));
    }

    /// Keeps a chunk of the leader's snapshot; the protocol hands them over in order, a
    /// chunk at offset 0 starting a new snapshot (and its size is bounded by the protocol's
    /// `snapshot_bytes_max`).
    fn store_snapshot_chunk(&mut self, zxid: Zxid, offset: u64, total: u64, data: &[u8]) {
        let r = self.replica_mut();
        if offset == 0 {
            info!(
                zxid = format_args!("0x{zxid:x}"),
                bytes = total,
                last_zxid = format_args!("0x{:x}", r.peer.last_zxid()),
                "receiving a snapshot from the leader, not a diff: its log does not reach \
                 back to our last zxid"
            );
            // Reserve a bounded amount up front; the rest grows as chunks come.
            let reserve = total.min(64 << 20) as usize;
            r.incoming = Some((zxid, total, Vec::with_capacity(reserve)));
        }
        match r.incoming.as_mut() {
            Some((z, t, bytes)) if (*z, *t) == (zxid, total) && bytes.len() as u64 == offset => {
                bytes.extend_from_slice(data);
            }
            _ => {
                warn!(
                    zxid = format_args!("0x{zxid:x}"),
                    offset, "snapshot chunk out of order; dropped"
                );
                r.incoming = None;
            }
        }
    }

    fn install_snapshot(&mut self, zxid: Zxid, data: Arc<[u8]>, now_ms: i64) {
        let snap = match ringkeeper_engine::storage::decode_snapshot(&data) {
            Ok(s) if s.zxid == zxid => s,
            Ok(s) => {
                self.fatal(format!(
                    "the leader's snapshot is at 0x{:x}, not at the zxid it names, 0x{zxid:x}",
                    s.zxid
                ));
                return;
            }
            Err(e) => {
                self.fatal(format!("cannot decode the leader's snapshot: {e}"));
                return;
            }
        };
        info!(
            zxid = format_args!("0x{zxid:x}"),
            nodes = snap.tree.node_count(),
            "installing the leader's snapshot"
        );
        self.tree = snap.tree.without_watch_triggers();
        self.last_zxid = zxid;
        let digest = self.tree.digest();
        if let Some(line) = self.replica.leader_digests.applied(zxid, digest) {
            self.fatal(line);
            return;
        }
        self.open.bytes.clear();
        self.open.ends.clear();
        self.open.txns = 0;
        self.open.truncate_after = None;
        let r = self.replica_mut();
        r.committed_sessions = snap.sessions.iter().copied().collect();
        r.applied = zxid;
        r.last_proposed = zxid;
        r.log_generation += 1;
        r.proposed.clear();
        self.open.install = Some((zxid, data.clone()));
        self.rebuild_sessions(snap.sessions.iter().copied(), now_ms);
        for shard in 0..self.queue_count {
            self.send(
                shard,
                ToShard::Reset {
                    snapshot: data.clone(),
                    zxid,
                },
            );
        }
        self.replica_mut().effects.push(Effect::Released(zxid));
        self.write_active_config();
    }

    fn rebuild_sessions(&mut self, sessions: impl Iterator<Item = (SessionId, i32)>, now_ms: i64) {
        match self.settings.session_tracker(now_ms) {
            Ok(mut t) => {
                for (id, timeout) in sessions {
                    t.restore(id, timeout, now_ms);
                }
                self.sessions = t;
            }
            Err(e) => error!(error = %e, "cannot rebuild the session table"),
        }
    }

    fn change_role(&mut self, new: Role, now_ms: i64) {
        let old = self.replica_mut().role;
        if old == new {
            return;
        }
        info!(from = ?old, to = ?new, "ensemble role");
        self.replica_mut().role = new;
        // Transfers of another role are over: the protocol starts new ones. A leader that
        // becomes established keeps the snapshots its transfers are sending.
        if !matches!(new, Role::Leading { .. }) {
            self.replica_mut().outgoing.clear();
        }
        self.replica_mut().incoming = None;
        // Proposals of an earlier leadership are read from the log, never from memory.
        self.replica_mut().proposed.clear();
        match new {
            Role::Leading { .. } => {
                // Validation runs against everything proposed; it starts as the committed
                // tree, since an established leader has committed its whole history. Its
                // digest is never read (commits carry the committed tree's), so it keeps
                // none: hashing every node twice per write was a fifth of the sequencer's
                // time in the standalone write benchmark.
                let ahead = self.tree.independent_copy().without_digest();
                let r = self.replica_mut();
                r.ahead = Some(ahead);
                r.last_proposed = r.last_proposed.max(r.applied);
                // Every session gets a whole timeout from now, as Apache's new leader gives:
                // their clients may be reconnecting at this moment.
                let sessions: Vec<(SessionId, i32)> =
                    r.committed_sessions.iter().map(|(k, v)| (*k, *v)).collect();
                self.rebuild_sessions(sessions.into_iter(), now_ms);
                self.next_container_check_ms = now_ms + self.settings.containers.check_interval_ms;
                self.set_role(ServingRole::Leading);
                self.resume_shards();
            }
            Role::Following { .. } => {
                let r = self.replica_mut();
                r.ahead = None;
                r.leader_digests.clear_pending();
                // Sessions this member created that the old leader never committed are gone.
                let sessions: Vec<(SessionId, i32)> =
                    r.committed_sessions.iter().map(|(k, v)| (*k, *v)).collect();
                self.rebuild_sessions(sessions.into_iter(), now_ms);
                // The protocol's Following covers observers too (they serve and forward as
                // followers do); the four-letter words tell them apart, as Apache's do.
                self.set_role(if self.replica.peer.is_observer() {
                    ServingRole::Observing
                } else {
                    ServingRole::Following
                });
                self.resume_shards();
            }
            Role::Looking => {
                self.set_role(ServingRole::Looking);
                let r = self.replica_mut();
                r.ahead = None;
                r.last_proposed = r.applied;
                r.waiting.clear();
                r.syncs.clear();
                r.touched.clear();
                // Replies waiting for a commit go nowhere now: their connections close.
                r.gated.clear();
                self.owners.clear();
                for shard in 0..self.settings.shard_count {
                    self.send(shard, ToShard::Suspend);
                }
            }
        }
    }

    fn resume_shards(&mut self) {
        for shard in 0..self.settings.shard_count {
            self.send(shard, ToShard::Resume);
        }
    }

    /// Applies committed transactions: the committed tree, the session table, the shards
    /// (with the requesting connection's origin), then what waited for them.
    fn apply_entries(&mut self, entries: &[Entry], now_ms: i64) {
        for entry in entries {
            let own = self.replica.take_proposed(entry.zxid);
            let Some(txn) = own.or_else(|| txn_of(entry)) else {
                self.fatal(format!("undecodable committed proposal 0x{:x}", entry.zxid));
                return;
            };
            let result = self.tree.apply(&txn);
            if let Some(line) = failed_apply(TreeCopy::Sequencer, &txn, &result) {
                self.fatal(line);
                return;
            }
            let digest = self.tree.digest();
            self.last_zxid = self.last_zxid.max(txn.zxid);
            let leading = matches!(self.replica_mut().role, Role::Leading { .. });
            if !leading {
                if let Some(line) = self.replica.leader_digests.applied(txn.zxid, digest) {
                    self.fatal(line);
                    return;
                }
            }
            match &txn.body {
                TxnBody::CreateSession { timeout_ms } => {
                    self.replica_mut()
                        .committed_sessions
                        .insert(txn.session, *timeout_ms);
                    if !leading {
                        self.sessions.restore(txn.session, *timeout_ms, now_ms);
                    }
                }
                TxnBody::CloseSession { .. } => {
                    self.replica_mut().committed_sessions.remove(&txn.session);
                    self.sessions.close(txn.session);
                    self.owners.remove(&txn.session);
                }
                _ => {}
            }
            let waiting = self.replica_mut().waiting.remove(&(txn.session, txn.cxid));
            let origin = match &waiting {
                Some(Waiting::Write(o)) => Some(*o),
                _ => None,
            };
            let shared = std::sync::Arc::new(txn);
            let txn = &*shared;
            self.send_commit(&shared, origin, digest);
            if let Some(Waiting::Connect {
                shard,
                conn,
                timeout_ms,
            }) = waiting
            {
                self.owners.insert(txn.session, (shard, conn));
                let passwd = self.sessions.password(txn.session);
                self.send(
                    shard,
                    ToShard::ConnectAccepted {
                        conn,
                        session: txn.session,
                        passwd,
                        timeout_ms,
                    },
                );
            }
            self.replica_mut().applied = txn.zxid;
        }
        let applied = self.replica_mut().applied;
        self.replica_mut().effects.push(Effect::Released(applied));
        loop {
            let r = self.replica_mut();
            match r.gated.front() {
                Some((z, _)) if *z <= applied => {
                    if let Some((_, what)) = r.gated.pop_front() {
                        self.release_gated(what);
                    }
                }
                _ => break,
            }
        }
    }

    /// Queues a committed transaction for every shard and the snapshotter: one decoded form
    /// they all read, with `origin` on the copy of the requester's shard.
    fn send_commit(&mut self, txn: &std::sync::Arc<Txn>, origin: Option<Origin>, digest: u64) {
        for shard in 0..self.queue_count {
            let origin = origin.filter(|o| o.shard == shard);
            self.send(
                shard,
                ToShard::Commit {
                    txn: std::sync::Arc::clone(txn),
                    origin,
                    digest,
                },
            );
        }
    }

    /// Proposes one transaction (leader only). `waiting` is this server's client waiting
    /// for it; `from` the follower that forwarded it, told if it cannot be proposed.
    fn propose(
        &mut self,
        session: SessionId,
        cxid: i32,
        body: TxnBody,
        now_ms: i64,
        waiting: Option<Waiting>,
        from: Option<ServerId>,
    ) {
        let mut txn = Txn {
            zxid: 0,
            time_ms: now_ms,
            session,
            cxid,
            body,
        };
        let payload: Arc<[u8]> = txn.to_bytes().into();
        let r = self.replica_mut();
        let commands = match r.peer.propose(vec![payload]) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = ?e, "cannot propose");
                let zxid = r.last_proposed;
                let code = match e {
                    ProposeError::ReconfigInProgress => ErrorCode::ReconfigInProgress,
                    ProposeError::NewConfigNoQuorum => ErrorCode::NewConfigNoQuorum,
                    _ => ErrorCode::ConnectionLoss,
                };
                self.refuse(session, cxid, waiting, from, code, zxid);
                return;
            }
        };
        let zxid = commands.iter().find_map(|c| match c {
            Command::Append { entries } => entries.first().map(|e| e.zxid),
            _ => None,
        });
        let Some(zxid) = zxid else {
            error!("the protocol accepted a proposal without logging it");
            return;
        };
        txn.zxid = zxid;
        r.last_proposed = zxid;
        let failed = r.ahead.as_mut().and_then(|ahead| {
            let result = ahead.apply(&txn);
            failed_apply(TreeCopy::Proposals, &txn, &result)
        });
        r.proposed.push_back(txn);
        if let Some(w) = waiting {
            r.waiting.insert((session, cxid), w);
        }
        self.exec(commands, now_ms);
        if let Some(line) = failed {
            self.fatal(line);
        }
    }

    fn refuse(
        &mut self,
        session: SessionId,
        cxid: i32,
        waiting: Option<Waiting>,
        from: Option<ServerId>,
        err: ErrorCode,
        zxid: Zxid,
    ) {
        if let Some(w) = waiting {
            self.refuse_waiting(w, err, zxid);
        }
        if let Some(to) = from {
            self.replica_mut().send_app(
                to,
                &AppMessage::Refused {
                    session,
                    cxid,
                    err,
                    zxid,
                },
            );
        }
    }

    /// Answers a client's write with an error.
    fn refuse_write(&mut self, origin: Origin, err: ErrorCode, zxid: Zxid) {
        self.send(origin.shard, ToShard::Refused { origin, err, zxid });
    }

    /// Tells this server's waiting client its request failed.
    fn refuse_waiting(&mut self, waiting: Waiting, err: ErrorCode, zxid: Zxid) {
        match waiting {
            Waiting::Write(origin) => self.refuse_write(origin, err, zxid),
            Waiting::Connect { shard, conn, .. } => {
                self.send(shard, ToShard::ConnectRefused { conn })
            }
        }
    }

    /// The leader's handling of a client write, local (`waiting`) or forwarded (`from`).
    #[allow(clippy::too_many_arguments)]
    fn lead_write(
        &mut self,
        session: SessionId,
        cxid: i32,
        auth: &[Id],
        write: Write,
        now_ms: i64,
        waiting: Option<Waiting>,
        from: Option<ServerId>,
    ) {
        if self.poisoned {
            let zxid = self.replica_mut().last_proposed;
            self.refuse(session, cxid, waiting, from, ErrorCode::SystemError, zxid);
            return;
        }
        if !self.sessions.touch(session, now_ms) {
            let zxid = self.replica_mut().last_proposed;
            self.refuse(
                session,
                cxid,
                waiting,
                from,
                ErrorCode::SessionExpired,
                zxid,
            );
            return;
        }
        // The member the session's client is on now owns it; a request from its old member
        // (a connection the client left) is refused, as Apache's leader does.
        let owner = from.unwrap_or(self.replica_mut().my_id());
        if let Err(err) = self.sessions.check_session(session, owner) {
            let zxid = self.replica_mut().last_proposed;
            self.refuse(session, cxid, waiting, from, err, zxid);
            return;
        }
        // Borrowed field by field: prep_write also needs the session tracker mutably.
        let body = super::prep_write(
            prep_tree(&self.replica, &self.tree),
            &mut self.sessions,
            self.settings.extended_types,
            self.settings.acl_schemes,
            session,
            auth,
            write,
        );
        self.propose(session, cxid, body, now_ms, waiting, from);
    }

    /// A client write arriving at this member's sequencer.
    pub(super) fn write(
        &mut self,
        origin: Origin,
        session: SessionId,
        auth: &[Id],
        write: Write,
        now_ms: i64,
    ) {
        let role = self.replica_mut().role;
        let zxid = self.replica_mut().applied;
        if matches!(role, Role::Looking) {
            self.refuse_write(origin, ErrorCode::ConnectionLoss, zxid);
            return;
        }
        if self.owners.get(&session) != Some(&(origin.shard, origin.conn)) {
            self.refuse_write(origin, ErrorCode::SessionMoved, zxid);
            return;
        }
        if matches!(write, Write::CloseSession) {
            self.owners.remove(&session);
        }
        match role {
            Role::Leading { .. } => {
                self.lead_write(
                    session,
                    origin.xid,
                    auth,
                    write,
                    now_ms,
                    Some(Waiting::Write(origin)),
                    None,
                );
            }
            Role::Following { leader, .. } => {
                let r = self.replica_mut();
                if !r.committed_sessions.contains_key(&session) {
                    self.refuse_write(origin, ErrorCode::SessionExpired, zxid);
                    return;
                }
                r.waiting
                    .insert((session, origin.xid), Waiting::Write(origin));
                r.send_app(
                    leader,
                    &AppMessage::Forward {
                        session,
                        cxid: origin.xid,
                        auth: auth.to_vec(),
                        write,
                    },
                );
            }
            Role::Looking => {}
        }
    }

    /// A handshake at this member.
    pub(super) fn connect(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: &[u8],
        timeout_ms: i32,
        now_ms: i64,
    ) {
        let role = self.replica_mut().role;
        if matches!(role, Role::Looking) {
            self.send(shard, ToShard::CloseConn { conn });
            return;
        }
        if session == 0 {
            let Ok((id, _)) = self.sessions.create(timeout_ms, now_ms) else {
                warn!("session limit reached; refusing a new session");
                self.send(shard, ToShard::ConnectRefused { conn });
                return;
            };
            let waiting = Waiting::Connect {
                shard,
                conn,
                timeout_ms,
            };
            match role {
                Role::Leading { .. } => {
                    let me = self.replica_mut().my_id();
                    let _ = self.sessions.set_owner(id, me);
                    let body = TxnBody::CreateSession { timeout_ms };
                    self.propose(id, 0, body, now_ms, Some(waiting), None);
                }
                Role::Following { leader, .. } => {
                    let r = self.replica_mut();
                    r.waiting.insert((id, 0), waiting);
                    r.send_app(
                        leader,
                        &AppMessage::CreateSession {
                            session: id,
                            timeout_ms,
                        },
                    );
                }
                Role::Looking => {}
            }
            return;
        }
        let resume = Resume {
            shard,
            conn,
            session,
            passwd: passwd.to_vec(),
            timeout_ms,
            now_ms,
        };
        self.resume(resume, true);
    }

    /// Validates a resume against the committed sessions. A follower that does not know the
    /// session syncs with its leader first when `may_sync` (see `Resume`).
    fn resume(&mut self, resume: Resume, may_sync: bool) {
        let Resume {
            shard,
            conn,
            session,
            timeout_ms,
            now_ms,
            ..
        } = resume;
        let r = self.replica_mut();
        let role = r.role;
        let known = r.committed_sessions.contains_key(&session);
        if let (false, true, Role::Following { leader, .. }) = (known, may_sync, role) {
            let token = r.next_token;
            r.next_token += 1;
            r.syncs.insert(token, SyncFor::Resume(resume));
            r.send_app(leader, &AppMessage::Sync { token });
            return;
        }
        let alive = match role {
            Role::Leading { .. } => self.sessions.touch(session, now_ms),
            _ => known,
        };
        if !known || !alive || !self.sessions.check_password(session, &resume.passwd) {
            self.send(shard, ToShard::ConnectRefused { conn });
            return;
        }
        match role {
            Role::Following { leader, .. } => {
                let r = self.replica_mut();
                r.touched.insert(session);
                r.send_app(leader, &AppMessage::Revalidate { session });
            }
            Role::Leading { .. } => {
                let me = self.replica_mut().my_id();
                let _ = self.sessions.set_owner(session, me);
            }
            Role::Looking => {}
        }
        self.accept_resume(shard, conn, session, timeout_ms);
    }

    /// A client's `sync`: answered once this member has applied everything the leader had
    /// proposed when the sync reached it.
    pub(super) fn sync(&mut self, origin: Origin, path: String) {
        let r = self.replica_mut();
        match r.role {
            Role::Leading { .. } => {
                let zxid = r.last_proposed;
                self.gate(
                    zxid,
                    Gated::Shard(origin.shard, ToShard::SyncDone { origin, path, zxid }),
                );
            }
            Role::Following { leader, .. } => {
                let token = r.next_token;
                r.next_token += 1;
                r.syncs.insert(token, SyncFor::Client(origin, path));
                r.send_app(leader, &AppMessage::Sync { token });
            }
            Role::Looking => {
                let zxid = r.applied;
                self.refuse_write(origin, ErrorCode::ConnectionLoss, zxid);
            }
        }
    }

    /// Session activity from a shard.
    pub(super) fn touch(&mut self, sessions: Vec<SessionId>, now_ms: i64) {
        let following = matches!(self.replica_mut().role, Role::Following { .. });
        for s in sessions {
            self.sessions.touch(s, now_ms);
            if following {
                self.replica_mut().touched.insert(s);
            }
        }
    }
}

/// The tree a leader validates writes against: the ahead tree (committed plus proposed),
/// since validation must see every proposed transaction; the committed tree otherwise.
fn prep_tree<'a>(replica: &'a Replica, committed: &'a DataTree) -> &'a DataTree {
    replica.ahead.as_ref().unwrap_or(committed)
}

/// Protocol traffic at trace level (`RINGKEEPER_LOG=ringkeeper_server::sequencer=trace`):
/// the kind of each message and its small fields, never its payloads.
fn trace_message(direction: &str, peer: ServerId, message: &Message) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    match message {
        Message::Vote { round, vote, state } => {
            tracing::trace!(direction, peer, round, ?vote, ?state, "peer message Vote")
        }
        other => tracing::trace!(
            direction,
            peer,
            kind = other.kind(),
            epoch = ?other.leader_epoch(),
            "peer message"
        ),
    }
}
