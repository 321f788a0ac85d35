//! Hand-built scenarios for each rule of Apache's watch semantics, then a seeded random
//! comparison against a direct model of Apache's two tables (DataTree's dataWatches and
//! childWatches, each a WatchManager with WatcherMode sets).

use super::*;
use EventType::{
    ChildWatchRemoved, DataWatchRemoved, NodeChildrenChanged, NodeCreated, NodeDataChanged,
    NodeDeleted, PersistentWatchRemoved,
};

type Wm = WatchManager<u32>;

fn checked(wm: &Wm) {
    if let Err(e) = wm.check_invariants() {
        panic!("invariant broken: {e}");
    }
}

fn fire(wm: &mut Wm, path: &str, event: EventType) -> Vec<(u32, EventType)> {
    let out = wm.trigger(path, event);
    checked(wm);
    for (_, e, p) in &out {
        assert_eq!(*e, event);
        assert_eq!(p, path);
    }
    out.into_iter().map(|(w, e, _)| (w, e)).collect()
}

fn add(wm: &mut Wm, path: &str, kind: WatchKind, w: u32) {
    wm.add(path, kind, w).expect("under the limit");
    checked(wm);
}

#[test]
fn data_watch_fires_once_on_set_data() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    assert_eq!(
        fire(&mut wm, "/a", NodeDataChanged),
        vec![(1, NodeDataChanged)]
    );
    assert!(
        fire(&mut wm, "/a", NodeDataChanged).is_empty(),
        "one-shot watches are consumed"
    );
    assert_eq!(wm.summary(), WatchSummary::default());
}

#[test]
fn data_watch_ignores_children_changes_and_other_paths() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    assert!(fire(&mut wm, "/a", NodeChildrenChanged).is_empty());
    assert!(fire(&mut wm, "/a/b", NodeCreated).is_empty());
    assert!(fire(&mut wm, "/", NodeDataChanged).is_empty());
    assert_eq!(fire(&mut wm, "/a", NodeDeleted), vec![(1, NodeDeleted)]);
}

#[test]
fn exist_watch_is_a_data_watch_fired_by_creation() {
    let mut wm = Wm::default();
    add(&mut wm, "/missing", WatchKind::Exist, 7);
    assert!(
        wm.contains("/missing", WatcherType::Data, 7),
        "Apache stores it as a data watch"
    );
    assert!(fire(&mut wm, "/missing", NodeChildrenChanged).is_empty());
    assert_eq!(
        fire(&mut wm, "/missing", NodeCreated),
        vec![(7, NodeCreated)]
    );
    assert!(!wm.contains("/missing", WatcherType::Any, 7));
}

#[test]
fn child_watch_fires_on_children_change_and_on_delete_only() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Child, 1);
    assert!(fire(&mut wm, "/a", NodeDataChanged).is_empty());
    assert!(fire(&mut wm, "/a", NodeCreated).is_empty());
    assert_eq!(
        fire(&mut wm, "/a", NodeChildrenChanged),
        vec![(1, NodeChildrenChanged)]
    );
    assert!(fire(&mut wm, "/a", NodeChildrenChanged).is_empty());

    add(&mut wm, "/a", WatchKind::Child, 1);
    assert_eq!(fire(&mut wm, "/a", NodeDeleted), vec![(1, NodeDeleted)]);
    assert_eq!(wm.summary().watches, 0);
}

#[test]
fn data_and_child_watch_on_deleted_node_give_one_event_and_both_go() {
    // DataTree.deleteNode passes the data table's fired set as `suppress` to the child table.
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    add(&mut wm, "/a", WatchKind::Child, 1);
    add(&mut wm, "/a", WatchKind::Child, 2);
    assert_eq!(
        fire(&mut wm, "/a", NodeDeleted),
        vec![(1, NodeDeleted), (2, NodeDeleted)]
    );
    assert!(!wm.contains("/a", WatcherType::Any, 1));
    assert!(!wm.contains("/a", WatcherType::Any, 2));
    assert_eq!(wm.summary(), WatchSummary::default());
}

