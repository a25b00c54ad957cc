//! Streams: the publisher, with copy-in sends and in-place loans, and subscribers, with
//! copy-out, in-place (a view with an explicit release) and callback receives.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use shmkit_core::stream::{
    DetachedFrame, DetachedLoan, JoinAt, Policy, Publisher, Received, StreamOptions, Subscriber,
};

use crate::cell::wait_for;
use crate::error::{Fail, R, call, call_quietly, shmkit_status};
use crate::util::*;

/// Options for creating a stream, publishing to one, or subscribing. All zero (`{0}`) means the
/// defaults; pass NULL for all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_stream_options {
    /// The largest frame in bytes; 0 means 64 KiB (or one picture of an image `format`).
    /// Open: if not 0, the stream found must take frames this large.
    pub max_frame: usize,
    /// The ring's size in bytes, rounded up to a power of two; 0 means room for 8 maximum frames
    /// (at least 64 KiB). It must hold two maximum frames.
    pub ring: usize,
    /// `SHMKIT_OVERWRITE` (0, the default) or `SHMKIT_BLOCK`.
    pub policy: shmkit_policy,
    /// Subscriber slots, 1 to 1024; 0 means 32. A block stream needs one per subscriber.
    pub subscribers: u32,
    /// Subscribers: `SHMKIT_JOIN_NEWEST` (0, the default) or `SHMKIT_JOIN_OLDEST`.
    pub from: shmkit_join_at,
    /// How long a waiting receive (or a blocked send) spins before it sleeps, in microseconds.
    pub spin_us: u64,
    /// Permission bits of a new stream; 0 means 0600.
    pub mode: u32,
    /// `SHMKIT_LAST_CLOSE` (0, the default) or `SHMKIT_PERSISTENT`.
    pub lifetime: shmkit_lifetime,
    /// What the frames are, recorded for tools and viewers: `"rgba8:1920x1080"` (a raw image;
    /// it also sets the default maximum frame), `"image/png"`, ...; NULL or `""` for none.
    pub format: *const c_char,
}

/// Which options the caller set: the create-or-open checks compare only those.
///
/// # Safety
/// `opts` is NULL or valid, its `format` NULL or a string.
unsafe fn stream_options(opts: *const shmkit_stream_options) -> R<StreamOptions> {
    let mut o = StreamOptions::new();
    // SAFETY: NULL or valid (the caller's promise).
    let Some(c) = (unsafe { opts.as_ref() }) else {
        return Ok(o);
    };
    if c.max_frame != 0 {
        o = o.max_frame(c.max_frame);
    }
    if c.ring != 0 {
        o = o.ring(c.ring);
    }
    if c.subscribers != 0 {
        o = o.subscribers(c.subscribers);
    }
    match c.policy {
        SHMKIT_OVERWRITE => {}
        SHMKIT_BLOCK => o = o.policy(Policy::Block),
        p => {
            return Err(Fail::invalid(format!(
                "policy {p} is neither SHMKIT_OVERWRITE (0) nor SHMKIT_BLOCK (1)"
            )));
        }
    }
    o = o.from(match c.from {
        SHMKIT_JOIN_NEWEST => JoinAt::Newest,
        SHMKIT_JOIN_OLDEST => JoinAt::Oldest,
        f => {
            return Err(Fail::invalid(format!(
                "from {f} is neither SHMKIT_JOIN_NEWEST (0) nor SHMKIT_JOIN_OLDEST (1)"
            )));
        }
    });
    o = o
        .spin(Duration::from_micros(c.spin_us))
        .mode(mode_arg(c.mode)?)
        .lifetime(lifetime_arg(c.lifetime)?);
    // SAFETY: NULL or a string (the caller's promise).
    if let Some(f) = unsafe { format_arg(c.format) }? {
        o = o.format(f);
    }
    Ok(o)
}

/// A handle's state behind a lock that is only ever tried: a second thread using the handle at
/// the same moment gets an error instead of a data race.
#[derive(Debug)]
pub(crate) struct OneAtATime<T> {
    what: &'static str,
    inner: Mutex<T>,
}

impl<T> OneAtATime<T> {
    fn new(what: &'static str, value: T) -> OneAtATime<T> {
        OneAtATime {
            what,
            inner: Mutex::new(value),
        }
    }

