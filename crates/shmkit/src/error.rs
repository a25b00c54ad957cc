//! The error type of every lifecycle call (create, open, lock, publish, ...).
//!
//! An [`Error`] says what was attempted ([`Op`]), on which segment, why, and — where there is
//! something to do about it — what to do. It keeps the operating system's error, so
//! [`Error::raw_os_error`] gives the exact code and [`std::error::Error::source`] the
//! [`io::Error`].
//!
//! `Display` is one lowercase line without a trailing period that does not repeat the source's
//! text, so a program can print the chain (`error: …: caused by …`) without stuttering. The
//! alternate form (`{:#}`) inserts the OS error's own text before the hint, for a one-line
//! report.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// What kind of failure an [`Error`] is.
///
/// Match on this (not on the message) to react to a failure. New kinds may be added, so keep a
/// `_` arm.
///
/// A previous lock owner that died is not an error: the lock is acquired and
/// [`LockGuard::owner_died`](crate::LockGuard::owner_died) says so.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No segment with this name exists.
    NotFound,
    /// A segment with this name exists already.
    AlreadyExists,
    /// The segment's permissions, its owner, or the handle's access mode forbid the operation.
    PermissionDenied,
    /// The name breaks the portable name rule (see [`SegmentName`](crate::SegmentName)).
    InvalidName,
    /// A size or offset is zero, too large, or out of the segment's bounds.
    InvalidSize,
    /// The segment exists but is not of the expected format, kind or version
    /// (a foreign file, a cell opened as a stream, a newer layout).
    Incompatible,
    /// The segment's contents are inconsistent: a length, offset or index that does not fit.
    /// Another process wrote garbage into it, or it was truncated.
    Corrupt,
    /// The system ran out of something: shared memory (a full `/dev/shm`), address space, file
    /// descriptors.
    OutOfResources,
    /// A bounded wait ran out of time.
    Timeout,
    /// An argument other than a name or a size is malformed (a format description, say).
    InvalidInput,
    /// The call would wait forever for the calling thread itself (it already holds the lock).
    WouldDeadlock,
    /// The publisher overwrote a frame while it was being read in place (a lapped view of a
    /// [`Policy::Overwrite`](crate::stream::Policy) stream).
    Overwritten,
    /// This platform has no way to do what was asked.
    Unsupported,
    /// Any other operating-system error; [`Error::raw_os_error`] has the code.
    Os,
}

impl ErrorKind {
    /// A short lowercase description, used when an error has no more specific reason.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "no such segment",
            ErrorKind::AlreadyExists => "a segment with this name exists already",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::InvalidName => "invalid segment name",
            ErrorKind::InvalidSize => "invalid size",
            ErrorKind::Incompatible => "incompatible segment",
            ErrorKind::Corrupt => "corrupt segment",
            ErrorKind::OutOfResources => "out of resources",
            ErrorKind::Timeout => "timed out",
            ErrorKind::InvalidInput => "invalid argument",
            ErrorKind::WouldDeadlock => "this thread already holds the lock",
            ErrorKind::Overwritten => "the publisher overwrote the frame while it was read",
            ErrorKind::Unsupported => "not supported on this platform",
            ErrorKind::Os => "operating-system error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation an [`Error`] comes from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Validating a name.
    Name,
    /// Creating a segment.
    Create,
    /// Opening a segment.
    Open,
    /// Removing a segment's name.
    Remove,
    /// Listing or inspecting segments.
    Inspect,
    /// Taking a segment's lock.
    Lock,
    /// Reading from a segment.
    Read,
    /// Writing to a segment.
    Write,
    /// Waiting for a change.
    Wait,
    /// Publishing a value or frame.
    Publish,
    /// Receiving a value or frame.
    Receive,
    /// Parsing or checking a format description.
    Format,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Name => "use",
            Op::Create => "create",
            Op::Open => "open",
            Op::Remove => "remove",
            Op::Inspect => "inspect",
            Op::Lock => "lock",
            Op::Read => "read",
            Op::Write => "write to",
            Op::Wait => "wait on",
            Op::Publish => "publish to",
            Op::Receive => "receive from",
            Op::Format => "use the format",
        }
    }
}

