//! ACL enforcement audit: every client operation against every permission bit (READ, WRITE,
//! CREATE, DELETE, ADMIN) under the schemes world, auth, digest and ip, and the super user.
//!
//! For each scheme and each bit a node is made whose ACL grants exactly that bit to the
//! tested identity (plus ALL to an owner identity the tested client does not hold). The
//! tested client then runs every operation on it and the answer must be Apache's: the
//! operation's own permission decides between success and NoAuth. The expectations were
//! checked against Apache ZooKeeper 3.8 (`RK_TEST_SERVER=apache`). Watches are part of the
//! audit: a watch must not tell a client about a node it may not READ.
//!
//! Permissions an operation needs, as Apache's PrepRequestProcessor and
//! FinalRequestProcessor check them: create CREATE on the parent, delete DELETE on the
//! parent, setData WRITE, getData/getChildren/getChildren2/getAllChildrenNumber READ,
//! getACL READ or ADMIN, setACL ADMIN, check (in a multi) READ, exists and getEphemerals
//! nothing.

mod common;

use common::answer::{assert_no_mismatches, first_result, multi_of_one};
use common::jute::{err, op, Out};
use common::server::{SUPER_CREDENTIALS, SUPER_DIGEST};
use common::*;

const GET_ACL: i32 = 6;
const SET_ACL: i32 = 7;
const GET_CHILDREN2: i32 = 12;
const AUTH: i32 = 100;
const GET_EPHEMERALS: i32 = 103;
const NO_AUTH: i32 = -102;

const READ: i32 = 1;
const WRITE: i32 = 2;
const CREATE: i32 = 4;
const DELETE: i32 = 8;
const ADMIN: i32 = 16;
const ALL: i32 = 31;
const BITS: [(i32, &str); 5] = [
    (READ, "READ"),
    (WRITE, "WRITE"),
    (CREATE, "CREATE"),
    (DELETE, "DELETE"),
    (ADMIN, "ADMIN"),
];

/// `digest` ids of the identities used below: `user:base64(sha1("user:password"))`.
const OWNER: &str = "owner:secret";
const OWNER_ID: &str = "owner:Vj++wdU3sMAbt+g9TyKj1BT+usI=";
const ALICE: &str = "alice:secret";
const ALICE_ID: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";

const TIMEOUT_MS: i32 = 10_000;

fn add_digest(conn: &mut RawConn, credentials: &str) {
    let body = Out::new()
        .int(0)
        .string("digest")
        .buffer(credentials.as_bytes());
    assert_eq!(conn.request(AUTH, body).err, err::OK);
}

fn create(conn: &mut RawConn, path: &str, acl: &[(i32, &str, &str)], flags: i32) -> i32 {
    let body = Out::new().string(path).buffer(b"x").acls(acl).int(flags);
    conn.request(op::CREATE, body).err
}

/// The first operation's error code in a multi reply.
fn multi_first_err(conn: &mut RawConn, op_code: i32, op_body: Out) -> i32 {
    multi_kind_first_err(conn, op::MULTI, op_code, op_body)
}

/// The same for a multi (`op::MULTI`) or a multiRead (`op::MULTI_READ`).
fn multi_kind_first_err(conn: &mut RawConn, multi: i32, op_code: i32, op_body: Out) -> i32 {
    let reply = conn.request(multi, multi_of_one(op_code, &op_body.0));
    assert_eq!(reply.err, err::OK, "a multi's header carries 0");
    first_result(&reply)
}

