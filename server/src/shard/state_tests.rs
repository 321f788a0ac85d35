//! Unit tests of [`ShardState`] by the exact effects it leaves, in the style of
//! `replication/tests/protocol.rs`: build a shard over a small tree, feed it request frames
//! (encoded with the engine's codec) and sequencer messages, and compare what it asks the
//! executor to do. Time is a value here, so nothing waits and nothing depends on a clock.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use ringkeeper_engine::jute::records::{
    self, AuthPacket, ConnectRequest, ConnectResponse, GetDataRequest, GetDataResponse, Request,
    Response, SetDataRequest, SetDataResponse, SyncRequest, SyncResponse,
};
use ringkeeper_engine::jute::Encode;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};
use ringkeeper_engine::{Acl, ErrorCode, EventType, Id, SessionId, Zxid};

mod read_only;

use super::backlog::ConnBacklog;
use super::counters::FourLetterContext;
use super::state::{Effect, HandshakeOutcome, ShardSettings, ShardState};
use crate::messages::{ConnId, Gathered, Origin, ToSequencer, ToShard};

const SESSION: SessionId = 0x51;
const TIMEOUT_MS: i32 = 10_000;

fn settings() -> ShardSettings {
    ShardSettings {
        id: 0,
        packet_limit: 1 << 20,
        reply_bytes_max: None,
        tick_ms: 2000,
        min_session_timeout_ms: 4000,
        max_session_timeout_ms: 40_000,
        max_client_cnxns: 0,
        handshake_timeout_ms: 1000,
        max_outstanding_per_conn: 1000,
        limiter: Default::default(),
        super_digest: None,
        max_queued_bytes: 1 << 20,
        shard_queued_reply_bytes_max: 1 << 20,
        max_watches_per_conn: 100,
        four_letter: FourLetterContext {
            version: "test".to_owned(),
            whitelist: Default::default(),
            conf_text: String::new(),
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            started_ms: 0,
            probe_token: crate::fourlw::internal::ProbeToken::generate().expect("random token"),
        },
        released: crate::watermark::Watermark::new(0),
        sasl: None,
        reconfig: Default::default(),
    }
}

fn create(zxid: Zxid, path: &str, data: &[u8]) -> Txn {
    Txn {
        zxid,
        time_ms: 0,
        session: 0,
        cxid: 0,
        body: TxnBody::Create {
            path: path.to_owned(),
            data: Some(data.to_vec()),
            acl: Acl::open_unsafe(),
            kind: NodeKind::Persistent,
            parent_cversion: -1,
        },
    }
}

fn set_data(zxid: Zxid, path: &str, data: &[u8], version: i32) -> Txn {
    Txn {
        zxid,
        time_ms: 0,
        session: SESSION,
        cxid: 0,
        body: TxnBody::SetData {
            path: path.to_owned(),
            data: Some(data.to_vec()),
            version,
        },
    }
}

/// A shard over a tree holding `/a` = "x" (zxid 1), and the sequencer's copy of the same
/// tree, which gives each commit the digest the shard must agree with.
struct Harness {
    shard: ShardState,
    sequencer_tree: DataTree,
    now: Instant,
    /// Held as the connection tasks hold them; dropping one would unregister its waker.
    backlogs: Vec<Rc<ConnBacklog>>,
}

impl Harness {
    fn new() -> Self {
        Self::with(settings())
    }

    fn with(settings: ShardSettings) -> Self {
        let mut tree = DataTree::new();
        let _ = tree.apply(&create(1, "/a", b"x"));
        let sequencer_tree = tree.independent_copy();
        Self {
            shard: ShardState::new(settings, tree, 1),
            sequencer_tree,
            now: Instant::now(),
            backlogs: Vec::new(),
        }
    }

    fn effects(&mut self) -> Vec<Effect> {
        self.shard.take_effects()
    }

