//! Linux backend.
//!
//! A segment is a file in `/dev/shm` — exactly what glibc's `shm_open("/NAME")` uses, so
//! Python's `SharedMemory(name=NAME)` and C programs see the same object.
//!
//! # Lifetime: shared `flock`s
//!
//! Every open handle holds a shared `flock` on its own open file description. The kernel drops
//! the locks of a process that dies, however it dies. So:
//!
//! * a closing handle that can take the lock *exclusively* (non-blocking) is the last holder,
//!   and may remove the name;
//! * a segment whose lock anyone can take exclusively is held by nobody: `gc` may remove it,
//!   and an opener may treat a `LastClose` one as the orphan of crashed users.
//!
//! A holder killed by a signal closes nothing, so each `LastClose` segment is also handed, at
//! creation, to a *guardian*: a process (one per creating process) that holds its own open file
//! description of the file, learns of every close, and takes `LOCK_EX` once nobody holds the
//! segment, dead or not; it then removes the name by the same rule (see `guardian.rs`). If the
//! guardian itself was killed, the next create, open or sweep by the same user removes the
//! leftover (`stale.rs`).
//!
//! `flock` converts a lock by dropping it first (`flock(2)`: "not guaranteed to be atomic"), and
//! a failed non-blocking conversion leaves no lock at all. So a handle never converts the shared
//! lock it relies on; it only tries `LOCK_EX` when it is leaving anyway (close) or when it holds
//! nothing yet (open), and it re-checks what it opened after every conversion.
//!
//! # Races, and why they are harmless
//!
//! * *Creation* builds the segment nameless (`O_TMPFILE` in `/dev/shm`), reserves its memory,
//!   initialises it, takes the shared lock, and only then links it under its name
//!   (`linkat` fails with `EEXIST` if the name is taken). Nobody can see a half-built segment,
//!   and a creator that dies before linking leaves nothing behind. Without `/proc` (needed to
//!   link an `O_TMPFILE`), it uses a hidden temporary name and `renameat2(RENAME_NOREPLACE)`.
//! * *A last closer and a new opener at once.* The closer holds `LOCK_EX` from before it
//!   unlinks until it closes. An opener that opened the old file then cannot take `LOCK_SH`
//!   until the closer is done; once it has it, it checks that the name still points at the inode
//!   it holds (`fstat` vs `stat`). If not, the segment it holds is dead: it closes it and starts
//!   again, finding the name missing (`NotFound`) or a newer segment. An opener that takes
//!   `LOCK_SH` *before* the closer tries `LOCK_EX` makes the closer fail, so the closer leaves
//!   the segment alone. Either way no opener keeps a removed segment, and no segment loses its
//!   name while someone holds it.
//! * A closer unlinks only after checking that the name still points at its own inode, so it
//!   never removes a newer segment of the same name. (The check and the unlink are two calls; a
//!   third process would have to remove the name *and* create a new segment between them.)

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD, FallocateFlags, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::{Holders, RawEntry, Reclaimed, Want};
use crate::sys::unix_map::Region;

/// The directory that holds POSIX shared memory on Linux.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// The backend's name, for tests that must know which promises apply (`test_support`).
pub(crate) const BACKEND: &str = "linux";

/// Segments can outlive their handles here (`Lifetime::Persistent`).
pub(crate) const PERSISTENT_UNSUPPORTED: Option<&str> = None;

/// Segments are the files of this directory.
pub(crate) const SHM_FILES: Option<&str> = Some(SHM_DIR);

/// `LastClose` segments get a guardian process (`guardian.rs`).
pub(crate) const GUARDIAN: bool = true;

/// The user whose leftovers this process may sweep away (`stale.rs`): its effective user id.
pub(crate) fn own_uid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

/// Linux has one namespace: the name itself, whatever the namespace asked for.
pub(crate) fn native_name(name: &str, _global: bool) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(name)
}

/// How long an open or create keeps retrying while another process is in the middle of removing
/// the segment (it holds `LOCK_EX` for a few microseconds).
const BUSY_RETRY: Duration = Duration::from_secs(2);

