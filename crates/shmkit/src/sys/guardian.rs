//! The guardian (Linux): a `LastClose` segment goes when its last holder dies, however it dies,
//! with no other shmkit process around.
//!
//! The flock rule of `linux.rs` lets the *last closer* remove the name, and the next creator or
//! opener remove the orphan of crashed holders. A holder killed by a signal (`kill -9`, or a
//! Ctrl-C that ends a Rust program without running destructors) closes nothing, so without help
//! its segment — name and memory — stays until somebody comes back.
//!
//! # How
//!
//! Each creating process gets one *guard process*, started at its first `LastClose` create. The
//! creator hands it every such segment as a *job*: an open file description of the segment's
//! file that no handle locks (never the creator's own: `flock` on a shared description would
//! convert the creator's lock), and the paths to remove. The guard
//!
//! 1. tries `LOCK_EX` without blocking: granted means nobody holds the segment any more;
//! 2. otherwise watches the file with inotify for closes — a dying process's descriptors and
//!    mappings are closed by the kernel, and each close is reported — and tries again after each
//!    close. The kernel reports a close just *before* it drops that description's lock, so a try
//!    right after a report can lose that race (measured: about once in a few thousand); the
//!    guard tries again 1, 10 and 100 ms later, and also after each job's arrival (a close
//!    between its first try and the watch goes unreported);
//! 3. once granted, removes each path that still names the file it locked (`stat` vs `fstat`: a
//!    segment made anew under the same name survives), closes the file — with the last
//!    descriptor the memory is freed — and forgets the segment.
//!
//! Where no watch can be had (this user has no inotify instance left, the watch limit is
//! reached, or the segment's mode does not let its owner read it), the guard forks a *waiter*
//! for that segment instead: a process blocked in `flock(LOCK_EX)`, which the kernel grants
//! exactly when the last holder is gone. A blocked waiter is no holder: `/proc/locks` lists it
//! as a waiter (`->`), which `parse_locks` skips, and it does not stop a closer or an opener from
//! taking the lock first. `SHMKIT_GUARDIAN_WAITERS=1` in the creating process's environment makes
//! its guard use waiters only (to test that path).
//!
//! While the guard (or a waiter) holds `LOCK_EX` — microseconds — openers and creators retry as
//! they do for any remover (`BUSY_RETRY`). Its try can also take the lock in the instant a
//! last closer converts its own (`flock` drops the old lock first): then the guard removes the
//! name and the closer, finding the lock taken, leaves it — the segment goes either way.
//!
//! ```text
//! creator ──fork──▶ (intermediate: forks, exits; reaped at once) ──fork──▶ guard
//!    │ socketpair (SOCK_SEQPACKET): one message per segment, with its descriptor   ▲
//!    └─────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! * **The job is handed over before the segment has a name.** The creator sends it once the
//!   segment is held and initialised, then links it. If the creator dies before linking, or
//!   fails to, the guard finds that the name is not its file and leaves it; a creator killed right
//!   after linking is covered too. A message in flight keeps its descriptor open, so a creator
//!   may die the moment `sendmsg` returns.
//! * **The guard is a stranger to the creator.** Forked twice (the intermediate is reaped at
//!   once), it is nobody's child: no zombie accumulates in a long-running creator, and a
//!   creator's `wait()` never sees it. The intermediate prepares what it inherits: `setsid` (out
//!   of the terminal's process group: Ctrl-C and hang-ups reach the creator, not the guard),
//!   every signal handler reset (its code is about to be unmapped), SIGCHLD ignored (waiters are
//!   reaped by the kernel), every descriptor but the socket closed (holding the creator's would
//!   keep its locks, and pipes, alive after the creator died), the working directory `/` (it
//!   pins no mount). `ps` shows the guard as `shmkit-guard`. It ends when every process holding
//!   the other end of its socket (the creator and its forks) is gone and it guards nothing more.
//! * **It drops the memory it inherited** — the intermediate does, before forking the guard. A
//!   forked child keeps its parent's whole private memory alive copy-on-write, and its mappings
//!   of segments keep the creator's locks (a mapping refers to the open file description the
//!   lock belongs to). The intermediate closes every descriptor but the socket, walks
//!   `/proc/self/maps` (raw `open`/`read` into a stack buffer) and unmaps everything except the
//!   program's and libraries' own mappings (code, constants, static data), the kernel's
//!   (`[vdso]`, `[vvar]`), a window of its stack and the page holding the C library's `errno`.
//!   Heap, thread stacks, anonymous and shared mappings (segments included) go — except in a
//!   program built with a sanitizer (AddressSanitizer & co., found with `dlsym`), whose runtime
//!   interposes `memcpy` and needs its anonymous shadow memory: there private anonymous memory
//!   stays (`sanitized`). The creator
//!   waits for it (once per process), so nothing of the creator's outlives `create` in another
//!   process. Without `/proc/self/maps` there is no guard (better than pinning the creator's
//!   memory). The guard's table of segments lives in anonymous memory it maps itself.
//! * **After `fork`, only raw system calls.** The creator may be multi-threaded, and the guard
//!   has unmapped the heap: no allocation, no locks, no `std::process::exit`, no printing.
//!   rustix's calls are inline system calls on Linux; `fork` is the bare `clone` system call
//!   (no `pthread_atfork` handlers), and exit is `exit_group`, both through libc's `syscall`,
//!   whose code stays mapped, whose link was resolved by the creator's own first call, and whose
//!   `errno` page is kept. Everything a child needs is prepared on the stack before forking.
//!
//! # Costs
//!
//! `cargo bench -p shmkit --bench guardian` (1,000 held segments; development machine, 2 vCPUs
//! shared with other work, Linux 6.18): one guard per creating process, about 1 MiB resident,
//! 0.75 MiB proportional, 0.6 MiB of it private — its table, 0.6 KiB per segment; the kernel's
//! watch and open file add 1–2 KiB per segment. With one waiter process per segment (the
//! fallback) the same 1,000 segments cost 1,001 processes and about 85 MiB of kernel memory
//! (kernel stacks, page tables). A create costs the creator about 8 µs more CPU (a second open
//! file description, one message; 21 → 29 µs), and the guard's work competes for CPU on a busy
//! machine (31 → 45 µs of wall time here); the first create of a process, which starts the
//! guard, about 0.5 ms. `cargo bench -p shmkit --bench segment` shows `create+close` next to
//! `create+close-persistent`, which has no guardian.
//!
//! # Limits
//!
//! * A killed guardian (`kill -9` of the guard, or of a waiter, or a service manager stopping
//!   the whole cgroup) guards nothing any more: then the next shmkit create, open or sweep by the
//!   same user removes the leftover (`stale.rs`). So does a fork that fails (process limits), a
//!   guard killed more than `MAX_STARTS` times, or a system without `/proc`. A guard that stops
//!   reading (`kill -STOP`) is replaced once a send to it times out (250 ms, once); the segments
//!   queued for it wait until it resumes.
//! * The guard of a creator that ended lives on while segments it guards are held by others,
//!   and then ends; in a container whose first process never reaps orphans, each ended guard
//!   stays a zombie (run such containers with an init, e.g. `docker run --init`).
//! * The guard removes what the segment was published under; a name renamed by hand is not
//!   followed. The check and the unlink are two calls, as for every remover (see `linux.rs`).

