"""Ctrl-C ends every wait (KeyboardInterrupt), in a real process sent a real SIGINT."""

import signal
import time

import pytest

import shmkit
from conftest import Child

WAITS = {
    "recv": "s = shmkit.Subscriber.open(name); print('WAITING', flush=True); s.recv()",
    "iterate": "s = shmkit.Subscriber.open(name); print('WAITING', flush=True); next(iter(s))",
    "wait_newer": "c = shmkit.Cell.open(name); print('WAITING', flush=True); c.wait_newer(c.seq)",
    "lock": "g = shmkit.Segment.open(name); print('WAITING', flush=True); g.lock()",
    "send_block": ("p = shmkit.Publisher.open(name)\n"
                   "while True:\n"
                   "    try: p.send(b'x' * 1000, timeout=0)\n"
                   "    except shmkit.TimeoutError: break\n"
                   "print('WAITING', flush=True); p.send(b'x' * 1000)"),
}


@pytest.mark.parametrize("what", sorted(WAITS))
def test_ctrl_c_interrupts_a_wait(name, what):
    holders = []
    if what in ("recv", "iterate"):
        holders.append(shmkit.Publisher.create(name, 64))
    elif what == "wait_newer":
        holders.append(shmkit.Cell.create(name, 8))
    elif what == "lock":
        seg = shmkit.Segment.create(name, 8)
        holders += [seg, seg.lock()]
    else:
        p = shmkit.Publisher.create(name, 1000, ring=8192, policy="block")
        holders += [shmkit.Subscriber.open(name)]
        p.close()
    code = (
        "import sys, time, shmkit\n"
        "name = sys.argv[1]\n"
        "try:\n"
        + "".join(f"    {line}\n" for line in WAITS[what].splitlines())
        + "    print('RETURNED', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('INTERRUPTED', time.monotonic(), flush=True)\n"
    )
    with Child(code, name) as child:
        child.expect("WAITING")
        time.sleep(0.2)  # let it go to sleep in the core
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        line = child.expect("INTERRUPTED")
        latency = float(line.split()[1]) - sent
        assert child.wait()[0] == 0
    print(f"{what}: KeyboardInterrupt {latency * 1000:.0f} ms after SIGINT")
    for h in reversed(holders):
        if isinstance(h, shmkit.LockGuard):
            h.unlock()
        else:
            h.close()
