//! The `conf` four-letter word: Apache's `ZooKeeperServer.dumpConf`, plus
//! `QuorumZooKeeperServer.dumpConf`'s lines for an ensemble member.

use std::fmt::Write as _;
use std::path::Path;

use super::Config;

/// The facts `conf` prints that are not configuration but state of the
/// running server; the caller measures them, so rendering stays pure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConfRuntime {
    /// Bytes in the data directory (Apache's `dataDirSize`).
    pub data_dir_size: u64,
    /// Bytes in the log directory (Apache's `dataLogSize`).
    pub data_log_size: u64,
    /// The TLS client port actually listening; `None` prints -1, as Apache
    /// does when no secure listener runs.
    pub secure_client_port: Option<u16>,
}

impl Config {
    /// The `conf` answer. Apache prints the snapshot directory, which is
    /// `dataDir/version-2` in its layout; ringkeeper prints the configured
    /// directories themselves, made absolute, since its layout differs.
    pub fn render_conf(&self, runtime: &ConfRuntime) -> String {
        let mut out = String::new();
        let secure = runtime
            .secure_client_port
            .map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let backlog = self
            .client_port_listen_backlog
            .map_or_else(|| "-1".to_owned(), |b| b.to_string());
        let server_id = if self.is_ensemble() {
            self.my_id.unwrap_or(0)
        } else {
            0
        };
        let _ = writeln!(out, "clientPort={}", self.client_address.port());
        let _ = writeln!(out, "secureClientPort={secure}");
        let _ = writeln!(out, "dataDir={}", absolute(&self.data_dir));
        let _ = writeln!(out, "dataDirSize={}", runtime.data_dir_size);
        let _ = writeln!(out, "dataLogDir={}", absolute(&self.data_log_dir));
        let _ = writeln!(out, "dataLogSize={}", runtime.data_log_size);
        let _ = writeln!(out, "tickTime={}", self.tick_time_ms);
        let _ = writeln!(out, "maxClientCnxns={}", self.max_client_cnxns_per_host);
        let _ = writeln!(out, "minSessionTimeout={}", self.min_session_timeout_ms);
        let _ = writeln!(out, "maxSessionTimeout={}", self.max_session_timeout_ms);
        let _ = writeln!(out, "clientPortListenBacklog={backlog}");
        let _ = writeln!(out, "serverId={server_id}");
        if self.is_ensemble() {
            self.render_ensemble_conf(&mut out);
        }
        out
    }

    fn render_ensemble_conf(&self, out: &mut String) {
        let own = self.own_member();
        let ports = |pick: fn(&super::PeerAddress) -> u16| -> String {
            own.map(|m| {
                m.addresses
                    .iter()
                    .map(|a| pick(a).to_string())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .unwrap_or_default()
        };
        let _ = writeln!(out, "initLimit={}", self.init_limit_ticks.unwrap_or(0));
        let _ = writeln!(out, "syncLimit={}", self.sync_limit_ticks.unwrap_or(0));
        let _ = writeln!(out, "electionAlg=3");
        let _ = writeln!(out, "electionPort={}", ports(|a| a.election_port));
        let _ = writeln!(out, "quorumPort={}", ports(|a| a.quorum_port));
        let _ = writeln!(out, "peerType={}", self.peer_type.ordinal());
        out.push_str("membership: \n");
        out.push_str(&self.render_membership());
    }

    /// The member list as Apache's `QuorumMaj.toString` writes it (in the
    /// `conf` output and as the data of a reconfig answer): `server.N=...`
    /// lines, then `version=<hex>` with no newline after it.
    pub fn render_membership(&self) -> String {
        membership_text(&self.servers, self.dynamic_config_version)
    }
}

/// A member list as Apache's `QuorumMaj.toString` writes it (the data of
/// `/zookeeper/config`): `server.N=...` lines, then `version=<hex>` with no
/// newline after it.
pub fn membership_text(members: &[super::ServerMember], version: u64) -> String {
    let mut out = String::new();
    for member in members {
        let _ = writeln!(out, "server.{}={}", member.id, member);
    }
    let _ = write!(out, "version={version:x}");
    out
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
