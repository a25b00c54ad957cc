//! `shmkit.Publisher`, `Loan`, `Subscriber`, `Frame`, `Received`: a broadcast stream of frames.
//!
//! Lifetimes. A `Frame` keeps the stream's mapping (`Subscriber::shared_segment`), so arrays over
//! it stay valid whatever is closed first; it asks its subscriber (weakly held: closing the
//! subscriber frees its slot at once) whether it is still intact. A `Loan`'s buffer exports keep
//! the publisher itself, so nothing writes into a ring whose publisher role was handed over.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use pyo3::exceptions::{PyBufferError, PyStopIteration, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use shmkit::stream::{DetachedFrame, DetachedLoan, JoinAt, Policy, StreamOptions};
use shmkit::{ErrorKind, Format, SharedBytes};

use crate::buffer::{self, InBuf, Layout};
use crate::error::{IntoPy, closed, own, to_py};
use crate::notifier::Notifier;
use crate::util::{self, lock, read, write};
use crate::wait::{self, Ended, Slice, Timeout, again_on_timeout, sliced};

fn policy(text: &str) -> PyResult<Policy> {
    match text {
        "overwrite" => Ok(Policy::Overwrite),
        "block" => Ok(Policy::Block),
        _ => Err(PyValueError::new_err(format!(
            "policy {text:?}; give \"overwrite\" (never wait, slow subscribers lose frames) or \
             \"block\" (wait for the slowest subscriber)"
        ))),
    }
}

/// A frame's sequence number, length, publish time and the losses just before it.
#[pyclass(module = "shmkit", frozen, eq, hash)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Received {
    /// The frame's sequence number (frames are numbered from 1).
    #[pyo3(get)]
    seq: u64,
    /// Its length in bytes.
    #[pyo3(get)]
    len: usize,
    /// Frames the publisher overwrote before this subscriber read them, just before this one.
    #[pyo3(get)]
    lost: u64,
    /// When it was published: nanoseconds since the Unix epoch (the publisher's clock).
    #[pyo3(get)]
    time_ns: u64,
}

impl From<shmkit::stream::Received> for Received {
    fn from(r: shmkit::stream::Received) -> Received {
        Received {
            seq: r.seq,
            len: r.len,
            lost: r.lost,
            time_ns: r.time_ns,
        }
    }
}

#[pymethods]
impl Received {
    #[new]
    #[pyo3(signature = (seq, len, lost=0, time_ns=0))]
    fn new(seq: u64, len: usize, lost: u64, time_ns: u64) -> Received {
        Received {
            seq,
            len,
            lost,
            time_ns,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Received(seq={}, len={}, lost={}, time_ns={})",
            self.seq, self.len, self.lost, self.time_ns
        )
    }
}

fn shape_tuple<'py>(
    py: Python<'py>,
    layout: Option<Layout>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    layout.map(|l| PyTuple::new(py, l.shape())).transpose()
}

// ---- the publisher --------------------------------------------------------------------------

/// The publisher and its outstanding loan. Shared with the buffer exports of its loans: a
/// publisher closed while an array over a loan lives keeps its role until the array goes.
struct PubShared {
    state: Mutex<PubState>,
    closed: AtomicBool,
}

struct PubState {
    publisher: shmkit::stream::Publisher,
    /// The loan handed out (detached) and its id.
    loan: Option<(u64, DetachedLoan)>,
    next_id: u64,
}

/// The publisher of a stream: the only process writing frames into it while it lives (a second
/// one is refused; one that died is replaced).
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Publisher {
    shared: RwLock<Option<Arc<PubShared>>>,
    name: String,
    max_frame: usize,
    ring_len: usize,
    policy: Policy,
    format: Option<Format>,
}

#[allow(clippy::too_many_arguments)]
fn stream_options(
    py: Python<'_>,
    name: &str,
    max_frame: Option<i64>,
    ring: Option<i64>,
    policy_: &str,
    subscribers: Option<u32>,
    mode: u32,
    persistent: bool,
    format: Option<&str>,
    spin: f64,
) -> PyResult<StreamOptions> {
    let mut o = StreamOptions::new()
        .policy(policy(policy_)?)
        .mode(util::mode(mode)?)
        .lifetime(util::lifetime(persistent))
        .spin(wait::duration(spin)?);
    if let Some(m) = max_frame {
        o = o.max_frame(util::size(py, "create", name, "a maximum frame", m)?);
    }
    if let Some(r) = ring {
        o = o.ring(util::size(py, "create", name, "a ring", r)?);
    }
    if let Some(s) = subscribers {
        o = o.subscribers(s);
    }
    if let Some(f) = format {
        o = o.format(util::format(py, f)?);
    }
    Ok(o)
}

