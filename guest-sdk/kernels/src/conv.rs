//! CONV_2D (int8 activations, per-channel int8 weights, int32 bias).
//!
//! [`conv2d`] dispatches to the fastest applicable variant: on `wasm32` with `simd128`,
//! [`variants::pointwise4`] for 1x1 filters and [`variants::direct4`] otherwise (four
//! channels per block, Wasm SIMD, `crate::simd`); on ARMv7E-M (`thumbv7em-*`, cfg from
//! build.rs) [`variants::dsp`] (the DSP extension, `crate::dsp`); on scalar `wasm32`
//! [`variants::swar`] (two pixels per 64-bit multiply, `crate::swar`); elsewhere
//! (vectorizing native code: single-channel loops measured faster there)
//! [`variants::pointwise`] / [`variants::direct`]. All give [`reference::conv2d`]'s bytes
//! ([`variants::ALL`]).

use crate::common::{
    Axis, CHANNEL_BLOCK, bias_at, check_act, check_bias, check_requant, dot, dot_offset, finish,
    requant_at, shape_len, sum_i8,
};
use crate::requant::{PreparedRequant, prepare_requant};
use crate::{ActivationRange, KernelError, Requant, Shape4, check_len};

/// Parameters of an int8 CONV_2D, resolved from the op's options and tensors' quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Vertical stride (at least 1).
    pub stride_h: usize,
    /// Horizontal stride (at least 1).
    pub stride_w: usize,
    /// Vertical dilation (at least 1).
    pub dilation_h: usize,
    /// Horizontal dilation (at least 1).
    pub dilation_w: usize,
    /// Padding rows before the first input row (from [`crate::compute_padding`]).
    pub pad_top: usize,
    /// Padding columns before the first input column.
    pub pad_left: usize,
    /// Added to every input value: `-input_zero_point`.
    pub input_offset: i32,
    /// Added after requantization: `output_zero_point`.
    pub output_offset: i32,
    /// Clamp of the output, including the fused activation. Must satisfy
    /// `-128 <= min <= max <= 127`.
    pub act: ActivationRange,
}

/// CONV_2D: `output[n,y,x,oc] = clamp(requant[oc](bias[oc] + Σ (input + input_offset) *
/// filter[oc,ky,kx,ic]) + output_offset)`, where the sum runs over the taps
/// `(y * stride_h + ky * dilation_h - pad_top, x * stride_w + kx * dilation_w - pad_left)`
/// that lie inside the input; taps in the padding contribute 0 (the input zero point is
/// subtracted before padding, as TFLM does). The accumulator is `i32` (wrapping), the
/// requantization is [`Requant::apply`] (double rounding), the clamp is `p.act`.
///
/// Shapes: input `[n, ih, iw, ic]`, filter `[oc, kh, kw, ic]`, bias `[oc]` (or `None` for
/// no bias), `requant` one entry per output channel (or a single entry applied to every
/// channel), output `[n, oh, ow, oc]`. The output's spatial size is taken as given (it is
/// not required to be what strides and padding imply); batch and channel counts must be
/// consistent.
///
/// # Errors
/// [`KernelError::BufferSize`] when a slice's length differs from its shape's element
/// count (or `requant`'s length is neither 1 nor `oc`); [`KernelError::InvalidParams`] for
/// inconsistent shapes, zero strides/dilations/filter sizes, shift values outside
/// `-31..=31`, an invalid clamp range or shapes whose sizes overflow. The output is
/// untouched on error.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    p: &ConvParams,
    input_shape: Shape4,
    input: &[i8],
    filter_shape: Shape4,
    filter: &[i8],
    bias: Option<&[i32]>,
    requant: &[Requant],
    output_shape: Shape4,
    output: &mut [i8],
) -> Result<(), KernelError> {
    // Blocked variants pay off with Wasm SIMD, the DSP GEMM on ARMv7E-M, the packed 64-bit
    // GEMM on scalar Wasm (see the module docs).
    let simd = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
    let scalar_wasm = cfg!(all(target_arch = "wasm32", not(target_feature = "simd128")));
    let pw = variants::pointwise_supports(p, input_shape, filter_shape, output_shape);
    let run = match (pw, simd) {
        _ if cfg!(edgeplug_dsp_dispatch) => variants::dsp,
        _ if scalar_wasm => variants::swar,
        (true, true) => variants::pointwise4,
        (true, false) => variants::pointwise,
        (false, true) => variants::direct4,
        (false, false) => variants::direct,
    };
    run(
        p,
        input_shape,
        input,
        filter_shape,
        filter,
        bias,
        requant,
        output_shape,
        output,
    )
}

/// Validated CONV_2D dimensions.
struct Dims {
    n: usize,
    ih: usize,
    iw: usize,
    ic: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    oc: usize,
    y: Axis,
    x: Axis,
}

