//! Apache ZooKeeper's snapshot file (`version-2/snapshot.<zxid hex>`), read from the facts
//! in `FileSnap`, `SerializeUtils.serializeSnapshot`, `DataTree.serialize`,
//! `ReferenceCountedACLCache.serialize`, `DataNode.serialize` and `SnapStream.sealStream`:
//!
//! ```text
//! FileHeader   int magic "ZKSN", int version (2), long dbid
//! sessions     int count, then count x (long id, int timeoutMs)
//! acl cache    int count, then count x (long key, vector<ACL>)
//! nodes        repeated: ustring path ("" is the root), buffer data, long acl key,
//!              StatPersisted {long czxid, mzxid, ctime, mtime; int version, cversion,
//!              aversion; long ephemeralOwner, pzxid}
//! end          ustring "/"
//! seal         long Adler32 of every byte before it, ustring "/"
//! ```
//! Newer servers append a digest and the last processed zxid, each with its own seal;
//! they are not needed to rebuild the tree and are ignored.

use std::collections::HashMap;

use ringkeeper_engine::jute::{Decode, Reader};
use ringkeeper_engine::{Acl, SessionId, Zxid};

use super::{adler32, ImportError};

/// "ZKSN".
pub const SNAP_MAGIC: i32 = 0x5a4b_534e;
/// The ACL key Apache reserves for OPEN_ACL_UNSAFE, which is never stored in the cache.
const OPEN_UNSAFE_ACL_KEY: i64 = -1;
/// The smallest encoded ACL entry: perms and two empty strings.
const ACL_ENTRY_BYTES_MIN: usize = 12;
/// The smallest session entry: long id and int timeout.
const SESSION_BYTES: usize = 12;

/// One znode as Apache persisted it; `cversion` is Apache's persisted creation count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApacheNode {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: Zxid,
}

/// A whole decoded snapshot.
#[derive(Debug, Clone)]
pub struct ApacheSnapshot {
    pub dbid: i64,
    pub sessions: Vec<(SessionId, i32)>,
    /// In file order: every parent before its children.
    pub nodes: Vec<ApacheNode>,
}

fn bad(file: &str, why: impl std::fmt::Display) -> ImportError {
    ImportError::BadSnapshot {
        file: file.to_string(),
        why: why.to_string(),
    }
}

/// Decodes and checks one snapshot file's bytes; `file` names it in errors.
pub fn decode(file: &str, bytes: &[u8]) -> Result<ApacheSnapshot, ImportError> {
    let mut r = Reader::new(bytes);
    let e = |why: ringkeeper_engine::jute::DecodeError| bad(file, why);
    let magic = r.read_i32().map_err(e)?;
    if magic != SNAP_MAGIC {
        return Err(bad(
            file,
            format!("bad magic {magic:#010x}, not a snapshot"),
        ));
    }
    let version = r.read_i32().map_err(e)?;
    if version != 2 {
        return Err(bad(file, format!("unsupported snapshot version {version}")));
    }
    let dbid = r.read_i64().map_err(e)?;

    let count = read_count(&mut r, SESSION_BYTES).map_err(|w| bad(file, w))?;
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.read_i64().map_err(e)?;
        let timeout = r.read_i32().map_err(e)?;
        sessions.push((id, timeout));
    }

    let count = read_count(&mut r, 8 + 4).map_err(|w| bad(file, w))?;
    let mut acls: HashMap<i64, Vec<Acl>> = HashMap::with_capacity(count);
    for _ in 0..count {
        let key = r.read_i64().map_err(e)?;
        let list = r.read_vec(ACL_ENTRY_BYTES_MIN, Acl::decode).map_err(e)?;
        acls.insert(key, list);
    }

    let mut nodes = Vec::new();
    loop {
        let path = r.read_str().map_err(e)?;
        if path == "/" {
            break;
        }
        let data = r.read_opt_buffer().map_err(e)?.map(<[u8]>::to_vec);
        let key = r.read_i64().map_err(e)?;
        let acl = if key == OPEN_UNSAFE_ACL_KEY {
            Acl::open_unsafe()
        } else {
            acls.get(&key)
                .cloned()
                .ok_or_else(|| bad(file, format!("{path:?} uses unknown ACL key {key}")))?
        };
        let node = ApacheNode {
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path
            },
            data,
            acl,
            czxid: r.read_i64().map_err(e)?,
            mzxid: r.read_i64().map_err(e)?,
            ctime: r.read_i64().map_err(e)?,
            mtime: r.read_i64().map_err(e)?,
            version: r.read_i32().map_err(e)?,
            cversion: r.read_i32().map_err(e)?,
            aversion: r.read_i32().map_err(e)?,
            ephemeral_owner: r.read_i64().map_err(e)?,
            pzxid: r.read_i64().map_err(e)?,
        };
        nodes.push(node);
    }

    // The seal covers every byte read so far.
    let sealed = r.position();
    let stored = r.read_i64().map_err(e)?;
    let computed = i64::from(adler32(&bytes[..sealed]));
    if stored != computed {
        return Err(bad(
            file,
            format!("checksum mismatch: stored {stored:#x}, computed {computed:#x}"),
        ));
    }
    let end = r.read_str().map_err(e)?;
    if end != "/" {
        return Err(bad(file, "no end marker after the checksum"));
    }
    if nodes.first().map(|n| n.path.as_str()) != Some("/") {
        return Err(bad(file, "the tree does not start with the root"));
    }
    Ok(ApacheSnapshot {
        dbid,
        sessions,
        nodes,
    })
}

/// Reads an int count and refuses one that cannot fit the bytes left.
fn read_count(r: &mut Reader<'_>, item_bytes: usize) -> Result<usize, String> {
    let n = r.read_i32().map_err(|e| e.to_string())?;
    usize::try_from(n)
        .ok()
        .filter(|n| n.saturating_mul(item_bytes) <= r.remaining())
        .ok_or_else(|| format!("count {n} does not fit the file"))
}
