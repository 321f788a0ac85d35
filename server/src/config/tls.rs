//! The TLS keys: the secure client port and Apache's `ssl.*` client-side keys (also
//! accepted as `zookeeper.ssl.*` system properties), and the x509 super user. Key and trust
//! stores are read here, at start-up, so an unusable one stops the server with a message
//! naming the key and saying how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::settings::Settings;
use super::{keys, ConfigError};
use crate::net::tls::{ClientAuth, TlsOptions, TlsServer, TlsVersion};

pub const SECURE_CLIENT_PORT_ADDRESS: &str = "secureClientPortAddress";
pub const KEY_STORE_LOCATION: &str = "ssl.keyStore.location";
pub const KEY_STORE_PASSWORD: &str = "ssl.keyStore.password";
pub const KEY_STORE_TYPE: &str = "ssl.keyStore.type";
pub const TRUST_STORE_LOCATION: &str = "ssl.trustStore.location";
pub const TRUST_STORE_PASSWORD: &str = "ssl.trustStore.password";
pub const TRUST_STORE_TYPE: &str = "ssl.trustStore.type";
pub const CLIENT_AUTH: &str = "ssl.clientAuth";
pub const PROTOCOL: &str = "ssl.protocol";
pub const ENABLED_PROTOCOLS: &str = "ssl.enabledProtocols";
pub const CIPHER_SUITES: &str = "ssl.ciphersuites";
pub const HOSTNAME_VERIFICATION: &str = "ssl.hostnameVerification";
/// `zookeeper.X509AuthenticationProvider.superUser` without its `zookeeper.` prefix.
pub const X509_SUPER_USER: &str = "X509AuthenticationProvider.superUser";

/// The secure port's configuration: where it listens and the ready TLS configuration.
#[derive(Clone, Debug)]
pub struct SecureClientConfig {
    pub address: SocketAddr,
    pub server: TlsServer,
    pub options: TlsOptions,
}

/// Reads the TLS keys. `Ok(None)` when no `secureClientPort` is set: the `ssl.*` keys then
/// configure nothing (Apache uses them for other listeners too) and are not read.
pub(super) fn tls_from_settings(
    settings: &Settings,
    warnings: &mut Vec<String>,
) -> Result<Option<SecureClientConfig>, ConfigError> {
    let Some(port) = settings.port(keys::SECURE_CLIENT_PORT)? else {
        return Ok(None);
    };
    // Apache binds every interface unless secureClientPortAddress names one; it does not
    // follow clientPortAddress.
    let host = settings
        .text(SECURE_CLIENT_PORT_ADDRESS)?
        .unwrap_or_else(|| "0.0.0.0".to_owned());
    let address = super::resolve_host(host.trim(), port).map_err(|reason| {
        match settings.get(SECURE_CLIENT_PORT_ADDRESS) {
            Some(s) => s.invalid(reason),
            None => ConfigError::Inconsistent {
                reason,
                origin: settings.origin_of(keys::SECURE_CLIENT_PORT),
            },
        }
    })?;

    let Some(key_store) = settings
        .get(KEY_STORE_LOCATION)
        .filter(|s| !s.value.is_empty())
    else {
        return Err(ConfigError::Inconsistent {
            reason: format!(
                "secureClientPort is set but {KEY_STORE_LOCATION} is not: the TLS port needs a PEM file with the server's private key and certificate chain"
            ),
            origin: settings.origin_of(keys::SECURE_CLIENT_PORT),
        });
    };
    check_store_type(settings, KEY_STORE_TYPE, &key_store.value, "key store")?;
    let trust_store = match settings
        .get(TRUST_STORE_LOCATION)
        .filter(|s| !s.value.is_empty())
    {
        Some(s) => {
            check_store_type(settings, TRUST_STORE_TYPE, &s.value, "trust store")?;
            Some(PathBuf::from(&s.value))
        }
        None => None,
    };
    let client_auth = match settings.get(CLIENT_AUTH) {
        Some(s) => {
            ClientAuth::parse(&s.value).ok_or_else(|| s.invalid("choose none, want or need"))?
        }
        None => ClientAuth::Need,
    };
    let versions = versions(settings)?;
    let cipher_suites = settings.get(CIPHER_SUITES).map(|s| {
        s.value
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
    });
    // Only a client verifies the server's host name; on the server side Apache's client
    // port checks no names either (ssl.clientHostnameVerification is for quorum links).
    settings.boolean(HOSTNAME_VERIFICATION)?;

    let options = TlsOptions {
        key_store: PathBuf::from(&key_store.value),
        trust_store,
        client_auth,
        versions,
        cipher_suites,
    };
    let super_user = settings
        .get(X509_SUPER_USER)
        .map(|s| s.value.clone())
        .filter(|v| !v.is_empty());
    let server = TlsServer::build(&options, super_user, warnings).map_err(|e| {
        let key = match &e {
            crate::net::tls::TlsError::NoCipherSuite(_) => CIPHER_SUITES,
            crate::net::tls::TlsError::NoTrustedCertificate(_)
            | crate::net::tls::TlsError::BadTrustedCertificate { .. } => TRUST_STORE_LOCATION,
            crate::net::tls::TlsError::NoTrustStore(_) => CLIENT_AUTH,
            crate::net::tls::TlsError::JavaStore { what, .. }
            | crate::net::tls::TlsError::Read { what, .. }
            | crate::net::tls::TlsError::BadPem { what, .. }
                if *what == "trust store" =>
            {
                TRUST_STORE_LOCATION
            }
            _ => KEY_STORE_LOCATION,
        };
        match settings.get(key) {
            Some(s) => s.invalid(e.to_string()),
            None => ConfigError::Inconsistent {
                reason: e.to_string(),
                origin: settings.origin_of(keys::SECURE_CLIENT_PORT),
            },
        }
    })?;
    Ok(Some(SecureClientConfig {
        address,
        server,
        options,
    }))
}

