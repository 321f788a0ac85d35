//! ringkeeper's server: executors, sockets, sessions, the sequencer and the client protocol.

pub mod admin;
pub mod apache_import;
pub mod config;
pub mod containers;
pub mod divergence;
pub mod fourlw;
pub mod latency;
pub mod messages;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod peer;
pub mod planted;
pub mod reconfig;
pub mod replica;
pub mod runtime;
pub mod sasl;
pub mod sequencer;
pub mod shard;
pub mod shutdown;
pub mod sim;
pub mod snapshotter;
pub mod startup;
pub mod storage;
pub mod watermark;
