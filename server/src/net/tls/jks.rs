//! Java's JKS key store format (Sun's `JavaKeyStore` and `KeyProtector`), read only.
//!
//! No maintained crate reads JKS (p12-keystore reads PKCS#12 only), and the format is
//! small and frozen since Java 1.2, so it is read here:
//!
//! ```text
//! u32 magic 0xFEEDFEED, u32 version (1 or 2), u32 entry count, then each entry:
//!   u32 tag: 1 = private key, 2 = trusted certificate
//!   UTF alias (u16 length, modified UTF-8), u64 creation time in ms
//!   tag 1: u32 length + EncryptedPrivateKeyInfo, u32 certificate count, certificates
//!   tag 2: one certificate
//!   a certificate: (version 2 only) UTF type, "X.509"; u32 length + DER
//! 20 bytes SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte before)
//! ```
//!
//! A private key is protected by `KeyProtector` (algorithm 1.3.6.1.4.1.42.2.17.1.1): the
//! encrypted data is a 20-byte salt, the key XORed with the stream SHA-1(pw || salt),
//! SHA-1(pw || previous block), ..., and SHA-1(pw || plain key) as a check. Every length is
//! checked against the bytes left, so a damaged file is refused, never over-read.

use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};

use super::{KeyAndChain, TlsError};

const MAGIC: u32 = 0xfeed_feed;
const TAG_PRIVATE_KEY: u32 = 1;
const TAG_TRUSTED_CERT: u32 = 2;
const DIGEST_BYTES: usize = 20;
const INTEGRITY_SALT: &[u8] = b"Mighty Aphrodite";
/// Sun's JKS key protection algorithm.
const KEY_PROTECTOR_OID: &str = "1.3.6.1.4.1.42.2.17.1.1";

