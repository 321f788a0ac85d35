//! Reply bytes waiting to reach their clients, per connection and per shard, and the gate
//! that stops reading a connection while its replies pile up.
//!
//! A client that pipelines requests and never reads its replies would otherwise make the
//! server hold every reply. Instead its reader task stops taking requests from the socket,
//! so the kernel's buffers fill and push back on the sender (Apache throttles the same way,
//! by turning off read interest). A connection is read again when its writer has put enough
//! of its replies on the wire. Everything here lives on one shard executor, so plain cells
//! suffice; the server-wide cap is split into equal per-shard shares so that no counter is
//! shared between cores.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Reply bytes one connection may have waiting before it is no longer read, unless the
/// shard's share of `ringkeeper.queuedReplyBytesMax` is smaller. A little over one maximal
/// reply, so a client reading normally never meets it.
pub const CONN_QUEUED_REPLY_BYTES_PAUSE: usize = 2 << 20;

/// A connection that once had this many reply bytes queued gives the allocator's free
/// memory back to the system when it closes (see `release_free_memory`).
const TRIM_AFTER_QUEUED_BYTES: usize = 1 << 20;

/// Reply bytes queued on one shard, and the readers waiting for them to drain.
#[derive(Debug)]
pub struct ShardBacklog {
    queued: Cell<usize>,
    /// This shard's share of `ringkeeper.queuedReplyBytesMax`.
    limit: usize,
    /// Readers stopped because the shard is over its share, by connection; woken when it
    /// drops below. A connection that closes takes its entry out.
    waiting: RefCell<Vec<(u64, Waker)>>,
    /// Names the next connection's entry in `waiting`.
    next_id: Cell<u64>,
}

impl ShardBacklog {
    pub fn new(limit: usize) -> Rc<Self> {
        Rc::new(Self {
            queued: Cell::new(0),
            limit: limit.max(1),
            waiting: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
        })
    }

    /// Reply bytes queued on this shard and not yet written to a socket.
    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    fn over(&self) -> bool {
        self.queued.get() >= self.limit
    }

    fn remove(&self, n: usize) {
        let was_over = self.over();
        self.queued.set(self.queued.get().saturating_sub(n));
        if was_over && !self.over() {
            for (_, w) in self.waiting.take() {
                w.wake();
            }
        }
    }

    fn wait(&self, id: u64, waker: &Waker) {
        let mut waiting = self.waiting.borrow_mut();
        match waiting.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(waker),
            None => waiting.push((id, waker.clone())),
        }
    }

    fn forget(&self, id: u64) {
        self.waiting.borrow_mut().retain(|(i, _)| *i != id);
    }
}

/// One connection's queued reply bytes; shared by its reader, its writer and the shard state.
pub struct ConnBacklog {
    shard: Rc<ShardBacklog>,
    /// Its key in the shard's waiting list.
    id: u64,
    queued: Cell<usize>,
    /// The most bytes it ever had queued.
    peak: Cell<usize>,
    /// Past this many queued bytes the connection is not read.
    pause: usize,
    /// The reader task, when it waits for the gate to open.
    reader: Cell<Option<Waker>>,
    /// Set when the writer has stopped: the reader must not wait for replies to drain.
    writer_gone: Cell<bool>,
    /// A flush is queued and not yet taken by the writer: one is enough, so a TLS peer
    /// that keeps sending control messages while not reading queues one, not one each.
    flush_queued: Cell<bool>,
}

impl ConnBacklog {
    pub fn new(shard: &Rc<ShardBacklog>) -> Rc<Self> {
        let id = shard.next_id.get();
        shard.next_id.set(id.wrapping_add(1));
        Rc::new(Self {
            id,
            pause: CONN_QUEUED_REPLY_BYTES_PAUSE.min(shard.limit),
            shard: shard.clone(),
            queued: Cell::new(0),
            peak: Cell::new(0),
            reader: Cell::new(None),
            writer_gone: Cell::new(false),
            flush_queued: Cell::new(false),
        })
    }

    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Counts a frame handed to the writer. It also wakes the reader, since a reply being
    /// sent means a request stopped being outstanding.
    pub fn add(&self, n: usize) {
        self.queued.set(self.queued.get() + n);
        self.peak.set(self.peak.get().max(self.queued.get()));
        self.shard.queued.set(self.shard.queued.get() + n);
        self.wake_reader();
    }

    /// Holds `n` bytes for the reply to a request that will be answered later (a read
    /// waiting behind a write, or for its shard to catch up). Counted as queued, so the
    /// reader stops once promised replies fill the pause, not only written ones: otherwise
    /// a client pipelining reads while they wait could be read without limit, and every
    /// one of those replies would be built at once when they are released.
    pub fn reserve(&self, n: usize) {
        self.add(n);
    }

    /// Gives back a reservation made by [`Self::reserve`], just before its reply is built
    /// and counted with [`Self::add`].
    pub fn release(&self, n: usize) {
        self.drained(n);
    }

    /// Counts bytes the writer has put on the wire (or dropped with the connection).
    pub fn drained(&self, n: usize) {
        let n = n.min(self.queued.get());
        self.queued.set(self.queued.get() - n);
        self.shard.remove(n);
        self.wake_reader();
    }

    /// Whether a flush must be queued for the writer: false while one is already queued.
    pub fn flush_needed(&self) -> bool {
        !self.flush_queued.replace(true)
    }

