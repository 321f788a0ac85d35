//! The standard scenarios. Every scenario runs against each target in turn before the next
//! scenario starts, and the order of the targets flips from one scenario to the next, so
//! that drift in the machine's load hits both servers alike.

use super::ensemble::Ensemble;
use super::server::{Launch, Server, ServerKind};
use super::snapshot::{self, SnapshotRow};
use super::SuiteSettings;
use crate::fanout::{self, FanoutReport};
use crate::keys::key_path;
use crate::load::{self, LoadConfig};
use crate::options::{Distribution, Mix, OpKind};
use crate::populate;
use crate::session;
use crate::stats::Summary;
use ringkeeper_engine::jute::records::{GetDataRequest, Request};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Serial latency of one operation on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SerialRow {
    /// `ringkeeper` or `apache`.
    pub target: String,
    /// Operation name.
    pub op: String,
    /// Its latency (of the repetition with the median p50).
    pub latency: Summary,
    /// p50 of each repetition, microseconds: the run-to-run noise.
    #[serde(default)]
    pub p50_samples_us: Vec<f64>,
}

/// One throughput point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Target name.
    pub target: String,
    /// `10:1`, `1:0` or `0:1`.
    pub mix: String,
    /// Connections.
    pub clients: usize,
    /// In flight per connection.
    pub in_flight: usize,
    /// Replies per second, all operations.
    pub ops_per_s: f64,
    /// getData latency, if the mix reads.
    pub read: Option<Summary>,
    /// setData latency, if the mix writes.
    pub write: Option<Summary>,
    /// Error replies plus unanswered requests.
    pub errors: u64,
    /// Replies per second of each repetition (the row is the median one): the run-to-run
    /// noise.
    #[serde(default)]
    pub ops_per_s_samples: Vec<f64>,
    /// Server CPU (user + system over the measured window) per reply, microseconds.
    #[serde(default)]
    pub server_cpu_us_per_op: Option<f64>,
}

/// The row of a throughput point from its repetitions: the median one by throughput, with
/// every repetition's throughput as samples.
pub fn throughput_row(
    target: &str,
    mix: &str,
    clients: usize,
    in_flight: usize,
    runs: Vec<load::LoadReport>,
) -> Option<ThroughputRow> {
    let samples: Vec<f64> = runs.iter().map(|r| r.total().throughput).collect();
    let r = runs.into_iter().nth(median_index(&samples)?)?;
    let total = r.total();
    Some(ThroughputRow {
        target: target.into(),
        mix: mix.into(),
        clients,
        in_flight,
        ops_per_s: total.throughput,
        read: r.op(OpKind::GetData),
        write: r.op(OpKind::SetData),
        errors: total.errors + r.unanswered,
        server_cpu_us_per_op: r.server_cpu_us_per_op(),
        ops_per_s_samples: samples,
    })
}

/// The index of the median of `samples` (the lower middle one for an even count).
pub fn median_index(samples: &[f64]) -> Option<usize> {
    let mut idx: Vec<usize> = (0..samples.len()).collect();
    idx.sort_by(|a, b| samples[*a].total_cmp(&samples[*b]));
    idx.get(samples.len().saturating_sub(1) / 2).copied()
}

/// Watch fan-out on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Target name.
    pub target: String,
    /// The measurement.
    pub report: FanoutReport,
}

/// Memory and restart on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryRow {
    /// Target name.
    pub target: String,
    /// Znodes created.
    pub znodes: u64,
    /// Bytes of data per znode.
    pub value_size: usize,
    /// RSS before creating them.
    pub rss_before_bytes: u64,
    /// RSS after.
    pub rss_after_bytes: u64,
    /// (after - before) / znodes.
    pub bytes_per_znode: f64,
    /// Seconds to create them (pipelined, 4 sessions).
    pub populate_seconds: f64,
    /// Seconds from process start to the first getData answered after a restart with
    /// these znodes on disk.
    pub restart_seconds: f64,
    /// ringkeeper's shard count for this row (`--memory-shards`); `None`: the default.
    #[serde(default)]
    pub shards: Option<u32>,
}

/// The three read/write mixes of the issue.
pub fn mixes() -> Vec<(&'static str, Mix)> {
    vec![
        (
            "10:1",
            Mix {
                weights: vec![(OpKind::GetData, 10), (OpKind::SetData, 1)],
            },
        ),
        ("1:0", Mix::only(OpKind::GetData)),
        ("0:1", Mix::only(OpKind::SetData)),
    ]
}

/// The serial operations and the mix that produces each (delete needs creates to delete).
pub fn serial_ops() -> Vec<(OpKind, Mix)> {
    let mut v: Vec<(OpKind, Mix)> = [
        OpKind::GetData,
        OpKind::Exists,
        OpKind::GetChildren,
        OpKind::SetData,
        OpKind::Create,
        OpKind::Multi,
    ]
    .into_iter()
    .map(|op| (op, Mix::only(op)))
    .collect();
    v.push((
        OpKind::Delete,
        Mix {
            weights: vec![(OpKind::Create, 1), (OpKind::Delete, 1)],
        },
    ));
    v
}

