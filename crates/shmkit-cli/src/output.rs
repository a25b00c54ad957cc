//! Everything written to stdout goes through [`Output`]: lines, aligned tables, key/value
//! lists and JSON.
//!
//! Every write returns its error instead of panicking (as `println!` does), so a closed pipe
//! (`shmkit ls | head -1`) reaches `main`, which exits quietly with status 0.

use std::fmt::Display;
use std::io::{self, BufWriter, StdoutLock, Write};

use crate::error::Result;

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

    /// Writes raw bytes as they are (no newline): for `shmkit read`.
    pub fn bytes(&mut self, data: &[u8]) -> Result<()> {
        self.w.write_all(data)?;
        Ok(())
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
