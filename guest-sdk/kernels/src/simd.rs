//! Inner loops of the register-blocked variants (`pointwise4`, `direct4`, `dm1x16`,
//! `folded4`), in two builds with identical results:
//!
//! - on `wasm32` with the `simd128` target feature: explicit Wasm SIMD, integer
//!   instructions only (`i16x8.extend_*_i8x16_s`, `i32x4.dot_i16x8_s`,
//!   `i32x4.extmul_*_i16x8_s`, `i32x4.add`). Every one is exact and deterministic: an
//!   `i8 * i8` product fits in `i16`, `i32x4.dot_i16x8_s` adds two such products in `i32`
//!   (at most 2 * 2^14, no wrap), and the lane sums are wrapping `i32` additions, which are
//!   associative and commutative in `Z/2^32` -- so the order of summation cannot change the
//!   result (see `common`'s module doc). No relaxed-SIMD instruction is used.
//! - everywhere else: plain loops over fixed-size blocks that LLVM keeps in registers and
//!   vectorizes with the target's own SIMD (SSE2/NEON), or runs as scalar code (Cortex-M).

/// Lanes per block of [`mac16`].
pub(crate) const LANES: usize = 16;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    /// Sixteen `i8` as a vector (one `v128.load` after LLVM combines the lane reads).
    #[inline(always)]
    fn load16(a: &[i8; 16]) -> v128 {
        i8x16(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
            a[14], a[15],
        )
    }

    /// Eight `i8` in the low half of a vector, zeros above (`v128.load64_zero`).
    #[inline(always)]
    fn load8(a: &[i8; 8]) -> v128 {
        i8x16(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], 0, 0, 0, 0, 0, 0, 0, 0,
        )
    }

    /// `Σ lanes` (wrapping).
    #[inline(always)]
    fn hsum(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            .wrapping_add(i32x4_extract_lane::<1>(v))
            .wrapping_add(i32x4_extract_lane::<2>(v))
            .wrapping_add(i32x4_extract_lane::<3>(v))
    }

    /// `acc + dot(x, w)` for sixteen lanes, `x` already widened to `(low, high)`.
    #[inline(always)]
    fn dot16(acc: v128, xl: v128, xh: v128, w: v128) -> v128 {
        let d = i32x4_add(
            i32x4_dot_i16x8(xl, i16x8_extend_low_i8x16(w)),
            i32x4_dot_i16x8(xh, i16x8_extend_high_i8x16(w)),
        );
        i32x4_add(acc, d)
    }

    /// `Σ a[i] * b[i]`; `a.len() == b.len()`.
    #[inline(always)]
    pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (a16, a_tail) = a.as_chunks::<16>();
        let (b16, b_tail) = b.as_chunks::<16>();
        let mut acc = i32x4_splat(0);
        for (x, w) in a16.iter().zip(b16) {
            let x = load16(x);
            acc = dot16(
                acc,
                i16x8_extend_low_i8x16(x),
                i16x8_extend_high_i8x16(x),
                load16(w),
            );
        }
        let (a8, a_rest) = a_tail.as_chunks::<8>();
        let (b8, b_rest) = b_tail.as_chunks::<8>();
        for (x, w) in a8.iter().zip(b8) {
            let x = i16x8_extend_low_i8x16(load8(x));
            let w = i16x8_extend_low_i8x16(load8(w));
            acc = i32x4_add(acc, i32x4_dot_i16x8(x, w));
        }
        a_rest.iter().zip(b_rest).fold(hsum(acc), |s, (&x, &y)| {
            s.wrapping_add(i32::from(x) * i32::from(y))
        })
    }

    /// `[Σ x[i] * w[k][i] for k in 0..4]`; every slice has `x`'s length.
    #[inline(always)]
    pub(crate) fn dot4(x: &[i8], w: [&[i8]; 4]) -> [i32; 4] {
        let n = x.len();
        let [w0, w1, w2, w3] = w;
        let (w0, w1, w2, w3) = (&w0[..n], &w1[..n], &w2[..n], &w3[..n]);
        let full = n - n % 16;
        let (mut a0, mut a1, mut a2, mut a3) = (
            i32x4_splat(0),
            i32x4_splat(0),
            i32x4_splat(0),
            i32x4_splat(0),
        );
        let mut i = 0;
        while i < full {
            let Some(xv) = x[i..].first_chunk::<16>() else {
                break;
            };
            let xv = load16(xv);
            let (xl, xh) = (i16x8_extend_low_i8x16(xv), i16x8_extend_high_i8x16(xv));
            let chunk = |w: &[i8]| w[i..].first_chunk::<16>().map_or(i32x4_splat(0), load16);
            a0 = dot16(a0, xl, xh, chunk(w0));
            a1 = dot16(a1, xl, xh, chunk(w1));
            a2 = dot16(a2, xl, xh, chunk(w2));
            a3 = dot16(a3, xl, xh, chunk(w3));
            i += 16;
        }
        let mut out = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
        if n - i >= 8
            && let Some(xv) = x[i..].first_chunk::<8>()
        {
            let xl = i16x8_extend_low_i8x16(load8(xv));
            let half = |w: &[i8]| {
                let w = w[i..].first_chunk::<8>().map_or(i32x4_splat(0), load8);
                hsum(i32x4_dot_i16x8(xl, i16x8_extend_low_i8x16(w)))
            };
            out[0] = out[0].wrapping_add(half(w0));
            out[1] = out[1].wrapping_add(half(w1));
            out[2] = out[2].wrapping_add(half(w2));
            out[3] = out[3].wrapping_add(half(w3));
            i += 8;
        }
        let tail = x[i..]
            .iter()
            .zip(&w0[i..])
            .zip(&w1[i..])
            .zip(&w2[i..])
            .zip(&w3[i..]);
        for ((((&x, &a), &b), &c), &d) in tail {
            let x = i32::from(x);
            out[0] = out[0].wrapping_add(x * i32::from(a));
            out[1] = out[1].wrapping_add(x * i32::from(b));
            out[2] = out[2].wrapping_add(x * i32::from(c));
            out[3] = out[3].wrapping_add(x * i32::from(d));
        }
        out
    }

    /// Sixteen `i32` accumulators in four vectors.
    #[derive(Clone, Copy)]
    pub(crate) struct Acc16([v128; 4]);

    impl Acc16 {
        #[inline(always)]
        pub(crate) fn load(a: &[i32; 16]) -> Self {
            let v = |k: usize| i32x4(a[k], a[k + 1], a[k + 2], a[k + 3]);
            Acc16([v(0), v(4), v(8), v(12)])
        }

        /// `acc[l] += x[l] * w[l]` for the sixteen lanes.
        #[inline(always)]
        pub(crate) fn mac(&mut self, x: &[i8; 16], w: &[i8; 16]) {
            let (x, w) = (load16(x), load16(w));
            let (xl, xh) = (i16x8_extend_low_i8x16(x), i16x8_extend_high_i8x16(x));
            let (wl, wh) = (i16x8_extend_low_i8x16(w), i16x8_extend_high_i8x16(w));
            let a = &mut self.0;
            a[0] = i32x4_add(a[0], i32x4_extmul_low_i16x8(xl, wl));
            a[1] = i32x4_add(a[1], i32x4_extmul_high_i16x8(xl, wl));
            a[2] = i32x4_add(a[2], i32x4_extmul_low_i16x8(xh, wh));
            a[3] = i32x4_add(a[3], i32x4_extmul_high_i16x8(xh, wh));
        }

        #[inline(always)]
        pub(crate) fn store(&self, out: &mut [i32; 16]) {
            for (k, v) in self.0.iter().enumerate() {
                out[4 * k] = i32x4_extract_lane::<0>(*v);
                out[4 * k + 1] = i32x4_extract_lane::<1>(*v);
                out[4 * k + 2] = i32x4_extract_lane::<2>(*v);
                out[4 * k + 3] = i32x4_extract_lane::<3>(*v);
            }
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// `Σ a[i] * b[i]`.
    #[inline(always)]
    pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
        crate::common::dot(a, b)
    }

    /// `[Σ x[i] * w[k][i] for k in 0..4]`: one pass over `x` feeding four accumulators.
    #[inline(always)]
    pub(crate) fn dot4(x: &[i8], w: [&[i8]; 4]) -> [i32; 4] {
        let n = x.len();
        let [w0, w1, w2, w3] = w;
        let (w0, w1, w2, w3) = (&w0[..n], &w1[..n], &w2[..n], &w3[..n]);
        let mut out = [0i32; 4];
        for ((((&x, &a), &b), &c), &d) in x.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
            let x = i32::from(x);
            out[0] = out[0].wrapping_add(x * i32::from(a));
            out[1] = out[1].wrapping_add(x * i32::from(b));
            out[2] = out[2].wrapping_add(x * i32::from(c));
            out[3] = out[3].wrapping_add(x * i32::from(d));
        }
        out
    }

    /// Sixteen `i32` accumulators (kept in registers by LLVM).
    #[derive(Clone, Copy)]
    pub(crate) struct Acc16([i32; 16]);

    impl Acc16 {
        #[inline(always)]
        pub(crate) fn load(a: &[i32; 16]) -> Self {
            Acc16(*a)
        }

        /// `acc[l] += x[l] * w[l]` for the sixteen lanes.
        #[inline(always)]
        pub(crate) fn mac(&mut self, x: &[i8; 16], w: &[i8; 16]) {
            for ((a, &x), &w) in self.0.iter_mut().zip(x).zip(w) {
                *a = a.wrapping_add(i32::from(x) * i32::from(w));
            }
        }

        #[inline(always)]
        pub(crate) fn store(&self, out: &mut [i32; 16]) {
            *out = self.0;
        }
    }
}

