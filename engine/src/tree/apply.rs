//! Applying transactions to the tree, following Apache's `DataTree.processTxn`.
//!
//! Apply never panics and never decides anything: a txn that does not fit the tree (which
//! only a corrupt log or a bug can produce) yields an error result, and every copy of the
//! tree yields the same one.

use std::collections::BTreeSet;

use super::{java_len, AclRef, DataTree, Node, CONFIG_NODE};
use crate::path::{split_last, validate_path};
use crate::txn::{NodeKind, Txn, TxnBody};
use crate::types::{Acl, ErrorCode, EventType, SessionId, Stat, Zxid};

/// A watch the change fires: the event for watches on `path`. `NodeDeleted` fires both
/// the data and the child watches of the deleted path, as Apache does. `acl` is the ACL of
/// the node the event is about (the parent's for `NodeChildrenChanged`): Apache only
/// delivers an event to a session that may READ that node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTrigger {
    pub path: String,
    pub event: EventType,
    pub acl: AclRef,
}

/// The result of one op, as the client's reply needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// create/create2/createContainer/createTTL: the final path and the new node's stat.
    Created {
        path: String,
        stat: Stat,
    },
    /// delete and deleteContainer.
    Deleted,
    /// setData: the node's stat afterwards.
    DataSet(Stat),
    /// setACL: the node's stat afterwards.
    AclSet(Stat),
    /// check (inside a multi).
    Checked,
    SessionCreated,
    SessionClosed,
    /// The op failed; inside a failed multi, ops before the failing one carry `Ok`.
    Error(ErrorCode),
}

impl OpResult {
    /// The error code of this op (`Ok` on success).
    pub fn err(&self) -> ErrorCode {
        match self {
            OpResult::Error(code) => *code,
            _ => ErrorCode::Ok,
        }
    }
}

/// A single op's result, or a multi's results in op order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Single(OpResult),
    Multi(Vec<OpResult>),
}

/// What applying a txn did: the client's results and the watches to fire, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    pub zxid: Zxid,
    pub outcome: Outcome,
    pub triggers: Vec<WatchTrigger>,
}

impl ApplyResult {
    /// The first error, as Apache's `ProcessTxnResult.err` (a failed multi reports the
    /// code of its failing op; its reply header still says Ok, which is the server's job).
    pub fn err(&self) -> ErrorCode {
        match &self.outcome {
            Outcome::Single(r) => r.err(),
            Outcome::Multi(rs) => rs
                .iter()
                .map(OpResult::err)
                .find(|e| *e != ErrorCode::Ok)
                .unwrap_or(ErrorCode::Ok),
        }
    }

    /// An op of `txn` that failed although prep said it would succeed, with its code.
    ///
    /// Prep validates every write against the tree as it will be when the write applies,
    /// and a write that fails there becomes an `Error` txn (or a multi of `Error` ops). So
    /// applying a prepared txn fails only where the txn itself says so; any other failure
    /// means this copy of the tree is not the one prep saw: a diverged copy, or a bug in
    /// prep or apply. Callers treat it as fatal rather than serve that copy.
    pub fn unexpected_error(&self, txn: &Txn) -> Option<ErrorCode> {
        let expects_success = |body: &TxnBody| !matches!(body, TxnBody::Error(_));
        match (&txn.body, &self.outcome) {
            (TxnBody::Multi(ops), Outcome::Multi(results)) => ops
                .iter()
                .zip(results)
                .find(|(op, r)| expects_success(op) && r.err() != ErrorCode::Ok)
                .map(|(_, r)| r.err()),
            (body, outcome) => {
                let err = match outcome {
                    Outcome::Single(r) => r.err(),
                    Outcome::Multi(_) => self.err(),
                };
                (expects_success(body) && err != ErrorCode::Ok).then_some(err)
            }
        }
    }
}

/// Apache's parent key (`""` for a top-level node) mapped to where we store the root.
fn parent_key(raw: &str) -> &str {
    if raw.is_empty() {
        "/"
    } else {
        raw
    }
}

