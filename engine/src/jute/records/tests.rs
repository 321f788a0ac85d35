//! Tests of the client-protocol records: round trips, byte-exact layouts checked against
//! hand-assembled bytes, Apache's multi rules, and robustness against truncated and random
//! input (seeded, so any failure replays).

use super::*;
use crate::jute::{Decode, DecodeError, Encode, Reader};
use crate::types::{perms, Acl, ErrorCode, EventType, Id, KeeperState, OpCode, Stat};

/// Parses a hex string with arbitrary whitespace and `|` separators into bytes.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() & 1, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A deterministic xorshift64 generator: tests never use an unseeded random source.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn stat(seed: i64) -> Stat {
    Stat {
        czxid: seed,
        mzxid: seed + 1,
        ctime: seed + 2,
        mtime: seed + 3,
        version: 4,
        cversion: 5,
        aversion: 6,
        ephemeral_owner: seed + 7,
        data_length: 8,
        num_children: 9,
        pzxid: seed + 10,
    }
}

fn acl() -> Vec<Acl> {
    vec![
        Acl::new(perms::ALL, Id::anyone()),
        Acl::new(perms::READ, Id::new("digest", "u:h")),
    ]
}

fn create(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(b"data".to_vec()),
        acl: acl(),
        flags,
    }
}

fn create_ttl(path: &str, flags: i32, ttl: i64) -> CreateTtlRequest {
    CreateTtlRequest {
        path: path.into(),
        data: None,
        acl: acl(),
        flags,
        ttl,
    }
}

/// Encodes `v`, checks it decodes back equal with nothing left over, and checks that every
/// strict prefix of the encoding is refused (no record here may end early).
fn assert_round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = v.to_bytes();
    let mut r = Reader::new(&bytes);
    assert_eq!(&T::decode(&mut r).unwrap(), v);
    assert!(r.is_empty(), "{v:?} left {} bytes", r.remaining());
    for cut in 0..bytes.len() {
        assert!(
            T::from_bytes(&bytes[..cut]).is_err(),
            "{v:?} decoded from a {cut}-byte prefix"
        );
    }
}

