//! The benchmark suite: starts the servers itself, runs the standard scenarios through the
//! load generator, and writes a Markdown + JSON + SVG report with the machine's facts.

pub mod catch_up;
pub mod check;
pub mod compare;
pub mod ensemble;
pub mod flood;
pub mod machine;
pub mod read_scaling;
pub mod report;
pub mod scenarios;
pub mod server;
pub mod snapshot;
pub mod versions;

use ensemble::{Ensemble, FailoverRow};
use machine::MachineInfo;
use scenarios::{FanoutRow, MemoryRow, SerialRow, ThroughputRow};
use serde::Serialize;
use server::{command_line, pick_addr, Launch, Server, ServerKind};
use snapshot::SnapshotRow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Scenario sizes; `quick()` keeps a whole comparison run to a few minutes. Reports of
/// older versions lack some fields: those read as the full preset's (and the fields below
/// that mark their own default, as what those versions did).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SuiteSettings {
    /// Keys the read/write scenarios use.
    pub keys: u64,
    /// Measured time per load point.
    pub duration: Duration,
    /// Warm-up per load point.
    pub warmup: Duration,
    /// Client counts of the throughput scenarios.
    pub clients: Vec<usize>,
    /// In flight per connection in the throughput scenarios.
    pub in_flight: usize,
    /// Watcher counts of the fan-out scenario.
    pub watchers: Vec<usize>,
    /// Rounds per fan-out point.
    pub fanout_rounds: u64,
    /// Znodes of the memory and restart scenario (0 skips it).
    pub znodes: u64,
    /// fdatasync probes.
    pub fsync_rounds: u32,
    /// Loopback round trips.
    pub rtt_rounds: u32,
    /// `snapCount` of the snapshot scenario's server.
    pub snap_count: u32,
    /// Snapshots timed per target.
    pub snapshot_rounds: usize,
    /// Members of the ensemble scenarios.
    pub ensemble_size: usize,
    /// Leader kills per target in the failover scenario.
    pub failover_rounds: usize,
    /// Serial writers running during a failover.
    pub failover_writers: usize,
    /// How long an ensemble may take to elect a leader, at start and after a kill.
    pub election_timeout: Duration,
    /// Runs of each serial and throughput point per target, alternating, so the report
    /// records its own run-to-run noise (`--repeat`).
    #[serde(default = "one")]
    pub repeats: usize,
    /// ringkeeper shard counts the memory scenario runs with, one row each
    /// (`--memory-shards`); empty: the server's default only.
    #[serde(default)]
    pub memory_shards: Vec<u32>,
    /// Apache's JVM heap, `-Xmx` (`--apache-heap`); empty in reports from before the
    /// flag, which left the heap to the JVM.
    #[serde(default)]
    pub apache_heap: String,
    /// Extra flags for every ringkeeper the suite starts (`--ringkeeper-arg`).
    #[serde(default)]
    pub ringkeeper_args: Vec<String>,
    /// Connections that pipeline getData and never read, in the flood scenario.
    #[serde(default)]
    pub flood_connections: usize,
    /// getData requests each of them sends.
    #[serde(default)]
    pub flood_requests: usize,
    /// Data bytes of the node they read.
    #[serde(default)]
    pub flood_node_bytes: usize,
}

fn one() -> usize {
    1
}

/// Apache's heap unless `--apache-heap` says otherwise: what an operator would set
/// explicitly, rather than the JVM's share of the machine's memory.
pub const APACHE_HEAP_DEFAULT: &str = "2g";
/// The report format's version: 2 added the fields `compare` needs (noise samples,
/// versions, server command lines); version 1 reports still load, without them.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

impl Default for SuiteSettings {
    fn default() -> Self {
        SuiteSettings::full()
    }
}

