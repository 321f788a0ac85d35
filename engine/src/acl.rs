//! Access control: permission checks, ACL clean-up on create/setACL, and digest ids.
//!
//! The rules are those of an Apache ZooKeeper server with its default authentication
//! providers (`ip` and `digest`): `ZooKeeperServer.checkACL`,
//! `PrepRequestProcessor.fixupACL`, `DigestAuthenticationProvider` and
//! `IPAuthenticationProvider`.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::types::{Acl, ErrorCode, Id};

/// The scheme whose ids bypass every ACL (added to a session that authenticated with the
/// configured super digest).
pub const SUPER_SCHEME: &str = "super";

/// The scheme of a client named by its TLS certificate's subject (Apache's
/// X509AuthenticationProvider): the id is the subject in Java's RFC 2253 form.
pub const X509_SCHEME: &str = "x509";

/// Whether a session authenticated as `ids` holds `perm` on a node guarded by `acl`.
///
/// An empty ACL grants everything, as in Apache (only the initial nodes can have one).
/// Any id of scheme `super` bypasses the check; Apache looks at the scheme only.
pub fn check_perm(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|id| id.scheme == SUPER_SCHEME) {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        ids.iter()
            .filter(|auth| auth.scheme == a.id.scheme)
            .any(|auth| matches(&a.id.scheme, &auth.id, &a.id.id))
    })
}

/// One provider's `matches(id, aclExpr)`: the `ip` provider matches addresses and networks;
/// `digest` and `x509` compare ids for equality.
///
/// Apache's x509 provider also lets the configured x509 super user match every `x509` entry;
/// that user's connection holds a `super` id as well (given at the TLS handshake), which
/// passes every check before this function is reached, so equality is all that is left.
fn matches(scheme: &str, auth_id: &str, acl_id: &str) -> bool {
    match scheme {
        "ip" => ip_matches(auth_id, acl_id),
        // Apache's SASLAuthenticationProvider: a SASL identity named `super` matches every
        // `sasl` ACL entry.
        "sasl" => auth_id == acl_id || auth_id == "super",
        _ => auth_id == acl_id,
    }
}

/// Apache's `DigestAuthenticationProvider.generateDigest`: the user name (everything before
/// the first `:`), a `:`, and the base64 of SHA-1 over the whole `user:password` string.
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let sum = Sha1::digest(user_password.as_bytes());
    format!(
        "{}:{}",
        user,
        base64::engine::general_purpose::STANDARD.encode(sum)
    )
}

/// The ids a successful `addauth digest user:password` gives a session: `super` first when
/// the digest equals the configured super digest, then the digest id itself.
pub fn digest_auth_ids(user_password: &str, super_digest: Option<&str>) -> Vec<Id> {
    let d = digest(user_password);
    let mut ids = Vec::with_capacity(2);
    if super_digest == Some(d.as_str()) {
        ids.push(Id::new(SUPER_SCHEME, ""));
    }
    ids.push(Id::new("digest", d));
    ids
}

/// The authentication providers a default Apache server registers.
/// The authentication providers registered besides `digest` and `ip`, which Apache always
/// has. The default, none, is Apache's without `authProvider.N` keys or TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AclSchemes {
    /// `sasl`: Apache registers it only through `authProvider.N=...SASLAuthenticationProvider`.
    pub sasl: bool,
    /// `x509`: Apache registers it when a secure client port is configured (or through
    /// `authProvider.N=...X509AuthenticationProvider`).
    pub x509: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    Digest,
    Ip,
    Sasl,
    X509,
}

impl Provider {
    /// The provider of `scheme`, if registered: Apache answers InvalidACL for a scheme
    /// without one, and leaves its ids out of an `auth` expansion.
    fn for_scheme(scheme: &str, schemes: AclSchemes) -> Option<Self> {
        match scheme {
            "digest" => Some(Provider::Digest),
            "ip" => Some(Provider::Ip),
            "sasl" if schemes.sasl => Some(Provider::Sasl),
            X509_SCHEME if schemes.x509 => Some(Provider::X509),
            _ => None,
        }
    }

