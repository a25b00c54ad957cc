//! Windows backend.
//!
//! A segment is a named file mapping backed by the paging file (`CreateFileMappingW` with
//! `INVALID_HANDLE_VALUE`), the object of the classic Windows tutorials and of Python's
//! `SharedMemory` on Windows. A portable name `NAME` is the object `Local\NAME` (the session's
//! namespace, which is also where an unprefixed name goes); `SegmentOptions::namespace(Global)`
//! makes it `Global\NAME`, shared by all sessions. Names that reach this backend may carry their
//! namespace (`Global\cam0`, from `Segment::info`); bare names are `Local\`.
//!
//! # Lifetime: the kernel's own
//!
//! Windows frees a pagefile-backed section when the last handle to it closes — including the
//! handles of a process that crashed or was killed, which the kernel closes for it. That *is*
//! `Lifetime::LastClose`, with no lock files and no orphans to reclaim: `reclaim` never finds
//! one. The other side of it: a section cannot outlive its handles, so `Lifetime::Persistent`
//! is refused (`PERSISTENT_UNSUPPORTED`), and a name cannot be removed while it is held
//! (`remove` says so).
//!
//! # Creation
//!
//! `CreateFileMappingW` makes the object visible under its name at once, zero-filled, so an
//! opener could map it before its creator has written the header (and see no shmkit magic: the
//! macOS backend, which has the same problem, showed it when its suite ran on Linux). So the
//! creator owns a named *init mutex* (`NS\shmkit#init#NAME`) from before `CreateFileMappingW`
//! until `init` has run, and `open` waits (bounded) for that mutex before it maps the section;
//! the header's version word, 0 until `init` is done, is the second line of defence. A creator
//! that dies halfway abandons the mutex (the waiter gets it) and takes the section with it
//! unless an opener holds it; that opener's wait for the version times out and its close frees
//! the section.
//!
//! # Reservation
//!
//! Pagefile-backed sections are `SEC_COMMIT`: the whole size is charged against the system
//! commit limit when the section is created, so exhaustion is an error at create
//! (`ERROR_COMMITMENT_LIMIT` / `ERROR_NOT_ENOUGH_MEMORY` → `OutOfResources`), never an access
//! violation later.
//!
//! # Read-only
//!
//! `Access::ReadOnly` on a raw segment opens the section with `FILE_MAP_READ` only and maps a
//! read-only view: writes fault. A read-only handle of a shmkit segment maps it writable (when
//! the DACL allows) so that it can take the lock and count itself as a waiter, and
//! `protect_read_only` makes the data region `PAGE_READONLY` with `VirtualProtect` — page
//! granularity (4 KiB), which is what the portable layer aligns the data region to.
//!
//! # Listing: what shmkit itself can know
//!
//! Windows cannot enumerate the named objects of a namespace (there is no `/dev/shm`). So every
//! handle this backend opens also holds a small *holder file* in `%TEMP%\shmkit-holders`, named
//! `NAMESPACE~NAME~PID~TAG~N` and opened with `FILE_FLAG_DELETE_ON_CLOSE`: the kernel deletes it
//! when the handle closes, also when the process dies. `list` reads that directory, drops the
//! files of dead processes it still finds (a power cut, a Wine server killed), and confirms each
//! name by opening the section. Segments that only non-shmkit programs hold are invisible to
//! `list`, and `stat` of them reports `Holders::Unknown`. The directory is per user (`%TEMP%`),
//! so `ls` shows the segments of this user's shmkit processes.
//!
//! # Waiting: named events with generations
//!
//! `WaitOnAddress` only works within one process, so words inside a mapped segment use named
//! events; see [`futex`] for the protocol and its proof. Words elsewhere (the unit tests'
//! heap-allocated locks) use `WaitOnAddress` / `WakeByAddressAll`.
//!
//! # Permissions
//!
//! The `mode` bits are not mapped onto an ACL: a new section gets the creator's default
//! security (its owner, `SYSTEM` and the administrators), which is what `0600` means on Unix.

use std::borrow::Cow;
use std::ffi::c_void;
use std::fs;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT,
    ERROR_NO_SYSTEM_RESOURCES, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, ERROR_TIMEOUT, FILETIME,
    GetLastError, HANDLE, INVALID_HANDLE_VALUE, WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW, PAGE_READONLY, PAGE_READWRITE,
    SEC_COMMIT, SECTION_QUERY, UnmapViewOfFile, VirtualProtect, VirtualQuery,
};
use windows_sys::Win32::System::SystemInformation::{
    GetSystemInfo, GlobalMemoryStatusEx, MEMORYSTATUSEX, SYSTEM_INFO,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, CreateMutexW, GetCurrentProcessId, GetProcessTimes, INFINITE, OpenEventW,
    OpenMutexW, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, ReleaseMutex,
    SetEvent, WaitForSingleObject, WaitOnAddress, WakeByAddressAll, WakeByAddressSingle,
};

use super::{Holders, RawEntry, Reclaimed, Want};

