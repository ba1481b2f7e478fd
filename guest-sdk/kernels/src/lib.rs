//! Int8 kernels for the TinyML ops edgeplug runs, bit-exact with TensorFlow Lite Micro's
//! reference kernels.
//!
//! ```
//! use edgeplug_kernels::{Requant, requant::multiply_by_quantized_multiplier};
//!
//! // A real multiplier of 0.5 is (2^30, shift 0) in TFLite's Q31 representation.
//! let m = Requant::from_real(0.5).unwrap();
//! assert_eq!(multiply_by_quantized_multiplier(100, m.multiplier, m.shift), 50);
//! ```
//!
//! # Contract
//! - Every kernel exists as a plain [`mod@reference`] implementation; the top-level functions
//!   (for example [`conv::conv2d`]) dispatch to the fastest variant available for the target,
//!   and every variant gives the same bytes as the reference on every input.
//! - Tensors are row-major NHWC `i8` slices. Kernels check that each slice has exactly the
//!   length its shape implies and return [`KernelError`] otherwise; they never panic on
//!   inconsistent arguments.
//! - Arithmetic follows `../shared/models/MODELS.md`: double-rounding requantization
//!   (`SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`), input zero point
//!   subtracted before padding, activation clamps in the quantized domain.
#![no_std]

pub mod activation;
pub mod add;
mod common;
pub mod conv;
pub mod depthwise;
mod dsp;
mod fixedpoint;
pub mod fully_connected;
pub mod pool;
pub mod quantize;
pub mod requant;
mod simd;
pub mod softmax;
mod swar;

pub use activation::{Activation, ActivationRange};
pub use requant::Requant;

/// The reference (plain, obviously-correct) implementation of every kernel. Optimized
/// variants are tested against these.
pub mod reference {
    pub use crate::add::reference::add;
    pub use crate::conv::reference::conv2d;
    pub use crate::depthwise::reference::depthwise_conv2d;
    pub use crate::fully_connected::reference::fully_connected;
    pub use crate::pool::reference::{average_pool2d, max_pool2d};
    pub use crate::softmax::reference::softmax;
}

/// A 4-D tensor shape in NHWC order (batch, height, width, channels).
///
/// Filters use the same struct with TFLite's layouts: `[out_c, kh, kw, in_c]` for CONV_2D,
/// `[1, kh, kw, out_c]` for DEPTHWISE_CONV_2D.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape4 {
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels (innermost).
    pub c: usize,
}

impl Shape4 {
    /// Creates a shape from its four dimensions.
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Shape4 { n, h, w, c }
    }

    /// Number of elements, or `None` if it overflows `usize`.
    pub fn checked_len(&self) -> Option<usize> {
        self.n
            .checked_mul(self.h)?
            .checked_mul(self.w)?
            .checked_mul(self.c)
    }
}

/// Why a kernel refused its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// A slice's length does not match the length its shape implies.
    BufferSize {
        /// Which argument (`"input"`, `"filter"`, `"bias"`, `"output"`, ...).
        what: &'static str,
        /// Length implied by the shapes.
        expected: usize,
        /// Length of the slice passed.
        actual: usize,
    },
    /// Shapes or parameters are inconsistent with each other (the text says which).
    InvalidParams(&'static str),
    /// A real-valued scale is zero, negative, NaN or infinite where a positive finite one is needed.
    InvalidScale,
}

impl core::fmt::Display for KernelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KernelError::BufferSize {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what} buffer has {actual} elements, its shape needs {expected}"
            ),
            KernelError::InvalidParams(why) => write!(f, "invalid parameters: {why}"),
            KernelError::InvalidScale => f.write_str("scale must be positive and finite"),
        }
    }
}

impl core::error::Error for KernelError {}

/// Checks that `actual == expected`, naming the argument otherwise.
#[inline]
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::BufferSize {
            what,
            expected,
            actual,
        })
    }
}

/// Padding mode of a convolution or pooling op, as in TFLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zero (input-zero-point) padding split with the
    /// smaller half before.
    Same,
    /// No padding: output size `ceil((in - effective_filter + 1) / stride)`.
    Valid,
}

/// Output size and leading padding of one spatial dimension, computed as TFLite does
/// (`ComputePaddingHeightWidth`).
///
/// Returns `(output_size, pad_before)`, or an error when the filter does not fit (VALID)
/// or a parameter is zero.
pub fn compute_padding(
    padding: Padding,
    in_size: usize,
    filter_size: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize), KernelError> {
    if in_size == 0 || filter_size == 0 || stride == 0 || dilation == 0 {
        return Err(KernelError::InvalidParams(
            "sizes, strides and dilations must be at least 1",
        ));
    }
    let effective = (filter_size - 1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or(KernelError::InvalidParams("filter too large"))?;
    let out = match padding {
        Padding::Same => in_size.div_ceil(stride),
        Padding::Valid => {
            if effective > in_size {
                return Err(KernelError::InvalidParams(
                    "VALID padding: filter larger than input",
                ));
            }
            (in_size - effective + stride) / stride
        }
    };
    // TFLite: total = max((out - 1) * stride + effective - in, 0), pad_before = total / 2.
    let needed = (out - 1) * stride + effective;
    let total = needed.saturating_sub(in_size);
    Ok((out, total / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tflite() {
        // KWS first conv: 49x10 input, 10x4 filter, stride 2 -> 25x5, pads (4, 1).
        assert_eq!(compute_padding(Padding::Same, 49, 10, 2, 1), Ok((25, 4)));
        assert_eq!(compute_padding(Padding::Same, 10, 4, 2, 1), Ok((5, 1)));
        // 3x3 stride 1: pad 1.
        assert_eq!(compute_padding(Padding::Same, 25, 3, 1, 1), Ok((25, 1)));
        // VWW 96 -> 48 with 3x3 stride 2: total pad 1, before 0.
        assert_eq!(compute_padding(Padding::Same, 96, 3, 2, 1), Ok((48, 0)));
    }

    #[test]
    fn valid_padding() {
        assert_eq!(compute_padding(Padding::Valid, 25, 25, 25, 1), Ok((1, 0)));
        assert_eq!(compute_padding(Padding::Valid, 8, 3, 2, 1), Ok((3, 0)));
        assert!(compute_padding(Padding::Valid, 2, 3, 1, 1).is_err());
        assert!(compute_padding(Padding::Same, 2, 3, 0, 1).is_err());
    }
}
