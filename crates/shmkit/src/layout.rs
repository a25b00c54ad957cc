//! The header every shmkit segment starts with, and the validation of bytes that claim to be one.
//!
//! ```text
//! offset  size  field
//!      0     8  magic        "SHMKIT\0\0"
//!      8     4  version      0 while the creator initialises, then LAYOUT_VERSION
//!     12     4  kind         1 bytes, 2 cell, 3 stream
//!     16     4  flags        bit 0 LAST_CLOSE, bit 1 WAKE_ALWAYS, bit 2 PROOFS
//!     20     4  header_len   512
//!     24     8  total_len    bytes in the whole segment (= the file's size)
//!     32     8  data_offset  where the data region starts (page-aligned)
//!     40     8  data_len     bytes of data the creator asked for
//!     48     4  creator_pid
//!     52     4  next_token   the counter liveness proof ids come from (see `liveness`)
//!     56     8  created_ns   creation time, nanoseconds since the Unix epoch
//!     64    64  lock         see `lock`
//!    128    64  change       see `notify`
//!    192     8  creator_ns   the creator's pid namespace (0: none or unknown)
//!    200    56  reserved     zero
//!    256   256  format       what the data is, see `format` (all zero: not said)
//!    512     …  the kind's own control block (cell slots, stream cursors)
//! data_offset   the data region, to total_len
//! ```
//!
//! # Versions
//!
//! `version` says how to read everything above and the kinds' control blocks. A reader accepts
//! exactly the versions it knows how to read and calls others `Incompatible`, naming both.
//! Additions that old readers may safely ignore go into fields that were zero (reserved) in the
//! older layout and keep the version, so segments made without them (a format never said, a
//! statistic never kept) read as "not said". Anything an old reader would misread — a moved
//! field, a new meaning, a longer frame header — takes a new version.
//!
//! * Version 1: the first layout (a 192-byte header, 16-byte stream frame headers).
//! * Version 2: a 512-byte header with the pid namespace, liveness proofs and the format;
//!   32-byte stream frame headers with a publish time and a commit marker; statistics in the
//!   cell and stream control blocks.
//!
//! Every field is an atomic, so a `&Header` over memory that other processes write is sound. The
//! portable code reads the immutable fields once at open, validates them, and keeps its own
//! copy ([`Geometry`]); nothing it later reads from the segment is trusted without a check.
//!
//! The control region (header + kind control block) is separate from the data region and
//! page-aligned, so a read-only handle can write-protect the data while still counting itself
//! as a waiter or taking the lock.

use std::fmt;

use crate::format::FORMAT_LEN;
use crate::lock::LockWord;
use crate::notify::Event;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// "SHMKIT\0\0" read as a little-endian integer.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SHMKIT\0\0");
/// The layout this build writes and reads.
pub(crate) const LAYOUT_VERSION: u32 = 2;
/// Bytes of the header; the kind's control block starts here.
pub(crate) const HEADER_LEN: usize = 512;

/// The name is removed when the last handle anywhere closes (see [`crate::Lifetime`]).
pub(crate) const FLAG_LAST_CLOSE: u32 = 1 << 0;
/// Signallers always make the wake call: some readers cannot count themselves as waiters.
pub(crate) const FLAG_WAKE_ALWAYS: u32 = 1 << 1;
/// Liveness is proven by OFD locks on the segment's file (see `liveness`), not by pids.
pub(crate) const FLAG_PROOFS: u32 = 1 << 2;

/// What a shmkit segment holds.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Plain bytes with a header (lock, change counter): [`Segment`](crate::Segment).
    Bytes,
    /// A latest-value cell: `Cell`.
    Cell,
    /// A stream of frames.
    Stream,
}

