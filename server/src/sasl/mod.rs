//! SASL authentication as ZooKeeper's `sasl` scheme: DIGEST-MD5 (RFC 2831) against users
//! named in a JAAS configuration file, the way Apache's `ZooKeeperSaslServer` and
//! `SaslServerCallbackHandler` offer it.
//!
//! Everything here is synchronous and free of sockets: the shard feeds a connection's
//! tokens in and sends back what comes out.

pub mod digest_md5;
pub mod digest_md5_client;
pub mod jaas;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use digest_md5::{
    DigestMd5Server, SaslError, Step, DIGEST_REALM, DIGEST_SERVICE, QUORUM_REALM, QUORUM_SERVICE,
};
pub use digest_md5_client::DigestMd5Client;
pub use jaas::JaasError;

/// The JAAS section Apache's server reads unless `zookeeper.sasl.serverconfig` names another.
pub const DEFAULT_SERVER_SECTION: &str = "Server";

/// What the server needs to authenticate SASL clients: the users and passwords from the
/// JAAS file, and the user (if any) that becomes the super user once authenticated.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslServerConfig {
    /// The file the users came from, for messages.
    pub source: PathBuf,
    users: HashMap<String, String>,
    /// `zookeeper.superUser`: a SASL identity equal to it also gets the `super` id.
    pub super_user: Option<String>,
}

// Passwords must never reach a log line, so Debug shows the user names only.
impl std::fmt::Debug for SaslServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("SaslServerConfig")
            .field("source", &self.source)
            .field("users", &names)
            .field("super_user", &self.super_user)
            .finish()
    }
}

impl SaslServerConfig {
    pub fn new(
        source: PathBuf,
        users: HashMap<String, String>,
        super_user: Option<String>,
    ) -> Self {
        Self {
            source,
            users,
            super_user,
        }
    }

    /// Reads the JAAS file and the `user_<name>="<password>"` options of `section`.
    /// `Ok(None)` when the file has no such section: Apache then offers no SASL at all.
    pub fn load(
        path: &Path,
        section: &str,
        super_user: Option<String>,
    ) -> Result<Option<Self>, JaasError> {
        let text = std::fs::read_to_string(path).map_err(|e| JaasError::Read {
            path: path.to_owned(),
            error: e.to_string(),
        })?;
        let sections = jaas::parse(&text)?;
        Ok(jaas::server_users(&sections, section)
            .map(|users| Self::new(path.to_owned(), users, super_user)))
    }

    /// The password of `user`, if the JAAS file names one.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// Thirty random bytes in base64 (40 characters), the shape of Java's DIGEST-MD5 nonces.
/// The nonce only has to be unpredictable, so the kernel's random source is enough;
/// failing to read it fails the exchange rather than falling back to something guessable.
pub fn random_nonce() -> std::io::Result<String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let mut bytes = [0u8; 30];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}
