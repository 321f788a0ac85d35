//! Zxid arithmetic. A zxid is the same `i64` as `ringkeeper_engine::types::Zxid`: the leader's
//! epoch in the high 32 bits and a counter in the low 32 bits, so that plain integer order is
//! the order in which proposals were made across epochs.

/// A ZooKeeper transaction id; identical to `ringkeeper_engine::types::Zxid`.
pub type Zxid = i64;

/// The largest epoch a leader may pick. Epochs stay below 2^31 so that a zxid stays positive
/// and integer comparison of zxids keeps meaning "proposed earlier".
pub const EPOCH_MAX: u32 = i32::MAX as u32 - 1;

/// Builds the zxid of proposal `counter` in `epoch`.
pub fn make(epoch: u32, counter: u32) -> Zxid {
    (((epoch as u64) << 32) | counter as u64) as Zxid
}

/// The epoch of the leader that proposed `zxid`.
pub fn epoch_of(zxid: Zxid) -> u32 {
    ((zxid as u64) >> 32) as u32
}

/// The position of `zxid` within its epoch; the first proposal of an epoch has counter 1.
pub fn counter_of(zxid: Zxid) -> u32 {
    (zxid as u64 & 0xffff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_order_follows_epochs() {
        let z = make(7, 42);
        assert_eq!(epoch_of(z), 7);
        assert_eq!(counter_of(z), 42);
        assert!(make(1, u32::MAX) < make(2, 0));
        assert!(make(EPOCH_MAX, u32::MAX) > 0);
    }
}
