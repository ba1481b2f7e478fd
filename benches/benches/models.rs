//! Native latency of the four MLPerf Tiny models and the demo model, with MACs/s
//! (criterion's element throughput is set to the model's MAC count), next to the same model
//! packed into the runner plugin and run under wasmtime and under wasmi
//! (`model/<name>/{native,wasmtime,wasmi}`); and per model the wasmtime `compile` time of the
//! plugin component and its `instantiate` time (`plugin/<name>/...`: a fresh store and
//! instance from a pre-linked component with the pooling allocator, including the
//! `model-info` call a host makes on every new instance). The set-up prints each plugin's
//! component size and linear memory after one inference.
//!
//! Per model also `plugin/<name>/cold_start`: compile, instantiate and the first `infer`; and
//! `plugin/<name>/cold_start_cached`: what a host pays for a signed plugin it compiled
//! before: verify the signature and manifest (`edgeplug::trust::verify_plugin`),
//! deserialize the precompiled component from a warm `edgeplug::cache::CompileCache`
//! (`WasmtimeEngine::compile_cached`, a cache hit), instantiate and the first `infer`. The
//! plugin is packaged with `edgeplug::package::package_plugin` and signed with a throwaway
//! key (always into the shared runner).
//!
//! `call/{native,wasmtime,wasmi}`: one `infer` of a trivial model (one 8x4 int8
//! fully-connected layer, 32 MACs, `edgeplug_benches::tiny_fc_model`), i.e. the fixed cost
//! of a call (canonical-ABI copies, host marshalling, the executor's per-call set-up), not
//! kernels.
//!
//! `EDGEPLUG_BENCH_RUNNER=path/to/edgeplug_runner.wasm` measures another build of the runner
//! (for example one with `simd128`; wasmi then needs the `wasmi-simd` feature).
//!
//! Run: `cargo bench -p edgeplug-benches --bench models`. Under `cargo test` each bench runs
//! once, so they cannot rot.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeplug::cache::{CacheOutcome, CompileCache};
use edgeplug::engine::{EngineConfig, TensorRef, WasmiInstance, WasmtimeEngine};
use edgeplug::trust::{Policy, verify_plugin};
use edgeplug_benches::{
    ScratchDir, TINY_FC_INPUT, Workload, pack, runner_from_env, shared_models, signed_plugin,
    throwaway_key, tiny_fc_model, trust_only, workloads,
};
use edgeplug_model::{Interpreter, model_stats};

fn bench_model(c: &mut Criterion, w: &Workload, runner: Option<&[u8]>) {
    let (short, input) = (w.short, w.input.as_slice());
    let model = edgeplug_tflite::import(&w.tflite).expect("import");
    let stats = model_stats(&model);
    let mut interp = Interpreter::new(&model).expect("prepare");
    let out_len = model.tensors[model.outputs[0] as usize]
        .byte_len()
        .expect("output size");
    let mut output = vec![0u8; out_len];
    // The reference output, computed here so it exists even when a filter skips `native`.
    interp.invoke(&[input], &mut [&mut output]).expect("invoke");
    let mut group = c.benchmark_group(format!("model/{short}"));
    group.throughput(Throughput::Elements(stats.macs));
    let mut scratch = output.clone();
    group.bench_function("native", |b| {
        b.iter(|| {
            interp
                .invoke(&[std::hint::black_box(input)], &mut [&mut scratch])
                .expect("invoke")
        })
    });

    let epm = edgeplug_model::format::encode(&model).expect("encode");
    let component = pack(&epm, runner).expect("pack");
    let name = format!("{short}.wasm");
    let config = EngineConfig::default();
    let engine = WasmtimeEngine::new(&config).expect("wasmtime");
    let mut wasmtime = engine
        .compile(&name, &component)
        .expect("compile")
        .instantiate()
        .expect("instantiate");
    let mut wasmi = WasmiInstance::load(&name, &component, &config).expect("wasmi");
    let spec = wasmtime.info().inputs[0].clone();
    let inputs = [TensorRef {
        shape: &spec.shape,
        dtype: spec.dtype,
        data: input,
    }];
    let expected = &output;
    let out = wasmtime.infer(&inputs).expect("wasmtime infer");
    assert_eq!(
        &out[0].data, expected,
        "{short}: wasmtime differs from native"
    );
    let out = wasmi.infer(&inputs).expect("wasmi infer");
    assert_eq!(&out[0].data, expected, "{short}: wasmi differs from native");
    println!(
        "plugin/{short}: component {} bytes (.epm {} bytes); linear memory after one inference: wasmtime {} pages, wasmi {} pages",
        component.len(),
        epm.len(),
        wasmtime.memory_bytes() / 65536,
        wasmi.memory_bytes() / 65536
    );
    group.bench_function("wasmtime", |b| {
        b.iter(|| {
            wasmtime
                .infer(std::hint::black_box(&inputs))
                .expect("infer")
        })
    });
    group.bench_function("wasmi", |b| {
        b.iter(|| wasmi.infer(std::hint::black_box(&inputs)).expect("infer"))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("plugin/{short}"));
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| {
            engine
                .compile(&name, std::hint::black_box(&component))
                .expect("compile")
        })
    });
    let pooled = WasmtimeEngine::new(&EngineConfig {
        pool_instances: Some(16),
        ..config
    })
    .expect("pooling engine");
    let compiled = pooled.compile(&name, &component).expect("compile");
    group.sample_size(100);
    group.bench_function("instantiate", |b| {
        b.iter(|| compiled.instantiate().expect("instantiate"))
    });
    // Cold start: what a host pays for a plugin it has not seen (compile, instantiate,
    // `info`, first inference).
    group.sample_size(10);
    group.bench_function("cold_start", |b| {
        b.iter(|| {
            let mut i = engine
                .compile(&name, &component)
                .expect("compile")
                .instantiate()
                .expect("instantiate");
            i.infer(&inputs).expect("infer")
        })
    });
    // Cold start from a warm compile cache: verify, deserialize, instantiate, first infer.
    let key = throwaway_key();
    let trust = trust_only(&key).expect("trust");
    let signed = signed_plugin(w, short, 1, &key).expect("signed plugin");
    let scratch = ScratchDir::new("criterion-cache").expect("scratch dir");
    let cache = CompileCache::open(scratch.path().join("cache")).expect("compile cache");
    let first = engine
        .compile_cached(&name, &signed, Some(&cache))
        .expect("compile");
    assert_eq!(first.cache_outcome(), &CacheOutcome::Miss);
    let hit = engine
        .compile_cached(&name, &signed, Some(&cache))
        .expect("deserialize");
    assert_eq!(
        hit.cache_outcome(),
        &CacheOutcome::Hit,
        "{short}: warm cache"
    );
    group.bench_function("cold_start_cached", |b| {
        b.iter(|| {
            verify_plugin(&signed, &trust, &Policy::default()).expect("verify");
            let mut i = engine
                .compile_cached(&name, &signed, Some(&cache))
                .expect("deserialize")
                .instantiate()
                .expect("instantiate");
            i.infer(&inputs).expect("infer")
        })
    });
    group.finish();
}

