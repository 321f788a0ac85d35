//! Export and import of a whole tree for snapshots. The framing (header, sessions,
//! checksum) belongs to `storage::snapshot`; this module writes exactly what
//! [`DataTree::apply`] depends on, so that a loaded tree continues the same history: the
//! persisted creation count (`cversion`), the node kind with its owner or TTL, the ACL,
//! and every stat field. Children lists, indexes and sums are rebuilt, not stored.
//!
//! Layout (jute primitives, big-endian): the distinct ACL lists as a vector, then the node
//! count as a long, then each node in path order: path, data (a buffer whose length is -1
//! for null data), ACL index (int), czxid,
//! mzxid, pzxid, ctime, mtime (longs), version, cversion, aversion (ints), kind (as in a
//! txn). Path order puts every parent before its children.

use std::collections::{BTreeSet, HashMap};

use super::{hash, java_len, DataTree, Node};
use crate::jute::{decode_acl_list, encode_acl_list};
use crate::jute::{Decode, Encode};
use crate::jute::{DecodeError, Reader, Writer};
use crate::txn::NodeKind;
use crate::types::{Acl, Zxid};

/// The fewest bytes one exported node takes (empty path and data, fixed fields, a
/// persistent kind), used to bound a hostile node count.
const NODE_MIN_BYTES: usize = 4 + 4 + 4 + 5 * 8 + 3 * 4 + 1;

impl DataTree {
    /// The number of nodes stored (the root once; see [`DataTree::node_count`] for
    /// Apache's count).
    pub fn stored_node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Writes every node (see the module documentation). Deterministic: the same tree
    /// always gives the same bytes.
    pub fn export_nodes(&self, w: &mut Writer) {
        let mut paths: Vec<&String> = self.nodes.keys().collect();
        paths.sort_unstable();
        let mut acl_index: HashMap<&[Acl], i32> = HashMap::new();
        let mut acl_lists: Vec<&[Acl]> = Vec::new();
        for path in &paths {
            let acl: &[Acl] = &self.nodes[*path].acl;
            acl_index.entry(acl).or_insert_with(|| {
                acl_lists.push(acl);
                (acl_lists.len() - 1) as i32
            });
        }
        w.write_vec(&acl_lists, |w, acl| encode_acl_list(w, acl));
        w.write_i64(paths.len() as i64);
        for path in paths {
            let n = &self.nodes[path];
            w.write_str(path);
            w.write_opt_buffer(n.data.as_deref());
            w.write_i32(acl_index[&n.acl[..]]);
            for v in [n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime] {
                w.write_i64(v);
            }
            for v in [n.version, n.cversion, n.aversion] {
                w.write_i32(v);
            }
            n.kind.encode(w);
        }
    }

