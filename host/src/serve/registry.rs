//! The models the daemon serves and the hot swap.
//!
//! Each model has a [`ModelSlot`] whose active [`Version`] sits in an [`ArcSwap`]: a request
//! loads the current `Arc<Version>` once and runs on it to the end, so a swap never
//! disturbs a request in flight (the old version lives until its last request finishes) and
//! every request that starts after the swap runs on the new one. Nothing is dropped.
//!
//! Installing (`PUT`, the pull channel) goes: signature, layer, manifest
//! ([`verify_plugin`]) → the URL's name must be the manifest's → the store checks the bad
//! mark and the anti-rollback floor and, inside [`Store::stage_checked`], the one compile
//! (through the [`CompileCache`]) and instantiation, `model-info` and the self-test
//! ([`check_plugin`]) run; only then does the store write the staged version → the store
//! promotes it → swap. A failure at any step leaves the active version serving. After a
//! promotion the new version is on **probation** (see [`Probation`]): a failed inference is
//! retried once on the previous version (the client sees the previous version's answer),
//! and too many failures roll back automatically (the store too).

use super::config::{GatewayConfig, Probation};
use super::metrics::{Metrics, ModelMetrics};
use crate::cache::{CacheOutcome, CompileCache};
use crate::engine::{
    EngineConfig, EngineKind, ModelInfo, PluginError, PluginErrorKind, PluginInstance, Tensor,
    TensorRef, WasmtimeEngine,
};
use crate::store::{InstallOptions, Installed, Store, StoreError};
use crate::trust::{Policy, TrustError, TrustStore, check_plugin, fuel_budget, verify_plugin};
use arc_swap::ArcSwap;
use edgeplug_signing::Manifest;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One installed, compiled, self-tested version of a model.
pub struct Version {
    /// Name, version, sequence and digest (SHA-256 of the plugin file), as the store
    /// knows it.
    pub stored: Installed,
    /// The verified manifest.
    pub manifest: Manifest,
    /// The plugin's `model-info` (equal to the manifest's, checked).
    pub info: ModelInfo,
    compiled: crate::engine::CompiledPlugin,
    pool: Mutex<Vec<PluginInstance>>,
    pool_cap: usize,
    probation: Mutex<Option<ProbationState>>,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

/// Probation state of a freshly promoted version.
struct ProbationState {
    /// The version it replaced: failed requests are retried there; rollback goes there.
    previous: Arc<Version>,
    started: Instant,
    requests: u64,
    errors: u64,
    /// Set once the error threshold was crossed (the rollback is under way or done);
    /// `previous` stays, for requests still running on this version.
    failed: bool,
}

/// What one probation observation concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not on probation, or still in the window.
    Continue,
    /// This failure crossed the threshold: roll back (reported once).
    RollBack,
}

