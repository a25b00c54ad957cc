//! How a value's bytes are framed in a segment, for `read`, `watch` and `write`: as they are, as
//! a C string (`--cstring`), as the UTF-16LE text of a Win32 `UNICODE` program (`--utf16`), or as
//! Qt's `QDataStream` wrote them (`--qt-datastream bytes|string|image`). The framings themselves
//! live in the library (`shmkit::interop::win32`, `shmkit::interop::qt::datastream`); this module
//! chooses one from the flags and prints what it decodes.

use std::path::{Path, PathBuf};

use serde_json::json;
use shmkit::human_bytes;
use shmkit::interop::qt::datastream::{Reader, Version, Writer};
use shmkit::interop::win32;

use crate::error::{Error, Result};
use crate::output::Output;
use crate::output::{Format, print_value, value_json};

/// What a Qt program serialised with `QDataStream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QtKind {
    /// A QByteArray, or a `const char*` (`out << "text"`; its NUL is not printed)
    Bytes,
    /// A QString (UTF-16)
    String,
    /// A QImage (a PNG)
    Image,
}

/// The framing flags, shared by `read`, `watch` and `write`.
#[derive(Debug, Clone, clap::Args)]
pub struct FramingArgs {
    /// The value is what Qt's QDataStream makes of a QByteArray or `const char*` (bytes), a
    /// QString (string) or a QImage (image: a PNG; `write` takes a PNG file as VALUE)
    #[arg(long, value_name = "KIND", conflicts_with_all = ["utf16", "cstring"])]
    qt_datastream: Option<QtKind>,

    /// With --qt-datastream: the stream's Qt version (QDataStream::setVersion), 5, 5.15, 6, 6.7
    /// …; it matters only for values of 4 GiB and more [default: 6, Qt 6's current]
    #[arg(long, value_name = "QT", requires = "qt_datastream", value_parser = parse_qt_version)]
    qt_version: Option<Version>,

    /// The value is the TCHAR text of a Win32 UNICODE program: UTF-16LE up to a NUL (`write`
    /// adds the NUL)
    #[arg(long, conflicts_with = "cstring")]
    utf16: bool,

    /// The value is a C string: the bytes up to the first NUL (`write` adds the NUL)
    #[arg(long)]
    cstring: bool,
}

