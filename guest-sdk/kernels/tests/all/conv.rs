//! CONV_2D: one shared suite ([`suite`]) that every variant in `conv::variants::ALL` must
//! pass (hand-computed cases, edge cases against an independent oracle, error cases), and
//! a property test comparing every variant with the reference byte for byte.

use edgeplug_kernels::conv::variants::{self, ConvFn, Variant};
use edgeplug_kernels::conv::{ConvParams, conv2d};
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

/// A complete CONV_2D argument set.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    p: ConvParams,
    is: Shape4,
    input: Vec<i8>,
    fs: Shape4,
    filter: Vec<i8>,
    bias: Option<Vec<i32>>,
    requant: Vec<Requant>,
    os: Shape4,
}

impl Case {
    fn run(&self, f: ConvFn) -> Result<Vec<i8>, KernelError> {
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
    in_zp: i32,
    out_zp: i32,
) -> ConvParams {
    ConvParams {
        stride_h: stride,
        stride_w: stride,
        dilation_h: dilation,
        dilation_w: dilation,
        pad_top: pad.0,
        pad_left: pad.1,
        input_offset: -in_zp,
        output_offset: out_zp,
        act: ActivationRange::I8,
    }
}

/// Independent model of CONV_2D: materializes the zero-point-subtracted input inside an
/// explicitly padded i64 tensor (padding = 0 after the subtraction), runs a VALID
/// convolution over it in i64, then requantizes. Panics if the accumulator leaves the i32
/// range (callers keep values moderate).
fn oracle(c: &Case) -> Vec<i8> {
    let (is, fs, os, p) = (c.is, c.fs, c.os, &c.p);
    let ph = p.pad_top + is.h + (os.h * p.stride_h + fs.h * p.dilation_h);
    let pw = p.pad_left + is.w + (os.w * p.stride_w + fs.w * p.dilation_w);
    let mut padded = vec![0i64; is.n * ph * pw * is.c];
    for b in 0..is.n {
        for y in 0..is.h {
            for x in 0..is.w {
                for ch in 0..is.c {
                    let v = i64::from(c.input[((b * is.h + y) * is.w + x) * is.c + ch])
                        + i64::from(p.input_offset);
                    padded[((b * ph + y + p.pad_top) * pw + x + p.pad_left) * is.c + ch] = v;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(os.checked_len().unwrap());
    for b in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                for oc in 0..os.c {
                    let mut acc: i64 = c.bias.as_ref().map_or(0, |bb| i64::from(bb[oc]));
                    for ky in 0..fs.h {
                        for kx in 0..fs.w {
                            let y = oy * p.stride_h + ky * p.dilation_h;
                            let x = ox * p.stride_w + kx * p.dilation_w;
                            for ch in 0..fs.c {
                                acc += padded[((b * ph + y) * pw + x) * is.c + ch]
                                    * i64::from(
                                        c.filter[((oc * fs.h + ky) * fs.w + kx) * fs.c + ch],
                                    );
                            }
                        }
                    }
                    let acc = i32::try_from(acc).expect("oracle accumulator fits in i32");
                    let r = c.requant[if c.requant.len() == 1 { 0 } else { oc }];
                    let v = multiply_by_quantized_multiplier(acc, r.multiplier, r.shift)
                        + p.output_offset;
                    out.push(v.clamp(p.act.min, p.act.max) as i8);
                }
            }
        }
    }
    out
}

/// A random case with the given geometry (data, bias and per-channel requant from `seed`).
#[allow(clippy::too_many_arguments)]
fn random_case(
    name: &'static str,
    is: Shape4,
    (kh, kw): (usize, usize),
    oc: usize,
    p: ConvParams,
    os: Shape4,
    with_bias: bool,
    seed: u64,
) -> Case {
    let mut g = Lcg(seed);
    let fs = Shape4::new(oc, kh, kw, is.c);
    let k = (kh * kw * is.c) as f64;
    Case {
        name,
        p,
        is,
        input: g.i8s(is.checked_len().unwrap()),
        fs,
        filter: g.i8s(fs.checked_len().unwrap()),
        bias: with_bias.then(|| (0..oc).map(|_| g.range(-20_000, 20_000)).collect()),
        // Scales that spread typical accumulators over the int8 range.
        requant: (0..oc)
            .map(|_| rq((0.5 + f64::from(g.range(0, 1000)) / 1000.0) / (64.0 * k.sqrt() * 8.0)))
            .collect(),
        os,
    }
}

/// SAME-padded case: output size and padding as TFLite computes them.
#[allow(clippy::too_many_arguments)]
fn same_case(
    name: &'static str,
    is: Shape4,
    k: (usize, usize),
    oc: usize,
    stride: usize,
    dilation: usize,
    zps: (i32, i32),
    seed: u64,
) -> Case {
    let (oh, pt) = compute_padding(Padding::Same, is.h, k.0, stride, dilation).unwrap();
    let (ow, pl) = compute_padding(Padding::Same, is.w, k.1, stride, dilation).unwrap();
    let p = params(stride, dilation, (pt, pl), zps.0, zps.1);
    random_case(
        name,
        is,
        k,
        oc,
        p,
        Shape4::new(is.n, oh, ow, oc),
        true,
        seed,
    )
}

/// Hand-computed cases: (case, expected output).
fn hand_cases() -> Vec<(Case, Vec<i8>)> {
    let mut v = Vec::new();
    // 3x3 input 1..9, 2x2 filter [1,2,3,4], VALID, bias 3, output zp -10, identity requant:
    // (0,0) = 1*1+2*2+4*3+5*4 = 37, (0,1) = 2+6+15+24 = 47, (1,0) = 4+10+21+32 = 67,
    // (1,1) = 5+12+24+36 = 77; +3 bias -10 zp -> 30, 40, 60, 70.
    v.push((
        Case {
            name: "valid 2x2",
            p: params(1, 1, (0, 0), 0, -10),
            is: Shape4::new(1, 3, 3, 1),
            input: (1..=9).collect(),
            fs: Shape4::new(1, 2, 2, 1),
            filter: vec![1, 2, 3, 4],
            bias: Some(vec![3]),
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 2, 2, 1),
        },
        vec![30, 40, 60, 70],
    ));
    // 2x2 input [10,20,30,40] with zp 10 (values 0,10,20,30), 3x3 filter of ones with 2 in
    // the centre, SAME (pad 1): every window covers all four pixels (sum 60) plus the centre
    // pixel once more: 60, 70, 80, 90. Requant 0.25: 15, 17.5 -> 18, 20, 22.5 -> 23 (ties
    // away from zero in RoundingDivideByPOT); + zp 5 -> 20, 23, 25, 28. If padding taps
    // contributed (0 - 10) * 1 instead of 0 the first value would be 60 - 50 = 10.
    v.push((
        Case {
            name: "same 3x3 with input zp",
            p: params(1, 1, (1, 1), 10, 5),
            is: Shape4::new(1, 2, 2, 1),
            input: vec![10, 20, 30, 40],
            fs: Shape4::new(1, 3, 3, 1),
            filter: vec![1, 1, 1, 1, 2, 1, 1, 1, 1],
            bias: None,
            requant: vec![rq(0.25)],
            os: Shape4::new(1, 2, 2, 1),
        },
        vec![20, 23, 25, 28],
    ));
    // 3x3x2 input, pixel k (row-major 0..8) = [k, -k]; 1x1 filter, stride 2 -> pixels 0, 2,
    // 6, 8. oc0 = [1, 0] -> k, oc1 = [1, 3] -> k - 3k = -2k. Bias [1, -1]:
    // oc0 = 1, 3, 7, 9; oc1 = -1, -5, -13, -17. Requant per channel [1.0, 0.25]:
    // oc1 -> -0.25 -> 0, -1.25 -> -1, -3.25 -> -3, -4.25 -> -4. Clamp [-3, 8]:
    // oc0 -> 1, 3, 7, 8; oc1 -> 0, -1, -3, -3.
    let mut p = params(2, 1, (0, 0), 0, 0);
    p.act = ActivationRange { min: -3, max: 8 };
    v.push((
        Case {
            name: "1x1 stride 2 per-channel",
            p,
            is: Shape4::new(1, 3, 3, 2),
            input: (0..9i8).flat_map(|k| [k, -k]).collect(),
            fs: Shape4::new(2, 1, 1, 2),
            filter: vec![1, 0, 1, 3],
            bias: Some(vec![1, -1]),
            requant: vec![rq(1.0), rq(0.25)],
            os: Shape4::new(1, 2, 2, 2),
        },
        vec![1, 0, 3, -1, 7, -3, 8, -3],
    ));
    // 1x5 input 1..5, 1x2 filter [1, 2] with dilation 2, VALID: out[x] = in[x] + 2 in[x+2]
    // = 1+6, 2+8, 3+10 = 7, 10, 13.
    v.push((
        Case {
            name: "dilation 2",
            p: params(1, 2, (0, 0), 0, 0),
            is: Shape4::new(1, 1, 5, 1),
            input: vec![1, 2, 3, 4, 5],
            fs: Shape4::new(1, 1, 2, 1),
            filter: vec![1, 2],
            bias: None,
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 1, 3, 1),
        },
        vec![7, 10, 13],
    ));
    // 1x1 filter with pad 1 and output 3x3 over a 1x1 input [q = 4, zp 1 -> 3], filter 5,
    // bias 2: only output (1,1) reads the input: 3*5 + 2 = 17; the others are bias alone = 2.
    v.push((
        Case {
            name: "1x1 filter in padding",
            p: params(1, 1, (1, 1), 1, 0),
            is: Shape4::new(1, 1, 1, 1),
            input: vec![4],
            fs: Shape4::new(1, 1, 1, 1),
            filter: vec![5],
            bias: Some(vec![2]),
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 3, 3, 1),
        },
        vec![2, 2, 2, 2, 17, 2, 2, 2, 2],
    ));
    // Saturation: input 127 with zp -128 (value 255), 1x1 filter 127, 2 channels -> 32385
    // each; identity requant -> clamps to 127; second output channel filter -128 ->
    // -32640 -> -128.
    v.push((
        Case {
            name: "saturate",
            p: params(1, 1, (0, 0), -128, 0),
            is: Shape4::new(1, 1, 1, 1),
            input: vec![127],
            fs: Shape4::new(2, 1, 1, 1),
            filter: vec![127, -128],
            bias: None,
            requant: vec![rq(1.0)],
            os: Shape4::new(1, 1, 1, 2),
        },
        vec![127, -128],
    ));
    v
}

