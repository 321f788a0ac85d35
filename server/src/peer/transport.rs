//! Connections between ensemble members: frames of `ringkeeper_replication::wire` over TCP on
//! the quorum and election ports of `server.N` lines. Everything runs on the executor that
//! calls [`Transport::start`] (the sequencer's); the protocol state machine never sees a socket.
//!
//! Connection model (docs/peer-protocol.md has the full description):
//! - Each server dials its own outbound connections, two per peer: one to the peer's election
//!   port carrying `Vote`, one to its quorum port carrying every other message and `App`
//!   frames. The first frame on each is `Hello { server_id, protocol_version, addresses }`.
//! - Inbound connections are read-only: the acceptor reads the Hello, checks the id is a
//!   peer it knows and the version is ours, then decodes frames and pushes [`Inbound`].
//! - Peers change at run time (dynamic reconfiguration): with `accept_joiners`
//!   (reconfigEnabled) a Hello from a server that is not a peer but names its addresses
//!   makes it one (at most [`JOINERS_MAX`]; forgotten when its last inbound connection
//!   ends), dialed back there; [`Transport::set_members`] follows each configuration that
//!   activates (links to added members, none to removed ones).
//!   No frame is ever written back, so there is no tie-breaking between two servers dialing
//!   each other at once (ZooKeeper's QuorumCnxManager needs one because it shares a socket).
//! - With `sslQuorum` or quorum SASL, TLS and the authentication come before the Hello on
//!   every connection (`secure.rs`): the only bytes an acceptor writes. A connection that
//!   fails them is closed before a frame of it is decoded.
//! - The protocol tolerates loss, so the transport never retries a message: a link that is
//!   down drops what is sent to it (counted) and redials every `connect_retry`; a full link
//!   queue drops too. A frame error closes that connection (logged with the peer id); the
//!   sender reconnects.
//! - A stalled link is redialed, not waited out: outbound sockets carry TCP_USER_TIMEOUT
//!   and a write deadline of `stall_timeout`, so a connection whose data goes unacknowledged
//!   that long (a partition, a peer that stopped reading) ends and a fresh one is dialed. A
//!   connection that lived through a partition would otherwise stay in retransmission backoff
//!   (seconds between retries, doubling) long after the network healed. A new connection from
//!   a peer supersedes its older one on the same port, which is closed: after a partition
//!   nothing ever arrives on the old one to tell the receiver it is dead.
//! - Heartbeats with a deadline: the protocol makes every pair of members that talk exchange
//!   messages every few ticks (pings and their acks, votes and their answers), so a link on
//!   which we keep sending while nothing at all has arrived from that peer for
//!   `silence_timeout` is dead even if its kernel still takes our data (a middlebox or proxy
//!   that acknowledges and drops). It is redialed, as Apache's learner gives up a socket that
//!   stayed silent for syncLimit ticks and connects again. Silence is counted from the first
//!   write nothing has been heard after, not from the last thing heard: a link that had
//!   nothing to say (the election link between two followers) is not dead when it speaks
//!   again, and closing it there lost the first votes of an election.
//! - A new election round is sent on fresh election connections, as Apache opens new ones
//!   when a member changes role: the old ones may sit in retransmission backoff after a
//!   partition, and a vote lost there costs an election attempt.
//! - multiAddress: a peer whose `server.N` line gives several addresses is dialed at one of
//!   them; a failed dial or a lost connection (refused, stalled, silent) moves the link to
//!   the next, so an unreachable address costs one `connect_retry` or one deadline. We listen
//!   on every address of our own line.
//! - Everything is bounded: frame size (`frame_bytes_max`, both directions), per-link queue
//!   (`send_queue_max` messages; a snapshot travels as the protocol's chunks, each a frame), inbound
//!   connections ([`INBOUND_PER_PEER_MAX`] per configured peer), the inbound channel
//!   ([`INBOUND_QUEUE_MAX`]; a full channel stops the readers, and TCP pushes back on the
//!   senders, whose queues then drop).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Semaphore;
use ringkeeper_replication::wire::{
    self, Encoder, FrameDecoder, FrameKind, Hello, OutFrame, PROTOCOL_VERSION,
};
use ringkeeper_replication::{Message, ServerId};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{debug, info, warn};

use super::conn::PeerConn;
use super::secure::{
    secure_accepted, secure_dialed, PeerSecurity, Refused, DIALED_HANDSHAKE_TIMEOUT,
};

/// Inbound connections accepted per configured peer (over both ports): enough for a
/// reconnect to overlap a connection the kernel has not yet reported closed.
pub const INBOUND_PER_PEER_MAX: usize = 4;
/// Messages waiting in the channel returned by [`Transport::start`].
pub const INBOUND_QUEUE_MAX: usize = 4096;
/// The longest a dial may take before it counts as failed; `stall_timeout` shortens it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an inbound connection may take to send its Hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds of `stall_timeout`: below the minimum, ordinary retransmissions (the kernel's
/// 200 ms minimum RTO, twice) would end healthy links.
pub const STALL_TIMEOUT_MIN: Duration = Duration::from_millis(500);
pub const STALL_TIMEOUT_MAX: Duration = Duration::from_secs(60);
/// Servers that are not members but were accepted from their Hello (joiners, removed
/// members still running) at once; more are refused until one goes away.
pub const JOINERS_MAX: usize = 16;
/// Bytes asked of the socket per read.
const READ_BYTES: usize = 64 * 1024;
/// Frames are coalesced into one write up to about this many bytes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Smallest accepted `frame_bytes_max`: a snapshot chunk needs room beyond its header.
pub const FRAME_BYTES_MIN: usize = 4096;
/// Bytes of a chunk frame that are not snapshot data, with a wide margin.
pub const CHUNK_OVERHEAD_BYTES: usize = 1024;