/// Refuses Java store types up front, by `ssl.*.type` or, when unset, by file name (as
/// Apache's `KeyStoreFileType.fromPropertyValueOrFileName`).
fn check_store_type(
    settings: &Settings,
    type_key: &str,
    location: &str,
    what: &str,
) -> Result<(), ConfigError> {
    let from_name = Path::new(location)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let (kind, setting) = match settings.get(type_key) {
        Some(s) => (s.value.trim().to_ascii_uppercase(), Some(s)),
        None => match from_name.as_deref() {
            Some("jks") => ("JKS".to_owned(), None),
            Some("p12") | Some("pfx") => ("PKCS12".to_owned(), None),
            Some("bcfks") => ("BCFKS".to_owned(), None),
            _ => ("PEM".to_owned(), None),
        },
    };
    if kind == "PEM" {
        return Ok(());
    }
    let reason = format!(
        "{what} type {kind} is not supported; ringkeeper reads PEM only (see docs/operations.md, \"TLS\"): {}",
        if what == "trust store" {
            format!("`keytool -list -rfc -keystore {location} -storepass <password> > truststore.pem`")
        } else {
            format!("`keytool -importkeystore -srckeystore {location} -srcstorepass <password> -destkeystore keystore.p12 -deststoretype PKCS12 -deststorepass <password>` then `openssl pkcs12 -in keystore.p12 -passin pass:<password> -nodes -out keystore.pem`")
        }
    );
    let location_key = if what == "trust store" {
        TRUST_STORE_LOCATION
    } else {
        KEY_STORE_LOCATION
    };
    Err(match setting.or_else(|| settings.get(location_key)) {
        Some(s) => s.invalid(reason),
        None => ConfigError::Inconsistent {
            reason,
            origin: settings.file_origin(),
        },
    })
}

/// The versions to offer: `ssl.enabledProtocols` when set, else those `ssl.protocol`
/// allows (Apache's default protocol is TLSv1.3, which also enables TLSv1.2).
fn versions(settings: &Settings) -> Result<Vec<TlsVersion>, ConfigError> {
    if let Some(s) = settings.get(ENABLED_PROTOCOLS) {
        let mut out = Vec::new();
        for name in s.value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let v = TlsVersion::parse(name).ok_or_else(|| {
                s.invalid(format!(
                    "{name} is not supported; choose TLSv1.2 and/or TLSv1.3"
                ))
            })?;
            if !out.contains(&v) {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Err(s.invalid("names no protocol"));
        }
        return Ok(out);
    }
    match settings.get(PROTOCOL) {
        None => Ok(vec![TlsVersion::V13, TlsVersion::V12]),
        Some(s) => match s.value.trim() {
            "TLSv1.3" | "TLS" => Ok(vec![TlsVersion::V13, TlsVersion::V12]),
            "TLSv1.2" => Ok(vec![TlsVersion::V12]),
            _ => {
                Err(s.invalid("choose TLSv1.3, TLSv1.2 or TLS (older protocols are not supported)"))
            }
        },
    }
}
