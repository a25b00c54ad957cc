//! What travels on the wire: the frame's bytes as the Zenoh payload, unchanged; the frame's
//! sequence number, publish time and the source's geometry in a fixed 48-byte attachment; its
//! [`Format`] as the Zenoh encoding.
//!
//! # The attachment (version 1)
//!
//! All integers little-endian:
//!
//! ```text
//! offset size  field
//!      0    1  version    1
//!      1    1  kind       1 a stream's frame, 2 a cell's value, 3 a stream's description (the
//!                         reply to a query: empty payload, no frame)
//!      2    1  policy     the stream's policy: 0 overwrite, 1 block (0 for cells)
//!      3    5  reserved   0
//!      8    8  seq        the frame's sequence number in its stream (from 1), or the value's in
//!                         its cell
//!     16    8  time_ns    when it was published: nanoseconds since the Unix epoch, by the
//!                         publishing machine's clock (0: unknown)
//!     24    8  source     which incarnation of the stream or cell it comes from (its creation
//!                         time in nanoseconds): sequence numbers start again when it changes
//!     32    8  max_len    the stream's largest frame, or the cell's capacity
//!     40    8  ring       the stream's ring size in bytes (0 for cells)
//! ```
//!
//! A reader accepts longer attachments of version 1 (fields may be added at the end) and
//! ignores samples whose attachment it cannot read as far as sequence accounting goes: any
//! Zenoh program may publish on an imported key.
//!
//! # The encoding
//!
//! No format: Zenoh's default (`zenoh/bytes`). A media type (`image/png`, `text/plain`): that
//! media type. A raw image: `application/octet-stream` with the format as its schema,
//! `application/octet-stream;rgba8:1920x1080`.

use shmkit::Format;
use shmkit::stream::Policy;
use zenoh::bytes::Encoding;

/// Bytes of a version-1 attachment.
pub const META_LEN: usize = 48;
/// The attachment's version.
pub const META_VERSION: u8 = 1;

/// What a sample carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// A frame of a stream.
    Frame,
    /// A value of a cell.
    Value,
    /// A stream's description, without a frame (a query's reply).
    Description,
}

impl SampleKind {
    fn code(self) -> u8 {
        match self {
            SampleKind::Frame => 1,
            SampleKind::Value => 2,
            SampleKind::Description => 3,
        }
    }

    fn from_code(c: u8) -> Option<SampleKind> {
        match c {
            1 => Some(SampleKind::Frame),
            2 => Some(SampleKind::Value),
            3 => Some(SampleKind::Description),
            _ => None,
        }
    }

    /// Whether it comes from a stream (a frame or a description) rather than a cell.
    pub fn is_stream(self) -> bool {
        self != SampleKind::Value
    }
}

/// The attachment of a sample: where it comes from and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Meta {
    /// What the sample carries.
    pub kind: SampleKind,
    /// The source stream's policy ([`Policy::Overwrite`] for cells).
    pub policy: Policy,
    /// The frame's (or value's) sequence number.
    pub seq: u64,
    /// Publish time, nanoseconds since the Unix epoch (0: unknown).
    pub time_ns: u64,
    /// The source's incarnation: its creation time in nanoseconds.
    pub source: u64,
    /// The stream's largest frame or the cell's capacity.
    pub max_len: u64,
    /// The stream's ring (0 for cells).
    pub ring: u64,
}