#[test]
fn every_record_round_trips() {
    assert_round_trip(&RequestHeader { xid: 7, op: 4 });
    assert_round_trip(&ReplyHeader {
        xid: -2,
        zxid: 1 << 33,
        err: -101,
    });
    assert_round_trip(&MultiHeader {
        op: 13,
        done: false,
        err: -1,
    });
    assert_round_trip(&AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: b"u:p".to_vec(),
    });
    assert_round_trip(&SetWatches {
        relative_zxid: 9,
        data_watches: vec!["/a".into()],
        exist_watches: vec!["/b".into(), "/c".into()],
        child_watches: vec![],
    });
    assert_round_trip(&SetWatches2 {
        relative_zxid: 9,
        data_watches: vec!["/a".into()],
        exist_watches: vec![],
        child_watches: vec!["/c".into()],
        persistent_watches: vec!["/p".into()],
        persistent_recursive_watches: vec!["/r".into(), "/s".into()],
    });
    assert_round_trip(&GetDataRequest {
        path: "/a".into(),
        watch: true,
    });
    assert_round_trip(&SetDataRequest {
        path: "/a".into(),
        data: Some(vec![1, 2]),
        version: -1,
    });
    assert_round_trip(&SetDataRequest {
        path: "/a".into(),
        data: None,
        version: 3,
    });
    assert_round_trip(&ReconfigRequest {
        joining_servers: "server.4=h:1:2;3".into(),
        leaving_servers: "1".into(),
        new_members: String::new(),
        cur_config_id: -1,
    });
    assert_round_trip(&SetDataResponse { stat: stat(1) });
    assert_round_trip(&GetSaslRequest {
        token: Some(vec![9; 3]),
    });
    assert_round_trip(&SetSaslRequest { token: None });
    assert_round_trip(&SetSaslResponse {
        token: Some(vec![]),
    });
    assert_round_trip(&create("/a", 3));
    assert_round_trip(&create_ttl("/t", 5, 1000));
    assert_round_trip(&DeleteRequest {
        path: "/a".into(),
        version: 2,
    });
    assert_round_trip(&DeleteContainerRequest { path: "/c".into() });
    assert_round_trip(&GetChildrenRequest {
        path: "/".into(),
        watch: false,
    });
    assert_round_trip(&GetChildren2Request {
        path: "/".into(),
        watch: true,
    });
    assert_round_trip(&GetAllChildrenNumberRequest { path: "/x".into() });
    assert_round_trip(&GetAllChildrenNumberResponse { total_number: 42 });
    assert_round_trip(&CheckVersionRequest {
        path: "/a".into(),
        version: 0,
    });
    assert_round_trip(&SyncRequest { path: "/s".into() });
    assert_round_trip(&SyncResponse { path: "/s".into() });
    assert_round_trip(&GetAclRequest { path: "/a".into() });
    assert_round_trip(&GetAclResponse {
        acl: acl(),
        stat: stat(2),
    });
    assert_round_trip(&SetAclRequest {
        path: "/a".into(),
        acl: acl(),
        version: -1,
    });
    assert_round_trip(&SetAclResponse { stat: stat(3) });
    assert_round_trip(&AddWatchRequest {
        path: "/w".into(),
        mode: 1,
    });
    assert_round_trip(&WatcherEvent::new(
        EventType::NodeCreated,
        KeeperState::SyncConnected,
        "/n",
    ));
    assert_round_trip(&ErrorResponse { err: -110 });
    assert_round_trip(&CreateResponse {
        path: "/a0000000001".into(),
    });
    assert_round_trip(&Create2Response {
        path: "/a".into(),
        stat: stat(4),
    });
    assert_round_trip(&ExistsRequest {
        path: "/e".into(),
        watch: true,
    });
    assert_round_trip(&ExistsResponse { stat: stat(5) });
    assert_round_trip(&GetDataResponse {
        data: Some(b"v".to_vec()),
        stat: stat(6),
    });
    assert_round_trip(&GetDataResponse {
        data: None,
        stat: stat(6),
    });
    assert_round_trip(&GetChildrenResponse {
        children: vec!["a".into(), "b".into()],
    });
    assert_round_trip(&GetChildren2Response {
        children: vec!["c".into()],
        stat: stat(7),
    });
    assert_round_trip(&CheckWatchesRequest {
        path: "/a".into(),
        watcher_type: 3,
    });
    assert_round_trip(&RemoveWatchesRequest {
        path: "/a".into(),
        watcher_type: 2,
    });
    assert_round_trip(&GetEphemeralsRequest {
        prefix_path: "/".into(),
    });
    assert_round_trip(&GetEphemeralsResponse {
        ephemerals: vec!["/e1".into()],
    });
    assert_round_trip(&ClientInfo {
        auth_scheme: "ip".into(),
        user: "127.0.0.1".into(),
    });
    assert_round_trip(&WhoAmIResponse {
        client_info: vec![
            ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into(),
            },
            ClientInfo {
                auth_scheme: "digest".into(),
                user: "bob".into(),
            },
        ],
    });
}

#[test]
fn null_buffers_stay_null_and_null_strings_read_empty() {
    // Node data keeps null apart from empty (a Java client reads back the null it wrote).
    let with_null = SetDataRequest {
        path: "/a".into(),
        data: None,
        version: 0,
    }
    .to_bytes();
    let with_empty = SetDataRequest {
        path: "/a".into(),
        data: Some(vec![]),
        version: 0,
    }
    .to_bytes();
    assert_ne!(with_null, with_empty);
    assert_eq!(&with_null[6..10], &hex("ffffffff")[..]);
    assert_eq!(
        SetDataRequest::from_bytes(&with_empty).unwrap().data,
        Some(vec![])
    );
    // A null ustring (-1) is read as "", and a null vector as empty.
    let r = GetChildrenResponse::from_bytes(&hex("ffffffff")).unwrap();
    assert!(r.children.is_empty());
    let r = SyncRequest::from_bytes(&hex("ffffffff")).unwrap();
    assert_eq!(r.path, "");
}

#[test]
fn connect_request_without_read_only_is_byte_exact() {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x0102,
        time_out: 30_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: None,
    };
    let frame = encode_connect_request(&req);
    let expected = hex(
        "0000002c | 00000000 | 0000000000000102 | 00007530 | 0000000000000000 | 00000010 |
         00000000000000000000000000000000",
    );
    assert_eq!(frame, expected);
    let back = ConnectRequest::from_bytes(&frame[4..]).unwrap();
    assert_eq!(back, req);
    assert_eq!(back.read_only, None);

    // The same request from a 3.4+ client carries the readOnly byte, and decoding records it.
    let mut with_ro = frame[4..].to_vec();
    with_ro.push(1);
    assert_eq!(
        ConnectRequest::from_bytes(&with_ro).unwrap().read_only,
        Some(true)
    );
    with_ro.pop();
    with_ro.push(0);
    assert_eq!(
        ConnectRequest::from_bytes(&with_ro).unwrap().read_only,
        Some(false)
    );
}

