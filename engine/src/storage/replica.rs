//! What an ensemble member needs from its data directory beyond standalone recovery.
//!
//! A replicated server must not apply its whole log at startup: the tail after the last
//! snapshot may hold proposals that were never committed, which the new leader may tell it
//! to cut (Zab's TRUNC). So it starts from the snapshot alone and hands the tail to the
//! protocol, which applies each entry only once it is known to be committed. The protocol
//! also cuts the log ([`truncate_after`]) and replaces the whole state with the leader's
//! snapshot ([`replace_with_snapshot`]). Every change here is synced before it returns.

use super::dir::StorageDir;
use super::error::StorageError;
use super::recover::SegmentPosition;
use super::segment::{parse_segment_name, scan_segment};
use super::snapshot::{decode_snapshot, parse_snapshot_name, write_snapshot};
use crate::tree::DataTree;
use crate::txn::Txn;
use crate::types::{SessionId, Zxid};

/// The starting point of a replicated server.
pub struct ReplicaStart {
    /// The newest valid snapshot's tree (empty without one).
    pub tree: DataTree,
    pub sessions: Vec<(SessionId, i32)>,
    /// The snapshot's zxid (0 without one): what is known to be applied.
    pub snapshot_zxid: Zxid,
    /// Logged transactions after the snapshot, in zxid order, not yet applied.
    pub tail: Vec<Txn>,
}

fn sorted_segments(dir: &dyn StorageDir) -> Result<Vec<(Zxid, String)>, StorageError> {
    let mut segments: Vec<(Zxid, String)> = dir
        .list()?
        .into_iter()
        .filter_map(|n| parse_segment_name(&n).map(|z| (z, n)))
        .collect();
    segments.sort();
    Ok(segments)
}

/// Loads the snapshot and the log tail after it. Call it after `recover` has repaired the
/// directory (torn tails cut), which also checked that the log is continuous.
pub fn load_for_replication(dir: &dyn StorageDir) -> Result<ReplicaStart, StorageError> {
    let mut snapshots: Vec<(Zxid, String)> = dir
        .list()?
        .into_iter()
        .filter_map(|n| parse_snapshot_name(&n).map(|z| (z, n)))
        .collect();
    snapshots.sort();
    let mut start = ReplicaStart {
        tree: DataTree::new(),
        sessions: Vec::new(),
        snapshot_zxid: 0,
        tail: Vec::new(),
    };
    // The same choice as recovery: the newest snapshot that decodes and names its zxid.
    for (zxid, name) in snapshots.iter().rev() {
        if let Ok(snap) = dir.read(name).and_then(|b| decode_snapshot(&b)) {
            if snap.zxid == *zxid {
                start.tree = snap.tree;
                start.sessions = snap.sessions;
                start.snapshot_zxid = *zxid;
                break;
            }
        }
    }
    for (first, name) in sorted_segments(dir)? {
        let bytes = dir.read(&name)?;
        let scan = scan_segment(&bytes, Some(first));
        for rec in scan.records {
            let last = start.tail.last().map_or(start.snapshot_zxid, |t| t.zxid);
            if rec.txn.zxid > last {
                start.tail.push(rec.txn);
            }
        }
    }
    Ok(start)
}

/// Cuts every logged transaction after `after`, durably. Returns where the log continues:
/// the segment and offset after the last kept record, or None when no segment keeps
/// anything (the next append starts a new segment).
pub fn truncate_after(
    dir: &mut dyn StorageDir,
    after: Zxid,
) -> Result<Option<SegmentPosition>, StorageError> {
    let mut position = None;
    let mut removed = false;
    for (first, name) in sorted_segments(dir)? {
        if first > after {
            dir.remove(&name)?;
            removed = true;
            continue;
        }
        let bytes = dir.read(&name)?;
        let scan = scan_segment(&bytes, Some(first));
        let keep = scan
            .records
            .iter()
            .take_while(|r| r.txn.zxid <= after)
            .last()
            .map_or(0, |r| r.offset + r.len);
        // Bytes past the kept records must go, not just be overwritten later: a shorter
        // new record would otherwise leave an old one readable behind it.
        if keep < bytes.len() as u64 {
            dir.set_len(&name, keep)?;
            dir.sync(&name)?;
        }
        if keep == 0 {
            dir.remove(&name)?;
            removed = true;
            position = None;
        } else {
            position = Some(SegmentPosition { name, offset: keep });
        }
    }
    if removed {
        dir.sync_dir()?;
    }
    Ok(position)
}