use std::ffi::CStr;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// Room for one path in a job: `/dev/shm/`, a name of up to 255 bytes, and the NUL.
const PATH_CAP: usize = 272;
/// How many paths a job names: the segment's, and the temporary one it was built under (if any).
const PATHS: usize = 2;
/// The first bytes of every job.
const MAGIC: u32 = u32::from_le_bytes(*b"SKG1");
/// A job: `MAGIC`, then `PATHS` NUL-terminated paths of `PATH_CAP` bytes each.
const JOB_LEN: usize = 4 + PATHS * PATH_CAP;

/// How long a create waits to hand a job to a guard that does not read. A guard handles a job in
/// microseconds; one whose queue stays full this long is stopped (`kill -STOP`) or stuck, and is
/// replaced, so that creates do not wait on it again.
const SEND_TIMEOUT: Duration = Duration::from_millis(250);
/// Guards this process starts at most: one that keeps being killed is not restarted forever.
const MAX_STARTS: u32 = 8;

/// The guard keeps this much of its stack below the point where it drops its memory (for the
/// calls it makes later, and its waiters') …
const KEEP_BELOW: usize = 256 << 10;
/// … and this much above it (its own frames: the job and message buffers).
const KEEP_ABOVE: usize = 128 << 10;

/// This process's end of the socket to its guard, with (the low bits of) that socket's inode
/// number, packed by `pack`; `NONE` when there is none (yet).
///
/// A descriptor stored here is never closed by us: when its guard dies, another thread may still
/// be sending on it, and closing it could let that thread write into an unrelated file that
/// reused the number. A dead guard's descriptor is left open (at most `MAX_STARTS` of them).
/// Nor do we trust that the program left it alone: before each send, the descriptor must still
/// be a socket with that inode, or a job (and a descriptor of a segment) could go to a peer of
/// the program's own that reused the number.
static GUARD: AtomicU64 = AtomicU64::new(NONE);
const NONE: u64 = u64::MAX;

fn pack(fd: RawFd, ino: u64) -> u64 {
    (ino as u32 as u64) << 32 | u64::from(fd as u32)
}

fn unpack(v: u64) -> (RawFd, u32) {
    (v as u32 as RawFd, (v >> 32) as u32)
}
/// Guards started by this process (including failed attempts).
static STARTS: AtomicU32 = AtomicU32::new(0);

/// Hands a segment to this process's guard (starting it on first use): `file` is an open file
/// description of the segment's file that no handle locks; once nobody holds the segment, the
/// guard removes each of `paths` that still names that file.
///
/// Best effort: `false` if no guard could take the job (the caller then relies on the sweep).
pub(crate) fn watch(file: OwnedFd, paths: &[&CStr]) -> bool {
    let mut job = [0u8; JOB_LEN];
    job[..4].copy_from_slice(&MAGIC.to_le_bytes());
    for (i, p) in paths.iter().take(PATHS).enumerate() {
        let bytes = p.to_bytes_with_nul();
        if bytes.len() > PATH_CAP {
            return false;
        }
        job[4 + i * PATH_CAP..][..bytes.len()].copy_from_slice(bytes);
    }
    loop {
        let current = match GUARD.load(Ordering::Acquire) {
            NONE => match start() {
                Some(v) => v,
                None => return false,
            },
            v => v,
        };
        let (raw, ino) = unpack(current);
        // SAFETY: we never close a descriptor stored in GUARD (see there). A program that closes
        // descriptors it does not own breaks that; the check below then keeps the job at home.
        let sock = unsafe { BorrowedFd::borrow_raw(raw) };
        let ours = rustix::fs::fstat(sock).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket
                && st.st_ino as u32 == ino
        });
        let gone = || {
            let _ = GUARD.compare_exchange(current, NONE, Ordering::AcqRel, Ordering::Acquire);
        };
        if !ours {
            gone(); // start another (bounded by MAX_STARTS)
            continue;
        }
        match send(sock, &job, file.as_fd()) {
            Ok(()) => return true,
            // The guard is gone (killed), or stopped (the send timed out): start another and try
            // again (bounded by MAX_STARTS).
            Err(Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN | Errno::AGAIN) => gone(),
            // Anything else: leave this segment to the sweep.
            Err(_) => return false,
        }
    }
}

