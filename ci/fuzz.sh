#!/usr/bin/env bash
# Short fuzz runs of every cargo-fuzz target (engine/fuzz): the client request and
# handshake decoders, the log/snapshot reader, zoo.cfg and the peer frame decoder
# (peer_frame). Each target runs for
# RK_FUZZ_SECONDS (default 20) seconds; a crash fails the stage and leaves its input
# under engine/fuzz/artifacts/<target>/ to become a regression test.
#
# cargo-fuzz needs unstable compiler flags. CI machines have only the stable
# toolchain, so the fuzz build alone sets RUSTC_BOOTSTRAP=1 and runs without a
# sanitizer (libFuzzer's coverage guidance still applies; Rust's own bounds checks
# and the decoders' "never panic" property are what the runs check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${RK_FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install --locked --quiet cargo-fuzz
fi

# The workspace's lock, so the fuzzed code is built with the dependency versions it ships with.
cp Cargo.lock engine/fuzz/Cargo.lock
cd engine/fuzz
failed=0
passed=0
for target in $(cargo fuzz list); do
    echo "== fuzz $target for ${seconds}s"
    if RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --sanitizer none -- \
        -max_total_time="$seconds" -print_final_stats=1 2>&1 | tail -n 3; then
        passed=$((passed + 1))
    else
        echo "fuzz $target FAILED: see engine/fuzz/artifacts/$target/"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
