//! Qt's `QDataStream` framing, for what the classic Qt programs put in a segment.
//!
//! The tutorial pattern (Qt's own shared-memory example, and countless programs after it)
//! serialises into a `QBuffer` with `QDataStream`, creates a segment of the buffer's size, and
//! copies the buffer in under `lock()`; the reader attaches, wraps the segment in a `QBuffer`
//! and reads back with `in >> value`:
//!
//! ```cpp
//! QBuffer buffer; buffer.open(QBuffer::ReadWrite);
//! QDataStream out(&buffer);
//! out << "test sharedMemory";               // or a QByteArray, a QString, a QImage
//! shm.create(buffer.size()); shm.lock();
//! memcpy(shm.data(), buffer.data().data(), buffer.size()); shm.unlock();
//! ```
//!
//! [`Reader`] decodes those bytes and [`Writer`] makes them, for the values these programs
//! use. The bytes, checked against Qt 6.12 (PySide6) and the stream versions of Qt 5 and 6:
//!
//! | value | bytes |
//! | --- | --- |
//! | `QByteArray` | a big-endian `u32` length, then the bytes; `ff ff ff ff` for a null array |
//! | `const char*` (`out << "text"`) | the same, with the terminating NUL counted and written: `00 00 00 12` `test sharedMemory` `00`; read back with `in >> QByteArray` |
//! | `QString` | the length **in bytes**, then UTF-16BE; `ff ff ff ff` for a null string |
//! | `QImage` | a big-endian `i32` marker, `0` for a null image and `1` otherwise, then a PNG (Qt's `QImageWriter`, format `png`) that ends with its `IEND` chunk |
//!
//! From stream version [`Version::QT_6_7`] on, a length of `0xfffffffe` or more is written as
//! `ff ff ff fe` and a 64-bit big-endian length (Qt's `ExtendedSize`); older versions cannot
//! hold such values at all.
//!
//! # Hostile bytes
//!
//! Anyone who can write a segment can write any length into it. Decoding is strict and bounded:
//! a length that runs past the end of the bytes, an odd byte count for a `QString`, an unpaired
//! UTF-16 surrogate, a negative 64-bit length, a PNG that does not decode or whose picture is
//! larger than Qt itself would load ([`MAX_IMAGE_BYTES`]) — each is an
//! [`ErrorKind::Corrupt`] error saying where and what; nothing is read past the end, and the
//! PNG is decoded a row at a time, so memory stays bounded whatever the header claims.
//!
//! # Example
//!
//! ```
//! use shmkit::interop::qt::datastream::{Reader, Version, Writer};
//!
//! // What `out << "test sharedMemory"` (a const char*) puts in the segment.
//! let mut w = Writer::new(Version::LATEST);
//! w.c_string(b"test sharedMemory")?;
//! assert_eq!(&w.as_bytes()[..4], &[0, 0, 0, 18]);
//!
//! // What the reader's `in >> QByteArray` gets: the bytes with the NUL.
//! let mut r = Reader::new(w.as_bytes(), Version::LATEST);
//! let array = r.byte_array()?.expect("not a null array");
//! assert_eq!(array, b"test sharedMemory\0");
//! assert_eq!(shmkit::interop::qt::datastream::without_terminator(array), b"test sharedMemory");
//! # Ok::<(), shmkit::Error>(())
//! ```

use std::io::Cursor;

use crate::error::{Error, ErrorKind, Op, Result};

/// A `QDataStream` version (`QDataStream::Version`, set with `setVersion`). Only a few framing
/// rules depend on it here: the 64-bit lengths of [`Version::QT_6_7`] and later, and the
/// `QImage` marker (Qt 3.1 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u32);

impl Version {
    /// `Qt_4_0` (7): the oldest version these framings are checked for.
    pub const QT_4_0: Version = Version(7);
    /// `Qt_5_0` (13).
    pub const QT_5_0: Version = Version(13);
    /// `Qt_5_15` (19): the last Qt 5.
    pub const QT_5_15: Version = Version(19);
    /// `Qt_6_0` (20).
    pub const QT_6_0: Version = Version(20);
    /// `Qt_6_7` (22): lengths of 4 GiB and more as 64-bit extended sizes.
    pub const QT_6_7: Version = Version(22);
    /// The default of the newest Qt this was checked against (Qt 6.12: `Qt_6_11`, 24).
    pub const LATEST: Version = Version(24);

