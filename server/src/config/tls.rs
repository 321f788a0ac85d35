//! The TLS keys: the secure client port and Apache's `ssl.*` client-side keys (also
//! accepted as `zookeeper.ssl.*` system properties), the quorum stores (`ssl.quorum.*`),
//! and the x509 super user. Key and trust stores are read here, at start-up, so an
//! unusable one stops the server with a message naming the key and saying how to fix it.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::settings::Settings;
use super::{keys, ConfigError};
use crate::net::tls::mutual::MutualTls;
use crate::net::tls::store::{self, StoreRole, StoreSpec, StoreType};
use crate::net::tls::{ClientAuth, TlsError, TlsOptions, TlsServer, TlsVersion};

pub use super::names::tls::*;

/// The four keys that configure one store (Apache's `X509Util` names them alike for the
/// client and the quorum key and trust stores).
struct StoreKeys {
    location: &'static str,
    password: &'static str,
    password_path: &'static str,
    kind: &'static str,
    role: StoreRole,
}

const CLIENT_KEY_STORE: StoreKeys = StoreKeys {
    location: KEY_STORE_LOCATION,
    password: KEY_STORE_PASSWORD,
    password_path: KEY_STORE_PASSWORD_PATH,
    kind: KEY_STORE_TYPE,
    role: StoreRole::Key,
};
const CLIENT_TRUST_STORE: StoreKeys = StoreKeys {
    location: TRUST_STORE_LOCATION,
    password: TRUST_STORE_PASSWORD,
    password_path: TRUST_STORE_PASSWORD_PATH,
    kind: TRUST_STORE_TYPE,
    role: StoreRole::Trust,
};
const QUORUM_KEY_STORE: StoreKeys = StoreKeys {
    location: QUORUM_KEY_STORE_LOCATION,
    password: QUORUM_KEY_STORE_PASSWORD,
    password_path: QUORUM_KEY_STORE_PASSWORD_PATH,
    kind: QUORUM_KEY_STORE_TYPE,
    role: StoreRole::Key,
};
const QUORUM_TRUST_STORE: StoreKeys = StoreKeys {
    location: QUORUM_TRUST_STORE_LOCATION,
    password: QUORUM_TRUST_STORE_PASSWORD,
    password_path: QUORUM_TRUST_STORE_PASSWORD_PATH,
    kind: QUORUM_TRUST_STORE_TYPE,
    role: StoreRole::Trust,
};

/// The quorum stores (`ssl.quorum.*`), read and checked at start-up like the client
/// port's. Quorum links do not use TLS yet; the stores are kept for when they do.
#[derive(Clone, Debug)]
pub struct QuorumStores {
    pub key_store: StoreSpec,
    pub trust_store: Option<StoreSpec>,
}

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

    let Some(key_store) = store_spec(settings, &CLIENT_KEY_STORE)? else {
        return Err(ConfigError::Inconsistent {
            reason: format!(
                "secureClientPort is set but {KEY_STORE_LOCATION} is not: the TLS port needs a key store (JKS, PKCS12 or PEM) with the server's private key and certificate chain"
            ),
            origin: settings.origin_of(keys::SECURE_CLIENT_PORT),
        });
    };
    let trust_store = store_spec(settings, &CLIENT_TRUST_STORE)?;
    let client_auth = match settings.get(CLIENT_AUTH) {
        Some(s) => {
            ClientAuth::parse(&s.value).ok_or_else(|| s.invalid("choose none, want or need"))?
        }
        None => ClientAuth::Need,
    };
    let versions = versions(settings, PROTOCOL, ENABLED_PROTOCOLS)?;
    let cipher_suites = cipher_suites(settings, CIPHER_SUITES);
    // Only a client verifies the server's host name; on the server side Apache's client
    // port checks no names either (ssl.clientHostnameVerification is for quorum links).
    settings.boolean(HOSTNAME_VERIFICATION)?;

    let options = TlsOptions {
        key_store,
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
            TlsError::NoCipherSuite(_) => CIPHER_SUITES,
            TlsError::NoTrustStore(_) => CLIENT_AUTH,
            _ => failing_key(settings, &e, &CLIENT_KEY_STORE, &CLIENT_TRUST_STORE),
        };
        invalid(settings, key, e.to_string())
    })?;
    Ok(Some(SecureClientConfig {
        address,
        server,
        options,
    }))
}

/// Reads and checks the quorum stores when `ssl.quorum.keyStore.location` is set.
pub(super) fn quorum_stores_from_settings(
    settings: &Settings,
) -> Result<Option<QuorumStores>, ConfigError> {
    let Some(key_store) = store_spec(settings, &QUORUM_KEY_STORE)? else {
        return Ok(None);
    };
    let trust_store = store_spec(settings, &QUORUM_TRUST_STORE)?;
    let check = |e: TlsError| {
        let key = failing_key(settings, &e, &QUORUM_KEY_STORE, &QUORUM_TRUST_STORE);
        invalid(settings, key, e.to_string())
    };
    store::load_key_store(&key_store).map_err(check)?;
    if let Some(trust) = &trust_store {
        store::load_trust_store(trust).map_err(check)?;
    }
    Ok(Some(QuorumStores {
        key_store,
        trust_store,
    }))
}

