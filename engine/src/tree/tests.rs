use super::*;
use crate::txn::{Txn, TxnBody};
use crate::types::{ErrorCode, EventType};

const T0: i64 = 1_700_000_000_000;

fn txn(zxid: Zxid, session: SessionId, body: TxnBody) -> Txn {
    Txn {
        zxid,
        time_ms: T0 + zxid,
        session,
        cxid: zxid as i32,
        body,
    }
}

fn create(path: &str, kind: NodeKind, parent_cversion: i32) -> TxnBody {
    TxnBody::Create {
        path: path.into(),
        data: Some(path.as_bytes().to_vec()),
        acl: Acl::open_unsafe(),
        kind,
        parent_cversion,
    }
}

fn delete(path: &str) -> TxnBody {
    TxnBody::Delete { path: path.into() }
}

fn events(r: &ApplyResult) -> Vec<(&str, EventType)> {
    r.triggers
        .iter()
        .map(|t| (t.path.as_str(), t.event))
        .collect()
}

#[test]
fn fresh_tree_looks_like_apache_3_8() {
    let t = DataTree::new();
    assert_eq!(t.children("/").unwrap().0, vec!["zookeeper"]);
    assert_eq!(t.children("/zookeeper").unwrap().0, vec!["config", "quota"]);
    // Apache shows the persisted create count (0) minus the children: -1 and -2.
    let root = t.stat("/").unwrap();
    assert_eq!(
        (root.cversion, root.num_children, root.czxid, root.pzxid),
        (-1, 1, 0, 0)
    );
    assert_eq!(t.stat("/zookeeper").unwrap().cversion, -2);
    let (acl, config) = t.acl("/zookeeper/config").unwrap();
    assert_eq!(acl, &Acl::read_unsafe()[..]);
    assert_eq!(config.aversion, -1);
    assert_eq!(
        t.acl("/zookeeper/quota").unwrap().0,
        &Acl::open_unsafe()[..]
    );
    // mntr on a fresh Apache server: zk_znode_count 5, zk_approximate_data_size 44.
    assert_eq!(t.node_count(), 5);
    assert_eq!(t.approximate_data_size(), 44);
    assert_eq!(t.all_children_number("/"), Some(3));
    assert_eq!(t.all_children_number("/zookeeper"), Some(2));
    assert_eq!(t.all_children_number("/missing"), None);
    assert_eq!(t.acl_count(), 2);
    // Apache's root alias: "" reads as the root.
    assert_eq!(t.stat(""), t.stat("/"));
    t.check_invariants().unwrap();
}

#[test]
fn config_node_holds_the_membership_without_touching_the_digest() {
    let mut t = DataTree::new();
    let fresh_digest = t.digest();
    let fresh_size = t.approximate_data_size();
    let data = b"server.1=127.0.0.1:2888:3888:participant\nversion=100000000";
    let stat = t.set_config_data(data, 0x1_0000_0000, 1234);
    // Apache's initConfigInZKDatabase: data version -1, mzxid the config's version.
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.data_length),
        (-1, 0x1_0000_0000, 1234, data.len() as i32)
    );
    let (read, read_stat) = t.get_data("/zookeeper/config").unwrap();
    assert_eq!((read, read_stat), (&data[..], stat));
    assert_eq!(t.digest(), fresh_digest);
    assert_eq!(t.approximate_data_size(), fresh_size + data.len() as u64);
    t.check_invariants().unwrap();
    // An ACL change on it (super may make one) leaves the digest alone too.
    let applied = t.apply(&txn(
        0x1_0000_0001,
        1,
        TxnBody::SetAcl {
            path: "/zookeeper/config".into(),
            acl: Acl::open_unsafe(),
            version: 0,
        },
    ));
    assert_eq!(applied.err(), ErrorCode::Ok);
    assert_eq!(t.digest(), fresh_digest);
    t.check_invariants().unwrap();
    // Through a snapshot the node keeps its data and the digest still adds up.
    let mut w = crate::jute::Writer::new();
    t.export_nodes(&mut w);
    let bytes = w.into_inner();
    let loaded =
        DataTree::import_nodes(&mut crate::jute::Reader::new(&bytes), t.last_zxid()).unwrap();
    assert_eq!(loaded.get_data("/zookeeper/config").unwrap().0, &data[..]);
    assert_eq!(loaded.digest(), t.digest());
    loaded.check_invariants().unwrap();
}

