//! Every operation the zookeeper-client crate exposes, on the success path, with the Stat
//! fields each one must report (DataTree: createNode, setData, deleteNode, getChildren).

mod common;

use std::time::Duration;

use common::*;
use zookeeper_client::{Acl, Acls, CreateMode, Error, MultiReadResult, Permission};

#[tokio::test]
async fn create_and_get_data_round_trip() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let (stat, sequence) = client.create("/a", b"hello", &persistent()).await.unwrap();
    assert_eq!(
        sequence.into_i64(),
        -1,
        "a non-sequential create has no sequence number"
    );
    let (data, read_stat) = client.get_data("/a").await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(
        read_stat, stat,
        "create2 must return the same Stat a later read shows"
    );
    assert_eq!(stat.data_length, 5);
    assert_eq!(stat.version, 0);
    assert_eq!(stat.cversion, 0);
    assert_eq!(stat.aversion, 0);
    assert_eq!(stat.num_children, 0);
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(
        stat.czxid, stat.mzxid,
        "a new node was modified by its creation"
    );
    assert_eq!(stat.pzxid, stat.czxid, "a new node's pzxid is its czxid");
    assert!(stat.ctime > 0 && stat.ctime == stat.mtime);
}

#[tokio::test]
async fn create_empty_data_and_large_data() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/empty", b"", &persistent()).await.unwrap();
    let (data, stat) = client.get_data("/empty").await.unwrap();
    assert!(data.is_empty());
    assert_eq!(stat.data_length, 0);
    let big = vec![7u8; 512 * 1024];
    client.create("/big", &big, &persistent()).await.unwrap();
    let (data, stat) = client.get_data("/big").await.unwrap();
    assert_eq!(data, big);
    assert_eq!(stat.data_length, big.len() as i32);
}

#[tokio::test]
async fn zxids_increase_with_each_write() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let (first, _) = client.create("/z1", b"", &persistent()).await.unwrap();
    let (second, _) = client.create("/z2", b"", &persistent()).await.unwrap();
    assert!(second.czxid > first.czxid);
    let set = client.set_data("/z1", b"x", None).await.unwrap();
    assert!(set.mzxid > second.czxid, "setData gets a new zxid");
    assert_eq!(set.czxid, first.czxid, "setData keeps czxid");
    assert_eq!(set.ctime, first.ctime, "setData keeps ctime");
    assert!(set.mtime >= first.mtime);
}

#[tokio::test]
async fn set_data_bumps_version_and_checks_expected_version() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/v", b"0", &persistent()).await.unwrap();
    let stat = client.set_data("/v", b"1", Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    assert_eq!(stat.data_length, 1);
    let stat = client.set_data("/v", b"22", None).await.unwrap();
    assert_eq!(
        stat.version, 2,
        "version -1 matches any version and still bumps it"
    );
    assert_eq!(stat.data_length, 2);
    assert_eq!(
        client.set_data("/v", b"3", Some(1)).await,
        Err(Error::BadVersion)
    );
    let (data, stat) = client.get_data("/v").await.unwrap();
    assert_eq!(data, b"22", "a refused setData changes nothing");
    assert_eq!(stat.version, 2);
}

#[tokio::test]
async fn delete_with_and_without_version() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/d1", b"", &persistent()).await.unwrap();
    client.create("/d2", b"", &persistent()).await.unwrap();
    client.set_data("/d2", b"x", None).await.unwrap();
    client.delete("/d1", None).await.unwrap();
    assert_eq!(client.delete("/d2", Some(0)).await, Err(Error::BadVersion));
    client.delete("/d2", Some(1)).await.unwrap();
    assert_eq!(client.check_stat("/d1").await.unwrap(), None);
    assert_eq!(client.check_stat("/d2").await.unwrap(), None);
}

