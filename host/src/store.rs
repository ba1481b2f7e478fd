//! The on-disk plugin store of a gateway: installed plugin versions, the active and the
//! previous version of each model, and the anti-rollback floor, in one directory.
//!
//! # Layout
//!
//! ```text
//! DIR/state          the state: one header line, then JSON (see below)
//! DIR/blobs/<sha256> each installed plugin file, named by the SHA-256 of its bytes
//! DIR/lock           an advisory lock (flock) taken by every state change
//! DIR/.tmp-*         leftovers of an interrupted write (removed on open)
//! ```
//!
//! Anything else in `DIR` is not the store's and is left alone, for example the gateway's
//! compile cache (`DIR/compile-cache` by default, see `edgeplug serve`).
//!
//! The state file is the only mutable file and records, per model name: every installed
//! version (digest, semantic version, sequence, size, and whether it was rolled back from,
//! "bad"), the active version, the previous version, and the highest sequence ever
//! accepted (the anti-rollback floor). Its first line is `edgeplug-store 1 <sha256>`, the
//! SHA-256 of the JSON that follows, so a damaged state file is detected
//! ([`StoreError::CorruptState`]) and never silently replaced.
//!
//! # Confinement
//!
//! Every file access goes through a [`cap_std::fs::Dir`] opened once on `DIR` (the only
//! use of ambient authority, besides creating `DIR` and fsyncing its parent when it is
//! new): no path the store computes, and no symlink planted inside the store, can reach
//! outside it. Model names never become paths (they are keys of the
//! state), and are validated anyway ([`validate_name`]): 1 to 128 bytes of
//! `[A-Za-z0-9._-]` starting with a letter or digit, so `../x` or `/etc` are refused.
//!
//! # Crash consistency
//!
//! A state change writes the plugin bytes first (temporary file, fsync, rename to its
//! digest, fsync of `blobs/`), then the new state the same way (fsync of `DIR`). A crash
//! at any point leaves either the old state or the new one, and both only name blobs
//! whose bytes are complete. On [`Store::open`], leftover temporary files and blobs that
//! the state does not name are removed, and every blob the state names must exist with
//! its recorded size ([`StoreError::MissingBlob`]); bytes are hashed again whenever they
//! are read ([`Store::active`], [`Store::version_bytes`], [`Store::check`]).
//! Concurrent processes (a daemon and `edgeplug install`) are serialized by the lock, and
//! each change re-reads the state under it.
//!
//! # Anti-rollback
//!
//! A plugin whose sequence is lower than the model's highest accepted sequence is refused
//! ([`StoreError::Downgrade`]) by [`Store::install`], [`Store::stage`] and
//! [`Store::promote`], across restarts (the floor is in the state file) and after a
//! rollback (rolling back never lowers the floor). An **equal** sequence is accepted: it
//! is the rule of [`edgeplug_signing::check_sequence`] that every edgeplug host applies,
//! it makes re-installing the same release idempotent, and a publisher who signs two
//! builds with one sequence declares them equivalent. [`Store::rollback`] is the one
//! allowed exception to the floor: it makes the previous version active again even though
//! its sequence may be below the floor, and marks the version it rolls back from as bad,
//! so that neither a pull loop nor a user can promote or install it again.

use crate::engine::{EngineConfig, EngineKind};
use crate::trust::{self, Policy, TrustError, TrustStore, Verification, hex};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use edgeplug_signing::Manifest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the state file in the store directory.
pub const STATE_FILE: &str = "state";
/// Name of the directory of plugin files in the store directory.
pub const BLOBS_DIR: &str = "blobs";
/// Name of the lock file in the store directory.
pub const LOCK_FILE: &str = "lock";
/// Prefix of temporary files (removed by [`Store::open`]).
pub const TMP_PREFIX: &str = ".tmp-";
/// Magic and format version that start the state file's header line.
const STATE_MAGIC: &str = "edgeplug-store 1";

/// Fault injection for crash tests (debug builds only): when this environment variable
/// holds `N`, the process exits with [`CRASH_EXIT_CODE`] just before the `N`th file-system
/// step of the store (counted from 1 over the whole process), without running any
/// destructor. Release builds ignore it.
pub const CRASH_AT_ENV: &str = "EDGEPLUG_STORE_CRASH_AT";
/// The exit code of a crash injected through [`CRASH_AT_ENV`].
pub const CRASH_EXIT_CODE: i32 = 86;

/// A plugin version in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// The model (plugin) name, from the signed manifest.
    pub name: String,
    /// Its semantic version, from the signed manifest.
    pub version: String,
    /// Its anti-rollback sequence, from the signed manifest.
    pub sequence: u64,
    /// SHA-256 of the whole plugin file, lower-case hex (64 characters): its id in the
    /// store.
    pub digest: String,
}

