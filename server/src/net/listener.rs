//! Client-port listeners. Every shard binds its own listener on the same address with
//! SO_REUSEPORT so the kernel spreads new connections across shards without a hand-off.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Backlog of not-yet-accepted connections per shard listener.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Makes sure nobody else is serving `addr` before the shards bind it with SO_REUSEPORT.
///
/// SO_REUSEPORT would otherwise let two ringkeeper processes (of the same user) share one
/// port and silently split its clients between them. A bind without SO_REUSEPORT fails
/// while any other socket listens there, so we probe with one and drop it at once.
/// SO_REUSEADDR lets the probe (and the real listeners) ignore connections in TIME_WAIT,
/// which a restart on the same port leaves behind.
pub fn probe_free(addr: SocketAddr) -> std::io::Result<()> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&SockAddr::from(addr))?;
    Ok(())
}

/// Creates a std listener for one shard (SO_REUSEADDR + SO_REUSEPORT).
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(LISTEN_BACKLOG)?;
    Ok(sock.into())
}

/// Hands a bound std listener to the glommio reactor of the calling executor.
pub fn into_glommio(listener: std::net::TcpListener) -> glommio::net::TcpListener {
    // SAFETY: the descriptor comes from a live, owned std listener whose ownership we give
    // up with into_raw_fd, so glommio becomes its only owner.
    unsafe { glommio::net::TcpListener::from_raw_fd(listener.into_raw_fd()) }
}
