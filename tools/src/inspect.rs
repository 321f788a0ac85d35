//! The inspector: human-readable dumps of log segments and snapshots with their checksums
//! verified, and a read-only recovery of a whole data directory. Every function writes to
//! the given output and returns whether the files were sound, which becomes the exit code.

use std::io::Write;
use std::path::Path;

use ringkeeper_engine::storage::{
    decode_snapshot, inspect, parse_segment_name, read_snapshot_header, scan_segment, FsDir,
    SegmentTail, StorageError,
};
use ringkeeper_engine::txn::{NodeKind, Txn, TxnBody};

/// What the inspector found: sound files, or damage (exit code 1), or an I/O failure or
/// bad usage (exit code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sound,
    Damaged,
    Failed,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Sound => 0,
            Verdict::Damaged => 1,
            Verdict::Failed => 2,
        }
    }
}

/// A node's data size for a summary: `null` for null data, which Apache keeps apart
/// from empty.
fn data_size(data: &Option<Vec<u8>>) -> String {
    match data {
        Some(d) => format!("{}B", d.len()),
        None => "null".to_string(),
    }
}

/// One line describing a txn's body.
pub fn summary(body: &TxnBody) -> String {
    match body {
        TxnBody::CreateSession { timeout_ms } => format!("createSession timeout={timeout_ms}ms"),
        TxnBody::CloseSession { ephemerals } => {
            format!("closeSession ephemerals={}", ephemerals.len())
        }
        TxnBody::Create {
            path,
            data,
            acl,
            kind,
            parent_cversion,
        } => {
            let kind = match kind {
                NodeKind::Persistent => "persistent".to_string(),
                NodeKind::Ephemeral(owner) => format!("ephemeral owner={owner:#x}"),
                NodeKind::Container => "container".to_string(),
                NodeKind::Ttl(ms) => format!("ttl={ms}ms"),
            };
            format!(
                "create {path} {kind} data={} acl={} parentCversion={parent_cversion}",
                data_size(data),
                acl.len()
            )
        }
        TxnBody::Delete { path } => format!("delete {path}"),
        TxnBody::SetData {
            path,
            data,
            version,
        } => format!("setData {path} data={} version={version}", data_size(data)),
        TxnBody::SetAcl { path, acl, version } => {
            format!("setACL {path} acl={} aversion={version}", acl.len())
        }
        TxnBody::Check { path, version } => format!("check {path} version={version}"),
        TxnBody::Multi(ops) => {
            let inner: Vec<String> = ops.iter().map(summary).collect();
            format!("multi [{}]", inner.join("; "))
        }
        TxnBody::Error(code) => format!("error {code:?}"),
        TxnBody::Reconfig { servers } => format!("reconfig [{}]", servers.join(", ")),
    }
}

fn txn_line(txn: &Txn) -> String {
    format!(
        "zxid={:#x} time={} session={:#x} cxid={} {}",
        txn.zxid,
        txn.time_ms,
        txn.session,
        txn.cxid,
        summary(&txn.body)
    )
}

fn read(path: &Path, out: &mut dyn Write) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            let _ = writeln!(out, "error: read {}: {e}", path.display());
            None
        }
    }
}

