#!/usr/bin/env bash
# The Zenoh bridge beyond `cargo test --workspace` (which already ran its loopback tests):
#   1. the two-host tests, as root: two network namespaces joined by a veth pair, each host with
#      its own /dev/shm, mutual TLS, and a rate-limited link (iproute2, openssl);
#   2. the README's scenario as a new user runs it: frames_pub and `shmkit bridge export` on one
#      side, `shmkit bridge import` and frames_sub on the other, which has a /dev/shm of its own
#      (a private mount namespace), over loopback; frames_sub fails on any torn frame.
# Reuses the workspace's debug build: same profile and features as `cargo test --workspace`, so
# nothing is compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v openssl >/dev/null || missing+=(openssl)
command -v nsenter >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bridge: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "bridge: two hosts in network namespaces"
SHMKIT_REQUIRE_ROOT_TESTS=1 timeout 600 \
    cargo test --workspace --locked --test bridge -- --ignored --test-threads=2

echo "bridge: the README's scenario, each side with its own /dev/shm"
cargo build --workspace --locked --examples --bins -q
bin=target/debug
port=$((20000 + RANDOM % 20000))
# The README's cam0, made unique: other runs may share this machine's /dev/shm.
cam="cam0-$$"
ep="tcp/127.0.0.1:$port"
log=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$log"
}
trap cleanup EXIT
# This side: the publisher and the exporter share this machine's /dev/shm.
"$bin/examples/frames_pub" "$cam" --fps 30 --seconds 8 >"$log/pub" 2>&1 &
pids+=($!)
"$bin/shmkit" bridge export "$cam" --listen "$ep" >"$log/export" 2>&1 &
pids+=($!)
# The other side: the importer and frames_sub in a mount namespace with a tmpfs of their own.
set +e
timeout 60 unshare --mount --propagation private sh -c '
    mount -t tmpfs -o size=256m tmpfs /dev/shm || exit 1
    "$1/shmkit" bridge import "shmkit/$4" --as "$4" --connect "$2" >"$3/import" 2>&1 &
    imp=$!
    "$1/examples/frames_sub" "$4" --seconds 5 >"$3/sub" 2>&1
    status=$?
    kill -INT $imp
    wait $imp || status=1
    exit $status
' sh "$bin" "$ep" "$log" "$cam"
status=$?
set -e
for f in pub export import sub; do
    echo "--- $f"
    cat "$log/$f"
done
if [ $status -ne 0 ] || ! grep -q " 0 corrupt" "$log/sub" || grep -q "done: 0 frames" "$log/sub"; then
    echo "bridge: the README's scenario failed (status $status)" >&2
    exit 1
fi
echo "bridge: done in $((SECONDS - t0))s"
