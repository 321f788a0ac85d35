//! Tests of the storage formats, the scan's classification, recovery, purge, and a seeded
//! crash simulation over [`SimDir`].

mod crash;
mod golden;
mod workload;

use super::*;
use crate::jute::Encode;
use crate::tree::DataTree;
use crate::txn::{NodeKind, Txn, TxnBody};
use crate::types::Acl;
use workload::Workload;

fn txn(zxid: i64, body: TxnBody) -> Txn {
    Txn {
        zxid,
        time_ms: 1_700_000_000_000 + zxid,
        session: 5,
        cxid: zxid as i32,
        body,
    }
}

fn create(path: &str) -> TxnBody {
    TxnBody::Create {
        path: path.into(),
        data: Some(vec![7; 40]),
        acl: Acl::open_unsafe(),
        kind: NodeKind::Persistent,
        parent_cversion: -1,
    }
}

/// Records for zxids `from..=to`, one batch per `batch` txns.
fn records(from: i64, to: i64, batch: usize) -> (Vec<Txn>, Vec<u8>) {
    let txns: Vec<Txn> = (from..=to)
        .map(|z| txn(z, create(&format!("/n{z}"))))
        .collect();
    let mut out = Vec::new();
    for chunk in txns.chunks(batch) {
        encode_batch(chunk, &mut out);
    }
    (txns, out)
}

fn scanned_txns(scan: &ScanOutcome) -> Vec<Txn> {
    scan.records.iter().map(|r| r.txn.clone()).collect()
}

#[test]
fn record_header_layout_is_as_documented() {
    let t = txn(0x0102_0304_0506, TxnBody::Delete { path: "/a".into() });
    let mut out = Vec::new();
    encode_record(&t, 0x0102_0304_0500, &mut out);
    let payload = t.to_bytes();
    assert_eq!(out.len(), RECORD_HEADER_LEN + payload.len());
    assert_eq!(&out[0..4], b"RKL1");
    assert_eq!(out[4], RECORD_VERSION);
    assert_eq!(out[5], RecordType::Txn as u8);
    assert_eq!(&out[6..8], &[0, 0]);
    assert_eq!(&out[8..12], &(payload.len() as u32).to_le_bytes());
    assert_eq!(&out[16..24], &0x0102_0304_0506i64.to_le_bytes());
    assert_eq!(&out[24..32], &0x0102_0304_0500i64.to_le_bytes());
    let mut crc_input = out[..12].to_vec();
    crc_input.extend_from_slice(&out[16..]);
    assert_eq!(&out[12..16], &crc32c::crc32c(&crc_input).to_le_bytes());
    assert_eq!(&out[32..], &payload[..]);
    let (rec, used) = decode_record(&out).unwrap();
    assert_eq!(
        (rec.txn, rec.batch_first_zxid, used),
        (t, 0x0102_0304_0500, out.len())
    );
}

#[test]
fn names_sort_as_zxids_and_parse_back() {
    let zxids = [0i64, 1, 0xff, 0x1_0000_0000, 0x7fff_ffff_ffff_ffff];
    let names: Vec<String> = zxids.iter().map(|z| segment_name(*z)).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for z in zxids {
        assert_eq!(parse_segment_name(&segment_name(z)), Some(z));
        assert_eq!(parse_snapshot_name(&snapshot_name(z)), Some(z));
        assert_eq!(parse_snapshot_name(&snapshot_temp_name(z)), None);
    }
    for bad in [
        "log.1",
        "log.000000000000000G",
        "log.00000000000000FF",
        "snapshot.x",
    ] {
        assert_eq!(parse_segment_name(bad), None);
    }
}

#[test]
fn scan_reads_a_preallocated_segment_to_its_clean_end() {
    let (txns, mut bytes) = records(1, 20, 4);
    let valid = bytes.len() as u64;
    bytes.resize(bytes.len() + 4096, 0);
    let scan = scan_segment(&bytes, Some(1));
    assert_eq!(scan.tail, SegmentTail::Clean);
    assert_eq!(scan.valid_len, valid);
    assert_eq!(scanned_txns(&scan), txns);
}