    /// The version with Qt's number (`QDataStream::Qt_5_15` is 19).
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] below 7 (Qt 3 and older streams frame strings and images
    /// differently).
    pub fn new(number: u32) -> Result<Version> {
        if number < Self::QT_4_0.0 {
            return Err(Error::new(ErrorKind::Unsupported, Op::Read, None).reason(format!(
                "QDataStream version {number} is older than Qt 4.0's (7); its framing is not supported"
            )));
        }
        Ok(Version(number))
    }

    /// The version of Qt `major.minor`'s `QDataStream::Qt_<major>_<minor>` (what a program
    /// built with that Qt uses unless it calls `setVersion`). `None` for versions Qt does not
    /// have (before 4.0, after 6.x, or a minor release that does not exist).
    pub fn of_qt(major: u32, minor: u32) -> Option<Version> {
        let n = match (major, minor) {
            (4, 0) => 7,
            (4, 1) => 7,
            (4, 2) => 8,
            (4, 3) => 9,
            (4, 4) => 10,
            (4, 5) => 11,
            (4, 6..=8) => 12,
            (5, 0) => 13,
            (5, 1) => 14,
            (5, 2 | 3) => 15,
            (5, 4 | 5) => 16,
            (5, 6..=11) => 17,
            (5, 12) => 18,
            (5, 13..=15) => 19,
            (6, 0..=5) => 20,
            (6, 6) => 21,
            (6, 7..=9) => 22,
            (6, 10) => 23,
            (6, 11..=99) => 24,
            _ => return None,
        };
        Some(Version(n))
    }

    /// Qt's number for this version.
    pub fn number(self) -> u32 {
        self.0
    }

    fn extended_sizes(self) -> bool {
        self >= Self::QT_6_7
    }
}

impl Default for Version {
    fn default() -> Version {
        Version::LATEST
    }
}

/// `QDataStream::NullCode`: the length of a null `QByteArray` / `QString`.
const NULL_CODE: u32 = 0xffff_ffff;
/// `QDataStream::ExtendedSize`: a 64-bit length follows (stream version 22 and later).
const EXTENDED_SIZE: u32 = 0xffff_fffe;

/// The largest picture [`Reader::image`] and [`Writer::image`] accept, in bytes of decoded
/// pixels (4 a pixel, 8 for 16-bit PNGs): Qt's own limit, `QImageReader::allocationLimit()`,
/// 256 MiB by default in Qt 6 — a larger picture would not load in the Qt program either.
pub const MAX_IMAGE_BYTES: u64 = 256 << 20;

/// The PNG signature.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn corrupt(reason: String) -> Error {
    Error::new(ErrorKind::Corrupt, Op::Read, None).reason(reason)
}

/// The bytes of a `QByteArray` without the one NUL that `out << "text"` (a `const char*`)
/// counts in the length and writes: what a C++ reader sees as the text. Other arrays are
/// returned whole.
pub fn without_terminator(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(&[0]).unwrap_or(bytes)
}

/// A PNG picture found in a segment (a `QImage`), checked to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Png<'a> {
    bytes: &'a [u8],
    width: u32,
    height: u32,
    color: &'static str,
    bit_depth: u8,
}

impl<'a> Png<'a> {
    /// The PNG, from its signature to the end of its `IEND` chunk, exactly as it was written:
    /// a file any viewer opens.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The PNG's colour type: `gray`, `rgb`, `indexed`, `gray+alpha` or `rgba`.
    pub fn color(&self) -> &'static str {
        self.color
    }

    /// Bits per sample (1, 2, 4, 8 or 16).
    pub fn bit_depth(&self) -> u8 {
        self.bit_depth
    }
}

/// Where the PNG at the start of `data` ends: after its `IEND` chunk (where Qt's reader stops).
fn png_end(data: &[u8]) -> std::result::Result<usize, String> {
    if data.len() < PNG_SIGNATURE.len() || data[..PNG_SIGNATURE.len()] != PNG_SIGNATURE {
        return Err("no PNG signature (89 50 4e 47 0d 0a 1a 0a)".into());
    }
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let Some(head) = data.get(pos..pos + 8) else {
            return Err(format!(
                "the PNG ends at byte {} without its IEND chunk",
                data.len()
            ));
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > 0x7fff_ffff {
            return Err(format!("a PNG chunk at byte {pos} claims {len} bytes"));
        }
        // Length, type, data, CRC.
        let end = pos + 12 + len as usize;
        if end > data.len() {
            return Err(format!(
                "the PNG chunk {:?} at byte {pos} needs {} bytes, only {} are left",
                String::from_utf8_lossy(&head[4..8]),
                12 + len as usize,
                data.len() - pos
            ));
        }
        if &head[4..8] == b"IEND" {
            return Ok(end);
        }
        pos = end;
    }
}

