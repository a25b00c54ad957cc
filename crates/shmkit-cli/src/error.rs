//! How the command fails: one line on stderr and an exit status.
//!
//! | status | meaning                                                                  |
//! |--------|--------------------------------------------------------------------------|
//! | 0      | success; also when stdout was closed early (`shmkit ls \| head -1`)      |
//! | 1      | the operation failed: no such segment, bad name, permission, full memory |
//! | 2      | usage: unknown flag, missing argument, malformed value (`--size 12Q`)    |
//!
//! Messages start with `shmkit: ` and are a single line, as the library's errors are
//! (what was attempted, on which segment, why, what to do). The OS error behind a library error
//! is appended only when the library's words do not already say it (`ErrorKind::Os`).

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};

/// A failed command.
#[derive(Debug)]
pub enum Error {
    /// A library call failed.
    Shmkit(shmkit::Error),
    /// Writing the output failed (a closed pipe is not reported).
    Io(io::Error),
    /// A failure the command itself describes, in one line without the `shmkit: ` prefix.
    Failed(String),
    /// Failures already reported one by one (e.g. `rm a b c`): exit 1 without another message.
    Reported,
}

/// Shorthand for the result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<shmkit::Error> for Error {
    fn from(e: shmkit::Error) -> Error {
        Error::Shmkit(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shmkit(e) => f.write_str(&with_os_error(e)),
            Error::Io(e) => write!(f, "cannot write the output: {e}"),
            Error::Failed(msg) => f.write_str(msg),
            Error::Reported => f.write_str("failed"),
        }
    }
}

/// The library's message; for a plain OS failure, with the OS error's text before the hint.
fn with_os_error(e: &shmkit::Error) -> String {
    if e.kind() == shmkit::ErrorKind::Os {
        format!("{e:#}")
    } else {
        e.to_string()
    }
}

/// Whether `err` is a closed stdout, which ends the command quietly.
fn is_broken_pipe(err: &Error) -> bool {
    matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints `err` as one line on stderr (unless it needs no message).
pub fn report(err: &Error) {
    if matches!(err, Error::Reported) || is_broken_pipe(err) {
        return;
    }
    print_line(err);
}

/// Has every stale segment that the library removes on its own (the lifetime rule's fallback:
/// its creator's guardian was killed too, or there is none, as on macOS) said once on stderr:
/// `shmkit: removed the stale segment "NAME" left by pid N (…)`. A command whose open finds only
/// a stale segment fails with an error that says the same, instead of this line.
pub fn announce_stale_removals() {
    shmkit::on_stale_removed(|removed| print_line(removed));
}

/// Writes `shmkit: {message}` to stderr, ignoring failures: there is nowhere left to report
/// them (and `eprintln!` would panic).
fn print_line(message: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "shmkit: {message}");
}

/// The exit status of a finished command, after reporting its error.
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Handles a command line clap rejected, or `--help` / `--version`.
///
/// A value our own parsers rejected (`--size 12Q`) is one line, like every other mistake;
/// clap's own usage errors keep clap's text with its usage line and tip. Status 2 either way;
/// help and version print to stdout and exit 0.
pub fn usage(err: clap::Error) -> ExitCode {
    if err.kind() != ClapKind::ValueValidation {
        err.exit();
    }
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let why = std::error::Error::source(&err).map(|s| s.to_string());
    match (
        context(ContextKind::InvalidValue),
        context(ContextKind::InvalidArg),
        why,
    ) {
        (Some(value), Some(arg), Some(why)) => {
            print_line(format_args!("invalid value {value:?} for {arg}: {why}"));
            ExitCode::from(2)
        }
        _ => err.exit(),
    }
}
