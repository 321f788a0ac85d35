//! Every opcode against every permission bit: a node `N` whose ACL grants the tested
//! (unauthenticated) client exactly one of READ, WRITE, CREATE, DELETE, ADMIN, or nothing,
//! under a parent `P` that grants likewise, for all 36 pairs. Each opcode runs alone, inside
//! a multi and inside a multiRead, and the test checks both the answer and the state the
//! owner sees afterwards: a refused request must leave `N` exactly as it was.
//!
//! The expected answers are Apache ZooKeeper 3.8's (`RK_TEST_SERVER=apache`). What an
//! operation needs follows Apache's PrepRequestProcessor and FinalRequestProcessor: a create
//! under `N` needs CREATE on `N`, deleting `N` needs DELETE on `P`, setData WRITE, setACL
//! ADMIN, getACL READ or ADMIN, the other reads READ; exists, getEphemerals, sync and the
//! watch requests need nothing. Opcodes only the server issues are refused whatever the
//! ACL: deleteContainer BadArguments, createSession MarshallingError; unknown numbers answer
//! Unimplemented and close. (ping, whose answer carries xid -2, and sasl, whose answer
//! depends on the SASL set-up, are covered in their own tests.)

mod common;

use common::answer::{
    assert_no_mismatches, first_result, multi_of_one, observe, Answer, Answer::*,
};
use common::jute::{err, op, Out};
use common::*;

const GET_ACL: i32 = 6;
const SET_ACL: i32 = 7;
const GET_CHILDREN2: i32 = 12;
const RECONFIG: i32 = 16;
const CREATE_CONTAINER: i32 = 19;
const DELETE_CONTAINER: i32 = 20;
const AUTH: i32 = 100;
const SET_WATCHES: i32 = 101;
const GET_EPHEMERALS: i32 = 103;
const SET_WATCHES2: i32 = 105;
const WHO_AM_I: i32 = 107;
const CREATE_SESSION: i32 = -10;

const NO_AUTH: i32 = -102;
const MARSHALLING_ERROR: i32 = -5;

const NONE: i32 = 0;
const READ: i32 = 1;
const WRITE: i32 = 2;
const CREATE: i32 = 4;
const DELETE: i32 = 8;
const ADMIN: i32 = 16;
const ALL: i32 = 31;
const GRANTS: [(i32, &str); 6] = [
    (NONE, "none"),
    (READ, "read"),
    (WRITE, "write"),
    (CREATE, "create"),
    (DELETE, "delete"),
    (ADMIN, "admin"),
];

const OWNER: &str = "owner:secret";
const OWNER_ID: &str = "owner:Vj++wdU3sMAbt+g9TyKj1BT+usI=";
const TIMEOUT_MS: i32 = 10_000;

/// What an operation needs to succeed.
#[derive(Clone, Copy)]
enum Needs {
    /// Any one of these bits on `N`.
    Node(i32),
    /// Any one of these bits on `P`.
    Parent(i32),
    /// Nothing: it always succeeds.
    Nothing,
    /// It is refused whatever the ACLs, with this answer.
    Refused(Answer),
}

/// One opcode of the matrix.
struct Operation {
    name: &'static str,
    op: i32,
    /// The body, given the path of `N`.
    body: fn(&str) -> Out,
    needs: Needs,
    /// The answer when allowed: a reply with 0, except a standalone check (no reply at all)
    /// and closeSession (a reply, then the close).
    allowed: Answer,
    /// Whether the operation, when allowed, changes what the owner sees of `N`.
    changes: bool,
}

const fn op_entry(
    name: &'static str,
    op: i32,
    body: fn(&str) -> Out,
    needs: Needs,
    changes: bool,
) -> Operation {
    Operation {
        name,
        op,
        body,
        needs,
        allowed: Open(err::OK),
        changes,
    }
}

fn path_only(n: &str) -> Out {
    Out::new().string(n)
}

fn path_watch(n: &str) -> Out {
    Out::new().string(n).boolean(false)
}

