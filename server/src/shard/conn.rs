//! One client connection: a reader task (this module's `serve`) and a writer task, over
//! the two halves of one socket (`net::split`).
//!
//! The reader decodes frames and hands them to the shard state synchronously; anything that
//! must go to the sequencer is sent from here, outside any borrow of the state. The writer
//! drains the connection's outgoing queue. Replies, watch events and handshake answers all
//! go through that one queue, which is what keeps a client's view ordered. The reader stops
//! taking requests while the connection's unsent replies or unanswered requests are over
//! their limits (`backlog`), and is woken, not polled, when they drop.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::ConnectedSender;
use glommio::net::TcpStream;
use ringkeeper_engine::acl::{SUPER_SCHEME, X509_SCHEME};
use ringkeeper_engine::types::Id;
use tracing::{debug, info, warn};

use super::backlog::ConnBacklog;
use super::counters::Asker;
use super::exec::{Out, Shard};
use super::state::{Handshake, HandshakeOutcome};
use crate::fourlw::internal;
use crate::messages::ToSequencer;
use crate::net::frame::{self, FrameError};
use crate::net::split::{self, WriteHalf};
use crate::net::tls::stream::{self as tls_stream, TlsReader, TlsWriter};
use crate::net::tls::{dn, TlsServer};

/// The writing side of a connection's transport.
pub(super) trait Sink: AsyncWrite + Unpin {
    /// Whether written bytes may stay inside the transport until flushed (TLS encrypts
    /// into its own buffer); plain sockets write straight through and never flush.
    const FLUSH_EACH_BATCH: bool;
    /// Ends the connection for both directions.
    async fn close(&mut self);
}

impl Sink for WriteHalf {
    const FLUSH_EACH_BATCH: bool = false;
    async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Sink for TlsWriter {
    const FLUSH_EACH_BATCH: bool = true;
    async fn close(&mut self) {
        TlsWriter::close(self).await;
    }
}

/// How long a handshake whose lastZxidSeen is ahead of this shard waits for the shard to
/// catch up before it is refused. Shards trail the sequencer by microseconds, so a client
/// that moved from a shard that was further ahead is normally served after a short wait.
const CATCH_UP_WAIT: Duration = Duration::from_millis(2000);

/// Requests a reader takes from its socket before it lets the shard's other tasks run. A
/// pipelining client's requests sit in the read buffer and are served without waiting on
/// I/O, so without this one connection could hold its shard for a whole buffer's worth.
const REQUESTS_PER_YIELD: u32 = 16;

/// Bytes a connection's reader buffers from its socket.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Replies the writer coalesces into one socket write, in bytes (one reply may exceed it).
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// A connection's outgoing queue. It is bounded in bytes rather than in items, which is
/// why the channel itself has no capacity (a bounded glommio channel allocates its whole
/// capacity up front, per connection): every frame is counted in the connection's backlog
/// as it is queued (`ShardState::send_frame`), a connection whose queued bytes would pass
/// `max_queued_bytes` is closed instead, and besides frames the queue carries at most one
/// `Close` and one `Flush` at a time (see `ConnBacklog::flush_needed`).
fn out_queue() -> (LocalSender<Out>, LocalReceiver<Out>) {
    local_channel::new_unbounded::<Out>()
}

/// Spawns a connection task that ends when the shard stops, wherever it is waiting.
pub(super) fn spawn_conn<F: std::future::Future<Output = ()> + 'static>(
    state: &Rc<RefCell<Shard>>,
    task: F,
) {
    let registration = state.borrow_mut().hangups.register();
    let id = registration.id();
    let state = state.clone();
    glommio::spawn_local(async move {
        super::hangup::until_hangup(registration, task).await;
        state.borrow_mut().hangups.forget(id);
    })
    .detach();
}

pub async fn serve(
    state: Rc<RefCell<Shard>>,
    to_seq: Rc<ConnectedSender<ToSequencer>>,
    stream: TcpStream,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = split::split(stream);
    let (out_tx, out_rx) = out_queue();
    let out_tx = Rc::new(out_tx);
    let backlog = ConnBacklog::new(&state.borrow().backlog);
    glommio::spawn_local(write_loop(write_half, out_rx, backlog.clone())).detach();
    let deadline = std::time::Instant::now() + handshake_timeout(&state);
    let reader = futures_lite::io::BufReader::with_capacity(READ_BUFFER_BYTES, read_half);
    serve_client(
        state,
        to_seq,
        reader,
        peer,
        out_tx,
        backlog,
        deadline,
        Vec::new(),
    )
    .await;
}

