//! The session secret: the key session passwords are derived from, kept in dataDir so that
//! sessions recovered after a restart keep their passwords and their clients can resume
//! them. Created once through the storage layer's `replace_file`, so a crash while creating
//! it leaves no key or the whole key, never a partial one that would stop the next start.

use ringkeeper_engine::storage::{replace_file, StorageDir, StorageError};

/// The file holding the key, in dataDir.
pub const SECRET_FILE: &str = "ringkeeper.secret";
/// Bytes of the key.
pub const SECRET_LEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("session secret: {0}")]
    Storage(#[from] StorageError),
    #[error("session secret {SECRET_FILE} holds {len} bytes, not a {SECRET_LEN_BYTES}-byte key")]
    WrongLength { len: usize },
    #[error("session secret: cannot draw random bytes: {0}")]
    Random(std::io::Error),
}

/// Reads the key, or creates it from `fresh` (random bytes) and makes it durable before
/// returning it: a key handed out must never change.
pub fn load_or_create(
    dir: &mut dyn StorageDir,
    fresh: impl FnOnce() -> std::io::Result<[u8; SECRET_LEN_BYTES]>,
) -> Result<Vec<u8>, SecretError> {
    if dir.list()?.iter().any(|n| n == SECRET_FILE) {
        let key = dir.read(SECRET_FILE)?;
        if key.len() != SECRET_LEN_BYTES {
            return Err(SecretError::WrongLength { len: key.len() });
        }
        return Ok(key);
    }
    let key = fresh().map_err(SecretError::Random)?;
    replace_file(dir, SECRET_FILE, &key)?;
    Ok(key.to_vec())
}

/// Random key bytes from the kernel.
pub fn random_key() -> std::io::Result<[u8; SECRET_LEN_BYTES]> {
    use std::io::Read;
    let mut key = [0u8; SECRET_LEN_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkeeper_engine::storage::{CrashMode, SimDir, SimRng};

    #[test]
    fn a_crash_while_creating_the_secret_never_leaves_a_partial_key() {
        let mut rng = SimRng::new(0x5eed_5ec7);
        for fail_at in 0..5 {
            for mode in [CrashMode::LoseUnsynced, CrashMode::Torn] {
                for _ in 0..10 {
                    let mut dir = SimDir::new();
                    dir.fail_after(fail_at);
                    let first = load_or_create(&mut dir, || Ok([7; SECRET_LEN_BYTES]));
                    dir.fail_after(u64::MAX);
                    dir.crash(mode, &mut rng);
                    let again = load_or_create(&mut dir, || Ok([9; SECRET_LEN_BYTES]))
                        .unwrap_or_else(|e| panic!("fail at {fail_at}, {mode:?}: {e}"));
                    if let Ok(first) = first {
                        assert_eq!(again, first, "a key handed out must survive");
                    }
                }
            }
        }
    }

    #[test]
    fn a_damaged_secret_is_refused() {
        let mut dir = SimDir::new();
        dir.write_file_synced(SECRET_FILE, b"short").unwrap();
        let result = load_or_create(&mut dir, || Ok([1; SECRET_LEN_BYTES]));
        assert!(matches!(result, Err(SecretError::WrongLength { len: 5 })));
    }
}
