//! Fixed-point requantization exactly as TFLite (Micro) does it: a real multiplier is
//! represented as a Q31 integer `multiplier` in `[2^30, 2^31)` and a power-of-two `shift`,
//! and applied with double rounding.

use crate::KernelError;

/// A real-valued multiplier in TFLite's fixed-point form: `real ≈ multiplier * 2^(shift - 31)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Requant {
    /// Q31 mantissa, in `[2^30, 2^31)` (or 0 for a zero multiplier).
    pub multiplier: i32,
    /// Power-of-two exponent: positive shifts left before the multiply, negative shifts
    /// right (with rounding) after it.
    pub shift: i32,
}

impl Requant {
    /// `QuantizeMultiplier` from TFLite: `frexp` of the double, mantissa rounded half away
    /// from zero to Q31. Returns [`KernelError::InvalidScale`] for NaN, infinite or negative
    /// values.
    pub fn from_real(real: f64) -> Result<Requant, KernelError> {
        if !real.is_finite() || real < 0.0 {
            return Err(KernelError::InvalidScale);
        }
        if real == 0.0 {
            return Ok(Requant::default());
        }
        let (q, mut shift) = frexp(real);
        let mut q_fixed = round_half_away_f64(q * (1u64 << 31) as f64);
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Ok(Requant::default());
        }
        if shift > 30 {
            // A real multiplier >= 2^30 never occurs in a sane model. TFLM's double-rounding
            // build would shift left by 31+ bits (undefined behaviour in C++); we saturate as
            // its single-rounding build does, so kernels never see a shift outside -31..=30.
            return Ok(Requant {
                multiplier: i32::MAX,
                shift: 30,
            });
        }
        Ok(Requant {
            multiplier: q_fixed as i32,
            shift,
        })
    }

    /// Applies this multiplier to `x` with [`multiply_by_quantized_multiplier`].
    #[inline(always)]
    pub fn apply(self, x: i32) -> i32 {
        multiply_by_quantized_multiplier(x, self.multiplier, self.shift)
    }
}

/// `frexp` for finite positive doubles: returns `(m, e)` with `x = m * 2^e`, `m` in `[0.5, 1)`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exp - 1022)
}

/// Rounds half away from zero (C's `round`) for values that fit in an `i64`.
fn round_half_away_f64(x: f64) -> i64 {
    let t = x as i64; // truncates toward zero
    let frac = x - t as f64; // exact for |x| < 2^52
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Rounds half away from zero (C's `roundf`), saturating to the `i32` range.
#[inline]
pub fn round_half_away_f32(x: f32) -> i32 {
    if x.is_nan() {
        return 0;
    }
    if x >= 2_147_483_647.0 {
        return i32::MAX;
    }
    if x <= -2_147_483_648.0 {
        return i32::MIN;
    }
    let t = x as i32;
    let frac = x - t as f32; // exact: t and x share the exponent range
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a * b / 2^31` rounded to nearest
/// (exact ties go up for positive products and toward zero for negative ones, from the
/// nudge `1 - 2^30`), with the single overflow case `i32::MIN * i32::MIN` saturating to
/// `i32::MAX`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates toward zero, as in C++.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent`, rounding half away from zero.
/// `exponent` must be in `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier` with double rounding:
/// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m), right)`.
///
/// The left shift wraps on overflow like the C++ int32 arithmetic it mirrors.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left), multiplier),
        right,
    )
}

/// A [`Requant`] with its shifts and rounding mask worked out once per
/// channel, for the epilogue of the pixel-pair GEMMs and the DSP variants ([`Self::finish`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PreparedRequant {
    multiplier: i32,
    /// `2^left` (the left shift as a wrapping multiplication, as TFLite writes it).
    left_mul: i32,
    right: u32,
    mask: i32,
    half_mask: i32,
}

impl PreparedRequant {
    /// Prepares `r`, whose shift must be in `-31..=31` (the kernels check it first), or
    /// `None` when its multiplier is `i32::MIN` (never produced by
    /// [`Requant::from_real`], whose multipliers lie in
    /// `[2^30, 2^31)`): the callers then use their portable path.
    #[inline(always)]
    pub(crate) fn new(r: Requant) -> Option<Self> {
        if r.multiplier == i32::MIN {
            return None;
        }
        let left = r.shift.clamp(0, 31) as u32;
        let right = (-r.shift).clamp(0, 31) as u32;
        let mask = ((1i64 << right) - 1) as i32;
        Some(PreparedRequant {
            multiplier: r.multiplier,
            left_mul: 1i32.wrapping_shl(left),
            right,
            mask,
            half_mask: mask >> 1,
        })
    }

