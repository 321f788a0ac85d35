//! The handshake: the first frame in each direction, which has no request or reply header.
//!
//! Both records end with a `readOnly` boolean that clients before 3.4 neither send nor
//! expect. Apache's `ProtocolManager` reads it only if it is there and answers in kind, so
//! here it is an `Option`: `None` means "absent on the wire".

use crate::jute::{Decode, DecodeError, Encode, Reader, Writer};

/// The first frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    /// The highest zxid the client has seen; a server that is behind it must refuse it.
    pub last_zxid_seen: i64,
    /// The session timeout the client asks for, in milliseconds.
    pub time_out: i32,
    /// 0 for a new session, otherwise the session to resume.
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Whether the client accepts a read-only server; `None` if the field was absent.
    pub read_only: Option<bool>,
}

/// The first frame a server sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// The negotiated session timeout in milliseconds; 0 tells the client its session expired.
    pub time_out: i32,
    pub session_id: i64,
    /// The 16-byte session password.
    pub passwd: Vec<u8>,
    /// Whether this server is read-only; `None` leaves the field off the wire, which is
    /// what a client that sent no `readOnly` expects.
    pub read_only: Option<bool>,
}

impl Encode for ConnectRequest {
    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.time_out);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
}

impl Decode for ConnectRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: read_trailing_bool(r)?,
        })
    }
}

impl Encode for ConnectResponse {
    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.time_out);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
}

impl Decode for ConnectResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: read_trailing_bool(r)?,
        })
    }
}

/// Reads the optional trailing `readOnly`: present only if a byte is left in the frame.
fn read_trailing_bool(r: &mut Reader<'_>) -> Result<Option<bool>, DecodeError> {
    if r.is_empty() {
        Ok(None)
    } else {
        r.read_bool().map(Some)
    }
}

impl ConnectResponse {
    /// The answer to a client whose session is unknown or expired: timeout 0, session 0 and
    /// 16 zero bytes of password (`ZooKeeperServer.finishSessionInit`). The server closes
    /// the connection after sending it.
    pub fn expired(read_only: Option<bool>) -> Self {
        Self {
            protocol_version: 0,
            time_out: 0,
            session_id: 0,
            passwd: vec![0; 16],
            read_only,
        }
    }
}

/// Builds the whole length-prefixed ConnectRequest frame (client side).
pub fn encode_connect_request(req: &ConnectRequest) -> Vec<u8> {
    let mut w = Writer::framed();
    req.encode(&mut w);
    w.finish_frame()
}

/// Builds the whole length-prefixed ConnectResponse frame. Set `resp.read_only` to `None`
/// when the client's ConnectRequest had no `readOnly`, so an old client is not confused by
/// a byte it does not expect.
pub fn encode_connect_response(resp: &ConnectResponse) -> Vec<u8> {
    let mut w = Writer::framed();
    resp.encode(&mut w);
    w.finish_frame()
}
