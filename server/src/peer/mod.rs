//! Ensemble member to ensemble member: the peer transport, which carries
//! `ringkeeper_replication::wire` frames over TCP (docs/peer-protocol.md).

#[cfg(test)]
mod tests;
pub mod transport;

pub use transport::{Inbound, PeerEndpoint, Transport, TransportSettings, TransportStats};
