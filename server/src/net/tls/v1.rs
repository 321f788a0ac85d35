//! Client certificates in X.509 version 1.
//!
//! webpki, rustls's certificate verifier, accepts only version 3 certificates. Version 1
//! certificates (no extensions) are still made by old tooling and by test CAs, kazoo's
//! among them, and Java's TLS accepts them, so a ZooKeeper deployment may rely on them.
//! This module verifies such a certificate when it is issued directly by a trust anchor:
//! the issuer is an anchor's subject, the validity period covers now, and the anchor's key
//! verifies the signature with one of the provider's signature algorithms. Chains through
//! intermediates are not accepted for a v1 leaf (an intermediate would itself need
//! verifying outside webpki). Everything else goes through webpki as before.

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{TrustAnchor, UnixTime};

use super::dn::{next_tlv, Tlv};

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;

/// The parts of a certificate the v1 check reads.
struct Parts<'a> {
    tbs: &'a [u8],
    signature_alg: &'a [u8],
    signature: &'a [u8],
    version_present: bool,
    issuer: &'a [u8],
    not_before: u64,
    not_after: u64,
    spki: &'a [u8],
}

fn expect<'a>(tlv: Option<(Tlv<'a>, &'a [u8])>, tag: u8) -> Option<(Tlv<'a>, &'a [u8])> {
    tlv.filter(|(t, _)| t.tag == tag)
}

fn parse(cert: &[u8]) -> Option<Parts<'_>> {
    let (outer, trailing) = expect(next_tlv(cert), SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (tbs, rest) = expect(next_tlv(outer.content), SEQUENCE)?;
    let (alg, rest) = expect(next_tlv(rest), SEQUENCE)?;
    let (sig, rest) = expect(next_tlv(rest), BIT_STRING)?;
    if !rest.is_empty() || sig.content.first() != Some(&0) {
        return None;
    }
    let mut fields = tbs.content;
    let version_present = fields.first() == Some(&VERSION_TAG);
    if version_present {
        fields = next_tlv(fields)?.1;
    }
    let (_serial, fields) = next_tlv(fields)?;
    let (_inner_alg, fields) = expect(next_tlv(fields), SEQUENCE)?;
    let (issuer, fields) = expect(next_tlv(fields), SEQUENCE)?;
    let (validity, fields) = expect(next_tlv(fields), SEQUENCE)?;
    let (_subject, fields) = expect(next_tlv(fields), SEQUENCE)?;
    let (spki, _) = expect(next_tlv(fields), SEQUENCE)?;
    let (before, rest) = next_tlv(validity.content)?;
    let (after, _) = next_tlv(rest)?;
    Some(Parts {
        tbs: tbs.whole,
        signature_alg: alg.content,
        signature: &sig.content[1..],
        version_present,
        issuer: issuer.content,
        not_before: time(&before)?,
        not_after: time(&after)?,
        spki: spki.whole,
    })
}

/// Whether `cert` parses as an X.509 certificate without a version field (version 1).
pub fn is_v1(cert: &[u8]) -> bool {
    parse(cert).is_some_and(|p| !p.version_present)
}

/// The whole SubjectPublicKeyInfo of a certificate, for checking handshake signatures.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    parse(cert).map(|p| p.spki)
}

/// Verifies a v1 certificate issued directly by one of `anchors`.
pub fn verify(
    cert: &[u8],
    anchors: &[TrustAnchor<'static>],
    algorithms: &WebPkiSupportedAlgorithms,
    now: UnixTime,
) -> Result<(), &'static str> {
    let p = parse(cert).ok_or("malformed certificate")?;
    if p.version_present {
        return Err("not a version 1 certificate");
    }
    let now = now.as_secs();
    if now < p.not_before {
        return Err("certificate not valid yet");
    }
    if now > p.not_after {
        return Err("certificate expired");
    }
    for anchor in anchors.iter().filter(|a| a.subject.as_ref() == p.issuer) {
        // The anchor's key: its SubjectPublicKeyInfo content is the algorithm, then the key.
        let Some((key_alg, rest)) =
            expect(next_tlv(anchor.subject_public_key_info.as_ref()), SEQUENCE)
        else {
            continue;
        };
        let Some((key, _)) = expect(next_tlv(rest), BIT_STRING) else {
            continue;
        };
        let Some(key) = key.content.get(1..) else {
            continue;
        };
        let verified = algorithms.all.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == p.signature_alg
                && alg.public_key_alg_id().as_ref() == key_alg.content
                && alg.verify_signature(key, p.tbs, p.signature).is_ok()
        });
        if verified {
            return Ok(());
        }
    }
    Err("not issued by a trusted certificate authority")
}

/// Seconds since the Unix epoch of a UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), the forms RFC 5280 allows in certificates.
fn time(t: &Tlv<'_>) -> Option<u64> {
    let text = std::str::from_utf8(t.content).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |s: &str| s.parse::<u64>().ok();
    let (year, rest) = match (t.tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = n(&digits[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (n(&digits[..4])?, &digits[4..]),
        _ => return None,
    };
    let (month, day) = (n(&rest[..2])?, n(&rest[2..4])?);
    let (hour, minute, second) = (n(&rest[4..6])?, n(&rest[6..8])?, n(&rest[8..10])?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }

    #[test]
    fn certificate_times_convert_to_unix_seconds() {
        let utc = tlv(UTC_TIME, b"700101000000Z");
        let (t, _) = next_tlv(&utc).unwrap();
        assert_eq!(time(&t), Some(0));
        let utc = tlv(UTC_TIME, b"261122043000Z");
        let (t, _) = next_tlv(&utc).unwrap();
        assert_eq!(time(&t), Some(1_795_321_800));
        let gen = tlv(GENERALIZED_TIME, b"20500301120000Z");
        let (t, _) = next_tlv(&gen).unwrap();
        assert_eq!(time(&t), Some(2_529_748_800));
        for bad in [
            &b"2611220430Z"[..],
            b"261322043000Z",
            b"26112204300aZ",
            b"261122043000",
        ] {
            let v = tlv(UTC_TIME, bad);
            let (t, _) = next_tlv(&v).unwrap();
            assert_eq!(time(&t), None, "{}", String::from_utf8_lossy(bad));
        }
    }

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