/// Where segments live, for messages ("… free in the paging file").
pub(crate) const SHM_DIR: &str = "the paging file";

/// Temporary names are never used here (creation is atomic); kept for the contract.
pub(crate) const TEMP_PREFIX: &str = ".shmkit-new-";

/// The backend's name, for tests that must know which promises apply (`test_support`).
pub(crate) const BACKEND: &str = "windows";

/// Why `Lifetime::Persistent` cannot be had here (`None` where it can).
pub(crate) const PERSISTENT_UNSUPPORTED: Option<&str> = Some(
    "Windows frees shared memory when its last handle closes, so a segment cannot outlive its \
     holders",
);

/// The directory whose files are the segments (`None`: segments are not files here).
pub(crate) const SHM_FILES: Option<&str> = None;

/// No guardian needed: the kernel frees a section with its last handle, a dead process's
/// handles included.
pub(crate) const GUARDIAN: bool = false;

/// Nothing to sweep: no section outlives its handles.
pub(crate) fn own_uid() -> Option<u32> {
    None
}

/// No guardians here.
pub(crate) fn guardians(_name: &str) -> Option<Vec<u32>> {
    None
}

/// Splits a native name into its namespace and bare name: `Global\x` → (`Global`, `x`); a name
/// without a namespace is `Local\`.
fn split(name: &str) -> (&str, &str) {
    match name.split_once('\\') {
        Some((ns, bare)) => (ns, bare),
        None => ("Local", name),
    }
}

