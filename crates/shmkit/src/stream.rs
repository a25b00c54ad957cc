//! A broadcast stream of frames: one publisher, any number of subscribers, each with its own
//! cursor, frames of any size up to a maximum — text lines, structs, 8 MB video frames — at
//! memory speed, with an exact count of what a slow subscriber lost.
//!
//! # Layout
//!
//! The data region is a ring of `ring_len` bytes (a power of two). Frames lie in it one after
//! the other, each a 16-byte header (`len: u32`, `kind: u32` — data or padding — and
//! `seq: u64`) followed by its payload, padded to a multiple of 64 bytes so that payloads start
//! on cache lines. A frame never wraps: when one does not fit before the end of the ring, a
//! padding frame fills the rest and it starts at 0. Positions are 64-bit byte counts that only
//! grow; the frame at position `p` lies at offset `p % ring_len`.
//!
//! The control block holds `tail` (the position after the last committed frame), `oldest` (the
//! position of the oldest frame still intact), `next_seq`, the configuration, a `space` event,
//! and a table of subscriber slots (process id, start tag, cursor).
//!
//! # The protocol (Disruptor / Aeron style)
//!
//! There is one publisher at a time: it holds the segment's robust lock for as long as it
//! lives, so a second one is refused, and the one that takes over after a crash is told.
//!
//! *Publish* `[p, p + n)`:
//! 1. `Block`: wait until every live subscriber's cursor has passed `p + n - ring_len` (the
//!    bytes about to be overwritten); a subscriber whose process died is dropped from the table.
//! 2. Advance `oldest` past every frame that overlaps the bytes to be overwritten, store it
//!    (Relaxed), then a Release fence, so no byte of the new frame can become visible before
//!    the frames it destroys are marked gone.
//! 3. Write the header and payload (`send` copies, `loan` hands out the bytes in place).
//! 4. Store `tail = p + n` (Release) and signal the change event (a futex wake only if someone
//!    sleeps).
//!
//! *Receive* at position `pos`:
//! 1. Load `tail` (Acquire); `pos == tail` means nothing new.
//! 2. Load `oldest`; if `pos < oldest` the publisher lapped us: jump to `oldest`.
//! 3. Read the header and copy (or look at) the payload, bounds-checked against the ring and
//!    the maximum frame size — the bytes may be anything.
//! 4. An Acquire fence, then reload `oldest`: still `<= pos` means the publisher touched none of
//!    the bytes we read (this is the seqlock check of the cell, with `oldest` as the version).
//!    Otherwise drop what was read and go to 2.
//! 5. The frame's `seq` minus the one expected is the exact number of frames lost.
//! 6. `Block`: store our cursor (Release) and signal the `space` event if the publisher sleeps.
//!
//! A publisher killed mid-frame never stored its `tail`: the half-written frame does not exist
//! for subscribers, and the next publisher writes over it. If it died after numbering the frame
//! (`next_seq`) but before publishing it, subscribers count that frame as lost (`lost == 1`),
//! even with `Block`: it was sent, and never arrived.

use std::fmt;
use std::time::{Duration, Instant};

use crate::notify::Event;
use crate::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

/// Bytes of a frame header.
pub(crate) const FRAME_HDR: usize = 16;
/// Frames start on cache lines.
pub(crate) const FRAME_ALIGN: usize = 64;
const KIND_DATA: u32 = 0;
const KIND_PAD: u32 = 1;

/// What the publisher does when the ring is full of frames a subscriber has not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Never wait: overwrite the oldest frames. A subscriber that falls behind by more than
    /// the ring is told exactly how many frames it lost. The default.
    #[default]
    Overwrite,
    /// Wait for the slowest live subscriber: no subscriber loses a frame once joined. A
    /// subscriber whose process dies stops holding the publisher back within about 100 ms.
    Block,
}

impl Policy {
    fn code(self) -> u32 {
        match self {
            Policy::Overwrite => 0,
            Policy::Block => 1,
        }
    }

    fn from_code(c: u32) -> Option<Policy> {
        match c {
            0 => Some(Policy::Overwrite),
            1 => Some(Policy::Block),
            _ => None,
        }
    }

    /// `overwrite` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Overwrite => "overwrite",
            Policy::Block => "block",
        }
    }
}

/// Where a new subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JoinAt {
    /// At the next frame published after it joins.
    #[default]
    Newest,
    /// At the oldest frame still in the ring.
    Oldest,
}

/// The publisher's cursors, written for every frame: one cache line that subscribers poll.
#[repr(C, align(64))]
pub(crate) struct Positions {
    pub(crate) tail: AtomicU64,
    pub(crate) oldest: AtomicU64,
    pub(crate) next_seq: AtomicU64,
}

/// Fixed at creation.
#[repr(C, align(64))]
pub(crate) struct Config {
    pub(crate) ring_len: AtomicU64,
    pub(crate) max_frame: AtomicU64,
    pub(crate) policy: AtomicU32,
    pub(crate) max_subscribers: AtomicU32,
}

/// The stream's control block, after the segment header.
#[repr(C)]
pub(crate) struct StreamCtl {
    pub(crate) pos: Positions,
    pub(crate) cfg: Config,
    /// Signalled by `Block` subscribers when their cursor moves and the publisher sleeps.
    pub(crate) space: Event,
}

/// One subscriber's entry: who it is and how far it has read.
///
/// `owner` is `pid << 32 | start tag` (0: free), claimed and released with one compare-and-swap
/// so that two claimers never share a slot and a liveness check always sees a matching pid and
/// tag. A new owner stores its cursor just after claiming: until then the publisher may see the
/// previous owner's cursor, which at worst makes it wait a moment longer.
#[repr(C, align(64))]
pub(crate) struct SubSlot {
    pub(crate) owner: AtomicU64,
    pub(crate) cursor: AtomicU64,
}

fn owner_word((pid, tag): (u32, u32)) -> u64 {
    u64::from(pid) << 32 | u64::from(tag)
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<StreamCtl>() == 192);
    assert!(std::mem::size_of::<SubSlot>() == 64);
};

/// The bytes of the ring: mapped memory, or a model's atomics (loom) or heap (fuzzing).
pub(crate) trait RingMem {
    /// `ring_len`.
    fn len(&self) -> usize;
    /// Copies `src` to `off..off + src.len()` (inside the ring: the caller checks).
    fn write(&self, off: usize, src: &[u8]);
    /// Copies `off..off + dst.len()` into `dst` (inside the ring: the caller checks).
    fn read(&self, off: usize, dst: &mut [u8]);
}

/// Bytes a frame of `len` payload bytes takes in the ring (header and padding included): to
/// size a ring for `n` frames in flight, give it `n * frame_size(max_frame)`.
pub fn frame_size(len: usize) -> usize {
    len.checked_add(FRAME_HDR)
        .and_then(|n| n.checked_next_multiple_of(FRAME_ALIGN))
        .unwrap_or(usize::MAX)
}

/// Positions beyond this are corrupt: at 10 GB/s a stream takes 14 years to get there, and
/// below it position arithmetic cannot overflow.
pub(crate) const POS_MAX: u64 = 1 << 62;

fn header(len: u32, kind: u32, seq: u64) -> [u8; FRAME_HDR] {
    let mut h = [0u8; FRAME_HDR];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&kind.to_le_bytes());
    h[8..].copy_from_slice(&seq.to_le_bytes());
    h
}

