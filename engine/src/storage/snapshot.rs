//! Snapshot files: a 48-byte header, the sessions, the tree export, and a trailing crc32c
//! over everything before it. The layout is in docs/storage-format.md.
//!
//! A snapshot at zxid Z holds exactly the effects of txns up to Z: the sequencer takes it
//! between txns, so there is no fuzzy range to replay twice.

use zerocopy::byteorder::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::dir::{replace_file, StorageDir, TEMP_SUFFIX};
use super::error::StorageError;
use super::segment::parse_hex_suffix;
use crate::jute::{Reader, Writer};
use crate::tree::DataTree;
use crate::types::{SessionId, Zxid};

/// "RKS1" as a little-endian u32.
pub const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"RKS1");
pub const SNAPSHOT_VERSION: u16 = 1;
pub const SNAPSHOT_HEADER_LEN: usize = 48;
/// Snapshot files are `snapshot.` and the zxid as 16 lowercase hex digits.
pub const SNAPSHOT_PREFIX: &str = "snapshot.";
/// A snapshot is written under its name plus this suffix, then renamed.
pub const SNAPSHOT_TEMP_SUFFIX: &str = TEMP_SUFFIX;
const CRC_LEN: usize = 4;
/// Bytes one session takes: id (long) and timeout (int).
const SESSION_BYTES: usize = 12;

/// The fixed header of a snapshot file.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SnapshotHeader {
    pub magic: U32,
    pub version: U16,
    /// Zero; reserved.
    pub flags: U16,
    /// The last zxid whose effects the snapshot holds.
    pub zxid: I64,
    /// `DataTree::digest()` of the tree, checked again after loading.
    pub digest: U64,
    /// Stored nodes (the root once).
    pub node_count: U64,
    pub session_count: U32,
    /// Zero; reserved.
    pub reserved: U32,
    /// Bytes of the whole file, trailer included, so that a truncated copy is named as
    /// such rather than as a checksum mismatch.
    pub file_len: U64,
}

const _: () = assert!(std::mem::size_of::<SnapshotHeader>() == SNAPSHOT_HEADER_LEN);

/// A decoded snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tree: DataTree,
    /// Open sessions with their negotiated timeouts, in id order.
    pub sessions: Vec<(SessionId, i32)>,
    pub zxid: Zxid,
}

/// The file name of the snapshot at `zxid`.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("{SNAPSHOT_PREFIX}{:016x}", zxid as u64)
}

/// The name a snapshot is written under before its rename.
pub fn snapshot_temp_name(zxid: Zxid) -> String {
    format!("{}{SNAPSHOT_TEMP_SUFFIX}", snapshot_name(zxid))
}

/// The zxid of a snapshot, if `name` is a (final) snapshot name.
pub fn parse_snapshot_name(name: &str) -> Option<Zxid> {
    parse_hex_suffix(name, SNAPSHOT_PREFIX)
}

/// Encodes the whole state at `last_zxid`. Sessions are written in id order.
pub fn encode_snapshot(tree: &DataTree, sessions: &[(SessionId, i32)], last_zxid: Zxid) -> Vec<u8> {
    let mut sessions = sessions.to_vec();
    sessions.sort_unstable();
    let mut body = Writer::with_capacity(64 + tree.stored_node_count() * 64);
    for (id, timeout_ms) in &sessions {
        body.write_i64(*id);
        body.write_i32(*timeout_ms);
    }
    tree.export_nodes(&mut body);
    let body = body.into_inner();
    let file_len = SNAPSHOT_HEADER_LEN + body.len() + CRC_LEN;
    let header = SnapshotHeader {
        magic: SNAPSHOT_MAGIC.into(),
        version: SNAPSHOT_VERSION.into(),
        flags: 0.into(),
        zxid: last_zxid.into(),
        digest: tree.digest().into(),
        node_count: (tree.stored_node_count() as u64).into(),
        session_count: (sessions.len() as u32).into(),
        reserved: 0.into(),
        file_len: (file_len as u64).into(),
    };
    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn bad(why: impl Into<String>) -> StorageError {
    StorageError::BadSnapshot { why: why.into() }
}

/// Reads and checks a snapshot's header and checksum without decoding the tree.
pub fn read_snapshot_header(bytes: &[u8]) -> Result<SnapshotHeader, StorageError> {
    let head = bytes
        .get(..SNAPSHOT_HEADER_LEN)
        .ok_or_else(|| bad(format!("{} bytes: shorter than the header", bytes.len())))?;
    let header = SnapshotHeader::read_from_bytes(head).map_err(|_| bad("header does not fit"))?;
    if header.magic.get() != SNAPSHOT_MAGIC {
        return Err(bad(format!("bad magic {:#010x}", header.magic.get())));
    }
    if header.version.get() != SNAPSHOT_VERSION {
        return Err(bad(format!(
            "unsupported format version {}",
            header.version.get()
        )));
    }
    if header.file_len.get() != bytes.len() as u64 {
        return Err(bad(format!(
            "header says {} bytes, file has {}",
            header.file_len.get(),
            bytes.len()
        )));
    }
    let (content, crc) = bytes.split_at(bytes.len().saturating_sub(CRC_LEN));
    let stored = u32::from_le_bytes(crc.try_into().map_err(|_| bad("no checksum"))?);
    let computed = crc32c::crc32c(content);
    if stored != computed {
        return Err(bad(format!(
            "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    Ok(header)
}

/// Decodes and checks a whole snapshot: header, checksum, every node, and finally that the
/// loaded tree has the digest the writer recorded. Never panics, whatever the bytes.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, StorageError> {
    let header = read_snapshot_header(bytes)?;
    let body = &bytes[SNAPSHOT_HEADER_LEN..bytes.len() - CRC_LEN];
    let mut r = Reader::new(body);
    let session_count = header.session_count.get() as usize;
    if session_count.saturating_mul(SESSION_BYTES) > r.remaining() {
        return Err(bad("session count does not fit the file"));
    }
    let mut sessions = Vec::with_capacity(session_count);
    for _ in 0..session_count {
        let id = r.read_i64().map_err(|e| bad(e.to_string()))?;
        let timeout_ms = r.read_i32().map_err(|e| bad(e.to_string()))?;
        sessions.push((id, timeout_ms));
    }
    let zxid = header.zxid.get();
    let tree = DataTree::import_nodes(&mut r, zxid).map_err(|e| bad(format!("tree: {e}")))?;
    if !r.is_empty() {
        return Err(bad(format!("{} bytes after the tree", r.remaining())));
    }
    if tree.stored_node_count() as u64 != header.node_count.get() {
        return Err(bad(format!(
            "header says {} nodes, tree has {}",
            header.node_count.get(),
            tree.stored_node_count()
        )));
    }
    if tree.digest() != header.digest.get() {
        return Err(bad(format!(
            "loaded tree digest {:#018x} differs from the recorded {:#018x}",
            tree.digest(),
            header.digest.get()
        )));
    }
    Ok(Snapshot {
        tree,
        sessions,
        zxid,
    })
}

/// Writes snapshot bytes durably: to the temp name, fsync, rename, fsync the directory.
/// A crash at any point leaves either no snapshot at `zxid` or a complete one; a leftover
/// temp file is ignored by recovery and removed by it. Returns the final name.
pub fn write_snapshot(
    dir: &mut dyn StorageDir,
    zxid: Zxid,
    bytes: &[u8],
) -> Result<String, StorageError> {
    let name = snapshot_name(zxid);
    replace_file(dir, &name, bytes)?;
    Ok(name)
}
