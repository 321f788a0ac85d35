//! Benchmark support shared by the criterion benches, the `rk-load` traffic generator and
//! the `rk-bench-suite` runner.
//!
//! `rk-load` speaks the ZooKeeper client protocol itself (through the engine's codec), so it
//! drives ringkeeper or any ZooKeeper-compatible server. The suite starts servers, runs the
//! standard scenarios through the same generator, and writes the report.

pub mod check;
pub mod fanout;
pub mod keys;
pub mod load;
pub mod options;
pub mod populate;
pub mod proc_stat;
pub mod schedule;
pub mod session;
pub mod stats;
pub mod suite;
