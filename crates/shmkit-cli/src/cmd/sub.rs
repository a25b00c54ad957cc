//! `shmkit sub`: print a stream's frames as they arrive.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use shmkit::stream::{JoinAt, Received, StreamOptions, Subscriber};
use shmkit::{ErrorKind, human_bytes};

use crate::error::{Error, Result};
use crate::follow::{Appeared, note, wait_for};
use crate::interrupt::{CHECK_EVERY, Interrupted, on_interrupt};
use crate::output::{Format, Output, print_value, value_json};
use crate::util;

/// Print a stream's frames as they arrive
///
/// Subscribes to the stream NAME and prints every frame published from now on, in order, as
/// it arrives: by default its bytes as they are, then a newline (-n: no newline); --hex a hex
/// dump per frame; --json one object a line with the frame's sequence number, length and the
/// number of frames lost just before it; --out DIR one file per frame instead (binary frames).
/// With --from oldest, it starts with the oldest frame still in the stream's ring instead.
///
/// Started before the stream exists, it says so on stderr (`shmkit: waiting for NAME`) and waits
/// for it to appear — then it starts at the stream's oldest frame, so that nothing its publisher
/// sent before this subscriber joined is missed. If the stream is removed while it runs (`shmkit
/// rm`, or a publisher's last close), it says so and waits for the next stream of that name in
/// the same way. --no-wait fails at once instead (exit status 1).
///
/// A subscriber never slows an `overwrite` stream's publisher down: if it falls behind by more
/// than the ring, the oldest frames are overwritten before it reads them. It says how many it
/// lost on stderr, at most once a second, and the total when it ends (--json also has a `lost`
/// field per frame). On a `block` stream the publisher waits for it instead, and nothing is lost.
///
/// No polling: the wait for frames is a futex, woken by the publisher. Ends after --count
/// frames, after --timeout, or on Ctrl-C (with a summary on stderr, exit status 0). With both
/// --count and --timeout, running out of time before the count is a failure (exit status 1).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit sub log                       every new frame, until Ctrl-C (waits for log to exist)
  seq 100 | shmkit pub log             (in another terminal) all 100 lines arrive
  shmkit sub log --from oldest         first the frames still in the ring, then the new ones
  shmkit sub log --count 1             wait for the next frame, print it, end
  shmkit sub log --json                {\"len\":5,\"lost\":0,\"name\":\"log\",\"seq\":7,\"text\":\"hello\"}
  shmkit sub cam0 --count 1 --hex      a hex dump of the next frame
  shmkit sub cam0 --out frames/        frames/frame-0000000001.bin, ... one file per frame
  shmkit sub raw -n > all.bin          the frames' bytes back to back
  shmkit sub log --count 3 --timeout 5s   fail unless three frames come within 5 s")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// Stop after printing N frames
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,

    /// Where to start: the next frame published, or the oldest one still in the ring (a stream
    /// that appears while sub waits for it is always read from its oldest frame)
    #[arg(long, value_name = "WHERE", default_value = "newest")]
    from: FromArg,

    /// One JSON object a line: name, seq, len, lost, and text (or hex; or file with --out)
    #[arg(long, conflicts_with = "hex")]
    json: bool,

    /// A hex dump per frame
    #[arg(long)]
    hex: bool,

    /// Do not add a newline after each frame (the frames' bytes back to back)
    #[arg(short = 'n', long, conflicts_with_all = ["json", "hex"])]
    no_newline: bool,

    /// Write each frame to a file of its own in DIR (frame-SEQ.bin, SEQ in 10 digits; DIR is
    /// created if missing) and print its path
    #[arg(short, long, value_name = "DIR", conflicts_with_all = ["hex", "no_newline"])]
    out: Option<PathBuf>,

    /// Stop after this long: 500ms, 5s, 2m
    #[arg(short, long, value_name = "DUR", value_parser = util::parse_duration)]
    timeout: Option<Duration>,

    /// Fail at once if the stream does not exist, and end (exit status 1) if it is removed,
    /// instead of waiting for one to appear
    #[arg(long)]
    no_wait: bool,
}

/// `--from`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FromArg {
    Newest,
    Oldest,
}

/// How one frame is shown.
#[derive(Debug, Clone, Copy)]
struct Show<'a> {
    format: Format,
    no_newline: bool,
    dir: Option<&'a Path>,
}