fn path_of(name: &str) -> CString {
    // Names reaching the backend are validated portable names or foreign names checked by the
    // caller to contain no NUL and no '/'.
    CString::new(format!("{SHM_DIR}/{name}")).unwrap_or_default()
}

/// The page size: the granularity of `mprotect` and of the control region.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Segments are exactly the size asked for.
pub(crate) fn size_granule() -> usize {
    1
}

/// An open, mapped segment, holding a shared `flock` that keeps it alive.
#[derive(Debug)]
pub(crate) struct Mapping {
    region: Region,
    fd: OwnedFd,
    path: CString,
    dev: u64,
    ino: u64,
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

    /// Releases the mapping and the hold. When `unlink_if_last` and no other process holds the
    /// segment, removes its name (if the name still refers to this segment).
    pub(crate) fn close(mut self, unlink_if_last: bool) {
        self.region.unmap();
        if unlink_if_last
            && rustix::fs::flock(&self.fd, FlockOperation::NonBlockingLockExclusive).is_ok()
            && same_file(&self.path, self.dev, self.ino)
        {
            // We hold LOCK_EX: nobody else holds the segment, and openers wait for us.
            let _ = rustix::fs::unlinkat(CWD, &*self.path, AtFlags::empty());
        }
        // Dropping `fd` releases the lock.
    }
}

