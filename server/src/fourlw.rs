//! Four-letter words: the plain-text admin commands a client may send as
//! the first four bytes of a connection instead of a request length.
//!
//! Everything here is pure rendering from plain structs, so each answer can
//! be checked byte for byte against Apache ZooKeeper 3.8's. The connection
//! code does the rest:
//! 1. `parse_command` on the first four bytes; `None` means they are an
//!    ordinary length prefix (Apache treats unknown words the same way).
//! 2. If `!whitelist_allows(..)`, send `refusal(cmd)` and close (unless the
//!    word came from inside the process: see `internal`).
//! 3. Otherwise gather what the word needs, render it, send it and close.
//!    `stmk` first reads an 8-byte big-endian trace mask; `srst`/`crst` ask
//!    the caller to reset counters (`Command::reset_request`); the telnet
//!    close sequence just closes the connection.

pub mod build_date;
mod dump;
mod env;
pub mod internal;
mod java;
mod stats;
mod watches;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ringkeeper_engine::types::Zxid;

pub use dump::{render_dump, DumpInfo, ExpiryBucket, SessionEphemerals};
pub use env::{render_envi, Environment};
pub use stats::{
    connection_line, render_cons, render_mntr, render_srvr, render_stat, ConnectionInfo,
    MetricValue, ProposalSizes, ServerStats,
};
pub use watches::{
    render_wchc, render_wchp, render_wchs, PathWatches, SessionWatches, WatchSummary,
};

/// Every word Apache 3.8 recognises (`FourLetterCommands`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Command {
    Conf,
    Cons,
    Crst,
    Dirs,
    Dump,
    Envi,
    Gtmk,
    Ruok,
    Stmk,
    Srvr,
    Srst,
    Stat,
    Wchc,
    Wchp,
    Wchs,
    Mntr,
    Isro,
    Hash,
    /// The bytes `ff f4 ff fd` telnet sends when its user closes the session.
    TelnetClose,
}

/// The telnet "interrupt process, do" sequence Apache lists as a command.
const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

impl Command {
    /// All commands, in Apache's registration order.
    pub const ALL: [Command; 19] = [
        Command::Conf,
        Command::Cons,
        Command::Crst,
        Command::Dirs,
        Command::Dump,
        Command::Envi,
        Command::Gtmk,
        Command::Ruok,
        Command::Stmk,
        Command::Srst,
        Command::Srvr,
        Command::Stat,
        Command::Wchc,
        Command::Wchp,
        Command::Wchs,
        Command::Mntr,
        Command::Isro,
        Command::TelnetClose,
        Command::Hash,
    ];

    /// The name used in the whitelist and in the refusal message.
    pub fn name(self) -> &'static str {
        match self {
            Command::Conf => "conf",
            Command::Cons => "cons",
            Command::Crst => "crst",
            Command::Dirs => "dirs",
            Command::Dump => "dump",
            Command::Envi => "envi",
            Command::Gtmk => "gtmk",
            Command::Ruok => "ruok",
            Command::Stmk => "stmk",
            Command::Srvr => "srvr",
            Command::Srst => "srst",
            Command::Stat => "stat",
            Command::Wchc => "wchc",
            Command::Wchp => "wchp",
            Command::Wchs => "wchs",
            Command::Mntr => "mntr",
            Command::Isro => "isro",
            Command::Hash => "hash",
            Command::TelnetClose => "telnet close",
        }
    }

    fn bytes(self) -> [u8; 4] {
        match self {
            Command::TelnetClose => TELNET_CLOSE,
            other => {
                let name = other.name().as_bytes();
                [name[0], name[1], name[2], name[3]]
            }
        }
    }

    /// `stmk` is followed by an 8-byte big-endian trace mask the caller must
    /// read before answering with `render_stmk`.
    pub fn reads_trace_mask(self) -> bool {
        self == Command::Stmk
    }

    /// The counters `srst` and `crst` ask the caller to reset before it
    /// sends `render_reset`'s text.
    pub fn reset_request(self) -> Option<ResetRequest> {
        match self {
            Command::Srst => Some(ResetRequest::ServerStats),
            Command::Crst => Some(ResetRequest::ConnectionStats),
            _ => None,
        }
    }

    /// Whether Apache answers `ZK_NOT_SERVING` for this word while the
    /// server is not running (ruok, envi, gtmk, stmk answer regardless).
    pub fn needs_running_server(self) -> bool {
        !matches!(
            self,
            Command::Ruok | Command::Envi | Command::Gtmk | Command::Stmk | Command::TelnetClose
        )
    }
}

/// Recognises a four-letter word from the first four bytes of a
/// connection. Matching is exact (case-sensitive), as in Apache, where the
/// bytes are compared as one big-endian int.
pub fn parse_command(first4: &[u8]) -> Option<Command> {
    let word: [u8; 4] = first4.get(..4)?.try_into().ok()?;
    Command::ALL.into_iter().find(|cmd| cmd.bytes() == word)
}

