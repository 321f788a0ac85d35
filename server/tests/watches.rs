//! Watches: one-shot data, exist and child watches with their exact event types (Watcher.Event
//! and DataTree's triggers), persistent and persistent-recursive watches (addWatch), removal,
//! and the ordering guarantee "a client sees the event before any reply showing the change".

mod common;

use common::jute::{err, event, op, Out};
use common::*;
use zookeeper_client::{AddWatchMode, EventType, SessionState};

#[tokio::test]
async fn data_watch_fires_node_data_changed_once() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/w", b"0", &persistent()).await.unwrap();
    let (_, _, watch) = watcher.get_and_watch_data("/w").await.unwrap();
    writer.set_data("/w", b"1", None).await.unwrap();
    let fired = within("NodeDataChanged", watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeDataChanged);
    assert_eq!(fired.path, "/w");
    assert_eq!(fired.session_state, SessionState::SyncConnected);
}

#[tokio::test]
async fn data_watch_fires_node_deleted() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/w", b"", &persistent()).await.unwrap();
    let (_, _, watch) = watcher.get_and_watch_data("/w").await.unwrap();
    writer.delete("/w", None).await.unwrap();
    assert_eq!(
        within("NodeDeleted", watch.changed()).await.event_type,
        EventType::NodeDeleted
    );
}

#[tokio::test]
async fn exists_watch_on_a_missing_node_fires_node_created() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    let (stat, watch) = watcher.check_and_watch_stat("/later").await.unwrap();
    assert_eq!(stat, None);
    writer.create("/later", b"", &persistent()).await.unwrap();
    let fired = within("NodeCreated", watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeCreated);
    assert_eq!(fired.path, "/later");
}

#[tokio::test]
async fn exists_watch_on_an_existing_node_fires_data_changed() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/x", b"", &persistent()).await.unwrap();
    let (stat, watch) = watcher.check_and_watch_stat("/x").await.unwrap();
    assert!(stat.is_some());
    writer.set_data("/x", b"new", None).await.unwrap();
    assert_eq!(
        within("NodeDataChanged", watch.changed()).await.event_type,
        EventType::NodeDataChanged
    );
}

#[tokio::test]
async fn child_watch_fires_on_child_create_and_delete() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/p", b"", &persistent()).await.unwrap();
    let (_, watch) = watcher.list_and_watch_children("/p").await.unwrap();
    writer.create("/p/c", b"", &persistent()).await.unwrap();
    let fired = within("NodeChildrenChanged on create", watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeChildrenChanged);
    assert_eq!(fired.path, "/p");
    let (_, _, watch) = watcher.get_and_watch_children("/p").await.unwrap();
    writer.delete("/p/c", None).await.unwrap();
    let fired = within("NodeChildrenChanged on delete", watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeChildrenChanged);
}

#[tokio::test]
async fn child_watch_fires_node_deleted_when_the_parent_goes() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/p", b"", &persistent()).await.unwrap();
    let (_, watch) = watcher.list_and_watch_children("/p").await.unwrap();
    writer.delete("/p", None).await.unwrap();
    assert_eq!(
        within("NodeDeleted", watch.changed()).await.event_type,
        EventType::NodeDeleted
    );
}

#[tokio::test]
async fn data_changes_do_not_fire_child_watches_and_children_do_not_fire_data_watches() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/p", b"", &persistent()).await.unwrap();
    let (_, child_watch) = watcher.list_and_watch_children("/p").await.unwrap();
    let (_, _, data_watch) = watcher.get_and_watch_data("/p").await.unwrap();
    writer.set_data("/p", b"x", None).await.unwrap();
    let fired = within("NodeDataChanged", data_watch.changed()).await;
    assert_eq!(fired.event_type, EventType::NodeDataChanged);
    let (_, _, data_watch) = watcher.get_and_watch_data("/p").await.unwrap();
    writer.create("/p/c", b"", &persistent()).await.unwrap();
    let fired = within("NodeChildrenChanged", child_watch.changed()).await;
    assert_eq!(
        fired.event_type,
        EventType::NodeChildrenChanged,
        "the set did not consume the child watch"
    );
    assert!(
        stays_pending(data_watch.changed()).await,
        "a child create must not fire the parent's data watch"
    );
}

