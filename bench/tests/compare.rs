//! `rk-bench-suite compare` over two fixture reports from two made-up machines: ratios,
//! noise verdicts, the files it writes, and the report schema's round trip.

use ringkeeper_bench::suite::compare::{self, judge, Measured, NoiseVerdict};
use ringkeeper_bench::suite::report;
use ringkeeper_bench::suite::SuiteReport;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> SuiteReport {
    report::load(&fixture(name)).expect("fixture loads")
}

fn row<'a>(c: &'a compare::Comparison, label: &str) -> &'a compare::Row {
    c.rows
        .iter()
        .find(|r| r.label == label)
        .unwrap_or_else(|| panic!("no row {label}: {:?}", c.rows))
}

#[test]
fn ratios_and_noise_verdicts_of_two_machines() {
    let names = vec!["A".to_string(), "B".to_string()];
    let c = compare::compare(&names, &[load("report-a.json"), load("report-b.json")]);
    // ringkeeper: 100k ops/s ±2% on A, 150k ±2% on B: 1.5x, far beyond 4% of noise.
    let rk = row(&c, "10:1 x16 ringkeeper ops/s");
    assert!(rk.higher_is_better);
    let b = rk.cells[1].as_ref().expect("B has the point");
    assert!((b.ratio.expect("ratio") - 1.5).abs() < 1e-9);
    assert_eq!(b.verdict, NoiseVerdict::Beyond);
    assert!(rk.cells[0].as_ref().expect("baseline").ratio.is_none());
    // Apache: 40k ±10% on A, 42k ±4.8% on B: 1.05x is within the noise.
    let ap = row(&c, "10:1 x16 apache ops/s").cells[1]
        .clone()
        .expect("B");
    assert!((ap.ratio.expect("ratio") - 1.05).abs() < 1e-9);
    assert_eq!(ap.verdict, NoiseVerdict::Within);
    // A single repetition on A: the noise is unknown, not zero.
    let serial = row(&c, "ringkeeper getData p50, us").cells[1]
        .clone()
        .expect("B");
    assert_eq!(serial.verdict, NoiseVerdict::Unknown);
    assert!((serial.ratio.expect("ratio") - 25.0 / 30.0).abs() < 1e-9);
    // A point only B measured has no baseline and so no ratio.
    let only_b = row(&c, "10:1 x64 ringkeeper ops/s");
    assert!(only_b.cells[0].is_none());
    assert!(only_b.cells[1].as_ref().expect("B").ratio.is_none());
    let cpu = row(&c, "10:1 x16 ringkeeper server CPU per op, us").cells[1]
        .clone()
        .expect("B");
    assert!((cpu.ratio.expect("ratio") - 8.0 / 12.0).abs() < 1e-9);
    let mem = row(&c, "ringkeeper 1 shards bytes per znode (100000 znodes)").cells[1]
        .clone()
        .expect("B");
    assert!((mem.ratio.expect("ratio") - 1.1).abs() < 1e-9);
    let md = compare::markdown(&c);
    assert!(md.contains("1.50x, beyond noise"), "{md}");
    assert!(md.contains("1.05x, within noise"), "{md}");
    assert!(md.contains("Machine B CPU"), "{md}");
    let html = compare::html(&c);
    assert!(html.contains("<svg") && html.contains("1.50x"), "{html}");
}

#[test]
fn the_noise_rule_at_its_edges() {
    let m = |value, noise| Measured { value, noise };
    assert_eq!(
        judge(&m(100.0, Some(0.05)), &m(109.9, Some(0.05))).1,
        NoiseVerdict::Within
    );
    assert_eq!(
        judge(&m(100.0, Some(0.05)), &m(111.0, Some(0.05))).1,
        NoiseVerdict::Beyond
    );
    assert_eq!(
        judge(&m(100.0, Some(0.05)), &m(89.0, Some(0.05))).1,
        NoiseVerdict::Beyond
    );
    assert_eq!(
        judge(&m(100.0, None), &m(200.0, Some(0.0))).1,
        NoiseVerdict::Unknown
    );
    assert_eq!(
        judge(&m(0.0, Some(0.1)), &m(1.0, Some(0.1))),
        (None, NoiseVerdict::Unknown)
    );
    assert_eq!(compare::relative_noise(&[90.0, 100.0, 110.0]), Some(0.1));
    assert_eq!(compare::relative_noise(&[100.0]), None);
}

#[test]
fn a_report_survives_a_round_trip_through_its_json() {
    for name in ["report-a.json", "report-b.json"] {
        let text = std::fs::read_to_string(fixture(name)).expect("fixture");
        let original: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let parsed: SuiteReport = serde_json::from_str(&text).expect("a suite report");
        let again = serde_json::to_value(&parsed).expect("serialises");
        assert_eq!(again, original, "{name} changed in the round trip");
    }
}

#[test]
fn reports_from_before_the_schema_version_still_load() {
    let old =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/2026-11-22/quick-run2/report.json");
    let r = report::load(&old).expect("old report loads");
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.settings.repeats, 1);
    assert!(!r.throughput.is_empty());
}

#[test]
fn the_compare_command_writes_markdown_and_html() {
    let out = std::env::temp_dir().join(format!("rk-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_rk-bench-suite"))
        .arg("compare")
        .arg(fixture("report-a.json"))
        .arg(fixture("report-b.json"))
        .args(["--names", "A,B", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(status.status.success(), "{status:?}");
    let md = std::fs::read_to_string(out.join("compare.md")).expect("compare.md");
    assert!(md.contains("| point | A | B |"), "{md}");
    let html = std::fs::read_to_string(out.join("compare.html")).expect("compare.html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("</svg>"));
    let one = Command::new(env!("CARGO_BIN_EXE_rk-bench-suite"))
        .arg("compare")
        .arg(fixture("report-a.json"))
        .output()
        .expect("runs");
    assert_eq!(one.status.code(), Some(2), "one report is not a comparison");
    let _ = std::fs::remove_dir_all(&out);
}
