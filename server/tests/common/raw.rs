//! A blocking, hand-driven client connection for frames that real clients never send and for
//! checks that need to see the exact order of frames on one connection.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::jute::{xid, In, Out};
use super::server::TestServer;

/// The protocol version every current client sends in its ConnectRequest.
pub const PROTOCOL_VERSION: i32 = 0;

/// The parsed ConnectResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    /// Present only when the server sent the trailing readOnly flag.
    pub read_only: Option<bool>,
}

/// A reply: its header and the undecoded body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn reader(&self) -> In<'_> {
        In::new(&self.body)
    }
}

/// A watch notification (WatcherEvent) received on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

/// One TCP connection driven by hand.
pub struct RawConn {
    stream: TcpStream,
    next_xid: i32,
    /// Notifications that arrived while waiting for a reply, oldest first.
    pub events: VecDeque<Notification>,
    /// For each notification received, how many replies had been received before it; this is
    /// how tests check that an event came before a reply.
    pub event_positions: Vec<usize>,
    replies_seen: usize,
}

impl RawConn {
    /// Opens a TCP connection without any handshake.
    pub fn open(address: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .unwrap_or_else(|err| panic!("connecting to {address}: {err}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("setting the read timeout");
        stream.set_nodelay(true).expect("setting TCP_NODELAY");
        RawConn {
            stream,
            next_xid: 1,
            events: VecDeque::new(),
            event_positions: Vec::new(),
            replies_seen: 0,
        }
    }

    /// Opens a connection and establishes a new session with the given timeout.
    pub fn new_session(server: &TestServer, timeout_ms: i32) -> (RawConn, Handshake) {
        let mut conn = RawConn::open(server.address());
        let handshake = conn
            .handshake(0, timeout_ms, 0, &[0; 16])
            .unwrap_or_else(|| {
                panic!(
                    "the server closed a fresh handshake; log:\n{}",
                    server.log()
                )
            });
        assert_ne!(
            handshake.session_id, 0,
            "a new session must get a non-zero id"
        );
        (conn, handshake)
    }

    /// Sends a ConnectRequest (with the readOnly flag) and reads the ConnectResponse; `None` if
    /// the server closed the connection instead of answering.
    pub fn handshake(
        &mut self,
        last_zxid: i64,
        timeout_ms: i32,
        session_id: i64,
        password: &[u8],
    ) -> Option<Handshake> {
        self.handshake_flagged(last_zxid, timeout_ms, session_id, password, false)
    }

    /// A handshake from a client that accepts a read-only server (`canBeReadOnly`).
    pub fn read_only_handshake(&mut self, timeout_ms: i32) -> Option<Handshake> {
        self.handshake_flagged(0, timeout_ms, 0, &[0; 16], true)
    }

    fn handshake_flagged(
        &mut self,
        last_zxid: i64,
        timeout_ms: i32,
        session_id: i64,
        password: &[u8],
        can_be_read_only: bool,
    ) -> Option<Handshake> {
        let request = Out::new()
            .int(PROTOCOL_VERSION)
            .long(last_zxid)
            .int(timeout_ms)
            .long(session_id)
            .buffer(password)
            .boolean(can_be_read_only)
            .frame();
        self.send(&request);
        let frame = self.read_frame().ok()?;
        let mut reader = In::new(&frame);
        let protocol_version = reader.int();
        let timeout_ms = reader.int();
        let session_id = reader.long();
        let password = reader.buffer().unwrap_or_default();
        let read_only = if reader.remaining() > 0 {
            Some(reader.boolean())
        } else {
            None
        };
        Some(Handshake {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }

    /// Sets how long a read waits before failing with `WouldBlock` or `TimedOut`.
    pub fn set_read_timeout(&mut self, within: Duration) {
        self.stream
            .set_read_timeout(Some(within))
            .expect("setting the read timeout");
    }

    /// A second handle on the socket, for a thread that writes while this one reads.
    pub fn sending_half(&self) -> TcpStream {
        self.stream.try_clone().expect("cloning the socket")
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        // A write to a connection the server already closed may fail; the test then observes
        // the close on its next read, which is what it asserts on.
        let _ = self.stream.write_all(bytes);
    }

    /// Reads one length-prefixed frame.
    pub fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let length = i32::from_be_bytes(length);
        if length < 0 {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("negative frame length {length}"),
            ));
        }
        let mut body = vec![0u8; length as usize];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    /// Sends a request and returns its reply, queueing the notifications that arrive first.
    /// Panics if the connection closes: use `try_request` where a close is expected.
    pub fn request(&mut self, op_code: i32, body: Out) -> Reply {
        self.try_request(op_code, body).unwrap_or_else(|err| {
            panic!("the server closed the connection instead of answering opcode {op_code}: {err}")
        })
    }

    /// Sends a request without waiting for its reply; returns the xid it was given.
    pub fn send_request(&mut self, op_code: i32, body: &[u8]) -> i32 {
        let request_xid = self.next_xid;
        self.next_xid += 1;
        let mut frame = Out::new().int(request_xid).int(op_code);
        frame.0.extend_from_slice(body);
        self.send(&frame.frame());
        request_xid
    }

    /// Sends a request and waits for the reply with its xid.
    pub fn try_request(&mut self, op_code: i32, body: Out) -> std::io::Result<Reply> {
        let request_xid = self.send_request(op_code, &body.0);
        loop {
            let reply = self.read_any()?;
            if reply.xid == request_xid {
                return Ok(reply);
            }
            assert!(
                reply.xid == xid::PING,
                "got a reply with xid {} while waiting for xid {request_xid}: replies must come in order",
                reply.xid
            );
        }
    }

    /// Reads the next frame that is not a notification, queueing notifications.
    pub fn read_any(&mut self) -> std::io::Result<Reply> {
        loop {
            let frame = self.read_frame()?;
            let mut reader = In::new(&frame);
            let reply_xid = reader.int();
            let zxid = reader.long();
            let err = reader.int();
            if reply_xid == xid::NOTIFICATION {
                let event_type = reader.int();
                let state = reader.int();
                let path = reader.string();
                self.events.push_back(Notification {
                    event_type,
                    state,
                    path,
                });
                self.event_positions.push(self.replies_seen);
                continue;
            }
            self.replies_seen += 1;
            let body = frame[16..].to_vec();
            return Ok(Reply {
                xid: reply_xid,
                zxid,
                err,
                body,
            });
        }
    }

    /// Returns the next notification, waiting for one if none is queued yet.
    pub fn next_event(&mut self) -> Option<Notification> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let before = self.events.len();
        // Pings keep the session alive while waiting; their replies are skipped by read_any.
        match self.try_request_until_event() {
            Ok(()) if self.events.len() > before => self.events.pop_front(),
            _ => None,
        }
    }

    fn try_request_until_event(&mut self) -> std::io::Result<()> {
        for _ in 0..20 {
            self.send(&Out::new().int(xid::PING).int(super::jute::op::PING).frame());
            self.stream
                .set_read_timeout(Some(Duration::from_millis(500)))?;
            let result = self.read_any();
            self.stream
                .set_read_timeout(Some(Duration::from_secs(10)))?;
            match result {
                Ok(_) => {}
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(err) => return Err(err),
            }
            if !self.events.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// True if the server closes the connection within `within` (EOF or reset), skipping any
    /// frames it still sends first.
    pub fn closed_by_server(&mut self, within: Duration) -> bool {
        self.stream
            .set_read_timeout(Some(within))
            .expect("setting the read timeout");
        let mut buffer = [0u8; 4096];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// Drops the TCP connection without a CloseSession, as a network failure would.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
