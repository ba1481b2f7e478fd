//! Per-plugin limits (issue 6): adversarial plugins (an infinite loop, a trap, a memory
//! bomb, huge and aliasing outputs, a plugin that busy-waits) are each stopped with their
//! typed error, the instance is poisoned, and another plugin of the same engine keeps
//! answering correctly. No timing assertions: a limit that did not stop its plugin would
//! hang the test (or, for the output bounds, make it allocate gigabytes), not pass it.

use edgeplug::engine::{
    Allocator, CompiledPlugin, EngineConfig, EngineKind, PluginError, PluginErrorKind,
    PluginInstance, WasmiInstance, WasmtimeEngine, WasmtimeInstance,
};
use std::time::Duration;

/// Hand-written plugin components for the limit tests.
pub(crate) mod adversarial {
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

    /// `infer` result: ok([int8 [4] = 1, 2, 3, 4]).
    pub(crate) const OK: &str = "(i32.const 0x400)";
    /// `infer` result: ok([one int8 [4] tensor whose data is 60000 bytes at address 0]).
    pub(crate) const BIG: &str = "(i32.const 0x600)";
    /// `infer` result: ok([64 tensors, each with the same 16 MiB of data at address 0]):
    /// a gigabyte if the host copied it. Needs 16 MiB of memory (see [`ALIAS_BOMB`]).
    const ALIASED: &str = "(i32.const 0x700)";
    /// Aliased tensors in the alias bomb.
    pub(crate) const ALIASES: u32 = 64;
    /// Bytes of data of each aliased tensor.
    pub(crate) const ALIAS_BYTES: u32 = 16 << 20;

    /// Never returns.
    pub(crate) const LOOP: &str = "(loop $l (br $l)) (i32.const 0x400)";
    /// Traps.
    pub(crate) const TRAP: &str = "unreachable";
    /// Grows memory by 16 pages until the host refuses, then traps (what a Rust guest does
    /// when its allocator fails).
    pub(crate) const MEMORY_BOMB: &str = "(loop $l
            (br_if $l (i32.ge_s (memory.grow (i32.const 16)) (i32.const 0))))
        unreachable";
    /// Busy-waits on the host clock for 600 seconds, then answers.
    pub(crate) const BUSY_WAIT: &str = "(local $t i64)
        (local.set $t (call $now))
        (loop $l
            (br_if $l (i64.lt_u (i64.sub (call $now) (local.get $t)) (i64.const 600000000000))))
        (i32.const 0x400)";

    /// Grows memory to 16 MiB + 1 page and returns [`ALIASED`].
    pub(crate) fn alias_bomb() -> String {
        format!("(drop (memory.grow (i32.const 256))) {ALIASED}")
    }

    /// Memory image: `model-info` at 0x100 (model `m` 1.0.0, one int8 [4] input `x`, one
    /// int8 [4] output `y`) and the prepared `infer` results above.
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
        // tensor records: shape ptr, rank, dtype, data ptr, data len.
        m.u32s(0x400, &[0, 0x420, 1]);
        m.u32s(0x420, &[0x380, 1, 0, 0x440, 4]);
        m.put(0x440, &[1, 2, 3, 4]);
        m.u32s(0x600, &[0, 0x620, 1]);
        m.u32s(0x620, &[0x380, 1, 0, 0, 60_000]);
        // The dynamic variant: model-info at 0x180 whose output `y` is int8 [0] (any
        // length), and a result of int8 [60000] at 0x680.
        m.u32s(
            0x180,
            &[0x200, 1, 0x210, 5, 0x300, 1, 0x360, 1, 0, 0, 1024, 0],
        );
        m.u32s(0x360, &[0x230, 1, 0, 0x388, 1, 0]);
        m.u32s(0x388, &[0, 60_000]);
        m.u32s(0x680, &[0, 0x6a0, 1]);
        m.u32s(0x6a0, &[0x38c, 1, 0, 0, 60_000]);
        m.u32s(0x700, &[0, 0x720, ALIASES]);
        for i in 0..ALIASES as usize {
            m.u32s(0x720 + 20 * i, &[0x380, 1, 0, 0, ALIAS_BYTES]);
        }
        m.0
    }

    /// A plugin component with `pages` of initial memory whose `infer` body is `infer`
    /// (it may call `$now`, the host clock, and `$log`).
    pub(crate) fn plugin_with(infer: &str, pages: u32) -> Vec<u8> {
        build(infer, pages, 0x100)
    }

    /// A plugin whose output is dynamic (int8 [0]) and whose `infer` returns 60000 bytes,
    /// legitimately.
    pub(crate) fn dynamic_big() -> Vec<u8> {
        build("(i32.const 0x680)", 1, 0x180)
    }

    fn build(infer: &str, pages: u32, info: u32) -> Vec<u8> {
        let data: String = image().iter().map(|b| format!("\\{b:02x}")).collect();
        let core = wat::parse_str(format!(
            r#"(module
                (import "edgeplug:ml/host@0.1.0" "log" (func $log (param i32 i32 i32)))
                (import "edgeplug:ml/host@0.1.0" "now-ns" (func $now (result i64)))
                (memory (export "memory") {pages})
                (global $bump (mut i32) (i32.const 0x1000))
                (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                    (local $r i32)
                    ;; A bump allocator that wraps around (calls allocate a few bytes each
                    ;; and nothing outlives a call).
                    (if (i32.gt_u (global.get $bump) (i32.const 0xc000))
                        (then (global.set $bump (i32.const 0x1000))))
                    (local.set $r (global.get $bump))
                    (global.set $bump (i32.add (global.get $bump)
                        (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
                    (local.get $r))
                (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const {info}))
                (func (export "edgeplug:ml/inference@0.1.0#infer") (param i32 i32) (result i32)
                    {infer})
                (data (i32.const 0) "{data}"))"#
        ))
        .expect("valid WAT");
        let core = edgeplug_plugins::with_plugin_world(&core).expect("world");
        edgeplug_plugins::componentize(&core).expect("componentize")
    }

    /// [`plugin_with`] one page of memory.
    pub(crate) fn plugin(infer: &str) -> Vec<u8> {
        plugin_with(infer, 1)
    }
}

