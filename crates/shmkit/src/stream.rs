//! A broadcast stream of frames: one publisher, any number of subscribers, each with its own
//! cursor, frames of any size up to a maximum — text lines, structs, 8 MB video frames — at
//! memory speed, with an exact count of what a slow subscriber lost.
//!
//! # Layout
//!
//! The data region is a ring of `ring_len` bytes (a power of two). Frames lie in it one after
//! the other, each a 32-byte header and its payload, padded to a multiple of 64 bytes so that
//! headers start on cache lines. A payload of up to 32 bytes follows the header in the same
//! line (one line per hand-off); a longer one starts on the next line (large copies are faster
//! to and from aligned memory):
//!
//! ```text
//! offset size  field
//!      0    4  len     payload bytes (a padding frame: its whole size)
//!      4    4  kind    0 data, 1 padding
//!      8    8  seq     the frame's sequence number (data frames are numbered from 1)
//!     16    8  time    publish time, nanoseconds since the Unix epoch
//!     24    8  commit  !position once the frame is complete (the commit marker)
//!     32    …  payload of up to 32 bytes, or
//!     64    …  payload of more than 32 bytes
//! ```
//!
//! A frame never wraps: when one does not fit before the end of the ring, a padding frame fills
//! the rest and it starts at 0. Positions are 64-bit byte counts that only grow; the frame at
//! position `p` lies at offset `p % ring_len`. Positions stay below 2⁶² (at 10 GB/s a stream
//! takes 14 years to get there), so position arithmetic never overflows, and `!p` is never 0.
//!
//! The control block holds three cache lines of its own: the publisher's (`tail` — the position
//! after the last committed frame —, `newest`, `next_seq` and its statistics, written for every
//! frame), `oldest` (the position of the oldest frame still intact, written only when the
//! publisher reclaims ring space), and the configuration; then a `space` event and a table of
//! subscriber slots (holder, cursor, statistics; one cache line each).
//!
//! # The protocol (Disruptor / Aeron style)
//!
//! There is one publisher at a time: it holds the segment's robust lock for as long as it
//! lives, so a second one is refused, and the one that takes over after a crash is told.
//!
//! **Invariant C**: the commit word of the header at `tail` is not `!tail`. A subscriber that has
//! read everything waits at `tail` watching that one word, and nothing but the publisher's
//! commit of the frame there can make it read `!tail`: not stale bytes of an older lap, not
//! payload bytes that happen to lie there (they would have to equal `!tail`, and the publisher
//! zeroes that word before it publishes the frame before it).
//!
//! *Publish* a frame of `n` bytes (header and padding included) at the tail:
//! 1. If it does not fit before the end of the ring, it will start at 0 (`start`); a padding
//!    frame fills the gap.
//! 2. If `oldest` is past `floor = start + n + 32 − ring` — the bytes about to be overwritten,
//!    including the header after the new frame — nothing there is readable any more: go to 4.
//!    Otherwise, `Block`: wait until every live subscriber's cursor has passed `floor`. A
//!    subscriber whose process died is dropped from the table.
//! 3. Advance `oldest` past every frame that overlaps those bytes, and on by up to a sixteenth
//!    of the ring (never past the slowest cursor or the tail), and store it: the publisher
//!    reclaims space a share at a time. `Overwrite`: a Release fence, so no byte of the new
//!    frame can become visible before the frames it destroys are marked gone. `Block`: a
//!    SeqCst fence, then look at the cursors once more (the publisher's half of a Dekker pair
//!    with a joining subscriber, below), waiting for any that is behind the new `oldest`
//!    (**invariant B**: every joined cursor is at or past `oldest`, which is what lets step 2
//!    skip the cursors).
//! 4. Padding, if any: write its header, zero the commit word at `start`, store its marker
//!    (Release).
//! 5. Write the payload (`send` copies, `loan` hands out the bytes in place) and the header.
//! 6. Zero the commit word of the header after the frame (invariant C for the new tail), then
//!    store the frame's marker `!position` (Release): it is committed. Then store `tail`,
//!    `newest` and the statistics (Release), and signal the change event (a futex wake only if
//!    someone sleeps).
//!
//! *Receive* at position `pos`:
//! 1. Load the commit word at `pos` (Acquire). `!pos`: the frame is complete; go to 3.
//! 2. Otherwise load `tail`: `pos == tail` means nothing new. `pos < oldest` means the publisher
//!    lapped us (`Overwrite`): jump to the newest frame (the one the publisher destroys last), or
//!    on a second failed attempt to the tail, so that the next frame has a whole ring's time to
//!    be read — a subscriber can always make progress, and gives up after a bounded number of
//!    attempts (returning "nothing now") rather than spinning.
//! 3. Read the header and copy (or look at) the payload, bounds-checked against the ring and
//!    the maximum frame size — the bytes may be anything.
//! 4. `Overwrite`: an Acquire fence, then reload `oldest`: still `<= pos` means the publisher
//!    touched none of the bytes we read (the seqlock check of the cell, with `oldest` as the
//!    version). Otherwise drop what was read and go to 2.
//! 5. The frame's `seq` minus the one expected is the exact number of frames lost.
//! 6. `Block`: store our cursor (Release) and signal the `space` event if the publisher sleeps.
//!
//! *Join* a `Block` stream (the subscriber's half of the Dekker pair): store the cursor at the
//! position we mean to start from, a SeqCst fence, then load `oldest`; if it passed us, start
//! there instead and repeat. Either the publisher's re-scan (step 3) sees our cursor and waits
//! for us, or we see its new `oldest` and start past the bytes it is about to overwrite. Once
//! joined, a `Block` subscriber's frames are protected by its cursor: `oldest` may pass it (for
//! later joiners) without anything being overwritten, so it neither jumps nor re-checks.
//!
//! A publisher killed mid-frame never stored its marker: the half-written frame does not exist
//! for subscribers, and the next publisher writes over it. One killed between its marker and its
//! `tail` left a whole frame that subscribers may already have read: its successor adopts it
//! (advances the tail past every committed frame it finds there) before it publishes. If it died
//! after numbering a frame but before committing it, subscribers count that frame as lost
//! (`lost == 1`), even with `Block`: it was sent, and never arrived.
//!
//! # Cache lines per hand-off
//!
//! What a hand-off costs is the cache lines that move between the publisher's CPU and a
//! subscriber's (a transfer is 100–200 ns between the two CPUs of a small VM; the rest is a few
//! nanoseconds). For a frame of up to 32 bytes, in a ring that has wrapped:
//!
//! * publisher → subscriber: **one line**, the frame's first: header, payload and commit word
//!   together. The subscriber spins on it (the commit word at its position) and copies from it.
//!   A frame of `n` bytes adds `(n − 32) / 64` lines, which the subscriber loads in parallel.
//! * the next frame's first line, whose commit word the publisher zeroes (invariant C) and the
//!   subscriber starts to poll as soon as it has read the frame before: it moves while the
//!   subscriber waits, off the hand-off's path, and back when the publisher writes it.
//! * `oldest`, which an `Overwrite` subscriber reads after each copy: it changes once per
//!   reclaimed share of the ring (step 3), so it stays in the subscriber's cache for
//!   about `ring / 16` bytes of frames (32 frames of 64 bytes in the smallest ring).
//! * `tail`, `newest` and the statistics: the publisher's line; a spinning subscriber looks at
//!   it once per 64 polls, a blocking one when it wakes.
//! * the subscriber's slot (cursor and statistics): its own line. A `Block` publisher reads the
//!   cursors only when it reclaims a share (invariant B), not per frame.
//! * the change event: one atomic add in the publisher's own line; a futex wake only if a
//!   subscriber sleeps.
//!
//! So a small frame costs one line transfer each way, as a bare atomic flag does, plus one for
//! the next frame's line that overlaps the wait, and one per reclaimed share.
//!
//! # Where the rest of a hand-off's time goes
//!
//! Measured on the 2-vCPU AMD EPYC VM of `shmkit bench` (perf sampling, and two threads
//! ping-ponging through a hand-written copy of this layout): the layout itself costs no more
//! than the raw atomics (80–85 ns a round trip both), so what a spinning round trip costs beyond
//! them is instructions on the reply's path — on each side, the rest of the receive after the
//! commit word is seen, then the send up to its marker. What is done to keep that path short:
//!
//! * a spinning subscriber polls the commit word for a round before it reads the clock (20–35
//!   ns) or the tail (the publisher's line) at all;
//! * an `Overwrite` subscriber brings its slot up to date at its next receive, not before the
//!   receive returns (see `Subscriber::note_received`);
//! * `reserve` is a few comparisons inline, everything else out of line and cold;
//! * the publisher's wake-up check (a locked add, which waits for the frame's line to leave)
//!   comes after the marker, while the line travels;
//! * reclaiming moves `oldest` to a frame boundary the publisher wrote down when it made it
//!   (`Marks`), not one found by reading back the headers of the frames it reclaims: for small
//!   frames that read was 65 dependent loads in a row, every 65th frame, of lines the subscriber
//!   had read last — 570 ns each time, the round trip's 99th percentile (721 ns, now 211 ns) and
//!   9 ns of every frame on average;
//! * a frame of up to 32 bytes (payload in the header's line) that goes at the tail with
//!   nothing else to do takes `send_small` and `try_receive_small`: the same loads and stores
//!   as `reserve` + `commit` and `try_receive`, a word at a time, without the general paths'
//!   byte copies, closures and loops (the spinning round trip 126–132 ns before, 119–121 ns
//!   with them); the loom models run both paths.
//!
//! Counted with callgrind, the general paths took about 300 instructions a side for an 8-byte
//! frame; what is left is about 15 ns a side (`shmkit bench`, round trips timed back to back in
//! blocks: 119–121 ns against the raw atomics' 70–100 ns). A hand-written copy of the same
//! stores and loads with nothing else (two threads) runs at 84 ns — faster than the raw
//! atomics' 105 ns in that test, as a new line per message beats re-using one — so the rest is
//! still instructions, a few nanoseconds each: the coarse clock's read for the frame's time
//! (about 2 ns a side, measured), the bounds checks, the `Vec`.
//!
//! How much those instructions weigh depends on the day's cores, not on the transfers: on
//! another day the same VM ran them at half the speed (an 8-byte send + receive in one thread,
//! `shmkit bench`'s `local/stream-send-recv-8B` and criterion's `stream/send-recv-8B`, took 49–75
//! ns instead of 37, `pause` 25 ns) while the raw atomics' round trip stayed at 110–120 ns, and
//! the spinning round trip rose to 2.0–2.2x it. Two pinned threads alternating blocks of raw
//! and stream round trips then showed that no single item of the reply's path is the cost: taking
//! out the clock read, the wake-up check, the zeroing of the next commit word, the `oldest`
//! re-check and the slot note, each alone, moved the ratio by less than the noise; all five
//! together, from 2.06–2.28x to 1.70–1.72x. What is left is the path's length: about 240
//! instructions for the send and 190 for the receive (callgrind), of which the small-frame paths
//! already cut the byte-wise copies (one `memcpy` into a zeroed block now packs a small frame's
//! payload, instead of one call per word).

use std::fmt;
use std::time::{Duration, Instant};

use crate::notify::Event;
use crate::sync::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

/// Bytes of a frame header.
pub(crate) const FRAME_HDR: usize = 32;
/// Frames start on cache lines.
pub(crate) const FRAME_ALIGN: usize = 64;
/// Where the commit word lies in a frame header.
const COMMIT_OFF: usize = 24;
const KIND_DATA: u32 = 0;
const KIND_PAD: u32 = 1;

/// The commit marker of the frame at `pos`: never 0 (positions stay below 2⁶²), and different
/// for every position, so a marker left by an older lap never matches.
pub(crate) fn marker(pos: u64) -> u64 {
    !pos
}

/// What the publisher does when the ring is full of frames a subscriber has not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Never wait: overwrite the oldest frames. A subscriber that falls behind by about the
    /// ring (the publisher reclaims space a sixteenth of the ring at a time, so it may be up to
    /// that much less) is told exactly how many frames it lost. The default.
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

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// The publisher's line, written for every frame.
#[repr(C, align(64))]
pub(crate) struct Positions {
    /// The position after the last committed frame.
    pub(crate) tail: AtomicU64,
    /// 1 + the position of the newest committed data frame (0: none yet).
    pub(crate) newest: AtomicU64,
    /// The sequence number the next frame will get.
    pub(crate) next_seq: AtomicU64,
    /// Statistics: frames and payload bytes published, and when the last one was.
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) last_ns: AtomicU64,
}

/// The oldest intact frame: a line of its own, written only when the publisher reclaims space,
/// so that subscribers re-checking it do not fetch the publisher's busy line.
#[repr(C, align(64))]
pub(crate) struct Reclaim {
    pub(crate) oldest: AtomicU64,
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
    pub(crate) reclaim: Reclaim,
    pub(crate) cfg: Config,
    /// Signalled by `Block` subscribers when their cursor moves and the publisher sleeps.
    pub(crate) space: Event,
}

/// One subscriber's entry: who it is, how far it has read, and its statistics.
///
/// `owner` is the subscriber's holder word (see `liveness`; 0: free), claimed and released with
/// one compare-and-swap so that two claimers never share a slot. In a `Block` stream the cursor
/// holds the publisher back; in an `Overwrite` stream the slot only carries statistics (a
/// subscriber that finds the table full, or cannot write it, reads without one).
#[repr(C, align(64))]
pub(crate) struct SubSlot {
    pub(crate) owner: AtomicU64,
    /// `Block`: the position before which it no longer reads. Both: its position.
    pub(crate) cursor: AtomicU64,
    /// The sequence number it expects next.
    pub(crate) next_seq: AtomicU64,
    /// Frames lost so far.
    pub(crate) lost: AtomicU64,
    /// Frames received so far.
    pub(crate) received: AtomicU64,
    /// When it last received one (nanoseconds since the Unix epoch, coarse).
    pub(crate) last_ns: AtomicU64,
}

/// Bytes of the control block before the subscriber table.
pub(crate) const CTL_LEN: usize = 256;
/// Bytes per subscriber slot.
pub(crate) const SLOT_LEN: usize = 64;

#[cfg(not(loom))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<StreamCtl>() == CTL_LEN);
    assert!(size_of::<SubSlot>() == SLOT_LEN);
    assert!(offset_of!(StreamCtl, reclaim) == 64);
    assert!(offset_of!(StreamCtl, cfg) == 128);
    assert!(offset_of!(StreamCtl, space) == 192);
};

/// The bytes of the ring: mapped memory, or a model's atomics (loom) or heap (fuzzing).
pub(crate) trait RingMem {
    /// `ring_len`: a power of two (validated at open), so a position's offset is
    /// `pos & (ring_len - 1)` — no division on the hot path.
    fn len(&self) -> usize;
    /// Copies `src` to `off..off + src.len()` (inside the ring: the caller checks). Only the
    /// publisher writes.
    fn write(&self, off: usize, src: &[u8]);
    /// Copies `off..off + dst.len()` into `dst` (inside the ring: the caller checks).
    fn read(&self, off: usize, dst: &mut [u8]);
    /// Loads the commit word of the header at `off` (Acquire).
    fn commit_load(&self, off: usize) -> u64;
    /// Stores the commit word of the header at `off` (Release if `release`, else Relaxed).
    fn commit_store(&self, off: usize, value: u64, release: bool);
    /// Stores `words`, little-endian, at `off` (8-aligned; inside the ring: the caller
    /// checks): as [`write`](Self::write) of their bytes, a word at a time.
    fn store_words(&self, off: usize, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            self.write(off + 8 * i, &w.to_le_bytes());
        }
    }
    /// Loads `words.len()` little-endian words from `off` (8-aligned; inside the ring): as
    /// [`read`](Self::read), a word at a time.
    fn load_words(&self, off: usize, words: &mut [u64]) {
        for (i, w) in words.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            self.read(off + 8 * i, &mut b);
            *w = u64::from_le_bytes(b);
        }
    }
}

/// Where the payload of a frame of `len` bytes starts, from the frame's start: right after the
/// header for up to 32 bytes (header and payload then share one cache line: one line per
/// hand-off), else on the next cache line (large copies run up to 7 % faster to and from
/// aligned memory: measured at 8 MiB).
pub(crate) fn payload_offset(len: usize) -> usize {
    if len <= FRAME_ALIGN - FRAME_HDR {
        FRAME_HDR
    } else {
        FRAME_ALIGN
    }
}

/// Bytes a frame of `len` payload bytes takes in the ring (header and padding included): to
/// size a ring for `n` frames in flight, give it `n * frame_size(max_frame)`.
pub fn frame_size(len: usize) -> usize {
    len.checked_add(payload_offset(len))
        .and_then(|n| n.checked_next_multiple_of(FRAME_ALIGN))
        .unwrap_or(usize::MAX)
}

/// The largest frame a ring of `ring` bytes takes: its frame, padding before it and the header
/// after it must fit in half the ring.
pub(crate) fn max_frame_for(ring: u64) -> u64 {
    (ring / 2).saturating_sub(2 * FRAME_HDR as u64)
}

/// Positions and sequence numbers beyond this are corrupt.
pub(crate) const POS_MAX: u64 = 1 << 62;

