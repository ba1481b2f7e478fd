//! The compile cache: precompiled plugin components on disk, so a plugin is compiled once
//! per engine configuration and later loads only deserialize it.
//!
//! A [`CompileCache`] is one private directory. An entry is keyed by the SHA-256 of the
//! component bytes (the plugin digest) **and** the engine's cache key
//! ([`WasmtimeEngine::cache_key`](crate::engine::WasmtimeEngine::cache_key): a SHA-256 of
//! wasmtime's `precompile_compatibility_hash`, which covers the wasmtime version, the target,
//! the Cranelift flags and every setting that shapes compiled code such as fuel metering and
//! epoch interruption). The file name carries both keys, and so does the file.
//!
//! Entry format (little-endian): magic `EPCC`, format version (`u32`), engine key (32 bytes),
//! plugin digest (32 bytes), payload length (`u64`), SHA-256 of the payload (32 bytes), then
//! the payload (wasmtime's serialized component).
//!
//! An entry is written to a temporary file in the directory, fsynced, renamed over the final
//! name and the directory fsynced, so a reader sees a whole entry or none; processes writing
//! the same entry at once each write their own temporary file and the last rename wins (both
//! contents are equally valid). An entry that is truncated, has a flipped byte, carries
//! another key or is refused by wasmtime is deleted and rebuilt, never loaded
//! ([`CacheOutcome::Rebuilt`] says why). A temporary file left by a writer that was killed
//! is deleted by the next [`CompileCache::open`] once it is older than [`STALE_TMP_AGE`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Magic bytes at the start of every cache entry.
const MAGIC: &[u8; 4] = b"EPCC";
/// Version of the entry format; bump on any change.
const FORMAT_VERSION: u32 = 1;
/// Bytes before the payload.
const HEADER_LEN: usize = 4 + 4 + 32 + 32 + 8 + 32;
/// Extension of entry files.
const ENTRY_EXTENSION: &str = "epcc";
/// Marks the temporary file of an entry being written: `.<entry name>.tmp-<pid>-<n>-<ns>`.
const TMP_MARK: &str = ".tmp-";

/// Age after which [`CompileCache::open`] deletes a temporary file left by an interrupted
/// write. Younger ones are left alone: another process may be writing that entry right
/// now (writing one takes well under a second).
pub const STALE_TMP_AGE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    edgeplug_signing::SelfTest::output_digest([data]).0
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    crate::trust::hex(bytes)
}

/// Why a compile cache cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The directory could not be created, made private or read.
    #[error("compile cache `{path}`: {action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The directory could be written by someone else: its entries could not be trusted.
    #[error("compile cache `{path}` is not private: {reason}")]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What a cached compile did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// No cache was given: compiled.
    Uncached,
    /// The entry was found, verified and deserialized: nothing compiled.
    Hit,
    /// There was no entry: compiled and stored (if storing failed, a warning was logged).
    Miss,
    /// The entry was unusable (the reason says how), deleted, recompiled and stored again.
    Rebuilt {
        /// What was wrong with the entry.
        reason: String,
    },
}

/// A directory of precompiled components. Cheap to clone; share one between engines and
/// threads (entries of different engine configurations live side by side).
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

/// What reading an entry found.
pub(crate) enum Lookup {
    /// A verified entry, deserialized.
    Hit(Component),
    /// No entry.
    Missing,
    /// An entry that cannot be used (already deleted): why.
    Invalid(String),
}