/// Edge cases, checked against [`oracle`].
fn edge_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut c = same_case(
        "all -128, zp -128",
        Shape4::new(1, 5, 5, 3),
        (3, 3),
        4,
        1,
        1,
        (-128, 0),
        1,
    );
    c.input.iter_mut().for_each(|x| *x = -128);
    v.push(c);
    let mut c = same_case(
        "all 127, zp 127",
        Shape4::new(1, 5, 5, 3),
        (3, 3),
        4,
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
        3,
        1,
        1,
        (-128, 127),
        3,
    );
    c.input.iter_mut().for_each(|x| *x = 127);
    c.filter.iter_mut().for_each(|x| *x = 127);
    v.push(c);
    let mut c = same_case(
        "all -128 input and weights, zp 127",
        Shape4::new(1, 4, 4, 8),
        (1, 1),
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
        5,
        1,
        1,
        (-128, 127),
        5,
    ));
    v.push(same_case(
        "zp extremes 127/-128",
        Shape4::new(1, 6, 6, 4),
        (3, 3),
        5,
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
        2,
        1,
        1,
        (3, -2),
        8,
    ));
    v.push(same_case(
        "odd 3x5x7",
        Shape4::new(1, 3, 5, 7),
        (3, 3),
        5,
        1,
        1,
        (-7, 9),
        9,
    ));
    v.push(same_case(
        "odd 3x5x7 pointwise",
        Shape4::new(1, 3, 5, 7),
        (1, 1),
        5,
        1,
        1,
        (-7, 9),
        10,
    ));
    v.push(same_case(
        "stride 2 odd same",
        Shape4::new(1, 7, 9, 3),
        (3, 3),
        4,
        2,
        1,
        (5, -5),
        11,
    ));
    v.push(same_case(
        "stride 2 1x1 (resnet shortcut)",
        Shape4::new(1, 9, 7, 6),
        (1, 1),
        5,
        2,
        1,
        (-3, 2),
        12,
    ));
    v.push(same_case(
        "KWS 10x4 s2 same",
        Shape4::new(1, 49, 10, 1),
        (10, 4),
        8,
        2,
        1,
        (83, -128),
        13,
    ));
    v.push(same_case(
        "even 4x2 same",
        Shape4::new(1, 7, 6, 2),
        (4, 2),
        3,
        1,
        1,
        (1, 1),
        14,
    ));
    v.push(same_case(
        "dilation 2 same",
        Shape4::new(1, 9, 9, 2),
        (3, 3),
        3,
        1,
        2,
        (0, 0),
        15,
    ));
    v.push(same_case(
        "dilation 2 stride 2",
        Shape4::new(1, 11, 8, 3),
        (3, 2),
        3,
        2,
        2,
        (4, 0),
        16,
    ));
    v.push(same_case(
        "batch 2",
        Shape4::new(2, 5, 4, 3),
        (3, 3),
        4,
        1,
        1,
        (-1, 3),
        17,
    ));
    v.push(same_case(
        "70 output channels (two blocks)",
        Shape4::new(1, 4, 4, 5),
        (3, 3),
        70,
        1,
        1,
        (2, -1),
        18,
    ));
    v.push(same_case(
        "70 output channels pointwise",
        Shape4::new(1, 4, 4, 5),
        (1, 1),
        70,
        1,
        1,
        (2, -1),
        19,
    ));
    // VALID stride 2 with odd sizes.
    let (oh, _) = compute_padding(Padding::Valid, 9, 3, 2, 1).unwrap();
    let (ow, _) = compute_padding(Padding::Valid, 7, 3, 2, 1).unwrap();
    v.push(random_case(
        "valid stride 2 odd",
        Shape4::new(1, 9, 7, 3),
        (3, 3),
        4,
        params(2, 1, (0, 0), 11, 0),
        Shape4::new(1, oh, ow, 4),
        true,
        20,
    ));
    // No bias, per-tensor requant, RELU-like clamp, asymmetric strides and dilations.
    let mut p = params(1, 1, (1, 2), -20, -5);
    p.stride_w = 2;
    p.dilation_h = 2;
    p.act = ActivationRange { min: -5, max: 100 };
    let mut c = random_case(
        "no bias, per-tensor, asymmetric",
        Shape4::new(1, 8, 9, 3),
        (2, 3),
        4,
        p,
        Shape4::new(1, 6, 5, 4),
        false,
        21,
    );
    c.requant.truncate(1);
    v.push(c);
    // Output larger than the input needs: outputs far in the padding get bias only.
    v.push(random_case(
        "output beyond input",
        Shape4::new(1, 3, 3, 2),
        (2, 2),
        3,
        params(1, 1, (3, 3), 7, 1),
        Shape4::new(1, 8, 8, 3),
        true,
        22,
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
    // A valid base case the variant supports (1x1 filter: every variant supports it).
    let base = same_case("base", Shape4::new(1, 3, 3, 2), (1, 1), 3, 1, 1, (0, 0), 99);
    assert!(base.supported_by(v));
    assert!(base.run(v.run).is_ok(), "{}: base case must work", v.name);
    let buf = |what: &'static str| move |e: &KernelError| matches!(e, KernelError::BufferSize { what: w, .. } if *w == what);
    let invalid = |e: &KernelError| matches!(e, KernelError::InvalidParams(_));

    let mut c = base.clone();
    c.input.pop();
    expect_err(v, &c, "short input", buf("input"));
    let mut c = base.clone();
    c.input.push(0);
    expect_err(v, &c, "long input", buf("input"));
    let mut c = base.clone();
    c.filter.pop();
    expect_err(v, &c, "short filter", buf("filter"));
    let mut c = base.clone();
    c.bias = Some(vec![0; 2]);
    expect_err(v, &c, "short bias", buf("bias"));
    let mut c = base.clone();
    c.requant = vec![rq(0.5); 2];
    expect_err(v, &c, "requant length", buf("requant"));
    let mut c = base.clone();
    c.requant = vec![];
    expect_err(v, &c, "empty requant", buf("requant"));
    // Output of the wrong length (shape says 9 pixels x 3, slice shorter).
    let mut out = fresh(26);
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
                expected: 27,
                actual: 26
            })
        ),
        "{}: {r:?}",
        v.name
    );

    let mut c = base.clone();
    c.fs.c = 1;
    c.filter.truncate(3);
    expect_err(v, &c, "filter channels != input channels", invalid);
    let mut c = base.clone();
    c.os.c = 2;
    expect_err(v, &c, "output channels != filter count", invalid);
    let mut c = base.clone();
    c.os.n = 2;
    expect_err(v, &c, "batch mismatch", invalid);
    for (what, edit) in [
        (
            "stride 0",
            (|p: &mut ConvParams| p.stride_h = 0) as fn(&mut ConvParams),
        ),
        ("stride_w 0", |p| p.stride_w = 0),
        ("dilation 0", |p| p.dilation_w = 0),
        ("act min > max", |p| {
            p.act = ActivationRange { min: 5, max: 4 }
        }),
        ("act max > 127", |p| {
            p.act = ActivationRange { min: 0, max: 200 }
        }),
        ("act min < -128", |p| {
            p.act = ActivationRange { min: -129, max: 0 }
        }),
        ("huge stride", |p| p.stride_h = usize::MAX / 2),
        ("huge pad", |p| p.pad_left = usize::MAX),
    ] {
        let mut c = base.clone();
        edit(&mut c.p);
        expect_err(v, &c, what, invalid);
    }
    let mut c = base.clone();
    c.requant[1].shift = 40;
    expect_err(v, &c, "shift out of range", invalid);
    // Shapes whose element counts overflow usize.
    let mut c = base.clone();
    c.is = Shape4::new(usize::MAX, 2, 2, 2);
    expect_err(v, &c, "overflowing input shape", invalid);
    // Empty slices with a huge (non-overflowing, zero-length) shape and a huge output.
    let mut c = base.clone();
    c.os = Shape4::new(1, usize::MAX / 8, 1, 3);
    expect_err(v, &c, "huge output shape with short slice", buf("output"));
    // A variant that does not support the filter size must refuse it.
    let c = same_case("3x3", Shape4::new(1, 3, 3, 2), (3, 3), 3, 1, 1, (0, 0), 98);
    if !c.supported_by(v) {
        expect_err(v, &c, "unsupported filter", invalid);
    }
}

