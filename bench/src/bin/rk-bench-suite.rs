//! rk-bench-suite: starts ringkeeper (and with `--compare apache` Apache ZooKeeper 3.8),
//! runs the standard scenarios through rk-load's engine (with `--ensemble N` also on
//! N-member ensembles, with leader failover), and writes report.md, report.json and SVG
//! charts.

use clap::Parser;
use ringkeeper_bench::options::parse_duration;
use ringkeeper_bench::suite::{
    self, compare, report, server::APACHE_CLASSPATH, SuiteOptions, SuiteSettings,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Most runs of one point `--repeat` allows.
const REPEATS_MAX: usize = 20;

#[derive(Parser, Debug)]
#[command(
    name = "rk-bench-suite compare",
    about = "Side-by-side comparison of rk-bench-suite reports from different machines or builds"
)]
struct CompareArgs {
    /// Two or more report.json files; the first is the baseline the others are compared
    /// with.
    #[arg(required = true, num_args = 2..)]
    reports: Vec<PathBuf>,
    /// Names for the reports' columns, comma-separated (default: each report's CPU model
    /// and start time).
    #[arg(long, value_delimiter = ',')]
    names: Option<Vec<String>>,
    /// Directory for compare.md and compare.html.
    #[arg(long, default_value = "bench-compare")]
    out: PathBuf,
}

fn compare_main(args: CompareArgs) -> ExitCode {
    let mut reports = Vec::new();
    for path in &args.reports {
        match report::load(path) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("rk-bench-suite compare: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let names = match &args.names {
        Some(n) if n.len() != reports.len() => {
            eprintln!(
                "rk-bench-suite compare: --names has {} names for {} reports",
                n.len(),
                reports.len()
            );
            return ExitCode::from(2);
        }
        Some(n) => n.clone(),
        None => reports.iter().map(compare::default_name).collect(),
    };
    let cmp = compare::compare(&names, &reports);
    let md = compare::markdown(&cmp);
    let html = compare::html(&cmp);
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| std::fs::write(args.out.join("compare.md"), &md))
        .and_then(|()| std::fs::write(args.out.join("compare.html"), &html));
    if let Err(e) = written {
        eprintln!("rk-bench-suite compare: write {}: {e}", args.out.display());
        return ExitCode::from(1);
    }
    print!("{md}");
    eprintln!("rk-bench-suite compare: written to {}", args.out.display());
    ExitCode::SUCCESS
}

#[derive(Parser, Debug)]
#[command(
    name = "rk-bench-suite",
    about = "ringkeeper's standard benchmark set, optionally against Apache ZooKeeper"
)]
struct Args {
    /// Short settings (2 s points, 1/4/16 clients, 100k znodes) for CI and shared machines.
    #[arg(long)]
    quick: bool,
    /// Also run every scenario against `apache` (Debian's ZooKeeper 3.8, started here), or
    /// the serial, throughput and fan-out scenarios against a running server at HOST:PORT.
    #[arg(long)]
    compare: Option<String>,
    /// ringkeeper binary (default: target/release/ringkeeper of this workspace).
    #[arg(long)]
    ringkeeper_bin: Option<PathBuf>,
    /// Classpath for Apache ZooKeeper.
    #[arg(long, default_value = APACHE_CLASSPATH)]
    apache_classpath: String,
    /// Znodes of 100 bytes for the memory and restart scenario (default 1M, 100k with --quick).
    #[arg(long)]
    znodes: Option<u64>,
    /// Skip the memory and restart scenario (and the snapshot scenario, which reuses its
    /// population).
    #[arg(long)]
    skip_memory: bool,
    /// Scenario groups to run, from serial,throughput,fanout,memory,snapshot,flood (the
    /// default set), ensemble,failover (added by --ensemble), and read-scaling and
    /// catch-up (run only when named; catch-up populates --znodes on a 3-member ensemble).
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// Also run the ensemble scenarios (10:1 throughput over the members, leader failover)
    /// on ensembles of this many members (odd, 3 to 7).
    #[arg(long)]
    ensemble: Option<usize>,
    /// Leader kills per target in the failover scenario (default 5, 3 with --quick).
    #[arg(long)]
    failover_rounds: Option<usize>,
    /// Seconds an ensemble may take to elect a leader, at start and after a kill.
    #[arg(long)]
    election_timeout: Option<String>,
    /// `snapCount` of the snapshot scenario (default 1000, 500 with --quick).
    #[arg(long)]
    snap_count: Option<u32>,
    /// Snapshots timed per target (default 5, 3 with --quick).
    #[arg(long)]
    snapshot_rounds: Option<usize>,
    /// Measured time per load point (overrides the preset).
    #[arg(long)]
    duration: Option<String>,
    /// Warm-up per load point (overrides the preset).
    #[arg(long)]
    warmup: Option<String>,
    /// Client counts of the throughput scenarios, e.g. 1,4,16,64.
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Watcher counts of the fan-out scenario, e.g. 10,100.
    #[arg(long, value_delimiter = ',')]
    watchers: Option<Vec<usize>>,
    /// Rounds per fan-out point.
    #[arg(long)]
    fanout_rounds: Option<u64>,
    /// Connections that pipeline getData and never read, in the flood scenario (default
    /// 64, 16 with --quick).
    #[arg(long)]
    flood_connections: Option<usize>,
    /// getData requests each flood connection sends (default 10000, 5000 with --quick).
    #[arg(long)]
    flood_requests: Option<usize>,
    /// Scratch directory for server data (removed parts are recreated).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Directory for report.md, report.json and throughput.svg.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Runs of each serial and throughput point per target (default 3, 1 with --quick);
    /// with 2 or more the report records its run-to-run noise, which `compare` uses.
    #[arg(long)]
    repeat: Option<usize>,
    /// Run the memory scenario on ringkeeper once per shard count, e.g. 1,2,8,16, and
    /// report RSS per znode for each.
    #[arg(long, value_delimiter = ',')]
    memory_shards: Option<Vec<u32>>,
    /// Apache ZooKeeper's JVM heap, passed as -Xmx (e.g. 2g, 512m).
    #[arg(long, default_value = suite::APACHE_HEAP_DEFAULT)]
    apache_heap: String,
    /// An extra flag for every ringkeeper the suite starts, e.g. --ringkeeper-arg
    /// --shards=8; repeatable.
    #[arg(long, allow_hyphen_values = true)]
    ringkeeper_arg: Vec<String>,
}

