//! Request bodies that do not decode, sent for every opcode a client may use: what the
//! server answers and whether it keeps the connection. Apache ZooKeeper 3.8 is the oracle:
//! the table below was taken from it (`RK_TEST_SERVER=apache`), and ringkeeper must give
//! the same answers, since a client library written against Apache relies on them.
//!
//! Facts from Apache's `BinaryInputArchive` that shape the table: a string or buffer with a
//! length below -1 or beyond `jute.maxbuffer`, or one the body is too short for, fails to
//! parse (MarshallingError, -5); a length of -1 is a null string, which each operation then
//! handles in its own way; invalid UTF-8 is not an error at all (Java replaces each bad byte
//! with U+FFFD); a negative vector count reads as an empty vector.

mod common;

use common::answer::{observe, observe_frame, Answer, Answer::*};
use common::jute::{err, op, Out};
use common::*;

const MARSHALLING_ERROR: i32 = -5;
const RECONFIG_DISABLED: i32 = -123;
const TIMEOUT_MS: i32 = 10_000;

/// The ways a body is broken. Each is sent on a fresh session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    /// The valid body without its last byte.
    Truncated,
    /// Twelve bytes of 0xA5: every length or count in it reads as a large negative number.
    Garbage,
    /// The first string's length is 0x7fffffff, far beyond the frame.
    HugeLength,
    /// The first string's length is -2 (only -1 is legal, meaning null).
    NegativeLength,
    /// The first string is `/m/` followed by the byte 0xFF, which is not UTF-8.
    InvalidUtf8,
    /// The first string is null (length -1).
    NullString,
}
use Mutation::*;

const MUTATIONS: [Mutation; 6] = [
    Truncated,
    Garbage,
    HugeLength,
    NegativeLength,
    InvalidUtf8,
    NullString,
];

/// One opcode: the bytes before its first string, and the bytes after it, such that
/// `before + string("/m") + after` is a valid body.
struct Case {
    name: &'static str,
    op: i32,
    before: fn() -> Out,
    after: fn() -> Out,
    /// Apache's answers, in the order of `MUTATIONS`.
    expected: [Answer; 6],
}

impl Case {
    fn body(&self, mutation: Mutation) -> Vec<u8> {
        let mut body = (self.before)();
        body = match mutation {
            Truncated => body.string("/m"),
            Garbage => return vec![0xA5; 12],
            HugeLength => {
                let mut huge = body.int(i32::MAX);
                huge.0.extend_from_slice(b"/m");
                huge
            }
            NegativeLength => body.int(-2),
            InvalidUtf8 => body.buffer(b"/m/\xff"),
            NullString => body.int(-1),
        };
        body.0.extend_from_slice(&(self.after)().0);
        if mutation == Truncated {
            body.0.pop();
        }
        body.0
    }
}

fn none() -> Out {
    Out::new()
}

impl Case {
    /// An opcode whose body starts with the string under test.
    const fn path_first(
        name: &'static str,
        op: i32,
        after: fn() -> Out,
        expected: [Answer; 6],
    ) -> Case {
        Case {
            name,
            op,
            before: none,
            after,
            expected,
        }
    }
}

const MULTI_CREATE: i32 = op::CREATE;
const SASL: i32 = 102;
const M5: i32 = MARSHALLING_ERROR;