/// The name this backend is given for a portable name in the chosen namespace.
pub(crate) fn native_name(name: &str, global: bool) -> Cow<'_, str> {
    if global {
        Cow::Owned(format!("Global\\{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// How a name is shown by `list`: bare for `Local\`, with its namespace otherwise.
fn display_name(ns: &str, bare: &str) -> String {
    if ns.eq_ignore_ascii_case("Local") {
        bare.to_string()
    } else {
        format!("{ns}\\{bare}")
    }
}

fn object_name(name: &str) -> String {
    let (ns, bare) = split(name);
    format!("{ns}\\{bare}")
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The page size: the granularity of `VirtualProtect`, and so of the control region.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        let mut si = std::mem::MaybeUninit::<SYSTEM_INFO>::zeroed();
        // SAFETY: GetSystemInfo fills the structure we pass; it cannot fail.
        unsafe { GetSystemInfo(si.as_mut_ptr()) };
        // SAFETY: initialised by GetSystemInfo (and zeroed before, so valid either way).
        let si = unsafe { si.assume_init() };
        (si.dwPageSize as usize).max(4096)
    })
}

/// Sections are sized in whole pages (Wine reports them so; a view always is), so segments are
/// made that size.
pub(crate) fn size_granule() -> usize {
    page_size()
}

/// An owned kernel handle, closed on drop.
#[derive(Debug)]
struct Handle(HANDLE);

impl Handle {
    /// Wraps a handle returned by an API that reports failure with a null handle.
    fn from_result(h: HANDLE) -> io::Result<Handle> {
        if h.is_null() || h == INVALID_HANDLE_VALUE {
            Err(io::Error::last_os_error())
        } else {
            Ok(Handle(h))
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: we own this handle (it came from a successful Create*/Open* call) and close it
        // exactly once, here.
        unsafe { CloseHandle(self.0) };
    }
}

// SAFETY: kernel handles may be used and closed from any thread.
unsafe impl Send for Handle {}
// SAFETY: the operations we make through `&Handle` (waits, signals, queries) are thread-safe.
unsafe impl Sync for Handle {}

/// A mapped view, unmapped on drop.
#[derive(Debug)]
struct View {
    ptr: NonNull<u8>,
}

impl View {
    fn map(section: &Handle, access: u32, len: usize) -> io::Result<View> {
        // SAFETY: maps a view of a section we hold a handle to, at an address the system picks;
        // no existing memory is affected.
        let v = unsafe { MapViewOfFile(section.0, access, 0, 0, len) };
        NonNull::new(v.Value.cast::<u8>())
            .map(|ptr| View { ptr })
            .ok_or_else(io::Error::last_os_error)
    }

    /// The size of the view's region (whole pages).
    fn region_len(&self) -> usize {
        let mut mbi = std::mem::MaybeUninit::<MEMORY_BASIC_INFORMATION>::zeroed();
        // SAFETY: queries our own mapped address into a buffer of the right size.
        let n = unsafe {
            VirtualQuery(
                self.ptr.as_ptr().cast::<c_void>(),
                mbi.as_mut_ptr(),
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if n == 0 {
            return 0;
        }
        // SAFETY: VirtualQuery filled it (n != 0).
        unsafe { mbi.assume_init() }.RegionSize
    }
}

impl Drop for View {
    fn drop(&mut self) {
        let addr = MEMORY_MAPPED_VIEW_ADDRESS {
            Value: self.ptr.as_ptr().cast(),
        };
        // SAFETY: the view was mapped by `View::map` and is unmapped exactly once, here.
        unsafe { UnmapViewOfFile(addr) };
    }
}

// SAFETY: a view is process-wide memory; unmapping it from another thread is fine.
unsafe impl Send for View {}
// SAFETY: `&View` only exposes the address.
unsafe impl Sync for View {}

#[repr(C)]
struct SectionBasicInformation {
    base_address: *mut c_void,
    allocation_attributes: u32,
    maximum_size: i64,
}

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    /// `NtQuerySection` (winternl): the only way to learn a section's exact size; a view's
    /// region is rounded up to whole pages.
    fn NtQuerySection(
        section: HANDLE,
        class: u32,
        info: *mut c_void,
        len: usize,
        ret_len: *mut usize,
    ) -> i32;
}

/// The exact size the section was created with, if the handle may query it.
fn section_size(section: &Handle) -> Option<u64> {
    let mut info = SectionBasicInformation {
        base_address: std::ptr::null_mut(),
        allocation_attributes: 0,
        maximum_size: 0,
    };
    // SAFETY: `info` is a correctly sized SECTION_BASIC_INFORMATION (class 0) owned by us.
    let status = unsafe {
        NtQuerySection(
            section.0,
            0,
            (&raw mut info).cast(),
            std::mem::size_of::<SectionBasicInformation>(),
            std::ptr::null_mut(),
        )
    };
    (status >= 0)
        .then(|| u64::try_from(info.maximum_size).ok())
        .flatten()
}

/// An open, mapped segment. Holding the section handle keeps it alive.
#[derive(Debug)]
pub(crate) struct Mapping {
    view: View,
    len: usize,
    writable: bool,
    /// Registered for `futex_wait`/`futex_wake` (unregistered on drop).
    entry: Arc<futex::Entry>,
    _holder: Option<fs::File>,
    _section: Handle,
}

// SAFETY: the mapping is shared with other processes anyway, so every access goes through
// atomics or explicit copies made by the portable layer; the handles are thread-safe.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Base address of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.view.ptr.as_ptr()
    }

    /// Length of the segment in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the view was mapped writable.
    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// Makes `[offset, offset+len)` read-only (page-aligned, inside the mapping).
    pub(crate) fn protect_read_only(&self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        assert!(
            offset % page_size() == 0 && offset.checked_add(len).is_some_and(|e| e <= self.len),
            "protect_read_only({offset}, {len}) outside a {} byte mapping",
            self.len
        );
        let mut old = 0;
        // SAFETY: the range is inside our own view (asserted above); the portable layer never
        // writes to the data region of a read-only handle, so no reference is invalidated.
        let ok = unsafe {
            VirtualProtect(
                self.ptr().add(offset).cast::<c_void>(),
                len,
                PAGE_READONLY,
                &mut old,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Unmaps and closes. Windows frees the section when the last handle anywhere is closed, so
    /// there is nothing to unlink.
    pub(crate) fn close(self, _unlink_if_last: bool) {}
}

impl Drop for Mapping {
    fn drop(&mut self) {
        futex::unregister(&self.entry);
    }
}

fn map_create_error(e: io::Error) -> io::Error {
    let out_of_memory = [
        ERROR_NOT_ENOUGH_MEMORY,
        ERROR_OUTOFMEMORY,
        ERROR_COMMITMENT_LIMIT,
        ERROR_NO_SYSTEM_RESOURCES,
    ]
    .iter()
    .any(|&c| e.raw_os_error() == Some(c as i32));
    if out_of_memory {
        // Keep the code as the source; the kind is what the portable layer classifies by.
        io::Error::new(io::ErrorKind::StorageFull, e)
    } else {
        e
    }
}

fn init_mutex_name(name: &str) -> Vec<u16> {
    let (ns, bare) = split(name);
    wide(&format!("{ns}\\shmkit#init#{bare}"))
}

/// The init mutex of a segment being built, owned by its creator; released on drop.
struct InitGuard(Handle);

impl InitGuard {
    /// Creates (or opens) the mutex and acquires it. Openers hold it only for an instant; another
    /// creator holds it until it has built its segment, which we then find under the name.
    /// `None` if the mutex cannot be had (no right to create it, or held for seconds).
    fn take(name: &str) -> Option<InitGuard> {
        let w = init_mutex_name(name);
        // SAFETY: a named mutex, not initially owned, NUL-terminated name, default security.
        let h =
            Handle::from_result(unsafe { CreateMutexW(std::ptr::null(), 0, w.as_ptr()) }).ok()?;
        // SAFETY: a valid mutex handle.
        let r = unsafe { WaitForSingleObject(h.0, 2000) };
        (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED).then_some(InitGuard(h))
    }
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        // SAFETY: we own this mutex (created initially owned, see `take`).
        unsafe { ReleaseMutex(self.0.0) };
    }
}

/// Waits (bounded) while a creator owns the init mutex of `name`. Call it only after finding the
/// section: its creator took the mutex before creating it, so if it is still building, the
/// mutex is owned now.
fn wait_init(name: &str) {
    let w = init_mutex_name(name);
    // SAFETY: opens a named mutex for waiting; NUL-terminated name.
    let h = unsafe {
        OpenMutexW(0x0010_0000 /* SYNCHRONIZE */, 0, w.as_ptr())
    };
    let Ok(h) = Handle::from_result(h) else {
        return; // nobody is building it
    };
    // SAFETY: a valid mutex handle with SYNCHRONIZE.
    let r = unsafe { WaitForSingleObject(h.0, 2000) };
    if r == WAIT_OBJECT_0 || r == WAIT_ABANDONED {
        // SAFETY: the wait made us its owner.
        unsafe { ReleaseMutex(h.0) };
    }
}

/// Creates a section of `len` bytes, committed now, runs `init` on it, and registers it.
pub(crate) fn create(
    name: &str,
    len: usize,
    _mode: u32,
    _guard: bool,
    init: &mut dyn FnMut(*mut u8, usize),
    _reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    let object = wide(&object_name(name));
    let size = len as u64;
    let building = InitGuard::take(name);
    // SAFETY: a pagefile-backed section (INVALID_HANDLE_VALUE) with a NUL-terminated name; the
    // default security attributes (null).
    let raw = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            PAGE_READWRITE | SEC_COMMIT,
            (size >> 32) as u32,
            size as u32,
            object.as_ptr(),
        )
    };
    // GetLastError right after the call: ERROR_ALREADY_EXISTS comes with a valid handle.
    // SAFETY: no preconditions.
    let err = unsafe { GetLastError() };
    let section = Handle::from_result(raw).map_err(map_create_error)?;
    if err == ERROR_ALREADY_EXISTS {
        return Err(io::Error::from_raw_os_error(ERROR_ALREADY_EXISTS as i32));
    }
    let view = View::map(&section, FILE_MAP_READ | FILE_MAP_WRITE, len)?;
    init(view.ptr.as_ptr(), len);
    drop(building); // openers may look now
    let entry = futex::register(name, view.ptr.as_ptr() as usize, len);
    // A creator (which may hold the privilege to create `Global\` objects that its openers
    // lack) makes the wait table at once.
    entry.table(true);
    Ok(Mapping {
        view,
        len,
        writable: true,
        entry,
        _holder: holders::hold(name),
        _section: section,
    })
}

/// Opens a section with `access` (`FILE_MAP_*`), asking for `SECTION_QUERY` too when allowed.
fn open_section(name: &str, access: u32) -> io::Result<Handle> {
    let object = wide(&object_name(name));
    // SAFETY: opens a named object; the name is NUL-terminated.
    let h = unsafe { OpenFileMappingW(access | SECTION_QUERY, 0, object.as_ptr()) };
    match Handle::from_result(h) {
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            // SAFETY: as above, without the query right.
            let h = unsafe { OpenFileMappingW(access, 0, object.as_ptr()) };
            Handle::from_result(h)
        }
        other => other,
    }
}

