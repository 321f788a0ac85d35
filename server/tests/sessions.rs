//! Sessions: expiry and its effects, resuming a session on a new connection, the handshake's
//! refusals (expired or made-up session, wrong password, lastZxidSeen ahead of the server),
//! malformed frames, and durability across restarts.

mod common;

use std::time::Duration;

use common::jute::{err, event, op, Out};
use common::*;
use zookeeper_client::EventType;

/// A session whose connection is dropped without CloseSession expires after its timeout.
#[tokio::test]
async fn expiry_deletes_ephemerals_and_fires_other_sessions_watches() {
    let server = TestServer::start(ServerOptions::fast_expiry());
    let observer = connect_with_timeout(&server, Duration::from_secs(4)).await;
    // Long enough that the set-up below finishes before expiry on a loaded CI machine
    // (the doomed connection sends no pings), short enough to keep the test quick.
    let (mut doomed, handshake) = RawConn::new_session(&server, 1600);
    assert_eq!(handshake.timeout_ms, 1600);
    let create = doomed.request(
        op::CREATE,
        Out::new().string("/lease").buffer(b"").open_acl().int(1),
    );
    assert_eq!(create.err, err::OK);
    let (stat, watch) = observer.check_and_watch_stat("/lease").await.unwrap();
    assert_eq!(
        stat.expect("the ephemeral exists").ephemeral_owner,
        handshake.session_id
    );
    let (_, child_watch) = observer.list_and_watch_children("/").await.unwrap();
    doomed.drop_connection();
    let fired = within("NodeDeleted after expiry", watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeDeleted);
    assert_eq!(
        within("root child watch", child_watch.changed())
            .await
            .event_type,
        EventType::NodeChildrenChanged
    );
    assert_eq!(observer.check_stat("/lease").await.unwrap(), None);
}

#[test]
fn a_session_resumes_on_a_new_connection_and_keeps_its_ephemerals() {
    let server = TestServer::start_default();
    let (mut first, handshake) = RawConn::new_session(&server, 6000);
    let create = first.request(
        op::CREATE,
        Out::new().string("/kept").buffer(b"").open_acl().int(1),
    );
    assert_eq!(create.err, err::OK);
    first.drop_connection();
    let mut second = RawConn::open(server.address());
    let resumed = second
        .handshake(create.zxid, 6000, handshake.session_id, &handshake.password)
        .expect("the server accepts the session's reconnect");
    assert_eq!(resumed.session_id, handshake.session_id);
    assert_eq!(resumed.password, handshake.password);
    assert!(resumed.timeout_ms > 0);
    let exists = second.request(op::EXISTS, Out::new().string("/kept").boolean(false));
    assert_eq!(exists.err, err::OK);
    assert_eq!(exists.reader().stat().ephemeral_owner, handshake.session_id);
}

#[tokio::test]
async fn the_client_crate_resumes_a_detached_session() {
    let server = TestServer::start_default();
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(DEFAULT_SESSION_TIMEOUT)
        .with_detached()
        .connect(&server.connect_string())
        .await
        .unwrap();
    client.create("/held", b"", &ephemeral()).await.unwrap();
    let session = client.session().clone();
    let id = client.session_id();
    drop(client);
    let resumed = zookeeper_client::Client::connector()
        .with_session(session)
        .connect(&server.connect_string())
        .await
        .unwrap();
    assert_eq!(resumed.session_id(), id);
    let stat = resumed
        .check_stat("/held")
        .await
        .unwrap()
        .expect("the ephemeral survived the reconnect");
    assert_eq!(stat.ephemeral_owner, id.0);
}

fn assert_expired_handshake(conn: &mut RawConn, handshake: Option<common::raw::Handshake>) {
    let handshake = handshake.expect("an expired session still gets a ConnectResponse");
    assert_eq!(handshake.timeout_ms, 0);
    assert_eq!(handshake.session_id, 0);
    assert_eq!(handshake.password, vec![0u8; 16]);
    assert!(
        conn.closed_by_server(Duration::from_secs(5)),
        "then the server closes the connection"
    );
}

#[test]
fn a_made_up_session_id_gets_the_expired_handshake() {
    let server = TestServer::start_default();
    let mut conn = RawConn::open(server.address());
    let handshake = conn.handshake(0, 6000, 0x1234_5678, &[0; 16]);
    assert_expired_handshake(&mut conn, handshake);
}

#[test]
fn a_wrong_password_gets_the_expired_handshake() {
    let server = TestServer::start_default();
    let (_live, real) = RawConn::new_session(&server, 6000);
    let mut conn = RawConn::open(server.address());
    let handshake = conn.handshake(0, 6000, real.session_id, &[1; 16]);
    assert_expired_handshake(&mut conn, handshake);
}

#[test]
fn an_expired_session_gets_the_expired_handshake() {
    let server = TestServer::start(ServerOptions::fast_expiry());
    let (first, handshake) = RawConn::new_session(&server, 400);
    first.drop_connection();
    // Expiry takes the timeout plus up to a tick of the session tracker; wait well past it.
    std::thread::sleep(Duration::from_millis(1500));
    let mut conn = RawConn::open(server.address());
    let again = conn.handshake(0, 400, handshake.session_id, &handshake.password);
    assert_expired_handshake(&mut conn, again);
}

