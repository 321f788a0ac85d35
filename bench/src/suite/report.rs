//! The suite's report: the issue's targets checked against the measurements, and the
//! Markdown and SVG renderings (the JSON is the serialised [`SuiteReport`]).

use super::snapshot::Spread;
use super::SuiteReport;
use crate::stats::Summary;
use std::fmt::Write as _;

pub use super::check::{Check, COLOURS};

/// Largest report.json `load` reads: full reports are a few hundred KiB.
pub const REPORT_BYTES_MAX: u64 = 64 << 20;

/// Reads a report.json written by this or an earlier version of the suite.
pub fn load(path: &std::path::Path) -> Result<SuiteReport, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("read {}: {e}", path.display()))?
        .len();
    if len > REPORT_BYTES_MAX {
        return Err(format!(
            "{}: {len} bytes is more than a report ({REPORT_BYTES_MAX} at most)",
            path.display()
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a suite report: {e}", path.display()))
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
    out.extend(super::flood::checks(&r.flood));
    if !r.catch_up.is_empty() {
        out.extend(super::catch_up::checks(&r.catch_up));
    }
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

/// A value with its run-to-run noise when it was repeated: `12345 ±3%`.
fn with_noise(value: f64, samples: &[f64]) -> String {
    match super::compare::relative_noise(samples) {
        Some(n) => format!("{value:.0} ±{:.0}%", n * 100.0),
        None => format!("{value:.0}"),
    }
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
    let _ = writeln!(o, "## Versions and settings\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    let v = &r.versions;
    let _ = writeln!(
        o,
        "| suite | {} from source {}, built with {} |",
        v.suite, v.source, v.rustc
    );
    for (target, version) in &v.servers {
        let _ = writeln!(o, "| {target} version (srvr) | {version} |");
    }
    for (target, cmd) in &r.server_commands {
        let _ = writeln!(o, "| {target} command | `{cmd}` |");
    }
    let st = &r.settings;
    let _ = writeln!(
        o,
        "| settings | {} keys, {:?} per point after {:?} warm-up, {} repetition(s) per serial and throughput point, clients {:?} x {} in flight, watchers {:?} x {} rounds, {} znodes (memory shards {:?}), snapCount {} x {} snapshots, ensemble of {} ({} failover rounds, {} writers) |\n",
        st.keys,
        st.duration,
        st.warmup,
        st.repeats,
        st.clients,
        st.in_flight,
        st.watchers,
        st.fanout_rounds,
        st.znodes,
        st.memory_shards,
        st.snap_count,
        st.snapshot_rounds,
        st.ensemble_size,
        st.failover_rounds,
        st.failover_writers
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
        "| mix | clients | target | ops/s | read p50 | read p99 | read p99.9 | write p50 | write p99 | write p99.9 | errors | server CPU per op (us) | throughput ratio (this/other) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in &r.throughput {
        let ratio = other(r, &t.target)
            .and_then(|o| throughput_row(r, o, &t.mix, t.clients))
            .map_or(String::new(), |x| {
                format!("{:.2}", t.ops_per_s / x.ops_per_s.max(0.001))
            });
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            t.mix,
            t.clients,
            t.target,
            with_noise(t.ops_per_s, &t.ops_per_s_samples),
            latency_cells(t),
            t.errors,
            t.server_cpu_us_per_op
                .map_or("-".into(), |c| format!("{c:.1}")),
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
    o.push_str(&super::flood::markdown(&r.flood));
    o.push_str(&super::catch_up::markdown(&r.catch_up));
    let _ = writeln!(o, "\n## Memory per znode and restart time\n");
    let _ = writeln!(
        o,
        "| target | shards | znodes | value bytes | RSS before | RSS after | bytes per znode | create time | restart to first read |\n|---|---|---|---|---|---|---|---|---|"
    );
    for x in &r.memory {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.0} | {:.1} s | {:.2} s |",
            x.target,
            x.shards.map_or("default".into(), |n| n.to_string()),
            x.znodes,
            x.value_size,
            x.rss_before_bytes as f64 / 1048576.0,
            x.rss_after_bytes as f64 / 1048576.0,
            x.bytes_per_znode,
            x.populate_seconds,
            x.restart_seconds
        );
    }
    if !r.snapshot.is_empty() {
        let _ = writeln!(
            o,
            "\n## Snapshot time: reply to the newest write a snapshot holds until its final file name appears, milliseconds\n"
        );
        let _ = writeln!(
            o,
            "| target | znodes | snapCount | snapshots | min | median | max | server's own median | snapshot size |\n|---|---|---|---|---|---|---|---|---|"
        );
        for x in &r.snapshot {
            let reported: Vec<f64> = x
                .rounds
                .iter()
                .filter_map(|r| r.server_reported_ms)
                .collect();
            let size = x.rounds.last().map_or(0, |r| r.bytes);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} MiB |",
                x.target,
                x.znodes,
                x.snap_count,
                x.rounds.len(),
                x.external_ms.min,
                x.external_ms.median,
                x.external_ms.max,
                Spread::of(&reported).map_or("-".into(), |s| format!("{:.1}", s.median)),
                size as f64 / 1048576.0
            );
        }
    }
    if !r.ensemble_throughput.is_empty() {
        let _ = writeln!(
            o,
            "\n## Ensemble of {}: 10:1 mix, clients spread over the members ({} in flight each), latency in microseconds\n",
            r.settings.ensemble_size, r.settings.in_flight
        );
        spread_table(
            &mut o,
            &r.ensemble_throughput,
            "throughput ratio (this/other)",
            |t| {
                let o = other(r, &t.target)?;
                r.ensemble_throughput
                    .iter()
                    .find(|x| x.target == o && x.clients == t.clients)
            },
        );
    }
    read_scaling_table(&mut o, r);
    if !r.failover.is_empty() {
        let _ = writeln!(
            o,
            "\n## Leader failover: SIGKILL of the leader under a write load, milliseconds\n"
        );
        let _ = writeln!(
            o,
            "| target | members | writers | rounds | kill to write acked min | median | max | kill to new leader min | median | max |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        let sp = |s: &Option<Spread>| {
            s.map_or("- | - | -".to_string(), |s| {
                format!("{:.0} | {:.0} | {:.0}", s.min, s.median, s.max)
            })
        };
        for f in &r.failover {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                f.target,
                f.members,
                f.writers,
                f.rounds.len(),
                sp(&f.write_ms),
                sp(&f.leader_ms)
            );
        }
        let _ = writeln!(
            o,
            "\n| target | round | killed | new leader | kill to write acked | kill to new leader | writes in the second before |\n|---|---|---|---|---|---|---|"
        );
        for f in &r.failover {
            for (i, x) in f.rounds.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "| {} | {} | server.{} | server.{} | {:.0} | {:.0} | {} |",
                    f.target,
                    i + 1,
                    x.killed,
                    x.new_leader,
                    x.write_ms,
                    x.leader_ms,
                    x.writes_before
                );
            }
        }
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
    bars_svg(
        &r.throughput,
        &r.targets,
        "Throughput (ops/s) by mix and client count",
    )
}

