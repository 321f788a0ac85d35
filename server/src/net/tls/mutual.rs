//! Mutual TLS for the links between members (`sslQuorum=true`, the `ssl.quorum.*` stores), as
//! Apache's `QuorumX509Util` sets it up: every connection, dialed or accepted, presents the
//! member's own certificate and requires the peer's, verified against the quorum trust store.
//! With `ssl.quorum.hostnameVerification` (on unless turned off) the dialer checks that the
//! peer's certificate names the host it dialed, and the acceptor that the dialer's names the
//! address it connected from (Apache's `ZKTrustManager` checks both ways on quorum links).
//!
//! The accepting side is the secure client port's server configuration with client
//! certificates required (`TlsServer::build`); only the dialing side is new here.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme,
};

use super::{store, ClientAuth, TlsError, TlsOptions, TlsServer};

/// Both ends of a member link's TLS.
#[derive(Clone)]
pub struct MutualTls {
    pub client: Arc<ClientConfig>,
    pub server: Arc<ServerConfig>,
    pub hostname_verification: bool,
}

impl std::fmt::Debug for MutualTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutualTls")
            .field("hostname_verification", &self.hostname_verification)
            .finish_non_exhaustive()
    }
}

impl MutualTls {
    /// Builds both configurations from the quorum stores; `options.client_auth` is ignored
    /// (a member's certificate is always required). `warnings` collects skipped cipher suites.
    pub fn build(
        options: &TlsOptions,
        hostname_verification: bool,
        warnings: &mut Vec<String>,
    ) -> Result<MutualTls, TlsError> {
        let Some(trust) = &options.trust_store else {
            return Err(TlsError::NoTrustStore(ClientAuth::Need));
        };
        let server_options = TlsOptions {
            client_auth: ClientAuth::Need,
            ..options.clone()
        };
        let server = TlsServer::build(&server_options, None, warnings)?.config;
        // The server build already reported skipped suites; do not repeat them.
        let provider = Arc::new(super::provider(
            options.cipher_suites.as_deref(),
            &mut Vec::new(),
        )?);
        let roots = Arc::new(super::roots(trust)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if hostname_verification {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        };
        let (key, chain) = store::load_key_store(&options.key_store)?;
        let versions: Vec<_> = options.versions.iter().map(|v| v.rustls()).collect();
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)?;
        Ok(MutualTls {
            client: Arc::new(client),
            server,
            hostname_verification,
        })
    }

    /// The name the dialer verifies the peer's certificate against: the host of `addr`
    /// ("host:port", an IP address or a DNS name).
    pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))
    }

    /// On an accepted connection: whether the dialer's certificate names `remote`, the
    /// address it connected from, when hostname verification is on. Apache also accepts a
    /// certificate naming the address's reverse-DNS name; ringkeeper does no DNS lookups on
    /// this path and checks the address only.
    pub fn check_dialer(
        &self,
        certs: Option<&[CertificateDer<'_>]>,
        remote: IpAddr,
    ) -> Result<(), String> {
        if !self.hostname_verification {
            return Ok(());
        }
        let leaf = certs
            .and_then(|c| c.first())
            .ok_or("no client certificate")?;
        let parsed = rustls::server::ParsedCertificate::try_from(leaf)
            .map_err(|e| format!("client certificate: {e}"))?;
        rustls::client::verify_server_name(&parsed, &ServerName::IpAddress(remote.into()))
            .map_err(|e| format!("client certificate does not name {remote}: {e}"))
    }
}

/// webpki's verification without the name check (`ssl.quorum.hostnameVerification=false`).
/// webpki checks the chain before the name, so a name error means the chain verified.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
