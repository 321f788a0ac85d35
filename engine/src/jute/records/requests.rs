//! Request bodies a client sends after the handshake, in `zookeeper.jute` field order.

use super::record;
use crate::jute::{DecodeError, Reader, Writer};
use crate::types::Acl;

record! {
    /// opcode 100, xid -4: adds an identity to the connection (`addauth digest user:pw`).
    AuthPacket {
        /// Always 0 from the Apache client; the server ignores it.
        auth_type: i32 = int,
        scheme: String = ustring,
        auth: Vec<u8> = bytes,
    }
}

record! {
    /// opcode 101, xid -8: re-registers standard watches after a reconnect.
    SetWatches {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = strings,
        exist_watches: Vec<String> = strings,
        child_watches: Vec<String> = strings,
    }
}

record! {
    /// opcode 105, xid -8: [`SetWatches`] plus persistent and persistent-recursive watches.
    SetWatches2 {
        relative_zxid: i64 = long,
        data_watches: Vec<String> = strings,
        exist_watches: Vec<String> = strings,
        child_watches: Vec<String> = strings,
        persistent_watches: Vec<String> = strings,
        persistent_recursive_watches: Vec<String> = strings,
    }
}

record! {
    /// opcode 4 (also a multiRead operation).
    GetDataRequest {
        path: String = ustring,
        watch: bool = boolean,
    }
}

record! {
    /// opcode 5 (also a multi operation). `version` -1 matches any version.
    SetDataRequest {
        path: String = ustring,
        data: Option<Vec<u8>> = buffer,
        version: i32 = int,
    }
}

record! {
    /// opcode 16. The three member lists are comma-separated server specs; `cur_config_id`
    /// -1 means "whatever the current config is".
    ReconfigRequest {
        joining_servers: String = ustring,
        leaving_servers: String = ustring,
        new_members: String = ustring,
        cur_config_id: i64 = long,
    }
}

record! {
    /// opcode 102: one step of a SASL exchange, client to server.
    GetSaslRequest {
        token: Option<Vec<u8>> = buffer,
    }
}

record! {
    /// Declared by `zookeeper.jute` but never sent by Apache's client or server; kept so the
    /// codec covers the whole client module.
    SetSaslRequest {
        token: Option<Vec<u8>> = buffer,
    }
}

record! {
    /// opcodes 1 (create), 15 (create2) and 19 (createContainer). `flags` is the raw
    /// `CreateMode` number: an invalid value is answered with BadArguments by the request
    /// preparer, not refused by the codec (except inside a multi, see [`super::MultiOp`]).
    CreateRequest {
        path: String = ustring,
        data: Option<Vec<u8>> = buffer,
        acl: Vec<Acl> = acls,
        flags: i32 = int,
    }
}

record! {
    /// opcode 21: a create whose node expires `ttl` milliseconds after its last change.
    CreateTtlRequest {
        path: String = ustring,
        data: Option<Vec<u8>> = buffer,
        acl: Vec<Acl> = acls,
        flags: i32 = int,
        ttl: i64 = long,
    }
}

record! {
    /// opcode 2 (also a multi operation). `version` -1 matches any version.
    DeleteRequest {
        path: String = ustring,
        version: i32 = int,
    }
}

record! {
    /// opcode 8 (also a multiRead operation).
    GetChildrenRequest {
        path: String = ustring,
        watch: bool = boolean,
    }
}

record! {
    /// opcode 104: counts every descendant of `path`.
    GetAllChildrenNumberRequest {
        path: String = ustring,
    }
}

record! {
    /// opcode 12: getChildren that also returns the parent's Stat.
    GetChildren2Request {
        path: String = ustring,
        watch: bool = boolean,
    }
}

record! {
    /// opcode 13, only valid inside a multi: fails unless `path` has `version`.
    CheckVersionRequest {
        path: String = ustring,
        version: i32 = int,
    }
}

record! {
    /// opcode 9.
    SyncRequest {
        path: String = ustring,
    }
}

record! {
    /// opcode 6.
    GetAclRequest {
        path: String = ustring,
    }
}

record! {
    /// opcode 7. `version` is compared with the node's aversion; -1 matches any.
    SetAclRequest {
        path: String = ustring,
        acl: Vec<Acl> = acls,
        version: i32 = int,
    }
}

record! {
    /// opcode 106. `mode` 0 is persistent, 1 persistent-recursive (`AddWatchMode`).
    AddWatchRequest {
        path: String = ustring,
        mode: i32 = int,
    }
}

record! {
    /// opcode 3.
    ExistsRequest {
        path: String = ustring,
        watch: bool = boolean,
    }
}

record! {
    /// opcode 17: asks whether a watch of `watcher_type` (`WatcherType`: 1 children, 2 data,
    /// 3 any, 4 persistent, 5 persistent-recursive) exists on `path`.
    CheckWatchesRequest {
        path: String = ustring,
        watcher_type: i32 = int,
    }
}

record! {
    /// opcode 18: removes the watches of `watcher_type` on `path` (same numbering as
    /// [`CheckWatchesRequest`]).
    RemoveWatchesRequest {
        path: String = ustring,
        watcher_type: i32 = int,
    }
}

record! {
    /// opcode 103: lists the session's ephemeral nodes under `prefix_path`.
    GetEphemeralsRequest {
        prefix_path: String = ustring,
    }
}

/// opcode 20. Not in `zookeeper.jute`: Apache hand-writes this record
/// (`org.apache.zookeeper.DeleteContainerRequest`) as a single buffer holding the UTF-8
/// path, which is byte-for-byte the same as a ustring.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteContainerRequest {
    pub path: String,
}

impl crate::jute::Encode for DeleteContainerRequest {
    fn encode(&self, w: &mut Writer) {
        w.write_str(&self.path);
    }
}

impl crate::jute::Decode for DeleteContainerRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            path: r.read_str()?,
        })
    }
}

impl CreateRequest {
    /// The node data, with a null buffer read as empty.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }
}

impl CreateTtlRequest {
    /// The node data, with a null buffer read as empty.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The same create without its TTL, as Apache's `Op.create` rebuilds a createTTL whose
    /// flags are not a TTL mode.
    pub fn without_ttl(self) -> CreateRequest {
        CreateRequest {
            path: self.path,
            data: self.data,
            acl: self.acl,
            flags: self.flags,
        }
    }
}

impl SetDataRequest {
    /// The new data, with a null buffer read as empty.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }
}
