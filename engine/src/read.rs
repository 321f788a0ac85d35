//! Answering reads: what every request that does not change the tree answers, from one
//! copy of the tree and one watch manager, with the asking connection's authenticated ids.
//! Writes have their semantics in [`crate::prep`]; this is the other half, so the server's
//! shards only route requests and carry answers, and decide nothing about them.
//!
//! Every rule follows Apache's `FinalRequestProcessor.processRequest` (zookeeper-server/src/
//! main/java/org/apache/zookeeper/server/): the ACL check before the lookup (so a missing
//! node answers NoNode, a forbidden one NoAuth), a watch registered only when the read
//! succeeds, getACL hiding digest hashes from a reader without ADMIN.

use std::hash::Hash;

use crate::acl::check_perm;
use crate::jute::records::{
    ClientInfo, ErrorResponse, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, MultiOp,
    MultiResult, Request, Response, WhoAmIResponse,
};
use crate::prep::{prep, PrepContext, WriteOp};
use crate::tree::DataTree;
use crate::watch::{WatchKind, WatchManager, WatcherType};
use crate::{perms, xid, Acl, ErrorCode, EventType, Id, SessionId};

/// What names a watcher: the bounds the watch manager needs of it.
pub trait Watcher: Copy + Eq + Hash + Ord {}
impl<W: Copy + Eq + Hash + Ord> Watcher for W {}

/// Who reads, and what the read may change: the watch manager of the tree copy it reads.
pub struct Reader<'a, W: Watcher> {
    pub tree: &'a DataTree,
    pub watches: &'a mut WatchManager<W>,
    /// The connection asking; it holds any watch the read leaves.
    pub watcher: W,
    pub session: SessionId,
    /// The connection's authenticated ids, `ip:<address>` and `super` included.
    pub auth: &'a [Id],
}

/// How a read is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A reply under `xid` (a ping's is `xid::PING`) at the tree's zxid.
    Reply {
        xid: i32,
        result: Result<Response, ErrorCode>,
    },
    /// An auth packet: authentication took effect when it arrived; Apache answers Ok with
    /// the request's own xid and zxid 0.
    Auth,
    /// No reply at all: a check outside a multi that passes (Apache's reply to it fails to
    /// serialise, so its client gets none and the connection carries on).
    None,
}

/// A read's answer and the watch events it fires (setWatches on a changed node), which
/// go out before the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub answer: Answer,
    pub events: Vec<(EventType, String)>,
}

/// Answers `req`, asked under `xid`. A write that reaches here is answered SystemError
/// rather than trusted: writes go through [`crate::prep`].
pub fn answer<W: Watcher>(r: &mut Reader<'_, W>, xid_in: i32, req: Request) -> Read {
    let mut events = Vec::new();
    let result = match req {
        Request::Ping => {
            return reply(xid::PING, Ok(Response::Empty));
        }
        Request::Auth(_) => {
            return Read {
                answer: Answer::Auth,
                events,
            }
        }
        Request::Check(c) => return check(r, xid_in, c.path, c.version),
        Request::SetWatches(s) => {
            let none: [String; 0] = [];
            let lists = [&s.data_watches, &s.exist_watches, &s.child_watches];
            set_watches(
                r,
                s.relative_zxid,
                lists,
                [&none[..], &none[..]],
                &mut events,
            )
        }
        Request::SetWatches2(s) => {
            let lists = [&s.data_watches, &s.exist_watches, &s.child_watches];
            let persistent = [
                &s.persistent_watches[..],
                &s.persistent_recursive_watches[..],
            ];
            set_watches(r, s.relative_zxid, lists, persistent, &mut events)
        }
        other => answer_simple(r, other),
    };
    Read {
        answer: Answer::Reply {
            xid: xid_in,
            result,
        },
        events,
    }
}

fn reply(xid: i32, result: Result<Response, ErrorCode>) -> Read {
    Read {
        answer: Answer::Reply { xid, result },
        events: Vec::new(),
    }
}

