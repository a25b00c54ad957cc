//! Copies to and from memory that other processes may be writing, and a view type for such
//! bytes.
//!
//! # Why not `&[u8]` and `memcpy`
//!
//! A `&[u8]` promises the compiler that the bytes do not change while the reference lives: it
//! may read them twice and rely on getting the same answer both times (a length checked once and
//! used twice, a branch taken on a byte it reloads). Bytes in a segment are written by other
//! processes whenever they like, so shmkit never forms a `&[u8]` over them unless its protocol
//! excludes every writer for the reference's whole life (the `# Safety` section or the `SAFETY`
//! comment of each such place names the protocol step), and never reads them with plain loads.
//!
//! Reads of shared bytes go through [`copy_out`]: every byte is read exactly once, by accesses
//! the compiler may neither repeat nor elide — volatile loads, or on x86-64 for large copies an
//! `asm!` block (`rep movsb`, or a loop of AVX moves), which the compiler treats as an opaque
//! operation reading each source byte once (what `atomic-maybe-uninit` and the per-byte atomic
//! `memcpy` of C++ P1478 rely on). The copy lands in private memory, where the protocol then
//! validates it (a seqlock version, a stream's `oldest` mark) before anyone looks at it. Writes
//! that other processes may race with (plain [`Segment::write`](crate::Segment::write), which
//! follows no protocol) go through [`copy_in`] the same way.
//!
//! Writers that the protocol makes the only writer of some bytes (the publisher filling a
//! frame it reserved, a cell writer filling the slot it holds under the lock) may use plain
//! writes and even hand out `&mut [u8]`: other processes only read those bytes, which cannot
//! change what the writer observes.
//!
//! # Speed
//!
//! Measured on the development VM (an AMD EPYC; `cargo bench -p shmkit --bench cell`, and a
//! side-by-side of the candidates): below 256 bytes, 16-byte volatile SSE2 loads are within 2x
//! of `memcpy` at a few nanoseconds; word-by-word volatile or atomic loads are 1.2–3x slower at
//! every size, so they are only the fallback for other architectures. From 256 bytes on, an
//! `asm!` loop of 32-byte AVX moves (when the CPU has AVX) runs at `memcpy`'s speed or better:
//! 21–24 ns for 1 KiB against glibc's 20 and the SSE2 loop's 27–31. From 4 KiB on, `rep movsb`
//! matches the AVX loop and glibc's `memcpy` (glibc uses the same instruction there) and beats
//! them by up to a fifth at 8 MiB —
//!
//! — except when the destination lies 1 to 31 bytes past the source modulo 4 KiB ("4K
//! aliasing"): there `rep movsb` on this CPU runs 14–27x slower (4 KiB: 2.4 µs instead of 90
//! ns; 64 KiB: 38 µs instead of 1.9 µs; 1 MiB: 600 µs instead of 43 µs). Which distance a copy
//! gets is not in shmkit's hands (a caller's buffer from `malloc` meets a slot in the ring), so
//! one copy in a hundred-odd would take that path, and a large buffer from `mmap` (page offset
//! 16) could take it every time. Copies whose distance is under 64 bytes modulo 4 KiB (a margin
//! over the 31 measured) therefore take the AVX loop at every size, which loses at most half its
//! speed there (4 KiB: 68–105 ns against 44–58).

use std::fmt;
use std::marker::PhantomData;

/// From this many bytes on, x86-64 copies with `rep movsb` (unless 4K-aliased, see the module
/// docs).
#[cfg(all(target_arch = "x86_64", not(miri)))]
const MOVSB_FROM: usize = 4096;

/// From this many bytes on, x86-64 copies with AVX when it has it (below, a loop of 16-byte
/// lanes is as fast).
const BULK_FROM: usize = 256;