#[test]
fn one_event_per_watcher_even_with_several_kinds() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    add(&mut wm, "/a", WatchKind::Persistent, 1);
    add(&mut wm, "/a", WatchKind::PersistentRecursive, 1);
    add(&mut wm, "/", WatchKind::PersistentRecursive, 1);
    assert_eq!(
        fire(&mut wm, "/a", NodeDataChanged),
        vec![(1, NodeDataChanged)]
    );
    // The one-shot data watch went, the persistent ones stayed.
    assert!(!wm.contains("/a", WatcherType::Data, 1));
    assert!(wm.contains("/a", WatcherType::Persistent, 1));
    assert!(wm.contains("/a", WatcherType::PersistentRecursive, 1));
}

#[test]
fn persistent_watch_sees_every_event_on_its_path_and_stays() {
    let mut wm = Wm::default();
    add(&mut wm, "/p", WatchKind::Persistent, 3);
    for event in [
        NodeCreated,
        NodeDataChanged,
        NodeChildrenChanged,
        NodeDeleted,
        NodeCreated,
    ] {
        assert_eq!(fire(&mut wm, "/p", event), vec![(3, event)], "{event:?}");
    }
    assert!(
        fire(&mut wm, "/p/child", NodeCreated).is_empty(),
        "not recursive"
    );
    assert!(fire(&mut wm, "/", NodeChildrenChanged).is_empty());
    assert!(wm.contains("/p", WatcherType::Persistent, 3));
}

#[test]
fn recursive_watch_sees_path_and_descendants_but_never_children_changed() {
    let mut wm = Wm::default();
    add(&mut wm, "/r", WatchKind::PersistentRecursive, 4);
    assert_eq!(fire(&mut wm, "/r", NodeCreated), vec![(4, NodeCreated)]);
    assert_eq!(fire(&mut wm, "/r/a", NodeCreated), vec![(4, NodeCreated)]);
    assert_eq!(
        fire(&mut wm, "/r/a/b/c", NodeDataChanged),
        vec![(4, NodeDataChanged)]
    );
    assert_eq!(fire(&mut wm, "/r/a", NodeDeleted), vec![(4, NodeDeleted)]);
    assert!(fire(&mut wm, "/r", NodeChildrenChanged).is_empty());
    assert!(fire(&mut wm, "/r/a", NodeChildrenChanged).is_empty());
    // A sibling whose name merely starts with the same letters is not a descendant.
    assert!(fire(&mut wm, "/rr", NodeCreated).is_empty());
    assert!(fire(&mut wm, "/", NodeDataChanged).is_empty());
    assert_eq!(fire(&mut wm, "/r", NodeDeleted), vec![(4, NodeDeleted)]);
    assert!(
        wm.contains("/r", WatcherType::PersistentRecursive, 4),
        "survives deletion"
    );
}

#[test]
fn recursive_on_root_and_nested_ancestors_fire_once() {
    let mut wm = Wm::default();
    add(&mut wm, "/", WatchKind::PersistentRecursive, 1);
    add(&mut wm, "/a", WatchKind::PersistentRecursive, 1);
    add(&mut wm, "/a", WatchKind::PersistentRecursive, 2);
    add(&mut wm, "/a/b", WatchKind::Child, 3);
    assert_eq!(
        fire(&mut wm, "/a/b/c", NodeCreated),
        vec![(1, NodeCreated), (2, NodeCreated)]
    );
    assert_eq!(
        fire(&mut wm, "/", NodeDataChanged),
        vec![(1, NodeDataChanged)]
    );
}

