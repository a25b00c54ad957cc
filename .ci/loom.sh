#!/usr/bin/env bash
# Model-checks the lock-free protocols (lock word, notify, cell, stream cursors) with loom:
# every interleaving and every weak-memory outcome loom allows. Separate target dir, since
# `--cfg loom` rebuilds everything. CI's settings take under two minutes;
# `SHMKIT_LOOM_DEEP=1 bash .ci/loom.sh` runs the deep ones (more preemptions and values, about
# 25 minutes), before a release.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p shmkit --lib --release --locked loom_tests -- --test-threads=2
