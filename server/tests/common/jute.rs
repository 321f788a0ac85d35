//! A deliberately separate, minimal jute codec for hand-made frames. The suite does not reuse
//! the engine's codec so that a bug there cannot hide itself by agreeing with its own tests.

/// A whole setData request frame (any version), as a pipelining client sends it.
pub fn set_data_frame(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    Out::new()
        .int(xid)
        .int(op::SET_DATA)
        .string(path)
        .buffer(data)
        .int(-1)
        .frame()
}

/// Appends big-endian jute values to a buffer.
#[derive(Default, Clone, Debug)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn new() -> Out {
        Out(Vec::new())
    }

    pub fn int(mut self, value: i32) -> Out {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn long(mut self, value: i64) -> Out {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn boolean(mut self, value: bool) -> Out {
        self.0.push(u8::from(value));
        self
    }

    pub fn buffer(self, value: &[u8]) -> Out {
        let mut out = self.int(value.len() as i32);
        out.0.extend_from_slice(value);
        out
    }

    pub fn string(self, value: &str) -> Out {
        self.buffer(value.as_bytes())
    }

    /// A vector of ACLs given as `(perms, scheme, id)`.
    pub fn acls(self, acls: &[(i32, &str, &str)]) -> Out {
        let mut out = self.int(acls.len() as i32);
        for (perms, scheme, id) in acls {
            out = out.int(*perms).string(scheme).string(id);
        }
        out
    }

    /// The world-readable, world-writable ACL most raw requests use.
    pub fn open_acl(self) -> Out {
        self.acls(&[(31, "world", "anyone")])
    }

    /// Prefixes the bytes with their length, making a frame.
    pub fn frame(self) -> Vec<u8> {
        let mut frame = (self.0.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&self.0);
        frame
    }
}

/// Reads big-endian jute values, panicking with a clear message on a short body: a reply the
/// server truncated is a test failure, not something to recover from.
pub struct In<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> In<'a> {
    pub fn new(bytes: &'a [u8]) -> In<'a> {
        In { bytes, position: 0 }
    }

    fn take(&mut self, count: usize) -> &'a [u8] {
        let end = self.position + count;
        assert!(
            end <= self.bytes.len(),
            "reply too short: wanted {count} bytes at {} of {}",
            self.position,
            self.bytes.len()
        );
        let slice = &self.bytes[self.position..end];
        self.position = end;
        slice
    }

    pub fn int(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().expect("four bytes"))
    }

    pub fn long(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().expect("eight bytes"))
    }

    pub fn boolean(&mut self) -> bool {
        self.take(1)[0] != 0
    }

    /// A buffer; `None` for the null buffer (length -1).
    pub fn buffer(&mut self) -> Option<Vec<u8>> {
        let length = self.int();
        if length < 0 {
            return None;
        }
        Some(self.take(length as usize).to_vec())
    }

    pub fn string(&mut self) -> String {
        let bytes = self.buffer().unwrap_or_default();
        String::from_utf8(bytes).expect("a UTF-8 string")
    }

    pub fn strings(&mut self) -> Vec<String> {
        let count = self.int();
        (0..count.max(0)).map(|_| self.string()).collect()
    }

    pub fn stat(&mut self) -> RawStat {
        RawStat {
            czxid: self.long(),
            mzxid: self.long(),
            ctime: self.long(),
            mtime: self.long(),
            version: self.int(),
            cversion: self.int(),
            aversion: self.int(),
            ephemeral_owner: self.long(),
            data_length: self.int(),
            num_children: self.int(),
            pzxid: self.long(),
        }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }
}

/// The Stat record as it travels on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// Opcodes used by raw tests (ZooDefs.OpCode).
pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const RECONFIG: i32 = 16;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Error codes used by raw tests (KeeperException.Code).
pub mod err {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const INVALID_ACL: i32 = -114;
    pub const NOT_READ_ONLY: i32 = -119;
    pub const NO_WATCHER: i32 = -121;
    pub const RECONFIG_DISABLED: i32 = -123;
    pub const NEW_CONFIG_NO_QUORUM: i32 = -13;
    pub const RECONFIG_IN_PROGRESS: i32 = -14;
}

/// Event types of a WatcherEvent.
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// Special xids of the protocol.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
}