/// Parses `--qt-version`: `5` (Qt 5.15), `6` (the current Qt 6), or `MAJOR.MINOR`.
fn parse_qt_version(s: &str) -> std::result::Result<Version, String> {
    let t = s
        .trim()
        .trim_start_matches(['q', 'Q'])
        .trim_start_matches(['t', 'T']);
    let bad = || format!("{s:?} is not a Qt version; write 5, 5.15, 6 or 6.7");
    let (major, minor) = match t.split_once('.') {
        Some((a, b)) => (
            a.parse().map_err(|_| bad())?,
            Some(b.parse().map_err(|_| bad())?),
        ),
        None => (t.parse().map_err(|_| bad())?, None),
    };
    match (major, minor) {
        (5, None) => Ok(Version::QT_5_15),
        (6, None) => Ok(Version::LATEST),
        (major, Some(minor)) => Version::of_qt(major, minor).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A value as the framing gives it.
#[derive(Debug)]
pub enum Decoded {
    /// Bytes to print (text for the text framings).
    Bytes(Vec<u8>),
    /// A null QByteArray, QString or QImage (Qt tells null from empty).
    Null(&'static str),
    /// A QImage's picture.
    Image {
        png: Vec<u8>,
        width: u32,
        height: u32,
        color: &'static str,
        bit_depth: u8,
    },
}

impl FramingArgs {
    fn version(&self) -> Version {
        self.qt_version.unwrap_or_default()
    }

    /// Whether the value is a QImage.
    pub fn is_image(&self) -> bool {
        self.qt_datastream == Some(QtKind::Image)
    }

    /// What the framing is called, for messages.
    fn what(&self) -> &'static str {
        match (self.qt_datastream, self.utf16, self.cstring) {
            (Some(QtKind::Bytes), ..) => "a QDataStream QByteArray",
            (Some(QtKind::String), ..) => "a QDataStream QString",
            (Some(QtKind::Image), ..) => "a QDataStream QImage",
            (None, true, _) => "UTF-16LE text",
            (None, _, true) => "a C string",
            _ => "bytes",
        }
    }

    /// Decodes the value in `raw` (the bytes from the chosen offset to the end of the range).
    pub fn decode(&self, name: &str, raw: &[u8]) -> Result<Decoded> {
        let failed = |e: shmkit::Error| {
            Error::Failed(format!(
                "cannot read {name} as {}: {}",
                self.what(),
                e.reason_text()
            ))
        };
        let mut r = Reader::new(raw, self.version());
        Ok(match (self.qt_datastream, self.utf16, self.cstring) {
            (Some(QtKind::Bytes), ..) => match r.byte_array().map_err(failed)? {
                Some(b) => {
                    Decoded::Bytes(shmkit::interop::qt::datastream::without_terminator(b).to_vec())
                }
                None => Decoded::Null("QByteArray"),
            },
            (Some(QtKind::String), ..) => match r.string().map_err(failed)? {
                Some(s) => Decoded::Bytes(s.into_bytes()),
                None => Decoded::Null("QString"),
            },
            (Some(QtKind::Image), ..) => match r.image().map_err(failed)? {
                Some(p) => Decoded::Image {
                    png: p.bytes().to_vec(),
                    width: p.width(),
                    height: p.height(),
                    color: p.color(),
                    bit_depth: p.bit_depth(),
                },
                None => Decoded::Null("QImage"),
            },
            (None, true, _) => Decoded::Bytes(win32::wide_text(raw).map_err(failed)?.into_bytes()),
            (None, _, true) => Decoded::Bytes(win32::c_text(raw).to_vec()),
            _ => Decoded::Bytes(raw.to_vec()),
        })
    }

    /// The bytes to write for `value` (for an image: the PNG file's bytes).
    pub fn encode(&self, value: &[u8]) -> Result<Vec<u8>> {
        let failed = |e: shmkit::Error| {
            Error::Failed(format!(
                "cannot write the value as {}: {}",
                self.what(),
                e.reason_text()
            ))
        };
        let text = || {
            std::str::from_utf8(value).map_err(|e| {
                Error::Failed(format!(
                    "cannot write the value as {}: it is not UTF-8 text ({e})",
                    self.what()
                ))
            })
        };
        let mut w = Writer::new(self.version());
        Ok(match (self.qt_datastream, self.utf16, self.cstring) {
            (Some(QtKind::Bytes), ..) => w.byte_array(value).map_err(failed)?.as_bytes().to_vec(),
            (Some(QtKind::String), ..) => w.string(text()?).map_err(failed)?.as_bytes().to_vec(),
            (Some(QtKind::Image), ..) => w.image(value).map_err(failed)?.as_bytes().to_vec(),
            (None, true, _) => win32::encode_wide_text(text()?),
            (None, _, true) => win32::encode_c_text(value).map_err(failed)?,
            _ => value.to_vec(),
        })
    }
}

/// Prints a decoded value. An image's PNG goes to `image_out` when given (the picture as a
/// file); otherwise one line describes it (`--hex` dumps the PNG).
pub fn print(
    out: &mut Output,
    format: Format,
    name: &str,
    seq: u64,
    value: &Decoded,
    image_out: Option<&Path>,
) -> Result<()> {
    match value {
        Decoded::Bytes(b) => print_value(out, format, name, seq, b),
        Decoded::Null(what) => {
            if image_out.is_some() {
                return Err(Error::Failed(format!(
                    "{name} holds a null {what}: there is no picture to write"
                )));
            }
            match format {
                Format::Json => {
                    let mut v = value_json(name, seq, b"");
                    v["null"] = json!(what);
                    out.json_line(&v)
                }
                // Nothing was there: nothing is printed but the line's end.
                _ => out.line(""),
            }
        }
        Decoded::Image {
            png,
            width,
            height,
            color,
            bit_depth,
        } => {
            if let Some(path) = image_out {
                std::fs::write(path, png).map_err(|e| {
                    Error::Failed(format!(
                        "cannot write the picture to {}: {e}",
                        path.display()
                    ))
                })?;
            }
            let written = image_out.map(PathBuf::from);
            match format {
                Format::Hex if written.is_none() => crate::output::hexdump(out, png),
                Format::Json => out.json_line(&json!({
                    "name": name,
                    "seq": seq,
                    "len": png.len(),
                    "image": {
                        "width": width,
                        "height": height,
                        "color": color,
                        "bit_depth": bit_depth,
                        "format": "png",
                    },
                    "out": written.map(|p| p.display().to_string()),
                })),
                _ => {
                    let to = written
                        .map(|p| format!(", written to {}", p.display()))
                        .unwrap_or_default();
                    out.line(format_args!(
                        "QImage {width}x{height}, {color} {bit_depth}-bit, a PNG of {}{to}",
                        human_bytes(png.len() as u64)
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qt_versions() {
        assert_eq!(parse_qt_version("5"), Ok(Version::QT_5_15));
        assert_eq!(parse_qt_version("qt6"), Ok(Version::LATEST));
        assert_eq!(parse_qt_version("6.7"), Ok(Version::QT_6_7));
        assert_eq!(parse_qt_version("5.12").map(Version::number), Ok(18));
        assert!(parse_qt_version("7").is_err());
        assert!(parse_qt_version("3.3").is_err());
        assert!(parse_qt_version("six").is_err());
    }
}
