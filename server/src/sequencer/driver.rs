//! The sequencer's executor side: it owns the I/O the state machine only asks for (see
//! `state::Effect`): the shards' queues, the peer transport, the epoch file, the serving
//! role and the released watermark. Every call into the state goes through
//! [`Driver::call`], which carries out that call's effects, in order, before it returns.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use tracing::{error, info};

use super::outbox::Outboxes;
use super::state::{Effect, SequencerState};
use crate::notify::Notify;
use crate::replica::PeerSink;

/// What carries out the effects.
pub struct Io {
    /// One per shard, then the snapshotter's; closed at shutdown, which ends the
    /// forwarding tasks once they have drained.
    pub outboxes: Outboxes,
    pub peers: Rc<dyn PeerSink>,
    pub released: crate::watermark::Watermark,
    /// Where the epoch file lives.
    pub epochs_dir: PathBuf,
}

pub struct Driver {
    pub state: RefCell<SequencerState>,
    pub io: Io,
    /// Notified after every call into the state, whenever the committer takes a batch and
    /// whenever a shard's queue falls back under its bound: the events that can let a
    /// waiting reader take its next message.
    pub progress: Rc<Notify>,
}

impl Driver {
    /// Runs one call into the state machine, then carries out what it asked for.
    pub fn call<R>(&self, f: impl FnOnce(&mut SequencerState) -> R) -> R {
        let (result, effects) = {
            let mut state = self.state.borrow_mut();
            let result = f(&mut state);
            (result, state.take_effects())
        };
        self.carry_out(effects);
        self.progress.notify();
        result
    }

    /// Whether the sequencer may take in a new message from a shard: its open batch has
    /// room (see `SequencerState::batch_full`) and so has every shard's queue.
    pub fn may_take_work(&self) -> bool {
        !self.state.borrow().batch_full() && self.io.outboxes.has_room()
    }

    /// Takes the open batch for the committer; readers waiting for room may go on.
    pub fn take_batch(&self) -> Option<super::state::Batch> {
        let batch = self.state.borrow_mut().take_batch();
        if batch.is_some() {
            self.progress.notify();
        }
        batch
    }

    fn carry_out(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                // Never refused: the bound is kept by what the sequencer takes in (see
                // `outbox`), never by dropping what it decided.
                Effect::ToShard(shard, msg) => self.io.outboxes.push(shard, msg),
                Effect::Released(zxid) => self.io.released.raise(zxid),
                Effect::PeerSend(to, message) => self.io.peers.send(to, &message),
                Effect::PeerApp(to, data) => self.io.peers.send_app(to, data),
                Effect::FreshLink(to) => self.io.peers.fresh_link(to),
                Effect::SaveEpochs(epochs) => {
                    if let Err(e) = crate::replica::epochs::save_at(&self.io.epochs_dir, &epochs) {
                        // The protocol's promises must be durable before anyone hears of
                        // them; without the file this member cannot take part safely.
                        error!(error = %e, "cannot save the epoch file; stopping");
                        self.state.borrow_mut().on_fatal();
                        crate::shutdown::request();
                        return;
                    }
                }
                Effect::WriteDynamicConfig { version, servers } => {
                    // The transport follows the configuration: links to added members,
                    // none to removed ones.
                    self.io.peers.set_members(&servers);
                    self.write_dynamic_config(version, &servers)
                }
                Effect::SetRole(role) => {
                    crate::replica::role::set(role);
                    // Election and availability times for the metrics port.
                    crate::metrics::quorum::role_set(role);
                }
                Effect::Fatal(_) => {
                    // The state logged the reason when it decided.
                    crate::shutdown::request();
                    return;
                }
            }
        }
    }

    /// Writes an activated configuration down (`config::dynamic_file::write`). A failure is
    /// logged and not fatal, as Apache's member logs it and goes on: the reconfiguration is
    /// committed and durable in the log and the snapshots whatever happens to the file, so
    /// this member stays a correct member of the new ensemble; only its next restart would
    /// come back with the old zoo.cfg's membership, which the operator can fix by hand
    /// (docs/operations.md). Stopping instead would take a healthy member out of the
    /// ensemble for a file that only a restart reads.
    fn write_dynamic_config(&self, version: u64, servers: &[String]) {
        let Some((config_file, my_id)) = self.state.borrow().replica().config_file() else {
            return;
        };
        let config_file = &config_file;
        match crate::config::dynamic_file::write(config_file, my_id, version, servers) {
            Ok(path) => info!(
                file = %path.display(),
                config = %config_file.display(),
                version = format_args!("{version:x}"),
                "wrote the new configuration"
            ),
            Err(e) => error!(
                error = %e,
                config = %config_file.display(),
                version = format_args!("{version:x}"),
                "cannot write the new configuration down; a restart would come back with \
                 the old membership until zoo.cfg is fixed"
            ),
        }
    }

    /// Tells the shards to stop and closes their queues.
    pub fn shutdown(&self) {
        self.call(|s| s.shutdown());
        self.io.outboxes.close();
    }
}
