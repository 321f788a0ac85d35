//! Limits a client cannot cross: connections per client address (maxClientCnxns), counted
//! across every shard of the server.

mod common;

use std::time::Duration;

use common::jute::{err, op, Out};
use common::*;

#[test]
fn max_client_cnxns_counts_connections_across_shards() {
    let server = TestServer::start(ServerOptions {
        max_client_cnxns: 3,
        ..Default::default()
    });
    // Three sessions from one address are admitted, wherever the kernel puts them.
    let mut admitted = Vec::new();
    for _ in 0..3 {
        admitted.push(RawConn::new_session(&server, 6000));
    }
    // The fourth is closed before its handshake is answered.
    let mut extra = RawConn::open(server.address());
    assert_eq!(
        extra.handshake(0, 6000, 0, &[0; 16]),
        None,
        "a fourth connection from the same address must be refused"
    );
    assert!(extra.closed_by_server(Duration::from_secs(5)));
    // Closing one frees its place.
    let (first, _) = admitted.remove(0);
    first.drop_connection();
    // The server notices the close asynchronously; a new connection is admitted soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let address = server.address();
        // A refused attempt may fail as early as the TCP connect; that is a retry too.
        let attempt = std::panic::catch_unwind(move || {
            let mut again = RawConn::open(address);
            again.handshake(0, 6000, 0, &[0; 16])
        });
        if let Ok(Some(handshake)) = attempt {
            assert_ne!(
                handshake.session_id, 0,
                "a freed place admits a new connection"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a closed connection never freed its place"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_pipelining_client_is_throttled_not_dropped() {
    // With at most 10 unanswered requests per connection, 300 pipelined requests must all
    // be answered, in order: the server stops reading, it does not drop or deadlock.
    let server = TestServer::start(ServerOptions {
        global_outstanding_limit: Some(10),
        ..Default::default()
    });
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let mut pipeline = Vec::new();
    pipeline.extend(
        Out::new()
            .int(1)
            .int(op::CREATE)
            .string("/piped")
            .buffer(b"x")
            .open_acl()
            .int(0)
            .frame(),
    );
    for xid in 2..=300 {
        pipeline.extend(
            Out::new()
                .int(xid)
                .int(op::EXISTS)
                .string("/piped")
                .boolean(false)
                .frame(),
        );
    }
    conn.send(&pipeline);
    for expected in 1..=300 {
        let frame = conn
            .read_frame()
            .expect("every pipelined request is answered");
        let mut reply = common::jute::In::new(&frame);
        assert_eq!(reply.int(), expected, "replies leave in request order");
        let _zxid = reply.long();
        assert_eq!(
            reply.int(),
            err::OK,
            "request {expected} sees the create before it"
        );
    }
}

#[test]
fn a_read_reply_over_the_reply_limit_is_an_error_not_a_dropped_connection() {
    // A getChildren whose reply exceeds ringkeeper.replyBytesMax is answered with
    // MarshallingError (-5): a client whose jute.maxbuffer is that small would otherwise
    // drop the connection, reconnect and ask again for ever. Smaller replies still flow, on
    // the same connection.
    const MARSHALLING_ERROR: i32 = -5;
    if common::server::Flavor::from_env() == common::server::Flavor::Apache {
        // The limit is ringkeeper's opt-in protection; Apache has none.
        return;
    }
    let server = TestServer::start(ServerOptions {
        extra_config: vec!["ringkeeper.replyBytesMax=4096".to_string()],
        ..Default::default()
    });
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let create = |path: &str| Out::new().string(path).buffer(b"x").open_acl().int(0);
    assert_eq!(conn.request(op::CREATE, create("/dir")).err, err::OK);
    assert_eq!(conn.request(op::CREATE, create("/dir/a")).err, err::OK);
    let list = |conn: &mut RawConn| {
        conn.request(op::GET_CHILDREN, Out::new().string("/dir").boolean(false))
    };
    assert_eq!(list(&mut conn).err, err::OK, "a small listing is answered");
    // 200 children of 40-byte names: about 9 KiB of names.
    for i in 0..200 {
        let path = format!("/dir/child-with-a-fairly-long-name-{i:05}");
        assert_eq!(conn.request(op::CREATE, create(&path)).err, err::OK);
    }
    let big = list(&mut conn);
    assert_eq!(
        big.err, MARSHALLING_ERROR,
        "the oversized listing is refused"
    );
    assert!(
        big.body.is_empty(),
        "the refusal carries no partial listing"
    );
    // The connection is intact and the data is readable in smaller pieces.
    let data = conn.request(op::GET_DATA, Out::new().string("/dir/a").boolean(false));
    assert_eq!(data.err, err::OK);
    let stats = server.four_letter_word("mntr");
    assert!(
        stats.contains("zk_ringkeeper_replies_too_large\t1"),
        "mntr counts the refusal:\n{stats}"
    );
}

/// Apache sends a read reply larger than `jute.maxbuffer` (1 MiB by default); clients that
/// grow their buffer, such as go-zookeeper (its `TestIntegration_Children` lists 10,000
/// children of 2,000-character names), depend on it. Here: 600 such children, about
/// 1.2 MB of names, on a server with default settings (issue #12).
#[test]
fn a_read_reply_larger_than_jute_maxbuffer_is_sent_by_default() {
    const CHILDREN: usize = 600;
    const NAME_BYTES: usize = 2000;
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 10_000);
    let create = |path: &str| Out::new().string(path).buffer(b"").open_acl().int(0);
    assert_eq!(conn.request(op::CREATE, create("/big")).err, err::OK);
    for i in 0..CHILDREN {
        let name = format!("{i:05}{}", "n".repeat(NAME_BYTES - 5));
        let path = format!("/big/{name}");
        assert_eq!(conn.request(op::CREATE, create(&path)).err, err::OK);
    }
    let list = conn.request(op::GET_CHILDREN, Out::new().string("/big").boolean(false));
    assert_eq!(list.err, err::OK, "the whole listing is sent");
    assert!(list.body.len() > 1 << 20, "{} bytes", list.body.len());
    let mut r = list.reader();
    assert_eq!(r.int(), CHILDREN as i32);
    for _ in 0..CHILDREN {
        assert_eq!(r.string().len(), NAME_BYTES);
    }
}