#[test]
fn torn_last_record_is_a_torn_tail_at_its_offset() {
    let (txns, bytes) = records(1, 6, 3);
    let last_start = scan_segment(&bytes, Some(1)).records[5].offset as usize;
    // Every cut inside the last record, with the preallocated zeros after it or not.
    for cut in last_start + 1..bytes.len() {
        for zeros in [0, 100] {
            let mut torn = bytes[..cut].to_vec();
            torn.resize(cut + zeros, 0);
            let scan = scan_segment(&torn, Some(1));
            assert!(
                matches!(scan.tail, SegmentTail::Torn { offset, .. } if offset == last_start as u64),
                "cut at {cut}: {:?}",
                scan.tail
            );
            assert_eq!(scanned_txns(&scan), txns[..5]);
        }
    }
    // Garbage where the last record should be is torn too.
    let mut garbage = bytes[..last_start].to_vec();
    garbage.extend_from_slice(&[0xa5; 77]);
    assert!(matches!(
        scan_segment(&garbage, Some(1)).tail,
        SegmentTail::Torn { .. }
    ));
}

#[test]
fn out_of_order_sectors_of_the_last_batch_are_still_a_torn_tail() {
    // Batches of 4: zxids 1-4, 5-8. Zero the middle of the last batch, keep its end.
    let (_, bytes) = records(1, 8, 4);
    let scan = scan_segment(&bytes, Some(1));
    let r6 = &scan.records[5];
    let mut torn = bytes.clone();
    torn[r6.offset as usize..(r6.offset + r6.len) as usize].fill(0);
    let scan = scan_segment(&torn, Some(1));
    assert!(matches!(scan.tail, SegmentTail::Torn { offset, .. } if offset == r6.offset));
    assert_eq!(scan.last_zxid(), Some(5));
    // Even the batch's first record missing is fine when its later ones survive.
    let r5 = scan.records[4].clone();
    let mut torn = bytes.clone();
    torn[r5.offset as usize..(r5.offset + r5.len) as usize].fill(0);
    let scan = scan_segment(&torn, Some(1));
    assert!(matches!(scan.tail, SegmentTail::Torn { offset, .. } if offset == r5.offset));
    assert_eq!(scan.last_zxid(), Some(4));
}

