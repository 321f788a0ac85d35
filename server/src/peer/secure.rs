//! The secured start of a member link (docs/peer-protocol.md, "Securing links"): TLS with
//! both certificates verified when `sslQuorum=true`, then the SASL exchange of `auth.rs`
//! when the dialer authenticates, then the Hello. A connection that fails either is closed
//! before a single frame of it is decoded, so a process that is not a member never reaches
//! the protocol.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpStream;
use rustls::{ClientConnection, ServerConnection};

use super::auth::{
    self, AuthMsg, LearnerExchange, LearnerStep, PeerSasl, ServerExchange, ServerStep,
    AUTH_HEADER_BYTES, AUTH_MAGIC,
};
use super::conn::PeerConn;
use crate::net::tls::mutual::MutualTls;
use crate::net::tls::stream::handshake;

/// How long a dialer waits for the peer's side of the TLS handshake and SASL exchange, per
/// read and in all.
pub const DIALED_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// `sslQuorum` and `quorum.auth.*`, ready to use. The default secures nothing.
#[derive(Clone, Default)]
pub struct PeerSecurity {
    pub tls: Option<MutualTls>,
    /// Present when `quorum.auth.enableSasl=true`.
    pub sasl: Option<Arc<PeerSasl>>,
}

impl std::fmt::Debug for PeerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecurity")
            .field("tls", &self.tls)
            .field("sasl", &self.sasl)
            .finish()
    }
}

/// A dialed connection ready for the Hello, and why it is not authenticated when it is let
/// go on anyway (`learnerRequireSasl=false`), for the log.
pub(super) async fn secure_dialed(
    mut sock: TcpStream,
    security: &PeerSecurity,
    addr: &str,
) -> Result<(PeerConn, Option<String>), String> {
    sock.set_read_timeout(Some(DIALED_HANDSHAKE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut conn = match &security.tls {
        None => PeerConn::plain(sock),
        Some(tls) => {
            let name = MutualTls::server_name(addr)?;
            let mut c =
                ClientConnection::new(tls.client.clone(), name).map_err(|e| format!("TLS: {e}"))?;
            handshake(&mut sock, &mut c)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            PeerConn::tls(sock, c.into())
        }
    };
    let note = match &security.sasl {
        None => None,
        Some(sasl) => learn(&mut conn, sasl).await?,
    };
    conn.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok((conn, note))
}

async fn learn(conn: &mut PeerConn, sasl: &PeerSasl) -> Result<Option<String>, String> {
    let cnonce = crate::sasl::random_nonce().map_err(|e| format!("no random nonce: {e}"))?;
    let mut exchange = LearnerExchange::new(sasl, cnonce);
    let mut out = AUTH_MAGIC.to_vec();
    exchange.start().encode(&mut out);
    write(conn, &out).await?;
    loop {
        let reply = read_msg(conn).await?;
        match exchange.on_reply(reply)? {
            LearnerStep::Send(msg) => {
                out.clear();
                msg.encode(&mut out);
                write(conn, &out).await?;
            }
            LearnerStep::Authenticated => return Ok(None),
            LearnerStep::Unauthenticated(why) => return Ok(Some(why)),
        }
    }
}

/// An accepted connection that passed TLS and authentication.
pub(super) struct Accepted {
    pub conn: PeerConn,
    /// Bytes read while looking for [`AUTH_MAGIC`] that are the start of the Hello.
    pub prefix: Vec<u8>,
    /// The SASL user the dialer authenticated as.
    pub user: Option<String>,
    /// Why the dialer is let in unauthenticated (`serverRequireSasl=false`), for the log.
    pub note: Option<String>,
}

/// Why an accepted connection goes no further than the Hello.
#[derive(Debug)]
pub(super) enum Refused {
    /// The dialer went away before it had sent anything usable: nothing to count (a port
    /// probe, or a member that gave the connection up).
    Gone(String),
    /// It sent something and was refused: logged and counted as a connection error.
    Because(String),
}

impl From<String> for Refused {
    fn from(why: String) -> Self {
        Refused::Because(why)
    }
}

fn gone_or(e: std::io::Error, what: &str) -> Refused {
    let why = format!("{what}: {e}");
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Refused::Gone(why)
    } else {
        Refused::Because(why)
    }
}

/// TLS (client certificate and, with hostname verification, its name checked against
/// `remote`), then authentication. The caller bounds it in time (the socket's read timeout).
pub(super) async fn secure_accepted(
    mut sock: TcpStream,
    security: &PeerSecurity,
    remote: Option<SocketAddr>,
) -> Result<Accepted, Refused> {
    let mut conn = match &security.tls {
        None => PeerConn::plain(sock),
        Some(tls) => {
            let mut c =
                ServerConnection::new(tls.server.clone()).map_err(|e| format!("TLS: {e}"))?;
            handshake(&mut sock, &mut c)
                .await
                .map_err(|e| gone_or(e, "TLS handshake"))?;
            let conn = PeerConn::tls(sock, c.into());
            let ip = remote
                .map(|r| r.ip())
                .ok_or_else(|| "TLS: no peer address".to_owned())?;
            tls.check_dialer(conn.peer_certificates(), ip)?;
            conn
        }
    };
    let mut first = [0u8; 4];
    conn.read_exact(&mut first)
        .await
        .map_err(|e| gone_or(e, "nothing usable before the Hello"))?;
    if first != AUTH_MAGIC {
        let note = auth::unauthenticated(security.sasl.as_deref())?;
        return Ok(Accepted {
            conn,
            prefix: first.to_vec(),
            user: None,
            note,
        });
    }
    let nonce = crate::sasl::random_nonce().map_err(|e| format!("no random nonce: {e}"))?;
    let mut exchange = ServerExchange::new(security.sasl.clone(), nonce);
    let mut out = Vec::new();
    loop {
        let msg = read_msg(&mut conn).await?;
        let step = exchange.on_message(msg);
        let reply = match &step {
            ServerStep::Reply(m) | ServerStep::Done { reply: m, .. } => Some(m),
            ServerStep::Close { reply, .. } => reply.as_ref(),
        };
        if let Some(m) = reply {
            out.clear();
            m.encode(&mut out);
            write(&mut conn, &out).await?;
        }
        match step {
            ServerStep::Reply(_) => {}
            ServerStep::Done { user, note, .. } => {
                return Ok(Accepted {
                    conn,
                    prefix: Vec::new(),
                    user,
                    note,
                })
            }
            ServerStep::Close { why, .. } => return Err(Refused::Because(why)),
        }
    }
}

async fn write(conn: &mut PeerConn, bytes: &[u8]) -> Result<(), String> {
    conn.write_all(bytes)
        .await
        .map_err(|e| format!("quorum SASL: write failed: {e}"))
}

async fn read_msg(conn: &mut PeerConn) -> Result<AuthMsg, String> {
    let mut header = [0u8; AUTH_HEADER_BYTES];
    conn.read_exact(&mut header)
        .await
        .map_err(|e| format!("quorum SASL: {e}"))?;
    let (kind, len) = AuthMsg::parse_header(header).map_err(|e| format!("quorum SASL: {e}"))?;
    let mut token = vec![0u8; len];
    conn.read_exact(&mut token)
        .await
        .map_err(|e| format!("quorum SASL: {e}"))?;
    Ok(AuthMsg::new(kind, token))
}
