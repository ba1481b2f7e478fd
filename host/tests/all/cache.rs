//! The compile cache (issue 6): a hit after a miss gives identical outputs; a truncated,
//! bit-flipped, misplaced or forged entry is detected, deleted and rebuilt, never loaded;
//! engine configurations that compile differently get different keys; concurrent writers
//! of one entry are safe.

use crate::cli::tmpdir;
use edgeplug::cache::{CacheError, CacheOutcome, CompileCache};
use edgeplug::engine::{EngineConfig, WasmtimeEngine};
use edgeplug::{ModelFile, pack_plugin};
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo");

/// The demo vibration model packed into the runner plugin (a real, ~250 KB component).
fn demo_plugin() -> Vec<u8> {
    let file = ModelFile::open(Path::new(DEMO).join("vibration_int8.tflite")).unwrap();
    pack_plugin(&file, "vibration", "1.0.0", &[]).unwrap()
}

/// The demo's sample inputs.
fn samples() -> Vec<Vec<u8>> {
    ["normal", "imbalance"]
        .iter()
        .map(|s| std::fs::read(Path::new(DEMO).join("samples").join(format!("{s}.bin"))).unwrap())
        .collect()
}

/// Outputs of `engine`'s compile (through `cache`) on every sample, and what the cache did.
fn run(
    engine: &WasmtimeEngine,
    bytes: &[u8],
    cache: &CompileCache,
) -> (Vec<Vec<u8>>, CacheOutcome) {
    let compiled = engine
        .compile_cached("demo.wasm", bytes, Some(cache))
        .unwrap();
    let mut instance = compiled.instantiate().unwrap();
    let outputs = samples()
        .iter()
        .map(|s| {
            let spec = instance.info().inputs[0].clone();
            let input = [edgeplug::engine::TensorRef {
                shape: &spec.shape,
                dtype: spec.dtype,
                data: s,
            }];
            instance.infer(&input).unwrap().remove(0).data
        })
        .collect();
    (outputs, compiled.cache_outcome().clone())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    edgeplug_signing::SelfTest::output_digest([bytes]).0
}