/// Replaces the state with a leader's snapshot: writes it durably, then removes every log
/// segment (what they hold is either in the snapshot or from a history the leader
/// replaced). The snapshot is written first, so a crash in between leaves it to recovery.
pub fn replace_with_snapshot(
    dir: &mut dyn StorageDir,
    zxid: Zxid,
    bytes: &[u8],
) -> Result<(), StorageError> {
    write_snapshot(dir, zxid, bytes)?;
    // Newer snapshots than this one can only come from a history that was cut.
    for name in dir.list()? {
        let stale_snapshot = parse_snapshot_name(&name).is_some_and(|z| z > zxid);
        if parse_segment_name(&name).is_some() || stale_snapshot {
            dir.remove(&name)?;
        }
    }
    dir.sync_dir()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{encode_batch, encode_snapshot, recover, segment_name, SimDir};
    use crate::txn::TxnBody;

    fn txn(zxid: Zxid) -> Txn {
        Txn {
            zxid,
            time_ms: 1,
            session: 0,
            cxid: 0,
            body: TxnBody::Create {
                path: format!("/n{zxid:x}"),
                data: Some(vec![1]),
                acl: vec![crate::Acl::new(31, crate::Id::new("world", "anyone"))],
                kind: crate::txn::NodeKind::Persistent,
                parent_cversion: 1,
            },
        }
    }

    fn segment(dir: &mut SimDir, zxids: &[Zxid]) {
        let txns: Vec<Txn> = zxids.iter().map(|z| txn(*z)).collect();
        let mut bytes = Vec::new();
        encode_batch(&txns, &mut bytes);
        dir.write_file_synced(&segment_name(zxids[0]), &bytes)
            .unwrap();
    }

    const E1: Zxid = 1 << 32;
    const E2: Zxid = 2 << 32;

    #[test]
    fn tail_after_snapshot_and_truncation_across_segments() {
        let mut dir = SimDir::new();
        segment(&mut dir, &[E1 + 1, E1 + 2, E1 + 3]);
        segment(&mut dir, &[E1 + 4, E1 + 5]);
        segment(&mut dir, &[E2 + 1, E2 + 2]);
        let tree = DataTree::new();
        let snap = encode_snapshot(&tree, &[], E1 + 2);
        write_snapshot(&mut dir, E1 + 2, &snap).unwrap();
        let start = load_for_replication(&dir).unwrap();
        assert_eq!(start.snapshot_zxid, E1 + 2);
        let tail: Vec<Zxid> = start.tail.iter().map(|t| t.zxid).collect();
        assert_eq!(tail, vec![E1 + 3, E1 + 4, E1 + 5, E2 + 1, E2 + 2]);

        let pos = truncate_after(&mut dir, E1 + 4).unwrap().unwrap();
        assert_eq!(pos.name, segment_name(E1 + 4));
        let start = load_for_replication(&dir).unwrap();
        let tail: Vec<Zxid> = start.tail.iter().map(|t| t.zxid).collect();
        assert_eq!(tail, vec![E1 + 3, E1 + 4]);
        // Recovery agrees with what was kept.
        assert_eq!(recover(&mut dir).unwrap().last_zxid, E1 + 4);

        // Cutting before a segment's first record removes that segment.
        let pos = truncate_after(&mut dir, E1 + 3).unwrap().unwrap();
        assert_eq!(pos.name, segment_name(E1 + 1));
        assert!(!dir.list().unwrap().contains(&segment_name(E1 + 4)));
        assert_eq!(truncate_after(&mut dir, 0).unwrap(), None);
        assert!(load_for_replication(&dir).unwrap().tail.is_empty());
    }

    #[test]
    fn a_leader_snapshot_replaces_the_log() {
        let mut dir = SimDir::new();
        segment(&mut dir, &[E1 + 1, E1 + 2]);
        let mut tree = DataTree::new();
        tree.apply(&txn(E2 + 7));
        let snap = encode_snapshot(&tree, &[(5, 4000)], E2 + 7);
        replace_with_snapshot(&mut dir, E2 + 7, &snap).unwrap();
        let start = load_for_replication(&dir).unwrap();
        assert_eq!(start.snapshot_zxid, E2 + 7);
        assert!(start.tail.is_empty());
        assert_eq!(start.sessions, vec![(5, 4000)]);
        assert!(start.tree.get_data_or_null("/n200000007").is_some());
        let rec = recover(&mut dir).unwrap();
        assert_eq!(rec.last_zxid, E2 + 7);
    }
}
