//! The server side of DIGEST-MD5 (RFC 2831) with quality of protection `auth` only, as
//! Apache ZooKeeper's Java SASL server runs it: service `zookeeper`, server name and realm
//! `zk-sasl-md5`, `algorithm=md5-sess`, one challenge, then `rspauth` on success. Checked
//! against Apache 3.8: its challenge is `realm="zk-sasl-md5",nonce="<40 base64
//! characters>",charset=utf-8,algorithm=md5-sess`.

use md5::{Digest as _, Md5};

use super::SaslServerConfig;

/// The realm and server name Apache's `ZooKeeperSaslServer` uses for DIGEST-MD5, so a
/// client's `digest-uri` is `zookeeper/zk-sasl-md5`.
pub const DIGEST_REALM: &str = "zk-sasl-md5";
/// The SASL service (protocol) name.
pub const DIGEST_SERVICE: &str = "zookeeper";
/// The names Apache's quorum SASL uses instead (`QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME` and
/// `QUORUM_SERVER_SASL_DIGEST`), so a member's `digest-uri` is
/// `zookeeper-quorum/zk-quorum-sasl-md5`.
pub const QUORUM_SERVICE: &str = "zookeeper-quorum";
pub const QUORUM_REALM: &str = "zk-quorum-sasl-md5";
/// Largest client response accepted (RFC 2831 2.1.2 limits it to 4096 bytes).
const RESPONSE_BYTES_MAX: usize = 4096;

/// Why an exchange failed. The client only ever learns "AuthFailed"; the detail is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("malformed DIGEST-MD5 response: {0}")]
    Malformed(String),
    #[error("DIGEST-MD5 response names another nonce")]
    NonceMismatch,
    #[error("unsupported DIGEST-MD5 directive value: {0}")]
    Unsupported(String),
    #[error("unknown SASL user {0:?}")]
    UnknownUser(String),
    #[error("wrong password for SASL user {0:?}")]
    BadPassword(String),
    #[error("SASL exchange already finished")]
    Finished,
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; send `token` (the `rspauth`) as the last reply.
    Success { token: Vec<u8>, user: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    Challenged,
    Done,
}

/// One connection's DIGEST-MD5 exchange.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    nonce: String,
    state: State,
    /// The SASL service and the server name, which is also the realm offered.
    service: &'static str,
    realm: &'static str,
}

impl DigestMd5Server {
    /// `nonce` must be unpredictable (see `super::random_nonce`); tests pass a fixed one.
    /// The client port's exchange (`zookeeper`, `zk-sasl-md5`).
    pub fn new(nonce: String) -> Self {
        Self::with_names(nonce, DIGEST_SERVICE, DIGEST_REALM)
    }

    /// An exchange for another service and server name (quorum links: [`QUORUM_SERVICE`],
    /// [`QUORUM_REALM`]).
    pub fn with_names(nonce: String, service: &'static str, realm: &'static str) -> Self {
        Self {
            nonce,
            state: State::Start,
            service,
            realm,
        }
    }

    /// Consumes the client's next token. After an error the exchange is over.
    pub fn step(&mut self, token: &[u8], users: &SaslServerConfig) -> Result<Step, SaslError> {
        match self.state {
            // Whatever the first token holds is ignored, as Java's DIGEST-MD5 server
            // (and so Apache) does: DIGEST-MD5 has no initial response, and skipping it
            // grants nothing, since the client must still answer the challenge.
            State::Start => {
                self.state = State::Challenged;
                Ok(Step::Challenge(self.challenge().into_bytes()))
            }
            State::Challenged => {
                self.state = State::Done;
                self.verify(token, users)
            }
            State::Done => Err(SaslError::Finished),
        }
    }

    /// The challenge exactly as Apache's (Java's) server words it: no `qop` directive, which
    /// RFC 2831 reads as `auth`, the only protection offered.
    fn challenge(&self) -> String {
        format!(
            "realm=\"{}\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess",
            self.realm, self.nonce
        )
    }

