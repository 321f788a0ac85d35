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
//! Only the subject is read; the certificate was verified by rustls before this runs, but
//! the parser still refuses anything malformed rather than trust it.

/// A DER element: its tag, its content and the whole encoding.
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) content: &'a [u8],
    pub(super) whole: &'a [u8],
}

/// Reads one DER element from the front of `input`, returning it and the rest.
pub(super) fn next_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        // High tag numbers do not occur in a certificate's subject.
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((
        Tlv {
            tag,
            content: &whole[header..],
            whole,
        },
        &input[end..],
    ))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The subject of a DER certificate in Java's RFC 2253 form; `None` if it cannot be read.
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    let (cert, _) = next_tlv(cert_der)?;
    if cert.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = next_tlv(cert.content)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs.content;
    // [0] EXPLICIT version, present in v2 and v3 certificates.
    if rest.first() == Some(&0xa0) {
        rest = next_tlv(rest)?.1;
    }
    // serialNumber, signature, issuer, validity, then the subject.
    for _ in 0..4 {
        rest = next_tlv(rest)?.1;
    }
    let (subject, _) = next_tlv(rest)?;
    if subject.tag != SEQUENCE {
        return None;
    }
    name_rfc2253(subject.content)
}

/// A Name's RDN sequence (the content of the SEQUENCE) in RFC 2253 form.
fn name_rfc2253(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (rdn, rest) = next_tlv(rdns)?;
        rdns = rest;
        if rdn.tag != SET {
            return None;
        }
        let mut avas = Vec::new();
        let mut items = rdn.content;
        while !items.is_empty() {
            let (ava, rest) = next_tlv(items)?;
            items = rest;
            if ava.tag != SEQUENCE {
                return None;
            }
            let (oid, rest) = next_tlv(ava.content)?;
            let (value, _) = next_tlv(rest)?;
            if oid.tag != OID {
                return None;
            }
            avas.push(ava_rfc2253(&oid_text(oid.content)?, &value)?);
        }
        if avas.is_empty() {
            return None;
        }
        parts.push(avas.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

/// The dotted form of an OID's content octets.
fn oid_text(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut in_arc = false;
    for &b in content {
        if acc > (u64::MAX >> 7) {
            return None;
        }
        acc = (acc << 7) | (b & 0x7f) as u64;
        in_arc = true;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
            in_arc = false;
        }
    }
    if in_arc || arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
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

/// The text of a string value, or `None` for a type that is not a directory string.
fn string_value(value: &Tlv<'_>) -> Option<Option<String>> {
    let c = value.content;
    Some(match value.tag {
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

fn ava_rfc2253(oid: &str, value: &Tlv<'_>) -> Option<String> {
    let text = string_value(value)?;
    match (keyword(oid), text) {
        (Some(name), Some(text)) => Some(format!("{name}={}", escape(&text))),
        (name, _) => {
            let name = name.map(str::to_owned).unwrap_or_else(|| oid.to_owned());
            let hex: String = value.whole.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("{name}=#{hex}"))
        }
    }
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

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn rdns_are_reversed_and_known_types_named() {
        let mut name = tlv(SET, &ava(O, 0x0c, b"Org"));
        name.extend(tlv(SET, &ava(OU, 0x13, b"Unit")));
        name.extend(tlv(SET, &ava(CN, 0x0c, b"client")));
        assert_eq!(name_rfc2253(&name).unwrap(), "CN=client,OU=Unit,O=Org");
    }

    #[test]
    fn special_characters_are_escaped() {
        let name = tlv(SET, &ava(CN, 0x0c, b" a,b+c\"d\\e<f>g;h "));
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            r#"CN=\ a\,b\+c\"d\\e\<f\>g\;h\ "#
        );
        let hash = tlv(SET, &ava(CN, 0x0c, b"#x=y"));
        assert_eq!(name_rfc2253(&hash).unwrap(), r"CN=\#x=y");
    }

    #[test]
    fn unnamed_types_are_oids_with_hex_values_and_multi_valued_rdns_join_with_plus() {
        let mut set = ava(EMAIL, 0x16, b"a@b");
        set.extend(ava(CN, 0x0c, b"x"));
        let name = tlv(SET, &set);
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            "1.2.840.113549.1.9.1=#1603614062+CN=x"
        );
    }

    #[test]
    fn malformed_input_is_refused_not_panicked_on() {
        assert!(subject_rfc2253(&[]).is_none());
        assert!(subject_rfc2253(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(subject_rfc2253(&[0x30, 0x03, 0x30, 0x01]).is_none());
        assert!(name_rfc2253(&tlv(SET, &[])).is_none());
        assert!(oid_text(&[0x81]).is_none());
        let bmp_odd = tlv(SET, &ava(CN, 0x1e, &[0x00]));
        assert!(name_rfc2253(&bmp_odd).is_none());
    }
}
