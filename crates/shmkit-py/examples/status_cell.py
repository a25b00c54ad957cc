"""A status cell: one process publishes its latest status as JSON; others read the newest value
whenever it changes — no polling, no queue, never a torn or stale value.

    python status_cell.py writer [NAME] [--count N]
    python status_cell.py reader [NAME] [--count N]
"""

import argparse
import json
import os
import time

import shmkit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=["writer", "reader"])
    ap.add_argument("name", nargs="?", default="status")
    ap.add_argument("--count", type=int, default=None)
    args = ap.parse_args()
    try:
        if args.role == "writer":
            write(args)
        else:
            read(args)
    except KeyboardInterrupt:
        pass


def write(args):
    with shmkit.Cell.open_or_create(args.name, 4096, format="application/json") as cell:
        for i in range(args.count or 10**12):
            status = {"pid": os.getpid(), "step": i, "temperature": 20 + i % 7, "time": time.time()}
            seq = cell.publish(json.dumps(status).encode())
            print(f"published #{seq}: {status}", flush=True)
            time.sleep(0.5)


def read(args):
    while True:
        try:
            cell = shmkit.Cell.open(args.name, readonly=True)
            break
        except FileNotFoundError:
            time.sleep(0.2)
    with cell:
        seq, n = 0, 0
        while args.count is None or n < args.count:
            seq = cell.wait_newer(seq)  # sleeps until the writer publishes
            seq, value = cell.snapshot()
            print(f"#{seq}: {json.loads(value)}", flush=True)
            n += 1


if __name__ == "__main__":
    main()
