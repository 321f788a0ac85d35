//! Error codes, as KeeperException.Code numbers, for each refused operation. Most checks go
//! through the client crate; bad paths and bad ACLs need raw frames because the crate refuses
//! to send them.

mod common;

use common::jute::{err, op, Out};
use common::*;
use zookeeper_client::{Acls, CreateMode, Error};

#[tokio::test]
async fn missing_nodes_answer_no_node() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    assert_eq!(client.get_data("/missing").await, Err(Error::NoNode));
    assert_eq!(
        client.set_data("/missing", b"x", None).await,
        Err(Error::NoNode)
    );
    assert_eq!(client.delete("/missing", None).await, Err(Error::NoNode));
    assert_eq!(client.list_children("/missing").await, Err(Error::NoNode));
    assert_eq!(client.get_children("/missing").await, Err(Error::NoNode));
    assert_eq!(client.get_acl("/missing").await, Err(Error::NoNode));
    assert_eq!(
        client.set_acl("/missing", &Acls::anyone_all(), None).await,
        Err(Error::NoNode)
    );
    assert_eq!(
        client.create("/missing/child", b"", &persistent()).await,
        Err(Error::NoNode)
    );
}

#[tokio::test]
async fn creating_twice_answers_node_exists() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client
        .create("/twice", b"first", &persistent())
        .await
        .unwrap();
    assert_eq!(
        client.create("/twice", b"second", &persistent()).await,
        Err(Error::NodeExists)
    );
    assert_eq!(
        client.create("/twice", b"", &ephemeral()).await,
        Err(Error::NodeExists)
    );
    assert_eq!(
        client.get_data("/twice").await.unwrap().0,
        b"first",
        "the refused create changed nothing"
    );
    assert_eq!(
        client.create("/zookeeper", b"", &persistent()).await,
        Err(Error::NodeExists)
    );
}

#[tokio::test]
async fn deleting_a_parent_answers_not_empty() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/parent", b"", &persistent()).await.unwrap();
    client
        .create("/parent/child", b"", &persistent())
        .await
        .unwrap();
    assert_eq!(client.delete("/parent", None).await, Err(Error::NotEmpty));
    assert!(client.check_stat("/parent/child").await.unwrap().is_some());
}

#[tokio::test]
async fn bad_versions_answer_bad_version() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/bv", b"", &persistent()).await.unwrap();
    assert_eq!(
        client.set_data("/bv", b"", Some(5)).await,
        Err(Error::BadVersion)
    );
    assert_eq!(client.delete("/bv", Some(5)).await, Err(Error::BadVersion));
    assert_eq!(
        client.set_acl("/bv", &Acls::anyone_all(), Some(5)).await,
        Err(Error::BadVersion)
    );
}

#[tokio::test]
async fn ephemerals_cannot_have_children() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/eph", b"", &ephemeral()).await.unwrap();
    assert_eq!(
        client.create("/eph/child", b"", &persistent()).await,
        Err(Error::NoChildrenForEphemerals)
    );
    assert_eq!(
        client.create("/eph/child", b"", &ephemeral()).await,
        Err(Error::NoChildrenForEphemerals)
    );
}

fn raw_create(conn: &mut RawConn, path: &str, flags: i32, acl: &[(i32, &str, &str)]) -> i32 {
    conn.request(
        op::CREATE,
        Out::new().string(path).buffer(b"").acls(acl).int(flags),
    )
    .err
}

const OPEN: [(i32, &str, &str); 1] = [(31, "world", "anyone")];

#[test]
fn malformed_paths_answer_bad_arguments() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    assert_eq!(raw_create(&mut conn, "/a", 0, &OPEN), err::OK);
    for path in ["a", "", "/.", "/..", "/a/", "/a/.", "/a\u{0}b", "/b\u{1}"] {
        assert_eq!(
            raw_create(&mut conn, path, 0, &OPEN),
            err::BAD_ARGUMENTS,
            "create {path:?}"
        );
    }
    // A relative path is refused by the write pipeline for every write...
    let delete = conn.request(op::DELETE, Out::new().string("a").int(-1));
    assert_eq!(delete.err, err::BAD_ARGUMENTS);
    let set = conn.request(op::SET_DATA, Out::new().string("a").buffer(b"").int(-1));
    assert_eq!(set.err, err::BAD_ARGUMENTS);
    // ...while a read simply finds no such node.
    let get = conn.request(op::GET_DATA, Out::new().string("a").boolean(false));
    assert_eq!(get.err, err::NO_NODE);
    let exists = conn.request(op::EXISTS, Out::new().string("/a//b").boolean(false));
    assert_eq!(exists.err, err::NO_NODE);
}

