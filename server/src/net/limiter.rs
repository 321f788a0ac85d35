//! Connections per client address, counted across every shard (maxClientCnxns).
//!
//! The kernel spreads one client's connections over the shards' listeners, so a per-shard
//! count would let a client hold `shards x maxClientCnxns` connections. The count is shared
//! through a mutex, taken only when a connection opens or closes, never per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct ConnectionLimiter {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub struct Admission {
    limiter: ConnectionLimiter,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// Admits one more connection from `ip` unless it already has `max` (0: no limit).
    pub fn admit(&self, ip: IpAddr, max: usize) -> Option<Admission> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Admission {
            limiter: self.clone(),
            ip,
        })
    }

    pub fn count(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_are_counted_per_address_and_freed_on_drop() {
        let l = ConnectionLimiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = l.admit(a, 2).unwrap();
        let _second = l.admit(a, 2).unwrap();
        assert!(
            l.admit(a, 2).is_none(),
            "a third connection from one address is refused"
        );
        assert!(l.admit(b, 2).is_some(), "another address has its own count");
        drop(first);
        assert!(
            l.admit(a, 2).is_some(),
            "a closed connection frees its place"
        );
        assert!(l.admit(a, 0).is_some(), "0 means no limit");
    }
}
