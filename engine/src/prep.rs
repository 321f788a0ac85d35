//! Request preparation: validating a client's write against the latest tree and turning it
//! into a deterministic [`TxnBody`], as Apache's `PrepRequestProcessor.pRequest2Txn` does.
//!
//! The sequencer calls [`prep`] (or [`prep_multi`]), wraps the body in a [`crate::txn::Txn`]
//! with the zxid and time it assigns, and applies that txn to its own tree at once, so the
//! next request is validated against the new state. Apache keeps "outstanding change
//! records" for writes not yet applied; applying at once makes them unnecessary, except
//! inside a multi, whose later ops must see the earlier ones: that is the [`Overlay`].
//!
//! Checks run in Apache's order, because the order decides which error a client sees when
//! several apply. Session checks (SessionExpired, SessionMoved, EphemeralOnLocalSession)
//! and quota enforcement come before or outside this module and are the caller's.

use std::collections::HashMap;
use std::sync::Arc;

use crate::acl::{check_perm, fix_acl, AclSchemes};
use crate::path::{split_last, validate_path};
use crate::tree::{DataTree, NodeMeta, CONFIG_NODE, QUOTA_NODE, ZOOKEEPER_NODE};
use crate::txn::{NodeKind, TxnBody, TTL_MAX_MS};
use crate::types::{perms, Acl, CreateMode, ErrorCode, Id, SessionId};

/// A client write, decoded from any of the create, delete, setData, setACL, check and
/// deleteContainer requests (alone or inside a multi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// `ttl_ms` is the createTTL request's ttl; `None` for the other create requests
    /// (Apache's -1). The mode decides the node kind.
    ///
    /// `data` is `None` when the client sent null (a jute buffer of length -1): Apache
    /// stores null apart from empty, and getData answers null afterwards.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: Option<i64>,
    },
    /// `version` -1 matches any version.
    Delete {
        path: String,
        version: i32,
    },
    /// `data` is `None` for null, as in `Create`.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// Sent by the container reaper (and, rarely, by clients): deletes an empty node unless
    /// it is an ephemeral one. There is no ACL check, as in Apache.
    DeleteContainer {
        path: String,
    },
}

/// Who is writing, and the server settings prep depends on.
#[derive(Debug, Clone, Copy)]
pub struct PrepContext<'a> {
    pub session: SessionId,
    /// The session's authenticated ids, `ip:<address>` and `super` included where they apply.
    pub auth: &'a [Id],
    /// `zookeeper.extendedTypesEnabled`: TTL nodes are refused (Unimplemented) without it.
    pub extended_types: bool,
    /// The largest TTL accepted; Apache's fixed limit is [`TTL_MAX_MS`].
    pub ttl_max_ms: i64,
    /// The ACL schemes with a registered provider beyond `digest` and `ip`.
    pub acl_schemes: AclSchemes,
}

impl<'a> PrepContext<'a> {
    /// A context with Apache's defaults: extended types off, the full TTL range, no
    /// `sasl` or `x509` provider.
    pub fn new(session: SessionId, auth: &'a [Id]) -> Self {
        Self {
            session,
            auth,
            extended_types: false,
            ttl_max_ms: TTL_MAX_MS,
            acl_schemes: AclSchemes::default(),
        }
    }
}

/// Validates one write against `tree` and returns the txn body that performs it, or the
/// error code the client gets (which the sequencer may log as a `TxnBody::Error`).
pub fn prep(tree: &DataTree, ctx: &PrepContext<'_>, op: &WriteOp) -> Result<TxnBody, ErrorCode> {
    prep_op(tree, ctx, op).map(|(body, _)| body)
}

/// Validates a multi. Every op sees the effect of the ones before it. On the first failure
/// the result is a multi of errors: `Ok` for the ops before, the failing op's code, and
/// `RuntimeInconsistency` for the ops after, which is exactly the reply Apache sends.
pub fn prep_multi(tree: &DataTree, ctx: &PrepContext<'_>, ops: &[WriteOp]) -> TxnBody {
    let mut overlay = Overlay {
        tree,
        changes: HashMap::new(),
    };
    let mut bodies = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match prep_op(&overlay, ctx, op) {
            Ok((body, changes)) => {
                overlay.changes.extend(changes);
                bodies.push(body);
            }
            Err(code) => {
                let mut failed = vec![TxnBody::Error(ErrorCode::Ok); i];
                failed.push(TxnBody::Error(code));
                failed.resize(ops.len(), TxnBody::Error(ErrorCode::RuntimeInconsistency));
                return TxnBody::Multi(failed);
            }
        }
    }
    TxnBody::Multi(bodies)
}

/// The txn that closes a session: it deletes the session's ephemeral nodes as the
/// sequencer's (always current) tree lists them.
pub fn prep_close_session(tree: &DataTree, session: SessionId) -> TxnBody {
    TxnBody::CloseSession {
        ephemerals: tree.ephemerals(session),
    }
}

