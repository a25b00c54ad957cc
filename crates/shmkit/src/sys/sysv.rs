//! Linux: the system calls of foreign shared memory — System V IPC (`ftok`, `shm*`, `sem*`),
//! POSIX named semaphores (`sem_open` & co.), and what `/proc` tells about who uses them.
//!
//! Qt's `QSharedMemory` uses these (see `interop::qt`, which holds Qt's algorithm; this file only
//! wraps the calls). rustix has no System V IPC and no named semaphores, so this is the one place
//! that calls `libc` directly. Named semaphores go through the C library's own `sem_open`, never
//! a re-implementation: the layout of `sem_t` is private to each C library.
//!
//! Every call retries on `EINTR` where the caller cannot tell an interruption from a result.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

/// How long a semaphore operation may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until it can proceed.
    Forever,
    /// Not at all (`IPC_NOWAIT`, `sem_trywait`).
    Never,
    /// Until this moment.
    Until(Instant),
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

/// Whether an error says a System V object was removed under us (`EINVAL` / `EIDRM`).
pub(crate) fn is_removed(e: &io::Error) -> bool {
    is_errno(e, libc::EINVAL) || is_errno(e, libc::EIDRM)
}

// ---------------------------------------------------------------------------------------------
// Key files and ftok

/// `ftok(path, proj)`: the System V key of an existing file (from its device and inode).
pub(crate) fn ftok(path: &Path, proj: u8) -> io::Result<i32> {
    let c = cpath(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let key = unsafe { libc::ftok(c.as_ptr(), libc::c_int::from(proj)) };
    if key == -1 {
        Err(last_error())
    } else {
        Ok(key)
    }
}

/// Creates `path` as an empty file with mode 0640 (minus the umask), as Qt's
/// `createUnixKeyFile` does: `Ok(true)` if this call made it, `Ok(false)` if it existed.
pub(crate) fn create_key_file(path: &Path) -> io::Result<bool> {
    match rustix::fs::openat(
        CWD,
        path,
        OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o640),
    ) {
        Ok(_fd) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A file's permission bits and owner.
pub(crate) fn file_mode(path: &Path) -> Option<(u32, u32)> {
    let st = rustix::fs::stat(path).ok()?;
    Some((st.st_mode & 0o777, st.st_uid))
}

/// Removes a key file (`unlink`).
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    rustix::fs::unlinkat(CWD, path, AtFlags::empty())?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// System V shared memory

/// What `shmctl(IPC_STAT)` says about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShmStat {
    pub key: i32,
    pub size: u64,
    pub nattch: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub uid: u32,
    pub mode: u32,
}

/// `shmget(key, size, IPC_CREAT | IPC_EXCL | mode)`: a new segment's id.
pub(crate) fn shm_create(key: i32, size: usize, mode: u32) -> io::Result<i32> {
    // SAFETY: plain system call with integer arguments.
    let id = unsafe {
        libc::shmget(
            key,
            size,
            libc::IPC_CREAT | libc::IPC_EXCL | (mode & 0o777) as libc::c_int,
        )
    };
    if id == -1 { Err(last_error()) } else { Ok(id) }
}

/// `shmget(key, 0, mode)`: the id of an existing segment, if `mode` is allowed.
pub(crate) fn shm_lookup(key: i32, mode: u32) -> io::Result<i32> {
    // SAFETY: plain system call with integer arguments.
    let id = unsafe { libc::shmget(key, 0, (mode & 0o777) as libc::c_int) };
    if id == -1 { Err(last_error()) } else { Ok(id) }
}

/// `shmctl(id, IPC_STAT)`.
pub(crate) fn shm_stat(id: i32) -> io::Result<ShmStat> {
    // SAFETY: `shmid_ds` is plain old data; all-zero is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid, writable `shmid_ds` for the kernel to fill.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } == -1 {
        return Err(last_error());
    }
    Ok(ShmStat {
        key: ds.shm_perm.__key,
        size: ds.shm_segsz as u64,
        nattch: ds.shm_nattch as u64,
        cpid: ds.shm_cpid as u32,
        lpid: ds.shm_lpid as u32,
        uid: ds.shm_perm.uid,
        mode: u32::from(ds.shm_perm.mode) & 0o777,
    })
}

