//! Waking a program's own event loop when a cell, stream or segment changes.

use std::ffi::c_void;

use shmkit_core::{Notifier, Segment};

use crate::error::{Fail, R, call, call_quietly, shmkit_status};
use crate::util::*;
use crate::{shmkit_cell, shmkit_segment, shmkit_subscriber};

/// Wakes an event loop each time a segment changes (a cell's publish, a stream's frame,
/// `shmkit_segment_notify()`): a thread of the library sleeps on the segment's change event (no
/// polling) and either makes a file descriptor readable or calls a function. Made by
/// `shmkit_notifier_for_cell()`, `_for_subscriber()` or `_for_segment()`; freed (its thread
/// ended) by `shmkit_notifier_close()`.
///
/// Per platform:
/// * Linux: a descriptor (an `eventfd`) for `poll`, `epoll`, `select`, Qt's `QSocketNotifier`,
///   libuv's `uv_poll`; or a callback.
/// * macOS: a descriptor (the read end of a pipe); or a callback.
/// * Windows: no descriptor an event loop could take (asking for one gives
///   `SHMKIT_UNSUPPORTED`): use a callback, and from it wake your loop (`PostMessage`,
///   `QMetaObject::invokeMethod` with a queued connection, `uv_async_send`).
///
/// A wake-up says "something changed", not what: after it, `shmkit_notifier_clear()`, then read
/// the cell or receive frames until there are none. Several changes may give one wake-up.
///
/// Thread safety: any thread may use it; the callback runs on the notifier's own thread.
#[derive(Debug)]
pub struct shmkit_notifier {
    n: Notifier,
}

/// A function a notifier calls on its own thread at each change, with the `ctx` given.
pub type shmkit_notify_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// The callback and its context, moved to the notifier's thread.
struct Callback {
    f: unsafe extern "C" fn(*mut c_void),
    ctx: *mut c_void,
}

// SAFETY: the caller of the `shmkit_notifier_for_*` functions promises that `f(ctx)` may run on
// another thread (the documented contract); we only pass the pointer back to it.
unsafe impl Send for Callback {}

impl Callback {
    fn run(&self) {
        // SAFETY: `f` is a function taking `ctx` (the caller's promise, see the type's Send).
        unsafe { (self.f)(self.ctx) }
    }
}

fn make(seg: &Segment, f: shmkit_notify_fn, ctx: *mut c_void) -> R<shmkit_notifier> {
    let n = match f {
        None => Notifier::new(seg)?,
        Some(f) => {
            let cb = Callback { f, ctx };
            Notifier::with_callback(seg, move || cb.run())?
        }
    };
    Ok(shmkit_notifier { n })
}

/// A notifier for a cell's new values. `f` NULL: a descriptor (`shmkit_notifier_fd()`); else
/// `f(ctx)` is called on the notifier's thread at each change (then `ctx` must stay valid until
/// `shmkit_notifier_close()` returns, and `f` must be safe to call from another thread).
///
/// Errors: `SHMKIT_UNSUPPORTED` (a descriptor on Windows: use a callback).
///
/// Ownership: `*out` is new (NULL on failure); close it with `shmkit_notifier_close()`. It
/// watches the cell's segment on its own: closing the cell first is fine.
///
/// # Safety
/// `cell` is NULL or a live handle; `f` is NULL or a function as described; `out` is valid for
/// writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_for_cell(
    cell: *const shmkit_cell,
    f: shmkit_notify_fn,
    ctx: *mut c_void,
    out: *mut *mut shmkit_notifier,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (c, slot) = unsafe { (handle(cell, "cell")?, out_handle(out, "out")?) };
        give(slot, make(c.cell.segment(), f, ctx)?);
        Ok(())
    })
}

/// A notifier for a stream's new frames (see `shmkit_notifier_for_cell()`).
///
/// # Safety
/// As for `shmkit_notifier_for_cell()`, with a live subscriber handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_for_subscriber(
    subscriber: *const shmkit_subscriber,
    f: shmkit_notify_fn,
    ctx: *mut c_void,
    out: *mut *mut shmkit_notifier,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, slot) = unsafe { (handle(subscriber, "subscriber")?, out_handle(out, "out")?) };
        let n = make(s.state.get()?.s.segment(), f, ctx)?;
        give(slot, n);
        Ok(())
    })
}

/// A notifier for a segment's `shmkit_segment_notify()` (see `shmkit_notifier_for_cell()`).
/// `SHMKIT_INCOMPATIBLE` for a raw segment (it has no change event).
///
/// # Safety
/// As for `shmkit_notifier_for_cell()`, with a live segment handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_for_segment(
    seg: *const shmkit_segment,
    f: shmkit_notify_fn,
    ctx: *mut c_void,
    out: *mut *mut shmkit_notifier,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (s, slot) = unsafe { (handle(seg, "segment")?, out_handle(out, "out")?) };
        give(slot, make(&s.seg, f, ctx)?);
        Ok(())
    })
}

/// The descriptor to wait on for reading, in `*fd`: readable after a change until
/// `shmkit_notifier_clear()`. It belongs to the notifier: do not read, write or close it.
///
/// Errors: `SHMKIT_UNSUPPORTED` for a notifier made with a callback.
///
/// # Safety
/// `notifier` is NULL or a live handle; `fd` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_fd(
    notifier: *const shmkit_notifier,
    fd: *mut i32,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (n, o) = unsafe { (handle(notifier, "notifier")?, out(fd, "fd")?) };
        let d = n.n.descriptor().ok_or_else(|| {
            Fail::new(
                shmkit_status::SHMKIT_UNSUPPORTED,
                "this notifier calls back (it was made with a function, or this platform has no \
                 descriptor an event loop could wait on): it has no descriptor",
            )
        })?;
        o.write(d);
        Ok(())
    })
}

/// Empties the descriptor (readable again at the next change); whether a change had been
/// signalled goes to `*was_raised` (NULL: not wanted). Call it before looking at what changed,
/// so that a change meanwhile raises it again.
///
/// # Safety
/// `notifier` is NULL or a live handle; `was_raised` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_clear(
    notifier: *const shmkit_notifier,
    was_raised: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let n = unsafe { handle(notifier, "notifier")? };
        let raised = n.n.clear();
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(was_raised, raised) };
        Ok(())
    })
}

/// Stops the notifier (its thread has ended and the callback will not run again when this
/// returns), closes its descriptor, and sets `*notifier` to NULL (nothing to do for NULL). Do
/// not call it from the notifier's own callback.
///
/// # Safety
/// `notifier` is NULL or points to NULL or a handle from this library not closed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_notifier_close(notifier: *mut *mut shmkit_notifier) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(notifier) }));
}
