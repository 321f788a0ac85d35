//! The vocabulary of watches: how a watch was set (`WatchKind`), how a client names watches
//! when it checks or removes them (`WatcherType`, the wire values of Watcher.WatcherType), and
//! what a removal took away (`Removed`).

use crate::types::EventType;

/// How a watch was registered. Apache keeps getData and exists watches in one table (its
/// `dataWatches`), so `Data` and `Exist` are stored alike: both are fired by NodeCreated,
/// NodeDataChanged and NodeDeleted on the path. The two names exist because the requests and
/// SetWatches keep them apart, and callers read better when they say which one they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData, or exists on a node that exists: one-shot.
    Data,
    /// exists on a node that does not exist: one-shot, fired by the node's creation.
    Exist,
    /// getChildren: one-shot, fired by NodeChildrenChanged or NodeDeleted of the path.
    Child,
    /// addWatch mode 0: every event on exactly this path, never removed by firing.
    Persistent,
    /// addWatch mode 1: every event except NodeChildrenChanged on this path and all its
    /// descendants, never removed by firing.
    PersistentRecursive,
}

impl WatchKind {
    /// Maps the `mode` of an AddWatchRequest (ZooDefs.AddWatchModes) to a kind. Any other
    /// value is a client error (Apache throws IllegalArgumentException; the server should
    /// answer BadArguments).
    pub fn from_add_watch_mode(mode: i32) -> Option<Self> {
        match mode {
            0 => Some(WatchKind::Persistent),
            1 => Some(WatchKind::PersistentRecursive),
            _ => None,
        }
    }

    pub(crate) fn flag(self) -> Flags {
        match self {
            WatchKind::Data | WatchKind::Exist => Flags::DATA,
            WatchKind::Child => Flags::CHILD,
            WatchKind::Persistent => Flags::PERSISTENT,
            WatchKind::PersistentRecursive => Flags::RECURSIVE,
        }
    }
}

/// Watcher.WatcherType: the `type` field of CheckWatchesRequest (opcode 17) and
/// RemoveWatchesRequest (opcode 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum WatcherType {
    /// The one-shot child watch only; a persistent watch on the path is left alone.
    Children = 1,
    /// The one-shot data (or exist) watch only; a persistent watch is left alone.
    Data = 2,
    /// Every watch this connection holds on the path, persistent ones included.
    Any = 3,
    /// The persistent (non-recursive) watch only.
    Persistent = 4,
    /// The persistent-recursive watch only.
    PersistentRecursive = 5,
}

impl WatcherType {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Apache throws on an unknown value; we hand the decision back to the caller.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            4 => Some(WatcherType::Persistent),
            5 => Some(WatcherType::PersistentRecursive),
            _ => None,
        }
    }

    /// The flags this type selects, mirroring DataTree.containsWatcher / removeWatch.
    pub(crate) fn mask(self) -> Flags {
        match self {
            WatcherType::Children => Flags::CHILD,
            WatcherType::Data => Flags::DATA,
            WatcherType::Any => Flags::ALL,
            WatcherType::Persistent => Flags::PERSISTENT,
            WatcherType::PersistentRecursive => Flags::RECURSIVE,
        }
    }
}

/// What one `remove` call took away from a (path, watcher) pair.
///
/// Apache's server never sends an event for a removal: the client library, once the server
/// answered Ok, synthesises DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved for
/// its own local watchers (ZKWatchManager.removeWatcher). `client_events` names those events
/// so that tests and tools can tell what a client will observe; the server sends nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Removed {
    pub child: bool,
    pub data: bool,
    pub persistent: bool,
    pub persistent_recursive: bool,
}

impl Removed {
    pub(crate) fn from_flags(flags: Flags) -> Self {
        Self {
            child: flags.has(Flags::CHILD),
            data: flags.has(Flags::DATA),
            persistent: flags.has(Flags::PERSISTENT),
            persistent_recursive: flags.has(Flags::RECURSIVE),
        }
    }

    /// True when nothing was removed: the server must answer NoWatcher (-121).
    pub fn is_empty(&self) -> bool {
        !(self.child || self.data || self.persistent || self.persistent_recursive)
    }

    /// The events a client library raises locally after a successful removal, in the order
    /// ZKWatchManager lists them (child, data, persistent). Both persistent kinds share
    /// PersistentWatchRemoved.
    pub fn client_events(&self) -> Vec<EventType> {
        let mut events = Vec::new();
        if self.child {
            events.push(EventType::ChildWatchRemoved);
        }
        if self.data {
            events.push(EventType::DataWatchRemoved);
        }
        if self.persistent || self.persistent_recursive {
            events.push(EventType::PersistentWatchRemoved);
        }
        events
    }
}

/// The set of watch modes one watcher holds on one path. Apache keeps two tables (data and
/// child watches) with a mode set each; a persistent watch sits in both tables and is always
/// added and removed in both together, so one bit stands for it here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub(crate) struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// One-shot data or exist watch (Apache: dataWatches, STANDARD).
    pub const DATA: Flags = Flags(1);
    /// One-shot child watch (Apache: childWatches, STANDARD).
    pub const CHILD: Flags = Flags(2);
    /// Persistent watch (Apache: both tables, PERSISTENT).
    pub const PERSISTENT: Flags = Flags(4);
    /// Persistent-recursive watch (Apache: dataWatches only, PERSISTENT_RECURSIVE).
    pub const RECURSIVE: Flags = Flags(8);
    pub const ALL: Flags = Flags(15);
    /// The modes Apache's data table holds for a path: fired by NodeCreated, NodeDataChanged
    /// and NodeDeleted.
    pub const IN_DATA_TABLE: Flags = Flags(1 | 4 | 8);
    /// The modes Apache's child table holds for a path: fired by NodeChildrenChanged and
    /// NodeDeleted. The recursive mode is not there, which is why recursive watches never
    /// see NodeChildrenChanged.
    pub const IN_CHILD_TABLE: Flags = Flags(2 | 4);

    pub fn has(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    pub fn only(self, other: Flags) -> Flags {
        Flags(self.0 & other.0)
    }

    /// How many entries Apache's two tables hold for this mode set: one per table in which
    /// the pair appears. This is what `mntr`'s zk_watch_count adds up.
    pub fn apache_table_entries(self) -> usize {
        usize::from(self.has(Flags::IN_DATA_TABLE)) + usize::from(self.has(Flags::IN_CHILD_TABLE))
    }
}
