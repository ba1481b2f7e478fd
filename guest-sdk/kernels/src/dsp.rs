//! Arm DSP-extension primitives (ARMv7E-M: Cortex-M4/M7) used by the `dsp` kernel variants.
//!
//! On `thumbv7em-*` targets (cfg `edgeplug_arm_dsp`, set by the build script: stable Rust
//! does not expose the Arm `dsp` target feature to `cfg`) each function is one instruction
//! in inline assembly. Everywhere else it is a plain-Rust model of exactly that
//! instruction's result, so the same kernel code (packing, blocking, tails) runs and is
//! tested on any host. The models follow the Armv7-M Architecture Reference Manual:
//!
//! - `SXTB16 Rd, Rm{, ROR #r}`: rotate `Rm` right by `r` (0 or 8), then
//!   `Rd[15:0] = SignExtend(rot[7:0])`, `Rd[31:16] = SignExtend(rot[23:16])`.
//! - `SMLAD Rd, Rn, Rm, Ra`: `Rd = Ra + Rn[15:0] * Rm[15:0] + Rn[31:16] * Rm[31:16]`
//!   (signed 16-bit halves; the sum is exact, then truncated to 32 bits, i.e. wrapping;
//!   overflow only sets the sticky Q flag, which nothing here reads).
//! - `SMLABB` / `SMLATT Rd, Rn, Rm, Ra`: `Rd = Ra + Rn.half * Rm.half` with the bottom
//!   (`BB`) or top (`TT`) signed halves, wrapping.
//!
//! With operands unpacked from `i8` by `SXTB16` every product fits easily in `i32`
//! (|p| <= 2^14), and the accumulation is wrapping `i32` addition, which is exact in
//! `Z/2^32` whatever the order: the DSP variants give the same bits as the plain loops.
#![allow(unsafe_code)] // only the one-instruction `asm!` blocks below

/// Four `i8` as one little-endian word (one `LDR`, unaligned accesses are allowed on
/// ARMv7-M): byte `k` of the result is `v[k]`.
#[inline(always)]
pub(crate) fn load4(v: &[i8; 4]) -> u32 {
    u32::from_le_bytes([v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8])
}

#[cfg(edgeplug_arm_dsp)]
mod imp {
    use core::arch::asm;

