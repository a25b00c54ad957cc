//! The bridge's errors: one line each, saying what was attempted, why it failed, and what to do
//! (the same shape as [`shmkit::Error`], which it wraps for the local side).

use std::fmt;

/// What kind of failure an [`Error`] is. New kinds may be added: keep a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A key expression Zenoh does not accept, or one an export cannot publish on (wildcards).
    InvalidKey,
    /// An endpoint Zenoh cannot parse, or one it cannot listen on.
    InvalidEndpoint,
    /// A Zenoh configuration (file or option) that is malformed or contradicts itself, or a
    /// bridge description that does (two imports into one name).
    InvalidConfig,
    /// An endpoint off this machine without encryption and access control, refused unless the
    /// caller accepts it (see [`NetOptions::insecure`](crate::NetOptions::insecure)).
    Insecure,
    /// The local name is taken by something the bridge cannot feed: another live publisher,
    /// a segment of another kind, a raw segment.
    NameClash,
    /// The local side failed (shared memory): [`Error::local_error`] has the library's error.
    Local,
    /// Zenoh failed (opening the session, declaring on a key).
    Zenoh,
}

/// A failure of the bridge.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    what: String,
    reason: String,
    hint: Option<String>,
    local: Option<shmkit::Error>,
}

/// Shorthand for `Result<T, shmkit_zenoh::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure to do `what` ("export cam0 to shmkit/cam0") for `reason`.
    pub(crate) fn new(
        kind: ErrorKind,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error(Box::new(Inner {
            kind,
            what: what.into(),
            reason: reason.into(),
            hint: None,
            local: None,
        }))
    }

    /// A local failure while doing `what`.
    pub(crate) fn local(what: impl Into<String>, e: shmkit::Error) -> Error {
        let kind = match e.kind() {
            shmkit::ErrorKind::Incompatible => ErrorKind::NameClash,
            _ => ErrorKind::Local,
        };
        Error(Box::new(Inner {
            kind,
            what: what.into(),
            reason: e.to_string(),
            hint: None,
            local: Some(e),
        }))
    }

    /// A Zenoh failure while doing `what`.
    pub(crate) fn zenoh(what: impl Into<String>, e: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Zenoh, what, e.to_string())
    }

    /// Sets what to do about it.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Error {
        self.0.hint = Some(hint.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Why it failed, in words (without the hint).
    pub fn reason_text(&self) -> &str {
        &self.0.reason
    }

    /// What to do about it, when there is advice to give.
    pub fn hint_text(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// The shared-memory library's error behind a [`ErrorKind::Local`] or
    /// [`ErrorKind::NameClash`] failure.
    pub fn local_error(&self) -> Option<&shmkit::Error> {
        self.0.local.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if e.local.is_some() {
            // The library's message says "cannot open "cam0": ..." itself.
            write!(f, "{}: {}", e.what, e.reason)?;
        } else {
            write!(f, "cannot {}: {}", e.what, e.reason)?;
        }
        if let Some(hint) = &e.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .local
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
