//! The epoch file: Zab's acceptedEpoch and currentEpoch (plus the leader the accepted epoch
//! was promised to, and a boot counter), which a server must never forget once it has told
//! a peer about them. It is rewritten whole on every change (write a temp file, fdatasync,
//! rename, fsync the directory), so a crash leaves either the old or the new content.
//!
//! Layout (32 bytes, integers big-endian), also in docs/storage-format.md:
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

use std::io::Write;
use std::path::{Path, PathBuf};

use ringkeeper_replication::EpochState;

pub const EPOCH_FILE: &str = "epochs";
const MAGIC: &[u8; 4] = b"RKEP";
const VERSION: u32 = 1;
const LEN: usize = 36;

#[derive(Debug, thiserror::Error)]
pub enum EpochFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({why}); refusing to start, since forgetting a promised epoch could let two leaders share one")]
    Corrupt { path: PathBuf, why: &'static str },
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
pub fn load(dir: &Path) -> Result<EpochState, EpochFileError> {
    let path = dir.join(EPOCH_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => decode(&bytes).map_err(|why| EpochFileError::Corrupt { path, why }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EpochState::default()),
        Err(source) => Err(EpochFileError::Io { path, source }),
    }
}

/// Replaces the epoch file durably. Blocking, but rare: once per election or handshake.
pub fn save(dir: &Path, e: &EpochState) -> Result<(), EpochFileError> {
    let path = dir.join(EPOCH_FILE);
    let temp = dir.join(format!("{EPOCH_FILE}.tmp"));
    let io = |source| EpochFileError::Io {
        path: path.clone(),
        source,
    };
    {
        let mut f = std::fs::File::create(&temp).map_err(io)?;
        f.write_all(&encode(e)).map_err(io)?;
        f.sync_data().map_err(io)?;
    }
    std::fs::rename(&temp, &path).map_err(io)?;
    crate::storage::log::sync_dir(dir).map_err(io)?;
    Ok(())
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
        let dir = std::env::temp_dir().join(format!("rk-epochs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir).unwrap(), EpochState::default());
        let e = EpochState {
            accepted_epoch: 2,
            accepted_leader: Some(1),
            current_epoch: 2,
            boot: 5,
        };
        save(&dir, &e).unwrap();
        assert_eq!(load(&dir).unwrap(), e);
        std::fs::write(dir.join(EPOCH_FILE), b"junk").unwrap();
        assert!(matches!(load(&dir), Err(EpochFileError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