fn handshake_timeout(state: &Rc<RefCell<Shard>>) -> Duration {
    Duration::from_millis(state.borrow().settings.handshake_timeout_ms)
}

/// Accepts connections on a shard's secure listener until shutdown.
pub(super) async fn accept_secure(
    state: Rc<RefCell<Shard>>,
    to_seq: Rc<ConnectedSender<ToSequencer>>,
    listener: glommio::net::TcpListener,
    tls: TlsServer,
) {
    loop {
        let accepted = crate::shutdown::unless_requested(listener.accept()).await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
                spawn_conn(
                    &state,
                    serve_tls(state.clone(), to_seq.clone(), stream, tls.clone()),
                );
            }
            Some(Err(e)) => {
                // Running out of descriptors must not stop the listener; back off and retry.
                warn!(error = %e, "secure accept failed");
                glommio::timer::sleep(super::ACCEPT_RETRY).await;
            }
        }
    }
}

/// A connection on the secure port: the TLS handshake, then the same client protocol as a
/// plain connection, over a TLS connection shared by the reader and the writer task.
///
/// The handshake deadline covers the TLS handshake and the ZooKeeper handshake together,
/// so a client that stalls in either is closed as a slowloris plain connection is.
pub async fn serve_tls(
    state: Rc<RefCell<Shard>>,
    to_seq: Rc<ConnectedSender<ToSequencer>>,
    mut stream: TcpStream,
    tls: TlsServer,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let deadline = std::time::Instant::now() + handshake_timeout(&state);
    let mut conn = match rustls::ServerConnection::new(tls.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            info!(?peer, error = %e, "cannot start a TLS connection; dropping it");
            return;
        }
    };
    let shaken = before(deadline, async {
        tls_stream::handshake(&mut stream, &mut conn)
            .await
            .map_err(FrameError::Io)
    })
    .await;
    if let Err(e) = shaken {
        debug!(?peer, error = %e, "TLS handshake failed; closing");
        let _ = stream.shutdown(std::net::Shutdown::Both).await;
        return;
    }
    // The verifier already checked the chain against the trust store; what is left is
    // naming the client (Apache's X509AuthenticationProvider.handleAuthentication).
    let mut ids = Vec::new();
    if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
        let Some(subject) = dn::subject_rfc2253(leaf) else {
            info!(?peer, "client certificate subject unreadable; closing");
            let _ = stream.shutdown(std::net::Shutdown::Both).await;
            return;
        };
        if tls.super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id::new(SUPER_SCHEME, subject.clone()));
        }
        debug!(?peer, %subject, "client authenticated by certificate");
        ids.push(Id::new(X509_SCHEME, subject));
    }
    let (read_half, write_half) = split::split(stream);
    let shared = Rc::new(RefCell::new(conn));
    let (out_tx, out_rx) = out_queue();
    let out_tx = Rc::new(out_tx);
    let backlog = ConnBacklog::new(&state.borrow().backlog);
    let writer = TlsWriter::new(write_half, shared.clone());
    glommio::spawn_local(write_loop(writer, out_rx, backlog.clone())).detach();
    let kick = {
        let out_tx = out_tx.clone();
        let backlog = backlog.clone();
        Box::new(move || {
            if backlog.flush_needed() {
                let _ = out_tx.try_send(Out::Flush);
            }
        })
    };
    let reader = futures_lite::io::BufReader::with_capacity(
        READ_BUFFER_BYTES,
        TlsReader::new(read_half, shared, kick),
    );
    serve_client(state, to_seq, reader, peer, out_tx, backlog, deadline, ids).await;
}

