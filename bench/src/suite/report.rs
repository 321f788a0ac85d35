//! The suite's report: the issue's targets checked against the measurements, and the
//! Markdown and SVG renderings (the JSON is the serialised [`SuiteReport`]).

use super::SuiteReport;
use crate::stats::Summary;
use serde::Serialize;
use std::fmt::Write as _;

/// One of the issue's targets, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The target as the issue states it.
    pub target: String,
    /// The measured value, as a ratio or a number with its unit.
    pub measured: String,
    /// Met, not met, or not measurable in this run (`None`).
    pub met: Option<bool>,
}

fn p(s: &Summary, label: &str) -> f64 {
    s.percentiles_us.get(label).copied().unwrap_or(0.0)
}

fn throughput_row<'a>(
    r: &'a SuiteReport,
    target: &str,
    mix: &str,
    clients: usize,
) -> Option<&'a super::scenarios::ThroughputRow> {
    r.throughput
        .iter()
        .find(|t| t.target == target && t.mix == mix && t.clients == clients)
}

fn serial_p50(r: &SuiteReport, target: &str, op: &str) -> Option<f64> {
    r.serial
        .iter()
        .find(|s| s.target == target && s.op == op)
        .map(|s| p(&s.latency, "p50"))
}

/// Checks the issue's targets. A target whose inputs are missing is reported as not
/// measured rather than guessed.
pub fn checks(r: &SuiteReport) -> Vec<Check> {
    let mut out = Vec::new();
    let rk = "ringkeeper";
    let ap = "apache";
    let clients = 16;
    let (rk16, ap16) = (
        throughput_row(r, rk, "10:1", clients),
        throughput_row(r, ap, "10:1", clients),
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { Some(a / b) } else { None };
    let tp = rk16
        .zip(ap16)
        .and_then(|(a, b)| ratio(a.ops_per_s, b.ops_per_s));
    out.push(Check {
        target: "10:1 mix, 16 connections x 4 in flight: throughput >= 4x Apache".into(),
        measured: tp.map_or(
            "not measured (needs --compare apache and 16 clients)".into(),
            |x| format!("{x:.2}x"),
        ),
        met: tp.map(|x| x >= 4.0),
    });
    let rp = rk16
        .zip(ap16)
        .and_then(|(a, b)| Some((a.read.as_ref()?, b.read.as_ref()?)))
        .and_then(|(a, b)| ratio(p(a, "p99"), p(b, "p99")));
    out.push(Check {
        target: "10:1 mix, 16 x 4: read p99 <= 1/5 of Apache's".into(),
        measured: rp.map_or("not measured".into(), |x| format!("{x:.2} of Apache's")),
        met: rp.map(|x| x <= 0.2),
    });
    let rtt = p(&r.machine.loopback_rtt, "p50");
    let g = serial_p50(r, rk, "getData").and_then(|g| ratio(g, rtt));
    out.push(Check {
        target: "serial getData p50 within 3x of a loopback TCP round trip".into(),
        measured: g.map_or("not measured".into(), |x| {
            format!("{x:.2}x (RTT p50 {rtt:.1} us)")
        }),
        met: g.map(|x| x <= 3.0),
    });
    let fs = p(&r.machine.fdatasync, "p50");
    let w = serial_p50(r, rk, "setData").and_then(|w| ratio(w, fs));
    out.push(Check {
        target: "serial setData p50 within 1.3x of fdatasync p50".into(),
        measured: w.map_or("not measured".into(), |x| {
            format!("{x:.2}x (fdatasync p50 {fs:.1} us)")
        }),
        met: w.map(|x| x <= 1.3),
    });
    let mem = |t: &str| {
        r.memory
            .iter()
            .find(|m| m.target == t)
            .map(|m| m.bytes_per_znode)
    };
    let m = mem(rk).zip(mem(ap)).and_then(|(a, b)| ratio(a, b));
    out.push(Check {
        target: "memory per znode <= 1/2 of Apache's".into(),
        measured: m.map_or("not measured".into(), |x| format!("{x:.2} of Apache's")),
        met: m.map(|x| x <= 0.5),
    });
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

fn other<'a>(r: &'a SuiteReport, target: &str) -> Option<&'a str> {
    r.targets.iter().map(String::as_str).find(|t| *t != target)
}

