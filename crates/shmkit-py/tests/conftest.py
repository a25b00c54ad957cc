"""Shared helpers for the shmkit Python tests.

Run them against the installed package (``bash .ci/python.sh``, or ``pip install
'./crates/shmkit-py[test]'`` then ``pytest crates/shmkit-py/tests``). The interop tests also run
the Rust command line and examples: they look for ``target/debug/shmkit`` and
``target/debug/examples/frames_pub`` (``cargo build -p shmkit-cli -p shmkit --examples``), or
``SHMKIT_CLI`` / ``SHMKIT_EXAMPLES``. A test that cannot run here is skipped loudly — and fails
instead when ``SHMKIT_REQUIRE_INTEROP`` (the command line) or ``SHMKIT_REQUIRE_ROOT_TESTS``
(root-only tests) is set, as in CI.
"""

import itertools
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

import shmkit

ROOT = pathlib.Path(__file__).resolve().parents[3]
SHM = pathlib.Path("/dev/shm")
PREFIX = f"t-py{os.getpid()}-"
_counter = itertools.count()


def unique(tag=""):
    """A segment name no other test uses (``t-`` names are checked for leftovers)."""
    return f"{PREFIX}{tag[:8]}{next(_counter)}"


@pytest.fixture
def name(request):
    return unique(request.node.name.removeprefix("test_")[:6])


def skip_or_fail(why, require_env):
    """Skips — or fails, when ``require_env`` is set (CI)."""
    if os.environ.get(require_env):
        pytest.fail(f"{require_env} is set but: {why}")
    pytest.skip(why)


def tool(env, *candidates):
    """A built Rust program: from ``env`` or the workspace's target directory."""
    if os.environ.get(env):
        return pathlib.Path(os.environ[env])
    for c in candidates:
        p = ROOT / c
        if p.exists():
            return p
    return None


@pytest.fixture
def cli():
    p = tool("SHMKIT_CLI", "target/debug/shmkit", "target/release/shmkit")
    if p is None:
        skip_or_fail("the shmkit command line is not built (cargo build -p shmkit-cli)",
                     "SHMKIT_REQUIRE_INTEROP")
    return p


@pytest.fixture
def examples():
    if os.environ.get("SHMKIT_EXAMPLES"):
        return pathlib.Path(os.environ["SHMKIT_EXAMPLES"])
    for d in ("target/debug/examples", "target/release/examples"):
        if (ROOT / d / "frames_pub").exists():
            return ROOT / d
    skip_or_fail("the Rust examples are not built (cargo build -p shmkit --examples)",
                 "SHMKIT_REQUIRE_INTEROP")


class Child:
    """A Python child process running ``code``, speaking in lines on stdout."""

    def __init__(self, code, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def expect(self, prefix):
        """The next line, which must start with ``prefix`` (pytest-timeout bounds the wait)."""
        line = self.proc.stdout.readline()
        if not line.startswith(prefix):
            rest = self.proc.stdout.read() if self.proc.poll() is not None else ""
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            pytest.fail(f"expected {prefix!r}, got {line!r} {rest!r}; stderr: {err}")
        return line.rstrip("\n")

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout=30):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"the child did not end within {timeout}s: {out} {err}")
        return self.proc.returncode, out, err

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.kill()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


@pytest.fixture(autouse=True, scope="session")
def nothing_left_in_dev_shm():
    """Every test's segments are gone when the session ends."""
    yield
    if SHM.is_dir():
        import gc

        gc.collect()
        left = sorted(p.name for p in SHM.iterdir() if p.name.startswith(PREFIX))
        assert not left, f"tests left segments behind: {left}"


def wait_until(cond, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(0.01)
