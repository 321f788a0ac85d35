//! Apache ZooKeeper's transaction log (`version-2/log.<zxid hex>`), read from the facts in
//! `FileTxnLog`, `Util.readTxnBytes` and `SerializeUtils.deserializeTxn`:
//!
//! ```text
//! FileHeader   int magic "ZKLG", int version (2), long dbid
//! records      long Adler32 of the entry, buffer entry, byte 'B'
//! entry        TxnHeader {long clientId, int cxid, long zxid, long time, int type},
//!              then the txn record for the type, then (3.6+) an optional TxnDigest
//! ```
//! The file is preallocated with zeros: an entry of length 0 ends it. A record cut short
//! (no 'B', or the file ends inside it) is a torn tail, which Apache treats as the end of
//! the log too; a checksum mismatch is corruption.

use ringkeeper_engine::jute::{Decode, DecodeError, Reader};
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};
use ringkeeper_engine::{Acl, ErrorCode};

use super::{adler32, ImportError};

/// "ZKLG".
pub const LOG_MAGIC: i32 = 0x5a4b_4c47;

/// Apache opcodes that appear in txn headers (`ZooDefs.OpCode`).
mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// What one log file held.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub txns: Vec<Txn>,
    /// Why reading stopped early, if it did at a torn record rather than the zero fill.
    pub torn: Option<String>,
}

/// Decodes every record of one log file; `file` names it in errors.
pub fn decode(file: &str, bytes: &[u8]) -> Result<LogFile, ImportError> {
    let corrupt = |offset: usize, why: String| ImportError::CorruptLog {
        file: file.to_string(),
        offset: offset as u64,
        why,
    };
    let mut r = Reader::new(bytes);
    let magic = r.read_i32().map_err(|e| corrupt(0, e.to_string()))?;
    if magic != LOG_MAGIC {
        return Err(corrupt(
            0,
            format!("bad magic {magic:#010x}, not a txn log"),
        ));
    }
    let version = r.read_i32().map_err(|e| corrupt(4, e.to_string()))?;
    if version != 2 {
        return Err(corrupt(4, format!("unsupported log version {version}")));
    }
    r.read_i64().map_err(|e| corrupt(8, e.to_string()))?;

    let mut txns = Vec::new();
    let mut torn = None;
    while !r.is_empty() {
        let offset = r.position();
        let record = (|| -> Result<Option<(i64, &[u8])>, DecodeError> {
            let crc = r.read_i64()?;
            let entry = r.read_opt_buffer()?.unwrap_or_default();
            if entry.is_empty() {
                return Ok(None);
            }
            let end = r.rest().first().copied();
            r.read_bool()?;
            if end != Some(b'B') {
                return Err(DecodeError::Invalid("record without its 'B' end byte"));
            }
            Ok(Some((crc, entry)))
        })();
        let (crc, entry) = match record {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(why) => {
                torn = Some(format!("offset {offset}: {why}"));
                break;
            }
        };
        let computed = i64::from(adler32(entry));
        if crc != computed {
            return Err(corrupt(
                offset,
                format!("checksum mismatch: stored {crc:#x}, computed {computed:#x}"),
            ));
        }
        let txn = decode_entry(entry).map_err(|why| corrupt(offset, why))?;
        txns.push(txn);
    }
    Ok(LogFile { txns, torn })
}

/// One entry: the header, then the body its type names.
fn decode_entry(entry: &[u8]) -> Result<Txn, String> {
    let mut r = Reader::new(entry);
    let e = |e: DecodeError| e.to_string();
    let session = r.read_i64().map_err(e)?;
    let cxid = r.read_i32().map_err(e)?;
    let zxid = r.read_i64().map_err(e)?;
    let time_ms = r.read_i64().map_err(e)?;
    let kind = r.read_i32().map_err(e)?;
    let body = decode_body(kind, session, &mut r)?;
    Ok(Txn {
        zxid,
        time_ms,
        session,
        cxid,
        body,
    })
}