fn main() -> ExitCode {
    // `rk-bench-suite compare A/report.json B/report.json ...` is a command of its own.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "compare") {
        return compare_main(CompareArgs::parse_from(&argv[1..]));
    }
    let args = Args::parse();
    let mut settings = if args.quick {
        SuiteSettings::quick()
    } else {
        SuiteSettings::full()
    };
    if let Some(z) = args.znodes {
        settings.znodes = z;
    }
    if let Some(d) = &args.duration {
        match parse_duration(d) {
            Ok(d) => settings.duration = d,
            Err(e) => {
                eprintln!("rk-bench-suite: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(w) = &args.warmup {
        match parse_duration(w) {
            Ok(w) => settings.warmup = w,
            Err(e) => {
                eprintln!("rk-bench-suite: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(c) = args.clients.clone() {
        settings.clients = c;
    }
    if let Some(w) = args.watchers.clone() {
        settings.watchers = w;
    }
    if let Some(r) = args.repeat {
        if !(1..=REPEATS_MAX).contains(&r) {
            eprintln!("rk-bench-suite: --repeat takes 1 to {REPEATS_MAX}, not {r}");
            return ExitCode::from(2);
        }
        settings.repeats = r;
    }
    if let Some(list) = args.memory_shards.clone() {
        if let Some(bad) = list.iter().find(|n| !(1..=1024).contains(*n)) {
            eprintln!(
                "rk-bench-suite: --memory-shards takes shard counts from 1 to 1024, not {bad}"
            );
            return ExitCode::from(2);
        }
        settings.memory_shards = list;
    }
    let heap_ok = args.apache_heap.len() > 1
        && args.apache_heap[..args.apache_heap.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_digit())
        && args.apache_heap.ends_with(['k', 'K', 'm', 'M', 'g', 'G']);
    if !heap_ok {
        eprintln!(
            "rk-bench-suite: --apache-heap takes a JVM size such as 2g or 512m, not {}",
            args.apache_heap
        );
        return ExitCode::from(2);
    }
    settings.apache_heap = args.apache_heap.clone();
    settings.ringkeeper_args = args.ringkeeper_arg.clone();
    if let Some(r) = args.fanout_rounds {
        settings.fanout_rounds = r;
    }
    if let Some(c) = args.flood_connections {
        settings.flood_connections = c;
    }
    if let Some(r) = args.flood_requests {
        settings.flood_requests = r;
    }
    if let Some(r) = args.failover_rounds {
        settings.failover_rounds = r.max(1);
    }
    if let Some(r) = args.snapshot_rounds {
        settings.snapshot_rounds = r.max(1);
    }
    if let Some(c) = args.snap_count {
        if c < 2 {
            eprintln!("rk-bench-suite: --snap-count must be at least 2 (as zoo.cfg's snapCount)");
            return ExitCode::from(2);
        }
        settings.snap_count = c;
    }
    if let Some(t) = &args.election_timeout {
        match parse_duration(t) {
            Ok(t) => settings.election_timeout = t,
            Err(e) => {
                eprintln!("rk-bench-suite: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(n) = args.ensemble {
        if !(3..=7).contains(&n) || n % 2 == 0 {
            eprintln!("rk-bench-suite: --ensemble takes an odd member count from 3 to 7, not {n}");
            return ExitCode::from(2);
        }
        settings.ensemble_size = n;
    }
    // `apache`: the suite starts Debian's Apache ZooKeeper itself and runs every scenario
    // on it; HOST:PORT: a server someone else runs, for the scenarios that need no restart.
    let (apache_classpath, compare_external) = match args.compare.as_deref() {
        None => (None, None),
        Some("apache") => (Some(args.apache_classpath.clone()), None),
        Some(addr)
            if addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
        {
            (None, Some(addr.to_owned()))
        }
        Some(other) => {
            eprintln!(
                "rk-bench-suite: --compare takes `apache` (the suite starts it) or HOST:PORT of a running server, not {other}"
            );
            return ExitCode::from(2);
        }
    };
    let mut scenarios: Vec<String> = match &args.scenarios {
        Some(list) => list.clone(),
        None => suite::SCENARIOS.iter().map(|s| s.to_string()).collect(),
    };
    let known = |s: &str| {
        suite::SCENARIOS.contains(&s)
            || suite::ENSEMBLE_SCENARIOS.contains(&s)
            || suite::NAMED_SCENARIOS.contains(&s)
    };
    if let Some(bad) = scenarios.iter().find(|s| !known(s)) {
        eprintln!(
            "rk-bench-suite: unknown scenario {bad}; choose from {},{},{}",
            suite::SCENARIOS.join(","),
            suite::ENSEMBLE_SCENARIOS.join(","),
            suite::NAMED_SCENARIOS.join(",")
        );
        return ExitCode::from(2);
    }
    if args.ensemble.is_some() && args.scenarios.is_none() {
        scenarios.extend(suite::ENSEMBLE_SCENARIOS.iter().map(|s| s.to_string()));
    }
    if args.skip_memory {
        scenarios.retain(|s| s != "memory" && s != "snapshot");
    }
    let ringkeeper_bin = args.ringkeeper_bin.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/ringkeeper")
    });
    if !ringkeeper_bin.is_file() {
        eprintln!(
            "rk-bench-suite: {} is missing: run `cargo build --release -p ringkeeper-server` or pass --ringkeeper-bin",
            ringkeeper_bin.display()
        );
        return ExitCode::from(2);
    }
    let opts = SuiteOptions {
        settings,
        ringkeeper_bin,
        apache_classpath,
        compare_external,
        work_dir: args.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("rk-bench-suite-{}", std::process::id()))
        }),
        scenarios,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rk-bench-suite: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(suite::run(&opts));
    let _ = std::fs::remove_dir_all(&opts.work_dir);
    let rep = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rk-bench-suite: {e}");
            return ExitCode::from(1);
        }
    };
    let md = report::markdown(&rep);
    let json = match serde_json::to_string_pretty(&rep) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("rk-bench-suite: JSON: {e}");
            return ExitCode::from(1);
        }
    };
    let write = |name: &str, text: &str| -> Result<(), String> {
        std::fs::create_dir_all(&args.out)
            .map_err(|e| format!("create {}: {e}", args.out.display()))?;
        let p = args.out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("write {}: {e}", p.display()))
    };
    let mut charts = vec![("throughput.svg", report::throughput_svg(&rep))];
    if !rep.snapshot.is_empty() {
        charts.push(("snapshot.svg", report::snapshot_svg(&rep)));
    }
    if !rep.ensemble_throughput.is_empty() {
        charts.push(("ensemble.svg", report::ensemble_svg(&rep)));
    }
    if !rep.failover.is_empty() {
        charts.push(("failover.svg", report::failover_svg(&rep)));
    }
    let written = write("report.md", &md)
        .and_then(|()| write("report.json", &(json + "\n")))
        .and_then(|()| charts.iter().try_for_each(|(name, svg)| write(name, svg)));
    if let Err(e) = written {
        eprintln!("rk-bench-suite: {e}");
        return ExitCode::from(1);
    }
    print!("{md}");
    eprintln!("rk-bench-suite: report written to {}", args.out.display());
    if rep.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
