//! Requests after the handshake: a [`RequestHeader`] then a body chosen by the opcode.

use super::multi::{decode_ops, encode_ops};
use super::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, GetSaslRequest, MultiOp, ReconfigRequest, RemoveWatchesRequest,
    RequestHeader, SetAclRequest, SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};
use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};
use crate::types::OpCode;

/// A decoded client request: one variant per opcode a client may send after the handshake.
///
/// Variants keep the opcode they arrived with (create, create2 and createContainer all
/// carry a [`CreateRequest`]), so [`Request::op_code`] always gives back the wire opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    /// Apache's container manager sends this internally. The codec decodes it for
    /// completeness; the server refuses it from a client before decoding.
    DeleteContainer(DeleteContainerRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    Sync(SyncRequest),
    /// No body. Sent with xid -2.
    Ping,
    /// A standalone check. Apache runs it like a check inside a multi, answers its errors
    /// and sends nothing when it passes (its reply fails to serialise there).
    Check(CheckVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    /// Sent with xid -4.
    Auth(AuthPacket),
    /// Sent with xid -8.
    SetWatches(SetWatches),
    /// Sent with xid -8.
    SetWatches2(SetWatches2),
    Sasl(GetSaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    /// No body.
    WhoAmI,
    /// No body. The server answers, then closes the connection.
    CloseSession,
    /// Never sent by a real client (Apache creates it internally from the ConnectRequest);
    /// decoded without a body so the server can refuse it deliberately.
    CreateSession,
}

impl Request {
    /// The opcode this request travels under.
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
            Request::CreateSession => OpCode::CreateSession,
        }
    }

    /// The node path the request names, if it names exactly one.
    pub fn path(&self) -> Option<&str> {
        Some(match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => &r.path,
            Request::CreateTtl(r) => &r.path,
            Request::Delete(r) => &r.path,
            Request::DeleteContainer(r) => &r.path,
            Request::Exists(r) => &r.path,
            Request::GetData(r) => &r.path,
            Request::SetData(r) => &r.path,
            Request::GetAcl(r) => &r.path,
            Request::SetAcl(r) => &r.path,
            Request::GetChildren(r) => &r.path,
            Request::GetChildren2(r) => &r.path,
            Request::Sync(r) => &r.path,
            Request::Check(r) => &r.path,
            Request::CheckWatches(r) => &r.path,
            Request::RemoveWatches(r) => &r.path,
            Request::GetEphemerals(r) => &r.prefix_path,
            Request::GetAllChildrenNumber(r) => &r.path,
            Request::AddWatch(r) => &r.path,
            Request::Ping
            | Request::Multi(_)
            | Request::MultiRead(_)
            | Request::Reconfig(_)
            | Request::Auth(_)
            | Request::SetWatches(_)
            | Request::SetWatches2(_)
            | Request::Sasl(_)
            | Request::WhoAmI
            | Request::CloseSession
            | Request::CreateSession => return None,
        })
    }

    /// Encodes the body only (no header); the inverse of [`decode_request`].
    pub fn encode_body(&self, w: &mut Writer) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => r.encode(w),
            Request::CreateTtl(r) => r.encode(w),
            Request::Delete(r) => r.encode(w),
            Request::DeleteContainer(r) => r.encode(w),
            Request::Exists(r) => r.encode(w),
            Request::GetData(r) => r.encode(w),
            Request::SetData(r) => r.encode(w),
            Request::GetAcl(r) => r.encode(w),
            Request::SetAcl(r) => r.encode(w),
            Request::GetChildren(r) => r.encode(w),
            Request::GetChildren2(r) => r.encode(w),
            Request::Sync(r) => r.encode(w),
            Request::Check(r) => r.encode(w),
            Request::Multi(ops) | Request::MultiRead(ops) => encode_ops(w, ops),
            Request::Reconfig(r) => r.encode(w),
            Request::CheckWatches(r) => r.encode(w),
            Request::RemoveWatches(r) => r.encode(w),
            Request::Auth(r) => r.encode(w),
            Request::SetWatches(r) => r.encode(w),
            Request::SetWatches2(r) => r.encode(w),
            Request::Sasl(r) => r.encode(w),
            Request::GetEphemerals(r) => r.encode(w),
            Request::GetAllChildrenNumber(r) => r.encode(w),
            Request::AddWatch(r) => r.encode(w),
            Request::Ping | Request::WhoAmI | Request::CloseSession | Request::CreateSession => {}
        }
    }
}

