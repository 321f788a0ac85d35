//! Sequential nodes: the name is the path plus `%010d` of the parent's *stored* cversion at
//! creation (PrepRequestProcessor). Apache stores only the count of child creates and reports
//! `cversion = 2 * creates - numChildren` (DataNode.copyStat), which equals creates + deletes; so
//! every create of any child advances the sequence, deletes do not, yet the cversion a client
//! reads counts both. A compatible server must reproduce both numbers.

mod common;

use common::*;
use zookeeper_client::{Acls, CreateMode};

fn sequential() -> zookeeper_client::CreateOptions<'static> {
    CreateMode::PersistentSequential.with_acls(Acls::anyone_all())
}

#[tokio::test]
async fn names_use_ten_digits_of_the_parent_cversion() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/q", b"", &persistent()).await.unwrap();
    let (_, first) = client.create("/q/item-", b"", &sequential()).await.unwrap();
    let (_, second) = client.create("/q/item-", b"", &sequential()).await.unwrap();
    assert_eq!((first.into_i64(), second.into_i64()), (0, 1));
    let mut children = client.list_children("/q").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["item-0000000000", "item-0000000001"]);
}

#[tokio::test]
async fn plain_creates_advance_the_counter_but_deletes_do_not() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/q", b"", &persistent()).await.unwrap();
    client.create("/q/s-", b"", &sequential()).await.unwrap();
    client.create("/q/plain", b"", &persistent()).await.unwrap();
    let (_, third) = client.create("/q/s-", b"", &sequential()).await.unwrap();
    assert_eq!(third.into_i64(), 2, "the plain create counted");
    client.delete("/q/plain", None).await.unwrap();
    client.delete("/q/s-0000000000", None).await.unwrap();
    let (_, next) = client.create("/q/s-", b"", &sequential()).await.unwrap();
    assert_eq!(next.into_i64(), 3, "the sequence counts creates only");
    let (_, stat) = client.get_children("/q").await.unwrap();
    assert_eq!(
        stat.cversion, 6,
        "the reported cversion counts 4 creates and 2 deletes"
    );
    assert!(client
        .check_stat("/q/s-0000000003")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn counters_are_per_parent() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/a", b"", &persistent()).await.unwrap();
    client.create("/b", b"", &persistent()).await.unwrap();
    client.create("/a/x-", b"", &sequential()).await.unwrap();
    client.create("/a/x-", b"", &sequential()).await.unwrap();
    let (_, in_b) = client.create("/b/x-", b"", &sequential()).await.unwrap();
    assert_eq!(in_b.into_i64(), 0);
}

#[tokio::test]
async fn ephemeral_sequential_nodes_are_numbered_and_owned() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/locks", b"", &persistent()).await.unwrap();
    let options = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (stat, sequence) = client.create("/locks/lock-", b"", &options).await.unwrap();
    assert_eq!(sequence.into_i64(), 0);
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    assert_eq!(
        client.list_ephemerals("/locks").await.unwrap(),
        vec!["/locks/lock-0000000000"]
    );
}

#[tokio::test]
async fn concurrent_sequential_creates_get_distinct_names() {
    let server = TestServer::start_default();
    let first = connect(&server).await;
    let second = connect(&server).await;
    first.create("/race", b"", &persistent()).await.unwrap();
    let mut pending = Vec::new();
    for i in 0..10 {
        let client = if i % 2 == 0 { &first } else { &second };
        pending.push(client.create("/race/n-", b"", &sequential()));
    }
    let mut numbers = Vec::new();
    for create in pending {
        numbers.push(create.await.unwrap().1.into_i64());
    }
    numbers.sort();
    assert_eq!(numbers, (0..10).collect::<Vec<i64>>());
}

#[tokio::test]
async fn sequence_numbers_survive_a_restart() {
    let mut server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/q", b"", &persistent()).await.unwrap();
    client.create("/q/s-", b"", &sequential()).await.unwrap();
    drop(client);
    server.restart();
    let client = connect(&server).await;
    let (_, next) = client.create("/q/s-", b"", &sequential()).await.unwrap();
    assert_eq!(next.into_i64(), 1);
}
