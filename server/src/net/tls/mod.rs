//! TLS on the secure client port (`secureClientPort`), with rustls and its `ring` provider.
//!
//! The client protocol inside TLS is exactly the plain one (the same jute frames); only the
//! bytes on the socket differ. This module turns the `ssl.*` settings into a rustls server
//! configuration at start-up (so a missing or unusable key store stops the server before it
//! listens, with a message saying what to fix), binds the secure listeners, and provides the
//! stream halves a connection's reader and writer tasks use (`stream`). The subject of a
//! client certificate becomes the connection's `x509` id (`dn`).
//!
//! Key and trust stores are JKS, PKCS12 or PEM files, read as Apache reads them
//! (`store`, with `jks` and `pem`); version 1 client certificates are checked in `v1`.

pub mod dn;
mod jks;
mod pem;
mod pkcs12_pbe;
pub mod store;
pub mod stream;
mod v1;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use thiserror::Error;

/// The server's private key and its certificate chain, leaf first: what every key store
/// format (`jks`, `pem`, PKCS#12 in `store`) yields. Here, above them, so that `store` can
/// call the format readers without them importing `store` back.
pub type KeyAndChain = (
    rustls::pki_types::PrivateKeyDer<'static>,
    Vec<rustls::pki_types::CertificateDer<'static>>,
);

/// Whether `needle` occurs in `haystack` (PEM and store sniffing).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a client must, may or must not present a certificate (`ssl.clientAuth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    None,
    /// A certificate is asked for; a client without one is served without an `x509` id.
    Want,
    /// A client without a valid certificate fails the TLS handshake (Apache's default).
    Need,
}

impl ClientAuth {
    /// Apache's `X509Util.ClientAuth.fromPropertyValue`: case-insensitive, unset is `need`.
    pub fn parse(value: &str) -> Option<ClientAuth> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "want" => Some(ClientAuth::Want),
            "need" | "" => Some(ClientAuth::Need),
            _ => None,
        }
    }
}

/// A TLS protocol version ringkeeper can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    V12,
    V13,
}

impl TlsVersion {
    /// Java's protocol names. Older versions are refused: rustls does not implement them.
    pub fn parse(name: &str) -> Option<TlsVersion> {
        match name.trim() {
            "TLSv1.2" => Some(TlsVersion::V12),
            "TLSv1.3" => Some(TlsVersion::V13),
            _ => None,
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::V12 => &rustls::version::TLS12,
            TlsVersion::V13 => &rustls::version::TLS13,
        }
    }
}

/// The `ssl.*` settings, as read from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// The store with the private key and the certificate chain (leaf first).
    pub key_store: store::StoreSpec,
    /// The store with the CA certificates client certificates are checked against.
    pub trust_store: Option<store::StoreSpec>,
    pub client_auth: ClientAuth,
    /// Versions offered, never empty.
    pub versions: Vec<TlsVersion>,
    /// Cipher suites by their IANA names (Java's names); `None` keeps rustls' defaults.
    pub cipher_suites: Option<Vec<String>>,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {reason}")]
    BadStore {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path} does not open with the configured password (wrong password, or a damaged file)")]
    WrongPassword { what: &'static str, path: PathBuf },
    #[error("{what} {path} is protected by a password and none is configured; set the store's password or passwordPath key")]
    NoPassword { what: &'static str, path: PathBuf },
    #[error("{what} {path} is not a PEM file: {reason}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("key store {0} holds no private key (PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY, or a JKS/PKCS12 key entry)")]
    NoKey(PathBuf),
    #[error("key store {0} holds no certificate; put the server certificate (then its chain) after the key")]
    NoCertificate(PathBuf),
    #[error("trust store {0} holds no trusted CA certificate")]
    NoTrustedCertificate(PathBuf),
    #[error("trust store {path}: {reason}")]
    BadTrustedCertificate { path: PathBuf, reason: String },
    #[error("ssl.clientAuth={0:?} needs ssl.trustStore.location: client certificates are checked against it")]
    NoTrustStore(ClientAuth),
    #[error("none of ssl.ciphersuites is supported; supported: {0}")]
    NoCipherSuite(String),
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// A ready TLS server configuration: shared by every connection of every shard (rustls'
/// configuration is immutable and `Sync`; it is read once per handshake, never per request).
#[derive(Clone)]
pub struct TlsServer {
    pub config: Arc<ServerConfig>,
    pub client_auth: ClientAuth,
    /// `zookeeper.X509AuthenticationProvider.superUser`: the certificate subject that also
    /// gets the `super` id.
    pub super_user: Option<String>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("client_auth", &self.client_auth)
            .field("super_user", &self.super_user)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Builds the configuration; `warnings` collects cipher suite names that were skipped.
    pub fn build(
        options: &TlsOptions,
        super_user: Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<TlsServer, TlsError> {
        let (key, chain) = store::load_key_store(&options.key_store)?;
        let provider = Arc::new(provider(options.cipher_suites.as_deref(), warnings)?);
        let versions: Vec<&'static SupportedProtocolVersion> =
            options.versions.iter().map(|v| v.rustls()).collect();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?;
        let verifier = match (options.client_auth, &options.trust_store) {
            (ClientAuth::None, _) => WebPkiClientVerifier::no_client_auth(),
            (auth, None) => return Err(TlsError::NoTrustStore(auth)),
            (auth, Some(spec)) => {
                let roots = Arc::new(roots(spec)?);
                let b =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let b = if auth == ClientAuth::Want {
                    b.allow_unauthenticated()
                } else {
                    b
                };
                let inner = b.build().map_err(|e| TlsError::Verifier(e.to_string()))?;
                Arc::new(V1Tolerant {
                    inner,
                    anchors: roots.roots.clone(),
                    algorithms: provider.signature_verification_algorithms,
                })
            }
        };
        let signing = provider.key_provider.load_private_key(key)?;
        let certified = Arc::new(rustls::sign::CertifiedKey::new(chain, signing));
        // The key must belong to the certificate. webpki cannot parse an X.509 v1
        // certificate (old tooling, kazoo's test CA among them, still makes them) and Java
        // serves those, so such a certificate is served without the check, with a warning.
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InvalidCertificate(e)) => warnings.push(format!(
                "the key store's certificate cannot be checked against its key ({e:?}); serving it unchecked"
            )),
            Err(e) => return Err(e.into()),
        }
        let mut config = builder
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SingleCert(certified)));
        // ZooKeeper clients reconnect by session id, not by TLS session: resumption tickets
        // would only add post-handshake writes.
        config.send_tls13_tickets = 0;
        Ok(TlsServer {
            config: Arc::new(config),
            client_auth: options.client_auth,
            super_user,
        })
    }
}

