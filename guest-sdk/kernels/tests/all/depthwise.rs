//! DEPTHWISE_CONV_2D: one shared suite ([`suite`]) that every variant in
//! `depthwise::variants::ALL` must pass (hand-computed cases, edge cases against an
//! independent oracle, error cases), and a property test comparing every variant with the
//! reference byte for byte.

use edgeplug_kernels::depthwise::variants::{self, DepthwiseFn, Variant};
use edgeplug_kernels::depthwise::{DepthwiseParams, depthwise_conv2d};
use edgeplug_kernels::requant::multiply_by_quantized_multiplier;
use edgeplug_kernels::{ActivationRange, KernelError, Padding, Requant, Shape4, compute_padding};
use proptest::prelude::*;

/// Small deterministic generator for test data (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as u8 as i8).collect()
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % ((hi - lo + 1) as u32)) as i32
    }
}

fn rq(real: f64) -> Requant {
    Requant::from_real(real).unwrap()
}

/// A complete DEPTHWISE_CONV_2D argument set.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    p: DepthwiseParams,
    is: Shape4,
    input: Vec<i8>,
    fs: Shape4,
    filter: Vec<i8>,
    bias: Option<Vec<i32>>,
    requant: Vec<Requant>,
    os: Shape4,
}

impl Case {
    fn run(&self, f: DepthwiseFn) -> Result<Vec<i8>, KernelError> {
        let mut out = vec![0x55u8 as i8; self.os.checked_len().unwrap()];
        f(
            &self.p,
            self.is,
            &self.input,
            self.fs,
            &self.filter,
            self.bias.as_deref(),
            &self.requant,
            self.os,
            &mut out,
        )?;
        Ok(out)
    }
    fn supported_by(&self, v: &Variant) -> bool {
        (v.supports)(&self.p, self.is, self.fs, self.os)
    }
}

fn params(
    stride: usize,
    dilation: usize,
    pad: (usize, usize),
    dm: usize,
    in_zp: i32,
    out_zp: i32,
) -> DepthwiseParams {
    DepthwiseParams {
        stride_h: stride,
        stride_w: stride,
        dilation_h: dilation,
        dilation_w: dilation,
        pad_top: pad.0,
        pad_left: pad.1,
        depth_multiplier: dm,
        input_offset: -in_zp,
        output_offset: out_zp,
        act: ActivationRange::I8,
    }
}

/// Independent model: zero-point-subtracted input inside an explicitly padded i64 tensor
/// (padding = 0), VALID depthwise convolution in i64, then requantization. Panics if an
/// accumulator leaves the i32 range.
fn oracle(c: &Case) -> Vec<i8> {
    let (is, fs, os, p) = (c.is, c.fs, c.os, &c.p);
    let ph = p.pad_top + is.h + (os.h * p.stride_h + fs.h * p.dilation_h);
    let pw = p.pad_left + is.w + (os.w * p.stride_w + fs.w * p.dilation_w);
    let mut padded = vec![0i64; is.n * ph * pw * is.c];
    for b in 0..is.n {
        for y in 0..is.h {
            for x in 0..is.w {
                for ch in 0..is.c {
                    padded[((b * ph + y + p.pad_top) * pw + x + p.pad_left) * is.c + ch] =
                        i64::from(c.input[((b * is.h + y) * is.w + x) * is.c + ch])
                            + i64::from(p.input_offset);
                }
            }
        }
    }
    let mut out = vec![0i8; os.checked_len().unwrap()];
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                // Iterate output channels directly; the input channel is oc / dm.
                for oc in 0..os.c {
                    let ic = oc / p.depth_multiplier;
                    let mut acc: i64 = c.bias.as_ref().map_or(0, |bb| i64::from(bb[oc]));
                    for ky in 0..fs.h {
                        for kx in 0..fs.w {
                            let y = oy * p.stride_h + ky * p.dilation_h;
                            let x = ox * p.stride_w + kx * p.dilation_w;
                            acc += padded[((b * ph + y) * pw + x) * is.c + ic]
                                * i64::from(c.filter[(ky * fs.w + kx) * fs.c + oc]);
                        }
                    }
                    let acc = i32::try_from(acc).expect("oracle accumulator fits in i32");
                    let r = c.requant[if c.requant.len() == 1 { 0 } else { oc }];
                    let v = multiply_by_quantized_multiplier(acc, r.multiplier, r.shift)
                        + p.output_offset;
                    out[((b * os.h + oy) * os.w + ox) * os.c + oc] =
                        v.clamp(p.act.min, p.act.max) as i8;
                }
            }
        }
    }
    out
}

