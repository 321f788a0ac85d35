//! What a shard counts for the four-letter words, and what those words need that is fixed
//! at startup. Plain data, below the state machine that updates it.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::fourlw::{self, Whitelist};

/// What the four-letter words need that is fixed at startup.
#[derive(Debug, Clone)]
pub struct FourLetterContext {
    pub version: String,
    pub whitelist: Whitelist,
    pub conf_text: String,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub started_ms: i64,
    /// Lifts the whitelist for the admin server and the metrics port (`fourlw::internal`).
    pub probe_token: fourlw::internal::ProbeToken,
}

/// Who asks a four-letter word: only a network client is held to the whitelist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    Network,
    /// The admin server or the metrics port, proven by the process's probe token.
    InProcess,
}

/// Per-connection counters for `cons` and `stat`.
#[derive(Debug, Clone)]
pub struct ConnStats {
    pub peer: Option<SocketAddr>,
    pub established_ms: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_cxid: i32,
    pub last_op: i32,
}

impl ConnStats {
    /// `now_ms` (ms since the epoch) is when the connection was made.
    pub fn new(peer: Option<SocketAddr>, now_ms: i64) -> Self {
        Self {
            peer,
            established_ms: now_ms,
            packets_received: 0,
            packets_sent: 0,
            last_cxid: -1,
            last_op: i32::MIN,
        }
    }
}

/// Shard-wide counters for `srvr`, `stat` and `mntr`.
#[derive(Debug, Clone, Default)]
pub struct ServerCounters {
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Read replies refused for exceeding `ringkeeper.replyBytesMax`.
    pub replies_too_large: u64,
}

/// Apache's four-letter abbreviation of the last operation, as `cons` prints it.
pub(super) fn short_op(op: i32) -> &'static str {
    use ringkeeper_engine::OpCode::*;
    match ringkeeper_engine::OpCode::from_code(op) {
        None => "NA",
        Some(op) => match op {
            Create | Create2 | CreateContainer | CreateTtl => "CREA",
            Delete | DeleteContainer => "DELE",
            Exists => "EXIS",
            GetData => "GETD",
            SetData => "SETD",
            GetAcl => "GACL",
            SetAcl => "SACL",
            GetChildren | GetChildren2 => "GETC",
            Sync => "SYNC",
            Ping => "PING",
            Check => "CHEC",
            Multi | MultiRead => "MULT",
            CloseSession => "CLOS",
            SetWatches | SetWatches2 => "SETW",
            Auth => "AUTH",
            _ => "NA",
        },
    }
}
