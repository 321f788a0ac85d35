//! multi (transactions) and check: all-or-nothing application and ZooKeeper's result layout
//! for a failed transaction (PrepRequestProcessor: the failing op carries its code, earlier ops
//! report 0, later ones RuntimeInconsistency).

mod common;

use common::jute::{err, op, Out};
use common::*;
use zookeeper_client::{CheckWriteError, Error, MultiWriteError, MultiWriteResult};

#[tokio::test]
async fn multi_applies_create_set_check_delete_together() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/old", b"", &persistent()).await.unwrap();
    client.create("/kept", b"0", &persistent()).await.unwrap();
    let mut writer = client.new_multi_writer();
    writer.add_create("/new", b"n", &persistent()).unwrap();
    writer.add_set_data("/kept", b"1", Some(0)).unwrap();
    writer.add_check_version("/kept", 1).unwrap();
    writer.add_delete("/old", Some(0)).unwrap();
    let results = writer.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    let MultiWriteResult::Create { path, .. } = &results[0] else {
        panic!("{:?}", results[0])
    };
    assert_eq!(path, "/new");
    let MultiWriteResult::SetData { stat: set } = &results[1] else {
        panic!("{:?}", results[1])
    };
    assert_eq!(set.version, 1);
    assert_eq!(results[2], MultiWriteResult::Check);
    assert_eq!(results[3], MultiWriteResult::Delete);
    let (data, created) = client.get_data("/new").await.unwrap();
    assert_eq!(data, b"n");
    assert_eq!(
        created.czxid, set.mzxid,
        "every op of a multi shares one zxid"
    );
    assert_eq!(client.check_stat("/old").await.unwrap(), None);
}

#[tokio::test]
async fn failed_multi_changes_nothing() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/stay", b"0", &persistent()).await.unwrap();
    let before = client.check_stat("/stay").await.unwrap().unwrap();
    let mut writer = client.new_multi_writer();
    writer.add_create("/would-be", b"", &persistent()).unwrap();
    writer.add_set_data("/stay", b"changed", None).unwrap();
    writer.add_delete("/missing", None).unwrap();
    writer.add_create("/later", b"", &persistent()).unwrap();
    let error = writer.commit().await.unwrap_err();
    assert_eq!(
        error,
        MultiWriteError::OperationFailed {
            index: 2,
            source: Error::NoNode
        }
    );
    assert_eq!(client.check_stat("/would-be").await.unwrap(), None);
    assert_eq!(client.check_stat("/later").await.unwrap(), None);
    let after = client.check_stat("/stay").await.unwrap().unwrap();
    assert_eq!(
        after, before,
        "the setData inside the failed multi was rolled back"
    );
}

#[tokio::test]
async fn multi_ops_see_earlier_ops_of_the_same_multi() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let mut writer = client.new_multi_writer();
    writer.add_create("/m", b"", &persistent()).unwrap();
    writer.add_create("/m/child", b"", &persistent()).unwrap();
    writer.add_set_data("/m/child", b"x", Some(0)).unwrap();
    writer.add_check_version("/m/child", 1).unwrap();
    writer.add_delete("/m/child", Some(1)).unwrap();
    let results = writer.commit().await.unwrap();
    assert_eq!(results.len(), 5);
    let (_, stat) = client.get_children("/m").await.unwrap();
    assert_eq!(stat.cversion, 2);
    assert_eq!(stat.num_children, 0);
}

#[tokio::test]
async fn check_writer_reports_a_failed_check() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/guard", b"", &persistent()).await.unwrap();
    let mut writer = client.new_check_writer("/guard", Some(3)).unwrap();
    writer.add_create("/guarded", b"", &persistent()).unwrap();
    let error = writer.commit().await.unwrap_err();
    assert_eq!(
        error,
        CheckWriteError::CheckFailed {
            source: Error::BadVersion
        }
    );
    assert_eq!(client.check_stat("/guarded").await.unwrap(), None);
    let mut writer = client.new_check_writer("/guard", Some(0)).unwrap();
    writer.add_create("/guarded", b"", &persistent()).unwrap();
    writer.commit().await.unwrap();
    assert!(client.check_stat("/guarded").await.unwrap().is_some());
}

