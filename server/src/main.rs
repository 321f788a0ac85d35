//! The `ringkeeper` server binary: parse the configuration, start the executors, wait for
//! SIGTERM or SIGINT, stop.

use std::time::Duration;

use ringkeeper_engine::storage::{recover, FsDir, SegmentPolicy, SegmentPosition};
// The subdirectory of dataDir holding ringkeeper's log segments and snapshots. Its name
// says whose format it is, so an Apache `version-2` directory next to it is never touched.
use ringkeeper_import::STORE_DIR_NAME;
use ringkeeper_server::config::{ConfRuntime, Config};
use ringkeeper_server::fourlw::internal::ProbeToken;
use ringkeeper_server::reconfig::ReconfigView;
use ringkeeper_server::runtime::{self, RuntimeSettings};
use ringkeeper_server::sequencer::{now_ms, SequencerSettings, StorageSettings};
use ringkeeper_server::shard::{FourLetterContext, ShardSettings};
use ringkeeper_server::shutdown;
use ringkeeper_server::snapshotter::SnapshotSettings;
use tracing::{error, info, warn};

/// Bytes a connection may have waiting for a client that does not read.
const MAX_QUEUED_BYTES_PER_CONN: usize = 64 * 1024 * 1024;

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
    if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
        error!(dir = %config.data_dir.display(), error = %e, "cannot create the data directory");
        std::process::exit(1);
    }
    if !config.force_sync {
        warn!("forceSync=no: writes are acknowledged WITHOUT fdatasync; a power failure can lose acknowledged writes. Use only for benchmarks.");
    }
    if let Err(e) = ringkeeper_server::apache_import::import_if_first_start(&config) {
        error!("{e}");
        eprintln!("ringkeeper: {e}");
        std::process::exit(1);
    }
    let store_dir = config.data_dir.join(STORE_DIR_NAME);
    let recovery_started = std::time::Instant::now();
    let recovered = match open_store(&store_dir) {
        Ok(r) => {
            ringkeeper_server::metrics::timings::record(
                ringkeeper_server::metrics::timings::Event::DbInit,
                recovery_started.elapsed(),
            );
            r
        }
        Err(e) => {
            error!("{e}");
            eprintln!("ringkeeper: {e}");
            std::process::exit(1);
        }
    };
    for w in &recovered.warnings {
        warn!(dir = %store_dir.display(), "recovery: {w}");
    }
    info!(
        dir = %store_dir.display(),
        last_zxid = format_args!("0x{:x}", recovered.last_zxid),
        snapshot = ?recovered.snapshot_zxid.map(|z| format!("0x{z:x}")),
        replayed = recovered.replayed_txns,
        nodes = recovered.tree.node_count(),
        sessions = recovered.sessions.len(),
        "recovered"
    );
    let ensemble = if config.is_ensemble() {
        match ringkeeper_server::startup::prepare(
            &config,
            &store_dir,
            config.replication_log_window,
        ) {
            Ok(e) => Some(e),
            Err(e) => {
                error!("{e}");
                eprintln!("ringkeeper: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let secret = match &ensemble {
        // Every member must derive the same password for a session, so that a client can
        // resume it on any of them.
        Some(e) => (e.secret.clone(), Some(e.legacy_secret.clone())),
        None => match session_secret(&config.data_dir) {
            Ok(s) => (s, None),
            Err(e) => {
                error!(error = %e, "cannot read or create the session secret");
                std::process::exit(1);
            }
        },
    };

    // A panic is a bug; whatever thread it hits, the server stops as a whole (exit code 1)
    // rather than limping on with a dead executor.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        error!("internal error, stopping: {info}");
        default_hook(info);
        shutdown::request();
    }));

    // Signals are taken synchronously by this thread: block them before any executor
    // thread exists so that every thread inherits the mask.
    let signals = block_signals();
    // After the signal mask, so that the admin threads inherit it too.
    // One secret for the process: it lets the admin server and the metrics port, and
    // nothing on the network, ask every four-letter word whatever the whitelist says.
    let probe_token = match ringkeeper_server::fourlw::internal::ProbeToken::generate() {
        Ok(t) => t,
        Err(e) => {
            error!(error = %e, "cannot draw the in-process probe token");
            std::process::exit(1);
        }
    };
    let admin = start_admin(&config, &probe_token);
    let _metrics = start_metrics(&config, &probe_token);

    // Whether an empty segment is continued is the log writer's rule, not decided here.
    let position = recovered.next_segment.clone();
    // Every server starts from its snapshot alone: the log tail after it may hold
    // proposals that were never committed, and the protocol applies what is. A standalone
    // server is an ensemble of one, whose whole tail is committed at once.
    let (initial, ensemble) = match ensemble {
        Some(e) => {
            // Until an election settles, this member serves no client.
            let looking = ringkeeper_server::replica::role::ServingRole::Looking;
            ringkeeper_server::replica::role::set(looking);
            ringkeeper_server::metrics::quorum::role_set(looking);
            if config.read_only_mode_enabled {
                ringkeeper_server::replica::role::enable_read_only_mode(config.tick_time_ms as i64);
            }
            (e.initial, e.settings)
        }
        None => {
            drop(recovered.tree);
            match ringkeeper_server::startup::prepare_standalone(
                config.my_id.unwrap_or(0),
                &store_dir,
                config.replication_log_window,
                config.batch_txns_max,
            ) {
                Ok(started) => started,
                Err(e) => {
                    error!("{e}");
                    eprintln!("ringkeeper: {e}");
                    std::process::exit(1);
                }
            }
        }
    };
    let released = ringkeeper_server::watermark::Watermark::new(initial.last_zxid);
    let mut settings =
        runtime_settings(&config, store_dir, position, secret, released, probe_token);
    if let Some(secure) = &config.secure_client {
        // Bound before the shards start, so each finds its listener; a busy port stops
        // the server as a busy client port does.
        let tls = secure.server.clone();
        match ringkeeper_server::net::tls::bind_secure_listeners(
            secure.address,
            settings.shards,
            tls,
        ) {
            Ok(ports) => {
                info!(address = %ports.local_addr, "TLS client port listening");
                settings.secure = Some(ports);
            }
            Err(e) => {
                error!(address = %secure.address, error = %e, "cannot listen on the secure client port");
                eprintln!(
                    "ringkeeper: cannot listen on the secure client port {}: {e}",
                    secure.address
                );
                std::process::exit(1);
            }
        }
    }
    let rt = match runtime::start(settings, initial, ensemble) {
        Ok(rt) => rt,
        Err(e) => {
            error!("{e}");
            eprintln!("ringkeeper: {e}");
            std::process::exit(1);
        }
    };
    info!(address = %rt.client_addr, version = %config.reported_version, "ringkeeper serving clients");
    if let Some(admin) = &admin {
        admin.mark_serving();
    }

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

