//! The gateway daemon `edgeplug serve`: serves many plugins over HTTP and swaps them while
//! serving (`host/GATEWAY.md` is the user's guide).
//!
//! - [`config`]: the TOML configuration and the command-line flags;
//! - [`registry`]: the served models, the install path (verify, stage, self-test, promote),
//!   the hot swap ([`arc_swap::ArcSwap`] per model), probation with automatic rollback;
//! - [`http`]: the axum routes; inference runs on tokio's blocking pool, bounded by a
//!   semaphore ([`config::Limits::max_concurrency`]);
//! - [`metrics`]: Prometheus counters and the latency histogram;
//! - [`pull`]: a directory and URLs polled for newer signed plugins.
//!
//! The plugin store is [`crate::store::Store`] (persistent, anti-rollback floor on disk).
//!
//! [`Server::start`] runs the daemon on its own runtime thread (tests and embedding);
//! [`run_cli`] is `edgeplug serve`.

pub mod config;
pub mod http;
pub mod metrics;
pub mod pull;
pub mod registry;

pub use config::{GatewayConfig, LogFormat, ServeArgs};
pub use registry::{InstallError, Registry, Version};

use crate::store::Store;
use crate::trust::{TrustError, TrustStore};
use metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the daemon could not start or stopped with an error. One line each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is incomplete or invalid.
    #[error("{0}")]
    Config(String),
    /// A trusted key could not be read.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The store could not be opened or read.
    #[error("plugin store: {0}")]
    Store(String),
    /// The compile cache directory given in the configuration cannot be used (the default
    /// one inside the store only logs a warning).
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime or the HTTP server failed.
    #[error("server: {0}")]
    Runtime(std::io::Error),
}

/// A running daemon: its own thread with a tokio runtime. Dropping it (or
/// [`shutdown`](Self::shutdown)) stops accepting, lets requests in flight finish, and
/// joins the thread.
pub struct Server {
    addr: SocketAddr,
    registry: Arc<Registry>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Server {
    /// Opens the registry over `store` (loading every active version, verified and
    /// self-tested, through the compile cache), binds `config.listen` (port 0: any free port, see
    /// [`addr`](Self::addr)), starts the pull channel and serves until shut down.
    pub fn start(
        config: GatewayConfig,
        trust: TrustStore,
        store: Arc<Store>,
    ) -> Result<Server, ServeError> {
        if trust.is_empty() {
            return Err(ServeError::Trust(TrustError::NoTrustAnchor));
        }
        if config.cache && config.cache_dir.is_some() {
            // An explicitly configured cache must work (a default one falls back to
            // compiling, with a warning, in `Registry::open`).
            config.open_compile_cache(store.path())?;
        }
        let listen = config.listen;
        let registry = Registry::open(store, trust, config, Arc::new(Metrics::default()))
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let listener = std::net::TcpListener::bind(listen).map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(ServeError::Runtime)?;
        listener
            .set_nonblocking(true)
            .map_err(ServeError::Runtime)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("edgeplug-serve")
            .build()
            .map_err(ServeError::Runtime)?;
        let reg = registry.clone();
        let thread = std::thread::Builder::new()
            .name("edgeplug-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).map_err(ServeError::Runtime)?;
                    let pollers = pull::spawn(&reg);
                    tracing::info!(%addr, models = reg.list().len(), "listening");
                    let result = axum::serve(listener, http::router(reg))
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await
                        .map_err(ServeError::Runtime);
                    for p in pollers {
                        p.abort();
                    }
                    tracing::info!("stopped");
                    result
                })
            })
            .map_err(ServeError::Runtime)?;
        Ok(Server {
            addr,
            registry,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address the daemon listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registry (models, metrics), for embedding and tests.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Blocks until the server stops by itself (an error) or is shut down from elsewhere.
    pub fn wait(mut self) -> Result<(), ServeError> {
        self.join()
    }

    /// Stops accepting connections, finishes the requests in flight and joins the thread.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), ServeError> {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError::Runtime(std::io::Error::other(
                "the server thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.join();
    }
}

/// Installs the global `tracing` subscriber: `RUST_LOG` filter (default `info`), text or
/// JSON lines on stderr. Does nothing if one is already installed.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `edgeplug serve`: resolves the configuration (file, then flags), installs logging,
/// reads the trusted keys, opens the store and serves until Ctrl-C / SIGTERM.
pub fn run_cli(args: &ServeArgs) -> Result<(), ServeError> {
    let config = args.resolve().map_err(ServeError::Config)?;
    init_logging(config.log_format);
    let mut trust = TrustStore::new();
    for key in &config.trust {
        trust.add_key_file(key)?;
    }
    let store = open_store(&config)?;
    let server = Server::start(config, trust, store)?;
    eprintln!("edgeplug serve: listening on http://{}", server.addr());
    wait_for_signal()?;
    tracing::info!("shutting down");
    server.shutdown()
}

fn open_store(config: &GatewayConfig) -> Result<Arc<Store>, ServeError> {
    let Some(dir) = &config.store else {
        return Err(ServeError::Config("no plugin store".into()));
    };
    let store = Store::open(dir).map_err(|e| ServeError::Store(e.to_string()))?;
    Ok(Arc::new(store))
}

fn wait_for_signal() -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(ServeError::Runtime)?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.map_err(ServeError::Runtime),
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map_err(ServeError::Runtime)
        }
    })
}