#[tokio::test]
async fn check_on_a_missing_node_fails_with_no_node() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let mut writer = client.new_multi_writer();
    writer.add_check_version("/absent", -1).unwrap();
    let error = writer.commit().await.unwrap_err();
    assert_eq!(
        error,
        MultiWriteError::OperationFailed {
            index: 0,
            source: Error::NoNode
        }
    );
}

/// Reads the `(type, done, err)` headers and error bodies of a multi reply.
fn multi_results(reply: &common::raw::Reply) -> Vec<(i32, bool, i32)> {
    let mut reader = reply.reader();
    let mut results = Vec::new();
    loop {
        let kind = reader.int();
        let done = reader.boolean();
        let code = reader.int();
        if done {
            assert_eq!((kind, code), (-1, -1), "the list ends with (-1, true, -1)");
            return results;
        }
        assert_eq!(
            kind,
            op::ERROR,
            "a failed multi reports every op as an error result"
        );
        let body_code = reader.int();
        assert_eq!(
            body_code, code,
            "the ErrorResult body repeats the header's code"
        );
        results.push((kind, done, code));
    }
}

#[test]
fn failed_multi_wire_layout() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let body = Out::new()
        .int(op::CREATE)
        .boolean(false)
        .int(-1)
        .string("/m1")
        .buffer(b"")
        .open_acl()
        .int(0)
        .int(op::SET_DATA)
        .boolean(false)
        .int(-1)
        .string("/nope")
        .buffer(b"")
        .int(-1)
        .int(op::DELETE)
        .boolean(false)
        .int(-1)
        .string("/zookeeper")
        .int(-1)
        .int(-1)
        .boolean(true)
        .int(-1);
    let reply = conn.request(op::MULTI, body);
    assert_eq!(
        reply.err,
        err::OK,
        "a failed multi keeps ReplyHeader err = 0"
    );
    let codes: Vec<i32> = multi_results(&reply)
        .into_iter()
        .map(|(_, _, code)| code)
        .collect();
    assert_eq!(
        codes,
        vec![err::OK, err::NO_NODE, err::RUNTIME_INCONSISTENCY]
    );
    let exists = conn.request(op::EXISTS, Out::new().string("/m1").boolean(false));
    assert_eq!(exists.err, err::NO_NODE);
}

#[test]
fn empty_multi_answers_only_the_end_marker() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let reply = conn.request(op::MULTI, Out::new().int(-1).boolean(true).int(-1));
    assert_eq!(reply.err, err::OK);
    assert!(multi_results(&reply).is_empty());
    assert_eq!(reply.body.len(), 9);
}

#[test]
fn multi_read_reports_errors_per_op() {
    let server = TestServer::start_default();
    let (mut conn, _) = RawConn::new_session(&server, 6000);
    let body = Out::new()
        .int(op::GET_DATA)
        .boolean(false)
        .int(-1)
        .string("/missing")
        .boolean(false)
        .int(op::GET_CHILDREN)
        .boolean(false)
        .int(-1)
        .string("/")
        .boolean(false)
        .int(-1)
        .boolean(true)
        .int(-1);
    let reply = conn.request(op::MULTI_READ, body);
    assert_eq!(reply.err, err::OK);
    let mut reader = reply.reader();
    assert_eq!(
        (reader.int(), reader.boolean(), reader.int()),
        (op::ERROR, false, err::NO_NODE)
    );
    assert_eq!(reader.int(), err::NO_NODE);
    assert_eq!(
        (reader.int(), reader.boolean(), reader.int()),
        (op::GET_CHILDREN, false, 0)
    );
    assert_eq!(reader.strings(), vec!["zookeeper".to_string()]);
    assert_eq!(
        (reader.int(), reader.boolean(), reader.int()),
        (-1, true, -1)
    );
}
