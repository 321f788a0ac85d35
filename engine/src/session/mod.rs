//! The sequencer's table of live sessions: ids, passwords, timeouts, owners and expiry.
//!
//! Modelled on Apache's SessionTrackerImpl and ExpiryQueue, minus the thread: the caller
//! passes `now_ms` (a monotonic clock in milliseconds) to every call that needs time, and
//! polls `expired` when `next_expiry_ms` comes due. A session's life:
//!
//! 1. `create` (or `restore` when replaying from disk) puts it in the table with a deadline.
//! 2. `touch` on every request and ping moves the deadline forward.
//! 3. `expired` reports it once its deadline passed, or the client asks to close; either
//!    way it is marked closing and refuses further touches (Apache's `isClosing`).
//! 4. `close` drops it once the closeSession transaction is applied.

mod expiry;
mod password;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::types::{ErrorCode, ServerId, SessionId};
use expiry::ExpiryBuckets;
pub use password::PASSWORD_LEN;
use password::{constant_time_eq, PasswordKey};

/// Apache's EphemeralType.CONTAINER_EPHEMERAL_OWNER: the ephemeralOwner that marks a
/// container node, so it must never be handed out as a session id.
const CONTAINER_OWNER: SessionId = i64::MIN;

/// The default bound on live sessions. Apache has none (only maxClientCnxns per address);
/// we keep one so a connection storm cannot grow the sequencer's table without bound.
pub const SESSIONS_MAX_DEFAULT: usize = 1 << 20;

/// Tracker settings, from zoo.cfg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// tickTime: the width of an expiry bucket.
    pub tick_time_ms: i32,
    /// The most sessions (closing ones included) the table holds.
    pub sessions_max: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            tick_time_ms: 2000,
            sessions_max: SESSIONS_MAX_DEFAULT,
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// A configuration error: buckets need a positive width.
    #[error("tickTime must be positive, got {0} ms")]
    InvalidTickTime(i32),
    /// The table is full; the server refuses the connection.
    #[error("session table full: {limit} sessions")]
    TooManySessions { limit: usize },
}

/// One live session as the 4lw `cons` and `dump` commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    /// The negotiated timeout.
    pub timeout_ms: i32,
    /// The expiry bucket: the session is expired once `now_ms >= expires_at_ms`. Because the
    /// bucket is rounded strictly up, that is always after last touch + timeout.
    pub expires_at_ms: i64,
    /// The connection (or shard) that owns it, for SessionMoved checks.
    pub owner: Option<ServerId>,
    /// Expired or being closed: touches fail and requests answer SessionExpired.
    pub closing: bool,
}

/// Apache's SessionTrackerImpl.initializeNextSessionId: the server id in the top byte, the
/// clock's low 40 bits of milliseconds below it, the low 16 bits zero (room for 65536
/// sessions per millisecond of restart time before ids could repeat). Ids then count up.
/// As Apache's `id << 56`, only the low byte of an id above 255 shows.
pub fn initial_session_id(server_id: ServerId, now_ms: i64) -> SessionId {
    // A logical shift right, as Apache's `>>> 8`, so the top byte is the server id alone.
    let time_bits = ((now_ms << 24) as u64 >> 8) as i64;
    let id = time_bits | (server_id << 56) as i64;
    if id == CONTAINER_OWNER {
        id + 1
    } else {
        id
    }
}

/// The timeout a client gets (ZooKeeperServer.processConnectRequest): raised to `min`, then
/// lowered to `max`. With a misconfigured `min > max` the result is `max`, as in Apache.
pub fn negotiate_timeout(requested: i32, min: i32, max: i32) -> i32 {
    let mut timeout = requested;
    if timeout < min {
        timeout = min;
    }
    if timeout > max {
        timeout = max;
    }
    timeout
}

/// The sequencer's session table.
#[derive(Debug, Clone)]
pub struct SessionTracker {
    key: PasswordKey,
    /// A key passwords made before an upgrade may still carry (`accept_legacy_secret`);
    /// checked, never used to make a password.
    legacy: Option<PasswordKey>,
    server_id: ServerId,
    sessions_max: usize,
    next_id: SessionId,
    /// Ordered by id so `cons` and `dump` output is stable.
    sessions: BTreeMap<SessionId, Session>,
    /// Only sessions that are not closing sit in a bucket, so each is reported once.
    buckets: ExpiryBuckets,
}

