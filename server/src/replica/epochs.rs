//! The epoch file: Zab's acceptedEpoch and currentEpoch (plus the leader the accepted epoch
//! was promised to, and a boot counter), which a server must never forget once it has told
//! a peer about them. It is rewritten whole on every change through the storage layer's
//! `replace_file` (write a temp file, sync, rename, fsync the directory), so a crash leaves
//! either the old or the new content; the power-loss test below checks that over `SimDir`.
//!
//! Layout (36 bytes, integers big-endian), also in docs/storage-format.md:
//! ```text
//! 0   4  magic "RKEP"
//! 4   4  version (1)
//! 8   4  accepted_epoch
//! 12  4  flags: bit 0 = accepted_leader is set
//! 16  8  accepted_leader
//! 24  4  current_epoch
//! 28  4  boot
//! 32  4  crc32c of bytes 0..32
//! ```

use std::path::Path;

use ringkeeper_engine::storage::{replace_file, FsDir, StorageDir, StorageError};
use ringkeeper_replication::EpochState;

pub const EPOCH_FILE: &str = "epochs";
const MAGIC: &[u8; 4] = b"RKEP";
const VERSION: u32 = 1;
const LEN: usize = 36;

#[derive(Debug, thiserror::Error)]
pub enum EpochFileError {
    #[error("epoch file: {0}")]
    Storage(#[from] StorageError),
    #[error("epoch file {EPOCH_FILE} is damaged ({why}); refusing to start, since forgetting a promised epoch could let two leaders share one")]
    Corrupt { why: &'static str },
}

pub fn encode(e: &EpochState) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4..8].copy_from_slice(&VERSION.to_be_bytes());
    b[8..12].copy_from_slice(&e.accepted_epoch.to_be_bytes());
    let flags: u32 = e.accepted_leader.is_some() as u32;
    b[12..16].copy_from_slice(&flags.to_be_bytes());
    b[16..24].copy_from_slice(&e.accepted_leader.unwrap_or(0).to_be_bytes());
    b[24..28].copy_from_slice(&e.current_epoch.to_be_bytes());
    b[28..32].copy_from_slice(&e.boot.to_be_bytes());
    let crc = crc32c::crc32c(&b[0..32]);
    b[32..36].copy_from_slice(&crc.to_be_bytes());
    b
}

pub fn decode(b: &[u8]) -> Result<EpochState, &'static str> {
    if b.len() != LEN {
        return Err("wrong length");
    }
    if &b[0..4] != MAGIC {
        return Err("bad magic");
    }
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if u32_at(32) != crc32c::crc32c(&b[0..32]) {
        return Err("checksum mismatch");
    }
    if u32_at(4) != VERSION {
        return Err("unknown version");
    }
    let flags = u32_at(12);
    if flags & !1 != 0 {
        return Err("unknown flags");
    }
    let mut leader = [0u8; 8];
    leader.copy_from_slice(&b[16..24]);
    Ok(EpochState {
        accepted_epoch: u32_at(8),
        accepted_leader: (flags & 1 == 1).then_some(u64::from_be_bytes(leader)),
        current_epoch: u32_at(24),
        boot: u32_at(28),
    })
}

/// Reads the epoch file; a missing file is a fresh server (all zero).
pub fn load(dir: &dyn StorageDir) -> Result<EpochState, EpochFileError> {
    if !dir.list()?.iter().any(|n| n == EPOCH_FILE) {
        return Ok(EpochState::default());
    }
    let bytes = dir.read(EPOCH_FILE)?;
    decode(&bytes).map_err(|why| EpochFileError::Corrupt { why })
}

/// Replaces the epoch file durably. Blocking, but rare: once per election or handshake.
pub fn save(dir: &mut dyn StorageDir, e: &EpochState) -> Result<(), EpochFileError> {
    Ok(replace_file(dir, EPOCH_FILE, &encode(e))?)
}

/// [`load`] from the directory at `path`.
pub fn load_at(path: &Path) -> Result<EpochState, EpochFileError> {
    load(&FsDir::open(path)?)
}

/// [`save`] into the directory at `path`.
pub fn save_at(path: &Path, e: &EpochState) -> Result<(), EpochFileError> {
    save(&mut FsDir::open(path)?, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_is_detected() {
        let e = EpochState {
            accepted_epoch: 7,
            accepted_leader: Some(3),
            current_epoch: 6,
            boot: 12,
        };
        let b = encode(&e);
        assert_eq!(decode(&b), Ok(e));
        let none = EpochState {
            accepted_leader: None,
            ..e
        };
        assert_eq!(decode(&encode(&none)), Ok(none));
        for i in 0..LEN {
            let mut c = b;
            c[i] ^= 0x40;
            assert!(decode(&c).is_err(), "flip at byte {i}");
        }
        assert!(decode(&b[..LEN - 1]).is_err());
    }

    #[test]
    fn save_then_load() {
        let path = std::env::temp_dir().join(format!("rk-epochs-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        assert_eq!(load_at(&path).unwrap(), EpochState::default());
        let e = EpochState {
            accepted_epoch: 2,
            accepted_leader: Some(1),
            current_epoch: 2,
            boot: 5,
        };
        save_at(&path, &e).unwrap();
        assert_eq!(load_at(&path).unwrap(), e);
        std::fs::write(path.join(EPOCH_FILE), b"junk").unwrap();
        assert!(matches!(
            load_at(&path),
            Err(EpochFileError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn golden_bytes_of_the_epoch_file() {
        // Format drift must fail here: these bytes are what version 1 files hold on disk.
        let e = EpochState {
            accepted_epoch: 7,
            accepted_leader: Some(3),
            current_epoch: 6,
            boot: 12,
        };
        let golden: [u8; LEN] = [
            b'R', b'K', b'E', b'P', 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0,
            0, 0, 6, 0, 0, 0, 12, 0xb6, 0x4c, 0x7f, 0xd8,
        ];
        assert_eq!(encode(&e), golden);
        assert_eq!(decode(&golden), Ok(e));
    }

    /// Zab's promise must survive power loss: after a crash at any step of a save, the
    /// file holds the previous epochs or the new ones, never damage or nothing.
    #[test]
    fn epochs_survive_a_crash_at_any_point_of_a_save() {
        use ringkeeper_engine::storage::{CrashMode, SimDir, SimRng};
        let old = EpochState {
            accepted_epoch: 4,
            accepted_leader: Some(2),
            current_epoch: 4,
            boot: 9,
        };
        let new = EpochState {
            accepted_epoch: 5,
            accepted_leader: Some(1),
            current_epoch: 4,
            boot: 9,
        };
        let mut rng = SimRng::new(0x5eed_0e0c);
        let mut saw_old = false;
        for fail_at in 0..6 {
            for mode in [CrashMode::LoseUnsynced, CrashMode::Torn] {
                for _ in 0..10 {
                    let mut dir = SimDir::new();
                    save(&mut dir, &old).unwrap();
                    dir.fail_after(fail_at);
                    let saved = save(&mut dir, &new).is_ok();
                    dir.fail_after(u64::MAX);
                    dir.crash(mode, &mut rng);
                    let found = load(&dir).unwrap();
                    assert!(found == old || found == new, "{fail_at} {mode:?}");
                    assert!(!saved || found == new, "a returned save is durable");
                    saw_old |= found == old;
                }
            }
        }
        assert!(
            saw_old,
            "the test must also crash before the rename is durable"
        );
    }
}
