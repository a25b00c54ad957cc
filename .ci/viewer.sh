#!/usr/bin/env bash
# shmkit top and shmkit view as a person meets them: top in a real 80x24 terminal (tmux), the
# pages in a real headless Chromium driven by chromedriver (Debian's chromium, chromium-driver).
# Installs what is missing (Debian 12, root), then runs the tests that need them — the browser
# tests are #[ignore]d in a plain `cargo test` — with skips turned into failures. Prints the
# displayed frame rates measured in the page; screenshots stay in target/viewer-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
fi
chromium --version
echo "tools ready after $((SECONDS - t0))s"

export SHMKIT_REQUIRE_VIEWER_TOOLS=1
mkdir -p target/viewer-artifacts
# --workspace, not -p shmkit-cli: the units `cargo test --workspace` built, so nothing compiles
# (-p unifies features over shmkit-cli alone and rebuilt the Zenoh stack: 100 s).
cargo test --workspace --locked --test top --test view --test formats
# One browser at a time: each test starts its own, and the frame rates are measured alone.
set +e
cargo test --workspace --locked --test browser -- --ignored --test-threads=1 --nocapture \
    2>&1 | tee target/viewer-artifacts/browser-tests.log
status=${PIPESTATUS[0]}
set -e
echo "== displayed frame rates (counted in the page):"
grep -o 'MEASURED.*' target/viewer-artifacts/browser-tests.log || true
echo "screenshots: $(ls target/viewer-artifacts/*.png 2>/dev/null | tr '\n' ' ')"
echo "viewer checks took $((SECONDS - t0))s"
exit "$status"