/// Opens, maps the whole section, and finds its size.
fn map_existing(name: &str, access: u32) -> io::Result<(Handle, View, usize)> {
    let section = open_section(name, access)?;
    let view = View::map(&section, access, 0)?;
    let region = view.region_len();
    let len = section_size(&section)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s <= region || region == 0)
        .unwrap_or(region);
    Ok((section, view, len))
}

/// Opens and maps an existing segment. (Orphans do not exist here: nothing to reclaim.)
pub(crate) fn open(
    name: &str,
    want: Want,
    _reclaim_if: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Mapping> {
    let rw = FILE_MAP_READ | FILE_MAP_WRITE;
    let (section, view, len, writable) = match want {
        Want::Read => {
            let (s, v, l) = map_existing(name, FILE_MAP_READ)?;
            (s, v, l, false)
        }
        Want::ReadWrite => {
            let (s, v, l) = map_existing(name, rw)?;
            (s, v, l, true)
        }
        Want::PreferWrite => match map_existing(name, rw) {
            Ok((s, v, l)) => (s, v, l, true),
            Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
                let (s, v, l) = map_existing(name, FILE_MAP_READ)?;
                (s, v, l, false)
            }
            Err(e) => return Err(e),
        },
    };
    // Its creator may still be building it.
    wait_init(name);
    let entry = futex::register(name, view.ptr.as_ptr() as usize, len);
    Ok(Mapping {
        view,
        len,
        writable,
        entry,
        _holder: holders::hold(name),
        _section: section,
    })
}

fn exists(name: &str) -> io::Result<bool> {
    match open_section(name, FILE_MAP_READ) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        // It exists, but not for us.
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Windows cannot remove a name while the object is held (and frees it when nobody holds it):
/// `NotFound` if there is no such segment, `Unsupported` otherwise.
pub(crate) fn remove(name: &str) -> io::Result<()> {
    if !exists(name)? {
        return Err(io::ErrorKind::NotFound.into());
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows removes a segment's name only when its last handle closes",
    ))
}