/// The shared suite every CONV_2D variant must pass. Returns how many positive cases the
/// variant supported (so callers can check it was exercised).
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

#[test]
fn suite_reference() {
    assert_eq!(
        suite(variant("reference")),
        hand_cases().len() + edge_cases().len()
    );
}

#[test]
fn suite_pointwise() {
    assert!(suite(variant("pointwise")) >= 8);
}

#[test]
fn suite_direct() {
    assert_eq!(
        suite(variant("direct")),
        hand_cases().len() + edge_cases().len()
    );
}

#[test]
fn suite_pointwise4() {
    assert_eq!(suite(variant("pointwise4")), suite(variant("pointwise")));
}

#[test]
fn suite_direct4() {
    assert_eq!(
        suite(variant("direct4")),
        hand_cases().len() + edge_cases().len()
    );
}

#[test]
fn suite_dsp() {
    assert_eq!(
        suite(variant("dsp")),
        hand_cases().len() + edge_cases().len()
    );
}

#[test]
fn suite_swar() {
    assert_eq!(
        suite(variant("swar")),
        hand_cases().len() + edge_cases().len()
    );
}

/// The pixel-pair GEMM variants' (`dsp`, `swar`) own fallbacks and block edges against the
/// reference: a patch larger than their 1024-value buffers, input offsets whose negation
/// is not an `i8` (both run `direct`), odd pixel and channel counts, more than 64 output
/// channels, input vectors longer than `swar`'s 256-value packing chunk, and 1x1 filters
/// whose input pixels lie partly in explicit padding.
#[test]
fn pair_variants_fallbacks_and_blocks_match_reference() {
    let mut cases = vec![
        same_case(
            "3x3x32: patch of 288, two chunks and a tail",
            Shape4::new(1, 4, 5, 32),
            (3, 3),
            6,
            1,
            1,
            (-7, 3),
            70,
        ),
        same_case(
            "patch > 1024",
            Shape4::new(1, 5, 4, 80),
            (4, 4),
            3,
            1,
            1,
            (-3, 4),
            71,
        ),
        same_case(
            "odd pixels, 5 ch",
            Shape4::new(1, 3, 5, 7),
            (3, 3),
            5,
            1,
            1,
            (128, 0),
            72,
        ),
        same_case(
            "kws conv1 shape",
            Shape4::new(1, 49, 10, 1),
            (10, 4),
            64,
            2,
            1,
            (83, -128),
            73,
        ),
        same_case(
            "1x1 over 1030 channels",
            Shape4::new(1, 2, 3, 1030),
            (1, 1),
            3,
            1,
            1,
            (9, -9),
            78,
        ),
        same_case(
            "70 channels",
            Shape4::new(2, 3, 3, 9),
            (1, 1),
            70,
            1,
            1,
            (-128, 127),
            74,
        ),
        same_case(
            "dilated",
            Shape4::new(1, 7, 7, 6),
            (3, 2),
            4,
            1,
            2,
            (5, 6),
            75,
        ),
    ];
    for offset in [1000, -129, i32::MIN, 128, -127] {
        let mut c = same_case(
            "offset",
            Shape4::new(1, 4, 4, 5),
            (3, 3),
            3,
            1,
            1,
            (0, 0),
            76,
        );
        c.p.input_offset = offset;
        cases.push(c);
    }
    // A multiplier of i32::MIN (saturating doubling high multiply) takes `direct`.
    for (k, ic) in [((1, 1), 6), ((3, 3), 2)] {
        let mut c = same_case("i32::MIN", Shape4::new(1, 3, 4, ic), k, 3, 1, 1, (1, 2), 79);
        c.requant[1] = Requant {
            multiplier: i32::MIN,
            shift: -3,
        };
        cases.push(c);
    }
    let mut c = same_case(
        "1x1 padded",
        Shape4::new(1, 3, 3, 8),
        (1, 1),
        3,
        1,
        1,
        (7, 0),
        77,
    );
    c.p.pad_top = 1;
    c.p.pad_left = 2;
    c.os = Shape4::new(1, 5, 5, 3);
    cases.push(c);
    for v in ["dsp", "swar"].map(variant) {
        for c in &cases {
            assert_eq!(
                c.run(v.run).unwrap(),
                c.run(variants::reference).unwrap(),
                "{}: {}",
                v.name,
                c.name
            );
        }
    }
}