#[test]
fn a_client_ahead_of_the_server_is_refused() {
    let server = TestServer::start_default();
    let mut conn = RawConn::open(server.address());
    let handshake = conn.handshake(1 << 40, 6000, 0, &[0; 16]);
    assert_eq!(
        handshake, None,
        "a client that has seen a later zxid must not get a session here"
    );
    assert!(conn.closed_by_server(Duration::from_secs(5)));
}

#[test]
fn a_connect_request_without_the_read_only_flag_is_answered_without_it() {
    let server = TestServer::start_default();
    let mut conn = RawConn::open(server.address());
    conn.send(
        &Out::new()
            .int(0)
            .long(0)
            .int(6000)
            .long(0)
            .buffer(&[0; 16])
            .frame(),
    );
    let frame = conn.read_frame().expect("a ConnectResponse");
    assert_eq!(
        frame.len(),
        4 + 4 + 8 + 4 + 16,
        "no trailing readOnly byte for an old client"
    );
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let server = TestServer::start_default();
    let bystander = connect(&server).await;
    bystander
        .create("/still", b"here", &persistent())
        .await
        .unwrap();
    let (mut established, _) = RawConn::new_session(&server, 6000);

    let mut negative = RawConn::open(server.address());
    negative.send(&(-16i32).to_be_bytes());
    assert!(
        negative.closed_by_server(Duration::from_secs(5)),
        "a negative length closes"
    );

    let mut oversized = RawConn::open(server.address());
    oversized.send(&0x7fff_0000i32.to_be_bytes());
    assert!(
        oversized.closed_by_server(Duration::from_secs(5)),
        "a length above jute.maxbuffer closes"
    );

    let (mut oversized_request, _) = RawConn::new_session(&server, 6000);
    oversized_request.send(&0x0200_0000i32.to_be_bytes());
    assert!(
        oversized_request.closed_by_server(Duration::from_secs(5)),
        "also after the handshake"
    );

    let mut truncated_connect = RawConn::open(server.address());
    truncated_connect.send(&Out::new().int(0).long(0).frame());
    assert!(
        truncated_connect.closed_by_server(Duration::from_secs(5)),
        "a short ConnectRequest closes"
    );

    let (data, _) = bystander.get_data("/still").await.unwrap();
    assert_eq!(data, b"here", "other connections keep working");
    let exists = established.request(op::EXISTS, Out::new().string("/still").boolean(false));
    assert_eq!(exists.err, err::OK);
}

#[test]
fn close_session_ends_the_session_and_its_ephemerals() {
    let server = TestServer::start_default();
    let (mut conn, handshake) = RawConn::new_session(&server, 6000);
    let (mut observer, _) = RawConn::new_session(&server, 6000);
    conn.request(
        op::CREATE,
        Out::new().string("/bye").buffer(b"").open_acl().int(1),
    );
    let exists = observer.request(op::EXISTS, Out::new().string("/bye").boolean(true));
    assert_eq!(exists.err, err::OK);
    let close = conn.request(op::CLOSE_SESSION, Out::new());
    assert_eq!(close.err, err::OK);
    assert!(
        conn.closed_by_server(Duration::from_secs(5)),
        "the server closes after CloseSession"
    );
    let fired = observer.next_event().expect("NodeDeleted");
    assert_eq!(fired.event_type, event::NODE_DELETED);
    let mut again = RawConn::open(server.address());
    let handshake = again.handshake(0, 6000, handshake.session_id, &handshake.password);
    assert_expired_handshake(&mut again, handshake);
}

#[tokio::test]
async fn data_survives_a_restart_and_zxids_keep_growing() {
    let mut server = TestServer::start_default();
    let client = connect(&server).await;
    let (before, _) = client
        .create("/durable", b"v", &persistent())
        .await
        .unwrap();
    drop(client);
    server.restart();
    let client = connect(&server).await;
    let (data, stat) = client.get_data("/durable").await.unwrap();
    assert_eq!(data, b"v");
    assert_eq!(stat, before, "the Stat is restored exactly");
    let (after, _) = client.create("/next", b"", &persistent()).await.unwrap();
    assert!(
        after.czxid > before.czxid,
        "no zxid is reused after a restart"
    );
}

#[tokio::test]
async fn acknowledged_writes_survive_a_kill() {
    let mut server = TestServer::start_default();
    let client = connect(&server).await;
    for i in 0..20 {
        client
            .create(&format!("/k{i}"), b"", &persistent())
            .await
            .unwrap();
    }
    server.kill();
    drop(client);
    server.restart();
    let client = connect(&server).await;
    let children = client.list_children("/").await.unwrap();
    for i in 0..20 {
        assert!(
            children.contains(&format!("k{i}")),
            "/k{i} was acknowledged and must survive"
        );
    }
}

#[test]
fn pings_are_answered_with_the_ping_xid() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    conn.send(&Out::new().int(-2).int(op::PING).frame());
    let frame = conn.read_frame().expect("a ping reply");
    let mut reader = common::jute::In::new(&frame);
    assert_eq!(reader.int(), -2);
    let _zxid = reader.long();
    assert_eq!(reader.int(), 0);
    assert_eq!(reader.remaining(), 0);
}