/// The client protocol on an established byte stream, plain or TLS: the four-letter word
/// or handshake, then requests until the client goes away. `ids` are authenticated ids the
/// transport established (a client certificate's), given to the connection up front.
#[allow(clippy::too_many_arguments)]
async fn serve_client<R: AsyncRead + Unpin>(
    state: Rc<RefCell<Shard>>,
    to_seq: Rc<ConnectedSender<ToSequencer>>,
    mut reader: R,
    peer: Option<std::net::SocketAddr>,
    out_tx: Rc<LocalSender<Out>>,
    backlog: Rc<ConnBacklog>,
    deadline: std::time::Instant,
    ids: Vec<Id>,
) {
    let (limit, max_cnxns, limiter) = {
        let s = state.borrow();
        (
            s.settings.packet_limit,
            s.settings.max_client_cnxns,
            s.settings.limiter.clone(),
        )
    };

    // The first four bytes tell a four-letter word from a ZooKeeper handshake: a real
    // handshake starts with a length far below the smallest four-letter word read as an int.
    // A connection must complete its handshake (or four-letter word) by `deadline`: one that
    // trickles bytes or says nothing would otherwise hold a descriptor forever (slowloris).
    let prefix = match before(deadline, frame::read_len(&mut reader)).await {
        Ok(p) => p,
        Err(e) => {
            debug!(?peer, error = %e, "no request before the handshake deadline; closing");
            let _ = out_tx.try_send(Out::Close);
            return;
        }
    };
    let word = if prefix == internal::PREFIX {
        in_process_word(&state, &mut reader, deadline)
            .await
            .map(|cmd| (cmd, Asker::InProcess))
    } else {
        crate::fourlw::parse_command(&prefix).map(|cmd| (cmd, Asker::Network))
    };
    if let Some((cmd, asker)) = word {
        let gathered = if super::stats::needs_gather(cmd) {
            gather(&state, &to_seq).await
        } else {
            None
        };
        let text = state
            .borrow_mut()
            .four_letter_word(cmd, asker, gathered.as_ref());
        let _ = out_tx.try_send(Out::Frame(text.into_bytes()));
        let _ = out_tx.try_send(Out::Close);
        return;
    }
    // Held for the life of the connection: its drop frees the place.
    let _admission = match peer.map(|p| p.ip()) {
        Some(ip) => match limiter.admit(ip, max_cnxns) {
            Some(a) => Some(a),
            None => {
                info!(%ip, max_cnxns, "too many connections from this address (maxClientCnxns); closing");
                let _ = out_tx.try_send(Out::Close);
                return;
            }
        },
        None => None,
    };
    let mut buf = Vec::new();
    let handshake = match frame::check_len(prefix, limit) {
        Ok(len) => before(deadline, frame::read_body(&mut reader, len, &mut buf)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = handshake {
        debug!(?peer, error = %e, "handshake frame unreadable; closing");
        let _ = out_tx.try_send(Out::Close);
        return;
    }

    let (hs_tx, hs_rx) = local_channel::new_bounded::<HandshakeOutcome>(1);
    let begun =
        state
            .borrow_mut()
            .begin_handshake(&buf, peer, out_tx.clone(), backlog.clone(), hs_tx);
    let conn = match begun {
        Ok(Handshake {
            conn,
            last_zxid_seen,
        }) => {
            if !ids.is_empty() {
                if let Some(c) = state.borrow_mut().conns.get_mut(&conn) {
                    for id in ids {
                        if !c.auth.contains(&id) {
                            c.auth.push(id);
                        }
                    }
                }
            }
            if !wait_caught_up(&state, last_zxid_seen).await {
                info!(
                    ?peer,
                    last_zxid_seen = format_args!("0x{last_zxid_seen:x}"),
                    "refusing client: it has seen a zxid newer than this server's"
                );
                state.borrow_mut().remove_conn(conn);
                let _ = out_tx.try_send(Out::Close);
                return;
            }
            conn
        }
        Err(reason) => {
            info!(?peer, %reason, "bad handshake; closing");
            let _ = out_tx.try_send(Out::Close);
            return;
        }
    };
    let connect_msg = state.borrow_mut().connect_message(conn);
    if let Some(msg) = connect_msg {
        if to_seq.send(msg).await.is_err() {
            state.borrow_mut().remove_conn(conn);
            return;
        }
    }
    match hs_rx.recv().await {
        Some(HandshakeOutcome::Accepted) => {}
        _ => {
            state.borrow_mut().remove_conn(conn);
            return;
        }
    }

    let max_outstanding = state.borrow().settings.max_outstanding_per_conn.max(1);
    let mut since_yield = 0u32;
    loop {
        // Throttle: a client with too many requests not yet answered, or too many reply
        // bytes not yet written, is not read from until that drops, so a pipelining client
        // cannot grow the server's queues without bound: the kernel's socket buffers fill
        // and push back on it instead (Apache's throttling stops reading the same way).
        backlog
            .until_readable(|| state.borrow().outstanding(conn) < max_outstanding)
            .await;
        since_yield += 1;
        if since_yield >= REQUESTS_PER_YIELD {
            since_yield = 0;
            future::yield_now().await;
        }
        let res = frame::read_frame(&mut reader, limit, &mut buf).await;
        if let Err(e) = res {
            match e {
                FrameError::Eof => debug!(?peer, "client closed the connection"),
                e => info!(?peer, error = %e, "closing connection"),
            }
            break;
        }
        let outcome = state.borrow_mut().on_request(conn, &buf);
        match outcome {
            Ok(Some(msg)) => {
                if to_seq.send(msg).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(reason) => {
                info!(?peer, %reason, "closing connection");
                break;
            }
        }
    }
    let gone = state.borrow_mut().remove_conn(conn);
    if let Some(msg) = gone {
        let _ = to_seq.send(msg).await;
    }
}

/// Runs `f` until `deadline`; past it, a timed-out error.
/// Reads the token and word after `internal::PREFIX`. `None` (a wrong token, an unknown
/// word, or bytes missing by `deadline`) leaves the caller to treat the prefix as any
/// unknown word: a negative length, so the connection closes without an answer.
async fn in_process_word<R: AsyncRead + Unpin>(
    state: &Rc<RefCell<Shard>>,
    reader: &mut R,
    deadline: std::time::Instant,
) -> Option<crate::fourlw::Command> {
    let mut token_and_word = [0u8; internal::TOKEN_BYTES + 4];
    let read = async {
        reader
            .read_exact(&mut token_and_word)
            .await
            .map_err(FrameError::Io)
    };
    before(deadline, read).await.ok()?;
    let (token, word) = token_and_word.split_at(internal::TOKEN_BYTES);
    if !state
        .borrow()
        .settings
        .four_letter
        .probe_token
        .matches(token)
    {
        return None;
    }
    crate::fourlw::parse_command(word)
}

async fn before<T>(
    deadline: std::time::Instant,
    f: impl std::future::Future<Output = Result<T, FrameError>>,
) -> Result<T, FrameError> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    future::or(f, async {
        glommio::timer::sleep(left).await;
        Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "handshake not completed in time",
        )))
    })
    .await
}

