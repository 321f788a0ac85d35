//! Key and trust stores as Apache ZooKeeper reads them (`X509Util`, `KeyStoreFileType`,
//! `FileKeyStoreLoader` and its JKS, PKCS12 and PEM loaders), shared by the secure client
//! port and the quorum stores (`ssl.*` and `ssl.quorum.*`).
//!
//! - The type is `ssl.keyStore.type` when set (JKS, PEM, PKCS12 or BCFKS, any case), else
//!   the file name's last extension, case-sensitive: `.jks`, `.pem`, `.p12`, `.bcfks`;
//!   any other name is refused, as Apache refuses it.
//! - The password is the content of `...passwordPath` when set (one trailing newline
//!   removed), else `...password`, else empty.
//! - JKS and PKCS12 are read by content, whichever of the two is named: Java's JKS and
//!   PKCS12 key stores each load the other's format (`keystore.type.compat`). The store
//!   password also opens the private key, as Apache's `KeyManagerFactory.init` uses it.
//! - A PEM key store holds the certificate chain and a private key, encrypted (PKCS#8
//!   `ENCRYPTED PRIVATE KEY`, opened with the password) or not; a PEM trust store ignores
//!   its password.
//! - BCFKS needs the BouncyCastle provider in Java and is refused here.

use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{contains, jks, pem, TlsError};

/// The largest store file read, in bytes: real stores are a few kilobytes, and a store is
/// read whole into memory at start-up.
pub const STORE_BYTES_MAX: u64 = 4 << 20;

/// A store file's format (`ssl.keyStore.type`, Apache's `KeyStoreFileType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreType {
    Jks,
    Pem,
    Pkcs12,
    Bcfks,
}

impl StoreType {
    /// Apache's `KeyStoreFileType.fromPropertyValue`: the enum name, any case.
    pub fn parse(value: &str) -> Option<StoreType> {
        match value.to_ascii_uppercase().as_str() {
            "JKS" => Some(StoreType::Jks),
            "PEM" => Some(StoreType::Pem),
            "PKCS12" => Some(StoreType::Pkcs12),
            "BCFKS" => Some(StoreType::Bcfks),
            _ => None,
        }
    }

    /// Apache's `KeyStoreFileType.fromFilename`: the text from the last `.` on, compared
    /// exactly (so `.P12` or `.pfx` is not recognised).
    pub fn from_file_name(location: &str) -> Option<StoreType> {
        let extension = &location[location.rfind('.')?..];
        match extension {
            ".jks" => Some(StoreType::Jks),
            ".pem" => Some(StoreType::Pem),
            ".p12" => Some(StoreType::Pkcs12),
            ".bcfks" => Some(StoreType::Bcfks),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StoreType::Jks => "JKS",
            StoreType::Pem => "PEM",
            StoreType::Pkcs12 => "PKCS12",
            StoreType::Bcfks => "BCFKS",
        }
    }
}

/// Whether a store holds the server's own key or the certificates it trusts; named in
/// every message about the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreRole {
    Key,
    Trust,
}

impl StoreRole {
    pub fn what(self) -> &'static str {
        match self {
            StoreRole::Key => "key store",
            StoreRole::Trust => "trust store",
        }
    }
}

/// One configured store: where it is, its format and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub path: PathBuf,
    pub kind: StoreType,
    /// Empty when none is configured, as in Apache.
    pub password: String,
}

impl std::fmt::Debug for StoreSpec {
    // The password stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSpec")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("password_set", &!self.password.is_empty())
            .finish()
    }
}

pub use super::KeyAndChain;

/// Reads a password file as Apache's `SecretUtils.readSecret`: the whole file as UTF-8,
/// less one trailing line separator.
pub fn read_password_file(path: &Path) -> Result<String, String> {
    let bytes = read_capped(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(STORE_BYTES_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STORE_BYTES_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {STORE_BYTES_MAX} bytes; not a key or trust store"
        )));
    }
    Ok(bytes)
}

fn read_store(spec: &StoreSpec, role: StoreRole) -> Result<Vec<u8>, TlsError> {
    read_capped(&spec.path).map_err(|source| TlsError::Read {
        what: role.what(),
        path: spec.path.clone(),
        source,
    })
}

/// A binary Java store's format, by content; `None` for anything else (PEM text).
fn java_format(bytes: &[u8]) -> Option<StoreType> {
    match bytes.get(..4)? {
        [0xfe, 0xed, 0xfe, 0xed] => Some(StoreType::Jks),
        // A DER SEQUENCE at the very start; PEM text never starts with 0x30 0x80+.
        [0x30, 0x80..=0x84, ..] => Some(StoreType::Pkcs12),
        _ => None,
    }
}

/// Refuses a store whose content does not match its configured type, naming both.
fn check_content(spec: &StoreSpec, role: StoreRole, bytes: &[u8]) -> Result<(), TlsError> {
    let content = java_format(bytes);
    let fits = match spec.kind {
        StoreType::Pem => content.is_none(),
        StoreType::Jks | StoreType::Pkcs12 => content.is_some(),
        StoreType::Bcfks => {
            return Err(TlsError::BadStore {
                what: role.what(),
                path: spec.path.clone(),
                reason: "type BCFKS needs Java's BouncyCastle provider and is not supported; use PKCS12, JKS or PEM".into(),
            })
        }
    };
    if fits {
        return Ok(());
    }
    let found = if bytes.starts_with(&[0xce, 0xce, 0xce, 0xce]) {
        "a JCEKS store, which Apache does not read either"
    } else {
        match content {
            Some(StoreType::Jks) => "a JKS store",
            Some(_) => "a binary (PKCS12 or DER) store",
            None if bytes.starts_with(b"-----BEGIN") || contains(bytes, b"\n-----BEGIN ") => {
                "a PEM file"
            }
            None => "neither PEM, JKS nor PKCS12",
        }
    };
    Err(TlsError::BadStore {
        what: role.what(),
        path: spec.path.clone(),
        reason: format!(
            "its type is {} but the file is {found}; set the store's type key to match",
            spec.kind.name()
        ),
    })
}