fn entry(cache: &CompileCache, engine: &WasmtimeEngine, bytes: &[u8]) -> PathBuf {
    cache.entry_path(&engine.cache_key(), &sha256(bytes))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn rebuilt_because(outcome: &CacheOutcome, needle: &str) {
    match outcome {
        CacheOutcome::Rebuilt { reason } => {
            assert!(reason.contains(needle), "`{needle}` not in: {reason}")
        }
        other => panic!("expected a rebuild ({needle}), got {other:?}"),
    }
}

#[test]
fn a_hit_after_a_miss_gives_identical_outputs() {
    let dir = tmpdir("cache-hit").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let (uncached, outcome) = {
        let compiled = engine.compile("demo.wasm", &bytes).unwrap();
        (compiled, CacheOutcome::Uncached)
    };
    assert_eq!(uncached.cache_outcome(), &outcome);
    let (first, outcome) = run(&engine, &bytes, &cache);
    assert_eq!(outcome, CacheOutcome::Miss);
    assert!(entry(&cache, &engine, &bytes).is_file());
    let (second, outcome) = run(&engine, &bytes, &cache);
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(first, second);
    // And equal to the native executor's outputs.
    let file = ModelFile::open(Path::new(DEMO).join("vibration_int8.tflite")).unwrap();
    let model = file.model().unwrap();
    let mut interp = edgeplug_model::Interpreter::new(&model).unwrap();
    let out = &model.tensors[model.outputs[0] as usize];
    for (input, got) in samples().iter().zip(&first) {
        let mut native = vec![0u8; out.byte_len().unwrap()];
        interp.invoke(&[input], &mut [&mut native]).unwrap();
        assert_eq!(&native, got);
    }
    // One entry, no temporary files left behind.
    assert_eq!(entries(&dir).len(), 1, "{:?}", entries(&dir));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}

#[test]
fn corrupted_entries_are_detected_deleted_and_rebuilt() {
    let dir = tmpdir("cache-corrupt").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let (good, outcome) = run(&engine, &bytes, &cache);
    assert_eq!(outcome, CacheOutcome::Miss);
    let path = entry(&cache, &engine, &bytes);
    let pristine = std::fs::read(&path).unwrap();

    // (what to do to the entry, the reason the rebuild gives)
    let len = pristine.len();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A flipped bit in the payload, in its middle and in its last byte.
        (flip(&pristine, len / 2), "corrupted"),
        (flip(&pristine, len - 1), "corrupted"),
        // A flipped bit in the header: magic, key, digest, length, hash.
        (flip(&pristine, 0), "magic"),
        (flip(&pristine, 10), "another engine"),
        (flip(&pristine, 50), "another plugin"),
        (flip(&pristine, 72), "header says"),
        (flip(&pristine, 100), "corrupted"),
        // Truncations: inside the payload, inside the header, empty.
        (pristine[..len - 1].to_vec(), "truncated"),
        (pristine[..len / 2].to_vec(), "truncated"),
        (pristine[..20].to_vec(), "truncated"),
        (Vec::new(), "truncated"),
        // Extra bytes.
        ([pristine.as_slice(), b"x"].concat(), "header says"),
    ];
    for (damaged, reason) in cases {
        std::fs::write(&path, &damaged).unwrap();
        let (outputs, outcome) = run(&engine, &bytes, &cache);
        rebuilt_because(&outcome, reason);
        assert_eq!(outputs, good);
        // Rewritten whole: the next load is a hit on the same bytes.
        assert_eq!(std::fs::read(&path).unwrap().len(), pristine.len());
        let (outputs, outcome) = run(&engine, &bytes, &cache);
        assert_eq!(outcome, CacheOutcome::Hit, "after {reason}");
        assert_eq!(outputs, good);
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x10;
    b
}

#[test]
fn a_forged_entry_with_a_matching_hash_is_refused_by_wasmtime_and_rebuilt() {
    // A payload that is not wasmtime's, with a header whose hash matches it: the hash check
    // passes, wasmtime's own checks refuse it, and it is rebuilt.
    let dir = tmpdir("cache-forged").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let payload = b"\x7fELF but not really a wasmtime artifact".to_vec();
    let mut forged = b"EPCC".to_vec();
    forged.extend_from_slice(&1u32.to_le_bytes());
    forged.extend_from_slice(&engine.cache_key());
    forged.extend_from_slice(&sha256(&bytes));
    forged.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    forged.extend_from_slice(&sha256(&payload));
    forged.extend_from_slice(&payload);
    std::fs::write(entry(&cache, &engine, &bytes), &forged).unwrap();
    let (_, outcome) = run(&engine, &bytes, &cache);
    rebuilt_because(&outcome, "wasmtime refused it");
    let (_, outcome) = run(&engine, &bytes, &cache);
    assert_eq!(outcome, CacheOutcome::Hit);
}

#[test]
fn an_entry_under_the_wrong_key_is_rebuilt() {
    let dir = tmpdir("cache-key").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let plain = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let metered = WasmtimeEngine::new(&EngineConfig {
        fuel: Some(1 << 40),
        ..EngineConfig::default()
    })
    .unwrap();
    assert_eq!(run(&plain, &bytes, &cache).1, CacheOutcome::Miss);
    // The plain engine's entry copied to where the metered engine looks.
    std::fs::copy(
        entry(&cache, &plain, &bytes),
        entry(&cache, &metered, &bytes),
    )
    .unwrap();
    let (outputs, outcome) = run(&metered, &bytes, &cache);
    rebuilt_because(&outcome, "another engine configuration");
    assert_eq!(outputs, run(&plain, &bytes, &cache).0);
    // Another plugin's entry under this plugin's name.
    let other = {
        let file = ModelFile::open(Path::new(DEMO).join("vibration_int8.tflite")).unwrap();
        pack_plugin(&file, "vibration", "2.0.0", &[]).unwrap()
    };
    std::fs::copy(entry(&cache, &plain, &bytes), entry(&cache, &plain, &other)).unwrap();
    let compiled = plain
        .compile_cached("other.wasm", &other, Some(&cache))
        .unwrap();
    rebuilt_because(compiled.cache_outcome(), "another plugin");
    let info = compiled.instantiate().unwrap().info().clone();
    assert_eq!(info.version, "2.0.0");
}

#[test]
fn engine_configurations_that_compile_differently_get_different_keys() {
    let with = |config: EngineConfig| WasmtimeEngine::new(&config).unwrap().cache_key();
    let base = with(EngineConfig::default());
    let fuel = with(EngineConfig {
        fuel: Some(10),
        ..EngineConfig::default()
    });
    let deadline = with(EngineConfig {
        deadline: Some(Duration::from_millis(10)),
        ..EngineConfig::default()
    });
    assert_ne!(base, fuel);
    assert_ne!(base, deadline);
    assert_ne!(fuel, deadline);
    // Per-instance limits do not change the key (same engine, same code).
    assert_eq!(
        base,
        with(EngineConfig {
            max_memory_bytes: 1 << 20,
            max_output_bytes: 100,
            ..EngineConfig::default()
        })
    );
    assert_eq!(
        fuel,
        with(EngineConfig {
            fuel: Some(99),
            ..EngineConfig::default()
        })
    );
    // Both kinds of entries live side by side.
    let dir = tmpdir("cache-configs").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    for config in [
        EngineConfig::default(),
        EngineConfig {
            fuel: Some(1 << 40),
            ..EngineConfig::default()
        },
    ] {
        let engine = WasmtimeEngine::new(&config).unwrap();
        assert_eq!(run(&engine, &bytes, &cache).1, CacheOutcome::Miss);
        assert_eq!(run(&engine, &bytes, &cache).1, CacheOutcome::Hit);
    }
    assert_eq!(entries(&dir).len(), 2);
}

#[test]
fn concurrent_writers_of_one_entry_are_safe() {
    let dir = tmpdir("cache-race").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let expected = engine
        .compile("demo.wasm", &bytes)
        .unwrap()
        .instantiate()
        .unwrap()
        .infer_raw_first(&samples()[0]);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let compiled = engine
                        .compile_cached("demo.wasm", &bytes, Some(&cache))
                        .unwrap();
                    compiled
                        .instantiate()
                        .unwrap()
                        .infer_raw_first(&samples()[0])
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    });
    assert_eq!(entries(&dir).len(), 1, "{:?}", entries(&dir));
    let compiled = engine
        .compile_cached("demo.wasm", &bytes, Some(&cache))
        .unwrap();
    assert_eq!(compiled.cache_outcome(), &CacheOutcome::Hit);
}

