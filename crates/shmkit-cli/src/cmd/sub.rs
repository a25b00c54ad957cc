//! `shmkit sub`: print a stream's frames as they arrive.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use shmkit::ErrorKind;
use shmkit::stream::{JoinAt, Received, StreamOptions, Subscriber};

use crate::error::{Error, Result};
use crate::interrupt::{CHECK_EVERY, Interrupted, on_interrupt};
use crate::output::{Format, Output, print_value, value_json};
use crate::util;

/// Print a stream's frames as they arrive
///
/// Subscribes to the stream NAME and prints every frame published from now on, in order, as
/// it arrives: by default its bytes as they are, then a newline; --hex a hex dump per frame;
/// --json one object a line with the frame's sequence number, length and the number of frames
/// lost just before it. With --from oldest, it starts with the oldest frame still in the
/// stream's ring instead.
///
/// A subscriber never slows an `overwrite` stream's publisher down: if it falls behind by more
/// than the ring, the oldest frames are overwritten before it reads them, and it says how many
/// it lost (on stderr, `shmkit: lost N frames before #S`; in the `lost` field with --json). On
/// a `block` stream the publisher waits for it instead, and nothing is lost.
///
/// No polling: the wait is a futex, woken by the publisher. Ends after --count frames, after
/// --timeout, or on Ctrl-C (cleanly, exit status 0). With both --count and --timeout, running
/// out of time before the count is a failure (exit status 1).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit sub log                       every new frame, until Ctrl-C
  shmkit sub log --from oldest         first the frames still in the ring, then the new ones
  shmkit sub log --count 1             wait for the next frame, print it, end
  shmkit sub log --json                {\"len\":5,\"lost\":0,\"name\":\"log\",\"seq\":7,\"text\":\"hello\"}
  shmkit sub cam0 --count 1 --hex      a hex dump of the next frame
  shmkit sub log --count 3 --timeout 5s   fail unless three frames come within 5 s")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// Stop after printing N frames
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,

    /// Where to start: the next frame published, or the oldest one still in the ring
    #[arg(long, value_name = "WHERE", default_value = "newest")]
    from: FromArg,

    /// One JSON object a line: name, seq, len, lost, and text (or hex)
    #[arg(long, conflicts_with = "hex")]
    json: bool,

    /// A hex dump per frame
    #[arg(long)]
    hex: bool,

    /// Stop after this long: 500ms, 5s, 2m
    #[arg(short, long, value_name = "DUR", value_parser = util::parse_duration)]
    timeout: Option<Duration>,
}

/// `--from`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FromArg {
    Newest,
    Oldest,
}

/// Prints frames as they come, until the count, the timeout or Ctrl-C.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let from = match args.from {
        FromArg::Newest => JoinAt::Newest,
        FromArg::Oldest => JoinAt::Oldest,
    };
    let mut sub = StreamOptions::new()
        .from(from)
        .subscribe(args.name.as_str())?;
    let format = Format::from_flags(args.hex, args.json);
    let interrupted = on_interrupt();
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut frame = Vec::new();
    let mut printed = 0u64;
    loop {
        if args.count.is_some_and(|c| printed >= c) || interrupted.get() {
            return Ok(());
        }
        // A frame that is there already is printed without flushing, so a fast stream is not
        // written one system call per frame; before sleeping, what was printed goes out.
        let got = match sub.try_recv(&mut frame)? {
            Some(got) => got,
            None => {
                out.flush()?;
                match wait(&mut sub, &mut frame, deadline, &interrupted)? {
                    Some(got) => got,
                    None if interrupted.get() => return Ok(()),
                    None => {
                        return match args.count {
                            Some(c) => Err(Error::Failed(format!(
                                "timed out after {} with {printed} of {c} frames",
                                util::short_time(args.timeout.unwrap_or_default())
                            ))),
                            None => Ok(()),
                        };
                    }
                }
            }
        };
        print_frame(out, format, sub.name().as_str(), got, &frame)?;
        printed += 1;
    }
}

/// Sleeps until a frame arrives (`Some`), the deadline passes or Ctrl-C is pressed (`None`), in
/// slices so that Ctrl-C is noticed.
fn wait(
    sub: &mut Subscriber,
    frame: &mut Vec<u8>,
    deadline: Option<Instant>,
    interrupted: &Interrupted,
) -> Result<Option<Received>> {
    loop {
        if interrupted.get() {
            return Ok(None);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(None);
        }
        let slice = left.map_or(CHECK_EVERY, |l| l.min(CHECK_EVERY));
        match sub.recv_timeout(frame, slice) {
            Ok(got) => return Ok(Some(got)),
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Prints one frame in `format`; in text and hex, lost frames are noted on stderr first.
fn print_frame(
    out: &mut Output,
    format: Format,
    name: &str,
    got: Received,
    frame: &[u8],
) -> Result<()> {
    match format {
        Format::Json => {
            let mut v = value_json(name, got.seq, frame);
            v["lost"] = json!(got.lost);
            out.json_line(&v)
        }
        Format::Text | Format::Hex => {
            if got.lost > 0 {
                // Flushed first, so the note sits between the frames it falls between.
                out.flush()?;
                let s = if got.lost == 1 { "" } else { "s" };
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "shmkit: lost {} frame{s} before #{}",
                    got.lost,
                    got.seq
                );
            }
            print_value(out, format, name, got.seq, frame)
        }
    }
}
