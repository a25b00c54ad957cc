//! Everything written to stdout goes through [`Output`]: lines, aligned tables, key/value
//! lists and JSON; and the ways values (a cell's, a frame's) are printed: as they are, as JSON,
//! or as a hex dump like `hexdump -C`.
//!
//! Every write returns its error instead of panicking (as `println!` does), so a closed pipe
//! (`shmkit ls | head -1`) reaches `main`, which exits quietly with status 0.

use std::fmt::Display;
use std::io::{self, BufWriter, StdoutLock, Write};

use serde_json::json;

use crate::error::Result;

/// Bytes per line of a hex dump.
const WIDTH: usize = 16;

/// Buffered, locked stdout. Call [`flush`](Output::flush) before writing to stderr, so the two
/// streams appear in order, and at the end (`main` does).
#[derive(Debug)]
pub struct Output {
    w: BufWriter<StdoutLock<'static>>,
}

/// One column of a [`table`](Output::table).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The heading, in capitals.
    pub title: &'static str,
    /// Right-align (for numbers).
    pub right: bool,
}

impl Column {
    /// A left-aligned column.
    pub const fn left(title: &'static str) -> Column {
        Column {
            title,
            right: false,
        }
    }

    /// A right-aligned column.
    pub const fn right(title: &'static str) -> Column {
        Column { title, right: true }
    }
}

impl Output {
    /// The process's stdout.
    pub fn stdout() -> Output {
        Output {
            w: BufWriter::new(io::stdout().lock()),
        }
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: impl Display) -> Result<()> {
        writeln!(self.w, "{text}")?;
        Ok(())
    }

    /// Writes bytes exactly as they are (a value read from a segment).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes)?;
        Ok(())
    }

    /// Writes `value` as compact JSON on one line (for streams of objects, one a line).
    pub fn json_line(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.w, value).map_err(io::Error::from)?;
        self.line("")
    }

    /// Writes `value` as pretty-printed JSON and a newline.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.w, value).map_err(io::Error::from)?;
        self.line("")
    }

    /// Writes rows under headings, each column as wide as its widest cell, two spaces apart.
    /// The last column is not padded.
    pub fn table(&mut self, columns: &[Column], rows: &[Vec<String>]) -> Result<()> {
        let mut widths: Vec<usize> = columns.iter().map(|c| c.title.len()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
        for row in std::iter::once(&titles).chain(rows) {
            let mut line = String::new();
            for (i, ((col, cell), width)) in columns.iter().zip(row).zip(&widths).enumerate() {
                let last = i + 1 == columns.len();
                let pad = width.saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                if col.right {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str(cell);
                if !col.right && !last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            self.line(line)?;
        }
        Ok(())
    }

    /// Writes `key: value` lines with the values aligned.
    pub fn pairs(&mut self, pairs: &[(&str, String)]) -> Result<()> {
        let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
        for (key, value) in pairs {
            self.line(format_args!("{:width$} {value}", format!("{key}:")))?;
        }
        Ok(())
    }

    /// Pushes buffered output to stdout.
    pub fn flush(&mut self) -> Result<()> {
        self.w.flush()?;
        Ok(())
    }
}

/// How `read`, `watch` and `sub` print a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The bytes as they are, then a newline.
    #[default]
    Text,
    /// A hex dump.
    Hex,
    /// One JSON object: name, seq, len, and the value as `text` (UTF-8) or `hex`.
    Json,
}

impl Format {
    /// The format the `--hex` and `--json` flags choose.
    pub fn from_flags(hex: bool, json: bool) -> Format {
        match (hex, json) {
            (true, _) => Format::Hex,
            (_, true) => Format::Json,
            _ => Format::Text,
        }
    }
}

/// Prints one value in `format`.
pub fn print_value(
    out: &mut Output,
    format: Format,
    name: &str,
    seq: u64,
    value: &[u8],
) -> Result<()> {
    match format {
        Format::Text => {
            out.raw(value)?;
            out.line("")
        }
        Format::Hex => hexdump(out, value),
        Format::Json => out.json_line(&value_json(name, seq, value)),
    }
}

/// `{"name":…,"seq":…,"len":…,"text":…}`, or `"hex"` instead of `"text"` for non-UTF-8 bytes.
pub fn value_json(name: &str, seq: u64, value: &[u8]) -> serde_json::Value {
    let mut v = json!({ "name": name, "seq": seq, "len": value.len() });
    match std::str::from_utf8(value) {
        Ok(text) => v["text"] = json!(text),
        Err(_) => {
            let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
            v["hex"] = json!(hex);
        }
    }
    v
}

/// Prints `bytes` as a hex dump with offsets from 0 (a value of a cell, a frame).
pub fn hexdump(out: &mut Output, bytes: &[u8]) -> Result<()> {
    let mut dump = HexDump::new(0, bytes.len());
    dump.feed(out, bytes)?;
    dump.finish(out)
}

/// A hex dump written chunk by chunk, `hexdump -C` style: runs of identical full lines are
/// shown once, then `*`; the last line is the end offset.
pub struct HexDump {
    at: usize,
    end: usize,
    digits: usize,
    previous: Option<Vec<u8>>,
    starred: bool,
}

impl HexDump {
    /// A dump of the bytes from offset `start` to `end`.
    pub fn new(start: usize, end: usize) -> HexDump {
        HexDump {
            at: start,
            end,
            digits: format!("{end:x}").len().max(8),
            previous: None,
            starred: false,
        }
    }

    /// Prints the next `chunk` (every chunk but the last a multiple of 16 bytes long).
    pub fn feed(&mut self, out: &mut Output, chunk: &[u8]) -> Result<()> {
        for line in chunk.chunks(WIDTH) {
            if line.len() == WIDTH && self.previous.as_deref() == Some(line) {
                if !self.starred {
                    out.line("*")?;
                    self.starred = true;
                }
            } else {
                out.line(hex_line(self.at, self.digits, line))?;
                self.starred = false;
                self.previous = Some(line.to_vec());
            }
            self.at += line.len();
        }
        Ok(())
    }

    /// Prints the last line: the end offset.
    pub fn finish(self, out: &mut Output) -> Result<()> {
        out.line(format_args!("{:0w$x}", self.end, w = self.digits))
    }
}

/// One line of the dump: offset, up to 16 bytes in hex (two groups of 8), then as ASCII.
fn hex_line(offset: usize, digits: usize, bytes: &[u8]) -> String {
    let mut line = format!("{offset:0digits$x} ");
    for i in 0..WIDTH {
        if i % 8 == 0 {
            line.push(' ');
        }
        match bytes.get(i) {
            Some(b) => line.push_str(&format!("{b:02x} ")),
            None => line.push_str("   "),
        }
    }
    let ascii: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    line.push_str(&format!(" |{ascii}|"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_hexdump_c() {
        assert_eq!(
            hex_line(0, 8, b"hello shmkit\0\x01\x7f\xff"),
            "00000000  68 65 6c 6c 6f 20 73 68  6d 6b 69 74 00 01 7f ff  |hello shmkit....|"
        );
        assert_eq!(
            hex_line(0x10, 8, b"abc"),
            "00000010  61 62 63                                          |abc|"
        );
    }
}