/// Nothing is ever an orphan here: a segment nobody holds no longer exists.
pub(crate) fn reclaim(name: &str, _predicate: &dyn Fn(&[u8]) -> bool) -> io::Result<Reclaimed> {
    Ok(if exists(name)? {
        Reclaimed::InUse
    } else {
        Reclaimed::Gone
    })
}

/// Copies the first bytes of `name` (mapping it briefly, without registering a holder).
pub(crate) fn peek(name: &str, buf: &mut [u8]) -> io::Result<usize> {
    let (_section, view, len) = map_existing(name, FILE_MAP_READ)?;
    let n = buf.len().min(len);
    // SAFETY: `n` bytes are inside the view; `buf` is private memory. `copy_out` reads each
    // byte once, so concurrent writers can only change which bytes we copy.
    unsafe { crate::shared::copy_out(view.ptr.as_ptr(), &mut buf[..n]) };
    Ok(n)
}

/// The segments that shmkit processes of this user hold (see the module docs).
pub(crate) fn list() -> io::Result<Vec<RawEntry>> {
    let mut out = Vec::new();
    for (name, held) in holders::scan() {
        match entry_for(&name, Some(held)) {
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
    let (ns, bare) = split(name);
    let key = display_name(ns, bare);
    let held = holders::scan().into_iter().find(|(n, _)| *n == key);
    entry_for(&key, held.map(|(_, h)| h))
}

fn entry_for(name: &str, held: Option<holders::Held>) -> io::Result<Option<RawEntry>> {
    let (_section, view, len) = match map_existing(name, FILE_MAP_READ) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
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
    drop(view);
    let (holders, since) = match held {
        Some(h) if !h.pids.is_empty() => (Holders::Held(h.pids), h.since),
        _ => (Holders::Unknown, None),
    };
    Ok(Some(RawEntry {
        name: name.to_string(),
        len: len as u64,
        // No Unix permission bits: the default ACL of its creator, i.e. 0600.
        mode: 0o600,
        uid: 0,
        modified_unix_secs: since
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64),
        holders,
    }))
}

/// Commit charge still available (what a new segment draws on), for error messages.
pub(crate) fn free_space() -> Option<u64> {
    let mut st = MEMORYSTATUSEX {
        dwLength: std::mem::size_of::<MEMORYSTATUSEX>() as u32,
        ..Default::default()
    };
    // SAFETY: `st` is a MEMORYSTATUSEX with its length set, as the API requires.
    let ok = unsafe { GlobalMemoryStatusEx(&mut st) };
    (ok != 0).then_some(st.ullAvailPageFile)
}

/// Waits while `*word == expected`, at most `timeout`. `false` on timeout; `true` when woken,
/// changed, or spuriously.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    match futex::lookup(word) {
        Some((entry, offset)) => futex::wait_shared(&entry, offset, word, expected, timeout),
        None => {
            let ms = timeout.map_or(INFINITE, futex::millis);
            // SAFETY: `word` is a live AtomicU32 and `expected` a local of the same size.
            let ok = unsafe {
                WaitOnAddress(
                    word.as_ptr().cast::<c_void>(),
                    (&raw const expected).cast::<c_void>(),
                    4,
                    ms,
                )
            };
            // SAFETY: no preconditions.
            ok != 0 || unsafe { GetLastError() } != ERROR_TIMEOUT
        }
    }
}

/// Wakes the waiters of `word` (`count` is a hint: a shared word's waiters are all woken, and
/// re-check).
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) {
    match futex::lookup(word) {
        Some((entry, offset)) => futex::wake_shared(&entry, offset),
        None => {
            let p = word.as_ptr().cast::<c_void>();
            // SAFETY: `word` is a live AtomicU32; waking has no other precondition.
            unsafe {
                if count == 1 {
                    WakeByAddressSingle(p)
                } else {
                    WakeByAddressAll(p)
                }
            }
        }
    }
}

/// This process's id and a tag telling it apart from a later process with the same id: its
/// creation time in milliseconds (low 32 bits, never 0).
pub(crate) fn current_process() -> (u32, u32) {
    static ME: OnceLock<(u32, u32)> = OnceLock::new();
    *ME.get_or_init(|| {
        // SAFETY: no preconditions.
        let pid = unsafe { GetCurrentProcessId() };
        (pid, process_tag(pid).unwrap_or(0))
    })
}

fn filetime_ms(t: FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32 | u64::from(t.dwLowDateTime)) / 10_000
}

fn process_tag(pid: u32) -> Option<u32> {
    let h = open_process(pid).ok()?;
    creation_tag(&h)
}

fn open_process(pid: u32) -> io::Result<Handle> {
    // SAFETY: opening a process object by id has no memory-safety preconditions.
    let h = unsafe {
        OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            pid,
        )
    };
    Handle::from_result(h)
}

fn creation_tag(h: &Handle) -> Option<u32> {
    let mut t = [FILETIME::default(); 4];
    let [c, e, k, u] = &mut t;
    // SAFETY: four FILETIMEs owned by us; the handle has the query right.
    let ok = unsafe { GetProcessTimes(h.0, c, e, k, u) };
    (ok != 0).then(|| (filetime_ms(t[0]) as u32).max(1))
}