/// Copies the bulk of `len` bytes from `src` to `dst` with one opaque `asm!` block — which reads
/// each source byte once and writes each destination byte once, so either side may be shared
/// memory that other processes write — and returns how many bytes it copied (a prefix; the
/// caller copies the rest). 0 when `len` is too short to gain, on other architectures, and
/// under Miri (which runs no `asm!`: the caller's volatile loops do it all).
///
/// # Safety
/// `src..src + len` readable and `dst..dst + len` writable for the whole call, not overlapping.
#[inline]
unsafe fn copy_bulk(src: *const u8, dst: *mut u8, len: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        if len < BULK_FROM {
            return 0;
        }
        let aliased = (dst as usize).wrapping_sub(src as usize) % 4096 < 64;
        if len >= MOVSB_FROM && !aliased {
            // SAFETY: the ranges are valid (the caller's promise). `rep movsb` reads each source
            // byte once and writes each destination byte once; the direction flag is clear per
            // the ABI.
            unsafe {
                std::arch::asm!(
                    "rep movsb",
                    inout("rcx") len => _,
                    inout("rdi") dst => _,
                    inout("rsi") src => _,
                    options(nostack, preserves_flags)
                );
            }
            return len;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX (checked just above); the ranges are the caller's.
            return unsafe { copy_avx(src, dst, len) };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = (src, dst, len);
    0
}

/// Copies `len / 128` blocks of 128 bytes with unaligned 32-byte moves; returns the bytes
/// copied.
///
/// # Safety
/// As for [`copy_bulk`]; the CPU must have AVX.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx")]
unsafe fn copy_avx(src: *const u8, dst: *mut u8, len: usize) -> usize {
    let blocks = len / 128;
    if blocks == 0 {
        return 0;
    }
    // SAFETY: `blocks * 128 <= len` bytes at `src` and `dst`, valid per the caller; each source
    // byte is loaded once and each destination byte stored once, by unaligned moves (any
    // address). `vzeroupper` leaves the upper halves clean for SSE code after us.
    unsafe {
        std::arch::asm!(
            "2:",
            "vmovdqu ymm0, [{s}]",
            "vmovdqu ymm1, [{s} + 32]",
            "vmovdqu ymm2, [{s} + 64]",
            "vmovdqu ymm3, [{s} + 96]",
            "vmovdqu [{d}], ymm0",
            "vmovdqu [{d} + 32], ymm1",
            "vmovdqu [{d} + 64], ymm2",
            "vmovdqu [{d} + 96], ymm3",
            "add {s}, 128",
            "add {d}, 128",
            "dec {n}",
            "jnz 2b",
            "vzeroupper",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            n = inout(reg) blocks => _,
            out("ymm0") _,
            out("ymm1") _,
            out("ymm2") _,
            out("ymm3") _,
            options(nostack),
        );
    }
    blocks * 128
}

/// Copies `dst.len()` bytes from shared memory at `src` into `dst`, reading each source byte once.
///
/// # Safety
/// `src..src + dst.len()` must be mapped and readable for the whole call. Other processes may
/// write it meanwhile: the copy is then a mix of old and new bytes, which the caller must
/// validate before trusting it.
#[inline]
pub(crate) unsafe fn copy_out(src: *const u8, dst: &mut [u8]) {
    // SAFETY: the caller's promise; `dst` is private memory of that length.
    unsafe { copy_out_raw(src, dst.as_mut_ptr(), dst.len()) }
}

/// As [`copy_out`], into `len` bytes at `dst`, which may be uninitialised (a `Vec`'s spare
/// capacity: no zero-fill before the copy).
///
/// # Safety
/// As for [`copy_out`]; `dst..dst + len` must be private, writable memory not overlapping `src`.
#[inline]
pub(crate) unsafe fn copy_out_raw(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller's promise, passed on.
    let mut i = unsafe { copy_bulk(src, dst, len) };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_storeu_si128};
        /// An unaligned 16-byte lane, so that the volatile load may be unaligned.
        #[repr(C, packed)]
        #[derive(Clone, Copy)]
        struct Lane(__m128i);
        while i + 16 <= len {
            // SAFETY: `src + i .. + 16` is inside the source range; `Lane` has alignment 1, so
            // the volatile load is allowed at any address; the store goes to private memory.
            unsafe {
                let v = std::ptr::read_volatile(src.add(i).cast::<Lane>()).0;
                _mm_storeu_si128(dst.add(i).cast::<__m128i>(), v);
            }
            i += 16;
        }
    }
    while i + 8 <= len {
        // SAFETY: inside both ranges; unaligned accesses through `[u8; 8]` (alignment 1).
        unsafe {
            let v = std::ptr::read_volatile(src.add(i).cast::<[u8; 8]>());
            dst.add(i).cast::<[u8; 8]>().write(v);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: inside both ranges.
        unsafe { dst.add(i).write(std::ptr::read_volatile(src.add(i))) };
        i += 1;
    }
}