/// Mutual TLS between members when `sslQuorum=true`: both quorum stores are required (a
/// member presents its certificate and verifies its peers'), and `ssl.quorum.protocol`,
/// `enabledProtocols`, `ciphersuites` and `hostnameVerification` (default true) apply.
pub(super) fn quorum_tls_from_settings(
    settings: &Settings,
    stores: Option<&QuorumStores>,
    warnings: &mut Vec<String>,
) -> Result<Option<MutualTls>, ConfigError> {
    if settings.boolean(SSL_QUORUM)? != Some(true) {
        return Ok(None);
    }
    let missing = |key: &str, what: &str| ConfigError::Inconsistent {
        reason: format!("sslQuorum=true needs {key}: {what}"),
        origin: settings.origin_of(SSL_QUORUM),
    };
    let stores = stores.ok_or_else(|| {
        missing(
            QUORUM_KEY_STORE_LOCATION,
            "the member's private key and certificate, presented to its peers",
        )
    })?;
    let trust_store = stores.trust_store.clone().ok_or_else(|| {
        missing(
            QUORUM_TRUST_STORE_LOCATION,
            "the CA certificates the peers' certificates are verified against",
        )
    })?;
    let options = TlsOptions {
        key_store: stores.key_store.clone(),
        trust_store: Some(trust_store),
        client_auth: ClientAuth::Need,
        versions: versions(settings, QUORUM_PROTOCOL, QUORUM_ENABLED_PROTOCOLS)?,
        cipher_suites: cipher_suites(settings, QUORUM_CIPHER_SUITES),
    };
    let hostname_verification = settings
        .boolean(QUORUM_HOSTNAME_VERIFICATION)?
        .unwrap_or(true);
    MutualTls::build(&options, hostname_verification, warnings)
        .map(Some)
        .map_err(|e| {
            let key = match &e {
                TlsError::NoCipherSuite(_) => QUORUM_CIPHER_SUITES,
                _ => failing_key(settings, &e, &QUORUM_KEY_STORE, &QUORUM_TRUST_STORE),
            };
            invalid(settings, key, e.to_string())
        })
}

/// The key to blame for a store that failed to load: its password key for a wrong
/// password, else its location.
fn failing_key(
    settings: &Settings,
    e: &TlsError,
    key_store: &StoreKeys,
    trust_store: &StoreKeys,
) -> &'static str {
    let what = match e {
        TlsError::NoTrustedCertificate(_) | TlsError::BadTrustedCertificate { .. } => {
            StoreRole::Trust.what()
        }
        TlsError::Read { what, .. }
        | TlsError::BadStore { what, .. }
        | TlsError::WrongPassword { what, .. }
        | TlsError::NoPassword { what, .. }
        | TlsError::BadPem { what, .. } => what,
        _ => StoreRole::Key.what(),
    };
    let keys = if what == trust_store.role.what() {
        trust_store
    } else {
        key_store
    };
    match e {
        TlsError::WrongPassword { .. } if settings.get(keys.password_path).is_some() => {
            keys.password_path
        }
        TlsError::WrongPassword { .. } if settings.get(keys.password).is_some() => keys.password,
        _ => keys.location,
    }
}

fn invalid(settings: &Settings, key: &str, reason: String) -> ConfigError {
    match settings.get(key) {
        Some(s) => s.invalid(reason),
        None => ConfigError::Inconsistent {
            reason,
            origin: settings.origin_of(keys::SECURE_CLIENT_PORT),
        },
    }
}

/// One store's location, type and password, as Apache's `X509Util` reads them; `None`
/// when its location is unset or empty.
fn store_spec(settings: &Settings, keys: &StoreKeys) -> Result<Option<StoreSpec>, ConfigError> {
    let Some(location) = settings.get(keys.location).filter(|s| !s.value.is_empty()) else {
        return Ok(None);
    };
    let kind = match settings.get(keys.kind).filter(|s| !s.value.is_empty()) {
        Some(s) => StoreType::parse(&s.value)
            .ok_or_else(|| s.invalid("choose JKS, PKCS12 or PEM (or leave it unset to go by the file name)"))?,
        None => StoreType::from_file_name(&location.value).ok_or_else(|| {
            location.invalid(format!(
                "the store type cannot be told from the file name (Apache knows .jks, .p12, .pem and .bcfks): set {} to JKS, PKCS12 or PEM",
                keys.kind
            ))
        })?,
    };
    if kind == StoreType::Bcfks {
        let s = settings.get(keys.kind).unwrap_or(location);
        return Err(s.invalid(
            "BCFKS needs Java's BouncyCastle provider and is not supported; use PKCS12, JKS or PEM",
        ));
    }
    let password = match settings
        .get(keys.password_path)
        .filter(|s| !s.value.is_empty())
    {
        Some(s) => store::read_password_file(std::path::Path::new(&s.value))
            .map_err(|reason| s.invalid(reason))?,
        None => settings
            .get(keys.password)
            .map(|s| s.value.clone())
            .unwrap_or_default(),
    };
    Ok(Some(StoreSpec {
        path: PathBuf::from(&location.value),
        kind,
        password,
    }))
}

fn cipher_suites(settings: &Settings, key: &str) -> Option<Vec<String>> {
    settings.get(key).map(|s| {
        s.value
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
    })
}

/// The versions to offer: `ssl.enabledProtocols` when set, else those `ssl.protocol`
/// allows (Apache's default protocol is TLSv1.3, which also enables TLSv1.2); the quorum
/// keys likewise.
fn versions(
    settings: &Settings,
    protocol_key: &str,
    enabled_key: &str,
) -> Result<Vec<TlsVersion>, ConfigError> {
    // Both keys are looked at, so that the key table's check sees them read.
    let protocol = settings.get(protocol_key);
    if let Some(s) = settings.get(enabled_key) {
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
    match protocol {
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