/// Checks every argument of a CONV_2D against the contract of [`conv2d`].
#[allow(clippy::too_many_arguments)]
fn validate(
    p: &ConvParams,
    input_shape: Shape4,
    input: &[i8],
    filter_shape: Shape4,
    filter: &[i8],
    bias: Option<&[i32]>,
    requant: &[Requant],
    output_shape: Shape4,
    output: &[i8],
) -> Result<Dims, KernelError> {
    check_len("input", shape_len(input_shape)?, input.len())?;
    check_len("filter", shape_len(filter_shape)?, filter.len())?;
    check_len("output", shape_len(output_shape)?, output.len())?;
    if filter_shape.c != input_shape.c {
        return Err(KernelError::InvalidParams(
            "filter input channels must equal input channels",
        ));
    }
    if input_shape.c == 0 || filter_shape.n == 0 {
        return Err(KernelError::InvalidParams(
            "channel counts must be at least 1",
        ));
    }
    if output_shape.c != filter_shape.n {
        return Err(KernelError::InvalidParams(
            "output channels must equal filter output channels",
        ));
    }
    if output_shape.n != input_shape.n {
        return Err(KernelError::InvalidParams(
            "output batch must equal input batch",
        ));
    }
    check_bias(bias, filter_shape.n)?;
    check_requant(requant, filter_shape.n)?;
    check_act(p.act)?;
    let y = Axis::new(
        input_shape.h,
        filter_shape.h,
        p.stride_h,
        p.dilation_h,
        p.pad_top,
        output_shape.h,
    )?;
    let x = Axis::new(
        input_shape.w,
        filter_shape.w,
        p.stride_w,
        p.dilation_w,
        p.pad_left,
        output_shape.w,
    )?;
    Ok(Dims {
        n: input_shape.n,
        ih: input_shape.h,
        iw: input_shape.w,
        ic: input_shape.c,
        kh: filter_shape.h,
        kw: filter_shape.w,
        oh: output_shape.h,
        ow: output_shape.w,
        oc: filter_shape.n,
        y,
        x,
    })
}

/// The plain reference implementation.
pub mod reference {
    use super::*;