/// One other member of the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEndpoint {
    pub id: u64,
    /// host:port of its quorum port, one per address of its `server.N` line (several with
    /// multiAddress), in the line's order: dialed in turn, the next one after a failure.
    pub quorum: Vec<String>,
    /// host:port of its election port, likewise.
    pub election: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TransportSettings {
    pub me: u64,
    /// Where to listen: every address of our own `server.N` line (several with
    /// multiAddress), so that a peer can reach us over any of them.
    pub listen_quorum: Vec<String>,
    pub listen_election: Vec<String>,
    /// Every other member (not `me`).
    pub peers: Vec<PeerEndpoint>,
    /// The largest frame sent or accepted, its 8 header bytes included.
    pub frame_bytes_max: usize,
    /// Messages queued per outbound link before new ones are dropped.
    pub send_queue_max: usize,
    /// Pause between dials of a link that is down.
    pub connect_retry: Duration,
    /// How long sent data may go unacknowledged, or a write block, before the link is
    /// dropped and redialed; also the dial timeout (capped by [`CONNECT_TIMEOUT`]).
    pub stall_timeout: Duration,
    /// How long a link we keep sending on may go without hearing anything from its peer
    /// (over either port) before it is dropped and redialed.
    pub silence_timeout: Duration,
    /// TLS and SASL on every link (`sslQuorum`, `quorum.auth.*`); the default is plain.
    pub security: PeerSecurity,
    /// `reconfigEnabled`: a Hello from a server that is not a peer is accepted (after TLS
    /// and SASL, when on) if it names its addresses, and that server is dialed back, up to
    /// [`JOINERS_MAX`] such servers; otherwise only configured peers are.
    pub accept_joiners: bool,
}

impl TransportSettings {
    fn validate(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.frame_bytes_max < FRAME_BYTES_MIN || self.frame_bytes_max > wire::FRAME_BYTES_LIMIT
        {
            return bad(format!(
                "peer frame_bytes_max {} is outside {FRAME_BYTES_MIN} ..= {}",
                self.frame_bytes_max,
                wire::FRAME_BYTES_LIMIT
            ));
        }
        if self.send_queue_max == 0 {
            return bad("peer send_queue_max must be greater than zero".into());
        }
        if self.connect_retry.is_zero() {
            return bad("peer connect_retry must be greater than zero".into());
        }
        if !(STALL_TIMEOUT_MIN..=STALL_TIMEOUT_MAX).contains(&self.stall_timeout) {
            return bad(format!(
                "peer stall_timeout {:?} is outside {STALL_TIMEOUT_MIN:?} ..= {STALL_TIMEOUT_MAX:?}",
                self.stall_timeout
            ));
        }
        if self.silence_timeout < self.stall_timeout {
            return bad(format!(
                "peer silence_timeout {:?} is shorter than stall_timeout {:?}",
                self.silence_timeout, self.stall_timeout
            ));
        }
        if self.listen_quorum.is_empty() || self.listen_election.is_empty() {
            return bad("no address to listen on for the peer ports".into());
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.peers {
            if p.quorum.is_empty() || p.election.is_empty() {
                return bad(format!("peer {} has no address", p.id));
            }
            if p.id == self.me {
                return bad(format!("peer list includes this server ({})", p.id));
            }
            if !seen.insert(p.id) {
                return bad(format!("peer {} is listed twice", p.id));
            }
        }
        Ok(())
    }
}

/// What arrives from peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Protocol {
        from: u64,
        message: Message,
    },
    App {
        from: u64,
        data: Vec<u8>,
    },
    /// A peer's quorum connection to us ended (EOF, reset or a frame error): the peer died,
    /// restarted or the network broke. A follower uses it to stop waiting for a dead leader.
    Disconnected {
        from: u64,
    },
}

/// Counters since start; `links_up` and `inbound_connections` are current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Frames written to sockets (a snapshot counts once per chunk), and their bytes.
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Frames read and verified, and the bytes read from inbound sockets.
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Messages `send`/`send_app` dropped: unknown peer, link down, queue full, too large for
    /// a frame, transport stopped, or queued on a link that then broke.
    pub frames_dropped: u64,
    /// Inbound connections closed for a bad frame, a bad Hello or a Hello timeout.
    pub connection_errors: u64,
    /// Inbound connections closed because the same peer connected again on the same port.
    pub inbound_superseded: u64,
    /// Inbound connections refused because the limit was reached.
    pub inbound_refused: u64,
    /// Outbound links connected now (at most two per peer).
    pub links_up: u64,
    /// Inbound connections open now.
    pub inbound_connections: u64,
    /// Peers added at run time: from a joiner's Hello, or by a new configuration.
    pub peers_added: u64,
    /// Peers dropped at run time: left a configuration, or a joiner whose connections ended.
    pub peers_removed: u64,
}

/// The peer transport. Cheap to clone (one `Rc`); every clone is the same transport.
#[derive(Clone)]
pub struct Transport {
    inner: Rc<Inner>,
}

enum Outgoing {
    Message(Message),
    App(Vec<u8>),
}

