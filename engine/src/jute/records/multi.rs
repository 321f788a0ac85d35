//! multi (opcode 14) and multiRead (opcode 22): a list of operations, each behind a
//! [`MultiHeader`], ended by a header whose `done` is true; and the matching result list.
//!
//! The rules here follow Apache's `MultiOperationRecord.deserialize`, `Op.create`,
//! `MultiResponse.serialize` and `FinalRequestProcessor` (zookeeper-server/src/main/java/
//! org/apache/zookeeper/). Anything Apache's deserializer refuses with an IOException is a
//! [`DecodeError`] here; Apache answers such a request with a reply header carrying
//! MarshallingError (-5) and no body, and keeps the connection open.

use super::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse,
};
use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};
use crate::types::{CreateMode, ErrorCode, OpCode};

/// One operation of a multi or multiRead request.
///
/// Create variants are normalised the way Apache's `Op.create` normalises them on decode:
/// a create, create2 or createContainer whose flags say container becomes
/// [`MultiOp::CreateContainer`], and a createTTL whose flags are a valid non-TTL mode becomes
/// a plain [`MultiOp::Create`] (or `CreateContainer`) without its TTL. The variant is
/// therefore the operation type the server must execute and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

/// Whether an operation changes the tree (allowed in multi) or only reads it (multiRead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Transaction,
    Read,
}

impl MultiOp {
    /// The opcode written in this operation's [`MultiHeader`].
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// The node the operation acts on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
        }
    }

    /// True for the operations a multiRead may carry.
    pub fn is_read(&self) -> bool {
        self.kind() == OpKind::Read
    }

    fn kind(&self) -> OpKind {
        match self {
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => OpKind::Read,
            _ => OpKind::Transaction,
        }
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.encode(w),
            MultiOp::CreateTtl(r) => r.encode(w),
            MultiOp::Delete(r) => r.encode(w),
            MultiOp::SetData(r) => r.encode(w),
            MultiOp::Check(r) => r.encode(w),
            MultiOp::GetChildren(r) => r.encode(w),
            MultiOp::GetData(r) => r.encode(w),
        }
    }

    /// Reads the record behind a header of type `op` and applies Apache's normalisation.
    fn decode_body(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code =
            OpCode::from_code(op).ok_or(DecodeError::Invalid("invalid type of op in multi"))?;
        Ok(match code {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                let req = CreateRequest::decode(r)?;
                // `MultiOperationRecord` builds `CreateOptions` with no TTL: an unknown flag
                // or a TTL mode makes it throw, which the server reports as MarshallingError.
                let mode = CreateMode::from_flags(req.flags)
                    .ok_or(DecodeError::Invalid("invalid create flags in multi"))?;
                if mode.is_ttl() {
                    return Err(DecodeError::Invalid(
                        "TTL create mode without a TTL in multi",
                    ));
                }
                if mode.is_container() || code == OpCode::CreateContainer {
                    MultiOp::CreateContainer(req)
                } else if code == OpCode::Create2 {
                    MultiOp::Create2(req)
                } else {
                    MultiOp::Create(req)
                }
            }
            OpCode::CreateTtl => {
                let req = CreateTtlRequest::decode(r)?;
                // `Op.create(path, data, acl, flags, ttl)` keeps the TTL only for TTL modes
                // and otherwise rebuilds a plain create (container flags give a
                // createContainer). An unknown flag stays a createTTL here, although Apache
                // turns it into a create: either way the preparer answers BadArguments, an
                // error result carries no type of its own, and keeping it lets a decoded
                // operation always encode back to something that decodes the same.
                match CreateMode::from_flags(req.flags) {
                    None => MultiOp::CreateTtl(req),
                    Some(mode) if mode.is_ttl() => MultiOp::CreateTtl(req),
                    Some(mode) if mode.is_container() => {
                        MultiOp::CreateContainer(req.without_ttl())
                    }
                    Some(_) => MultiOp::Create(req.without_ttl()),
                }
            }
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r)?),
            _ => return Err(DecodeError::Invalid("invalid type of op in multi")),
        })
    }
}

/// Decodes the operation list of a multi (`read == false`) or multiRead (`read == true`).
///
/// Apache refuses to mix read and write operations in one record, and a write operation in
/// a multiRead or a read operation in a multi never executes (the first fails in
/// `FinalRequestProcessor`, the second in `PrepRequestProcessor`); both end as
/// MarshallingError, so both are decode errors here. The number of operations is bounded
/// only by the frame: each costs at least a 9-byte header, and nothing is allocated for an
/// operation before its bytes have been read.
pub(crate) fn decode_ops(r: &mut Reader<'_>, read: bool) -> Result<Vec<MultiOp>, DecodeError> {
    let wanted = if read {
        OpKind::Read
    } else {
        OpKind::Transaction
    };
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::decode(r)?;
        // Like Apache, only `done` ends the list; the terminator's type and err are ignored.
        if header.done {
            return Ok(ops);
        }
        let op = MultiOp::decode_body(header.op, r)?;
        if op.kind() != wanted {
            return Err(DecodeError::Invalid(if read {
                "write operation in multiRead"
            } else {
                "read operation in multi"
            }));
        }
        ops.push(op);
    }
}