use adversarial::plugin;

const INPUT: [u8; 4] = [9, 9, 9, 9];

fn infer(p: &mut WasmtimeInstance) -> Result<Vec<u8>, PluginError> {
    let spec = p.info().inputs[0].clone();
    let input = [edgeplug::engine::TensorRef {
        shape: &spec.shape,
        dtype: spec.dtype,
        data: &INPUT,
    }];
    Ok(p.infer(&input)?.remove(0).data)
}

/// The well-behaved plugin compiled on `engine`, answering.
fn good(engine: &WasmtimeEngine) -> WasmtimeInstance {
    let mut p = engine
        .compile("good.wasm", &plugin(adversarial::OK))
        .unwrap()
        .instantiate()
        .unwrap();
    assert_eq!(infer(&mut p).unwrap(), [1, 2, 3, 4]);
    p
}

/// The error is one line naming `bad.wasm` and containing `needle`; the instance is
/// poisoned (the next call says so); `good` still answers correctly.
fn assert_contained(
    err: &PluginError,
    needle: &str,
    bad: &mut WasmtimeInstance,
    good: &mut WasmtimeInstance,
) {
    let text = err.to_string();
    assert!(text.starts_with("plugin `bad.wasm`: "), "{text}");
    assert!(!text.contains('\n'), "multi-line: {text}");
    assert!(text.contains(needle), "`{needle}` not in: {text}");
    assert!(bad.is_poisoned(), "{text}");
    let again = infer(bad).unwrap_err();
    assert!(matches!(again.kind, PluginErrorKind::Poisoned), "{again}");
    assert!(again.to_string().contains("load it again"), "{again}");
    for _ in 0..3 {
        assert_eq!(infer(good).unwrap(), [1, 2, 3, 4]);
    }
}

fn compile_bad(engine: &WasmtimeEngine, infer_body: &str) -> CompiledPlugin {
    engine.compile("bad.wasm", &plugin(infer_body)).unwrap()
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline_and_the_others_keep_answering() {
    let engine = WasmtimeEngine::new(&EngineConfig {
        deadline: Some(Duration::from_millis(100)),
        ..EngineConfig::default()
    })
    .unwrap();
    let mut ok = good(&engine);
    let compiled = compile_bad(&engine, adversarial::LOOP);
    let mut bad = compiled.instantiate().unwrap();
    // Instantiation (and the model-info call) works: only infer loops.
    assert_eq!(bad.info().name, "m");
    let err = infer(&mut bad).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::DeadlineExceeded { deadline } if deadline == Duration::from_millis(100)),
        "{err}"
    );
    assert_contained(&err, "deadline of 100 ms", &mut bad, &mut ok);
    // Callers re-instantiate: a fresh instance is usable (and stopped again).
    let mut fresh = compiled.instantiate().unwrap();
    assert!(!fresh.is_poisoned());
    let err = infer(&mut fresh).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::DeadlineExceeded { .. }),
        "{err}"
    );
}