#[tokio::test]
async fn exists_returns_stat_or_none() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    assert_eq!(client.check_stat("/missing").await.unwrap(), None);
    let (created, _) = client
        .create("/present", b"abc", &persistent())
        .await
        .unwrap();
    let stat = client
        .check_stat("/present")
        .await
        .unwrap()
        .expect("the node exists");
    assert_eq!(stat, created);
    let root = client
        .check_stat("/")
        .await
        .unwrap()
        .expect("the root always exists");
    assert!(
        root.num_children >= 2,
        "the root holds /zookeeper and /present"
    );
}

#[tokio::test]
async fn root_and_zookeeper_nodes_exist_on_a_fresh_server() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let mut children = client.list_children("/").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["zookeeper".to_string()]);
    let mut system = client.list_children("/zookeeper").await.unwrap();
    system.sort();
    assert!(
        system.contains(&"quota".to_string()),
        "/zookeeper/quota exists: {system:?}"
    );
}

#[tokio::test]
async fn get_children_and_get_children2() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let (parent, _) = client.create("/p", b"", &persistent()).await.unwrap();
    let mut last_czxid = 0;
    for name in ["c", "a", "b"] {
        let (stat, _) = client
            .create(&format!("/p/{name}"), b"", &persistent())
            .await
            .unwrap();
        last_czxid = stat.czxid;
    }
    let mut children = client.list_children("/p").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["a", "b", "c"]);
    let (mut children2, stat) = client.get_children("/p").await.unwrap();
    children2.sort();
    assert_eq!(children2, children);
    assert_eq!(stat.num_children, 3);
    assert_eq!(stat.cversion, 3, "cversion counts child creations");
    assert_eq!(
        stat.pzxid, last_czxid,
        "pzxid is the zxid of the last child change"
    );
    assert_eq!(
        stat.version, 0,
        "child changes do not touch the data version"
    );
    assert_eq!(stat.mzxid, parent.mzxid, "child changes do not touch mzxid");
    assert!(client.list_children("/p/a").await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_child_updates_parent_cversion_and_pzxid() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/p", b"", &persistent()).await.unwrap();
    client.create("/p/c", b"", &persistent()).await.unwrap();
    client.delete("/p/c", None).await.unwrap();
    let (_, stat) = client.get_children("/p").await.unwrap();
    assert_eq!(stat.cversion, 2, "a delete counts as a child change");
    assert_eq!(stat.num_children, 0);
    let (marker, _) = client.create("/marker", b"", &persistent()).await.unwrap();
    assert!(
        stat.pzxid < marker.czxid && stat.pzxid > 0,
        "pzxid moved to the delete's zxid"
    );
}

#[tokio::test]
async fn ephemeral_nodes_carry_their_owner() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let (stat, _) = client.create("/e", b"", &ephemeral()).await.unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    let other = connect(&server).await;
    let seen = other
        .check_stat("/e")
        .await
        .unwrap()
        .expect("visible to other sessions");
    assert_eq!(seen.ephemeral_owner, client.session_id().0);
}

#[tokio::test]
async fn get_ephemerals_lists_the_session_own_nodes() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let other = connect(&server).await;
    client.create("/dir", b"", &persistent()).await.unwrap();
    client.create("/dir/e1", b"", &ephemeral()).await.unwrap();
    client.create("/e2", b"", &ephemeral()).await.unwrap();
    other
        .create("/dir/theirs", b"", &ephemeral())
        .await
        .unwrap();
    let mut all = client.list_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, vec!["/dir/e1", "/e2"]);
    let under_dir = client.list_ephemerals("/dir").await.unwrap();
    assert_eq!(under_dir, vec!["/dir/e1"]);
    assert!(client.list_ephemerals("/nothing").await.unwrap().is_empty());
}

#[tokio::test]
async fn get_all_children_number_counts_descendants() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/n", b"", &persistent()).await.unwrap();
    client.create("/n/a", b"", &persistent()).await.unwrap();
    client.create("/n/a/b", b"", &persistent()).await.unwrap();
    client.create("/n/c", b"", &persistent()).await.unwrap();
    assert_eq!(client.count_descendants_number("/n").await.unwrap(), 3);
    assert_eq!(client.count_descendants_number("/n/a/b").await.unwrap(), 0);
    assert_eq!(
        client.count_descendants_number("/missing").await,
        Err(Error::NoNode)
    );
}

