//! The value behind a TARGET, for `read`, `write` and `watch`: the latest value of a cell, a
//! range of a bytes segment (read and written under its lock, changes seen through its change
//! counter), or a range of a foreign segment (a Qt segment under Qt's lock, a Python or other
//! POSIX object without one). One interface, so the commands do not care which it is.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use shmkit::{Access, Cell, CellOptions, ErrorKind, Kind, Lifetime, Segment, SegmentKind};

use crate::error::{Error, Result};
use crate::opened::Opened;
use crate::target::Target;

/// A cell, a byte range of a shmkit bytes segment, or a byte range of a foreign segment.
#[derive(Debug)]
pub enum Source {
    /// A latest-value cell: whole values with sequence numbers.
    Cell(Cell),
    /// `len` bytes at `offset` of a bytes segment; the "sequence" is its change counter.
    Bytes {
        seg: Segment,
        offset: usize,
        len: usize,
        timeout: Duration,
    },
    /// `len` bytes at `offset` of a foreign or raw segment (Qt's: under Qt's lock). It has no
    /// change notification: its "sequence" counts the changes seen, and waiting polls.
    Foreign {
        opened: Opened,
        target: String,
        offset: usize,
        len: usize,
        timeout: Duration,
        polled: Box<RefCell<Polled>>,
    },
}

/// What a poll of a foreign segment last saw: the bytes, and how many changes it has seen.
#[derive(Debug, Default)]
pub struct Polled {
    seq: u64,
    bytes: Vec<u8>,
}

/// How often a wait on a segment without change notification (another program's) looks at its
/// bytes: the 200 ms of the classic programs' own timers.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Where in a segment's bytes to read or write (ignored for cells), and how long to wait for
/// its lock.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub offset: u64,
    pub len: Option<u64>,
    pub timeout: Duration,
}

/// How to create a missing cell (`write --create`).
#[derive(Debug, Clone)]
pub struct CreateCell {
    pub capacity: usize,
    pub mode: u32,
    pub format: Option<shmkit::Format>,
}

impl Source {
    /// Opens `target` as whatever it is.
    pub fn open(target: &Target, access: Access, range: Range) -> Result<Source> {
        let name = match target {
            Target::Shmkit(name) => name,
            _ => return Source::foreign(target, access, range),
        };
        match Segment::info(name.as_str())?.kind {
            SegmentKind::Shmkit(Kind::Cell) => Ok(Source::Cell(Cell::open(name.as_str(), access)?)),
            SegmentKind::Shmkit(Kind::Bytes) => {
                let seg = Segment::open(name.as_str(), access)?;
                let (offset, len) = window(target, range, seg.len())?;
                Ok(Source::Bytes {
                    seg,
                    offset,
                    len,
                    timeout: range.timeout,
                })
            }
            SegmentKind::Shmkit(other) => Err(Error::Failed(format!(
                "{name:?} is a {other}; `read`, `write` and `watch` work on cells and bytes segments"
            ))),
            // A raw shmkit segment, or an object another program made: its bytes.
            _ => Source::foreign(target, access, range),
        }
    }

    fn foreign(target: &Target, access: Access, range: Range) -> Result<Source> {
        let opened = Opened::open(target, access, range.timeout)?;
        let (offset, len) = window(target, range, opened.len())?;
        Ok(Source::Foreign {
            opened,
            target: target.to_string(),
            offset,
            len,
            timeout: range.timeout,
            polled: Box::default(),
        })
    }

    /// Opens the cell `name` for writing, creating it (persistent) if it does not exist.
    pub fn open_or_create_cell(target: &Target, how: CreateCell, range: Range) -> Result<Source> {
        let Target::Shmkit(name) = target else {
            return Err(Error::Failed(format!(
                "--create makes shmkit cells; {target} is another program's segment"
            )));
        };
        match Source::open(target, Access::ReadWrite, range) {
            Err(Error::Shmkit(e)) if e.kind() == ErrorKind::NotFound => {}
            other => return other,
        }
        let mut opts = CellOptions::new()
            .capacity(how.capacity)
            .mode(how.mode)
            .lifetime(Lifetime::Persistent);
        if let Some(f) = how.format {
            opts = opts.format(f);
        }
        let cell = opts.open_or_create(name.as_str())?;
        Ok(Source::Cell(cell))
    }

    /// The name, for messages.
    pub fn name(&self) -> &str {
        match self {
            Source::Cell(c) => c.name().as_str(),
            Source::Bytes { seg, .. } => seg.name().as_str(),
            Source::Foreign { target, .. } => target,
        }
    }

