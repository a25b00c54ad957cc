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
//!   out-of-bounds access. Bytes other processes may write are copied out with accesses that
//!   read each byte once and then validated — never read through a `&[u8]` — so no value they
//!   write can cause undefined behaviour here. The exceptions, sound while every writer follows
//!   shmkit's protocol (the trust you give a process by letting it write): a
//!   [`Block`](stream::Policy::Block) stream's in-place views, a publisher's
//!   [`Loan`](stream::Loan) and [`Cell::publish_with`]'s buffer. [`SharedBytes`] is the view type
//!   for everything else.
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
mod format;
#[cfg(not(loom))]
pub mod interop;
mod layout;
mod liveness;
mod lock;
mod name;
#[cfg(not(loom))]
mod notifier;
mod notify;
#[cfg(not(loom))]
mod segment;
mod shared;
mod stale;
pub mod stream;
mod sync;
mod sys;

#[cfg(not(loom))]
pub use cell::{Cell, CellDetails, CellOptions, Snapshot, TypedCell};
pub use error::{Error, ErrorKind, Op, Result};
pub use format::{Format, MAX_MEDIA_TYPE_LEN, Pixel};
pub use layout::Kind;
#[cfg(not(loom))]
pub use lock::LockGuard;
pub use name::{
    IntoName, IntoNativeName, MAX_NAME_LEN, MAX_NATIVE_NAME_LEN, NativeName, SegmentName,
};
#[cfg(not(loom))]
pub use notifier::Notifier;
#[cfg(not(loom))]
pub use segment::{
    Access, DEFAULT_MODE, Details, GcOptions, Lifetime, LockState, Namespace, Segment, SegmentInfo,
    SegmentKind, SegmentOptions, State, human_bytes,
};
#[cfg(not(loom))]
pub use shared::SharedBytes;
pub use stale::{StaleRemoved, on_stale_removed};
pub use sys::Holders;

/// The entry points of the fuzz targets in `fuzz/` (and of the tests that run them over fixed
/// inputs): each takes arbitrary bytes as a segment's contents and must never panic. Not a
/// stable API.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod fuzz_support {
    pub use crate::cell::fuzz_read;
    pub use crate::interop::qt::datastream::fuzz_decode as fuzz_qt_datastream;
    pub use crate::layout::fuzz_validate_header;
    pub use crate::lock::fuzz_lock;
    pub use crate::stream::fuzz_receive;
}

// The operating system's bare primitives for benchmarks (`shmkit bench`, `cargo bench`).
#[doc(hidden)]
#[cfg(not(loom))]
pub mod bench_support;

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