#[test]
fn tree_triggers_of_a_create_reach_the_right_watchers() {
    // The tree reports a create of /a/b as (/a/b, NodeCreated) then (/a, NodeChildrenChanged).
    let mut wm = Wm::default();
    add(&mut wm, "/a/b", WatchKind::Exist, 1);
    add(&mut wm, "/a", WatchKind::Child, 2);
    add(&mut wm, "/a", WatchKind::Persistent, 3);
    add(&mut wm, "/a", WatchKind::PersistentRecursive, 4);
    add(&mut wm, "/a", WatchKind::Data, 5);
    assert_eq!(
        fire(&mut wm, "/a/b", NodeCreated),
        vec![(1, NodeCreated), (4, NodeCreated)]
    );
    assert_eq!(
        fire(&mut wm, "/a", NodeChildrenChanged),
        vec![(2, NodeChildrenChanged), (3, NodeChildrenChanged)]
    );
    assert!(
        wm.contains("/a", WatcherType::Data, 5),
        "untouched by a child's creation"
    );
}

#[test]
fn events_that_the_tree_never_emits_fire_nothing() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    add(&mut wm, "/a", WatchKind::Persistent, 1);
    for event in [
        EventType::None,
        DataWatchRemoved,
        ChildWatchRemoved,
        PersistentWatchRemoved,
    ] {
        assert!(fire(&mut wm, "/a", event).is_empty());
    }
    assert!(wm.contains("/a", WatcherType::Data, 1));
}

#[test]
fn add_reports_whether_anything_changed() {
    let mut wm = Wm::default();
    assert_eq!(wm.add("/a", WatchKind::Data, 1), Ok(true));
    assert_eq!(
        wm.add("/a", WatchKind::Exist, 1),
        Ok(false),
        "exist and data share a slot"
    );
    assert_eq!(wm.add("/a", WatchKind::Child, 1), Ok(true));
    assert_eq!(wm.add("/a", WatchKind::Child, 1), Ok(false));
    assert_eq!(
        wm.summary(),
        WatchSummary {
            watchers: 1,
            paths: 1,
            watches: 1
        }
    );
}

#[test]
fn remove_by_type_follows_data_tree_remove_watch() {
    let mut wm = Wm::default();
    for kind in [WatchKind::Data, WatchKind::Child, WatchKind::Persistent] {
        add(&mut wm, "/a", kind, 1);
    }
    // Children: the one-shot child watch only; the persistent one stays.
    let r = wm.remove("/a", WatcherType::Children, 1);
    assert_eq!(
        r,
        Removed {
            child: true,
            ..Removed::default()
        }
    );
    assert_eq!(r.client_events(), vec![ChildWatchRemoved]);
    assert!(
        wm.remove("/a", WatcherType::Children, 1).is_empty(),
        "NoWatcher the second time"
    );
    // Data: the one-shot data watch only.
    let r = wm.remove("/a", WatcherType::Data, 1);
    assert_eq!(
        r,
        Removed {
            data: true,
            ..Removed::default()
        }
    );
    assert_eq!(r.client_events(), vec![DataWatchRemoved]);
    assert!(wm.contains("/a", WatcherType::Persistent, 1));
    assert!(wm
        .remove("/a", WatcherType::PersistentRecursive, 1)
        .is_empty());
    let r = wm.remove("/a", WatcherType::Persistent, 1);
    assert_eq!(
        r,
        Removed {
            persistent: true,
            ..Removed::default()
        }
    );
    assert_eq!(r.client_events(), vec![PersistentWatchRemoved]);
    assert_eq!(wm.summary(), WatchSummary::default());
    checked(&wm);
}

