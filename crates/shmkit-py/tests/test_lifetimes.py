"""Views outlive nothing they point into: every order of closes that crashes (or raises) with
numpy over ``multiprocessing.shared_memory`` works here, and lapped views say so."""

import gc
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmkit
from conftest import Child


def test_the_shared_memory_order_that_crashes_today():
    """For contrast: numpy over ``SharedMemory.buf``, closed before the array goes. Depending on
    the numpy version, ``close()`` raises ``BufferError``, or it unmaps the memory under the live
    array and the next read kills the process with SIGSEGV. The same order with shmkit works
    (the tests below)."""
    code = textwrap.dedent(
        """
        import numpy as np
        from multiprocessing import shared_memory
        shm = shared_memory.SharedMemory(create=True, size=1 << 20)
        shm.unlink()
        a = np.ndarray((1 << 20,), dtype=np.uint8, buffer=shm.buf)
        try:
            shm.close()
        except BufferError as e:
            print("BUFFERERROR", e, flush=True)
            raise SystemExit(0)
        print("CLOSED", flush=True)
        print(int(a.sum()), flush=True)
        print("ALIVE", flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "ALIVE" not in out.stdout, out
    assert "BUFFERERROR" in out.stdout or out.returncode == -signal.SIGSEGV, out


def test_an_array_over_a_frame_outlives_its_subscriber(name):
    with shmkit.Publisher.create(name, 1 << 20) as p:
        s = shmkit.Subscriber.open(name)
        p.send(bytes(range(256)) * 4096)
        frame = s.recv_view(timeout=5)
        arr = np.asarray(frame)
        s.close()
        del s, frame
        gc.collect()
        assert arr.sum(dtype=np.uint64) == sum(range(256)) * 4096
        mv = memoryview(arr)
        del arr
        gc.collect()
        assert mv[255] == 255


def test_an_array_over_a_frame_outlives_the_publisher_and_the_name(name):
    p = shmkit.Publisher.create(name, 4096)
    s = shmkit.Subscriber.open(name)
    p.send(b"\x07" * 4096)
    arr = np.asarray(s.recv_view(timeout=5))
    p.close()
    s.close()
    assert int(arr.sum()) == 7 * 4096
    del arr
    gc.collect()
    assert not os.path.exists(f"/dev/shm/{name}"), "the last view gone: the segment is gone too"


def test_a_released_frame_keeps_its_arrays_but_exports_no_more(name):
    with shmkit.Publisher.create(name, 64) as p, shmkit.Subscriber.open(name) as s:
        p.send(b"abc")
        frame = s.recv_view(timeout=5)
        mv = memoryview(frame)
        frame.release()
        assert bytes(mv) == b"abc"
        with pytest.raises(BufferError, match="released"):
            memoryview(frame)
        with pytest.raises(shmkit.InvalidInputError, match="released"):
            frame.tobytes()
        assert not frame.intact
        frame.release()  # idempotent


def test_an_array_over_a_segment_outlives_close(name):
    seg = shmkit.Segment.create(name, 1 << 16)
    a = np.asarray(seg)
    a[:] = 3
    seg.close()
    with pytest.raises(BufferError, match="closed"):
        memoryview(seg)
    assert int(a.sum()) == 3 << 16
    a[0] = 9
    del seg
    gc.collect()
    assert a[0] == 9
    del a
    gc.collect()
    assert not os.path.exists(f"/dev/shm/{name}")


def test_an_array_over_a_loan_keeps_the_publisher_until_it_goes(name):
    with shmkit.Publisher.create(name, 64) as p:
        keep = shmkit.Subscriber.open(name)
        loan = p.loan(64)
        a = np.asarray(loan)
        p.close()
        a[:] = 1  # no crash: the mapping (and the publisher role) stays while `a` lives
        with pytest.raises(shmkit.ClosedError):
            loan.commit()
        with pytest.raises(shmkit.TimeoutError, match="publishes to it"):
            shmkit.Publisher.open(name, wait=0.05)
        del a, loan
        gc.collect()
        with shmkit.Publisher.open(name, wait=5) as q:
            q.send(b"new publisher")
        assert keep.recv(timeout=5) == b"new publisher", "the abandoned loan was never published"
        keep.close()


def test_a_lapped_overwrite_view_says_so_and_never_crashes(name):
    with shmkit.Publisher.create(name, 1000, ring=8192) as p, shmkit.Subscriber.open(name) as s:
        p.send(b"a" * 1000)
        frame = s.recv_view(timeout=5)
        arr = np.asarray(frame)
        assert frame.intact
        for _ in range(20):
            p.send(b"b" * 1000)
        assert not frame.intact
        assert arr.shape == (1000,) and int(arr.sum()) > 0, "still readable (the publisher's bytes)"
        with pytest.raises(shmkit.OverwrittenError, match="overwrote frame #1 while it was read in place"):
            frame.tobytes()
        with pytest.raises(shmkit.OverwrittenError) as e:
            frame.release()
        assert e.value.kind == "overwritten"


def test_a_lapped_view_in_a_with_block_raises_at_its_end(name):
    with shmkit.Publisher.create(name, 1000, ring=8192) as p, shmkit.Subscriber.open(name) as s:
        p.send(b"a" * 1000)
        with pytest.raises(shmkit.OverwrittenError):
            with s.recv_view(timeout=5) as frame:
                for _ in range(20):
                    p.send(b"b" * 1000)
        assert frame.released


def test_frames_dropped_release_a_block_publisher(name):
    with shmkit.Publisher.create(name, 1000, ring=8192, policy="block") as p, \
            shmkit.Subscriber.open(name) as s:
        for _ in range(3):
            p.send(b"x" * 1000)
        for _ in range(3):
            f = s.recv_view(timeout=5)
            del f
        for _ in range(3):
            p.send(b"y" * 1000, timeout=5)


def test_views_survive_a_publisher_killed_mid_loan(name):
    """kill -9 of a Python publisher with a loan half-filled: nothing torn is ever seen, and a
    new publisher takes over at once."""
    with Child(
        """
        import sys, numpy as np, shmkit
        p = shmkit.Publisher.create(sys.argv[1], 1 << 20, persistent=True)
        p.send(b"whole" * 1000)
        loan = p.loan(1 << 20)
        a = np.asarray(loan)
        a[: 1 << 19] = 0xAB
        print("MIDLOAN", flush=True)
        sys.stdin.readline()
        """,
        name,
    ) as child:
        child.expect("MIDLOAN")
        s = shmkit.Subscriber.open(name, oldest=True)
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait()
        assert s.recv(timeout=5) == b"whole" * 1000
        assert s.try_recv() is None, "the half-filled loan does not exist"
        with shmkit.Publisher.open(name) as q:
            assert q.send(b"successor") == 2
        assert s.recv(timeout=5) == b"successor" and s.lost == 0
        s.close()
        shmkit.remove(name)