/// Starts the admin HTTP server when the configuration asks for it. A port
/// that cannot be bound is logged and the server runs on without it, as
/// Apache does: the admin server must never keep clients from being served.
fn start_admin(
    config: &Config,
    probe_token: &ProbeToken,
) -> Option<ringkeeper_server::admin::AdminServer> {
    if !config.admin.enabled {
        return None;
    }
    let settings = ringkeeper_server::admin::AdminSettings {
        listen: config.admin.address,
        command_url: config.admin.command_url.clone(),
        client_addr: config.client_address,
        probe_token: probe_token.clone(),
    };
    match ringkeeper_server::admin::start(settings) {
        Ok(admin) => {
            info!(address = %admin.local_addr(), commands = %config.admin.command_url, "admin server listening");
            Some(admin)
        }
        Err(e) => {
            error!(address = %config.admin.address, error = %e, "cannot start the admin server; continuing without it");
            None
        }
    }
}

/// Starts the Prometheus metrics port when `metricsProvider.className` names
/// Apache's Prometheus provider. Apache refuses to start when the port cannot
/// be bound; ringkeeper logs it and serves clients without metrics, as it
/// does for the admin server.
fn start_metrics(
    config: &Config,
    probe_token: &ProbeToken,
) -> Option<ringkeeper_server::metrics::MetricsServer> {
    let listen = config.metrics.prometheus?;
    let settings = ringkeeper_server::metrics::MetricsSettings {
        listen,
        client_addr: config.client_address,
        probe_token: probe_token.clone(),
    };
    match ringkeeper_server::metrics::start(settings) {
        Ok(metrics) => {
            info!(address = %metrics.local_addr(), "Prometheus metrics port listening");
            Some(metrics)
        }
        Err(e) => {
            error!(address = %listen, error = %e, "cannot start the metrics port; continuing without it");
            None
        }
    }
}

fn open_store(dir: &std::path::Path) -> Result<ringkeeper_engine::storage::Recovered, String> {
    let mut fs = FsDir::create(dir)
        .map_err(|e| format!("cannot open data directory {}: {e}", dir.display()))?;
    recover(&mut fs).map_err(|e| {
        format!(
            "refusing to start: recovery of {} failed: {e}",
            dir.display()
        )
    })
}

