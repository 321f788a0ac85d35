//! Durable storage on the sequencer core: the group-commit transaction log written through
//! io_uring, and snapshots. Formats, naming and recovery live in `ringkeeper_engine::storage`;
//! this module owns the files.

pub mod log;
pub mod snapshots;

pub use log::{LogError, LogWriter};
