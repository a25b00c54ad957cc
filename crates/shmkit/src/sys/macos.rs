//! macOS backend.
//!
//! A segment is a POSIX shared-memory object, `shm_open("/NAME")` — what Python's `SharedMemory`
//! and C programs open. macOS caps these names at 31 bytes with the slash, which the portable
//! name rule (at most 30 characters) already respects.
//!
//! macOS gives POSIX shm much less than Linux does: no directory to list, no `flock` on its
//! descriptors, no `pread`, no `fallocate`, a size that can be set only once, and no robust
//! mutexes. This backend keeps shmkit's promises as follows; type-checked (`clippy` for
//! `x86_64-apple-darwin` and `aarch64-apple-darwin`) but not run by CI, which has no macOS.
//!
//! # Lifetime: a registry of lock files
//!
//! Every segment `NAME` has a *registry file* `/tmp/shmkit-registry/NAME` (the directory is
//! world-writable and sticky, like `/tmp`, so users who share a segment share its file; the
//! file gets the segment's permission bits). Every open handle holds a shared `flock` on the
//! registry file: the kernel drops it when the process dies, however it dies. The rules are
//! Linux's, moved from the shm descriptor (which cannot be locked on macOS) to that file:
//!
//! * a closing handle that can take the lock *exclusively* (non-blocking) is the last holder:
//!   it removes the object (`shm_unlink`) and the registry file, in that order, under the lock;
//! * a segment whose registry file anyone can lock exclusively is held by nobody: `gc` and the
//!   next opener or creator may treat a `LastClose` one as the orphan of crashed users;
//! * **the shared lock is taken before the object is touched**: a creator locks the registry
//!   file before `shm_open(O_CREAT | O_EXCL)`, an opener before `shm_open`. So while a handle
//!   holds its lock, the name refers to its object: removers need the exclusive lock on the
//!   *current* registry file, and only they unlink it. After taking the lock, a handle checks
//!   that the registry file it locked is still the one under the name (`fstat` vs `stat`); if
//!   not, a remover won, and it starts again.
//! * `flock` converts a lock by dropping it first, so a handle only converts when it is leaving
//!   anyway (close), or when it held nothing before (an opener probing whether it is alone) —
//!   and re-checks after.
//!
//! # Creation never exposes a half-built segment
//!
//! `shm_open(O_CREAT | O_EXCL)` makes the object visible under its name at once — empty (size 0)
//! until `ftruncate`, then zeros until `init` has written the header. Three things make that
//! harmless: the creator holds the registry lock from *before* the object exists, so `gc` and
//! orphan checks see it held; it also holds an exclusive `flock` on an *init file*
//! (`/tmp/shmkit-registry/.init-NAME`; portable names cannot start with `.`, so it is never a
//! segment's) from before `shm_open` until `init` has run, and `open` waits (bounded) while that
//! lock is held before it looks at the object; and the header's version word stays 0 until
//! `init` is done, which shmkit openers also wait for. (Running the whole suite through this
//! backend on Linux, `.ci/macos-on-linux.sh`, showed the first two are needed: openers saw size 0
//! and all-zero headers.) A creator that dies halfway leaves an unheld object, which is an
//! orphan (`is_orphan`, version 0) and is reclaimed by the next create, open or `gc`.
//!
//! # Reservation: what macOS cannot promise
//!
//! There is no `fallocate` for shm objects, and macOS has no size-limited shm filesystem: pages
//! come from the virtual-memory system on first touch, which compresses and swaps rather than
//! failing. So a full `/dev/shm` and its `SIGBUS` do not exist here, but neither does a
//! reservation: under extreme memory pressure the system, not `create`, says no. `create` fails
//! only when `ftruncate` refuses the size.
//!
//! # Waiting
//!
//! `os_sync_wait_on_address` / `os_sync_wake_by_address_*` with the `SHARED` flag (macOS 14.4
//! and later), looked up at run time with `dlsym` so the binary still loads on older systems.
//! There the fallback is `__ulock_wait` / `__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED`: the
//! private calls the public ones wrap, present since macOS 10.12 and used by the C++ runtime for
//! `std::atomic::wait`. Only if neither exists (never, on supported systems) does a waiter sleep
//! in bounded slices (1 ms doubling to 50 ms) and re-check.
//!
//! # No guardian process
//!
//! On Linux each `LastClose` segment gets a guardian (`guardian.rs`): a process forked from the
//! creator that waits for the segment's exclusive lock and removes the name when the last holder
//! has died. The rule would work here too (on the registry file), but a forked child keeps the
//! whole memory of its parent alive copy-on-write, and the Linux guardian drops it by walking
//! `/proc/self/maps`. macOS has no such list; enumerating the address space through Mach calls
//! and deallocating it in a forked child is something CI cannot run, and a guardian that keeps
//! a copy of its creator's memory would trade a leaked segment for a leaked heap. So there is
//! none: a segment whose last holder was killed stays until the next shmkit create, open or
//! list by the same user removes it (`stale.rs`), or `shmkit gc`.
//!
//! # Holders
//!
//! macOS cannot say which processes hold a `flock`. `list` asks `fcntl(F_GETLK)` whether any
//! lock is held — it does not disturb holders, unlike probing with `LOCK_EX` — and reports
//! `Holders::Held` with no ids, or `Nobody`.

