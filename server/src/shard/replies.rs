//! Routing requests and shaping replies: which requests are writes (and what the sequencer
//! must do with them), and how a committed transaction's outcome becomes the reply its
//! client expects. What a read answers is `ringkeeper_engine::read`'s business.

use ringkeeper_engine::jute::records::{
    self, Create2Response, CreateRequest, CreateResponse, MultiOp, MultiResult, Request, Response,
    SetAclResponse, SetDataResponse, WatcherEvent,
};
use ringkeeper_engine::prep::WriteOp;
use ringkeeper_engine::tree::{ApplyResult, DataTree, OpResult, Outcome};
use ringkeeper_engine::{CreateMode, ErrorCode, KeeperState, OpCode, Zxid};

use crate::messages::Write;

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

/// Reply bytes of everything but a node's data or children: the length prefix, the reply
/// header, a Stat and small fields. A round figure; it only has to be of the right size.
const REPLY_OVERHEAD_BYTES: usize = 128;

/// What one child name is taken to cost in a children reply: its length prefix and a
/// typical name. The tree keeps only the count, and an estimate must not list children.
const CHILD_NAME_BYTES: usize = 24;

/// About how many bytes the reply to a read will take, judged from the tree as it is now.
/// A read that must wait (behind a write, or for this shard to apply what was released
/// before it) reserves this much in its connection's backlog, so a client that pipelines
/// reads it does not take the answers of cannot be read past its pause while those answers
/// are still unbuilt. The node may change before the read is answered; the reservation is
/// then replaced by the real reply, which the backlog counts exactly.
pub(super) fn reply_estimate(tree: &DataTree, req: &Request) -> usize {
    let data = |path: &str| {
        tree.stat(path)
            .map_or(0, |s| usize::try_from(s.data_length).unwrap_or(0))
    };
    let children = |path: &str| {
        tree.stat(path).map_or(0, |s| {
            usize::try_from(s.num_children)
                .unwrap_or(0)
                .saturating_mul(CHILD_NAME_BYTES)
        })
    };
    let body = match req {
        Request::GetData(r) => data(&r.path),
        Request::GetChildren(r) => children(&r.path),
        Request::GetChildren2(r) => children(&r.path),
        Request::MultiRead(ops) => ops
            .iter()
            .map(|op| match op {
                MultiOp::GetData(r) => data(&r.path),
                MultiOp::GetChildren(r) => children(&r.path),
                _ => 0,
            } + REPLY_OVERHEAD_BYTES)
            .fold(0usize, usize::saturating_add),
        _ => 0,
    };
    body.saturating_add(REPLY_OVERHEAD_BYTES)
}