#[tokio::test]
async fn one_watch_per_session_fires_for_every_session_watching() {
    let server = TestServer::start_default();
    let first = connect(&server).await;
    let second = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/shared", b"", &persistent()).await.unwrap();
    let (_, _, watch_a) = first.get_and_watch_data("/shared").await.unwrap();
    let (_, _, watch_b) = second.get_and_watch_data("/shared").await.unwrap();
    writer.set_data("/shared", b"x", None).await.unwrap();
    assert_eq!(
        within("first", watch_a.changed()).await.event_type,
        EventType::NodeDataChanged
    );
    assert_eq!(
        within("second", watch_b.changed()).await.event_type,
        EventType::NodeDataChanged
    );
}

#[test]
fn standard_watches_are_one_shot() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    let create = writer.request(
        op::CREATE,
        Out::new().string("/once").buffer(b"").open_acl().int(0),
    );
    assert_eq!(create.err, err::OK);
    let get = watcher.request(op::GET_DATA, Out::new().string("/once").boolean(true));
    assert_eq!(get.err, err::OK);
    for value in [b"1", b"2"] {
        let set = writer.request(
            op::SET_DATA,
            Out::new().string("/once").buffer(value).int(-1),
        );
        assert_eq!(set.err, err::OK);
    }
    let fired = watcher
        .next_event()
        .expect("the first change fires the watch");
    assert_eq!(
        (fired.event_type, fired.state, fired.path.as_str()),
        (event::NODE_DATA_CHANGED, 3, "/once")
    );
    assert_eq!(
        watcher.next_event(),
        None,
        "the second change finds no watch left"
    );
}

#[test]
fn event_arrives_before_the_reply_that_shows_the_change() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    writer.request(
        op::CREATE,
        Out::new().string("/order").buffer(b"old").open_acl().int(0),
    );
    let get = watcher.request(op::GET_DATA, Out::new().string("/order").boolean(true));
    assert_eq!(get.reader().buffer().unwrap_or_default(), b"old");
    let set = writer.request(
        op::SET_DATA,
        Out::new().string("/order").buffer(b"new").int(-1),
    );
    assert_eq!(set.err, err::OK);
    let replies_before = 1;
    let read = watcher.request(op::GET_DATA, Out::new().string("/order").boolean(false));
    assert_eq!(read.reader().buffer().unwrap_or_default(), b"new");
    assert_eq!(
        watcher.events.len(),
        1,
        "the event was delivered by the time the new value was read"
    );
    assert_eq!(
        watcher.event_positions,
        vec![replies_before],
        "the notification came after the first read's reply and before the second's"
    );
}

#[test]
fn exists_on_a_missing_node_answers_no_node_but_sets_the_watch() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    let exists = watcher.request(op::EXISTS, Out::new().string("/soon").boolean(true));
    assert_eq!(exists.err, err::NO_NODE);
    writer.request(
        op::CREATE,
        Out::new().string("/soon").buffer(b"").open_acl().int(0),
    );
    let fired = watcher.next_event().expect("NodeCreated");
    assert_eq!(
        (fired.event_type, fired.path.as_str()),
        (event::NODE_CREATED, "/soon")
    );
}

#[test]
fn get_data_on_a_missing_node_sets_no_watch() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    let get = watcher.request(op::GET_DATA, Out::new().string("/none").boolean(true));
    assert_eq!(get.err, err::NO_NODE);
    writer.request(
        op::CREATE,
        Out::new().string("/none").buffer(b"").open_acl().int(0),
    );
    assert_eq!(watcher.next_event(), None);
}

#[test]
fn remove_watches_stops_delivery() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    writer.request(
        op::CREATE,
        Out::new().string("/rw").buffer(b"").open_acl().int(0),
    );
    watcher.request(op::GET_DATA, Out::new().string("/rw").boolean(true));
    watcher.request(op::GET_CHILDREN, Out::new().string("/rw").boolean(true));
    let check = watcher.request(op::CHECK_WATCHES, Out::new().string("/rw").int(2));
    assert_eq!(check.err, err::OK, "checkWatches finds the data watch");
    // Type 2 removes data watches only; the child watch must still fire.
    let remove = watcher.request(op::REMOVE_WATCHES, Out::new().string("/rw").int(2));
    assert_eq!(remove.err, err::OK);
    let again = watcher.request(op::REMOVE_WATCHES, Out::new().string("/rw").int(2));
    assert_eq!(again.err, err::NO_WATCHER);
    writer.request(op::SET_DATA, Out::new().string("/rw").buffer(b"x").int(-1));
    writer.request(
        op::CREATE,
        Out::new().string("/rw/c").buffer(b"").open_acl().int(0),
    );
    let fired = watcher.next_event().expect("the child watch survived");
    assert_eq!(fired.event_type, event::NODE_CHILDREN_CHANGED);
    assert_eq!(
        watcher.next_event(),
        None,
        "the removed data watch did not fire"
    );
}

