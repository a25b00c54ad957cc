//! `shmkit pub`: publish stdin lines, or whole files, as frames of a stream.

use std::fs::File;
use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use shmkit::stream::{Policy, Publisher, StreamOptions};
use shmkit::{ErrorKind, Format, Lifetime, human_bytes};

use crate::error::{Error, Result};
use crate::follow::note;
use crate::interrupt::{CHECK_EVERY, Interrupted, on_interrupt};
use crate::output::Output;
use crate::util;

/// The largest frame of a stream `pub` creates, unless --max-frame (or a raw image --format)
/// says otherwise.
const DEFAULT_MAX_FRAME: u64 = 64 << 10;

/// Frames of a raw image format a created stream's ring holds, unless --ring says otherwise
/// (what `shmkit bench` measured as a good middle for large frames).
const IMAGE_RING_FRAMES: usize = 4;

const FORMAT_HELP_PUB: &str = "What the frames of a created stream are, recorded for every tool \
to show: a raw image PIXEL:WIDTHxHEIGHT[:stride=BYTES] with PIXEL gray8, gray16le, rgb8, bgr8, \
rgba8 or bgra8 (rgba8:1920x1080: then every frame is one picture of exactly that many bytes, \
and the largest frame defaults to it), or a media type (image/png, image/jpeg, text/plain, \
application/json, any type/subtype)";

/// Publish frames to a stream
///
/// Publishes each line read from stdin as a frame of the stream NAME, without its newline, as
/// soon as the line arrives. With --file, each file's whole content is one frame instead
/// (binary is fine), in the order given. Subscribers (`shmkit sub`, programs using the library)
/// receive every frame in order, each at its own pace.
///
/// A publisher owns its stream: a missing stream is created first — persistent, like `shmkit
/// create`, until `shmkit rm` — for frames of up to --max-frame bytes in a ring of --ring bytes
/// (--no-create fails instead). An existing stream keeps the settings it was made with (a note
/// says so when the options given differ).
///
/// A stream has one publisher at a time: while another process publishes to NAME, this one
/// fails at once and names that process (--wait gives it time to finish).
///
/// When the ring is full, an `overwrite` stream (the default) overwrites its oldest frames: the
/// publisher never waits, and a subscriber that falls behind learns how many frames it lost. A
/// `block` stream makes the publisher wait for its slowest subscriber instead.
///
/// A frame larger than the stream's maximum is an error (exit status 1) and nothing of it is
/// published; with --file, every file is checked against the stream it publishes to before
/// anything is published (or created). Reading from a terminal, it says so; Ctrl-C (and
/// Ctrl-D, the end of the input) ends it with the summary and exit status 0.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit pub ticks                           each line you type is a frame (creates ticks)
  seq 100 | shmkit pub log                   100 frames; `shmkit sub log` elsewhere gets them all
  tail -f app.log | shmkit pub log           each new line of the log is a frame
  shmkit pub images -f a.png -f b.png        two files, two frames, byte for byte
  shmkit pub cam0 --max-frame 8M --ring 64M --policy block --file frame.raw
  shmkit pub cam0 --format rgba8:640x480 -f frame.rgba   a picture `shmkit view cam0` draws
  shmkit pub shots --format image/png -f a.png           PNG files, shown as pictures
  shmkit pub log --no-create < more.txt      only to a stream that exists
  shmkit pub log --wait 5s < more.txt        wait up to 5 s for the current publisher to end
  shmkit sub log --from oldest               (elsewhere) the frames still in the ring, then new ones")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// Publish this file's whole content as one frame (repeat for more frames) instead of
    /// stdin's lines
    #[arg(short, long, value_name = "PATH")]
    file: Vec<PathBuf>,

    /// Fail if the stream does not exist, instead of creating it
    #[arg(long)]
    no_create: bool,

    /// Create the stream if it does not exist: what pub does anyway (kept for scripts)
    #[arg(long, hide = true, conflicts_with = "no_create")]
    create: bool,

    /// The largest frame of a created stream: 4096, 64K, 8MiB [default: 64K]
    #[arg(long, value_name = "SIZE", conflicts_with = "no_create", value_parser = util::parse_size)]
    max_frame: Option<u64>,

    /// The ring of a created stream, rounded up to a power of two; at least two maximum frames
    /// [default: 8 maximum frames, at least 64K]
    #[arg(long, value_name = "SIZE", conflicts_with = "no_create", value_parser = util::parse_size)]
    ring: Option<u64>,

    /// What a created stream does when its ring is full: overwrite the oldest frames, or block
    /// the publisher until the slowest subscriber has read them [default: overwrite]
    #[arg(long, value_name = "POLICY", conflicts_with = "no_create")]
    policy: Option<PolicyArg>,

    #[arg(long, value_name = "FORMAT", help = FORMAT_HELP_PUB, conflicts_with = "no_create",
          value_parser = util::parse_format)]
    format: Option<Format>,

    /// Permission bits of a created stream, in octal [default: 600]
    #[arg(long, value_name = "OCTAL", conflicts_with = "no_create", value_parser = util::parse_mode)]
    mode: Option<u32>,

    /// How long to wait for another process publishing to the stream to end: 500ms, 5s
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = util::parse_duration)]
    wait: Duration,

    /// Print nothing on success
    #[arg(short, long)]
    quiet: bool,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PolicyArg {
    Overwrite,
    Block,
}

