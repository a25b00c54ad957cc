//! `shmkit.Cell`: the latest value, whole, without polling.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::{Access, CellOptions, ErrorKind};

use crate::buffer::InBuf;
use crate::error::{IntoPy, closed, own};
use crate::notifier::Notifier;
use crate::util::{self, lock, read, write};
use crate::wait::{self, Ended, Timeout, again_on_timeout, sliced};

/// A latest-value cell: one writer at a time publishes values of up to ``capacity`` bytes;
/// readers take whole snapshots without ever blocking it, and sleep until a newer value exists.
///
/// Make one with ``Cell.create``, ``Cell.open`` or ``Cell.open_or_create``; use it as a context
/// manager (or call ``close()``) to let go of it.
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Cell {
    inner: RwLock<Option<Arc<shmkit::Cell>>>,
    closed: AtomicBool,
    name: String,
    capacity: usize,
    slots: u32,
    readonly: bool,
    format: Option<String>,
    /// Where `snapshot` copies a value before it knows its length.
    scratch: Mutex<Vec<u8>>,
    /// The notifier of `wait_newer_async`, made at its first use.
    aio: Mutex<Option<Py<Notifier>>>,
}

#[allow(clippy::too_many_arguments)]
fn options(
    py: Python<'_>,
    name: &str,
    capacity: Option<i64>,
    slots: Option<u32>,
    mode: u32,
    persistent: bool,
    format: Option<&str>,
    spin: f64,
    exclusive: bool,
) -> PyResult<CellOptions> {
    let mut o = CellOptions::new()
        .mode(util::mode(mode)?)
        .lifetime(util::lifetime(persistent))
        .spin(wait::duration(spin)?)
        .exclusive(exclusive);
    if let Some(c) = capacity {
        o = o.capacity(util::size(py, "create", name, "a capacity", c)?);
    }
    if let Some(s) = slots {
        o = o.slots(s);
    }
    if let Some(f) = format {
        o = o.format(util::format(py, f)?);
    }
    Ok(o)
}

impl Cell {
    fn wrap(cell: shmkit::Cell) -> Cell {
        Cell {
            name: cell.name().to_string(),
            capacity: cell.capacity(),
            slots: cell.slots(),
            readonly: cell.segment().access() == Access::ReadOnly,
            format: cell.format().map(ToString::to_string),
            inner: RwLock::new(Some(Arc::new(cell))),
            closed: AtomicBool::new(false),
            scratch: Mutex::new(Vec::new()),
            aio: Mutex::new(None),
        }
    }

    fn get(&self, py: Python<'_>) -> PyResult<Arc<shmkit::Cell>> {
        read(&self.inner)
            .clone()
            .ok_or_else(|| closed(py, "cell", &self.name))
    }
}