#[test]
fn connect_response_is_written_with_or_without_read_only() {
    let mut resp = ConnectResponse {
        protocol_version: 0,
        time_out: 30_000,
        session_id: 0x0100_0000_0000_0001,
        passwd: (0u8..16).collect(),
        read_only: Some(false),
    };
    let expected_body = "00000000 | 00007530 | 0100000000000001 | 00000010 |
         000102030405060708090a0b0c0d0e0f";
    assert_eq!(
        encode_connect_response(&resp),
        hex(&format!("00000025 {expected_body} 00"))
    );
    assert_eq!(
        ConnectResponse::from_bytes(&hex(&format!("{expected_body} 00"))).unwrap(),
        resp
    );
    resp.read_only = None;
    assert_eq!(
        encode_connect_response(&resp),
        hex(&format!("00000024 {expected_body}"))
    );
    assert_eq!(
        ConnectResponse::from_bytes(&hex(expected_body)).unwrap(),
        resp
    );

    let expired = ConnectResponse::expired(Some(false));
    assert_eq!(
        (expired.time_out, expired.session_id, expired.passwd),
        (0, 0, vec![0; 16])
    );
}

#[test]
fn connect_request_prefixes_fail_until_the_password_is_complete() {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 5,
        time_out: 4000,
        session_id: 77,
        passwd: vec![3; 16],
        read_only: Some(true),
    };
    let bytes = req.to_bytes();
    let without_ro = bytes.len() - 1;
    for cut in 0..without_ro {
        assert!(
            ConnectRequest::from_bytes(&bytes[..cut]).is_err(),
            "prefix {cut}"
        );
    }
    assert_eq!(
        ConnectRequest::from_bytes(&bytes[..without_ro])
            .unwrap()
            .read_only,
        None
    );
    assert_eq!(ConnectRequest::from_bytes(&bytes).unwrap(), req);
}

#[test]
fn multi_request_is_byte_exact() {
    let ops = vec![
        MultiOp::Create(CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
        }),
        MultiOp::Delete(DeleteRequest {
            path: "/b".into(),
            version: -1,
        }),
        MultiOp::Check(CheckVersionRequest {
            path: "/c".into(),
            version: 3,
        }),
    ];
    let frame = encode_request(7, &Request::Multi(ops.clone()));
    let expected = hex("0000006a | 00000007 0000000e
         00000001 00 ffffffff | 00000002 2f61 | 00000001 78 | 00000001 0000001f
             00000005 776f726c64 | 00000006 616e796f6e65 | 00000000
         00000002 00 ffffffff | 00000002 2f62 | ffffffff
         0000000d 00 ffffffff | 00000002 2f63 | 00000003
         ffffffff 01 ffffffff");
    assert_eq!(frame, expected);
    let (header, req) = decode_request_frame(&frame[4..]).unwrap();
    assert_eq!(header, RequestHeader { xid: 7, op: 14 });
    assert_eq!(req, Request::Multi(ops));
}

#[test]
fn failed_multi_reply_is_byte_exact() {
    // DataTree.processTxn: ops before the failing one report 0, the failing one its code,
    // the ones after it RuntimeInconsistency; the reply header keeps err 0.
    let results = failed_multi_results(3, 1, ErrorCode::NoNode);
    assert_eq!(
        results,
        vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::NoNode),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]
    );
    let frame = encode_reply(7, 0x10, ErrorCode::Ok, &Response::Multi(results.clone()));
    let expected = hex("00000040 | 00000007 0000000000000010 00000000
         ffffffff 00 00000000 | 00000000
         ffffffff 00 ffffff9b | ffffff9b
         ffffffff 00 fffffffe | fffffffe
         ffffffff 01 ffffffff");
    assert_eq!(frame, expected);
    let mut r = Reader::new(&frame[4..]);
    assert_eq!(ReplyHeader::decode(&mut r).unwrap().err, 0);
    assert_eq!(
        decode_response(OpCode::Multi, &mut r).unwrap(),
        Response::Multi(results)
    );
    assert!(r.is_empty());
}

