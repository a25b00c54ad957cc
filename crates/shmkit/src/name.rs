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

/// The one statement of the rule, in every message about a name that breaks it.
const RULE: &str =
    "a portable name is 1 to 30 characters of A-Z a-z 0-9 . _ - and does not start with '.'";

/// `Global\NAME` / `Local\NAME` (the prefix in any case, as Windows takes it): whether it is
/// `Global`, and `NAME`.
pub(crate) fn split_win32_namespace(s: &str) -> Option<(bool, &str)> {
    let (ns, bare) = s.split_once('\\')?;
    if ns.eq_ignore_ascii_case("Global") {
        Some((true, bare))
    } else if ns.eq_ignore_ascii_case("Local") {
        Some((false, bare))
    } else {
        None
    }
}

/// Why `name` breaks the rule and what to do: the name meant, when it is a portable name
/// written the POSIX way (`/status`) or the Win32 way (`Global\status`); the rule otherwise.
fn diagnose(name: &str, b: Broken) -> (String, String) {
    if let Some((global, bare)) = split_win32_namespace(name).filter(|(_, n)| check(n).is_ok()) {
        let ns = if global { "Global" } else { "Local" };
        let option = if global {
            "the namespace is an option: SegmentOptions::namespace(Namespace::Global) on Windows"
        } else {
            "Local\\ is where a name goes by default on Windows"
        };
        return (
            format!("'{ns}\\' is a Windows namespace, not part of a name"),
            format!("use {bare:?} ({option})"),
        );
    }
    let bare = name.trim_start_matches('/');
    if bare.len() < name.len() && check(bare).is_ok() {
        return (
            explain(b),
            format!("use {bare:?}: a name has no leading '/' (shm_open's is added for you)"),
        );
    }
    (explain(b), RULE.to_string())
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
            Err(b) => {
                let (reason, hint) = diagnose(name, b);
                Err(
                    Error::new(ErrorKind::InvalidName, Op::Name, name.to_string())
                        .reason(reason)
                        .hint(hint),
                )
            }
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

/// The longest name of an object in the system's shared-memory namespace, in bytes: Linux's
/// file-name limit in `/dev/shm` (`NAME_MAX`).
pub const MAX_NATIVE_NAME_LEN: usize = 255;

/// The name of an object in the system's shared-memory namespace exactly as the operating system
/// takes it — for segments made by other programs (Python's `psm_1a2b3c4d`, Qt's
/// `qipc_sharedmemory_…` with 40 hex digits, names with spaces or non-ASCII letters).
///
/// It is checked only for what the operating system cannot take: 1 to 255 bytes, no `/`, no NUL,
/// not `.` or `..`. Every [`SegmentName`] is also a `NativeName`. On Linux the object is the file
/// `/dev/shm/NAME`, the one `shm_open("/NAME")` opens.
///
/// Raw segments ([`SegmentOptions::raw`](crate::SegmentOptions::raw)), [`Segment::remove`] and
/// [`Segment::info`] take native names; shmkit-format segments keep to the portable rule.
///
/// [`Segment::remove`]: crate::Segment::remove
/// [`Segment::info`]: crate::Segment::info
///
/// ```
/// use shmkit::{ErrorKind, NativeName};
///
/// let qt = NativeName::new("qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91")?;
/// assert!(!qt.is_portable());
/// // The form shm_open() and Qt's POSIX keys use: leading slashes are dropped, as glibc does.
/// assert_eq!(NativeName::from_shm_open("/caméra 1")?.as_str(), "caméra 1");
/// assert_eq!(NativeName::new("a/b").unwrap_err().kind(), ErrorKind::InvalidName);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NativeName(Box<str>);

fn check_native(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the name is empty".into());
    }
    if let Some(i) = s.find('\0') {
        return Err(format!("a NUL byte at position {i} is not allowed"));
    }
    if s.contains('/') {
        return Err("'/' is not allowed inside a shared-memory name".into());
    }
    if s == "." || s == ".." {
        return Err("'.' and '..' are not shared-memory names".into());
    }
    if s.len() > MAX_NATIVE_NAME_LEN {
        return Err(format!(
            "the name is {} bytes long; the system takes at most {MAX_NATIVE_NAME_LEN}",
            s.len()
        ));
    }
    Ok(())
}

impl NativeName {
    /// Checks `name` against what the operating system takes (see the type's docs).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`], saying which limit `name` breaks.
    pub fn new(name: &str) -> Result<NativeName, Error> {
        match check_native(name) {
            Ok(()) => Ok(NativeName(name.into())),
            // One rule and one message: a name the system cannot take also breaks the portable
            // rule, and is explained by it (other programs' longer names are only accepted).
            Err(why) => {
                let (reason, hint) = match check(name) {
                    Err(Broken::TooLong(n)) => (
                        format!(
                            "the name is {n} bytes long; at most {MAX_NAME_LEN} characters are \
                             portable, and no system takes more than {MAX_NATIVE_NAME_LEN}"
                        ),
                        RULE.to_string(),
                    ),
                    Err(b) => diagnose(name, b),
                    Ok(()) => (why, RULE.to_string()),
                };
                Err(
                    Error::new(ErrorKind::InvalidName, Op::Name, name.to_string())
                        .reason(reason)
                        .hint(hint),
                )
            }
        }
    }

