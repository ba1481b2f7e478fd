//! The wasmtime engine: component model, bindings generated from `wit/`.

use super::{
    EngineConfig, EngineKind, ErrorCode, ModelInfo, PluginError, PluginErrorKind, Tensor,
    TensorRef, TensorSpec, check_component_header, check_info, check_inputs, check_outputs,
};
use crate::cache::{CacheOutcome, CompileCache, Lookup};
use std::hash::{Hash as _, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, EngineWeak, ResourceLimiter, Store};

#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    rust_2018_idioms,
    unused_qualifications
)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
    });
}

use bindings::edgeplug::ml::host as wit_host;
use bindings::exports::edgeplug::ml::inference as wit;

/// Period of the process-wide epoch ticker that enforces [`EngineConfig::deadline`]: a
/// deadline is rounded up to whole ticks, plus one.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Most elements a plugin's tables may grow to.
const MAX_TABLE_ELEMENTS: usize = 10_000;
/// Most core instances, tables and memories one store (one plugin instance) may create. A
/// plugin component holds up to three core modules (the plugin, and wit-component's shim
/// and fixup) with one memory and a few tables.
const MAX_STORE_INSTANCES: usize = 32;
const MAX_STORE_TABLES: usize = 32;
const MAX_STORE_MEMORIES: usize = 2;
/// Epoch deadline of a store whose instance has no deadline on an engine that has epoch
/// interruption (far enough never to be reached, small enough not to overflow).
const NO_DEADLINE_TICKS: u64 = u64::MAX / 4;

/// What a store holds: the plugin's name (for log lines), the clock origin, the memory
/// limit with the largest memory size granted so far, and the last refused growth.
struct HostState {
    plugin: String,
    start: Instant,
    max_memory_bytes: usize,
    memory_bytes: usize,
    /// The size a refused `memory.grow` (or initial allocation) asked for, since the
    /// current call started.
    refused_memory: Option<usize>,
}

impl wit_host::Host for HostState {
    fn log(&mut self, level: wit_host::Level, message: String) {
        let level = match level {
            wit_host::Level::Error => "error",
            wit_host::Level::Warn => "warn",
            wit_host::Level::Info => "info",
            // Debug and trace lines are dropped: a plugin must not be able to flood stderr
            // at the default verbosity.
            wit_host::Level::Debug | wit_host::Level::Trace => return,
        };
        eprintln!(
            "[plugin {}] {level}: {}",
            self.plugin,
            message.escape_debug()
        );
    }

    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.refused_memory = Some(desired);
            return Ok(false);
        }
        self.memory_bytes = self.memory_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_STORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_STORE_TABLES
    }

    fn memories(&self) -> usize {
        MAX_STORE_MEMORIES
    }
}

/// The instance allocator an engine ended up with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocator {
    /// The on-demand allocator (no pool was asked for).
    OnDemand,
    /// The pooling allocator, with room for this many concurrent instances.
    Pooling {
        /// Concurrent instances the pool holds.
        instances: u32,
    },
    /// A pool was asked for but could not be set up; the engine uses the on-demand
    /// allocator instead (a warning was logged).
    PoolingFailed {
        /// Concurrent instances asked for.
        instances: u32,
        /// wasmtime's error.
        reason: String,
    },
}

/// The parts of an [`EngineConfig`] that select an engine: the rest applies per instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct EngineKey {
    fuel: bool,
    epoch: bool,
    /// Pool size and the pool's memory slot size.
    pool: Option<(u32, usize)>,
}

impl EngineKey {
    fn of(config: &EngineConfig) -> Self {
        EngineKey {
            fuel: config.fuel.is_some(),
            epoch: config.deadline.is_some(),
            pool: config.pool_instances.map(|n| (n, config.max_memory_bytes)),
        }
    }
}

/// One wasmtime engine and its linker, shared by every [`WasmtimeEngine`] handle of the
/// same [`EngineKey`].
struct SharedEngine {
    key: EngineKey,
    engine: Engine,
    linker: Linker<HostState>,
    allocator: Allocator,
    cache_key: [u8; 32],
}

/// Locks a mutex, ignoring poisoning (the guarded data stays consistent: every critical
/// section here is a single push or retain).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shared engines, one per key, alive for the rest of the process.
static ENGINES: Mutex<Vec<Arc<SharedEngine>>> = Mutex::new(Vec::new());