/// The state prep reads: the tree itself, or the tree plus a multi's earlier ops.
trait View {
    fn meta(&self, path: &str) -> Option<NodeMeta>;
}

impl View for DataTree {
    fn meta(&self, path: &str) -> Option<NodeMeta> {
        DataTree::meta(self, path)
    }
}

/// A multi's pending changes over the tree: `None` marks a node deleted earlier in the multi.
struct Overlay<'t> {
    tree: &'t DataTree,
    changes: HashMap<String, Option<NodeMeta>>,
}

impl View for Overlay<'_> {
    fn meta(&self, path: &str) -> Option<NodeMeta> {
        let key = if path.is_empty() { "/" } else { path };
        match self.changes.get(key) {
            Some(change) => change.clone(),
            None => self.tree.meta(key),
        }
    }
}

/// What an op changes, for the ops after it in the same multi.
type Changes = Vec<(String, Option<NodeMeta>)>;

/// Apache stores the root under `""` too; a top-level node's parent is looked up there.
fn parent_key(raw: &str) -> &str {
    if raw.is_empty() {
        "/"
    } else {
        raw
    }
}

/// Apache's `checkAndIncVersion`: -1 matches any version, and the version after
/// `i32::MAX` wraps to `i32::MIN`, skipping -1 (ZOOKEEPER-4743) so that clients can still
/// name every version they may see.
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

fn require(allowed: bool, code: ErrorCode) -> Result<(), ErrorCode> {
    if allowed {
        Ok(())
    } else {
        Err(code)
    }
}

/// Apache's `getParentPathAndValidate`: the raw parent of a path to delete, refusing
/// paths without a slash, with a NUL, and the system nodes.
fn parent_for_delete(path: &str) -> Result<&str, ErrorCode> {
    let special = matches!(path, "/" | ZOOKEEPER_NODE | QUOTA_NODE | CONFIG_NODE);
    match split_last(path) {
        Some((raw, _)) if !special && !path.contains('\0') => Ok(parent_key(raw)),
        _ => Err(ErrorCode::BadArguments),
    }
}

fn prep_op(
    view: &impl View,
    ctx: &PrepContext<'_>,
    op: &WriteOp,
) -> Result<(TxnBody, Changes), ErrorCode> {
    match op {
        WriteOp::Create {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        } => prep_create(
            view,
            ctx,
            path,
            data.as_deref(),
            acl,
            *mode,
            ttl_ms.unwrap_or(-1),
        ),
        WriteOp::Delete { path, version } => {
            let parent_path = parent_for_delete(path)?;
            let parent = view.meta(parent_path).ok_or(ErrorCode::NoNode)?;
            require(
                check_perm(&parent.acl, perms::DELETE, ctx.auth),
                ErrorCode::NoAuth,
            )?;
            let node = view.meta(path).ok_or(ErrorCode::NoNode)?;
            check_and_inc_version(node.version, *version)?;
            require(node.num_children == 0, ErrorCode::NotEmpty)?;
            Ok(deletion(path, parent_path, parent))
        }
        WriteOp::DeleteContainer { path } => {
            let parent_path = parent_for_delete(path)?;
            let node = view.meta(path).ok_or(ErrorCode::NoNode)?;
            require(node.num_children == 0, ErrorCode::NotEmpty)?;
            // Apache answers BadVersion here: the reaper never means an ephemeral node.
            require(
                !matches!(node.kind, NodeKind::Ephemeral(_)),
                ErrorCode::BadVersion,
            )?;
            let parent = view.meta(parent_path).ok_or(ErrorCode::NoNode)?;
            Ok(deletion(path, parent_path, parent))
        }
        WriteOp::SetData {
            path,
            data,
            version,
        } => {
            validate_path(path, false)?;
            let mut node = view.meta(path).ok_or(ErrorCode::NoNode)?;
            require(
                check_perm(&node.acl, perms::WRITE, ctx.auth),
                ErrorCode::NoAuth,
            )?;
            let new_version = check_and_inc_version(node.version, *version)?;
            node.version = new_version;
            let body = TxnBody::SetData {
                path: path.clone(),
                data: data.clone(),
                version: new_version,
            };
            Ok((body, vec![(path.clone(), Some(node))]))
        }
        WriteOp::SetAcl { path, acl, version } => {
            validate_path(path, false)?;
            let acl = fix_acl(acl, ctx.auth, ctx.acl_schemes)?;
            let mut node = view.meta(path).ok_or(ErrorCode::NoNode)?;
            require(
                check_perm(&node.acl, perms::ADMIN, ctx.auth),
                ErrorCode::NoAuth,
            )?;
            let new_version = check_and_inc_version(node.aversion, *version)?;
            node.aversion = new_version;
            node.acl = Arc::from(acl.as_slice());
            let body = TxnBody::SetAcl {
                path: path.clone(),
                acl,
                version: new_version,
            };
            Ok((body, vec![(path.clone(), Some(node))]))
        }
        WriteOp::Check { path, version } => {
            validate_path(path, false)?;
            let node = view.meta(path).ok_or(ErrorCode::NoNode)?;
            require(
                check_perm(&node.acl, perms::READ, ctx.auth),
                ErrorCode::NoAuth,
            )?;
            let next = check_and_inc_version(node.version, *version)?;
            Ok((
                TxnBody::Check {
                    path: path.clone(),
                    version: next,
                },
                Vec::new(),
            ))
        }
    }
}

