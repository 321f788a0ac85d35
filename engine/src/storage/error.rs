//! The storage error type. I/O errors carry the operation and the file; format errors
//! name the file and the offset, so that an operator knows where to look.

use thiserror::Error;

use crate::types::Zxid;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A snapshot that does not decode. Recovery falls back to an older one.
    #[error("bad snapshot: {why}")]
    BadSnapshot { why: String },
    /// Durable log data is damaged: recovery refuses to start.
    #[error("log {file} is corrupt at offset {offset}: {why}")]
    CorruptLog {
        file: String,
        offset: u64,
        why: String,
    },
    /// A zxid is missing from the history: recovery refuses to start.
    #[error("log {file} at offset {offset}: zxid {found:#x} does not follow {after:#x} (missing history)")]
    ZxidGap {
        file: String,
        offset: u64,
        after: Zxid,
        found: Zxid,
    },
    /// The log writer was handed a batch that does not start where it was said to.
    #[error("bad log batch: {why}")]
    BadBatch { why: String },
    /// An earlier write or sync failed, so nothing is known about what reached the disk.
    #[error("the log is poisoned by an earlier failure; no further writes are possible")]
    Poisoned,
}

impl StorageError {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Whether the disk (or a quota) is full: nothing acknowledged is lost and the log is
    /// not corrupt (a torn tail is cut at the next start), but no more writes fit.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }

    /// Whether recovery must refuse to start (as opposed to an I/O failure, which may be
    /// transient, or a bad snapshot, which recovery works around).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::CorruptLog { .. } | StorageError::ZxidGap { .. }
        )
    }
}