impl SuiteSettings {
    /// The full standard set.
    pub fn full() -> SuiteSettings {
        SuiteSettings {
            keys: 10_000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            clients: vec![1, 4, 16, 64],
            in_flight: 4,
            watchers: vec![1, 10, 100, 1000],
            fanout_rounds: 100,
            znodes: 1_000_000,
            fsync_rounds: 500,
            rtt_rounds: 20_000,
            snap_count: 1000,
            snapshot_rounds: 5,
            ensemble_size: 3,
            failover_rounds: 5,
            failover_writers: 6,
            election_timeout: ensemble::ELECTION_TIMEOUT,
            repeats: 3,
            memory_shards: Vec::new(),
            apache_heap: APACHE_HEAP_DEFAULT.into(),
            ringkeeper_args: Vec::new(),
            flood_connections: 64,
            flood_requests: 10_000,
            flood_node_bytes: 1024,
        }
    }

    /// A short run for CI and smoke tests, and for shared machines.
    pub fn quick() -> SuiteSettings {
        SuiteSettings {
            keys: 1000,
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            clients: vec![1, 4, 16],
            in_flight: 4,
            watchers: vec![10, 100],
            fanout_rounds: 20,
            znodes: 100_000,
            fsync_rounds: 100,
            rtt_rounds: 5000,
            snap_count: 500,
            snapshot_rounds: 3,
            ensemble_size: 3,
            failover_rounds: 3,
            failover_writers: 3,
            election_timeout: ensemble::ELECTION_TIMEOUT,
            repeats: 1,
            memory_shards: Vec::new(),
            apache_heap: APACHE_HEAP_DEFAULT.into(),
            ringkeeper_args: Vec::new(),
            flood_connections: 16,
            flood_requests: 5000,
            flood_node_bytes: 1024,
        }
    }
}

/// Everything a suite run measured.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SuiteReport {
    /// [`REPORT_SCHEMA_VERSION`] of the writer (1 for reports from before the field).
    #[serde(default = "one_u32")]
    pub schema_version: u32,
    /// UTC date and time the run started, RFC 3339.
    pub started: String,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// The machine.
    pub machine: MachineInfo,
    /// The settings used.
    pub settings: SuiteSettings,
    /// What was measured: the suite's source, the compiler, each server's own version.
    #[serde(default)]
    pub versions: versions::Versions,
    /// Each managed target's command line (zoo.cfg and log4j paths relative to its
    /// directory; the zoo.cfg lines are in docs/benchmarks.md).
    #[serde(default)]
    pub server_commands: BTreeMap<String, String>,
    /// Target names in the order of the first scenario.
    pub targets: Vec<String>,
    /// Serial latency per operation.
    pub serial: Vec<SerialRow>,
    /// Throughput points.
    pub throughput: Vec<ThroughputRow>,
    /// Fan-out points.
    pub fanout: Vec<FanoutRow>,
    /// Memory and restart.
    pub memory: Vec<MemoryRow>,
    /// Snapshot time.
    #[serde(default)]
    pub snapshot: Vec<SnapshotRow>,
    /// The 10:1 mix on ensembles, clients spread over the members.
    #[serde(default)]
    pub ensemble_throughput: Vec<ThroughputRow>,
    /// Leader failover.
    #[serde(default)]
    pub failover: Vec<FailoverRow>,
    /// The read-only mix on ensembles with 0, 1 and 2 observers, reads spread over every
    /// member; the target names the shape (`ringkeeper 3+1obs`). Left out of the JSON when
    /// the scenario did not run, so reports of other runs read and write back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_scaling: Vec<ThroughputRow>,
    /// Pipelining connections that never read, against a control client.
    #[serde(default)]
    pub flood: Vec<flood::FloodRow>,
    /// A follower wiped and restarted under the 10:1 mix on the leader, per target. Left
    /// out of the JSON when the scenario did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch_up: Vec<catch_up::CatchUpRow>,
    /// CPU seconds (user + system) the suite process itself used: the load generator's
    /// share of the machine, which it takes away from the server under test.
    #[serde(default)]
    pub generator_cpu_seconds: f64,
    /// The targets, checked.
    pub checks: Vec<check::Check>,
    /// Scenarios that failed, with why.
    pub failures: Vec<String>,
}

