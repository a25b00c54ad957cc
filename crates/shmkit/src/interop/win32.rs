//! The classic Win32 programs: their object names and the text they put in a mapping.
//!
//! The Microsoft sample pair (`CreateFileMapping(INVALID_HANDLE_VALUE, …, PAGE_READWRITE, 0, 256,
//! "Global\\MyFileMappingObject")` and `CopyMemory` of a `TCHAR` message; a reader that
//! `OpenFileMapping`s it and shows the text) and the programs written after it use raw mappings:
//! no header, byte 0 is the text. Their names carry a namespace — `Global\NAME` (all sessions),
//! `Local\NAME` (this session) — or none (`NAME`, which is `Local\NAME`). On Windows shmkit opens
//! such a name raw, as [`SegmentOptions::raw`](crate::SegmentOptions::raw) with the namespace
//! kept in the name; elsewhere there are no namespaces, and [`split_namespace`] tells a tool to
//! say so.
//!
//! The text is a C string of `TCHAR`s: bytes up to a NUL in an ANSI build ([`c_text`]), UTF-16LE
//! up to a NUL code unit in a `UNICODE` build ([`wide_text`]) — what the reader's
//! `MessageBox(NULL, (LPCTSTR)pBuf, …)` shows.

use crate::error::{Error, ErrorKind, Op, Result};
use crate::segment::Namespace;

/// Splits a Win32 object name into its namespace and the rest: `Global\cam0` →
/// `(Global, "cam0")`, `Local\cam0` → `(Local, "cam0")` (the prefix in any case, as Windows
/// takes it). `None` for a name without a namespace prefix.
pub fn split_namespace(name: &str) -> Option<(Namespace, &str)> {
    crate::name::split_win32_namespace(name).map(|(global, bare)| {
        (
            if global {
                Namespace::Global
            } else {
                Namespace::Local
            },
            bare,
        )
    })
}

/// Whether this system has Win32 namespaces (Windows): where it does not, `Global\NAME` and
/// `Local\NAME` name nothing, and the object is `NAME`.
pub fn namespaces_exist() -> bool {
    crate::sys::BACKEND == "windows"
}

/// The bytes of an ANSI C string: up to the first NUL (all of them if there is none).
pub fn c_text(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// `text` as an ANSI C string: the bytes and a NUL.
///
/// # Errors
/// [`ErrorKind::InvalidSize`] if `text` holds a NUL (a reader would stop there).
pub fn encode_c_text(text: &[u8]) -> Result<Vec<u8>> {
    if let Some(i) = text.iter().position(|&b| b == 0) {
        return Err(
            Error::new(ErrorKind::InvalidSize, Op::Write, None).reason(format!(
                "the text has a NUL byte at {i}: a C string would end there"
            )),
        );
    }
    let mut out = text.to_vec();
    out.push(0);
    Ok(out)
}

/// A wide C string (`WCHAR`, the `TCHAR` of a `UNICODE` build): UTF-16LE up to the first NUL
/// code unit, or to the end.
///
/// # Errors
/// [`ErrorKind::Corrupt`] for an unpaired surrogate, or an odd number of bytes without a NUL
/// before the last one — text that is not there is never made up.
pub fn wide_text(bytes: &[u8]) -> Result<String> {
    let units = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .take_while(|&u| u != 0);
    let mut text = String::new();
    let mut unit = 0;
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => {
                text.push(c);
                unit += c.len_utf16();
            }
            Err(e) => {
                return Err(
                    Error::new(ErrorKind::Corrupt, Op::Read, None).reason(format!(
                        "an unpaired UTF-16 surrogate {:#06x} at byte {}",
                        e.unpaired_surrogate(),
                        2 * unit
                    )),
                );
            }
        }
    }
    let terminated = 2 * unit + 1 < bytes.len();
    if !terminated && bytes.len() % 2 != 0 {
        return Err(
            Error::new(ErrorKind::Corrupt, Op::Read, None).reason(format!(
                "{} bytes without a NUL: UTF-16 comes in pairs of bytes",
                bytes.len()
            )),
        );
    }
    Ok(text)
}

/// `text` as a wide C string: UTF-16LE and a NUL code unit (`00 00`).
pub fn encode_wide_text(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(
            split_namespace("Global\\MyFileMappingObject"),
            Some((Namespace::Global, "MyFileMappingObject"))
        );
        assert_eq!(split_namespace("local\\x"), Some((Namespace::Local, "x")));
        assert_eq!(split_namespace("test_shared_memory"), None);
        assert_eq!(split_namespace("Session\\1\\x"), None);
    }

    #[test]
    fn ansi_text() {
        assert_eq!(c_text(b"Message\0garbage"), b"Message");
        assert_eq!(c_text(b"no nul"), b"no nul");
        assert_eq!(encode_c_text(b"hi").unwrap(), b"hi\0");
        assert!(encode_c_text(b"h\0i").is_err());
    }

    #[test]
    fn wide_text_up_to_the_nul() {
        let w = encode_wide_text("Message from first process.");
        assert_eq!(&w[..4], &[b'M', 0, b'e', 0]);
        assert_eq!(&w[w.len() - 2..], &[0, 0]);
        let mut page = w.clone();
        page.resize(4096, 0xcc);
        assert_eq!(wide_text(&page).unwrap(), "Message from first process.");
        assert_eq!(
            wide_text(&encode_wide_text("héllo 😀")).unwrap(),
            "héllo 😀"
        );
        assert_eq!(wide_text(b"").unwrap(), "");
        // Odd byte counts: fine after the NUL, an error when the text runs into the last byte.
        assert_eq!(wide_text(b"a\0\0\0z").unwrap(), "a");
        assert!(wide_text(b"a\0b").is_err());
        let e = wide_text(&[b'a', 0, 0x00, 0xd8, b'b', 0]).unwrap_err();
        assert!(e.reason_text().contains("unpaired"), "{e}");
        assert!(e.reason_text().contains("at byte 2"), "{e}");
    }
}
