//! The daemon's configuration: a TOML file (`--config FILE`) with defaults for everything,
//! overridden by command-line flags. `host/GATEWAY.md` documents every key with an example.

use crate::cache::{CacheError, CompileCache};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `edgeplug serve` needs. Every field has a default ([`Default`]); a TOML file
/// may set any subset of them (unknown keys are refused, so a typo is an error, not a
/// silently ignored setting).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on (default `127.0.0.1:8080`; loopback unless changed).
    pub listen: SocketAddr,
    /// The plugin store directory (required: from the file or `--store`).
    pub store: Option<PathBuf>,
    /// Trusted public key files (`edgeplug keygen`'s `.pub`); at least one is required.
    pub trust: Vec<PathBuf>,
    /// Log format: `text` (default) or `json`. Verbosity comes from `RUST_LOG` (default
    /// `info`).
    pub log_format: LogFormat,
    /// Limits applied to every plugin call.
    pub limits: Limits,
    /// The probation window after a promotion.
    pub probation: Probation,
    /// Request body limits.
    pub body: BodyLimits,
    /// The pull channel (directory and/or URL polled for newer signed versions).
    pub watch: Watch,
    /// Whether plugins are compiled through the compile cache ([`crate::cache`]). Default
    /// `true`.
    pub cache: bool,
    /// The compile cache directory (created mode `0700` if missing; it must be private:
    /// [`CompileCache::open`](crate::cache::CompileCache::open)). `None`:
    /// [`DEFAULT_CACHE_DIR`] inside the store directory. Ignored when
    /// [`cache`](Self::cache) is `false`.
    pub cache_dir: Option<PathBuf>,
}

/// The compile cache's directory inside the store directory when
/// [`GatewayConfig::cache_dir`] is not set. The store leaves it alone (it is not part of
/// the store's state).
pub const DEFAULT_CACHE_DIR: &str = "compile-cache";

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: None,
            trust: Vec::new(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            probation: Probation::default(),
            body: BodyLimits::default(),
            watch: Watch::default(),
            cache: true,
            cache_dir: None,
        }
    }
}

impl GatewayConfig {
    /// Parses a TOML configuration (see `host/GATEWAY.md`). Errors name the key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The compile cache directory for a store in `store_dir`: `None` when the cache is
    /// off, else [`cache_dir`](Self::cache_dir) or `store_dir/`[`DEFAULT_CACHE_DIR`].
    pub fn compile_cache_dir(&self, store_dir: &Path) -> Option<PathBuf> {
        if !self.cache {
            return None;
        }
        Some(
            self.cache_dir
                .clone()
                .unwrap_or_else(|| store_dir.join(DEFAULT_CACHE_DIR)),
        )
    }

    /// Opens the compile cache for a store in `store_dir` ([`compile_cache_dir`](
    /// Self::compile_cache_dir)); `Ok(None)` when the cache is off.
    ///
    /// Errors: as [`CompileCache::open`] (cannot create or examine it, not private).
    pub fn open_compile_cache(&self, store_dir: &Path) -> Result<Option<CompileCache>, CacheError> {
        self.compile_cache_dir(store_dir)
            .map(CompileCache::open)
            .transpose()
    }

    /// Reads and parses the TOML file at `path`; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config `{}`: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("config `{}`: {e}", path.display()))
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Limits of plugin calls and of the daemon's concurrency.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline of one inference, in milliseconds (enforced by the engine where
    /// it supports deadlines). Default 1000.
    pub deadline_ms: u64,
    /// Most bytes of linear memory a plugin instance may have. Default 64 MiB.
    pub max_memory_bytes: usize,
    /// Most bytes of output one inference may return (all outputs together). Default 16
    /// MiB.
    pub max_output_bytes: usize,
    /// Fuel per inference for plugins whose manifest declares no wasmtime budget
    /// (`None`: such plugins run unmetered, bounded by the deadline). A manifest's own
    /// budget always applies.
    pub fuel: Option<u64>,
    /// Inferences run at the same time (0: the number of CPUs). Further requests wait.
    pub max_concurrency: usize,
    /// Idle instances kept per version for reuse. Default 4.
    pub instance_pool: usize,
    /// Use wasmtime's pooling instance allocator with room for this many instances at
    /// once, shared by every plugin of one engine configuration (fast instantiation,
    /// address space reserved up front: about `max_memory_bytes` plus wasmtime's guard
    /// regions per slot). Default 256; 0: the on-demand allocator. Size it above models × (2 ×
    /// `instance_pool` + 1) + `max_concurrency`: an instantiation on a full pool fails (a
    /// request answers 500 `instantiate`, an install `load`). If the pool cannot be
    /// reserved the engine falls back to the on-demand allocator with a warning.
    pub pool_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 1000,
            max_memory_bytes: 64 << 20,
            max_output_bytes: 16 << 20,
            fuel: None,
            max_concurrency: 0,
            instance_pool: 4,
            pool_instances: 256,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// [`max_concurrency`](Self::max_concurrency) with 0 resolved to the CPU count.
    pub fn concurrency(&self) -> usize {
        if self.max_concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.max_concurrency
        }
    }
}