    fn verify(&self, token: &[u8], users: &SaslServerConfig) -> Result<Step, SaslError> {
        if token.len() > RESPONSE_BYTES_MAX {
            return Err(SaslError::Malformed(
                "response longer than 4096 bytes".into(),
            ));
        }
        let text = std::str::from_utf8(token)
            .map_err(|_| SaslError::Malformed("response is not UTF-8".into()))?;
        let d = parse_directives(text)?;
        let get = |k: &str| d.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let required =
            |k: &str| get(k).ok_or_else(|| SaslError::Malformed(format!("no {k} directive")));
        let username = required("username")?;
        let nonce = required("nonce")?;
        let cnonce = required("cnonce")?;
        let nc = required("nc")?;
        let digest_uri = required("digest-uri")?;
        let response = required("response")?;
        let realm = get("realm").unwrap_or("");
        let qop = get("qop").unwrap_or("auth");
        let authzid = get("authzid");
        let utf8 = get("charset").is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));

        if !constant_time_eq(nonce.as_bytes(), self.nonce.as_bytes()) {
            return Err(SaslError::NonceMismatch);
        }
        // One response per nonce: the first use of a nonce counts 1.
        if nc != "00000001" {
            return Err(SaslError::Unsupported(format!("nc={nc}")));
        }
        if qop != "auth" {
            return Err(SaslError::Unsupported(format!("qop={qop}")));
        }
        if !realm.is_empty() && realm != self.realm {
            return Err(SaslError::Unsupported(format!("realm={realm}")));
        }
        let expected_uri = format!("{}/{}", self.service, self.realm);
        if !digest_uri.eq_ignore_ascii_case(&expected_uri) {
            return Err(SaslError::Unsupported(format!("digest-uri={digest_uri}")));
        }
        let password = users
            .password(username)
            .ok_or_else(|| SaslError::UnknownUser(username.to_owned()))?;

        let (expected, rspauth) = digests(&DigestInputs {
            username,
            realm,
            password,
            nonce,
            cnonce,
            nc,
            qop,
            digest_uri,
            authzid,
            utf8,
        })?;
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(SaslError::BadPassword(username.to_owned()));
        }
        Ok(Step::Success {
            token: format!("rspauth={rspauth}").into_bytes(),
            // Apache's callback handler takes the authorization id from the authenticated
            // user name, whatever authzid the client asked for.
            user: username.to_owned(),
        })
    }
}

/// What both sides of an exchange hash (RFC 2831 section 2.1.2.1).
pub(super) struct DigestInputs<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub nonce: &'a str,
    pub cnonce: &'a str,
    pub nc: &'a str,
    pub qop: &'a str,
    pub digest_uri: &'a str,
    pub authzid: Option<&'a str>,
    pub utf8: bool,
}

/// The client's `response` and the server's `rspauth` for one exchange, in lowercase hex:
/// the server checks the first and proves it knows the password with the second, so the
/// client side (quorum learners) and the server side compute them in one place.
pub(super) fn digests(i: &DigestInputs<'_>) -> Result<(String, String), SaslError> {
    let encode = |s: &str| encode_text(s, i.utf8);
    let mut user_realm_pass = encode(i.username)?;
    user_realm_pass.push(b':');
    user_realm_pass.extend(encode(i.realm)?);
    user_realm_pass.push(b':');
    user_realm_pass.extend(encode(i.password)?);
    let inner = Md5::digest(&user_realm_pass);
    let mut a1 = inner.to_vec();
    a1.extend_from_slice(format!(":{}:{}", i.nonce, i.cnonce).as_bytes());
    if let Some(z) = i.authzid {
        a1.push(b':');
        a1.extend(encode(z)?);
    }
    let ha1 = hex(&Md5::digest(&a1));
    let kd = |a2: &str| {
        let ha2 = hex(&Md5::digest(a2.as_bytes()));
        hex(&Md5::digest(
            format!("{ha1}:{}:{}:{}:{}:{ha2}", i.nonce, i.nc, i.cnonce, i.qop).as_bytes(),
        ))
    };
    Ok((
        kd(&format!("AUTHENTICATE:{}", i.digest_uri)),
        kd(&format!(":{}", i.digest_uri)),
    ))
}

