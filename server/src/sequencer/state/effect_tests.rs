//! A standalone sequencer (an ensemble of one) driven by hand: each test feeds it messages
//! and times and asserts the exact list of effects it asks for, as the `replication`
//! crate's `tests/protocol.rs` does for the protocol. No executor, no disk, no clock: a
//! batch is made "durable" by calling `on_log_durable`, as the committer does after its
//! fdatasync.

use std::path::PathBuf;
use std::time::Duration;

use ringkeeper_engine::prep::WriteOp;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::{Acl, CreateMode, ErrorCode, SessionId};
use ringkeeper_replication::{Config, EpochState, Peer, Role};

use super::*;
use crate::messages::{Origin, ShardReport, ToSequencer, ToShard, Write};
use crate::replica::ReplicaSettings;

const NOW: i64 = 1_000_000;
const TIMEOUT_MS: i32 = 2_000;
/// The first zxid of a fresh ensemble of one: epoch 1, counter 1.
const FIRST: Zxid = 1 << 32 | 1;

/// A sequencer with an empty tree, one session shard, and `queues` queues in all, whose
/// protocol has the voters in `protocol`. Shared with `protocol_tests`.
pub(super) fn sequencer(protocol: Config, peer_tick: Duration, queues: usize) -> SequencerState {
    let settings = SequencerSettings {
        server_id: protocol.id,
        session_secret: b"shared".to_vec(),
        legacy_session_secret: None,
        tick_ms: 100,
        extended_types: false,
        acl_schemes: Default::default(),
        max_sessions: 1000,
        containers: Default::default(),
        shard_count: 1,
        batch_bytes_max: 1 << 20,
        batch_txns_max: 1000,
        released: crate::watermark::Watermark::new(0),
    };
    let initial = InitialState {
        tree: DataTree::new(),
        sessions: vec![],
        last_zxid: 0,
    };
    let (peer, commands) = Peer::new(protocol.clone()).unwrap();
    let replica = Replica::new(
        ReplicaSettings {
            protocol,
            peer_tick,
            dir: PathBuf::new(),
            config_file: None,
        },
        peer,
    );
    SequencerState::new(settings, initial, queues, (replica, commands), NOW).unwrap()
}

/// One session shard (0) and the snapshotter's queue (1).
fn standalone() -> SequencerState {
    sequencer(Config::new(1, vec![1]), Duration::ZERO, 2)
}

/// The committer's part: takes the open batch, "writes" it, reports it durable.
fn durable(s: &mut SequencerState, now_ms: i64) -> Vec<Effect> {
    let batch = s.take_batch().expect("a batch to write");
    let zxid = batch.last_zxid().expect("records in the batch");
    s.on_log_durable(batch.generation, zxid, now_ms);
    s.take_effects()
}

/// A transaction's commit as both queues get it: the requester's shard with its origin.
fn commits(txn: &Txn, digest: u64, origin: Option<Origin>) -> Vec<Effect> {
    vec![
        Effect::ToShard(
            0,
            ToShard::Commit {
                txn: std::sync::Arc::new(txn.clone()),
                origin,
                digest,
            },
        ),
        Effect::ToShard(
            1,
            ToShard::Commit {
                txn: std::sync::Arc::new(txn.clone()),
                origin: None,
                digest,
            },
        ),
    ]
}

/// The tree digest after `txns`, from a tree of its own.
fn digest_after(txns: &[&Txn]) -> u64 {
    let mut tree = DataTree::new();
    for txn in txns {
        let _ = tree.apply(txn);
    }
    tree.digest()
}

fn connect(conn: u64) -> ToSequencer {
    ToSequencer::Connect {
        shard: 0,
        conn,
        session: 0,
        passwd: vec![0; 16],
        timeout_ms: TIMEOUT_MS,
    }
}

fn origin(conn: u64, xid: i32) -> Origin {
    Origin {
        shard: 0,
        conn,
        xid,
    }
}

fn create(path: &str) -> Write {
    Write::Op(WriteOp::Create {
        path: path.into(),
        data: Some(b"v".to_vec()),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl_ms: None,
    })
}

fn write(session: SessionId, origin: Origin, w: Write) -> ToSequencer {
    ToSequencer::Write {
        origin,
        session,
        auth: vec![],
        write: w,
    }
}