trait FirstOutput {
    fn infer_raw_first(&mut self, input: &[u8]) -> Vec<u8>;
}

impl FirstOutput for edgeplug::engine::WasmtimeInstance {
    fn infer_raw_first(&mut self, input: &[u8]) -> Vec<u8> {
        let spec = self.info().inputs[0].clone();
        let refs = [edgeplug::engine::TensorRef {
            shape: &spec.shape,
            dtype: spec.dtype,
            data: input,
        }];
        self.infer(&refs).unwrap().remove(0).data
    }
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let dir = tmpdir("cache-public").join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(&dir).unwrap_err();
        assert!(matches!(err, CacheError::NotPrivate { .. }), "{err}");
        assert!(err.to_string().contains("chmod 700"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    CompileCache::open(&dir).unwrap();
    // A file is not a cache directory.
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(CompileCache::open(&file).is_err());
}

#[test]
fn open_removes_stale_temporary_files_of_interrupted_writes_only() {
    let dir = tmpdir("cache-leftovers").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let bytes = demo_plugin();
    let engine = WasmtimeEngine::new(&EngineConfig::default()).unwrap();
    let entry = entry(&cache, &engine, &bytes);
    let entry_name = entry.file_name().unwrap().to_str().unwrap().to_string();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let write = |name: &str, old: bool| {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &f, b"half an entry").unwrap();
        if old {
            f.set_modified(hour_ago).unwrap();
        }
        path
    };
    // What a writer killed an hour ago left (the name `CompileCache` gives its temporary
    // files), one being written right now by another process, an old entry and an old file
    // that is not the cache's.
    let stale = write(&format!(".{entry_name}.tmp-4242-0-123456789"), true);
    let fresh = write(&format!(".{entry_name}.tmp-4243-0-987654321"), false);
    let old_entry = write(&entry_name, true);
    let other = write("README", true);
    assert!(
        stale
            .metadata()
            .unwrap()
            .modified()
            .unwrap()
            .elapsed()
            .unwrap()
            >= edgeplug::cache::STALE_TMP_AGE
    );
    CompileCache::open(&dir).unwrap();
    assert!(!stale.exists(), "the stale temporary file is still there");
    for kept in [&fresh, &old_entry, &other] {
        assert!(kept.exists(), "{kept:?} was removed");
    }
    // The old entry is garbage: it is rebuilt, not loaded.
    let compiled = engine
        .compile_cached("demo.wasm", &bytes, Some(&cache))
        .unwrap();
    assert!(
        matches!(compiled.cache_outcome(), CacheOutcome::Rebuilt { .. }),
        "{:?}",
        compiled.cache_outcome()
    );
}

#[test]
fn retain_deletes_only_the_entries_of_refused_digests() {
    let dir = tmpdir("cache-retain").join("cache");
    let cache = CompileCache::open(&dir).unwrap();
    let (kept, dropped) = ([1u8; 32], [2u8; 32]);
    let (key_a, key_b) = ([0xaa; 32], [0xbb; 32]);
    let touch = |path: PathBuf| {
        std::fs::write(&path, b"an entry").unwrap();
        path
    };
    let kept_a = touch(cache.entry_path(&key_a, &kept));
    let kept_b = touch(cache.entry_path(&key_b, &kept));
    let dropped_a = touch(cache.entry_path(&key_a, &dropped));
    let dropped_b = touch(cache.entry_path(&key_b, &dropped));
    let name = dropped_a.file_name().unwrap().to_str().unwrap().to_string();
    let tmp = touch(dir.join(format!(".{name}.tmp-1-0-1")));
    let other = touch(dir.join("notes.epcc"));
    let kept_hex: String = kept.iter().map(|b| format!("{b:02x}")).collect();
    let removed = cache.retain(|digest| digest == kept_hex);
    assert_eq!(removed, 2);
    for p in [&kept_a, &kept_b, &tmp, &other] {
        assert!(p.exists(), "{} was deleted", p.display());
    }
    for p in [&dropped_a, &dropped_b] {
        assert!(!p.exists(), "{} was kept", p.display());
    }
    assert_eq!(cache.retain(|_| true), 0);
}