impl Publisher {
    fn wrap(p: shmkit::stream::Publisher) -> Publisher {
        Publisher {
            name: p.name().to_string(),
            max_frame: p.max_frame(),
            ring_len: p.ring_len(),
            policy: p.policy(),
            format: p.format().cloned(),
            shared: RwLock::new(Some(Arc::new(PubShared {
                state: Mutex::new(PubState {
                    publisher: p,
                    loan: None,
                    next_id: 1,
                }),
                closed: AtomicBool::new(false),
            }))),
        }
    }

    fn get(&self, py: Python<'_>) -> PyResult<Arc<PubShared>> {
        read(&self.shared)
            .clone()
            .ok_or_else(|| closed(py, "publisher", &self.name))
    }

    fn full(&self, py: Python<'_>, t: &Timeout) -> PyErr {
        own(
            py,
            ErrorKind::Timeout,
            "publish to",
            &self.name,
            format!(
                "a subscriber held the ring full for {} (policy block)",
                t.text()
            ),
        )
    }

    /// Becomes the publisher, waiting in slices (so that Ctrl-C works) for a live one to go.
    fn take(
        py: Python<'_>,
        wait: f64,
        mut take: impl FnMut(std::time::Duration) -> shmkit::Result<shmkit::stream::Publisher> + Send,
    ) -> PyResult<Publisher> {
        let t = Timeout::new(Some(wait))?;
        let never = AtomicBool::new(false);
        match sliced(py, t, &never, |slice| again_on_timeout(take(slice)))? {
            Ok(p) => Ok(Publisher::wrap(p)),
            // One last try without waiting, for the core's words about who publishes.
            Err(_) => {
                let p = py.detach(|| take(std::time::Duration::ZERO)).py(py)?;
                Ok(Publisher::wrap(p))
            }
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if let Some(s) = write(&self.shared).take() {
            s.closed.store(true, Ordering::Release);
        }
    }
}

#[pymethods]
impl Publisher {
    /// Creates a stream and returns its publisher.
    ///
    /// ``max_frame``: the largest frame in bytes (default 64 KiB, or one picture of an image
    /// ``format``); ``ring``: its size in bytes (default 8 maximum frames); ``policy``:
    /// ``"overwrite"`` (never wait; slow subscribers lose frames and are told how many) or
    /// ``"block"`` (wait for the slowest live subscriber); ``subscribers``: slots (default 32);
    /// ``format``: what the frames are (``"bgr8:1920x1080"`` makes frames numpy-shaped images);
    /// ``mode``, ``persistent``, ``spin`` as for ``Cell.create``.
    #[staticmethod]
    #[pyo3(signature = (name, max_frame=None, *, ring=None, policy="overwrite", subscribers=None, mode=0o600, persistent=false, format=None, spin=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        max_frame: Option<i64>,
        ring: Option<i64>,
        policy: &str,
        subscribers: Option<u32>,
        mode: u32,
        persistent: bool,
        format: Option<&str>,
        spin: f64,
    ) -> PyResult<Publisher> {
        let o = stream_options(
            py,
            name,
            max_frame,
            ring,
            policy,
            subscribers,
            mode,
            persistent,
            format,
            spin,
        )?;
        let p = py.detach(|| o.create(name)).py(py)?;
        Ok(Publisher::wrap(p))
    }

    /// Becomes the publisher of an existing stream, waiting at most ``wait`` seconds for the
    /// current one to go (one that died is replaced at once).
    #[staticmethod]
    #[pyo3(signature = (name, *, wait=0.0, spin=0.0))]
    fn open(py: Python<'_>, name: &str, wait: f64, spin: f64) -> PyResult<Publisher> {
        let o = StreamOptions::new().spin(wait::duration(spin)?);
        Publisher::take(py, wait, |slice| o.open_publisher(name, slice))
    }

