//! Buffers both ways: Python's bytes-like objects read (and written) by the core, and shared
//! memory exported to Python through the buffer protocol (`memoryview`, `numpy.asarray`).
//!
//! An export owns what keeps its memory mapped (an `Arc` of the segment or publisher), stored in
//! `Py_buffer.internal` and dropped by `release`: whatever the order in which Python closes
//! handles and drops arrays, no export points into unmapped memory.

use std::any::Any;
use std::ffi::{CStr, c_int, c_void};

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use shmkit::{Format, Pixel, SharedBytes};

/// A contiguous bytes-like object (`bytes`, `bytearray`, `memoryview`, a numpy array, ...),
/// pinned by its buffer export while this lives.
pub(crate) struct InBuf(PyUntypedBuffer);

impl InBuf {
    /// The bytes of `obj`; `writable`: it must accept writes.
    pub(crate) fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<InBuf> {
        let buf = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "a bytes-like object is required (bytes, bytearray, memoryview, a numpy \
                 array), not {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "this".into(), |n| n.to_string())
            ))
        })?;
        if !buf.is_c_contiguous() {
            return Err(PyBufferError::new_err(
                "the buffer is not contiguous; copy it first (numpy.ascontiguousarray)",
            ));
        }
        if writable && buf.readonly() {
            return Err(PyTypeError::new_err(
                "a writable buffer is required (bytearray, memoryview, a writable numpy array), \
                 not a read-only one",
            ));
        }
        Ok(InBuf(buf))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len_bytes()
    }

    /// The bytes, for race-free copies out of them: another Python thread may be writing them
    /// (the GIL is released while we copy).
    pub(crate) fn shared(&self) -> SharedBytes<'_> {
        // SAFETY: the buffer export pins `len_bytes()` contiguous bytes at `buf_ptr()` until
        // `self` (which holds the export) is dropped, and the view borrows `self`.
        unsafe { SharedBytes::from_raw_parts(self.0.buf_ptr().cast::<u8>(), self.len()) }
    }

    /// The bytes as a destination (a writable export, see [`get`](Self::get)).
    ///
    /// # Safety
    /// No other thread may access the buffer while the slice lives. Python code cannot (we
    /// hold the export and the caller passed the object to us for writing, as for
    /// `file.readinto`); a concurrent writer in another thread is the caller's data race.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: pinned and writable for `self`'s life (see `get` and `shared`); exclusive by
        // the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.0.buf_ptr().cast::<u8>(), self.len()) }
    }
}

/// How exported bytes look to Python: plain bytes, or an image's rows, columns and channels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    itemsize: isize,
    format: &'static CStr,
    ndim: usize,
    shape: [isize; 3],
    strides: [isize; 3],
    /// Whether the shaped view covers every byte contiguously.
    contiguous: bool,
}

impl Layout {
    /// `len` bytes as a frame of `format`: an image's `(height, width, channels)` (or
    /// `(height, width)` for gray) when `len` is one picture of it; `None`: plain bytes.
    pub(crate) fn of(format: Option<&Format>, len: usize) -> Option<Layout> {
        let f = format?;
        if f.frame_len() != Some(len) {
            return None;
        }
        let &Format::Image {
            pixel,
            width,
            height,
            stride,
        } = f
        else {
            return None;
        };
        let (channels, itemsize, fmt): (isize, isize, &'static CStr) = match pixel {
            Pixel::Gray8 => (1, 1, c"B"),
            Pixel::Gray16Le => (1, 2, c"<H"),
            Pixel::Rgb8 | Pixel::Bgr8 => (3, 1, c"B"),
            Pixel::Rgba8 | Pixel::Bgra8 => (4, 1, c"B"),
            _ => return None,
        };
        let (w, h, s) = (width as isize, height as isize, stride as isize);
        let row = w * channels * itemsize;
        Some(if channels == 1 {
            Layout {
                itemsize,
                format: fmt,
                ndim: 2,
                shape: [h, w, 0],
                strides: [s, itemsize, 0],
                contiguous: s == row,
            }
        } else {
            Layout {
                itemsize,
                format: fmt,
                ndim: 3,
                shape: [h, w, channels],
                strides: [s, channels, 1],
                contiguous: s == row,
            }
        })
    }

