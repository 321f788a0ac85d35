//! Turning requests into answers: which requests are writes (and what the sequencer must
//! do with them), how reads are answered from the shard's tree, and how a committed
//! transaction's outcome becomes the reply its client expects.

use ringkeeper_engine::acl::check_perm;
use ringkeeper_engine::jute::records::{
    self, ClientInfo, Create2Response, CreateRequest, CreateResponse, ErrorResponse,
    ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, MultiOp, MultiResult, Request,
    RequestHeader, Response, SetAclResponse, SetDataResponse, WatcherEvent, WhoAmIResponse,
};
use ringkeeper_engine::prep::{prep, PrepContext, WriteOp};
use ringkeeper_engine::tree::{ApplyResult, OpResult, Outcome};
use ringkeeper_engine::watch::{WatchKind, WatcherType};
use ringkeeper_engine::{perms, xid, Acl, CreateMode, ErrorCode, Id, KeeperState, OpCode, Zxid};

use super::state::ShardState;
use crate::messages::{ConnId, Write};

/// What kind of reply each operation of a write expects: a multi's results are typed by
/// the operation that asked (create answers a path, create2 a path and a Stat).
pub(super) fn reply_kinds(write: &Write, op: OpCode) -> Vec<OpCode> {
    match write {
        Write::Multi(ops) => ops.iter().map(|(kind, _)| *kind).collect(),
        _ => vec![op],
    }
}

/// The CreateMode a create request asks for. Apache builds the mode from the flags for
/// create, create2 and createTTL; only the createContainer opcode makes a container.
fn create_mode(op: OpCode, flags: i32) -> Result<CreateMode, ErrorCode> {
    let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
    match op {
        OpCode::CreateContainer => Ok(CreateMode::Container),
        _ if mode == CreateMode::Container => Ok(CreateMode::Persistent),
        _ => Ok(mode),
    }
}

fn create_op(op: OpCode, r: CreateRequest, ttl_ms: Option<i64>) -> Result<WriteOp, ErrorCode> {
    Ok(WriteOp::Create {
        mode: create_mode(op, r.flags)?,
        path: r.path,
        data: r.data,
        acl: r.acl,
        ttl_ms,
    })
}

fn multi_op(op: MultiOp) -> Result<(OpCode, WriteOp), ErrorCode> {
    Ok(match op {
        MultiOp::Create(r) => (OpCode::Create, create_op(OpCode::Create, r, None)?),
        MultiOp::Create2(r) => (OpCode::Create2, create_op(OpCode::Create2, r, None)?),
        MultiOp::CreateContainer(r) => (
            OpCode::CreateContainer,
            create_op(OpCode::CreateContainer, r, None)?,
        ),
        MultiOp::CreateTtl(r) => {
            let c = CreateRequest {
                path: r.path,
                data: r.data,
                acl: r.acl,
                flags: r.flags,
            };
            (
                OpCode::CreateTtl,
                create_op(OpCode::CreateTtl, c, Some(r.ttl))?,
            )
        }
        MultiOp::Delete(r) => (
            OpCode::Delete,
            WriteOp::Delete {
                path: r.path,
                version: r.version,
            },
        ),
        MultiOp::SetData(r) => (
            OpCode::SetData,
            WriteOp::SetData {
                path: r.path,
                data: r.data,
                version: r.version,
            },
        ),
        MultiOp::Check(r) => (
            OpCode::Check,
            WriteOp::Check {
                path: r.path,
                version: r.version,
            },
        ),
        MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Err(ErrorCode::BadArguments),
    })
}

/// Where a request goes: to the sequencer, or answered by the shard itself.
pub(super) enum Route {
    Write(Write),
    Local(Request),
}

