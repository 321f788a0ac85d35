//! Sockets: the client-port listeners, length-prefixed frame I/O and TLS. This is the only place
//! in the server that handles raw file descriptors.

pub mod frame;
pub mod limiter;
pub mod listener;
pub mod sockopt;
pub mod split;
pub mod tls;
