"""Cells holding one fixed-size value: a ``struct`` format or a numpy dtype."""

import struct

from ._errors import InvalidSizeError
from ._shmkit import Cell


class TypedCell:
    """A ``Cell`` whose values are one fixed-size value each, described by a ``struct`` format
    (``"<dI"``: a double and an unsigned int, little-endian) or a numpy dtype
    (``numpy.dtype([("x", "<f8"), ("n", "<u4")])``)::

        pose = TypedCell.create("pose", "<ddf")
        pose.publish(1.0, 2.0, 0.5)
        seq, (x, y, heading) = TypedCell.open("pose", "<ddf").get()

    With a numpy dtype, ``publish`` takes a value numpy can convert and ``get`` returns a numpy
    scalar (a structured one for record dtypes). The values are plain bytes in a byte cell: any
    program that knows the layout reads them (``shmkit read NAME --hex``).
    """

    def __init__(self, cell, fmt):
        self.cell = cell
        if isinstance(fmt, (str, bytes)):
            self._struct = struct.Struct(fmt)
            self._dtype = None
            self.size = self._struct.size
        else:
            import numpy

            self._struct = None
            self._dtype = numpy.dtype(fmt)
            self.size = self._dtype.itemsize
        if self.size > cell.capacity:
            raise InvalidSizeError(
                f'cannot use "{cell.name}": values of {self.size} bytes do not fit its capacity '
                f"of {cell.capacity}"
            )

    @classmethod
    def create(cls, name, fmt, **options):
        """Creates the cell, sized for one value (options as for ``Cell.create``)."""
        size = struct.calcsize(fmt) if isinstance(fmt, (str, bytes)) else _itemsize(fmt)
        return cls(Cell.create(name, size, **options), fmt)

    @classmethod
    def open(cls, name, fmt, **options):
        """Opens an existing cell (options as for ``Cell.open``)."""
        return cls(Cell.open(name, **options), fmt)

    @classmethod
    def open_or_create(cls, name, fmt, **options):
        """Opens the cell or creates it (options as for ``Cell.open_or_create``)."""
        size = struct.calcsize(fmt) if isinstance(fmt, (str, bytes)) else _itemsize(fmt)
        return cls(Cell.open_or_create(name, size, **options), fmt)

    def encode(self, *values):
        """The bytes of one value."""
        if self._struct is not None:
            return self._struct.pack(*values)
        import numpy

        if len(values) != 1:
            raise TypeError(f"publish takes one value of dtype {self._dtype}, not {len(values)}")
        return numpy.asarray(values[0], dtype=self._dtype).tobytes()

    def decode(self, data):
        """One value from its bytes."""
        if len(data) != self.size:
            raise InvalidSizeError(
                f'cannot read "{self.cell.name}": a value of {len(data)} bytes, not {self.size}'
            )
        if self._struct is not None:
            return self._struct.unpack(data)
        import numpy

        return numpy.frombuffer(data, dtype=self._dtype)[0].copy()

    def publish(self, *values):
        """Publishes one value; returns its sequence number."""
        return self.cell.publish(self.encode(*values))

    def get(self):
        """``(seq, value)`` of the newest value; ``(0, None)`` before the first publish."""
        seq, data = self.cell.snapshot()
        if seq == 0 and not data:
            return 0, None
        return seq, self.decode(data)

    def wait_newer(self, seq, timeout=None):
        """As ``Cell.wait_newer``."""
        return self.cell.wait_newer(seq, timeout)

    async def wait_newer_async(self, seq, timeout=None):
        """As ``Cell.wait_newer_async``."""
        return await self.cell.wait_newer_async(seq, timeout)

    @property
    def seq(self):
        return self.cell.seq

    @property
    def name(self):
        return self.cell.name

    def close(self):
        self.cell.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        what = self._struct.format if self._struct is not None else self._dtype
        return f"<shmkit.TypedCell {self.cell.name!r} {what}>"


def _itemsize(fmt):
    import numpy

    return numpy.dtype(fmt).itemsize