/// Splits writes from reads: a write comes back as what the sequencer must do, a read
/// comes back unchanged.
pub(super) fn route(req: Request) -> Route {
    let single = |r: Result<WriteOp, ErrorCode>| match r {
        Ok(op) => Write::Op(op),
        Err(e) => Write::Invalid(e),
    };
    Route::Write(match req {
        Request::Create(r) => single(create_op(OpCode::Create, r, None)),
        Request::Create2(r) => single(create_op(OpCode::Create2, r, None)),
        Request::CreateContainer(r) => single(create_op(OpCode::CreateContainer, r, None)),
        Request::CreateTtl(r) => {
            let ttl = Some(r.ttl);
            let c = CreateRequest {
                path: r.path,
                data: r.data,
                acl: r.acl,
                flags: r.flags,
            };
            single(create_op(OpCode::CreateTtl, c, ttl))
        }
        Request::Delete(r) => Write::Op(WriteOp::Delete {
            path: r.path,
            version: r.version,
        }),
        Request::SetData(r) => Write::Op(WriteOp::SetData {
            path: r.path,
            data: r.data,
            version: r.version,
        }),
        Request::SetAcl(r) => Write::Op(WriteOp::SetAcl {
            path: r.path,
            acl: r.acl,
            version: r.version,
        }),
        Request::Multi(ops) => {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                match multi_op(op) {
                    Ok(pair) => out.push(pair),
                    Err(e) => return Route::Write(Write::Invalid(e)),
                }
            }
            Write::Multi(out)
        }
        other => return Route::Local(other),
    })
}

/// Builds the reply to a committed write from the shard's own apply of it.
pub(super) fn write_reply(xid: i32, zxid: Zxid, kinds: &[OpCode], result: &ApplyResult) -> Vec<u8> {
    let op = kinds.first().copied().unwrap_or(OpCode::Error);
    match &result.outcome {
        Outcome::Single(r) => {
            let resp = match r {
                OpResult::Error(e) => {
                    return records::encode_reply(xid, zxid, *e, &Response::Empty)
                }
                OpResult::Created { path, stat } => {
                    if op == OpCode::Create {
                        Response::Create(CreateResponse { path: path.clone() })
                    } else {
                        Response::Create2(Create2Response {
                            path: path.clone(),
                            stat: *stat,
                        })
                    }
                }
                OpResult::DataSet(stat) => Response::SetData(SetDataResponse { stat: *stat }),
                OpResult::AclSet(stat) => Response::SetAcl(SetAclResponse { stat: *stat }),
                OpResult::Deleted
                | OpResult::Checked
                | OpResult::SessionCreated
                | OpResult::SessionClosed => Response::Empty,
            };
            records::encode_reply(xid, zxid, ErrorCode::Ok, &resp)
        }
        Outcome::Multi(results) => {
            let out = results
                .iter()
                .enumerate()
                .map(|(i, r)| match r {
                    OpResult::Error(e) => MultiResult::Error(*e),
                    OpResult::Created { path, stat } => {
                        if kinds.get(i) == Some(&OpCode::Create) {
                            MultiResult::Create(CreateResponse { path: path.clone() })
                        } else {
                            MultiResult::Create2(Create2Response {
                                path: path.clone(),
                                stat: *stat,
                            })
                        }
                    }
                    OpResult::Deleted => MultiResult::Delete,
                    OpResult::DataSet(stat) => {
                        MultiResult::SetData(SetDataResponse { stat: *stat })
                    }
                    OpResult::Checked => MultiResult::Check,
                    // A multi holds no setACL or session operations; Apache would not
                    // produce them either, so this is a corrupt transaction.
                    OpResult::AclSet(_) | OpResult::SessionCreated | OpResult::SessionClosed => {
                        MultiResult::Error(ErrorCode::RuntimeInconsistency)
                    }
                })
                .collect();
            records::encode_reply(xid, zxid, ErrorCode::Ok, &Response::Multi(out))
        }
    }
}

