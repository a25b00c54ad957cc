//! Argument conversions shared by every entry point, the small enumerations, and the format
//! description.

use std::ffi::{CStr, CString, c_char};
use std::mem::MaybeUninit;
use std::time::Duration;

use shmkit_core::{Access, Format, Lifetime, Pixel};

use crate::error::{Fail, R};

/// How a handle may access a segment: `SHMKIT_READ_WRITE` or `SHMKIT_READ_ONLY` (mapped without
/// write permission: the operating system refuses writes).
pub type shmkit_access = u32;
/// Read and write.
pub const SHMKIT_READ_WRITE: shmkit_access = 0;
/// Read only.
pub const SHMKIT_READ_ONLY: shmkit_access = 1;

/// When a segment's name goes away: `SHMKIT_LAST_CLOSE` (the default: with the last handle
/// anywhere, also when its holders crash) or `SHMKIT_PERSISTENT` (until removed; not on
/// Windows).
pub type shmkit_lifetime = u32;
/// With the last handle (the default).
pub const SHMKIT_LAST_CLOSE: shmkit_lifetime = 0;
/// Until `shmkit_remove()` (or `shmkit rm`).
pub const SHMKIT_PERSISTENT: shmkit_lifetime = 1;

/// What a stream's publisher does when the ring is full of frames a subscriber has not read:
/// `SHMKIT_OVERWRITE` (the default: never wait; slow subscribers lose frames and are told how
/// many) or `SHMKIT_BLOCK` (wait for the slowest live subscriber).
pub type shmkit_policy = u32;
/// Overwrite the oldest frames (the default).
pub const SHMKIT_OVERWRITE: shmkit_policy = 0;
/// Wait for the slowest live subscriber.
pub const SHMKIT_BLOCK: shmkit_policy = 1;

/// Where a new subscriber starts: `SHMKIT_JOIN_NEWEST` (the default: the next frame published)
/// or `SHMKIT_JOIN_OLDEST` (the oldest frame still in the ring).
pub type shmkit_join_at = u32;
/// At the next frame published (the default).
pub const SHMKIT_JOIN_NEWEST: shmkit_join_at = 0;
/// At the oldest frame still in the ring.
pub const SHMKIT_JOIN_OLDEST: shmkit_join_at = 1;

/// Timeouts are milliseconds; a negative one (this value) waits as long as it takes; 0 does not
/// wait at all.
pub const SHMKIT_FOREVER: i64 = -1;

/// What a `shmkit_format` describes: nothing said, a raw image, or a media type.
pub type shmkit_format_kind = u32;
/// The creator did not say what the bytes are.
pub const SHMKIT_FORMAT_NONE: shmkit_format_kind = 0;
/// A raw image: `height` rows of `stride` bytes, each starting with `width` pixels.
pub const SHMKIT_FORMAT_IMAGE: shmkit_format_kind = 1;
/// A media type (`image/png`, `text/plain`, ...), in `text`.
pub const SHMKIT_FORMAT_MEDIA: shmkit_format_kind = 2;

/// The layout of one pixel of a raw image (`SHMKIT_FORMAT_IMAGE`).
pub type shmkit_pixel = u32;
/// Not an image.
pub const SHMKIT_PIXEL_NONE: shmkit_pixel = 0;
/// One byte of gray.
pub const SHMKIT_PIXEL_GRAY8: shmkit_pixel = 1;
/// Two bytes of gray, little-endian.
pub const SHMKIT_PIXEL_GRAY16LE: shmkit_pixel = 2;
/// Red, green, blue: a byte each.
pub const SHMKIT_PIXEL_RGB8: shmkit_pixel = 3;
/// Blue, green, red: a byte each (OpenCV's order).
pub const SHMKIT_PIXEL_BGR8: shmkit_pixel = 4;
/// Red, green, blue, alpha: a byte each (`QImage::Format_RGBA8888`).
pub const SHMKIT_PIXEL_RGBA8: shmkit_pixel = 5;
/// Blue, green, red, alpha: a byte each (Windows' and Qt's ARGB32 in memory on little-endian
/// machines).
pub const SHMKIT_PIXEL_BGRA8: shmkit_pixel = 6;

/// What a segment's bytes are, as its creator recorded (`shmkit_cell_format()`,
/// `shmkit_subscriber_format()`, `shmkit_segment_info`). Filled by the library; `text` points
/// into the handle (or list) it came from and stays valid as long as that does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_format {
    /// `SHMKIT_FORMAT_NONE`, `SHMKIT_FORMAT_IMAGE` or `SHMKIT_FORMAT_MEDIA`.
    pub kind: shmkit_format_kind,
    /// For an image: its pixel layout (`SHMKIT_PIXEL_*`); otherwise `SHMKIT_PIXEL_NONE`.
    pub pixel: shmkit_pixel,
    /// For an image: pixels per row, rows, bytes from one row to the next; otherwise 0.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// See `width`.
    pub stride: u32,
    /// For an image: bytes per pixel (1 to 4); otherwise 0.
    pub bytes_per_pixel: u32,
    /// For an image: the bytes of one frame (`stride x height`); otherwise 0.
    pub frame_len: u64,
    /// The format as text, as `shmkit info` shows it and as the `format` options take it
    /// (`"rgba8:640x480"`, `"image/png"`); `""` for `SHMKIT_FORMAT_NONE`. Never NULL.
    pub text: *const c_char,
}

