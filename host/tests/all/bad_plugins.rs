//! Broken and malicious plugins on both engines, through the library and the CLI: each gives
//! a one-line error naming the plugin, never a panic.
//!
//! The plugins are hand-written WAT core modules given the `edgeplug:ml` world and
//! componentized, like the ones `mcu-port/tests/all/bad.rs` builds for wasmi alone.

use crate::cli::{assert_one_line_error, edgeplug, p, tmpdir};
use edgeplug::engine::{EngineConfig, EngineKind, PluginErrorKind, PluginInstance};

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

/// Memory image of a plugin whose model-info (at 0x100) declares one int8 [4] input `x` and
/// one int8 [4] output `y`, with prepared `infer` results:
/// - 0x400: ok([tensor int8 [4] = 1,2,3,4])
/// - 0x480: ok([tensor int8 [2]]) (wrong shape)
/// - 0x4c0: ok([tensor int8 [4] with 3 bytes of data]) (wrong byte length)
/// - 0x540: ok(list at 0x7fff0000) (out of bounds)
/// - 0x580: err(invalid-input, "1.0.0")
fn image() -> Vec<u8> {
    let mut m = Image(Vec::new());
    m.u32s(
        0x100,
        &[0x200, 1, 0x210, 5, 0x300, 1, 0x340, 1, 0, 0, 1024, 0],
    );
    m.put(0x200, b"m");
    m.put(0x210, b"1.0.0");
    m.put(0x220, b"x");
    m.put(0x230, b"y");
    // tensor-specs: name, dtype at +8, shape at +12, no quantization.
    m.u32s(0x300, &[0x220, 1, 0, 0x380, 1, 0]);
    m.u32s(0x340, &[0x230, 1, 0, 0x380, 1, 0]);
    m.u32s(0x380, &[4]);
    m.u32s(0x384, &[2]);
    // tensor records: shape ptr, rank, dtype, data ptr, data len.
    m.u32s(0x400, &[0, 0x420, 1]);
    m.u32s(0x420, &[0x380, 1, 0, 0x440, 4]);
    m.put(0x440, &[1, 2, 3, 4]);
    m.u32s(0x480, &[0, 0x4a0, 1]);
    m.u32s(0x4a0, &[0x384, 1, 0, 0x440, 2]);
    m.u32s(0x4c0, &[0, 0x4e0, 1]);
    m.u32s(0x4e0, &[0x380, 1, 0, 0x440, 3]);
    m.u32s(0x540, &[0, 0x7fff_0000, 1]);
    m.u32s(0x580, &[1, 0, 0x210, 5]);
    m.0
}

const BUMP_REALLOC: &str = "(local $r i32)
    (local.set $r (global.get $bump))
    (global.set $bump (i32.add (global.get $bump)
        (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
    (local.get $r)";

/// A plugin component whose `infer` body is `infer` and whose `cabi_realloc` body is
/// `realloc`.
fn plugin(infer: &str, realloc: &str) -> Vec<u8> {
    let data: String = image().iter().map(|b| format!("\\{b:02x}")).collect();
    let core = wat::parse_str(format!(
        r#"(module
            (import "edgeplug:ml/host@0.1.0" "log" (func $log (param i32 i32 i32)))
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 0x1000))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) {realloc})
            (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const 0x100))
            (func (export "edgeplug:ml/inference@0.1.0#infer") (param i32 i32) (result i32) {infer})
            (data (i32.const 0) "{data}"))"#
    ))
    .expect("valid WAT");
    let core = edgeplug_plugins::with_plugin_world(&core).expect("world");
    edgeplug_plugins::componentize(&core).expect("componentize")
}

fn good(infer: &str) -> Vec<u8> {
    plugin(infer, BUMP_REALLOC)
}

const ENGINES: [EngineKind; 2] = [EngineKind::Wasmtime, EngineKind::Wasmi];

fn load(engine: EngineKind, bytes: &[u8]) -> Result<PluginInstance, edgeplug::engine::PluginError> {
    PluginInstance::load(engine, "bad.wasm", bytes, &EngineConfig::default())
}

/// Loads and runs one inference on `[9, 9, 9, 9]`.
fn run_once(engine: EngineKind, bytes: &[u8]) -> Result<Vec<u8>, edgeplug::engine::PluginError> {
    let mut plugin = load(engine, bytes)?;
    Ok(plugin.infer_raw(&[&[9, 9, 9, 9]])?.remove(0).data)
}

