//! The transaction log writer: appends whole group-commit batches to preallocated segment
//! files with io_uring writes, then one fdatasync per batch.
//!
//! Persist, then send: the sequencer releases a batch's replies and its transactions to the
//! shards only after `append` has returned. An error here poisons the log for good: a
//! failed fdatasync may have dropped dirty pages the kernel will never write again
//! (the "fsyncgate" lesson), so retrying could acknowledge writes that are not on disk.

use std::path::{Path, PathBuf};

use glommio::io::{BufferedFile, OpenOptions};
use ringkeeper_engine::storage::{segment_name, SegmentPolicy};
use ringkeeper_engine::Zxid;
use thiserror::Error;
use tracing::info;

#[derive(Debug, Error)]
pub enum LogError {
    /// The disk is full. Nothing acknowledged is lost and the log is not corrupt (a torn
    /// tail is truncated at the next start), but no more writes can be taken.
    #[error("disk full while {op} {path}")]
    DiskFull { op: &'static str, path: PathBuf },
    #[error("{op} {path} failed: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the log is poisoned by an earlier failure; no further writes are possible")]
    Poisoned,
}

fn io_error(op: &'static str, path: &Path, e: glommio::GlommioError<()>) -> LogError {
    // glommio wraps file errors with the operation and path; keep the OS error underneath
    // (its conversion to io::Error keeps only the kind).
    let full = match &e {
        glommio::GlommioError::EnhancedIoError { source, .. }
        | glommio::GlommioError::IoError(source) => {
            source.raw_os_error() == Some(libc::ENOSPC)
                || source.kind() == std::io::ErrorKind::StorageFull
        }
        _ => false,
    };
    if full {
        return LogError::DiskFull {
            op,
            path: path.to_owned(),
        };
    }
    LogError::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Where the log continues after recovery.
#[derive(Debug, Clone)]
pub struct LogPosition {
    pub file: PathBuf,
    pub offset: u64,
}

pub struct LogWriter {
    dir: PathBuf,
    policy: SegmentPolicy,
    force_sync: bool,
    current: Option<(BufferedFile, PathBuf)>,
    /// Bytes of records in the current segment (the next write's offset).
    len: u64,
    poisoned: bool,
    /// Batches and bytes written, for metrics.
    pub batches: u64,
    pub bytes: u64,
}

impl LogWriter {
    /// Opens the log in `dir`, continuing at `position` if recovery found a segment to extend.
    pub async fn open(
        dir: PathBuf,
        policy: SegmentPolicy,
        force_sync: bool,
        position: Option<LogPosition>,
    ) -> Result<Self, LogError> {
        let mut w = Self {
            dir,
            policy,
            force_sync,
            current: None,
            len: 0,
            poisoned: false,
            batches: 0,
            bytes: 0,
        };
        if let Some(pos) = position {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .buffered_open(&pos.file)
                .await
                .map_err(|e| io_error("opening", &pos.file, e))?;
            w.current = Some((file, pos.file));
            w.len = pos.offset;
        }
        Ok(w)
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    async fn roll(&mut self, first_zxid: Zxid, batch_len: u64) -> Result<(), LogError> {
        if let Some((file, path)) = self.current.take() {
            // Everything in it is already durable; closing only releases the descriptor.
            file.close()
                .await
                .map_err(|e| io_error("closing", &path, e))?;
        }
        let path = self.dir.join(segment_name(first_zxid));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .buffered_open(&path)
            .await
            .map_err(|e| io_error("creating", &path, e))?;
        // Preallocating keeps later appends from changing the file size, so fdatasync does
        // not also have to write inode metadata on every batch.
        file.pre_allocate(self.policy.preallocation_for(batch_len), false)
            .await
            .map_err(|e| io_error("preallocating", &path, e))?;
        file.fdatasync()
            .await
            .map_err(|e| io_error("syncing", &path, e))?;
        sync_dir(&self.dir).map_err(|source| LogError::Io {
            op: "syncing directory",
            path: self.dir.clone(),
            source,
        })?;
        info!(segment = %path.display(), "new log segment");
        self.current = Some((file, path));
        self.len = 0;
        Ok(())
    }

    /// Writes one batch of encoded records and makes it durable.
    pub async fn append(&mut self, batch: Vec<u8>, first_zxid: Zxid) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let result = self.append_inner(batch, first_zxid).await;
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    async fn append_inner(&mut self, batch: Vec<u8>, first_zxid: Zxid) -> Result<(), LogError> {
        let n = batch.len() as u64;
        if self.current.is_none() || self.policy.should_roll(self.len, n) {
            self.roll(first_zxid, n).await?;
        }
        let Some((file, path)) = self.current.as_ref() else {
            return Err(LogError::Poisoned);
        };
        let written = file
            .write_at(batch, self.len)
            .await
            .map_err(|e| io_error("writing", path, e))?;
        if (written as u64) < n {
            // A regular file takes a short write only when the file system (or a quota)
            // has no room for the rest: the next write would fail with ENOSPC. The torn
            // record it leaves is cut off as a torn tail by the next recovery.
            return Err(LogError::DiskFull {
                op: "writing",
                path: path.clone(),
            });
        }
        if self.force_sync {
            file.fdatasync()
                .await
                .map_err(|e| io_error("syncing", path, e))?;
        }
        self.len += n;
        self.batches += 1;
        self.bytes += n;
        Ok(())
    }
}

impl LogWriter {
    /// Closes the open segment so that the directory can be changed underneath.
    async fn close_current(&mut self) -> Result<(), LogError> {
        if let Some((file, path)) = self.current.take() {
            file.close()
                .await
                .map_err(|e| io_error("closing", &path, e))?;
        }
        self.len = 0;
        Ok(())
    }

    async fn reopen(
        &mut self,
        position: Option<ringkeeper_engine::storage::SegmentPosition>,
    ) -> Result<(), LogError> {
        if let Some(pos) = position {
            let path = self.dir.join(&pos.name);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .buffered_open(&path)
                .await
                .map_err(|e| io_error("opening", &path, e))?;
            self.current = Some((file, path));
            self.len = pos.offset;
        }
        Ok(())
    }

    fn storage_error(
        &self,
        op: &'static str,
        e: ringkeeper_engine::storage::StorageError,
    ) -> LogError {
        LogError::Io {
            op,
            path: self.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// Cuts every record after `after`, durably (replication: the leader's TRUNC). Rare, so
    /// it uses blocking file calls.
    pub async fn truncate_after(&mut self, after: Zxid) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        self.close_current().await?;
        let result = ringkeeper_engine::storage::FsDir::open(&self.dir)
            .and_then(|mut d| ringkeeper_engine::storage::truncate_after(&mut d, after));
        let position = match result {
            Ok(p) => p,
            Err(e) => {
                self.poisoned = true;
                return Err(self.storage_error("truncating the log in", e));
            }
        };
        info!(after = format_args!("0x{after:x}"), "log truncated");
        self.reopen(position)
            .await
            .inspect_err(|_| self.poisoned = true)
    }

    /// Replaces the whole log with a leader's snapshot (replication: SNAP); the next append
    /// starts a new segment.
    pub async fn replace_with_snapshot(
        &mut self,
        zxid: Zxid,
        bytes: &[u8],
    ) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        self.close_current().await?;
        let result = ringkeeper_engine::storage::FsDir::open(&self.dir).and_then(|mut d| {
            ringkeeper_engine::storage::replace_with_snapshot(&mut d, zxid, bytes)
        });
        if let Err(e) = result {
            self.poisoned = true;
            return Err(self.storage_error("installing a snapshot in", e));
        }
        info!(
            zxid = format_args!("0x{zxid:x}"),
            bytes = bytes.len(),
            "installed the leader's snapshot"
        );
        Ok(())
    }
}

/// fsyncs a directory so that a created or renamed entry survives power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