fn one_u32() -> u32 {
    1
}

/// What to run and where.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Scenario sizes.
    pub settings: SuiteSettings,
    /// ringkeeper's binary.
    pub ringkeeper_bin: PathBuf,
    /// Also run Apache ZooKeeper with this classpath.
    pub apache_classpath: Option<String>,
    /// Also run the latency scenarios against a server already running here.
    pub compare_external: Option<String>,
    /// Scratch directory for the servers' data.
    pub work_dir: PathBuf,
    /// Which scenario groups to run: any of [`SCENARIOS`] and [`ENSEMBLE_SCENARIOS`].
    pub scenarios: Vec<String>,
}

impl SuiteOptions {
    fn wants(&self, name: &str) -> bool {
        self.scenarios.iter().any(|s| s == name)
    }

    /// How the suite starts a server of `kind`: ringkeeper with `--ringkeeper-arg` flags,
    /// Apache with its explicit heap.
    pub fn launch(&self, kind: &ServerKind) -> Launch {
        let args = match kind {
            ServerKind::Ringkeeper(_) => self.settings.ringkeeper_args.clone(),
            ServerKind::Apache(_) => vec![format!("-Xmx{}", self.settings.apache_heap)],
            ServerKind::External(_) => Vec::new(),
        };
        Launch {
            args,
            ..Launch::default()
        }
    }
}

/// The standalone scenario groups, in run order (the default set).
pub const SCENARIOS: [&str; 6] = [
    "serial",
    "throughput",
    "fanout",
    "memory",
    "snapshot",
    "flood",
];
/// The ensemble scenario groups, run after the standalone ones when asked for (`--ensemble`).
pub const ENSEMBLE_SCENARIOS: [&str; 2] = ["ensemble", "failover"];
/// Scenario groups run only when named in `--scenarios`: each starts several ensembles.
pub const NAMED_SCENARIOS: [&str; 2] = ["read-scaling", "catch-up"];