fn send(sock: BorrowedFd<'_>, job: &[u8; JOB_LEN], file: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [file];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(Errno::NOBUFS);
    }
    let iov = [IoSlice::new(job)];
    loop {
        match rustix::net::sendmsg(sock, &iov, &mut control, SendFlags::NOSIGNAL) {
            Ok(n) if n == JOB_LEN => return Ok(()),
            Ok(_) => return Err(Errno::MSGSIZE),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// What the guard process needs, gathered before forking.
#[derive(Clone, Copy)]
struct Prep {
    /// The guard's end of the socket.
    sock: RawFd,
    /// Guard every segment with a waiter process (the fallback), never with a watch: for tests
    /// of that fallback (`SHMKIT_GUARDIAN_WAITERS=1` in the creating process's environment).
    waiters_only: bool,
    /// The address of the forking thread's `errno`, whose page the guard keeps (libc's `syscall`
    /// writes it on failure).
    errno: usize,
    page: usize,
    /// A sanitizer's runtime is in the process (see [`sanitized`]): keep private anonymous memory.
    sanitized: bool,
}

/// Whether a sanitizer runtime (AddressSanitizer, ThreadSanitizer, MemorySanitizer, HWASan) is
/// loaded in this process — a C or C++ program built with `-fsanitize=…` that uses the C API.
///
/// Such a runtime interposes the C library's `memcpy`, `memset` and friends, which compiled code
/// may call without saying so (a struct copy), and its versions read the runtime's shadow
/// memory: anonymous mappings that the guard would otherwise unmap, and then fault on. So in such
/// a process the guard keeps private anonymous memory (the cost: the creator's copy-on-write
/// pages stay alive while the guard lives — in a test build, where that is acceptable). Shared
/// mappings, the segments among them, go as always.
fn sanitized() -> bool {
    [
        c"__asan_init",
        c"__tsan_init",
        c"__msan_init",
        c"__hwasan_init",
    ]
    .iter()
    // SAFETY: `dlsym` with the default handle and a NUL-terminated name only looks the symbol up.
    .any(|name| !unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.is_null())
}

/// Starts a guard process; returns this process's end of its socket, packed (see GUARD).
fn start() -> Option<u64> {
    if STARTS.fetch_add(1, Ordering::Relaxed) >= MAX_STARTS {
        return None;
    }
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .ok()?;
    rustix::net::sockopt::set_socket_timeout(
        &ours,
        rustix::net::sockopt::Timeout::Send,
        Some(SEND_TIMEOUT),
    )
    .ok()?;
    let prep = Prep {
        sock: theirs.as_raw_fd(),
        waiters_only: std::env::var_os("SHMKIT_GUARDIAN_WAITERS").is_some_and(|v| v == "1"),
        // SAFETY: returns the address of this thread's errno; no precondition.
        errno: unsafe { libc::__errno_location() } as usize,
        page: rustix::param::page_size(),
        sanitized: sanitized(),
    };
    // Block every signal across the forks, so that no child runs one of this process's handlers
    // before the guard has reset them; the children unblock them.
    // SAFETY: plain signal-mask calls on valid, initialised sets.
    let old = unsafe {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(all.as_mut_ptr());
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        old.assume_init()
    };
    // SAFETY: the child runs only `intermediate`, which makes system calls and exits.
    let pid = unsafe { raw_fork() };
    if pid == 0 {
        intermediate(&prep);
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(theirs);
    if pid <= 0 {
        return None;
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let forked = loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => break status.exit_status() == Some(0),
            Err(Errno::INTR) => continue,
            // Reaped by someone else (a SIGCHLD handler of this program): assume it worked; if
            // not, the first send fails and we try again.
            _ => break true,
        }
    };
    if !forked {
        return None;
    }
    let ino = rustix::fs::fstat(&ours).ok()?.st_ino;
    let raw = ours.into_raw_fd();
    let mine = pack(raw, ino);
    match GUARD.compare_exchange(NONE, mine, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(mine),
        Err(other) => {
            // Another thread started one meanwhile: use it. Ours was never shared, so it may be
            // closed; its guard sees the end of its socket and exits.
            // SAFETY: `raw` came from `into_raw_fd` above and nothing else refers to it.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
            Some(other)
        }
    }
}

/// The intermediate child: drops what it inherited, forks the guard and exits (0 if it did), so
/// that the guard is nobody's child.
///
/// It closes the creator's descriptors and unmaps its memory *before* the guard exists. Each
/// descriptor, and each mapping of a segment, refers to one of the creator's open file
/// descriptions, which carry its `flock`s: a guard that inherited them would keep the creator's
/// segments held after the creator died, until it had run. The creator waits for this process,
/// so when `create` returns no other process has them.
fn intermediate(prep: &Prep) -> ! {
    // A copy on this frame: the creator's frames above it are not kept (see `drop_memory`).
    let prep = *prep;
    close_all_but(prep.sock);
    // Its own session: terminal signals (Ctrl-C, hang-ups) go to the creator's group, not here.
    let _ = rustix::process::setsid();
    // The guard inherits all of this; the C library's signal calls go before its memory.
    reset_signals();
    let _ = rustix::process::chdir(c"/");
    if !drop_memory(&prep) {
        exit_now(1);
    }
    // SAFETY: the child runs only `guard_main`.
    let pid = unsafe { raw_fork() };
    if pid == 0 {
        guard_main(&prep);
    }
    exit_now(if pid > 0 { 0 } else { 1 })
}

/// `fork()` as the bare `clone` system call: no `pthread_atfork` handlers run, and nothing of the
/// C library's state is touched. Returns 0 in the child, the child's id in the parent, -1 on
/// failure.
///
/// # Safety
/// The child is a copy of a possibly multi-threaded process with only this thread: it may use
/// only async-signal-safe operations (no allocation, no locks), and must end with `exit_now`
/// without returning into frames that would run destructors.
unsafe fn raw_fork() -> libc::c_long {
    let sigchld = libc::c_long::from(libc::SIGCHLD);
    // Every argument a full register wide: `syscall` is variadic.
    const NONE: libc::c_long = 0;
    // clone(SIGCHLD) without a new stack is fork; s390x takes the stack first.
    // SAFETY: as documented above; the system call itself has no memory arguments here.
    #[cfg(not(target_arch = "s390x"))]
    let r = unsafe { libc::syscall(libc::SYS_clone, sigchld, NONE, NONE, NONE, NONE) };
    // SAFETY: as above.
    #[cfg(target_arch = "s390x")]
    let r = unsafe { libc::syscall(libc::SYS_clone, NONE, sigchld, NONE, NONE, NONE) };
    r
}

/// Ends this process at once: `exit_group`, nothing else.
fn exit_now(code: i32) -> ! {
    loop {
        // SAFETY: ends the process; touches no memory (see the module docs on `syscall`).
        unsafe { libc::syscall(libc::SYS_exit_group, libc::c_long::from(code)) };
    }
}

/// The guard process: detaches, then guards segments until its creator (and every fork of it)
/// has closed the socket and none of them is left. It starts with what the intermediate kept.
fn guard_main(prep: &Prep) -> ! {
    let prep = *prep;
    let _ = rustix::thread::set_name(c"shmkit-guard");
    let mut job = [0u8; JOB_LEN];
    let mut events = [MaybeUninit::<u8>::uninit(); 4096];
    serve(prep, &mut job, &mut events)
}

/// Resets every signal's handler (its code is about to be unmapped), ignores SIGCHLD (the
/// kernel reaps waiters) and unblocks everything.
fn reset_signals() {
    // SAFETY: sigaction and the mask calls with valid, initialised arguments; the C library's
    // wrappers are async-signal-safe. Signals it reserves refuse the call, which is harmless.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut act.sa_mask);
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
        act.sa_sigaction = libc::SIG_IGN;
        libc::sigaction(libc::SIGCHLD, &act, std::ptr::null_mut());
        let mut none = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(none.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, none.as_ptr(), std::ptr::null_mut());
    }
}

/// Closes every descriptor except `keep` (raw system calls only).
fn close_all_but(keep: RawFd) {
    let close_range = |first: libc::c_long, last: libc::c_long| {
        // SAFETY: close_range(2) closes descriptors of this process only; none of them is used
        // by anything in this single-threaded child.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_long) }
    };
    let keep_l = libc::c_long::from(keep);
    let below = if keep > 0 {
        close_range(0, keep_l - 1)
    } else {
        0
    };
    let above = close_range(keep_l + 1, libc::c_long::from(u32::MAX));
    if below < 0 || above < 0 {
        // Linux before 5.9: one by one.
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1024)
            .min(1 << 16);
        for fd in 0..limit as RawFd {
            if fd != keep {
                // SAFETY: as above; closing a descriptor that is not open fails harmlessly.
                unsafe { rustix::io::close(fd) };
            }
        }
    }
}