fn create_under(n: &str, flags: i32) -> Out {
    Out::new()
        .string(&format!("{n}/c"))
        .buffer(b"c")
        .acls(&[(ALL, "world", "anyone")])
        .int(flags)
}

const OPERATIONS: &[Operation] = &[
    op_entry(
        "create",
        op::CREATE,
        |n| create_under(n, 0),
        Needs::Node(CREATE),
        true,
    ),
    op_entry(
        "create2",
        op::CREATE2,
        |n| create_under(n, 0),
        Needs::Node(CREATE),
        true,
    ),
    op_entry(
        "createContainer",
        CREATE_CONTAINER,
        |n| create_under(n, 4),
        Needs::Node(CREATE),
        true,
    ),
    op_entry(
        "createTTL",
        op::CREATE_TTL,
        |n| create_under(n, 5).long(60_000),
        Needs::Node(CREATE),
        true,
    ),
    op_entry(
        "delete",
        op::DELETE,
        |n| Out::new().string(n).int(-1),
        Needs::Parent(DELETE),
        true,
    ),
    op_entry("exists", op::EXISTS, path_watch, Needs::Nothing, false),
    op_entry(
        "getData",
        op::GET_DATA,
        path_watch,
        Needs::Node(READ),
        false,
    ),
    op_entry(
        "setData",
        op::SET_DATA,
        |n| Out::new().string(n).buffer(b"changed").int(-1),
        Needs::Node(WRITE),
        true,
    ),
    op_entry(
        "getACL",
        GET_ACL,
        path_only,
        Needs::Node(READ | ADMIN),
        false,
    ),
    op_entry(
        "setACL",
        SET_ACL,
        |n| {
            Out::new()
                .string(n)
                .acls(&[(ALL, "digest", OWNER_ID)])
                .int(-1)
        },
        Needs::Node(ADMIN),
        true,
    ),
    op_entry(
        "getChildren",
        op::GET_CHILDREN,
        path_watch,
        Needs::Node(READ),
        false,
    ),
    op_entry(
        "getChildren2",
        GET_CHILDREN2,
        path_watch,
        Needs::Node(READ),
        false,
    ),
    op_entry(
        "getAllChildrenNumber",
        op::GET_ALL_CHILDREN_NUMBER,
        path_only,
        Needs::Node(READ),
        false,
    ),
    op_entry(
        "getEphemerals",
        GET_EPHEMERALS,
        path_only,
        Needs::Nothing,
        false,
    ),
    Operation {
        name: "check",
        op: op::CHECK,
        body: |n| Out::new().string(n).int(-1),
        needs: Needs::Node(READ),
        allowed: Silent,
        changes: false,
    },
    op_entry("sync", op::SYNC, path_only, Needs::Nothing, false),
    op_entry(
        "reconfig",
        RECONFIG,
        |_| Out::new().string("").string("").string("").long(-1),
        Needs::Refused(Open(-123)),
        false,
    ),
    op_entry(
        "deleteContainer",
        DELETE_CONTAINER,
        path_only,
        Needs::Refused(Open(-8)),
        false,
    ),
    op_entry(
        "createSession",
        CREATE_SESSION,
        |_| Out::new(),
        Needs::Refused(Open(MARSHALLING_ERROR)),
        false,
    ),
    op_entry(
        "setWatches",
        SET_WATCHES,
        |n| Out::new().long(0).int(1).string(n).int(0).int(0),
        Needs::Nothing,
        false,
    ),
    op_entry(
        "setWatches2",
        SET_WATCHES2,
        |n| {
            Out::new()
                .long(0)
                .int(1)
                .string(n)
                .int(0)
                .int(0)
                .int(0)
                .int(0)
        },
        Needs::Nothing,
        false,
    ),
    op_entry(
        "addWatch",
        op::ADD_WATCH,
        |n| Out::new().string(n).int(0),
        Needs::Nothing,
        false,
    ),
    op_entry(
        "removeWatches",
        op::REMOVE_WATCHES,
        |n| Out::new().string(n).int(3),
        Needs::Refused(Open(-121)),
        false,
    ),
    op_entry(
        "checkWatches",
        op::CHECK_WATCHES,
        |n| Out::new().string(n).int(3),
        Needs::Refused(Open(-121)),
        false,
    ),
    op_entry("whoAmI", WHO_AM_I, |_| Out::new(), Needs::Nothing, false),
    op_entry(
        "auth",
        AUTH,
        |_| Out::new().int(0).string("digest").buffer(b"bob:pw"),
        Needs::Nothing,
        false,
    ),
    Operation {
        name: "closeSession",
        op: op::CLOSE_SESSION,
        body: |_| Out::new(),
        needs: Needs::Nothing,
        allowed: Closed(err::OK),
        changes: false,
    },
    op_entry(
        "unknown 23",
        23,
        path_only,
        Needs::Refused(Closed(-6)),
        false,
    ),
    op_entry(
        "unknown 999",
        999,
        path_only,
        Needs::Refused(Closed(-6)),
        false,
    ),
];

