//! FULLY_CONNECTED (int8, per-tensor or per-channel weights).
//!
//! [`fully_connected`] dispatches to [`variants::folded4`] on `wasm32` with `simd128`, to
//! [`variants::offset4`] on scalar `wasm32`, else (vectorizing native code) to
//! [`variants::folded`]; every variant gives the same
//! bytes as [`reference::fully_connected`], and [`variants::ALL`] lists them for tests.
//!
//! # How the per-tensor multiplier is derived
//! For **per-tensor** weights the multiplier is
//! `double(input_scale) * double(filter_scale) / double(output_scale)`, all in double,
//! exactly like the per-channel path and CONV_2D / DEPTHWISE_CONV_2D (see
//! [`per_tensor_requant`]). Some TFLite sources form the scale product in `f32` first
//! (`GetQuantizedConvolutionMultipler`); that gives a Q31 multiplier 7 to 77 units away on
//! 12 of the 13 per-tensor FC layers of the four MLPerf Tiny models. The MLPerf vectors
//! alone cannot tell the two apart, but the AD front-end clips can: on
//! `ad_anomalous_clicks` (window 112, element 115) the `f32` product gives -22 where the
//! reference TFLM build gives -21, while the all-double product reproduces all 501,760 AD
//! output bytes of the four clips (`guest-sdk/dsp/tests/all/ad.rs` checks this).

use crate::common::{
    CHANNEL_BLOCK, bias_at, check_act, check_bias, check_requant, dot, finish, requant_at, sum_i8,
};
use crate::{ActivationRange, KernelError, Requant, check_len};

/// Parameters of an int8 FULLY_CONNECTED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Output clamp including the fused activation (`-128 <= min <= max <= 127`).
    pub act: ActivationRange,
}

/// The requantization of a FULLY_CONNECTED with **per-tensor** weights, as the reference
/// TFLM build derives it:
/// `Requant::from_real(f64(input_scale) * f64(filter_scale) / f64(output_scale))`, all in
/// double (see the [module docs](self) for the evidence).
///
/// # Errors
/// [`KernelError::InvalidScale`] if any scale is not positive and finite.
pub fn per_tensor_requant(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
) -> Result<Requant, KernelError> {
    for s in [input_scale, filter_scale, output_scale] {
        if !(s.is_finite() && s > 0.0) {
            return Err(KernelError::InvalidScale);
        }
    }
    Requant::from_real(f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale))
}

/// FULLY_CONNECTED:
/// `output[b, o] = clamp(requant(bias[o] + Σ_i (input[b,i] + input_offset) * filter[o,i]) + output_offset)`
/// with wrapping `i32` accumulation, [`Requant::apply`] (double rounding) and clamp
/// `p.act`. Weights are symmetric (no filter offset).
///
/// `input` is `[batches, depth]`, `filter` `[out_depth, depth]`, bias `[out_depth]` (or
/// `None`), output `[batches, out_depth]`. `requant` has one entry (per-tensor weights;
/// build it with [`per_tensor_requant`] to match TFLM) or `out_depth` entries
/// (per-channel).
///
/// # Errors
/// [`KernelError::BufferSize`] for a slice whose length differs from what the sizes
/// imply; [`KernelError::InvalidParams`] for sizes whose products overflow, shifts
/// outside `-31..=31` or an invalid clamp range. The output is untouched on error.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    p: &FullyConnectedParams,
    batches: usize,
    depth: usize,
    input: &[i8],
    out_depth: usize,
    filter: &[i8],
    bias: Option<&[i32]>,
    requant: &[Requant],
    output: &mut [i8],
) -> Result<(), KernelError> {
    let run = if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        variants::folded4
    } else if cfg!(target_arch = "wasm32") {
        variants::offset4
    } else {
        variants::folded
    };
    run(
        p, batches, depth, input, out_depth, filter, bias, requant, output,
    )
}

/// Checks every argument against [`fully_connected`]'s contract.
#[allow(clippy::too_many_arguments)]
fn validate(
    p: &FullyConnectedParams,
    batches: usize,
    depth: usize,
    input: &[i8],
    out_depth: usize,
    filter: &[i8],
    bias: Option<&[i32]>,
    requant: &[Requant],
    output: &[i8],
) -> Result<(), KernelError> {
    const OVERFLOW: KernelError = KernelError::InvalidParams("size product overflows usize");
    check_len(
        "input",
        batches.checked_mul(depth).ok_or(OVERFLOW)?,
        input.len(),
    )?;
    check_len(
        "filter",
        out_depth.checked_mul(depth).ok_or(OVERFLOW)?,
        filter.len(),
    )?;
    check_len(
        "output",
        batches.checked_mul(out_depth).ok_or(OVERFLOW)?,
        output.len(),
    )?;
    check_bias(bias, out_depth)?;
    check_requant(requant, out_depth)?;
    check_act(p.act)
}

