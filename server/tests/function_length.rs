//! A ratchet on long functions (issue 15: "40 functions are longer than 70 lines"). Every
//! function longer than `LIMIT` lines in the non-test code of the server, the engine and the
//! replication crate must be listed in `long_functions.txt` beside this file, with the length
//! it may not exceed. So:
//! - a new function over the limit fails here (split it, or list it with a reason in the
//!   commit that adds it);
//! - a listed function that grows fails here;
//! - a listed function that shrank below its entry, went under the limit or is gone fails
//!   too, until its entry is lowered or removed, so the list only ever gets shorter.
//!
//! `RK_PRINT_LONG_FUNCTIONS=1 cargo test -p ringkeeper-server --test function_length`
//! prints the list as it is now.
//!
//! Test code (files named `tests.rs` or `*_tests.rs`, anything under a `tests/` directory,
//! and `#[cfg(test)]` items) is not counted. Lengths count every line from the `fn` line to
//! the line of its closing brace, comments and blank lines included.

use std::collections::BTreeMap;
use std::path::Path;

mod source_scan;
use source_scan::{is_test_file, rust_files, workspace};

const LIMIT: usize = 70;
const ROOTS: [&str; 3] = ["server/src", "engine/src", "replication/src"];

/// A line with comments, string and char literals blanked, so that only code braces count.
/// Block comments and raw strings spanning lines are tracked through `state`.
#[derive(Default)]
struct Lexer {
    in_block_comment: usize,
    in_raw_string: Option<usize>,
    in_string: bool,
}