fn permitted(needs: Needs, parent: i32, node: i32) -> Option<bool> {
    match needs {
        Needs::Node(bits) => Some(node & bits != 0),
        Needs::Parent(bits) => Some(parent & bits != 0),
        Needs::Nothing => Some(true),
        Needs::Refused(_) => None,
    }
}

/// The answer to an operation alone.
fn expected_alone(operation: &Operation, parent: i32, node: i32) -> (Answer, bool) {
    match permitted(operation.needs, parent, node) {
        Some(true) => (operation.allowed, operation.changes),
        Some(false) => (Open(NO_AUTH), false),
        None => match operation.needs {
            Needs::Refused(answer) => (answer, false),
            _ => unreachable!(),
        },
    }
}

/// What a multi or multiRead answered: an error in the reply header (the whole request
/// refused), or the first operation's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MultiAnswer {
    Header(i32),
    FirstOp(i32),
    Closed,
}

/// The opcodes a multi may carry (Apache's `MultiOperationRecord`), and those a multiRead
/// may carry; anything else makes the whole request a MarshallingError.
const MULTI_WRITES: [i32; 7] = [
    op::CREATE,
    op::CREATE2,
    CREATE_CONTAINER,
    op::CREATE_TTL,
    op::DELETE,
    op::SET_DATA,
    op::CHECK,
];
const MULTI_READS: [i32; 2] = [op::GET_DATA, op::GET_CHILDREN];

fn expected_in(multi: i32, operation: &Operation, parent: i32, node: i32) -> (MultiAnswer, bool) {
    let legal = if multi == op::MULTI {
        &MULTI_WRITES[..]
    } else {
        &MULTI_READS[..]
    };
    if !legal.contains(&operation.op) {
        return (MultiAnswer::Header(MARSHALLING_ERROR), false);
    }
    match permitted(operation.needs, parent, node) {
        Some(true) => (MultiAnswer::FirstOp(err::OK), operation.changes),
        _ => (MultiAnswer::FirstOp(NO_AUTH), false),
    }
}

fn run_in(conn: &mut RawConn, multi: i32, op_code: i32, op_body: Out) -> MultiAnswer {
    match conn.try_request(multi, multi_of_one(op_code, &op_body.0)) {
        Err(_) => MultiAnswer::Closed,
        Ok(reply) if reply.err != err::OK => MultiAnswer::Header(reply.err),
        Ok(reply) => MultiAnswer::FirstOp(first_result(&reply)),
    }
}

/// Everything the owner can see of `N`: its data and Stat, its ACL and its children, or
/// nothing if it is gone.
fn fingerprint(owner: &mut RawConn, n: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    for (op_code, body) in [
        (op::GET_DATA, path_watch(n)),
        (GET_ACL, path_only(n)),
        (op::GET_CHILDREN, path_watch(n)),
    ] {
        let reply = owner.request(op_code, body);
        seen.extend_from_slice(&reply.err.to_be_bytes());
        seen.extend_from_slice(&reply.body);
    }
    seen
}