#[test]
fn remove_any_takes_every_mode_including_persistent_ones() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    add(&mut wm, "/a", WatchKind::PersistentRecursive, 1);
    add(&mut wm, "/a", WatchKind::Data, 2);
    assert!(wm.contains("/a", WatcherType::Any, 1));
    let r = wm.remove("/a", WatcherType::Any, 1);
    assert_eq!(
        r,
        Removed {
            data: true,
            persistent_recursive: true,
            ..Removed::default()
        }
    );
    assert_eq!(
        r.client_events(),
        vec![DataWatchRemoved, PersistentWatchRemoved]
    );
    checked(&wm);
    assert!(!wm.contains("/a", WatcherType::Any, 1));
    assert!(wm.remove("/a", WatcherType::Any, 1).is_empty());
    // The recursive index forgot watcher 1: a descendant's change reaches nobody.
    assert!(fire(&mut wm, "/a/b", NodeCreated).is_empty());
    assert_eq!(
        fire(&mut wm, "/a", NodeDataChanged),
        vec![(2, NodeDataChanged)]
    );
}

#[test]
fn contains_follows_data_tree_contains_watcher() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Persistent, 1);
    assert!(!wm.contains("/a", WatcherType::Children, 1));
    assert!(!wm.contains("/a", WatcherType::Data, 1));
    assert!(wm.contains("/a", WatcherType::Persistent, 1));
    assert!(!wm.contains("/a", WatcherType::PersistentRecursive, 1));
    assert!(wm.contains("/a", WatcherType::Any, 1));
    assert!(!wm.contains("/a", WatcherType::Any, 2));
    assert!(!wm.contains("/b", WatcherType::Any, 1));
}

#[test]
fn wire_values_of_watcher_type_and_add_watch_mode() {
    for (code, t) in [
        (1, WatcherType::Children),
        (2, WatcherType::Data),
        (3, WatcherType::Any),
        (4, WatcherType::Persistent),
        (5, WatcherType::PersistentRecursive),
    ] {
        assert_eq!(WatcherType::from_code(code), Some(t));
        assert_eq!(t.code(), code);
    }
    for bad in [0, 6, -1, i32::MAX] {
        assert_eq!(WatcherType::from_code(bad), None);
    }
    assert_eq!(
        WatchKind::from_add_watch_mode(0),
        Some(WatchKind::Persistent)
    );
    assert_eq!(
        WatchKind::from_add_watch_mode(1),
        Some(WatchKind::PersistentRecursive)
    );
    assert_eq!(WatchKind::from_add_watch_mode(2), None);
}

#[test]
fn closing_a_connection_drops_all_its_watches_and_nothing_else() {
    let mut wm = Wm::default();
    add(&mut wm, "/a", WatchKind::Data, 1);
    add(&mut wm, "/a", WatchKind::Child, 1);
    add(&mut wm, "/b", WatchKind::PersistentRecursive, 1);
    add(&mut wm, "/a", WatchKind::Data, 2);
    assert_eq!(wm.remove_watcher(1), 2);
    checked(&wm);
    assert_eq!(wm.remove_watcher(1), 0);
    assert_eq!(
        wm.summary(),
        WatchSummary {
            watchers: 1,
            paths: 1,
            watches: 1
        }
    );
    assert!(fire(&mut wm, "/b/c", NodeCreated).is_empty());
    assert_eq!(fire(&mut wm, "/a", NodeDeleted), vec![(2, NodeDeleted)]);
}

#[test]
fn dumps_are_sorted_and_counts_match_apache() {
    let mut wm = Wm::default();
    add(&mut wm, "/z", WatchKind::Data, 9);
    add(&mut wm, "/b", WatchKind::Child, 9);
    add(&mut wm, "/b", WatchKind::Data, 3);
    add(&mut wm, "/a", WatchKind::Persistent, 5);
    add(&mut wm, "/b", WatchKind::PersistentRecursive, 5);
    assert_eq!(
        wm.by_watcher(),
        vec![
            (3, vec!["/b".to_owned()]),
            (5, vec!["/a".to_owned(), "/b".to_owned()]),
            (9, vec!["/b".to_owned(), "/z".to_owned()]),
        ]
    );
    assert_eq!(
        wm.by_path(),
        vec![
            ("/a".to_owned(), vec![5]),
            ("/b".to_owned(), vec![3, 5, 9]),
            ("/z".to_owned(), vec![9])
        ]
    );
    assert_eq!(
        wm.summary(),
        WatchSummary {
            watchers: 3,
            paths: 3,
            watches: 5
        }
    );
    // Apache's two tables: data entries /z:9, /b:3, /a:5, /b:5; child entries /b:9, /a:5.
    assert_eq!(wm.apache_watch_count(), 6);
    assert_eq!(wm.watched_paths(9), 2);
    assert_eq!(wm.watched_paths(4), 0);
}

