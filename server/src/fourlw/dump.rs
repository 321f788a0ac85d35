//! `dump`: sessions by expiry time and ephemeral nodes by session, in the
//! layout of Apache's `DumpCommand`, `ExpiryQueue.dump` and
//! `DataTree.dumpEphemerals`.

use std::fmt::Write as _;

use ringkeeper_engine::types::SessionId;

use super::java;

/// Sessions that expire at the same time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryBucket {
    /// Wall-clock expiry time in ms since the Unix epoch (printed in UTC).
    pub expires_at_ms: i64,
    pub session_ids: Vec<SessionId>,
}

/// The ephemeral nodes one session owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEphemerals {
    pub session_id: SessionId,
    pub paths: Vec<String>,
}

/// What `dump` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpInfo {
    /// Printed sorted by expiry time, whatever the order given.
    pub session_buckets: Vec<ExpiryBucket>,
    pub ephemerals: Vec<SessionEphemerals>,
}

/// The `dump` answer. After `Connections dump:` Apache's NIO factory lists
/// connection expiry sets while its Netty factory (the one kazoo's harness
/// configures) prints nothing; ringkeeper prints nothing.
pub fn render_dump(info: &DumpInfo) -> String {
    let mut buckets: Vec<&ExpiryBucket> = info.session_buckets.iter().collect();
    buckets.sort_by_key(|b| b.expires_at_ms);
    let sessions: usize = buckets.iter().map(|b| b.session_ids.len()).sum();
    let mut out = String::from("SessionTracker dump:\n");
    let _ = writeln!(out, "Session Sets ({})/({}):", buckets.len(), sessions);
    for bucket in buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            bucket.session_ids.len(),
            java::date_utc(bucket.expires_at_ms)
        );
        for id in &bucket.session_ids {
            let _ = writeln!(out, "\t0x{}", java::hex(*id));
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", info.ephemerals.len());
    for owner in &info.ephemerals {
        let _ = writeln!(out, "0x{}:", java::hex(owner.session_id));
        for path in &owner.paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    out
}