/// After a close of a watched segment (or its arrival), the guard tries `LOCK_EX` at once, then
/// again after these delays: the kernel reports a close just *before* it drops the closing
/// description's lock, so the first try can lose that race (about once in a few thousand).
const RETRY_NS: [u64; 3] = [1_000_000, 10_000_000, 100_000_000];

/// CLOCK_MONOTONIC in nanoseconds, by the bare system call.
fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes the timespec we own; libc's `syscall` only forwards.
    unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::c_long::from(libc::CLOCK_MONOTONIC),
            &mut ts as *mut libc::timespec,
        )
    };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// A watched segment: its file (owned by the table), its inotify watch, when to try `LOCK_EX`
/// next (0: when it is closed), and the job's paths.
#[repr(C)]
struct Watched {
    used: u32,
    file: RawFd,
    wd: i32,
    retries: u32,
    due: u64,
    job: [u8; JOB_LEN],
}

/// The guard's watched segments, in anonymous memory of its own (there is no heap here).
struct Table {
    ptr: *mut Watched,
    cap: usize,
}

impl Table {
    fn slots(&mut self) -> &mut [Watched] {
        if self.cap == 0 {
            return &mut [];
        }
        // SAFETY: `ptr` maps `cap` slots that only this table uses; a `Watched` is valid for any
        // bits (integers), and fresh anonymous memory is zeros (`used == 0`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }

    /// A free slot, growing the table if needed (`None` if it cannot grow).
    fn free_slot(&mut self) -> Option<&mut Watched> {
        let i = match self.slots().iter().position(|w| w.used == 0) {
            Some(i) => i,
            None => {
                let old = self.cap;
                let cap = (old * 2).max(64);
                let (was, size) = (old * size_of::<Watched>(), cap * size_of::<Watched>());
                // SAFETY: a fresh private anonymous mapping, or our own mapping of `was` bytes
                // moved and grown (its contents kept); nothing refers into it across this call.
                let p = unsafe {
                    if old == 0 {
                        rustix::mm::mmap_anonymous(
                            std::ptr::null_mut(),
                            size,
                            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                            rustix::mm::MapFlags::PRIVATE,
                        )
                    } else {
                        rustix::mm::mremap(
                            self.ptr.cast(),
                            was,
                            size,
                            rustix::mm::MremapFlags::MAYMOVE,
                        )
                    }
                }
                .ok()?;
                self.ptr = p.cast();
                self.cap = cap;
                old
            }
        };
        self.slots().get_mut(i)
    }

    fn in_use(&mut self) -> bool {
        self.slots().iter().any(|w| w.used != 0)
    }

    fn next_due(&mut self) -> Option<u64> {
        self.slots()
            .iter()
            .filter(|w| w.used != 0 && w.due != 0)
            .map(|w| w.due)
            .min()
    }
}

/// Guards the segments of the jobs it receives, until every sender has closed its end and no
/// segment is left.
///
/// Each segment's file is watched with inotify for closes (a dying process's descriptors and
/// mappings close too); after each close — and when the job arrives — the guard tries
/// `LOCK_EX` without blocking: granted means nobody holds the segment any more, and the guard
/// applies the rule (`remove_if_ours`). Where no watch can be had (no inotify instance left for
/// this user, the watch limit, a mode that denies the owner reading), a waiter process blocks in
/// `LOCK_EX` for that segment instead.
fn serve(prep: Prep, job: &mut [u8; JOB_LEN], events: &mut [MaybeUninit<u8>]) -> ! {
    // SAFETY: `sock` is open (kept by `close_all_but`) and nothing else in this process owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(prep.sock) };
    let inotify = if prep.waiters_only {
        None
    } else {
        rustix::fs::inotify::init(
            rustix::fs::inotify::CreateFlags::CLOEXEC | rustix::fs::inotify::CreateFlags::NONBLOCK,
        )
        .ok()
    };
    let mut table = Table {
        ptr: std::ptr::null_mut(),
        cap: 0,
    };
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut sock = Some(sock);
    while sock.is_some() || table.in_use() {
        let wait = table.next_due().map(|due| {
            let ns = due.saturating_sub(now());
            rustix::time::Timespec {
                tv_sec: (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as i64,
            }
        });
        let flags = rustix::event::PollFlags::IN;
        let _ = match (&sock, &inotify) {
            (Some(s), Some(i)) => rustix::event::poll(
                &mut [
                    rustix::event::PollFd::new(s, flags),
                    rustix::event::PollFd::new(i, flags),
                ],
                wait.as_ref(),
            ),
            (Some(s), None) => {
                rustix::event::poll(&mut [rustix::event::PollFd::new(s, flags)], wait.as_ref())
            }
            (None, Some(i)) => {
                rustix::event::poll(&mut [rustix::event::PollFd::new(i, flags)], wait.as_ref())
            }
            (None, None) => break,
        };
        let now = now();
        if let Some(s) = &sock {
            match receive(s, &mut space, job) {
                Got::Job(file) => guard_one(file, job, inotify.as_ref(), &mut table, now),
                Got::Nothing => {}
                Got::End => sock = None,
            }
        }
        if let Some(i) = &inotify {
            closes(i, events, &mut table, now);
        }
        for w in table.slots().iter_mut() {
            if w.used != 0 && w.due != 0 && w.due <= now {
                retry(w, inotify.as_ref(), now);
            }
        }
    }
    // Leave only when the waiters are done (SIGCHLD is ignored: this returns ECHILD then).
    while let Ok(_) | Err(Errno::INTR) =
        rustix::process::wait(rustix::process::WaitOptions::empty())
    {}
    exit_now(0)
}

enum Got {
    Job(OwnedFd),
    Nothing,
    /// Every sender closed its end.
    End,
}

/// Receives one job, if one is there.
fn receive(sock: &OwnedFd, space: &mut [MaybeUninit<u8>], job: &mut [u8; JOB_LEN]) -> Got {
    let mut control = RecvAncillaryBuffer::new(space);
    let mut iov = [IoSliceMut::new(&mut job[..])];
    let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT;
    let msg = match rustix::net::recvmsg(sock, &mut iov, &mut control, flags) {
        Ok(msg) => msg,
        Err(Errno::INTR | Errno::AGAIN) => return Got::Nothing,
        Err(_) => return Got::End,
    };
    let mut file = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                // One descriptor per job; any other is closed when dropped.
                if file.is_none() {
                    file = Some(fd);
                }
            }
        }
    }
    drop(control);
    let magic = u32::from_le_bytes([job[0], job[1], job[2], job[3]]);
    match file {
        None if msg.bytes == 0 => Got::End,
        Some(file)
            if msg.bytes == JOB_LEN
                && !msg.flags.contains(ReturnFlags::TRUNC)
                && magic == MAGIC =>
        {
            Got::Job(file)
        }
        _ => Got::Nothing,
    }
}