/// One outbound connection (to one port of one peer) and its queue.
struct Link {
    peer: ServerId,
    port: &'static str,
    /// The peer's addresses for this port, dialed in turn; `current` is the one in use.
    addrs: Vec<String>,
    current: Cell<usize>,
    queue: RefCell<VecDeque<Outgoing>>,
    up: Cell<bool>,
    /// The connection generation the EOF watcher found closed.
    broken: Cell<u64>,
    /// A fresh connection was asked for ([`Transport::fresh_link`]): the link stays up and
    /// keeps its queue for the new connection.
    fresh: Cell<bool>,
    /// When the current connection was made (its Hello written).
    connected_at: Cell<Option<Instant>>,
    /// The newest election round sent on this link (election links only): a newer one asks
    /// for a fresh connection.
    vote_round: Cell<u64>,
    /// The newest vote sent while the link was down (election links only), sent first once
    /// it is up, as Apache's QuorumCnxManager sends a new connection the last message it
    /// had for that server. A member starting up votes before its links are made; without
    /// this its first vote was lost and the election waited for the protocol's next resend.
    held_vote: RefCell<Option<Outgoing>>,
    /// The peer was dropped ([`Transport::set_members`], or a joiner that went away): the
    /// link's task ends.
    removed: Cell<bool>,
    kick: LocalSender<()>,
}

impl Link {
    fn addr(&self) -> &str {
        &self.addrs[self.current.get() % self.addrs.len()]
    }

    /// After a failed dial or a lost connection the next dial tries the next address: one of
    /// several may be unreachable (multiAddress failover).
    fn next_addr(&self) {
        self.current
            .set((self.current.get() + 1) % self.addrs.len());
    }

    fn wake(&self) {
        // A full kick channel already holds a wake-up; nothing is lost.
        let _ = self.kick.try_send(());
    }
}

/// How the transport came to know a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// From zoo.cfg at start, or from a configuration that activated since.
    Configured,
    /// From its Hello (a joiner): dropped when its last inbound connection ends.
    Hello,
}

/// The two outbound links to one peer.
struct PeerLinks {
    election: Rc<Link>,
    quorum: Rc<Link>,
    origin: Cell<Origin>,
}

struct Inner {
    settings: TransportSettings,
    /// Per peer: its links. Peers come and go at run time (joiners, reconfigurations).
    links: RefCell<HashMap<ServerId, PeerLinks>>,
    /// Never has permits; closed by stop(), which wakes every task waiting on it.
    stop: Semaphore,
    stopped: Cell<bool>,
    inbound_tx: RefCell<Option<Rc<LocalSender<Inbound>>>>,
    local: (SocketAddr, SocketAddr),
    stats: RefCell<TransportStats>,
    /// The newest inbound connection per (peer, port), by a signal that closes it when a
    /// newer one arrives.
    inbound_current: RefCell<HashMap<(ServerId, &'static str), Rc<Semaphore>>>,
    /// When bytes last arrived from each peer, over any inbound connection.
    last_heard: RefCell<HashMap<ServerId, Instant>>,
}

impl Inner {
    /// Runs `f` unless the transport stops first (then `None`).
    async fn until_stop<T>(&self, f: impl Future<Output = T>) -> Option<T> {
        if self.stopped.get() {
            return None;
        }
        future::or(async { Some(f.await) }, async {
            let _ = self.stop.acquire(1).await;
            None
        })
        .await
    }

    fn count(&self, f: impl FnOnce(&mut TransportStats)) {
        f(&mut self.stats.borrow_mut());
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        )
    })
}

/// A listener without SO_REUSEPORT (glommio's own bind sets it), so that a port already in
/// use is an error instead of a silently shared port.
fn bind(addr: &str) -> io::Result<TcpListener> {
    let addr = resolve(addr)?;
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&SockAddr::from(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("binding peer port {addr}: {e}")))?;
    sock.listen(128)?;
    Ok(crate::net::listener::into_glommio(sock.into()))
}

fn bind_all(addrs: &[String]) -> io::Result<Vec<TcpListener>> {
    addrs.iter().map(|a| bind(a)).collect()
}

impl Transport {
    /// Binds the listeners, one per listen address of each port (error if one cannot be
    /// bound), spawns the accept and link tasks
    /// on the current executor.
    pub async fn start(
        settings: TransportSettings,
    ) -> io::Result<(Transport, LocalReceiver<Inbound>)> {
        settings.validate()?;
        let quorum = bind_all(&settings.listen_quorum)?;
        let election = bind_all(&settings.listen_election)?;
        let local = (quorum[0].local_addr()?, election[0].local_addr()?);
        let (tx, rx) = local_channel::new_bounded(INBOUND_QUEUE_MAX);
        let peers = settings.peers.clone();
        let inner = Rc::new(Inner {
            settings,
            links: RefCell::new(HashMap::new()),
            stop: Semaphore::new(0),
            stopped: Cell::new(false),
            inbound_tx: RefCell::new(Some(Rc::new(tx))),
            local,
            stats: RefCell::new(TransportStats::default()),
            inbound_current: RefCell::new(HashMap::new()),
            last_heard: RefCell::new(HashMap::new()),
        });
        info!(
            me = inner.settings.me,
            quorum = %local.0,
            election = %local.1,
            peers = inner.settings.peers.len(),
            "peer transport listening"
        );
        for listener in quorum {
            glommio::spawn_local(run_acceptor(inner.clone(), listener, "quorum")).detach();
        }
        for listener in election {
            glommio::spawn_local(run_acceptor(inner.clone(), listener, "election")).detach();
        }
        for p in &peers {
            add_peer(&inner, p, Origin::Configured);
        }
        Ok((Transport { inner }, rx))
    }

