//! Latest-value cells.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_void};
use std::time::Duration;

use shmkit_core::{Cell, CellOptions, ErrorKind};

use crate::error::{Fail, R, call, call_quietly, shmkit_status};
use crate::util::*;

/// An open cell: the latest value, published whole by one writer at a time, read whole by any
/// number of readers without blocking it. Made by `shmkit_cell_create()`, `_open()` or
/// `_open_or_create()`; freed by `shmkit_cell_close()`.
///
/// Thread safety: one handle may be used by several threads at once (publishers are serialised
/// by the cell's lock; readers never wait).
#[derive(Debug)]
pub struct shmkit_cell {
    pub(crate) cell: Cell,
    name: CString,
    format: OwnedFormat,
}

/// Options for creating or opening a cell. All zero (`{0}`) means the defaults; pass NULL for
/// all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_cell_options {
    /// Value buffers, 2 to 16; 0 means 3. A reader retries only when the writer publishes
    /// `slot_count - 1` values while it copies one. Open and open-or-create: if not 0, the cell found
    /// must have this many.
    pub slot_count: u32,
    /// Permission bits of a new cell; 0 means 0600.
    pub mode: u32,
    /// `SHMKIT_LAST_CLOSE` (0, the default) or `SHMKIT_PERSISTENT`.
    pub lifetime: shmkit_lifetime,
    /// How long `shmkit_cell_wait_newer()` spins before it sleeps, in microseconds (0: sleeps at
    /// once). A short spin catches a value that comes within microseconds, at the price of a
    /// busy CPU meanwhile.
    pub spin_us: u64,
    /// What the values are, recorded for tools: `"rgba8:320x240"` (a raw image; it also sets the
    /// default capacity), `"text/plain"`, ...; NULL or `""` for none. Open-or-create: the cell
    /// found must have it.
    pub format: *const c_char,
    /// Non-zero: this handle is the cell's only writer for as long as it is open. It holds the
    /// cell's lock from the start, so its publishes skip the lock (faster); another writer's
    /// publish waits meanwhile, and another exclusive open fails with `SHMKIT_TIMEOUT` after a
    /// second, naming the holder. Not with read-only access (`SHMKIT_INVALID_ARGUMENT`).
    pub exclusive: u8,
}

/// # Safety
/// `opts` is NULL or valid, its `format` NULL or a string.
unsafe fn cell_options(opts: *const shmkit_cell_options) -> R<CellOptions> {
    let mut o = CellOptions::new();
    // SAFETY: NULL or valid (the caller's promise).
    let Some(c) = (unsafe { opts.as_ref() }) else {
        return Ok(o);
    };
    if c.slot_count != 0 {
        o = o.slots(c.slot_count);
    }
    o = o
        .mode(mode_arg(c.mode)?)
        .lifetime(lifetime_arg(c.lifetime)?)
        .spin(Duration::from_micros(c.spin_us))
        .exclusive(c.exclusive != 0);
    // SAFETY: NULL or a string (the caller's promise).
    if let Some(f) = unsafe { format_arg(c.format) }? {
        o = o.format(f);
    }
    Ok(o)
}

fn new_handle(cell: Cell) -> shmkit_cell {
    shmkit_cell {
        name: c_name(cell.name().as_str()),
        format: OwnedFormat::new(cell.format()),
        cell,
    }
}

/// Creates a cell for values of up to `capacity` bytes (0: the size of one picture of an image
/// `format`) and returns it in `*out`. It starts with an empty value, sequence number 0.
///
/// Errors: `SHMKIT_ALREADY_EXISTS`, `SHMKIT_INVALID_NAME`, `SHMKIT_INVALID_SIZE` (no capacity,
/// slots outside 2..16), `SHMKIT_OUT_OF_RESOURCES`, `SHMKIT_INVALID_ARGUMENT` (a malformed
/// format).
///
/// Ownership: `*out` is a new handle (NULL on failure); close it with `shmkit_cell_close()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `opts` is NULL or valid; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_create(
    name: *const c_char,
    capacity: usize,
    opts: *const shmkit_cell_options,
    out: *mut *mut shmkit_cell,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, mut o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                cell_options(opts)?,
            )
        };
        if capacity != 0 {
            o = o.capacity(capacity);
        }
        give(slot, new_handle(o.create(name)?));
        Ok(())
    })
}