impl SessionTracker {
    /// `secret` keys the password derivation and must be the same on every server of the
    /// ensemble, or clients could not resume their sessions after failing over.
    pub fn new(
        server_id: ServerId,
        now_ms: i64,
        secret: &[u8],
        settings: SessionSettings,
    ) -> Result<Self, SessionError> {
        if settings.tick_time_ms <= 0 {
            return Err(SessionError::InvalidTickTime(settings.tick_time_ms));
        }
        Ok(Self {
            key: PasswordKey::new(secret),
            legacy: None,
            server_id,
            sessions_max: settings.sessions_max,
            next_id: initial_session_id(server_id, now_ms),
            sessions: BTreeMap::new(),
            buckets: ExpiryBuckets::new(i64::from(settings.tick_time_ms)),
        })
    }

    /// Opens a session with an already negotiated timeout.
    pub fn create(
        &mut self,
        timeout_ms: i32,
        now_ms: i64,
    ) -> Result<(SessionId, [u8; PASSWORD_LEN]), SessionError> {
        if self.sessions.len() >= self.sessions_max {
            return Err(SessionError::TooManySessions {
                limit: self.sessions_max,
            });
        }
        let id = self.take_next_id();
        self.track(id, timeout_ms, now_ms);
        Ok((id, self.password(id)))
    }

    /// The password of a session id, for the ConnectResponse of a resumed session.
    pub fn password(&self, id: SessionId) -> [u8; PASSWORD_LEN] {
        self.key.password(id)
    }

    /// Whether `passwd` is the password of `id` (ZooKeeperServer.checkPasswd: id 0 never
    /// matches, since 0 means "new session" in a ConnectRequest). It does not say the
    /// session is live; `touch` does.
    pub fn check_password(&self, id: SessionId, passwd: &[u8]) -> bool {
        let legacy = self
            .legacy
            .as_ref()
            .is_some_and(|k| constant_time_eq(passwd, &k.password(id)));
        id != 0 && (constant_time_eq(passwd, &self.password(id)) || legacy)
    }

    /// Also accepts passwords keyed with `secret`, as an earlier version made them, so that
    /// sessions opened before an upgrade resume after it. A resumed session's reply carries
    /// the password under the current key, which the client keeps from then on.
    pub fn accept_legacy_secret(&mut self, secret: &[u8]) {
        self.legacy = Some(PasswordKey::new(secret));
    }