    /// The members of a configuration that activated: a member the transport has no link to
    /// gets one (dialed at once), one at other addresses is dialed anew there, and a
    /// configured peer that is no longer a member loses its links (what was queued for it is
    /// dropped). Servers known only from their Hello (joiners not added yet) are kept.
    pub fn set_members(&self, members: &[PeerEndpoint]) {
        let inner = &self.inner;
        if inner.stopped.get() {
            return;
        }
        let me = inner.settings.me;
        let wanted: Vec<&PeerEndpoint> = members
            .iter()
            .filter(|m| m.id != me && !m.quorum.is_empty() && !m.election.is_empty())
            .collect();
        let stale: Vec<ServerId> = inner
            .links
            .borrow()
            .iter()
            .filter(|(id, l)| match wanted.iter().find(|w| w.id == **id) {
                None => l.origin.get() == Origin::Configured,
                Some(w) => l.quorum.addrs != w.quorum || l.election.addrs != w.election,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            remove_peer(inner, id);
        }
        for w in wanted {
            let known = inner
                .links
                .borrow()
                .get(&w.id)
                .map(|l| l.origin.set(Origin::Configured))
                .is_some();
            if !known {
                add_peer(inner, w, Origin::Configured);
                inner.count(|s| s.peers_added += 1);
            }
        }
    }

    /// The peers the transport has links to now, sorted.
    pub fn peer_ids(&self) -> Vec<ServerId> {
        let mut ids: Vec<ServerId> = self.inner.links.borrow().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Never blocks: queues the message on the outbound link to `to` (Vote on the election
    /// link, everything else on the quorum link). Dropped, and counted, if `to` is unknown,
    /// the link is down or its queue is full.
    pub fn send(&self, to: u64, message: &Message) {
        let election = matches!(message, Message::Vote { .. });
        if let Message::Vote { round, .. } = message {
            self.fresh_round(to, *round);
        }
        self.enqueue(to, election, || Outgoing::Message(message.clone()));
    }

    /// The first vote of a newer round (a member started looking, or joined a newer
    /// election) goes on a fresh election connection, asked for before the vote is queued so
    /// that the vote travels on it.
    fn fresh_round(&self, to: ServerId, round: u64) {
        let election = self
            .inner
            .links
            .borrow()
            .get(&to)
            .map(|l| l.election.clone());
        if let Some(election) = election {
            if round
                > election
                    .vote_round
                    .replace(round.max(election.vote_round.get()))
            {
                self.fresh(&election);
            }
        }
    }

    /// As [`Self::send`], for the server's own messages (quorum link).
    pub fn send_app(&self, to: u64, data: Vec<u8>) {
        self.enqueue(to, false, || Outgoing::App(data));
    }

    fn enqueue(&self, to: ServerId, election: bool, item: impl FnOnce() -> Outgoing) {
        let inner = &self.inner;
        let link = inner.links.borrow().get(&to).map(|l| {
            if election {
                l.election.clone()
            } else {
                l.quorum.clone()
            }
        });
        let Some(link) = link.filter(|_| !inner.stopped.get()) else {
            inner.count(|s| s.frames_dropped += 1);
            return;
        };
        if election && !link.up.get() {
            // Only the newest vote matters: it replaces any held before.
            *link.held_vote.borrow_mut() = Some(item());
            return;
        }
        let mut queue = link.queue.borrow_mut();
        if !link.up.get() || queue.len() >= inner.settings.send_queue_max {
            drop(queue);
            inner.count(|s| s.frames_dropped += 1);
            return;
        }
        queue.push_back(item());
        drop(queue);
        link.wake();
    }

    /// Replaces the quorum connection to `to` with a fresh one, as Apache's learner opens a
    /// new socket to each leader it follows: a connection that lived through a partition may
    /// sit in TCP retransmission backoff. What is queued, and what is sent while the new
    /// connection is dialed, goes on the new one. A connection younger than `stall_timeout`
    /// is kept: it cannot have stalled yet, and handshakes that repeat must not churn.
    pub fn fresh_link(&self, to: u64) {
        let quorum = self.inner.links.borrow().get(&to).map(|l| l.quorum.clone());
        if let Some(quorum) = quorum {
            self.fresh(&quorum);
        }
    }

    fn fresh(&self, link: &Link) {
        let young = link
            .connected_at
            .get()
            .is_some_and(|at| at.elapsed() < self.inner.settings.stall_timeout);
        if link.up.get() && !young {
            link.fresh.set(true);
            link.wake();
        }
    }

    pub fn stats(&self) -> TransportStats {
        *self.inner.stats.borrow()
    }

    /// The bound (quorum, election) addresses; useful when a port was given as 0.
    pub fn local_addrs(&self) -> (SocketAddr, SocketAddr) {
        self.inner.local
    }

    /// Closes everything: listeners, links and inbound connections; the tasks end, and the
    /// inbound channel ends once the readers have. Messages still queued are dropped.
    pub fn stop(&self) {
        let inner = &self.inner;
        if inner.stopped.replace(true) {
            return;
        }
        inner.stop.close();
        inner.inbound_tx.borrow_mut().take();
        for l in inner.links.borrow().values() {
            l.election.wake();
            l.quorum.wake();
        }
    }
}

/// Makes the two links to `peer` and spawns their tasks (on the current executor).
fn add_peer(inner: &Rc<Inner>, peer: &PeerEndpoint, origin: Origin) {
    let make = |port: &'static str, addrs: &[String]| {
        let (kick, kick_rx) = local_channel::new_bounded(1);
        let link = Rc::new(Link {
            peer: peer.id,
            port,
            addrs: addrs.to_vec(),
            current: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
            up: Cell::new(false),
            broken: Cell::new(0),
            fresh: Cell::new(false),
            connected_at: Cell::new(None),
            vote_round: Cell::new(0),
            held_vote: RefCell::new(None),
            removed: Cell::new(false),
            kick,
        });
        glommio::spawn_local(run_link(inner.clone(), link.clone(), kick_rx)).detach();
        link
    };
    let links = PeerLinks {
        election: make("election", &peer.election),
        quorum: make("quorum", &peer.quorum),
        origin: Cell::new(origin),
    };
    inner.links.borrow_mut().insert(peer.id, links);
    info!(peer = peer.id, ?origin, quorum = ?peer.quorum, election = ?peer.election, "peer added");
}

/// Drops the links to `peer`: their tasks end and what was queued is dropped.
fn remove_peer(inner: &Inner, peer: ServerId) {
    let Some(links) = inner.links.borrow_mut().remove(&peer) else {
        return;
    };
    for link in [&links.election, &links.quorum] {
        link.removed.set(true);
        link.wake();
    }
    inner.count(|s| s.peers_removed += 1);
    info!(peer, "peer removed");
}

/// The most inbound connections open at once: [`INBOUND_PER_PEER_MAX`] per peer the
/// transport knows now, and per joiner it may still accept.
fn inbound_limit(inner: &Inner) -> usize {
    let joiners = if inner.settings.accept_joiners {
        JOINERS_MAX
    } else {
        0
    };
    INBOUND_PER_PEER_MAX * (inner.links.borrow().len() + joiners).max(1)
}

async fn run_acceptor(inner: Rc<Inner>, listener: TcpListener, port: &'static str) {
    while let Some(accepted) = inner.until_stop(listener.accept()).await {
        match accepted {
            Ok(stream) => {
                let limit = inbound_limit(&inner);
                if inner.stats.borrow().inbound_connections >= limit as u64 {
                    inner.count(|s| s.inbound_refused += 1);
                    warn!(
                        port,
                        "peer connection refused: {limit} inbound connections open"
                    );
                    continue;
                }
                let Some(tx) = inner.inbound_tx.borrow().clone() else {
                    break;
                };
                inner.count(|s| s.inbound_connections += 1);
                glommio::spawn_local(run_inbound(inner.clone(), tx, stream, port)).detach();
            }
            Err(e) => {
                // EMFILE and the like: do not spin on a listener that keeps failing.
                warn!(port, "peer accept failed: {e}");
                inner
                    .until_stop(glommio::timer::sleep(Duration::from_millis(100)))
                    .await;
            }
        }
    }
    debug!(port, "peer acceptor stopped");
}

/// What one verified frame asks the reader to do, owned so that the decoder can be used
/// again while it is delivered.
enum Step {
    Deliver(Inbound),
    Nothing,
    Close(String),
}

/// Decrements the open inbound count however the reader ends.
struct InboundGuard(Rc<Inner>);

impl Drop for InboundGuard {
    fn drop(&mut self) {
        self.0.count(|s| s.inbound_connections -= 1);
    }
}

async fn run_inbound(
    inner: Rc<Inner>,
    tx: Rc<LocalSender<Inbound>>,
    stream: TcpStream,
    port: &'static str,
) {
    let _guard = InboundGuard(inner.clone());
    let remote_addr = stream.peer_addr().ok();
    let remote = remote_addr.map_or_else(|| "?".into(), |a| a.to_string());
    let _ = stream.set_nodelay(true);
    // Bounds the TLS handshake and the authentication too: both come before the Hello.
    let _ = stream.set_read_timeout(Some(HELLO_TIMEOUT));
    let settings = &inner.settings;
    let mut decoder = FrameDecoder::new(settings.frame_bytes_max);
    let mut from: Option<ServerId> = None;
    // Never has permits; closed when a newer connection from the same peer and port arrives.
    let superseded = Rc::new(Semaphore::new(0));
    let close = |from: Option<ServerId>, why: &str| {
        inner.count(|s| s.connection_errors += 1);
        warn!(peer = ?from, %remote, port, "closing peer connection: {why}");
    };
    let Some(mut stream) = accept_secured(&inner, stream, remote_addr, port, &mut decoder).await
    else {
        return;
    };
    'conn: loop {
        loop {
            let step = match decoder.next_frame() {
                Ok(None) => break,
                Err(e) => Step::Close(format!("frame error: {e}")),
                Ok(Some(view)) => {
                    inner.count(|s| s.frames_received += 1);
                    match (from, view.kind()) {
                        (None, FrameKind::Hello) => {
                            let hello = view.hello().unwrap_or(Hello::new(0, 0));
                            accept_hello(&inner, &hello, remote_addr).map_or_else(
                                Step::Close,
                                |()| {
                                    from = Some(hello.server_id);
                                    supersede(&inner, hello.server_id, port, &superseded);
                                    Step::Nothing
                                },
                            )
                        }
                        (None, kind) => Step::Close(format!("{kind:?} before Hello")),
                        (Some(_), FrameKind::Hello) => Step::Close("second Hello".into()),
                        (Some(id), FrameKind::App) => Step::Deliver(Inbound::App {
                            from: id,
                            data: view.app_data().unwrap_or_default().to_vec(),
                        }),
                        (Some(id), _) => match view.to_message() {
                            Some(message) => Step::Deliver(Inbound::Protocol { from: id, message }),
                            None => Step::Nothing,
                        },
                    }
                }
            };
            match step {
                Step::Nothing => {
                    if from.is_some() {
                        let _ = stream.set_read_timeout(None);
                    }
                }
                Step::Close(why) => {
                    close(from, &why);
                    break 'conn;
                }
                Step::Deliver(item) => match inner.until_stop(tx.send(item)).await {
                    Some(Ok(())) => {}
                    // Stopped, or the receiver is gone: nobody wants the messages.
                    _ => break 'conn,
                },
            }
        }
        let buf = decoder.spare(READ_BYTES);
        let read = future::or(async { Some(stream.read(buf).await) }, async {
            let _ = superseded.acquire(1).await;
            None
        });
        match inner.until_stop(read).await {
            None => break,
            Some(None) => {
                inner.count(|s| s.inbound_superseded += 1);
                debug!(peer = ?from, %remote, port, "peer connection superseded by a newer one");
                break;
            }
            Some(Some(Ok(0))) => {
                debug!(peer = ?from, %remote, port, "peer connection closed by the sender");
                break;
            }
            Some(Some(Ok(n))) => {
                if let Some(id) = from {
                    inner.last_heard.borrow_mut().insert(id, Instant::now());
                }
                decoder.filled(n);
                inner.count(|s| s.bytes_received += n as u64);
            }
            Some(Some(Err(e))) => {
                if from.is_none() && e.kind() == io::ErrorKind::TimedOut {
                    close(from, "no Hello in time");
                } else {
                    debug!(peer = ?from, %remote, port, "peer connection read error: {e}");
                }
                break;
            }
        }
    }
    stream.shutdown().await;
    if let Some(id) = from {
        inbound_ended(&inner, &tx, id, port, &superseded);
    }
}

/// After an inbound connection from `id` on `port` ended: if it was the current one, the
/// protocol hears of a quorum disconnection and a joiner with no connection left is
/// forgotten. A superseded connection's end says nothing: the peer is on the newer one.
fn inbound_ended(
    inner: &Inner,
    tx: &LocalSender<Inbound>,
    id: ServerId,
    port: &'static str,
    signal: &Rc<Semaphore>,
) {
    let current = {
        let mut map = inner.inbound_current.borrow_mut();
        let mine = map.get(&(id, port)).is_some_and(|s| Rc::ptr_eq(s, signal));
        if mine {
            map.remove(&(id, port));
        }
        mine
    };
    if !current {
        return;
    }
    forget_gone_joiner(inner, id);
    if port == "quorum" && !inner.stopped.get() {
        // Best effort: a full queue means the sequencer is busy and will notice by timeout.
        let _ = tx.try_send(Inbound::Disconnected { from: id });
    }
}

/// TLS and authentication of an accepted connection (`secure.rs`); `None` if it is refused
/// (logged, and counted unless the dialer just went away) or the transport stops. Bytes read
/// past them that belong to the Hello go into `decoder`.
async fn accept_secured(
    inner: &Inner,
    stream: TcpStream,
    remote: Option<SocketAddr>,
    port: &'static str,
    decoder: &mut FrameDecoder,
) -> Option<PeerConn> {
    let shown = remote.map_or_else(|| "?".into(), |a| a.to_string());
    // One deadline for the whole of TLS and authentication, not only per read: a dialer
    // that trickles a byte at a time would otherwise hold an inbound slot for long.
    let secured = future::or(
        secure_accepted(stream, &inner.settings.security, remote),
        async {
            glommio::timer::sleep(HELLO_TIMEOUT).await;
            Err(Refused::Because(format!(
                "TLS and authentication took over {HELLO_TIMEOUT:?}"
            )))
        },
    );
    match inner.until_stop(secured).await? {
        Err(Refused::Because(why)) => {
            inner.count(|s| s.connection_errors += 1);
            warn!(remote = %shown, port, "closing peer connection: {why}");
            None
        }
        Err(Refused::Gone(why)) => {
            debug!(remote = %shown, port, "peer connection ended before its Hello: {why}");
            None
        }
        Ok(accepted) => {
            if let Some(user) = &accepted.user {
                debug!(remote = %shown, port, user, "peer authenticated (quorum SASL)");
            }
            if let Some(note) = &accepted.note {
                warn!(remote = %shown, port, "{note}");
            }
            decoder.feed(&accepted.prefix);
            Some(accepted.conn)
        }
    }
}

/// Makes `signal`'s connection the current one from `peer` on `port`, closing the previous.
fn supersede(inner: &Inner, peer: ServerId, port: &'static str, signal: &Rc<Semaphore>) {
    let previous = inner
        .inbound_current
        .borrow_mut()
        .insert((peer, port), signal.clone());
    if let Some(previous) = previous {
        previous.close();
    }
}

/// Checks a Hello: our protocol version, and a peer we know, or (with `accept_joiners`) a
/// server that names where it listens, which becomes a peer so that we can answer it.
fn accept_hello(
    inner: &Rc<Inner>,
    hello: &Hello,
    remote: Option<SocketAddr>,
) -> Result<(), String> {
    let id = hello.server_id;
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(format!(
            "server {id} speaks protocol version {}, ours is {PROTOCOL_VERSION}",
            hello.protocol_version
        ));
    }
    if inner.links.borrow().contains_key(&id) {
        return Ok(());
    }
    if !inner.settings.accept_joiners || id == inner.settings.me {
        return Err(format!(
            "Hello from server {id}, which is not a configured peer"
        ));
    }
    if hello.quorum.is_empty() || hello.election.is_empty() {
        return Err(format!(
            "Hello from server {id}, which is not a peer and names no address to answer it at"
        ));
    }
    let joiners = inner
        .links
        .borrow()
        .values()
        .filter(|l| l.origin.get() == Origin::Hello)
        .count();
    if joiners >= JOINERS_MAX {
        return Err(format!(
            "Hello from server {id}, which is not a peer: {JOINERS_MAX} joiners known already"
        ));
    }
    let answer_at = |addrs: &[String]| -> Vec<String> {
        addrs.iter().map(|a| reachable_addr(a, remote)).collect()
    };
    let peer = PeerEndpoint {
        id,
        quorum: answer_at(&hello.quorum),
        election: answer_at(&hello.election),
    };
    add_peer(inner, &peer, Origin::Hello);
    inner.count(|s| s.peers_added += 1);
    Ok(())
}

