//! Segments and their robust lock.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::thread::ThreadId;

use shmkit_core::{Access, LockGuard, Namespace, Segment, SegmentOptions};

use crate::error::{Fail, R, call, call_quietly, shmkit_status};
use crate::util::*;

/// An open segment: plain bytes with a lock and a change counter (or raw bytes, for foreign
/// programs). Made by `shmkit_segment_create()`, `_open()` or `_open_or_create()`; freed by
/// `shmkit_segment_close()`.
///
/// Thread safety: one handle may be used by several threads at once.
#[derive(Debug)]
pub struct shmkit_segment {
    pub(crate) seg: Arc<Segment>,
    name: CString,
    format: OwnedFormat,
}

/// A held segment lock, from `shmkit_segment_lock()`; released by `shmkit_guard_unlock()` on the
/// thread that locked.
#[derive(Debug)]
pub struct shmkit_guard {
    // Declared before `_seg`: dropped (unlocked) before the segment it borrows.
    _guard: LockGuard<'static>,
    owner_died: bool,
    thread: ThreadId,
    _seg: Arc<Segment>,
}

/// Options for creating or opening a segment. All zero (`{0}`) means the defaults; pass NULL
/// for all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_segment_options {
    /// Permission bits of a new segment; 0 means 0600 (only its owner may open it). Windows:
    /// ignored (the creator's default security, which is what 0600 means).
    pub mode: u32,
    /// `SHMKIT_LAST_CLOSE` (0, the default) or `SHMKIT_PERSISTENT`.
    pub lifetime: shmkit_lifetime,
    /// Raw: no shmkit header; byte 0 is byte 0 of the object, for memory shared with programs
    /// that do not use shmkit (a Win32 `CreateFileMapping` program, Python, Qt). Raw segments
    /// take any name the system takes, and have no lock and no change counter.
    pub raw: bool,
    /// Windows: the machine-wide namespace (`Global\NAME`; creating needs
    /// `SeCreateGlobalPrivilege`). Elsewhere ignored.
    pub global: bool,
    /// What the data is, recorded in the header for tools (`shmkit info`): a raw image format
    /// (`"rgba8:640x480"`) or a media type (`"text/plain"`); NULL or `""` for none.
    pub format: *const c_char,
}

/// # Safety
/// `opts` is NULL or a valid `shmkit_segment_options` whose `format` is NULL or a string.
unsafe fn segment_options(opts: *const shmkit_segment_options) -> R<SegmentOptions> {
    let mut o = SegmentOptions::new();
    // SAFETY: NULL or valid (the caller's promise).
    let Some(c) = (unsafe { opts.as_ref() }) else {
        return Ok(o);
    };
    o = o
        .mode(mode_arg(c.mode)?)
        .lifetime(lifetime_arg(c.lifetime)?)
        .raw(c.raw);
    if c.global {
        o = o.namespace(Namespace::Global);
    }
    // SAFETY: NULL or a string (the caller's promise).
    if let Some(f) = unsafe { format_arg(c.format) }? {
        o = o.format(f);
    }
    Ok(o)
}

fn new_handle(seg: Segment) -> shmkit_segment {
    shmkit_segment {
        name: c_name(seg.name().as_str()),
        format: OwnedFormat::new(seg.format()),
        seg: Arc::new(seg),
    }
}

/// Creates a segment of `size` data bytes named `name` and returns a handle to it in `*out`.
///
/// Errors: `SHMKIT_ALREADY_EXISTS`, `SHMKIT_INVALID_NAME` (the portable rule: 1 to 30
/// characters of `A-Z a-z 0-9 . _ -`; raw segments take any name the system takes),
/// `SHMKIT_INVALID_SIZE` (0), `SHMKIT_OUT_OF_RESOURCES` (shared memory is full: the memory is
/// reserved now, so it never fails later), `SHMKIT_PERMISSION_DENIED`, `SHMKIT_INVALID_ARGUMENT`.
///
/// Ownership: `*out` is a new handle (NULL on failure); close it with `shmkit_segment_close()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `opts` is NULL or valid; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_create(
    name: *const c_char,
    size: usize,
    opts: *const shmkit_segment_options,
    out: *mut *mut shmkit_segment,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                segment_options(opts)?,
            )
        };
        let seg = o.size(size).create(name)?;
        give(slot, new_handle(seg));
        Ok(())
    })
}