/// `LOCK_EX` without blocking: granted means nobody holds the segment (and we hold it until the
/// file closes).
fn free(file: BorrowedFd<'_>) -> bool {
    rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive).is_ok()
}

/// Starts guarding one segment: watched if possible, else by a waiter process.
fn guard_one(
    file: OwnedFd,
    job: &[u8; JOB_LEN],
    inotify: Option<&OwnedFd>,
    table: &mut Table,
    now: u64,
) {
    // Nobody holds it already (its creator closed it, or died, before we got here)?
    if free(file.as_fd()) {
        remove_if_ours(file.as_fd(), job);
        return;
    }
    if let Some(inotify) = inotify {
        if let Some(wd) = add_watch(inotify, &file) {
            if let Some(w) = table.free_slot() {
                w.used = 1;
                w.file = file.into_raw_fd();
                w.wd = wd;
                w.job.copy_from_slice(job);
                // A close between our try and the watch went unseen: try again shortly.
                w.due = now.saturating_add(RETRY_NS[0]);
                w.retries = 1;
                return;
            }
            let _ = rustix::fs::inotify::remove_watch(inotify, wd);
        }
    }
    // SAFETY: the child runs only `waiter_main`.
    if unsafe { raw_fork() } == 0 {
        waiter_main(file.as_raw_fd(), job);
    }
    // A failed fork leaves this segment to the sweep. `file` closes here; the waiter has a copy.
}