    /// Keeps a session alive. False if it is unknown, closing, or already past its
    /// deadline. Apache would revive a session whose deadline passed if its expiry thread
    /// had not run yet; we decide by the clock alone, so the answer does not depend on when
    /// the caller last polled `expired` (which will still report the session).
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let Some(s) = self.sessions.get_mut(&id) else {
            return false;
        };
        if s.closing || now_ms >= s.expires_at_ms {
            return false;
        }
        let bucket = self
            .buckets
            .bucket_after(now_ms.saturating_add(i64::from(s.timeout_ms)));
        if bucket != s.expires_at_ms {
            self.buckets.remove(id, s.expires_at_ms);
            self.buckets.insert(id, bucket);
            s.expires_at_ms = bucket;
        }
        true
    }

    /// SessionTrackerImpl.checkSession: UnknownSession if absent, SessionExpired if
    /// closing, SessionMoved if another owner holds it; the first owner to ask takes it.
    pub fn check_session(&mut self, id: SessionId, owner: ServerId) -> Result<(), ErrorCode> {
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(ErrorCode::UnknownSession)?;
        if s.closing {
            return Err(ErrorCode::SessionExpired);
        }
        match s.owner {
            None => {
                s.owner = Some(owner);
                Ok(())
            }
            Some(current) if current == owner => Ok(()),
            Some(_) => Err(ErrorCode::SessionMoved),
        }
    }

    /// SessionTrackerImpl.setOwner: a reconnecting client moves its session to `owner`.
    pub fn set_owner(&mut self, id: SessionId, owner: ServerId) -> Result<(), ErrorCode> {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.owner = Some(owner);
                Ok(())
            }
            _ => Err(ErrorCode::SessionExpired),
        }
    }

    /// Marks a session closing because its client asked to close it (Apache does this in
    /// PrepRequestProcessor for closeSession). It will not be reported by `expired`.
    /// Returns false if it is unknown or was already closing.
    pub fn mark_closing(&mut self, id: SessionId) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.closing = true;
                self.buckets.remove(id, s.expires_at_ms);
                true
            }
            _ => false,
        }
    }

    /// Drops a session once its closeSession transaction is applied.
    pub fn close(&mut self, id: SessionId) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        if !s.closing {
            self.buckets.remove(id, s.expires_at_ms);
        }
        Some(s)
    }

    /// The sessions whose deadline has come (`now_ms >= expires_at_ms`), oldest deadline
    /// first. Each is marked closing and reported exactly once; the caller issues a
    /// closeSession transaction for each and calls `close` when it is applied.
    pub fn expired(&mut self, now_ms: i64) -> Vec<SessionId> {
        let due = self.buckets.drain_due(now_ms);
        for id in &due {
            if let Some(s) = self.sessions.get_mut(id) {
                s.closing = true;
            }
        }
        due
    }

    /// When `expired` will next have something to report: the earliest bucket, if any.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.buckets.next_ms()
    }

    /// Re-registers a session found on disk or in a snapshot (SessionTrackerImpl
    /// .trackSession): added with a fresh deadline if absent, its deadline renewed if
    /// present. Returns whether it was added. Recovery must not fail, so the session limit
    /// does not apply here. Ids this server handed out move `next_id` past them, so a clock
    /// that went backwards across a restart cannot make `create` reuse one.
    pub fn restore(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) -> bool {
        let mine = id as u64 >> 56 == self.server_id & 0xff;
        if mine && id >= self.next_id {
            self.next_id = id.wrapping_add(1);
        }
        if let Some(s) = self.sessions.get_mut(&id) {
            if !s.closing {
                let bucket = self
                    .buckets
                    .bucket_after(now_ms.saturating_add(i64::from(s.timeout_ms)));
                self.buckets.remove(id, s.expires_at_ms);
                self.buckets.insert(id, bucket);
                s.expires_at_ms = bucket;
            }
            return false;
        }
        self.track(id, timeout_ms, now_ms);
        true
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Every session, closing ones included, by ascending id (for `cons` and `dump`).
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// The expiry buckets as Apache's `dump` prints them ("N expire at T:" then the ids):
    /// bucket time ascending, ids ascending. Closing sessions are in no bucket.
    pub fn expiry_buckets(&self) -> Vec<(i64, Vec<SessionId>)> {
        self.buckets
            .iter()
            .map(|(t, ids)| (t, ids.iter().copied().collect()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Checks that every live session sits in exactly its own bucket and closing ones in
    /// none. Walks everything: for tests and debug builds, not hot paths.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        for s in self.sessions.values() {
            let bucketed = self.buckets.contains(s.id, s.expires_at_ms);
            if s.closing == bucketed {
                return Err(format!(
                    "session {:#x} closing={} bucketed={bucketed}",
                    s.id, s.closing
                ));
            }
            if !s.closing {
                live += 1;
            }
        }
        if live != self.buckets.len() {
            return Err(format!(
                "{live} live sessions but {} bucketed",
                self.buckets.len()
            ));
        }
        Ok(())
    }

    fn take_next_id(&mut self) -> SessionId {
        // Skipping taken ids ends because the table is finite; 0 means "no session" in a
        // ConnectRequest and the container marker must never be an owner.
        let mut id = self.next_id;
        while id == 0 || id == CONTAINER_OWNER || self.sessions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        id
    }

    fn track(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) {
        let bucket = self
            .buckets
            .bucket_after(now_ms.saturating_add(i64::from(timeout_ms)));
        self.buckets.insert(id, bucket);
        self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at_ms: bucket,
                owner: None,
                closing: false,
            },
        );
    }
}