/// The first 24 bytes of a header, as the three little-endian words they are: `len | kind <<
/// 32`, `seq`, `time`. (Stored and loaded as whole words: a load that spans two smaller
/// stores cannot be forwarded from them, a stall of a dozen cycles.)
fn header(len: u32, kind: u32, seq: u64, time: u64) -> [u64; 3] {
    [u64::from(len) | u64::from(kind) << 32, seq, time]
}

/// Reads the header at `off`: `(len, kind, seq, time)`.
fn read_header(mem: &impl RingMem, off: usize) -> (u32, u32, u64, u64) {
    let mut h = [0u64; 3];
    mem.load_words(off, &mut h);
    (h[0] as u32, (h[0] >> 32) as u32, h[1], h[2])
}

/// The size in the ring of a frame with header `(len, kind)` at offset `off`, if the header
/// holds up (the bytes may be anything).
fn frame_extent(len: u32, kind: u32, off: u64, ring: u64, max_frame: u64) -> Option<u64> {
    let size = match kind {
        KIND_DATA if u64::from(len) <= max_frame => frame_size(len as usize) as u64,
        KIND_PAD if len > 0 && len as usize % FRAME_ALIGN == 0 => u64::from(len),
        _ => return None,
    };
    (off + size <= ring).then_some(size)
}

/// The publisher's own copy of the positions and statistics (it is their only writer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubState {
    pub(crate) tail: u64,
    pub(crate) oldest: u64,
    pub(crate) next_seq: u64,
    /// 1 + position of the newest data frame (0: none).
    pub(crate) newest: u64,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    /// Whether this publisher has seen invariant B hold (`Block`): not before its first look at
    /// the cursors, as its predecessor may have died between moving `oldest` and its re-scan.
    pub(crate) scanned: bool,
    /// Frame boundaries this publisher made itself, where `oldest` can move without reading a
    /// header back (see [`Marks`]).
    pub(crate) marks: Marks,
}

/// How many frame boundaries a publisher remembers: one per share of the ring it fills (16 a
/// lap), with room to spare.
const MARKS: usize = 24;

/// Frame boundaries a publisher made, one per share of the ring: the end of each frame that
/// crossed a multiple of the share (see `RECLAIM_SHARE`), in increasing order.
///
/// Reclaiming moves `oldest` to a frame boundary at or past the floor. Found by walking the
/// headers from `oldest`, that is one dependent load per frame reclaimed — 65 in a row for
/// 8-byte frames — of lines a subscriber read last, so each comes from its cache: 570 ns every
/// 65th frame on the bench's VM, 9 ns a frame on average, and the p99 of the spinning round
/// trip. A boundary the publisher wrote down when it made it costs nothing to find, and cannot
/// be scribbled on by another process. The walk stays for what the marks do not cover: the
/// frames of a predecessor, and a cursor (`Block`) that stops the reclaim short of every mark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    at: [u64; MARKS],
    first: usize,
    len: usize,
}

impl Marks {
    fn new() -> Marks {
        Marks {
            at: [0; MARKS],
            first: 0,
            len: 0,
        }
    }

    /// Notes the end of a frame that ran from `start` to `end` (exclusive), if it crossed a
    /// multiple of `share`, a power of two (the oldest mark is dropped first if none is left,
    /// so that the marks stay in order; a full set means the reclaims fell behind, which they
    /// do not, and the walk covers what is missing).
    #[inline(always)]
    fn passed(&mut self, start: u64, end: u64, share: u64) {
        debug_assert!(share.is_power_of_two());
        // The same multiple below both: they differ only in the bits below `share` (two
        // divisions, tens of cycles, on every frame's path otherwise).
        if (start ^ end) < share {
            return;
        }
        if self.len == MARKS {
            self.first = (self.first + 1) % MARKS;
            self.len -= 1;
        }
        self.at[(self.first + self.len) % MARKS] = end;
        self.len += 1;
    }

    /// The last mark at or below `want` (or the first at or past `floor`, if that lies
    /// beyond `want`), neither below `floor` nor above `limit`; it and every mark before it
    /// are forgotten. `None` if no mark lies in `floor..=limit` (the marks below `floor` are
    /// forgotten all the same: `oldest` passes them now).
    fn take(&mut self, floor: u64, want: u64, limit: u64) -> Option<u64> {
        let mut found = None;
        while self.len > 0 {
            let m = self.at[self.first];
            if m >= floor && (m > limit || (found.is_some() && m > want)) {
                break;
            }
            if m >= floor {
                found = Some(m);
            }
            self.first = (self.first + 1) % MARKS;
            self.len -= 1;
        }
        found
    }
}

impl PubState {
    /// The state of a new stream.
    #[cfg(any(loom, test))]
    pub(crate) fn new() -> PubState {
        PubState {
            tail: 0,
            oldest: 0,
            next_seq: 1,
            newest: 0,
            frames: 0,
            bytes: 0,
            scanned: false,
            marks: Marks::new(),
        }
    }

    /// Takes over the positions a previous publisher left: adopts frames it committed without
    /// storing the tail (it died in between), repairs an `oldest` that does not fit (a scribbled
    /// control block: the ring restarts empty at the tail), and restores invariant C. Refuses
    /// positions or sequence numbers no stream reaches (`Err`: a description for `Corrupt`).
    pub(crate) fn take(
        ctl: &StreamCtl,
        mem: &impl RingMem,
        max_frame: u64,
    ) -> Result<PubState, String> {
        let ring = mem.len() as u64;
        let aligned = |p: u64| p % FRAME_ALIGN as u64 == 0;
        // SYNC: Acquire pairs with the previous publisher's Release stores of `tail` and
        // `oldest`; its lock's release (or our takeover) orders the rest.
        let stored_tail = ctl.pos.tail.load(Ordering::Acquire);
        let oldest = ctl.reclaim.oldest.load(Ordering::Acquire);
        let next_seq = ctl.pos.next_seq.load(Ordering::Relaxed).max(1);
        if stored_tail > POS_MAX {
            return Err(format!("its tail position {stored_tail} is impossible"));
        }
        // An unaligned tail (scribbled on) restarts the ring empty at the next boundary.
        let tail = stored_tail.next_multiple_of(FRAME_ALIGN as u64);
        if next_seq > POS_MAX {
            return Err(format!("its next sequence number {next_seq} is impossible"));
        }
        let newest = ctl.pos.newest.load(Ordering::Relaxed);
        let mut st = PubState {
            tail,
            oldest,
            next_seq,
            newest: if newest <= tail { newest } else { 0 },
            frames: ctl.pos.frames.load(Ordering::Relaxed),
            bytes: ctl.pos.bytes.load(Ordering::Relaxed),
            scanned: false,
            marks: Marks::new(),
        };
        if !(oldest <= tail && tail - oldest <= ring && aligned(oldest) && tail == stored_tail) {
            st.oldest = tail;
        }
        // A dead predecessor may have committed a padding frame and a frame after the tail it
        // stored: adopt them, they may have been read already.
        for _ in 0..2 {
            let off = st.tail & (ring - 1);
            if mem.commit_load(off as usize) != marker(st.tail) {
                break;
            }
            let (len, kind, seq, _) = read_header(mem, off as usize);
            match frame_extent(len, kind, off, ring, max_frame) {
                Some(size) if st.tail + size - st.oldest <= ring && seq < POS_MAX => {
                    if kind == KIND_DATA {
                        st.newest = st.tail + 1;
                        st.next_seq = st.next_seq.max(seq + 1);
                    }
                    st.tail += size;
                }
                _ => break,
            }
        }
        // Invariant C: whatever lies at the tail (a scribbled or unadoptable header) must not
        // read as committed.
        let off = (st.tail & (ring - 1)) as usize;
        if mem.commit_load(off) == marker(st.tail) {
            mem.commit_store(off, 0, false);
        }
        ctl.pos.next_seq.store(st.next_seq, Ordering::Relaxed);
        ctl.pos.newest.store(st.newest, Ordering::Relaxed);
        // SYNC: Release publishes the repairs and adoptions to subscribers and joiners.
        ctl.reclaim.oldest.store(st.oldest, Ordering::Release);
        ctl.pos.tail.store(st.tail, Ordering::Release);
        Ok(st)
    }
}

/// When the publisher asks whether it may overwrite bytes below a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Before it marks the frames there gone.
    Before,
    /// After it marked them gone and fenced (`Block`: the Dekker re-scan).
    After,
}

/// The publisher reclaims ring space a share of the ring at a time (1/16: 4 KiB of the smallest
/// default ring), rather than just what each frame needs. `oldest` — a line every `Overwrite`
/// subscriber reads after each frame — then changes once per share instead of with every frame,
/// and a `Block` publisher looks at the subscribers' cursors (one line each) only then. The
/// price: an `Overwrite` subscriber loses frames when it falls behind by a ring less up to this
/// share, not by the whole ring. (The models use a quarter, so that they reclaim ahead too.)
const RECLAIM_SHARE: u64 = if cfg!(loom) { 4 } else { 16 };

/// Reserves the frame of `len` payload bytes at the end of the stream (steps 1 to 4): pads to
/// the start of the ring if needed, and marks the frames it will overwrite gone.
///
/// `room(floor, when)` is asked whether the bytes below `floor` may be overwritten, before and
/// (`Block`) after marking frames gone: it waits until they may (`Block`) and returns the lowest
/// cursor of a live subscriber (`u64::MAX` for none, or for `Overwrite`), or `None` to give up
/// (the deadline passed). Returns the frame's position.
///
/// **Invariant B** (`Block`): every joined subscriber's cursor is at or past `oldest`. The
/// re-scan after a reclaim waits for it, cursors only grow, and a joiner starts at or past the
/// `oldest` it sees (the Dekker pair). So a frame whose bytes lie below `oldest` already needs
/// no look at the cursors at all — with reclaiming a share at a time, most frames.
#[inline(always)]
pub(crate) fn reserve(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    len: usize,
    block: bool,
    room: impl FnMut(u64, Room) -> Option<u64>,
) -> Option<u64> {
    if fits(st, mem.len() as u64, frame_size(len) as u64, block) {
        return Some(st.tail);
    }
    reserve_slow(ctl, mem, st, len, block, room)
}

/// Whether a frame of `n` bytes in all goes at the tail with nothing else to do (most frames):
/// no padding, its bytes and the next header reclaimed already, and no first look at the
/// cursors due.
#[inline(always)]
fn fits(st: &PubState, ring: u64, n: u64, block: bool) -> bool {
    (st.tail & (ring - 1)) + n <= ring
        && (st.tail + n + FRAME_HDR as u64).saturating_sub(ring) <= st.oldest
        && (st.scanned || !block)
}

/// Payloads of up to this many bytes share their header's cache line (see `payload_offset`).
pub(crate) const SMALL: usize = FRAME_ALIGN - FRAME_HDR;

/// [`reserve`], the payload's write and [`commit`] for a frame of at most [`SMALL`] bytes that
/// [`fits`]: the same stores in the same order, the payload a word at a time (zero-padded to
/// its last word, inside the frame), stamped `time`. Returns its sequence number; `None`
/// (nothing written) if the frame does not fit so simply: [`reserve`] then. The spinning
/// hand-off's path (see "Where the rest of a hand-off's time goes" in the module docs).
#[inline(always)]
pub(crate) fn send_small(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    frame: &[u8],
    time: u64,
    block: bool,
) -> Option<u64> {
    let len = frame.len();
    let ring = mem.len() as u64;
    if len > SMALL || !fits(st, ring, FRAME_ALIGN as u64, block) {
        return None;
    }
    // One copy into a zeroed block (not one per word: each was a call to `memcpy`), then words.
    let mut bytes = [0u8; SMALL];
    bytes[..len].copy_from_slice(frame);
    let words = bytemuck::cast::<[u8; SMALL], [u64; SMALL / 8]>(bytes).map(u64::from_le);
    let pos = st.tail;
    let off = (pos & (ring - 1)) as usize;
    mem.store_words(off + FRAME_HDR, &words[..len.div_ceil(8)]);
    Some(commit(ctl, mem, st, pos, len, time))
}

/// [`reserve`] when there is more to do than say where: padding, reclaiming, or the first look
/// at the cursors.
#[cold]
#[inline(never)]
fn reserve_slow(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    len: usize,
    block: bool,
    mut room: impl FnMut(u64, Room) -> Option<u64>,
) -> Option<u64> {
    let ring = mem.len() as u64;
    let n = frame_size(len) as u64;
    // The caller checked `len` against the validated maximum frame, which fits half the ring
    // with a padding frame and the next header.
    assert!(
        n + 2 * FRAME_HDR as u64 <= ring / 2 + FRAME_ALIGN as u64,
        "a frame of {len} bytes in a ring of {ring}"
    );
    let off = st.tail & (ring - 1);
    let pad = if off + n > ring { ring - off } else { 0 };
    let start = st.tail + pad;
    // The frame and the header after it (zeroed at commit).
    let floor = (start + n + FRAME_HDR as u64).saturating_sub(ring);
    if block && !st.scanned {
        // SYNC: as after a reclaim (below): our predecessor's store of `oldest`, or a joiner's
        // of its cursor, is seen by the other side's load after its fence.
        fence(Ordering::SeqCst);
        room(st.oldest, Room::After)?;
        st.scanned = true;
    }
    if st.oldest < floor {
        let low = room(floor, Room::Before)?;
        // Step 3: frames overlapping [.., floor) are about to be overwritten; mark a share of
        // the ring more gone while at it, as far as the slowest cursor allows (it lies on a
        // frame boundary, so `oldest` stops at or before it) and never past the tail.
        let target = (floor + ring / RECLAIM_SHARE)
            .min(low)
            .min(st.tail)
            .max(floor);
        // A boundary we made, as near `target` as the marks allow: no header to read. (The
        // walk's own stop is the first boundary at or past `target`; any boundary at or past
        // the floor will do, as long as it passes neither the slowest cursor nor the tail.)
        let walk_to = match st.marks.take(floor, target, low.min(st.tail)) {
            Some(m) => {
                st.oldest = m;
                m
            }
            None => target,
        };
        while st.oldest < walk_to {
            let o = st.oldest & (ring - 1);
            let (flen, kind, _, _) = read_header(mem, o as usize);
            match frame_extent(flen, kind, o, ring, u64::MAX) {
                Some(size) if st.oldest + size <= st.tail => st.oldest += size,
                // A header another process scribbled on: give up on everything before the
                // tail (a frame boundary).
                _ => {
                    st.oldest = st.tail.max(floor);
                    break;
                }
            }
        }
        ctl.reclaim.oldest.store(st.oldest, Ordering::Relaxed);
        if block {
            // SYNC: the publisher's half of the Dekker pair with `join_position`: our store of
            // `oldest` and a joiner's store of its cursor cannot both go unseen by the other's
            // load after its fence. Also orders the writes below after `oldest` (Release).
            fence(Ordering::SeqCst);
            // Invariant B: wait for every cursor to reach the new `oldest` (only a subscriber
            // that joined meanwhile can be behind it).
            room(st.oldest, Room::After)?;
        } else {
            // SYNC: the writes below (padding, header, payload) must not become visible before
            // the new `oldest`; pairs with the subscriber's Acquire fence before it re-checks.
            fence(Ordering::Release);
        }
    }
    if pad > 0 {
        st.marks.passed(st.tail, start, ring / RECLAIM_SHARE);
        let o = off as usize;
        mem.store_words(o, &header(pad as u32, KIND_PAD, 0, 0));
        mem.commit_store((start & (ring - 1)) as usize, 0, false);
        // SYNC: Release: the padding header and the zeroed commit word after it are visible to
        // whoever sees its marker.
        mem.commit_store(o, marker(st.tail), true);
        st.tail = start;
    }
    Some(start)
}

/// Writes the header of the reserved frame at `pos` (its payload is in place) and publishes it
/// (step 6). Returns its sequence number.
#[inline(always)]
pub(crate) fn commit(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut PubState,
    pos: u64,
    len: usize,
    time: u64,
) -> u64 {
    let ring = mem.len() as u64;
    let seq = st.next_seq;
    let off = (pos & (ring - 1)) as usize;
    mem.store_words(off, &header(len as u32, KIND_DATA, seq, time));
    let end = pos + frame_size(len) as u64;
    // Invariant C for the new tail.
    mem.commit_store((end & (ring - 1)) as usize, 0, false);
    // SYNC: Release publishes the payload, the header and the zeroed next commit word to
    // subscribers that load this marker with Acquire.
    mem.commit_store(off, marker(pos), true);
    st.marks.passed(pos, end, ring / RECLAIM_SHARE);
    st.tail = end;
    st.next_seq = seq + 1;
    st.newest = pos + 1;
    st.frames += 1;
    st.bytes += len as u64;
    ctl.pos.next_seq.store(st.next_seq, Ordering::Relaxed);
    ctl.pos.newest.store(st.newest, Ordering::Relaxed);
    ctl.pos.frames.store(st.frames, Ordering::Relaxed);
    ctl.pos.bytes.store(st.bytes, Ordering::Relaxed);
    ctl.pos.last_ns.store(time, Ordering::Relaxed);
    // SYNC: Release publishes the frame to subscribers and joiners that load `tail` with
    // Acquire.
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

/// A received frame's sequence number, length, publish time, and how many frames were lost
/// just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The frame's sequence number (frames are numbered from 1).
    pub seq: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Frames the publisher overwrote before this subscriber read them, just before this one
    /// (always 0 with [`Policy::Block`] once joined).
    pub lost: u64,
    /// When it was published: nanoseconds since the Unix epoch, by the publisher's coarse wall
    /// clock (its last timer tick, 1–4 ms before on Linux) unless it asked for the precise one
    /// ([`StreamOptions::precise_time`]) or set it
    /// ([`Publisher::send_at`]).
    pub time_ns: u64,
}

