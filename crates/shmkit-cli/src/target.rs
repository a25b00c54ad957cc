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
//! | `NAME` | a shmkit segment, or any object in `/dev/shm` |

use std::fmt;
use std::time::Duration;

use shmkit::NativeName;
use shmkit::interop::qt;

/// The help of every TARGET argument.
pub const TARGET_HELP: &str = "The segment: NAME (a shmkit segment or any /dev/shm object), \
posix:NAME (a plain POSIX/Python object), qt:KEY (a Qt QSharedMemory legacy key, System V), \
qt-posix:KEY, or a Qt key string (systemv:/tmp/qipc_sharedmemory_…?legacyKey=KEY, posix:/name)";

/// What a TARGET argument names.
#[derive(Debug, Clone)]
pub enum Target {
    /// A name in the shared-memory directory, as shmkit addresses its own segments.
    Shmkit(String),
    /// A plain POSIX object (no lock): Python's, C's, a raw shmkit segment.
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

/// Parses a duration: `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write 500ms, 2s, 1.5s, 3m or 1h"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(format!(
                "unknown unit {u:?}; write 500ms, 2s, 1.5s, 3m or 1h"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
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
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }
}