#[test]
fn create_sets_stats_and_fires_created_then_children_changed() {
    let mut t = DataTree::new();
    let r = t.apply(&txn(5, 1, create("/a", NodeKind::Persistent, 1)));
    let Outcome::Single(OpResult::Created { path, stat }) = &r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (5, 5, 5));
    assert_eq!((stat.ctime, stat.mtime), (T0 + 5, T0 + 5));
    assert_eq!(
        (
            stat.version,
            stat.cversion,
            stat.aversion,
            stat.ephemeral_owner
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((stat.data_length, stat.num_children), (2, 0));
    assert_eq!(
        events(&r),
        vec![
            ("/a", EventType::NodeCreated),
            ("/", EventType::NodeChildrenChanged)
        ]
    );
    let root = t.stat("/").unwrap();
    assert_eq!((root.cversion, root.num_children, root.pzxid), (0, 2, 5));
    assert_eq!(t.get_data("/a").unwrap().0, b"/a");
    assert_eq!(t.last_zxid(), 5);
    t.check_invariants().unwrap();
}

#[test]
fn cversion_counts_creates_and_deletes_and_pzxid_follows() {
    let mut t = DataTree::new();
    t.apply(&txn(1, 1, create("/p", NodeKind::Persistent, 1)));
    t.apply(&txn(2, 1, create("/p/a", NodeKind::Persistent, 1)));
    t.apply(&txn(3, 1, create("/p/b", NodeKind::Persistent, 2)));
    assert_eq!(t.stat("/p").unwrap().cversion, 2);
    let r = t.apply(&txn(4, 1, delete("/p/a")));
    assert_eq!(r.outcome, Outcome::Single(OpResult::Deleted));
    assert_eq!(
        events(&r),
        vec![
            ("/p/a", EventType::NodeDeleted),
            ("/p", EventType::NodeChildrenChanged)
        ]
    );
    let p = t.stat("/p").unwrap();
    assert_eq!((p.cversion, p.num_children, p.pzxid, p.mzxid), (3, 1, 4, 1));
    // Sequential names use the persisted create count, which deletes leave alone.
    assert_eq!(t.meta("/p").unwrap().cversion, 2);
    t.check_invariants().unwrap();
}

#[test]
fn set_data_and_set_acl() {
    let mut t = DataTree::new();
    t.apply(&txn(1, 1, create("/a", NodeKind::Persistent, 1)));
    let r = t.apply(&txn(
        2,
        1,
        TxnBody::SetData {
            path: "/a".into(),
            data: Some(vec![7; 10]),
            version: 1,
        },
    ));
    let Outcome::Single(OpResult::DataSet(s)) = r.outcome else {
        panic!()
    };
    assert_eq!(
        (s.version, s.mzxid, s.mtime, s.czxid, s.data_length),
        (1, 2, T0 + 2, 1, 10)
    );
    assert_eq!(events(&r), vec![("/a", EventType::NodeDataChanged)]);
    let digest_acl = vec![Acl::new(perms::ALL, Id::new("digest", "u:h"))];
    let r = t.apply(&txn(
        3,
        1,
        TxnBody::SetAcl {
            path: "/a".into(),
            acl: digest_acl.clone(),
            version: 1,
        },
    ));
    let Outcome::Single(OpResult::AclSet(s)) = r.outcome else {
        panic!()
    };
    assert_eq!((s.aversion, s.mzxid), (1, 2));
    assert!(r.triggers.is_empty());
    assert_eq!(t.acl("/a").unwrap().0, &digest_acl[..]);
    assert_eq!(t.acl_count(), 3);
    // The digest ACL's last user goes: the cache forgets the list.
    t.apply(&txn(4, 1, delete("/a")));
    assert_eq!(t.acl_count(), 2);
    t.check_invariants().unwrap();
}

#[test]
fn ephemerals_indexed_and_deleted_on_close_session_with_triggers() {
    let mut t = DataTree::new();
    t.apply(&txn(1, 7, create("/e1", NodeKind::Ephemeral(7), 1)));
    t.apply(&txn(2, 7, create("/e2", NodeKind::Ephemeral(7), 2)));
    t.apply(&txn(3, 8, create("/other", NodeKind::Ephemeral(8), 3)));
    assert_eq!(t.ephemerals(7), vec!["/e1", "/e2"]);
    assert_eq!(t.ephemeral_count(), 3);
    assert_eq!(t.stat("/e1").unwrap().ephemeral_owner, 7);
    assert_eq!(t.sessions_with_ephemerals().len(), 2);
    // The txn lists only /e2 (as prep saw it); /e1 is still found through the index.
    let r = t.apply(&txn(
        4,
        7,
        TxnBody::CloseSession {
            ephemerals: vec!["/e2".into()],
        },
    ));
    assert_eq!(r.outcome, Outcome::Single(OpResult::SessionClosed));
    assert_eq!(
        events(&r),
        vec![
            ("/e2", EventType::NodeDeleted),
            ("/", EventType::NodeChildrenChanged),
            ("/e1", EventType::NodeDeleted),
            ("/", EventType::NodeChildrenChanged),
        ]
    );
    assert!(t.ephemerals(7).is_empty());
    assert_eq!(t.ephemerals(8), vec!["/other"]);
    assert_eq!(t.stat("/").unwrap().pzxid, 4);
    t.check_invariants().unwrap();
}

#[test]
fn containers_and_ttl_nodes_show_owner_zero_and_are_reaped() {
    let mut t = DataTree::new();
    t.apply(&txn(1, 9, create("/c", NodeKind::Container, 1)));
    t.apply(&txn(2, 9, create("/t", NodeKind::Ttl(1000), 2)));
    t.apply(&txn(3, 9, create("/never", NodeKind::Container, 3)));
    assert_eq!(t.stat("/c").unwrap().ephemeral_owner, 0);
    assert_eq!(t.stat("/t").unwrap().ephemeral_owner, 0);
    assert_eq!(t.kind("/t"), Some(NodeKind::Ttl(1000)));
    assert!(t.ephemerals(9).is_empty());
    // A container is a candidate only once it has had a child and is empty again.
    assert!(t.reap_candidates(T0 + 2).is_empty());
    t.apply(&txn(4, 9, create("/c/x", NodeKind::Persistent, 1)));
    assert!(t.reap_candidates(T0 + 10_000).iter().all(|p| p != "/c"));
    t.apply(&txn(5, 9, delete("/c/x")));
    // The TTL node was last modified at T0 + 2: strictly more than 1000 ms later it goes.
    assert_eq!(t.reap_candidates(T0 + 1002), vec!["/c"]);
    assert_eq!(t.reap_candidates(T0 + 1003), vec!["/c", "/t"]);
    assert_eq!(
        t.reap_candidates_with(T0 + 1003, 500),
        vec!["/c", "/never", "/t"]
    );
    t.check_invariants().unwrap();
}

#[test]
fn failed_multi_changes_nothing_and_reports_apache_codes() {
    let mut t = DataTree::new();
    let before = t.digest();
    let multi = TxnBody::Multi(vec![
        TxnBody::Error(ErrorCode::Ok),
        TxnBody::Error(ErrorCode::NodeExists),
        TxnBody::Error(ErrorCode::RuntimeInconsistency),
    ]);
    let r = t.apply(&txn(1, 1, multi));
    assert_eq!(
        r.outcome,
        Outcome::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::NodeExists),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert_eq!(r.err(), ErrorCode::NodeExists);
    assert!(r.triggers.is_empty());
    // A multi mixing real ops with an error (a corrupt one) is also all-or-nothing.
    let mixed = TxnBody::Multi(vec![
        create("/x", NodeKind::Persistent, 1),
        TxnBody::Error(ErrorCode::NoNode),
        delete("/y"),
    ]);
    let r = t.apply(&txn(2, 1, mixed));
    assert_eq!(
        r.outcome,
        Outcome::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::NoNode),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert_eq!(t.digest(), before);
    assert_eq!(t.last_zxid(), 2);
}

#[test]
fn successful_multi_applies_in_order() {
    let mut t = DataTree::new();
    let multi = TxnBody::Multi(vec![
        create("/a", NodeKind::Persistent, 1),
        create("/a/b", NodeKind::Persistent, 1),
        TxnBody::Check {
            path: "/a".into(),
            version: 1,
        },
        TxnBody::SetData {
            path: "/a".into(),
            data: Some(vec![]),
            version: 1,
        },
    ]);
    let r = t.apply(&txn(3, 1, multi));
    let Outcome::Multi(results) = &r.outcome else {
        panic!()
    };
    assert!(matches!(&results[1], OpResult::Created { path, .. } if path == "/a/b"));
    assert_eq!(results[2], OpResult::Checked);
    assert_eq!(r.triggers.len(), 5);
    assert_eq!(t.stat("/a").unwrap().version, 1);
    t.check_invariants().unwrap();
}

#[test]
fn inconsistent_txns_are_errors_not_panics() {
    let mut t = DataTree::new();
    let cases = vec![
        (
            create("/missing/x", NodeKind::Persistent, 1),
            ErrorCode::NoNode,
        ),
        (create("/", NodeKind::Persistent, 1), ErrorCode::NodeExists),
        (create("", NodeKind::Persistent, 1), ErrorCode::BadArguments),
        (
            create("noslash", NodeKind::Persistent, 1),
            ErrorCode::BadArguments,
        ),
        (
            create("/a/", NodeKind::Persistent, 1),
            ErrorCode::BadArguments,
        ),
        (
            create("/zookeeper", NodeKind::Persistent, 1),
            ErrorCode::NodeExists,
        ),
        (delete("/"), ErrorCode::BadArguments),
        (delete(""), ErrorCode::BadArguments),
        (delete("/nope"), ErrorCode::NoNode),
        (delete("/nope/x"), ErrorCode::NoNode),
        (delete("/zookeeper"), ErrorCode::NotEmpty),
        (
            TxnBody::SetData {
                path: "/nope".into(),
                data: Some(vec![]),
                version: 1,
            },
            ErrorCode::NoNode,
        ),
        (
            TxnBody::SetAcl {
                path: "/nope".into(),
                acl: vec![],
                version: 1,
            },
            ErrorCode::NoNode,
        ),
        (
            TxnBody::Multi(vec![TxnBody::Multi(vec![])]),
            ErrorCode::MarshallingError,
        ),
        (
            TxnBody::Multi(vec![TxnBody::CreateSession { timeout_ms: 1 }]),
            ErrorCode::MarshallingError,
        ),
        (TxnBody::Error(ErrorCode::NoAuth), ErrorCode::NoAuth),
    ];
    for (i, (body, code)) in cases.into_iter().enumerate() {
        let r = t.apply(&txn(i as i64 + 1, 1, body.clone()));
        assert_eq!(r.err(), code, "{body:?}");
        t.check_invariants().unwrap();
    }
    assert_eq!(t.node_count(), 5);
}

#[test]
fn create_over_existing_raises_parent_cversion_like_apache_replay() {
    let mut t = DataTree::new();
    t.apply(&txn(1, 1, create("/a", NodeKind::Persistent, 1)));
    let r = t.apply(&txn(9, 1, create("/a", NodeKind::Persistent, 4)));
    assert_eq!(r.err(), ErrorCode::NodeExists);
    assert_eq!(t.meta("/").unwrap().cversion, 4);
    assert_eq!(t.stat("/").unwrap().pzxid, 9);
    t.check_invariants().unwrap();
}

/// A seeded xorshift64: reproducible "random" histories.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Arbitrary (often inconsistent) txns: apply must keep every invariant, and a second tree
/// fed the same txns must agree on the digest after each one.
#[test]
fn random_txns_keep_invariants_and_replicas_agree() {
    const PATHS: &[&str] = &[
        "/a",
        "/a/b",
        "/a/b/c",
        "/b",
        "/b/x",
        "/zookeeper",
        "/",
        "/c",
        "/a/",
        "",
    ];
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut leader = DataTree::new();
    let mut follower = DataTree::new();
    for zxid in 1..3000 {
        let path = rng.pick(PATHS).to_owned();
        let session = (rng.next() % 3) as i64 + 1;
        let kind = match rng.next() % 4 {
            0 => NodeKind::Persistent,
            1 => NodeKind::Ephemeral(session),
            2 => NodeKind::Container,
            _ => NodeKind::Ttl(10),
        };
        let acl = if rng.next().is_multiple_of(2) {
            Acl::open_unsafe()
        } else {
            Acl::read_unsafe()
        };
        let one = |rng: &mut XorShift, path: String| match rng.next() % 6 {
            // Every fourth data is null, so null and empty both go through the digest.
            0 | 1 => TxnBody::Create {
                path,
                data: (!rng.next().is_multiple_of(4)).then(|| vec![rng.next() as u8]),
                acl: acl.clone(),
                kind,
                parent_cversion: (rng.next() % 8) as i32 - 1,
            },
            2 => TxnBody::Delete { path },
            3 => {
                let len = rng.next() % 6;
                TxnBody::SetData {
                    path,
                    data: (len < 5).then(|| vec![1; len as usize]),
                    version: rng.next() as i32,
                }
            }
            4 => TxnBody::SetAcl {
                path,
                acl: acl.clone(),
                version: 3,
            },
            _ => TxnBody::CloseSession {
                ephemerals: vec![path],
            },
        };
        let body = if rng.next().is_multiple_of(5) {
            let second = rng.pick(PATHS).to_owned();
            TxnBody::Multi(vec![one(&mut rng, path), one(&mut rng, second)])
        } else {
            one(&mut rng, path)
        };
        let t = txn(zxid, session, body);
        let a = leader.apply(&t);
        let b = follower.apply(&t);
        assert_eq!(a, b);
        leader
            .check_invariants()
            .unwrap_or_else(|e| panic!("after {t:?}: {e}"));
        assert_eq!(leader.digest(), follower.digest());
    }
    assert_eq!(leader.last_zxid(), 2999);
}

#[test]
fn digest_sees_data_stat_and_acl() {
    let mut a = DataTree::new();
    let mut b = DataTree::new();
    a.apply(&txn(1, 1, create("/x", NodeKind::Persistent, 1)));
    b.apply(&txn(1, 1, create("/x", NodeKind::Persistent, 1)));
    assert_eq!(a.digest(), b.digest());
    b.apply(&txn(
        2,
        1,
        TxnBody::SetData {
            path: "/x".into(),
            data: Some(b"/x".to_vec()),
            version: 0,
        },
    ));
    assert_ne!(a.digest(), b.digest(), "mzxid and mtime changed");
    let mut c = DataTree::new();
    c.apply(&txn(
        1,
        1,
        TxnBody::Create {
            path: "/x".into(),
            data: Some(b"/x".to_vec()),
            acl: Acl::read_unsafe(),
            kind: NodeKind::Persistent,
            parent_cversion: 1,
        },
    ));
    assert_ne!(a.digest(), c.digest(), "ACL differs");
}

fn create_with(path: &str, data: Option<Vec<u8>>) -> TxnBody {
    TxnBody::Create {
        path: path.into(),
        data,
        acl: Acl::open_unsafe(),
        kind: NodeKind::Persistent,
        parent_cversion: -1,
    }
}

fn set_data_to(path: &str, data: Option<Vec<u8>>, version: i32) -> TxnBody {
    TxnBody::SetData {
        path: path.into(),
        data,
        version,
    }
}

#[test]
fn null_data_reads_back_as_null_with_length_zero() {
    let mut t = DataTree::new();
    let size0 = t.approximate_data_size();
    let r = t.apply(&txn(1, 1, create_with("/n", None)));
    let Outcome::Single(OpResult::Created { stat, .. }) = r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(stat.data_length, 0);
    let (data, stat) = t.get_data_or_null("/n").unwrap();
    assert_eq!((data, stat.data_length), (None, 0));
    // The older accessor still hands out bytes: empty for null.
    assert_eq!(t.get_data("/n").unwrap().0, b"");
    assert_eq!(t.approximate_data_size(), size0 + 2);
    t.check_invariants().unwrap();

    // Setting data and then null again: the length follows, null stays null.
    t.apply(&txn(2, 1, set_data_to("/n", Some(vec![5; 4]), 1)));
    assert_eq!(t.get_data_or_null("/n").unwrap().0, Some(&[5u8; 4][..]));
    assert_eq!(t.approximate_data_size(), size0 + 6);
    let r = t.apply(&txn(3, 1, set_data_to("/n", None, 2)));
    let Outcome::Single(OpResult::DataSet(s)) = r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!((s.version, s.data_length), (2, 0));
    assert_eq!(t.get_data_or_null("/n").unwrap().0, None);
    assert_eq!(t.approximate_data_size(), size0 + 2);
    t.check_invariants().unwrap();

    // Empty data is not null.
    t.apply(&txn(4, 1, create_with("/e", Some(vec![]))));
    assert_eq!(t.get_data_or_null("/e").unwrap().0, Some(&[][..]));
    assert_eq!(t.get_data_or_null("/missing"), None);
    t.check_invariants().unwrap();
}

#[test]
fn digest_tells_null_from_empty() {
    let mut null = DataTree::new();
    let mut empty = DataTree::new();
    null.apply(&txn(1, 1, create_with("/x", None)));
    empty.apply(&txn(1, 1, create_with("/x", Some(vec![]))));
    assert_eq!(null.stat("/x"), empty.stat("/x"));
    assert_ne!(null.digest(), empty.digest());
    // Setting the same data on both brings them together again.
    for t in [&mut null, &mut empty] {
        t.apply(&txn(2, 1, set_data_to("/x", Some(vec![1]), 1)));
    }
    assert_eq!(null.digest(), empty.digest());
    for (t, data) in [(&mut null, None), (&mut empty, Some(vec![]))] {
        t.apply(&txn(3, 1, set_data_to("/x", data, 2)));
        t.check_invariants().unwrap();
    }
    assert_ne!(null.digest(), empty.digest());
}

#[test]
fn independent_copy_shares_no_acl_lists_and_stays_equal() {
    let mut tree = DataTree::new();
    tree.apply(&txn(1, 0, create("/a", NodeKind::Persistent, -1)));
    tree.apply(&txn(2, 0, create("/a/b", NodeKind::Persistent, 0)));
    let copy = tree.independent_copy();
    assert_eq!(copy.digest(), tree.digest());
    copy.check_invariants().unwrap();
    let original = tree.acl_shared("/a/b").unwrap();
    let copied = copy.acl_shared("/a/b").unwrap();
    assert_eq!(original, copied);
    assert!(
        !Arc::ptr_eq(&original, &copied),
        "the copy must not share ACL lists across threads"
    );
    // Both go on applying the same stream identically.
    let mut copy = copy;
    let next = txn(3, 0, create("/a/c", NodeKind::Persistent, 1));
    tree.apply(&next);
    copy.apply(&next);
    assert_eq!(copy.digest(), tree.digest());
    copy.check_invariants().unwrap();
}

/// A prepared txn fails on apply only where it says it fails: an `Error` txn, or the `Error`
/// ops of a failed multi. Anything else is reported as unexpected, so a copy of the tree
/// that is not the one prep saw is caught where it is applied.
#[test]
fn only_failures_the_txn_announces_are_expected() {
    let mut tree = DataTree::new();
    let ok = txn(1, 0, create("/a", NodeKind::Persistent, -1));
    let r = tree.apply(&ok);
    assert_eq!(r.unexpected_error(&ok), None);
    let again = txn(2, 0, create("/a", NodeKind::Persistent, -1));
    let r = tree.apply(&again);
    assert_eq!(r.unexpected_error(&again), Some(ErrorCode::NodeExists));
    let announced = txn(3, 0, TxnBody::Error(ErrorCode::NoNode));
    let r = tree.apply(&announced);
    assert_eq!(r.unexpected_error(&announced), None);
    let failed_multi = txn(
        4,
        0,
        TxnBody::Multi(vec![
            TxnBody::Error(ErrorCode::Ok),
            TxnBody::Error(ErrorCode::BadVersion),
        ]),
    );
    let r = tree.apply(&failed_multi);
    assert_eq!(r.unexpected_error(&failed_multi), None);
    let diverged_multi = txn(
        5,
        0,
        TxnBody::Multi(vec![
            create("/b", NodeKind::Persistent, -1),
            delete("/nope"),
        ]),
    );
    let r = tree.apply(&diverged_multi);
    assert_eq!(r.unexpected_error(&diverged_multi), Some(ErrorCode::NoNode));
    let missing = txn(6, 0, delete("/gone"));
    let r = tree.apply(&missing);
    assert_eq!(r.unexpected_error(&missing), Some(ErrorCode::NoNode));
}

#[test]
fn a_committed_reconfig_sets_the_config_node_and_fires_its_data_watch() {
    let mut t = DataTree::new();
    let fresh_digest = t.digest();
    let servers = vec![
        "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181".to_owned(),
        "server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181".to_owned(),
    ];
    let mut reconfig = txn(0x2_0000_0007, 1, TxnBody::Reconfig { servers });
    reconfig.time_ms = 4321;
    let applied = t.apply(&reconfig);
    let expected = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                    server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181\n\
                    version=200000007";
    let (data, stat) = t.get_data("/zookeeper/config").unwrap();
    assert_eq!(data, expected.as_bytes());
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime),
        (-1, 0x2_0000_0007, 4321)
    );
    assert_eq!(applied.outcome, Outcome::Single(OpResult::DataSet(stat)));
    assert_eq!(applied.unexpected_error(&reconfig), None);
    let fired: Vec<_> = applied
        .triggers
        .iter()
        .map(|w| (w.path.as_str(), w.event))
        .collect();
    assert_eq!(fired, [("/zookeeper/config", EventType::NodeDataChanged)]);
    assert_eq!(t.last_zxid(), 0x2_0000_0007);
    // The config node stays outside the digest, as at start.
    assert_eq!(t.digest(), fresh_digest);
    t.check_invariants().unwrap();
}