/// The error of a lifecycle call: what was tried, on which segment, why, and what to do.
///
/// ```
/// use shmkit::{ErrorKind, Segment, Access};
///
/// let err = Segment::open("shmkit-doc-missing", Access::ReadOnly).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.name(), Some("shmkit-doc-missing"));
/// assert!(err.to_string().starts_with("cannot open \"shmkit-doc-missing\": no such segment"));
/// ```
pub struct Error {
    kind: ErrorKind,
    op: Op,
    name: Option<String>,
    reason: Cow<'static, str>,
    hint: Option<Cow<'static, str>>,
    source: Option<io::Error>,
    /// The stale segment this call removed before failing with `NotFound`.
    stale: Option<Box<crate::StaleRemoved>>,
}

/// Shorthand for `Result<T, shmkit::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` from `op` on the segment `name`, with the generic reason of `kind`.
    pub(crate) fn new(kind: ErrorKind, op: Op, name: impl Into<Option<String>>) -> Error {
        Error {
            kind,
            op,
            name: name.into(),
            reason: Cow::Borrowed(kind.as_str()),
            hint: None,
            source: None,
            stale: None,
        }
    }

    /// An error built from an OS error, with the kind and reason derived from it.
    pub(crate) fn os(op: Op, name: impl Into<Option<String>>, err: io::Error) -> Error {
        let (kind, reason) = classify(op, &err);
        let mut e = Error::new(kind, op, name).reason(reason);
        e.hint = default_hint(op, kind).map(Cow::Borrowed);
        e.source = Some(err);
        e
    }

    /// Replaces the reason ("why").
    pub(crate) fn reason(mut self, reason: impl Into<Cow<'static, str>>) -> Error {
        self.reason = reason.into();
        self
    }

    /// Sets the hint ("what to do").
    pub(crate) fn hint(mut self, hint: impl Into<Cow<'static, str>>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the segment (or other thing) the error is about.
    pub(crate) fn named(mut self, name: impl Into<String>) -> Error {
        self.name = Some(name.into());
        self
    }

    /// Drops the hint: for a caller that can say nothing useful about what to do.
    pub(crate) fn without_hint(mut self) -> Error {
        self.hint = None;
        self
    }

    /// Records the stale segment whose removal this error reports.
    pub(crate) fn stale(mut self, removed: crate::StaleRemoved) -> Error {
        self.stale = Some(Box::new(removed));
        self
    }

    /// Re-labels the operation: an inner step (`open`) reported as the outer call (`create`).
    pub(crate) fn during(mut self, op: Op) -> Error {
        self.op = op;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The segment name involved, as given (also when it was not a valid name).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Why it failed, in words (without the hint).
    pub fn reason_text(&self) -> &str {
        &self.reason
    }

    /// What to do about it, when there is advice to give.
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// For a [`ErrorKind::NotFound`] from an open: the stale segment of that name that this very
    /// call removed (every process that held it had died), which is why there is nothing to
    /// open. Its message already says so; a caller that swallows the error and carries on can
    /// pass this on (see [`on_stale_removed`](crate::on_stale_removed)).
    pub fn stale_removed(&self) -> Option<&crate::StaleRemoved> {
        self.stale.as_deref()
    }

    /// The operating system's error code, when an OS call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }
}

/// Maps an OS error to our kind and a reason in words.
fn classify(op: Op, err: &io::Error) -> (ErrorKind, Cow<'static, str>) {
    use io::ErrorKind as K;
    let kind = match err.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        K::OutOfMemory | K::StorageFull | K::FileTooLarge => ErrorKind::OutOfResources,
        K::TimedOut => ErrorKind::Timeout,
        K::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Os,
    };
    let reason: Cow<'static, str> = match (kind, op) {
        (ErrorKind::NotFound, _) => "no such segment".into(),
        (ErrorKind::OutOfResources, Op::Create) if err.kind() != K::OutOfMemory => {
            "not enough shared memory left to reserve it".into()
        }
        (ErrorKind::OutOfResources, _) => "the system is out of memory or descriptors".into(),
        (ErrorKind::Os, _) => "the operating system refused".into(),
        (kind, _) => kind.as_str().into(),
    };
    (kind, reason)
}

