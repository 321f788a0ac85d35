//! The data tree: every znode with its data, ACL and stat, plus the indexes the server needs
//! (ephemerals by session, containers and TTL nodes for the reaper).
//!
//! One copy lives in the sequencer, which validates writes against it, and one in each
//! shard, which serves reads. All copies change only through [`DataTree::apply`], which is
//! deterministic: given the same txns in the same order, every copy ends with the same
//! [`DataTree::digest`]. Nothing here iterates a `HashMap` in a way that reaches a result.

mod acl_cache;
mod apply;
mod hash;
mod snapshot;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

pub use acl_cache::AclRef;
pub use apply::{ApplyResult, OpResult, Outcome, WatchTrigger};

use crate::txn::NodeKind;
use crate::types::{perms, Acl, Id, SessionId, Stat, Zxid};
use acl_cache::AclCache;

/// Apache's `/zookeeper` node, the parent of the system nodes.
pub const ZOOKEEPER_NODE: &str = "/zookeeper";
/// Where Apache keeps quota limits and usage.
pub const QUOTA_NODE: &str = "/zookeeper/quota";
/// Where Apache keeps the dynamic configuration (read-only to clients by default).
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// One znode. Its path is the key it is stored under.
#[derive(Debug, Clone)]
struct Node {
    /// `None` is null data, which Apache keeps apart from empty data: a client that
    /// created or set null reads null back.
    data: Option<Vec<u8>>,
    acl: AclRef,
    czxid: Zxid,
    mzxid: Zxid,
    pzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    /// The number of children ever created (Apache's persisted cversion). Clients see
    /// `2 * cversion - numChildren`, which counts creates and deletes; sequential names use
    /// this count.
    cversion: i32,
    aversion: i32,
    kind: NodeKind,
    /// Sorted, which gives children listings a stable order.
    children: BTreeSet<String>,
    /// Cached hash of path and data (see `hash::path_data_hash`).
    data_hash: u64,
}

impl Node {
    /// The data's length; null counts as 0, as in Apache's stat and data size.
    fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, Vec::len)
    }

    fn stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: self.kind.ephemeral_owner(),
            data_length: self.data_len() as i32,
            num_children,
            pzxid: self.pzxid,
        }
    }

    fn digest(&self) -> u64 {
        let (kind, kind_value) = hash::kind_parts(self.kind);
        let mut h = hash::Hasher::new();
        h.i64(self.data_hash as i64)
            .i64(self.czxid)
            .i64(self.mzxid)
            .i64(self.pzxid)
            .i64(self.ctime)
            .i64(self.mtime)
            .i64(i64::from(self.version))
            .i64(i64::from(self.cversion))
            .i64(i64::from(self.aversion))
            .i64(kind)
            .i64(kind_value);
        hash::acl_into(&mut h, &self.acl);
        h.finish()
    }
}

/// What request preparation needs to know about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMeta {
    pub version: i32,
    pub aversion: i32,
    /// The persisted creation count (see [`Node`]), which names sequential children.
    pub cversion: i32,
    pub kind: NodeKind,
    pub num_children: usize,
    pub acl: AclRef,
}

/// The znode tree. See the module documentation.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    acls: AclCache,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum of every node's path length (in UTF-16 units, as Java counts) and data length.
    data_size: u64,
    /// Wrapping sum of every node's digest, unless the tree keeps none.
    digest: TreeDigest,
    last_zxid: Zxid,
    /// Whether [`DataTree::apply`] reports the watches a change fires (see
    /// [`DataTree::without_watch_triggers`]).
    watch_triggers: bool,
}

