//! `shmkit watch`: print a cell's value, then every new value as it appears (like `tail -f`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shmkit::Access;

use crate::error::{Error, Result};
use crate::framing;
use crate::opened::DEFAULT_TIMEOUT;
use crate::output::Output;
use crate::source::{POLL_INTERVAL, Range, Source};
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// How often a wait looks up from its sleep to see whether Ctrl-C was pressed.
pub const INTERRUPT_CHECK: Duration = Duration::from_millis(200);

/// Print a cell's value, then each new one as it appears
///
/// Prints the current value of the cell NAME, then sleeps until a writer publishes and prints
/// each new value as it appears, like `tail -f`. No polling: the wait is a futex, woken by the
/// writer. A reader that falls behind a fast writer prints the newest value and skips the ones
/// in between (a cell holds the latest value, not a queue; --json shows the sequence numbers).
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
  shmkit watch status                    until Ctrl-C
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
    let source = Source::open(&args.target, Access::ReadOnly, range)?;
    let format = super::read::format(args.hex, args.json);
    let interrupted = on_interrupt();
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut value = Vec::new();
    let mut printed = 0u64;
    if source.polls() {
        let _ = writeln!(
            std::io::stderr(),
            "shmkit: {} has no change notification (another program's segment): looking at it \
             every {} ms",
            source.name(),
            POLL_INTERVAL.as_millis()
        );
    }
    let mut seq = source.read(&mut value)?;
    loop {
        let decoded = args.framing.decode(source.name(), &value)?;
        framing::print(out, format, source.name(), seq, &decoded, None)?;
        out.flush()?;
        printed += 1;
        if args.count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        // Sleep until a newer value, in slices so that Ctrl-C is noticed.
        loop {
            if interrupted.load(Ordering::Relaxed) {
                return Ok(());
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return match args.count {
                    Some(c) => Err(Error::Failed(format!(
                        "timed out after {} with {printed} of {c} values",
                        util::short_time(args.timeout.unwrap_or_default())
                    ))),
                    None => Ok(()),
                };
            }
            let slice = left.map_or(INTERRUPT_CHECK, |l| l.min(INTERRUPT_CHECK));
            if source.wait(seq, Some(slice))?.is_some() {
                break;
            }
        }
        seq = source.read(&mut value)?;
    }
}

/// A flag that Ctrl-C (or SIGTERM) sets instead of killing the process, so handles close
/// normally. If the handler cannot be installed, Ctrl-C keeps its default effect.
pub fn on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
    flag
}