    pub(crate) fn get(&self) -> R<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::WouldBlock) => Err(Fail::invalid(format!(
                "this {} is in use by another thread (or by the callback of this call): a {} \
                 serves one thread at a time",
                self.what, self.what
            ))),
            Err(TryLockError::Poisoned(_)) => Err(Fail::new(
                shmkit_status::SHMKIT_PANIC,
                format!(
                    "an earlier call on this {} failed with an internal error; close it",
                    self.what
                ),
            )),
        }
    }
}

// ---- publisher -------------------------------------------------------------------------------

/// The publisher of a stream: the only process writing frames into it while it lives. Made by
/// `shmkit_publisher_create()`, `_open()` or `_create_or_open()`; freed by
/// `shmkit_publisher_close()`.
///
/// Thread safety: one thread at a time (it may move between threads); a second thread calling
/// while a call runs gets `SHMKIT_INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct shmkit_publisher {
    state: OneAtATime<Pub>,
    name: CString,
    format: OwnedFormat,
}

#[derive(Debug)]
struct Pub {
    p: Publisher,
    loan: Option<DetachedLoan>,
}

fn new_publisher(p: Publisher) -> shmkit_publisher {
    shmkit_publisher {
        name: c_name(p.name().as_str()),
        format: OwnedFormat::new(p.format()),
        state: OneAtATime::new("publisher", Pub { p, loan: None }),
    }
}

/// Creates the stream `name` and returns its publisher in `*out`.
///
/// Errors: `SHMKIT_ALREADY_EXISTS`, `SHMKIT_INVALID_NAME`, `SHMKIT_INVALID_SIZE` (a ring that
/// cannot hold two maximum frames, a bad subscriber count), `SHMKIT_OUT_OF_RESOURCES`,
/// `SHMKIT_INVALID_ARGUMENT`.
///
/// Ownership: `*out` is new (NULL on failure); close it with `shmkit_publisher_close()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `opts` is NULL or valid; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_create(
    name: *const c_char,
    opts: *const shmkit_stream_options,
    out: *mut *mut shmkit_publisher,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                stream_options(opts)?,
            )
        };
        give(slot, new_publisher(o.create(name)?));
        Ok(())
    })
}

/// Becomes the publisher of the existing stream `name`, waiting at most `wait_ms` (negative:
/// no limit) for the current one to go away; one that died is replaced at once.
///
/// Errors: `SHMKIT_NOT_FOUND`, `SHMKIT_TIMEOUT` (a live process publishes: one at a time),
/// `SHMKIT_INCOMPATIBLE`, `SHMKIT_CORRUPT`, `SHMKIT_PERMISSION_DENIED`.
///
/// # Safety
/// As for `shmkit_publisher_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_open(
    name: *const c_char,
    opts: *const shmkit_stream_options,
    wait_ms: i64,
    out: *mut *mut shmkit_publisher,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                stream_options(opts)?,
            )
        };
        let wait = wait_arg(wait_ms);
        give(slot, new_publisher(o.open_publisher(name, wait)?));
        Ok(())
    })
}

/// Creates the stream, or becomes the publisher of the existing one, which must carry what the
/// non-zero options ask for (frames at least `max_frame`, a ring at least `ring`, the same
/// policy when `SHMKIT_BLOCK`, at least `subscribers` slots, the same format; otherwise
/// `SHMKIT_INCOMPATIBLE` naming what differs).
///
/// # Safety
/// As for `shmkit_publisher_create()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_create_or_open(
    name: *const c_char,
    opts: *const shmkit_stream_options,
    wait_ms: i64,
    out: *mut *mut shmkit_publisher,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                stream_options(opts)?,
            )
        };
        let wait = wait_arg(wait_ms);
        give(slot, new_publisher(o.create_or_open_publisher(name, wait)?));
        Ok(())
    })
}

/// Closes the publisher in `*publisher` (abandoning a loan not committed) and sets
/// `*publisher` to NULL (nothing to do for NULL). Another process may then publish.
///
/// # Safety
/// `publisher` is NULL or points to NULL or a handle from this library not closed yet, which no
/// other thread uses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_close(publisher: *mut *mut shmkit_publisher) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(publisher) }));
}