/// A random case with the given geometry.
#[allow(clippy::too_many_arguments)]
fn random_case(
    name: &'static str,
    is: Shape4,
    (kh, kw): (usize, usize),
    p: DepthwiseParams,
    os: Shape4,
    with_bias: bool,
    seed: u64,
) -> Case {
    let mut g = Lcg(seed);
    let oc = is.c * p.depth_multiplier;
    let fs = Shape4::new(1, kh, kw, oc);
    let k = (kh * kw) as f64;
    Case {
        name,
        p,
        is,
        input: g.i8s(is.checked_len().unwrap()),
        fs,
        filter: g.i8s(fs.checked_len().unwrap()),
        bias: with_bias.then(|| (0..oc).map(|_| g.range(-20_000, 20_000)).collect()),
        requant: (0..oc)
            .map(|_| rq((0.5 + f64::from(g.range(0, 1000)) / 1000.0) / (64.0 * k.sqrt() * 8.0)))
            .collect(),
        os,
    }
}

/// SAME-padded case.
#[allow(clippy::too_many_arguments)]
fn same_case(
    name: &'static str,
    is: Shape4,
    k: (usize, usize),
    dm: usize,
    stride: usize,
    dilation: usize,
    zps: (i32, i32),
    seed: u64,
) -> Case {
    let (oh, pt) = compute_padding(Padding::Same, is.h, k.0, stride, dilation).unwrap();
    let (ow, pl) = compute_padding(Padding::Same, is.w, k.1, stride, dilation).unwrap();
    let p = params(stride, dilation, (pt, pl), dm, zps.0, zps.1);
    random_case(
        name,
        is,
        k,
        p,
        Shape4::new(is.n, oh, ow, is.c * dm),
        true,
        seed,
    )
}

/// Hand-computed cases: (case, expected output).
fn hand_cases() -> Vec<(Case, Vec<i8>)> {
    let mut v = Vec::new();
    // 2x2 input, two channels: ch0 = 1, 2, 3, 4; ch1 = 10, 20, 30, 40. 2x2 filter, ch0 all 1,
    // ch1 = [1, 0, 0, -1]. VALID -> one pixel: ch0 = 10, ch1 = 10 - 40 = -30.
    // Bias [5, 0], identity requant -> 15, -30.
    v.push((
        Case {
            name: "valid 2x2 dm1",
            p: params(1, 1, (0, 0), 1, 0, 0),
            is: Shape4::new(1, 2, 2, 2),
            input: vec![1, 10, 2, 20, 3, 30, 4, 40],
            fs: Shape4::new(1, 2, 2, 2),
            filter: vec![1, 1, 1, 0, 1, 0, 1, -1],
            bias: Some(vec![5, 0]),
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 1, 1, 2),
        },
        vec![15, -30],
    ));
    // Depth multiplier 2: one pixel [3, -2] with zp -1 -> [4, -1]; filter [1, 2, 3, 4]:
    // oc0 = 4*1 = 4, oc1 = 4*2 = 8, oc2 = -1*3 = -3, oc3 = -1*4 = -4; no bias; zp 10 ->
    // 14, 18, 7, 6.
    v.push((
        Case {
            name: "depth multiplier 2",
            p: params(1, 1, (0, 0), 2, -1, 10),
            is: Shape4::new(1, 1, 1, 2),
            input: vec![3, -2],
            fs: Shape4::new(1, 1, 1, 4),
            filter: vec![1, 2, 3, 4],
            bias: None,
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 1, 1, 4),
        },
        vec![14, 18, 7, 6],
    ));
    // 3x3 input 1..9 with zp 1 (values 0..8), 3x3 filter of ones, SAME (pad 1): each output
    // is the sum of its in-bounds neighbourhood of raw values minus the number of in-bounds
    // taps (corner 4, edge 6, centre 9):
    // (0,0) 1+2+4+5 = 12 - 4 = 8      (0,1) 1+..+6 = 21 - 6 = 15   (0,2) 2+3+5+6 = 16 - 4 = 12
    // (1,0) 1+2+4+5+7+8 = 27 - 6 = 21 (1,1) 45 - 9 = 36            (1,2) 2+3+5+6+8+9 = 33 - 6 = 27
    // (2,0) 4+5+7+8 = 24 - 4 = 20     (2,1) 4+..+9 = 39 - 6 = 33   (2,2) 5+6+8+9 = 28 - 4 = 24
    // identity requant, output zp -20.
    v.push((
        Case {
            name: "3x3 same with zp",
            p: params(1, 1, (1, 1), 1, 1, -20),
            is: Shape4::new(1, 3, 3, 1),
            input: (1..=9).collect(),
            fs: Shape4::new(1, 3, 3, 1),
            filter: vec![1; 9],
            bias: None,
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 3, 3, 1),
        },
        vec![-12, -5, -8, 1, 16, 7, 0, 13, 4],
    ));
    // Same input, 3x3 filter of ones, stride 2, SAME (pad 1) -> outputs at (0,0), (0,2),
    // (2,0), (2,2) = 8, 12, 20, 24 (from above). Requant 0.25: 2, 3, 5, 6; clamp [3, 5]:
    // 3, 3, 5, 5.
    let mut p = params(2, 1, (1, 1), 1, 1, 0);
    p.act = ActivationRange { min: 3, max: 5 };
    v.push((
        Case {
            name: "3x3 stride 2 clamp",
            p,
            is: Shape4::new(1, 3, 3, 1),
            input: (1..=9).collect(),
            fs: Shape4::new(1, 3, 3, 1),
            filter: vec![1; 9],
            bias: None,
            requant: vec![rq(0.25)],
            os: Shape4::new(1, 2, 2, 1),
        },
        vec![3, 3, 5, 5],
    ));
    v
}

