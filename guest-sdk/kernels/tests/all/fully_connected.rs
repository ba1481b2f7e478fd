//! FULLY_CONNECTED: one shared suite ([`suite`]) that every variant in
//! `fully_connected::variants::ALL` must pass (hand-computed cases, edge cases against an
//! independent oracle, error cases), a property test comparing every variant with the
//! reference byte for byte, and the per-tensor multiplier derivation.

use edgeplug_kernels::fully_connected::variants::{self, FullyConnectedFn, Variant};
use edgeplug_kernels::fully_connected::{
    FullyConnectedParams, fully_connected, per_tensor_requant,
};
use edgeplug_kernels::requant::multiply_by_quantized_multiplier;
use edgeplug_kernels::{ActivationRange, KernelError, Requant};
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

/// A complete FULLY_CONNECTED argument set.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    p: FullyConnectedParams,
    batches: usize,
    depth: usize,
    input: Vec<i8>,
    out_depth: usize,
    filter: Vec<i8>,
    bias: Option<Vec<i32>>,
    requant: Vec<Requant>,
}

impl Case {
    fn run(&self, f: FullyConnectedFn) -> Result<Vec<i8>, KernelError> {
        let mut out = vec![0x55u8 as i8; self.batches * self.out_depth];
        self.run_into(f, &mut out)?;
        Ok(out)
    }
    fn run_into(&self, f: FullyConnectedFn, out: &mut [i8]) -> Result<(), KernelError> {
        f(
            &self.p,
            self.batches,
            self.depth,
            &self.input,
            self.out_depth,
            &self.filter,
            self.bias.as_deref(),
            &self.requant,
            out,
        )
    }
}

fn params(in_zp: i32, out_zp: i32) -> FullyConnectedParams {
    FullyConnectedParams {
        input_offset: -in_zp,
        output_offset: out_zp,
        act: ActivationRange::I8,
    }
}