/// One installed version of a model, as [`Store::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionEntry {
    /// Semantic version.
    pub version: String,
    /// Anti-rollback sequence.
    pub sequence: u64,
    /// SHA-256 of the plugin file (hex).
    pub digest: String,
    /// Size of the plugin file in bytes.
    pub size: u64,
    /// Whether it was rolled back from (it can no longer be installed or promoted).
    pub bad: bool,
}

/// A model in the store, as [`Store::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelEntry {
    /// Model name.
    pub name: String,
    /// The version that serves (`None` only for a model that has versions staged but
    /// never promoted).
    pub active: Option<Installed>,
    /// The version [`Store::rollback`] would return to.
    pub previous: Option<Installed>,
    /// The anti-rollback floor: the highest sequence ever made active.
    pub highest_sequence: u64,
    /// Every installed (or staged) version, by ascending sequence then version.
    pub versions: Vec<VersionEntry>,
}

/// What [`Store::install_with`] and [`Store::stage_with`] require besides the trust set.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// An extra anti-rollback floor (for example the CLI's `--min-sequence`), on top of
    /// the store's own.
    pub min_sequence: Option<u64>,
    /// The engine configuration the self-test runs under (on wasmtime).
    pub engine_config: EngineConfig,
}

/// Why a store operation failed. Each message names the store directory, and the model
/// and version where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("store `{store}`: cannot {action} `{path}`: {source}")]
    Io {
        /// The store directory.
        store: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The file, relative to the store directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not empty and holds no state file: not a store (or one whose
    /// state file was deleted; it is never recreated silently, which would reset the
    /// anti-rollback floor).
    #[error(
        "store `{0}`: not an edgeplug store: the directory is not empty and has no `state` file (refusing to reset it)"
    )]
    NotAStore(PathBuf),
    /// The state file is damaged or of an unknown format.
    #[error(
        "store `{store}`: the state file is corrupted: {reason} (refusing to reset it: restore it from a backup)"
    )]
    CorruptState {
        /// The store directory.
        store: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plugin file named by the state is missing.
    #[error(
        "store `{store}`: model `{model}` version {version} (sha256 {digest}): its plugin file `blobs/{digest}` is missing (restore any copy of that plugin file under that name)"
    )]
    MissingBlob {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// Semantic version.
        version: String,
        /// The expected digest.
        digest: String,
    },
    /// A plugin file named by the state does not have its recorded size or digest.
    #[error(
        "store `{store}`: model `{model}` version {version}: plugin file `blobs/{digest}` is corrupted ({reason})"
    )]
    CorruptBlob {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// Semantic version.
        version: String,
        /// The expected digest.
        digest: String,
        /// What differs.
        reason: String,
    },
    /// A model name that the store does not accept.
    #[error("store `{store}`: invalid model name {name:?}: {reason}")]
    InvalidName {
        /// The store directory.
        store: PathBuf,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// No such model.
    #[error("store `{store}`: no model `{model}` is installed")]
    UnknownModel {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
    },
    /// No such version of a model.
    #[error("store `{store}`: model `{model}` has no version with sha256 {digest}")]
    UnknownVersion {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// The digest asked for.
        digest: String,
    },
    /// Rollback without a previous version.
    #[error(
        "store `{store}`: model `{model}` has no previous version to roll back to (active: {active})"
    )]
    NoPrevious {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// The active version (or `none`).
        active: String,
    },
    /// Anti-rollback: the sequence is lower than the highest accepted for the model.
    #[error(
        "store `{store}`: refusing model `{model}` version {version}: anti-rollback: its sequence {sequence} is lower than {highest}, the highest accepted"
    )]
    Downgrade {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// Semantic version.
        version: String,
        /// Its sequence.
        sequence: u64,
        /// The floor.
        highest: u64,
    },
    /// The version was rolled back from and may not become active again.
    #[error(
        "store `{store}`: refusing model `{model}` version {version} (sha256 {digest}): it was rolled back from and is marked bad"
    )]
    MarkedBad {
        /// The store directory.
        store: PathBuf,
        /// Model name.
        model: String,
        /// Semantic version.
        version: String,
        /// Its digest.
        digest: String,
    },
    /// The plugin failed verification (signature, manifest, interface, model-info or
    /// self-test): the message names the check.
    #[error("store `{store}`: plugin refused: {source}")]
    Refused {
        /// The store directory.
        store: PathBuf,
        /// Why.
        #[source]
        source: TrustError,
    },
}