const CASES: &[Case] = &[
    Case::path_first(
        "create",
        op::CREATE,
        || Out::new().buffer(b"d").open_acl().int(0),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-8), Open(M5)],
    ),
    Case::path_first(
        "delete",
        op::DELETE,
        || Out::new().int(-1),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case::path_first(
        "exists",
        op::EXISTS,
        || Out::new().boolean(false),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case::path_first(
        "getData",
        op::GET_DATA,
        || Out::new().boolean(false),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case::path_first(
        "setData",
        op::SET_DATA,
        || Out::new().buffer(b"d").int(-1),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-8), Open(-8)],
    ),
    Case::path_first(
        "getACL",
        6,
        none,
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case::path_first(
        "setACL",
        7,
        || Out::new().open_acl().int(-1),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-8), Open(-8)],
    ),
    Case::path_first(
        "getChildren",
        op::GET_CHILDREN,
        || Out::new().boolean(false),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case::path_first(
        "sync",
        op::SYNC,
        none,
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(0), Open(0)],
    ),
    Case::path_first(
        "getChildren2",
        12,
        || Out::new().boolean(false),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case {
        name: "multi",
        op: op::MULTI,
        before: || Out::new().int(MULTI_CREATE).boolean(false).int(-1),
        after: || {
            Out::new()
                .buffer(b"d")
                .open_acl()
                .int(0)
                .int(-1)
                .boolean(true)
                .int(-1)
        },
        expected: [Open(M5), Open(0), Open(M5), Open(M5), Open(0), Open(M5)],
    },
    Case::path_first(
        "create2",
        op::CREATE2,
        || Out::new().buffer(b"d").open_acl().int(0),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-8), Open(M5)],
    ),
    Case::path_first(
        "reconfig",
        16,
        || Out::new().string("").string("").long(-1),
        [
            Open(M5),
            Open(M5),
            Open(M5),
            Open(M5),
            Open(RECONFIG_DISABLED),
            Open(RECONFIG_DISABLED),
        ],
    ),
    Case::path_first(
        "checkWatches",
        op::CHECK_WATCHES,
        || Out::new().int(1),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-121), Open(M5)],
    ),
    Case::path_first(
        "removeWatches",
        op::REMOVE_WATCHES,
        || Out::new().int(1),
        [
            Open(M5),
            Open(M5),
            Open(M5),
            Open(M5),
            Open(-121),
            Open(-121),
        ],
    ),
    Case::path_first(
        "createContainer",
        19,
        || Out::new().buffer(b"d").open_acl().int(4),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-8), Open(M5)],
    ),
    Case::path_first(
        "deleteContainer",
        20,
        none,
        [Open(-8), Open(-8), Open(-8), Open(-8), Open(-8), Open(-8)],
    ),
    Case::path_first(
        "createTTL",
        op::CREATE_TTL,
        || Out::new().buffer(b"d").open_acl().int(5).long(60_000),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-6), Open(-6)],
    ),
    Case {
        name: "multiRead",
        op: op::MULTI_READ,
        before: || Out::new().int(op::GET_DATA).boolean(false).int(-1),
        after: || Out::new().boolean(false).int(-1).boolean(true).int(-1),
        expected: [Open(M5), Open(0), Open(M5), Open(M5), Open(0), Open(M5)],
    },
    Case {
        name: "auth",
        op: 100,
        before: || Out::new().int(0),
        after: || Out::new().buffer(b"u:p"),
        expected: [
            Dropped,
            Dropped,
            Dropped,
            Dropped,
            Closed(-115),
            Closed(-115),
        ],
    },
    Case {
        name: "setWatches",
        op: 101,
        before: || Out::new().long(0).int(1),
        after: || Out::new().int(0).int(0),
        expected: [Open(M5), Open(M5), Open(M5), Open(M5), Open(0), Open(M5)],
    },
    Case::path_first(
        "sasl",
        SASL,
        none,
        [Dropped, Dropped, Dropped, Dropped, Open(0), Dropped],
    ),
    Case::path_first(
        "getEphemerals",
        103,
        none,
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(0), Open(0)],
    ),
    Case::path_first(
        "getAllChildrenNumber",
        op::GET_ALL_CHILDREN_NUMBER,
        none,
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(-101), Open(M5)],
    ),
    Case {
        name: "setWatches2",
        op: 105,
        before: || Out::new().long(0).int(1),
        after: || Out::new().int(0).int(0).int(0).int(0),
        expected: [Open(M5), Open(M5), Open(M5), Open(M5), Open(0), Open(M5)],
    },
    Case::path_first(
        "addWatch",
        op::ADD_WATCH,
        || Out::new().int(0),
        [Open(M5), Open(M5), Open(M5), Open(M5), Open(0), Open(0)],
    ),
];

#[test]
fn every_opcode_answers_a_body_that_does_not_decode_as_apache_does() {
    let server = TestServer::start_default();
    let (mut setup, _) = RawConn::new_session(&server, TIMEOUT_MS);
    let create = Out::new().string("/m").buffer(b"x").open_acl().int(0);
    assert_eq!(setup.request(op::CREATE, create).err, err::OK);
    let mut rows = Vec::new();
    let mut wrong = 0;
    for case in CASES {
        let mut got = Vec::new();
        for (i, mutation) in MUTATIONS.into_iter().enumerate() {
            // A SASL token is a buffer, not a string: bytes that are not UTF-8 make a valid
            // token there, whose answer depends on the SASL set-up (tests/sasl.rs).
            if case.op == SASL && mutation == InvalidUtf8 {
                got.push(case.expected[i]);
                continue;
            }
            let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
            got.push(observe(&mut conn, case.op, &case.body(mutation)));
        }
        if got != case.expected {
            wrong += 1;
            rows.push(format!(
                "{}: got {got:?}\n   expected {:?}",
                case.name, case.expected
            ));
        }
    }
    assert!(
        wrong == 0,
        "{wrong} opcodes differ from Apache's answers:\n{}\nserver log:\n{}",
        rows.join("\n"),
        server
            .log()
            .lines()
            .filter(|l| l.contains("Exception"))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A frame too short for its request header: Apache's `processPacket` fails before it knows
/// the xid, and the connection closes without an answer.
#[test]
fn a_frame_shorter_than_a_request_header_closes_the_connection() {
    let server = TestServer::start_default();
    let mut got = Vec::new();
    for length in [0usize, 3, 7] {
        let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
        let frame = Out(vec![0; length]).frame();
        got.push(observe_frame(&mut conn, &frame, 0));
    }
    assert_eq!(got, [Dropped, Dropped, Dropped]);
}

/// A null string where Apache does not dereference it is no decoding error: kazoo writes
/// the id of its `Id("auth", "")` (CREATOR_ALL_ACL) as null, and Apache ignores an auth
/// entry's id. Without an authenticated identity such an entry is InvalidACL; after a
/// digest addAuth the create succeeds. Any other scheme's null id fails to decode
/// (MarshallingError), as Apache's ACL check dereferences it.
#[test]
fn a_null_id_in_an_auth_acl_entry_is_read_as_apache_reads_it() {
    const INVALID_ACL: i32 = -114;
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, TIMEOUT_MS);
    let create = |path: &str, scheme: &str| {
        Out::new()
            .string(path)
            .buffer(b"")
            .int(1)
            .int(31)
            .string(scheme)
            .int(-1)
            .int(0)
    };
    let reply = conn.request(op::CREATE, create("/null-auth", "auth"));
    assert_eq!(reply.err, INVALID_ACL, "auth entry, no identity");
    let reply = conn.request(op::CREATE, create("/null-world", "world"));
    assert_eq!(reply.err, MARSHALLING_ERROR, "world entry with a null id");
    // The connection stays open and serves.
    let reply = conn.request(op::EXISTS, Out::new().string("/").boolean(false));
    assert_eq!(reply.err, 0);
}
