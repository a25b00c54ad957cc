//! Named shared memory between processes, done right.
//!
//! One process creates a segment by name; others open it by the same name, read-only or
//! read-write. shmkit keeps the promises the classic approach (`shm_open`, `CreateFileMapping`,
//! `QSharedMemory`) leaves to luck:
//!
//! * **No leaks.** By default a segment's name disappears when the last handle anywhere closes
//!   — also when its holders crash or are killed with `kill -9` ([`Lifetime`]): on Linux a
//!   guardian process removes it at once; elsewhere, and if the guardian was killed too, the
//!   next shmkit create, open or `shmkit ls` by the same user does ([`on_stale_removed`]).
//! * **No crash when memory runs out.** The memory is reserved when the segment is created, so
//!   a full `/dev/shm` is an [`ErrorKind::OutOfResources`] error then, never a `SIGBUS` later
//!   (Linux, and Windows' commit limit; macOS has no way to reserve, see *Platforms*).
//! * **A lock that survives its owner.** [`Segment::lock`] returns an RAII guard; if the holder
//!   dies, the next locker gets the lock and is told ([`LockGuard::owner_died`]).
//! * **Read-only means read-only.** The operating system's mapping enforces [`Access::ReadOnly`].
//! * **Untrusted memory stays untrusted.** Any process that can write a segment can write
//!   garbage into it. Every offset and length shmkit reads from shared memory is checked: bad
//!   contents give [`ErrorKind::Corrupt`] or [`ErrorKind::Incompatible`], never a panic or an
//!   out-of-bounds access.
//! * **Waiting without polling.** [`Segment::wait_change`] sleeps on a futex until another
//!   process calls [`Segment::notify_change`]; the notifier makes no system call when nobody
//!   waits.
//!
//! # Example: the classic writer and reader
//!
//! ```
//! use shmkit::{Access, Segment};
//! use std::time::Duration;
//!
//! # let name = format!("doc-lib-{}", std::process::id());
//! // Process A: create the segment and write a text under the lock.
//! let writer = Segment::create(&name, 1024)?;
//! let seen = writer.change_count();
//! {
//!     let _guard = writer.lock()?;
//!     let text = b"hello from the writer";
//!     writer.write(0, &(text.len() as u32).to_le_bytes())?;
//!     writer.write(4, text)?;
//! }
//! writer.notify_change();
//!
//! // Process B: open it read-only, wait for the change, read the text.
//! let reader = Segment::open(&name, Access::ReadOnly)?;
//! reader.wait_change(seen, Some(Duration::from_secs(1)))?;
//! let _guard = reader.lock()?;
//! let mut len = [0u8; 4];
//! reader.read(0, &mut len)?;
//! let mut text = vec![0u8; u32::from_le_bytes(len) as usize];
//! reader.read(4, &mut text)?;
//! assert_eq!(text, b"hello from the writer");
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Platforms
//!
//! Linux, Windows and macOS, with the same API and promises (the README's platform table says
//! how each system keeps them). Everything that touches the operating system lives in one
//! private module; other platforms compile with a backend whose calls fail with
//! [`ErrorKind::Unsupported`]. Where systems really differ, the item's docs say so under
//! *Platform notes*: Windows frees shared memory with its last handle (no
//! [`Lifetime::Persistent`], no [`Segment::remove`] of a held name) and has two namespaces
//! ([`Namespace`]); Windows and macOS size shared memory in whole pages; macOS cannot reserve
//! memory at create.
//!
//! # What it does not do
//!
//! shmkit does not serialise your data, and it does not cross machines. It cannot stop a
//! process that has write access from writing garbage, or from shrinking the file behind a
//! segment (which makes readers fault): give write access only to processes you trust with the
//! data.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
// The loom build compiles only the protocols; the rest is unused there.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

// Under `--cfg loom` only the lock-free protocols are built, with loom's atomics, for the model
// tests (`.ci/loom.sh`); everything that maps real memory needs the real atomics.
pub mod cell;
mod error;
#[cfg(not(loom))]
pub mod interop;
mod layout;
mod lock;
mod name;
mod notify;
#[cfg(not(loom))]
mod segment;
mod stale;
pub mod stream;
mod sync;
mod sys;

#[cfg(not(loom))]
pub use cell::{Cell, CellOptions, Snapshot, TypedCell};
pub use error::{Error, ErrorKind, Op, Result};
pub use layout::Kind;
#[cfg(not(loom))]
pub use lock::LockGuard;
pub use name::{
    IntoName, IntoNativeName, MAX_NAME_LEN, MAX_NATIVE_NAME_LEN, NativeName, SegmentName,
};
#[cfg(not(loom))]
pub use segment::{
    Access, DEFAULT_MODE, Lifetime, Namespace, Segment, SegmentInfo, SegmentKind, SegmentOptions,
    State, human_bytes,
};
pub use stale::{StaleRemoved, on_stale_removed};
pub use sys::Holders;

/// The entry points of the fuzz targets in `fuzz/` (and of the tests that run them over fixed
/// inputs): each takes arbitrary bytes as a segment's contents and must never panic. Not a
/// stable API.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod fuzz_support {
    pub use crate::cell::fuzz_read;
    pub use crate::layout::fuzz_validate_header;
    pub use crate::stream::fuzz_receive;
}

/// The operating system's bare primitives, for benchmarks that compare shmkit with the physical
/// limits of this machine (`shmkit bench`, `cargo bench`). Not a stable API.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod bench_support {
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
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn fill_returns_the_checksum_of_what_it_wrote() {
        for len in [0, 1, 7, 8, 9, 64, 1000, 65_536 + 3] {
            let mut buf = vec![0u8; len];
            let sum = super::bench_support::fill(&mut buf, len as u64 + 5);
            assert_eq!(sum, super::bench_support::checksum(&buf), "len {len}");
        }
    }
}

/// What the tests need to know about the platform they run on, so that they decide at run time
/// (the platform `cfg`s stay in `sys`). Not a stable API.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod test_support {
    /// The backend in use: `linux`, `windows`, `macos` or `unsupported`.
    pub const BACKEND: &str = crate::sys::BACKEND;

    /// Whether a segment can outlive its handles ([`Lifetime::Persistent`](crate::Lifetime)).
    pub const PERSISTENT: bool = crate::sys::PERSISTENT_UNSUPPORTED.is_none();

    /// The directory whose files are the segments (`/dev/shm` on Linux), if there is one.
    pub const SHM_FILES: Option<&str> = crate::sys::SHM_FILES;

    /// Whether a `LastClose` segment gets a guardian process at creation (Linux), which removes
    /// it when its last holder dies even if no shmkit process comes back.
    pub const GUARDIAN: bool = crate::sys::GUARDIAN;

    /// The guardian processes of the segment `name` (Linux: its guard process, or the waiter it
    /// forked, which keep its file open),
    /// or `None` where the platform cannot tell.
    pub fn guardians(name: &str) -> Option<Vec<u32>> {
        crate::sys::guardians(name)
    }
}