/// Runs the whole suite.
pub async fn run(opts: &SuiteOptions) -> Result<SuiteReport, String> {
    let started = utc_now();
    let t0 = Instant::now();
    let s = &opts.settings;
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|e| format!("create {}: {e}", opts.work_dir.display()))?;
    let mut machine = machine::describe(&opts.work_dir, s.fsync_rounds, s.rtt_rounds)
        .map_err(|e| format!("machine probes: {e}"))?;
    let mut kinds = vec![ServerKind::Ringkeeper(opts.ringkeeper_bin.clone())];
    if let Some(cp) = &opts.apache_classpath {
        kinds.push(ServerKind::Apache(cp.clone()));
    }
    if let Some(addr) = &opts.compare_external {
        kinds.push(ServerKind::External(addr.clone()));
    }
    let mut failures = Vec::new();
    let mut servers = Vec::new();
    let latency_wanted = ["serial", "throughput", "fanout"]
        .iter()
        .any(|s| opts.wants(s));
    for (i, kind) in kinds.iter().enumerate().filter(|_| latency_wanted) {
        let dir = opts.work_dir.join(kind.name());
        let _ = std::fs::remove_dir_all(&dir);
        let addr = pick_addr(i as u32).map_err(|e| format!("pick address: {e}"))?;
        eprintln!("suite: starting {} on {addr}", kind.name());
        let server = match kind {
            ServerKind::External(_) => Server::start(kind.clone(), &dir, &addr)?,
            _ => Server::start_with(kind.clone(), &dir, &addr, &opts.launch(kind))?,
        };
        servers.push(server);
    }
    let mut versions = versions::Versions::of_this_build();
    for srv in &servers {
        versions
            .servers
            .insert(srv.kind.name().into(), versions::server_version(&srv.addr));
    }
    let server_commands: BTreeMap<String, String> = kinds
        .iter()
        .filter_map(|k| {
            let (program, args) = command_line(
                k,
                &opts.launch(k),
                Path::new("zoo.cfg"),
                Path::new("log4j.properties"),
            )?;
            Some((
                k.name().to_string(),
                format!("{program} {}", args.join(" ")),
            ))
        })
        .collect();
    let mut n = 0usize;
    let serial = if opts.wants("serial") {
        scenarios::serial(s, &servers, &mut n).await
    } else {
        Vec::new()
    };
    let throughput = if opts.wants("throughput") {
        scenarios::throughput(s, &servers, &mut n).await
    } else {
        Vec::new()
    };
    let fanout = if opts.wants("fanout") {
        scenarios::fanout(s, &servers, &mut n).await
    } else {
        Vec::new()
    };
    // The latency servers go before the memory scenario so that only one JVM or one
    // ringkeeper holds memory at a time.
    drop(servers);
    let mut memory = Vec::new();
    let mut snapshot = Vec::new();
    let (want_memory, want_snapshot) = (opts.wants("memory"), opts.wants("snapshot"));
    if (want_memory || want_snapshot) && s.znodes > 0 {
        // The snapshot scenario reuses the memory scenario's population: filling the tree
        // is the expensive part of both.
        for (i, kind) in kinds.iter().enumerate().filter(|(_, k)| k.managed()) {
            let dir = opts.work_dir.join(format!("{}-memory", kind.name()));
            let addr = pick_addr(100 + i as u32).map_err(|e| format!("pick address: {e}"))?;
            // ringkeeper once per shard count asked for; the snapshot scenario runs with
            // the first only.
            let shard_counts: Vec<Option<u32>> = match kind {
                ServerKind::Ringkeeper(_) if want_memory && !s.memory_shards.is_empty() => {
                    s.memory_shards.iter().copied().map(Some).collect()
                }
                _ => vec![None],
            };
            for (j, shards) in shard_counts.into_iter().enumerate() {
                let mut launch = opts.launch(kind);
                if let Some(n) = shards {
                    eprintln!("suite: memory scenario on ringkeeper with {n} shards");
                    launch.args = with_shards(&launch.args, n);
                }
                let snap = (want_snapshot && j == 0).then_some((s.snap_count, s.snapshot_rounds));
                match scenarios::memory_and_restart(s, kind.clone(), &dir, &addr, &launch, snap)
                    .await
                {
                    Ok((mut row, snap)) => {
                        row.shards = shards;
                        if want_memory {
                            memory.push(row);
                        }
                        match snap {
                            Some(Ok(row)) => snapshot.push(row),
                            Some(Err(e)) => {
                                failures.push(format!("snapshot on {}: {e}", kind.name()))
                            }
                            None => {}
                        }
                    }
                    Err(e) => failures.push(format!("memory on {}: {e}", kind.name())),
                }
            }
        }
    }
    let mut flood = Vec::new();
    if opts.wants("flood") {
        // A fresh server per target, one at a time, so that RSS is the flood's alone.
        for (i, kind) in kinds.iter().enumerate().filter(|(_, k)| k.managed()) {
            let dir = opts.work_dir.join(format!("{}-flood", kind.name()));
            let addr = pick_addr(150 + i as u32).map_err(|e| format!("pick address: {e}"))?;
            match flood::run(s, kind.clone(), &dir, &addr).await {
                Ok(row) => flood.push(row),
                Err(e) => failures.push(format!("flood on {}: {e}", kind.name())),
            }
        }
    }
    let mut ensemble_throughput = Vec::new();
    let mut failover = Vec::new();
    if opts.wants("ensemble") || opts.wants("failover") {
        let mut ensembles = Vec::new();
        for (i, kind) in kinds.iter().enumerate().filter(|(_, k)| k.managed()) {
            let dir = opts.work_dir.join(format!("{}-ensemble", kind.name()));
            eprintln!(
                "suite: starting a {}-member {} ensemble",
                s.ensemble_size,
                kind.name()
            );
            match Ensemble::start_with(
                kind,
                &dir,
                s.ensemble_size,
                200 + 10 * i as u32,
                s.election_timeout,
                &opts.launch(kind).args,
            ) {
                Ok(e) => ensembles.push(e),
                Err(e) => failures.push(format!("ensemble of {}: {e}", kind.name())),
            }
        }
        if opts.wants("ensemble") {
            ensemble_throughput = scenarios::ensemble_throughput(s, &ensembles, &mut n).await;
        }
        if opts.wants("failover") {
            n += 1;
            let order: Vec<usize> = if n % 2 == 1 {
                (0..ensembles.len()).rev().collect()
            } else {
                (0..ensembles.len()).collect()
            };
            for i in order {
                let e = &mut ensembles[i];
                let name = e.members[0].kind.name();
                eprintln!("suite: leader failover on the {name} ensemble");
                match ensemble::failover(
                    e,
                    s.failover_writers,
                    s.failover_rounds,
                    s.election_timeout,
                )
                .await
                {
                    Ok(row) => failover.push(row),
                    Err(err) => failures.push(format!("failover on {name}: {err}")),
                }
            }
        }
    }
    let mut read_scaling = Vec::new();
    if opts.wants("read-scaling") {
        // Apache has observers too, but three more JVM ensembles on a small machine would
        // measure the machine; ringkeeper's own shapes are what the issue asks for.
        let kind = &kinds[0];
        let (rows, failed) =
            read_scaling::run(s, kind, &opts.work_dir, &opts.launch(kind).args).await;
        read_scaling = rows;
        failures.extend(failed);
    }
    let mut catch_up = Vec::new();
    if opts.wants("catch-up") && s.znodes > 0 {
        for (i, kind) in kinds.iter().enumerate().filter(|(_, k)| k.managed()) {
            let dir = opts.work_dir.join(format!("{}-catch-up", kind.name()));
            let salt = 400 + 10 * i as u32;
            match catch_up::run(s, kind, &dir, salt, &opts.launch(kind).args).await {
                Ok(row) => catch_up.push(row),
                Err(e) => failures.push(format!("catch-up on {}: {e}", kind.name())),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    machine.loadavg_end = machine::loadavg();
    let mut out = SuiteReport {
        schema_version: REPORT_SCHEMA_VERSION,
        versions,
        server_commands,
        started,
        seconds: t0.elapsed().as_secs_f64(),
        machine,
        settings: s.clone(),
        targets: kinds.iter().map(|k| k.name().to_string()).collect(),
        serial,
        throughput,
        fanout,
        memory,
        snapshot,
        ensemble_throughput,
        failover,
        read_scaling,
        flood,
        catch_up,
        generator_cpu_seconds: own_cpu_seconds(),
        checks: Vec::new(),
        failures,
    };
    out.checks = report::checks(&out);
    Ok(out)
}

/// ringkeeper's flags with the shard count set to `n`: a `--shards` among them (as
/// `--shards=N` or `--shards N`) is replaced, since a second one would be refused.
pub fn with_shards(args: &[String], n: u32) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut skip_value = false;
    for a in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if a == "--shards" {
            skip_value = true;
        } else if !a.starts_with("--shards=") {
            out.push(a.clone());
        }
    }
    out.push(format!("--shards={n}"));
    out
}

/// User plus system CPU seconds of this process so far.
pub fn own_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so the struct is initialised.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`, computed from the Unix clock so no date
/// crate is needed.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_shards_replace_a_shards_flag_in_either_form() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_shards(&args(&["--shards=8", "--tick-time=100"]), 2),
            args(&["--tick-time=100", "--shards=2"])
        );
        assert_eq!(
            with_shards(&args(&["--shards", "8", "-Dx=y"]), 16),
            args(&["-Dx=y", "--shards=16"])
        );
        assert_eq!(with_shards(&[], 1), args(&["--shards=1"]));
    }
}
