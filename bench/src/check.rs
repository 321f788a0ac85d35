//! What `rk-load --check` adds to a run: every request's call and reply are recorded as a
//! history (engine/src/history), the keys' versions are read before the load starts, the
//! sequential parent is listed after it ends, and the history is checked.
//!
//! Each setData writes a value of its own: its token, as 16 hex digits, then filler up to
//! `--value-size`. A read's value names the write it saw; the setup's filler names none.

use crate::keys::key_path;
use crate::session::{self, reply_header};
use ringkeeper_engine::history::{Action, CreateOutcome, Observed, Op, WriteOutcome};
use ringkeeper_engine::jute::records::{
    decode_response, GetChildrenRequest, GetDataRequest, Request, Response,
};
use ringkeeper_engine::{xid, ErrorCode, OpCode};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Bytes of a value that carry its token.
pub const TOKEN_BYTES: usize = 16;
/// Keys a checked run may use: their versions are all read before it starts.
pub const CHECK_KEYS_MAX: u64 = 100_000;
/// Sequential creates of a checked run: the final getChildren of their parent must fit in
/// one reply (about 16 bytes per child against a 1 MiB frame).
pub const CHECK_CREATES_MAX: u64 = 50_000;
/// Operations a checked run records at most (about 100 bytes each); a connection stops
/// sending when its share is used up.
pub const CHECK_OPS_MAX: usize = 2_000_000;
/// getData requests outstanding while reading the initial versions.
const SETUP_IN_FLIGHT: usize = 256;
/// How long a setup or teardown reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The value a write with `token` stores.
pub fn value_of(token: u64, value_size: usize) -> Vec<u8> {
    let mut v = format!("{token:016x}").into_bytes();
    v.resize(value_size.max(TOKEN_BYTES), b'v');
    v
}

/// The token a value carries, or `None` for a value no checked write wrote.
pub fn token_of(value: &[u8]) -> Option<u64> {
    let head = std::str::from_utf8(value.get(..TOKEN_BYTES)?).ok()?;
    if !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(head, 16).ok()
}

/// The sequence number of a sequential node's path (its last 10 characters).
pub fn sequence_of(path: &str) -> Option<i64> {
    let tail = path.get(path.len().checked_sub(10)?..)?;
    tail.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| tail.parse().ok())
        .flatten()
}

/// What a request was, as the history will record it once its reply is in.
#[derive(Debug, Clone)]
pub enum Call {
    /// setData of a key.
    Write {
        /// The key.
        key: String,
        /// Conditional on this version, or `None` for -1.
        expected: Option<i32>,
        /// Its value's token.
        token: u64,
    },
    /// getData of a key, after a sync sent at `synced_from_ns` if any.
    Read {
        /// The key.
        key: String,
        /// When the sync before it was sent.
        synced_from_ns: Option<u64>,
    },
    /// A sequential create under `parent`.
    Create {
        /// The parent.
        parent: String,
    },
}

/// A request in flight that goes into the history.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The session it was sent on.
    pub client: u32,
    /// When it was sent, nanoseconds since the run started.
    pub invoke_ns: u64,
    /// What it was.
    pub call: Call,
}

impl Recorded {
    /// The history entry for its reply (`err` and the reply body), received at
    /// `complete_ns`; the parsed version, if any, is returned too so the connection can
    /// condition its next write on it.
    pub fn answered(
        self,
        complete_ns: u64,
        err: i32,
        body: &mut ringkeeper_engine::jute::Reader<'_>,
    ) -> (Op, Option<(String, i32)>) {
        let mut seen = None;
        let action = match self.call {
            Call::Write {
                key,
                expected,
                token,
            } => {
                let outcome = if err == ErrorCode::BadVersion.code() {
                    WriteOutcome::BadVersion
                } else if err != 0 {
                    WriteOutcome::Rejected
                } else {
                    match decode_response(OpCode::SetData, body) {
                        Ok(Response::SetData(r)) => {
                            seen = Some((key.clone(), r.stat.version));
                            WriteOutcome::Applied {
                                version: r.stat.version,
                            }
                        }
                        // A success reply that does not decode: it happened, but with which
                        // version is unknown.
                        _ => WriteOutcome::Unknown,
                    }
                };
                Action::Write {
                    key,
                    expected_version: expected,
                    token,
                    outcome,
                }
            }
            Call::Read {
                key,
                synced_from_ns,
            } => {
                let observed = match (err, decode_response(OpCode::GetData, body)) {
                    (0, Ok(Response::GetData(r))) => {
                        seen = Some((key.clone(), r.stat.version));
                        Some(Observed {
                            version: r.stat.version,
                            token: token_of(r.data_bytes()),
                        })
                    }
                    _ => None,
                };
                Action::Read {
                    key,
                    synced_from_ns,
                    observed,
                }
            }
            Call::Create { parent } => {
                let outcome = match (err, decode_response(OpCode::Create, body)) {
                    (0, Ok(Response::Create(r))) => match sequence_of(&r.path) {
                        Some(sequence) => CreateOutcome::Created { sequence },
                        None => CreateOutcome::Unknown,
                    },
                    (0, _) => CreateOutcome::Unknown,
                    _ => CreateOutcome::Rejected,
                };
                Action::Create { parent, outcome }
            }
        };
        let op = Op {
            client: self.client,
            invoke_ns: self.invoke_ns,
            complete_ns: Some(complete_ns),
            action,
        };
        (op, seen)
    }