#[test]
fn successful_multi_reply_follows_multi_response_serialize() {
    let results = vec![
        MultiResult::Create(CreateResponse { path: "/a".into() }),
        MultiResult::Create2(Create2Response {
            path: "/b".into(),
            stat: stat(1),
        }),
        MultiResult::Delete,
        MultiResult::SetData(SetDataResponse { stat: stat(2) }),
        MultiResult::Check,
    ];
    let frame = encode_reply(1, 2, ErrorCode::Ok, &Response::Multi(results.clone()));
    let mut r = Reader::new(&frame[4..]);
    ReplyHeader::decode(&mut r).unwrap();
    // First result: header (1, false, 0) then CreateResponse("/a").
    assert_eq!(
        r.rest()[..15],
        hex("00000001 00 00000000 00000002 2f61")[..]
    );
    // Create2 results answer with header type 15 whatever create kind produced them.
    assert_eq!(r.rest()[15..19], hex("0000000f")[..]);
    assert_eq!(
        decode_response(OpCode::Multi, &mut r).unwrap(),
        Response::Multi(results)
    );
    let read = vec![
        MultiResult::GetChildren(GetChildrenResponse {
            children: vec!["x".into()],
        }),
        MultiResult::GetData(GetDataResponse {
            data: None,
            stat: stat(3),
        }),
        MultiResult::Error(ErrorCode::NoNode),
    ];
    let frame = encode_reply(1, 2, ErrorCode::Ok, &Response::Multi(read.clone()));
    let mut r = Reader::new(&frame[ReplyHeader::ENCODED_LEN + 4..]);
    assert_eq!(
        decode_response(OpCode::MultiRead, &mut r).unwrap(),
        Response::Multi(read)
    );
}

#[test]
fn error_reply_is_the_header_alone() {
    let body = Response::GetData(GetDataResponse {
        data: Some(vec![1]),
        stat: stat(1),
    });
    let frame = encode_reply(5, 9, ErrorCode::NoNode, &body);
    assert_eq!(frame, hex("00000010 | 00000005 0000000000000009 ffffff9b"));
    // The SASL failure reply is the one that carries a body despite the error.
    let frame = encode_reply_with_body(
        5,
        0,
        ErrorCode::AuthFailed,
        &Response::Sasl(SetSaslResponse { token: None }),
    );
    assert_eq!(
        frame,
        hex("00000014 | 00000005 0000000000000000 ffffff8d | ffffffff")
    );
}

#[test]
fn notification_frame_is_byte_exact() {
    let event = WatcherEvent::new(EventType::NodeDataChanged, KeeperState::SyncConnected, "/a");
    assert_eq!(
        encode_notification(5, &event),
        hex("0000001e | ffffffff 0000000000000005 00000000 | 00000003 00000003 00000002 2f61")
    );
}

#[test]
fn add_watch_reply_carries_a_zero_error_response() {
    let frame = encode_reply(
        3,
        1,
        ErrorCode::Ok,
        &Response::AddWatch(ErrorResponse { err: 0 }),
    );
    assert_eq!(
        frame,
        hex("00000014 | 00000003 0000000000000001 00000000 | 00000000")
    );
}