impl Meta {
    /// The attachment bytes.
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[0] = META_VERSION;
        b[1] = self.kind.code();
        b[2] = match self.policy {
            Policy::Overwrite => 0,
            Policy::Block => 1,
        };
        for (off, v) in [
            (8, self.seq),
            (16, self.time_ns),
            (24, self.source),
            (32, self.max_len),
            (40, self.ring),
        ] {
            b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Reads an attachment; `None` if it is not a version-1 shmkit attachment (a sample from
    /// another Zenoh program).
    pub fn decode(b: &[u8]) -> Option<Meta> {
        if b.len() < META_LEN || b[0] != META_VERSION {
            return None;
        }
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        Some(Meta {
            kind: SampleKind::from_code(b[1])?,
            policy: match b[2] {
                0 => Policy::Overwrite,
                1 => Policy::Block,
                _ => return None,
            },
            seq: u64_at(8),
            time_ns: u64_at(16),
            source: u64_at(24),
            max_len: u64_at(32),
            ring: u64_at(40),
        })
    }
}

/// The prefix of a raw image's encoding.
const IMAGE_PREFIX: &str = "application/octet-stream;";

/// The Zenoh encoding of frames of `format`.
pub fn encoding(format: Option<&Format>) -> Encoding {
    match format {
        None => Encoding::default(),
        Some(f @ Format::Image { .. }) => Encoding::from(format!("{IMAGE_PREFIX}{f}")),
        Some(f) => Encoding::from(f.to_string()),
    }
}

/// The format a Zenoh encoding says, if it says one shmkit can record: a raw image in the form
/// [`encoding`] writes, or any media type (`type/subtype`, without parameters) other than
/// Zenoh's own `zenoh/...` types.
pub fn format(encoding: &Encoding) -> Option<Format> {
    let text = encoding.to_string();
    if let Some(image) = text.strip_prefix(IMAGE_PREFIX) {
        return image
            .parse::<Format>()
            .ok()
            .filter(|f| f.frame_len().is_some());
    }
    let media = text.split(';').next().unwrap_or_default();
    if media.starts_with("zenoh/") {
        return None;
    }
    Format::media(media).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmkit::Pixel;

    #[test]
    fn the_attachment_round_trips_and_its_bytes_are_the_documented_ones() {
        let m = Meta {
            kind: SampleKind::Frame,
            policy: Policy::Block,
            seq: 0x0102_0304_0506_0708,
            time_ns: 1_700_000_000_123_456_789,
            source: 42,
            max_len: 8 << 20,
            ring: 64 << 20,
        };
        let b = m.encode();
        assert_eq!(Meta::decode(&b), Some(m));
        assert_eq!(&b[..8], &[1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(
            &b[8..16],
            &[8, 7, 6, 5, 4, 3, 2, 1],
            "little-endian seq at 8"
        );
        assert_eq!(u64::from_le_bytes(b[24..32].try_into().unwrap()), 42);
        assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()), 64 << 20);
        // Longer attachments of version 1 are read; others are foreign.
        let mut longer = b.to_vec();
        longer.extend([9; 8]);
        assert_eq!(Meta::decode(&longer), Some(m));
        assert_eq!(Meta::decode(&b[..47]), None);
        let mut v2 = b;
        v2[0] = 2;
        assert_eq!(Meta::decode(&v2), None);
        let mut bad_kind = b;
        bad_kind[1] = 9;
        assert_eq!(Meta::decode(&bad_kind), None);
        let mut bad_policy = b;
        bad_policy[2] = 7;
        assert_eq!(Meta::decode(&bad_policy), None);
        assert_eq!(Meta::decode(b"hello"), None);
    }

    #[test]
    fn formats_travel_as_encodings() {
        let image = Format::image(Pixel::Rgba8, 1920, 1080).unwrap();
        let e = encoding(Some(&image));
        assert_eq!(e.to_string(), "application/octet-stream;rgba8:1920x1080");
        assert_eq!(format(&e), Some(image));
        let png = Format::media("image/png").unwrap();
        assert_eq!(encoding(Some(&png)).to_string(), "image/png");
        assert_eq!(format(&encoding(Some(&png))), Some(png));
        assert_eq!(format(&encoding(None)), None);
        assert_eq!(format(&Encoding::ZENOH_STRING), None);
        assert_eq!(
            format(&Encoding::from("text/plain;charset=utf-8")),
            Some(Format::media("text/plain").unwrap())
        );
        // A schema that is no image is no format.
        assert_eq!(
            format(&Encoding::from("application/octet-stream;whatever")),
            None
        );
    }
}
