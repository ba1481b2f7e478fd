//! Two int8 dot products per 64-bit multiply ("SIMD within a register"), for machines
//! that have fast 64-bit integer arithmetic but no vector unit: scalar `wasm32` above all,
//! where wasmtime compiles `i64.mul` to one instruction and wasmi dispatches once for it.
//!
//! Two input vectors `x0`, `x1` that share their weights (the input vectors of two output
//! pixels, multiplied by the same filter) are packed into one `i64` per element,
//! `X[k] = x0[k] + 2^32 * x1[k]`. Then `Σ w[k] * X[k] = S0 + 2^32 * S1` with
//! `S0 = Σ w[k] * x0[k]` and `S1 = Σ w[k] * x1[k]`: one multiply and one add give two
//! multiply-accumulates.
//!
//! Exactness: every product has `|w * x| <= 128 * 128 = 2^14`, so for vectors of fewer
//! than [`MAX_LEN`] = 2^17 elements `|S0|, |S1| < 2^31`. Then `S0 + 2^32 * S1` fits in
//! `i64` without wrapping, its low 32 bits read as `i32` are exactly `S0`, and
//! `(S - S0) >> 32` is exactly `S1` ([`split`]). Both equal what the wrapping `i32` loops
//! compute (which do not wrap either, under the same bound); callers route longer vectors
//! elsewhere.

/// Vectors must be shorter than this for [`split`] to be exact (see the module docs).
pub(crate) const MAX_LEN: usize = 1 << 17;

/// Packs two input vectors element by element: `out[k] = x0[k] + 2^32 * x1[k]`.
/// The three slices have the same length (extra elements of the longer are ignored).
#[inline(always)]
pub(crate) fn pack(x0: &[i8], x1: &[i8], out: &mut [i64]) {
    for ((o, &a), &b) in out.iter_mut().zip(x0).zip(x1) {
        *o = i64::from(a).wrapping_add(i64::from(b) << 32);
    }
}

/// `Σ w[k] * packed[k]` for four weight vectors at once (each input element loaded once
/// for the four). Every `w[j]` has `packed.len()` elements.
#[inline(always)]
pub(crate) fn dot4(packed: &[i64], w: [&[i8]; 4]) -> [i64; 4] {
    let n = packed.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let mut acc = [0i64; 4];
    for k in 0..n {
        let x = packed[k];
        acc[0] = acc[0].wrapping_add(i64::from(w0[k]).wrapping_mul(x));
        acc[1] = acc[1].wrapping_add(i64::from(w1[k]).wrapping_mul(x));
        acc[2] = acc[2].wrapping_add(i64::from(w2[k]).wrapping_mul(x));
        acc[3] = acc[3].wrapping_add(i64::from(w3[k]).wrapping_mul(x));
    }
    acc
}

/// `Σ w[k] * packed[k]` for one weight vector of `packed.len()` elements.
#[inline(always)]
pub(crate) fn dot1(packed: &[i64], w: &[i8]) -> i64 {
    packed.iter().zip(w).fold(0i64, |s, (&x, &w)| {
        s.wrapping_add(i64::from(w).wrapping_mul(x))
    })
}

/// The two sums `[S0, S1]` of a packed accumulator `S0 + 2^32 * S1` whose parts are both
/// in `i32` range (vectors shorter than [`MAX_LEN`]).
#[inline(always)]
pub(crate) fn split(s: i64) -> [i32; 2] {
    let lo = s as i32;
    let hi = (s.wrapping_sub(i64::from(lo)) >> 32) as i32;
    [lo, hi]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    fn plain(x: &[i8], w: &[i8]) -> i32 {
        x.iter()
            .zip(w)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum()
    }

    #[test]
    fn split_recovers_both_sums_at_the_extremes() {
        // The largest magnitudes the bound allows, of either sign in either half.
        for &(x0, x1, w) in &[
            (-128i8, -128i8, -128i8),
            (-128, 127, -128),
            (127, -128, -128),
            (127, 127, 127),
            (-128, -128, 127),
            (0, -128, -128),
            (-128, 0, -128),
        ] {
            let n = MAX_LEN - 1;
            let (a, b, c) = (vec![x0; n], vec![x1; n], vec![w; n]);
            let mut packed = vec![0i64; n];
            pack(&a, &b, &mut packed);
            let [s0, s1] = split(dot1(&packed, &c));
            assert_eq!(s0, plain(&a, &c), "S0 for ({x0}, {x1}, {w})");
            assert_eq!(s1, plain(&b, &c), "S1 for ({x0}, {x1}, {w})");
        }
    }

    #[test]
    fn dot4_equals_four_dot1() {
        let x0: Vec<i8> = (0..300).map(|i| (i * 37 % 256) as u8 as i8).collect();
        let x1: Vec<i8> = (0..300).map(|i| (i * 91 % 256) as u8 as i8).collect();
        let w: Vec<Vec<i8>> = (0..4)
            .map(|j| {
                (0..300)
                    .map(|i| ((i * 13 + j * 71) % 256) as u8 as i8)
                    .collect()
            })
            .collect();
        let mut packed = vec![0i64; 300];
        pack(&x0, &x1, &mut packed);
        let four = dot4(&packed, [&w[0], &w[1], &w[2], &w[3]]);
        for j in 0..4 {
            assert_eq!(four[j], dot1(&packed, &w[j]));
            assert_eq!(split(four[j]), [plain(&x0, &w[j]), plain(&x1, &w[j])]);
        }
    }
}