/// Prints frames as they come, until the count, the timeout or Ctrl-C.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let name = args.name.as_str();
    let show = Show {
        format: Format::from_flags(args.hex, args.json),
        no_newline: args.no_newline,
        dir: args.out.as_deref(),
    };
    if let Some(dir) = show.dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Failed(format!("cannot make the directory {}: {e}", dir.display()))
        })?;
    }
    let interrupted = on_interrupt();
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut tally = Tally::default();
    let from = match args.from {
        FromArg::Newest => JoinAt::Newest,
        FromArg::Oldest => JoinAt::Oldest,
    };
    let mut sub = match join(out, &args, from, true, deadline, &interrupted)? {
        Some(sub) => sub,
        None => return tally.end(out, &args, name, &interrupted),
    };
    let mut frame = Vec::new();
    loop {
        if args.count.is_some_and(|c| tally.printed >= c) || interrupted.get() {
            return tally.end(out, &args, name, &interrupted);
        }
        // A frame that is there already is printed without flushing, so a fast stream is not
        // written one system call per frame; before sleeping, what was printed goes out.
        let got = match sub.try_recv(&mut frame)? {
            Some(got) => got,
            None => {
                out.flush()?;
                match wait(
                    &mut sub,
                    &mut frame,
                    deadline,
                    &interrupted,
                    &mut tally,
                    out,
                )? {
                    Waited::Frame(got) => got,
                    Waited::Removed => {
                        if args.no_wait {
                            tally.summary(out, name, &interrupted)?;
                            return Err(Error::Failed(format!(
                                "the stream {name:?} was removed (`shmkit rm`, or its last \
                                 user closed it)"
                            )));
                        }
                        note(
                            out,
                            format_args!(
                                "{name} was removed; waiting for a new stream of that name"
                            ),
                        )?;
                        match join(out, &args, JoinAt::Oldest, false, deadline, &interrupted)? {
                            Some(new) => sub = new,
                            None => return tally.end(out, &args, name, &interrupted),
                        }
                        continue;
                    }
                    Waited::Nothing => return tally.end(out, &args, name, &interrupted),
                }
            }
        };
        tally.lost(got, Instant::now(), show.format, out)?;
        print_frame(out, show, name, got, &frame)?;
        tally.printed += 1;
    }
}

/// Subscribes to the stream, waiting for it to appear unless --no-wait. A stream that appeared
/// while we waited is joined at its oldest frame: it is brand new, and whatever its publisher
/// sent before we got there was sent for us. `None`: Ctrl-C came first, or the deadline while
/// waiting for a new stream after a removal.
fn join(
    out: &mut Output,
    args: &Args,
    from: JoinAt,
    announce: bool,
    deadline: Option<Instant>,
    interrupted: &Interrupted,
) -> Result<Option<Subscriber>> {
    let name = args.name.as_str();
    let subscribe = |from: JoinAt| -> Result<Subscriber> {
        StreamOptions::new()
            .from(from)
            .subscribe(name)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound if args.no_wait => Error::Failed(format!(
                    "cannot subscribe to {name:?}: no such stream — start its publisher \
                     (`shmkit pub {name}` creates it), or leave out --no-wait to wait for it"
                )),
                _ => e.into(),
            })
    };
    if args.no_wait {
        return subscribe(from).map(Some);
    }
    let appeared = wait_for(
        out,
        name,
        "no stream of that name yet",
        announce,
        deadline,
        interrupted,
        // Where asked at the first try; a stream that was missing then is new: from its start.
        |first| subscribe(if first { from } else { JoinAt::Oldest }),
    )?;
    match appeared {
        Appeared::AtOnce(sub) | Appeared::Later(sub) => Ok(Some(sub)),
        // The first time, never having seen the stream is a failure; after a removal, running
        // out of time is the end of the run as usual.
        Appeared::TimedOut if announce => Err(Error::Failed(format!(
            "no stream {name:?} appeared within {}",
            util::short_time(args.timeout.unwrap_or_default())
        ))),
        Appeared::TimedOut | Appeared::Interrupted => Ok(None),
    }
}

/// How a wait for the next frame ended.
enum Waited {
    Frame(Received),
    /// The stream's name was removed (or given to a new stream) while nothing came.
    Removed,
    /// The deadline passed, or Ctrl-C.
    Nothing,
}

/// Sleeps until a frame arrives, the deadline passes, Ctrl-C is pressed or the stream is
/// removed, in slices so that the last two are noticed; reports due losses between slices.
fn wait(
    sub: &mut Subscriber,
    frame: &mut Vec<u8>,
    deadline: Option<Instant>,
    interrupted: &Interrupted,
    tally: &mut Tally,
    out: &mut Output,
) -> Result<Waited> {
    loop {
        if interrupted.get() {
            return Ok(Waited::Nothing);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(Waited::Nothing);
        }
        let slice = left.map_or(CHECK_EVERY, |l| l.min(CHECK_EVERY));
        match sub.recv_timeout(frame, slice) {
            Ok(got) => return Ok(Waited::Frame(got)),
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e.into()),
        }
        tally.report_due(Instant::now(), out)?;
        if sub.is_removed() {
            return Ok(Waited::Removed);
        }
    }
}