/// One request of every kind a client may send, with a non-trivial body.
fn sample_requests() -> Vec<Request> {
    vec![
        Request::Create(create("/c", 0)),
        Request::Create2(create("/c2", 2)),
        Request::CreateContainer(create("/cc", 4)),
        Request::CreateTtl(create_ttl("/ttl", 5, 60_000)),
        Request::Delete(DeleteRequest {
            path: "/d".into(),
            version: 1,
        }),
        Request::DeleteContainer(DeleteContainerRequest { path: "/cc".into() }),
        Request::Exists(ExistsRequest {
            path: "/e".into(),
            watch: true,
        }),
        Request::GetData(GetDataRequest {
            path: "/g".into(),
            watch: false,
        }),
        Request::SetData(SetDataRequest {
            path: "/s".into(),
            data: Some(vec![7; 10]),
            version: -1,
        }),
        Request::GetAcl(GetAclRequest {
            path: "/acl".into(),
        }),
        Request::SetAcl(SetAclRequest {
            path: "/acl".into(),
            acl: acl(),
            version: 0,
        }),
        Request::GetChildren(GetChildrenRequest {
            path: "/".into(),
            watch: true,
        }),
        Request::GetChildren2(GetChildren2Request {
            path: "/".into(),
            watch: false,
        }),
        Request::Sync(SyncRequest { path: "/".into() }),
        Request::Ping,
        Request::Check(CheckVersionRequest {
            path: "/k".into(),
            version: 2,
        }),
        Request::Multi(vec![
            MultiOp::Create(create("/m1", 0)),
            MultiOp::Create2(create("/m2", 1)),
            MultiOp::CreateContainer(create("/m3", 4)),
            MultiOp::CreateTtl(create_ttl("/m4", 6, 10)),
            MultiOp::Delete(DeleteRequest {
                path: "/m5".into(),
                version: -1,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/m6".into(),
                data: None,
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/m7".into(),
                version: 1,
            }),
        ]),
        Request::MultiRead(vec![
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/r1".into(),
                watch: false,
            }),
            MultiOp::GetData(GetDataRequest {
                path: "/r2".into(),
                watch: false,
            }),
        ]),
        Request::Multi(vec![]),
        Request::Reconfig(ReconfigRequest {
            joining_servers: "server.5=h:2888:3888;2181".into(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: -1,
        }),
        Request::CheckWatches(CheckWatchesRequest {
            path: "/w".into(),
            watcher_type: 1,
        }),
        Request::RemoveWatches(RemoveWatchesRequest {
            path: "/w".into(),
            watcher_type: 3,
        }),
        Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"a:b".to_vec(),
        }),
        Request::SetWatches(SetWatches {
            relative_zxid: 3,
            data_watches: vec!["/a".into()],
            exist_watches: vec!["/b".into()],
            child_watches: vec!["/c".into()],
        }),
        Request::SetWatches2(SetWatches2 {
            relative_zxid: 3,
            data_watches: vec![],
            exist_watches: vec!["/b".into()],
            child_watches: vec![],
            persistent_watches: vec!["/p".into()],
            persistent_recursive_watches: vec!["/r".into()],
        }),
        Request::Sasl(GetSaslRequest {
            token: Some(b"tok".to_vec()),
        }),
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: "/e".into(),
        }),
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() }),
        Request::AddWatch(AddWatchRequest {
            path: "/aw".into(),
            mode: 0,
        }),
        Request::WhoAmI,
        Request::CloseSession,
        Request::CreateSession,
    ]
}

/// One successful reply body per opcode, paired with the opcode whose reply it is.
fn sample_responses() -> Vec<(OpCode, Response)> {
    vec![
        (
            OpCode::Create,
            Response::Create(CreateResponse { path: "/c".into() }),
        ),
        (
            OpCode::Create2,
            Response::Create2(Create2Response {
                path: "/c".into(),
                stat: stat(1),
            }),
        ),
        (
            OpCode::CreateTtl,
            Response::Create2(Create2Response {
                path: "/t".into(),
                stat: stat(2),
            }),
        ),
        (OpCode::Delete, Response::Empty),
        (OpCode::Ping, Response::Empty),
        (OpCode::SetWatches, Response::Empty),
        (
            OpCode::SetData,
            Response::SetData(SetDataResponse { stat: stat(3) }),
        ),
        (
            OpCode::Exists,
            Response::Exists(ExistsResponse { stat: stat(4) }),
        ),
        (
            OpCode::GetData,
            Response::GetData(GetDataResponse {
                data: Some(vec![1; 100]),
                stat: stat(5),
            }),
        ),
        (
            OpCode::Reconfig,
            Response::GetData(GetDataResponse {
                data: None,
                stat: stat(6),
            }),
        ),
        (
            OpCode::GetAcl,
            Response::GetAcl(GetAclResponse {
                acl: acl(),
                stat: stat(7),
            }),
        ),
        (
            OpCode::SetAcl,
            Response::SetAcl(SetAclResponse { stat: stat(8) }),
        ),
        (
            OpCode::GetChildren,
            Response::GetChildren(GetChildrenResponse {
                children: vec!["a".into()],
            }),
        ),
        (
            OpCode::GetChildren2,
            Response::GetChildren2(GetChildren2Response {
                children: vec![],
                stat: stat(9),
            }),
        ),
        (
            OpCode::Sync,
            Response::Sync(SyncResponse { path: "/".into() }),
        ),
        (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total_number: 3 }),
        ),
        (
            OpCode::GetEphemerals,
            Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals: vec!["/e".into()],
            }),
        ),
        (
            OpCode::WhoAmI,
            Response::WhoAmI(WhoAmIResponse {
                client_info: vec![ClientInfo {
                    auth_scheme: "ip".into(),
                    user: "::1".into(),
                }],
            }),
        ),
        (
            OpCode::Sasl,
            Response::Sasl(SetSaslResponse {
                token: Some(vec![4, 5]),
            }),
        ),
        (
            OpCode::AddWatch,
            Response::AddWatch(ErrorResponse { err: 0 }),
        ),
        (
            OpCode::Multi,
            Response::Multi(failed_multi_results(4, 2, ErrorCode::BadVersion)),
        ),
    ]
}