#[test]
fn the_deadline_is_per_call_not_per_instance() {
    let engine = WasmtimeEngine::new(&EngineConfig {
        deadline: Some(Duration::from_millis(20)),
        ..EngineConfig::default()
    })
    .unwrap();
    let mut ok = good(&engine);
    // The instance lives longer than its deadline; every call gets a fresh one.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(infer(&mut ok).unwrap(), [1, 2, 3, 4]);
    }
}

#[test]
fn a_busy_waiting_plugin_is_stopped_while_another_thread_serves() {
    let config = EngineConfig {
        deadline: Some(Duration::from_millis(50)),
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    let compiled = compile_bad(&engine, adversarial::BUSY_WAIT);
    // Instances move to other threads (Send); the slow one runs beside the good one.
    let slow = std::thread::spawn(move || {
        let mut bad = compiled.instantiate().unwrap();
        let err = infer(&mut bad).unwrap_err();
        (err, bad)
    });
    let mut served = 0;
    while !slow.is_finished() || served == 0 {
        assert_eq!(infer(&mut ok).unwrap(), [1, 2, 3, 4]);
        served += 1;
    }
    let (err, mut bad) = slow.join().unwrap();
    assert!(
        matches!(err.kind, PluginErrorKind::DeadlineExceeded { .. }),
        "{err}"
    );
    assert_contained(&err, "deadline of 50 ms", &mut bad, &mut ok);
}

#[test]
fn an_infinite_loop_is_stopped_by_fuel_on_both_engines() {
    let config = EngineConfig {
        fuel: Some(1_000_000),
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    let mut bad = compile_bad(&engine, adversarial::LOOP)
        .instantiate()
        .unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(matches!(err.kind, PluginErrorKind::OutOfFuel), "{err}");
    assert_contained(&err, "out of fuel", &mut bad, &mut ok);
    assert!(ok.last_fuel_used().is_some_and(|f| f > 0 && f < 1_000_000));

    let mut bad = WasmiInstance::load("bad.wasm", &plugin(adversarial::LOOP), &config).unwrap();
    let err = bad.infer_raw_for_test();
    assert!(matches!(err.kind, PluginErrorKind::OutOfFuel), "{err}");
    assert!(bad.is_poisoned());
}

/// Runs wasmi plugins on [`INPUT`] and expects an error.
trait WasmiExt {
    fn infer_raw_for_test(&mut self) -> PluginError;
}

impl WasmiExt for WasmiInstance {
    fn infer_raw_for_test(&mut self) -> PluginError {
        let spec = self.info().inputs[0].clone();
        let input = [edgeplug::engine::TensorRef {
            shape: &spec.shape,
            dtype: spec.dtype,
            data: &INPUT,
        }];
        self.infer(&input).unwrap_err()
    }
}

#[test]
fn fuel_and_deadline_together_and_per_plugin_budgets_on_one_engine() {
    let config = EngineConfig {
        fuel: Some(u64::MAX / 2),
        deadline: Some(Duration::from_millis(100)),
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    // Plenty of fuel: the deadline stops the loop.
    let compiled = compile_bad(&engine, adversarial::LOOP);
    let mut bad = compiled.instantiate().unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::DeadlineExceeded { .. }),
        "{err}"
    );
    assert_contained(&err, "deadline", &mut bad, &mut ok);
    // The same compiled code with a small budget (a manifest's): fuel stops it first.
    let small = compiled
        .with_limits(&EngineConfig {
            fuel: Some(10_000),
            ..config
        })
        .unwrap();
    assert_eq!(small.limits().fuel, Some(10_000));
    let mut bad = small.instantiate().unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(matches!(err.kind, PluginErrorKind::OutOfFuel), "{err}");
    // Limits that need another engine are refused, with a message that says so.
    let err = compiled
        .with_limits(&EngineConfig::default())
        .err()
        .unwrap();
    assert!(matches!(err.kind, PluginErrorKind::Engine { .. }), "{err}");
    assert!(err.to_string().contains("another engine"), "{err}");
}

#[test]
fn a_trap_poisons_only_its_instance() {
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let mut ok = good(&engine);
    let compiled = compile_bad(&engine, adversarial::TRAP);
    let mut bad = compiled.instantiate().unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(matches!(err.kind, PluginErrorKind::Trap(_)), "{err}");
    assert_contained(&err, "trapped", &mut bad, &mut ok);
    // Another instance of the same compiled plugin is independent.
    let fresh = compiled.instantiate().unwrap();
    assert!(!fresh.is_poisoned());
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    const CAP: usize = 4 << 20;
    let config = EngineConfig {
        max_memory_bytes: CAP,
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    let mut bad = compile_bad(&engine, adversarial::MEMORY_BOMB)
        .instantiate()
        .unwrap();
    let err = infer(&mut bad).unwrap_err();
    match err.kind {
        PluginErrorKind::MemoryLimit { limit, requested } => {
            assert_eq!(limit, CAP);
            assert!(requested > CAP, "{err}");
        }
        _ => panic!("not a memory limit: {err}"),
    }
    assert!(bad.memory_bytes() <= CAP);
    assert_contained(
        &err,
        &format!("the limit is {CAP} bytes"),
        &mut bad,
        &mut ok,
    );

    // wasmi enforces the same cap; the bomb's trap stays a trap there.
    let mut bad =
        WasmiInstance::load("bad.wasm", &plugin(adversarial::MEMORY_BOMB), &config).unwrap();
    let err = bad.infer_raw_for_test();
    assert!(matches!(err.kind, PluginErrorKind::Trap(_)), "{err}");
    assert!(bad.memory_bytes() <= CAP);
}

#[test]
fn an_initial_memory_over_the_cap_is_refused_at_instantiation() {
    let config = EngineConfig {
        max_memory_bytes: 16 * 65536,
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let bytes = adversarial::plugin_with(adversarial::OK, 20);
    let err = engine
        .compile("bad.wasm", &bytes)
        .unwrap()
        .instantiate()
        .err()
        .unwrap();
    assert!(
        matches!(err.kind, PluginErrorKind::MemoryLimit { limit, requested } if limit == 16 * 65536 && requested == 20 * 65536),
        "{err}"
    );
    assert!(err.to_string().starts_with("plugin `bad.wasm`: "), "{err}");
    let err = WasmiInstance::load("bad.wasm", &bytes, &config)
        .err()
        .unwrap();
    assert!(matches!(err.kind, PluginErrorKind::Instantiate(_)), "{err}");
}

#[test]
fn a_huge_output_is_refused_on_both_engines() {
    let config = EngineConfig {
        max_output_bytes: 4096,
        ..EngineConfig::default()
    };
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    let mut bad = compile_bad(&engine, adversarial::BIG)
        .instantiate()
        .unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::OutputTooLarge { limit: 4096 }),
        "{err}"
    );
    assert_contained(&err, "limit of 4096 bytes", &mut bad, &mut ok);

    // edgeplug-mcu checks each output's length against model-info before it copies.
    let mut bad = WasmiInstance::load("bad.wasm", &plugin(adversarial::BIG), &config).unwrap();
    let err = bad.infer_raw_for_test();
    assert!(matches!(err.kind, PluginErrorKind::BadOutput(_)), "{err}");
    assert!(err.to_string().contains("60000 bytes"), "{err}");
    assert!(bad.is_poisoned());

    // A legitimately large (dynamic) output: refused over the bound on both engines (on
    // wasmi after the copy), delivered under it.
    let bytes = adversarial::dynamic_big();
    let mut bad = engine
        .compile("bad.wasm", &bytes)
        .unwrap()
        .instantiate()
        .unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::OutputTooLarge { limit: 4096 }),
        "{err}"
    );
    let mut bad = WasmiInstance::load("bad.wasm", &bytes, &config).unwrap();
    let err = bad.infer_raw_for_test();
    assert!(
        matches!(err.kind, PluginErrorKind::OutputTooLarge { limit: 4096 }),
        "{err}"
    );
    assert!(err.to_string().contains("limit of 4096 bytes"), "{err}");
    assert!(bad.is_poisoned());
    for engine in [EngineKind::Wasmtime, EngineKind::Wasmi] {
        let mut p =
            PluginInstance::load(engine, "big.wasm", &bytes, &EngineConfig::default()).unwrap();
        let out = p.infer_raw(&[&INPUT]).unwrap();
        assert_eq!(out[0].shape, [60_000], "{engine}");
    }

    // Under the default bound the fixed-size output is only the wrong size.
    let mut p = PluginInstance::load(
        EngineKind::Wasmtime,
        "bad.wasm",
        &plugin(adversarial::BIG),
        &EngineConfig::default(),
    )
    .unwrap();
    let err = p.infer_raw(&[&INPUT]).unwrap_err();
    assert!(matches!(err.kind, PluginErrorKind::BadOutput(_)), "{err}");
}

