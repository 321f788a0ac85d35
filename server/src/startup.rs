//! Turning zoo.cfg's ensemble lines and the data directory into what an ensemble member's
//! sequencer starts from.

use std::path::Path;
use std::time::Duration;

use ringkeeper_engine::jute::Encode;
use ringkeeper_engine::storage::{load_for_replication, FsDir, StorageDir};
use ringkeeper_replication::{Entry, Restored, ServerId};

use crate::config::{Config, PeerType};
use crate::peer::transport::{STALL_TIMEOUT_MAX, STALL_TIMEOUT_MIN};
use crate::peer::{PeerEndpoint, TransportSettings};
use crate::replica::{
    ensemble_secret, epochs, legacy_ensemble_secret, protocol_timing, ReplicaSettings, ReplicaStart,
};
use crate::sequencer::{EnsembleSettings, InitialState};

/// Largest frame a peer may send: a proposal batch or a snapshot chunk, with room to spare
/// above the largest client packet.
pub const PEER_FRAME_BYTES_MAX: usize = 64 << 20;
/// Largest snapshot a follower accepts from its leader.
pub const PEER_SNAPSHOT_BYTES_MAX: usize = 8 << 30;
/// Bytes of a snapshot in one chunk frame (well inside `PEER_FRAME_BYTES_MAX`); with the
/// protocol's window of 8 chunks, 8 MiB are in flight to a catching-up follower.
pub const PEER_SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Frames queued for one peer before more are dropped (the protocol resends).
pub const PEER_SEND_QUEUE_MAX: usize = 65_536;

pub struct Prepared {
    pub secret: Vec<u8>,
    /// Accepted for sessions opened before the upgrade to `secret` (`legacy_ensemble_secret`).
    pub legacy_secret: Vec<u8>,
    pub initial: InitialState,
    pub settings: EnsembleSettings,
}

/// The protocol's configuration for member `me`: the voters and observers, and the version
/// of the configuration they come from (zoo.cfg's, or that of the dynamic file it names,
/// which a member that activated a reconfiguration wrote with the reconfiguration's zxid).
fn ensemble_protocol(
    me: u64,
    voters: &[u64],
    observers: Vec<u64>,
    config: &Config,
) -> Result<ringkeeper_replication::Config, String> {
    let mut protocol = protocol_with_reader(me, voters.to_vec());
    protocol.observers = observers;
    let version = config.dynamic_config_version;
    protocol.version = ringkeeper_engine::Zxid::try_from(version)
        .map_err(|_| format!("the dynamic configuration's version {version:x} is not a zxid"))?;
    Ok(protocol)
}

/// The peer links' stall and silence deadlines (`TransportSettings`), from tickTime and
/// syncLimit.
fn link_timeouts(config: &Config) -> (Duration, Duration) {
    let tick = u64::from(config.tick_time_ms);
    // Members heartbeat every peer tick (a quarter tickTime at most), so one tickTime of
    // unacknowledged data is several lost heartbeats: the link is dead, and a new dial
    // reaches a healed peer sooner than TCP's retransmission backoff would.
    let stall_timeout = Duration::from_millis(tick).clamp(STALL_TIMEOUT_MIN, STALL_TIMEOUT_MAX);
    // Apache's learner and leader give up a socket that stays silent for syncLimit ticks.
    let sync_ms = tick.saturating_mul(u64::from(config.sync_limit_ticks.unwrap_or(5)));
    let silence_timeout = Duration::from_millis(sync_ms)
        .clamp(STALL_TIMEOUT_MIN, STALL_TIMEOUT_MAX)
        .max(stall_timeout);
    (stall_timeout, silence_timeout)
}

/// Every member but `me`, where the transport dials it.
fn peers_of(config: &Config, me: u64) -> Vec<PeerEndpoint> {
    config
        .servers
        .iter()
        .filter(|s| s.id != me)
        .map(|s| PeerEndpoint {
            id: s.id,
            quorum: s.quorum_addrs(),
            election: s.election_addrs(),
        })
        .collect()
}