/// webpki's client verification, plus X.509 v1 client certificates issued directly by a
/// trust anchor (see `v1.rs`), for TLS 1.3 handshakes.
#[derive(Debug)]
struct V1Tolerant {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for V1Tolerant {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            // Whatever else the client sent (OpenSSL clients append the CA) is not used: a
            // v1 certificate is accepted only when a trust anchor issued it directly.
            Err(e) if v1::is_v1(end_entity) => {
                match v1::verify(end_entity, &self.anchors, &self.algorithms, now) {
                    Ok(()) => Ok(rustls::server::danger::ClientCertVerified::assertion()),
                    Err(why) => {
                        tracing::debug!(why, "version 1 client certificate refused");
                        Err(e)
                    }
                }
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        match self.inner.verify_tls13_signature(message, cert, dss) {
            // webpki cannot read a v1 certificate's key; verify with the key itself.
            Err(e) => match v1::spki(cert).filter(|_| v1::is_v1(cert)) {
                Some(spki) => rustls::crypto::verify_tls13_signature_with_raw_key(
                    message,
                    &rustls::pki_types::SubjectPublicKeyInfoDer::from(spki),
                    dss,
                    &self.algorithms,
                ),
                None => Err(e),
            },
            ok => ok,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Serves the one configured certificate to every client.
#[derive(Debug)]
struct SingleCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for SingleCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The `ring` provider, narrowed to the configured cipher suites.
fn provider(
    names: Option<&[String]>,
    warnings: &mut Vec<String>,
) -> Result<CryptoProvider, TlsError> {
    let mut p = rustls::crypto::ring::default_provider();
    let Some(names) = names else {
        return Ok(p);
    };
    let all = p.cipher_suites.clone();
    let mut chosen = Vec::new();
    for name in names {
        match all.iter().find(|s| iana_name(s) == *name) {
            Some(s) => chosen.push(*s),
            // Java configurations often list CBC suites rustls never implements; those are
            // skipped with a warning rather than stopping the server.
            None => warnings.push(format!(
                "ssl.ciphersuites: {name} is not supported by ringkeeper and is skipped"
            )),
        }
    }
    if chosen.is_empty() {
        let supported: Vec<String> = all.iter().map(iana_name).collect();
        return Err(TlsError::NoCipherSuite(supported.join(",")));
    }
    p.cipher_suites = chosen;
    Ok(p)
}

/// The IANA (and Java) name of a suite: rustls spells the TLS 1.3 ones `TLS13_...`.
fn iana_name(s: &rustls::SupportedCipherSuite) -> String {
    let name = format!("{:?}", s.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// The trust store's certificates as rustls trust anchors.
fn roots(spec: &store::StoreSpec) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in store::load_trust_store(spec)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::BadTrustedCertificate {
                path: spec.path.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok(roots)
}

/// The secure client port's listeners, one per shard, bound before any executor starts so
/// that a busy port stops the server as a busy client port does. `runtime::start` hands each
/// shard its own, beside its plain listener.
pub struct SecureListeners {
    pub tls: TlsServer,
    pub listeners: Vec<std::net::TcpListener>,
    pub local_addr: SocketAddr,
}

impl std::fmt::Debug for SecureListeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureListeners")
            .field("listeners", &self.listeners.len())
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Binds one SO_REUSEPORT listener per shard on `addr`, after checking that nobody else
/// serves it.
pub fn bind_secure_listeners(
    addr: SocketAddr,
    shards: usize,
    tls: TlsServer,
) -> std::io::Result<SecureListeners> {
    super::listener::probe_free(addr)?;
    let mut listeners = Vec::new();
    for _ in 0..shards.max(1) {
        listeners.push(super::listener::bind_shared(addr)?);
    }
    let local_addr = listeners[0].local_addr().unwrap_or(addr);
    Ok(SecureListeners {
        tls,
        listeners,
        local_addr,
    })
}