/// The plain reference implementation.
pub mod reference {
    use super::*;

    /// Reference FULLY_CONNECTED (TFLM's loop nest); see [`super::fully_connected`].
    #[allow(clippy::too_many_arguments)]
    pub fn fully_connected(
        p: &FullyConnectedParams,
        batches: usize,
        depth: usize,
        input: &[i8],
        out_depth: usize,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        validate(
            p, batches, depth, input, out_depth, filter, bias, requant, output,
        )?;
        for b in 0..batches {
            for o in 0..out_depth {
                let mut acc: i32 = 0;
                for d in 0..depth {
                    let iv = i32::from(input[b * depth + d]);
                    let fv = i32::from(filter[o * depth + d]);
                    acc = acc.wrapping_add(fv.wrapping_mul(iv.wrapping_add(p.input_offset)));
                }
                acc = acc.wrapping_add(bias_at(bias, o));
                output[b * out_depth + o] =
                    finish(acc, requant_at(requant, o), p.output_offset, p.act);
            }
        }
        Ok(())
    }
}

/// Every FULLY_CONNECTED implementation, each usable on its own (for tests and
/// benchmarks). All share [`variants::FullyConnectedFn`]'s signature and
/// [`fully_connected`]'s contract and give the same bytes as
/// [`reference::fully_connected`].
pub mod variants {
    use super::*;

    pub use super::reference::fully_connected as reference;

    /// The signature shared by every FULLY_CONNECTED variant.
    pub type FullyConnectedFn = fn(
        &FullyConnectedParams,
        usize,
        usize,
        &[i8],
        usize,
        &[i8],
        Option<&[i32]>,
        &[Requant],
        &mut [i8],
    ) -> Result<(), KernelError>;

    /// A named FULLY_CONNECTED implementation (all support every argument set).
    #[derive(Clone, Copy, Debug)]
    pub struct Variant {
        /// Short name (`"reference"`, `"folded"`, ...).
        pub name: &'static str,
        /// The implementation.
        pub run: FullyConnectedFn,
    }

    /// Every FULLY_CONNECTED variant, the reference first.
    pub const ALL: &[Variant] = &[
        Variant {
            name: "reference",
            run: reference,
        },
        Variant {
            name: "folded",
            run: folded,
        },
        Variant {
            name: "folded4",
            run: folded4,
        },
        Variant {
            name: "offset4",
            run: offset4,
        },
        Variant {
            name: "dispatch",
            run: fully_connected, // the dispatcher
        },
    ];

    /// Input values [`offset4`] offsets at once (1 KiB of stack).
    const OFFSET_CHUNK: usize = 256;