/// A frame found by [`try_receive`]: what it is, where its payload lies, and its position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Got {
    pub(crate) r: Received,
    /// Offset of the payload in the ring.
    pub(crate) off: usize,
    /// Position of the frame.
    pub(crate) pos: u64,
}

/// How many attempts in a row a lapped subscriber makes before it reports "nothing now", its
/// position at the tail (the next frame then has a whole ring's time to be read).
const MAX_ATTEMPTS: u32 = 8;

/// How many times in a row a subscriber re-reads positions that are out of order before it calls
/// them corrupt.
const STALE_LIMIT: u32 = if cfg!(loom) { u32::MAX } else { 1 << 20 };

/// [`try_receive`] for the frame the spinning hand-off sends: a data frame of at most
/// [`SMALL`] bytes, committed at the subscriber's position and whole. Its payload goes to
/// `out` (its first `len` bytes); the subscriber moves past it. `None` (nothing moved) for
/// anything else — not there yet, padding, larger, overwritten meanwhile, lapped, or
/// nonsense — which [`try_receive`] sorts out. The checks are [`try_receive`]'s for this case:
/// the marker (Acquire), the header, then `intact` unless `protected`.
#[inline(always)]
pub(crate) fn try_receive_small(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut SubState,
    max_frame: usize,
    protected: bool,
    out: &mut [u8; SMALL],
) -> Option<Received> {
    if st.pos % FRAME_ALIGN as u64 != 0 || st.pos > POS_MAX {
        return None;
    }
    let off = (st.pos & (mem.len() as u64 - 1)) as usize;
    if mem.commit_load(off) != marker(st.pos) {
        return None;
    }
    let (len, kind, seq, time) = read_header(mem, off);
    let len = len as usize;
    if kind != KIND_DATA || len > SMALL || len > max_frame {
        return None;
    }
    let mut words = [0u64; SMALL / 8];
    mem.load_words(off + FRAME_HDR, &mut words[..len.div_ceil(8)]);
    if !protected && !intact(ctl, st.pos) {
        return None;
    }
    *out = bytemuck::cast(words.map(u64::to_le));
    st.pos += FRAME_ALIGN as u64;
    let lost = seq.saturating_sub(st.next_seq);
    st.next_seq = seq.saturating_add(1);
    Some(Received {
        seq,
        len,
        lost,
        time_ns: time,
    })
}

/// Receives the next frame, if there is one: `consume(offset, len)` reads the payload at
/// `offset` of the ring (it may be called again if the publisher overwrote the frame while it
/// read). `protected`: the frames are this subscriber's until its cursor passes them (a joined
/// `Block` subscriber), so it neither jumps nor re-checks `oldest`. Errors describe a control
/// block or frame another process scribbled on.
#[inline(always)]
pub(crate) fn try_receive(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut SubState,
    max_frame: usize,
    protected: bool,
    consume: impl FnMut(usize, usize),
) -> Result<Option<Got>, String> {
    try_receive_limited(ctl, mem, st, max_frame, protected, STALE_LIMIT, consume)
}

/// [`try_receive`], calling positions corrupt after `stale_limit` inconsistent looks (fuzzing
/// reads memory that never changes, where every look sees the same).
#[inline(always)]
fn try_receive_limited(
    ctl: &StreamCtl,
    mem: &impl RingMem,
    st: &mut SubState,
    max_frame: usize,
    protected: bool,
    stale_limit: u32,
    mut consume: impl FnMut(usize, usize),
) -> Result<Option<Got>, String> {
    let ring = mem.len() as u64;
    let mut stale = 0u32;
    let mut attempts = 0u32;
    loop {
        if st.pos % FRAME_ALIGN as u64 != 0 || st.pos > POS_MAX {
            return Err(format!(
                "a subscriber position {} that is impossible",
                st.pos
            ));
        }
        let off = st.pos & (ring - 1);
        if mem.commit_load(off as usize) != marker(st.pos) {
            // Not (or no longer) committed here: nothing new, lapped, or a race.
            // SYNC: Acquire pairs with the Release store of `tail` in `commit`.
            let tail = ctl.pos.tail.load(Ordering::Acquire);
            if st.pos == tail {
                return Ok(None);
            }
            let oldest = ctl.reclaim.oldest.load(Ordering::Acquire);
            let sane = oldest <= tail && tail - oldest <= ring && tail <= POS_MAX;
            if !sane || st.pos > tail {
                // The publisher moves `oldest` for its next frame before it stores that frame's
                // `tail`, so a `tail` loaded just before can be older than `oldest`: load again.
                // (Loom found this.) Only a scribbled control block keeps it so.
                stale += 1;
                if stale < stale_limit {
                    spin_hint();
                    continue;
                }
                return Err(format!(
                    "positions out of order (subscriber {}, oldest {oldest}, tail {tail}, ring \
                     {ring})",
                    st.pos
                ));
            }
            if st.pos < oldest && !protected {
                if !land(ctl, st, &mut attempts, tail, oldest) {
                    return Ok(None);
                }
                continue;
            }
            // pos < tail: the frame was committed before `tail` moved past it; our load of its
            // marker raced with the commit. Look again (a bounded number of times: only lying
            // memory keeps it uncommitted).
            stale += 1;
            if stale < stale_limit {
                spin_hint();
                continue;
            }
            return Err(format!(
                "the frame at position {} below the tail {tail} was never committed",
                st.pos
            ));
        }
        let (len, kind, seq, time) = read_header(mem, off as usize);
        let extent = frame_extent(len, kind, off, ring, max_frame as u64);
        if extent.is_some() && kind == KIND_DATA {
            consume(off as usize + payload_offset(len as usize), len as usize);
        }
        if !protected && !intact(ctl, st.pos) {
            // Overwritten while we read: start again where a whole frame can be read — unless
            // the positions are nonsense (then look again, and in the end call them corrupt).
            let tail = ctl.pos.tail.load(Ordering::Acquire);
            let oldest = ctl.reclaim.oldest.load(Ordering::Acquire);
            if !(oldest <= tail && tail - oldest <= ring && tail <= POS_MAX) {
                stale += 1;
                if stale < stale_limit {
                    spin_hint();
                    continue;
                }
                return Err(format!(
                    "positions out of order (subscriber {}, oldest {oldest}, tail {tail}, ring \
                     {ring})",
                    st.pos
                ));
            }
            if !land(ctl, st, &mut attempts, tail, oldest) {
                return Ok(None);
            }
            continue;
        }
        let Some(size) = extent else {
            return Err(format!(
                "a frame at position {} with kind {kind}, length {len} (maximum {max_frame}) \
                 in a ring of {ring}",
                st.pos
            ));
        };
        let pos = st.pos;
        st.pos += size;
        if kind == KIND_PAD {
            continue;
        }
        let lost = seq.saturating_sub(st.next_seq);
        st.next_seq = seq.saturating_add(1);
        return Ok(Some(Got {
            r: Received {
                seq,
                len: len as usize,
                lost,
                time_ns: time,
            },
            off: off as usize + payload_offset(len as usize),
            pos,
        }));
    }
}

/// Whether the frame at `pos` is still intact: the publisher has not marked it gone. Call after
/// reading it; the Acquire fence keeps the reads before the check.
pub(crate) fn intact(ctl: &StreamCtl, pos: u64) -> bool {
    // SYNC: keeps the reads before this check; pairs with the publisher's Release (Overwrite) or
    // SeqCst (Block) fence after it moves `oldest` (step 3).
    fence(Ordering::Acquire);
    ctl.reclaim.oldest.load(Ordering::Relaxed) <= pos
}

/// Moves a lapped subscriber to where it can read a whole frame: the newest frame on the first
/// attempt, the tail after that. `false` once it has tried enough (its position is then the
/// tail: the caller reports "nothing now").
fn land(ctl: &StreamCtl, st: &mut SubState, attempts: &mut u32, tail: u64, oldest: u64) -> bool {
    *attempts += 1;
    if *attempts > MAX_ATTEMPTS {
        st.pos = tail;
        return false;
    }
    let newest = ctl.pos.newest.load(Ordering::Acquire);
    st.pos = match newest.checked_sub(1) {
        Some(n) if *attempts == 1 && n >= oldest && n < tail && n > st.pos => n,
        _ => tail,
    };
    true
}

/// The sequence number of the frame at `pos` (where a subscriber joins or seeks), or the
/// stream's next one if there is no frame there or the bytes do not hold up (overwritten
/// meanwhile, or scribbled on).
pub(crate) fn seq_at(ctl: &StreamCtl, mem: &impl RingMem, pos: u64) -> u64 {
    let ring = mem.len() as u64;
    let next = ctl.pos.next_seq.load(Ordering::Relaxed);
    let off = (pos & (ring - 1)) as usize;
    if pos % FRAME_ALIGN as u64 != 0 || mem.commit_load(off) != marker(pos) {
        return next;
    }
    let (_, kind, seq, _) = read_header(mem, off);
    if !intact(ctl, pos) {
        return next;
    }
    match kind {
        KIND_DATA if seq < next => seq,
        _ => next,
    }
}

/// `Block`: makes `cursor` (a slot this subscriber owns) a position the publisher will not
/// reclaim under us, starting at the tail (`Newest`) or the oldest frame (`Oldest`); returns it.
/// The subscriber's half of the Dekker pair with `reserve` (see the module docs).
pub(crate) fn join_position(ctl: &StreamCtl, cursor: &AtomicU64, from: JoinAt) -> u64 {
    // SYNC: Acquire pairs with the Release stores of `tail` (commit) and `oldest` (take).
    let mut pos = match from {
        JoinAt::Newest => ctl.pos.tail.load(Ordering::Acquire),
        JoinAt::Oldest => ctl.reclaim.oldest.load(Ordering::Acquire),
    };
    loop {
        cursor.store(pos, Ordering::Relaxed);
        // SYNC: the Dekker fence: our cursor store before our load of `oldest`, against the
        // publisher's store of `oldest` before its re-scan of the cursors.
        fence(Ordering::SeqCst);
        let oldest = ctl.reclaim.oldest.load(Ordering::Relaxed);
        if oldest <= pos {
            return pos;
        }
        pos = match from {
            JoinAt::Newest => ctl.pos.tail.load(Ordering::Acquire).max(oldest),
            JoinAt::Oldest => oldest,
        };
    }
}

// ---- the public handles --------------------------------------------------------------------

#[cfg(not(loom))]
pub use handle::*;

#[cfg(not(loom))]
mod handle {
    use super::*;
    use crate::error::{Error, ErrorKind, Op, Result};
    use crate::format::Format;
    use crate::layout::{HEADER_LEN, Kind, now_ns};
    use crate::liveness::Verdict;
    use crate::name::{IntoName, NativeName, SegmentName};
    use crate::notify::Waited;
    use crate::segment::{Access, Lifetime, Segment, SegmentOptions, Spec, open_or_create_with};
    use crate::shared::SharedBytes;
    use bytemuck::Pod;

    /// The most subscribers a stream may have (each takes 64 bytes of control block).
    pub const MAX_SUBSCRIBERS: u32 = 1024;
    /// Subscriber slots unless set otherwise.
    pub const DEFAULT_SUBSCRIBERS: u32 = 32;
    /// How often a waiting publisher (or subscriber) looks whether the process it waits for
    /// still lives.
    const LIVENESS_SLICE: Duration = Duration::from_millis(100);
    /// How many spins between two looks at the tail while a subscriber spins on a header.
    const SPINS_PER_TAIL_CHECK: u32 = 64;

    /// The mapped ring.
    struct Mapped {
        base: *mut u8,
        len: usize,
    }

    impl Mapped {
        /// The `n` 8-byte words at `off` of the ring, as atomics.
        fn words(&self, off: usize, n: usize) -> &[AtomicU64] {
            assert!(
                off % 8 == 0
                    && n.checked_mul(8)
                        .and_then(|b| b.checked_add(off))
                        .is_some_and(|e| e <= self.len),
                "{n} words at {off} of a {}-byte ring",
                self.len
            );
            // SAFETY: inside the ring (asserted), 8-aligned (the ring is page-aligned, `off` a
            // multiple of 8); an `AtomicU64` is valid for any bits and for concurrent access
            // from other processes, and the slice cannot outlive the mapping (`&self`).
            unsafe { std::slice::from_raw_parts(self.base.add(off).cast::<AtomicU64>(), n) }
        }

        fn commit_word(&self, off: usize) -> &AtomicU64 {
            assert!(
                off % FRAME_ALIGN == 0 && off + FRAME_HDR <= self.len,
                "a header at {off} of a {}-byte ring",
                self.len
            );
            // SAFETY: inside the ring (asserted), 8-aligned (the ring is page-aligned and `off`
            // a multiple of 64); an `AtomicU64` is valid for any bits and for concurrent access
            // from other processes.
            unsafe { &*self.base.add(off + COMMIT_OFF).cast::<AtomicU64>() }
        }
    }

    impl RingMem for Mapped {
        fn len(&self) -> usize {
            self.len
        }

        fn write(&self, off: usize, src: &[u8]) {
            assert!(off.checked_add(src.len()).is_some_and(|e| e <= self.len));
            // SAFETY: inside the ring (asserted), which lies in our writable data region; the
            // source is private memory. Only the publisher writes the ring (it holds the lock);
            // subscribers only copy these bytes and discard the copy if the protocol says we
            // overwrote them. `copy_in` (as `Segment::write`): each byte written once, and its
            // large-copy loop keeps the bytes in the cache the subscriber reads them from,
            // where the C library's `memcpy` streams copies of a megabyte or more past it
            // (measured: the one-copy stream at 0.90x the plain ring with it).
            unsafe { crate::shared::copy_in(self.base.add(off), src) }
        }

        fn read(&self, off: usize, dst: &mut [u8]) {
            assert!(off.checked_add(dst.len()).is_some_and(|e| e <= self.len));
            // SAFETY: inside the ring (asserted), inside our mapping; `dst` is private.
            // `copy_out` reads each byte once, so a concurrent publisher only changes which
            // bytes we copy; the protocol's re-check discards such copies.
            unsafe { crate::shared::copy_out(self.base.add(off), dst) }
        }

        fn commit_load(&self, off: usize) -> u64 {
            self.commit_word(off).load(Ordering::Acquire)
        }

        fn commit_store(&self, off: usize, value: u64, release: bool) {
            let order = if release {
                Ordering::Release
            } else {
                Ordering::Relaxed
            };
            self.commit_word(off).store(value, order);
        }

        fn store_words(&self, off: usize, words: &[u64]) {
            for (i, &w) in self.words(off, words.len()).iter().zip(words) {
                i.store(w.to_le(), Ordering::Relaxed);
            }
        }

        fn load_words(&self, off: usize, words: &mut [u64]) {
            let shared = self.words(off, words.len());
            for (w, i) in words.iter_mut().zip(shared) {
                *w = u64::from_le(i.load(Ordering::Relaxed));
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
        format: Option<Format>,
        max_frame: Option<usize>,
        ring: Option<usize>,
        policy: Option<Policy>,
        subscribers: Option<u32>,
        from: JoinAt,
        spin: Duration,
        hold: bool,
        precise_time: bool,
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
                format: None,
                max_frame: None,
                ring: None,
                policy: None,
                subscribers: None,
                from: JoinAt::Newest,
                spin: Duration::ZERO,
                hold: true,
                precise_time: false,
            }
        }

        /// The largest frame, in bytes (default 64 KiB; the size of one frame of the
        /// [`format`](Self::format) if that is a raw image).
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
            self.policy = Some(policy);
            self
        }

        /// Subscriber slots (default 32, at most [`MAX_SUBSCRIBERS`]); a `Block` stream needs
        /// one per subscriber, an `Overwrite` stream uses them for statistics.
        pub fn subscribers(mut self, n: u32) -> StreamOptions {
            self.subscribers = Some(n);
            self
        }

        /// Where a new subscriber starts (default [`JoinAt::Newest`]).
        pub fn from(mut self, from: JoinAt) -> StreamOptions {
            self.from = from;
            self
        }

        /// Whether a subscriber of a [`Policy::Block`] stream holds the publisher back (default
        /// `true`). One that does not — a viewer, a monitor, a tool that must never slow the
        /// publisher down — takes no subscriber slot and reads like a subscriber of an
        /// `Overwrite` stream: it may lose frames (and is told how many), its views are
        /// [`SharedBytes`] checked with [`FrameView::is_intact`], and it does not appear in the
        /// stream's statistics. It needs no write access. No effect on `Overwrite` streams,
        /// whose subscribers never hold the publisher back.
        pub fn hold(mut self, hold: bool) -> StreamOptions {
            self.hold = hold;
            self
        }