    /// The history entry of a request that got no reply.
    pub fn unanswered(self) -> Op {
        let action = match self.call {
            Call::Write {
                key,
                expected,
                token,
            } => Action::Write {
                key,
                expected_version: expected,
                token,
                outcome: WriteOutcome::Unknown,
            },
            Call::Read {
                key,
                synced_from_ns,
            } => Action::Read {
                key,
                synced_from_ns,
                observed: None,
            },
            Call::Create { parent } => Action::Create {
                parent,
                outcome: CreateOutcome::Unknown,
            },
        };
        Op {
            client: self.client,
            invoke_ns: self.invoke_ns,
            complete_ns: None,
            action,
        }
    }
}

/// Reads the version of every key with pipelined getData requests.
pub async fn initial_versions(
    host: &str,
    root: &str,
    keys: u64,
) -> Result<BTreeMap<String, i32>, String> {
    let mut sess = session::connect(host, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    let mut waiting: VecDeque<String> = VecDeque::new();
    let mut next = 0u64;
    let mut next_xid = 1i32;
    while next < keys || !waiting.is_empty() {
        while next < keys && waiting.len() < SETUP_IN_FLIGHT {
            let path = key_path(root, next);
            let req = Request::GetData(GetDataRequest {
                path: path.clone(),
                watch: false,
            });
            session::write_request(&mut sess.writer, next_xid, &req)
                .await
                .map_err(|e| e.to_string())?;
            next_xid += 1;
            next += 1;
            waiting.push_back(path);
        }
        let frame = tokio::time::timeout(REPLY_TIMEOUT, session::read_frame(&mut sess.reader))
            .await
            .map_err(|_| "no reply to getData within 60 s".to_string())?
            .map_err(|e| e.to_string())?;
        let (header, mut body) = reply_header(&frame).map_err(|e| e.to_string())?;
        if header.xid == xid::NOTIFICATION || header.xid == xid::PING {
            continue;
        }
        let path = waiting.pop_front().ok_or("reply with no request")?;
        match decode_response(OpCode::GetData, &mut body) {
            Ok(Response::GetData(r)) if header.err == 0 => {
                out.insert(path, r.stat.version);
            }
            _ => {
                return Err(format!(
                    "getData {path}: {}",
                    crate::stats::error_label(header.err)
                ))
            }
        }
    }
    session::close(sess, next_xid).await;
    Ok(out)
}

/// The sequence numbers of `parent`'s children.
pub async fn list_sequences(host: &str, parent: &str) -> Result<Vec<i64>, String> {
    let mut sess = session::connect(host, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let req = Request::GetChildren(GetChildrenRequest {
        path: parent.to_string(),
        watch: false,
    });
    session::write_request(&mut sess.writer, 1, &req)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let frame = tokio::time::timeout(REPLY_TIMEOUT, session::read_frame(&mut sess.reader))
            .await
            .map_err(|_| "no reply to getChildren within 60 s".to_string())?
            .map_err(|e| e.to_string())?;
        let (header, mut body) = reply_header(&frame).map_err(|e| e.to_string())?;
        if header.xid != 1 {
            continue;
        }
        session::close(sess, 2).await;
        return match decode_response(OpCode::GetChildren, &mut body) {
            Ok(Response::GetChildren(r)) if header.err == 0 => {
                Ok(r.children.iter().filter_map(|c| sequence_of(c)).collect())
            }
            _ => Err(format!(
                "getChildren {parent}: {}",
                crate::stats::error_label(header.err)
            )),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_token_and_filler_carries_none() {
        let v = value_of(0xabc, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(token_of(&v), Some(0xabc));
        assert_eq!(token_of(&[b'v'; 100]), None);
        assert_eq!(token_of(b"12"), None);
        assert_eq!(value_of(7, 4).len(), TOKEN_BYTES);
    }

    #[test]
    fn sequence_numbers_come_from_the_last_ten_digits() {
        assert_eq!(sequence_of("/r/check/n-0000000042"), Some(42));
        assert_eq!(sequence_of("n-0000000042"), Some(42));
        assert_eq!(sequence_of("/r/k00000001x"), None);
        assert_eq!(sequence_of("short"), None);
    }
}
