//! Operator tools. `rk-inspect` reads a data directory offline: log segments, snapshots,
//! and a read-only recovery. Its logic lives here so that tests can drive it.

pub mod inspect;
