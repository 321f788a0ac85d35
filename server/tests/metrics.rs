//! The Prometheus metrics port (`metricsProvider.className=...PrometheusMetricsProvider`):
//! valid text exposition, Apache's names and types as recorded from Apache itself in
//! `docs/metrics-reference/apache-3.8.txt`, and every metric the shipped Grafana dashboard
//! (`docs/grafana/ringkeeper.json`) queries.
//!
//! Debian's Apache ZooKeeper ships without the Prometheus provider's jar, so the tests that
//! scrape a server run against ringkeeper only; the dashboard is checked against Apache's
//! reference list in either mode.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleOptions};
use common::http::get;
use common::server::Flavor;
use common::*;

const PROVIDER: &str =
    "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
const REFERENCE: &str = include_str!("../../docs/metrics-reference/apache-3.8.txt");
const DASHBOARD: &str = include_str!("../../docs/grafana/ringkeeper.json");
const METRICS_DOC: &str = include_str!("../../docs/metrics.md");

/// The docs/metrics.md table row of an Apache metric.
fn doc_row(name: &str) -> Option<&'static str> {
    let start = format!("| `{name}` |");
    METRICS_DOC.lines().find(|line| line.starts_with(&start))
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One sample line: its series name, labels (sorted) and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One metric family: its `# TYPE` and samples.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<Sample>,
}

/// Parses the text exposition format 0.0.4 strictly: every sample belongs to a family
/// declared by one `# TYPE` line before it, a family's lines are contiguous, names and
/// labels are well formed, values are numbers, no series appears twice, and every summary
/// has quantile samples plus exactly one `_count` and one `_sum`.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |what: String| format!("line {}: {what}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        let family = if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (keyword, name, tail) = (words.next(), words.next(), words.next());
            let name = name.ok_or_else(|| at("comment without a name".into()))?;
            check_name(name).map_err(at)?;
            match keyword {
                Some("HELP") if !helps.insert(name.to_owned()) => {
                    return Err(at("second HELP".into()))
                }
                Some("TYPE") => {
                    let kind = tail.ok_or_else(|| at("TYPE without a type".into()))?;
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if families.contains_key(name) {
                        return Err(at("second TYPE".into()));
                    }
                    families.insert(
                        name.to_owned(),
                        Family {
                            kind: kind.to_owned(),
                            samples: Vec::new(),
                        },
                    );
                }
                _ => {}
            }
            name.to_owned()
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let family = family_of(&families, &sample.name)
                .ok_or_else(|| at("sample without a TYPE before it".into()))?;
            let key = format!("{}{:?}", sample.name, sample.labels);
            if !series.insert(key) {
                return Err(at("duplicate series".into()));
            }
            families
                .get_mut(&family)
                .expect("family_of found it")
                .samples
                .push(sample);
            family
        };
        if current.as_ref() != Some(&family) {
            if finished.contains(&family) {
                return Err(at("family lines are not contiguous".into()));
            }
            if let Some(previous) = current.replace(family) {
                finished.insert(previous);
            }
        }
    }
    for (name, family) in &families {
        if family.kind == "summary" {
            check_summary(name, family)?;
        }
    }
    Ok(families)
}

fn check_summary(name: &str, family: &Family) -> Result<(), String> {
    let count = |series: String| family.samples.iter().filter(|s| s.name == series).count();
    if count(format!("{name}_count")) != 1 || count(format!("{name}_sum")) != 1 {
        return Err(format!("summary {name} needs one _count and one _sum"));
    }
    for s in family.samples.iter().filter(|s| s.name == name) {
        let q: f64 = s
            .labels
            .get("quantile")
            .and_then(|q| q.parse().ok())
            .ok_or_else(|| format!("summary {name} sample without a quantile"))?;
        if !(0.0..=1.0).contains(&q) {
            return Err(format!("summary {name} quantile {q} outside 0..1"));
        }
    }
    Ok(())
}

