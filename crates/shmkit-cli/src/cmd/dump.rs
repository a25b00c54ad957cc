//! `shmkit dump`: a segment's bytes in hex, like `hexdump -C`.
//!
//! The segment is opened raw and read-only, so any object can be dumped (foreign ones, shmkit
//! segments of any kind, even one whose header does not validate) and dumping never changes it.
//! For a shmkit segment, offsets count from the start of its data region by default.

use shmkit::{Access, Segment, SegmentInfo, SegmentKind, SegmentOptions, human_bytes};

use crate::error::{Error, Result};
use crate::opened::{DEFAULT_TIMEOUT, Opened};
use crate::output::{HexDump, Output};
use crate::target::{TARGET_HELP, Target};
use crate::util;

/// Bytes shown when `--len` is not given.
const DEFAULT_LIMIT: usize = 4096;
/// Bytes read from the segment at a time.
const CHUNK: usize = 64 * 1024;

/// Show a segment's bytes in hex
///
/// Prints the bytes like `hexdump -C`: offset, 16 bytes in hex, the same bytes as ASCII (. for
/// the others). A run of identical lines is shown once, followed by a line with `*`; the last
/// line is the offset where the dump ends.
///
/// For a shmkit segment, offsets count from the start of its data (the header is skipped);
/// with --all they count from byte 0 of the object and the header is shown too. Other objects
/// have no header: their data is the whole object.
///
/// Without --len at most the first 4 KiB are shown, and a last line says how many bytes
/// remain. The segment is opened read-only and its contents may change while it is read —
/// except a Qt segment (qt:KEY, qt-posix:KEY, Qt's key strings), whose bytes are copied under
/// Qt's own lock, as a Qt app reads them.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit dump cam0                   the first 4 KiB of cam0's data
  shmkit dump cam0 --offset 1K --len 64
  shmkit dump cam0 --all --len 256   the header, from byte 0
  shmkit dump qt:frames --len 64     a Qt app's QSharedMemory(\"frames\")
  shmkit dump posix:psm_1a2b3c4d     a Python segment")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Where to start, in bytes (units as for sizes: 512, 4K)
    #[arg(short, long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// How many bytes to show [default: to the end, at most 4 KiB]
    #[arg(short = 'n', long, value_name = "N", value_parser = util::parse_size)]
    len: Option<u64>,

    /// Show the whole object from byte 0, header included
    #[arg(short, long)]
    all: bool,
}

/// The bytes offsets count from: the data region, or the whole object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    /// Where it starts in the object.
    start: usize,
    /// Its length.
    len: usize,
}

/// The part of the region to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Offset in the region.
    offset: usize,
    /// Bytes to show.
    len: usize,
    /// Bytes after the window that the default limit left out.
    left_out: usize,
}

/// Opens the segment read-only and prints the window asked for.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let name = match &args.target {
        Target::Shmkit(name) => name.clone(),
        Target::Posix(name) => name.to_string(),
        Target::Qt(_) => return dump_qt(&args, out),
    };
    let segment = match SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .open(name.as_str())
    {
        Ok(s) => s,
        // No such object, and not a portable name: say which rule the name breaks.
        Err(e)
            if e.kind() == shmkit::ErrorKind::NotFound && !shmkit::SegmentName::is_valid(&name) =>
        {
            return Err(shmkit::SegmentName::new(&name)
                .err()
                .map_or(e, |p| p)
                .into());
        }
        Err(e) => return Err(e.into()),
    };
    // Described after opening: the name now certainly refers to the object we hold.
    let info = Segment::info(&name)?;
    let region = region(&info, segment.len(), args.all);
    let window = window(region, args.offset, args.len)
        .map_err(|why| Error::Failed(format!("cannot dump {name:?}: {why}")))?;
    hexdump(
        out,
        &|at, buf| Ok(segment.read(at, buf)?),
        region.start,
        window,
    )?;
    left_out(out, window)
}

/// A Qt segment: the window is copied under Qt's lock, then printed.
fn dump_qt(args: &Args, out: &mut Output) -> Result<()> {
    let seg = Opened::open(&args.target, Access::ReadOnly, DEFAULT_TIMEOUT)?;
    let region = Region {
        start: 0,
        len: seg.len(),
    };
    let window = window(region, args.offset, args.len)
        .map_err(|why| Error::Failed(format!("cannot dump {}: {why}", args.target)))?;
    let mut copy = vec![0u8; window.len];
    {
        let _held = seg.lock(DEFAULT_TIMEOUT)?;
        seg.read(window.offset, &mut copy)?;
    }
    let base = window.offset;
    hexdump(
        out,
        &|at, buf| {
            let from = at - base;
            buf.copy_from_slice(&copy[from..from + buf.len()]);
            Ok(())
        },
        0,
        window,
    )?;
    left_out(out, window)
}

