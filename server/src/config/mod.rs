//! ringkeeper's configuration: a `zoo.cfg` file (Apache ZooKeeper's format
//! and keys) overridden by command-line flags.
//!
//! Loading is all-or-nothing: every problem found is reported as a
//! `ConfigError` naming the key, the value and where it was set, before the
//! server opens any file or socket. Keys that Apache accepts but ringkeeper
//! does not act on, and keys nobody knows, never stop the server: they are
//! collected in `Config::warnings()` for the caller to log.

mod admin;
mod cli;
pub mod dynamic_file;
mod error;
mod keys;
mod metrics;
mod names;
mod properties;
mod render;
mod sasl;
mod servers;
mod settings;
mod tls;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Parser;

pub use admin::{AdminConfig, DEFAULT_ADMIN_PORT, DEFAULT_COMMAND_URL};
pub use cli::Cli;
pub use error::{ConfigError, Origin};
pub use metrics::{MetricsConfig, DEFAULT_METRICS_PORT, PROMETHEUS_PROVIDER};
pub use render::{membership_text, ConfRuntime};
pub use servers::{
    parse_server_id, parse_server_line, ClientAddress, PeerAddress, PeerType, ServerMember,
};
pub use tls::SecureClientConfig;

use crate::containers::{self, ContainerReaping};
use crate::fourlw::Whitelist;
use settings::Settings;

/// The tick length used when nothing sets `tickTime`. Apache's code default
/// is 3000 but every shipped sample (and kazoo's harness) says 2000.
pub const DEFAULT_TICK_TIME_MS: u32 = 2000;
/// The client port used when no zoo.cfg is given at all.
pub const DEFAULT_CLIENT_PORT: u16 = 2181;
/// Apache's `jute.maxbuffer` default: 1 MiB minus one byte.
pub const DEFAULT_PACKET_LIMIT_BYTES: u32 = 0xfffff;
/// Apache's default `maxClientCnxns`.
pub const DEFAULT_MAX_CLIENT_CNXNS: u32 = 60;
/// Apache's default and minimum `autopurge.snapRetainCount`.
pub const MIN_SNAP_RETAIN_COUNT: u32 = 3;
/// Apache's default `snapCount` (transactions between snapshots).
pub const DEFAULT_SNAP_COUNT: u32 = 100_000;
/// Apache's default `preAllocSize`, in KiB (64 MiB).
pub const DEFAULT_PRE_ALLOC_SIZE_KB: u64 = 65_536;
/// Apache's default `globalOutstandingLimit`.
pub const DEFAULT_GLOBAL_OUTSTANDING_LIMIT: u32 = 1000;
/// Default bound on watches one session may register.
pub const DEFAULT_MAX_WATCHES_PER_SESSION: u64 = 1_000_000;
/// Default bound on live sessions.
pub const DEFAULT_MAX_SESSIONS: u64 = 100_000;
/// Bytes of log records one group-commit batch (one fdatasync) carries at most.
pub const DEFAULT_BATCH_BYTES_MAX: u64 = 4 << 20;
/// Reply bytes the whole server may hold for clients that do not read them before it stops
/// reading from those clients (`ringkeeper.queuedReplyBytesMax`).
pub const DEFAULT_QUEUED_REPLY_BYTES_MAX: u64 = 64 << 20;
/// Transactions one group-commit batch carries at most.
pub const DEFAULT_BATCH_TXNS_MAX: u64 = 10_000;
/// Committed proposals a leader keeps in memory to bring a follower up to date by diff;
/// a follower further behind gets a snapshot.
pub const DEFAULT_REPLICATION_LOG_WINDOW: u64 = 10_000;
/// Time a connection has for its handshake: Apache's sessionlessCnxnTimeout (10 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// The largest server id when extended types (TTL nodes) are on: Apache
/// keeps the top byte of an ephemeral owner for the node type.
pub const MAX_SERVER_ID_WITH_EXTENDED_TYPES: u64 = 254;

/// The version ringkeeper reports by default in `srvr`, `mntr` and `envi`.
/// It starts with the Apache release whose behaviour ringkeeper follows, so
/// clients that parse `zookeeper.version=3.8.4-...` (kazoo does) get the
/// feature set they expect.
pub fn default_reported_version() -> String {
    format!("3.8.4-ringkeeper-{}", env!("CARGO_PKG_VERSION"))
}

