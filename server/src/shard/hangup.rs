//! Ends a shard's connection tasks when the shard stops.
//!
//! A connection task holds the shard's sender to the sequencer, and the sequencer stops only
//! when every such sender is gone. A connection that has registered with the shard is closed
//! by `ShardState::close_all`, but one still before or inside its handshake (a client that
//! connected and said nothing yet, a TLS handshake, a client waiting for this server to
//! catch up with its lastZxidSeen) is not registered anywhere: without this, it would hold
//! the process up until its handshake deadline. Each task gets a channel whose sender the
//! shard keeps; dropping the senders wakes every task at once, without a timer per task.

use std::collections::HashMap;
use std::future::Future;

use futures_lite::future;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

#[derive(Default)]
pub struct Hangups {
    next: u64,
    /// One sender per live connection task; dropped (all at once) when the shard stops.
    senders: HashMap<u64, LocalSender<()>>,
    stopped: bool,
}

/// What a connection task needs to notice the hang-up and to unregister afterwards.
pub struct Registration {
    id: u64,
    hangup: LocalReceiver<()>,
}

impl Hangups {
    /// Registers a new connection task. After `hang_up_all`, the registration is already
    /// hung up, so a connection accepted during shutdown ends at once.
    pub fn register(&mut self) -> Registration {
        let (tx, rx) = local_channel::new_bounded(1);
        let id = self.next;
        self.next += 1;
        if !self.stopped {
            self.senders.insert(id, tx);
        }
        Registration { id, hangup: rx }
    }

    pub fn forget(&mut self, id: u64) {
        self.senders.remove(&id);
    }

    /// Wakes every registered task; each ends at its next await.
    pub fn hang_up_all(&mut self) {
        self.stopped = true;
        self.senders.clear();
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.senders.len()
    }
}

/// Runs `task` until it ends or the shard hangs up, whichever is first. A hung-up task is
/// dropped where it waits: whatever it held (sockets, the sequencer sender) is released.
pub async fn until_hangup<F: Future<Output = ()>>(registration: Registration, task: F) {
    let hangup = registration.hangup;
    future::or(task, async {
        // The channel carries nothing: recv returns None once the sender is dropped.
        while hangup.recv().await.is_some() {}
    })
    .await;
}

impl Registration {
    pub fn id(&self) -> u64 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn hang_up_ends_waiting_tasks_and_later_registrations() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let hangups = Rc::new(std::cell::RefCell::new(Hangups::default()));
                let finished = Rc::new(Cell::new(0));
                let mut tasks = Vec::new();
                for _ in 0..3 {
                    let reg = hangups.borrow_mut().register();
                    let finished = finished.clone();
                    let hangups = hangups.clone();
                    tasks.push(glommio::spawn_local(async move {
                        // Stands for a client that never sends its handshake.
                        let id = reg.id();
                        until_hangup(reg, future::pending::<()>()).await;
                        hangups.borrow_mut().forget(id);
                        finished.set(finished.get() + 1);
                    }));
                }
                // Lets every task run to its wait.
                for _ in 0..3 {
                    future::yield_now().await;
                }
                assert_eq!(finished.get(), 0);
                assert_eq!(hangups.borrow().live(), 3);
                hangups.borrow_mut().hang_up_all();
                for t in tasks {
                    t.await;
                }
                assert_eq!(finished.get(), 3);
                assert_eq!(hangups.borrow().live(), 0);
                // Accepted while stopping: ends without waiting.
                let reg = hangups.borrow_mut().register();
                until_hangup(reg, future::pending::<()>()).await;
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn a_task_that_ends_by_itself_is_unaffected() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut hangups = Hangups::default();
                let reg = hangups.register();
                let ran = Cell::new(false);
                let id = reg.id();
                until_hangup(reg, async { ran.set(true) }).await;
                assert!(ran.get());
                assert_eq!(hangups.live(), 1);
                hangups.forget(id);
                assert_eq!(hangups.live(), 0);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
