//! `rk-bench-suite compare`: two or more reports (typically from different machines) side
//! by side. The first report is the baseline; every other one gets its ratio to it per
//! scenario, and a ratio is flagged as within the noise when the reports' own run-to-run
//! spread could explain it.
//!
//! Noise of one value: half the range of its repetitions relative to their median
//! (`(max - min) / 2 / median`), from the samples `--repeat` records (or a scenario's own
//! rounds, e.g. snapshots). Two values differ beyond the noise when their ratio is further
//! from 1 than the sum of their two noises; with fewer than two samples on either side the
//! noise is unknown and said so, never assumed.

use super::snapshot::Spread;
use super::SuiteReport;
use crate::stats::Summary;
use std::fmt::Write as _;

/// A value with the samples it was taken from.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The reported value.
    pub value: f64,
    /// Relative noise (half range over median), when there were two samples or more.
    pub noise: Option<f64>,
}

impl Measured {
    /// A value from one measurement: noise unknown.
    pub fn single(value: f64) -> Measured {
        Measured { value, noise: None }
    }

    /// A value and the repetitions it came from.
    pub fn sampled(value: f64, samples: &[f64]) -> Measured {
        Measured {
            value,
            noise: relative_noise(samples),
        }
    }
}

/// Half the range of `samples` over their median, or `None` for fewer than two samples or
/// a median of zero.
pub fn relative_noise(samples: &[f64]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let s = Spread::of(samples)?;
    (s.median > 0.0).then(|| (s.max - s.min) / 2.0 / s.median)
}

/// How a ratio relates to the noise the two reports measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseVerdict {
    /// The difference is within the two values' combined noise.
    Within,
    /// The difference is larger than the combined noise.
    Beyond,
    /// At least one side has no repetitions to judge by.
    Unknown,
}

/// One compared value against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The value.
    pub measured: Measured,
    /// This value over the baseline's (`None` for the baseline itself or without one).
    pub ratio: Option<f64>,
    /// The noise verdict of the ratio.
    pub verdict: NoiseVerdict,
}

/// The ratio of `other` to `base` and whether it is within their noise.
pub fn judge(base: &Measured, other: &Measured) -> (Option<f64>, NoiseVerdict) {
    if base.value <= 0.0 {
        return (None, NoiseVerdict::Unknown);
    }
    let ratio = other.value / base.value;
    let verdict = match (base.noise, other.noise) {
        (Some(a), Some(b)) if (ratio - 1.0).abs() <= a + b => NoiseVerdict::Within,
        (Some(_), Some(_)) => NoiseVerdict::Beyond,
        _ => NoiseVerdict::Unknown,
    };
    (Some(ratio), verdict)
}

/// One scenario's row: a value per report.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Scenario group, e.g. `throughput`.
    pub group: String,
    /// The point, e.g. `10:1 x16 ringkeeper ops/s`.
    pub label: String,
    /// Whether a higher value is the better one (throughput) or a lower one (latency).
    pub higher_is_better: bool,
    /// Per report, in the order given; `None` where a report lacks the point.
    pub cells: Vec<Option<Cell>>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Column names, one per report.
    pub names: Vec<String>,
    /// Facts per report: (what, one value per report).
    pub facts: Vec<(String, Vec<String>)>,
    /// The compared values.
    pub rows: Vec<Row>,
}

/// A default column name: the CPU model and start time of the report.
pub fn default_name(r: &SuiteReport) -> String {
    format!("{} ({})", r.machine.cpu_model, r.started)
}

fn p50(s: &Summary) -> f64 {
    s.percentiles_us.get("p50").copied().unwrap_or(0.0)
}

fn spread_measured(s: &Spread) -> Measured {
    Measured {
        value: s.median,
        noise: (s.median > 0.0).then(|| (s.max - s.min) / 2.0 / s.median),
    }
}

/// A compared point: (group, label, higher is better).
type Key = (String, String, bool);

