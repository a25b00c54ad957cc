#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and runs each for a bounded time (FUZZ_SECONDS, default 20):
# everything that reads untrusted segment bytes. Needs the nightly toolchain (libFuzzer,
# AddressSanitizer); installs it and cargo-fuzz if they are missing. Targets are built
# optimised, with debug assertions and overflow checks on (cargo-fuzz's default), so an
# arithmetic overflow on hostile bytes is a finding, not a silent wrap.
#
# A failing target leaves its input in fuzz/artifacts/TARGET/; replay it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# The same entry points run over fixed inputs in `cargo test` (crates/shmkit/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
t0=$SECONDS
step() { echo "== [$((SECONDS - t0))s] $*"; }

step "toolchain"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz --version

step "build the fuzz targets"
cd fuzz
cargo +nightly fuzz build

failed=()
for target in $(cargo +nightly fuzz list); do
    step "fuzz $target for ${secs}s"
    # -timeout: an input that runs this long is a hang (an endless loop on lying positions).
    if ! cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -timeout=10; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
step "all fuzz targets ran clean"
