//! Planted bugs, which the whole-server simulator (`crate::sim`) must find: the proof that
//! its checks can fail. They exist only with the `sim-bugs` feature, which only the
//! simulator's tests enable (a dev-dependency of this crate on itself); in any other build
//! [`active`] is a constant `false` and the optimiser removes every planted branch.
//!
//! The switch is per thread because a simulation runs a whole ensemble on one thread, and
//! test threads must not see each other's bugs.

/// The bugs that can be planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bug {
    /// The sequencer tells the protocol a record is durable as soon as it is in the open
    /// batch, so writes are acknowledged before their fdatasync.
    AckBeforeDurable,
    /// A leader counts its own durable log as a quorum (in `ringkeeper_replication`), so
    /// it applies and acknowledges writes no follower has.
    SelfQuorum,
    /// A shard answers a read at once even when it has not applied every write
    /// acknowledged before the read arrived (the read fence).
    SkipReadFence,
    /// Shard 1 skips applying every fifth committed transaction, so its tree diverges.
    SkipApply,
    /// A reconfiguration takes effect in the protocol when it is logged rather than when it
    /// is committed (in `ringkeeper_replication`), so a minority of the new configuration
    /// can commit writes the old majority never had.
    ReconfigActiveOnLog,
}

#[cfg(feature = "sim-bugs")]
thread_local! {
    static ACTIVE: std::cell::Cell<Option<Bug>> = const { std::cell::Cell::new(None) };
}

/// Plants `bug` (or none) for this thread.
#[cfg(feature = "sim-bugs")]
pub fn plant(bug: Option<Bug>) {
    ACTIVE.with(|c| c.set(bug));
    ringkeeper_replication::planted::set_self_quorum(bug == Some(Bug::SelfQuorum));
    ringkeeper_replication::planted::set_activate_on_log(bug == Some(Bug::ReconfigActiveOnLog));
}

/// Whether `bug` is planted on this thread.
#[inline]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "sim-bugs")]
    {
        ACTIVE.with(|c| c.get()) == Some(bug)
    }
    #[cfg(not(feature = "sim-bugs"))]
    {
        let _ = bug;
        false
    }
}
