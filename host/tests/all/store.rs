//! The plugin store and `edgeplug install`/`store`.

use crate::cli::{assert_one_line_error, edgeplug, p, tmpdir};
use edgeplug::ModelFile;
use edgeplug::package::{PackageOptions, package_plugin};
use edgeplug::store::{InstallOptions, Installed, Store, StoreError, digest_hex, validate_name};
use edgeplug::trust::{TrustError, TrustStore};
use edgeplug_signing::SecretKey;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DEMO_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/vibration_int8.tflite");

/// The model name every fixture plugin carries.
pub(crate) const NAME: &str = "vibration";

/// Signed demo plugins, packed once per test run (packing measures on both engines).
pub(crate) struct Fixtures {
    /// The trusted key.
    pub(crate) key: SecretKey,
    /// `1.0.0` sequence 1, `2.0.0` sequence 2, `3.0.0` sequence 3, `3.0.1` sequence 3.
    pub(crate) v1: Vec<u8>,
    pub(crate) v2: Vec<u8>,
    pub(crate) v3: Vec<u8>,
    pub(crate) v3b: Vec<u8>,
    /// `4.0.0` sequence 4, signed with another key (untrusted).
    pub(crate) untrusted: Vec<u8>,
    /// Unsigned `4.0.0` sequence 4.
    pub(crate) unsigned: Vec<u8>,
    /// Signed with the trusted key, but named `../x`.
    pub(crate) escaping: Vec<u8>,
}

fn pack(name: &str, version: &str, sequence: u64, key: Option<&SecretKey>) -> Vec<u8> {
    let file = ModelFile::open(DEMO_MODEL).unwrap();
    package_plugin(
        &file,
        &PackageOptions {
            name: name.into(),
            version: version.into(),
            sequence,
            key: key.cloned(),
            ..PackageOptions::default()
        },
    )
    .unwrap()
    .bytes
}

pub(crate) fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let key = SecretKey::from_seed([61; 32]);
        let other = SecretKey::from_seed([62; 32]);
        Fixtures {
            v1: pack(NAME, "1.0.0", 1, Some(&key)),
            v2: pack(NAME, "2.0.0", 2, Some(&key)),
            v3: pack(NAME, "3.0.0", 3, Some(&key)),
            v3b: pack(NAME, "3.0.1", 3, Some(&key)),
            untrusted: pack(NAME, "4.0.0", 4, Some(&other)),
            unsigned: pack(NAME, "4.0.0", 4, None),
            escaping: pack("../x", "1.0.0", 1, Some(&key)),
            key,
        }
    })
}

pub(crate) fn trust(f: &Fixtures) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_key(f.key.public_key(), "store test key").unwrap();
    t
}

/// Writes the fixtures and the public key into `dir`: `v1.wasm`, `v2.wasm`, `v3.wasm`,
/// `v3b.wasm`, `key.pub`.
pub(crate) fn write_fixtures(dir: &Path) -> PathBuf {
    let f = fixtures();
    for (n, b) in [("v1", &f.v1), ("v2", &f.v2), ("v3", &f.v3), ("v3b", &f.v3b)] {
        std::fs::write(dir.join(format!("{n}.wasm")), b).unwrap();
    }
    let public = dir.join("key.pub");
    std::fs::write(&public, f.key.public_key().to_bytes()).unwrap();
    public
}

/// A store's one model as (active version, previous version, highest sequence, versions
/// with their bad marks).
pub(crate) type Summary = (Option<String>, Option<String>, u64, Vec<(String, bool)>);

