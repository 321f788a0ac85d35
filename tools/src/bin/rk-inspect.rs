//! `rk-inspect`: reads ringkeeper's data files offline.
//!
//! ```text
//! rk-inspect log FILE                 every record, checksums verified
//! rk-inspect snapshot FILE [--nodes]  header, node count, digest (and every node)
//! rk-inspect dir DATA_DIR             read-only recovery report
//! ```
//! Exit code 0: sound (a torn tail counts, since recovery truncates it); 1: corruption;
//! 2: I/O error or bad usage.

use std::path::Path;

use ringkeeper_tools::inspect::{self, Verdict};

const USAGE: &str = "usage: rk-inspect log FILE | snapshot FILE [--nodes] | dir DATA_DIR";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["log", file] => inspect::log(Path::new(file), &mut out),
        ["snapshot", file] => inspect::snapshot(Path::new(file), false, &mut out),
        ["snapshot", file, "--nodes"] | ["snapshot", "--nodes", file] => {
            inspect::snapshot(Path::new(file), true, &mut out)
        }
        ["dir", path] => inspect::dir(Path::new(path), &mut out),
        _ => {
            eprintln!("{USAGE}");
            Ok(Verdict::Failed)
        }
    };
    let code = match result {
        Ok(v) => v.exit_code(),
        Err(e) => {
            eprintln!("rk-inspect: writing output: {e}");
            Verdict::Failed.exit_code()
        }
    };
    std::process::exit(code);
}