/// RFC 2831: strings are hashed as ISO-8859-1 unless the client chose `charset=utf-8`.
fn encode_text(s: &str, utf8: bool) -> Result<Vec<u8>, SaslError> {
    if utf8 {
        return Ok(s.as_bytes().to_vec());
    }
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| SaslError::Malformed("text outside ISO-8859-1 without charset".into()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `key=value,key="quoted \" value",...` (RFC 2831 section 7.1, `#rule` lists).
pub(super) fn parse_directives(text: &str) -> Result<Vec<(String, String)>, SaslError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(SaslError::Malformed(format!("directive {key} has no '='")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some(e) => value.push(e),
                        None => break,
                    },
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(SaslError::Malformed(format!("unterminated value of {key}")));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim_end().to_owned();
        }
        let key = key.to_ascii_lowercase();
        // RFC 2831 lets most directives appear at most once; a repeated one is a sign of a
        // confused or hostile client.
        if out.iter().any(|(k, _)| *k == key) {
            return Err(SaslError::Malformed(format!("directive {key} repeated")));
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn users() -> SaslServerConfig {
        let mut m = HashMap::new();
        m.insert("jaasuser".to_owned(), "jaas_password".to_owned());
        SaslServerConfig::new("test".into(), m, None)
    }

    /// A client response computed independently of the server code, following RFC 2831
    /// section 2.1.2.1 step by step.
    fn client_response(user: &str, pass: &str, nonce: &str, cnonce: &str) -> (String, String) {
        let uri = "zookeeper/zk-sasl-md5";
        let h = |b: &[u8]| hex(&Md5::digest(b));
        let mut a1 = Md5::digest(format!("{user}:zk-sasl-md5:{pass}").as_bytes()).to_vec();
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        let ha1 = h(&a1);
        let resp = h(format!(
            "{ha1}:{nonce}:00000001:{cnonce}:auth:{}",
            h(format!("AUTHENTICATE:{uri}").as_bytes())
        )
        .as_bytes());
        let rspauth = h(format!(
            "{ha1}:{nonce}:00000001:{cnonce}:auth:{}",
            h(format!(":{uri}").as_bytes())
        )
        .as_bytes());
        (
            format!("qop=auth,realm=zk-sasl-md5,username=\"{user}\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",nc=00000001,digest-uri=\"{uri}\",response={resp}"),
            rspauth,
        )
    }

    #[test]
    fn full_exchange_succeeds_with_rspauth() {
        let mut s = DigestMd5Server::new("abc123".into());
        let Step::Challenge(ch) = s.step(b"", &users()).expect("challenge") else {
            panic!("expected a challenge");
        };
        let ch = String::from_utf8(ch).expect("ascii");
        assert!(ch.contains("realm=\"zk-sasl-md5\""), "{ch}");
        assert!(ch.contains("nonce=\"abc123\""), "{ch}");
        assert!(ch.ends_with(",charset=utf-8,algorithm=md5-sess"), "{ch}");
        let (resp, rspauth) = client_response("jaasuser", "jaas_password", "abc123", "xyz");
        match s.step(resp.as_bytes(), &users()).expect("success") {
            Step::Success { token, user } => {
                assert_eq!(user, "jaasuser");
                assert_eq!(token, format!("rspauth={rspauth}").into_bytes());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.step(b"", &users()), Err(SaslError::Finished));
    }

    #[test]
    fn wrong_password_unknown_user_and_stale_nonce_fail() {
        let cases = [
            (client_response("jaasuser", "nope", "n1", "c").0, "n1"),
            (client_response("baduser", "badpassword", "n1", "c").0, "n1"),
            (
                client_response("jaasuser", "jaas_password", "other", "c").0,
                "n1",
            ),
        ];
        for (resp, nonce) in cases {
            let mut s = DigestMd5Server::new(nonce.into());
            s.step(b"", &users()).expect("challenge");
            assert!(s.step(resp.as_bytes(), &users()).is_err(), "{resp}");
        }
    }

    #[test]
    fn an_initial_response_is_ignored_and_garbage_refused_without_panic() {
        let mut s = DigestMd5Server::new("n".into());
        let Ok(Step::Challenge(challenge)) = s.step(b"\xffx", &users()) else {
            panic!("a first token of any content is answered with the challenge");
        };
        assert!(challenge.starts_with(b"realm="));
        assert!(s.step(b"\xff\xfe", &users()).is_err());
        for garbage in [
            &b"\xff\xfe"[..],
            b"username",
            b"username=\"x",
            b"=,=,",
            &[b'a'; 5000],
        ] {
            let mut s = DigestMd5Server::new("n".into());
            s.step(b"", &users()).expect("challenge");
            assert!(s.step(garbage, &users()).is_err());
        }
    }

    #[test]
    fn directives_parse_quotes_and_escapes() {
        let d = parse_directives(" a=1 , b=\"x\\\"y,z\",C=\"\"").expect("parses");
        assert_eq!(
            d,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x\"y,z".to_owned()),
                ("c".to_owned(), String::new()),
            ]
        );
        assert!(parse_directives("a=1,a=2").is_err());
    }
}
