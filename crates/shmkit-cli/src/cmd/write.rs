//! `shmkit write`: publish a value to a cell (or write bytes into a bytes segment).

use std::io::{BufRead, Read};
use std::time::Duration;

use shmkit::{Access, ErrorKind, human_bytes};

use crate::error::{Error, Result};
use crate::framing;
use crate::opened::parse_hex;
use crate::output::Output;
use crate::source::{CreateCell, Range, Source};
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// Publish a value to a cell
///
/// Publishes VALUE as the new value of the cell NAME; readers (`shmkit read`, `shmkit watch`,
/// programs using the library) see it at once, whole, and those waiting wake up. Without VALUE,
/// or with `-`, the value is everything read from stdin (binary is fine).
///
/// With --each-line, every line read from stdin is published as a value of its own as soon as
/// it arrives (without its newline): `tail -f log | shmkit write status --each-line`.
///
/// With --create, a missing cell is created first (persistent, like `shmkit create`), with room
/// for values of --capacity bytes — only once the value is known to fit: a write that fails
/// creates nothing.
///
/// TARGET may also be a plain (bytes) shmkit segment: then the value's bytes are written at
/// --offset under the segment's lock, and the segment's change counter is bumped. Or another
/// program's segment — a Qt QSharedMemory (qt:KEY), written under Qt's own lock; a Python or
/// other POSIX object (posix:NAME), a Windows file mapping (Global\NAME, Local\NAME, NAME;
/// opened raw) — whose size never changes: bytes that would not fit are an error, and nothing
/// is written.
///
/// The value can be framed as the classic programs read it: --cstring adds a NUL (an ANSI C
/// string), --utf16 writes UTF-16LE and a NUL (the TCHAR text of a Win32 UNICODE program),
/// --qt-datastream bytes|string|image writes what Qt's `in >> QByteArray`, `in >> QString` or
/// `in >> QImage` reads back (for image, VALUE is a PNG file).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit write status \"all good\"                 publish a text
  shmkit write status --create --capacity 4K hi  create the cell if missing, then publish
  shmkit write cfg --create --capacity 4K --format application/json '{\"on\":true}'
                                                 a JSON value (`shmkit view cfg` shows it)
  date | shmkit write status                     publish stdin
  shmkit write frame < frame.bin                 binary values too
  tail -f app.log | shmkit write last-line --each-line
  shmkit write qt:frames --offset 8 --hex 00ff10  bytes into a Qt app's segment, under its lock
  shmkit write qt:test --qt-datastream bytes \"hello\"   what the Qt reader's `in >> data` reads
  shmkit write qt:QSharedMemoryExample --qt-datastream image picture.png
  shmkit write 'Global\\MyFileMappingObject' --cstring \"hi\"   (Windows) for the sample reader")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// The value; without it (or with -), stdin. With --qt-datastream image: a PNG file
    value: Option<String>,

    /// The value as hex digits (00ff10) instead
    #[arg(long, value_name = "HEX", conflicts_with_all = ["value", "each_line"])]
    hex: Option<String>,

    /// Publish each line of stdin as its own value, as it arrives
    #[arg(short = 'l', long, conflicts_with = "value")]
    each_line: bool,

    /// Create the cell if it does not exist (persistent; needs --capacity)
    #[arg(long, requires = "capacity")]
    create: bool,

    /// The largest value the created cell holds: 4096, 4K, 1MiB (at least 1 byte)
    #[arg(long, value_name = "SIZE", value_parser = parse_capacity)]
    capacity: Option<u64>,

    /// What the values of a created cell are, recorded for every tool to show: a media type
    /// (text/plain, application/json, image/png, any type/subtype) or a raw image
    /// PIXEL:WIDTHxHEIGHT (rgba8:64x64); needs --create
    #[arg(long, value_name = "FORMAT", requires = "create", value_parser = util::parse_format)]
    format: Option<shmkit::Format>,

    /// Permission bits of a created cell, in octal
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = util::parse_mode)]
    mode: u32,

    /// For a bytes segment: where to write, in bytes
    #[arg(long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// How long to wait for the segment's lock (bytes and Qt segments): 500ms, 2s
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = util::parse_duration)]
    timeout: Duration,

    /// Print nothing on success
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    framing: framing::FramingArgs,
}