/// Copies the `len` bytes at `data` in and publishes them as a frame; its sequence number goes
/// to `*seq` (NULL: not wanted). On an overwrite stream it never waits; on a block stream it
/// waits at most `timeout_ms` (negative: no limit; 0: only if there is room now) for the
/// slowest live subscriber.
///
/// Errors: `SHMKIT_INVALID_SIZE` (larger than the maximum frame), `SHMKIT_TIMEOUT` (block:
/// full), `SHMKIT_INVALID_ARGUMENT` (a loan is outstanding).
///
/// # Safety
/// `publisher` is NULL or a live handle; `data` is valid for reading `len` bytes (NULL if 0);
/// `seq` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_send(
    publisher: *const shmkit_publisher,
    data: *const c_void,
    len: usize,
    timeout_ms: i64,
    seq: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, d) = unsafe {
            (
                handle(publisher, "publisher")?,
                bytes(data.cast(), len, "data")?,
            )
        };
        let mut st = h.state.get()?;
        let s = match timeout(timeout_ms) {
            None => st.p.send(d)?,
            Some(t) => st.p.send_timeout(d, t)?,
        };
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(seq, s) };
        Ok(())
    })
}

/// Lends `len` bytes of the ring for the next frame, to fill in place (no copy at all): their
/// address goes to `*data`. Then `shmkit_publisher_commit()` publishes it, or
/// `shmkit_publisher_abandon()` drops it. One loan at a time; waits for room as
/// `shmkit_publisher_send()` does.
///
/// The memory is the publisher's alone until committed: write it freely (subscribers in other
/// processes only read frames that were committed). It stays valid until the commit, abandon or
/// close.
///
/// Errors: `SHMKIT_INVALID_SIZE`, `SHMKIT_TIMEOUT`, `SHMKIT_INVALID_ARGUMENT` (a loan is
/// outstanding already).
///
/// # Safety
/// `publisher` is NULL or a live handle; `data` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_loan(
    publisher: *const shmkit_publisher,
    len: usize,
    timeout_ms: i64,
    data: *mut *mut c_void,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(publisher, "publisher")?, out(data, "data")?) };
        o.write(std::ptr::null_mut());
        let mut st = h.state.get()?;
        if st.loan.is_some() {
            return Err(Fail::invalid(format!(
                "cannot publish to {:?}: a loan is outstanding; commit or abandon it first",
                st.p.name().as_str()
            )));
        }
        let loan = match timeout(timeout_ms) {
            None => st.p.loan(len)?,
            Some(t) => st.p.loan_timeout(len, t)?,
        }
        .detach();
        o.write(loan.as_mut_ptr().cast());
        st.loan = Some(loan);
        Ok(())
    })
}

/// Publishes the outstanding loan's first `len` bytes as a frame (`len` may be less than was
/// lent: for frames whose size is known only once written); its sequence number goes to `*seq`
/// (NULL: not wanted).
///
/// Errors: `SHMKIT_INVALID_ARGUMENT` (no loan outstanding), `SHMKIT_INVALID_SIZE` (`len` larger
/// than the loan: nothing is published, the loan stays outstanding).
///
/// # Safety
/// `publisher` is NULL or a live handle; `seq` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_commit(
    publisher: *const shmkit_publisher,
    len: usize,
    seq: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let h = unsafe { handle(publisher, "publisher")? };
        let mut st = h.state.get()?;
        let Some(loan) = st.loan.take() else {
            return Err(Fail::invalid(format!(
                "cannot publish to {:?}: no loan is outstanding (shmkit_publisher_loan first)",
                st.p.name().as_str()
            )));
        };
        if len > loan.len() {
            let e = Fail::new(
                shmkit_status::SHMKIT_INVALID_SIZE,
                format!(
                    "cannot publish to {:?}: {len} bytes from a loan of {}",
                    st.p.name().as_str(),
                    loan.len()
                ),
            );
            st.loan = Some(loan);
            return Err(e);
        }
        let s = st.p.commit_detached(loan, len)?;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(seq, s) };
        Ok(())
    })
}

/// Drops the outstanding loan: nothing is published (nothing to do if there is none).
///
/// # Safety
/// `publisher` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_abandon(
    publisher: *const shmkit_publisher,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let h = unsafe { handle(publisher, "publisher")? };
        let mut st = h.state.get()?;
        if let Some(loan) = st.loan.take() {
            st.p.abandon_detached(loan);
        }
        Ok(())
    })
}

/// The largest frame, in bytes, in `*max_frame`.
///
/// # Safety
/// `publisher` is NULL or a live handle; `max_frame` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_max_frame(
    publisher: *const shmkit_publisher,
    max_frame: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe {
            (
                handle(publisher, "publisher")?,
                out(max_frame, "max_frame")?,
            )
        };
        o.write(h.state.get()?.p.max_frame());
        Ok(())
    })
}