/// The key store: one private key and its certificate chain.
pub fn load_key_store(spec: &StoreSpec) -> Result<KeyAndChain, TlsError> {
    let bytes = read_store(spec, StoreRole::Key)?;
    check_content(spec, StoreRole::Key, &bytes)?;
    match java_format(&bytes) {
        None => pem::key_store(&spec.path, &bytes, &spec.password),
        Some(StoreType::Jks) => jks::key_store(&spec.path, &bytes, &spec.password),
        Some(_) => pkcs12_key_store(spec, &bytes),
    }
    .map_err(|e| no_password(spec, e))
}

/// The trust store: the CA certificates client certificates are checked against.
pub fn load_trust_store(spec: &StoreSpec) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_store(spec, StoreRole::Trust)?;
    check_content(spec, StoreRole::Trust, &bytes)?;
    let certs = match java_format(&bytes) {
        None => pem::trust_store(&spec.path, &bytes),
        Some(StoreType::Jks) => jks::trust_store(&spec.path, &bytes, &spec.password),
        Some(_) => pkcs12_trust_store(spec, &bytes),
    }
    .map_err(|e| no_password(spec, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoTrustedCertificate(spec.path.clone()));
    }
    Ok(certs)
}

/// A wrong password when none was configured says so: the likely fix is a missing key.
fn no_password(spec: &StoreSpec, e: TlsError) -> TlsError {
    match e {
        TlsError::WrongPassword { what, path } if spec.password.is_empty() => {
            TlsError::NoPassword { what, path }
        }
        other => other,
    }
}

fn open_pkcs12(
    spec: &StoreSpec,
    role: StoreRole,
    bytes: &[u8],
) -> Result<p12_keystore::KeyStore, TlsError> {
    // Strict keeps what Java keeps: keys with their chains, and certificates marked as
    // trusted (keytool's trustedCertEntry); a lone certificate without that mark is not
    // a trust anchor in Java either.
    p12_keystore::KeyStore::from_pkcs12(
        bytes,
        &spec.password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => TlsError::WrongPassword {
            what: role.what(),
            path: spec.path.clone(),
        },
        other => TlsError::BadStore {
            what: role.what(),
            path: spec.path.clone(),
            reason: format!("unreadable PKCS12 store: {other}"),
        },
    })
}

fn pkcs12_key_store(spec: &StoreSpec, bytes: &[u8]) -> Result<KeyAndChain, TlsError> {
    let store = open_pkcs12(spec, StoreRole::Key, bytes)?;
    let Some((_alias, entry)) = store.private_key_chain() else {
        return Err(TlsError::NoKey(spec.path.clone()));
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().as_der().to_vec()));
    let chain: Vec<CertificateDer<'static>> = entry
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(spec.path.clone()));
    }
    Ok((key, chain))
}

fn pkcs12_trust_store(
    spec: &StoreSpec,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let store = open_pkcs12(spec, StoreRole::Trust, bytes)?;
    Ok(store
        .entries()
        .filter_map(|(_, entry)| match entry {
            p12_keystore::KeyStoreEntry::Certificate(c) => {
                Some(CertificateDer::from(c.as_der().to_vec()))
            }
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_comes_from_the_exact_last_extension_as_in_apache() {
        assert_eq!(StoreType::from_file_name("/a/b.jks"), Some(StoreType::Jks));
        assert_eq!(StoreType::from_file_name("b.pem"), Some(StoreType::Pem));
        assert_eq!(
            StoreType::from_file_name("x.y.p12"),
            Some(StoreType::Pkcs12)
        );
        assert_eq!(StoreType::from_file_name("b.bcfks"), Some(StoreType::Bcfks));
        for other in ["b.pfx", "b.P12", "b.JKS", "b", "b.pem.bak", "/a.pem/b"] {
            assert_eq!(StoreType::from_file_name(other), None, "{other}");
        }
        assert_eq!(StoreType::parse("pkcs12"), Some(StoreType::Pkcs12));
        assert_eq!(StoreType::parse("Jks"), Some(StoreType::Jks));
        assert_eq!(StoreType::parse("JCEKS"), None);
    }

    /// Damaged stores of every kind are refused with an error, never a panic.
    #[test]
    fn garbage_stores_are_refused_without_panic() {
        let dir = std::env::temp_dir().join(format!("rk-garbage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let heads: [&[u8]; 4] = [
            &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2],
            &[0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03],
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB",
            b"-----BEGIN CERTIFICATE-----\nMIIB",
        ];
        for round in 0..400 {
            let head = heads[round % heads.len()];
            let mut bytes = head.to_vec();
            for _ in 0..(seed % 300) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            let path = dir.join(format!("store-{round}"));
            std::fs::write(&path, &bytes).unwrap();
            let kind = if head[0] == b'-' {
                StoreType::Pem
            } else {
                StoreType::Pkcs12
            };
            let spec = StoreSpec {
                path,
                kind,
                password: "pw".into(),
            };
            assert!(load_key_store(&spec).is_err(), "round {round}");
            assert!(load_trust_store(&spec).is_err(), "round {round}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn password_files_lose_one_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("rk-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "secret\n\n").unwrap();
        assert_eq!(read_password_file(&file).unwrap(), "secret\n");
        std::fs::write(&file, " secret ").unwrap();
        assert_eq!(read_password_file(&file).unwrap(), " secret ");
        assert!(read_password_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
