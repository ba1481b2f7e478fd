//! Image front end: resizing 8-bit interleaved images to a model's input size, in integer
//! arithmetic (so every target computes the same bytes), and the uint8-to-int8 input
//! mapping of the MLPerf Tiny image models.
//!
//! # The resize rule ([`resize_bilinear`])
//!
//! Bilinear interpolation with **half-pixel centers** (OpenCV `INTER_LINEAR`, TensorFlow
//! `resize_bilinear(half_pixel_centers=True)`), computed exactly in integers:
//!
//! 1. For output column `x` of `out_w` (rows alike), the source coordinate is
//!    `s = (x + 0.5) * in_w / out_w - 0.5`, as the exact rational
//!    `((2x + 1) in_w - out_w) / (2 out_w)`. Negative `s` is clamped to 0; `i0 = floor(s)`,
//!    `i1 = min(i0 + 1, in_w - 1)` (edge pixels are replicated), and the weight of `i1`
//!    is `wx = floor(frac(s) * 2048)` (11 bits, as OpenCV's `INTER_RESIZE_COEF_BITS`).
//! 2. Per channel: `v = ((p00 (2048 - wx) + p01 wx) (2048 - wy) + (p10 (2048 - wx) +
//!    p11 wx) wy + 2^21) >> 22`, in `u32` (at most `255 * 2^22 + 2^21 < 2^31`).
//!
//! When the input already has the output size, `s = x` exactly and every weight is 0, so
//! the resize is the **identity**. The cost is fixed per output pixel (four taps),
//! independent of the input size, so a plugin's fuel per call does not grow with the
//! image. The price: shrinking by more than 2x skips pixels (no area averaging), which
//! aliases fine detail; a caller with a much larger image gets better results by
//! shrinking it with an area filter first.
//!
//! # int8 input ([`to_int8`])
//!
//! The MLPerf Tiny image models take `q = pixel - 128` (IC: scale 1.0, zero point -128, so
//! real = pixel; VWW: scale 1/255, zero point -128, so real = pixel / 255): in general
//! `real = pixel * scale` with zero point -128.

use crate::DspError;

/// Bits of the fixed-point interpolation weights.
pub const WEIGHT_BITS: u32 = 11;
const ONE: u32 = 1 << WEIGHT_BITS;

/// Bytes of an `h x w x channels` image, or [`DspError::Length`]-style overflow as `None`.
pub fn image_len(height: usize, width: usize, channels: usize) -> Option<usize> {
    height.checked_mul(width)?.checked_mul(channels)
}

/// `(i0, i1, weight of i1)` of every output coordinate along one axis.
fn taps(in_len: usize, out_len: usize) -> alloc::vec::Vec<(usize, usize, u32)> {
    let (n, m) = (in_len as u64, out_len as u64);
    (0..m)
        .map(|x| {
            let num = (2 * x + 1) * n;
            let den = 2 * m;
            let (i0, w) = if num <= m {
                (0, 0)
            } else {
                let s = num - m;
                (s / den, (((s % den) << WEIGHT_BITS) / den) as u32)
            };
            let last = n - 1;
            let i0 = i0.min(last);
            let i1 = (i0 + 1).min(last);
            let w = if i1 == i0 { 0 } else { w };
            (i0 as usize, i1 as usize, w)
        })
        .collect()
}

/// Resizes an interleaved `in_h x in_w x channels` 8-bit image (`src`, row-major) to
/// `out_h x out_w x channels` into `out`, with the rule in the module documentation.
///
/// Errors: [`DspError::EmptyInput`] if any extent is 0, [`DspError::Length`] if `src` or
/// `out` does not have exactly the size its extents give (or the size overflows).
pub fn resize_bilinear(
    src: &[u8],
    in_h: usize,
    in_w: usize,
    channels: usize,
    out: &mut [u8],
    out_h: usize,
    out_w: usize,
) -> Result<(), DspError> {
    if in_h == 0 || in_w == 0 || channels == 0 || out_h == 0 || out_w == 0 {
        return Err(DspError::EmptyInput);
    }
    let src_len = image_len(in_h, in_w, channels).ok_or(DspError::Length {
        what: "image",
        expected: usize::MAX,
        actual: src.len(),
    })?;
    crate::error::check_len("image", src_len, src.len())?;
    let out_len = image_len(out_h, out_w, channels).ok_or(DspError::Length {
        what: "resized image",
        expected: usize::MAX,
        actual: out.len(),
    })?;
    crate::error::check_len("resized image", out_len, out.len())?;
    let xs = taps(in_w, out_w);
    let ys = taps(in_h, out_h);
    let row = in_w * channels;
    let mut o = 0;
    for &(y0, y1, wy) in &ys {
        let r0 = &src[y0 * row..(y0 + 1) * row];
        let r1 = &src[y1 * row..(y1 + 1) * row];
        for &(x0, x1, wx) in &xs {
            for c in 0..channels {
                let p = |r: &[u8], x: usize| u32::from(r[x * channels + c]);
                let top = p(r0, x0) * (ONE - wx) + p(r0, x1) * wx;
                let bottom = p(r1, x0) * (ONE - wx) + p(r1, x1) * wx;
                let v = (top * (ONE - wy) + bottom * wy + (1 << (2 * WEIGHT_BITS - 1)))
                    >> (2 * WEIGHT_BITS);
                out[o] = v as u8;
                o += 1;
            }
        }
    }
    Ok(())
}

/// Maps 8-bit pixels to the int8 model input `q = pixel - 128` (zero point -128), in
/// place on the byte representation.
pub fn to_int8(pixels: &mut [u8]) {
    for p in pixels {
        *p ^= 0x80;
    }
}