/// The sequence number the next frame will get, in `*seq`.
///
/// # Safety
/// `publisher` is NULL or a live handle; `seq` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_next_seq(
    publisher: *const shmkit_publisher,
    seq: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(publisher, "publisher")?, out(seq, "seq")?) };
        o.write(h.state.get()?.p.next_seq());
        Ok(())
    })
}

/// Live subscribers holding a slot, in `*count` (all of a block stream's; those of an overwrite
/// stream that keep statistics).
///
/// # Safety
/// `publisher` is NULL or a live handle; `count` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_subscribers(
    publisher: *const shmkit_publisher,
    count: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(publisher, "publisher")?, out(count, "count")?) };
        o.write(h.state.get()?.p.subscribers());
        Ok(())
    })
}

/// The stream's name, in `*name`: valid while the handle is open.
///
/// # Safety
/// `publisher` is NULL or a live handle; `name` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_name(
    publisher: *const shmkit_publisher,
    name: *mut *const c_char,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(publisher, "publisher")?, out(name, "name")?) };
        o.write(h.name.as_ptr());
        Ok(())
    })
}

/// What the frames are, as the creator recorded, in `*format` (`text` valid while the handle
/// is open).
///
/// # Safety
/// `publisher` is NULL or a live handle; `format` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_publisher_format(
    publisher: *const shmkit_publisher,
    format: *mut shmkit_format,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(publisher, "publisher")?, out(format, "format")?) };
        o.write(h.format.to_c());
        Ok(())
    })
}

// ---- subscriber ------------------------------------------------------------------------------

/// A received frame: its sequence number (frames are numbered from 1), its length, how many
/// frames the publisher overwrote before this subscriber could read them just before this one
/// (always 0 on a block stream), and its publish time (nanoseconds since the Unix epoch, by the
/// publisher's clock).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmkit_received {
    /// The frame's sequence number.
    pub seq: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Frames lost just before it.
    pub lost: u64,
    /// When it was published, in nanoseconds since the Unix epoch.
    pub time_ns: u64,
}

impl From<Received> for shmkit_received {
    fn from(r: Received) -> shmkit_received {
        shmkit_received {
            seq: r.seq,
            len: r.len,
            lost: r.lost,
            time_ns: r.time_ns,
        }
    }
}

/// A subscriber: reads every frame from where it joined, at its own pace. Made by
/// `shmkit_subscriber_open()`; freed by `shmkit_subscriber_close()`.
///
/// Thread safety: one thread at a time (it may move between threads); a second thread calling
/// while a call runs gets `SHMKIT_INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct shmkit_subscriber {
    pub(crate) state: OneAtATime<Sub>,
    name: CString,
    format: OwnedFormat,
}

#[derive(Debug)]
pub(crate) struct Sub {
    pub(crate) s: Subscriber,
    /// A frame received but not delivered (the caller's buffer was too small), and where it is.
    pending: Option<Received>,
    buf: Vec<u8>,
    /// The frame of the outstanding view, until released.
    view: Option<View>,
}

#[derive(Debug)]
enum View {
    /// In the ring.
    Ring(DetachedFrame),
    /// In `buf` (a pending frame handed out as a view).
    Pending(Received),
}

impl Sub {
    /// Gives back the outstanding view, if any (the next receive would anyway).
    fn drop_view(&mut self) -> R<Option<Received>> {
        match self.view.take() {
            None => Ok(None),
            Some(View::Pending(r)) => Ok(Some(r)),
            Some(View::Ring(f)) => Ok(Some(self.s.release(f)?)),
        }
    }
}