/// Edge cases, checked against [`oracle`].
fn edge_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut c = same_case(
        "all -128, zp -128",
        Shape4::new(1, 5, 5, 8),
        (3, 3),
        1,
        1,
        1,
        (-128, 0),
        1,
    );
    c.input.iter_mut().for_each(|x| *x = -128);
    v.push(c);
    let mut c = same_case(
        "all 127, zp 127",
        Shape4::new(1, 5, 5, 8),
        (3, 3),
        1,
        1,
        1,
        (127, 0),
        2,
    );
    c.input.iter_mut().for_each(|x| *x = 127);
    v.push(c);
    let mut c = same_case(
        "all 127 input, zp -128, weights 127",
        Shape4::new(1, 4, 4, 8),
        (3, 3),
        1,
        1,
        1,
        (-128, 127),
        3,
    );
    c.input.iter_mut().for_each(|x| *x = 127);
    c.filter.iter_mut().for_each(|x| *x = 127);
    v.push(c);
    let mut c = same_case(
        "all -128, dm 3, zp 127",
        Shape4::new(1, 4, 4, 2),
        (3, 3),
        3,
        1,
        1,
        (127, -128),
        4,
    );
    c.input.iter_mut().for_each(|x| *x = -128);
    c.filter.iter_mut().for_each(|x| *x = -128);
    v.push(c);
    v.push(same_case(
        "zp extremes -128/127",
        Shape4::new(1, 6, 6, 4),
        (3, 3),
        1,
        1,
        1,
        (-128, 127),
        5,
    ));
    v.push(same_case(
        "zp extremes 127/-128",
        Shape4::new(1, 6, 6, 4),
        (3, 3),
        1,
        1,
        1,
        (127, -128),
        6,
    ));
    v.push(same_case(
        "1x1x1x1",
        Shape4::new(1, 1, 1, 1),
        (1, 1),
        1,
        1,
        1,
        (3, -2),
        7,
    ));
    v.push(same_case(
        "1x1 input, 3x3 filter",
        Shape4::new(1, 1, 1, 2),
        (3, 3),
        1,
        1,
        1,
        (3, -2),
        8,
    ));
    v.push(same_case(
        "odd 3x5x7",
        Shape4::new(1, 3, 5, 7),
        (3, 3),
        1,
        1,
        1,
        (-7, 9),
        9,
    ));
    v.push(same_case(
        "odd 3x5x7 5x3 filter",
        Shape4::new(1, 3, 5, 7),
        (5, 3),
        1,
        1,
        1,
        (-7, 9),
        10,
    ));
    v.push(same_case(
        "stride 2 odd same",
        Shape4::new(1, 7, 9, 3),
        (3, 3),
        1,
        2,
        1,
        (5, -5),
        11,
    ));
    v.push(same_case(
        "KWS-like 25x5x64 3x3",
        Shape4::new(1, 25, 5, 64),
        (3, 3),
        1,
        1,
        1,
        (-128, -128),
        12,
    ));
    v.push(same_case(
        "even 10x4 same",
        Shape4::new(1, 13, 9, 3),
        (10, 4),
        1,
        2,
        1,
        (1, 1),
        13,
    ));
    v.push(same_case(
        "dilation 2",
        Shape4::new(1, 9, 9, 4),
        (3, 3),
        1,
        1,
        2,
        (0, 0),
        14,
    ));
    v.push(same_case(
        "dilation 2 stride 2 dm 2",
        Shape4::new(1, 11, 8, 3),
        (3, 2),
        2,
        2,
        2,
        (4, 0),
        15,
    ));
    v.push(same_case(
        "batch 2",
        Shape4::new(2, 5, 4, 3),
        (3, 3),
        1,
        1,
        1,
        (-1, 3),
        16,
    ));
    v.push(same_case(
        "70 channels (two blocks)",
        Shape4::new(1, 4, 4, 70),
        (3, 3),
        1,
        1,
        1,
        (2, -1),
        17,
    ));
    v.push(same_case(
        "130 channels stride 2",
        Shape4::new(1, 5, 5, 130),
        (3, 3),
        1,
        2,
        1,
        (2, -1),
        18,
    ));
    let (oh, _) = compute_padding(Padding::Valid, 9, 3, 2, 1).unwrap();
    let (ow, _) = compute_padding(Padding::Valid, 7, 3, 2, 1).unwrap();
    v.push(random_case(
        "valid stride 2 odd",
        Shape4::new(1, 9, 7, 3),
        (3, 3),
        params(2, 1, (0, 0), 1, 11, 0),
        Shape4::new(1, oh, ow, 3),
        true,
        19,
    ));
    let mut p = params(1, 1, (1, 2), 1, -20, -5);
    p.stride_w = 2;
    p.dilation_h = 2;
    p.act = ActivationRange { min: -5, max: 100 };
    let mut c = random_case(
        "no bias, per-tensor, asymmetric",
        Shape4::new(1, 8, 9, 3),
        (3, 3),
        p,
        Shape4::new(1, 6, 5, 3),
        false,
        20,
    );
    c.requant.truncate(1);
    v.push(c);
    v.push(random_case(
        "output beyond input",
        Shape4::new(1, 3, 3, 2),
        (3, 3),
        params(1, 1, (4, 4), 1, 7, 1),
        Shape4::new(1, 9, 9, 2),
        true,
        21,
    ));
    v
}