/// The epoch ticker: engines with epoch interruption, and whether the thread runs.
struct Ticker {
    engines: Vec<EngineWeak>,
    running: bool,
}

static TICKER: Mutex<Ticker> = Mutex::new(Ticker {
    engines: Vec::new(),
    running: false,
});

/// Adds `engine` to the ticker, starting its thread if needed.
fn tick_engine(engine: &Engine) -> Result<(), String> {
    let mut ticker = lock(&TICKER);
    ticker.engines.push(engine.weak());
    if !ticker.running {
        std::thread::Builder::new()
            .name("edgeplug-epoch".into())
            .spawn(tick_loop)
            .map_err(|e| format!("cannot start the epoch ticker thread: {e}"))?;
        ticker.running = true;
    }
    Ok(())
}

/// Increments every live registered engine's epoch each [`EPOCH_TICK`]; ends when no
/// engine is left.
fn tick_loop() {
    loop {
        std::thread::sleep(EPOCH_TICK);
        let mut ticker = lock(&TICKER);
        ticker.engines.retain(|weak| match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        });
        if ticker.engines.is_empty() {
            ticker.running = false;
            return;
        }
    }
}

/// Feeds everything a `Hash` implementation writes into a byte string (a stable hasher).
struct ByteHasher(Vec<u8>);

impl Hasher for ByteHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl SharedEngine {
    fn new(key: EngineKey) -> Result<Self, PluginErrorKind> {
        let build = |pool: Option<(u32, usize)>| {
            let mut wt = wasmtime::Config::new();
            wt.wasm_component_model(true)
                .wasm_backtrace_max_frames(None)
                .cranelift_opt_level(wasmtime::OptLevel::Speed)
                .consume_fuel(key.fuel)
                .epoch_interruption(key.epoch);
            if let Some((n, max_memory_bytes)) = pool {
                let mut pool = wasmtime::PoolingAllocationConfig::default();
                pool.total_component_instances(n)
                    .total_core_instances(n.saturating_mul(4))
                    .total_memories(n)
                    .total_tables(n.saturating_mul(4))
                    .max_memories_per_component(1)
                    .max_core_instances_per_component(4)
                    .table_elements(MAX_TABLE_ELEMENTS)
                    .max_memory_size(max_memory_bytes);
                wt.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            }
            Engine::new(&wt)
        };
        let (engine, allocator) = match key.pool {
            None => (build(None).map_err(engine_error)?, Allocator::OnDemand),
            Some((instances, _)) => match build(key.pool) {
                Ok(engine) => (engine, Allocator::Pooling { instances }),
                Err(e) => {
                    let reason = one_line(&e);
                    tracing::warn!(
                        instances,
                        %reason,
                        "cannot set up the wasmtime pooling allocator; falling back to the on-demand allocator"
                    );
                    (
                        build(None).map_err(engine_error)?,
                        Allocator::PoolingFailed { instances, reason },
                    )
                }
            },
        };
        let mut linker = Linker::new(&engine);
        bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(engine_error)?;
        if key.epoch {
            tick_engine(&engine).map_err(|message| PluginErrorKind::Engine {
                engine: EngineKind::Wasmtime,
                message,
            })?;
        }
        let mut hasher = ByteHasher(b"edgeplug compile cache\0".to_vec());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let cache_key = crate::cache::sha256(&hasher.0);
        Ok(SharedEngine {
            key,
            engine,
            linker,
            allocator,
            cache_key,
        })
    }
}

fn engine_error(e: wasmtime::Error) -> PluginErrorKind {
    PluginErrorKind::Engine {
        engine: EngineKind::Wasmtime,
        message: one_line(&e),
    }
}

/// A handle on a wasmtime engine configured for plugins, with a linker that provides the
/// `host` imports, and the per-instance limits of its [`EngineConfig`]. Cheap to clone;
/// `Send + Sync`.
#[derive(Clone)]
pub struct WasmtimeEngine {
    shared: Arc<SharedEngine>,
    config: EngineConfig,
}

