//! What this server is doing in its ensemble, readable from any executor: the shards use it
//! to refuse clients while the server has no quorum, and the four-letter words report it.
//! One process runs one server, so a process-wide atomic is the whole state.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingRole {
    /// No ensemble: always serving.
    Standalone = 0,
    /// An ensemble member without an established leader: not serving clients.
    Looking = 1,
    Following = 2,
    Leading = 3,
    /// An observer synchronized with its leader: serving, forwarding writes, never voting.
    Observing = 4,
}

static ROLE: AtomicU8 = AtomicU8::new(ServingRole::Standalone as u8);

/// `readonlymode.enabled`, set once at start-up.
static READ_ONLY_MODE: AtomicBool = AtomicBool::new(false);
/// How long a member looks for a quorum before it serves read-only clients.
static READ_ONLY_GRACE_MS: AtomicI64 = AtomicI64::new(READ_ONLY_GRACE_MIN_MS);
/// When the member last started looking, in milliseconds since [`epoch`].
static LOOKING_SINCE_MS: AtomicI64 = AtomicI64::new(0);

/// Apache's QuorumPeer waits `max(2000 ms, tickTime)` in LOOKING before it starts its
/// read-only server, so that an ordinary election does not hand clients a read-only
/// session only to close it a moment later.
const READ_ONLY_GRACE_MIN_MS: i64 = 2000;

pub fn set(role: ServingRole) {
    let old = ROLE.swap(role as u8, Ordering::AcqRel);
    if role == ServingRole::Looking && old != ServingRole::Looking as u8 {
        LOOKING_SINCE_MS.store(elapsed_ms(), Ordering::Release);
    }
}

/// Turns read-only mode on (`readonlymode.enabled=true`) with Apache's grace period.
pub fn enable_read_only_mode(tick_ms: i64) {
    READ_ONLY_GRACE_MS.store(tick_ms.max(READ_ONLY_GRACE_MIN_MS), Ordering::Relaxed);
    READ_ONLY_MODE.store(true, Ordering::Release);
}

/// Whether this member serves read-only clients now: read-only mode is on and it has
/// been looking for a quorum for longer than the grace period.
pub fn read_only() -> bool {
    READ_ONLY_MODE.load(Ordering::Acquire)
        && get() == ServingRole::Looking
        && elapsed_ms() - LOOKING_SINCE_MS.load(Ordering::Acquire)
            >= READ_ONLY_GRACE_MS.load(Ordering::Relaxed)
}

/// Milliseconds on a monotonic clock that starts with the process.
fn elapsed_ms() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as i64
}

pub fn get() -> ServingRole {
    match ROLE.load(Ordering::Acquire) {
        1 => ServingRole::Looking,
        2 => ServingRole::Following,
        3 => ServingRole::Leading,
        4 => ServingRole::Observing,
        _ => ServingRole::Standalone,
    }
}

/// Whether clients are served right now.
pub fn serving() -> bool {
    get() != ServingRole::Looking
}

/// Apache's `getState()` word for `srvr`'s Mode line and `mntr`'s zk_server_state.
pub fn state_name() -> &'static str {
    if read_only() {
        // Apache's ReadOnlyZooKeeperServer.getState().
        return "read-only";
    }
    match get() {
        ServingRole::Standalone => "standalone",
        ServingRole::Looking => "looking",
        ServingRole::Following => "follower",
        ServingRole::Leading => "leader",
        ServingRole::Observing => "observer",
    }
}