impl Kind {
    pub(crate) fn code(self) -> u32 {
        match self {
            Kind::Bytes => 1,
            Kind::Cell => 2,
            Kind::Stream => 3,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Kind> {
        Some(match code {
            1 => Kind::Bytes,
            2 => Kind::Cell,
            3 => Kind::Stream,
            _ => return None,
        })
    }

    /// The lowercase name used in messages and by the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bytes => "bytes",
            Kind::Cell => "cell",
            Kind::Stream => "stream",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header as it lies in shared memory.
#[repr(C, align(64))]
pub(crate) struct Header {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    pub(crate) kind: AtomicU32,
    pub(crate) flags: AtomicU32,
    pub(crate) header_len: AtomicU32,
    pub(crate) total_len: AtomicU64,
    pub(crate) data_offset: AtomicU64,
    pub(crate) data_len: AtomicU64,
    pub(crate) creator_pid: AtomicU32,
    pub(crate) next_token: AtomicU32,
    pub(crate) created_ns: AtomicU64,
    pub(crate) lock: LockWord,
    pub(crate) change: Event,
    pub(crate) creator_ns: AtomicU64,
    pub(crate) _reserved: [AtomicU64; 7],
    /// The format, encoded by `Format::encode` (written once, at creation).
    pub(crate) format: [AtomicU64; FORMAT_LEN / 8],
}

#[cfg(not(loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Header>() == HEADER_LEN);
    assert!(align_of::<Header>() == 64);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, kind) == 12);
    assert!(offset_of!(Header, flags) == 16);
    assert!(offset_of!(Header, header_len) == 20);
    assert!(offset_of!(Header, total_len) == 24);
    assert!(offset_of!(Header, data_offset) == 32);
    assert!(offset_of!(Header, data_len) == 40);
    assert!(offset_of!(Header, creator_pid) == 48);
    assert!(offset_of!(Header, created_ns) == 56);
    assert!(offset_of!(Header, lock) == 64);
    assert!(offset_of!(Header, change) == 128);
    assert!(offset_of!(Header, creator_ns) == 192);
    assert!(offset_of!(Header, format) == 256);
};

/// Offset of the lock's state word (for readers of raw header bytes, such as `info`).
pub(crate) const LOCK_STATE_OFFSET: usize = 64;
/// Offset of the lock's owner record.
pub(crate) const LOCK_OWNER_OFFSET: usize = 72;
/// Offset of the creator's pid namespace.
pub(crate) const CREATOR_NS_OFFSET: usize = 192;
/// Offset of the format.
pub(crate) const FORMAT_OFFSET: usize = 256;

/// The header's fields, copied out of shared memory or out of a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub magic: u64,
    pub version: u32,
    pub kind: u32,
    pub flags: u32,
    pub header_len: u32,
    pub total_len: u64,
    pub data_offset: u64,
    pub data_len: u64,
    pub creator_pid: u32,
    pub created_ns: u64,
}

impl Fields {
    /// Parses the first 64 bytes of `b`, if there are that many.
    pub(crate) fn from_bytes(b: &[u8]) -> Option<Fields> {
        let b: &[u8; 64] = b.get(..64)?.try_into().ok()?;
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        Some(Fields {
            magic: u64_at(0),
            version: u32_at(8),
            kind: u32_at(12),
            flags: u32_at(16),
            header_len: u32_at(20),
            total_len: u64_at(24),
            data_offset: u64_at(32),
            data_len: u64_at(40),
            creator_pid: u32_at(48),
            created_ns: u64_at(56),
        })
    }

    /// Reads the fields of a mapped header. `version` is read first with Acquire, so once it is
    /// non-zero the creator's writes of the other fields are visible.
    pub(crate) fn load(h: &Header) -> Fields {
        // SYNC: Acquire pairs with the Release store of `version` at the end of `Header::init`.
        let version = h.version.load(Ordering::Acquire);
        Fields {
            magic: h.magic.load(Ordering::Relaxed),
            version,
            kind: h.kind.load(Ordering::Relaxed),
            flags: h.flags.load(Ordering::Relaxed),
            header_len: h.header_len.load(Ordering::Relaxed),
            total_len: h.total_len.load(Ordering::Relaxed),
            data_offset: h.data_offset.load(Ordering::Relaxed),
            data_len: h.data_len.load(Ordering::Relaxed),
            creator_pid: h.creator_pid.load(Ordering::Relaxed),
            created_ns: h.created_ns.load(Ordering::Relaxed),
        }
    }
}