/// The reads answered by one result and nothing else.
fn answer_simple<W: Watcher>(r: &mut Reader<'_, W>, req: Request) -> Result<Response, ErrorCode> {
    match req {
        Request::Exists(q) => exists(r, &q.path, q.watch),
        Request::GetData(q) => get_data(r, &q.path, q.watch),
        Request::GetChildren(q) => children(r, &q.path, q.watch, false),
        Request::GetChildren2(q) => children(r, &q.path, q.watch, true),
        Request::GetAcl(q) => get_acl(r, &q.path),
        Request::GetAllChildrenNumber(q) => all_children_number(r, &q.path),
        Request::GetEphemerals(q) => Ok(ephemerals(r, &q.prefix_path)),
        Request::AddWatch(q) => add_watch(r, &q.path, q.mode),
        Request::CheckWatches(q) => match WatcherType::from_code(q.watcher_type) {
            None => Err(ErrorCode::BadArguments),
            Some(t) if r.watches.contains(&q.path, t, r.watcher) => Ok(Response::Empty),
            Some(_) => Err(ErrorCode::NoWatcher),
        },
        Request::RemoveWatches(q) => match WatcherType::from_code(q.watcher_type) {
            None => Err(ErrorCode::BadArguments),
            Some(t) if r.watches.remove(&q.path, t, r.watcher).is_empty() => {
                Err(ErrorCode::NoWatcher)
            }
            Some(_) => Ok(Response::Empty),
        },
        Request::MultiRead(ops) => Ok(Response::Multi(multi_read(r, ops))),
        Request::WhoAmI => Ok(who_am_i(r.auth)),
        Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
        // Refused before decoding by the server; answered as there, defensively: neither
        // may ever reach the sequencer from a client.
        Request::CreateSession => Err(ErrorCode::MarshallingError),
        Request::DeleteContainer(_) => Err(ErrorCode::BadArguments),
        // Writes never come here; answer defensively rather than panic.
        _ => Err(ErrorCode::SystemError),
    }
}

fn bad_path(path: &str) -> bool {
    path.contains('\0')
}

fn readable<W: Watcher>(r: &Reader<'_, W>, acl: &[Acl]) -> bool {
    check_perm(acl, perms::READ, r.auth)
}

/// The ACL check comes before the lookup: a missing node is NoNode, a forbidden one NoAuth.
fn may_read<W: Watcher>(r: &Reader<'_, W>, path: &str) -> Result<(), ErrorCode> {
    let (acl, _) = r.tree.acl(path).ok_or(ErrorCode::NoNode)?;
    if readable(r, acl) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn watch_if<W: Watcher>(
    r: &mut Reader<'_, W>,
    want_watch: bool,
    path: &str,
    kind: WatchKind,
    ok: Response,
) -> Result<Response, ErrorCode> {
    if want_watch {
        watch(r, path, kind, ok)
    } else {
        Ok(ok)
    }
}

/// Registers a watch for a read that succeeded; a watcher over its limit fails the read.
fn watch<W: Watcher>(
    r: &mut Reader<'_, W>,
    path: &str,
    kind: WatchKind,
    ok: Response,
) -> Result<Response, ErrorCode> {
    match r.watches.add(path, kind, r.watcher) {
        Ok(_) => Ok(ok),
        Err(_) => Err(ErrorCode::QuotaExceeded),
    }
}

/// exists needs no READ permission, and its watch is a data watch on a node that exists,
/// an exist watch (fired by its creation) on one that does not.
fn exists<W: Watcher>(
    r: &mut Reader<'_, W>,
    path: &str,
    want_watch: bool,
) -> Result<Response, ErrorCode> {
    if bad_path(path) {
        return Err(ErrorCode::BadArguments);
    }
    let stat = r.tree.stat(path);
    let res = stat
        .map(|stat| Response::Exists(ExistsResponse { stat }))
        .ok_or(ErrorCode::NoNode);
    if !want_watch {
        return res;
    }
    let kind = if stat.is_some() {
        WatchKind::Data
    } else {
        WatchKind::Exist
    };
    watch(r, path, kind, Response::Empty)?;
    res
}

fn get_data<W: Watcher>(
    r: &mut Reader<'_, W>,
    path: &str,
    want_watch: bool,
) -> Result<Response, ErrorCode> {
    may_read(r, path)?;
    let (data, stat) = r.tree.get_data_or_null(path).ok_or(ErrorCode::NoNode)?;
    // A node created or set with null data answers null, as Apache's.
    let resp = Response::GetData(GetDataResponse {
        data: data.map(<[u8]>::to_vec),
        stat,
    });
    watch_if(r, want_watch, path, WatchKind::Data, resp)
}

fn children<W: Watcher>(
    r: &mut Reader<'_, W>,
    path: &str,
    want_watch: bool,
    with_stat: bool,
) -> Result<Response, ErrorCode> {
    may_read(r, path)?;
    let (children, stat) = r.tree.children(path).ok_or(ErrorCode::NoNode)?;
    let resp = if with_stat {
        Response::GetChildren2(GetChildren2Response { children, stat })
    } else {
        Response::GetChildren(GetChildrenResponse { children })
    };
    watch_if(r, want_watch, path, WatchKind::Child, resp)
}

/// getACL asks READ or ADMIN; without ADMIN digest hashes are hidden.
fn get_acl<W: Watcher>(r: &Reader<'_, W>, path: &str) -> Result<Response, ErrorCode> {
    let (acl, stat) = r.tree.acl(path).ok_or(ErrorCode::NoNode)?;
    if !check_perm(acl, perms::READ | perms::ADMIN, r.auth) {
        return Err(ErrorCode::NoAuth);
    }
    let acl = if check_perm(acl, perms::ADMIN, r.auth) {
        acl.to_vec()
    } else {
        redact_digests(acl)
    };
    Ok(Response::GetAcl(GetAclResponse { acl, stat }))
}

/// Apache's getACL hides digest hashes from a reader without ADMIN permission.
fn redact_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl::new(a.perms, Id::new("digest", format!("{user}:x")))
            } else {
                a.clone()
            }
        })
        .collect()
}

