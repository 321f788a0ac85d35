//! The server's own messages between ensemble members, carried opaquely in the transport's
//! `App` frames: forwarded client writes and handshakes, the leader's refusals of them,
//! session activity, and `sync`. They are encoded with the jute primitives the client
//! protocol already uses (big-endian integers, length-prefixed strings and buffers), so the
//! decoder has the same bounds checks as the client decoder. Byte layouts: docs/peer-protocol.md.

use ringkeeper_engine::jute::{Reader, Writer};
use ringkeeper_engine::prep::WriteOp;
use ringkeeper_engine::{Acl, CreateMode, ErrorCode, Id, OpCode, SessionId, Zxid};

use crate::messages::Write;

/// One server-level message.
#[derive(Debug, Clone, PartialEq)]
pub enum AppMessage {
    /// Follower to leader: a client write for the leader to validate and propose.
    Forward {
        session: SessionId,
        cxid: i32,
        auth: Vec<Id>,
        write: Write,
    },
    /// Follower to leader: a new session the follower created (its id, from the follower's
    /// id space) for the leader to make global with a CreateSession transaction.
    CreateSession { session: SessionId, timeout_ms: i32 },
    /// Leader to follower: a forwarded request the leader would not turn into a transaction
    /// (unknown or expired session, or the leader is overloaded).
    Refused {
        session: SessionId,
        cxid: i32,
        err: ErrorCode,
        zxid: Zxid,
    },
    /// Follower to leader: sessions that showed activity, so that the leader, which expires
    /// sessions, keeps them alive.
    Touch { sessions: Vec<SessionId> },
    /// Follower to leader: a client's `sync`.
    Sync { token: u64 },
    /// Leader to follower: every proposal before the sync is committed up to `zxid`.
    SyncDone { token: u64, zxid: Zxid },
    /// Follower to leader: a client resumed this session here; the session's requests from
    /// any other member are now refused with SessionMoved.
    Revalidate { session: SessionId },
    /// Leader to the other members: the digest of its committed tree after `zxid`, which
    /// each compares with its own at that zxid (`sequencer::state::leader_digest`).
    Digest { zxid: Zxid, digest: u64 },
}

/// Why bytes are not an `AppMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed server message: {0}")]
pub struct AppDecodeError(pub String);

const KIND_FORWARD: i32 = 1;
const KIND_CREATE_SESSION: i32 = 2;
const KIND_REFUSED: i32 = 3;
const KIND_TOUCH: i32 = 4;
const KIND_SYNC: i32 = 5;
const KIND_SYNC_DONE: i32 = 6;
const KIND_REVALIDATE: i32 = 7;
const KIND_DIGEST: i32 = 8;

const WRITE_OP: i32 = 1;
const WRITE_MULTI: i32 = 2;
const WRITE_CLOSE: i32 = 3;
const WRITE_INVALID: i32 = 4;
const WRITE_RECONFIG: i32 = 5;
/// At most this many server lines in a forwarded reconfiguration.
const RECONFIG_LINES_MAX: usize = ringkeeper_replication::config::MEMBERS_MAX;

const OP_CREATE: i32 = 1;
const OP_DELETE: i32 = 2;
const OP_SET_DATA: i32 = 3;
const OP_SET_ACL: i32 = 4;
const OP_CHECK: i32 = 5;
const OP_DELETE_CONTAINER: i32 = 6;

/// Most sessions one Touch may carry; a follower splits longer lists.
pub const TOUCH_SESSIONS_MAX: usize = 100_000;