    /// Opens a connection whose session the sequencer accepts, and checks the handshake's
    /// effects: the reader is released, then the connect response goes out.
    fn connect(&mut self, session: SessionId) -> ConnId {
        let request = ConnectRequest {
            time_out: TIMEOUT_MS,
            session_id: session,
            passwd: vec![0; 16],
            ..Default::default()
        };
        let backlog = ConnBacklog::new(&self.shard.backlog);
        self.backlogs.push(backlog.clone());
        let begun = self
            .shard
            .begin_handshake(&request.to_bytes(), None, backlog, 0);
        let conn = begun.expect("handshake").conn;
        assert!(matches!(
            self.shard.connect_message(conn),
            Some(ToSequencer::Connect { conn: c, .. }) if c == conn
        ));
        assert_eq!(self.effects(), vec![]);
        let accepted = ToShard::ConnectAccepted {
            conn,
            session,
            passwd: [0; 16],
            timeout_ms: TIMEOUT_MS,
        };
        assert!(self.shard.on_sequencer(accepted, self.now).is_none());
        let response = records::encode_connect_response(&ConnectResponse {
            protocol_version: 0,
            time_out: TIMEOUT_MS,
            session_id: session,
            passwd: vec![0; 16],
            read_only: None,
        });
        assert_eq!(
            self.effects(),
            vec![
                Effect::Handshake(conn, HandshakeOutcome::Accepted),
                Effect::Frame(conn, response)
            ]
        );
        conn
    }

    fn request(&mut self, conn: ConnId, xid: i32, req: &Request) -> Option<ToSequencer> {
        let framed = records::encode_request(xid, req);
        // The reader hands the state a frame without its length prefix.
        self.shard
            .on_request(conn, &framed[4..], self.now)
            .expect("request keeps the connection")
    }

    /// Commits `txn` as the sequencer would: applied to its own tree first, the digest after.
    fn commit(&mut self, txn: Txn, origin: Option<Origin>) -> Vec<Effect> {
        let _ = self.sequencer_tree.apply(&txn);
        let digest = self.sequencer_tree.digest();
        let msg = ToShard::Commit {
            txn: txn.into(),
            origin,
            digest,
        };
        assert!(self.shard.on_sequencer(msg, self.now).is_none());
        self.effects()
    }

    fn tell(&mut self, msg: ToShard) -> Vec<Effect> {
        assert!(self.shard.on_sequencer(msg, self.now).is_none());
        self.effects()
    }

    /// The reply a getData of `path` gets from the tree as it is now.
    fn get_data_reply(&self, xid: i32, path: &str) -> Vec<u8> {
        let (data, stat) = self.sequencer_tree.get_data(path).expect("node");
        let body = Response::GetData(GetDataResponse {
            data: Some(data.to_vec()),
            stat,
        });
        records::encode_reply(xid, self.shard.last_zxid(), ErrorCode::Ok, &body)
    }

    fn set_data_reply(&self, xid: i32, zxid: Zxid, path: &str) -> Vec<u8> {
        let stat = self.sequencer_tree.stat(path).expect("node");
        let body = Response::SetData(SetDataResponse { stat });
        records::encode_reply(xid, zxid, ErrorCode::Ok, &body)
    }
}

fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData(GetDataRequest {
        path: path.to_owned(),
        watch,
    })
}

fn set_data_request(path: &str, data: &[u8]) -> Request {
    Request::SetData(SetDataRequest {
        path: path.to_owned(),
        data: Some(data.to_vec()),
        version: -1,
    })
}

fn origin(conn: ConnId, xid: i32) -> Origin {
    Origin {
        shard: 0,
        conn,
        xid,
    }
}

/// The sequencer's refusal of a request before it became a transaction.
fn refusal(origin: Origin, err: ErrorCode, zxid: Zxid) -> ToShard {
    ToShard::Refused { origin, err, zxid }
}

fn error_reply(xid: i32, zxid: Zxid, err: ErrorCode) -> Vec<u8> {
    records::encode_reply(xid, zxid, err, &Response::Empty)
}

