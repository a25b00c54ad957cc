//! Waits that let Python run: the GIL is released while the core sleeps, in slices short enough
//! that Ctrl-C (a pending signal) or a `close()` from another thread ends the wait promptly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::to_py;

/// How long the core sleeps before Python looks at its signals (KeyboardInterrupt within about
/// this long) and at `close()`.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// A Python timeout: `None` waits forever, a number of seconds otherwise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout {
    end: Option<Instant>,
    /// What the caller asked for, for the message when it runs out.
    pub(crate) total: Option<Duration>,
}

impl Timeout {
    pub(crate) fn new(seconds: Option<f64>) -> PyResult<Timeout> {
        let total = seconds.map(duration).transpose()?;
        Ok(Timeout {
            end: total.map(|t| Instant::now() + t),
            total,
        })
    }

    /// The next slice to sleep, `None` once the time is up (a zero timeout gets one try).
    fn slice(&self, first: bool) -> Option<Duration> {
        match self.end {
            None => Some(SLICE),
            Some(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left.min(SLICE)),
                _ if first => Some(Duration::ZERO),
                _ => None,
            },
        }
    }

    /// `2.5s`, `100ms`: as the core writes durations.
    pub(crate) fn text(&self) -> String {
        format!("{:?}", self.total.unwrap_or_default())
    }
}

/// Seconds (a Python number) as a duration; negative, NaN or huge values are a `ValueError`.
pub(crate) fn duration(seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "a time of {seconds} seconds; give a number of seconds >= 0 (or None)"
        ))
    })
}

/// What one slice of a wait found.
pub(crate) enum Slice<T> {
    /// Done.
    Ready(T),
    /// Nothing yet: sleep another slice.
    Again,
}

/// The wait ended without a result.
pub(crate) enum Ended {
    /// The timeout ran out.
    TimedOut,
    /// The handle was closed meanwhile.
    Closed,
}

/// Runs `attempt(slice)` without the GIL until it is ready, checking Python's signals (so that
/// Ctrl-C raises KeyboardInterrupt) and `closed` between slices. `attempt` sleeps at most `slice`
/// in the core; a core error ends the wait.
pub(crate) fn sliced<T: Send>(
    py: Python<'_>,
    timeout: Timeout,
    closed: &AtomicBool,
    mut attempt: impl FnMut(Duration) -> shmkit::Result<Slice<T>> + Send,
) -> PyResult<Result<T, Ended>> {
    let mut first = true;
    loop {
        // SYNC: Acquire pairs with the Release store in `close`.
        if closed.load(Ordering::Acquire) {
            return Ok(Err(Ended::Closed));
        }
        let Some(slice) = timeout.slice(first) else {
            return Ok(Err(Ended::TimedOut));
        };
        first = false;
        match py.detach(|| attempt(slice)) {
            Ok(Slice::Ready(v)) => return Ok(Ok(v)),
            Ok(Slice::Again) => {}
            Err(e) => return Err(to_py(py, &e)),
        }
        py.check_signals()?;
    }
}

/// A core call that fails with `Timeout` when its slice runs out, as one slice of [`sliced`].
pub(crate) fn again_on_timeout<T>(r: shmkit::Result<T>) -> shmkit::Result<Slice<T>> {
    match r {
        Ok(v) => Ok(Slice::Ready(v)),
        Err(e) if e.kind() == shmkit::ErrorKind::Timeout => Ok(Slice::Again),
        Err(e) => Err(e),
    }
}