    /// `SXTB16 Rd, Rm`.
    #[inline(always)]
    pub(crate) fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: SXTB16 reads one register and writes one; it touches no memory, no stack
        // and no flags.
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// `SXTB16 Rd, Rm, ROR #8`.
    #[inline(always)]
    pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: as for `sxtb16`: registers only, no memory, stack or flags.
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// `SMLAD Rd, Rn, Rm, Ra` (the GEMM loop uses it inside its own assembly on this
    /// target; kept so both builds offer the same primitives).
    #[allow(dead_code)]
    #[inline(always)]
    pub(crate) fn smlad(acc: i32, a: u32, b: u32) -> i32 {
        let r: i32;
        // SAFETY: SMLAD reads three registers and writes one; no memory or stack access.
        // It may set the sticky Q flag (so `preserves_flags` is not claimed); no code reads
        // Q.
        unsafe {
            asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                 b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }

    /// `SMLABB Rd, Rn, Rm, Ra`.
    #[inline(always)]
    pub(crate) fn smlabb(acc: i32, a: u32, b: u32) -> i32 {
        let r: i32;
        // SAFETY: as for `smlad`: registers only; may set the sticky Q flag.
        unsafe {
            asm!("smlabb {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                 b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }

    /// `SMLATT Rd, Rn, Rm, Ra`.
    #[inline(always)]
    pub(crate) fn smlatt(acc: i32, a: u32, b: u32) -> i32 {
        let r: i32;
        // SAFETY: as for `smlad`: registers only; may set the sticky Q flag.
        unsafe {
            asm!("smlatt {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                 b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
}

#[cfg(not(edgeplug_arm_dsp))]
mod imp {
    /// Signed bottom half.
    #[inline(always)]
    fn lo(x: u32) -> i32 {
        i32::from(x as u16 as i16)
    }

    /// Signed top half.
    #[inline(always)]
    fn hi(x: u32) -> i32 {
        i32::from((x >> 16) as u16 as i16)
    }

    /// Model of `SXTB16 Rd, Rm`.
    #[inline(always)]
    pub(crate) fn sxtb16(x: u32) -> u32 {
        let b0 = i16::from(x as u8 as i8) as u16;
        let b2 = i16::from((x >> 16) as u8 as i8) as u16;
        u32::from(b0) | (u32::from(b2) << 16)
    }

    /// Model of `SXTB16 Rd, Rm, ROR #8`.
    #[inline(always)]
    pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
        sxtb16(x.rotate_right(8))
    }

    /// Model of `SMLAD Rd, Rn, Rm, Ra`.
    #[inline(always)]
    pub(crate) fn smlad(acc: i32, a: u32, b: u32) -> i32 {
        acc.wrapping_add(lo(a).wrapping_mul(lo(b)))
            .wrapping_add(hi(a).wrapping_mul(hi(b)))
    }

    /// Model of `SMLABB Rd, Rn, Rm, Ra`.
    #[inline(always)]
    pub(crate) fn smlabb(acc: i32, a: u32, b: u32) -> i32 {
        acc.wrapping_add(lo(a).wrapping_mul(lo(b)))
    }

    /// Model of `SMLATT Rd, Rn, Rm, Ra`.
    #[inline(always)]
    pub(crate) fn smlatt(acc: i32, a: u32, b: u32) -> i32 {
        acc.wrapping_add(hi(a).wrapping_mul(hi(b)))
    }
}

#[cfg_attr(edgeplug_arm_dsp, allow(unused_imports))]
// `smlad`: ARMv7E-M's GEMM loop is assembly
pub(crate) use imp::{smlabb, smlad, smlatt, sxtb16, sxtb16_ror8};

/// Four input values of two rows, sign-extended to 16 bits and paired the way `SMLAD`
/// consumes them: `[x0 bytes 0,2; x0 bytes 1,3; x1 bytes 0,2; x1 bytes 1,3]` (`SXTB16`,
/// `SXTB16 ROR #8`).
pub(crate) type Pair4 = [u32; 4];

/// Widens the first `4 * out.len()` values of rows `x0` and `x1` into `out` (see
/// [`Pair4`]), once per pair of rows so that the GEMM's inner loop only unpacks weights.
/// Both rows must have at least `4 * out.len()` values (fewer chunks are written
/// otherwise).
#[inline(always)]
pub(crate) fn widen_pair(x0: &[i8], x1: &[i8], out: &mut [Pair4]) {
    let (a, _) = x0.as_chunks::<4>();
    let (b, _) = x1.as_chunks::<4>();
    for ((dst, a), b) in out.iter_mut().zip(a).zip(b) {
        let (a, b) = (load4(a), load4(b));
        *dst = [sxtb16(a), sxtb16_ror8(a), sxtb16(b), sxtb16_ror8(b)];
    }
}

/// `[start + x0 · w, start + x1 · w]` (wrapping `i32` dot products over `x0.len()`
/// values): two output pixels of one output channel, the register block of the DSP GEMM.
/// `xw` must be [`widen_pair`] of `x0`, `x1` (at most `x0.len() / 4` chunks); the values
/// it covers take one word of weights per four values, unpacked into even and odd bytes,
/// and four `SMLAD`s ([`dot_chunks`]); the rest is plain arithmetic. `x1` and `w` must be
/// at least as long as `x0`.
#[inline(always)]
pub(crate) fn dot_2x1(xw: &[Pair4], x0: &[i8], x1: &[i8], w: &[i8], start: i32) -> [i32; 2] {
    let n = x0.len();
    let (x1, w) = (&x1[..n], &w[..n]);
    let (wc, _) = w.as_chunks::<4>();
    let chunks = xw.len().min(wc.len());
    let [mut a0, mut a1] = dot_chunks(&xw[..chunks], &wc[..chunks], [start, start]);
    let done = 4 * chunks;
    for ((&x0, &x1), &w) in x0[done..].iter().zip(&x1[done..]).zip(&w[done..]) {
        let w = i32::from(w);
        a0 = a0.wrapping_add(i32::from(x0) * w);
        a1 = a1.wrapping_add(i32::from(x1) * w);
    }
    [a0, a1]
}

/// One chunk of [`dot_chunks`]: `a0 += x0 · w`, `a1 += x1 · w` over four values.
#[cfg(not(edgeplug_arm_dsp))]
#[inline(always)]
fn chunk_step([a0, a1]: [i32; 2], x: &Pair4, w: &[i8; 4]) -> [i32; 2] {
    let w = load4(w);
    let (we, wo) = (sxtb16(w), sxtb16_ror8(w));
    [
        smlad(smlad(a0, x[0], we), x[1], wo),
        smlad(smlad(a1, x[2], we), x[3], wo),
    ]
}

/// `acc + [x0 · w, x1 · w]` over `4 * xw.len()` values (`w` has as many chunks): the
/// GEMM's inner loop. Portable build: [`chunk_step`] per chunk.
#[cfg(not(edgeplug_arm_dsp))]
#[inline(always)]
fn dot_chunks(xw: &[Pair4], w: &[[i8; 4]], acc: [i32; 2]) -> [i32; 2] {
    xw.iter().zip(w).fold(acc, |a, (x, w)| chunk_step(a, x, w))
}

/// One chunk in assembly (`LDM` of the widened input, `LDR` of a weight word, two
/// `SXTB16`, four `SMLAD`), advancing both pointers: the body of [`dot_chunks`]' loops.
#[cfg(edgeplug_arm_dsp)]
macro_rules! chunk_asm {
    () => {
        concat!(
            "ldm {px}!, {{r2, r3, r4, r5}}\n",
            "ldr {w}, [{pw}], #4\n",
            "sxtb16 {t}, {w}, ror #8\n",
            "sxtb16 {w}, {w}\n",
            "smlad {a0}, r2, {w}, {a0}\n",
            "smlad {a1}, r4, {w}, {a1}\n",
            "smlad {a0}, r3, {t}, {a0}\n",
            "smlad {a1}, r5, {t}, {a1}\n",
        )
    };
}

/// `acc + [x0 · w, x1 · w]` over `4 * xw.len()` values (`w` has as many chunks): the
/// GEMM's inner loop. ARMv7E-M build: groups of four chunks in one assembly loop (per
/// group: four `LDM`s of the widened input, four `LDR`s of weights, eight `SXTB16`,
/// sixteen `SMLAD`: 32 MACs in 32 instructions plus the loop's two), then the remaining
/// chunks one by one in assembly; the same sums as the portable build's `chunk_step`.
#[cfg(edgeplug_arm_dsp)]
#[inline(always)]
fn dot_chunks(xw: &[Pair4], w: &[[i8; 4]], acc: [i32; 2]) -> [i32; 2] {
    let n = xw.len().min(w.len());
    let [mut a0, mut a1] = acc;
    let mut px = xw.as_ptr();
    let mut pw = w.as_ptr();
    let quads = n / 4;
    if quads > 0 {
        let mut count = quads;
        // SAFETY: the loop runs `quads >= 1` times; each iteration reads four `Pair4`s
        // (64 bytes, `LDM` with writeback from a 4-byte-aligned `[u32; 4]` array) from `px`
        // and four 4-byte chunks (unaligned `LDR`s, allowed on ARMv7-M) from `pw`, so it
        // reads exactly `xw[..4 * quads]` and `w[..4 * quads]`, in bounds since
        // `4 * quads <= n <= len`, and leaves `px`/`pw` at chunk `4 * quads`. It writes no
        // memory and no stack; r2-r5 and the temporaries are declared clobbered; `SUBS`
        // sets the flags (not preserved).
        unsafe {
            core::arch::asm!(
                "2:",
                chunk_asm!(),
                chunk_asm!(),
                chunk_asm!(),
                chunk_asm!(),
                "subs {count}, {count}, #1",
                "bne 2b",
                px = inout(reg) px,
                pw = inout(reg) pw,
                count = inout(reg) count,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                w = out(reg) _,
                t = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack, readonly),
            );
        }
        let _ = count;
    }
    for _ in 0..n % 4 {
        // SAFETY: one more chunk: reads `xw[i]` (16 aligned bytes) and `w[i]` (4 bytes) for
        // `i` from `4 * quads` to `n - 1` (the pointers advance by one chunk each time),
        // all in bounds; no writes, no stack; r2-r5 and the temporaries are clobbered;
        // SMLAD may set the sticky Q flag, so the flags are not claimed preserved.
        unsafe {
            core::arch::asm!(
                chunk_asm!(),
                px = inout(reg) px,
                pw = inout(reg) pw,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                w = out(reg) _,
                t = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack, readonly),
            );
        }
    }
    let _ = (px, pw);
    [a0, a1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words covering every sign pattern of the four bytes, and pseudo-random ones.
    fn words() -> impl Iterator<Item = u32> {
        let edges = [
            0u32,
            0x8080_8080,
            0x7f7f_7f7f,
            0xffff_ffff,
            0x807f_ff01,
            0x0180_7fff,
        ];
        let mut s = 0x1234_5678u32;
        edges.into_iter().chain(
            core::iter::from_fn(move || {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                Some(s)
            })
            .take(2000),
        )
    }

    fn byte(x: u32, k: u32) -> i32 {
        i32::from((x >> (8 * k)) as u8 as i8)
    }

    #[test]
    fn sxtb16_sign_extends_bytes_0_2_and_1_3() {
        for x in words() {
            let e = sxtb16(x);
            let o = sxtb16_ror8(x);
            assert_eq!(i32::from(e as u16 as i16), byte(x, 0), "{x:#x}");
            assert_eq!(i32::from((e >> 16) as u16 as i16), byte(x, 2), "{x:#x}");
            assert_eq!(i32::from(o as u16 as i16), byte(x, 1), "{x:#x}");
            assert_eq!(i32::from((o >> 16) as u16 as i16), byte(x, 3), "{x:#x}");
        }
    }

    #[test]
    fn smlad_family_match_wide_arithmetic() {
        let ws: [u32; 8] = [
            0x8000_8000,
            0x7fff_7fff,
            0x8000_7fff,
            0,
            1,
            0xffff_ffff,
            0x1234_f00d,
            0x0001_8000,
        ];
        let accs = [0i32, 1, -1, i32::MAX, i32::MIN, 0x4000_0000, -0x4000_0000];
        let h = |x: u32, top: bool| {
            i64::from(if top {
                (x >> 16) as u16 as i16
            } else {
                x as u16 as i16
            })
        };
        for a in ws.into_iter().chain(words().take(200)) {
            for b in words().take(60).chain(ws) {
                for &acc in &accs {
                    let wide = i64::from(acc) + h(a, false) * h(b, false) + h(a, true) * h(b, true);
                    assert_eq!(smlad(acc, a, b), wide as i32, "{acc} {a:#x} {b:#x}");
                    let bb = i64::from(acc) + h(a, false) * h(b, false);
                    assert_eq!(smlabb(acc, a, b), bb as i32);
                    let tt = i64::from(acc) + h(a, true) * h(b, true);
                    assert_eq!(smlatt(acc, a, b), tt as i32);
                }
            }
        }
    }

    #[test]
    fn dot_2x1_equals_plain_dots() {
        let mut s = 99u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as u8 as i8
        };
        let mut rows = [[0i8; 70]; 4];
        for r in rows.iter_mut() {
            for v in r.iter_mut() {
                *v = next();
            }
        }
        rows[0][..8].fill(-128);
        rows[2][..8].fill(-128);
        let plain = |a: &[i8], b: &[i8]| {
            a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
                s.wrapping_add(i32::from(x) * i32::from(y))
            })
        };
        let mut xw = [[0u32; 4]; 70 / 4];
        for n in 0..=70 {
            let [x0, x1, w] = [&rows[0][..n], &rows[1][..n], &rows[2][..n]];
            widen_pair(x0, x1, &mut xw[..n / 4]);
            assert_eq!(
                dot_2x1(&xw[..n / 4], x0, x1, w, 0),
                [plain(x0, w), plain(x1, w)],
                "n={n}"
            );
            // Fewer widened chunks than values: the rest in plain arithmetic.
            assert_eq!(
                dot_2x1(&xw[..n / 8], x0, x1, w, -7),
                [plain(x0, w).wrapping_sub(7), plain(x1, w).wrapping_sub(7)],
                "n={n}"
            );
        }
    }
}