    /// The writer took the queued flush.
    pub fn flush_taken(&self) {
        self.flush_queued.set(false);
    }

    /// The writer has ended; nothing queued will drain any more.
    pub fn writer_gone(&self) {
        self.writer_gone.set(true);
        self.wake_reader();
    }

    fn wake_reader(&self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// Whether the connection may take one more request. A connection with nothing queued
    /// always may, so a client that reads its replies is served however full the shard is;
    /// one that has replies waiting yields once it or the shard is over its share.
    pub fn may_read(&self) -> bool {
        let own = self.queued.get();
        own == 0 || self.writer_gone.get() || (own < self.pause && !self.shard.over())
    }

    /// Waits until [`Self::may_read`] and `also` both hold. `also` is rechecked whenever
    /// this connection's backlog changes, which includes every reply it is sent.
    pub fn until_readable<'a>(
        &'a self,
        also: impl Fn() -> bool + 'a,
    ) -> impl Future<Output = ()> + 'a {
        std::future::poll_fn(move |cx| {
            if self.may_read() && (also() || self.writer_gone.get()) {
                return Poll::Ready(());
            }
            self.reader.set(Some(cx.waker().clone()));
            if self.queued.get() > 0 && self.shard.over() {
                self.shard.wait(self.id, cx.waker());
            }
            Poll::Pending
        })
    }
}

impl Drop for ConnBacklog {
    /// Replies never written (the client went away) stop counting against the shard.
    fn drop(&mut self) {
        self.shard.forget(self.id);
        self.shard.remove(self.queued.get());
        if self.peak.get() >= TRIM_AFTER_QUEUED_BYTES {
            release_free_memory();
        }
    }
}

/// Hands memory the allocator holds free back to the system. glibc keeps freed memory in
/// its per-thread arenas, so without this the replies of a flood that has ended stay
/// resident (about 50 MiB after 16 flooding connections closed, in the flood benchmark).
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks and shrinks the allocator's own free lists; it takes
    // no pointers from us and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_over_its_share_waits_while_an_empty_one_reads() {
        let shard = ShardBacklog::new(100);
        let flooder = ConnBacklog::new(&shard);
        let healthy = ConnBacklog::new(&shard);
        assert_eq!(
            flooder.pause, 100,
            "the pause never exceeds the shard's share"
        );
        flooder.add(60);
        assert!(flooder.may_read(), "under both limits");
        flooder.add(60);
        assert!(!flooder.may_read(), "over its own pause");
        assert!(healthy.may_read(), "nothing queued: always read");
        healthy.add(10);
        assert!(
            !healthy.may_read(),
            "shard over its share, and it has bytes waiting"
        );
        healthy.drained(10);
        assert!(healthy.may_read());
        flooder.drained(30);
        assert_eq!(shard.queued(), 90);
        assert!(flooder.may_read(), "back under both limits");
        drop(flooder);
        assert_eq!(
            shard.queued(),
            0,
            "a closed connection's bytes are released"
        );
    }

    #[test]
    fn a_waiting_reader_is_woken_when_its_replies_drain() {
        let shard = ShardBacklog::new(1000);
        let conn = ConnBacklog::new(&shard);
        conn.add(2000);
        let mut wait = Box::pin(conn.until_readable(|| true));
        let waker = futures_lite::future::block_on(std::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(conn.reader.take().is_some(), "the reader left its waker");
        assert_eq!(shard.waiting.borrow().len(), 1, "and waits on the shard");
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(shard.waiting.borrow().len(), 1, "registered once");
        conn.drained(2000);
        assert!(shard.waiting.borrow().is_empty(), "shard waiters woken");
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_closed_connection_leaves_no_waker_behind() {
        let shard = ShardBacklog::new(10);
        let stuck = ConnBacklog::new(&shard);
        stuck.add(50);
        let gone = ConnBacklog::new(&shard);
        gone.add(5);
        let waker = futures_lite::future::block_on(std::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut wait = Box::pin(gone.until_readable(|| true));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drop(wait);
        assert_eq!(shard.waiting.borrow().len(), 1);
        drop(gone);
        assert!(
            shard.waiting.borrow().is_empty(),
            "the shard stays over its share, so only the close can clear the entry"
        );
    }

    #[test]
    fn reserved_replies_close_the_gate_before_they_are_built() {
        let shard = ShardBacklog::new(1000);
        let conn = ConnBacklog::new(&shard);
        assert_eq!(conn.pause, 1000);
        conn.reserve(600);
        assert!(conn.may_read(), "one reservation under the pause");
        conn.reserve(600);
        assert!(!conn.may_read(), "promised replies count like queued ones");
        assert_eq!(shard.queued(), 1200);
        conn.release(600);
        conn.add(500);
        assert_eq!(conn.queued(), 1100, "the reply replaced its reservation");
        conn.release(600);
        conn.drained(500);
        assert_eq!(shard.queued(), 0);
        assert!(conn.may_read());
    }

    #[test]
    fn a_gone_writer_releases_the_reader() {
        let shard = ShardBacklog::new(10);
        let conn = ConnBacklog::new(&shard);
        conn.add(50);
        assert!(!conn.may_read());
        conn.writer_gone();
        assert!(
            conn.may_read(),
            "the reader must go on to see the socket closed"
        );
    }
}