/// Copies `src` into `dst` (same length), bytes that only this writer writes while it copies (a
/// cell's slot under the lock): an ordinary copy, but the large ones through [`copy_bulk`], which
/// keeps clear of the 4K-aliasing slow path that glibc's `memcpy` takes at these sizes too.
///
/// # Panics
/// If the lengths differ (as `copy_from_slice`).
#[inline]
pub(crate) fn copy_owned(dst: &mut [u8], src: &[u8]) {
    if src.len() < BULK_FROM {
        // Small: what the caller would have written, inline (a publish of 64 bytes costs
        // about 30 ns in all; a call and the bulk checks showed in it).
        dst.copy_from_slice(src);
    } else {
        copy_owned_bulk(dst, src);
    }
}

#[inline(never)]
fn copy_owned_bulk(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_owned of unequal lengths");
    // SAFETY: two distinct slices (one `&mut`), each valid for its whole length.
    let done = unsafe { copy_bulk(src.as_ptr(), dst.as_mut_ptr(), src.len()) };
    dst[done..].copy_from_slice(&src[done..]);
}

/// Copies `src` into shared memory at `dst`, writing each destination byte once.
///
/// # Safety
/// `dst..dst + src.len()` must be mapped and writable for the whole call, and must not overlap
/// `src`.
#[inline]
pub(crate) unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let src = src.as_ptr();
    // SAFETY: the caller's promise, passed on.
    let mut i = unsafe { copy_bulk(src, dst, len) };
    while i + 8 <= len {
        // SAFETY: inside both ranges; unaligned accesses through `[u8; 8]`.
        unsafe {
            let v = src.add(i).cast::<[u8; 8]>().read();
            std::ptr::write_volatile(dst.add(i).cast::<[u8; 8]>(), v);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: inside both ranges.
        unsafe { std::ptr::write_volatile(dst.add(i), src.add(i).read()) };
        i += 1;
    }
}

/// Bytes that lie in shared memory, where another process may change them at any moment: a
/// view you copy out of, never a `&[u8]`.
///
/// It is what a zero-copy receive hands out when the protocol cannot keep writers away for the
/// view's whole life ([`Policy::Overwrite`](crate::stream::Policy) frames): read what you need
/// with [`copy_to_slice`](Self::copy_to_slice), [`to_vec`](Self::to_vec) or
/// [`get`](Self::get), then ask the frame whether it was still intact.
///
/// ```
/// use shmkit::stream::{Publisher, Subscriber};
/// use std::time::Duration;
///
/// # let name = format!("doc-shbytes-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, 1024)?;
/// let mut subscriber = Subscriber::open(&name)?;
/// publisher.send(b"in place")?;
/// let frame = subscriber.recv_view(Duration::from_secs(1))?;
/// let mut head = [0u8; 2];
/// frame.bytes().copy_to_slice(0, &mut head);
/// assert_eq!(&head, b"in");
/// assert!(frame.is_intact()); // the publisher did not overwrite it while we read
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SharedBytes<'a> {
    ptr: *const u8,
    len: usize,
    _mapping: PhantomData<&'a ()>,
}