/// Reads the epoch file and the snapshot plus log tail, and works out the peers.
pub fn prepare(config: &Config, store_dir: &Path, log_window: u64) -> Result<Prepared, String> {
    let me = config
        .my_id
        .ok_or_else(|| "an ensemble member needs dataDir/myid".to_owned())?;
    let own = config
        .own_member()
        .ok_or_else(|| format!("myid is {me} but there is no server.{me} line"))?;
    if own.addresses.is_empty() {
        return Err(format!("server.{me} has no address"));
    }
    let peers = peers_of(config, me);
    // Observers are peers like any other for the transport (the leader sends them the
    // committed stream, they ask the voters for the leader), but only voters make quorums.
    let (voters, observers): (Vec<&_>, Vec<&_>) = config
        .servers
        .iter()
        .partition(|s| s.peer_type == PeerType::Participant);
    let voters: Vec<u64> = voters.iter().map(|s| s.id).collect();
    let observers: Vec<u64> = observers.iter().map(|s| s.id).collect();

    let tick = u64::from(config.tick_time_ms);
    let (peer_tick, [follower, leader, init]) = protocol_timing(
        tick,
        u64::from(config.init_limit_ticks.unwrap_or(10)),
        u64::from(config.sync_limit_ticks.unwrap_or(5)),
    );
    let (stall_timeout, silence_timeout) = link_timeouts(config);
    let mut protocol = ensemble_protocol(me, &voters, observers, config)?;
    protocol.follower_timeout_ticks = follower;
    protocol.leader_timeout_ticks = leader;
    protocol.init_timeout_ticks = init;
    protocol.log_window_entries_max = log_window as usize;
    protocol.retransmit_entries_max = (log_window as usize).min(10_000);
    protocol.snapshot_bytes_max = PEER_SNAPSHOT_BYTES_MAX as u64;
    protocol.snapshot_chunk_bytes = PEER_SNAPSHOT_CHUNK_BYTES as u64;
    // A transfer waits for the snapshotter to encode the tree (seconds at a million znodes):
    // it may make no progress for as long as Apache lets a synchronization take (initLimit).
    protocol.snapshot_stall_ticks = protocol.snapshot_stall_ticks.max(init);
    protocol
        .validate()
        .map_err(|e| format!("ensemble configuration: {e}"))?;

    let (mut initial, restored) = restore(store_dir, me)?;
    set_config_node(&mut initial.tree, config, wall_clock_ms());
    Ok(Prepared {
        secret: ensemble_secret(),
        legacy_secret: legacy_ensemble_secret(&voters),
        initial,
        settings: EnsembleSettings {
            replica: ReplicaSettings {
                protocol,
                peer_tick,
                dir: store_dir.to_owned(),
                config_file: config.config_file.clone(),
            },
            start: ReplicaStart { restored },
            transport: Some(TransportSettings {
                me,
                listen_quorum: own.quorum_addrs(),
                listen_election: own.election_addrs(),
                peers,
                frame_bytes_max: PEER_FRAME_BYTES_MAX,
                send_queue_max: PEER_SEND_QUEUE_MAX,
                connect_retry: std::time::Duration::from_millis(100),
                stall_timeout,
                silence_timeout,
                security: config.quorum_security.clone(),
                accept_joiners: config.reconfig_enabled,
            }),
        },
    })
}