fn fresh(len: usize) -> Vec<i8> {
    vec![0x55u8 as i8; len]
}

/// Runs variant `v` on `c`, which must be rejected with an error satisfying `check`; the
/// output buffer must be untouched.
fn expect_err(v: &Variant, c: &Case, what: &str, check: impl Fn(&KernelError) -> bool) {
    let mut out = fresh(c.os.checked_len().map_or(0, |n| n.min(1 << 20)));
    let r = (v.run)(
        &c.p,
        c.is,
        &c.input,
        c.fs,
        &c.filter,
        c.bias.as_deref(),
        &c.requant,
        c.os,
        &mut out,
    );
    match r {
        Err(e) => {
            assert!(check(&e), "{}: {what}: unexpected error {e:?}", v.name);
            assert!(!e.to_string().is_empty());
            assert!(
                out.iter().all(|&x| x == 0x55u8 as i8),
                "{}: {what}: output written on error",
                v.name
            );
        }
        Ok(()) => panic!("{}: {what}: accepted invalid arguments", v.name),
    }
}

fn error_cases(v: &Variant) {
    // 3x3 dm1: every variant supports it.
    let base = same_case("base", Shape4::new(1, 4, 4, 3), (3, 3), 1, 1, 1, (0, 0), 99);
    assert!(base.supported_by(v));
    assert!(base.run(v.run).is_ok(), "{}: base case must work", v.name);
    let buf = |what: &'static str| move |e: &KernelError| matches!(e, KernelError::BufferSize { what: w, .. } if *w == what);
    let invalid = |e: &KernelError| matches!(e, KernelError::InvalidParams(_));

    let mut c = base.clone();
    c.input.pop();
    expect_err(v, &c, "short input", buf("input"));
    let mut c = base.clone();
    c.filter.push(1);
    expect_err(v, &c, "long filter", buf("filter"));
    let mut c = base.clone();
    c.bias = Some(vec![0; 4]);
    expect_err(v, &c, "long bias", buf("bias"));
    let mut c = base.clone();
    c.requant = vec![rq(0.5); 2];
    expect_err(v, &c, "requant length", buf("requant"));
    let mut out = fresh(47);
    let r = (v.run)(
        &base.p,
        base.is,
        &base.input,
        base.fs,
        &base.filter,
        base.bias.as_deref(),
        &base.requant,
        base.os,
        &mut out,
    );
    assert!(
        matches!(
            r,
            Err(KernelError::BufferSize {
                what: "output",
                expected: 48,
                actual: 47
            })
        ),
        "{}: {r:?}",
        v.name
    );

    // Filter channels != input channels * depth multiplier (4 vs 3).
    let mut c = base.clone();
    c.fs.c = 4;
    c.filter = vec![0; 36];
    c.os.c = 4;
    c.bias = None;
    c.requant.truncate(1);
    expect_err(v, &c, "filter channels", invalid);
    let mut c = base.clone();
    c.fs.n = 3;
    c.filter = vec![0; 81];
    expect_err(v, &c, "filter batch != 1", invalid);
    let mut c = base.clone();
    c.os.c = 2;
    expect_err(v, &c, "output channels", invalid);
    let mut c = base.clone();
    c.os.n = 2;
    expect_err(v, &c, "batch mismatch", invalid);
    for (what, edit) in [
        (
            "stride 0",
            (|p: &mut DepthwiseParams| p.stride_h = 0) as fn(&mut DepthwiseParams),
        ),
        ("dilation 0", |p| p.dilation_h = 0),
        ("depth multiplier 0", |p| p.depth_multiplier = 0),
        ("act min > max", |p| {
            p.act = ActivationRange { min: 1, max: 0 }
        }),
        ("act max > 127", |p| {
            p.act = ActivationRange { min: 0, max: 128 }
        }),
        ("huge stride", |p| p.stride_w = usize::MAX / 2),
        ("huge pad", |p| p.pad_top = usize::MAX),
    ] {
        let mut c = base.clone();
        edit(&mut c.p);
        expect_err(v, &c, what, invalid);
    }
    let mut c = base.clone();
    c.requant[0].shift = -32;
    expect_err(v, &c, "shift out of range", invalid);
    let mut c = base.clone();
    c.is = Shape4::new(2, usize::MAX / 2, 2, 3);
    expect_err(v, &c, "overflowing input shape", invalid);
    // Depth multiplier overflow: ic * dm overflows.
    let mut c = base.clone();
    c.p.depth_multiplier = usize::MAX;
    expect_err(v, &c, "depth multiplier overflow", invalid);
    // Variants that do not support a depth multiplier of 2 or a 5x5 filter must refuse it.
    for c in [
        same_case("dm2", Shape4::new(1, 4, 4, 3), (3, 3), 2, 1, 1, (0, 0), 98),
        same_case("5x5", Shape4::new(1, 4, 4, 3), (5, 5), 1, 1, 1, (0, 0), 97),
    ] {
        if !c.supported_by(v) {
            expect_err(v, &c, c.name, invalid);
        }
    }
}

