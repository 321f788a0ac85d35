//! ringkeeper's replication protocol: a Zab-style atomic broadcast written as a pure state
//! machine, plus a deterministic simulator that exercises it under faults.
//!
//! A [`Peer`] never touches a socket, a disk or the wall clock. The server feeds it
//! [`Event`]s (a message arrived, a tick elapsed, clients want to propose, the log is durable
//! up to a zxid) and executes the [`Command`]s it returns, in order. Keeping every side effect
//! outside is what lets [`sim`] run a whole ensemble in one thread from one seed and replay any
//! failure exactly. The protocol, the message set and the contract with the server are
//! described in `docs/replication.md`.

pub mod command;
pub mod config;
pub mod error;
mod log;
pub mod message;
mod peer;
pub mod planted;
pub mod sim;
pub mod wire;
pub mod zxid;

pub use command::{Command, EpochState, Role};
pub use config::{Config, Membership, MembershipReader};
pub use error::{ConfigError, ProposeError};
pub use message::{Entry, Message, Payload, SyncConfig, SyncMode, Vote, VoterState};
pub use peer::{Event, LeaderView, Peer, Restored, Stats};
pub use zxid::Zxid;

/// A server's id, the `N` of a `server.N=host:port:port` line in zoo.cfg (and of `myid`).
pub type ServerId = u64;