/// The probation window of a newly promoted version: it ends after `requests` inferences
/// or `seconds`, whichever comes first. If more than `max_errors` of its inferences fail
/// (traps, limit hits, bad outputs) before then, the daemon rolls back to the previous
/// version. During probation a failed request is retried once on the previous version.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Probation {
    /// Inferences in the window. Default 100.
    pub requests: u64,
    /// Length of the window in seconds. Default 60.
    pub seconds: u64,
    /// Failed inferences tolerated in the window. Default 2 (the third failure rolls back).
    pub max_errors: u64,
}

impl Default for Probation {
    fn default() -> Self {
        Probation {
            requests: 100,
            seconds: 60,
            max_errors: 2,
        }
    }
}

/// Request body limits, in bytes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BodyLimits {
    /// Largest `infer` body. Default 16 MiB.
    pub max_infer_bytes: usize,
    /// Largest plugin upload (`PUT /v1/models/{name}`). Default 64 MiB.
    pub max_plugin_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_infer_bytes: 16 << 20,
            max_plugin_bytes: 64 << 20,
        }
    }
}

/// The pull channel.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Watch {
    /// A directory polled for `*.wasm` plugin files.
    pub dir: Option<PathBuf>,
    /// URLs (plain `http://`) polled for a plugin file each.
    pub urls: Vec<String>,
    /// Poll interval in milliseconds. Default 2000.
    pub interval_ms: u64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            dir: None,
            urls: Vec::new(),
            interval_ms: 2000,
        }
    }
}

/// `edgeplug serve`'s command-line flags; they override the config file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// The plugin store directory.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Trusted public key files (repeatable; several after one flag).
    #[arg(long, num_args = 1..)]
    pub trust: Vec<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A TOML configuration file (see host/GATEWAY.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A directory polled for newer signed plugins (*.wasm).
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// A URL polled for a newer signed plugin (repeatable).
    #[arg(long = "watch-url", value_name = "URL")]
    pub watch_urls: Vec<String>,
    /// Log format (verbosity: RUST_LOG, default info).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// The compile cache directory (default: compile-cache inside the store; must be
    /// private, created mode 0700).
    #[arg(long = "cache", value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin on every load (no compile cache).
    #[arg(long)]
    pub no_cache: bool,
}

impl ServeArgs {
    /// The configuration: the file's (or the defaults), then the flags on top. Errors: an
    /// unreadable or invalid file, no store, no trusted key.
    pub fn resolve(&self) -> Result<GatewayConfig, String> {
        let mut config = match &self.config {
            Some(path) => GatewayConfig::from_file(path)?,
            None => GatewayConfig::default(),
        };
        if let Some(store) = &self.store {
            config.store = Some(store.clone());
        }
        if !self.trust.is_empty() {
            config.trust = self.trust.clone();
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.watch {
            config.watch.dir = Some(dir.clone());
        }
        if !self.watch_urls.is_empty() {
            config.watch.urls = self.watch_urls.clone();
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        if let Some(dir) = &self.cache_dir {
            config.cache = true;
            config.cache_dir = Some(dir.clone());
        }
        if self.no_cache {
            config.cache = false;
        }
        if config.store.is_none() {
            return Err("no plugin store: give --store DIR or `store` in the config".into());
        }
        if config.trust.is_empty() {
            return Err("no trusted key: give --trust PUB... or `trust` in the config".into());
        }
        Ok(config)
    }
}
