//! `shmkit read`: print a cell's latest value (or a bytes segment's bytes).

use std::path::PathBuf;
use std::time::Duration;

use shmkit::Access;

use crate::error::{Error, Result};
use crate::framing::{self, Decoded};
use crate::output::{Format, Output};
use crate::source::{Range, Source};
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// Print a cell's latest value
///
/// Prints the newest value of the cell NAME: a whole value, never a mix of two, even while a
/// writer publishes. By default the bytes as they are, then a newline; --hex shows a hex dump;
/// --json one object with the value's sequence number and length.
///
/// TARGET may also be a plain (bytes) shmkit segment, or another program's segment — a Qt
/// QSharedMemory (qt:KEY; read under Qt's own lock), a Python or other POSIX object
/// (posix:NAME), a Windows file mapping (Global\NAME, Local\NAME, NAME; opened raw) — then
/// --offset and --len choose the bytes (default: all of them).
///
/// What the classic programs put in there is decoded on request: --cstring stops at the first
/// NUL (an ANSI C string), --utf16 reads the TCHAR text of a Win32 UNICODE program (UTF-16LE up
/// to a NUL), --qt-datastream bytes|string|image undoes Qt's QDataStream framing (a QByteArray
/// or `out << "text"`, a QString, a QImage: its picture is written as a PNG with --out). A
/// length that runs past the segment is an error, never an over-read.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit read status             the latest value
  shmkit read status --json      {\"name\":\"status\",\"seq\":42,\"len\":7,\"text\":\"all good\"}
  shmkit read frame > frame.bin  binary values, byte for byte (plus a final newline; see -n)
  shmkit read table --offset 4K --len 64 --hex
  shmkit read qt:frames --len 16 --hex       a Qt app's segment, under Qt's lock
  shmkit read posix:psm_1a2b3c4d -n > data   a Python SharedMemory's bytes
  shmkit read qt:test --qt-datastream bytes  a Qt program's `out << \"text\"`
  shmkit read qt:QSharedMemoryExample --qt-datastream image --out picture.png
  shmkit read 'Global\\MyFileMappingObject' --cstring   (Windows) a Win32 sample's text
  shmkit read test_shared_memory --utf16     (Windows) a UNICODE program's text")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Show a hex dump
    #[arg(long, conflicts_with = "json")]
    hex: bool,

    /// Print one JSON object: name, seq, len, and text (or hex for non-UTF-8 bytes)
    #[arg(long)]
    json: bool,

    /// Do not add a newline after the value
    #[arg(short = 'n', long)]
    no_newline: bool,

    /// For a bytes segment: the first byte to read
    #[arg(long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// For a bytes segment: how many bytes [default: to the end of its data]
    #[arg(long, value_name = "N", value_parser = util::parse_size)]
    len: Option<u64>,

    /// How long to wait for the segment's lock (bytes and Qt segments): 500ms, 2s
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = util::parse_duration)]
    timeout: Duration,

    #[command(flatten)]
    framing: framing::FramingArgs,

    /// With --qt-datastream image: write the picture to FILE (a PNG, byte for byte what Qt
    /// wrote)
    #[arg(long, value_name = "FILE", requires = "qt_datastream")]
    out: Option<PathBuf>,
}

/// Opens the source read-only and prints its value once.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let range = Range {
        offset: args.offset,
        len: args.len,
        timeout: args.timeout,
    };
    if args.out.is_some() && !args.framing.is_image() {
        return Err(Error::Failed(
            "--out writes a QImage's picture (--qt-datastream image); redirect stdout for other values"
                .into(),
        ));
    }
    let source = Source::open(&args.target, Access::ReadOnly, range)?;
    let mut raw = Vec::new();
    let seq = source.read(&mut raw)?;
    let value = args.framing.decode(source.name(), &raw)?;
    let format = Format::from_flags(args.hex, args.json);
    if let (Format::Text, true, Decoded::Bytes(bytes)) = (format, args.no_newline, &value) {
        return out.raw(bytes);
    }
    framing::print(out, format, source.name(), seq, &value, args.out.as_deref())
}