/// Gives `/zookeeper/config` this member's view of the ensemble, as Apache's
/// `initConfigInZKDatabase` does when a quorum member starts: the member list in
/// `QuorumMaj.toString`'s form, data version -1, mzxid the configuration's version and
/// mtime the time of the start. A standalone server leaves the node empty, as Apache's.
pub fn set_config_node(tree: &mut ringkeeper_engine::tree::DataTree, config: &Config, now_ms: i64) {
    if !config.is_ensemble() {
        return;
    }
    let data = config.render_membership();
    tree.set_config_data(
        data.as_bytes(),
        config.dynamic_config_version as i64,
        now_ms,
    );
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A standalone server is an ensemble of one: the same protocol with itself as the only
/// voter, so its quorum is immediate and every write takes the one write path. It opens no
/// peer port. Its data directory may hold no epoch file (a server from before ensembles,
/// or one `ringkeeper-import` made from Apache's): the epochs then start from the zxids the
/// directory holds, as for any member.
pub fn prepare_standalone(
    me: ServerId,
    store_dir: &Path,
    log_window: u64,
    batch_txns_max: u64,
) -> Result<(InitialState, EnsembleSettings), String> {
    let mut protocol = ringkeeper_replication::Config::new(me, vec![me]);
    protocol.log_window_entries_max = log_window as usize;
    protocol.retransmit_entries_max = (log_window as usize).min(10_000);
    // Group commit: one batch is written while the next gathers, and each may hold
    // batch_txns_max transactions; the protocol must let that many be outstanding.
    let batch = usize::try_from(batch_txns_max).unwrap_or(usize::MAX);
    protocol.proposals_outstanding_max = protocol
        .proposals_outstanding_max
        .max(batch.saturating_mul(2));
    protocol
        .validate()
        .map_err(|e| format!("standalone configuration: {e}"))?;
    let (initial, restored) = restore(store_dir, me)?;
    let settings = EnsembleSettings {
        replica: ReplicaSettings {
            protocol,
            // Nobody to heartbeat or time out: a one-voter member needs no protocol tick.
            peer_tick: Duration::ZERO,
            dir: store_dir.to_owned(),
            // A standalone server takes no reconfiguration.
            config_file: None,
        },
        start: ReplicaStart { restored },
        transport: None,
    };
    Ok((initial, settings))
}

/// Reads the epoch file and the snapshot plus log tail: the sequencer starts from the
/// snapshot, and the protocol from the epochs and the tail (it applies what is committed).
fn restore(store_dir: &Path, me: ServerId) -> Result<(InitialState, Restored), String> {
    let epochs = epochs::load_at(store_dir).map_err(|e| format!("{}: {e}", store_dir.display()))?;
    let dir = FsDir::open(store_dir).map_err(|e| format!("{}: {e}", store_dir.display()))?;
    restore_from(&dir, epochs, me)
        .map_err(|e| format!("loading {} for replication: {e}", store_dir.display()))
}

/// [`restore`] over any storage directory, with the epochs already read: the whole-server
/// simulator (`crate::sim`) restarts its members through it over a simulated disk.
pub fn restore_from(
    dir: &dyn StorageDir,
    epochs: ringkeeper_replication::EpochState,
    me: ServerId,
) -> Result<(InitialState, Restored), String> {
    let start = load_for_replication(dir).map_err(|e| e.to_string())?;
    let held_zxid = start
        .tail
        .last()
        .map_or(start.snapshot_zxid, |t| t.zxid.max(start.snapshot_zxid));
    let epochs = epochs_covering(epochs, held_zxid);
    let entries: Vec<Entry> = start
        .tail
        .iter()
        .map(|t| Entry {
            zxid: t.zxid,
            payload: t.to_bytes().into(),
        })
        .collect();
    tracing::info!(
        me,
        snapshot = format_args!("0x{:x}", start.snapshot_zxid),
        tail = entries.len(),
        accepted_epoch = epochs.accepted_epoch,
        current_epoch = epochs.current_epoch,
        "restoring the protocol's state"
    );
    let restored = Restored {
        epochs,
        snapshot_zxid: start.snapshot_zxid,
        entries,
    };
    let initial = InitialState {
        tree: start.tree,
        sessions: start.sessions,
        last_zxid: start.snapshot_zxid,
    };
    Ok((initial, restored))
}

/// A member's epochs never lag the zxids it holds. They can after a first start that
/// imported Apache's data (its zxids carry Apache's epochs, and no epoch file exists
/// yet): a leader picking "highest accepted epoch + 1" would then issue zxids below the
/// imported ones.
fn epochs_covering(
    mut epochs: ringkeeper_replication::EpochState,
    held_zxid: ringkeeper_engine::Zxid,
) -> ringkeeper_replication::EpochState {
    let held_epoch = ringkeeper_replication::zxid::epoch_of(held_zxid);
    if epochs.accepted_epoch < held_epoch {
        epochs.accepted_epoch = held_epoch;
        // No leader proposed this epoch to us.
        epochs.accepted_leader = None;
    }
    epochs.current_epoch = epochs.current_epoch.max(held_epoch);
    epochs
}

/// The protocol's configuration of a member, with the server's reader of reconfiguration
/// payloads (`Reconfig` txns, [`crate::reconfig::read_membership`]).
fn protocol_with_reader(
    me: ringkeeper_replication::ServerId,
    voters: Vec<ringkeeper_replication::ServerId>,
) -> ringkeeper_replication::Config {
    let mut protocol = ringkeeper_replication::Config::new(me, voters);
    protocol.membership_reader =
        ringkeeper_replication::MembershipReader(crate::reconfig::read_membership);
    protocol
}

#[cfg(test)]
mod epochs_tests {
    use super::*;

    #[test]
    fn imported_zxids_raise_the_epochs() {
        let fresh = ringkeeper_replication::EpochState::default();
        let raised = epochs_covering(fresh, (7u64 << 32 | 42) as ringkeeper_engine::Zxid);
        assert_eq!((raised.accepted_epoch, raised.current_epoch), (7, 7));
        assert_eq!(raised.accepted_leader, None);
        let ahead = ringkeeper_replication::EpochState {
            accepted_epoch: 9,
            accepted_leader: Some(2),
            current_epoch: 8,
            ..Default::default()
        };
        let kept = epochs_covering(ahead, (7u64 << 32) as ringkeeper_engine::Zxid);
        assert_eq!(kept, ahead);
    }
}