// Some imports serve only the macOS-only wait and process code (absent from the Linux test build).
#![cfg_attr(not(target_vendor = "apple"), allow(unused_imports))]

use std::ffi::{CString, c_void};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{Holders, RawEntry, Reclaimed, Want};
use crate::sys::unix_map::Region;

/// What holds the segments, for messages.
pub(crate) const SHM_DIR: &str = "POSIX shared memory";

/// Temporary names are never used here; kept for the contract.
pub(crate) const TEMP_PREFIX: &str = ".shmkit-new-";

/// The backend's name, for tests that must know which promises apply (`test_support`).
pub(crate) const BACKEND: &str = "macos";

/// Segments can outlive their handles (`Lifetime::Persistent`).
pub(crate) const PERSISTENT_UNSUPPORTED: Option<&str> = None;

/// Segments are not files in a directory here.
pub(crate) const SHM_FILES: Option<&str> = None;

/// No guardian process on macOS (see the module docs): a killed last holder's segment stays
/// until the next shmkit create, open or sweep (`shmkit ls`) by the same user (`stale.rs`).
pub(crate) const GUARDIAN: bool = false;

/// The user whose leftovers this process may sweep away (`stale.rs`): its effective user id.
pub(crate) fn own_uid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

/// No guardians here.
pub(crate) fn guardians(_name: &str) -> Option<Vec<u32>> {
    None
}

/// The registry of lock files (see the module docs).
const REGISTRY: &str = "/tmp/shmkit-registry";

/// How long an open or create keeps retrying while another process removes the segment.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// One namespace: the name itself.
pub(crate) fn native_name(name: &str, _global: bool) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(name)
}

/// The page size: the granularity of `mprotect` (16 KiB on Apple silicon).
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// macOS sizes shm objects in whole pages (`fstat` reports the rounded size).
pub(crate) fn size_granule() -> usize {
    page_size()
}

fn shm_name(name: &str) -> CString {
    // Names reaching the backend contain no NUL (validated by the caller).
    CString::new(format!("/{name}")).unwrap_or_default()
}

fn reg_path(name: &str) -> CString {
    CString::new(format!("{REGISTRY}/{name}")).unwrap_or_default()
}

