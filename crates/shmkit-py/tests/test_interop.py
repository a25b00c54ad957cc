"""Both ways with the Rust side, byte for byte: `shmkit pub` and `frames_pub` into Python, and
Python's values and frames into `shmkit read`, `watch` and `sub`."""

import json
import os
import subprocess
import time

import numpy as np

import shmkit
from conftest import wait_until


def run(cli, *args, **kw):
    return subprocess.run([str(cli), *args], capture_output=True, timeout=60, **kw)


def test_frames_from_shmkit_pub_arrive_byte_for_byte(cli, name, tmp_path):
    blobs = [bytes(range(256)) * 3, b"\x00\xff" * 1000, os.urandom(5000)]
    files = []
    for i, b in enumerate(blobs):
        f = tmp_path / f"f{i}"
        f.write_bytes(b)
        files += ["--file", str(f)]
    try:
        assert run(cli, "pub", name, "--max-frame", "64K").returncode == 0  # creates it, stdin empty
        with shmkit.Subscriber.open(name) as s:
            out = run(cli, "pub", name, *files)
            assert out.returncode == 0, out.stderr
            got = [s.recv(timeout=10) for _ in blobs]
            assert got == blobs
            out = run(cli, "pub", name, input=b"line one\nline two\n")
            assert [s.recv(timeout=10), s.recv(timeout=10)] == [b"line one", b"line two"]
    finally:
        shmkit.remove(name)


def frames_pub_picture(counter):
    """Frame `counter` of the Rust frames_pub example, as it draws it (see frames_pub.rs): a red
    gradient scrolling right, a white bar 48 pixels wide, green by row; its first 16 bytes carry
    the counter and a checksum instead."""
    w, h = 1920, 1080
    x = np.arange(w)
    shift = (counter * 4) % w
    bar = (x + w - (counter * 12) % w) % w < 48
    red = ((x + w - shift) % w * 255 // (w - 1)).astype(np.uint8)
    green = (np.arange(h) * 255 // (h - 1)).astype(np.uint8)
    picture = np.empty((h, w, 4), dtype=np.uint8)
    picture[:, :, 0] = red
    picture[:, :, 1] = green[:, None]
    picture[:, :, 2] = 96
    picture[:, :, 3] = 255
    picture[:, bar, :] = 255
    return picture


def test_frames_from_the_rust_frames_pub_example_as_numpy(examples, name):
    """1920x1080 RGBA frames drawn in place by Rust arrive as (1080, 1920, 4) arrays, pixel for
    pixel (the stream says its format, rgba8:1920x1080)."""
    proc = subprocess.Popen([str(examples / "frames_pub"), name, "--fps", "200", "--seconds", "30"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: os.path.exists(f"/dev/shm/{name}"), what="frames_pub's stream")
        checked = 0
        with shmkit.Subscriber.open(name) as s:
            while checked < 5:
                frame = s.recv_view(timeout=10)
                pixels = np.asarray(frame)
                assert frame.shape == (1080, 1920, 4) and pixels.shape == (1080, 1920, 4)
                flat = pixels.reshape(-1)
                counter = int(flat[:8].view(np.uint64)[0])
                ok = np.array_equal(flat[16:], frames_pub_picture(counter).reshape(-1)[16:])
                if frame.intact:  # else frames_pub lapped us meanwhile: the next one
                    assert ok, f"frame {counter} differs from what frames_pub drew"
                    checked += 1
    finally:
        proc.kill()
        proc.wait()


def test_values_from_python_arrive_in_shmkit_read_and_watch(cli, name):
    value = bytes(range(256))
    with shmkit.Cell.create(name, 1024) as c:
        c.publish(value)
        out = run(cli, "read", name, "-n")
        assert out.returncode == 0 and out.stdout == value
        watch = subprocess.Popen([str(cli), "watch", name, "--count", "3", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = json.loads(watch.stdout.readline())
        assert first["seq"] == 1 and bytes.fromhex(first["hex"]) == value
        c.publish(b"text two")
        time.sleep(0.05)
        c.publish("trois \u00e9".encode())
        lines = [json.loads(watch.stdout.readline()) for _ in range(2)]
        assert watch.wait(30) == 0
        assert [(x["seq"], x["text"]) for x in lines] == [(2, "text two"), (3, "trois \u00e9")]


def test_values_from_shmkit_write_arrive_in_python(cli, name):
    with shmkit.Cell.create(name, 64, persistent=False) as c:
        out = run(cli, "write", name, "from rust")
        assert out.returncode == 0, out.stderr
        assert c.snapshot() == (1, b"from rust")


def test_frames_from_python_arrive_in_shmkit_sub(cli, name, tmp_path):
    frames = [os.urandom(n) for n in (1, 100, 4096, 60000)]
    with shmkit.Publisher.create(name, 64 << 10, policy="block") as p:
        sub = subprocess.Popen([str(cli), "sub", name, "--count", str(len(frames)), "--out",
                                str(tmp_path), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: p.subscribers == 1, what="shmkit sub joining")
        for f in frames:
            with p.loan(len(f)) as buf:
                memoryview(buf)[:] = f
        lines = [json.loads(sub.stdout.readline()) for _ in frames]
        assert sub.wait(30) == 0
        got = [open(x["file"], "rb").read() for x in lines]
        assert got == frames