/// A validated header: every offset and length fits the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub kind: Kind,
    pub flags: u32,
    pub total_len: usize,
    pub data_offset: usize,
    pub data_len: usize,
}

/// Why bytes are not a usable shmkit header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// No shmkit magic: a foreign or raw segment.
    Foreign,
    /// The creator has not finished initialising it (version still 0).
    NotReady,
    /// Made by a shmkit with another layout.
    Version(u32),
    /// A kind this build does not know.
    UnknownKind(u32),
    /// The header contradicts itself or the segment's size.
    Corrupt(String),
}

impl Problem {
    pub(crate) fn describe(&self) -> String {
        match self {
            Problem::Foreign => "it has no shmkit header (a foreign or raw segment)".to_string(),
            Problem::NotReady => "its creator has not finished initialising it".to_string(),
            Problem::Version(v) => {
                format!("it has layout version {v}; this shmkit reads version {LAYOUT_VERSION}")
            }
            Problem::UnknownKind(k) => format!("it holds an unknown kind of data (code {k})"),
            Problem::Corrupt(why) => format!("its header is corrupt: {why}"),
        }
    }
}

/// Validates header fields against the segment's actual size.
pub(crate) fn validate(f: &Fields, actual_len: u64) -> Result<Geometry, Problem> {
    if f.magic != MAGIC {
        return Err(Problem::Foreign);
    }
    if f.version == 0 {
        return Err(Problem::NotReady);
    }
    if f.version != LAYOUT_VERSION {
        return Err(Problem::Version(f.version));
    }
    let kind = Kind::from_code(f.kind).ok_or(Problem::UnknownKind(f.kind))?;
    if f.header_len as usize != HEADER_LEN {
        return Err(Problem::Corrupt(format!(
            "header length {} (expected {HEADER_LEN})",
            f.header_len
        )));
    }
    if f.total_len != actual_len {
        return Err(Problem::Corrupt(format!(
            "it claims {} bytes but has {actual_len} (truncated or overwritten)",
            f.total_len
        )));
    }
    if f.data_offset < HEADER_LEN as u64 || f.data_offset > f.total_len || f.data_offset % 64 != 0 {
        return Err(Problem::Corrupt(format!(
            "data offset {} outside {HEADER_LEN}..={} or unaligned",
            f.data_offset, f.total_len
        )));
    }
    if f.data_len > f.total_len - f.data_offset {
        return Err(Problem::Corrupt(format!(
            "data length {} does not fit after offset {} in {} bytes",
            f.data_len, f.data_offset, f.total_len
        )));
    }
    let to_usize =
        |v: u64| usize::try_from(v).map_err(|_| Problem::Corrupt(format!("{v} is too large")));
    Ok(Geometry {
        kind,
        flags: f.flags,
        total_len: to_usize(f.total_len)?,
        data_offset: to_usize(f.data_offset)?,
        data_len: to_usize(f.data_len)?,
    })
}

