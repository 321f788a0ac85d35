//! `rk-export`: dumps a ringkeeper snapshot file or data directory in readable form.
//!
//! ```text
//! rk-export PATH [--json]     PATH: a snapshot file, a dataDir, or dataDir/ringkeeper-v1
//! ```
//! A directory is recovered read-only (newest snapshot plus the log), so the dump shows
//! what the server would start with. Exit code 0: dumped; 1: unreadable or damaged
//! files; 2: bad usage or an output error.

use std::io::Write;
use std::path::Path;

use ringkeeper_tools::export::{load, write_json, write_text};

const USAGE: &str = "usage: rk-export SNAPSHOT_FILE|DATA_DIR [--json]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, json) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [p] => (p.to_string(), false),
        [p, "--json"] | ["--json", p] => (p.to_string(), true),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let state = match load(Path::new(&path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rk-export: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        write_json(&state, &mut out)
    } else {
        write_text(&state, &mut out)
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        eprintln!("rk-export: writing output: {e}");
        std::process::exit(2);
    }
}
