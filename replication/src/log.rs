//! The peer's in-memory view of its log: every proposal after `base`, where `base` is the
//! zxid of the snapshot the state machine started from or of the newest committed entry that
//! was dropped to keep the window bounded. The durable log itself belongs to the server.

use crate::message::Entry;
use crate::zxid::Zxid;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub(crate) struct Log {
    base: Zxid,
    entries: VecDeque<Entry>,
}

impl Log {
    pub(crate) fn new(base: Zxid, entries: Vec<Entry>) -> Log {
        let mut log = Log {
            base,
            entries: VecDeque::new(),
        };
        for entry in entries {
            // A restored log may still hold entries the snapshot already covers.
            if entry.zxid > log.last() {
                log.entries.push_back(entry);
            }
        }
        log
    }

    pub(crate) fn base(&self) -> Zxid {
        self.base
    }

    pub(crate) fn last(&self) -> Zxid {
        self.entries.back().map_or(self.base, |e| e.zxid)
    }

    /// Whether the log's history includes `zxid` as a point it can continue from.
    pub(crate) fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base || self.position(zxid).is_ok()
    }

    /// The newest zxid of the history that is at most `zxid`, or `None` when `zxid` lies
    /// before the window.
    pub(crate) fn floor(&self, zxid: Zxid) -> Option<Zxid> {
        if zxid < self.base {
            return None;
        }
        match self.position(zxid) {
            Ok(_) => Some(zxid),
            Err(0) => Some(self.base),
            Err(i) => Some(self.entries[i - 1].zxid),
        }
    }

    /// Entries after `after` and at most `upto`, at most `max` of them.
    pub(crate) fn range(&self, after: Zxid, upto: Zxid, max: usize) -> Vec<Entry> {
        let start = match self.position(after) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries
            .iter()
            .skip(start)
            .take_while(|e| e.zxid <= upto)
            .take(max)
            .cloned()
            .collect()
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert!(entry.zxid > self.last());
        self.entries.push_back(entry);
    }

    pub(crate) fn truncate_after(&mut self, zxid: Zxid) {
        while self.entries.back().is_some_and(|e| e.zxid > zxid) {
            self.entries.pop_back();
        }
    }

    /// Forgets everything: the history now starts at a snapshot taken at `base`.
    pub(crate) fn reset(&mut self, base: Zxid) {
        self.entries.clear();
        self.base = base;
    }

    /// Drops the oldest applied entries so that at most `keep` of the applied ones remain,
    /// but never so far that the log stops containing `floor` (a point a follower's snapshot
    /// transfer will continue from).
    pub(crate) fn trim(&mut self, applied: Zxid, keep: usize, floor: Option<Zxid>) {
        let applied_count = match self.position(applied) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        let mut excess = applied_count.saturating_sub(keep);
        while excess > 0 {
            if floor.is_some_and(|f| self.entries.front().is_some_and(|e| e.zxid > f)) {
                break;
            }
            if let Some(entry) = self.entries.pop_front() {
                self.base = entry.zxid;
            }
            excess -= 1;
        }
    }

    /// Entries held after the base.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Checks the ordering invariant the rest of the peer relies on.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut previous = self.base;
        for entry in &self.entries {
            if entry.zxid <= previous {
                return Err(format!(
                    "log not increasing: {:#x} after {:#x}",
                    entry.zxid, previous
                ));
            }
            previous = entry.zxid;
        }
        Ok(())
    }

    fn position(&self, zxid: Zxid) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&zxid, |e| e.zxid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zxid::make;

    fn log(base: Zxid, zxids: &[Zxid]) -> Log {
        let entries = zxids
            .iter()
            .map(|&zxid| Entry {
                zxid,
                payload: vec![].into(),
            })
            .collect();
        Log::new(base, entries)
    }

    #[test]
    fn floor_finds_the_newest_point_at_or_before() {
        let l = log(make(1, 1), &[make(1, 2), make(1, 3), make(3, 1)]);
        assert_eq!(l.floor(make(1, 3)), Some(make(1, 3)));
        assert_eq!(l.floor(make(2, 5)), Some(make(1, 3)));
        assert_eq!(l.floor(make(1, 1)), Some(make(1, 1)));
        assert_eq!(l.floor(make(0, 9)), None);
        assert_eq!(l.floor(make(9, 9)), Some(make(3, 1)));
        assert!(l.contains(make(1, 1)) && !l.contains(make(2, 1)));
    }

    #[test]
    fn trim_keeps_the_newest_applied_and_everything_unapplied() {
        let mut l = log(0, &[1, 2, 3, 4, 5]);
        l.trim(4, 2, None);
        assert_eq!(l.base(), 2);
        assert_eq!(l.range(0, 10, 10).len(), 3);
        assert_eq!(l.range(3, 4, 10).len(), 1);
        l.truncate_after(3);
        assert_eq!(l.last(), 3);
        assert!(l.validate().is_ok());
    }

    #[test]
    fn trim_keeps_a_transfer_floor() {
        let mut l = log(0, &[1, 2, 3, 4, 5]);
        l.trim(5, 1, Some(2));
        assert_eq!(l.base(), 2);
        assert!(l.contains(2));
        assert_eq!(l.len(), 3);
        l.trim(5, 1, None);
        assert_eq!(l.base(), 4);
    }
}
