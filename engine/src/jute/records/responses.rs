//! Reply bodies and the notification record, in `zookeeper.jute` field order.

use super::record;
use crate::types::{Acl, EventType, KeeperState, Stat};

record! {
    /// Reply to setData (and, inside a multi, a setData result).
    SetDataResponse {
        stat: Stat = stat,
    }
}

record! {
    /// Reply to sasl (opcode 102). Apache also sends it, with a null token, alongside an
    /// AuthFailed or SessionClosedRequireSaslAuth error before closing the connection.
    SetSaslResponse {
        token: Option<Vec<u8>> = buffer,
    }
}

record! {
    /// Reply to sync: echoes the path.
    SyncResponse {
        path: String = ustring,
    }
}

record! {
    /// Reply to setACL: the node's Stat after the change.
    SetAclResponse {
        stat: Stat = stat,
    }
}

record! {
    /// The body of a notification frame (xid -1). `event_type` is an [`EventType`] and
    /// `state` a [`KeeperState`], kept as raw ints so a decoder never refuses a newer value.
    WatcherEvent {
        event_type: i32 = int,
        state: i32 = int,
        path: String = ustring,
    }
}

record! {
    /// A bare error code. Used for failed operations inside a multi reply, and (with 0) as
    /// the body of a successful addWatch reply, as `FinalRequestProcessor` does.
    ErrorResponse {
        err: i32 = int,
    }
}

record! {
    /// Reply to create (opcode 1): the created path, which differs from the requested one
    /// for sequential nodes.
    CreateResponse {
        path: String = ustring,
    }
}

record! {
    /// Reply to create2, createTTL and createContainer: the path and the new node's Stat.
    Create2Response {
        path: String = ustring,
        stat: Stat = stat,
    }
}

record! {
    /// Reply to exists when the node exists (a missing node is a NoNode error, no body).
    ExistsResponse {
        stat: Stat = stat,
    }
}

record! {
    /// Reply to getData, and to reconfig (the new configuration and the config node's Stat).
    GetDataResponse {
        data: Option<Vec<u8>> = buffer,
        stat: Stat = stat,
    }
}

record! {
    /// Reply to getChildren: child names, not full paths.
    GetChildrenResponse {
        children: Vec<String> = strings,
    }
}

record! {
    /// Reply to getAllChildrenNumber.
    GetAllChildrenNumberResponse {
        total_number: i32 = int,
    }
}

record! {
    /// Reply to getChildren2: child names and the parent's Stat.
    GetChildren2Response {
        children: Vec<String> = strings,
        stat: Stat = stat,
    }
}

record! {
    /// Reply to getACL.
    GetAclResponse {
        acl: Vec<Acl> = acls,
        stat: Stat = stat,
    }
}

record! {
    /// Reply to getEphemerals: full paths of the session's ephemeral nodes.
    GetEphemeralsResponse {
        ephemerals: Vec<String> = strings,
    }
}

record! {
    /// One identity of the connection, as whoAmI reports it (`org.apache.zookeeper.data`).
    ClientInfo {
        auth_scheme: String = ustring,
        user: String = ustring,
    }
}

record! {
    /// Reply to whoAmI (opcode 107).
    WhoAmIResponse {
        client_info: Vec<ClientInfo> = client_infos,
    }
}

impl WatcherEvent {
    /// An event about `path` while the session is connected, the only state a server
    /// ever notifies about a node.
    pub fn new(event_type: EventType, state: KeeperState, path: impl Into<String>) -> Self {
        Self {
            event_type: event_type as i32,
            state: state as i32,
            path: path.into(),
        }
    }
}

impl GetDataResponse {
    /// The node data, with a null buffer read as empty.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }
}