        /// Whether the publisher stamps each frame with the precise wall clock (default `false`:
        /// the coarse one). [`Received::time_ns`] then says when the frame was published to the
        /// nanosecond, rather than to the last timer tick (1–4 ms on Linux, about 16 ms on
        /// Windows). The precise clock costs a clock read per frame — 20–35 ns on a virtual
        /// machine, a fifth of a spinning hand-off — the coarse one 2 ns.
        /// [`Publisher::send_at`] and [`Loan::commit_at`] stamp frames with a time of your own
        /// (a capture time, say) instead.
        pub fn precise_time(mut self, precise: bool) -> StreamOptions {
            self.precise_time = precise;
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

        /// What the frames are (default: not said), recorded in the header for tools: a raw
        /// image format (every frame one picture; it also sets the default maximum frame) or a
        /// media type. See [`Format`].
        pub fn format(mut self, format: Format) -> StreamOptions {
            self.format = Some(format);
            self
        }

        /// The maximum frame, ring and subscriber count a create would use, validated.
        fn geometry(&self, name: &SegmentName) -> Result<(usize, usize, u32)> {
            let bad = |why: String| {
                Error::new(ErrorKind::InvalidSize, Op::Create, name.to_string()).reason(why)
            };
            let image = self.format.as_ref().and_then(Format::frame_len);
            let max_frame = self.max_frame.or(image).unwrap_or(64 << 10);
            if max_frame == 0 || max_frame > u32::MAX as usize - 2 * FRAME_HDR {
                return Err(bad(format!(
                    "a maximum frame of {max_frame} bytes; 1 byte to 4 GiB"
                )));
            }
            if let (Some(frame), Some(f)) = (image, &self.format) {
                if frame > max_frame {
                    return Err(bad(format!(
                        "a frame of {f} is {frame} bytes, more than the maximum frame of \
                         {max_frame}"
                    )));
                }
            }
            let subs = self.subscribers.unwrap_or(DEFAULT_SUBSCRIBERS);
            if !(1..=MAX_SUBSCRIBERS).contains(&subs) {
                return Err(bad(format!(
                    "{subs} subscriber slots; 1 to {MAX_SUBSCRIBERS}"
                )));
            }
            let min_ring = 2 * frame_size(max_frame) + 2 * FRAME_ALIGN;
            let ring = self
                .ring
                .unwrap_or((8 * frame_size(max_frame)).max(64 << 10))
                .checked_next_power_of_two()
                .filter(|&r| r <= isize::MAX as usize / 2)
                .ok_or_else(|| bad("a ring larger than this system can address".into()))?;
            if (max_frame as u64) > max_frame_for(ring as u64) {
                return Err(bad(format!(
                    "a ring of {ring} bytes cannot hold two frames of {max_frame} bytes; give \
                     it at least {min_ring}"
                )));
            }
            Ok((max_frame, ring, subs))
        }

        /// Creates the stream and returns its publisher.
        ///
        /// # Errors
        /// As for [`SegmentOptions::create`]; [`ErrorKind::InvalidSize`] for a zero maximum
        /// frame, a ring smaller than two maximum frames, a bad subscriber count, or a raw
        /// image format whose frames exceed the maximum frame.
        pub fn create(&self, name: impl IntoName) -> Result<Publisher> {
            let name = name.into_name().map_err(|e| e.during(Op::Create))?;
            let (max_frame, ring, subs) = self.geometry(&name)?;
            let spec = Spec::Shmkit {
                kind: Kind::Stream,
                control_extra: CTL_LEN + SLOT_LEN * subs as usize,
            };
            let policy = self.policy.unwrap_or_default();
            let mut seg_opts = self.seg.clone();
            if let Some(f) = &self.format {
                seg_opts = seg_opts.format(f.clone());
            }
            let seg = Segment::create_with(&name, &seg_opts, spec, ring, &mut |base| {
                // SAFETY: `base` is the fresh, zeroed, page-aligned mapping with room for the
                // header and the control block (`control_extra` above); nobody sees it yet.
                let ctl = unsafe { &*base.add(HEADER_LEN).cast::<StreamCtl>() };
                ctl.cfg.ring_len.store(ring as u64, Ordering::Relaxed);
                ctl.cfg.max_frame.store(max_frame as u64, Ordering::Relaxed);
                ctl.cfg.policy.store(policy.code(), Ordering::Relaxed);
                ctl.cfg.max_subscribers.store(subs, Ordering::Relaxed);
                ctl.pos.next_seq.store(1, Ordering::Relaxed);
            })?;
            Publisher::take(Stream::validate(seg)?, self, Duration::ZERO)
        }

        /// Becomes the publisher of an existing stream (waiting at most `wait` for the current
        /// one to go away; one that died is replaced at once).
        ///
        /// # Errors
        /// As for [`SegmentOptions::open`]; [`ErrorKind::Timeout`] if a live process publishes;
        /// [`ErrorKind::Corrupt`] if its positions are impossible.
        pub fn open_publisher(&self, name: impl IntoName, wait: Duration) -> Result<Publisher> {
            let name = name.into_name().map_err(|e| e.during(Op::Open))?;
            let opts = self.seg.clone().access(Access::ReadWrite);
            let seg = Segment::open_with(&name, &opts, Some(Kind::Stream))?;
            Publisher::take(Stream::validate(seg)?, self, wait)
        }

        /// Creates the stream, or becomes the publisher of the existing one — which must be
        /// able to carry what these options ask for: frames of at least
        /// [`max_frame`](Self::max_frame), a ring of at least [`ring`](Self::ring), the same
        /// [`policy`](Self::policy), at least as many [`subscribers`](Self::subscribers), the
        /// same [`format`](Self::format) (each compared only if set here).
        ///
        /// # Errors
        /// As for [`create`](Self::create) and [`open_publisher`](Self::open_publisher);
        /// [`ErrorKind::Incompatible`] naming what differs.
        pub fn create_or_open_publisher(
            &self,
            name: impl IntoName,
            wait: Duration,
        ) -> Result<Publisher> {
            let name = name.into_name()?;
            let p =
                open_or_create_with(|| self.open_publisher(&name, wait), || self.create(&name))?;
            self.check_fits(&p.s)?;
            Ok(p)
        }

        /// Whether an existing stream carries what these options ask for.
        fn check_fits(&self, s: &Stream) -> Result<()> {
            let mut diffs = Vec::new();
            if let Some(m) = self.max_frame.filter(|&m| m > s.max_frame) {
                diffs.push(format!("frames of up to {} bytes, not {m}", s.max_frame));
            }
            if let Some(r) = self.ring.filter(|&r| r.next_power_of_two() > s.ring) {
                diffs.push(format!("a ring of {} bytes, not {r}", s.ring));
            }
            if let Some(p) = self.policy.filter(|&p| p != s.policy) {
                diffs.push(format!("policy {}, not {p}", s.policy));
            }
            if let Some(n) = self.subscribers.filter(|&n| n > s.subs) {
                diffs.push(format!("{} subscriber slots, not {n}", s.subs));
            }
            if let Some(f) = self.format.as_ref().filter(|&f| s.seg.format() != Some(f)) {
                let has = s.seg.format().map_or("none".to_string(), |f| f.to_string());
                diffs.push(format!("format {has}, not {f}"));
            }
            if diffs.is_empty() {
                return Ok(());
            }
            Err(
                Error::new(ErrorKind::Incompatible, Op::Open, s.seg.name().to_string())
                    .reason(format!("the existing stream has {}", diffs.join(", ")))
                    .hint("use options it has, or remove it (`shmkit rm NAME`) and create it anew"),
            )
        }

        /// Subscribes to an existing stream.
        ///
        /// # Errors
        /// As for [`SegmentOptions::open`]; [`ErrorKind::OutOfResources`] if a `Block` stream
        /// has no free subscriber slot; [`ErrorKind::PermissionDenied`] if a `Block` stream
        /// cannot be joined because this process may not write its control block.
        pub fn subscribe(&self, name: impl IntoName) -> Result<Subscriber> {
            let name = name.into_name().map_err(|e| e.during(Op::Open))?;
            let opts = self.seg.clone().access(Access::ReadOnly);
            let seg = Segment::open_with(&name, &opts, Some(Kind::Stream))?;
            Subscriber::join(Stream::validate(seg)?, self.from, self.spin, self.hold)
        }
    }

