//! `shmkit.Notifier`: a segment's changes as a descriptor for event loops (asyncio's
//! `add_reader`, `select`, Qt's `QSocketNotifier`).

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::error::{IntoPy, closed, own};
use crate::util::lock;

/// Wakes an event loop whenever a segment changes (a value published, a frame sent): its
/// descriptor (``fileno()``) becomes readable until ``clear()``. One thread of its own sleeps on
/// the segment, however many changes and waiters there are.
///
/// Make one with ``cell.notifier()``, ``subscriber.notifier()`` or ``segment.notifier()``. On
/// Windows there is no such descriptor: ``fileno()`` raises ``UnsupportedError``.
#[pyclass(module = "shmkit", frozen)]
pub(crate) struct Notifier {
    inner: Mutex<Option<shmkit::Notifier>>,
    name: String,
}

impl Notifier {
    pub(crate) fn new(py: Python<'_>, seg: &shmkit::Segment) -> PyResult<Notifier> {
        let n = py.detach(|| shmkit::Notifier::new(seg)).py(py)?;
        Ok(Notifier {
            inner: Mutex::new(Some(n)),
            name: seg.name().to_string(),
        })
    }
}

#[pymethods]
impl Notifier {
    /// The descriptor to wait on: readable after a change, until ``clear()``.
    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        let inner = lock(&self.inner);
        let n = inner
            .as_ref()
            .ok_or_else(|| closed(py, "notifier", &self.name))?;
        n.descriptor().ok_or_else(|| {
            own(
                py,
                shmkit::ErrorKind::Unsupported,
                "wait on",
                &self.name,
                "this platform has no descriptor an event loop could wait on".into(),
            )
        })
    }

    /// Makes the descriptor unreadable until the next change; whether a change was signalled.
    /// Call it before looking at what changed.
    fn clear(&self) -> bool {
        lock(&self.inner).as_ref().is_some_and(|n| n.clear())
    }

    /// Stops the notifier (its thread ends). Idempotent.
    pub(crate) fn close(&self, py: Python<'_>) {
        let n = lock(&self.inner).take();
        py.detach(move || drop(n));
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.inner).is_none()
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
            "<shmkit.Notifier {:?}{}>",
            self.name,
            if self.closed() { " closed" } else { "" }
        )
    }
}