/// Subscribes to the existing stream `name` (`from`, `spin_us` of `opts` apply; the others must
/// be 0). Waits at most `timeout_ms` for the stream to appear (negative: no limit; 0: fails at
/// once with `SHMKIT_NOT_FOUND` if it does not exist): a subscriber may start before its
/// publisher; while the name is missing this looks every 50 ms.
///
/// Errors: `SHMKIT_NOT_FOUND` (timeout 0), `SHMKIT_TIMEOUT`, `SHMKIT_INCOMPATIBLE` (not a
/// stream), `SHMKIT_OUT_OF_RESOURCES` (a block stream with no free subscriber slot),
/// `SHMKIT_PERMISSION_DENIED`.
///
/// Ownership: `*out` is new (NULL on failure); close it with `shmkit_subscriber_close()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `opts` is NULL or valid; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_open(
    name: *const c_char,
    opts: *const shmkit_stream_options,
    timeout_ms: i64,
    out: *mut *mut shmkit_subscriber,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name, o) = unsafe {
            (
                out_handle(out, "out")?,
                name_arg(name)?,
                stream_options(opts)?,
            )
        };
        let s = if timeout_ms == 0 {
            o.subscribe(name)?
        } else {
            wait_for(name, "stream", timeout(timeout_ms), || o.subscribe(name))?
        };
        give(
            slot,
            shmkit_subscriber {
                name: c_name(s.name().as_str()),
                format: OwnedFormat::new(s.format()),
                state: OneAtATime::new(
                    "subscriber",
                    Sub {
                        s,
                        pending: None,
                        buf: Vec::new(),
                        view: None,
                    },
                ),
            },
        );
        Ok(())
    })
}

/// Closes the subscriber in `*subscriber` (releasing an outstanding view) and sets it to NULL
/// (nothing to do for NULL). A block stream's publisher stops waiting for it.
///
/// # Safety
/// `subscriber` is NULL or points to NULL or a handle from this library not closed yet, which
/// no other thread uses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_close(subscriber: *mut *mut shmkit_subscriber) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(subscriber) }));
}

/// Receives the next frame by copy into `buf` (`cap` bytes), waiting at most `timeout_ms`
/// (negative: no limit; 0: only what is there now); what it is goes to `*received`. Releases an
/// outstanding view first.
///
/// Errors: `SHMKIT_TIMEOUT`; `SHMKIT_BUFFER_TOO_SMALL` (the frame is longer than `cap`:
/// `received->len` says how long; nothing is lost: the next receive returns it; a buffer of
/// `shmkit_subscriber_max_frame()` bytes always suffices), `SHMKIT_CORRUPT`.
///
/// The frame is copied out of the ring once, checked whole, then into `buf`; for large frames
/// the view (`shmkit_subscriber_recv_view()`) or callback receive saves the second copy.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `buf` is valid for writing `cap` bytes; `received` is
/// valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv(
    subscriber: *const shmkit_subscriber,
    buf: *mut c_void,
    cap: usize,
    timeout_ms: i64,
    received: *mut shmkit_received,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, b, o) = unsafe {
            (
                handle(subscriber, "subscriber")?,
                buffer(buf.cast(), cap, "buf")?,
                out(received, "received")?,
            )
        };
        let mut st = h.state.get()?;
        let st = &mut *st;
        // The previous view is released; whether it stayed whole is its release's news, not
        // this receive's.
        let _ = st.drop_view();
        let r = match st.pending.take() {
            Some(r) => r,
            None => match timeout(timeout_ms) {
                Some(Duration::ZERO) => st.s.try_recv(&mut st.buf)?.ok_or_else(|| {
                    Fail::new(
                        shmkit_status::SHMKIT_TIMEOUT,
                        format!(
                            "cannot receive from {:?}: no frame now (timeout 0)",
                            st.s.name().as_str()
                        ),
                    )
                })?,
                Some(t) => st.s.recv_timeout(&mut st.buf, t)?,
                None => st.s.recv_timeout(&mut st.buf, NO_LIMIT)?,
            },
        };
        o.write(r.into());
        if r.len > cap {
            st.pending = Some(r);
            return Err(Fail::new(
                shmkit_status::SHMKIT_BUFFER_TOO_SMALL,
                format!(
                    "cannot receive from {:?}: frame #{} is {} bytes, more than the {cap}-byte \
                     buffer; it stays the next frame",
                    st.s.name().as_str(),
                    r.seq,
                    r.len
                ),
            ));
        }
        copy_to(b, &st.buf[..r.len]);
        Ok(())
    })
}

