//! Any target opened for its bytes: a shmkit bytes segment's data, a plain POSIX object
//! (Python's, C's), or a Qt segment with Qt's lock — for `read`, `write`, `dump` and `lock`.

use std::time::Duration;

use shmkit::interop::qt;
use shmkit::{Access, Segment, SegmentKind, SegmentOptions};

use crate::error::{Error, Result};
use crate::target::Target;

/// How long commands wait for a lock (Qt's, or a shmkit segment's) unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open target: a shmkit or plain segment, or a Qt segment.
#[derive(Debug)]
pub enum Opened {
    /// A shmkit bytes segment (offsets count in its data) or a raw/foreign object (from byte 0).
    Plain(Segment),
    /// A Qt segment, with Qt's lock.
    Qt(qt::Segment),
}

/// Whatever lock the target has, held (released on drop).
#[derive(Debug)]
#[allow(dead_code)] // the guards are held for their Drop
pub enum Held<'a> {
    /// A shmkit segment's lock.
    Shmkit(shmkit::LockGuard<'a>),
    /// Qt's lock.
    Qt(qt::LockGuard<'a>),
    /// The target has no lock (a plain POSIX object).
    None,
}

impl Opened {
    /// Opens `target` with `access`; waits at most `timeout` for Qt's lock, which Qt's attach
    /// takes too.
    pub fn open(target: &Target, access: Access, timeout: Duration) -> Result<Opened> {
        match target {
            Target::Qt(key) => Ok(Opened::Qt(
                qt::Options::new()
                    .access(access)
                    .timeout(timeout)
                    .open(key)?,
            )),
            Target::Posix(name) => Ok(Opened::Plain(
                SegmentOptions::new().raw(true).access(access).open(name)?,
            )),
            Target::Shmkit(name) => {
                let info = Segment::info(name)?;
                let raw = match info.kind {
                    SegmentKind::Shmkit(shmkit::Kind::Bytes) => false,
                    SegmentKind::Shmkit(kind) => {
                        let commands = match kind {
                            shmkit::Kind::Cell => "`shmkit read`, `watch` and `write`",
                            _ => "`shmkit sub` and `pub`",
                        };
                        return Err(Error::Failed(format!(
                            "{name:?} is a {kind}, not a bytes segment: use {commands}"
                        )));
                    }
                    SegmentKind::ShmkitOther if access == Access::ReadWrite => {
                        return Err(Error::Failed(format!(
                            "{name:?} has a shmkit header this shmkit cannot read (another layout \
                             version, or corrupt): writing its raw bytes could destroy it; \
                             `shmkit dump {name}` shows them, and posix:{name} forces raw access"
                        )));
                    }
                    _ => true,
                };
                Ok(Opened::Plain(
                    SegmentOptions::new()
                        .raw(raw)
                        .access(access)
                        .open(name.as_str())?,
                ))
            }
        }
    }

    /// The number of bytes that offsets reach.
    pub fn len(&self) -> usize {
        match self {
            Opened::Plain(s) => s.len(),
            Opened::Qt(s) => s.len(),
        }
    }

    /// Copies bytes out.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        match self {
            Opened::Plain(s) => s.read(offset, buf)?,
            Opened::Qt(s) => s.read(offset, buf)?,
        }
        Ok(())
    }

    /// Copies bytes in.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        match self {
            Opened::Plain(s) => s.write(offset, data)?,
            Opened::Qt(s) => s.write(offset, data)?,
        }
        Ok(())
    }

    /// Takes the target's lock, if it has one, waiting at most `timeout`.
    pub fn lock(&self, timeout: Duration) -> Result<Held<'_>> {
        match self {
            Opened::Qt(s) => Ok(Held::Qt(s.lock_timeout(timeout)?)),
            Opened::Plain(s) if s.kind().is_some() => Ok(Held::Shmkit(s.lock_timeout(timeout)?)),
            Opened::Plain(_) => Ok(Held::None),
        }
    }
}

/// Parses `--hex` input: pairs of hex digits, spaces allowed (`00ff10`, `00 ff 10`).
pub fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Failed(format!(
            "--hex {s:?}: write pairs of hex digits, such as 00ff10"
        )));
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_input() {
        assert_eq!(parse_hex("00ff10").unwrap(), [0, 255, 16]);
        assert_eq!(parse_hex("00 ff").unwrap(), [0, 255]);
        assert!(parse_hex("0").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