impl WasmtimeEngine {
    /// The engine for `config`: Cranelift at speed optimization, component model, no Wasm
    /// backtraces (errors stay one line), fuel metering if `config.fuel` is set, epoch
    /// interruption (driven by the process-wide ticker) if `config.deadline` is set, the
    /// pooling allocator if `config.pool_instances` is set (falling back to on-demand,
    /// with a warning, if the pool cannot be reserved: see [`allocator`](Self::allocator)).
    ///
    /// Engines are shared: every call with a configuration that selects the same engine
    /// (same fuel on/off, deadline on/off, pool; see [`EngineConfig`]) returns a handle on
    /// the same `wasmtime::Engine`, created on first use and kept for the life of the
    /// process. The handle carries `config`'s own limits for the plugins it compiles.
    ///
    /// Errors: [`PluginErrorKind::Engine`] if wasmtime rejects the configuration.
    pub fn new(config: &EngineConfig) -> Result<Self, PluginErrorKind> {
        let key = EngineKey::of(config);
        let mut engines = lock(&ENGINES);
        let shared = match engines.iter().find(|e| e.key == key) {
            Some(shared) => shared.clone(),
            None => {
                let shared = Arc::new(SharedEngine::new(key)?);
                engines.push(shared.clone());
                shared
            }
        };
        Ok(WasmtimeEngine {
            shared,
            config: *config,
        })
    }

    /// The underlying wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The configuration this handle was made with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The instance allocator the engine uses.
    pub fn allocator(&self) -> &Allocator {
        &self.shared.allocator
    }

    /// The key of this engine's entries in a [`CompileCache`]: SHA-256 of wasmtime's
    /// `precompile_compatibility_hash` (wasmtime version, target, compiler flags, and the
    /// settings that shape compiled code). Engines whose artifacts are interchangeable have
    /// the same key.
    pub fn cache_key(&self) -> [u8; 32] {
        self.shared.cache_key
    }

    /// Compiles a plugin component (called `name` in errors) and links it, without a
    /// cache: [`compile_cached`](Self::compile_cached) with `None`.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<CompiledPlugin, PluginError> {
        self.compile_cached(name, bytes, None)
    }

    /// Compiles a plugin component (called `name` in errors) and links it: checks it is a
    /// component, compiles it (or, with a `cache`, loads the verified precompiled entry
    /// for this component and this engine's [`cache_key`](Self::cache_key), and stores one
    /// after compiling), resolves its imports against the `host` interface once
    /// (`InstancePre`) and checks it exports `edgeplug:ml/inference` with the right types.
    /// [`CompiledPlugin::cache_outcome`] says what the cache did. A cache that cannot be
    /// written only logs a warning.
    ///
    /// The cache trusts its directory (see [`crate::cache`]): verify a plugin's signature
    /// before compiling it; the cache then only ever holds what this host compiled itself.
    ///
    /// Errors: [`PluginErrorKind::NotWasm`], [`PluginErrorKind::NotAComponent`],
    /// [`PluginErrorKind::Compile`], [`PluginErrorKind::WrongWorld`].
    pub fn compile_cached(
        &self,
        name: &str,
        bytes: &[u8],
        cache: Option<&CompileCache>,
    ) -> Result<CompiledPlugin, PluginError> {
        let err = |kind| PluginError::new(name, kind);
        check_component_header(bytes).map_err(err)?;
        let compile = || {
            Component::new(&self.shared.engine, bytes)
                .map_err(|e| err(PluginErrorKind::Compile(one_line(&e))))
        };
        let (component, outcome) = match cache {
            None => (compile()?, CacheOutcome::Uncached),
            Some(cache) => {
                let digest = crate::cache::sha256(bytes);
                let key = self.shared.cache_key;
                let rebuilt = match cache.load(&self.shared.engine, &key, &digest) {
                    Lookup::Hit(component) => Some((component, CacheOutcome::Hit)),
                    Lookup::Missing => None,
                    Lookup::Invalid(reason) => {
                        let component = compile()?;
                        store_entry(cache, &key, &digest, &component);
                        Some((component, CacheOutcome::Rebuilt { reason }))
                    }
                };
                match rebuilt {
                    Some(found) => found,
                    None => {
                        let component = compile()?;
                        store_entry(cache, &key, &digest, &component);
                        (component, CacheOutcome::Miss)
                    }
                }
            }
        };
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| err(PluginErrorKind::WrongWorld(one_line(&e))))?;
        let pre = bindings::PluginPre::new(pre)
            .map_err(|e| err(PluginErrorKind::WrongWorld(one_line(&e))))?;
        Ok(CompiledPlugin {
            name: name.into(),
            shared: self.shared.clone(),
            pre,
            config: self.config,
            cache_outcome: outcome,
        })
    }
}