/// How an operation is sent: alone, or as the only operation of a multi or a multiRead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Alone,
    Multi,
    MultiRead,
}

struct Matrix {
    server: TestServer,
    owner: RawConn,
    mismatches: Vec<String>,
    next: usize,
}

impl Matrix {
    fn start() -> Matrix {
        let server = TestServer::start(ServerOptions {
            extended_types: true,
            ..Default::default()
        });
        let (mut owner, _) = RawConn::new_session(&server, TIMEOUT_MS);
        let auth = Out::new().int(0).string("digest").buffer(OWNER.as_bytes());
        assert_eq!(owner.request(AUTH, auth).err, err::OK);
        Matrix {
            server,
            owner,
            mismatches: Vec::new(),
            next: 0,
        }
    }

    /// Creates a fresh `P` granting `parent` and `N` under it granting `node`, both with ALL
    /// for the owner; returns the path of `N`.
    fn make_nodes(&mut self, parent: i32, node: i32) -> String {
        self.next += 1;
        let p = format!("/p{}", self.next);
        let n = format!("{p}/n");
        for (path, grant) in [(&p, parent), (&n, node)] {
            let mut acl = vec![(ALL, "digest", OWNER_ID)];
            if grant != NONE {
                acl.push((grant, "world", "anyone"));
            }
            let body = Out::new().string(path).buffer(b"x").acls(&acl).int(0);
            assert_eq!(self.owner.request(op::CREATE, body).err, err::OK, "{path}");
        }
        n
    }

    fn run(&mut self, mode: Mode) {
        for (parent, parent_name) in GRANTS {
            for (node, node_name) in GRANTS {
                for operation in OPERATIONS {
                    let n = self.make_nodes(parent, node);
                    let before = fingerprint(&mut self.owner, &n);
                    let (mut client, _) = RawConn::new_session(&self.server, TIMEOUT_MS);
                    let body = (operation.body)(&n);
                    let (got, expected, changes) = match mode {
                        Mode::Alone => {
                            let (expected, changes) = expected_alone(operation, parent, node);
                            let got = observe(&mut client, operation.op, &body.0);
                            (format!("{got:?}"), format!("{expected:?}"), changes)
                        }
                        Mode::Multi | Mode::MultiRead => {
                            let multi = if mode == Mode::Multi {
                                op::MULTI
                            } else {
                                op::MULTI_READ
                            };
                            let (expected, changes) = expected_in(multi, operation, parent, node);
                            let got = run_in(&mut client, multi, operation.op, body);
                            (format!("{got:?}"), format!("{expected:?}"), changes)
                        }
                    };
                    let changed = fingerprint(&mut self.owner, &n) != before;
                    let what = format!(
                        "{mode:?} {} with P {parent_name}, N {node_name}",
                        operation.name
                    );
                    if got != expected {
                        self.mismatches
                            .push(format!("{what}: answered {got}, Apache {expected}"));
                    }
                    if changed != changes {
                        self.mismatches.push(format!(
                            "{what}: N {} although it {}",
                            if changed {
                                "changed"
                            } else {
                                "stayed the same"
                            },
                            if changes {
                                "should change"
                            } else {
                                "must not change"
                            }
                        ));
                    }
                }
            }
        }
    }

    fn finish(self) {
        assert_no_mismatches(&self.mismatches);
    }
}

#[test]
fn every_opcode_alone_against_every_permission() {
    let mut matrix = Matrix::start();
    matrix.run(Mode::Alone);
    matrix.finish();
}

#[test]
fn every_opcode_in_a_multi_against_every_permission() {
    let mut matrix = Matrix::start();
    matrix.run(Mode::Multi);
    matrix.finish();
}

#[test]
fn every_opcode_in_a_multi_read_against_every_permission() {
    let mut matrix = Matrix::start();
    matrix.run(Mode::MultiRead);
    matrix.finish();
}