#[tokio::test]
async fn persistent_watch_fires_repeatedly_for_the_node_and_its_children_list() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    let mut watch = watcher
        .watch("/pw", AddWatchMode::Persistent)
        .await
        .unwrap();
    writer.create("/pw", b"", &persistent()).await.unwrap();
    writer.set_data("/pw", b"1", None).await.unwrap();
    writer.set_data("/pw", b"2", None).await.unwrap();
    writer
        .create("/pw/child", b"", &persistent())
        .await
        .unwrap();
    writer
        .create("/pw/child/grandchild", b"", &persistent())
        .await
        .unwrap();
    writer.delete("/pw/child/grandchild", None).await.unwrap();
    writer.delete("/pw/child", None).await.unwrap();
    writer.delete("/pw", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let fired = within("persistent event", watch.changed()).await;
        seen.push((fired.event_type, fired.path));
    }
    let expected = vec![
        (EventType::NodeCreated, "/pw".to_string()),
        (EventType::NodeDataChanged, "/pw".to_string()),
        (EventType::NodeDataChanged, "/pw".to_string()),
        (EventType::NodeChildrenChanged, "/pw".to_string()),
        (EventType::NodeChildrenChanged, "/pw".to_string()),
        (EventType::NodeDeleted, "/pw".to_string()),
    ];
    assert_eq!(
        seen, expected,
        "grandchildren do not concern a non-recursive persistent watch"
    );
    assert!(stays_pending(watch.changed()).await);
}

#[tokio::test]
async fn persistent_recursive_watch_covers_descendants_without_child_events() {
    let server = TestServer::start_default();
    let watcher = connect(&server).await;
    let writer = connect(&server).await;
    writer.create("/tree", b"", &persistent()).await.unwrap();
    let mut watch = watcher
        .watch("/tree", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer.create("/tree/a", b"", &persistent()).await.unwrap();
    writer
        .create("/tree/a/b", b"", &persistent())
        .await
        .unwrap();
    writer.set_data("/tree/a/b", b"x", None).await.unwrap();
    writer.delete("/tree/a/b", None).await.unwrap();
    writer.set_data("/tree", b"root", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let fired = within("recursive event", watch.changed()).await;
        seen.push((fired.event_type, fired.path));
    }
    let expected = vec![
        (EventType::NodeCreated, "/tree/a".to_string()),
        (EventType::NodeCreated, "/tree/a/b".to_string()),
        (EventType::NodeDataChanged, "/tree/a/b".to_string()),
        (EventType::NodeDeleted, "/tree/a/b".to_string()),
        (EventType::NodeDataChanged, "/tree".to_string()),
    ];
    assert_eq!(
        seen, expected,
        "no NodeChildrenChanged for a recursive watch"
    );
    assert!(stays_pending(watch.changed()).await);
}

#[test]
fn add_watch_on_the_wire_needs_no_existing_node() {
    let server = TestServer::start_default();
    let (mut watcher, _) = RawConn::new_session(&server, 6000);
    let (mut writer, _) = RawConn::new_session(&server, 6000);
    let add = watcher.request(op::ADD_WATCH, Out::new().string("/future").int(1));
    assert_eq!(add.err, err::OK);
    // Apache answers addWatch with an ErrorResponse carrying 0 (FinalRequestProcessor).
    assert_eq!(
        add.body,
        0i32.to_be_bytes().to_vec(),
        "addWatch answers with ErrorResponse(0)"
    );
    writer.request(
        op::CREATE,
        Out::new().string("/future").buffer(b"").open_acl().int(0),
    );
    writer.request(
        op::CREATE,
        Out::new()
            .string("/future/kid")
            .buffer(b"")
            .open_acl()
            .int(0),
    );
    let first = watcher.next_event().expect("NodeCreated /future");
    assert_eq!(
        (first.event_type, first.path.as_str()),
        (event::NODE_CREATED, "/future")
    );
    let second = watcher.next_event().expect("NodeCreated /future/kid");
    assert_eq!(
        (second.event_type, second.path.as_str()),
        (event::NODE_CREATED, "/future/kid")
    );
    let remove = watcher.request(op::REMOVE_WATCHES, Out::new().string("/future").int(3));
    assert_eq!(
        remove.err,
        err::OK,
        "removeWatches of any type removes a persistent watch"
    );
    writer.request(
        op::SET_DATA,
        Out::new().string("/future").buffer(b"x").int(-1),
    );
    assert_eq!(watcher.next_event(), None);
}
