//! SASL DIGEST-MD5 between members (`quorum.auth.*`), as Apache's `SaslQuorumAuthLearner`
//! and `SaslQuorumAuthServer` run it: the member that dials a connection is the learner and
//! authenticates with its JAAS `QuorumLearner` credentials; the member that accepts it is the
//! server and checks them against its `QuorumServer` users. The exchange comes before the
//! Hello on every connection, both ports, inside TLS when `sslQuorum` is on. Its bytes are in
//! docs/peer-protocol.md ("Authentication").
//!
//! Everything here is pure: messages in, messages and verdicts out. `secure.rs` carries the
//! messages over a connection. `quorum.auth.learnerRequireSasl` and `serverRequireSasl`
//! decide whether a side that did not authenticate its peer closes the connection or goes on
//! with a warning (Apache's rolling-upgrade mode).

use std::sync::Arc;

use crate::sasl::{
    DigestMd5Client, DigestMd5Server, SaslServerConfig, Step, QUORUM_REALM, QUORUM_SERVICE,
};

/// The first bytes of a connection whose dialer authenticates. As a frame length this is
/// above 1 GiB, which no frame may be, so an acceptor tells it from a Hello by 4 bytes.
pub const AUTH_MAGIC: [u8; 4] = *b"RKA1";
/// The header of an authentication message: kind (1 byte), token length (u32 big-endian).
pub const AUTH_HEADER_BYTES: usize = 5;
/// The longest token accepted (RFC 2831 bounds DIGEST-MD5's at 4096 bytes).
pub const AUTH_TOKEN_BYTES_MAX: usize = 4096;

/// What an authentication message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Learner: "I authenticate" (empty token; DIGEST-MD5 has no initial response).
    Start = 1,
    /// Server: the DIGEST-MD5 challenge.
    Challenge = 2,
    /// Learner: the DIGEST-MD5 response.
    Response = 3,
    /// Server: authenticated; the token is `rspauth=...`, the server's proof.
    Success = 4,
    /// Server: the credentials were refused (empty token).
    Failed = 5,
    /// Server: it does not do quorum SASL (`quorum.auth.enableSasl=false`; empty token).
    NotEnabled = 6,
}

impl AuthKind {
    fn from_byte(b: u8) -> Option<AuthKind> {
        Some(match b {
            1 => AuthKind::Start,
            2 => AuthKind::Challenge,
            3 => AuthKind::Response,
            4 => AuthKind::Success,
            5 => AuthKind::Failed,
            6 => AuthKind::NotEnabled,
            _ => return None,
        })
    }
}

/// One authentication message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMsg {
    pub kind: AuthKind,
    pub token: Vec<u8>,
}

impl AuthMsg {
    pub fn new(kind: AuthKind, token: Vec<u8>) -> Self {
        AuthMsg { kind, token }
    }

    /// Appends the message's bytes to `out`. Tokens are ours and short, never above the limit.
    pub fn encode(&self, out: &mut Vec<u8>) {
        debug_assert!(self.token.len() <= AUTH_TOKEN_BYTES_MAX);
        out.push(self.kind as u8);
        out.extend_from_slice(&(self.token.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.token);
    }

    /// Reads a header: the kind and the length of the token that follows.
    pub fn parse_header(header: [u8; AUTH_HEADER_BYTES]) -> Result<(AuthKind, usize), String> {
        let kind = AuthKind::from_byte(header[0])
            .ok_or_else(|| format!("unknown authentication message kind {}", header[0]))?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > AUTH_TOKEN_BYTES_MAX {
            return Err(format!(
                "authentication token of {len} bytes (at most {AUTH_TOKEN_BYTES_MAX})"
            ));
        }
        Ok((kind, len))
    }
}

/// The `quorum.auth.*` settings with the JAAS sections read.
#[derive(Clone)]
pub struct PeerSasl {
    /// `quorum.auth.learnerRequireSasl`: a connection we dial whose server does not
    /// authenticate is closed.
    pub learner_require: bool,
    /// `quorum.auth.serverRequireSasl`: a connection we accept whose dialer does not
    /// authenticate is closed.
    pub server_require: bool,
    /// `username`, `password` of the learner section.
    pub learner: (String, String),
    /// The `user_<name>` entries of the server section.
    pub server: SaslServerConfig,
}

// Passwords must never reach a log line.
impl std::fmt::Debug for PeerSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSasl")
            .field("learner_require", &self.learner_require)
            .field("server_require", &self.server_require)
            .field("learner_user", &self.learner.0)
            .field("server", &self.server)
            .finish()
    }
}

/// What the learner does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerStep {
    Send(AuthMsg),
    /// The server proved it knows our password: go on with the Hello.
    Authenticated,
    /// Not authenticated, but `learnerRequireSasl=false`: go on, and log why.
    Unauthenticated(String),
}

/// The dialing side's exchange.
#[derive(Debug)]
pub struct LearnerExchange {
    client: DigestMd5Client,
    require: bool,
}

impl LearnerExchange {
    /// `cnonce` must be unpredictable (`crate::sasl::random_nonce`).
    pub fn new(sasl: &PeerSasl, cnonce: String) -> Self {
        let (user, password) = sasl.learner.clone();
        LearnerExchange {
            client: DigestMd5Client::with_names(
                user,
                password,
                cnonce,
                QUORUM_SERVICE,
                QUORUM_REALM,
            ),
            require: sasl.learner_require,
        }
    }