/// Opens the existing segment `name` with `access` (`SHMKIT_READ_ONLY` maps it without write
/// permission). Only `raw` and `global` of `opts` matter here.
///
/// Errors: `SHMKIT_NOT_FOUND` ("is the writer running?"), `SHMKIT_PERMISSION_DENIED`,
/// `SHMKIT_INCOMPATIBLE` (a cell or stream, or a foreign object opened without `raw`),
/// `SHMKIT_INVALID_NAME`, `SHMKIT_CORRUPT`, `SHMKIT_INVALID_ARGUMENT`.
///
/// Ownership: as for `shmkit_segment_create()`.
///
/// # Safety
/// As for `shmkit_segment_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_open(
    name: *const c_char,
    access: shmkit_access,
    opts: *const shmkit_segment_options,
    out: *mut *mut shmkit_segment,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                segment_options(opts)?,
            )
        };
        let seg = o.access(access_arg(access)?).open(name)?;
        give(slot, new_handle(seg));
        Ok(())
    })
}

/// Opens the segment `name` read-write, or creates it with `size` bytes if it does not exist -
/// safe against other processes doing the same at once. One that exists must have at least
/// `size` bytes (otherwise `SHMKIT_INCOMPATIBLE`, naming both sizes).
///
/// Errors and ownership: as for `shmkit_segment_create()` and `shmkit_segment_open()`.
///
/// # Safety
/// As for `shmkit_segment_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_open_or_create(
    name: *const c_char,
    size: usize,
    opts: *const shmkit_segment_options,
    out: *mut *mut shmkit_segment,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                segment_options(opts)?,
            )
        };
        let seg = o.size(size).open_or_create(name)?;
        give(slot, new_handle(seg));
        Ok(())
    })
}

/// Closes the handle in `*seg` and sets `*seg` to NULL (NULL or a NULL `*seg`: nothing to do).
/// With `SHMKIT_LAST_CLOSE`, the last handle anywhere also removes the name. A lock guard taken
/// through this handle keeps the segment open until it is unlocked.
///
/// Thread safety: no other thread may use the handle during or after the call.
///
/// # Safety
/// `seg` is NULL or points to NULL or a handle from this library not closed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_close(seg: *mut *mut shmkit_segment) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(seg) }));
}

/// The segment's name, in `*name`: valid while the handle is open. Thread-safe.
///
/// # Safety
/// `seg` is NULL or a live handle; `name` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_name(
    seg: *const shmkit_segment,
    name: *mut *const c_char,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(name, "name")?) };
        o.write(s.name.as_ptr());
        Ok(())
    })
}

/// The number of data bytes (without shmkit's header), in `*size`. Thread-safe.
///
/// # Safety
/// `seg` is NULL or a live handle; `size` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_size(
    seg: *const shmkit_segment,
    size: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(size, "size")?) };
        o.write(s.seg.len());
        Ok(())
    })
}

/// The address of the first data byte, for reading, in `*data`: valid while the handle is
/// open. Other processes may write these bytes at any time: read them under the lock (if every
/// writer takes it) or check what you read; `shmkit_segment_read()` copies safely.
///
/// # Safety
/// `seg` is NULL or a live handle; `data` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_data(
    seg: *const shmkit_segment,
    data: *mut *const c_void,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(data, "data")?) };
        o.write(s.seg.as_ptr().cast());
        Ok(())
    })
}

