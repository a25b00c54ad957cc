"""Streams: copies and zero-copy frames, loans, iteration, losses, block, across processes."""

import threading
import time

import numpy as np
import pytest

import shmkit
from conftest import Child


def test_send_recv_and_recv_into(name):
    with shmkit.Publisher.create(name, 1024) as p, shmkit.Subscriber.open(name) as s:
        assert (p.name, p.max_frame, p.policy, s.policy, s.max_frame) == (
            name, 1024, "overwrite", "overwrite", 1024)
        assert p.send(b"one") == 1
        assert p.send(np.arange(10, dtype=np.uint8)) == 2
        assert p.send(b"") == 3
        assert s.recv(timeout=5) == b"one"
        assert s.last == shmkit.Received(seq=1, len=3, lost=0, time_ns=s.last.time_ns)
        buf = bytearray(100)
        assert s.recv_into(buf, timeout=5) == 10
        assert buf[:10] == bytes(range(10))
        assert s.recv(timeout=5) == b"", "empty frames are frames"
        assert s.try_recv() is None and s.try_recv_view() is None
        with pytest.raises(shmkit.TimeoutError, match=f'cannot receive from "{name}": no frame within 50ms'):
            s.recv(timeout=0.05)
        p.send(b"x" * 200)
        with pytest.raises(shmkit.InvalidSizeError, match="frame #4 has 200 bytes, more than the buffer's 100"):
            s.recv_into(buf, timeout=5)


def test_views_are_zero_copy_and_image_shaped(name):
    fmt = "bgr8:64x48"
    with shmkit.Publisher.create(name, format=fmt) as p, shmkit.Subscriber.open(name) as s:
        assert p.max_frame == 64 * 48 * 3 and p.format == fmt == s.format
        with p.loan(64 * 48 * 3) as buf:
            assert buf.shape == (48, 64, 3)
            img = np.asarray(buf)
            assert img.shape == (48, 64, 3) and img.flags.writeable
            img[:] = 0
            img[10, 20] = (1, 2, 3)
        assert buf.committed and buf.seq == 1
        with s.recv_view(timeout=5) as frame:
            a = np.asarray(frame)
            assert a.shape == (48, 64, 3) and not a.flags.writeable
            assert tuple(a[10, 20]) == (1, 2, 3) and int(a.sum()) == 6
            # The very memory of the ring: what a second view sees is the same bytes.
            assert np.shares_memory(a, np.asarray(frame))
            assert frame.intact and bytes(frame) == a.tobytes()
        assert frame.released
        # A frame of another size is plain bytes.
        p.send(b"abc")
        f = s.recv_view(timeout=5)
        assert f.shape is None and np.asarray(f).shape == (3,) and len(f) == 3
        f.release()


def test_loans_commit_partial_abandon_and_one_at_a_time(name):
    with shmkit.Publisher.create(name, 100) as p, shmkit.Subscriber.open(name) as s:
        loan = p.loan(100)
        with pytest.raises(shmkit.InvalidInputError, match="detached loan is outstanding"):
            p.send(b"meanwhile")
        memoryview(loan)[:5] = b"hello"
        assert loan.commit(5) == 1
        with pytest.raises(shmkit.InvalidInputError, match="committed or abandoned already"):
            loan.commit()
        with pytest.raises(BufferError, match="no longer yours"):
            memoryview(loan)
        assert s.recv(timeout=5) == b"hello"
        with pytest.raises(RuntimeError):
            with p.loan(10) as buf:
                memoryview(buf)[:] = b"0123456789"
                raise RuntimeError("the camera broke")
        assert not buf.committed
        p.loan(3).abandon()
        with pytest.raises(shmkit.InvalidSizeError, match="11 bytes from a loan of 10"):
            p.loan(10).commit(11)
        assert p.send(b"after") == 2
        assert s.recv(timeout=5) == b"after", "abandoned loans are never seen"


def test_iteration_and_seek_newest(name):
    with shmkit.Publisher.create(name, 64) as p, shmkit.Subscriber.open(name) as s:
        for i in range(5):
            p.send(bytes([i]))
        got = []
        for frame in s:
            got.append(bytes(frame))
            if len(got) == 3:
                break
        assert got == [b"\0", b"\1", b"\2"]
        assert s.lag == 2
        assert s.seek_newest() == 1
        assert s.recv(timeout=5) == b"\4" and s.lost == 0


