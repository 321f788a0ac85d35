//! A small blocking ZooKeeper client over std TCP, enough for an operator's shell: one
//! request at a time from the caller, a background thread that reads every frame the
//! server sends (replies, pings, watch events) and a background thread that pings so the
//! session outlives an idle prompt.
//!
//! It speaks the client protocol through `ringkeeper_engine::jute::records`, so it works
//! against ringkeeper and Apache ZooKeeper alike. After a lost connection the next request
//! reconnects to the ensemble and resumes the same session, as Apache's client does;
//! standard watches set before the loss are not re-registered (the shell says so).

mod conn;

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ringkeeper_engine::jute::records::{
    decode_response, encode_request, ReplyHeader, Request, Response, WatcherEvent,
};
use ringkeeper_engine::jute::{Decode, Reader};
use ringkeeper_engine::{xid, ErrorCode, KeeperState, OpCode, SessionId, Zxid};

pub use conn::{parse_hosts, FRAME_BYTES_MAX};

/// Why a request did not get an answer from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The server answered with this error code.
    Server(ErrorCode),
    /// The server answered with a code this client does not know.
    UnknownCode(i32),
    /// No server of the connect string could be reached, or the connection dropped.
    Connection(String),
    /// The session is gone; a new `connect` is needed.
    SessionExpired,
    /// No reply within the session timeout.
    Timeout,
    /// The reply did not decode.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Server(code) => write!(f, "server error {code}"),
            ClientError::UnknownCode(code) => write!(f, "server error code {code}"),
            ClientError::Connection(why) => write!(f, "connection: {why}"),
            ClientError::SessionExpired => write!(f, "session expired"),
            ClientError::Timeout => write!(f, "no reply within the session timeout"),
            ClientError::Protocol(why) => write!(f, "protocol: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A watch event or a change of connection state, as the shell prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The raw `Watcher.Event.EventType` (-1 for a state change).
    pub event_type: i32,
    /// The raw `Watcher.Event.KeeperState`.
    pub state: i32,
    /// Empty for a state change.
    pub path: String,
}

impl Event {
    fn state_change(state: KeeperState) -> Self {
        Event {
            event_type: -1,
            state: state as i32,
            path: String::new(),
        }
    }
}

/// A decoded reply waiting for its request: the header and the body bytes.
type Reply = (ReplyHeader, Vec<u8>);

/// What the reader thread shares with the caller.
struct Shared {
    /// Requests sent and not yet answered, by xid.
    pending: Mutex<HashMap<i32, Sender<Reply>>>,
    /// Cleared by the reader thread when the connection ends.
    alive: AtomicBool,
    /// The highest zxid seen in any reply, sent back on reconnect.
    last_zxid: Mutex<Zxid>,
}

/// One live TCP connection with its session.
struct Connection {
    writer: Arc<Mutex<TcpStream>>,
    shared: Arc<Shared>,
    server: String,
}

/// A session with a ZooKeeper ensemble. See the module documentation.
pub struct Client {
    hosts: Vec<String>,
    session_timeout_ms: i32,
    session_id: SessionId,
    passwd: Vec<u8>,
    negotiated_timeout_ms: i32,
    next_xid: i32,
    conn: Option<Connection>,
    events: Sender<Event>,
    /// Identities added with `addauth`, replayed after a reconnect as Apache's client does.
    auths: Vec<(String, Vec<u8>)>,
    expired: bool,
}

