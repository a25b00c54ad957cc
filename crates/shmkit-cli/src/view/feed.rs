//! What a page shows, taken from shared memory: the newest frame of a stream, the newest value of
//! a cell, the bytes of a bytes segment or of another program's segment — each as an [`Item`]
//! ready for the browser (a picture as RGBA, a PNG or JPEG as is, text, or bytes for a hex view).
//!
//! A feed runs on a thread of its own (the library's waits block) and hands out one item per
//! request, always the newest, never a backlog: a stream is read by one more subscriber that
//! does not hold the publisher back (`hold(false)`) and skips to the newest frame before each
//! read (`seek_newest`); a cell waits for a newer value (`wait_newer`, a futex: no polling).
//! Only other programs' segments, which announce no change, are looked at every
//! [`POLL_INTERVAL`].

use std::time::Duration;

use serde_json::{Value, json};
use shmkit::interop::qt::datastream::{Reader, Version};
use shmkit::stream::{StreamOptions, Subscriber};
use shmkit::{Access, Cell, ErrorKind, Format, Kind, Segment, SegmentKind};

use super::pixels;
use crate::error::{Error, Result};
use crate::opened::{DEFAULT_TIMEOUT, Opened};
use crate::source::POLL_INTERVAL;
use crate::target::Target;

/// How long one wait lasts before the feed looks whether its page is gone.
const SLICE: Duration = Duration::from_millis(200);

/// Text and hex views get at most this many bytes of a value (a page cannot show more).
const MAX_SHOWN: usize = 1 << 20;

/// Other programs' segments larger than this are shown by their first bytes only.
const MAX_FOREIGN: usize = 64 << 20;

/// One frame or value, as it goes to the browser: a binary WebSocket message of a 4-byte
/// little-endian length, that many bytes of JSON (`meta`), then the payload.
#[derive(Debug)]
pub struct Item {
    pub meta: Value,
    pub payload: Vec<u8>,
}

impl Item {
    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let meta = self.meta.to_string();
        let mut msg = Vec::with_capacity(4 + meta.len() + self.payload.len());
        msg.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        msg.extend_from_slice(meta.as_bytes());
        msg.extend_from_slice(&self.payload);
        msg
    }
}

/// Where the bytes come from.
enum Origin {
    Stream(Box<Subscriber>),
    Cell(Cell),
    Bytes {
        seg: Segment,
        seen: Option<u32>,
    },
    Foreign {
        opened: Opened,
        last: Option<Vec<u8>>,
        seq: u64,
        qt: bool,
    },
}

/// A page's source of items.
pub struct Feed {
    from: Origin,
    /// What the bytes are: the `--format`/`format=` given, else the segment's own.
    format: Option<Format>,
    last_seq: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("kind", &self.kind()).finish()
    }
}

impl Feed {
    /// Opens `target` read-only, as what it is. `format` overrides the segment's own.
    ///
    /// # Errors
    /// What `shmkit read`, `sub` or `dump` would say about the target (no such segment, no
    /// permission, a bad name).
    pub fn open(target: &Target, format: Option<Format>) -> Result<Feed> {
        let foreign = |qt: bool| -> Result<Origin> {
            Ok(Origin::Foreign {
                opened: Opened::open(target, Access::ReadOnly, DEFAULT_TIMEOUT)?,
                last: None,
                seq: 0,
                qt,
            })
        };
        let from = match target {
            Target::Qt(_) => foreign(true)?,
            Target::Posix(_) => foreign(false)?,
            Target::Shmkit(name) => match Segment::info(name)?.kind {
                SegmentKind::Shmkit(Kind::Stream) => Origin::Stream(Box::new(
                    StreamOptions::new().hold(false).subscribe(name.as_str())?,
                )),
                SegmentKind::Shmkit(Kind::Cell) => {
                    Origin::Cell(Cell::open(name.as_str(), Access::ReadOnly)?)
                }
                SegmentKind::Shmkit(Kind::Bytes) => Origin::Bytes {
                    seg: Segment::open(name.as_str(), Access::ReadOnly)?,
                    seen: None,
                },
                _ => foreign(false)?,
            },
        };
        let own = match &from {
            Origin::Stream(s) => s.format().cloned(),
            Origin::Cell(c) => c.format().cloned(),
            Origin::Bytes { seg, .. } => seg.format().cloned(),
            Origin::Foreign { .. } => None,
        };
        Ok(Feed {
            from,
            format: format.or(own),
            last_seq: 0,
            buf: Vec::new(),
        })
    }

