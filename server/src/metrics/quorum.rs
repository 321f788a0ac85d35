//! Apache's election and quorum metrics, from the serving role's changes.
//!
//! `replica::role::set` reports every role it sets here; the metrics port
//! reads the cells at each scrape. Role changes are rare (start-up and
//! elections), so one mutex is cheap and never on a request path. The
//! leader's view of its learners and the protocol's counts change all the
//! time and are stored by the sequencer at every protocol tick, in atomics.
//!
//! ringkeeper's replication reports one step from "looking" to "serving":
//! its `election_time` therefore spans the election and the synchronization
//! with the leader, where Apache's stops when the election settles.
//! `unavailable_time` and `leader_unavailable_time` mean what Apache's mean.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use ringkeeper_replication::{LeaderView, Stats};

use super::exposition;
use crate::latency::Distribution;
use crate::replica::role::ServingRole;

struct Cells {
    role: ServingRole,
    looking_since: Option<Instant>,
    leading_since: Option<Instant>,
    /// Voting members; zero for a standalone server, which has no quorum.
    quorum_size: u64,
    looking_count: u64,
    /// Looking to serving, in microseconds (as every `Distribution`).
    unavailable_us: Distribution,
    /// The same, for the times this server came out of it as the leader.
    leader_unavailable_us: Distribution,
}

impl Cells {
    fn new() -> Cells {
        Cells {
            role: ServingRole::Standalone,
            looking_since: None,
            leading_since: None,
            quorum_size: 0,
            looking_count: 0,
            unavailable_us: Distribution::default(),
            leader_unavailable_us: Distribution::default(),
        }
    }

    fn role_set(&mut self, role: ServingRole, now: Instant) {
        if self.role == role {
            return;
        }
        self.role = role;
        self.leading_since = None;
        match role {
            ServingRole::Looking => {
                self.looking_count += 1;
                self.looking_since = Some(now);
            }
            ServingRole::Following | ServingRole::Leading | ServingRole::Observing => {
                if let Some(since) = self.looking_since.take() {
                    let us = now.saturating_duration_since(since).as_micros();
                    let us = u64::try_from(us).unwrap_or(u64::MAX);
                    self.unavailable_us.record(us);
                    if role == ServingRole::Leading {
                        self.leader_unavailable_us.record(us);
                    }
                }
                if role == ServingRole::Leading {
                    self.leading_since = Some(now);
                }
            }
            ServingRole::Standalone => self.looking_since = None,
        }
    }

    fn render(&self, out: &mut String, now: Instant) {
        let election = exposition::millis_median(&self.unavailable_us);
        for name in ["election_time", "unavailable_time"] {
            exposition::summary(out, name, name, &election);
        }
        let leader = exposition::millis_median(&self.leader_unavailable_us);
        exposition::summary(
            out,
            "leader_unavailable_time",
            "leader_unavailable_time",
            &leader,
        );
        exposition::counter(out, "looking_count", "looking_count", self.looking_count);
        if matches!(
            self.role,
            ServingRole::Following | ServingRole::Leading | ServingRole::Observing
        ) {
            exposition::gauge(out, "quorum_size", "quorum_size", self.quorum_size);
        }
        if let Some(since) = self.leading_since {
            let ms = now.saturating_duration_since(since).as_millis();
            exposition::gauge(out, "leader_uptime", "leader_uptime", ms);
        }
    }
}

/// The process's cells: one process runs one server.
fn with_cells<T>(f: impl FnOnce(&mut Cells) -> T) -> T {
    static CELLS: OnceLock<Mutex<Cells>> = OnceLock::new();
    let cells = CELLS.get_or_init(|| Mutex::new(Cells::new()));
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    let mut guard = cells
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard)
}

/// A leader's learners and synced followers, `NOT_LEADING` otherwise. The
/// sequencer stores them at every protocol tick; atomics keep that tick free
/// of the scrape's lock.
static LEARNERS: AtomicU64 = AtomicU64::new(NOT_LEADING);
static SYNCED_FOLLOWERS: AtomicU64 = AtomicU64::new(NOT_LEADING);
static SYNCED_OBSERVERS: AtomicU64 = AtomicU64::new(NOT_LEADING);
const NOT_LEADING: u64 = u64::MAX;

/// Stores the leader's view of its learners (`None`: not leading).
pub fn set_leader_view(view: Option<LeaderView>) {
    let (learners, synced, observers) = view.map_or((NOT_LEADING, NOT_LEADING, NOT_LEADING), |v| {
        (
            v.learners as u64,
            v.synced as u64,
            v.synced_observers as u64,
        )
    });
    LEARNERS.store(learners, Ordering::Relaxed);
    SYNCED_FOLLOWERS.store(synced, Ordering::Relaxed);
    SYNCED_OBSERVERS.store(observers, Ordering::Relaxed);
}

/// The protocol's lifetime counts, stored with the leader's view: Apache's
/// `proposal_count`, `diff_count` (its non-snapshot syncs, which include
/// truncations) and `snap_count`, in that order.
static PROTOCOL_COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const PROTOCOL_COUNT_NAMES: [&str; 3] = ["proposal_count", "diff_count", "snap_count"];

