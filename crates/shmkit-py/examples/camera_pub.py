"""A camera-like publisher: 1920x1080 BGR frames (numpy uint8 arrays) into the stream "cam0",
written in place in shared memory — no copy, whatever the frame size.

    python camera_pub.py [NAME] [--fps 30] [--seconds N]

Run frame_consumer.py in another terminal (either order).
"""

import argparse
import time

import numpy as np

import shmkit

W, H = 1920, 1080


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", nargs="?", default="cam0")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = ap.parse_args()

    # "bgr8:1920x1080" records what the frames are: subscribers get (1080, 1920, 3) arrays, and
    # `shmkit info cam0` says so. Four frames of ring: a slow consumer loses frames (and is told
    # how many) rather than slowing the camera down.
    with shmkit.Publisher.open_or_create(args.name, format=f"bgr8:{W}x{H}", ring=4 * W * H * 3 + 4096) as pub:
        print(f"publishing {W}x{H} BGR frames to {args.name!r} at {args.fps} fps (Ctrl-C stops)")
        x = np.arange(W)
        start = next_t = time.monotonic()
        n, shown = 0, start
        try:
            while args.seconds is None or time.monotonic() - start < args.seconds:
                with pub.loan(W * H * 3) as buf:  # committed at the end of the block
                    img = np.asarray(buf)  # (1080, 1920, 3) uint8, in the ring itself
                    img[:] = 40
                    bar = (x - n * 8) % W < 64
                    img[:, bar] = (0, 200, 255)  # a moving orange bar
                    img[:8, :8] = n & 0xFF  # the frame counter, for whoever wants to check
                n += 1
                now = time.monotonic()
                if now - shown >= 1:
                    print(f"{n} frames, {pub.subscribers} subscriber(s)", flush=True)
                    shown = now
                next_t += 1 / args.fps
                time.sleep(max(0.0, next_t - time.monotonic()))
        except KeyboardInterrupt:
            pass
        print(f"done: {n} frames")


if __name__ == "__main__":
    main()
