//! The catch-up scenario (issue 14 item 7): a 3-member ensemble holding N znodes, one
//! follower stopped, its data directory wiped and the member restarted while the 10:1 mix
//! runs against the leader. It must fetch the whole tree as a snapshot; the target is that
//! this does not stall the leader's writes (write p99 during the sync ≤ 2× without it) and
//! that the follower serves again within 2× the time the snapshot's bytes take on the link.
//!
//! "Serves again" is what an operator observes: a client session on the restarted member
//! reads the last populated znode (getData answered without error). A member that has not
//! synced refuses sessions, and one that has cannot lack that node.
//!
//! The snapshot's size is that of the largest complete snapshot file in the restarted
//! member's data directory once it serves (the one it received and installed); the link's
//! rate is a bulk loopback TCP transfer the suite times in the same run, right after.

use super::check::Check;
use super::ensemble::Ensemble;
use super::scenarios::mixes;
use super::server::{Server, ServerKind};
use super::snapshot::{snapshot_dir, snapshot_zxid};
use super::SuiteSettings;
use crate::keys::key_path;
use crate::load::{self, LoadConfig};
use crate::options::{Distribution, OpKind};
use crate::populate;
use crate::session;
use crate::stats::Summary;
use ringkeeper_engine::jute::records::{GetDataRequest, Request};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parent of the populated znodes.
pub const ROOT: &str = "/rk-catch";
/// Parent of the keys the 10:1 load reads and writes.
pub const LOAD_ROOT: &str = "/rk-catch-load";
/// Connections of the load, all on the leader.
pub const CLIENTS: usize = 16;
/// How long the restarted member may take to serve again before the scenario gives up.
pub const SERVE_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the restarted member is asked whether it serves.
pub const SERVE_POLL: Duration = Duration::from_millis(20);
/// How long one "does it serve" attempt (connect plus getData) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes the loopback rate probe sends at least (and at most 1 GiB).
pub const LINK_PROBE_MIN_BYTES: u64 = 64 << 20;
/// Bytes the loopback rate probe sends at most.
pub const LINK_PROBE_MAX_BYTES: u64 = 1 << 30;
/// The targets: write p99 ratio and serve time as a multiple of the transfer time.
pub const P99_RATIO_MAX: f64 = 2.0;
/// See [`P99_RATIO_MAX`].
pub const SERVE_RATIO_MAX: f64 = 2.0;

/// The catch-up scenario on one implementation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatchUpRow {
    /// Target name.
    pub target: String,
    /// Znodes of 100 bytes in the tree.
    pub znodes: u64,
    /// Connections of the 10:1 load (all on the leader) and requests in flight on each.
    pub clients: usize,
    /// See `clients`.
    pub in_flight: usize,
    /// `server.N` id of the leader and of the wiped and restarted follower.
    pub leader: u32,
    /// See `leader`.
    pub restarted: u32,
    /// Replies per second of the baseline window (full ensemble, no sync).
    pub baseline_ops_per_s: f64,
    /// setData latency of the baseline window.
    pub baseline_write: Option<Summary>,
    /// Replies per second from the restart to the follower serving.
    pub sync_ops_per_s: f64,
    /// setData latency from the restart to the follower serving.
    pub sync_write: Option<Summary>,
    /// Error replies plus unanswered requests during the sync window.
    pub sync_errors: u64,
    /// From starting the wiped member's process to its first answered getData of the last
    /// populated znode, milliseconds.
    pub serve_ms: f64,
    /// Size of the snapshot the member received (its data directory once it serves).
    pub snapshot_bytes: u64,
    /// Loopback TCP bulk rate measured in the same run, bytes per second.
    pub link_bytes_per_s: f64,
    /// `snapshot_bytes` at `link_bytes_per_s`, milliseconds.
    pub transfer_ms: f64,
}

/// `during / baseline`, when the baseline is positive.
pub fn ratio(during: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && during.is_finite()).then(|| during / baseline)
}

/// Milliseconds `bytes` take at `bytes_per_s`, when the rate is positive.
pub fn transfer_ms(bytes: u64, bytes_per_s: f64) -> Option<f64> {
    (bytes_per_s > 0.0).then(|| bytes as f64 / bytes_per_s * 1e3)
}

fn p99(s: &Option<Summary>) -> Option<f64> {
    s.as_ref()?.percentiles_us.get("p99").copied()
}

fn p50(s: &Option<Summary>) -> Option<f64> {
    s.as_ref()?.percentiles_us.get("p50").copied()
}

impl CatchUpRow {
    /// Write p99 during the sync over write p99 without it.
    pub fn write_p99_ratio(&self) -> Option<f64> {
        ratio(p99(&self.sync_write)?, p99(&self.baseline_write)?)
    }

