//! `rk-import`: turns an Apache ZooKeeper 3.x data directory into a ringkeeper one.
//!
//! ```text
//! rk-import APACHE_DATA_DIR RINGKEEPER_DATA_DIR [--log-dir APACHE_DATA_LOG_DIR]
//! ```
//! Stop the Apache server first. The newest valid `version-2/snapshot.*` is loaded and
//! every logged txn after it replayed; the result becomes one snapshot in
//! `RINGKEEPER_DATA_DIR/ringkeeper-v1/`. Exit code 0: imported; 1: the Apache files are
//! damaged or the target is not empty; 2: I/O error or bad usage.

use std::path::PathBuf;

use ringkeeper_tools::apache::{import, ImportError};

const USAGE: &str =
    "usage: rk-import APACHE_DATA_DIR RINGKEEPER_DATA_DIR [--log-dir APACHE_DATA_LOG_DIR]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let mut log_dir: Option<PathBuf> = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--log-dir" {
            i += 1;
            match args.get(i) {
                Some(d) => log_dir = Some(PathBuf::from(d)),
                None => {
                    eprintln!("{USAGE}");
                    std::process::exit(2);
                }
            }
        } else {
            positional.push(PathBuf::from(&args[i]));
        }
        i += 1;
    }
    let [source, target] = positional.as_slice() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    match import(source, log_dir.as_deref(), target) {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            match &report.snapshot {
                Some((name, zxid)) => println!("snapshot: {name} (zxid {zxid:#x})"),
                None => println!("snapshot: none, replayed from an empty tree"),
            }
            println!("replayed txns: {}", report.replayed_txns);
            println!("last zxid: {:#x}", report.last_zxid);
            println!("nodes: {}", report.nodes);
            println!("sessions: {}", report.sessions);
            println!("written: {}", report.output.display());
        }
        Err(e) => {
            eprintln!("rk-import: {e}");
            let code = match e {
                ImportError::Io { .. } | ImportError::Storage(_) => 2,
                _ => 1,
            };
            std::process::exit(code);
        }
    }
}