// SAFETY: a `SharedBytes` only reads through volatile copies; the mapping it borrows is shared
// with other processes anyway, so another thread of ours reading it changes nothing.
unsafe impl Send for SharedBytes<'_> {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedBytes<'_> {}

impl<'a> SharedBytes<'a> {
    /// A view of `len` bytes at `ptr`: for code that holds memory shmkit handed out without a
    /// borrow ([`DetachedFrame::as_ptr`](crate::stream::DetachedFrame::as_ptr), a language
    /// binding's buffers) and wants its copies — each byte read once, never a `&[u8]` over
    /// bytes that may change.
    ///
    /// ```
    /// use shmkit::SharedBytes;
    ///
    /// let data = *b"any bytes another thread or process may be writing";
    /// // SAFETY: `data` is readable for its whole length and outlives the view.
    /// let view = unsafe { SharedBytes::from_raw_parts(data.as_ptr(), data.len()) };
    /// assert_eq!(view.to_vec(), data);
    /// ```
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay mapped and readable for `'a`. Others may write it meanwhile
    /// (that is what the type is for): copies are then a mix of old and new bytes.
    pub unsafe fn from_raw_parts(ptr: *const u8, len: usize) -> SharedBytes<'a> {
        SharedBytes {
            ptr,
            len,
            _mapping: PhantomData,
        }
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the first byte (for handing to code that reads shared memory itself).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The byte at `index`, read once; `None` past the end.
    pub fn get(&self, index: usize) -> Option<u8> {
        // SAFETY: `index < len`, inside the mapped range for 'a.
        (index < self.len).then(|| unsafe { std::ptr::read_volatile(self.ptr.add(index)) })
    }

    /// Copies `dst.len()` bytes starting at `offset` into `dst`.
    ///
    /// # Panics
    /// If the range runs past the end of the view (as slice indexing would).
    pub fn copy_to_slice(&self, offset: usize, dst: &mut [u8]) {
        let end = offset.checked_add(dst.len());
        assert!(
            end.is_some_and(|e| e <= self.len),
            "bytes {offset}..{} of a {}-byte view",
            offset.saturating_add(dst.len()),
            self.len
        );
        // SAFETY: the range is inside the view (asserted), mapped for 'a.
        unsafe { copy_out(self.ptr.add(offset), dst) }
    }

    /// Copies all bytes into `buf`, replacing its contents and reusing its allocation.
    pub fn read_into(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.reserve(self.len);
        // SAFETY: the source is the view (mapped for 'a); the destination is `buf`'s spare
        // capacity of at least `len` bytes, private; the copy initialises exactly `len` bytes.
        unsafe {
            copy_out_raw(self.ptr, buf.as_mut_ptr(), self.len);
            buf.set_len(self.len);
        }
    }