fn summary(store: &Store) -> Summary {
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let m = &list[0];
    (
        m.active.as_ref().map(|i| i.version.clone()),
        m.previous.as_ref().map(|i| i.version.clone()),
        m.highest_sequence,
        m.versions
            .iter()
            .map(|v| (v.version.clone(), v.bad))
            .collect(),
    )
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn install_stage_promote_rollback_and_anti_rollback_across_reopen() {
    let f = fixtures();
    let t = trust(f);
    let dir = tmpdir("store-lifecycle").join("store");
    let store = Store::open(&dir).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(store.active(NAME).unwrap().is_none());

    let i1 = store.install(&f.v1, &t).unwrap();
    assert_eq!(
        i1,
        Installed {
            name: NAME.into(),
            version: "1.0.0".into(),
            sequence: 1,
            digest: digest_hex(&f.v1),
        }
    );
    let (active, bytes) = store.active(NAME).unwrap().unwrap();
    assert_eq!((active, bytes), (i1.clone(), f.v1.clone()));

    let i2 = store.install(&f.v2, &t).unwrap();
    assert_eq!(
        summary(&store),
        (
            some("2.0.0"),
            some("1.0.0"),
            2,
            vec![("1.0.0".into(), false), ("2.0.0".into(), false)]
        )
    );
    // Installing the active version again changes nothing.
    assert_eq!(store.install(&f.v2, &t).unwrap(), i2);
    assert_eq!(summary(&store).1, some("1.0.0"));

    // Staged: stored, not active, floor unchanged.
    let i3 = store.stage(&f.v3, &t).unwrap();
    assert_eq!(
        summary(&store),
        (
            some("2.0.0"),
            some("1.0.0"),
            2,
            vec![
                ("1.0.0".into(), false),
                ("2.0.0".into(), false),
                ("3.0.0".into(), false)
            ]
        )
    );
    assert_eq!(store.active(NAME).unwrap().unwrap().0, i2);
    store.promote(NAME, &i3.digest).unwrap();
    assert_eq!(store.active(NAME).unwrap().unwrap().1, f.v3);
    assert_eq!(
        (summary(&store).0, summary(&store).1, summary(&store).2),
        (some("3.0.0"), some("2.0.0"), 3)
    );
    let err = store.promote(NAME, &"0".repeat(64)).unwrap_err();
    assert!(matches!(err, StoreError::UnknownVersion { .. }), "{err}");

    // Rollback: back to 2.0.0, 3.0.0 marked bad, floor stays 3.
    let back = store.rollback(NAME).unwrap();
    assert_eq!(back, i2);
    assert_eq!(
        summary(&store),
        (
            some("2.0.0"),
            None,
            3,
            vec![
                ("1.0.0".into(), false),
                ("2.0.0".into(), false),
                ("3.0.0".into(), true)
            ]
        )
    );
    let err = store.rollback(NAME).unwrap_err();
    assert!(matches!(err, StoreError::NoPrevious { .. }), "{err}");
    assert!(err.to_string().contains("no previous version"), "{err}");
    // The bad version can be neither promoted nor installed again.
    let err = store.promote(NAME, &i3.digest).unwrap_err();
    assert!(matches!(err, StoreError::MarkedBad { .. }), "{err}");
    let err = store.install(&f.v3, &t).unwrap_err();
    assert!(matches!(err, StoreError::MarkedBad { .. }), "{err}");
    assert!(err.to_string().contains("3.0.0"), "{err}");
    // Promoting the active version (below the floor after the rollback) changes nothing.
    store.promote(NAME, &i2.digest).unwrap();
    // Downgrades are refused, also those equal to the active version's sequence.
    let err = store.install(&f.v1, &t).unwrap_err();
    match &err {
        StoreError::Downgrade {
            model,
            sequence,
            highest,
            ..
        } => assert_eq!((model.as_str(), *sequence, *highest), (NAME, 1, 3)),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("anti-rollback"), "{err}");
    drop(store);

    // Across a restart: the floor is persisted.
    let store = Store::open(&dir).unwrap();
    assert_eq!(summary(&store).2, 3);
    let err = store.install(&f.v2, &t).unwrap_err();
    // 2.0.0 is stored and active, but its sequence 2 is below 3: refused.
    assert!(matches!(err, StoreError::Downgrade { .. }), "{err}");
    let err = store.stage(&f.v1, &t).unwrap_err();
    assert!(matches!(err, StoreError::Downgrade { .. }), "{err}");
    // An equal sequence is accepted (the rule of `check_sequence`).
    let i3b = store.install(&f.v3b, &t).unwrap();
    assert_eq!((i3b.version.as_str(), i3b.sequence), ("3.0.1", 3));
    assert_eq!(
        (summary(&store).0, summary(&store).1),
        (some("3.0.1"), some("2.0.0"))
    );
    assert_eq!(store.check().unwrap(), 4);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// The error of a [`Store::stage_checked`] check in the tests below.
#[derive(Debug)]
enum CheckError {
    Store(StoreError),
    Check(&'static str),
}

impl From<StoreError> for CheckError {
    fn from(e: StoreError) -> Self {
        CheckError::Store(e)
    }
}

/// Names of the files in `dir/blobs`, sorted.
fn blob_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn stage_checked_runs_the_callers_check_once_and_a_failing_check_commits_nothing() {
    let f = fixtures();
    let t = trust(f);
    let dir = tmpdir("store-checked").join("store");
    let store = Store::open(&dir).unwrap();
    store.install(&f.v1, &t).unwrap();
    let before = summary(&store);
    let blobs_before = blob_names(&dir);
    let state_before = std::fs::read(dir.join("state")).unwrap();
    let options = InstallOptions::default();

    // A failing check: its error comes back unchanged and nothing is written.
    let mut calls = 0;
    let r = store.stage_checked(&f.v2, &t, &options, |staged, manifest| {
        calls += 1;
        assert_eq!(staged.digest, digest_hex(&f.v2));
        assert_eq!((staged.version.as_str(), staged.sequence), ("2.0.0", 2));
        assert_eq!(manifest.name, NAME);
        Err::<(), _>(CheckError::Check("self-test failed"))
    });
    assert!(
        matches!(r, Err(CheckError::Check("self-test failed"))),
        "{r:?}"
    );
    assert_eq!(calls, 1);
    assert_eq!(summary(&store), before);
    assert_eq!(blob_names(&dir), blobs_before);
    assert_eq!(std::fs::read(dir.join("state")).unwrap(), state_before);
    assert_eq!(summary(&Store::open(&dir).unwrap()), before);

    // Refused before the check (not signed by a trusted key): the check never runs.
    let r = store.stage_checked(
        &f.untrusted,
        &t,
        &options,
        |_, _| -> Result<(), CheckError> { panic!("the check ran on an untrusted plugin") },
    );
    assert!(
        matches!(r, Err(CheckError::Store(StoreError::Refused { .. }))),
        "{r:?}"
    );

    // A passing check: its value comes back, the version is staged (not active).
    let (staged, sequence) = store
        .stage_checked(&f.v2, &t, &options, |_, manifest| {
            Ok::<_, CheckError>(manifest.sequence)
        })
        .unwrap();
    assert_eq!(sequence, 2);
    assert_eq!(staged.digest, digest_hex(&f.v2));
    assert_eq!(
        summary(&store),
        (
            some("1.0.0"),
            None,
            1,
            vec![("1.0.0".into(), false), ("2.0.0".into(), false)]
        )
    );
    store.promote(NAME, &staged.digest).unwrap();
    assert_eq!(summary(&store).0, some("2.0.0"));

    // Below the floor: refused before the check.
    let r = store.stage_checked(&f.v1, &t, &options, |_, _| -> Result<(), CheckError> {
        panic!("the check ran on a downgrade")
    });
    assert!(
        matches!(r, Err(CheckError::Store(StoreError::Downgrade { .. }))),
        "{r:?}"
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn unsigned_tampered_untrusted_and_escaping_plugins_are_refused() {
    let f = fixtures();
    let t = trust(f);
    let base = tmpdir("store-refuse");
    let dir = base.join("store");
    let store = Store::open(&dir).unwrap();
    let refused = |bytes: &[u8], trust: &TrustStore| match store.install(bytes, trust) {
        Err(StoreError::Refused { source, .. }) => source,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let e = refused(&f.unsigned, &t);
    assert!(e.to_string().contains("not signed"), "{e}");
    let e = refused(&f.untrusted, &t);
    assert!(matches!(e, TrustError::Verify(_)), "{e}");
    let e = refused(&f.v1, &TrustStore::new());
    assert!(matches!(e, TrustError::NoTrustAnchor), "{e}");
    let mut tampered = f.v1.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0x20;
    let e = refused(&tampered, &t);
    assert!(matches!(e, TrustError::Verify(_)), "{e}");
    assert!(e.to_string().contains("check failed"), "{e}");
    let err = store.stage(&tampered, &t).unwrap_err();
    assert!(err.to_string().contains(p(&dir)), "{err}");

    // A validly signed plugin whose name would be a path: refused before anything is
    // written, inside or outside the store.
    let err = store.install(&f.escaping, &t).unwrap_err();
    assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
    assert!(err.to_string().contains("\"../x\""), "{err}");
    assert!(!base.join("x").exists());
    for name in [
        "../x",
        "/etc/passwd",
        "..",
        ".hidden",
        "",
        "a/b",
        "a\\b",
        "é",
    ] {
        assert!(validate_name(name).is_err(), "{name:?}");
        let err = store.rollback(name).unwrap_err();
        assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
        let err = store.active(name).unwrap_err();
        assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
        let err = store.promote(name, &digest_hex(&f.v1)).unwrap_err();
        assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
    }
    for name in ["kws", "vibration", "ad-01", "m_2.v3", &"a".repeat(128)] {
        assert!(validate_name(name).is_ok(), "{name:?}");
    }
    assert!(validate_name(&"a".repeat(129)).is_err());
    let err = store.rollback("kws").unwrap_err();
    assert!(matches!(err, StoreError::UnknownModel { .. }), "{err}");

    // Nothing was stored.
    assert!(store.list().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.join("blobs")).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn symlinks_out_of_the_store_are_not_followed() {
    let f = fixtures();
    let t = trust(f);
    let base = tmpdir("store-confine");
    let outside = base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let dir = base.join("store");
    drop(Store::open(&dir).unwrap());
    // `blobs` replaced by a symlink to a directory outside the store.
    std::fs::remove_dir(dir.join("blobs")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("blobs")).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("blobs"), "{err}");
    // A relative one too.
    std::fs::remove_file(dir.join("blobs")).unwrap();
    std::os::unix::fs::symlink("../outside", dir.join("blobs")).unwrap();
    assert!(Store::open(&dir).is_err());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);

    // The state file as a symlink to a file outside: not read.
    std::fs::remove_file(dir.join("blobs")).unwrap();
    std::fs::create_dir(dir.join("blobs")).unwrap();
    let state = std::fs::read(dir.join("state")).unwrap();
    std::fs::write(outside.join("state"), &state).unwrap();
    std::fs::remove_file(dir.join("state")).unwrap();
    std::os::unix::fs::symlink(outside.join("state"), dir.join("state")).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(err.to_string().contains("state"), "{err}");
    std::fs::remove_file(dir.join("state")).unwrap();
    std::fs::write(dir.join("state"), &state).unwrap();
    let store = Store::open(&dir).unwrap();
    store.install(&f.v1, &t).unwrap();
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&base);
}

/// Flips one bit of byte `at` (from the end if negative) of `path`.
fn flip(path: &Path, at: isize) {
    let mut b = std::fs::read(path).unwrap();
    let i = if at < 0 {
        b.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    b[i] ^= 1;
    std::fs::write(path, b).unwrap();
}

#[test]
fn corrupted_state_missing_and_corrupted_blobs_and_leftovers() {
    let f = fixtures();
    let t = trust(f);
    let base = tmpdir("store-corrupt");
    let dir = base.join("store");
    let store = Store::open(&dir).unwrap();
    let i1 = store.install(&f.v1, &t).unwrap();
    let i2 = store.install(&f.v2, &t).unwrap();
    drop(store);
    let state_path = dir.join("state");
    let state = std::fs::read(&state_path).unwrap();
    let restore = || std::fs::write(&state_path, &state).unwrap();

    // A flipped bit anywhere in the state file, truncation, emptiness, another format.
    for at in [-10, 5, 40] {
        flip(&state_path, at);
        let err = Store::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::CorruptState { .. }), "{err}");
        assert!(err.to_string().contains("corrupted"), "{err}");
        restore();
    }
    std::fs::write(&state_path, &state[..state.len() - 30]).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::CorruptState { .. }), "{err}");
    std::fs::write(&state_path, b"").unwrap();
    assert!(matches!(
        Store::open(&dir).unwrap_err(),
        StoreError::CorruptState { .. }
    ));
    std::fs::write(&state_path, b"edgeplug-store 9 00\n{}\n").unwrap();
    assert!(matches!(
        Store::open(&dir).unwrap_err(),
        StoreError::CorruptState { .. }
    ));
    // A deleted state file is not silently recreated (that would reset the floor).
    std::fs::remove_file(&state_path).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore(_)), "{err}");
    restore();
    // Neither is a directory that is not a store taken over.
    let other = base.join("home");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let err = Store::open(&other).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore(_)), "{err}");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);

    // Leftovers of interrupted writes are removed on open; unknown files are left alone.
    let blobs = dir.join("blobs");
    std::fs::write(dir.join(".tmp-state-1-0"), b"partial").unwrap();
    std::fs::write(blobs.join(".tmp-abc-1-0"), b"partial").unwrap();
    let orphan = blobs.join(digest_hex(b"orphan"));
    std::fs::write(&orphan, b"orphan").unwrap();
    std::fs::write(blobs.join("README"), b"not ours").unwrap();
    let store = Store::open(&dir).unwrap();
    assert!(!dir.join(".tmp-state-1-0").exists());
    assert!(!blobs.join(".tmp-abc-1-0").exists());
    assert!(!orphan.exists());
    assert!(blobs.join("README").exists());
    assert_eq!(store.check().unwrap(), 2);
    drop(store);

    // A corrupted blob of the same size: found when read (open only checks sizes), and
    // rollback refuses to go to it.
    let b1 = blobs.join(&i1.digest);
    flip(&b1, 100);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.active(NAME).unwrap().unwrap().0, i2);
    let err = store.rollback(NAME).unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    assert!(err.to_string().contains("1.0.0"), "{err}");
    assert_eq!(summary(&store).0, some("2.0.0"));
    let err = store.check().unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    let err = store.version_bytes(NAME, &i1.digest).unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    flip(&blobs.join(&i2.digest), 100);
    let err = store.active(NAME).unwrap_err();
    assert!(err.to_string().contains("2.0.0"), "{err}");
    assert!(err.to_string().contains(&i2.digest), "{err}");
    // Installing the same plugin again repairs its damaged copy.
    store.install(&f.v2, &t).unwrap();
    assert_eq!(store.active(NAME).unwrap().unwrap().1, f.v2);
    drop(store);
    // A truncated blob: found on open.
    std::fs::write(&b1, &f.v1[..1000]).unwrap();
    let err = Store::open(&dir).unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    assert!(err.to_string().contains("1000 bytes"), "{err}");
    // A missing blob: found on open, naming the model and version.
    std::fs::remove_file(&b1).unwrap();
    let err = Store::open(&dir).unwrap_err();
    match &err {
        StoreError::MissingBlob {
            model,
            version,
            digest,
            ..
        } => assert_eq!(
            (model.as_str(), version.as_str(), digest.as_str()),
            (NAME, "1.0.0", i1.digest.as_str())
        ),
        other => panic!("{other}"),
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn two_stores_on_one_directory_serialize_their_changes() {
    // Two handles (as a daemon and `edgeplug install` would have) see each other's changes:
    // every change re-reads the state under the lock.
    let f = fixtures();
    let t = trust(f);
    let base = tmpdir("store-two");
    let dir = base.join("store");
    let a = Store::open(&dir).unwrap();
    let b = Store::open(&dir).unwrap();
    a.install(&f.v1, &t).unwrap();
    b.install(&f.v2, &t).unwrap();
    assert_eq!(summary(&a).0, some("2.0.0"));
    assert_eq!(summary(&a).1, some("1.0.0"));
    let err = a.install(&f.v1, &t).unwrap_err();
    assert!(matches!(err, StoreError::Downgrade { .. }), "{err}");
    std::thread::scope(|s| {
        s.spawn(|| a.install(&f.v3, &t).unwrap());
        s.spawn(|| b.install(&f.v3b, &t).unwrap());
    });
    let (active, previous, highest, versions) = summary(&a);
    assert_eq!(highest, 3);
    assert_eq!(versions.len(), 4);
    // Whichever came second is active, the other previous.
    let mut both = [active.unwrap(), previous.unwrap()];
    both.sort();
    assert_eq!(both, ["3.0.0".to_string(), "3.0.1".to_string()]);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn cli_install_list_and_rollback() {
    let base = tmpdir("store-cli");
    let public = write_fixtures(&base);
    let store = base.join("store");
    let s = p(&store);
    let install = |v: &str| {
        let plugin = base.join(format!("{v}.wasm"));
        edgeplug(&["install", p(&plugin), "--store", s, "--trust", p(&public)])
    };
    for v in ["v1", "v2"] {
        let out = install(v);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = install("v2");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("installed `vibration` 2.0.0"), "{text}");
    assert!(text.contains("previous 1.0.0"), "{text}");

    let out = edgeplug(&["store", "list", "--store", s, "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], NAME);
    assert_eq!(json[0]["active"]["version"], "2.0.0");
    assert_eq!(json[0]["previous"]["version"], "1.0.0");
    assert_eq!(json[0]["highest_sequence"], 2);
    assert_eq!(json[0]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        json[0]["active"]["digest"],
        digest_hex(&fixtures().v2).as_str()
    );

    let out = edgeplug(&["store", "rollback", NAME, "--store", s]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("active 1.0.0"));
    let out = edgeplug(&["store", "list", "--store", s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("vibration: active 1.0.0 (sequence 1), previous none, highest sequence 2"),
        "{text}"
    );
    assert!(text.contains("bad (rolled back from)"), "{text}");
    let out = edgeplug(&["store", "check", "--store", s]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 plugin file(s) intact"));

    // Errors: one line, exit 1.
    assert_one_line_error(&install("v1"), &["anti-rollback", "vibration", "1.0.0", s]);
    assert_one_line_error(&install("v2"), &["marked bad", "2.0.0"]);
    assert_one_line_error(
        &edgeplug(&["store", "rollback", NAME, "--store", s]),
        &["no previous version"],
    );
    assert_one_line_error(
        &edgeplug(&["store", "rollback", "../x", "--store", s]),
        &["invalid model name"],
    );
    let v3 = base.join("v3.wasm");
    assert_one_line_error(
        &edgeplug(&["install", p(&v3), "--store", s]),
        &["no trusted key"],
    );
    std::fs::write(store.join("state"), b"garbage").unwrap();
    assert_one_line_error(
        &edgeplug(&["store", "list", "--store", s]),
        &["state file is corrupted", s],
    );
    let _ = std::fs::remove_dir_all(&base);
}
