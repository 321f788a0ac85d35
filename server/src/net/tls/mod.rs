//! TLS on the secure client port (`secureClientPort`), with rustls and its `ring` provider.
//!
//! The client protocol inside TLS is exactly the plain one (the same jute frames); only the
//! bytes on the socket differ. This module turns the `ssl.*` settings into a rustls server
//! configuration at start-up (so a missing or unusable key store stops the server before it
//! listens, with a message saying what to fix), binds the secure listeners, and provides the
//! stream halves a connection's reader and writer tasks use (`stream`). The subject of a
//! client certificate becomes the connection's `x509` id (`dn`).
//!
//! Key and trust stores are PEM files. Java key stores (JKS, PKCS12) are refused with the
//! commands that convert them, since reading them would need a JKS parser and PKCS12's
//! password-based ciphers for a format every Java installation can export to PEM.

pub mod dn;
pub mod stream;
mod v1;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use thiserror::Error;

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
    /// PEM file with the private key and the certificate chain (leaf first).
    pub key_store: PathBuf,
    /// PEM file with the CA certificates client certificates are checked against.
    pub trust_store: Option<PathBuf>,
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
    #[error("{what} {path} is a {format} store; ringkeeper reads PEM only. Convert it: {hint}")]
    JavaStore {
        what: &'static str,
        path: PathBuf,
        format: &'static str,
        hint: String,
    },
    #[error("{what} {path} is not a PEM file: {reason}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("key store {0} holds an encrypted private key; ringkeeper needs it unencrypted: `openssl pkcs8 -in <file> -out <plain.pem>` (asks for the password), then put the certificates after the key")]
    EncryptedKey(PathBuf),
    #[error("key store {0} holds no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoKey(PathBuf),
    #[error("key store {0} holds no certificate; put the server certificate (then its chain) after the key")]
    NoCertificate(PathBuf),
    #[error("trust store {0} holds no CA certificate")]
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
        let (key, chain) = load_key_store(&options.key_store)?;
        let provider = Arc::new(provider(options.cipher_suites.as_deref(), warnings)?);
        let versions: Vec<&'static SupportedProtocolVersion> =
            options.versions.iter().map(|v| v.rustls()).collect();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?;
        let verifier = match (options.client_auth, &options.trust_store) {
            (ClientAuth::None, _) => WebPkiClientVerifier::no_client_auth(),
            (auth, None) => return Err(TlsError::NoTrustStore(auth)),
            (auth, Some(path)) => {
                let roots = Arc::new(load_trust_store(path)?);
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

/// The conversion commands an operator needs for a Java store.
fn conversion_hint(what: &str, path: &Path) -> String {
    let p = path.display();
    if what == "trust store" {
        format!("`keytool -list -rfc -keystore {p} -storepass <password> > truststore.pem` writes every trusted certificate as PEM; set ssl.trustStore.location to it and ssl.trustStore.type=PEM")
    } else {
        format!("`keytool -importkeystore -srckeystore {p} -srcstorepass <password> -destkeystore keystore.p12 -deststoretype PKCS12 -deststorepass <password>` then `openssl pkcs12 -in keystore.p12 -passin pass:<password> -nodes -out keystore.pem`; set ssl.keyStore.location to keystore.pem and ssl.keyStore.type=PEM")
    }
}

/// Reads a store file and refuses Java formats by their magic numbers.
fn read_store(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    let format = match bytes.get(..4) {
        Some([0xfe, 0xed, 0xfe, 0xed]) => Some("JKS"),
        Some([0xce, 0xce, 0xce, 0xce]) => Some("JCEKS"),
        // A DER SEQUENCE with a long-form length at the very start: a binary PKCS12 (or
        // DER) file; PEM text never has a byte above 0x7f there.
        Some([0x30, 0x80..=0x84, ..]) => Some("PKCS12"),
        _ => None,
    };
    if let Some(format) = format {
        return Err(TlsError::JavaStore {
            what,
            path: path.to_owned(),
            format,
            hint: conversion_hint(what, path),
        });
    }
    Ok(bytes)
}

/// Every PEM section of a file, with its kind; sections of unknown kinds are skipped.
fn sections(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    let mut out = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        out.push(item.map_err(|e| TlsError::BadPem {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?);
    }
    Ok(out)
}

/// The key store: one private key and the certificate chain, leaf first.
pub fn load_key_store(
    path: &Path,
) -> Result<(PrivateKeyDer<'static>, Vec<CertificateDer<'static>>), TlsError> {
    let bytes = read_store("key store", path)?;
    let found = sections("key store", path, &bytes)?;
    let mut key = None;
    let mut chain = Vec::new();
    for (kind, der) in found {
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
                if key.is_none() =>
            {
                key = PrivateKeyDer::from_pem(kind, der);
            }
            _ => {}
        }
    }
    let Some(key) = key else {
        if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(TlsError::EncryptedKey(path.to_owned()));
        }
        if !contains(&bytes, b"-----BEGIN ") {
            return Err(TlsError::JavaStore {
                what: "key store",
                path: path.to_owned(),
                format: "non-PEM",
                hint: conversion_hint("key store", path),
            });
        }
        return Err(TlsError::NoKey(path.to_owned()));
    };
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok((key, chain))
}

/// The trust store: CA certificates.
pub fn load_trust_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = read_store("trust store", path)?;
    let mut roots = RootCertStore::empty();
    for (kind, der) in sections("trust store", path, &bytes)? {
        if kind == SectionKind::Certificate {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| TlsError::BadTrustedCertificate {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
        }
    }
    if roots.is_empty() {
        if !contains(&bytes, b"-----BEGIN ") {
            return Err(TlsError::JavaStore {
                what: "trust store",
                path: path.to_owned(),
                format: "non-PEM",
                hint: conversion_hint("trust store", path),
            });
        }
        return Err(TlsError::NoTrustedCertificate(path.to_owned()));
    }
    Ok(roots)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