/// The error's text is one line, starts by naming the plugin and contains `needle`.
fn assert_named(engine: EngineKind, err: &edgeplug::engine::PluginError, needle: &str) {
    let text = err.to_string();
    assert!(text.starts_with("plugin `bad.wasm`: "), "{engine}: {text}");
    assert!(!text.contains('\n'), "{engine}: multi-line: {text}");
    assert!(text.contains(needle), "{engine}: `{needle}` not in: {text}");
}

#[test]
fn the_well_behaved_wat_plugin_works_on_both_engines() {
    for engine in ENGINES {
        let mut plugin = load(engine, &good("(i32.const 0x400)")).unwrap();
        assert_eq!(plugin.info().name, "m");
        assert_eq!(plugin.info().arena_bytes, 1024);
        for _ in 0..3 {
            let out = plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap();
            assert_eq!(out[0].data, [1, 2, 3, 4], "{engine}");
            assert_eq!(out[0].shape, [4], "{engine}");
        }
        assert_eq!(plugin.memory_bytes(), 65536, "{engine}");
    }
}

#[test]
fn a_module_that_is_not_a_component_is_refused() {
    for engine in ENGINES {
        let err = load(engine, edgeplug_plugins::RUNNER_MODULE).err().unwrap();
        assert!(matches!(err.kind, PluginErrorKind::NotAComponent), "{err}");
        assert_named(engine, &err, "not a component");
        let err = load(engine, b"hello, not wasm").err().unwrap();
        assert!(matches!(err.kind, PluginErrorKind::NotWasm), "{err}");
        let err = load(engine, b"").err().unwrap();
        assert!(matches!(err.kind, PluginErrorKind::NotWasm), "{err}");
    }
}

#[test]
fn a_component_of_another_world_is_refused() {
    let component = wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 1))
            (core instance $i (instantiate $m))
            (func $f (result u32) (canon lift (core func $i "f")))
            (export "hello" (func $f)))"#,
    )
    .unwrap();
    for engine in ENGINES {
        let err = load(engine, &component).err().unwrap();
        assert!(
            matches!(err.kind, PluginErrorKind::WrongWorld(_)),
            "{engine}: {err}"
        );
        assert_named(engine, &err, "edgeplug:ml/inference");
    }
}

#[test]
fn a_truncated_component_is_an_error() {
    let component = good("(i32.const 0x400)");
    for engine in ENGINES {
        for len in [8, 9, 100, component.len() / 2, component.len() - 1] {
            let err = load(engine, &component[..len]).err().unwrap();
            assert_named(engine, &err, "");
        }
    }
}

#[test]
fn a_trapping_plugin_is_reported_and_poisoned() {
    for engine in ENGINES {
        let mut plugin = load(engine, &good("(unreachable)")).unwrap();
        let err = plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap_err();
        assert!(
            matches!(err.kind, PluginErrorKind::Trap(_)),
            "{engine}: {err}"
        );
        assert_named(engine, &err, "trapped");
        let err = plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap_err();
        assert!(
            matches!(err.kind, PluginErrorKind::Poisoned),
            "{engine}: {err}"
        );
    }
}

#[test]
fn outputs_of_the_wrong_shape_or_size_are_refused() {
    for engine in ENGINES {
        let err = run_once(engine, &good("(i32.const 0x480)")).unwrap_err();
        assert!(
            matches!(err.kind, PluginErrorKind::BadOutput(_)),
            "{engine}: {err}"
        );
        assert_named(engine, &err, "[2]");
        let err = run_once(engine, &good("(i32.const 0x4c0)")).unwrap_err();
        assert!(
            matches!(err.kind, PluginErrorKind::BadOutput(_)),
            "{engine}: {err}"
        );
        assert_named(engine, &err, "3 bytes");
    }
}

#[test]
fn cabi_realloc_returning_an_out_of_bounds_pointer_is_an_abi_error() {
    for realloc in [
        "(i32.const 0x7ffffff0)",
        "(i32.const 0xfffe)",
        "(i32.const -8)",
    ] {
        let bytes = plugin("(i32.const 0x400)", realloc);
        for engine in ENGINES {
            let err = run_once(engine, &bytes).unwrap_err();
            assert!(
                matches!(err.kind, PluginErrorKind::Abi(_)),
                "{engine} {realloc}: {err}"
            );
            assert_named(engine, &err, "canonical ABI");
        }
    }
}

