//! `shmkit pub`: publish stdin lines, or whole files, as frames of a stream.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use shmkit::stream::{Policy, Publisher, StreamOptions};
use shmkit::{ErrorKind, Lifetime, human_bytes};

use crate::error::{Error, Result};
use crate::output::Output;
use crate::util;

/// The largest frame of a stream made with --create, unless --max-frame says otherwise.
const DEFAULT_MAX_FRAME: u64 = 64 << 10;

/// Publish frames to a stream
///
/// Publishes each line read from stdin as a frame of the stream NAME, without its newline, as
/// soon as the line arrives. With --file, each file's whole content is one frame instead
/// (binary is fine), in the order given. Subscribers (`shmkit sub`, programs using the library)
/// receive every frame in order, each at its own pace.
///
/// A stream has one publisher at a time: while another process publishes to NAME, this one
/// fails at once and names that process (--wait gives it time to finish).
///
/// With --create, a missing stream is created first — persistent, like `shmkit create`, until
/// `shmkit rm` — for frames of up to --max-frame bytes in a ring of --ring bytes. An existing
/// stream keeps the settings it was made with.
///
/// When the ring is full, an `overwrite` stream (the default) overwrites its oldest frames: the
/// publisher never waits, and a subscriber that falls behind learns how many frames it lost. A
/// `block` stream makes the publisher wait for its slowest subscriber instead.
///
/// A frame larger than the stream's maximum is an error (exit status 1) and nothing of it is
/// published; with --file, every file is checked before the first one is published.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit pub ticks --create                  create the stream, then publish each line typed
  tail -f app.log | shmkit pub log --create  each new line of the log is a frame
  shmkit pub images -f a.png -f b.png        two files, two frames, byte for byte
  shmkit pub cam0 --create --max-frame 8M --ring 64M --policy block --file frame.raw
  shmkit pub log --wait 5s < more.txt        wait up to 5 s for the current publisher to end
  shmkit sub log --from oldest               (elsewhere) the frames still in the ring, then new ones")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// Publish this file's whole content as one frame (repeat for more frames) instead of
    /// stdin's lines
    #[arg(short, long, value_name = "PATH")]
    file: Vec<PathBuf>,

    /// Create the stream if it does not exist (persistent)
    #[arg(long)]
    create: bool,

    /// The largest frame of a created stream: 4096, 64K, 8MiB [default: 64K]
    #[arg(long, value_name = "SIZE", requires = "create", value_parser = util::parse_size)]
    max_frame: Option<u64>,

    /// The ring of a created stream, rounded up to a power of two; at least two maximum frames
    /// [default: 8 maximum frames, at least 64K]
    #[arg(long, value_name = "SIZE", requires = "create", value_parser = util::parse_size)]
    ring: Option<u64>,

    /// What a created stream does when its ring is full: overwrite the oldest frames, or block
    /// the publisher until the slowest subscriber has read them
    #[arg(
        long,
        value_name = "POLICY",
        requires = "create",
        default_value = "overwrite"
    )]
    policy: PolicyArg,

    /// Permission bits of a created stream, in octal
    #[arg(long, value_name = "OCTAL", requires = "create", default_value = "600", value_parser = util::parse_mode)]
    mode: u32,

    /// How long to wait for another process publishing to the stream to end: 500ms, 5s
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = util::parse_duration)]
    wait: Duration,

    /// Print nothing on success
    #[arg(short, long)]
    quiet: bool,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
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
    let max_frame = args.max_frame.unwrap_or(DEFAULT_MAX_FRAME);
    // Every file exists and fits before the stream is touched (when the maximum is known).
    let files = args
        .file
        .iter()
        .map(|path| {
            let len = std::fs::metadata(path)
                .map_err(|e| Error::Failed(format!("cannot read {}: {e}", path.display())))?
                .len();
            if args.create {
                fits(name, path, len, max_frame)?;
            }
            Ok((path, len))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut publisher = open(&args)?;
    let max = publisher.max_frame() as u64;
    for (path, len) in &files {
        fits(name, path, *len, max)?;
    }

    let mut sent = Sent::default();
    if files.is_empty() {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        while let Some(whole) = read_line(&mut stdin, &mut line, publisher.max_frame())? {
            if !whole {
                return Err(Error::Failed(format!(
                    "cannot publish to {name:?}: line {} is longer than the stream's largest \
                     frame of {}; it was not published",
                    sent.frames + 1,
                    human_bytes(max),
                )));
            }
            sent.add(publisher.send(&line)?, line.len());
        }
    } else {
        for (path, len) in &files {
            sent.add(send_file(&mut publisher, path, *len)?, *len as usize);
        }
    }
    if args.quiet {
        return Ok(());
    }
    match sent.frames {
        0 => out.line(format_args!("{name}: published no frames")),
        n => out.line(format_args!(
            "{name}: published {n} frame{s} ({}), the last #{}",
            human_bytes(sent.bytes),
            sent.last,
            s = if n == 1 { "" } else { "s" },
        )),
    }
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

/// Opens (or creates) the stream as its publisher, with messages that say what to do.
fn open(args: &Args) -> Result<Publisher> {
    let name = args.name.as_str();
    let mut opts = StreamOptions::new();
    let result = if args.create {
        let size = |what: &str, v: u64| {
            usize::try_from(v)
                .map_err(|_| Error::Failed(format!("{what} of {v} bytes is too large")))
        };
        opts = opts
            .max_frame(size(
                "a maximum frame",
                args.max_frame.unwrap_or(DEFAULT_MAX_FRAME),
            )?)
            .policy(args.policy.into())
            .mode(args.mode)
            .lifetime(Lifetime::Persistent);
        if let Some(ring) = args.ring {
            opts = opts.ring(size("a ring", ring)?);
        }
        opts.create_or_open_publisher(name, args.wait)
    } else {
        opts.open_publisher(name, args.wait)
    };
    result.map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::Failed(format!(
            "cannot publish to {name:?}: no such segment — `shmkit pub {name} --create` creates it"
        )),
        ErrorKind::Timeout if args.wait.is_zero() => {
            Error::Failed(format!("{e} — `--wait DUR` waits for it to end"))
        }
        ErrorKind::Timeout => Error::Failed(format!("{e}; waited {}", util::short_time(args.wait))),
        _ => e.into(),
    })
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