fn errno_is(e: &io::Error, errno: Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

fn same_file(path: &CString, dev: u64, ino: u64) -> bool {
    rustix::fs::statat(CWD, &**path, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
}

/// Reserves `len` bytes of shared memory for `fd`, so that a full `/dev/shm` fails here with
/// `ENOSPC` instead of killing a process with `SIGBUS` on first touch.
fn reserve(fd: &OwnedFd, len: u64) -> io::Result<()> {
    match rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        // A filesystem without fallocate: size it, without a reservation.
        Err(Errno::OPNOTSUPP) => Ok(rustix::fs::ftruncate(fd, len)?),
        Err(e) => Err(e.into()),
    }
}

/// Creates a segment: nameless, reserved, initialised by `init`, held, then linked under `name`.
/// With `guard`, a guardian watches it from before it has a name (`guardian.rs`).
///
/// If the name exists and nobody holds it and `reclaim_if(first bytes)` says it is an orphan, the
/// orphan is removed and creation retried.
pub(crate) fn create(
    name: &str,
    len: usize,
    mode: u32,
    guard: bool,
    init: &mut dyn FnMut(*mut u8, usize),
    reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    let path = path_of(name);
    let mode = Mode::from_raw_mode(mode & 0o777);
    let (fd, temp) = match new_nameless(mode) {
        Ok(fd) => (fd, None),
        Err(e) if nameless_unsupported(&e) => new_temp(mode)?,
        Err(e) => return Err(e),
    };
    // Drop guard: a failure below must not leave the temporary name behind.
    let temp_guard = TempName(temp);
    // The guardian's descriptor, opened while the owner may still read the file (`mode` may not
    // let it).
    let guard_file = if guard {
        guardian_file(&fd, temp_guard.0.as_ref())
    } else {
        None
    };
    // Exactly `mode`, whatever the umask.
    rustix::fs::fchmod(&fd, mode)?;
    reserve(&fd, len as u64)?;
    let region = Region::map(&fd, len, true)?;
    let st = rustix::fs::fstat(&fd)?;
    let mapping = Mapping {
        region,
        fd,
        path,
        dev: st.st_dev,
        ino: st.st_ino,
    };
    init(mapping.ptr(), len);
    // Hold it before it has a name, so nobody ever sees it unheld.
    rustix::fs::flock(&mapping.fd, FlockOperation::NonBlockingLockShared)?;
    // Guarded from here: we hold it, so the guardian waits. If we die (or fail) before the name
    // is ours, the guardian finds the name is not this file, and leaves it.
    if let Some(file) = guard_file {
        let mut paths = vec![mapping.path.as_c_str()];
        paths.extend(temp_guard.0.as_deref());
        crate::sys::guardian::watch(file, &paths);
    }

    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        let published = match &temp_guard.0 {
            None => link_nameless(&mapping.fd, &mapping.path),
            Some(tmp) => {
                rustix::fs::renameat_with(CWD, &**tmp, CWD, &*mapping.path, RenameFlags::NOREPLACE)
                    .map_err(io::Error::from)
            }
        };
        match published {
            Ok(()) => {
                // The temporary name (if any) is now the real one.
                std::mem::forget(temp_guard);
                return Ok(mapping);
            }
            Err(e) if errno_is(&e, Errno::EXIST) => {
                match reclaim(name, reclaim_if)? {
                    Reclaimed::Removed | Reclaimed::Gone => continue,
                    Reclaimed::Kept => return Err(e),
                    Reclaimed::InUse => {
                        // Somebody holds it. If that somebody is a last closer in the middle of
                        // removing it (it holds LOCK_EX), the name is about to go: retry briefly.
                        if being_removed(name) && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_micros(200));
                            continue;
                        }
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A second open file description of the file behind `fd`, which no handle locks: the
/// guardian's (`flock` on the creator's own description would convert the creator's lock).
/// Makes the file the owner's to read first; the caller then sets its real mode.
fn guardian_file(fd: &OwnedFd, temp: Option<&CString>) -> Option<OwnedFd> {
    rustix::fs::fchmod(fd, Mode::RUSR | Mode::WUSR).ok()?;
    let st = rustix::fs::fstat(fd).ok()?;
    let file = match temp {
        None => rustix::fs::openat(
            CWD,
            format!("/proc/self/fd/{}", fd.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ),
        Some(path) => rustix::fs::openat(
            CWD,
            path.as_c_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::empty(),
        ),
    }
    .ok()?;
    let again = rustix::fs::fstat(&file).ok()?;
    (again.st_dev == st.st_dev && again.st_ino == st.st_ino).then_some(file)
}

struct TempName(Option<CString>);

impl Drop for TempName {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = rustix::fs::unlinkat(CWD, &**p, AtFlags::empty());
        }
    }
}

fn nameless_unsupported(e: &io::Error) -> bool {
    // Old kernels or filesystems without O_TMPFILE answer EOPNOTSUPP, EISDIR or EINVAL; without
    // /proc we cannot link the file afterwards.
    [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL, Errno::NOENT]
        .iter()
        .any(|&n| errno_is(e, n))
}

fn new_nameless(mode: Mode) -> io::Result<OwnedFd> {
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        return Err(Errno::NOENT.into());
    }
    Ok(rustix::fs::openat(
        CWD,
        SHM_DIR,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        mode,
    )?)
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The prefix of temporary names used when `O_TMPFILE` cannot be used. It starts with a dot, which
/// portable names cannot, so it never collides with a segment.
pub(crate) const TEMP_PREFIX: &str = ".shmkit-new-";

fn new_temp(mode: Mode) -> io::Result<(OwnedFd, Option<CString>)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = path_of(&format!(
            "{TEMP_PREFIX}{}-{n}-{nanos:08x}",
            rustix::process::getpid().as_raw_nonzero()
        ));
        match rustix::fs::openat(
            CWD,
            &*tmp,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            mode,
        ) {
            Ok(fd) => {
                // Held from the first moment, so `gc` leaves it alone until we die.
                rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared)?;
                return Ok((fd, Some(tmp)));
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn link_nameless(fd: &OwnedFd, path: &CString) -> io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::linkat(CWD, &*proc_path, CWD, &**path, AtFlags::SYMLINK_FOLLOW)?;
    Ok(())
}

/// Whether some process holds `LOCK_EX` on the segment (a closer or `gc` removing it).
fn being_removed(name: &str) -> bool {
    let Ok(holders) = lock_table() else {
        return false;
    };
    let Ok(st) = rustix::fs::statat(CWD, &*path_of(name), AtFlags::SYMLINK_NOFOLLOW) else {
        return true; // already gone: retrying will succeed
    };
    holders
        .get(&(st.st_dev, st.st_ino))
        .is_some_and(|l| l.iter().any(|h| h.exclusive))
}

/// The guardians waiting on the segment `name` (for tests: `test_support::guardians`).
pub(crate) fn guardians(name: &str) -> Option<Vec<u32>> {
    let st = rustix::fs::statat(CWD, &*path_of(name), AtFlags::SYMLINK_NOFOLLOW).ok()?;
    crate::sys::guardian::guardians(st.st_dev, st.st_ino)
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
    let path = path_of(name);
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        match try_open(&path, want, reclaim_if)? {
            Some(m) => return Ok(m),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_micros(100)),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another process kept the segment locked exclusively",
                ));
            }
        }
    }
}