/// The address of the first data byte, for writing, in `*data`: valid while the handle is
/// open. `SHMKIT_PERMISSION_DENIED` on a read-only handle.
///
/// # Safety
/// `seg` is NULL or a live handle; `data` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_data_mut(
    seg: *const shmkit_segment,
    data: *mut *mut c_void,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(data, "data")?) };
        let p = s.seg.as_mut_ptr().ok_or_else(|| {
            Fail::new(
                shmkit_status::SHMKIT_PERMISSION_DENIED,
                format!(
                    "cannot write to {:?}: this handle was opened read-only",
                    s.seg.name().as_str()
                ),
            )
        })?;
        o.write(p.cast());
        Ok(())
    })
}

/// Copies `len` bytes from data offset `offset` into `buf`. Each byte is read once; without the
/// lock a concurrent writer can make the copy a mix of old and new bytes.
///
/// Errors: `SHMKIT_INVALID_SIZE` if the range is outside the data.
///
/// # Safety
/// `seg` is NULL or a live handle; `buf` is valid for writing `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_read(
    seg: *const shmkit_segment,
    offset: usize,
    buf: *mut c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, b) = unsafe { (handle(seg, "segment")?, buffer(buf.cast(), len, "buf")?) };
        s.seg.read(offset, zeroed(b))?;
        Ok(())
    })
}

/// Copies `len` bytes from `data` into the segment at data offset `offset`.
///
/// Errors: `SHMKIT_PERMISSION_DENIED` (a read-only handle), `SHMKIT_INVALID_SIZE`.
///
/// # Safety
/// `seg` is NULL or a live handle; `data` is valid for reading `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_write(
    seg: *const shmkit_segment,
    offset: usize,
    data: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, d) = unsafe { (handle(seg, "segment")?, bytes(data.cast(), len, "data")?) };
        s.seg.write(offset, d)?;
        Ok(())
    })
}

/// Takes the segment's cross-process lock, waiting at most `timeout_ms` (negative: as long as
/// a live process holds it; 0: only if it is free now), and returns the guard in `*guard`.
///
/// If the holder died (even by `kill -9`), the lock passes on within about 100 ms and
/// `*owner_died` (and `shmkit_guard_owner_died()`) is true: the data it protected may be
/// half-updated: check or repair it. Pass NULL for `owner_died` if you ask the guard later.
///
/// Errors: `SHMKIT_TIMEOUT` (naming the holder), `SHMKIT_WOULD_DEADLOCK` (this thread holds it
/// already: the lock is not recursive), `SHMKIT_INCOMPATIBLE` (a raw segment has no lock),
/// `SHMKIT_PERMISSION_DENIED` (this process may only read the segment).
///
/// Ownership: `*guard` is new (NULL on failure); release it with `shmkit_guard_unlock()` on this
/// same thread. Thread safety: the guard belongs to the thread that locked.
///
/// # Safety
/// `seg` is NULL or a live handle; `guard` is valid for writing; `owner_died` is NULL or valid
/// for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_lock(
    seg: *const shmkit_segment,
    timeout_ms: i64,
    guard: *mut *mut shmkit_guard,
    owner_died: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, slot) = unsafe { (handle(seg, "segment")?, out_handle(guard, "guard")?) };
        let seg = Arc::clone(&s.seg);
        let g = match timeout(timeout_ms) {
            Some(t) => seg.lock_timeout(t)?,
            None => seg.lock()?,
        };
        let died = g.owner_died();
        // SAFETY: the guard borrows the segment inside `seg`'s allocation, which the
        // `shmkit_guard` keeps alive (its `_seg`) and drops only after the guard (field order);
        // an `Arc`'s contents never move. So the borrow outlives nothing it points to.
        let g = unsafe { std::mem::transmute::<LockGuard<'_>, LockGuard<'static>>(g) };
        // SAFETY: NULL or valid for writing (the caller's promise).
        unsafe { put(owner_died, died) };
        give(
            slot,
            shmkit_guard {
                _guard: g,
                owner_died: died,
                thread: std::thread::current().id(),
                _seg: seg,
            },
        );
        Ok(())
    })
}