/// `shmctl(id, IPC_RMID)`: the segment goes once its last attachment detaches.
pub(crate) fn shm_remove(id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer; a null pointer is allowed.
    if unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) } == -1 {
        return Err(last_error());
    }
    Ok(())
}

/// A System V segment attached to this process (`shmat`); detached on drop.
#[derive(Debug)]
pub(crate) struct ShmAttachment {
    ptr: NonNull<u8>,
    len: usize,
    attached: bool,
}

// SAFETY: the attachment owns its mapping; every access through the pointer is a copy or atomic
// made by the portable layer, which already tolerates other processes writing concurrently.
unsafe impl Send for ShmAttachment {}
// SAFETY: as for `Send`: `&ShmAttachment` only hands out the base pointer.
unsafe impl Sync for ShmAttachment {}

impl ShmAttachment {
    /// Attaches segment `id` (read-only with `SHM_RDONLY` unless `writable`) and reads its size.
    pub(crate) fn attach(id: i32, writable: bool) -> io::Result<ShmAttachment> {
        let flags = if writable { 0 } else { libc::SHM_RDONLY };
        // SAFETY: a fresh attachment at an address the kernel picks; no existing memory changes.
        let p = unsafe { libc::shmat(id, std::ptr::null(), flags) };
        if p as isize == -1 {
            return Err(last_error());
        }
        let mut att = ShmAttachment {
            // `shmat` never returns null on success.
            ptr: NonNull::new(p.cast()).ok_or_else(|| io::Error::other("shmat returned null"))?,
            len: 0,
            attached: true,
        };
        // Qt takes the size from IPC_STAT (`shm_segsz`, the size asked for at creation).
        let st = shm_stat(id)?;
        att.len = usize::try_from(st.size).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "segment larger than memory")
        })?;
        Ok(att)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `shmdt`.
    pub(crate) fn detach(mut self) -> io::Result<()> {
        self.attached = false;
        // SAFETY: `ptr` is the address `shmat` returned; it is detached exactly once (here or
        // in drop, which sees `attached == false` afterwards).
        if unsafe { libc::shmdt(self.ptr.as_ptr().cast()) } == -1 {
            return Err(last_error());
        }
        Ok(())
    }
}

