//! The snapshotter: an executor that keeps one more copy of the tree, fed by the same
//! committed (durable) stream as the shards, and writes snapshots from it.
//!
//! Encoding a large tree takes seconds. Doing it here, on a copy nobody reads, keeps both the
//! write path (the sequencer) and the read path (the shards) running meanwhile: the commits
//! that arrive during a snapshot wait in this executor's queue and are applied afterwards.
//! Because it only ever sees released transactions, a snapshot never holds a write that is
//! not also in the durable log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use glommio::channels::shared_channel::ConnectedReceiver;
use ringkeeper_engine::storage::encode_snapshot;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::TxnBody;
use ringkeeper_engine::{SessionId, Zxid};
use tracing::{error, info, warn};

use crate::messages::ToShard;

#[derive(Debug, Clone)]
pub struct SnapshotSettings {
    pub dir: PathBuf,
    /// Transactions between snapshots (Apache's snapCount).
    pub snap_count: u64,
    /// Snapshots kept (autopurge.snapRetainCount), with the log segments they need.
    pub retain: usize,
}

/// The snapshotter's state: its tree and the open sessions, as of the last applied zxid.
pub struct Snapshotter {
    settings: SnapshotSettings,
    tree: DataTree,
    sessions: BTreeMap<SessionId, i32>,
    last_zxid: Zxid,
    since_snapshot: u64,
}

impl Snapshotter {
    pub fn new(
        settings: SnapshotSettings,
        tree: DataTree,
        sessions: &[(SessionId, i32)],
        last_zxid: Zxid,
    ) -> Self {
        Self {
            settings,
            tree,
            sessions: sessions.iter().copied().collect(),
            last_zxid,
            since_snapshot: 0,
        }
    }

    /// Applies one committed transaction. Returns true when a snapshot is due, and the log
    /// line if the transaction failed where prep said it would not (a diverged copy).
    pub fn apply(&mut self, txn: &ringkeeper_engine::txn::Txn) -> Result<bool, String> {
        let result = self.tree.apply(txn);
        let copy = crate::divergence::TreeCopy::Snapshotter;
        if let Some(line) = crate::divergence::failed_apply(copy, txn, &result) {
            return Err(line);
        }
        match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.insert(txn.session, *timeout_ms);
            }
            TxnBody::CloseSession { .. } => {
                self.sessions.remove(&txn.session);
            }
            _ => {}
        }
        self.last_zxid = txn.zxid;
        self.since_snapshot += 1;
        Ok(self.since_snapshot >= self.settings.snap_count)
    }

    /// Replaces the state with a leader's snapshot (a follower synchronized by SNAP). The
    /// bytes were checked by the sequencer before they were sent here.
    pub fn reset(&mut self, snapshot: &[u8], zxid: Zxid) {
        match ringkeeper_engine::storage::decode_snapshot(snapshot) {
            Ok(snap) => {
                self.tree = snap.tree;
                self.sessions = snap.sessions.into_iter().collect();
                self.last_zxid = zxid;
                self.since_snapshot = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot decode the leader's snapshot; stopping");
                crate::shutdown::request();
            }
        }
    }

    /// Encodes and writes a snapshot of the current state, then purges.
    pub fn snapshot(&mut self) {
        self.since_snapshot = 0;
        let sessions: Vec<(SessionId, i32)> = self.sessions.iter().map(|(k, v)| (*k, *v)).collect();
        let started = std::time::Instant::now();
        let bytes = encode_snapshot(&self.tree, &sessions, self.last_zxid);
        let encoded_ms = started.elapsed().as_millis();
        match crate::storage::snapshots::write_and_purge(
            self.settings.dir.clone(),
            self.last_zxid,
            bytes,
            self.settings.retain,
        ) {
            Ok(()) => {
                let took = started.elapsed();
                crate::metrics::timings::record(crate::metrics::timings::Event::Snapshot, took);
                info!(
                    zxid = format_args!("0x{:x}", self.last_zxid),
                    nodes = self.tree.node_count(),
                    encoded_ms,
                    total_ms = took.as_millis() as u64,
                    "snapshot taken"
                )
            }
            Err(e) => warn!(error = %e, "snapshot failed; the log still holds everything"),
        }
    }
}

/// Runs the snapshotter until the sequencer says the server is stopping.
pub async fn run(mut snapshotter: Snapshotter, from_seq: ConnectedReceiver<ToShard>) {
    while let Some(msg) = from_seq.recv().await {
        match msg {
            ToShard::Commit { txn, digest, .. } => {
                let due = match snapshotter.apply(&txn) {
                    Ok(due) => due,
                    Err(line) => {
                        error!("{line}");
                        crate::shutdown::request();
                        false
                    }
                };
                let ours = snapshotter.tree.digest();
                let copy = crate::divergence::TreeCopy::Snapshotter;
                // A diverged copy must not become a snapshot the next start trusts.
                if crate::divergence::check_or_stop(copy, txn.zxid, ours, digest) && due {
                    snapshotter.snapshot();
                }
            }
            ToShard::Shutdown => break,
            ToShard::Reset { snapshot, zxid } => snapshotter.reset(&snapshot, zxid),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkeeper_engine::storage::{recover, FsDir};
    use ringkeeper_engine::txn::{NodeKind, Txn};

    fn txn(zxid: Zxid, session: SessionId, body: TxnBody) -> Txn {
        Txn {
            zxid,
            time_ms: 1,
            session,
            cxid: 0,
            body,
        }
    }

    #[test]
    fn snapshots_follow_the_stream_with_its_sessions() {
        let dir = std::env::temp_dir().join(format!("rk-snapshotter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let settings = SnapshotSettings {
            dir: dir.clone(),
            snap_count: 3,
            retain: 3,
        };
        let mut s = Snapshotter::new(settings, DataTree::new(), &[], 0);
        assert!(!s
            .apply(&txn(1, 7, TxnBody::CreateSession { timeout_ms: 5000 }))
            .unwrap());
        let create = TxnBody::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: ringkeeper_engine::Acl::open_unsafe(),
            kind: NodeKind::Ephemeral(7),
            parent_cversion: 0,
        };
        assert!(!s.apply(&txn(2, 7, create)).unwrap());
        assert!(
            s.apply(&txn(3, 8, TxnBody::CreateSession { timeout_ms: 6000 }))
                .unwrap(),
            "due after snapCount txns"
        );
        s.snapshot();
        let mut fs = FsDir::open(&dir).unwrap();
        let recovered = recover(&mut fs).unwrap();
        assert_eq!(recovered.snapshot_zxid, Some(3));
        assert_eq!(recovered.sessions, vec![(7, 5000), (8, 6000)]);
        assert_eq!(recovered.tree.digest(), s.tree.digest());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_transaction_that_fails_where_prep_said_it_would_not_is_reported() {
        let settings = SnapshotSettings {
            dir: std::env::temp_dir().join("rk-snapshotter-unused"),
            snap_count: 100,
            retain: 3,
        };
        let mut s = Snapshotter::new(settings, DataTree::new(), &[], 0);
        let delete = TxnBody::Delete {
            path: "/missing".into(),
        };
        let line = s.apply(&txn(1, 7, delete)).unwrap_err();
        assert!(
            line.contains("the snapshotter") && line.contains("NoNode"),
            "{line}"
        );
        let announced = TxnBody::Error(ringkeeper_engine::ErrorCode::NoNode);
        assert_eq!(s.apply(&txn(2, 7, announced)), Ok(false));
    }
}
