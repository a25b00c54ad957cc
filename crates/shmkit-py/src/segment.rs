//! `shmkit.Segment` with its lock, and `ls`, `info`, `gc`, `remove`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use pyo3::exceptions::{PyBufferError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use shmkit::{
    Access, Details, ErrorKind, GcOptions, Holders, Lifetime, LockState, SegmentInfo,
    SegmentOptions,
};

use crate::buffer::{self, InBuf};
use crate::error::{IntoPy, closed, own};
use crate::notifier::Notifier;
use crate::util::{self, lock, read, write};
use crate::wait::{Ended, Timeout, again_on_timeout, sliced};

/// A named shared-memory segment: bytes any process can open by name, a robust lock (``with
/// seg.lock() as g: ...``, ``g.owner_died``), and change notification. Its data is also a
/// buffer (``memoryview(seg)``, ``numpy.asarray(seg)``) that stays valid whatever is closed.
///
/// ``raw=True`` opens (or creates) a segment without shmkit's header: another program's, such
/// as a ``multiprocessing.shared_memory.SharedMemory`` (no lock or notification then).
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Segment {
    inner: RwLock<Option<Arc<shmkit::Segment>>>,
    closed: AtomicBool,
    name: String,
    len: usize,
    readonly: bool,
    kind: &'static str,
}

fn lifetime_str(l: Lifetime) -> &'static str {
    match l {
        Lifetime::Persistent => "persistent",
        Lifetime::LastClose => "last-close",
    }
}

impl Segment {
    fn wrap(seg: shmkit::Segment) -> Segment {
        Segment {
            name: seg.name().to_string(),
            len: seg.len(),
            readonly: seg.access() == Access::ReadOnly,
            kind: seg.kind().map_or("raw", |k| k.as_str()),
            inner: RwLock::new(Some(Arc::new(seg))),
            closed: AtomicBool::new(false),
        }
    }

    fn get(&self, py: Python<'_>) -> PyResult<Arc<shmkit::Segment>> {
        read(&self.inner)
            .clone()
            .ok_or_else(|| closed(py, "segment", &self.name))
    }
}

#[allow(clippy::too_many_arguments)]
fn seg_options(
    py: Python<'_>,
    name: &str,
    size: i64,
    mode: u32,
    persistent: bool,
    raw: bool,
    format: Option<&str>,
) -> PyResult<SegmentOptions> {
    let mut o = SegmentOptions::new()
        .size(util::size(py, "create", name, "a size", size)?)
        .mode(util::mode(mode)?)
        .lifetime(util::lifetime(persistent))
        .raw(raw);
    if let Some(f) = format {
        o = o.format(util::format(py, f)?);
    }
    Ok(o)
}

/// A thread's value carried through `Python::detach`, which runs its closure on the calling
/// thread: what is not `Send` (a lock guard) never leaves that thread.
struct SameThread<T>(T);

// SAFETY: only used to return a value out of `Python::detach`, whose closure runs on the thread
// that called it (it releases the GIL around the call, nothing more): the value stays on the
// thread that made it.
unsafe impl<T> Send for SameThread<T> {}

#[pymethods]
impl Segment {
    /// Creates a segment of ``size`` data bytes. ``mode``: permission bits (default 0o600);
    /// ``persistent``: stays until removed (else it goes with its last handle); ``raw``: no
    /// shmkit header; ``format``: what the bytes are, for tools.
    #[staticmethod]
    #[pyo3(signature = (name, size, *, mode=0o600, persistent=false, raw=false, format=None))]
    fn create(
        py: Python<'_>,
        name: &str,
        size: i64,
        mode: u32,
        persistent: bool,
        raw: bool,
        format: Option<&str>,
    ) -> PyResult<Segment> {
        let o = seg_options(py, name, size, mode, persistent, raw, format)?;
        Ok(Segment::wrap(py.detach(|| o.create(name)).py(py)?))
    }