/// Opens (or creates) the target and publishes the value(s). Everything is checked before a
/// cell is created — the value must fit the capacity asked for — so a failed command creates
/// nothing.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let range = Range {
        offset: args.offset,
        len: None,
        timeout: args.timeout,
    };
    // A missing cell is created only once the first value is known to fit it.
    let mut target = match (args.create, args.capacity) {
        (true, Some(_)) => match Source::open(&args.target, Access::ReadWrite, range) {
            Err(Error::Shmkit(e)) if e.kind() == ErrorKind::NotFound => None,
            other => Some(other?),
        },
        _ => Some(Source::open(&args.target, Access::ReadWrite, range)?),
    };
    if args.each_line {
        let (mut n, mut last) = (0u64, 0u64);
        for line in std::io::stdin().lock().lines() {
            let line = args.framing.encode(line?.as_bytes())?;
            last = opened(&mut target, &args, range, line.len())?.write(&line)?;
            n += 1;
        }
        let target = opened(&mut target, &args, range, 0)?;
        if !args.quiet {
            out.line(format_args!(
                "{}: published {n} values, the last #{last}",
                target.name()
            ))?;
        }
        return Ok(());
    }
    let value = match (args.value.as_deref(), &args.hex) {
        (_, Some(hex)) => parse_hex(hex)?,
        (Some(path), None) if path != "-" && args.framing.is_image() => std::fs::read(path)
            .map_err(|e| Error::Failed(format!("cannot read the picture {path:?}: {e}")))?,
        (Some(v), None) if v != "-" => v.as_bytes().to_vec(),
        _ => {
            let mut v = Vec::new();
            std::io::stdin().lock().read_to_end(&mut v)?;
            v
        }
    };
    let value = args.framing.encode(&value)?;
    let target = opened(&mut target, &args, range, value.len())?;
    let seq = target.write(&value)?;
    if args.quiet {
        return Ok(());
    }
    match target {
        Source::Cell(_) => out.line(format_args!(
            "{}: #{seq}, {}",
            target.name(),
            human_bytes(value.len() as u64)
        )),
        _ => out.line(format_args!(
            "wrote {} at offset {} of {}",
            human_bytes(value.len() as u64),
            args.offset,
            target.name()
        )),
    }
}

/// The open target; if it was missing (with --create), the cell is created now — unless a value
/// of `len` bytes would not fit the capacity asked for, which fails before anything is made.
fn opened<'a>(
    target: &'a mut Option<Source>,
    args: &Args,
    range: Range,
    len: usize,
) -> Result<&'a Source> {
    if let Some(t) = target {
        return Ok(t);
    }
    let capacity = args.capacity.unwrap_or(0);
    let capacity = usize::try_from(capacity)
        .map_err(|_| Error::Failed(format!("a capacity of {capacity} bytes is too large")))?;
    if len > capacity {
        return Err(Error::Failed(format!(
            "cannot create {}: a value of {} does not fit the --capacity of {}; nothing was \
             created (give a larger --capacity)",
            args.target,
            human_bytes(len as u64),
            human_bytes(capacity as u64)
        )));
    }
    if let Some(n) = args.format.as_ref().and_then(shmkit::Format::frame_len) {
        if n > capacity {
            return Err(Error::Failed(format!(
                "cannot create {}: a picture of {} takes {}, more than the --capacity of {}; \
                 nothing was created",
                args.target,
                args.format
                    .as_ref()
                    .map_or(String::new(), ToString::to_string),
                human_bytes(n as u64),
                human_bytes(capacity as u64)
            )));
        }
    }
    let how = CreateCell {
        capacity,
        mode: args.mode,
        format: args.format.clone(),
    };
    Ok(target.insert(Source::open_or_create_cell(&args.target, how, range)?))
}

/// `--capacity`: a size of at least one byte.
fn parse_capacity(s: &str) -> Result<u64, String> {
    match util::parse_size(s)? {
        0 => Err("a cell needs room for at least one byte".into()),
        n => Ok(n),
    }
}