impl Version {
    /// `name-version (sequence N, digest D)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} (sequence {}, digest {})",
            self.stored.name,
            self.stored.version,
            self.stored.sequence,
            self.digest_hex()
        )
    }

    /// The digest (SHA-256 of the plugin file) in lower-case hex.
    pub fn digest_hex(&self) -> &str {
        &self.stored.digest
    }

    /// The instance allocator of the engine this version was compiled for.
    pub fn allocator(&self) -> &crate::engine::Allocator {
        self.compiled.allocator()
    }

    /// What the compile cache did when this version was loaded.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        self.compiled.cache_outcome()
    }

    /// Whether the version is still on probation.
    pub fn on_probation(&self) -> bool {
        lock(&self.probation).as_ref().is_some_and(|p| !p.failed)
    }

    /// Runs one inference on an idle instance (or a new one). A healthy instance goes back
    /// to the pool; a poisoned one is dropped.
    pub fn infer(&self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginError> {
        let pooled = lock(&self.pool).pop();
        let mut instance = match pooled {
            Some(i) => i,
            None => PluginInstance::Wasmtime(self.compiled.instantiate()?),
        };
        let result = instance.infer(inputs);
        let healthy = match &result {
            Ok(_) => true,
            Err(e) => !is_fault(&e.kind),
        };
        if healthy {
            let mut pool = lock(&self.pool);
            if pool.len() < self.pool_cap {
                pool.push(instance);
            }
        }
        result
    }

    /// Decodes a request body for this version's input ([`super::http::decode_input`]) and
    /// runs [`infer`](Self::infer) on it; a body that does not fit is
    /// [`PluginErrorKind::InvalidInput`].
    pub fn infer_body(&self, body: &[u8]) -> Result<Vec<Tensor>, PluginError> {
        let (shape, data) = super::http::decode_input(&self.info, body).map_err(|m| {
            PluginError::new(self.compiled.name(), PluginErrorKind::InvalidInput(m))
        })?;
        let dtype = self.info.inputs[0].dtype;
        self.infer(&[TensorRef {
            shape: &shape,
            dtype,
            data: &data,
        }])
    }

    /// Records one inference's outcome against the probation window.
    fn observe(&self, ok: bool, window: &Probation) -> Verdict {
        let mut guard = lock(&self.probation);
        let Some(p) = guard.as_mut() else {
            return Verdict::Continue;
        };
        if p.failed {
            return Verdict::Continue;
        }
        p.requests += 1;
        if !ok {
            p.errors += 1;
            if p.errors > window.max_errors {
                p.failed = true;
                return Verdict::RollBack;
            }
        }
        if p.requests >= window.requests
            || p.started.elapsed() >= Duration::from_secs(window.seconds)
        {
            // Passed: the previous version is no longer needed.
            *guard = None;
        }
        Verdict::Continue
    }

    /// The version to retry on, if this one is (or was, and failed) on probation.
    fn fallback(&self) -> Option<Arc<Version>> {
        lock(&self.probation).as_ref().map(|p| p.previous.clone())
    }

    /// Ends probation if its time is up (called when listing, so that a version that gets
    /// no traffic leaves probation too).
    fn expire_probation(&self, window: &Probation) {
        let mut guard = lock(&self.probation);
        if guard.as_ref().is_some_and(|p| {
            !p.failed && p.started.elapsed() >= Duration::from_secs(window.seconds)
        }) {
            *guard = None;
        }
    }
}

/// Whether a plugin error is the plugin's fault (a trap, a limit hit, bad outputs, a broken
/// ABI, an instance that cannot be created) rather than the caller's (bad input).
pub fn is_fault(kind: &PluginErrorKind) -> bool {
    !matches!(
        kind,
        PluginErrorKind::InvalidInput(_)
            | PluginErrorKind::Plugin {
                code: crate::engine::ErrorCode::InvalidInput,
                ..
            }
    )
}

/// A short name of an error kind, for metrics and logs.
pub fn error_kind(kind: &PluginErrorKind) -> &'static str {
    match kind {
        PluginErrorKind::InvalidInput(_) => "invalid_input",
        PluginErrorKind::Trap(_) => "trap",
        PluginErrorKind::OutOfFuel => "fuel",
        PluginErrorKind::DeadlineExceeded { .. } => "deadline",
        PluginErrorKind::MemoryLimit { .. } => "memory",
        PluginErrorKind::OutputTooLarge { .. } => "output_too_large",
        PluginErrorKind::Abi(_) => "abi",
        PluginErrorKind::BadOutput(_) => "bad_output",
        PluginErrorKind::Plugin { .. } => "plugin_error",
        PluginErrorKind::Poisoned => "poisoned",
        PluginErrorKind::Instantiate(_) => "instantiate",
        _ => "other",
    }
}

/// `hit`, `miss`, `rebuilt` or `off`, for log lines.
fn cache_label(outcome: &CacheOutcome) -> &'static str {
    match outcome {
        CacheOutcome::Hit => "hit",
        CacheOutcome::Miss => "miss",
        CacheOutcome::Rebuilt { .. } => "rebuilt",
        CacheOutcome::Uncached => "off",
    }
}