impl Drop for ShmAttachment {
    fn drop(&mut self) {
        if self.attached {
            self.attached = false;
            // SAFETY: as in `detach`.
            unsafe { libc::shmdt(self.ptr.as_ptr().cast()) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// System V semaphores

/// `semget(key, 1, IPC_CREAT | IPC_EXCL | mode)`: a new one-semaphore set.
pub(crate) fn sem_create_excl(key: i32, mode: u32) -> io::Result<i32> {
    // SAFETY: plain system call with integer arguments.
    let id = unsafe {
        libc::semget(
            key,
            1,
            libc::IPC_CREAT | libc::IPC_EXCL | (mode & 0o777) as libc::c_int,
        )
    };
    if id == -1 { Err(last_error()) } else { Ok(id) }
}

/// `semget(key, 1, IPC_CREAT | mode)`: the existing set, or a new one.
pub(crate) fn sem_get(key: i32, mode: u32) -> io::Result<i32> {
    // SAFETY: plain system call with integer arguments.
    let id = unsafe { libc::semget(key, 1, libc::IPC_CREAT | (mode & 0o777) as libc::c_int) };
    if id == -1 { Err(last_error()) } else { Ok(id) }
}

/// `semget(key, 0, 0)`: the id of an existing set, without creating one.
pub(crate) fn sem_lookup(key: i32) -> io::Result<i32> {
    // SAFETY: plain system call with integer arguments.
    let id = unsafe { libc::semget(key, 0, 0) };
    if id == -1 { Err(last_error()) } else { Ok(id) }
}

/// `union semun` (the caller defines it, per `semctl(2)`).
#[repr(C)]
#[derive(Clone, Copy)]
union Semun {
    val: libc::c_int,
    buf: *mut libc::c_void,
}

/// `semctl(id, 0, SETVAL, value)`.
pub(crate) fn sem_set(id: i32, value: i32) -> io::Result<()> {
    let arg = Semun { val: value };
    // SAFETY: for SETVAL, semctl reads its fourth argument as a `union semun` by value and uses
    // its `val` member; `Semun` has that layout (`repr(C)`, an int and a pointer).
    if unsafe { libc::semctl(id, 0, libc::SETVAL, arg) } == -1 {
        return Err(last_error());
    }
    Ok(())
}

/// `semctl(id, 0, GETVAL)`.
pub(crate) fn sem_value(id: i32) -> io::Result<i32> {
    // SAFETY: GETVAL takes no fourth argument.
    let v = unsafe { libc::semctl(id, 0, libc::GETVAL) };
    if v == -1 { Err(last_error()) } else { Ok(v) }
}

/// `semctl(id, 0, GETPID)`: the process that operated on the semaphore last (0: none yet).
pub(crate) fn sem_last_pid(id: i32) -> io::Result<u32> {
    // SAFETY: GETPID takes no fourth argument.
    let v = unsafe { libc::semctl(id, 0, libc::GETPID) };
    if v == -1 {
        Err(last_error())
    } else {
        Ok(v as u32)
    }
}

/// `semctl(id, 0, IPC_RMID)`.
pub(crate) fn sem_remove(id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID takes no fourth argument.
    if unsafe { libc::semctl(id, 0, libc::IPC_RMID) } == -1 {
        return Err(last_error());
    }
    Ok(())
}

unsafe extern "C" {
    // glibc (since 2.3.3) and musl export semtimedop; the libc crate does not declare it.
    fn semtimedop(
        semid: libc::c_int,
        sops: *mut libc::sembuf,
        nsops: libc::size_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}

/// A `timespec` of `d` (a relative timeout, or an absolute time since the epoch), clamped to
/// what `time_t` holds (64 bits on every target we build for, so no 2038 limit).
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// Adds `delta` to semaphore 0 of set `id` with `SEM_UNDO` (so the kernel reverts it if this
/// process dies), waiting as `wait` says. `Ok(false)`: it would have had to wait longer.
/// `EINVAL`/`EIDRM` (the set was removed) come back as errors: see [`is_removed`].
pub(crate) fn sem_op(id: i32, delta: i16, wait: Wait) -> io::Result<bool> {
    loop {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: (libc::SEM_UNDO
                | if wait == Wait::Never {
                    libc::IPC_NOWAIT
                } else {
                    0
                }) as libc::c_short,
        };
        let rc = match wait {
            Wait::Until(deadline) => {
                let ts = timespec(deadline.saturating_duration_since(Instant::now()));
                // SAFETY: `op` and `ts` are valid for the call; one operation.
                unsafe { semtimedop(id, &mut op, 1, &ts) }
            }
            // SAFETY: `op` is valid for the call; one operation.
            _ => unsafe { libc::semop(id, &mut op, 1) },
        };
        if rc == 0 {
            return Ok(true);
        }
        let e = last_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(false),
            _ => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// POSIX named semaphores

/// An open POSIX named semaphore (`sem_open`); closed on drop.
#[derive(Debug)]
pub(crate) struct NamedSemaphore {
    sem: NonNull<libc::sem_t>,
}

// SAFETY: a `sem_t` from `sem_open` is process-shared memory made for concurrent use from any
// thread; the C library's functions synchronise.
unsafe impl Send for NamedSemaphore {}
// SAFETY: as for `Send`.
unsafe impl Sync for NamedSemaphore {}

impl NamedSemaphore {
    /// `sem_open(name, flags, mode, value)`: `exclusive` creates a new one (`O_CREAT|O_EXCL`),
    /// otherwise an existing one is opened or a new one made (`O_CREAT`). `name` is the C
    /// library's form, with its leading `/`.
    pub(crate) fn open(
        name: &str,
        exclusive: bool,
        mode: u32,
        value: u32,
    ) -> io::Result<NamedSemaphore> {
        let c = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))?;
        let flags = libc::O_CREAT | if exclusive { libc::O_EXCL } else { 0 };
        loop {
            // SAFETY: `c` is NUL-terminated; with O_CREAT, sem_open reads a mode_t and an
            // unsigned int variadic argument, which we pass as c_uint (mode_t is u32 on Linux).
            let p = unsafe {
                libc::sem_open(
                    c.as_ptr(),
                    flags,
                    mode as libc::c_uint,
                    value as libc::c_uint,
                )
            };
            if p == libc::SEM_FAILED {
                let e = last_error();
                if is_errno(&e, libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            return NonNull::new(p)
                .map(|sem| NamedSemaphore { sem })
                .ok_or_else(|| io::Error::other("sem_open returned null"));
        }
    }

    /// `sem_open(name, 0)`: an existing semaphore only.
    pub(crate) fn open_existing(name: &str) -> io::Result<NamedSemaphore> {
        let c = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))?;
        // SAFETY: `c` is NUL-terminated; without O_CREAT no variadic arguments are read.
        let p = unsafe { libc::sem_open(c.as_ptr(), 0) };
        if p == libc::SEM_FAILED {
            return Err(last_error());
        }
        NonNull::new(p)
            .map(|sem| NamedSemaphore { sem })
            .ok_or_else(|| io::Error::other("sem_open returned null"))
    }

    /// `sem_wait` / `sem_trywait` / `sem_timedwait`. `Ok(false)`: it would have had to wait
    /// longer.
    pub(crate) fn wait(&self, wait: Wait) -> io::Result<bool> {
        loop {
            let rc = match wait {
                // SAFETY: `sem` is open until drop.
                Wait::Forever => unsafe { libc::sem_wait(self.sem.as_ptr()) },
                // SAFETY: as above.
                Wait::Never => unsafe { libc::sem_trywait(self.sem.as_ptr()) },
                Wait::Until(deadline) => {
                    // sem_timedwait measures against CLOCK_REALTIME.
                    let left = deadline.saturating_duration_since(Instant::now());
                    let at = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        + left;
                    let ts = timespec(at);
                    // SAFETY: `sem` is open; `ts` is valid for the call.
                    unsafe { libc::sem_timedwait(self.sem.as_ptr(), &ts) }
                }
            };
            if rc == 0 {
                return Ok(true);
            }
            let e = last_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN | libc::ETIMEDOUT) => return Ok(false),
                _ => return Err(e),
            }
        }
    }

    /// `sem_post`.
    pub(crate) fn post(&self) -> io::Result<()> {
        // SAFETY: `sem` is open until drop.
        if unsafe { libc::sem_post(self.sem.as_ptr()) } == -1 {
            return Err(last_error());
        }
        Ok(())
    }

    /// `sem_getvalue`.
    pub(crate) fn value(&self) -> io::Result<i32> {
        let mut v: libc::c_int = 0;
        // SAFETY: `sem` is open; `v` is a valid int to write.
        if unsafe { libc::sem_getvalue(self.sem.as_ptr(), &mut v) } == -1 {
            return Err(last_error());
        }
        Ok(v)
    }
}

impl Drop for NamedSemaphore {
    fn drop(&mut self) {
        // SAFETY: `sem` came from sem_open and is closed exactly once, here.
        unsafe { libc::sem_close(self.sem.as_ptr()) };
    }
}

/// `sem_unlink(name)` (the C library's form, with the leading `/`).
pub(crate) fn named_semaphore_unlink(name: &str) -> io::Result<()> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))?;
    // SAFETY: `c` is NUL-terminated.
    if unsafe { libc::sem_unlink(c.as_ptr()) } == -1 {
        return Err(last_error());
    }
    Ok(())
}