/// Serializes `component` into `cache`; a failure is logged, not returned.
fn store_entry(cache: &CompileCache, key: &[u8; 32], digest: &[u8; 32], component: &Component) {
    let result = component
        .serialize()
        .map_err(|e| one_line(&e))
        .and_then(|bytes| cache.store(key, digest, &bytes).map_err(|e| e.to_string()));
    if let Err(error) = result {
        tracing::warn!(dir = %cache.dir().display(), %error, "cannot write the compile cache entry");
    }
}

/// A compiled and linked plugin, ready to be instantiated any number of times, cheaply
/// (an `InstancePre`: imports resolved once). Cheap to clone (shares the code);
/// `Send + Sync`.
#[derive(Clone)]
pub struct CompiledPlugin {
    name: Arc<str>,
    shared: Arc<SharedEngine>,
    pre: bindings::PluginPre<HostState>,
    config: EngineConfig,
    cache_outcome: CacheOutcome,
}

impl CompiledPlugin {
    /// The name errors use for this plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limits new instances get (the engine handle's [`EngineConfig`], or those set
    /// with [`with_limits`](Self::with_limits)).
    pub fn limits(&self) -> &EngineConfig {
        &self.config
    }

    /// What the compile cache did when this plugin was compiled.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.cache_outcome
    }

    /// The instance allocator of the engine this plugin was compiled for (its instances
    /// come from it).
    pub fn allocator(&self) -> &Allocator {
        &self.shared.allocator
    }

    /// The same compiled code with other per-instance limits (`config.fuel`,
    /// `config.deadline`, `config.max_memory_bytes`, `config.max_output_bytes`), for
    /// example a manifest's fuel budget. `config` must select the same engine (fuel and
    /// deadline set or not alike, same pool; with a pool the memory cap cannot exceed the
    /// pool's slots).
    ///
    /// Errors: [`PluginErrorKind::Engine`] if `config` needs another engine.
    pub fn with_limits(&self, config: &EngineConfig) -> Result<CompiledPlugin, PluginError> {
        let key = EngineKey::of(config);
        let same_pool = match (key.pool, self.shared.key.pool) {
            (Some((n, mem)), Some((pn, pmem))) => n == pn && mem <= pmem,
            (a, b) => a == b,
        };
        if key.fuel != self.shared.key.fuel || key.epoch != self.shared.key.epoch || !same_pool {
            return Err(PluginError::new(
                &*self.name,
                PluginErrorKind::Engine {
                    engine: EngineKind::Wasmtime,
                    message: format!(
                        "these limits need another engine (fuel metering {}, deadline {}, pool {:?}) than the one this plugin was compiled for (fuel metering {}, deadline {}, pool {:?}): compile it on WasmtimeEngine::new(limits)",
                        key.fuel,
                        key.epoch,
                        key.pool.map(|p| p.0),
                        self.shared.key.fuel,
                        self.shared.key.epoch,
                        self.shared.key.pool.map(|p| p.0),
                    ),
                },
            ));
        }
        let mut plugin = self.clone();
        plugin.config = *config;
        Ok(plugin)
    }

    /// Creates a fresh store and instance (memory capped at `max_memory_bytes`, tables and
    /// instances bounded), then reads and checks the plugin's `model-info` under the
    /// per-call limits (fuel, deadline, output size).
    ///
    /// Errors: [`PluginErrorKind::Instantiate`] (for example a full pool),
    /// [`PluginErrorKind::MemoryLimit`], [`PluginErrorKind::Trap`],
    /// [`PluginErrorKind::OutOfFuel`], [`PluginErrorKind::DeadlineExceeded`],
    /// [`PluginErrorKind::OutputTooLarge`], [`PluginErrorKind::Abi`],
    /// [`PluginErrorKind::BadInfo`].
    pub fn instantiate(&self) -> Result<WasmtimeInstance, PluginError> {
        let err = |kind| PluginError::new(&*self.name, kind);
        let mut store = Store::new(
            &self.shared.engine,
            HostState {
                plugin: self.name.to_string(),
                start: Instant::now(),
                max_memory_bytes: self.config.max_memory_bytes,
                memory_bytes: 0,
                refused_memory: None,
            },
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        let limits = Limits {
            config: self.config,
            fuel_metered: self.shared.key.fuel,
            epoch: self.shared.key.epoch,
        };
        limits.arm(&mut store).map_err(err)?;
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| err(limits.classify(&store, &e, PluginErrorKind::Instantiate)))?;
        limits.arm(&mut store).map_err(err)?;
        let info = bindings
            .edgeplug_ml_inference()
            .call_info(&mut store)
            .map_err(|e| err(limits.classify(&store, &e, PluginErrorKind::Abi)))?;
        let info = model_info(info);
        check_info(&info).map_err(err)?;
        Ok(WasmtimeInstance {
            name: self.name.to_string(),
            store,
            bindings,
            info,
            limits,
            last_fuel_used: None,
            poisoned: false,
        })
    }
}

