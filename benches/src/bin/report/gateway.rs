//! The gateway figures (issue 6) and the cost of one `infer` call (issue 8): cold start of
//! signed plugins with and without a compile-cache hit, instantiation through `InstancePre`
//! with the pooling allocator, hot-swap latency through `edgeplug::serve::Registry`, KWS
//! requests per second over HTTP loopback against the daemon (`edgeplug::serve::Server`, the
//! code `edgeplug serve` runs) with the server's CPU time, and `Registry::infer` on one
//! thread.

use anyhow::{Context, Result, anyhow, bail};
use edgeplug::cache::{CacheOutcome, CompileCache};
use edgeplug::engine::{
    EngineConfig, EngineKind, PluginInstance, TensorRef, WasmiInstance, WasmtimeEngine,
};
use edgeplug::serve::metrics::Metrics;
use edgeplug::serve::{GatewayConfig, Registry, Server};
use edgeplug::store::Store;
use edgeplug::trust::{Policy, fuel_budget, verify_plugin};
use edgeplug_benches::{
    ScratchDir, TINY_FC_INPUT, TINY_FC_MACS, Timing, Workload, pack, signed_plugin,
    threads_cpu_time, throwaway_key, time_calls, tiny_fc_model, trust_only,
};
use edgeplug_model::Interpreter;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The daemon's default per-call deadline (`limits.deadline_ms`).
const DEADLINE: Duration = Duration::from_millis(1000);
/// Slots of the pooling allocator in the cold-start measurements.
const POOL_SLOTS: u32 = 16;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Effort {
    /// Samples of each cold start that compiles (cache miss).
    pub(crate) compile_samples: usize,
    /// Samples of each cheap step (verify, deserialize, instantiate, first infer).
    pub(crate) cheap_samples: usize,
    /// Swaps measured per cache state.
    pub(crate) swaps: usize,
    /// Length of each throughput run.
    pub(crate) run: Duration,
}

impl Effort {
    pub(crate) fn new(quick: bool) -> Effort {
        if quick {
            Effort {
                compile_samples: 2,
                cheap_samples: 5,
                swaps: 2,
                run: Duration::from_secs(1),
            }
        } else {
            Effort {
                compile_samples: 5,
                cheap_samples: 30,
                swaps: 5,
                run: Duration::from_secs(5),
            }
        }
    }
}

/// Median and min of `times` (non-empty).
fn timing(mut times: Vec<Duration>) -> Timing {
    times.sort_unstable();
    Timing {
        median: times[times.len() / 2],
        min: times[0],
        samples: times.len(),
    }
}

/// Times `n` calls of `f` (no warm-up); `setup` runs untimed before each, and dropping
/// what `f` returned is not timed either.
fn sample<T>(
    n: usize,
    mut setup: impl FnMut(),
    mut f: impl FnMut() -> Result<T>,
) -> Result<Timing> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        setup();
        let t = Instant::now();
        let value = std::hint::black_box(f()?);
        times.push(t.elapsed());
        drop(value); // not timed: dropping an instance or unloading code
    }
    Ok(timing(times))
}

fn ms(d: Duration) -> String {
    crate::fmt_time(d.as_secs_f64())
}

/// One model's cold-start figures.
pub(crate) struct ColdRow {
    short: &'static str,
    plugin_bytes: usize,
    verify: Timing,
    compile: Timing,
    deserialize: Timing,
    instantiate_pool: Timing,
    instantiate_on_demand: Timing,
    first_infer: Timing,
    cold_miss: Timing,
    cold_hit: Timing,
}