/// Prints every record of a segment and how its data ends.
pub fn log(path: &Path, out: &mut dyn Write) -> std::io::Result<Verdict> {
    let Some(bytes) = read(path, out) else {
        return Ok(Verdict::Failed);
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let first = parse_segment_name(name);
    let scan = scan_segment(&bytes, first);
    writeln!(out, "segment {} ({} bytes)", path.display(), bytes.len())?;
    for r in &scan.records {
        writeln!(
            out,
            "  @{:<8} batch={:#x} {}",
            r.offset,
            r.batch_first_zxid,
            txn_line(&r.txn)
        )?;
    }
    writeln!(
        out,
        "{} records, checksums verified, {} bytes of data",
        scan.records.len(),
        scan.valid_len
    )?;
    Ok(match &scan.tail {
        SegmentTail::Clean => {
            writeln!(out, "end: clean")?;
            Verdict::Sound
        }
        SegmentTail::Torn { offset, why } => {
            // A torn tail is what a crash leaves; recovery truncates it, nothing is lost.
            writeln!(
                out,
                "end: torn tail at offset {offset}: {why} (recovery truncates it)"
            )?;
            Verdict::Sound
        }
        SegmentTail::Corrupt { offset, why } => {
            writeln!(out, "CORRUPT at offset {offset}: {why}")?;
            Verdict::Damaged
        }
    })
}

/// Prints a snapshot's header, node count, digest and sessions, and with `nodes` every
/// node.
pub fn snapshot(path: &Path, nodes: bool, out: &mut dyn Write) -> std::io::Result<Verdict> {
    let Some(bytes) = read(path, out) else {
        return Ok(Verdict::Failed);
    };
    writeln!(out, "snapshot {} ({} bytes)", path.display(), bytes.len())?;
    let header = match read_snapshot_header(&bytes) {
        Ok(h) => h,
        Err(e) => {
            writeln!(out, "CORRUPT: {e}")?;
            return Ok(Verdict::Damaged);
        }
    };
    writeln!(
        out,
        "header: version={} zxid={:#x} nodes={} sessions={} digest={:#018x}; checksum verified",
        header.version.get(),
        header.zxid.get(),
        header.node_count.get(),
        header.session_count.get(),
        header.digest.get()
    )?;
    let snap = match decode_snapshot(&bytes) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "CORRUPT: {e}")?;
            return Ok(Verdict::Damaged);
        }
    };
    writeln!(
        out,
        "loaded: {} nodes, digest {:#018x} matches, {} ephemerals, {} ACL lists",
        snap.tree.stored_node_count(),
        snap.tree.digest(),
        snap.tree.ephemeral_count(),
        snap.tree.acl_count()
    )?;
    for (id, timeout) in &snap.sessions {
        writeln!(out, "  session {id:#x} timeout={timeout}ms")?;
    }
    if nodes {
        let mut stack = vec!["/".to_string()];
        while let Some(path) = stack.pop() {
            let Some((data, stat)) = snap.tree.get_data(&path) else {
                continue;
            };
            writeln!(
                out,
                "  {path} czxid={:#x} mzxid={:#x} pzxid={:#x} version={} cversion={} aversion={} owner={:#x} data={}B children={}",
                stat.czxid, stat.mzxid, stat.pzxid, stat.version, stat.cversion, stat.aversion,
                stat.ephemeral_owner, data.len(), stat.num_children
            )?;
            if let Some((children, _)) = snap.tree.children(&path) {
                for child in children.iter().rev() {
                    stack.push(ringkeeper_engine::path::join(&path, child));
                }
            }
        }
    }
    Ok(Verdict::Sound)
}

/// Runs recovery read-only over a data directory and reports what a start would do.
pub fn dir(path: &Path, out: &mut dyn Write) -> std::io::Result<Verdict> {
    let dir = match FsDir::open(path) {
        Ok(d) => d,
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(Verdict::Failed);
        }
    };
    match inspect(&dir) {
        Ok(rec) => {
            writeln!(out, "data directory {}", path.display())?;
            match rec.snapshot_zxid {
                Some(z) => writeln!(out, "snapshot: zxid {z:#x}")?,
                None => writeln!(out, "snapshot: none (replay from an empty tree)")?,
            }
            writeln!(out, "replayed: {} txns", rec.replayed_txns)?;
            writeln!(out, "last zxid: {:#x}", rec.last_zxid)?;
            writeln!(
                out,
                "tree: {} nodes, digest {:#018x}; sessions: {}",
                rec.tree.stored_node_count(),
                rec.tree.digest(),
                rec.sessions.len()
            )?;
            match &rec.next_segment {
                Some(p) => writeln!(out, "next append: {} at offset {}", p.name, p.offset)?,
                None => writeln!(out, "next append: a new segment")?,
            }
            for w in &rec.warnings {
                writeln!(out, "warning: {w}")?;
            }
            Ok(Verdict::Sound)
        }
        Err(e @ StorageError::Io { .. }) => {
            writeln!(out, "error: {e}")?;
            Ok(Verdict::Failed)
        }
        Err(e) => {
            writeln!(out, "REFUSED: {e}")?;
            Ok(Verdict::Damaged)
        }
    }
}