/// Opens a session on connection `conn` and returns it with its creation transaction.
fn open_session(s: &mut SequencerState, conn: u64) -> (SessionId, Txn) {
    s.take_effects();
    s.handle(connect(conn), NOW);
    let effects = durable(s, NOW);
    let Some(Effect::ToShard(_, ToShard::Commit { txn, .. })) = effects.first() else {
        panic!("no commit in {effects:?}");
    };
    (txn.session, Txn::clone(txn))
}

#[test]
fn a_standalone_server_leads_at_once_and_talks_to_no_peer() {
    let mut s = standalone();
    // Zab phase 1 with a quorum of one: the boot counter, the new epoch accepted, then
    // current once its (empty) history is durable; then the shards are resumed. No role
    // is published (it stays `standalone`) and nothing goes to a peer.
    let boot = EpochState {
        boot: 1,
        ..Default::default()
    };
    let accepted = EpochState {
        accepted_epoch: 1,
        accepted_leader: Some(1),
        ..boot
    };
    let current = EpochState {
        current_epoch: 1,
        ..accepted
    };
    assert_eq!(
        s.take_effects(),
        vec![
            Effect::SaveEpochs(boot),
            Effect::SaveEpochs(accepted),
            Effect::SaveEpochs(current),
            Effect::ToShard(0, ToShard::Resume),
        ]
    );
    assert_eq!(s.replica().role(), Role::Leading { epoch: 1 });
    assert!(s.take_batch().is_none(), "nothing to log yet");
}

#[test]
fn a_new_session_is_answered_only_once_its_creation_is_durable() {
    let mut s = standalone();
    s.take_effects();
    s.handle(connect(7), NOW);
    assert_eq!(
        s.take_effects(),
        vec![],
        "nothing may leave before the fdatasync"
    );
    let effects = durable(&mut s, NOW);
    let Some(Effect::ToShard(
        0,
        ToShard::ConnectAccepted {
            session, passwd, ..
        },
    )) = effects.get(2)
    else {
        panic!("no handshake answer in {effects:?}");
    };
    let txn = Txn {
        zxid: FIRST,
        time_ms: NOW,
        session: *session,
        cxid: 0,
        body: TxnBody::CreateSession {
            timeout_ms: TIMEOUT_MS,
        },
    };
    let mut expected = commits(&txn, digest_after(&[&txn]), None);
    expected.push(Effect::ToShard(
        0,
        ToShard::ConnectAccepted {
            conn: 7,
            session: *session,
            passwd: *passwd,
            timeout_ms: TIMEOUT_MS,
        },
    ));
    expected.push(Effect::Released(FIRST));
    assert_eq!(effects, expected);
}

#[test]
fn a_write_from_the_owning_connection_is_committed_after_durable() {
    let mut s = standalone();
    let (session, created) = open_session(&mut s, 7);
    let o = origin(7, 1);
    s.handle(write(session, o, create("/a")), NOW + 5);
    assert_eq!(s.take_effects(), vec![]);
    let effects = durable(&mut s, NOW + 5);
    let Some(Effect::ToShard(_, ToShard::Commit { txn, .. })) = effects.first() else {
        panic!("no commit in {effects:?}");
    };
    assert_eq!((txn.zxid, txn.cxid, txn.session), (FIRST + 1, 1, session));
    assert!(matches!(&txn.body, TxnBody::Create { path, .. } if path == "/a"));
    let mut expected = commits(txn, digest_after(&[&created, txn]), Some(o));
    expected.push(Effect::Released(FIRST + 1));
    assert_eq!(effects, expected);
}

#[test]
fn a_write_from_a_connection_the_session_left_is_refused_session_moved() {
    let mut s = standalone();
    let (session, _) = open_session(&mut s, 7);
    let o = origin(8, 1);
    s.handle(write(session, o, create("/a")), NOW);
    assert_eq!(
        s.take_effects(),
        vec![Effect::ToShard(
            0,
            ToShard::Refused {
                origin: o,
                err: ErrorCode::SessionMoved,
                zxid: FIRST,
            }
        )]
    );
    assert!(s.take_batch().is_none(), "a refusal is not a transaction");
}