/// The commands that may run (`4lw.commands.whitelist`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whitelist {
    allowed: BTreeSet<Command>,
}

impl Whitelist {
    /// Builds the whitelist as Apache's `FourLetterCommands.isEnabled` does:
    /// comma separated names, trimmed; `*` allows every command; `srvr` is
    /// always allowed (zkServer.sh needs it) and `isro` too when read-only
    /// mode is enabled. Unknown names are ignored. With no list at all only
    /// those implicit words are allowed.
    pub fn parse(list: Option<&str>, read_only_mode_enabled: bool) -> Whitelist {
        let mut allowed = BTreeSet::new();
        for item in list.unwrap_or_default().split(',').map(str::trim) {
            if item == "*" {
                allowed.extend(Command::ALL);
                break;
            }
            if let Some(cmd) = Command::ALL.into_iter().find(|c| c.name() == item) {
                allowed.insert(cmd);
            }
        }
        if read_only_mode_enabled {
            allowed.insert(Command::Isro);
        }
        allowed.insert(Command::Srvr);
        Whitelist { allowed }
    }

    /// Every command allowed, as with `4lw.commands.whitelist=*`.
    pub fn all() -> Whitelist {
        Whitelist {
            allowed: Command::ALL.into_iter().collect(),
        }
    }

    /// The allowed commands, in a stable order.
    pub fn commands(&self) -> impl Iterator<Item = Command> + '_ {
        self.allowed.iter().copied()
    }
}

impl Default for Whitelist {
    /// Apache's default: `srvr` only.
    fn default() -> Self {
        Whitelist::parse(None, false)
    }
}

/// Whether `cmd` may run.
pub fn whitelist_allows(whitelist: &Whitelist, cmd: Command) -> bool {
    whitelist.allowed.contains(&cmd)
}

/// The answer to a word outside the whitelist (Apache's `NopCommand`).
pub fn refusal(cmd: Command) -> String {
    format!(
        "{} is not executed because it is not in the whitelist.\n",
        cmd.name()
    )
}

/// Apache's `AbstractFourLetterCommand.ZK_NOT_SERVING`.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The answer while the server is not serving (still starting, or an
/// ensemble member without a quorum), for words where
/// `Command::needs_running_server` is true: `isro` says `null`, `hash` the
/// message without a newline, the others the message with one.
pub fn render_not_serving(cmd: Command) -> String {
    match cmd {
        Command::Isro => "null".to_owned(),
        Command::Hash => NOT_SERVING.to_owned(),
        _ => format!("{NOT_SERVING}\n"),
    }
}

/// `ruok`: `imok`, without a newline.
pub fn render_ruok() -> &'static str {
    "imok"
}

/// `isro`: `ro` in read-only mode, `rw` otherwise, without a newline.
pub fn render_isro(read_only: bool) -> &'static str {
    if read_only {
        "ro"
    } else {
        "rw"
    }
}

/// `dirs`: bytes used by the data and log directories.
pub fn render_dirs(data_dir_size: u64, log_dir_size: u64) -> String {
    format!("datadir_size: {data_dir_size}\nlogdir_size: {log_dir_size}\n")
}

/// Apache's default text trace mask: client requests, server packets,
/// sessions and warnings.
pub const DEFAULT_TRACE_MASK: i64 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 8);

/// `gtmk`: the trace mask in decimal, without a newline.
pub fn render_gtmk(trace_mask: i64) -> String {
    trace_mask.to_string()
}

/// `stmk`: echoes the new mask in decimal, without a newline.
pub fn render_stmk(new_trace_mask: i64) -> String {
    new_trace_mask.to_string()
}

/// Reads the mask that follows `stmk` (8 bytes, big-endian); `None` when
/// the client sent fewer.
pub fn parse_trace_mask(bytes: &[u8]) -> Option<i64> {
    let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(raw))
}

/// Counters a word asks the caller to reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetRequest {
    /// `srst`: latency, packet counts and (on a leader) proposal sizes.
    ServerStats,
    /// `crst`: every connection's packet counts and latencies.
    ConnectionStats,
}

/// The confirmation sent after the caller has reset the counters.
pub fn render_reset(request: ResetRequest) -> &'static str {
    match request {
        ResetRequest::ServerStats => "Server stats reset.\n",
        ResetRequest::ConnectionStats => "Connection stats reset.\n",
    }
}

/// `hash`: recent tree digests as `<zxid hex>: <digest>` lines. A server
/// that keeps no digest log passes an empty slice and answers nothing, as
/// Apache does with `zookeeper.digest.enabled=false`.
pub fn render_hash(digests: &[(Zxid, i64)]) -> String {
    let mut out = String::new();
    for (zxid, digest) in digests {
        let _ = writeln!(out, "{}: {digest}", java::hex(*zxid));
    }
    out
}