impl DataTree {
    /// A copy that shares nothing with `self`, not even the interned ACL lists: for handing
    /// a tree to another thread, whose later Arc clones would otherwise bounce reference
    /// counts between cores.
    pub fn independent_copy(&self) -> DataTree {
        let mut copy = self.clone();
        let mut fresh: HashMap<AclRef, AclRef> = HashMap::new();
        for node in copy.nodes.values_mut() {
            let new = fresh
                .entry(node.acl.clone())
                .or_insert_with(|| Arc::from(&node.acl[..]))
                .clone();
            node.acl = new;
        }
        copy.acls = self.acls.rebuilt_with(&fresh);
        copy
    }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

/// A system node as a fresh tree has it: empty (not null) data, as Apache gives them, and
/// zeroed stats.
fn system_node(path: &str, acl: AclRef, aversion: i32) -> Node {
    Node {
        data: Some(Vec::new()),
        acl,
        czxid: 0,
        mzxid: 0,
        pzxid: 0,
        ctime: 0,
        mtime: 0,
        version: 0,
        cversion: 0,
        aversion,
        kind: NodeKind::Persistent,
        children: BTreeSet::new(),
        data_hash: hash::path_data_hash(path, Some(&[])),
    }
}

/// What a node adds to the tree digest. `/zookeeper/config` always adds what the fresh
/// tree's config node does: its data is each member's own view of the ensemble (in Apache
/// too, where a member's own client address may differ from what others list) and is set
/// outside any transaction, so it must not make members' digests differ. Apache's digest
/// skips the whole `/zookeeper` subtree; ours keeps the other system nodes, so snapshots
/// written before keep their digests.
fn counted_digest(path: &str, node: &Node) -> u64 {
    if path == CONFIG_NODE {
        static PRISTINE: OnceLock<u64> = OnceLock::new();
        *PRISTINE.get_or_init(|| {
            let read_only: AclRef = Arc::from(vec![Acl::new(perms::READ, Id::anyone())]);
            system_node(CONFIG_NODE, read_only, -1).digest()
        })
    } else {
        node.digest()
    }
}

/// The tree digest as the tree keeps it: the wrapping sum of [`counted_digest`] over every
/// node, or nothing for a tree that keeps none ([`DataTree::without_digest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TreeDigest(Option<u64>);

impl TreeDigest {
    fn kept() -> Self {
        TreeDigest(Some(0))
    }

    fn value(self) -> Option<u64> {
        self.0
    }

    /// Counts a node in (it was just added, or changed).
    fn add(&mut self, path: &str, node: &Node) {
        if let Some(d) = &mut self.0 {
            *d = d.wrapping_add(counted_digest(path, node));
        }
    }

    /// Counts a node out (it is about to change, or was removed).
    fn remove(&mut self, path: &str, node: &Node) {
        if let Some(d) = &mut self.0 {
            *d = d.wrapping_sub(counted_digest(path, node));
        }
    }
}

/// Apache counts path lengths in UTF-16 units (`String.length()`).
fn java_len(s: &str) -> u64 {
    s.encode_utf16().count() as u64
}

impl DataTree {
    /// A fresh tree as Apache starts one: `/`, `/zookeeper`, `/zookeeper/quota` and
    /// `/zookeeper/config`, all with zeroed stats and empty data. The config node is
    /// read-only to everyone, and Apache's `setACL(config, READ_ACL_UNSAFE, -1)` leaves its
    /// aversion at -1, which `stat /zookeeper/config` shows.
    pub fn new() -> Self {
        let mut tree = DataTree::empty(HashMap::new(), 0);
        let open = Acl::open_unsafe();
        let read_only = vec![Acl::new(perms::READ, Id::anyone())];
        for (path, acl, aversion) in [
            ("/", &open, 0),
            (ZOOKEEPER_NODE, &open, 0),
            (QUOTA_NODE, &open, 0),
            (CONFIG_NODE, &read_only, -1),
        ] {
            tree.insert_system_node(path, acl, aversion);
        }
        tree
    }

