//! The socket side of the client: the connect string, framing, and the handshake.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use ringkeeper_engine::jute::records::{encode_connect_request, ConnectRequest, ConnectResponse};
use ringkeeper_engine::jute::Decode;

/// The largest frame accepted from a server: Apache's default `jute.maxbuffer` (0xfffff)
/// plus room for the reply header, so a full-size znode still fits.
pub const FRAME_BYTES_MAX: usize = 0xfffff + 1024;

/// How long a TCP connect to one server may take before the next one is tried.
const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// What the client asks for in its ConnectRequest.
pub struct Hello {
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
}

/// Splits `host:port,host:port[/chroot]` into servers. A chroot suffix is refused rather
/// than ignored, since paths would silently mean something else.
pub fn parse_hosts(connect_string: &str) -> Result<Vec<String>, String> {
    if connect_string.contains('/') {
        return Err(format!(
            "{connect_string}: a chroot suffix is not supported by rk-cli"
        ));
    }
    let hosts: Vec<String> = connect_string
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_string()
            } else {
                format!("{h}:2181")
            }
        })
        .collect();
    if hosts.is_empty() {
        return Err("empty connect string".to_string());
    }
    Ok(hosts)
}

/// Connects to `host`, performs the handshake and returns the stream with the server's
/// answer.
pub fn open(host: &str, hello: &Hello) -> Result<(TcpStream, ConnectResponse), String> {
    let addrs: Vec<_> = host
        .to_socket_addrs()
        .map_err(|e| format!("resolving: {e}"))?
        .collect();
    let mut last_err = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(CONNECT_TIMEOUT_MS)) {
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                let req = ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: hello.last_zxid_seen,
                    time_out: hello.timeout_ms,
                    session_id: hello.session_id,
                    passwd: hello.passwd.clone(),
                    read_only: Some(false),
                };
                write_all(&mut stream, &encode_connect_request(&req))?;
                // The handshake must not hang on a server that accepted but never answers.
                let limit = Duration::from_millis(hello.timeout_ms.max(1000) as u64);
                stream
                    .set_read_timeout(Some(limit))
                    .map_err(|e| format!("setting a read timeout: {e}"))?;
                let frame = read_frame(&mut stream)?;
                stream
                    .set_read_timeout(None)
                    .map_err(|e| format!("clearing the read timeout: {e}"))?;
                let resp = ConnectResponse::from_bytes(&frame)
                    .map_err(|e| format!("bad ConnectResponse: {e}"))?;
                return Ok((stream, resp));
            }
            Err(e) => last_err = e.to_string(),
        }
    }
    Err(last_err)
}

/// Reads one length-prefixed frame, refusing a negative or oversized length.
pub fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("reading: {e}"))?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= FRAME_BYTES_MAX)
        .ok_or_else(|| format!("server sent a frame length of {len}"))?;
    let mut frame = vec![0u8; len];
    stream
        .read_exact(&mut frame)
        .map_err(|e| format!("reading: {e}"))?;
    Ok(frame)
}

pub fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    stream
        .write_all(bytes)
        .and_then(|_| stream.flush())
        .map_err(|e| format!("writing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_get_the_default_port_and_chroot_is_refused() {
        assert_eq!(
            parse_hosts("a:1, b").unwrap(),
            vec!["a:1".to_string(), "b:2181".to_string()]
        );
        assert!(parse_hosts("a:1/app").is_err());
        assert!(parse_hosts(" , ").is_err());
    }
}
