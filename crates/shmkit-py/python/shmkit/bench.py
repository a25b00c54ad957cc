"""Measures shmkit from Python against what Python offers, in one run, on this machine.

    python -m shmkit.bench [--quick] [--json] [--rust-cli PATH]

* frames: 1920x1080 RGBA frames (8 294 400 bytes) from one process to another that sums every
  byte with numpy: shmkit zero-copy (the producer fills a loan, the consumer sums the frame in
  place), ``multiprocessing.shared_memory`` with a ``multiprocessing.Queue`` of slot indices,
  and pickling numpy arrays through ``multiprocessing.Pipe``; with numpy's own sum of one frame in
  one process (the consumer's limit) and the hand-off alone (nobody touches the bytes);
* round trip: an 8-byte value to another process and back: two shmkit cells (blocking, and
  spinning 100 us before blocking) against ``multiprocessing.Pipe``.

Every figure is a median over rounds; ratios compare medians of the same run. ``--rust-cli``
also runs ``shmkit bench --json`` (the Rust command line) and compares the zero-copy frame figure
with its 8 MiB zero-copy stream. Producer and consumer are pinned to two different CPUs when
there are two.
"""

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import shmkit

W, H, C = 1920, 1080, 4
FRAME = W * H * C


try:
    _CPUS = sorted(os.sched_getaffinity(0))
except AttributeError:  # not Linux
    _CPUS = []


def _pin(cpu):
    """Pins this process to the ``cpu``-th CPU (of two), when there are two."""
    if len(_CPUS) >= 2:
        os.sched_setaffinity(0, {_CPUS[cpu % 2]})


def _start(proc):
    """Starts a child unpinned (children inherit the affinity), so that it can pin itself."""
    if len(_CPUS) >= 2:
        os.sched_setaffinity(0, set(_CPUS))
    proc.start()


def _name(tag):
    return f"bench-py{os.getpid()}-{tag}"


# ---- frames ------------------------------------------------------------------------------------

def _shmkit_producer(name, n, ready, touch):
    _pin(0)
    p = shmkit.Publisher.open(name, wait=10)
    ready.wait()
    for i in range(n):
        with p.loan(FRAME) as buf:
            if touch:
                np.asarray(buf).fill(i & 0xFF)
    p.close()


def _frames_shmkit(n, touch=True):
    name = _name("zc")
    pub = shmkit.Publisher.create(name, FRAME, ring=4 * shmkit_frame_size(), policy="block")
    sub = shmkit.Subscriber.open(name)
    pub.close()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_shmkit_producer, args=(name, n, ready, touch))
    _start(proc)
    _pin(1)
    total = 0
    ready.set()
    t0 = None
    for i in range(n):
        frame = sub.recv_view(timeout=60)
        if t0 is None:
            t0 = time.perf_counter()
        if touch:
            total += int(np.asarray(frame).sum(dtype=np.uint64))
        frame.release()
    dt = time.perf_counter() - t0
    proc.join()
    sub.close()
    if touch:
        assert total == sum((i & 0xFF) for i in range(n)) * FRAME, "a frame arrived wrong"
    return dt / (n - 1)


def shmkit_frame_size():
    return (FRAME + 32 + 63) // 64 * 64


def _shm_producer(names, n, free, full, ready):
    from multiprocessing import shared_memory

    _pin(0)
    slots = [shared_memory.SharedMemory(name=x) for x in names]
    arrays = [np.ndarray((FRAME,), dtype=np.uint8, buffer=s.buf) for s in slots]
    ready.wait()
    for i in range(n):
        k = free.get()
        arrays[k].fill(i & 0xFF)
        full.put(k)
    del arrays
    for s in slots:
        s.close()


def _frames_shm_queue(n):
    from multiprocessing import shared_memory

    ctx = mp.get_context("spawn")
    slots = [shared_memory.SharedMemory(create=True, size=FRAME) for _ in range(4)]
    try:
        free, full, ready = ctx.Queue(), ctx.Queue(), ctx.Event()
        for k in range(len(slots)):
            free.put(k)
        proc = ctx.Process(target=_shm_producer,
                           args=([s.name for s in slots], n, free, full, ready))
        _start(proc)
        arrays = [np.ndarray((FRAME,), dtype=np.uint8, buffer=s.buf) for s in slots]
        _pin(1)
        ready.set()
        total, t0 = 0, None
        for i in range(n):
            k = full.get()
            if t0 is None:
                t0 = time.perf_counter()
            total += int(arrays[k].sum(dtype=np.uint64))
            free.put(k)
        dt = time.perf_counter() - t0
        proc.join()
        del arrays
        assert total == sum((i & 0xFF) for i in range(n)) * FRAME
        return dt / (n - 1)
    finally:
        for s in slots:
            s.close()
            s.unlink()


def _pipe_producer(conn, n, ready):
    _pin(0)
    ready.wait()
    for i in range(n):
        conn.send(np.full(FRAME, i & 0xFF, dtype=np.uint8))
    conn.close()


def _frames_pipe(n):
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    ready = ctx.Event()
    proc = ctx.Process(target=_pipe_producer, args=(send, n, ready))
    _start(proc)
    _pin(1)
    ready.set()
    total, t0 = 0, None
    for i in range(n):
        a = recv.recv()
        if t0 is None:
            t0 = time.perf_counter()
        total += int(a.sum(dtype=np.uint64))
    dt = time.perf_counter() - t0
    proc.join()
    assert total == sum((i & 0xFF) for i in range(n)) * FRAME
    return dt / (n - 1)