/// Watches `file` for closes; its watch descriptor.
fn add_watch(inotify: &OwnedFd, file: &OwnedFd) -> Option<i32> {
    // "/proc/self/fd/N", built on the stack.
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let mut n = u32::try_from(file.as_raw_fd()).ok()?;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        path[14 + i] = digits[len - 1 - i];
    }
    let path = CStr::from_bytes_until_nul(&path).ok()?;
    rustix::fs::inotify::add_watch(
        inotify,
        path,
        rustix::fs::inotify::WatchFlags::CLOSE_WRITE
            | rustix::fs::inotify::WatchFlags::CLOSE_NOWRITE,
    )
    .ok()
}

/// Reads the pending inotify events: a close makes its segment due for a try now.
fn closes(inotify: &OwnedFd, buf: &mut [MaybeUninit<u8>], table: &mut Table, now: u64) {
    use rustix::fs::inotify::ReadFlags;
    let mut reader = rustix::fs::inotify::Reader::new(inotify, buf);
    loop {
        let (wd, flags) = match reader.next() {
            Ok(event) => (event.wd(), event.events()),
            Err(Errno::INTR) => continue,
            Err(_) => break, // AGAIN: nothing more
        };
        for w in table.slots().iter_mut() {
            // Events lost to a full queue: try them all.
            if w.used != 0 && (w.wd == wd || flags.contains(ReadFlags::QUEUE_OVERFLOW)) {
                if flags.contains(ReadFlags::IGNORED) {
                    // The watch is gone (its file system went away): nothing left to guard.
                    // SAFETY: the table owns this descriptor; the slot is freed at once.
                    unsafe { rustix::io::close(w.file) };
                    w.used = 0;
                } else {
                    w.due = now;
                    w.retries = 0;
                }
            }
        }
    }
}

/// A due try of a watched segment: if nobody holds it, applies the rule and forgets it;
/// otherwise schedules the next try, or none (the next close will tell).
fn retry(w: &mut Watched, inotify: Option<&OwnedFd>, now: u64) {
    // SAFETY: the table owns this descriptor while the slot is used.
    let file = unsafe { BorrowedFd::borrow_raw(w.file) };
    if free(file) {
        remove_if_ours(file, &w.job);
        if let Some(inotify) = inotify {
            let _ = rustix::fs::inotify::remove_watch(inotify, w.wd);
        }
        // SAFETY: as above; the slot is freed at once.
        unsafe { rustix::io::close(w.file) };
        w.used = 0;
        return;
    }
    match RETRY_NS.get(w.retries as usize) {
        Some(&delay) => {
            w.due = now.saturating_add(delay);
            w.retries += 1;
        }
        None => {
            w.due = 0;
            w.retries = 0;
        }
    }
}

/// Path `i` of a job, if present.
fn path_at(job: &[u8; JOB_LEN], i: usize) -> Option<&CStr> {
    let slot = job.get(4 + i * PATH_CAP..4 + (i + 1) * PATH_CAP)?;
    CStr::from_bytes_until_nul(slot)
        .ok()
        .filter(|p| !p.is_empty())
}

/// With `LOCK_EX` held on `file` (so nobody holds the segment, and openers and creators wait):
/// removes each path of the job that still names that file.
fn remove_if_ours(file: BorrowedFd<'_>, job: &[u8; JOB_LEN]) {
    let Ok(st) = rustix::fs::fstat(file) else {
        return;
    };
    let mut ours = [false; PATHS];
    for (i, mine) in ours.iter_mut().enumerate() {
        if let Some(p) = path_at(job, i) {
            *mine = rustix::fs::statat(CWD, p, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|now| now.st_dev == st.st_dev && now.st_ino == st.st_ino);
        }
    }
    for (i, mine) in ours.iter().enumerate() {
        if let (true, Some(p)) = (*mine, path_at(job, i)) {
            let _ = rustix::fs::unlinkat(CWD, p, AtFlags::empty());
        }
    }
}

/// A waiter: keeps only its file, blocks until nobody holds it, then applies the rule.
fn waiter_main(file: RawFd, job: &[u8; JOB_LEN]) -> ! {
    // The guard's socket and the other pending files are not ours to keep open (a file kept
    // open keeps its memory).
    close_all_but(file);
    // SAFETY: `file` is open in this process (inherited, and kept above).
    let file = unsafe { BorrowedFd::borrow_raw(file) };
    loop {
        match rustix::fs::flock(file, FlockOperation::LockExclusive) {
            Ok(()) => break,
            Err(Errno::INTR) => continue,
            Err(_) => exit_now(2),
        }
    }
    remove_if_ours(file, job);
    exit_now(0)
}

/// One line of `/proc/self/maps`.
struct Map {
    start: usize,
    end: usize,
    write: bool,
    exec: bool,
    private: bool,
    /// Device major, minor, inode (0 for anonymous memory).
    file: (u64, u64, u64),
    name: MapName,
}

#[derive(PartialEq, Eq)]
enum MapName {
    /// Anonymous memory without a name.
    None,
    /// The kernel's own: `[vdso]`, `[vvar]`, `[vvar_vclock]`, `[vsyscall]`, `[uprobes]`.
    Kernel,
    /// Another bracketed name: `[heap]`, `[stack]`, `[anon:…]`.
    Other,
    /// A file's path.
    Path,
}

