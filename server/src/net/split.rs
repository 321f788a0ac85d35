//! Splits a glommio TCP stream into an independent reader and writer.
//!
//! A connection is served by two tasks: one reads requests while the other drains the
//! reply queue, so a client that pipelines requests never waits for its own replies to be
//! written. glommio streams take `&mut self` for both directions, so the writer gets its own
//! stream over a duplicate of the socket's descriptor. Both are the same kernel socket;
//! `shutdown` on either closes the connection for both.

use std::os::fd::{AsRawFd, FromRawFd};

use glommio::net::TcpStream;

/// Returns a second stream over the same socket, for writing.
pub fn duplicate(stream: &TcpStream) -> std::io::Result<TcpStream> {
    // SAFETY: dup returns a fresh descriptor we own exclusively (or -1, checked below); the
    // original stays owned by `stream`.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a valid, owned, connected TCP socket descriptor.
    Ok(unsafe { TcpStream::from_raw_fd(fd) })
}
