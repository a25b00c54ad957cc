#!/usr/bin/env bash
# Runs the whole shmkit test suite natively on Linux through the macOS backend
# (`--cfg shmkit_macos_on_linux`): its registry of lock files, shm_open/ftruncate/mmap creation,
# orphan reclaiming and listing use only calls Linux has too. Waiting and process identity then
# come from the Linux backend, and holders are probed with LOCK_EX instead of macOS's F_GETLK.
# What remains macOS-only (os_sync/__ulock waits, proc_pidinfo, F_GETLK) is type-checked by
# .ci/cross.sh. Separate target dir: the cfg rebuilds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
unset SHMKIT_REQUIRE_ROOT_TESTS
RUSTFLAGS="--cfg shmkit_macos_on_linux" CARGO_TARGET_DIR=target/macos-on-linux \
    cargo test -p shmkit --locked "$@"