/// Where to reach an address a Hello named: a wildcard host (the dialler listens on every
/// interface) is the address the connection came from.
pub(super) fn reachable_addr(addr: &str, remote: Option<SocketAddr>) -> String {
    match (addr.parse::<SocketAddr>(), remote) {
        (Ok(a), Some(r)) if a.ip().is_unspecified() => {
            SocketAddr::new(r.ip(), a.port()).to_string()
        }
        _ => addr.to_owned(),
    }
}

/// A joiner known only from its Hello whose last inbound connection ended is forgotten: its
/// links are dropped (it dials again, with its Hello, when it comes back), so that servers
/// that went away do not hold joiner places.
fn forget_gone_joiner(inner: &Inner, id: ServerId) {
    let joiner = inner
        .links
        .borrow()
        .get(&id)
        .is_some_and(|l| l.origin.get() == Origin::Hello);
    let connected = inner.inbound_current.borrow().keys().any(|(p, _)| *p == id);
    if joiner && !connected && !inner.stopped.get() {
        remove_peer(inner, id);
    }
}

async fn run_link(inner: Rc<Inner>, link: Rc<Link>, kick: LocalReceiver<()>) {
    let mut encoder = Encoder::new();
    let mut out = Vec::with_capacity(WRITE_BATCH_BYTES);
    let mut generation = 0u64;
    let mut logged_down = false;
    while !inner.stopped.get() && !link.removed.get() {
        // Whether the link stays up from the previous connection (a fresh one was asked for).
        let kept_up = link.up.get();
        let mut fresh = false;
        match inner.until_stop(connect(&inner, &link)).await {
            None => break,
            Some(Err(e)) => {
                // One line per outage, not one per retry.
                if !logged_down {
                    info!(peer = link.peer, port = link.port, addr = %link.addr(), "peer link down: {e}");
                    logged_down = true;
                }
                link.next_addr();
                if kept_up {
                    link_down(&inner, &link);
                }
            }
            Some(Ok(mut stream)) => {
                logged_down = false;
                generation += 1;
                match crate::net::split::duplicate(stream.socket()) {
                    Ok(watch) => {
                        glommio::spawn_local(watch_eof(
                            inner.clone(),
                            link.clone(),
                            watch,
                            generation,
                        ))
                        .detach();
                    }
                    Err(e) => warn!(peer = link.peer, "peer link: no EOF watcher: {e}"),
                }
                out.clear();
                let written = match encode_hello(&inner, &mut encoder, &mut out) {
                    Ok(()) => write_out(&inner, &mut stream, &mut out, 1).await,
                    Err(e) => Err(e),
                };
                if written.is_ok() {
                    info!(peer = link.peer, port = link.port, addr = %link.addr(), "peer link up");
                    link.connected_at.set(Some(Instant::now()));
                    link_up(&inner, &link, kept_up);
                    let why = pump(
                        &inner,
                        &link,
                        &kick,
                        &mut stream,
                        &mut encoder,
                        &mut out,
                        generation,
                    )
                    .await;
                    fresh = link.fresh.replace(false) && !inner.stopped.get();
                    if !fresh {
                        link_down(&inner, &link);
                    }
                    if let Some(why) = why {
                        info!(peer = link.peer, port = link.port, addr = %link.addr(), "peer link lost: {why}");
                    }
                    if !fresh {
                        link.next_addr();
                    }
                } else if kept_up {
                    link_down(&inner, &link);
                }
                if fresh {
                    // Closing the old connection now could reach the peer before the new
                    // one's Hello, and the peer would report us disconnected (a follower
                    // would leave its leader). The peer closes it when the new Hello
                    // supersedes it; it is closed here only if that never happens.
                    let inner = inner.clone();
                    glommio::spawn_local(async move {
                        let stall = inner.settings.stall_timeout;
                        inner.until_stop(glommio::timer::sleep(stall)).await;
                        stream.shutdown().await;
                    })
                    .detach();
                } else {
                    stream.shutdown().await;
                }
            }
        }
        if !fresh {
            inner
                .until_stop(glommio::timer::sleep(inner.settings.connect_retry))
                .await;
        }
    }
    if link.up.get() && !inner.stopped.get() {
        link_down(&inner, &link);
    }
    debug!(peer = link.peer, port = link.port, "peer link stopped");
}