    /// The object `shm_open(name)` / `sem_open`-style APIs mean: leading slashes are dropped
    /// (as glibc does), the rest must be a native name. Qt's POSIX keys (`/name`) and
    /// Python's internal names (`/psm_…`) have this form.
    ///
    /// # Errors
    /// As for [`new`](Self::new).
    pub fn from_shm_open(name: &str) -> Result<NativeName, Error> {
        NativeName::new(name.trim_start_matches('/')).map_err(|e| {
            if name.trim_start_matches('/').is_empty() {
                e
            } else {
                e.reason(format!(
                    "{} (after the leading '/')",
                    check_native(name.trim_start_matches('/')).unwrap_err()
                ))
            }
        })
    }

    /// Whether the name also follows shmkit's portable rule ([`SegmentName`]).
    pub fn is_portable(&self) -> bool {
        SegmentName::is_valid(&self.0)
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NativeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NativeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for NativeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for NativeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for NativeName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        NativeName::new(s)
    }
}

impl From<SegmentName> for NativeName {
    fn from(name: SegmentName) -> NativeName {
        // Every portable name is a native name.
        NativeName(name.0)
    }
}

impl From<&SegmentName> for NativeName {
    fn from(name: &SegmentName) -> NativeName {
        NativeName(name.0.clone())
    }
}

/// Anything that names an object in the system's namespace: a [`NativeName`], a
/// [`SegmentName`], or a string to check with [`NativeName::new`].
pub trait IntoNativeName {
    /// Checks (if needed) and returns the name.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] when a string breaks the native rule.
    fn into_native_name(self) -> Result<NativeName, Error>;
}

impl IntoNativeName for NativeName {
    fn into_native_name(self) -> Result<NativeName, Error> {
        Ok(self)
    }
}

impl IntoNativeName for &NativeName {
    fn into_native_name(self) -> Result<NativeName, Error> {
        Ok(self.clone())
    }
}

impl IntoNativeName for SegmentName {
    fn into_native_name(self) -> Result<NativeName, Error> {
        Ok(self.into())
    }
}

impl IntoNativeName for &SegmentName {
    fn into_native_name(self) -> Result<NativeName, Error> {
        Ok(self.into())
    }
}

impl IntoNativeName for &str {
    fn into_native_name(self) -> Result<NativeName, Error> {
        NativeName::new(self)
    }
}

impl IntoNativeName for String {
    fn into_native_name(self) -> Result<NativeName, Error> {
        NativeName::new(&self)
    }
}

impl IntoNativeName for &String {
    fn into_native_name(self) -> Result<NativeName, Error> {
        NativeName::new(self)
    }
}

impl IntoName for NativeName {
    fn into_name(self) -> Result<SegmentName, Error> {
        SegmentName::new(&self.0)
    }
}

impl IntoName for &NativeName {
    fn into_name(self) -> Result<SegmentName, Error> {
        SegmentName::new(&self.0)
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
    fn posix_and_win32_spellings_get_the_name_to_use() {
        let hint = |s: &str| {
            SegmentName::new(s)
                .unwrap_err()
                .hint_text()
                .unwrap()
                .to_string()
        };
        assert!(hint("/status").starts_with("use \"status\": a name has no leading '/'"));
        assert!(hint("//status").starts_with("use \"status\""));
        let e = SegmentName::new("Global\\status").unwrap_err();
        assert_eq!(
            e.reason_text(),
            "'Global\\' is a Windows namespace, not part of a name"
        );
        assert!(e.hint_text().unwrap().contains("use \"status\""), "{e}");
        assert!(e.hint_text().unwrap().contains("Namespace::Global"), "{e}");
        assert!(hint("local\\status").contains("use \"status\""));
        // Not a portable name behind the prefix: the rule itself.
        assert_eq!(hint("/a/b"), RULE);
        assert_eq!(hint("Global\\a b"), RULE);
        assert_eq!(hint("with space"), RULE);
    }

    #[test]
    fn native_names_are_explained_by_the_one_rule() {
        // The same reason and hint as for a portable name.
        for bad in ["/status", "a/b", "", "a\0b", "Global\\status/x"] {
            let n = NativeName::new(bad).unwrap_err();
            let p = SegmentName::new(bad).unwrap_err();
            assert_eq!(n.reason_text(), p.reason_text(), "{bad:?}");
            assert_eq!(n.hint_text(), p.hint_text(), "{bad:?}");
        }
        let e = NativeName::new(&"x".repeat(256)).unwrap_err();
        assert!(e.reason_text().contains("256 bytes long"), "{e}");
        assert!(
            e.reason_text().contains("no system takes more than 255"),
            "{e}"
        );
        assert_eq!(e.hint_text(), Some(RULE));
    }

    #[test]
    fn over_long_names_with_bad_chars_report_the_char() {
        // The character rule is the more useful message: fixing the length alone would not do.
        assert!(reason(&format!("{}/", "x".repeat(40))).contains("'/'"));
    }

    #[test]
    fn native_names_reject_only_what_the_os_cannot_take() {
        for ok in [
            "qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91",
            "with space",
            "ключ",
            ".hidden",
            "x".repeat(255).as_str(),
        ] {
            assert_eq!(NativeName::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a/b", "..", ".", "a\0", "/x", &"x".repeat(256)] {
            let e = NativeName::new(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
        assert!(
            NativeName::new(&"x".repeat(256))
                .unwrap_err()
                .reason_text()
                .contains("256 bytes")
        );
        assert_eq!(
            NativeName::from_shm_open("//psm_1").unwrap().as_str(),
            "psm_1"
        );
        assert!(NativeName::from_shm_open("/").is_err());
        assert!(NativeName::from_shm_open("/a/b").is_err());
        assert!(NativeName::new("cam0").unwrap().is_portable());
        assert!(!NativeName::new("cam 0").unwrap().is_portable());
        assert_eq!(
            NativeName::new("cam 0")
                .unwrap()
                .into_name()
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidName
        );
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