/// The file in the shared-memory directory that holds named semaphore `name` (`/x` →
/// `sem.x`), as glibc names it.
pub(crate) fn named_semaphore_file(name: &str) -> String {
    format!("sem.{}", name.trim_start_matches('/'))
}

// ---------------------------------------------------------------------------------------------
// What /proc tells

/// One line of `/proc/sysvipc/shm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysvShmEntry {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub size: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub nattch: u64,
    pub uid: u32,
    pub ctime: i64,
}

/// One line of `/proc/sysvipc/sem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysvSemEntry {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub nsems: u32,
    pub uid: u32,
    pub ctime: i64,
}

/// Every System V segment (`ipcs -m`), from `/proc/sysvipc/shm`.
pub(crate) fn list_sysv_shm() -> io::Result<Vec<SysvShmEntry>> {
    Ok(parse_sysv_shm(&fs::read_to_string("/proc/sysvipc/shm")?))
}

/// Every System V semaphore set (`ipcs -s`), from `/proc/sysvipc/sem`.
pub(crate) fn list_sysv_sem() -> io::Result<Vec<SysvSemEntry>> {
    Ok(parse_sysv_sem(&fs::read_to_string("/proc/sysvipc/sem")?))
}

/// Columns by heading, so a kernel that adds columns does not break us.
fn parse_table<T>(text: &str, row: impl Fn(&dyn Fn(&str) -> Option<i64>) -> Option<T>) -> Vec<T> {
    let mut lines = text.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = head.split_whitespace().collect();
    lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let get = |name: &str| -> Option<i64> {
                let i = cols.iter().position(|c| *c == name)?;
                cells.get(i)?.parse().ok()
            };
            row(&get)
        })
        .collect()
}

