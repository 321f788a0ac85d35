//! What a report was measured with: the suite's source revision, the compiler that built
//! it, and each server's own account of its version (`srvr`), so that two reports can be
//! told apart when they disagree.

use super::server::four_letter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::process::Command;

/// Versions of everything a report depends on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Versions {
    /// This crate's version.
    pub suite: String,
    /// `git describe --always --dirty` of the source tree the suite was built from, or
    /// `unknown` when it is not a git checkout any more.
    pub source: String,
    /// `rustc --version` of the compiler that built the suite.
    pub rustc: String,
    /// Target name to the `Zookeeper version:` line of its `srvr` answer.
    pub servers: BTreeMap<String, String>,
}

impl Versions {
    /// This build's facts; `servers` is filled as the servers start.
    pub fn of_this_build() -> Versions {
        let source = Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(["describe", "--always", "--dirty", "--abbrev=12"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| "unknown".to_string(), |s| s.trim().to_string());
        Versions {
            suite: env!("CARGO_PKG_VERSION").to_string(),
            source,
            rustc: env!("RK_BENCH_RUSTC").to_string(),
            servers: BTreeMap::new(),
        }
    }
}

/// The version a server states in its `srvr` answer, or `unknown`.
pub fn server_version(addr: &str) -> String {
    four_letter(addr, "srvr")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Zookeeper version:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}