fn parse_header(h: &[u8; FRAME_HDR]) -> (u32, u32, u64) {
    let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let seq = u64::from(u32_at(8)) | u64::from(u32_at(12)) << 32;
    (u32_at(0), u32_at(4), seq)
}

/// The publisher's own copy of the positions (it is their only writer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubState {
    pub(crate) tail: u64,
    pub(crate) oldest: u64,
    pub(crate) next_seq: u64,
}

impl PubState {
    /// Takes over the positions a previous publisher left, repairing what does not fit (a
    /// dead or scribbling predecessor): anything inconsistent restarts the ring empty at
    /// `tail`.
    pub(crate) fn load(ctl: &StreamCtl, ring_len: u64) -> PubState {
        let tail = ctl.pos.tail.load(Ordering::Acquire);
        let oldest = ctl.pos.oldest.load(Ordering::Relaxed);
        let next_seq = ctl.pos.next_seq.load(Ordering::Relaxed).max(1);
        let aligned = |p: u64| p % FRAME_ALIGN as u64 == 0;
        if oldest <= tail && tail - oldest <= ring_len && aligned(tail) && aligned(oldest) {
            PubState {
                tail,
                oldest,
                next_seq,
            }
        } else {
            let tail = tail.next_multiple_of(FRAME_ALIGN as u64);
            PubState {
                tail,
                oldest: tail,
                next_seq,
            }
        }
    }
}

/// Reserves the frame of `len` payload bytes at the end of the stream: pads to the start of
/// the ring if needed, and marks the frames it will overwrite gone (step 2). `make_room(floor)`
/// is called first, with the position below which bytes will be overwritten; it returns
/// `false` to give up (Block: the deadline passed). Returns the frame's position.
pub(crate) fn reserve(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    len: usize,
    make_room: impl FnOnce(u64) -> bool,
) -> Option<u64> {
    let ring = mem.len() as u64;
    let n = frame_size(len) as u64;
    // The caller checked `len` against the validated maximum frame, which fits the ring twice.
    assert!(n <= ring / 2, "a frame of {len} bytes in a ring of {ring}");
    let off = st.tail % ring;
    let pad = if off + n > ring { ring - off } else { 0 };
    let start = st.tail + pad;
    let floor = (start + n).saturating_sub(ring);
    if !make_room(floor) {
        return None;
    }
    // Step 2: frames overlapping [.., floor) are about to be overwritten.
    while st.oldest < floor {
        let mut h = [0u8; FRAME_HDR];
        mem.read((st.oldest % ring) as usize, &mut h);
        let (flen, kind, _) = parse_header(&h);
        let o = st.oldest % ring;
        let size = match kind {
            KIND_PAD => ring - o,
            _ => frame_size(flen as usize) as u64,
        };
        if kind > KIND_PAD || size == 0 || o + size > ring || st.oldest + size > st.tail {
            // A header another process scribbled on: give up on everything before the tail.
            st.oldest = st.tail.max(floor);
            break;
        }
        st.oldest += size;
    }
    if st.oldest < floor {
        st.oldest = floor;
    }
    ctl.pos.oldest.store(st.oldest, Ordering::Relaxed);
    // SYNC: the writes below (padding, header, payload) must not become visible before the
    // new `oldest`; pairs with the subscriber's Acquire fence before it re-checks `oldest`.
    fence(Ordering::Release);
    if pad > 0 {
        mem.write(off as usize, &header(0, KIND_PAD, 0));
        st.tail = start;
    }
    Some(start)
}

/// Writes the header of the reserved frame at `pos` (its payload is in place) and publishes
/// it (steps 3 and 4). Returns its sequence number.
pub(crate) fn commit(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    pos: u64,
    len: usize,
) -> u64 {
    let ring = mem.len() as u64;
    let seq = st.next_seq;
    mem.write((pos % ring) as usize, &header(len as u32, KIND_DATA, seq));
    st.tail = pos + frame_size(len) as u64;
    st.next_seq = seq + 1;
    ctl.pos.next_seq.store(st.next_seq, Ordering::Relaxed);
    // SYNC: Release publishes the frame's bytes to subscribers that load `tail` with Acquire.
    ctl.pos.tail.store(st.tail, Ordering::Release);
    seq
}

/// A subscriber's own position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubState {
    pub(crate) pos: u64,
    /// The seq it expects next (to count losses).
    pub(crate) next_seq: u64,
}

/// A received frame's sequence number, length, and how many frames were lost just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The frame's sequence number (frames are numbered from 1).
    pub seq: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Frames the publisher overwrote before this subscriber read them, just before this one
    /// (always 0 with [`Policy::Block`] once joined).
    pub lost: u64,
}

/// Receives the next frame, if there is one: `consume(offset, len)` reads the payload at
/// `offset` of the ring (it may be called again if the publisher overwrote the frame while it
/// read). Errors describe a control block or frame another process scribbled on.
pub(crate) fn try_receive(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut SubState,
    max_frame: usize,
    mut consume: impl FnMut(usize, usize),
) -> Result<Option<Received>, String> {
    let ring = mem.len() as u64;
    let mut stale = 0u32;
    loop {
        // SYNC: Acquire pairs with the Release store of `tail` in `commit`.
        let tail = ctl.pos.tail.load(Ordering::Acquire);
        if st.pos == tail {
            return Ok(None);
        }
        let oldest = ctl.pos.oldest.load(Ordering::Acquire);
        if oldest > tail {
            // The publisher moves `oldest` for its next frame before it stores that frame's
            // `tail`, so a `tail` loaded just before can be older than `oldest`: load again.
            // (Loom found this.) Only a scribbled control block keeps it so.
            stale += 1;
            if stale < STALE_LIMIT {
                spin_hint();
                continue;
            }
        }
        if st.pos > tail || oldest > tail || tail - oldest > ring || tail > POS_MAX {
            return Err(format!(
                "positions out of order (subscriber {}, oldest {oldest}, tail {tail}, ring {ring})",
                st.pos
            ));
        }
        if st.pos < oldest {
            st.pos = oldest; // lapped: the frames before `oldest` are gone
        }
        if st.pos == tail {
            continue;
        }
        let off = st.pos % ring;
        let mut h = [0u8; FRAME_HDR];
        if off % FRAME_ALIGN as u64 != 0 {
            return Err(format!("a frame position {} that is not aligned", st.pos));
        }
        mem.read(off as usize, &mut h);
        let (len, kind, seq) = parse_header(&h);
        let size = match kind {
            KIND_PAD => ring - off,
            _ => frame_size(len as usize) as u64,
        };
        let sane = kind <= KIND_PAD
            && (kind == KIND_PAD || len as usize <= max_frame)
            && off + size <= ring
            && st.pos + size <= tail;
        if sane && kind == KIND_DATA {
            consume(off as usize + FRAME_HDR, len as usize);
        }
        // SYNC: keeps the reads above before the re-check; pairs with the publisher's
        // Release fence after it moves `oldest` (step 2).
        fence(Ordering::Acquire);
        if ctl.pos.oldest.load(Ordering::Relaxed) > st.pos {
            continue; // overwritten while we read: try again from `oldest`
        }
        if !sane {
            return Err(format!(
                "a frame at position {} with kind {kind}, length {len} (maximum {max_frame}) \
                 in a ring of {ring}",
                st.pos
            ));
        }
        st.pos += size;
        if kind == KIND_PAD {
            continue;
        }
        let lost = seq.saturating_sub(st.next_seq);
        st.next_seq = seq.wrapping_add(1);
        return Ok(Some(Received {
            seq,
            len: len as usize,
            lost,
        }));
    }
}

