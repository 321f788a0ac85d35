//! Operator tools. `rk-inspect` reads a data directory offline: log segments, snapshots,
//! and a read-only recovery. `rk-cli` is a ZooKeeper shell. Their logic lives here so that
//! tests can drive it.

pub mod apache;
pub mod cli;
pub mod client;
pub mod export;
pub mod inspect;