/// Cold start of `w` packaged as a signed plugin, on the daemon's engine settings (the
/// manifest's fuel budget, a 1 s deadline).
pub(crate) fn cold_start(w: &Workload, effort: Effort) -> Result<ColdRow> {
    let key = throwaway_key();
    let trust = trust_only(&key)?;
    let signed = signed_plugin(w, w.short, 1, &key)?;
    let manifest = verify_plugin(&signed, &trust, &Policy::default())?.manifest;
    let daemon = EngineConfig {
        fuel: fuel_budget(&manifest, EngineKind::Wasmtime),
        deadline: Some(DEADLINE),
        ..EngineConfig::default()
    };
    let on_demand = WasmtimeEngine::new(&daemon).map_err(|e| anyhow!("{e}"))?;
    let pooled = WasmtimeEngine::new(&EngineConfig {
        pool_instances: Some(POOL_SLOTS),
        ..daemon
    })
    .map_err(|e| anyhow!("{e}"))?;
    if !matches!(
        pooled.allocator(),
        edgeplug::engine::Allocator::Pooling { .. }
    ) {
        bail!(
            "the pooling allocator could not be reserved: {:?}",
            pooled.allocator()
        );
    }
    let name = format!("{}.wasm", w.short);
    let scratch = ScratchDir::new("cold-start")?;
    let cache = CompileCache::open(scratch.path().join("cache"))?;
    let clear = || {
        for e in std::fs::read_dir(cache.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_file(e.path());
        }
    };
    let n = effort.cheap_samples;
    let verify = sample(
        n,
        || {},
        || Ok(verify_plugin(&signed, &trust, &Policy::default())?),
    )?;
    let compile = sample(
        effort.compile_samples,
        || {},
        || Ok(pooled.compile(&name, &signed)?),
    )?;
    let cold_miss = sample(effort.compile_samples, clear, || {
        verify_plugin(&signed, &trust, &Policy::default())?;
        let c = pooled.compile_cached(&name, &signed, Some(&cache))?;
        if c.cache_outcome() != &CacheOutcome::Miss {
            bail!("expected a cache miss, got {:?}", c.cache_outcome());
        }
        Ok(c.instantiate()?)
    })?;
    // The cache now holds the entry (the last miss stored it).
    let deserialize = sample(
        n,
        || {},
        || {
            let c = pooled.compile_cached(&name, &signed, Some(&cache))?;
            if c.cache_outcome() != &CacheOutcome::Hit {
                bail!("expected a cache hit, got {:?}", c.cache_outcome());
            }
            Ok(c)
        },
    )?;
    let cold_hit = sample(
        n,
        || {},
        || {
            verify_plugin(&signed, &trust, &Policy::default())?;
            Ok(pooled
                .compile_cached(&name, &signed, Some(&cache))?
                .instantiate()?)
        },
    )?;
    let compiled = pooled.compile_cached(&name, &signed, Some(&cache))?;
    let instantiate_pool = sample(n.max(20), || {}, || Ok(compiled.instantiate()?))?;
    let compiled_od = on_demand.compile_cached(&name, &signed, Some(&cache))?;
    let instantiate_on_demand = sample(n.max(20), || {}, || Ok(compiled_od.instantiate()?))?;
    let mut times = Vec::new();
    for _ in 0..n {
        let mut i = PluginInstance::Wasmtime(compiled.instantiate()?);
        let t = Instant::now();
        i.infer_raw(&[&w.input])?;
        times.push(t.elapsed());
    }
    Ok(ColdRow {
        short: w.short,
        plugin_bytes: signed.len(),
        verify,
        compile,
        deserialize,
        instantiate_pool,
        instantiate_on_demand,
        first_infer: timing(times),
        cold_miss,
        cold_hit,
    })
}

/// Swap latencies for one cache state.
pub(crate) struct SwapRow {
    state: &'static str,
    /// `Registry::install` of the new version, call to return.
    install: Timing,
    /// `Registry::install` called → first request answered by the new version.
    first_answer: Timing,
}

/// Hot-swap figures.
pub(crate) struct Swap {
    rows: Vec<SwapRow>,
    /// Whether `GatewayConfig` has `cache_dir` (the daemon compiles through the cache).
    cache_supported: bool,
}

/// The gateway configuration of a swap measurement: `cache_dir` set to `dir` (states
/// `warm`, `cold`), `cache = false` (state `off`), or the default (`no cache`: a build whose
/// `GatewayConfig` has no compile-cache keys). `None` if this build's `GatewayConfig` does not
/// have the key.
fn swap_config(state: &str, dir: &Path) -> Option<GatewayConfig> {
    let text = match state {
        "warm" | "cold" => format!("cache_dir = {:?}", dir.display().to_string()),
        "off" => "cache = false".to_string(),
        _ => return Some(GatewayConfig::default()),
    };
    GatewayConfig::from_toml(&text).ok()
}

