//! Client certificates in X.509 version 1.
//!
//! webpki, rustls's certificate verifier, accepts only version 3 certificates. Version 1
//! certificates (no extensions) are still made by old tooling and by test CAs, kazoo's
//! among them, and Java's TLS accepts them, so a ZooKeeper deployment may rely on them.
//! This module verifies such a certificate when it is issued directly by a trust anchor:
//! the issuer is an anchor's subject, the validity period covers now, and the anchor's key
//! verifies the signature with one of the provider's signature algorithms. Chains through
//! intermediates are not accepted for a v1 leaf (an intermediate would itself need
//! verifying outside webpki). Everything else goes through webpki as before. The certificate
//! is parsed with x509-parser.

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{TrustAnchor, UnixTime};
use x509_parser::asn1_rs::{Any, FromDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Version;

/// A whole DER certificate, with nothing after it.
fn parse(cert: &[u8]) -> Option<X509Certificate<'_>> {
    match X509Certificate::from_der(cert) {
        Ok(([], parsed)) => Some(parsed),
        _ => None,
    }
}

/// The content of the DER element at the front of `input`, and the rest.
fn element(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (rest, any) = Any::from_der(input).ok()?;
    Some((any.data, rest))
}

/// Whether `cert` parses as an X.509 certificate without a version field (version 1).
pub fn is_v1(cert: &[u8]) -> bool {
    parse(cert).is_some_and(|c| c.version() == X509Version::V1)
}

/// The whole SubjectPublicKeyInfo of a certificate, for checking handshake signatures.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    parse(cert).map(|c| c.tbs_certificate.subject_pki.raw)
}

/// Verifies a v1 certificate issued directly by one of `anchors`.
pub fn verify(
    cert: &[u8],
    anchors: &[TrustAnchor<'static>],
    algorithms: &WebPkiSupportedAlgorithms,
    now: UnixTime,
) -> Result<(), &'static str> {
    let c = parse(cert).ok_or("malformed certificate")?;
    if c.version() != X509Version::V1 {
        return Err("not a version 1 certificate");
    }
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = c.validity();
    if now < validity.not_before.timestamp() {
        return Err("certificate not valid yet");
    }
    if now > validity.not_after.timestamp() {
        return Err("certificate expired");
    }
    // webpki's anchors and algorithm ids are the contents of their DER SEQUENCEs, so the
    // certificate's parts are compared in that form.
    let (issuer, _) = element(c.issuer().as_raw()).ok_or("malformed issuer")?;
    let (_tbs, rest) = element(cert)
        .and_then(|(body, _)| element(body))
        .ok_or("malformed certificate")?;
    let (signature_alg, _) = element(rest).ok_or("malformed signature algorithm")?;
    let tbs = c.tbs_certificate.as_ref();
    let signature = c.signature_value.data.as_ref();
    for anchor in anchors.iter().filter(|a| a.subject.as_ref() == issuer) {
        // The anchor's key: its SubjectPublicKeyInfo content is the algorithm, then the key.
        let Some((key_alg, rest)) = element(anchor.subject_public_key_info.as_ref()) else {
            continue;
        };
        let Some(key) = element(rest).and_then(|(bits, _)| bits.get(1..)) else {
            continue;
        };
        let verified = algorithms.all.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == signature_alg
                && alg.public_key_alg_id().as_ref() == key_alg
                && alg.verify_signature(key, tbs, signature).is_ok()
        });
        if verified {
            return Ok(());
        }
    }
    Err("not issued by a trusted certificate authority")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(!is_v1(b""));
        assert!(!is_v1(&[0x30, 0x03, 0x02, 0x01, 0x00]));
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..2000 {
            let len = (seed % 90) as usize;
            let mut buf = vec![0x30, len as u8];
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(seed as u8);
            }
            let _ = is_v1(&buf);
            let _ = spki(&buf);
        }
    }
}
