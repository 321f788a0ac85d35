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

    /// Whether recovery must refuse to start (as opposed to an I/O failure, which may be
    /// transient, or a bad snapshot, which recovery works around).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::CorruptLog { .. } | StorageError::ZxidGap { .. }
        )
    }
}
