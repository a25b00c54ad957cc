#!/usr/bin/env bash
# The Python package (crates/shmkit-py): builds and installs it with the README's one command
# into a fresh virtualenv under target/ (maturin from PyPI; the Rust build reuses the workspace's
# target/), then runs its pytest suite against the installed wheel — real processes, the Rust
# command line and examples for the interop tests (built here if `cargo test` has not), the
# root-only full-/dev/shm test — and the benchmark once, quickly, so that it keeps working.
#
# Runs on a fresh Debian 12 as root (CI) or as a developer; installs python3-venv if missing.
# .ci/run exports SHMKIT_REQUIRE_INTEROP and SHMKIT_REQUIRE_ROOT_TESTS, which turn the interop and
# root-only tests' skips into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { echo "== [python $((SECONDS - t0))s] $*"; }

venv=target/python-ci-venv
python=${PYTHON:-python3}

step "fresh venv ($python)"
rm -rf "$venv"
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    "$python" -m venv "$venv"
fi

# The wheel (release build) and the Rust programs the interop tests run (debug, as cargo test
# builds them) in parallel.
step "pip install './crates/shmkit-py[test]'  +  cargo build of shmkit and frames_pub"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check './crates/shmkit-py[test]' &
pip_pid=$!
# The units `cargo test --workspace` built (see .ci/c.sh: -p would rebuild with other features).
cargo build --quiet --locked --workspace --lib --bins --examples
wait "$pip_pid"
"$venv/bin/python" -c 'import shmkit, sys; print(f"shmkit {shmkit.__version__} on Python {sys.version.split()[0]}")'

step "pytest"
(cd crates/shmkit-py && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider -rs)

step "python -m shmkit.bench --quick"
"$venv/bin/python" -m shmkit.bench --quick

step "python checks passed"
