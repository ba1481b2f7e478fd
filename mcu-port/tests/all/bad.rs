//! Hand-written broken or malicious plugins (WAT core modules, componentized with the
//! edgeplug:ml world): each must give a clear error, never a host panic.
use crate::common::{Recorder, wat_bytes, wat_component};
use edgeplug_mcu::{Config, ElementType, Error, ErrorCode, Level, NullHost, Plugin, TensorRef};

/// A little-endian memory image builder.
struct Image(Vec<u8>);

impl Image {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        if self.0.len() < at + bytes.len() {
            self.0.resize(at + bytes.len(), 0);
        }
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u32s(&mut self, at: usize, values: &[u32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(at, &bytes);
    }
}

/// Memory image of a plugin whose model-info declares one int8 [4] input `x` and one int8
/// [4] output `y`, with prepared results:
/// - 0x400: ok([tensor [4] int8 = 1,2,3,4])
/// - 0x480: ok([tensor [2] int8]) (wrong shape)
/// - 0x500: result discriminant 7
/// - 0x540: ok(list at 0x7fff0000)
/// - 0x580: err(invalid-input, "1.0.0")
/// - 0x5c0: ok(list of 1000000 tensors at 0x420)
/// - 0x600: ok([tensor [4] int8 with dtype 9])
/// - 0x640: ok([tensor [4] float32]) (wrong type)
/// - 0x5e0: bytes ff fe (invalid UTF-8)
fn image() -> Vec<u8> {
    let mut m = Image(Vec::new());
    // model-info at 0x100.
    m.u32s(
        0x100,
        &[0x200, 1, 0x210, 5, 0x300, 1, 0x340, 1, 0, 0, 1024, 0],
    );
    m.put(0x200, b"m");
    m.put(0x210, b"1.0.0");
    m.put(0x220, b"x");
    m.put(0x230, b"y");
    // tensor-specs: name, dtype at +8, shape at +12, option at +20.
    m.u32s(0x300, &[0x220, 1, 0, 0x380, 1, 0]);
    m.u32s(0x340, &[0x230, 1, 0, 0x380, 1, 0]);
    m.u32s(0x380, &[4]);
    m.u32s(0x384, &[2]);
    // ok([tensor]) at 0x400: disc, list ptr, len.
    m.u32s(0x400, &[0, 0x420, 1]);
    m.u32s(0x420, &[0x380, 1, 0, 0x440, 4]);
    m.put(0x440, &[1, 2, 3, 4]);
    // wrong shape.
    m.u32s(0x480, &[0, 0x4a0, 1]);
    m.u32s(0x4a0, &[0x384, 1, 0, 0x440, 2]);
    // bad discriminant.
    m.u32s(0x500, &[7, 0, 0]);
    // out-of-bounds list.
    m.u32s(0x540, &[0, 0x7fff_0000, 1]);
    // err(invalid-input, "1.0.0").
    m.u32s(0x580, &[1, 0, 0x210, 5]);
    // a huge list reusing the same tensor.
    m.u32s(0x5c0, &[0, 0x420, 1_000_000]);
    m.put(0x5e0, &[0xff, 0xfe]);
    // bad dtype discriminant.
    m.u32s(0x600, &[0, 0x620, 1]);
    m.u32s(0x620, &[0x380, 1, 9, 0x440, 4]);
    // wrong type.
    m.u32s(0x640, &[0, 0x660, 1]);
    m.u32s(0x660, &[0x380, 1, 3, 0x440, 4]);
    m.0
}

const BUMP_REALLOC: &str = "(local $r i32)
    (local.set $r (global.get $bump))
    (global.set $bump (i32.add (global.get $bump)
        (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
    (local.get $r)";

/// A plugin whose `infer` body is `infer` and whose `cabi_realloc` body is `realloc`.
fn plugin(infer: &str, realloc: &str) -> Vec<u8> {
    wat_component(&format!(
        r#"(module
            (import "edgeplug:ml/host@0.1.0" "log" (func $log (param i32 i32 i32)))
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 0x1000))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) {realloc})
            (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const 0x100))
            (func (export "edgeplug:ml/inference@0.1.0#infer") (param i32 i32) (result i32) {infer})
            (data (i32.const 0) "{}"))"#,
        wat_bytes(&image())
    ))
}