    /// Time to serve over the snapshot's transfer time.
    pub fn serve_ratio(&self) -> Option<f64> {
        ratio(self.serve_ms, self.transfer_ms)
    }

    /// Whether the write p99 target is met (`None`: not measured).
    pub fn p99_met(&self) -> Option<bool> {
        self.write_p99_ratio().map(|r| r <= P99_RATIO_MAX)
    }

    /// Whether the time-to-serve target is met (`None`: not measured).
    pub fn serve_met(&self) -> Option<bool> {
        self.serve_ratio().map(|r| r <= SERVE_RATIO_MAX)
    }
}

/// Runs the scenario on a fresh 3-member ensemble of `kind` in `dir`.
pub async fn run(
    s: &SuiteSettings,
    kind: &ServerKind,
    dir: &Path,
    salt: u32,
    args: &[String],
) -> Result<CatchUpRow, String> {
    let name = kind.name();
    eprintln!("suite: catch-up: starting a 3-member {name} ensemble");
    let mut ens = Ensemble::start_with(kind, dir, 3, salt, s.election_timeout, args)?;
    let leader = ens.wait_for_leader(None, s.election_timeout)?;
    let follower = (0..ens.members.len())
        .find(|&i| i != leader)
        .ok_or("no follower")?;
    let leader_addr = ens.members[leader].addr.clone();
    eprintln!("suite: catch-up: creating {} znodes on {name}", s.znodes);
    populate::populate(std::slice::from_ref(&leader_addr), ROOT, s.znodes, 100, 4).await?;
    let last = key_path(ROOT, s.znodes.saturating_sub(1));
    // The population must be on the follower before it is stopped, or its own log would
    // not hold it and the wipe would change nothing; its reading the last node proves it.
    wait_serving(&ens.members[follower].addr, &last, SERVE_TIMEOUT).await?;
    let (_, mix) = mixes().swap_remove(0);
    let base = LoadConfig {
        hosts: vec![leader_addr.clone()],
        connections: CLIENTS,
        in_flight: s.in_flight,
        mix,
        keys: s.keys,
        distribution: Distribution::Uniform,
        value_size: 100,
        duration: s.duration,
        warmup: s.warmup,
        root: LOAD_ROOT.into(),
        setup: true,
        progress: false,
        time_limit: s.duration * 4 + Duration::from_secs(30),
        seed: 11,
        ..LoadConfig::default()
    };
    eprintln!("suite: catch-up: baseline 10:1 x{CLIENTS} on the {name} leader");
    let baseline = load::run(&base).await.map_err(|e| e.to_string())?;

    eprintln!(
        "suite: catch-up: stopping {name} server.{} and wiping its data",
        follower + 1
    );
    let member = &mut ens.members[follower];
    member.stop();
    wipe_data(member)?;
    let stop = Arc::new(AtomicBool::new(false));
    let during_cfg = LoadConfig {
        setup: false,
        duration: SERVE_TIMEOUT,
        time_limit: SERVE_TIMEOUT + s.warmup + Duration::from_secs(30),
        stop: Some(stop.clone()),
        seed: 12,
        ..base.clone()
    };
    let load_task = tokio::spawn(async move { load::run(&during_cfg).await });
    // The load warms up as in the baseline; its measured window starts when the member
    // is restarted.
    tokio::time::sleep(s.warmup).await;
    let restarted_at = Instant::now();
    member.respawn()?;
    let served = wait_serving(&member.addr, &last, SERVE_TIMEOUT).await;
    let serve_ms = restarted_at.elapsed().as_secs_f64() * 1e3;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = load_task
        .await
        .map_err(|e| format!("load task: {e}"))?
        .map_err(|e| e.to_string())?;
    served?;
    eprintln!(
        "suite: catch-up: {name} server.{} serves again after {serve_ms:.0} ms",
        follower + 1
    );
    let snapshot_bytes = largest_snapshot(&snapshot_dir(kind, &member.dir.join("data")));
    let ip = member
        .addr
        .rsplit_once(':')
        .map_or("127.0.0.1", |(ip, _)| ip)
        .to_string();
    let probe = snapshot_bytes.clamp(LINK_PROBE_MIN_BYTES, LINK_PROBE_MAX_BYTES);
    let link_bytes_per_s = tokio::task::spawn_blocking(move || loopback_rate(&ip, probe))
        .await
        .map_err(|e| format!("link probe: {e}"))?
        .map_err(|e| format!("link probe: {e}"))?;
    let during_total = during.total();
    Ok(CatchUpRow {
        target: name.into(),
        znodes: s.znodes,
        clients: CLIENTS,
        in_flight: s.in_flight,
        leader: leader as u32 + 1,
        restarted: follower as u32 + 1,
        baseline_ops_per_s: baseline.total().throughput,
        baseline_write: baseline.op(OpKind::SetData),
        sync_ops_per_s: during_total.throughput,
        sync_write: during.op(OpKind::SetData),
        sync_errors: during_total.errors + during.unanswered,
        serve_ms,
        snapshot_bytes,
        link_bytes_per_s,
        transfer_ms: transfer_ms(snapshot_bytes, link_bytes_per_s).unwrap_or(0.0),
    })
}