/// One model: its active version and what the swap needs.
pub struct ModelSlot {
    /// The model's name.
    pub name: String,
    active: ArcSwap<Version>,
    /// Serializes installs and rollbacks of this model (never held by inference).
    admin: Mutex<()>,
    /// The version the last promotion replaced (for a manual rollback without reloading).
    previous: Mutex<Option<Arc<Version>>>,
    metrics: Arc<ModelMetrics>,
}

impl ModelSlot {
    /// The active version (a request holds it to the end).
    pub fn active(&self) -> Arc<Version> {
        self.active.load_full()
    }
}

/// Why an install or rollback failed; `check` names the failed step for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError {
    /// The failed check: `signature`, `layer`, `manifest`, `name`, `downgrade`, `load`,
    /// `self-test`, `store`, `not-found`.
    pub check: &'static str,
    /// What was wrong, on one line.
    pub message: String,
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} check failed: {}", self.check, self.message)
    }
}

impl std::error::Error for InstallError {}

impl From<StoreError> for InstallError {
    fn from(e: StoreError) -> Self {
        InstallError::from_store(e)
    }
}

impl InstallError {
    fn new(check: &'static str, message: impl Into<String>) -> Self {
        InstallError {
            check,
            message: message.into(),
        }
    }

    fn from_trust(e: &TrustError) -> Self {
        let check = match e {
            TrustError::NoTrustAnchor | TrustError::Verify(_) => "signature",
            TrustError::NotAComponent => "layer",
            TrustError::NoManifest
            | TrustError::Manifest(_)
            | TrustError::Interface { .. }
            | TrustError::InfoMismatch { .. } => "manifest",
            TrustError::Rollback(_) => "downgrade",
            TrustError::SelfTestFailed { .. } => "self-test",
            _ => "load",
        };
        InstallError::new(check, e.to_string())
    }

    fn from_store(e: StoreError) -> Self {
        let check = match &e {
            StoreError::Refused { source, .. } => return InstallError::from_trust(source),
            StoreError::Downgrade { .. } => "downgrade",
            StoreError::MarkedBad { .. } => "marked-bad",
            StoreError::InvalidName { .. } => "name",
            StoreError::UnknownModel { .. }
            | StoreError::UnknownVersion { .. }
            | StoreError::NoPrevious { .. } => "not-found",
            _ => "store",
        };
        InstallError::new(check, e.to_string())
    }
}

/// The result of an inference request.
pub struct Answer {
    /// The version that answered.
    pub version: Arc<Version>,
    /// Its outputs, or the error of the last attempt.
    pub result: Result<Vec<Tensor>, PluginError>,
    /// Whether the request was retried on the previous version.
    pub retried: bool,
}

/// All models, the store, the trust anchors and the limits.
pub struct Registry {
    models: RwLock<BTreeMap<String, Arc<ModelSlot>>>,
    store: Arc<Store>,
    trust: TrustStore,
    config: GatewayConfig,
    metrics: Arc<Metrics>,
    cache: Option<CompileCache>,
}