/// The shared suite every DEPTHWISE_CONV_2D variant must pass. Returns how many positive
/// cases the variant supported.
fn suite(v: &Variant) -> usize {
    let mut ran = 0;
    for (c, expected) in hand_cases() {
        if c.supported_by(v) {
            assert_eq!(
                c.run(v.run).unwrap(),
                expected,
                "{}: hand case {}",
                v.name,
                c.name
            );
            ran += 1;
        }
    }
    for c in edge_cases() {
        if c.supported_by(v) {
            assert_eq!(
                c.run(v.run).unwrap(),
                oracle(&c),
                "{}: edge case {}",
                v.name,
                c.name
            );
            ran += 1;
        }
    }
    error_cases(v);
    ran
}

fn variant(name: &str) -> &'static Variant {
    variants::ALL.iter().find(|v| v.name == name).unwrap()
}

fn total() -> usize {
    hand_cases().len() + edge_cases().len()
}

#[test]
fn suite_reference() {
    assert_eq!(suite(variant("reference")), total());
}

#[test]
fn suite_dm1() {
    // All but the two depth-multiplier cases and the dm-2 edge cases.
    assert_eq!(suite(variant("dm1")), total() - 3);
}

#[test]
fn suite_dw3x3() {
    assert!(suite(variant("dw3x3")) >= 14);
}