    /// Creates the stream, or becomes the publisher of the existing one, which must carry what
    /// the options ask for (each compared only if given). Options as for ``create``.
    #[staticmethod]
    #[pyo3(signature = (name, max_frame=None, *, ring=None, policy="overwrite", subscribers=None, mode=0o600, persistent=false, format=None, spin=0.0, wait=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        max_frame: Option<i64>,
        ring: Option<i64>,
        policy: &str,
        subscribers: Option<u32>,
        mode: u32,
        persistent: bool,
        format: Option<&str>,
        spin: f64,
        wait: f64,
    ) -> PyResult<Publisher> {
        let o = stream_options(
            py,
            name,
            max_frame,
            ring,
            policy,
            subscribers,
            mode,
            persistent,
            format,
            spin,
        )?;
        Publisher::take(py, wait, |slice| o.create_or_open_publisher(name, slice))
    }

    /// Copies ``data`` (any bytes-like object) in and publishes it; returns its sequence
    /// number. A ``"block"`` stream waits while a live subscriber holds the space it needs, at
    /// most ``timeout`` seconds (``None``: no limit), then raises ``shmkit.TimeoutError``.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<u64> {
        let src = InBuf::get(data, false)?;
        let t = Timeout::new(timeout)?;
        let shared = self.get(py)?;
        let len = src.len();
        let r = sliced(py, t, &shared.closed, |slice| {
            let mut st = lock(&shared.state);
            let mut loan = match st.publisher.loan_timeout(len, slice) {
                Ok(l) => l,
                Err(e) if e.kind() == ErrorKind::Timeout => return Ok(Slice::Again),
                Err(e) => return Err(e),
            };
            src.shared().copy_to_slice(0, &mut loan);
            Ok(Slice::Ready(loan.commit()))
        })?;
        match r {
            Ok(seq) => Ok(seq),
            Err(Ended::Closed) => Err(closed(py, "publisher", &self.name)),
            Err(Ended::TimedOut) => Err(self.full(py, &t)),
        }
    }

    /// Lends ``nbytes`` of the ring for the next frame, to fill in place (zero-copy): a
    /// writable buffer (``memoryview(loan)``, ``numpy.asarray(loan)``, shaped as an image if the
    /// stream has an image format and ``nbytes`` is one picture). Publish it with
    /// ``loan.commit()``, or use it as a context manager (committed at the end, abandoned on
    /// an exception). One loan at a time. Waits as ``send`` does.
    #[pyo3(signature = (nbytes, timeout=None))]
    fn loan(&self, py: Python<'_>, nbytes: i64, timeout: Option<f64>) -> PyResult<Loan> {
        let len = util::size(py, "publish to", &self.name, "a loan", nbytes)?;
        let t = Timeout::new(timeout)?;
        let shared = self.get(py)?;
        let r = sliced(py, t, &shared.closed, |slice| {
            let mut st = lock(&shared.state);
            let loan = match st.publisher.loan_timeout(len, slice) {
                Ok(l) => l.detach(),
                Err(e) if e.kind() == ErrorKind::Timeout => return Ok(Slice::Again),
                Err(e) => return Err(e),
            };
            let (id, ptr) = (st.next_id, loan.as_mut_ptr() as usize);
            st.next_id += 1;
            st.loan = Some((id, loan));
            Ok(Slice::Ready((id, ptr)))
        })?;
        match r {
            Ok((id, ptr)) => Ok(Loan {
                shared: Arc::downgrade(&shared),
                id,
                ptr,
                len,
                layout: Layout::of(self.format.as_ref(), len),
                status: AtomicU8::new(OPEN),
                seq: AtomicU64::new(0),
                name: self.name.clone(),
            }),
            Err(Ended::Closed) => Err(closed(py, "publisher", &self.name)),
            Err(Ended::TimedOut) => Err(self.full(py, &t)),
        }
    }

    /// The stream's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The largest frame, in bytes.
    #[getter]
    fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The ring's size in bytes.
    #[getter]
    fn ring_len(&self) -> usize {
        self.ring_len
    }

    /// ``"overwrite"`` or ``"block"``.
    #[getter]
    fn policy(&self) -> &'static str {
        self.policy.as_str()
    }

    /// What the frames are (``"rgba8:1920x1080"``), or ``None``.
    #[getter]
    fn format(&self) -> Option<String> {
        self.format.as_ref().map(ToString::to_string)
    }

    /// The sequence number the next frame will get.
    #[getter]
    fn next_seq(&self, py: Python<'_>) -> PyResult<u64> {
        let s = self.get(py)?;
        Ok(py.detach(|| lock(&s.state).publisher.next_seq()))
    }

    /// Live subscribers holding a slot (every subscriber of a ``"block"`` stream).
    #[getter]
    fn subscribers(&self, py: Python<'_>) -> PyResult<usize> {
        let s = self.get(py)?;
        Ok(py.detach(|| lock(&s.state).publisher.subscribers()))
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        read(&self.shared).is_none()
    }

    /// Stops publishing: an outstanding loan is abandoned, and the stream gets a new publisher
    /// when one opens it (it disappears with its last handle, unless persistent). A numpy array
    /// still over a loan keeps the role until it goes. Idempotent.
    fn close(&self, py: Python<'_>) {
        let Some(s) = write(&self.shared).take() else {
            return;
        };
        s.closed.store(true, Ordering::Release);
        py.detach(move || {
            let mut st = lock(&s.state);
            if let Some((_, loan)) = st.loan.take() {
                st.publisher.abandon_detached(loan);
            }
            drop(st);
            drop(s);
        });
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
            "<shmkit.Publisher {:?} max_frame={} policy={}{}>",
            self.name,
            self.max_frame,
            self.policy,
            if self.closed() { " closed" } else { "" }
        )
    }
}

