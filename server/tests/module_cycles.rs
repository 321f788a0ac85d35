//! No two modules import each other, directly or around a circle, in any crate of the
//! workspace. A circle makes modules impossible to understand, test or move one at a time;
//! this test finds every one, not only the ones a review happened to notice.
//!
//! What counts: module `a` depends on its sibling `b` when any file inside `a` names a path
//! through `b`, as `crate::...::b::x`, `super::b` (any depth) or in a `crate::{..}` /
//! `super::{..}` group. Siblings are compared under every parent, so `server::shard::state`
//! and `server::shard::conn` are checked against each other just as `server::shard` and
//! `server::sequencer` are. Test modules (`tests.rs`, `*_tests.rs`, `tests/`) are skipped:
//! a test may reach anything. Comments are ignored. Starts no server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod source_scan;
use source_scan::rust_files;

const CRATES: [&str; 6] = [
    "engine",
    "replication",
    "server",
    "tools",
    "tools/import",
    "bench",
];

type ModPath = Vec<String>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The module a file defines: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: ModPath = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_test_or_bin(module: &ModPath) -> bool {
    module.first().is_some_and(|m| m == "bin")
        || module
            .iter()
            .any(|m| m == "tests" || m.ends_with("_tests") || m == "test_support")
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text without its inline test modules (`#[cfg(test)] mod x { ... }`), found by
/// matching braces from the module's opening one.
fn strip_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let opens_block = after.trim_start().starts_with("mod ")
            && after.find('{').is_some_and(|b| !after[..b].contains(';'));
        if !opens_block {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let open = after.find('{').unwrap_or(0);
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn ident_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first segments of the paths a `{...}` group starting at `text` names.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (i, c) in text.char_indices() {
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && depth == 1 && (c.is_ascii_alphabetic() || c == '_') => {
                heads.push(ident_at(&text[i..]));
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// Every module path (from the crate root) the text of `module` names, truncated to what
/// is needed to find the sibling it goes through.
fn references(module: &ModPath, text: &str) -> Vec<ModPath> {
    let text = strip_test_modules(&strip_comments(text));
    let mut refs = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        if at > 0 && text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `$crate::` or an identifier ending in "crate"
        }
        let rest = &text[at + "crate::".len()..];
        if rest.starts_with('{') {
            refs.extend(group_heads(rest).into_iter().map(|h| vec![h]));
        } else {
            refs.push(path_at(rest));
        }
    }
    // `super` is the parent of the module the file defines; in a `mod.rs` the file's module
    // is the directory, so the same rule holds.
    for (at, _) in text.match_indices("super::") {
        if text[..at].ends_with("super::") {
            continue; // counted from the first `super::` of a chain
        }
        let mut rest = &text[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        let Some(base) = module.len().checked_sub(ups) else {
            continue;
        };
        let parent = &module[..base];
        if rest.starts_with('{') {
            for h in group_heads(rest) {
                let mut p = parent.to_vec();
                p.push(h);
                refs.push(p);
            }
        } else {
            let mut p = parent.to_vec();
            p.extend(path_at(rest));
            refs.push(p);
        }
    }
    refs
}

fn path_at(text: &str) -> ModPath {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let id = ident_at(rest);
        if id.is_empty() {
            break;
        }
        rest = &rest[id.len()..];
        parts.push(id);
        match rest.strip_prefix("::") {
            Some(r) if !r.starts_with('{') => rest = r,
            _ => break,
        }
    }
    parts
}

/// Edges between siblings: parent -> (from, to).
type Edges = BTreeMap<ModPath, BTreeSet<(String, String)>>;

fn crate_edges(src: &Path) -> Edges {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let is_module = |p: &[String]| modules.iter().any(|m| m.starts_with(p));
    let mut edges = Edges::new();
    for file in &files {
        let module = module_of(src, file);
        if is_test_or_bin(&module) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        for r in references(&module, &text) {
            let common = module.iter().zip(&r).take_while(|(a, b)| a == b).count();
            if common < module.len() && common < r.len() && is_module(&r[..=common]) {
                edges
                    .entry(module[..common].to_vec())
                    .or_default()
                    .insert((module[common].clone(), r[common].clone()));
            }
        }
    }
    edges
}

/// The circles among siblings: strongly connected components of more than one module.
fn circles(edges: &BTreeSet<(String, String)>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        if !reach[n].contains(*n) {
            continue;
        }
        let circle: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reach[n].contains(**m) && reach[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if !found.contains(&circle) {
            found.push(circle);
        }
    }
    found
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let mut report = Vec::new();
    for krate in CRATES {
        let src = repo().join(krate).join("src");
        assert!(src.is_dir(), "{} is not a crate's source", src.display());
        for (parent, edges) in crate_edges(&src) {
            for circle in circles(&edges) {
                let inside: Vec<String> = edges
                    .iter()
                    .filter(|(a, b)| circle.contains(a) && circle.contains(b))
                    .map(|(a, b)| format!("{a} -> {b}"))
                    .collect();
                let at = std::iter::once(krate.to_owned())
                    .chain(parent.iter().cloned())
                    .collect::<Vec<_>>()
                    .join("::");
                report.push(format!("{at}: {}", inside.join(", ")));
            }
        }
    }
    assert!(
        report.is_empty(),
        "modules import each other in a circle:\n{}",
        report.join("\n")
    );
}

/// The finder itself: a circle two levels down, through a group import and `super::super`.
#[test]
fn the_finder_sees_circles_through_groups_and_supers() {
    let module = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<ModPath>();
    let refs = references(
        &module(&["a", "b"]),
        "use super::{c::X, d};\nuse super::super::e::f;",
    );
    assert_eq!(
        refs,
        vec![
            module(&["a", "c"]),
            module(&["a", "d"]),
            module(&["e", "f"])
        ]
    );
    let refs = references(
        &module(&["x"]),
        "// crate::y::z in a comment\nuse crate::{w::V, q};\n#[cfg(test)]\nmod tests {\n    use crate::t::{u};\n    fn f() { if true {} }\n}\n#[cfg(test)]\nmod more;\nuse crate::after;",
    );
    assert_eq!(
        refs,
        vec![module(&["w"]), module(&["q"]), module(&["after"])]
    );
    let edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let found = circles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
}