impl AppMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            AppMessage::Forward {
                session,
                cxid,
                auth,
                write,
            } => {
                w.write_i32(KIND_FORWARD);
                w.write_i64(*session);
                w.write_i32(*cxid);
                w.write_vec(auth, |w, id| {
                    w.write_str(&id.scheme);
                    w.write_str(&id.id);
                });
                encode_write(&mut w, write);
            }
            AppMessage::CreateSession {
                session,
                timeout_ms,
            } => {
                w.write_i32(KIND_CREATE_SESSION);
                w.write_i64(*session);
                w.write_i32(*timeout_ms);
            }
            AppMessage::Refused {
                session,
                cxid,
                err,
                zxid,
            } => {
                w.write_i32(KIND_REFUSED);
                w.write_i64(*session);
                w.write_i32(*cxid);
                w.write_i32(err.code());
                w.write_i64(*zxid);
            }
            AppMessage::Touch { sessions } => {
                w.write_i32(KIND_TOUCH);
                w.write_vec(sessions, |w, s| w.write_i64(*s));
            }
            AppMessage::Sync { token } => {
                w.write_i32(KIND_SYNC);
                w.write_i64(*token as i64);
            }
            AppMessage::SyncDone { token, zxid } => {
                w.write_i32(KIND_SYNC_DONE);
                w.write_i64(*token as i64);
                w.write_i64(*zxid);
            }
            AppMessage::Digest { zxid, digest } => {
                w.write_i32(KIND_DIGEST);
                w.write_i64(*zxid);
                w.write_i64(*digest as i64);
            }
            AppMessage::Revalidate { session } => {
                w.write_i32(KIND_REVALIDATE);
                w.write_i64(*session);
            }
        }
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<AppMessage, AppDecodeError> {
        let mut r = Reader::new(bytes);
        let m = decode_inner(&mut r).map_err(|e| AppDecodeError(e.to_string()))?;
        if !r.is_empty() {
            return Err(AppDecodeError(format!("{} trailing bytes", r.remaining())));
        }
        Ok(m)
    }
}

type R<T> = Result<T, ringkeeper_engine::jute::DecodeError>;

fn bad(what: &'static str) -> ringkeeper_engine::jute::DecodeError {
    ringkeeper_engine::jute::DecodeError::Invalid(what)
}

fn decode_inner(r: &mut Reader<'_>) -> R<AppMessage> {
    Ok(match r.read_i32()? {
        KIND_FORWARD => {
            let session = r.read_i64()?;
            let cxid = r.read_i32()?;
            let auth = r.read_vec(8, |r| {
                let scheme = r.read_str()?;
                let id = r.read_str()?;
                Ok(Id { scheme, id })
            })?;
            let write = decode_write(r)?;
            AppMessage::Forward {
                session,
                cxid,
                auth,
                write,
            }
        }
        KIND_CREATE_SESSION => AppMessage::CreateSession {
            session: r.read_i64()?,
            timeout_ms: r.read_i32()?,
        },
        KIND_REFUSED => {
            let session = r.read_i64()?;
            let cxid = r.read_i32()?;
            let code = r.read_i32()?;
            let err = ErrorCode::from_code(code).ok_or_else(|| bad("unknown error code"))?;
            AppMessage::Refused {
                session,
                cxid,
                err,
                zxid: r.read_i64()?,
            }
        }
        KIND_TOUCH => {
            let sessions = r.read_vec(8, |r| r.read_i64())?;
            if sessions.len() > TOUCH_SESSIONS_MAX {
                return Err(bad("too many sessions in one touch"));
            }
            AppMessage::Touch { sessions }
        }
        KIND_SYNC => AppMessage::Sync {
            token: r.read_i64()? as u64,
        },
        KIND_SYNC_DONE => AppMessage::SyncDone {
            token: r.read_i64()? as u64,
            zxid: r.read_i64()?,
        },
        KIND_REVALIDATE => AppMessage::Revalidate {
            session: r.read_i64()?,
        },
        KIND_DIGEST => AppMessage::Digest {
            zxid: r.read_i64()?,
            digest: r.read_i64()? as u64,
        },
        _ => return Err(bad("unknown message kind")),
    })
}

fn encode_write(w: &mut Writer, write: &Write) {
    match write {
        Write::Op(op) => {
            w.write_i32(WRITE_OP);
            encode_op(w, op);
        }
        Write::Multi(ops) => {
            w.write_i32(WRITE_MULTI);
            w.write_vec(ops, |w, (code, op)| {
                w.write_i32(code.code());
                encode_op(w, op);
            });
        }
        Write::CloseSession => w.write_i32(WRITE_CLOSE),
        Write::Invalid(err) => {
            w.write_i32(WRITE_INVALID);
            w.write_i32(err.code());
        }
        Write::Reconfig(lines) => {
            w.write_i32(WRITE_RECONFIG);
            w.write_vec(lines, |w, line| w.write_str(line));
        }
    }
}