/// Time from `Registry::install` of KWS sequence 2 (over sequence 1) to the first request
/// answered by it, with a client thread sending requests back to back the whole time.
pub(crate) fn swap(kws: &Workload, effort: Effort) -> Result<Swap> {
    let key = throwaway_key();
    let old = signed_plugin(kws, "kws", 1, &key)?;
    let new = signed_plugin(kws, "kws", 2, &key)?;
    let new_digest = edgeplug::store::digest_hex(&new);
    let probe = ScratchDir::new("cache-probe")?;
    let cache_supported = swap_config("cold", &probe.path().join("cache")).is_some();
    let mut rows = Vec::new();
    let mut states: Vec<&'static str> = if cache_supported {
        vec!["warm", "cold"]
    } else {
        vec!["no cache"]
    };
    if cache_supported && swap_config("off", probe.path()).is_some() {
        states.push("off");
    }
    for state in states {
        let mut install = Vec::new();
        let mut first = Vec::new();
        for _ in 0..effort.swaps {
            let scratch = ScratchDir::new("swap")?;
            let cache_dir = scratch.path().join("cache");
            let config = swap_config(state, &cache_dir).context("gateway config")?;
            if state == "warm" {
                // Another daemon sharing the cache installed this version before (e.g. a
                // restart, or the version was staged elsewhere): the entry is there.
                let other = Registry::open(
                    Arc::new(Store::open(&scratch.path().join("warm-store"))?),
                    trust_only(&key)?,
                    config.clone(),
                    Arc::new(Metrics::default()),
                )?;
                other
                    .install(Some("kws"), &new)
                    .map_err(|e| anyhow!("{e}"))?;
            }
            let registry = Registry::open(
                Arc::new(Store::open(&scratch.path().join("store"))?),
                trust_only(&key)?,
                config,
                Arc::new(Metrics::default()),
            )?;
            registry
                .install(Some("kws"), &old)
                .map_err(|e| anyhow!("{e}"))?;
            let slot = registry.get("kws").context("kws not served")?;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let client = {
                let (registry, slot, body, digest) = (
                    registry.clone(),
                    slot.clone(),
                    kws.input.clone(),
                    new_digest.clone(),
                );
                std::thread::spawn(move || -> Result<Instant> {
                    tx.send(()).ok();
                    loop {
                        let answer = registry.infer(&slot, &body);
                        answer.result.map_err(|e| anyhow!("{e}"))?;
                        if answer.version.stored.digest == digest {
                            return Ok(Instant::now());
                        }
                    }
                })
            };
            rx.recv().ok();
            std::thread::sleep(Duration::from_millis(20));
            let t0 = Instant::now();
            registry
                .install(Some("kws"), &new)
                .map_err(|e| anyhow!("{e}"))?;
            install.push(t0.elapsed());
            let answered = client
                .join()
                .map_err(|_| anyhow!("client thread panicked"))??;
            first.push(answered.duration_since(t0));
        }
        rows.push(SwapRow {
            state,
            install: timing(install),
            first_answer: timing(first),
        });
    }
    Ok(Swap {
        rows,
        cache_supported,
    })
}

/// One throughput run.
pub(crate) struct Throughput {
    label: String,
    requests: u64,
    wall: Duration,
    /// CPU time of the serving threads (`None`: not measurable).
    server_cpu: Option<Duration>,
    /// CPU time of the client threads.
    client_cpu: Option<Duration>,
}

/// KWS throughput over HTTP loopback and through `Registry::infer` directly.
pub(crate) struct Serving {
    runs: Vec<Throughput>,
    workers: usize,
}

/// On-CPU time of the calling thread (`/proc/thread-self/schedstat`).
fn own_cpu() -> Option<Duration> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
}