/// The super user's digest, `user:base64(sha1("user:password"))`, as in
/// `zookeeper.DigestAuthenticationProvider.superDigest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuperDigest {
    pub user: String,
    /// The base64 text exactly as configured (28 characters for SHA-1).
    pub digest: String,
}

/// The complete, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The zoo.cfg file read, if any.
    pub config_file: Option<PathBuf>,
    pub tick_time_ms: u32,
    /// Ticks a follower may take to connect and sync; ensembles only.
    pub init_limit_ticks: Option<u32>,
    /// Ticks a follower may lag; ensembles only.
    pub sync_limit_ticks: Option<u32>,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    /// Where clients connect.
    pub client_address: SocketAddr,
    /// `listen(2)` backlog; `None` lets the server choose (Apache: -1).
    pub client_port_listen_backlog: Option<u32>,
    /// The TLS client port, when configured.
    pub secure_client_port: Option<u16>,
    /// The TLS listener (address, key and trust stores), present exactly when
    /// `secure_client_port` is.
    pub secure_client: Option<SecureClientConfig>,
    /// The quorum key and trust stores (`ssl.quorum.*`), checked at start-up.
    pub quorum_stores: Option<tls::QuorumStores>,
    /// TLS and SASL on the links between members (`sslQuorum`, `quorum.auth.*`).
    pub quorum_security: crate::peer::PeerSecurity,
    /// Connections allowed from one IP address; 0 means no limit.
    pub max_client_cnxns_per_host: u32,
    /// Connections allowed in total; 0 means no limit.
    pub max_cnxns: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    /// Which four-letter words answer (always including `srvr`, and `isro`
    /// in read-only mode, as Apache does).
    pub four_letter_whitelist: Whitelist,
    /// `readonlymode.enabled`: a member cut off from the quorum serves reads.
    pub read_only_mode_enabled: bool,
    pub reconfig_enabled: bool,
    pub standalone_enabled: bool,
    pub dynamic_config_file: Option<PathBuf>,
    /// The `version` of the dynamic configuration (hexadecimal in files).
    pub dynamic_config_version: u64,
    /// Ensemble members from `server.N` lines, sorted by id.
    pub servers: Vec<ServerMember>,
    /// This server's id from `dataDir/myid`, when that file exists.
    pub my_id: Option<u64>,
    /// This server's role (the `server.N` line wins over `peerType`).
    pub peer_type: PeerType,
    pub multi_address_enabled: bool,
    pub local_sessions_enabled: bool,
    pub local_sessions_upgrading_enabled: bool,
    pub snap_retain_count: u32,
    /// Hours between purges of old snapshots and logs; 0 disables purging.
    pub purge_interval_hours: u32,
    /// Transactions between snapshots.
    pub snap_count: u32,
    /// Whether log writes are followed by fdatasync (`forceSync=no` turns it off).
    pub force_sync: bool,
    /// Log files are grown in steps of this many KiB.
    pub pre_alloc_size_kb: u64,
    /// Requests queued in the server before reading from clients pauses.
    pub global_outstanding_limit: u32,
    /// Largest request packet accepted; larger ones close the connection.
    pub packet_limit_bytes: u32,
    pub super_digest: Option<SuperDigest>,
    /// Extended node types (TTL nodes) are allowed.
    pub extended_types: bool,
    /// Shard executors to run; `None` lets the server choose from the cores.
    pub shards: Option<u32>,
    /// Core the sequencer is pinned to; `None` lets the server choose.
    pub sequencer_core: Option<u32>,
    pub max_watches_per_session: u64,
    pub max_sessions: u64,
    /// Group-commit batch limits: bytes of log records and transactions per fdatasync.
    pub batch_bytes_max: u64,
    pub batch_txns_max: u64,
    /// `ringkeeper.replication.logWindow`.
    pub replication_log_window: u64,
    /// `ringkeeper.replyBytesMax`: the largest read reply, opt-in; `None` (the default)
    /// sends replies of any size, as Apache does.
    pub reply_bytes_max: Option<u32>,
    /// `ringkeeper.queuedReplyBytesMax`: reply bytes queued over all connections past which
    /// connections that already have replies waiting are not read.
    pub queued_reply_bytes_max: u64,
    /// Milliseconds a new connection has to complete its handshake.
    pub handshake_timeout_ms: u64,
    /// The version string reported to clients (`srvr`, `mntr`, `envi`).
    pub reported_version: String,
    /// SASL DIGEST-MD5 users from the JAAS file, when one with a server section is named.
    pub sasl: Option<crate::sasl::SaslServerConfig>,
    /// The `sasl` and `x509` ACL schemes with a provider, as Apache would register them.
    pub acl_schemes: ringkeeper_engine::acl::AclSchemes,
    /// The admin HTTP server (`admin.*` keys).
    pub admin: AdminConfig,
    /// The Prometheus metrics port (`metricsProvider.*` keys).
    pub metrics: MetricsConfig,
    /// Apache's `znode.container.*` keys: when and how fast empty containers and
    /// expired TTL nodes are deleted.
    pub containers: ContainerReaping,
    warnings: Vec<String>,
}

