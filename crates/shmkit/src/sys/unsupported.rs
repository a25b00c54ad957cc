//! Fallback backend for platforms shmkit does not support yet: everything compiles, every call
//! fails with `Unsupported` (memmap2's `stub.rs` idea).

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{RawEntry, Reclaimed, Want};

/// Where segments live (none here).
pub(crate) const SHM_DIR: &str = "(unsupported platform)";

/// Temporary-name prefix (unused here).
pub(crate) const TEMP_PREFIX: &str = ".shmkit-new-";

/// The backend's name, for tests that must know which promises apply (`test_support`).
pub(crate) const BACKEND: &str = "unsupported";

/// Nothing is supported, persistence included (creation fails anyway).
pub(crate) const PERSISTENT_UNSUPPORTED: Option<&str> = None;

/// No directory of segments.
pub(crate) const SHM_FILES: Option<&str> = None;

/// No guardian processes here.
pub(crate) const GUARDIAN: bool = false;

/// Nothing to sweep.
pub(crate) fn own_uid() -> Option<u32> {
    None
}

pub(crate) fn guardians(_name: &str) -> Option<Vec<u32>> {
    None
}

/// One namespace: the name itself.
pub(crate) fn native_name(name: &str, _global: bool) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(name)
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "shmkit has no backend for this platform",
    )
}

/// Never constructed on this platform.
#[derive(Debug)]
pub(crate) struct Mapping {
    never: std::convert::Infallible,
}

impl Mapping {
    pub(crate) fn ptr(&self) -> *mut u8 {
        match self.never {}
    }
    pub(crate) fn len(&self) -> usize {
        match self.never {}
    }
    pub(crate) fn writable(&self) -> bool {
        match self.never {}
    }
    pub(crate) fn protect_read_only(&self, _offset: usize, _len: usize) -> io::Result<()> {
        match self.never {}
    }
    pub(crate) fn close(self, _unlink_if_last: bool) {
        match self.never {}
    }
}

pub(crate) fn page_size() -> usize {
    4096
}

pub(crate) fn size_granule() -> usize {
    1
}

pub(crate) fn create(
    _name: &str,
    _len: usize,
    _mode: u32,
    _guard: bool,
    _init: &mut dyn FnMut(*mut u8, usize),
    _reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    Err(unsupported())
}

pub(crate) fn open(
    _name: &str,
    _want: Want,
    _reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    Err(unsupported())
}

pub(crate) fn remove(_name: &str) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn reclaim(_name: &str, _predicate: &dyn Fn(&[u8]) -> bool) -> io::Result<Reclaimed> {
    Err(unsupported())
}

pub(crate) fn peek(_name: &str, _buf: &mut [u8]) -> io::Result<usize> {
    Err(unsupported())
}

pub(crate) fn list() -> io::Result<Vec<RawEntry>> {
    Err(unsupported())
}

pub(crate) fn stat(_name: &str) -> io::Result<Option<RawEntry>> {
    Err(unsupported())
}

pub(crate) fn free_space() -> Option<u64> {
    None
}

pub(crate) fn futex_wait(_word: &AtomicU32, _expected: u32, timeout: Option<Duration>) -> bool {
    std::thread::sleep(timeout.unwrap_or(Duration::from_millis(1)));
    true
}

pub(crate) fn futex_wake(_word: &AtomicU32, _count: u32) {}

pub(crate) fn current_process() -> (u32, u32) {
    (std::process::id(), 0)
}

pub(crate) fn process_alive(_pid: u32, _tag: u32) -> bool {
    true
}

pub(crate) fn pin_to_cpu(_cpu: usize) -> bool {
    false
}

// ---- liveness proofs (see `crate::liveness`) ---------------------------------------------------

// No backend, no proofs.
super::no_proofs::mapping_without_proofs!();
pub(crate) use super::no_proofs::{
    coarse_now_ns, now_ns, pid_namespace, proof_held_by_name, proofs_supported,
};

pub(crate) fn current_user() -> Option<u32> {
    None
}

pub(crate) fn is_removed(m: &Mapping) -> bool {
    match m.never {}
}

/// No descriptor an event loop could wait on here: `Notifier::new` is unsupported (use
/// `Notifier::with_callback`).
#[derive(Debug)]
pub(crate) struct Signal;

impl Signal {
    pub(crate) fn new() -> io::Result<Signal> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(crate) fn raise(&self) {}

    pub(crate) fn clear(&self) -> bool {
        false
    }

    pub(crate) fn raw(&self) -> Option<i32> {
        None
    }
}
