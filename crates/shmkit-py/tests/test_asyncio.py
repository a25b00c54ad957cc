"""asyncio: frames and values awaited through one notifier descriptor per handle, no thread per
waiter."""

import asyncio
import os
import pathlib
import threading
import time

import numpy as np
import pytest

import shmkit


def notifier_threads():
    """Threads of this process named shmkit-notifier (Linux)."""
    tasks = pathlib.Path("/proc/self/task")
    return sum(1 for t in tasks.iterdir() if (t / "comm").read_text().strip() == "shmkit-notifier")


def later(delay, fn, *args):
    t = threading.Timer(delay, fn, args)
    t.start()
    return t


def test_recv_async_and_async_for(name):
    async def main():
        with shmkit.Publisher.create(name, 1024) as p, shmkit.Subscriber.open(name) as s:
            later(0.05, p.send, b"first")
            assert await s.recv_async(timeout=10) == b"first"
            later(0.05, lambda: [p.send(bytes([i]) * 10) for i in range(5)])
            got = []
            async for frame in s:
                got.append(int(np.asarray(frame).sum()))
                if len(got) == 5:
                    break
            assert got == [i * 10 for i in range(5)]
            with pytest.raises(shmkit.TimeoutError, match=f'cannot receive from "{name}": no frame within 50ms'):
                await s.recv_view_async(timeout=0.05)

    asyncio.run(main())


def test_wait_newer_async_from_another_process_and_many_waiters_one_thread(name):
    async def main():
        with shmkit.Cell.create(name, 16) as c:
            before = notifier_threads()
            waiters = [asyncio.create_task(c.wait_newer_async(0, timeout=30)) for _ in range(100)]
            await asyncio.sleep(0.1)
            assert notifier_threads() - before == 1, "one notifier thread for 100 waiters"
            proc = await asyncio.create_subprocess_exec(
                os.sys.executable, "-c",
                f"import shmkit; shmkit.Cell.open({name!r}).publish(b'hello')",
            )
            assert await proc.wait() == 0
            assert await asyncio.gather(*waiters) == [1] * 100
            assert c.snapshot() == (1, b"hello")
            with pytest.raises(shmkit.TimeoutError, match="no value newer than #1 within 50ms"):
                await c.wait_newer_async(1, timeout=0.05)
            # The event loop ran freely meanwhile: other tasks were not blocked.
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.001)

            t = asyncio.create_task(tick())
            with pytest.raises(shmkit.TimeoutError):
                await c.wait_newer_async(1, timeout=0.2)
            t.cancel()
            assert ticks > 20

    asyncio.run(main())


def test_closing_a_subscriber_ends_async_for(name):
    async def main():
        with shmkit.Publisher.create(name, 64):
            s = shmkit.Subscriber.open(name)
            frames = []

            async def consume():
                async for f in s:
                    frames.append(f)

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.1)
            s.close()
            await asyncio.wait_for(task, 5)
            assert frames == []

    asyncio.run(main())


def test_a_cancelled_await_leaves_nothing_registered(name):
    async def main():
        with shmkit.Publisher.create(name, 64) as p, shmkit.Subscriber.open(name) as s:
            task = asyncio.create_task(s.recv_async())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            p.send(b"after")
            assert await s.recv_async(timeout=5) == b"after"

    asyncio.run(main())