/// Takes `bytes` as the start of a segment and validates them as a header, against a segment
/// length taken from the bytes themselves (bytes 64..72, the first after the header fields; or
/// their count if there are fewer), as the `header_validate` fuzz target does. Whatever the
/// bytes, it must not panic, and a header it accepts must describe a geometry that fits the
/// segment (checked here with `assert!`, so a fuzzer finds a lie that `validate` lets through).
/// Returns whether the header was accepted.
#[doc(hidden)]
pub fn fuzz_validate_header(bytes: &[u8]) -> bool {
    let actual = match bytes.get(64..72) {
        Some(b) => b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x)),
        None => bytes.len() as u64,
    };
    let orphan = is_orphan(bytes);
    let shmkit = is_shmkit(bytes);
    assert!(!orphan || shmkit, "an orphan must be a shmkit segment");
    let Some(f) = Fields::from_bytes(bytes) else {
        assert!(!shmkit, "a shmkit header needs 64 bytes");
        return false;
    };
    match validate(&f, actual) {
        Ok(g) => {
            assert!(shmkit && Kind::from_code(f.kind) == Some(g.kind));
            assert!(g.data_offset >= HEADER_LEN && g.data_offset % 64 == 0);
            assert!(g.data_offset <= g.total_len && g.data_len <= g.total_len - g.data_offset);
            assert_eq!(g.total_len as u64, actual);
            true
        }
        Err(problem) => {
            assert!(!problem.describe().is_empty());
            false
        }
    }
}

/// Whether the first bytes of a segment that nobody holds show the orphan of crashed users: a
/// `LastClose` shmkit segment (which a clean last close would have removed), or one whose
/// creator died before finishing it.
pub(crate) fn is_orphan(head: &[u8]) -> bool {
    Fields::from_bytes(head)
        .is_some_and(|f| f.magic == MAGIC && (f.version == 0 || f.flags & FLAG_LAST_CLOSE != 0))
}

/// Whether the first bytes are a shmkit header (any version, finished or not).
pub(crate) fn is_shmkit(head: &[u8]) -> bool {
    Fields::from_bytes(head).is_some_and(|f| f.magic == MAGIC)
}

impl Header {
    /// Writes a new header into zeroed memory; `version` is stored last (Release), so an opener
    /// that sees it non-zero sees everything else.
    pub(crate) fn init(&self, init: &Init) {
        let (total_len, data_offset, data_len) = init.geo;
        self.magic.store(MAGIC, Ordering::Relaxed);
        self.kind.store(init.kind.code(), Ordering::Relaxed);
        self.flags.store(init.flags, Ordering::Relaxed);
        self.header_len.store(HEADER_LEN as u32, Ordering::Relaxed);
        self.total_len.store(total_len as u64, Ordering::Relaxed);
        self.data_offset
            .store(data_offset as u64, Ordering::Relaxed);
        self.data_len.store(data_len as u64, Ordering::Relaxed);
        self.creator_pid.store(init.pid, Ordering::Relaxed);
        self.created_ns.store(now_ns(), Ordering::Relaxed);
        self.creator_ns.store(init.pid_ns, Ordering::Relaxed);
        for (w, b) in self.format.iter().zip(init.format.chunks_exact(8)) {
            w.store(
                u64::from_le_bytes(b.try_into().expect("8 bytes")),
                Ordering::Relaxed,
            );
        }
        // SYNC: Release pairs with the Acquire load in `Fields::load`.
        self.version.store(LAYOUT_VERSION, Ordering::Release);
    }

    /// The format bytes as they lie in the header now.
    pub(crate) fn format_bytes(&self) -> [u8; FORMAT_LEN] {
        let mut b = [0u8; FORMAT_LEN];
        for (w, out) in self.format.iter().zip(b.chunks_exact_mut(8)) {
            out.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        b
    }
}

/// What a creator writes into a new header.
#[derive(Debug, Clone)]
pub(crate) struct Init {
    pub kind: Kind,
    pub flags: u32,
    /// `(total_len, data_offset, data_len)`.
    pub geo: (usize, usize, usize),
    pub pid: u32,
    pub pid_ns: u64,
    pub format: [u8; FORMAT_LEN],
}

/// Nanoseconds since the Unix epoch, by the wall clock (0 if the clock is before 1970).
pub(crate) fn now_ns() -> u64 {
    crate::sys::now_ns()
}

/// The little-endian `u64` at `off` of raw header bytes, if they reach that far.
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// The little-endian `u32` at `off` of raw header bytes, if they reach that far.
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn good() -> Fields {
        Fields {
            magic: MAGIC,
            version: LAYOUT_VERSION,
            kind: 1,
            flags: FLAG_LAST_CLOSE,
            header_len: HEADER_LEN as u32,
            total_len: 8192,
            data_offset: 4096,
            data_len: 4000,
            creator_pid: 1,
            created_ns: 0,
        }
    }