/// Independent model: subtract the zero point from the whole input first, multiply in i64
/// (column-major over the filter), then requantize. Panics if an accumulator leaves i32.
fn oracle(c: &Case) -> Vec<i8> {
    let x: Vec<i64> = c
        .input
        .iter()
        .map(|&v| i64::from(v) + i64::from(c.p.input_offset))
        .collect();
    let mut acc: Vec<i64> = (0..c.batches * c.out_depth)
        .map(|i| c.bias.as_ref().map_or(0, |b| i64::from(b[i % c.out_depth])))
        .collect();
    for d in 0..c.depth {
        for o in 0..c.out_depth {
            let w = i64::from(c.filter[o * c.depth + d]);
            for b in 0..c.batches {
                acc[b * c.out_depth + o] += x[b * c.depth + d] * w;
            }
        }
    }
    acc.iter()
        .enumerate()
        .map(|(i, &a)| {
            let a = i32::try_from(a).expect("oracle accumulator fits in i32");
            let r = c.requant[if c.requant.len() == 1 {
                0
            } else {
                i % c.out_depth
            }];
            let v = multiply_by_quantized_multiplier(a, r.multiplier, r.shift) + c.p.output_offset;
            v.clamp(c.p.act.min, c.p.act.max) as i8
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn random_case(
    name: &'static str,
    batches: usize,
    depth: usize,
    out_depth: usize,
    zps: (i32, i32),
    per_channel: bool,
    with_bias: bool,
    seed: u64,
) -> Case {
    let mut g = Lcg(seed);
    let k = depth.max(1) as f64;
    let n_rq = if per_channel { out_depth } else { 1 };
    Case {
        name,
        p: params(zps.0, zps.1),
        batches,
        depth,
        input: g.i8s(batches * depth),
        out_depth,
        filter: g.i8s(out_depth * depth),
        bias: with_bias.then(|| (0..out_depth).map(|_| g.range(-20_000, 20_000)).collect()),
        requant: (0..n_rq)
            .map(|_| rq((0.5 + f64::from(g.range(0, 1000)) / 1000.0) / (64.0 * k.sqrt() * 8.0)))
            .collect(),
    }
}

/// Hand-computed cases: (case, expected output).
fn hand_cases() -> Vec<(Case, Vec<i8>)> {
    let base = Case {
        name: "per-tensor",
        // input [1, 2, 3] with zp 1 -> [0, 1, 2]
        p: params(1, 0),
        batches: 1,
        depth: 3,
        input: vec![1, 2, 3],
        out_depth: 2,
        // rows [1, 2, 3] and [-1, 0, 1]
        filter: vec![1, 2, 3, -1, 0, 1],
        bias: Some(vec![10, -10]),
        requant: vec![rq(1.0)],
    };
    let mut v = Vec::new();
    // o0 = 0*1 + 1*2 + 2*3 + 10 = 18; o1 = 0*-1 + 1*0 + 2*1 - 10 = -8.
    v.push((base.clone(), vec![18, -8]));
    // Per-channel requant [1.0, 0.25]: o1 = -8 * 0.25 = -2.
    let mut c = base.clone();
    c.name = "per-channel";
    c.requant = vec![rq(1.0), rq(0.25)];
    v.push((c, vec![18, -2]));
    // Two batches; second input [3, 2, 1] -> [2, 1, 0]: o0 = 2 + 2 + 0 + 10 = 14,
    // o1 = -2 + 0 + 0 - 10 = -12.
    let mut c = base.clone();
    c.name = "two batches";
    c.batches = 2;
    c.input = vec![1, 2, 3, 3, 2, 1];
    v.push((c, vec![18, -8, 14, -12]));
    // No bias, requant 2.0, output zp 100, clamp [-128, 110]: o0 = 8 * 2 + 100 = 116 -> 110,
    // o1 = 2 * 2 + 100 = 104.
    let mut c = base.clone();
    c.name = "no bias, clamp";
    c.bias = None;
    c.p = params(1, 100);
    c.p.act = ActivationRange {
        min: -128,
        max: 110,
    };
    c.requant = vec![rq(2.0)];
    v.push((c, vec![110, 104]));
    // Saturation: depth 2 all 127 with zp -128 (value 255) and weights 127:
    // 2 * 255 * 127 = 64770 -> 127; weights -128 -> -65280 -> -128.
    v.push((
        Case {
            name: "saturate",
            p: params(-128, 0),
            batches: 1,
            depth: 2,
            input: vec![127, 127],
            out_depth: 2,
            filter: vec![127, 127, -128, -128],
            bias: None,
            requant: vec![rq(1.0)],
        },
        vec![127, -128],
    ));
    v
}

/// Edge cases, checked against [`oracle`].
fn edge_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut c = random_case("all -128, zp -128", 1, 64, 12, (-128, 0), false, true, 1);
    c.input.iter_mut().for_each(|x| *x = -128);
    v.push(c);
    let mut c = random_case("all 127, zp 127", 1, 64, 12, (127, 0), true, true, 2);
    c.input.iter_mut().for_each(|x| *x = 127);
    v.push(c);
    let mut c = random_case(
        "all 127, zp -128, weights 127",
        1,
        30,
        5,
        (-128, 127),
        false,
        true,
        3,
    );
    c.input.iter_mut().for_each(|x| *x = 127);
    c.filter.iter_mut().for_each(|x| *x = 127);
    v.push(c);
    let mut c = random_case(
        "all -128, zp 127, weights -128",
        2,
        30,
        5,
        (127, -128),
        true,
        false,
        4,
    );
    c.input.iter_mut().for_each(|x| *x = -128);
    c.filter.iter_mut().for_each(|x| *x = -128);
    v.push(c);
    v.push(random_case("1x1", 1, 1, 1, (5, -5), false, true, 5));
    v.push(random_case(
        "odd 7 -> 5, 3 batches",
        3,
        7,
        5,
        (-7, 9),
        true,
        true,
        6,
    ));
    v.push(random_case(
        "AD 640 -> 128 per-tensor",
        1,
        640,
        128,
        (89, -128),
        false,
        true,
        7,
    ));
    v.push(random_case(
        "KWS 64 -> 12 per-tensor",
        1,
        64,
        12,
        (-128, 17),
        false,
        true,
        8,
    ));
    v.push(random_case(
        "per-channel 256 -> 2",
        1,
        256,
        2,
        (-128, 3),
        true,
        true,
        9,
    ));
    v.push(random_case("no bias", 2, 33, 9, (0, 0), true, false, 10));
    // More than one chunk of 256 inputs and one block of 64 rows, with tails of both.
    v.push(random_case(
        "300 -> 70, 2 batches",
        2,
        300,
        70,
        (-3, 4),
        true,
        true,
        13,
    ));
    v.push(random_case(
        "zero batches",
        0,
        8,
        3,
        (0, 0),
        false,
        true,
        11,
    ));
    v.push(random_case(
        "zero depth (bias only)",
        2,
        0,
        3,
        (0, 0),
        true,
        true,
        12,
    ));
    v
}

/// Runs variant `v` on `c` with an output of `out_len`, which must be rejected with an
/// error satisfying `check`; the output buffer must be untouched.
fn expect_err(
    v: &Variant,
    c: &Case,
    out_len: usize,
    what: &str,
    check: impl Fn(&KernelError) -> bool,
) {
    let mut out = vec![0x55u8 as i8; out_len];
    match c.run_into(v.run, &mut out) {
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
    let base = random_case("base", 2, 5, 3, (0, 0), true, true, 99);
    assert!(base.run(v.run).is_ok());
    let n = 6;
    let buf = |what: &'static str| move |e: &KernelError| matches!(e, KernelError::BufferSize { what: w, .. } if *w == what);
    let invalid = |e: &KernelError| matches!(e, KernelError::InvalidParams(_));

    let mut c = base.clone();
    c.input.pop();
    expect_err(v, &c, n, "short input", buf("input"));
    let mut c = base.clone();
    c.filter.push(0);
    expect_err(v, &c, n, "long filter", buf("filter"));
    expect_err(v, &base, n - 1, "short output", buf("output"));
    expect_err(v, &base, n + 1, "long output", buf("output"));
    let mut c = base.clone();
    c.bias = Some(vec![1, 2]);
    expect_err(v, &c, n, "short bias", buf("bias"));
    let mut c = base.clone();
    c.requant = vec![rq(0.1); 2];
    expect_err(v, &c, n, "requant length 2 of 3", buf("requant"));
    let mut c = base.clone();
    c.requant = vec![];
    expect_err(v, &c, n, "empty requant", buf("requant"));
    let mut c = base.clone();
    c.requant[2].shift = 32;
    expect_err(v, &c, n, "shift out of range", invalid);
    let mut c = base.clone();
    c.p.act = ActivationRange { min: 10, max: -10 };
    expect_err(v, &c, n, "act min > max", invalid);
    let mut c = base.clone();
    c.p.act = ActivationRange {
        min: -1000,
        max: 10,
    };
    expect_err(v, &c, n, "act min < -128", invalid);
    let mut c = base.clone();
    c.batches = usize::MAX;
    c.depth = 3;
    expect_err(v, &c, n, "batches * depth overflows", invalid);
    let mut c = base.clone();
    c.out_depth = usize::MAX / 2;
    expect_err(v, &c, n, "out_depth * depth overflows", invalid);
}

/// The shared suite every FULLY_CONNECTED variant must pass.
fn suite(v: &Variant) {
    for (c, expected) in hand_cases() {
        assert_eq!(
            c.run(v.run).unwrap(),
            expected,
            "{}: hand case {}",
            v.name,
            c.name
        );
    }
    for c in edge_cases() {
        assert_eq!(
            c.run(v.run).unwrap(),
            oracle(&c),
            "{}: edge case {}",
            v.name,
            c.name
        );
    }
    error_cases(v);
}

fn variant(name: &str) -> &'static Variant {
    variants::ALL.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn suite_reference() {
    suite(variant("reference"));
}

#[test]
fn suite_folded() {
    suite(variant("folded"));
}

#[test]
fn suite_folded4() {
    suite(variant("folded4"));
}

#[test]
fn suite_offset4() {
    suite(variant("offset4"));
}

#[test]
fn suite_dispatch() {
    suite(variant("dispatch"));
}

#[test]
fn every_variant_is_covered() {
    let named = ["reference", "folded", "folded4", "offset4", "dispatch"];
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
    let c = random_case("x", 2, 40, 7, (3, -3), false, true, 5);
    let mut out = vec![0; 14];
    fully_connected(
        &c.p,
        c.batches,
        c.depth,
        &c.input,
        c.out_depth,
        &c.filter,
        c.bias.as_deref(),
        &c.requant,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, oracle(&c));
}

/// The per-tensor FC multiplier is formed all in double, not from an `f32` scale product
/// (which TFLM's reference build does not match; see the module docs).
#[test]
fn per_tensor_requant_is_all_double() {
    // KWS final FULLY_CONNECTED scales (f32, from the model's vectors.json): input
    // 0.08023615926504135, weights 0.008385755121707916, output 0.14469251036643982.
    // Expected values from an independent Python computation (struct-packed f32 product,
    // math.frexp, round half away): f32 product -> (1278221461, -7); all-double ->
    // (1278221421, -7).
    let (si, sw, so) = (0.080_236_16_f32, 0.008_385_755_f32, 0.144_692_51_f32);
    let tflm = per_tensor_requant(si, sw, so).unwrap();
    assert_eq!(
        tflm,
        Requant {
            multiplier: 1_278_221_421,
            shift: -7
        }
    );
    let f32_product = rq(f64::from(si * sw) / f64::from(so));
    assert_eq!(
        f32_product,
        Requant {
            multiplier: 1_278_221_461,
            shift: -7
        }
    );
    assert!(per_tensor_requant(0.0, 1.0, 1.0).is_err());
    assert!(per_tensor_requant(1.0, f32::NAN, 1.0).is_err());
    assert!(per_tensor_requant(1.0, 1.0, -1.0).is_err());
}

proptest! {
    /// Every variant equals the reference byte for byte, and the reference equals the oracle.
    #[test]
    fn variants_match_reference(
        batches in 0usize..=3,
        depth in prop_oneof![0usize..=20, 60usize..=300],
        out_depth in 1usize..=20,
        zps in (-128i32..=127, -128i32..=127),
        act in (-128i32..=127, -128i32..=127),
        per_channel in any::<bool>(),
        with_bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut c = random_case("random", batches, depth, out_depth, zps, per_channel, with_bias, seed);
        c.p.act = ActivationRange { min: act.0.min(act.1), max: act.0.max(act.1) };
        let expected = c.run(variants::reference).unwrap();
        prop_assert_eq!(&expected, &oracle(&c));
        for v in variants::ALL {
            prop_assert_eq!(&c.run(v.run).unwrap(), &expected, "variant {}", v.name);
        }
    }

    /// Out-of-model arguments (any i32 offsets and biases, raw multipliers, wrapping
    /// accumulators): no panic, and the variants still agree with the reference.
    #[test]
    fn variants_match_reference_wild(
        batches in 0usize..=3,
        depth in 0usize..=64,
        out_depth in 1usize..=8,
        offsets in (any::<i32>(), any::<i32>()),
        raw_rq in (any::<i32>(), -31i32..=31),
        bias_seed in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let mut c = random_case("wild", batches, depth, out_depth, (0, 0), false, true, seed);
        c.p.input_offset = offsets.0;
        c.p.output_offset = offsets.1;
        let mut bg = Lcg(bias_seed);
        c.bias = Some((0..out_depth).map(|_| bg.next() as i32).collect());
        c.requant = vec![Requant { multiplier: raw_rq.0, shift: raw_rq.1 }];
        let expected = c.run(variants::reference).unwrap();
        for v in variants::ALL {
            prop_assert_eq!(&c.run(v.run).unwrap(), &expected, "variant {}", v.name);
        }
    }
}