    /// The validated geometry of an open stream.
    struct Stream {
        /// Shared, so that the mapping can outlive the handle ([`Subscriber::shared_segment`]).
        seg: std::sync::Arc<Segment>,
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
            if seg.control_len() < CTL_LEN {
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
            if !ring.is_power_of_two() || ring < 4 * FRAME_ALIGN as u64 || ring > seg.len() as u64 {
                return Err(corrupt(format!(
                    "a ring of {ring} bytes in {} data bytes",
                    seg.len()
                )));
            }
            // Checked before any arithmetic on it: a huge value must not wrap into a small one.
            if max_frame == 0 || max_frame > max_frame_for(ring) {
                return Err(corrupt(format!(
                    "frames of up to {max_frame} bytes in a ring of {ring}"
                )));
            }
            if subs == 0
                || subs > MAX_SUBSCRIBERS
                || seg.control_len() < CTL_LEN + SLOT_LEN * subs as usize
            {
                return Err(corrupt(format!("{subs} subscriber slots")));
            }
            Ok(Stream {
                seg: std::sync::Arc::new(seg),
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
            // 64-aligned (StreamCtl is 256 bytes from a 64-aligned start); all atomics.
            unsafe {
                std::slice::from_raw_parts(
                    self.seg.control_ptr().add(CTL_LEN).cast::<SubSlot>(),
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

        /// Claims a free slot (or one whose holder died) for this handle, its cursor set to
        /// `pos` first; `None` if all are taken (or this handle cannot write the table).
        fn claim_slot(&self, pos: u64) -> Option<usize> {
            if !self.seg.control_writable() {
                return None;
            }
            let me = self.seg.identity(Op::Open).ok()?.word();
            self.slots().iter().position(|sl| {
                let cur = sl.owner.load(Ordering::Relaxed);
                let free = cur == 0 || self.seg.verdict(cur) == Verdict::Dead;
                // SYNC: AcqRel: we acquire whatever the previous owner released. Until the
                // cursor store below (or `join_position`'s handshake), a publisher may see the
                // previous owner's cursor: we read nothing before the handshake, so that is
                // harmless.
                let won = free
                    && sl
                        .owner
                        .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok();
                if won {
                    sl.cursor.store(pos, Ordering::Release);
                }
                won
            })
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
        precise_time: bool,
        /// The position of a loan handed out with [`Loan::detach`], until it is committed or
        /// abandoned.
        detached: Option<u64>,
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

        fn take(s: Stream, opts: &StreamOptions, wait: Duration) -> Result<Publisher> {
            if s.seg.lock_raw(Some(Instant::now() + wait))?.is_none() {
                let why = match s.seg.lock_owner() {
                    Some(pid) => format!("process {pid} publishes to it (one publisher at a time)"),
                    None => format!(
                        "it has a publisher (one at a time): {}",
                        s.seg.lock_busy_reason(wait)
                    ),
                };
                return Err(s.error(ErrorKind::Timeout, Op::Open, why));
            }
            match PubState::take(s.ctl(), &s.mem(), s.max_frame as u64) {
                Ok(st) => Ok(Publisher {
                    s,
                    st,
                    spin: opts.spin,
                    precise_time: opts.precise_time,
                    detached: None,
                }),
                Err(why) => {
                    s.seg.unlock_raw();
                    Err(s
                        .error(
                            ErrorKind::Corrupt,
                            Op::Open,
                            format!("its stream control block is corrupt: {why}"),
                        )
                        .hint("remove it (`shmkit rm NAME`) and create it anew"))
                }
            }
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

        /// What the frames are, as the stream's creator said.
        pub fn format(&self) -> Option<&Format> {
            self.s.seg.format()
        }

        /// The sequence number the next frame will get.
        pub fn next_seq(&self) -> u64 {
            self.st.next_seq
        }

        /// The segment underneath.
        pub fn segment(&self) -> &Segment {
            &self.s.seg
        }

        /// Live subscribers that hold a slot (every subscriber of a `Block` stream; those of an
        /// `Overwrite` stream that keep statistics).
        pub fn subscribers(&self) -> usize {
            self.s
                .slots()
                .iter()
                .map(|s| s.owner.load(Ordering::Relaxed))
                .filter(|&o| o != 0 && self.s.seg.verdict(o) != Verdict::Dead)
                .count()
        }

        /// Counts `n` frames as published but lost: the next frame's sequence number is `n`
        /// higher, so every subscriber's [`Received::lost`] (and [`Subscriber::lost`]) counts
        /// them when it receives that frame. For a publisher that forwards frames from elsewhere
        /// (a network bridge) and knows that some never arrived; the statistics of `shmkit info`
        /// show them as sequence numbers without frames. Subscribers that join meanwhile do not
        /// count them.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidInput`] if it would number frames beyond what a stream can reach
        /// (2⁶²), or while a detached loan is outstanding (it already has its number's place).
        pub fn skip(&mut self, n: u64) -> Result<()> {
            if self.detached.is_some() {
                return Err(self.s.error(
                    ErrorKind::InvalidInput,
                    Op::Publish,
                    "a detached loan is outstanding: commit or abandon it first".into(),
                ));
            }
            let next = self
                .st
                .next_seq
                .checked_add(n)
                .filter(|&next| next < POS_MAX)
                .ok_or_else(|| {
                    self.s.error(
                        ErrorKind::InvalidInput,
                        Op::Publish,
                        format!("skipping {n} frames numbers them beyond 2^62"),
                    )
                })?;
            self.st.next_seq = next;
            // Relaxed, as in `commit`: the Release store of the next frame's marker and `tail`
            // publishes it with that frame; readers of statistics take it as a snapshot.
            self.s.ctl().pos.next_seq.store(next, Ordering::Relaxed);
            Ok(())
        }

        /// Copies `frame` in and publishes it; returns its sequence number. With
        /// [`Policy::Block`], waits as long as a live subscriber holds the space it needs.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidSize`] if the frame is larger than the maximum.
        pub fn send(&mut self, frame: &[u8]) -> Result<u64> {
            // A small frame that goes at the tail with nothing else to do: the spinning
            // hand-off's path (see `send_small`).
            if frame.len() <= SMALL.min(self.s.max_frame) && self.detached.is_none() {
                // The clock first, even though a frame that does not fit reads it again on the
                // general path: read between the check and the stores, it measured 70 ns slower
                // a round trip when the two vCPUs sit far apart (610-620 ns against 545-560).
                let time = self.now();
                let block = self.s.policy == Policy::Block;
                let mem = self.s.mem();
                if let Some(seq) = send_small(self.s.ctl(), &mem, &mut self.st, frame, time, block)
                {
                    self.s.change().signal(self.s.seg.wake_always());
                    return Ok(seq);
                }
            }
            self.send_until(frame, None, None)
                .map(|s| s.expect("no deadline"))
        }

        /// A frame's time by our clock (see [`StreamOptions::precise_time`]).
        fn now(&self) -> u64 {
            if self.precise_time {
                now_ns()
            } else {
                crate::sys::coarse_now_ns()
            }
        }

        /// As [`send`](Self::send), with `time_ns` (nanoseconds since the Unix epoch) as the
        /// frame's time instead of the publisher's clock: a capture time, or the time a frame
        /// was first published elsewhere (a bridge).
        ///
        /// # Errors
        /// As for [`send`](Self::send).
        pub fn send_at(&mut self, frame: &[u8], time_ns: u64) -> Result<u64> {
            self.send_until(frame, None, Some(time_ns))
                .map(|s| s.expect("no deadline"))
        }

        /// As [`send`](Self::send), but with [`Policy::Block`] gives up after `timeout`
        /// (`Err` with [`ErrorKind::Timeout`]).
        ///
        /// # Errors
        /// As for [`send`](Self::send), and [`ErrorKind::Timeout`].
        pub fn send_timeout(&mut self, frame: &[u8], timeout: Duration) -> Result<u64> {
            match self.send_until(frame, Some(Instant::now() + timeout), None)? {
                Some(seq) => Ok(seq),
                None => Err(self.full(timeout)),
            }
        }

        /// Publishes `frame` if there is room now; `Ok(None)` if a `Block` stream is full.
        ///
        /// # Errors
        /// As for [`send`](Self::send).
        pub fn try_send(&mut self, frame: &[u8]) -> Result<Option<u64>> {
            self.send_until(frame, Some(Instant::now()), None)
        }

        fn full(&self, timeout: Duration) -> Error {
            self.s.error(
                ErrorKind::Timeout,
                Op::Publish,
                format!("a subscriber held the ring full for {timeout:?} (policy block)"),
            )
        }

        fn send_until(
            &mut self,
            frame: &[u8],
            deadline: Option<Instant>,
            time: Option<u64>,
        ) -> Result<Option<u64>> {
            let Some(pos) = self.reserve(frame.len(), deadline)? else {
                return Ok(None);
            };
            let mem = self.s.mem();
            let off = (pos & (self.s.ring as u64 - 1)) as usize + payload_offset(frame.len());
            mem.write(off, frame);
            Ok(Some(self.commit(pos, frame.len(), frame.len(), time)))
        }

        /// Lends `len` bytes of the ring for the next frame, to fill in place: no copy at all,
        /// whatever the size. [`Loan::commit`] publishes it ([`Loan::commit_len`] a shorter
        /// prefix of it); dropping the loan abandons it. With [`Policy::Block`], waits for
        /// room as [`send`](Self::send) does.
        ///
        /// # Errors
        /// As for [`send`](Self::send).
        pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
            let pos = self.reserve(len, None)?.expect("no deadline");
            Ok(Loan { p: self, pos, len })
        }

        /// Lends ring space if there is room now; `Ok(None)` if a `Block` stream is full.
        ///
        /// # Errors
        /// As for [`loan`](Self::loan).
        pub fn try_loan(&mut self, len: usize) -> Result<Option<Loan<'_>>> {
            match self.reserve(len, Some(Instant::now()))? {
                Some(pos) => Ok(Some(Loan { p: self, pos, len })),
                None => Ok(None),
            }
        }

        /// Lends ring space, waiting at most `timeout` for room (`Block`).
        ///
        /// # Errors
        /// As for [`loan`](Self::loan), and [`ErrorKind::Timeout`].
        pub fn loan_timeout(&mut self, len: usize, timeout: Duration) -> Result<Loan<'_>> {
            match self.reserve(len, Some(Instant::now() + timeout))? {
                Some(pos) => Ok(Loan { p: self, pos, len }),
                None => Err(self.full(timeout)),
            }
        }

        /// Publishes a loan handed out by [`Loan::detach`], with its first `len` bytes as the
        /// frame; returns its sequence number.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidInput`] for a loan that is not this publisher's outstanding one,
        /// [`ErrorKind::InvalidSize`] if `len` is longer than the loan.
        pub fn commit_detached(&mut self, loan: DetachedLoan, len: usize) -> Result<u64> {
            if self.detached != Some(loan.pos) {
                return Err(self.s.error(
                    ErrorKind::InvalidInput,
                    Op::Publish,
                    "that loan is not this publisher's outstanding one (committed already?)".into(),
                ));
            }
            if len > loan.len {
                return Err(self.s.error(
                    ErrorKind::InvalidSize,
                    Op::Publish,
                    format!("{len} bytes from a loan of {}", loan.len),
                ));
            }
            self.detached = None;
            Ok(self.commit(loan.pos, loan.len, len, None))
        }

        /// Abandons a loan handed out by [`Loan::detach`]: nothing is published.
        pub fn abandon_detached(&mut self, loan: DetachedLoan) {
            if self.detached == Some(loan.pos) {
                self.detached = None;
            }
        }

        #[inline(always)]
        fn reserve(&mut self, len: usize, deadline: Option<Instant>) -> Result<Option<u64>> {
            if self.detached.is_some() {
                return Err(self.s.error(
                    ErrorKind::InvalidInput,
                    Op::Publish,
                    "a detached loan is outstanding: commit or abandon it first".into(),
                ));
            }
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
            Ok(reserve(
                s.ctl(),
                &mem,
                &mut self.st,
                len,
                block,
                |floor, _| {
                    if block {
                        wait_for_space(s, floor, deadline, spin)
                    } else {
                        Some(u64::MAX)
                    }
                },
            ))
        }

        /// Publishes the reserved frame at `pos` of `len` bytes, stamped `time` or by our clock.
        /// Its payload was placed for a frame of `placed >= len` bytes (a loan): a frame that
        /// turned out short enough to share the header's line moves there (at most 32 bytes).
        #[inline(always)]
        fn commit(&mut self, pos: u64, placed: usize, len: usize, time: Option<u64>) -> u64 {
            let (from, to) = (payload_offset(placed), payload_offset(len));
            let mem = self.s.mem();
            if from != to {
                let base = (pos & (self.s.ring as u64 - 1)) as usize;
                let mut small = [0u8; FRAME_ALIGN - FRAME_HDR];
                mem.read(base + from, &mut small[..len]);
                mem.write(base + to, &small[..len]);
            }
            let time = time.unwrap_or_else(|| self.now());
            let seq = commit(self.s.ctl(), &mem, &mut self.st, pos, len, time);
            self.s.change().signal(self.s.seg.wake_always());
            seq
        }
    }

    /// Waits until every live subscriber's cursor is at or past `floor`, and returns the lowest
    /// (`u64::MAX` for none); `None` if the deadline passed first. Subscribers whose process
    /// died are dropped from the table.
    fn wait_for_space(
        s: &Stream,
        floor: u64,
        deadline: Option<Instant>,
        spin: Duration,
    ) -> Option<u64> {
        let space = &s.ctl().space;
        let mut spin = spin;
        loop {
            let key = space.key();
            let mut low = u64::MAX;
            let mut blocked_by = None;
            for slot in s.slots() {
                let owner = slot.owner.load(Ordering::Acquire);
                if owner == 0 {
                    continue;
                }
                // SYNC: Acquire pairs with the subscriber's Release store of its cursor, after
                // which it no longer reads the bytes below it.
                let cursor = slot.cursor.load(Ordering::Acquire);
                if cursor < floor {
                    blocked_by = Some((slot, owner));
                    break;
                }
                low = low.min(cursor);
            }
            let Some((slot, owner)) = blocked_by else {
                return Some(low);
            };
            let slice = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(LIVENESS_SLICE),
                    _ => return None,
                },
                None => LIVENESS_SLICE,
            };
            let until = Instant::now() + slice;
            if space.wait(key, Some(until), spin, s.seg.control_writable()) == Waited::TimedOut
                && s.seg.verdict(owner) == Verdict::Dead
            {
                // The subscriber we wait for died: free its slot (the CAS fails harmlessly if
                // it left or was replaced meanwhile).
                let _ = slot
                    .owner
                    .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
            spin = Duration::ZERO;
        }
    }

    impl Drop for Publisher {
        fn drop(&mut self) {
            self.s.seg.unlock_raw();
        }
    }

    /// Ring space lent by [`Publisher::loan`]: write the frame into it, then
    /// [`commit`](Loan::commit). Dropping it without committing abandons the frame.
    ///
    /// It dereferences to `&mut [u8]`: no other process writes these bytes while the loan lives
    /// (the publisher holds the stream's lock, and `reserve` marked whatever lay there gone, or
    /// with [`Policy::Block`] waited until no subscriber reads it). Subscribers in other
    /// processes may still be copying a frame that lay here (they discard the copy), which
    /// cannot change what the publisher sees.
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
        fn ptr(&self) -> *mut u8 {
            let off = (self.pos & (self.p.s.ring as u64 - 1)) as usize + payload_offset(self.len);
            // SAFETY: the reserved frame lies inside the ring (reserve checked it against the
            // maximum frame, which fits the ring).
            unsafe { self.p.s.seg.as_ptr().cast_mut().add(off) }
        }

        /// Publishes the frame; returns its sequence number.
        pub fn commit(self) -> u64 {
            let (pos, len) = (self.pos, self.len);
            self.p.commit(pos, len, len, None)
        }

        /// Publishes the frame with `time_ns` (nanoseconds since the Unix epoch) as its time
        /// (see [`Publisher::send_at`]); returns its sequence number.
        pub fn commit_at(self, time_ns: u64) -> u64 {
            let (pos, len) = (self.pos, self.len);
            self.p.commit(pos, len, len, Some(time_ns))
        }

        /// Publishes the first `len` bytes as the frame (for frames whose size is known only
        /// after they are written, such as encoded images); returns its sequence number.
        ///
        /// # Errors
        /// [`ErrorKind::InvalidSize`] if `len` is longer than the loan (nothing is published).
        pub fn commit_len(self, len: usize) -> Result<u64> {
            if len > self.len {
                return Err(self.p.s.error(
                    ErrorKind::InvalidSize,
                    Op::Publish,
                    format!("{len} bytes from a loan of {}", self.len),
                ));
            }
            let (pos, placed) = (self.pos, self.len);
            Ok(self.p.commit(pos, placed, len, None))
        }

        /// Ends the borrow of the publisher but keeps the loan, for code that cannot hold a
        /// borrow (language bindings): fill it through [`DetachedLoan::as_mut_ptr`], then
        /// [`Publisher::commit_detached`] or [`Publisher::abandon_detached`]. The publisher
        /// refuses to reserve anything else meanwhile.
        pub fn detach(self) -> DetachedLoan {
            let d = DetachedLoan {
                ptr: self.ptr(),
                len: self.len,
                pos: self.pos,
            };
            self.p.detached = Some(self.pos);
            d
        }
    }

    impl std::ops::Deref for Loan<'_> {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            // SAFETY: `len` bytes of the ring at `ptr` (see `ptr`); no other process writes
            // them while the loan lives (the type's docs give the protocol steps).
            unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
        }
    }

