"""asyncio for shmkit: awaiting frames and values without a thread per waiter.

Each handle (a ``Subscriber``, a ``Cell``) gets one notifier at its first await: a thread in the
Rust core sleeps on the segment's futex and makes a descriptor (an eventfd on Linux, a pipe on
macOS) readable on each change, and the event loop watches that descriptor with
``loop.add_reader``. However many coroutines await the same handle, there is one descriptor and
one notifier thread, none per waiter; waiting costs the loop nothing.

Where the platform has no such descriptor (Windows), each await runs the blocking call in the
loop's default executor instead (a thread per waiter, for as long as it waits).
"""

import asyncio
import math

from ._errors import ClosedError, UnsupportedError
from ._errors import TimeoutError as _Timeout


def _check(timeout):
    if timeout is not None and (not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0):
        raise ValueError(f"a time of {timeout!r} seconds; give a number of seconds >= 0 (or None)")


def _text(seconds):
    """A duration as the core writes it: ``1.5s``, ``100ms``."""
    return f"{seconds:g}s" if seconds >= 1 or seconds == 0 else f"{seconds * 1000:g}ms"


def _timeout(verb, name, reason):
    e = _Timeout(f'cannot {verb} "{name}": {reason}')
    e.kind, e.name, e.reason, e.hint, e.errno = "timeout", name, reason, None, None
    return e


class _Waker:
    """One notifier's descriptor in one event loop, waking every coroutine that waits on it."""

    def __init__(self, notifier):
        self.notifier = notifier
        self.fd = notifier.fileno()
        self.loop = None
        self.waiters = set()

    def _fire(self):
        self.notifier.clear()
        for f in self.waiters:
            if not f.done():
                f.set_result(None)

    def _stop(self):
        if self.loop is not None:
            try:
                self.loop.remove_reader(self.fd)
            except (OSError, ValueError):
                pass
            self.loop = None
        for f in self.waiters:
            if not f.done():
                f.set_result(None)
        _wakers.pop(id(self.notifier), None)

    async def changed(self, timeout):
        """Returns after a change since the last one seen (or after ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        if self.loop is None:
            loop.add_reader(self.fd, self._fire)
            self.loop = loop
        elif self.loop is not loop:
            raise RuntimeError("a shmkit handle awaited from two event loops at once")
        fut = loop.create_future()
        self.waiters.add(fut)
        try:
            if timeout is None:
                await fut
            else:
                await asyncio.wait([fut], timeout=timeout)
        finally:
            self.waiters.discard(fut)
            if not self.waiters:
                self._stop()


# The wakers of notifiers that have waiters, by the notifier's identity (each keeps its notifier).
_wakers = {}


def _waker(handle):
    """The handle's waker, or ``None`` where there is no descriptor (Windows)."""
    n = handle._async_notifier()
    w = _wakers.get(id(n))
    if w is not None and w.notifier is n:
        return w
    try:
        w = _Waker(n)
    except UnsupportedError:
        return None
    _wakers[id(n)] = w
    return w


def closed(notifier):
    """Called by a handle's ``close()``: wakes its waiters (they then see it closed)."""
    w = _wakers.get(id(notifier))
    if w is None or w.loop is None:
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is w.loop:
        w._stop()
    else:
        w.loop.call_soon_threadsafe(w._stop)


async def _until(handle, attempt, blocking, timeout, on_timeout):
    """``attempt()`` until it returns something, awaiting the handle's changes in between."""
    _check(timeout)
    loop = asyncio.get_running_loop()
    w = _waker(handle)
    if w is None:
        return await loop.run_in_executor(None, blocking, timeout)
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        got = attempt()
        if got is not None:
            return got
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            raise on_timeout()
        await w.changed(left)


async def recv(sub, timeout=None):
    """``await sub.recv_async()``."""
    return await _until(sub, sub.try_recv, sub.recv, timeout,
                        lambda: _timeout("receive from", sub.name, f"no frame within {_text(timeout)}"))


async def recv_view(sub, timeout=None):
    """``await sub.recv_view_async()``."""
    return await _until(sub, sub.try_recv_view, sub.recv_view, timeout,
                        lambda: _timeout("receive from", sub.name, f"no frame within {_text(timeout)}"))


async def anext(sub):
    """``async for frame in sub``: frames in place until the subscriber is closed."""
    try:
        return await recv_view(sub)
    except ClosedError:
        raise StopAsyncIteration from None


async def cell_wait_newer(cell, seq, timeout=None):
    """``await cell.wait_newer_async(seq)``."""
    def newer():
        now = cell.seq
        return now if now > seq else None

    return await _until(cell, newer, lambda t: cell.wait_newer(seq, t), timeout,
                        lambda: _timeout("wait on", cell.name,
                                         f"no value newer than #{seq} within {_text(timeout)}"))
