#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ and runs each for a bounded time (FUZZ_SECONDS, default 30):
# everything that reads untrusted segment bytes, the lock word, and the control blocks as a peer
# could scribble them. Needs the nightly toolchain (libFuzzer, AddressSanitizer); installs it
# and cargo-fuzz if they are missing. Targets are built optimised, with debug assertions and
# overflow checks on (cargo-fuzz's default), so an arithmetic overflow on hostile bytes is a
# finding, not a silent wrap. Two targets run at a time (one per CPU). Prints each target's
# executions and the total.
#
# A failing target leaves its input in fuzz/artifacts/TARGET/; replay it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# The same entry points run over fixed inputs in `cargo test` (crates/shmkit/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
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
# Its own target dir under the workspace's, so CI's one `target/` holds everything.
export CARGO_TARGET_DIR=../target/fuzz
cargo +nightly fuzz build

logs=$(mktemp -d)
run() {
    # -timeout: an input that runs this long is a hang (an endless loop on lying positions).
    # -close_fd_mask=3: the targets print nothing worth keeping.
    cargo +nightly fuzz run "$1" -- -max_total_time="$secs" -timeout=10 -close_fd_mask=3 \
        >"$logs/$1.log" 2>&1
}
targets=($(cargo +nightly fuzz list))
failed=()
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pair=("${targets[@]:i:2}")
    step "fuzz ${pair[*]} for ${secs}s"
    pids=()
    for t in "${pair[@]}"; do
        run "$t" &
        pids+=($!)
    done
    for k in "${!pids[@]}"; do
        wait "${pids[$k]}" || failed+=("${pair[$k]}")
    done
done

total=0
for t in "${targets[@]}"; do
    runs=$(grep -oE 'Done [0-9]+ runs' "$logs/$t.log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
    total=$((total + runs))
    printf '%-18s %12s executions\n' "$t" "$runs"
done
printf '%-18s %12s executions\n' "total" "$total"

if [ ${#failed[@]} -gt 0 ]; then
    for t in "${failed[@]}"; do
        echo "---- $t ----" >&2
        tail -n 40 "$logs/$t.log" >&2
    done
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
step "all fuzz targets ran clean"