/// One attempt; `Ok(None)` means "raced with a remover, try again".
fn try_open(
    path: &CString,
    want: Want,
    reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Option<Mapping>> {
    let base = OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let (fd, writable) = match want {
        Want::Read => (
            rustix::fs::openat(CWD, &**path, base | OFlags::RDONLY, Mode::empty())?,
            false,
        ),
        Want::ReadWrite => (
            rustix::fs::openat(CWD, &**path, base | OFlags::RDWR, Mode::empty())?,
            true,
        ),
        Want::PreferWrite => {
            match rustix::fs::openat(CWD, &**path, base | OFlags::RDWR, Mode::empty()) {
                Ok(fd) => (fd, true),
                Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) => (
                    rustix::fs::openat(CWD, &**path, base | OFlags::RDONLY, Mode::empty())?,
                    false,
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular shared-memory object",
        ));
    }
    // Alone? Then it may be an orphan to reclaim.
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            let mut head = [0u8; 256];
            let n = rustix::io::pread(&fd, &mut head, 0)?;
            if reclaim_if(&head[..n]) && same_file(path, st.st_dev, st.st_ino) {
                rustix::fs::unlinkat(CWD, &**path, AtFlags::empty())?;
                return Err(Errno::NOENT.into());
            }
            // Convert to shared; this drops the lock first, so re-check the name below.
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Errno::WOULDBLOCK) => {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                // A remover holds LOCK_EX.
                Err(Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }
    // We hold LOCK_SH. Is the name still ours? If not, the segment we hold was removed.
    match rustix::fs::statat(CWD, &**path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if now.st_dev == st.st_dev && now.st_ino == st.st_ino => {}
        Ok(_) => return Ok(None),
        Err(Errno::NOENT) => return Err(Errno::NOENT.into()),
        Err(e) => return Err(e.into()),
    }
    let len = usize::try_from(st.st_size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative or huge file size"))?;
    let region = Region::map(&fd, len, writable)?;
    Ok(Some(Mapping {
        region,
        fd,
        path: path.clone(),
        dev: st.st_dev,
        ino: st.st_ino,
    }))
}

/// Removes `name` unconditionally (like `shm_unlink`). Open handles keep working.
pub(crate) fn remove(name: &str) -> io::Result<()> {
    let path = path_of(name);
    let st = rustix::fs::statat(CWD, &*path, AtFlags::SYMLINK_NOFOLLOW)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular shared-memory object",
        ));
    }
    rustix::fs::unlinkat(CWD, &*path, AtFlags::empty())?;
    Ok(())
}

