//! The client side of DIGEST-MD5 (RFC 2831), `qop=auth` only, for quorum learners: the member
//! that dials a peer authenticates with the `username`/`password` of its JAAS
//! `QuorumLearner` section, as Apache's `SaslQuorumAuthLearner` does with Java's SASL client.
//! It answers the one challenge of [`super::DigestMd5Server`] and then checks the server's
//! `rspauth`, which proves the server knows the same password: a process that merely accepts
//! connections on a member's port cannot pass for it.

use super::digest_md5::{constant_time_eq, digests, parse_directives, DigestInputs};
use super::{SaslError, DIGEST_REALM, DIGEST_SERVICE};

/// Largest challenge accepted (RFC 2831 2.1.1 limits it to 2048 bytes).
const CHALLENGE_BYTES_MAX: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    Responded { rspauth: String },
    Done,
}

/// One connection's DIGEST-MD5 exchange, client side.
#[derive(Clone)]
pub struct DigestMd5Client {
    username: String,
    password: String,
    cnonce: String,
    state: State,
    /// The SASL service and the server's name, which make the `digest-uri`.
    service: &'static str,
    server_name: &'static str,
}

// The password must never reach a log line.
impl std::fmt::Debug for DigestMd5Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestMd5Client")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl DigestMd5Client {
    /// `cnonce` must be unpredictable (see `super::random_nonce`); tests pass a fixed one.
    /// For the service and server name of the client port (`zookeeper/zk-sasl-md5`); see
    /// [`Self::with_names`] for others.
    pub fn new(username: String, password: String, cnonce: String) -> Self {
        Self::with_names(username, password, cnonce, DIGEST_SERVICE, DIGEST_REALM)
    }

    /// As Java's `Sasl.createSaslClient` with a protocol and server name: quorum learners
    /// pass `zookeeper-quorum` and `zk-quorum-sasl-md5`, as Apache's do.
    pub fn with_names(
        username: String,
        password: String,
        cnonce: String,
        service: &'static str,
        server_name: &'static str,
    ) -> Self {
        Self {
            username,
            password,
            cnonce,
            state: State::Start,
            service,
            server_name,
        }
    }

    /// The response to the server's challenge.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.state != State::Start {
            return Err(SaslError::Finished);
        }
        self.state = State::Done;
        if challenge.len() > CHALLENGE_BYTES_MAX {
            return Err(SaslError::Malformed(
                "challenge longer than 2048 bytes".into(),
            ));
        }
        let text = std::str::from_utf8(challenge)
            .map_err(|_| SaslError::Malformed("challenge is not UTF-8".into()))?;
        let d = parse_directives(text)?;
        let get = |k: &str| d.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let nonce =
            get("nonce").ok_or_else(|| SaslError::Malformed("no nonce directive".into()))?;
        let realm = get("realm").unwrap_or(self.server_name);
        if let Some(qop) = get("qop") {
            if !qop.split(',').any(|q| q.trim() == "auth") {
                return Err(SaslError::Unsupported(format!("qop={qop}")));
            }
        }
        if get("algorithm") != Some("md5-sess") {
            return Err(SaslError::Unsupported(
                "algorithm other than md5-sess".into(),
            ));
        }
        let digest_uri = format!("{}/{}", self.service, self.server_name);
        let (response, rspauth) = digests(&DigestInputs {
            username: &self.username,
            realm,
            password: &self.password,
            nonce,
            cnonce: &self.cnonce,
            nc: "00000001",
            qop: "auth",
            digest_uri: &digest_uri,
            authzid: None,
            utf8: true,
        })?;
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let token = format!(
            "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc=00000001,cnonce=\"{}\",digest-uri=\"{digest_uri}\",maxbuf=65536,response={response},qop=auth",
            quote(&self.username),
            quote(realm),
            quote(nonce),
            quote(&self.cnonce),
        );
        self.state = State::Responded { rspauth };
        Ok(token.into_bytes())
    }

    /// Checks the server's final `rspauth=...`; `Err` means the server does not know the
    /// password (or the exchange is out of order).
    pub fn verify_server(&mut self, token: &[u8]) -> Result<(), SaslError> {
        let State::Responded { rspauth } = std::mem::replace(&mut self.state, State::Done) else {
            return Err(SaslError::Finished);
        };
        let text = std::str::from_utf8(token)
            .map_err(|_| SaslError::Malformed("rspauth is not UTF-8".into()))?;
        let d = parse_directives(text)?;
        let got = d
            .iter()
            .find(|(k, _)| k == "rspauth")
            .map(|(_, v)| v.to_ascii_lowercase())
            .ok_or_else(|| SaslError::Malformed("no rspauth directive".into()))?;
        if constant_time_eq(got.as_bytes(), rspauth.as_bytes()) {
            Ok(())
        } else {
            Err(SaslError::BadPassword(self.username.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{DigestMd5Server, SaslServerConfig, Step};
    use std::collections::HashMap;

    fn users() -> SaslServerConfig {
        let mut m = HashMap::new();
        m.insert("peer".to_owned(), "pw\"1".to_owned());
        SaslServerConfig::new("test".into(), m, None)
    }

    fn run(password: &str) -> Result<(), SaslError> {
        let mut server = DigestMd5Server::new("nonce-1".into());
        let mut client = DigestMd5Client::new("peer".into(), password.into(), "cn".into());
        let Step::Challenge(challenge) = server.step(b"", &users())? else {
            panic!("a challenge first");
        };
        let response = client.respond(&challenge)?;
        match server.step(&response, &users())? {
            Step::Success { token, user } => {
                assert_eq!(user, "peer");
                client.verify_server(&token)
            }
            Step::Challenge(_) => panic!("one challenge only"),
        }
    }

    #[test]
    fn the_client_authenticates_against_the_server_and_checks_rspauth() {
        assert_eq!(run("pw\"1"), Ok(()));
        assert_eq!(run("wrong"), Err(SaslError::BadPassword("peer".into())));
    }

    #[test]
    fn a_forged_rspauth_or_odd_challenges_are_refused() {
        let mut server = DigestMd5Server::new("n".into());
        let mut client = DigestMd5Client::new("peer".into(), "pw\"1".into(), "cn".into());
        let Ok(Step::Challenge(challenge)) = server.step(b"", &users()) else {
            panic!("a challenge first");
        };
        client.respond(&challenge).expect("responds");
        assert!(client
            .verify_server(b"rspauth=00000000000000000000000000000000")
            .is_err());
        for bad in [
            &b"realm=\"zk-sasl-md5\",charset=utf-8,algorithm=md5-sess"[..],
            b"nonce=\"x\",algorithm=md5",
            b"nonce=\"x\",qop=\"auth-conf\",algorithm=md5-sess",
            b"\xff",
            &[b'a'; 3000],
        ] {
            let mut c = DigestMd5Client::new("peer".into(), "p".into(), "cn".into());
            assert!(c.respond(bad).is_err(), "{bad:?}");
        }
        let mut c = DigestMd5Client::new("peer".into(), "p".into(), "cn".into());
        assert_eq!(c.verify_server(b"rspauth=ab"), Err(SaslError::Finished));
    }
}
