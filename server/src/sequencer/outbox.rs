//! The sequencer's queue to one shard (or to the snapshotter), with a bound that pushes back
//! on what the sequencer takes in rather than on what it has already decided.
//!
//! The state machine decides synchronously and in zxid order, so a message it emits must be
//! queued at once: a commit is never dropped and never waits. What keeps the queue bounded
//! is the gate in front of the sequencer instead: the tasks that take in new work (the
//! readers of the shards' channels, and the peer transport's reader) wait while any queue
//! is at its bound, in messages or in bytes ([`Bound::SHARD`] for a shard,
//! [`Bound::SNAPSHOTTER`] for the snapshotter; `Driver::may_take_work`, woken by
//! `Driver::progress`).
//! Whatever was already admitted can still add its own output: the commits of the batch
//! being written and of the one that was forming (each about `batch_txns_max`
//! transactions), the sessions a tick expires, and one answer for each message a reader
//! took in before it looked. So a queue stays within its bound plus about
//! `2 * batch_txns_max` messages (and `2 * batch_bytes_max` bytes); its `peak` is logged at
//! shutdown and checked by the tests below. The shard's shared channel behind the queue
//! holds up to `TO_SHARD_CAPACITY` more messages, a bound in messages only.
//!
//! The wait reaches the clients: a shard whose sequencer does not read its channel has its
//! connection readers blocked on sending, and a blocked reader does not read its socket.
//!
//! Why this cannot deadlock: a queue drains by its forwarding task handing messages to the
//! shard's channel, and the shard's applier takes them without ever waiting on the
//! sequencer (its one reply, a gather report, goes through a task of its own, see
//! `shard::run`). So a full queue always empties, whatever the sequencer waits for.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use glommio::channels::shared_channel::ConnectedSender;

use crate::messages::ToShard;
use crate::notify::Notify;
use ringkeeper_engine::jute::Encode;

/// Where a queue's forwarder hands its messages: the shard's cross-executor channel (or, in
/// tests, a local one).
pub(crate) trait Sink {
    /// Waits until the receiver takes `msg`; an error once the receiver has gone.
    async fn send(&self, msg: ToShard) -> Result<(), ()>;
}

impl Sink for ConnectedSender<ToShard> {
    async fn send(&self, msg: ToShard) -> Result<(), ()> {
        ConnectedSender::send(self, msg).await.map_err(|_| ())
    }
}

/// Messages a shard's queue may hold before the sequencer stops taking new work. The shared
/// channel behind it holds `TO_SHARD_CAPACITY` more. Enough to ride out a shard's pause of
/// a few milliseconds at full write rate without slowing the others.
pub const OUTBOX_MESSAGES_MAX: usize = 16384;

/// Bytes (as [`approx_bytes`] counts them) a shard's queue may hold before the sequencer
/// stops taking new work: the count alone would let a queue of large setData values grow to
/// gigabytes.
pub const OUTBOX_BYTES_MAX: usize = 32 << 20;

/// The same for the snapshotter's queue. While it encodes a snapshot (seconds for a large
/// tree) the snapshotter takes nothing, and commits must wait for it somewhere: this lets
/// them wait here for several seconds at the write rates measured in docs/benchmarks.md
/// before the clients are made to wait instead.
pub const SNAPSHOTTER_OUTBOX_MESSAGES_MAX: usize = 262_144;

/// Bytes the snapshotter's queue may hold; see [`SNAPSHOTTER_OUTBOX_MESSAGES_MAX`].
pub const SNAPSHOTTER_OUTBOX_BYTES_MAX: usize = 128 << 20;

/// A queue's bounds: the sequencer takes no new work while a queue is at either.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub messages: usize,
    pub bytes: usize,
}

impl Bound {
    pub const SHARD: Bound = Bound {
        messages: OUTBOX_MESSAGES_MAX,
        bytes: OUTBOX_BYTES_MAX,
    };
    pub const SNAPSHOTTER: Bound = Bound {
        messages: SNAPSHOTTER_OUTBOX_MESSAGES_MAX,
        bytes: SNAPSHOTTER_OUTBOX_BYTES_MAX,
    };
}

