//! A shared mapping of a descriptor, for the Unix backends (Linux, macOS): mapped once, unmapped
//! exactly once. One copy of this code, because the two backends' copies once shared a bug
//! (`close` unmapped, then `drop` unmapped again, tearing away whatever another thread had
//! mapped there meanwhile).

use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// `len` bytes of a descriptor mapped `MAP_SHARED`.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: a `Region` owns its mapping; the memory is shared with other processes anyway, so the
// portable layer reaches it only through atomics or explicit copies that tolerate concurrent
// writers, from any thread.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: `&Region` only hands out the base pointer.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes of `fd` (read-write if `writable`). A length of 0 maps nothing.
    pub(crate) fn map(fd: &OwnedFd, len: usize, writable: bool) -> io::Result<Region> {
        if len == 0 {
            return Ok(Region {
                ptr: NonNull::dangling(),
                len,
                writable,
            });
        }
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh shared mapping of our own descriptor at an address the kernel picks;
        // no existing memory is affected.
        let p =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0) }?;
        let ptr = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Region { ptr, len, writable })
    }

    /// Base address (dangling when the length is 0).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes (0 once unmapped).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether it was mapped writable.
    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// Makes `[offset, offset+len)` read-only (`offset` page-aligned, the range inside).
    pub(crate) fn protect_read_only(&self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        assert!(
            offset % rustix::param::page_size() == 0
                && offset.checked_add(len).is_some_and(|e| e <= self.len),
            "protect_read_only({offset}, {len}) outside a {} byte mapping",
            self.len
        );
        // SAFETY: the range is inside our own mapping (asserted above); making it read-only
        // cannot invalidate references, as the portable layer never writes to the data region
        // of a read-only handle.
        unsafe { rustix::mm::mprotect(self.ptr().add(offset).cast(), len, MprotectFlags::READ) }?;
        Ok(())
    }

    /// Unmaps, once: the length becomes 0, so a second call (or the `drop` after `close`) does
    /// nothing.
    pub(crate) fn unmap(&mut self) {
        if self.len > 0 {
            // SAFETY: `ptr`/`len` describe the mapping made in `map`, still mapped: `len` is set
            // to 0 right after, so this runs at most once per mapping.
            let _ = unsafe { rustix::mm::munmap(self.ptr().cast(), self.len) };
            self.len = 0;
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        self.unmap();
    }
}