    /// Hands all bytes to `f`, a piece at a time, in order: each piece (up to 4 KiB, a multiple
    /// of 8 bytes but for the last) is first copied into a buffer on the stack. Reads every
    /// byte once, at memory speed, without a `&[u8]` over shared memory or a copy of the whole —
    /// for checksums, decoders and the like.
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = [0u8; 4096];
        let mut off = 0;
        while off < self.len {
            let n = (self.len - off).min(buf.len());
            // SAFETY: `off + n <= len`: inside the view, mapped for 'a; `buf` is private.
            unsafe { copy_out(self.ptr.add(off), &mut buf[..n]) };
            f(&buf[..n]);
            off += n;
        }
    }

    /// All bytes, copied into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.read_into(&mut v);
        v
    }

    /// The bytes as an ordinary slice.
    ///
    /// # Safety
    /// No process may write these bytes while the slice lives. shmkit's protocols guarantee it
    /// only where the type that handed out this view says so; otherwise it is a promise about
    /// your peers.
    pub unsafe fn as_slice(&self) -> &'a [u8] {
        // SAFETY: mapped for 'a; the caller promises no writer for the slice's life.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl fmt::Debug for SharedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBytes")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length_and_alignment_exactly() {
        let src: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for len in [0, 1, 7, 8, 15, 16, 17, 63, 64, 100, 4095, 4096, 4097, 9000] {
            for shift in [0, 1, 3, 8, 13] {
                let s = &src[shift..shift + len];
                let mut out = vec![0xAAu8; len + 2];
                // SAFETY: `s` is readable for `len` bytes; `out[1..]` is private.
                unsafe { copy_out(s.as_ptr(), &mut out[1..=len]) };
                assert_eq!(&out[1..=len], s, "out len {len} shift {shift}");
                assert_eq!((out[0], out[len + 1]), (0xAA, 0xAA), "no write outside");
                let mut dst = vec![0x55u8; len + 2];
                // SAFETY: `dst[1..]` is writable for `len` bytes and does not overlap `s`.
                unsafe { copy_in(dst.as_mut_ptr().add(1), s) };
                assert_eq!(&dst[1..=len], s, "in len {len} shift {shift}");
                assert_eq!((dst[0], dst[len + 1]), (0x55, 0x55), "no write outside");
            }
        }
    }

    /// Every path of the bulk copy (`rep movsb`, the AVX loop, the tails after it) at distances
    /// modulo 4 KiB on both sides of the aliasing margin, in all three copies.
    #[test]
    fn copies_at_every_distance_modulo_a_page() {
        let src: Vec<u8> = (0..80_000u32).map(|i| (i * 13 + i / 509) as u8).collect();
        let mut out = vec![0u8; 80_000 + 3 * 4096];
        // A page boundary with a byte before it (checked for stray writes), whatever the
        // allocator returned.
        let base = out.as_mut_ptr().align_offset(4096) + 4096;
        let src_at = src.as_ptr().align_offset(4096);
        for len in [255, 256, 257, 383, 4095, 4096, 4097, 9000, 70_000] {
            for dist in [0usize, 1, 8, 16, 31, 32, 63, 64, 100, 2048, 4095] {
                let s = &src[src_at..src_at + len];
                let at = base + dist;
                out.fill(0xAA);
                // SAFETY: `s` is readable for `len` bytes; `out[at..at + len]` is private and
                // in bounds (`at + len < base + 4096 + 70_000 <= out.len()`).
                unsafe { copy_out(s.as_ptr(), &mut out[at..at + len]) };
                assert_eq!(&out[at..at + len], s, "out len {len} distance {dist}");
                assert_eq!(
                    (out[at - 1], out[at + len]),
                    (0xAA, 0xAA),
                    "no write outside"
                );
                out.fill(0x55);
                // SAFETY: as above, the other way round.
                unsafe { copy_in(out.as_mut_ptr().add(at), s) };
                assert_eq!(&out[at..at + len], s, "in len {len} distance {dist}");
                assert_eq!(
                    (out[at - 1], out[at + len]),
                    (0x55, 0x55),
                    "no write outside"
                );
            }
        }
    }

    #[test]
    fn a_view_reads_what_is_there_and_refuses_past_the_end() {
        let data = b"shared bytes".to_vec();
        // SAFETY: `data` outlives the view.
        let v = unsafe { SharedBytes::from_raw_parts(data.as_ptr(), data.len()) };
        assert_eq!(v.to_vec(), data);
        assert_eq!(v.get(0), Some(b's'));
        assert_eq!(v.get(12), None);
        let mut chunks = Vec::new();
        v.for_each_chunk(|c| chunks.extend_from_slice(c));
        assert_eq!(chunks, data);
        let mut two = [0u8; 2];
        v.copy_to_slice(10, &mut two);
        assert_eq!(&two, b"es");
        let r = std::panic::catch_unwind(|| v.copy_to_slice(11, &mut [0u8; 2]));
        assert!(r.is_err());
    }
}