/// Opens the existing cell `name` with `access` (`SHMKIT_READ_ONLY`: can read and wait, not
/// publish; the operating system enforces it).
///
/// Errors: `SHMKIT_NOT_FOUND` ("is the writer running?": see `shmkit_cell_open_wait()` to wait
/// for it instead), `SHMKIT_INCOMPATIBLE` (not a cell), `SHMKIT_PERMISSION_DENIED`,
/// `SHMKIT_INVALID_NAME`, `SHMKIT_CORRUPT`.
///
/// Ownership: as for `shmkit_cell_create()`.
///
/// # Safety
/// As for `shmkit_cell_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_open(
    name: *const c_char,
    access: shmkit_access,
    opts: *const shmkit_cell_options,
    out: *mut *mut shmkit_cell,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                cell_options(opts)?,
            )
        };
        give(slot, new_handle(o.access(access_arg(access)?).open(name)?));
        Ok(())
    })
}

/// As `shmkit_cell_open()`, but a cell that does not exist yet is waited for, at most
/// `timeout_ms` (negative: as long as it takes): for a reader started before its writer.
/// A name's appearance has no event to sleep on, so this looks every 50 ms while the name is
/// missing (and only then).
///
/// Errors: as for `shmkit_cell_open()`; `SHMKIT_TIMEOUT` instead of `SHMKIT_NOT_FOUND`.
///
/// # Safety
/// As for `shmkit_cell_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_open_wait(
    name: *const c_char,
    access: shmkit_access,
    opts: *const shmkit_cell_options,
    timeout_ms: i64,
    out: *mut *mut shmkit_cell,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                cell_options(opts)?,
            )
        };
        let o = o.access(access_arg(access)?);
        let cell = wait_for(name, "cell", timeout(timeout_ms), || o.open(name))?;
        give(slot, new_handle(cell));
        Ok(())
    })
}

/// How often a wait for a missing name looks again.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// Opens with `open` until it stops failing with "not found", or the deadline.
pub(crate) fn wait_for<T>(
    name: &str,
    what: &str,
    timeout: Option<Duration>,
    mut open: impl FnMut() -> shmkit_core::Result<T>,
) -> R<T> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        match open() {
            Err(e) if e.kind() == shmkit_core::ErrorKind::NotFound => {}
            other => return Ok(other?),
        }
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(Fail::new(
                shmkit_status::SHMKIT_TIMEOUT,
                format!(
                    "cannot open {name:?}: no {what} of that name appeared within {:?} — is the \
                     writer running? `shmkit ls` lists the segments that exist",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        std::thread::sleep(left.map_or(LOOK_EVERY, |l| l.min(LOOK_EVERY)));
    }
}

/// Opens the cell `name` read-write, or creates it for values of up to `capacity` bytes if it
/// does not exist (safe against racing processes). One that exists must hold values of at
/// least `capacity` bytes, and the `slot_count` and `format` of `opts` where set
/// (`SHMKIT_INCOMPATIBLE` otherwise, naming what differs).
///
/// # Safety
/// As for `shmkit_cell_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_open_or_create(
    name: *const c_char,
    capacity: usize,
    opts: *const shmkit_cell_options,
    out: *mut *mut shmkit_cell,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, mut o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                cell_options(opts)?,
            )
        };
        if capacity != 0 {
            o = o.capacity(capacity);
        }
        give(slot, new_handle(o.open_or_create(name)?));
        Ok(())
    })
}

/// Closes the handle in `*cell` and sets `*cell` to NULL (nothing to do for NULL). With
/// `SHMKIT_LAST_CLOSE`, the last handle anywhere removes the name.
///
/// Thread safety: no other thread may use the handle during or after the call.
///
/// # Safety
/// `cell` is NULL or points to NULL or a handle from this library not closed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_close(cell: *mut *mut shmkit_cell) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(cell) }));
}

/// Publishes the `len` bytes at `data` as the cell's new value; its sequence number goes to
/// `*seq` (NULL: not wanted). Never waits for readers. If a previous writer died mid-publish,
/// this one takes over.
///
/// Errors: `SHMKIT_INVALID_SIZE` (longer than the capacity), `SHMKIT_PERMISSION_DENIED`
/// (read-only handle).
///
/// # Safety
/// `cell` is NULL or a live handle; `data` is valid for reading `len` bytes (NULL if 0); `seq`
/// is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_publish(
    cell: *const shmkit_cell,
    data: *const c_void,
    len: usize,
    seq: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, d) = unsafe { (handle(cell, "cell")?, bytes(data.cast(), len, "data")?) };
        let s = c.cell.publish(d)?;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(seq, s) };
        Ok(())
    })
}