#[test]
fn bad_checksum_followed_by_a_later_batch_is_corruption() {
    let (_, bytes) = records(1, 12, 4);
    let scan = scan_segment(&bytes, Some(1));
    // Flip one payload byte of zxid 3 (first batch); batch 9-12 still follows intact.
    let r3 = &scan.records[2];
    let mut bad = bytes.clone();
    bad[r3.offset as usize + RECORD_HEADER_LEN + 5] ^= 0x40;
    let scan = scan_segment(&bad, Some(1));
    match &scan.tail {
        SegmentTail::Corrupt { offset, why } => {
            assert_eq!(*offset, r3.offset);
            assert!(why.contains("checksum"), "{why}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(scan.last_zxid(), Some(2));
    // A zeroed sector in the middle of durable data is corruption too.
    let mut zeroed = bytes.clone();
    zeroed[r3.offset as usize..r3.offset as usize + 32].fill(0);
    assert!(matches!(
        scan_segment(&zeroed, Some(1)).tail,
        SegmentTail::Corrupt { .. }
    ));
}

#[test]
fn zxid_gaps_and_name_mismatches_are_corruption() {
    let mut bytes = Vec::new();
    encode_batch(&[txn(1, create("/a")), txn(2, create("/b"))], &mut bytes);
    encode_batch(&[txn(4, create("/c"))], &mut bytes);
    let scan = scan_segment(&bytes, Some(1));
    assert!(matches!(&scan.tail, SegmentTail::Corrupt { why, .. } if why.contains("0x4")));
    assert_eq!(scan.last_zxid(), Some(2));
    let (_, bytes) = records(1, 3, 3);
    assert!(matches!(
        scan_segment(&bytes, Some(2)).tail,
        SegmentTail::Corrupt { .. }
    ));
    // A new epoch may start at counter 1.
    let mut bytes = Vec::new();
    encode_batch(&[txn(7, create("/a"))], &mut bytes);
    encode_batch(&[txn((1 << 32) + 1, create("/b"))], &mut bytes);
    assert_eq!(scan_segment(&bytes, Some(7)).tail, SegmentTail::Clean);
}

#[test]
fn scan_never_panics_on_seeded_garbage() {
    let mut rng = SimRng::new(0x5eed_0001);
    let (_, valid) = records(1, 30, 5);
    for round in 0..3_000 {
        let mut bytes = if round % 3 == 0 {
            (0..rng.below(600)).map(|_| rng.next_u64() as u8).collect()
        } else {
            valid.clone()
        };
        for _ in 0..rng.below(6) {
            if !bytes.is_empty() {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = rng.next_u64() as u8;
            }
        }
        if rng.chance(3) {
            bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize);
        }
        let first = if rng.chance(2) { Some(1) } else { None };
        let scan = scan_segment(&bytes, first);
        // Whatever is reported valid re-reads identically from its offsets.
        let mut offset = 0;
        for r in &scan.records {
            assert_eq!(r.offset, offset);
            let (rec, used) = decode_record(&bytes[r.offset as usize..]).unwrap();
            assert_eq!(rec.txn, r.txn);
            offset += used as u64;
        }
        assert_eq!(scan.valid_len, offset);
    }
}

fn sample_state() -> (DataTree, Vec<(i64, i32)>, i64) {
    let mut w = Workload::new(0xabc);
    let mut tree = DataTree::new();
    let mut zxid = 0;
    for _ in 0..300 {
        zxid += 1;
        let t = w.next_txn(&tree, zxid);
        tree.apply(&t);
        w.observe(&t);
    }
    let sessions = w.sessions();
    (tree, sessions, zxid)
}

#[test]
fn snapshot_round_trips_with_the_same_digest() {
    let (tree, sessions, zxid) = sample_state();
    let bytes = encode_snapshot(&tree, &sessions, zxid);
    let header = read_snapshot_header(&bytes).unwrap();
    assert_eq!(&bytes[0..4], b"RKS1");
    assert_eq!(header.zxid.get(), zxid);
    assert_eq!(header.node_count.get(), tree.stored_node_count() as u64);
    let snap = decode_snapshot(&bytes).unwrap();
    assert_eq!(snap.zxid, zxid);
    assert_eq!(snap.tree.digest(), tree.digest());
    assert_eq!(snap.sessions, sessions);
    snap.tree.check_invariants().unwrap();
}

#[test]
fn snapshot_damage_is_refused_never_panics() {
    let (tree, sessions, zxid) = sample_state();
    let good = encode_snapshot(&tree, &sessions, zxid);
    let mut rng = SimRng::new(77);
    for _ in 0..500 {
        let mut bytes = good.clone();
        let i = rng.below(bytes.len() as u64) as usize;
        bytes[i] ^= 1 << rng.below(8);
        assert!(
            decode_snapshot(&bytes).is_err(),
            "flip at {i} went unnoticed"
        );
    }
    for cut in [0, 10, 48, good.len() / 2, good.len() - 1] {
        assert!(decode_snapshot(&good[..cut]).is_err());
    }
    // Garbage with a valid checksum and length still never panics.
    for round in 0..2_000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(4) {
            let i = SNAPSHOT_HEADER_LEN + rng.below((bytes.len() - 52) as u64) as usize;
            bytes[i] = rng.next_u64() as u8;
        }
        if round % 2 == 0 {
            let end = bytes.len() - 4;
            bytes.truncate(
                SNAPSHOT_HEADER_LEN + rng.below((end - SNAPSHOT_HEADER_LEN) as u64) as usize,
            );
            let len = bytes.len() as u64 + 4;
            bytes[40..48].copy_from_slice(&len.to_le_bytes());
        }
        let end = bytes.len() - 4;
        let crc = crc32c::crc32c(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
        if let Ok(snap) = decode_snapshot(&bytes) {
            snap.tree.check_invariants().unwrap();
        }
    }
}

/// Appends txns `from..=to` in batches of 4 through the reference commit path.
fn append(
    dir: &mut SimDir,
    log: &mut LogWriter,
    w: &mut Workload,
    tree: &mut DataTree,
    from: i64,
    to: i64,
) {
    let mut batch = Vec::new();
    for zxid in from..=to {
        let t = w.next_txn(tree, zxid);
        tree.apply(&t);
        w.observe(&t);
        batch.push(t);
        if batch.len() == 4 || zxid == to {
            block_on(log.append_txns(dir, &batch)).unwrap();
            batch.clear();
        }
    }
}

fn small_policy() -> SegmentPolicy {
    SegmentPolicy {
        segment_bytes_max: 2048,
        preallocate_bytes: 4096,
    }
}

#[test]
fn snapshot_and_log_replay_gives_the_same_tree() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(1);
    let mut tree = DataTree::new();
    append(&mut dir, &mut log, &mut w, &mut tree, 1, 150);
    write_snapshot(&mut dir, 150, &encode_snapshot(&tree, &w.sessions(), 150)).unwrap();
    append(&mut dir, &mut log, &mut w, &mut tree, 151, 400);
    let segments = dir
        .list()
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("log."))
        .count();
    assert!(
        segments > 3,
        "the test should span several segments, has {segments}"
    );

    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.snapshot_zxid, Some(150));
    assert_eq!(rec.last_zxid, 400);
    assert_eq!(rec.replayed_txns, 250);
    assert_eq!(rec.tree.digest(), tree.digest());
    assert_eq!(rec.sessions, w.sessions());
    assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
    rec.tree.check_invariants().unwrap();

    // The same from the log alone, with the snapshot gone.
    dir.remove(&snapshot_name(150)).unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!((rec.snapshot_zxid, rec.replayed_txns), (None, 400));
    assert_eq!(rec.tree.digest(), tree.digest());

    // Appending where recovery says continues the history.
    let mut log = LogWriter::new(small_policy(), true, rec.next_segment.clone());
    append(&mut dir, &mut log, &mut w, &mut tree, 401, 420);
    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.last_zxid, 420);
    assert_eq!(rec.tree.digest(), tree.digest());
}