#[test]
fn limit_counts_distinct_paths_per_watcher() {
    let mut wm = Wm::new(2);
    assert_eq!(wm.add("/a", WatchKind::Data, 1), Ok(true));
    assert_eq!(wm.add("/b", WatchKind::Child, 1), Ok(true));
    assert_eq!(
        wm.add("/c", WatchKind::Data, 1),
        Err(WatchError::TooManyWatches { limit: 2 })
    );
    assert_eq!(
        wm.add("/a", WatchKind::Persistent, 1),
        Ok(true),
        "same path costs nothing"
    );
    assert_eq!(
        wm.add("/c", WatchKind::Data, 2),
        Ok(true),
        "the limit is per watcher"
    );
    let _ = fire(&mut wm, "/b", NodeChildrenChanged);
    assert_eq!(
        wm.add("/c", WatchKind::Data, 1),
        Ok(true),
        "a fired watch frees its slot"
    );
    checked(&wm);
}

/// A tree for SetWatches: path -> (mzxid, pzxid, czxid).
fn tree(nodes: &[(&str, Zxid, Zxid)]) -> impl Fn(&str) -> Option<NodeZxids> {
    let nodes: HashMap<String, NodeZxids> = nodes
        .iter()
        .map(|&(p, m, pz)| (p.to_owned(), (m, pz, 1)))
        .collect();
    move |p| nodes.get(p).copied()
}

#[test]
fn set_watches_fires_what_was_missed_and_registers_the_rest() {
    let mut wm = Wm::default();
    let lookup = tree(&[
        ("/same", 10, 10),
        ("/changed", 11, 5),
        ("/kids", 5, 12),
        ("/new", 3, 3),
    ]);
    let events = wm
        .set_watches(
            1,
            10,
            &["/same", "/changed", "/gone"],
            &["/new", "/still-missing"],
            &["/same", "/kids", "/gone"],
            &["/p"],
            &["/r"],
            lookup,
        )
        .expect("under the limit");
    checked(&wm);
    assert_eq!(
        events,
        vec![
            (NodeDataChanged, "/changed".to_owned()),
            (NodeDeleted, "/gone".to_owned()),
            (NodeCreated, "/new".to_owned()),
            (NodeChildrenChanged, "/kids".to_owned()),
            (NodeDeleted, "/gone".to_owned()),
        ]
    );
    assert!(wm.contains("/same", WatcherType::Data, 1));
    assert!(wm.contains("/same", WatcherType::Children, 1));
    assert!(wm.contains("/still-missing", WatcherType::Data, 1));
    assert!(wm.contains("/p", WatcherType::Persistent, 1));
    assert!(wm.contains("/r", WatcherType::PersistentRecursive, 1));
    for fired in ["/changed", "/gone", "/new", "/kids"] {
        assert!(
            !wm.contains(fired, WatcherType::Any, 1),
            "{fired} fired, so not registered"
        );
    }
    // A zxid equal to relativeZxid is not newer: "/same" was registered, not fired.
    assert_eq!(wm.summary().watches, 4);
}