/// Makes the registry directory (world-writable and sticky, like /tmp) if it is missing.
fn registry_dir() -> io::Result<()> {
    match rustix::fs::mkdir(REGISTRY, Mode::from_raw_mode(0o1777)) {
        Ok(()) => {
            // Exactly 1777, whatever the umask.
            rustix::fs::chmod(REGISTRY, Mode::from_raw_mode(0o1777))?;
            Ok(())
        }
        Err(Errno::EXIST) => {
            let st = rustix::fs::statat(CWD, REGISTRY, AtFlags::SYMLINK_NOFOLLOW)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                Ok(())
            } else {
                Err(io::Error::other(format!("{REGISTRY} is not a directory")))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A file's identity: (device, inode), whose types differ between systems.
#[allow(clippy::unnecessary_cast)]
fn file_id(st: &rustix::fs::Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// A shared lock on the registry file of a segment: what keeps it alive.
#[derive(Debug)]
struct Hold {
    fd: OwnedFd,
    path: CString,
    dev: u64,
    ino: u64,
}

impl Hold {
    /// Whether the name still refers to the registry file we locked.
    fn current(&self) -> bool {
        rustix::fs::statat(CWD, &*self.path, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| file_id(&st) == (self.dev, self.ino))
    }
}

enum Lock {
    Shared,
    /// Exclusive if nobody else holds it, else shared.
    ExclusiveIfAlone,
}

/// Opens (with `create`: creating, with that mode) the registry file of `name` and locks it.
/// `Ok(None)`: no registry file (and `create` was `None`), or a remover holds it: the caller
/// retries or gives up. The returned bool says whether the lock is exclusive.
fn lock_registry(name: &str, create: Option<u32>, how: Lock) -> io::Result<Option<(Hold, bool)>> {
    let path = reg_path(name);
    let base = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let fd = match create {
        Some(mode) => {
            match rustix::fs::openat(
                CWD,
                &*path,
                base | OFlags::CREATE | OFlags::EXCL,
                Mode::from_raw_mode(mode as _),
            ) {
                Ok(fd) => {
                    // Exactly the segment's bits, whatever the umask (best effort).
                    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode as _));
                    fd
                }
                Err(Errno::EXIST) => match rustix::fs::openat(CWD, &*path, base, Mode::empty()) {
                    Ok(fd) => fd,
                    // Removed between the two calls: the caller retries.
                    Err(Errno::NOENT) => return Ok(None),
                    Err(e) => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
        None => match rustix::fs::openat(CWD, &*path, base, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
    };
    let exclusive = match how {
        Lock::ExclusiveIfAlone => {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => true,
                Err(Errno::WOULDBLOCK) => false,
                Err(e) => return Err(e.into()),
            }
        }
        Lock::Shared => false,
    };
    if !exclusive {
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Ok(None), // a remover holds it
            Err(e) => return Err(e.into()),
        }
    }
    let (dev, ino) = file_id(&rustix::fs::fstat(&fd)?);
    let hold = Hold { fd, path, dev, ino };
    if !hold.current() {
        return Ok(None); // removed and perhaps recreated meanwhile
    }
    Ok(Some((hold, exclusive)))
}

/// The exclusive lock on a segment's init file, held by its creator while it builds it; the file
/// is removed when the guard drops.
struct InitGuard {
    /// Holds the lock; closed (releasing it) after the file is unlinked.
    _fd: OwnedFd,
    path: CString,
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(CWD, &*self.path, AtFlags::empty());
    }
}

fn init_path(name: &str) -> CString {
    CString::new(format!("{REGISTRY}/.init-{name}")).unwrap_or_default()
}

/// Takes the init lock of `name`. Openers hold it (shared) only for an instant; another creator
/// holds it until it has built its segment, which we then find under the name. `None` if it
/// stays busy for `BUSY_RETRY`.
fn init_lock(name: &str, mode: u32) -> io::Result<Option<InitGuard>> {
    let path = init_path(name);
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        let fd = rustix::fs::openat(
            CWD,
            &*path,
            OFlags::CREATE | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::from_raw_mode(mode as _),
        )?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                // Still the file under that name (a finished creator unlinks its own)?
                let mine = file_id(&rustix::fs::fstat(&fd)?);
                let now = rustix::fs::statat(CWD, &*path, AtFlags::SYMLINK_NOFOLLOW);
                if now.is_ok_and(|st| file_id(&st) == mine) {
                    return Ok(Some(InitGuard { _fd: fd, path }));
                }
            }
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Waits (bounded) while a creator holds the init lock of `name`: until then the object may be
/// empty or half-written. Call it only after finding the object.
fn wait_init(name: &str, deadline: Instant) {
    loop {
        let Ok(fd) = rustix::fs::openat(
            CWD,
            &*init_path(name),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::empty(),
        ) else {
            return; // no init file: nobody is building it
        };
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
            Err(Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200));
            }
            // Free (a finished or dead creator's file), or we gave up: look at the object.
            _ => return,
        }
    }
}

/// Removes the object and its registry file; the caller holds the exclusive lock.
fn unlink_both(name: &str, hold: &Hold) {
    let _ = rustix::shm::unlink(&*shm_name(name));
    if hold.current() {
        let _ = rustix::fs::unlinkat(CWD, &*hold.path, AtFlags::empty());
    }
}

/// An open, mapped segment, holding a shared lock on its registry file.
#[derive(Debug)]
pub(crate) struct Mapping {
    region: Region,
    name: String,
    hold: Hold,
}

impl Mapping {
    /// Base address of the mapping (dangling when `len() == 0`).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.region.ptr()
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.region.len()
    }

    /// Whether the mapping was made writable.
    pub(crate) fn writable(&self) -> bool {
        self.region.writable()
    }

    /// Makes `[offset, offset+len)` read-only (both page-aligned, inside the mapping).
    pub(crate) fn protect_read_only(&self, offset: usize, len: usize) -> io::Result<()> {
        self.region.protect_read_only(offset, len)
    }

    /// Releases the mapping and the hold; the last holder of a `LastClose` segment removes it.
    pub(crate) fn close(mut self, unlink_if_last: bool) {
        self.region.unmap();
        if unlink_if_last
            && rustix::fs::flock(&self.hold.fd, FlockOperation::NonBlockingLockExclusive).is_ok()
            && self.hold.current()
        {
            // Exclusive: nobody else holds the segment, and openers and creators wait for us.
            unlink_both(&self.name, &self.hold);
        }
        // Dropping the registry descriptor releases the lock.
    }
}

