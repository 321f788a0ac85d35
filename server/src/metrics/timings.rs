//! Apache's timings of rare events: `snapshottime` (writing one snapshot) and
//! `dbinittime` (loading the data at start-up), in milliseconds.
//!
//! The snapshotter and `main` report each event here as it ends; they happen
//! seconds to hours apart, so one mutex is cheap and never on a request path.

use std::sync::Mutex;
use std::time::Duration;

use super::exposition;
use crate::latency::Distribution;

/// An event Apache times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A snapshot encoded, written and synced (Apache's `snapshottime`).
    Snapshot,
    /// The data directory recovered at start-up (Apache's `dbinittime`).
    DbInit,
}

impl Event {
    const ALL: [Event; 2] = [Event::Snapshot, Event::DbInit];

    fn apache_name(self) -> &'static str {
        match self {
            Event::Snapshot => "snapshottime",
            Event::DbInit => "dbinittime",
        }
    }
}

/// Microseconds per event, in `Event::ALL` order.
static TIMINGS: Mutex<Vec<Distribution>> = Mutex::new(Vec::new());

fn with_timings<T>(f: impl FnOnce(&mut Vec<Distribution>) -> T) -> T {
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    let mut guard = TIMINGS.lock().unwrap_or_else(|p| p.into_inner());
    guard.resize_with(Event::ALL.len(), Distribution::default);
    f(&mut guard)
}

/// Notes that one `event` took `took`.
pub fn record(event: Event, took: Duration) {
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    with_timings(|t| t[event as usize].record(us));
}

/// Appends one median-only summary per event, as Apache's `DetailLevel.BASIC`.
pub fn render(out: &mut String) {
    with_timings(|t| {
        for event in Event::ALL {
            let name = event.apache_name();
            exposition::summary(
                out,
                name,
                name,
                &exposition::millis_median(&t[event as usize]),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `main` records start-ups, so this test owns `DbInit` in the shared cells.
    #[test]
    fn start_up_times_become_a_median_in_milliseconds() {
        record(Event::DbInit, Duration::from_millis(5));
        record(Event::DbInit, Duration::from_millis(9));
        record(Event::DbInit, Duration::from_millis(7));
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains("# TYPE dbinittime summary\n"), "{out}");
        assert!(out.contains("dbinittime{quantile=\"0.5\"} 7.0"), "{out}");
        assert!(out.contains("\ndbinittime_count 3\n"), "{out}");
        assert!(out.contains("# TYPE snapshottime summary\n"), "{out}");
    }
}