const OPEN: u8 = 0;
const COMMITTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Ring space lent by ``Publisher.loan``: a writable buffer to fill in place, then
/// ``commit()``. As a context manager it commits at the end (abandons on an exception).
///
/// Write through it only until it is committed: the bytes then belong to the subscribers.
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Loan {
    shared: Weak<PubShared>,
    id: u64,
    /// The lent bytes (valid while the publisher lives: exports hold it).
    ptr: usize,
    len: usize,
    layout: Option<Layout>,
    status: AtomicU8,
    seq: AtomicU64,
    name: String,
}

impl Loan {
    fn finish(&self, py: Python<'_>, commit: Option<usize>) -> PyResult<Option<u64>> {
        let how = if commit.is_some() {
            COMMITTED
        } else {
            ABANDONED
        };
        if self
            .status
            .compare_exchange(OPEN, how, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return match commit {
                // Abandoning twice, or after a commit, does nothing.
                None => Ok(None),
                Some(_) => Err(own(
                    py,
                    ErrorKind::InvalidInput,
                    "publish to",
                    &self.name,
                    "this loan was committed or abandoned already".into(),
                )),
            };
        }
        let shared = match self.shared.upgrade() {
            Some(s) if !s.closed.load(Ordering::Acquire) => s,
            _ if commit.is_none() => return Ok(None),
            _ => return Err(closed(py, "publisher", &self.name)),
        };
        let id = self.id;
        let r = py.detach(move || {
            let mut st = lock(&shared.state);
            let loan = match st.loan.take() {
                Some((i, l)) if i == id => l,
                other => {
                    st.loan = other;
                    return Ok(None);
                }
            };
            match commit {
                Some(len) => st.publisher.commit_detached(loan, len).map(Some),
                None => {
                    st.publisher.abandon_detached(loan);
                    Ok(None)
                }
            }
        });
        let seq = r.py(py)?;
        if let Some(s) = seq {
            self.seq.store(s, Ordering::Release);
        }
        Ok(seq)
    }
}

impl Drop for Loan {
    /// A loan dropped open is abandoned (otherwise the publisher would refuse every later send).
    /// While a loan is outstanding, the publisher's state is only ever held briefly: sends and
    /// loans fail at once instead of waiting.
    fn drop(&mut self) {
        if self.status.load(Ordering::Acquire) != OPEN {
            return;
        }
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut st = lock(&shared.state);
        if let Some((i, loan)) = st.loan.take() {
            if i == self.id {
                st.publisher.abandon_detached(loan);
            } else {
                st.loan = Some((i, loan));
            }
        }
    }
}

#[pymethods]
impl Loan {
    /// Publishes the frame — its first ``nbytes`` (default: all of it); returns its sequence
    /// number.
    #[pyo3(signature = (nbytes=None))]
    fn commit(&self, py: Python<'_>, nbytes: Option<i64>) -> PyResult<u64> {
        let len = match nbytes {
            None => self.len,
            Some(n) => util::size(py, "publish to", &self.name, "a frame", n)?,
        };
        if len > self.len {
            return Err(own(
                py,
                ErrorKind::InvalidSize,
                "publish to",
                &self.name,
                format!("{len} bytes from a loan of {}", self.len),
            ));
        }
        self.finish(py, Some(len))
            .map(|s| s.expect("a commit has a sequence number"))
    }

    /// Gives the space back unpublished. Idempotent.
    fn abandon(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, None).map(drop)
    }

    /// Whether it was published.
    #[getter]
    fn committed(&self) -> bool {
        self.status.load(Ordering::Acquire) == COMMITTED
    }

    /// Its sequence number once committed, else ``None``.
    #[getter]
    fn seq(&self) -> Option<u64> {
        self.committed().then(|| self.seq.load(Ordering::Acquire))
    }

    /// The image shape its buffer has, ``(height, width, channels)`` (or ``(height, width)``),
    /// if the stream's format is an image of exactly this size; else ``None`` (plain bytes).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        shape_tuple(py, self.layout)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.status.load(Ordering::Acquire) == OPEN {
            if t.is_some() {
                self.abandon(py)?;
            } else {
                self.commit(py, None)?;
            }
        }
        Ok(false)
    }

    /// # Safety
    /// Called by CPython with the `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        if me.status.load(Ordering::Acquire) != OPEN {
            return Err(PyBufferError::new_err(
                "this loan was committed or abandoned: its bytes are no longer yours to write",
            ));
        }
        let Some(shared) = me
            .shared
            .upgrade()
            .filter(|s| !s.closed.load(Ordering::Acquire))
        else {
            return Err(PyBufferError::new_err(
                "the publisher of this loan is closed",
            ));
        };
        let (ptr, len, layout) = (me.ptr as *mut u8, me.len, me.layout);
        // SAFETY: `view` is CPython's; the loan's bytes stay mapped and writable while the
        // publisher lives, which the export keeps (`shared`); only this publisher writes them.
        unsafe {
            buffer::export(
                view,
                flags,
                slf.into_any(),
                ptr,
                len,
                false,
                layout,
                Box::new(shared),
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
        let state = match self.status.load(Ordering::Acquire) {
            OPEN => "open".to_string(),
            COMMITTED => format!("committed as #{}", self.seq.load(Ordering::Acquire)),
            _ => "abandoned".to_string(),
        };
        format!("<shmkit.Loan {:?} {} bytes {state}>", self.name, self.len)
    }
}

