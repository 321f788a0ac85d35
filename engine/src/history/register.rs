//! One key as a versioned register: the fast check.
//!
//! ZooKeeper gives every applied setData of a key the next `Stat.version`, and every
//! acknowledged write returns its version, so the versions fix the order of the writes.
//! What remains is to see whether there are points in time, one per write, increasing with
//! the version and each inside its write's request, such that every read after `sync` falls
//! between the write it saw and the next one. Taking every point as early as allowed
//! shows this holds exactly when, for every version v:
//! - no write of a lower version was sent after v (or a later version) was acknowledged or
//!   seen by a read ([`ViolationKind::WriteOrder`]);
//! - no read saw v before v's write was sent ([`ViolationKind::FutureRead`]);
//! - no read after a sync saw a version lower than v when v (or a later version) had
//!   been acknowledged or seen before the sync was sent ([`ViolationKind::StaleRead`]).
//!
//! Sorting by version and one suffix minimum make that O(n log n).

use super::{brute, Action, Op, Violation, ViolationKind, WriteOutcome};
use std::collections::{BTreeMap, HashMap};

/// What is known of one version of the key.
#[derive(Debug, Clone, Copy)]
struct VersionInfo {
    /// When the write that made it was sent (0 for the initial version).
    invoke_ns: u64,
    /// The earliest moment it is known to have been in place: its write's reply or a
    /// read that saw it.
    visible_ns: u64,
    /// The value's token; `None` for the initial value.
    token: Option<u64>,
}

/// A read whose value has been matched to a version.
struct PlacedRead {
    version: i32,
    start_ns: u64,
}

/// The write a token names.
struct TokenWrite {
    invoke_ns: u64,
    expected: Option<i32>,
    outcome: WriteOutcome,
}