fn base_config(s: &SuiteSettings, addr: &str) -> LoadConfig {
    LoadConfig {
        hosts: vec![addr.to_string()],
        keys: s.keys,
        distribution: Distribution::Uniform,
        value_size: 100,
        duration: s.duration,
        warmup: s.warmup,
        progress: false,
        time_limit: s.duration * 4 + Duration::from_secs(30),
        seed: 7,
        ..LoadConfig::default()
    }
}

/// The targets of a scenario, flipped on odd scenario numbers.
pub fn ordered(servers: &[Server], scenario: usize) -> Vec<&Server> {
    let mut v: Vec<&Server> = servers.iter().collect();
    if scenario % 2 == 1 {
        v.reverse();
    }
    v
}

/// Serial latency of each operation: one connection, one request in flight, each point
/// repeated `s.repeats` times with the targets alternating.
pub async fn serial(s: &SuiteSettings, servers: &[Server], n: &mut usize) -> Vec<SerialRow> {
    let mut rows = Vec::new();
    for (op, mix) in serial_ops() {
        *n += 1;
        let mut runs: Vec<Vec<Summary>> = vec![Vec::new(); servers.len()];
        for repeat in 0..s.repeats.max(1) {
            for (i, srv) in ordered_indexed(servers, *n + repeat) {
                let cfg = LoadConfig {
                    connections: 1,
                    in_flight: 1,
                    mix: mix.clone(),
                    ..base_config(s, &srv.addr)
                };
                eprintln!("suite: serial {op} on {}", srv.kind.name());
                match load::run(&cfg).await {
                    Ok(r) => runs[i].extend(r.op(op)),
                    Err(e) => eprintln!("suite: serial {op} on {} failed: {e}", srv.kind.name()),
                }
            }
        }
        for (srv, runs) in servers.iter().zip(runs) {
            let samples: Vec<f64> = runs
                .iter()
                .map(|l| l.percentiles_us.get("p50").copied().unwrap_or(0.0))
                .collect();
            let Some(latency) = median_index(&samples).map(|i| runs[i].clone()) else {
                continue;
            };
            rows.push(SerialRow {
                target: srv.kind.name().into(),
                op: op.name().into(),
                latency,
                p50_samples_us: samples,
            });
        }
    }
    rows
}

/// [`ordered`] with each server's index in `servers`.
fn ordered_indexed(servers: &[Server], scenario: usize) -> Vec<(usize, &Server)> {
    let mut v: Vec<(usize, &Server)> = servers.iter().enumerate().collect();
    if scenario % 2 == 1 {
        v.reverse();
    }
    v
}

/// Throughput and latency for each mix and client count, each point repeated
/// `s.repeats` times with the targets alternating, with the servers' CPU per reply.
pub async fn throughput(
    s: &SuiteSettings,
    servers: &[Server],
    n: &mut usize,
) -> Vec<ThroughputRow> {
    let mut rows = Vec::new();
    for (name, mix) in mixes() {
        for &clients in &s.clients {
            *n += 1;
            let mut runs: Vec<Vec<load::LoadReport>> =
                (0..servers.len()).map(|_| Vec::new()).collect();
            for repeat in 0..s.repeats.max(1) {
                for (i, srv) in ordered_indexed(servers, *n + repeat) {
                    let cfg = LoadConfig {
                        connections: clients,
                        in_flight: s.in_flight,
                        mix: mix.clone(),
                        server_pid: srv.pid(),
                        ..base_config(s, &srv.addr)
                    };
                    eprintln!("suite: throughput {name} x{clients} on {}", srv.kind.name());
                    match load::run(&cfg).await {
                        Ok(r) => runs[i].push(r),
                        Err(e) => {
                            eprintln!("suite: throughput on {} failed: {e}", srv.kind.name())
                        }
                    }
                }
            }
            for (srv, runs) in servers.iter().zip(runs) {
                rows.extend(throughput_row(
                    srv.kind.name(),
                    name,
                    clients,
                    s.in_flight,
                    runs,
                ));
            }
        }
    }
    rows
}

/// The 10:1 mix on each ensemble for each client count, connection i starting on member
/// i mod N (rk-load's host list), so the clients are spread over the members.
pub async fn ensemble_throughput(
    s: &SuiteSettings,
    ensembles: &[Ensemble],
    n: &mut usize,
) -> Vec<ThroughputRow> {
    let mut rows = Vec::new();
    let (name, mix) = mixes().swap_remove(0);
    for &clients in &s.clients {
        *n += 1;
        let mut order: Vec<&Ensemble> = ensembles.iter().collect();
        if *n % 2 == 1 {
            order.reverse();
        }
        for ens in order {
            let target = ens.members[0].kind.name();
            eprintln!("suite: ensemble throughput {name} x{clients} on {target}");
            match spread_point(s, ens, (name, &mix), clients, target).await {
                Ok(r) => rows.extend(r),
                Err(e) => eprintln!("suite: ensemble throughput on {target} failed: {e}"),
            }
        }
    }
    rows
}

