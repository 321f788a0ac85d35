//! The transaction log on the sequencer core: the engine's [`LogWriter`] over io_uring
//! files. Every decision (segment names, rolls, preallocation, when to sync, poisoning)
//! is the engine's, and the power-loss tests drive that same writer over a simulated
//! directory; this module only carries out its file operations with glommio.
//!
//! Persist, then send: the sequencer releases a batch's replies and its transactions to the
//! shards only after `append` has returned.

use std::path::PathBuf;

use glommio::io::{BufferedFile, OpenOptions};
use ringkeeper_engine::storage::{
    FsDir, LogDir, LogWriter, SegmentPolicy, SegmentPosition, StorageDir, StorageError,
};
use ringkeeper_engine::Zxid;
use tracing::info;

/// The log directory as the writer's seam, with the one segment being appended to kept open.
struct UringDir {
    /// Blocking access for directory syncs and the rare whole-log changes.
    fs: FsDir,
    open: Option<(String, BufferedFile)>,
}

/// The error underneath glommio's wrapping, with its OS error code kept (glommio's own
/// conversion to `io::Error` keeps only the kind), so that a full disk is recognised.
fn os_error(e: glommio::GlommioError<()>) -> std::io::Error {
    match e {
        glommio::GlommioError::EnhancedIoError { source, .. }
        | glommio::GlommioError::IoError(source) => source,
        other => std::io::Error::other(other.to_string()),
    }
}

impl UringDir {
    fn failed(&self, op: &'static str, name: &str, e: glommio::GlommioError<()>) -> StorageError {
        StorageError::io(op, self.fs.path(name).display().to_string(), os_error(e))
    }

    /// The open handle of segment `name`, opening it (and closing another) if needed.
    async fn segment(&mut self, name: &str) -> Result<&BufferedFile, StorageError> {
        if self.open.as_ref().is_none_or(|(open, _)| open != name) {
            LogDir::close(self).await?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .buffered_open(self.fs.path(name))
                .await
                .map_err(|e| self.failed("open", name, e))?;
            self.open = Some((name.to_owned(), file));
        }
        match &self.open {
            Some((_, file)) => Ok(file),
            None => Err(StorageError::io(
                "open",
                name,
                std::io::Error::other("segment not open"),
            )),
        }
    }
}

impl LogDir for UringDir {
    async fn create_segment(&mut self, name: &str, len: u64) -> Result<(), StorageError> {
        LogDir::close(self).await?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .buffered_open(self.fs.path(name))
            .await
            .map_err(|e| self.failed("create", name, e))?;
        // Preallocating keeps later appends from changing the file size, so fdatasync does
        // not also have to write inode metadata on every batch.
        file.pre_allocate(len, false)
            .await
            .map_err(|e| self.failed("preallocate", name, e))?;
        file.fdatasync()
            .await
            .map_err(|e| self.failed("fdatasync", name, e))?;
        info!(segment = %self.fs.path(name).display(), "new log segment");
        self.open = Some((name.to_owned(), file));
        Ok(())
    }

    async fn write_segment(
        &mut self,
        name: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError> {
        let want = bytes.len();
        let written = self
            .segment(name)
            .await?
            .write_at(bytes, offset)
            .await
            .map_err(|e| self.failed("write", name, e))?;
        if written < want {
            // A regular file takes a short write only when the file system (or a quota)
            // has no room for the rest. The torn record it leaves is cut off as a torn
            // tail by the next recovery.
            return Err(StorageError::io(
                "write",
                self.fs.path(name).display().to_string(),
                std::io::Error::new(std::io::ErrorKind::StorageFull, "short write: disk full"),
            ));
        }
        Ok(())
    }

    async fn sync_segment(&mut self, name: &str) -> Result<(), StorageError> {
        self.segment(name)
            .await?
            .fdatasync()
            .await
            .map_err(|e| self.failed("fdatasync", name, e))
    }

    async fn sync_names(&mut self) -> Result<(), StorageError> {
        // Rare (once per segment) and short: a blocking fsync of the directory.
        self.fs.sync_dir()
    }

    async fn close(&mut self) -> Result<(), StorageError> {
        if let Some((name, file)) = self.open.take() {
            // Everything in it that was acknowledged is already durable; closing only
            // releases the descriptor.
            file.close()
                .await
                .map_err(|e| self.failed("close", &name, e))?;
        }
        Ok(())
    }

    fn blocking(&mut self) -> &mut dyn StorageDir {
        &mut self.fs
    }
}

/// The sequencer's log: the engine's writer with its io_uring directory.
pub struct UringLog {
    dir: UringDir,
    writer: LogWriter,
}

impl UringLog {
    /// Opens the log in `dir`, continuing at `position` if recovery found a segment to
    /// extend (`Recovered::next_segment`, which the writer's naming rule interprets).
    pub fn open(
        dir: PathBuf,
        policy: SegmentPolicy,
        force_sync: bool,
        position: Option<SegmentPosition>,
    ) -> Result<Self, StorageError> {
        Ok(UringLog {
            dir: UringDir {
                fs: FsDir::open(dir)?,
                open: None,
            },
            writer: LogWriter::new(policy, force_sync, position),
        })
    }

    /// Writes one framed batch and makes it durable (see [`LogWriter::append`]).
    pub async fn append(&mut self, batch: Vec<u8>, first_zxid: Zxid) -> Result<(), StorageError> {
        self.writer.append(&mut self.dir, batch, first_zxid).await
    }

    /// Cuts every record after `after`, durably (replication: the leader's TRUNC). Rare,
    /// so it uses blocking file calls.
    pub async fn truncate_after(&mut self, after: Zxid) -> Result<(), StorageError> {
        self.writer.truncate_after(&mut self.dir, after).await?;
        info!(after = format_args!("0x{after:x}"), "log truncated");
        Ok(())
    }

    /// Replaces the whole log with a leader's snapshot (replication: SNAP); the next
    /// append starts a new segment.
    pub async fn replace_with_snapshot(
        &mut self,
        zxid: Zxid,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        self.writer
            .replace_with_snapshot(&mut self.dir, zxid, bytes)
            .await?;
        info!(
            zxid = format_args!("0x{zxid:x}"),
            bytes = bytes.len(),
            "installed the leader's snapshot"
        );
        Ok(())
    }
}