    /// `stream`, `cell`, `bytes` or `foreign`.
    pub fn kind(&self) -> &'static str {
        match self.from {
            Origin::Stream(_) => "stream",
            Origin::Cell(_) => "cell",
            Origin::Bytes { .. } => "bytes",
            Origin::Foreign { .. } => "foreign",
        }
    }

    /// The format the items are shown as.
    pub fn format(&self) -> Option<&Format> {
        self.format.as_ref()
    }

    /// Waits for the newest frame or value not shown yet and returns it; `Ok(None)` as soon as
    /// `gone()` says the page is gone (looked at between waits of [`SLICE`]).
    ///
    /// # Errors
    /// A corrupt stream or cell; a stream whose name was removed; another program's segment
    /// that can no longer be read.
    pub fn next(&mut self, gone: &dyn Fn() -> bool) -> Result<Option<Item>> {
        let (seq, time_ns, lost) = loop {
            if gone() {
                return Ok(None);
            }
            if let Some(got) = self.read_newer()? {
                break got;
            }
        };
        self.last_seq = seq;
        Ok(Some(self.item(seq, time_ns, lost)))
    }

    /// One wait of at most [`SLICE`] for something newer; copies it into `buf`:
    /// `(seq, publish time in ns (0: unknown), frames lost before it)`.
    fn read_newer(&mut self) -> Result<Option<(u64, u64, u64)>> {
        let last = self.last_seq;
        let buf = &mut self.buf;
        match &mut self.from {
            Origin::Stream(sub) => {
                if sub.is_removed() {
                    return Err(Error::Failed(format!(
                        "{} was removed (or made anew): reload the page",
                        sub.name()
                    )));
                }
                // The newest frame, skipping any backlog; skipped frames are not losses.
                sub.seek_newest();
                let view = match sub.recv_view(SLICE) {
                    Ok(v) => v,
                    Err(e) if e.kind() == ErrorKind::Timeout => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let r = view.received();
                view.bytes().read_into(buf);
                // Overwritten while copied (the publisher lapped us): take the next newest.
                if !view.is_intact() || r.seq <= last {
                    return Ok(None);
                }
                Ok(Some((r.seq, r.time_ns, r.lost)))
            }
            Origin::Cell(cell) => {
                match cell.wait_newer(last, Some(SLICE)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Timeout => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
                let seq = cell.read_into(buf)?;
                let time = cell
                    .last_publish()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as u64);
                Ok((seq > last).then_some((seq, time, 0)))
            }
            Origin::Bytes { seg, seen } => {
                let count = match *seen {
                    None => seg.change_count(),
                    Some(s) => match seg.wait_change(s, Some(SLICE)) {
                        Ok(c) => c,
                        Err(e) if e.kind() == ErrorKind::Timeout => return Ok(None),
                        Err(e) => return Err(e.into()),
                    },
                };
                *seen = Some(count);
                buf.resize(seg.len().min(MAX_FOREIGN), 0);
                seg.read(0, buf)?;
                Ok(Some((last + 1, 0, 0)))
            }
            Origin::Foreign {
                opened,
                last: shown,
                seq,
                ..
            } => {
                if shown.is_some() {
                    std::thread::sleep(POLL_INTERVAL.min(SLICE));
                }
                buf.resize(opened.len().min(MAX_FOREIGN), 0);
                {
                    let _held = opened.lock(DEFAULT_TIMEOUT)?;
                    opened.read(0, buf)?;
                }
                if shown.as_deref() == Some(&buf[..]) {
                    return Ok(None);
                }
                *shown = Some(buf.clone());
                *seq += 1;
                Ok(Some((*seq, 0, 0)))
            }
        }
    }

    /// The item for the bytes in `buf`.
    fn item(&self, seq: u64, time_ns: u64, lost: u64) -> Item {
        let bytes = &self.buf;
        let mut meta = json!({
            "seq": seq,
            "time_ns": time_ns,
            "lost": lost,
            "len": bytes.len(),
            "format": self.format.as_ref().map(ToString::to_string),
        });
        let show = |mut meta: Value, how: &str, payload: Vec<u8>| -> Item {
            meta["show"] = json!(how);
            Item { meta, payload }
        };
        if let Origin::Foreign { qt: true, .. } = self.from {
            // A Qt program's QImage: QDataStream's marker, then a PNG.
            if let Ok(Some(png)) = Reader::new(bytes, Version::LATEST).image() {
                meta["mime"] = json!("image/png");
                meta["note"] = json!(format!(
                    "a QImage of {}x{} ({} bits, {})",
                    png.width(),
                    png.height(),
                    png.bit_depth(),
                    png.color()
                ));
                return show(meta, "image", png.bytes().to_vec());
            }
        }
        match &self.format {
            Some(f @ Format::Image { .. }) => {
                let mut rgba = Vec::new();
                match pixels::to_rgba(f, bytes, &mut rgba) {
                    Some((w, h)) => {
                        meta["width"] = json!(w);
                        meta["height"] = json!(h);
                        show(meta, "rgba", rgba)
                    }
                    None => {
                        meta["note"] = json!(format!(
                            "{} bytes are not one picture of {f} ({} bytes): shown as hex",
                            bytes.len(),
                            f.frame_len().unwrap_or(0)
                        ));
                        show(meta, "hex", bytes[..bytes.len().min(MAX_SHOWN)].to_vec())
                    }
                }
            }
            Some(Format::Media(m)) if is_picture(m) => {
                meta["mime"] = json!(m);
                show(meta, "image", bytes.clone())
            }
            Some(Format::Media(m)) if is_text(m) => {
                meta["mime"] = json!(m);
                show(meta, "text", bytes[..bytes.len().min(MAX_SHOWN)].to_vec())
            }
            _ => show(meta, "hex", bytes[..bytes.len().min(MAX_SHOWN)].to_vec()),
        }
    }
}

/// Media types the browser shows as pictures (no SVG: it is a document, with scripts).
fn is_picture(media: &str) -> bool {
    matches!(
        media,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/bmp"
    )
}

/// Media types shown as text (JSON pretty-printed by the page).
fn is_text(media: &str) -> bool {
    media.starts_with("text/")
        || media == "application/json"
        || media.ends_with("+json")
        || media == "application/xml"
        || media.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_by_how_they_are_shown() {
        assert!(is_picture("image/png") && is_picture("image/jpeg"));
        assert!(!is_picture("image/svg+xml"));
        assert!(is_text("text/plain") && is_text("application/json"));
        assert!(is_text("application/vnd.api+json") && is_text("image/svg+xml"));
        assert!(!is_text("application/octet-stream"));
    }

    #[test]
    fn items_are_a_length_json_and_the_payload() {
        let item = Item {
            meta: json!({"seq": 1}),
            payload: vec![9, 8],
        };
        let msg = item.encode();
        assert_eq!(&msg[..4], &9u32.to_le_bytes());
        assert_eq!(&msg[4..13], br#"{"seq":1}"#);
        assert_eq!(&msg[13..], &[9, 8]);
    }
}
