#!/usr/bin/env bash
# Type-checks and lints the cargo-fuzz crate (engine/fuzz) on the stable toolchain.
#
# The fuzz crate is not a workspace member (cargo-fuzz needs its own target dir, and the
# main build must not link libfuzzer), so `cargo clippy --workspace` and `cargo test` never
# compile it. A change to an API a fuzz target uses would then only show up in the fuzz
# stage, at the end of CI. This runs in the fmt and clippy stages instead, and builds the
# fuzz crate with the workspace's Cargo.lock, so it sees the same dependency versions as
# the server it fuzzes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-clippy}"
cp Cargo.lock engine/fuzz/Cargo.lock
case "$mode" in
fmt) cargo fmt --manifest-path engine/fuzz/Cargo.toml -- --check ;;
clippy) cargo clippy --manifest-path engine/fuzz/Cargo.toml --all-targets -- -D warnings ;;
*)
    echo "usage: ci/fuzz-check.sh [fmt|clippy]" >&2
    exit 2
    ;;
esac
