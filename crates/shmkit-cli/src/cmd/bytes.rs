//! `shmkit read` / `shmkit write`: raw bytes of any segment — a shmkit bytes segment's data, a
//! plain POSIX object (Python's, C's), or a Qt segment (under Qt's lock) — and the functions
//! behind them ([`read_bytes`], [`write_bytes`], [`Opened`]) for other commands to reuse.
//!
//! These two subcommands handle bytes only; cells and streams have their own commands.

use std::io::Read;
use std::time::Duration;

use shmkit::interop::qt;
use shmkit::{Access, Segment, SegmentKind, SegmentOptions};

use crate::error::{Error, Result};
use crate::output::Output;
use crate::target::{TARGET_HELP, Target, parse_duration};
use crate::util;

/// How long commands wait for a lock (Qt's, or a shmkit segment's) unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open target: a shmkit or plain segment, or a Qt segment.
#[derive(Debug)]
pub enum Opened {
    /// A shmkit bytes segment (offsets count in its data) or a raw/foreign object (from byte 0).
    Plain(Segment),
    /// A Qt segment, with Qt's lock.
    Qt(qt::Segment),
}

/// Whatever lock the target has, held (released on drop).
#[derive(Debug)]
#[allow(dead_code)] // the guards are held for their Drop
pub enum Held<'a> {
    /// A shmkit segment's lock.
    Shmkit(shmkit::LockGuard<'a>),
    /// Qt's lock.
    Qt(qt::LockGuard<'a>),
    /// The target has no lock (a plain POSIX object).
    None,
}

impl Opened {
    /// Opens `target` with `access`; waits at most `timeout` for Qt's lock, which Qt's attach
    /// takes too.
    pub fn open(target: &Target, access: Access, timeout: Duration) -> Result<Opened> {
        match target {
            Target::Qt(key) => Ok(Opened::Qt(
                qt::Options::new()
                    .access(access)
                    .timeout(timeout)
                    .open(key)?,
            )),
            Target::Posix(name) => Ok(Opened::Plain(
                SegmentOptions::new().raw(true).access(access).open(name)?,
            )),
            Target::Shmkit(name) => {
                let info = Segment::info(name)?;
                let raw = match info.kind {
                    SegmentKind::Shmkit(shmkit::Kind::Bytes) => false,
                    SegmentKind::Shmkit(kind) => {
                        return Err(Error::Failed(format!(
                            "{name:?} is a {kind}, not a bytes segment: read it with the {kind} commands"
                        )));
                    }
                    _ => true,
                };
                Ok(Opened::Plain(
                    SegmentOptions::new()
                        .raw(raw)
                        .access(access)
                        .open(name.as_str())?,
                ))
            }
        }
    }

    /// The number of bytes that offsets reach.
    pub fn len(&self) -> usize {
        match self {
            Opened::Plain(s) => s.len(),
            Opened::Qt(s) => s.len(),
        }
    }

    /// Copies bytes out.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        match self {
            Opened::Plain(s) => s.read(offset, buf)?,
            Opened::Qt(s) => s.read(offset, buf)?,
        }
        Ok(())
    }

    /// Copies bytes in.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        match self {
            Opened::Plain(s) => s.write(offset, data)?,
            Opened::Qt(s) => s.write(offset, data)?,
        }
        Ok(())
    }

    /// Takes the target's lock, if it has one, waiting at most `timeout`.
    pub fn lock(&self, timeout: Duration) -> Result<Held<'_>> {
        match self {
            Opened::Qt(s) => Ok(Held::Qt(s.lock_timeout(timeout)?)),
            Opened::Plain(s) if s.kind().is_some() => Ok(Held::Shmkit(s.lock_timeout(timeout)?)),
            Opened::Plain(_) => Ok(Held::None),
        }
    }
}

/// `len` bytes (default: to the end) from `offset`, read under the target's lock.
pub fn read_bytes(
    target: &Target,
    offset: usize,
    len: Option<usize>,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let seg = Opened::open(target, Access::ReadOnly, timeout)?;
    let len = len.unwrap_or_else(|| seg.len().saturating_sub(offset));
    check_range(target, offset, len, seg.len())?;
    let mut buf = vec![0u8; len];
    let _held = seg.lock(timeout)?;
    seg.read(offset, &mut buf)?;
    Ok(buf)
}

