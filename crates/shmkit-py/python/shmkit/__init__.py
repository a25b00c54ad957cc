"""Named shared memory between processes: cells, streams of frames, segments with a robust lock.

* ``Cell``: the latest value, whole, without polling (``publish``, ``snapshot``, ``wait_newer``).
* ``Publisher`` / ``Subscriber``: a broadcast stream of frames; ``sub.recv_view()`` (or ``for
  frame in sub``) gives frames in place, and ``numpy.asarray(frame)`` shares the ring's memory.
* ``Segment``: named bytes with a lock that survives its owner (``with seg.lock() as g``).
* ``ls()``, ``info(name)``, ``gc()``, ``remove(name)``: what exists, and cleaning up.

Waits release the GIL and end on Ctrl-C; ``recv_async``, ``async for frame in sub`` and
``wait_newer_async`` serve asyncio through one notifier descriptor per handle. Errors are
``shmkit.Error`` subclasses with the Rust library's messages.
"""

from ._errors import (
    AlreadyExistsError,
    ClosedError,
    CorruptError,
    Error,
    IncompatibleError,
    InvalidInputError,
    InvalidNameError,
    InvalidSizeError,
    NotFoundError,
    OutOfResourcesError,
    OverwrittenError,
    PermissionDeniedError,
    TimeoutError,
    UnsupportedError,
    WouldDeadlockError,
)
from ._shmkit import (
    MAX_NAME_LEN,
    Cell,
    Frame,
    Loan,
    LockGuard,
    Notifier,
    Publisher,
    Received,
    Segment,
    Subscriber,
    gc,
    info,
    ls,
    remove,
)
from .typed import TypedCell

try:
    from importlib.metadata import version as _version

    __version__ = _version("shmkit")
except Exception:  # not installed as a distribution (a source checkout on sys.path)
    __version__ = "0+unknown"

__all__ = [
    "Cell",
    "TypedCell",
    "Publisher",
    "Loan",
    "Subscriber",
    "Frame",
    "Received",
    "Segment",
    "LockGuard",
    "Notifier",
    "ls",
    "info",
    "gc",
    "remove",
    "MAX_NAME_LEN",
    "Error",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "InvalidNameError",
    "InvalidSizeError",
    "InvalidInputError",
    "IncompatibleError",
    "CorruptError",
    "OutOfResourcesError",
    "TimeoutError",
    "WouldDeadlockError",
    "OverwrittenError",
    "UnsupportedError",
    "ClosedError",
]