    /// The shape, as Python shows it.
    pub(crate) fn shape(&self) -> Vec<isize> {
        self.shape[..self.ndim].to_vec()
    }
}

/// What an export owns until Python releases it: its shape and strides, and what keeps the
/// memory mapped.
struct Export {
    shape: [isize; 3],
    strides: [isize; 3],
    _keep: Box<dyn Any + Send>,
}

/// Fills `view` with `len` bytes at `ptr` for `obj`'s `__getbuffer__`, shaped by `layout` when
/// the consumer can take it; `keep` stays alive until [`release`].
///
/// # Safety
/// `view` is the pointer CPython passed to `__getbuffer__`; `ptr..ptr + len` stays mapped while
/// `keep` lives, and writable if `!readonly`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn export(
    view: *mut ffi::Py_buffer,
    flags: c_int,
    obj: Bound<'_, PyAny>,
    ptr: *mut u8,
    len: usize,
    readonly: bool,
    layout: Option<Layout>,
    keep: Box<dyn Any + Send>,
) -> PyResult<()> {
    if view.is_null() {
        return Err(PyBufferError::new_err("a NULL Py_buffer"));
    }
    if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE && readonly {
        return Err(PyBufferError::new_err(
            "these bytes are read-only (a subscriber's frame, a read-only handle)",
        ));
    }
    let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("too large a buffer"))?;
    // Shaped only for consumers that take strides (numpy, memoryview) and, for items of more
    // than a byte, their format; others get plain bytes, which the memory always is.
    let wants = |f: c_int| flags & f == f;
    // A contiguity request: C order is what a packed image is; Fortran or "any" order of a
    // padded one is not, and plain bytes are every order at once.
    let order = |f: c_int| flags & (f & !ffi::PyBUF_STRIDES) != 0;
    let layout = layout.filter(|l| {
        wants(ffi::PyBUF_STRIDES)
            && (l.itemsize == 1 || wants(ffi::PyBUF_FORMAT))
            && !order(ffi::PyBUF_F_CONTIGUOUS)
            && (l.contiguous
                || !(order(ffi::PyBUF_C_CONTIGUOUS) || order(ffi::PyBUF_ANY_CONTIGUOUS)))
    });
    let plain = Layout {
        itemsize: 1,
        format: c"B",
        ndim: 1,
        shape: [len, 0, 0],
        strides: [1, 0, 0],
        contiguous: true,
    };
    let l = layout.unwrap_or(plain);
    let state = Box::into_raw(Box::new(Export {
        shape: l.shape,
        strides: l.strides,
        _keep: keep,
    }));
    // SAFETY: `view` is CPython's (non-null, checked), ours to fill; `state` is a fresh
    // allocation that `release` frees (exactly once: CPython calls `__releasebuffer__` once per
    // successful `__getbuffer__`), so the shape and strides pointers stay valid until then.
    unsafe {
        let v = &mut *view;
        v.obj = obj.into_ptr();
        v.buf = ptr.cast::<c_void>();
        v.len = len;
        v.readonly = c_int::from(readonly);
        v.itemsize = l.itemsize;
        v.format = if wants(ffi::PyBUF_FORMAT) {
            l.format.as_ptr().cast_mut()
        } else {
            std::ptr::null_mut()
        };
        v.ndim = l.ndim as c_int;
        v.shape = if wants(ffi::PyBUF_ND) {
            (*state).shape.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        v.strides = if wants(ffi::PyBUF_STRIDES) {
            (*state).strides.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        v.suboffsets = std::ptr::null_mut();
        v.internal = state.cast::<c_void>();
    }
    Ok(())
}

/// Frees what [`export`] stored in `view`, for `__releasebuffer__`.
///
/// # Safety
/// `view` is a buffer [`export`] filled, passed by CPython's release call (once).
pub(crate) unsafe fn release(view: *mut ffi::Py_buffer) {
    // SAFETY: `internal` is the `Export` that `export` leaked for this view, released once.
    unsafe {
        let state = (*view).internal.cast::<Export>();
        if !state.is_null() {
            (*view).internal = std::ptr::null_mut();
            drop(Box::from_raw(state));
        }
    }
}
