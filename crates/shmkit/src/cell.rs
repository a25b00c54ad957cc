//! A latest-value cell: one writer at a time publishes, any number of readers take whole,
//! consistent snapshots without ever blocking it, and can sleep until a newer value exists.
//!
//! This is the "text box" of the classic shared-memory tutorials done right: no torn reads (a
//! reader never sees a mix of two values), no stale tails (every value carries its length, so a
//! short value never shows the end of a longer older one), no polling (readers sleep on the
//! segment's change event), and a writer killed mid-publish leaves readers with the previous
//! whole value.
//!
//! # The protocol: a seqlock over several slots, and an express line
//!
//! The data region holds `slots` buffers (default 3). Each starts with a 24-byte header — a
//! `version`, the value's `seq` and its `len` — followed by up to `capacity` bytes of value.
//! The control block holds the configuration (one cache line) and the *express line*: its own
//! seqlock word `ver`, `latest = seq << 8 | slot` (the newest complete value), the value's
//! length, and — when the value is at most 48 bytes — the value itself.
//!
//! *Publish* (writers are serialised by the segment's lock):
//! 1. pick the slot after `latest`'s — never the one readers are sent to;
//! 2. make its `version` odd (Relaxed), then a Release fence, so the data writes cannot move
//!    before it;
//! 3. write the data, `len` and `seq`;
//! 4. make `version` even again (Release);
//! 5. the express line: `ver` odd, a Release fence, then `len`, `latest` (Release) and the
//!    value's first 48 bytes, then `ver` even (Release);
//! 6. unlock and signal the change event (a futex wake only if someone sleeps).
//!
//! *Read* (never writes shared memory):
//! 1. load the express line's `ver` (Acquire) and `latest`; if `ver` is even and the value fits
//!    the line, copy it out of the line, an Acquire fence, reload `ver`: unchanged means the
//!    copy is whole. Done — one cache line, the one the writer wrote last.
//! 2. Otherwise (a larger value, or `ver` odd: a writer is in the line, or died there), the
//!    slot `latest` names: load its `version` (Acquire); odd means a writer is in it;
//! 3. load `len` and `seq`, check `len <= capacity`, copy `len` bytes out;
//! 4. an Acquire fence, then reload `version`: unchanged means no writer touched the slot
//!    meanwhile, so the copy is one whole value; and the slot's `seq` must be the one `latest`
//!    named. Otherwise try again.
//!
//! Step 4's second check makes a reader's sequence numbers monotonic. Without it, a reader that
//! loaded an old `latest` could accept the slot's newer value (the writer lapped it) and then,
//! on its next read, load a `latest` that is newer than the first but older than that value —
//! going back in time. Successive loads of one atomic never go back (coherence), so returning
//! exactly the value `latest` names keeps the order — on both paths, as `latest` is the one
//! word both read.
//!
//! This is the seqlock of Boehm's "Can seqlocks get along with programming language memory
//! models?" (MSPC 2012), fences as there, with several buffers so that a reader only retries when
//! the writer laps it (publishes `slots - 1` more values while it copies one). `latest` always
//! names a complete slot (the slot is finished before the express line changes), so a writer
//! killed anywhere leaves readers a whole value: killed in the slot, it left `latest` as it was;
//! killed in the express line, it left `ver` odd, and readers take the slot path until the next
//! writer (told by its lock guard that the owner died) moves `ver` past the odd value, as it
//! does for a slot left odd. Copies out of the slots go through `shared::copy_out`, which
//! reads each byte once; the fence-and-recheck makes the result valid only when no write
//! overlapped it, and the bytes land in our own buffer, never looked at in place.
//!
//! # Cache lines per hand-off
//!
//! For a value of up to 48 bytes, a publish and a read move one line between the writer's CPU
//! and the reader's: the express line (the reader polls `latest` in it while it spins, then
//! copies the value from the line it already has). The slot, the lock and the change event are
//! lines the reader never touches on this path, so they stay in the writer's cache. A larger
//! value costs the express line and the slot's lines.
//!
//! The rest of a hand-off is the writer's instructions before the express line changes, and the
//! reader's after — and one more transfer that the count above hides: the writer used to *read*
//! the express line (`latest` and `ver`) before writing it, and a line the reader has just
//! polled comes back only from the reader's cache (on the AMD EPYC of `shmkit bench`, even a
//! load of a line we wrote last). The other large part was the lock: taking and releasing it
//! are two atomic read-modify-writes, about 20 ns of a 35 ns publish here. A cell with one
//! producer can make that handle its exclusive writer (`CellOptions::exclusive`): it takes the
//! lock once, for its life, as a stream's publisher does, and keeps its own copy of the express
//! line (`Known`), so its publish reads nothing the reader touches. Its spinning round trip is
//! within 1.13–1.22x the raw atomics' (`shmkit bench`, round trips timed back to back: 107–111
//! ns against 89–97 ns; the same cell with the lock per publish 186–190 ns). Timed one by one
//! (20 ns of clock in each), it went from 180 ns to 130 ns when it stopped reading the line.
//! Its turn among threads (`Own`) costs a compare-and-swap: a publish nobody waits for takes
//! 18–19 ns, against 35 ns with the lock.

use std::fmt;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

/// Slots per cell unless set otherwise: a reader retries only if the writer publishes two more
/// values while it copies one.
pub const DEFAULT_SLOTS: u32 = 3;
/// The most slots a cell may have.
pub const MAX_SLOTS: u32 = 16;
/// The largest value that travels in the express line itself.
pub(crate) const INLINE: usize = 48;
/// The express line's `len` of a value that does not fit it.
const NOT_INLINE: u32 = u32::MAX;

/// The cell's configuration, fixed at creation (and the time of the last publish).
#[repr(C, align(64))]
pub(crate) struct Config {
    /// Bytes per slot that values may use.
    pub(crate) capacity: AtomicU64,
    /// Distance between slots in the data region (header + capacity, rounded up to 64).
    pub(crate) stride: AtomicU64,
    /// Number of slots.
    pub(crate) slots: AtomicU32,
    /// 0 for a byte cell; `size_of::<T>()` for a [`TypedCell<T>`].
    pub(crate) type_size: AtomicU32,
    /// When the newest value was published (nanoseconds since the Unix epoch, coarse;
    /// statistics).
    pub(crate) last_ns: AtomicU64,
}

/// The newest value's identity, and the value itself when it is small: one cache line, the
/// last the writer writes.
#[repr(C, align(64))]
pub(crate) struct Express {
    /// Seqlock word of this line: odd while the writer updates it.
    pub(crate) ver: AtomicU32,
    /// The newest value's length, or `NOT_INLINE` when it does not fit the line.
    pub(crate) len: AtomicU32,
    /// `seq << 8 | slot` of the newest complete value.
    pub(crate) latest: AtomicU64,
    /// Its first `INLINE` bytes, little-endian words.
    pub(crate) data: [AtomicU64; INLINE / 8],
}

/// The cell's control block, after the segment header.
#[repr(C)]
pub(crate) struct CellCtl {
    pub(crate) cfg: Config,
    pub(crate) express: Express,
}

/// The header in front of each slot's value: its seqlock, sequence number and length.
#[repr(C)]
pub(crate) struct SlotHdr {
    pub(crate) version: AtomicU64,
    pub(crate) seq: AtomicU64,
    pub(crate) len: AtomicU64,
}

/// Bytes of slot header before each value.
pub(crate) const SLOT_HDR: usize = 24;

#[cfg(not(loom))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<CellCtl>() == CONTROL_LEN);
    assert!(offset_of!(CellCtl, express) == 64);
    assert!(offset_of!(Express, latest) == 8);
    assert!(size_of::<SlotHdr>() == SLOT_HDR);
};

/// Where the protocol finds slot `i`'s header (in the mapped data region, or in a loom model).
pub(crate) trait Slots {
    fn count(&self) -> usize;
    fn hdr(&self, i: usize) -> &SlotHdr;
}

const SLOT_BITS: u32 = 8;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const SEQ_MASK: u64 = u64::MAX >> SLOT_BITS;

/// Bytes of control block a cell needs after the segment header.
pub(crate) const CONTROL_LEN: usize = 128;

/// Bytes between slots: header and capacity, rounded up to whole cache lines.
pub(crate) fn stride_for(capacity: usize) -> Option<usize> {
    capacity.checked_add(SLOT_HDR)?.checked_next_multiple_of(64)
}

/// The next odd seqlock value after `v` (an odd `v` was left by a writer that died: move on to
/// the next odd one).
fn odd_after(v: u64) -> u64 {
    if v % 2 == 0 {
        v.wrapping_add(1)
    } else {
        v.wrapping_add(2)
    }
}

/// What a cell's only writer last wrote to the express line: `latest` and the even `ver`.
///
/// A writer that keeps it need not read that line before it writes it — and the read is
/// what a reader's polling makes costly: on the AMD EPYC of `shmkit bench`, a line the reader
/// loaded after our write comes back only from the reader's cache, a transfer on the
/// round trip's path (the spinning round trip, timed one by one, measured 180 ns reading it,
/// 130 ns without). Valid only while no other writer can publish: from taking the lock for
/// good (loaded then, under the lock) to letting it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    pub(crate) latest: u64,
    pub(crate) ver: u32,
}