thread_local! {
    /// Where a value too long for the caller's buffer is read, to learn its length.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Copies the newest value into `buf` (`cap` bytes): its length goes to `*len`, its sequence
/// number to `*seq` (0: nothing published yet; NULL: not wanted). Never blocks the writer; the
/// value is whole: never a mix of two values, never the tail of an older one.
///
/// One copy, from shared memory straight into `buf`.
///
/// Errors: `SHMKIT_BUFFER_TOO_SMALL` (the value is longer than `cap`: `*len` says how long,
/// and `buf` holds nothing useful: a copy that a writer overlapped, and that was discarded,
/// may have reached it; `shmkit_cell_capacity()` bytes always suffice), `SHMKIT_CORRUPT`.
///
/// # Safety
/// `cell` is NULL or a live handle; `buf` is valid for writing `cap` bytes; `len` is valid for
/// writing; `seq` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_read(
    cell: *const shmkit_cell,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    seq: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, b, l) = unsafe {
            (
                handle(cell, "cell")?,
                buffer(buf.cast(), cap, "buf")?,
                out(len, "len")?,
            )
        };
        let (s, n) = match c.cell.read_to_uninit(b) {
            Ok(done) => done,
            // Too long for `buf`: read it whole to learn its length (the newest value by
            // now, which may fit after all).
            Err(e) if e.kind() == ErrorKind::InvalidSize => {
                SCRATCH.with(|scratch| -> R<(u64, usize)> {
                    let mut v = scratch.borrow_mut();
                    let s = c.cell.read_into(&mut v)?;
                    if v.len() <= b.len() {
                        copy_to(b, &v);
                    }
                    Ok((s, v.len()))
                })?
            }
            Err(e) => return Err(e.into()),
        };
        l.write(n);
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(seq, s) };
        if n > cap {
            return Err(Fail::new(
                shmkit_status::SHMKIT_BUFFER_TOO_SMALL,
                format!(
                    "cannot read {:?}: value #{s} is {n} bytes, more than the {cap}-byte buffer",
                    c.cell.name().as_str()
                ),
            ));
        }
        Ok(())
    })
}

/// Sleeps until a value newer than `seq` exists (at most `timeout_ms`; negative: no limit; 0:
/// only looks) and writes the newest sequence number to `*newest` (NULL: not wanted). Returns
/// at once if one exists already. No polling: the writer's publish wakes it.
///
/// Errors: `SHMKIT_TIMEOUT`.
///
/// # Safety
/// `cell` is NULL or a live handle; `newest` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_wait_newer(
    cell: *const shmkit_cell,
    seq: u64,
    timeout_ms: i64,
    newest: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let c = unsafe { handle(cell, "cell")? };
        let n = c.cell.wait_newer(seq, timeout(timeout_ms))?;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(newest, n) };
        Ok(())
    })
}

/// The newest value's sequence number, in `*seq` (0 before the first publish).
///
/// # Safety
/// `cell` is NULL or a live handle; `seq` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_seq(cell: *const shmkit_cell, seq: *mut u64) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, o) = unsafe { (handle(cell, "cell")?, out(seq, "seq")?) };
        o.write(c.cell.seq());
        Ok(())
    })
}

/// The largest value the cell holds, in bytes, in `*capacity`.
///
/// # Safety
/// `cell` is NULL or a live handle; `capacity` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_capacity(
    cell: *const shmkit_cell,
    capacity: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, o) = unsafe { (handle(cell, "cell")?, out(capacity, "capacity")?) };
        o.write(c.cell.capacity());
        Ok(())
    })
}

/// The cell's name, in `*name`: valid while the handle is open.
///
/// # Safety
/// `cell` is NULL or a live handle; `name` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_name(
    cell: *const shmkit_cell,
    name: *mut *const c_char,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, o) = unsafe { (handle(cell, "cell")?, out(name, "name")?) };
        o.write(c.name.as_ptr());
        Ok(())
    })
}

/// What the values are, as the creator recorded, in `*format` (its `text` is valid while the
/// handle is open).
///
/// # Safety
/// `cell` is NULL or a live handle; `format` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_cell_format(
    cell: *const shmkit_cell,
    format: *mut shmkit_format,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, o) = unsafe { (handle(cell, "cell")?, out(format, "format")?) };
        o.write(c.format.to_c());
        Ok(())
    })
}
