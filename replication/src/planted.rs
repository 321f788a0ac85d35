//! A planted bug for the whole-server simulator (`ringkeeper_server::sim`), which must prove
//! it finds a leader that commits on its own ack. Compiled only with the `sim-bugs` feature
//! (which the server's simulator tests enable); without it `self_quorum` is a constant
//! `false` and the switch does not exist.

#[cfg(feature = "sim-bugs")]
thread_local! {
    static SELF_QUORUM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Turns the planted bug on or off for this thread (a simulation runs on one thread).
#[cfg(feature = "sim-bugs")]
pub fn set_self_quorum(on: bool) {
    SELF_QUORUM.with(|c| c.set(on));
}

/// Whether a leader counts its own durable log as a quorum (the planted bug).
#[inline]
pub fn self_quorum() -> bool {
    #[cfg(feature = "sim-bugs")]
    {
        SELF_QUORUM.with(|c| c.get())
    }
    #[cfg(not(feature = "sim-bugs"))]
    {
        false
    }
}