/// How many times in a row a subscriber re-reads positions that are out of order before it calls
/// them corrupt.
const STALE_LIMIT: u32 = if cfg!(loom) { u32::MAX } else { 1 << 20 };

/// The sequence number of the frame at `pos` (for joining at the oldest frame), or `next_seq`
/// if there is none or the bytes there do not hold up (overwritten meanwhile, or scribbled on).
pub(crate) fn seq_at(ctl: &StreamCtl, mem: &impl RingMem, pos: u64) -> u64 {
    let ring = mem.len() as u64;
    let next = ctl.pos.next_seq.load(Ordering::Relaxed);
    if pos >= ctl.pos.tail.load(Ordering::Acquire) || pos % FRAME_ALIGN as u64 != 0 {
        return next;
    }
    let mut h = [0u8; FRAME_HDR];
    mem.read((pos % ring) as usize, &mut h);
    // SYNC: as in `try_receive`: the header counts only if `oldest` did not pass it meanwhile.
    fence(Ordering::Acquire);
    if ctl.pos.oldest.load(Ordering::Relaxed) > pos {
        return next;
    }
    match parse_header(&h) {
        (_, KIND_DATA, seq) if seq < next => seq,
        _ => next,
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
    use crate::lock::Os;
    use crate::name::{IntoName, NativeName};
    use crate::notify::Waited;
    use crate::segment::{Access, Lifetime, Segment, SegmentOptions, Spec, open_or_create_with};

    /// The most subscribers a stream may have (each takes 64 bytes of control block).
    pub const MAX_SUBSCRIBERS: u32 = 1024;
    /// Subscriber slots unless set otherwise.
    pub const DEFAULT_SUBSCRIBERS: u32 = 32;
    /// How often a waiting publisher (or subscriber) looks whether the process it waits for
    /// still lives.
    const LIVENESS_SLICE: Duration = Duration::from_millis(100);

    /// The mapped ring.
    struct Mapped {
        base: *mut u8,
        len: usize,
    }

    impl RingMem for Mapped {
        fn len(&self) -> usize {
            self.len
        }

        fn write(&self, off: usize, src: &[u8]) {
            assert!(off.checked_add(src.len()).is_some_and(|e| e <= self.len));
            // SAFETY: inside the ring (asserted), which lies in our writable data region; the
            // source is private memory. Subscribers only copy from these bytes and discard the
            // copy if the protocol says we overwrote them.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(off), src.len()) }
        }

        fn read(&self, off: usize, dst: &mut [u8]) {
            assert!(off.checked_add(dst.len()).is_some_and(|e| e <= self.len));
            // SAFETY: inside the ring (asserted), inside our mapping; `dst` is private. A
            // concurrent publisher can only change which bytes we copy; the protocol's re-check
            // discards such copies.
            unsafe {
                std::ptr::copy_nonoverlapping(self.base.add(off), dst.as_mut_ptr(), dst.len())
            }
        }
    }

    /// Options for creating a stream, publishing to one, or subscribing.
    ///
    /// ```
    /// use shmkit::stream::{JoinAt, Policy, StreamOptions};
    ///
    /// # let name = format!("doc-sopts-{}", std::process::id());
    /// let publisher = StreamOptions::new()
    ///     .max_frame(1 << 20)       // frames up to 1 MiB
    ///     .ring(8 << 20)            // 8 MiB of ring
    ///     .policy(Policy::Block)    // wait for the slowest live subscriber
    ///     .create(&name)?;
    /// let subscriber = StreamOptions::new().from(JoinAt::Oldest).subscribe(&name)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[derive(Debug, Clone)]
    pub struct StreamOptions {
        seg: SegmentOptions,
        max_frame: Option<usize>,
        ring: Option<usize>,
        policy: Policy,
        subscribers: u32,
        from: JoinAt,
        spin: Duration,
    }

    impl Default for StreamOptions {
        fn default() -> Self {
            StreamOptions::new()
        }
    }

    impl StreamOptions {
        /// Defaults: frames up to 64 KiB, a ring of 8 maximum frames, [`Policy::Overwrite`],
        /// 32 subscriber slots, subscribers joining at the newest frame, mode `0600`,
        /// [`Lifetime::LastClose`], no spinning.
        pub fn new() -> StreamOptions {
            StreamOptions {
                seg: SegmentOptions::new(),
                max_frame: None,
                ring: None,
                policy: Policy::Overwrite,
                subscribers: DEFAULT_SUBSCRIBERS,
                from: JoinAt::Newest,
                spin: Duration::ZERO,
            }
        }

        /// The largest frame, in bytes (default 64 KiB).
        pub fn max_frame(mut self, bytes: usize) -> StreamOptions {
            self.max_frame = Some(bytes);
            self
        }

        /// The ring's size in bytes, rounded up to a power of two (default: room for 8 maximum
        /// frames, at least 64 KiB). It must hold at least two maximum frames.
        ///
        /// Bigger rings let subscribers fall further behind before they lose frames (or, with
        /// `Block`, before the publisher waits); smaller ones stay in the CPU's caches, which
        /// makes large frames faster. `shmkit bench` measured four frames, up to 32 MiB, as a
        /// good middle.
        pub fn ring(mut self, bytes: usize) -> StreamOptions {
            self.ring = Some(bytes);
            self
        }

        /// What the publisher does when the ring is full (default [`Policy::Overwrite`]).
        pub fn policy(mut self, policy: Policy) -> StreamOptions {
            self.policy = policy;
            self
        }

        /// Subscriber slots (default 32, at most [`MAX_SUBSCRIBERS`]); a `Block` stream needs
        /// one per subscriber.
        pub fn subscribers(mut self, n: u32) -> StreamOptions {
            self.subscribers = n;
            self
        }

        /// Where a new subscriber starts (default [`JoinAt::Newest`]).
        pub fn from(mut self, from: JoinAt) -> StreamOptions {
            self.from = from;
            self
        }

        /// How long a waiting receiver (or a blocked publisher) spins before it sleeps (default
        /// 0). A short spin catches a frame that arrives within microseconds without a sleep
        /// and wake-up, at the price of a busy CPU meanwhile.
        pub fn spin(mut self, spin: Duration) -> StreamOptions {
            self.spin = spin;
            self
        }

        /// Permission bits (default `0600`). See [`SegmentOptions::mode`].
        ///
        /// # Panics
        /// If `mode` has bits outside `0o777`.
        pub fn mode(mut self, mode: u32) -> StreamOptions {
            self.seg = self.seg.mode(mode);
            self
        }

        /// When the name goes away (default [`Lifetime::LastClose`]).
        pub fn lifetime(mut self, lifetime: Lifetime) -> StreamOptions {
            self.seg = self.seg.lifetime(lifetime);
            self
        }

        /// Creates the stream and returns its publisher.
        ///
        /// # Errors
        /// As for [`SegmentOptions::create`]; [`ErrorKind::InvalidSize`] for a zero maximum
        /// frame, a ring smaller than two maximum frames, or a bad subscriber count.
        pub fn create(&self, name: impl IntoName) -> Result<Publisher> {
            let name = name.into_name().map_err(|e| e.during(Op::Create))?;
            let bad = |why: String| {
                Error::new(ErrorKind::InvalidSize, Op::Create, name.to_string()).reason(why)
            };
            let max_frame = self.max_frame.unwrap_or(64 << 10);
            if max_frame == 0 || max_frame > u32::MAX as usize - FRAME_HDR {
                return Err(bad(format!(
                    "a maximum frame of {max_frame} bytes; 1 byte to 4 GiB"
                )));
            }
            if !(1..=MAX_SUBSCRIBERS).contains(&self.subscribers) {
                return Err(bad(format!(
                    "{} subscriber slots; 1 to {MAX_SUBSCRIBERS}",
                    self.subscribers
                )));
            }
            let min_ring = 2 * frame_size(max_frame);
            let ring = self
                .ring
                .unwrap_or((8 * frame_size(max_frame)).max(64 << 10))
                .checked_next_power_of_two()
                .filter(|&r| r <= isize::MAX as usize / 2)
                .ok_or_else(|| bad("a ring larger than this system can address".into()))?;
            if ring < min_ring {
                return Err(bad(format!(
                    "a ring of {ring} bytes cannot hold two frames of {max_frame} bytes; \
                     give it at least {min_ring}"
                )));
            }
            let subs = self.subscribers;
            let spec = Spec::Shmkit {
                kind: Kind::Stream,
                control_extra: std::mem::size_of::<StreamCtl>() + 64 * subs as usize,
            };
            let policy = self.policy;
            let seg = Segment::create_with(&name, &self.seg, spec, ring, &mut |base| {
                // SAFETY: `base` is the fresh, zeroed, page-aligned mapping with room for the
                // header and the control block (`control_extra` above); nobody sees it yet.
                let ctl = unsafe { &*base.add(HEADER_LEN).cast::<StreamCtl>() };
                ctl.cfg.ring_len.store(ring as u64, Ordering::Relaxed);
                ctl.cfg.max_frame.store(max_frame as u64, Ordering::Relaxed);
                ctl.cfg.policy.store(policy.code(), Ordering::Relaxed);
                ctl.cfg.max_subscribers.store(subs, Ordering::Relaxed);
                ctl.pos.next_seq.store(1, Ordering::Relaxed);
            })?;
            Publisher::take(Stream::validate(seg)?, self.spin, Duration::ZERO)
        }

        /// Becomes the publisher of an existing stream (waiting at most `wait` for the current
        /// one to go away; one that died is replaced at once).
        ///
        /// # Errors
        /// As for [`SegmentOptions::open`]; [`ErrorKind::Timeout`] if a live process publishes.
        pub fn open_publisher(&self, name: impl IntoName, wait: Duration) -> Result<Publisher> {
            let name = name.into_name().map_err(|e| e.during(Op::Open))?;
            let opts = self.seg.clone().access(Access::ReadWrite);
            let seg = Segment::open_with(&name, &opts, Some(Kind::Stream))?;
            Publisher::take(Stream::validate(seg)?, self.spin, wait)
        }

        /// Creates the stream, or becomes the publisher of the existing one.
        ///
        /// # Errors
        /// As for [`create`](Self::create) and [`open_publisher`](Self::open_publisher).
        pub fn create_or_open_publisher(
            &self,
            name: impl IntoName,
            wait: Duration,
        ) -> Result<Publisher> {
            let name = name.into_name()?;
            open_or_create_with(|| self.open_publisher(&name, wait), || self.create(&name))
        }

        /// Subscribes to an existing stream, read-only.
        ///
        /// # Errors
        /// As for [`SegmentOptions::open`]; [`ErrorKind::OutOfResources`] if a `Block` stream
        /// has no free subscriber slot; [`ErrorKind::PermissionDenied`] if a `Block` stream
        /// cannot be joined because this process may not write its control block.
        pub fn subscribe(&self, name: impl IntoName) -> Result<Subscriber> {
            let name = name.into_name().map_err(|e| e.during(Op::Open))?;
            let opts = self.seg.clone().access(Access::ReadOnly);
            let seg = Segment::open_with(&name, &opts, Some(Kind::Stream))?;
            Subscriber::join(Stream::validate(seg)?, self.from, self.spin)
        }
    }

    /// The validated geometry of an open stream.
    struct Stream {
        seg: Segment,
        ring: usize,
        max_frame: usize,
        policy: Policy,
        subs: u32,
    }

    impl Stream {
        fn validate(seg: Segment) -> Result<Stream> {
            let corrupt = |why: String| {
                Error::new(ErrorKind::Corrupt, Op::Open, seg.name().to_string())
                    .reason(format!("its stream control block is corrupt: {why}"))
            };
            if seg.control_len() < std::mem::size_of::<StreamCtl>() {
                return Err(corrupt("no room for it".into()));
            }
            // SAFETY: the control region holds a whole StreamCtl (checked above), 64-aligned;
            // all atomics.
            let ctl = unsafe { &*seg.control_ptr().cast::<StreamCtl>() };
            let ring = ctl.cfg.ring_len.load(Ordering::Relaxed);
            let max_frame = ctl.cfg.max_frame.load(Ordering::Relaxed);
            let subs = ctl.cfg.max_subscribers.load(Ordering::Relaxed);
            let policy = Policy::from_code(ctl.cfg.policy.load(Ordering::Relaxed))
                .ok_or_else(|| corrupt("an unknown policy".into()))?;
            if !ring.is_power_of_two() || ring < 2 * FRAME_ALIGN as u64 || ring > seg.len() as u64 {
                return Err(corrupt(format!(
                    "a ring of {ring} bytes in {} data bytes",
                    seg.len()
                )));
            }
            // Checked before any arithmetic on it: a huge value must not wrap into a small one.
            if max_frame == 0 || max_frame > ring / 2 - FRAME_HDR as u64 {
                return Err(corrupt(format!(
                    "frames of up to {max_frame} bytes in a ring of {ring}"
                )));
            }
            if subs == 0
                || subs > MAX_SUBSCRIBERS
                || seg.control_len() < std::mem::size_of::<StreamCtl>() + 64 * subs as usize
            {
                return Err(corrupt(format!("{subs} subscriber slots")));
            }
            Ok(Stream {
                seg,
                ring: ring as usize,
                max_frame: max_frame as usize,
                policy,
                subs,
            })
        }

        fn ctl(&self) -> &StreamCtl {
            // SAFETY: validated in `validate`: a whole StreamCtl in the control region.
            unsafe { &*self.seg.control_ptr().cast::<StreamCtl>() }
        }

        fn slots(&self) -> &[SubSlot] {
            // SAFETY: `subs` slots follow the StreamCtl inside the control region (validated);
            // 64-aligned (StreamCtl is 192 bytes from a 64-aligned start); all atomics.
            unsafe {
                std::slice::from_raw_parts(
                    self.seg
                        .control_ptr()
                        .add(std::mem::size_of::<StreamCtl>())
                        .cast::<SubSlot>(),
                    self.subs as usize,
                )
            }
        }

        fn mem(&self) -> Mapped {
            Mapped {
                base: self.seg.as_ptr().cast_mut(),
                len: self.ring,
            }
        }

        fn change(&self) -> &Event {
            &self.seg.header().expect("a stream has a header").change
        }

        fn error(&self, kind: ErrorKind, op: Op, why: String) -> Error {
            Error::new(kind, op, self.seg.name().to_string()).reason(why)
        }
    }

    /// The publisher of a stream: the only process writing frames into it, for as long as it
    /// lives (it holds the segment's lock).
    ///
    /// ```
    /// use shmkit::stream::{Publisher, Subscriber};
    /// use std::time::Duration;
    ///
    /// # let name = format!("doc-pub-{}", std::process::id());
    /// let mut publisher = Publisher::create(&name, 64 * 1024)?;
    /// let mut subscriber = Subscriber::open(&name)?;
    ///
    /// publisher.send(b"frame one")?;
    /// let mut frame = publisher.loan(1000)?;   // zero-copy: fill the ring in place
    /// frame.fill(7);
    /// frame.commit();
    ///
    /// let mut buf = Vec::new();
    /// let got = subscriber.recv_timeout(&mut buf, Duration::from_secs(1))?;
    /// assert_eq!((got.seq, &buf[..]), (1, &b"frame one"[..]));
    /// let got = subscriber.recv_timeout(&mut buf, Duration::from_secs(1))?;
    /// assert_eq!((got.seq, buf.len(), got.lost), (2, 1000, 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub struct Publisher {
        s: Stream,
        st: PubState,
        spin: Duration,
    }

    impl fmt::Debug for Publisher {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Publisher")
                .field("name", self.s.seg.name())
                .field("policy", &self.s.policy)
                .field("max_frame", &self.s.max_frame)
                .field("ring", &self.s.ring)
                .field("next_seq", &self.st.next_seq)
                .finish()
        }
    }

    impl Publisher {
        /// Creates a stream for frames of up to `max_frame` bytes, with the other options at
        /// their defaults, and returns its publisher.
        ///
        /// # Errors
        /// As for [`StreamOptions::create`].
        pub fn create(name: impl IntoName, max_frame: usize) -> Result<Publisher> {
            StreamOptions::new().max_frame(max_frame).create(name)
        }

        fn take(s: Stream, spin: Duration, wait: Duration) -> Result<Publisher> {
            let word = s.seg.lock_word()?;
            if word.lock(&Os, Some(Instant::now() + wait)).is_none() {
                let who = word
                    .owner_pid()
                    .map_or("another process".to_string(), |p| format!("process {p}"));
                return Err(s.error(
                    ErrorKind::Timeout,
                    Op::Open,
                    format!("{who} publishes to it (one publisher at a time)"),
                ));
            }
            let st = PubState::load(s.ctl(), s.ring as u64);
            // A predecessor's repairs (if any) are made visible.
            s.ctl().pos.tail.store(st.tail, Ordering::Release);
            s.ctl().pos.oldest.store(st.oldest, Ordering::Release);
            Ok(Publisher { s, st, spin })
        }

        /// The stream's name.
        pub fn name(&self) -> &NativeName {
            self.s.seg.name()
        }

        /// The largest frame, in bytes.
        pub fn max_frame(&self) -> usize {
            self.s.max_frame
        }

        /// The ring's size in bytes.
        pub fn ring_len(&self) -> usize {
            self.s.ring
        }

        /// The stream's policy.
        pub fn policy(&self) -> Policy {
            self.s.policy
        }

        /// The sequence number the next frame will get.
        pub fn next_seq(&self) -> u64 {
            self.st.next_seq
        }

        /// Live subscribers that hold a slot (those of `Block` streams).
        pub fn subscribers(&self) -> usize {
            self.s
                .slots()
                .iter()
                .map(|s| s.owner.load(Ordering::Relaxed))
                .filter(|&o| o != 0 && crate::sys::process_alive((o >> 32) as u32, o as u32))
                .count()
        }

        /// Copies `frame` in and publishes it; returns its sequence number. With
        /// [`Policy::Block`], waits as long as a live subscriber holds the space it needs.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidSize`] if the frame is larger than the maximum.
        pub fn send(&mut self, frame: &[u8]) -> Result<u64> {
            self.send_until(frame, None)
                .map(|s| s.expect("no deadline"))
        }

        /// As [`send`](Self::send), but with [`Policy::Block`] gives up after `timeout`
        /// (`Err` with [`ErrorKind::Timeout`]).
        ///
        /// # Errors
        /// As for [`send`](Self::send), and [`ErrorKind::Timeout`].
        pub fn send_timeout(&mut self, frame: &[u8], timeout: Duration) -> Result<u64> {
            match self.send_until(frame, Some(Instant::now() + timeout))? {
                Some(seq) => Ok(seq),
                None => Err(self.full(timeout)),
            }
        }

        /// Publishes `frame` if there is room now; `Ok(None)` if a `Block` stream is full.
        ///
        /// # Errors
        /// As for [`send`](Self::send).
        pub fn try_send(&mut self, frame: &[u8]) -> Result<Option<u64>> {
            self.send_until(frame, Some(Instant::now()))
        }

        fn full(&self, timeout: Duration) -> Error {
            self.s.error(
                ErrorKind::Timeout,
                Op::Publish,
                format!("a subscriber held the ring full for {timeout:?} (policy block)"),
            )
        }

        fn send_until(&mut self, frame: &[u8], deadline: Option<Instant>) -> Result<Option<u64>> {
            let Some(pos) = self.reserve(frame.len(), deadline)? else {
                return Ok(None);
            };
            let mem = self.s.mem();
            mem.write((pos % self.s.ring as u64) as usize + FRAME_HDR, frame);
            Ok(Some(self.commit(pos, frame.len())))
        }

        /// Lends `len` bytes of the ring for the next frame, to fill in place: no copy at all,
        /// whatever the size. [`Loan::commit`] publishes it; dropping the loan abandons it.
        /// With [`Policy::Block`], waits for room as [`send`](Self::send) does.
        ///
        /// # Errors
        /// As for [`send`](Self::send).
        pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
            let pos = self.reserve(len, None)?.expect("no deadline");
            Ok(Loan { p: self, pos, len })
        }

        fn reserve(&mut self, len: usize, deadline: Option<Instant>) -> Result<Option<u64>> {
            if len > self.s.max_frame {
                return Err(self.s.error(
                    ErrorKind::InvalidSize,
                    Op::Publish,
                    format!(
                        "a frame of {len} bytes is larger than its maximum of {}",
                        self.s.max_frame
                    ),
                ));
            }
            let s = &self.s;
            let spin = self.spin;
            let mem = s.mem();
            let block = s.policy == Policy::Block;
            Ok(reserve(s.ctl(), &mem, &mut self.st, len, |floor| {
                !block || wait_for_space(s, floor, deadline, spin)
            }))
        }

        fn commit(&mut self, pos: u64, len: usize) -> u64 {
            let mem = self.s.mem();
            let seq = commit(self.s.ctl(), &mem, &mut self.st, pos, len);
            self.s.change().signal(self.s.seg.wake_always());
            seq
        }
    }

    /// Waits until every live subscriber's cursor is at or past `floor`; `false` if the
    /// deadline passed first. Subscribers whose process died are dropped from the table.
    fn wait_for_space(s: &Stream, floor: u64, deadline: Option<Instant>, spin: Duration) -> bool {
        if floor == 0 {
            return true;
        }
        let space = &s.ctl().space;
        let mut spin = spin;
        loop {
            let key = space.key();
            let mut blocked_by = None;
            for slot in s.slots() {
                let owner = slot.owner.load(Ordering::Acquire);
                // SYNC: Acquire pairs with the subscriber's Release store of its cursor, after
                // which it no longer reads the bytes below it.
                if owner != 0 && slot.cursor.load(Ordering::Acquire) < floor {
                    blocked_by = Some((slot, owner));
                    break;
                }
            }
            let Some((slot, owner)) = blocked_by else {
                return true;
            };
            let slice = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(LIVENESS_SLICE),
                    _ => return false,
                },
                None => LIVENESS_SLICE,
            };
            let until = Instant::now() + slice;
            if space.wait(key, Some(until), spin, s.seg.control_writable()) == Waited::TimedOut {
                // Is the subscriber we wait for still alive? If not, free its slot (the CAS
                // fails harmlessly if it left or was replaced meanwhile).
                if !crate::sys::process_alive((owner >> 32) as u32, owner as u32) {
                    let _ =
                        slot.owner
                            .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
            spin = Duration::ZERO;
        }
    }

    impl Drop for Publisher {
        fn drop(&mut self) {
            if let Ok(word) = self.s.seg.lock_word() {
                word.unlock(&Os);
            }
        }
    }

    /// Ring space lent by [`Publisher::loan`]: write the frame into it, then
    /// [`commit`](Loan::commit). Dropping it without committing abandons the frame.
    pub struct Loan<'a> {
        p: &'a mut Publisher,
        pos: u64,
        len: usize,
    }

    impl fmt::Debug for Loan<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Loan")
                .field("pos", &self.pos)
                .field("len", &self.len)
                .finish()
        }
    }

    impl Loan<'_> {
        /// Publishes the frame; returns its sequence number.
        pub fn commit(self) -> u64 {
            let (pos, len) = (self.pos, self.len);
            self.p.commit(pos, len)
        }
    }

    impl std::ops::Deref for Loan<'_> {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            let off = (self.pos % self.p.s.ring as u64) as usize + FRAME_HDR;
            // SAFETY: the reserved frame lies inside the ring (reserve checked it against the
            // maximum frame, which fits the ring); only this publisher writes it, and
            // subscribers cannot see it before `commit` publishes the tail past it.
            unsafe { std::slice::from_raw_parts(self.p.s.seg.as_ptr().add(off), self.len) }
        }
    }

    impl std::ops::DerefMut for Loan<'_> {
        fn deref_mut(&mut self) -> &mut [u8] {
            let off = (self.pos % self.p.s.ring as u64) as usize + FRAME_HDR;
            // SAFETY: as for `deref`; the publisher's mapping is writable (it opened read-write)
            // and the loan borrows the publisher mutably, so there is one view at a time.
            unsafe {
                std::slice::from_raw_parts_mut(self.p.s.seg.as_ptr().cast_mut().add(off), self.len)
            }
        }
    }

    /// A subscriber: reads every frame from where it joined, at its own pace.
    ///
    /// With [`Policy::Overwrite`], a subscriber slower than the publisher by more than the ring
    /// loses frames, and [`Received::lost`] says exactly how many. With [`Policy::Block`], the
    /// publisher waits for it instead (it holds a slot in the stream's table until dropped, or
    /// until its process dies).
    pub struct Subscriber {
        s: Stream,
        st: SubState,
        slot: Option<usize>,
        spin: Duration,
        lost: u64,
        /// Where frames of `Overwrite` streams are copied before `try_recv_with` shows them.
        scratch: Vec<u8>,
    }

    impl fmt::Debug for Subscriber {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Subscriber")
                .field("name", self.s.seg.name())
                .field("policy", &self.s.policy)
                .field("next_seq", &self.st.next_seq)
                .field("lost", &self.lost)
                .finish()
        }
    }

    impl Subscriber {
        /// Subscribes to the stream `name` from its newest frame on.
        ///
        /// # Errors
        /// As for [`StreamOptions::subscribe`].
        pub fn open(name: impl IntoName) -> Result<Subscriber> {
            StreamOptions::new().subscribe(name)
        }

        fn join(s: Stream, from: JoinAt, spin: Duration) -> Result<Subscriber> {
            let ctl = s.ctl();
            let mut slot = None;
            if s.policy == Policy::Block {
                if !s.seg.control_writable() {
                    return Err(s.error(
                        ErrorKind::PermissionDenied,
                        Op::Open,
                        "a block stream's subscribers must write their cursor into it".into(),
                    ));
                }
                slot = Some(claim_slot(&s).ok_or_else(|| {
                    s.error(
                        ErrorKind::OutOfResources,
                        Op::Open,
                        format!("all {} subscriber slots are taken", s.subs),
                    )
                })?);
            }
            // Positions are read only now that our cursor (if any) guards them: the publisher
            // does not overwrite what lies past it.
            let pos = match from {
                JoinAt::Newest => ctl.pos.tail.load(Ordering::Acquire),
                JoinAt::Oldest => ctl.pos.oldest.load(Ordering::Acquire),
            };
            let next_seq = seq_at(ctl, &s.mem(), pos);
            let mut sub = Subscriber {
                s,
                st: SubState { pos, next_seq },
                slot,
                spin,
                lost: 0,
                scratch: Vec::new(),
            };
            sub.store_cursor();
            Ok(sub)
        }

        /// The stream's name.
        pub fn name(&self) -> &NativeName {
            self.s.seg.name()
        }

        /// The stream's policy.
        pub fn policy(&self) -> Policy {
            self.s.policy
        }

        /// The largest frame, in bytes.
        pub fn max_frame(&self) -> usize {
            self.s.max_frame
        }

        /// Frames lost so far (overwritten before this subscriber read them).
        pub fn lost(&self) -> u64 {
            self.lost
        }

        /// Sets how long waits spin before they sleep.
        pub fn set_spin(&mut self, spin: Duration) {
            self.spin = spin;
        }

        /// Whether the stream's name has been removed or now names another stream (see
        /// [`Segment::is_removed`]): frames published under the name from then on do not come
        /// here, so a long-running subscriber can notice and subscribe again.
        pub fn is_removed(&self) -> bool {
            self.s.seg.is_removed()
        }

        fn store_cursor(&mut self) {
            let Some(i) = self.slot else { return };
            let me = owner_word(crate::sys::current_process());
            if self.s.slots()[i].owner.load(Ordering::Relaxed) != me {
                // The publisher took our slot (it judged us dead: another pid namespace, say).
                // Claim one again rather than writing into someone else's.
                self.slot = claim_slot(&self.s);
            }
            if let Some(i) = self.slot {
                // SYNC: Release: our reads of the frames below the cursor happen before the
                // publisher's overwrites, which it starts after an Acquire load of the cursor.
                self.s.slots()[i]
                    .cursor
                    .store(self.st.pos, Ordering::Release);
                self.s.ctl().space.signal(self.s.seg.wake_always());
            }
        }

        fn corrupt(&self, why: String) -> Error {
            self.s.error(ErrorKind::Corrupt, Op::Receive, why)
        }

        /// Receives the next frame, if there is one, and hands it to `f`; `Ok(None)` if no
        /// frame is there.
        ///
        /// With [`Policy::Block`] `f` sees the bytes where they lie in the ring — no copy: the
        /// publisher does not overwrite a frame before this subscriber has moved past it. With
        /// [`Policy::Overwrite`] the publisher may overwrite a frame at any moment, so the frame
        /// is first copied (into a buffer the subscriber keeps) and checked whole; `f` gets the
        /// copy.
        ///
        /// # Errors
        /// [`ErrorKind::Corrupt`] if another process scribbled on the stream's control block or
        /// frame headers.
        pub fn try_recv_with<R>(
            &mut self,
            mut f: impl FnMut(&[u8]) -> R,
        ) -> Result<Option<(R, Received)>> {
            if self.s.policy == Policy::Overwrite {
                let mut scratch = std::mem::take(&mut self.scratch);
                let got = self.try_recv(&mut scratch);
                let out = got.map(|r| r.map(|r| (f(&scratch), r)));
                self.scratch = scratch;
                return out;
            }
            let mut view = None;
            let res = try_receive(
                self.s.ctl(),
                &self.s.mem(),
                &mut self.st,
                self.s.max_frame,
                |off, len| view = Some((off, len)),
            );
            let got = match res {
                Ok(Some(got)) => got,
                other => return self.finish(other).map(|_| None),
            };
            let (off, len) = view.expect("a data frame was found");
            // SAFETY: `try_receive` checked `off + len` lies inside the ring, inside our mapping.
            // With Block the publisher does not write these bytes until our cursor — stored by
            // `finish` below, after `f` — has passed them. A process writing against the
            // protocol could still change them: `f` may then see odd bytes, never out-of-bounds
            // ones.
            let out = f(unsafe { std::slice::from_raw_parts(self.s.seg.as_ptr().add(off), len) });
            self.finish(Ok(Some(got))).map(|r| r.map(|got| (out, got)))
        }

        fn finish(
            &mut self,
            res: std::result::Result<Option<Received>, String>,
        ) -> Result<Option<Received>> {
            match res {
                Ok(Some(got)) => {
                    self.lost = self.lost.saturating_add(got.lost);
                    self.store_cursor();
                    Ok(Some(got))
                }
                Ok(None) => Ok(None),
                Err(why) => Err(self.corrupt(why)),
            }
        }

        /// Copies the next frame into `buf` (replacing its contents), if there is one.
        ///
        /// # Errors
        /// As for [`try_recv_with`](Self::try_recv_with).
        pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<Option<Received>> {
            let mem = self.s.mem();
            let res = try_receive(
                self.s.ctl(),
                &mem,
                &mut self.st,
                self.s.max_frame,
                |off, len| {
                    buf.clear();
                    buf.resize(len, 0);
                    mem.read(off, buf);
                },
            );
            self.finish(res)
        }

        /// Waits for the next frame (at most `timeout`) and copies it into `buf`.
        ///
        /// # Errors
        /// [`ErrorKind::Timeout`], or as for [`try_recv`](Self::try_recv).
        pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<Received> {
            if let Some(got) = self.try_recv(buf)? {
                return Ok(got); // no clock read when a frame is already there
            }
            let deadline = Instant::now() + timeout;
            loop {
                self.wait(deadline, timeout)?;
                if let Some(got) = self.try_recv(buf)? {
                    return Ok(got);
                }
            }
        }

        /// Waits for the next frame (at most `timeout`) and hands it to `f` (in place for `Block`
        /// streams; see [`try_recv_with`](Self::try_recv_with)).
        ///
        /// # Errors
        /// As for [`recv_timeout`](Self::recv_timeout).
        pub fn recv_with<R>(
            &mut self,
            timeout: Duration,
            mut f: impl FnMut(&[u8]) -> R,
        ) -> Result<(R, Received)> {
            if let Some(got) = self.try_recv_with(&mut f)? {
                return Ok(got);
            }
            let deadline = Instant::now() + timeout;
            loop {
                self.wait(deadline, timeout)?;
                if let Some(got) = self.try_recv_with(&mut f)? {
                    return Ok(got);
                }
            }
        }

        /// Sleeps until the tail moves past our position or the deadline passes.
        fn wait(&self, deadline: Instant, timeout: Duration) -> Result<()> {
            let ctl = self.s.ctl();
            let pending = || ctl.pos.tail.load(Ordering::Acquire) != self.st.pos;
            if !self.spin.is_zero() {
                let until = (Instant::now() + self.spin).min(deadline);
                loop {
                    for _ in 0..64 {
                        if pending() {
                            return Ok(());
                        }
                        spin_hint();
                    }
                    if Instant::now() >= until {
                        break;
                    }
                }
            }
            let event = self.s.change();
            loop {
                let key = event.key();
                if pending() {
                    return Ok(());
                }
                if event.wait(
                    key,
                    Some(deadline),
                    Duration::ZERO,
                    self.s.seg.control_writable(),
                ) == Waited::TimedOut
                {
                    if pending() {
                        return Ok(());
                    }
                    return Err(self.s.error(
                        ErrorKind::Timeout,
                        Op::Receive,
                        format!("no frame within {timeout:?}"),
                    ));
                }
            }
        }
    }

    /// Claims a free slot (or one whose process died) for this process, its cursor set to the
    /// stream's `oldest` first so that nothing after it is overwritten under us. `None` if all
    /// are taken.
    fn claim_slot(s: &Stream) -> Option<usize> {
        let me = owner_word(crate::sys::current_process());
        let i = s.slots().iter().position(|sl| {
            let cur = sl.owner.load(Ordering::Relaxed);
            let dead = cur != 0 && !crate::sys::process_alive((cur >> 32) as u32, cur as u32);
            (cur == 0 || dead)
                && sl
                    .owner
                    .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
        })?;
        // SYNC: Release pairs with the publisher's Acquire load of cursors in
        // `wait_for_space`; the SeqCst fence keeps this store before our loads of the positions
        // in `join`, so we never start below a cursor the publisher may have seen.
        s.slots()[i].cursor.store(
            s.ctl().pos.oldest.load(Ordering::Acquire),
            Ordering::Release,
        );
        fence(Ordering::SeqCst);
        Some(i)
    }

    impl Drop for Subscriber {
        fn drop(&mut self) {
            if let Some(i) = self.slot {
                let sl = &self.s.slots()[i];
                let me = owner_word(crate::sys::current_process());
                let _ = sl
                    .owner
                    .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
                self.s.ctl().space.signal(self.s.seg.wake_always());
            }
        }
    }

    /// Runs a subscriber over `bytes` taken as a stream segment's control block and ring, as a
    /// fuzz target does: whatever the bytes, it must end without panicking or reading out of
    /// bounds. Returns how many frames it received before the end or an error.
    #[doc(hidden)]
    pub fn fuzz_receive(bytes: &[u8]) -> usize {
        struct Heap<'a>(&'a [std::cell::Cell<u8>]);
        impl RingMem for Heap<'_> {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn write(&self, off: usize, src: &[u8]) {
                for (c, b) in self.0[off..off + src.len()].iter().zip(src) {
                    c.set(*b);
                }
            }
            fn read(&self, off: usize, dst: &mut [u8]) {
                let n = dst.len();
                for (d, c) in dst.iter_mut().zip(&self.0[off..off + n]) {
                    *d = c.get();
                }
            }
        }
        let ctl_len = std::mem::size_of::<StreamCtl>();
        let Some((ctl_bytes, ring_bytes)) = bytes.split_at_checked(ctl_len) else {
            return 0;
        };
        let word =
            |o: usize| u64::from_le_bytes(ctl_bytes[o..o + 8].try_into().unwrap_or_default());
        let ctl = StreamCtl {
            pos: Positions {
                tail: AtomicU64::new(word(0)),
                oldest: AtomicU64::new(word(8)),
                next_seq: AtomicU64::new(word(16)),
            },
            cfg: Config {
                ring_len: AtomicU64::new(0),
                max_frame: AtomicU64::new(0),
                policy: AtomicU32::new(0),
                max_subscribers: AtomicU32::new(0),
            },
            space: Event::new(),
        };
        // The ring: the largest power of two of the remaining bytes (at least two lines).
        let ring = match ring_bytes.len() {
            n if n >= 2 * FRAME_ALIGN => 1usize << (usize::BITS - 1 - n.leading_zeros()),
            _ => return 0,
        };
        let cells: Vec<std::cell::Cell<u8>> = ring_bytes[..ring]
            .iter()
            .map(|&b| std::cell::Cell::new(b))
            .collect();
        let mem = Heap(&cells);
        let max_frame = (word(24) as usize % ring).max(1).min(ring / 2 - FRAME_HDR);
        let mut st = SubState {
            pos: word(32) % (ring as u64 * 4),
            next_seq: word(40),
        };
        let mut got = 0;
        for _ in 0..64 {
            let mut copied = Vec::new();
            match try_receive(&ctl, &mem, &mut st, max_frame, |off, len| {
                copied.resize(len, 0);
                mem.read(off, &mut copied);
            }) {
                Ok(Some(r)) => {
                    assert_eq!(copied.len(), r.len);
                    got += 1;
                }
                _ => break,
            }
        }
        got
    }
}