/// The persistent state (the JSON part of the state file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    /// Incremented by every change.
    generation: u64,
    models: BTreeMap<String, ModelState>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelState {
    active: Option<String>,
    previous: Option<String>,
    highest_sequence: u64,
    versions: BTreeMap<String, VersionRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionRecord {
    version: String,
    sequence: u64,
    size: u64,
    bad: bool,
}

/// A plugin that passed every check and is ready to be written.
struct Verified {
    installed: Installed,
}

/// The on-disk plugin store (see the module documentation). All methods take `&self`:
/// changes are serialized by a file lock, so a `Store` may be shared between threads.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    root: Dir,
    blobs: Dir,
}

/// Checks a model name: 1 to 128 bytes of ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter or a digit (so never `.`, `..`, a path or a hidden file).
/// Returns the reason it is refused.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("a model name has 1 to 128 bytes");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a model name starts with a letter or a digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("a model name holds only ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex(&edgeplug_signing::SelfTest::output_digest([bytes]).0)
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Counts file-system steps and injects a crash at the one [`CRASH_AT_ENV`] names.
fn step() {
    #[cfg(debug_assertions)]
    {
        use std::sync::OnceLock;
        static CRASH_AT: OnceLock<Option<u64>> = OnceLock::new();
        static STEPS: AtomicU64 = AtomicU64::new(0);
        let at = CRASH_AT.get_or_init(|| {
            std::env::var(CRASH_AT_ENV)
                .ok()
                .and_then(|v| v.trim().parse().ok())
        });
        if let Some(at) = *at {
            let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
            if n == at {
                eprintln!("{CRASH_AT_ENV}: crash injected before store step {n}");
                std::process::exit(CRASH_EXIT_CODE);
            }
        }
    }
}

