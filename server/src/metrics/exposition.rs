//! Writing the Prometheus text exposition format (version 0.0.4) the way
//! Apache's exporter (Prometheus simpleclient 0.9) shapes its families: help
//! text, one `# TYPE` line per family, and summaries as quantile samples
//! followed by `_count` and `_sum`.

use std::fmt::Write as _;

use crate::latency::Distribution;

pub use crate::admin::prometheus::{counter, gauge, CONTENT_TYPE};

/// One summary's values: `(quantile, value)` pairs, the sum and the count.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryValues {
    pub quantiles: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: u64,
}

/// A median-only summary in milliseconds from a distribution in microseconds,
/// as Apache's `DetailLevel.BASIC` timings; with no observations the median is
/// NaN, as Apache's is.
pub fn millis_median(d: &Distribution) -> SummaryValues {
    let median = if d.count() == 0 {
        f64::NAN
    } else {
        d.quantile(0.5) as f64 / 1000.0
    };
    SummaryValues {
        quantiles: vec![(0.5, median)],
        sum: d.sum() as f64 / 1000.0,
        count: d.count(),
    }
}

/// Appends one summary family with its help text.
pub fn summary(out: &mut String, name: &str, help: &str, values: &SummaryValues) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} summary");
    for (q, v) in &values.quantiles {
        let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {v}");
    }
    let _ = writeln!(out, "{name}_count {}", values.count);
    let _ = writeln!(out, "{name}_sum {}", values.sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_have_quantiles_then_count_and_sum() {
        let mut out = String::new();
        summary(
            &mut out,
            "readlatency",
            "readlatency",
            &SummaryValues {
                quantiles: vec![(0.5, 1.5), (0.9, 2.0), (0.99, 7.25)],
                sum: 12.5,
                count: 4,
            },
        );
        assert_eq!(
            out,
            "# HELP readlatency readlatency\n# TYPE readlatency summary\n\
             readlatency{quantile=\"0.5\"} 1.5\nreadlatency{quantile=\"0.9\"} 2\n\
             readlatency{quantile=\"0.99\"} 7.25\nreadlatency_count 4\nreadlatency_sum 12.5\n"
        );
    }
}