/// The Markdown report.
pub fn markdown(r: &SuiteReport) -> String {
    let mut o = String::new();
    let m = &r.machine;
    let _ = writeln!(o, "# ringkeeper benchmark suite report\n");
    let _ = writeln!(
        o,
        "Run started {} and took {:.0} s. Targets: {}.\n",
        r.started,
        r.seconds,
        r.targets.join(", ")
    );
    let _ = writeln!(o, "## Machine\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| CPU | {} |", m.cpu_model);
    let _ = writeln!(o, "| cores | {} |", m.cores);
    let _ = writeln!(o, "| memory | {} |", m.mem_total);
    let _ = writeln!(o, "| kernel | {} |", m.kernel);
    let _ = writeln!(o, "| disk | {} |", m.disk);
    let _ = writeln!(
        o,
        "| write 4 KiB + fdatasync | p50 {:.1} us, p99 {:.1} us ({} samples) |",
        p(&m.fdatasync, "p50"),
        p(&m.fdatasync, "p99"),
        m.fdatasync.count
    );
    let _ = writeln!(
        o,
        "| loopback TCP round trip | p50 {:.1} us, p99 {:.1} us ({} samples) |",
        p(&m.loopback_rtt, "p50"),
        p(&m.loopback_rtt, "p99"),
        m.loopback_rtt.count
    );
    let _ = writeln!(
        o,
        "| load average | {} at start, {} at end |",
        m.loadavg_start, m.loadavg_end
    );
    let _ = writeln!(
        o,
        "| load generator CPU | {:.1} s over {:.0} s ({:.2} cores on average) |\n",
        r.generator_cpu_seconds,
        r.seconds,
        r.generator_cpu_seconds / r.seconds.max(0.001)
    );
    let _ = writeln!(o, "## Targets\n");
    let _ = writeln!(o, "| target | measured | verdict |\n|---|---|---|");
    for c in &r.checks {
        let _ = writeln!(o, "| {} | {} | {} |", c.target, c.measured, verdict(c.met));
    }
    let _ = writeln!(
        o,
        "\n## Serial latency (1 connection, 1 in flight), microseconds\n"
    );
    let _ = writeln!(
        o,
        "| op | target | p50 | p99 | p99.9 | max | ops/s | ratio p50 (other/this) |\n|---|---|---|---|---|---|---|---|"
    );
    for s in &r.serial {
        let ratio = other(r, &s.target)
            .and_then(|t| serial_p50(r, t, &s.op))
            .map_or(String::new(), |x| {
                format!("{:.2}", x / p(&s.latency, "p50").max(0.001))
            });
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {} |",
            s.op,
            s.target,
            p(&s.latency, "p50"),
            p(&s.latency, "p99"),
            p(&s.latency, "p99.9"),
            p(&s.latency, "max"),
            s.latency.throughput,
            ratio
        );
    }
    let _ = writeln!(
        o,
        "\n## Throughput and latency ({} in flight per connection), latency in microseconds\n",
        r.settings.in_flight
    );
    let _ = writeln!(
        o,
        "| mix | clients | target | ops/s | read p50 | read p99 | read p99.9 | write p50 | write p99 | write p99.9 | errors | throughput ratio (this/other) |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let cell =
        |s: &Option<Summary>, l: &str| s.as_ref().map_or("-".into(), |s| format!("{:.1}", p(s, l)));
    for t in &r.throughput {
        let ratio = other(r, &t.target)
            .and_then(|o| throughput_row(r, o, &t.mix, t.clients))
            .map_or(String::new(), |x| {
                format!("{:.2}", t.ops_per_s / x.ops_per_s.max(0.001))
            });
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.mix,
            t.clients,
            t.target,
            t.ops_per_s,
            cell(&t.read, "p50"),
            cell(&t.read, "p99"),
            cell(&t.read, "p99.9"),
            cell(&t.write, "p50"),
            cell(&t.write, "p99"),
            cell(&t.write, "p99.9"),
            t.errors,
            ratio
        );
    }
    let _ = writeln!(
        o,
        "\n## Watch fan-out: setData sent to the last watcher notified, microseconds\n"
    );
    let _ = writeln!(
        o,
        "| watchers | target | rounds | last p50 | last p99 | last max | first p50 | incomplete rounds |\n|---|---|---|---|---|---|---|---|"
    );
    for f in &r.fanout {
        let x = &f.report;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            x.watchers,
            f.target,
            x.rounds,
            p(&x.last_notified, "p50"),
            p(&x.last_notified, "p99"),
            p(&x.last_notified, "max"),
            p(&x.first_notified, "p50"),
            x.incomplete_rounds
        );
    }
    let _ = writeln!(o, "\n## Memory per znode and restart time\n");
    let _ = writeln!(
        o,
        "| target | znodes | value bytes | RSS before | RSS after | bytes per znode | create time | restart to first read |\n|---|---|---|---|---|---|---|---|"
    );
    for x in &r.memory {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.0} | {:.1} s | {:.2} s |",
            x.target,
            x.znodes,
            x.value_size,
            x.rss_before_bytes as f64 / 1048576.0,
            x.rss_after_bytes as f64 / 1048576.0,
            x.bytes_per_znode,
            x.populate_seconds,
            x.restart_seconds
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "\n## Failures\n");
        for f in &r.failures {
            let _ = writeln!(o, "- {f}");
        }
    }
    o
}