/// Sends a write and checks that it goes to the sequencer, unanswered for now.
fn send_write(h: &mut Harness, conn: ConnId, xid: i32, req: &Request) {
    let msg = h.request(conn, xid, req);
    assert!(
        matches!(msg, Some(ToSequencer::Write { origin: o, session, .. })
            if o == origin(conn, xid) && session == SESSION),
        "{msg:?}"
    );
    assert_eq!(h.effects(), vec![]);
}

#[test]
fn a_read_is_answered_at_once() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    assert!(h.request(c, 1, &get_data("/a", false)).is_none());
    let expected = h.get_data_reply(1, "/a");
    assert_eq!(h.effects(), vec![Effect::Frame(c, expected)]);
    assert_eq!(h.shard.outstanding(c), 0);
}

#[test]
fn a_read_behind_a_write_waits_for_its_commit_and_follows_it_in_xid_order() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    send_write(&mut h, c, 1, &set_data_request("/a", b"y"));
    // The read must see the write before it: it waits, unanswered.
    assert!(h.request(c, 2, &get_data("/a", false)).is_none());
    assert_eq!(h.effects(), vec![]);
    assert_eq!(h.shard.outstanding(c), 2);

    let effects = h.commit(set_data(2, "/a", b"y", 1), Some(origin(c, 1)));
    let write_reply = h.set_data_reply(1, 2, "/a");
    let read_reply = h.get_data_reply(2, "/a");
    assert_eq!(
        effects,
        vec![Effect::Frame(c, write_reply), Effect::Frame(c, read_reply)]
    );
    assert_eq!(h.shard.outstanding(c), 0);
}

#[test]
fn a_commit_answers_only_the_connection_it_names() {
    let mut h = Harness::new();
    let writer = h.connect(SESSION);
    let other = h.connect(SESSION + 1);
    send_write(&mut h, writer, 7, &set_data_request("/a", b"y"));
    // The other connection's read is not behind anything: it is answered from the tree
    // as it is, and the commit later says nothing to it.
    assert!(h.request(other, 1, &get_data("/a", false)).is_none());
    let before = h.get_data_reply(1, "/a");
    assert_eq!(h.effects(), vec![Effect::Frame(other, before)]);
    let effects = h.commit(set_data(2, "/a", b"y", 1), Some(origin(writer, 7)));
    let reply = h.set_data_reply(7, 2, "/a");
    assert_eq!(effects, vec![Effect::Frame(writer, reply)]);
}

#[test]
fn a_refused_write_is_answered_with_its_error() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    send_write(&mut h, c, 3, &set_data_request("/a", b"y"));
    let refused = refusal(origin(c, 3), ErrorCode::SessionExpired, 1);
    let expected = error_reply(3, 1, ErrorCode::SessionExpired);
    assert_eq!(h.tell(refused), vec![Effect::Frame(c, expected)]);
    assert_eq!(h.shard.outstanding(c), 0);
}

#[test]
fn an_answer_that_overtakes_an_earlier_write_waits_in_its_place() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    send_write(&mut h, c, 1, &set_data_request("/a", b"y"));
    send_write(&mut h, c, 2, &set_data_request("/a", b"z"));
    // The leader refuses the second at once while the first waits for a quorum.
    let refused = refusal(origin(c, 2), ErrorCode::BadVersion, 1);
    assert_eq!(h.tell(refused), vec![]);
    let effects = h.commit(set_data(2, "/a", b"y", 1), Some(origin(c, 1)));
    let first = h.set_data_reply(1, 2, "/a");
    let second = error_reply(2, 1, ErrorCode::BadVersion);
    assert_eq!(
        effects,
        vec![Effect::Frame(c, first), Effect::Frame(c, second)]
    );
}