/// `call/<engine>`: the per-call cost of `infer` on a 32-MAC model.
fn call(c: &mut Criterion) {
    let model = tiny_fc_model();
    let mut interp = Interpreter::new(&model).expect("prepare");
    let mut expected = [0u8; 4];
    let input = TINY_FC_INPUT.as_slice();
    let epm = edgeplug_model::format::encode(&model).expect("encode");
    let component = pack(&epm, None).expect("pack");
    let config = EngineConfig::default();
    let engine = WasmtimeEngine::new(&config).expect("wasmtime");
    let mut wasmtime = engine
        .compile("tiny_fc.wasm", &component)
        .expect("compile")
        .instantiate()
        .expect("instantiate");
    let mut wasmi = WasmiInstance::load("tiny_fc.wasm", &component, &config).expect("wasmi");
    let spec = wasmtime.info().inputs[0].clone();
    let inputs = [TensorRef {
        shape: &spec.shape,
        dtype: spec.dtype,
        data: input,
    }];
    interp
        .invoke(&[input], &mut [&mut expected])
        .expect("invoke");
    let out = wasmtime.infer(&inputs).expect("wasmtime infer");
    assert_eq!(
        out[0].data, expected,
        "tiny_fc: wasmtime differs from native"
    );
    let out = wasmi.infer(&inputs).expect("wasmi infer");
    assert_eq!(out[0].data, expected, "tiny_fc: wasmi differs from native");
    let mut group = c.benchmark_group("call");
    group.bench_function("native", |b| {
        b.iter(|| {
            interp
                .invoke(&[std::hint::black_box(input)], &mut [&mut expected])
                .expect("invoke")
        })
    });
    group.bench_function("wasmtime", |b| {
        b.iter(|| {
            wasmtime
                .infer(std::hint::black_box(&inputs))
                .expect("infer")
        })
    });
    group.bench_function("wasmi", |b| {
        b.iter(|| wasmi.infer(std::hint::black_box(&inputs)).expect("infer"))
    });
    group.finish();
}

fn models(c: &mut Criterion) {
    // EDGEPLUG_BENCH_RUNNER: another build of plugins/runner (e.g. with simd128) instead of
    // the shared artifact.
    let runner = runner_from_env("EDGEPLUG_BENCH_RUNNER").expect("EDGEPLUG_BENCH_RUNNER");
    let shared = shared_models();
    for w in workloads(shared.as_deref()).expect("models") {
        bench_model(c, &w, runner.as_deref());
    }
}

criterion_group!(benches, call, models);
criterion_main!(benches);