/// Checks that `data` starts with a PNG that decodes, with a picture no larger than
/// [`MAX_IMAGE_BYTES`]; returns it (cut after `IEND`).
pub fn check_png(data: &[u8]) -> Result<Png<'_>> {
    check_png_limited(data, MAX_IMAGE_BYTES)
}

/// [`check_png`] with another limit on the decoded picture (the fuzz targets use a small one).
#[doc(hidden)]
pub fn check_png_limited(data: &[u8], max_image_bytes: u64) -> Result<Png<'_>> {
    let bad = |why: String| corrupt(format!("not a PNG Qt can read: {why}"));
    let end = png_end(data).map_err(bad)?;
    let bytes = &data[..end];
    // The decoder's own allocations (a row, the inflate window, ancillary chunks): bounded.
    let limits = png::Limits { bytes: 64 << 20 };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    let info = decoder.read_header_info().map_err(|e| bad(e.to_string()))?;
    let (width, height) = (info.width, info.height);
    let bit_depth = info.bit_depth as u8;
    let color = match info.color_type {
        png::ColorType::Grayscale => "gray",
        png::ColorType::Rgb => "rgb",
        png::ColorType::Indexed => "indexed",
        png::ColorType::GrayscaleAlpha => "gray+alpha",
        png::ColorType::Rgba => "rgba",
    };
    let per_pixel = if bit_depth == 16 { 8 } else { 4 };
    let picture = u64::from(width) * u64::from(height) * per_pixel;
    if picture > max_image_bytes {
        return Err(bad(format!(
            "a {width}x{height} picture needs {picture} bytes, more than Qt loads ({max_image_bytes})"
        )));
    }
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    // Every row, one at a time: a corrupt deflate stream or a bad CRC shows up here.
    while reader.next_row().map_err(|e| bad(e.to_string()))?.is_some() {}
    reader.finish().map_err(|e| bad(e.to_string()))?;
    Ok(Png {
        bytes,
        width,
        height,
        color,
        bit_depth,
    })
}

