//! The settings every simulated server runs with: a small ensemble on a fast tick, two
//! shards, small log segments (so that segment rolls happen), and the protocol's timing
//! derived from tickTime as `startup` derives it.

use std::path::PathBuf;

use ringkeeper_replication::{Config, Membership, MembershipReader, ServerId};

use crate::messages::ShardId;
use crate::sequencer::SequencerSettings;
use crate::shard::{FourLetterContext, ShardSettings};
use crate::watermark::Watermark;

/// Session shards per server.
pub const SHARDS: usize = 2;
/// zoo.cfg tickTime.
pub const TICK_MS: i64 = 100;
/// The protocol's tick, as `replica::protocol_timing` gives it for [`TICK_MS`].
pub const PEER_TICK_MS: u64 = 25;
/// Small segments, so that a run rolls several.
pub const SEGMENT_BYTES_MAX: u64 = 16 << 10;
/// How long a handshake waits for its shard to reach the client's last zxid (conn.rs).
pub const CATCH_UP_WAIT_MS: i64 = 2000;
/// The session timeout clients ask for.
pub const SESSION_TIMEOUT_MS: i32 = 1500;

/// The operator's credentials (`super:test`) and the digest the servers know them by.
pub const SUPER_AUTH: &[u8] = b"super:test";
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// Server `id`'s line as zoo.cfg and the config node carry it. The addresses are never
/// dialled: the simulator wires the members itself.
pub fn server_line(id: ServerId) -> String {
    format!("server.{id}=10.0.0.{id}:2888:3888:participant;10.0.0.{id}:2181")
}

/// The configuration a member starts with: zoo.cfg's (`servers` members, version 0), or
/// the last one it wrote down (`zoo.cfg.dynamic.<version>`).
#[derive(Debug, Clone)]
pub struct StartConfig {
    pub version: u64,
    pub lines: Vec<String>,
}

impl StartConfig {
    pub fn initial(servers: usize) -> StartConfig {
        StartConfig {
            version: 0,
            lines: (1..=servers as u64).map(server_line).collect(),
        }
    }

    /// Its voters and observers, as `read_membership` reads a reconfiguration's lines.
    pub fn members(&self) -> Vec<crate::config::ServerMember> {
        self.lines
            .iter()
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                let id = crate::config::parse_server_id(key).ok()?;
                crate::config::parse_server_line(id, value, false).ok()
            })
            .collect()
    }

    pub fn membership(&self) -> Membership {
        let mut m = Membership {
            version: self.version as i64,
            voters: Vec::new(),
            observers: Vec::new(),
        };
        for member in self.members() {
            match member.peer_type {
                crate::config::PeerType::Participant => m.voters.push(member.id),
                crate::config::PeerType::Observer => m.observers.push(member.id),
            }
        }
        m
    }

    /// What the shards check reconfig requests against (`ReconfigView::from_config`).
    pub fn reconfig_view(&self, enabled: bool, servers: usize) -> crate::reconfig::ReconfigView {
        crate::reconfig::ReconfigView {
            enabled,
            standalone: servers == 1,
            members: self.members(),
            version: self.version,
            multi_address: false,
        }
    }
}

/// The protocol's configuration: a standalone server as `prepare_standalone` builds it,
/// an ensemble member as `prepare` does (initLimit 10, syncLimit 5), with the server's
/// reader of reconfiguration payloads and the version of the configuration it starts with.
pub fn protocol(me: ServerId, start: &StartConfig, log_window: usize) -> Config {
    let membership = start.membership();
    let voters = membership.voters;
    let mut protocol = Config::new(me, voters.clone());
    protocol.observers = membership.observers;
    protocol.version = membership.version;
    protocol.membership_reader = MembershipReader(crate::reconfig::read_membership);
    protocol.log_window_entries_max = log_window;
    protocol.retransmit_entries_max = log_window.min(10_000);
    // Small chunks make every snapshot a windowed transfer of many chunks, which the
    // network loses, duplicates and reorders like any protocol message.
    protocol.snapshot_chunk_bytes = 512;
    protocol.snapshot_window_chunks = 4;
    if voters.len() == 1 {
        protocol.proposals_outstanding_max = protocol.proposals_outstanding_max.max(2000);
    } else {
        let (_, [follower, leader, init]) = crate::replica::protocol_timing(TICK_MS as u64, 10, 5);
        protocol.follower_timeout_ticks = follower;
        protocol.leader_timeout_ticks = leader;
        protocol.init_timeout_ticks = init;
    }
    protocol
}

pub fn sequencer(me: ServerId, released: Watermark) -> SequencerSettings {
    SequencerSettings {
        server_id: me,
        session_secret: crate::replica::ensemble_secret(),
        legacy_session_secret: None,
        tick_ms: TICK_MS,
        extended_types: true,
        acl_schemes: Default::default(),
        max_sessions: 1000,
        containers: Default::default(),
        shard_count: SHARDS,
        batch_bytes_max: 64 << 10,
        batch_txns_max: 1000,
        released,
    }
}

pub fn shard(
    id: ShardId,
    released: Watermark,
    reconfig: crate::reconfig::ReconfigView,
) -> ShardSettings {
    ShardSettings {
        id,
        packet_limit: 1 << 20,
        reply_bytes_max: None,
        tick_ms: TICK_MS,
        min_session_timeout_ms: (TICK_MS * 2) as i32,
        max_session_timeout_ms: (TICK_MS * 20) as i32,
        max_client_cnxns: 0,
        handshake_timeout_ms: 1000,
        max_outstanding_per_conn: 1000,
        limiter: Default::default(),
        super_digest: reconfig.enabled.then(|| SUPER_DIGEST.to_owned()),
        max_queued_bytes: 1 << 20,
        shard_queued_reply_bytes_max: 1 << 20,
        max_watches_per_conn: 1000,
        four_letter: FourLetterContext {
            version: "sim".to_owned(),
            whitelist: Default::default(),
            conf_text: String::new(),
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            started_ms: 0,
            probe_token: crate::fourlw::internal::ProbeToken::generate()
                .expect("the kernel's random source"),
        },
        released,
        sasl: None,
        reconfig: std::sync::Arc::new(reconfig),
    }
}