fn runtime_settings(
    config: &Config,
    store_dir: std::path::PathBuf,
    position: Option<SegmentPosition>,
    (session_secret, legacy_session_secret): (Vec<u8>, Option<Vec<u8>>),
    released: ringkeeper_server::watermark::Watermark,
    probe_token: ProbeToken,
) -> RuntimeSettings {
    let cores = runtime::cores();
    let shards = config.shards.map(|n| n as usize).unwrap_or(cores).max(1);
    let conf_text = config.render_conf(&ConfRuntime {
        data_dir_size: 0,
        data_log_size: 0,
        secure_client_port: config.secure_client.as_ref().map(|s| s.address.port()),
    });
    let super_digest = config
        .super_digest
        .as_ref()
        .map(|d| format!("{}:{}", d.user, d.digest));
    RuntimeSettings {
        client_addr: config.client_address,
        secure: None,
        shards,
        sequencer_core: config.sequencer_core.map(|c| c as usize).unwrap_or(0),
        shard: ShardSettings {
            id: 0,
            packet_limit: config.packet_limit_bytes as usize,
            reply_bytes_max: config.reply_bytes_max.map(|b| b as usize),
            tick_ms: config.tick_time_ms as i64,
            min_session_timeout_ms: config.min_session_timeout_ms as i32,
            max_session_timeout_ms: config.max_session_timeout_ms as i32,
            max_client_cnxns: config.max_client_cnxns_per_host as usize,
            limiter: Default::default(),
            max_outstanding_per_conn: config.global_outstanding_limit as usize,
            handshake_timeout_ms: config.handshake_timeout_ms,
            super_digest,
            max_queued_bytes: MAX_QUEUED_BYTES_PER_CONN,
            // Equal shares keep the count per core; the kernel spreads connections evenly.
            shard_queued_reply_bytes_max: usize::try_from(
                config.queued_reply_bytes_max / shards as u64,
            )
            .unwrap_or(usize::MAX),
            max_watches_per_conn: config.max_watches_per_session as usize,
            four_letter: four_letter_context(config, conf_text, probe_token),
            released: released.clone(),
            sasl: config.sasl.clone().map(std::sync::Arc::new),
            reconfig: std::sync::Arc::new(ReconfigView::from_config(config)),
        },
        sequencer: SequencerSettings {
            // Apache's limits hold already: config refuses an id over 254 when extended
            // types need the session id's top byte, and otherwise keeps the id whole.
            server_id: config.my_id.unwrap_or(0),
            session_secret,
            legacy_session_secret,
            tick_ms: config.tick_time_ms as i64,
            extended_types: config.extended_types,
            acl_schemes: config.acl_schemes,
            max_sessions: config.max_sessions as usize,
            containers: config.containers,
            shard_count: shards,
            batch_bytes_max: config.batch_bytes_max as usize,
            batch_txns_max: config.batch_txns_max as usize,
            released: released.clone(),
        },
        storage: StorageSettings {
            dir: store_dir.clone(),
            force_sync: config.force_sync,
            policy: SegmentPolicy {
                segment_bytes_max: SEGMENT_BYTES_MAX,
                preallocate_bytes: (config.pre_alloc_size_kb * 1024).clamp(4096, SEGMENT_BYTES_MAX),
            },
            position,
        },
        snapshots: SnapshotSettings {
            dir: store_dir.clone(),
            snap_count: config.snap_count.max(1) as u64,
            retain: config.snap_retain_count.max(3) as usize,
        },
    }
}

/// What the four-letter words report about this server.
fn four_letter_context(
    config: &Config,
    conf_text: String,
    probe_token: ProbeToken,
) -> FourLetterContext {
    FourLetterContext {
        version: ringkeeper_server::fourlw::build_date::full_version(&config.reported_version),
        whitelist: config.four_letter_whitelist.clone(),
        conf_text,
        data_dir: config.data_dir.clone(),
        data_log_dir: config.data_log_dir.clone(),
        started_ms: now_ms(),
        probe_token,
    }
}

/// Log segments are closed at this size (Apache rolls its logs at snapshots instead).
const SEGMENT_BYTES_MAX: u64 = 64 << 20;

/// The key for session passwords (see `storage::secret`), in dataDir, readable by its
/// owner only.
fn session_secret(
    data_dir: &std::path::Path,
) -> Result<Vec<u8>, ringkeeper_server::storage::secret::SecretError> {
    use ringkeeper_server::storage::secret;
    let mut dir = FsDir::open(data_dir)?.owner_only();
    secret::load_or_create(&mut dir, secret::random_key)
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
///
/// A thread of its own takes the signal (blocked in sigwait, never woken in between) and
/// turns it into a shutdown request; this thread sleeps until a request, whoever made it.
fn wait_for_signal(set: &libc::sigset_t) -> Option<i32> {
    static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
    let set = *set;
    let spawned = std::thread::Builder::new()
        .name("rk-signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait reads the set we own and writes one int we own.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
            }
            shutdown::request();
        });
    if let Err(e) = spawned {
        error!(error = %e, "cannot start the signal thread");
        return None;
    }
    while !shutdown::wait_blocking(Duration::from_secs(3600)) {}
    match SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}