#[test]
fn every_request_round_trips_through_a_frame() {
    for (i, req) in sample_requests().into_iter().enumerate() {
        let xid = i as i32 + 1;
        let frame = encode_request(xid, &req);
        assert_eq!(frame[..4], ((frame.len() - 4) as i32).to_be_bytes());
        let (header, back) = decode_request_frame(&frame[4..]).unwrap();
        assert_eq!(
            header,
            RequestHeader {
                xid,
                op: req.op_code().code()
            }
        );
        assert_eq!(back, req);
    }
}

#[test]
fn every_response_round_trips_through_a_frame() {
    for (op, resp) in sample_responses() {
        let frame = encode_reply(11, 22, ErrorCode::Ok, &resp);
        assert_eq!(frame[..4], ((frame.len() - 4) as i32).to_be_bytes());
        let mut r = Reader::new(&frame[4..]);
        assert_eq!(
            ReplyHeader::decode(&mut r).unwrap(),
            ReplyHeader {
                xid: 11,
                zxid: 22,
                err: 0
            }
        );
        assert_eq!(decode_response(op, &mut r).unwrap(), resp, "{op:?}");
        assert!(r.is_empty(), "{op:?} left bytes");
    }
}

#[test]
fn unknown_and_non_request_opcodes_are_refused() {
    for op in [10, 23, 99, 108, -3, 0, -1, i32::MIN, i32::MAX] {
        let header = RequestHeader { xid: 1, op };
        assert_eq!(
            decode_request(&header, &mut Reader::new(&[])),
            Err(DecodeError::UnknownOpCode(op)),
            "opcode {op}"
        );
    }
    let frame = hex("00000001 0000000a");
    let err = decode_request_frame(&frame).unwrap_err();
    assert_eq!(err.header, Some(RequestHeader { xid: 1, op: 10 }));
    assert_eq!(err.error, DecodeError::UnknownOpCode(10));
    assert_eq!(decode_request_frame(&frame[..5]).unwrap_err().header, None);
}

