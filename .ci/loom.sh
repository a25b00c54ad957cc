#!/usr/bin/env bash
# Model-checks the lock-free protocols (lock word, notify, cell, stream cursors) with loom:
# every interleaving and every weak-memory outcome loom allows. Separate target dir, since
# `--cfg loom` rebuilds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p shmkit --lib --release --locked loom_tests -- --test-threads=2