/// What was printed and lost, and the losses not reported yet.
#[derive(Debug, Default)]
struct Tally {
    printed: u64,
    lost: u64,
    /// Lost since the last report, and the frame they came just before.
    unreported: u64,
    before: u64,
    last_report: Option<Instant>,
}

impl Tally {
    /// Counts the frames lost before `got`; in text and hex, reports them at most once a second.
    fn lost(
        &mut self,
        got: Received,
        now: Instant,
        format: Format,
        out: &mut Output,
    ) -> Result<()> {
        if got.lost == 0 {
            return Ok(());
        }
        self.lost += got.lost;
        if format == Format::Json {
            return Ok(()); // each object has its `lost` field
        }
        self.unreported += got.lost;
        self.before = got.seq;
        self.report_due(now, out)
    }

    /// Reports the unreported losses if the last report is a second old.
    fn report_due(&mut self, now: Instant, out: &mut Output) -> Result<()> {
        if self.unreported == 0
            || self
                .last_report
                .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return Ok(());
        }
        self.report(now, out)
    }

    fn report(&mut self, now: Instant, out: &mut Output) -> Result<()> {
        note(
            out,
            format_args!(
                "lost {} (overwritten before they were read), the latest just before #{}",
                frames(self.unreported),
                self.before
            ),
        )?;
        (self.unreported, self.last_report) = (0, Some(now));
        Ok(())
    }

    /// The end: pending losses, then on Ctrl-C a summary, otherwise the total lost if any.
    fn summary(&mut self, out: &mut Output, name: &str, interrupted: &Interrupted) -> Result<()> {
        if self.unreported > 0 {
            self.report(Instant::now(), out)?;
        }
        if interrupted.get() || self.lost > 0 {
            note(
                out,
                format_args!(
                    "{name}: received {}, lost {}",
                    frames(self.printed),
                    self.lost
                ),
            )?;
        }
        Ok(())
    }

    /// The end of the run: the summary; fails if --count was not reached (the deadline came
    /// first; Ctrl-C is a normal end).
    fn end(
        &mut self,
        out: &mut Output,
        args: &Args,
        name: &str,
        interrupted: &Interrupted,
    ) -> Result<()> {
        self.summary(out, name, interrupted)?;
        match args.count {
            Some(c) if self.printed < c && !interrupted.get() => Err(Error::Failed(format!(
                "timed out after {} with {} of {c} frames",
                util::short_time(args.timeout.unwrap_or_default()),
                self.printed
            ))),
            _ => Ok(()),
        }
    }
}

/// `1 frame`, `3 frames`.
fn frames(n: u64) -> String {
    format!("{n} frame{}", if n == 1 { "" } else { "s" })
}

/// Prints one frame as `show` says.
fn print_frame(
    out: &mut Output,
    show: Show<'_>,
    name: &str,
    got: Received,
    frame: &[u8],
) -> Result<()> {
    if let Some(dir) = show.dir {
        let path = save(dir, got.seq, frame)?;
        return match show.format {
            Format::Json => {
                let mut v = json!({ "name": name, "seq": got.seq, "len": frame.len() });
                v["lost"] = json!(got.lost);
                v["file"] = json!(path.display().to_string());
                out.json_line(&v)
            }
            _ => out.line(format_args!(
                "{} ({})",
                path.display(),
                human_bytes(frame.len() as u64)
            )),
        };
    }
    match show.format {
        Format::Json => {
            let mut v = value_json(name, got.seq, frame);
            v["lost"] = json!(got.lost);
            out.json_line(&v)
        }
        Format::Text if show.no_newline => out.raw(frame),
        _ => print_value(out, show.format, name, got.seq, frame),
    }
}

/// Writes a frame to `DIR/frame-SEQ.bin`, whole: first under a temporary name, then renamed, so
/// whoever watches the directory never sees half a frame.
fn save(dir: &Path, seq: u64, frame: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!("frame-{seq:010}.bin"));
    let part = dir.join(format!(".frame-{seq:010}.bin.part"));
    std::fs::write(&part, frame)
        .and_then(|()| std::fs::rename(&part, &path))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