impl Lexer {
    fn code(&mut self, line: &str) -> String {
        let chars: Vec<char> = line.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if self.in_block_comment > 0 {
                if c == '*' && next == Some('/') {
                    self.in_block_comment -= 1;
                    i += 2;
                } else if c == '/' && next == Some('*') {
                    self.in_block_comment += 1;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if let Some(hashes) = self.in_raw_string {
                let closes =
                    c == '"' && (1..=hashes).all(|k| chars.get(i + k).copied() == Some('#'));
                if closes {
                    self.in_raw_string = None;
                    i += 1 + hashes;
                } else {
                    i += 1;
                }
                continue;
            }
            if self.in_string {
                match c {
                    '\\' => i += 2,
                    '"' => {
                        self.in_string = false;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            match c {
                '/' if next == Some('/') => break,
                '/' if next == Some('*') => {
                    self.in_block_comment = 1;
                    i += 2;
                }
                '"' => {
                    self.in_string = true;
                    i += 1;
                }
                'r' if matches!(next, Some('#') | Some('"'))
                    && !chars[..i]
                        .last()
                        .is_some_and(|p| p.is_alphanumeric() || *p == '_') =>
                {
                    let mut j = i + 1;
                    while chars.get(j) == Some(&'#') {
                        j += 1;
                    }
                    if chars.get(j) == Some(&'"') {
                        self.in_raw_string = Some(j - i - 1);
                        i = j + 1;
                    } else {
                        out.push(c);
                        i += 1;
                    }
                }
                '\'' => {
                    // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                    if next == Some('\\') {
                        let end = (i + 2..chars.len()).find(|&k| chars[k] == '\'');
                        i = end.map_or(chars.len(), |e| e + 1);
                    } else if chars.get(i + 2) == Some(&'\'') {
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    }
}

/// The name of the function a line of code starts, if it starts one.
fn fn_name(code: &str) -> Option<String> {
    let mut rest = code.trim_start();
    loop {
        let word_end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..word_end];
        match word {
            "pub" => {
                rest = rest[word_end..].trim_start();
                if rest.starts_with('(') {
                    let close = rest.find(')')?;
                    rest = rest[close + 1..].trim_start();
                }
            }
            "const" | "async" | "unsafe" | "default" => rest = rest[word_end..].trim_start(),
            "extern" => {
                rest = rest[word_end..].trim_start();
                if rest.starts_with('"') {
                    let close = rest[1..].find('"')?;
                    rest = rest[close + 2..].trim_start();
                }
            }
            "fn" => {
                let name_part = rest[word_end..].trim_start();
                let end = name_part
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(name_part.len());
                return (end > 0).then(|| name_part[..end].to_string());
            }
            _ => return None,
        }
    }
}

/// (function name, length in lines) of every function with a body in `text`, test items out.
fn functions(text: &str) -> Vec<(String, usize)> {
    let mut lexer = Lexer::default();
    let code: Vec<String> = text.lines().map(|l| lexer.code(l)).collect();
    let mut found = Vec::new();
    let mut skip_until: Option<usize> = None;
    for (start, line) in code.iter().enumerate() {
        if skip_until.is_some_and(|end| start <= end) {
            continue;
        }
        if line.trim_start().starts_with("#[cfg(test)]") {
            skip_until = item_end(&code, start);
            continue;
        }
        let Some(name) = fn_name(line) else {
            continue;
        };
        if let Some(end) = item_end(&code, start) {
            found.push((name, end - start + 1));
        }
    }
    found
}

/// The line of the brace closing the first body that opens at or after `start`, or `None`
/// if a `;` ends the item first (a declaration without a body).
fn item_end(code: &[String], start: usize) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    for (n, line) in code.iter().enumerate().skip(start) {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => {
                    depth -= 1;
                    if opened && depth == 0 {
                        return Some(n);
                    }
                }
                ';' if !opened && depth == 0 => return None,
                _ => {}
            }
        }
    }
    None
}

/// (file, function) -> the longest such function's length, over `LIMIT` only.
fn long_functions() -> BTreeMap<(String, String), usize> {
    let root = workspace();
    let mut long = BTreeMap::new();
    for dir in ROOTS {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        for file in files {
            let rel = file
                .strip_prefix(&root)
                .expect("under the workspace")
                .to_string_lossy()
                .replace('\\', "/");
            if is_test_file(&rel) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (name, lines) in functions(&text) {
                if lines > LIMIT {
                    let entry = long.entry((rel.clone(), name)).or_insert(0);
                    *entry = (*entry).max(lines);
                }
            }
        }
    }
    long
}

/// The list: `<file> <function> <max lines>` per line; `#` starts a comment.
fn allowed() -> BTreeMap<(String, String), usize> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/long_functions.txt");
    let text = std::fs::read_to_string(&path).expect("read tests/long_functions.txt");
    let mut allowed = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [file, name, max] = fields[..] else {
            panic!("long_functions.txt:{}: want `<file> <fn> <lines>`", n + 1);
        };
        let max: usize = max
            .parse()
            .unwrap_or_else(|_| panic!("long_functions.txt:{}: bad length", n + 1));
        allowed.insert((file.to_string(), name.to_string()), max);
    }
    allowed
}

#[test]
fn no_function_grows_past_its_listed_length_and_no_new_one_passes_the_limit() {
    let long = long_functions();
    if std::env::var_os("RK_PRINT_LONG_FUNCTIONS").is_some() {
        for ((file, name), lines) in &long {
            println!("{file} {name} {lines}");
        }
    }
    let allowed = allowed();
    let mut problems = Vec::new();
    for ((file, name), lines) in &long {
        match allowed.get(&(file.clone(), name.clone())) {
            None => problems.push(format!(
                "{file}: fn {name} is {lines} lines (limit {LIMIT}): split it, or list it"
            )),
            Some(max) if lines > max => problems.push(format!(
                "{file}: fn {name} grew to {lines} lines (listed at {max})"
            )),
            Some(max) if lines < max => problems.push(format!(
                "{file}: fn {name} is {lines} lines now: lower its entry from {max}"
            )),
            Some(_) => {}
        }
    }
    for ((file, name), max) in &allowed {
        if !long.contains_key(&(file.clone(), name.clone())) {
            problems.push(format!(
                "{file}: fn {name} (listed at {max}) is gone or within {LIMIT} lines: remove \
                 its entry"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "long functions (tests/long_functions.txt):\n{}",
        problems.join("\n")
    );
}

/// The scanner itself: bodies, declarations, test items, braces in literals and comments.
#[test]
fn the_scanner_measures_bodies_and_ignores_literals_comments_and_tests() {
    let text = r##"
pub(crate) async fn one(x: &str) -> String {
    let s = "}}}{"; // }
    let c = '}';
    /* { */
    let r = r#"{"#;
    format!("{x}{s}{c}{r}")
}
fn declared(&self);
#[cfg(test)]
mod tests {
    fn hidden() {
    }
}
const fn two() {}
"##;
    let found = functions(text);
    assert_eq!(
        found,
        vec![("one".to_string(), 7), ("two".to_string(), 1)],
        "{found:?}"
    );
}