/// Whether the process `pid` with tag `tag` (0: unknown) still runs. A process that has exited
/// is dead even while some handle (its parent's) keeps its object around.
pub(crate) fn process_alive(pid: u32, tag: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let h = match open_process(pid) {
        Ok(h) => h,
        // It exists, but we may not look at it: alive as far as we can tell.
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => return true,
        // ERROR_INVALID_PARAMETER: no such process.
        Err(_) => return false,
    };
    // SAFETY: a valid process handle with SYNCHRONIZE; a zero timeout only polls.
    if unsafe { WaitForSingleObject(h.0, 0) } == WAIT_OBJECT_0 {
        return false; // exited
    }
    match (tag, creation_tag(&h)) {
        (0, _) | (_, None) => true,
        (want, Some(have)) => want == have,
    }
}

/// Cross-process wait/wake on words of mapped segments, with named events.
///
/// # The protocol
///
/// Each segment gets a small companion section, its *wait table*: 1024 generation counters
/// (`AtomicU32`), one per word offset modulo 1024 (offsets that share a slot only cause spurious
/// wake-ups, which callers tolerate). It is named `NS\shmkit#wait#NAME` — `#` cannot occur in a
/// portable name, so it never collides with a segment — and like any section it lives as long
/// as someone holds it: every handle of the segment that waited or woke keeps it mapped.
///
/// For the word at `offset`, generation `g` has one manual-reset event,
/// `NS\shmkit#wait#NAME#OFFSET#g`, signalled once and never reused (the next wake uses `g+1`).
///
/// * wait(word, expected): `g = gen[slot]`; `h = CreateEventW(event(g))` (opens it if it
///   exists); if `gen[slot] != g` or `*word != expected`, return (spurious); else
///   `WaitForSingleObject(h, timeout)`; close `h`.
/// * wake(word), after the caller's store to `word`: `g = gen[slot].fetch_add(1)`;
///   `h = OpenEventW(event(g))` — if no such event, nobody waits on generation `g`: done;
///   else `SetEvent(h)`, close.
///
/// # Why no wake-up is lost
///
/// Take a waiter that sleeps: it read `gen == g` (twice) and `*word == expected`. The waker's
/// `fetch_add` on `gen` comes after its store to `word` (both `SeqCst`, and the system calls in
/// between are full barriers). The waiter's second read of `gen` still saw `g`, so the waker's
/// `fetch_add` (which returns `g` or later) is ordered after it: if the waker got `g`, its
/// `OpenEventW(event(g))` comes after the waiter's `CreateEventW(event(g))`, while the waiter
/// still holds its handle — the object exists, the waker opens that very object and sets it, and
/// the waiter's wait returns (a manual-reset event stays signalled, so it does not matter whether
/// the wait started yet). If the waker got a later generation, an earlier wake bumped past `g`
/// after the waiter's check, and that wake signalled `event(g)` by the same argument. The
/// waiter's read of `*word` after the first read of `gen` ensures a store made before the bump it
/// missed is seen. A signalled event is never reused, so a late waiter never mistakes an old
/// signal for a new one, and wakers that find no event make only one system call.
///
/// Without the right to create objects in the segment's namespace (`Global\` without
/// `SeCreateGlobalPrivilege`), a waiter cannot create the table or the event; it then sleeps in
/// bounded slices (1 ms, doubling to 50 ms) and re-checks — the only polling in this backend.
pub(crate) mod futex {
    use super::*;
    use std::sync::Mutex;

    const SLOTS: usize = 1024;
    const TABLE_LEN: usize = SLOTS * 4;

    /// A mapped segment, as the wait/wake code sees it.
    #[derive(Debug)]
    pub(crate) struct Entry {
        base: usize,
        len: usize,
        /// `NS\shmkit#wait#NAME`.
        table_name: String,
        /// The wait table, once mapped (`None` inside: could not be created or opened).
        table: Mutex<Option<Arc<Table>>>,
    }

    #[derive(Debug)]
    pub(crate) struct Table {
        view: View,
        _section: Handle,
    }

    impl Table {
        fn generation(&self, offset: usize) -> &AtomicU32 {
            let slot = (offset / 4) % SLOTS;
            // SAFETY: the view is TABLE_LEN bytes, page-aligned; `slot * 4 + 4 <= TABLE_LEN`;
            // AtomicU32 is valid for any bit pattern and for concurrent writers.
            unsafe { &*self.view.ptr.as_ptr().add(slot * 4).cast::<AtomicU32>() }
        }
    }

    impl Entry {
        /// The wait table: opened (or, with `create`, created) the first time it is needed.
        pub(crate) fn table(&self, create: bool) -> Option<Arc<Table>> {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            if t.is_none() {
                *t = open_table(&self.table_name, create).ok().map(Arc::new);
            }
            t.clone()
        }
    }