/// The family a series belongs to: its own name, or a summary's `_count`/`_sum`.
fn family_of(families: &BTreeMap<String, Family>, series: &str) -> Option<String> {
    if families.contains_key(series) {
        return Some(series.to_owned());
    }
    ["_count", "_sum"].iter().find_map(|suffix| {
        let base = series.strip_suffix(suffix)?;
        (families.get(base)?.kind == "summary").then(|| base.to_owned())
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let close = inner.find('}').ok_or("unclosed labels")?;
        for pair in inner[..close].split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or("label without =")?;
            check_name(key)?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or("label value not quoted")?;
            if labels.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(format!("label {key} twice"));
            }
        }
        rest = &inner[close + 1..];
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Apache's reference list: name -> (Prometheus type, quantiles, keyed by a `key` label).
fn reference() -> BTreeMap<String, (String, Vec<f64>, bool)> {
    REFERENCE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (name, kind) = line.split_once(' ').expect("name kind");
            let keyed = kind.ends_with("[key]");
            let kind = kind.trim_end_matches("[key]");
            let (kind, quantiles) = match kind.split_once('(') {
                Some((kind, qs)) => (
                    kind,
                    qs.trim_end_matches(')')
                        .split(',')
                        .map(|q| q.parse().expect("quantile"))
                        .collect(),
                ),
                None => (kind, Vec::new()),
            };
            (name.to_owned(), (kind.to_owned(), quantiles, keyed))
        })
        .collect()
}

/// Every family that is not ringkeeper's own must be Apache's, with Apache's type,
/// quantiles and labels.
fn check_against_reference(families: &BTreeMap<String, Family>) {
    let reference = reference();
    for (name, family) in families {
        if name.starts_with("ringkeeper_") {
            continue;
        }
        let (kind, quantiles, keyed) = reference
            .get(name)
            .unwrap_or_else(|| panic!("{name} is neither Apache's nor named ringkeeper_*"));
        assert_eq!(&family.kind, kind, "{name}'s type");
        let mut seen: Vec<f64> = family
            .samples
            .iter()
            .filter_map(|s| s.labels.get("quantile").map(|q| q.parse().expect("q")))
            .collect();
        seen.dedup();
        assert_eq!(&seen, quantiles, "{name}'s quantiles");
        for s in &family.samples {
            let expected: BTreeSet<&str> = keyed
                .then_some("key")
                .into_iter()
                .chain((s.name == *name && kind == "summary").then_some("quantile"))
                .collect();
            let labels: BTreeSet<&str> = s.labels.keys().map(String::as_str).collect();
            assert_eq!(labels, expected, "{}'s labels", s.name);
        }
    }
}

/// The metric names a PromQL expression reads: identifiers that are not functions,
/// keywords, label names or values, durations, or Grafana variables.
fn promql_metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 11] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
    ];
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let mut names = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' || c == '"' {
            // Label matchers, range durations and strings hold no metric names.
            let close = match c {
                '{' => '}',
                '[' => ']',
                _ => '"',
            };
            i += 1;
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
        } else if c == '$' || c.is_ascii_digit() {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if AGGREGATIONS.contains(&word.as_str()) {
                // An aggregation, called with its grouping before or after the parentheses.
            } else if KEYWORDS.contains(&word.as_str()) {
                // `by (...)` and friends list label names.
                skip_group = word != "bool" && word != "offset";
            } else if next == Some(&'(') {
                // A function call.
            } else if !skip_group {
                names.push(word);
            }
        } else {
            if c == ')' {
                skip_group = false;
            }
            i += 1;
        }
    }
    names
}

/// Every metric series name the dashboard's panels query.
fn dashboard_metric_names() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has queries: {exprs:?}");
    exprs.iter().flat_map(|e| promql_metric_names(e)).collect()
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn promql_names_are_found_and_everything_else_is_not() {
    assert_eq!(
        promql_metric_names(
            r#"rate(readlatency_sum{instance=~"$instance"}[5m]) / on (instance) rate(readlatency_count{quantile="0.5"}[5m]) > 2"#
        ),
        ["readlatency_sum", "readlatency_count"]
    );
    assert_eq!(
        promql_metric_names("sum by (instance) (increase(looking_count[1h])) or vector(0)"),
        ["looking_count"]
    );
}