#[test]
fn results_outside_memory_and_plugin_errors() {
    for engine in ENGINES {
        let err = run_once(engine, &good("(i32.const 0x540)")).unwrap_err();
        assert!(
            matches!(err.kind, PluginErrorKind::Abi(_)),
            "{engine}: {err}"
        );
        // A plugin's own error is an answer: the instance stays usable.
        let mut plugin = load(engine, &good("(i32.const 0x580)")).unwrap();
        for _ in 0..2 {
            let err = plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap_err();
            assert!(
                matches!(&err.kind, PluginErrorKind::Plugin { message, .. } if message == "1.0.0"),
                "{engine}: {err}"
            );
            assert_named(engine, &err, "invalid-input");
        }
    }
}

#[test]
fn memory_growth_stops_at_the_cap() {
    // Grows by 16 pages per call until memory.grow fails, then traps.
    let bytes = good(
        "(if (i32.lt_s (memory.grow (i32.const 16)) (i32.const 0)) (then unreachable)) (i32.const 0x400)",
    );
    let config = EngineConfig {
        max_memory_bytes: 40 * 65536,
        ..EngineConfig::default()
    };
    for engine in ENGINES {
        let mut plugin = PluginInstance::load(engine, "bad.wasm", &bytes, &config).unwrap();
        plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap();
        plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap();
        assert_eq!(plugin.memory_bytes(), 33 * 65536, "{engine}");
        let err = plugin.infer_raw(&[&[9, 9, 9, 9]]).unwrap_err();
        // wasmtime's limiter sees the refused grow and names it; wasmi only reports the
        // trap that follows.
        match engine {
            EngineKind::Wasmtime => assert!(
                matches!(
                    err.kind,
                    PluginErrorKind::MemoryLimit {
                        limit: 2_621_440,
                        ..
                    }
                ),
                "{engine}: {err}"
            ),
            _ => assert!(
                matches!(err.kind, PluginErrorKind::Trap(_)),
                "{engine}: {err}"
            ),
        }
        assert!(plugin.memory_bytes() <= 40 * 65536, "{engine}");
    }
}

/// Every bad plugin through `edgeplug run`: exit code 1, one line on stderr naming the
/// plugin file, no panic, on both engines.
#[test]
fn cli_reports_each_bad_plugin_on_one_line() {
    let dir = tmpdir("bad-plugins");
    let input = dir.join("in.bin");
    std::fs::write(&input, [9u8; 4]).unwrap();
    let other_world = wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 1))
            (core instance $i (instantiate $m))
            (func $f (result u32) (canon lift (core func $i "f")))
            (export "hello" (func $f)))"#,
    )
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "core-module.wasm",
            edgeplug_plugins::RUNNER_MODULE.to_vec(),
            "not a component",
        ),
        ("other-world.wasm", other_world, "not an edgeplug:ml plugin"),
        ("traps.wasm", good("(unreachable)"), "trapped"),
        ("wrong-shape.wasm", good("(i32.const 0x480)"), "bad outputs"),
        (
            "realloc-oob.wasm",
            plugin("(i32.const 0x400)", "(i32.const 0x7ffffff0)"),
            "canonical ABI",
        ),
    ];
    for (file, bytes, needle) in cases {
        let path = dir.join(file);
        std::fs::write(&path, bytes).unwrap();
        for engine in ["wasmtime", "wasmi"] {
            let out = dir.join("out.bin");
            let result = edgeplug(&[
                "run",
                p(&path),
                "-i",
                p(&input),
                "-o",
                p(&out),
                "--engine",
                engine,
                "--insecure-skip-verify",
            ]);
            assert_one_line_error(&result, &[file, needle]);
            assert!(!out.exists(), "{file} {engine}: an output was written");
        }
    }
    let missing = dir.join("missing.wasm");
    let out = edgeplug(&["run", p(&missing), "-i", p(&input)]);
    assert_one_line_error(&out, &["missing.wasm", "cannot read"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn log_lines_are_prefixed_with_the_plugin_name() {
    let dir = tmpdir("plugin-log");
    let input = dir.join("in.bin");
    std::fs::write(&input, [9u8; 4]).unwrap();
    let path = dir.join("chatty.wasm");
    std::fs::write(
        &path,
        good("(call $log (i32.const 2) (i32.const 0x210) (i32.const 5)) (i32.const 0x400)"),
    )
    .unwrap();
    for engine in ["wasmtime", "wasmi"] {
        let out = edgeplug(&[
            "run",
            p(&path),
            "-i",
            p(&input),
            "--engine",
            engine,
            "--json",
            "--insecure-skip-verify",
        ]);
        assert!(out.status.success(), "{engine}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("chatty.wasm] info: 1.0.0"),
            "{engine}: {stderr}"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["outputs"][0]["data"], serde_json::json!([1, 2, 3, 4]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
