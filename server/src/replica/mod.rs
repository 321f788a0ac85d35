//! Ensemble membership: what the sequencer needs to run the `replication` protocol.
//!
//! The protocol itself (`ringkeeper_replication::Peer`) is a pure state machine; the
//! sequencer (`crate::sequencer`) feeds it client writes, peer messages, ticks and log
//! durability, and carries out its commands (log appends and truncations, epoch file,
//! applying committed transactions, sending messages and snapshots). This module holds the
//! pieces around that: the server's own peer messages (`app`), the epoch file (`epochs`),
//! the serving role other executors read (`role`), and the start-up state.

// One server id type across the crates: the engine's (sessions) and the protocol's must be
// the same, or an id could be narrowed between them.
const _: fn(ringkeeper_engine::ServerId) -> ringkeeper_replication::ServerId = |id| id;

pub mod app;
pub mod epochs;
pub mod role;

use std::path::PathBuf;
use std::time::Duration;

use ringkeeper_replication::{Message, Restored, ServerId};

/// Where the sequencer's peer messages go: the peer transport, or a test's recorder. Both
/// calls queue and return at once; a message that cannot be delivered is dropped, which
/// the protocol tolerates.
pub trait PeerSink {
    fn send(&self, to: ServerId, message: &Message);
    fn send_app(&self, to: ServerId, data: Vec<u8>);
    /// Asks for a new connection to `to` for what follows (a new role), as Apache opens one.
    fn fresh_link(&self, to: ServerId);
    /// The `server.N=...` lines of a configuration that activated: the peers to keep links
    /// to from now on (members added get one, members removed lose theirs).
    fn set_members(&self, servers: &[String]);
}

/// The transport's peers for the `server.N=...` lines of a configuration; lines that do not
/// parse are left out (the configuration was checked when it was proposed).
pub fn peer_endpoints(servers: &[String]) -> Vec<crate::peer::PeerEndpoint> {
    servers
        .iter()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let id = crate::config::parse_server_id(key).ok()?;
            let member = crate::config::parse_server_line(id, value, true).ok()?;
            Some(crate::peer::PeerEndpoint {
                id,
                quorum: member.quorum_addrs(),
                election: member.election_addrs(),
            })
        })
        .collect()
}

impl PeerSink for crate::peer::Transport {
    fn send(&self, to: ServerId, message: &Message) {
        crate::peer::Transport::send(self, to, message)
    }
    fn send_app(&self, to: ServerId, data: Vec<u8>) {
        crate::peer::Transport::send_app(self, to, data)
    }
    fn fresh_link(&self, to: ServerId) {
        crate::peer::Transport::fresh_link(self, to)
    }
    fn set_members(&self, servers: &[String]) {
        crate::peer::Transport::set_members(self, &peer_endpoints(servers))
    }
}

/// The sink of a standalone server, an ensemble of one: it has no peer to talk to, and its
/// protocol never addresses one.
pub struct NoPeers;

impl PeerSink for NoPeers {
    fn send(&self, _to: ServerId, _message: &Message) {}
    fn send_app(&self, _to: ServerId, _data: Vec<u8>) {}
    fn fresh_link(&self, _to: ServerId) {}
    fn set_members(&self, _servers: &[String]) {}
}

/// An ensemble member's settings, from zoo.cfg.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub protocol: ringkeeper_replication::Config,
    /// One protocol tick (heartbeats, timeouts and election retries count in these).
    pub peer_tick: Duration,
    /// The data directory's store, where the epoch file lives.
    pub dir: PathBuf,
    /// The zoo.cfg the server was started with, rewritten (with a new dynamic file beside
    /// it) when a reconfiguration activates; `None` (flags only, or a test) writes nothing.
    pub config_file: Option<PathBuf>,
}

