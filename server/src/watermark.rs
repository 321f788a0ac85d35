//! The released-zxid watermark: the one value the sequencer shares with every shard.
//!
//! A write is acknowledged only after the sequencer releases it, and every shard applies
//! released transactions in order but on its own schedule. A read that arrives at a shard
//! which has not yet applied the newest released zxid waits until it has, so that a read
//! never misses a write that was acknowledged (to any client) before the read arrived —
//! what a client of a standalone Apache server observes. The price is one atomic load per
//! read of a cache line written once per group-commit batch; no lock is involved.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use ringkeeper_engine::Zxid;

#[derive(Debug, Clone, Default)]
pub struct Watermark(Arc<AtomicI64>);

impl Watermark {
    pub fn new(zxid: Zxid) -> Self {
        Self(Arc::new(AtomicI64::new(zxid)))
    }

    pub fn get(&self) -> Zxid {
        self.0.load(Ordering::Acquire)
    }

    /// Raises the watermark; it never goes down.
    pub fn raise(&self, zxid: Zxid) {
        self.0.fetch_max(zxid, Ordering::Release);
    }
}