#[test]
fn root_cannot_be_deleted_or_recreated() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    assert_eq!(
        conn.request(op::DELETE, Out::new().string("/").int(-1)).err,
        err::BAD_ARGUMENTS
    );
    assert_eq!(raw_create(&mut conn, "/", 0, &OPEN), err::NODE_EXISTS);
    assert_eq!(
        conn.request(op::DELETE, Out::new().string("/zookeeper").int(-1))
            .err,
        err::BAD_ARGUMENTS,
        "the /zookeeper system node cannot be deleted"
    );
}

#[test]
fn sequential_create_may_end_with_a_slash() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    assert_eq!(raw_create(&mut conn, "/q", 0, &OPEN), err::OK);
    let reply = conn.request(
        op::CREATE,
        Out::new().string("/q/").buffer(b"").open_acl().int(2),
    );
    assert_eq!(reply.err, err::OK);
    assert_eq!(reply.reader().string(), "/q/0000000000");
}

#[test]
fn bad_acls_answer_invalid_acl() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[]),
        err::INVALID_ACL,
        "an empty ACL list"
    );
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[(31, "foo", "bar")]),
        err::INVALID_ACL,
        "an unknown scheme"
    );
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[(31, "auth", "")]),
        err::INVALID_ACL,
        "the auth scheme without any authenticated identity"
    );
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[(31, "digest", "nocolon")]),
        err::INVALID_ACL
    );
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[(31, "ip", "notanip")]),
        err::INVALID_ACL
    );
    assert_eq!(
        raw_create(&mut conn, "/x", 0, &[(31, "world", "someone")]),
        err::INVALID_ACL
    );
    let exists = conn.request(op::EXISTS, Out::new().string("/x").boolean(false));
    assert_eq!(
        exists.err,
        err::NO_NODE,
        "no refused create left a node behind"
    );
}

#[test]
fn bad_create_flags_answer_bad_arguments() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    assert_eq!(raw_create(&mut conn, "/f", 7, &OPEN), err::BAD_ARGUMENTS);
    assert_eq!(raw_create(&mut conn, "/f", -1, &OPEN), err::BAD_ARGUMENTS);
    assert_eq!(
        raw_create(&mut conn, "/f", 5, &OPEN),
        err::UNIMPLEMENTED,
        "TTL kinds need extended types"
    );
    let ttl = conn.request(
        op::CREATE_TTL,
        Out::new()
            .string("/f")
            .buffer(b"")
            .open_acl()
            .int(5)
            .long(1000),
    );
    assert_eq!(ttl.err, err::UNIMPLEMENTED);
}

#[test]
fn ttl_requests_are_validated_when_extended_types_are_enabled() {
    let server = TestServer::start(ServerOptions {
        extended_types: true,
        ..Default::default()
    });
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let not_ttl = conn.request(
        op::CREATE_TTL,
        Out::new()
            .string("/t")
            .buffer(b"")
            .open_acl()
            .int(0)
            .long(1000),
    );
    assert_eq!(
        not_ttl.err,
        err::BAD_ARGUMENTS,
        "createTTL with a non-TTL mode"
    );
    let zero = conn.request(
        op::CREATE_TTL,
        Out::new()
            .string("/t")
            .buffer(b"")
            .open_acl()
            .int(5)
            .long(0),
    );
    assert_eq!(zero.err, err::BAD_ARGUMENTS, "a zero TTL");
    let ok = conn.request(
        op::CREATE_TTL,
        Out::new()
            .string("/t")
            .buffer(b"")
            .open_acl()
            .int(5)
            .long(1000),
    );
    assert_eq!(ok.err, err::OK);
}

#[test]
fn unknown_opcode_answers_unimplemented() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let reply = conn
        .try_request(999, Out::new().string("/"))
        .expect("a reply before any close");
    assert_eq!(reply.err, err::UNIMPLEMENTED);
}

#[tokio::test]
async fn container_options_are_checked_by_the_client_and_server_agree() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let options = CreateMode::Container.with_acls(Acls::anyone_all());
    client.create("/c", b"", &options).await.unwrap();
    assert_eq!(
        client.create("/c", b"", &options).await,
        Err(Error::NodeExists)
    );
}

#[test]
fn remove_and_check_watches_without_a_watch_answer_no_watcher() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    for mode in [1, 2, 3] {
        let remove = conn.request(
            op::REMOVE_WATCHES,
            Out::new().string("/zookeeper").int(mode),
        );
        assert_eq!(remove.err, err::NO_WATCHER, "removeWatches type {mode}");
        let check = conn.request(op::CHECK_WATCHES, Out::new().string("/zookeeper").int(mode));
        assert_eq!(check.err, err::NO_WATCHER, "checkWatches type {mode}");
    }
}