/// Sends `POST path` with `body` on a keep-alive connection and reads the answer; returns
/// the status code.
fn post(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    path: &str,
    body: &[u8],
) -> Result<u16> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("bad status line `{}`", line.trim()))?;
    let mut len = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse()?;
        }
    }
    let mut answer = vec![0u8; len];
    reader.read_exact(&mut answer)?;
    Ok(status)
}

fn http_run(addr: SocketAddr, clients: usize, body: &[u8], run: Duration) -> Result<Throughput> {
    let server_before = threads_cpu_time("edgeplug-serve");
    let start = Instant::now();
    let deadline = start + run;
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let body = body.to_vec();
            std::thread::Builder::new()
                .name(format!("gw-client-{i}"))
                .spawn(move || -> Result<(u64, Option<Duration>)> {
                    let cpu0 = own_cpu();
                    let mut stream = TcpStream::connect(addr)?;
                    stream.set_nodelay(true)?;
                    let mut reader = BufReader::new(stream.try_clone()?);
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let status = post(&mut stream, &mut reader, "/v1/models/kws/infer", &body)?;
                        if status != 200 {
                            bail!("HTTP {status}");
                        }
                        n += 1;
                    }
                    let cpu = own_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
                    Ok((n, cpu))
                })
                .map_err(anyhow::Error::from)
        })
        .collect::<Result<_>>()?;
    let mut requests = 0;
    let mut client_cpu = Some(Duration::ZERO);
    for h in handles {
        let (n, cpu) = h.join().map_err(|_| anyhow!("client panicked"))??;
        requests += n;
        client_cpu = client_cpu.zip(cpu).map(|(a, b)| a + b);
    }
    let wall = start.elapsed();
    let server_cpu = threads_cpu_time("edgeplug-serve")
        .zip(server_before)
        .map(|(b, a)| b.saturating_sub(a));
    Ok(Throughput {
        label: format!(
            "HTTP, {clients} client connection{}",
            if clients == 1 { "" } else { "s" }
        ),
        requests,
        wall,
        server_cpu,
        client_cpu,
    })
}

/// KWS over HTTP loopback against `edgeplug::serve::Server` (1 and 2 client connections,
/// each sending requests back to back), and `Registry::infer` on this thread.
pub(crate) fn serving(kws: &Workload, effort: Effort) -> Result<Serving> {
    let key = throwaway_key();
    let plugin = signed_plugin(kws, "kws", 1, &key)?;
    let scratch = ScratchDir::new("serve")?;
    let store = Arc::new(Store::open(&scratch.path().join("store"))?);
    let config = GatewayConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..GatewayConfig::default()
    };
    let server = Server::start(config, trust_only(&key)?, store)?;
    server
        .registry()
        .install(Some("kws"), &plugin)
        .map_err(|e| anyhow!("{e}"))?;
    let addr = server.addr();
    // Warm up: connections, the instance pool, the blocking threads.
    http_run(addr, 2, &kws.input, Duration::from_millis(300))?;
    let mut runs = vec![
        http_run(addr, 1, &kws.input, effort.run)?,
        http_run(addr, 2, &kws.input, effort.run)?,
    ];
    let registry = server.registry().clone();
    let slot = registry.get("kws").context("kws not served")?;
    let cpu0 = own_cpu();
    let start = Instant::now();
    let mut requests = 0u64;
    while start.elapsed() < effort.run {
        registry
            .infer(&slot, &kws.input)
            .result
            .map_err(|e| anyhow!("{e}"))?;
        requests += 1;
    }
    let wall = start.elapsed();
    runs.push(Throughput {
        label: "`Registry::infer`, one thread (no HTTP)".into(),
        requests,
        wall,
        server_cpu: own_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
        client_cpu: None,
    });
    server.shutdown()?;
    // The same plugin called directly, on the daemon's engine settings and without fuel or
    // deadline: separates the engine settings' cost from the registry's and HTTP's.
    let manifest = verify_plugin(&plugin, &trust_only(&key)?, &Policy::default())?.manifest;
    let daemon = EngineConfig {
        fuel: fuel_budget(&manifest, EngineKind::Wasmtime),
        deadline: Some(DEADLINE),
        ..EngineConfig::default()
    };
    for (label, config) in [
        (
            "wasmtime `infer` on one instance, daemon engine settings (fuel metering, epoch deadline)",
            daemon,
        ),
        (
            "wasmtime `infer` on one instance, no fuel, no deadline",
            EngineConfig::default(),
        ),
    ] {
        let engine = WasmtimeEngine::new(&config).map_err(|e| anyhow!("{e}"))?;
        let mut instance =
            PluginInstance::Wasmtime(engine.compile("kws.wasm", &plugin)?.instantiate()?);
        instance.infer_raw(&[&kws.input])?;
        let cpu0 = own_cpu();
        let start = Instant::now();
        let mut requests = 0u64;
        while start.elapsed() < effort.run {
            instance.infer_raw(&[&kws.input])?;
            requests += 1;
        }
        let wall = start.elapsed();
        runs.push(Throughput {
            label: label.into(),
            requests,
            wall,
            server_cpu: own_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
            client_cpu: None,
        });
    }
    Ok(Serving {
        runs,
        workers: std::thread::available_parallelism().map_or(0, usize::from),
    })
}

