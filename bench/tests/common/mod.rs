//! What the bench crate's integration tests share.

use std::path::PathBuf;

/// ringkeeper's binary as `target/{release,debug}/ringkeeper` of this workspace (the
/// server is another crate, which a test may not build); `None`, after printing
/// `SKIPPED`, when neither exists.
pub fn server_binary() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let found = ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("ringkeeper"))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED: no target/release/ringkeeper or target/debug/ringkeeper");
    }
    found
}