/// Decodes values from bytes written by a `QDataStream` (`in >> value`), in order.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    version: Version,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data` (a segment's bytes, or part of them).
    pub fn new(data: &'a [u8], version: Version) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            version,
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    fn take(&mut self, n: u64, what: &str, at: usize) -> Result<&'a [u8]> {
        let left = self.data.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let out = &self.data[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => Err(corrupt(format!(
                "the {what} at byte {at} says {n} bytes, but only {left} follow"
            ))),
        }
    }

    fn be32(&mut self, what: &str) -> Result<u32> {
        let at = self.pos;
        let left = self.data.len() - self.pos;
        if left < 4 {
            return Err(corrupt(format!(
                "the {what} at byte {at} needs 4 bytes, only {left} are left"
            )));
        }
        let b = &self.data[self.pos..self.pos + 4];
        self.pos += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length (`QDataStream::readQSizeType`): `None` for the null code.
    fn size(&mut self, what: &str) -> Result<Option<u64>> {
        let at = self.pos;
        let first = self.be32(what)?;
        if first == NULL_CODE {
            return Ok(None);
        }
        if first != EXTENDED_SIZE || !self.version.extended_sizes() {
            return Ok(Some(u64::from(first)));
        }
        let hi = self.be32(what)?;
        let lo = self.be32(what)?;
        let extended = (i64::from(hi) << 32) | i64::from(lo);
        match extended {
            -1 => Ok(None),
            n if n < 0 => Err(corrupt(format!(
                "the {what} at byte {at} has a negative 64-bit length ({n})"
            ))),
            n => Ok(Some(n as u64)),
        }
    }

    /// A `QByteArray` (also what `out << "text"` wrote for a `const char*`: then the last
    /// byte is its NUL, see [`without_terminator`]). `None` for a null array.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the length runs past the end of the bytes (Qt's
    /// `ReadPastEnd`) or is a negative 64-bit length.
    pub fn byte_array(&mut self) -> Result<Option<&'a [u8]>> {
        let at = self.pos;
        match self.size("QByteArray length")? {
            None => Ok(None),
            Some(n) => self.take(n, "QByteArray length", at).map(Some),
        }
    }

    /// A `QString`: its length in bytes, then UTF-16 (big-endian, the stream's default byte
    /// order). `None` for a null string.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] for a length past the end, an odd byte count (Qt's
    /// `ReadCorruptData`), or an unpaired surrogate (which no Rust string can hold).
    pub fn string(&mut self) -> Result<Option<String>> {
        let at = self.pos;
        let Some(n) = self.size("QString length")? else {
            return Ok(None);
        };
        if n % 2 != 0 {
            return Err(corrupt(format!(
                "the QString at byte {at} says {n} bytes, an odd number: UTF-16 comes in pairs of bytes"
            )));
        }
        let bytes = self.take(n, "QString length", at)?;
        let units = bytes
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]));
        let start = self.pos - bytes.len();
        let mut text = String::with_capacity(bytes.len() / 2);
        // Code units decoded so far: where an unpaired surrogate sits.
        let mut unit = 0;
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => {
                    text.push(c);
                    unit += c.len_utf16();
                }
                Err(e) => {
                    return Err(corrupt(format!(
                        "the QString at byte {at} has an unpaired UTF-16 surrogate {:#06x} at byte {}",
                        e.unpaired_surrogate(),
                        start + 2 * unit
                    )));
                }
            }
        }
        Ok(Some(text))
    }

    /// A `QImage`: the null marker, then (if not null) a PNG, checked to decode. `None` for a
    /// null image. Like Qt, any non-zero marker means a picture follows; the PNG ends with its
    /// `IEND` chunk, and whatever follows it is left unread.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the marker is cut short or the PNG does not decode (Qt's
    /// reader then gives a null image and `ReadPastEnd`), or the picture is larger than
    /// [`MAX_IMAGE_BYTES`].
    pub fn image(&mut self) -> Result<Option<Png<'a>>> {
        self.image_limited(MAX_IMAGE_BYTES)
    }

    #[doc(hidden)]
    pub fn image_limited(&mut self, max_image_bytes: u64) -> Result<Option<Png<'a>>> {
        let at = self.pos;
        if self.be32("QImage marker")? == 0 {
            return Ok(None);
        }
        let png = check_png_limited(&self.data[self.pos..], max_image_bytes)
            .map_err(|e| corrupt(format!("the QImage at byte {at}: {}", e.reason_text())))?;
        self.pos += png.bytes.len();
        Ok(Some(png))
    }
}

/// Encodes values as a `QDataStream` writes them (`out << value`), into a buffer to copy into
/// a segment.
#[derive(Debug, Clone)]
pub struct Writer {
    buf: Vec<u8>,
    version: Version,
}

impl Writer {
    /// An empty buffer for a stream of `version`.
    pub fn new(version: Version) -> Writer {
        Writer {
            buf: Vec::new(),
            version,
        }
    }