impl Config {
    /// Parses the command line (`args[0]` is the program name) and the
    /// zoo.cfg it names, applies the flags over the file, and validates.
    pub fn load<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        Config::from_cli(&cli)
    }

    /// Builds the configuration from an already parsed command line.
    pub fn from_cli(cli: &Cli) -> Result<Config, ConfigError> {
        let settings = Settings::gather(cli)?;
        Config::from_settings(&settings)
    }

    /// Problems that did not stop loading: unknown keys, keys ringkeeper
    /// accepts but ignores, values Apache would also have adjusted.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True when this server is one member of a replicated ensemble, with
    /// Apache's rule: more than one voting member, or any member at all when
    /// `standaloneEnabled=false`.
    pub fn is_ensemble(&self) -> bool {
        let voters = self
            .servers
            .iter()
            .filter(|s| s.peer_type == PeerType::Participant)
            .count();
        voters > 1 || (!self.standalone_enabled && !self.servers.is_empty())
    }

    /// This server's own `server.N` line, in an ensemble.
    pub fn own_member(&self) -> Option<&ServerMember> {
        let id = self.my_id?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// The keys the parser asks for while loading `cli`'s settings: the test that holds
    /// the key table to the parser compares them with the table's used entries.
    #[cfg(test)]
    fn keys_asked(cli: &Cli) -> Result<std::collections::BTreeSet<String>, ConfigError> {
        let settings = Settings::gather(cli)?;
        Config::from_settings(&settings)?;
        Ok(settings.asked.take())
    }

    fn from_settings(settings: &Settings) -> Result<Config, ConfigError> {
        let has_file = settings.config_file.is_some();
        let mut warnings = settings.warnings.clone();

        let tick_time_ms = settings
            .u32_in(keys::TICK_TIME, 1, u32::MAX)?
            .unwrap_or(DEFAULT_TICK_TIME_MS);
        let init_limit_ticks = settings.u32_in(keys::INIT_LIMIT, 1, u32::MAX)?;
        let sync_limit_ticks = settings.u32_in(keys::SYNC_LIMIT, 1, u32::MAX)?;

        let data_dir = match settings.text(keys::DATA_DIR)? {
            Some(dir) => PathBuf::from(dir),
            None if has_file => {
                return Err(ConfigError::Inconsistent {
                    reason: "dataDir is not set".to_owned(),
                    origin: settings.file_origin(),
                })
            }
            None => PathBuf::from("./data"),
        };
        let data_log_dir = settings
            .text(keys::DATA_LOG_DIR)?
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.clone());

        let client_port = settings.port(keys::CLIENT_PORT)?;
        let client_host = settings.text(keys::CLIENT_PORT_ADDRESS)?;
        let client_port_listen_backlog = settings
            .i64_in(keys::CLIENT_PORT_LISTEN_BACKLOG, -1, i64::from(i32::MAX))?
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0);
        let secure_client_port = settings.port(keys::SECURE_CLIENT_PORT)?;

        let max_client_cnxns_per_host = settings
            .u32_in(keys::MAX_CLIENT_CNXNS, 0, u32::MAX)?
            .unwrap_or(DEFAULT_MAX_CLIENT_CNXNS);
        let max_cnxns = settings.u32_in(keys::MAX_CNXNS, 0, u32::MAX)?.unwrap_or(0);

        let (min_session_timeout_ms, max_session_timeout_ms) =
            session_timeouts(settings, tick_time_ms)?;

        let read_only_mode_enabled = settings.boolean(keys::READ_ONLY_MODE)?.unwrap_or(false);
        let whitelist_text = settings.text(keys::FOUR_LETTER_WHITELIST)?;
        let four_letter_whitelist =
            Whitelist::parse(whitelist_text.as_deref(), read_only_mode_enabled);

        let reconfig_enabled = settings.boolean(keys::RECONFIG_ENABLED)?.unwrap_or(false);
        let standalone_enabled = settings.boolean(keys::STANDALONE_ENABLED)?.unwrap_or(true);
        let dynamic_config_file = settings.text(keys::DYNAMIC_CONFIG_FILE)?.map(PathBuf::from);
        let dynamic_config_version = settings.hex_u64(keys::DYNAMIC_VERSION)?.unwrap_or(0);
        let configured_peer_type = match settings.get(keys::PEER_TYPE) {
            Some(s) => PeerType::parse(&s.value).map_err(|reason| s.invalid(reason))?,
            None => PeerType::Participant,
        };
        if let Some(alg) = settings.get(keys::ELECTION_ALG) {
            if alg.value.trim() != "3" {
                return Err(alg.invalid("only electionAlg 3 (fast leader election) exists"));
            }
        }
        let multi_address_enabled = settings
            .boolean(keys::MULTI_ADDRESS_ENABLED)?
            .unwrap_or(false);
        let local_sessions_enabled = settings
            .boolean(keys::LOCAL_SESSIONS_ENABLED)?
            .unwrap_or(false);
        let local_sessions_upgrading_enabled = settings
            .boolean(keys::LOCAL_SESSIONS_UPGRADING_ENABLED)?
            .unwrap_or(false);

        let mut snap_retain_count = settings
            .u32_in(keys::SNAP_RETAIN_COUNT, 0, u32::MAX)?
            .unwrap_or(MIN_SNAP_RETAIN_COUNT);
        if snap_retain_count < MIN_SNAP_RETAIN_COUNT {
            // Apache does the same: fewer than three snapshots would leave no
            // fallback if the newest one is damaged.
            warnings.push(format!(
                "autopurge.snapRetainCount={snap_retain_count} is below {MIN_SNAP_RETAIN_COUNT}; using {MIN_SNAP_RETAIN_COUNT}"
            ));
            snap_retain_count = MIN_SNAP_RETAIN_COUNT;
        }
        let purge_interval_hours = settings
            .u32_in(keys::PURGE_INTERVAL, 0, u32::MAX)?
            .unwrap_or(0);
        let snap_count = settings
            .u32_in(keys::SNAP_COUNT, 2, u32::MAX)?
            .unwrap_or(DEFAULT_SNAP_COUNT);
        // Apache turns fsync off only for the exact word "no".
        let force_sync = settings
            .get(keys::FORCE_SYNC)
            .map(|s| s.value != "no")
            .unwrap_or(true);
        let pre_alloc_size_kb = settings
            .u64_in(keys::PRE_ALLOC_SIZE, 1, u64::MAX / 1024)?
            .unwrap_or(DEFAULT_PRE_ALLOC_SIZE_KB);
        let global_outstanding_limit = settings
            .u32_in(keys::GLOBAL_OUTSTANDING_LIMIT, 1, u32::MAX)?
            .unwrap_or(DEFAULT_GLOBAL_OUTSTANDING_LIMIT);

        let packet_limit_bytes = settings
            .u32_in(keys::PACKET_LIMIT, 1, i32::MAX as u32)?
            .unwrap_or(DEFAULT_PACKET_LIMIT_BYTES);
        let super_digest = match settings.get(keys::SUPER_DIGEST) {
            Some(s) => Some(parse_super_digest(&s.value).map_err(|reason| s.invalid(reason))?),
            None => None,
        };
        let extended_types = settings.boolean(keys::EXTENDED_TYPES)?.unwrap_or(false);
        let shards = settings.u32_in(keys::SHARDS, 1, 1024)?;
        let sequencer_core = settings.u32_in(keys::SEQUENCER_CORE, 0, 4095)?;
        let max_watches_per_session = settings
            .u64_in(keys::MAX_WATCHES_PER_SESSION, 1, u64::MAX)?
            .unwrap_or(DEFAULT_MAX_WATCHES_PER_SESSION);
        let max_sessions = settings
            .u64_in(keys::MAX_SESSIONS, 1, u64::MAX)?
            .unwrap_or(DEFAULT_MAX_SESSIONS);
        let batch_bytes_max = settings
            .u64_in(keys::BATCH_BYTES_MAX, 4096, 1 << 30)?
            .unwrap_or(DEFAULT_BATCH_BYTES_MAX);
        let batch_txns_max = settings
            .u64_in(keys::BATCH_TXNS_MAX, 1, 1 << 24)?
            .unwrap_or(DEFAULT_BATCH_TXNS_MAX);
        let replication_log_window = settings
            .u64_in(keys::REPLICATION_LOG_WINDOW, 1, 1 << 24)?
            .unwrap_or(DEFAULT_REPLICATION_LOG_WINDOW);
        let reply_bytes_max = settings.u32_in(keys::REPLY_BYTES_MAX, 1024, i32::MAX as u32)?;
        let queued_reply_bytes_max = settings
            .u64_in(keys::QUEUED_REPLY_BYTES_MAX, 64 << 10, 1 << 40)?
            .unwrap_or(DEFAULT_QUEUED_REPLY_BYTES_MAX);
        let handshake_timeout_ms = settings
            .u64_in(keys::HANDSHAKE_TIMEOUT, 100, 3_600_000)?
            .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT_MS);
        let reported_version = match settings.get(keys::REPORTED_VERSION) {
            Some(s) => {
                if !starts_with_three_numbers(&s.value) {
                    return Err(s.invalid(
                        "must start with major.minor.patch numbers, which clients parse",
                    ));
                }
                s.value.clone()
            }
            None => default_reported_version(),
        };

        let containers = containers_from_settings(settings)?;
        let admin = AdminConfig::from_settings(settings)?;
        let metrics = MetricsConfig::from_settings(settings, &mut warnings)?;
        let sasl = sasl::sasl_from_settings(settings)?;
        let acl_schemes = sasl::acl_schemes(settings, secure_client_port.is_some());
        let secure_client = tls::tls_from_settings(settings, &mut warnings)?;
        let quorum_stores = tls::quorum_stores_from_settings(settings)?;
        let quorum_security = crate::peer::PeerSecurity {
            tls: tls::quorum_tls_from_settings(settings, quorum_stores.as_ref(), &mut warnings)?,
            sasl: sasl::quorum_sasl_from_settings(settings)?,
        };

        let servers = settings.servers(multi_address_enabled)?;
        let my_id = read_my_id(&data_dir, extended_types)?;

        let mut config = Config {
            config_file: settings.config_file.clone(),
            tick_time_ms,
            init_limit_ticks,
            sync_limit_ticks,
            data_dir,
            data_log_dir,
            client_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_CLIENT_PORT),
            client_port_listen_backlog,
            secure_client_port,
            secure_client,
            quorum_stores,
            quorum_security,
            max_client_cnxns_per_host,
            max_cnxns,
            min_session_timeout_ms,
            max_session_timeout_ms,
            four_letter_whitelist,
            read_only_mode_enabled,
            reconfig_enabled,
            standalone_enabled,
            dynamic_config_file,
            dynamic_config_version,
            servers,
            my_id,
            peer_type: configured_peer_type,
            multi_address_enabled,
            local_sessions_enabled,
            local_sessions_upgrading_enabled,
            snap_retain_count,
            purge_interval_hours,
            snap_count,
            force_sync,
            pre_alloc_size_kb,
            global_outstanding_limit,
            packet_limit_bytes,
            super_digest,
            extended_types,
            shards,
            sequencer_core,
            max_watches_per_session,
            max_sessions,
            batch_bytes_max,
            batch_txns_max,
            replication_log_window,
            reply_bytes_max,
            queued_reply_bytes_max,
            handshake_timeout_ms,
            reported_version,
            containers,
            sasl,
            acl_schemes,
            admin,
            metrics,
            warnings: Vec::new(),
        };
        config.check_membership(settings, &mut warnings)?;
        config.client_address =
            config.resolve_client_address(settings, has_file, client_port, client_host)?;
        config.warnings = warnings;
        Ok(config)
    }

    /// Apache's rules on the member list (`QuorumPeerConfig.parseDynamicConfig`
    /// and `checkValidity`).
    fn check_membership(
        &mut self,
        settings: &Settings,
        warnings: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        let voters = self
            .servers
            .iter()
            .filter(|s| s.peer_type == PeerType::Participant)
            .count();
        let observers = self.servers.len() - voters;
        let origin = settings.file_origin();
        if voters == 0 && observers > 0 {
            return Err(ConfigError::Inconsistent {
                reason: "observers without participants is an invalid configuration".to_owned(),
                origin,
            });
        }
        if voters == 0 && !self.standalone_enabled {
            return Err(ConfigError::Inconsistent {
                reason: "standaloneEnabled=false needs at least one participant server.N line"
                    .to_owned(),
                origin,
            });
        }
        if voters == 1 && self.standalone_enabled {
            if observers > 0 {
                return Err(ConfigError::Inconsistent {
                    reason: "observers without a quorum is an invalid configuration".to_owned(),
                    origin,
                });
            }
            warnings.push(
                "only one server.N line and standaloneEnabled=true: running standalone".to_owned(),
            );
        }
        if !self.is_ensemble() {
            return Ok(());
        }
        let Some(id) = self.my_id else {
            return Err(ConfigError::Inconsistent {
                reason: format!(
                    "an ensemble member needs its id in {}",
                    self.data_dir.join("myid").display()
                ),
                origin,
            });
        };
        let Some(own) = self.servers.iter().find(|s| s.id == id) else {
            return Err(ConfigError::Inconsistent {
                reason: format!("myid is {id} but there is no server.{id} line"),
                origin,
            });
        };
        if own.peer_type != self.peer_type {
            warnings.push(format!(
                "peerType does not match the server.{id} line; using the server.{id} line"
            ));
            self.peer_type = own.peer_type;
        }
        for (key, value) in [
            (keys::INIT_LIMIT, self.init_limit_ticks),
            (keys::SYNC_LIMIT, self.sync_limit_ticks),
        ] {
            if value.is_none() {
                return Err(ConfigError::Inconsistent {
                    reason: format!("{key} is not set, and an ensemble needs it"),
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }

    /// The client socket address: `clientPortAddress:clientPort`, falling
    /// back to this member's `server.N` client address, and to
    /// 127.0.0.1:2181 when there is no zoo.cfg at all. With a zoo.cfg and no
    /// `clientPortAddress`, Apache listens on every interface; so do we.
    fn resolve_client_address(
        &self,
        settings: &Settings,
        has_file: bool,
        client_port: Option<u16>,
        client_host: Option<String>,
    ) -> Result<SocketAddr, ConfigError> {
        let from_member = self
            .is_ensemble()
            .then(|| self.own_member().and_then(|m| m.client.clone()))
            .flatten();
        let port = match (client_port, &from_member) {
            (Some(port), _) => port,
            (None, Some(member)) if client_host.is_none() => member.port,
            (None, _) if !has_file => DEFAULT_CLIENT_PORT,
            (None, _) if client_host.is_some() => {
                return Err(ConfigError::Inconsistent {
                    reason: "clientPortAddress is set but clientPort is not".to_owned(),
                    origin: settings.origin_of(keys::CLIENT_PORT_ADDRESS),
                })
            }
            (None, _) => {
                return Err(ConfigError::Inconsistent {
                    reason: "clientPort is not set".to_owned(),
                    origin: settings.file_origin(),
                })
            }
        };
        let host = match (client_host, client_port, from_member) {
            (Some(host), _, _) => host,
            (None, None, Some(member)) => member.host,
            (None, _, _) if has_file => "0.0.0.0".to_owned(),
            (None, _, _) => "127.0.0.1".to_owned(),
        };
        resolve_host(&host, port).map_err(|reason| match settings.get(keys::CLIENT_PORT_ADDRESS) {
            Some(s) => s.invalid(reason),
            None => ConfigError::Inconsistent {
                reason: format!("client address {host}: {reason}"),
                origin: settings.file_origin(),
            },
        })
    }

    /// The four-letter-word whitelist in effect.
    pub fn whitelist(&self) -> &Whitelist {
        &self.four_letter_whitelist
    }
}

fn containers_from_settings(settings: &Settings) -> Result<ContainerReaping, ConfigError> {
    // Apache reads the interval and the rate as Java ints; 0 would stop its timer or
    // divide by zero, so both start at 1.
    let int_max = i64::from(i32::MAX);
    Ok(ContainerReaping {
        check_interval_ms: settings
            .i64_in(keys::CONTAINER_CHECK_INTERVAL, 1, int_max)?
            .unwrap_or(containers::DEFAULT_CHECK_INTERVAL_MS),
        max_per_minute: settings
            .u32_in(keys::CONTAINER_MAX_PER_MINUTE, 1, i32::MAX as u32)?
            .unwrap_or(containers::DEFAULT_MAX_PER_MINUTE),
        max_never_used_interval_ms: settings
            .i64_in(keys::CONTAINER_MAX_NEVER_USED_INTERVAL, 0, i64::MAX)?
            .unwrap_or(containers::DEFAULT_MAX_NEVER_USED_INTERVAL_MS),
    })
}

fn session_timeouts(settings: &Settings, tick_time_ms: u32) -> Result<(u32, u32), ConfigError> {
    // -1 asks for the default, as in Apache.
    let min = settings.i64_in(keys::MIN_SESSION_TIMEOUT, -1, i64::from(i32::MAX))?;
    let max = settings.i64_in(keys::MAX_SESSION_TIMEOUT, -1, i64::from(i32::MAX))?;
    for (key, value) in [
        (keys::MIN_SESSION_TIMEOUT, min),
        (keys::MAX_SESSION_TIMEOUT, max),
    ] {
        if value == Some(0) {
            if let Some(s) = settings.get(key) {
                return Err(s.invalid("a session timeout must be positive (or -1 for the default)"));
            }
        }
    }
    let pick = |v: Option<i64>, ticks: u64| -> u32 {
        match v {
            Some(ms) if ms > 0 => ms as u32,
            _ => u32::try_from(u64::from(tick_time_ms) * ticks).unwrap_or(u32::MAX),
        }
    };
    let min_ms = pick(min, 2);
    let max_ms = pick(max, 20);
    if min_ms > max_ms {
        let origin = settings
            .get(keys::MIN_SESSION_TIMEOUT)
            .or_else(|| settings.get(keys::MAX_SESSION_TIMEOUT))
            .map(|s| s.origin.clone())
            .unwrap_or(Origin::Default);
        return Err(ConfigError::Inconsistent {
            reason: format!(
                "minSessionTimeout ({min_ms} ms) must not be larger than maxSessionTimeout ({max_ms} ms)"
            ),
            origin,
        });
    }
    Ok((min_ms, max_ms))
}

fn parse_super_digest(text: &str) -> Result<SuperDigest, String> {
    use base64::Engine;
    let (user, digest) = text
        .split_once(':')
        .ok_or_else(|| "expected user:base64(sha1(user:password))".to_owned())?;
    if user.is_empty() {
        return Err("the user name is empty".to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(digest)
        .map_err(|e| format!("the digest is not base64: {e}"))?;
    if bytes.len() != 20 {
        return Err(format!(
            "the digest decodes to {} bytes, a SHA-1 digest has 20",
            bytes.len()
        ));
    }
    Ok(SuperDigest {
        user: user.to_owned(),
        digest: digest.to_owned(),
    })
}

fn starts_with_three_numbers(text: &str) -> bool {
    let mut parts = text.splitn(4, '.');
    let numeric =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let major = parts.next();
    let minor = parts.next();
    let patch = parts
        .next()
        .map(|p| p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or(""));
    numeric(major) && numeric(minor) && numeric(patch)
}

/// Reads `dataDir/myid`: a missing file is fine (a standalone server needs
/// none); a file that does not hold a number is an error, as in Apache.
fn read_my_id(data_dir: &Path, extended_types: bool) -> Result<Option<u64>, ConfigError> {
    let path = data_dir.join("myid");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Unreadable {
                what: "myid file",
                path,
                source,
            })
        }
    };
    let text = properties::decode_text(&bytes);
    let value = text.trim();
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: "myid".to_owned(),
        value: value.to_owned(),
        origin: Origin::File {
            path: path.clone(),
            line: 1,
        },
        reason,
    };
    let id: u64 = value
        .parse()
        .map_err(|_| invalid("the server id is not a non-negative number".to_owned()))?;
    if extended_types && id > MAX_SERVER_ID_WITH_EXTENDED_TYPES {
        return Err(invalid(format!(
            "with extended types enabled the server id must be at most {MAX_SERVER_ID_WITH_EXTENDED_TYPES}"
        )));
    }
    Ok(Some(id))
}

/// Resolves an IP literal or a host name (first address wins, as with
/// Java's `InetAddress.getByName`).
fn resolve_host(host: &str, port: u16) -> Result<SocketAddr, String> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host: {e}"))?
        .next()
        .ok_or_else(|| "the host name resolves to no address".to_owned())
}
