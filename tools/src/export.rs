//! `rk-export`: a readable dump of a ringkeeper tree, as text (one block per node) or as
//! JSON (one object per node), in path order with parents first. The tree comes from a
//! snapshot file or from a read-only recovery of a data directory, so nothing on disk
//! changes.

use std::io::Write;
use std::path::Path;

use ringkeeper_engine::storage::{decode_snapshot, inspect, FsDir};
use ringkeeper_engine::tree::DataTree;
use ringkeeper_engine::txn::NodeKind;
use ringkeeper_engine::{SessionId, Zxid};

use crate::apache::STORE_DIR_NAME;
use crate::cli::parse::perm_string;

/// What an export reads: the tree, its sessions and its zxid.
pub struct State {
    pub tree: DataTree,
    pub sessions: Vec<(SessionId, i32)>,
    pub zxid: Zxid,
}

/// Loads a snapshot file, or recovers a data directory read-only. A directory may be the
/// server's `dataDir` (which holds `ringkeeper-v1/`) or the store folder itself.
pub fn load(path: &Path) -> Result<State, String> {
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let snap = decode_snapshot(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(State {
            tree: snap.tree,
            sessions: snap.sessions,
            zxid: snap.zxid,
        });
    }
    let store = path.join(STORE_DIR_NAME);
    let dir_path = if store.is_dir() {
        store
    } else {
        path.to_path_buf()
    };
    let dir = FsDir::open(&dir_path).map_err(|e| e.to_string())?;
    let rec = inspect(&dir).map_err(|e| format!("{}: {e}", dir_path.display()))?;
    Ok(State {
        tree: rec.tree,
        sessions: rec.sessions,
        zxid: rec.last_zxid,
    })
}

/// Every path of the tree, parents before children, siblings sorted.
pub fn paths(tree: &DataTree) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        if let Some((mut children, _)) = tree.children(&p) {
            children.sort();
            let base = if p == "/" { "" } else { p.as_str() };
            stack.extend(children.iter().rev().map(|c| format!("{base}/{c}")));
        }
        out.push(p);
    }
    out
}

fn kind_text(kind: NodeKind) -> String {
    match kind {
        NodeKind::Persistent => "persistent".into(),
        NodeKind::Ephemeral(owner) => format!("ephemeral:{owner:#x}"),
        NodeKind::Container => "container".into(),
        NodeKind::Ttl(ms) => format!("ttl:{ms}"),
    }
}

/// Data as a JSON value: a string when it is UTF-8, `{"hex": ...}` otherwise, `null` for
/// null data.
fn data_json(data: Option<&[u8]>) -> String {
    match data {
        None => "null".into(),
        Some(d) => match std::str::from_utf8(d) {
            Ok(s) => json_string(s),
            Err(_) => format!("{{\"hex\":\"{}\"}}", hex(d)),
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the state as JSON: `{"zxid", "sessions": [...], "nodes": [...]}`.
pub fn write_json(state: &State, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{{")?;
    writeln!(out, "  \"zxid\": {},", state.zxid)?;
    let sessions: Vec<String> = state
        .sessions
        .iter()
        .map(|(id, t)| format!("{{\"id\":{id},\"timeout_ms\":{t}}}"))
        .collect();
    writeln!(out, "  \"sessions\": [{}],", sessions.join(","))?;
    writeln!(out, "  \"nodes\": [")?;
    let all = paths(&state.tree);
    for (i, path) in all.iter().enumerate() {
        let tree = &state.tree;
        let (Some((data, s)), Some((acl, _)), Some(kind)) =
            (tree.get_data_or_null(path), tree.acl(path), tree.kind(path))
        else {
            continue;
        };
        let acl: Vec<String> = acl
            .iter()
            .map(|a| {
                format!(
                    "{{\"scheme\":{},\"id\":{},\"perms\":\"{}\"}}",
                    json_string(&a.id.scheme),
                    json_string(&a.id.id),
                    perm_string(a.perms)
                )
            })
            .collect();
        let comma = if i + 1 < all.len() { "," } else { "" };
        writeln!(
            out,
            "    {{\"path\":{},\"data\":{},\"acl\":[{}],\"kind\":\"{}\",\
             \"czxid\":{},\"mzxid\":{},\"pzxid\":{},\"ctime\":{},\"mtime\":{},\
             \"version\":{},\"cversion\":{},\"aversion\":{},\"numChildren\":{}}}{comma}",
            json_string(path),
            data_json(data),
            acl.join(","),
            kind_text(kind),
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime,
            s.mtime,
            s.version,
            s.cversion,
            s.aversion,
            s.num_children
        )?;
    }
    writeln!(out, "  ]")?;
    writeln!(out, "}}")
}

/// Writes the state as text: a header, then per node its path, stat, ACL and data
/// (escaped so that each node stays on its lines).
pub fn write_text(state: &State, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "# ringkeeper tree at zxid {:#x}: {} nodes, {} sessions",
        state.zxid,
        state.tree.stored_node_count(),
        state.sessions.len()
    )?;
    for (id, t) in &state.sessions {
        writeln!(out, "# session {id:#x} timeout {t}ms")?;
    }
    for path in paths(&state.tree) {
        let tree = &state.tree;
        let (Some((data, s)), Some((acl, _)), Some(kind)) = (
            tree.get_data_or_null(&path),
            tree.acl(&path),
            tree.kind(&path),
        ) else {
            continue;
        };
        writeln!(out, "{path}")?;
        writeln!(
            out,
            "  kind={} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} \
             cversion={} aversion={} numChildren={}",
            kind_text(kind),
            s.czxid,
            s.mzxid,
            s.pzxid,
            s.ctime,
            s.mtime,
            s.version,
            s.cversion,
            s.aversion,
            s.num_children
        )?;
        let acl: Vec<String> = acl
            .iter()
            .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perm_string(a.perms)))
            .collect();
        writeln!(out, "  acl={}", acl.join(","))?;
        writeln!(out, "  data={}", data_json(data))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringkeeper_engine::txn::{Txn, TxnBody};
    use ringkeeper_engine::Acl;

    #[test]
    fn json_dump_escapes_data_and_lists_parents_first() {
        let mut tree = DataTree::new();
        for (z, path, data) in [
            (1, "/b", Some(b"q\"uote\n".to_vec())),
            (2, "/a", Some(vec![0xff, 0x00])),
            (3, "/a/c", None),
        ] {
            tree.apply(&Txn {
                zxid: z,
                time_ms: 5,
                session: 1,
                cxid: 0,
                body: TxnBody::Create {
                    path: path.into(),
                    data,
                    acl: Acl::open_unsafe(),
                    kind: NodeKind::Persistent,
                    parent_cversion: -1,
                },
            });
        }
        let order = paths(&tree);
        let pos = |p: &str| order.iter().position(|x| x == p).unwrap();
        assert_eq!(order[0], "/");
        assert!(pos("/a") < pos("/a/c") && pos("/a/c") < pos("/b"));
        let state = State {
            tree,
            sessions: vec![(7, 3000)],
            zxid: 3,
        };
        let mut out = Vec::new();
        write_json(&state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""path":"/b","data":"q\"uote\n""#), "{text}");
        assert!(
            text.contains(r#""path":"/a","data":{"hex":"ff00"}"#),
            "{text}"
        );
        assert!(text.contains(r#""path":"/a/c","data":null"#), "{text}");
        assert!(text.contains(r#"{"id":7,"timeout_ms":3000}"#), "{text}");
    }
}
