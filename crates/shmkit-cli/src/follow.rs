//! Following a name, as `tail -F` follows a file: `watch` and `sub` started before their cell or
//! stream exists wait for it to appear, and when the one they read is removed (and perhaps made
//! anew) they notice and wait for the next one.
//!
//! A name's appearance has no notification to sleep on, so waiting for one looks every
//! [`LOOK_EVERY`] — the one place these commands poll, and only while the name is missing. A
//! removal is noticed within [`CHECK_EVERY`](crate::interrupt::CHECK_EVERY) of an idle wait
//! (`Segment::is_removed`: the file's link count on Linux).

use std::io::Write;
use std::time::{Duration, Instant};

use shmkit::ErrorKind;

use crate::error::{Error, Result};
use crate::interrupt::Interrupted;
use crate::output::Output;

/// How often a wait for a missing name looks whether it exists now.
pub const LOOK_EVERY: Duration = Duration::from_millis(100);

/// What a [`wait_for`] ended with.
#[derive(Debug)]
pub enum Appeared<T> {
    /// It existed: opened at the first try.
    AtOnce(T),
    /// It did not exist at first, and appeared while we waited.
    Later(T),
    /// The deadline passed first.
    TimedOut,
    /// Ctrl-C came first.
    Interrupted,
}

/// Opens with `open(first_try)` (a cell, a stream, named `name`); while that fails with `NotFound`, says
/// `shmkit: waiting for NAME (…)` once on stderr (`why`: what is missing) and tries again every
/// [`LOOK_EVERY`], until the deadline or Ctrl-C. `announce: false` skips the line (the caller
/// said something already). Flushes `out` before writing to stderr.
pub fn wait_for<T>(
    out: &mut Output,
    name: &str,
    why: &str,
    announce: bool,
    deadline: Option<Instant>,
    interrupted: &Interrupted,
    mut open: impl FnMut(bool) -> Result<T>,
) -> Result<Appeared<T>> {
    let mut waited = false;
    loop {
        match open(!waited) {
            Ok(t) if waited => return Ok(Appeared::Later(t)),
            Ok(t) => return Ok(Appeared::AtOnce(t)),
            Err(Error::Shmkit(e)) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if !waited && announce {
            note(out, format_args!("waiting for {name} ({why})"))?;
        }
        waited = true;
        if interrupted.get() {
            return Ok(Appeared::Interrupted);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(Appeared::TimedOut);
        }
        std::thread::sleep(left.map_or(LOOK_EVERY, |l| l.min(LOOK_EVERY)));
    }
}

/// Writes `shmkit: {text}` on stderr, after what `out` holds (so the two streams stay in order).
pub fn note(out: &mut Output, text: impl std::fmt::Display) -> Result<()> {
    out.flush()?;
    let _ = writeln!(std::io::stderr().lock(), "shmkit: {text}");
    Ok(())
}
