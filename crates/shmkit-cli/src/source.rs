//! The value behind a name, for `read`, `write` and `watch`: the latest value of a cell, or a
//! range of a bytes segment (read and written under its lock, changes seen through its change
//! counter). One interface, so the commands do not care which it is.

use std::time::Duration;

use serde_json::json;
use shmkit::{Access, Cell, CellOptions, ErrorKind, Kind, Lifetime, Segment, SegmentKind};

use crate::error::{Error, Result};
use crate::output::Output;

/// A cell, or a byte range of a plain shmkit segment.
#[derive(Debug)]
pub enum Source {
    /// A latest-value cell: whole values with sequence numbers.
    Cell(Cell),
    /// `len` bytes at `offset` of a bytes segment; the "sequence" is its change counter.
    Bytes {
        seg: Segment,
        offset: usize,
        len: usize,
    },
}

/// Where in a bytes segment to read or write (ignored for cells).
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub offset: u64,
    pub len: Option<u64>,
}

/// How to create a missing cell (`write --create`).
#[derive(Debug, Clone, Copy)]
pub struct CreateCell {
    pub capacity: usize,
    pub mode: u32,
}

impl Source {
    /// Opens `name` as whatever shmkit kind it is.
    pub fn open(name: &str, access: Access, range: Range) -> Result<Source> {
        let kind = match Segment::info(name) {
            Ok(info) => info.kind,
            Err(e) => return Err(e.into()),
        };
        match kind {
            SegmentKind::Shmkit(Kind::Cell) => Ok(Source::Cell(Cell::open(name, access)?)),
            SegmentKind::Shmkit(Kind::Bytes) => {
                let seg = Segment::open(name, access)?;
                Source::bytes(seg, range)
            }
            SegmentKind::Shmkit(other) => Err(Error::Failed(format!(
                "{name:?} is a {other}; `read`, `write` and `watch` work on cells and bytes segments"
            ))),
            SegmentKind::Foreign => Err(Error::Failed(format!(
                "{name:?} has no shmkit header (made by another program, or raw); \
                 `shmkit dump {name}` shows its bytes"
            ))),
            _ => Err(Error::Failed(format!(
                "{name:?} is not a segment this shmkit can read (`shmkit info {name}` says why)"
            ))),
        }
    }

    /// Opens the cell `name` for writing, creating it (persistent) if it does not exist.
    pub fn open_or_create_cell(name: &str, how: CreateCell, range: Range) -> Result<Source> {
        match Source::open(name, Access::ReadWrite, range) {
            Err(Error::Shmkit(e)) if e.kind() == ErrorKind::NotFound => {}
            other => return other,
        }
        let cell = CellOptions::new()
            .capacity(how.capacity)
            .mode(how.mode)
            .lifetime(Lifetime::Persistent)
            .open_or_create(name)?;
        Ok(Source::Cell(cell))
    }

    fn bytes(seg: Segment, range: Range) -> Result<Source> {
        let total = seg.len() as u64;
        let offset = range.offset;
        let len = range.len.unwrap_or(total.saturating_sub(offset));
        if offset.checked_add(len).is_none_or(|end| end > total) {
            return Err(Error::Failed(format!(
                "bytes {offset}..{} are outside {:?}'s {total} data bytes",
                offset.saturating_add(len),
                seg.name().as_str(),
            )));
        }
        Ok(Source::Bytes {
            seg,
            offset: offset as usize,
            len: len as usize,
        })
    }

    /// The name, for messages.
    pub fn name(&self) -> &str {
        match self {
            Source::Cell(c) => c.name().as_str(),
            Source::Bytes { seg, .. } => seg.name().as_str(),
        }
    }

    /// Copies the current value into `buf`; returns its sequence number (a bytes segment: its
    /// change counter).
    pub fn read(&self, buf: &mut Vec<u8>) -> Result<u64> {
        match self {
            Source::Cell(c) => Ok(c.read_into(buf)?),
            Source::Bytes { seg, offset, len } => {
                let count = u64::from(seg.change_count());
                buf.resize(*len, 0);
                // Under the lock when this process may take it, so the copy is not torn by a
                // writer that locks; a reader without write permission copies without it.
                let _guard = match seg.lock_timeout(Duration::from_secs(5)) {
                    Ok(g) => Some(g),
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => None,
                    Err(e) => return Err(e.into()),
                };
                seg.read(*offset, buf)?;
                Ok(count)
            }
        }
    }

    /// Waits until the sequence number differs from `seen` (at most `timeout`); `Ok(None)` on
    /// timeout.
    pub fn wait(&self, seen: u64, timeout: Option<Duration>) -> Result<Option<u64>> {
        let res = match self {
            Source::Cell(c) => c.wait_newer(seen, timeout),
            Source::Bytes { seg, .. } => seg.wait_change(seen as u32, timeout).map(u64::from),
        };
        match res {
            Ok(seq) => Ok(Some(seq)),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes `value` (a cell), or writes it at the range's offset under the lock and signals
    /// the change (a bytes segment). Returns the new sequence number.
    pub fn write(&self, value: &[u8]) -> Result<u64> {
        match self {
            Source::Cell(c) => Ok(c.publish(value)?),
            Source::Bytes { seg, offset, len } => {
                if value.len() > *len {
                    return Err(Error::Failed(format!(
                        "{} bytes do not fit the {len} bytes from offset {offset} of {:?}",
                        value.len(),
                        seg.name().as_str()
                    )));
                }
                let guard = seg.lock()?;
                seg.write(*offset, value)?;
                drop(guard);
                seg.notify_change();
                Ok(u64::from(seg.change_count()))
            }
        }
    }
}

/// How `read` and `watch` print a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// The bytes as they are, then a newline.
    #[default]
    Text,
    /// A hex dump.
    Hex,
    /// One JSON object: name, seq, len, and the value as `text` (UTF-8) or `hex`.
    Json,
}

/// Prints one value in `format`.
pub fn print_value(
    out: &mut Output,
    format: Format,
    name: &str,
    seq: u64,
    value: &[u8],
) -> Result<()> {
    match format {
        Format::Text => {
            out.raw(value)?;
            out.line("")
        }
        Format::Hex => crate::cmd::dump::hexdump_bytes(out, value),
        Format::Json => out.json_line(&value_json(name, seq, value)),
    }
}

/// `{"name":…,"seq":…,"len":…,"text":…}`, or `"hex"` instead of `"text"` for non-UTF-8 bytes.
pub fn value_json(name: &str, seq: u64, value: &[u8]) -> serde_json::Value {
    let mut v = json!({ "name": name, "seq": seq, "len": value.len() });
    match std::str::from_utf8(value) {
        Ok(text) => v["text"] = json!(text),
        Err(_) => {
            let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
            v["hex"] = json!(hex);
        }
    }
    v
}
