"""Bad input gets a clear exception (with the core's words), never a crash."""

import numpy as np
import pytest

import shmkit


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "x" * 31, ".hidden", "nul\0byte", "spa ce"])
def test_bad_names(bad):
    for open_ in (lambda: shmkit.Cell.create(bad, 8), lambda: shmkit.Subscriber.open(bad),
                  lambda: shmkit.Publisher.create(bad, 8), lambda: shmkit.Segment.open(bad)):
        with pytest.raises(shmkit.InvalidNameError) as e:
            open_()
        assert isinstance(e.value, ValueError) and e.value.kind == "invalid_name"
        assert "portable name is 1 to 30 characters" in str(e.value)


def test_missing_segments_are_file_not_found(name):
    for open_ in (lambda: shmkit.Cell.open(name), lambda: shmkit.Subscriber.open(name),
                  lambda: shmkit.Publisher.open(name), lambda: shmkit.Segment.open(name),
                  lambda: shmkit.info(name)):
        with pytest.raises(FileNotFoundError) as e:
            open_()
        assert isinstance(e.value, shmkit.NotFoundError)
        assert e.value.name == name and e.value.errno is not None
        assert "no such segment" in str(e.value)


def test_exists_already(name):
    with shmkit.Cell.create(name, 8):
        with pytest.raises(FileExistsError, match="exists already"):
            shmkit.Cell.create(name, 8)


def test_bad_sizes(name):
    with pytest.raises(shmkit.InvalidSizeError, match="a capacity of -1 bytes"):
        shmkit.Cell.create(name, -1)
    with pytest.raises(shmkit.InvalidSizeError, match="maximum frame of 0 bytes"):
        shmkit.Publisher.create(name, 0)
    with pytest.raises(shmkit.InvalidSizeError, match="cannot hold two frames"):
        shmkit.Publisher.create(name, 1 << 20, ring=4096)
    with pytest.raises(shmkit.InvalidSizeError):
        shmkit.Segment.create(name, -5)
    with shmkit.Publisher.create(name, 16) as p:
        with pytest.raises(shmkit.InvalidSizeError, match="larger than its maximum of 16"):
            p.send(b"x" * 17)
        with pytest.raises(shmkit.InvalidSizeError):
            p.loan(-1)
        with pytest.raises(shmkit.InvalidSizeError):
            p.loan(17)
    with shmkit.Segment.create(name + "s", 16) as s:
        with pytest.raises(shmkit.InvalidSizeError):
            s.read(10, 10)
        with pytest.raises(shmkit.InvalidSizeError):
            s.write(15, b"ab")
        with pytest.raises(shmkit.InvalidSizeError):
            s.read(-1)


def test_bad_arguments(name):
    with pytest.raises(ValueError, match="bits outside 0o777"):
        shmkit.Cell.create(name, 8, mode=0o4777)
    with pytest.raises(ValueError, match='policy "sometimes"'):
        shmkit.Publisher.create(name, 8, policy="sometimes")
    with pytest.raises(shmkit.InvalidInputError):
        shmkit.Publisher.create(name, 8, format="not a format")
    with shmkit.Cell.create(name, 8) as c:
        for t in (-1, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="seconds >= 0"):
                c.wait_newer(0, timeout=t)
        with pytest.raises(TypeError, match="bytes-like object is required"):
            c.publish("a str is not bytes")
        with pytest.raises(TypeError):
            c.publish(None)
        with pytest.raises(BufferError, match="not contiguous"):
            c.publish(np.arange(8, dtype=np.uint8)[::2])


def test_wrong_kinds_are_incompatible(name):
    with shmkit.Cell.create(name, 8):
        with pytest.raises(shmkit.IncompatibleError, match="cell"):
            shmkit.Subscriber.open(name)
    with shmkit.Publisher.create(name + "p", 8):
        with pytest.raises(shmkit.IncompatibleError):
            shmkit.Cell.open(name + "p")


def test_closed_handles_raise_closed_error(name):
    c = shmkit.Cell.create(name, 8)
    c.close()
    p = shmkit.Publisher.create(name + "p", 8)
    s = shmkit.Subscriber.open(name + "p")
    p.close()
    s.close()
    g = shmkit.Segment.create(name + "g", 8)
    g.close()
    for call in (c.snapshot, lambda: c.publish(b"x"), lambda: c.wait_newer(0), lambda: p.send(b"x"),
                 lambda: p.loan(1), s.recv, s.recv_view, lambda: s.lag, g.read, g.lock,
                 lambda: g.write(0, b"x"), c.notifier, s.notifier, g.notifier):
        with pytest.raises(shmkit.ClosedError) as e:
            call()
        assert isinstance(e.value, ValueError) and e.value.kind == "closed"
    assert c.closed and p.closed and s.closed and g.closed
    assert list(iter(s)) == []
    for h in (c, p, s, g):
        h.close()  # idempotent