/// The first bytes of an object (shm objects cannot be `read` on macOS: map them).
fn head_of(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let size = usize::try_from(rustix::fs::fstat(fd)?.st_size).unwrap_or(0);
    let n = buf.len().min(size);
    if n == 0 {
        return Ok(0);
    }
    let region = Region::map(fd, n, false)?;
    // SAFETY: `n` bytes are mapped at `region.ptr()`; `buf` is private. `copy_out` reads each
    // byte once, so concurrent writers only change which bytes we copy. The region unmaps itself
    // when dropped.
    unsafe { crate::shared::copy_out(region.ptr(), &mut buf[..n]) };
    Ok(n)
}

/// Creates a segment: registry lock first, then `shm_open(O_CREAT | O_EXCL)`, size, map, `init`.
/// No guardian (`_guard`): see the module docs.
///
/// If the name exists and nobody holds it and `reclaim_if(first bytes)` says it is an orphan,
/// the orphan is removed and creation retried.
pub(crate) fn create(
    name: &str,
    len: usize,
    mode: u32,
    _guard: bool,
    init: &mut dyn FnMut(*mut u8, usize),
    reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    registry_dir()?;
    let mode = mode & 0o777;
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        let Some((hold, _)) = lock_registry(name, Some(mode), Lock::Shared)? else {
            busy_wait(deadline)?;
            continue;
        };
        let building = init_lock(name, mode)?;
        let fd = match rustix::shm::open(
            &*shm_name(name),
            rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
            Mode::from_raw_mode(mode as _),
        ) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                drop(building);
                drop(hold); // let `reclaim` take the exclusive lock
                match reclaim(name, reclaim_if)? {
                    Reclaimed::Removed | Reclaimed::Gone => continue,
                    Reclaimed::Kept => return Err(Errno::EXIST.into()),
                    Reclaimed::InUse => {
                        if being_removed(name) && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_micros(200));
                            continue;
                        }
                        return Err(Errno::EXIST.into());
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        // From here on the object is ours: remove it if we cannot finish.
        let built = (|| {
            // Exactly `mode`, whatever the umask (macOS may refuse fchmod on shm: best effort).
            let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode as _));
            rustix::fs::ftruncate(&fd, len as u64)?;
            Region::map(&fd, len, true)
        })();
        let region = match built {
            Ok(r) => r,
            Err(e) => {
                let _ = rustix::shm::unlink(&*shm_name(name));
                return Err(e);
            }
        };
        init(region.ptr(), len);
        drop(building); // openers may look now
        return Ok(Mapping {
            region,
            name: name.to_string(),
            hold,
        });
    }
}

fn busy_wait(deadline: Instant) -> io::Result<()> {
    if Instant::now() >= deadline {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another process kept the segment locked exclusively",
        ));
    }
    std::thread::sleep(Duration::from_micros(100));
    Ok(())
}

/// Whether some process holds the registry file exclusively (a closer or `gc` removing it).
fn being_removed(name: &str) -> bool {
    match lock_registry(name, None, Lock::Shared) {
        Ok(Some(_)) => false,
        Ok(None) => true, // exclusively held, or gone: retrying will tell
        Err(_) => false,
    }
}

fn shm_open_existing(name: &str, write: bool) -> io::Result<OwnedFd> {
    let flags = if write {
        rustix::shm::OFlags::RDWR
    } else {
        rustix::shm::OFlags::RDONLY
    };
    Ok(rustix::shm::open(&*shm_name(name), flags, Mode::empty())?)
}

/// The permission bits of an existing object, for a registry file made after it (an object that
/// a non-shmkit program created).
fn mode_of(name: &str) -> io::Result<u32> {
    let fd = shm_open_existing(name, false)?;
    Ok(u32::from(rustix::fs::fstat(&fd)?.st_mode) & 0o777)
}

