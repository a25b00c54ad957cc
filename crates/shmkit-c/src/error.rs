//! Status codes, the thread-local last error, the catch-every-panic wrapper, the version calls.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use shmkit_core::ErrorKind;

/// What a call did. `SHMKIT_OK` (0) is success; every other value is a failure whose message
/// `shmkit_last_error()` gives. The first values mirror the library's
/// error kinds.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum shmkit_status {
    /// Success.
    SHMKIT_OK = 0,
    /// No segment (cell, stream) with this name exists.
    SHMKIT_NOT_FOUND = 1,
    /// A segment with this name exists already.
    SHMKIT_ALREADY_EXISTS = 2,
    /// Its permissions, its owner, or the handle's access mode forbid the operation.
    SHMKIT_PERMISSION_DENIED = 3,
    /// The name breaks the portable rule: 1 to 30 characters of `A-Z a-z 0-9 . _ -`, not
    /// starting with `.` (the message says which part).
    SHMKIT_INVALID_NAME = 4,
    /// A size, offset or length is zero, too large, or outside the segment.
    SHMKIT_INVALID_SIZE = 5,
    /// The segment exists but is not what was asked for (a cell opened as a stream, a foreign
    /// segment, another layout version, options the existing one does not have).
    SHMKIT_INCOMPATIBLE = 6,
    /// Its contents are inconsistent: another process wrote garbage into it.
    SHMKIT_CORRUPT = 7,
    /// Out of shared memory, address space or descriptors, or no free subscriber slot.
    SHMKIT_OUT_OF_RESOURCES = 8,
    /// A bounded wait ran out of time (with a timeout of 0: nothing there now).
    SHMKIT_TIMEOUT = 9,
    /// A null pointer, a closed handle (NULL), a value outside its enumeration, a malformed
    /// format, a call out of order (a commit without a loan), or a handle in use by another
    /// thread.
    SHMKIT_INVALID_ARGUMENT = 10,
    /// This thread already holds the segment's lock (it is not recursive).
    SHMKIT_WOULD_DEADLOCK = 11,
    /// The publisher overwrote a frame while it was read in place (an overwrite stream).
    SHMKIT_OVERWRITTEN = 12,
    /// This platform has no way to do it (a notifier's descriptor on Windows, a persistent
    /// segment on Windows).
    SHMKIT_UNSUPPORTED = 13,
    /// Another operating-system error (the message has its text).
    SHMKIT_OS_ERROR = 14,
    /// The caller's buffer is too small; the out-parameter for the length says how many bytes
    /// are needed, and nothing was lost: call again with a larger buffer.
    SHMKIT_BUFFER_TOO_SMALL = 15,
    /// A bug in shmkit: it was caught before it could cross into the caller. The handle used may
    /// be left in an unusable state; close it.
    SHMKIT_PANIC = 16,
}

/// The version of the C interface: functions, structures and their layouts. Compare it with
/// `shmkit_abi_version()` to check that the library loaded at run time is the one compiled
/// against. (2: `shmkit_cell_options` gained `exclusive`.)
pub const SHMKIT_ABI_VERSION: u32 = 2;

/// A failure on its way to the caller: its status and its message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: shmkit_status,
    pub(crate) message: String,
}

pub(crate) type R<T = ()> = Result<T, Fail>;

impl Fail {
    pub(crate) fn new(status: shmkit_status, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }

    /// An invalid argument: `message` says which and why.
    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(shmkit_status::SHMKIT_INVALID_ARGUMENT, message)
    }
}

impl From<shmkit_core::Error> for Fail {
    fn from(e: shmkit_core::Error) -> Fail {
        use shmkit_status::*;
        let status = match e.kind() {
            ErrorKind::NotFound => SHMKIT_NOT_FOUND,
            ErrorKind::AlreadyExists => SHMKIT_ALREADY_EXISTS,
            ErrorKind::PermissionDenied => SHMKIT_PERMISSION_DENIED,
            ErrorKind::InvalidName => SHMKIT_INVALID_NAME,
            ErrorKind::InvalidSize => SHMKIT_INVALID_SIZE,
            ErrorKind::Incompatible => SHMKIT_INCOMPATIBLE,
            ErrorKind::Corrupt => SHMKIT_CORRUPT,
            ErrorKind::OutOfResources => SHMKIT_OUT_OF_RESOURCES,
            ErrorKind::Timeout => SHMKIT_TIMEOUT,
            ErrorKind::InvalidInput => SHMKIT_INVALID_ARGUMENT,
            ErrorKind::WouldDeadlock => SHMKIT_WOULD_DEADLOCK,
            ErrorKind::Overwritten => SHMKIT_OVERWRITTEN,
            ErrorKind::Unsupported => SHMKIT_UNSUPPORTED,
            _ => SHMKIT_OS_ERROR,
        };
        // As the command line says it: the OS error's own text only where the library's words
        // do not already say what happened.
        let message = if status == SHMKIT_OS_ERROR {
            format!("{e:#}")
        } else {
            e.to_string()
        };
        Fail { status, message }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A NUL inside a message (from a name that had one) would cut it short: show it escaped.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Runs one entry point: converts a failure into its status and message, and catches a panic
/// before it could unwind into C.
pub(crate) fn call(f: impl FnOnce() -> R) -> shmkit_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => shmkit_status::SHMKIT_OK,
        Ok(Err(fail)) => {
            set_last_error(&fail.message);
            fail.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            set_last_error(&format!(
                "internal error in shmkit (a bug; please report it): {what}"
            ));
            shmkit_status::SHMKIT_PANIC
        }
    }
}