/// One throughput point of `mix` (named) with `clients` connections, connection i on
/// member i mod N of `ens`, reported under `target`.
pub async fn spread_point(
    s: &SuiteSettings,
    ens: &Ensemble,
    (name, mix): (&str, &Mix),
    clients: usize,
    target: &str,
) -> Result<Option<ThroughputRow>, String> {
    let cfg = LoadConfig {
        hosts: ens.hosts(),
        connections: clients,
        in_flight: s.in_flight,
        mix: mix.clone(),
        ..base_config(s, &ens.members[0].addr)
    };
    let report = load::run(&cfg).await.map_err(|e| e.to_string())?;
    Ok(throughput_row(
        target,
        name,
        clients,
        s.in_flight,
        vec![report],
    ))
}

/// Watch fan-out for each watcher count.
pub async fn fanout(s: &SuiteSettings, servers: &[Server], n: &mut usize) -> Vec<FanoutRow> {
    let mut rows = Vec::new();
    for &watchers in &s.watchers {
        *n += 1;
        for srv in ordered(servers, *n) {
            eprintln!(
                "suite: fan-out to {watchers} watchers on {}",
                srv.kind.name()
            );
            match fanout::run(&srv.addr, "/rk-bench", watchers, s.fanout_rounds).await {
                Ok(report) => rows.push(FanoutRow {
                    target: srv.kind.name().into(),
                    report,
                }),
                Err(e) => eprintln!("suite: fan-out on {} failed: {e}", srv.kind.name()),
            }
        }
    }
    rows
}

/// Memory per znode and restart time on a fresh server of `kind` in `dir`; with
/// `snapshot = Some((snap_count, rounds))` the restart uses that `snapCount` and the
/// snapshot scenario then runs on the restarted, populated server.
pub async fn memory_and_restart(
    s: &SuiteSettings,
    kind: ServerKind,
    dir: &std::path::Path,
    addr: &str,
    base: &Launch,
    snapshot: Option<(u32, usize)>,
) -> Result<(MemoryRow, Option<Result<SnapshotRow, String>>), String> {
    let _ = std::fs::remove_dir_all(dir);
    let name = kind.name().to_string();
    let mut srv = Server::start_with(kind.clone(), dir, addr, base)?;
    // One session first, so that lazily initialised connection machinery is not
    // counted as znode memory.
    populate::create_all(addr, ["/rk-mem".to_string()].into_iter(), 0, 1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = srv.rss_bytes().ok_or("cannot read RSS")?;
    eprintln!("suite: creating {} znodes on {name}", s.znodes);
    let t = Instant::now();
    populate::populate(&[addr.to_string()], "/rk-mem", s.znodes, 100, 4).await?;
    let populate_seconds = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = srv.rss_bytes().ok_or("cannot read RSS")?;
    srv.stop();
    eprintln!("suite: restarting {name} with {} znodes", s.znodes);
    let launch = Launch {
        extra_cfg: base.extra_cfg.clone()
            + &snapshot.map_or(String::new(), |(c, _)| format!("snapCount={c}\n")),
        ..base.clone()
    };
    let t = Instant::now();
    let srv = Server::start_with(kind, dir, addr, &launch)?;
    first_read(addr, &key_path("/rk-mem", s.znodes.saturating_sub(1))).await?;
    let restart_seconds = t.elapsed().as_secs_f64();
    let snap = match snapshot {
        Some((snap_count, rounds)) => {
            eprintln!(
                "suite: timing {rounds} snapshots of {} znodes on {name}",
                s.znodes
            );
            Some(snapshot::measure(&srv, "/rk-mem", s.znodes, snap_count, rounds).await)
        }
        None => None,
    };
    drop(srv);
    let _ = std::fs::remove_dir_all(dir.join("data"));
    let row = MemoryRow {
        target: name,
        znodes: s.znodes,
        value_size: 100,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_znode: (after as f64 - before as f64) / s.znodes.max(1) as f64,
        populate_seconds,
        restart_seconds,
        shards: None,
    };
    Ok((row, snap))
}

/// Retries a getData of `path` until it succeeds (the server may still be loading).
async fn first_read(addr: &str, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(mut sess) = session::connect(addr, 30_000, Duration::from_secs(5)).await {
            let req = Request::GetData(GetDataRequest {
                path: path.to_string(),
                watch: false,
            });
            if session::write_request(&mut sess.writer, 1, &req)
                .await
                .is_ok()
            {
                if let Ok(Ok(frame)) = tokio::time::timeout(
                    Duration::from_secs(5),
                    session::read_frame(&mut sess.reader),
                )
                .await
                {
                    if let Ok((h, _)) = session::reply_header(&frame) {
                        if h.err == 0 {
                            session::close(sess, 2).await;
                            return Ok(());
                        }
                        return Err(format!(
                            "getData {path} after restart: {}",
                            crate::stats::error_label(h.err)
                        ));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "no getData answered on {addr} within 120 s of restart"
    ))
}
