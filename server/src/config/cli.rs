//! The command line: an optional `zoo.cfg` path and flags that override it.

use std::path::PathBuf;

use clap::Parser;

/// `ringkeeper [CONFIG] [flags]`. Every named flag is a shorthand for one
/// zoo.cfg key (see `Cli::key_overrides`); `-D`/`--set` reach any key, so
/// the `-Dname=value` system properties Apache ZooKeeper is started with can
/// be passed through unchanged.
#[derive(Debug, Parser)]
#[command(
    name = "ringkeeper",
    version,
    about = "A ZooKeeper-compatible coordination server",
    long_about = None
)]
pub struct Cli {
    /// Path of a zoo.cfg file (Java properties format).
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,

    /// TCP port for client connections (zoo.cfg `clientPort`).
    #[arg(long, value_name = "N")]
    pub client_port: Option<String>,

    /// Address to bind the client port to (zoo.cfg `clientPortAddress`).
    #[arg(long, value_name = "ADDR")]
    pub client_port_address: Option<String>,

    /// Directory for snapshots and `myid` (zoo.cfg `dataDir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,

    /// Directory for the transaction log (zoo.cfg `dataLogDir`).
    #[arg(long, value_name = "DIR")]
    pub data_log_dir: Option<String>,

    /// Length of one tick in milliseconds (zoo.cfg `tickTime`).
    #[arg(long, value_name = "MS")]
    pub tick_time: Option<String>,

    /// Smallest session timeout granted (zoo.cfg `minSessionTimeout`).
    #[arg(long, value_name = "MS")]
    pub min_session_timeout: Option<String>,

    /// Largest session timeout granted (zoo.cfg `maxSessionTimeout`).
    #[arg(long, value_name = "MS")]
    pub max_session_timeout: Option<String>,

    /// Connections allowed from one IP address, 0 for no limit (zoo.cfg `maxClientCnxns`).
    #[arg(long, value_name = "N")]
    pub max_client_cnxns: Option<String>,

    /// Number of shard executors (`ringkeeper.shards`).
    #[arg(long, value_name = "N")]
    pub shards: Option<String>,

    /// CPU core the sequencer is pinned to (`ringkeeper.sequencerCore`).
    #[arg(long, value_name = "N")]
    pub sequencer_core: Option<String>,

    /// Largest accepted request packet in bytes (`ringkeeper.packetLimit`, alias `jute.maxbuffer`).
    #[arg(long, value_name = "BYTES")]
    pub packet_limit: Option<String>,

    /// Super user digest `user:base64(sha1(user:password))` (`ringkeeper.superDigest`).
    #[arg(long, value_name = "USER:BASE64")]
    pub super_digest: Option<String>,

    /// Enable extended node types: TTL nodes (`ringkeeper.extendedTypes`).
    #[arg(long)]
    pub extended_types: bool,

    /// Comma separated four-letter words to allow, `*` for all (`4lw.commands.whitelist`).
    #[arg(long = "4lw-whitelist", value_name = "LIST")]
    pub four_letter_whitelist: Option<String>,

    /// Set any zoo.cfg key or Java system property; repeatable. A leading
    /// `zookeeper.` is dropped, so `-Dzookeeper.snapCount=10` sets `snapCount`.
    #[arg(short = 'D', long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl Cli {
    /// The named flags as `(flag, zoo.cfg key, value)`, in the order they are
    /// applied. They are applied after `-D`/`--set`, so a named flag wins.
    pub fn key_overrides(&self) -> Vec<(&'static str, &'static str, String)> {
        let named: [(&'static str, &'static str, &Option<String>); 13] = [
            ("--client-port", "clientPort", &self.client_port),
            (
                "--client-port-address",
                "clientPortAddress",
                &self.client_port_address,
            ),
            ("--data-dir", "dataDir", &self.data_dir),
            ("--data-log-dir", "dataLogDir", &self.data_log_dir),
            ("--tick-time", "tickTime", &self.tick_time),
            (
                "--min-session-timeout",
                "minSessionTimeout",
                &self.min_session_timeout,
            ),
            (
                "--max-session-timeout",
                "maxSessionTimeout",
                &self.max_session_timeout,
            ),
            (
                "--max-client-cnxns",
                "maxClientCnxns",
                &self.max_client_cnxns,
            ),
            ("--shards", "ringkeeper.shards", &self.shards),
            (
                "--sequencer-core",
                "ringkeeper.sequencerCore",
                &self.sequencer_core,
            ),
            (
                "--packet-limit",
                "ringkeeper.packetLimit",
                &self.packet_limit,
            ),
            (
                "--super-digest",
                "ringkeeper.superDigest",
                &self.super_digest,
            ),
            (
                "--4lw-whitelist",
                "4lw.commands.whitelist",
                &self.four_letter_whitelist,
            ),
        ];
        let mut out: Vec<(&'static str, &'static str, String)> = named
            .iter()
            .filter_map(|(flag, key, value)| value.as_ref().map(|v| (*flag, *key, v.clone())))
            .collect();
        if self.extended_types {
            out.push((
                "--extended-types",
                "ringkeeper.extendedTypes",
                "true".to_owned(),
            ));
        }
        out
    }
}
