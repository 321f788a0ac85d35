//! What this server is doing in its ensemble, readable from any executor: the shards use it
//! to refuse clients while the server has no quorum, and the four-letter words report it.
//! One process runs one server, so a process-wide atomic is the whole state.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingRole {
    /// No ensemble: always serving.
    Standalone = 0,
    /// An ensemble member without an established leader: not serving clients.
    Looking = 1,
    Following = 2,
    Leading = 3,
}

static ROLE: AtomicU8 = AtomicU8::new(ServingRole::Standalone as u8);

pub fn set(role: ServingRole) {
    ROLE.store(role as u8, Ordering::Release);
}

pub fn get() -> ServingRole {
    match ROLE.load(Ordering::Acquire) {
        1 => ServingRole::Looking,
        2 => ServingRole::Following,
        3 => ServingRole::Leading,
        _ => ServingRole::Standalone,
    }
}

/// Whether clients are served right now.
pub fn serving() -> bool {
    get() != ServingRole::Looking
}

/// Apache's `getState()` word for `srvr`'s Mode line and `mntr`'s zk_server_state.
pub fn state_name() -> &'static str {
    match get() {
        ServingRole::Standalone => "standalone",
        ServingRole::Looking => "looking",
        ServingRole::Following => "follower",
        ServingRole::Leading => "leader",
    }
}
