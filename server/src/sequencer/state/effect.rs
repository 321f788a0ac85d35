//! What the sequencer's state machine asks its executor to do. `SequencerState` does no
//! I/O: every call (`handle`, `tick`, `peer_tick`, `on_peer_message`, `on_peer_app`,
//! `on_peer_disconnected`, `on_log_durable`, `on_log_failed`, `shutdown`) pushes effects
//! into a buffer that the executor (`crate::sequencer::run`) drains with
//! `SequencerState::take_effects` right after the call, and carries out in order. Log
//! records are not effects: they gather in the open group-commit batch, which the
//! committer takes with `take_batch`.
//!
//! The contract, which the executor and any simulator must keep:
//! - **In order.** Effects are carried out in the order they were pushed, and those of one
//!   call before anything of the next call. The shards' streams are in zxid order because of
//!   it, and `Released` follows the commits it covers.
//! - **Persist, then send.** Nothing here waits for durability: the protocol commits (and
//!   the state pushes the commits, replies and acks that follow) only after
//!   `on_log_durable`, which the committer calls only after the batch's fdatasync. An
//!   effect is therefore always free to go out at once.
//! - **Epochs before what follows.** `SaveEpochs` must be durable before any later effect
//!   is carried out: the protocol's promises must not be heard of before they are kept. If
//!   it fails, the executor carries out nothing more of the list and reports it with
//!   `SequencerState::on_fatal`.
//! - **Fatal** stops the server; everything after it in the list is dropped.

use ringkeeper_engine::Zxid;
use ringkeeper_replication::{EpochState, Message, ServerId};

use crate::messages::{ShardId, ToShard};
use crate::replica::role::ServingRole;

#[derive(Debug)]
pub enum Effect {
    /// A message for a shard's queue (or the snapshotter's, after the shards).
    ToShard(ShardId, ToShard),
    /// Every shard's queue now holds the commits up to this zxid: the released watermark
    /// (`crate::watermark`) may rise to it.
    Released(Zxid),
    /// A protocol message for another member.
    PeerSend(ServerId, Message),
    /// One of the server's own messages (`crate::replica::app`, encoded) for another member.
    PeerApp(ServerId, Vec<u8>),
    /// Open a new connection to this member for what follows (a new role), as Apache does.
    FreshLink(ServerId),
    /// Write the epoch file durably before carrying out anything after this.
    SaveEpochs(EpochState),
    /// A committed reconfiguration is active on this member: write it down as Apache's
    /// member does, `<zoo.cfg>.dynamic.<hex version>` with these server lines and zoo.cfg
    /// naming it (`config::dynamic_file::write`), so that a restart comes back with it.
    /// Nothing after it waits for it: the configuration is already durable in the log.
    WriteDynamicConfig { version: u64, servers: Vec<String> },
    /// This server's role changed: the shards and the four-letter words read it. A
    /// standalone server (an ensemble of one) never emits it and stays `standalone`.
    SetRole(ServingRole),
    /// This server cannot go on: stop it (the reason is for the log).
    Fatal(String),
}

/// Tests compare effect lists exactly. `ToShard` carries shard reports whose types (four-
/// letter-word tables, histograms) have no `PartialEq`; their `Debug` form prints every
/// field, so comparing it is an exact comparison.
#[cfg(test)]
impl PartialEq for Effect {
    fn eq(&self, other: &Effect) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}
