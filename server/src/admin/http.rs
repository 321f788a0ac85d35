//! Just enough HTTP/1.1 for health checks, scrapes and curl: one `GET` or
//! `HEAD` per connection, answered with `Connection: close`. Keep-alive,
//! request bodies and chunked encoding are deliberately not supported, so
//! every connection's cost is bounded by the limits below.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) read.
pub const REQUEST_BYTES_MAX: usize = 8 * 1024;
/// How long a client may take to send its request head, in total. Probes
/// and curl send it in one packet right after connecting; a client slower
/// than this is more likely an attack than a probe. (Eviction, not this
/// deadline, is what keeps slow clients from starving probes.)
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing the answer may stall.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The peer closed or timed out before a whole head arrived; nothing is
    /// worth answering.
    Gone,
    /// The head exceeded `REQUEST_BYTES_MAX`.
    TooLarge,
    /// The head is not HTTP.
    Malformed,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            body,
        }
    }
}

/// Reads one request head from the stream, within the time and size limits.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, RequestError> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while find_head_end(&head).is_none() {
        if head.len() >= REQUEST_BYTES_MAX {
            return Err(RequestError::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(RequestError::Gone);
        }
        let room = (REQUEST_BYTES_MAX - head.len()).min(buf.len());
        match stream.read(&mut buf[..room]) {
            Ok(0) => return Err(RequestError::Gone),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(RequestError::Gone),
        }
    }
    parse_head(&head)
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| {
        // Some hand-written clients end lines with a bare newline.
        bytes.windows(2).position(|w| w == b"\n\n")
    })
}

/// Parses the request line of a head; headers are not needed by any route.
pub fn parse_head(head: &[u8]) -> Result<Request, RequestError> {
    let text = std::str::from_utf8(head).map_err(|_| RequestError::Malformed)?;
    let line = text.lines().next().ok_or(RequestError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(RequestError::Malformed);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes the answer; for `HEAD` only the head. Errors mean the client went
/// away, which nobody needs to hear about.
pub fn write_response(stream: &mut TcpStream, response: &Response, head_only: bool) {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    if response.status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&response.body);
    }
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// Ends the connection politely: the answer is followed by a FIN, and what
/// the client still sends (an unread request, say) is read and dropped for
/// at most `linger` and 64 KiB. Closing a socket with unread input would
/// send a reset instead, and the client could lose the answer with it.
pub fn finish(stream: &mut TcpStream, linger: Duration) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + linger;
    let mut buf = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 64 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_parsed_and_queries_dropped() {
        assert_eq!(
            parse_head(b"GET /commands/mntr?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok(Request {
                method: "GET".into(),
                path: "/commands/mntr".into()
            })
        );
        assert_eq!(
            parse_head(b"HEAD /ready HTTP/1.0\n\n").map(|r| r.method),
            Ok("HEAD".into())
        );
        for bad in [
            &b"GET /x\r\n\r\n"[..],
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET /x SPDY/3\r\n\r\n",
            b"GET /x HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"",
        ] {
            assert_eq!(parse_head(bad), Err(RequestError::Malformed), "{bad:?}");
        }
    }
}