fn all_children_number<W: Watcher>(r: &Reader<'_, W>, path: &str) -> Result<Response, ErrorCode> {
    may_read(r, path)?;
    let n = r.tree.all_children_number(path).unwrap_or(0);
    Ok(Response::GetAllChildrenNumber(
        GetAllChildrenNumberResponse {
            total_number: n.min(i32::MAX as usize) as i32,
        },
    ))
}

/// The asking session's ephemeral nodes under `prefix`, sorted.
fn ephemerals<W: Watcher>(r: &Reader<'_, W>, prefix: &str) -> Response {
    let mut paths = r.tree.ephemerals(r.session);
    if prefix != "/" {
        paths.retain(|p| p.starts_with(prefix));
    }
    paths.sort();
    Response::GetEphemerals(GetEphemeralsResponse { ephemerals: paths })
}

fn add_watch<W: Watcher>(
    r: &mut Reader<'_, W>,
    path: &str,
    mode: i32,
) -> Result<Response, ErrorCode> {
    match WatchKind::from_add_watch_mode(mode) {
        None => Err(ErrorCode::BadArguments),
        Some(_) if bad_path(path) => Err(ErrorCode::BadArguments),
        Some(kind) => watch(r, path, kind, Response::AddWatch(ErrorResponse { err: 0 })),
    }
}

/// setWatches (after a reconnect): re-registers the client's watches and fires at once
/// those whose node changed since `relative_zxid`, the client's last seen zxid.
fn set_watches<W: Watcher>(
    r: &mut Reader<'_, W>,
    relative_zxid: i64,
    [data, exist, child]: [&Vec<String>; 3],
    [persistent, recursive]: [&[String]; 2],
    events: &mut Vec<(EventType, String)>,
) -> Result<Response, ErrorCode> {
    let tree = r.tree;
    let lookup = |p: &str| tree.stat(p).map(|s| (s.mzxid, s.pzxid, s.czxid));
    let set = r.watches.set_watches(
        r.watcher,
        relative_zxid,
        data,
        exist,
        child,
        persistent,
        recursive,
        lookup,
    );
    match set {
        Ok(fired) => {
            *events = fired;
            Ok(Response::Empty)
        }
        Err(_) => Err(ErrorCode::QuotaExceeded),
    }
}

/// multiRead: each getData or getChildren answered on its own, errors in place.
fn multi_read<W: Watcher>(r: &Reader<'_, W>, ops: Vec<MultiOp>) -> Vec<MultiResult> {
    ops.into_iter()
        .map(|op| match op {
            MultiOp::GetChildren(q) => multi_one(r, &q.path, multi_children),
            MultiOp::GetData(q) => multi_one(r, &q.path, multi_data),
            _ => MultiResult::Error(ErrorCode::BadArguments),
        })
        .collect()
}

fn multi_one<W: Watcher>(
    r: &Reader<'_, W>,
    path: &str,
    one: fn(&DataTree, &str) -> MultiResult,
) -> MultiResult {
    match r.tree.acl(path) {
        None => MultiResult::Error(ErrorCode::NoNode),
        Some((acl, _)) if !readable(r, acl) => MultiResult::Error(ErrorCode::NoAuth),
        Some(_) => one(r.tree, path),
    }
}

fn multi_children(tree: &DataTree, path: &str) -> MultiResult {
    match tree.children(path) {
        Some((children, _)) => MultiResult::GetChildren(GetChildrenResponse { children }),
        None => MultiResult::Error(ErrorCode::NoNode),
    }
}

fn multi_data(tree: &DataTree, path: &str) -> MultiResult {
    match tree.get_data_or_null(path) {
        Some((data, stat)) => MultiResult::GetData(GetDataResponse {
            data: data.map(<[u8]>::to_vec),
            stat,
        }),
        None => MultiResult::Error(ErrorCode::NoNode),
    }
}

fn who_am_i(auth: &[Id]) -> Response {
    let client_info = auth
        .iter()
        .map(|id| ClientInfo {
            auth_scheme: id.scheme.clone(),
            // Apache shows a digest identity by its user name only.
            user: if id.scheme == "digest" {
                id.id.split(':').next().unwrap_or("").to_owned()
            } else {
                id.id.clone()
            },
        })
        .collect();
    Response::WhoAmI(WhoAmIResponse { client_info })
}