/// The cost of one `infer` call on the 32-MAC model: (native, wasmtime, wasmi).
pub(crate) struct CallCost {
    native: Timing,
    wasmtime: Timing,
    wasmi: Timing,
}

pub(crate) fn call_cost(quick: bool) -> Result<CallCost> {
    let model = tiny_fc_model();
    let mut interp = Interpreter::new(&model)?;
    let mut expected = [0u8; 4];
    let input = TINY_FC_INPUT.as_slice();
    interp.invoke(&[input], &mut [&mut expected])?;
    let epm = edgeplug_model::format::encode(&model)?;
    let component = pack(&epm, None)?;
    let config = EngineConfig::default();
    let engine = WasmtimeEngine::new(&config).map_err(|e| anyhow!("{e}"))?;
    let mut wt = engine.compile("tiny_fc.wasm", &component)?.instantiate()?;
    let mut wi = WasmiInstance::load("tiny_fc.wasm", &component, &config)?;
    let spec = wt.info().inputs[0].clone();
    let inputs = [TensorRef {
        shape: &spec.shape,
        dtype: spec.dtype,
        data: input,
    }];
    if wt.infer(&inputs)?[0].data != expected || wi.infer(&inputs)?[0].data != expected {
        bail!("tiny_fc: an engine's output differs from native");
    }
    let (min, max, time) = if quick {
        (200, 20_000, Duration::from_millis(200))
    } else {
        (2000, 200_000, Duration::from_secs(2))
    };
    let native = time_calls(
        || {
            interp
                .invoke(&[std::hint::black_box(input)], &mut [&mut expected])
                .expect("invoke");
        },
        min,
        max,
        time,
    );
    let wasmtime = time_calls(
        || {
            wt.infer(std::hint::black_box(&inputs)).expect("infer");
        },
        min,
        max,
        time,
    );
    let wasmi = time_calls(
        || {
            wi.infer(std::hint::black_box(&inputs)).expect("infer");
        },
        min,
        max,
        time,
    );
    Ok(CallCost {
        native,
        wasmtime,
        wasmi,
    })
}

fn us(t: &Timing) -> String {
    format!("{:.1} µs", t.median.as_secs_f64() * 1e6)
}

/// The "Cost of one `infer` call" subsection.
pub(crate) fn render_call(s: &mut String, c: &CallCost) -> std::fmt::Result {
    writeln!(s, "### Cost of one `infer` call\n")?;
    writeln!(
        s,
        "A trivial model (`edgeplug_benches::tiny_fc_model`: one 8x4 int8 fully-connected \
         layer, {TINY_FC_MACS} MACs, 8-byte input, 4-byte output) packed into the shared \
         runner, so the time is the fixed cost of a call, not kernels: on wasmtime the \
         canonical-ABI lowering and lifting (input copied in, output list copied out), the \
         host's argument and result marshalling and the guest's per-call set-up; on wasmi \
         the same done by `edgeplug-mcu` by hand, interpreted. Median of repeated calls \
         (criterion: `call/{{native,wasmtime,wasmi}}`).\n"
    )?;
    writeln!(s, "| engine | median | fastest | calls timed |")?;
    writeln!(s, "|---|---:|---:|---:|")?;
    for (name, t) in [
        ("native executor", &c.native),
        ("wasmtime", &c.wasmtime),
        ("wasmi", &c.wasmi),
    ] {
        writeln!(
            s,
            "| {name} | {} | {:.1} µs | {} |",
            us(t),
            t.min.as_secs_f64() * 1e6,
            t.samples
        )?;
    }
    writeln!(s)
}