/// A grouped bar chart of throughput per client count, one group per mix, one bar per
/// target: enough to see the shape at a glance without a plotting dependency.
pub fn throughput_svg(r: &SuiteReport) -> String {
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
    let groups: Vec<(String, usize)> = {
        let mut g: Vec<(String, usize)> = Vec::new();
        for t in &r.throughput {
            let k = (t.mix.clone(), t.clients);
            if !g.contains(&k) {
                g.push(k);
            }
        }
        g
    };
    let max = r
        .throughput
        .iter()
        .map(|t| t.ops_per_s)
        .fold(1.0f64, f64::max);
    let bar = 18.0;
    let gap = 14.0;
    let per_group = bar * r.targets.len().max(1) as f64 + gap;
    let (left, top, height) = (60.0, 30.0, 240.0);
    let width = left + per_group * groups.len() as f64 + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="sans-serif" font-size="10">"#,
        width,
        top + height + 60.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="16" font-size="13">Throughput (ops/s) by mix and client count; max {max:.0}</text>"#
    );
    for (i, name) in r.targets.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<rect x="{:.0}" y="20" width="10" height="8" fill="{}"/><text x="{:.0}" y="28">{name}</text>"#,
            width - 170.0 + i as f64 * 80.0,
            colours[i % colours.len()],
            width - 157.0 + i as f64 * 80.0
        );
    }
    for (gi, (mix, clients)) in groups.iter().enumerate() {
        let x0 = left + gi as f64 * per_group;
        for (ti, name) in r.targets.iter().enumerate() {
            if let Some(t) = throughput_row(r, name, mix, *clients) {
                let h = t.ops_per_s / max * height;
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{bar}" height="{:.1}" fill="{}"><title>{name} {mix} x{clients}: {:.0} ops/s</title></rect>"#,
                    x0 + ti as f64 * bar,
                    top + height - h,
                    h,
                    colours[ti % colours.len()],
                    t.ops_per_s
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}">{mix}</text><text x="{:.1}" y="{:.0}">x{clients}</text>"#,
            x0,
            top + height + 14.0,
            x0,
            top + height + 26.0
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{left}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="black"/>"#,
        top + height,
        width - 10.0,
        top + height
    );
    s.push_str("</svg>\n");
    s
}
