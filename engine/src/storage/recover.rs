//! Recovery: the newest snapshot that decodes, then the log after it, checked for
//! continuity from the snapshot's zxid to the last durable record.
//!
//! Rules (docs/storage-format.md has the reasoning):
//! - Snapshots are tried newest first; one that does not decode, or whose header zxid
//!   differs from its name, is skipped with a warning. Without any, replay starts from a
//!   fresh tree at zxid 0.
//! - Segments that end before the snapshot's zxid + 1 are not read. Records at or below
//!   the snapshot's zxid are skipped; every other record must follow the one before
//!   (`zxid_follows`), otherwise the history has a gap and recovery refuses.
//! - A torn tail is accepted only in the last segment (a new segment is created only
//!   after its predecessor's last batch was synced) and is truncated; corruption anywhere
//!   refuses with the file and offset.
//! - Leftover snapshot temp files are removed; a segment without records is removed (it
//!   holds nothing, and its name would block the writer from creating that segment) unless
//!   it is the last one and its name is a zxid that may follow the state's last one, in
//!   which case the writer continues in it.

use std::collections::BTreeMap;

use super::dir::StorageDir;
use super::error::StorageError;
use super::segment::{parse_segment_name, scan_segment, zxid_follows, SegmentTail};
use super::snapshot::{
    decode_snapshot, parse_snapshot_name, SNAPSHOT_PREFIX, SNAPSHOT_TEMP_SUFFIX,
};
use crate::tree::DataTree;
use crate::txn::TxnBody;
use crate::types::{SessionId, Zxid};

/// Where the next batch goes: an existing segment and the offset after its last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPosition {
    pub name: String,
    pub offset: u64,
}

/// The durable state found in a data directory.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub tree: DataTree,
    /// Open sessions with their timeouts, in id order.
    pub sessions: Vec<(SessionId, i32)>,
    /// The last zxid in the state: the next txn takes the one after it.
    pub last_zxid: Zxid,
    /// The zxid of the snapshot loaded, if any.
    pub snapshot_zxid: Option<Zxid>,
    /// Where to append. `None`: start a new segment named after the next zxid.
    pub next_segment: Option<SegmentPosition>,
    /// Txns replayed from the log.
    pub replayed_txns: u64,
    /// What was skipped or repaired, for the startup log.
    pub warnings: Vec<String>,
}

/// A change recovery makes to the directory (only in [`recover`], never in [`inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Repair {
    Truncate { name: String, len: u64 },
    Remove { name: String },
}

/// Recovers the state and repairs the directory (truncates a torn tail, removes leftover
/// temp files and an unusable empty last segment), syncing every change.
pub fn recover(dir: &mut dyn StorageDir) -> Result<Recovered, StorageError> {
    let (recovered, repairs) = analyze(dir)?;
    let mut removed = false;
    for repair in repairs {
        match repair {
            Repair::Truncate { name, len } => {
                dir.set_len(&name, len)?;
                dir.sync(&name)?;
            }
            Repair::Remove { name } => {
                dir.remove(&name)?;
                removed = true;
            }
        }
    }
    if removed {
        dir.sync_dir()?;
    }
    Ok(recovered)
}

/// As [`recover`], changing nothing: for the inspector and for checks of a live directory.
pub fn inspect(dir: &dyn StorageDir) -> Result<Recovered, StorageError> {
    analyze(dir).map(|(recovered, _)| recovered)
}

