//! Opcodes a client must not be able to use, and frames that are not requests at all, as
//! Apache ZooKeeper 3.8 answers them (checked with `RK_TEST_SERVER=apache`).
//!
//! deleteContainer (20) is issued by the server's own container reaper. Apache reads its
//! body as the raw bytes of the whole packet, request header included, so for a client the
//! "path" always holds the header's zero bytes and fails validation: every client
//! deleteContainer answers BadArguments (-8) and deletes nothing, whatever the ACL. Inside a
//! multi it is not an operation type at all (MarshallingError, -5). An opcode Apache does
//! not know answers Unimplemented (-6) and closes the connection; a second ConnectRequest on
//! an open session reads as such an opcode (its first bytes are xid 0, type 0).

mod common;

use common::answer::{observe, observe_frame, Answer, Answer::*};
use common::jute::{err, op, Out};
use common::*;

const DELETE_CONTAINER: i32 = 20;
const CREATE_CONTAINER: i32 = 19;
const CREATE_SESSION: i32 = -10;
const AUTH: i32 = 100;
const BAD_ARGUMENTS: i32 = -8;
const MARSHALLING_ERROR: i32 = -5;
const UNIMPLEMENTED: i32 = -6;
const TIMEOUT_MS: i32 = 10_000;

const ALICE: &str = "alice:secret";
const ALICE_ID: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";
const ALL: i32 = 31;
const READ_WRITE_CREATE_ADMIN: i32 = 1 | 2 | 4 | 16;

fn create(conn: &mut RawConn, op_code: i32, path: &str, acl: &[(i32, &str, &str)], flags: i32) {
    let body = Out::new().string(path).buffer(b"x").acls(acl).int(flags);
    assert_eq!(conn.request(op_code, body).err, err::OK, "creating {path}");
}

fn exists(conn: &mut RawConn, path: &str) -> bool {
    conn.request(op::EXISTS, Out::new().string(path).boolean(false))
        .err
        == err::OK
}

#[test]
fn a_client_delete_container_deletes_nothing() {
    let server = TestServer::start_default();
    let (mut owner, _) = RawConn::new_session(&server, TIMEOUT_MS);
    let auth = Out::new().int(0).string("digest").buffer(ALICE.as_bytes());
    assert_eq!(owner.request(AUTH, auth).err, err::OK);
    let open = [(ALL, "world", "anyone")];
    // A container only alice may touch.
    create(
        &mut owner,
        CREATE_CONTAINER,
        "/alice",
        &[(ALL, "digest", ALICE_ID)],
        4,
    );
    // A container whose parent grants DELETE to no one.
    create(
        &mut owner,
        op::CREATE,
        "/nodel",
        &[(READ_WRITE_CREATE_ADMIN, "world", "anyone")],
        0,
    );
    create(&mut owner, CREATE_CONTAINER, "/nodel/k", &open, 4);
    // A container anyone may delete, and an ephemeral.
    create(&mut owner, CREATE_CONTAINER, "/open", &open, 4);
    create(&mut owner, op::CREATE, "/eph", &open, 1);
    let targets = ["/alice", "/nodel/k", "/open", "/eph", "/zookeeper/config"];

    let (mut stranger, _) = RawConn::new_session(&server, TIMEOUT_MS);
    let mut mismatches = Vec::new();
    for path in targets {
        let alone = observe(&mut stranger, DELETE_CONTAINER, &Out::new().string(path).0);
        // The raw path bytes without a length, which is how Apache's own request reads.
        let raw = observe(&mut stranger, DELETE_CONTAINER, path.as_bytes());
        let in_multi = Out::new()
            .int(DELETE_CONTAINER)
            .boolean(false)
            .int(-1)
            .string(path)
            .int(-1)
            .boolean(true)
            .int(-1);
        let in_multi = observe(&mut stranger, op::MULTI, &in_multi.0);
        let got = [alone, raw, in_multi];
        let expected = [
            Open(BAD_ARGUMENTS),
            Open(BAD_ARGUMENTS),
            Open(MARSHALLING_ERROR),
        ];
        if got != expected {
            mismatches.push(format!("{path}: got {got:?}, expected {expected:?}"));
        }
        if !exists(&mut owner, path) {
            mismatches.push(format!("{path} was deleted by a client's deleteContainer"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_client_create_session_is_refused_and_close_session_stays_legal() {
    let server = TestServer::start_default();
    // Apache reads a createSession's timeout from its body; without one it fails with
    // MarshallingError. (With a body it sends the ConnectResponse again, which no client
    // expects; ringkeeper answers MarshallingError to any body, see docs/compatibility.md.)
    let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
    let got = [
        observe(&mut conn, CREATE_SESSION, &[]),
        observe(&mut conn, op::CLOSE_SESSION, &[]),
    ];
    assert_eq!(got, [Open(MARSHALLING_ERROR), Closed(err::OK)]);
}

#[test]
fn unknown_opcodes_answer_unimplemented_then_close() {
    let server = TestServer::start_default();
    let opcodes = [0, -1, 10, 23, 99, 108, 1000, -2, -12, i32::MIN, i32::MAX];
    let mut mismatches = Vec::new();
    for opcode in opcodes {
        let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
        let got = observe(&mut conn, opcode, &Out::new().string("/").0);
        if got != Closed(UNIMPLEMENTED) {
            mismatches.push(format!("opcode {opcode}: got {got:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_second_connect_request_answers_unimplemented_then_closes() {
    let server = TestServer::start_default();
    let (mut conn, handshake) = RawConn::new_session(&server, TIMEOUT_MS);
    let again = Out::new()
        .int(0)
        .long(0)
        .int(TIMEOUT_MS)
        .long(handshake.session_id)
        .buffer(&handshake.password)
        .boolean(false)
        .frame();
    // The ConnectRequest's protocol version reads as xid 0.
    let got: Answer = observe_frame(&mut conn, &again, 0);
    assert_eq!(got, Closed(UNIMPLEMENTED));
}

/// Apache runs a check outside a multi as it runs one inside, answering its errors; the
/// reply to a check that passes fails to serialise there, so that one gets no reply at all.
#[test]
fn a_standalone_check_answers_only_its_errors() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
    create(
        &mut conn,
        op::CREATE,
        "/private",
        &[(ALL, "digest", ALICE_ID)],
        0,
    );
    let check = |path: &str, version: i32| Out::new().string(path).int(version).0;
    let got = [
        observe(&mut conn, op::CHECK, &check("/", -1)),
        observe(&mut conn, op::CHECK, &check("/", 0)),
        observe(&mut conn, op::CHECK, &check("/missing", -1)),
        observe(&mut conn, op::CHECK, &check("/", 7)),
        observe(&mut conn, op::CHECK, &check("bad", -1)),
        observe(&mut conn, op::CHECK, &check("/private", -1)),
    ];
    let expected = [
        Silent,
        Silent,
        Open(-101),
        Open(-103),
        Open(BAD_ARGUMENTS),
        Open(-102),
    ];
    assert_eq!(got, expected);
}