/// As [`call`], for the functions that cannot fail (close, free): a panic is swallowed (and
/// recorded as the thread's last error) rather than unwound into C.
pub(crate) fn call_quietly(f: impl FnOnce()) {
    let _ = call(|| {
        f();
        Ok(())
    });
}

/// The message of the last call on this thread that failed: what was tried, on which name, why,
/// and what to do: one line, as the `shmkit` command prints it (`cannot open "cam0": no such
/// segment: is the writer running? ...`). An empty string if no call on this thread has
/// failed yet.
///
/// Ownership: the text belongs to the library and stays valid until the next shmkit call on
/// this thread; copy it to keep it. Thread safety: each thread has its own.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The name of a status as text (`"SHMKIT_NOT_FOUND"`); `"SHMKIT_UNKNOWN_STATUS"` for a value
/// that is none. Static text: never freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_status_name(status: i32) -> *const c_char {
    use shmkit_status::*;
    let all = [
        (SHMKIT_OK, c"SHMKIT_OK"),
        (SHMKIT_NOT_FOUND, c"SHMKIT_NOT_FOUND"),
        (SHMKIT_ALREADY_EXISTS, c"SHMKIT_ALREADY_EXISTS"),
        (SHMKIT_PERMISSION_DENIED, c"SHMKIT_PERMISSION_DENIED"),
        (SHMKIT_INVALID_NAME, c"SHMKIT_INVALID_NAME"),
        (SHMKIT_INVALID_SIZE, c"SHMKIT_INVALID_SIZE"),
        (SHMKIT_INCOMPATIBLE, c"SHMKIT_INCOMPATIBLE"),
        (SHMKIT_CORRUPT, c"SHMKIT_CORRUPT"),
        (SHMKIT_OUT_OF_RESOURCES, c"SHMKIT_OUT_OF_RESOURCES"),
        (SHMKIT_TIMEOUT, c"SHMKIT_TIMEOUT"),
        (SHMKIT_INVALID_ARGUMENT, c"SHMKIT_INVALID_ARGUMENT"),
        (SHMKIT_WOULD_DEADLOCK, c"SHMKIT_WOULD_DEADLOCK"),
        (SHMKIT_OVERWRITTEN, c"SHMKIT_OVERWRITTEN"),
        (SHMKIT_UNSUPPORTED, c"SHMKIT_UNSUPPORTED"),
        (SHMKIT_OS_ERROR, c"SHMKIT_OS_ERROR"),
        (SHMKIT_BUFFER_TOO_SMALL, c"SHMKIT_BUFFER_TOO_SMALL"),
        (SHMKIT_PANIC, c"SHMKIT_PANIC"),
    ];
    all.iter()
        .find(|(s, _)| *s as i32 == status)
        .map_or(c"SHMKIT_UNKNOWN_STATUS", |(_, n)| *n)
        .as_ptr()
}

/// The interface version of the library loaded at run time: `SHMKIT_ABI_VERSION` of the header
/// it was built with. A program built against another version should refuse to run.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_abi_version() -> u32 {
    SHMKIT_ABI_VERSION
}

/// The library's version, `"MAJOR.MINOR.PATCH"`. Static text: never freed. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn shmkit_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"?",
        };
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        // SAFETY: the library's own NUL-terminated text, valid until the next call.
        unsafe { CStr::from_ptr(shmkit_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let s = call(|| panic!("the sky fell"));
        assert_eq!(s, shmkit_status::SHMKIT_PANIC);
        assert!(last().contains("the sky fell"), "{}", last());
    }

    #[test]
    fn core_errors_keep_their_kind_and_the_clis_words() {
        let e =
            shmkit_core::Segment::open("t-c-missing-x", shmkit_core::Access::ReadOnly).unwrap_err();
        let s = call(|| Err(e.into()));
        assert_eq!(s, shmkit_status::SHMKIT_NOT_FOUND);
        assert!(
            last().starts_with("cannot open \"t-c-missing-x\": no such segment"),
            "{}",
            last()
        );
    }

    #[test]
    fn status_names() {
        let name = |s| {
            // SAFETY: static NUL-terminated text.
            unsafe { CStr::from_ptr(shmkit_status_name(s)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(0), "SHMKIT_OK");
        assert_eq!(name(15), "SHMKIT_BUFFER_TOO_SMALL");
        assert_eq!(name(16), "SHMKIT_PANIC");
        assert_eq!(name(17), "SHMKIT_UNKNOWN_STATUS");
        assert_eq!(name(-3), "SHMKIT_UNKNOWN_STATUS");
        assert_eq!(name(99), "SHMKIT_UNKNOWN_STATUS");
    }
}