    /// Whether waiting polls (a segment without change notification).
    pub fn polls(&self) -> bool {
        matches!(self, Source::Foreign { .. })
    }

    /// Copies the current value into `buf`; returns its sequence number (a bytes segment: its
    /// change counter; a foreign segment: the number of changes this process has seen).
    pub fn read(&self, buf: &mut Vec<u8>) -> Result<u64> {
        match self {
            Source::Cell(c) => Ok(c.read_into(buf)?),
            Source::Bytes {
                seg,
                offset,
                len,
                timeout,
            } => {
                let count = u64::from(seg.change_count());
                buf.resize(*len, 0);
                // Under the lock when this process may take it, so a writer that locks does not
                // tear the copy; a reader without write permission copies without it.
                let _guard = match seg.lock_timeout(*timeout) {
                    Ok(g) => Some(g),
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => None,
                    Err(e) => return Err(e.into()),
                };
                seg.read(*offset, buf)?;
                Ok(count)
            }
            Source::Foreign {
                opened,
                offset,
                len,
                timeout,
                polled,
                ..
            } => {
                buf.resize(*len, 0);
                {
                    let _held = opened.lock(*timeout)?;
                    opened.read(*offset, buf)?;
                }
                let mut seen = polled.borrow_mut();
                if seen.bytes != *buf {
                    seen.seq += 1;
                    seen.bytes.clone_from(buf);
                }
                Ok(seen.seq)
            }
        }
    }

    /// Waits until the sequence number differs from `seen` (at most `timeout`); `Ok(None)` on
    /// timeout. A foreign segment is polled every [`POLL_INTERVAL`].
    pub fn wait(&self, seen: u64, timeout: Option<Duration>) -> Result<Option<u64>> {
        let res = match self {
            Source::Cell(c) => c.wait_newer(seen, timeout),
            Source::Bytes { seg, .. } => seg.wait_change(seen as u32, timeout).map(u64::from),
            Source::Foreign { .. } => {
                let deadline = timeout.map(|t| Instant::now() + t);
                let mut scratch = Vec::new();
                loop {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left == Some(Duration::ZERO) {
                        return Ok(None);
                    }
                    std::thread::sleep(left.map_or(POLL_INTERVAL, |l| l.min(POLL_INTERVAL)));
                    let seq = self.read(&mut scratch)?;
                    if seq != seen {
                        return Ok(Some(seq));
                    }
                }
            }
        };
        match res {
            Ok(seq) => Ok(Some(seq)),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes `value` (a cell), or writes it at the range's offset under the lock (a bytes
    /// segment, then signalling the change; a foreign one). Returns the new sequence number.
    pub fn write(&self, value: &[u8]) -> Result<u64> {
        let fits = |len: usize, offset: usize| -> Result<()> {
            if value.len() > len {
                return Err(Error::Failed(format!(
                    "{} bytes do not fit the {len} bytes from offset {offset} of {}",
                    value.len(),
                    self.name()
                )));
            }
            Ok(())
        };
        match self {
            Source::Cell(c) => Ok(c.publish(value)?),
            Source::Bytes {
                seg,
                offset,
                len,
                timeout,
            } => {
                fits(*len, *offset)?;
                let guard = seg.lock_timeout(*timeout)?;
                seg.write(*offset, value)?;
                drop(guard);
                seg.notify_change()?;
                Ok(u64::from(seg.change_count()))
            }
            Source::Foreign {
                opened,
                offset,
                len,
                timeout,
                ..
            } => {
                fits(*len, *offset)?;
                let _held = opened.lock(*timeout)?;
                opened.write(*offset, value)?;
                Ok(0)
            }
        }
    }

    /// Whether the shmkit segment behind it was removed, or its name now leads to another one
    /// (`watch` then follows the name); always `false` for other programs' segments.
    pub fn is_removed(&self) -> bool {
        match self {
            Source::Cell(c) => c.segment().is_removed(),
            Source::Bytes { seg, .. } => seg.is_removed(),
            Source::Foreign { .. } => false,
        }
    }
}

/// The range `[offset, offset + len)` of `size` bytes (len: to the end by default), checked.
fn window(target: &Target, range: Range, size: usize) -> Result<(usize, usize)> {
    let size = size as u64;
    let len = range.len.unwrap_or(size.saturating_sub(range.offset));
    match range.offset.checked_add(len) {
        Some(end) if end <= size => Ok((range.offset as usize, len as usize)),
        _ => Err(Error::Failed(format!(
            "cannot access {target}: bytes {}..{} are outside its {size} bytes",
            range.offset,
            u128::from(range.offset) + u128::from(len)
        ))),
    }
}