/// The per-call limits of an instance and what its engine supports.
#[derive(Clone, Copy)]
struct Limits {
    config: EngineConfig,
    fuel_metered: bool,
    epoch: bool,
}

impl Limits {
    /// Sets the store up for one call: fuel, epoch deadline, output budget, and forgets
    /// an earlier refused growth.
    fn arm(&self, store: &mut Store<HostState>) -> Result<(), PluginErrorKind> {
        if self.fuel_metered {
            store
                .set_fuel(self.config.fuel.unwrap_or(u64::MAX))
                .map_err(engine_error)?;
        }
        if self.epoch {
            let ticks = self.config.deadline.map_or(NO_DEADLINE_TICKS, |d| {
                let ticks = d.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) + 1;
                u64::try_from(ticks)
                    .unwrap_or(NO_DEADLINE_TICKS)
                    .min(NO_DEADLINE_TICKS)
            });
            store.epoch_deadline_trap();
            store.set_epoch_deadline(ticks);
        }
        store.set_hostcall_fuel(self.config.max_output_bytes);
        store.data_mut().refused_memory = None;
        Ok(())
    }

    /// Names what stopped a failed call: fuel, the deadline, the memory cap (a trap
    /// after a refused growth, or an instantiation that needs more), the output bound, any
    /// other trap; any other error is `other`.
    fn classify(
        &self,
        store: &Store<HostState>,
        e: &wasmtime::Error,
        other: fn(String) -> PluginErrorKind,
    ) -> PluginErrorKind {
        let refused = store.data().refused_memory;
        let memory_limit = |requested| PluginErrorKind::MemoryLimit {
            limit: self.config.max_memory_bytes,
            requested,
        };
        if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
            return match (*trap, refused) {
                (wasmtime::Trap::OutOfFuel, _) => PluginErrorKind::OutOfFuel,
                (wasmtime::Trap::Interrupt, _) => PluginErrorKind::DeadlineExceeded {
                    deadline: self.config.deadline.unwrap_or_default(),
                },
                (_, Some(requested)) => memory_limit(requested),
                (trap, None) => PluginErrorKind::Trap(trap.to_string()),
            };
        }
        let text = one_line(e);
        // wasmtime's error when lifting would copy more than the store's hostcall fuel
        // (set to `max_output_bytes`); its type is private, so it is recognized by its
        // text (the `limits` tests catch a change).
        if text.contains("fuel allocated for hostcalls has been exhausted") {
            return PluginErrorKind::OutputTooLarge {
                limit: self.config.max_output_bytes,
            };
        }
        match refused {
            Some(requested) => memory_limit(requested),
            None => other(text),
        }
    }
}

/// One plugin instance on wasmtime, with its own store. `Send`: it can move between
/// threads (one call at a time).
pub struct WasmtimeInstance {
    name: String,
    store: Store<HostState>,
    bindings: bindings::Plugin,
    info: ModelInfo,
    limits: Limits,
    last_fuel_used: Option<u64>,
    poisoned: bool,
}

