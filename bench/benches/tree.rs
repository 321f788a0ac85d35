//! Micro-benchmarks of the data tree on a 100k-znode tree: the read path (getData, stat,
//! getChildren of a 100-child node), request preparation of a create and a setData (what the
//! sequencer does per write), and applying a create (with the delete that undoes it) and a
//! setData (what every shard does per write).

use criterion::{criterion_group, criterion_main, Criterion};
use ringkeeper_engine::prep::{prep, PrepContext, WriteOp};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};
use ringkeeper_engine::{Acl, CreateMode};
use std::hint::black_box;

const DIRS: i64 = 1000;
const PER_DIR: i64 = 100;

fn txn(zxid: i64, body: TxnBody) -> Txn {
    Txn {
        zxid,
        time_ms: 1_700_000_000_000,
        session: 0,
        cxid: 0,
        body,
    }
}

fn create(path: String, parent_cversion: i32) -> TxnBody {
    TxnBody::Create {
        path,
        data: Some(vec![0x5a; 100]),
        acl: Acl::open_unsafe(),
        kind: NodeKind::Persistent,
        parent_cversion,
    }
}

/// 1000 directories of 100 znodes with 100 bytes each.
fn tree() -> (DataTree, i64) {
    let mut t = DataTree::new();
    let mut zxid = 0;
    for d in 0..DIRS {
        zxid += 1;
        t.apply(&txn(zxid, create(format!("/d{d}"), d as i32 + 1)));
        for n in 0..PER_DIR {
            zxid += 1;
            t.apply(&txn(zxid, create(format!("/d{d}/n{n}"), n as i32 + 1)));
        }
    }
    (t, zxid)
}

fn reads(c: &mut Criterion) {
    let (t, _) = tree();
    let mut g = c.benchmark_group("tree_read");
    g.bench_function("get_data", |b| {
        b.iter(|| black_box(t.get_data(black_box("/d500/n50"))))
    });
    g.bench_function("stat", |b| {
        b.iter(|| black_box(t.stat(black_box("/d500/n50"))))
    });
    g.bench_function("children_100", |b| {
        b.iter(|| black_box(t.children(black_box("/d500"))))
    });
    g.finish();
}

fn writes(c: &mut Criterion) {
    let (t, last) = tree();
    let mut g = c.benchmark_group("tree_write");
    let ctx = PrepContext::new(0x1234, &[]);
    let new_node = WriteOp::Create {
        path: "/d500/new".into(),
        data: Some(vec![1; 100]),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl_ms: None,
    };
    let set = WriteOp::SetData {
        path: "/d500/n50".into(),
        data: Some(vec![2; 100]),
        version: -1,
    };
    g.bench_function("prep_create", |b| {
        b.iter(|| black_box(prep(&t, &ctx, black_box(&new_node))))
    });
    g.bench_function("prep_set_data", |b| {
        b.iter(|| black_box(prep(&t, &ctx, black_box(&set))))
    });
    let create_body = prep(&t, &ctx, &new_node).expect("the create is valid");
    let set_body = prep(&t, &ctx, &set).expect("the setData is valid");
    // A create is measured together with the delete that undoes it, so the tree stays the
    // same size whatever the iteration count.
    let mut tree = t.clone();
    let mut zxid = last;
    g.bench_function("apply_create_and_delete", |b| {
        b.iter(|| {
            zxid += 2;
            black_box(tree.apply(&txn(zxid - 1, create_body.clone())));
            black_box(tree.apply(&txn(
                zxid,
                TxnBody::Delete {
                    path: "/d500/new".into(),
                },
            )))
        })
    });
    g.bench_function("apply_set_data", |b| {
        b.iter(|| {
            zxid += 1;
            black_box(tree.apply(&txn(zxid, set_body.clone())))
        })
    });
    g.finish();
}

criterion_group!(benches, reads, writes);
criterion_main!(benches);