    /// FULLY_CONNECTED for machines without a vector unit (scalar `wasm32`): the input row
    /// with its offset added, `input[b,i] + input_offset` (wrapping), is formed once per
    /// chunk of 256 values and shared by four output rows at a time, so a
    /// multiply-accumulate is one weight load, one multiply and one add, and no weight
    /// sums are needed: `acc = bias[o] + Σ_i (input[b,i] + input_offset) * w[o,i]`, the
    /// reference's own terms. Same results.
    #[allow(clippy::too_many_arguments)]
    pub fn offset4(
        p: &FullyConnectedParams,
        batches: usize,
        depth: usize,
        input: &[i8],
        out_depth: usize,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        validate(
            p, batches, depth, input, out_depth, filter, bias, requant, output,
        )?;
        let mut shifted = [0i32; OFFSET_CHUNK];
        let mut acc = [0i32; CHANNEL_BLOCK];
        for b in 0..batches {
            let x = &input[b * depth..(b + 1) * depth];
            let mut o0 = 0;
            while o0 < out_depth {
                let o1 = (o0 + CHANNEL_BLOCK).min(out_depth);
                let acc = &mut acc[..o1 - o0];
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = bias_at(bias, o0 + j);
                }
                let mut start = 0;
                while start < depth {
                    let n = (depth - start).min(OFFSET_CHUNK);
                    let xs = &mut shifted[..n];
                    for (v, &x) in xs.iter_mut().zip(&x[start..start + n]) {
                        *v = i32::from(x).wrapping_add(p.input_offset);
                    }
                    let xs = &*xs;
                    let w = |j: usize| {
                        let row = (o0 + j) * depth + start;
                        &filter[row..row + n]
                    };
                    let mut j = 0;
                    while j + 4 <= acc.len() {
                        let s = dot4_i32(xs, [w(j), w(j + 1), w(j + 2), w(j + 3)]);
                        for (a, s) in acc[j..j + 4].iter_mut().zip(s) {
                            *a = a.wrapping_add(s);
                        }
                        j += 4;
                    }
                    for (j, a) in acc.iter_mut().enumerate().skip(j) {
                        let s = xs.iter().zip(w(j)).fold(0i32, |s, (&x, &w)| {
                            s.wrapping_add(x.wrapping_mul(i32::from(w)))
                        });
                        *a = a.wrapping_add(s);
                    }
                    start += n;
                }
                let out = &mut output[b * out_depth + o0..b * out_depth + o1];
                for (j, (o, &a)) in out.iter_mut().zip(&*acc).enumerate() {
                    *o = finish(a, requant_at(requant, o0 + j), p.output_offset, p.act);
                }
                o0 = o1;
            }
        }
        Ok(())
    }

    /// `Σ x[i] * w[k][i]` for four weight rows of `x.len()` values, wrapping.
    #[inline(always)]
    fn dot4_i32(x: &[i32], w: [&[i8]; 4]) -> [i32; 4] {
        let n = x.len();
        let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
        let mut acc = [0i32; 4];
        for i in 0..n {
            let v = x[i];
            acc[0] = acc[0].wrapping_add(v.wrapping_mul(i32::from(w0[i])));
            acc[1] = acc[1].wrapping_add(v.wrapping_mul(i32::from(w1[i])));
            acc[2] = acc[2].wrapping_add(v.wrapping_mul(i32::from(w2[i])));
            acc[3] = acc[3].wrapping_add(v.wrapping_mul(i32::from(w3[i])));
        }
        acc
    }

    /// FULLY_CONNECTED with the input offset folded out of the inner loop:
    /// `acc = (bias[o] + input_offset * Σ_i w[o,i]) + Σ_i input[b,i] * w[o,i]`. The row sum
    /// `Σ w[o,·]` is computed in the same pass as the first batch's dot product and reused
    /// for the other batches.
    #[allow(clippy::too_many_arguments)]
    pub fn folded(
        p: &FullyConnectedParams,
        batches: usize,
        depth: usize,
        input: &[i8],
        out_depth: usize,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        validate(
            p, batches, depth, input, out_depth, filter, bias, requant, output,
        )?;
        if batches == 0 || out_depth == 0 {
            return Ok(());
        }
        for o in 0..out_depth {
            let w = &filter[o * depth..(o + 1) * depth];
            let x0 = &input[..depth];
            let (d0, wsum) = x0.iter().zip(w).fold((0i32, 0i32), |(d, s), (&x, &w)| {
                let w = i32::from(w);
                (d.wrapping_add(i32::from(x) * w), s.wrapping_add(w))
            });
            let base = bias_at(bias, o).wrapping_add(p.input_offset.wrapping_mul(wsum));
            let r = requant_at(requant, o);
            output[o] = finish(base.wrapping_add(d0), r, p.output_offset, p.act);
            for b in 1..batches {
                let x = &input[b * depth..(b + 1) * depth];
                output[b * out_depth + o] =
                    finish(base.wrapping_add(dot(x, w)), r, p.output_offset, p.act);
            }
        }
        Ok(())
    }

    /// [`folded`] with register blocking: four output rows at a time share each read of
    /// the input ([`crate::simd::dot4`]: Wasm `simd128` dot products on `wasm32` with that
    /// feature), the row sums `Σ w[o,·]` computed once per call. Same results.
    #[allow(clippy::too_many_arguments)]
    pub fn folded4(
        p: &FullyConnectedParams,
        batches: usize,
        depth: usize,
        input: &[i8],
        out_depth: usize,
        filter: &[i8],
        bias: Option<&[i32]>,
        requant: &[Requant],
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        validate(
            p, batches, depth, input, out_depth, filter, bias, requant, output,
        )?;
        let row = |o: usize| &filter[o * depth..(o + 1) * depth];
        let base =
            |o: usize| bias_at(bias, o).wrapping_add(p.input_offset.wrapping_mul(sum_i8(row(o))));
        let mut o = 0;
        while o < out_depth {
            let n = (out_depth - o).min(4);
            let bases: [i32; 4] = core::array::from_fn(|k| if k < n { base(o + k) } else { 0 });
            for b in 0..batches {
                let x = &input[b * depth..(b + 1) * depth];
                let acc = if n == 4 {
                    crate::simd::dot4(x, [row(o), row(o + 1), row(o + 2), row(o + 3)])
                } else {
                    core::array::from_fn(|k| {
                        if k < n {
                            crate::simd::dot(x, row(o + k))
                        } else {
                            0
                        }
                    })
                };
                for (k, (&base, &a)) in bases.iter().zip(&acc).enumerate().take(n) {
                    output[b * out_depth + o + k] = finish(
                        base.wrapping_add(a),
                        requant_at(requant, o + k),
                        p.output_offset,
                        p.act,
                    );
                }
            }
            o += n;
        }
        Ok(())
    }
}