    /// What was written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// `QDataStream::writeQSizeType`.
    fn size(&mut self, n: usize, what: &str) -> Result<()> {
        let n = n as u64;
        if n < u64::from(EXTENDED_SIZE) {
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else if self.version.extended_sizes() {
            self.buf.extend_from_slice(&EXTENDED_SIZE.to_be_bytes());
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else {
            return Err(
                Error::new(ErrorKind::InvalidSize, Op::Write, None).reason(format!(
                    "a {what} of {n} bytes needs QDataStream version 22 (Qt 6.7) or later; \
                     version {} cannot hold it",
                    self.version.0
                )),
            );
        }
        Ok(())
    }

    /// A `QByteArray` (`out << QByteArray(bytes)`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] for 4 GiB or more before [`Version::QT_6_7`].
    pub fn byte_array(&mut self, bytes: &[u8]) -> Result<&mut Writer> {
        self.size(bytes.len(), "QByteArray")?;
        self.buf.extend_from_slice(bytes);
        Ok(self)
    }

    /// A null `QByteArray` (`out << QByteArray()`): `ff ff ff ff`.
    pub fn null_byte_array(&mut self) -> &mut Writer {
        self.buf.extend_from_slice(&NULL_CODE.to_be_bytes());
        self
    }

    /// What `out << "text"` writes for a `const char*`: the length counting a terminating NUL,
    /// the text, the NUL. A reader's `in >> QByteArray` gets the text and the NUL.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] if `text` holds a NUL (a C string would end there) or is too
    /// large for the version.
    pub fn c_string(&mut self, text: &[u8]) -> Result<&mut Writer> {
        if let Some(i) = text.iter().position(|&b| b == 0) {
            return Err(
                Error::new(ErrorKind::InvalidSize, Op::Write, None).reason(format!(
                    "the text has a NUL byte at {i}: a C string would end there"
                )),
            );
        }
        self.size(text.len() + 1, "C string")?;
        self.buf.extend_from_slice(text);
        self.buf.push(0);
        Ok(self)
    }

    /// A `QString` (`out << QString(text)`): its length in bytes, then UTF-16BE.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] for 4 GiB or more of UTF-16 before [`Version::QT_6_7`].
    pub fn string(&mut self, text: &str) -> Result<&mut Writer> {
        let units: Vec<u16> = text.encode_utf16().collect();
        self.size(units.len() * 2, "QString")?;
        self.buf.reserve(units.len() * 2);
        for u in units {
            self.buf.extend_from_slice(&u.to_be_bytes());
        }
        Ok(self)
    }

    /// A null `QString`: `ff ff ff ff`.
    pub fn null_string(&mut self) -> &mut Writer {
        self.buf.extend_from_slice(&NULL_CODE.to_be_bytes());
        self
    }

    /// A `QImage` holding the picture of the PNG `png` (a file's bytes): the marker `1`, then
    /// the PNG up to its `IEND` chunk, which Qt's `in >> image` decodes. The PNG is kept as it
    /// is (Qt reads any PNG), after checking that it decodes and is no larger than Qt loads.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] if `png` is not a PNG that decodes, or its picture is larger
    /// than [`MAX_IMAGE_BYTES`].
    pub fn image(&mut self, png: &[u8]) -> Result<&mut Writer> {
        let png = check_png(png)?;
        self.buf.extend_from_slice(&1u32.to_be_bytes());
        self.buf.extend_from_slice(png.bytes);
        Ok(self)
    }

    /// A null `QImage`: the marker `0`.
    pub fn null_image(&mut self) -> &mut Writer {
        self.buf.extend_from_slice(&0u32.to_be_bytes());
        self
    }
}

/// The fuzz target's entry point: decodes `bytes` as each framing, with a small picture limit.
#[doc(hidden)]
pub fn fuzz_decode(bytes: &[u8]) {
    for version in [Version::QT_5_15, Version::LATEST] {
        let _ = Reader::new(bytes, version).byte_array();
        let _ = Reader::new(bytes, version).string();
        let _ = Reader::new(bytes, version).image_limited(1 << 20);
        // Several values in a row, as a program that streams more than one.
        let mut r = Reader::new(bytes, version);
        while r
            .byte_array()
            .is_ok_and(|a| a.is_some_and(|a| !a.is_empty()))
        {}
        assert!(r.position() <= bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_bytes(b: &[u8]) -> Result<Option<Vec<u8>>> {
        Reader::new(b, Version::LATEST)
            .byte_array()
            .map(|o| o.map(<[u8]>::to_vec))
    }

    #[test]
    fn byte_arrays_and_c_strings() {
        let mut w = Writer::new(Version::LATEST);
        w.c_string(b"test sharedMemory").unwrap();
        let mut want = vec![0, 0, 0, 0x12];
        want.extend_from_slice(b"test sharedMemory\0");
        assert_eq!(w.as_bytes(), want);
        assert_eq!(read_bytes(&want).unwrap().unwrap(), b"test sharedMemory\0");
        let mut w = Writer::new(Version::QT_5_15);
        w.byte_array(b"").unwrap().null_byte_array();
        assert_eq!(w.as_bytes(), [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        let mut r = Reader::new(w.as_bytes(), Version::QT_5_15);
        assert_eq!(r.byte_array().unwrap(), Some(&b""[..]));
        assert_eq!(r.byte_array().unwrap(), None);
        assert_eq!(r.position(), 8);
        assert!(Writer::new(Version::LATEST).c_string(b"a\0b").is_err());
        assert_eq!(without_terminator(b"ab\0"), b"ab");
        assert_eq!(without_terminator(b"ab"), b"ab");
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        let e = read_bytes(&[0, 0, 0, 10, b'a']).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.reason_text().contains("says 10 bytes, but only 1 follow"),
            "{e}"
        );
        assert!(read_bytes(&[0, 0, 1]).is_err());
        assert!(read_bytes(&[]).is_err());
    }

    #[test]
    fn extended_lengths_only_from_qt_6_7() {
        // 0xfffffffe: in a Qt 5 stream a plain (huge) length, past any end.
        let mut b = vec![
            0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 3, b'x', b'y', b'z',
        ];
        assert!(
            Reader::new(&b, Version::QT_5_15)
                .byte_array()
                .unwrap_err()
                .reason_text()
                .contains("4294967294")
        );
        assert_eq!(
            Reader::new(&b, Version::QT_6_7).byte_array().unwrap(),
            Some(&b"xyz"[..])
        );
        // An extended -1 is a null array; other negative lengths are errors.
        b[4..12].copy_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(Reader::new(&b, Version::LATEST).byte_array().unwrap(), None);
        b[4..12].copy_from_slice(&(-2i64).to_be_bytes());
        assert!(
            Reader::new(&b, Version::LATEST)
                .byte_array()
                .unwrap_err()
                .reason_text()
                .contains("negative")
        );
        b[4..12].copy_from_slice(&i64::MAX.to_be_bytes());
        assert!(Reader::new(&b, Version::LATEST).byte_array().is_err());
    }

    #[test]
    fn strings_are_utf16_big_endian_by_byte_length() {
        let mut w = Writer::new(Version::LATEST);
        w.string("héllo").unwrap().null_string();
        assert_eq!(
            w.as_bytes(),
            [
                0, 0, 0, 10, 0, b'h', 0, 0xe9, 0, b'l', 0, b'l', 0, b'o', 0xff, 0xff, 0xff, 0xff
            ]
        );
        let mut r = Reader::new(w.as_bytes(), Version::LATEST);
        assert_eq!(r.string().unwrap().as_deref(), Some("héllo"));
        assert_eq!(r.string().unwrap(), None);
        let e = Reader::new(&[0, 0, 0, 3, 0, b'a', 0], Version::LATEST)
            .string()
            .unwrap_err();
        assert!(e.reason_text().contains("odd"), "{e}");
        let e = Reader::new(&[0, 0, 0, 2, 0xd8, 0x00], Version::LATEST)
            .string()
            .unwrap_err();
        assert!(e.reason_text().contains("unpaired"), "{e}");
        let mut w = Writer::new(Version::LATEST);
        w.string("😀").unwrap();
        assert_eq!(
            Reader::new(w.as_bytes(), Version::LATEST)
                .string()
                .unwrap()
                .as_deref(),
            Some("😀")
        );
    }

    /// A 2x1 RGBA PNG made with the `png` crate.
    fn tiny_png() -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 2, 1);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn images_are_a_marker_and_a_png() {
        let png = tiny_png();
        let mut w = Writer::new(Version::LATEST);
        w.image(&png).unwrap().null_image();
        assert_eq!(&w.as_bytes()[..4], &[0, 0, 0, 1]);
        let mut with_tail = w.as_bytes().to_vec();
        with_tail.extend_from_slice(b"trailing");
        let mut r = Reader::new(&with_tail, Version::LATEST);
        let img = r.image().unwrap().unwrap();
        assert_eq!((img.width(), img.height(), img.color()), (2, 1, "rgba"));
        assert_eq!(img.bytes(), &png[..]);
        assert_eq!(r.image().unwrap(), None);
        assert_eq!(r.rest(), b"trailing");
    }

    #[test]
    fn broken_pngs_are_errors() {
        let png = tiny_png();
        // Cut short, a flipped bit in the pixel data (bad CRC), no signature.
        for bad in [
            png[..png.len() - 5].to_vec(),
            {
                let mut p = png.clone();
                let idat = p.windows(4).position(|w| w == b"IDAT").unwrap();
                p[idat + 6] ^= 0x40;
                p
            },
            b"GIF89a".to_vec(),
        ] {
            let mut b = vec![0, 0, 0, 1];
            b.extend_from_slice(&bad);
            let e = Reader::new(&b, Version::LATEST).image().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt);
            assert!(e.reason_text().contains("not a PNG Qt can read"), "{e}");
            assert!(Writer::new(Version::LATEST).image(&bad).is_err());
        }
        // Larger than Qt loads: the header alone says so, nothing is allocated for it.
        let e = check_png_limited(&png, 7).unwrap_err();
        assert!(e.reason_text().contains("more than Qt loads"), "{e}");
    }

    #[test]
    fn versions() {
        assert_eq!(Version::of_qt(5, 15), Some(Version::QT_5_15));
        assert_eq!(Version::of_qt(6, 7), Some(Version::QT_6_7));
        assert_eq!(Version::of_qt(6, 12), Some(Version::LATEST));
        assert_eq!(Version::of_qt(3, 3), None);
        assert!(Version::new(5).is_err());
        assert_eq!(Version::new(18).unwrap().number(), 18);
    }
}