#[test]
fn recovery_truncates_a_torn_tail_and_names_file_and_offset() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(2);
    let mut tree = DataTree::new();
    append(&mut dir, &mut log, &mut w, &mut tree, 1, 10);
    let pos = log.position().cloned().unwrap();
    // Half a record after the durable data, as a crash mid-write leaves it.
    let mut extra = Vec::new();
    encode_record(&txn(11, create("/torn")), 11, &mut extra);
    dir.write_at(&pos.name, pos.offset, &extra[..extra.len() / 2])
        .unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.last_zxid, 10);
    assert_eq!(rec.tree.digest(), tree.digest());
    let warning = rec.warnings.join("\n");
    assert!(
        warning.contains(&pos.name) && warning.contains(&format!("offset {}", pos.offset)),
        "{warning}"
    );
    assert_eq!(rec.next_segment, Some(pos.clone()));
    assert_eq!(dir.read(&pos.name).unwrap().len() as u64, pos.offset);
    // A second recovery finds nothing to repair.
    assert!(recover(&mut dir).unwrap().warnings.is_empty());
}

#[test]
fn recovery_refuses_mid_log_corruption_with_file_and_offset() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(3);
    let mut tree = DataTree::new();
    append(&mut dir, &mut log, &mut w, &mut tree, 1, 60);
    let first = segment_name(1);
    let mut bytes = dir.read(&first).unwrap();
    let scan = scan_segment(&bytes, Some(1));
    let victim = scan.records[2].offset;
    bytes[victim as usize + RECORD_HEADER_LEN + 3] ^= 0xff;
    dir.write_file_synced(&first, &bytes).unwrap();
    let before = dir.list().unwrap();
    match inspect(&dir) {
        Err(StorageError::CorruptLog { file, offset, .. }) => {
            assert_eq!((file.as_str(), offset), (first.as_str(), victim));
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    let err = recover(&mut dir).unwrap_err();
    assert!(err.is_corruption());
    assert_eq!(
        dir.list().unwrap(),
        before,
        "a refused recovery changes nothing"
    );
    assert_eq!(dir.read(&first).unwrap(), bytes);
}

#[test]
fn recovery_refuses_a_missing_segment() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(4);
    let mut tree = DataTree::new();
    append(&mut dir, &mut log, &mut w, &mut tree, 1, 200);
    let segments: Vec<String> = dir
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("log."))
        .collect();
    dir.remove(&segments[1]).unwrap();
    match recover(&mut dir) {
        Err(StorageError::ZxidGap { file, .. }) => assert_eq!(file, segments[2]),
        other => panic!("expected a gap, got {other:?}"),
    }
    // A torn tail in a segment that later ones follow is damage, not a crash.
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    append(
        &mut dir,
        &mut log,
        &mut Workload::new(4),
        &mut DataTree::new(),
        1,
        200,
    );
    let mut bytes = dir.read(&segments[0]).unwrap();
    let cut = scan_segment(&bytes, None).valid_len as usize - 10;
    bytes[cut..].fill(0);
    dir.write_file_synced(&segments[0], &bytes).unwrap();
    assert!(recover(&mut dir).unwrap_err().is_corruption());
}