#[test]
fn a_reconfig_inside_a_multi_is_refused_whole() {
    let mut t = DataTree::new();
    let before = t
        .get_data("/zookeeper/config")
        .map(|(d, s)| (d.to_vec(), s));
    let applied = t.apply(&txn(
        5,
        1,
        TxnBody::Multi(vec![TxnBody::Reconfig { servers: vec![] }]),
    ));
    assert_eq!(applied.err(), ErrorCode::MarshallingError);
    assert!(applied.triggers.is_empty());
    let after = t
        .get_data("/zookeeper/config")
        .map(|(d, s)| (d.to_vec(), s));
    assert_eq!(before, after);
}

/// The leader's ahead tree keeps no digest; everything else it answers must be what a tree
/// with one answers, so that validating writes against it is unchanged.
#[test]
fn a_tree_without_digest_applies_and_answers_as_one_with() {
    let mut with = DataTree::new();
    let mut without = DataTree::new().without_digest();
    let txns = [
        txn(1, 1, create_with("/a", Some(b"one".to_vec()))),
        txn(2, 1, create("/a/b", NodeKind::Ephemeral(1), 1)),
        txn(3, 1, set_data_to("/a", Some(b"two".to_vec()), 1)),
        txn(4, 1, set_data_to("/a", None, 2)),
        txn(5, 1, delete("/a/b")),
        txn(6, 1, set_data_to("/missing", None, 1)),
    ];
    for t in &txns {
        assert_eq!(with.apply(t), without.apply(t), "zxid {}", t.zxid);
    }
    for path in ["/", "/a", "/a/b", "/zookeeper/config"] {
        assert_eq!(with.get_data_or_null(path), without.get_data_or_null(path));
        assert_eq!(with.children(path), without.children(path));
        assert_eq!(with.meta(path), without.meta(path));
    }
    assert_ne!(with.digest(), 0);
    assert_eq!(without.digest(), 0, "no digest kept, none claimed");
    without
        .check_invariants()
        .expect("invariants other than the digest");
    with.check_invariants().expect("invariants");
}

