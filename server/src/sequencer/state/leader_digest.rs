//! Followers check their committed tree against the leader's.
//!
//! Inside one server every copy of the tree checks the sequencer's digest with each commit
//! (`crate::divergence`). Across members, the leader tells the others the digest of its
//! committed tree at a zxid (`AppMessage::Digest`, at most once per peer tick), and each
//! member compares it with its own digest at that same zxid. A member whose tree differs
//! from the leader's stops rather than serve it, as Apache 3.6+ does with its txn digests.
//!
//! The two digests of a zxid meet in either order: the leader's may arrive before this
//! member has applied the zxid (it waits in `pending`) or after (this member's own digest
//! is still in `recent`). Both are bounded; a digest that finds no partner (this member
//! moved past it by a snapshot, or applied it too long ago) is simply not checked: the
//! next one will be.

use std::collections::{BTreeMap, VecDeque};

use ringkeeper_engine::Zxid;

/// This member's own digests kept for the leader's to meet: a few seconds of commits at a
/// high write rate, while the leader sends one digest per peer tick.
const RECENT_MAX: usize = 4096;
/// Leader digests ahead of this member's applied zxid. One arrives per peer tick, so a
/// member this many ticks behind has a pending digest for every tick and drops the oldest.
const PENDING_MAX: usize = 64;

#[derive(Debug, Default)]
pub struct LeaderDigests {
    recent: VecDeque<(Zxid, u64)>,
    pending: BTreeMap<Zxid, u64>,
}

impl LeaderDigests {
    /// This member's committed tree has `digest` after applying `zxid` (or installing a
    /// snapshot at it). Returns the log line if the leader said otherwise.
    pub fn applied(&mut self, zxid: Zxid, digest: u64) -> Option<String> {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((zxid, digest));
        // Leader digests below `zxid` that were never met were skipped (a snapshot jumped
        // over them): they can no longer be checked.
        let leader = self.pending.remove(&zxid);
        self.pending.retain(|z, _| *z > zxid);
        leader.and_then(|theirs| mismatch(zxid, digest, theirs))
    }

    /// The leader's committed tree had `digest` at `zxid`; this member has applied up to
    /// `applied`. Returns the log line if this member's tree differed at that zxid.
    pub fn leader_said(&mut self, zxid: Zxid, digest: u64, applied: Zxid) -> Option<String> {
        if zxid > applied {
            if self.pending.len() == PENDING_MAX {
                self.pending.pop_first();
            }
            self.pending.insert(zxid, digest);
            return None;
        }
        let ours = self.recent.iter().rev().find(|(z, _)| *z == zxid)?.1;
        mismatch(zxid, ours, digest)
    }

    /// A new leadership: digests of the old leader that have not met theirs are dropped
    /// (the committed history is the same, but an uncommitted tail is not).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }
}

fn mismatch(zxid: Zxid, ours: u64, leader: u64) -> Option<String> {
    (ours != leader).then(|| {
        format!(
            "this member's tree diverged from the leader's: after zxid 0x{zxid:x} it has digest {ours:#018x}, the leader {leader:#018x}; stopping"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_digest_after_the_apply_is_checked_against_the_recent_ones() {
        let mut d = LeaderDigests::default();
        assert_eq!(d.applied(1, 10), None);
        assert_eq!(d.applied(2, 20), None);
        assert_eq!(d.leader_said(1, 10, 2), None);
        assert_eq!(d.leader_said(2, 20, 2), None);
        let line = d
            .leader_said(2, 21, 2)
            .expect("a different digest is caught");
        assert!(line.contains("0x2") && line.contains("diverged"), "{line}");
    }

    #[test]
    fn a_leader_digest_before_the_apply_waits_for_it() {
        let mut d = LeaderDigests::default();
        assert_eq!(d.leader_said(3, 30, 1), None);
        assert_eq!(d.leader_said(4, 41, 1), None);
        assert_eq!(d.applied(2, 20), None);
        assert_eq!(d.applied(3, 30), None);
        assert!(d.applied(4, 40).is_some(), "the pending 41 meets 40");
    }

    #[test]
    fn digests_that_find_no_partner_are_not_checked_and_stay_bounded() {
        let mut d = LeaderDigests::default();
        // Skipped by a snapshot: the member jumps from 1 to 9.
        assert_eq!(d.leader_said(5, 999, 1), None);
        assert_eq!(d.applied(9, 90), None);
        assert!(d.pending.is_empty());
        // Applied too long ago to remember.
        for z in 10..(10 + RECENT_MAX as Zxid) {
            assert_eq!(d.applied(z, z as u64), None);
        }
        assert_eq!(d.recent.len(), RECENT_MAX);
        assert_eq!(d.leader_said(9, 12345, 100_000), None);
        for z in 0..(PENDING_MAX as Zxid * 2) {
            d.leader_said(1_000_000 + z, 1, 0);
        }
        assert_eq!(d.pending.len(), PENDING_MAX);
    }
}