impl From<PolicyArg> for Policy {
    fn from(p: PolicyArg) -> Policy {
        match p {
            PolicyArg::Overwrite => Policy::Overwrite,
            PolicyArg::Block => Policy::Block,
        }
    }
}

/// Becomes the stream's publisher and publishes the files or stdin's lines.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let name = args.name.as_str();
    let files = args
        .file
        .iter()
        .map(|path| {
            let len = std::fs::metadata(path)
                .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?
                .len();
            Ok((path.as_path(), len))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut publisher = open(&args, &files, out)?;
    let interrupted = on_interrupt();
    let mut sent = Sent::default();
    if files.is_empty() {
        if std::io::stdin().is_terminal() && !args.quiet {
            note(
                out,
                format_args!(
                    "publishing each line you type to {name} as a frame (Ctrl-D or Ctrl-C \
                     ends)"
                ),
            )?;
        }
        let lines = read_lines(publisher.max_frame());
        loop {
            if interrupted.get() {
                break;
            }
            let line = match lines.recv_timeout(CHECK_EVERY) {
                Ok(Line::Whole(line)) => line,
                Ok(Line::TooLong) => {
                    return Err(Error::Failed(format!(
                        "cannot publish to {name:?}: line {} is longer than the stream's \
                         largest frame of {}; it was not published",
                        sent.frames + 1,
                        human_bytes(publisher.max_frame() as u64),
                    )));
                }
                Ok(Line::Failed(why)) => return Err(Error::Failed(why)),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            picture_fits(name, publisher.format(), line.len(), || {
                format!("line {}", sent.frames + 1)
            })?;
            match send(&mut publisher, &line, &interrupted)? {
                Some(seq) => sent.add(seq, line.len()),
                None => break,
            }
        }
    } else {
        for (path, len) in &files {
            if interrupted.get() {
                break;
            }
            sent.add(send_file(&mut publisher, path, *len)?, *len as usize);
        }
    }
    if args.quiet {
        return Ok(());
    }
    let stopped = if interrupted.get() {
        " (stopped by Ctrl-C)"
    } else {
        ""
    };
    match sent.frames {
        0 => out.line(format_args!("{name}: published no frames{stopped}")),
        n => out.line(format_args!(
            "{name}: published {n} frame{s} ({}), the last #{}{stopped}",
            human_bytes(sent.bytes),
            sent.last,
            s = if n == 1 { "" } else { "s" },
        )),
    }
}

/// Publishes `frame`; with a `block` stream, waits for room in slices so that Ctrl-C is noticed
/// (`None`).
fn send(publisher: &mut Publisher, frame: &[u8], interrupted: &Interrupted) -> Result<Option<u64>> {
    loop {
        match publisher.send_timeout(frame, CHECK_EVERY) {
            Ok(seq) => return Ok(Some(seq)),
            Err(e) if e.kind() == ErrorKind::Timeout => {
                if interrupted.get() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// One line of stdin, read by [`read_lines`]' thread.
enum Line {
    /// A line, without its newline.
    Whole(Vec<u8>),
    /// A line longer than the stream's largest frame (the reading stops there).
    TooLong,
    /// Reading stdin failed.
    Failed(String),
}

/// Reads stdin's lines on a thread of their own, so that the publisher can notice Ctrl-C while
/// a read waits for input; the channel ends with the input.
fn read_lines(max: usize) -> mpsc::Receiver<Line> {
    let (tx, rx) = mpsc::sync_channel(256);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            let msg = match read_line(&mut stdin, &mut line, max) {
                Ok(None) => return,
                Ok(Some(true)) => Line::Whole(std::mem::take(&mut line)),
                Ok(Some(false)) => Line::TooLong,
                Err(e) => Line::Failed(e.to_string()),
            };
            let last = !matches!(msg, Line::Whole(_));
            if tx.send(msg).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// What was published.
#[derive(Debug, Default)]
struct Sent {
    frames: u64,
    bytes: u64,
    last: u64,
}

impl Sent {
    fn add(&mut self, seq: u64, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        self.last = seq;
    }
}

/// Becomes the publisher of the stream, creating it if it is missing (unless --no-create).
/// Checks the files against the stream it opened — an existing one's own maximum — and, for a
/// stream it would create, everything before creating it: a command that fails creates nothing.
fn open(args: &Args, files: &[(&Path, u64)], out: &mut Output) -> Result<Publisher> {
    let name = args.name.as_str();
    let check = |p: &Publisher| -> Result<()> {
        for (path, len) in files {
            fits(name, path, *len, p.max_frame() as u64)?;
            picture_fits(name, p.format(), *len as usize, || {
                path.display().to_string()
            })?;
        }
        Ok(())
    };
    match StreamOptions::new().open_publisher(name, args.wait) {
        Ok(p) => {
            check(&p)?;
            settings_kept(args, &p, out)?;
            return Ok(p);
        }
        Err(e) if e.kind() == ErrorKind::NotFound && !args.no_create => {}
        Err(e) => return Err(open_error(args, e)),
    }
    let picture = args.format.as_ref().and_then(Format::frame_len);
    let max_frame = args
        .max_frame
        .or(picture.map(|n| n as u64))
        .unwrap_or(DEFAULT_MAX_FRAME);
    for (path, len) in files {
        fits(name, path, *len, max_frame)?;
        picture_fits(name, args.format.as_ref(), *len as usize, || {
            path.display().to_string()
        })?;
    }
    let size = |what: &str, v: u64| {
        usize::try_from(v).map_err(|_| Error::Failed(format!("{what} of {v} bytes is too large")))
    };
    let mut opts = StreamOptions::new()
        .max_frame(size("a maximum frame", max_frame)?)
        .policy(args.policy.unwrap_or(PolicyArg::Overwrite).into())
        .mode(args.mode.unwrap_or(0o600))
        .lifetime(Lifetime::Persistent);
    match (args.ring, picture) {
        (Some(ring), _) => opts = opts.ring(size("a ring", ring)?),
        (None, Some(_)) => {
            let frame = shmkit::stream::frame_size(size("a maximum frame", max_frame)?);
            opts = opts.ring(frame.saturating_mul(IMAGE_RING_FRAMES));
        }
        (None, None) => {}
    }
    if let Some(f) = &args.format {
        opts = opts.format(f.clone());
    }
    // The options are checked before anything is created; another process may have created
    // the stream meanwhile, with its own settings: checked again.
    let p = opts
        .create_or_open_publisher(name, args.wait)
        .map_err(|e| open_error(args, e))?;
    check(&p)?;
    Ok(p)
}

/// Says on stderr which of the creation options given an existing stream does not have.
fn settings_kept(args: &Args, p: &Publisher, out: &mut Output) -> Result<()> {
    let mut differ = Vec::new();
    if let Some(m) = args.max_frame.filter(|&m| m != p.max_frame() as u64) {
        differ.push(format!(
            "--max-frame {} (it has {})",
            human_bytes(m),
            human_bytes(p.max_frame() as u64)
        ));
    }
    if let Some(r) = args
        .ring
        .filter(|&r| r.checked_next_power_of_two() != Some(p.ring_len() as u64))
    {
        differ.push(format!(
            "--ring {} (it has {})",
            human_bytes(r),
            human_bytes(p.ring_len() as u64)
        ));
    }
    if let Some(policy) = args.policy.filter(|&x| Policy::from(x) != p.policy()) {
        differ.push(format!(
            "--policy {} (it has {})",
            Policy::from(policy).as_str(),
            p.policy().as_str()
        ));
    }
    if let Some(f) = args.format.as_ref().filter(|&f| p.format() != Some(f)) {
        let has = p.format().map_or("none".to_string(), ToString::to_string);
        differ.push(format!("--format {f} (it has {has})"));
    }
    if differ.is_empty() || args.quiet {
        return Ok(());
    }
    note(
        out,
        format_args!(
            "{} exists already and keeps its settings: {} apply only to a stream pub creates \
             (`shmkit rm {}` first to make it anew)",
            args.name,
            differ.join(", "),
            args.name
        ),
    )
}

/// The error of opening or creating the stream, with what to do.
fn open_error(args: &Args, e: shmkit::Error) -> Error {
    let name = args.name.as_str();
    match e.kind() {
        ErrorKind::NotFound => Error::Failed(format!(
            "cannot publish to {name:?}: no such stream — leave out --no-create to create it"
        )),
        ErrorKind::Timeout if args.wait.is_zero() => {
            Error::Failed(format!("{e} — `--wait DUR` waits for it to end"))
        }
        ErrorKind::Timeout => Error::Failed(format!("{e}; waited {}", util::short_time(args.wait))),
        _ => e.into(),
    }
}

/// Fails unless a file of `len` bytes fits a frame of at most `max` bytes.
fn fits(name: &str, path: &std::path::Path, len: u64, max: u64) -> Result<()> {
    if len <= max {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "cannot publish to {name:?}: {} has {}, more than the stream's largest frame of {}; \
         nothing was published",
        path.display(),
        human_bytes(len),
        human_bytes(max),
    )))
}

/// Fails unless a frame of `len` bytes is one whole picture of the stream's raw image format
/// (any length fits other formats): a viewer could not draw it.
fn picture_fits(
    name: &str,
    format: Option<&Format>,
    len: usize,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match format.and_then(|f| f.frame_len().map(|n| (f, n))) {
        Some((f, n)) if n != len => Err(Error::Failed(format!(
            "cannot publish to {name:?}: its frames are pictures of {f}, {n} bytes each, and {} \
             has {len}; nothing of it was published",
            what()
        ))),
        _ => Ok(()),
    }
}

/// Reads the file straight into the ring (a loan: no copy in between) and publishes it. A file
/// that changed size since it was checked is an error, and its frame is abandoned.
fn send_file(publisher: &mut Publisher, path: &std::path::Path, len: u64) -> Result<u64> {
    let cannot = |e: std::io::Error| Error::Failed(format!("cannot read {}: {e}", path.display()));
    let mut file = File::open(path).map_err(cannot)?;
    let mut frame = publisher.loan(len as usize)?;
    file.read_exact(&mut frame).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => changed(path),
        _ => cannot(e),
    })?;
    if file.read(&mut [0u8; 1]).map_err(cannot)? != 0 {
        return Err(changed(path));
    }
    Ok(frame.commit())
}

fn changed(path: &std::path::Path) -> Error {
    Error::Failed(format!(
        "{} changed size while it was read; it was not published",
        path.display()
    ))
}

/// Reads the next line (without `\n` or `\r\n`) into `line`. `None` at the end of the input;
/// `Some(false)` if the line is longer than `max` bytes (then the rest of it is not read, so an
/// endless line costs no memory).
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> Result<Option<bool>> {
    line.clear();
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Failed(format!("cannot read stdin: {e}"))),
        };
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line.len() <= max));
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        // One byte over `max` may still be a `\r` that the `\n` after it removes.
        if line.len() + chunk.len() > max + 1 {
            return Ok(Some(false));
        }
        line.extend_from_slice(chunk);
        let used = newline.map_or(chunk.len(), |i| i + 1);
        input.consume(used);
        if newline.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line.len() <= max));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut r = std::io::BufReader::with_capacity(3, input);
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(whole) = read_line(&mut r, &mut line, max).unwrap() {
            if !whole {
                got.push(None);
                break;
            }
            got.push(Some(line.clone()));
        }
        got
    }

    #[test]
    fn lines_lose_their_newline_and_a_last_line_needs_none() {
        let want = |v: &[&[u8]]| v.iter().map(|l| Some(l.to_vec())).collect::<Vec<_>>();
        assert_eq!(
            lines(b"one\ntwo\r\n\nlast", 10),
            want(&[b"one", b"two", b"", b"last"])
        );
        assert_eq!(lines(b"", 10), want(&[]));
        assert_eq!(lines(b"\n", 10), want(&[b""]));
        assert_eq!(lines(b"\xff\x00bin\n", 10), want(&[b"\xff\x00bin"]));
    }

    #[test]
    fn a_line_longer_than_the_maximum_stops_the_reading() {
        assert_eq!(
            lines(b"12345\n123456\nmore\n", 5),
            vec![Some(b"12345".to_vec()), None]
        );
        assert_eq!(lines(b"12345\r\n", 5), vec![Some(b"12345".to_vec())]);
        assert_eq!(lines(b"123456", 5), vec![None]);
        assert_eq!(lines(b"12345\r", 5), vec![None]);
    }
}
