//! PEM key and trust stores.
//!
//! A key store holds the certificate chain (leaf first) and one private key, in any
//! order. The key is PKCS#8 (`PRIVATE KEY`), PKCS#8 encrypted (`ENCRYPTED PRIVATE KEY`)
//! with PKCS#12's PBE-SHA1-3DES (which Apache's PemReader on Java 17 reads) or PBES2 (what
//! `openssl pkcs8 -topk8` writes by default, which Java 17 cannot read), or, beyond what
//! Apache reads, PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). A password
//! configured for an unencrypted key is not needed and is ignored, so configurations that
//! always set one (kazoo's harness does) keep working.

use std::path::Path;

use pkcs8::der::Decode;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::pkcs12_pbe::{self, Decrypted};
use super::{contains, KeyAndChain, TlsError};

const ENCRYPTED_BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";

/// Every PEM section of a file, with its kind; sections of other kinds are skipped.
fn sections(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .map(|item| {
            item.map_err(|e| TlsError::BadPem {
                what,
                path: path.to_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

pub fn key_store(path: &Path, bytes: &[u8], password: &str) -> Result<KeyAndChain, TlsError> {
    let mut key = None;
    let mut chain = Vec::new();
    for (kind, der) in sections("key store", path, bytes)? {
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
    let key = match key {
        Some(key) => key,
        None if contains(bytes, ENCRYPTED_BEGIN) => decrypt(path, bytes, password)?,
        None if contains(bytes, b"Proc-Type: 4,ENCRYPTED") => {
            return Err(TlsError::BadStore {
                what: "key store",
                path: path.to_owned(),
                reason: "the key is encrypted in OpenSSL's legacy form, which Apache does not read either; re-encrypt it as PKCS#8: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in <key.pem>`".into(),
            })
        }
        None => return Err(TlsError::NoKey(path.to_owned())),
    };
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok((key, chain))
}

/// Opens the file's `ENCRYPTED PRIVATE KEY` with `password`.
fn decrypt(path: &Path, bytes: &[u8], password: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bad = |reason: String| TlsError::BadStore {
        what: "key store",
        path: path.to_owned(),
        reason,
    };
    let wrong_password = || TlsError::WrongPassword {
        what: "key store",
        path: path.to_owned(),
    };
    // Without a password the key cannot open; `store` turns this into "none configured".
    if password.is_empty() {
        return Err(wrong_password());
    }
    let start = find(bytes, ENCRYPTED_BEGIN).unwrap_or(0);
    let end = find(&bytes[start..], ENCRYPTED_END)
        .map(|at| start + at + ENCRYPTED_END.len())
        .ok_or_else(|| bad("the ENCRYPTED PRIVATE KEY section has no end line".into()))?;
    let (_, der) = pkcs8::der::pem::decode_vec(&bytes[start..end])
        .map_err(|e| bad(format!("unreadable ENCRYPTED PRIVATE KEY section: {e}")))?;
    // PKCS#12's PBE first (what Java reads), then PKCS#5's PBES2 (what OpenSSL 3 writes).
    match pkcs12_pbe::decrypt(&der, password).map_err(bad)? {
        Decrypted::Key(plain) => return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain))),
        Decrypted::WrongPassword => return Err(wrong_password()),
        Decrypted::OtherScheme => {}
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(|e| bad(format!("unreadable encrypted private key: {e}")))?;
    // pkcs5 refuses PBKDF2 iteration counts above 100 million itself, which bounds the
    // start-up time a hostile file can cost.
    let plain = info.decrypt(password).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed)
        | pkcs8::Error::Asn1(_) => wrong_password(),
        other => bad(format!("cannot decrypt the private key: {other}")),
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every certificate of the file; other sections are skipped.
pub fn trust_store(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(sections("trust store", path, bytes)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect())
}
