//! Per-operation latency histograms and error counts, and their three renderings: the
//! terminal percentile table, JSON, and HdrHistogram's `.hgrm` percentile distribution.
//! Latencies are recorded in nanoseconds and reported in microseconds.

use crate::options::OpKind;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The largest latency a histogram tracks: one minute. Larger samples are clamped to it
/// (and counted as such) rather than dropped.
pub const LATENCY_MAX_NS: u64 = 60_000_000_000;
/// Three significant digits: 0.1% value resolution.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in nanoseconds.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid, so this cannot fail.
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// The results of one operation kind.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Latency of every answered request, errors included (a fast error is still a reply).
    pub latency: Histogram<u64>,
    /// Answered requests whose reply carried a non-zero error code, by code.
    pub errors: BTreeMap<i32, u64>,
    /// Samples above [`LATENCY_MAX_NS`], recorded as that maximum.
    pub clamped: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            latency: new_histogram(),
            errors: BTreeMap::new(),
            clamped: 0,
        }
    }
}

impl OpStats {
    /// Records one reply.
    pub fn record(&mut self, latency_ns: u64, err: i32) {
        let v = latency_ns.clamp(1, LATENCY_MAX_NS);
        if latency_ns > LATENCY_MAX_NS {
            self.clamped += 1;
        }
        // The value is clamped into the histogram's range, so recording cannot fail.
        let _ = self.latency.record(v);
        if err != 0 {
            *self.errors.entry(err).or_insert(0) += 1;
        }
    }

    /// Adds another connection's results.
    pub fn merge(&mut self, other: &OpStats) {
        // Both histograms share the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (code, n) in &other.errors {
            *self.errors.entry(*code).or_insert(0) += n;
        }
        self.clamped += other.clamped;
    }

    /// Replies that carried an error code.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// All operations of a run (or of one connection).
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Results per operation kind; only kinds that were sent appear.
    pub ops: BTreeMap<OpKind, OpStats>,
}

impl RunStats {
    /// The entry of `op`, created on first use.
    pub fn op(&mut self, op: OpKind) -> &mut OpStats {
        self.ops.entry(op).or_default()
    }

    /// Adds another connection's results.
    pub fn merge(&mut self, other: &RunStats) {
        for (op, s) in &other.ops {
            self.op(*op).merge(s);
        }
    }

    /// Every operation folded into one.
    pub fn total(&self) -> OpStats {
        let mut all = OpStats::default();
        for s in self.ops.values() {
            all.merge(s);
        }
        all
    }
}

/// The percentiles every table and JSON report shows.
pub const PERCENTILES: [(f64, &str); 6] = [
    (50.0, "p50"),
    (90.0, "p90"),
    (99.0, "p99"),
    (99.9, "p99.9"),
    (99.99, "p99.99"),
    (100.0, "max"),
];

/// A summary of one histogram in microseconds, as JSON reports carry it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Summary {
    /// Replies recorded.
    pub count: u64,
    /// Replies with an error code.
    pub errors: u64,
    /// Replies per second over the measured window.
    pub throughput: f64,
    /// Mean latency in microseconds.
    pub mean_us: f64,
    /// Smallest latency in microseconds.
    pub min_us: f64,
    /// Percentile label (p50, p99, ...) to latency in microseconds.
    pub percentiles_us: BTreeMap<String, f64>,
    /// Error code (with its name) to count.
    pub error_codes: BTreeMap<String, u64>,
}

/// Nanoseconds to microseconds.
pub fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Summarises `stats` over a window of `seconds`.
pub fn summarize(stats: &OpStats, seconds: f64) -> Summary {
    let h = &stats.latency;
    let count = h.len();
    let mut percentiles_us = BTreeMap::new();
    for (p, label) in PERCENTILES {
        let v = if count == 0 {
            0
        } else {
            h.value_at_percentile(p)
        };
        percentiles_us.insert(label.to_string(), us(v));
    }
    Summary {
        count,
        errors: stats.error_count(),
        throughput: if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        },
        mean_us: if count == 0 { 0.0 } else { h.mean() / 1000.0 },
        min_us: if count == 0 { 0.0 } else { us(h.min()) },
        percentiles_us,
        error_codes: stats
            .errors
            .iter()
            .map(|(c, n)| (error_label(*c), *n))
            .collect(),
    }
}

/// `NoNode(-101)` for a known code, `-999` for an unknown one.
pub fn error_label(code: i32) -> String {
    match ringkeeper_engine::ErrorCode::from_code(code) {
        Some(e) => format!("{e:?}({code})"),
        None => code.to_string(),
    }
}

