//! The native part of the `shmkit` Python package (`shmkit._shmkit`): thin classes over the
//! `shmkit` crate — cells, streams, segments — that convert, release the GIL around every wait
//! and large copy, and turn errors into exceptions. No protocol lives here: every frame, value
//! and lock goes through the core's API.
//!
//! The pure-Python part of the package (`python/shmkit/`) holds the exception classes, the
//! asyncio glue, typed cells and the benchmark.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

mod buffer;
mod cell;
mod error;
mod notifier;
mod segment;
mod stream;
mod util;
mod wait;

/// `shmkit._aio`, the asyncio glue, imported at its first use.
pub(crate) fn aio(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    static AIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = AIO.get_or_try_init(py, || {
        PyModule::import(py, "shmkit._aio").map(Bound::unbind)
    })?;
    Ok(m.bind(py).clone())
}

#[pymodule]
fn _shmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<cell::Cell>()?;
    m.add_class::<stream::Publisher>()?;
    m.add_class::<stream::Loan>()?;
    m.add_class::<stream::Subscriber>()?;
    m.add_class::<stream::Frame>()?;
    m.add_class::<stream::Received>()?;
    m.add_class::<segment::Segment>()?;
    m.add_class::<segment::LockGuard>()?;
    m.add_class::<notifier::Notifier>()?;
    m.add_function(wrap_pyfunction!(segment::ls, m)?)?;
    m.add_function(wrap_pyfunction!(segment::info, m)?)?;
    m.add_function(wrap_pyfunction!(segment::gc, m)?)?;
    m.add_function(wrap_pyfunction!(segment::remove, m)?)?;
    m.add("MAX_NAME_LEN", shmkit::MAX_NAME_LEN)?;
    m.add("SLICE_SECONDS", wait::SLICE.as_secs_f64())?;
    Ok(())
}
