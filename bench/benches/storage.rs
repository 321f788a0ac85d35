//! Storage benchmarks: encoding a log batch (1, 16 and 256 txns), appending a batch to a
//! real segment file with its fdatasync (the cost a write pays for durability, per batch
//! size; the directory is RK_BENCH_DIR or the system temp dir), scanning a segment,
//! and snapshot encode, decode and full recovery for a large tree (1M znodes; set
//! RK_BENCH_SNAPSHOT_NODES to change it). Under `cargo bench -- --test` the tree has 10k
//! nodes so that the check stays fast.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringkeeper_engine::storage::{
    block_on, decode_snapshot, encode_batch, encode_snapshot, recover, scan_segment,
    write_snapshot, FsDir, LogWriter, SegmentPolicy, SimDir,
};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};
use ringkeeper_engine::Acl;
use std::hint::black_box;
use std::time::Duration;

/// A typical write: a create with 100 bytes of data under a two-level path.
fn create(zxid: i64) -> Txn {
    Txn {
        zxid,
        time_ms: 1_700_000_000_000 + zxid,
        session: 0x1_0000_0001,
        cxid: zxid as i32,
        body: TxnBody::Create {
            path: format!("/app/d{}/n{zxid:09}", zxid % 1000),
            data: Some(vec![0x5a; 100]),
            acl: Acl::open_unsafe(),
            kind: NodeKind::Persistent,
            parent_cversion: -1,
        },
    }
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_encode_batch");
    for size in [1usize, 16, 256] {
        let txns: Vec<Txn> = (1..=size as i64).map(create).collect();
        let mut buf = Vec::with_capacity(size * 256);
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("{size}_txns"), |b| {
            b.iter(|| {
                buf.clear();
                encode_batch(black_box(&txns), &mut buf);
                black_box(buf.len())
            })
        });
    }
    g.finish();
}

fn scan(c: &mut Criterion) {
    let txns: Vec<Txn> = (1..=20_000).map(create).collect();
    let mut segment = Vec::new();
    for chunk in txns.chunks(64) {
        encode_batch(chunk, &mut segment);
    }
    segment.resize(segment.len() + (1 << 20), 0);
    let mut g = c.benchmark_group("log_scan");
    g.throughput(Throughput::Bytes(segment.len() as u64));
    g.sample_size(20);
    g.bench_function("20k_records", |b| {
        b.iter(|| black_box(scan_segment(black_box(&segment), Some(1)).records.len()))
    });
    g.finish();
}

fn node_count() -> i64 {
    if std::env::args().any(|a| a == "--test") {
        return 10_000;
    }
    std::env::var("RK_BENCH_SNAPSHOT_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A tree of `n` znodes: 1000 parents with 100-byte children.
fn big_tree(n: i64) -> DataTree {
    let mut tree = DataTree::new();
    let mut zxid = 0;
    let mut apply = |tree: &mut DataTree, body: TxnBody| {
        zxid += 1;
        tree.apply(&Txn {
            zxid,
            time_ms: zxid,
            session: 0,
            cxid: 0,
            body,
        });
    };
    apply(&mut tree, create_body("/app".into()));
    for d in 0..1000 {
        apply(&mut tree, create_body(format!("/app/d{d}")));
    }
    for i in 0..n.saturating_sub(1001) {
        apply(
            &mut tree,
            create_body(format!("/app/d{}/n{i:09}", i % 1000)),
        );
    }
    tree
}

fn create_body(path: String) -> TxnBody {
    TxnBody::Create {
        path,
        data: Some(vec![0x5a; 100]),
        acl: Acl::open_unsafe(),
        kind: NodeKind::Persistent,
        parent_cversion: -1,
    }
}

fn snapshot(c: &mut Criterion) {
    let n = node_count();
    let tree = big_tree(n);
    let zxid = tree.last_zxid();
    let sessions: Vec<(i64, i32)> = (0..1000).map(|s| (s, 30_000)).collect();
    let bytes = encode_snapshot(&tree, &sessions, zxid);
    eprintln!(
        "snapshot of {} znodes: {} bytes",
        tree.stored_node_count(),
        bytes.len()
    );
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(format!("encode_{n}_znodes"), |b| {
        b.iter(|| black_box(encode_snapshot(&tree, &sessions, zxid).len()))
    });
    g.bench_function(format!("decode_{n}_znodes"), |b| {
        b.iter(|| black_box(decode_snapshot(&bytes).map(|s| s.tree.digest()).ok()))
    });
    // Startup: the snapshot plus 10k txns of log after it, through recovery.
    let mut dir = SimDir::new();
    if write_snapshot(&mut dir, zxid, &bytes).is_err() {
        return;
    }
    let mut log = LogWriter::new(SegmentPolicy::default(), true, None);
    let tail: Vec<Txn> = (zxid + 1..=zxid + 10_000).map(create).collect();
    for chunk in tail.chunks(100) {
        if block_on(log.append_txns(&mut dir, chunk)).is_err() {
            return;
        }
    }
    g.bench_function(format!("recover_{n}_znodes_plus_10k_txns"), |b| {
        b.iter_batched(
            || dir.clone(),
            |mut d| black_box(recover(&mut d).map(|r| r.last_zxid).ok()),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// One group-commit batch written and fdatasynced on the real file system, per batch size:
/// the per-write durability cost falls as batches grow, which is what group commit buys.
fn append_fdatasync(c: &mut Criterion) {
    let root = std::env::var_os("RK_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mut g = c.benchmark_group("log_append_fdatasync");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for size in [1usize, 16, 256] {
        let dir = root.join(format!("rk-bench-append-{}-{size}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut fs = FsDir::create(&dir).expect("bench directory");
        let mut log = LogWriter::new(SegmentPolicy::default(), true, None);
        let mut next = 1i64;
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("{size}_txns"), |b| {
            b.iter(|| {
                let batch: Vec<Txn> = (next..next + size as i64).map(create).collect();
                next += size as i64;
                block_on(log.append_txns(&mut fs, &batch)).expect("append");
            })
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

criterion_group!(benches, encode, append_fdatasync, scan, snapshot);
criterion_main!(benches);
