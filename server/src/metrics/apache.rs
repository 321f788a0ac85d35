//! Apache ZooKeeper's metric names and types (as its `PrometheusMetricsProvider`
//! exports them in 3.8), built from what `mntr` reports. The names, kinds and
//! quantiles come from `docs/metrics-reference/apache-3.8.txt`, recorded from
//! Apache itself; a test checks every family here against that file.

use std::collections::HashMap;

use super::exposition::{self, SummaryValues};

/// `mntr` keys (without `zk_`) that Apache registers as gauges of the same
/// name, with the same meaning. `mntr` also prints Apache's
/// `auth_failed_count`, `{last,min,max}_client_response_size`,
/// `outstanding_tls_handshake` and `non_mtls_{local,remote}_conn_count`, but
/// ringkeeper does not measure them (they stay at their initial values), so
/// they are left out here rather than exported as numbers that look measured.
pub const GAUGES_FROM_MNTR: [&str; 17] = [
    "approximate_data_size",
    "avg_latency",
    "connection_drop_probability",
    "ephemerals_count",
    "global_sessions",
    "local_sessions",
    "max_file_descriptor_count",
    "max_latency",
    "min_latency",
    "num_alive_connections",
    "open_file_descriptor_count",
    "outstanding_requests",
    "packets_received",
    "packets_sent",
    "uptime",
    "watch_count",
    "znode_count",
];

/// Apache's `DetailLevel.BASIC` summaries carry the median only.
pub const BASIC_QUANTILES: &[f64] = &[0.5];
/// `DetailLevel.ADVANCED` summaries carry three quantiles.
pub const ADVANCED_QUANTILES: &[f64] = &[0.5, 0.9, 0.99];

/// An Apache summary made from one of ringkeeper's distributions in `mntr`
/// (`<source>_count`, `_sum`, `_p50`, `_p90`, `_p99`, all in microseconds).
pub struct SummaryFromMntr {
    pub apache: &'static str,
    pub source: &'static str,
    pub quantiles: &'static [f64],
}

/// Apache measures these three in milliseconds; ringkeeper's sources are in
/// microseconds and are scaled, keeping the fraction rather than rounding.
pub const SUMMARIES_FROM_MNTR: [SummaryFromMntr; 3] = [
    SummaryFromMntr {
        apache: "readlatency",
        source: "ringkeeper_read_latency_us",
        quantiles: ADVANCED_QUANTILES,
    },
    SummaryFromMntr {
        apache: "updatelatency",
        source: "ringkeeper_update_latency_us",
        quantiles: ADVANCED_QUANTILES,
    },
    SummaryFromMntr {
        apache: "fsynctime",
        source: "ringkeeper_fsync_latency_us",
        quantiles: BASIC_QUANTILES,
    },
];

const MICROS_PER_MS: f64 = 1000.0;

/// The numeric `mntr` values by key, `zk_` dropped; text values are left out.
pub fn parse_mntr(mntr: &str) -> HashMap<&str, f64> {
    mntr.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter_map(|(key, value)| {
            let key = key.trim();
            let key = key.strip_prefix("zk_").unwrap_or(key);
            let value: f64 = value.trim().parse().ok()?;
            value.is_finite().then_some((key, value))
        })
        .collect()
}

/// Appends Apache's families that `mntr` has values for. Apache uses each
/// metric's name as its help text, and so does this.
pub fn render(values: &HashMap<&str, f64>, out: &mut String) {
    for name in GAUGES_FROM_MNTR {
        if let Some(value) = values.get(name) {
            exposition::gauge(out, name, name, value);
        }
    }
    for s in &SUMMARIES_FROM_MNTR {
        if let Some(summary) = summary_from(values, s) {
            exposition::summary(out, s.apache, s.apache, &summary);
        }
    }
}

