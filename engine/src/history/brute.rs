//! The exact check of one key by exhaustive search, for small windows only.
//!
//! It tries every order of the operations that real time allows (Wing and Gong's search,
//! with the states already reached remembered), letting writes without a reply either take
//! effect or not. Plain reads are left out: ZooKeeper promises them no real-time order,
//! and the fast check covers their session guarantees. Its cost grows exponentially with
//! the number of operations, hence [`OPS_MAX`].

use super::{Action, Op, WriteOutcome};
use std::collections::HashSet;

/// Most operations of one key the search takes on: 2^16 subsets times the versions is
/// still quick.
pub const OPS_MAX: usize = 16;

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A write: the version it needs (if conditional), its value, and the version it was
    /// acknowledged with (`None` when no reply came, so it may also not happen).
    Write {
        expected: Option<i32>,
        token: u64,
        acked: Option<i32>,
    },
    /// A BADVERSION reply to a write conditional on this version.
    Refused { expected: i32 },
    /// A read after sync that saw this version and value.
    Read { version: i32, token: Option<u64> },
}

#[derive(Debug, Clone, Copy)]
struct Timed {
    start_ns: u64,
    /// `u64::MAX` for operations that need not happen.
    end_ns: u64,
    step: Step,
}

/// Whether some order of `ops` (all on one key, at most [`OPS_MAX`] that count) explains
/// every reply, starting from `initial`. Returns `false` for larger inputs rather than
/// searching for too long.
pub fn linearizable(initial: i32, ops: &[&Op]) -> bool {
    let timed: Vec<Timed> = ops.iter().filter_map(|op| timed(op)).collect();
    if timed.len() > OPS_MAX {
        return false;
    }
    let mut seen = HashSet::new();
    search(&timed, 0, (initial, None), &mut seen)
}

fn timed(op: &Op) -> Option<Timed> {
    let (start_ns, step) = match &op.action {
        Action::Write {
            expected_version,
            token,
            outcome,
            ..
        } => match outcome {
            WriteOutcome::Applied { version } => (
                op.invoke_ns,
                Step::Write {
                    expected: *expected_version,
                    token: *token,
                    acked: Some(*version),
                },
            ),
            WriteOutcome::Unknown => (
                op.invoke_ns,
                Step::Write {
                    expected: *expected_version,
                    token: *token,
                    acked: None,
                },
            ),
            WriteOutcome::BadVersion => (
                op.invoke_ns,
                Step::Refused {
                    expected: (*expected_version)?,
                },
            ),
            WriteOutcome::Rejected => return None,
        },
        Action::Read {
            synced_from_ns: Some(from),
            observed: Some(o),
            ..
        } => (
            *from,
            Step::Read {
                version: o.version,
                token: o.token,
            },
        ),
        _ => return None,
    };
    let end_ns = match step {
        Step::Write { acked: None, .. } => u64::MAX,
        _ => op.complete_ns?,
    };
    Some(Timed {
        start_ns,
        end_ns,
        step,
    })
}

type State = (i32, Option<u64>);

fn search(ops: &[Timed], done: u32, state: State, seen: &mut HashSet<(u32, State)>) -> bool {
    let required_left = ops
        .iter()
        .enumerate()
        .any(|(i, o)| done & (1 << i) == 0 && o.end_ns != u64::MAX);
    if !required_left {
        return true;
    }
    if !seen.insert((done, state)) {
        return false;
    }
    // An operation may go next only if no other pending one ended before it began.
    let first_end = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| done & (1 << i) == 0)
        .map(|(_, o)| o.end_ns)
        .min()
        .unwrap_or(u64::MAX);
    for (i, op) in ops.iter().enumerate() {
        if done & (1 << i) != 0 || op.start_ns > first_end {
            continue;
        }
        let (version, _) = state;
        let next = match op.step {
            Step::Write {
                expected,
                token,
                acked,
            } => {
                let applies = expected.is_none_or(|e| e == version);
                let new_version = version.wrapping_add(1);
                match acked {
                    Some(a) if applies && a == new_version => Some((new_version, Some(token))),
                    Some(_) => None,
                    // A write without a reply may also never happen: dropping it is
                    // marking it done without a state change.
                    None if applies => {
                        if search(ops, done | (1 << i), state, seen) {
                            return true;
                        }
                        Some((new_version, Some(token)))
                    }
                    None => Some(state),
                }
            }
            Step::Refused { expected } => (expected != version).then_some(state),
            Step::Read { version: v, token } => (state == (v, token)).then_some(state),
        };
        if let Some(s) = next {
            if search(ops, done | (1 << i), s, seen) {
                return true;
            }
        }
    }
    false
}
