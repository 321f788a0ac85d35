//! One member link connection, plain or TLS (`sslQuorum`), as the transport uses it: one task
//! owns it and either writes (a dialed link) or reads (an accepted one), except during the
//! handshake, where both sides talk. So unlike the client port's TLS stream, which a reader
//! and a writer task share, nothing here is split.

use std::io::{self, Read, Write};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::CertificateDer;

use crate::net::tls::stream::write_pending;

/// Ciphertext read from the socket at a time (one TLS record's worth).
const CIPHERTEXT_CHUNK: usize = 16 * 1024;

pub(super) struct PeerConn {
    sock: TcpStream,
    tls: Option<Box<rustls::Connection>>,
    /// Ciphertext read buffer, TLS only.
    cipher: Vec<u8>,
}

impl PeerConn {
    pub(super) fn plain(sock: TcpStream) -> Self {
        PeerConn {
            sock,
            tls: None,
            cipher: Vec::new(),
        }
    }

    /// Wraps a connection whose TLS handshake is complete.
    pub(super) fn tls(sock: TcpStream, conn: rustls::Connection) -> Self {
        PeerConn {
            sock,
            tls: Some(Box::new(conn)),
            cipher: vec![0; CIPHERTEXT_CHUNK],
        }
    }

    pub(super) fn socket(&self) -> &TcpStream {
        &self.sock
    }

    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout).map_err(io::Error::from)
    }

    /// The peer's certificate chain (TLS only).
    pub(super) fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.tls.as_ref().and_then(|c| c.peer_certificates())
    }

    pub(super) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(conn) = self.tls.as_mut() else {
            return self.sock.write_all(data).await;
        };
        let mut rest = data;
        while !rest.is_empty() {
            // rustls takes what its buffer limit allows; the rest after the flush.
            let n = conn.writer().write(rest)?;
            rest = &rest[n..];
            write_pending(&mut self.sock, &mut **conn).await?;
        }
        Ok(())
    }

    pub(super) async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        Ok(())
    }

    /// Reads plaintext; 0 at the end of the stream (a close_notify, or a TCP end).
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.tls.as_mut() else {
            return self.sock.read(buf).await;
        };
        loop {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without a close_notify: the end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let n = self.sock.read(&mut self.cipher).await?;
            if n == 0 {
                return Ok(0);
            }
            let mut data = &self.cipher[..n];
            while !data.is_empty() {
                conn.read_tls(&mut data)?;
                if let Err(e) = conn.process_new_packets() {
                    // rustls queued an alert telling the peer why; send it before failing.
                    let _ = write_pending(&mut self.sock, &mut **conn).await;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            if conn.wants_write() {
                // A key update answer: best effort, the reader has nothing else to write.
                let _ = write_pending(&mut self.sock, &mut **conn).await;
            }
        }
    }

    /// Sends close_notify (TLS) and shuts the socket down.
    pub(super) async fn shutdown(mut self) {
        if let Some(conn) = self.tls.as_mut() {
            conn.send_close_notify();
            let _ = write_pending(&mut self.sock, &mut **conn).await;
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Both).await;
    }
}