#[test]
fn a_read_after_sync_waits_for_the_sync() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    let sync = Request::Sync(SyncRequest {
        path: "/a".to_owned(),
    });
    let msg = h.request(c, 1, &sync);
    assert!(
        matches!(&msg, Some(ToSequencer::Sync { origin: o, path }) if *o == origin(c, 1) && path == "/a"),
        "{msg:?}"
    );
    assert!(h.request(c, 2, &get_data("/a", false)).is_none());
    assert_eq!(h.effects(), vec![]);
    // Another client's write reaches this shard before the sync's answer.
    assert_eq!(h.commit(set_data(2, "/a", b"y", 1), None), vec![]);
    let done = ToShard::SyncDone {
        origin: origin(c, 1),
        path: "/a".to_owned(),
        zxid: 2,
    };
    let sync_reply = records::encode_reply(
        1,
        2,
        ErrorCode::Ok,
        &Response::Sync(SyncResponse {
            path: "/a".to_owned(),
        }),
    );
    let read_reply = h.get_data_reply(2, "/a");
    assert_eq!(
        h.tell(done),
        vec![Effect::Frame(c, sync_reply), Effect::Frame(c, read_reply)]
    );
}

#[test]
fn a_read_waits_for_the_shard_to_apply_what_was_released_before_it() {
    let settings = settings();
    let released = settings.released.clone();
    let mut h = Harness::with(settings);
    let c = h.connect(SESSION);
    // zxids 2 and 3 are acknowledged (to clients of other shards), not applied here yet.
    released.raise(3);
    assert!(h.request(c, 1, &get_data("/a", false)).is_none());
    assert_eq!(h.effects(), vec![]);
    assert_eq!(h.commit(set_data(2, "/a", b"y", 1), None), vec![]);
    let effects = h.commit(set_data(3, "/a", b"z", 2), None);
    let reply = h.get_data_reply(1, "/a");
    assert_eq!(effects, vec![Effect::Frame(c, reply)]);
}

/// Reads that must wait (for the shard to catch up, or behind a write) hold their reply's
/// size in the backlog from the moment they are read, so a client pipelining reads whose
/// answers it does not take is stopped at its pause before any of those replies exist.
#[test]
fn reads_that_wait_reserve_their_replies_so_the_reader_pauses() {
    let mut settings = settings();
    settings.shard_queued_reply_bytes_max = 10_000;
    let released = settings.released.clone();
    let mut h = Harness::with(settings);
    let big = vec![7u8; 3000];
    let _ = h.commit(set_data(2, "/a", &big, 0), None);
    let c = h.connect(SESSION);
    let conn = h.backlogs[0].clone();
    // The connect response: no writer drains it here.
    let handshake = conn.queued();
    // Something acknowledged elsewhere is not applied here yet: every read waits.
    released.raise(3);
    let mut read = 0;
    while conn.may_read() {
        read += 1;
        assert!(h.request(c, read, &get_data("/a", false)).is_none());
        assert_eq!(h.effects(), vec![], "read {read} waits for zxid 3");
        assert!(read < 100, "the gate never closed");
    }
    assert_eq!(
        read, 4,
        "three 3 KiB replies fit under 10 000 bytes, the fourth does not"
    );
    assert!(conn.queued() >= handshake + 4 * big.len());
    // Once the shard catches up, the reservations become the real replies.
    let effects = h.commit(set_data(3, "/a", &big, 1), None);
    let replies: Vec<Effect> = (1..=read)
        .map(|xid| Effect::Frame(c, h.get_data_reply(xid, "/a")))
        .collect();
    let sent: usize = replies
        .iter()
        .map(|e| match e {
            Effect::Frame(_, f) => f.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(effects, replies);
    assert_eq!(
        conn.queued(),
        handshake + sent,
        "only the built replies stay counted"
    );
}

#[test]
fn a_watch_set_by_a_read_fires_once_on_a_later_commit() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    assert!(h.request(c, 1, &get_data("/a", true)).is_none());
    let reply = h.get_data_reply(1, "/a");
    assert_eq!(h.effects(), vec![Effect::Frame(c, reply)]);
    let event = super::replies::notification(EventType::NodeDataChanged, "/a");
    assert_eq!(
        h.commit(set_data(2, "/a", b"y", 1), None),
        vec![Effect::Frame(c, event)]
    );
    assert_eq!(h.commit(set_data(3, "/a", b"z", 2), None), vec![]);
}

#[test]
fn a_session_moved_elsewhere_closes_the_old_connection_without_reporting_it() {
    let mut h = Harness::new();
    let old = h.connect(SESSION);
    let moved = ToShard::SessionMoved {
        session: SESSION,
        new_owner: (1, 99),
    };
    assert_eq!(h.tell(moved), vec![Effect::Close(old)]);
    // The session lives on elsewhere: its old connection going away must not report it.
    assert!(h.shard.remove_conn(old).is_none());
    assert_eq!(h.effects(), vec![]);
}

#[test]
fn a_request_refused_as_session_moved_closes_without_an_answer() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    send_write(&mut h, c, 1, &set_data_request("/a", b"y"));
    let refused = refusal(origin(c, 1), ErrorCode::SessionMoved, 1);
    assert_eq!(h.tell(refused), vec![Effect::Close(c)]);
}