/// Encodes an operation list as Apache's `MultiOperationRecord.serialize` does: each header
/// carries err -1, and the list ends with [`MultiHeader::TERMINATOR`].
pub(crate) fn encode_ops(w: &mut Writer, ops: &[MultiOp]) {
    for op in ops {
        MultiHeader {
            op: op.op_code().code(),
            done: false,
            err: -1,
        }
        .encode(w);
        op.encode_body(w);
    }
    MultiHeader::TERMINATOR.encode(w);
}

/// The result of one operation of a multi or multiRead, as Apache's `OpResult`.
///
/// Note the mapping `FinalRequestProcessor` uses for successful multi operations: create
/// reports [`MultiResult::Create`], while create2, createTTL and createContainer all report
/// [`MultiResult::Create2`] (header type 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// Type 1: the created path.
    Create(CreateResponse),
    /// Type 15: the created path and the new node's Stat.
    Create2(Create2Response),
    /// Type 2, no body.
    Delete,
    /// Type 5.
    SetData(SetDataResponse),
    /// Type 13, no body.
    Check,
    /// Type 8 (multiRead).
    GetChildren(GetChildrenResponse),
    /// Type 4 (multiRead).
    GetData(GetDataResponse),
    /// Type -1: the operation failed, or was rolled back because another one failed.
    Error(ErrorCode),
}

impl MultiResult {
    /// The type written in this result's [`MultiHeader`].
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiResult::Create(_) => OpCode::Create,
            MultiResult::Create2(_) => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData(_) => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetChildren(_) => OpCode::GetChildren,
            MultiResult::GetData(_) => OpCode::GetData,
            MultiResult::Error(_) => OpCode::Error,
        }
    }
}

/// The results of a multi that failed at operation `failed_index` with `err`, laid out as
/// Apache's `DataTree.processTxn` lays them out: every result is an error, the operations
/// before the failing one carry 0 (Ok), the failing one its code, and the ones after it
/// RuntimeInconsistency (-2). The reply header of such a multi still carries err 0.
pub fn failed_multi_results(
    op_count: usize,
    failed_index: usize,
    err: ErrorCode,
) -> Vec<MultiResult> {
    (0..op_count)
        .map(|i| {
            MultiResult::Error(match i.cmp(&failed_index) {
                std::cmp::Ordering::Less => ErrorCode::Ok,
                std::cmp::Ordering::Equal => err,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
            })
        })
        .collect()
}

/// Encodes a result list as Apache's `MultiResponse.serialize`: per result a header
/// `(type, false, err)` where err is 0 except for error results, then the body, then the
/// terminator `(-1, true, -1)`.
pub(crate) fn encode_results(w: &mut Writer, results: &[MultiResult]) {
    for result in results {
        let err = match result {
            MultiResult::Error(e) => e.code(),
            _ => 0,
        };
        MultiHeader {
            op: result.op_code().code(),
            done: false,
            err,
        }
        .encode(w);
        match result {
            MultiResult::Create(b) => b.encode(w),
            MultiResult::Create2(b) => b.encode(w),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(b) => b.encode(w),
            MultiResult::GetChildren(b) => b.encode(w),
            MultiResult::GetData(b) => b.encode(w),
            MultiResult::Error(e) => ErrorResponse { err: e.code() }.encode(w),
        }
    }
    MultiHeader::TERMINATOR.encode(w);
}

/// Decodes a result list (client side), as Apache's `MultiResponse.deserialize`.
pub(crate) fn decode_results(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header = MultiHeader::decode(r)?;
        if header.done {
            return Ok(results);
        }
        let result = match OpCode::from_code(header.op) {
            Some(OpCode::Create) => MultiResult::Create(CreateResponse::decode(r)?),
            Some(OpCode::Create2) => MultiResult::Create2(Create2Response::decode(r)?),
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::SetData) => MultiResult::SetData(SetDataResponse::decode(r)?),
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::GetChildren) => MultiResult::GetChildren(GetChildrenResponse::decode(r)?),
            Some(OpCode::GetData) => MultiResult::GetData(GetDataResponse::decode(r)?),
            Some(OpCode::Error) => {
                let body = ErrorResponse::decode(r)?;
                MultiResult::Error(
                    ErrorCode::from_code(body.err)
                        .ok_or(DecodeError::Invalid("unknown error code in multi result"))?,
                )
            }
            _ => return Err(DecodeError::Invalid("invalid type in multi response")),
        };
        results.push(result);
    }
}