/// A format and the text its `shmkit_format` points to, kept by a handle or list.
#[derive(Debug)]
pub(crate) struct OwnedFormat {
    text: CString,
    format: Option<Format>,
}

impl OwnedFormat {
    pub(crate) fn new(format: Option<&Format>) -> OwnedFormat {
        let text = format.map(|f| f.to_string()).unwrap_or_default();
        OwnedFormat {
            text: CString::new(text).unwrap_or_default(),
            format: format.cloned(),
        }
    }

    /// The C view of it, pointing into `self`.
    pub(crate) fn to_c(&self) -> shmkit_format {
        let mut c = shmkit_format {
            kind: SHMKIT_FORMAT_NONE,
            pixel: SHMKIT_PIXEL_NONE,
            width: 0,
            height: 0,
            stride: 0,
            bytes_per_pixel: 0,
            frame_len: 0,
            text: self.text.as_ptr(),
        };
        match &self.format {
            None => {}
            Some(Format::Media(_)) => c.kind = SHMKIT_FORMAT_MEDIA,
            Some(
                f @ Format::Image {
                    pixel,
                    width,
                    height,
                    stride,
                },
            ) => {
                c.kind = SHMKIT_FORMAT_IMAGE;
                c.pixel = pixel_code(*pixel);
                c.width = *width;
                c.height = *height;
                c.stride = *stride;
                c.bytes_per_pixel = pixel.bytes();
                c.frame_len = f.frame_len().unwrap_or(0) as u64;
            }
            // A kind this face does not know yet: said in `text`.
            Some(_) => c.kind = SHMKIT_FORMAT_MEDIA,
        }
        c
    }
}

fn pixel_code(p: Pixel) -> shmkit_pixel {
    match p {
        Pixel::Gray8 => SHMKIT_PIXEL_GRAY8,
        Pixel::Gray16Le => SHMKIT_PIXEL_GRAY16LE,
        Pixel::Rgb8 => SHMKIT_PIXEL_RGB8,
        Pixel::Bgr8 => SHMKIT_PIXEL_BGR8,
        Pixel::Rgba8 => SHMKIT_PIXEL_RGBA8,
        Pixel::Bgra8 => SHMKIT_PIXEL_BGRA8,
        _ => SHMKIT_PIXEL_NONE,
    }
}

/// Reads a C string argument: `what` names it in the message when it is NULL or not UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> R<&'a str> {
    if p.is_null() {
        return Err(Fail::invalid(format!("{what} is NULL")));
    }
    // SAFETY: not NULL (checked); NUL-terminated and valid for 'a (the caller's promise).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| {
        Fail::new(
            crate::shmkit_status::SHMKIT_INVALID_NAME,
            format!(
                "{what} {:?} is not UTF-8 — names are 1 to 30 characters of A-Z a-z 0-9 . _ -",
                s.to_string_lossy()
            ),
        )
    })
}

/// Reads a segment name argument (see [`text`]).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn name_arg<'a>(p: *const c_char) -> R<&'a str> {
    // SAFETY: the caller's promise, passed on.
    unsafe { text(p, "the name") }
}

/// An optional C string (NULL: none).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> R<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { text(p, what) }.map(Some)
}

/// A format option: NULL or `""` for none, else a format string (`rgba8:640x480`, `image/png`).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn format_arg(p: *const c_char) -> R<Option<Format>> {
    // SAFETY: the caller's promise, passed on.
    match unsafe { opt_text(p, "the format") }? {
        None | Some("") => Ok(None),
        Some(s) => Ok(Some(s.parse::<Format>()?)),
    }
}

/// A handle argument: a reference to what it points to.
///
/// # Safety
/// `p` is NULL or a handle this library returned that has not been closed.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> R<&'a T> {
    // SAFETY: the caller's promise: NULL or a live handle, which we only read through `&`.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::invalid(format!("the {what} handle is NULL")))
}

/// An out-parameter: where to write a result (possibly uninitialised memory, hence
/// `MaybeUninit`).
///
/// # Safety
/// `p` is NULL or valid for writing a `T`, and not accessed otherwise during the call.
pub(crate) unsafe fn out<'a, T>(p: *mut T, what: &str) -> R<&'a mut MaybeUninit<T>> {
    if p.is_null() {
        return Err(Fail::invalid(format!("{what} (an out-parameter) is NULL")));
    }
    // SAFETY: not NULL; valid for writes and not aliased during the call (the caller's promise);
    // `MaybeUninit<T>` has `T`'s layout and may hold anything, so no valid `T` is assumed.
    Ok(unsafe { &mut *p.cast::<MaybeUninit<T>>() })
}