fn decode_body(kind: i32, session: i64, r: &mut Reader<'_>) -> Result<TxnBody, String> {
    let e = |e: DecodeError| format!("txn type {kind}: {e}");
    let acl = |r: &mut Reader<'_>| r.read_vec(12, Acl::decode);
    let data = |r: &mut Reader<'_>| r.read_opt_buffer().map(|d| d.map(<[u8]>::to_vec));
    Ok(match kind {
        op::CREATE_SESSION => TxnBody::CreateSession {
            timeout_ms: r.read_i32().map_err(e)?,
        },
        op::CLOSE_SESSION => {
            // 3.6+ lists the session's ephemerals (CloseSessionTxn); older logs have no
            // body, and the tree deletes the session's ephemerals either way.
            let ephemerals = r.read_vec(4, |r| r.read_str()).unwrap_or_default();
            TxnBody::CloseSession { ephemerals }
        }
        op::CREATE | op::CREATE2 => {
            let path = r.read_str().map_err(e)?;
            let data = data(r).map_err(e)?;
            let acl = acl(r).map_err(e)?;
            let ephemeral = r.read_bool().map_err(e)?;
            // A CreateTxnV0 has no parentCVersion: -1 means "one more than now".
            let parent_cversion = r.read_i32().unwrap_or(-1);
            TxnBody::Create {
                path,
                data,
                acl,
                kind: if ephemeral {
                    NodeKind::Ephemeral(session)
                } else {
                    NodeKind::Persistent
                },
                parent_cversion,
            }
        }
        op::CREATE_CONTAINER => TxnBody::Create {
            path: r.read_str().map_err(e)?,
            data: data(r).map_err(e)?,
            acl: acl(r).map_err(e)?,
            parent_cversion: r.read_i32().map_err(e)?,
            kind: NodeKind::Container,
        },
        op::CREATE_TTL => {
            let path = r.read_str().map_err(e)?;
            let data = data(r).map_err(e)?;
            let acl = acl(r).map_err(e)?;
            let parent_cversion = r.read_i32().map_err(e)?;
            let ttl = r.read_i64().map_err(e)?;
            TxnBody::Create {
                path,
                data,
                acl,
                kind: NodeKind::Ttl(ttl),
                parent_cversion,
            }
        }
        op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete {
            path: r.read_str().map_err(e)?,
        },
        op::SET_DATA | op::RECONFIG => TxnBody::SetData {
            path: r.read_str().map_err(e)?,
            data: data(r).map_err(e)?,
            version: r.read_i32().map_err(e)?,
        },
        op::SET_ACL => TxnBody::SetAcl {
            path: r.read_str().map_err(e)?,
            acl: acl(r).map_err(e)?,
            version: r.read_i32().map_err(e)?,
        },
        op::CHECK => TxnBody::Check {
            path: r.read_str().map_err(e)?,
            version: r.read_i32().map_err(e)?,
        },
        op::ERROR => {
            let code = r.read_i32().map_err(e)?;
            TxnBody::Error(ErrorCode::from_code(code).unwrap_or(ErrorCode::SystemError))
        }
        op::MULTI => {
            let subs = r
                .read_vec(8, |r| {
                    let kind = r.read_i32()?;
                    let bytes = r.read_opt_buffer()?.unwrap_or_default().to_vec();
                    Ok((kind, bytes))
                })
                .map_err(e)?;
            let mut ops = Vec::with_capacity(subs.len());
            for (sub_kind, bytes) in subs {
                if matches!(sub_kind, op::MULTI | op::CREATE_SESSION | op::CLOSE_SESSION) {
                    return Err(format!("multi holds a txn of type {sub_kind}"));
                }
                ops.push(decode_body(sub_kind, session, &mut Reader::new(&bytes))?);
            }
            TxnBody::Multi(ops)
        }
        other => return Err(format!("unsupported txn type {other}")),
    })
}
