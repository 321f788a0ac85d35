//! The executor's side of a shard: it calls the pure [`ShardState`] and carries out the
//! effects each call leaves (see `state.rs` for their contract), holding everything the
//! state must not: each connection's writer queue and handshake waiter, the four-letter
//! words waiting for a gather, the connection tasks to hang up, the clock and the role.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Instant;

use glommio::channels::local_channel::LocalSender;

use super::backlog::ConnBacklog;
use super::counters::Asker;
use super::hangup::Hangups;
use super::state::{Effect, Handshake, HandshakeOutcome, ShardState};
use crate::fourlw::Command;
use crate::messages::{ConnId, Gathered, ToSequencer, ToShard};
use crate::notify::Notify;

/// What the writer task is asked to do.
pub enum Out {
    Frame(Vec<u8>),
    /// Flush what is queued, then close the socket.
    Close,
    /// Write out what the transport holds (a TLS connection's alerts and answers to the
    /// peer's control messages); only TLS connections send it.
    Flush,
}

/// A shard's state together with the channels its effects go to. It dereferences to the
/// state, so reads of the state's fields go straight through; every call that can leave
/// effects goes through one of the methods here, which drain them before returning.
pub struct Shard {
    state: ShardState,
    outs: HashMap<ConnId, Rc<LocalSender<Out>>>,
    handshakes: HashMap<ConnId, LocalSender<HandshakeOutcome>>,
    gathers: HashMap<u64, LocalSender<Gathered>>,
    /// Every connection task, registered or not, so that stopping the shard ends them all.
    pub(super) hangups: Hangups,
    /// Notified after each message from the sequencer: what a handshake that waits for this
    /// shard to catch up waits for.
    pub(super) applied: Rc<Notify>,
}

impl Deref for Shard {
    type Target = ShardState;
    fn deref(&self) -> &ShardState {
        &self.state
    }
}

impl DerefMut for Shard {
    fn deref_mut(&mut self) -> &mut ShardState {
        &mut self.state
    }
}

impl Shard {
    pub fn new(state: ShardState) -> Self {
        Self {
            state,
            outs: HashMap::new(),
            handshakes: HashMap::new(),
            gathers: HashMap::new(),
            hangups: Hangups::default(),
            applied: Rc::new(Notify::new()),
        }
    }

    /// Carries out the effects the last call left, in order.
    fn carry_out(&mut self) {
        for effect in self.state.take_effects() {
            match effect {
                Effect::Frame(conn, frame) => {
                    if let Some(out) = self.outs.get(&conn) {
                        let _ = out.try_send(Out::Frame(frame));
                    }
                }
                Effect::Close(conn) => {
                    if let Some(out) = self.outs.get(&conn) {
                        let _ = out.try_send(Out::Close);
                    }
                }
                Effect::Handshake(conn, outcome) => {
                    if let Some(h) = self.handshakes.remove(&conn) {
                        let _ = h.try_send(outcome);
                    }
                }
                Effect::Gathered(token, gathered) => {
                    if let Some(w) = self.gathers.remove(&token) {
                        let _ = w.try_send(*gathered);
                    }
                }
                Effect::Fatal(line) => {
                    tracing::error!("{line}");
                    crate::shutdown::request();
                }
            }
        }
    }

    /// The role is read here, by the executor, and handed to the state as a value.
    fn refresh_role(&mut self) {
        self.state.set_serving(crate::replica::role::serving());
        self.state.set_read_only(crate::replica::role::read_only());
    }

    /// The handshake's message for the sequencer; a read-only session is settled in the
    /// shard instead, and its answer goes out here.
    pub(super) fn connect_message(&mut self, conn: ConnId) -> Option<ToSequencer> {
        let msg = self.state.connect_message(conn);
        self.carry_out();
        msg
    }

    pub(super) fn begin_handshake(
        &mut self,
        frame: &[u8],
        peer: Option<SocketAddr>,
        out: Rc<LocalSender<Out>>,
        backlog: Rc<ConnBacklog>,
        handshake: LocalSender<HandshakeOutcome>,
    ) -> Result<Handshake, String> {
        self.refresh_role();
        let now_ms = crate::sequencer::now_ms();
        let begun = self.state.begin_handshake(frame, peer, backlog, now_ms);
        if let Ok(h) = &begun {
            self.outs.insert(h.conn, out);
            self.handshakes.insert(h.conn, handshake);
        }
        self.carry_out();
        begun
    }

    pub(super) fn on_request(
        &mut self,
        conn: ConnId,
        frame: &[u8],
    ) -> Result<Option<ToSequencer>, String> {
        let outcome = self.state.on_request(conn, frame, Instant::now());
        self.carry_out();
        outcome
    }

    pub fn on_sequencer(&mut self, msg: ToShard) -> Option<ToSequencer> {
        let reply = self.state.on_sequencer(msg, Instant::now());
        self.carry_out();
        self.applied.notify();
        reply
    }

    /// Forgets a connection and its channels.
    pub(super) fn remove_conn(&mut self, conn: ConnId) -> Option<ToSequencer> {
        let gone = self.state.remove_conn(conn);
        self.carry_out();
        self.outs.remove(&conn);
        self.handshakes.remove(&conn);
        gone
    }

    pub fn close_all(&mut self) {
        self.state.close_all();
        self.carry_out();
    }

    pub fn four_letter_word(
        &mut self,
        cmd: Command,
        asker: Asker,
        gathered: Option<&Gathered>,
    ) -> String {
        self.refresh_role();
        super::stats::four_letter_word(&mut self.state, cmd, asker, gathered)
    }

    /// Starts a server-wide gather; the answer arrives on `waiter`.
    pub(super) fn begin_gather(&mut self, waiter: LocalSender<Gathered>) -> ToSequencer {
        let msg = self.state.begin_gather();
        if let ToSequencer::Gather { token, .. } = &msg {
            self.gathers.insert(*token, waiter);
        }
        msg
    }

    pub(super) fn end_gather(&mut self, token: u64) {
        self.state.end_gather(token);
        self.gathers.remove(&token);
    }
}