impl Client {
    /// Connects to the first reachable server of `connect_string` (`host:port,...`) and
    /// opens a session. Watch events and state changes are sent to `events`.
    pub fn connect(
        connect_string: &str,
        session_timeout_ms: i32,
        events: Sender<Event>,
    ) -> Result<Client, ClientError> {
        let hosts = parse_hosts(connect_string).map_err(ClientError::Connection)?;
        let mut client = Client {
            hosts,
            session_timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
            negotiated_timeout_ms: session_timeout_ms,
            next_xid: 1,
            conn: None,
            events,
            auths: Vec::new(),
            expired: false,
        };
        client.reconnect()?;
        Ok(client)
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    pub fn negotiated_timeout_ms(&self) -> i32 {
        self.negotiated_timeout_ms
    }

    /// The server the session is connected to now, if any.
    pub fn server(&self) -> Option<&str> {
        self.conn
            .as_ref()
            .filter(|c| c.shared.alive.load(Ordering::SeqCst))
            .map(|c| c.server.as_str())
    }

    /// Tries every server in turn, resuming the session if there is one.
    fn reconnect(&mut self) -> Result<(), ClientError> {
        if self.expired {
            return Err(ClientError::SessionExpired);
        }
        let last_zxid = self
            .conn
            .as_ref()
            .and_then(|c| c.shared.last_zxid.lock().ok().map(|z| *z))
            .unwrap_or(0);
        let mut failures = Vec::new();
        for host in self.hosts.clone() {
            let hello = conn::Hello {
                last_zxid_seen: last_zxid,
                timeout_ms: self.session_timeout_ms,
                session_id: self.session_id,
                passwd: self.passwd.clone(),
            };
            match conn::open(&host, &hello) {
                Ok((stream, resp)) => {
                    if resp.time_out <= 0 {
                        self.expired = true;
                        let _ = self.events.send(Event::state_change(KeeperState::Expired));
                        return Err(ClientError::SessionExpired);
                    }
                    self.session_id = resp.session_id;
                    self.passwd = resp.passwd;
                    self.negotiated_timeout_ms = resp.time_out;
                    self.start(stream, host, last_zxid)?;
                    for (scheme, auth) in self.auths.clone() {
                        self.send_auth(&scheme, &auth)?;
                    }
                    return Ok(());
                }
                Err(why) => failures.push(format!("{host}: {why}")),
            }
        }
        Err(ClientError::Connection(failures.join("; ")))
    }

    /// Starts the reader and pinger threads over a connected stream.
    fn start(
        &mut self,
        stream: TcpStream,
        server: String,
        last_zxid: Zxid,
    ) -> Result<(), ClientError> {
        let reader = stream
            .try_clone()
            .map_err(|e| ClientError::Connection(format!("cloning the socket: {e}")))?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
            last_zxid: Mutex::new(last_zxid),
        });
        let writer = Arc::new(Mutex::new(stream));
        {
            let shared = Arc::clone(&shared);
            let events = self.events.clone();
            thread::spawn(move || read_loop(reader, shared, events));
        }
        {
            let shared = Arc::clone(&shared);
            let writer = Arc::clone(&writer);
            // Apache's client pings after a third of the read timeout (two thirds of the
            // session timeout) is idle; pinging every third of the session is as safe.
            let every = Duration::from_millis((self.negotiated_timeout_ms.max(300) / 3) as u64);
            thread::spawn(move || ping_loop(writer, shared, every));
        }
        self.conn = Some(Connection {
            writer,
            shared,
            server,
        });
        let _ = self
            .events
            .send(Event::state_change(KeeperState::SyncConnected));
        Ok(())
    }

    /// Sends `req` and waits for its reply, reconnecting first if the connection was lost.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        if self.server().is_none() {
            self.reconnect()?;
        }
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        let (header, body) = self.exchange(xid, req)?;
        self.check_header(&header)?;
        decode_response(req.op_code(), &mut Reader::new(&body))
            .map_err(|e| ClientError::Protocol(format!("{} reply: {e}", req.op_code().name())))
    }

    /// Adds an identity to the session (`addauth scheme auth`). The server closes the
    /// connection when it refuses one, which surfaces here as AuthFailed.
    pub fn add_auth(&mut self, scheme: &str, auth: &[u8]) -> Result<(), ClientError> {
        if self.server().is_none() {
            self.reconnect()?;
        }
        self.send_auth(scheme, auth)?;
        self.auths.push((scheme.to_string(), auth.to_vec()));
        Ok(())
    }

    fn send_auth(&mut self, scheme: &str, auth: &[u8]) -> Result<(), ClientError> {
        let req = Request::Auth(ringkeeper_engine::jute::records::AuthPacket {
            auth_type: 0,
            scheme: scheme.to_string(),
            auth: auth.to_vec(),
        });
        let (header, _) = self.exchange(xid::AUTH, &req)?;
        self.check_header(&header)
    }

    fn check_header(&mut self, header: &ReplyHeader) -> Result<(), ClientError> {
        match ErrorCode::from_code(header.err) {
            Some(ErrorCode::Ok) => Ok(()),
            Some(ErrorCode::SessionExpired) => {
                self.expired = true;
                Err(ClientError::SessionExpired)
            }
            Some(code) => Err(ClientError::Server(code)),
            None => Err(ClientError::UnknownCode(header.err)),
        }
    }

    /// Writes one request frame and waits for the reply with the same xid.
    fn exchange(&mut self, xid: i32, req: &Request) -> Result<Reply, ClientError> {
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| ClientError::Connection("not connected".into()))?;
        let (tx, rx): (Sender<Reply>, Receiver<Reply>) = mpsc::channel();
        if let Ok(mut pending) = conn.shared.pending.lock() {
            pending.insert(xid, tx);
        }
        let frame = encode_request(xid, req);
        let written = match conn.writer.lock() {
            Ok(mut w) => conn::write_all(&mut w, &frame),
            Err(_) => Err("writer lock poisoned".to_string()),
        };
        if let Err(why) = written {
            conn.shared.alive.store(false, Ordering::SeqCst);
            return Err(ClientError::Connection(why));
        }
        let wait = Duration::from_millis(self.negotiated_timeout_ms.max(1000) as u64);
        match rx.recv_timeout(wait) {
            Ok(reply) => Ok(reply),
            Err(RecvTimeoutError::Timeout) => Err(ClientError::Timeout),
            Err(RecvTimeoutError::Disconnected) => {
                if xid == xid::AUTH {
                    Err(ClientError::Server(ErrorCode::AuthFailed))
                } else {
                    Err(ClientError::Connection(format!(
                        "connection to {} lost",
                        conn.server
                    )))
                }
            }
        }
    }

    /// Closes the session (closeSession) and the connection.
    pub fn close(&mut self) {
        if self.server().is_some() {
            let xid = self.next_xid;
            let _ = self.exchange(xid, &Request::CloseSession);
        }
        if let Some(conn) = self.conn.take() {
            conn.shared.alive.store(false, Ordering::SeqCst);
            if let Ok(w) = conn.writer.lock() {
                let _ = w.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads frames until the connection ends: replies go to their waiting request, watch
/// events to the event channel, ping replies are dropped.
fn read_loop(mut stream: TcpStream, shared: Arc<Shared>, events: Sender<Event>) {
    while let Ok(frame) = conn::read_frame(&mut stream) {
        let mut r = Reader::new(&frame);
        let Ok(header) = ReplyHeader::decode(&mut r) else {
            break;
        };
        if header.zxid > 0 {
            if let Ok(mut z) = shared.last_zxid.lock() {
                *z = (*z).max(header.zxid);
            }
        }
        match header.xid {
            xid::NOTIFICATION => {
                if let Ok(ev) = WatcherEvent::decode(&mut r) {
                    let _ = events.send(Event {
                        event_type: ev.event_type,
                        state: ev.state,
                        path: ev.path,
                    });
                }
            }
            xid::PING => {}
            id => {
                let waiter = shared.pending.lock().ok().and_then(|mut p| p.remove(&id));
                if let Some(tx) = waiter {
                    let _ = tx.send((header, r.rest().to_vec()));
                }
            }
        }
    }
    let was_alive = shared.alive.swap(false, Ordering::SeqCst);
    // Dropping the senders wakes every waiting request with "disconnected".
    if let Ok(mut p) = shared.pending.lock() {
        p.clear();
    }
    if was_alive {
        let _ = events.send(Event::state_change(KeeperState::Disconnected));
    }
}

/// Pings while the connection lives.
fn ping_loop(writer: Arc<Mutex<TcpStream>>, shared: Arc<Shared>, every: Duration) {
    let frame = encode_request(xid::PING, &Request::Ping);
    // Sleep in short steps so that the thread ends soon after the connection does.
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while shared.alive.load(Ordering::SeqCst) {
        thread::sleep(step);
        waited += step;
        if waited < every {
            continue;
        }
        waited = Duration::ZERO;
        let ok = match writer.lock() {
            Ok(mut w) => conn::write_all(&mut w, &frame).is_ok(),
            Err(_) => false,
        };
        if !ok {
            shared.alive.store(false, Ordering::SeqCst);
        }
    }
}

/// The opcode a request travels under, for messages.
pub fn op_name(req: &Request) -> &'static str {
    let op: OpCode = req.op_code();
    op.name()
}
