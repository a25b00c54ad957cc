//! What a segment's bytes are: a raw image format or a media type, recorded in the header at
//! create time so that every tool (`shmkit info`, `top`, `view`) can show frames and values for
//! what they are.
//!
//! ```
//! use shmkit::{Format, Pixel};
//!
//! let f: Format = "rgba8:1920x1080".parse()?;
//! assert_eq!(f, Format::image(Pixel::Rgba8, 1920, 1080)?);
//! assert_eq!(f.frame_len(), Some(1920 * 1080 * 4));
//! assert_eq!(f.to_string(), "rgba8:1920x1080");
//!
//! let png: Format = "image/png".parse()?;
//! assert_eq!(png.media_type(), Some("image/png"));
//! # Ok::<(), shmkit::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Op};

/// Bytes the format takes in the header.
pub(crate) const FORMAT_LEN: usize = 256;
/// The longest media type stored.
pub const MAX_MEDIA_TYPE_LEN: usize = FORMAT_LEN - 24;

/// The layout of one pixel of a raw image.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pixel {
    /// One byte of gray.
    Gray8,
    /// Two bytes of gray, little-endian.
    Gray16Le,
    /// Red, green, blue: a byte each.
    Rgb8,
    /// Blue, green, red: a byte each (OpenCV's order).
    Bgr8,
    /// Red, green, blue, alpha: a byte each.
    Rgba8,
    /// Blue, green, red, alpha: a byte each (Windows' and Qt's ARGB32 in memory).
    Bgra8,
}

const PIXELS: [(Pixel, &str, u32, u32); 6] = [
    (Pixel::Gray8, "gray8", 1, 1),
    (Pixel::Gray16Le, "gray16le", 2, 2),
    (Pixel::Rgb8, "rgb8", 3, 3),
    (Pixel::Bgr8, "bgr8", 4, 3),
    (Pixel::Rgba8, "rgba8", 5, 4),
    (Pixel::Bgra8, "bgra8", 6, 4),
];

impl Pixel {
    fn row(self) -> (Pixel, &'static str, u32, u32) {
        *PIXELS
            .iter()
            .find(|p| p.0 == self)
            .expect("every pixel has a row")
    }

    /// Bytes per pixel.
    pub fn bytes(self) -> u32 {
        self.row().3
    }

    /// The name used in format strings (`rgba8`, ...).
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    fn code(self) -> u32 {
        self.row().2
    }

    fn from_code(code: u32) -> Option<Pixel> {
        PIXELS.iter().find(|p| p.2 == code).map(|p| p.0)
    }

    /// Every pixel layout, for help texts.
    pub fn all() -> impl Iterator<Item = Pixel> {
        PIXELS.iter().map(|p| p.0)
    }
}

/// What a segment's bytes are.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Format {
    /// A raw image: `height` rows of `stride` bytes, each starting with `width` pixels.
    Image {
        /// The pixel layout.
        pixel: Pixel,
        /// Pixels per row.
        width: u32,
        /// Rows.
        height: u32,
        /// Bytes from one row to the next (at least `width × bytes per pixel`).
        stride: u32,
    },
    /// A media type (`image/png`, `text/plain`, `application/json`, any `type/subtype`).
    Media(String),
}

fn invalid(why: String) -> Error {
    Error::new(ErrorKind::InvalidInput, Op::Format, None).reason(why)
}

impl Format {
    /// A raw image with rows packed tightly (stride = width × bytes per pixel).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a zero width or height, or a frame larger than 4 GiB.
    pub fn image(pixel: Pixel, width: u32, height: u32) -> crate::Result<Format> {
        let stride = width
            .checked_mul(pixel.bytes())
            .ok_or_else(|| invalid(format!("{width} pixels per row are too many")))?;
        Format::image_with_stride(pixel, width, height, stride)
    }

