//! ringkeeper's I/O-free core. Nothing here touches a socket, a file, an executor or the
//! wall clock: callers pass time in. That keeps every piece testable by plain unit tests
//! and by deterministic simulation.

pub mod acl;
pub mod history;
pub mod jute;
pub mod path;
pub mod prep;
pub mod read;
pub mod session;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod types;
pub mod watch;

pub use types::*;