/// Every comparable value of a report.
fn values(r: &SuiteReport) -> Vec<(Key, Measured)> {
    let mut v = Vec::new();
    let mut push = |group: &str, label: String, higher: bool, m: Measured| {
        v.push(((group.to_string(), label, higher), m));
    };
    push(
        "machine",
        "write 4 KiB + fdatasync p50, us".into(),
        false,
        Measured::single(p50(&r.machine.fdatasync)),
    );
    push(
        "machine",
        "loopback TCP round trip p50, us".into(),
        false,
        Measured::single(p50(&r.machine.loopback_rtt)),
    );
    for s in &r.serial {
        push(
            "serial",
            format!("{} {} p50, us", s.target, s.op),
            false,
            Measured::sampled(p50(&s.latency), &s.p50_samples_us),
        );
    }
    for t in &r.throughput {
        let point = format!("{} x{} {}", t.mix, t.clients, t.target);
        push(
            "throughput",
            format!("{point} ops/s"),
            true,
            Measured::sampled(t.ops_per_s, &t.ops_per_s_samples),
        );
        if let Some(cpu) = t.server_cpu_us_per_op {
            push(
                "throughput",
                format!("{point} server CPU per op, us"),
                false,
                Measured::single(cpu),
            );
        }
    }
    for f in &r.fanout {
        push(
            "fan-out",
            format!(
                "{} watchers {} last notified p50, us",
                f.report.watchers, f.target
            ),
            false,
            Measured::single(p50(&f.report.last_notified)),
        );
    }
    for m in &r.memory {
        let shards = m.shards.map_or(String::new(), |n| format!(" {n} shards"));
        push(
            "memory",
            format!("{}{shards} bytes per znode ({} znodes)", m.target, m.znodes),
            false,
            Measured::single(m.bytes_per_znode),
        );
        push(
            "memory",
            format!("{}{shards} restart to first read, s", m.target),
            false,
            Measured::single(m.restart_seconds),
        );
    }
    for x in &r.snapshot {
        push(
            "snapshot",
            format!("{} snapshot of {} znodes, ms", x.target, x.znodes),
            false,
            spread_measured(&x.external_ms),
        );
    }
    for t in &r.ensemble_throughput {
        push(
            "ensemble",
            format!("{} x{} {} ops/s", t.mix, t.clients, t.target),
            true,
            Measured::single(t.ops_per_s),
        );
    }
    for f in &r.failover {
        if let Some(w) = &f.write_ms {
            push(
                "failover",
                format!("{} kill to write acked, ms", f.target),
                false,
                spread_measured(w),
            );
        }
    }
    v
}

/// Compares `reports` (the first is the baseline) under the column `names`.
pub fn compare(names: &[String], reports: &[SuiteReport]) -> Comparison {
    let all: Vec<Vec<(Key, Measured)>> = reports.iter().map(values).collect();
    let mut keys: Vec<Key> = Vec::new();
    for list in &all {
        for (k, _) in list {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let rows = keys
        .into_iter()
        .map(|key| {
            let found: Vec<Option<Measured>> = all
                .iter()
                .map(|list| list.iter().find(|(k, _)| *k == key).map(|(_, m)| m.clone()))
                .collect();
            let base = found.first().cloned().flatten();
            let cells = found
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    m.map(|measured| {
                        let (ratio, verdict) = match (&base, i) {
                            (Some(b), i) if i > 0 => judge(b, &measured),
                            _ => (None, NoiseVerdict::Unknown),
                        };
                        Cell {
                            measured,
                            ratio,
                            verdict,
                        }
                    })
                })
                .collect();
            Row {
                group: key.0,
                label: key.1,
                higher_is_better: key.2,
                cells,
            }
        })
        .collect();
    // Older reports lack some facts: say so rather than leave a blank.
    let fact = |f: &dyn Fn(&SuiteReport) -> String| {
        reports
            .iter()
            .map(|r| {
                Some(f(r))
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "not recorded".into())
            })
            .collect::<Vec<_>>()
    };
    let facts = vec![
        ("started".to_string(), fact(&|r| r.started.clone())),
        ("CPU".into(), fact(&|r| r.machine.cpu_model.clone())),
        ("cores".into(), fact(&|r| r.machine.cores.to_string())),
        ("memory".into(), fact(&|r| r.machine.mem_total.clone())),
        ("kernel".into(), fact(&|r| r.machine.kernel.clone())),
        ("disk".into(), fact(&|r| r.machine.disk.clone())),
        (
            "load average start / end".into(),
            fact(&|r| format!("{} / {}", r.machine.loadavg_start, r.machine.loadavg_end)),
        ),
        ("suite source".into(), fact(&|r| r.versions.source.clone())),
        ("rustc".into(), fact(&|r| r.versions.rustc.clone())),
        (
            "server versions".into(),
            fact(&|r| {
                r.versions
                    .servers
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            "repeats per point".into(),
            fact(&|r| r.settings.repeats.to_string()),
        ),
        (
            "point duration".into(),
            fact(&|r| format!("{:?}", r.settings.duration)),
        ),
        (
            "server flags".into(),
            fact(&|r| {
                let heap = &r.settings.apache_heap;
                format!(
                    "ringkeeper {:?}, apache {}",
                    r.settings.ringkeeper_args,
                    if heap.is_empty() {
                        "with the JVM's default heap".to_string()
                    } else {
                        format!("-Xmx{heap}")
                    }
                )
            }),
        ),
    ];
    Comparison {
        names: names.to_vec(),
        facts,
        rows,
    }
}

fn verdict_text(v: NoiseVerdict) -> &'static str {
    match v {
        NoiseVerdict::Within => "within noise",
        NoiseVerdict::Beyond => "beyond noise",
        NoiseVerdict::Unknown => "noise unknown",
    }
}