/// The "Gateway (issue 6)" section.
pub(crate) fn render_gateway(
    s: &mut String,
    cold: &[Result<ColdRow>],
    swap: &Result<Swap>,
    serving: &Result<Serving>,
) -> std::fmt::Result {
    writeln!(s, "## Gateway (issue 6)\n")?;
    writeln!(s, "### Cold start of a signed plugin\n")?;
    writeln!(
        s,
        "Each model packaged as a signed plugin (`edgeplug::package::package_plugin`, shared \
         runner, manifest with self-test; a throwaway Ed25519 key), loaded on the daemon's \
         engine settings (fuel metering with the manifest's budget, epoch deadline 1 s) with \
         the pooling allocator ({POOL_SLOTS} slots). Steps: **verify** = signature, manifest \
         and interface (`trust::verify_plugin`); **compile** = Cranelift, no cache; \
         **deserialize** = `WasmtimeEngine::compile_cached` on a warm `CompileCache` (entry \
         read, SHA-256 checked, `Component::deserialize`, linked into an `InstancePre`); \
         **instantiate** = a fresh store and instance from the `InstancePre`, including the \
         `model-info` call a host makes on every new instance. **Cold start, cache miss** = \
         verify + compile + store the cache entry + instantiate, end to end; **cache hit** = \
         verify + deserialize + instantiate, end to end. First infer = the first `infer` on a \
         fresh instance (its memory not yet touched). Medians. The first instantiation of a \
         freshly compiled or deserialized component also builds its copy-on-write memory \
         image (the data segments, i.e. the model's weights), which later instantiations reuse: \
         that is why a cold start with a cache hit costs more than verify + deserialize + \
         instantiate measured separately.\n"
    )?;
    writeln!(
        s,
        "| model | plugin bytes | verify | compile | deserialize (hit) | instantiate (pooling) | instantiate (on-demand) | **cold start, miss** | **cold start, hit** | miss / hit | first infer |"
    )?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    let mut failed = Vec::new();
    for r in cold {
        match r {
            Ok(r) => writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}x | {} |",
                r.short,
                r.plugin_bytes,
                ms(r.verify.median),
                ms(r.compile.median),
                ms(r.deserialize.median),
                ms(r.instantiate_pool.median),
                ms(r.instantiate_on_demand.median),
                ms(r.cold_miss.median),
                ms(r.cold_hit.median),
                r.cold_miss.median.as_secs_f64() / r.cold_hit.median.as_secs_f64(),
                ms(r.first_infer.median),
            )?,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    for f in failed {
        writeln!(s, "\nNot measured: {f}")?;
    }
    if let Some(Ok(r)) = cold.first() {
        writeln!(
            s,
            "\nSamples: compile and cache miss {} each, the other steps {} each (instantiate: {}).",
            r.compile.samples, r.verify.samples, r.instantiate_pool.samples
        )?;
    }

    writeln!(s, "\n### Hot swap\n")?;
    match swap {
        Ok(sw) => {
            writeln!(
                s,
                "`edgeplug::serve::Registry` over a fresh temporary store{}, serving KWS \
                 sequence 1; one client thread calls `Registry::infer` back to back. Then \
                 `Registry::install` of KWS sequence 2 (a different signed file: verify, stage \
                 in the store, compile or load from the compile cache, self-test, promote, \
                 swap). **Swap latency** = from the \
                 `install` call to the first request answered by sequence 2 (the answer's \
                 digest); the `install` column is the call alone. The client keeps one core \
                 busy meanwhile (2-core machine). Median of {} swaps per row.{}\n",
                if sw.cache_supported {
                    " with `cache_dir` set in `GatewayConfig`"
                } else {
                    ""
                },
                sw.rows.first().map_or(0, |r| r.install.samples),
                if sw.cache_supported {
                    " **Warm**: the compile cache already holds sequence 2 (another registry \
                     over the same cache directory installed it first, as after a restart or a \
                     staged rollout); **cold**: it does not (compiled during the install, and the entry \
                     written); **off**: `cache = false` (no compile cache at all)."
                } else {
                    " `GatewayConfig` has no `cache_dir` key in this build, so the daemon \
                     does not compile through the compile cache and every install compiles: \
                     warm and cold are the same path and only one row is measured."
                }
            )?;
            writeln!(
                s,
                "| compile cache | `install` call | **swap latency** (install → first answer by the new version) | fastest swap |"
            )?;
            writeln!(s, "|---|---:|---:|---:|")?;
            for r in &sw.rows {
                writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    r.state,
                    ms(r.install.median),
                    ms(r.first_answer.median),
                    ms(r.first_answer.min)
                )?;
            }
        }
        Err(e) => writeln!(s, "Not measured: {e:#}")?,
    }

    writeln!(s, "\n### KWS requests per second\n")?;
    match serving {
        Ok(sv) => {
            writeln!(
                s,
                "The daemon in-process (`edgeplug::serve::Server::start`, what `edgeplug serve` \
                 runs: axum on a multi-threaded tokio runtime with {} workers, inference on \
                 tokio's blocking pool, default limits: 1 s deadline, manifest fuel, instance \
                 pool 4) on 127.0.0.1; clients are plain HTTP/1.1 keep-alive connections in \
                 their own threads, each sending `POST /v1/models/kws/infer` with the 490-byte \
                 int8 feature tensor (`in_0.bin`) back to back for {:.0} s. The machine has {} \
                 cores shared by server and clients, so requests/s (wall) is bounded by both. \
                 **Per core** is derived as requests per **server CPU-second**: the on-CPU time \
                 of every thread of the server (all runtime and blocking-pool threads are named \
                 `edgeplug-serve`; `/proc/self/task/*/schedstat`) summed over the run, so it is \
                 what one fully busy core would sustain, without the clients' CPU. The last three \
                 rows run on one thread without HTTP or tokio, their CPU time from the \
                 thread's own schedstat: `Registry::infer` (what a request runs: the \
                 active version, an instance from its pool, the body decoded, probation \
                 bookkeeping), then the plugin's `infer` called directly on one instance with \
                 the daemon's engine settings and with neither fuel nor deadline, which \
                 separates the cost of fuel metering from that of the registry and of HTTP.\n",
                sv.workers,
                sv.runs.first().map_or(0.0, |r| r.wall.as_secs_f64()),
                sv.workers
            )?;
            writeln!(
                s,
                "| path | requests | wall | requests/s (wall) | server CPU | **requests per server CPU-second** | client CPU | server CPU per request |"
            )?;
            writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
            for r in &sv.runs {
                let wall = r.wall.as_secs_f64();
                let cpu = r.server_cpu.map(|d| d.as_secs_f64());
                writeln!(
                    s,
                    "| {} | {} | {:.2} s | {:.0} | {} | {} | {} | {} |",
                    r.label,
                    r.requests,
                    wall,
                    r.requests as f64 / wall,
                    cpu.map_or("n/a".into(), |c| format!("{c:.2} s")),
                    cpu.map_or("n/a".into(), |c| format!("{:.0}", r.requests as f64 / c)),
                    r.client_cpu
                        .map_or("n/a".into(), |c| format!("{:.2} s", c.as_secs_f64())),
                    cpu.map_or("n/a".into(), |c| crate::fmt_time(c / r.requests as f64)),
                )?;
            }
        }
        Err(e) => writeln!(s, "Not measured: {e:#}")?,
    }
    writeln!(s)
}