fn parse_sysv_shm(text: &str) -> Vec<SysvShmEntry> {
    parse_table(text, |get| {
        Some(SysvShmEntry {
            key: get("key")? as i32,
            id: get("shmid")? as i32,
            mode: u32::from_str_radix(&get("perms")?.to_string(), 8).ok()? & 0o777,
            size: get("size")? as u64,
            cpid: get("cpid")? as u32,
            lpid: get("lpid")? as u32,
            nattch: get("nattch")? as u64,
            uid: get("uid")? as u32,
            ctime: get("ctime").unwrap_or(0),
        })
    })
}

fn parse_sysv_sem(text: &str) -> Vec<SysvSemEntry> {
    parse_table(text, |get| {
        Some(SysvSemEntry {
            key: get("key")? as i32,
            id: get("semid")? as i32,
            mode: u32::from_str_radix(&get("perms")?.to_string(), 8).ok()? & 0o777,
            nsems: get("nsems")? as u32,
            uid: get("uid")? as u32,
            ctime: get("ctime").unwrap_or(0),
        })
    })
}

/// Which processes map which files, and which System V segments, from `/proc/*/maps`.
#[derive(Debug, Default)]
pub(crate) struct Mappers {
    /// (device, inode) of a mapped file → the processes mapping it.
    pub files: HashMap<(u64, u64), Vec<u32>>,
    /// System V key → the processes that have the segment attached.
    pub sysv: HashMap<i32, Vec<u32>>,
    /// Whether every process that could use another user's objects could be read (otherwise
    /// "nobody" is not certain).
    pub complete: bool,
}

