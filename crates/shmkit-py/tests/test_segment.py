"""Segments: the robust lock across processes (and kill -9), buffers, listing and cleaning."""

import os
import signal
import threading

import numpy as np
import pytest

import shmkit
from conftest import Child


def test_read_write_and_buffer(name):
    with shmkit.Segment.create(name, 64) as w, shmkit.Segment.open(name, readonly=True) as r:
        assert (w.size, len(w), w.kind, w.lifetime, r.readonly) == (64, 64, "bytes", "last-close", True)
        w.write(3, b"abc")
        assert r.read(3, 3) == b"abc" and len(r.read()) == 64
        np.asarray(w)[10:12] = (7, 8)
        assert r.read(10, 2) == b"\x07\x08"
        ro = np.asarray(r)
        assert not ro.flags.writeable and ro[10] == 7
        assert memoryview(r).readonly and not memoryview(w).readonly
        with pytest.raises(shmkit.PermissionDeniedError):
            r.write(0, b"x")


def test_the_lock_as_a_context_manager_and_would_deadlock(name):
    with shmkit.Segment.create(name, 8) as seg:
        with seg.lock() as g:
            assert g.locked and not g.owner_died
            with pytest.raises(shmkit.WouldDeadlockError):
                seg.lock()
            errors = []
            t = threading.Thread(target=lambda: errors.append(seg.try_lock()))
            t.start()
            t.join()
            assert errors == [None], "another thread (a handle of this process) sees it taken"
        assert not g.locked
        assert seg.try_lock() is not None


def test_a_lock_holder_killed_hands_the_lock_over(name):
    with shmkit.Segment.create(name, 8) as seg, Child(
        """
        import sys, shmkit
        s = shmkit.Segment.open(sys.argv[1])
        g = s.lock()
        print("LOCKED", flush=True)
        sys.stdin.readline()
        """,
        name,
    ) as child:
        child.expect("LOCKED")
        assert seg.try_lock() is None
        assert seg.lock_owner == child.proc.pid
        with pytest.raises(shmkit.TimeoutError, match=f"process {child.proc.pid} held the lock for all of 100ms"):
            seg.lock(timeout=0.1)
        os.kill(child.proc.pid, signal.SIGKILL)
        child.proc.wait()
        with seg.lock(timeout=10) as g:
            assert g.owner_died


def test_a_guard_stays_on_its_thread(name):
    with shmkit.Segment.create(name, 8) as seg:
        g = seg.lock()
        errors = []

        def other():
            try:
                g.unlock()
            except RuntimeError as e:
                errors.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1 and g.locked
        g.unlock()


def test_wait_change_and_notifier(name):
    with shmkit.Segment.create(name, 8) as seg:
        seen = seg.change_count
        n = seg.notifier()
        assert not n.clear()
        Child(f"import shmkit; shmkit.Segment.open({name!r}).notify_change()").wait()
        assert seg.wait_change(seen, timeout=10) != seen
        import select

        assert select.select([n], [], [], 10)[0] == [n]
        assert n.clear()
        n.close()
        with pytest.raises(shmkit.TimeoutError, match="no change within 50ms"):
            seg.wait_change(seg.change_count, timeout=0.05)


def test_ls_info_gc_remove(name):
    with shmkit.Cell.create(name, 32, format="application/json") as c:
        c.publish(b"{}")
        mine = [i for i in shmkit.ls() if i["name"] == name]
        assert len(mine) == 1
        i = shmkit.info(name)
        assert i == mine[0] | {"holders": i["holders"]}
        assert (i["kind"], i["state"], i["format"], i["mode"]) == ("cell", "live", "application/json", 0o600)
        assert os.getpid() in i["holders"]
        assert i["cell"]["seq"] == 1 and i["cell"]["capacity"] == 32
        assert i["lock"] == {"state": "free", "pid": None}
    s = shmkit.Segment.create(name + "p", 8, persistent=True)
    s.close()
    assert shmkit.info(name + "p")["state"] == "idle"
    assert [x["name"] for x in shmkit.gc(idle=True, dry_run=True) if x["name"] == name + "p"]
    shmkit.remove(name + "p")
    with pytest.raises(FileNotFoundError):
        shmkit.remove(name + "p")


def test_raw_segments_join_python_shared_memory(name):
    from multiprocessing import resource_tracker, shared_memory

    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    try:
        shm.buf[:5] = b"hello"
        with shmkit.Segment.open(name, raw=True) as seg:
            assert seg.kind == "raw" and seg.read(0, 5) == b"hello"
            seg.write(5, b" world")
        assert bytes(shm.buf[:11]) == b"hello world"
    finally:
        shm.close()
        shm.unlink()