/// Apache's rule for a parent's creation count on create: take the count the txn recorded
/// (-1: one more than now) if it is ahead, and move pzxid with it; never go back, so that
/// replaying over a newer snapshot leaves the count alone.
///
/// Apache compares plainly, which leaves a parent stuck at `i32::MAX` after 2^31 creates
/// (every later sequential name then collides); comparing in serial-number arithmetic lets
/// the count wrap to `i32::MIN` as prep's `+1` does, and agrees with Apache otherwise.
fn raise_cversion_of(p: &mut Node, parent_cversion: i32, zxid: Zxid) {
    let new = if parent_cversion == -1 {
        p.cversion.wrapping_add(1)
    } else {
        parent_cversion
    };
    if new.wrapping_sub(p.cversion) > 0 {
        p.cversion = new;
        p.pzxid = zxid;
    }
}

impl DataTree {
    /// Applies one txn. See the module documentation; the zxid becomes
    /// [`DataTree::last_zxid`] if it is the highest seen.
    pub fn apply(&mut self, txn: &Txn) -> ApplyResult {
        let mut triggers = Vec::new();
        let outcome = match &txn.body {
            TxnBody::Multi(ops) => Outcome::Multi(self.apply_multi(txn, ops, &mut triggers)),
            body => Outcome::Single(self.apply_op(txn, body, &mut triggers)),
        };
        if txn.zxid > self.last_zxid {
            self.last_zxid = txn.zxid;
        }
        ApplyResult {
            zxid: txn.zxid,
            outcome,
            triggers,
        }
    }

    /// Reports a watch trigger, unless this tree reports none
    /// ([`DataTree::without_watch_triggers`]).
    fn trigger(&self, triggers: &mut Vec<WatchTrigger>, path: &str, event: EventType, acl: AclRef) {
        if self.watch_triggers {
            triggers.push(WatchTrigger {
                path: path.to_owned(),
                event,
                acl,
            });
        }
    }

    fn apply_multi(
        &mut self,
        txn: &Txn,
        ops: &[TxnBody],
        triggers: &mut Vec<WatchTrigger>,
    ) -> Vec<OpResult> {
        let allowed = |op: &TxnBody| {
            !matches!(
                op,
                TxnBody::Multi(_)
                    | TxnBody::CreateSession { .. }
                    | TxnBody::CloseSession { .. }
                    | TxnBody::Reconfig { .. }
            )
        };
        if !ops.iter().all(allowed) {
            // Not something prep produces: refuse the whole multi rather than half-apply it.
            return ops
                .iter()
                .map(|_| OpResult::Error(ErrorCode::MarshallingError))
                .collect();
        }
        if ops.iter().any(|op| matches!(op, TxnBody::Error(_))) {
            // A failed multi changes nothing. Prep already wrote the codes; a txn with an
            // error among successes is rewritten as Apache's processTxn does: Ok before the
            // first error, RuntimeInconsistency after it.
            let mut past_error = false;
            return ops
                .iter()
                .map(|op| match op {
                    TxnBody::Error(code) => {
                        past_error = true;
                        OpResult::Error(*code)
                    }
                    _ if past_error => OpResult::Error(ErrorCode::RuntimeInconsistency),
                    _ => OpResult::Error(ErrorCode::Ok),
                })
                .collect();
        }
        ops.iter()
            .map(|op| self.apply_op(txn, op, triggers))
            .collect()
    }