    /// Opens an existing segment (``readonly``: the operating system refuses writes; ``raw``:
    /// without a shmkit header, as another program made it).
    #[staticmethod]
    #[pyo3(signature = (name, *, readonly=false, raw=false))]
    fn open(py: Python<'_>, name: &str, readonly: bool, raw: bool) -> PyResult<Segment> {
        let access = if readonly {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let o = SegmentOptions::new().access(access).raw(raw);
        Ok(Segment::wrap(py.detach(|| o.open(name)).py(py)?))
    }

    /// Opens the segment, or creates it with these options if it does not exist.
    #[staticmethod]
    #[pyo3(signature = (name, size, *, mode=0o600, persistent=false, raw=false, format=None))]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        size: i64,
        mode: u32,
        persistent: bool,
        raw: bool,
        format: Option<&str>,
    ) -> PyResult<Segment> {
        let o = seg_options(py, name, size, mode, persistent, raw, format)?;
        Ok(Segment::wrap(py.detach(|| o.open_or_create(name)).py(py)?))
    }

    /// Copies ``size`` bytes from ``offset`` (default: to the end).
    #[pyo3(signature = (offset=0, size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let seg = self.get(py)?;
        let offset = util::size(py, "read", &self.name, "an offset", offset)?;
        let len = match size {
            Some(s) => util::size(py, "read", &self.name, "a length", s)?,
            None => self.len.saturating_sub(offset),
        };
        let mut buf = vec![0u8; len];
        py.detach(|| seg.read(offset, &mut buf)).py(py)?;
        util::bytes(py, &buf)
    }

    /// Copies ``data`` (any bytes-like object) in at ``offset``. No lock is taken: take it
    /// (``with seg.lock():``) if readers take it too.
    #[pyo3(signature = (offset, data))]
    fn write(&self, py: Python<'_>, offset: i64, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let seg = self.get(py)?;
        let offset = util::size(py, "write to", &self.name, "an offset", offset)?;
        let src = InBuf::get(data, false)?;
        py.detach(|| seg.write(offset, &src.shared().to_vec()))
            .py(py)
    }

    /// Takes the segment's lock, waiting at most ``timeout`` seconds (``None``: as long as a
    /// live process holds it; one that dies hands it over within about 100 ms, and the guard's
    /// ``owner_died`` says so). Use it as a context manager. Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout=None))]
    fn lock(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<LockGuard> {
        let t = Timeout::new(timeout)?;
        let seg = self.get(py)?;
        let seg_ref: &shmkit::Segment = &seg;
        let got = sliced(py, t, &self.closed, |slice| {
            again_on_timeout(seg_ref.lock_timeout(slice).map(SameThread))
        })?;
        match got {
            Ok(SameThread(g)) => Ok(LockGuard::new(g, &seg, &self.name)),
            Err(Ended::Closed) => Err(closed(py, "segment", &self.name)),
            Err(Ended::TimedOut) => {
                let who = match seg.lock_owner() {
                    Some(pid) => format!("process {pid}"),
                    None => "another process".to_string(),
                };
                Err(own(
                    py,
                    ErrorKind::Timeout,
                    "lock",
                    &self.name,
                    format!("{who} held the lock for all of {}", t.text()),
                ))
            }
        }
    }

    /// Takes the lock if it is free (or its holder died); ``None`` if a live process holds it.
    fn try_lock(&self, py: Python<'_>) -> PyResult<Option<LockGuard>> {
        let seg = self.get(py)?;
        let g = seg.try_lock().py(py)?;
        Ok(g.map(|g| LockGuard::new(g, &seg, &self.name)))
    }

    /// Wakes every process waiting for a change (``wait_change``, notifiers).
    fn notify_change(&self, py: Python<'_>) -> PyResult<()> {
        self.get(py)?.notify_change().py(py)
    }

    /// The change counter ``wait_change`` compares with.
    #[getter]
    fn change_count(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.get(py)?.change_count())
    }

    /// Sleeps until the change counter differs from ``seen`` (at most ``timeout`` seconds);
    /// returns the new count. Raises ``shmkit.TimeoutError``.
    #[pyo3(signature = (seen, timeout=None))]
    fn wait_change(&self, py: Python<'_>, seen: u32, timeout: Option<f64>) -> PyResult<u32> {
        let t = Timeout::new(timeout)?;
        let seg = self.get(py)?;
        match sliced(py, t, &self.closed, |slice| {
            again_on_timeout(seg.wait_change(seen, Some(slice)))
        })? {
            Ok(n) => Ok(n),
            Err(Ended::Closed) => Err(closed(py, "segment", &self.name)),
            Err(Ended::TimedOut) => Err(own(
                py,
                ErrorKind::Timeout,
                "wait on",
                &self.name,
                format!("no change within {}", t.text()),
            )),
        }
    }

    /// A new notifier: a descriptor that becomes readable on each ``notify_change``.
    fn notifier(&self, py: Python<'_>) -> PyResult<Notifier> {
        let seg = self.get(py)?;
        Notifier::new(py, &seg)
    }

    /// The segment's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Data bytes.
    #[getter]
    fn size(&self) -> usize {
        self.len
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Whether this handle can only read.
    #[getter]
    fn readonly(&self) -> bool {
        self.readonly
    }

    /// ``"bytes"``, ``"cell"``, ``"stream"``, or ``"raw"`` (no shmkit header).
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// ``"last-close"`` or ``"persistent"``.
    #[getter]
    fn lifetime(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(lifetime_str(self.get(py)?.lifetime()))
    }

    /// What the data is, as its creator said, or ``None``.
    #[getter]
    fn format(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.get(py)?.format().map(ToString::to_string))
    }

    /// The process holding the lock, if a live one does.
    #[getter]
    fn lock_owner(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        Ok(self.get(py)?.lock_owner())
    }

    /// Whether the name was removed or now names another segment.
    #[getter]
    fn is_removed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.get(py)?.is_removed())
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Removes the name ``name`` now (handles open elsewhere keep working).
    #[staticmethod]
    fn remove(py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| shmkit::Segment::remove(name)).py(py)
    }

    /// Lets go of the segment. Buffers exported from it (memoryviews, numpy arrays) stay valid
    /// until they go; a lock guard keeps the segment until it is unlocked. Idempotent.
    fn close(&self, py: Python<'_>) {
        // SYNC: Release pairs with the Acquire load in `wait::sliced`.
        self.closed.store(true, Ordering::Release);
        let seg = write(&self.inner).take();
        py.detach(move || drop(seg));
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

    /// # Safety
    /// Called by CPython with the `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        let Some(seg) = read(&me.inner).clone() else {
            return Err(PyBufferError::new_err("this segment is closed"));
        };
        let (ptr, readonly) = match seg.as_mut_ptr() {
            Some(p) => (p, false),
            None => (seg.as_ptr().cast_mut(), true),
        };
        let len = seg.len();
        // SAFETY: `view` is CPython's; the data region (`len` bytes at `ptr`, writable unless
        // the handle is read-only) stays mapped while the segment lives, which the export keeps.
        unsafe {
            buffer::export(
                view,
                flags,
                slf.into_any(),
                ptr,
                len,
                readonly,
                None,
                Box::new(seg),
            )
        }
    }

    /// # Safety
    /// Called by CPython with a `Py_buffer` that `__getbuffer__` filled.
    unsafe fn __releasebuffer__(&self, view: *mut ffi::Py_buffer) {
        // SAFETY: filled by `__getbuffer__` through `buffer::export`.
        unsafe { buffer::release(view) }
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmkit.Segment {:?} {} bytes {}{}{}>",
            self.name,
            self.len,
            self.kind,
            if self.readonly { " readonly" } else { "" },
            if self.closed() { " closed" } else { "" }
        )
    }
}