/// Opens and maps an existing segment, taking a shared hold on it.
///
/// If nobody else holds it and `reclaim_if(first bytes)` says it is an orphan, removes it and
/// reports `NotFound`.
pub(crate) fn open(
    name: &str,
    want: Want,
    reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    registry_dir()?;
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        // An object without a registry file (made by another program) gets one now.
        let create = match rustix::fs::statat(CWD, &*reg_path(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => None,
            Err(Errno::NOENT) => Some(mode_of(name)?),
            Err(e) => return Err(e.into()),
        };
        let Some((hold, alone)) = lock_registry(name, create, Lock::ExclusiveIfAlone)? else {
            busy_wait(deadline)?;
            continue;
        };
        // We hold the current registry file: the name refers to the same object until we let go.
        let (fd, writable) = match want {
            Want::Read => (shm_open_existing(name, false), false),
            Want::ReadWrite => (shm_open_existing(name, true), true),
            Want::PreferWrite => match shm_open_existing(name, true) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    (shm_open_existing(name, false), false)
                }
                other => (other, true),
            },
        };
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && alone => {
                // A registry file left without its object: tidy up.
                let _ = rustix::fs::unlinkat(CWD, &*hold.path, AtFlags::empty());
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Its creator may still be building it. (Only now: the creator took the init lock before
        // the object existed, so if it is still building, the lock is held now.)
        wait_init(name, Instant::now() + BUSY_RETRY);
        if alone {
            let mut head = [0u8; 256];
            let n = head_of(&fd, &mut head)?;
            if reclaim_if(&head[..n]) {
                unlink_both(name, &hold);
                return Err(Errno::NOENT.into());
            }
            // Convert to shared; this drops the lock first, so re-check the name after.
            match rustix::fs::flock(&hold.fd, FlockOperation::NonBlockingLockShared) {
                Ok(()) if hold.current() => {}
                Ok(()) | Err(Errno::WOULDBLOCK) => {
                    busy_wait(deadline)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let len = usize::try_from(rustix::fs::fstat(&fd)?.st_size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative or huge size"))?;
        let region = Region::map(&fd, len, writable)?;
        return Ok(Mapping {
            region,
            name: name.to_string(),
            hold,
        });
    }
}

/// Removes `name` now (like `shm_unlink`); open handles keep working.
///
/// The registry file goes first, so that a creator racing with us builds a fresh one rather than
/// locking a file about to vanish. Permission is checked before anything is touched (a remove
/// that failed halfway would leave holders without their registry file).
pub(crate) fn remove(name: &str) -> io::Result<()> {
    drop(shm_open_existing(name, true)?);
    let _ = rustix::fs::unlinkat(CWD, &*reg_path(name), AtFlags::empty());
    rustix::shm::unlink(&*shm_name(name))?;
    Ok(())
}

/// Removes `name` only if no process holds it and `predicate(first bytes)` agrees.
pub(crate) fn reclaim(name: &str, predicate: &dyn Fn(&[u8]) -> bool) -> io::Result<Reclaimed> {
    registry_dir()?;
    let create = match rustix::fs::statat(CWD, &*reg_path(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => None,
        Err(Errno::NOENT) => match mode_of(name) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Reclaimed::Gone),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e.into()),
    };
    let Some((hold, alone)) = lock_registry(name, create, Lock::ExclusiveIfAlone)? else {
        return Ok(Reclaimed::InUse);
    };
    if !alone {
        return Ok(Reclaimed::InUse);
    }
    let fd = match shm_open_existing(name, false) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let _ = rustix::fs::unlinkat(CWD, &*hold.path, AtFlags::empty());
            return Ok(Reclaimed::Gone);
        }
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 256];
    let n = head_of(&fd, &mut head)?;
    if !predicate(&head[..n]) {
        return Ok(Reclaimed::Kept);
    }
    unlink_both(name, &hold);
    Ok(Reclaimed::Removed)
}

/// Reads up to `buf.len()` bytes from the start of `name` without holding it.
pub(crate) fn peek(name: &str, buf: &mut [u8]) -> io::Result<usize> {
    head_of(&shm_open_existing(name, false)?, buf)
}

/// Every segment with a registry file (macOS cannot list shm objects themselves).
pub(crate) fn list() -> io::Result<Vec<RawEntry>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(REGISTRY) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue; // an init file
        }
        match stat(&name) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The entry for one name.
pub(crate) fn stat(name: &str) -> io::Result<Option<RawEntry>> {
    let fd = match shm_open_existing(name, false) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(Some(RawEntry {
                name: name.to_string(),
                len: 0,
                mode: 0,
                uid: 0,
                modified_unix_secs: 0,
                holders: Holders::Unknown,
            }));
        }
        Err(e) => return Err(e),
    };
    let st = rustix::fs::fstat(&fd)?;
    Ok(Some(RawEntry {
        name: name.to_string(),
        len: st.st_size.max(0) as u64,
        mode: u32::from(st.st_mode) & 0o7777,
        uid: st.st_uid,
        modified_unix_secs: st.st_mtime,
        holders: holders_of(name),
    }))
}