fn decode_write(r: &mut Reader<'_>) -> R<Write> {
    Ok(match r.read_i32()? {
        WRITE_OP => Write::Op(decode_op(r)?),
        WRITE_MULTI => Write::Multi(r.read_vec(8, |r| {
            let code = r.read_i32()?;
            let op = OpCode::from_code(code).ok_or_else(|| bad("unknown opcode"))?;
            Ok((op, decode_op(r)?))
        })?),
        WRITE_CLOSE => Write::CloseSession,
        WRITE_INVALID => {
            let code = r.read_i32()?;
            Write::Invalid(ErrorCode::from_code(code).ok_or_else(|| bad("unknown error code"))?)
        }
        WRITE_RECONFIG => {
            let lines = r.read_vec(4, |r| r.read_str())?;
            if lines.len() > RECONFIG_LINES_MAX {
                return Err(bad("too many server lines in a reconfiguration"));
            }
            Write::Reconfig(lines)
        }
        _ => return Err(bad("unknown write kind")),
    })
}

fn encode_acl(w: &mut Writer, acl: &[Acl]) {
    ringkeeper_engine::jute::encode_acl_list(w, acl);
}

fn encode_op(w: &mut Writer, op: &WriteOp) {
    match op {
        WriteOp::Create {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        } => {
            w.write_i32(OP_CREATE);
            w.write_str(path);
            w.write_opt_buffer(data.as_deref());
            encode_acl(w, acl);
            w.write_i32(mode.flags());
            w.write_i64(ttl_ms.unwrap_or(-1));
            w.write_bool(ttl_ms.is_some());
        }
        WriteOp::Delete { path, version } => {
            w.write_i32(OP_DELETE);
            w.write_str(path);
            w.write_i32(*version);
        }
        WriteOp::SetData {
            path,
            data,
            version,
        } => {
            w.write_i32(OP_SET_DATA);
            w.write_str(path);
            w.write_opt_buffer(data.as_deref());
            w.write_i32(*version);
        }
        WriteOp::SetAcl { path, acl, version } => {
            w.write_i32(OP_SET_ACL);
            w.write_str(path);
            encode_acl(w, acl);
            w.write_i32(*version);
        }
        WriteOp::Check { path, version } => {
            w.write_i32(OP_CHECK);
            w.write_str(path);
            w.write_i32(*version);
        }
        WriteOp::DeleteContainer { path } => {
            w.write_i32(OP_DELETE_CONTAINER);
            w.write_str(path);
        }
    }
}