fn cell_text(c: &Option<Cell>) -> String {
    let Some(c) = c else {
        return "-".into();
    };
    let noise = c
        .measured
        .noise
        .map_or(String::new(), |n| format!(" ±{:.0}%", n * 100.0));
    match c.ratio {
        Some(r) => format!(
            "{:.1}{noise} ({r:.2}x, {})",
            c.measured.value,
            verdict_text(c.verdict)
        ),
        None => format!("{:.1}{noise}", c.measured.value),
    }
}

/// The comparison as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# ringkeeper benchmark comparison\n");
    let _ = writeln!(
        o,
        "Baseline: **{}**. Ratios are value / baseline; ±N% is the run-to-run noise a report measured (half the range of its repetitions over their median). A ratio is *within noise* when it is closer to 1 than the two noises together.\n",
        c.names.first().map_or("", String::as_str)
    );
    let head = |o: &mut String, first: &str| {
        let _ = writeln!(o, "| {first} | {} |", c.names.join(" | "));
        let _ = writeln!(o, "|---|{}", "---|".repeat(c.names.len()));
    };
    let _ = writeln!(o, "## Machines and settings\n");
    head(&mut o, "");
    for (what, vals) in &c.facts {
        let _ = writeln!(o, "| {what} | {} |", vals.join(" | "));
    }
    let mut group = "";
    for r in &c.rows {
        if r.group != group {
            group = &r.group;
            let _ = writeln!(o, "\n## {group}\n");
            head(&mut o, "point");
        }
        let cells: Vec<String> = r.cells.iter().map(cell_text).collect();
        let _ = writeln!(
            o,
            "| {} ({} is better) | {} |",
            r.label,
            if r.higher_is_better {
                "higher"
            } else {
                "lower"
            },
            cells.join(" | ")
        );
    }
    o
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Widest ratio the chart shows; larger ones are drawn to the edge with their number.
const CHART_RATIO_MAX: f64 = 4.0;