/// Model checks of the reserve/commit/receive protocol
/// (`RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A ring of 8-byte atomic words (the model writes headers and payloads in whole words).
    struct Words(Vec<AtomicU64>);

    impl RingMem for Words {
        fn len(&self) -> usize {
            self.0.len() * 8
        }
        fn write(&self, off: usize, src: &[u8]) {
            assert!(off % 8 == 0 && src.len() % 8 == 0);
            for (i, w) in src.chunks(8).enumerate() {
                self.0[off / 8 + i]
                    .store(u64::from_le_bytes(w.try_into().unwrap()), Ordering::Relaxed);
            }
        }
        fn read(&self, off: usize, dst: &mut [u8]) {
            assert!(off % 8 == 0 && dst.len() % 8 == 0);
            for (i, d) in dst.chunks_mut(8).enumerate() {
                d.copy_from_slice(&self.0[off / 8 + i].load(Ordering::Relaxed).to_le_bytes());
            }
        }
    }

    fn ctl() -> StreamCtl {
        StreamCtl {
            pos: Positions {
                tail: AtomicU64::new(0),
                oldest: AtomicU64::new(0),
                next_seq: AtomicU64::new(1),
            },
            cfg: Config {
                ring_len: AtomicU64::new(256),
                max_frame: AtomicU64::new(8),
                policy: AtomicU32::new(0),
                max_subscribers: AtomicU32::new(0),
            },
            space: Event::new(),
        }
    }

    /// The publisher sends frames whose 8-byte payload is their own seq, into a ring of four
    /// frames (so it laps a slow subscriber); the subscriber checks every frame it accepts is
    /// whole (payload == seq) and that seq == expected + lost: losses are counted exactly.
    #[test]
    fn frames_are_whole_and_losses_exact() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let shared = Arc::new((ctl(), Words((0..32).map(|_| AtomicU64::new(0)).collect())));
            let p = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ctl, mem) = &*shared;
                    let mut st = PubState {
                        tail: 0,
                        oldest: 0,
                        next_seq: 1,
                    };
                    for _ in 0..6 {
                        let pos = reserve(ctl, mem, &mut st, 8, |_| true).unwrap();
                        mem.write((pos % 256) as usize + FRAME_HDR, &st.next_seq.to_le_bytes());
                        commit(ctl, mem, &mut st, pos, 8);
                    }
                })
            };
            let (ctl, mem) = &*shared;
            let mut st = SubState {
                pos: 0,
                next_seq: 1,
            };
            for _ in 0..3 {
                let mut payload = [0u8; 8];
                let got = try_receive(ctl, mem, &mut st, 8, |off, len| {
                    assert_eq!(len, 8);
                    mem.read(off, &mut payload);
                })
                .unwrap();
                if let Some(r) = got {
                    assert_eq!(
                        u64::from_le_bytes(payload),
                        r.seq,
                        "a torn or misplaced frame"
                    );
                    assert!(r.seq >= 1 && r.seq <= 6);
                    assert_eq!(st.next_seq, r.seq + 1);
                }
            }
            p.join().unwrap();
            // After the publisher is done, the subscriber drains to the end with exact losses.
            let mut seen = 0;
            let mut lost = 0;
            while let Some(r) = try_receive(ctl, mem, &mut st, 8, |_, _| {}).unwrap() {
                seen = r.seq;
                lost += r.lost;
            }
            assert!(seen == 0 || seen == 6);
            let _ = lost;
        });
    }

    /// `Block`: the publisher waits until the subscriber's cursor has passed the bytes it is
    /// about to overwrite; the subscriber stores its cursor (Release) after reading. Five frames
    /// through a four-frame ring (so the fifth must wait): every frame whole, none lost.
    #[test]
    fn block_never_overwrites_an_unread_frame() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let shared = Arc::new((
                ctl(),
                Words((0..32).map(|_| AtomicU64::new(0)).collect()),
                AtomicU64::new(0),
            ));
            let p = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ctl, mem, cursor) = &*shared;
                    let mut st = PubState {
                        tail: 0,
                        oldest: 0,
                        next_seq: 1,
                    };
                    for _ in 0..5 {
                        let room = |floor: u64| {
                            // SYNC: Acquire pairs with the subscriber's Release cursor store.
                            while cursor.load(Ordering::Acquire) < floor {
                                loom::thread::yield_now();
                            }
                            true
                        };
                        let pos = reserve(ctl, mem, &mut st, 8, room).unwrap();
                        mem.write((pos % 256) as usize + FRAME_HDR, &st.next_seq.to_le_bytes());
                        commit(ctl, mem, &mut st, pos, 8);
                    }
                })
            };
            let (ctl, mem, cursor) = &*shared;
            let mut st = SubState {
                pos: 0,
                next_seq: 1,
            };
            let mut got = 0;
            while got < 5 {
                let mut payload = [0u8; 8];
                match try_receive(ctl, mem, &mut st, 8, |off, _| mem.read(off, &mut payload))
                    .unwrap()
                {
                    Some(r) => {
                        assert_eq!(r.lost, 0, "Block lost a frame");
                        assert_eq!(u64::from_le_bytes(payload), r.seq, "a torn frame");
                        got += 1;
                        cursor.store(st.pos, Ordering::Release);
                    }
                    None => loom::thread::yield_now(),
                }
            }
            p.join().unwrap();
        });
    }
}