// ---- the subscriber -------------------------------------------------------------------------

/// The subscriber, shared (weakly) with its frames.
struct SubShared {
    state: Mutex<SubState>,
    /// The mapping frames keep (and nothing else, once the subscriber is closed).
    mapping: Arc<shmkit::Segment>,
    /// Frames dropped while the state was busy, released at the next call.
    pending: Mutex<Vec<DetachedFrame>>,
}

struct SubState {
    sub: shmkit::stream::Subscriber,
    /// Where `recv` copies frames (kept, so that large frames reuse one allocation).
    scratch: Vec<u8>,
    last: Option<Received>,
}

impl SubShared {
    /// Runs `f` on the state: at once if it is free, else without the GIL while another thread
    /// uses it. Releases the frames dropped meanwhile first.
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut SubState) -> R + Send) -> R {
        let run = |st: &mut SubState| {
            for frame in std::mem::take(&mut *lock(&self.pending)) {
                let _ = st.sub.release(frame);
            }
            f(st)
        };
        match self.state.try_lock() {
            Ok(mut st) => run(&mut st),
            Err(std::sync::TryLockError::Poisoned(p)) => run(&mut p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => py.detach(|| run(&mut lock(&self.state))),
        }
    }
}

/// A subscriber: reads every frame from where it joined, at its own pace.
///
/// Receive copies (``recv``, ``recv_into``) or zero-copy views (``recv_view``, iteration:
/// ``for frame in sub``), waiting without the GIL; or with asyncio (``await
/// sub.recv_async()``, ``async for frame in sub``).
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Subscriber {
    shared: RwLock<Option<Arc<SubShared>>>,
    closed: AtomicBool,
    name: String,
    policy: Policy,
    max_frame: usize,
    format: Option<Format>,
    aio: Mutex<Option<Py<Notifier>>>,
}

impl Subscriber {
    fn get(&self, py: Python<'_>) -> PyResult<Arc<SubShared>> {
        read(&self.shared)
            .clone()
            .ok_or_else(|| closed(py, "subscriber", &self.name))
    }

    fn timed_out(&self, py: Python<'_>, t: &Timeout) -> PyErr {
        own(
            py,
            ErrorKind::Timeout,
            "receive from",
            &self.name,
            format!("no frame within {}", t.text()),
        )
    }

    fn ended(&self, py: Python<'_>, e: Ended, t: &Timeout) -> PyErr {
        match e {
            Ended::Closed => closed(py, "subscriber", &self.name),
            Ended::TimedOut => self.timed_out(py, t),
        }
    }

    /// The next frame in place, within `t`.
    fn view(&self, py: Python<'_>, t: Timeout) -> PyResult<Result<Frame, Ended>> {
        let shared = self.get(py)?;
        let got = sliced(py, t, &self.closed, |slice| {
            let mut st = lock(&shared.state);
            for frame in std::mem::take(&mut *lock(&shared.pending)) {
                let _ = st.sub.release(frame);
            }
            let frame = match st.sub.recv_view(slice) {
                Ok(v) => v.detach(),
                Err(e) if e.kind() == ErrorKind::Timeout => return Ok(Slice::Again),
                Err(e) => return Err(e),
            };
            st.last = Some(frame.received().into());
            Ok(Slice::Ready(frame))
        })?;
        Ok(got.map(|frame| Frame {
            shared: Arc::downgrade(&shared),
            mapping: shared.mapping.clone(),
            ptr: frame.as_ptr() as usize,
            received: frame.received().into(),
            layout: Layout::of(self.format.as_ref(), frame.len()),
            frame: Mutex::new(Some(frame)),
            name: self.name.clone(),
        }))
    }
}

