//! Crash consistency of the plugin store: `edgeplug install` and `edgeplug store rollback`
//! run as child processes that are stopped at every file-system step of the store (fault
//! injection through `EDGEPLUG_STORE_CRASH_AT`) and killed with SIGKILL at random times;
//! after each crash the store must open, name only intact blobs, and its active version must
//! verify.

use crate::cli::{p, tmpdir};
use crate::store::{NAME, Summary, fixtures, trust, write_fixtures};
use edgeplug::store::{CRASH_AT_ENV, CRASH_EXIT_CODE, Store, TMP_PREFIX, digest_hex};
use edgeplug::trust::{Policy, verify_plugin};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Opens the store after a crash and checks everything a restart relies on; returns its
/// summary (`None` fields for an empty store).
fn check_consistent(dir: &Path) -> Summary {
    let f = fixtures();
    let known: Vec<String> = [&f.v1, &f.v2, &f.v3, &f.v3b]
        .iter()
        .map(|b| digest_hex(b))
        .collect();
    check_consistent_with(dir, &known)
}

/// [`check_consistent`] where the active version must be one of `known` (digests).
fn check_consistent_with(dir: &Path, known: &[String]) -> Summary {
    let f = fixtures();
    let store = Store::open(dir).unwrap_or_else(|e| panic!("reopen after crash: {e}"));
    // Every blob the state names is complete and hashes to its name.
    store
        .check()
        .unwrap_or_else(|e| panic!("check after crash: {e}"));
    // Leftovers are gone: no temporary file, no blob the state does not name.
    let list = store.list().unwrap();
    let named: Vec<String> = list
        .iter()
        .flat_map(|m| m.versions.iter().map(|v| v.digest.clone()))
        .collect();
    for d in [dir.to_path_buf(), dir.join("blobs")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(TMP_PREFIX), "leftover {name} in {d:?}");
            if d.ends_with("blobs") {
                assert!(named.contains(&name), "unreferenced blob {name}");
            }
        }
    }
    let Some(m) = list.first() else {
        return (None, None, 0, Vec::new());
    };
    assert_eq!(list.len(), 1);
    // The active version's bytes verify against the trust set and are one of ours.
    let (active, bytes) = store.active(NAME).unwrap().expect("an active version");
    let v = verify_plugin(&bytes, &trust(f), &Policy::default())
        .unwrap_or_else(|e| panic!("active version after crash: {e}"));
    assert_eq!(v.manifest.version, active.version);
    assert!(known.contains(&active.digest), "unknown active {active:?}");
    assert!(m.highest_sequence >= active.sequence);
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

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgeplug"));
    c.args(args)
        .env_remove(CRASH_AT_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// Runs `args` against a copy of `template` with a crash injected before store step 1, 2,
/// ... until the command completes. After each crash the store must be consistent and
/// equal to `before` or `after` (nothing else). Returns how many steps the command took.
fn crash_at_every_step(
    work: &Path,
    template: &Path,
    args: &[&str],
    before: &Summary,
    after: &Summary,
) -> u64 {
    for n in 1..=200u64 {
        copy_dir(template, work);
        let out = command(args)
            .env(CRASH_AT_ENV, n.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let got = check_consistent(work);
        if code == Some(0) {
            assert_eq!(&got, after, "{args:?} completed");
            return n - 1;
        }
        assert_eq!(
            code,
            Some(CRASH_EXIT_CODE),
            "{args:?} at step {n}: {stderr}"
        );
        assert!(
            &got == before || &got == after,
            "{args:?} crashed before step {n}: {got:?} is neither {before:?} nor {after:?}"
        );
    }
    panic!("{args:?} did not complete within 200 steps");
}

#[test]
fn a_crash_before_any_store_step_leaves_the_old_or_the_new_state() {
    if !cfg!(debug_assertions) {
        // The fault-injection hook is compiled into debug builds only.
        println!("skipped: {CRASH_AT_ENV} needs a debug build");
        return;
    }
    let f = fixtures();
    let t = trust(f);
    let base = tmpdir("crash-steps");
    let public = write_fixtures(&base);
    let (v1, v2) = (base.join("v1.wasm"), base.join("v2.wasm"));
    let work = base.join("work");
    let ws = p(&work).to_string();
    let tr = p(&public).to_string();

    // 1. Installing into a new store (creation included).
    let empty = base.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let none: Summary = (None, None, 0, Vec::new());
    let one: Summary = (some("1.0.0"), None, 1, vec![("1.0.0".into(), false)]);
    let install_v1 = ["install", p(&v1), "--store", &ws, "--trust", &tr];
    let steps = crash_at_every_step(&work, &empty, &install_v1, &none, &one);
    println!("install into a new store: {steps} steps");
    // Store creation (state + blobs directory), lock, blob and state writes.
    assert!(steps >= 12, "{steps}");

    // 2. Installing a second version.
    let with_v1 = base.join("with-v1");
    Store::open(&with_v1).unwrap().install(&f.v1, &t).unwrap();
    let two: Summary = (
        some("2.0.0"),
        some("1.0.0"),
        2,
        vec![("1.0.0".into(), false), ("2.0.0".into(), false)],
    );
    let install_v2 = ["install", p(&v2), "--store", &ws, "--trust", &tr];
    let steps = crash_at_every_step(&work, &with_v1, &install_v2, &one, &two);
    println!("install of a second version: {steps} steps");
    assert!(steps >= 12, "{steps}");

    // 3. Rolling back.
    let with_v2 = base.join("with-v2");
    copy_dir(&with_v1, &with_v2);
    Store::open(&with_v2).unwrap().install(&f.v2, &t).unwrap();
    let rolled: Summary = (
        some("1.0.0"),
        None,
        2,
        vec![("1.0.0".into(), false), ("2.0.0".into(), true)],
    );
    let rollback = ["store", "rollback", NAME, "--store", &ws];
    let steps = crash_at_every_step(&work, &with_v2, &rollback, &two, &rolled);
    println!("rollback: {steps} steps");

    // 4. Opening a store with leftovers (the cleaning itself crashes).
    let messy = base.join("messy");
    copy_dir(&with_v2, &messy);
    std::fs::write(messy.join(".tmp-state-1-1"), b"partial state").unwrap();
    std::fs::write(messy.join("blobs/.tmp-0123-1-2"), &f.v3[..100]).unwrap();
    std::fs::write(messy.join("blobs").join(digest_hex(&f.v3)), &f.v3).unwrap();
    let list = ["store", "list", "--store", &ws];
    let steps = crash_at_every_step(&work, &messy, &list, &two, &two);
    println!("open with leftovers: {steps} steps");
    assert!(steps >= 4, "{steps}");
    let _ = std::fs::remove_dir_all(&base);
}

/// Whether a write was interrupted: a temporary file or a blob the state does not name
/// (looked at before [`Store::open`] cleans them).
fn torn_write(dir: &Path) -> bool {
    let state = std::fs::read_to_string(dir.join("state")).unwrap_or_default();
    let tmp = |d: &Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(TMP_PREFIX) || (d.ends_with("blobs") && !state.contains(&n))
            })
    };
    tmp(dir) || tmp(&dir.join("blobs"))
}