/// Receives the next frame in place, waiting at most `timeout_ms` (as for
/// `shmkit_subscriber_recv()`): the address of its bytes goes to `*data`, what it is to
/// `*received`. No copy. Give it back with `shmkit_subscriber_release()` (the next receive,
/// seek or close does too); until then:
/// * block stream: the publisher does not overwrite it: read it as ordinary memory;
/// * overwrite stream: the publisher may overwrite it at any moment: copy out what you need,
///   then `shmkit_subscriber_release()` says whether what you read was whole
///   (`SHMKIT_OVERWRITTEN` if not).
///
/// Errors: as for `shmkit_subscriber_recv()`, without `SHMKIT_BUFFER_TOO_SMALL`.
///
/// Ownership: `*data` belongs to the subscriber, valid until the release (or next receive,
/// seek, close).
///
/// # Safety
/// `subscriber` is NULL or a live handle; `data` and `received` are valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv_view(
    subscriber: *const shmkit_subscriber,
    timeout_ms: i64,
    data: *mut *const u8,
    received: *mut shmkit_received,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, d, o) = unsafe {
            (
                handle(subscriber, "subscriber")?,
                out(data, "data")?,
                out(received, "received")?,
            )
        };
        d.write(std::ptr::null());
        let mut st = h.state.get()?;
        let st = &mut *st;
        // The previous view is released; whether it stayed whole is its release's news, not
        // this receive's.
        let _ = st.drop_view();
        if let Some(r) = st.pending.take() {
            d.write(st.buf.as_ptr());
            o.write(r.into());
            st.view = Some(View::Pending(r));
            return Ok(());
        }
        let name = h.name.to_string_lossy();
        let view = match timeout(timeout_ms) {
            Some(Duration::ZERO) => st.s.try_recv_view()?.ok_or_else(|| {
                Fail::new(
                    shmkit_status::SHMKIT_TIMEOUT,
                    format!("cannot receive from {name:?}: no frame now (timeout 0)"),
                )
            })?,
            t => st.s.recv_view(t.unwrap_or(NO_LIMIT))?,
        };
        let frame = view.detach();
        d.write(frame.as_ptr());
        o.write(frame.received().into());
        st.view = Some(View::Ring(frame));
        Ok(())
    })
}

/// Gives back the frame of `shmkit_subscriber_recv_view()` (block stream: the publisher may now
/// overwrite it) and says whether it stayed whole while in use: `SHMKIT_OK`, or
/// `SHMKIT_OVERWRITTEN` if the publisher overwrote it meanwhile (an overwrite stream: discard
/// what you read). What it was goes to `*received` (NULL: not wanted). Nothing to do if no view
/// is outstanding (`received->seq` is then 0).
///
/// # Safety
/// `subscriber` is NULL or a live handle; `received` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_release(
    subscriber: *const shmkit_subscriber,
    received: *mut shmkit_received,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let h = unsafe { handle(subscriber, "subscriber")? };
        let r = h.state.get()?.drop_view()?;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(received, r.map(Into::into).unwrap_or_default()) };
        Ok(())
    })
}

/// Whether the outstanding view's frame is still whole (not overwritten), in `*intact`; true on
/// a block stream, and when no view is outstanding.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `intact` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_is_intact(
    subscriber: *const shmkit_subscriber,
    intact: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(intact, "intact")?) };
        let st = h.state.get()?;
        o.write(match &st.view {
            Some(View::Ring(f)) => st.s.is_intact(f),
            _ => true,
        });
        Ok(())
    })
}

/// A function that receives a frame's bytes in place: `ctx` as given, the address and length
/// of the bytes (valid only during the call).
pub type shmkit_frame_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize)>;

/// Receives the next frame (waiting as `shmkit_subscriber_recv()` does) and calls
/// `f(ctx, data, len)` with its bytes, on this thread, before returning; what it was goes to
/// `*received` (NULL: not wanted). On a block stream `f` sees the frame where it lies in the
/// ring (no copy, no other writer); on an overwrite stream it sees a whole copy (a frame read in
/// place there could change under it).
///
/// `f` must not call functions of this subscriber (they fail with `SHMKIT_INVALID_ARGUMENT`),
/// nor unwind or `longjmp` out.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `f` is NULL or a function as described; `received` is
/// NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_recv_with(
    subscriber: *const shmkit_subscriber,
    timeout_ms: i64,
    f: shmkit_frame_fn,
    ctx: *mut c_void,
    received: *mut shmkit_received,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let h = unsafe { handle(subscriber, "subscriber")? };
        let f = f.ok_or_else(|| Fail::invalid("the callback f is NULL"))?;
        // SAFETY: `f` is a function taking these arguments (the caller's promise); the bytes
        // are valid for the call.
        let deliver = |b: &[u8]| unsafe { f(ctx, b.as_ptr(), b.len()) };
        let mut st = h.state.get()?;
        let st = &mut *st;
        // The previous view is released; whether it stayed whole is its release's news, not
        // this receive's.
        let _ = st.drop_view();
        let r = if let Some(r) = st.pending.take() {
            deliver(&st.buf[..r.len]);
            r
        } else {
            match timeout(timeout_ms) {
                Some(Duration::ZERO) => {
                    st.s.try_recv_with(deliver)?
                        .map(|(_, r)| r)
                        .ok_or_else(|| {
                            Fail::new(
                                shmkit_status::SHMKIT_TIMEOUT,
                                format!(
                                    "cannot receive from {:?}: no frame now (timeout 0)",
                                    st.s.name().as_str()
                                ),
                            )
                        })?
                }
                t => st.s.recv_with(t.unwrap_or(NO_LIMIT), deliver)?.1,
            }
        };
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(received, r.into()) };
        Ok(())
    })
}

