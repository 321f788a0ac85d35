//! Socket options glommio's streams do not expose.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use glommio::net::TcpStream;
use socket2::SockRef;

/// Sets TCP_USER_TIMEOUT: the kernel aborts the connection (ETIMEDOUT on the next read or
/// write) once sent data has stayed unacknowledged this long, instead of retransmitting with
/// an ever longer backoff for many minutes.
pub fn set_tcp_user_timeout(stream: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    // SAFETY: the descriptor belongs to `stream`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    SockRef::from(&fd).set_tcp_user_timeout(Some(timeout))
}
