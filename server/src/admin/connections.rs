//! The admin server's table of open connections, and the rule that keeps
//! `/health` and `/ready` answering whatever other clients do.
//!
//! Every open connection holds one entry, and the table holds at most
//! `CONNECTIONS_MAX`. A connection is in one of three phases: reading its
//! request head, working (asking the client port a four-letter word and
//! writing the answer), or finishing (its answer is written; the socket
//! lingers for the client's FIN). Only working connections cost the server
//! anything; the other two cost a socket and an idle thread, and are all an
//! idle or slow ("slowloris") client can hold.
//!
//! So a new connection is never refused for lack of room: when the table is
//! full, the oldest connection that is reading or finishing is shut down to
//! make room. Working connections are never evicted, and at most
//! `WORKING_MAX` (less than `CONNECTIONS_MAX`) may work at once, so a full
//! table always has someone to evict. An attacker would have to open
//! `CONNECTIONS_MAX - 1` connections between a probe's connect and the
//! arrival of its request head (one packet) to evict the probe.

use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

/// Connections open at once, in every phase; each holds one thread.
pub const CONNECTIONS_MAX: usize = 32;
/// Connections working at once (a four-letter word in flight or an answer
/// being written); more are answered 503 without asking the client port.
pub const WORKING_MAX: usize = 8;

// Eviction relies on a full table always holding a connection that is not
// working.
const _: () = assert!(WORKING_MAX < CONNECTIONS_MAX);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Reading,
    Working,
    Finishing,
}

struct Entry {
    id: u64,
    phase: Phase,
    /// A second handle to the socket, used only to shut it down on eviction;
    /// the connection's own thread then sees end-of-file or an error.
    stream: TcpStream,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// In order of arrival, so the first evictable entry is the oldest.
    entries: Vec<Entry>,
    evicted: u64,
}

/// The table; shared by the accept thread and the connection threads. The
/// admin server is off the request path, so a mutex held for a few
/// instructions is fine here.
#[derive(Default)]
pub struct Connections {
    inner: Mutex<Inner>,
}

/// One admitted connection's place in the table; dropping it frees the place.
pub struct Ticket {
    table: Arc<Connections>,
    id: u64,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the table consistent
        // (every update is a single push, remove or assignment), so a poisoned
        // lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection, evicting the oldest idle one when the table is
    /// full. `None` only if the socket cannot be duplicated (out of
    /// descriptors), or if every entry is working, which `WORKING_MAX` rules
    /// out.
    pub fn admit(table: &Arc<Connections>, stream: &TcpStream) -> Option<Ticket> {
        let handle = stream.try_clone().ok()?;
        let mut inner = table.lock();
        if inner.entries.len() >= CONNECTIONS_MAX {
            let victim = inner
                .entries
                .iter()
                .position(|e| e.phase == Phase::Reading)
                .or_else(|| {
                    inner
                        .entries
                        .iter()
                        .position(|e| e.phase == Phase::Finishing)
                })?;
            let evicted = inner.entries.remove(victim);
            let _ = evicted.stream.shutdown(Shutdown::Both);
            inner.evicted += 1;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push(Entry {
            id,
            phase: Phase::Reading,
            stream: handle,
        });
        Some(Ticket {
            table: Arc::clone(table),
            id,
        })
    }

    /// Connections evicted so far to make room.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    /// Connections in the table now.
    pub fn open(&self) -> usize {
        self.lock().entries.len()
    }
}

impl Ticket {
    /// Claims one of the `WORKING_MAX` working places; `false` when all are
    /// taken (or the connection was evicted meanwhile), and the caller answers
    /// 503 instead of doing the work.
    pub fn start_work(&self) -> bool {
        let mut inner = self.table.lock();
        let working = inner
            .entries
            .iter()
            .filter(|e| e.phase == Phase::Working)
            .count();
        match inner.entries.iter_mut().find(|e| e.id == self.id) {
            Some(entry) if working < WORKING_MAX => {
                entry.phase = Phase::Working;
                true
            }
            _ => false,
        }
    }

    /// The answer is written; the connection may be evicted again.
    pub fn finishing(&self) {
        let mut inner = self.table.lock();
        if let Some(entry) = inner.entries.iter_mut().find(|e| e.id == self.id) {
            entry.phase = Phase::Finishing;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        inner.entries.retain(|e| e.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A connected pair: the server side (what the table holds) and the
    /// client side (to observe eviction).
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    fn evicted(client: &mut TcpStream) -> bool {
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        matches!(client.read(&mut [0u8; 1]), Ok(0) | Err(_))
    }

    #[test]
    fn a_full_table_evicts_the_oldest_idle_connection_never_a_working_one() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let table = Arc::new(Connections::default());
        let mut held = Vec::new();
        for _ in 0..CONNECTIONS_MAX {
            let (server, client) = pair(&listener);
            let ticket = Connections::admit(&table, &server).expect("room");
            held.push((ticket, server, client));
        }
        // The oldest works; the second oldest is the first idle one.
        assert!(held[0].0.start_work());
        let (server, _client) = pair(&listener);
        let newcomer = Connections::admit(&table, &server).expect("admitted by eviction");
        assert_eq!(table.open(), CONNECTIONS_MAX);
        assert_eq!(table.evicted(), 1);
        assert!(evicted(&mut held[1].2), "the oldest idle one goes");
        held[0].2.set_nonblocking(true).expect("nonblocking");
        assert!(
            matches!(held[0].2.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the working one stays"
        );
        // The evicted connection's ticket can no longer claim work.
        assert!(!held[1].0.start_work());
        drop(newcomer);
        assert_eq!(table.open(), CONNECTIONS_MAX - 1);
    }

    #[test]
    fn at_most_working_max_connections_work_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let table = Arc::new(Connections::default());
        let mut held = Vec::new();
        for _ in 0..=WORKING_MAX {
            let (server, client) = pair(&listener);
            let ticket = Connections::admit(&table, &server).expect("room");
            held.push((ticket, server, client));
        }
        for (ticket, _, _) in &held[..WORKING_MAX] {
            assert!(ticket.start_work());
        }
        assert!(!held[WORKING_MAX].0.start_work());
        held[0].0.finishing();
        assert!(held[WORKING_MAX].0.start_work());
    }
}
