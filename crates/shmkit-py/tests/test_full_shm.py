"""A full /dev/shm is an OutOfResourcesError at create, never a SIGBUS later: in a private
mount namespace whose /dev/shm is a 1 MiB tmpfs (root only, as the Rust suite's test)."""

import os
import subprocess
import sys
import textwrap

from conftest import skip_or_fail

CHILD = textwrap.dedent(
    """
    import numpy as np, shmkit
    print("STARTED", flush=True)
    try:
        shmkit.Cell.create("full-big", 2 << 20)
        raise SystemExit("a 2 MiB cell was created in a 1 MiB /dev/shm")
    except shmkit.OutOfResourcesError as e:
        assert "not enough shared memory" in str(e), e
    try:
        shmkit.Publisher.create("full-stream", 1 << 20)
        raise SystemExit("a stream larger than /dev/shm was created")
    except shmkit.OutOfResourcesError:
        pass
    assert shmkit.ls() == [], "a failed create leaves nothing behind"
    seg = shmkit.Segment.create("full-half", 512 << 10)
    np.asarray(seg)[:] = 1  # all of it is really there: no SIGBUS
    assert int(np.asarray(seg).sum()) == 512 << 10
    print("RESULT ok", flush=True)
    """
)


def test_a_full_dev_shm_is_out_of_resources():
    if sys.platform != "linux" or os.geteuid() != 0:
        skip_or_fail("needs root on Linux (a private mount namespace)", "SHMKIT_REQUIRE_ROOT_TESTS")
    script = ('mount -t tmpfs -o size=1M shmkit-py-test /dev/shm || { echo NO-MOUNT; exit 0; }; '
              'exec "$0" -c "$1"')
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable, CHILD],
        capture_output=True, text=True, timeout=120,
    )
    if "RESULT ok" in out.stdout:
        assert out.returncode == 0
        return
    assert "STARTED" not in out.stdout, f"failed inside the namespace: {out}"
    skip_or_fail(f"cannot make a private mount namespace here: {out}", "SHMKIT_REQUIRE_ROOT_TESTS")