impl Known {
    /// What the express line holds now (the caller holds the lock).
    pub(crate) fn load(ctl: &CellCtl) -> Known {
        // SYNC: Relaxed: the caller holds the lock, whose Acquire pairs with the previous
        // writer's Release unlock.
        Known {
            latest: ctl.express.latest.load(Ordering::Relaxed),
            ver: ctl.express.ver.load(Ordering::Relaxed),
        }
    }
}

/// Writes a value into the slot after `latest`'s and makes it the latest. The caller holds the
/// writer lock; `fill(slot)` writes the value's `len` bytes into that slot, and
/// `read_back(slot, buf)` copies its first `buf.len()` bytes back (for the express line).
/// `known`: the express line as this writer left it, if it is the cell's only writer (updated
/// here); `None` reads it.
///
/// Returns the new value's sequence number.
pub(crate) fn publish(
    ctl: &CellCtl,
    slots: &impl Slots,
    len: u64,
    known: Option<&mut Known>,
    fill: impl FnOnce(usize),
    read_back: impl FnOnce(usize, &mut [u8]),
) -> u64 {
    publish_inline_up_to(ctl, slots, len, INLINE, known, fill, read_back)
}

/// [`publish`], with values of up to `inline_max` bytes in the express line (the loom models
/// check both paths with two-byte values).
fn publish_inline_up_to(
    ctl: &CellCtl,
    slots: &impl Slots,
    len: u64,
    inline_max: usize,
    known: Option<&mut Known>,
    fill: impl FnOnce(usize),
    read_back: impl FnOnce(usize, &mut [u8]),
) -> u64 {
    let x = &ctl.express;
    // We hold the lock: `latest` and `ver` are what the previous writer (or we) left.
    let line = match known.as_deref() {
        Some(&k) => k,
        None => Known::load(ctl),
    };
    let cur = line.latest;
    // A corrupt slot index is repaired here (we are the writer): start from slot 0.
    let cur_slot = (cur & SLOT_MASK) as usize % slots.count();
    let seq = ((cur >> SLOT_BITS) + 1) & SEQ_MASK;
    let i = (cur_slot + 1) % slots.count();
    let s = slots.hdr(i);
    let writing = odd_after(s.version.load(Ordering::Relaxed));
    s.version.store(writing, Ordering::Relaxed);
    // SYNC: orders the odd version before the data writes (Boehm's writer fence); pairs with
    // the reader's Acquire fence before its re-check.
    fence(Ordering::Release);
    fill(i);
    s.len.store(len, Ordering::Relaxed);
    s.seq.store(seq, Ordering::Relaxed);
    // SYNC: Release publishes the data, len and seq to readers that load this version with
    // Acquire.
    s.version.store(writing.wrapping_add(1), Ordering::Release);

    // Step 5: the express line.
    let mut inline = [0u8; INLINE];
    let small = len <= inline_max.min(INLINE) as u64;
    if small {
        read_back(i, &mut inline[..len as usize]);
    }
    let xv = odd_after(u64::from(line.ver)) as u32;
    x.ver.store(xv, Ordering::Relaxed);
    // SYNC: the line's writer fence, as for the slot.
    fence(Ordering::Release);
    x.len.store(
        if small { len as u32 } else { NOT_INLINE },
        Ordering::Relaxed,
    );
    // SYNC: Release pairs with the Acquire load of `latest` on the slot path (a reader that
    // finds `ver` odd): the slot is finished before `latest` names it.
    let latest = seq << SLOT_BITS | i as u64;
    x.latest.store(latest, Ordering::Release);
    if small {
        // Only the words the value uses (fewer atomic stores; the model checks fewer steps).
        let words = len.div_ceil(8) as usize;
        for (w, b) in x.data.iter().zip(inline.chunks_exact(8)).take(words) {
            w.store(
                u64::from_le_bytes(b.try_into().expect("8 bytes")),
                Ordering::Relaxed,
            );
        }
    }
    // SYNC: Release publishes the line to readers that load this `ver` with Acquire.
    x.ver.store(xv.wrapping_add(1), Ordering::Release);
    if let Some(k) = known {
        *k = Known {
            latest,
            ver: xv.wrapping_add(1),
        };
    }
    seq
}

/// The sequence number of the newest complete value.
pub(crate) fn latest_seq(ctl: &CellCtl) -> u64 {
    ctl.express.latest.load(Ordering::Acquire) >> SLOT_BITS
}

/// How many consecutive failed attempts, with `latest` unchanged, mean the slot is stuck (only a
/// process scribbling on the cell can do that: writers never touch the latest value's slot).
const STUCK_LIMIT: u32 = if cfg!(loom) { u32::MAX } else { 1 << 20 };

/// Where a read found the value it hands over.
#[derive(Debug)]
pub(crate) enum ValueAt<'a> {
    /// In the express line: these bytes, already copied out and checked whole.
    Inline(&'a [u8]),
    /// In slot `i` (copy `len` bytes out; the copy may be discarded and asked again).
    Slot(usize),
}

