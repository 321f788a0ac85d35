//! The `ringkeeper` server binary: parse the configuration, start the executors, wait for
//! SIGTERM or SIGINT, stop.

use std::time::Duration;

use ringkeeper_server::config::{ConfRuntime, Config};
use ringkeeper_server::runtime::{self, RuntimeSettings};
use ringkeeper_server::sequencer::{now_ms, SequencerSettings};
use ringkeeper_server::shard::{FourLetterContext, ShardSettings};
use ringkeeper_server::shutdown;
use tracing::{error, info, warn};

/// Bytes a connection may have waiting for a client that does not read.
const MAX_QUEUED_BYTES_PER_CONN: usize = 64 * 1024 * 1024;
/// How often empty containers and expired TTL nodes are looked for (Apache:
/// znode.container.checkIntervalMs, default one minute).
const CONTAINER_CHECK_MS: i64 = 60_000;

fn main() {
    let config = match Config::load(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringkeeper: {e}");
            std::process::exit(e.exit_code());
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RINGKEEPER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    for w in config.warnings() {
        warn!("config: {w}");
    }
    if config.is_ensemble() {
        warn!("server.N lines found: ringkeeper does not replicate yet and runs this member standalone");
    }
    if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
        error!(dir = %config.data_dir.display(), error = %e, "cannot create the data directory");
        std::process::exit(1);
    }
    warn!("writes are NOT yet logged to disk: every znode is lost when the server stops (durability comes with the storage engine)");

    // Signals are taken synchronously by this thread: block them before any executor
    // thread exists so that every thread inherits the mask.
    let signals = block_signals();

    let settings = runtime_settings(&config);
    let rt = match runtime::start(settings) {
        Ok(rt) => rt,
        Err(e) => {
            error!("{e}");
            eprintln!("ringkeeper: {e}");
            std::process::exit(1);
        }
    };
    info!(address = %rt.client_addr, version = %config.reported_version, "ringkeeper serving clients");

    let signal = wait_for_signal(&signals);
    match signal {
        Some(sig) => info!(signal = sig, "stopping"),
        None => error!("an executor failed; stopping"),
    }
    shutdown::request();
    if !rt.join(Duration::from_secs(3)) {
        warn!("executors did not stop within 3 s; exiting anyway");
    }
    std::process::exit(if signal.is_some() { 0 } else { 1 });
}

fn runtime_settings(config: &Config) -> RuntimeSettings {
    let cores = runtime::cores();
    let shards = config.shards.map(|n| n as usize).unwrap_or(cores).max(1);
    let conf_text = config.render_conf(&ConfRuntime {
        data_dir_size: 0,
        data_log_size: 0,
        secure_client_port: None,
    });
    let super_digest = config
        .super_digest
        .as_ref()
        .map(|d| format!("{}:{}", d.user, d.digest));
    RuntimeSettings {
        client_addr: config.client_address,
        shards,
        sequencer_core: config.sequencer_core.map(|c| c as usize).unwrap_or(0),
        shard: ShardSettings {
            id: 0,
            packet_limit: config.packet_limit_bytes as usize,
            tick_ms: config.tick_time_ms as i64,
            min_session_timeout_ms: config.min_session_timeout_ms as i32,
            max_session_timeout_ms: config.max_session_timeout_ms as i32,
            max_client_cnxns: config.max_client_cnxns_per_host as usize,
            super_digest,
            max_queued_bytes: MAX_QUEUED_BYTES_PER_CONN,
            max_watches_per_conn: config.max_watches_per_session as usize,
            four_letter: FourLetterContext {
                version: config.reported_version.clone(),
                whitelist: config.four_letter_whitelist.clone(),
                conf_text,
                data_dir: config.data_dir.clone(),
                data_log_dir: config.data_log_dir.clone(),
                started_ms: now_ms(),
            },
        },
        sequencer: SequencerSettings {
            server_id: config.my_id.unwrap_or(0).min(254) as u8,
            session_secret: session_secret(),
            tick_ms: config.tick_time_ms as i64,
            extended_types: config.extended_types,
            max_sessions: config.max_sessions as usize,
            container_check_ms: CONTAINER_CHECK_MS,
        },
    }
}

/// A fresh key for session passwords. Sessions do not survive a restart yet, so a key per
/// process is enough; the storage engine will persist it.
fn session_secret() -> Vec<u8> {
    use std::io::Read;
    let mut key = vec![0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .is_ok();
    if !ok {
        // Without a random source, fall back to time and pid: weaker, but still unknown
        // to a client that did not see this process start.
        let seed = (now_ms() as u64) ^ ((std::process::id() as u64) << 32);
        key[..8].copy_from_slice(&seed.to_le_bytes());
    }
    key
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-mask calls on a stack sigset we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for SIGTERM/SIGINT; returns None if the server asked to stop by itself.
fn wait_for_signal(set: &libc::sigset_t) -> Option<i32> {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        // SAFETY: sigtimedwait reads the set and the timeout we pass; no info struct.
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if sig > 0 {
            return Some(sig);
        }
        if shutdown::requested() {
            return None;
        }
    }
}