/// A lock guard that may be carried to another thread inside the Python object.
struct Held(
    #[expect(dead_code, reason = "held for its drop, the unlock")] shmkit::LockGuard<'static>,
);

// SAFETY: `shmkit::LockGuard` is `!Send` only because dropping it clears a thread-local record of
// the locks its thread holds (which turns a second lock on that thread into `WouldDeadlock`
// rather than a wait for itself); it shares no memory with its thread. `LockGuard` below unlocks
// on the locking thread (checked) — except when Python drops the last reference on another
// thread, where unlocking there leaves the locking thread's record stale (it would be told
// `WouldDeadlock` for this segment) rather than hold a lock nobody can release.
unsafe impl Send for Held {}

/// A held segment lock: unlocked by ``unlock()`` or at the end of its ``with`` block. It belongs
/// to the thread that locked: using it from another raises ``RuntimeError``.
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct LockGuard {
    // Declared first: dropped before the segment it borrows.
    guard: Mutex<Option<Held>>,
    /// Keeps the segment the guard borrows (at a fixed heap address) alive; never read.
    _seg: Arc<shmkit::Segment>,
    thread: std::thread::ThreadId,
    owner_died: bool,
    name: String,
}

impl LockGuard {
    fn new(g: shmkit::LockGuard<'_>, seg: &Arc<shmkit::Segment>, name: &str) -> LockGuard {
        let owner_died = g.owner_died();
        // SAFETY: the guard borrows the segment inside `seg`'s allocation, which never moves and
        // lives as long as the `Arc` stored beside the guard; the guard is dropped first (field
        // order; `unlock` drops it earlier). So the borrow outlives every use of the guard.
        let g =
            unsafe { std::mem::transmute::<shmkit::LockGuard<'_>, shmkit::LockGuard<'static>>(g) };
        LockGuard {
            guard: Mutex::new(Some(Held(g))),
            _seg: seg.clone(),
            thread: std::thread::current().id(),
            owner_died,
            name: name.to_string(),
        }
    }