/// A check outside a multi, run like the one inside. Apache answers its errors, but the
/// reply to a check that passes fails to serialise there (its Stat is null), so the client
/// gets no reply at all. The reader's tree holds every write acknowledged before this
/// request arrived, so the check sees what the sequencer would.
fn check<W: Watcher>(r: &Reader<'_, W>, xid_in: i32, path: String, version: i32) -> Read {
    let op = WriteOp::Check { path, version };
    match prep(r.tree, &PrepContext::new(r.session, r.auth), &op) {
        Ok(_) => Read {
            answer: Answer::None,
            events: Vec::new(),
        },
        Err(e) => reply(xid_in, Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::{GetAclRequest, GetDataRequest};
    use crate::txn::{NodeKind, Txn, TxnBody};

    /// `/open` anyone may read; `/secret` only `digest:admin:hash` may, and only administer.
    fn tree() -> DataTree {
        let mut tree = DataTree::new();
        let admin = Id::new("digest", "admin:hash");
        let nodes = [
            ("/open", Acl::open_unsafe()),
            ("/secret", vec![Acl::new(perms::ADMIN, admin)]),
        ];
        for (i, (path, acl)) in nodes.into_iter().enumerate() {
            let body = TxnBody::Create {
                path: path.to_owned(),
                data: Some(b"d".to_vec()),
                acl,
                kind: NodeKind::Persistent,
                parent_cversion: -1,
            };
            let txn = Txn {
                zxid: i as i64 + 1,
                time_ms: 0,
                session: 0,
                cxid: 0,
                body,
            };
            let _ = tree.apply(&txn);
        }
        tree
    }

    fn ask(tree: &DataTree, watches: &mut WatchManager<u64>, auth: &[Id], req: Request) -> Read {
        let mut r = Reader {
            tree,
            watches,
            watcher: 7,
            session: 1,
            auth,
        };
        answer(&mut r, 5, req)
    }

    fn get_data(path: &str) -> Request {
        Request::GetData(GetDataRequest {
            path: path.to_owned(),
            watch: true,
        })
    }

    #[test]
    fn a_forbidden_or_missing_node_answers_its_error_and_leaves_no_watch() {
        let tree = tree();
        let mut watches = WatchManager::new(10);
        let read = ask(&tree, &mut watches, &[], get_data("/secret"));
        let no_auth = Answer::Reply {
            xid: 5,
            result: Err(ErrorCode::NoAuth),
        };
        assert_eq!(read.answer, no_auth);
        let read = ask(&tree, &mut watches, &[], get_data("/missing"));
        let no_node = Answer::Reply {
            xid: 5,
            result: Err(ErrorCode::NoNode),
        };
        assert_eq!(read.answer, no_node);
        assert_eq!(watches.apache_watch_count(), 0);
        let read = ask(&tree, &mut watches, &[], get_data("/open"));
        assert!(matches!(read.answer, Answer::Reply { result: Ok(_), .. }));
        assert_eq!(watches.apache_watch_count(), 1);
    }

    #[test]
    fn get_acl_hides_digests_from_a_reader_without_admin() {
        let tree = tree();
        let mut watches = WatchManager::new(10);
        let req = || {
            Request::GetAcl(GetAclRequest {
                path: "/secret".to_owned(),
            })
        };
        let admin = [Id::new("digest", "admin:hash")];
        let read = ask(&tree, &mut watches, &admin, req());
        let Answer::Reply {
            result: Ok(Response::GetAcl(acl)),
            ..
        } = read.answer
        else {
            panic!("{read:?}");
        };
        assert_eq!(acl.acl[0].id.id, "admin:hash");
        assert_eq!(redact_digests(&acl.acl)[0].id.id, "admin:x");
    }

    #[test]
    fn ping_answers_under_the_ping_xid_and_auth_and_check_as_apache() {
        let tree = tree();
        let mut watches = WatchManager::new(10);
        let read = ask(&tree, &mut watches, &[], Request::Ping);
        let pong = Answer::Reply {
            xid: xid::PING,
            result: Ok(Response::Empty),
        };
        assert_eq!(read.answer, pong);
        let check = |version| {
            Request::Check(crate::jute::records::CheckVersionRequest {
                path: "/open".to_owned(),
                version,
            })
        };
        assert_eq!(ask(&tree, &mut watches, &[], check(0)).answer, Answer::None);
        let bad = ask(&tree, &mut watches, &[], check(3)).answer;
        let bad_version = Answer::Reply {
            xid: 5,
            result: Err(ErrorCode::BadVersion),
        };
        assert_eq!(bad, bad_version);
    }
}