    /// Whether ids of this scheme name a user and so may stand in for the `auth` scheme.
    fn is_authenticated(self) -> bool {
        matches!(self, Provider::Digest | Provider::Sasl | Provider::X509)
    }

    fn is_valid(self, id: &str) -> bool {
        match self {
            // Java's `id.split(":").length == 2`: trailing empty parts are dropped first.
            Provider::Digest => java_split_len(id, ':') == 2,
            Provider::Ip => ip_is_valid(id),
            Provider::Sasl => kerberos_name_is_valid(id),
            Provider::X509 => x500_name_is_valid(id),
        }
    }
}

/// Apache's `PrepRequestProcessor.fixupACL`: checks an ACL list from a create or setACL and
/// expands the `auth` scheme into the session's authenticated ids.
///
/// Duplicates are removed before expansion, keeping the first occurrence; an empty list,
/// an `auth` entry for a session with no authenticated id, an unknown scheme or an id its
/// provider rejects are all `InvalidAcl`.
pub fn fix_acl(acl: &[Acl], ids: &[Id], schemes: AclSchemes) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            let before = out.len();
            for cid in ids {
                if Provider::for_scheme(&cid.scheme, schemes)
                    .is_some_and(Provider::is_authenticated)
                {
                    out.push(Acl::new(a.perms, cid.clone()));
                }
            }
            if out.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            match Provider::for_scheme(&a.id.scheme, schemes) {
                Some(p) if p.is_valid(&a.id.id) => out.push(a.clone()),
                _ => return Err(ErrorCode::InvalidAcl),
            }
        }
    }
    Ok(out)
}

/// Apache's x509 provider accepts any id `new X500Principal(id)` parses: a distinguished
/// name in RFC 2253 or RFC 1779 form (`,` or `;` between RDNs, `+` inside one, attribute
/// types as Java's keywords or OIDs, values plain with escapes, quoted, or `#hex`), or the
/// empty name.
pub fn x500_name_is_valid(id: &str) -> bool {
    let mut avas = Vec::new();
    let mut current = String::new();
    let mut chars = id.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                match chars.next() {
                    Some(n) => current.push(n),
                    None => return false,
                }
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' | ';' | '+' if !quoted => avas.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if quoted {
        return false;
    }
    if avas.is_empty() && current.trim().is_empty() {
        return true;
    }
    avas.push(current);
    avas.iter().all(|ava| ava_is_valid(ava))
}

/// The attribute type keywords `X500Principal` knows (besides OIDs).
const X500_KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

fn ava_is_valid(ava: &str) -> bool {
    let Some((ty, value)) = split_unescaped_eq(ava) else {
        return false;
    };
    let ty = ty.trim();
    let oid = ty
        .strip_prefix("OID.")
        .or_else(|| ty.strip_prefix("oid."))
        .unwrap_or(ty);
    let oid_ok = !oid.is_empty()
        && oid
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
        && oid.contains('.');
    if !oid_ok && !X500_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(ty)) {
        return false;
    }
    let value = value.trim_start();
    if let Some(hex) = value.strip_prefix('#') {
        let hex = hex.trim_end();
        return !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if value.starts_with('"') {
        let v = value.trim_end();
        return v.len() >= 2 && v.ends_with('"');
    }
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(c) if b",=+<>#;\"\\ ".contains(c) => i += 2,
                Some(c) if c.is_ascii_hexdigit() => {
                    if !b.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
                        return false;
                    }
                    i += 3;
                }
                _ => return false,
            }
        } else if b[i] == b'"' {
            return false;
        } else {
            i += 1;
        }
    }
    true
}