/// Checks one key's operations, appending violations to `out`; returns whether the
/// exhaustive search was used.
pub fn check_key(key: &str, initial: i32, ops: &[&Op], out: &mut Vec<Violation>) -> bool {
    let mut add = |kind: ViolationKind, detail: String| {
        out.push(Violation {
            kind,
            key: key.to_string(),
            detail,
        })
    };
    let mut versions: BTreeMap<i32, VersionInfo> = BTreeMap::new();
    versions.insert(
        initial,
        VersionInfo {
            invoke_ns: 0,
            visible_ns: 0,
            token: None,
        },
    );
    let mut by_token: HashMap<u64, TokenWrite> = HashMap::new();
    for op in ops {
        let Action::Write {
            expected_version,
            token,
            outcome,
            ..
        } = &op.action
        else {
            continue;
        };
        by_token.insert(
            *token,
            TokenWrite {
                invoke_ns: op.invoke_ns,
                expected: *expected_version,
                outcome: *outcome,
            },
        );
        let WriteOutcome::Applied { version } = *outcome else {
            continue;
        };
        if let Some(e) = expected_version {
            if version != e.wrapping_add(1) {
                add(
                    ViolationKind::WrongConditionalVersion,
                    format!("setData with version {e} acknowledged with version {version}"),
                );
            }
        }
        let info = VersionInfo {
            invoke_ns: op.invoke_ns,
            visible_ns: op.complete_ns.unwrap_or(u64::MAX),
            token: Some(*token),
        };
        if let Some(prev) = versions.insert(version, info) {
            add(
                ViolationKind::DuplicateVersion,
                format!(
                    "two writes acknowledged with version {version} (values {:?} and {token})",
                    prev.token
                ),
            );
        }
    }
    // Reads name the write they saw by its token; a write without a reply is placed at the
    // version a read saw it with.
    let mut placed_unknown: HashMap<u64, i32> = HashMap::new();
    let mut reads = Vec::new();
    for op in ops {
        let Action::Read {
            synced_from_ns,
            observed: Some(seen),
            ..
        } = &op.action
        else {
            continue;
        };
        let Some(complete_ns) = op.complete_ns else {
            continue;
        };
        let v = seen.version;
        match seen.token {
            None if v != initial => {
                add(
                    ViolationKind::UnknownValue,
                    format!(
                        "read saw the initial value with version {v}, initial version is {initial}"
                    ),
                );
                continue;
            }
            None => {}
            Some(t) => match by_token.get(&t) {
                None => {
                    add(
                        ViolationKind::UnknownValue,
                        format!("read saw value {t} at version {v}, which no write wrote"),
                    );
                    continue;
                }
                Some(w) => match w.outcome {
                    WriteOutcome::Applied { version } if version != v => {
                        add(
                            ViolationKind::ValueMismatch,
                            format!("read saw value {t} at version {v}; its write was acknowledged with version {version}"),
                        );
                        continue;
                    }
                    WriteOutcome::Applied { .. } => {}
                    WriteOutcome::BadVersion | WriteOutcome::Rejected => {
                        add(
                            ViolationKind::UnknownValue,
                            format!("read saw value {t} at version {v}, written by a write that was refused"),
                        );
                        continue;
                    }
                    WriteOutcome::Unknown => match placed_unknown.get(&t) {
                        Some(&at) if at != v => {
                            add(
                                ViolationKind::ValueMismatch,
                                format!("value {t} of an unacknowledged write seen at versions {at} and {v}"),
                            );
                            continue;
                        }
                        Some(_) => {}
                        None => {
                            placed_unknown.insert(t, v);
                            let info = VersionInfo {
                                invoke_ns: w.invoke_ns,
                                visible_ns: complete_ns,
                                token: Some(t),
                            };
                            if let Some(prev) = versions.insert(v, info) {
                                versions.insert(v, prev);
                                add(
                                    ViolationKind::DuplicateVersion,
                                    format!(
                                        "version {v} holds value {:?} and value {t}",
                                        prev.token
                                    ),
                                );
                                continue;
                            }
                        }
                    },
                },
            },
        }
        let Some(info) = versions.get_mut(&v) else {
            continue;
        };
        if info.token != seen.token {
            add(
                ViolationKind::ValueMismatch,
                format!(
                    "read saw value {:?} at version {v}, which the write of value {:?} made",
                    seen.token, info.token
                ),
            );
            continue;
        }
        info.visible_ns = info.visible_ns.min(complete_ns);
        if let Some(start_ns) = synced_from_ns {
            reads.push(PlacedRead {
                version: v,
                start_ns: *start_ns,
            });
        }
        if info.invoke_ns > complete_ns {
            add(
                ViolationKind::FutureRead,
                format!("read answered at {complete_ns} ns saw version {v}, whose write was sent at {} ns", info.invoke_ns),
            );
        }
    }
    let order: Vec<(i32, VersionInfo)> = versions.iter().map(|(v, i)| (*v, *i)).collect();
    // visible_from[i]: the earliest moment version order[i].0 or a later one was in place.
    let mut visible_from = vec![u64::MAX; order.len() + 1];
    for i in (0..order.len()).rev() {
        visible_from[i] = visible_from[i + 1].min(order[i].1.visible_ns);
    }
    let mut latest_invoke: Option<(i32, u64)> = None;
    for (i, (v, info)) in order.iter().enumerate() {
        if let Some((lower, sent)) = latest_invoke {
            if sent > visible_from[i] {
                add(
                    ViolationKind::WriteOrder,
                    format!("write of version {lower} was sent at {sent} ns, after version {v} or later was in place at {} ns", visible_from[i]),
                );
            }
        }
        if latest_invoke.is_none_or(|(_, sent)| info.invoke_ns > sent) {
            latest_invoke = Some((*v, info.invoke_ns));
        }
    }
    let first_above = |v: i32| order.partition_point(|(u, _)| *u <= v);
    for r in &reads {
        let newer = visible_from[first_above(r.version)];
        if newer < r.start_ns {
            add(
                ViolationKind::StaleRead,
                format!("read after a sync sent at {} ns saw version {}, but a later version was in place at {newer} ns", r.start_ns, r.version),
            );
        }
    }
    check_sessions(ops, &mut add);
    let unplaced_writes: Vec<&TokenWrite> = by_token
        .iter()
        .filter(|(t, w)| w.outcome == WriteOutcome::Unknown && !placed_unknown.contains_key(t))
        .map(|(_, w)| w)
        .collect();
    let unplaced: Vec<u64> = unplaced_writes.iter().map(|w| w.invoke_ns).collect();
    check_bad_versions(ops, &order, &unplaced, &mut add);
    if let Some(detail) = unfilled_gap(&order, &visible_from, &unplaced_writes) {
        add(ViolationKind::VersionGap, detail);
    }
    // Writes without a reply that no read placed leave the fast check with a necessary
    // condition only; a small key gets the exact answer.
    if unplaced.is_empty() || ops.len() > brute::OPS_MAX {
        return false;
    }
    if !brute::linearizable(initial, ops) {
        add(
            ViolationKind::NotLinearizable,
            format!(
                "no order of its {} operations explains the replies",
                ops.len()
            ),
        );
    }
    true
}

