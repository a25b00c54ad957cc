//! The platform layer: the only place in shmkit with `cfg(target_os)` and raw system calls.
//!
//! One backend file per platform, each exporting the same names (memmap2's `unix.rs` /
//! `windows.rs` shape, std's `futex_wait` / `futex_wake` naming), so the rest of the crate
//! stays free of platform `cfg`s — `.ci/platform-cfg.sh` checks that. A platform without a
//! backend gets `unsupported.rs`, whose calls fail with `Unsupported`, so the crate still
//! compiles there.
//!
//! What every backend provides:
//!
//! | item | meaning |
//! | --- | --- |
//! | `Mapping` | an open segment: its memory mapped, and a *hold* on it that keeps it alive |
//! | `create(name, len, mode, guard, init, reclaim_if)` | reserve `len` bytes, run `init` on them, then publish the name atomically; with `guard`, start its guardian (Linux) |
//! | `open(name, want, reclaim_if)` | open and map an existing segment, taking a hold |
//! | `Mapping::close(unlink_if_last)` | drop the hold; the last holder may remove the name |
//! | `remove`, `reclaim`, `list`, `peek` | remove a name; remove it only if nobody holds it; enumerate; read the first bytes |
//! | `futex_wait`, `futex_wake` | wait for / signal a change of a 32-bit word in shared memory |
//! | `current_process`, `process_alive` | a process identity that survives pid reuse, and a liveness test |
//! | `page_size`, `free_space`, `stat`, `SHM_DIR`, `TEMP_PREFIX` | protection granularity; room left; one entry; where segments live; the prefix of half-built ones |
//! | `size_granule()` | the unit the system sizes shared memory in (1 on Linux, the page size on Windows and macOS): segments are made a whole number of them |
//! | `native_name(name, global)` | the name the backend is given for a portable name in the chosen namespace (`Global\` on Windows; the name itself elsewhere) |
//! | `PERSISTENT_UNSUPPORTED` | `Some(why)` where a segment cannot outlive its handles (Windows) |
//! | `SHM_FILES` | `Some(dir)` where segments are files in a directory (Linux's `/dev/shm`), for tests and messages |
//! | `BACKEND` | the backend's name (`linux`, `windows`, `macos`, `unsupported`), for tests that must know which promises apply |
//! | `GUARDIAN`, `guardians(name)` | whether `LastClose` segments get a guardian process (Linux: `guardian.rs`); the processes guarding `name`, for tests |
//! | `own_uid()` | the user whose crash leftovers this process may sweep away (`stale.rs`); `None` where nothing outlives its handles |
//! | `pin_to_cpu(cpu)` | pins the calling thread to a CPU, for benchmarks; `false` where impossible |
//! | `current_user()` | the effective user id that owns what this process creates (`None` where objects have no numeric owner), for `gc` |
//! | `is_removed(mapping)` | whether the segment's name was removed or now names another segment (always `false` where a held name cannot be removed) |
//!
//! Shared by all: `local_socket.rs`, the benchmarks' socket baseline.
//!
//! `reclaim_if(first_bytes)` lets the portable layer decide whether a segment that nobody holds
//! is an orphan to remove (a `LastClose` segment whose users all died) without the backend
//! knowing the header format.

// `--cfg shmkit_macos_on_linux` runs the macOS backend on Linux (`.ci/macos-on-linux.sh`): its
// registry and lifetime logic uses only calls Linux has too, so the whole test suite checks it
// natively; waiting and process identity then come from the Linux backend.
#[cfg_attr(
    all(
        any(target_os = "linux", target_os = "android"),
        not(shmkit_macos_on_linux)
    ),
    path = "linux.rs"
)]
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(
    any(
        target_vendor = "apple",
        all(target_os = "linux", shmkit_macos_on_linux)
    ),
    path = "macos.rs"
)]
#[cfg_attr(
    not(any(
        target_os = "linux",
        target_os = "android",
        windows,
        target_vendor = "apple"
    )),
    path = "unsupported.rs"
)]
mod imp;

pub(crate) use imp::*;

// What every backend but Linux's shares: no kernel-held liveness proofs, std's wall clock.
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    not(shmkit_macos_on_linux)
)))]
mod no_proofs;

mod local_socket;
// The guardian of `LastClose` segments (Linux). Under `shmkit_macos_on_linux` only the unused
// copy of the Linux backend refers to it.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[cfg_attr(shmkit_macos_on_linux, allow(dead_code))]
mod guardian;
// The mapping code of the Unix backends (Linux, macOS); FreeBSD has none yet.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod unix_map;
pub use local_socket::{LocalListener, LocalStream};
pub(crate) use local_socket::{local_accept, local_connect, local_listen};

/// The degraded wait of the backends that may find no way to sleep on a word (macOS without
/// `os_sync`/`__ulock`; Windows where a waiter may not create the named event): sleep a slice,
/// growing from 1 ms to 50 ms, and let the caller re-check. `false` only when the timeout ran
/// out with the word unchanged.
#[cfg(any(windows, target_vendor = "apple"))]
pub(crate) fn sleep_slice(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout: Option<std::time::Duration>,
) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    // Process-wide backoff: this is the rare degraded mode, so one shared slice is enough.
    static SLICE_MS: AtomicU64 = AtomicU64::new(1);
    if word.load(Ordering::SeqCst) != expected {
        SLICE_MS.store(1, Ordering::Relaxed);
        return true;
    }
    let ms = SLICE_MS.load(Ordering::Relaxed);
    let slice = Duration::from_millis(ms);
    SLICE_MS.store((ms * 2).min(50), Ordering::Relaxed);
    match timeout {
        Some(t) if t <= slice => {
            std::thread::sleep(t);
            word.load(Ordering::SeqCst) != expected
        }
        _ => {
            std::thread::sleep(slice);
            true
        }
    }
}

/// How an `open` wants to access the segment's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Read-only: the whole mapping is read-only.
    Read,
    /// Read-write: the whole mapping is writable.
    ReadWrite,
    /// Read-write if permissions allow (so control words such as the lock and waiter counts can
    /// be written), read-only otherwise. The caller write-protects the data region itself.
    PreferWrite,
}

/// Who holds a segment, as far as the platform can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holders {
    /// These processes hold it (ids as the platform numbers them; may be empty when the count is
    /// known but not the ids).
    Held(Vec<u32>),
    /// Nobody holds it.
    Nobody,
    /// The platform cannot tell (no permission, or no way to enumerate holders).
    Unknown,
}

/// One entry of the platform's shared-memory namespace.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: String,
    pub len: u64,
    pub mode: u32,
    pub uid: u32,
    pub modified_unix_secs: i64,
    pub holders: Holders,
}

/// What `reclaim` did.
// Windows never has an orphan to remove; the unsupported backend never reclaims at all.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_vendor = "apple")),
    allow(dead_code)
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reclaimed {
    /// Nobody held it and the predicate agreed: the name is gone.
    Removed,
    /// Somebody holds it: left alone.
    InUse,
    /// Nobody held it but the predicate said keep it.
    Kept,
    /// It vanished while we looked.
    Gone,
}

/// Foreign shared memory: System V IPC, POSIX named semaphores, and who maps what (for
/// `interop`). Linux only for now; elsewhere every call fails with `Unsupported`.
#[cfg_attr(any(target_os = "linux", target_os = "android"), path = "sysv.rs")]
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android")),
    path = "sysv_unsupported.rs"
)]
pub(crate) mod sysv;
