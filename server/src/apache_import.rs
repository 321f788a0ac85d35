//! The server's first start on an Apache ZooKeeper data directory: Apache's `version-2`
//! snapshot and logs are imported into `ringkeeper-v1/` before the store is opened, so
//! that stopping Apache and starting ringkeeper on the same zoo.cfg is the whole
//! migration. Apache's files are only read; they stay for a way back.

use ringkeeper_import::{import_on_first_start, FirstStart};
use tracing::{info, warn};

use crate::config::Config;

/// Imports Apache's data when `dataDir` holds it and no ringkeeper data; a failed import
/// stops the server, since starting empty would look like lost data to every client.
pub fn import_if_first_start(config: &Config) -> Result<(), String> {
    let report = match import_on_first_start(&config.data_dir, &config.data_log_dir) {
        Ok(FirstStart::Imported(report)) => report,
        Ok(FirstStart::RingkeeperData | FirstStart::Empty) => return Ok(()),
        Err(e) => {
            return Err(format!(
                "refusing to start: importing the Apache ZooKeeper data in {} failed: {e}",
                config.data_dir.display()
            ))
        }
    };
    for w in &report.warnings {
        warn!("apache import: {w}");
    }
    info!(
        snapshot = ?report.snapshot.as_ref().map(|(name, zxid)| format!("{name} (0x{zxid:x})")),
        replayed_txns = report.replayed_txns,
        last_zxid = format_args!("0x{:x}", report.last_zxid),
        nodes = report.nodes,
        sessions = report.sessions,
        written = %report.output.display(),
        "imported the Apache ZooKeeper data directory; its files were left untouched"
    );
    Ok(())
}