fn analyze(dir: &dyn StorageDir) -> Result<(Recovered, Vec<Repair>), StorageError> {
    let names = dir.list()?;
    let mut warnings = Vec::new();
    let mut repairs = Vec::new();
    for name in &names {
        if name.starts_with(SNAPSHOT_PREFIX) && name.ends_with(SNAPSHOT_TEMP_SUFFIX) {
            warnings.push(format!("{name}: unfinished snapshot, removed"));
            repairs.push(Repair::Remove { name: name.clone() });
        }
    }

    let mut snapshots: Vec<(Zxid, &String)> = names
        .iter()
        .filter_map(|n| parse_snapshot_name(n).map(|z| (z, n)))
        .collect();
    snapshots.sort();
    let mut tree = DataTree::new();
    let mut sessions: BTreeMap<SessionId, i32> = BTreeMap::new();
    let mut snapshot_zxid = None;
    for (zxid, name) in snapshots.iter().rev() {
        match dir.read(name).and_then(|b| decode_snapshot(&b)) {
            Ok(snap) if snap.zxid == *zxid => {
                tree = snap.tree;
                sessions = snap.sessions.into_iter().collect();
                snapshot_zxid = Some(*zxid);
                break;
            }
            Ok(snap) => warnings.push(format!(
                "{name}: holds zxid {:#x}, not the one its name says; skipped",
                snap.zxid
            )),
            Err(e) => warnings.push(format!("{name}: {e}; skipped, trying an older one")),
        }
    }
    let base = snapshot_zxid.unwrap_or(0);

    let mut segments: Vec<(Zxid, &String)> = names
        .iter()
        .filter_map(|n| parse_segment_name(n).map(|z| (z, n)))
        .collect();
    segments.sort();
    // Segments wholly at or below the snapshot are not needed: skip every segment whose
    // successor starts at or before base + 1.
    let start = segments
        .iter()
        .rposition(|(z, _)| *z <= base.saturating_add(1))
        .unwrap_or(0);
    let needed = &segments[start.min(segments.len())..];

    let mut last = base;
    let mut replayed = 0u64;
    let mut next_segment = None;
    for (i, (first_zxid, name)) in needed.iter().enumerate() {
        let is_last = i + 1 == needed.len();
        let bytes = dir.read(name)?;
        let scan = scan_segment(&bytes, Some(*first_zxid));
        for rec in &scan.records {
            let zxid = rec.txn.zxid;
            if zxid <= last {
                if zxid > base {
                    return Err(StorageError::CorruptLog {
                        file: (*name).clone(),
                        offset: rec.offset,
                        why: format!("zxid {zxid:#x} repeats one of an earlier segment"),
                    });
                }
                continue;
            }
            if !zxid_follows(last, zxid) {
                return Err(StorageError::ZxidGap {
                    file: (*name).clone(),
                    offset: rec.offset,
                    after: last,
                    found: zxid,
                });
            }
            match &rec.txn.body {
                TxnBody::CreateSession { timeout_ms } => {
                    sessions.insert(rec.txn.session, *timeout_ms);
                }
                TxnBody::CloseSession { .. } => {
                    sessions.remove(&rec.txn.session);
                }
                _ => {}
            }
            tree.apply(&rec.txn);
            last = zxid;
            replayed += 1;
        }
        match &scan.tail {
            SegmentTail::Clean => {}
            SegmentTail::Corrupt { offset, why } => {
                return Err(StorageError::CorruptLog {
                    file: (*name).clone(),
                    offset: *offset,
                    why: why.clone(),
                });
            }
            SegmentTail::Torn { offset, why } if !is_last => {
                return Err(StorageError::CorruptLog {
                    file: (*name).clone(),
                    offset: *offset,
                    why: format!("{why}, in a segment that later segments follow"),
                });
            }
            SegmentTail::Torn { offset, why } => {
                warnings.push(format!(
                    "{name}: torn tail at offset {offset} ({why}); truncated, {} bytes dropped",
                    bytes.len() as u64 - offset
                ));
                repairs.push(Repair::Truncate {
                    name: (*name).clone(),
                    len: *offset,
                });
            }
        }
        if !is_last && scan.records.is_empty() && scan.tail == SegmentTail::Clean {
            // A segment created for a batch that never reached the disk holds nothing, but
            // its name would stop the writer from ever creating a segment for that zxid.
            warnings.push(format!("{name}: segment without records; removed"));
            repairs.push(Repair::Remove {
                name: (*name).clone(),
            });
        }
        if is_last {
            // Appending here keeps the segment's zxids consecutive only if its records end
            // at the state's last zxid, or it has none and its name is the next zxid.
            let continues = match scan.last_zxid() {
                Some(z) => z == last,
                None => zxid_follows(last, *first_zxid),
            };
            if continues {
                next_segment = Some(SegmentPosition {
                    name: (*name).clone(),
                    offset: scan.valid_len,
                });
            } else if scan.records.is_empty() {
                warnings.push(format!(
                    "{name}: empty segment not following zxid {last:#x}; removed"
                ));
                repairs.retain(|r| !matches!(r, Repair::Truncate { name: n, .. } if n == *name));
                repairs.push(Repair::Remove {
                    name: (*name).clone(),
                });
            }
        }
    }
    debug_assert!(tree.last_zxid() <= last || snapshot_zxid.is_none());
    let recovered = Recovered {
        tree,
        sessions: sessions.into_iter().collect(),
        last_zxid: last,
        snapshot_zxid,
        next_segment,
        replayed_txns: replayed,
        warnings,
    };
    Ok((recovered, repairs))
}