/// `swar` packs two pixels' products into one `i64` and is exact while a dot product has
/// fewer than 2^17 terms: 1x1 filters over 2^17 - 1 channels with every product at its
/// extreme (`±2^14`, sums within one product of `i32::MIN`/`i32::MAX`) give the
/// reference's bytes, and at 2^17 channels (where the reference's `i32` accumulator
/// wraps) it runs `direct` and still does. Channel `j`'s bias cancels pixel `j`'s exact
/// sum to 5, so an accumulator off by one changes an output byte.
#[test]
fn swar_is_exact_at_its_bound() {
    let swar = variant("swar");
    for ic in [(1 << 17) - 1, 1 << 17] {
        for (x0, x1, w) in [
            (-128i8, 127i8, -128i8),
            (127, -128, -128),
            (-128, -128, 127),
        ] {
            let sum = |x: i8| (i32::from(x) * i32::from(w)).wrapping_mul(ic as i32);
            let c = Case {
                name: "extreme",
                p: params(1, 1, (0, 0), 0, 0),
                is: Shape4::new(1, 1, 2, ic),
                input: (0..2 * ic).map(|i| if i < ic { x0 } else { x1 }).collect(),
                fs: Shape4::new(2, 1, 1, ic),
                filter: vec![w; 2 * ic],
                bias: Some(vec![5i32.wrapping_sub(sum(x0)), 5i32.wrapping_sub(sum(x1))]),
                requant: vec![rq(1.0)],
                os: Shape4::new(1, 1, 2, 2),
            };
            let want = c.run(variants::reference).unwrap();
            assert_eq!([want[0], want[3]], [5, 5], "the case is sensitive");
            assert_eq!(c.run(swar.run).unwrap(), want, "ic {ic}, ({x0}, {x1}, {w})");
        }
    }
}

