//! Open-loop send schedule. Each connection owns an evenly spaced slice of the total rate,
//! offset so that connections interleave instead of firing together. Latency in open loop
//! is measured from these intended times, so a stalled server shows up as queueing delay
//! instead of as fewer, faster samples (no coordinated omission).

use std::time::Duration;

/// The intended send times of one connection, relative to the run's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    interval_ns: f64,
    offset_ns: f64,
}

impl Schedule {
    /// The schedule of connection `index` of `connections` sharing `rate` requests per
    /// second. Returns `None` for a rate that is not a positive finite number.
    pub fn new(rate: f64, connections: usize, index: usize) -> Option<Schedule> {
        if !rate.is_finite() || rate <= 0.0 || connections == 0 {
            return None;
        }
        let per_second = 1e9 / rate;
        Some(Schedule {
            interval_ns: per_second * connections as f64,
            offset_ns: per_second * index as f64,
        })
    }

    /// When request `n` (counting from 0) of this connection is due.
    pub fn intended(&self, n: u64) -> Duration {
        Duration::from_nanos((self.offset_ns + self.interval_ns * n as f64) as u64)
    }

    /// How many requests of this connection are due within `elapsed` of the start.
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let t = elapsed.as_nanos() as f64;
        if t < self.offset_ns {
            0
        } else {
            ((t - self.offset_ns) / self.interval_ns).floor() as u64 + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_interleave_evenly() {
        // 1000 requests per second over 4 connections: each sends every 4 ms, and the
        // connections are 1 ms apart.
        let s: Vec<Schedule> = (0..4)
            .map(|i| Schedule::new(1000.0, 4, i).unwrap())
            .collect();
        assert_eq!(s[0].intended(0), Duration::ZERO);
        assert_eq!(s[1].intended(0), Duration::from_millis(1));
        assert_eq!(s[3].intended(2), Duration::from_millis(11));
        let mut all: Vec<Duration> = s
            .iter()
            .flat_map(|x| (0..10).map(|n| x.intended(n)))
            .collect();
        all.sort();
        for (i, t) in all.iter().enumerate() {
            assert_eq!(*t, Duration::from_millis(i as u64));
        }
    }

    #[test]
    fn due_by_counts_the_requests_already_due() {
        let s = Schedule::new(100.0, 2, 1).unwrap(); // every 20 ms from 10 ms
        assert_eq!(s.due_by(Duration::from_millis(9)), 0);
        assert_eq!(s.due_by(Duration::from_millis(10)), 1);
        assert_eq!(s.due_by(Duration::from_millis(29)), 1);
        assert_eq!(s.due_by(Duration::from_millis(30)), 2);
        // Over a whole second the connection sends its half of the rate.
        assert_eq!(s.due_by(Duration::from_millis(999)), 50);
    }

    #[test]
    fn invalid_rates_are_refused() {
        assert!(Schedule::new(0.0, 1, 0).is_none());
        assert!(Schedule::new(-5.0, 1, 0).is_none());
        assert!(Schedule::new(f64::NAN, 1, 0).is_none());
        assert!(Schedule::new(10.0, 0, 0).is_none());
    }
}
