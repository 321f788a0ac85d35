//! Latency and size distributions the server keeps for `mntr`, the admin `/metrics`
//! endpoint and `srvr`: request latency per operation (kept by each shard), and the group
//! commit's fdatasync latency and batch size (kept by the sequencer). They are plain values
//! that cross threads only inside a four-letter-word gather, where they are merged.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Microseconds up to an hour, three significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

/// A mergeable distribution of values (microseconds, or counts).
#[derive(Debug, Clone)]
pub struct Distribution(Histogram<u64>);

impl Default for Distribution {
    fn default() -> Self {
        // Constant bounds that hdrhistogram documents as valid: no input reaches this.
        Self(
            Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("constant histogram bounds are valid"),
        )
    }
}

impl Distribution {
    pub fn record(&mut self, value: u64) {
        let _ = self.0.record(value.clamp(1, MAX_MICROS));
    }

    pub fn merge(&mut self, other: &Distribution) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    pub fn min(&self) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.min()
        }
    }

    pub fn max(&self) -> u64 {
        self.0.max()
    }

    /// The sum of the recorded values, as the mean times the count: values are kept to three
    /// significant digits, so this is within 0.1% of the exact sum. It exists for Prometheus
    /// summaries, whose `_sum` series dashboards divide by `_count` for an average.
    pub fn sum(&self) -> u64 {
        (self.mean() * self.count() as f64).round() as u64
    }

    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            self.0.mean()
        }
    }
}

/// Request latency per operation name (from the request's arrival to its answer).
#[derive(Debug, Clone, Default)]
pub struct RequestLatency {
    pub by_op: BTreeMap<&'static str, Distribution>,
}

impl RequestLatency {
    pub fn record(&mut self, op: &'static str, micros: u64) {
        self.by_op.entry(op).or_default().record(micros);
    }

    pub fn merge(&mut self, other: &RequestLatency) {
        for (op, d) in &other.by_op {
            self.by_op.entry(op).or_default().merge(d);
        }
    }

    /// Every operation together.
    pub fn all(&self) -> Distribution {
        self.merged(|_| true)
    }

    /// Reads and updates apart, as Apache's `readlatency` and `updatelatency` split them:
    /// a request that carries a transaction is an update, anything else (pings too) a read.
    pub fn reads_and_updates(&self) -> (Distribution, Distribution) {
        (self.merged(|op| !is_update(op)), self.merged(is_update))
    }

    fn merged(&self, wanted: impl Fn(&str) -> bool) -> Distribution {
        let mut out = Distribution::default();
        for (op, d) in &self.by_op {
            if wanted(op) {
                out.merge(d);
            }
        }
        out
    }
}

/// The operations (by `OpCode::name`) that become transactions.
fn is_update(op: &str) -> bool {
    matches!(
        op,
        "create"
            | "create2"
            | "createContainer"
            | "createTTL"
            | "delete"
            | "deleteContainer"
            | "setData"
            | "setACL"
            | "multi"
            | "reconfig"
            | "createSession"
            | "closeSession"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_record_merge_and_report() {
        let mut a = RequestLatency::default();
        for v in 1..=100 {
            a.record("getData", v);
        }
        let mut b = RequestLatency::default();
        b.record("setData", 5000);
        b.record("getData", 1000);
        a.merge(&b);
        let get = &a.by_op["getData"];
        assert_eq!(get.count(), 101);
        assert!((1000..=1001).contains(&get.max()), "max {}", get.max());
        assert!((49..=51).contains(&get.quantile(0.5)));
        let all = a.all();
        assert_eq!(all.count(), 102);
        // Values are kept to three significant digits, so 5000 reads back within 0.1%.
        assert!((5000..=5005).contains(&all.max()), "max {}", all.max());
        let (reads, updates) = a.reads_and_updates();
        assert_eq!((reads.count(), updates.count()), (101, 1));
        // 1..=100 sum to 5050 and 1000 reads back within 0.1%.
        assert!((6045..=6056).contains(&reads.sum()), "sum {}", reads.sum());
        assert_eq!(
            Distribution::default().quantile(0.99),
            0,
            "an empty distribution reports 0"
        );
    }
}