fn left_out(out: &mut Output, window: Window) -> Result<()> {
    if window.left_out > 0 {
        let rest = window.len + window.left_out;
        out.line(format_args!(
            "(showed {} of the {} from offset {}; --len {rest} shows them all)",
            human_bytes(window.len as u64),
            human_bytes(rest as u64),
            window.offset,
        ))?;
    }
    Ok(())
}

/// The data region of a valid shmkit segment (unless `all`), otherwise the whole object of
/// `object_len` bytes. Header values are checked against the mapping, not trusted.
fn region(info: &SegmentInfo, object_len: usize, all: bool) -> Region {
    let whole = Region {
        start: 0,
        len: object_len,
    };
    if all || !matches!(info.kind, SegmentKind::Shmkit(_)) {
        return whole;
    }
    let (Some(offset), Some(len)) = (info.data_offset, info.data_len) else {
        return whole;
    };
    match (usize::try_from(offset), usize::try_from(len)) {
        (Ok(start), Ok(len)) if start.checked_add(len).is_some_and(|end| end <= object_len) => {
            Region { start, len }
        }
        _ => whole,
    }
}

/// The bytes `offset..offset+len` of `region`, or why they are not in it.
fn window(region: Region, offset: u64, len: Option<u64>) -> Result<Window, String> {
    let size = region.len;
    let what = format!("its {size} bytes ({})", human_bytes(size as u64));
    let offset = usize::try_from(offset)
        .ok()
        .filter(|&o| o < size || (o == size && len == Some(0)))
        .ok_or_else(|| format!("offset {offset} is not inside {what}"))?;
    let available = size - offset;
    match len {
        None => {
            let len = available.min(DEFAULT_LIMIT);
            Ok(Window {
                offset,
                len,
                left_out: available - len,
            })
        }
        Some(n) => match usize::try_from(n) {
            Ok(len) if len <= available => Ok(Window {
                offset,
                len,
                left_out: 0,
            }),
            _ => Err(format!(
                "bytes {offset}..{} are not inside {what}; at most {available} remain from \
                 offset {offset}",
                u128::from(n) + offset as u128
            )),
        },
    }
}

/// Reads bytes at an offset of the object.
type Reader<'a> = &'a dyn Fn(usize, &mut [u8]) -> Result<()>;

/// Prints `window` of the region starting at `start`, read through `read`, line by line, with
/// repeated lines collapsed to `*`.
fn hexdump(out: &mut Output, read: Reader<'_>, start: usize, window: Window) -> Result<()> {
    if window.len == 0 {
        return Ok(());
    }
    let end = window.offset + window.len;
    let mut dump = HexDump::new(window.offset, end);
    let mut buf = vec![0u8; CHUNK.min(window.len)];
    let mut at = window.offset;
    while at < end {
        let chunk = &mut buf[..CHUNK.min(end - at)];
        read(start + at, chunk)?;
        dump.feed(out, chunk)?;
        at += chunk.len();
    }
    dump.finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: Region = Region {
        start: 4096,
        len: 10_000,
    };

    #[test]
    fn default_window_is_capped() {
        assert_eq!(
            window(DATA, 0, None),
            Ok(Window {
                offset: 0,
                len: 4096,
                left_out: 10_000 - 4096,
            })
        );
        assert_eq!(
            window(DATA, 9_000, None),
            Ok(Window {
                offset: 9_000,
                len: 1_000,
                left_out: 0,
            })
        );
    }

    #[test]
    fn explicit_windows_must_fit() {
        assert_eq!(window(DATA, 10, Some(9_990)).map(|w| w.len), Ok(9_990));
        assert_eq!(window(DATA, 10_000, Some(0)).map(|w| w.len), Ok(0));
        let err = window(DATA, 10, Some(9_991)).unwrap_err();
        assert!(
            err.contains("bytes 10..10001 are not inside its 10000 bytes"),
            "{err}"
        );
        let err = window(DATA, 10_000, None).unwrap_err();
        assert!(err.contains("offset 10000 is not inside"), "{err}");
        assert!(window(DATA, u64::MAX, Some(u64::MAX)).is_err());
        assert!(window(DATA, 1, Some(u64::MAX)).is_err());
    }
}