#[tokio::test]
async fn container_nodes_report_no_owner() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let options = CreateMode::Container.with_acls(Acls::anyone_all());
    let (stat, _) = client.create("/box", b"c", &options).await.unwrap();
    assert_eq!(
        stat.ephemeral_owner, 0,
        "containers read as ephemeralOwner 0"
    );
    client
        .create("/box/item", b"", &persistent())
        .await
        .unwrap();
    assert_eq!(client.list_children("/box").await.unwrap(), vec!["item"]);
}

#[tokio::test]
async fn ttl_nodes_work_when_extended_types_are_enabled() {
    let server = TestServer::start(ServerOptions {
        extended_types: true,
        ..Default::default()
    });
    let client = connect(&server).await;
    let options = CreateMode::Persistent
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    let (stat, _) = client.create("/ttl", b"t", &options).await.unwrap();
    assert_eq!(
        stat.ephemeral_owner, 0,
        "TTL nodes read as ephemeralOwner 0"
    );
    let sequential = CreateMode::PersistentSequential
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    let (_, sequence) = client.create("/ttl/s-", b"", &sequential).await.unwrap();
    assert_eq!(
        client.list_children("/ttl").await.unwrap(),
        vec![format!("s-{sequence}")]
    );
}

#[tokio::test]
async fn ttl_nodes_are_refused_without_extended_types() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let options = CreateMode::Persistent
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    assert_eq!(
        client.create("/ttl", b"", &options).await,
        Err(Error::Unimplemented)
    );
    assert_eq!(client.check_stat("/ttl").await.unwrap(), None);
}

#[tokio::test]
async fn get_acl_and_set_acl() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/acl", b"", &persistent()).await.unwrap();
    let (acl, stat) = client.get_acl("/acl").await.unwrap();
    assert_eq!(acl, Acls::anyone_all().to_vec());
    assert_eq!(stat.aversion, 0);
    // ADMIN is kept so that the version check, not the permission check, decides the last call.
    let read_only = [Acl::new(
        Permission::READ | Permission::ADMIN,
        zookeeper_client::AuthId::anyone(),
    )];
    let stat = client.set_acl("/acl", &read_only, Some(0)).await.unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(stat.version, 0, "setACL does not touch the data version");
    let (acl, stat) = client.get_acl("/acl").await.unwrap();
    assert_eq!(acl, read_only.to_vec());
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        client.set_acl("/acl", &read_only, Some(0)).await,
        Err(Error::BadVersion)
    );
}

#[tokio::test]
async fn duplicate_acl_entries_are_removed() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let anyone = zookeeper_client::AuthId::anyone();
    let twice = [
        Acl::new(Permission::ALL, anyone.clone()),
        Acl::new(Permission::ALL, anyone),
    ];
    client
        .create(
            "/dup",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&twice)),
        )
        .await
        .unwrap();
    let (acl, _) = client.get_acl("/dup").await.unwrap();
    assert_eq!(acl, Acls::anyone_all().to_vec());
}

#[tokio::test]
async fn sync_succeeds_on_existing_and_missing_paths() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/s", b"", &persistent()).await.unwrap();
    client.sync("/s").await.unwrap();
    client.sync("/").await.unwrap();
}

#[tokio::test]
async fn multi_read_returns_data_children_and_errors() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/r", b"rd", &persistent()).await.unwrap();
    client.create("/r/k", b"", &persistent()).await.unwrap();
    let mut reader = client.new_multi_reader();
    reader.add_get_data("/r").unwrap();
    reader.add_get_children("/r").unwrap();
    reader.add_get_data("/missing").unwrap();
    let results = reader.commit().await.unwrap();
    assert_eq!(results.len(), 3);
    match &results[0] {
        MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"rd");
            assert_eq!(stat.num_children, 1);
        }
        other => panic!("expected data, got {other:?}"),
    }
    match &results[1] {
        MultiReadResult::Children { children } => assert_eq!(children, &vec!["k".to_string()]),
        other => panic!("expected children, got {other:?}"),
    }
    match &results[2] {
        MultiReadResult::Error { err } => assert_eq!(err, &Error::NoNode),
        other => panic!("expected NoNode, got {other:?}"),
    }
}

