//! Process-wide shutdown request, set from the signal thread, a panic hook or any executor.
//!
//! Nothing polls it: [`request`] wakes every task waiting in [`wait`] (on whatever executor;
//! glommio delivers a wake from another thread through the executor's eventfd) and every
//! thread blocked in [`wait_blocking`]. [`requested`] remains for code that is running anyway
//! and only needs to know. The lock is taken once per waiter and once per request, never on
//! a request path.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Tasks waiting for the request, by waiter id; a dropped waiter takes its entry out.
static WAITERS: Mutex<Vec<(u64, Waker)>> = Mutex::new(Vec::new());
static NEXT_WAITER: AtomicU64 = AtomicU64::new(0);
/// Threads blocked in `wait_blocking` sleep on this, under `WAITERS`' lock.
static BLOCKED: Condvar = Condvar::new();

pub fn request() {
    // Set under the lock: a waiter that registers after this sees the flag.
    let mut waiters = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
    REQUESTED.store(true, Ordering::SeqCst);
    for (_, w) in waiters.drain(..) {
        w.wake();
    }
    BLOCKED.notify_all();
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Completes once shutdown has been requested.
pub fn wait() -> impl Future<Output = ()> {
    Waiting {
        id: NEXT_WAITER.fetch_add(1, Ordering::Relaxed),
    }
}

/// Runs `f` until it completes or shutdown is requested; None in the second case.
pub async fn unless_requested<T>(f: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        wait().await;
        None
    })
    .await
}

/// Blocks this (non-executor) thread until shutdown is requested or `timeout` passes;
/// returns whether it was requested.
pub fn wait_blocking(timeout: Duration) -> bool {
    let waiters = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
    let (_waiters, _) = BLOCKED
        .wait_timeout_while(waiters, timeout, |_| !requested())
        .unwrap_or_else(|e| e.into_inner());
    requested()
}

struct Waiting {
    id: u64,
}

impl Future for Waiting {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if requested() {
            return Poll::Ready(());
        }
        let mut waiters = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock, which `request` holds while it sets the flag.
        if requested() {
            return Poll::Ready(());
        }
        match waiters.iter_mut().find(|(i, _)| *i == self.id) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => waiters.push((self.id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if requested() {
            return;
        }
        let mut waiters = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
        waiters.retain(|(i, _)| *i != self.id);
    }
}