#[test]
fn a_client_that_does_not_read_is_closed_at_the_queued_bytes_cap() {
    let mut settings = settings();
    settings.max_queued_bytes = 300;
    let mut h = Harness::with(settings);
    let c = h.connect(SESSION);
    let reply_len = h.get_data_reply(1, "/a").len();
    let mut sent = h.backlogs[0].queued();
    let mut xid = 1;
    // Nothing drains the backlog (no writer): replies pile up until the cap.
    while sent + reply_len <= 300 {
        assert!(h.request(c, xid, &get_data("/a", false)).is_none());
        let reply = h.get_data_reply(xid, "/a");
        assert_eq!(h.effects(), vec![Effect::Frame(c, reply)]);
        sent += reply_len;
        xid += 1;
    }
    assert_eq!(h.backlogs[0].queued(), sent);
    assert!(h.request(c, xid, &get_data("/a", false)).is_none());
    assert_eq!(h.effects(), vec![Effect::Close(c)]);
    // A closing connection gets nothing more, and its backlog did not grow.
    assert!(h.request(c, xid + 1, &get_data("/a", false)).is_none());
    assert_eq!(h.effects(), vec![]);
    assert_eq!(h.backlogs[0].queued(), sent);
}

#[test]
fn a_connection_closed_mid_flight_leaves_nothing_behind() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    assert!(h.request(c, 1, &get_data("/a", true)).is_none());
    let _ = h.effects();
    send_write(&mut h, c, 2, &set_data_request("/a", b"y"));
    assert!(h.request(c, 3, &get_data("/a", false)).is_none());
    let gone = h.shard.remove_conn(c);
    assert!(
        matches!(gone, Some(ToSequencer::Disconnected { conn, session, .. }) if conn == c && session == SESSION),
        "{gone:?}"
    );
    assert_eq!(h.effects(), vec![Effect::Close(c)]);
    assert_eq!(h.shard.outstanding_total(), 0);
    assert_eq!(h.shard.watches.apache_watch_count(), 0);
    // Its write still commits, and nobody is told: no reply, no watch event.
    assert_eq!(
        h.commit(set_data(2, "/a", b"y", 1), Some(origin(c, 2))),
        vec![]
    );
    assert!(h.shard.take_touched().is_empty());
}

