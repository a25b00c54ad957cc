//! `shmkit watch`: print a cell's value, then every new value as it appears (like `tail -f`).

use std::io::Write;
use std::time::{Duration, Instant};

use shmkit::Access;

use crate::error::{Error, Result};
use crate::follow::{Appeared, note, wait_for};
use crate::framing;
use crate::interrupt::{CHECK_EVERY, Interrupted, on_interrupt};
use crate::opened::DEFAULT_TIMEOUT;
use crate::output::{Format, Output};
use crate::source::{POLL_INTERVAL, Range, Source};
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// Print a cell's value, then each new one as it appears
///
/// Prints the current value of the cell NAME, then sleeps until a writer publishes and prints
/// each new value as it appears, like `tail -f`. No polling: the wait is a futex, woken by the
/// writer. A reader that falls behind a fast writer prints the newest value and skips the ones
/// in between (a cell holds the latest value, not a queue; --json shows the sequence numbers).
///
/// Started before the cell exists, it says so on stderr (`shmkit: waiting for NAME`) and waits
/// for it to appear. If the cell is removed while it runs (`shmkit rm`, or its last user closed
/// it), it says so and waits for the next cell of that name, whose value it prints as new.
/// --no-wait fails at once instead (exit status 1).
///
/// Ends after --count values, after --timeout, or on Ctrl-C (cleanly, exit status 0). With both
/// --count and --timeout, running out of time before the count is a failure (exit status 1).
///
/// NAME may also be a plain (bytes) shmkit segment: then each `notify_change` of a writer
/// prints the chosen bytes (--offset, --len). Or another program's segment (qt:KEY, posix:NAME,
/// a Windows mapping's Global\NAME, Local\NAME or NAME): such a segment has no change
/// notification, so watch says so once on stderr and looks at its bytes every 200 ms (the
/// classic programs' own timer), printing them when they change. --cstring, --utf16 and
/// --qt-datastream decode each value as for `shmkit read`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit watch status                    until Ctrl-C (waits for status to exist)
  shmkit watch status --count 3          the current value and the next two
  shmkit watch status --json             one JSON object a line: name, seq, len, text
  shmkit watch status --count 2 --timeout 5s   fail unless a new value comes within 5 s
  shmkit watch qt:test --qt-datastream bytes   a Qt program's QByteArray, each time it changes
  shmkit watch test_shared_memory --utf16      (Windows) a mapping a UNICODE program rewrites")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Stop after printing N values (the current one counts)
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,

    /// Stop after this long: 500ms, 5s, 2m
    #[arg(short, long, value_name = "DUR", value_parser = util::parse_duration)]
    timeout: Option<Duration>,

    /// One JSON object a line: name, seq, len, and text (or hex)
    #[arg(long, conflicts_with = "hex")]
    json: bool,

    /// A hex dump per value
    #[arg(long)]
    hex: bool,

    /// For a bytes segment: the first byte to print
    #[arg(long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// For a bytes segment: how many bytes [default: to the end of its data]
    #[arg(long, value_name = "N", value_parser = util::parse_size)]
    len: Option<u64>,

    /// Fail at once if the cell does not exist, and end (exit status 1) if it is removed,
    /// instead of waiting for one to appear
    #[arg(long)]
    no_wait: bool,

    #[command(flatten)]
    framing: framing::FramingArgs,
}

/// Prints values as they come, until the count, the timeout or Ctrl-C.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let range = Range {
        offset: args.offset,
        len: args.len,
        timeout: DEFAULT_TIMEOUT,
    };
    let interrupted = on_interrupt();
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let Some(mut source) = open(out, &args, range, true, deadline, &interrupted)? else {
        return Ok(());
    };
    if source.polls() {
        let _ = writeln!(
            std::io::stderr(),
            "shmkit: {} has no change notification (another program's segment): looking at it \
             every {} ms",
            source.name(),
            POLL_INTERVAL.as_millis()
        );
    }
    let format = Format::from_flags(args.hex, args.json);
    let mut value = Vec::new();
    let mut printed = 0u64;
    let mut seq = source.read(&mut value)?;
    loop {
        let decoded = args.framing.decode(source.name(), &value)?;
        framing::print(out, format, source.name(), seq, &decoded, None)?;
        out.flush()?;
        printed += 1;
        if args.count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        // Sleep until a newer value, in slices so that Ctrl-C and a removal are noticed.
        loop {
            if interrupted.get() {
                return Ok(());
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return timed_out(&args, printed);
            }
            let slice = left.map_or(CHECK_EVERY, |l| l.min(CHECK_EVERY));
            if source.wait(seq, Some(slice))?.is_some() {
                break;
            }
            if source.is_removed() {
                let name = &args.target;
                if args.no_wait {
                    return Err(Error::Failed(format!(
                        "{name} was removed (`shmkit rm`, or its last user closed it)"
                    )));
                }
                note(
                    out,
                    format_args!("{name} was removed; waiting for a new one"),
                )?;
                drop(source);
                match open(out, &args, range, false, deadline, &interrupted)? {
                    Some(new) => source = new,
                    None if interrupted.get() => return Ok(()),
                    None => return timed_out(&args, printed),
                }
                break;
            }
        }
        seq = source.read(&mut value)?;
    }
}

/// The end at the deadline: a failure if --count was not reached.
fn timed_out(args: &Args, printed: u64) -> Result<()> {
    match args.count {
        Some(c) => Err(Error::Failed(format!(
            "timed out after {} with {printed} of {c} values",
            util::short_time(args.timeout.unwrap_or_default())
        ))),
        None => Ok(()),
    }
}

/// Opens the target; a shmkit name that does not exist yet is waited for (unless --no-wait).
/// `None`: Ctrl-C came first, or the deadline while waiting for a new cell after a removal.
fn open(
    out: &mut Output,
    args: &Args,
    range: Range,
    announce: bool,
    deadline: Option<Instant>,
    interrupted: &Interrupted,
) -> Result<Option<Source>> {
    let open = || Source::open(&args.target, Access::ReadOnly, range);
    let name = match &args.target {
        Target::Shmkit(name) if !args.no_wait => name,
        _ => return open().map(Some),
    };
    let why = "no cell of that name yet";
    match wait_for(out, name, why, announce, deadline, interrupted, |_| open())? {
        Appeared::AtOnce(s) | Appeared::Later(s) => Ok(Some(s)),
        // The first time, never having seen the cell is a failure; after a removal, running out
        // of time is the end of the watch as usual.
        Appeared::TimedOut if announce => Err(Error::Failed(format!(
            "no cell {name:?} appeared within {}",
            util::short_time(args.timeout.unwrap_or_default())
        ))),
        Appeared::TimedOut | Appeared::Interrupted => Ok(None),
    }
}