/// [`throughput_svg`] for the ensemble's 10:1 points.
pub fn ensemble_svg(r: &SuiteReport) -> String {
    bars_svg(
        &r.ensemble_throughput,
        &r.targets,
        &format!(
            "{}-member ensemble, 10:1 throughput (ops/s) by client count",
            r.settings.ensemble_size
        ),
    )
}

fn bars_svg(rows: &[super::scenarios::ThroughputRow], targets: &[String], title: &str) -> String {
    let colours = COLOURS;
    let find = |target: &str, mix: &str, clients: usize| {
        rows.iter()
            .find(|t| t.target == target && t.mix == mix && t.clients == clients)
    };
    let groups: Vec<(String, usize)> = {
        let mut g: Vec<(String, usize)> = Vec::new();
        for t in rows {
            let k = (t.mix.clone(), t.clients);
            if !g.contains(&k) {
                g.push(k);
            }
        }
        g
    };
    let max = rows.iter().map(|t| t.ops_per_s).fold(1.0f64, f64::max);
    let bar = 18.0;
    let gap = 14.0;
    let per_group = bar * targets.len().max(1) as f64 + gap;
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
        r#"<text x="{left}" y="16" font-size="13">{title}; max {max:.0}</text>"#
    );
    for (i, name) in targets.iter().enumerate() {
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
        for (ti, name) in targets.iter().enumerate() {
            if let Some(t) = find(name, mix, *clients) {
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

/// Horizontal bars from min to max with a tick at the median, one per labelled spread, on a
/// shared millisecond axis starting at zero.
fn spread_svg(title: &str, rows: &[(String, usize, Spread)]) -> String {
    let max = rows.iter().map(|r| r.2.max).fold(0.001f64, f64::max);
    let (left, top, width, row_h) = (230.0, 40.0, 420.0, 26.0);
    let height = top + row_h * rows.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{height:.0}" font-family="sans-serif" font-size="10">"#,
        left + width + 80.0
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="16" font-size="13">{title}; bar min to max, tick median; axis 0 to {max:.1} ms</text>"#
    );
    for (i, (label, colour, sp)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let x = |v: f64| left + v / max * width;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.0}">{label}</text><rect x="{:.1}" y="{:.0}" width="{:.1}" height="12" fill="{}" opacity="0.6"><title>{label}: min {:.1}, median {:.1}, max {:.1} ms</title></rect><line x1="{:.1}" y1="{:.0}" x2="{:.1}" y2="{:.0}" stroke="black" stroke-width="2"/><text x="{:.1}" y="{:.0}">{:.1} ms</text>"#,
            y + 10.0,
            x(sp.min),
            y,
            (x(sp.max) - x(sp.min)).max(1.0),
            COLOURS[colour % COLOURS.len()],
            sp.min,
            sp.median,
            sp.max,
            x(sp.median),
            y - 2.0,
            x(sp.median),
            y + 14.0,
            x(sp.max) + 4.0,
            y + 10.0,
            sp.median
        );
    }
    let base = top + row_h * rows.len() as f64;
    let _ = writeln!(
        s,
        r#"<line x1="{left}" y1="{base:.0}" x2="{:.0}" y2="{base:.0}" stroke="black"/>"#,
        left + width
    );
    s.push_str("</svg>\n");
    s
}

