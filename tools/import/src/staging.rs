//! Writing an imported state so that a crash part-way never leaves a `ringkeeper-v1/`
//! that a later start would take as complete: everything is written and synced in a
//! staging folder next to it, which is renamed into place as the last step. A staging
//! folder found later is the remains of an interrupted import and is thrown away.

use std::path::{Path, PathBuf};

use ringkeeper_engine::storage::{encode_snapshot, write_snapshot, FsDir};

use super::{ImportError, ImportReport, Imported, STORE_DIR_NAME};

/// The staging folder's name under the data directory.
pub const STAGING_DIR_NAME: &str = "ringkeeper-v1.import";

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = path.to_path_buf();
    move |source| ImportError::Io { op, path, source }
}

/// Writes `imported` as the only snapshot of `data_dir/ringkeeper-v1/`, which must be
/// absent or empty.
pub fn write_store(data_dir: &Path, imported: Imported) -> Result<ImportReport, ImportError> {
    let staging = data_dir.join(STAGING_DIR_NAME);
    let store = data_dir.join(STORE_DIR_NAME);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(io("removing the unfinished import", &staging))?;
    }
    let mut report = imported.report;
    let bytes = encode_snapshot(&imported.tree, &imported.sessions, report.last_zxid);
    let mut dir = FsDir::create(&staging).map_err(ImportError::Storage)?;
    // write_snapshot syncs the file and the staging folder.
    let name = write_snapshot(&mut dir, report.last_zxid, &bytes).map_err(ImportError::Storage)?;
    drop(dir);
    if store.exists() {
        // Empty (the caller checked): an earlier start may have created it.
        std::fs::remove_dir(&store).map_err(io("removing the empty store", &store))?;
    }
    std::fs::rename(&staging, &store).map_err(io("renaming the import into place", &staging))?;
    sync_dir(data_dir)?;
    report.output = PathBuf::from(&store).join(name);
    Ok(report)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), ImportError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", dir))
}