#[test]
fn suite_dm1x16() {
    assert_eq!(suite(variant("dm1x16")), suite(variant("dm1")));
}

#[test]
fn suite_dsp() {
    assert_eq!(suite(variant("dsp")), suite(variant("dm1")));
}

/// The DSP variant's fallbacks and channel tails against the reference: filters with more
/// than 16 taps and input offsets whose negation is not an `i8` (computed as in `dm1`),
/// channel counts that are not a multiple of 4 or cross the 64-channel block.
#[test]
fn dsp_fallbacks_and_tails_match_reference() {
    let dsp = variant("dsp");
    let mut cases = vec![
        same_case("5x5", Shape4::new(1, 6, 6, 6), (5, 5), 1, 1, 1, (3, -4), 81),
        same_case(
            "4x4",
            Shape4::new(1, 6, 5, 9),
            (4, 4),
            1,
            1,
            1,
            (-128, 0),
            82,
        ),
        same_case(
            "67 ch",
            Shape4::new(1, 4, 5, 67),
            (3, 3),
            1,
            2,
            1,
            (127, 1),
            83,
        ),
        same_case(
            "kws dw shape",
            Shape4::new(1, 25, 5, 64),
            (3, 3),
            1,
            1,
            1,
            (-128, -128),
            84,
        ),
    ];
    // A multiplier of i32::MIN (saturating doubling high multiply) takes the dm1 path.
    let mut c = same_case(
        "i32::MIN",
        Shape4::new(1, 4, 4, 6),
        (3, 3),
        1,
        1,
        1,
        (0, 0),
        86,
    );
    c.requant[2] = Requant {
        multiplier: i32::MIN,
        shift: 0,
    };
    cases.push(c);
    for offset in [1000, -129, i32::MIN, 128] {
        let mut c = same_case(
            "offset",
            Shape4::new(1, 4, 4, 6),
            (3, 3),
            1,
            1,
            1,
            (0, 0),
            85,
        );
        c.p.input_offset = offset;
        cases.push(c);
    }
    for c in cases {
        assert_eq!(
            c.run(dsp.run).unwrap(),
            c.run(variants::reference).unwrap(),
            "{}",
            c.name
        );
    }
}

#[test]
fn suite_dispatch() {
    assert_eq!(suite(variant("dispatch")), total());
}

#[test]
fn every_variant_is_covered() {
    let named = ["reference", "dm1", "dw3x3", "dm1x16", "dsp", "dispatch"];
    for v in variants::ALL {
        assert!(
            named.contains(&v.name),
            "variant {} has no suite test",
            v.name
        );
    }
    assert_eq!(variants::ALL[0].name, "reference");
}

#[test]
fn hand_cases_agree_with_oracle() {
    for (c, expected) in hand_cases() {
        assert_eq!(oracle(&c), expected, "{}", c.name);
    }
}

#[test]
fn top_level_is_dispatch() {
    for c in [
        same_case("3x3", Shape4::new(1, 5, 5, 3), (3, 3), 1, 1, 1, (1, 2), 5),
        same_case(
            "2x2 dm1",
            Shape4::new(1, 5, 5, 3),
            (2, 2),
            1,
            1,
            1,
            (1, 2),
            6,
        ),
        same_case(
            "3x3 dm2",
            Shape4::new(1, 5, 5, 3),
            (3, 3),
            2,
            1,
            1,
            (1, 2),
            7,
        ),
    ] {
        let mut out = fresh(c.os.checked_len().unwrap());
        depthwise_conv2d(
            &c.p,
            c.is,
            &c.input,
            c.fs,
            &c.filter,
            c.bias.as_deref(),
            &c.requant,
            c.os,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, oracle(&c), "{}", c.name);
    }
}