/// Empties a stopped member's data directory, keeping its `myid`.
fn wipe_data(member: &Server) -> Result<(), String> {
    let data = member.dir.join("data");
    let myid = std::fs::read(data.join("myid")).map_err(|e| format!("read myid: {e}"))?;
    std::fs::remove_dir_all(&data).map_err(|e| format!("wipe {}: {e}", data.display()))?;
    std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
    std::fs::write(data.join("myid"), myid).map_err(|e| format!("write myid: {e}"))
}

/// Size of the largest complete snapshot file in `dir` (0 when there is none).
pub fn largest_snapshot(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| snapshot_zxid(n).is_some())
                })
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Retries a session on `addr` reading `path` until a getData is answered without error.
async fn wait_serving(addr: &str, path: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if tokio::time::timeout(PROBE_TIMEOUT, reads(addr, path))
            .await
            .unwrap_or(false)
        {
            return Ok(());
        }
        tokio::time::sleep(SERVE_POLL).await;
    }
    Err(format!(
        "{addr} did not answer getData {path} within {timeout:?}"
    ))
}

async fn reads(addr: &str, path: &str) -> bool {
    let Ok(mut sess) = session::connect(addr, 30_000, PROBE_TIMEOUT).await else {
        return false;
    };
    let req = Request::GetData(GetDataRequest {
        path: path.to_string(),
        watch: false,
    });
    if session::write_request(&mut sess.writer, 1, &req)
        .await
        .is_err()
    {
        return false;
    }
    let ok = match session::read_frame(&mut sess.reader).await {
        Ok(frame) => session::reply_header(&frame).is_ok_and(|(h, _)| h.err == 0),
        Err(_) => false,
    };
    if ok {
        session::close(sess, 2).await;
    }
    ok
}

/// Bytes per second of one bulk TCP transfer of `bytes` over loopback on `ip`.
pub fn loopback_rate(ip: &str, bytes: u64) -> std::io::Result<f64> {
    let listener = TcpListener::bind((ip, 0))?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(n),
                k => n += k as u64,
            }
        }
    });
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    let chunk = vec![0x5au8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..k])?;
        left -= k as u64;
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| std::io::Error::other("reader thread panicked"))??;
    let secs = t.elapsed().as_secs_f64();
    if got != bytes || secs <= 0.0 {
        return Err(std::io::Error::other(format!(
            "received {got} of {bytes} bytes"
        )));
    }
    Ok(bytes as f64 / secs)
}

fn ms(us: Option<f64>) -> String {
    us.map_or("-".into(), |u| format!("{:.2}", u / 1e3))
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}"))
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

/// The report's section for the catch-up rows.
pub fn markdown(rows: &[CatchUpRow]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let Some(first) = rows.first() else {
        return o;
    };
    let _ = writeln!(
        o,
        "\n## Catch-up: a follower wiped and restarted under the 10:1 mix ({} znodes, {} connections x {} in flight on the leader)\n",
        first.znodes, first.clients, first.in_flight
    );
    let _ = writeln!(
        o,
        "| target | baseline ops/s | baseline write p50 / p99 ms | sync ops/s | sync write p50 / p99 ms | p99 ratio (<= 2) | sync errors | snapshot MiB | link MiB/s | transfer ms | serve ms | serve / transfer (<= 2) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | {:.0} | {} / {} | {:.0} | {} / {} | {} ({}) | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} ({}) |",
            r.target,
            r.baseline_ops_per_s,
            ms(p50(&r.baseline_write)),
            ms(p99(&r.baseline_write)),
            r.sync_ops_per_s,
            ms(p50(&r.sync_write)),
            ms(p99(&r.sync_write)),
            ratio_text(r.write_p99_ratio()),
            verdict(r.p99_met()),
            r.sync_errors,
            r.snapshot_bytes as f64 / (1u64 << 20) as f64,
            r.link_bytes_per_s / (1u64 << 20) as f64,
            r.transfer_ms,
            r.serve_ms,
            ratio_text(r.serve_ratio()),
            verdict(r.serve_met()),
        );
    }
    o
}