#[pymethods]
impl Subscriber {
    /// Subscribes to the stream ``name``: from the next frame published, or with
    /// ``oldest=True`` from the oldest one still in the ring. ``spin``: seconds a wait spins
    /// before it sleeps (lower latency for a busy CPU).
    #[staticmethod]
    #[pyo3(signature = (name, *, oldest=false, spin=0.0))]
    fn open(py: Python<'_>, name: &str, oldest: bool, spin: f64) -> PyResult<Subscriber> {
        let from = if oldest {
            JoinAt::Oldest
        } else {
            JoinAt::Newest
        };
        let o = StreamOptions::new().from(from).spin(wait::duration(spin)?);
        let sub = py.detach(|| o.subscribe(name)).py(py)?;
        Ok(Subscriber {
            name: sub.name().to_string(),
            policy: sub.policy(),
            max_frame: sub.max_frame(),
            format: sub.format().cloned(),
            closed: AtomicBool::new(false),
            aio: Mutex::new(None),
            shared: RwLock::new(Some(Arc::new(SubShared {
                mapping: sub.shared_segment(),
                state: Mutex::new(SubState {
                    sub,
                    scratch: Vec::new(),
                    last: None,
                }),
                pending: Mutex::new(Vec::new()),
            }))),
        })
    }

    /// Waits for the next frame (at most ``timeout`` seconds; ``None``: no limit) and returns a
    /// copy of it as ``bytes``. Raises ``shmkit.TimeoutError``; Ctrl-C interrupts it.
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let t = Timeout::new(timeout)?;
        let shared = self.get(py)?;
        let got = sliced(py, t, &self.closed, |slice| {
            let mut st = lock(&shared.state);
            let mut buf = std::mem::take(&mut st.scratch);
            let r = st.sub.recv_timeout(&mut buf, slice);
            if let Ok(r) = &r {
                st.last = Some((*r).into());
            }
            match again_on_timeout(r) {
                Ok(Slice::Ready(_)) => Ok(Slice::Ready(buf)),
                other => {
                    st.scratch = buf;
                    other.map(|_| Slice::Again)
                }
            }
        })?;
        let buf = got.map_err(|e| self.ended(py, e, &t))?;
        let out = util::bytes(py, &buf);
        shared.with(py, move |st| st.scratch = buf);
        out
    }

    /// Waits for the next frame and copies it into ``buffer`` (a writable bytes-like object);
    /// returns its length. A frame longer than the buffer raises ``InvalidSizeError`` (and is
    /// skipped). ``sub.last`` describes the frame.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let dst = InBuf::get(buffer, true)?;
        let t = Timeout::new(timeout)?;
        let shared = self.get(py)?;
        let cap = dst.len();
        let got = sliced(py, t, &self.closed, |slice| {
            let mut st = lock(&shared.state);
            let r = st.sub.recv_with(slice, |bytes| {
                if bytes.len() > cap {
                    return Err(bytes.len());
                }
                // SAFETY: the caller handed us the buffer to write (see `InBuf::as_mut_slice`).
                unsafe { dst.as_mut_slice()[..bytes.len()].copy_from_slice(bytes) };
                Ok(bytes.len())
            });
            if let Ok((_, r)) = &r {
                st.last = Some((*r).into());
            }
            again_on_timeout(r.map(|(n, r)| (n, r.seq)))
        })?;
        match got.map_err(|e| self.ended(py, e, &t))? {
            (Ok(n), _) => Ok(n),
            (Err(len), seq) => Err(own(
                py,
                ErrorKind::InvalidSize,
                "receive from",
                &self.name,
                format!("frame #{seq} has {len} bytes, more than the buffer's {cap}"),
            )),
        }
    }

    /// Waits for the next frame and returns it in place: a ``Frame`` whose buffer is the
    /// ring's memory (``numpy.asarray(frame)`` copies nothing). See ``Frame`` for how long it
    /// stays valid.
    #[pyo3(signature = (timeout=None))]
    fn recv_view(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Frame> {
        let t = Timeout::new(timeout)?;
        self.view(py, t)?.map_err(|e| self.ended(py, e, &t))
    }

    /// The next frame in place if there is one now, else ``None`` (for event loops).
    fn try_recv_view(&self, py: Python<'_>) -> PyResult<Option<Frame>> {
        match self.view(py, Timeout::new(Some(0.0))?)? {
            Ok(f) => Ok(Some(f)),
            Err(Ended::TimedOut) => Ok(None),
            Err(Ended::Closed) => Err(closed(py, "subscriber", &self.name)),
        }
    }

    /// A copy of the next frame if there is one now, else ``None``.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.recv(py, Some(0.0)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTimeoutError>(py) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next frame in place (waits as long as it takes; ends when the subscriber is closed).
    fn __next__(&self, py: Python<'_>) -> PyResult<Frame> {
        if self.closed() {
            return Err(PyStopIteration::new_err(()));
        }
        match self.view(py, Timeout::new(None)?)? {
            Ok(f) => Ok(f),
            Err(_) => Err(PyStopIteration::new_err(())),
        }
    }

    /// ``await sub.recv_async()``: ``recv`` for asyncio.
    #[pyo3(signature = (timeout=None))]
    fn recv_async<'py>(
        slf: &Bound<'py, Self>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::aio(slf.py())?.call_method1("recv", (slf, timeout))
    }

    /// ``await sub.recv_view_async()``: ``recv_view`` for asyncio.
    #[pyo3(signature = (timeout=None))]
    fn recv_view_async<'py>(
        slf: &Bound<'py, Self>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::aio(slf.py())?.call_method1("recv_view", (slf, timeout))
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        crate::aio(slf.py())?.call_method1("anext", (slf,))
    }

    /// Skips to the newest frame (the next receive returns it); returns how many frames were
    /// skipped (not counted as lost). For viewers that show the newest picture.
    fn seek_newest(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.get(py)?.with(py, |st| st.sub.seek_newest()))
    }

    /// Frames lost so far (overwritten before this subscriber read them).
    #[getter]
    fn lost(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.get(py)?.with(py, |st| st.sub.lost()))
    }

    /// Frames published that this subscriber has not received yet.
    #[getter]
    fn lag(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.get(py)?.with(py, |st| st.sub.lag()))
    }

    /// What the last frame received was (``Received``), or ``None``.
    #[getter]
    fn last(&self, py: Python<'_>) -> PyResult<Option<Received>> {
        Ok(self.get(py)?.with(py, |st| st.last))
    }

    /// Whether the stream's name was removed or now names another stream (subscribe again to
    /// follow it).
    #[getter]
    fn is_removed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.get(py)?.with(py, |st| st.sub.is_removed()))
    }

    /// The stream's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// ``"overwrite"`` or ``"block"``.
    #[getter]
    fn policy(&self) -> &'static str {
        self.policy.as_str()
    }

    /// The largest frame, in bytes.
    #[getter]
    fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// What the frames are, or ``None``.
    #[getter]
    fn format(&self) -> Option<String> {
        self.format.as_ref().map(ToString::to_string)
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A new notifier for this stream: a descriptor that becomes readable on each frame.
    fn notifier(&self, py: Python<'_>) -> PyResult<Notifier> {
        Notifier::new(py, &self.get(py)?.mapping)
    }

    /// The notifier the async methods use (one per subscriber, made at first use).
    fn _async_notifier(&self, py: Python<'_>) -> PyResult<Py<Notifier>> {
        let mut aio = lock(&self.aio);
        if let Some(n) = aio.as_ref() {
            return Ok(n.clone_ref(py));
        }
        let n = Py::new(py, self.notifier(py)?)?;
        *aio = Some(n.clone_ref(py));
        Ok(n)
    }

    /// Leaves the stream now (a ``"block"`` publisher stops waiting for it). Frames received
    /// before stay readable (their memory stays mapped while they live) but are no longer
    /// protected: their ``intact`` is ``False``. Waits in other threads end (iteration stops,
    /// other calls raise ``ClosedError``). Idempotent.
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
        let shared = write(&self.shared).take();
        // Waits in other threads hold the state for a slice at most, then see `closed`.
        py.detach(move || drop(shared));
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
            "<shmkit.Subscriber {:?} policy={}{}>",
            self.name,
            self.policy,
            if self.closed() { " closed" } else { "" }
        )
    }
}