def _numpy_alone(n):
    a = np.full(FRAME, 3, dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(n):
        a.fill(1)
        int(a.sum(dtype=np.uint64))
    return (time.perf_counter() - t0) / n


# ---- round trips -------------------------------------------------------------------------------

def _cell_echo(ping, pong, n, spin):
    _pin(0)
    a = shmkit.Cell.open(ping, spin=spin)
    b = shmkit.Cell.open(pong)
    seq = 0
    for _ in range(n):
        seq = a.wait_newer(seq, timeout=60)
        b.publish(a.snapshot()[1])


def _rtt_cells(n, spin):
    ping, pong = _name("ping"), _name("pong")
    a = shmkit.Cell.create(ping, 8)
    b = shmkit.Cell.create(pong, 8, spin=spin)
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_cell_echo, args=(ping, pong, n, spin))
    _start(proc)
    _pin(1)
    times, seq = [], 0
    value = (12345).to_bytes(8, "little")
    for _ in range(n):
        t = time.perf_counter_ns()
        a.publish(value)
        seq = b.wait_newer(seq, timeout=60)
        times.append(time.perf_counter_ns() - t)
    proc.join()
    assert b.snapshot()[1] == value
    a.close()
    b.close()
    return times[n // 10:]


def _pipe_echo(conn, n):
    _pin(0)
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def _rtt_pipe(n):
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_pipe_echo, args=(there, n))
    _start(proc)
    _pin(1)
    times = []
    value = (12345).to_bytes(8, "little")
    for _ in range(n):
        t = time.perf_counter_ns()
        here.send_bytes(value)
        here.recv_bytes()
        times.append(time.perf_counter_ns() - t)
    proc.join()
    return times[n // 10:]


# ---- the report --------------------------------------------------------------------------------

def _rust_zero_copy(cli):
    out = subprocess.run([cli, "bench", "--json"], capture_output=True, text=True, timeout=900)
    data = json.loads(out.stdout)
    found = []

    def walk(x, path):
        if isinstance(x, dict):
            text = json.dumps(x).lower()
            if "zero-copy" in text and ("8 mib" in text or "8388608" in text) and any(
                    k in x for k in ("gib_s", "gibps", "bytes_per_s", "speed")):
                found.append(x)
            for k, v in x.items():
                walk(v, path + [k])
        elif isinstance(x, list):
            for v in x:
                walk(v, path)

    walk(data, [])
    return found, data


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m shmkit.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few frames and round trips (a smoke test)")
    ap.add_argument("--json", action="store_true", help="one JSON object with every figure")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per frame case (default 5)")
    ap.add_argument("--rust-cli", metavar="PATH", help="also run `PATH bench --json` and compare")
    args = ap.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    frames = 8 if args.quick else 60
    trips = 200 if args.quick else 5000

    def say(*a):
        if not args.json:
            print(*a, flush=True)

    def median_of(fn, *a):
        return statistics.median(fn(*a) for _ in range(rounds))

    gib = FRAME / 2**30
    say(f"shmkit {shmkit.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs; medians of {rounds} round(s)")
    say(f"\nframes: 1920x1080 RGBA ({FRAME} bytes), consumer sums every byte with numpy")
    res = {}
    cases = [
        ("shmkit zero-copy (producer fills a loan, consumer sums in place)", "shmkit", _frames_shmkit, (frames,)),
        ("multiprocessing.shared_memory + Queue of slot indices", "shm_queue", _frames_shm_queue, (frames,)),
        ("pickled numpy arrays through multiprocessing.Pipe", "pipe", _frames_pipe, (max(8, frames // 3),)),
        ("numpy alone: fill and sum one frame in one process (the limit)", "numpy_alone", _numpy_alone, (frames,)),
        ("shmkit hand-off alone (nobody touches the bytes)", "handoff", _frames_shmkit, (frames * 4, False)),
    ]
    for label, key, fn, a in cases:
        t = median_of(fn, *a)
        res[key] = t
        if key == "handoff":
            # Nobody touches the bytes: a time per frame, not a speed.
            say(f"  {label:<66} {t * 1e6:8.1f} us/frame")
        else:
            say(f"  {label:<66} {t * 1e3:8.3f} ms/frame  {1 / t:8.1f} fps  {gib / t:6.2f} GiB/s")
    say(f"  shmkit zero-copy vs the Pipe: {res['pipe'] / res['shmkit']:.1f}x faster; "
        f"vs shared_memory + Queue: {res['shm_queue'] / res['shmkit']:.2f}x; "
        f"vs numpy alone: {res['numpy_alone'] / res['shmkit']:.2f}x its speed")

    say(f"\nround trip: 8 bytes to another process and back ({trips} times)")
    rt = {}
    for label, key, fn, a in [
        ("shmkit cells, blocking", "cell_blocking", _rtt_cells, (trips, 0.0)),
        ("shmkit cells, spin 100 us then block", "cell_spin", _rtt_cells, (trips, 100e-6)),
        ("multiprocessing.Pipe, blocking", "pipe", _rtt_pipe, (trips,)),
    ]:
        times = sorted(fn(*a))
        med, p99 = statistics.median(times), times[int(len(times) * 0.99)]
        rt[key] = {"median_ns": med, "p99_ns": p99}
        say(f"  {label:<40} median {med / 1e3:8.1f} us   p99 {p99 / 1e3:8.1f} us")
    say(f"  cells vs the Pipe: blocking {rt['pipe']['median_ns'] / rt['cell_blocking']['median_ns']:.1f}x "
        f"faster, spinning {rt['pipe']['median_ns'] / rt['cell_spin']['median_ns']:.1f}x faster")

    out = {"frame_bytes": FRAME, "rounds": rounds,
           "frames_s_per_frame": res, "round_trip": rt}
    if args.rust_cli:
        found, data = _rust_zero_copy(args.rust_cli)
        out["rust_bench"] = data
        say("\nRust `shmkit bench --json` ran; its zero-copy 8 MiB figure:", json.dumps(found))
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