fn summary_from(values: &HashMap<&str, f64>, s: &SummaryFromMntr) -> Option<SummaryValues> {
    let get = |suffix: &str| {
        values
            .get(format!("{}_{suffix}", s.source).as_str())
            .copied()
    };
    let count = get("count")?;
    let sum = get("sum")?;
    let mut quantiles = Vec::with_capacity(s.quantiles.len());
    for &q in s.quantiles {
        let suffix = format!("p{}", (q * 100.0).round());
        // With no observations Apache's quantiles are NaN; ringkeeper's report 0.
        let value = if count == 0.0 {
            f64::NAN
        } else {
            get(&suffix)? / MICROS_PER_MS
        };
        quantiles.push((q, value));
    }
    Some(SummaryValues {
        quantiles,
        sum: sum / MICROS_PER_MS,
        count: count as u64,
    })
}

/// ringkeeper's own `mntr` values (`ringkeeper_*`), as gauges under their own
/// names: the prefix keeps them apart from every Apache name.
pub fn render_own(values: &HashMap<&str, f64>, out: &mut String) {
    let mut own: Vec<(&str, f64)> = values
        .iter()
        .filter(|(key, _)| key.starts_with("ringkeeper_") && is_metric_name(key))
        .map(|(key, value)| (*key, *value))
        .collect();
    own.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in own {
        exposition::gauge(
            out,
            name,
            "ringkeeper's own mntr value (see docs/metrics.md).",
            value,
        );
    }
}

/// Prometheus metric names are `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNTR: &str = "zk_version\t3.8.4-ringkeeper\nzk_server_state\tstandalone\n\
        zk_znode_count\t5\nzk_avg_latency\t0.25\nzk_uptime\t900\nzk_auth_failed_count\t0\n\
        zk_ringkeeper_read_latency_us_count\t4\nzk_ringkeeper_read_latency_us_sum\t10000\n\
        zk_ringkeeper_read_latency_us_p50\t1500\nzk_ringkeeper_read_latency_us_p90\t2000\n\
        zk_ringkeeper_read_latency_us_p99\t7250\nzk_ringkeeper_read_latency_us_p999\t7250\n\
        zk_ringkeeper_fsync_latency_us_count\t2\nzk_ringkeeper_fsync_latency_us_sum\t3000\n\
        zk_ringkeeper_fsync_latency_us_p50\t1000\n\
        zk_ringkeeper_update_latency_us_count\t0\nzk_ringkeeper_update_latency_us_sum\t0\n\
        zk_ringkeeper_shard_0_connections\t1\nzk_ringkeeper_bad-name\t1\n";

    #[test]
    fn mntr_values_become_apache_gauges_and_millisecond_summaries() {
        let values = parse_mntr(MNTR);
        let mut out = String::new();
        render(&values, &mut out);
        assert!(
            out.contains("# TYPE znode_count gauge\nznode_count 5\n"),
            "{out}"
        );
        assert!(out.contains("\navg_latency 0.25\n"), "{out}");
        assert!(out.contains("\nuptime 900\n"), "{out}");
        assert!(!out.contains("auth_failed_count"), "not measured: {out}");
        assert!(
            out.contains(
                "# TYPE readlatency summary\nreadlatency{quantile=\"0.5\"} 1.5\n\
                 readlatency{quantile=\"0.9\"} 2\nreadlatency{quantile=\"0.99\"} 7.25\n\
                 readlatency_count 4\nreadlatency_sum 10\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("fsynctime{quantile=\"0.5\"} 1\nfsynctime_count 2\nfsynctime_sum 3\n"),
            "{out}"
        );
        assert!(
            out.contains("updatelatency{quantile=\"0.99\"} NaN\nupdatelatency_count 0\n"),
            "{out}"
        );
        assert!(!out.contains("ringkeeper_"), "{out}");
    }

    #[test]
    fn own_values_keep_their_prefixed_names_and_bad_names_are_dropped() {
        let values = parse_mntr(MNTR);
        let mut out = String::new();
        render_own(&values, &mut out);
        assert!(
            out.contains("\nringkeeper_shard_0_connections 1\n"),
            "{out}"
        );
        assert!(!out.contains("bad-name"), "{out}");
        assert!(!out.contains("znode_count"), "{out}");
    }
}