/// Our Hello: who we are and where we listen, so that a server that does not know us (we
/// are a joiner to it) can answer.
fn encode_hello(inner: &Inner, encoder: &mut Encoder, out: &mut Vec<u8>) -> io::Result<()> {
    let hello = Hello {
        quorum: inner.settings.listen_quorum.clone(),
        election: inner.settings.listen_election.clone(),
        ..Hello::new(inner.settings.me, PROTOCOL_VERSION)
    };
    encoder
        .encode_into(
            &OutFrame::Hello(&hello),
            inner.settings.frame_bytes_max,
            out,
        )
        .map(|_| ())
        .map_err(io::Error::other)
}

/// Marks the link up (once per outage), with the vote held while it was down first in line.
fn link_up(inner: &Inner, link: &Link, kept_up: bool) {
    if !kept_up {
        link.up.set(true);
        inner.count(|s| s.links_up += 1);
    }
    if let Some(vote) = link.held_vote.take() {
        link.queue.borrow_mut().push_front(vote);
    }
}

/// Marks the link down and drops what was queued on it (counted).
fn link_down(inner: &Inner, link: &Link) {
    link.up.set(false);
    inner.count(|s| s.links_up -= 1);
    let dropped = link.queue.borrow_mut().drain(..).count() as u64;
    inner.count(|s| s.frames_dropped += dropped);
}

