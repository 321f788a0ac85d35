//! The flood scenario (issue #12): connections that pipeline getData requests for a 1 KiB
//! node and never read a reply, while one control client on its own connection does one
//! getData at a time. It measures the control client's latency idle and during the flood,
//! and the server's RSS before, at its peak during the flood and after the flooders close.
//!
//! Each target gets a fresh server, one at a time, so that RSS is the flood's alone.

use super::server::{Server, ServerKind};
use super::SuiteSettings;
use crate::populate;
use crate::session::{self, Session};
use crate::stats::{self, OpStats, Summary};
use ringkeeper_engine::jute::records::{encode_request, GetDataRequest, Request};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The node every request reads.
const NODE: &str = "/rk-flood";
/// How long one control request may take before it counts as timed out and the phase ends
/// (the observation was a 5 s timeout).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the server's RSS is sampled during the flood.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long after the flooders close the RSS is read again: time for the server to notice
/// the closes and free what it held.
const SETTLE_AFTER_CLOSE: Duration = Duration::from_secs(3);
/// Session timeout the flooders ask for: they send nothing after their pipeline, so a
/// shorter one would let the server expire them during the measurement.
const FLOODER_SESSION_TIMEOUT_MS: i32 = 60_000;

/// The flood on one target.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FloodRow {
    /// Target name.
    pub target: String,
    /// Connections that pipeline and never read.
    pub flooders: usize,
    /// getData requests each flooder sends.
    pub requests_per_flooder: usize,
    /// Bytes of data in the node read.
    pub node_bytes: usize,
    /// The control client's getData latency with no flood.
    pub idle: Summary,
    /// The control client's getData latency during the flood.
    pub flood: Summary,
    /// Control requests not answered within [`CONTROL_TIMEOUT`] (the phase stops at one).
    pub control_timeouts: u64,
    /// RSS before the flood.
    pub rss_before_bytes: u64,
    /// The highest RSS sampled during the flood.
    pub rss_peak_bytes: u64,
    /// RSS after the flooders closed and the server settled.
    pub rss_after_close_bytes: u64,
}

impl FloodRow {
    /// The latency target: p99 and max within 2x idle plus 50 ms.
    pub fn latency_met(&self) -> bool {
        let within = |label: &str| {
            let idle = pct(&self.idle, label);
            pct(&self.flood, label) <= 2.0 * idle + 50_000.0
        };
        self.control_timeouts == 0 && within("p99") && within("max")
    }

    /// RSS growth during the flood.
    pub fn rss_growth_bytes(&self) -> u64 {
        self.rss_peak_bytes.saturating_sub(self.rss_before_bytes)
    }
}

fn pct(s: &Summary, label: &str) -> f64 {
    s.percentiles_us.get(label).copied().unwrap_or(0.0)
}

/// Runs the flood against a fresh server of `kind` in `dir`.
pub async fn run(
    s: &SuiteSettings,
    kind: ServerKind,
    dir: &std::path::Path,
    addr: &str,
) -> Result<FloodRow, String> {
    let _ = std::fs::remove_dir_all(dir);
    let name = kind.name().to_string();
    let srv = Server::start(kind, dir, addr)?;
    let pid = srv.pid().ok_or("the server has no pid")?;
    populate::create_all(addr, [NODE.to_string()].into_iter(), s.flood_node_bytes, 1).await?;
    let mut control = session::connect(addr, 30_000, Duration::from_secs(10))
        .await
        .map_err(|e| format!("control session: {e}"))?;
    let mut xid = 1;
    eprintln!("suite: flood on {name}: control client idle");
    let (idle, _) = control_phase(&mut control, &mut xid, s.duration).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(pid).ok_or("cannot read RSS")?;

    eprintln!(
        "suite: flood on {name}: {} connections x {} getData",
        s.flood_connections, s.flood_requests
    );
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = tokio::spawn(sample_peak_rss(pid, peak.clone()));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    let pipeline = pipeline_bytes(s.flood_requests);
    for i in 0..s.flood_connections {
        let Session { reader, writer, .. } =
            session::connect(addr, FLOODER_SESSION_TIMEOUT_MS, Duration::from_secs(10))
                .await
                .map_err(|e| format!("flooder {i}: {e}"))?;
        readers.push(reader);
        let pipeline = pipeline.clone();
        // A server that stops reading makes this write wait; it must not hold up the rest.
        writers.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut writer = writer;
            let _ = writer.write_all(&pipeline).await;
            writer
        }));
    }
    // Let the flood fill the server before the control client measures.
    tokio::time::sleep(s.warmup.max(Duration::from_secs(1))).await;
    let (flood, control_timeouts) = control_phase(&mut control, &mut xid, s.duration).await?;

    for w in &writers {
        w.abort();
    }
    drop(writers);
    drop(readers);
    tokio::time::sleep(SETTLE_AFTER_CLOSE).await;
    sampler.abort();
    let rss_after_close = rss_bytes(pid).ok_or("cannot read RSS")?;
    drop(control);
    drop(srv);
    let _ = std::fs::remove_dir_all(dir.join("data"));
    Ok(FloodRow {
        target: name,
        flooders: s.flood_connections,
        requests_per_flooder: s.flood_requests,
        node_bytes: s.flood_node_bytes,
        idle,
        flood,
        control_timeouts,
        rss_before_bytes: rss_before,
        rss_peak_bytes: peak.load(Ordering::Relaxed).max(rss_before),
        rss_after_close_bytes: rss_after_close,
    })
}