#[test]
fn an_expired_session_is_closed_by_a_transaction() {
    let mut s = standalone();
    let (session, created) = open_session(&mut s, 7);
    let later = NOW + 10 * i64::from(TIMEOUT_MS);
    s.tick(later);
    assert_eq!(s.take_effects(), vec![]);
    let effects = durable(&mut s, later);
    let Some(Effect::ToShard(_, ToShard::Commit { txn, .. })) = effects.first() else {
        panic!("no commit in {effects:?}");
    };
    assert_eq!(
        (txn.zxid, txn.session, txn.time_ms),
        (FIRST + 1, session, later)
    );
    assert!(matches!(txn.body, TxnBody::CloseSession { .. }));
    let mut expected = commits(txn, digest_after(&[&created, txn]), None);
    expected.push(Effect::Released(FIRST + 1));
    assert_eq!(effects, expected);
}

#[test]
fn a_poisoned_log_refuses_waiting_and_new_writes_with_system_error() {
    let mut s = standalone();
    let (session, _) = open_session(&mut s, 7);
    let first = origin(7, 1);
    s.handle(write(session, first, create("/a")), NOW);
    let _batch = s.take_batch();
    // The committer's write failed: the waiting write is refused, nothing is committed.
    s.on_log_failed();
    let refused = |origin, zxid| {
        Effect::ToShard(
            0,
            ToShard::Refused {
                origin,
                err: ErrorCode::SystemError,
                zxid,
            },
        )
    };
    // The waiting write is answered with the last committed zxid; a later one with the
    // last zxid handed out, as the standalone server always did.
    assert_eq!(s.take_effects(), vec![refused(first, FIRST)]);
    let second = origin(7, 2);
    s.handle(write(session, second, create("/b")), NOW);
    assert_eq!(s.take_effects(), vec![refused(second, FIRST + 1)]);
    assert!(s.take_batch().is_none());
}

#[test]
fn sync_is_answered_once_every_write_before_it_is_applied() {
    let mut s = standalone();
    let (session, _) = open_session(&mut s, 7);
    let sync_done = |zxid| {
        Effect::ToShard(
            0,
            ToShard::SyncDone {
                origin: origin(7, 9),
                path: "/".into(),
                zxid,
            },
        )
    };
    s.handle(
        ToSequencer::Sync {
            origin: origin(7, 9),
            path: "/".into(),
        },
        NOW,
    );
    assert_eq!(
        s.take_effects(),
        vec![sync_done(FIRST)],
        "nothing in flight"
    );
    s.handle(write(session, origin(7, 1), create("/a")), NOW);
    s.handle(
        ToSequencer::Sync {
            origin: origin(7, 9),
            path: "/".into(),
        },
        NOW,
    );
    assert_eq!(s.take_effects(), vec![], "the sync waits for the write");
    let effects = durable(&mut s, NOW);
    assert_eq!(effects.len(), 4, "{effects:?}");
    assert_eq!(effects[3], sync_done(FIRST + 1), "after the commits");
}

#[test]
fn a_four_letter_word_gathers_every_shard_then_answers_its_origin() {
    let mut s = standalone();
    s.take_effects();
    s.handle(ToSequencer::Gather { shard: 0, token: 5 }, NOW);
    assert_eq!(
        s.take_effects(),
        vec![Effect::ToShard(
            0,
            ToShard::Report {
                origin: 0,
                token: 5
            }
        )]
    );
    s.handle(
        ToSequencer::Report {
            origin: 0,
            token: 5,
            report: ShardReport::default(),
        },
        NOW,
    );
    let effects = s.take_effects();
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::ToShard(0, ToShard::Gathered { token: 5, gathered })]
                if gathered.reports.len() == 1 && gathered.session_count == 0
        ),
        "{effects:?}"
    );
}

#[test]
fn after_shutdown_the_shards_hear_nothing_more() {
    let mut s = standalone();
    s.take_effects();
    s.shutdown();
    assert_eq!(
        s.take_effects(),
        vec![
            Effect::ToShard(0, ToShard::Shutdown),
            Effect::ToShard(1, ToShard::Shutdown)
        ]
    );
    s.handle(connect(7), NOW);
    assert_eq!(durable(&mut s, NOW), vec![Effect::Released(FIRST)]);
}