#[test]
fn recovery_falls_back_to_an_older_snapshot() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(5);
    let mut tree = DataTree::new();
    append(&mut dir, &mut log, &mut w, &mut tree, 1, 50);
    write_snapshot(&mut dir, 50, &encode_snapshot(&tree, &w.sessions(), 50)).unwrap();
    append(&mut dir, &mut log, &mut w, &mut tree, 51, 100);
    let mut newer = encode_snapshot(&tree, &w.sessions(), 100);
    append(&mut dir, &mut log, &mut w, &mut tree, 101, 120);
    newer[60] ^= 1;
    write_snapshot(&mut dir, 100, &newer).unwrap();
    dir.write_file_synced(&snapshot_temp_name(120), b"half a snapshot")
        .unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.snapshot_zxid, Some(50));
    assert_eq!(rec.last_zxid, 120);
    assert_eq!(rec.tree.digest(), tree.digest());
    assert!(
        rec.warnings.iter().any(|w| w.contains(&snapshot_name(100))),
        "{:?}",
        rec.warnings
    );
    assert!(!dir.list().unwrap().contains(&snapshot_temp_name(120)));
}

#[test]
fn purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
    let names: Vec<String> = [
        segment_name(1),
        segment_name(40),
        segment_name(90),
        segment_name(150),
        snapshot_name(0),
        snapshot_name(50),
        snapshot_name(100),
        snapshot_name(160),
        snapshot_temp_name(170),
        "myid".to_string(),
    ]
    .into_iter()
    .collect();
    // Keep 100 and 160: 101 lives in the segment starting at 90.
    assert_eq!(
        purge_plan(&names, 2),
        vec![
            segment_name(1),
            segment_name(40),
            snapshot_name(0),
            snapshot_name(50)
        ]
    );
    // A segment starting exactly at snapshot + 1 is the first one needed.
    let exact = vec![
        segment_name(1),
        segment_name(51),
        snapshot_name(10),
        snapshot_name(50),
    ];
    assert_eq!(
        purge_plan(&exact, 1),
        vec![segment_name(1), snapshot_name(10)]
    );
    assert!(purge_plan(&names, 10).is_empty());
    assert_eq!(purge_plan(&names, 0), purge_plan(&names, 1));
}

#[test]
fn purged_directory_still_recovers_the_same_state() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(6);
    let mut tree = DataTree::new();
    for round in 1..=4i64 {
        append(
            &mut dir,
            &mut log,
            &mut w,
            &mut tree,
            (round - 1) * 100 + 1,
            round * 100,
        );
        let z = round * 100 - 37;
        // A snapshot between txns: rebuild the state at z from scratch for it.
        let rec_at = {
            let mut t = DataTree::new();
            let mut wl = Workload::new(6);
            for zxid in 1..=z {
                let x = wl.next_txn(&t, zxid);
                t.apply(&x);
                wl.observe(&x);
            }
            (t, wl.sessions())
        };
        write_snapshot(&mut dir, z, &encode_snapshot(&rec_at.0, &rec_at.1, z)).unwrap();
    }
    let names = dir.list().unwrap();
    let doomed = purge_plan(&names, 2);
    assert!(doomed.iter().any(|n| n.starts_with("log.")));
    for name in &doomed {
        dir.remove(name).unwrap();
    }
    dir.sync_dir().unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.snapshot_zxid, Some(363));
    assert_eq!(rec.tree.digest(), tree.digest());
    // The oldest kept snapshot alone must also be enough.
    dir.remove(&snapshot_name(363)).unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!((rec.snapshot_zxid, rec.last_zxid), (Some(263), 400));
    assert_eq!(rec.tree.digest(), tree.digest());
}

