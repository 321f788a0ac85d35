//! Importing an Apache ZooKeeper 3.x data directory into a ringkeeper one.
//!
//! Apache restores a server by loading its newest valid snapshot and replaying every
//! logged txn after the snapshot's zxid (`FileTxnSnapLog.restore`). The importer does the
//! same offline: it decodes the snapshot with every stat field as Apache persisted it,
//! hands the nodes to ringkeeper's tree loader (so versions, zxids, times and creation
//! counts survive exactly), replays the log through [`DataTree::apply`], and writes the
//! result as one ringkeeper snapshot in `DIR/ringkeeper-v1/`.
//!
//! Apache snapshots are fuzzy: txns just after the snapshot zxid may already show in it.
//! Replaying them again is what Apache does too, and ringkeeper's apply is written to
//! tolerate it (a create of an existing node fails without changing anything, a setData
//! sets the recorded version).

pub mod snapshot;
mod staging;
pub mod txnlog;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ringkeeper_engine::jute::encode_acl_list;
use ringkeeper_engine::jute::{Encode, Reader, Writer};
use ringkeeper_engine::storage::StorageError;
use ringkeeper_engine::tree::{DataTree, CONFIG_NODE};
use ringkeeper_engine::txn::{NodeKind, TxnBody};
use ringkeeper_engine::{perms, Acl, Id, SessionId, Zxid};

pub use snapshot::{ApacheNode, ApacheSnapshot};

/// The folder under a ringkeeper data directory that holds its files (as the server
/// names it).
pub const STORE_DIR_NAME: &str = "ringkeeper-v1";

/// Apache's container marker in `ephemeralOwner` (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
const CONTAINER_OWNER: i64 = i64::MIN;
/// The high byte that marks an extended `ephemeralOwner` (TTL nodes).
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
/// The two bytes after it name the extended feature; 0 is TTL.
const EXTENDED_FEATURE_MASK: u64 = 0x00ff_ff00_0000_0000;