/// Removes `name` only if no process holds it and `predicate(first bytes)` agrees.
pub(crate) fn reclaim(name: &str, predicate: &dyn Fn(&[u8]) -> bool) -> io::Result<Reclaimed> {
    let path = path_of(name);
    let fd = match rustix::fs::openat(
        CWD,
        &*path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Reclaimed::Gone),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(Reclaimed::Kept);
    }
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(Reclaimed::InUse),
        Err(e) => return Err(e.into()),
    }
    let mut head = [0u8; 256];
    let n = rustix::io::pread(&fd, &mut head, 0)?;
    if !predicate(&head[..n]) {
        return Ok(Reclaimed::Kept);
    }
    if !same_file(&path, st.st_dev, st.st_ino) {
        return Ok(Reclaimed::Gone);
    }
    match rustix::fs::unlinkat(CWD, &*path, AtFlags::empty()) {
        Ok(()) => Ok(Reclaimed::Removed),
        Err(Errno::NOENT) => Ok(Reclaimed::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Reads up to `buf.len()` bytes from the start of `name` without holding it.
pub(crate) fn peek(name: &str, buf: &mut [u8]) -> io::Result<usize> {
    let fd = rustix::fs::openat(
        CWD,
        &*path_of(name),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    Ok(rustix::io::pread(&fd, buf, 0)?)
}

/// Everything in the shared-memory directory that is a regular file.
pub(crate) fn list() -> io::Result<Vec<RawEntry>> {
    let locks = lock_table().ok();
    let mut out = Vec::new();
    for entry in fs::read_dir(SHM_DIR)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not ours, not nameable by our API
        };
        out.push(match stat_entry(&name, locks.as_ref()) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The entry for one name (`Ok(None)` if it is not a regular file).
pub(crate) fn stat(name: &str) -> io::Result<Option<RawEntry>> {
    stat_entry(name, lock_table().ok().as_ref())
}

fn stat_entry(name: &str, locks: Option<&LockTable>) -> io::Result<Option<RawEntry>> {
    let st = rustix::fs::statat(CWD, &*path_of(name), AtFlags::SYMLINK_NOFOLLOW)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(None);
    }
    let holders = match locks {
        Some(t) => match t.get(&(st.st_dev, st.st_ino)) {
            Some(l) => Holders::Held(l.iter().map(|h| h.pid).collect()),
            None => Holders::Nobody,
        },
        None => Holders::Unknown,
    };
    Ok(Some(RawEntry {
        name: name.to_string(),
        len: st.st_size.max(0) as u64,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        modified_unix_secs: st.st_mtime,
        holders,
    }))
}

struct LockHolder {
    pid: u32,
    exclusive: bool,
}

type LockTable = HashMap<(u64, u64), Vec<LockHolder>>;

/// Whether anyone holds a `flock` on the file `(dev, ino)`, from `/proc/locks`; `None` if it
/// cannot be read. For the macOS backend run on Linux (`shmkit_macos_on_linux`), whose registry
/// files are plain files: asking this way, like macOS's `F_GETLK`, disturbs no holder.
#[cfg_attr(not(shmkit_macos_on_linux), allow(dead_code))]
pub(crate) fn flock_held(dev: u64, ino: u64) -> Option<bool> {
    Some(lock_table().ok()?.contains_key(&(dev, ino)))
}

/// The `flock` holders of every file, from `/proc/locks`: reading it does not disturb anyone,
/// unlike probing with `LOCK_EX`.
///
/// The kernel produces that file a page at a time, resuming each read by line number: a lock
/// released between two reads shifts the lines after it, and the first line of the next page is
/// skipped — a holder missed, a live segment taken for stale (seen in the tests, with hundreds of
/// locks coming and going). So the file is read twice and the two tables merged: a holder is
/// missed only if both reads skip it. (A lock released meanwhile may be listed: a segment looks
/// held an instant longer, which no decision relies on — removals check with `LOCK_EX`.)
fn lock_table() -> io::Result<LockTable> {
    let mut table = parse_locks(&fs::read_to_string("/proc/locks")?);
    let again = parse_locks(&fs::read_to_string("/proc/locks")?);
    for (file, holders) in again {
        let known = table.entry(file).or_default();
        for h in holders {
            if !known
                .iter()
                .any(|k| k.pid == h.pid && k.exclusive == h.exclusive)
            {
                known.push(h);
            }
        }
    }
    Ok(table)
}

fn parse_locks(text: &str) -> LockTable {
    let mut table = LockTable::new();
    for line in text.lines() {
        // "1: FLOCK  ADVISORY  READ  1234 00:1a:5678 0 EOF"; blocked waiters have "->" after the id.
        let mut f = line.split_whitespace();
        let (Some(_id), Some(class)) = (f.next(), f.next()) else {
            continue;
        };
        if class != "FLOCK" {
            continue;
        }
        let (Some(_advisory), Some(kind), Some(pid), Some(dev)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let mut parts = dev.split(':');
        let (Some(maj), Some(min), Some(ino)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(maj), Ok(min), Ok(ino), Ok(pid)) = (
            u32::from_str_radix(maj, 16),
            u32::from_str_radix(min, 16),
            ino.parse::<u64>(),
            pid.parse::<u32>(),
        ) else {
            continue;
        };
        let dev = rustix::fs::makedev(maj, min);
        table.entry((dev, ino)).or_default().push(LockHolder {
            pid,
            exclusive: kind == "WRITE",
        });
    }
    table
}

/// Free bytes in the shared-memory filesystem, for error messages.
pub(crate) fn free_space() -> Option<u64> {
    let s = rustix::fs::statvfs(SHM_DIR).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Waits while `*word == expected`, at most `timeout`. Returns `false` on timeout; `true` when
/// woken, when the value differed, or spuriously (the caller re-checks).
///
/// A shared futex (no `FUTEX_PRIVATE_FLAG`): the kernel keys it by the page's backing object, so
/// waiters and wakers in different processes meet.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    use rustix::thread::futex;
    let ts = timeout.map(|d| futex::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos().into(),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Err(Errno::TIMEDOUT) => false,
        // Woken, value already changed (EAGAIN), or a signal (EINTR): the caller re-checks.
        _ => true,
    }
}

/// Wakes up to `count` waiters of `word` (`u32::MAX` for all).
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), count);
}

/// This process's id and a tag that tells it apart from a later process with the same id (the
/// low 32 bits of its start time in clock ticks since boot).
///
/// Cached: `getpid` is a system call, and the lock's fast path needs the id. A child made by
/// `fork` (without `exec`) inherits the cache, so it must not use the parent's locks or
/// handles — as with most process-shared state.
pub(crate) fn current_process() -> (u32, u32) {
    static ME: OnceLock<(u32, u32)> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        (pid, proc_stat(pid).map_or(0, |s| s.start_tag))
    })
}