/// A frame read in place: its buffer is the ring's memory (read-only), so
/// ``numpy.asarray(frame)`` copies nothing — shaped ``(height, width, channels)`` when the
/// stream's format is an image.
///
/// How long it stays valid: on a ``"block"`` stream the publisher does not overwrite it until
/// it is released — by ``release()``, the end of a ``with`` block, the next receive on its
/// subscriber, or when the frame is garbage-collected. On an ``"overwrite"`` stream the
/// publisher may overwrite it at any moment: read what you need, then check ``intact`` (or
/// ``release()``, which raises ``OverwrittenError``). Copy (``numpy.array(frame)``,
/// ``bytes(frame)``) to keep it longer. Its memory stays mapped as long as the frame or an
/// array over it lives, whatever was closed: no order of closes can crash.
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Frame {
    shared: Weak<SubShared>,
    mapping: Arc<shmkit::Segment>,
    /// The frame in use; `None` once released.
    frame: Mutex<Option<DetachedFrame>>,
    ptr: usize,
    received: Received,
    layout: Option<Layout>,
    name: String,
}

impl Frame {
    fn released_error(&self, py: Python<'_>) -> PyErr {
        let reason = "this frame was released; copy it (bytes(frame), numpy.array(frame)) to \
                      keep it";
        own(
            py,
            ErrorKind::InvalidInput,
            "read",
            &self.name,
            reason.into(),
        )
    }