/// The terminal table: one row per operation plus a total row, then error counts by code.
pub fn percentile_table(stats: &RunStats, seconds: f64) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<12} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "op", "count", "ops/s", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    out.push_str("   (latency in us)\n");
    let mut rows: Vec<(String, &OpStats)> =
        stats.ops.iter().map(|(o, s)| (o.to_string(), s)).collect();
    let total = stats.total();
    if stats.ops.len() > 1 {
        rows.push(("all".to_string(), &total));
    }
    for (name, s) in &rows {
        let sum = summarize(s, seconds);
        let _ = write!(
            out,
            "{:<12} {:>10} {:>11.1} {:>9.1}",
            name, sum.count, sum.throughput, sum.mean_us
        );
        for (_, label) in PERCENTILES.iter() {
            let _ = write!(out, " {:>9.1}", sum.percentiles_us[*label]);
        }
        out.push('\n');
    }
    let mut any_error = false;
    for (op, s) in &stats.ops {
        for (code, n) in &s.errors {
            if !any_error {
                out.push_str("errors by code:\n");
                any_error = true;
            }
            let _ = writeln!(
                out,
                "  {:<12} {:<28} {:>10}",
                op.name(),
                error_label(*code),
                n
            );
        }
        if s.clamped > 0 {
            let _ = writeln!(
                out,
                "  {:<12} {} samples above {} s clamped",
                op.name(),
                s.clamped,
                LATENCY_MAX_NS / 1_000_000_000
            );
        }
    }
    if !any_error {
        out.push_str("errors by code: none\n");
    }
    out
}

/// HdrHistogram's percentile distribution text (what `HistogramLogProcessor` and
/// hdrhistogram.github.io/HdrHistogram/plotFiles.html read), values in microseconds.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        return out;
    }
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "")
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {}",
            us(v.value_iterated_to()),
            q,
            v.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        us(h.max()),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// Writes `<op>.hgrm` for every operation (and `all.hgrm`) into `dir`.
pub fn write_hgrm_dir(stats: &RunStats, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (op, s) in &stats.ops {
        std::fs::write(dir.join(format!("{}.hgrm", op.name())), hgrm(&s.latency))?;
    }
    std::fs::write(dir.join("all.hgrm"), hgrm(&stats.total().latency))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_stats() -> RunStats {
        let mut run = RunStats::default();
        let get = run.op(OpKind::GetData);
        for i in 1..=1000u64 {
            get.record(i * 1000, 0); // 1 us .. 1000 us
        }
        get.record(5_000, -101);
        let set = run.op(OpKind::SetData);
        set.record(2_000_000, 0);
        run
    }

    #[test]
    fn summary_reports_percentiles_in_microseconds_and_errors_by_code() {
        let run = sample_stats();
        let s = summarize(&run.ops[&OpKind::GetData], 2.0);
        assert_eq!(s.count, 1001);
        assert_eq!(s.errors, 1);
        assert!((s.throughput - 500.5).abs() < 1e-9);
        let p50 = s.percentiles_us["p50"];
        assert!((495.0..=505.0).contains(&p50), "p50 {p50}");
        let max = s.percentiles_us["max"];
        assert!((999.0..=1001.0).contains(&max), "max {max}");
        assert_eq!(s.error_codes["NoNode(-101)"], 1);
    }

    #[test]
    fn merge_adds_counts_and_errors() {
        let mut a = sample_stats();
        let b = sample_stats();
        a.merge(&b);
        assert_eq!(a.ops[&OpKind::GetData].latency.len(), 2002);
        assert_eq!(a.ops[&OpKind::GetData].errors[&-101], 2);
        assert_eq!(a.total().latency.len(), 2004);
    }

    #[test]
    fn oversized_samples_are_clamped_not_dropped() {
        let mut s = OpStats::default();
        s.record(LATENCY_MAX_NS * 10, 0);
        assert_eq!(s.latency.len(), 1);
        assert_eq!(s.clamped, 1);
    }

    #[test]
    fn table_lists_every_op_total_and_errors() {
        let table = percentile_table(&sample_stats(), 1.0);
        assert!(table.contains("getData"));
        assert!(table.contains("setData"));
        assert!(table.lines().any(|l| l.starts_with("all ")));
        assert!(table.contains("NoNode(-101)"));
    }

    #[test]
    fn hgrm_ends_at_the_maximum_with_all_samples() {
        let run = sample_stats();
        let text = hgrm(&run.ops[&OpKind::GetData].latency);
        assert!(text.contains("Total count    =         1001"));
        let counted: u64 = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum();
        assert_eq!(counted, 1001);
        let last = text
            .lines()
            .take_while(|l| !l.starts_with('#'))
            .last()
            .unwrap();
        assert!(last.contains("1.000000000000"), "last line {last}");
    }
}