    /// Reference CONV_2D (TFLM's loop nest); see [`super::conv2d`] for the contract.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        for b in 0..d.n {
            for oy in 0..d.oh {
                let y0 = d.y.origin(oy);
                for ox in 0..d.ow {
                    let x0 = d.x.origin(ox);
                    for oc in 0..d.oc {
                        let mut acc: i32 = 0;
                        for ky in 0..d.kh {
                            let Some(iy) = d.y.tap(y0, ky) else { continue };
                            for kx in 0..d.kw {
                                let Some(ix) = d.x.tap(x0, kx) else { continue };
                                for ic in 0..d.ic {
                                    let iv =
                                        i32::from(input[((b * d.ih + iy) * d.iw + ix) * d.ic + ic]);
                                    let fv = i32::from(
                                        filter[((oc * d.kh + ky) * d.kw + kx) * d.ic + ic],
                                    );
                                    acc = acc.wrapping_add(
                                        fv.wrapping_mul(iv.wrapping_add(p.input_offset)),
                                    );
                                }
                            }
                        }
                        acc = acc.wrapping_add(bias_at(bias, oc));
                        output[((b * d.oh + oy) * d.ow + ox) * d.oc + oc] =
                            finish(acc, requant_at(requant, oc), p.output_offset, p.act);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every CONV_2D implementation, each usable on its own (for tests and benchmarks).
///
/// All variants share [`variants::ConvFn`]'s signature and [`conv2d`]'s contract, and give
/// the same bytes as [`reference::conv2d`] whenever their `*_supports` predicate holds;
/// when it does not they return [`KernelError::InvalidParams`] without writing the output.
pub mod variants {
    use super::*;

    pub use super::reference::conv2d as reference;

    /// The signature shared by every CONV_2D variant (see [`super::conv2d`]).
    pub type ConvFn = fn(
        &ConvParams,
        Shape4,
        &[i8],
        Shape4,
        &[i8],
        Option<&[i32]>,
        &[Requant],
        Shape4,
        &mut [i8],
    ) -> Result<(), KernelError>;

    /// Whether a variant applies to a parameter set: `(params, input_shape, filter_shape,
    /// output_shape)`.
    pub type SupportsFn = fn(&ConvParams, Shape4, Shape4, Shape4) -> bool;

    /// A named CONV_2D implementation and the arguments it accepts.
    #[derive(Clone, Copy, Debug)]
    pub struct Variant {
        /// Short name (`"reference"`, `"pointwise"`, ...).
        pub name: &'static str,
        /// The implementation.
        pub run: ConvFn,
        /// Which arguments it supports; elsewhere it returns `InvalidParams`.
        pub supports: SupportsFn,
    }

    /// Every CONV_2D variant, the reference first.
    pub const ALL: &[Variant] = &[
        Variant {
            name: "reference",
            run: reference,
            supports: always,
        },
        Variant {
            name: "pointwise",
            run: pointwise,
            supports: pointwise_supports,
        },
        Variant {
            name: "direct",
            run: direct,
            supports: always,
        },
        Variant {
            name: "pointwise4",
            run: pointwise4,
            supports: pointwise_supports,
        },
        Variant {
            name: "direct4",
            run: direct4,
            supports: always,
        },
        Variant::of("dsp", dsp, always),
        Variant::of("swar", swar, always),
        Variant {
            name: "dispatch",
            run: conv2d, // the dispatcher, super::conv2d
            supports: always,
        },
    ];

    /// A [`SupportsFn`] that accepts everything.
    pub fn always(_: &ConvParams, _: Shape4, _: Shape4, _: Shape4) -> bool {
        true
    }

    /// [`pointwise`] applies to 1x1 filters (any stride, dilation and padding).
    pub fn pointwise_supports(_: &ConvParams, _: Shape4, filter: Shape4, _: Shape4) -> bool {
        filter.h == 1 && filter.w == 1
    }

    /// CONV_2D for 1x1 filters as a GEMM over pixels with the input offset folded out: `acc
    /// = (bias + input_offset * Σw[oc]) + Σ input * w[oc]`, with `Σw` computed once per
    /// call for a block of output channels. Output pixels whose input pixel is in the
    /// padding get `bias` alone. Returns `InvalidParams` for other filter sizes.
    #[allow(clippy::too_many_arguments)]
    pub fn pointwise(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !pointwise_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "pointwise CONV_2D variant needs a 1x1 filter",
            ));
        }
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let ic = d.ic;
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, oc) in (oc0..oc1).enumerate() {
                let b = bias_at(bias, oc);
                plain[j] = b;
                folded[j] = b.wrapping_add(
                    p.input_offset
                        .wrapping_mul(sum_i8(&filter[oc * ic..(oc + 1) * ic])),
                );
                rq[j] = requant_at(requant, oc);
            }
            let weights = &filter[oc0 * ic..oc1 * ic];
            for b in 0..d.n {
                for oy in 0..d.oh {
                    let iy = d.y.tap(d.y.origin(oy), 0);
                    for ox in 0..d.ow {
                        let ix = d.x.tap(d.x.origin(ox), 0);
                        let o = ((b * d.oh + oy) * d.ow + ox) * d.oc;
                        let out = &mut output[o + oc0..o + oc1];
                        match (iy, ix) {
                            (Some(iy), Some(ix)) => {
                                let i = ((b * d.ih + iy) * d.iw + ix) * ic;
                                let px = &input[i..i + ic];
                                for (((o, w), &f), &r) in out
                                    .iter_mut()
                                    .zip(weights.chunks_exact(ic))
                                    .zip(&folded[..len])
                                    .zip(&rq[..len])
                                {
                                    *o = finish(
                                        f.wrapping_add(dot(px, w)),
                                        r,
                                        p.output_offset,
                                        p.act,
                                    );
                                }
                            }
                            _ => {
                                for ((o, &b), &r) in
                                    out.iter_mut().zip(&plain[..len]).zip(&rq[..len])
                                {
                                    *o = finish(b, r, p.output_offset, p.act);
                                }
                            }
                        }
                    }
                }
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// General direct CONV_2D (no im2col buffer). Output pixels whose every tap is inside
    /// the input use the folded form `(bias + input_offset * Σw[oc]) + Σ input * w`, with
    /// each filter row (`kw * ic` contiguous values when `dilation_w == 1`) as one dot
    /// product; border pixels use `bias + Σ (input + input_offset) * w` over their
    /// in-bounds taps. Supports every argument set.
    #[allow(clippy::too_many_arguments)]
    pub fn direct(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let ic = d.ic;
        let row_len = d.kw * ic; // one filter row
        let filter_len = d.kh * row_len; // one output channel's filter
        let in_row = d.iw * ic; // one input row
        let contiguous = d.x.dilation == 1;
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, oc) in (oc0..oc1).enumerate() {
                let b = bias_at(bias, oc);
                plain[j] = b;
                folded[j] = b.wrapping_add(
                    p.input_offset
                        .wrapping_mul(sum_i8(&filter[oc * filter_len..(oc + 1) * filter_len])),
                );
                rq[j] = requant_at(requant, oc);
            }
            let weights = &filter[oc0 * filter_len..oc1 * filter_len];
            for b in 0..d.n {
                let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
                for oy in 0..d.oh {
                    let y0 = d.y.origin(oy);
                    let row_inside = d.y.interior(y0);
                    for ox in 0..d.ow {
                        let x0 = d.x.origin(ox);
                        let o = ((b * d.oh + oy) * d.ow + ox) * d.oc;
                        let out = &mut output[o + oc0..o + oc1];
                        if row_inside && d.x.interior(x0) {
                            let x0 = x0 as usize;
                            let y0 = y0 as usize;
                            for (((o, w), &f), &r) in out
                                .iter_mut()
                                .zip(weights.chunks_exact(filter_len))
                                .zip(&folded[..len])
                                .zip(&rq[..len])
                            {
                                let mut acc = f;
                                for (ky, wrow) in w.chunks_exact(row_len).enumerate() {
                                    let iy = y0 + ky * d.y.dilation;
                                    let row = &image[iy * in_row..(iy + 1) * in_row];
                                    if contiguous {
                                        let seg = &row[x0 * ic..x0 * ic + row_len];
                                        acc = acc.wrapping_add(dot(seg, wrow));
                                    } else {
                                        for (kx, wtap) in wrow.chunks_exact(ic).enumerate() {
                                            let ix = x0 + kx * d.x.dilation;
                                            acc = acc.wrapping_add(dot(
                                                &row[ix * ic..(ix + 1) * ic],
                                                wtap,
                                            ));
                                        }
                                    }
                                }
                                *o = finish(acc, r, p.output_offset, p.act);
                            }
                        } else {
                            for (((o, w), &pb), &r) in out
                                .iter_mut()
                                .zip(weights.chunks_exact(filter_len))
                                .zip(&plain[..len])
                                .zip(&rq[..len])
                            {
                                let mut acc = pb;
                                for (ky, wrow) in w.chunks_exact(row_len).enumerate() {
                                    let Some(iy) = d.y.tap(y0, ky) else { continue };
                                    let row = &image[iy * in_row..(iy + 1) * in_row];
                                    for (kx, wtap) in wrow.chunks_exact(ic).enumerate() {
                                        let Some(ix) = d.x.tap(x0, kx) else { continue };
                                        acc = acc.wrapping_add(dot_offset(
                                            &row[ix * ic..(ix + 1) * ic],
                                            wtap,
                                            p.input_offset,
                                        ));
                                    }
                                }
                                *o = finish(acc, r, p.output_offset, p.act);
                            }
                        }
                    }
                }
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// Accumulators of up to four output channels `oc0..oc0 + n` (`n <= 4`) for one input
    /// segment `x`: `dot(x, w[k])` for each, where `w[k]` starts at `at(k)` in `weights` and
    /// has `x.len()` values. Uses [`crate::simd::dot4`] for a full group of four.
    #[inline(always)]
    fn dots_upto4(x: &[i8], weights: &[i8], at: impl Fn(usize) -> usize, n: usize) -> [i32; 4] {
        let len = x.len();
        let w = |k: usize| &weights[at(k)..at(k) + len];
        if n == 4 {
            crate::simd::dot4(x, [w(0), w(1), w(2), w(3)])
        } else {
            let mut out = [0i32; 4];
            for (k, o) in out.iter_mut().enumerate().take(n) {
                *o = crate::simd::dot(x, w(k));
            }
            out
        }
    }

    /// [`pointwise`] with register blocking: each input pixel is read once per group of
    /// four output channels ([`crate::simd::dot4`]: Wasm `simd128` dot products on
    /// `wasm32` with that feature, loops LLVM vectorizes elsewhere). Same folding of the
    /// input offset, same results. Returns `InvalidParams` for filters other than 1x1.
    #[allow(clippy::too_many_arguments)]
    pub fn pointwise4(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !pointwise_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "pointwise CONV_2D variant needs a 1x1 filter",
            ));
        }
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let ic = d.ic;
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, oc) in (oc0..oc1).enumerate() {
                let b = bias_at(bias, oc);
                plain[j] = b;
                folded[j] = b.wrapping_add(
                    p.input_offset
                        .wrapping_mul(sum_i8(&filter[oc * ic..(oc + 1) * ic])),
                );
                rq[j] = requant_at(requant, oc);
            }
            let weights = &filter[oc0 * ic..oc1 * ic];
            for b in 0..d.n {
                for oy in 0..d.oh {
                    let iy = d.y.tap(d.y.origin(oy), 0);
                    for ox in 0..d.ow {
                        let ix = d.x.tap(d.x.origin(ox), 0);
                        let o = ((b * d.oh + oy) * d.ow + ox) * d.oc;
                        let out = &mut output[o + oc0..o + oc1];
                        match (iy, ix) {
                            (Some(iy), Some(ix)) => {
                                let i = ((b * d.ih + iy) * d.iw + ix) * ic;
                                let px = &input[i..i + ic];
                                let mut j = 0;
                                while j < len {
                                    let n = (len - j).min(4);
                                    let acc = dots_upto4(px, weights, |k| (j + k) * ic, n);
                                    for (k, &a) in acc.iter().enumerate().take(n) {
                                        out[j + k] = finish(
                                            folded[j + k].wrapping_add(a),
                                            rq[j + k],
                                            p.output_offset,
                                            p.act,
                                        );
                                    }
                                    j += n;
                                }
                            }
                            _ => {
                                for ((o, &b), &r) in
                                    out.iter_mut().zip(&plain[..len]).zip(&rq[..len])
                                {
                                    *o = finish(b, r, p.output_offset, p.act);
                                }
                            }
                        }
                    }
                }
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// [`direct`] with register blocking: for interior output pixels, each input row
    /// segment (`kw * ic` values when `dilation_w == 1`, else one tap's `ic` values) is read
    /// once per group of four output channels ([`crate::simd::dot4`]). Border pixels are
    /// computed as in [`direct`]. Supports every argument set; same results.
    #[allow(clippy::too_many_arguments)]
    pub fn direct4(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let ic = d.ic;
        let row_len = d.kw * ic;
        let filter_len = d.kh * row_len;
        let in_row = d.iw * ic;
        let contiguous = d.x.dilation == 1;
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, oc) in (oc0..oc1).enumerate() {
                let b = bias_at(bias, oc);
                plain[j] = b;
                folded[j] = b.wrapping_add(
                    p.input_offset
                        .wrapping_mul(sum_i8(&filter[oc * filter_len..(oc + 1) * filter_len])),
                );
                rq[j] = requant_at(requant, oc);
            }
            let weights = &filter[oc0 * filter_len..oc1 * filter_len];
            for b in 0..d.n {
                let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
                for oy in 0..d.oh {
                    let y0 = d.y.origin(oy);
                    let row_inside = d.y.interior(y0);
                    for ox in 0..d.ow {
                        let x0 = d.x.origin(ox);
                        let o = ((b * d.oh + oy) * d.ow + ox) * d.oc;
                        let out = &mut output[o + oc0..o + oc1];
                        if row_inside && d.x.interior(x0) {
                            let x0 = x0 as usize;
                            let y0 = y0 as usize;
                            let mut j = 0;
                            while j < len {
                                let n = (len - j).min(4);
                                let mut acc = [0i32; 4];
                                for ky in 0..d.kh {
                                    let iy = y0 + ky * d.y.dilation;
                                    let row = &image[iy * in_row..(iy + 1) * in_row];
                                    let wrow = |k: usize| (j + k) * filter_len + ky * row_len;
                                    if contiguous {
                                        let seg = &row[x0 * ic..x0 * ic + row_len];
                                        let s = dots_upto4(seg, weights, wrow, n);
                                        for (a, s) in acc.iter_mut().zip(s) {
                                            *a = a.wrapping_add(s);
                                        }
                                    } else {
                                        for kx in 0..d.kw {
                                            let ix = x0 + kx * d.x.dilation;
                                            let tap = &row[ix * ic..(ix + 1) * ic];
                                            let s =
                                                dots_upto4(tap, weights, |k| wrow(k) + kx * ic, n);
                                            for (a, s) in acc.iter_mut().zip(s) {
                                                *a = a.wrapping_add(s);
                                            }
                                        }
                                    }
                                }
                                for (k, &a) in acc.iter().enumerate().take(n) {
                                    out[j + k] = finish(
                                        folded[j + k].wrapping_add(a),
                                        rq[j + k],
                                        p.output_offset,
                                        p.act,
                                    );
                                }
                                j += n;
                            }
                        } else {
                            for (((o, w), &pb), &r) in out
                                .iter_mut()
                                .zip(weights.chunks_exact(filter_len))
                                .zip(&plain[..len])
                                .zip(&rq[..len])
                            {
                                let mut acc = pb;
                                for (ky, wrow) in w.chunks_exact(row_len).enumerate() {
                                    let Some(iy) = d.y.tap(y0, ky) else { continue };
                                    let row = &image[iy * in_row..(iy + 1) * in_row];
                                    for (kx, wtap) in wrow.chunks_exact(ic).enumerate() {
                                        let Some(ix) = d.x.tap(x0, kx) else { continue };
                                        acc = acc.wrapping_add(dot_offset(
                                            &row[ix * ic..(ix + 1) * ic],
                                            wtap,
                                            p.input_offset,
                                        ));
                                    }
                                }
                                *o = finish(acc, r, p.output_offset, p.act);
                            }
                        }
                    }
                }
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// Largest `kh * kw * ic` that [`dsp`] and [`swar`] gather into their per-pixel patch
    /// buffers (two of them on the stack); larger non-1x1 filters run [`direct`].
    const PATCH_MAX: usize = 1024;

    /// Elements of a pixel pair's input vectors that [`swar`] packs at once (2 KiB of
    /// stack); longer vectors are packed and multiplied in chunks of this size.
    const SWAR_CHUNK: usize = 256;

    /// Start values of the accumulators of output channels `oc0..oc1` (at most
    /// [`CHANNEL_BLOCK`] of them) whose filters have `k` values each: `plain[j] = bias`,
    /// for pixels whose input is all padding, and `folded[j] = bias + input_offset *
    /// Σw[oc0 + j]`, for the folded form `folded + Σ x * w`.
    fn block_start(
        bias: Option<&[i32]>,
        filter: &[i8],
        k: usize,
        input_offset: i32,
        oc0: usize,
        oc1: usize,
    ) -> ([i32; CHANNEL_BLOCK], [i32; CHANNEL_BLOCK]) {
        let mut folded = [0i32; CHANNEL_BLOCK];
        let mut plain = [0i32; CHANNEL_BLOCK];
        for (j, oc) in (oc0..oc1).enumerate() {
            let b = bias_at(bias, oc);
            plain[j] = b;
            folded[j] =
                b.wrapping_add(input_offset.wrapping_mul(sum_i8(&filter[oc * k..(oc + 1) * k])));
        }
        (folded, plain)
    }

    /// CONV_2D for scalar 64-bit arithmetic without a vector unit (scalar `wasm32`: one
    /// `i64.mul` is one instruction on wasmtime and one dispatch on wasmi): a GEMM over
    /// pairs of output pixels, whose two input vectors are packed into one `i64` per
    /// element so that each multiply-accumulate computes both pixels' products
    /// (`crate::swar`, exact for vectors shorter than 2^17), register-blocked over four
    /// output channels. The input vectors and the folding of the input offset are those
    /// of [`dsp`] (the input pixel for 1x1 filters, else a gathered patch with padding
    /// taps set to the input zero point). Non-1x1 filters with more than 1024 values or
    /// whose `-input_offset` is not an `i8`, 1x1 filters with 2^17 input channels or
    /// more, and requantization multipliers of `i32::MIN` are computed by [`direct`].
    /// Supports every argument set; same results.
    #[allow(clippy::too_many_arguments)]
    pub fn swar(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let k = d.kh * d.kw * d.ic;
        let one_by_one = d.kh == 1 && d.kw == 1;
        let Some(fill) = pair_fill(p, &d, requant, crate::swar::MAX_LEN - 1) else {
            return direct(
                p,
                input_shape,
                input,
                filter_shape,
                filter,
                bias,
                requant,
                output_shape,
                output,
            );
        };
        let pixels = d.n * d.oh * d.ow;
        let mut patch0 = [0i8; PATCH_MAX];
        let mut patch1 = [0i8; PATCH_MAX];
        let mut packed = [0i64; SWAR_CHUNK];
        let mut sums = [0i64; CHANNEL_BLOCK];
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let (folded, plain) = block_start(bias, filter, k, p.input_offset, oc0, oc1);
            let mut rq = [PreparedRequant::default(); CHANNEL_BLOCK];
            let ok = prepare_requant(requant, oc0, &mut rq[..len]);
            debug_assert!(ok, "multiplier i32::MIN was routed to `direct`");
            let weights = &filter[oc0 * k..oc1 * k];
            let mut q = 0;
            while q < pixels {
                let rows = pair_rows(&d, input, q, one_by_one, fill, &mut patch0, &mut patch1);
                let (x0, x1) = (rows.x0, rows.x1);
                let sums = &mut sums[..len];
                sums.fill(0);
                let mut start = 0;
                while start < x0.len() {
                    let n = (x0.len() - start).min(SWAR_CHUNK);
                    let xs = &mut packed[..n];
                    crate::swar::pack(&x0[start..start + n], &x1[start..start + n], xs);
                    let xs = &*xs;
                    let w = |j: usize| &weights[j * k + start..j * k + start + n];
                    let mut j = 0;
                    while j + 4 <= len {
                        let s = crate::swar::dot4(xs, [w(j), w(j + 1), w(j + 2), w(j + 3)]);
                        for (a, s) in sums[j..j + 4].iter_mut().zip(s) {
                            *a = a.wrapping_add(s);
                        }
                        j += 4;
                    }
                    for (j, a) in sums.iter_mut().enumerate().skip(j) {
                        *a = a.wrapping_add(crate::swar::dot1(xs, w(j)));
                    }
                    start += n;
                }
                for (j, &s) in sums.iter().enumerate() {
                    let at = q * d.oc + oc0 + j;
                    rows.store(output, at, d.oc, crate::swar::split(s), |inside, a| {
                        let start = if inside {
                            folded[j].wrapping_add(a)
                        } else {
                            plain[j]
                        };
                        rq[j].finish(start, p.output_offset, p.act)
                    });
                }
                q += 2;
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// CONV_2D as a GEMM on the Arm DSP extension (`SMLAD` on `SXTB16`-unpacked operands,
    /// see `crate::dsp`), register-blocked over two output pixels: each pair's input
    /// vectors are widened to 16 bits once, then every output channel takes four values
    /// per step (an assembly loop on ARMv7E-M; elsewhere the same sums on an exact model of
    /// the instructions). The input offset is folded out:
    /// `acc = (bias + input_offset * Σw[oc]) + Σ x * w[oc]`.
    ///
    /// A pixel's input vector is, for 1x1 filters, the input pixel itself (an output pixel
    /// whose input pixel is in the padding gets `bias` alone); for other filters a patch of
    /// `kh * kw * ic` values gathered in filter order, with every tap in the padding filled
    /// with `-input_offset` (the input zero point), so that it contributes
    /// `(-input_offset + input_offset) * w = 0` exactly as in the reference. Non-1x1
    /// filters with more than 1024 values, or whose `-input_offset` is not an `i8`, and
    /// requantization multipliers of `i32::MIN` (never derived from a real scale) are
    /// computed by [`direct`]. Supports every argument set; same results.
    #[allow(clippy::too_many_arguments)]
    pub fn dsp(
        p: &ConvParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        let d = validate(
            p,
            input_shape,
            input,
            filter_shape,
            filter,
            bias,
            requant,
            output_shape,
            output,
        )?;
        let k = d.kh * d.kw * d.ic;
        let one_by_one = d.kh == 1 && d.kw == 1;
        let Some(fill) = pair_fill(p, &d, requant, usize::MAX) else {
            return direct(
                p,
                input_shape,
                input,
                filter_shape,
                filter,
                bias,
                requant,
                output_shape,
                output,
            );
        };
        let pixels = d.n * d.oh * d.ow;
        let mut patch0 = [0i8; PATCH_MAX];
        let mut patch1 = [0i8; PATCH_MAX];
        let mut widened = [[0u32; 4]; PATCH_MAX / 4];
        let mut oc0 = 0;
        while oc0 < d.oc {
            let oc1 = (oc0 + CHANNEL_BLOCK).min(d.oc);
            let len = oc1 - oc0;
            let (folded, plain) = block_start(bias, filter, k, p.input_offset, oc0, oc1);
            let mut rq = [PreparedRequant::default(); CHANNEL_BLOCK];
            let ok = prepare_requant(requant, oc0, &mut rq[..len]);
            debug_assert!(ok, "multiplier i32::MIN was routed to `direct`");
            let weights = &filter[oc0 * k..oc1 * k];
            let mut q = 0;
            while q < pixels {
                let rows = pair_rows(&d, input, q, one_by_one, fill, &mut patch0, &mut patch1);
                let (x0, x1) = (rows.x0, rows.x1);
                // (A 1x1 filter's row may be longer than the buffer: the rest is plain.)
                let chunks = (x0.len() / 4).min(PATCH_MAX / 4);
                crate::dsp::widen_pair(x0, x1, &mut widened[..chunks]);
                let xw = &widened[..chunks];
                let (o0, o1) = (q * d.oc + oc0, (q + 1) * d.oc + oc0);
                if rows.pair && rows.in0 && rows.in1 {
                    // The common case: two pixels with input rows, no bounds checks.
                    let (head, tail) = output.split_at_mut(o1);
                    let rows = weights
                        .chunks_exact(k)
                        .zip(&folded[..len])
                        .zip(&rq[..len])
                        .zip(&mut head[o0..o0 + len])
                        .zip(&mut tail[..len]);
                    for ((((w, &f), r), out0), out1) in rows {
                        let [a0, a1] = crate::dsp::dot_2x1(xw, x0, x1, w, f);
                        *out0 = r.finish(a0, p.output_offset, p.act);
                        *out1 = r.finish(a1, p.output_offset, p.act);
                    }
                    q += 2;
                    continue;
                }
                for j in 0..len {
                    let acc = crate::dsp::dot_2x1(xw, x0, x1, &weights[j * k..(j + 1) * k], 0);
                    rows.store(output, o0 + j, d.oc, acc, |inside, a| {
                        let start = if inside {
                            folded[j].wrapping_add(a)
                        } else {
                            plain[j]
                        };
                        rq[j].finish(start, p.output_offset, p.act)
                    });
                }
                q += 2;
            }
            oc0 = oc1;
        }
        Ok(())
    }

    /// Whether the pixel-pair GEMMs ([`dsp`], [`swar`]) take these arguments, and with what
    /// patch fill: `Some(-input_offset)` (the input zero point, for padding taps of a
    /// gathered patch) for filters of at most [`PATCH_MAX`] values; `Some(0)` (unused: no
    /// patch) for 1x1 filters of at most `max_1x1` input channels whose `-input_offset` is
    /// not an `i8` or that are longer than a patch; `None` (the caller runs [`direct`])
    /// otherwise, and whenever a requantization multiplier is `i32::MIN` (never derived by
    /// `Requant::from_real`; [`PreparedRequant`] refuses it).
    fn pair_fill(p: &ConvParams, d: &Dims, requant: &[Requant], max_1x1: usize) -> Option<i8> {
        if requant.iter().any(|r| r.multiplier == i32::MIN) {
            return None;
        }
        let k = d.kh * d.kw * d.ic;
        match i8::try_from(p.input_offset.wrapping_neg()) {
            Ok(f) if k <= PATCH_MAX => Some(f),
            _ if d.kh == 1 && d.kw == 1 && k <= max_1x1 => Some(0),
            _ => None,
        }
    }

    /// The input vectors of output pixels `q` and `q + 1` (flat indices over batch, rows,
    /// columns) for the pixel-pair GEMMs [`dsp`] and [`swar`].
    struct PairRows<'a> {
        /// Whether pixel `q + 1` exists.
        pair: bool,
        /// Whether pixel `q` has an input vector (a 1x1 filter's pixel in the padding has
        /// none).
        in0: bool,
        /// Whether pixel `q + 1` exists and has an input vector.
        in1: bool,
        /// The vectors the dot products run over: pixel `q`'s and `q + 1`'s; a missing one
        /// repeats the other, and both are empty when neither pixel has one.
        x0: &'a [i8],
        /// See `x0`.
        x1: &'a [i8],
    }

    impl PairRows<'_> {
        /// Stores one output channel of both pixels from the dot products `[over x0, over
        /// x1]`: `output[at]` for pixel `q`, `output[at + oc]` for `q + 1` (if it exists),
        /// each `finish(has_vector, dot)`, with the pixel's own dot product (0 when it has
        /// no vector).
        #[inline(always)]
        fn store(
            &self,
            output: &mut [i8],
            at: usize,
            oc: usize,
            [a0, a1]: [i32; 2],
            finish: impl Fn(bool, i32) -> i8,
        ) {
            // `x0` is pixel `q`'s vector unless only pixel `q + 1` has one.
            let (acc_q, acc_q1) = if self.in0 { (a0, a1) } else { (0, a0) };
            output[at] = finish(self.in0, acc_q);
            if self.pair {
                output[at + oc] = finish(self.in1, acc_q1);
            }
        }
    }

    /// [`PairRows`] of pixels `q` and `q + 1`, gathering patches into `patch0`/`patch1`
    /// (see [`patch_row`]).
    #[inline(always)]
    fn pair_rows<'a>(
        d: &Dims,
        input: &'a [i8],
        q: usize,
        one_by_one: bool,
        fill: i8,
        patch0: &'a mut [i8; PATCH_MAX],
        patch1: &'a mut [i8; PATCH_MAX],
    ) -> PairRows<'a> {
        let pair = q + 1 < d.n * d.oh * d.ow;
        let r0 = patch_row(d, input, q, one_by_one, fill, patch0);
        let r1 = if pair {
            patch_row(d, input, q + 1, one_by_one, fill, patch1)
        } else {
            None
        };
        let (x0, x1) = match (r0, r1) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) | (None, Some(a)) => (a, a),
            (None, None) => (&[][..], &[][..]),
        };
        PairRows {
            pair,
            in0: r0.is_some(),
            in1: r1.is_some(),
            x0,
            x1,
        }
    }

    /// The input vector of output pixel `q` (flat index over batch, rows, columns) for
    /// [`dsp`] and [`swar`]: for a 1x1 filter the input pixel (`None` when it is in the padding), else
    /// the patch gathered into `buf` (padding taps filled with `fill`).
    #[inline(always)]
    fn patch_row<'a>(
        d: &Dims,
        input: &'a [i8],
        q: usize,
        one_by_one: bool,
        fill: i8,
        buf: &'a mut [i8; PATCH_MAX],
    ) -> Option<&'a [i8]> {
        let ic = d.ic;
        let b = q / (d.oh * d.ow);
        let oy = q / d.ow % d.oh;
        let ox = q % d.ow;
        let (y0, x0) = (d.y.origin(oy), d.x.origin(ox));
        let in_row = d.iw * ic;
        let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
        if one_by_one {
            let (iy, ix) = (d.y.tap(y0, 0)?, d.x.tap(x0, 0)?);
            let i = iy * in_row + ix * ic;
            return Some(&image[i..i + ic]);
        }
        let row_len = d.kw * ic;
        let contiguous = d.x.dilation == 1 && d.x.interior(x0);
        for (ky, dst) in buf[..d.kh * row_len].chunks_exact_mut(row_len).enumerate() {
            let Some(iy) = d.y.tap(y0, ky) else {
                dst.fill(fill);
                continue;
            };
            let row = &image[iy * in_row..(iy + 1) * in_row];
            if contiguous {
                let x0 = x0 as usize * ic;
                dst.copy_from_slice(&row[x0..x0 + row_len]);
            } else {
                for (kx, tap) in dst.chunks_exact_mut(ic).enumerate() {
                    match d.x.tap(x0, kx) {
                        Some(ix) => tap.copy_from_slice(&row[ix * ic..(ix + 1) * ic]),
                        None => tap.fill(fill),
                    }
                }
            }
        }
        Some(&buf[..d.kh * row_len])
    }

    impl Variant {
        /// A variant named `name` running `run` where `supports` holds.
        pub const fn of(name: &'static str, run: ConvFn, supports: SupportsFn) -> Variant {
            Variant {
                name,
                run,
                supports,
            }
        }
    }
}
