//! Small helpers shared by the classes.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmkit::{ErrorKind, Format, Lifetime};

use crate::error::own;

/// Locks, ignoring poisoning: every critical section leaves its state consistent (a panic in
/// one is a bug that PyO3 reports as an exception; the data is still ours to use).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// From this many bytes on, copies into new `bytes` objects release the GIL.
const BIG: usize = 64 << 10;

/// A new `bytes` object holding `data`; large copies release the GIL (the object is not
/// visible to any other Python code until it is returned).
pub(crate) fn bytes<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    if data.len() < BIG {
        return Ok(PyBytes::new(py, data));
    }
    PyBytes::new_with(py, data.len(), |dst| {
        py.detach(|| dst.copy_from_slice(data));
        Ok(())
    })
}

/// A size argument: negative is a `shmkit.InvalidSizeError` about `what` on `name`.
pub(crate) fn size(py: Python<'_>, verb: &str, name: &str, what: &str, v: i64) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| {
        own(
            py,
            ErrorKind::InvalidSize,
            verb,
            name,
            format!("{what} of {v} bytes; sizes are at least 0"),
        )
    })
}

/// Permission bits: `0o600`-style, at most `0o777`.
pub(crate) fn mode(mode: u32) -> PyResult<u32> {
    if mode & !0o777 != 0 {
        return Err(PyValueError::new_err(format!(
            "mode {mode:#o} has bits outside 0o777; give permission bits such as 0o600"
        )));
    }
    Ok(mode)
}

/// `persistent=True` → `Lifetime::Persistent`.
pub(crate) fn lifetime(persistent: bool) -> Lifetime {
    if persistent {
        Lifetime::Persistent
    } else {
        Lifetime::LastClose
    }
}

/// A format description (`"rgb8:1920x1080"`, `"application/json"`).
pub(crate) fn format(py: Python<'_>, text: &str) -> PyResult<Format> {
    use crate::error::IntoPy;
    text.parse::<Format>().py(py)
}

/// Seconds since the Unix epoch, as Python's `time.time()` counts.
pub(crate) fn epoch(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}
