//! Session passwords: 16 bytes a client must present to resume its session on reconnect.
//!
//! Apache derives them as `new Random(sessionId ^ superSecret).nextBytes(16)` with a
//! compile-time constant, so anyone who knows a session id can compute its password. Ours
//! is HMAC-SHA1 keyed with a per-ensemble secret: still a pure function of the session id
//! (every server of the ensemble must agree, since a client may resume its session on any of
//! them), but unguessable without the secret. Clients treat the bytes as opaque, so the
//! change is invisible on the wire.

use sha1::{Digest, Sha1};

use crate::types::SessionId;

/// The password length Apache's clients expect in ConnectRequest / ConnectResponse.
pub const PASSWORD_LEN: usize = 16;

const BLOCK_LEN: usize = 64;
/// Domain separation: if the same secret ever keys another HMAC, outputs cannot collide.
const CONTEXT: &[u8] = b"ringkeeper session password v1";

/// The HMAC key, pre-mixed into its inner and outer pads.
#[derive(Clone)]
pub(crate) struct PasswordKey {
    inner_pad: [u8; BLOCK_LEN],
    outer_pad: [u8; BLOCK_LEN],
}

impl std::fmt::Debug for PasswordKey {
    /// Never prints key material: trackers end up in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordKey(<redacted>)")
    }
}

impl PasswordKey {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // RFC 2104: a key longer than the block is hashed first, a shorter one zero-padded.
        let mut key = [0u8; BLOCK_LEN];
        if secret.len() > BLOCK_LEN {
            key[..20].copy_from_slice(&Sha1::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        let mut inner_pad = [0x36u8; BLOCK_LEN];
        let mut outer_pad = [0x5cu8; BLOCK_LEN];
        for i in 0..BLOCK_LEN {
            inner_pad[i] ^= key[i];
            outer_pad[i] ^= key[i];
        }
        Self {
            inner_pad,
            outer_pad,
        }
    }

    fn mac(&self, message: &[&[u8]]) -> [u8; 20] {
        let mut inner = Sha1::new();
        inner.update(self.inner_pad);
        for part in message {
            inner.update(part);
        }
        let mut outer = Sha1::new();
        outer.update(self.outer_pad);
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    pub(crate) fn password(&self, id: SessionId) -> [u8; PASSWORD_LEN] {
        let mac = self.mac(&[CONTEXT, &id.to_be_bytes()]);
        let mut out = [0u8; PASSWORD_LEN];
        out.copy_from_slice(&mac[..PASSWORD_LEN]);
        out
    }
}

/// Compares without an early exit, so response timing does not reveal how many leading
/// bytes of a guessed password were right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_2202_vectors() {
        // RFC 2202, test cases 1 and 6 (the latter with a key longer than one block).
        let k = PasswordKey::new(&[0x0b; 20]);
        assert_eq!(
            hex(&k.mac(&[b"Hi There"])),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        let k = PasswordKey::new(&[0xaa; 80]);
        assert_eq!(
            hex(&k.mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
        // The message may arrive in parts.
        assert_eq!(
            k.mac(&[
                b"Test Using Larger Than Block",
                b"-Size Key - Hash Key First"
            ]),
            k.mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])
        );
    }

    #[test]
    fn passwords_depend_on_id_and_secret_only() {
        let a = PasswordKey::new(b"secret-a");
        let b = PasswordKey::new(b"secret-b");
        assert_eq!(a.password(42), PasswordKey::new(b"secret-a").password(42));
        assert_ne!(a.password(42), a.password(43));
        assert_ne!(a.password(42), b.password(42));
        assert_eq!(format!("{a:?}"), "PasswordKey(<redacted>)");
    }

    #[test]
    fn equality_checks_length_and_every_byte() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }
}
