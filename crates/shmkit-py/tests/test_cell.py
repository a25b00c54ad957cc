"""Cells: values whole, across processes, waits that let Python run, typed values."""

import struct
import threading
import time

import numpy as np
import pytest

import shmkit
from conftest import Child


def test_publish_snapshot_and_read_into(name):
    with shmkit.Cell.create(name, 64) as w, shmkit.Cell.open(name, readonly=True) as r:
        assert r.snapshot() == (0, b"")
        assert w.publish(b"a longer first value") == 1
        assert w.publish(bytearray(b"short")) == 2
        assert r.snapshot() == (2, b"short"), "no stale tail of the longer value"
        assert r.seq == 2 and r.capacity == 64 and r.readonly and not w.readonly
        buf = bytearray(64)
        assert r.read_into(buf) == (2, 5)
        assert buf[:5] == b"short"
        arr = np.zeros(16, dtype=np.uint8)
        w.publish(np.arange(16, dtype=np.uint8))
        assert r.read_into(arr) == (3, 16)
        assert (arr == np.arange(16)).all()
        w.publish(memoryview(b"xyz")[1:])
        assert r.snapshot() == (4, b"yz")
        assert r.last_publish is not None and abs(r.last_publish - time.time()) < 60


def test_large_values_round_trip(name):
    data = np.random.default_rng(1).integers(0, 256, 3 << 20, dtype=np.uint8)
    with shmkit.Cell.create(name, 4 << 20) as c:
        c.publish(data)
        seq, got = c.snapshot()
        assert seq == 1 and got == data.tobytes()
        out = np.zeros(4 << 20, dtype=np.uint8)
        assert c.read_into(out) == (1, 3 << 20)
        assert (out[: 3 << 20] == data).all() and not out[3 << 20 :].any()


def test_open_or_create_checks_what_it_finds(name):
    with shmkit.Cell.open_or_create(name, 100) as a, shmkit.Cell.open_or_create(name, 50) as b:
        a.publish(b"one")
        assert b.snapshot() == (1, b"one")
        with pytest.raises(shmkit.IncompatibleError, match="capacity of 100 bytes, not 200"):
            shmkit.Cell.open_or_create(name, 200)


def test_wait_newer_wakes_on_another_process_publish(name):
    with shmkit.Cell.create(name, 32) as cell, Child(
        """
        import sys, shmkit
        c = shmkit.Cell.open(sys.argv[1])
        print("OPEN", flush=True)
        sys.stdin.readline()
        c.publish(b"from the child")
        print("DONE", flush=True)
        """,
        name,
    ) as child:
        child.expect("OPEN")
        child.send("go")
        assert cell.wait_newer(0, timeout=30) == 1
        assert cell.snapshot() == (1, b"from the child")
        child.expect("DONE")


def test_wait_newer_times_out_with_the_cores_words(name):
    with shmkit.Cell.create(name, 8) as c:
        c.publish(b"x")
        t0 = time.monotonic()
        with pytest.raises(shmkit.TimeoutError) as e:
            c.wait_newer(1, timeout=0.15)
        assert time.monotonic() - t0 >= 0.15
        assert isinstance(e.value, TimeoutError)
        assert str(e.value) == f'cannot wait on "{name}": no value newer than #1 within 150ms'
        assert (e.value.kind, e.value.name) == ("timeout", name)
        assert c.wait_newer(0, timeout=0) == 1, "a newer value returns at once"


def test_waiting_releases_the_gil(name):
    """Another Python thread runs freely while one waits, and publishes to end the wait."""
    with shmkit.Cell.create(name, 8) as c:
        count = 0
        stop = False

        def spin():
            nonlocal count
            while not stop:
                count += 1
            c.publish(b"done")

        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.05)
        before = count
        with pytest.raises(shmkit.TimeoutError):
            c.wait_newer(0, timeout=0.3)
        assert count - before > 10_000, "the other thread hardly ran while we waited"
        stop = True
        assert c.wait_newer(0, timeout=10) == 1
        t.join()


def test_close_ends_a_wait_in_another_thread(name):
    c = shmkit.Cell.create(name, 8)
    errors = []

    def waiter():
        try:
            c.wait_newer(0)
        except shmkit.ClosedError as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    c.close()
    t.join(5)
    assert not t.is_alive() and len(errors) == 1
    assert isinstance(errors[0], ValueError)
    with pytest.raises(shmkit.ClosedError, match="this cell is closed"):
        c.snapshot()
    c.close()  # idempotent


def test_typed_cells_with_struct_and_numpy(name):
    with shmkit.TypedCell.create(name, "<ddI") as w:
        r = shmkit.TypedCell.open(name, "<ddI", readonly=True)
        assert r.get() == (0, None)
        w.publish(1.5, -2.0, 7)
        assert r.get() == (1, (1.5, -2.0, 7))
        assert shmkit.Cell.open(name).snapshot()[1] == struct.pack("<ddI", 1.5, -2.0, 7)
        r.close()
    dt = np.dtype([("x", "<f8"), ("n", "<u4")])
    with shmkit.TypedCell.create(name + "n", dt) as w:
        w.publish((3.25, 9))
        seq, v = w.get()
        assert seq == 1 and v["x"] == 3.25 and v["n"] == 9
        with pytest.raises(shmkit.InvalidSizeError):
            shmkit.TypedCell(w.cell, "<dddd")


def test_readonly_cells_refuse_to_publish(name):
    with shmkit.Cell.create(name, 8), shmkit.Cell.open(name, readonly=True) as r:
        with pytest.raises(shmkit.PermissionDeniedError, match="opened read-only") as e:
            r.publish(b"no")
        assert isinstance(e.value, PermissionError)


def test_too_large_values_and_small_buffers(name):
    with shmkit.Cell.create(name, 4) as c:
        with pytest.raises(shmkit.InvalidSizeError, match="does not fit its capacity of 4"):
            c.publish(b"12345")
        c.publish(b"1234")
        with pytest.raises(shmkit.InvalidSizeError, match="more than the 2-byte buffer"):
            c.read_into(bytearray(2))
        with pytest.raises(TypeError, match="writable"):
            c.read_into(b"read-only bytes")


def test_an_exclusive_writer_keeps_the_lock_until_closed(name):
    w = shmkit.Cell.create(name, 16, exclusive=True)
    with shmkit.Cell.open(name, readonly=True) as r:
        assert w.publish(b"mine alone") == 1
        with pytest.raises(TimeoutError, match="another writer"):
            shmkit.Cell.open(name, exclusive=True)
        with pytest.raises(shmkit.InvalidInputError, match="read-only"):
            shmkit.Cell.open(name, readonly=True, exclusive=True)
        w.close()
        with shmkit.Cell.open_or_create(name, 16, exclusive=True) as again:
            assert again.publish(b"taken over") == 2
            assert r.snapshot() == (2, b"taken over")