    fn apply_op(
        &mut self,
        txn: &Txn,
        body: &TxnBody,
        triggers: &mut Vec<WatchTrigger>,
    ) -> OpResult {
        let result = match body {
            TxnBody::CreateSession { .. } => Ok(OpResult::SessionCreated),
            TxnBody::CloseSession { ephemerals } => {
                self.close_session(txn.session, txn.zxid, ephemerals, triggers);
                Ok(OpResult::SessionClosed)
            }
            TxnBody::Create {
                path,
                data,
                acl,
                kind,
                parent_cversion,
            } => self
                .create_node(
                    path,
                    data.as_deref(),
                    acl,
                    *kind,
                    *parent_cversion,
                    txn.zxid,
                    txn.time_ms,
                    triggers,
                )
                .map(|stat| OpResult::Created {
                    path: path.clone(),
                    stat,
                }),
            TxnBody::Delete { path } => self
                .delete_node(path, txn.zxid, triggers)
                .map(|()| OpResult::Deleted),
            TxnBody::SetData {
                path,
                data,
                version,
            } => self
                .set_data(
                    path,
                    data.as_deref(),
                    *version,
                    txn.zxid,
                    txn.time_ms,
                    triggers,
                )
                .map(OpResult::DataSet),
            TxnBody::SetAcl { path, acl, version } => {
                self.set_acl(path, acl, *version).map(OpResult::AclSet)
            }
            // Apache's processTxn does not look at the node for a check: prep did.
            TxnBody::Check { .. } => Ok(OpResult::Checked),
            TxnBody::Error(code) => Err(*code),
            TxnBody::Reconfig { servers } => Ok(OpResult::DataSet(
                self.apply_reconfig(txn, servers, triggers),
            )),
            TxnBody::Multi(_) => Err(ErrorCode::MarshallingError),
        };
        result.unwrap_or_else(OpResult::Error)
    }