/// Splits `type=value` at the first `=` that is not escaped.
fn split_unescaped_eq(ava: &str) -> Option<(&str, &str)> {
    let b = ava.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => return Some((&ava[..i], &ava[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// Apache's SASL provider accepts any id its `KerberosName` parses: `name[/host][@realm]`
/// with no `/` or `@` inside the parts, or any text without an `@` at all.
fn kerberos_name_is_valid(id: &str) -> bool {
    if !id.contains('@') {
        return true;
    }
    let (principal, realm) = id.split_once('@').unwrap_or((id, ""));
    !realm.contains(['/', '@']) && principal.split('/').count() <= 2
}

/// The number of parts Java's `String.split` (limit 0) returns for a one-character separator:
/// trailing empty parts are removed, and a string without the separator is one part.
fn java_split_len(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() == 1 {
        return 1;
    }
    parts
        .iter()
        .rposition(|p| !p.is_empty())
        .map_or(0, |last| last + 1)
}

/// An address as the `ip` provider reads it: 4 bytes for IPv4, 16 for IPv6.
fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_bytes(addr)
    } else if addr.contains('.') {
        v4_bytes(addr)
    } else {
        None
    }
}

fn v4_bytes(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    // Java's Integer.parseInt accepts a leading sign, as Rust's parse does.
    parts
        .iter()
        .map(|p| p.parse::<i32>().ok().and_then(|v| u8::try_from(v).ok()))
        .collect()
}

fn v6_bytes(addr: &str) -> Option<Vec<u8>> {
    const SEGMENTS: usize = 8;
    let halves: Vec<&str> = addr.split("::").collect();
    let split = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(':').map(str::to_owned).collect()
        }
    };
    let (head, tail) = match halves.as_slice() {
        [whole] => {
            let head: Vec<String> = whole.split(':').map(str::to_owned).collect();
            if head.len() != SEGMENTS {
                return None;
            }
            (head, Vec::new())
        }
        [a, b] => {
            let (head, tail) = (split(a), split(b));
            if head.len() + tail.len() >= SEGMENTS {
                return None;
            }
            (head, tail)
        }
        _ => return None,
    };
    let mut out = vec![0u8; 2 * SEGMENTS];
    let mut put = |start: usize, segments: &[String]| -> Option<()> {
        for (k, seg) in segments.iter().enumerate() {
            if seg.is_empty() || seg.len() > 4 {
                return None;
            }
            let v = i32::from_str_radix(seg, 16).ok()?;
            out[start + 2 * k] = (v >> 8) as u8;
            out[start + 2 * k + 1] = v as u8;
        }
        Some(())
    };
    put(0, &head)?;
    put(2 * SEGMENTS - 2 * tail.len(), &tail)?;
    Some(out)
}

/// An ACL expression `address[/bits]`: the address bytes and the prefix length.
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let mut parts = expr.splitn(2, '/');
    let addr = addr_bytes(parts.next().unwrap_or_default())?;
    let max_bits = addr.len() * 8;
    let bits = match parts.next() {
        None => max_bits,
        Some(b) => {
            let b = b.parse::<i32>().ok()?;
            usize::try_from(b).ok().filter(|&b| b <= max_bits)?
        }
    };
    Some((addr, bits))
}

fn mask(bytes: &mut [u8], bits: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
    }
}

fn ip_is_valid(expr: &str) -> bool {
    parse_ip_expr(expr).is_some()
}

/// `IPAuthenticationProvider.matches`: the client address lies in the ACL's network, and
/// both are of the same family.
fn ip_matches(client: &str, expr: &str) -> bool {
    let Some((mut net, bits)) = parse_ip_expr(expr) else {
        return false;
    };
    let Some(mut addr) = addr_bytes(client) else {
        return false;
    };
    if addr.len() != net.len() {
        return false;
    }
    mask(&mut net, bits);
    mask(&mut addr, bits);
    net == addr
}