#[tokio::test]
async fn whoami_lists_ip_identity_and_digest_after_auth() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let users = client.list_auth_users().await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].scheme(), "ip");
    let ip: std::net::IpAddr = users[0]
        .user()
        .parse()
        .expect("the ip identity is an address");
    assert!(
        ip.is_loopback(),
        "the ip identity is the client's own address: {ip}"
    );
    client.auth("digest", b"alice:secret").await.unwrap();
    let users = client.list_auth_users().await.unwrap();
    assert!(
        users
            .iter()
            .any(|user| user.scheme() == "digest" && user.user() == "alice"),
        "{users:?}"
    );
}

#[tokio::test]
async fn session_timeout_is_negotiated_within_bounds() {
    let server = TestServer::start(ServerOptions {
        tick_time_ms: 500,
        min_session_timeout_ms: Some(3000),
        max_session_timeout_ms: Some(8000),
        ..Default::default()
    });
    let middle = connect_with_timeout(&server, Duration::from_millis(5000)).await;
    assert_eq!(middle.session_timeout(), Duration::from_millis(5000));
    // The client crate refuses to connect with a timeout it cannot honour, so the clamping is
    // checked with raw handshakes.
    let (_, short) = RawConn::new_session(&server, 100);
    assert_eq!(short.timeout_ms, 3000);
    let (_, long) = RawConn::new_session(&server, 60_000);
    assert_eq!(long.timeout_ms, 8000);
}

#[test]
fn default_session_timeout_bounds_are_two_and_twenty_ticks() {
    let server = TestServer::start(ServerOptions {
        tick_time_ms: 300,
        ..Default::default()
    });
    let (_, short) = RawConn::new_session(&server, 1);
    assert_eq!(short.timeout_ms, 600, "default minimum is 2 ticks");
    let (_, long) = RawConn::new_session(&server, 600_000);
    assert_eq!(long.timeout_ms, 6000, "default maximum is 20 ticks");
    assert_eq!(long.password.len(), 16, "session passwords are 16 bytes");
    assert_eq!(
        long.read_only,
        Some(false),
        "the readOnly flag is echoed when the client sent it"
    );
    assert_ne!(short.session_id, long.session_id);
}

#[tokio::test]
async fn a_session_reads_its_own_writes_in_order() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client.create("/fifo", b"0", &persistent()).await.unwrap();
    // The futures are created in order, so the requests go out in order; the server must answer
    // them in that order and each read must see every earlier write of the session.
    let writes: Vec<_> = (1..=20)
        .map(|i| client.set_data("/fifo", format!("{i}").as_bytes().to_vec().as_slice(), None))
        .collect();
    let read = client.get_data("/fifo");
    for (i, write) in writes.into_iter().enumerate() {
        let stat = write.await.unwrap();
        assert_eq!(stat.version, i as i32 + 1, "writes apply in the order sent");
    }
    let (data, stat) = read.await.unwrap();
    assert_eq!(data, b"20");
    assert_eq!(stat.version, 20);
}

#[tokio::test]
async fn closing_a_session_removes_its_ephemerals() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let observer = connect(&server).await;
    client.create("/gone", b"", &ephemeral()).await.unwrap();
    let (_, watcher) = observer.check_and_watch_stat("/gone").await.unwrap();
    // Dropping the last handle of a non-detached client sends CloseSession.
    drop(client);
    let event = within("NodeDeleted after close", watcher.changed()).await;
    assert_eq!(event.event_type, zookeeper_client::EventType::NodeDeleted);
    assert_eq!(
        observer.check_stat("/gone").await.unwrap(),
        None,
        "close deletes ephemerals at once"
    );
}