#[test]
fn fs_dir_round_trip() {
    let root = std::env::temp_dir().join(format!("rk-storage-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut dir = FsDir::create(&root).unwrap();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(7);
    let mut tree = DataTree::new();
    let mut batch = Vec::new();
    for zxid in 1..=30 {
        let t = w.next_txn(&tree, zxid);
        tree.apply(&t);
        w.observe(&t);
        batch.push(t);
    }
    block_on(log.append_txns(&mut dir, &batch)).unwrap();
    write_snapshot(&mut dir, 30, &encode_snapshot(&tree, &w.sessions(), 30)).unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!((rec.last_zxid, rec.tree.digest()), (30, tree.digest()));
    assert!(dir.read(&segment_name(1)).unwrap().len() >= 4096);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_empty_segment_is_continued_only_when_its_name_is_the_next_zxid() {
    let name = segment_name(0x2_0000_0001);
    let at_start = Some(SegmentPosition {
        name: name.clone(),
        offset: 0,
    });
    let log = LogWriter::new(small_policy(), true, at_start);
    // The first txn of the epoch the name promises goes into it, across the epoch change.
    assert_eq!(
        log.placement(0x2_0000_0001, 100),
        Placement::Append { name, offset: 0 }
    );
    // Anything else starts a segment named for itself.
    assert_eq!(
        log.placement(0x1_0000_0008, 100),
        Placement::Roll {
            name: segment_name(0x1_0000_0008),
            preallocate_bytes: 4096
        }
    );
    // A full segment rolls; a batch larger than a segment gets a segment its size.
    let full = LogWriter::new(
        small_policy(),
        true,
        Some(SegmentPosition {
            name: segment_name(1),
            offset: 2000,
        }),
    );
    assert_eq!(
        full.placement(90, 10_000),
        Placement::Roll {
            name: segment_name(90),
            preallocate_bytes: 10_000
        }
    );
}

#[test]
fn the_writer_continues_an_empty_segment_left_by_a_crash_at_an_epoch_change() {
    // The last segment of epoch 1 ends at zxid 0x1_0000_0005; the next one, named for the
    // first txn of epoch 2, was created and its first batch lost in a crash.
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut w = Workload::new(8);
    let mut tree = DataTree::new();
    append(
        &mut dir,
        &mut log,
        &mut w,
        &mut tree,
        0x1_0000_0001,
        0x1_0000_0005,
    );
    let next_epoch = 0x2_0000_0001;
    dir.set_len(&segment_name(next_epoch), 4096).unwrap();
    dir.sync_dir().unwrap();
    let rec = recover(&mut dir).unwrap();
    assert_eq!(
        rec.next_segment.as_ref().map(|p| p.name.clone()),
        Some(segment_name(next_epoch))
    );
    // The writer goes on in that segment rather than trying to create it again.
    let mut log = LogWriter::new(small_policy(), true, rec.next_segment);
    append(
        &mut dir,
        &mut log,
        &mut w,
        &mut tree,
        next_epoch,
        next_epoch + 3,
    );
    let rec = recover(&mut dir).unwrap();
    assert_eq!(rec.last_zxid, next_epoch + 3);
    assert_eq!(rec.tree.digest(), tree.digest());
}

#[test]
fn a_poisoned_writer_refuses_everything() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let batch = [txn(1, create("/a"))];
    dir.fail_after(0);
    assert!(block_on(log.append_txns(&mut dir, &batch)).is_err());
    for result in [
        block_on(log.append_txns(&mut dir, &batch)),
        block_on(log.truncate_after(&mut dir, 0)),
    ] {
        assert!(matches!(result, Err(StorageError::Poisoned)), "{result:?}");
    }
}

#[test]
fn a_batch_must_start_at_the_zxid_its_segment_is_named_for() {
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(small_policy(), true, None);
    let mut batch = Vec::new();
    encode_batch(&[txn(5, create("/a"))], &mut batch);
    let result = block_on(log.append(&mut dir, batch, 4));
    assert!(
        matches!(result, Err(StorageError::BadBatch { .. })),
        "{result:?}"
    );
    assert!(dir.list().unwrap().is_empty(), "nothing may be written");
}

#[test]
fn replaced_files_hold_the_old_or_the_new_content_after_any_crash() {
    let (old, new) = (b"old content".to_vec(), b"the new content".to_vec());
    let mut rng = SimRng::new(0x5eed_0002);
    for fail_at in 0..5 {
        for mode in [CrashMode::LoseUnsynced, CrashMode::Torn] {
            for _ in 0..20 {
                let mut dir = SimDir::new();
                replace_file(&mut dir, "epochs", &old).unwrap();
                dir.fail_after(fail_at);
                let finished = replace_file(&mut dir, "epochs", &new).is_ok();
                dir.fail_after(u64::MAX);
                dir.crash(mode, &mut rng);
                let found = dir.read("epochs").unwrap();
                assert!(
                    found == old || found == new,
                    "fail at {fail_at}, {mode:?}: {found:?}"
                );
                if finished {
                    assert_eq!(found, new, "a returned replace is durable");
                }
            }
        }
    }
}
