//! Planted bugs the simulators must find: a leader that commits on its own ack (for the
//! whole-server simulator, `ringkeeper_server::sim`), and a reconfiguration that takes
//! effect when logged instead of when committed (for this crate's simulator). Compiled only with the
//! `sim-bugs` feature (which the simulators' tests enable through a dev-dependency of each
//! crate on itself); without it the checks are constant `false` and the switches do not
//! exist.

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

#[cfg(feature = "sim-bugs")]
thread_local! {
    static ACTIVATE_ON_LOG: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Turns the planted reconfiguration bug on or off for this thread.
#[cfg(feature = "sim-bugs")]
pub fn set_activate_on_log(on: bool) {
    ACTIVATE_ON_LOG.with(|c| c.set(on));
}

/// Whether a reconfiguration takes effect as soon as it is logged rather than when it is
/// committed (the planted bug).
#[inline]
pub fn activate_on_log() -> bool {
    #[cfg(feature = "sim-bugs")]
    {
        ACTIVATE_ON_LOG.with(|c| c.get())
    }
    #[cfg(not(feature = "sim-bugs"))]
    {
        false
    }
}