/// Whether the previous holder of the lock died holding it, in `*owner_died`.
///
/// # Safety
/// `guard` is NULL or a live guard; `owner_died` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_guard_owner_died(
    guard: *const shmkit_guard,
    owner_died: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (g, o) = unsafe { (handle(guard, "guard")?, out(owner_died, "owner_died")?) };
        o.write(g.owner_died);
        Ok(())
    })
}

/// Releases the lock held by `*guard` and sets `*guard` to NULL. Must run on the thread that
/// locked: from another one it fails with `SHMKIT_INVALID_ARGUMENT` and the lock stays held.
///
/// # Safety
/// `guard` points to NULL or a live guard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_guard_unlock(guard: *mut *mut shmkit_guard) -> shmkit_status {
    call(|| {
        if guard.is_null() {
            return Err(Fail::invalid("guard (the variable holding it) is NULL"));
        }
        // SAFETY: a valid variable (the caller's promise), holding NULL or a live guard.
        let g = unsafe { handle(*guard, "guard")? };
        if g.thread != std::thread::current().id() {
            return Err(Fail::invalid(
                "cannot unlock: the lock belongs to the thread that took it; unlock it there",
            ));
        }
        // SAFETY: the caller's promise; checked above that it is ours to release.
        drop(unsafe { take_handle(guard) });
        Ok(())
    })
}

/// Bumps the change counter and wakes every process waiting in `shmkit_segment_wait_change()`
/// (and every notifier). Costs no system call when nobody waits.
///
/// Errors: `SHMKIT_INCOMPATIBLE` (raw segment), `SHMKIT_PERMISSION_DENIED` (read-only access).
///
/// # Safety
/// `seg` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_notify(seg: *const shmkit_segment) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let s = unsafe { handle(seg, "segment")? };
        s.seg.notify_change()?;
        Ok(())
    })
}

/// The change counter, in `*count` (0 for a raw segment). Read it before looking at the data,
/// then wait with it.
///
/// # Safety
/// `seg` is NULL or a live handle; `count` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_change_count(
    seg: *const shmkit_segment,
    count: *mut u32,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(count, "count")?) };
        o.write(s.seg.change_count());
        Ok(())
    })
}

/// Sleeps until the change counter differs from `seen` (at most `timeout_ms`; negative: no
/// limit) and writes the new count to `*count` (NULL: not wanted). No polling.
///
/// Errors: `SHMKIT_TIMEOUT`, `SHMKIT_INCOMPATIBLE` (raw segment).
///
/// # Safety
/// `seg` is NULL or a live handle; `count` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_wait_change(
    seg: *const shmkit_segment,
    seen: u32,
    timeout_ms: i64,
    count: *mut u32,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let s = unsafe { handle(seg, "segment")? };
        let now = s.seg.wait_change(seen, timeout(timeout_ms))?;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(count, now) };
        Ok(())
    })
}

/// What the data is, as the creator recorded, in `*format` (its `text` is valid while the
/// handle is open).
///
/// # Safety
/// `seg` is NULL or a live handle; `format` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_format(
    seg: *const shmkit_segment,
    format: *mut shmkit_format,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(format, "format")?) };
        o.write(s.format.to_c());
        Ok(())
    })
}

/// Whether the segment's name was removed or now names another segment, in `*removed`. The
/// handle keeps working either way; a long-running reader can open the name again.
///
/// # Safety
/// `seg` is NULL or a live handle; `removed` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_is_removed(
    seg: *const shmkit_segment,
    removed: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(removed, "removed")?) };
        o.write(s.seg.is_removed());
        Ok(())
    })
}

/// Whether the handle may write (opened or created read-write), in `*writable`.
///
/// # Safety
/// `seg` is NULL or a live handle; `writable` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_is_writable(
    seg: *const shmkit_segment,
    writable: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, o) = unsafe { (handle(seg, "segment")?, out(writable, "writable")?) };
        o.write(s.seg.access() == Access::ReadWrite);
        Ok(())
    })
}