    fn open_table(name: &str, create: bool) -> io::Result<Table> {
        let w = wide(name);
        let rw = FILE_MAP_READ | FILE_MAP_WRITE;
        let section = if create {
            // SAFETY: a small pagefile-backed section with a NUL-terminated name; if it exists
            // already, this opens it.
            let h = unsafe {
                CreateFileMappingW(
                    INVALID_HANDLE_VALUE,
                    std::ptr::null(),
                    PAGE_READWRITE | SEC_COMMIT,
                    0,
                    TABLE_LEN as u32,
                    w.as_ptr(),
                )
            };
            Handle::from_result(h)?
        } else {
            // SAFETY: opens a named object; the name is NUL-terminated.
            Handle::from_result(unsafe { OpenFileMappingW(rw, 0, w.as_ptr()) })?
        };
        let view = View::map(&section, rw, TABLE_LEN)?;
        Ok(Table {
            view,
            _section: section,
        })
    }

    fn registry() -> &'static Mutex<Vec<Arc<Entry>>> {
        static R: OnceLock<Mutex<Vec<Arc<Entry>>>> = OnceLock::new();
        R.get_or_init(|| Mutex::new(Vec::new()))
    }

    pub(crate) fn register(name: &str, base: usize, len: usize) -> Arc<Entry> {
        let (ns, bare) = split(name);
        let e = Arc::new(Entry {
            base,
            len,
            table_name: format!("{ns}\\shmkit#wait#{bare}"),
            table: Mutex::new(None),
        });
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.clone());
        e
    }

    pub(crate) fn unregister(e: &Arc<Entry>) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|x| !Arc::ptr_eq(x, e));
    }

    /// The mapped segment holding `word`, and the word's offset in it.
    pub(crate) fn lookup(word: &AtomicU32) -> Option<(Arc<Entry>, usize)> {
        let addr = word.as_ptr() as usize;
        let r = registry().lock().unwrap_or_else(|e| e.into_inner());
        r.iter()
            .find(|e| addr >= e.base && addr + 4 <= e.base + e.len)
            .map(|e| (e.clone(), addr - e.base))
    }

    pub(crate) fn millis(d: Duration) -> u32 {
        // Round up: waking a little late is fine, early is a spurious timeout.
        let ms = d.as_nanos().div_ceil(1_000_000);
        u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
    }

    fn event_name(e: &Entry, offset: usize, generation: u32) -> Vec<u16> {
        wide(&format!("{}#{offset}#{generation}", e.table_name))
    }

    pub(crate) fn wait_shared(
        e: &Entry,
        offset: usize,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> bool {
        let Some(table) = e.table(true) else {
            return crate::sys::sleep_slice(word, expected, timeout);
        };
        let gen_word = table.generation(offset);
        let g = gen_word.load(Ordering::SeqCst);
        let name = event_name(e, offset, g);
        // SAFETY: a manual-reset, initially non-signalled event with a NUL-terminated name;
        // default security.
        let raw = unsafe { CreateEventW(std::ptr::null(), 1, 0, name.as_ptr()) };
        let Ok(event) = Handle::from_result(raw) else {
            return crate::sys::sleep_slice(word, expected, timeout);
        };
        // SYNC: SeqCst pairs with the waker's store to `word` and its SeqCst `fetch_add` on the
        // generation (see the module docs for the argument).
        if gen_word.load(Ordering::SeqCst) != g || word.load(Ordering::SeqCst) != expected {
            return true;
        }
        let ms = timeout.map_or(INFINITE, millis);
        // SAFETY: a valid event handle we own.
        let r = unsafe { WaitForSingleObject(event.0, ms) };
        r != WAIT_TIMEOUT
    }

    pub(crate) fn wake_shared(e: &Entry, offset: usize) {
        // Without a table nobody can be waiting (waiters create it first).
        let Some(table) = e.table(false) else {
            return;
        };
        // SYNC: SeqCst, after the caller's store to the word (see the module docs).
        let g = table.generation(offset).fetch_add(1, Ordering::SeqCst);
        let name = event_name(e, offset, g);
        // SAFETY: opens a named event for signalling; the name is NUL-terminated.
        let raw = unsafe {
            OpenEventW(0x0002 /* EVENT_MODIFY_STATE */, 0, name.as_ptr())
        };
        if let Ok(event) = Handle::from_result(raw) {
            // SAFETY: a valid event handle with EVENT_MODIFY_STATE.
            unsafe { SetEvent(event.0) };
        }
    }
}

/// The holder files behind `list` (see the module docs).
mod holders {
    use super::*;
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::PathBuf;

    const FILE_FLAG_DELETE_ON_CLOSE: u32 = 0x0400_0000;
    const FILE_SHARE_READ: u32 = 1;
    const FILE_SHARE_WRITE: u32 = 2;
    const FILE_SHARE_DELETE: u32 = 4;

    fn dir() -> PathBuf {
        std::env::temp_dir().join("shmkit-holders")
    }

