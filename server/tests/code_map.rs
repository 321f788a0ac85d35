//! docs/ARCHITECTURE.md must not name files that moved: every path in its code map, and
//! every repository path quoted elsewhere in it, has to exist. Starts no server.

use std::path::{Path, PathBuf};

/// The top-level directories a quoted repository path starts with.
const TOP_DIRS: [&str; 7] = [
    "engine/",
    "server/",
    "replication/",
    "tools/",
    "bench/",
    "ci/",
    "docs/",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn architecture() -> String {
    let path = repo().join("docs/ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text between backticks, in order.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A quoted token as a path: `engine/src/x.rs:12` and `shard/state.rs:3-5` lose their line
/// numbers; the rest is kept as written.
fn strip_lines(token: &str) -> &str {
    token.split(':').next().unwrap_or(token)
}

/// The directory later bare file names of a row are relative to.
fn dir_of(path: &str) -> &str {
    if path.ends_with('/') {
        path
    } else {
        path.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// The paths of the code map table: each row's first cell names paths from the repository
/// root, or bare names beside the path before them (`engine/src/path.rs`, `acl.rs`); file
/// names quoted in the description are in the row's directory.
fn code_map_paths(doc: &str) -> Vec<String> {
    let section = doc
        .split("## Code map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/ARCHITECTURE.md has a code map section");
    let mut paths = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let mut cells = row.split('|').skip(1);
        let (first, what) = (cells.next().unwrap_or(""), cells.next().unwrap_or(""));
        let mut dir = String::new();
        for token in quoted(first) {
            if TOP_DIRS.iter().any(|top| token.starts_with(top)) || token.ends_with('/') {
                dir = format!("{}/", dir_of(token).trim_end_matches('/'));
                paths.push(token.to_string());
            } else {
                paths.push(format!("{dir}{token}"));
            }
        }
        for token in quoted(what).into_iter().filter(|t| t.ends_with(".rs")) {
            paths.push(format!("{dir}{token}"));
        }
    }
    paths
}

#[test]
fn every_path_in_the_architecture_code_map_exists() {
    let doc = architecture();
    let paths = code_map_paths(&doc);
    assert!(paths.len() > 20, "the code map was not read: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !repo().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "code map names missing paths: {missing:?}"
    );
}

#[test]
fn every_repository_path_quoted_in_the_architecture_exists() {
    let doc = architecture();
    let missing: Vec<&str> = quoted(&doc)
        .into_iter()
        .map(strip_lines)
        .filter(|t| TOP_DIRS.iter().any(|top| t.starts_with(top)))
        .filter(|t| !repo().join(t).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md quotes missing paths: {missing:?}"
    );
}