#[test]
fn auth_takes_effect_at_once_and_a_bad_scheme_closes() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    let auth = |scheme: &str| {
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: scheme.to_owned(),
            auth: b"user:pw".to_vec(),
        })
    };
    assert!(h.request(c, -4, &auth("digest")).is_none());
    let ok = records::encode_reply(-4, 0, ErrorCode::Ok, &Response::Empty);
    assert_eq!(h.effects(), vec![Effect::Frame(c, ok)]);
    assert!(h.shard.conns[&c]
        .auth
        .iter()
        .any(|id| id.scheme == "digest"));

    assert!(h.request(c, -4, &auth("kerberos")).is_none());
    let failed = error_reply(-4, 0, ErrorCode::AuthFailed);
    assert_eq!(
        h.effects(),
        vec![Effect::Frame(c, failed), Effect::Close(c)]
    );
}

#[test]
fn sasl_without_a_server_section_answers_ok_with_no_token_in_turn() {
    let mut h = Harness::new();
    let c = h.connect(SESSION);
    send_write(&mut h, c, 1, &set_data_request("/a", b"y"));
    let sasl = Request::Sasl(records::GetSaslRequest {
        token: Some(b"hello".to_vec()),
    });
    assert!(h.request(c, 2, &sasl).is_none());
    assert_eq!(h.effects(), vec![]);
    let effects = h.commit(set_data(2, "/a", b"y", 1), Some(origin(c, 1)));
    let sasl_reply = records::encode_reply_with_body(
        2,
        0,
        ErrorCode::Ok,
        &Response::Sasl(records::SetSaslResponse { token: None }),
    );
    let write_reply = h.set_data_reply(1, 2, "/a");
    assert_eq!(
        effects,
        vec![Effect::Frame(c, write_reply), Effect::Frame(c, sasl_reply)]
    );
}

#[test]
fn a_gather_answer_reaches_only_the_gather_that_waits_for_it() {
    let mut h = Harness::new();
    let msg = h.shard.begin_gather();
    let ToSequencer::Gather { token, .. } = msg else {
        panic!("{msg:?}");
    };
    let gathered = |token| ToShard::Gathered {
        token,
        gathered: Gathered::default(),
    };
    assert_eq!(h.tell(gathered(token + 1)), vec![]);
    assert_eq!(
        h.tell(gathered(token)),
        vec![Effect::Gathered(token, Box::default())]
    );
    // A late answer, after the word gave up waiting, is dropped.
    let again = h.shard.begin_gather();
    let ToSequencer::Gather { token, .. } = again else {
        panic!("{again:?}");
    };
    h.shard.end_gather(token);
    assert_eq!(h.tell(gathered(token)), vec![]);
}

#[test]
fn a_copy_whose_digest_differs_from_the_sequencers_is_fatal() {
    let mut h = Harness::new();
    let msg = ToShard::Commit {
        txn: set_data(2, "/a", b"y", 1).into(),
        origin: None,
        digest: 0xdead,
    };
    let effects = h.tell(msg);
    assert!(
        matches!(effects.as_slice(), [Effect::Fatal(line)] if line.contains("diverged")),
        "{effects:?}"
    );
}

/// A commit that fails on the shard's copy where prep said it would succeed is fatal even
/// when the digest the sequencer sent agrees (the sequencer's copy failed the same way).
#[test]
fn a_commit_that_fails_where_prep_said_it_would_not_is_fatal() {
    let mut h = Harness::new();
    let missing = Txn {
        zxid: 2,
        time_ms: 0,
        session: 0,
        cxid: 0,
        body: TxnBody::Delete {
            path: "/never-created".into(),
        },
    };
    let effects = h.commit(missing, None);
    assert!(
        matches!(effects.as_slice(), [Effect::Fatal(line)] if line.contains("NoNode") && line.contains("shard")),
        "{effects:?}"
    );
}

#[test]
fn a_member_that_does_not_serve_refuses_handshakes() {
    let mut h = Harness::new();
    h.shard.set_serving(false);
    let backlog = ConnBacklog::new(&h.shard.backlog);
    let request = ConnectRequest::default().to_bytes();
    assert!(h.shard.begin_handshake(&request, None, backlog, 0).is_err());
    assert_eq!(h.effects(), vec![]);
}