    /// The first message, sent right after [`AUTH_MAGIC`].
    pub fn start(&self) -> AuthMsg {
        AuthMsg::new(AuthKind::Start, Vec::new())
    }

    /// Takes the server's next message. `Err` closes the connection, with the reason.
    pub fn on_reply(&mut self, msg: AuthMsg) -> Result<LearnerStep, String> {
        let why = match msg.kind {
            AuthKind::Challenge => {
                return match self.client.respond(&msg.token) {
                    Ok(token) => Ok(LearnerStep::Send(AuthMsg::new(AuthKind::Response, token))),
                    // A server that cannot be answered cannot be talked to either.
                    Err(e) => Err(format!("quorum SASL: {e}")),
                };
            }
            AuthKind::Success => match self.client.verify_server(&msg.token) {
                Ok(()) => return Ok(LearnerStep::Authenticated),
                Err(e) => format!("the server did not prove it knows the password ({e})"),
            },
            AuthKind::Failed => "the server refused our QuorumLearner credentials".to_owned(),
            AuthKind::NotEnabled => "the server does not do quorum SASL".to_owned(),
            AuthKind::Start | AuthKind::Response => {
                return Err(format!(
                    "quorum SASL: unexpected {:?} from the server",
                    msg.kind
                ))
            }
        };
        if self.require {
            Err(format!("{why} and quorum.auth.learnerRequireSasl=true"))
        } else {
            Ok(LearnerStep::Unauthenticated(why))
        }
    }
}

/// What the accepting side does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    Reply(AuthMsg),
    /// Send `reply`, then read the Hello. `user` is the authenticated SASL user; without one,
    /// `note` says why the dialer is let in anyway (`serverRequireSasl=false`).
    Done {
        reply: AuthMsg,
        user: Option<String>,
        note: Option<String>,
    },
    /// Send `reply` if any, then close the connection.
    Close {
        reply: Option<AuthMsg>,
        why: String,
    },
}

/// The accepting side's exchange, started when a connection begins with [`AUTH_MAGIC`].
#[derive(Debug)]
pub struct ServerExchange {
    sasl: Option<Arc<PeerSasl>>,
    digest: DigestMd5Server,
}

impl ServerExchange {
    /// `sasl` is `None` when `quorum.auth.enableSasl=false`. `nonce` must be unpredictable.
    pub fn new(sasl: Option<Arc<PeerSasl>>, nonce: String) -> Self {
        ServerExchange {
            sasl,
            digest: DigestMd5Server::with_names(nonce, QUORUM_SERVICE, QUORUM_REALM),
        }
    }

    pub fn on_message(&mut self, msg: AuthMsg) -> ServerStep {
        let Some(sasl) = self.sasl.clone() else {
            return match msg.kind {
                AuthKind::Start => ServerStep::Done {
                    reply: AuthMsg::new(AuthKind::NotEnabled, Vec::new()),
                    user: None,
                    note: None,
                },
                other => unexpected(other),
            };
        };
        if !matches!(msg.kind, AuthKind::Start | AuthKind::Response) {
            return unexpected(msg.kind);
        }
        match self.digest.step(&msg.token, &sasl.server) {
            Ok(Step::Challenge(token)) if msg.kind == AuthKind::Start => {
                ServerStep::Reply(AuthMsg::new(AuthKind::Challenge, token))
            }
            Ok(Step::Success { token, user }) if msg.kind == AuthKind::Response => {
                ServerStep::Done {
                    reply: AuthMsg::new(AuthKind::Success, token),
                    user: Some(user),
                    note: None,
                }
            }
            Ok(_) => unexpected(msg.kind),
            Err(e) => {
                let reply = AuthMsg::new(AuthKind::Failed, Vec::new());
                let why = format!("quorum SASL failed: {e}");
                if sasl.server_require {
                    ServerStep::Close {
                        reply: Some(reply),
                        why: format!("{why} (quorum.auth.serverRequireSasl=true)"),
                    }
                } else {
                    ServerStep::Done {
                        reply,
                        user: None,
                        note: Some(format!(
                            "{why}; let in: quorum.auth.serverRequireSasl=false"
                        )),
                    }
                }
            }
        }
    }
}

fn unexpected(kind: AuthKind) -> ServerStep {
    ServerStep::Close {
        reply: None,
        why: format!("quorum SASL: unexpected {kind:?} from the dialer"),
    }
}

/// The verdict on a connection that began with a Hello instead of [`AUTH_MAGIC`]: `Err`
/// closes it; `Ok(Some(note))` lets it in with a warning.
pub fn unauthenticated(sasl: Option<&PeerSasl>) -> Result<Option<String>, String> {
    match sasl {
        None => Ok(None),
        Some(s) if s.server_require => {
            Err("the peer did not authenticate and quorum.auth.serverRequireSasl=true".to_owned())
        }
        Some(_) => Ok(Some(
            "the peer did not authenticate; let in: quorum.auth.serverRequireSasl=false".to_owned(),
        )),
    }
}
