//! Three sequencers wired by an in-memory network, driven step by step: the server-side
//! half of replication (forwarding, global sessions, commit-time replies, sync, leader
//! change) without sockets, disks or clocks. The protocol itself is tested by the
//! `replication` crate's simulator; this checks what the sequencer builds on it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use ringkeeper_engine::prep::WriteOp;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::TxnBody;
use ringkeeper_engine::{Acl, CreateMode, ErrorCode, Id};
use ringkeeper_replication::{Message, Role, ServerId};

use super::*;
use crate::messages::{Origin, ToSequencer, ToShard, Write};

/// A message in flight: from, to, and a protocol message or a server message's bytes.
type InFlight = (ServerId, ServerId, Result<Message, Vec<u8>>);

#[derive(Default)]
struct Net {
    queue: RefCell<VecDeque<InFlight>>,
    /// Members cut off from everyone.
    down: RefCell<Vec<ServerId>>,
    /// Members whose incoming messages wait in `parked`, in order, instead of arriving:
    /// a slow link, not a lost one.
    held: RefCell<Vec<ServerId>>,
    parked: RefCell<VecDeque<InFlight>>,
}

impl Net {
    /// Lets a held member's parked messages arrive, before anything sent after them.
    fn release(&self) {
        self.held.borrow_mut().clear();
        let mut parked = std::mem::take(&mut *self.parked.borrow_mut());
        let mut queue = self.queue.borrow_mut();
        parked.extend(queue.drain(..));
        *queue = parked;
    }
}

struct Node {
    id: ServerId,
    state: SequencerState,
    /// What the member's one shard was sent.
    received: Vec<ToShard>,
    /// The role the member last published: each node has its own, no shared static.
    role: Option<crate::replica::role::ServingRole>,
    /// Why the member stopped, in the tests that expect one to; any other test fails on it.
    fatal: Option<String>,
    may_stop: bool,
    /// The configurations the member asked to write down (`Effect::WriteDynamicConfig`).
    written: Vec<(u64, Vec<String>)>,
}

const NOW: i64 = 1_000_000;

fn node(id: ServerId, window: usize) -> Node {
    let mut protocol = ringkeeper_replication::Config::new(id, vec![1, 2, 3]);
    protocol.log_window_entries_max = window;
    protocol.retransmit_entries_max = window;
    protocol.membership_reader =
        ringkeeper_replication::MembershipReader(crate::reconfig::read_membership);
    let state = super::effect_tests::sequencer(protocol, Duration::from_millis(10), 1);
    Node {
        id,
        state,
        received: Vec::new(),
        role: None,
        fatal: None,
        may_stop: false,
        written: Vec::new(),
    }
}

