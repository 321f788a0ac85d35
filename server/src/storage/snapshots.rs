//! Writing snapshots and purging what they make unnecessary.
//!
//! The snapshotter executor encodes a snapshot from its own copy of the tree and then calls
//! this synchronously: the file work — write to a temp name, fsync, rename, fsync the
//! directory, then delete old snapshots and log segments — blocks only that executor, which
//! serves no client, so neither the write path nor any read waits for it.

use std::path::PathBuf;

use ringkeeper_engine::storage::{purge_plan, write_snapshot, FsDir, StorageDir, StorageError};
use ringkeeper_engine::Zxid;
use tracing::{info, warn};

/// Writes `bytes` as the snapshot at `zxid` in `dir`, then purges down to `retain`
/// snapshots and the log segments they still need.
pub fn write_and_purge(
    dir: PathBuf,
    zxid: Zxid,
    bytes: &[u8],
    retain: usize,
) -> Result<(), StorageError> {
    let mut fs = FsDir::open(dir)?;
    let name = write_snapshot(&mut fs, zxid, bytes)?;
    info!(snapshot = %name, bytes = bytes.len(), "snapshot written");
    let names = fs.list()?;
    let doomed = purge_plan(&names, retain.max(1));
    for n in &doomed {
        if let Err(e) = fs.remove(n) {
            warn!(file = %n, error = %e, "cannot purge");
        }
    }
    if !doomed.is_empty() {
        fs.sync_dir()?;
        info!(
            files = doomed.len(),
            "purged old snapshots and log segments"
        );
    }
    Ok(())
}
