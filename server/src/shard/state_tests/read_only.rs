//! Read-only mode (`state/read_only.rs`) by its exact effects: which handshakes a member
//! without a quorum takes, what a read-only session may do, and that the quorum's return
//! closes it.

use super::*;
use ringkeeper_engine::jute::records::CreateRequest;
use ringkeeper_engine::jute::Decode;
use ringkeeper_engine::jute::Reader;

/// A member that lost its quorum: suspended, not serving, read-only mode on.
fn cut_off() -> Harness {
    let mut h = Harness::new();
    assert_eq!(h.tell(ToShard::Suspend), vec![]);
    h.shard.set_serving(false);
    h.shard.set_read_only(true);
    h
}

fn handshake(
    h: &mut Harness,
    session: SessionId,
    read_only: Option<bool>,
) -> Result<ConnId, String> {
    let request = ConnectRequest {
        time_out: TIMEOUT_MS,
        session_id: session,
        passwd: vec![0; 16],
        read_only,
        ..Default::default()
    };
    let backlog = ConnBacklog::new(&h.shard.backlog);
    h.backlogs.push(backlog.clone());
    let begun = h
        .shard
        .begin_handshake(&request.to_bytes(), None, backlog, 1_000);
    begun.map(|b| b.conn)
}

/// Opens a read-only session and returns its connection and the ConnectResponse it got.
fn connect_read_only(h: &mut Harness) -> (ConnId, ConnectResponse) {
    let conn = handshake(h, 0, Some(true)).expect("a read-only client is taken");
    // The shard settles the session itself: nothing goes to the sequencer.
    assert!(h.shard.connect_message(conn).is_none());
    let effects = h.effects();
    let [Effect::Handshake(c, HandshakeOutcome::Accepted), Effect::Frame(f, frame)] =
        effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!((*c, *f), (conn, conn));
    let response = ConnectResponse::decode(&mut Reader::new(&frame[4..])).expect("response");
    (conn, response)
}

#[test]
fn a_member_without_quorum_gives_a_read_only_client_a_local_read_only_session() {
    let mut h = cut_off();
    let (conn, response) = connect_read_only(&mut h);
    assert_eq!(response.read_only, Some(true));
    assert_eq!(response.time_out, TIMEOUT_MS);
    assert_ne!(response.session_id, 0);
    // The session is this connection's alone: the sequencer's expiry clock and session
    // table never hear of it.
    assert!(h.request(conn, -2, &Request::Ping).is_none());
    assert!(matches!(h.effects().as_slice(), [Effect::Frame(c, _)] if *c == conn));
    assert_eq!(h.shard.take_touched(), vec![]);
    assert!(h.shard.remove_conn(conn).is_none());
}

#[test]
fn clients_without_the_flag_and_members_outside_read_only_mode_refuse() {
    let mut h = cut_off();
    assert!(handshake(&mut h, 0, None).is_err());
    assert!(handshake(&mut h, 0, Some(false)).is_err());
    // Read-only mode off (or its grace period not over): nobody is taken.
    h.shard.set_read_only(false);
    assert!(handshake(&mut h, 0, Some(true)).is_err());
    assert_eq!(h.effects(), vec![]);
}

/// ReadOnlyZooKeeperServer.validateSession: "Refusing global session reconnection in RO
/// mode", a close without an answer, so the client keeps its session for another server.
#[test]
fn a_read_only_client_resuming_a_session_is_closed_unanswered() {
    let mut h = cut_off();
    let conn = handshake(&mut h, SESSION, Some(true)).expect("taken");
    assert!(h.shard.connect_message(conn).is_none());
    assert_eq!(
        h.effects(),
        vec![
            Effect::Close(conn),
            Effect::Handshake(conn, HandshakeOutcome::Refused),
        ]
    );
    assert!(h.shard.remove_conn(conn).is_none());
}

#[test]
fn reads_are_answered_from_the_local_tree_and_writes_get_not_read_only() {
    let mut h = cut_off();
    let (conn, _) = connect_read_only(&mut h);
    assert!(h.request(conn, 1, &get_data("/a", false)).is_none());
    let read = h.get_data_reply(1, "/a");
    assert_eq!(h.effects(), vec![Effect::Frame(conn, read)]);

    let create = Request::Create(CreateRequest {
        path: "/b".to_owned(),
        data: Some(Vec::new()),
        acl: Acl::open_unsafe(),
        flags: 0,
    });
    let sync = Request::Sync(SyncRequest {
        path: "/".to_owned(),
    });
    for (xid, write) in [(2, create), (3, set_data_request("/a", b"y")), (4, sync)] {
        assert!(h.request(conn, xid, &write).is_none(), "{write:?}");
        let refused = error_reply(xid, 1, ErrorCode::NotReadOnly);
        assert_eq!(h.effects(), vec![Effect::Frame(conn, refused)]);
    }
}

#[test]
fn close_session_is_answered_here_and_closes() {
    let mut h = cut_off();
    let (conn, _) = connect_read_only(&mut h);
    assert!(h.request(conn, 5, &Request::CloseSession).is_none());
    let answer = error_reply(5, 1, ErrorCode::Ok);
    assert_eq!(
        h.effects(),
        vec![Effect::Frame(conn, answer), Effect::Close(conn)]
    );
}

#[test]
fn the_quorum_coming_back_closes_read_only_connections() {
    let mut h = cut_off();
    let (settled, _) = connect_read_only(&mut h);
    // A handshake still waiting for its catch-up check is refused, not left hanging.
    let waiting = handshake(&mut h, 0, Some(true)).expect("taken");
    h.shard.set_serving(true);
    h.shard.set_read_only(false);
    let mut effects = h.tell(ToShard::Resume);
    effects.sort_by_key(|e| format!("{e:?}"));
    let mut expected = vec![
        Effect::Close(settled),
        Effect::Close(waiting),
        Effect::Handshake(waiting, HandshakeOutcome::Refused),
    ];
    expected.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(effects, expected);
    // A client without the flag is served again, by the sequencer.
    assert!(handshake(&mut h, 0, None).is_ok());
}