/// What a message holds in memory, roughly: a transaction's paths and data (its encoded
/// size, `Encode::size_hint`, is close enough), plus a fixed overhead. Only the variable
/// parts matter for the bound; the rest is covered by the message count.
pub fn approx_bytes(msg: &ToShard) -> usize {
    const OVERHEAD: usize = 64;
    match msg {
        ToShard::Commit { txn, .. } => OVERHEAD + txn.size_hint(),
        ToShard::Commits(commits) => commits.iter().map(|c| OVERHEAD + c.txn.size_hint()).sum(),
        ToShard::SyncDone { path, .. } => OVERHEAD + path.len(),
        // A `Reset`'s snapshot is one allocation shared by every queue, bounded on receipt
        // by the protocol's `snapshot_bytes_max`; it is not counted once per queue.
        _ => OVERHEAD,
    }
}

struct Queue {
    items: RefCell<VecDeque<ToShard>>,
    /// `approx_bytes` of what `items` holds.
    bytes: Cell<usize>,
    /// At either bound the sequencer takes no new work.
    bound: Bound,
    /// The most messages this queue ever held.
    peak: Cell<usize>,
    /// Closed queues drain what they hold, then their forwarder ends.
    closed: Cell<bool>,
    /// Wakes the forwarder when something arrives or the queue closes.
    arrived: Notify,
}

/// Every outgoing queue of the sequencer, and the wake-up of those waiting for room.
#[derive(Default)]
pub struct Outboxes {
    queues: Vec<Rc<Queue>>,
    room: Rc<Notify>,
}

impl Outboxes {
    /// One queue per sender, each with its forwarding task. The tasks end once the queue is
    /// closed and drained, or the receiving executor has gone.
    /// Each sender comes with its queue's bound. `room` is notified whenever a queue falls
    /// back under its bound.
    pub fn start<S: Sink + 'static>(
        outbound: Vec<(S, Bound)>,
        room: Rc<Notify>,
    ) -> (Self, Vec<glommio::Task<()>>) {
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for (out, bound) in outbound {
            let queue = Rc::new(Queue {
                items: RefCell::new(VecDeque::new()),
                bytes: Cell::new(0),
                bound,
                peak: Cell::new(0),
                closed: Cell::new(false),
                arrived: Notify::new(),
            });
            queues.push(queue.clone());
            tasks.push(glommio::spawn_local(forward(queue, out, room.clone())));
        }
        (Self { queues, room }, tasks)
    }

    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Queues a message; it is never refused. A closed queue (shutdown) drops it: its
    /// shard is going away.
    pub fn push(&self, shard: usize, msg: ToShard) {
        let Some(q) = self.queues.get(shard) else {
            return;
        };
        if q.closed.get() {
            return;
        }
        q.bytes.set(q.bytes.get() + approx_bytes(&msg));
        let len = {
            let mut items = q.items.borrow_mut();
            items.push_back(msg);
            items.len()
        };
        q.peak.set(q.peak.get().max(len));
        // The forwarder waits only on an empty queue.
        if len == 1 {
            q.arrived.notify();
        }
    }

    /// Whether every open queue is below its bound.
    pub fn has_room(&self) -> bool {
        self.queues.iter().all(|q| q.closed.get() || !q.full())
    }

    /// The most messages any queue ever held.
    pub fn peak(&self) -> usize {
        self.queues.iter().map(|q| q.peak.get()).max().unwrap_or(0)
    }

    /// Lets each forwarder end once its queue is drained; later pushes are dropped.
    pub fn close(&self) {
        for q in &self.queues {
            q.closed.set(true);
            q.arrived.notify();
        }
        // Nothing will take new work any more; release whoever waits for room.
        self.room.notify();
    }
}

impl Queue {
    fn full(&self) -> bool {
        self.items.borrow().len() >= self.bound.messages || self.bytes.get() >= self.bound.bytes
    }

    fn pop(&self) -> Option<ToShard> {
        let bytes = self.items.borrow().front().map(approx_bytes)?;
        self.pop_counted(bytes)
    }