#[test]
fn aliased_outputs_cannot_make_the_host_copy_gigabytes() {
    // 64 output tensors all pointing at the same 16 MiB: 1 GiB if lifted. The default
    // output bound (16 MiB) refuses it before the copies.
    let config = EngineConfig::default();
    let engine = WasmtimeEngine::new(&config).unwrap();
    let mut ok = good(&engine);
    let mut bad = compile_bad(&engine, &adversarial::alias_bomb())
        .instantiate()
        .unwrap();
    let err = infer(&mut bad).unwrap_err();
    assert!(
        matches!(err.kind, PluginErrorKind::OutputTooLarge { limit } if limit == edgeplug::engine::DEFAULT_MAX_OUTPUT_BYTES),
        "{err}"
    );
    assert!(
        u64::from(adversarial::ALIASES) * u64::from(adversarial::ALIAS_BYTES) >= 1 << 30,
        "the bomb is a gigabyte"
    );
    assert_contained(&err, "too large", &mut bad, &mut ok);
    // On wasmi, edgeplug-mcu refuses the count (64 outputs, model-info declares 1) before
    // it copies anything.
    let mut bad =
        WasmiInstance::load("bad.wasm", &plugin(&adversarial::alias_bomb()), &config).unwrap();
    let err = bad.infer_raw_for_test();
    assert!(matches!(err.kind, PluginErrorKind::BadOutput(_)), "{err}");
}