/// One operation of the audit: its name, the permissions any one of which allows it (0:
/// none needed), and how to run it on node `n` (whose child `n/child` exists).
struct Operation {
    name: &'static str,
    needs: i32,
    run: fn(&mut RawConn, &str) -> i32,
}

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "create child",
        needs: CREATE,
        run: |c, n| create(c, &format!("{n}/new"), &[(ALL, "world", "anyone")], 0),
    },
    Operation {
        name: "delete child",
        needs: DELETE,
        run: |c, n| {
            c.request(op::DELETE, Out::new().string(&format!("{n}/child")).int(-1))
                .err
        },
    },
    Operation {
        name: "setData",
        needs: WRITE,
        run: |c, n| {
            c.request(op::SET_DATA, Out::new().string(n).buffer(b"y").int(-1))
                .err
        },
    },
    Operation {
        name: "getData",
        needs: READ,
        run: |c, n| {
            c.request(op::GET_DATA, Out::new().string(n).boolean(false))
                .err
        },
    },
    Operation {
        name: "exists",
        needs: 0,
        run: |c, n| {
            c.request(op::EXISTS, Out::new().string(n).boolean(false))
                .err
        },
    },
    Operation {
        name: "getChildren",
        needs: READ,
        run: |c, n| {
            c.request(op::GET_CHILDREN, Out::new().string(n).boolean(false))
                .err
        },
    },
    Operation {
        name: "getChildren2",
        needs: READ,
        run: |c, n| {
            c.request(GET_CHILDREN2, Out::new().string(n).boolean(false))
                .err
        },
    },
    Operation {
        name: "getAllChildrenNumber",
        needs: READ,
        run: |c, n| {
            c.request(op::GET_ALL_CHILDREN_NUMBER, Out::new().string(n))
                .err
        },
    },
    Operation {
        name: "getACL",
        needs: READ | ADMIN,
        run: |c, n| c.request(GET_ACL, Out::new().string(n)).err,
    },
    Operation {
        name: "check in multi",
        needs: READ,
        run: |c, n| multi_first_err(c, op::CHECK, Out::new().string(n).int(-1)),
    },
    Operation {
        name: "setData in multi",
        needs: WRITE,
        run: |c, n| multi_first_err(c, op::SET_DATA, Out::new().string(n).buffer(b"z").int(-1)),
    },
    Operation {
        name: "create in multi",
        needs: CREATE,
        run: |c, n| {
            let body = Out::new()
                .string(&format!("{n}/m"))
                .buffer(b"")
                .acls(&[(ALL, "world", "anyone")])
                .int(0);
            multi_first_err(c, op::CREATE, body)
        },
    },
    Operation {
        name: "getData in multiRead",
        needs: READ,
        run: |c, n| {
            let body = Out::new().string(n).boolean(false);
            multi_kind_first_err(c, op::MULTI_READ, op::GET_DATA, body)
        },
    },
    Operation {
        name: "getChildren in multiRead",
        needs: READ,
        run: |c, n| {
            let body = Out::new().string(n).boolean(false);
            multi_kind_first_err(c, op::MULTI_READ, op::GET_CHILDREN, body)
        },
    },
    Operation {
        name: "getEphemerals",
        needs: 0,
        run: |c, n| c.request(GET_EPHEMERALS, Out::new().string(n)).err,
    },
    // setACL last: with ADMIN it rewrites the ACL (to the same list, so nothing changes).
    Operation {
        name: "setACL",
        needs: ADMIN,
        run: |c, n| {
            // The ACL the node already has is not known here; world READ is as good as any
            // for the permission check, and the node is not used after this.
            let body = Out::new()
                .string(n)
                .acls(&[(READ, "world", "anyone")])
                .int(-1);
            c.request(SET_ACL, body).err
        },
    },
];

/// The identity a scheme audits, as the owner writes it into ACLs, and how the tested client
/// comes to hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    World,
    /// `auth`: the tested client creates the node itself with `auth:` and holds digest alice.
    Auth,
    Digest,
    /// `ip`: every loopback address, since a client's source address on loopback varies.
    Ip,
    /// The super user against a node whose ACL names someone else.
    Super,
}

struct Audit {
    server: TestServer,
    owner: RawConn,
    mismatches: Vec<String>,
}

impl Audit {
    fn start() -> Audit {
        let server = TestServer::start(ServerOptions {
            super_digest: Some(SUPER_DIGEST.to_string()),
            ..Default::default()
        });
        let (mut owner, _) = RawConn::new_session(&server, TIMEOUT_MS);
        add_digest(&mut owner, OWNER);
        Audit {
            server,
            owner,
            mismatches: Vec::new(),
        }
    }

    /// A connection holding the identity `scheme` audits.
    fn tested_client(&self, scheme: Scheme) -> RawConn {
        let (mut conn, _) = RawConn::new_session(&self.server, TIMEOUT_MS);
        match scheme {
            Scheme::World | Scheme::Ip => {}
            Scheme::Auth | Scheme::Digest => add_digest(&mut conn, ALICE),
            Scheme::Super => add_digest(&mut conn, SUPER_CREDENTIALS),
        }
        conn
    }

