//! Python's `multiprocessing.shared_memory`: the same objects, and the resource-tracker trap.
//!
//! `SharedMemory(name="x")` is `shm_open("/x")`, the file `/dev/shm/x`, with no header and no
//! lock: exactly a raw shmkit segment ([`SegmentOptions::raw`]). So shmkit needs no Python
//! format, only the right names and one warning:
//!
//! * **Names.** Python's random names are `psm_` + 8 hex digits ([`is_python_name`]). On Linux
//!   a name may be any [`NativeName`] (up to 255 bytes); keep to shmkit's portable rule
//!   ([`SegmentName`](crate::SegmentName), ≤ 30 characters) if macOS must work too. Python adds
//!   its own leading `/`: pass `name="x"`, never `"/x"`.
//! * **Sizes.** Python refuses to attach to an empty object (`cannot mmap an empty file`);
//!   shmkit reserves and sizes a segment before its name appears, so this never happens.
//! * **The resource tracker unlinks what it did not create.** Every `SharedMemory(...)` in
//!   Python 3.8–3.12, *including one that only attached*, registers the name with the program's
//!   resource tracker, which `shm_unlink`s it when the Python program exits (with a
//!   `UserWarning: resource_tracker: There appear to be N leaked shared_memory objects`). So a
//!   Python consumer of a shmkit producer's segment removes the producer's name on exit.
//!   Avoid it:
//!   - Python ≥ 3.13: `SharedMemory(name="x", track=False)`;
//!   - Python ≤ 3.12: right after attaching,
//!     `resource_tracker.unregister(shm._name, "shared_memory")`
//!     (`from multiprocessing import resource_tracker`).
//!
//!   The mapping stays valid when the name goes, so the producer keeps working, but no new
//!   consumer can attach.
//! * **Lifetime.** Python's segments live until someone calls `unlink()` (or its tracker
//!   does). A segment shmkit creates here is removed when the last *shmkit* handle closes
//!   ([`Lifetime::LastClose`](crate::Lifetime::LastClose)); Python's attachments do not count
//!   (Python takes no `flock`). Choose [`Lifetime::Persistent`](crate::Lifetime::Persistent)
//!   when Python programs may attach after the shmkit process is gone.
//!
//! # Example: a Rust producer, a Python consumer
//!
//! ```
//! use shmkit::interop::python;
//!
//! # let name = format!("doc-py-{}", std::process::id());
//! let seg = python::create(&name, 1024)?;
//! seg.write(0, b"hello, notebook")?;
//! // In Python 3.13+:
//! //   shm = SharedMemory(name="...", track=False)
//! //   bytes(shm.buf[:15])        -> b'hello, notebook'
//! let back = python::open(&name, shmkit::Access::ReadOnly)?;
//! let mut buf = [0u8; 15];
//! back.read(0, &mut buf)?;
//! assert_eq!(&buf, b"hello, notebook");
//! # Ok::<(), shmkit::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Op, Result};
use crate::name::{IntoNativeName, NativeName};
use crate::segment::{Access, Segment, SegmentOptions};

/// The prefix of the names Python picks when `name` is not given.
pub const RANDOM_PREFIX: &str = "psm_";

/// Whether `name` has the form of Python's random names: `psm_` and 8 lowercase hex digits.
pub fn is_python_name(name: &str) -> bool {
    name.strip_prefix(RANDOM_PREFIX).is_some_and(|hex| {
        hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Creates a segment that `SharedMemory(name=NAME)` attaches to: raw (byte 0 is `shm.buf[0]`),
/// mode 0600 as Python's, zero-filled, removed when the last shmkit handle closes.
///
/// For other options use `SegmentOptions::new().raw(true)` directly; this is the same.
///
/// # Errors
/// As for [`SegmentOptions::create`].
pub fn create(name: impl IntoNativeName, size: usize) -> Result<Segment> {
    SegmentOptions::new().raw(true).size(size).create(name)
}

/// Opens a segment Python made (`SharedMemory(create=True, ...)`), raw. Python itself always
/// maps read-write; [`Access::ReadOnly`] here maps read-only.
///
/// Opening never removes the segment; Python's creator (or its resource tracker, at its exit)
/// does.
///
/// # Errors
/// As for [`SegmentOptions::open`].
pub fn open(name: impl IntoNativeName, access: Access) -> Result<Segment> {
    SegmentOptions::new().raw(true).access(access).open(name)
}

/// A name as Python prints it (`shm.name`) or keeps it (`shm._name`, with the leading `/`).
///
/// # Errors
/// [`ErrorKind::InvalidName`] for names the system cannot take.
pub fn name(python_name: &str) -> Result<NativeName> {
    NativeName::from_shm_open(python_name).map_err(|e| {
        if python_name.is_empty() {
            Error::new(ErrorKind::InvalidName, Op::Name, String::new()).reason("the name is empty")
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names() {
        assert!(is_python_name("psm_524fe103"));
        assert!(!is_python_name("psm_524FE103"));
        assert!(!is_python_name("psm_524fe10"));
        assert!(!is_python_name("xpsm_524fe103"));
        assert_eq!(name("/psm_524fe103").unwrap().as_str(), "psm_524fe103");
        assert_eq!(name("x").unwrap().as_str(), "x");
        assert!(name("").is_err());
    }
}
