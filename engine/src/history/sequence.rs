//! Sequential creates under one parent: ZooKeeper takes the sequence number from the
//! parent's child counter as it applies the create, so acknowledged creates never share a
//! number, numbers follow the order the creates took effect in, and every acknowledged node
//! stays until someone deletes it (the histories checked here delete none).

use super::{Action, CreateOutcome, Op, Violation, ViolationKind};
use std::collections::BTreeMap;

/// Checks one parent's creates against each other and, when given, against the sequence
/// numbers of the parent's children listed after the last operation.
pub fn check_parent(parent: &str, ops: &[&Op], listing: Option<&[i64]>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut add = |kind, detail| {
        out.push(Violation {
            kind,
            key: parent.to_string(),
            detail,
        })
    };
    // sequence -> (sent, acknowledged)
    let mut acked: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut unanswered = 0usize;
    for op in ops {
        let Action::Create { outcome, .. } = &op.action else {
            continue;
        };
        match (outcome, op.complete_ns) {
            (CreateOutcome::Created { sequence }, Some(done)) => {
                if acked.insert(*sequence, (op.invoke_ns, done)).is_some() {
                    add(
                        ViolationKind::DuplicateSequence,
                        format!("two creates acknowledged with sequence number {sequence}"),
                    );
                }
            }
            (CreateOutcome::Rejected, Some(_)) => {}
            _ => unanswered += 1,
        }
    }
    // A create sent after another was acknowledged must get a higher number: in number
    // order, no create may have been sent after a higher-numbered one was acknowledged.
    let order: Vec<(i64, (u64, u64))> = acked.iter().map(|(s, t)| (*s, *t)).collect();
    let mut acked_from = vec![u64::MAX; order.len() + 1];
    for i in (0..order.len()).rev() {
        acked_from[i] = acked_from[i + 1].min(order[i].1 .1);
    }
    let mut latest_sent: Option<(i64, u64)> = None;
    for (i, (seq, (sent, _))) in order.iter().enumerate() {
        if let Some((lower, at)) = latest_sent {
            if at > acked_from[i] {
                add(
                    ViolationKind::SequenceOrder,
                    format!("create numbered {lower} was sent at {at} ns, after the one numbered {seq} or higher was acknowledged at {} ns", acked_from[i]),
                );
            }
        }
        if latest_sent.is_none_or(|(_, at)| *sent > at) {
            latest_sent = Some((*seq, *sent));
        }
    }
    let Some(listing) = listing else {
        return out;
    };
    let listed: std::collections::BTreeSet<i64> = listing.iter().copied().collect();
    let lost: Vec<i64> = acked
        .keys()
        .filter(|s| !listed.contains(s))
        .copied()
        .collect();
    if !lost.is_empty() {
        add(
            ViolationKind::LostCreate,
            format!(
                "{} acknowledged nodes are missing from the final listing, e.g. sequence {:?}",
                lost.len(),
                &lost[..lost.len().min(5)]
            ),
        );
    }
    let extra = listed.iter().filter(|s| !acked.contains_key(s)).count();
    if extra > unanswered {
        add(
            ViolationKind::PhantomCreate,
            format!("{extra} listed nodes were not acknowledged, but only {unanswered} creates went unanswered"),
        );
    }
    out
}