    /// A holder file for one handle of `name`; deleted by the kernel when it is closed.
    pub(super) fn hold(name: &str) -> Option<fs::File> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let (ns, bare) = split(name);
        let (pid, tag) = current_process();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = dir();
        let _ = fs::create_dir_all(&dir);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
            .custom_flags(FILE_FLAG_DELETE_ON_CLOSE)
            .open(dir.join(format!("{ns}~{bare}~{pid}~{tag}~{n}")))
            .ok()
    }

    /// Who holds one name.
    #[derive(Debug, Default)]
    pub(super) struct Held {
        pub pids: Vec<u32>,
        /// The oldest holder file's time: about when the segment was made.
        pub since: Option<SystemTime>,
    }

    /// Every name with live holders, as `list` shows names.
    pub(super) fn scan() -> Vec<(String, Held)> {
        let mut by_name: Vec<(String, Held)> = Vec::new();
        let Ok(rd) = fs::read_dir(dir()) else {
            return by_name;
        };
        for entry in rd.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let Some((ns, bare, pid, tag)) = parse(file) else {
                continue;
            };
            if !process_alive(pid, tag) {
                // Its process died and the file survived (not on a healthy system): tidy up.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let name = display_name(ns, bare);
            let since = entry.metadata().ok().and_then(|m| m.created().ok());
            let held = match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, h)) => h,
                None => {
                    by_name.push((name, Held::default()));
                    &mut by_name.last_mut().expect("just pushed").1
                }
            };
            if !held.pids.contains(&pid) {
                held.pids.push(pid);
            }
            held.since = match (held.since, since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        by_name
    }

    /// `NS~NAME~PID~TAG~N` → (NS, NAME, PID, TAG).
    pub(super) fn parse(file: &str) -> Option<(&str, &str, u32, u32)> {
        let mut f = file.split('~');
        let (ns, bare, pid, tag, _n) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
        if f.next().is_some() || bare.is_empty() {
            return None;
        }
        Some((ns, bare, pid.parse().ok()?, tag.parse().ok()?))
    }
}

/// Pins the calling thread to CPU `cpu` (the first 64); `false` if that is not possible.
pub(crate) fn pin_to_cpu(cpu: usize) -> bool {
    use windows_sys::Win32::System::Threading::{GetCurrentThread, SetThreadAffinityMask};
    if cpu >= usize::BITS as usize {
        return false;
    }
    // SAFETY: GetCurrentThread returns a pseudo-handle valid in this thread; the mask is a plain
    // value. A zero return means failure (for example, a CPU outside the process's set).
    unsafe { SetThreadAffinityMask(GetCurrentThread(), 1usize << cpu) != 0 }
}

/// Windows objects have no numeric owner here: `gc` finds only this user's segments anyway (the
/// holder files are per user).
pub(crate) fn current_user() -> Option<u32> {
    None
}

/// A held name cannot be removed on Windows (the section lives as long as its handles).
pub(crate) fn is_removed(_m: &Mapping) -> bool {
    false
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

// ---- liveness proofs (see `crate::liveness`) ---------------------------------------------------

// Windows has no byte-range locks on sections: liveness is judged by process id plus creation
// time (`current_process`, `process_alive`).
super::no_proofs::mapping_without_proofs!();
pub(crate) use super::no_proofs::{
    coarse_now_ns, now_ns, pid_namespace, proof_held_by_name, proofs_supported,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_namespaces() {
        assert_eq!(split("cam0"), ("Local", "cam0"));
        assert_eq!(split("Global\\cam0"), ("Global", "cam0"));
        assert_eq!(object_name("cam0"), "Local\\cam0");
        assert_eq!(native_name("cam0", true), "Global\\cam0");
        assert_eq!(native_name("cam0", false), "cam0");
        assert_eq!(display_name("Local", "x"), "x");
        assert_eq!(display_name("Global", "x"), "Global\\x");
    }

    #[test]
    fn holder_file_names_parse_and_reject_garbage() {
        assert_eq!(
            holders::parse("Local~cam.0~1234~99~0"),
            Some(("Local", "cam.0", 1234, 99))
        );
        assert_eq!(holders::parse("Local~~1~2~3"), None);
        assert_eq!(holders::parse("Local~x~pid~2~3"), None);
        assert_eq!(holders::parse("a~b~1~2~3~4"), None);
        assert_eq!(holders::parse("junk"), None);
    }

    #[test]
    fn this_process_is_alive_and_pid_reuse_is_detected() {
        let (pid, tag) = current_process();
        assert_ne!(tag, 0);
        assert!(process_alive(pid, tag));
        assert!(!process_alive(pid, tag.wrapping_add(1)));
        assert!(!process_alive(0, 0));
        assert!(!process_alive(0x7fff_fff0, 0));
    }

    #[test]
    fn sizes_survive_open_and_stat() {
        let name = format!("t-size-{}", std::process::id());
        let len = 3 * size_granule();
        let m = create(&name, len, 0o600, false, &mut |_, _| {}, &|_| false).unwrap();
        assert_eq!(m.len(), len);
        let o = open(&name, Want::Read, &|_| false).unwrap();
        assert_eq!(o.len(), len);
        assert_eq!(stat(&name).unwrap().unwrap().len, len as u64);
    }
}