impl WasmtimeInstance {
    /// The name errors use for this plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's `model-info`.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Fuel the last `infer` call used, if the instance has a fuel budget
    /// ([`EngineConfig::fuel`]).
    pub fn last_fuel_used(&self) -> Option<u64> {
        self.last_fuel_used
    }

    /// Bytes of linear memory the plugin has (the largest size granted so far).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory_bytes
    }

    /// Whether an earlier failure made this instance unusable (every call then fails
    /// with [`PluginErrorKind::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs one inference under the per-call limits: checks `inputs` against
    /// `info().inputs`, calls `infer`, checks the outputs against `info().outputs`. A
    /// trap, a limit hit, an ABI violation or a bad output poisons the instance.
    pub fn infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginError> {
        let result = self.call_infer(inputs);
        result.map_err(|kind| {
            if kind.poisons() {
                self.poisoned = true;
            }
            PluginError::new(self.name.as_str(), kind)
        })
    }

    fn call_infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginErrorKind> {
        if self.poisoned {
            return Err(PluginErrorKind::Poisoned);
        }
        check_inputs(&self.info.inputs, inputs)?;
        self.limits.arm(&mut self.store)?;
        let args: Vec<wit::Tensor> = inputs
            .iter()
            .map(|t| wit::Tensor {
                shape: t.shape.to_vec(),
                dtype: wit_dtype(t.dtype),
                data: t.data.to_vec(),
            })
            .collect();
        let result = self
            .bindings
            .edgeplug_ml_inference()
            .call_infer(&mut self.store, &args);
        if let (true, Some(fuel)) = (self.limits.fuel_metered, self.limits.config.fuel) {
            self.last_fuel_used = self
                .store
                .get_fuel()
                .ok()
                .map(|left| fuel.saturating_sub(left));
        }
        let outputs = result
            .map_err(|e| self.limits.classify(&self.store, &e, PluginErrorKind::Abi))?
            .map_err(|e| PluginErrorKind::Plugin {
                code: match e.code {
                    wit::ErrorCode::InvalidInput => ErrorCode::InvalidInput,
                    wit::ErrorCode::Unsupported => ErrorCode::Unsupported,
                    wit::ErrorCode::Model => ErrorCode::Model,
                    wit::ErrorCode::Internal => ErrorCode::Internal,
                },
                message: e.message,
            })?;
        let outputs: Vec<Tensor> = outputs
            .into_iter()
            .map(|t| Tensor {
                shape: t.shape,
                dtype: dtype(t.dtype),
                data: t.data,
            })
            .collect();
        check_outputs(&self.info.outputs, &outputs)?;
        Ok(outputs)
    }
}

/// The error and its causes on one line.
fn one_line(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn dtype(t: wit::ElementType) -> super::ElementType {
    match t {
        wit::ElementType::Int8 => super::ElementType::Int8,
        wit::ElementType::Uint8 => super::ElementType::Uint8,
        wit::ElementType::Int32 => super::ElementType::Int32,
        wit::ElementType::Float32 => super::ElementType::Float32,
        wit::ElementType::Int16 => super::ElementType::Int16,
    }
}

fn wit_dtype(t: super::ElementType) -> wit::ElementType {
    match t {
        super::ElementType::Int8 => wit::ElementType::Int8,
        super::ElementType::Uint8 => wit::ElementType::Uint8,
        super::ElementType::Int32 => wit::ElementType::Int32,
        super::ElementType::Float32 => wit::ElementType::Float32,
        super::ElementType::Int16 => wit::ElementType::Int16,
    }
}

fn spec(s: wit::TensorSpec) -> TensorSpec {
    TensorSpec {
        name: s.name,
        dtype: dtype(s.dtype),
        shape: s.shape,
        quantization: s.quantization.map(|q| super::Quantization {
            scale: q.scale,
            zero_point: q.zero_point,
        }),
    }
}

fn model_info(i: wit::ModelInfo) -> ModelInfo {
    ModelInfo {
        name: i.name,
        version: i.version,
        inputs: i.inputs.into_iter().map(spec).collect(),
        outputs: i.outputs.into_iter().map(spec).collect(),
        labels: i.labels,
        arena_bytes: i.arena_bytes,
        memory_bytes: i.memory_bytes,
    }
}
