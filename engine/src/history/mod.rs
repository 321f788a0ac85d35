//! Recorded client histories and their check: were the answers a ZooKeeper client got
//! possible under ZooKeeper's guarantees?
//!
//! A history is a list of operations, each with the time it was sent, the time its reply
//! arrived (none when the reply never came) and what it returned. The checker is pure: it
//! takes the history and returns the violations, so the load generator (`rk-load --check`)
//! and a whole-server simulator can share it.
//!
//! What is checked, per key and per sequential parent:
//! - **Versioned writes** (setData, conditional or not) form one register per key. Every
//!   acknowledged setData returns the Stat version it produced, and ZooKeeper gives every
//!   applied write of a key the next version, so the versions are a witness of the write
//!   order: the check needs no search (see [`register`]), O(n log n) per key.
//! - **Reads after `sync`** are linearizable from the moment the sync was sent: they see
//!   every write acknowledged before then. Plain reads get ZooKeeper's session guarantees
//!   only: no going back in versions on one session, and a client sees its own writes.
//! - **Sequential creates**: no two acknowledged creates share a sequence number, numbers
//!   follow real time, and every acknowledged node is in the parent's final listing.
//!
//! Writes whose reply never came may or may not have happened. A read that returns their
//! value places them; the rest are matched to the versions nobody acknowledged or saw
//! (each gap needs its own write, sent before a later version was in place). How they
//! interact with BADVERSION replies and reads is not modelled by that matching, so keys
//! with unmatched writes and few enough operations get an exact answer from a bounded
//! exhaustive search ([`brute`]).

pub mod brute;
pub mod register;
pub mod sequence;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

/// Violations kept in a report; further ones are only counted.
pub const VIOLATIONS_KEPT_MAX: usize = 100;

/// One operation as a client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The session (or client) that sent it.
    pub client: u32,
    /// When the request was sent, in nanoseconds on the recorder's clock.
    pub invoke_ns: u64,
    /// When the reply arrived; `None` when none came (connection lost, run ended).
    pub complete_ns: Option<u64>,
    /// What was asked and answered.
    pub action: Action,
}

/// The kinds of operation the checker understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// setData of `key`. `token` identifies the value written: every write of a history
    /// writes a value of its own, so a read names the write it saw.
    Write {
        /// The znode.
        key: String,
        /// The version the write was conditional on; `None` for version -1.
        expected_version: Option<i32>,
        /// The written value's identity.
        token: u64,
        /// What the reply said.
        outcome: WriteOutcome,
    },
    /// getData of `key`.
    Read {
        /// The znode.
        key: String,
        /// When this session's `sync` before the read was sent; `None` for a plain read.
        synced_from_ns: Option<u64>,
        /// What the read returned; `None` when no usable reply came.
        observed: Option<Observed>,
    },
    /// A sequential create under `parent`.
    Create {
        /// The parent znode.
        parent: String,
        /// What the reply said.
        outcome: CreateOutcome,
    },
}

/// The reply to a setData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied; the Stat's version after the write.
    Applied {
        /// `Stat.version` of the reply.
        version: i32,
    },
    /// BADVERSION: the key's version was not the expected one.
    BadVersion,
    /// Another definite error: the write did not happen.
    Rejected,
    /// No reply: it may or may not have happened.
    Unknown,
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// `Stat.version`.
    pub version: i32,
    /// The token of the value, or `None` for a value no write of the history wrote (the
    /// initial value).
    pub token: Option<u64>,
}

/// The reply to a sequential create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Created with this sequence number (the path's 10-digit suffix).
    Created {
        /// The sequence number.
        sequence: i64,
    },
    /// A definite error: nothing was created.
    Rejected,
    /// No reply: a node may or may not have been created.
    Unknown,
}

/// A whole recorded history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The operations, in any order.
    pub ops: Vec<Op>,
    /// Each key's version before the first operation (its value counts as no write's).
    pub initial_versions: BTreeMap<String, i32>,
    /// Each sequential parent's children's sequence numbers, listed after the last
    /// operation; parents missing here get no lost-create check.
    pub final_sequences: BTreeMap<String, Vec<i64>>,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// A key's operations have no initial version to start from.
    NoInitialVersion,
    /// Two writes of one key were acknowledged (or seen) with the same version.
    DuplicateVersion,
    /// A conditional write succeeded with a version other than the expected one plus one.
    WrongConditionalVersion,
    /// A write acknowledged with a lower version began after one with a higher version
    /// had taken effect.
    WriteOrder,
    /// A read returned a value or version that no write produced.
    UnknownValue,
    /// A read returned a value with another version than the write that wrote it.
    ValueMismatch,
    /// A read returned a version whose write had not been sent yet.
    FutureRead,
    /// A read after sync missed a write acknowledged (or seen) before the sync was sent.
    StaleRead,
    /// A session read an older version than it had already seen or written.
    SessionOrder,
    /// BADVERSION although the key had the expected version for the whole request.
    WrongBadVersion,
    /// No order of the operations explains the replies (found by exhaustive search).
    NotLinearizable,
    /// Versions were skipped with no unacknowledged write left to explain them.
    VersionGap,
    /// Two acknowledged creates got the same sequence number.
    DuplicateSequence,
    /// A create acknowledged with a lower sequence number began after one with a higher
    /// number was acknowledged.
    SequenceOrder,
    /// An acknowledged sequential node is not in its parent's final listing.
    LostCreate,
    /// The final listing has more nodes than creates could have made.
    PhantomCreate,
}

/// One violation, with enough to find it in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationKind,
    /// The key or parent.
    pub key: String,
    /// The facts, in words.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} on {}: {}", self.kind, self.key, self.detail)
    }
}

/// The result of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Operations looked at.
    pub ops: usize,
    /// Keys with writes or reads.
    pub keys: usize,
    /// Sequential parents with creates.
    pub parents: usize,
    /// Keys decided by the exhaustive search.
    pub keys_searched: usize,
    /// Violations found, all kinds.
    pub violation_count: usize,
    /// The first [`VIOLATIONS_KEPT_MAX`] of them.
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// Whether the history passed.
    pub fn passed(&self) -> bool {
        self.violation_count == 0
    }

    fn add(&mut self, v: Violation) {
        self.violation_count += 1;
        if self.violations.len() < VIOLATIONS_KEPT_MAX {
            self.violations.push(v);
        }
    }
}

/// Checks a history; see the module documentation for what is checked.
pub fn check(history: &History) -> CheckReport {
    let mut report = CheckReport {
        ops: history.ops.len(),
        ..CheckReport::default()
    };
    let mut per_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    let mut per_parent: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        match &op.action {
            Action::Write { key, .. } | Action::Read { key, .. } => {
                per_key.entry(key).or_default().push(op)
            }
            Action::Create { parent, .. } => per_parent.entry(parent).or_default().push(op),
        }
    }
    report.keys = per_key.len();
    report.parents = per_parent.len();
    for (key, ops) in per_key {
        let Some(&initial) = history.initial_versions.get(key) else {
            report.add(Violation {
                kind: ViolationKind::NoInitialVersion,
                key: key.to_string(),
                detail: format!("{} operations but no initial version", ops.len()),
            });
            continue;
        };
        let mut found = Vec::new();
        let searched = register::check_key(key, initial, &ops, &mut found);
        report.keys_searched += usize::from(searched);
        for v in found {
            report.add(v);
        }
    }
    for (parent, ops) in per_parent {
        let listing = history.final_sequences.get(parent).map(Vec::as_slice);
        for v in sequence::check_parent(parent, &ops, listing) {
            report.add(v);
        }
    }
    report
}