/// Dials the link's current address and secures the connection (TLS, SASL) when configured.
/// The EOF watcher starts only after this: it would take the handshake's bytes.
async fn connect(inner: &Inner, link: &Link) -> Result<PeerConn, String> {
    let stream = dial(link.addr(), inner.settings.stall_timeout)
        .await
        .map_err(|e| e.to_string())?;
    let secured = future::or(
        secure_dialed(stream, &inner.settings.security, link.addr()),
        async {
            glommio::timer::sleep(DIALED_HANDSHAKE_TIMEOUT).await;
            Err(format!(
                "TLS and authentication took over {DIALED_HANDSHAKE_TIMEOUT:?}"
            ))
        },
    );
    let (conn, note) = secured.await?;
    if let Some(note) = note {
        warn!(peer = link.peer, port = link.port, addr = %link.addr(), "peer link not authenticated, going on: {note}");
    }
    Ok(conn)
}

async fn dial(addr: &str, stall_timeout: Duration) -> io::Result<TcpStream> {
    // Resolved here (and again on every dial) so that a peer whose name moves is found.
    let addr = resolve(addr)?;
    // A SYN lost to a partition is retried by the kernel only after 1 s, then 2 s more: a
    // short dial timeout and a fresh dial reach a healed peer sooner.
    let stream = TcpStream::connect_timeout(addr, stall_timeout.min(CONNECT_TIMEOUT)).await?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(stall_timeout))?;
    crate::net::sockopt::set_tcp_user_timeout(&stream, stall_timeout)?;
    Ok(stream)
}