def test_a_slow_subscriber_is_told_exactly_what_it_lost(name):
    with shmkit.Publisher.create(name, 1000, ring=8192) as p, shmkit.Subscriber.open(name) as s:
        for i in range(1, 41):
            p.send(i.to_bytes(4, "little") * 250)
        seen = []
        while (f := s.try_recv()) is not None:
            seen.append((int.from_bytes(f[:4], "little"), s.last.lost))
        assert seen[-1][0] == 40
        first, lost = seen[0]
        assert lost == first - 1 > 0, "the losses before the first frame are counted"
        assert s.lost == first - 1
        assert [n for n, _ in seen] == list(range(first, 41))


def test_block_waits_for_the_slowest_subscriber(name):
    with shmkit.Publisher.create(name, 1000, ring=8192, policy="block") as p, \
            shmkit.Subscriber.open(name) as s:
        sent = 0
        while True:
            try:
                p.send(b"x" * 1000, timeout=0)
            except shmkit.TimeoutError as e:
                assert "a subscriber held the ring full for 0ns (policy block)" in str(e)
                break
            sent += 1
        assert 3 < sent < 10 and p.subscribers == 1
        assert s.recv(timeout=5) and s.recv(timeout=5)
        assert p.send(b"y" * 1000, timeout=5), "room again once the subscriber read"
        while s.try_recv() is not None:
            pass
        assert s.lost == 0


def test_block_views_are_protected_until_released(name):
    with shmkit.Publisher.create(name, 1000, ring=8192, policy="block") as p, \
            shmkit.Subscriber.open(name) as s:
        p.send(b"a" * 1000)
        frame = s.recv_view(timeout=5)
        arr = np.asarray(frame)
        sent = 0
        while True:
            try:
                p.send(b"b" * 1000, timeout=0)
                sent += 1
            except shmkit.TimeoutError:
                break
        assert sent > 3
        assert (arr == ord("a")).all() and frame.intact, "the publisher never overwrote a held view"
        frame.release()
        assert s.recv(timeout=5) == b"b" * 1000
        assert p.send(b"c" * 1000, timeout=5), "released (and read on): the publisher goes on"
        assert not frame.intact, "a released frame is no longer vouched for"


def test_frames_cross_processes_and_numpy_sums_them(name):
    n, size = 20, 1920 * 1080 * 4
    with Child(
        """
        import sys, numpy as np, shmkit
        name, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        p = shmkit.Publisher.create(name, size, ring=4 * size, policy="block")
        print("READY", flush=True)
        sys.stdin.readline()
        for i in range(n):
            with p.loan(size) as buf:
                np.asarray(buf)[:] = i % 251
        print("SENT", flush=True)
        sys.stdin.readline()
        """,
        name, n, size,
    ) as child:
        child.expect("READY")
        with shmkit.Subscriber.open(name) as s:
            child.send("go")
            for i, frame in enumerate(s):
                a = np.asarray(frame)
                assert int(a.sum(dtype=np.uint64)) == (i % 251) * size
                assert frame.seq == i + 1 and frame.lost == 0
                if i == n - 1:
                    break
            child.expect("SENT")
            child.send("bye")
            assert child.wait()[0] == 0


def test_one_publisher_at_a_time(name):
    with shmkit.Publisher.create(name, 64) as p, shmkit.Subscriber.open(name):
        p.send(b"first")
        with pytest.raises(shmkit.TimeoutError, match=r"process \d+ publishes to it"):
            shmkit.Publisher.open(name, wait=0.1)
        p.close()
        with shmkit.Publisher.open(name) as q:
            assert q.next_seq == 2


def test_close_ends_iteration_in_another_thread(name):
    with shmkit.Publisher.create(name, 64):
        s = shmkit.Subscriber.open(name)
        frames = []
        t = threading.Thread(target=lambda: frames.extend(s))
        t.start()
        time.sleep(0.1)
        s.close()
        t.join(5)
        assert not t.is_alive() and frames == []
        with pytest.raises(shmkit.ClosedError, match="this subscriber is closed"):
            s.recv(timeout=0)
