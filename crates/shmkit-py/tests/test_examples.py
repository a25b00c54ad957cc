"""The README's examples, run as a new user would: two programs, two processes."""

import pathlib
import signal
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def start(*args):
    return subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_camera_publisher_and_numpy_consumer(name):
    consumer = start(EXAMPLES / "frame_consumer.py", name, "--count", "5")
    camera = start(EXAMPLES / "camera_pub.py", name, "--fps", "30", "--seconds", "20")
    out, err = consumer.communicate(timeout=60)
    camera.send_signal(signal.SIGINT)  # Ctrl-C: it closes its stream and ends
    cam_out, _ = camera.communicate(timeout=30)
    assert camera.returncode == 0 and "done:" in cam_out
    assert consumer.returncode == 0, err
    assert "(1080, 1920, 3) uint8" in out and "done: 5 frames" in out, out


def test_status_cell_writer_and_reader(name):
    reader = start(EXAMPLES / "status_cell.py", "reader", name, "--count", "3")
    writer = start(EXAMPLES / "status_cell.py", "writer", name, "--count", "6")
    out, err = reader.communicate(timeout=60)
    writer.communicate(timeout=60)
    assert reader.returncode == 0 and writer.returncode == 0, err
    lines = [l for l in out.splitlines() if l.startswith("#")]
    assert len(lines) == 3 and "'temperature'" in lines[0], out