pub(crate) use imp::{Acc16, dot, dot4};

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` pseudo-random values (xorshift) starting with two -128s, where a narrower
    /// accumulator would overflow; fixed capacity (the crate has no `alloc`).
    fn data(seed: u32) -> [i8; 80] {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut b = [0i8; 80];
        for v in b.iter_mut() {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *v = s as i8;
        }
        b[0] = -128;
        b[1] = -128;
        b
    }

    fn plain(a: &[i8], b: &[i8]) -> i32 {
        a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
            s.wrapping_add(i32::from(x) * i32::from(y))
        })
    }

    #[test]
    fn dot_and_dot4_equal_the_plain_sum() {
        let x = data(1);
        let w: [[i8; 80]; 4] = core::array::from_fn(|k| data(10 + k as u32));
        for n in 0..=80 {
            let (x, ws) = (&x[..n], [&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]]);
            assert_eq!(dot(x, ws[0]), plain(x, ws[0]), "n={n}");
            for (k, (got, w)) in dot4(x, ws).into_iter().zip(ws).enumerate() {
                assert_eq!(got, plain(x, w), "n={n} k={k}");
            }
        }
        let all = [-128i8; 80];
        assert_eq!(dot(&all, &all), 80 * 16384);
        assert_eq!(dot4(&all, [&all; 4]), [80 * 16384; 4]);
    }

    #[test]
    fn acc16_accumulates_per_lane() {
        let (x, w) = (data(3), data(4));
        let x: &[i8; 16] = x.first_chunk().unwrap();
        let w: &[i8; 16] = w.first_chunk().unwrap();
        let start: [i32; LANES] = core::array::from_fn(|l| l as i32 * 1000 - 7000);
        let mut acc = Acc16::load(&start);
        acc.mac(x, w);
        acc.mac(x, x);
        let mut out = [0; LANES];
        acc.store(&mut out);
        for (l, (((&o, &s), &x), &w)) in out.iter().zip(&start).zip(x).zip(w).enumerate() {
            let (x, w) = (i32::from(x), i32::from(w));
            assert_eq!(o, s + x * w + x * x, "lane {l}");
        }
    }
}