/// Geometry of a random case.
#[derive(Clone, Debug)]
struct Geo {
    n: usize,
    ih: usize,
    iw: usize,
    ic: usize,
    dm: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    /// `None`: SAME; `Some((pt, pl, oh, ow))`: explicit padding and output size.
    explicit: Option<(usize, usize, usize, usize)>,
}

fn geo() -> impl Strategy<Value = Geo> {
    let k = prop_oneof![3 => Just(3usize), 2 => 1usize..=5];
    (
        (
            1usize..=2,
            1usize..=8,
            1usize..=8,
            prop_oneof![4 => 1usize..=9, 1 => 60usize..=70],
            prop_oneof![3 => Just(1usize), 1 => 2usize..=3],
        ),
        (k.clone(), k, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2),
        proptest::option::weighted(0.3, (0usize..=4, 0usize..=4, 1usize..=6, 1usize..=6)),
    )
        .prop_map(
            |((n, ih, iw, ic, dm), (kh, kw, sh, sw, dh, dw), explicit)| Geo {
                n,
                ih,
                iw,
                ic,
                dm,
                kh,
                kw,
                sh,
                sw,
                dh,
                dw,
                explicit,
            },
        )
}

fn build(g: &Geo, zps: (i32, i32), act: (i32, i32), with_bias: bool, seed: u64) -> Case {
    let (pt, pl, oh, ow) = match g.explicit {
        Some(e) => e,
        None => {
            let (oh, pt) = compute_padding(Padding::Same, g.ih, g.kh, g.sh, g.dh).unwrap();
            let (ow, pl) = compute_padding(Padding::Same, g.iw, g.kw, g.sw, g.dw).unwrap();
            (pt, pl, oh, ow)
        }
    };
    let p = DepthwiseParams {
        stride_h: g.sh,
        stride_w: g.sw,
        dilation_h: g.dh,
        dilation_w: g.dw,
        pad_top: pt,
        pad_left: pl,
        depth_multiplier: g.dm,
        input_offset: -zps.0,
        output_offset: zps.1,
        act: ActivationRange {
            min: act.0.min(act.1),
            max: act.0.max(act.1),
        },
    };
    random_case(
        "random",
        Shape4::new(g.n, g.ih, g.iw, g.ic),
        (g.kh, g.kw),
        p,
        Shape4::new(g.n, oh, ow, g.ic * g.dm),
        with_bias,
        seed,
    )
}

proptest! {
    /// Every variant equals the reference byte for byte, and the reference equals the oracle.
    #[test]
    fn variants_match_reference(
        g in geo(),
        zps in (-128i32..=127, -128i32..=127),
        act in (-128i32..=127, -128i32..=127),
        with_bias in any::<bool>(),
        per_tensor in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut c = build(&g, zps, act, with_bias, seed);
        if per_tensor {
            c.requant.truncate(1);
        }
        let expected = c.run(variants::reference).unwrap();
        prop_assert_eq!(&expected, &oracle(&c));
        for v in variants::ALL {
            if c.supported_by(v) {
                prop_assert_eq!(&c.run(v.run).unwrap(), &expected, "variant {}", v.name);
            } else {
                prop_assert!(matches!(c.run(v.run), Err(KernelError::InvalidParams(_))));
            }
        }
    }

    /// Out-of-model arguments (any i32 offsets and biases, raw multipliers, wrapping
    /// accumulators): no panic, and the variants still agree with the reference.
    #[test]
    fn variants_match_reference_wild(
        g in geo(),
        offsets in (any::<i32>(), any::<i32>()),
        bias_seed in any::<u64>(),
        raw_rq in (any::<i32>(), -31i32..=31),
        seed in any::<u64>(),
    ) {
        let mut c = build(&g, (0, 0), (-128, 127), true, seed);
        c.p.input_offset = offsets.0;
        c.p.output_offset = offsets.1;
        let mut bg = Lcg(bias_seed);
        c.bias = Some((0..g.ic * g.dm).map(|_| bg.next() as i32).collect());
        c.requant = vec![Requant { multiplier: raw_rq.0, shift: raw_rq.1 }];
        let expected = c.run(variants::reference).unwrap();
        for v in variants::ALL {
            if c.supported_by(v) {
                prop_assert_eq!(&c.run(v.run).unwrap(), &expected, "variant {}", v.name);
            }
        }
    }
}