    fn on_its_thread(&self) -> PyResult<()> {
        if std::thread::current().id() == self.thread {
            return Ok(());
        }
        Err(PyRuntimeError::new_err(format!(
            "the lock of {:?} belongs to the thread that took it; unlock it there",
            self.name
        )))
    }
}

#[pymethods]
impl LockGuard {
    /// Whether the previous owner died holding the lock: the data it protected may be
    /// half-updated; repair it before relying on it.
    #[getter]
    fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Whether the lock is still held through this guard.
    #[getter]
    fn locked(&self) -> bool {
        lock(&self.guard).is_some()
    }

    /// Unlocks now. Idempotent.
    fn unlock(&self) -> PyResult<()> {
        self.on_its_thread()?;
        let g = lock(&self.guard).take();
        drop(g);
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.unlock()
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmkit.LockGuard {:?}{}{}>",
            self.name,
            if self.locked() {
                " locked"
            } else {
                " unlocked"
            },
            if self.owner_died { ", owner died" } else { "" }
        )
    }
}

// ---- listing and cleaning -------------------------------------------------------------------

fn info_dict<'py>(py: Python<'py>, i: &SegmentInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &i.name)?;
    d.set_item("kind", i.kind.as_str())?;
    d.set_item("size", i.size)?;
    d.set_item("mode", i.mode)?;
    d.set_item("uid", i.uid)?;
    d.set_item("state", i.state.as_str())?;
    let holders: Option<Vec<u32>> = match &i.holders {
        Holders::Held(p) => {
            let mut p = p.clone();
            p.sort_unstable();
            p.dedup();
            Some(p)
        }
        Holders::Nobody => Some(Vec::new()),
        _ => None,
    };
    d.set_item("holders", holders)?;
    d.set_item("lifetime", i.lifetime.map(lifetime_str))?;
    d.set_item("data_len", i.data_len)?;
    d.set_item("data_offset", i.data_offset)?;
    d.set_item("creator_pid", i.creator_pid)?;
    d.set_item("created", util::epoch(i.created))?;
    // As `shmkit ls --json`: a cell's or stream's last publish; a foreign object's file time
    // (contents written through a mapping leave no trace in a shmkit segment's file times).
    let modified = match &i.details {
        Some(Details::Cell(c)) => c.last_publish,
        Some(Details::Stream(s)) => s.last_publish,
        _ if i.kind.is_shmkit() => None,
        _ => i.modified,
    };
    d.set_item("modified", util::epoch(modified))?;
    d.set_item("lock_owner", i.lock_owner)?;
    let lock = i
        .lock
        .map(|l| -> PyResult<Bound<'py, PyDict>> {
            let (state, pid) = match l {
                LockState::Free => ("free", None),
                LockState::Held { pid } => ("held", Some(pid)),
                LockState::OwnerDied { pid } => ("owner-died", Some(pid)),
                LockState::Unknown { pid } => ("unknown", Some(pid)),
                _ => ("unknown", None),
            };
            let l = PyDict::new(py);
            l.set_item("state", state)?;
            l.set_item("pid", pid)?;
            Ok(l)
        })
        .transpose()?;
    d.set_item("lock", lock)?;
    d.set_item("format", i.format.as_ref().map(ToString::to_string))?;
    d.set_item("problem", &i.problem)?;
    let (cell, stream) = match &i.details {
        Some(Details::Cell(c)) => {
            let x = PyDict::new(py);
            x.set_item("capacity", c.capacity)?;
            x.set_item("slots", c.slots)?;
            x.set_item("value_size", c.value_size)?;
            x.set_item("seq", c.seq)?;
            x.set_item("last_publish", util::epoch(c.last_publish))?;
            (Some(x), None)
        }
        Some(Details::Stream(s)) => {
            let x = PyDict::new(py);
            x.set_item("max_frame", s.max_frame)?;
            x.set_item("ring", s.ring)?;
            x.set_item("policy", s.policy.as_str())?;
            x.set_item("slots", s.slots)?;
            x.set_item("next_seq", s.next_seq)?;
            x.set_item("frames", s.frames)?;
            x.set_item("bytes", s.bytes)?;
            x.set_item("last_publish", util::epoch(s.last_publish))?;
            x.set_item("tail", s.tail)?;
            x.set_item("oldest", s.oldest)?;
            let subs = PyList::empty(py);
            for sub in &s.subscribers {
                let y = PyDict::new(py);
                y.set_item("pid", sub.pid)?;
                y.set_item("alive", sub.alive)?;
                y.set_item("position", sub.position)?;
                y.set_item("lag", sub.lag)?;
                y.set_item("lost", sub.lost)?;
                y.set_item("received", sub.received)?;
                y.set_item("last_receive", util::epoch(sub.last_receive))?;
                subs.append(y)?;
            }
            x.set_item("subscribers", subs)?;
            (None, Some(x))
        }
        _ => (None, None),
    };
    d.set_item("cell", cell)?;
    d.set_item("stream", stream)?;
    Ok(d)
}