    /// Takes the front message, whose `approx_bytes` the caller already has.
    fn pop_counted(&self, bytes: usize) -> Option<ToShard> {
        let msg = self.items.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get().saturating_sub(bytes));
        Some(msg)
    }

    /// The next message to hand over: a commit takes the commits queued right behind it
    /// along, up to [`COMMITS_PER_MESSAGE_MAX`] and [`COMMIT_BYTES_PER_MESSAGE_MAX`], as one
    /// `Commits`. Anything else goes alone, so the order is kept.
    fn pop_gathered(&self) -> Option<ToShard> {
        let mut commits = Vec::new();
        let mut bytes = 0;
        while commits.len() < COMMITS_PER_MESSAGE_MAX {
            let next_bytes = match self.items.borrow().front() {
                Some(msg @ ToShard::Commit { .. }) => approx_bytes(msg),
                _ => break,
            };
            if !commits.is_empty() && bytes + next_bytes > COMMIT_BYTES_PER_MESSAGE_MAX {
                break;
            }
            let Some(ToShard::Commit {
                txn,
                origin,
                digest,
            }) = self.pop_counted(next_bytes)
            else {
                break;
            };
            bytes += next_bytes;
            commits.push(crate::messages::Commit {
                txn,
                origin,
                digest,
            });
        }
        if commits.is_empty() {
            self.pop()
        } else {
            Some(ToShard::Commits(commits))
        }
    }
}

/// Commits one `Commits` message gathers at most: enough that a shard is woken once per
/// group-commit batch at the batch sizes measured, few enough that one message is not a
/// long stall for the shard's other work.
const COMMITS_PER_MESSAGE_MAX: usize = 256;
/// Bytes (as [`approx_bytes`] counts them) one `Commits` message gathers at most, beyond
/// its first commit: the channel behind the queue bounds messages, not bytes, so a message
/// must not grow with the values it carries.
const COMMIT_BYTES_PER_MESSAGE_MAX: usize = 1 << 20;

