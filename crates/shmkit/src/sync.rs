//! The atomics every lock-free protocol in shmkit uses, switched to loom's under `cfg(loom)` so
//! that the same protocol code is model-checked (crossbeam-utils' `primitive` module does the
//! same).
//!
//! Under loom, shared memory is ordinary heap memory holding loom atomics, and waiting is a
//! yield: the models check the protocols (lock word, cell sequence, ring cursors), not the
//! operating system.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Whether the loom models run at their deep settings (`SHMKIT_LOOM_DEEP=1 bash .ci/loom.sh`:
/// more preemptions and more values, about 25 minutes, for releases) rather than CI's (under two
/// minutes; every mutation of the protocols tried so far fails them too).
#[cfg(all(loom, test))]
pub(crate) fn loom_deep() -> bool {
    std::env::var_os("SHMKIT_LOOM_DEEP").is_some_and(|v| v == "1")
}

/// A spin-loop hint (or a loom yield, so models make progress).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Sleeps while `*word == expected` (at most `timeout`); `false` on timeout. Spurious returns
/// are allowed: callers re-check. Under loom: a yield.
#[cfg(not(loom))]
#[inline]
pub(crate) fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<std::time::Duration>,
) -> bool {
    crate::sys::futex_wait(word, expected, timeout)
}

/// Wakes every sleeper of `word`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    crate::sys::futex_wake(word, u32::MAX)
}

#[cfg(loom)]
pub(crate) fn futex_wait(
    _word: &AtomicU32,
    _expected: u32,
    _timeout: Option<std::time::Duration>,
) -> bool {
    loom::thread::yield_now();
    true
}

#[cfg(loom)]
pub(crate) fn futex_wake_all(_word: &AtomicU32) {}