/// Versions no acknowledged or seen write made must have been made by writes that got no
/// reply, each by a different one, sent before a later version was in place (and, for a
/// conditional one, on top of the version it named). Taking the gaps in version order, a
/// conditional write that fits a gap is used first (it fits no other), then any
/// unconditional one sent early enough: those fit every later gap too, so only their number
/// matters. Returns what is wrong, if anything.
fn unfilled_gap(
    order: &[(i32, VersionInfo)],
    visible_from: &[u64],
    unplaced: &[&TokenWrite],
) -> Option<String> {
    let present = order.len() as i64;
    let span = order.last().map_or(0, |(v, _)| i64::from(*v)) - i64::from(order[0].0) + 1;
    let gap_count = span - present;
    if gap_count > unplaced.len() as i64 {
        return Some(format!(
            "{gap_count} versions have no write, and only {} writes went unanswered",
            unplaced.len()
        ));
    }
    let mut free: Vec<u64> = unplaced
        .iter()
        .filter(|w| w.expected.is_none())
        .map(|w| w.invoke_ns)
        .collect();
    free.sort_unstable();
    let mut conditional: HashMap<i32, Vec<u64>> = HashMap::new();
    for w in unplaced {
        if let Some(e) = w.expected {
            conditional.entry(e).or_default().push(w.invoke_ns);
        }
    }
    let mut free_used = 0usize;
    for (i, pair) in order.windows(2).enumerate() {
        let (low, high) = (pair[0].0, pair[1].0);
        // Every version between low and high must be in place before high (or later) was.
        let deadline = visible_from[i + 1];
        for gap in low.saturating_add(1)..high {
            let fits = |sent: &u64| *sent < deadline;
            let by_condition = conditional
                .get_mut(&(gap - 1))
                .and_then(|c| c.iter().position(fits).map(|at| c.swap_remove(at)));
            if by_condition.is_some() {
                continue;
            }
            let sent_in_time = free.partition_point(|sent| fits(sent));
            if sent_in_time <= free_used {
                return Some(format!(
                    "version {gap} has no write: no unanswered write was sent before version {high} or later was in place at {deadline} ns"
                ));
            }
            free_used += 1;
        }
    }
    None
}

/// ZooKeeper's session guarantee: one session's requests take effect in the order it sent
/// them, so its reads never see a version older than one it has seen or written.
fn check_sessions(ops: &[&Op], add: &mut impl FnMut(ViolationKind, String)) {
    let mut by_client: BTreeMap<u32, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_client.entry(op.client).or_default().push(op);
    }
    for (client, mut list) in by_client {
        list.sort_by_key(|op| op.invoke_ns);
        let mut floor: Option<i32> = None;
        for op in list {
            let seen = match &op.action {
                Action::Write {
                    outcome: WriteOutcome::Applied { version },
                    ..
                } => *version,
                Action::Read {
                    observed: Some(o), ..
                } if op.complete_ns.is_some() => {
                    if let Some(f) = floor.filter(|f| o.version < *f) {
                        add(
                            ViolationKind::SessionOrder,
                            format!(
                                "session {client} read version {} after it had seen version {f}",
                                o.version
                            ),
                        );
                    }
                    o.version
                }
                _ => continue,
            };
            floor = Some(floor.map_or(seen, |f| f.max(seen)));
        }
    }
}

/// A BADVERSION reply is wrong when the key certainly had the expected version for the
/// whole request: that version was in place before it was sent, and no write that could
/// replace it was sent before the reply came.
fn check_bad_versions(
    ops: &[&Op],
    order: &[(i32, VersionInfo)],
    unplaced_invokes: &[u64],
    add: &mut impl FnMut(ViolationKind, String),
) {
    // sent_from[i]: the earliest send of a write of version order[i].0 or later, so each
    // BADVERSION reply costs a binary search, not a scan.
    let mut sent_from = vec![u64::MAX; order.len() + 1];
    for i in (0..order.len()).rev() {
        sent_from[i] = sent_from[i + 1].min(order[i].1.invoke_ns);
    }
    let first_unplaced = unplaced_invokes.iter().copied().min().unwrap_or(u64::MAX);
    for op in ops {
        let Action::Write {
            expected_version: Some(e),
            outcome: WriteOutcome::BadVersion,
            ..
        } = &op.action
        else {
            continue;
        };
        let Some(complete_ns) = op.complete_ns else {
            continue;
        };
        let Ok(at) = order.binary_search_by_key(e, |(v, _)| *v) else {
            continue;
        };
        let had = order[at].1;
        let next_sent = sent_from[at + 1].min(first_unplaced);
        if had.visible_ns < op.invoke_ns && next_sent > complete_ns {
            add(
                ViolationKind::WrongBadVersion,
                format!("setData with version {e} got BADVERSION while the key had version {e} from {} ns until after {complete_ns} ns", had.visible_ns),
            );
        }
    }
}