    fn insert_system_node(&mut self, path: &str, acl: &[Acl], aversion: i32) {
        let node = system_node(path, self.acls.acquire(acl), aversion);
        if let Some((parent, name)) = crate::path::split_last(path).filter(|(_, n)| !n.is_empty()) {
            let parent = if parent.is_empty() { "/" } else { parent };
            if let Some(p) = self.nodes.get_mut(parent) {
                self.digest.remove(parent, p);
                p.children.insert(name.to_owned());
                self.digest.add(parent, p);
            }
        }
        self.digest.add(path, &node);
        self.data_size += java_len(path);
        self.nodes.insert(path.to_owned(), node);
    }

    /// Sets `/zookeeper/config`'s data to a member's view of the ensemble, as Apache's
    /// `ZKDatabase.initConfigInZKDatabase` does (and again when a reconfiguration commits):
    /// its data version becomes -1, its mzxid the configuration's version, its mtime the
    /// given time. No transaction does this, so no watch fires here; the node's share of
    /// the digest does not change (see [`counted_digest`]). Returns the new stat.
    pub fn set_config_data(&mut self, data: &[u8], version_zxid: Zxid, time_ms: i64) -> Stat {
        let data_hash = hash::path_data_hash(CONFIG_NODE, Some(data));
        if !self.nodes.contains_key(CONFIG_NODE) {
            // A snapshot from a tree without it (Apache creates it on upgrade too).
            let read_only = vec![Acl::new(perms::READ, Id::anyone())];
            self.insert_system_node(CONFIG_NODE, &read_only, -1);
        }
        let Some(node) = self.nodes.get_mut(CONFIG_NODE) else {
            return Stat::default();
        };
        let old_len = node.data_len() as u64;
        node.data = Some(data.to_vec());
        node.data_hash = data_hash;
        node.version = -1;
        node.mzxid = version_zxid;
        node.mtime = time_ms;
        let stat = node.stat();
        self.data_size = self.data_size.saturating_sub(old_len) + data.len() as u64;
        stat
    }

    /// Apache stores the root under both `""` and `/`; reads of `""` see the root.
    fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
    }