impl CompileCache {
    /// Opens the cache directory `dir`, creating it (and its parents) if needed; a
    /// directory it creates gets mode `0700`. On Unix the directory must be private: not
    /// accessible to group or others (any of the mode bits `0077` set is refused, not
    /// changed) and, on Linux, owned by the user running this process.
    ///
    /// Then it deletes the temporary files of interrupted writes (a process killed while
    /// storing an entry) that are older than [`STALE_TMP_AGE`]; a file that cannot be
    /// deleted only logs a warning.
    ///
    /// Errors: [`CacheError::Io`] if it cannot be created or examined,
    /// [`CacheError::NotPrivate`] if it is not private.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        let io = |action, source| CacheError::Io {
            action,
            path: dir.clone(),
            source,
        };
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| io("cannot create the directory", e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| io("cannot make the directory private (mode 0700)", e))?;
            }
        }
        let meta = fs::metadata(&dir).map_err(|e| io("cannot examine the directory", e))?;
        if !meta.is_dir() {
            return Err(io(
                "not a directory",
                io::Error::from(io::ErrorKind::NotADirectory),
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let mode = meta.mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(CacheError::NotPrivate {
                    path: dir,
                    reason: format!(
                        "other users can access it (mode {mode:03o}); make it private: chmod 700"
                    ),
                });
            }
            #[cfg(target_os = "linux")]
            if let Ok(me) = fs::metadata("/proc/self")
                && me.uid() != meta.uid()
            {
                return Err(CacheError::NotPrivate {
                    path: dir,
                    reason: format!(
                        "it is owned by user {}, this process runs as user {}",
                        meta.uid(),
                        me.uid()
                    ),
                });
            }
        }
        let cache = CompileCache { dir };
        cache.remove_stale_tmp();
        Ok(cache)
    }

    /// Deletes temporary files older than [`STALE_TMP_AGE`] (best effort).
    fn remove_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with('.') && name.contains(TMP_MARK)) {
                continue;
            }
            let stale = entry
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .is_some_and(|m| {
                    m.modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age >= STALE_TMP_AGE)
                });
            if !stale {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed the leftover of an interrupted compile cache write")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove the leftover of an interrupted compile cache write")
                }
            }
        }
    }

    /// Deletes every entry (for any engine key) whose plugin digest `keep` refuses, given
    /// as lower-case hex; temporary files and other files are left alone. Returns how many
    /// entries were deleted. Best effort: a file that cannot be deleted is logged.
    ///
    /// The daemon calls this at start with the digests its store still holds, so entries
    /// of versions that failed their self-test, were removed or were marked bad do not
    /// accumulate.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(&format!(".{ENTRY_EXTENSION}")) else {
                continue;
            };
            let Some((digest, _key)) = stem.split_once('-') else {
                continue;
            };
            let is_digest = digest.len() == 64
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !is_digest || keep(digest) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an unused compile cache entry")
                }
            }
        }
        removed
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of a component with SHA-256 `digest` compiled by an engine with
    /// cache key `engine_key` lives (whether or not it exists):
    /// `DIR/<digest hex>-<first 16 bytes of the engine key, hex>.epcc`.
    pub fn entry_path(&self, engine_key: &[u8; 32], digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.{ENTRY_EXTENSION}",
            hex(digest),
            hex(&engine_key[..16])
        ))
    }

    /// Reads, verifies and deserializes the entry for (`engine_key`, `digest`). An
    /// unusable entry is deleted.
    pub(crate) fn load(&self, engine: &Engine, engine_key: &[u8; 32], digest: &[u8; 32]) -> Lookup {
        let path = self.entry_path(engine_key, digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read compile cache entry; recompiling");
                return Lookup::Invalid(format!("cannot read it: {e}"));
            }
        };
        let invalid = |reason: String| {
            // Best effort: a concurrent writer may already have replaced it (then the next
            // load misses and rebuilds it once more).
            let _ = fs::remove_file(&path);
            tracing::warn!(path = %path.display(), %reason, "invalid compile cache entry deleted; recompiling");
            Lookup::Invalid(reason)
        };
        let payload = match check_entry(&bytes, engine_key, digest) {
            Ok(p) => p,
            Err(reason) => return invalid(reason),
        };
        // SAFETY: `Component::deserialize` requires bytes produced by wasmtime's
        // `serialize`/`precompile_component` for a compatible engine, because it maps them
        // as executable code without validating it. These bytes are trusted as such:
        // - only `store` writes entries, with the output of `Component::serialize`, and it
        //   writes them atomically (temporary file, fsync, rename), so no partial entry
        //   is ever visible under an entry name;
        // - `check_entry` has just checked, on exactly the bytes deserialized here (read
        //   into memory once: no re-read between check and use), the magic, the format
        //   version, that the engine key and plugin digest are the expected ones, the
        //   payload length and the SHA-256 of the payload recorded when it was written, so
        //   a truncated, bit-flipped, stale or misplaced entry never gets here;
        // - the directory is private (`open` refuses one that group or others can access,
        //   or, on Linux, that another user owns): writing a forged entry with a matching
        //   hash needs the rights of the user running this process, who can already run
        //   any code as this process. The hash detects accidents (a torn or flipped
        //   write, a full disk), the directory's permissions keep others out.
        // wasmtime then checks the engine compatibility itself and errors on a mismatch.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, payload) };
        match component {
            Ok(c) => Lookup::Hit(c),
            Err(e) => invalid(format!("wasmtime refused it: {e}")),
        }
    }

    /// Stores `serialized` (from `Component::serialize`) as the entry for (`engine_key`,
    /// `digest`), atomically.
    pub(crate) fn store(
        &self,
        engine_key: &[u8; 32],
        digest: &[u8; 32],
        serialized: &[u8],
    ) -> io::Result<()> {
        let path = self.entry_path(engine_key, digest);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(engine_key);
        header.extend_from_slice(digest);
        header.extend_from_slice(&(serialized.len() as u64).to_le_bytes());
        header.extend_from_slice(&sha256(serialized));
        debug_assert_eq!(header.len(), HEADER_LEN);

        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = self.dir.join(format!(
            ".{}{TMP_MARK}{}-{}-{nanos}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(&header)?;
            file.write_all(serialized)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            // Make the rename durable.
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Checks an entry's header and payload hash; returns the payload.
fn check_entry<'a>(
    bytes: &'a [u8],
    engine_key: &[u8; 32],
    digest: &[u8; 32],
) -> Result<&'a [u8], String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    if &header[..4] != MAGIC {
        return Err("not a compile cache entry (bad magic)".into());
    }
    let version = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "entry format {version}, this host writes {FORMAT_VERSION}"
        ));
    }
    if header[8..40] != engine_key[..] {
        return Err("written for another engine configuration".into());
    }
    if header[40..72] != digest[..] {
        return Err("written for another plugin".into());
    }
    let mut len = [0; 8];
    len.copy_from_slice(&header[72..80]);
    let len = u64::from_le_bytes(len);
    if len != payload.len() as u64 {
        return Err(format!(
            "truncated or extended: the payload has {} bytes, the header says {len}",
            payload.len()
        ));
    }
    if header[80..112] != sha256(payload) {
        return Err("corrupted: the payload's SHA-256 does not match its header".into());
    }
    Ok(payload)
}
