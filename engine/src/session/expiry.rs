//! Expiry buckets, as Apache's ExpiryQueue keeps them: deadlines are rounded up to the next
//! multiple of the tick, so a whole bucket of sessions expires at once and the tracker wakes
//! once per tick at most instead of once per session.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::SessionId;

#[derive(Debug, Clone)]
pub(crate) struct ExpiryBuckets {
    tick_ms: i64,
    at: BTreeMap<i64, BTreeSet<SessionId>>,
}

impl ExpiryBuckets {
    /// `tick_ms` must be positive; the tracker checks it before building us.
    pub(crate) fn new(tick_ms: i64) -> Self {
        Self {
            tick_ms,
            at: BTreeMap::new(),
        }
    }

    /// ExpiryQueue.roundToNextInterval: the first tick boundary strictly after `time_ms`.
    /// Saturates instead of overflowing, so a hostile timeout cannot wrap into the past.
    pub(crate) fn bucket_after(&self, time_ms: i64) -> i64 {
        time_ms
            .div_euclid(self.tick_ms)
            .checked_add(1)
            .and_then(|n| n.checked_mul(self.tick_ms))
            .unwrap_or(i64::MAX)
    }

    pub(crate) fn insert(&mut self, id: SessionId, bucket_ms: i64) {
        self.at.entry(bucket_ms).or_default().insert(id);
    }

    pub(crate) fn remove(&mut self, id: SessionId, bucket_ms: i64) {
        if let Some(ids) = self.at.get_mut(&bucket_ms) {
            ids.remove(&id);
            if ids.is_empty() {
                self.at.remove(&bucket_ms);
            }
        }
    }

    /// Takes out every bucket whose time has come (`bucket <= now`, as ExpiryQueue.poll),
    /// oldest bucket first, ids ascending within a bucket.
    pub(crate) fn drain_due(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut due = Vec::new();
        while let Some(entry) = self.at.first_entry() {
            if *entry.key() > now_ms {
                break;
            }
            due.extend(entry.remove());
        }
        due
    }

    pub(crate) fn next_ms(&self) -> Option<i64> {
        self.at.keys().next().copied()
    }

    pub(crate) fn contains(&self, id: SessionId, bucket_ms: i64) -> bool {
        self.at.get(&bucket_ms).is_some_and(|ids| ids.contains(&id))
    }

    pub(crate) fn len(&self) -> usize {
        self.at.values().map(BTreeSet::len).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, &BTreeSet<SessionId>)> {
        self.at.iter().map(|(&t, ids)| (t, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_strictly_up_to_the_next_tick() {
        let b = ExpiryBuckets::new(2000);
        assert_eq!(b.bucket_after(0), 2000);
        assert_eq!(b.bucket_after(1999), 2000);
        assert_eq!(
            b.bucket_after(2000),
            4000,
            "a boundary rounds to the next one"
        );
        assert_eq!(b.bucket_after(-1), 0);
        assert_eq!(b.bucket_after(i64::MAX), i64::MAX, "saturates");
    }

    #[test]
    fn drains_due_buckets_in_order_once() {
        let mut b = ExpiryBuckets::new(10);
        b.insert(3, 20);
        b.insert(1, 20);
        b.insert(2, 10);
        b.insert(4, 30);
        assert!(b.drain_due(9).is_empty());
        assert_eq!(b.drain_due(20), vec![2, 1, 3]);
        assert!(b.drain_due(25).is_empty());
        assert_eq!(b.next_ms(), Some(30));
        b.remove(4, 30);
        assert_eq!(b.next_ms(), None);
        assert_eq!(b.len(), 0);
    }
}
