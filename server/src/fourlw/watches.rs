//! `wchs`, `wchc` and `wchp`: the watch table, as Apache's `WatchManager`
//! prints it. Apache reports only the data-watch table (exists/getData
//! watches and persistent watches), not child watches; the caller chooses
//! what to pass, and matching Apache means passing the same.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ringkeeper_engine::types::SessionId;

use super::java;

/// The watched paths of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionWatches {
    pub session_id: SessionId,
    pub paths: Vec<String>,
}

/// The sessions watching one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathWatches {
    pub path: String,
    pub session_ids: Vec<SessionId>,
}

/// The `wchs` numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Sessions (Apache: connections) with at least one watch.
    pub connections: usize,
    /// Distinct watched paths.
    pub paths: usize,
    /// (session, path) pairs.
    pub total: usize,
}

impl WatchSummary {
    /// Counts a by-session listing, for callers that keep no counters.
    pub fn from_sessions(by_session: &[SessionWatches]) -> WatchSummary {
        let paths: BTreeSet<&str> = by_session
            .iter()
            .flat_map(|s| s.paths.iter().map(String::as_str))
            .collect();
        WatchSummary {
            connections: by_session.iter().filter(|s| !s.paths.is_empty()).count(),
            paths: paths.len(),
            total: by_session.iter().map(|s| s.paths.len()).sum(),
        }
    }
}

/// `wchs`.
pub fn render_wchs(summary: &WatchSummary) -> String {
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        summary.connections, summary.paths, summary.total
    )
}

/// `wchc`: each session, then its paths indented by a tab; a final newline.
pub fn render_wchc(by_session: &[SessionWatches]) -> String {
    let mut out = String::new();
    for s in by_session {
        let _ = writeln!(out, "0x{}", java::hex(s.session_id));
        for path in &s.paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

/// `wchp`: each path, then its sessions indented by a tab; a final newline.
pub fn render_wchp(by_path: &[PathWatches]) -> String {
    let mut out = String::new();
    for p in by_path {
        let _ = writeln!(out, "{}", p.path);
        for id in &p.session_ids {
            let _ = writeln!(out, "\t0x{}", java::hex(*id));
        }
    }
    out.push('\n');
    out
}
