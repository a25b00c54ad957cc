//! Raw image formats to the one layout a browser's canvas takes: packed RGBA, 8 bits a channel
//! (`ImageData`). Done here rather than in the page, so the page has one way to draw and the
//! conversions are tested.

use shmkit::{Format, Pixel};

/// Converts one frame of raw image `format` to RGBA into `out` (its allocation is reused).
/// `None` when `format` is not a raw image, or `bytes` is not one whole picture of it.
pub fn to_rgba(format: &Format, bytes: &[u8], out: &mut Vec<u8>) -> Option<(u32, u32)> {
    let Format::Image {
        pixel,
        width,
        height,
        stride,
    } = *format
    else {
        return None;
    };
    let (w, h, stride) = (width as usize, height as usize, stride as usize);
    let row_len = w.checked_mul(pixel.bytes() as usize)?;
    // The last row need not be padded to the stride.
    let need = stride.checked_mul(h - 1)?.checked_add(row_len)?;
    if bytes.len() < need {
        return None;
    }
    out.clear();
    out.reserve(w * h * 4);
    for y in 0..h {
        let row = &bytes[y * stride..y * stride + row_len];
        match pixel {
            Pixel::Rgba8 => out.extend_from_slice(row),
            Pixel::Bgra8 => {
                for p in row.chunks_exact(4) {
                    out.extend_from_slice(&[p[2], p[1], p[0], p[3]]);
                }
            }
            Pixel::Rgb8 => {
                for p in row.chunks_exact(3) {
                    out.extend_from_slice(&[p[0], p[1], p[2], 255]);
                }
            }
            Pixel::Bgr8 => {
                for p in row.chunks_exact(3) {
                    out.extend_from_slice(&[p[2], p[1], p[0], 255]);
                }
            }
            Pixel::Gray8 => {
                for &g in row {
                    out.extend_from_slice(&[g, g, g, 255]);
                }
            }
            Pixel::Gray16Le => {
                for p in row.chunks_exact(2) {
                    // The high byte: 16-bit gray shown in 8 bits.
                    let g = p[1];
                    out.extend_from_slice(&[g, g, g, 255]);
                }
            }
            _ => return None,
        }
    }
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(format: &str, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        to_rgba(&format.parse().unwrap(), bytes, &mut out).map(|_| out)
    }

    #[test]
    fn every_pixel_layout_becomes_rgba() {
        assert_eq!(convert("rgba8:1x1", &[1, 2, 3, 4]).unwrap(), [1, 2, 3, 4]);
        assert_eq!(convert("bgra8:1x1", &[3, 2, 1, 4]).unwrap(), [1, 2, 3, 4]);
        assert_eq!(convert("rgb8:1x1", &[1, 2, 3]).unwrap(), [1, 2, 3, 255]);
        assert_eq!(convert("bgr8:1x1", &[3, 2, 1]).unwrap(), [1, 2, 3, 255]);
        assert_eq!(
            convert("gray8:2x1", &[9, 200]).unwrap(),
            [9, 9, 9, 255, 200, 200, 200, 255]
        );
        assert_eq!(
            convert("gray16le:1x1", &[0x34, 0x12]).unwrap(),
            [0x12, 0x12, 0x12, 255]
        );
    }

    #[test]
    fn strides_are_skipped_and_the_last_row_may_be_short() {
        // Two rows of one rgb8 pixel, 4 bytes apart; the last row without its padding.
        let bytes = [1, 2, 3, 99, 4, 5, 6];
        assert_eq!(
            convert("rgb8:1x2:stride=4", &bytes).unwrap(),
            [1, 2, 3, 255, 4, 5, 6, 255]
        );
    }

    #[test]
    fn frames_that_are_not_one_picture_are_refused() {
        assert_eq!(convert("rgba8:2x2", &[0; 15]), None);
        assert_eq!(convert("image/png", &[0; 16]), None);
        // Longer is fine: the picture is its start.
        assert_eq!(convert("gray8:1x1", &[7, 8]).unwrap(), [7, 7, 7, 255]);
    }
}