/// Builds a multi (or multiRead) body from raw (header type, record bytes) pairs, so tests
/// can send what no well-behaved client would.
fn raw_multi(ops: &[(i32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (op, body) in ops {
        out.extend(
            MultiHeader {
                op: *op,
                done: false,
                err: -1,
            }
            .to_bytes(),
        );
        out.extend_from_slice(body);
    }
    out.extend(MultiHeader::TERMINATOR.to_bytes());
    out
}

fn decode_multi(op: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
    decode_request(
        &RequestHeader {
            xid: 1,
            op: op.code(),
        },
        &mut Reader::new(body),
    )
}

#[test]
fn multi_refuses_ops_apache_refuses() {
    let get_data = GetDataRequest {
        path: "/a".into(),
        watch: false,
    }
    .to_bytes();
    let delete = DeleteRequest {
        path: "/a".into(),
        version: -1,
    }
    .to_bytes();
    let exists = ExistsRequest {
        path: "/a".into(),
        watch: false,
    }
    .to_bytes();
    // A read in a multi, a write in a multiRead, a mix, and an op type multi never allows.
    assert!(decode_multi(OpCode::Multi, &raw_multi(&[(4, get_data.clone())])).is_err());
    assert!(decode_multi(OpCode::MultiRead, &raw_multi(&[(2, delete.clone())])).is_err());
    assert!(decode_multi(
        OpCode::Multi,
        &raw_multi(&[(2, delete.clone()), (4, get_data)])
    )
    .is_err());
    assert!(decode_multi(OpCode::Multi, &raw_multi(&[(3, exists)])).is_err());
    assert!(decode_multi(OpCode::Multi, &raw_multi(&[(20, delete.clone())])).is_err());
    assert!(decode_multi(OpCode::Multi, &raw_multi(&[(14, raw_multi(&[]))])).is_err());
    assert!(decode_multi(OpCode::Multi, &raw_multi(&[(777, delete)])).is_err());
    // Create flags that MultiOperationRecord cannot turn into CreateOptions: unknown, or a
    // TTL mode in a plain CreateRequest.
    for flags in [7, -1, 5, 6] {
        let body = raw_multi(&[(1, create("/x", flags).to_bytes())]);
        assert!(decode_multi(OpCode::Multi, &body).is_err(), "flags {flags}");
    }
    // A list with no terminator is truncated, not an endless loop.
    let mut no_end = raw_multi(&[(2, DeleteRequest::default().to_bytes())]);
    no_end.truncate(no_end.len() - MultiHeader::ENCODED_LEN);
    assert!(matches!(
        decode_multi(OpCode::Multi, &no_end),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn multi_normalises_create_kinds_like_op_create() {
    // A create whose flags say container runs (and reports) as createContainer.
    let body = raw_multi(&[
        (1, create("/c", 4).to_bytes()),
        (15, create("/d", 4).to_bytes()),
    ]);
    assert_eq!(
        decode_multi(OpCode::Multi, &body).unwrap(),
        Request::Multi(vec![
            MultiOp::CreateContainer(create("/c", 4)),
            MultiOp::CreateContainer(create("/d", 4)),
        ])
    );
    // A createTTL whose flags are a valid non-TTL mode loses its TTL and becomes a plain
    // create; an unknown flag is left as it is for the preparer to answer BadArguments.
    let body = raw_multi(&[
        (21, create_ttl("/p", 0, 99).to_bytes()),
        (21, create_ttl("/q", 4, 99).to_bytes()),
        (21, create_ttl("/r", 42, 99).to_bytes()),
        (21, create_ttl("/s", 6, 99).to_bytes()),
    ]);
    assert_eq!(
        decode_multi(OpCode::Multi, &body).unwrap(),
        Request::Multi(vec![
            MultiOp::Create(create_ttl("/p", 0, 99).without_ttl()),
            MultiOp::CreateContainer(create_ttl("/q", 4, 99).without_ttl()),
            MultiOp::CreateTtl(create_ttl("/r", 42, 99)),
            MultiOp::CreateTtl(create_ttl("/s", 6, 99)),
        ])
    );
    // Only `done` ends the list: a terminator with another type still ends it.
    let mut body = DeleteRequest {
        path: "/x".into(),
        version: 1,
    }
    .to_bytes();
    body.splice(
        0..0,
        MultiHeader {
            op: 2,
            done: false,
            err: 0,
        }
        .to_bytes(),
    );
    body.extend(
        MultiHeader {
            op: 5,
            done: true,
            err: 0,
        }
        .to_bytes(),
    );
    assert_eq!(
        decode_multi(OpCode::Multi, &body).unwrap(),
        Request::Multi(vec![MultiOp::Delete(DeleteRequest {
            path: "/x".into(),
            version: 1
        })])
    );
}

#[test]
fn a_multi_of_many_ops_is_bounded_only_by_its_frame() {
    let ops: Vec<MultiOp> = (0..5000)
        .map(|i| {
            MultiOp::Check(CheckVersionRequest {
                path: format!("/n{i}"),
                version: i,
            })
        })
        .collect();
    let frame = encode_request(1, &Request::Multi(ops.clone()));
    assert_eq!(
        decode_request_frame(&frame[4..]).unwrap().1,
        Request::Multi(ops)
    );
}

#[test]
fn request_and_reply_prefixes_never_panic_and_never_succeed_early() {
    for req in sample_requests() {
        let frame = encode_request(1, &req);
        let body = &frame[4..];
        for cut in 0..body.len() {
            // Requests with no body decode from the bare header; nothing else may.
            let res = decode_request_frame(&body[..cut]);
            if cut < RequestHeader::ENCODED_LEN || body.len() > RequestHeader::ENCODED_LEN {
                assert!(res.is_err(), "{req:?} decoded from a {cut}-byte prefix");
            }
        }
    }
    for (op, resp) in sample_responses() {
        let body = resp.to_bytes();
        for cut in 0..body.len() {
            assert!(
                decode_response(op, &mut Reader::new(&body[..cut])).is_err(),
                "{op:?} {cut}"
            );
        }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let opcodes: Vec<OpCode> = (-11..=107).filter_map(OpCode::from_code).collect();
    let valid: Vec<Vec<u8>> = sample_requests()
        .iter()
        .map(|r| encode_request(3, r))
        .collect();
    for round in 0..20_000 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            // Pure noise, with a plausible header half the time so bodies get exercised.
            let len = rng.below(96);
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if round % 4 == 0 && b.len() >= 8 {
                let op = opcodes[rng.below(opcodes.len())].code();
                b[4..8].copy_from_slice(&op.to_be_bytes());
            }
            b
        } else {
            // A valid frame with a few bytes overwritten.
            let mut b = valid[rng.below(valid.len())][4..].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
            b
        };
        let _ = decode_request_frame(&bytes);
        let _ = ConnectRequest::from_bytes(&bytes);
        let _ = ConnectResponse::from_bytes(&bytes);
        let op = opcodes[rng.below(opcodes.len())];
        let _ = decode_response(op, &mut Reader::new(&bytes));
    }
}

#[test]
fn request_accessors_agree_with_the_wire() {
    let req = Request::Create2(create("/p", 0));
    assert_eq!(req.op_code(), OpCode::Create2);
    assert_eq!(req.path(), Some("/p"));
    assert_eq!(Request::Ping.path(), None);
    let op = MultiOp::GetData(GetDataRequest {
        path: "/g".into(),
        watch: false,
    });
    assert!(op.is_read());
    assert_eq!((op.op_code(), op.path()), (OpCode::GetData, "/g"));
    assert_eq!(
        MultiResult::Create2(Create2Response::default()).op_code(),
        OpCode::Create2
    );
}

/// The properties the cargo-fuzz targets check, run here on seeded inputs so they are
/// exercised by every `cargo test`: valid frames, each of their prefixes, and mutations.
#[test]
fn fuzz_target_properties_hold_on_seeded_inputs() {
    use super::fuzzing::{check_client_request, check_connect_request};
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut inputs: Vec<Vec<u8>> = sample_requests()
        .iter()
        .map(|r| encode_request(9, r)[4..].to_vec())
        .collect();
    let connect = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 12,
        time_out: 10_000,
        session_id: 3,
        passwd: vec![1; 16],
        read_only: Some(false),
    };
    inputs.push(connect.to_bytes());
    for base in inputs.clone() {
        for cut in 0..base.len() {
            inputs.push(base[..cut].to_vec());
        }
        for _ in 0..200 {
            let mut m = base.clone();
            let at = rng.below(m.len());
            m[at] ^= 1 << rng.below(8);
            inputs.push(m);
        }
    }
    for input in &inputs {
        check_client_request(input);
        check_connect_request(input);
    }
}

/// Found by the client_request fuzz target: a createTTL with an unknown flag inside a multi
/// used to become a create that no longer decoded after a re-encode.
#[test]
fn fuzz_regression_create_ttl_with_unknown_flags_survives_a_re_encode() {
    let mut frame = RequestHeader {
        xid: 1,
        op: OpCode::Multi.code(),
    }
    .to_bytes();
    frame.extend(raw_multi(&[(21, create_ttl("", -1, 0).to_bytes())]));
    super::fuzzing::check_client_request(&frame);
}

#[test]
fn a_null_path_is_refused_where_apache_fails_on_one() {
    // A null string (length -1) followed by `watch = false`, or by nothing.
    let null_then_false = hex("ffffffff 00");
    for op in [OpCode::GetData, OpCode::Exists, OpCode::GetChildren] {
        let header = RequestHeader {
            xid: 1,
            op: op.code(),
        };
        assert_eq!(
            decode_request(&header, &mut Reader::new(&null_then_false)),
            Err(DecodeError::NullString { offset: 0 }),
            "{op:?}"
        );
    }
    let null = hex("ffffffff");
    let header = RequestHeader {
        xid: 1,
        op: OpCode::Sync.code(),
    };
    assert_eq!(
        decode_request(&header, &mut Reader::new(&null)),
        Ok(Request::Sync(SyncRequest {
            path: String::new()
        }))
    );
}

#[test]
fn a_null_id_is_read_as_empty_in_an_auth_acl_entry_only() {
    // create "/a", no data, one ACL entry (perms 31, scheme, id = null), flags 0: kazoo
    // writes its `Id("auth", "")` this way, and Apache ignores an auth entry's id.
    let create = |scheme: &str| {
        let mut w = crate::jute::Writer::new();
        w.write_str("/a");
        w.write_opt_buffer(None);
        w.write_i32(1);
        w.write_i32(31);
        w.write_str(scheme);
        w.write_i32(-1);
        w.write_i32(0);
        w.into_inner()
    };
    let header = RequestHeader {
        xid: 1,
        op: OpCode::Create.code(),
    };
    let auth = create("auth");
    let Ok(Request::Create(request)) = decode_request(&header, &mut Reader::new(&auth)) else {
        panic!("an auth entry with a null id decodes");
    };
    assert_eq!(request.acl[0].id.id, "");
    let world = create("world");
    assert!(matches!(
        decode_request(&header, &mut Reader::new(&world)),
        Err(DecodeError::NullString { .. })
    ));
}