/// The dashboard must work with Apache too: every series it reads is one Apache exports.
#[test]
fn the_dashboard_queries_only_what_apache_exports() {
    let reference = reference();
    for name in dashboard_metric_names() {
        let family = ["_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| reference.get(*base).is_some_and(|r| r.0 == "summary"))
            .unwrap_or(&name);
        assert!(
            reference.contains_key(family),
            "{name} is not in Apache's list"
        );
    }
}

#[test]
fn the_metrics_doc_lists_every_apache_metric() {
    for name in reference().keys() {
        assert!(
            doc_row(name).is_some(),
            "docs/metrics.md has no row for {name}"
        );
    }
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, Family> {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    let families = parse_exposition(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    check_against_reference(&families);
    for name in families.keys().filter(|n| !n.starts_with("ringkeeper_")) {
        let row = doc_row(name).unwrap_or_default();
        assert!(
            !row.contains("absent"),
            "docs/metrics.md calls {name} absent"
        );
    }
    families
}

fn value(families: &BTreeMap<String, Family>, series: &str) -> f64 {
    families
        .values()
        .flat_map(|f| &f.samples)
        .find(|s| s.name == series && !s.labels.contains_key("quantile"))
        .unwrap_or_else(|| panic!("no {series}"))
        .value
}

#[tokio::test]
async fn a_standalone_server_exports_valid_apache_named_metrics() {
    if Flavor::from_env() == Flavor::Apache {
        return;
    }
    let port = free_port();
    let mut options = ServerOptions::default();
    options.extra_config.extend([
        PROVIDER.to_owned(),
        "metricsProvider.httpHost=127.0.0.1".to_owned(),
        format!("metricsProvider.httpPort={port}"),
        "metricsProvider.exportJvmInfo=false".to_owned(),
        // A snapshot every two transactions, so that one is timed.
        "snapCount=2".to_owned(),
    ]);
    let server = TestServer::start(options);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let before = scrape(addr);
    let client = connect(&server).await;
    for i in 0..4 {
        client
            .create(&format!("/m{i}"), b"abc", &persistent())
            .await
            .unwrap();
        client.get_data(&format!("/m{i}")).await.unwrap();
    }
    let families = scrape(addr);
    assert_eq!(
        value(&families, "znode_count"),
        value(&before, "znode_count") + 4.0
    );
    assert_eq!(value(&families, "num_alive_connections"), 1.0);
    assert!(value(&families, "updatelatency_count") >= 4.0);
    assert!(value(&families, "readlatency_count") >= 4.0);
    assert!(value(&families, "fsynctime_count") >= 1.0);
    assert_eq!(value(&families, "ringkeeper_metrics_mntr_up"), 1.0);
    assert_eq!(value(&families, "dbinittime_count"), 1.0, "one start-up");
    // The snapshotter works behind the commits; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&scrape(addr), "snapshottime_count") < 1.0 {
        assert!(Instant::now() < deadline, "no snapshot was timed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(families["readlatency"].kind, "summary");
    // A standalone server has no quorum, as in Apache.
    assert!(!families.contains_key("quorum_size"));

    // Apache's exporter serves /metrics only.
    assert_eq!(get(addr, "/").0, 404);
}

/// Apache's exporter reads its numbers in-process whatever `4lw.commands.whitelist` says;
/// ringkeeper's asks `mntr` on the client port, which a network client is still refused.
#[tokio::test]
async fn the_metrics_port_ignores_the_default_whitelist() {
    if Flavor::from_env() == Flavor::Apache {
        return;
    }
    let port = free_port();
    let mut options = ServerOptions {
        // No whitelist line: the default, `srvr` only.
        four_letter_words: String::new(),
        ..ServerOptions::default()
    };
    options.extra_config.extend([
        PROVIDER.to_owned(),
        "metricsProvider.httpHost=127.0.0.1".to_owned(),
        format!("metricsProvider.httpPort={port}"),
    ]);
    let server = TestServer::start(options);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let before = scrape(addr);
    assert_eq!(value(&before, "ringkeeper_metrics_mntr_up"), 1.0);
    let client = connect(&server).await;
    client.create("/w", b"abc", &persistent()).await.unwrap();
    let after = scrape(addr);
    assert_eq!(
        value(&after, "znode_count"),
        value(&before, "znode_count") + 1.0
    );
    assert_eq!(value(&after, "num_alive_connections"), 1.0);
    assert!(value(&after, "approximate_data_size") > 0.0);
    assert_eq!(
        server.four_letter_word("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
}

/// Every metric the dashboard reads is exported by some member of an ensemble (the leader
/// alone has `leader_uptime`), and each member's exposition is valid.
#[tokio::test]
async fn an_ensemble_exports_every_metric_the_dashboard_queries() {
    if Flavor::from_env() == Flavor::Apache {
        return;
    }
    let port = free_port();
    let options = EnsembleOptions {
        extra_config: vec![
            PROVIDER.to_owned(),
            "metricsProvider.httpHost={ip}".to_owned(),
            format!("metricsProvider.httpPort={port}"),
        ],
        ..EnsembleOptions::default()
    };
    let mut ensemble = Ensemble::start(3, options);
    let leader = ensemble.wait_for_leader(Duration::from_secs(30));
    let metrics_of = |i: usize| SocketAddr::new(ensemble.client_address(i).ip(), port);

    let mut exported = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0..ensemble.len() {
        // A member answers mntr once it serves; until then only ringkeeper's own values. The
        // leader's learner counts reach the port at its first protocol tick as leader.
        let families = loop {
            let families = scrape(metrics_of(i));
            let serving = value(&families, "ringkeeper_metrics_mntr_up") == 1.0;
            let complete = i != leader || families.contains_key("learners");
            if (serving && complete) || Instant::now() > deadline {
                break families;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(value(&families, "quorum_size"), 3.0, "member {i}");
        assert!(value(&families, "election_time_count") >= 1.0, "member {i}");
        assert!(value(&families, "looking_count") >= 1.0, "member {i}");
        for leader_only in ["leader_uptime", "learners", "synced_followers"] {
            let exported = families.contains_key(leader_only);
            assert_eq!(exported, i == leader, "member {i}: {leader_only}");
        }
        for family in families.values() {
            exported.extend(family.samples.iter().map(|s| s.name.clone()));
        }
    }
    // Both followers connect and are brought up to date.
    while value(&scrape(metrics_of(leader)), "synced_followers") < 2.0 {
        assert!(Instant::now() < deadline, "the followers never synced");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(value(&scrape(metrics_of(leader)), "learners"), 2.0);
    // Each follower was synchronized once, by diff or by snapshot.
    let families = scrape(metrics_of(leader));
    assert!(value(&families, "diff_count") + value(&families, "snap_count") >= 2.0);

    // The leader counts what it proposes; the counts reach the port at the next tick.
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(DEFAULT_SESSION_TIMEOUT)
        .connect(&ensemble.connect_string())
        .await
        .expect("connects to the ensemble");
    let proposed_before = value(&scrape(metrics_of(leader)), "proposal_count");
    for i in 0..3 {
        client
            .create(&format!("/p{i}"), b"x", &persistent())
            .await
            .unwrap();
    }
    while value(&scrape(metrics_of(leader)), "proposal_count") < proposed_before + 3.0 {
        assert!(Instant::now() < deadline, "proposals were not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing: Vec<String> = dashboard_metric_names()
        .into_iter()
        .filter(|name| !exported.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard reads {missing:?}, which nobody exports"
    );
}