    impl std::ops::DerefMut for Loan<'_> {
        fn deref_mut(&mut self) -> &mut [u8] {
            // SAFETY: as for `deref`; the publisher's mapping is writable (it opened read-write)
            // and the loan borrows the publisher mutably, so there is one view at a time.
            unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
        }
    }

    /// A loan that no longer borrows its publisher (see [`Loan::detach`]). Its memory stays
    /// valid while the publisher lives.
    #[derive(Debug)]
    pub struct DetachedLoan {
        ptr: *mut u8,
        len: usize,
        pos: u64,
    }

    // SAFETY: only an address and a length; the memory is the ring, shared with other
    // processes anyway.
    unsafe impl Send for DetachedLoan {}

    impl DetachedLoan {
        /// Where to write the frame.
        pub fn as_mut_ptr(&self) -> *mut u8 {
            self.ptr
        }

        /// How many bytes were lent.
        pub fn len(&self) -> usize {
            self.len
        }

        /// Whether the loan is empty.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }
    }

    /// A subscriber: reads every frame from where it joined, at its own pace.
    ///
    /// With [`Policy::Overwrite`], a subscriber slower than the publisher by more than the ring
    /// loses frames, and [`Received::lost`] says exactly how many. With [`Policy::Block`], the
    /// publisher waits for it instead (it holds a slot in the stream's table until dropped, or
    /// until its process dies).
    ///
    /// Receive by copy ([`recv_timeout`](Self::recv_timeout), [`try_recv`](Self::try_recv)),
    /// in place ([`recv_view`](Self::recv_view): zero-copy on every stream), or through a
    /// closure ([`recv_with`](Self::recv_with)).
    pub struct Subscriber {
        s: Stream,
        st: SubState,
        slot: Option<usize>,
        spin: Duration,
        lost: u64,
        received: u64,
        /// `Block`: the position of a frame still in use (a view not yet released), which the
        /// cursor must not pass.
        held: Option<u64>,
        /// Where frames of `Overwrite` streams are copied before `recv_with` shows them.
        scratch: Vec<u8>,
        /// Whether our slot does not show the last frame received yet (see `note_received`).
        slot_behind: bool,
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

        fn join(s: Stream, from: JoinAt, spin: Duration, hold: bool) -> Result<Subscriber> {
            let ctl = s.ctl();
            if s.policy == Policy::Block && !hold {
                // Not holding the publisher back: no slot, no cursor; frames are checked against
                // `oldest` after reading, as in an Overwrite stream (the publisher advances it
                // before overwriting under both policies: protocol step 3).
                let pos = match from {
                    JoinAt::Newest => ctl.pos.tail.load(Ordering::Acquire),
                    JoinAt::Oldest => ctl.reclaim.oldest.load(Ordering::Acquire),
                };
                let next_seq = seq_at(ctl, &s.mem(), pos);
                return Ok(Subscriber {
                    s,
                    st: SubState { pos, next_seq },
                    slot: None,
                    spin,
                    lost: 0,
                    received: 0,
                    held: None,
                    scratch: Vec::new(),
                    slot_behind: false,
                });
            }
            let block = s.policy == Policy::Block;
            if block && !s.seg.control_writable() {
                return Err(s.error(
                    ErrorKind::PermissionDenied,
                    Op::Open,
                    "a block stream's subscribers must write their cursor into it".into(),
                ));
            }
            // A cursor at 0 holds the publisher back from everything until the handshake
            // below sets the real one.
            let slot = s.claim_slot(0);
            if block && slot.is_none() {
                return Err(s.error(
                    ErrorKind::OutOfResources,
                    Op::Open,
                    format!("all {} subscriber slots are taken", s.subs),
                ));
            }
            let pos = match (block, slot) {
                (true, Some(i)) => join_position(ctl, &s.slots()[i].cursor, from),
                _ => match from {
                    JoinAt::Newest => ctl.pos.tail.load(Ordering::Acquire),
                    JoinAt::Oldest => ctl.reclaim.oldest.load(Ordering::Acquire),
                },
            };
            let next_seq = seq_at(ctl, &s.mem(), pos);
            let mut sub = Subscriber {
                s,
                st: SubState { pos, next_seq },
                slot,
                spin,
                lost: 0,
                received: 0,
                held: None,
                scratch: Vec::new(),
                slot_behind: false,
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

        /// The ring's size in bytes (as [`Publisher::ring_len`]: what a copy of the stream
        /// elsewhere needs to hold as many frames in flight).
        pub fn ring_len(&self) -> usize {
            self.s.ring
        }

        /// What the frames are, as the stream's creator said.
        pub fn format(&self) -> Option<&Format> {
            self.s.seg.format()
        }

        /// The segment underneath.
        pub fn segment(&self) -> &Segment {
            &self.s.seg
        }

        /// The segment underneath, shared: its memory stays mapped as long as a clone lives, also
        /// after this subscriber is dropped (which frees its slot at once: a `Block` publisher
        /// no longer waits for it). For bindings whose frames ([`FrameView::detach`]) may outlive
        /// their subscriber: the bytes stay readable (as [`SharedBytes`]), no longer protected
        /// nor checked — the publisher may overwrite them.
        ///
        /// ```
        /// use shmkit::SharedBytes;
        /// use shmkit::stream::{Policy, StreamOptions};
        /// use std::time::Duration;
        ///
        /// # let name = format!("doc-sharedseg-{}", std::process::id());
        /// let mut publisher = StreamOptions::new().policy(Policy::Block).create(&name)?;
        /// let mut subscriber = StreamOptions::new().subscribe(&name)?;
        /// publisher.send(b"kept")?;
        /// let frame = subscriber.recv_view(Duration::from_secs(1))?.detach();
        /// let mapping = subscriber.shared_segment();
        /// drop(subscriber); // leaves the stream: the publisher waits for nobody now
        /// assert_eq!(publisher.subscribers(), 0);
        /// // SAFETY: `mapping` keeps the frame's bytes mapped.
        /// let bytes = unsafe { SharedBytes::from_raw_parts(frame.as_ptr(), frame.len()) };
        /// assert_eq!(bytes.len(), 4);
        /// # drop(mapping);
        /// # Ok::<(), shmkit::Error>(())
        /// ```
        pub fn shared_segment(&self) -> std::sync::Arc<Segment> {
            self.s.seg.clone()
        }

        /// Frames lost so far (overwritten before this subscriber read them).
        pub fn lost(&self) -> u64 {
            self.lost
        }

        /// How many frames were published that this subscriber has not received yet (a
        /// snapshot; more may come at once).
        pub fn lag(&self) -> u64 {
            self.s
                .ctl()
                .pos
                .next_seq
                .load(Ordering::Relaxed)
                .saturating_sub(self.st.next_seq)
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

        /// Skips to the newest frame: the next receive returns it (or, if there is none yet,
        /// the next one published). For viewers, which show the newest picture rather than a
        /// backlog. Skipped frames do not count as lost; returns how many were skipped.
        pub fn seek_newest(&mut self) -> u64 {
            self.release_held();
            let ctl = self.s.ctl();
            let tail = ctl.pos.tail.load(Ordering::Acquire);
            let oldest = ctl.reclaim.oldest.load(Ordering::Acquire);
            let newest = ctl.pos.newest.load(Ordering::Acquire);
            let target = match newest.checked_sub(1) {
                Some(n) if n >= oldest && n < tail => n,
                _ => tail,
            };
            if target <= self.st.pos {
                return 0;
            }
            let next = seq_at(ctl, &self.s.mem(), target);
            let skipped = next.saturating_sub(self.st.next_seq);
            self.st = SubState {
                pos: target,
                next_seq: next,
            };
            self.store_cursor();
            skipped
        }

        /// After a frame is taken: a `Block` subscriber's cursor moves at once (the publisher may
        /// be waiting for it). An `Overwrite` subscriber's slot holds only its position and
        /// counts, for tools; it is brought up to date at the start of the next receive or wait
        /// (`catch_up_slot`), so that those stores are not on the path of a reply: in a
        /// ping-pong they happen while the other side works. So `shmkit info` and `top` count a
        /// frame once its subscriber has asked for the next one, or waits for it.
        fn note_received(&mut self) {
            if self.protected() {
                self.store_cursor();
            } else {
                self.slot_behind = true;
            }
        }

        /// Brings our slot up to date if a frame taken since is not in it yet.
        fn catch_up_slot(&mut self) {
            if self.slot_behind {
                self.store_cursor();
            }
        }

        /// Frees the frame of a released or replaced view (`Block`: lets the cursor pass it).
        fn release_held(&mut self) {
            if self.held.take().is_some() {
                self.store_cursor();
            }
        }

        /// Stores the cursor and statistics into our slot (and claims one again if the
        /// publisher freed ours, judging us dead: only a scribbling peer can make that happen).
        fn store_cursor(&mut self) {
            self.slot_behind = false;
            let Some(i) = self.slot else { return };
            let me = match self.s.seg.identity(Op::Receive) {
                Ok(id) => id.word(),
                Err(_) => return,
            };
            let block = self.s.policy == Policy::Block;
            if self.s.slots()[i].owner.load(Ordering::Relaxed) != me {
                self.slot = self.s.claim_slot(0);
                if let (Some(i), true) = (self.slot, block) {
                    // Our frames may be gone: start again where the publisher cannot be.
                    let pos =
                        join_position(self.s.ctl(), &self.s.slots()[i].cursor, JoinAt::Oldest);
                    if pos > self.st.pos {
                        self.st.pos = pos;
                    }
                }
            }
            let Some(i) = self.slot else { return };
            let sl = &self.s.slots()[i];
            sl.next_seq.store(self.st.next_seq, Ordering::Relaxed);
            sl.lost.store(self.lost, Ordering::Relaxed);
            sl.received.store(self.received, Ordering::Relaxed);
            // Once per timer tick (the coarse clock moves no more often): see `Cell::publish_locked`.
            let now = crate::sys::coarse_now_ns();
            if sl.last_ns.load(Ordering::Relaxed) != now {
                sl.last_ns.store(now, Ordering::Relaxed);
            }
            let cursor = self.held.unwrap_or(self.st.pos);
            // SYNC: Release: our reads of the frames below the cursor happen before the
            // publisher's overwrites, which it starts after an Acquire load of the cursor.
            sl.cursor.store(cursor, Ordering::Release);
            if block {
                self.s.ctl().space.signal(self.s.seg.wake_always());
            }
        }

        fn corrupt(&self, why: String) -> Error {
            self.s.error(ErrorKind::Corrupt, Op::Receive, why)
        }

        /// Whether frames are protected by our cursor (a joined `Block` subscriber whose slot
        /// is still its own).
        fn protected(&self) -> bool {
            self.s.policy == Policy::Block && self.slot.is_some()
        }

        /// Finds the next frame; `consume` reads its payload (Overwrite: perhaps more than
        /// once). Counts it; does not move the cursor past a frame still held.
        #[inline(always)]
        fn next(&mut self, consume: impl FnMut(usize, usize)) -> Result<Option<Got>> {
            self.catch_up_slot();
            self.release_held();
            let protected = self.protected();
            let mem = self.s.mem();
            let res = try_receive(
                self.s.ctl(),
                &mem,
                &mut self.st,
                self.s.max_frame,
                protected,
                consume,
            );
            match res {
                Ok(Some(got)) => {
                    self.lost = self.lost.saturating_add(got.r.lost);
                    self.received += 1;
                    Ok(Some(got))
                }
                Ok(None) => Ok(None),
                Err(why) => Err(self.corrupt(why)),
            }
        }

        /// Copies the next frame into `buf` (replacing its contents), if there is one.
        ///
        /// # Errors
        /// [`ErrorKind::Corrupt`] if another process scribbled on the stream's control block or
        /// frame headers.
        pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<Option<Received>> {
            if let Some(r) = self.try_recv_small(buf) {
                return Ok(Some(r));
            }
            self.try_recv_general(buf)
        }

        /// [`try_recv`](Self::try_recv) through `next`: any frame, any size.
        fn try_recv_general(&mut self, buf: &mut Vec<u8>) -> Result<Option<Received>> {
            let mem = self.s.mem();
            let got = self.next(|off, len| {
                buf.clear();
                buf.reserve(len);
                // SAFETY: `off..off + len` lies inside the ring (checked by `try_receive`),
                // inside our mapping; the destination is `buf`'s spare capacity of at least
                // `len` bytes, private. `copy_out` reads each byte once.
                unsafe {
                    crate::shared::copy_out_raw(mem.base.add(off), buf.as_mut_ptr(), len);
                    buf.set_len(len);
                }
            })?;
            if got.is_some() {
                self.note_received();
            }
            Ok(got.map(|g| g.r))
        }

        /// A small frame, whole at our position, copied into `buf`: the spinning hand-off's
        /// path (see `try_receive_small`); `None` for anything else, which `next` handles.
        #[inline(always)]
        fn try_recv_small(&mut self, buf: &mut Vec<u8>) -> Option<Received> {
            let mut small = [0u8; SMALL];
            let r = self.try_recv_small_into(&mut small)?;
            buf.clear();
            buf.extend_from_slice(&small[..r.len]);
            Some(r)
        }

        /// [`try_recv_small`](Self::try_recv_small) into a stack buffer: the frame is its first
        /// `len` bytes.
        #[inline(always)]
        fn try_recv_small_into(&mut self, small: &mut [u8; SMALL]) -> Option<Received> {
            self.catch_up_slot();
            self.release_held();
            let protected = self.protected();
            let max = self.s.max_frame;
            let mem = self.s.mem();
            let r = try_receive_small(self.s.ctl(), &mem, &mut self.st, max, protected, small)?;
            self.lost = self.lost.saturating_add(r.lost);
            self.received += 1;
            self.note_received();
            Some(r)
        }

        /// Waits for the next frame (at most `timeout`) and copies it into `buf`.
        ///
        /// # Errors
        /// [`ErrorKind::Timeout`], or as for [`try_recv`](Self::try_recv).
        pub fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<Received> {
            self.poll_first();
            // `try_recv`, with its small-frame path inline here: the spinning hand-off's.
            if let Some(got) = self.try_recv_small(buf) {
                return Ok(got);
            }
            if let Some(got) = self.try_recv_general(buf)? {
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

        /// Receives the next frame, if there is one, and hands it to `f`; `Ok(None)` if no
        /// frame is there.
        ///
        /// With [`Policy::Block`] `f` sees the bytes where they lie in the ring — no copy: the
        /// publisher does not overwrite a frame before this subscriber's cursor has moved past
        /// it (frames of up to 32 bytes are copied to the stack, which costs less than holding
        /// them in place). With [`Policy::Overwrite`] the publisher may overwrite a frame at
        /// any moment, so a `&[u8]` over it could change under `f`: the frame is first copied
        /// (into a buffer the subscriber keeps) and checked whole; `f` gets the copy. For
        /// zero-copy on `Overwrite` streams, see [`recv_view`](Self::recv_view).
        ///
        /// # Errors
        /// As for [`try_recv`](Self::try_recv).
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
            // A small frame is copied to the stack whole (the spinning hand-off's path, as in
            // `try_recv`): cheaper than holding it in place.
            let mut small = [0u8; SMALL];
            if let Some(r) = self.try_recv_small_into(&mut small) {
                return Ok(Some((f(&small[..r.len]), r)));
            }
            let Some(view) = self.try_recv_view()? else {
                return Ok(None);
            };
            let received = view.received();
            if let Some(slice) = view.as_slice() {
                return Ok(Some((f(slice), received)));
            }
            // Our slot was taken and none was free: the frame is not protected; copy it.
            let mut scratch = std::mem::take(&mut view.sub.scratch);
            view.bytes().read_into(&mut scratch);
            let intact = view.is_intact();
            drop(view);
            let out = f(&scratch);
            self.scratch = scratch;
            if intact {
                Ok(Some((out, received)))
            } else {
                Err(self.overwritten(received.seq))
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
            self.poll_first();
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

        /// The next frame in place, if there is one: zero-copy on every stream (see
        /// [`FrameView`]).
        ///
        /// # Errors
        /// As for [`try_recv`](Self::try_recv).
        pub fn try_recv_view(&mut self) -> Result<Option<FrameView<'_>>> {
            Ok(self.view_next()?.map(|got| FrameView { sub: self, got }))
        }

        /// Takes the next frame for a view: held (`Block`) until the view is released.
        fn view_next(&mut self) -> Result<Option<Got>> {
            let Some(got) = self.next(|_, _| {})? else {
                return Ok(None);
            };
            if self.protected() {
                // The cursor stays where it is, at or before the frame, so nothing needs
                // storing now: the release stores it past the frame, with the statistics (one
                // store of the slot per frame, as a receive by copy makes).
                self.held = Some(got.pos);
            } else {
                self.note_received();
            }
            Ok(Some(got))
        }

        /// Waits for the next frame (at most `timeout`) and returns it in place.
        ///
        /// # Errors
        /// As for [`recv_timeout`](Self::recv_timeout).
        pub fn recv_view(&mut self, timeout: Duration) -> Result<FrameView<'_>> {
            self.poll_first();
            if let Some(got) = self.view_next()? {
                return Ok(FrameView { sub: self, got }); // no clock read when a frame is there
            }
            let deadline = Instant::now() + timeout;
            loop {
                self.wait(deadline, timeout)?;
                if let Some(got) = self.view_next()? {
                    return Ok(FrameView { sub: self, got });
                }
            }
        }

        /// Whether a frame handed out by [`FrameView::detach`] is still intact (its bytes were
        /// not overwritten). `Block` frames are until released.
        pub fn is_intact(&self, frame: &DetachedFrame) -> bool {
            self.intact_at(frame.pos)
        }

        fn intact_at(&self, pos: u64) -> bool {
            if self.protected() && self.held == Some(pos) {
                return true;
            }
            intact(self.s.ctl(), pos)
        }

        /// Releases a frame handed out by [`FrameView::detach`] (`Block`: the publisher may now
        /// overwrite it). Returns what it was, or [`ErrorKind::Overwritten`] if the publisher
        /// overwrote it while it was in use (`Overwrite` streams).
        ///
        /// # Errors
        /// [`ErrorKind::Overwritten`].
        pub fn release(&mut self, frame: DetachedFrame) -> Result<Received> {
            let ok = self.intact_at(frame.pos);
            if self.held == Some(frame.pos) {
                self.release_held();
            }
            if ok {
                Ok(frame.received)
            } else {
                Err(self.overwritten(frame.received.seq))
            }
        }

        fn overwritten(&self, seq: u64) -> Error {
            self.s.error(
                ErrorKind::Overwritten,
                Op::Receive,
                format!("the publisher overwrote frame #{seq} while it was read in place"),
            )
        }

        /// Polls the commit word at our position up to `polls` times, a spin hint between two:
        /// whether the frame there is committed. It is the one line the publisher writes last
        /// for that frame, and nothing else is read. A position no frame can have (taken from
        /// a scribbled control block) also says "look": the receive then reports it as corrupt.
        fn poll_commit(&self, polls: u32) -> bool {
            if self.st.pos % FRAME_ALIGN as u64 != 0 || self.st.pos > POS_MAX {
                return true;
            }
            let mem = self.s.mem();
            let off = (self.st.pos & (self.s.ring as u64 - 1)) as usize;
            for i in 0..polls {
                if mem.commit_load(off) == marker(self.st.pos) {
                    return true;
                }
                if i + 1 < polls {
                    spin_hint();
                }
            }
            false
        }

        /// A spinning subscriber's first look: a round of polls of the commit word before the
        /// first look at the tail (the publisher's line, which it must then fetch back) and the
        /// first read of the clock (20-35 ns here, as much as the hand-off it would delay). A
        /// frame that arrives within the round costs neither. Not while a `Block` view is held:
        /// its release (in `next`) may be what the publisher waits for.
        fn poll_first(&mut self) {
            self.catch_up_slot();
            if !self.spin.is_zero() && self.held.is_none() {
                self.poll_commit(SPINS_PER_TAIL_CHECK);
            }
        }

        /// Sleeps until a frame may be there or the deadline passes.
        fn wait(&self, deadline: Instant, timeout: Duration) -> Result<()> {
            let ctl = self.s.ctl();
            let pending = || ctl.pos.tail.load(Ordering::Acquire) != self.st.pos;
            if !self.spin.is_zero() {
                // Spin on the one line the publisher writes last for the frame we wait for:
                // its header's commit word. The tail (another line) only now and then, for a
                // subscriber lapped while it spins.
                let until = (Instant::now() + self.spin).min(deadline);
                loop {
                    if self.poll_commit(SPINS_PER_TAIL_CHECK) || pending() {
                        return Ok(());
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

    impl Drop for Subscriber {
        fn drop(&mut self) {
            if let (Some(i), Ok(me)) = (self.slot, self.s.seg.identity(Op::Receive)) {
                let sl = &self.s.slots()[i];
                let _ =
                    sl.owner
                        .compare_exchange(me.word(), 0, Ordering::AcqRel, Ordering::Relaxed);
                if self.s.policy == Policy::Block {
                    self.s.ctl().space.signal(self.s.seg.wake_always());
                }
            }
        }
    }

    /// A frame read in place: zero-copy, whatever the policy.
    ///
    /// * [`Policy::Block`]: the publisher does not overwrite the frame until the view is
    ///   released (dropped), so [`as_slice`](Self::as_slice) hands out an ordinary `&[u8]`.
    ///   The protocol step that guarantees it: the subscriber's cursor stays at the frame until
    ///   release, and the publisher waits for every cursor before it overwrites (its re-scan
    ///   after marking frames gone catches subscribers that joined meanwhile).
    /// * [`Policy::Overwrite`]: the publisher may overwrite the frame at any moment, so the
    ///   bytes are offered only as [`SharedBytes`] (copied out, never referenced); read what
    ///   you need, then ask [`is_intact`](Self::is_intact) (or [`release`](Self::release),
    ///   which says [`ErrorKind::Overwritten`]) whether what you read was the whole frame.
    ///
    /// ```
    /// use shmkit::stream::{Policy, StreamOptions, Subscriber};
    /// use std::time::Duration;
    ///
    /// # let name = format!("doc-view-{}", std::process::id());
    /// let mut publisher = StreamOptions::new().policy(Policy::Block).create(&name)?;
    /// let mut subscriber = Subscriber::open(&name)?;
    /// publisher.send(&[1, 2, 3])?;
    /// let frame = subscriber.recv_view(Duration::from_secs(1))?;
    /// let sum: u32 = frame.as_slice().unwrap().iter().map(|&b| u32::from(b)).sum();
    /// assert_eq!(sum, 6);
    /// frame.release()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub struct FrameView<'a> {
        sub: &'a mut Subscriber,
        got: Got,
    }

    impl fmt::Debug for FrameView<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("FrameView")
                .field("received", &self.got.r)
                .finish()
        }
    }

    impl FrameView<'_> {
        /// Its sequence number, length, publish time and the losses before it.
        pub fn received(&self) -> Received {
            self.got.r
        }

        /// Its length in bytes.
        pub fn len(&self) -> usize {
            self.got.r.len
        }

        /// Whether it is empty.
        pub fn is_empty(&self) -> bool {
            self.got.r.len == 0
        }

        fn ptr(&self) -> *const u8 {
            // SAFETY: `try_receive` checked `off + len` lies inside the ring, inside the mapping.
            unsafe { self.sub.s.seg.as_ptr().add(self.got.off) }
        }

        /// The bytes, to copy out of (any policy).
        pub fn bytes(&self) -> SharedBytes<'_> {
            // SAFETY: inside the mapping (see `ptr`), which lives as long as the subscriber
            // this view borrows.
            unsafe { SharedBytes::from_raw_parts(self.ptr(), self.got.r.len) }
        }

        /// The bytes as a slice: `Some` on [`Policy::Block`] streams, where no process writes
        /// them while the view lives; `None` on [`Policy::Overwrite`] streams (use
        /// [`bytes`](Self::bytes)).
        pub fn as_slice(&self) -> Option<&[u8]> {
            // SAFETY: inside the mapping (see `ptr`). With Block the publisher does not write
            // these bytes until our cursor — held at this frame until the view is released —
            // has passed them (the type's docs give the protocol steps).
            self.sub
                .protected()
                .then(|| unsafe { std::slice::from_raw_parts(self.ptr(), self.got.r.len) })
        }

        /// Whether the frame is still intact: for `Overwrite` streams, whether the publisher
        /// has not overwritten it since it was received (check after reading); always `true`
        /// for `Block` streams.
        pub fn is_intact(&self) -> bool {
            self.sub.intact_at(self.got.pos)
        }

        /// Releases the frame (the same as dropping the view), reporting whether it stayed
        /// intact while in use.
        ///
        /// # Errors
        /// [`ErrorKind::Overwritten`] if the publisher overwrote it (`Overwrite` streams).
        pub fn release(self) -> Result<Received> {
            let intact = self.is_intact();
            let (r, seq) = (self.got.r, self.got.r.seq);
            let err = (!intact).then(|| self.sub.overwritten(seq));
            drop(self);
            match err {
                Some(e) => Err(e),
                None => Ok(r),
            }
        }

        /// Ends the borrow of the subscriber but keeps the frame in use, for code that cannot
        /// hold a borrow (language bindings): read it through [`DetachedFrame::as_ptr`], check
        /// it with [`Subscriber::is_intact`], and give it back with [`Subscriber::release`].
        /// The next receive (or seek) releases it too. Its memory stays mapped while the
        /// subscriber lives.
        pub fn detach(self) -> DetachedFrame {
            let d = DetachedFrame {
                ptr: self.ptr(),
                received: self.got.r,
                pos: self.got.pos,
            };
            std::mem::forget(self);
            d
        }
    }

    impl Drop for FrameView<'_> {
        fn drop(&mut self) {
            if self.sub.held == Some(self.got.pos) {
                self.sub.release_held();
            }
        }
    }

    /// A frame in use that no longer borrows its subscriber (see [`FrameView::detach`]).
    #[derive(Debug)]
    pub struct DetachedFrame {
        ptr: *const u8,
        received: Received,
        pos: u64,
    }

    // SAFETY: only an address and a length; the memory is the ring, shared with other
    // processes anyway.
    unsafe impl Send for DetachedFrame {}

    impl DetachedFrame {
        /// Where the frame's bytes lie (read them with volatile or atomic accesses unless the
        /// stream is `Block`: see [`FrameView`]).
        pub fn as_ptr(&self) -> *const u8 {
            self.ptr
        }

        /// Its sequence number, length, publish time and the losses before it.
        pub fn received(&self) -> Received {
            self.received
        }

        /// Its length in bytes.
        pub fn len(&self) -> usize {
            self.received.len
        }

        /// Whether it is empty.
        pub fn is_empty(&self) -> bool {
            self.received.len == 0
        }
    }

    /// A typed frame: a value and how it arrived.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Typed<T> {
        /// The value.
        pub data: T,
        /// Its sequence number, publish time and the losses before it.
        pub received: Received,
    }

    /// A publisher of frames that are each one `T` — any plain-old-data type
    /// (`bytemuck::Pod`), as [`TypedCell`](crate::TypedCell) is for cells.
    ///
    /// ```
    /// use shmkit::stream::{TypedPublisher, TypedSubscriber};
    /// use std::time::Duration;
    ///
    /// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Sample { t: f64, volts: f32, channel: u32 }
    ///
    /// # let name = format!("doc-tstream-{}", std::process::id());
    /// let mut publisher = TypedPublisher::<Sample>::create(&name)?;
    /// let mut subscriber = TypedSubscriber::<Sample>::open(&name)?;
    /// publisher.send(&Sample { t: 0.5, volts: 3.3, channel: 2 })?;
    /// let got = subscriber.recv_timeout(Duration::from_secs(1))?;
    /// assert_eq!((got.data.channel, got.received.seq), (2, 1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub struct TypedPublisher<T: Pod> {
        p: Publisher,
        _t: std::marker::PhantomData<fn(T)>,
    }

    impl<T: Pod> fmt::Debug for TypedPublisher<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TypedPublisher")
                .field("type", &std::any::type_name::<T>())
                .field("publisher", &self.p)
                .finish()
        }
    }

    impl<T: Pod> TypedPublisher<T> {
        /// Creates a stream of `T` frames with the default options (its maximum frame is
        /// `size_of::<T>()`).
        ///
        /// # Errors
        /// As for [`StreamOptions::create`].
        pub fn create(name: impl IntoName) -> Result<TypedPublisher<T>> {
            TypedPublisher::create_with(&StreamOptions::new(), name)
        }

        /// Creates it with options (the maximum frame is set to `size_of::<T>()`).
        ///
        /// # Errors
        /// As for [`StreamOptions::create`].
        pub fn create_with(opts: &StreamOptions, name: impl IntoName) -> Result<TypedPublisher<T>> {
            let size = std::mem::size_of::<T>().max(1);
            Ok(TypedPublisher {
                p: opts.clone().max_frame(size).create(name)?,
                _t: std::marker::PhantomData,
            })
        }

        /// Becomes the publisher of an existing stream whose frames can hold a `T`.
        ///
        /// # Errors
        /// As for [`StreamOptions::open_publisher`]; [`ErrorKind::Incompatible`] if its
        /// maximum frame is smaller than a `T`.
        pub fn open(name: impl IntoName, wait: Duration) -> Result<TypedPublisher<T>> {
            let p = StreamOptions::new().open_publisher(name, wait)?;
            if p.max_frame() < std::mem::size_of::<T>() {
                return Err(p.s.error(
                    ErrorKind::Incompatible,
                    Op::Open,
                    format!(
                        "its frames hold up to {} bytes, a {} takes {}",
                        p.max_frame(),
                        std::any::type_name::<T>(),
                        std::mem::size_of::<T>()
                    ),
                ));
            }
            Ok(TypedPublisher {
                p,
                _t: std::marker::PhantomData,
            })
        }

        /// Publishes one value; returns its sequence number.
        ///
        /// # Errors
        /// As for [`Publisher::send`].
        pub fn send(&mut self, value: &T) -> Result<u64> {
            self.p.send(bytemuck::bytes_of(value))
        }

        /// The publisher underneath.
        pub fn as_publisher(&mut self) -> &mut Publisher {
            &mut self.p
        }
    }

    /// A subscriber to frames that are each one `T` (see [`TypedPublisher`]).
    pub struct TypedSubscriber<T: Pod> {
        s: Subscriber,
        _t: std::marker::PhantomData<fn() -> T>,
    }

    impl<T: Pod> fmt::Debug for TypedSubscriber<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TypedSubscriber")
                .field("type", &std::any::type_name::<T>())
                .field("subscriber", &self.s)
                .finish()
        }
    }

    impl<T: Pod> TypedSubscriber<T> {
        /// Subscribes from the newest frame on.
        ///
        /// # Errors
        /// As for [`StreamOptions::subscribe`].
        pub fn open(name: impl IntoName) -> Result<TypedSubscriber<T>> {
            TypedSubscriber::open_with(&StreamOptions::new(), name)
        }

        /// Subscribes with options.
        ///
        /// # Errors
        /// As for [`StreamOptions::subscribe`].
        pub fn open_with(opts: &StreamOptions, name: impl IntoName) -> Result<TypedSubscriber<T>> {
            Ok(TypedSubscriber {
                s: opts.subscribe(name)?,
                _t: std::marker::PhantomData,
            })
        }

        /// The next value, if there is one.
        ///
        /// # Errors
        /// As for [`Subscriber::try_recv`]; [`ErrorKind::Incompatible`] for a frame that is not
        /// `size_of::<T>()` bytes.
        pub fn try_recv(&mut self) -> Result<Option<Typed<T>>> {
            loop {
                let Some(view) = self.s.try_recv_view()? else {
                    return Ok(None);
                };
                let r = view.received();
                let mut data = T::zeroed();
                let out = bytemuck::bytes_of_mut(&mut data);
                if r.len != out.len() {
                    drop(view);
                    return Err(self.s.s.error(
                        ErrorKind::Incompatible,
                        Op::Receive,
                        format!(
                            "frame #{} has {} bytes, a {} takes {}",
                            r.seq,
                            r.len,
                            std::any::type_name::<T>(),
                            std::mem::size_of::<T>()
                        ),
                    ));
                }
                view.bytes().copy_to_slice(0, out);
                match view.release() {
                    Ok(received) => return Ok(Some(Typed { data, received })),
                    // Overwritten while copied: lost; take the next one.
                    Err(e) if e.kind() == ErrorKind::Overwritten => continue,
                    Err(e) => return Err(e),
                }
            }
        }

        /// Waits (at most `timeout`) for the next value.
        ///
        /// # Errors
        /// As for [`Subscriber::recv_timeout`], and as for [`try_recv`](Self::try_recv).
        pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Typed<T>> {
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(v) = self.try_recv()? {
                    return Ok(v);
                }
                self.s.wait(deadline, timeout)?;
            }
        }

        /// The subscriber underneath.
        pub fn as_subscriber(&mut self) -> &mut Subscriber {
            &mut self.s
        }
    }

    /// A stream's state as its control block says, for tools (`shmkit info`, `top`): read
    /// without opening the stream, a snapshot that may change at once.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct StreamDetails {
        /// The largest frame, in bytes.
        pub max_frame: u64,
        /// The ring's size in bytes.
        pub ring: u64,
        /// What the publisher does when the ring is full.
        pub policy: Policy,
        /// Subscriber slots.
        pub slots: u32,
        /// The sequence number the next frame will get (frames published so far + 1).
        pub next_seq: u64,
        /// Frames published (by every publisher so far).
        pub frames: u64,
        /// Payload bytes published.
        pub bytes: u64,
        /// When the last frame was published.
        pub last_publish: Option<std::time::SystemTime>,
        /// The position after the last frame, and of the oldest intact one (bytes since the
        /// stream began).
        pub tail: u64,
        /// See [`tail`](Self::tail).
        pub oldest: u64,
        /// The subscribers that hold a slot (all of a `Block` stream's; those of an
        /// `Overwrite` stream that keep statistics).
        pub subscribers: Vec<SubscriberDetails>,
    }

    /// One subscriber as its slot says.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct SubscriberDetails {
        /// Its process id (as this process numbers it; 0 if unknown).
        pub pid: u32,
        /// Whether it lives: `None` where this process cannot tell (another pid namespace).
        pub alive: Option<bool>,
        /// Its position (bytes since the stream began).
        pub position: u64,
        /// Frames published that it has not received.
        pub lag: u64,
        /// Frames it lost (overwritten before it read them).
        pub lost: u64,
        /// Frames it received.
        pub received: u64,
        /// When it last received one.
        pub last_receive: Option<std::time::SystemTime>,
    }

    /// Reads [`StreamDetails`] out of a stream's control block bytes (whatever they hold);
    /// `judge(holder word)` says a subscriber's pid and whether it lives.
    pub(crate) fn details(
        ctl: &[u8],
        judge: impl Fn(u64) -> (u32, Option<bool>),
    ) -> std::result::Result<StreamDetails, String> {
        let u64_at = |o| crate::layout::u64_at(ctl, o).ok_or("a cut-off control block");
        let u32_at = |o| crate::layout::u32_at(ctl, o).ok_or("a cut-off control block");
        let time = |ns: u64| (ns != 0).then(|| std::time::UNIX_EPOCH + Duration::from_nanos(ns));
        let (ring, max_frame) = (u64_at(128)?, u64_at(136)?);
        let policy = Policy::from_code(u32_at(144)?).ok_or("an unknown policy")?;
        let slots = u32_at(148)?;
        if !ring.is_power_of_two() || max_frame == 0 || max_frame > max_frame_for(ring) {
            return Err(format!(
                "frames of up to {max_frame} bytes in a ring of {ring}"
            ));
        }
        if slots == 0 || slots > MAX_SUBSCRIBERS {
            return Err(format!("{slots} subscriber slots"));
        }
        let next_seq = u64_at(16)?;
        let mut subscribers = Vec::new();
        for i in 0..slots as usize {
            let o = CTL_LEN + i * SLOT_LEN;
            let Some(owner) = crate::layout::u64_at(ctl, o) else {
                break; // fewer slots in the bytes than the table claims: show what is there
            };
            if owner == 0 {
                continue;
            }
            let (pid, alive) = judge(owner);
            let sub_next = u64_at(o + 16)?;
            subscribers.push(SubscriberDetails {
                pid,
                alive,
                position: u64_at(o + 8)?,
                lag: next_seq.saturating_sub(sub_next),
                lost: u64_at(o + 24)?,
                received: u64_at(o + 32)?,
                last_receive: time(u64_at(o + 40)?),
            });
        }
        Ok(StreamDetails {
            max_frame,
            ring,
            policy,
            slots,
            next_seq,
            frames: u64_at(24)?,
            bytes: u64_at(32)?,
            last_publish: time(u64_at(40)?),
            tail: u64_at(0)?,
            oldest: u64_at(64)?,
            subscribers,
        })
    }

    /// Runs a subscriber over `bytes` taken as a stream segment's control block and ring, as a
    /// fuzz target does: whatever the bytes, it must end without panicking or reading out of
    /// bounds. Returns how many frames it received before the end or an error. Then a publisher
    /// takes the same bytes over and publishes two frames (a small one through `send_small`),
    /// which must not panic either.
    ///
    /// The bytes: eight little-endian words — `tail`, `oldest`, the publisher's `next_seq`, the
    /// maximum frame (clamped to what the ring takes), the subscriber's position (modulo four
    /// rings) and `next_seq`, `newest`, and whether the subscriber is a joined `Block` one (bit
    /// 0) — then the ring: the largest power of two of the remaining bytes, at least 256.
    #[doc(hidden)]
    pub fn fuzz_receive(bytes: &[u8]) -> usize {
        /// The ring as 8-byte atomic words (commit words need atomics).
        struct Heap(Vec<AtomicU64>);
        impl RingMem for Heap {
            fn len(&self) -> usize {
                self.0.len() * 8
            }
            fn write(&self, off: usize, src: &[u8]) {
                for (i, &b) in src.iter().enumerate() {
                    let (w, s) = ((off + i) / 8, (off + i) % 8 * 8);
                    let old = self.0[w].load(Ordering::Relaxed);
                    let new = old & !(0xff << s) | u64::from(b) << s;
                    self.0[w].store(new, Ordering::Relaxed);
                }
            }
            fn read(&self, off: usize, dst: &mut [u8]) {
                for (i, d) in dst.iter_mut().enumerate() {
                    let (w, s) = ((off + i) / 8, (off + i) % 8 * 8);
                    *d = (self.0[w].load(Ordering::Relaxed) >> s) as u8;
                }
            }
            fn commit_load(&self, off: usize) -> u64 {
                self.0[(off + COMMIT_OFF) / 8].load(Ordering::Acquire)
            }
            fn commit_store(&self, off: usize, value: u64, _release: bool) {
                self.0[(off + COMMIT_OFF) / 8].store(value, Ordering::Release);
            }
        }
        let Some((ctl_bytes, ring_bytes)) = bytes.split_at_checked(64) else {
            return 0;
        };
        let word =
            |o: usize| u64::from_le_bytes(ctl_bytes[o..o + 8].try_into().unwrap_or_default());
        let ctl = StreamCtl {
            pos: Positions {
                tail: AtomicU64::new(word(0)),
                newest: AtomicU64::new(word(48)),
                next_seq: AtomicU64::new(word(16)),
                frames: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                last_ns: AtomicU64::new(0),
            },
            reclaim: Reclaim {
                oldest: AtomicU64::new(word(8)),
            },
            cfg: Config {
                ring_len: AtomicU64::new(0),
                max_frame: AtomicU64::new(0),
                policy: AtomicU32::new(0),
                max_subscribers: AtomicU32::new(0),
            },
            space: Event::new(),
        };
        // The ring: the largest power of two of the remaining bytes (at least four lines).
        let ring = match ring_bytes.len() {
            n if n >= 4 * FRAME_ALIGN => 1usize << (usize::BITS - 1 - n.leading_zeros()),
            _ => return 0,
        };
        let mem = Heap(
            ring_bytes[..ring]
                .chunks_exact(8)
                .map(|c| AtomicU64::new(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
                .collect(),
        );
        let max_frame = ((word(24) as usize) % ring).clamp(1, max_frame_for(ring as u64) as usize);
        let protected = word(56) & 1 == 1;
        let mut st = SubState {
            pos: word(32) % (ring as u64 * 4),
            next_seq: word(40),
        };
        let mut got = 0;
        for i in 0..64 {
            // Every other look tries the small-frame path first, as `recv_timeout` does.
            let mut small = [0u8; SMALL];
            if i % 2 == 0 {
                let r = try_receive_small(&ctl, &mem, &mut st, max_frame, protected, &mut small);
                if let Some(r) = r {
                    assert!(r.len <= SMALL.min(max_frame), "a small frame of {}", r.len);
                    got += 1;
                    continue;
                }
            }
            let mut copied = Vec::new();
            match try_receive_limited(&ctl, &mem, &mut st, max_frame, protected, 64, |off, len| {
                assert!(off + len <= ring, "a payload outside the ring");
                copied.resize(len, 0);
                mem.read(off, &mut copied);
            }) {
                Ok(Some(r)) => {
                    assert_eq!(copied.len(), r.r.len);
                    got += 1;
                }
                _ => break,
            }
        }
        // A publisher taking the same bytes over must not panic either.
        if let Ok(mut pst) = PubState::take(&ctl, &mem, max_frame as u64) {
            let frame = [0xA5u8; SMALL];
            let _ = send_small(
                &ctl,
                &mem,
                &mut pst,
                &frame[..max_frame.min(SMALL)],
                1,
                false,
            );
            if let Some(pos) = reserve(&ctl, &mem, &mut pst, max_frame.min(64), false, |_, _| {
                Some(u64::MAX)
            }) {
                commit(&ctl, &mem, &mut pst, pos, max_frame.min(64), 1);
            }
        }
        got
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A ring of 8-byte atomic words in this process.
    struct Words(Vec<AtomicU64>);

    impl RingMem for Words {
        fn len(&self) -> usize {
            self.0.len() * 8
        }
        fn write(&self, off: usize, src: &[u8]) {
            for (i, &b) in src.iter().enumerate() {
                let (w, s) = ((off + i) / 8, (off + i) % 8 * 8);
                let old = self.0[w].load(Ordering::Relaxed);
                self.0[w].store(old & !(0xff << s) | u64::from(b) << s, Ordering::Relaxed);
            }
        }
        fn read(&self, off: usize, dst: &mut [u8]) {
            READS.set(READS.get() + 1);
            for (i, d) in dst.iter_mut().enumerate() {
                let (w, s) = ((off + i) / 8, (off + i) % 8 * 8);
                *d = (self.0[w].load(Ordering::Relaxed) >> s) as u8;
            }
        }
        fn commit_load(&self, off: usize) -> u64 {
            self.0[(off + COMMIT_OFF) / 8].load(Ordering::Acquire)
        }
        fn commit_store(&self, off: usize, value: u64, _release: bool) {
            self.0[(off + COMMIT_OFF) / 8].store(value, Ordering::Release);
        }
    }

    thread_local! {
        /// `Words::read` calls on this thread.
        static READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn marks_give_the_last_boundary_wanted_within_the_limit() {
        let mut m = Marks::new();
        // Frames of 600 bytes, a share of 1024: a mark at each frame end past a multiple.
        for k in 0..10u64 {
            m.passed(k * 600, (k + 1) * 600, 1024);
        }
        // Marks: 1200, 2400, 3600, 4200, 5400 (ends of frames that crossed a multiple of 1024).
        assert_eq!(
            m.take(1000, 3000, 10_000),
            Some(2400),
            "the last at or below `want`"
        );
        assert_eq!(
            m.take(2500, 2600, 10_000),
            Some(3600),
            "else the first past the floor"
        );
        assert_eq!(
            m.take(3700, 9000, 5000),
            Some(4200),
            "never above the limit"
        );
        assert_eq!(m.take(5500, 5500, 5900), None, "none in floor..=limit");
        assert_eq!(m.take(0, u64::MAX, u64::MAX), None, "5400 was forgotten");
        // More marks than it keeps: the oldest go.
        for k in 0..(MARKS as u64 + 5) {
            m.passed(k * 1024 + 1, (k + 1) * 1024 + 1, 1024);
        }
        assert_eq!(m.take(0, 0, u64::MAX), Some(6 * 1024 + 1));
    }

    /// A publisher's reclaims move `oldest` from one frame boundary to another, without
    /// reading back a header of the frames it published itself (its marks); so do those of a
    /// publisher that took the stream over.
    #[test]
    fn reclaims_stop_on_frame_boundaries_and_read_no_header_of_our_own_frames() {
        let ring = 16384u64;
        let ctl = ctl(ring);
        let mem = Words((0..ring as usize / 8).map(|_| AtomicU64::new(0)).collect());
        let on_a_boundary = |oldest: u64, tail: u64| {
            let mut p = oldest;
            while p < tail {
                let (len, kind, _, _) = read_header(&mem, (p % ring) as usize);
                p += frame_extent(len, kind, p % ring, ring, u64::MAX).expect("a header");
            }
            p == tail && tail - oldest <= ring
        };
        let mut st = PubState::new();
        let mut x = 7u64;
        let mut sizes = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            8 + (x >> 33) as usize % 1500
        };
        for round in 0..2 {
            let mut reclaims = 0;
            for _ in 0..20_000 {
                let before = (st.oldest, READS.get());
                send(&ctl, &mem, &mut st, sizes());
                let oldest = ctl.reclaim.oldest.load(Ordering::Relaxed);
                assert_eq!(oldest, st.oldest);
                if oldest != before.0 {
                    reclaims += 1;
                    if round == 0 {
                        assert_eq!(READS.get(), before.1, "a header read back");
                    }
                    assert!(
                        on_a_boundary(oldest, st.tail),
                        "oldest {oldest} tail {}",
                        st.tail
                    );
                }
            }
            assert!(reclaims > 1000, "{reclaims}");
            // A new publisher takes over, with no marks: it walks its predecessor's frames or
            // jumps to its own first mark past them.
            st = PubState::take(&ctl, &mem, max_frame_for(ring)).unwrap();
            assert!(on_a_boundary(st.oldest, st.tail));
        }
    }

    fn ctl(ring: u64) -> StreamCtl {
        StreamCtl {
            pos: Positions {
                tail: AtomicU64::new(0),
                newest: AtomicU64::new(0),
                next_seq: AtomicU64::new(1),
                frames: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                last_ns: AtomicU64::new(0),
            },
            reclaim: Reclaim {
                oldest: AtomicU64::new(0),
            },
            cfg: Config {
                ring_len: AtomicU64::new(ring),
                max_frame: AtomicU64::new(max_frame_for(ring)),
                policy: AtomicU32::new(0),
                max_subscribers: AtomicU32::new(1),
            },
            space: Event::new(),
        }
    }

    fn send(ctl: &StreamCtl, mem: &Words, st: &mut PubState, len: usize) {
        let pos = reserve(ctl, mem, st, len, false, |_, _| Some(u64::MAX)).unwrap();
        let seq = st.next_seq;
        mem.write(
            (pos % mem.len() as u64) as usize + payload_offset(len),
            &seq.to_le_bytes(),
        );
        commit(ctl, mem, st, pos, len, 0);
    }

    /// Regression for the lapped-subscriber livelock: the publisher (here: an adversary that
    /// publishes one more frame during every copy, as one with no idle time does) destroys the
    /// oldest frame at each publish. A lapped subscriber that landed on the oldest frame lost
    /// every attempt, for ever; landing on the newest, it gets a whole frame at once.
    #[test]
    fn a_lapped_subscriber_wins_against_a_publisher_that_never_idles() {
        let ring = 4096u64;
        let ctl = ctl(ring);
        let mem = Words((0..ring as usize / 8).map(|_| AtomicU64::new(0)).collect());
        let mut st = PubState::new();
        let len = 900; // 960 bytes a frame: four in the ring
        let mut sub = SubState {
            pos: 0,
            next_seq: 1,
        };
        // Lap the subscriber.
        for _ in 0..10 {
            send(&ctl, &mem, &mut st, len);
        }
        let pub_state = std::cell::RefCell::new(st);
        let mut copies = 0;
        let got = try_receive(&ctl, &mem, &mut sub, len, false, |off, _| {
            copies += 1;
            assert!(copies < 100, "no progress: the subscriber keeps losing");
            let mut seq = [0u8; 8];
            mem.read(off, &mut seq);
            // The publisher publishes once more while we copy.
            send(&ctl, &mem, &mut pub_state.borrow_mut(), len);
        })
        .unwrap()
        .expect("a frame");
        assert!(copies <= 2, "{copies} copies for one frame");
        assert_eq!(got.r.seq, 10, "the newest frame at the time of the lap");
        assert_eq!(got.r.lost, 9);
    }

    /// A subscriber that can never win (the ring is too small for it to copy a frame before the
    /// publisher overwrites it: here, every copy is overwritten) does not spin for ever: after a
    /// bounded number of attempts it reports "nothing now", at the tail.
    #[test]
    fn a_subscriber_that_cannot_win_gives_up_after_bounded_attempts() {
        let ring = 4096u64;
        let ctl = ctl(ring);
        let mem = Words((0..ring as usize / 8).map(|_| AtomicU64::new(0)).collect());
        let st = std::cell::RefCell::new(PubState::new());
        for _ in 0..10 {
            send(&ctl, &mem, &mut st.borrow_mut(), 900);
        }
        let mut sub = SubState {
            pos: 0,
            next_seq: 1,
        };
        let mut copies = 0;
        let got = try_receive(&ctl, &mem, &mut sub, 900, false, |_, _| {
            copies += 1;
            // Four frames per copy: the whole ring turns over while we read.
            for _ in 0..4 {
                send(&ctl, &mem, &mut st.borrow_mut(), 900);
            }
        })
        .unwrap();
        assert!(got.is_none(), "{got:?}");
        assert!(copies <= MAX_ATTEMPTS + 1, "{copies} attempts");
        assert_eq!(
            sub.pos,
            ctl.pos.tail.load(Ordering::Relaxed),
            "left at the tail"
        );
    }
}

/// Model checks of the reserve/commit/receive/join protocol
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
        fn commit_load(&self, off: usize) -> u64 {
            self.0[(off + COMMIT_OFF) / 8].load(Ordering::Acquire)
        }
        fn commit_store(&self, off: usize, value: u64, release: bool) {
            let order = if release {
                Ordering::Release
            } else {
                Ordering::Relaxed
            };
            self.0[(off + COMMIT_OFF) / 8].store(value, order);
        }
    }

    /// A ring of 256 bytes: four 64-byte frames of 8-byte payloads (three in flight, as the
    /// header after the newest frame is reserved too).
    const RING_WORDS: usize = 32;

    fn ctl() -> StreamCtl {
        StreamCtl {
            pos: Positions {
                tail: AtomicU64::new(0),
                newest: AtomicU64::new(0),
                next_seq: AtomicU64::new(1),
                frames: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                last_ns: AtomicU64::new(0),
            },
            reclaim: Reclaim {
                oldest: AtomicU64::new(0),
            },
            cfg: Config {
                ring_len: AtomicU64::new((RING_WORDS * 8) as u64),
                max_frame: AtomicU64::new(8),
                policy: AtomicU32::new(0),
                max_subscribers: AtomicU32::new(1),
            },
            space: Event::new(),
        }
    }

    fn ring() -> Words {
        Words((0..RING_WORDS).map(|_| AtomicU64::new(0)).collect())
    }

    /// Preemptions the models explore: two, or one through the small-frame paths, whose
    /// fallback to the general path makes each step longer (two there too when deep).
    fn preemptions(small: bool) -> usize {
        if small && !crate::sync::loom_deep() {
            1
        } else {
            2
        }
    }

    /// Receives the next frame with its payload: `small`: through `try_receive_small` first
    /// (then `try_receive`, as a subscriber does); `between` runs while the general path reads
    /// the payload, between two reads of it (the second is returned too).
    fn receive(
        ctl: &StreamCtl,
        mem: &Words,
        st: &mut SubState,
        protected: bool,
        small: bool,
        mut between: impl FnMut(),
    ) -> Option<(Received, [u8; 8], [u8; 8])> {
        let mut out = [0u8; SMALL];
        if small {
            if let Some(r) = try_receive_small(ctl, mem, st, 8, protected, &mut out) {
                assert_eq!(r.len, 8);
                let p: [u8; 8] = out[..8].try_into().unwrap();
                return Some((r, p, p));
            }
        }
        let (mut payload, mut again) = ([0u8; 8], [0u8; 8]);
        let got = try_receive(ctl, mem, st, 8, protected, |off, len| {
            assert_eq!(len, 8);
            mem.read(off, &mut payload);
            between();
            mem.read(off, &mut again);
        })
        .unwrap()?;
        Some((got.r, payload, again))
    }

    /// Publishes one frame whose 8-byte payload is its own seq; `small`: through
    /// `send_small` where it applies (the general path where it does not).
    fn send(
        ctl: &StreamCtl,
        mem: &Words,
        st: &mut PubState,
        block: bool,
        small: bool,
        room: impl FnMut(u64, Room) -> Option<u64>,
    ) {
        if small && send_small(ctl, mem, st, &st.next_seq.to_le_bytes(), 0, block).is_some() {
            return;
        }
        let pos = reserve(ctl, mem, st, 8, block, room).unwrap();
        mem.write(
            (pos % 256) as usize + payload_offset(8),
            &st.next_seq.to_le_bytes(),
        );
        commit(ctl, mem, st, pos, 8, 0);
    }

    /// The publisher sends frames whose 8-byte payload is their own seq, into a ring of four
    /// frames (so it laps a slow subscriber); the subscriber checks every frame it accepts is
    /// whole (payload == seq) and that seq == expected + lost: losses are counted exactly. The
    /// subscriber may poll only the commit word (the spin path) — a frame it accepts is still
    /// whole.
    #[test]
    fn frames_are_whole_and_losses_exact() {
        frames_are_whole_and_losses_exact_through(false);
    }

    /// The same through the small-frame paths (`send_small`, `try_receive_small`).
    #[test]
    fn small_frames_are_whole_and_losses_exact() {
        frames_are_whole_and_losses_exact_through(true);
    }

    fn frames_are_whole_and_losses_exact_through(small: bool) {
        // Five frames through a ring of four lap the subscriber; deep: six.
        let sends: u64 = if crate::sync::loom_deep() { 6 } else { 5 };
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions(small));
        b.check(move || {
            let shared = Arc::new((ctl(), ring()));
            let p = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ctl, mem) = &*shared;
                    let mut st = PubState::new();
                    for _ in 0..sends {
                        send(ctl, mem, &mut st, false, small, |_, _| Some(u64::MAX));
                    }
                })
            };
            let (ctl, mem) = &*shared;
            let mut st = SubState {
                pos: 0,
                next_seq: 1,
            };
            for _ in 0..3 {
                if let Some((r, payload, _)) = receive(ctl, mem, &mut st, false, small, || {}) {
                    assert_eq!(
                        u64::from_le_bytes(payload),
                        r.seq,
                        "a torn or misplaced frame"
                    );
                    assert!(r.seq >= 1 && r.seq <= sends);
                    assert_eq!(st.next_seq, r.seq + 1);
                }
            }
            p.join().unwrap();
            // After the publisher is done, the subscriber drains to the end.
            let mut seen = 0;
            while let Some((r, _, _)) = receive(ctl, mem, &mut st, false, small, || {}) {
                seen = r.seq;
            }
            assert!(seen == 0 || seen == sends, "drained to {seen}");
        });
    }

    /// `Block`: the publisher waits until the subscriber's cursor has passed the bytes it is
    /// about to overwrite; the subscriber stores its cursor (Release) after reading. Five frames
    /// through a four-frame ring (so the publisher must wait): every frame whole, none lost.
    #[test]
    fn block_never_overwrites_an_unread_frame() {
        block_never_overwrites_an_unread_frame_through(false);
    }

    /// The same through the small-frame paths.
    #[test]
    fn block_never_overwrites_an_unread_small_frame() {
        block_never_overwrites_an_unread_frame_through(true);
    }

    fn block_never_overwrites_an_unread_frame_through(small: bool) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions(small));
        b.check(move || {
            let shared = Arc::new((ctl(), ring(), AtomicU64::new(0)));
            let p = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ctl, mem, cursor) = &*shared;
                    let mut st = PubState::new();
                    for _ in 0..5 {
                        send(ctl, mem, &mut st, true, small, |floor: u64, _| {
                            // SYNC: Acquire pairs with the subscriber's Release cursor store.
                            loop {
                                let c = cursor.load(Ordering::Acquire);
                                if c >= floor {
                                    return Some(c);
                                }
                                loom::thread::yield_now();
                            }
                        });
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
                match receive(ctl, mem, &mut st, true, small, || {}) {
                    Some((r, payload, _)) => {
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

    /// `Block` with a subscriber that joins while the publisher reclaims space: the join
    /// handshake (`join_position`) against the publisher's re-scan after it moves `oldest`.
    /// Whatever the interleaving, the late joiner reads every frame from where it joined whole
    /// (the publisher never overwrites it under the reader, which reads each payload twice),
    /// and loses none.
    #[test]
    fn a_late_joiner_is_never_overwritten() {
        a_late_joiner_is_never_overwritten_through(false);
    }

    /// The same through the small-frame paths.
    #[test]
    fn a_late_joiner_of_small_frames_is_never_overwritten() {
        a_late_joiner_is_never_overwritten_through(true);
    }

    fn a_late_joiner_is_never_overwritten_through(small: bool) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions(small));
        b.check(move || {
            // owner (0: no subscriber yet), cursor
            let shared = Arc::new((ctl(), ring(), AtomicU64::new(0), AtomicU64::new(0)));
            let p = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ctl, mem, owner, cursor) = &*shared;
                    let mut st = PubState::new();
                    for _ in 0..5 {
                        send(ctl, mem, &mut st, true, small, |floor: u64, _| {
                            // SYNC: Acquire pairs with the joiner's claim and cursor stores
                            // (the SeqCst fences of the handshake order them against `oldest`).
                            loop {
                                if owner.load(Ordering::Acquire) == 0 {
                                    return Some(u64::MAX);
                                }
                                let c = cursor.load(Ordering::Acquire);
                                if c >= floor {
                                    return Some(c);
                                }
                                loom::thread::yield_now();
                            }
                        });
                    }
                })
            };
            let (ctl, mem, owner, cursor) = &*shared;
            // Join late: claim the slot (its cursor at 0 holds the publisher back), then the
            // handshake.
            owner.store(1, Ordering::SeqCst);
            let pos = join_position(ctl, cursor, JoinAt::Oldest);
            let mut st = SubState {
                pos,
                next_seq: seq_at(ctl, mem, pos),
            };
            for _ in 0..2 {
                let (got, payload, again) = loop {
                    match receive(ctl, mem, &mut st, true, small, loom::thread::yield_now) {
                        Some(g) => break g,
                        None => loom::thread::yield_now(),
                    }
                };
                assert_eq!(payload, again, "overwritten while read in place");
                assert_eq!(u64::from_le_bytes(payload), got.seq, "a torn frame");
                assert_eq!(got.lost, 0, "a joined Block subscriber lost a frame");
                cursor.store(st.pos, Ordering::Release);
            }
            owner.store(0, Ordering::SeqCst);
            p.join().unwrap();
        });
    }
}