    fn to_bytes(f: &Fields) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(f.magic.to_le_bytes());
        b.extend(f.version.to_le_bytes());
        b.extend(f.kind.to_le_bytes());
        b.extend(f.flags.to_le_bytes());
        b.extend(f.header_len.to_le_bytes());
        b.extend(f.total_len.to_le_bytes());
        b.extend(f.data_offset.to_le_bytes());
        b.extend(f.data_len.to_le_bytes());
        b.extend(f.creator_pid.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(f.created_ns.to_le_bytes());
        b
    }

    #[test]
    fn byte_parse_matches_the_struct_layout() {
        let f = good();
        assert_eq!(Fields::from_bytes(&to_bytes(&f)), Some(f));
        assert_eq!(Fields::from_bytes(&[0; 63]), None);
    }

    #[test]
    fn accepts_a_good_header() {
        let g = validate(&good(), 8192).unwrap();
        assert_eq!(
            (g.kind, g.data_offset, g.data_len),
            (Kind::Bytes, 4096, 4000)
        );
    }

    #[test]
    fn rejects_each_lie() {
        let check = |edit: fn(&mut Fields), len: u64| {
            let mut f = good();
            edit(&mut f);
            validate(&f, len).unwrap_err()
        };
        assert_eq!(check(|f| f.magic = 0, 8192), Problem::Foreign);
        assert_eq!(check(|f| f.version = 0, 8192), Problem::NotReady);
        assert_eq!(check(|f| f.version = 9, 8192), Problem::Version(9));
        assert_eq!(check(|f| f.kind = 77, 8192), Problem::UnknownKind(77));
        assert!(
            matches!(check(|_| {}, 4096), Problem::Corrupt(_)),
            "truncated"
        );
        assert!(matches!(
            check(|f| f.header_len = 64, 8192),
            Problem::Corrupt(_)
        ));
        assert!(matches!(
            check(|f| f.data_offset = 9000, 8192),
            Problem::Corrupt(_)
        ));
        assert!(matches!(
            check(|f| f.data_offset = 100, 8192),
            Problem::Corrupt(_)
        ));
        assert!(matches!(
            check(|f| f.data_offset = 4100, 8192),
            Problem::Corrupt(_)
        ));
        assert!(matches!(
            check(|f| f.data_len = 4097, 8192),
            Problem::Corrupt(_)
        ));
        assert!(matches!(
            check(|f| f.data_len = u64::MAX, 8192),
            Problem::Corrupt(_)
        ));
    }

    #[test]
    fn orphans_are_unfinished_or_last_close_shmkit_segments() {
        let mut f = good();
        assert!(is_orphan(&to_bytes(&f)));
        f.flags = 0;
        assert!(!is_orphan(&to_bytes(&f)), "persistent");
        f.version = 0;
        assert!(is_orphan(&to_bytes(&f)), "never finished");
        f.magic = 1;
        assert!(!is_orphan(&to_bytes(&f)), "foreign");
        assert!(!is_orphan(b"short"));
    }

    proptest! {
        #[test]
        fn validate_never_panics_and_accepted_geometry_fits(
            bytes in proptest::collection::vec(any::<u8>(), 64..80),
            actual in any::<u64>(),
        ) {
            let f = Fields::from_bytes(&bytes).unwrap();
            if let Ok(g) = validate(&f, actual) {
                prop_assert!(g.data_offset >= HEADER_LEN);
                prop_assert!(g.data_offset + g.data_len <= g.total_len);
                prop_assert_eq!(g.total_len as u64, actual);
            }
        }
    }
}