fn dicts<'py>(py: Python<'py>, infos: &[SegmentInfo]) -> PyResult<Vec<Bound<'py, PyDict>>> {
    infos.iter().map(|i| info_dict(py, i)).collect()
}

/// Every segment in the system's shared-memory namespace (on Linux, ``/dev/shm``), shmkit's and
/// others', as dictionaries with the fields of ``shmkit ls --json`` (times in seconds since the
/// epoch, ``mode`` as an integer).
#[pyfunction]
pub(crate) fn ls(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let infos = py.detach(shmkit::Segment::list).py(py)?;
    dicts(py, &infos)
}

/// Everything about one segment, as a dictionary (see ``ls``).
#[pyfunction]
pub(crate) fn info<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
    let i = py.detach(|| shmkit::Segment::info(name)).py(py)?;
    info_dict(py, &i)
}

/// Removes what crashes left behind (stale segments of the calling user); ``idle``: also
/// persistent segments nobody holds; ``all_users``: everyone's; ``dry_run``: only say. Returns
/// what was (or would be) removed, as dictionaries.
#[pyfunction]
#[pyo3(signature = (*, idle=false, all_users=false, dry_run=false))]
pub(crate) fn gc(
    py: Python<'_>,
    idle: bool,
    all_users: bool,
    dry_run: bool,
) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let o = GcOptions::new()
        .idle(idle)
        .all_users(all_users)
        .dry_run(dry_run);
    let infos = py.detach(|| shmkit::Segment::gc(&o)).py(py)?;
    dicts(py, &infos)
}

/// Removes the name ``name`` (see ``Segment.remove``).
#[pyfunction]
pub(crate) fn remove(py: Python<'_>, name: &str) -> PyResult<()> {
    Segment::remove(py, name)
}
