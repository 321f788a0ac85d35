//! Process-wide shutdown request, set from the signal handler thread.
//!
//! Executors poll this flag on their timers rather than on any request path, so a relaxed
//! atomic is all the coordination needed.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