#[test]
fn suite_dispatch() {
    assert_eq!(
        suite(variant("dispatch")),
        hand_cases().len() + edge_cases().len()
    );
}

#[test]
fn every_variant_is_covered() {
    let named = [
        "reference",
        "pointwise",
        "direct",
        "pointwise4",
        "direct4",
        "dsp",
        "swar",
        "dispatch",
    ];
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
    // The oracle is the independent model used for the edge cases; check it on the
    // hand-computed cases too.
    for (c, expected) in hand_cases() {
        assert_eq!(oracle(&c), expected, "{}", c.name);
    }
}

#[test]
fn top_level_is_dispatch() {
    let c = same_case("x", Shape4::new(1, 5, 5, 3), (3, 3), 4, 1, 1, (1, 2), 5);
    let mut out = fresh(c.os.checked_len().unwrap());
    conv2d(
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
    assert_eq!(out, oracle(&c));
}

/// Geometry of a random case.
#[derive(Clone, Debug)]
struct Geo {
    n: usize,
    ih: usize,
    iw: usize,
    ic: usize,
    oc: usize,
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
    let k = prop_oneof![2 => Just(1usize), 3 => 1usize..=4];
    (
        (
            1usize..=2,
            1usize..=8,
            1usize..=8,
            // Wide inputs reach the 16- and 8-lane paths of the blocked variants.
            prop_oneof![4 => 1usize..=7, 1 => 8usize..=36],
            prop_oneof![4 => 1usize..=6, 1 => 60usize..=70],
        ),
        (k.clone(), k, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2),
        proptest::option::weighted(0.3, (0usize..=3, 0usize..=3, 1usize..=6, 1usize..=6)),
    )
        .prop_map(
            |((n, ih, iw, ic, oc), (kh, kw, sh, sw, dh, dw), explicit)| Geo {
                n,
                ih,
                iw,
                ic,
                oc,
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
    let p = ConvParams {
        stride_h: g.sh,
        stride_w: g.sw,
        dilation_h: g.dh,
        dilation_w: g.dw,
        pad_top: pt,
        pad_left: pl,
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
        g.oc,
        p,
        Shape4::new(g.n, oh, ow, g.oc),
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
        c.bias = Some((0..g.oc).map(|_| bg.next() as i32).collect());
        c.requant = vec![Requant { multiplier: raw_rq.0, shift: raw_rq.1 }];
        let expected = c.run(variants::reference).unwrap();
        for v in variants::ALL {
            if c.supported_by(v) {
                prop_assert_eq!(&c.run(v.run).unwrap(), &expected, "variant {}", v.name);
            }
        }
    }
}