/// How long a four-letter word waits for the other shards' reports.
const GATHER_WAIT: Duration = Duration::from_millis(2000);

/// Collects every shard's report for a server-wide four-letter word.
async fn gather(
    state: &Rc<RefCell<Shard>>,
    to_seq: &Rc<ConnectedSender<ToSequencer>>,
) -> Option<crate::messages::Gathered> {
    let (tx, rx) = local_channel::new_bounded(1);
    let msg = state.borrow_mut().begin_gather(tx);
    let ToSequencer::Gather { token, .. } = msg else {
        return None;
    };
    if to_seq.send(msg).await.is_err() {
        state.borrow_mut().end_gather(token);
        return None;
    }
    let got = future::or(async { rx.recv().await }, async {
        glommio::timer::sleep(GATHER_WAIT).await;
        None
    })
    .await;
    state.borrow_mut().end_gather(token);
    got
}

/// Waits until this shard has applied `zxid`, up to [`CATCH_UP_WAIT`]. Woken by each
/// message the shard applies, not by a timer.
async fn wait_caught_up(state: &Rc<RefCell<Shard>>, zxid: i64) -> bool {
    let applied = state.borrow().applied.clone();
    let caught_up = applied.until(|| state.borrow().last_zxid() >= zxid);
    future::or(
        async {
            caught_up.await;
            true
        },
        async {
            // A deadline, not a poll.
            glommio::timer::sleep(CATCH_UP_WAIT).await;
            false
        },
    )
    .await
}

/// Drains the outgoing queue, coalescing whatever is already queued into one write.
async fn write_loop<S: Sink>(mut stream: S, rx: LocalReceiver<Out>, backlog: Rc<ConnBacklog>) {
    let mut batch: Vec<u8> = Vec::new();
    'outer: while let Some(first) = rx.recv().await {
        let mut close = false;
        let mut flush = false;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Out::Frame(f) => batch.extend_from_slice(&f),
                Out::Close => {
                    close = true;
                    break;
                }
                Out::Flush => {
                    backlog.flush_taken();
                    flush = true;
                }
            }
            if batch.len() >= WRITE_BATCH_BYTES {
                break;
            }
            next = future::poll_once(rx.recv()).await.flatten();
        }
        if !batch.is_empty() {
            if stream.write_all(&batch).await.is_err() {
                break 'outer;
            }
            // Counted only once on the wire: a batch the client does not take is memory
            // the server still holds.
            backlog.drained(batch.len());
            batch.clear();
            if batch.capacity() > WRITE_BATCH_BYTES {
                // One large reply must not leave every idle connection holding its size.
                batch.shrink_to(WRITE_BATCH_BYTES);
            }
            flush |= S::FLUSH_EACH_BATCH;
        }
        if flush && stream.flush().await.is_err() {
            break 'outer;
        }
        if close {
            break;
        }
    }
    backlog.writer_gone();
    stream.close().await;
}
