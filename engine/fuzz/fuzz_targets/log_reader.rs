//! Feeds arbitrary bytes to the log segment scan and to the snapshot decoder. Neither may
//! panic; every record the scan reports valid must decode again from its offset, the
//! offsets must tile the valid prefix, and a snapshot that decodes must hold a tree whose
//! indexes are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkeeper_engine::storage::{decode_record, decode_snapshot, scan_segment};

fuzz_target!(|data: &[u8]| {
    for first in [None, Some(1)] {
        let scan = scan_segment(data, first);
        let mut offset = 0u64;
        for r in &scan.records {
            assert_eq!(r.offset, offset);
            let (rec, used) =
                decode_record(&data[r.offset as usize..]).expect("valid record re-reads");
            assert_eq!(rec.txn, r.txn);
            offset += used as u64;
        }
        assert_eq!(scan.valid_len, offset);
    }
    if let Ok(snap) = decode_snapshot(data) {
        snap.tree
            .check_invariants()
            .expect("decoded tree is consistent");
    }
});
