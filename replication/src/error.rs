//! The crate's errors. A proposal refusal is something the server can act on (redirect the
//! client, retry later); a configuration error is fatal at startup.

use crate::ServerId;
use thiserror::Error;

/// Why the peer refused client proposals.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// This peer is not an established leader; `leader` is the one it follows, if any.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<ServerId> },
    /// Too many proposals are waiting for a quorum; the server should hold the requests back.
    #[error("{outstanding} proposals outstanding, the limit is {max}")]
    Busy { outstanding: usize, max: usize },
    /// The epoch's counter is used up; the leader steps down so that a new epoch starts.
    #[error("zxid counter exhausted in this epoch")]
    ZxidExhausted,
    /// A reconfiguration is proposed and not committed yet (Apache's ReconfigInProgress).
    #[error("a reconfiguration is in progress")]
    ReconfigInProgress,
    /// The new configuration's voters do not include a quorum synchronized with this leader
    /// (Apache's NewConfigNoQuorum), or it is not a valid configuration.
    #[error("the new configuration has no synchronized quorum")]
    NewConfigNoQuorum,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("server {0} is neither a voter nor an observer")]
    NotAVoter(ServerId),
    #[error("a configuration needs at least one voter")]
    NoVoters,
    #[error("server {0} is listed twice among the voters and observers")]
    DuplicateVoter(ServerId),
    #[error("{0} members, the limit is 255")]
    TooManyMembers(usize),
    #[error("setting {0} must be greater than zero")]
    Zero(&'static str),
}
