//! `shmkit lock`: hold a segment's lock — Qt's own, or a shmkit segment's — while a command
//! runs, or for a while.

use std::process::Command;
use std::time::{Duration, Instant};

use shmkit::Access;

use crate::error::{Error, Result};
use crate::opened::{DEFAULT_TIMEOUT, Held, Opened};
use crate::output::Output;
use crate::target::{TARGET_HELP, Target};
use crate::util::parse_duration;

/// Hold a segment's lock while a command runs
///
/// Takes the segment's lock, runs the command after `--`, and releases the lock when the
/// command ends; shmkit exits 1 if the command fails. For a Qt segment this is Qt's own lock: a
/// Qt app's lock() — and its attach() and detach(), which take the lock too — wait until the
/// command is done. Inside the command, do not take the same lock again (`shmkit write` does):
/// it is not recursive, and would wait for itself until its --timeout.
///
/// Without a command, --hold DURATION keeps the lock that long, then releases it (for tests
/// and for seeing what a Qt app does while it waits).
///
/// With Qt's System V backend (qt:KEY), the kernel releases the lock if shmkit is killed. With
/// the POSIX backend (qt-posix:KEY, posix:/NAME), a killed holder leaves it taken for good:
/// do not kill `shmkit lock` on those.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit lock qt:frames -- ./update-frame.sh     run a script while the Qt app waits
  shmkit lock qt:frames --hold 5s                 hold Qt's lock for 5 seconds
  shmkit lock cam0 --timeout 1s -- true           is cam0's lock free within a second?")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Give up if the lock is not free within this time (500ms, 2s, 1m) [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// Without a command: how long to hold the lock
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "command")]
    hold: Option<Duration>,

    /// The command to run while holding the lock (after --)
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Locks, runs, unlocks.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    if args.command.is_empty() && args.hold.is_none() {
        return Err(Error::Failed(
            "nothing to do while holding the lock: give a command after --, or --hold DURATION"
                .into(),
        ));
    }
    let timeout = args.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let seg = Opened::open(&args.target, Access::ReadOnly, timeout)
        .or_else(|_| Opened::open(&args.target, Access::ReadWrite, timeout))?;
    let t0 = Instant::now();
    let held = seg.lock(timeout)?;
    if matches!(held, Held::None) {
        return Err(Error::Failed(format!(
            "{} has no lock: plain POSIX objects (Python's, C's) have none",
            args.target
        )));
    }
    out.line(format_args!(
        "locked {} (after {:?})",
        args.target,
        t0.elapsed()
    ))?;
    out.flush()?;
    let result = match args.hold {
        Some(d) => {
            std::thread::sleep(d);
            Ok(())
        }
        None => {
            let status = Command::new(&args.command[0])
                .args(&args.command[1..])
                .status()
                .map_err(|e| Error::Failed(format!("cannot run {:?}: {e}", args.command[0])))?;
            if status.success() {
                Ok(())
            } else {
                Err(Error::Failed(format!(
                    "{:?} failed ({status}); the lock was held and is now released",
                    args.command[0]
                )))
            }
        }
    };
    drop(held);
    out.line(format_args!("unlocked {}", args.target))?;
    result
}
