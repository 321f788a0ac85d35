//! A wake-up for tasks of one executor that wait for a condition on state they share.
//!
//! The waiter checks its condition, and if it does not hold, waits for the next
//! [`Notify::notify`], then checks again. Whoever changes the state the condition reads calls
//! `notify`. This replaces "sleep a little and look again": a waiter runs exactly when
//! something it may care about changed, never in fixed steps and never for nothing.
//!
//! Single-executor only (no `Send`): everything here lives on one core, as the rest of a
//! shard's or the sequencer's state does. A waiter that is dropped while waiting (a task
//! hung up, a deadline won the race) takes its entry out, so the list of waiters holds at
//! most one entry per live waiter.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct Notify {
    /// Bumped by every notify: a waiter that saw another value has been notified.
    generation: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
    next_waiter: Cell<u64>,
}

impl Notify {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes every task waiting in [`Self::until`].
    pub fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let waiters = self.waiters.take();
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Waits until `ready` holds. `ready` is checked at once and again after each notify.
    pub async fn until(&self, ready: impl Fn() -> bool) {
        while !ready() {
            self.next().await;
        }
    }

    /// Waits for the next notify.
    fn next(&self) -> impl Future<Output = ()> + '_ {
        let seen = self.generation.get();
        let id = self.next_waiter.get();
        self.next_waiter.set(id.wrapping_add(1));
        Waiting {
            notify: self,
            seen,
            id,
        }
    }

    fn register(&self, id: u64, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        match waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(waker),
            None => waiters.push((id, waker.clone())),
        }
    }

    fn forget(&self, id: u64) {
        self.waiters.borrow_mut().retain(|(i, _)| *i != id);
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

struct Waiting<'a> {
    notify: &'a Notify,
    seen: u64,
    id: u64,
}

impl Future for Waiting<'_> {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.seen {
            return Poll::Ready(());
        }
        self.notify.register(self.id, cx.waker());
        Poll::Pending
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.notify.forget(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    fn noop_context() -> std::task::Context<'static> {
        std::task::Context::from_waker(Waker::noop())
    }

    #[test]
    fn a_waiter_runs_only_after_a_notify_and_only_when_its_condition_holds() {
        let notify = Notify::new();
        let level = Cell::new(0);
        let mut wait = pin!(notify.until(|| level.get() >= 2));
        let mut cx = noop_context();
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(notify.waiting(), 1);
        level.set(1);
        notify.notify();
        assert!(
            wait.as_mut().poll(&mut cx).is_pending(),
            "condition not met"
        );
        assert_eq!(notify.waiting(), 1, "waits again, registered once");
        level.set(2);
        assert!(
            wait.as_mut().poll(&mut cx).is_pending(),
            "a change nobody announced is not seen before the next notify"
        );
        notify.notify();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert_eq!(notify.waiting(), 0);
    }

    #[test]
    fn a_dropped_waiter_leaves_no_entry() {
        let notify = Notify::new();
        {
            let mut wait = pin!(notify.until(|| false));
            assert!(wait.as_mut().poll(&mut noop_context()).is_pending());
            assert_eq!(notify.waiting(), 1);
        }
        assert_eq!(notify.waiting(), 0);
    }

    #[test]
    fn a_condition_already_true_does_not_wait() {
        let notify = Notify::new();
        let mut wait = pin!(notify.until(|| true));
        assert!(wait.as_mut().poll(&mut noop_context()).is_ready());
        assert_eq!(notify.waiting(), 0);
    }
}
