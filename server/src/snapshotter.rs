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

use std::sync::Arc;

use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use ringkeeper_engine::storage::encode_snapshot;
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::{Txn, TxnBody};
use ringkeeper_engine::{SessionId, Zxid};
use tracing::{error, info, warn};

use crate::messages::{SnapshotPrepared, ToShard};

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

    /// The zxid the copy is at.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Encodes the current state (for a snapshot file, or a follower's transfer).
    pub fn encode(&self) -> Vec<u8> {
        let sessions: Vec<(SessionId, i32)> = self.sessions.iter().map(|(k, v)| (*k, *v)).collect();
        encode_snapshot(&self.tree, &sessions, self.last_zxid)
    }

    /// Encodes and writes a snapshot of the current state, then purges; returns its bytes.
    pub fn snapshot(&mut self) -> Arc<[u8]> {
        self.since_snapshot = 0;
        let started = std::time::Instant::now();
        let bytes: Arc<[u8]> = self.encode().into();
        let encoded_ms = started.elapsed().as_millis();
        match crate::storage::snapshots::write_and_purge(
            self.settings.dir.clone(),
            self.last_zxid,
            &bytes,
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
        bytes
    }

    /// The leader's sequencer wants a snapshot for a follower at `zxid`, which is where
    /// this copy is: the stream is in order and the request follows the commits up to it.
    /// The snapshot is also written to disk (it is as good as a scheduled one), so the
    /// encoding costs nothing extra over time.
    pub fn prepare_for(&mut self, to: u64, attempt: u64, zxid: Zxid) -> Option<SnapshotPrepared> {
        if zxid != self.last_zxid {
            error!(
                zxid = format_args!("0x{zxid:x}"),
                ours = format_args!("0x{:x}", self.last_zxid),
                "a follower's snapshot was asked for at a zxid this copy is not at"
            );
            return None;
        }
        let data = self.snapshot();
        info!(
            to,
            zxid = format_args!("0x{zxid:x}"),
            bytes = data.len(),
            "snapshot prepared for a follower"
        );
        Some(SnapshotPrepared {
            to,
            attempt,
            zxid,
            data,
        })
    }
}

impl Snapshotter {
    /// Applies a commit, checks the sequencer's digest, and snapshots when one is due.
    fn commit(&mut self, txn: &Txn, digest: u64) {
        let due = match self.apply(txn) {
            Ok(due) => due,
            Err(line) => {
                error!("{line}");
                crate::shutdown::request();
                false
            }
        };
        let ours = self.tree.digest();
        let copy = crate::divergence::TreeCopy::Snapshotter;
        // A diverged copy must not become a snapshot the next start trusts.
        if crate::divergence::check_or_stop(copy, txn.zxid, ours, digest) && due {
            self.snapshot();
        }
    }
}

/// Runs the snapshotter until the sequencer says the server is stopping.
/// Snapshots prepared for followers go back to the sequencer on `to_seq`.
pub async fn run(
    mut snapshotter: Snapshotter,
    from_seq: ConnectedReceiver<ToShard>,
    to_seq: ConnectedSender<SnapshotPrepared>,
) {
    while let Some(msg) = from_seq.recv().await {
        match msg {
            ToShard::Commit { txn, digest, .. } => snapshotter.commit(&txn, digest),
            ToShard::Commits(commits) => {
                for c in commits {
                    snapshotter.commit(&c.txn, c.digest);
                }
            }
            ToShard::SnapshotFor { to, attempt, zxid } => {
                if let Some(prepared) = snapshotter.prepare_for(to, attempt, zxid) {
                    // The sequencer is gone only when stopping.
                    let _ = to_seq.send(prepared).await;
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