    /// Changes a node through `f`, keeping the tree digest in step.
    fn update<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let node = self.nodes.get_mut(path)?;
        self.digest.remove(path, node);
        let r = f(node);
        self.digest.add(path, node);
        Some(r)
    }

    /// Apache's `setCversionPzxid`: raises a parent's creation count (and pzxid with it)
    /// to what a create txn recorded, never lowering it. -1 means one more than now.
    fn raise_cversion(&mut self, parent: &str, parent_cversion: i32, zxid: Zxid) {
        self.update(parent, |p| {
            raise_cversion_of(p, parent_cversion, zxid);
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        kind: NodeKind,
        parent_cversion: i32,
        zxid: Zxid,
        time_ms: i64,
        triggers: &mut Vec<WatchTrigger>,
    ) -> Result<Stat, ErrorCode> {
        if path == "/" {
            return Err(ErrorCode::NodeExists);
        }
        let Some((raw_parent, name)) = split_last(path) else {
            return Err(ErrorCode::BadArguments);
        };
        // Prep validated the path; checking again keeps a corrupt txn from planting a node
        // no client could name.
        validate_path(path, false)?;
        let parent = parent_key(raw_parent);
        if !self.nodes.contains_key(parent) {
            return Err(ErrorCode::NoNode);
        }
        if self.nodes.contains_key(path) {
            // Apache's replay rule (fuzzy snapshots): the parent still takes the cversion
            // the txn recorded.
            self.raise_cversion(parent, parent_cversion, zxid);
            return Err(ErrorCode::NodeExists);
        }
        let parent_acl = self
            .update(parent, |p| {
                raise_cversion_of(p, parent_cversion, zxid);
                p.children.insert(name.to_owned());
                p.acl.clone()
            })
            .ok_or(ErrorCode::NoNode)?;
        let node = Node {
            data: data.map(<[u8]>::to_vec),
            acl: self.acls.acquire(acl),
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            kind,
            children: BTreeSet::new(),
            data_hash: self.data_hash(path, data),
        };
        let stat = node.stat();
        let node_acl = node.acl.clone();
        self.digest.add(path, &node);
        self.data_size += java_len(path) + node.data_len() as u64;
        self.nodes.insert(path.to_owned(), node);
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(owner) => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(path.to_owned());
            }
            NodeKind::Container => {
                self.containers.insert(path.to_owned());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
        }
        self.trigger(triggers, path, EventType::NodeCreated, node_acl);
        self.trigger(triggers, parent, EventType::NodeChildrenChanged, parent_acl);
        Ok(stat)
    }

    fn delete_node(
        &mut self,
        path: &str,
        zxid: Zxid,
        triggers: &mut Vec<WatchTrigger>,
    ) -> Result<(), ErrorCode> {
        // Deleting the root would orphan the whole tree; Apache relies on prep alone.
        if path == "/" || path.is_empty() {
            return Err(ErrorCode::BadArguments);
        }
        let Some((raw_parent, name)) = split_last(path) else {
            return Err(ErrorCode::BadArguments);
        };
        let parent = parent_key(raw_parent);
        if !self.nodes.contains_key(parent) {
            return Err(ErrorCode::NoNode);
        }
        // Unlike Apache we refuse to orphan children, which only a corrupt txn could ask.
        if self.nodes.get(path).is_some_and(|n| !n.children.is_empty()) {
            return Err(ErrorCode::NotEmpty);
        }
        // As in Apache, the parent's pzxid moves even if the child is already gone, so a
        // replay over a fuzzy snapshot ends where the original did.
        let parent_acl = self
            .update(parent, |p| {
                p.children.remove(name);
                if zxid > p.pzxid {
                    p.pzxid = zxid;
                }
                p.acl.clone()
            })
            .ok_or(ErrorCode::NoNode)?;
        let node = self.nodes.remove(path).ok_or(ErrorCode::NoNode)?;
        self.digest.remove(path, &node);
        self.data_size = self
            .data_size
            .saturating_sub(java_len(path) + node.data_len() as u64);
        self.acls.release(&node.acl);
        match node.kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(owner) => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
        self.trigger(triggers, path, EventType::NodeDeleted, node.acl);
        self.trigger(triggers, parent, EventType::NodeChildrenChanged, parent_acl);
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: Zxid,
        time_ms: i64,
        triggers: &mut Vec<WatchTrigger>,
    ) -> Result<Stat, ErrorCode> {
        let key = if path.is_empty() { "/" } else { path };
        let data_hash = self.data_hash(key, data);
        let (stat, acl, old_len) = self
            .update(key, |n| {
                let old_len = n.data_len() as u64;
                n.data = data.map(<[u8]>::to_vec);
                n.data_hash = data_hash;
                n.mtime = time_ms;
                n.mzxid = zxid;
                n.version = version;
                (n.stat(), n.acl.clone(), old_len)
            })
            .ok_or(ErrorCode::NoNode)?;
        let new_len = data.map_or(0, <[u8]>::len) as u64;
        self.data_size = self.data_size.saturating_sub(old_len) + new_len;
        self.trigger(triggers, key, EventType::NodeDataChanged, acl);
        Ok(stat)
    }

    /// A committed reconfiguration, as Apache applies its `SetDataTxn` on the config node:
    /// `/zookeeper/config` holds the new lines and `version=<hex zxid>`, its mzxid and
    /// mtime are the txn's, and its data watches fire.
    fn apply_reconfig(
        &mut self,
        txn: &Txn,
        servers: &[String],
        triggers: &mut Vec<WatchTrigger>,
    ) -> Stat {
        let text = crate::txn::config_node_text(servers, txn.zxid);
        let stat = self.set_config_data(text.as_bytes(), txn.zxid, txn.time_ms);
        let acl = self
            .nodes
            .get(CONFIG_NODE)
            .map(|n| n.acl.clone())
            .unwrap_or_default();
        self.trigger(triggers, CONFIG_NODE, EventType::NodeDataChanged, acl);
        stat
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let key = if path.is_empty() { "/" } else { path };
        if !self.nodes.contains_key(key) {
            return Err(ErrorCode::NoNode);
        }
        let shared = self.acls.acquire(acl);
        let old = self
            .update(key, |n| {
                n.aversion = version;
                std::mem::replace(&mut n.acl, shared)
            })
            .ok_or(ErrorCode::NoNode)?;
        self.acls.release(&old);
        self.stat(key).ok_or(ErrorCode::NoNode)
    }

    /// Apache's `killSession`: deletes the paths the txn lists, then any other ephemeral
    /// this tree still holds for the session (in sorted order), ignoring ones already gone.
    fn close_session(
        &mut self,
        session: SessionId,
        zxid: Zxid,
        listed: &[String],
        triggers: &mut Vec<WatchTrigger>,
    ) {
        for path in listed {
            let _ = self.delete_node(path, zxid, triggers);
        }
        for path in self.ephemerals(session) {
            let _ = self.delete_node(&path, zxid, triggers);
        }
    }
}
