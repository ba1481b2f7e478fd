//! DEPTHWISE_CONV_2D (int8 activations, per-channel int8 weights, int32 bias).
//!
//! [`depthwise_conv2d`] dispatches, for depth multiplier 1, to [`variants::dm1x16`] on
//! `wasm32` with `simd128`, to [`variants::dsp`] on ARMv7E-M (`thumbv7em-*`, cfg from
//! build.rs: the DSP extension), else to [`variants::dw3x3`] for 3x3 filters and
//! [`variants::dm1`] for others; to [`reference::depthwise_conv2d`] otherwise. All give the
//! reference's bytes ([`variants::ALL`]).

use crate::common::{
    Axis, CHANNEL_BLOCK, bias_at, check_act, check_bias, check_requant, finish, requant_at,
    shape_len,
};
use crate::{ActivationRange, KernelError, Requant, Shape4, check_len};

/// Parameters of an int8 DEPTHWISE_CONV_2D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseParams {
    /// Vertical stride (at least 1).
    pub stride_h: usize,
    /// Horizontal stride (at least 1).
    pub stride_w: usize,
    /// Vertical dilation (at least 1).
    pub dilation_h: usize,
    /// Horizontal dilation (at least 1).
    pub dilation_w: usize,
    /// Padding rows before the first input row.
    pub pad_top: usize,
    /// Padding columns before the first input column.
    pub pad_left: usize,
    /// Output channels per input channel (`output_c = input_c * depth_multiplier`, at
    /// least 1).
    pub depth_multiplier: usize,
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Output clamp including the fused activation (`-128 <= min <= max <= 127`).
    pub act: ActivationRange,
}

/// DEPTHWISE_CONV_2D: `output[n,y,x,oc] = clamp(requant[oc](bias[oc] + Σ_{ky,kx}
/// (input[n, iy, ix, oc / depth_multiplier] + input_offset) * filter[0,ky,kx,oc]) +
/// output_offset)` over the taps `(iy, ix) = (y * stride_h + ky * dilation_h - pad_top,
/// x * stride_w + kx * dilation_w - pad_left)` inside the input (padding taps contribute
/// 0); `i32` wrapping accumulation, [`Requant::apply`] (double rounding), clamp `p.act`.
///
/// Shapes: input `[n, ih, iw, ic]`, filter `[1, kh, kw, oc]` with
/// `oc = ic * depth_multiplier`, bias `[oc]` (or `None`), `requant` per output channel
/// (or a single entry for every channel), output `[n, oh, ow, oc]`. Output channel `oc`
/// reads input channel `oc / depth_multiplier`. The output's spatial size is taken as
/// given.
///
/// # Errors
/// [`KernelError::BufferSize`] for a slice whose length differs from its shape's element
/// count; [`KernelError::InvalidParams`] for inconsistent shapes or channel counts, zero
/// strides/dilations/filter sizes/depth multiplier, shifts outside `-31..=31`, an invalid
/// clamp range, or sizes that overflow. The output is untouched on error.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    p: &DepthwiseParams,
    input_shape: Shape4,
    input: &[i8],
    filter_shape: Shape4,
    filter: &[i8],
    bias: Option<&[i32]>,
    requant: &[Requant],
    output_shape: Shape4,
    output: &mut [i8],
) -> Result<(), KernelError> {
    let dm1 = variants::dm1_supports(p, input_shape, filter_shape, output_shape);
    let run = if dm1 && variants::DM1_FAST {
        variants::DM1_FAST_FN
    } else if variants::dw3x3_supports(p, input_shape, filter_shape, output_shape) {
        variants::dw3x3
    } else if dm1 {
        variants::dm1
    } else {
        variants::reference
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

/// Validated DEPTHWISE_CONV_2D dimensions.
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
    dm: usize,
    y: Axis,
    x: Axis,
}

/// Checks every argument of a DEPTHWISE_CONV_2D against [`depthwise_conv2d`]'s contract.
#[allow(clippy::too_many_arguments)]
fn validate(
    p: &DepthwiseParams,
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
    if p.depth_multiplier == 0 {
        return Err(KernelError::InvalidParams(
            "depth multiplier must be at least 1",
        ));
    }
    if filter_shape.n != 1 {
        return Err(KernelError::InvalidParams(
            "depthwise filter must have shape [1, kh, kw, oc]",
        ));
    }
    if input_shape.c == 0 {
        return Err(KernelError::InvalidParams(
            "channel counts must be at least 1",
        ));
    }
    if input_shape.c.checked_mul(p.depth_multiplier) != Some(filter_shape.c) {
        return Err(KernelError::InvalidParams(
            "filter channels must equal input channels * depth multiplier",
        ));
    }
    if output_shape.c != filter_shape.c {
        return Err(KernelError::InvalidParams(
            "output channels must equal filter channels",
        ));
    }
    if output_shape.n != input_shape.n {
        return Err(KernelError::InvalidParams(
            "output batch must equal input batch",
        ));
    }
    check_bias(bias, filter_shape.c)?;
    check_requant(requant, filter_shape.c)?;
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
        oc: filter_shape.c,
        dm: p.depth_multiplier,
        y,
        x,
    })
}