/// Reads the newest complete value: `take(at, len)` copies its `len` bytes out of where they
/// are (it may be called again if a writer overlapped a copy from a slot). Returns `(seq, len)`
/// of the value whose copy is consistent.
///
/// Errors (a description for `ErrorKind::Corrupt`) come only from cells whose control block
/// another process scribbled on.
pub(crate) fn read(
    ctl: &CellCtl,
    slots: &impl Slots,
    capacity: u64,
    take: impl FnMut(ValueAt<'_>, usize),
) -> Result<(u64, u64), String> {
    read_bounded(ctl, slots, capacity, STUCK_LIMIT, take)
}

/// [`read`], giving up as stuck after `stuck_limit` failed attempts with `latest` unchanged
/// (fuzzing reads memory that never changes, where every retry fails alike).
fn read_bounded(
    ctl: &CellCtl,
    slots: &impl Slots,
    capacity: u64,
    stuck_limit: u32,
    mut take: impl FnMut(ValueAt<'_>, usize),
) -> Result<(u64, u64), String> {
    let x = &ctl.express;
    let mut last = u64::MAX;
    let mut stuck = 0u32;
    loop {
        // SYNC: Acquire pairs with the Release store of the even `ver` in `publish`.
        let xv = x.ver.load(Ordering::Acquire);
        // SYNC: Acquire pairs with the Release store of `latest` in `publish` (slot path).
        let l = x.latest.load(Ordering::Acquire);
        if xv % 2 == 0 {
            let elen = x.len.load(Ordering::Relaxed);
            if elen as usize <= INLINE && u64::from(elen) <= capacity {
                let mut inline = [0u8; INLINE];
                let words = (elen as usize).div_ceil(8);
                for (w, b) in x.data.iter().zip(inline.chunks_exact_mut(8)).take(words) {
                    b.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
                }
                // SYNC: keeps the line's reads before the re-check (Boehm's reader fence);
                // pairs with the writer's Release fence after its odd `ver`.
                fence(Ordering::Acquire);
                if x.ver.load(Ordering::Relaxed) == xv {
                    let len = elen as usize;
                    take(ValueAt::Inline(&inline[..len]), len);
                    return Ok((l >> SLOT_BITS, u64::from(elen)));
                }
                spin_hint();
                continue;
            }
        }
        let i = (l & SLOT_MASK) as usize;
        if i >= slots.count() {
            return Err(format!(
                "the latest value is in slot {i} of {}",
                slots.count()
            ));
        }
        let s = slots.hdr(i);
        // SYNC: Acquire pairs with the Release store of the even version in `publish`.
        let v1 = s.version.load(Ordering::Acquire);
        if v1 % 2 == 0 {
            let len = s.len.load(Ordering::Relaxed);
            let seq = s.seq.load(Ordering::Relaxed);
            if len <= capacity {
                take(ValueAt::Slot(i), len as usize);
            }
            // SYNC: keeps the data reads before the version re-check (Boehm's reader fence);
            // pairs with the writer's Release fence after its odd version.
            fence(Ordering::Acquire);
            // Only the value `latest` names: a slot rewritten since (the writer lapped us) may
            // hold a newer value, but accepting it would let a later read — seeing an older
            // `latest` that is still on its way — go back in time. Loom found this.
            if s.version.load(Ordering::Relaxed) == v1 && seq == l >> SLOT_BITS {
                if len > capacity {
                    return Err(format!(
                        "a value of {len} bytes in a cell of capacity {capacity}"
                    ));
                }
                return Ok((seq, len));
            }
        }
        if l == last {
            stuck += 1;
            if stuck >= stuck_limit {
                return Err("the latest value's slot stays mid-write".to_string());
            }
        } else {
            (last, stuck) = (l, 0);
        }
        spin_hint();
        if stuck % 64 == 63 {
            #[cfg(not(loom))]
            std::thread::yield_now();
        }
    }
}

// ---- the public handles --------------------------------------------------------------------

#[cfg(not(loom))]
pub use handle::*;

#[cfg(not(loom))]
mod handle {
    use super::*;
    use crate::error::{Error, ErrorKind, Op, Result};
    use crate::layout::{HEADER_LEN, Kind};
    use crate::name::{IntoName, NativeName, SegmentName};
    use crate::notify::Waited;
    use crate::segment::{Access, Lifetime, Segment, SegmentOptions, Spec, open_or_create_with};
    use std::mem::MaybeUninit;
    use std::sync::atomic::AtomicUsize;

    /// `buf` as memory to be written: for readers that only ever write initialised bytes into
    /// it ([`Cell::read_fitting`]), so that it stays a valid `[u8]`.
    fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
        // SAFETY: same size and layout; the callers write only initialised bytes through it.
        unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
    }

    /// How long opening a cell as its exclusive writer waits for the lock
    /// ([`CellOptions::exclusive`]).
    pub const EXCLUSIVE_WAIT: Duration = Duration::from_secs(1);

    /// Polls of a spinning waiter between two reads of the clock: about 1.5 µs of spinning at
    /// the 23 ns a spin hint takes on the AMD EPYC the benchmarks ran on.
    const SPINS_PER_CLOCK_READ: u32 = 64;

    /// Options for creating or opening a [`Cell`] (or [`TypedCell`]).
    ///
    /// ```
    /// use shmkit::{Access, CellOptions};
    ///
    /// # let name = format!("doc-cellopt-{}", std::process::id());
    /// let writer = CellOptions::new().capacity(1024).slots(4).mode(0o640).create(&name)?;
    /// let reader = CellOptions::new().access(Access::ReadOnly).open(&name)?;
    /// assert_eq!(reader.capacity(), 1024);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[derive(Debug, Clone)]
    pub struct CellOptions {
        seg: SegmentOptions,
        capacity: Option<usize>,
        slots: Option<u32>,
        spin: Duration,
        format: Option<crate::Format>,
        exclusive: bool,
    }

    impl Default for CellOptions {
        fn default() -> Self {
            CellOptions::new()
        }
    }

    impl CellOptions {
        /// Defaults: no capacity (required to create), [`DEFAULT_SLOTS`] slots, mode `0600`,
        /// [`Lifetime::LastClose`], read-write, no spinning before sleeping.
        pub fn new() -> CellOptions {
            CellOptions {
                seg: SegmentOptions::new(),
                capacity: None,
                slots: None,
                spin: Duration::ZERO,
                format: None,
                exclusive: false,
            }
        }

        /// The largest value, in bytes (required to create).
        pub fn capacity(mut self, bytes: usize) -> CellOptions {
            self.capacity = Some(bytes);
            self
        }

        /// Number of value buffers, 2 to [`MAX_SLOTS`] (default [`DEFAULT_SLOTS`]). A reader
        /// has to retry only when the writer publishes `slots - 1` values while it copies one;
        /// the memory used is `slots × capacity`.
        pub fn slots(mut self, slots: u32) -> CellOptions {
            self.slots = Some(slots);
            self
        }

        /// What the values are (default: not said), recorded in the header for tools: a raw
        /// image format (every value one picture; it also sets the default capacity) or a media
        /// type (`text/plain`, `application/json`). See [`Format`](crate::Format).
        pub fn format(mut self, format: crate::Format) -> CellOptions {
            self.format = Some(format);
            self
        }

        /// Permission bits of a new cell (default `0600`). See [`SegmentOptions::mode`].
        ///
        /// # Panics
        /// If `mode` has bits outside `0o777`.
        pub fn mode(mut self, mode: u32) -> CellOptions {
            self.seg = self.seg.mode(mode);
            self
        }

        /// When the name goes away (default [`Lifetime::LastClose`]).
        pub fn lifetime(mut self, lifetime: Lifetime) -> CellOptions {
            self.seg = self.seg.lifetime(lifetime);
            self
        }

        /// Access for `open` (default read-write). A read-only cell can read and wait, not
        /// publish.
        pub fn access(mut self, access: Access) -> CellOptions {
            self.seg = self.seg.access(access);
            self
        }

        /// How long [`Cell::wait_newer`] spins, checking for a new value, before it sleeps
        /// (default 0: sleep at once). A short spin (tens of microseconds) catches a value that
        /// arrives soon without the cost of a sleep and wake-up, at the price of a busy CPU
        /// meanwhile.
        pub fn spin(mut self, spin: Duration) -> CellOptions {
            self.spin = spin;
            self
        }

        /// Makes the handle the cell's only writer for as long as it lives (default `false`).
        ///
        /// It takes the cell's lock when it creates or opens the cell and keeps it until it is
        /// dropped, as a stream's publisher does. Its publishes skip the per-publish lock (a
        /// lock and an unlock, two atomic read-modify-writes), and, as the only writer, it
        /// knows what the express line holds without reading it — a read that costs a cache
        /// line's transfer once a reader has polled the line. Together that takes the spinning
        /// round trip of `shmkit bench` from 186–190 ns to 107–111 ns, 1.13–1.22x the raw
        /// atomics'. Threads that share the handle take turns (one compare-and-swap
        /// in this process's memory); a publish through it from inside its own
        /// [`Cell::publish_with`] gets [`ErrorKind::WouldDeadlock`]. Meanwhile other
        /// handles' publishes wait, as they wait for any holder of the lock, and
        /// [`Segment::lock`] on this cell waits for this handle: do not call it while it
        /// writes. If the process dies, the lock passes to the next writer, which repairs what
        /// the dead one left half-written, as after any writer's death.
        ///
        /// Opening fails with [`ErrorKind::Timeout`], naming the holder, if another live
        /// process keeps the lock for [`EXCLUSIVE_WAIT`]; a read-only handle cannot be the
        /// writer ([`ErrorKind::InvalidInput`]).
        ///
        /// ```
        /// use shmkit::{Access, CellOptions};
        ///
        /// # let name = format!("doc-cellexcl-{}", std::process::id());
        /// let writer = CellOptions::new().capacity(64).exclusive(true).create(&name)?;
        /// writer.publish(b"mine alone")?;
        /// let other = CellOptions::new().exclusive(true).open(&name);
        /// assert_eq!(other.unwrap_err().kind(), shmkit::ErrorKind::Timeout);
        /// # Ok::<(), shmkit::Error>(())
        /// ```
        pub fn exclusive(mut self, exclusive: bool) -> CellOptions {
            self.exclusive = exclusive;
            self
        }

        /// Creates a new byte cell.
        ///
        /// # Errors
        /// As for [`SegmentOptions::create`]; [`ErrorKind::InvalidSize`] for a missing capacity
        /// or a slot count outside 2..=16.
        pub fn create(&self, name: impl IntoName) -> Result<Cell> {
            Cell::create_typed(self, name, 0)
        }

        /// Opens an existing byte cell.
        ///
        /// # Errors
        /// As for [`SegmentOptions::open`]; [`ErrorKind::Incompatible`] if it is not a cell
        /// (or is a typed cell), [`ErrorKind::Corrupt`] if its control block is inconsistent.
        pub fn open(&self, name: impl IntoName) -> Result<Cell> {
            Cell::open_typed(self, name, 0)
        }

        /// Opens the cell, or creates it if it does not exist (safe against racing processes).
        ///
        /// # Errors
        /// As for [`open`](Self::open) and [`create`](Self::create).
        ///
        /// The cell found must carry what these options ask for: a capacity of at least
        /// [`capacity`](Self::capacity), and the same [`slots`](Self::slots) and
        /// [`format`](Self::format) where they are set; otherwise [`ErrorKind::Incompatible`]
        /// names both sides.
        pub fn open_or_create(&self, name: impl IntoName) -> Result<Cell> {
            let name = name.into_name()?;
            let opts = self.clone().access(Access::ReadWrite);
            let cell = open_or_create_with(|| opts.open(&name), || opts.create(&name))?;
            let mut diffs = Vec::new();
            if let Some(c) = self.capacity.filter(|&c| c > cell.capacity) {
                diffs.push(format!("a capacity of {} bytes, not {c}", cell.capacity));
            }
            if let Some(n) = self.slots.filter(|&n| n != cell.slots) {
                diffs.push(format!("{} slots, not {n}", cell.slots));
            }
            if let Some(f) = self.format.as_ref().filter(|&f| cell.format() != Some(f)) {
                let has = cell.format().map_or("none".to_string(), |f| f.to_string());
                diffs.push(format!("format {has}, not {f}"));
            }
            if diffs.is_empty() {
                return Ok(cell);
            }
            Err(
                Error::new(ErrorKind::Incompatible, Op::Open, name.to_string())
                    .reason(format!("the existing cell has {}", diffs.join(", ")))
                    .hint("use options it has, or remove it (`shmkit rm NAME`) and create it anew"),
            )
        }
    }

    /// A latest-value cell of bytes in shared memory. See the [module docs](crate::cell) for the
    /// protocol.
    ///
    /// ```
    /// use shmkit::{Access, Cell};
    /// use std::time::Duration;
    ///
    /// # let name = format!("doc-cell-{}", std::process::id());
    /// // The writer process:
    /// let writer = Cell::create(&name, 256)?;
    /// let seq = writer.publish(b"temperature 21.5")?;
    ///
    /// // A reader process:
    /// let reader = Cell::open(&name, Access::ReadOnly)?;
    /// let snap = reader.snapshot()?;
    /// assert_eq!((snap.seq, &snap.data[..]), (seq, &b"temperature 21.5"[..]));
    ///
    /// writer.publish(b"22.0")?; // shorter: no stale tail
    /// let newer = reader.wait_newer(snap.seq, Some(Duration::from_secs(1)))?;
    /// assert_eq!(reader.snapshot()?.data, b"22.0");
    /// assert_eq!(newer, seq + 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub struct Cell {
        seg: Segment,
        capacity: usize,
        stride: usize,
        slots: u32,
        spin: Duration,
        /// The exclusive writer's side, if this handle holds the lock for its life
        /// ([`CellOptions::exclusive`]).
        own: Option<Own>,
    }

    /// What a cell's exclusive writer keeps to itself: whose turn it is among the threads that
    /// share the handle, and the express line as it left it.
    ///
    /// The segment's lock, which the handle holds for good, keeps other handles out, not other
    /// threads publishing through this one: they take turns here, with one compare-and-swap on
    /// memory of this process — not the lock's two read-modify-writes on the shared line.
    struct Own {
        /// The token of the thread whose turn it is (see `thread_token`); 0: nobody's.
        turn: AtomicUsize,
        /// [`Known`], read and written only by the thread whose turn it is.
        latest: AtomicU64,
        ver: AtomicU32,
    }

    /// A turn to publish through an exclusive handle; ends when dropped (also when `fill`
    /// unwinds: the next publish then takes over the half-written slot, as after a crash).
    struct Turn<'a>(&'a Own);

    impl Own {
        fn new(line: Known) -> Own {
            Own {
                turn: AtomicUsize::new(0),
                latest: AtomicU64::new(line.latest),
                ver: AtomicU32::new(line.ver),
            }
        }

        /// Waits for this thread's turn; `None` if it has it already (a publish from inside
        /// `publish_with`'s `fill`, which would overwrite the value being written).
        fn turn(&self) -> Option<Turn<'_>> {
            let me = thread_token();
            let mut tries = 0u32;
            loop {
                // SYNC: Acquire pairs with the Release that ended the previous turn, whose
                // stores (here and in the segment) we build on.
                match self
                    .turn
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return Some(Turn(self)),
                    Err(t) if t == me => return None,
                    Err(_) => {
                        // Another thread publishes: briefly, unless its `fill` is slow.
                        tries = tries.saturating_add(1);
                        if tries < 100 {
                            spin_hint();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                }
            }
        }
    }

    impl Turn<'_> {
        fn known(&self) -> Known {
            Known {
                latest: self.0.latest.load(Ordering::Relaxed),
                ver: self.0.ver.load(Ordering::Relaxed),
            }
        }

        fn keep(&self, line: Known) {
            self.0.latest.store(line.latest, Ordering::Relaxed);
            self.0.ver.store(line.ver, Ordering::Relaxed);
        }
    }

    impl Drop for Turn<'_> {
        fn drop(&mut self) {
            // SYNC: Release hands this turn's stores to the next thread's Acquire.
            self.0.turn.store(0, Ordering::Release);
        }
    }

    /// A word that tells the calling thread from the others alive now: the address of its own
    /// thread-local byte (never 0).
    fn thread_token() -> usize {
        thread_local! {
            static TOKEN: u8 = const { 0 };
        }
        TOKEN.with(|t| std::ptr::from_ref(t) as usize)
    }

    impl Slots for Cell {
        fn count(&self) -> usize {
            self.slots as usize
        }

        fn hdr(&self, i: usize) -> &SlotHdr {
            assert!(i < self.slots as usize, "slot {i} of {}", self.slots);
            // SAFETY: slot i's header is the first 24 bytes of its stride inside the data
            // region (validated); the data region is page-aligned and the stride a multiple of
            // 64, so it is aligned for `SlotHdr`, which is all atomics.
            unsafe { &*self.seg.as_ptr().add(i * self.stride).cast::<SlotHdr>() }
        }
    }

    /// A copied-out value and its sequence number: bytes from a [`Cell`], a `T` from a
    /// [`TypedCell<T>`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Snapshot<T = Vec<u8>> {
        /// The value's sequence number: 0 for the empty value a cell starts with, then 1, 2, ...
        /// for each publish.
        pub seq: u64,
        /// The value.
        pub data: T,
    }

    impl fmt::Debug for Cell {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Cell")
                .field("name", self.seg.name())
                .field("capacity", &self.capacity)
                .field("slots", &self.slots)
                .field("access", &self.seg.access())
                .field("exclusive", &self.own.is_some())
                .finish()
        }
    }

    impl Drop for Cell {
        fn drop(&mut self) {
            if self.own.is_some() {
                self.seg.unlock_raw();
            }
        }
    }

    impl Cell {
        /// Creates a byte cell for values of up to `capacity` bytes, with the default options.
        ///
        /// # Errors
        /// As for [`CellOptions::create`].
        pub fn create(name: impl IntoName, capacity: usize) -> Result<Cell> {
            CellOptions::new().capacity(capacity).create(name)
        }

        /// Opens an existing byte cell.
        ///
        /// # Errors
        /// As for [`CellOptions::open`].
        pub fn open(name: impl IntoName, access: Access) -> Result<Cell> {
            CellOptions::new().access(access).open(name)
        }

        /// The builder for everything else.
        pub fn options() -> CellOptions {
            CellOptions::new()
        }

        fn create_typed(opts: &CellOptions, name: impl IntoName, type_size: u32) -> Result<Cell> {
            let name = name.into_name().map_err(|e| e.during(Op::Create))?;
            let bad = |why: String| {
                Error::new(ErrorKind::InvalidSize, Op::Create, name.to_string()).reason(why)
            };
            let image = opts.format.as_ref().and_then(crate::Format::frame_len);
            let capacity = opts.capacity.or(image).ok_or_else(|| {
                bad("no capacity given".into()).hint("set one with CellOptions::capacity")
            })?;
            if let (Some(len), Some(f)) = (image, &opts.format) {
                if len > capacity {
                    return Err(bad(format!(
                        "a value of {f} is {len} bytes, more than the capacity of {capacity}"
                    )));
                }
            }
            let nslots = opts.slots.unwrap_or(DEFAULT_SLOTS);
            if !(2..=MAX_SLOTS).contains(&nslots) {
                return Err(bad(format!("{nslots} slots; a cell has 2 to {MAX_SLOTS}")));
            }
            let stride = stride_for(capacity)
                .filter(|s| s.checked_mul(nslots as usize).is_some())
                .ok_or_else(|| {
                    bad(format!(
                        "a capacity of {capacity} bytes is more than this system can address"
                    ))
                })?;
            let data_len = stride * nslots as usize;
            let spec = Spec::Shmkit {
                kind: Kind::Cell,
                control_extra: CONTROL_LEN,
            };
            let slots = nslots;
            let mut seg_opts = opts.seg.clone();
            if let Some(f) = &opts.format {
                seg_opts = seg_opts.format(f.clone());
            }
            let seg = Segment::create_with(&name, &seg_opts, spec, data_len, &mut |base| {
                // SAFETY: `base` is the new, zeroed, page-aligned mapping, at least
                // HEADER_LEN + CONTROL_LEN bytes; nobody else sees it yet.
                let ctl = unsafe { &*base.add(HEADER_LEN).cast::<CellCtl>() };
                ctl.cfg.capacity.store(capacity as u64, Ordering::Relaxed);
                ctl.cfg.stride.store(stride as u64, Ordering::Relaxed);
                ctl.cfg.slots.store(slots, Ordering::Relaxed);
                ctl.cfg.type_size.store(type_size, Ordering::Relaxed);
                // latest = 0: seq 0, slot 0, which holds the empty value (all zeroes).
            })?;
            Cell {
                seg,
                capacity,
                stride,
                slots,
                spin: opts.spin,
                own: None,
            }
            .writing_alone(opts.exclusive)
        }

        fn open_typed(opts: &CellOptions, name: impl IntoName, type_size: u32) -> Result<Cell> {
            let name = name.into_name().map_err(|e| e.during(Op::Open))?;
            let seg = Segment::open_with(&name, &opts.seg, Some(Kind::Cell))?;
            Cell::from_segment(seg, &name, type_size, opts.spin)?.writing_alone(opts.exclusive)
        }

        /// Takes the lock for the handle's life if `exclusive` (see [`CellOptions::exclusive`]).
        fn writing_alone(mut self, exclusive: bool) -> Result<Cell> {
            if !exclusive {
                return Ok(self);
            }
            if self.seg.access() == Access::ReadOnly {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    Op::Open,
                    self.seg.name().to_string(),
                )
                .reason("a read-only handle cannot be the cell's exclusive writer"));
            }
            if self
                .seg
                .lock_raw(Some(Instant::now() + EXCLUSIVE_WAIT))?
                .is_none()
            {
                let why = self.seg.lock_busy_reason(EXCLUSIVE_WAIT);
                return Err(
                    Error::new(ErrorKind::Timeout, Op::Open, self.seg.name().to_string())
                        .reason(format!("it has another writer: {why}"))
                        .hint("one exclusive writer at a time; a writer without `exclusive` waits for it before each publish"),
                );
            }
            // Ours until the handle goes: what the express line holds now stays what we left.
            self.own = Some(Own::new(Known::load(self.ctl())));
            Ok(self)
        }

        /// Validates the control block of an opened cell segment and keeps its own copy of the
        /// geometry.
        fn from_segment(
            seg: Segment,
            name: &SegmentName,
            type_size: u32,
            spin: Duration,
        ) -> Result<Cell> {
            let corrupt = |why: String| {
                Error::new(ErrorKind::Corrupt, Op::Open, name.to_string())
                    .reason(format!("its cell control block is corrupt: {why}"))
            };
            if seg.control_len() < CONTROL_LEN {
                return Err(corrupt("no room for it".into()));
            }
            // SAFETY: the control region holds at least 64 bytes after the header (checked
            // above), aligned to 64; `CellCtl` is all atomics.
            let ctl = unsafe { &*seg.control_ptr().cast::<CellCtl>() };
            let slots = ctl.cfg.slots.load(Ordering::Relaxed);
            let capacity = ctl.cfg.capacity.load(Ordering::Relaxed);
            let stride = ctl.cfg.stride.load(Ordering::Relaxed);
            let found_type = ctl.cfg.type_size.load(Ordering::Relaxed);
            if !(2..=MAX_SLOTS).contains(&slots) {
                return Err(corrupt(format!("{slots} slots")));
            }
            if stride % 64 != 0
                || capacity
                    .checked_add(SLOT_HDR as u64)
                    .is_none_or(|n| n > stride)
            {
                return Err(corrupt(format!(
                    "capacity {capacity} with slot stride {stride}"
                )));
            }
            if stride
                .checked_mul(u64::from(slots))
                .is_none_or(|n| n > seg.len() as u64)
            {
                return Err(corrupt(format!(
                    "{slots} slots of {stride} bytes do not fit its {} data bytes",
                    seg.len()
                )));
            }
            if u64::from(found_type) > capacity {
                return Err(corrupt(format!(
                    "{found_type}-byte values in slots of {capacity} bytes"
                )));
            }
            if found_type != type_size {
                let what = |t: u32| match t {
                    0 => "a byte cell".to_string(),
                    n => format!("a typed cell of {n}-byte values"),
                };
                return Err(
                    Error::new(ErrorKind::Incompatible, Op::Open, name.to_string()).reason(
                        format!("it is {}, not {}", what(found_type), what(type_size)),
                    ),
                );
            }
            Ok(Cell {
                seg,
                capacity: capacity as usize,
                stride: stride as usize,
                slots,
                spin,
                own: None,
            })
        }

        fn ctl(&self) -> &CellCtl {
            // SAFETY: validated in `from_segment` / laid out in `create_typed`: the control
            // block lies in the mapping, aligned; all atomics.
            unsafe { &*self.seg.control_ptr().cast::<CellCtl>() }
        }

        /// Where slot `i`'s value starts (after its header).
        fn slot_ptr(&self, i: usize) -> *mut u8 {
            debug_assert!(i < self.slots as usize);
            // SAFETY: i < slots and slots × stride ≤ the data length, stride ≥ SLOT_HDR +
            // capacity (validated), so the value lies inside the mapping.
            unsafe { self.seg.as_ptr().cast_mut().add(i * self.stride + SLOT_HDR) }
        }

        /// The cell's name.
        pub fn name(&self) -> &NativeName {
            self.seg.name()
        }

        /// The largest value it holds, in bytes.
        pub fn capacity(&self) -> usize {
            self.capacity
        }

        /// Number of value buffers.
        pub fn slots(&self) -> u32 {
            self.slots
        }

        /// The segment underneath (for its name, lock, lifetime, ...).
        pub fn segment(&self) -> &Segment {
            &self.seg
        }

        /// Sets how long [`wait_newer`](Self::wait_newer) spins before sleeping.
        pub fn set_spin(&mut self, spin: Duration) {
            self.spin = spin;
        }

        fn write_error(&self, kind: ErrorKind, why: String) -> Error {
            Error::new(kind, Op::Publish, self.seg.name().to_string()).reason(why)
        }

        /// Publishes `value` as the cell's new value; returns its sequence number.
        ///
        /// Writers in different processes (or threads) are serialised by the segment's lock;
        /// readers are never blocked. If a previous writer died mid-publish, this one takes over.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidSize`] if `value` is longer than the capacity,
        /// [`ErrorKind::PermissionDenied`] on a read-only handle.
        pub fn publish(&self, value: &[u8]) -> Result<u64> {
            self.check_publish(value.len())?;
            let fill = |buf: &mut [u8]| crate::shared::copy_owned(buf, value);
            let seq = match &self.own {
                Some(own) => self.publish_own(own, value.len(), fill)?,
                // No user code runs under the lock here: the lighter `with_lock` will do.
                None => self
                    .seg
                    .with_lock(|| self.publish_locked(value.len(), None, fill))
                    .map_err(|e| e.during(Op::Publish))?,
            };
            self.signal();
            Ok(seq)
        }

        /// Publishes a value of `len` bytes written in place by `fill`: no intermediate copy.
        ///
        /// `fill` gets the slot's memory (whatever it held before: write all `len` bytes). If
        /// the process dies inside `fill`, readers keep seeing the previous value.
        ///
        /// The `&mut [u8]` is sound: no other process writes the slot meanwhile (writers take
        /// the cell's lock, and the slot is not the one `latest` names). Readers may be copying
        /// it (they discard the copy when they see its odd version), which cannot change what
        /// `fill` sees.
        ///
        /// # Errors
        /// As for [`publish`](Self::publish).
        pub fn publish_with(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<u64> {
            self.check_publish(len)?;
            let seq = match &self.own {
                Some(own) => self.publish_own(own, len, fill)?,
                None => {
                    // `fill` is the caller's code, which may try the lock: a guard records it
                    // held.
                    let guard = self.seg.lock().map_err(|e| e.during(Op::Publish))?;
                    let seq = self.publish_locked(len, None, fill);
                    drop(guard);
                    seq
                }
            };
            self.signal();
            Ok(seq)
        }

        fn check_publish(&self, len: usize) -> Result<()> {
            if len > self.capacity {
                return Err(self.write_error(
                    ErrorKind::InvalidSize,
                    format!(
                        "a value of {len} bytes does not fit its capacity of {}",
                        self.capacity
                    ),
                ));
            }
            if self.seg.access() == Access::ReadOnly {
                return Err(self.write_error(
                    ErrorKind::PermissionDenied,
                    "this handle was opened read-only".into(),
                ));
            }
            Ok(())
        }

        /// The exclusive writer's publish: in this thread's turn, with the express line known.
        fn publish_own(&self, own: &Own, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<u64> {
            let turn = own.turn().ok_or_else(|| {
                self.write_error(
                    ErrorKind::WouldDeadlock,
                    "this thread is publishing through this handle already (from inside \
                     `publish_with`'s fill?)"
                        .into(),
                )
            })?;
            let mut line = turn.known();
            let seq = self.publish_locked(len, Some(&mut line), fill);
            turn.keep(line);
            Ok(seq)
        }

        /// The protocol's publish, with the writer lock held (`known`: see [`publish`]).
        fn publish_locked(
            &self,
            len: usize,
            known: Option<&mut Known>,
            fill: impl FnOnce(&mut [u8]),
        ) -> u64 {
            let seq = publish(
                self.ctl(),
                self,
                len as u64,
                known,
                |i| {
                    // SAFETY: slot `i` is `stride >= len` bytes of our writable data region. We
                    // hold the writer lock and the slot is not the latest one (`publish` step 1),
                    // so no other writer that follows the protocol touches it, and readers only
                    // copy from it (discarding what they copied, thanks to the odd version).
                    let buf = unsafe { std::slice::from_raw_parts_mut(self.slot_ptr(i), len) };
                    fill(buf);
                },
                |i, buf| {
                    // SAFETY: slot `i` holds the `len >= buf.len()` bytes just written, inside
                    // our mapping; `buf` is private.
                    unsafe { crate::shared::copy_out(self.slot_ptr(i), buf) };
                },
            );
            // The coarse clock moves once per timer tick: store it only then (a store per
            // publish measured a third of a publish).
            let (now, last) = (crate::sys::coarse_now_ns(), &self.ctl().cfg.last_ns);
            if last.load(Ordering::Relaxed) != now {
                last.store(now, Ordering::Relaxed);
            }
            seq
        }

        /// Wakes the readers that sleep on the cell (a futex wake only if there are any).
        fn signal(&self) {
            self.seg
                .header()
                .expect("a cell has a header")
                .change
                .signal(self.seg.wake_always());
        }

        /// The sequence number of the newest value (0 before the first publish).
        pub fn seq(&self) -> u64 {
            latest_seq(self.ctl())
        }

        /// Copies the newest value into `buf` (replacing its contents); returns its sequence
        /// number. Reuses `buf`'s allocation, so a loop of `read_into` allocates nothing.
        ///
        /// # Errors
        /// [`ErrorKind::Corrupt`] if another process scribbled on the cell's control block.
        pub fn read_into(&self, buf: &mut Vec<u8>) -> Result<u64> {
            let res = read(self.ctl(), self, self.capacity as u64, |at, len| {
                buf.clear();
                let i = match at {
                    ValueAt::Inline(bytes) => return buf.extend_from_slice(bytes),
                    ValueAt::Slot(i) => i,
                };
                buf.reserve(len);
                // SAFETY: slot `i` holds `len <= capacity <= stride` bytes inside our mapping
                // (checked by `read` before calling us); `buf` has room for `len` bytes after
                // `reserve` (its spare capacity, private) and cannot overlap shared memory.
                // `copy_out_raw` reads each byte once, so a concurrent writer can only change
                // which bytes we copy; `read` then discards the copy.
                unsafe {
                    crate::shared::copy_out_raw(self.slot_ptr(i), buf.as_mut_ptr(), len);
                    buf.set_len(len);
                }
            });
            match res {
                Ok((seq, _)) => Ok(seq),
                Err(why) => {
                    buf.clear();
                    Err(self.corrupt(why))
                }
            }
        }

        /// Copies the newest value to the start of `buf`; returns its sequence number and its
        /// length. For a caller that owns the destination already (a binding's buffer, an
        /// image), this is one copy where [`read_into`](Self::read_into) and then a copy
        /// would be two. A buffer of [`capacity`](Self::capacity) bytes always suffices.
        ///
        /// ```
        /// # let name = format!("shmkit-doc-read-to-{}", std::process::id());
        /// let cell = shmkit::Cell::create(name.as_str(), 64)?;
        /// cell.publish(b"hello")?;
        /// let mut buf = [0u8; 64];
        /// let (seq, len) = cell.read_to(&mut buf)?;
        /// assert_eq!((seq, &buf[..len]), (1, &b"hello"[..]));
        /// # Ok::<(), shmkit::Error>(())
        /// ```
        ///
        /// # Errors
        /// [`ErrorKind::InvalidSize`] if the newest value is longer than `buf` (its length is
        /// in the message); [`ErrorKind::Corrupt`] as for [`read_into`](Self::read_into). On
        /// an error the contents of `buf` are unspecified: a copy that a writer overlapped,
        /// and that was discarded, may have reached it.
        pub fn read_to(&self, buf: &mut [u8]) -> Result<(u64, usize)> {
            self.read_to_uninit(as_uninit(buf))
        }

        /// [`read_to`](Self::read_to) into memory that need not be initialised (a buffer from
        /// C, a fresh allocation): on success its first `len` bytes are the value.
        ///
        /// # Errors
        /// As for [`read_to`](Self::read_to).
        pub fn read_to_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> Result<(u64, usize)> {
            let room = buf.len();
            match self.read_fitting(buf) {
                Ok((seq, len)) if len > room as u64 => Err(self.too_long(seq, len, room)),
                Ok((seq, len)) => Ok((seq, len as usize)),
                Err(why) => Err(self.corrupt(why)),
            }
        }

        /// Copies the newest value to the start of `buf` if it fits there; returns its
        /// `(seq, len)` either way (`len > buf.len()`: nothing of it copied, though a
        /// discarded copy may have been). `Err`: a description for [`ErrorKind::Corrupt`].
        fn read_fitting(&self, buf: &mut [MaybeUninit<u8>]) -> Result<(u64, u64), String> {
            let room = buf.len();
            let dst = buf.as_mut_ptr().cast::<u8>();
            read(self.ctl(), self, self.capacity as u64, |at, len| {
                if len > room {
                    return;
                }
                match at {
                    // SAFETY: `bytes` is our own copy of the line (`len` bytes); `dst` has
                    // room for `len <= room` bytes and is not `bytes`.
                    ValueAt::Inline(bytes) => unsafe {
                        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, len);
                    },
                    // SAFETY: slot `i` holds `len <= capacity <= stride` bytes inside our
                    // mapping (checked by `read` before calling us); `dst` has room for `len
                    // <= room` bytes, private, so it cannot overlap shared memory.
                    // `copy_out_raw` reads each byte once, so a concurrent writer can only
                    // change which bytes we copy; `read` then discards the copy.
                    ValueAt::Slot(i) => unsafe {
                        crate::shared::copy_out_raw(self.slot_ptr(i), dst, len);
                    },
                }
            })
        }

        /// The error of a read whose value is longer than the buffer.
        #[cold]
        fn too_long(&self, seq: u64, len: u64, room: usize) -> Error {
            Error::new(
                ErrorKind::InvalidSize,
                Op::Read,
                self.seg.name().to_string(),
            )
            .reason(format!(
                "value #{seq} is {len} bytes, more than the {room}-byte buffer"
            ))
        }

        /// The error of a read that found the control block scribbled on.
        #[cold]
        fn corrupt(&self, why: String) -> Error {
            Error::new(ErrorKind::Corrupt, Op::Read, self.seg.name().to_string()).reason(why)
        }

        /// The newest value, copied out.
        ///
        /// # Errors
        /// As for [`read_into`](Self::read_into).
        pub fn snapshot(&self) -> Result<Snapshot> {
            let mut data = Vec::new();
            let seq = self.read_into(&mut data)?;
            Ok(Snapshot { seq, data })
        }

        /// Waits for a value newer than `seq` (at most `timeout`; `None`: no limit) and copies
        /// the newest into `buf`, in one call; returns its sequence number. What a reader loop
        /// wants: `let mut seq = 0; loop { seq = cell.read_newer_into(seq, &mut buf, None)?; }`.
        ///
        /// # Errors
        /// [`ErrorKind::Timeout`], or as for [`read_into`](Self::read_into).
        pub fn read_newer_into(
            &self,
            seq: u64,
            buf: &mut Vec<u8>,
            timeout: Option<Duration>,
        ) -> Result<u64> {
            self.wait_newer(seq, timeout)?;
            self.read_into(buf)
        }

        /// What the values are, as the cell's creator said.
        pub fn format(&self) -> Option<&crate::Format> {
            self.seg.format()
        }

        /// When the newest value was published (`None` before the first publish).
        pub fn last_publish(&self) -> Option<std::time::SystemTime> {
            match self.ctl().cfg.last_ns.load(Ordering::Relaxed) {
                0 => None,
                ns => Some(std::time::UNIX_EPOCH + Duration::from_nanos(ns)),
            }
        }

        /// Sleeps until a value newer than `seq` exists (at most `timeout`; `None`: no limit);
        /// returns the newest sequence number. Returns at once if one exists already.
        ///
        /// Spins first for the duration set by [`CellOptions::spin`]. Works on read-only
        /// handles.
        ///
        /// # Errors
        /// [`ErrorKind::Timeout`].
        pub fn wait_newer(&self, seq: u64, timeout: Option<Duration>) -> Result<u64> {
            // Spin on `latest` itself: the line the writer's publish changes last, so the value
            // is one more cache-line transfer away when we see it. (Also polling the next slot's
            // line, to overlap the two misses, measured slower: the line then bounces while the
            // writer fills it.) The first round of polls comes before any clock read: a read of
            // the clock costs 20-35 ns, as much as the hand-off it would delay.
            let polls = if self.spin.is_zero() {
                1
            } else {
                SPINS_PER_CLOCK_READ
            };
            if let Some(now) = self.poll_newer(seq, polls) {
                return Ok(now);
            }
            let start = Instant::now();
            let deadline = timeout.map(|t| start + t);
            if !self.spin.is_zero() {
                let until = start + self.spin.min(timeout.unwrap_or(Duration::MAX));
                while Instant::now() < until {
                    if let Some(now) = self.poll_newer(seq, SPINS_PER_CLOCK_READ) {
                        return Ok(now);
                    }
                }
            }
            let event = &self.seg.header().expect("a cell has a header").change;
            loop {
                // Event-count order: key first, then the condition.
                let key = event.key();
                let now = self.seq();
                if now > seq {
                    return Ok(now);
                }
                let waited = event.wait(key, deadline, Duration::ZERO, self.seg.control_writable());
                if waited == Waited::TimedOut {
                    let now = self.seq();
                    if now > seq {
                        return Ok(now);
                    }
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        Op::Wait,
                        self.seg.name().to_string(),
                    )
                    .reason(format!(
                        "no value newer than #{seq} within {:?}",
                        timeout.unwrap_or_default()
                    )));
                }
            }
        }

        /// Polls `latest` up to `polls` times (a spin hint between two): the newer sequence
        /// number once there is one.
        fn poll_newer(&self, seq: u64, polls: u32) -> Option<u64> {
            for i in 0..polls {
                let now = self.seq();
                if now > seq {
                    return Some(now);
                }
                if i + 1 < polls {
                    spin_hint();
                }
            }
            None
        }
    }

    /// A latest-value cell holding one `T` — any plain-old-data type (`bytemuck::Pod`: no
    /// pointers, no padding, every bit pattern valid, so whatever bytes another process wrote
    /// form a valid `T`).
    ///
    /// ```
    /// use shmkit::{Access, TypedCell};
    ///
    /// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Pose { x: f64, y: f64, heading: f32, frame: u32 }
    ///
    /// # let name = format!("doc-typed-{}", std::process::id());
    /// let writer = TypedCell::<Pose>::create(&name)?;
    /// writer.publish(&Pose { x: 1.0, y: 2.0, heading: 0.5, frame: 7 })?;
    ///
    /// let reader = TypedCell::<Pose>::open(&name, Access::ReadOnly)?;
    /// let pose = reader.get()?;
    /// assert_eq!((pose.data.frame, pose.seq), (7, 1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// Opening checks that the cell was created for values of `size_of::<T>()` bytes; it
    /// cannot check that both sides mean the same type.
    pub struct TypedCell<T: Pod> {
        cell: Cell,
        _t: std::marker::PhantomData<fn() -> T>,
    }

    impl<T: Pod> fmt::Debug for TypedCell<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TypedCell")
                .field("type", &std::any::type_name::<T>())
                .field("cell", &self.cell)
                .finish()
        }
    }

    impl<T: Pod> TypedCell<T> {
        fn type_size() -> Result<u32> {
            u32::try_from(std::mem::size_of::<T>())
                .ok()
                .filter(|&n| n > 0 && std::mem::align_of::<T>() <= 64)
                .ok_or_else(|| {
                    Error::new(ErrorKind::InvalidSize, Op::Create, None).reason(
                        "a typed cell needs a type of 1 byte to 4 GiB, aligned to at most 64",
                    )
                })
        }

        /// Creates a cell for one `T`, with the default options.
        ///
        /// # Errors
        /// As for [`CellOptions::create`].
        pub fn create(name: impl IntoName) -> Result<TypedCell<T>> {
            TypedCell::create_with(&CellOptions::new(), name)
        }

        /// Creates it with options (the capacity is set to `size_of::<T>()`).
        ///
        /// # Errors
        /// As for [`CellOptions::create`].
        pub fn create_with(opts: &CellOptions, name: impl IntoName) -> Result<TypedCell<T>> {
            let size = Self::type_size()?;
            let opts = opts.clone().capacity(size as usize);
            Ok(TypedCell {
                cell: Cell::create_typed(&opts, name, size)?,
                _t: std::marker::PhantomData,
            })
        }

        /// Opens an existing cell of `T`.
        ///
        /// # Errors
        /// As for [`CellOptions::open`]; [`ErrorKind::Incompatible`] if its values are not
        /// `size_of::<T>()` bytes.
        pub fn open(name: impl IntoName, access: Access) -> Result<TypedCell<T>> {
            TypedCell::open_with(&CellOptions::new().access(access), name)
        }

        /// Opens it with options.
        ///
        /// # Errors
        /// As for [`open`](Self::open).
        pub fn open_with(opts: &CellOptions, name: impl IntoName) -> Result<TypedCell<T>> {
            Ok(TypedCell {
                cell: Cell::open_typed(opts, name, Self::type_size()?)?,
                _t: std::marker::PhantomData,
            })
        }

        /// Publishes a new value; returns its sequence number.
        ///
        /// # Errors
        /// As for [`Cell::publish`].
        pub fn publish(&self, value: &T) -> Result<u64> {
            self.cell.publish(bytemuck::bytes_of(value))
        }

        /// The newest value and its sequence number. Before the first publish: all-zero bytes,
        /// sequence 0.
        ///
        /// # Errors
        /// [`ErrorKind::Corrupt`] as for [`Cell::read_into`].
        pub fn get(&self) -> Result<Snapshot<T>> {
            let mut value = T::zeroed();
            // Any bytes form a valid `T` (Pod).
            let out = bytemuck::bytes_of_mut(&mut value);
            let size = out.len();
            match self.cell.read_fitting(as_uninit(out)) {
                Ok((0, 0)) => Ok(Snapshot {
                    seq: 0,
                    data: T::zeroed(),
                }),
                Ok((seq, len)) if len as usize == size => Ok(Snapshot { seq, data: value }),
                Ok((_, len)) => Err(self.cell.corrupt(format!(
                    "a value of {len} bytes in a cell of {size}-byte values"
                ))),
                Err(why) => Err(self.cell.corrupt(why)),
            }
        }

        /// Sleeps until a value newer than `seq` exists; see [`Cell::wait_newer`].
        ///
        /// # Errors
        /// [`ErrorKind::Timeout`].
        pub fn wait_newer(&self, seq: u64, timeout: Option<Duration>) -> Result<u64> {
            self.cell.wait_newer(seq, timeout)
        }

        /// The sequence number of the newest value.
        pub fn seq(&self) -> u64 {
            self.cell.seq()
        }

        /// The byte cell underneath.
        pub fn as_cell(&self) -> &Cell {
            &self.cell
        }
    }

    /// A cell's state as its control block says, for tools (`shmkit info`, `top`): read
    /// without opening the cell, a snapshot that may change at once.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct CellDetails {
        /// The largest value, in bytes.
        pub capacity: u64,
        /// Number of value buffers.
        pub slots: u32,
        /// For a [`TypedCell`]: the size of its values.
        pub value_size: Option<u32>,
        /// The newest value's sequence number (0: nothing published yet).
        pub seq: u64,
        /// When the newest value was published.
        pub last_publish: Option<std::time::SystemTime>,
    }

    /// Reads [`CellDetails`] out of a cell's control block bytes (whatever they hold).
    pub(crate) fn details(ctl: &[u8]) -> std::result::Result<CellDetails, String> {
        let u64_at = |o| crate::layout::u64_at(ctl, o).ok_or("a cut-off control block");
        let u32_at = |o| crate::layout::u32_at(ctl, o).ok_or("a cut-off control block");
        let (capacity, stride) = (u64_at(0)?, u64_at(8)?);
        let (slots, type_size, last_ns) = (u32_at(16)?, u32_at(20)?, u64_at(24)?);
        let latest = u64_at(64 + 8)?;
        if !(2..=MAX_SLOTS).contains(&slots)
            || capacity
                .checked_add(SLOT_HDR as u64)
                .is_none_or(|n| n > stride)
        {
            return Err(format!(
                "{slots} slots of capacity {capacity} and stride {stride}"
            ));
        }
        Ok(CellDetails {
            capacity,
            slots,
            value_size: (type_size != 0).then_some(type_size),
            seq: latest >> SLOT_BITS,
            last_publish: (last_ns != 0)
                .then(|| std::time::UNIX_EPOCH + Duration::from_nanos(last_ns)),
        })
    }

    /// Runs a reader over `bytes` taken as a cell's control block, slot headers and values, as
    /// the `cell_read` fuzz target does: whatever the bytes, it must end without panicking or
    /// reading outside the slots. Returns the sequence number and the bytes of the value it
    /// read, or `None` where a real reader reports [`ErrorKind::Corrupt`]. Then a writer takes
    /// the same bytes over and publishes; that must not panic either, and the next read must
    /// return what it published.
    ///
    /// The bytes, little-endian, zero-padded when short: `latest` (8), the capacity (8, taken
    /// modulo 1025), the slot count (8, taken as 1 + n modulo [`MAX_SLOTS`]), the express
    /// line's `ver` and `len` (4 each) and its 48 bytes of value, then each slot's `version`,
    /// `seq` and `len` (8 each), then each slot's `capacity` bytes of value.
    #[doc(hidden)]
    pub fn fuzz_read(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
        struct Heap(Vec<SlotHdr>);
        impl Slots for Heap {
            fn count(&self) -> usize {
                self.0.len()
            }
            fn hdr(&self, i: usize) -> &SlotHdr {
                &self.0[i]
            }
        }
        let word = |o: usize| {
            let mut w = [0u8; 8];
            let b = bytes.get(o..).unwrap_or_default();
            let n = b.len().min(8);
            w[..n].copy_from_slice(&b[..n]);
            u64::from_le_bytes(w)
        };
        const SLOTS_AT: usize = 32 + INLINE;
        let capacity = (word(8) % 1025) as usize;
        let count = 1 + (word(16) % u64::from(MAX_SLOTS)) as usize;
        let slots = Heap(
            (0..count)
                .map(|i| {
                    let o = SLOTS_AT + i * SLOT_HDR;
                    SlotHdr {
                        version: AtomicU64::new(word(o)),
                        seq: AtomicU64::new(word(o + 8)),
                        len: AtomicU64::new(word(o + 16)),
                    }
                })
                .collect(),
        );
        let values: Vec<std::cell::Cell<u8>> = vec![0u8; count * capacity]
            .into_iter()
            .map(std::cell::Cell::new)
            .collect();
        let given = bytes.get(SLOTS_AT + count * SLOT_HDR..).unwrap_or_default();
        for (v, &b) in values.iter().zip(given) {
            v.set(b);
        }
        let xw = word(24);
        let ctl = CellCtl {
            cfg: Config {
                capacity: AtomicU64::new(capacity as u64),
                stride: AtomicU64::new(capacity as u64),
                slots: AtomicU32::new(count as u32),
                type_size: AtomicU32::new(0),
                last_ns: AtomicU64::new(0),
            },
            express: Express {
                ver: AtomicU32::new(xw as u32),
                len: AtomicU32::new((xw >> 32) as u32),
                latest: AtomicU64::new(word(0)),
                data: std::array::from_fn(|k| AtomicU64::new(word(32 + k * 8))),
            },
        };
        let slot = |i: usize| &values[i * capacity..(i + 1) * capacity];
        let mut value = Vec::new();
        let mut take = |at: ValueAt<'_>, len: usize| {
            value.clear();
            match at {
                ValueAt::Inline(b) => {
                    assert!(
                        len <= INLINE && b.len() == len,
                        "an inline value of {len} bytes"
                    );
                    value.extend_from_slice(b);
                }
                ValueAt::Slot(i) => {
                    // What `read` promises the real copy: an existing slot, at most `capacity`
                    // bytes.
                    assert!(
                        i < count && len <= capacity,
                        "a copy of {len} bytes from slot {i}"
                    );
                    value.extend(slot(i)[..len].iter().map(std::cell::Cell::get));
                }
            }
        };
        // Memory that never changes fails every retry alike: give up on a stuck slot early.
        let read = read_bounded(&ctl, &slots, capacity as u64, 16, &mut take).ok();
        let read = read.map(|(seq, len)| {
            assert_eq!(value.len() as u64, len, "the value read is the one copied");
            (seq, value.clone())
        });
        // A writer taking over whatever a peer scribbled must not panic either, and what it
        // publishes is what the next read returns.
        let sane = slots
            .0
            .iter()
            .all(|s| s.version.load(Ordering::Relaxed) < u64::MAX - 4)
            && ctl.express.ver.load(Ordering::Relaxed) < u32::MAX - 4;
        if capacity > 0 && sane {
            let seq = publish(
                &ctl,
                &slots,
                1,
                None,
                |i| slot(i)[0].set(0xA5),
                |i, buf| buf[0] = slot(i)[0].get(),
            );
            let mut got = Vec::new();
            let again = read_bounded(&ctl, &slots, capacity as u64, 16, |at, len| {
                got = match at {
                    ValueAt::Inline(b) => b.to_vec(),
                    ValueAt::Slot(i) => slot(i)[..len].iter().map(std::cell::Cell::get).collect(),
                };
            });
            if let Ok((s, len)) = again {
                assert_eq!(
                    (s, len, &got[..]),
                    (seq, 1, &[0xA5][..]),
                    "a read after a publish"
                );
            }
        }
        read
    }
}