/// An out-parameter for a new handle, set to NULL at once (so that it is NULL if the call
/// fails).
///
/// # Safety
/// As for [`out`].
pub(crate) unsafe fn out_handle<'a, T>(
    p: *mut *mut T,
    what: &str,
) -> R<&'a mut MaybeUninit<*mut T>> {
    // SAFETY: the caller's promise, passed on.
    let o = unsafe { out(p, what) }?;
    o.write(std::ptr::null_mut());
    Ok(o)
}

/// Writes `value` through an optional out-parameter (NULL: the caller does not want it).
///
/// # Safety
/// `p` is NULL or valid for writing a `T`.
pub(crate) unsafe fn put<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: not NULL; valid for writes (the caller's promise).
        unsafe { p.write(value) };
    }
}

/// A byte range argument: `len` bytes at `p` (which may be NULL only when `len` is 0).
///
/// # Safety
/// `p` is NULL or valid for reading `len` bytes, not written by this process meanwhile.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> R<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    // SAFETY: not NULL, `len` readable bytes (the caller's promise).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A writable byte range argument: `cap` bytes at `p` (NULL only when `cap` is 0), which may be
/// uninitialised.
///
/// # Safety
/// `p` is NULL or valid for writing `cap` bytes, not otherwise accessed meanwhile.
pub(crate) unsafe fn buffer<'a>(
    p: *mut u8,
    cap: usize,
    what: &str,
) -> R<&'a mut [MaybeUninit<u8>]> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Fail::invalid(format!(
            "{what} is NULL but its size is {cap}"
        )));
    }
    // SAFETY: not NULL, `cap` writable bytes not accessed otherwise (the caller's promise);
    // `MaybeUninit<u8>` makes no claim about their contents.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<MaybeUninit<u8>>(), cap) })
}

/// Copies `src` to the start of `dst` (which must be at least as long).
pub(crate) fn copy_to(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    let dst = &mut dst[..src.len()];
    // SAFETY: `dst` has exactly `src.len()` writable bytes (sliced above: it panics otherwise),
    // and private memory of ours cannot overlap the caller's buffer that `dst` is.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len()) }
}

/// Zero-fills `dst` and returns it as initialised bytes (for calls that take `&mut [u8]`).
pub(crate) fn zeroed(dst: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    for b in dst.iter_mut() {
        b.write(0);
    }
    // SAFETY: every byte was just initialised; `MaybeUninit<u8>` and `u8` have the same layout.
    unsafe { &mut *(std::ptr::from_mut(dst) as *mut [u8]) }
}

/// A timeout in milliseconds: negative means no limit.
pub(crate) fn timeout(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// "No limit" for the core's calls that take a duration: ten years (`Instant + Duration::MAX`
/// would overflow).
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A timeout in milliseconds for calls that always take one: negative means [`NO_LIMIT`].
pub(crate) fn wait_arg(ms: i64) -> Duration {
    timeout(ms).unwrap_or(NO_LIMIT)
}

pub(crate) fn access_arg(a: shmkit_access) -> R<Access> {
    match a {
        SHMKIT_READ_WRITE => Ok(Access::ReadWrite),
        SHMKIT_READ_ONLY => Ok(Access::ReadOnly),
        _ => Err(Fail::invalid(format!(
            "access {a} is neither SHMKIT_READ_WRITE (0) nor SHMKIT_READ_ONLY (1)"
        ))),
    }
}

pub(crate) fn lifetime_arg(l: shmkit_lifetime) -> R<Lifetime> {
    match l {
        SHMKIT_LAST_CLOSE => Ok(Lifetime::LastClose),
        SHMKIT_PERSISTENT => Ok(Lifetime::Persistent),
        _ => Err(Fail::invalid(format!(
            "lifetime {l} is neither SHMKIT_LAST_CLOSE (0) nor SHMKIT_PERSISTENT (1)"
        ))),
    }
}

/// Permission bits: 0 means the default (0600).
pub(crate) fn mode_arg(mode: u32) -> R<u32> {
    match mode {
        0 => Ok(shmkit_core::DEFAULT_MODE),
        m if m <= 0o777 => Ok(m),
        m => Err(Fail::invalid(format!(
            "mode {m:#o} has bits outside 0777 (0 means the default, 0600)"
        ))),
    }
}

/// A name to hand back to C, kept by the handle.
pub(crate) fn c_name(name: &str) -> CString {
    CString::new(name).unwrap_or_default()
}

/// Takes a handle back from its caller's variable for closing (and sets the variable to NULL, so
/// that later calls through it fail cleanly instead of using freed memory).
///
/// # Safety
/// `p` is NULL or points to a variable holding NULL or a live handle made by `Box::into_raw`.
pub(crate) unsafe fn take_handle<T>(p: *mut *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a valid variable (the caller's promise).
    let h = unsafe { p.replace(std::ptr::null_mut()) };
    // SAFETY: NULL or a live handle made by `Box::into_raw` (the caller's promise); the caller's
    // variable no longer holds it.
    (!h.is_null()).then(|| unsafe { Box::from_raw(h) })
}

/// Hands a new handle to the caller.
pub(crate) fn give<T>(slot: &mut MaybeUninit<*mut T>, value: T) {
    slot.write(Box::into_raw(Box::new(value)));
}