#[pymethods]
impl Cell {
    /// Creates a cell for values of up to ``capacity`` bytes.
    ///
    /// ``slots``: value buffers (2 to 16, default 3); ``mode``: permission bits (default
    /// 0o600); ``persistent``: stays until removed, instead of going with the last handle;
    /// ``format``: what the values are, for tools (``"application/json"``,
    /// ``"rgb8:640x480"``); ``spin``: seconds ``wait_newer`` spins before it sleeps;
    /// ``exclusive``: this handle is the cell's only writer for as long as it is open — it
    /// holds the cell's lock from the start, so its publishes skip the lock (faster); another
    /// exclusive writer then gets ``TimeoutError`` after a second.
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, slots=None, mode=0o600, persistent=false, format=None, spin=0.0, exclusive=false))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        capacity: i64,
        slots: Option<u32>,
        mode: u32,
        persistent: bool,
        format: Option<&str>,
        spin: f64,
        exclusive: bool,
    ) -> PyResult<Cell> {
        let o = options(
            py,
            name,
            Some(capacity),
            slots,
            mode,
            persistent,
            format,
            spin,
            exclusive,
        )?;
        let cell = py.detach(|| o.create(name)).py(py)?;
        Ok(Cell::wrap(cell))
    }

    /// Opens an existing cell; ``readonly``: read and wait only (the operating system enforces
    /// it); ``exclusive``: as for ``create``.
    #[staticmethod]
    #[pyo3(signature = (name, *, readonly=false, spin=0.0, exclusive=false))]
    fn open(
        py: Python<'_>,
        name: &str,
        readonly: bool,
        spin: f64,
        exclusive: bool,
    ) -> PyResult<Cell> {
        let access = if readonly {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let o = CellOptions::new()
            .access(access)
            .spin(wait::duration(spin)?)
            .exclusive(exclusive);
        let cell = py.detach(|| o.open(name)).py(py)?;
        Ok(Cell::wrap(cell))
    }

    /// Opens the cell, or creates it if it does not exist (safe against racing processes). The
    /// cell found must hold values of at least ``capacity`` bytes (and have the ``slots`` and
    /// ``format`` given, if given).
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, slots=None, mode=0o600, persistent=false, format=None, spin=0.0, exclusive=false))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        capacity: i64,
        slots: Option<u32>,
        mode: u32,
        persistent: bool,
        format: Option<&str>,
        spin: f64,
        exclusive: bool,
    ) -> PyResult<Cell> {
        let o = options(
            py,
            name,
            Some(capacity),
            slots,
            mode,
            persistent,
            format,
            spin,
            exclusive,
        )?;
        let cell = py.detach(|| o.open_or_create(name)).py(py)?;
        Ok(Cell::wrap(cell))
    }

    /// Publishes ``data`` (any bytes-like object) as the new value; returns its sequence
    /// number. Never waits for readers.
    fn publish(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        let src = InBuf::get(data, false)?;
        let cell = self.get(py)?;
        let len = src.len();
        py.detach(|| cell.publish_with(len, |dst| src.shared().copy_to_slice(0, dst)))
            .py(py)
    }

    /// The newest value and its sequence number: ``(seq, bytes)``. ``seq`` is 0 before the
    /// first publish.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyBytes>)> {
        let cell = self.get(py)?;
        let mut buf = std::mem::take(&mut *lock(&self.scratch));
        let r = py.detach(|| cell.read_into(&mut buf));
        let out = r.py(py).and_then(|seq| Ok((seq, util::bytes(py, &buf)?)));
        *lock(&self.scratch) = buf;
        out
    }

    /// Copies the newest value into ``buffer`` (a writable bytes-like object: bytearray,
    /// memoryview, numpy array), one copy straight from shared memory; returns ``(seq,
    /// nbytes)``. A value longer than the buffer is an ``InvalidSizeError``, and the buffer
    /// then holds nothing useful (a copy that a writer overlapped may have reached it).
    fn read_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<(u64, usize)> {
        let dst = InBuf::get(buffer, true)?;
        let cell = self.get(py)?;
        // SAFETY: the caller handed us the buffer to write (see `InBuf::as_mut_slice`).
        py.detach(|| cell.read_to(unsafe { dst.as_mut_slice() }))
            .py(py)
    }

    /// Sleeps until a value newer than ``seq`` exists, at most ``timeout`` seconds (``None``:
    /// no limit); returns the newest sequence number. The GIL is released meanwhile; Ctrl-C
    /// interrupts it. Raises ``shmkit.TimeoutError``.
    #[pyo3(signature = (seq, timeout=None))]
    fn wait_newer(&self, py: Python<'_>, seq: u64, timeout: Option<f64>) -> PyResult<u64> {
        let t = Timeout::new(timeout)?;
        let cell = self.get(py)?;
        match sliced(py, t, &self.closed, |slice| {
            again_on_timeout(cell.wait_newer(seq, Some(slice)))
        })? {
            Ok(s) => Ok(s),
            Err(Ended::Closed) => Err(closed(py, "cell", &self.name)),
            Err(Ended::TimedOut) => Err(own(
                py,
                ErrorKind::Timeout,
                "wait on",
                &self.name,
                format!("no value newer than #{seq} within {}", t.text()),
            )),
        }
    }

    /// ``await cell.wait_newer_async(seq)``: ``wait_newer`` for asyncio, without a thread per
    /// waiter (the cell's notifier descriptor in the event loop).
    #[pyo3(signature = (seq, timeout=None))]
    fn wait_newer_async<'py>(
        slf: &Bound<'py, Self>,
        seq: u64,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::aio(slf.py())?.call_method1("cell_wait_newer", (slf, seq, timeout))
    }

    /// A new notifier for this cell: a descriptor that becomes readable on each publish.
    fn notifier(&self, py: Python<'_>) -> PyResult<Notifier> {
        let cell = self.get(py)?;
        Notifier::new(py, cell.segment())
    }

    /// The notifier `wait_newer_async` uses (one per cell, made at first use).
    fn _async_notifier(&self, py: Python<'_>) -> PyResult<Py<Notifier>> {
        let mut aio = lock(&self.aio);
        if let Some(n) = aio.as_ref() {
            return Ok(n.clone_ref(py));
        }
        let n = Py::new(py, self.notifier(py)?)?;
        *aio = Some(n.clone_ref(py));
        Ok(n)
    }

    /// The sequence number of the newest value (0 before the first publish).
    #[getter]
    fn seq(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.get(py)?.seq())
    }

    /// When the newest value was published (seconds since the epoch, as ``time.time()``), or
    /// ``None``.
    #[getter]
    fn last_publish(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        Ok(util::epoch(self.get(py)?.last_publish()))
    }

    /// The cell's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The largest value, in bytes.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// Value buffers.
    #[getter]
    fn slots(&self) -> u32 {
        self.slots
    }

    /// Whether this handle can only read.
    #[getter]
    fn readonly(&self) -> bool {
        self.readonly
    }

    /// What the values are, as the creator said (``"application/json"``), or ``None``.
    #[getter]
    fn format(&self) -> Option<&str> {
        self.format.as_deref()
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Lets go of the cell (it disappears with its last handle, unless persistent). Waits in
    /// other threads end with ``ClosedError``. Idempotent.
    fn close(&self, py: Python<'_>) {
        // SYNC: Release pairs with the Acquire load in `wait::sliced`.
        self.closed.store(true, Ordering::Release);
        let n = lock(&self.aio).take();
        if let Some(n) = n {
            // Coroutines awaiting this handle wake up (and find it closed).
            if let Ok(aio) = crate::aio(py) {
                let _ = aio.call_method1("closed", (&n,));
            }
            n.get().close(py);
        }
        let cell = write(&self.inner).take();
        py.detach(move || drop(cell));
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmkit.Cell {:?} capacity={}{}{}>",
            self.name,
            self.capacity,
            if self.readonly { " readonly" } else { "" },
            if self.closed() { " closed" } else { "" }
        )
    }
}
