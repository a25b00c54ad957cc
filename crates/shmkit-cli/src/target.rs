//! The segment a command works on: a shmkit segment, a plain POSIX object (Python's, C's), or
//! a Qt `QSharedMemory` segment — parsed once from the command line, for every command that
//! takes a TARGET.
//!
//! | argument | target |
//! | --- | --- |
//! | `qt:KEY` | Qt legacy key, System V backend (Qt's default for `QSharedMemory("KEY")`), in `$TMPDIR` |
//! | `qt-posix:KEY` | Qt legacy key, POSIX backend |
//! | `systemv:/path…`, `systemv-N:/path`, `posix:/name…` | Qt's own key strings (`QNativeIpcKey::toString`) |
//! | `posix:NAME` (no leading `/`) | the POSIX object `/dev/shm/NAME`, no lock (Python, C, raw shmkit segments) |
//! | `Global\NAME`, `Local\NAME` | Windows: the file mapping of that name, opened raw (the classic Win32 programs'); refused elsewhere |
//! | `NAME` | a shmkit segment, or any object in `/dev/shm` (Windows: any mapping `NAME`, raw when it has no shmkit header) |

use std::fmt;

use shmkit::NativeName;
use shmkit::interop::{qt, win32};

/// The help of every TARGET argument.
pub const TARGET_HELP: &str = "The segment: NAME (a shmkit segment or any /dev/shm object), \
posix:NAME (a plain POSIX/Python object), qt:KEY (a Qt QSharedMemory legacy key, System V), \
qt-posix:KEY, a Qt key string (systemv:/tmp/qipc_sharedmemory_…?legacyKey=KEY, posix:/name), or on \
Windows a file mapping's Win32 name (Global\\NAME, Local\\NAME, or NAME), opened raw";

/// What a TARGET argument names.
#[derive(Debug, Clone)]
pub enum Target {
    /// A name in the shared-memory directory, as shmkit addresses its own segments.
    Shmkit(String),
    /// A plain object (no lock): Python's, C's, a raw shmkit segment; on Windows also a file
    /// mapping's Win32 name with its namespace (`Global\\NAME`, `Local\\NAME`).
    Posix(NativeName),
    /// A Qt segment, with Qt's lock.
    Qt(qt::Key),
}

impl Target {
    /// Parses a TARGET argument (a clap value parser).
    pub fn parse(s: &str) -> Result<Target, String> {
        let lib = |e: shmkit::Error| e.reason_text().to_string();
        if let Some(key) = s.strip_prefix("qt:") {
            return qt::Key::legacy(key).map(Target::Qt).map_err(lib);
        }
        if let Some(key) = s.strip_prefix("qt-posix:") {
            return qt::Key::legacy_posix(key).map(Target::Qt).map_err(lib);
        }
        if let Some((_, bare)) = win32::split_namespace(s) {
            let prefix = &s[..s.len() - bare.len()];
            if !win32::namespaces_exist() {
                return Err(format!(
                    "{prefix} is a Windows namespace; this system has none: the object is {bare:?}"
                ));
            }
            // A classic Win32 program's mapping (`Global\\MyFileMappingObject`): raw, no lock.
            return NativeName::new(s).map(Target::Posix).map_err(lib);
        }
        let lower = s.to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix("posix:") {
            if !name.starts_with('/') {
                // A plain object; keep the original case.
                return NativeName::new(&s["posix:".len()..])
                    .map(Target::Posix)
                    .map_err(lib);
            }
        }
        if lower.starts_with("posix:") || lower.starts_with("systemv") {
            return qt::Key::from_key_string(s).map(Target::Qt).map_err(lib);
        }
        Ok(Target::Shmkit(s.to_string()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Shmkit(n) => f.write_str(n),
            Target::Posix(n) if win32::split_namespace(n.as_str()).is_some() => {
                f.write_str(n.as_str())
            }
            Target::Posix(n) => write!(f, "posix:{n}"),
            Target::Qt(k) => match k.legacy_key() {
                // Shown as given when it is a legacy key derived the usual way.
                Some(l) if qt::Key::legacy(l).is_ok_and(|d| d == *k) => write!(f, "qt:{l}"),
                Some(l) if qt::Key::legacy_posix(l).is_ok_and(|d| d == *k) => {
                    write!(f, "qt-posix:{l}")
                }
                _ => write!(f, "{k}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_by_prefix() {
        assert!(matches!(Target::parse("cam0"), Ok(Target::Shmkit(n)) if n == "cam0"));
        assert!(
            matches!(Target::parse("posix:psm_1a2b3c4d"), Ok(Target::Posix(n)) if n.as_str() == "psm_1a2b3c4d")
        );
        assert!(
            matches!(Target::parse("posix:With Space"), Ok(Target::Posix(n)) if n.as_str() == "With Space")
        );
        let Ok(Target::Qt(k)) = Target::parse("qt:my key") else {
            panic!()
        };
        assert_eq!(k.legacy_key(), Some("my key"));
        assert_eq!(k.backend(), qt::Backend::SystemV);
        let Ok(Target::Qt(k)) = Target::parse("qt-posix:demo") else {
            panic!()
        };
        assert_eq!(k.backend(), qt::Backend::Posix);
        let Ok(Target::Qt(k)) = Target::parse("posix:/frames") else {
            panic!()
        };
        assert_eq!(k.native_key(), "/frames");
        let Ok(Target::Qt(k)) = Target::parse("systemv:/tmp/x?legacyKey=x") else {
            panic!()
        };
        assert_eq!(k.native_key(), "/tmp/x");
        assert!(Target::parse("qt:").is_err());
        assert!(Target::parse("posix:a/b").is_err());
        assert!(Target::parse("systemv:/x?bogus=1").is_err());
    }

    #[test]
    fn win32_names_are_raw_targets_where_there_are_namespaces() {
        for name in ["Global\\MyFileMappingObject", "Local\\x", "global\\y"] {
            match Target::parse(name) {
                Ok(Target::Posix(n)) => {
                    assert!(win32::namespaces_exist());
                    assert_eq!(n.as_str(), name);
                    assert_eq!(Target::Posix(n).to_string(), name);
                }
                Err(e) => {
                    assert!(!win32::namespaces_exist());
                    assert!(
                        e.contains("is a Windows namespace; this system has none"),
                        "{e}"
                    );
                    assert!(
                        e.ends_with(&format!("{:?}", &name[name.find('\\').unwrap() + 1..])),
                        "{e}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