    /// A raw image whose rows are `stride` bytes apart.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a zero width or height, a stride shorter than a row, or
    /// a frame larger than 4 GiB.
    pub fn image_with_stride(
        pixel: Pixel,
        width: u32,
        height: u32,
        stride: u32,
    ) -> crate::Result<Format> {
        if width == 0 || height == 0 {
            return Err(invalid(format!(
                "an image of {width}x{height} pixels has none"
            )));
        }
        let row = u64::from(width) * u64::from(pixel.bytes());
        if u64::from(stride) < row {
            return Err(invalid(format!(
                "a stride of {stride} bytes is shorter than a row of {width} {} pixels ({row} \
                 bytes)",
                pixel.as_str()
            )));
        }
        if u64::from(stride) * u64::from(height) > u64::from(u32::MAX) {
            return Err(invalid(format!(
                "an image of {height} rows of {stride} bytes is larger than 4 GiB"
            )));
        }
        Ok(Format::Image {
            pixel,
            width,
            height,
            stride,
        })
    }

    /// A media type: `type/subtype`, each part 1 to 127 characters of letters, digits and
    /// ``! # $ & - ^ _ . +``, starting with a letter or digit (RFC 6838); stored lowercase.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the broken rule.
    pub fn media(media_type: &str) -> crate::Result<Format> {
        let lower = media_type.to_ascii_lowercase();
        let Some((ty, sub)) = lower.split_once('/') else {
            return Err(invalid(format!(
                "{media_type:?} is not a media type (type/subtype, like image/png) nor a raw \
                 image format (like rgba8:640x480)"
            )));
        };
        for part in [ty, sub] {
            let ok = (1..=127).contains(&part.len())
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
            if !ok {
                return Err(invalid(format!(
                    "{media_type:?}: {part:?} is not a valid media type part (1 to 127 letters, \
                     digits or ! # $ & - ^ _ . +, starting with a letter or digit)"
                )));
            }
        }
        Ok(Format::Media(lower))
    }

    /// The bytes of one frame or value of this format, if it has a fixed size (raw images).
    pub fn frame_len(&self) -> Option<usize> {
        match *self {
            Format::Image { height, stride, .. } => {
                usize::try_from(u64::from(stride) * u64::from(height)).ok()
            }
            Format::Media(_) => None,
        }
    }

    /// The media type, if it is one.
    pub fn media_type(&self) -> Option<&str> {
        match self {
            Format::Media(m) => Some(m),
            Format::Image { .. } => None,
        }
    }

    /// The header bytes that record it.
    pub(crate) fn encode(this: Option<&Format>) -> [u8; FORMAT_LEN] {
        let mut b = [0u8; FORMAT_LEN];
        let mut put = |o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        match this {
            None => {}
            Some(Format::Image {
                pixel,
                width,
                height,
                stride,
            }) => {
                put(0, 1);
                put(4, pixel.code());
                put(8, *width);
                put(12, *height);
                put(16, *stride);
            }
            Some(Format::Media(m)) => {
                put(0, 2);
                put(20, m.len() as u32);
                b[24..24 + m.len()].copy_from_slice(m.as_bytes());
            }
        }
        b
    }