/// One entry of a JKS store.
enum Entry {
    Key {
        protected: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    Trusted(Vec<u8>),
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err("truncated".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn blob(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    fn certificate(&mut self, version: u32) -> Result<Vec<u8>, String> {
        if version == 2 {
            let n = self.u16()?;
            let kind = self.take(n)?;
            if kind != b"X.509" {
                return Err(format!(
                    "certificate of type {:?}; only X.509 is supported",
                    String::from_utf8_lossy(kind)
                ));
            }
        }
        self.blob()
    }
}

/// Java's password bytes for JKS: each UTF-16 unit, big-endian.
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Checks the integrity digest with `password` and parses the entries.
fn parse(bytes: &[u8], password: &str) -> Result<Vec<Entry>, ParseError> {
    let Some(body_len) = bytes.len().checked_sub(DIGEST_BYTES) else {
        return Err(ParseError::Damaged("shorter than its digest".into()));
    };
    let (body, digest) = bytes.split_at(body_len);
    let mut cursor = Cursor { bytes: body };
    let header = (|| Ok::<_, String>((cursor.u32()?, cursor.u32()?, cursor.u32()?)))()
        .map_err(ParseError::Damaged)?;
    let (magic, version, count) = header;
    if magic != MAGIC || !(1..=2).contains(&version) {
        return Err(ParseError::Damaged("not a JKS store".into()));
    }
    let mut hash = Sha1::new();
    hash.update(password_bytes(password));
    hash.update(INTEGRITY_SALT);
    hash.update(body);
    if hash.finalize().as_slice() != digest {
        return Err(ParseError::WrongPassword);
    }
    let mut entries = Vec::new();
    for _ in 0..count {
        let entry = (|| {
            let tag = cursor.u32()?;
            let alias_len = cursor.u16()?;
            cursor.take(alias_len)?;
            cursor.take(8)?;
            match tag {
                TAG_PRIVATE_KEY => {
                    let protected = cursor.blob()?;
                    let certs = cursor.u32()?;
                    let mut chain = Vec::new();
                    for _ in 0..certs {
                        chain.push(cursor.certificate(version)?);
                    }
                    Ok(Entry::Key { protected, chain })
                }
                TAG_TRUSTED_CERT => Ok(Entry::Trusted(cursor.certificate(version)?)),
                other => Err(format!(
                    "entry of kind {other} (a secret key?); JKS holds only keys and certificates"
                )),
            }
        })()
        .map_err(ParseError::Damaged)?;
        entries.push(entry);
    }
    if !cursor.bytes.is_empty() {
        return Err(ParseError::Damaged("bytes after the last entry".into()));
    }
    Ok(entries)
}

enum ParseError {
    WrongPassword,
    Damaged(String),
}

fn open(
    what: &'static str,
    path: &Path,
    bytes: &[u8],
    password: &str,
) -> Result<Vec<Entry>, TlsError> {
    parse(bytes, password).map_err(|e| match e {
        ParseError::WrongPassword => TlsError::WrongPassword {
            what,
            path: path.to_owned(),
        },
        ParseError::Damaged(reason) => TlsError::BadStore {
            what,
            path: path.to_owned(),
            reason: format!("damaged JKS store: {reason}"),
        },
    })
}

/// Reverses `KeyProtector`: the PKCS#8 key, or `None` if `password` does not open it.
fn recover_key(protected: &[u8], password: &str) -> Result<Option<Vec<u8>>, String> {
    // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::der::parse_der;
    let (_, info) = parse_der(protected).map_err(|_| "unreadable protected key")?;
    let parts = info.as_sequence().map_err(|_| "unreadable protected key")?;
    let [algorithm, data] = parts.as_slice() else {
        return Err("unreadable protected key".into());
    };
    let oid = algorithm
        .as_sequence()
        .ok()
        .and_then(|a| a.first())
        .and_then(|o| o.as_oid().ok())
        .map(|o| o.to_id_string());
    if oid.as_deref() != Some(KEY_PROTECTOR_OID) {
        return Err("the key is protected by an algorithm other than JKS's".into());
    }
    let BerObjectContent::OctetString(data) = data.content else {
        return Err("unreadable protected key".into());
    };
    if data.len() < 2 * DIGEST_BYTES {
        return Err("protected key too short".into());
    }
    let (salt, rest) = data.split_at(DIGEST_BYTES);
    let (encrypted, check) = rest.split_at(rest.len() - DIGEST_BYTES);
    let pw = password_bytes(password);
    let plain = xor_keystream(&pw, salt, encrypted);
    let computed = Sha1::new()
        .chain_update(&pw)
        .chain_update(&plain)
        .finalize();
    Ok((computed.as_slice() == check).then_some(plain))
}

/// `data` XORed with KeyProtector's stream SHA-1(pw || salt), SHA-1(pw || that), ...;
/// the same operation protects and recovers a key.
fn xor_keystream(pw: &[u8], salt: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = salt.to_vec();
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(DIGEST_BYTES) {
        block = Sha1::new()
            .chain_update(pw)
            .chain_update(&block)
            .finalize()
            .to_vec();
        out.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
    }
    out
}

/// The first private key entry, opened with the store password (as Apache does).
pub fn key_store(path: &Path, bytes: &[u8], password: &str) -> Result<KeyAndChain, TlsError> {
    let what = "key store";
    for entry in open(what, path, bytes, password)? {
        let Entry::Key { protected, chain } = entry else {
            continue;
        };
        let key = recover_key(&protected, password)
            .map_err(|reason| TlsError::BadStore {
                what,
                path: path.to_owned(),
                reason,
            })?
            .ok_or_else(|| TlsError::BadStore {
                what,
                path: path.to_owned(),
                reason: "the store password does not open its private key; Apache opens the key with the store password too, so give both the same password (keytool -keypasswd)".into(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(path.to_owned()));
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
        return Ok((key, chain.into_iter().map(CertificateDer::from).collect()));
    }
    Err(TlsError::NoKey(path.to_owned()))
}

/// Every trusted certificate entry (Java's trust managers use only those).
pub fn trust_store(
    path: &Path,
    bytes: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(open("trust store", path, bytes, password)?
        .into_iter()
        .filter_map(|e| match e {
            Entry::Trusted(der) => Some(CertificateDer::from(der)),
            Entry::Key { .. } => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JKS store with one trusted certificate entry, as `JavaKeyStore.engineStore`
    /// writes it.
    fn store(password: &str, cert: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(MAGIC.to_be_bytes());
        b.extend(2u32.to_be_bytes());
        b.extend(1u32.to_be_bytes());
        b.extend(TAG_TRUSTED_CERT.to_be_bytes());
        b.extend(2u16.to_be_bytes());
        b.extend(b"ca");
        b.extend(0u64.to_be_bytes());
        b.extend(5u16.to_be_bytes());
        b.extend(b"X.509");
        b.extend((cert.len() as u32).to_be_bytes());
        b.extend(cert);
        let digest = Sha1::new()
            .chain_update(password_bytes(password))
            .chain_update(INTEGRITY_SALT)
            .chain_update(&b)
            .finalize();
        b.extend(digest);
        b
    }

    #[test]
    fn trusted_entries_are_read_and_the_digest_checks_the_password() {
        let bytes = store("pässword", b"DER");
        let certs = trust_store(Path::new("t.jks"), &bytes, "pässword").unwrap();
        assert_eq!(certs, vec![CertificateDer::from(b"DER".to_vec())]);
        let e = trust_store(Path::new("t.jks"), &bytes, "other").unwrap_err();
        assert!(matches!(e, TlsError::WrongPassword { .. }), "{e}");
    }

    #[test]
    fn every_truncation_and_a_flipped_count_is_refused_without_panic() {
        let bytes = store("pw", b"0123456789");
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len], "pw").is_err(), "length {len}");
        }
        let mut big = bytes.clone();
        big[11] = 0xff;
        assert!(parse(&big, "pw").is_err());
    }

    #[test]
    fn key_protection_round_trips_and_refuses_another_password() {
        // Protect a key as KeyProtector.protect does, then recover it.
        let plain: Vec<u8> = (0u8..45).collect();
        let pw = password_bytes("secret");
        let salt = [7u8; DIGEST_BYTES];
        let encrypted = xor_keystream(&pw, &salt, &plain);
        let check = Sha1::new()
            .chain_update(&pw)
            .chain_update(&plain)
            .finalize();
        let mut data = salt.to_vec();
        data.extend(encrypted);
        data.extend(check);
        const OID_DER: &[u8] = &[
            0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01,
        ];
        let mut alg = vec![0x30, (OID_DER.len() + 2) as u8];
        alg.extend(OID_DER);
        alg.extend([0x05, 0x00]);
        let mut octets = vec![0x04, data.len() as u8];
        octets.extend(&data);
        let mut info = vec![0x30, (alg.len() + octets.len()) as u8];
        info.extend(alg);
        info.extend(octets);
        assert_eq!(recover_key(&info, "secret").unwrap(), Some(plain));
        assert_eq!(recover_key(&info, "Secret").unwrap(), None);
        assert!(recover_key(&info[..10], "secret").is_err());
    }
}