fn colour_of(r: &SuiteReport, target: &str) -> usize {
    r.targets.iter().position(|t| t == target).unwrap_or(0)
}

/// Snapshot time per target: min, median and max.
pub fn snapshot_svg(r: &SuiteReport) -> String {
    let rows: Vec<(String, usize, Spread)> = r
        .snapshot
        .iter()
        .map(|x| {
            (
                format!("{} ({} znodes)", x.target, x.znodes),
                colour_of(r, &x.target),
                x.external_ms,
            )
        })
        .collect();
    spread_svg("Snapshot time", &rows)
}

/// Failover times per target: to the first acknowledged write and to the new leader.
pub fn failover_svg(r: &SuiteReport) -> String {
    let mut rows = Vec::new();
    for f in &r.failover {
        let c = colour_of(r, &f.target);
        if let Some(sp) = f.write_ms {
            rows.push((format!("{}: kill to write acked", f.target), c, sp));
        }
        if let Some(sp) = f.leader_ms {
            rows.push((format!("{}: kill to new leader", f.target), c, sp));
        }
    }
    spread_svg("Leader failover", &rows)
}

/// The read-scaling rows: one per shape and client count, with the throughput relative to
/// the same client count without observers.
fn read_scaling_table(o: &mut String, r: &SuiteReport) {
    if r.read_scaling.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## Read scaling: read-only mix on {} voters plus 0, 1 and 2 observers, reads spread over every member ({} in flight each), latency in microseconds\n",
        r.settings.ensemble_size, r.settings.in_flight
    );
    spread_table(o, &r.read_scaling, "ops/s vs no observer", |t| {
        r.read_scaling
            .iter()
            .find(|x| x.clients == t.clients && x.target.ends_with("+0obs"))
    });
}

/// A table of throughput points whose clients were spread over an ensemble's members, with
/// each row's throughput relative to the row `base` picks for it (`ratio` names that column).
fn spread_table<'a>(
    o: &mut String,
    rows: &'a [super::scenarios::ThroughputRow],
    ratio: &str,
    base: impl Fn(&super::scenarios::ThroughputRow) -> Option<&'a super::scenarios::ThroughputRow>,
) {
    let _ = writeln!(
        o,
        "| clients | target | ops/s | read p50 | read p99 | read p99.9 | write p50 | write p99 | write p99.9 | errors | {ratio} |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in rows {
        let ratio = base(t).map_or(String::new(), |x| {
            format!("{:.2}", t.ops_per_s / x.ops_per_s.max(0.001))
        });
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | {} | {} | {} |",
            t.clients,
            t.target,
            t.ops_per_s,
            latency_cells(t),
            t.errors,
            ratio
        );
    }
}

/// The read and write p50, p99 and p99.9 cells of a throughput row.
fn latency_cells(t: &super::scenarios::ThroughputRow) -> String {
    let cells: Vec<String> = [&t.read, &t.write]
        .into_iter()
        .flat_map(|s| ["p50", "p99", "p99.9"].map(|l| cell(s, l)))
        .collect();
    cells.join(" | ")
}

/// A latency percentile of an optional summary, `-` when the mix has no such operation.
fn cell(s: &Option<Summary>, l: &str) -> String {
    s.as_ref().map_or("-".into(), |s| format!("{:.1}", p(s, l)))
}
