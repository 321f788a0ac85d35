//! Retention: which files an autopurge may delete, as Apache's `PurgeTxnLog` decides.

use super::segment::parse_segment_name;
use super::snapshot::parse_snapshot_name;
use crate::types::Zxid;

/// The files to delete so that the newest `retain_snapshots` snapshots (at least one) and
/// every log segment they need stay: the segments that hold zxids after the oldest kept
/// snapshot, including the one that holds that snapshot's zxid + 1 (the newest segment
/// starting at or before it). Names that are neither snapshots nor segments (temp files,
/// anything foreign) are never listed. The result is sorted.
pub fn purge_plan(names: &[String], retain_snapshots: usize) -> Vec<String> {
    let mut snapshots: Vec<(Zxid, &String)> = names
        .iter()
        .filter_map(|n| parse_snapshot_name(n).map(|z| (z, n)))
        .collect();
    snapshots.sort();
    let keep = retain_snapshots.max(1);
    if snapshots.len() <= keep {
        return Vec::new();
    }
    let (old, kept) = snapshots.split_at(snapshots.len() - keep);
    let oldest_kept = kept[0].0;
    let mut segments: Vec<(Zxid, &String)> = names
        .iter()
        .filter_map(|n| parse_segment_name(n).map(|z| (z, n)))
        .collect();
    segments.sort();
    // The newest segment starting at or before oldest_kept + 1 may hold that zxid; every
    // segment before it holds only zxids the oldest kept snapshot already includes.
    let first_needed = segments
        .iter()
        .rposition(|(z, _)| *z <= oldest_kept.saturating_add(1))
        .unwrap_or(0);
    let mut out: Vec<String> = old
        .iter()
        .map(|(_, n)| (*n).clone())
        .chain(segments[..first_needed].iter().map(|(_, n)| (*n).clone()))
        .collect();
    out.sort();
    out
}