    /// Whether the frame is still intact, asking its subscriber (`false` once released or once
    /// the subscriber is closed).
    fn check(&self, py: Python<'_>) -> bool {
        let Some(frame) = lock(&self.frame).take() else {
            return false;
        };
        let (ok, frame) = match self.shared.upgrade() {
            Some(s) => s.with(py, move |st| (st.sub.is_intact(&frame), frame)),
            None => (false, frame),
        };
        let mut slot = lock(&self.frame);
        if slot.is_none() {
            *slot = Some(frame);
        }
        ok
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // Released here so that a "block" publisher need not wait for the next receive. The
        // state may be busy (another thread waits in it): then at its next call.
        let (Some(frame), Some(s)) = (lock(&self.frame).take(), self.shared.upgrade()) else {
            return;
        };
        match s.state.try_lock() {
            Ok(mut st) => {
                let _ = st.sub.release(frame);
            }
            Err(_) => lock(&s.pending).push(frame),
        }
    }
}

#[pymethods]
impl Frame {
    /// The frame's sequence number.
    #[getter]
    fn seq(&self) -> u64 {
        self.received.seq
    }

    /// Frames lost just before this one.
    #[getter]
    fn lost(&self) -> u64 {
        self.received.lost
    }

    /// When it was published (nanoseconds since the Unix epoch).
    #[getter]
    fn time_ns(&self) -> u64 {
        self.received.time_ns
    }

    /// Its sequence number, length, time and losses.
    #[getter]
    fn received(&self) -> Received {
        self.received
    }

    /// The image shape its buffer has, or ``None`` (plain bytes).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        shape_tuple(py, self.layout)
    }

    /// Whether its bytes are still the frame as published (check after reading, on
    /// ``"overwrite"`` streams). ``False`` once released or once its subscriber is closed:
    /// nothing protects it then.
    #[getter]
    fn intact(&self, py: Python<'_>) -> bool {
        self.check(py)
    }

    /// Whether ``release()`` was called (or the frame was released otherwise).
    #[getter]
    fn released(&self) -> bool {
        lock(&self.frame).is_none()
    }

    /// Gives the frame back (a ``"block"`` publisher may overwrite it now); raises
    /// ``OverwrittenError`` if the publisher overwrote it while it was in use. Idempotent.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let Some(frame) = lock(&self.frame).take() else {
            return Ok(());
        };
        let Some(s) = self.shared.upgrade() else {
            return Ok(());
        };
        s.with(py, move |st| st.sub.release(frame))
            .map(drop)
            .map_err(|e| to_py(py, &e))
    }

    /// A copy of the frame's bytes; raises ``OverwrittenError`` if the publisher overwrote it
    /// (so the copy is never a torn frame).
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        if lock(&self.frame).is_none() {
            return Err(self.released_error(py));
        }
        let len = self.received.len;
        let ptr = self.ptr;
        let out = PyBytes::new_with(py, len, |dst| {
            py.detach(|| {
                // SAFETY: the frame's bytes lie in the mapping `self.mapping` keeps.
                let src = unsafe { SharedBytes::from_raw_parts(ptr as *const u8, len) };
                src.copy_to_slice(0, dst);
            });
            Ok(())
        })?;
        if !self.check(py) {
            return Err(own(
                py,
                ErrorKind::Overwritten,
                "receive from",
                &self.name,
                format!(
                    "the publisher overwrote frame #{} while it was read in place",
                    self.received.seq
                ),
            ));
        }
        Ok(out)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.tobytes(py)
    }

    fn __len__(&self) -> usize {
        self.received.len
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Releases the frame; an ``OverwrittenError`` is raised only if the block itself did not
    /// raise.
    fn __exit__(
        &self,
        py: Python<'_>,
        t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let r = self.release(py);
        if t.is_none() {
            r?;
        }
        Ok(false)
    }

    /// # Safety
    /// Called by CPython with the `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        if lock(&me.frame).is_none() {
            return Err(PyBufferError::new_err(
                "this frame was released; copy it to keep it",
            ));
        }
        let (ptr, len, layout) = (me.ptr as *mut u8, me.received.len, me.layout);
        let keep = Box::new(me.mapping.clone());
        // SAFETY: `view` is CPython's; the frame's bytes lie in the stream's mapping, which the
        // export keeps (`keep`); exported read-only (the subscriber's mapping is read-only).
        unsafe { buffer::export(view, flags, slf.into_any(), ptr, len, true, layout, keep) }
    }

    /// # Safety
    /// Called by CPython with a `Py_buffer` that `__getbuffer__` filled.
    unsafe fn __releasebuffer__(&self, view: *mut ffi::Py_buffer) {
        // SAFETY: filled by `__getbuffer__` through `buffer::export`.
        unsafe { buffer::release(view) }
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmkit.Frame {:?} #{} {} bytes{}{}>",
            self.name,
            self.received.seq,
            self.received.len,
            if self.received.lost > 0 {
                format!(", {} lost before", self.received.lost)
            } else {
                String::new()
            },
            if lock(&self.frame).is_none() {
                ", released"
            } else {
                ""
            }
        )
    }
}
