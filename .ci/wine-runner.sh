#!/usr/bin/env bash
# Cargo target runner for x86_64-pc-windows-gnu: runs one test binary (or doctest) under Wine.
# - a time limit, since some crashes (stack overflow) hang under Wine 8.0 instead of exiting;
# - fails when Wine reports more unhandled exceptions than the crash tests announced, whatever
#   exit code it returned. A child that is about to crash on purpose (the read-only tests) prints
#   the marker line below to stderr first; any other crash is a failure even if Wine exits 0.
marker='shmkit-test: the next crash is expected'
log=$(mktemp)
timeout -k 10 "${WINE_RUNNER_TIMEOUT:-600}" wine "$@" 2>"$log"
rc=$?
cat "$log" >&2
crashes=$(grep -c '^wine: Unhandled' "$log" || true)
expected=$(grep -c "$marker" "$log" || true)
if [ "$rc" -eq 0 ] && [ "$crashes" -gt "$expected" ]; then
    echo "wine-runner: $crashes unhandled exception(s) in $1, $expected expected (Wine returned 0)" >&2
    rc=1
fi
[ "$rc" -eq 124 ] && echo "wine-runner: $1 timed out after ${WINE_RUNNER_TIMEOUT:-600}s" >&2
rm -f "$log"
exit "$rc"