/// Scans `/proc/*/maps`. Processes that vanish meanwhile are skipped. A process whose maps
/// cannot be read makes the result incomplete if it runs as another user; one of our own user
/// that we still cannot read is non-dumpable (a sandbox supervisor, a setuid program, an agent
/// that hides its memory) and is assumed not to map other programs' shared memory.
pub(crate) fn mappers() -> Mappers {
    let me = rustix::process::geteuid().as_raw();
    let mut m = Mappers {
        complete: true,
        ..Mappers::default()
    };
    let Ok(dir) = fs::read_dir("/proc") else {
        m.complete = false;
        return m;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        match fs::read_to_string(format!("/proc/{pid}/maps")) {
            Ok(text) => parse_maps(&text, pid, &mut m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if is_errno(&e, libc::ESRCH) => {}
            Err(_) => {
                let owner = rustix::fs::stat(format!("/proc/{pid}")).map(|st| st.st_uid);
                if owner.is_ok_and(|uid| uid != me) {
                    m.complete = false;
                }
            }
        }
    }
    for pids in m.files.values_mut().chain(m.sysv.values_mut()) {
        pids.sort_unstable();
        pids.dedup();
    }
    m
}

/// `7f..-7f.. rw-s 00000000 00:1a 12345   /dev/shm/psm_1 (deleted)`;
/// System V segments show as `/SYSV5100c552` with the key in hex.
fn parse_maps(text: &str, pid: u32, m: &mut Mappers) {
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_range), Some(_perms), Some(_off), Some(dev), Some(ino)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Some(path) = f.next() else { continue };
        if let Some(hex) = path.strip_prefix("/SYSV") {
            if let Ok(key) = u32::from_str_radix(hex, 16) {
                m.sysv.entry(key as i32).or_default().push(pid);
            }
            continue;
        }
        if !path.starts_with("/dev/shm/") {
            continue;
        }
        let mut parts = dev.split(':');
        let (Some(maj), Some(min)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(maj), Ok(min), Ok(ino)) = (
            u32::from_str_radix(maj, 16),
            u32::from_str_radix(min, 16),
            ino.parse::<u64>(),
        ) else {
            continue;
        };
        m.files
            .entry((rustix::fs::makedev(maj, min), ino))
            .or_default()
            .push(pid);
    }
}

/// (device, inode) of `/dev/shm/NAME`, to look it up in [`Mappers::files`].
pub(crate) fn shm_file_id(name: &str) -> io::Result<(u64, u64)> {
    let st = rustix::fs::statat(
        CWD,
        format!("{}/{name}", super::SHM_DIR),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok((st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_sysvipc_tables() {
        let shm = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                   1359005010          3   600                  4096   100   101      1     0     0     0     0 1700000000 0 1700000000 4096 0\n\
                   garbage line\n";
        let e = parse_sysv_shm(shm);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, 0x5100_c552);
        assert_eq!((e[0].id, e[0].mode, e[0].size), (3, 0o600, 4096));
        assert_eq!((e[0].cpid, e[0].lpid, e[0].nattch), (100, 101, 1));
        let sem = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                   -1          7   600          1     0     0     0     0          0 1700000000\n";
        let s = parse_sysv_sem(sem);
        assert_eq!((s[0].key, s[0].id, s[0].nsems), (-1, 7, 1));
        assert!(parse_sysv_shm("").is_empty());
    }

    #[test]
    fn parses_maps_for_shm_files_and_sysv_segments() {
        let mut m = Mappers::default();
        parse_maps(
            "7f00-7f10 rw-s 00000000 00:1a 12345                      /dev/shm/psm_1 (deleted)\n\
             7f10-7f20 rw-s 00000000 00:01 98                         /SYSV5100c552\n\
             7f20-7f30 r-xp 00000000 fd:01 42                         /usr/lib/libc.so.6\n\
             7f30-7f40 rw-p 00000000 00:00 0\n",
            9,
            &mut m,
        );
        assert_eq!(m.files[&(rustix::fs::makedev(0, 0x1a), 12345)], [9]);
        assert_eq!(m.sysv[&0x5100_c552], [9]);
        assert_eq!(m.files.len(), 1);
    }

    #[test]
    fn ftok_depends_on_the_inode() {
        let dir = std::env::temp_dir().join(format!("shmkit-ftok-{}", std::process::id()));
        assert!(create_key_file(&dir).unwrap());
        assert!(!create_key_file(&dir).unwrap());
        let key = ftok(&dir, 0x51).unwrap();
        let st = rustix::fs::stat(&dir).unwrap();
        let want = (0x51 << 24)
            | ((rustix::fs::minor(st.st_dev) & 0xff) << 16) as i32
            | (st.st_ino & 0xffff) as i32;
        remove_file(&dir).unwrap();
        assert_eq!(key, want);
        assert_eq!(
            ftok(&dir, 0x51).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