    /// Makes `path` with an ACL granting `perm` to the audited identity and ALL to the owner,
    /// and a world-ALL child under it.
    fn make_node(&mut self, scheme: Scheme, path: &str, perm: i32, client: &mut RawConn) {
        let owner_all = (ALL, "digest", OWNER_ID);
        let code = match scheme {
            Scheme::World => create(
                &mut self.owner,
                path,
                &[(perm, "world", "anyone"), owner_all],
                0,
            ),
            Scheme::Digest => create(
                &mut self.owner,
                path,
                &[(perm, "digest", ALICE_ID), owner_all],
                0,
            ),
            Scheme::Ip => create(
                &mut self.owner,
                path,
                &[(perm, "ip", "127.0.0.0/8"), owner_all],
                0,
            ),
            Scheme::Super => create(
                &mut self.owner,
                path,
                &[(perm, "digest", ALICE_ID), owner_all],
                0,
            ),
            // `auth` stands for the creator's own authenticated ids.
            Scheme::Auth => create(client, path, &[(perm, "auth", ""), owner_all], 0),
        };
        assert_eq!(code, err::OK, "creating {path} for {scheme:?}");
        let child = format!("{path}/child");
        assert_eq!(
            create(&mut self.owner, &child, &[(ALL, "world", "anyone")], 0),
            err::OK
        );
    }

    fn run(&mut self, scheme: Scheme) {
        let mut client = self.tested_client(scheme);
        let base = format!("/{scheme:?}").to_lowercase();
        assert_eq!(
            create(&mut self.owner, &base, &[(ALL, "world", "anyone")], 0),
            err::OK
        );
        for (perm, perm_name) in BITS {
            for operation in OPERATIONS {
                let node = format!("{base}/{perm_name}-{}", operation.name.replace(' ', "_"));
                self.make_node(scheme, &node, perm, &mut client);
                let allowed =
                    operation.needs == 0 || operation.needs & perm != 0 || scheme == Scheme::Super;
                let expected = if allowed { err::OK } else { NO_AUTH };
                let got = (operation.run)(&mut client, &node);
                if got != expected {
                    self.mismatches.push(format!(
                        "{scheme:?} with only {perm_name}: {} answered {got}, Apache answers {expected}",
                        operation.name
                    ));
                }
            }
            self.audit_watches(scheme, &base, perm, perm_name, &mut client);
        }
    }

    /// exists sets a watch without any permission (Apache checks none); the change must be
    /// told only to a client that may READ the node. getData with a watch needs READ, and a
    /// refused getData must leave no watch behind.
    fn audit_watches(
        &mut self,
        scheme: Scheme,
        base: &str,
        perm: i32,
        perm_name: &str,
        client: &mut RawConn,
    ) {
        let node = format!("{base}/{perm_name}-watch");
        self.make_node(scheme, &node, perm, client);
        let may_read = perm == READ || scheme == Scheme::Super;
        let exists = client.request(op::EXISTS, Out::new().string(&node).boolean(true));
        assert_eq!(exists.err, err::OK);
        let get = client.request(op::GET_DATA, Out::new().string(&node).boolean(true));
        assert_eq!(get.err, if may_read { err::OK } else { NO_AUTH });
        client.events.clear();
        let set = self
            .owner
            .request(op::SET_DATA, Out::new().string(&node).buffer(b"w").int(-1));
        assert_eq!(set.err, err::OK);
        // Any notification for the change is queued before the answer to a later request.
        let _ = client.request(op::EXISTS, Out::new().string("/").boolean(false));
        let told: Vec<String> = client.events.drain(..).map(|e| e.path).collect();
        let expected: Vec<String> = if may_read { vec![node.clone()] } else { vec![] };
        if told != expected {
            self.mismatches.push(format!(
                "{scheme:?} with only {perm_name}: a data watch told {told:?}, expected {expected:?}"
            ));
        }
    }

