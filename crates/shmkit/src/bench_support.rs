//! The operating system's bare primitives, for benchmarks that compare shmkit with the physical
//! limits of this machine (`shmkit bench`, `cargo bench`). Not a stable API (hidden from the docs).

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `*word == expected` (a process-shared futex on Linux); `false` on timeout.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    crate::sys::futex_wait(word, expected, timeout)
}

/// Wakes up to `count` sleepers of `word`.
pub fn futex_wake(word: &AtomicU32, count: u32) {
    crate::sys::futex_wake(word, count)
}

/// A local stream socket for the socket baseline: a Unix domain socket where there are
/// such, TCP on the loopback interface elsewhere.
pub use crate::sys::{LocalListener, LocalStream};

/// Pins the calling thread to CPU `cpu`; `false` where that is not possible.
pub fn pin_to_cpu(cpu: usize) -> bool {
    crate::sys::pin_to_cpu(cpu)
}

/// Listens at `path` (a Unix socket's path, or a file holding the loopback port).
pub fn local_listen(path: &std::path::Path) -> std::io::Result<LocalListener> {
    crate::sys::local_listen(path)
}

/// Accepts one connection.
pub fn local_accept(l: &LocalListener) -> std::io::Result<LocalStream> {
    crate::sys::local_accept(l)
}

/// Connects to a listener made by [`local_listen`].
pub fn local_connect(path: &std::path::Path) -> std::io::Result<LocalStream> {
    crate::sys::local_connect(path)
}

/// `len` bytes of `buf` from its first page boundary on: where a copy benchmark's buffers
/// start, so that a baseline does not depend on where the allocator put them (a copy whose
/// destination lies 1 to 31 bytes past its source modulo 4 KiB runs ten times slower on the
/// AMD EPYC we measure on: `cargo bench -p shmkit --bench segment -- copy/`). Give `buf` 4 KiB
/// more than `len`.
///
/// # Panics
/// If `buf` is too short for that.
pub fn page_aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let at = buf.as_ptr().align_offset(4096);
    &mut buf[at..at + len]
}

/// The wrapping sum of `bytes` as little-endian 64-bit words (the tail bytes added one by
/// one): reads every byte at memory speed. Throughput benchmarks run it on every frame.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut sum = 0u64;
    for c in &mut chunks {
        sum = sum.wrapping_add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    for &b in chunks.remainder() {
        sum = sum.wrapping_add(u64::from(b));
    }
    sum
}

/// [`checksum`] of `len` bytes at `offset` of a segment's data, read in place.
///
/// # Panics
/// If the range is outside the data.
pub fn checksum_in(seg: &crate::Segment, offset: usize, len: usize) -> u64 {
    assert!(
        offset.checked_add(len).is_some_and(|e| e <= seg.len()),
        "range outside the data"
    );
    // SAFETY: inside the mapped data region (checked above). Another process may be writing
    // these bytes; the benchmarks' protocols make sure it is not, and plain bytes have no
    // invalid values either way.
    let bytes = unsafe { std::slice::from_raw_parts(seg.as_ptr().add(offset), len) };
    checksum(bytes)
}

/// Fills `buf` with a pattern derived from `seed` (an arithmetic sequence of 64-bit words)
/// in one pass of stores — what a zero-copy producer writes into a loan — and returns its
/// [`checksum`], computed in closed form rather than by reading the bytes back.
pub fn fill(buf: &mut [u8], seed: u64) -> u64 {
    const STEP: u64 = 0x5851_f42d_4c95_7f2d;
    let start = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = buf.chunks_exact_mut(8);
    let words = chunks.len() as u64;
    for (k, c) in (&mut chunks).enumerate() {
        c.copy_from_slice(
            &start
                .wrapping_add(STEP.wrapping_mul(k as u64))
                .to_le_bytes(),
        );
    }
    let last = start.wrapping_add(STEP.wrapping_mul(words));
    let rest = chunks.into_remainder();
    for b in rest.iter_mut() {
        *b = last as u8;
    }
    // sum of start + k·STEP for k < words, plus the tail bytes.
    let pairs = if words % 2 == 0 {
        (words / 2).wrapping_mul(words.wrapping_sub(1))
    } else {
        words.wrapping_mul(words.wrapping_sub(1) / 2)
    };
    words
        .wrapping_mul(start)
        .wrapping_add(STEP.wrapping_mul(pairs))
        .wrapping_add((rest.len() as u64).wrapping_mul(u64::from(last as u8)))
}

/// The 32-bit word at byte `offset` of a segment's data, for raw-atomics and raw-futex
/// baselines between processes.
///
/// # Panics
/// If the word is not inside the data or not 4-byte aligned, or the handle is read-only.
pub fn word(seg: &crate::Segment, offset: usize) -> &AtomicU32 {
    assert!(
        offset % 4 == 0 && offset + 4 <= seg.len(),
        "word {offset} outside the data"
    );
    let p = seg.as_mut_ptr().expect("a read-write segment");
    // SAFETY: inside the mapped, writable data region (checked above), 4-byte aligned (the
    // data region is page-aligned); an AtomicU32 is valid for any bits and for concurrent
    // access, and the reference cannot outlive `seg`.
    unsafe { &*p.add(offset).cast::<AtomicU32>() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fill_returns_the_checksum_of_what_it_wrote() {
        for len in [0, 1, 7, 8, 9, 64, 1000, 65_536 + 3] {
            let mut buf = vec![0u8; len];
            let sum = super::fill(&mut buf, len as u64 + 5);
            assert_eq!(sum, super::checksum(&buf), "len {len}");
        }
    }

    #[test]
    fn page_aligned_starts_on_a_page() {
        let mut buf = vec![0u8; 100 + 4096];
        let p = super::page_aligned(&mut buf, 100);
        assert_eq!((p.as_ptr() as usize % 4096, p.len()), (0, 100));
    }
}
