//! Splits a glommio TCP stream into a reading and a writing half over one descriptor.
//!
//! A connection is served by two tasks: one reads requests while the other drains the
//! reply queue, so a client that pipelines requests never waits for its own replies to be
//! written. glommio streams take `&mut self` for both directions, so the halves share the
//! stream through `Rc<RefCell<..>>` and borrow it only inside one poll, never across an
//! await. That is sound because glommio keeps a separate readiness source and waker for
//! each direction, so the reader's and the writer's pending polls do not disturb each
//! other. An earlier version gave the writer a `dup` of the descriptor, which cost every
//! connection two descriptors and halved the connections a `ulimit -n` allows (Apache
//! uses one). Both tasks run on the connection's shard executor, so nothing here is `Send`.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

type Shared = Rc<RefCell<TcpStream>>;

/// The reading side of a split stream.
pub struct ReadHalf(Shared);

/// The writing side of a split stream.
pub struct WriteHalf(Shared);

/// Splits `stream`; the socket closes when both halves are dropped.
pub fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    let shared = Rc::new(RefCell::new(stream));
    (ReadHalf(shared.clone()), WriteHalf(shared))
}

impl WriteHalf {
    /// Shuts the socket down; `Both` also ends the reading half, whose next read sees EOF.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: the descriptor stays open while the stream it belongs to is borrowed;
        // shutdown(2) takes no pointers.
        let rc = unsafe { libc::shutdown(self.0.borrow().as_raw_fd(), how) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_close(cx)
    }
}

/// Returns a second stream over a dup of the socket's descriptor. Peer links use it for a
/// task that only watches for EOF; there are a handful of them, unlike client connections.
pub fn duplicate(stream: &TcpStream) -> io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup returns a fresh descriptor we own exclusively (or -1, checked below); the
    // original stays owned by `stream`.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a valid, owned, connected TCP socket descriptor.
    Ok(unsafe { TcpStream::from_raw_fd(fd) })
}