/// Whether the process `pid` whose tag was `tag` (0: unknown) is still running.
pub(crate) fn process_alive(pid: u32, tag: u32) -> bool {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match proc_stat(pid) {
        Some(st) => {
            // Zombies have died (they only wait to be reaped); a different start time means the
            // id was reused by a new process.
            !st.zombie && (tag == 0 || st.start_tag == 0 || st.start_tag == tag)
        }
        // No /proc (or another pid namespace): fall back to kill(pid, 0).
        None => !matches!(rustix::process::test_kill_process(raw), Err(Errno::SRCH)),
    }
}

struct ProcStat {
    zombie: bool,
    start_tag: u32,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&text)
}

/// Parses `/proc/PID/stat`: the command name (field 2) may hold spaces and parentheses, so
/// fields are counted after its last `)`. Field 3 is the state, field 22 the start time.
fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let start: u64 = fields.nth(18)?.parse().ok()?;
    Some(ProcStat {
        zombie: matches!(state, "Z" | "X" | "x"),
        start_tag: start as u32,
    })
}

/// Nanoseconds since the Unix epoch by the wall clock (`CLOCK_REALTIME` through the vDSO: no
/// system call), for frames' publish times.
pub(crate) fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// The wall clock in nanoseconds since the Unix epoch, cheaply: `CLOCK_REALTIME_COARSE` (the
/// last timer tick, a few nanoseconds to read instead of tens), for statistics' "last seen"
/// times.
pub(crate) fn coarse_now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// Pins the calling thread to CPU `cpu`; `false` if that is not possible (no such CPU, or not
/// allowed). Benchmarks use it to fix where two processes run.
pub(crate) fn pin_to_cpu(cpu: usize) -> bool {
    let mut set = rustix::thread::CpuSet::new();
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return false;
    }
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).is_ok()
}

