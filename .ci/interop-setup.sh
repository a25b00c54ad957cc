#!/usr/bin/env bash
# Installs the foreign programs the interop tests talk to: a Python virtualenv under
# target/interop-venv with PySide6-Essentials (Qt 6's QtCore, so QSharedMemory and
# QSystemSemaphore from Python). Python's own multiprocessing.shared_memory comes with the
# interpreter.
#
# Prints the venv's python on its last line; `.ci/run` exports it as SHMKIT_INTEROP_PYTHON.
# Idempotent and quick when the venv is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/interop-venv
python=${PYTHON:-python3}

if ! "$venv/bin/python" -c 'import PySide6.QtCore' >/dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p target
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        'PySide6-Essentials>=6.6,<7' >&2
fi
"$venv/bin/python" - >&2 <<'EOF'
import sys, PySide6, PySide6.QtCore as Q
print(f"interop: Python {sys.version.split()[0]}, PySide6 {PySide6.__version__}, "
      f"Qt {Q.qVersion()}")
EOF
echo "$(pwd)/$venv/bin/python"
