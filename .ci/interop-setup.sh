#!/usr/bin/env bash
# Installs the foreign programs the interop tests talk to: a Python virtualenv under
# target/interop-venv with PySide6-Essentials (Qt 6's QtCore, so QSharedMemory and
# QSystemSemaphore from Python). Python's own multiprocessing.shared_memory comes with the
# interpreter.
#
# Prints the venv's python on its last line; `.ci/run` exports it as SHMKIT_INTEROP_PYTHON.
# Idempotent and quick when the venv is already there. On a bare Debian it installs, as root,
# what the venv and Qt's wheel need from the system (python3-venv, libglib2.0-0).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/interop-venv
python=${PYTHON:-python3}

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "interop: apt-get install $*" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    else
        return 1
    fi
}

qt_works() {
    "$venv/bin/python" -c 'import PySide6.QtCore' >/dev/null 2>&1
}

if ! qt_works; then
    rm -rf "$venv"
    mkdir -p target
    if ! "$python" -m venv "$venv" >&2; then
        # Debian's python3 needs its venv package (ensurepip).
        rm -rf "$venv"
        apt_install python3-venv
        "$python" -m venv "$venv" >&2
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        'PySide6-Essentials>=6.6,<7' >&2
    if ! qt_works; then
        # Qt's wheel links the system's GLib and zstd.
        apt_install libglib2.0-0 libzstd1 || true
    fi
fi
"$venv/bin/python" - >&2 <<'EOF'
import sys, PySide6, PySide6.QtCore as Q
print(f"interop: Python {sys.version.split()[0]}, PySide6 {PySide6.__version__}, "
      f"Qt {Q.qVersion()}")
EOF
echo "$(pwd)/$venv/bin/python"