/// `fix_acl` with every provider registered, as on a server with SASL and TLS configured.
#[cfg(test)]
fn fix_acl_all_schemes(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    fix_acl(
        acl,
        ids,
        AclSchemes {
            sasl: true,
            x509: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::perms::*;

    use super::fix_acl_all_schemes as fix_acl;

    fn id(s: &str, i: &str) -> Id {
        Id::new(s, i)
    }

    fn acl(p: i32, s: &str, i: &str) -> Acl {
        Acl::new(p, id(s, i))
    }

    #[test]
    fn digest_matches_apache_generate_digest() {
        // Values produced by Apache's DigestAuthenticationProvider (and shown in its docs).
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(digest("user:password"), "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=");
        assert!(digest("nocolon").starts_with("nocolon:"));
        let ids = digest_auth_ids("super:test", Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="));
        assert_eq!(ids[0], id("super", ""));
        assert_eq!(ids[1].scheme, "digest");
        assert_eq!(digest_auth_ids("a:b", None).len(), 1);
    }

    #[test]
    fn world_anyone_and_perm_bits() {
        let a = vec![acl(READ | WRITE, "world", "anyone")];
        assert!(check_perm(&a, READ, &[]));
        assert!(check_perm(&a, WRITE, &[]));
        assert!(!check_perm(&a, DELETE, &[]));
        assert!(!check_perm(&a, ADMIN, &[id("digest", "u:x")]));
        // world with another id is no grant.
        assert!(!check_perm(&[acl(ALL, "world", "someone")], READ, &[]));
        // An empty ACL grants all, as Apache does.
        assert!(check_perm(&[], ADMIN, &[]));
    }

    #[test]
    fn digest_acl_needs_the_same_id() {
        let d = digest("bob:secret");
        let a = vec![acl(ALL, "digest", &d)];
        assert!(check_perm(
            &a,
            READ,
            &[id("ip", "127.0.0.1"), id("digest", &d)]
        ));
        assert!(!check_perm(&a, READ, &[id("digest", &digest("bob:wrong"))]));
        assert!(!check_perm(&a, READ, &[id("ip", &d)]));
    }

    #[test]
    fn super_bypasses_everything() {
        let a = vec![acl(READ, "digest", "x:y")];
        assert!(check_perm(&a, ADMIN, &[id("super", "")]));
        assert!(check_perm(
            &a,
            DELETE,
            &[id("digest", "z:z"), id("super", "anything")]
        ));
    }

    #[test]
    fn ip_v4_networks() {
        let a = vec![acl(READ, "ip", "10.1.0.0/16")];
        assert!(check_perm(&a, READ, &[id("ip", "10.1.200.3")]));
        assert!(!check_perm(&a, READ, &[id("ip", "10.2.0.1")]));
        assert!(ip_matches("192.168.1.7", "192.168.1.7"));
        assert!(!ip_matches("192.168.1.8", "192.168.1.7"));
        assert!(ip_matches("192.168.1.8", "192.168.1.7/28"));
        assert!(!ip_matches("192.168.1.8", "192.168.1.7/29"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
        assert!(ip_matches("10.0.0.129", "10.0.0.128/25"));
        assert!(!ip_matches("10.0.0.127", "10.0.0.128/25"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/33"));
        assert!(!ip_matches("1.2.3.4", "1.2.3.4/"));
        assert!(!ip_matches("1.2.3", "1.2.3.0/24"));
        assert!(!ip_matches("1.2.3.256", "1.2.3.0/24"));
        assert!(!ip_matches("localhost", "1.2.3.0/24"));
    }

    #[test]
    fn ip_v6_networks_and_families() {
        assert!(ip_matches("0:0:0:0:0:0:0:1", "::1"));
        assert!(ip_matches("::1", "0:0:0:0:0:0:0:1/128"));
        assert!(ip_matches("2001:db8::5", "2001:db8::/32"));
        assert!(ip_matches("2001:db8:ffff::5", "2001:db8::/32"));
        assert!(!ip_matches("2001:db9::5", "2001:db8::/32"));
        assert!(ip_matches("fe80::1:2", "fe80::/10"));
        // Families never match each other, even with a zero-length prefix.
        assert!(!ip_matches("1.2.3.4", "::/0"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
        // Malformed IPv6 forms are refused.
        assert!(!ip_is_valid("1:2:3:4:5:6:7"));
        assert!(!ip_is_valid("1:2:3:4:5:6:7:8:9"));
        assert!(!ip_is_valid("1::2::3"));
        assert!(!ip_is_valid("1:2:3:4::5:6:7:8"));
        assert!(!ip_is_valid("12345::"));
        assert!(!ip_is_valid(":::"));
        assert!(!ip_is_valid("g::1"));
        assert!(ip_is_valid("::"));
        assert!(ip_is_valid("::/0"));
        assert!(!ip_is_valid("::/129"));
    }

    #[test]
    fn fix_acl_rules() {
        let open = acl(ALL, "world", "anyone");
        assert_eq!(fix_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fix_acl(&[open.clone(), open.clone()], &[]).unwrap(),
            vec![open.clone()]
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "world", "nobody")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "bogus", "x")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "super", "")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // digest ids need exactly one user:hash pair, with Java's split rules.
        assert!(fix_acl(&[acl(ALL, "digest", "u:h")], &[]).is_ok());
        assert!(fix_acl(&[acl(ALL, "digest", "u:h:")], &[]).is_ok());
        assert!(fix_acl(&[acl(ALL, "digest", ":h")], &[]).is_ok());
        assert_eq!(
            fix_acl(&[acl(ALL, "digest", "u")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "digest", "u:")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "digest", "a:b:c")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fix_acl(&[acl(ALL, "ip", "10.0.0.0/8")], &[]).is_ok());
        assert_eq!(
            fix_acl(&[acl(ALL, "ip", "10.0.0.0/x")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_acl(&[acl(ALL, "ip", "host")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn fix_acl_expands_auth_to_authenticated_ids_only() {
        let ip = id("ip", "127.0.0.1");
        let sup = id("super", "");
        let d = id("digest", "bob:hash");
        let auth = acl(READ | WRITE, "auth", "");
        assert_eq!(
            fix_acl(std::slice::from_ref(&auth), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // ip ids are not authenticated and super has no provider: neither counts.
        assert_eq!(
            fix_acl(std::slice::from_ref(&auth), &[ip.clone(), sup.clone()]),
            Err(ErrorCode::InvalidAcl)
        );
        let got = fix_acl(&[acl(ALL, "world", "anyone"), auth], &[ip, sup, d.clone()]).unwrap();
        assert_eq!(
            got,
            vec![acl(ALL, "world", "anyone"), Acl::new(READ | WRITE, d)]
        );
    }
}

#[cfg(test)]
mod sasl_tests {
    use super::*;

    use super::fix_acl_all_schemes as fix_acl;
    use crate::types::perms;

    #[test]
    fn sasl_ids_match_by_name_and_super_matches_all() {
        let acl = [Acl::new(perms::ALL, Id::new("sasl", "jaasuser"))];
        assert!(check_perm(
            &acl,
            perms::READ,
            &[Id::new("sasl", "jaasuser")]
        ));
        assert!(!check_perm(&acl, perms::READ, &[Id::new("sasl", "other")]));
        assert!(!check_perm(
            &acl,
            perms::READ,
            &[Id::new("digest", "jaasuser")]
        ));
        assert!(check_perm(&acl, perms::READ, &[Id::new("sasl", "super")]));
    }

    #[test]
    fn fix_acl_accepts_sasl_and_auth_expands_to_it() {
        let acl = [Acl::new(perms::ALL, Id::new("sasl", "jaasuser"))];
        assert_eq!(fix_acl(&acl, &[]), Ok(acl.to_vec()));
        let bad = [Acl::new(perms::ALL, Id::new("sasl", "a@b@c"))];
        assert_eq!(fix_acl(&bad, &[]), Err(ErrorCode::InvalidAcl));
        let auth = [Acl::new(perms::READ, Id::new("auth", ""))];
        let ids = [Id::new("ip", "127.0.0.1"), Id::new("sasl", "jaasuser")];
        assert_eq!(
            fix_acl(&auth, &ids),
            Ok(vec![Acl::new(perms::READ, Id::new("sasl", "jaasuser"))])
        );
    }

    #[test]
    fn sasl_and_x509_acls_need_their_provider_as_in_apache() {
        let none = AclSchemes::default();
        for scheme in ["sasl", X509_SCHEME] {
            let acl = [Acl::new(perms::ALL, Id::new(scheme, "CN=jaasuser"))];
            assert_eq!(
                super::fix_acl(&acl, &[], none),
                Err(ErrorCode::InvalidAcl),
                "{scheme}"
            );
        }
        // An id of an unregistered scheme is left out of an `auth` expansion.
        let auth = [Acl::new(perms::READ, Id::new("auth", ""))];
        let ids = [Id::new("sasl", "jaasuser"), Id::new("digest", "u:h")];
        assert_eq!(
            super::fix_acl(&auth, &ids, none),
            Ok(vec![Acl::new(perms::READ, Id::new("digest", "u:h"))])
        );
        let sasl_only = AclSchemes {
            sasl: true,
            x509: false,
        };
        let acl = [Acl::new(perms::ALL, Id::new("sasl", "jaasuser"))];
        assert_eq!(super::fix_acl(&acl, &[], sasl_only), Ok(acl.to_vec()));
    }
}

#[cfg(test)]
mod x509_tests {
    use super::*;
    use crate::types::perms;

    use super::fix_acl_all_schemes as fix_acl;

    #[test]
    fn x509_ids_match_exactly() {
        let subject = "CN=client,OU=Eng,O=Example";
        let acl = [Acl::new(perms::READ, Id::new(X509_SCHEME, subject))];
        assert!(check_perm(
            &acl,
            perms::READ,
            &[Id::new(X509_SCHEME, subject)]
        ));
        assert!(!check_perm(
            &acl,
            perms::WRITE,
            &[Id::new(X509_SCHEME, subject)]
        ));
        // Apache compares the strings: another spacing or case is another client.
        for other in [
            "CN=client, OU=Eng, O=Example",
            "cn=client,OU=Eng,O=Example",
            "CN=client",
        ] {
            assert!(!check_perm(
                &acl,
                perms::READ,
                &[Id::new(X509_SCHEME, other)]
            ));
        }
        assert!(!check_perm(
            &acl,
            perms::READ,
            &[Id::new("digest", subject)]
        ));
        // The super user's connection also holds a super id, which passes every check.
        assert!(check_perm(
            &acl,
            perms::READ,
            &[
                Id::new(SUPER_SCHEME, "CN=admin"),
                Id::new(X509_SCHEME, "CN=admin")
            ]
        ));
    }

    #[test]
    fn fix_acl_accepts_x500_names_and_auth_expands_to_x509() {
        for good in [
            "CN=client,OU=Eng,O=Example",
            "CN=a\\,b;O=x",
            "CN=\"quoted, name\"",
            "1.2.840.113549.1.9.1=#1603614062+CN=x",
            "OID.2.5.4.3=x",
            "cn = spaced , o = x",
            "",
        ] {
            let acl = [Acl::new(perms::ALL, Id::new(X509_SCHEME, good))];
            assert_eq!(fix_acl(&acl, &[]), Ok(acl.to_vec()), "{good:?}");
        }
        for bad in [
            "client",
            "CN=a,",
            "XX=a",
            "CN=\\",
            "CN=#abc",
            "CN=\"open",
            "=x",
        ] {
            let acl = [Acl::new(perms::ALL, Id::new(X509_SCHEME, bad))];
            assert_eq!(fix_acl(&acl, &[]), Err(ErrorCode::InvalidAcl), "{bad:?}");
        }
        let auth = [Acl::new(perms::READ, Id::new("auth", ""))];
        let ids = [Id::new("ip", "127.0.0.1"), Id::new(X509_SCHEME, "CN=c")];
        assert_eq!(
            fix_acl(&auth, &ids),
            Ok(vec![Acl::new(perms::READ, Id::new(X509_SCHEME, "CN=c"))])
        );
    }
}