/// Writes queued messages while the connection lasts. Returns why it ended (`None` on stop).
async fn pump(
    inner: &Inner,
    link: &Link,
    kick: &LocalReceiver<()>,
    stream: &mut PeerConn,
    encoder: &mut Encoder,
    out: &mut Vec<u8>,
    generation: u64,
) -> Option<String> {
    // The first write on this connection that nothing has been heard after.
    let mut unanswered: Option<Instant> = None;
    loop {
        if inner.stopped.get() {
            return None;
        }
        if link.broken.get() == generation {
            return Some("closed by the peer".into());
        }
        if link.fresh.get() {
            return Some("a fresh connection for a new role".into());
        }
        if link.removed.get() {
            return Some("the peer is no longer a member".into());
        }
        let next = link.queue.borrow_mut().pop_front();
        let Some(item) = next else {
            inner.until_stop(kick.recv()).await?;
            continue;
        };
        out.clear();
        let mut frames = 0u64;
        let mut item = Some(item);
        // Coalesce whatever is queued into one write of about WRITE_BATCH_BYTES.
        while let Some(it) = item.take() {
            frames += encode_item(inner, link, encoder, &it, out);
            if out.len() < WRITE_BATCH_BYTES {
                item = link.queue.borrow_mut().pop_front();
            }
        }
        let written = Instant::now();
        if let Err(e) = write_out(inner, stream, out, frames).await {
            return Some(format!("write failed: {e}"));
        }
        if let Some(silent) = silence(inner, link.peer, &mut unanswered, written) {
            return Some(format!("no answer from the peer for {silent:?}"));
        }
    }
}

/// How long `peer` has left our writes unanswered, if longer than `silence_timeout`.
/// `unanswered` is the first write nothing has been heard after; a write made at `written`
/// starts it when everything before was answered. A quiet link is never judged: silence
/// starts when we speak.
fn silence(
    inner: &Inner,
    peer: ServerId,
    unanswered: &mut Option<Instant>,
    written: Instant,
) -> Option<Duration> {
    let heard = inner.last_heard.borrow().get(&peer).copied();
    let first = first_unanswered(heard, *unanswered, written);
    *unanswered = Some(first);
    let silent = first.elapsed();
    (silent > inner.settings.silence_timeout).then_some(silent)
}

/// The first write nothing has been heard after, once a write is made at `written`:
/// `unanswered` still, unless the peer was heard since it.
pub(super) fn first_unanswered(
    heard: Option<Instant>,
    unanswered: Option<Instant>,
    written: Instant,
) -> Instant {
    match unanswered {
        Some(first) if heard.is_none_or(|h| h < first) => first,
        _ => written,
    }
}

/// Appends the frames of one message to `out`; returns how many. A message that cannot be a
/// frame within `frame_bytes_max` is dropped here rather than sent to be refused.
fn encode_item(
    inner: &Inner,
    link: &Link,
    encoder: &mut Encoder,
    item: &Outgoing,
    out: &mut Vec<u8>,
) -> u64 {
    let max = inner.settings.frame_bytes_max;
    let result = match item {
        Outgoing::App(data) => encoder
            .encode_into(&OutFrame::App(data), max, out)
            .map(|_| 1),
        Outgoing::Message(m) => encoder
            .encode_into(&OutFrame::Message(m), max, out)
            .map(|_| 1),
    };
    match result {
        Ok(n) => n,
        Err(e) => {
            inner.count(|s| s.frames_dropped += 1);
            warn!(
                peer = link.peer,
                port = link.port,
                "peer message dropped: {e}"
            );
            0
        }
    }
}

async fn write_out(
    inner: &Inner,
    stream: &mut PeerConn,
    out: &mut Vec<u8>,
    frames: u64,
) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    match inner.until_stop(stream.write_all(out)).await {
        None => Err(io::Error::other("transport stopped")),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => {
            let bytes = out.len() as u64;
            inner.count(|s| {
                s.frames_sent += frames;
                s.bytes_sent += bytes;
            });
            out.clear();
            Ok(())
        }
    }
}

/// Reads the outbound connection, on which the peer never writes, to notice at once when the
/// peer closes it (a restart), instead of at the next write, which would be lost.
async fn watch_eof(inner: Rc<Inner>, link: Rc<Link>, mut stream: TcpStream, generation: u64) {
    let mut buf = [0u8; 64];
    loop {
        match inner.until_stop(stream.read(&mut buf)).await {
            None => return,
            // Bytes from a read-only peer are ignored (none are expected).
            Some(Ok(n)) if n > 0 => continue,
            Some(_) => break,
        }
    }
    link.broken.set(generation);
    link.wake();
}
