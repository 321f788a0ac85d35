//! The watch manager of one shard: which connection watches which path, and who must be told
//! when a committed transaction changes the tree.
//!
//! The semantics are Apache ZooKeeper 3.9's (DataTree + WatchManager + WatchStats); 3.8 keeps
//! one mode per pair instead of a set, see docs/watches-and-sessions.md for why we serve 3.9's
//! rules to every client:
//!
//! - Apache keeps two tables, data watches and child watches. getData and exists put a
//!   one-shot watch in the data table, getChildren one in the child table, addWatch mode 0
//!   (persistent) one in both, and addWatch mode 1 (persistent-recursive) one in the data
//!   table only. We keep one table with a mode set per (path, watcher) pair; `Flags` says
//!   which of Apache's tables each mode belongs to.
//! - NodeCreated and NodeDataChanged fire the data table of the path; NodeChildrenChanged
//!   fires the child table of the path; NodeDeleted fires both, and a watcher present in both
//!   gets one event (Apache passes the data table's fired set as `suppress` to the child
//!   table). Persistent-recursive watches on any ancestor fire for the data-table events.
//! - Firing removes the one-shot modes and keeps the persistent ones.
//!
//! Every trigger returns each watcher at most once, sorted by watcher, so the shard's output
//! is deterministic for simulation tests.

mod ancestors;
mod kind;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use thiserror::Error;

use crate::types::{EventType, Zxid};
use ancestors::ancestors;
use kind::Flags;
pub use kind::{Removed, WatchKind, WatcherType};

/// A generous default for `watches_per_watcher_max`: far above what real clients set, low
/// enough that one misbehaving connection cannot grow a shard's memory without bound.
pub const WATCHES_PER_WATCHER_MAX_DEFAULT: usize = 1 << 20;

/// Errors a client can cause and the server can act on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WatchError {
    /// The watcher already watches `limit` distinct paths. Adding a further mode to a path it
    /// already watches is always allowed, because it costs no memory.
    #[error("watcher already watches {limit} paths, the most allowed")]
    TooManyWatches { limit: usize },
}

/// The `wchs` numbers: connections that watch something, paths watched by someone, and
/// (path, connection) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    pub watchers: usize,
    pub paths: usize,
    pub watches: usize,
}

/// The node facts SetWatches needs, as returned by the caller's tree lookup.
pub type NodeZxids = (Zxid, Zxid, Zxid);

/// One shard's watches. `W` is the shard's connection handle.
#[derive(Debug, Clone)]
pub struct WatchManager<W: Copy + Eq + Hash + Ord> {
    /// Path to the watchers on it and their modes. A BTreeMap keeps `wchp` output and
    /// trigger results in a stable order.
    by_path: HashMap<String, BTreeMap<W, Flags>>,
    /// The reverse index, so that closing a connection costs its own watches only.
    by_watcher: HashMap<W, HashSet<String>>,
    /// Paths that carry a persistent-recursive watch. A trigger walks the changed path's
    /// ancestors and looks each up here, so the cost is the path depth, never the number of
    /// watches, and a busy "/" full of child watches is not scanned.
    recursive: HashMap<String, BTreeSet<W>>,
    /// Number of (path, watcher) pairs.
    entries: usize,
    /// Number of entries Apache's two tables would hold (mntr's zk_watch_count).
    apache_entries: usize,
    watches_per_watcher_max: usize,
}

impl<W: Copy + Eq + Hash + Ord> Default for WatchManager<W> {
    fn default() -> Self {
        Self::new(WATCHES_PER_WATCHER_MAX_DEFAULT)
    }
}

impl<W: Copy + Eq + Hash + Ord> WatchManager<W> {
    /// `watches_per_watcher_max` bounds the distinct paths one connection may watch.
    pub fn new(watches_per_watcher_max: usize) -> Self {
        Self {
            by_path: HashMap::new(),
            by_watcher: HashMap::new(),
            recursive: HashMap::new(),
            entries: 0,
            apache_entries: 0,
            watches_per_watcher_max,
        }
    }

    /// Registers a watch. Returns whether anything changed (false when the watcher already
    /// held this kind on the path), or an error when the watcher would exceed its limit.
    pub fn add(&mut self, path: &str, kind: WatchKind, watcher: W) -> Result<bool, WatchError> {
        let old = self.flags(path, watcher);
        let new = old.with(kind.flag());
        if new == old {
            return Ok(false);
        }
        if old.is_empty() && self.watched_paths(watcher) >= self.watches_per_watcher_max {
            return Err(WatchError::TooManyWatches {
                limit: self.watches_per_watcher_max,
            });
        }
        self.set_flags(path, watcher, new);
        Ok(true)
    }

