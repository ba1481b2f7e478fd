//! The pull channel: a directory and/or URLs polled for newer signed plugins, installed
//! through exactly the same path as `PUT /v1/models/{name}` ([`Registry::install`]):
//! signature, manifest, anti-rollback, self-test, promotion, probation.
//!
//! A file (or URL body) is looked at again only when it changes (size and modification
//! time for files, content for URLs); a plugin that is already active is left alone, and a
//! refused one is logged once per change.

use super::registry::Registry;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Starts the pollers the configuration asks for (tokio tasks; abort them to stop).
pub fn spawn(registry: &Arc<Registry>) -> Vec<tokio::task::JoinHandle<()>> {
    let watch = registry.config().watch.clone();
    let interval = Duration::from_millis(watch.interval_ms.max(10));
    let mut tasks = Vec::new();
    if let Some(dir) = watch.dir {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            watch_dir(registry, dir, interval).await;
        }));
    }
    for url in watch.urls {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            watch_url(registry, url, interval).await;
        }));
    }
    tasks
}

/// Installs `bytes` from `source` on a blocking thread and logs the outcome.
async fn install(registry: &Arc<Registry>, source: String, bytes: Vec<u8>) {
    let registry = registry.clone();
    let result = tokio::task::spawn_blocking(move || {
        let result = registry.install(None, &bytes);
        match &result {
            Ok(v) => tracing::info!(source = %source, version = %v.describe(), "pulled"),
            Err(e) => {
                tracing::warn!(source = %source, check = e.check, error = %e.message, "pulled plugin refused")
            }
        }
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "pull install task failed");
    }
}

fn wasm_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, (SystemTime, u64))>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() {
            files.push((path, (meta.modified()?, meta.len())));
        }
    }
    files.sort();
    Ok(files)
}

async fn watch_dir(registry: Arc<Registry>, dir: PathBuf, interval: Duration) {
    tracing::info!(dir = %dir.display(), "watching for plugins");
    let mut seen: HashMap<PathBuf, (SystemTime, u64)> = HashMap::new();
    let limit = registry.config().body.max_plugin_bytes as u64;
    loop {
        match wasm_files(&dir) {
            Ok(files) => {
                for (path, stamp) in files {
                    if seen.get(&path) == Some(&stamp) {
                        continue;
                    }
                    seen.insert(path.clone(), stamp);
                    if stamp.1 > limit {
                        tracing::warn!(file = %path.display(), "larger than body.max_plugin_bytes; ignored");
                        continue;
                    }
                    match tokio::fs::read(&path).await {
                        Ok(bytes) => install(&registry, path.display().to_string(), bytes).await,
                        Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot read"),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read watch directory")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

async fn watch_url(registry: Arc<Registry>, url: String, interval: Duration) {
    tracing::info!(url = %url, "polling for plugins");
    let limit = registry.config().body.max_plugin_bytes as u64;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut last: Option<u64> = None;
    loop {
        let (agent2, url2) = (agent.clone(), url.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            let mut response = agent2.get(&url2).call().map_err(|e| e.to_string())?;
            response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|e| e.to_string())
        })
        .await;
        match fetched {
            Ok(Ok(bytes)) => {
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                let hash = h.finish();
                if last != Some(hash) {
                    last = Some(hash);
                    install(&registry, url.clone(), bytes).await;
                }
            }
            Ok(Err(e)) => tracing::debug!(url = %url, error = %e, "poll failed"),
            Err(e) => tracing::error!(error = %e, "poll task failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
