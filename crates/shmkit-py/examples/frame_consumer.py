"""A consumer of camera frames as numpy arrays (zero-copy): waits for the stream, then shows each
frame's size and brightness — or the picture itself with OpenCV (``--show``, if installed).

    python frame_consumer.py [NAME] [--count N] [--show]
"""

import argparse
import time

import numpy as np

import shmkit


def subscribe(name):
    """Waits for the publisher to create the stream."""
    said = False
    while True:
        try:
            return shmkit.Subscriber.open(name)
        except FileNotFoundError:
            if not said:
                print(f"waiting for {name!r} (start camera_pub.py)", flush=True)
                said = True
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", nargs="?", default="cam0")
    ap.add_argument("--count", type=int, default=None, help="stop after N frames")
    ap.add_argument("--show", action="store_true", help="show the frames with OpenCV")
    args = ap.parse_args()
    cv2 = None
    if args.show:
        import cv2  # pip install opencv-python

    with subscribe(args.name) as sub:
        print(f"subscribed to {args.name!r} ({sub.format or 'bytes'})", flush=True)
        n = 0
        try:
            for frame in sub:  # waits without polling; Ctrl-C stops it
                img = np.asarray(frame)  # the ring's memory: (1080, 1920, 3) uint8, read-only
                brightness = float(img.mean())
                if cv2 is not None:
                    cv2.imshow(args.name, img)
                    cv2.waitKey(1)
                if not frame.intact:  # the publisher lapped us while we read: skip it
                    continue
                n += 1
                if n % 30 == 1 or args.count:
                    print(f"frame #{frame.seq}: {img.shape} {img.dtype}, mean {brightness:.1f}, "
                          f"lost so far {sub.lost}", flush=True)
                if args.count and n >= args.count:
                    break
        except KeyboardInterrupt:
            pass
    print(f"done: {n} frames")


if __name__ == "__main__":
    main()
