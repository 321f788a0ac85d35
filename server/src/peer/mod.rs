//! Ensemble member to ensemble member: the peer transport, which carries
//! `ringkeeper_replication::wire` frames over TCP (docs/peer-protocol.md), optionally inside
//! mutual TLS and after a SASL DIGEST-MD5 exchange (`secure.rs`, `auth.rs`).

pub mod auth;
mod conn;
#[cfg(test)]
mod joiner_tests;
pub mod secure;
#[cfg(test)]
mod secure_tests;
#[cfg(test)]
mod tests;
pub mod transport;

pub use secure::PeerSecurity;
pub use transport::{Inbound, PeerEndpoint, Transport, TransportSettings, TransportStats};