    /// The stat of a node, or `None` if it does not exist.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path).map(Node::stat)
    }

    /// A node's data and stat, null data read as empty. Replies to clients want
    /// [`DataTree::get_data_or_null`], which keeps null apart.
    pub fn get_data(&self, path: &str) -> Option<(&[u8], Stat)> {
        self.node(path)
            .map(|n| (n.data.as_deref().unwrap_or_default(), n.stat()))
    }

    /// A node's data (`None` if it was created or set with null data) and stat, or `None`
    /// if the node does not exist. Apache's getData answers null for such a node.
    pub fn get_data_or_null(&self, path: &str) -> Option<(Option<&[u8]>, Stat)> {
        self.node(path).map(|n| (n.data.as_deref(), n.stat()))
    }

    /// A node's children, in sorted order (ZooKeeper promises no order), and its stat.
    pub fn children(&self, path: &str) -> Option<(Vec<String>, Stat)> {
        self.node(path)
            .map(|n| (n.children.iter().cloned().collect(), n.stat()))
    }

    /// A node's ACL and stat.
    pub fn acl(&self, path: &str) -> Option<(&[Acl], Stat)> {
        self.node(path).map(|n| (&n.acl[..], n.stat()))
    }

    /// A node's ACL as a shared handle, cheap to keep (e.g. with a watch).
    pub fn acl_shared(&self, path: &str) -> Option<AclRef> {
        self.node(path).map(|n| n.acl.clone())
    }

    /// What request preparation needs to know about a node.
    pub fn meta(&self, path: &str) -> Option<NodeMeta> {
        self.node(path).map(|n| NodeMeta {
            version: n.version,
            aversion: n.aversion,
            cversion: n.cversion,
            kind: n.kind,
            num_children: n.children.len(),
            acl: n.acl.clone(),
        })
    }

    /// The kind of a node (persistent, ephemeral with its owner, container, TTL).
    pub fn kind(&self, path: &str) -> Option<NodeKind> {
        self.node(path).map(|n| n.kind)
    }

    /// The ephemeral nodes a session owns, sorted.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every session that owns ephemeral nodes, with its nodes, in session order (for the
    /// `dump` four-letter word).
    pub fn sessions_with_ephemerals(&self) -> Vec<(SessionId, Vec<String>)> {
        self.ephemerals
            .iter()
            .map(|(s, paths)| (*s, paths.iter().cloned().collect()))
            .collect()
    }

    /// The number of descendants of a node (getAllChildrenNumber), or `None` if it does
    /// not exist. For `/` Apache counts every node but the root, system nodes included.
    pub fn all_children_number(&self, path: &str) -> Option<usize> {
        let path = if path.is_empty() { "/" } else { path };
        if path == "/" {
            return Some(self.nodes.len() - 1);
        }
        let mut count = 0;
        let mut stack = vec![path.to_owned()];
        while let Some(p) = stack.pop() {
            let node = self.nodes.get(&p)?;
            count += node.children.len();
            stack.extend(node.children.iter().map(|c| crate::path::join(&p, c)));
        }
        Some(count)
    }

    /// The node count as Apache's `mntr` reports it (`zk_znode_count`): Apache's node map
    /// holds the root twice (under `""` and `/`), so a fresh tree counts 5.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// The number of ephemeral nodes (`zk_ephemerals_count`).
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// Sum of path lengths and data lengths (`zk_approximate_data_size`), counting the
    /// root's data twice as Apache's aliased root does.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size + self.node("/").map_or(0, |r| r.data_len() as u64)
    }

    /// The number of distinct ACL lists in use.
    pub fn acl_count(&self) -> usize {
        self.acls.len()
    }

    /// An order-independent hash of every node's path, data, stat, kind and ACL. Two trees
    /// that applied the same txns have the same digest.
    ///
    /// A tree made with [`DataTree::without_digest`] keeps none and answers 0.
    pub fn digest(&self) -> u64 {
        self.digest.value().unwrap_or(0)
    }

    /// This tree from now on without a digest: its changes skip hashing the nodes (and
    /// their data), which is most of what applying a small write costs. For a copy whose
    /// digest nobody reads: the leader's ahead tree, which only validates new writes
    /// against what is proposed (the committed tree keeps the digest every copy checks).
    pub fn without_digest(mut self) -> DataTree {
        self.digest = TreeDigest(None);
        // Cached hashes would go stale as the data changes; clear them so that every node
        // agrees with `data_hash` (which `check_invariants` checks).
        for node in self.nodes.values_mut() {
            node.data_hash = 0;
        }
        self
    }

    /// A tree of no nodes at `last_zxid` with a digest and watch triggers, its node table
    /// `nodes` (empty, perhaps with capacity reserved).
    fn empty(nodes: HashMap<String, Node>, last_zxid: Zxid) -> DataTree {
        DataTree {
            nodes,
            acls: AclCache::default(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            digest: TreeDigest::kept(),
            last_zxid,
            watch_triggers: true,
        }
    }

    /// This tree from now on without watch triggers: [`DataTree::apply`] reports none, so a
    /// change allocates no trigger (a path copy each). For a copy that serves no watches:
    /// the sequencer's committed and ahead trees (the shards fire the watches).
    pub fn without_watch_triggers(mut self) -> DataTree {
        self.watch_triggers = false;
        self
    }

    /// The hash of a node's path and data this tree caches in the node: 0 when it keeps
    /// no digest, so nothing is hashed.
    fn data_hash(&self, path: &str, data: Option<&[u8]>) -> u64 {
        match self.digest.0 {
            Some(_) => hash::path_data_hash(path, data),
            None => 0,
        }
    }

    /// The highest zxid applied.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Paths the container reaper should try to delete at `now_ms`, sorted: empty
    /// containers that have had a child, and empty TTL nodes not modified for longer than
    /// their TTL (Apache's `ContainerManager.getCandidates` with the default
    /// `znode.container.maxNeverUsedIntervalMs` of 0). Each still goes through
    /// `prep` as a `DeleteContainer`, which rechecks it.
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<String> {
        self.reap_candidates_with(now_ms, 0)
    }

    /// As [`DataTree::reap_candidates`], also reaping containers that never had a child
    /// once older than `max_never_used_ms` (0 disables this, as in Apache).
    pub fn reap_candidates_with(&self, now_ms: i64, max_never_used_ms: i64) -> Vec<String> {
        let mut out = BTreeSet::new();
        for path in &self.containers {
            if let Some(n) = self.nodes.get(path).filter(|n| n.children.is_empty()) {
                let elapsed = now_ms.saturating_sub(n.mtime);
                if n.cversion > 0 || (max_never_used_ms != 0 && elapsed > max_never_used_ms) {
                    out.insert(path.clone());
                }
            }
        }
        for path in &self.ttls {
            if let Some(n) = self.nodes.get(path).filter(|n| n.children.is_empty()) {
                if let NodeKind::Ttl(ttl) = n.kind {
                    if ttl != 0 && now_ms.saturating_sub(n.mtime) > ttl {
                        out.insert(path.clone());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Checks every index and cached sum against the nodes themselves. Meant for tests and
    /// debug assertions; it walks the whole tree.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut digest = 0u64;
        let mut size = 0u64;
        let mut ephemeral_count = 0;
        let mut acl_users: HashMap<&[Acl], usize> = HashMap::new();
        for (path, node) in &self.nodes {
            digest = digest.wrapping_add(counted_digest(path, node));
            size += java_len(path) + node.data_len() as u64;
            *acl_users.entry(&node.acl[..]).or_default() += 1;
            if node.data_hash != self.data_hash(path, node.data.as_deref()) {
                return Err(format!("{path}: stale data hash"));
            }
            if let Some(parent) = crate::path::parent(path) {
                let listed = self
                    .nodes
                    .get(parent)
                    .is_some_and(|p| p.children.contains(crate::path::name(path)));
                if !listed {
                    return Err(format!("{path}: not listed by its parent"));
                }
            } else if path != "/" {
                return Err(format!("{path}: not a path"));
            }
            for child in &node.children {
                if !self.nodes.contains_key(&crate::path::join(path, child)) {
                    return Err(format!("{path}: lists missing child {child}"));
                }
            }
            let indexed = match node.kind {
                NodeKind::Persistent => true,
                NodeKind::Ephemeral(owner) => {
                    ephemeral_count += 1;
                    self.ephemerals
                        .get(&owner)
                        .is_some_and(|s| s.contains(path))
                }
                NodeKind::Container => self.containers.contains(path),
                NodeKind::Ttl(_) => self.ttls.contains(path),
            };
            if !indexed {
                return Err(format!("{path}: missing from its kind index"));
            }
        }
        if self.digest.value().is_some_and(|kept| kept != digest) {
            return Err("tree digest differs from the sum of node digests".into());
        }
        if size != self.data_size {
            return Err(format!(
                "data size {} but nodes sum to {size}",
                self.data_size
            ));
        }
        if ephemeral_count != self.ephemeral_count()
            || self.ephemerals.values().any(BTreeSet::is_empty)
        {
            return Err("ephemeral index out of step".into());
        }
        let indexed_special = self.containers.len() + self.ttls.len();
        let special = self
            .nodes
            .values()
            .filter(|n| matches!(n.kind, NodeKind::Container | NodeKind::Ttl(_)))
            .count();
        if indexed_special != special {
            return Err("container/TTL index out of step".into());
        }
        if acl_users.len() != self.acls.len()
            || acl_users.iter().any(|(acl, n)| self.acls.count(acl) != *n)
        {
            return Err("ACL cache counts out of step".into());
        }
        Ok(())
    }
}