/// Stores the protocol's counts.
pub fn set_protocol_stats(stats: &Stats) {
    let counts = [
        stats.proposals,
        stats.syncs_diff + stats.syncs_trunc,
        stats.syncs_snap,
    ];
    for (cell, count) in PROTOCOL_COUNTS.iter().zip(counts) {
        cell.store(count, Ordering::Relaxed);
    }
}

/// Records the active configuration's voting members. The sequencer stores it at every
/// protocol tick, so a committed reconfiguration shows within a tick.
pub fn set_quorum_size(voters: usize) {
    with_cells(|c| c.quorum_size = voters as u64);
}

/// Notes a role change; setting the current role again changes nothing.
pub fn role_set(role: ServingRole) {
    with_cells(|c| c.role_set(role, Instant::now()));
}

/// Apache's quorum gauges as its `mntr` prints them (3.8 prints every registered gauge
/// there): `quorum_size` on an ensemble member that serves, and `learners`,
/// `synced_followers`, `synced_observers` and `leader_uptime` (milliseconds) on the leader.
pub fn mntr_values() -> Vec<(&'static str, u64)> {
    let (role, quorum_size, leading_since) =
        with_cells(|c| (c.role, c.quorum_size, c.leading_since));
    let mut out = Vec::new();
    if matches!(
        role,
        ServingRole::Following | ServingRole::Leading | ServingRole::Observing
    ) {
        out.push(("quorum_size", quorum_size));
    }
    if role != ServingRole::Leading {
        return out;
    }
    let view = [
        ("learners", LEARNERS.load(Ordering::Relaxed)),
        ("synced_followers", SYNCED_FOLLOWERS.load(Ordering::Relaxed)),
        ("synced_observers", SYNCED_OBSERVERS.load(Ordering::Relaxed)),
    ];
    out.extend(view.into_iter().filter(|(_, v)| *v != NOT_LEADING));
    if let Some(since) = leading_since {
        let ms = Instant::now().saturating_duration_since(since).as_millis();
        out.push(("leader_uptime", u64::try_from(ms).unwrap_or(u64::MAX)));
    }
    out
}

/// Appends the families, the way Apache registers them: the summaries and
/// the counter always (with no observations their median is NaN, as in
/// Apache), `quorum_size` on an ensemble member that serves, and
/// `leader_uptime`, `learners`, `synced_followers` and `synced_observers` on the leader, and the
/// protocol's counters always.
pub fn render(out: &mut String) {
    let leading = with_cells(|c| {
        c.render(out, Instant::now());
        c.role == ServingRole::Leading
    });
    // As Apache's LeaderZooKeeperServer registers them: on the leader only.
    let view = [
        ("learners", LEARNERS.load(Ordering::Relaxed)),
        ("synced_followers", SYNCED_FOLLOWERS.load(Ordering::Relaxed)),
        ("synced_observers", SYNCED_OBSERVERS.load(Ordering::Relaxed)),
    ];
    for (name, value) in view {
        if leading && value != NOT_LEADING {
            exposition::gauge(out, name, name, value);
        }
    }
    // Counters Apache registers in every mode; a standalone server's stay 0, as Apache's do.
    for (name, cell) in PROTOCOL_COUNT_NAMES.iter().zip(&PROTOCOL_COUNTS) {
        exposition::counter(out, name, name, cell.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn elections_are_timed_and_leadership_reported() {
        let t0 = Instant::now();
        let mut c = Cells::new();
        let mut out = String::new();
        c.render(&mut out, t0);
        assert!(
            out.contains("election_time{quantile=\"0.5\"} NaN\n"),
            "{out}"
        );
        assert!(out.contains("\nelection_time_count 0\n"), "{out}");
        assert!(out.contains("\nlooking_count 0\n"), "{out}");
        assert!(
            !out.contains("quorum_size"),
            "a standalone server has none: {out}"
        );

        c.quorum_size = 3;
        c.role_set(ServingRole::Looking, t0);
        c.role_set(ServingRole::Looking, t0 + Duration::from_millis(5));
        c.role_set(ServingRole::Leading, t0 + Duration::from_millis(40));
        let mut out = String::new();
        c.render(&mut out, t0 + Duration::from_millis(1040));
        assert!(out.contains("\nlooking_count 1\n"), "{out}");
        // 40 ms, kept to three significant digits in microseconds.
        assert!(
            out.contains("election_time{quantile=\"0.5\"} 40.0"),
            "{out}"
        );
        assert!(out.contains("\nunavailable_time_count 1\n"), "{out}");
        assert!(out.contains("\nleader_unavailable_time_count 1\n"), "{out}");
        assert!(out.contains("\nquorum_size 3\n"), "{out}");
        assert!(out.contains("\nleader_uptime 1000\n"), "{out}");

        c.role_set(ServingRole::Looking, t0 + Duration::from_secs(2));
        c.role_set(ServingRole::Following, t0 + Duration::from_millis(2010));
        let mut out = String::new();
        c.render(&mut out, t0 + Duration::from_secs(3));
        assert!(out.contains("\nlooking_count 2\n"), "{out}");
        assert!(out.contains("\nelection_time_count 2\n"), "{out}");
        assert!(out.contains("\nleader_unavailable_time_count 1\n"), "{out}");
        assert!(!out.contains("leader_uptime"), "a follower has none: {out}");
    }
}
