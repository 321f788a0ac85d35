//! The inspector over a real directory: sound files report 0, a flipped byte in the
//! middle of the log or in a snapshot reports corruption.

use std::path::PathBuf;

use ringkeeper_engine::storage::{
    block_on, encode_snapshot, recover, scan_segment, segment_name, snapshot_name, write_snapshot,
    FsDir, LogWriter, SegmentPolicy, StorageDir,
};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};
use ringkeeper_engine::Acl;
use ringkeeper_tools::inspect::{self, Verdict};

fn temp_dir(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("rk-inspect-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

fn populate(root: &PathBuf) -> DataTree {
    let mut dir = FsDir::create(root).unwrap();
    let mut log = LogWriter::new(SegmentPolicy::default(), true, None);
    let mut tree = DataTree::new();
    let txns: Vec<Txn> = (1..=20)
        .map(|z| Txn {
            zxid: z,
            time_ms: 1_000 * z,
            session: 0,
            cxid: z as i32,
            body: TxnBody::Create {
                path: format!("/n{z}"),
                data: Some(vec![1; 10]),
                acl: Acl::open_unsafe(),
                kind: NodeKind::Persistent,
                parent_cversion: -1,
            },
        })
        .collect();
    for chunk in txns.chunks(5) {
        for t in chunk {
            tree.apply(t);
        }
        block_on(log.append_txns(&mut dir, chunk)).unwrap();
        if chunk[0].zxid == 6 {
            let z = chunk[4].zxid;
            write_snapshot(&mut dir, z, &encode_snapshot(&tree, &[(0x77, 5000)], z)).unwrap();
        }
    }
    tree
}

fn run(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<Verdict>) -> (Verdict, String) {
    let mut out = Vec::new();
    let v = f(&mut out).unwrap();
    (v, String::from_utf8(out).unwrap())
}

#[test]
fn sound_directory_reads_back_and_reports_zero() {
    let root = temp_dir("sound");
    let tree = populate(&root);
    let seg = root.join(segment_name(1));
    let (v, text) = run(|o| inspect::log(&seg, o));
    assert_eq!(v, Verdict::Sound, "{text}");
    assert!(
        text.contains("20 records") && text.contains("create /n7"),
        "{text}"
    );
    let snap = root.join(snapshot_name(10));
    let (v, text) = run(|o| inspect::snapshot(&snap, true, o));
    assert_eq!(v, Verdict::Sound, "{text}");
    assert!(
        text.contains("zxid=0xa") && text.contains("/n10 ") && !text.contains("/n11 "),
        "{text}"
    );
    let (v, text) = run(|o| inspect::dir(&root, o));
    assert_eq!(v, Verdict::Sound, "{text}");
    assert!(
        text.contains("last zxid: 0x14") && text.contains(&format!("{:#018x}", tree.digest())),
        "{text}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn corruption_is_reported_with_nonzero_exit() {
    let root = temp_dir("bad");
    populate(&root);
    let seg = root.join(segment_name(1));
    let mut bytes = std::fs::read(&seg).unwrap();
    let third = scan_segment(&bytes, Some(1)).records[2].offset as usize;
    bytes[third + 40] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let (v, text) = run(|o| inspect::log(&seg, o));
    assert_eq!(v, Verdict::Damaged, "{text}");
    assert!(
        text.contains(&format!("CORRUPT at offset {third}")),
        "{text}"
    );
    let (v, text) = run(|o| inspect::dir(&root, o));
    assert_eq!(v, Verdict::Damaged, "{text}");
    assert!(text.contains(&segment_name(1)), "{text}");
    // The refusal changed nothing; a damaged snapshot reports 1 as well.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
    let snap = root.join(snapshot_name(10));
    let mut s = std::fs::read(&snap).unwrap();
    s[60] ^= 1;
    std::fs::write(&snap, &s).unwrap();
    assert_eq!(
        run(|o| inspect::snapshot(&snap, false, o)).0,
        Verdict::Damaged
    );
    assert!(recover(&mut FsDir::open(&root).unwrap()).is_err());
    assert!(FsDir::open(&root)
        .unwrap()
        .list()
        .unwrap()
        .contains(&snapshot_name(10)));
    std::fs::remove_dir_all(&root).unwrap();
}