// ---- liveness proofs (see `crate::liveness`) ---------------------------------------------------
//
// A proof is an open-file-description (OFD) write lock on one byte of the segment's file, at
// `PROOF_BASE + id`: far past any segment's end (byte-range locks may lie beyond the end of a
// file and take no space). The kernel releases it when the description is closed — when the
// handle closes or its process dies, however it dies — whatever pid namespace the holder is in.
// `F_OFD_GETLK` reads it without disturbing it. OFD locks and `flock` locks do not interact on
// Linux, so proofs leave the segment's lifetime (the shared `flock`s) alone. rustix wraps only
// whole-file OFD locks, hence `libc` here.

/// Where proof 0 would lie (ids start at 1).
const PROOF_BASE: i64 = 1 << 62;

fn proof_lock(fd: &OwnedFd, cmd: libc::c_int, id: u32) -> io::Result<libc::flock> {
    // SAFETY: `flock` is plain old data; all-zero is a valid value (l_pid must be 0 for OFD
    // locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = PROOF_BASE + i64::from(id);
    fl.l_len = 1;
    // SAFETY: a valid descriptor we own and a valid `flock` for the duration of the call.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl)
}

impl Mapping {
    /// Claims liveness proof `id` for this handle: `true` if it now holds it, `false` if another
    /// open description holds it.
    pub(crate) fn claim_proof(&self, id: u32) -> io::Result<bool> {
        match proof_lock(&self.fd, libc::F_OFD_SETLK, id) {
            Ok(_) => Ok(true),
            Err(e) if errno_is(&e, Errno::AGAIN) || errno_is(&e, Errno::ACCESS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether another open description (another handle, here or in any process) holds proof
    /// `id`. This handle's own proof does not count (locks of one description never conflict).
    pub(crate) fn proof_held(&self, id: u32) -> io::Result<bool> {
        let fl = proof_lock(&self.fd, libc::F_OFD_GETLK, id)?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }
}

/// Whether some handle holds liveness proof `id` of the segment `name` (for tools that look
/// without opening it as a segment).
pub(crate) fn proof_held_by_name(name: &str, id: u32) -> io::Result<bool> {
    let fd = rustix::fs::openat(
        CWD,
        &*path_of(name),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let fl = proof_lock(&fd, libc::F_OFD_GETLK, id)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// Whether OFD locks work here (Linux 3.15 and later): probed once.
pub(crate) fn proofs_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        rustix::fs::openat(
            CWD,
            SHM_DIR,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .ok()
        .is_some_and(|fd| proof_lock(&fd, libc::F_OFD_GETLK, 0).is_ok())
    })
}

/// The pid namespace of this process (the inode of `/proc/self/ns/pid`; 0 if unknown): processes
/// with different values cannot judge each other's process ids.
pub(crate) fn pid_namespace() -> u64 {
    static NS: OnceLock<u64> = OnceLock::new();
    *NS.get_or_init(|| {
        rustix::fs::statat(CWD, "/proc/self/ns/pid", AtFlags::empty()).map_or(0, |st| st.st_ino)
    })
}

/// The effective user id of this process: `gc` touches only this user's segments unless told
/// otherwise.
pub(crate) fn current_user() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
}

/// Whether the segment `m` maps has lost its name: its file has no link left (removed with
/// `unlink`, or replaced by a `rename`), or the name now leads to another file. Errors say no:
/// the caller keeps what it has.
pub(crate) fn is_removed(m: &Mapping) -> bool {
    rustix::fs::fstat(&m.fd).is_ok_and(|st| st.st_nlink == 0 || !same_file(&m.path, m.dev, m.ino))
}

// ---- a pollable signal for `Notifier` ----------------------------------------------------------

/// A descriptor an event loop can wait on: an `eventfd`, readable while raised.
#[derive(Debug)]
pub(crate) struct Signal(OwnedFd);

impl Signal {
    pub(crate) fn new() -> io::Result<Signal> {
        use rustix::event::{EventfdFlags, eventfd};
        Ok(Signal(eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?))
    }

    /// Makes the descriptor readable.
    pub(crate) fn raise(&self) {
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Makes it unreadable again; whether it was raised.
    pub(crate) fn clear(&self) -> bool {
        let mut b = [0u8; 8];
        rustix::io::read(&self.0, &mut b).is_ok_and(|n| n == 8)
    }

    /// The descriptor's number.
    pub(crate) fn raw(&self) -> Option<i32> {
        Some(self.0.as_raw_fd())
    }
}

// Not when this file is the macOS backend's host (`shmkit_macos_on_linux`): that backend's
// `Signal` and these impls are its own.
#[cfg(not(any(loom, shmkit_macos_on_linux)))]
impl std::os::fd::AsRawFd for crate::Notifier {
    /// The descriptor to wait on (readable after a change, until [`clear`](crate::Notifier::clear)).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.signal().map_or(-1, |s| s.0.as_raw_fd())
    }
}

#[cfg(not(any(loom, shmkit_macos_on_linux)))]
impl std::os::fd::AsFd for crate::Notifier {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.signal()
            .expect("a Notifier made by Notifier::new has a descriptor")
            .0
            .as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_locks() {
        let t = parse_locks(
            "1: FLOCK  ADVISORY  READ  1234 00:1a:5678 0 EOF\n\
             1: -> FLOCK  ADVISORY  WRITE 99 00:1a:5678 0 EOF\n\
             2: POSIX  ADVISORY  WRITE 77 fd:01:42 0 EOF\n\
             3: FLOCK  ADVISORY  WRITE 4321 00:1a:5678 0 EOF\n\
             garbage\n",
        );
        let h = &t[&(rustix::fs::makedev(0, 0x1a), 5678)];
        assert_eq!(h.iter().map(|h| h.pid).collect::<Vec<_>>(), [1234, 4321]);
        assert!(!h[0].exclusive && h[1].exclusive);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn parses_proc_stat_with_hostile_command_names() {
        let s = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2";
        let p = parse_proc_stat(s).unwrap();
        assert!(!p.zombie);
        assert_eq!(p.start_tag, 987654);
        let z = "7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert!(parse_proc_stat(z).unwrap().zombie);
        assert!(parse_proc_stat("nonsense").is_none());
    }

    #[test]
    #[cfg(not(loom))]
    fn a_notifier_descriptor_becomes_readable_on_publish_and_clears() {
        use rustix::event::{PollFd, PollFlags, poll};
        use std::os::fd::AsFd;
        let name = format!("t-notifyfd-{}", std::process::id());
        let cell = crate::Cell::create(name.as_str(), 16).unwrap();
        let n = crate::Notifier::new(cell.segment()).unwrap();
        let readable = |ms: i32| {
            let mut fds = [PollFd::new(&n, PollFlags::IN)];
            let t = rustix::event::Timespec {
                tv_sec: i64::from(ms / 1000),
                tv_nsec: i64::from(ms % 1000) * 1_000_000,
            };
            poll(&mut fds, Some(&t)).unwrap() == 1
        };
        assert!(!readable(20), "nothing published yet");
        cell.publish(b"x").unwrap();
        assert!(readable(5000), "readable after a publish");
        assert!(n.clear());
        assert!(!readable(20), "cleared");
        let _ = n.as_fd();
        assert_eq!(n.descriptor(), Some(n.as_raw_fd()));
    }

    #[test]
    fn this_process_is_alive_and_pid_reuse_is_detected() {
        let (pid, tag) = current_process();
        assert!(process_alive(pid, tag));
        assert!(!process_alive(pid, tag.wrapping_add(1)));
        assert!(!process_alive(0, 0));
        assert!(!process_alive(u32::MAX, 0));
    }
}