/// Whether anyone holds the registry file, asked without disturbing them (`F_GETLK`).
#[cfg(target_vendor = "apple")]
fn holders_of(name: &str) -> Holders {
    let Ok(fd) = rustix::fs::openat(
        CWD,
        &*reg_path(name),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    ) else {
        return Holders::Nobody;
    };
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: F_GETLK on our own descriptor with a valid `flock` it may overwrite.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r == -1 {
        Holders::Unknown
    } else if fl.l_type as i32 == libc::F_UNLCK as i32 {
        Holders::Nobody
    } else {
        Holders::Held(Vec::new())
    }
}

/// Linux (tests): `F_GETLK` does not see `flock`s there, so ask `/proc/locks`, which, like
/// `F_GETLK` on macOS, disturbs no holder, and report no ids, as macOS cannot. (Probing with
/// `LOCK_EX` made concurrent last closers believe they were not last, and every create, open and
/// list now sweeps, which lists every holder.)
#[cfg(not(target_vendor = "apple"))]
fn holders_of(name: &str) -> Holders {
    let Ok(st) = rustix::fs::statat(CWD, &*reg_path(name), AtFlags::SYMLINK_NOFOLLOW) else {
        return Holders::Nobody;
    };
    let (dev, ino) = file_id(&st);
    match host::flock_held(dev, ino) {
        Some(true) => Holders::Held(Vec::new()),
        Some(false) => Holders::Nobody,
        None => Holders::Unknown,
    }
}

/// No size-limited shm filesystem to report on.
pub(crate) fn free_space() -> Option<u64> {
    None
}

/// The Linux backend, for the wait and process calls when this backend runs on Linux (tests).
#[cfg(not(target_vendor = "apple"))]
#[path = "linux.rs"]
#[allow(dead_code, unreachable_pub)]
mod host;

#[cfg(not(target_vendor = "apple"))]
pub(crate) use host::{current_process, futex_wait, futex_wake, process_alive};

/// The wait/wake calls this system has (see the module docs).
#[cfg(target_vendor = "apple")]
struct WaitCalls {
    os_wait: Option<OsWait>,
    os_wake_all: Option<OsWake>,
    os_wake_any: Option<OsWake>,
    ulock_wait: Option<UlockWait>,
    ulock_wake: Option<UlockWake>,
}

#[cfg(target_vendor = "apple")]
type OsWait = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> libc::c_int;
#[cfg(target_vendor = "apple")]
type OsWaitForever = unsafe extern "C" fn(*mut c_void, u64, usize, u32) -> libc::c_int;
#[cfg(target_vendor = "apple")]
type OsWake = unsafe extern "C" fn(*mut c_void, usize, u32) -> libc::c_int;
#[cfg(target_vendor = "apple")]
type UlockWait = unsafe extern "C" fn(u32, *mut c_void, u64, u32) -> libc::c_int;
#[cfg(target_vendor = "apple")]
type UlockWake = unsafe extern "C" fn(u32, *mut c_void, u64) -> libc::c_int;

#[cfg(target_vendor = "apple")]
const OS_SYNC_SHARED: u32 = 1; // OS_SYNC_WAIT_ON_ADDRESS_SHARED = OS_SYNC_WAKE_BY_ADDRESS_SHARED
#[cfg(target_vendor = "apple")]
const OS_CLOCK_MACH_ABSOLUTE_TIME: u32 = 32;
#[cfg(target_vendor = "apple")]
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
#[cfg(target_vendor = "apple")]
const ULF_WAKE_ALL: u32 = 0x100;
#[cfg(target_vendor = "apple")]
const ULF_NO_ERRNO: u32 = 0x0100_0000;

#[cfg(target_vendor = "apple")]
fn wait_calls() -> &'static WaitCalls {
    static CALLS: OnceLock<WaitCalls> = OnceLock::new();
    CALLS.get_or_init(|| {
        let sym = |name: &std::ffi::CStr| {
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks a symbol up.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        // SAFETY: (all transmutes below) each symbol, when present, is the C function of that
        // name, whose signature the type spells out (os/os_sync_wait_on_address.h, and
        // xnu's bsd/sys/ulock.h for the __ulock calls).
        unsafe {
            WaitCalls {
                os_wait: sym(c"os_sync_wait_on_address_with_timeout")
                    .map(|p| std::mem::transmute::<*mut c_void, OsWait>(p)),
                os_wake_all: sym(c"os_sync_wake_by_address_all")
                    .map(|p| std::mem::transmute::<*mut c_void, OsWake>(p)),
                os_wake_any: sym(c"os_sync_wake_by_address_any")
                    .map(|p| std::mem::transmute::<*mut c_void, OsWake>(p)),
                ulock_wait: sym(c"__ulock_wait")
                    .map(|p| std::mem::transmute::<*mut c_void, UlockWait>(p)),
                ulock_wake: sym(c"__ulock_wake")
                    .map(|p| std::mem::transmute::<*mut c_void, UlockWake>(p)),
            }
        }
    })
}

