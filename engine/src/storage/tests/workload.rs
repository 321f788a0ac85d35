//! A seeded generator of valid txns (what request preparation would produce) against a
//! tree, with sessions, ephemerals, containers, failed writes and multis.

use std::collections::BTreeMap;

use crate::storage::SimRng;
use crate::tree::DataTree;
use crate::txn::{NodeKind, Txn, TxnBody};
use crate::types::{Acl, ErrorCode};

pub struct Workload {
    rng: SimRng,
    sessions: BTreeMap<i64, i32>,
    next_session: i64,
}

impl Workload {
    pub fn new(seed: u64) -> Workload {
        Workload {
            rng: SimRng::new(seed),
            sessions: BTreeMap::new(),
            next_session: 0x100,
        }
    }

    /// The open sessions after every observed txn.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.iter().map(|(s, t)| (*s, *t)).collect()
    }

    /// Starts again from the sessions a recovery found.
    pub fn reset_sessions(&mut self, sessions: &[(i64, i32)]) {
        self.sessions = sessions.iter().copied().collect();
        if let Some(max) = self.sessions.keys().max() {
            self.next_session = self.next_session.max(*max);
        }
    }

    /// Follows a txn's effect on sessions (call after applying each generated txn).
    pub fn observe(&mut self, txn: &Txn) {
        match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.insert(txn.session, *timeout_ms);
            }
            TxnBody::CloseSession { .. } => {
                self.sessions.remove(&txn.session);
            }
            _ => {}
        }
    }

    fn random_session(&mut self) -> Option<i64> {
        let ids: Vec<i64> = self.sessions.keys().copied().collect();
        (!ids.is_empty()).then(|| ids[self.rng.below(ids.len() as u64) as usize])
    }

    fn random_path(&mut self) -> String {
        let top = format!("/w{}", self.rng.below(6));
        if self.rng.chance(2) {
            top
        } else {
            format!("{top}/c{}", self.rng.below(5))
        }
    }

    /// Random data, null about one time in ten so that logs and snapshots carry null
    /// data too. Null is picked from the length already drawn, which leaves the random
    /// sequence (and so every other choice of the workload) as it was.
    fn data(&mut self) -> Option<Vec<u8>> {
        let len = self.rng.below(400) as usize;
        let fill = self.rng.next_u64() as u8;
        (len % 10 != 9).then(|| vec![fill; len])
    }

    fn create_body(&mut self, tree: &DataTree, session: i64) -> TxnBody {
        let path = self.random_path();
        let parent = crate::path::parent(&path).unwrap_or("/").to_owned();
        if tree.stat(&path).is_some() {
            return TxnBody::Error(ErrorCode::NodeExists);
        }
        let Some(parent_kind) = tree.kind(&parent) else {
            return TxnBody::Error(ErrorCode::NoNode);
        };
        if matches!(parent_kind, NodeKind::Ephemeral(_)) {
            return TxnBody::Error(ErrorCode::NoChildrenForEphemerals);
        }
        let kind = match self.rng.below(4) {
            0 if session != 0 => NodeKind::Ephemeral(session),
            1 => NodeKind::Container,
            _ => NodeKind::Persistent,
        };
        TxnBody::Create {
            path,
            data: self.data(),
            acl: Acl::open_unsafe(),
            kind,
            parent_cversion: -1,
        }
    }

    fn set_body(&mut self, tree: &DataTree) -> TxnBody {
        let path = self.random_path();
        match tree.stat(&path) {
            Some(stat) => TxnBody::SetData {
                path,
                data: self.data(),
                version: stat.version + 1,
            },
            None => TxnBody::Error(ErrorCode::NoNode),
        }
    }

    /// A txn that prep could have produced for the tree as it is.
    pub fn next_txn(&mut self, tree: &DataTree, zxid: i64) -> Txn {
        let session = self.random_session().unwrap_or(0);
        let mut txn_session = session;
        let body = match self.rng.below(10) {
            0 => {
                self.next_session += 1;
                txn_session = self.next_session;
                TxnBody::CreateSession {
                    timeout_ms: 4_000 + self.rng.below(10) as i32 * 1_000,
                }
            }
            1 if session != 0 => TxnBody::CloseSession {
                ephemerals: tree.ephemerals(session),
            },
            2..=4 => self.create_body(tree, session),
            5 | 6 => self.set_body(tree),
            7 => {
                let path = self.random_path();
                match tree.children(&path) {
                    Some((children, _)) if children.is_empty() => TxnBody::Delete { path },
                    Some(_) => TxnBody::Error(ErrorCode::NotEmpty),
                    None => TxnBody::Error(ErrorCode::NoNode),
                }
            }
            _ => {
                let ops = vec![self.create_body(tree, session), self.set_body(tree)];
                if ops.iter().any(|op| matches!(op, TxnBody::Error(_))) {
                    TxnBody::Error(ErrorCode::NoNode)
                } else {
                    TxnBody::Multi(ops)
                }
            }
        };
        Txn {
            zxid,
            time_ms: 1_700_000_000_000 + zxid,
            session: txn_session,
            cxid: zxid as i32,
            body,
        }
    }
}
