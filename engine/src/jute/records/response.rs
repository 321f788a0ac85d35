//! Replies: a [`ReplyHeader`] then a body chosen by the request's opcode, and notifications.
//!
//! Which body answers which opcode follows `FinalRequestProcessor.processRequest` and
//! `ZooKeeperServer.processPacket`/`processSasl` (zookeeper-server/src/main/java/org/apache/
//! zookeeper/server/).

use super::multi::{decode_results, encode_results};
use super::{
    Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, MultiResult, ReplyHeader, SetAclResponse, SetDataResponse,
    SetSaslResponse, SyncResponse, WatcherEvent, WhoAmIResponse,
};
use crate::jute::{DecodeError, Encode, Reader, Writer};
use crate::types::{xid, ErrorCode, OpCode, Zxid};

/// The body of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, deleteContainer, ping, closeSession, setWatches, setWatches2,
    /// checkWatches, removeWatches, auth, and every error reply.
    Empty,
    /// create (opcode 1).
    Create(CreateResponse),
    /// create2, createTTL and createContainer.
    Create2(Create2Response),
    SetData(SetDataResponse),
    Exists(ExistsResponse),
    /// getData, and reconfig (the new configuration).
    GetData(GetDataResponse),
    GetAcl(GetAclResponse),
    SetAcl(SetAclResponse),
    GetChildren(GetChildrenResponse),
    GetChildren2(GetChildren2Response),
    Sync(SyncResponse),
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    GetEphemerals(GetEphemeralsResponse),
    WhoAmI(WhoAmIResponse),
    Sasl(SetSaslResponse),
    /// addWatch answers a 4-byte `ErrorResponse` with err 0, not an empty body.
    AddWatch(ErrorResponse),
    /// multi and multiRead.
    Multi(Vec<MultiResult>),
}

impl Encode for Response {
    fn encode(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Create(b) => b.encode(w),
            Response::Create2(b) => b.encode(w),
            Response::SetData(b) => b.encode(w),
            Response::Exists(b) => b.encode(w),
            Response::GetData(b) => b.encode(w),
            Response::GetAcl(b) => b.encode(w),
            Response::SetAcl(b) => b.encode(w),
            Response::GetChildren(b) => b.encode(w),
            Response::GetChildren2(b) => b.encode(w),
            Response::Sync(b) => b.encode(w),
            Response::GetAllChildrenNumber(b) => b.encode(w),
            Response::GetEphemerals(b) => b.encode(w),
            Response::WhoAmI(b) => b.encode(w),
            Response::Sasl(b) => b.encode(w),
            Response::AddWatch(b) => b.encode(w),
            Response::Multi(results) => encode_results(w, results),
        }
    }
}

/// Builds a whole reply frame: 4-byte length, `ReplyHeader(xid, zxid, err)`, then `body`
/// if and only if `err` is Ok. A failed request is answered with the header alone, which
/// is what Apache does and what clients expect (they do not read a body after an error).
/// A failed multi is not an error at this level: its header err is 0 and its body lists
/// the per-operation errors (see [`super::failed_multi_results`]).
pub fn encode_reply(xid: i32, zxid: Zxid, err: ErrorCode, body: &Response) -> Vec<u8> {
    if err == ErrorCode::Ok {
        encode_reply_with_body(xid, zxid, err, body)
    } else {
        encode_reply_with_body(xid, zxid, err, &Response::Empty)
    }
}

/// Builds a reply frame that carries `body` whatever `err` is. Only one Apache reply needs
/// this: a failed SASL step, answered with AuthFailed (or SessionClosedRequireSaslAuth)
/// and a `SetSaslResponse` with a null token before the connection is closed.
pub fn encode_reply_with_body(xid: i32, zxid: Zxid, err: ErrorCode, body: &Response) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader {
        xid,
        zxid,
        err: err.code(),
    }
    .encode(&mut w);
    body.encode(&mut w);
    w.finish_frame()
}

/// Builds a notification frame: `ReplyHeader(-1, zxid, 0)` then the [`WatcherEvent`].
/// Since ZooKeeper 3.9 `zxid` is the zxid of the change that fired the watch.
pub fn encode_notification(zxid: Zxid, event: &WatcherEvent) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .encode(&mut w);
    event.encode(&mut w);
    w.finish_frame()
}

/// Decodes the body of a successful reply to a request of opcode `op` (client side). Call
/// it only when the reply header's err is 0: error replies carry no body (the SASL failure
/// reply is the one exception, decodable with `op` = sasl).
pub fn decode_response(op: OpCode, body: &mut Reader<'_>) -> Result<Response, DecodeError> {
    Ok(match op {
        OpCode::Create => Response::Create(body.get()?),
        OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => {
            Response::Create2(body.get()?)
        }
        OpCode::Delete
        | OpCode::DeleteContainer
        | OpCode::Ping
        | OpCode::CloseSession
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::Auth => Response::Empty,
        // A passing standalone check gets no reply from Apache (FinalRequestProcessor builds
        // a SetDataResponse with a null Stat, which fails to serialise); the record it
        // means to send is a SetDataResponse, so decode that.
        OpCode::SetData | OpCode::Check => Response::SetData(body.get()?),
        OpCode::Exists => Response::Exists(body.get()?),
        OpCode::GetData | OpCode::Reconfig => Response::GetData(body.get()?),
        OpCode::GetAcl => Response::GetAcl(body.get()?),
        OpCode::SetAcl => Response::SetAcl(body.get()?),
        OpCode::GetChildren => Response::GetChildren(body.get()?),
        OpCode::GetChildren2 => Response::GetChildren2(body.get()?),
        OpCode::Sync => Response::Sync(body.get()?),
        OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(body.get()?),
        OpCode::GetEphemerals => Response::GetEphemerals(body.get()?),
        OpCode::WhoAmI => Response::WhoAmI(body.get()?),
        OpCode::Sasl => Response::Sasl(body.get()?),
        OpCode::AddWatch => Response::AddWatch(body.get()?),
        OpCode::Multi | OpCode::MultiRead => Response::Multi(decode_results(body)?),
        OpCode::Notification | OpCode::Error | OpCode::CreateSession => {
            return Err(DecodeError::UnknownOpCode(op.code()))
        }
    })
}
