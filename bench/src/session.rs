//! A minimal ZooKeeper client session over tokio TCP: the handshake and length-prefixed
//! frames, built on the engine's client-side codec. It is deliberately thin: the load
//! generator drives requests and replies itself to control pipelining and timing.

use ringkeeper_engine::jute::records::{
    encode_connect_request, encode_request, ConnectRequest, ConnectResponse, ReplyHeader, Request,
};
use ringkeeper_engine::jute::{Decode, Reader};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The largest reply frame accepted, as the Java client's default `jute.maxbuffer`
/// (0xfffff) plus room for headers.
pub const FRAME_BYTES_MAX: usize = 0xfffff + 1024;

/// Failures of a session; each names what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TCP connection could not be made.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server sent something the codec could not read or that breaks the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server refused or expired the session during the handshake.
    #[error("server refused the session (timeout 0)")]
    Refused,
    /// Nothing arrived in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// An established session: its id and negotiated timeout, and the two socket halves.
pub struct Session {
    /// The server-assigned session id.
    pub session_id: i64,
    /// The negotiated session timeout.
    pub timeout: Duration,
    /// Reading side, for [`read_frame`].
    pub reader: OwnedReadHalf,
    /// Writing side, for [`write_request`].
    pub writer: OwnedWriteHalf,
}

/// Connects to `addr` and completes the handshake asking for `timeout_ms`.
pub async fn connect(
    addr: &str,
    timeout_ms: i32,
    deadline: Duration,
) -> Result<Session, SessionError> {
    let stream = tokio::time::timeout(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| SessionError::Timeout("connect"))?
        .map_err(|source| SessionError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    // Requests are small and latency is what is measured, so Nagle must be off.
    stream
        .set_nodelay(true)
        .map_err(|source| SessionError::Io {
            op: "set TCP_NODELAY",
            source,
        })?;
    let (mut reader, mut writer) = stream.into_split();
    let request = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    writer
        .write_all(&encode_connect_request(&request))
        .await
        .map_err(|source| SessionError::Io {
            op: "send ConnectRequest",
            source,
        })?;
    let frame = tokio::time::timeout(deadline, read_frame(&mut reader))
        .await
        .map_err(|_| SessionError::Timeout("ConnectResponse"))??;
    let response = ConnectResponse::decode(&mut Reader::new(&frame))
        .map_err(|e| SessionError::Protocol(format!("ConnectResponse: {e}")))?;
    if response.time_out <= 0 {
        return Err(SessionError::Refused);
    }
    Ok(Session {
        session_id: response.session_id,
        timeout: Duration::from_millis(response.time_out as u64),
        reader,
        writer,
    })
}

/// Reads one length-prefixed frame body.
pub async fn read_frame(reader: &mut OwnedReadHalf) -> Result<Vec<u8>, SessionError> {
    let mut len = [0u8; 4];
    reader
        .read_exact(&mut len)
        .await
        .map_err(|source| SessionError::Io {
            op: "read frame length",
            source,
        })?;
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > FRAME_BYTES_MAX {
        return Err(SessionError::Protocol(format!("frame length {len}")));
    }
    let mut body = vec![0u8; len as usize];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|source| SessionError::Io {
            op: "read frame body",
            source,
        })?;
    Ok(body)
}

/// Splits a reply frame into its header and the reader positioned at the body.
pub fn reply_header(frame: &[u8]) -> Result<(ReplyHeader, Reader<'_>), SessionError> {
    let mut r = Reader::new(frame);
    let header = ReplyHeader::decode(&mut r)
        .map_err(|e| SessionError::Protocol(format!("reply header: {e}")))?;
    Ok((header, r))
}

/// Sends one request.
pub async fn write_request(
    writer: &mut OwnedWriteHalf,
    xid: i32,
    request: &Request,
) -> Result<(), SessionError> {
    writer
        .write_all(&encode_request(xid, request))
        .await
        .map_err(|source| SessionError::Io {
            op: "send request",
            source,
        })
}

/// Sends `closeSession` and waits briefly for its reply, so ephemerals go at once instead
/// of at session expiry. Failures are ignored: the run's results are already complete.
pub async fn close(mut session: Session, xid: i32) {
    if write_request(&mut session.writer, xid, &Request::CloseSession)
        .await
        .is_err()
    {
        return;
    }
    let wait = async {
        loop {
            match read_frame(&mut session.reader).await {
                Ok(frame) => match reply_header(&frame) {
                    Ok((h, _)) if h.xid == xid => return,
                    Ok(_) => continue,
                    Err(_) => return,
                },
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
}