struct Cluster {
    net: Rc<Net>,
    nodes: Vec<Node>,
    now: i64,
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        Cluster::with_window(name, 500)
    }

    /// `_name` names the test; the members keep nothing on disk (epochs are effects).
    fn with_window(_name: &str, window: usize) -> Cluster {
        let net = Rc::new(Net::default());
        let nodes = (1..=3).map(|id| node(id, window)).collect();
        Cluster {
            net,
            nodes,
            now: NOW,
        }
    }

    fn idx(&self, id: ServerId) -> usize {
        (id - 1) as usize
    }

    /// Carries out every member's effects: shard messages are recorded, peer messages
    /// go on the network, roles are kept per member.
    fn drain(&mut self) {
        for n in &mut self.nodes {
            for effect in n.state.take_effects() {
                match effect {
                    Effect::ToShard(_, m) => n.received.push(m),
                    Effect::PeerSend(to, m) => {
                        self.net.queue.borrow_mut().push_back((n.id, to, Ok(m)))
                    }
                    Effect::PeerApp(to, data) => {
                        self.net.queue.borrow_mut().push_back((n.id, to, Err(data)))
                    }
                    Effect::SetRole(role) => n.role = Some(role),
                    // The simulated network has no connections to replace, and the epochs
                    // are kept by the protocol in memory.
                    Effect::FreshLink(_) | Effect::SaveEpochs(_) | Effect::Released(_) => {}
                    Effect::WriteDynamicConfig { version, servers } => {
                        n.written.push((version, servers))
                    }
                    Effect::Fatal(reason) if n.may_stop => n.fatal = Some(reason),
                    Effect::Fatal(reason) => panic!("member {} stopped: {reason}", n.id),
                }
            }
        }
    }

    /// One round: deliver every message, make every batch "durable", tick.
    fn step(&mut self) {
        self.drain();
        loop {
            let next = self.net.queue.borrow_mut().pop_front();
            let Some((from, to, m)) = next else { break };
            let down = self.net.down.borrow();
            if down.contains(&from) || down.contains(&to) {
                continue;
            }
            drop(down);
            if self.net.held.borrow().contains(&to) {
                self.net.parked.borrow_mut().push_back((from, to, m));
                continue;
            }
            let i = self.idx(to);
            match m {
                Ok(message) => self.nodes[i].state.on_peer_message(from, message, self.now),
                Err(data) => self.nodes[i].state.on_peer_app(from, &data, self.now),
            }
            self.drain();
        }
        for n in &mut self.nodes {
            while let Some(batch) = n.state.take_batch() {
                if let Some(z) = batch.last_zxid() {
                    n.state.on_log_durable(batch.generation, z, self.now);
                }
            }
        }
        self.drain();
        self.now += 10;
        for n in &mut self.nodes {
            n.state.peer_tick(self.now);
            n.state.tick(self.now);
        }
        self.drain();
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Cluster) -> bool) {
        for _ in 0..3000 {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("never happened: {what}");
    }

    /// Opens a new session on member index `i` for connection `conn` and waits until the
    /// handshake is answered; returns the session id.
    fn new_session(&mut self, i: usize, conn: u64, timeout_ms: i32) -> i64 {
        self.nodes[i].state.handle(
            ToSequencer::Connect {
                shard: 0,
                conn,
                session: 0,
                passwd: vec![0; 16],
                timeout_ms,
            },
            self.now,
        );
        self.run_until("the session is accepted", |c| {
            accepted_session(&c.nodes[i].received, conn).is_some()
        });
        accepted_session(&self.nodes[i].received, conn).unwrap()
    }

    /// Sends a persistent create of `path` from connection `conn` (shard 0) of member `i`.
    fn create_at(&mut self, i: usize, conn: u64, xid: i32, session: i64, path: &str) {
        self.nodes[i].state.handle(
            ToSequencer::Write {
                origin: Origin {
                    shard: 0,
                    conn,
                    xid,
                },
                session,
                auth: vec![],
                write: create(path, CreateMode::Persistent),
            },
            self.now,
        );
    }

    fn leader(&self) -> Option<ServerId> {
        self.nodes
            .iter()
            .find(|n| matches!(n.state.replica().role(), Role::Leading { .. }))
            .map(|n| n.id)
    }

    fn serving(&self) -> bool {
        self.nodes.iter().all(|n| {
            let down = self.net.down.borrow().contains(&n.id);
            down || !matches!(n.state.replica().role(), Role::Looking)
        })
    }
}

fn accepted_session(received: &[ToShard], conn: u64) -> Option<i64> {
    received.iter().find_map(|m| match m {
        ToShard::ConnectAccepted {
            conn: c, session, ..
        } if *c == conn => Some(*session),
        _ => None,
    })
}

fn reply_for(received: &[ToShard], xid: i32) -> Option<&ToShard> {
    received.iter().find(|m| match m {
        ToShard::Commit {
            origin: Some(o), ..
        } => o.xid == xid,
        ToShard::Refused { origin, .. } | ToShard::SyncDone { origin, .. } => origin.xid == xid,
        _ => false,
    })
}