/// Decodes the body that follows `header`. Trailing bytes after the body are ignored, as
/// Java's deserializers ignore them.
///
/// An opcode that is not a client request (unknown, or notification 0 / error -1) is
/// [`DecodeError::UnknownOpCode`]: Apache answers it with Unimplemented and closes the
/// connection (`UnimplementedRequestProcessor`). Any other error means the body did not
/// parse; Apache answers MarshallingError (BadArguments for a null path in setData and
/// setACL) and keeps the connection open, except for auth and SASL, whose parse failure
/// closes the connection.
///
/// Strings are read as Java reads them (see [`Reader::like_java`]) when the caller's
/// reader was made that way; a null string fails with [`DecodeError::NullString`] for
/// the opcodes whose Apache handler fails on one.
pub fn decode_request(
    header: &RequestHeader,
    body: &mut Reader<'_>,
) -> Result<Request, DecodeError> {
    let op = OpCode::from_code(header.op).ok_or(DecodeError::UnknownOpCode(header.op))?;
    body.set_refuse_null_strings(refuses_null_strings(op));
    let request = decode_body(op, header, body);
    body.set_refuse_null_strings(false);
    request
}

/// Whether Apache's handler for `op` fails on a null string (length -1) where the request
/// has a path or another string: it throws (a NullPointerException or a path validation
/// error), which the server answers with an error, while the handlers of sync,
/// getEphemerals, addWatch, removeWatches, auth, reconfig and createTTL accept a null and
/// go on (createTTL and reconfig refuse the request for other reasons first). Checked
/// against Apache 3.8 by `server/tests/malformed_requests.rs`.
fn refuses_null_strings(op: OpCode) -> bool {
    !matches!(
        op,
        OpCode::Sync
            | OpCode::GetEphemerals
            | OpCode::AddWatch
            | OpCode::RemoveWatches
            | OpCode::Auth
            | OpCode::Reconfig
            | OpCode::CreateTtl
    )
}

fn decode_body(
    op: OpCode,
    header: &RequestHeader,
    body: &mut Reader<'_>,
) -> Result<Request, DecodeError> {
    Ok(match op {
        OpCode::Create => Request::Create(body.get()?),
        OpCode::Create2 => Request::Create2(body.get()?),
        OpCode::CreateContainer => Request::CreateContainer(body.get()?),
        OpCode::CreateTtl => Request::CreateTtl(body.get()?),
        OpCode::Delete => Request::Delete(body.get()?),
        OpCode::DeleteContainer => Request::DeleteContainer(body.get()?),
        OpCode::Exists => Request::Exists(body.get()?),
        OpCode::GetData => Request::GetData(body.get()?),
        OpCode::SetData => Request::SetData(body.get()?),
        OpCode::GetAcl => Request::GetAcl(body.get()?),
        OpCode::SetAcl => Request::SetAcl(body.get()?),
        OpCode::GetChildren => Request::GetChildren(body.get()?),
        OpCode::GetChildren2 => Request::GetChildren2(body.get()?),
        OpCode::Sync => Request::Sync(body.get()?),
        OpCode::Ping => Request::Ping,
        OpCode::Check => Request::Check(body.get()?),
        OpCode::Multi => Request::Multi(decode_ops(body, false)?),
        OpCode::MultiRead => Request::MultiRead(decode_ops(body, true)?),
        OpCode::Reconfig => Request::Reconfig(body.get()?),
        OpCode::CheckWatches => Request::CheckWatches(body.get()?),
        OpCode::RemoveWatches => Request::RemoveWatches(body.get()?),
        OpCode::Auth => Request::Auth(body.get()?),
        OpCode::SetWatches => Request::SetWatches(body.get()?),
        OpCode::SetWatches2 => Request::SetWatches2(body.get()?),
        OpCode::Sasl => Request::Sasl(body.get()?),
        OpCode::GetEphemerals => Request::GetEphemerals(body.get()?),
        OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(body.get()?),
        OpCode::AddWatch => Request::AddWatch(body.get()?),
        OpCode::WhoAmI => Request::WhoAmI,
        OpCode::CloseSession => Request::CloseSession,
        OpCode::CreateSession => Request::CreateSession,
        OpCode::Notification | OpCode::Error => return Err(DecodeError::UnknownOpCode(header.op)),
    })
}

/// Decodes a whole request frame body (the bytes after the 4-byte length prefix): the
/// header, then the request. On a body error the header is still useful to answer the
/// right xid, so it is returned alongside the error.
pub fn decode_request_frame(frame: &[u8]) -> Result<(RequestHeader, Request), FrameError> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r).map_err(|error| FrameError {
        header: None,
        error,
    })?;
    match decode_request(&header, &mut r) {
        Ok(req) => Ok((header, req)),
        Err(error) => Err(FrameError {
            header: Some(header),
            error,
        }),
    }
}

/// Why [`decode_request_frame`] failed, with the header when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub header: Option<RequestHeader>,
    pub error: DecodeError,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.header {
            Some(h) => write!(f, "request xid {} opcode {}: {}", h.xid, h.op, self.error),
            None => write!(f, "request header: {}", self.error),
        }
    }
}

impl std::error::Error for FrameError {}

/// Builds a whole length-prefixed request frame (client side): header, then body.
pub fn encode_request(xid: i32, req: &Request) -> Vec<u8> {
    let mut w = Writer::framed();
    RequestHeader {
        xid,
        op: req.op_code().code(),
    }
    .encode(&mut w);
    req.encode_body(&mut w);
    w.finish_frame()
}