/// The txn and the multi changes of deleting `path`, whose parent is `parent`.
fn deletion(path: &str, parent_path: &str, mut parent: NodeMeta) -> (TxnBody, Changes) {
    parent.num_children = parent.num_children.saturating_sub(1);
    let changes = vec![
        (parent_path.to_owned(), Some(parent)),
        (path.to_owned(), None),
    ];
    (
        TxnBody::Delete {
            path: path.to_owned(),
        },
        changes,
    )
}

fn prep_create(
    view: &impl View,
    ctx: &PrepContext<'_>,
    path: &str,
    data: Option<&[u8]>,
    acl: &[Acl],
    mode: CreateMode,
    ttl: i64,
) -> Result<(TxnBody, Changes), ErrorCode> {
    // validateCreateRequest: TTL support, then EphemeralType.validateTTL.
    require(
        !mode.is_ttl() || ctx.extended_types,
        ErrorCode::Unimplemented,
    )?;
    let ttl_ok = if mode.is_ttl() {
        ttl > 0 && ttl <= ctx.ttl_max_ms.min(TTL_MAX_MS)
    } else {
        ttl < 0
    };
    require(ttl_ok, ErrorCode::BadArguments)?;
    // validatePathForCreate: only the slash and NUL here; the full check waits for the
    // sequence suffix.
    let raw_parent = match split_last(path) {
        Some((raw, _)) if !path.contains('\0') => raw,
        _ => return Err(ErrorCode::BadArguments),
    };
    let acl = fix_acl(acl, ctx.auth, ctx.acl_schemes)?;
    let parent_path = parent_key(raw_parent);
    let mut parent = view.meta(parent_path).ok_or(ErrorCode::NoNode)?;
    require(
        check_perm(&parent.acl, perms::CREATE, ctx.auth),
        ErrorCode::NoAuth,
    )?;
    let path = if mode.is_sequential() {
        // Java's %010d: zero-padded to ten characters, sign first when negative.
        format!("{path}{:010}", parent.cversion)
    } else {
        path.to_owned()
    };
    validate_path(&path, false)?;
    require(view.meta(&path).is_none(), ErrorCode::NodeExists)?;
    require(
        !matches!(parent.kind, NodeKind::Ephemeral(_)),
        ErrorCode::NoChildrenForEphemerals,
    )?;
    let new_cversion = parent.cversion.wrapping_add(1);
    let kind = if mode.is_container() {
        NodeKind::Container
    } else if mode.is_ttl() {
        NodeKind::Ttl(ttl)
    } else if mode.is_ephemeral() {
        NodeKind::Ephemeral(ctx.session)
    } else {
        NodeKind::Persistent
    };
    parent.cversion = new_cversion;
    parent.num_children += 1;
    let node = NodeMeta {
        version: 0,
        aversion: 0,
        cversion: 0,
        kind,
        num_children: 0,
        acl: Arc::from(acl.as_slice()),
    };
    let changes = vec![
        (parent_path.to_owned(), Some(parent)),
        (path.clone(), Some(node)),
    ];
    let body = TxnBody::Create {
        path,
        data: data.map(<[u8]>::to_vec),
        acl,
        kind,
        parent_cversion: new_cversion,
    };
    Ok((body, changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::digest;
    use crate::tree::{OpResult, Outcome};
    use crate::txn::Txn;
    use crate::types::perms::*;

    const SESSION: SessionId = 0x100;

    /// A miniature sequencer: prep, then apply at once with the next zxid.
    struct Seq {
        tree: DataTree,
        zxid: i64,
        log: Vec<Txn>,
    }

    impl Seq {
        fn new() -> Self {
            Seq {
                tree: DataTree::new(),
                zxid: 0,
                log: Vec::new(),
            }
        }

        fn commit(&mut self, session: SessionId, body: TxnBody) -> Outcome {
            self.zxid += 1;
            let txn = Txn {
                zxid: self.zxid,
                time_ms: 1000 + self.zxid,
                session,
                cxid: 0,
                body,
            };
            let r = self.tree.apply(&txn);
            self.log.push(txn);
            r.outcome
        }

        fn run(&mut self, auth: &[Id], op: WriteOp) -> Result<Outcome, ErrorCode> {
            let ctx = PrepContext {
                extended_types: true,
                ..PrepContext::new(SESSION, auth)
            };
            let body = prep(&self.tree, &ctx, &op)?;
            Ok(self.commit(SESSION, body))
        }

        fn ok(&mut self, op: WriteOp) -> Outcome {
            self.run(&[], op).unwrap()
        }

        fn err(&mut self, auth: &[Id], op: WriteOp) -> ErrorCode {
            match self.run(auth, op) {
                Ok(o) => panic!("expected an error, got {o:?}"),
                Err(e) => e,
            }
        }

        fn multi(&mut self, ops: &[WriteOp]) -> Vec<OpResult> {
            let auth: &[Id] = &[];
            let ctx = PrepContext {
                extended_types: true,
                ..PrepContext::new(SESSION, auth)
            };
            let body = prep_multi(&self.tree, &ctx, ops);
            match self.commit(SESSION, body) {
                Outcome::Multi(results) => results,
                other => panic!("{other:?}"),
            }
        }
    }

    fn create_with(path: &str, mode: CreateMode, acl: Vec<Acl>) -> WriteOp {
        WriteOp::Create {
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl,
            mode,
            ttl_ms: None,
        }
    }

    fn create(path: &str, mode: CreateMode) -> WriteOp {
        create_with(path, mode, Acl::open_unsafe())
    }

    fn created_path(o: &Outcome) -> String {
        match o {
            Outcome::Single(OpResult::Created { path, .. }) => path.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn delete(path: &str, version: i32) -> WriteOp {
        WriteOp::Delete {
            path: path.into(),
            version,
        }
    }

    fn set_data(path: &str, version: i32) -> WriteOp {
        WriteOp::SetData {
            path: path.into(),
            data: Some(b"new".to_vec()),
            version,
        }
    }

    #[test]
    fn null_data_passes_through_to_the_txn_and_tree() {
        let mut s = Seq::new();
        s.ok(WriteOp::Create {
            path: "/n".into(),
            data: None,
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl_ms: None,
        });
        assert!(matches!(&s.log[0].body, TxnBody::Create { data: None, .. }));
        assert_eq!(s.tree.get_data_or_null("/n").unwrap().0, None);
        s.ok(set_data("/n", 0));
        let results = s.multi(&[WriteOp::SetData {
            path: "/n".into(),
            data: None,
            version: 1,
        }]);
        assert_eq!(results[0].err(), ErrorCode::Ok);
        assert!(matches!(
            &s.log[2].body,
            TxnBody::Multi(ops) if matches!(&ops[0], TxnBody::SetData { data: None, .. })
        ));
        let (data, stat) = s.tree.get_data_or_null("/n").unwrap();
        assert_eq!((data, stat.version, stat.data_length), (None, 2, 0));
    }

    #[test]
    fn sequential_names_count_creates_even_after_deletes() {
        let mut s = Seq::new();
        s.ok(create("/q", CreateMode::Persistent));
        let a = created_path(&s.ok(create("/q/n-", CreateMode::PersistentSequential)));
        let b = created_path(&s.ok(create("/q/n-", CreateMode::EphemeralSequential)));
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("/q/n-0000000000", "/q/n-0000000001")
        );
        s.ok(delete(&a, -1));
        s.ok(delete(&b, -1));
        assert_eq!(
            created_path(&s.ok(create("/q/n-", CreateMode::PersistentSequential))),
            "/q/n-0000000002"
        );
        // A bare "/q/" is a valid sequential prefix; the root's count names top-level ones.
        assert_eq!(
            created_path(&s.ok(create("/q/", CreateMode::PersistentSequential))),
            "/q/0000000003"
        );
        assert_eq!(
            created_path(&s.ok(create("/", CreateMode::PersistentSequential))),
            "/0000000001"
        );
        assert_eq!(s.tree.stat("/q").unwrap().cversion, 4 * 2 - 2);
    }

    #[test]
    fn sequential_name_with_negative_count_is_javas_percent_010d() {
        let mut s = Seq::new();
        s.ok(create("/p", CreateMode::Persistent));
        // Drive the persisted count negative as 2^31 creates would.
        let body = TxnBody::Create {
            path: "/p/x".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            kind: NodeKind::Persistent,
            parent_cversion: i32::MAX,
        };
        s.commit(SESSION, body);
        let wrapped = created_path(&s.ok(create("/p/s", CreateMode::PersistentSequential)));
        assert_eq!(wrapped, "/p/s2147483647");
        assert_eq!(s.tree.meta("/p").unwrap().cversion, i32::MIN);
        assert_eq!(
            created_path(&s.ok(create("/p/s", CreateMode::PersistentSequential))),
            "/p/s-2147483648"
        );
        assert_eq!(format!("{:010}", -5), "-000000005");
    }

    #[test]
    fn create_errors_in_apache_order() {
        let mut s = Seq::new();
        let none: &[Id] = &[];
        // TTL checks come first: Unimplemented without extended types...
        let ttl = WriteOp::Create {
            path: "/t".into(),
            data: Some(vec![]),
            acl: vec![],
            mode: CreateMode::PersistentWithTtl,
            ttl_ms: Some(10),
        };
        let ctx = PrepContext::new(SESSION, none);
        assert_eq!(prep(&s.tree, &ctx, &ttl), Err(ErrorCode::Unimplemented));
        // ...then the TTL range (even before the empty ACL or the path is looked at).
        let bad_ttl = |ttl_ms| WriteOp::Create {
            path: "bad".into(),
            data: Some(vec![]),
            acl: vec![],
            mode: CreateMode::PersistentWithTtl,
            ttl_ms,
        };
        assert_eq!(s.err(none, bad_ttl(Some(0))), ErrorCode::BadArguments);
        assert_eq!(s.err(none, bad_ttl(None)), ErrorCode::BadArguments);
        assert_eq!(
            s.err(none, bad_ttl(Some(TTL_MAX_MS + 1))),
            ErrorCode::BadArguments
        );
        let ttl_on_persistent = WriteOp::Create {
            path: "/p".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl_ms: Some(5),
        };
        assert_eq!(s.err(none, ttl_on_persistent), ErrorCode::BadArguments);
        // No slash or a NUL: BadArguments before the ACL is checked.
        assert_eq!(
            s.err(none, create_with("x", CreateMode::Persistent, vec![])),
            ErrorCode::BadArguments
        );
        assert_eq!(
            s.err(none, create_with("/a\0", CreateMode::Persistent, vec![])),
            ErrorCode::BadArguments
        );
        // The ACL before the parent: InvalidAcl even under a missing parent.
        assert_eq!(
            s.err(none, create_with("/no/x", CreateMode::Persistent, vec![])),
            ErrorCode::InvalidAcl
        );
        assert_eq!(
            s.err(none, create("/no/x", CreateMode::Persistent)),
            ErrorCode::NoNode
        );
        // The parent's CREATE permission before the full path check and NodeExists.
        s.ok(create_with(
            "/ro",
            CreateMode::Persistent,
            Acl::read_unsafe(),
        ));
        assert_eq!(
            s.err(none, create("/ro/a//b", CreateMode::Persistent)),
            ErrorCode::NoNode
        );
        assert_eq!(
            s.err(none, create("/ro/", CreateMode::Persistent)),
            ErrorCode::NoAuth
        );
        assert_eq!(
            s.err(none, create("/ro/x", CreateMode::Persistent)),
            ErrorCode::NoAuth
        );
        s.ok(create("/a", CreateMode::Persistent));
        assert_eq!(
            s.err(none, create("/a/", CreateMode::Persistent)),
            ErrorCode::BadArguments
        );
        assert_eq!(
            s.err(none, create("/a/.", CreateMode::Persistent)),
            ErrorCode::BadArguments
        );
        assert_eq!(
            s.err(none, create("/a", CreateMode::Persistent)),
            ErrorCode::NodeExists
        );
        assert_eq!(
            s.err(none, create("/", CreateMode::Persistent)),
            ErrorCode::NodeExists
        );
        // NodeExists comes before NoChildrenForEphemerals.
        s.ok(create("/e", CreateMode::Ephemeral));
        assert_eq!(
            s.err(none, create("/e", CreateMode::Persistent)),
            ErrorCode::NodeExists
        );
        assert_eq!(
            s.err(none, create("/e/c", CreateMode::Persistent)),
            ErrorCode::NoChildrenForEphemerals
        );
    }

    #[test]
    fn create_kinds_and_owners() {
        let mut s = Seq::new();
        s.ok(create("/e", CreateMode::Ephemeral));
        s.ok(create("/c", CreateMode::Container));
        let ttl = WriteOp::Create {
            path: "/t".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentWithTtl,
            ttl_ms: Some(500),
        };
        s.ok(ttl);
        assert_eq!(s.tree.kind("/e"), Some(NodeKind::Ephemeral(SESSION)));
        assert_eq!(s.tree.stat("/e").unwrap().ephemeral_owner, SESSION);
        assert_eq!(s.tree.kind("/c"), Some(NodeKind::Container));
        assert_eq!(s.tree.kind("/t"), Some(NodeKind::Ttl(500)));
        // Children of containers and TTL nodes are allowed.
        s.ok(create("/c/x", CreateMode::Persistent));
        s.ok(create("/t/x", CreateMode::Persistent));
        // The max TTL setting is honoured.
        let auth: &[Id] = &[];
        let ctx = PrepContext {
            extended_types: true,
            ttl_max_ms: 100,
            ..PrepContext::new(SESSION, auth)
        };
        let long = WriteOp::Create {
            path: "/t2".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentWithTtl,
            ttl_ms: Some(101),
        };
        assert_eq!(prep(&s.tree, &ctx, &long), Err(ErrorCode::BadArguments));
    }

    #[test]
    fn delete_rules_and_order() {
        let mut s = Seq::new();
        let none: &[Id] = &[];
        for special in [
            "/",
            "/zookeeper",
            "/zookeeper/quota",
            "/zookeeper/config",
            "",
            "noslash",
            "/a\0b",
        ] {
            assert_eq!(
                s.err(none, delete(special, -1)),
                ErrorCode::BadArguments,
                "{special:?}"
            );
        }
        assert_eq!(s.err(none, delete("/x/y", -1)), ErrorCode::NoNode);
        // DELETE on the parent is checked before the node is even looked up.
        let no_delete = vec![Acl::new(ALL & !DELETE, Id::anyone())];
        s.ok(create_with("/locked", CreateMode::Persistent, no_delete));
        assert_eq!(
            s.err(none, delete("/locked/missing", -1)),
            ErrorCode::NoAuth
        );
        s.ok(create("/locked/c", CreateMode::Persistent));
        assert_eq!(s.err(none, delete("/locked/c", -1)), ErrorCode::NoAuth);
        // The node's own ACL does not matter.
        s.ok(create_with(
            "/mine",
            CreateMode::Persistent,
            Acl::read_unsafe(),
        ));
        assert_eq!(s.err(none, delete("/missing", -1)), ErrorCode::NoNode);
        s.ok(create("/v", CreateMode::Persistent));
        s.ok(create("/v/child", CreateMode::Persistent));
        // BadVersion comes before NotEmpty.
        assert_eq!(s.err(none, delete("/v", 3)), ErrorCode::BadVersion);
        assert_eq!(s.err(none, delete("/v", 0)), ErrorCode::NotEmpty);
        s.ok(delete("/v/child", 0));
        assert_eq!(s.ok(delete("/v", -1)), Outcome::Single(OpResult::Deleted));
        assert_eq!(
            s.ok(delete("/mine", -1)),
            Outcome::Single(OpResult::Deleted)
        );
    }

    #[test]
    fn set_data_set_acl_and_check() {
        let mut s = Seq::new();
        let none: &[Id] = &[];
        assert_eq!(s.err(none, set_data("/a/", -1)), ErrorCode::BadArguments);
        assert_eq!(s.err(none, set_data("/a", -1)), ErrorCode::NoNode);
        s.ok(create("/a", CreateMode::Persistent));
        assert_eq!(s.err(none, set_data("/a", 5)), ErrorCode::BadVersion);
        s.ok(set_data("/a", 0));
        s.ok(set_data("/a", -1));
        assert_eq!(s.tree.stat("/a").unwrap().version, 2);
        s.ok(create_with(
            "/r",
            CreateMode::Persistent,
            Acl::read_unsafe(),
        ));
        // WRITE is checked before the version.
        assert_eq!(s.err(none, set_data("/r", 99)), ErrorCode::NoAuth);

        let set_acl = |path: &str, acl: Vec<Acl>, version| WriteOp::SetAcl {
            path: path.into(),
            acl,
            version,
        };
        assert_eq!(
            s.err(none, set_acl("/a", vec![], -1)),
            ErrorCode::InvalidAcl
        );
        // The new ACL is validated before the node is looked up.
        assert_eq!(
            s.err(none, set_acl("/missing", vec![], -1)),
            ErrorCode::InvalidAcl
        );
        assert_eq!(
            s.err(none, set_acl("/missing", Acl::open_unsafe(), -1)),
            ErrorCode::NoNode
        );
        assert_eq!(
            s.err(none, set_acl("/r", Acl::open_unsafe(), -1)),
            ErrorCode::NoAuth
        );
        assert_eq!(
            s.err(none, set_acl("/a", Acl::read_unsafe(), 1)),
            ErrorCode::BadVersion
        );
        match s.ok(set_acl("/a", Acl::read_unsafe(), 0)) {
            Outcome::Single(OpResult::AclSet(stat)) => assert_eq!(stat.aversion, 1),
            other => panic!("{other:?}"),
        }

        let check = |path: &str, version| WriteOp::Check {
            path: path.into(),
            version,
        };
        assert_eq!(s.err(none, check("bad", 1)), ErrorCode::BadArguments);
        assert_eq!(s.err(none, check("/nope", 1)), ErrorCode::NoNode);
        assert_eq!(s.err(none, check("/a", 1)), ErrorCode::BadVersion);
        assert_eq!(s.ok(check("/a", 2)), Outcome::Single(OpResult::Checked));
        // check needs READ.
        s.ok(create_with(
            "/w",
            CreateMode::Persistent,
            vec![Acl::new(WRITE, Id::anyone())],
        ));
        assert_eq!(s.err(none, check("/w", -1)), ErrorCode::NoAuth);
    }

    #[test]
    fn versions_wrap_like_apache_and_skip_minus_one() {
        assert_eq!(check_and_inc_version(i32::MAX, -1), Ok(i32::MIN));
        assert_eq!(check_and_inc_version(-2, -2), Ok(0));
        assert_eq!(check_and_inc_version(4, 4), Ok(5));
        assert_eq!(check_and_inc_version(4, 3), Err(ErrorCode::BadVersion));
    }

    #[test]
    fn delete_container_rules() {
        let mut s = Seq::new();
        let none: &[Id] = &[];
        let dc = |p: &str| WriteOp::DeleteContainer { path: p.into() };
        assert_eq!(s.err(none, dc("/zookeeper")), ErrorCode::BadArguments);
        assert_eq!(s.err(none, dc("/c")), ErrorCode::NoNode);
        // The parent forbids DELETE, which deleteContainer does not check.
        s.ok(create_with(
            "/locked",
            CreateMode::Persistent,
            vec![Acl::new(ALL & !DELETE, Id::anyone())],
        ));
        s.ok(create("/locked/c", CreateMode::Container));
        s.ok(create("/locked/c/x", CreateMode::Persistent));
        assert_eq!(s.err(none, dc("/locked/c")), ErrorCode::NotEmpty);
        s.ok(create("/e", CreateMode::Ephemeral));
        assert_eq!(s.err(none, dc("/e")), ErrorCode::BadVersion);
        s.ok(delete("/locked/c/x", -1));
        assert_eq!(s.err(none, delete("/locked/c", -1)), ErrorCode::NoAuth);
        assert_eq!(s.ok(dc("/locked/c")), Outcome::Single(OpResult::Deleted));
        // Apache deletes an empty persistent node too.
        s.ok(create("/p", CreateMode::Persistent));
        assert_eq!(s.ok(dc("/p")), Outcome::Single(OpResult::Deleted));
    }

    #[test]
    fn acl_matrix_through_prep() {
        let mut s = Seq::new();
        let bob = digest("bob:pw");
        let bob_ids = vec![Id::new("ip", "10.0.0.9"), Id::new("digest", bob.clone())];
        let eve_ids = vec![
            Id::new("ip", "192.168.0.2"),
            Id::new("digest", digest("eve:pw")),
        ];
        let super_ids = vec![Id::new("super", ""), Id::new("digest", digest("root:x"))];
        // "auth" expands to the creator's digest id.
        let auth_acl = vec![Acl::new(ALL, Id::new("auth", ""))];
        assert_eq!(
            s.err(
                &[Id::new("ip", "10.0.0.9")],
                create_with("/b", CreateMode::Persistent, auth_acl.clone())
            ),
            ErrorCode::InvalidAcl
        );
        s.run(
            &bob_ids,
            create_with("/b", CreateMode::Persistent, auth_acl),
        )
        .unwrap();
        assert_eq!(
            s.tree.acl("/b").unwrap().0,
            &[Acl::new(ALL, Id::new("digest", bob.clone()))][..]
        );
        assert_eq!(s.err(&eve_ids, set_data("/b", -1)), ErrorCode::NoAuth);
        assert!(s.run(&bob_ids, set_data("/b", -1)).is_ok());
        assert!(s.run(&super_ids, set_data("/b", -1)).is_ok());
        // ip networks.
        s.ok(create_with(
            "/net",
            CreateMode::Persistent,
            vec![
                Acl::new(ALL, Id::new("ip", "10.0.0.0/8")),
                Acl::new(READ, Id::anyone()),
            ],
        ));
        assert!(s
            .run(&bob_ids, create("/net/x", CreateMode::Persistent))
            .is_ok());
        assert_eq!(
            s.err(&eve_ids, create("/net/y", CreateMode::Persistent)),
            ErrorCode::NoAuth
        );
        assert!(s
            .run(
                &eve_ids,
                WriteOp::Check {
                    path: "/net".into(),
                    version: -1
                }
            )
            .is_ok());
        // world:anyone with a single permission.
        s.ok(create_with(
            "/cr",
            CreateMode::Persistent,
            vec![Acl::new(CREATE, Id::anyone())],
        ));
        assert!(s
            .run(&eve_ids, create("/cr/k", CreateMode::Persistent))
            .is_ok());
        assert_eq!(s.err(&eve_ids, delete("/cr/k", -1)), ErrorCode::NoAuth);
        assert!(s.run(&super_ids, delete("/cr/k", -1)).is_ok());
    }

    #[test]
    fn multi_sees_its_own_earlier_ops() {
        let mut s = Seq::new();
        let results = s.multi(&[
            create("/a", CreateMode::Persistent),
            create("/a/b", CreateMode::Persistent),
            create("/a/s-", CreateMode::PersistentSequential),
            create("/a/s-", CreateMode::PersistentSequential),
            set_data("/a", 0),
            WriteOp::Check {
                path: "/a".into(),
                version: 1,
            },
            delete("/a/b", -1),
            create("/a/b", CreateMode::Ephemeral),
        ]);
        let paths: Vec<String> = results
            .iter()
            .filter_map(|r| match r {
                OpResult::Created { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            vec!["/a", "/a/b", "/a/s-0000000001", "/a/s-0000000002", "/a/b"]
        );
        assert_eq!(s.tree.kind("/a/b"), Some(NodeKind::Ephemeral(SESSION)));
        assert_eq!(s.tree.stat("/a").unwrap().version, 1);
        // An ephemeral made earlier in the multi cannot take children later in it.
        let results = s.multi(&[
            create("/e", CreateMode::Ephemeral),
            create("/e/x", CreateMode::Persistent),
        ]);
        assert_eq!(
            results[1],
            OpResult::Error(ErrorCode::NoChildrenForEphemerals)
        );
        // A node deleted earlier in the multi is gone for later ops.
        let results = s.multi(&[delete("/a/b", -1), set_data("/a/b", -1)]);
        assert_eq!(results[1], OpResult::Error(ErrorCode::NoNode));
        // Nor may a parent emptied only later be deleted early.
        let results = s.multi(&[delete("/a", -1)]);
        assert_eq!(results, vec![OpResult::Error(ErrorCode::NotEmpty)]);
    }

    #[test]
    fn failed_multi_changes_nothing_and_reports_each_op() {
        let mut s = Seq::new();
        s.ok(create("/x", CreateMode::Persistent));
        let digest_before = s.tree.digest();
        let stat_before = s.tree.stat("/x");
        let results = s.multi(&[
            create("/new", CreateMode::Persistent),
            set_data("/x", -1),
            create("/x", CreateMode::Persistent),
            delete("/x", -1),
        ]);
        assert_eq!(
            results,
            vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::NodeExists),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
        assert_eq!(s.tree.digest(), digest_before);
        assert_eq!(s.tree.stat("/x"), stat_before);
        assert_eq!(s.tree.stat("/new"), None);
        // The next sequential name is not consumed by the rolled-back multi.
        s.multi(&[
            create("/s-", CreateMode::PersistentSequential),
            create("/nope/x", CreateMode::Persistent),
        ]);
        let name = created_path(&s.ok(create("/s-", CreateMode::PersistentSequential)));
        assert_eq!(name, format!("/s-{:010}", 1));
        assert_eq!(s.multi(&[]), vec![]);
    }

    #[test]
    fn close_session_prep_lists_ephemerals_and_apply_fires_deletes() {
        let mut s = Seq::new();
        s.ok(create("/e1", CreateMode::Ephemeral));
        s.ok(create("/e2", CreateMode::EphemeralSequential));
        let body = prep_close_session(&s.tree, SESSION);
        assert_eq!(
            body,
            TxnBody::CloseSession {
                ephemerals: vec!["/e1".into(), "/e20000000001".into()]
            }
        );
        s.commit(SESSION, body);
        assert!(s.tree.ephemerals(SESSION).is_empty());
        assert_eq!(s.tree.children("/").unwrap().0, vec!["zookeeper"]);
    }

    /// A seeded xorshift64 so that histories are reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: usize) -> usize {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            (x % n as u64) as usize
        }
    }

    /// Random client histories through prep: the log, replayed on a fresh tree (a shard or
    /// a restarted server), reproduces the sequencer's tree exactly.
    #[test]
    fn replaying_the_log_reproduces_the_tree() {
        const PATHS: &[&str] = &["/a", "/a/b", "/a/b/c", "/b", "/b/s-", "/c", "/a/e"];
        let modes = [
            CreateMode::Persistent,
            CreateMode::Ephemeral,
            CreateMode::PersistentSequential,
            CreateMode::Container,
            CreateMode::PersistentWithTtl,
        ];
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let mut s = Seq::new();
        for _ in 0..3000 {
            let path = PATHS[rng.below(PATHS.len())].to_owned();
            let version = rng.below(3) as i32 - 1;
            let mode = modes[rng.below(modes.len())];
            let ttl_ms = mode.is_ttl().then_some(100);
            let op = match rng.below(6) {
                0 | 1 => WriteOp::Create {
                    path,
                    data: Some(vec![1, 2, 3]),
                    acl: Acl::open_unsafe(),
                    mode,
                    ttl_ms,
                },
                2 => WriteOp::Delete { path, version },
                3 => WriteOp::SetData {
                    path,
                    data: Some(vec![9]),
                    version,
                },
                4 => WriteOp::DeleteContainer { path },
                _ => WriteOp::Check { path, version },
            };
            let session = 1 + rng.below(3) as i64;
            let auth: &[Id] = &[];
            let ctx = PrepContext {
                extended_types: true,
                ..PrepContext::new(session, auth)
            };
            let body = match rng.below(10) {
                0 => prep_close_session(&s.tree, session),
                1 => prep_multi(&s.tree, &ctx, &[op.clone(), op]),
                _ => prep(&s.tree, &ctx, &op).unwrap_or_else(TxnBody::Error),
            };
            let outcome = s.commit(session, body);
            // A txn prep produced never fails in apply, except as prep decided.
            if let Outcome::Single(r) = &outcome {
                if !matches!(s.log.last().map(|t| &t.body), Some(TxnBody::Error(_))) {
                    assert_eq!(r.err(), ErrorCode::Ok, "{:?}", s.log.last());
                }
            }
        }
        s.tree.check_invariants().unwrap();
        let mut replica = DataTree::new();
        for txn in &s.log {
            let bytes = crate::jute::Encode::to_bytes(txn);
            let decoded = <Txn as crate::jute::Decode>::from_bytes(&bytes).unwrap();
            replica.apply(&decoded);
        }
        assert_eq!(replica.digest(), s.tree.digest());
        assert_eq!(replica.last_zxid(), s.tree.last_zxid());
        assert_eq!(replica.node_count(), s.tree.node_count());
    }
}