fn ensemble_view() -> crate::reconfig::ReconfigView {
    let member = |id: u64, spec: &str| crate::config::parse_server_line(id, spec, false).unwrap();
    crate::reconfig::ReconfigView {
        enabled: true,
        standalone: false,
        members: vec![
            member(1, "127.0.0.1:2001:3001"),
            member(2, "127.0.0.1:2002:3002"),
            member(3, "127.0.0.1:2003:3003"),
        ],
        version: 0,
        multi_address: false,
    }
}

#[test]
fn a_reconfig_is_answered_by_its_checks_or_proposed_and_answered_with_the_new_config() {
    let mut h = Harness::with(ShardSettings {
        reconfig: std::sync::Arc::new(ensemble_view()),
        ..settings()
    });
    let c = h.connect(SESSION);
    let reconfig = |joining: &str, id: i64| {
        Request::Reconfig(ringkeeper_engine::jute::records::ReconfigRequest {
            joining_servers: joining.into(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: id,
        })
    };
    let joiner = "server.4=127.0.0.1:2004:3004;4004";
    for (xid, req, err) in [
        (1, reconfig("some thing", -1), ErrorCode::BadArguments),
        (2, reconfig(joiner, 9), ErrorCode::BadVersion),
        (3, reconfig(joiner, -1), ErrorCode::NoAuth),
    ] {
        assert!(
            h.request(c, xid, &req).is_none(),
            "never reaches the sequencer"
        );
        assert_eq!(
            h.effects(),
            vec![Effect::Frame(c, error_reply(xid, 1, err))],
            "xid {xid}"
        );
    }
    // Past every check (a super id), it goes to the sequencer as the new member list.
    h.shard
        .conns
        .get_mut(&c)
        .unwrap()
        .auth
        .push(Id::new("super", ""));
    let lines = vec![
        "server.1=127.0.0.1:2001:3001:participant".to_owned(),
        "server.2=127.0.0.1:2002:3002:participant".to_owned(),
        "server.3=127.0.0.1:2003:3003:participant".to_owned(),
        "server.4=127.0.0.1:2004:3004:participant;0.0.0.0:4004".to_owned(),
    ];
    match h.request(c, 4, &reconfig(joiner, -1)) {
        Some(ToSequencer::Write {
            origin: o, write, ..
        }) => {
            assert_eq!(o, origin(c, 4));
            assert_eq!(write, crate::messages::Write::Reconfig(lines.clone()));
        }
        other => panic!("expected the reconfiguration for the sequencer, got {other:?}"),
    }
    assert_eq!(h.effects(), vec![]);
    // Its commit is answered with the config node's new data and stat, as Apache's.
    let txn = Txn {
        zxid: 9,
        time_ms: 3,
        session: SESSION,
        cxid: 4,
        body: TxnBody::Reconfig { servers: lines },
    };
    let effects = h.commit(txn, Some(origin(c, 4)));
    let (data, stat) = h.shard.tree.get_data("/zookeeper/config").unwrap();
    assert!(data.ends_with(b"\nversion=9"), "{data:?}");
    let resp = Response::GetData(ringkeeper_engine::jute::records::GetDataResponse {
        data: Some(data.to_vec()),
        stat,
    });
    assert_eq!(
        effects,
        vec![Effect::Frame(
            c,
            records::encode_reply(4, 9, ErrorCode::Ok, &resp)
        )]
    );
}

#[test]
fn a_snapshot_from_the_leader_keeps_this_members_view_in_the_config_node() {
    let mut h = Harness::with(ShardSettings {
        reconfig: std::sync::Arc::new(ensemble_view()),
        ..settings()
    });
    // The leader sees the ensemble differently (another address for member 3).
    let mut leader_tree = DataTree::new();
    leader_tree.set_config_data(b"server.3=10.0.0.3:1:2:participant\nversion=0", 0, 77);
    let _ = leader_tree.apply(&create(5, "/b", b"y"));
    let snapshot = ringkeeper_engine::storage::encode_snapshot(&leader_tree, &[], 5);
    assert_eq!(
        h.tell(ToShard::Reset {
            snapshot: snapshot.into(),
            zxid: 5
        }),
        vec![]
    );
    let (data, stat) = h.shard.tree.get_data("/zookeeper/config").unwrap();
    assert_eq!(
        String::from_utf8_lossy(data),
        "server.1=127.0.0.1:2001:3001:participant\n\
         server.2=127.0.0.1:2002:3002:participant\n\
         server.3=127.0.0.1:2003:3003:participant\n\
         version=0"
    );
    assert_eq!((stat.version, stat.mzxid, stat.mtime), (-1, 0, 77));
    assert!(h.shard.tree.stat("/b").is_some());
    assert_eq!(h.shard.tree.digest(), leader_tree.digest());
}

#[test]
fn a_committed_reconfig_moves_this_members_view_and_a_later_snapshot_keeps_it() {
    let mut h = Harness::with(ShardSettings {
        reconfig: std::sync::Arc::new(ensemble_view()),
        ..settings()
    });
    let servers = vec![
        "server.1=127.0.0.1:2001:3001:participant".to_owned(),
        "server.2=127.0.0.1:2002:3002:participant".to_owned(),
    ];
    let reconfig = Txn {
        zxid: 7,
        time_ms: 55,
        session: 0,
        cxid: 0,
        body: TxnBody::Reconfig {
            servers: servers.clone(),
        },
    };
    assert_eq!(h.commit(reconfig, None), vec![]);
    let two = "server.1=127.0.0.1:2001:3001:participant\n\
               server.2=127.0.0.1:2002:3002:participant\n\
               version=7";
    let (data, stat) = h.shard.tree.get_data("/zookeeper/config").unwrap();
    assert_eq!(String::from_utf8_lossy(data), two);
    assert_eq!((stat.version, stat.mzxid, stat.mtime), (-1, 7, 55));
    let view = &h.shard.settings.reconfig;
    assert_eq!((view.version, view.members.len()), (7, 2));
    // The leader's snapshot after it: the config node shows the committed membership,
    // not the one this member started with.
    let mut leader_tree = DataTree::new();
    let _ = leader_tree.apply(&create(8, "/b", b"y"));
    let snapshot = ringkeeper_engine::storage::encode_snapshot(&leader_tree, &[], 8);
    assert_eq!(
        h.tell(ToShard::Reset {
            snapshot: snapshot.into(),
            zxid: 8
        }),
        vec![]
    );
    let (data, stat) = h.shard.tree.get_data("/zookeeper/config").unwrap();
    assert_eq!(String::from_utf8_lossy(data), two);
    assert_eq!(stat.mzxid, 7);
}

#[test]
fn a_reconfiguration_learned_through_the_leaders_snapshot_becomes_the_view() {
    let mut h = Harness::with(ShardSettings {
        reconfig: std::sync::Arc::new(ensemble_view()),
        ..settings()
    });
    let two = "server.1=127.0.0.1:2001:3001:participant\n\
               server.2=127.0.0.1:2002:3002:participant\n\
               version=9";
    let mut leader_tree = DataTree::new();
    leader_tree.set_config_data(two.as_bytes(), 9, 77);
    let _ = leader_tree.apply(&create(10, "/b", b"y"));
    let snapshot = ringkeeper_engine::storage::encode_snapshot(&leader_tree, &[], 10);
    assert_eq!(
        h.tell(ToShard::Reset {
            snapshot: snapshot.into(),
            zxid: 10
        }),
        vec![]
    );
    let view = &h.shard.settings.reconfig;
    assert_eq!((view.version, view.members.len()), (9, 2));
    let (data, stat) = h.shard.tree.get_data("/zookeeper/config").unwrap();
    assert_eq!(String::from_utf8_lossy(data), two);
    assert_eq!((stat.version, stat.mzxid), (-1, 9));
}