    /// Exactly [`multiply_by_quantized_multiplier`] with this multiplier:
    /// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m), right)`.
    ///
    /// The doubling high multiply `trunc((a*b + nudge) / 2^31)` (nudge `2^30`, or
    /// `1 - 2^30` when `a*b < 0`) equals `floor((a*b + 2^30) / 2^31)` for both signs: for
    /// `a*b >= 0` the two are the same expression; for `a*b < 0`, truncating the negative
    /// `n = a*b + 1 - 2^30` is `floor((n + 2^31 - 1) / 2^31)` = `floor((a*b + 2^30) / 2^31)`.
    /// Its one saturating case, `MIN * MIN`, cannot occur (`new` refuses `MIN`), and every
    /// other product gives a value in `i32`. So one `SMLAL` and a shift.
    #[inline(always)]
    pub(crate) fn apply(self, x: i32) -> i32 {
        let a = x.wrapping_mul(self.left_mul);
        let high = ((i64::from(a) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32;
        let remainder = high & self.mask;
        let threshold = self.half_mask + i32::from(high < 0);
        (high >> self.right) + i32::from(remainder > threshold)
    }

    /// The convolution epilogue with this multiplier: requantize, add `output_offset`
    /// (wrapping), clamp to `act` (the same as `crate::common::finish`).
    #[inline(always)]
    pub(crate) fn finish(self, acc: i32, output_offset: i32, act: crate::ActivationRange) -> i8 {
        let v = self.apply(acc).wrapping_add(output_offset);
        v.max(act.min).min(act.max) as i8
    }
}

/// Prepares a requantization table for [`PreparedRequant::finish`]: `out[j]` for channel
/// `first + j` of `requant` (a one-entry table applies to every channel). Returns `false`
/// (and leaves `out` partly written) if some entry has the multiplier `i32::MIN`.
#[inline(always)]
pub(crate) fn prepare_requant(
    requant: &[Requant],
    first: usize,
    out: &mut [PreparedRequant],
) -> bool {
    for (j, o) in out.iter_mut().enumerate() {
        let r = if requant.len() == 1 {
            requant[0]
        } else {
            requant[first + j]
        };
        match PreparedRequant::new(r) {
            Some(p) => *o = p,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_examples() {
        assert_eq!(
            Requant::from_real(0.5).unwrap(),
            Requant {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            Requant::from_real(1.0).unwrap(),
            Requant {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(
            Requant::from_real(0.25).unwrap(),
            Requant {
                multiplier: 1 << 30,
                shift: -1
            }
        );
        assert_eq!(Requant::from_real(0.0).unwrap(), Requant::default());
        assert!(Requant::from_real(f64::NAN).is_err());
        assert!(Requant::from_real(-1.0).is_err());
        // Rounds up to 2^31 and renormalizes.
        let r = Requant::from_real(1.0 - 1e-12).unwrap();
        assert_eq!(
            r,
            Requant {
                multiplier: 1 << 30,
                shift: 1
            }
        );
    }

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1e-300, 3.0e-5, 0.1, 0.75, 1.0, 3.5, 1e10, 5e-324] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m), "{x}: {m}");
            // m * 2^e == x exactly
            let back = if e >= 0 {
                m * (1u128 << e.min(127)) as f64
            } else {
                let mut v = m;
                for _ in 0..(-e) {
                    v /= 2.0;
                }
                v
            };
            if e < 127 {
                assert_eq!(back, x, "{x}");
            }
        }
    }

    #[test]
    fn srdhm_edge_cases() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // gemmlowp's nudge for negative products is 1 - 2^30, so an exact negative tie
        // (-0.5) rounds toward zero, while positive ties round up.
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 29), -1);
    }

    #[test]
    fn rdbpot_rounds_half_away() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    #[test]
    fn round_half_away_f32_cases() {
        assert_eq!(round_half_away_f32(0.5), 1);
        assert_eq!(round_half_away_f32(-0.5), -1);
        assert_eq!(round_half_away_f32(0.499_999_97), 0);
        assert_eq!(round_half_away_f32(2.5), 3);
        assert_eq!(round_half_away_f32(-2.4), -2);
        assert_eq!(round_half_away_f32(f32::NAN), 0);
        assert_eq!(round_half_away_f32(1e20), i32::MAX);
    }

    #[test]
    fn prepared_requant_equals_multiply_by_quantized_multiplier() {
        let specials = [
            0,
            1,
            -1,
            2,
            -2,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            (1 << 30) + 1,
            12345,
            -12345,
        ];
        let mut state = 0x9e37_79b9u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for shift in -31..=31 {
            let mut mults = [0i32; 13 + 80];
            mults[..13].copy_from_slice(&specials);
            for (k, m) in mults[13..].iter_mut().enumerate() {
                let r = next();
                // Half any value, half in TFLite's range [2^30, 2^31).
                *m = if k % 2 == 0 {
                    r as i32
                } else {
                    (r >> 1 | 1 << 30) as i32
                };
            }
            for m in mults {
                let r = Requant {
                    multiplier: m,
                    shift,
                };
                let Some(p) = PreparedRequant::new(r) else {
                    assert_eq!(m, i32::MIN);
                    continue;
                };
                let mut xs = [0i32; 13 + 120];
                xs[..13].copy_from_slice(&specials);
                for (k, x) in xs[13..].iter_mut().enumerate() {
                    let r = next() as i32;
                    // Half any value, half accumulator-sized.
                    *x = if k % 2 == 0 { r } else { r >> 12 };
                }
                for x in xs {
                    assert_eq!(
                        p.apply(x),
                        multiply_by_quantized_multiplier(x, m, shift),
                        "x={x} m={m} shift={shift}"
                    );
                }
            }
        }
    }
}