/// Model checks of the publish/read protocol
/// (`RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU8;

    const LEN: usize = 2;

    /// Control block and slots of a cell, with the data as relaxed atomic bytes: loom then
    /// checks the racy copy with the weak-memory outcomes the fences must rule out. `inline`:
    /// values travel in the express line (else through the slots only).
    struct Model {
        ctl: CellCtl,
        slots: Vec<SlotHdr>,
        data: Vec<[AtomicU8; LEN]>,
        inline: bool,
    }

    impl Slots for Vec<SlotHdr> {
        fn count(&self) -> usize {
            self.len()
        }
        fn hdr(&self, i: usize) -> &SlotHdr {
            &self[i]
        }
    }

    fn model(n: usize, inline: bool) -> Arc<Model> {
        let slot = || SlotHdr {
            version: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            len: AtomicU64::new(0),
        };
        Arc::new(Model {
            ctl: CellCtl {
                cfg: Config {
                    capacity: AtomicU64::new(LEN as u64),
                    stride: AtomicU64::new(64),
                    slots: AtomicU32::new(n as u32),
                    type_size: AtomicU32::new(0),
                    last_ns: AtomicU64::new(0),
                },
                express: Express {
                    ver: AtomicU32::new(0),
                    len: AtomicU32::new(0),
                    latest: AtomicU64::new(0),
                    data: std::array::from_fn(|_| AtomicU64::new(0)),
                },
            },
            slots: (0..n).map(|_| slot()).collect(),
            data: (0..n)
                .map(|_| [AtomicU8::new(0), AtomicU8::new(0)])
                .collect(),
            inline,
        })
    }

    /// Writes value `k` as `[k, k]` (length 2).
    fn write(m: &Model, k: u8) -> u64 {
        write_known(m, k, None)
    }

    /// [`write`] by a writer that keeps the express line to itself (`Known`).
    fn write_known(m: &Model, k: u8, known: Option<&mut Known>) -> u64 {
        let limit = if m.inline { INLINE } else { 0 };
        publish_inline_up_to(
            &m.ctl,
            &m.slots,
            LEN as u64,
            limit,
            known,
            |i| {
                for b in &m.data[i] {
                    b.store(k, Ordering::Relaxed);
                }
            },
            |i, buf| {
                for (o, b) in buf.iter_mut().zip(&m.data[i]) {
                    *o = b.load(Ordering::Relaxed);
                }
            },
        )
    }

    /// Reads; checks the value is whole (both bytes equal) and belongs to its seq.
    fn check_read(m: &Model) -> u64 {
        let mut got = [0u8; LEN];
        let (seq, len) = read(&m.ctl, &m.slots, LEN as u64, |at, len| match at {
            ValueAt::Inline(b) => got[..len].copy_from_slice(b),
            ValueAt::Slot(i) => {
                for (o, b) in got.iter_mut().zip(&m.data[i][..len]) {
                    *o = b.load(Ordering::Relaxed);
                }
            }
        })
        .unwrap();
        if seq == 0 {
            assert_eq!(len, 0);
        } else {
            assert_eq!(len, LEN as u64);
            assert_eq!(
                got,
                [seq as u8, seq as u8],
                "torn or mismatched value for seq {seq}"
            );
        }
        seq
    }

    /// One writer publishing `writes` values (three lap the reader with 2 slots) and one reader
    /// reading twice: every value read is whole and matches its seq, and seqs never go back.
    /// `known`: the writer keeps the express line to itself (an exclusive writer), loading it
    /// once.
    fn snapshots_are_whole_and_monotonic(
        inline: bool,
        preemptions: usize,
        writes: u8,
        known: bool,
    ) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions);
        b.check(move || {
            let m = model(2, inline);
            let w = {
                let m = m.clone();
                loom::thread::spawn(move || {
                    let mut line = known.then(|| Known::load(&m.ctl));
                    for k in 1..=writes {
                        assert_eq!(write_known(&m, k, line.as_mut()), u64::from(k));
                    }
                    if let Some(line) = line {
                        assert_eq!(line, Known::load(&m.ctl), "what it kept is what it wrote");
                    }
                })
            };
            let a = check_read(&m);
            let b = check_read(&m);
            assert!(b >= a, "seq went back from {a} to {b}");
            w.join().unwrap();
            assert_eq!(check_read(&m), u64::from(writes));
        });
    }

    /// Through the slots (values too large for the express line). Deep: three preemptions.
    #[test]
    fn snapshots_through_the_slots_are_whole_and_monotonic() {
        let preemptions = if crate::sync::loom_deep() { 3 } else { 2 };
        snapshots_are_whole_and_monotonic(false, preemptions, 3, false);
    }

    /// Through the express line, falling back to the slots when the reader finds it mid-write:
    /// two values with two preemptions, and three (lapping the slots) with one; deep: three
    /// with two.
    #[test]
    fn snapshots_through_the_express_line_are_whole_and_monotonic() {
        if crate::sync::loom_deep() {
            snapshots_are_whole_and_monotonic(true, 2, 3, false);
        } else {
            snapshots_are_whole_and_monotonic(true, 2, 2, false);
            snapshots_are_whole_and_monotonic(true, 1, 3, false);
        }
    }

    /// The same with an exclusive writer, which writes the express line without reading it.
    #[test]
    fn an_exclusive_writers_snapshots_are_whole_and_monotonic() {
        let deep = crate::sync::loom_deep();
        snapshots_are_whole_and_monotonic(true, 2, if deep { 3 } else { 2 }, true);
        snapshots_are_whole_and_monotonic(false, if deep { 3 } else { 1 }, 3, true);
    }

    /// A writer that dies mid-publish — in the slot (its version left odd, `latest` untouched),
    /// or in the express line (its `ver` left odd after `latest` moved on) — leaves readers a
    /// whole value, and the next writer recovers.
    #[test]
    fn writer_death_mid_publish_keeps_a_whole_value() {
        for in_express in [false, true] {
            let mut b = loom::model::Builder::new();
            b.preemption_bound = Some(3);
            b.check(move || {
                let m = model(2, true);
                write(&m, 1);
                if in_express {
                    // A death inside step 5 of the next publish: slot 0 finished with value 2,
                    // `latest` names it, the line's `ver` odd and its bytes half-written.
                    write_slot_only(&m, 0, 2);
                    m.ctl.express.ver.store(3, Ordering::Relaxed);
                    m.ctl
                        .express
                        .latest
                        .store(2 << SLOT_BITS, Ordering::Relaxed);
                    m.ctl.express.data[0].store(0x0902, Ordering::Relaxed);
                } else {
                    // A death inside `fill` of the next publish (into slot 0, the one after
                    // latest's): odd version, half the data.
                    m.slots[0].version.store(1, Ordering::Relaxed);
                    m.data[0][0].store(9, Ordering::Relaxed);
                }
                let r = {
                    let m = m.clone();
                    loom::thread::spawn(move || check_read(&m))
                };
                // The value the next writer publishes carries its own seq as its bytes.
                let next = write(&m, if in_express { 3 } else { 2 });
                let seen = r.join().unwrap();
                assert!(seen >= 1 && seen <= next, "{seen}");
                assert_eq!(check_read(&m), next);
            });
        }
    }

    /// Writes `[k, k]` into slot `i` as a whole publish would, without the express line.
    fn write_slot_only(m: &Model, i: usize, k: u8) {
        let s = &m.slots[i];
        let v = s.version.load(Ordering::Relaxed);
        for b in &m.data[i] {
            b.store(k, Ordering::Relaxed);
        }
        s.len.store(LEN as u64, Ordering::Relaxed);
        s.seq.store(u64::from(k), Ordering::Relaxed);
        s.version.store(v + 2, Ordering::Release);
    }
}