#[test]
fn set_watches_over_the_limit_changes_nothing() {
    let mut wm = Wm::new(2);
    add(&mut wm, "/a", WatchKind::Data, 1);
    let lookup = tree(&[("/a", 1, 1), ("/b", 1, 1), ("/c", 1, 1)]);
    let err = wm.set_watches(1, 5, &["/a", "/b", "/c"], &[], &[], &[], &[], &lookup);
    assert_eq!(err, Err(WatchError::TooManyWatches { limit: 2 }));
    assert_eq!(wm.watched_paths(1), 1);
    // Re-registering paths it already holds plus one new path fits exactly.
    let ok = wm.set_watches(
        1,
        5,
        &["/a", "/b"],
        &[],
        &["/a", "/b"],
        &["/b"],
        &[],
        &lookup,
    );
    assert_eq!(ok, Ok(vec![]));
    assert_eq!(wm.watched_paths(1), 2);
    checked(&wm);
}

/// A direct model of Apache's DataTree watch handling: two tables of (path, watcher) ->
/// modes, fired exactly as WatchManager.triggerWatch does.
#[derive(Default)]
struct ApacheModel {
    data: BTreeMap<(String, u32), BTreeSet<u8>>,
    child: BTreeMap<(String, u32), BTreeSet<u8>>,
}

const STANDARD: u8 = 0;
const PERSISTENT: u8 = 1;
const RECURSIVE: u8 = 2;

impl ApacheModel {
    fn add(&mut self, path: &str, kind: WatchKind, w: u32) {
        let key = (path.to_owned(), w);
        match kind {
            WatchKind::Data | WatchKind::Exist => {
                self.data.entry(key).or_default().insert(STANDARD);
            }
            WatchKind::Child => {
                self.child.entry(key).or_default().insert(STANDARD);
            }
            WatchKind::Persistent => {
                self.data.entry(key.clone()).or_default().insert(PERSISTENT);
                self.child.entry(key).or_default().insert(PERSISTENT);
            }
            WatchKind::PersistentRecursive => {
                self.data.entry(key).or_default().insert(RECURSIVE);
            }
        }
    }

    fn trigger_table(
        table: &mut BTreeMap<(String, u32), BTreeSet<u8>>,
        path: &str,
        fired: &mut BTreeSet<u32>,
    ) {
        let has_recursive = table.values().any(|m| m.contains(&RECURSIVE));
        let keys: Vec<(String, u32)> = table.keys().cloned().collect();
        for key in keys {
            let at_path = key.0 == path;
            let is_ancestor = has_recursive && ancestors(path).any(|a| a == key.0);
            if at_path {
                fired.insert(key.1);
                let modes = table.get_mut(&key).expect("key listed");
                modes.remove(&STANDARD);
                if modes.is_empty() {
                    table.remove(&key);
                }
            } else if is_ancestor && table[&key].contains(&RECURSIVE) {
                fired.insert(key.1);
            }
        }
    }

    fn trigger(&mut self, path: &str, event: EventType) -> Vec<u32> {
        let mut fired = BTreeSet::new();
        match event {
            NodeCreated | NodeDataChanged => Self::trigger_table(&mut self.data, path, &mut fired),
            NodeChildrenChanged => Self::trigger_table(&mut self.child, path, &mut fired),
            NodeDeleted => {
                Self::trigger_table(&mut self.data, path, &mut fired);
                Self::trigger_table(&mut self.child, path, &mut fired);
            }
            _ => {}
        }
        fired.into_iter().collect()
    }

    fn remove_mode(
        table: &mut BTreeMap<(String, u32), BTreeSet<u8>>,
        key: &(String, u32),
        mode: Option<u8>,
    ) -> bool {
        let Some(modes) = table.get_mut(key) else {
            return false;
        };
        let removed = match mode {
            Some(m) => modes.remove(&m),
            None => {
                modes.clear();
                true
            }
        };
        if modes.is_empty() {
            table.remove(key);
        }
        removed
    }