fn create(path: &str, mode: CreateMode) -> Write {
    Write::Op(WriteOp::Create {
        path: path.into(),
        data: Some(b"v".to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        ttl_ms: None,
    })
}

fn committed_paths(received: &[ToShard]) -> Vec<String> {
    received
        .iter()
        .filter_map(|m| match m {
            ToShard::Commit { txn, .. } => match &txn.body {
                TxnBody::Create { path, .. } => Some(path.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_forwards_sessions_writes_and_syncs_and_every_member_applies_them() {
    let mut c = Cluster::new("forward");
    c.run_until("a leader and two followers", |c| {
        c.leader().is_some() && c.serving()
    });
    let leader = c.leader().unwrap();
    let follower = if leader == 1 { 2 } else { 1 };
    let f = c.idx(follower);

    // Shards were told to serve.
    assert!(c.nodes[f]
        .received
        .iter()
        .any(|m| matches!(m, ToShard::Resume)));

    // A new session on the follower becomes global through the leader.
    let session = c.new_session(f, 7, 4000);
    assert_eq!(
        (session as u64 >> 56) as ServerId,
        follower,
        "ids come from the follower's space"
    );

    // A write forwarded by the follower: answered on the follower, applied everywhere.
    let origin = Origin {
        shard: 0,
        conn: 7,
        xid: 1,
    };
    c.nodes[f].state.handle(
        ToSequencer::Write {
            origin,
            session,
            auth: vec![],
            write: create("/e", CreateMode::Ephemeral),
        },
        c.now,
    );
    c.run_until("the write is answered", |c| {
        reply_for(&c.nodes[f].received, 1).is_some()
    });
    assert!(matches!(
        reply_for(&c.nodes[f].received, 1),
        Some(ToShard::Commit { .. })
    ));
    c.run_until("every member applied it", |c| {
        c.nodes
            .iter()
            .all(|n| committed_paths(&n.received) == vec!["/e".to_string()])
    });

    // A write that fails validation is still answered, with its error transaction.
    let origin2 = Origin { xid: 2, ..origin };
    c.nodes[f].state.handle(
        ToSequencer::Write {
            origin: origin2,
            session,
            auth: vec![],
            write: create("/e", CreateMode::Persistent),
        },
        c.now,
    );
    c.run_until("the failed write is answered", |c| {
        reply_for(&c.nodes[f].received, 2).is_some()
    });
    match reply_for(&c.nodes[f].received, 2) {
        Some(ToShard::Commit { txn, .. }) => {
            assert!(matches!(
                txn.body,
                TxnBody::Error(ringkeeper_engine::ErrorCode::NodeExists)
            ))
        }
        other => panic!("unexpected {other:?}"),
    }

    // sync through the follower.
    let origin3 = Origin { xid: 3, ..origin };
    c.nodes[f].state.handle(
        ToSequencer::Sync {
            origin: origin3,
            path: "/".into(),
        },
        c.now,
    );
    c.run_until("sync answered", |c| {
        reply_for(&c.nodes[f].received, 3).is_some()
    });

    // A stranger's session is refused, and a write from a connection that does not own the
    // session is refused as moved.
    c.nodes[f].state.handle(
        ToSequencer::Write {
            origin: Origin {
                conn: 99,
                xid: 4,
                ..origin
            },
            session,
            auth: vec![],
            write: create("/x", CreateMode::Persistent),
        },
        c.now,
    );
    c.step();
    assert!(matches!(
        reply_for(&c.nodes[f].received, 4),
        Some(ToShard::Refused {
            err: ringkeeper_engine::ErrorCode::SessionMoved,
            ..
        })
    ));

    // The session resumes on the leader with the same password.
    let passwd = c.nodes[c.idx(leader)]
        .state
        .sessions
        .password(session)
        .to_vec();
    let l = c.idx(leader);
    c.nodes[l].state.handle(
        ToSequencer::Connect {
            shard: 0,
            conn: 8,
            session,
            passwd,
            timeout_ms: 4000,
        },
        c.now,
    );
    c.step();
    assert_eq!(accepted_session(&c.nodes[l].received, 8), Some(session));

    // The connection the client left on the follower can no longer write for it.
    c.nodes[f].state.handle(
        ToSequencer::Write {
            origin: Origin { xid: 6, ..origin },
            session,
            auth: vec![],
            write: create("/late", CreateMode::Persistent),
        },
        c.now,
    );
    c.run_until("the old connection's write is refused", |c| {
        reply_for(&c.nodes[f].received, 6).is_some()
    });
    assert!(matches!(
        reply_for(&c.nodes[f].received, 6),
        Some(ToShard::Refused {
            err: ringkeeper_engine::ErrorCode::SessionMoved,
            ..
        })
    ));

    // Closing it on the leader removes the ephemeral everywhere.
    c.nodes[l].state.handle(
        ToSequencer::Write {
            origin: Origin {
                shard: 0,
                conn: 8,
                xid: 5,
            },
            session,
            auth: vec![],
            write: Write::CloseSession,
        },
        c.now,
    );
    c.run_until("every member closed the session", |c| {
        c.nodes.iter().all(|n| {
            n.received.iter().any(|m| matches!(m, ToShard::Commit { txn, .. } if matches!(txn.body, TxnBody::CloseSession { .. })))
        })
    });
    for n in &c.nodes {
        assert!(
            n.state.tree.get_data_or_null("/e").is_none(),
            "member {}",
            n.id
        );
        assert_commit_digests(&n.received, n.id);
    }
}

/// Every commit carries the digest a shard's copy has after applying it: replaying the
/// commits a member sent onto a fresh tree (members start empty) gives the same digests.
fn assert_commit_digests(received: &[ToShard], member: ServerId) {
    let mut copy = DataTree::new();
    let mut commits = 0;
    for m in received {
        if let ToShard::Commit { txn, digest, .. } = m {
            let _ = copy.apply(txn);
            assert_eq!(
                copy.digest(),
                *digest,
                "member {member}, zxid {:#x}",
                txn.zxid
            );
            commits += 1;
        }
    }
    assert!(commits > 0, "member {member} sent no commit");
}

#[test]
fn a_new_leader_keeps_every_acknowledged_write_and_the_old_one_rejoins() {
    let mut c = Cluster::new("failover");
    c.run_until("a leader", |c| c.leader().is_some() && c.serving());
    let first = c.leader().unwrap();
    let l = c.idx(first);
    let session = c.new_session(l, 1, 30_000);
    for xid in 1..=20 {
        c.create_at(l, 1, xid, session, &format!("/n{xid}"));
    }
    c.run_until("all acknowledged", |c| {
        (1..=20).all(|x| reply_for(&c.nodes[l].received, x).is_some())
    });
    // The leader is cut off; the other two elect a new one.
    c.net.down.borrow_mut().push(first);
    c.run_until("a new leader", |c| c.leader().is_some_and(|id| id != first));
    assert!(
        c.nodes[l]
            .received
            .iter()
            .any(|m| matches!(m, ToShard::Suspend)),
        "the old leader stops serving"
    );
    let second = c.leader().unwrap();
    let n2 = c.idx(second);
    for x in 1..=20 {
        assert!(
            c.nodes[n2]
                .state
                .tree
                .get_data_or_null(&format!("/n{x}"))
                .is_some(),
            "/n{x} lost"
        );
    }
    // The session survives the change of leader and can write through the new one.
    let passwd = c.nodes[n2].state.sessions.password(session).to_vec();
    c.nodes[n2].state.handle(
        ToSequencer::Connect {
            shard: 0,
            conn: 2,
            session,
            passwd,
            timeout_ms: 30_000,
        },
        c.now,
    );
    c.step();
    assert_eq!(accepted_session(&c.nodes[n2].received, 2), Some(session));
    c.nodes[n2].state.handle(
        ToSequencer::Write {
            origin: Origin {
                shard: 0,
                conn: 2,
                xid: 21,
            },
            session,
            auth: vec![],
            write: create("/after", CreateMode::Persistent),
        },
        c.now,
    );
    c.run_until("write through the new leader", |c| {
        reply_for(&c.nodes[n2].received, 21).is_some()
    });
    // The old leader comes back and catches up.
    c.net.down.borrow_mut().clear();
    c.run_until("the old leader follows and has the new write", |c| {
        c.nodes[l].state.tree.get_data_or_null("/after").is_some()
    });
    c.run_until("all three serve again", |c| c.serving());
    assert_eq!(c.leader(), Some(second));
}

/// A follower whose committed tree no longer matches the leader's stops: the leader tells
/// the members its digest, and each compares it with its own at the same zxid.
#[test]
fn a_follower_whose_tree_differs_from_the_leaders_stops() {
    let mut c = Cluster::new("diverged");
    c.run_until("a leader", |c| c.leader().is_some() && c.serving());
    let l = c.idx(c.leader().unwrap());
    let f = (l + 1) % 3;
    let session = c.new_session(l, 1, 30_000);
    c.create_at(l, 1, 1, session, "/a");
    c.run_until("the follower has /a", |c| {
        c.nodes[f].state.tree.get_data_or_null("/a").is_some()
    });
    // Agreeing trees: digests flow for a while and nobody stops.
    for _ in 0..20 {
        c.step();
    }
    // The follower's copy changes behind the log's back (a bug or a bit flip).
    let rogue = Txn {
        zxid: c.nodes[f].state.last_zxid,
        time_ms: 0,
        session: 0,
        cxid: 0,
        body: ringkeeper_engine::txn::TxnBody::SetData {
            path: "/a".into(),
            data: Some(b"rogue".to_vec()),
            version: 1,
        },
    };
    let _ = c.nodes[f].state.tree.apply(&rogue);
    c.nodes[f].may_stop = true;
    c.create_at(l, 1, 2, session, "/b");
    c.run_until("the follower notices", |c| c.nodes[f].fatal.is_some());
    let line = c.nodes[f].fatal.clone().unwrap();
    assert!(line.contains("diverged from the leader"), "{line}");
}

/// A client whose session was created on one member resumes at once on another that has not
/// applied the session's creation yet (its link from the leader is slow). Apache's follower
/// asks its leader; here the follower syncs with the leader, applies up to the leader's point
/// and validates then: the resume is accepted, not refused as an unknown session. A session
/// nobody created is still refused after that sync.
#[test]
fn a_resume_on_a_follower_behind_the_sessions_creation_waits_for_it() {
    let mut c = Cluster::new("resume-behind");
    c.run_until("a serving leader", |c| c.leader().is_some() && c.serving());
    let leader = c.leader().unwrap();
    let followers: Vec<ServerId> = (1..=3).filter(|id| *id != leader).collect();
    let (f, g) = (c.idx(followers[0]), c.idx(followers[1]));
    c.net.held.borrow_mut().push(followers[1]);
    let session = c.new_session(f, 7, 10_000);
    assert_eq!(
        c.nodes[g].state.replica().committed_session_count(),
        0,
        "the slow follower must not have applied the session yet"
    );
    let passwd = c.nodes[f].state.sessions.password(session).to_vec();
    let connect = |session, passwd: &[u8], conn| ToSequencer::Connect {
        shard: 0,
        conn,
        session,
        passwd: passwd.to_vec(),
        timeout_ms: 10_000,
    };
    c.nodes[g].state.handle(connect(session, &passwd, 8), c.now);
    let stranger = session + 1_000;
    c.nodes[g]
        .state
        .handle(connect(stranger, &passwd, 9), c.now);
    assert!(
        !c.nodes[g].received.iter().any(|m| matches!(
            m,
            ToShard::ConnectRefused { conn: 8 } | ToShard::ConnectAccepted { conn: 8, .. }
        )),
        "the resume is answered before the follower caught up"
    );
    c.net.release();
    c.run_until("both handshakes are answered", |c| {
        let answered = |conn| {
            c.nodes[g].received.iter().any(|m| match m {
                ToShard::ConnectRefused { conn: k } => *k == conn,
                ToShard::ConnectAccepted { conn: k, .. } => *k == conn,
                _ => false,
            })
        };
        answered(8) && answered(9)
    });
    assert_eq!(accepted_session(&c.nodes[g].received, 8), Some(session));
    assert!(c.nodes[g]
        .received
        .iter()
        .any(|m| matches!(m, ToShard::ConnectRefused { conn: 9 })));
}

#[test]
fn a_follower_far_behind_is_brought_up_to_date_by_a_snapshot() {
    let mut c = Cluster::with_window("snap", 10);
    c.run_until("a leader", |c| c.leader().is_some() && c.serving());
    let leader = c.leader().unwrap();
    let l = c.idx(leader);
    let lagging = if leader == 3 { 2 } else { 3 };
    let g = c.idx(lagging);
    c.net.down.borrow_mut().push(lagging);
    let session = c.new_session(l, 1, 30_000);
    for xid in 1..=60 {
        c.create_at(l, 1, xid, session, &format!("/s{xid}"));
        c.step();
    }
    c.run_until("all acknowledged", |c| {
        (1..=60).all(|x| reply_for(&c.nodes[l].received, x).is_some())
    });
    c.net.down.borrow_mut().clear();
    c.run_until("the lagging member has every node", |c| {
        (1..=60).all(|x| {
            c.nodes[g]
                .state
                .tree
                .get_data_or_null(&format!("/s{x}"))
                .is_some()
        })
    });
    // It came by snapshot: its shards were reset, and it knows the session.
    assert!(
        c.nodes[g]
            .received
            .iter()
            .any(|m| matches!(m, ToShard::Reset { .. })),
        "no snapshot was installed"
    );
    assert!(c.nodes[g].state.replica().committed_session_count() >= 1);
    c.run_until("serving", |c| c.serving());
}

/// Exact effects on an established three-member ensemble: a follower's client write is
/// forwarded to the leader and nothing else; the leader proposes it to both followers and
/// logs it; its own durability is no quorum; one follower's ack is, and the leader then
/// applies it (shard, watermark) and tells the followers it is committed. Each member keeps
/// the role it was told, with no process-wide static in between.
#[test]
fn a_follower_forwards_and_the_leader_commits_on_a_quorum_exactly() {
    let mut c = Cluster::new("exact");
    c.run_until("a serving leader", |c| c.leader().is_some() && c.serving());
    let leader = c.leader().unwrap();
    let followers: Vec<ServerId> = (1..=3).filter(|id| *id != leader).collect();
    let (li, fi) = (c.idx(leader), c.idx(followers[0]));
    let session = c.new_session(fi, 7, 10_000);
    c.run_until("every member has the session", |c| {
        c.nodes
            .iter()
            .all(|n| n.state.replica().committed_session_count() == 1)
    });
    use crate::replica::role::ServingRole;
    for n in &c.nodes {
        let want = if n.id == leader {
            ServingRole::Leading
        } else {
            ServingRole::Following
        };
        assert_eq!(n.role, Some(want), "member {}", n.id);
    }

    c.create_at(fi, 7, 1, session, "/x");
    let forward = crate::replica::app::AppMessage::Forward {
        session,
        cxid: 1,
        auth: vec![],
        write: create("/x", CreateMode::Persistent),
    }
    .encode();
    assert_eq!(
        c.nodes[fi].state.take_effects(),
        vec![Effect::PeerApp(leader, forward.clone())]
    );
    assert!(
        c.nodes[fi].state.take_batch().is_none(),
        "a follower logs only proposals"
    );

    let l = &mut c.nodes[li].state;
    l.on_peer_app(followers[0], &forward, NOW);
    let effects = l.take_effects();
    let Some(Effect::PeerSend(_, Message::Proposal { epoch, entries })) = effects.first() else {
        panic!("no proposal in {effects:?}");
    };
    let (epoch, entries) = (*epoch, entries.clone());
    let zxid = entries[0].zxid;
    let proposals: Vec<Effect> = followers
        .iter()
        .map(|to| {
            Effect::PeerSend(
                *to,
                Message::Proposal {
                    epoch,
                    entries: entries.clone(),
                },
            )
        })
        .collect();
    assert_eq!(effects, proposals);

    let batch = l.take_batch().expect("the proposal is logged");
    assert_eq!(batch.last_zxid(), Some(zxid));
    l.on_log_durable(batch.generation, zxid, NOW);
    assert_eq!(
        l.take_effects(),
        vec![],
        "the leader alone is no quorum of three"
    );

    l.on_peer_message(followers[0], Message::Ack { epoch, zxid }, NOW);
    let effects = l.take_effects();
    let Some(Effect::ToShard(0, ToShard::Commit { txn, digest, .. })) = effects.first() else {
        panic!("no commit in {effects:?}");
    };
    assert_eq!((txn.zxid, txn.session, txn.cxid), (zxid, session, 1));
    let mut expected = vec![
        Effect::ToShard(
            0,
            ToShard::Commit {
                txn: txn.clone(),
                origin: None,
                digest: *digest,
            },
        ),
        Effect::Released(zxid),
    ];
    expected.extend(
        followers
            .iter()
            .map(|to| Effect::PeerSend(*to, Message::Commit { epoch, zxid })),
    );
    assert_eq!(effects, expected);
}

/// A reconfiguration that removes a follower: the leader proposes it as a `Reconfig` txn and
/// answers it on commit; a second one while it is in progress is refused ReconfigInProgress,
/// from the protocol; the remaining members apply it.
#[test]
fn a_leader_proposes_a_reconfiguration_and_refuses_a_second_in_progress() {
    let mut c = Cluster::new("reconfig");
    c.run_until("a leader and two followers", |c| {
        c.leader().is_some() && c.serving()
    });
    let leader = c.leader().unwrap();
    let removed = if leader == 3 { 2 } else { 3 };
    let kept: Vec<ServerId> = (1..=3).filter(|id| *id != removed).collect();
    let l = c.idx(leader);
    let session = c.new_session(l, 7, 4000);
    let lines: Vec<String> = kept
        .iter()
        .map(|id| format!("server.{id}=127.0.0.{id}:2888:3888:participant"))
        .collect();
    for xid in [1, 2] {
        c.nodes[l].state.handle(
            ToSequencer::Write {
                origin: Origin {
                    shard: 0,
                    conn: 7,
                    xid,
                },
                session,
                auth: vec![Id::new("super", "")],
                write: Write::Reconfig(lines.clone()),
            },
            c.now,
        );
    }
    c.run_until("both are answered", |c| {
        reply_for(&c.nodes[l].received, 1).is_some() && reply_for(&c.nodes[l].received, 2).is_some()
    });
    let Some(ToShard::Commit { txn, .. }) = reply_for(&c.nodes[l].received, 1) else {
        panic!("the first is committed");
    };
    assert_eq!(
        txn.body,
        TxnBody::Reconfig {
            servers: lines.clone()
        }
    );
    let zxid = txn.zxid;
    assert!(matches!(
        reply_for(&c.nodes[l].received, 2),
        Some(ToShard::Refused {
            err: ErrorCode::ReconfigInProgress,
            ..
        })
    ));
    c.run_until("the remaining members applied it", |c| {
        kept.iter().all(|id| {
            c.nodes[c.idx(*id)].received.iter().any(|m| {
                matches!(m, ToShard::Commit { txn, .. } if txn.zxid == zxid
                    && matches!(txn.body, TxnBody::Reconfig { .. }))
            })
        })
    });
    // Each of them activated it and asked, once, for exactly its lines to be written
    // down under its version (the zxid), as Apache's zoo.cfg.dynamic.<hex zxid>.
    for id in &kept {
        assert_eq!(
            c.nodes[c.idx(*id)].written,
            vec![(zxid as u64, lines.clone())],
            "member {id}"
        );
    }
}
