//! What one client connection may cost the server: reply bytes queued for a client that
//! pipelines requests and never reads, and socket descriptors.

mod common;

use common::jute::{err, op, set_data_frame, In, Out};
use common::server::Flavor;
use common::*;

/// Data of the node the flooders read: each reply is this size plus its header and Stat.
const NODE_BYTES: usize = 512 * 1024;
/// getData requests each flooder pipelines. 136 replies of 512 KiB are 68 MiB, more than
/// the 64 MiB an earlier ringkeeper queued per connection before closing it.
const FLOOD_REQUESTS: i32 = 136;
const FLOODERS: usize = 2;
/// `ringkeeper.queuedReplyBytesMax` for the flood test (Apache ignores the key).
const QUEUED_REPLY_BYTES_MAX: u64 = 4 << 20;
/// Requests the control client makes one at a time during the flood.
const CONTROL_REQUESTS: usize = 20;

fn get_data(xid: i32, path: &str) -> Vec<u8> {
    Out::new()
        .int(xid)
        .int(op::GET_DATA)
        .string(path)
        .boolean(false)
        .frame()
}

/// `zk_ringkeeper_queued_reply_bytes` from `mntr`, if the server reports it.
fn queued_reply_bytes(server: &TestServer) -> Option<u64> {
    let mntr = server.four_letter_word("mntr");
    mntr.lines()
        .find_map(|l| l.strip_prefix("zk_ringkeeper_queued_reply_bytes\t"))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn flooders_that_do_not_read_are_paused_while_another_client_is_served() {
    let server = TestServer::start(ServerOptions {
        extra_config: vec![format!(
            "ringkeeper.queuedReplyBytesMax={QUEUED_REPLY_BYTES_MAX}"
        )],
        ..Default::default()
    });
    let (mut control, _) = RawConn::new_session(&server, 10_000);
    let create = |path: &str, data: &[u8]| Out::new().string(path).buffer(data).open_acl().int(0);
    let big = vec![7u8; NODE_BYTES];
    assert_eq!(
        control.request(op::CREATE, create("/big", &big)).err,
        err::OK
    );
    assert_eq!(
        control.request(op::CREATE, create("/small", b"s")).err,
        err::OK
    );

    // Each flooder sends its whole pipeline (a few KiB, which the socket takes at once) and
    // reads nothing. The first one's starts with a write, so its reads wait behind that
    // write's commit: replies promised but not yet built must hold back its reader too.
    let mut flooders: Vec<RawConn> = (0..FLOODERS)
        .map(|_| RawConn::new_session(&server, 10_000).0)
        .collect();
    for (n, flooder) in flooders.iter_mut().enumerate() {
        let lead_write = if n == 0 {
            set_data_frame(0, "/small", b"t")
        } else {
            Vec::new()
        };
        let pipeline: Vec<u8> = (1..=FLOOD_REQUESTS)
            .flat_map(|xid| get_data(xid, "/big"))
            .collect();
        flooder.send(&[lead_write, pipeline].concat());
    }

    // The control client is answered throughout, one request at a time.
    let bound = QUEUED_REPLY_BYTES_MAX + ((FLOODERS + 1) * (NODE_BYTES + 1024)) as u64;
    for i in 0..CONTROL_REQUESTS {
        let reply = control.request(op::GET_DATA, Out::new().string("/small").boolean(false));
        assert_eq!(reply.err, err::OK, "control request {i} during the flood");
        if server.flavor() == Flavor::Ringkeeper {
            // The flooders are not read past the cap: what the server holds for them stays
            // under it (plus one reply per connection, which is always allowed).
            let queued = queued_reply_bytes(&server).expect("mntr reports queued reply bytes");
            assert!(
                queued <= bound,
                "queued reply bytes {queued} exceed the cap {QUEUED_REPLY_BYTES_MAX} (bound {bound})"
            );
        }
    }

    // Once the flooders read, every reply arrives, whole and in request order: the server
    // paused them, it did not drop them.
    for (n, flooder) in flooders.iter_mut().enumerate() {
        if n == 0 {
            let frame = flooder
                .read_frame()
                .unwrap_or_else(|e| panic!("flooder 0: its write's reply never came: {e}"));
            let mut reply = In::new(&frame);
            assert_eq!(reply.int(), 0, "flooder 0: the write is answered first");
            let _zxid = reply.long();
            assert_eq!(reply.int(), err::OK, "flooder 0: the write");
        }
        for expected in 1..=FLOOD_REQUESTS {
            let frame = flooder
                .read_frame()
                .unwrap_or_else(|e| panic!("flooder {n}: reply {expected} never came: {e}"));
            let mut reply = In::new(&frame);
            assert_eq!(
                reply.int(),
                expected,
                "flooder {n}: replies in request order"
            );
            let _zxid = reply.long();
            assert_eq!(reply.int(), err::OK, "flooder {n}: reply {expected}");
            assert_eq!(
                reply.buffer().map(|d| d.len()),
                Some(NODE_BYTES),
                "flooder {n}: reply {expected} carries the whole node"
            );
        }
    }
    if server.flavor() == Flavor::Ringkeeper {
        assert_eq!(
            queued_reply_bytes(&server),
            Some(0),
            "nothing stays queued once the clients have read"
        );
    }
}

/// Connections the descriptor test opens.
const DESCRIPTOR_CONNECTIONS: usize = 60;

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("reading the server's /proc/<pid>/fd")
        .count()
}

#[test]
fn each_connection_holds_one_descriptor() {
    let server = TestServer::start_default();
    let pid = server.pid().expect("the server runs");
    // A first session warms up whatever the server opens once (log files, epoll sets).
    let (mut warm, _) = RawConn::new_session(&server, 10_000);
    assert_eq!(
        warm.request(op::EXISTS, Out::new().string("/").boolean(false))
            .err,
        err::OK
    );
    let before = open_descriptors(pid);
    let mut conns = Vec::new();
    for _ in 0..DESCRIPTOR_CONNECTIONS {
        let (mut conn, _) = RawConn::new_session(&server, 10_000);
        // An answered request shows the server has set the connection up completely.
        assert_eq!(
            conn.request(op::EXISTS, Out::new().string("/").boolean(false))
                .err,
            err::OK
        );
        conns.push(conn);
    }
    let added = open_descriptors(pid).saturating_sub(before);
    // A few descriptors of slack for whatever else the server opens meanwhile.
    assert!(
        (DESCRIPTOR_CONNECTIONS..=DESCRIPTOR_CONNECTIONS + 5).contains(&added),
        "{DESCRIPTOR_CONNECTIONS} connections added {added} descriptors; one each is expected"
    );
}