/// Skips to the newest frame: the next receive returns it (or the next one published). For
/// viewers, which show the newest picture rather than a backlog. Skipped frames do not count as
/// lost; how many there were goes to `*skipped` (NULL: not wanted). Releases an outstanding
/// view, and drops a frame kept by `SHMKIT_BUFFER_TOO_SMALL` (counted as skipped).
///
/// # Safety
/// `subscriber` is NULL or a live handle; `skipped` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_seek_newest(
    subscriber: *const shmkit_subscriber,
    skipped: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let h = unsafe { handle(subscriber, "subscriber")? };
        let mut st = h.state.get()?;
        // An overwritten view does not matter here: it is skipped anyway.
        let _ = st.drop_view();
        let kept = u64::from(st.pending.take().is_some());
        let n = st.s.seek_newest() + kept;
        // SAFETY: NULL or valid (the caller's promise).
        unsafe { put(skipped, n) };
        Ok(())
    })
}

/// Frames lost so far (overwritten before this subscriber read them), in `*lost`.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `lost` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_lost(
    subscriber: *const shmkit_subscriber,
    lost: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(lost, "lost")?) };
        o.write(h.state.get()?.s.lost());
        Ok(())
    })
}

/// Frames published that this subscriber has not received yet, in `*lag` (a snapshot).
///
/// # Safety
/// `subscriber` is NULL or a live handle; `lag` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_lag(
    subscriber: *const shmkit_subscriber,
    lag: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(lag, "lag")?) };
        let st = h.state.get()?;
        o.write(st.s.lag() + u64::from(st.pending.is_some()));
        Ok(())
    })
}

/// The largest frame of the stream, in bytes, in `*max_frame`: a buffer this large holds any
/// frame.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `max_frame` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_max_frame(
    subscriber: *const shmkit_subscriber,
    max_frame: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe {
            (
                handle(subscriber, "subscriber")?,
                out(max_frame, "max_frame")?,
            )
        };
        o.write(h.state.get()?.s.max_frame());
        Ok(())
    })
}

/// The stream's policy (`SHMKIT_OVERWRITE` or `SHMKIT_BLOCK`), in `*policy`.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `policy` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_policy(
    subscriber: *const shmkit_subscriber,
    policy: *mut shmkit_policy,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(policy, "policy")?) };
        o.write(match h.state.get()?.s.policy() {
            Policy::Block => SHMKIT_BLOCK,
            _ => SHMKIT_OVERWRITE,
        });
        Ok(())
    })
}

/// Whether the stream's name was removed or now names another stream, in `*removed`: frames
/// published under the name from then on do not come here; subscribe again.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `removed` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_is_removed(
    subscriber: *const shmkit_subscriber,
    removed: *mut bool,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(removed, "removed")?) };
        o.write(h.state.get()?.s.is_removed());
        Ok(())
    })
}

/// The stream's name, in `*name`: valid while the handle is open.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `name` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_name(
    subscriber: *const shmkit_subscriber,
    name: *mut *const c_char,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(name, "name")?) };
        o.write(h.name.as_ptr());
        Ok(())
    })
}

/// What the frames are, as the creator recorded, in `*format` (`text` valid while the handle
/// is open): a viewer learns the picture's size and pixel layout here.
///
/// # Safety
/// `subscriber` is NULL or a live handle; `format` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_subscriber_format(
    subscriber: *const shmkit_subscriber,
    format: *mut shmkit_format,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (h, o) = unsafe { (handle(subscriber, "subscriber")?, out(format, "format")?) };
        o.write(h.format.to_c());
        Ok(())
    })
}
