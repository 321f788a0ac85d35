//! rk-bench-suite: starts ringkeeper (and with `--compare apache` Apache ZooKeeper 3.8),
//! runs the standard scenarios through rk-load's engine, and writes report.md, report.json
//! and throughput.svg.

use clap::Parser;
use ringkeeper_bench::options::parse_duration;
use ringkeeper_bench::suite::{
    self, report, server::APACHE_CLASSPATH, SuiteOptions, SuiteSettings,
};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "rk-bench-suite",
    about = "ringkeeper's standard benchmark set, optionally against Apache ZooKeeper"
)]
struct Args {
    /// Short settings (2 s points, 1/4/16 clients, 100k znodes) for CI and shared machines.
    #[arg(long)]
    quick: bool,
    /// Also run every scenario against `apache` (Debian's ZooKeeper 3.8, started here).
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
    /// Skip the memory and restart scenario.
    #[arg(long)]
    skip_memory: bool,
    /// Scenario groups to run, from serial,throughput,fanout,memory (default all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
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
    /// Scratch directory for server data (removed parts are recreated).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Directory for report.md, report.json and throughput.svg.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

fn main() -> ExitCode {
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
    if let Some(r) = args.fanout_rounds {
        settings.fanout_rounds = r;
    }
    let apache_classpath = match args.compare.as_deref() {
        None => None,
        Some("apache") => Some(args.apache_classpath.clone()),
        Some(other) => {
            eprintln!(
                "rk-bench-suite: --compare takes `apache` (the suite starts it), not {other}"
            );
            return ExitCode::from(2);
        }
    };
    let mut scenarios: Vec<String> = match &args.scenarios {
        Some(list) => list.clone(),
        None => suite::SCENARIOS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = scenarios
        .iter()
        .find(|s| !suite::SCENARIOS.contains(&s.as_str()))
    {
        eprintln!(
            "rk-bench-suite: unknown scenario {bad}; choose from {}",
            suite::SCENARIOS.join(",")
        );
        return ExitCode::from(2);
    }
    if args.skip_memory {
        scenarios.retain(|s| s != "memory");
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
    let written = write("report.md", &md)
        .and_then(|()| write("report.json", &(json + "\n")))
        .and_then(|()| write("throughput.svg", &report::throughput_svg(&rep)));
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