#[cfg(target_vendor = "apple")]
fn os_wait_forever() -> Option<OsWaitForever> {
    static F: OnceLock<Option<usize>> = OnceLock::new();
    let p = (*F.get_or_init(|| {
        // SAFETY: as in `wait_calls`.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"os_sync_wait_on_address".as_ptr()) };
        (!p.is_null()).then_some(p as usize)
    }))?;
    // SAFETY: the symbol `os_sync_wait_on_address`, of this signature.
    Some(unsafe { std::mem::transmute::<usize, OsWaitForever>(p) })
}

#[cfg(target_vendor = "apple")]
fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(target_vendor = "apple")]
/// Waits while `*word == expected`, at most `timeout`. Returns `false` on timeout; `true` when
/// woken, when the value differed, or spuriously (the caller re-checks).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let calls = wait_calls();
    let addr = word.as_ptr().cast::<c_void>();
    if let (Some(wait), Some(_)) = (calls.os_wait, calls.os_wake_all) {
        let r = match timeout {
            // SAFETY: `addr` is a live, aligned 4-byte atomic; the shared flag makes the wait
            // key the physical page, so waiters and wakers in other processes meet.
            Some(t) => unsafe {
                let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1);
                wait(
                    addr,
                    u64::from(expected),
                    4,
                    OS_SYNC_SHARED,
                    OS_CLOCK_MACH_ABSOLUTE_TIME,
                    ns,
                )
            },
            None => match os_wait_forever() {
                // SAFETY: as above.
                Some(f) => unsafe { f(addr, u64::from(expected), 4, OS_SYNC_SHARED) },
                // SAFETY: as above, with a very long timeout instead of none.
                None => unsafe {
                    wait(
                        addr,
                        u64::from(expected),
                        4,
                        OS_SYNC_SHARED,
                        OS_CLOCK_MACH_ABSOLUTE_TIME,
                        u64::MAX,
                    )
                },
            },
        };
        return !(r < 0 && errno() == libc::ETIMEDOUT);
    }
    if let (Some(wait), Some(_)) = (calls.ulock_wait, calls.ulock_wake) {
        // Microseconds; 0 means forever, so a tiny timeout is at least 1 µs. Long timeouts are
        // capped (the caller loops on a spurious return).
        let us = timeout.map_or(0, |t| {
            u32::try_from(t.as_micros()).unwrap_or(u32::MAX).max(1)
        });
        // SAFETY: as above; UL_COMPARE_AND_WAIT_SHARED compares the 32-bit value at `addr`.
        let r = unsafe {
            wait(
                UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO,
                addr,
                u64::from(expected),
                us,
            )
        };
        return r != -libc::ETIMEDOUT;
    }
    crate::sys::sleep_slice(word, expected, timeout)
}

#[cfg(target_vendor = "apple")]
/// Wakes up to `count` waiters of `word` (one, or all).
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) {
    let calls = wait_calls();
    let addr = word.as_ptr().cast::<c_void>();
    if let (Some(all), Some(any)) = (calls.os_wake_all, calls.os_wake_any) {
        let f = if count == 1 { any } else { all };
        // SAFETY: `addr` is a live 4-byte atomic; waking has no other precondition.
        unsafe { f(addr, 4, OS_SYNC_SHARED) };
    } else if let Some(wake) = calls.ulock_wake {
        let all = if count == 1 { 0 } else { ULF_WAKE_ALL };
        // SAFETY: as above.
        unsafe { wake(UL_COMPARE_AND_WAIT_SHARED | all | ULF_NO_ERRNO, addr, 0) };
    }
}