    /// Fires the watches that one tree trigger concerns and returns who must be notified,
    /// each watcher once, sorted by watcher. The event and path sent are the trigger's own:
    /// a recursive watch on "/a" learns about "/a/b" with path "/a/b".
    ///
    /// Event types other than NodeCreated, NodeDeleted, NodeDataChanged and
    /// NodeChildrenChanged are never produced by the tree and fire nothing.
    pub fn trigger(&mut self, path: &str, event: EventType) -> Vec<(W, EventType, String)> {
        // `fires`: the modes on the path itself that this event reaches. `consumes`: the
        // one-shot modes that firing removes. For NodeDeleted Apache fires the data table and
        // then the child table with the data table's watchers suppressed; both tables lose
        // their one-shot mode even for a suppressed watcher, which is what `consumes` says.
        let (fires, consumes, walks_ancestors) = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                (Flags::IN_DATA_TABLE, Flags::DATA, true)
            }
            EventType::NodeDeleted => (Flags::ALL, Flags::DATA.with(Flags::CHILD), true),
            EventType::NodeChildrenChanged => (Flags::IN_CHILD_TABLE, Flags::CHILD, false),
            _ => return Vec::new(),
        };

        let mut fired = BTreeSet::new();
        let mut updates = Vec::new();
        if let Some(watchers) = self.by_path.get(path) {
            for (&watcher, &flags) in watchers {
                if flags.has(fires) {
                    fired.insert(watcher);
                    let left = flags.without(consumes);
                    if left != flags {
                        updates.push((watcher, left));
                    }
                }
            }
        }
        // Recursive watches never see NodeChildrenChanged: Apache keeps them out of the
        // child table, so that event never walks up.
        if walks_ancestors && !self.recursive.is_empty() {
            for ancestor in ancestors(path) {
                if let Some(watchers) = self.recursive.get(ancestor) {
                    fired.extend(watchers.iter().copied());
                }
            }
        }
        for (watcher, left) in updates {
            self.set_flags(path, watcher, left);
        }
        fired
            .into_iter()
            .map(|w| (w, event, path.to_owned()))
            .collect()
    }

    /// checkWatches (opcode 17): does the watcher hold a watch of this type on the path?
    /// False means the server answers NoWatcher.
    pub fn contains(&self, path: &str, watcher_type: WatcherType, watcher: W) -> bool {
        self.flags(path, watcher).has(watcher_type.mask())
    }

    /// removeWatches (opcode 18): removes the modes the type selects and reports what went.
    /// An empty result means the server answers NoWatcher. Children and Data leave a
    /// persistent watch on the path alone; Any removes everything, persistent ones included.
    pub fn remove(&mut self, path: &str, watcher_type: WatcherType, watcher: W) -> Removed {
        let old = self.flags(path, watcher);
        let gone = old.only(watcher_type.mask());
        if gone.is_empty() {
            return Removed::default();
        }
        self.set_flags(path, watcher, old.without(gone));
        Removed::from_flags(gone)
    }

    /// Drops every watch of a closed connection. Returns how many paths it watched.
    pub fn remove_watcher(&mut self, watcher: W) -> usize {
        let Some(paths) = self.by_watcher.remove(&watcher) else {
            return 0;
        };
        for path in &paths {
            let mut old = Flags::NONE;
            if let Some(watchers) = self.by_path.get_mut(path) {
                old = watchers.remove(&watcher).unwrap_or(Flags::NONE);
                if watchers.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if old.has(Flags::RECURSIVE) {
                self.unindex_recursive(path, watcher);
            }
            self.entries -= 1;
            self.apache_entries -= old.apache_table_entries();
        }
        paths.len()
    }

    /// SetWatches (opcode 101) and SetWatches2 (105), sent by a client that reconnects.
    ///
    /// Follows DataTree.setWatches: a data watch whose node is gone fires NodeDeleted, one
    /// whose node changed after `relative_zxid` (mzxid greater) fires NodeDataChanged; an
    /// exist watch whose node now exists fires NodeCreated; a child watch whose node is gone
    /// fires NodeDeleted, one whose children changed (pzxid greater) fires
    /// NodeChildrenChanged; every other watch is registered again. Persistent watches are
    /// simply registered again: the client cannot learn what it missed. Events come back in
    /// the order data, exist, child, each list in the client's order, and are not
    /// deduplicated (Apache sends a deleted path's NodeDeleted once per list).
    ///
    /// `tree_lookup` returns `(mzxid, pzxid, czxid)` of an existing node; czxid is accepted
    /// for the caller's convenience but Apache's rules do not use it.
    ///
    /// The limit is checked before anything changes: on error nothing is registered and no
    /// event is due, so the caller may fail the request as a whole.
    #[allow(clippy::too_many_arguments)] // One parameter per field of the SetWatches2 record.
    pub fn set_watches<S, F>(
        &mut self,
        watcher: W,
        relative_zxid: Zxid,
        data: &[S],
        exist: &[S],
        child: &[S],
        persistent: &[S],
        persistent_recursive: &[S],
        tree_lookup: F,
    ) -> Result<Vec<(EventType, String)>, WatchError>
    where
        S: AsRef<str>,
        F: Fn(&str) -> Option<NodeZxids>,
    {
        let mut events = Vec::new();
        let mut registrations: Vec<(&str, Flags)> = Vec::new();
        for path in data.iter().map(AsRef::as_ref) {
            match tree_lookup(path) {
                None => events.push((EventType::NodeDeleted, path.to_owned())),
                Some((mzxid, _, _)) if mzxid > relative_zxid => {
                    events.push((EventType::NodeDataChanged, path.to_owned()))
                }
                Some(_) => registrations.push((path, Flags::DATA)),
            }
        }
        for path in exist.iter().map(AsRef::as_ref) {
            match tree_lookup(path) {
                Some(_) => events.push((EventType::NodeCreated, path.to_owned())),
                None => registrations.push((path, Flags::DATA)),
            }
        }
        for path in child.iter().map(AsRef::as_ref) {
            match tree_lookup(path) {
                None => events.push((EventType::NodeDeleted, path.to_owned())),
                Some((_, pzxid, _)) if pzxid > relative_zxid => {
                    events.push((EventType::NodeChildrenChanged, path.to_owned()))
                }
                Some(_) => registrations.push((path, Flags::CHILD)),
            }
        }
        registrations.extend(persistent.iter().map(|p| (p.as_ref(), Flags::PERSISTENT)));
        registrations.extend(
            persistent_recursive
                .iter()
                .map(|p| (p.as_ref(), Flags::RECURSIVE)),
        );

        let new_paths: HashSet<&str> = registrations
            .iter()
            .map(|&(path, _)| path)
            .filter(|path| self.flags(path, watcher).is_empty())
            .collect();
        if self.watched_paths(watcher).saturating_add(new_paths.len())
            > self.watches_per_watcher_max
        {
            return Err(WatchError::TooManyWatches {
                limit: self.watches_per_watcher_max,
            });
        }
        for (path, flag) in registrations {
            let old = self.flags(path, watcher);
            self.set_flags(path, watcher, old.with(flag));
        }
        Ok(events)
    }

    /// The `wchs` numbers. Unlike Apache, whose wchs/wchc/wchp read the data table only and
    /// so leave out getChildren watches, these count every watch.
    pub fn summary(&self) -> WatchSummary {
        WatchSummary {
            watchers: self.by_watcher.len(),
            paths: self.by_path.len(),
            watches: self.entries,
        }
    }

    /// mntr's zk_watch_count as Apache computes it (DataTree.getWatchCount): entries in the
    /// data table plus entries in the child table, so a persistent watch counts twice.
    pub fn apache_watch_count(&self) -> usize {
        self.apache_entries
    }

    /// How many distinct paths this watcher watches (what the limit bounds).
    pub fn watched_paths(&self, watcher: W) -> usize {
        self.by_watcher.get(&watcher).map_or(0, HashSet::len)
    }

    /// `wchc`: every watcher with the paths it watches, watchers and paths sorted. The server
    /// maps watchers to session ids.
    pub fn by_watcher(&self) -> Vec<(W, Vec<String>)> {
        let mut out: Vec<(W, Vec<String>)> = self
            .by_watcher
            .iter()
            .map(|(&w, paths)| {
                let mut paths: Vec<String> = paths.iter().cloned().collect();
                paths.sort_unstable();
                (w, paths)
            })
            .collect();
        out.sort_unstable_by_key(|a| a.0);
        out
    }

    /// `wchp`: every watched path with its watchers, paths and watchers sorted.
    pub fn by_path(&self) -> Vec<(String, Vec<W>)> {
        let mut out: Vec<(String, Vec<W>)> = self
            .by_path
            .iter()
            .map(|(path, watchers)| (path.clone(), watchers.keys().copied().collect()))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Checks that the indexes agree with each other. Tests call it after every step; it
    /// walks everything, so the server should not call it on a hot path.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut entries = 0;
        let mut apache_entries = 0;
        for (path, watchers) in &self.by_path {
            if watchers.is_empty() {
                return Err(format!("path {path} kept with no watchers"));
            }
            for (watcher, flags) in watchers {
                if flags.is_empty() {
                    return Err(format!("path {path} keeps a watcher with no modes"));
                }
                if !self
                    .by_watcher
                    .get(watcher)
                    .is_some_and(|p| p.contains(path))
                {
                    return Err(format!(
                        "path {path} missing from its watcher's reverse index"
                    ));
                }
                let indexed = self
                    .recursive
                    .get(path)
                    .is_some_and(|w| w.contains(watcher));
                if flags.has(Flags::RECURSIVE) != indexed {
                    return Err(format!("recursive index wrong for {path}"));
                }
                entries += 1;
                apache_entries += flags.apache_table_entries();
            }
        }
        let reverse: usize = self.by_watcher.values().map(HashSet::len).sum();
        if self.by_watcher.values().any(HashSet::is_empty) {
            return Err("watcher kept with no paths".to_owned());
        }
        let recursive: usize = self.recursive.values().map(BTreeSet::len).sum();
        let recursive_flags = self
            .by_path
            .values()
            .flat_map(|w| w.values())
            .filter(|f| f.has(Flags::RECURSIVE))
            .count();
        if reverse != entries || recursive != recursive_flags {
            return Err(format!(
                "index sizes disagree: {entries} pairs, {reverse} reverse, \
                 {recursive} recursive of {recursive_flags}"
            ));
        }
        if entries != self.entries || apache_entries != self.apache_entries {
            return Err(format!(
                "counters drifted: {} / {} kept, {entries} / {apache_entries} counted",
                self.entries, self.apache_entries
            ));
        }
        Ok(())
    }

    fn flags(&self, path: &str, watcher: W) -> Flags {
        self.by_path
            .get(path)
            .and_then(|w| w.get(&watcher))
            .copied()
            .unwrap_or(Flags::NONE)
    }

    /// The one place that changes a (path, watcher) pair, so that the tables, the reverse
    /// index, the recursive index and the counters cannot drift apart.
    fn set_flags(&mut self, path: &str, watcher: W, new: Flags) {
        let old = self.flags(path, watcher);
        if old == new {
            return;
        }
        if new.is_empty() {
            if let Some(watchers) = self.by_path.get_mut(path) {
                watchers.remove(&watcher);
                if watchers.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if let Some(paths) = self.by_watcher.get_mut(&watcher) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_watcher.remove(&watcher);
                }
            }
            self.entries -= 1;
        } else {
            match self.by_path.get_mut(path) {
                Some(watchers) => {
                    watchers.insert(watcher, new);
                }
                None => {
                    self.by_path
                        .insert(path.to_owned(), BTreeMap::from([(watcher, new)]));
                }
            }
            if old.is_empty() {
                self.by_watcher
                    .entry(watcher)
                    .or_default()
                    .insert(path.to_owned());
                self.entries += 1;
            }
        }
        match (old.has(Flags::RECURSIVE), new.has(Flags::RECURSIVE)) {
            (false, true) => {
                self.recursive
                    .entry(path.to_owned())
                    .or_default()
                    .insert(watcher);
            }
            (true, false) => self.unindex_recursive(path, watcher),
            _ => {}
        }
        // Adding before subtracting keeps the counter from dipping below zero midway.
        self.apache_entries =
            self.apache_entries + new.apache_table_entries() - old.apache_table_entries();
    }

    fn unindex_recursive(&mut self, path: &str, watcher: W) {
        if let Some(watchers) = self.recursive.get_mut(path) {
            watchers.remove(&watcher);
            if watchers.is_empty() {
                self.recursive.remove(path);
            }
        }
    }
}