/// Why an import failed.
#[derive(Debug)]
pub enum ImportError {
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    BadSnapshot {
        file: String,
        why: String,
    },
    CorruptLog {
        file: String,
        offset: u64,
        why: String,
    },
    /// Nothing to import, or a target that already holds data.
    Refused(String),
    Storage(StorageError),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            ImportError::BadSnapshot { file, why } => write!(f, "snapshot {file}: {why}"),
            ImportError::CorruptLog { file, offset, why } => {
                write!(f, "txn log {file} at offset {offset}: {why}")
            }
            ImportError::Refused(why) => f.write_str(why),
            ImportError::Storage(e) => write!(f, "writing the ringkeeper snapshot: {e}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// Adler-32 (RFC 1950), the checksum Apache puts on snapshots and log records.
pub fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 is the longest run whose sums cannot overflow a u32 before the modulo.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// What an import found and wrote.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The Apache snapshot the tree started from, with its zxid.
    pub snapshot: Option<(String, Zxid)>,
    pub replayed_txns: u64,
    pub last_zxid: Zxid,
    /// Nodes in the imported tree, the root included.
    pub nodes: usize,
    pub sessions: usize,
    /// The ringkeeper snapshot written.
    pub output: PathBuf,
    pub warnings: Vec<String>,
}

/// The `version-2` folder of an Apache data directory (or the folder itself).
fn version_dir(dir: &Path) -> PathBuf {
    let v2 = dir.join(APACHE_VERSION_DIR);
    if v2.is_dir() {
        v2
    } else {
        dir.to_path_buf()
    }
}

/// Files named `<prefix><hex zxid>` in `dir`, by zxid.
fn zxid_files(dir: &Path, prefix: &str) -> Result<Vec<(Zxid, PathBuf)>, ImportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImportError::Io {
        op: "listing",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(hex) = name.strip_prefix(prefix) {
            if let Ok(z) = u64::from_str_radix(hex, 16) {
                files.push((z as Zxid, entry.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Io {
        op: "reading",
        path: path.to_path_buf(),
        source,
    })
}

/// Apache's `ephemeralOwner` as a node kind (see `EphemeralType.get`).
pub fn node_kind(owner: i64) -> NodeKind {
    let bits = owner as u64;
    if owner == CONTAINER_OWNER {
        NodeKind::Container
    } else if bits & EXTENDED_MASK == EXTENDED_MASK && bits & EXTENDED_FEATURE_MASK == 0 {
        NodeKind::Ttl((bits & !(EXTENDED_MASK | EXTENDED_FEATURE_MASK)) as i64)
    } else if owner != 0 {
        NodeKind::Ephemeral(owner)
    } else {
        NodeKind::Persistent
    }
}

/// Builds a ringkeeper tree holding exactly Apache's nodes and stats, through the tree's
/// own snapshot loader so that every index and sum is rebuilt as on a normal start.
pub fn tree_from_nodes(nodes: &[ApacheNode], last_zxid: Zxid) -> Result<DataTree, String> {
    let mut nodes: Vec<ApacheNode> = nodes.to_vec();
    if !nodes.iter().any(|n| n.path == CONFIG_NODE) {
        // Servers before 3.5 had no config node; ringkeeper's tree always has one, as
        // read-only as Apache makes it.
        nodes.push(ApacheNode {
            path: CONFIG_NODE.to_string(),
            data: Some(Vec::new()),
            acl: vec![Acl::new(perms::READ, Id::anyone())],
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: -1,
            ephemeral_owner: 0,
            pzxid: 0,
        });
    }
    let mut acl_lists: Vec<Vec<Acl>> = Vec::new();
    let mut acl_index: BTreeMap<Vec<Acl>, i32> = BTreeMap::new();
    for n in &nodes {
        if !acl_index.contains_key(&n.acl) {
            acl_index.insert(n.acl.clone(), acl_lists.len() as i32);
            acl_lists.push(n.acl.clone());
        }
    }
    let mut w = Writer::new();
    w.write_vec(&acl_lists, |w, acl| encode_acl_list(w, acl));
    w.write_i64(nodes.len() as i64);
    for n in &nodes {
        w.write_str(&n.path);
        w.write_opt_buffer(n.data.as_deref());
        w.write_i32(acl_index[&n.acl]);
        for v in [n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime] {
            w.write_i64(v);
        }
        for v in [n.version, n.cversion, n.aversion] {
            w.write_i32(v);
        }
        node_kind(n.ephemeral_owner).encode(&mut w);
    }
    let bytes = w.into_inner();
    DataTree::import_nodes(&mut Reader::new(&bytes), last_zxid).map_err(|e| e.to_string())
}

/// The state rebuilt from an Apache directory, before it is written anywhere.
pub struct Imported {
    pub tree: DataTree,
    pub sessions: Vec<(SessionId, i32)>,
    pub report: ImportReport,
}

/// The extensions Apache gives compressed snapshots (`snapshot.compression.method`).
const COMPRESSED_SNAPSHOT_EXTENSIONS: [&str; 2] = ["gz", "snappy"];

/// Compressed snapshots are not read. One newer than the snapshot the import would start
/// from means the tree would be rebuilt from an older state whose logs Apache may already
/// have purged: refused, rather than importing a tree that silently lacks nodes.
fn refuse_newer_compressed_snapshot(dir: &Path, base: Option<Zxid>) -> Result<(), ImportError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((hex, ext)) = name
            .strip_prefix("snapshot.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let Ok(zxid) = u64::from_str_radix(hex, 16) else {
            continue;
        };
        if COMPRESSED_SNAPSHOT_EXTENSIONS.contains(&ext) && base.is_none_or(|b| zxid as Zxid > b) {
            return Err(ImportError::Refused(format!(
                "{} is compressed ({ext}), which is not read, and newer than any plain \
                 snapshot; restart Apache once without snapshot.compression.method so that it \
                 writes a plain snapshot, stop it, then import",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

/// Reads an Apache data directory (`snap_dir`, and `log_dir` if the logs live apart, as
/// with Apache's `dataLogDir`) and rebuilds its state.
pub fn load(snap_dir: &Path, log_dir: Option<&Path>) -> Result<Imported, ImportError> {
    let snap_dir = version_dir(snap_dir);
    let log_dir = log_dir.map(version_dir).unwrap_or_else(|| snap_dir.clone());
    let mut warnings = Vec::new();

    // Newest valid snapshot first, as FileSnap.deserialize does.
    let mut base: Option<(String, Zxid, ApacheSnapshot)> = None;
    for (zxid, path) in zxid_files(&snap_dir, "snapshot.")?.into_iter().rev() {
        let name = path.display().to_string();
        match snapshot::decode(&name, &read(&path)?) {
            Ok(snap) => {
                base = Some((name, zxid, snap));
                break;
            }
            Err(e) => warnings.push(format!("skipped: {e}")),
        }
    }
    refuse_newer_compressed_snapshot(&snap_dir, base.as_ref().map(|(_, zxid, _)| *zxid))?;
    let logs = match zxid_files(&log_dir, "log.") {
        Err(ImportError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Vec::new()
        }
        other => other?,
    };
    if base.is_some() && logs.is_empty() {
        // Apache always has a log after its snapshot once anything was written; none at
        // all usually means the logs live elsewhere (Apache's dataLogDir).
        warnings.push(format!(
            "no txn log in {}: only the snapshot was imported; if Apache kept its logs \
             apart (dataLogDir), set the same dataLogDir",
            log_dir.display()
        ));
    }
    if base.is_none() && logs.is_empty() {
        return Err(ImportError::Refused(format!(
            "{} holds no Apache snapshot or txn log",
            snap_dir.display()
        )));
    }

    let (mut tree, mut sessions, snap_zxid, snapshot_info) = match base {
        Some((name, zxid, snap)) => {
            let tree =
                tree_from_nodes(&snap.nodes, zxid).map_err(|why| ImportError::BadSnapshot {
                    file: name.clone(),
                    why,
                })?;
            let sessions: BTreeMap<SessionId, i32> = snap.sessions.into_iter().collect();
            (tree, sessions, zxid, Some((name, zxid)))
        }
        None => (DataTree::new(), BTreeMap::new(), 0, None),
    };

    let mut replayed = 0u64;
    let mut last_zxid = snap_zxid;
    for (_, path) in &logs {
        let name = path.display().to_string();
        let log = txnlog::decode(&name, &read(path)?)?;
        if let Some(why) = log.torn {
            warnings.push(format!("{name}: torn record, the log ends there ({why})"));
        }
        for txn in log.txns {
            if txn.zxid <= last_zxid {
                continue;
            }
            match &txn.body {
                TxnBody::CreateSession { timeout_ms } => {
                    sessions.insert(txn.session, *timeout_ms);
                }
                TxnBody::CloseSession { .. } => {
                    sessions.remove(&txn.session);
                }
                _ => {}
            }
            tree.apply(&txn);
            last_zxid = txn.zxid;
            replayed += 1;
        }
    }
    if let Err(why) = tree.check_invariants() {
        return Err(ImportError::Refused(format!(
            "the imported tree is inconsistent: {why}"
        )));
    }
    let sessions: Vec<(SessionId, i32)> = sessions.into_iter().collect();
    let report = ImportReport {
        snapshot: snapshot_info,
        replayed_txns: replayed,
        last_zxid,
        nodes: tree.stored_node_count(),
        sessions: sessions.len(),
        output: PathBuf::new(),
        warnings,
    };
    Ok(Imported {
        tree,
        sessions,
        report,
    })
}

/// Imports `apache_dir` into the ringkeeper data directory `target` (its
/// `ringkeeper-v1/` folder must be absent or empty, so that nothing is overwritten).
pub fn import(
    apache_dir: &Path,
    log_dir: Option<&Path>,
    target: &Path,
) -> Result<ImportReport, ImportError> {
    let store = target.join(STORE_DIR_NAME);
    if holds_files(&store) {
        return Err(ImportError::Refused(format!(
            "{} already holds files; import into an empty data directory",
            store.display()
        )));
    }
    let imported = load(apache_dir, log_dir)?;
    staging::write_store(target, imported)
}

/// What a server found when it looked for Apache files to import on its start.
#[derive(Debug)]
pub enum FirstStart {
    /// `ringkeeper-v1/` already holds ringkeeper's files: nothing was read.
    RingkeeperData,
    /// No Apache snapshot or log either: the server starts empty.
    Empty,
    /// Apache's files were imported into a new `ringkeeper-v1/`.
    Imported(ImportReport),
}

/// Run by the server before it opens its store: a `data_dir` that holds Apache's
/// `version-2` files (logs possibly under `data_log_dir`, Apache's `dataLogDir`) and no
/// ringkeeper data is imported, so that "stop Apache, start ringkeeper on the same
/// zoo.cfg" is the whole migration. Apache's files are only read.
pub fn import_on_first_start(
    data_dir: &Path,
    data_log_dir: &Path,
) -> Result<FirstStart, ImportError> {
    let store = data_dir.join(STORE_DIR_NAME);
    if holds_files(&store) {
        return Ok(FirstStart::RingkeeperData);
    }
    let snap_dir = data_dir.join(APACHE_VERSION_DIR);
    let log_dir = data_log_dir.join(APACHE_VERSION_DIR);
    let has_apache_files =
        |dir: &Path, prefix: &str| zxid_files(dir, prefix).is_ok_and(|files| !files.is_empty());
    if !has_apache_files(&snap_dir, "snapshot.") && !has_apache_files(&log_dir, "log.") {
        return Ok(FirstStart::Empty);
    }
    let imported = load(&snap_dir, Some(&log_dir))?;
    staging::write_store(data_dir, imported).map(FirstStart::Imported)
}

/// Apache's data folder under `dataDir` and `dataLogDir` (`FileTxnSnapLog.version`).
pub const APACHE_VERSION_DIR: &str = "version-2";

/// True when `dir` exists and is not empty.
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_compressed_snapshot_is_refused() {
        let dir = std::env::temp_dir().join(format!("rk-import-gz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("snapshot.20.gz"), b"").unwrap();
        std::fs::write(dir.join("snapshot.10"), b"").unwrap();
        assert!(refuse_newer_compressed_snapshot(&dir, Some(0x20)).is_ok());
        assert!(refuse_newer_compressed_snapshot(&dir, Some(0x10)).is_err());
        assert!(refuse_newer_compressed_snapshot(&dir, None).is_err());
        // The import as a whole refuses too, even with a log to replay.
        std::fs::write(dir.join("log.1"), b"").unwrap();
        assert!(matches!(load(&dir, None), Err(ImportError::Refused(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adler32_matches_known_values() {
        // RFC 1950's example value and the empty input.
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        let long = vec![0xffu8; 100_000];
        // Computed without chunking, in u64, as a reference.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&long), ((b << 16) | a) as u32);
    }

    #[test]
    fn ephemeral_owner_kinds_follow_apache() {
        assert_eq!(node_kind(0), NodeKind::Persistent);
        assert_eq!(
            node_kind(0x1000_0339_1e60_0001),
            NodeKind::Ephemeral(0x1000_0339_1e60_0001)
        );
        assert_eq!(node_kind(i64::MIN), NodeKind::Container);
        assert_eq!(
            node_kind(0xff00_0000_0000_1388u64 as i64),
            NodeKind::Ttl(5000)
        );
    }
}
