//! rk-load: a ZooKeeper-protocol traffic generator for ringkeeper or any compatible server.
//!
//! Closed loop by default (each connection keeps `--in-flight` requests outstanding); with
//! `--rate` it runs open loop and measures latency from each request's intended send time.

use clap::Parser;
use ringkeeper_bench::load::{run_blocking, LoadConfig};
use ringkeeper_bench::options::{parse_duration, parse_hosts, Distribution, Mix};
use ringkeeper_bench::stats::{percentile_table, write_hgrm_dir};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "rk-load",
    about = "ZooKeeper-protocol traffic generator with per-operation latency histograms",
    after_help = "Operations for --mix: getData, exists, getChildren, setData, create \
(ephemeral sequential under ROOT/seq), delete (of a node this connection created), \
multi (two setData), watch (getData with a watch), sync (sync, then getData). Exit status: \
0 when every request was answered without error, 1 when some failed or went unanswered, 2 on \
a setup or usage error. With --check the status is the check's: 0 when the recorded history \
passed, 1 when it did not (errors and lost connections alone do not fail it)."
)]
struct Args {
    /// Servers, like a client connect string: host:port,host:port.
    #[arg(long, default_value = "127.0.0.1:2181")]
    hosts: String,
    /// Concurrent sessions.
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,
    /// Requests outstanding per connection at most.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Operation mix, op=weight,... (default: getData=6,exists=2,getChildren=2,setData=1).
    #[arg(long)]
    mix: Option<String>,
    /// Number of keys (znodes ROOT/kNNNNNNNN).
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Key distribution: uniform or zipfian.
    #[arg(long, default_value = "uniform")]
    distribution: String,
    /// Bytes per value written by setData/create and stored in the keys at setup.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Measured time after the warm-up, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Stop after this many measured requests instead of after --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Warm-up before measuring.
    #[arg(long, default_value = "1s")]
    warmup: String,
    /// Open loop at this many requests per second in total (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Parent znode of the keys.
    #[arg(long, default_value = "/rk-bench")]
    root: String,
    /// Do not create the root and keys first.
    #[arg(long)]
    no_setup: bool,
    /// Seed of all random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Session timeout to ask for, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    session_timeout_ms: i32,
    /// Hard bound on the run (with --requests especially).
    #[arg(long, default_value = "10m")]
    time_limit: String,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one .hgrm percentile distribution per operation into this directory.
    #[arg(long)]
    hgrm: Option<PathBuf>,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// No progress lines.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Record every request and reply and check them at the end: linearizable versioned
    /// writes and sync-ed reads per key, session order, no lost or duplicate sequential
    /// creates. Default mix getData=4,sync=2,setData=3,create=1.
    #[arg(long)]
    check: bool,
    /// Also report the CPU time (user + system, from /proc/PID/stat) this server process on
    /// the same machine used over the measured window, and per reply.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// The mix of a checked run when none is given: reads and writes of the same keys, synced
/// reads for the real-time guarantee, and some sequential creates.
const CHECK_MIX: &str = "getData=4,sync=2,setData=3,create=1";

fn config(args: &Args) -> Result<LoadConfig, String> {
    let err = |e: ringkeeper_bench::options::ParseError| e.0;
    Ok(LoadConfig {
        hosts: parse_hosts(&args.hosts).map_err(err)?,
        connections: args.connections,
        in_flight: args.in_flight,
        mix: match &args.mix {
            Some(m) => Mix::parse(m).map_err(err)?,
            None if args.check => Mix::parse(CHECK_MIX).map_err(err)?,
            None => Mix::default_read_heavy(),
        },
        keys: args.keys,
        distribution: Distribution::parse(&args.distribution).map_err(err)?,
        value_size: args.value_size,
        duration: parse_duration(&args.duration).map_err(err)?,
        requests: args.requests,
        warmup: parse_duration(&args.warmup).map_err(err)?,
        rate: args.rate,
        root: args.root.clone(),
        setup: !args.no_setup,
        seed: args.seed,
        session_timeout_ms: args.session_timeout_ms,
        progress: !args.quiet,
        drain_timeout: Duration::from_secs(10),
        time_limit: parse_duration(&args.time_limit).map_err(err)?,
        check: args.check,
        server_pid: args.server_pid,
        stop: None,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rk-load: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "rk-load: {} connection(s) x {} in flight to {}, mix {}, {} {} keys, {} loop",
        cfg.connections,
        cfg.in_flight,
        cfg.hosts.join(","),
        cfg.mix,
        cfg.keys,
        args.distribution,
        match cfg.rate {
            Some(r) => format!("open ({r} req/s)"),
            None => "closed".to_string(),
        }
    );
    let report = match run_blocking(&cfg, args.threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rk-load: {e}");
            return ExitCode::from(2);
        }
    };
    print!(
        "{}",
        percentile_table(&report.stats, report.measured_seconds)
    );
    println!(
        "measured {:.2} s, notifications {}, unanswered {}, reconnects {}",
        report.measured_seconds, report.notifications, report.unanswered, report.reconnects
    );
    if let (Some(cpu), Some(per_op)) = (report.server_cpu_seconds, report.server_cpu_us_per_op()) {
        println!("server CPU {cpu:.2} s over the measured window, {per_op:.1} us per reply");
    }
    for (msg, n) in &report.connection_errors {
        println!("connection error x{n}: {msg}");
    }
    if let Some(path) = &args.json {
        let text = match serde_json::to_string_pretty(&report.to_json(&cfg)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rk-load: JSON: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("rk-load: write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(dir) = &args.hgrm {
        if let Err(e) = write_hgrm_dir(&report.stats, dir) {
            eprintln!("rk-load: write .hgrm files to {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    if let Some(check) = &report.check {
        println!(
            "check: {} operations on {} keys and {} sequential parent(s), {} key(s) searched exhaustively{}: {}",
            check.ops,
            check.keys,
            check.parents,
            check.keys_searched,
            if report.history_full {
                ", history bound reached (connections stopped early)"
            } else {
                ""
            },
            if check.passed() {
                "PASSED".to_string()
            } else {
                format!("FAILED with {} violation(s)", check.violation_count)
            }
        );
        for v in &check.violations {
            println!("violation: {v}");
        }
        return if check.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let total = report.stats.total();
    if total.error_count() > 0 || report.unanswered > 0 || !report.connection_errors.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