    /// A persistent recursive watch on a whole subtree (addWatch, which checks no
    /// permission) must leave out the nodes of that subtree the client may not READ.
    fn audit_recursive_watch(&mut self, scheme: Scheme) {
        let mut client = self.tested_client(scheme);
        let base = format!("/{scheme:?}-recursive").to_lowercase();
        assert_eq!(
            create(&mut self.owner, &base, &[(ALL, "world", "anyone")], 0),
            err::OK
        );
        let watch = Out::new().string(&base).int(1);
        assert_eq!(client.request(op::ADD_WATCH, watch).err, err::OK);
        for (perm, perm_name) in BITS {
            let node = format!("{base}/{perm_name}");
            self.make_node(scheme, &node, perm, &mut client);
            // The creations' own events (the world-readable child's included) are not
            // what this checks: take them in, then forget them.
            let _ = client.request(op::EXISTS, Out::new().string("/").boolean(false));
            client.events.clear();
            let set = self
                .owner
                .request(op::SET_DATA, Out::new().string(&node).buffer(b"r").int(-1));
            assert_eq!(set.err, err::OK);
            let _ = client.request(op::EXISTS, Out::new().string("/").boolean(false));
            let told: Vec<String> = client.events.drain(..).map(|e| e.path).collect();
            let may_read = perm == READ || scheme == Scheme::Super;
            let expected: Vec<String> = if may_read { vec![node.clone()] } else { vec![] };
            if told != expected {
                self.mismatches.push(format!(
                    "{scheme:?} with only {perm_name}: a persistent recursive watch told {told:?}, expected {expected:?}"
                ));
            }
        }
    }

    fn finish(self) {
        assert_no_mismatches(&self.mismatches);
    }
}

#[test]
fn world_scheme() {
    let mut audit = Audit::start();
    audit.run(Scheme::World);
    audit.audit_recursive_watch(Scheme::World);
    audit.finish();
}

#[test]
fn auth_scheme() {
    let mut audit = Audit::start();
    audit.run(Scheme::Auth);
    audit.audit_recursive_watch(Scheme::Auth);
    audit.finish();
}

#[test]
fn digest_scheme() {
    let mut audit = Audit::start();
    audit.run(Scheme::Digest);
    audit.audit_recursive_watch(Scheme::Digest);
    audit.finish();
}

#[test]
fn ip_scheme() {
    let mut audit = Audit::start();
    audit.run(Scheme::Ip);
    audit.audit_recursive_watch(Scheme::Ip);
    audit.finish();
}

#[test]
fn super_user_passes_every_check() {
    let mut audit = Audit::start();
    audit.run(Scheme::Super);
    audit.audit_recursive_watch(Scheme::Super);
    audit.finish();
}

/// Identities that are not the one an ACL names get NoAuth for everything that needs a
/// permission: no credentials, a wrong digest password, another user.
#[test]
fn strangers_get_no_auth() {
    let mut audit = Audit::start();
    let node = "/guarded";
    assert_eq!(
        create(
            &mut audit.owner,
            node,
            &[(ALL, "digest", ALICE_ID), (ALL, "digest", OWNER_ID)],
            0
        ),
        err::OK
    );
    let (mut anonymous, _) = RawConn::new_session(&audit.server, TIMEOUT_MS);
    let (mut wrong, _) = RawConn::new_session(&audit.server, TIMEOUT_MS);
    add_digest(&mut wrong, "alice:wrong");
    let (mut other, _) = RawConn::new_session(&audit.server, TIMEOUT_MS);
    add_digest(&mut other, "bob:secret");
    for (who, conn) in [
        ("anonymous", &mut anonymous),
        ("wrong password", &mut wrong),
        ("another user", &mut other),
    ] {
        for operation in OPERATIONS {
            assert_eq!(
                create(
                    &mut audit.owner,
                    &format!("{node}/child"),
                    &[(ALL, "world", "anyone")],
                    0
                ),
                err::OK
            );
            let expected = if operation.needs == 0 {
                err::OK
            } else {
                NO_AUTH
            };
            let got = (operation.run)(conn, node);
            if got != expected {
                audit.mismatches.push(format!(
                    "{who}: {} answered {got}, Apache answers {expected}",
                    operation.name
                ));
            }
            let _ = audit.owner.request(
                op::DELETE,
                Out::new().string(&format!("{node}/child")).int(-1),
            );
        }
    }
    audit.finish();
}