/// Parses a number in `radix` up to `stop` (or the end of the line, if `stop` is `None`).
fn number(line: &[u8], i: &mut usize, radix: u32, stop: Option<u8>) -> Option<u64> {
    let mut v: u64 = 0;
    let mut digits = 0;
    while let Some(&b) = line.get(*i) {
        if Some(b) == stop {
            *i += 1;
            break;
        }
        let d = (b as char).to_digit(radix)?;
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
        digits += 1;
        *i += 1;
    }
    (digits > 0).then_some(v)
}

/// `start-end perms offset major:minor inode   name`
fn parse_map(line: &[u8]) -> Option<Map> {
    let mut i = 0;
    let start = number(line, &mut i, 16, Some(b'-'))?;
    let end = number(line, &mut i, 16, Some(b' '))?;
    let perms = line.get(i..i + 4)?;
    i += 5;
    number(line, &mut i, 16, Some(b' '))?; // offset
    let major = number(line, &mut i, 16, Some(b':'))?;
    let minor = number(line, &mut i, 16, Some(b' '))?;
    let inode = number(line, &mut i, 10, Some(b' '))?;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let name = line.get(i..).unwrap_or_default();
    let name = match (name.first(), name.get(1)) {
        (None, _) => MapName::None,
        // [vdso], [vvar], [vvar_vclock], [vsyscall]; [uprobes]
        (Some(b'['), Some(b'v' | b'u')) => MapName::Kernel,
        (Some(b'['), _) => MapName::Other,
        _ => MapName::Path,
    };
    Some(Map {
        start: usize::try_from(start).ok()?,
        end: usize::try_from(end).ok()?,
        write: perms.get(1) == Some(&b'w'),
        exec: perms.get(2) == Some(&b'x'),
        private: perms.get(3) == Some(&b'p'),
        file: (major, minor, inode),
        name,
    })
}

/// Calls `f` for each mapping of this process until it returns `false`. `false` if the list
/// could not be read.
fn for_each_map(buf: &mut [u8], f: &mut dyn FnMut(&Map) -> bool) -> bool {
    let Ok(fd) = rustix::fs::openat(
        CWD,
        c"/proc/self/maps",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut have = 0;
    loop {
        let Some(room) = buf.get_mut(have..) else {
            return false;
        };
        let n = match rustix::io::read(&fd, room) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        };
        have += n;
        let mut from = 0;
        while let Some(len) = buf[from..have].iter().position(|&b| b == b'\n') {
            if let Some(m) = parse_map(&buf[from..from + len]) {
                if !f(&m) {
                    return true;
                }
            }
            from += len + 1;
        }
        if n == 0 {
            if let Some(m) = parse_map(&buf[from..have]) {
                f(&m);
            }
            return true;
        }
        if from == 0 && have == buf.len() {
            return false; // a line longer than the buffer
        }
        buf.copy_within(from..have, 0);
        have -= from;
    }
}

/// Unmaps everything this forked process does not need (see the module docs). `false` if its
/// mappings could not be read (then nothing was unmapped).
fn drop_memory(prep: &Prep) -> bool {
    let anchor = 0u8;
    let sp = std::hint::black_box(&anchor) as *const u8 as usize;
    let down = |a: usize| a & !(prep.page - 1);
    // (a point, the window kept around it in the mapping that holds it)
    let windows = [
        (
            sp,
            down(sp).saturating_sub(KEEP_BELOW),
            down(sp).saturating_add(KEEP_ABOVE),
        ),
        (
            prep.errno,
            down(prep.errno).saturating_sub(2 * prep.page),
            down(prep.errno).saturating_add(2 * prep.page),
        ),
    ];
    let mut buf = [0u8; 8192];

    // The files mapped executable: the program and its libraries, whose mappings stay.
    let mut objects = [(0u64, 0u64, 0u64); 512];
    let mut n_objects = 0;
    let mut too_many = false;
    let listed = for_each_map(&mut buf, &mut |m: &Map| {
        if m.exec && m.file.2 != 0 && !objects[..n_objects].contains(&m.file) {
            match objects.get_mut(n_objects) {
                Some(slot) => {
                    *slot = m.file;
                    n_objects += 1;
                }
                None => too_many = true,
            }
        }
        true
    });
    if !listed {
        return false;
    }
    let object = |m: &Map| m.file.2 != 0 && (too_many || objects[..n_objects].contains(&m.file));

    for _ in 0..64 {
        let mut todo = [(0usize, 0usize); 256];
        let mut n = 0;
        let mut full = false;
        // The end of the previous mapping if it was an object's: an anonymous mapping right
        // after it is that object's zero-initialised data (.bss).
        let mut object_end = 0;
        let listed = for_each_map(&mut buf, &mut |m: &Map| {
            let is_object = m.private && object(m);
            let bss = m.private
                && m.write
                && m.file.2 == 0
                && m.name == MapName::None
                && object_end != 0
                && object_end == m.start;
            object_end = if is_object { m.end } else { 0 };
            if is_object || bss || m.name == MapName::Kernel {
                return true;
            }
            // A sanitizer's shadow memory and its allocator's: see `sanitized`.
            if prep.sanitized && m.private && m.file.2 == 0 {
                return true;
            }
            // The rest goes, except the windows kept in the mappings that hold their points.
            let mut keep = [(0usize, 0usize); 2];
            let mut k = 0;
            for &(point, from, to) in &windows {
                if m.start <= point && point < m.end {
                    keep[k] = (from.max(m.start), to.min(m.end));
                    k += 1;
                }
            }
            if k == 2 && keep[1].0 < keep[0].0 {
                keep.swap(0, 1);
            }
            let mut at = m.start;
            let mut pieces = [(0usize, 0usize); 3];
            let mut p = 0;
            for &(from, to) in &keep[..k] {
                if from > at {
                    pieces[p] = (at, from);
                    p += 1;
                }
                at = at.max(to);
            }
            if at < m.end {
                pieces[p] = (at, m.end);
                p += 1;
            }
            for &piece in &pieces[..p] {
                if n == todo.len() {
                    full = true;
                    return false;
                }
                todo[n] = piece;
                n += 1;
            }
            true
        });
        if !listed {
            return false;
        }
        for &(from, to) in &todo[..n] {
            // SAFETY: nothing this process still uses lives there: the code and data of the
            // program and its libraries, the kernel's mappings and the windows around the stack
            // and errno are kept; the rest belonged to the parent process's other activities.
            let _ = unsafe { rustix::mm::munmap(from as *mut std::ffi::c_void, to - from) };
        }
        if !full {
            break;
        }
    }
    true
}