fn default_hint(op: Op, kind: ErrorKind) -> Option<&'static str> {
    Some(match (op, kind) {
        (Op::Open, ErrorKind::NotFound) => {
            "is the writer running? `shmkit ls` lists the segments that exist"
        }
        (Op::Inspect | Op::Remove, ErrorKind::NotFound) => {
            "`shmkit ls` lists the segments that exist"
        }
        (Op::Create, ErrorKind::AlreadyExists) => {
            "open it instead, or remove it first (`shmkit rm NAME`)"
        }
        (_, ErrorKind::PermissionDenied) => {
            "it belongs to another user or its mode forbids this; `shmkit info NAME` shows both"
        }
        (Op::Create, ErrorKind::OutOfResources) => {
            "free shared memory (`shmkit ls`, `shmkit gc`) or ask for less"
        }
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "cannot {} {:?}: {}", self.op.verb(), name, self.reason)?,
            None => write!(f, "cannot {}: {}", self.op.verb(), self.reason)?,
        }
        if f.alternate() {
            if let Some(source) = &self.source {
                write!(f, ": {source}")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("op", &self.op)
            .field("name", &self.name)
            .field("reason", &self.reason)
            .field("source", &self.source)
            .field("stale", &self.stale)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::InvalidName | ErrorKind::InvalidSize | ErrorKind::InvalidInput => {
                io::ErrorKind::InvalidInput
            }
            ErrorKind::WouldDeadlock => io::ErrorKind::Deadlock,
            ErrorKind::Overwritten => io::ErrorKind::Interrupted,
            ErrorKind::Incompatible | ErrorKind::Corrupt => io::ErrorKind::InvalidData,
            ErrorKind::OutOfResources => io::ErrorKind::OutOfMemory,
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::Os => err
                .source
                .as_ref()
                .map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_op_segment_reason_and_hint() {
        let e = Error::os(Op::Open, "cam0".to_string(), io::ErrorKind::NotFound.into());
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot open \"cam0\": no such segment — is the writer running? \
             `shmkit ls` lists the segments that exist"
        );
    }

    #[test]
    fn alternate_display_adds_the_os_text_before_the_hint() {
        // An error without a portable meaning (a raw code would mean different things on
        // different systems: 5 is EIO on Linux, ERROR_ACCESS_DENIED on Windows).
        let e = Error::os(
            Op::Remove,
            "x".to_string(),
            io::Error::other("the disk is on fire"),
        );
        let alt = format!("{e:#}");
        assert!(
            alt.starts_with(
                "cannot remove \"x\": the operating system refused: the disk is on fire"
            ),
            "{alt}"
        );
        assert!(!e.to_string().contains("on fire"));
    }

    #[test]
    fn full_storage_on_create_is_out_of_resources() {
        let e = Error::os(
            Op::Create,
            "big".to_string(),
            io::Error::from(io::ErrorKind::StorageFull),
        );
        assert_eq!(e.kind(), ErrorKind::OutOfResources);
        assert!(e.to_string().contains("not enough shared memory"));
    }

    #[test]
    fn converts_to_io_error_keeping_the_message() {
        let e = Error::new(ErrorKind::Corrupt, Op::Read, "x".to_string()).reason("bad length");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        assert_eq!(io.to_string(), "cannot read \"x\": bad length");
    }
}