/// SplitMix64: a small deterministic generator for the kill delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `bytes` with its manifest's sequence set to `sequence`, signed again with `key`.
fn with_sequence(bytes: &[u8], sequence: u64, key: &edgeplug_signing::SecretKey) -> Vec<u8> {
    let unsigned = edgeplug_signing::strip_signatures(bytes).unwrap();
    let mut manifest = edgeplug_signing::read_manifest(&unsigned).unwrap().unwrap();
    manifest.sequence = sequence;
    let with = edgeplug_signing::embed_manifest(&unsigned, &manifest).unwrap();
    edgeplug_signing::sign(&with, key).unwrap()
}

#[test]
fn sigkill_at_random_times_during_installs_and_rollbacks() {
    let f = fixtures();
    let base = tmpdir("crash-kill");
    let public = write_fixtures(&base);
    let store = base.join("store");
    let s = p(&store).to_string();
    let tr = p(&public).to_string();
    // Plugin `k` has sequence `k`: most runs install the next one, so the store keeps
    // changing; some install an older one (refused) or roll back.
    const ROUNDS: u64 = 40;
    let mut known = Vec::new();
    let plugins: Vec<PathBuf> = (0..=ROUNDS)
        .map(|k| {
            let bytes = with_sequence(&f.v1, k, &f.key);
            known.push(digest_hex(&bytes));
            let path = base.join(format!("seq{k}.wasm"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let install = |k: usize| -> Vec<String> {
        ["install", p(&plugins[k]), "--store", &s, "--trust", &tr]
            .map(String::from)
            .to_vec()
    };

    // How long one install takes here, to spread the kills over a whole one (most of it
    // is verification and the self-test; the store's writes come last).
    let calib = base.join("calib");
    let started = Instant::now();
    let mut args = install(0);
    args[3] = p(&calib).to_string();
    let out = command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = started.elapsed().as_micros() as u64;

    let mut rng = Rng(0x5eed_0fc4_a5e5);
    let (mut highest, mut next) = (0, 1);
    let (mut killed, mut completed, mut torn) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..ROUNDS {
        if Instant::now() > deadline {
            break;
        }
        let (args, target) = match rng.below(8) {
            0 => (
                ["store", "rollback", NAME, "--store", &s]
                    .map(String::from)
                    .to_vec(),
                None,
            ),
            1 => {
                let k = rng.below(next as u64) as usize;
                (install(k), Some(k))
            }
            _ => (install(next), Some(next)),
        };
        // A third of the kills land anywhere in the run, a third in its last fifth (the
        // writes); a third of the runs are left to complete.
        let delay = match rng.below(3) {
            0 => Some(rng.below(full + full / 10)),
            1 => Some(full * 4 / 5 + rng.below(full / 3)),
            _ => None,
        };
        let mut child = command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .spawn()
            .unwrap();
        if let Some(delay) = delay {
            std::thread::sleep(Duration::from_micros(delay));
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed += 1;
        }
        if torn_write(&store) {
            torn += 1;
        }
        let (active, _, h, _) = check_consistent_with(&store, &known);
        assert!(
            h >= highest,
            "iteration {i}: the floor fell from {highest} to {h}"
        );
        highest = h;
        if status.success() {
            completed += 1;
            if let Some(k) = target {
                // A completed install is durable, and is the active version.
                let m = Store::open(&store).unwrap().list().unwrap();
                assert_eq!(
                    m[0].active.as_ref().map(|a| a.sequence),
                    Some(k as u64),
                    "iteration {i}: {active:?}"
                );
            }
        }
        next = (highest as usize + 1).min(ROUNDS as usize);
    }
    println!(
        "{killed} killed ({torn} in the middle of a write), {completed} completed; floor {highest}; one install: {full} us"
    );
    assert!(killed > 0, "no child was killed");
    let _ = std::fs::remove_dir_all(&base);
}