    /// Rebuilds a tree from [`DataTree::export_nodes`] output; `last_zxid` becomes
    /// [`DataTree::last_zxid`]. Refuses, never panics on, bytes that do not describe a
    /// tree: duplicate paths, a node whose parent is missing, a missing root, a bad ACL
    /// index.
    pub fn import_nodes(r: &mut Reader<'_>, last_zxid: Zxid) -> Result<DataTree, DecodeError> {
        let acl_lists = r.read_vec(4, decode_acl_list)?;
        let count = r.read_i64()?;
        let fits = usize::try_from(count)
            .ok()
            .filter(|c| c.saturating_mul(NODE_MIN_BYTES) <= r.remaining());
        let Some(count) = fits else {
            return Err(DecodeError::Invalid("node count does not fit the snapshot"));
        };
        let mut tree = DataTree::empty(HashMap::with_capacity(count), last_zxid);
        for _ in 0..count {
            let path = r.read_str()?;
            if crate::path::validate_path(&path, false).is_err() {
                return Err(DecodeError::Invalid("snapshot node with a malformed path"));
            }
            let data = r.read_opt_buffer()?.map(<[u8]>::to_vec);
            let acl = usize::try_from(r.read_i32()?)
                .ok()
                .and_then(|i| acl_lists.get(i))
                .ok_or(DecodeError::Invalid("snapshot node with a bad ACL index"))?;
            let [czxid, mzxid, pzxid, ctime, mtime] = [(); 5].map(|_| r.read_i64());
            let [version, cversion, aversion] = [(); 3].map(|_| r.read_i32());
            let kind = NodeKind::decode(r)?;
            if tree.nodes.contains_key(&path) {
                return Err(DecodeError::Invalid("snapshot holds a path twice"));
            }
            let node = Node {
                data_hash: hash::path_data_hash(&path, data.as_deref()),
                data,
                acl: tree.acls.acquire(acl),
                czxid: czxid?,
                mzxid: mzxid?,
                pzxid: pzxid?,
                ctime: ctime?,
                mtime: mtime?,
                version: version?,
                cversion: cversion?,
                aversion: aversion?,
                kind,
                children: BTreeSet::new(),
            };
            match kind {
                NodeKind::Persistent => {}
                NodeKind::Ephemeral(owner) => {
                    tree.ephemerals
                        .entry(owner)
                        .or_default()
                        .insert(path.clone());
                }
                NodeKind::Container => {
                    tree.containers.insert(path.clone());
                }
                NodeKind::Ttl(_) => {
                    tree.ttls.insert(path.clone());
                }
            }
            tree.digest.add(&path, &node);
            tree.data_size += java_len(&path) + node.data_len() as u64;
            tree.nodes.insert(path, node);
        }
        if !tree.nodes.contains_key("/") {
            return Err(DecodeError::Invalid("snapshot has no root node"));
        }
        // Link children only now, so that the order of nodes in the file does not matter.
        let mut links: Vec<(String, String)> = Vec::with_capacity(count);
        for path in tree.nodes.keys().filter(|p| p.as_str() != "/") {
            let (parent, name) = match path.rfind('/') {
                Some(0) => ("/", &path[1..]),
                Some(i) => (&path[..i], &path[i + 1..]),
                None => return Err(DecodeError::Invalid("snapshot node with a malformed path")),
            };
            links.push((parent.to_owned(), name.to_owned()));
        }
        for (parent, name) in links {
            match tree.nodes.get_mut(&parent) {
                Some(p) => {
                    p.children.insert(name);
                }
                None => return Err(DecodeError::Invalid("snapshot node without its parent")),
            }
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnBody};
    use crate::types::{perms, Id};

    fn txn(zxid: Zxid, session: i64, body: TxnBody) -> Txn {
        Txn {
            zxid,
            time_ms: 1_000 + zxid,
            session,
            cxid: 0,
            body,
        }
    }

    fn create(path: &str, kind: NodeKind, acl: Vec<Acl>) -> TxnBody {
        TxnBody::Create {
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            acl,
            kind,
            parent_cversion: -1,
        }
    }

    fn sample_tree() -> DataTree {
        let mut tree = DataTree::new();
        let open = Acl::open_unsafe();
        let ro = vec![Acl::new(perms::READ, Id::new("digest", "u:x"))];
        let bodies = vec![
            create("/a", NodeKind::Persistent, open.clone()),
            create("/a/b", NodeKind::Ephemeral(7), ro.clone()),
            create("/c", NodeKind::Container, open.clone()),
            create("/c/x", NodeKind::Persistent, open.clone()),
            TxnBody::Delete {
                path: "/c/x".into(),
            },
            create("/t", NodeKind::Ttl(500), ro),
            TxnBody::SetData {
                path: "/a".into(),
                data: Some(vec![9; 10]),
                version: 1,
            },
            create("/a-b", NodeKind::Persistent, open.clone()),
            TxnBody::Create {
                path: "/null".into(),
                data: None,
                acl: open.clone(),
                kind: NodeKind::Persistent,
                parent_cversion: -1,
            },
            TxnBody::Create {
                path: "/empty".into(),
                data: Some(vec![]),
                acl: open,
                kind: NodeKind::Persistent,
                parent_cversion: -1,
            },
            TxnBody::SetData {
                path: "/a-b".into(),
                data: None,
                version: 1,
            },
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            tree.apply(&txn(i as Zxid + 1, 7, body));
        }
        tree
    }

    fn round_trip(tree: &DataTree) -> DataTree {
        let mut w = Writer::new();
        tree.export_nodes(&mut w);
        let bytes = w.into_inner();
        DataTree::import_nodes(&mut Reader::new(&bytes), tree.last_zxid()).unwrap()
    }

    #[test]
    fn import_restores_digest_indexes_and_behaviour() {
        let tree = sample_tree();
        let mut loaded = round_trip(&tree);
        loaded.check_invariants().unwrap();
        assert_eq!(loaded.digest(), tree.digest());
        assert_eq!(loaded.last_zxid(), tree.last_zxid());
        assert_eq!(loaded.stat("/c"), tree.stat("/c"));
        assert_eq!(loaded.ephemerals(7), vec!["/a/b".to_string()]);
        assert_eq!(loaded.reap_candidates(10_000), tree.reap_candidates(10_000));
        // The same txns applied to both keep them equal: cversion and kinds survived.
        let mut original = tree.clone();
        for t in [
            txn(
                20,
                8,
                create("/c/y", NodeKind::Persistent, Acl::open_unsafe()),
            ),
            txn(
                21,
                7,
                TxnBody::CloseSession {
                    ephemerals: vec!["/a/b".into()],
                },
            ),
        ] {
            original.apply(&t);
            loaded.apply(&t);
        }
        assert_eq!(loaded.digest(), original.digest());
        loaded.check_invariants().unwrap();
    }

    #[test]
    fn import_keeps_null_data_apart_from_empty() {
        let tree = sample_tree();
        let loaded = round_trip(&tree);
        for path in ["/null", "/a-b"] {
            assert_eq!(loaded.get_data_or_null(path).unwrap().0, None, "{path}");
        }
        assert_eq!(loaded.get_data_or_null("/empty").unwrap().0, Some(&[][..]));
        assert_eq!(loaded.get_data_or_null("/a").unwrap().0, Some(&[9; 10][..]));
        assert_eq!(loaded.stat("/null").unwrap().data_length, 0);
        assert_eq!(loaded.digest(), tree.digest());
        assert_eq!(loaded.approximate_data_size(), tree.approximate_data_size());
    }

    #[test]
    fn node_data_layout_is_a_jute_buffer() {
        // One node with data [7] and one with null, found by their encoded paths.
        let mut tree = DataTree::new();
        tree.apply(&txn(
            1,
            1,
            create("/d", NodeKind::Persistent, Acl::open_unsafe()),
        ));
        tree.apply(&txn(
            2,
            1,
            TxnBody::SetData {
                path: "/d".into(),
                data: Some(vec![7]),
                version: 1,
            },
        ));
        tree.apply(&txn(
            3,
            1,
            TxnBody::Create {
                path: "/n".into(),
                data: None,
                acl: Acl::open_unsafe(),
                kind: NodeKind::Persistent,
                parent_cversion: -1,
            },
        ));
        let mut w = Writer::new();
        tree.export_nodes(&mut w);
        let bytes = w.into_inner();
        let after = |path: &[u8]| {
            let mut needle = (path.len() as i32).to_be_bytes().to_vec();
            needle.extend_from_slice(path);
            let at = bytes
                .windows(needle.len())
                .position(|win| win == needle)
                .unwrap();
            bytes[at + needle.len()..].to_vec()
        };
        assert_eq!(after(b"/d")[..5], [0, 0, 0, 1, 7]);
        assert_eq!(after(b"/n")[..4], (-1i32).to_be_bytes());
    }

    #[test]
    fn export_is_deterministic() {
        let tree = sample_tree();
        let (mut a, mut b) = (Writer::new(), Writer::new());
        tree.export_nodes(&mut a);
        round_trip(&tree).export_nodes(&mut b);
        assert_eq!(a.as_slice(), b.as_slice());
    }

    #[test]
    fn refuses_orphans_duplicates_and_missing_root() {
        let mut w = Writer::new();
        w.write_vec(&[Acl::open_unsafe()], |w, a| encode_acl_list(w, a));
        w.write_i64(1);
        w.write_str("/x/y");
        w.write_buffer(&[]);
        w.write_i32(0);
        for _ in 0..5 {
            w.write_i64(0);
        }
        for _ in 0..3 {
            w.write_i32(0);
        }
        NodeKind::Persistent.encode(&mut w);
        let bytes = w.into_inner();
        assert!(DataTree::import_nodes(&mut Reader::new(&bytes), 0).is_err());
    }
}