impl ReplicaSettings {
    /// Settings without a zoo.cfg to rewrite (a standalone server, the simulators).
    pub fn new(
        protocol: ringkeeper_replication::Config,
        peer_tick: Duration,
        dir: PathBuf,
    ) -> ReplicaSettings {
        ReplicaSettings {
            protocol,
            peer_tick,
            dir,
            config_file: None,
        }
    }
}

/// What the protocol starts from: the epoch file and the log tail after the snapshot.
pub struct ReplicaStart {
    pub restored: Restored,
}

/// The protocol's timing, from zoo.cfg's tickTime, initLimit and syncLimit, as Apache uses
/// them: a follower that hears nothing from its leader for syncLimit ticks gives up on it
/// (and a leader on a quorum), and synchronization must finish within initLimit ticks. The
/// protocol's own tick is finer than tickTime so that heartbeats are frequent.
pub fn protocol_timing(
    tick_time_ms: u64,
    init_limit: u64,
    sync_limit: u64,
) -> (Duration, [u32; 3]) {
    let peer_tick_ms = (tick_time_ms / 4).clamp(10, 100);
    let ticks = |ms: u64| u32::try_from(ms / peer_tick_ms).unwrap_or(u32::MAX);
    let sync_ticks = ticks(sync_limit.max(1) * tick_time_ms).max(4);
    let init_ticks = ticks(init_limit.max(1) * tick_time_ms).max(sync_ticks + 2);
    (
        Duration::from_millis(peer_tick_ms),
        [sync_ticks, sync_ticks, init_ticks],
    )
}

/// The session-password key every member of an ensemble uses, so that a client can resume
/// its session on any member. Apache derives passwords from the session id and a constant,
/// and so does this: a key from the member ids (`legacy_ensemble_secret`, before
/// 2026-12-06) differed between members once the membership changed (a member restarted
/// after a reconfiguration reads its new members from the dynamic file, a joiner lists
/// itself), and each refused the others' sessions. Not the addresses either: members may
/// see each other at different addresses (NAT, proxies). Like Apache's, such a password
/// guards against mistakes, not against an attacker who knows the session id; ACLs and
/// authentication are what protect data. A standalone server keys them with a random
/// secret of its own (`storage::secret`), since no other server must agree.
pub fn ensemble_secret() -> Vec<u8> {
    ringkeeper_engine::acl::digest("ringkeeper-ensemble-session-key-v2").into_bytes()
}

/// The key of earlier versions, from the member ids at start-up: still accepted
/// (`SessionTracker::accept_legacy_secret`), so that sessions opened before an upgrade
/// resume after it on a member started with the same members.
pub fn legacy_ensemble_secret(member_ids: &[u64]) -> Vec<u8> {
    let mut sorted = member_ids.to_vec();
    sorted.sort_unstable();
    let mut text = String::from("ringkeeper-ensemble-session-key-v1");
    for id in sorted {
        text.push_str(&format!("\n{id}"));
    }
    // SHA-1 via the digest helper the ACL code already uses; 20 bytes, base64 in the text.
    ringkeeper_engine::acl::digest(&text).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_tick_time_and_limits() {
        let (tick, [follower, leader, init]) = protocol_timing(2000, 10, 5);
        assert_eq!(tick, Duration::from_millis(100));
        assert_eq!((follower, leader, init), (100, 100, 200));
        let (tick, [follower, _, init]) = protocol_timing(100, 2, 2);
        assert_eq!(tick, Duration::from_millis(25));
        assert_eq!((follower, init), (8, 10));
    }

    #[test]
    fn the_legacy_secret_depends_on_the_ids_and_the_current_one_does_not() {
        let a = legacy_ensemble_secret(&[1, 2, 3]);
        assert_eq!(a, legacy_ensemble_secret(&[3, 1, 2]));
        assert_ne!(a, legacy_ensemble_secret(&[1, 2]));
        assert_ne!(a, ensemble_secret());
        assert_eq!(ensemble_secret(), ensemble_secret());
    }
}