/// A notification frame. The zxid is -1, as ZooKeeper 3.8 sends it (3.9 sends the
/// zxid of the change; no client acts on it, and 3.8 is what ringkeeper reports).
pub(super) fn notification(event: ringkeeper_engine::EventType, path: &str) -> Vec<u8> {
    records::encode_notification(
        -1,
        &WatcherEvent {
            event_type: event as i32,
            state: KeeperState::SyncConnected as i32,
            path: path.to_owned(),
        },
    )
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

fn bad_path(path: &str) -> bool {
    path.contains('\0')
}

/// Answers a read (or any request that does not go through the sequencer) from this
/// shard's state. Returns the frame to send, if any.
pub(super) fn answer_read(
    state: &mut ShardState,
    conn: ConnId,
    header: &RequestHeader,
    req: Request,
) -> Option<Vec<u8>> {
    let zxid = state.last_zxid();
    let mut xid_out = header.xid;
    let mut events: Vec<Vec<u8>> = Vec::new();
    let result: Result<Response, ErrorCode> = {
        let ShardState {
            tree,
            watches,
            conns,
            ..
        } = state;
        let c = conns.get(&conn)?;
        let auth = &c.auth;
        let readable = |acl: &[Acl]| check_perm(acl, perms::READ, auth);
        match req {
            Request::Ping => {
                xid_out = xid::PING;
                Ok(Response::Empty)
            }
            Request::Auth(_) => {
                // Authentication already took effect when the request arrived.
                // Apache answers with the request's own xid (clients use -4) and zxid 0.
                return Some(records::encode_reply(
                    header.xid,
                    0,
                    ErrorCode::Ok,
                    &Response::Empty,
                ));
            }
            Request::Exists(r) => {
                if bad_path(&r.path) {
                    Err(ErrorCode::BadArguments)
                } else {
                    let stat = tree.stat(&r.path);
                    let mut res = stat
                        .map(|stat| Response::Exists(ExistsResponse { stat }))
                        .ok_or(ErrorCode::NoNode);
                    if r.watch {
                        let kind = if stat.is_some() {
                            WatchKind::Data
                        } else {
                            WatchKind::Exist
                        };
                        if watches.add(&r.path, kind, conn).is_err() {
                            res = Err(ErrorCode::QuotaExceeded);
                        }
                    }
                    res
                }
            }
            Request::GetData(r) => match tree.acl(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some((acl, _)) if !readable(acl) => Err(ErrorCode::NoAuth),
                Some(_) => match tree.get_data_or_null(&r.path) {
                    None => Err(ErrorCode::NoNode),
                    Some((data, stat)) => {
                        // A node created or set with null data answers null, as Apache's.
                        let resp = Response::GetData(GetDataResponse {
                            data: data.map(<[u8]>::to_vec),
                            stat,
                        });
                        if r.watch && watches.add(&r.path, WatchKind::Data, conn).is_err() {
                            Err(ErrorCode::QuotaExceeded)
                        } else {
                            Ok(resp)
                        }
                    }
                },
            },
            Request::GetChildren(r) => children(tree, watches, conn, auth, &r.path, r.watch, false),
            Request::GetChildren2(r) => children(tree, watches, conn, auth, &r.path, r.watch, true),
            Request::GetAcl(r) => match tree.acl(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some((acl, stat)) => {
                    if !check_perm(acl, perms::READ | perms::ADMIN, auth) {
                        Err(ErrorCode::NoAuth)
                    } else if check_perm(acl, perms::ADMIN, auth) {
                        Ok(Response::GetAcl(GetAclResponse {
                            acl: acl.to_vec(),
                            stat,
                        }))
                    } else {
                        Ok(Response::GetAcl(GetAclResponse {
                            acl: redact_digests(acl),
                            stat,
                        }))
                    }
                }
            },
            Request::GetAllChildrenNumber(r) => match tree.acl(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some((acl, _)) if !readable(acl) => Err(ErrorCode::NoAuth),
                Some(_) => {
                    let n = tree.all_children_number(&r.path).unwrap_or(0);
                    Ok(Response::GetAllChildrenNumber(
                        GetAllChildrenNumberResponse {
                            total_number: n.min(i32::MAX as usize) as i32,
                        },
                    ))
                }
            },
            Request::GetEphemerals(r) => {
                let mut paths = tree.ephemerals(c.session);
                if r.prefix_path != "/" {
                    paths.retain(|p| p.starts_with(&r.prefix_path));
                }
                paths.sort();
                Ok(Response::GetEphemerals(GetEphemeralsResponse {
                    ephemerals: paths,
                }))
            }
            Request::AddWatch(r) => match WatchKind::from_add_watch_mode(r.mode) {
                None => Err(ErrorCode::BadArguments),
                Some(_) if bad_path(&r.path) => Err(ErrorCode::BadArguments),
                Some(kind) => match watches.add(&r.path, kind, conn) {
                    Ok(_) => Ok(Response::AddWatch(ErrorResponse { err: 0 })),
                    Err(_) => Err(ErrorCode::QuotaExceeded),
                },
            },
            Request::CheckWatches(r) => match WatcherType::from_code(r.watcher_type) {
                None => Err(ErrorCode::BadArguments),
                Some(t) if watches.contains(&r.path, t, conn) => Ok(Response::Empty),
                Some(_) => Err(ErrorCode::NoWatcher),
            },
            Request::RemoveWatches(r) => match WatcherType::from_code(r.watcher_type) {
                None => Err(ErrorCode::BadArguments),
                Some(t) => {
                    if watches.remove(&r.path, t, conn).is_empty() {
                        Err(ErrorCode::NoWatcher)
                    } else {
                        Ok(Response::Empty)
                    }
                }
            },
            Request::SetWatches(r) => {
                let lookup = |p: &str| tree.stat(p).map(|s| (s.mzxid, s.pzxid, s.czxid));
                let empty: [String; 0] = [];
                match watches.set_watches(
                    conn,
                    r.relative_zxid,
                    &r.data_watches,
                    &r.exist_watches,
                    &r.child_watches,
                    &empty,
                    &empty,
                    lookup,
                ) {
                    Ok(fired) => {
                        events = fired.iter().map(|(e, p)| notification(*e, p)).collect();
                        Ok(Response::Empty)
                    }
                    Err(_) => Err(ErrorCode::QuotaExceeded),
                }
            }
            Request::SetWatches2(r) => {
                let lookup = |p: &str| tree.stat(p).map(|s| (s.mzxid, s.pzxid, s.czxid));
                match watches.set_watches(
                    conn,
                    r.relative_zxid,
                    &r.data_watches,
                    &r.exist_watches,
                    &r.child_watches,
                    &r.persistent_watches,
                    &r.persistent_recursive_watches,
                    lookup,
                ) {
                    Ok(fired) => {
                        events = fired.iter().map(|(e, p)| notification(*e, p)).collect();
                        Ok(Response::Empty)
                    }
                    Err(_) => Err(ErrorCode::QuotaExceeded),
                }
            }
            Request::MultiRead(ops) => {
                let results = ops
                    .into_iter()
                    .map(|op| match op {
                        MultiOp::GetChildren(r) => match tree.acl(&r.path) {
                            None => MultiResult::Error(ErrorCode::NoNode),
                            Some((acl, _)) if !readable(acl) => {
                                MultiResult::Error(ErrorCode::NoAuth)
                            }
                            Some(_) => match tree.children(&r.path) {
                                Some((children, _)) => {
                                    MultiResult::GetChildren(GetChildrenResponse { children })
                                }
                                None => MultiResult::Error(ErrorCode::NoNode),
                            },
                        },
                        MultiOp::GetData(r) => match tree.acl(&r.path) {
                            None => MultiResult::Error(ErrorCode::NoNode),
                            Some((acl, _)) if !readable(acl) => {
                                MultiResult::Error(ErrorCode::NoAuth)
                            }
                            Some(_) => match tree.get_data_or_null(&r.path) {
                                Some((data, stat)) => MultiResult::GetData(GetDataResponse {
                                    data: data.map(<[u8]>::to_vec),
                                    stat,
                                }),
                                None => MultiResult::Error(ErrorCode::NoNode),
                            },
                        },
                        _ => MultiResult::Error(ErrorCode::BadArguments),
                    })
                    .collect();
                Ok(Response::Multi(results))
            }
            Request::WhoAmI => {
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
                Ok(Response::WhoAmI(WhoAmIResponse { client_info }))
            }
            Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            // Apache runs a check outside a multi like the one inside and answers its
            // errors, but the reply to a check that passes fails to serialise there (its
            // Stat is null), so the client gets no reply at all and the connection
            // carries on. The shard's tree has every write acknowledged before this
            // request arrived, so the check sees what the sequencer would.
            Request::Check(r) => {
                let op = WriteOp::Check {
                    path: r.path,
                    version: r.version,
                };
                match prep(tree, &PrepContext::new(c.session, auth), &op) {
                    Ok(_) => return None,
                    Err(e) => Err(e),
                }
            }
            // Refused before decoding (shard/refusal.rs); answered as there, defensively:
            // neither may ever reach the sequencer from a client.
            Request::CreateSession => Err(ErrorCode::MarshallingError),
            Request::DeleteContainer(_) => Err(ErrorCode::BadArguments),
            // Writes never reach this function; answer defensively rather than panic.
            _ => Err(ErrorCode::SystemError),
        }
    };
    for e in events {
        state.send_frame(conn, e);
    }
    let frame = match result {
        Ok(resp) => records::encode_reply(xid_out, zxid, ErrorCode::Ok, &resp),
        Err(e) => records::encode_reply(xid_out, zxid, e, &Response::Empty),
    };
    // A reply larger than a Java client's jute.maxbuffer makes it drop the connection,
    // reconnect and ask again, for ever (a getChildren of a huge directory is the usual
    // case). Apache sends it anyway, and clients that grow their buffer (go-zookeeper)
    // rely on that, so the limit is opt-in: with `ringkeeper.replyBytesMax` set, a larger
    // reply is answered MarshallingError, which ends that loop with an error the
    // application sees.
    let body = frame.len().saturating_sub(4);
    let limit = state.settings.reply_bytes_max.unwrap_or(usize::MAX);
    if body > limit {
        tracing::warn!(
            conn,
            op = header.op,
            bytes = body,
            limit,
            "reply larger than ringkeeper.replyBytesMax; answering MarshallingError"
        );
        state.counters.replies_too_large += 1;
        return Some(records::encode_reply(
            xid_out,
            zxid,
            ErrorCode::MarshallingError,
            &Response::Empty,
        ));
    }
    Some(frame)
}

fn children(
    tree: &ringkeeper_engine::tree::DataTree,
    watches: &mut ringkeeper_engine::watch::WatchManager<ConnId>,
    conn: ConnId,
    auth: &[Id],
    path: &str,
    watch: bool,
    with_stat: bool,
) -> Result<Response, ErrorCode> {
    let (acl, _) = tree.acl(path).ok_or(ErrorCode::NoNode)?;
    if !check_perm(acl, perms::READ, auth) {
        return Err(ErrorCode::NoAuth);
    }
    let (children, stat) = tree.children(path).ok_or(ErrorCode::NoNode)?;
    if watch && watches.add(path, WatchKind::Child, conn).is_err() {
        return Err(ErrorCode::QuotaExceeded);
    }
    Ok(if with_stat {
        Response::GetChildren2(GetChildren2Response { children, stat })
    } else {
        Response::GetChildren(GetChildrenResponse { children })
    })
}