/// The catch-up targets, checked on ringkeeper's row.
pub fn checks(rows: &[CatchUpRow]) -> Vec<Check> {
    let rk = rows.iter().find(|r| r.target == "ringkeeper");
    vec![
        Check {
            target: "catch-up: leader write p99 during a wiped follower's sync <= 2x without"
                .into(),
            measured: rk.map_or("not measured".into(), |r| {
                format!(
                    "{}x ({} ms vs {} ms)",
                    ratio_text(r.write_p99_ratio()),
                    ms(p99(&r.sync_write)),
                    ms(p99(&r.baseline_write))
                )
            }),
            met: rk.and_then(CatchUpRow::p99_met),
        },
        Check {
            target: "catch-up: the follower serves within 2x the snapshot's transfer time".into(),
            measured: rk.map_or("not measured".into(), |r| {
                format!(
                    "{}x ({:.0} ms to serve, {:.1} MiB at {:.0} MiB/s = {:.0} ms)",
                    ratio_text(r.serve_ratio()),
                    r.serve_ms,
                    r.snapshot_bytes as f64 / (1u64 << 20) as f64,
                    r.link_bytes_per_s / (1u64 << 20) as f64,
                    r.transfer_ms
                )
            }),
            met: rk.and_then(CatchUpRow::serve_met),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary(p50: f64, p99: f64) -> Summary {
        Summary {
            count: 100,
            errors: 0,
            throughput: 1000.0,
            mean_us: p50,
            min_us: 1.0,
            percentiles_us: BTreeMap::from([("p50".into(), p50), ("p99".into(), p99)]),
            error_codes: BTreeMap::new(),
        }
    }

    fn row(base_p99: f64, sync_p99: f64, serve_ms: f64, bytes: u64, rate: f64) -> CatchUpRow {
        CatchUpRow {
            target: "ringkeeper".into(),
            znodes: 1000,
            clients: CLIENTS,
            in_flight: 4,
            leader: 1,
            restarted: 2,
            baseline_ops_per_s: 1000.0,
            baseline_write: Some(summary(base_p99 / 2.0, base_p99)),
            sync_ops_per_s: 900.0,
            sync_write: Some(summary(sync_p99 / 2.0, sync_p99)),
            sync_errors: 0,
            serve_ms,
            snapshot_bytes: bytes,
            link_bytes_per_s: rate,
            transfer_ms: transfer_ms(bytes, rate).unwrap_or(0.0),
        }
    }

    #[test]
    fn transfer_time_is_bytes_over_rate() {
        assert_eq!(transfer_ms(1_000_000, 1e9), Some(1.0));
        assert_eq!(transfer_ms(0, 1e9), Some(0.0));
        assert_eq!(transfer_ms(5, 0.0), None);
    }

    #[test]
    fn targets_pass_at_two_and_fail_above() {
        // p99 exactly 2x the baseline meets the target; just above does not.
        let r = row(1000.0, 2000.0, 20.0, 10_000_000, 1e9);
        assert_eq!(r.write_p99_ratio(), Some(2.0));
        assert_eq!(r.p99_met(), Some(true));
        // 10 MB at 1 GB/s is 10 ms; serving in 20 ms is exactly 2x.
        assert_eq!(r.serve_ratio(), Some(2.0));
        assert_eq!(r.serve_met(), Some(true));
        let r = row(1000.0, 2001.0, 20.1, 10_000_000, 1e9);
        assert_eq!(r.p99_met(), Some(false));
        assert_eq!(r.serve_met(), Some(false));
    }

    #[test]
    fn a_missing_measurement_is_not_a_verdict() {
        let mut r = row(1000.0, 1500.0, 10.0, 0, 1e9);
        // No snapshot bytes found: the transfer time is 0, so no serve ratio.
        assert_eq!(r.serve_met(), None);
        r.baseline_write = None;
        assert_eq!(r.p99_met(), None);
        let checks = checks(&[r]);
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.met.is_none()));
        let none = super::checks(&[]);
        assert!(none
            .iter()
            .all(|c| c.met.is_none() && c.measured == "not measured"));
    }

    #[test]
    fn markdown_states_ratios_and_verdicts() {
        let md = markdown(&[row(1000.0, 3000.0, 15.0, 10_000_000, 1e9)]);
        assert!(md.contains("| ringkeeper |"), "{md}");
        assert!(md.contains("3.00 (NOT met)"), "{md}");
        assert!(md.contains("1.50 (met)"), "{md}");
        assert!(markdown(&[]).is_empty());
    }

    #[test]
    fn the_largest_complete_snapshot_counts() {
        let dir = std::env::temp_dir().join(format!("rk-catch-up-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(largest_snapshot(&dir), 0);
        std::fs::write(dir.join("snapshot.1f4"), vec![0u8; 10]).unwrap();
        std::fs::write(dir.join("snapshot.2f4"), vec![0u8; 30]).unwrap();
        std::fs::write(dir.join("snapshot.3f4.tmp"), vec![0u8; 99]).unwrap();
        std::fs::write(dir.join("log.1"), vec![0u8; 99]).unwrap();
        assert_eq!(largest_snapshot(&dir), 30);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