/// `requests` getData requests for [`NODE`], xids from 1, as one buffer.
fn pipeline_bytes(requests: usize) -> Arc<Vec<u8>> {
    let req = Request::GetData(GetDataRequest {
        path: NODE.to_string(),
        watch: false,
    });
    let mut out = Vec::new();
    for xid in 1..=requests {
        out.extend_from_slice(&encode_request(xid as i32, &req));
    }
    Arc::new(out)
}

/// One getData at a time for `duration`; the latency summary and the timeouts (at most 1:
/// after a timeout the connection's replies can no longer be matched to requests).
async fn control_phase(
    control: &mut Session,
    xid: &mut i32,
    duration: Duration,
) -> Result<(Summary, u64), String> {
    let req = Request::GetData(GetDataRequest {
        path: NODE.to_string(),
        watch: false,
    });
    let mut st = OpStats::default();
    let start = Instant::now();
    while start.elapsed() < duration {
        *xid += 1;
        let sent = Instant::now();
        session::write_request(&mut control.writer, *xid, &req)
            .await
            .map_err(|e| format!("control request: {e}"))?;
        let answered = tokio::time::timeout(CONTROL_TIMEOUT, async {
            loop {
                let frame = session::read_frame(&mut control.reader).await?;
                let (h, _) = session::reply_header(&frame)?;
                if h.xid == *xid {
                    return Ok::<i32, session::SessionError>(h.err);
                }
            }
        })
        .await;
        match answered {
            Ok(Ok(err)) => st.record(sent.elapsed().as_nanos() as u64, err),
            Ok(Err(e)) => return Err(format!("control reply: {e}")),
            Err(_) => {
                let seconds = start.elapsed().as_secs_f64();
                return Ok((stats::summarize(&st, seconds), 1));
            }
        }
    }
    Ok((stats::summarize(&st, start.elapsed().as_secs_f64()), 0))
}

async fn sample_peak_rss(pid: u32, peak: Arc<AtomicU64>) {
    loop {
        if let Some(rss) = rss_bytes(pid) {
            peak.fetch_max(rss, Ordering::Relaxed);
        }
        tokio::time::sleep(RSS_SAMPLE_INTERVAL).await;
    }
}

/// Resident set size of `pid` in bytes, from /proc/PID/status.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(us: f64) -> f64 {
    us / 1000.0
}

/// The report's section for the flood rows.
pub fn markdown(rows: &[FloodRow]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let Some(first) = rows.first() else {
        return o;
    };
    let _ = writeln!(
        o,
        "\n## Pipelining flood: {} connections x {} getData of {} bytes, never read; control client one getData at a time\n",
        first.flooders, first.requests_per_flooder, first.node_bytes
    );
    let _ = writeln!(
        o,
        "| target | idle p99 ms | idle max ms | flood p99 ms | flood max ms | flood requests | timeouts | RSS before MiB | RSS peak MiB | RSS after close MiB |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0} | {:.0} | {:.0} |",
            r.target,
            ms(pct(&r.idle, "p99")),
            ms(pct(&r.idle, "max")),
            ms(pct(&r.flood, "p99")),
            ms(pct(&r.flood, "max")),
            r.flood.count,
            r.control_timeouts,
            mib(r.rss_before_bytes),
            mib(r.rss_peak_bytes),
            mib(r.rss_after_close_bytes),
        );
    }
    o
}

/// The flood targets, checked on ringkeeper's row.
pub fn checks(rows: &[FloodRow]) -> Vec<super::check::Check> {
    use super::check::Check;
    let rk = rows.iter().find(|r| r.target == "ringkeeper");
    vec![
        Check {
            target: "flood: control p99 and max <= 2x idle + 50 ms, no timeout".into(),
            measured: rk.map_or("not measured".into(), |r| {
                format!(
                    "p99 {:.2} ms, max {:.2} ms (idle p99 {:.2}, max {:.2}), {} timeouts",
                    ms(pct(&r.flood, "p99")),
                    ms(pct(&r.flood, "max")),
                    ms(pct(&r.idle, "p99")),
                    ms(pct(&r.idle, "max")),
                    r.control_timeouts
                )
            }),
            met: rk.map(FloodRow::latency_met),
        },
        Check {
            target: "flood: RSS grows by <= 256 MiB".into(),
            measured: rk.map_or("not measured".into(), |r| {
                format!("{:.0} MiB", mib(r.rss_growth_bytes()))
            }),
            met: rk.map(|r| r.rss_growth_bytes() <= 256 << 20),
        },
    ]
}