/// One horizontal bar per row and compared report: the ratio to the baseline on a linear
/// axis from 0 to [`CHART_RATIO_MAX`], with the combined noise as a grey band around 1.
pub fn ratio_svg(c: &Comparison) -> String {
    let bars: Vec<(String, usize, &Cell)> = c
        .rows
        .iter()
        .flat_map(|r| {
            r.cells
                .iter()
                .enumerate()
                .skip(1)
                .filter_map(move |(i, cell)| {
                    let cell = cell.as_ref()?;
                    cell.ratio?;
                    Some((format!("{}: {}", r.group, r.label), i, cell))
                })
        })
        .collect();
    let (left, width, row_h, top) = (420.0, 360.0, 18.0, 30.0);
    let height = top + row_h * bars.len() as f64 + 30.0;
    let x = |ratio: f64| left + width * ratio.clamp(0.0, CHART_RATIO_MAX) / CHART_RATIO_MAX;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#,
        left + width + 90.0
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="18" font-size="13">Ratio to {} (bar), noise band (grey), 1.0 (line)</text>"#,
        escape(c.names.first().map_or("", String::as_str))
    );
    for (k, (label, col, cell)) in bars.iter().enumerate() {
        let y = top + row_h * k as f64;
        let ratio = cell.ratio.unwrap_or(0.0);
        let base_noise = c
            .rows
            .iter()
            .find(|r| format!("{}: {}", r.group, r.label) == *label)
            .and_then(|r| r.cells.first().cloned().flatten())
            .and_then(|b| b.measured.noise);
        if let (Some(a), Some(b)) = (base_noise, cell.measured.noise) {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{y:.0}" width="{:.1}" height="{:.0}" fill="#ccc"/>"##,
                x(1.0 - a - b),
                x(1.0 + a + b) - x(1.0 - a - b),
                row_h - 2.0
            );
        }
        let colour = super::check::COLOURS[(col - 1) % super::check::COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.0}">{} [{}]</text><rect x="{left}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{colour}" opacity="0.7"/><text x="{:.1}" y="{:.0}">{ratio:.2}x</text>"#,
            y + 12.0,
            escape(label),
            escape(&c.names[*col]),
            y + 3.0,
            x(ratio) - left,
            row_h - 8.0,
            x(ratio) + 4.0,
            y + 12.0
        );
    }
    let base = top + row_h * bars.len() as f64;
    let _ = writeln!(
        s,
        r#"<line x1="{:.1}" y1="{top:.0}" x2="{:.1}" y2="{base:.0}" stroke="black"/>"#,
        x(1.0),
        x(1.0)
    );
    for tick in 0..=(CHART_RATIO_MAX as u32) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}">{tick}x</text>"#,
            x(f64::from(tick)) - 6.0,
            base + 16.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The comparison as one self-contained HTML page: the tables and the chart inline.
pub fn html(c: &Comparison) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ringkeeper benchmark comparison</title>\n<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}.within{color:#777}.beyond{font-weight:bold}</style></head><body>\n");
    let _ = writeln!(o, "<h1>ringkeeper benchmark comparison</h1>");
    let _ = writeln!(
        o,
        "<p>Baseline: <b>{}</b>. Ratios are value / baseline; ±N% is the run-to-run noise a report measured. Grey: within noise; bold: beyond noise.</p>",
        escape(c.names.first().map_or("", String::as_str))
    );
    let _ = writeln!(o, "{}", ratio_svg(c));
    let head: String = c
        .names
        .iter()
        .map(|n| format!("<th>{}</th>", escape(n)))
        .collect();
    let _ = writeln!(
        o,
        "<h2>Machines and settings</h2>\n<table><tr><th></th>{head}</tr>"
    );
    for (what, vals) in &c.facts {
        let tds: String = vals
            .iter()
            .map(|v| format!("<td>{}</td>", escape(v)))
            .collect();
        let _ = writeln!(o, "<tr><td>{}</td>{tds}</tr>", escape(what));
    }
    let _ = writeln!(
        o,
        "</table>\n<h2>Scenarios</h2>\n<table><tr><th>point</th>{head}</tr>"
    );
    for r in &c.rows {
        let tds: String = r
            .cells
            .iter()
            .map(|cell| {
                let class = match cell.as_ref().map(|c| c.verdict) {
                    Some(NoiseVerdict::Within) => "within",
                    Some(NoiseVerdict::Beyond) => "beyond",
                    _ => "",
                };
                format!("<td class=\"{class}\">{}</td>", escape(&cell_text(cell)))
            })
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}: {}</td>{tds}</tr>",
            escape(&r.group),
            escape(&r.label)
        );
    }
    o.push_str("</table>\n</body></html>\n");
    o
}
