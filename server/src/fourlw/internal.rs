//! The in-process four-letter word: how the admin server and the metrics
//! port get every word whatever `4lw.commands.whitelist` says, as Apache's
//! AdminServer and metrics provider do (they call into the server directly
//! and never consult the whitelist).
//!
//! Both run on std threads and ask the client port over loopback, so the
//! shard must tell them from a network client. They send `PREFIX`, then the
//! process's `ProbeToken`, then the real word. The token is 32 random bytes
//! drawn once at start-up and handed to the admin, metrics and shard
//! settings; it is never written to a socket other than the loopback probe,
//! a log or a file, so no one outside the process can forge it. A mismatch
//! is answered as any unknown word is: the prefix is read as a frame length,
//! and as a negative one it is refused and the connection closed without a
//! word (Apache's "Len error"), whatever `jute.maxbuffer` says.
//!
//! An in-channel token was chosen over an in-process channel to a shard: the
//! admin threads are plain std threads with no handle on the executors, and
//! the loopback probe already gathers every shard's numbers.

use std::fmt;

/// The first four bytes of an in-process ask. Its top bit set makes it a
/// negative frame length, so to any server (and to ringkeeper on a wrong
/// token) it is a malformed handshake; it is no Apache word and differs from
/// the telnet close sequence `ff f4 ff fd`.
pub const PREFIX: [u8; 4] = [0xff, b'r', b'k', b'i'];

/// The token's length in bytes (256 bits: unguessable within any lifetime).
pub const TOKEN_BYTES: usize = 32;

/// The per-process secret that lifts the whitelist for in-process callers.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeToken([u8; TOKEN_BYTES]);

impl ProbeToken {
    /// Draws a fresh token from the kernel's random source.
    pub fn generate() -> std::io::Result<ProbeToken> {
        let mut bytes = [0u8; TOKEN_BYTES];
        let mut filled = 0;
        while filled < TOKEN_BYTES {
            let rest = &mut bytes[filled..];
            // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`, which we own.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            filled += n as usize;
        }
        Ok(ProbeToken(bytes))
    }

    /// Whether `candidate` is this token. The time taken does not depend on
    /// where the bytes differ, so a network client cannot learn the token a
    /// byte at a time from answer timings.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        if candidate.len() != TOKEN_BYTES {
            return false;
        }
        let diff = self
            .0
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// The bytes that ask `word` with this token.
    pub fn request(&self, word: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREFIX.len() + TOKEN_BYTES + word.len());
        out.extend_from_slice(&PREFIX);
        out.extend_from_slice(&self.0);
        out.extend_from_slice(word.as_bytes());
        out
    }
}

/// Never prints the secret, so a settings struct can be logged safely.
impl fmt::Debug for ProbeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProbeToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_match_only_themselves() {
        let a = ProbeToken::generate().expect("random");
        let b = ProbeToken::generate().expect("random");
        assert_ne!(a, b);
        assert!(a.matches(&a.0));
        assert!(!a.matches(&b.0));
        let mut one_off = a.0;
        one_off[TOKEN_BYTES - 1] ^= 1;
        assert!(!a.matches(&one_off));
        assert!(!a.matches(&a.0[..TOKEN_BYTES - 1]));
        assert!(!a.matches(&[]));
    }

    #[test]
    fn the_prefix_is_no_word_and_a_refused_length() {
        assert_eq!(crate::fourlw::parse_command(&PREFIX), None);
        assert!(i32::from_be_bytes(PREFIX) < 0);
    }

    #[test]
    fn a_request_is_prefix_token_word_and_debug_hides_the_token() {
        let t = ProbeToken([7; TOKEN_BYTES]);
        let r = t.request("mntr");
        assert_eq!(&r[..4], &PREFIX);
        assert_eq!(&r[4..4 + TOKEN_BYTES], &[7; TOKEN_BYTES]);
        assert_eq!(&r[4 + TOKEN_BYTES..], b"mntr");
        assert_eq!(format!("{t:?}"), "ProbeToken(..)");
    }
}
