//! The subject of a client certificate as the text of its `x509` id.
//!
//! Apache's X509AuthenticationProvider names a client by
//! `X509Certificate.getSubjectX500Principal().getName()`, the RFC 2253 form of the subject
//! as Java prints it; ACL entries of scheme `x509` are compared with that text exactly, so
//! ringkeeper must print it byte for byte the same:
//! - relative distinguished names from the last to the first, joined by `,`; the values of
//!   a multi-valued one joined by `+` in their encoded order;
//! - the attribute types RFC 2253 names (CN, C, L, ST, O, OU, STREET, DC, UID) by name, every
//!   other type (emailAddress, serialNumber, ...) as its dotted OID;
//! - a named type with a string value as the string, with `, + < > ; " \` escaped by a
//!   backslash, leading and trailing spaces escaped, and a NUL as `\00`;
//! - a type printed as an OID, or a value that is not a string, as `#` and the lowercase
//!   hex of the value's whole DER encoding (tag, length, content).
//!
//! The certificate is parsed with x509-parser; it was verified by rustls before this runs,
//! but anything malformed is still refused rather than trusted.

use x509_parser::asn1_rs::{Any, Class, FromDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The subject of a DER certificate in Java's RFC 2253 form; `None` if it cannot be read.
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    name_rfc2253(cert.subject())
}

/// A Name in RFC 2253 form: its RDNs from the last to the first.
fn name_rfc2253(name: &X509Name<'_>) -> Option<String> {
    // x509-parser reads a Name whose first RDN is malformed (an empty SET) as no RDNs at
    // all; such a name is refused rather than printed as the empty subject.
    let empty_name = name.as_raw().get(1).is_some_and(|&len| len == 0);
    if name.iter_rdn().next().is_none() && !empty_name {
        return None;
    }
    let mut parts = Vec::new();
    for rdn in name.iter_rdn() {
        let avas = rdn.iter().map(ava_rfc2253).collect::<Option<Vec<_>>>()?;
        if avas.is_empty() {
            return None;
        }
        parts.push(avas.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

/// RFC 2253's attribute type names, as Java uses them.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The text of a string value, `Some(None)` for a value that is not a directory string,
/// `None` for a malformed string.
fn string_value(value: &Any<'_>) -> Option<Option<String>> {
    if value.header.class() != Class::Universal || value.header.is_constructed() {
        return Some(None);
    }
    let c = value.data;
    Some(match value.header.tag().0 {
        // UTF8String
        0x0c => Some(String::from_utf8(c.to_vec()).ok()?),
        // PrintableString, TeletexString, IA5String, GeneralString: one byte a character.
        0x13 | 0x14 | 0x16 | 0x1b => Some(c.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16BE.
        0x1e => {
            if !c.chunks_exact(2).remainder().is_empty() {
                return None;
            }
            let units: Vec<u16> = c
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            Some(String::from_utf16(&units).ok()?)
        }
        // UniversalString: UTF-32BE.
        0x1c => {
            if !c.chunks_exact(4).remainder().is_empty() {
                return None;
            }
            let mut s = String::new();
            for q in c.chunks_exact(4) {
                s.push(char::from_u32(u32::from_be_bytes([
                    q[0], q[1], q[2], q[3],
                ]))?);
            }
            Some(s)
        }
        _ => None,
    })
}

fn ava_rfc2253(ava: &AttributeTypeAndValue<'_>) -> Option<String> {
    // x509-parser accepts an OID whose last arc is cut off (its last byte still says
    // "more follows"); Java refuses such a certificate, so its name is not printed.
    if ava
        .attr_type()
        .as_bytes()
        .last()
        .is_none_or(|b| b & 0x80 != 0)
    {
        return None;
    }
    let oid = ava.attr_type().to_id_string();
    let value = ava.attr_value();
    let text = string_value(value)?;
    match (keyword(&oid), text) {
        (Some(name), Some(text)) => Some(format!("{name}={}", escape(&text))),
        (name, _) => {
            let name = name.map(str::to_owned).unwrap_or(oid);
            let hex: String = der_encoding(value)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Some(format!("{name}=#{hex}"))
        }
    }
}

/// The value's DER encoding (tag, length, content), which Java prints in hex.
fn der_encoding(value: &Any<'_>) -> Option<Vec<u8>> {
    let mut out = value.header.raw_tag()?.to_vec();
    let len = value.data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value.data);
    Some(out)
}

/// RFC 2253 section 2.4 escaping, as Java applies it.
fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lead = chars.iter().take_while(|&&c| c == ' ' || c == '\r').count();
    let trail = chars
        .iter()
        .rev()
        .take_while(|&&c| c == ' ' || c == '\r')
        .count();
    let mut out = String::with_capacity(text.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        let edge = i < lead || i >= chars.len() - trail;
        if edge || ",+<>;\"\\".contains(c) || (i == 0 && c == '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn ava(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut seq = tlv(OID, oid);
        seq.extend(tlv(tag, value));
        tlv(SEQUENCE, &seq)
    }

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;

    /// Parses a Name's content (its RDN sets) with x509-parser and renders it.
    fn render(rdns: &[u8]) -> Option<String> {
        let der = tlv(SEQUENCE, rdns);
        let (_, name) = X509Name::from_der(&der).ok()?;
        name_rfc2253(&name)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn rdns_are_reversed_and_known_types_named() {
        let mut name = tlv(SET, &ava(O, 0x0c, b"Org"));
        name.extend(tlv(SET, &ava(OU, 0x13, b"Unit")));
        name.extend(tlv(SET, &ava(CN, 0x0c, b"client")));
        assert_eq!(render(&name).unwrap(), "CN=client,OU=Unit,O=Org");
    }

    #[test]
    fn special_characters_are_escaped() {
        let name = tlv(SET, &ava(CN, 0x0c, b" a,b+c\"d\\e<f>g;h "));
        assert_eq!(render(&name).unwrap(), r#"CN=\ a\,b\+c\"d\\e\<f\>g\;h\ "#);
        let hash = tlv(SET, &ava(CN, 0x0c, b"#x=y"));
        assert_eq!(render(&hash).unwrap(), r"CN=\#x=y");
    }

    #[test]
    fn unnamed_types_are_oids_with_hex_values_and_multi_valued_rdns_join_with_plus() {
        let mut set = ava(EMAIL, 0x16, b"a@b");
        set.extend(ava(CN, 0x0c, b"x"));
        let name = tlv(SET, &set);
        assert_eq!(
            render(&name).unwrap(),
            "1.2.840.113549.1.9.1=#1603614062+CN=x"
        );
    }

    #[test]
    fn malformed_input_is_refused_not_panicked_on() {
        assert!(subject_rfc2253(&[]).is_none());
        assert!(subject_rfc2253(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(subject_rfc2253(&[0x30, 0x03, 0x30, 0x01]).is_none());
        assert_eq!(render(&tlv(SET, &[])), None);
        let bad_oid = tlv(SET, &ava(&[0x81], 0x0c, b"x"));
        assert!(render(&bad_oid).is_none());
        let bmp_odd = tlv(SET, &ava(CN, 0x1e, &[0x00]));
        assert!(render(&bmp_odd).is_none());
    }
}