/// The plain reference implementation.
pub mod reference {
    use super::*;

    /// Reference DEPTHWISE_CONV_2D (TFLM's loop nest); see [`super::depthwise_conv2d`].
    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_conv2d(
        p: &DepthwiseParams,
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
                    for ic in 0..d.ic {
                        for m in 0..d.dm {
                            let oc = ic * d.dm + m;
                            let mut acc: i32 = 0;
                            for ky in 0..d.kh {
                                let Some(iy) = d.y.tap(y0, ky) else { continue };
                                for kx in 0..d.kw {
                                    let Some(ix) = d.x.tap(x0, kx) else { continue };
                                    let iv =
                                        i32::from(input[((b * d.ih + iy) * d.iw + ix) * d.ic + ic]);
                                    let fv = i32::from(filter[(ky * d.kw + kx) * d.oc + oc]);
                                    acc = acc.wrapping_add(
                                        fv.wrapping_mul(iv.wrapping_add(p.input_offset)),
                                    );
                                }
                            }
                            acc = acc.wrapping_add(bias_at(bias, oc));
                            output[((b * d.oh + oy) * d.ow + ox) * d.oc + oc] =
                                finish(acc, requant_at(requant, oc), p.output_offset, p.act);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every DEPTHWISE_CONV_2D implementation, each usable on its own (for tests and
/// benchmarks).
///
/// All variants share [`variants::DepthwiseFn`]'s signature and [`depthwise_conv2d`]'s
/// contract, and give the same bytes as [`reference::depthwise_conv2d`] whenever their `*_supports`
/// predicate holds; when it does not they return [`KernelError::InvalidParams`] without
/// writing the output.
pub mod variants {
    use super::*;

    pub use super::reference::depthwise_conv2d as reference;

    /// The signature shared by every DEPTHWISE_CONV_2D variant.
    pub type DepthwiseFn = fn(
        &DepthwiseParams,
        Shape4,
        &[i8],
        Shape4,
        &[i8],
        Option<&[i32]>,
        &[Requant],
        Shape4,
        &mut [i8],
    ) -> Result<(), KernelError>;

    /// Whether a variant applies: `(params, input_shape, filter_shape, output_shape)`.
    pub type SupportsFn = fn(&DepthwiseParams, Shape4, Shape4, Shape4) -> bool;

    /// A named DEPTHWISE_CONV_2D implementation and the arguments it accepts.
    #[derive(Clone, Copy, Debug)]
    pub struct Variant {
        /// Short name (`"reference"`, `"dm1"`, ...).
        pub name: &'static str,
        /// The implementation.
        pub run: DepthwiseFn,
        /// Which arguments it supports; elsewhere it returns `InvalidParams`.
        pub supports: SupportsFn,
    }

    /// Every DEPTHWISE_CONV_2D variant, the reference first.
    pub const ALL: &[Variant] = &[
        Variant {
            name: "reference",
            run: reference,
            supports: always,
        },
        Variant {
            name: "dm1",
            run: dm1,
            supports: dm1_supports,
        },
        Variant {
            name: "dw3x3",
            run: dw3x3,
            supports: dw3x3_supports,
        },
        Variant {
            name: "dm1x16",
            run: dm1x16,
            supports: dm1_supports,
        },
        Variant::of("dsp", dsp, dm1_supports),
        Variant {
            name: "dispatch",
            run: depthwise_conv2d, // the dispatcher
            supports: always,
        },
    ];

    /// A [`SupportsFn`] that accepts everything.
    pub fn always(_: &DepthwiseParams, _: Shape4, _: Shape4, _: Shape4) -> bool {
        true
    }

    /// [`dm1`] applies when the depth multiplier is 1 (any filter size, stride, dilation
    /// and padding).
    pub fn dm1_supports(p: &DepthwiseParams, _: Shape4, _: Shape4, _: Shape4) -> bool {
        p.depth_multiplier == 1
    }

    /// [`dw3x3`] applies to 3x3 filters with depth multiplier 1.
    pub fn dw3x3_supports(p: &DepthwiseParams, _: Shape4, filter: Shape4, _: Shape4) -> bool {
        p.depth_multiplier == 1 && filter.h == 3 && filter.w == 3
    }

    /// DEPTHWISE_CONV_2D with depth multiplier 1, vectorized across channels: for a block
    /// of channels, interior pixels start from `bias + input_offset * Σ_taps w[c]` and
    /// accumulate `input * w` tap by tap; border pixels start from `bias` and accumulate
    /// `(input + input_offset) * w` over their in-bounds taps. Returns `InvalidParams`
    /// when the depth multiplier is not 1.
    #[allow(clippy::too_many_arguments)]
    pub fn dm1(
        p: &DepthwiseParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !dm1_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "dm1 DEPTHWISE_CONV_2D variant needs depth multiplier 1",
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
        dm1_core(p, &d, d.kh, d.kw, input, filter, bias, requant, output);
        Ok(())
    }

    /// [`dm1`] specialized for 3x3 filters (the tap loops are fully unrolled). Returns
    /// `InvalidParams` unless the filter is 3x3 and the depth multiplier is 1.
    #[allow(clippy::too_many_arguments)]
    pub fn dw3x3(
        p: &DepthwiseParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !dw3x3_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "dw3x3 DEPTHWISE_CONV_2D variant needs a 3x3 filter and depth multiplier 1",
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
        // Constant filter size: `dm1_core` is inlined and its tap loops unrolled.
        dm1_core(p, &d, 3, 3, input, filter, bias, requant, output);
        Ok(())
    }

    /// The depth-multiplier-1 loop nest; `kh`/`kw` equal `d.kh`/`d.kw` and are passed
    /// separately so callers can make them compile-time constants.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dm1_core(
        p: &DepthwiseParams,
        d: &Dims,
        kh: usize,
        kw: usize,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) {
        let c = d.oc; // == d.ic
        let in_row = d.iw * c;
        let mut c0 = 0;
        while c0 < c {
            let c1 = (c0 + CHANNEL_BLOCK).min(c);
            let len = c1 - c0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, ch) in (c0..c1).enumerate() {
                plain[j] = bias_at(bias, ch);
                rq[j] = requant_at(requant, ch);
            }
            // Σ over taps of the filter, per channel.
            let mut wsum = [0i32; CHANNEL_BLOCK];
            for tap in 0..kh * kw {
                let w = &filter[tap * c + c0..tap * c + c1];
                for (s, &w) in wsum[..len].iter_mut().zip(w) {
                    *s = s.wrapping_add(i32::from(w));
                }
            }
            for j in 0..len {
                folded[j] = plain[j].wrapping_add(p.input_offset.wrapping_mul(wsum[j]));
            }
            let mut acc = [0i32; CHANNEL_BLOCK];
            for b in 0..d.n {
                let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
                for oy in 0..d.oh {
                    let y0 = d.y.origin(oy);
                    let row_inside = d.y.interior(y0);
                    for ox in 0..d.ow {
                        let x0 = d.x.origin(ox);
                        let acc = &mut acc[..len];
                        if row_inside && d.x.interior(x0) {
                            let (y0, x0) = (y0 as usize, x0 as usize);
                            acc.copy_from_slice(&folded[..len]);
                            for ky in 0..kh {
                                let iy = y0 + ky * d.y.dilation;
                                for kx in 0..kw {
                                    let ix = x0 + kx * d.x.dilation;
                                    let i = iy * in_row + ix * c;
                                    let px = &image[i + c0..i + c1];
                                    let t = (ky * kw + kx) * c;
                                    let w = &filter[t + c0..t + c1];
                                    for ((a, &x), &w) in acc.iter_mut().zip(px).zip(w) {
                                        *a = a.wrapping_add(i32::from(x) * i32::from(w));
                                    }
                                }
                            }
                        } else {
                            acc.copy_from_slice(&plain[..len]);
                            for ky in 0..kh {
                                let Some(iy) = d.y.tap(y0, ky) else { continue };
                                for kx in 0..kw {
                                    let Some(ix) = d.x.tap(x0, kx) else { continue };
                                    let i = iy * in_row + ix * c;
                                    let px = &image[i + c0..i + c1];
                                    let t = (ky * kw + kx) * c;
                                    let w = &filter[t + c0..t + c1];
                                    for ((a, &x), &w) in acc.iter_mut().zip(px).zip(w) {
                                        *a = a.wrapping_add(i32::from(w).wrapping_mul(
                                            i32::from(x).wrapping_add(p.input_offset),
                                        ));
                                    }
                                }
                            }
                        }
                        let o = ((b * d.oh + oy) * d.ow + ox) * c;
                        for ((out, &a), &r) in
                            output[o + c0..o + c1].iter_mut().zip(&*acc).zip(&rq[..len])
                        {
                            *out = finish(a, r, p.output_offset, p.act);
                        }
                    }
                }
            }
            c0 = c1;
        }
    }

    /// [`dm1`] with the accumulators of sixteen channels kept in registers over all the
    /// taps of an interior pixel (`crate::simd::Acc16`: four `i32x4` vectors and
    /// `i32x4.extmul_*_i16x8_s` on `wasm32` with `simd128`, a fixed array LLVM vectorizes
    /// elsewhere), 3x3 filters unrolled. Border pixels and the last `channels % 16`
    /// channels are computed as in [`dm1`]. Same results; returns `InvalidParams` when the
    /// depth multiplier is not 1.
    #[allow(clippy::too_many_arguments)]
    pub fn dm1x16(
        p: &DepthwiseParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !dm1_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "dm1x16 DEPTHWISE_CONV_2D variant needs depth multiplier 1",
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
        if d.kh == 3 && d.kw == 3 {
            dm1x16_core(p, &d, 3, 3, input, filter, bias, requant, output);
        } else {
            dm1x16_core(p, &d, d.kh, d.kw, input, filter, bias, requant, output);
        }
        Ok(())
    }

    /// The loop nest of [`dm1x16`]; `kh`/`kw` equal `d.kh`/`d.kw`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dm1x16_core(
        p: &DepthwiseParams,
        d: &Dims,
        kh: usize,
        kw: usize,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) {
        use crate::simd::{Acc16, LANES};
        let c = d.oc; // == d.ic
        let in_row = d.iw * c;
        let mut c0 = 0;
        while c0 < c {
            let c1 = (c0 + CHANNEL_BLOCK).min(c);
            let len = c1 - c0;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut plain = [0i32; CHANNEL_BLOCK];
            let mut rq = [Requant::default(); CHANNEL_BLOCK];
            for (j, ch) in (c0..c1).enumerate() {
                plain[j] = bias_at(bias, ch);
                rq[j] = requant_at(requant, ch);
            }
            let mut wsum = [0i32; CHANNEL_BLOCK];
            for tap in 0..kh * kw {
                let w = &filter[tap * c + c0..tap * c + c1];
                for (s, &w) in wsum[..len].iter_mut().zip(w) {
                    *s = s.wrapping_add(i32::from(w));
                }
            }
            for j in 0..len {
                folded[j] = plain[j].wrapping_add(p.input_offset.wrapping_mul(wsum[j]));
            }
            // Channels `0..vec_len` of the block go through `Acc16`, the rest one by one.
            let vec_len = len - len % LANES;
            let mut acc = [0i32; CHANNEL_BLOCK];
            for b in 0..d.n {
                let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
                for oy in 0..d.oh {
                    let y0 = d.y.origin(oy);
                    let row_inside = d.y.interior(y0);
                    for ox in 0..d.ow {
                        let x0 = d.x.origin(ox);
                        let acc = &mut acc[..len];
                        if row_inside && d.x.interior(x0) {
                            let (y0, x0) = (y0 as usize, x0 as usize);
                            let mut j = 0;
                            while j < vec_len {
                                let (Some(start), Some(dst)) = (
                                    folded[j..].first_chunk::<LANES>(),
                                    acc[j..].first_chunk_mut::<LANES>(),
                                ) else {
                                    break; // unreachable: j + LANES <= vec_len <= len
                                };
                                let mut a = Acc16::load(start);
                                for ky in 0..kh {
                                    let iy = y0 + ky * d.y.dilation;
                                    for kx in 0..kw {
                                        let ix = x0 + kx * d.x.dilation;
                                        let i = iy * in_row + ix * c + c0 + j;
                                        let t = (ky * kw + kx) * c + c0 + j;
                                        if let (Some(px), Some(w)) = (
                                            image[i..].first_chunk::<LANES>(),
                                            filter[t..].first_chunk::<LANES>(),
                                        ) {
                                            a.mac(px, w);
                                        }
                                    }
                                }
                                a.store(dst);
                                j += LANES;
                            }
                            let rest = &mut acc[vec_len..];
                            rest.copy_from_slice(&folded[vec_len..len]);
                            for ky in 0..kh {
                                let iy = y0 + ky * d.y.dilation;
                                for kx in 0..kw {
                                    let ix = x0 + kx * d.x.dilation;
                                    let i = iy * in_row + ix * c;
                                    let px = &image[i + c0 + vec_len..i + c1];
                                    let t = (ky * kw + kx) * c;
                                    let w = &filter[t + c0 + vec_len..t + c1];
                                    for ((a, &x), &w) in rest.iter_mut().zip(px).zip(w) {
                                        *a = a.wrapping_add(i32::from(x) * i32::from(w));
                                    }
                                }
                            }
                        } else {
                            acc.copy_from_slice(&plain[..len]);
                            for ky in 0..kh {
                                let Some(iy) = d.y.tap(y0, ky) else { continue };
                                for kx in 0..kw {
                                    let Some(ix) = d.x.tap(x0, kx) else { continue };
                                    let i = iy * in_row + ix * c;
                                    let px = &image[i + c0..i + c1];
                                    let t = (ky * kw + kx) * c;
                                    let w = &filter[t + c0..t + c1];
                                    for ((a, &x), &w) in acc.iter_mut().zip(px).zip(w) {
                                        *a = a.wrapping_add(i32::from(w).wrapping_mul(
                                            i32::from(x).wrapping_add(p.input_offset),
                                        ));
                                    }
                                }
                            }
                        }
                        let o = ((b * d.oh + oy) * d.ow + ox) * c;
                        for ((out, &a), &r) in
                            output[o + c0..o + c1].iter_mut().zip(&*acc).zip(&rq[..len])
                        {
                            *out = finish(a, r, p.output_offset, p.act);
                        }
                    }
                }
            }
            c0 = c1;
        }
    }

    /// Largest `kh * kw` that [`dsp`] handles itself; larger filters run as in [`dm1`].
    const DSP_TAPS_MAX: usize = 16;

    /// [`dm1`] on the Arm DSP extension (see `crate::dsp`; on targets other than ARMv7E-M
    /// the same code runs on an exact model of the instructions): four channels per step,
    /// one word of input per tap (gathered per pixel, group by group) and the weights
    /// unpacked once per call, `SXTB16` / `SXTB16 ROR #8` and `SMLABB` / `SMLATT` into four
    /// accumulators kept in registers over all the taps. Every output pixel starts from
    /// `bias + input_offset * Σ_taps w`, and each tap in the padding reads a row of
    /// `-input_offset` values (the input zero point), which contributes exactly 0 as in the
    /// reference. The last `channels % 4` channels take the same sums in plain arithmetic.
    /// Filters with more than 16 taps, an `-input_offset` that is not an `i8`, or a
    /// requantization multiplier of `i32::MIN` (never derived from a real scale) are
    /// computed as in [`dm1`]. Same results; returns `InvalidParams` when the depth
    /// multiplier is not 1.
    #[allow(clippy::too_many_arguments)]
    pub fn dsp(
        p: &DepthwiseParams,
        input_shape: Shape4,
        input: &[i8],
        filter_shape: Shape4,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output_shape: Shape4,
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        if !dm1_supports(p, input_shape, filter_shape, output_shape) {
            return Err(KernelError::InvalidParams(
                "dsp DEPTHWISE_CONV_2D variant needs depth multiplier 1",
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
        let fill = i8::try_from(p.input_offset.wrapping_neg()).ok();
        // A multiplier of `i32::MIN` (never from `Requant::from_real`) takes the portable path.
        let fill = fill.filter(|_| !requant.iter().any(|r| r.multiplier == i32::MIN));
        match fill {
            Some(fill) if d.kh == 3 && d.kw == 3 => {
                dsp_core(p, &d, 3, 3, fill, input, filter, bias, requant, output);
            }
            Some(fill) if d.kh * d.kw <= DSP_TAPS_MAX => {
                dsp_core(
                    p, &d, d.kh, d.kw, fill, input, filter, bias, requant, output,
                );
            }
            _ => dm1_core(p, &d, d.kh, d.kw, input, filter, bias, requant, output),
        }
        Ok(())
    }

    /// The loop nest of [`dsp`]; `kh`/`kw` equal `d.kh`/`d.kw` (`kh * kw <= 16`), `fill`
    /// is `-input_offset`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dsp_core(
        p: &DepthwiseParams,
        d: &Dims,
        kh: usize,
        kw: usize,
        fill: i8,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) {
        use crate::dsp::{load4, smlabb, smlatt, sxtb16, sxtb16_ror8};
        use crate::requant::PreparedRequant;
        const GROUPS: usize = CHANNEL_BLOCK / 4;
        let taps = kh * kw;
        let c = d.oc; // == d.ic
        let in_row = d.iw * c;
        let fill_row = [fill; CHANNEL_BLOCK];
        // Per group of four channels, its `taps` words: unpacked weights (even, odd bytes)
        // and, per output pixel, the input words.
        let mut wpk = [[0u32; 2]; GROUPS * DSP_TAPS_MAX];
        let mut xpk = [0u32; GROUPS * DSP_TAPS_MAX];
        let mut c0 = 0;
        while c0 < c {
            let c1 = (c0 + CHANNEL_BLOCK).min(c);
            let len = c1 - c0;
            let groups = len / 4;
            let vec_len = 4 * groups;
            let mut folded = [0i32; CHANNEL_BLOCK];
            let mut rq = [PreparedRequant::default(); CHANNEL_BLOCK];
            for (j, ch) in (c0..c1).enumerate() {
                let wsum =
                    (0..taps).fold(0i32, |s, t| s.wrapping_add(i32::from(filter[t * c + ch])));
                folded[j] = bias_at(bias, ch).wrapping_add(p.input_offset.wrapping_mul(wsum));
            }
            let ok = crate::requant::prepare_requant(requant, c0, &mut rq[..len]);
            debug_assert!(ok, "multiplier i32::MIN was routed to `dm1_core`");
            for t in 0..taps {
                let (w, _) = filter[t * c + c0..t * c + c0 + vec_len].as_chunks::<4>();
                for (dst, w) in wpk.chunks_exact_mut(taps).zip(w) {
                    let w = load4(w);
                    dst[t] = [sxtb16(w), sxtb16_ror8(w)];
                }
            }
            for b in 0..d.n {
                let image = &input[b * d.ih * in_row..(b + 1) * d.ih * in_row];
                for oy in 0..d.oh {
                    let y0 = d.y.origin(oy);
                    for ox in 0..d.ow {
                        let x0 = d.x.origin(ox);
                        // This pixel's `len` input values at tap `t` (the fill row in the
                        // padding).
                        let tap_row = |t: usize| -> &[i8] {
                            let (ky, kx) = (t / kw, t % kw);
                            match (d.y.tap(y0, ky), d.x.tap(x0, kx)) {
                                (Some(iy), Some(ix)) => {
                                    let i = iy * in_row + ix * c;
                                    &image[i + c0..i + c1]
                                }
                                _ => &fill_row[..len],
                            }
                        };
                        // Its words, group by group, into `xpk`.
                        for t in 0..taps {
                            let (words, _) = tap_row(t)[..vec_len].as_chunks::<4>();
                            for (dst, x) in xpk.chunks_exact_mut(taps).zip(words) {
                                dst[t] = load4(x);
                            }
                        }
                        let o = ((b * d.oh + oy) * d.ow + ox) * c + c0;
                        let out = &mut output[o..o + len];
                        let groups_iter = xpk
                            .chunks_exact(taps)
                            .zip(wpk.chunks_exact(taps))
                            .zip(out.chunks_exact_mut(4))
                            .zip(folded.chunks_exact(4))
                            .zip(rq.chunks_exact(4));
                        for ((((xs, ws), out), start), rq) in groups_iter.take(groups) {
                            let (mut a0, mut a1, mut a2, mut a3) =
                                (start[0], start[1], start[2], start[3]);
                            for (&x, &[we, wo]) in xs.iter().zip(ws) {
                                let xe = sxtb16(x);
                                a0 = smlabb(a0, xe, we);
                                a2 = smlatt(a2, xe, we);
                                let xo = sxtb16_ror8(x);
                                a1 = smlabb(a1, xo, wo);
                                a3 = smlatt(a3, xo, wo);
                            }
                            for ((o, a), &r) in out.iter_mut().zip([a0, a1, a2, a3]).zip(rq) {
                                *o = r.finish(a, p.output_offset, p.act);
                            }
                        }
                        for j in vec_len..len {
                            let a = (0..taps).fold(folded[j], |a, t| {
                                let w = i32::from(filter[t * c + c0 + j]);
                                a.wrapping_add(i32::from(tap_row(t)[j]) * w)
                            });
                            out[j] = rq[j].finish(a, p.output_offset, p.act);
                        }
                    }
                }
            }
            c0 = c1;
        }
    }

    /// Whether the dispatcher has a faster variant than [`dw3x3`] / [`dm1`] for depth
    /// multiplier 1 on this target: `wasm32` with `simd128`, or ARMv7E-M (cfg
    /// `edgeplug_dsp_dispatch`, set by build.rs).
    pub(super) const DM1_FAST: bool = cfg!(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        edgeplug_dsp_dispatch
    ));

    /// That variant when [`DM1_FAST`] holds: [`dsp`] on ARMv7E-M, else [`dm1x16`].
    pub(super) const DM1_FAST_FN: DepthwiseFn = if cfg!(edgeplug_dsp_dispatch) {
        dsp
    } else {
        dm1x16
    };

    impl Variant {
        /// A variant named `name` running `run` where `supports` holds.
        pub const fn of(name: &'static str, run: DepthwiseFn, supports: SupportsFn) -> Variant {
            Variant {
                name,
                run,
                supports,
            }
        }
    }
}
