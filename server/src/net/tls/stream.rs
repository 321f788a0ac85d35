//! A TLS connection shared by a connection's reader and writer tasks.
//!
//! A plain connection is served by two tasks over the two halves of one socket (see
//! `net::split`). A TLS connection keeps that shape: both tasks run on the same shard
//! executor and share one rustls `ServerConnection` through `Rc<RefCell<..>>`, borrowed only
//! between awaits, never across one. The reader half reads ciphertext from its half
//! and takes plaintext out; the writer half puts plaintext in and is the only one that
//! writes ciphertext to the socket, so TLS records can never interleave. When reading makes
//! rustls want to write (an alert, a key update answer) the reader asks the writer, through
//! a `kick` callback, to flush.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::ops::DerefMut;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::{ConnectionCommon, ServerConnection};

use crate::net::split::{ReadHalf, WriteHalf};

/// Ciphertext read from the socket at a time. No more than one TLS record's worth of
/// plaintext (16 KiB) can then be waiting in rustls, which is its receive limit.
const CIPHERTEXT_CHUNK: usize = 16 * 1024;

pub type SharedConn = Rc<RefCell<ServerConnection>>;

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A rustls connection with records to send: a client's, a server's, or either
/// (`rustls::Connection`, which member links keep after the handshake).
pub trait PendingRecords {
    fn wants_write(&self) -> bool;
    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize>;
}

impl<D> PendingRecords for ConnectionCommon<D> {
    fn wants_write(&self) -> bool {
        rustls::CommonState::wants_write(self)
    }
    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        ConnectionCommon::write_tls(self, out)
    }
}

impl PendingRecords for rustls::Connection {
    fn wants_write(&self) -> bool {
        rustls::CommonState::wants_write(self)
    }
    fn write_tls(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        rustls::Connection::write_tls(self, out)
    }
}

/// Writes whatever rustls has queued (handshake messages, alerts) to `sock`.
pub async fn write_pending<C: PendingRecords + ?Sized>(
    sock: &mut TcpStream,
    conn: &mut C,
) -> io::Result<()> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    if !out.is_empty() {
        sock.write_all(&out).await?;
    }
    Ok(())
}

/// Runs the TLS handshake on `sock` until it completes, fails or the peer goes away. The
/// caller bounds it in time. Plaintext the peer sent right behind its Finished message
/// stays in `conn` for the reader. Either side: the client port and accepted member links
/// pass a `ServerConnection`, dialed member links a `ClientConnection`.
pub async fn handshake<C, D>(sock: &mut TcpStream, conn: &mut C) -> io::Result<()>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    let mut buf = vec![0u8; CIPHERTEXT_CHUNK];
    loop {
        write_pending(sock, &mut **conn).await?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed during the TLS handshake",
            ));
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            conn.read_tls(&mut data)?;
            if let Err(e) = conn.process_new_packets() {
                // rustls queued an alert telling the peer why; send it before closing.
                let _ = write_pending(sock, &mut **conn).await;
                return Err(tls_error(e));
            }
        }
    }
}

/// The reading half: plaintext out of ciphertext read from the socket.
pub struct TlsReader {
    sock: ReadHalf,
    conn: SharedConn,
    buf: Box<[u8]>,
    kick: Box<dyn Fn()>,
}

impl TlsReader {
    /// `kick` must make the writer half flush soon; it is called when reading left rustls
    /// with something to send.
    pub fn new(sock: ReadHalf, conn: SharedConn, kick: Box<dyn Fn()>) -> Self {
        TlsReader {
            sock,
            conn,
            buf: vec![0u8; CIPHERTEXT_CHUNK].into_boxed_slice(),
            kick,
        }
    }
}

impl AsyncRead for TlsReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.conn.borrow_mut().reader().read(out) {
                // Ok(0) is the peer's close_notify: a clean end of stream.
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let n = ready!(Pin::new(&mut this.sock).poll_read(cx, &mut this.buf))?;
            if n == 0 {
                // The socket ended without a close_notify: a truncation, which rustls
                // reports as UnexpectedEof; the connection treats both as the end.
                return Poll::Ready(Ok(0));
            }
            let mut data = &this.buf[..n];
            let mut conn = this.conn.borrow_mut();
            let mut failed = None;
            while !data.is_empty() {
                if let Err(e) = conn.read_tls(&mut data) {
                    failed = Some(e);
                    break;
                }
                if let Err(e) = conn.process_new_packets() {
                    failed = Some(tls_error(e));
                    break;
                }
            }
            let wants_write = conn.wants_write();
            drop(conn);
            if wants_write {
                (this.kick)();
            }
            if let Some(e) = failed {
                return Poll::Ready(Err(e));
            }
        }
    }
}

/// The writing half: plaintext into rustls, ciphertext out to the socket.
pub struct TlsWriter {
    sock: WriteHalf,
    conn: SharedConn,
    /// Ciphertext taken from rustls and not yet written (from `sent` on).
    pending: Vec<u8>,
    sent: usize,
}

impl TlsWriter {
    pub fn new(sock: WriteHalf, conn: SharedConn) -> Self {
        TlsWriter {
            sock,
            conn,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Writes out everything rustls has queued.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.sent < self.pending.len() {
                let n =
                    ready!(Pin::new(&mut self.sock).poll_write(cx, &self.pending[self.sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.sent += n;
            }
            self.pending.clear();
            self.sent = 0;
            let mut conn = self.conn.borrow_mut();
            if !conn.wants_write() {
                return Poll::Ready(Ok(()));
            }
            while conn.wants_write() {
                conn.write_tls(&mut self.pending)?;
            }
        }
    }

    /// Sends close_notify, flushes and shuts the socket down.
    pub async fn close(&mut self) {
        self.conn.borrow_mut().send_close_notify();
        let _ = self.flush().await;
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

impl AsyncWrite for TlsWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let n = this.conn.borrow_mut().writer().write(buf)?;
        // Start sending at once; whatever the socket does not take now goes out on the
        // next write or flush (the caller flushes after every batch).
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.sock).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.sock).poll_close(cx)
    }
}