#[test]
fn instances_and_compiled_plugins_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<WasmtimeEngine>();
    send_sync::<CompiledPlugin>();
    send_sync::<edgeplug::cache::CompileCache>();
    send::<WasmtimeInstance>();
    send::<WasmiInstance>();
    send::<PluginInstance>();
    send_sync::<PluginError>();
}

#[test]
fn engines_are_shared_per_configuration() {
    let a = WasmtimeEngine::new(&EngineConfig {
        fuel: Some(5),
        ..EngineConfig::default()
    })
    .unwrap();
    let b = WasmtimeEngine::new(&EngineConfig {
        fuel: Some(7),
        max_memory_bytes: 1 << 20,
        ..EngineConfig::default()
    })
    .unwrap();
    let c = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    assert!(wasmtime::Engine::same(a.engine(), b.engine()));
    assert!(!wasmtime::Engine::same(a.engine(), c.engine()));
    // Each handle keeps its own limits.
    assert_eq!(a.config().fuel, Some(5));
    assert_eq!(b.config().fuel, Some(7));
    assert_eq!(c.allocator(), &Allocator::OnDemand);
}

#[test]
fn the_pool_bounds_concurrent_instances_and_reuses_slots() {
    let engine = WasmtimeEngine::new(&EngineConfig {
        pool_instances: Some(2),
        max_memory_bytes: 1 << 20,
        ..EngineConfig::default()
    })
    .unwrap();
    assert_eq!(engine.allocator(), &Allocator::Pooling { instances: 2 });
    let compiled = engine
        .compile("good.wasm", &plugin(adversarial::OK))
        .unwrap();
    let a = compiled.instantiate().unwrap();
    let _b = compiled.instantiate().unwrap();
    let err = compiled.instantiate().err().unwrap();
    assert!(matches!(err.kind, PluginErrorKind::Instantiate(_)), "{err}");
    drop(a);
    let mut c = compiled.instantiate().unwrap();
    assert_eq!(infer(&mut c).unwrap(), [1, 2, 3, 4]);
}

#[test]
fn a_pool_that_cannot_be_reserved_falls_back_to_on_demand() {
    // u32::MAX slots of 64 MiB cannot be reserved in any address space.
    let engine = WasmtimeEngine::new(&EngineConfig {
        pool_instances: Some(u32::MAX),
        ..EngineConfig::default()
    })
    .unwrap();
    match engine.allocator() {
        Allocator::PoolingFailed { instances, reason } => {
            assert_eq!(*instances, u32::MAX);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a fallback, got {other:?}"),
    }
    let mut p = good(&engine);
    assert_eq!(infer(&mut p).unwrap(), [1, 2, 3, 4]);
}