/// A per-process counter that makes temporary names unique between threads.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn tmp_name(tag: &str) -> String {
    format!(
        "{TMP_PREFIX}{tag}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// fsync of a directory (makes the renames in it durable).
fn sync_dir(dir: &Dir) -> std::io::Result<()> {
    step();
    // `Dir` holds an `O_PATH` descriptor, which cannot be fsynced: open the directory
    // itself for reading.
    dir.open_with(".", OpenOptions::new().read(true))?
        .sync_all()
}

/// Writes `bytes` to `name` in `dir` atomically: temporary file, write, fsync, rename,
/// fsync of `dir`. A crash leaves either no `name` (or the old one) or the complete new
/// one, plus at most a temporary file.
fn write_atomic_in(dir: &Dir, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_name(name.get(..12).unwrap_or(name));
    step();
    let mut f = dir.open_with(&tmp, OpenOptions::new().write(true).create_new(true))?;
    let result = (|| {
        // Two writes, so that a crash can also leave a partial temporary file.
        let half = bytes.len() / 2;
        step();
        f.write_all(&bytes[..half])?;
        step();
        f.write_all(&bytes[half..])?;
        step();
        f.sync_all()?;
        drop(f);
        step();
        dir.rename(&tmp, dir, name)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    result
}

impl Store {
    /// Opens the store in `dir`, creating the directory and an empty store if it does not
    /// exist or is empty. Then, under the store's lock: removes leftover temporary files
    /// and blobs the state does not name, and checks that every blob the state names
    /// exists with its recorded size.
    ///
    /// Errors: [`StoreError::Io`], [`StoreError::NotAStore`] (a non-empty directory without
    /// a state file), [`StoreError::CorruptState`], [`StoreError::MissingBlob`],
    /// [`StoreError::CorruptBlob`] (wrong size).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let io = |action, p: &str| {
            let store = path.clone();
            let p = PathBuf::from(p);
            move |source| StoreError::Io {
                store,
                action,
                path: p,
                source,
            }
        };
        if !dir.is_dir() {
            Dir::create_ambient_dir_all(dir, ambient_authority())
                .map_err(io("create the store directory", "."))?;
            // Make the new directory's own entry durable: without it a power cut could
            // lose the whole store (and its anti-rollback floor) after installs were
            // acknowledged. The one access outside the store, read-only.
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::File::open(parent)
                .and_then(|f| f.sync_all())
                .map_err(io("sync the parent of", "."))?;
        }
        let root = Dir::open_ambient_dir(dir, ambient_authority())
            .map_err(io("open the store directory", "."))?;
        // A new store, or one whose creation was interrupted, has only a lock file and
        // temporary files. Anything else without a state file: not ours (checked before
        // the lock file is created in it), or a store whose state was lost.
        let is_new = || -> Result<bool, StoreError> {
            if root.exists(STATE_FILE) {
                return Ok(false);
            }
            for entry in root.entries().map_err(io("list", "."))? {
                let name = entry.map_err(io("list", "."))?.file_name();
                let name = name.to_string_lossy();
                if name != LOCK_FILE && !name.starts_with(TMP_PREFIX) {
                    return Err(StoreError::NotAStore(path.clone()));
                }
            }
            Ok(true)
        };
        is_new()?;
        let lock = lock(&root).map_err(io("lock", LOCK_FILE))?;
        if is_new()? {
            write_atomic_in(&root, STATE_FILE, &encode_state(&State::default()))
                .map_err(io("write", STATE_FILE))?;
        }
        match root.create_dir(BLOBS_DIR) {
            Ok(()) => sync_dir(&root).map_err(io("sync", "."))?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("create", BLOBS_DIR)(e)),
        }
        let blobs = root.open_dir(BLOBS_DIR).map_err(io("open", BLOBS_DIR))?;
        let store = Store { path, root, blobs };
        let state = store.read_state()?;
        store.clean(&state)?;
        store.check_sizes(&state)?;
        drop(lock);
        Ok(store)
    }

    /// The store directory, as given to [`open`](Self::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies `bytes` (trusted signature, manifest, interface, anti-rollback floor of its
    /// model, then model-info and the self-test on wasmtime), stores it and makes it the
    /// active version of its model; the old active version becomes the previous one. One
    /// atomic state change. Installing the active version again changes nothing.
    ///
    /// Errors: [`StoreError::Refused`] (the plugin failed a check; the message names it),
    /// [`StoreError::InvalidName`], [`StoreError::Downgrade`], [`StoreError::MarkedBad`],
    /// [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn install(&self, bytes: &[u8], trust: &TrustStore) -> Result<Installed, StoreError> {
        self.install_with(bytes, trust, &InstallOptions::default())
    }

    /// [`install`](Self::install) with options.
    pub fn install_with(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        options: &InstallOptions,
    ) -> Result<Installed, StoreError> {
        let verified = self.verify(bytes, trust, options)?;
        self.commit(&verified, bytes, true)
    }

    /// Verifies `bytes` exactly as [`install`](Self::install) does and stores it as a
    /// version of its model, without making it active (see [`promote`](Self::promote)).
    /// Staging does not raise the anti-rollback floor.
    ///
    /// Errors: as [`install`](Self::install).
    pub fn stage(&self, bytes: &[u8], trust: &TrustStore) -> Result<Installed, StoreError> {
        self.stage_with(bytes, trust, &InstallOptions::default())
    }

    /// [`stage`](Self::stage) with options.
    pub fn stage_with(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        options: &InstallOptions,
    ) -> Result<Installed, StoreError> {
        let verified = self.verify(bytes, trust, options)?;
        self.commit(&verified, bytes, false)
    }

    /// Stages `bytes` like [`stage_with`](Self::stage_with), with the caller's own load
    /// check instead of the store's: the store verifies the trusted signature, the
    /// manifest and interface, the name, the bad mark and the anti-rollback floor (its own
    /// and `options.min_sequence`; `options.engine_config` is not used), then calls
    /// `check` with the version it would write and the verified manifest, and writes the
    /// blob and the staged version only if `check` returns `Ok`. A caller that compiles and
    /// self-tests the plugin itself (the daemon) so does it once, and keeps what `check`
    /// built. `check` runs without the store's lock (it may take long): the floor and bad
    /// mark are checked again, under the lock, before the commit.
    ///
    /// Errors: `check`'s error unchanged (then nothing was written); the store's errors
    /// converted with `E::from`: as [`stage`](Self::stage).
    pub fn stage_checked<T, E: From<StoreError>>(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        options: &InstallOptions,
        check: impl FnOnce(&Installed, &Manifest) -> Result<T, E>,
    ) -> Result<(Installed, T), E> {
        let (verified, manifest, _floor) = self.precheck(bytes, trust, options)?;
        let built = check(&verified.installed, &manifest)?;
        let installed = self.commit(&verified, bytes, false)?;
        Ok((installed, built))
    }

    /// Makes the stored version `digest` (hex, as in [`Installed::digest`]) of model `name`
    /// active; the old active version becomes the previous one, and the floor rises to
    /// its sequence. Its bytes are hashed again first. Promoting the active version
    /// changes nothing (even one below the floor after a [`rollback`](Self::rollback)).
    ///
    /// Errors: [`StoreError::InvalidName`], [`StoreError::UnknownModel`],
    /// [`StoreError::UnknownVersion`], [`StoreError::Downgrade`] (its sequence is below
    /// the floor), [`StoreError::MarkedBad`], [`StoreError::MissingBlob`],
    /// [`StoreError::CorruptBlob`], [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn promote(&self, name: &str, digest: &str) -> Result<(), StoreError> {
        self.check_name(name)?;
        let _lock = self.lock()?;
        let mut state = self.read_state()?;
        let model = state
            .models
            .get_mut(name)
            .ok_or_else(|| self.unknown_model(name))?;
        let record = model
            .versions
            .get(digest)
            .ok_or_else(|| StoreError::UnknownVersion {
                store: self.path.clone(),
                model: name.to_string(),
                digest: digest.to_string(),
            })?
            .clone();
        if model.active.as_deref() == Some(digest) {
            return Ok(());
        }
        self.check_admissible(name, digest, &record, model.highest_sequence)?;
        self.read_blob(name, digest, &record)?;
        activate(model, digest, record.sequence);
        self.write_state(&mut state)
    }

    /// Makes the previous version of model `name` active again and marks the version it
    /// rolls back from as bad (it cannot be installed or promoted again). The model then
    /// has no previous version. The anti-rollback floor is **not** lowered: this is the one
    /// way a version below the floor becomes active. The previous version's bytes are
    /// hashed again first. Returns the now active version.
    ///
    /// Errors: [`StoreError::InvalidName`], [`StoreError::UnknownModel`],
    /// [`StoreError::NoPrevious`], [`StoreError::MissingBlob`], [`StoreError::CorruptBlob`],
    /// [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn rollback(&self, name: &str) -> Result<Installed, StoreError> {
        self.check_name(name)?;
        let _lock = self.lock()?;
        let mut state = self.read_state()?;
        let model = state
            .models
            .get_mut(name)
            .ok_or_else(|| self.unknown_model(name))?;
        let (Some(active), Some(previous)) = (model.active.clone(), model.previous.clone()) else {
            let active = model.active.as_ref().map_or("none".to_string(), |d| {
                model
                    .versions
                    .get(d)
                    .map_or(d.clone(), |r| r.version.clone())
            });
            return Err(StoreError::NoPrevious {
                store: self.path.clone(),
                model: name.to_string(),
                active,
            });
        };
        let record = self.record(name, model, &previous)?.clone();
        self.read_blob(name, &previous, &record)?;
        if let Some(bad) = model.versions.get_mut(&active) {
            bad.bad = true;
        }
        model.active = Some(previous.clone());
        model.previous = None;
        self.write_state(&mut state)?;
        Ok(installed(name, &previous, &record))
    }

    /// Every model in the store, by name.
    ///
    /// Errors: [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn list(&self) -> Result<Vec<ModelEntry>, StoreError> {
        let state = self.read_state()?;
        Ok(state
            .models
            .iter()
            .map(|(name, m)| {
                let get = |d: &Option<String>| {
                    d.as_ref()
                        .and_then(|d| m.versions.get(d).map(|r| installed(name, d, r)))
                };
                let mut versions: Vec<VersionEntry> = m
                    .versions
                    .iter()
                    .map(|(d, r)| VersionEntry {
                        version: r.version.clone(),
                        sequence: r.sequence,
                        digest: d.clone(),
                        size: r.size,
                        bad: r.bad,
                    })
                    .collect();
                versions.sort_by(|a, b| {
                    (a.sequence, &a.version, &a.digest).cmp(&(b.sequence, &b.version, &b.digest))
                });
                ModelEntry {
                    name: name.clone(),
                    active: get(&m.active),
                    previous: get(&m.previous),
                    highest_sequence: m.highest_sequence,
                    versions,
                }
            })
            .collect())
    }

    /// The active version of model `name` and its plugin bytes, hashed again against the
    /// digest. `Ok(None)` if no such model is installed or none of its versions is active.
    /// The bytes are not verified against a trust set again (they were on install).
    ///
    /// Errors: [`StoreError::InvalidName`], [`StoreError::MissingBlob`],
    /// [`StoreError::CorruptBlob`], [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn active(&self, name: &str) -> Result<Option<(Installed, Vec<u8>)>, StoreError> {
        self.check_name(name)?;
        let state = self.read_state()?;
        let Some(model) = state.models.get(name) else {
            return Ok(None);
        };
        let Some(digest) = &model.active else {
            return Ok(None);
        };
        let record = self.record(name, model, digest)?;
        let bytes = self.read_blob(name, digest, record)?;
        Ok(Some((installed(name, digest, record), bytes)))
    }

    /// The bytes of any stored version of model `name` (by digest), hashed again.
    ///
    /// Errors: [`StoreError::InvalidName`], [`StoreError::UnknownModel`],
    /// [`StoreError::UnknownVersion`], [`StoreError::MissingBlob`],
    /// [`StoreError::CorruptBlob`], [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn version_bytes(&self, name: &str, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.check_name(name)?;
        let state = self.read_state()?;
        let model = state
            .models
            .get(name)
            .ok_or_else(|| self.unknown_model(name))?;
        let record = self.record(name, model, digest)?;
        self.read_blob(name, digest, record)
    }

    /// Hashes every stored plugin file against its digest: the full check of the store
    /// (open only checks sizes). Returns the number of plugin files checked.
    ///
    /// Errors: the first of [`StoreError::MissingBlob`], [`StoreError::CorruptBlob`];
    /// [`StoreError::Io`], [`StoreError::CorruptState`].
    pub fn check(&self) -> Result<usize, StoreError> {
        let state = self.read_state()?;
        let mut n = 0;
        for (name, model) in &state.models {
            for (digest, record) in &model.versions {
                self.read_blob(name, digest, record)?;
                n += 1;
            }
        }
        Ok(n)
    }

    // ---- internals ----

    fn io(&self, action: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> StoreError {
        let store = self.path.clone();
        let path = PathBuf::from(path);
        move |source| StoreError::Io {
            store,
            action,
            path,
            source,
        }
    }

    fn lock(&self) -> Result<std::fs::File, StoreError> {
        lock(&self.root).map_err(self.io("lock", LOCK_FILE))
    }

    fn check_name(&self, name: &str) -> Result<(), StoreError> {
        validate_name(name).map_err(|reason| StoreError::InvalidName {
            store: self.path.clone(),
            name: name.to_string(),
            reason,
        })
    }

    fn unknown_model(&self, name: &str) -> StoreError {
        StoreError::UnknownModel {
            store: self.path.clone(),
            model: name.to_string(),
        }
    }

    fn record<'m>(
        &self,
        name: &str,
        model: &'m ModelState,
        digest: &str,
    ) -> Result<&'m VersionRecord, StoreError> {
        model
            .versions
            .get(digest)
            .ok_or_else(|| StoreError::UnknownVersion {
                store: self.path.clone(),
                model: name.to_string(),
                digest: digest.to_string(),
            })
    }

    /// Refuses a version marked bad or below `floor`.
    fn check_admissible(
        &self,
        name: &str,
        digest: &str,
        record: &VersionRecord,
        floor: u64,
    ) -> Result<(), StoreError> {
        if record.bad {
            return Err(StoreError::MarkedBad {
                store: self.path.clone(),
                model: name.to_string(),
                version: record.version.clone(),
                digest: digest.to_string(),
            });
        }
        if record.sequence < floor {
            return Err(StoreError::Downgrade {
                store: self.path.clone(),
                model: name.to_string(),
                version: record.version.clone(),
                sequence: record.sequence,
                highest: floor,
            });
        }
        Ok(())
    }

    /// The cheap checks, before anything is compiled or written: trusted signature,
    /// manifest and interface (with `options.min_sequence`), the name, the bad mark and the
    /// store's anti-rollback floor. Returns the version to write, the verified manifest and
    /// the floor that applies.
    fn precheck(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        options: &InstallOptions,
    ) -> Result<(Verified, Manifest, u64), StoreError> {
        let policy = Policy {
            min_sequence: options.min_sequence,
        };
        let v =
            trust::verify_plugin(bytes, trust, &policy).map_err(|source| StoreError::Refused {
                store: self.path.clone(),
                source,
            })?;
        let m = v.manifest;
        self.check_name(&m.name)?;
        let digest = digest_hex(bytes);
        let record = VersionRecord {
            version: m.version.clone(),
            sequence: m.sequence,
            size: bytes.len() as u64,
            bad: false,
        };
        let state = self.read_state()?;
        let floor = self.floor_of(&state, &m.name, &digest, &record)?;
        let verified = Verified {
            installed: installed(&m.name, &digest, &record),
        };
        Ok((verified, m, floor))
    }

    /// Everything before the store is written: [`precheck`](Self::precheck) (cheap, so a
    /// refused plugin is not compiled), then load, model-info and self-test on wasmtime.
    fn verify(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        options: &InstallOptions,
    ) -> Result<Verified, StoreError> {
        let (verified, m, floor) = self.precheck(bytes, trust, options)?;
        let label = format!("{}/{} {}", self.path.display(), m.name, m.version);
        let policy = Policy {
            min_sequence: Some(floor.max(options.min_sequence.unwrap_or(0))),
        };
        trust::load_plugin(
            EngineKind::Wasmtime,
            &label,
            bytes,
            Verification::Required(trust, policy),
            &options.engine_config,
        )
        .map_err(|source| StoreError::Refused {
            store: self.path.clone(),
            source,
        })?;
        Ok(verified)
    }

    /// The floor of model `name` in `state`, after refusing a version marked bad or below
    /// it.
    fn floor_of(
        &self,
        state: &State,
        name: &str,
        digest: &str,
        record: &VersionRecord,
    ) -> Result<u64, StoreError> {
        let Some(model) = state.models.get(name) else {
            return Ok(0);
        };
        let bad = model.versions.get(digest).is_some_and(|r| r.bad);
        let record = VersionRecord {
            bad,
            ..record.clone()
        };
        self.check_admissible(name, digest, &record, model.highest_sequence)?;
        Ok(model.highest_sequence)
    }

    /// Writes the blob and the new state, under the lock, after checking again against
    /// the state as it is now (another process may have changed it meanwhile).
    fn commit(
        &self,
        verified: &Verified,
        bytes: &[u8],
        make_active: bool,
    ) -> Result<Installed, StoreError> {
        let inst = &verified.installed;
        let record = VersionRecord {
            version: inst.version.clone(),
            sequence: inst.sequence,
            size: bytes.len() as u64,
            bad: false,
        };
        let _lock = self.lock()?;
        let mut state = self.read_state()?;
        self.floor_of(&state, &inst.name, &inst.digest, &record)?;
        let model = state.models.entry(inst.name.clone()).or_default();
        // Written first (or left alone if an intact copy is there; a damaged copy is
        // replaced), so the state never names an incomplete blob.
        self.write_blob(&inst.digest, bytes)?;
        if model.versions.contains_key(&inst.digest)
            && (!make_active || model.active.as_deref() == Some(inst.digest.as_str()))
        {
            // Already recorded (and active, if asked): nothing else changes.
            return Ok(inst.clone());
        }
        model.versions.insert(inst.digest.clone(), record);
        if make_active {
            activate(model, &inst.digest, inst.sequence);
        }
        self.write_state(&mut state)?;
        Ok(inst.clone())
    }

    /// Stores `bytes` as `blobs/<digest>` unless an intact copy is already there.
    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let rel = format!("{BLOBS_DIR}/{digest}");
        if let Ok(existing) = self.blobs.read(digest)
            && existing == bytes
        {
            return Ok(());
        }
        write_atomic_in(&self.blobs, digest, bytes).map_err(self.io("write", &rel))
    }

    /// Reads `blobs/<digest>` and checks its size and digest.
    fn read_blob(
        &self,
        name: &str,
        digest: &str,
        record: &VersionRecord,
    ) -> Result<Vec<u8>, StoreError> {
        let rel = format!("{BLOBS_DIR}/{digest}");
        let mut bytes = Vec::new();
        match self.blobs.open(digest) {
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(self.io("read", &rel))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(self.missing_blob(name, digest, record));
            }
            Err(e) => return Err(self.io("open", &rel)(e)),
        };
        let corrupt = |reason| StoreError::CorruptBlob {
            store: self.path.clone(),
            model: name.to_string(),
            version: record.version.clone(),
            digest: digest.to_string(),
            reason,
        };
        if bytes.len() as u64 != record.size {
            return Err(corrupt(format!(
                "{} bytes, the state records {}",
                bytes.len(),
                record.size
            )));
        }
        let got = digest_hex(&bytes);
        if got != digest {
            return Err(corrupt(format!("its SHA-256 is {got}")));
        }
        Ok(bytes)
    }

    fn missing_blob(&self, name: &str, digest: &str, record: &VersionRecord) -> StoreError {
        StoreError::MissingBlob {
            store: self.path.clone(),
            model: name.to_string(),
            version: record.version.clone(),
            digest: digest.to_string(),
        }
    }

    fn read_state(&self) -> Result<State, StoreError> {
        let bytes = self
            .root
            .read(STATE_FILE)
            .map_err(self.io("read", STATE_FILE))?;
        decode_state(&bytes).map_err(|reason| StoreError::CorruptState {
            store: self.path.clone(),
            reason,
        })
    }

    fn write_state(&self, state: &mut State) -> Result<(), StoreError> {
        state.generation += 1;
        write_atomic_in(&self.root, STATE_FILE, &encode_state(state))
            .map_err(self.io("write", STATE_FILE))
    }

    /// Removes temporary files (root and `blobs/`) and blobs that `state` does not name.
    /// Files the store does not recognise are left alone. Called under the lock.
    fn clean(&self, state: &State) -> Result<(), StoreError> {
        let named: BTreeSet<&str> = state
            .models
            .values()
            .flat_map(|m| m.versions.keys().map(String::as_str))
            .collect();
        for (dir, prefix) in [(&self.root, ""), (&self.blobs, "blobs/")] {
            let entries = dir.entries().map_err(self.io("list", prefix))?;
            for entry in entries {
                let name = entry.map_err(self.io("list", prefix))?.file_name();
                let Some(name) = name.to_str() else { continue };
                let leftover = name.starts_with(TMP_PREFIX)
                    || (!prefix.is_empty() && is_digest(name) && !named.contains(name));
                if leftover {
                    step();
                    dir.remove_file(name)
                        .map_err(self.io("remove leftover", &format!("{prefix}{name}")))?;
                }
            }
        }
        Ok(())
    }

    /// Every blob the state names exists and has its recorded size.
    fn check_sizes(&self, state: &State) -> Result<(), StoreError> {
        for (name, model) in &state.models {
            for (digest, record) in &model.versions {
                let rel = format!("{BLOBS_DIR}/{digest}");
                match self.blobs.metadata(digest) {
                    Ok(m) if m.is_file() && m.len() == record.size => {}
                    Ok(m) => {
                        return Err(StoreError::CorruptBlob {
                            store: self.path.clone(),
                            model: name.clone(),
                            version: record.version.clone(),
                            digest: digest.clone(),
                            reason: format!("{} bytes, the state records {}", m.len(), record.size),
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        return Err(self.missing_blob(name, digest, record));
                    }
                    Err(e) => return Err(self.io("stat", &rel)(e)),
                }
            }
        }
        Ok(())
    }
}

/// `digest` becomes active, the old active version previous; the floor rises.
fn activate(model: &mut ModelState, digest: &str, sequence: u64) {
    if model.active.as_deref() != Some(digest) {
        model.previous = model.active.take();
        model.active = Some(digest.to_string());
    }
    model.highest_sequence = model.highest_sequence.max(sequence);
}

fn installed(name: &str, digest: &str, r: &VersionRecord) -> Installed {
    Installed {
        name: name.to_string(),
        version: r.version.clone(),
        sequence: r.sequence,
        digest: digest.to_string(),
    }
}

/// Opens (creating) the lock file and takes an exclusive lock on it, released when the
/// returned file is dropped (or the process dies).
fn lock(root: &Dir) -> std::io::Result<std::fs::File> {
    step();
    let f = root
        .open_with(
            LOCK_FILE,
            OpenOptions::new().read(true).write(true).create(true),
        )?
        .into_std();
    f.lock()?;
    Ok(f)
}

fn encode_state(state: &State) -> Vec<u8> {
    // Serializing plain structs, strings and integers cannot fail.
    let body = serde_json::to_vec_pretty(state).unwrap_or_default();
    let mut out = format!("{STATE_MAGIC} {}\n", digest_hex(&body)).into_bytes();
    out.extend_from_slice(&body);
    out.push(b'\n');
    out
}

fn decode_state(bytes: &[u8]) -> Result<State, String> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| "the header is not UTF-8")?;
    let digest = header
        .strip_prefix(STATE_MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            format!(
                "the header {:?} is not `{STATE_MAGIC} <sha256>`",
                header.get(..40).unwrap_or(header)
            )
        })?;
    let body = bytes[nl + 1..]
        .strip_suffix(b"\n")
        .ok_or("it does not end with a newline (truncated?)")?;
    let got = digest_hex(body);
    if got != digest {
        return Err(format!(
            "its content's SHA-256 is {got}, the header records {digest}"
        ));
    }
    let state: State = serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?;
    validate_state(&state)?;
    Ok(state)
}

/// The invariants every state written by this module satisfies.
fn validate_state(state: &State) -> Result<(), String> {
    for (name, m) in &state.models {
        validate_name(name).map_err(|r| format!("model {name:?}: {r}"))?;
        for d in m.versions.keys() {
            if !is_digest(d) {
                return Err(format!("model `{name}`: {d:?} is not a SHA-256 digest"));
            }
        }
        for (what, d) in [("active", &m.active), ("previous", &m.previous)] {
            if let Some(d) = d
                && !m.versions.contains_key(d)
            {
                return Err(format!(
                    "model `{name}`: the {what} version {d} is not recorded"
                ));
            }
        }
        if m.previous.is_some() && m.active.is_none() {
            return Err(format!(
                "model `{name}`: a previous version but no active one"
            ));
        }
    }
    Ok(())
}