    /// Reads the format back from header bytes, validating it like a new one (the bytes may be
    /// anything: another process may have written them).
    pub(crate) fn decode(b: &[u8; FORMAT_LEN]) -> Result<Option<Format>, String> {
        let get = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        match get(0) {
            0 => Ok(None),
            1 => {
                let pixel = Pixel::from_code(get(4))
                    .ok_or_else(|| format!("an unknown pixel layout (code {})", get(4)))?;
                Format::image_with_stride(pixel, get(8), get(12), get(16))
                    .map(Some)
                    .map_err(|e| e.reason_text().to_string())
            }
            2 => {
                let len = get(20) as usize;
                let bytes = b
                    .get(24..24usize.saturating_add(len))
                    .filter(|_| len <= MAX_MEDIA_TYPE_LEN)
                    .ok_or_else(|| format!("a media type of {len} bytes"))?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| "a media type that is not text".to_string())?;
                Format::media(text)
                    .map(Some)
                    .map_err(|e| e.reason_text().to_string())
            }
            tag => Err(format!("an unknown kind of format (code {tag})")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Image {
                pixel,
                width,
                height,
                stride,
            } => {
                write!(f, "{}:{width}x{height}", pixel.as_str())?;
                if u64::from(*stride) != u64::from(*width) * u64::from(pixel.bytes()) {
                    write!(f, ":stride={stride}")?;
                }
                Ok(())
            }
            Format::Media(m) => f.write_str(m),
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    /// `PIXEL:WIDTHxHEIGHT[:stride=BYTES]` (`rgba8:1920x1080`; pixels `gray8`, `gray16le`,
    /// `rgb8`, `bgr8`, `rgba8`, `bgra8`) or a media type (`image/png`).
    fn from_str(text: &str) -> crate::Result<Format> {
        parse(text.trim()).map_err(|e| e.named(text))
    }
}

fn parse(s: &str) -> crate::Result<Format> {
    {
        let Some((pixel, rest)) = s.split_once(':') else {
            return Format::media(s);
        };
        let names = || {
            Pixel::all()
                .map(Pixel::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let pixel = Pixel::all()
            .find(|p| p.as_str().eq_ignore_ascii_case(pixel))
            .ok_or_else(|| {
                invalid(format!(
                    "{pixel:?} is not a pixel layout; use one of {}",
                    names()
                ))
            })?;
        let (size, stride) = match rest.split_once(':') {
            Some((size, stride)) => (size, Some(stride)),
            None => (rest, None),
        };
        let dims = size.split_once(['x', 'X']).and_then(|(w, h)| {
            Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?))
        });
        let Some((width, height)) = dims else {
            return Err(invalid(format!(
                "{size:?} is not a size; write WIDTHxHEIGHT, like 1920x1080"
            )));
        };
        match stride {
            None => Format::image(pixel, width, height),
            Some(st) => {
                let bytes = st
                    .strip_prefix("stride=")
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    .ok_or_else(|| {
                        invalid(format!(
                            "{st:?}: write the row stride as stride=BYTES, like stride=7680"
                        ))
                    })?;
                Format::image_with_stride(pixel, width, height, bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shows_and_round_trips_through_the_header() {
        for s in [
            "rgba8:1920x1080",
            "gray8:640x480",
            "gray16le:4x4",
            "bgr8:3x2:stride=12",
            "image/png",
            "application/vnd.api+json",
            "text/plain",
        ] {
            let f: Format = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
            assert_eq!(
                Format::decode(&Format::encode(Some(&f))).unwrap(),
                Some(f.clone())
            );
        }
        assert_eq!(Format::decode(&Format::encode(None)).unwrap(), None);
        let f: Format = "RGBA8:2X3".parse().unwrap();
        assert_eq!(f.frame_len(), Some(24));
        assert_eq!(
            "IMAGE/PNG".parse::<Format>().unwrap().media_type(),
            Some("image/png")
        );
    }

    #[test]
    fn bad_formats_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Format>().unwrap_err().to_string();
        assert!(err("rgba9:2x2").contains("not a pixel layout"));
        assert!(err("rgba8:2by2").contains("WIDTHxHEIGHT"));
        assert!(err("rgba8:0x2").contains("has none"));
        assert!(err("rgb8:4x1:stride=11").contains("shorter than a row"));
        assert!(err("rgba8:65536x65536").contains("larger than 4 GiB"));
        assert!(err("png").contains("not a media type"));
        assert!(err("image/").contains("not a valid media type part"));
        assert!(err("image/p ng").contains("not a valid media type part"));
    }

    #[test]
    fn hostile_header_bytes_are_refused() {
        let mut b = Format::encode(Some(&"rgba8:2x2".parse().unwrap()));
        b[4] = 99;
        assert!(Format::decode(&b).unwrap_err().contains("pixel"));
        let mut b = Format::encode(Some(&"image/png".parse().unwrap()));
        b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Format::decode(&b).unwrap_err().contains("media type"));
        let mut b = [0u8; FORMAT_LEN];
        b[0] = 7;
        assert!(Format::decode(&b).is_err());
    }
}
