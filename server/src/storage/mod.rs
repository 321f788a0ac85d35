//! Durable storage on the sequencer core: the group-commit transaction log written through
//! io_uring, snapshots, and the session secret. Formats, naming, recovery and the log
//! writer's decisions live in `ringkeeper_engine::storage`; this module owns the files.

pub mod log;
pub mod secret;
pub mod snapshots;

pub use log::UringLog;