fn decode_op(r: &mut Reader<'_>) -> R<WriteOp> {
    Ok(match r.read_i32()? {
        OP_CREATE => {
            let path = r.read_str()?;
            let data = r.read_opt_buffer()?.map(|b| b.to_vec());
            let acl = ringkeeper_engine::jute::decode_acl_list(r)?;
            let flags = r.read_i32()?;
            let mode = CreateMode::from_flags(flags).ok_or_else(|| bad("unknown create flags"))?;
            let ttl = r.read_i64()?;
            let has_ttl = r.read_bool()?;
            WriteOp::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms: has_ttl.then_some(ttl),
            }
        }
        OP_DELETE => WriteOp::Delete {
            path: r.read_str()?,
            version: r.read_i32()?,
        },
        OP_SET_DATA => WriteOp::SetData {
            path: r.read_str()?,
            data: r.read_opt_buffer()?.map(|b| b.to_vec()),
            version: r.read_i32()?,
        },
        OP_SET_ACL => {
            let path = r.read_str()?;
            let acl = ringkeeper_engine::jute::decode_acl_list(r)?;
            WriteOp::SetAcl {
                path,
                acl,
                version: r.read_i32()?,
            }
        }
        OP_CHECK => WriteOp::Check {
            path: r.read_str()?,
            version: r.read_i32()?,
        },
        OP_DELETE_CONTAINER => WriteOp::DeleteContainer {
            path: r.read_str()?,
        },
        _ => return Err(bad("unknown operation kind")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<AppMessage> {
        let create = WriteOp::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: vec![Acl::new(31, Id::new("world", "anyone"))],
            mode: CreateMode::EphemeralSequential,
            ttl_ms: None,
        };
        let ttl = WriteOp::Create {
            path: "/t".into(),
            data: None,
            acl: vec![],
            mode: CreateMode::PersistentWithTtl,
            ttl_ms: Some(5000),
        };
        vec![
            AppMessage::Forward {
                session: 0x1234,
                cxid: 7,
                auth: vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:x")],
                write: Write::Op(create.clone()),
            },
            AppMessage::Forward {
                session: 1,
                cxid: 8,
                auth: vec![],
                write: Write::Multi(vec![
                    (OpCode::Create, create),
                    (OpCode::Create2, ttl),
                    (
                        OpCode::Check,
                        WriteOp::Check {
                            path: "/c".into(),
                            version: 3,
                        },
                    ),
                    (
                        OpCode::Delete,
                        WriteOp::Delete {
                            path: "/d".into(),
                            version: -1,
                        },
                    ),
                    (
                        OpCode::SetData,
                        WriteOp::SetData {
                            path: "/s".into(),
                            data: Some(vec![]),
                            version: 2,
                        },
                    ),
                ]),
            },
            AppMessage::Forward {
                session: 2,
                cxid: 9,
                auth: vec![],
                write: Write::CloseSession,
            },
            AppMessage::Forward {
                session: 2,
                cxid: 10,
                auth: vec![],
                write: Write::Invalid(ErrorCode::BadArguments),
            },
            AppMessage::Forward {
                session: 2,
                cxid: 12,
                auth: vec![Id::new("super", "")],
                write: Write::Reconfig(vec![
                    "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181".into(),
                    "server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2181".into(),
                ]),
            },
            AppMessage::Forward {
                session: 2,
                cxid: 11,
                auth: vec![],
                write: Write::Op(WriteOp::SetAcl {
                    path: "/q".into(),
                    acl: vec![],
                    version: 0,
                }),
            },
            AppMessage::Forward {
                session: 2,
                cxid: 12,
                auth: vec![],
                write: Write::Op(WriteOp::DeleteContainer { path: "/k".into() }),
            },
            AppMessage::CreateSession {
                session: 9,
                timeout_ms: 30000,
            },
            AppMessage::Refused {
                session: 3,
                cxid: 4,
                err: ErrorCode::SessionExpired,
                zxid: 0x1_0000_0005,
            },
            AppMessage::Touch {
                sessions: vec![1, 2, 3],
            },
            AppMessage::Sync { token: 77 },
            AppMessage::SyncDone {
                token: 77,
                zxid: 99,
            },
            AppMessage::Revalidate { session: 5 },
            AppMessage::Digest {
                zxid: 0x3_0000_0007,
                digest: 0xfedc_ba98_7654_3210,
            },
        ]
    }

    /// Format drift fails here: the bytes members of this version send each other.
    #[test]
    fn encodings_match_the_golden_bytes() {
        let golden: Vec<&str> = include_str!("app_golden.hex")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        let samples = samples();
        assert_eq!(golden.len(), samples.len(), "one golden line per sample");
        for (m, hex) in samples.iter().zip(golden) {
            let encoded: String = m.encode().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(encoded, hex, "{m:?}");
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(AppMessage::decode(&bytes).as_ref(), Ok(m));
        }
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode();
            assert_eq!(AppMessage::decode(&bytes).as_ref(), Ok(&m), "{m:?}");
        }
    }

    #[test]
    fn a_forwarded_reconfiguration_is_laid_out_as_documented() {
        let m = AppMessage::Forward {
            session: 1,
            cxid: 2,
            auth: vec![],
            write: Write::Reconfig(vec!["ab".into()]),
        };
        let mut expected = vec![0, 0, 0, 1]; // Forward
        expected.extend([0, 0, 0, 0, 0, 0, 0, 1]); // session
        expected.extend([0, 0, 0, 2]); // cxid
        expected.extend([0, 0, 0, 0]); // no auth
        expected.extend([0, 0, 0, 5]); // write kind: reconfiguration
        expected.extend([0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b']); // one line, "ab"
        assert_eq!(m.encode(), expected);
        // More lines than a configuration may hold is refused.
        let mut many = expected[..24].to_vec();
        let count = ringkeeper_replication::config::MEMBERS_MAX + 1;
        many.extend((count as i32).to_be_bytes());
        for _ in 0..count {
            many.extend([0, 0, 0, 0]);
        }
        assert!(AppMessage::decode(&many).is_err());
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error_not_a_panic() {
        for m in samples() {
            let bytes = m.encode();
            for cut in 0..bytes.len() {
                assert!(
                    AppMessage::decode(&bytes[..cut]).is_err(),
                    "{m:?} cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(AppMessage::decode(&longer).is_err());
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let len = (seed % 64) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(seed as u8);
            }
            let _ = AppMessage::decode(&buf);
        }
    }
}
