//! Segment names: validated once, portable to every platform shmkit runs on.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Op};

/// The longest portable name: macOS caps POSIX shared-memory names at 31 bytes including the
/// leading slash.
pub const MAX_NAME_LEN: usize = 30;

/// A validated segment name.
///
/// The portable rule: 1 to 30 characters of `A–Z a–z 0–9 . _ -`, not starting with `.`.
/// Names are case-sensitive. The rule is the intersection of what Linux, macOS and Windows
/// accept, so a name that works here works everywhere.
///
/// The native object has exactly this name, with no hidden prefix: on Linux and macOS it is
/// `shm_open("/NAME")` (on Linux the file `/dev/shm/NAME`), on Windows `Local\NAME`. So a
/// Python program's `SharedMemory(name="NAME")` opens the very same object.
///
/// ```
/// use shmkit::{ErrorKind, SegmentName};
///
/// let name: SegmentName = "camera-0.frames".parse()?;
/// assert_eq!(name.as_str(), "camera-0.frames");
///
/// let err = SegmentName::new("../etc/passwd").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidName);
/// assert!(err.to_string().contains("'/' is not allowed"));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName(Box<str>);

/// Which part of the name rule a string breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    Empty,
    TooLong(usize),
    LeadingDot,
    Char(char, usize),
}

fn check(s: &str) -> Result<(), Broken> {
    if s.is_empty() {
        return Err(Broken::Empty);
    }
    if let Some((i, c)) = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Broken::Char(c, i));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(Broken::TooLong(s.len()));
    }
    if s.starts_with('.') {
        return Err(Broken::LeadingDot);
    }
    Ok(())
}

fn explain(b: Broken) -> String {
    match b {
        Broken::Empty => "the name is empty".to_string(),
        Broken::TooLong(n) => format!(
            "the name is {n} characters long; at most {MAX_NAME_LEN} are portable (macOS's limit)"
        ),
        Broken::LeadingDot => "a name must not start with '.'".to_string(),
        Broken::Char(c @ ('/' | '\\'), _) => format!("'{c}' is not allowed (names are not paths)"),
        Broken::Char('\0', i) => format!("a NUL byte at position {i} is not allowed"),
        Broken::Char(c, i) => {
            format!("{c:?} at position {i} is not allowed; use letters, digits, '.', '_' and '-'")
        }
    }
}

impl SegmentName {
    /// Validates `name` against the portable rule.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`], with the broken rule in the message.
    pub fn new(name: &str) -> Result<SegmentName, Error> {
        match check(name) {
            Ok(()) => Ok(SegmentName(name.into())),
            Err(b) => Err(
                Error::new(ErrorKind::InvalidName, Op::Name, name.to_string())
                    .reason(explain(b))
                    .hint(
                        "a portable name is 1 to 30 characters of A-Z a-z 0-9 . _ - \
                         and does not start with '.'",
                    ),
            ),
        }
    }

    /// Whether `name` follows the portable rule.
    pub fn is_valid(name: &str) -> bool {
        check(name).is_ok()
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for SegmentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SegmentName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for SegmentName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        SegmentName::new(s)
    }
}

impl TryFrom<&str> for SegmentName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        SegmentName::new(s)
    }
}

impl TryFrom<String> for SegmentName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        SegmentName::new(&s)
    }
}

/// Anything that names a segment: a [`SegmentName`] or a string to validate.
///
/// Every call that takes a name takes `impl IntoName`, so both
/// `Segment::open("cam0", …)` and `Segment::open(&name, …)` work.
pub trait IntoName {
    /// Validates (if needed) and returns the name.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] when a string breaks the rule.
    fn into_name(self) -> Result<SegmentName, Error>;
}

impl IntoName for SegmentName {
    fn into_name(self) -> Result<SegmentName, Error> {
        Ok(self)
    }
}

impl IntoName for &SegmentName {
    fn into_name(self) -> Result<SegmentName, Error> {
        Ok(self.clone())
    }
}

impl IntoName for &str {
    fn into_name(self) -> Result<SegmentName, Error> {
        SegmentName::new(self)
    }
}

impl IntoName for String {
    fn into_name(self) -> Result<SegmentName, Error> {
        SegmentName::new(&self)
    }
}

impl IntoName for &String {
    fn into_name(self) -> Result<SegmentName, Error> {
        SegmentName::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(s: &str) -> String {
        let e = SegmentName::new(s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{s:?}");
        assert_eq!(e.name(), Some(s));
        e.reason_text().to_string()
    }

    #[test]
    fn accepts_portable_names() {
        for ok in [
            "a",
            "A-z_0.9",
            "psm_524fe103",
            "x".repeat(30).as_str(),
            "-dash",
            "a..b",
        ] {
            assert_eq!(SegmentName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn each_rule_has_its_own_message() {
        assert_eq!(reason(""), "the name is empty");
        assert!(reason(&"x".repeat(31)).contains("31 characters long; at most 30"));
        assert!(reason(".hidden").contains("must not start with '.'"));
        assert!(reason("..").contains("must not start with '.'"));
        assert!(reason("a/b").contains("'/' is not allowed (names are not paths)"));
        assert!(reason("/abs").contains("'/' is not allowed"));
        assert!(reason("a\\b").contains("'\\' is not allowed"));
        assert!(reason("a\0b").contains("NUL byte at position 1"));
        assert!(reason("with space").contains("' ' at position 4 is not allowed"));
        assert!(reason("ключ").contains("'к' at position 0"));
    }

    #[test]
    fn over_long_names_with_bad_chars_report_the_char() {
        // The character rule is the more useful message: fixing the length alone would not do.
        assert!(reason(&format!("{}/", "x".repeat(40))).contains("'/'"));
    }

    proptest! {
        #[test]
        fn valid_iff_rule_holds(s in "\\PC{0,40}") {
            let rule = !s.is_empty()
                && s.len() <= 30
                && !s.starts_with('.')
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            prop_assert_eq!(SegmentName::new(&s).is_ok(), rule);
        }
    }
}
