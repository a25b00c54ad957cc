#!/usr/bin/env bash
# Keeps platform code in one place: `cfg(target_os …)`, `cfg(unix)`, `cfg(windows)` and
# friends may appear only under crates/shmkit/src/sys/ (std's tidy `pal` check, in small).
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='cfg(_attr)?\((.*[^_])?(target_os|target_family|target_vendor|unix|windows)\b'
hits=$(grep -rnE "$pattern" --include='*.rs' crates examples 2>/dev/null \
    | grep -v '^crates/shmkit/src/sys/' || true)
if [ -n "$hits" ]; then
    echo "platform cfg outside crates/shmkit/src/sys/:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "platform cfg: only in crates/shmkit/src/sys/"