fn load(infer: &str) -> Plugin<Recorder> {
    Plugin::new(
        &plugin(infer, BUMP_REALLOC),
        Recorder::default(),
        &Config::default(),
    )
    .unwrap()
}

fn input() -> [TensorRef<'static>; 1] {
    [TensorRef {
        shape: &[4],
        dtype: ElementType::Int8,
        data: &[9, 9, 9, 9],
    }]
}

#[test]
fn the_well_behaved_wat_plugin_works() {
    let mut p = load("(i32.const 0x400)");
    assert_eq!(p.info().name, "m");
    assert_eq!(p.info().arena_bytes, 1024);
    let out = p.infer(&input()).unwrap();
    assert_eq!(out[0].data, [1, 2, 3, 4]);
    assert_eq!(out[0].shape, [4]);
    // The input landed in guest memory through cabi_realloc.
    let out = p.infer(&input()).unwrap();
    assert_eq!(out[0].data, [1, 2, 3, 4]);
}

#[test]
fn a_trapping_plugin_is_reported_and_poisoned() {
    let mut p = load("(unreachable)");
    let err = p.infer(&input()).unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err}");
    assert_eq!(p.infer(&input()).unwrap_err(), Error::Poisoned);
}

#[test]
fn a_plugin_that_loops_forever_runs_out_of_fuel() {
    let mut p = Plugin::new(
        &plugin("(loop $l (br $l)) (i32.const 0x400)", BUMP_REALLOC),
        NullHost,
        &Config {
            fuel: Some(100_000),
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(p.infer(&input()).unwrap_err(), Error::OutOfFuel);
    assert_eq!(p.infer(&input()).unwrap_err(), Error::Poisoned);
}

#[test]
fn a_plugin_that_grows_memory_without_bound_hits_the_cap() {
    // Grows by 16 pages per call until memory.grow fails, then traps.
    let mut p = Plugin::new(
        &plugin(
            "(if (i32.lt_s (memory.grow (i32.const 16)) (i32.const 0)) (then unreachable)) (i32.const 0x400)",
            BUMP_REALLOC,
        ),
        NullHost,
        &Config {
            max_memory_bytes: Some(40 * 65536),
            ..Config::default()
        },
    )
    .unwrap();
    p.infer(&input()).unwrap();
    p.infer(&input()).unwrap();
    assert!(matches!(p.infer(&input()).unwrap_err(), Error::Trap(_)));
    assert!(p.memory_bytes() <= 40 * 65536);
}

#[test]
fn wrong_outputs_are_rejected() {
    for (ret, want) in [("0x480", "[2]"), ("0x640", "Float32")] {
        let mut p = load(&format!("(i32.const {ret})"));
        let err = p.infer(&input()).unwrap_err();
        assert!(
            matches!(&err, Error::BadOutput(m) if m.contains(want)),
            "{ret}: {err}"
        );
    }
}

#[test]
fn abi_violations_are_errors() {
    for (ret, want) in [
        ("0xfffc", "outside"),
        ("0x402", "aligned"),
        ("0x500", "discriminant"),
        ("0x540", "outside"),
        ("0x600", "element type"),
        ("-4", "outside"),
    ] {
        let mut p = load(&format!("(i32.const {ret})"));
        let err = p.infer(&input()).unwrap_err();
        assert!(
            matches!(&err, Error::Abi(m) if m.contains(want)),
            "{ret}: {err}"
        );
        assert_eq!(p.infer(&input()).unwrap_err(), Error::Poisoned);
    }
}

#[test]
fn a_huge_output_list_is_refused_before_copying() {
    let mut p = load("(i32.const 0x5c0)");
    let err = p.infer(&input()).unwrap_err();
    assert!(
        matches!(&err, Error::BadOutput(m) if m.contains("1000000 outputs")),
        "{err}"
    );
}

#[test]
fn a_plugin_error_is_passed_through() {
    let mut p = load("(i32.const 0x580)");
    assert_eq!(
        p.infer(&input()).unwrap_err(),
        Error::Plugin {
            code: ErrorCode::InvalidInput,
            message: "1.0.0".into()
        }
    );
    // A plugin error is an answer, not a fault: the instance stays usable.
    assert!(matches!(
        p.infer(&input()).unwrap_err(),
        Error::Plugin { .. }
    ));
}

#[test]
fn cabi_realloc_returning_out_of_bounds_is_an_error() {
    for realloc in [
        "(i32.const 0x7ffffff0)",
        "(i32.const 0xfffe)",
        "(i32.const 0x1001)",
    ] {
        let mut p = Plugin::new(
            &plugin("(i32.const 0x400)", realloc),
            NullHost,
            &Config::default(),
        )
        .unwrap();
        let err = p.infer(&input()).unwrap_err();
        assert!(
            matches!(&err, Error::Abi(m) if m.contains("cabi_realloc")),
            "{realloc}: {err}"
        );
    }
}

#[test]
fn log_lines_reach_the_host_and_bad_ones_trap() {
    let mut p = load("(call $log (i32.const 2) (i32.const 0x210) (i32.const 5)) (i32.const 0x400)");
    p.infer(&input()).unwrap();
    assert_eq!(p.host().logs, [(Level::Info, "1.0.0".to_string())]);

    for (args, want) in [
        ("(i32.const 2) (i32.const 0x5e0) (i32.const 2)", "UTF-8"),
        (
            "(i32.const 2) (i32.const 0xfff0) (i32.const 100)",
            "outside",
        ),
        ("(i32.const 9) (i32.const 0x210) (i32.const 5)", "level"),
    ] {
        let mut p = load(&format!("(call $log {args}) (i32.const 0x400)"));
        let err = p.infer(&input()).unwrap_err();
        assert!(
            matches!(&err, Error::Trap(m) if m.contains(want)),
            "{args}: {err}"
        );
    }
}

#[test]
fn the_wrong_info_is_rejected_at_load() {
    // model-info pointer out of bounds.
    let err = Plugin::new(
        &wat_component(
            r#"(module
                (memory (export "memory") 1)
                (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0x1000))
                (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const 0x10000))
                (func (export "edgeplug:ml/inference@0.1.0#infer") (param i32 i32) (result i32) (i32.const 0)))"#,
        ),
        NullHost,
        &Config::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, Error::Abi(m) if m.contains("model-info")),
        "{err}"
    );
}

/// A plugin built with `+simd128` on a host without wasmi's SIMD support (the default; the
/// `simd` feature adds it) is refused at load with an error that says so, not with the
/// decoder's bare "unexpected SIMD opcode"; with the feature it loads and runs. Both a SIMD
/// instruction and a `v128` local are recognised.
#[test]
fn a_simd_plugin_needs_the_simd_feature() {
    for infer in [
        "(drop (i32x4.extract_lane 0 (i32x4.splat (i32.const 7)))) (i32.const 0x400)",
        "(local v128) (i32.const 0x400)",
    ] {
        let bytes = plugin(infer, BUMP_REALLOC);
        let loaded = Plugin::new(&bytes, Recorder::default(), &Config::default());
        if cfg!(feature = "simd") {
            let out = loaded.unwrap().infer(&input()).unwrap();
            assert_eq!(out[0].data, [1, 2, 3, 4]);
        } else {
            let err = loaded
                .err()
                .expect("a SIMD plugin must be refused without `simd`");
            assert!(
                matches!(err, Error::SimdNotEnabled { offset } if offset > 8),
                "{infer}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("WebAssembly SIMD") && text.contains("`simd` feature"),
                "{text}"
            );
        }
    }
}