/// The sequencer's trees report no watch triggers; every other part of applying (results,
/// nodes, digest) must be what a tree that reports them gives.
#[test]
fn a_tree_without_watch_triggers_applies_as_one_with_and_reports_none() {
    let mut with = DataTree::new();
    let mut without = DataTree::new().without_watch_triggers();
    let txns = [
        txn(1, 1, create_with("/a", Some(b"one".to_vec()))),
        txn(2, 1, create("/a/b", NodeKind::Ephemeral(1), 1)),
        txn(3, 1, set_data_to("/a", Some(b"two".to_vec()), 1)),
        txn(4, 1, delete("/a/b")),
        txn(5, 1, set_data_to("/missing", None, 1)),
    ];
    let mut fired = 0;
    for t in &txns {
        let (a, b) = (with.apply(t), without.apply(t));
        assert_eq!(a.outcome, b.outcome, "zxid {}", t.zxid);
        assert_eq!(a.zxid, b.zxid);
        fired += a.triggers.len();
        assert!(b.triggers.is_empty(), "zxid {}: {:?}", t.zxid, b.triggers);
    }
    assert!(fired > 0, "the tree with triggers reported some");
    for path in ["/", "/a", "/a/b"] {
        assert_eq!(with.get_data_or_null(path), without.get_data_or_null(path));
        assert_eq!(with.meta(path), without.meta(path));
    }
    assert_eq!(with.digest(), without.digest());
    let copy = without.independent_copy();
    assert!(
        copy.clone().apply(&txns[2]).triggers.is_empty(),
        "a copy keeps the setting"
    );
    without.check_invariants().expect("invariants");
}
