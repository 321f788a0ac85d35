//! Configuration errors: enough context (key, value, where it was set) for
//! an operator to fix the problem from the message alone.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A line of a properties file (zoo.cfg or the dynamic config file);
    /// line 0 means the file as a whole.
    File { path: PathBuf, line: usize },
    /// A command-line flag, e.g. `--tick-time` or `-D`.
    Flag(String),
    /// Nothing set it; the value is the default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Line 0 stands for the file as a whole (e.g. a missing key).
            Origin::File { path, line: 0 } => write!(f, "{}", path.display()),
            Origin::File { path, line } => write!(f, "{}:{}", path.display(), line),
            Origin::Flag(flag) => write!(f, "command line {flag}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Why the configuration was refused. `main` prints it and exits with
/// `exit_code()` before opening any file or socket.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line itself is malformed, or `--help`/`--version` was
    /// asked for (clap renders the text).
    #[error("{0}")]
    Usage(#[from] clap::Error),

    /// A config file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A key has a value ringkeeper cannot accept.
    #[error("invalid {key}={value:?} ({origin}): {reason}")]
    InvalidValue {
        key: String,
        value: String,
        origin: Origin,
        reason: String,
    },

    /// Settings that are each valid but contradict one another, or a
    /// required one is missing.
    #[error("{reason} ({origin})")]
    Inconsistent { reason: String, origin: Origin },
}

impl ConfigError {
    /// The process exit code for this error: 0 when the user asked for help
    /// or the version (not a failure), 2 for everything else, like clap and
    /// like a usage error in most Unix tools.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage(e) => {
                if e.use_stderr() {
                    2
                } else {
                    0
                }
            }
            _ => 2,
        }
    }
}