/// Writes `data` at `offset`, under the target's lock.
pub fn write_bytes(target: &Target, offset: usize, data: &[u8], timeout: Duration) -> Result<()> {
    let seg = Opened::open(target, Access::ReadWrite, timeout)?;
    check_range(target, offset, data.len(), seg.len())?;
    let _held = seg.lock(timeout)?;
    seg.write(offset, data)
}

fn check_range(target: &Target, offset: usize, len: usize, size: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::Failed(format!(
            "cannot access {target}: bytes {offset}..{} are outside its {size} bytes",
            offset as u128 + len as u128
        ))),
    }
}

fn to_usize(n: u64, what: &str) -> Result<usize> {
    usize::try_from(n)
        .map_err(|_| Error::Failed(format!("{what} {n} is too large for this system")))
}

/// Read raw bytes of a segment
///
/// Copies bytes out of a segment to stdout, as they are (or as hex with --hex). Works on shmkit
/// bytes segments (offsets count from the start of their data), plain POSIX objects such as
/// Python's (posix:NAME), and Qt segments (qt:KEY, qt-posix:KEY, Qt's key strings). The bytes are
/// read under the segment's lock when it has one — for Qt, Qt's own lock, which the Qt app's
/// lock() respects.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit read posix:psm_1a2b3c4d --len 16 --hex
  shmkit read qt:frames --offset 4K --len 1K > part.bin
  shmkit read 'systemv:/tmp/qipc_sharedmemory_demo89e4…?legacyKey=demo' --len 8 --hex")]
pub struct ReadArgs {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Where to start, in bytes (units as for sizes: 512, 4K)
    #[arg(short, long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// How many bytes [default: to the end]
    #[arg(short = 'n', long, value_name = "N", value_parser = util::parse_size)]
    len: Option<u64>,

    /// Print the bytes as one line of hex digits instead of raw
    #[arg(long)]
    hex: bool,

    /// How long to wait for the lock (500ms, 2s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

/// Reads and prints.
pub fn run_read(args: ReadArgs, out: &mut Output) -> Result<()> {
    let offset = to_usize(args.offset, "offset")?;
    let len = args.len.map(|n| to_usize(n, "length")).transpose()?;
    let data = read_bytes(&args.target, offset, len, args.timeout)?;
    if args.hex {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        out.line(hex)
    } else {
        out.bytes(&data)
    }
}

/// Write raw bytes into a segment
///
/// Copies bytes into a segment at --offset: the DATA argument as text, --hex digits, or (with
/// neither) everything on stdin. Targets as for `shmkit read`; the bytes are written under the
/// segment's lock when it has one (for Qt, Qt's own lock). The segment's size never changes:
/// bytes that would not fit are an error, and nothing is written.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit write qt:frames 'hello'                  5 bytes at offset 0, under Qt's lock
  shmkit write posix:psm_1a2b3c4d --offset 8 --hex 00ff10
  head -c 4096 /dev/urandom | shmkit write cam0")]
pub struct WriteArgs {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// The bytes, as text (UTF-8); without it, --hex or stdin
    data: Option<String>,

    /// The bytes as hex digits (00ff10)
    #[arg(long, value_name = "HEX", conflicts_with = "data")]
    hex: Option<String>,

    /// Where to start, in bytes (units as for sizes: 512, 4K)
    #[arg(short, long, value_name = "N", default_value = "0", value_parser = util::parse_size)]
    offset: u64,

    /// How long to wait for the lock (500ms, 2s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Failed(format!(
            "--hex {s:?}: write pairs of hex digits, such as 00ff10"
        )));
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0))
        .collect())
}

/// Writes and says how much.
pub fn run_write(args: WriteArgs, out: &mut Output) -> Result<()> {
    let offset = to_usize(args.offset, "offset")?;
    let data = match (&args.data, &args.hex) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(hex)) => parse_hex(hex)?,
        (None, None) => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
    };
    write_bytes(&args.target, offset, &data, args.timeout)?;
    out.line(format_args!(
        "wrote {} bytes at offset {offset} of {}",
        data.len(),
        args.target
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_input() {
        assert_eq!(parse_hex("00ff10").unwrap(), [0, 255, 16]);
        assert_eq!(parse_hex("00 ff").unwrap(), [0, 255]);
        assert!(parse_hex("0").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