impl Registry {
    /// A registry over `store`, loading every model the store has an active version of
    /// (verified and self-tested again: the store's bytes are not trusted blindly). A model
    /// whose active version no longer loads is logged and left out.
    ///
    /// Plugins are compiled through the compile cache of `config`
    /// ([`GatewayConfig::open_compile_cache`], relative to the store's directory), so a
    /// restart only deserializes what was compiled before; a cache that cannot be opened
    /// is logged and the registry compiles without one. The default cache (in the store)
    /// is pruned first to the versions the store holds and has not marked bad
    /// ([`CompileCache::retain`]).
    pub fn open(
        store: Arc<Store>,
        trust: TrustStore,
        config: GatewayConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, StoreError> {
        let cache = match config.open_compile_cache(store.path()) {
            Ok(Some(cache)) => {
                tracing::info!(dir = %cache.dir().display(), "compile cache");
                if config.cache_dir.is_none() {
                    // The store's own cache: drop entries of versions the store no longer
                    // holds or has marked bad (a directory given in the config may be
                    // shared with other stores, so it is left alone).
                    let keep: std::collections::BTreeSet<String> = store
                        .list()?
                        .into_iter()
                        .flat_map(|m| m.versions)
                        .filter(|v| !v.bad)
                        .map(|v| v.digest)
                        .collect();
                    let removed = cache.retain(|digest| keep.contains(digest));
                    if removed > 0 {
                        tracing::info!(
                            removed,
                            "removed compile cache entries of versions the store no longer serves"
                        );
                    }
                }
                Some(cache)
            }
            Ok(None) => {
                tracing::info!("compile cache off: every load compiles");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "compile cache unusable: every load compiles");
                None
            }
        };
        let registry = Arc::new(Registry {
            models: RwLock::new(BTreeMap::new()),
            store,
            trust,
            config,
            metrics,
            cache,
        });
        let names: Vec<String> = registry
            .store
            .list()?
            .into_iter()
            .filter(|m| m.active.is_some())
            .map(|m| m.name)
            .collect();
        for name in names {
            match registry.store.active(&name) {
                Ok(Some((stored, bytes))) => match registry.load_version(&bytes) {
                    Ok(version) if version.stored.digest == stored.digest => {
                        tracing::info!(model = %name, version = %version.describe(), "serving");
                        registry.insert(Arc::new(version));
                    }
                    Ok(_) => {
                        tracing::error!(model = %name, "store's active version has another digest than its index says; not serving it")
                    }
                    Err(e) => {
                        tracing::error!(model = %name, error = %e, "active version does not load; not serving it")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::error!(model = %name, error = %e, "cannot read the store"),
            }
        }
        Ok(registry)
    }

    /// The daemon's configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The compile cache plugins are compiled through, if any.
    pub fn compile_cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The model called `name`, if it is served.
    pub fn get(&self, name: &str) -> Option<Arc<ModelSlot>> {
        self.models
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Every served model, by name.
    pub fn list(&self) -> Vec<Arc<ModelSlot>> {
        let slots: Vec<_> = self
            .models
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for s in &slots {
            s.active().expire_probation(&self.config.probation);
        }
        slots
    }

    fn insert(&self, version: Arc<Version>) -> Arc<ModelSlot> {
        let name = version.stored.name.clone();
        let mut models = self.models.write().unwrap_or_else(|p| p.into_inner());
        models
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(ModelSlot {
                    metrics: self.metrics.model(&name),
                    name,
                    active: ArcSwap::new(version),
                    admin: Mutex::new(()),
                    previous: Mutex::new(None),
                })
            })
            .clone()
    }

    /// The engine configuration of a plugin with `manifest`: the daemon's limits, the
    /// manifest's wasmtime fuel budget (else the configured default).
    fn engine_config(&self, manifest: &Manifest) -> EngineConfig {
        let limits = &self.config.limits;
        EngineConfig {
            max_memory_bytes: limits.max_memory_bytes,
            fuel: fuel_budget(manifest, EngineKind::Wasmtime).or(limits.fuel),
            deadline: (limits.deadline_ms > 0).then(|| limits.deadline()),
            max_output_bytes: limits.max_output_bytes,
            pool_instances: (limits.pool_instances > 0).then_some(limits.pool_instances),
        }
    }

    /// Verifies, compiles, instantiates and self-tests `bytes` (nothing is stored).
    fn load_version(&self, bytes: &[u8]) -> Result<Version, InstallError> {
        let verified = verify_plugin(bytes, &self.trust, &Policy::default())
            .map_err(|e| InstallError::from_trust(&e))?;
        let manifest = verified.manifest;
        let stored = Installed {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            sequence: manifest.sequence,
            digest: crate::store::digest_hex(bytes),
        };
        self.compile_version(stored, manifest, bytes)
    }

    /// Compiles `bytes` (through the compile cache), instantiates it and runs the
    /// `model-info` check and the self-test: the one load path of the daemon.
    fn compile_version(
        &self,
        stored: Installed,
        manifest: Manifest,
        bytes: &[u8],
    ) -> Result<Version, InstallError> {
        let label = format!("{}@{}", stored.name, stored.version);
        let engine = WasmtimeEngine::new(&self.engine_config(&manifest))
            .map_err(|e| InstallError::new("load", PluginError::new(&label, e).to_string()))?;
        let started = Instant::now();
        let compiled = engine
            .compile_cached(&label, bytes, self.cache.as_ref())
            .map_err(|e| InstallError::new("load", e.to_string()))?;
        let compile_ms = started.elapsed().as_millis() as u64;
        match compiled.cache_outcome() {
            CacheOutcome::Rebuilt { reason } => tracing::warn!(
                model = %stored.name,
                version = %stored.version,
                cache = "rebuilt",
                %reason,
                compile_ms,
                "compiled (invalid cache entry replaced)"
            ),
            outcome => tracing::info!(
                model = %stored.name,
                version = %stored.version,
                cache = cache_label(outcome),
                compile_ms,
                "compiled"
            ),
        }
        let mut instance = PluginInstance::Wasmtime(
            compiled
                .instantiate()
                .map_err(|e| InstallError::new("load", e.to_string()))?,
        );
        check_plugin(&manifest, &mut instance).map_err(|e| match e {
            TrustError::Plugin(p) => InstallError::new("self-test", p.to_string()),
            other => InstallError::from_trust(&other),
        })?;
        let info = instance.info().clone();
        Ok(Version {
            stored,
            manifest,
            info,
            compiled,
            pool: Mutex::new(vec![instance]),
            pool_cap: self.config.limits.instance_pool.max(1),
            probation: Mutex::new(None),
        })
    }

    /// Installs `bytes` as the new active version of its model (blocking: compiles). With
    /// `expected_name`, the manifest's name must be it. Returns the promoted version.
    pub fn install(
        &self,
        expected_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Arc<Version>, InstallError> {
        let result = self.install_inner(expected_name, bytes);
        if let Err(e) = &result {
            let model = expected_name.unwrap_or("?");
            self.metrics.model(model).refused(e.check);
            tracing::warn!(model, check = e.check, error = %e.message, "install refused");
        }
        result
    }

    fn install_inner(
        &self,
        expected_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Arc<Version>, InstallError> {
        let started = Instant::now();
        let verified = verify_plugin(bytes, &self.trust, &Policy::default())
            .map_err(|e| InstallError::from_trust(&e))?;
        let manifest = verified.manifest;
        if let Some(name) = expected_name
            && name != manifest.name
        {
            return Err(InstallError::new(
                "name",
                format!(
                    "the plugin is `{}`, not `{name}` (PUT it to /v1/models/{})",
                    manifest.name, manifest.name
                ),
            ));
        }
        let existing = self.get(&manifest.name);
        let admin_slot = existing.clone();
        let _admin = admin_slot.as_ref().map(|s| lock(&s.admin));
        if let Some(slot) = &existing {
            let active = slot.active();
            if active.stored.digest == crate::store::digest_hex(bytes) {
                // Already serving exactly this plugin (a re-upload, a watched file seen
                // again after a restart): nothing to do.
                return Ok(active);
            }
        }
        // The store checks signature, name, bad mark and floor, then this one compile
        // (through the cache) and self-test, then writes the staged version.
        let options = InstallOptions::default();
        let (_, version) =
            self.store
                .stage_checked(bytes, &self.trust, &options, |staged, manifest| {
                    self.compile_version(staged.clone(), manifest.clone(), bytes)
                })?;
        let version = Arc::new(version);
        self.store
            .promote(&version.stored.name, &version.stored.digest)
            .map_err(InstallError::from_store)?;
        let install_ms = started.elapsed().as_millis() as u64;
        match existing {
            Some(slot) => {
                let old = slot.active.load_full();
                if self.config.probation.requests > 0 && self.config.probation.seconds > 0 {
                    *lock(&version.probation) = Some(ProbationState {
                        previous: old.clone(),
                        started: Instant::now(),
                        requests: 0,
                        errors: 0,
                        failed: false,
                    });
                }
                slot.active.store(version.clone());
                // The replaced version only serves requests already running on it and
                // probation retries: its idle instances go (with a pooling allocator they
                // hold slots of the shared pool); it makes fresh ones if it needs any.
                lock(&old.pool).clear();
                *lock(&slot.previous) = Some(old.clone());
                slot.metrics.swap();
                tracing::info!(
                    model = %slot.name,
                    from = %old.describe(),
                    to = %version.describe(),
                    install_ms,
                    "promoted (on probation)"
                );
            }
            None => {
                let slot = self.insert(version.clone());
                if !Arc::ptr_eq(&slot.active(), &version) {
                    // Another install of this new model won the race to create it.
                    slot.active.store(version.clone());
                }
                slot.metrics.swap();
                tracing::info!(model = %slot.name, version = %version.describe(), install_ms, "installed");
            }
        }
        Ok(version)
    }

    /// Rolls `name` back to its previous version, in the store and in memory (blocking).
    /// `reason` is `manual` or `probation`. With `only_if`, does nothing unless that version
    /// is still the active one (a probation rollback of a version already replaced).
    pub fn rollback(
        &self,
        name: &str,
        reason: &'static str,
        only_if: Option<&Arc<Version>>,
    ) -> Result<Arc<Version>, InstallError> {
        let slot = self
            .get(name)
            .ok_or_else(|| InstallError::new("not-found", format!("no model `{name}`")))?;
        let _admin = lock(&slot.admin);
        let current = slot.active.load_full();
        if let Some(v) = only_if
            && !Arc::ptr_eq(v, &current)
        {
            return Ok(current);
        }
        let stored = self
            .store
            .rollback(name)
            .map_err(InstallError::from_store)?;
        let in_memory = current
            .fallback()
            .into_iter()
            .chain(lock(&slot.previous).clone())
            .find(|v| v.stored.digest == stored.digest);
        let target = match in_memory {
            Some(v) => v,
            None => {
                let (_, bytes) = self
                    .store
                    .active(name)
                    .map_err(InstallError::from_store)?
                    .ok_or_else(|| {
                        InstallError::new("store", "no active version after the rollback")
                    })?;
                Arc::new(self.load_version(&bytes)?)
            }
        };
        *lock(&target.probation) = None;
        slot.active.store(target.clone());
        *lock(&slot.previous) = None;
        slot.metrics.rollback(reason);
        tracing::warn!(
            model = name,
            reason,
            from = %current.describe(),
            to = %target.describe(),
            "rolled back"
        );
        Ok(target)
    }

    /// Runs one inference of a request body on `slot`'s active version (blocking). During probation a
    /// failure is retried once on the previous version, and crossing the error threshold
    /// starts an automatic rollback (on another thread).
    pub fn infer(self: &Arc<Self>, slot: &Arc<ModelSlot>, body: &[u8]) -> Answer {
        let version = slot.active();
        let result = version.infer_body(body);
        let fault = match &result {
            Ok(_) => false,
            Err(e) => is_fault(&e.kind),
        };
        if let Err(e) = &result
            && fault
        {
            slot.metrics.error(error_kind(&e.kind));
            tracing::warn!(model = %slot.name, version = %version.describe(), error = %e, "inference failed");
        }
        if result.is_ok() || fault {
            let verdict = version.observe(!fault, &self.config.probation);
            if verdict == Verdict::RollBack {
                let (registry, name, bad) = (self.clone(), slot.name.clone(), version.clone());
                tracing::warn!(model = %name, version = %bad.describe(), "probation failed: rolling back");
                std::thread::spawn(move || {
                    if let Err(e) = registry.rollback(&name, "probation", Some(&bad)) {
                        tracing::error!(model = %name, error = %e, "automatic rollback failed");
                    }
                });
            }
        }
        if fault && let Some(previous) = version.fallback() {
            slot.metrics.retried();
            let retry = previous.infer_body(body);
            if let Err(e) = &retry
                && is_fault(&e.kind)
            {
                slot.metrics.error(error_kind(&e.kind));
            }
            return Answer {
                version: previous,
                result: retry,
                retried: true,
            };
        }
        Answer {
            version,
            result,
            retried: false,
        }
    }
}