#[cfg(target_vendor = "apple")]
/// What `proc_pidinfo` says about a process: `None` if it does not exist (or may not be seen).
fn bsd_info(pid: u32) -> Result<libc::proc_bsdinfo, i32> {
    let pid = i32::try_from(pid).map_err(|_| libc::ESRCH)?;
    // SAFETY: an all-zero `proc_bsdinfo` is a valid value of this plain C struct.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: `info` is a buffer of `size` bytes that proc_pidinfo fills.
    let n =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDTBSDINFO, 0, (&raw mut info).cast(), size) };
    if n == size { Ok(info) } else { Err(errno()) }
}

#[cfg(target_vendor = "apple")]
fn start_tag(info: &libc::proc_bsdinfo) -> u32 {
    let ms = info
        .pbi_start_tvsec
        .wrapping_mul(1000)
        .wrapping_add(info.pbi_start_tvusec / 1000);
    (ms as u32).max(1)
}

#[cfg(target_vendor = "apple")]
/// This process's id and a tag that tells it apart from a later process with the same id (its
/// start time in milliseconds, low 32 bits, never 0).
pub(crate) fn current_process() -> (u32, u32) {
    static ME: OnceLock<(u32, u32)> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        (pid, bsd_info(pid).map_or(0, |i| start_tag(&i)))
    })
}

#[cfg(target_vendor = "apple")]
/// Whether the process `pid` whose tag was `tag` (0: unknown) is still running.
pub(crate) fn process_alive(pid: u32, tag: u32) -> bool {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match bsd_info(pid) {
        Ok(info) => info.pbi_status != libc::SZOMB && (tag == 0 || start_tag(&info) == tag),
        // Not ours to inspect: fall back to kill(pid, 0).
        Err(_) => !matches!(rustix::process::test_kill_process(raw), Err(Errno::SRCH)),
    }
}

/// macOS has no CPU pinning (only affinity *hints*): benchmarks run unpinned there.
pub(crate) fn pin_to_cpu(_cpu: usize) -> bool {
    false
}

// ---- liveness proofs (see `crate::liveness`) ---------------------------------------------------

// macOS has no open-file-description locks: liveness falls back to process ids plus start
// times (`current_process`, `process_alive`).
super::no_proofs::mapping_without_proofs!();
pub(crate) use super::no_proofs::{
    coarse_now_ns, now_ns, pid_namespace, proof_held_by_name, proofs_supported,
};

/// The effective user id of this process: `gc` touches only this user's segments unless told
/// otherwise.
pub(crate) fn current_user() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

/// Whether the segment `m` maps has lost its name: removers unlink the registry file (first, see
/// `remove` and `unlink_both`), so the name no longer leads to the registry file we locked. An
/// object that another program removed with `shm_unlink` alone is not noticed.
pub(crate) fn is_removed(m: &Mapping) -> bool {
    !m.hold.current()
}

// ---- a pollable signal for `Notifier` ----------------------------------------------------------

/// A descriptor an event loop can wait on: the read end of a non-blocking pipe, readable while
/// raised (macOS has no eventfd).
#[derive(Debug)]
pub(crate) struct Signal {
    read: OwnedFd,
    write: OwnedFd,
}

impl Signal {
    pub(crate) fn new() -> io::Result<Signal> {
        // macOS has no pipe2: the flags are set after the fact (a fork in between could inherit
        // the ends, which only costs the child two descriptors).
        let (read, write) = rustix::pipe::pipe()?;
        for end in [&read, &write] {
            rustix::io::fcntl_setfd(end, rustix::io::FdFlags::CLOEXEC)?;
            rustix::fs::fcntl_setfl(end, OFlags::NONBLOCK)?;
        }
        Ok(Signal { read, write })
    }

    /// Makes the read end readable (a full pipe already is).
    pub(crate) fn raise(&self) {
        let _ = rustix::io::write(&self.write, &[1]);
    }

    /// Drains it; whether it was raised.
    pub(crate) fn clear(&self) -> bool {
        let mut b = [0u8; 64];
        let mut any = false;
        while rustix::io::read(&self.read, &mut b).is_ok_and(|n| n > 0) {
            any = true;
        }
        any
    }

    /// The read end's number.
    pub(crate) fn raw(&self) -> Option<i32> {
        Some(self.read.as_raw_fd())
    }
}

#[cfg(not(loom))]
impl std::os::fd::AsRawFd for crate::Notifier {
    /// The descriptor to wait on (readable after a change, until [`clear`](crate::Notifier::clear)).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.signal().map_or(-1, |s| s.read.as_raw_fd())
    }
}

#[cfg(not(loom))]
impl std::os::fd::AsFd for crate::Notifier {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        let signal = self
            .signal()
            .expect("a Notifier made by Notifier::new has a descriptor");
        std::os::fd::AsFd::as_fd(&signal.read)
    }
}