/// Moves one queue onto its cross-executor channel, waiting on the channel when the shard
/// is slow. Announces room when the queue falls back under its bounds.
async fn forward<S: Sink>(queue: Rc<Queue>, out: S, room: Rc<Notify>) {
    loop {
        queue
            .arrived
            .until(|| !queue.items.borrow().is_empty() || queue.closed.get())
            .await;
        let was_full = queue.full();
        let Some(msg) = queue.pop_gathered() else {
            // Closed and drained.
            break;
        };
        if was_full && !queue.full() {
            room.notify();
        }
        if out.send(msg).await.is_err() {
            // The shard has gone; nothing queued for it matters any more, and nobody may
            // wait for room in a queue that will never drain.
            queue.closed.set(true);
            queue.items.borrow_mut().clear();
            queue.bytes.set(0);
            room.notify();
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::channels::local_channel::{self, LocalSender};

    impl Sink for LocalSender<ToShard> {
        async fn send(&self, msg: ToShard) -> Result<(), ()> {
            LocalSender::send(self, msg).await.map_err(|_| ())
        }
    }

    fn report(token: u64) -> ToShard {
        ToShard::Report { origin: 0, token }
    }

    fn token(msg: ToShard) -> u64 {
        match msg {
            ToShard::Report { token, .. } => token,
            _ => u64::MAX,
        }
    }

    /// One queue over a local channel that holds one message, filled with `count` messages
    /// and given the chance to hand the first one over.
    struct Filled {
        outboxes: Outboxes,
        tasks: Vec<glommio::Task<()>>,
        rx: local_channel::LocalReceiver<ToShard>,
        room: Rc<Notify>,
    }

    async fn filled(count: u64) -> Filled {
        let (tx, rx) = local_channel::new_bounded::<ToShard>(1);
        let room = Rc::new(Notify::new());
        let (outboxes, tasks) = Outboxes::start(vec![(tx, Bound::SHARD)], room.clone());
        for t in 0..count {
            outboxes.push(0, report(t));
        }
        futures_lite::future::yield_now().await;
        Filled {
            outboxes,
            tasks,
            rx,
            room,
        }
    }

    /// A shard that stops taking messages fills its queue past the bound; the sequencer then
    /// has no room, and gets it back as soon as the shard drains below the bound. Nothing
    /// is dropped or reordered on the way.
    #[test]
    fn a_slow_shard_takes_the_room_away_and_gives_it_back_losing_nothing() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let total = OUTBOX_MESSAGES_MAX as u64 + 100;
                let Filled {
                    outboxes,
                    tasks,
                    rx,
                    room,
                } = filled(total).await;
                assert!(
                    !outboxes.has_room(),
                    "the slow shard's queue is over its bound"
                );
                let outboxes = Rc::new(outboxes);
                let waiter = {
                    let outboxes = outboxes.clone();
                    let room = room.clone();
                    glommio::spawn_local(async move {
                        room.until(|| outboxes.has_room()).await;
                    })
                };
                let mut next = 0;
                while next < 200 {
                    let msg = rx.recv().await.expect("the queue holds more");
                    assert_eq!(token(msg), next, "in order");
                    next += 1;
                }
                waiter.await;
                assert!(outboxes.has_room());
                assert!(outboxes.peak() <= OUTBOX_MESSAGES_MAX + 100);
                outboxes.close();
                while let Some(msg) = rx.recv().await {
                    assert_eq!(token(msg), next, "in order, none lost");
                    next += 1;
                    if next == total {
                        break;
                    }
                }
                assert_eq!(next, total);
                for t in tasks {
                    t.await;
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// A few large values fill a queue by bytes long before its message count matters.
    #[test]
    fn large_values_take_the_room_away_by_bytes() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let (tx, rx) = local_channel::new_bounded::<ToShard>(1);
                let room = Rc::new(Notify::new());
                let (outboxes, tasks) = Outboxes::start(vec![(tx, Bound::SHARD)], room);
                let value = 1 << 20;
                let count = OUTBOX_BYTES_MAX / value + 8;
                for zxid in 0..count as i64 {
                    outboxes.push(0, commit(zxid, value));
                }
                futures_lite::future::yield_now().await;
                assert!(count < OUTBOX_MESSAGES_MAX);
                assert!(!outboxes.has_room(), "over the byte bound");
                for _ in 0..10 {
                    rx.recv().await.expect("queued");
                }
                assert!(outboxes.has_room(), "back under it");
                outboxes.close();
                while rx.recv().await.is_some() {}
                for t in tasks {
                    t.await;
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    fn commit(zxid: i64, value: usize) -> ToShard {
        ToShard::Commit {
            txn: std::sync::Arc::new(ringkeeper_engine::txn::Txn {
                zxid,
                time_ms: 0,
                session: 1,
                cxid: 1,
                body: ringkeeper_engine::txn::TxnBody::SetData {
                    path: "/v".into(),
                    data: Some(vec![0; value]),
                    version: 1,
                },
            }),
            origin: None,
            digest: zxid as u64,
        }
    }

    /// What one received message holds: the zxids of its commits, or the token of a report.
    fn contents(msg: ToShard) -> Vec<i64> {
        match msg {
            ToShard::Commits(commits) => commits.into_iter().map(|c| c.txn.zxid).collect(),
            ToShard::Commit { txn, .. } => vec![txn.zxid],
            other => vec![-(token(other) as i64) - 1],
        }
    }

    /// Commits queued back to back travel as one message, up to the count and byte limits;
    /// anything else travels alone, between them, in its place.
    #[test]
    fn queued_commits_travel_together_in_order() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let (tx, rx) = local_channel::new_bounded::<ToShard>(1);
                let room = Rc::new(Notify::new());
                let (outboxes, tasks) = Outboxes::start(vec![(tx, Bound::SHARD)], room);
                for zxid in 0..300 {
                    outboxes.push(0, commit(zxid, 8));
                }
                outboxes.push(0, report(7));
                for zxid in 300..305 {
                    outboxes.push(0, commit(zxid, 8));
                }
                // Values of 400 KiB: a message takes two of them (a third would pass 1 MiB),
                // the first after the five small commits.
                for zxid in 305..310 {
                    outboxes.push(0, commit(zxid, 400 << 10));
                }
                outboxes.close();
                let mut received = Vec::new();
                while let Some(msg) = rx.recv().await {
                    received.push(contents(msg));
                }
                let lens: Vec<usize> = received.iter().map(Vec::len).collect();
                assert_eq!(lens, vec![256, 44, 1, 7, 2, 1]);
                assert_eq!(received[2], vec![-8], "the report alone, after zxid 299");
                let zxids: Vec<i64> = received.into_iter().flatten().filter(|z| *z >= 0).collect();
                assert_eq!(
                    zxids,
                    (0..310).collect::<Vec<_>>(),
                    "every commit, in order"
                );
                for t in tasks {
                    t.await;
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn a_gone_shard_never_holds_the_room() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let Filled {
                    outboxes,
                    tasks,
                    rx,
                    room,
                } = filled(OUTBOX_MESSAGES_MAX as u64 + 10).await;
                assert!(!outboxes.has_room());
                // The shard's executor goes away while the forwarder waits on it (a local
                // channel tells a waiting sender only once it has room again).
                let _ = rx.recv().await;
                drop(rx);
                room.until(|| outboxes.has_room()).await;
                for t in tasks {
                    t.await;
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
