//! The headers that frame every request, reply and multi operation.

use super::record;

record! {
    /// Precedes every request body after the handshake: the client's sequence number and the
    /// opcode. A few xids are reserved (see [`crate::types::xid`]).
    RequestHeader {
        xid: i32 = int,
        op: i32 = int,
    }
}

record! {
    /// Precedes every reply body and every notification. `err` is a `KeeperException.Code`;
    /// `zxid` is the last zxid the server had applied when it answered.
    ReplyHeader {
        xid: i32 = int,
        zxid: i64 = long,
        err: i32 = int,
    }
}

record! {
    /// Precedes each operation of a multi request and each result of a multi reply. The list
    /// ends with a header whose `done` is true (Apache writes `(-1, true, -1)`).
    MultiHeader {
        op: i32 = int,
        done: bool = boolean,
        err: i32 = int,
    }
}

impl RequestHeader {
    /// The encoded size: two ints.
    pub const ENCODED_LEN: usize = 8;
}

impl ReplyHeader {
    /// The encoded size: int, long, int.
    pub const ENCODED_LEN: usize = 16;
}

impl MultiHeader {
    /// The encoded size: int, boolean, int. Every multi operation costs at least this many
    /// bytes, which is what bounds the number of operations a frame can carry.
    pub const ENCODED_LEN: usize = 9;

    /// The header that ends an operation or result list, exactly as Apache writes it.
    pub const TERMINATOR: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}
