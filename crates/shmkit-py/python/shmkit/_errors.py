"""The exceptions of shmkit: ``shmkit.Error`` and one subclass per kind of failure.

Each carries the core's message word for word (what was tried, on which name, why, and what to
do), and attributes:

* ``kind``: ``"not_found"``, ``"already_exists"``, ``"permission_denied"``, ``"invalid_name"``,
  ``"invalid_size"``, ``"invalid_input"``, ``"incompatible"``, ``"corrupt"``,
  ``"out_of_resources"``, ``"timeout"``, ``"would_deadlock"``, ``"overwritten"``,
  ``"unsupported"``, ``"os"``, ``"closed"``;
* ``name``: the segment's name, if any; ``reason``: why, in words; ``hint``: what to do, or
  ``None``; ``errno``: the operating system's error code, if an OS call failed.

Where a built-in exception fits, the class inherits it too, so ``except FileNotFoundError``,
``except PermissionError``, ``except TimeoutError`` and ``except ValueError`` work as expected.
"""

import builtins


class Error(Exception):
    """Any shmkit failure."""

    kind: str = "os"
    name: "str | None" = None
    reason: str = ""
    hint: "str | None" = None
    errno: "int | None" = None


class NotFoundError(Error, FileNotFoundError):
    """No segment with this name exists."""


class AlreadyExistsError(Error, FileExistsError):
    """A segment with this name exists already."""


class PermissionDeniedError(Error, PermissionError):
    """The segment's permissions, its owner, or the handle's access forbid this."""


class InvalidNameError(Error, ValueError):
    """The name breaks the portable rule: 1-30 characters of A-Z a-z 0-9 . _ -, not starting with '.'."""


class InvalidSizeError(Error, ValueError):
    """A size or offset is zero, too large, negative or out of bounds."""


class InvalidInputError(Error, ValueError):
    """Another argument is malformed (a format description), or a call out of order."""


class IncompatibleError(Error):
    """The segment is not of the kind, format or version expected (a cell opened as a stream)."""


class CorruptError(Error):
    """The segment's contents do not hold up: another process wrote garbage into it."""


class OutOfResourcesError(Error):
    """The system ran out of shared memory (a full /dev/shm), descriptors or address space."""


class TimeoutError(Error, builtins.TimeoutError):
    """A bounded wait ran out of time."""


class WouldDeadlockError(Error, RuntimeError):
    """This thread already holds the lock it asked for."""


class OverwrittenError(Error):
    """The publisher overwrote a frame while it was read in place (a lapped view)."""


class UnsupportedError(Error, NotImplementedError):
    """This platform has no way to do what was asked."""


class ClosedError(Error, ValueError):
    """The handle (or frame) was closed or released."""


__all__ = [
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
