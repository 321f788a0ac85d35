//! Golden bytes of a log segment: one batch holding every kind of transaction body, as
//! version 1 writes it. Format drift (record header, checksum, txn encoding) fails here
//! rather than on an operator's disk; an intended change needs a new record version and a
//! new fixture next to this one, which old segments must still read.

use super::{txn, LogWriter};
use crate::storage::*;
use crate::txn::{NodeKind, Txn, TxnBody};
use crate::types::{Acl, ErrorCode, Id};

fn every_body() -> Vec<Txn> {
    let acl = vec![Acl::new(31, Id::new("world", "anyone"))];
    let bodies = vec![
        TxnBody::CreateSession { timeout_ms: 30_000 },
        TxnBody::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: acl.clone(),
            kind: NodeKind::Ephemeral(5),
            parent_cversion: 1,
        },
        TxnBody::Create {
            path: "/t".into(),
            data: None,
            acl: vec![],
            kind: NodeKind::Ttl(5000),
            parent_cversion: -1,
        },
        TxnBody::SetData {
            path: "/a".into(),
            data: Some(vec![]),
            version: 1,
        },
        TxnBody::SetAcl {
            path: "/a".into(),
            acl,
            version: 2,
        },
        TxnBody::Multi(vec![
            TxnBody::Check {
                path: "/a".into(),
                version: 1,
            },
            TxnBody::Delete { path: "/t".into() },
        ]),
        TxnBody::Error(ErrorCode::NoNode),
        TxnBody::CloseSession {
            ephemerals: vec!["/a".into()],
        },
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| txn(0x1_0000_0001 + i as i64, body))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_batch_of_every_txn_body_matches_the_golden_segment() {
    let golden: String = include_str!("golden_segment.hex")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let txns = every_body();
    let mut batch = Vec::new();
    encode_batch(&txns, &mut batch);
    assert_eq!(hex(&batch), golden);
    // And the writer puts exactly these bytes at the start of the segment named for them.
    let mut dir = SimDir::new();
    let mut log = LogWriter::new(SegmentPolicy::default(), true, None);
    block_on(log.append_txns(&mut dir, &txns)).unwrap();
    let segment = dir.durable(&segment_name(0x1_0000_0001)).unwrap().to_vec();
    assert_eq!(hex(&segment[..batch.len()]), golden);
    let scan = scan_segment(&segment, Some(0x1_0000_0001));
    assert_eq!(scan.tail, SegmentTail::Clean);
    let read: Vec<Txn> = scan.records.into_iter().map(|r| r.txn).collect();
    assert_eq!(read, txns);
}