/// The guardian processes (named `shmkit-guard`) that have the file `(dev, ino)` open: its guard
/// process, or its waiter. `None` if `/proc` cannot be read.
pub(crate) fn guardians(dev: u64, ino: u64) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() != "shmkit-guard" {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let has = fds.filter_map(Result::ok).any(|fd| {
            rustix::fs::stat(fd.path()).is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
        });
        if has {
            out.push(pid);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in /dev/shm for a job (the guard removes it once nobody holds it), and a second
    /// open file description of it for the guard.
    fn job_file(tag: &str) -> (std::ffi::CString, OwnedFd) {
        let path =
            std::ffi::CString::new(format!("/dev/shm/guardtest-{tag}-{}", std::process::id()))
                .unwrap();
        let flags = OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC;
        drop(rustix::fs::openat(CWD, &*path, flags, Mode::RUSR | Mode::WUSR).unwrap());
        let file = rustix::fs::openat(CWD, &*path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty());
        (path, file.unwrap())
    }

    /// Removes the test's files whatever happens.
    struct Unlink(Vec<std::ffi::CString>);

    impl Drop for Unlink {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = rustix::fs::unlinkat(CWD, &**p, AtFlags::empty());
            }
        }
    }

    #[test]
    fn a_descriptor_number_the_program_reused_never_gets_a_job() {
        let (p1, f1) = job_file("one");
        let (p2, f2) = job_file("two");
        let _files = Unlink(vec![p1.clone(), p2.clone()]);
        assert!(watch(f1, &[&p1]));
        let (raw, _) = unpack(GUARD.load(Ordering::Acquire));
        // The program puts a socket of its own under our number (dup2 closes ours).
        let (impostor, peer) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        // SAFETY: `raw` is open (our socket); ManuallyDrop keeps it open as far as this test is
        // concerned, and dup2 replaces what is under the number.
        let mut slot = std::mem::ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(raw) });
        rustix::io::dup2(&impostor, &mut slot).unwrap();
        assert!(watch(f2, &[&p2]), "a new guard takes the job");
        // Nothing reached the program's socket: it is empty.
        let mut buf = [0u8; JOB_LEN];
        let empty = rustix::net::recv(&peer, &mut buf[..], rustix::net::RecvFlags::DONTWAIT);
        assert_eq!(empty.unwrap_err(), Errno::AGAIN);
        let (now, _) = unpack(GUARD.load(Ordering::Acquire));
        // SAFETY: GUARD's descriptor is open (we never close it).
        let st = rustix::fs::fstat(unsafe { BorrowedFd::borrow_raw(now) }).unwrap();
        assert_ne!(st.st_ino, rustix::fs::fstat(&impostor).unwrap().st_ino);
    }

    #[test]
    fn parses_maps_lines() {
        let m = parse_map(
            b"7f1c2a000000-7f1c2a021000 r-xp 00001000 fd:01 1234567                    /usr/lib/x86_64-linux-gnu/libc.so.6",
        )
        .unwrap();
        assert_eq!((m.start, m.end), (0x7f1c_2a00_0000, 0x7f1c_2a02_1000));
        assert!(m.exec && m.private && !m.write);
        assert_eq!(m.file, (0xfd, 1, 1_234_567));
        assert!(m.name == MapName::Path);
        let anon = parse_map(b"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0 ").unwrap();
        assert!(anon.write && anon.file.2 == 0 && anon.name == MapName::None);
        let anon = parse_map(b"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0").unwrap();
        assert!(anon.name == MapName::None);
        for (line, kind) in [
            (
                &b"7ffd1000-7ffd3000 r--p 00000000 00:00 0  [vvar]"[..],
                MapName::Kernel,
            ),
            (
                b"7ffd3000-7ffd5000 r-xp 00000000 00:00 0  [vdso]",
                MapName::Kernel,
            ),
            (
                b"7ffd5000-7ffd7000 r--p 00000000 00:00 0  [vvar_vclock]",
                MapName::Kernel,
            ),
            (
                b"ff600000-ff601000 --xp 00000000 00:00 0  [vsyscall]",
                MapName::Kernel,
            ),
            (
                b"55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0  [heap]",
                MapName::Other,
            ),
            (
                b"7ffd0000-7ffd1000 rw-p 00000000 00:00 0  [stack]",
                MapName::Other,
            ),
            (
                b"7f00-8f00 rw-s 00000000 00:1a 77  /dev/shm/x (deleted)",
                MapName::Path,
            ),
        ] {
            assert!(parse_map(line).unwrap().name == kind, "{line:?}");
        }
        assert!(
            !parse_map(b"7f00-8f00 rw-s 00000000 00:1a 77  /dev/shm/x")
                .unwrap()
                .private
        );
        for bad in [&b""[..], b"garbage", b"zz-10 rw-p 0 00:00 0", b"10-20 rw"] {
            assert!(parse_map(bad).is_none(), "{bad:?}");
        }
    }
}