    fn remove(&mut self, path: &str, t: WatcherType, w: u32) -> bool {
        let key = (path.to_owned(), w);
        match t {
            WatcherType::Children => Self::remove_mode(&mut self.child, &key, Some(STANDARD)),
            WatcherType::Data => Self::remove_mode(&mut self.data, &key, Some(STANDARD)),
            WatcherType::Persistent => {
                let c = Self::remove_mode(&mut self.child, &key, Some(PERSISTENT));
                Self::remove_mode(&mut self.data, &key, Some(PERSISTENT)) | c
            }
            WatcherType::PersistentRecursive => {
                Self::remove_mode(&mut self.data, &key, Some(RECURSIVE))
            }
            WatcherType::Any => {
                let c = Self::remove_mode(&mut self.child, &key, None);
                Self::remove_mode(&mut self.data, &key, None) | c
            }
        }
    }

    fn contains(&self, path: &str, t: WatcherType, w: u32) -> bool {
        let key = (path.to_owned(), w);
        let has = |table: &BTreeMap<(String, u32), BTreeSet<u8>>, m: Option<u8>| {
            table
                .get(&key)
                .is_some_and(|modes| m.is_none_or(|m| modes.contains(&m)))
        };
        match t {
            WatcherType::Children => has(&self.child, Some(STANDARD)),
            WatcherType::Data => has(&self.data, Some(STANDARD)),
            WatcherType::Persistent => has(&self.data, Some(PERSISTENT)),
            WatcherType::PersistentRecursive => has(&self.data, Some(RECURSIVE)),
            WatcherType::Any => has(&self.child, None) || has(&self.data, None),
        }
    }

    fn count(&self) -> usize {
        self.data.len() + self.child.len()
    }
}

/// A seeded xorshift: deterministic, so any failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_operations_agree_with_a_model_of_apaches_tables() {
    const PATHS: [&str; 6] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/x"];
    const KINDS: [WatchKind; 5] = [
        WatchKind::Data,
        WatchKind::Exist,
        WatchKind::Child,
        WatchKind::Persistent,
        WatchKind::PersistentRecursive,
    ];
    const TYPES: [WatcherType; 5] = [
        WatcherType::Children,
        WatcherType::Data,
        WatcherType::Any,
        WatcherType::Persistent,
        WatcherType::PersistentRecursive,
    ];
    const EVENTS: [EventType; 4] = [
        NodeCreated,
        NodeDeleted,
        NodeDataChanged,
        NodeChildrenChanged,
    ];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut wm = Wm::default();
        let mut model = ApacheModel::default();
        for step in 0..400 {
            let path = PATHS[rng.below(PATHS.len())];
            let w = 1 + rng.below(3) as u32;
            match rng.below(10) {
                0..=3 => {
                    let kind = KINDS[rng.below(KINDS.len())];
                    wm.add(path, kind, w).expect("default limit is large");
                    model.add(path, kind, w);
                }
                4..=6 => {
                    let event = EVENTS[rng.below(EVENTS.len())];
                    let got: Vec<u32> = wm.trigger(path, event).into_iter().map(|x| x.0).collect();
                    assert_eq!(got, model.trigger(path, event), "seed {seed} step {step}");
                }
                7 | 8 => {
                    let t = TYPES[rng.below(TYPES.len())];
                    let got = !wm.remove(path, t, w).is_empty();
                    assert_eq!(got, model.remove(path, t, w), "seed {seed} step {step}");
                }
                _ => {
                    wm.remove_watcher(w);
                    model.data.retain(|k, _| k.1 != w);
                    model.child.retain(|k, _| k.1 != w);
                }
            }
            checked(&wm);
            assert_eq!(
                wm.apache_watch_count(),
                model.count(),
                "seed {seed} step {step}"
            );
            for p in PATHS {
                for t in TYPES {
                    for w in 1..=3 {
                        assert_eq!(wm.contains(p, t, w), model.contains(p, t, w), "seed {seed}");
                    }
                }
            }
        }
    }
}
