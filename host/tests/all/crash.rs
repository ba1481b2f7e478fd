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

// ---------------------------------------------------------------------------------------
// The daemon killed while it installs

/// A running `edgeplug serve` child process and its address.
struct Daemon {
    child: std::process::Child,
    /// `http://ADDR`.
    base: String,
    /// Every stderr line so far (drained by a thread, so the child never blocks on it).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `edgeplug serve` on `127.0.0.1:0` over `store` and waits (at most 60 s) for
    /// its "listening on" line.
    fn start(store: &Path, public: &Path) -> Daemon {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgeplug"))
            .args(["serve", "--store", p(store), "--trust", p(public)])
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .env_remove(CRASH_AT_ENV)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("edgeplug serve: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not start: {:?}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Daemon { child, base, log }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGKILL, then reaps the child.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP exchange; `None` when the connection failed (the daemon was killed).
fn exchange(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: &[u8],
) -> Option<(u16, ureq::http::HeaderMap, Vec<u8>)> {
    let r = match method {
        "PUT" => agent.put(url).send(body),
        "POST" => agent.post(url).send(body),
        _ => agent.get(url).call(),
    };
    let mut r = match r {
        Ok(r) => r,
        Err(e) => {
            println!("{method} {url}: {e}");
            return None;
        }
    };
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().read_to_vec().ok()?;
    Some((status, headers, body))
}

#[test]
fn sigkill_of_the_daemon_during_puts_keeps_the_store_and_the_active_version_sound() {
    use crate::serve::{Behaviour, key, wat_plugin};
    const MODEL: &str = "crashy";
    const ITERATIONS: u64 = 20;
    let base = tmpdir("crash-serve");
    let store = base.join("store");
    let public = base.join("key.pub");
    std::fs::write(&public, key().public_key().to_bytes()).unwrap();
    let mut trust = edgeplug::trust::TrustStore::new();
    trust.add_key(key().public_key(), "crash test key").unwrap();
    // Version k has sequence k and answers [k; 4].
    let plugin = |k: u64| {
        wat_plugin(
            MODEL,
            &format!("{k}.0.0"),
            k,
            [k as u8; 4],
            Behaviour::Good,
            false,
        )
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();

    let mut rng = Rng(0xdead_5e7e_0c4a_54e5);
    let (mut highest, mut put_time, mut killed_puts) = (0u64, None::<u64>, 0);
    let (mut acked_total, mut torn, mut torn_cache) = (0, 0, 0);
    // The store's active version after the last kill: what the restart must serve.
    let mut expected_digest = None::<String>;
    let deadline = Instant::now() + Duration::from_secs(150);
    for i in 0..ITERATIONS {
        if Instant::now() > deadline {
            break;
        }
        let daemon = Daemon::start(&store, &public);
        let url = format!("{}/v1/models/{MODEL}", daemon.base);
        // After a restart: the active version is served, answers, and is the store's; its
        // compile cache entry was complete before the store named it, so it loads from the
        // cache.
        if highest > 0 {
            let log = daemon.log_text();
            assert!(
                log.lines()
                    .any(|l| l.contains("\"compiled\"") && l.contains("\"cache\":\"hit\"")),
                "iteration {i}: the restart did not load from the cache: {log}"
            );
            let (status, _, body) = exchange(&agent, "GET", &url, b"").expect("daemon answers");
            assert_eq!(status, 200, "iteration {i}: {}", daemon.log_text());
            let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let sequence = info["sequence"].as_u64().unwrap();
            let (status, headers2, body) =
                exchange(&agent, "POST", &format!("{url}/infer"), &[1, 2, 3, 4]).unwrap();
            assert_eq!(status, 200, "iteration {i}: {}", daemon.log_text());
            assert_eq!(body, vec![sequence as u8; 4], "iteration {i}");
            let digest = |h: &ureq::http::HeaderMap| {
                h.get("x-edgeplug-digest")
                    .map(|v| v.to_str().unwrap().to_string())
            };
            assert_eq!(digest(&headers2), info["digest"].as_str().map(String::from));
            assert_eq!(digest(&headers2), expected_digest, "iteration {i}");
            assert!(
                sequence <= highest,
                "iteration {i}: serving {sequence} above the floor {highest}"
            );
        }
        // PUT the next versions until the daemon is killed; now and then an older one
        // (refused).
        let first = highest + 1;
        let putter = {
            let agent = agent.clone();
            let url = url.clone();
            let plugins: Vec<(u64, Vec<u8>)> = (0..6)
                .map(|j| {
                    let k = if j == 3 && first > 1 {
                        first - 1
                    } else {
                        first + j
                    };
                    (k, plugin(k))
                })
                .collect();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut durations = Vec::new();
                for (k, bytes) in plugins {
                    let started = Instant::now();
                    let Some((status, _, body)) = exchange(&agent, "PUT", &url, &bytes) else {
                        return (acked, durations, true);
                    };
                    durations.push(started.elapsed().as_micros() as u64);
                    match status {
                        200 => acked.push(k),
                        409 => {}
                        _ => panic!("PUT of {k}: {status} {}", String::from_utf8_lossy(&body)),
                    }
                }
                (acked, durations, false)
            })
        };
        // SIGKILL somewhere in the PUTs; the first iteration measures a PUT instead (its
        // daemon is killed after them).
        let (acked, durations, interrupted) = match put_time {
            Some(t) => {
                std::thread::sleep(Duration::from_micros(rng.below(t * 5)));
                daemon.kill();
                putter.join().unwrap()
            }
            None => {
                let done = putter.join().unwrap();
                daemon.kill();
                assert!(!done.2 && !done.0.is_empty(), "the calibration PUTs failed");
                done
            }
        };
        if put_time.is_none() {
            put_time = durations.iter().copied().max();
        }
        if interrupted {
            killed_puts += 1;
        }
        acked_total += acked.len();
        if torn_write(&store) {
            torn += 1;
        }
        let cache_dir = store.join(edgeplug::serve::config::DEFAULT_CACHE_DIR);
        if std::fs::read_dir(&cache_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        {
            torn_cache += 1;
        }
        // The store after the kill: `edgeplug store check` passes, the floor never falls
        // and covers every acknowledged PUT, the active version verifies.
        let out = command(&["store", "check", "--store", p(&store)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "iteration {i}: store check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = Store::open(&store).unwrap();
        let list = s.list().unwrap();
        let Some(m) = list.first() else {
            assert!(
                acked.is_empty(),
                "iteration {i}: an acknowledged PUT was lost"
            );
            continue;
        };
        assert!(
            m.highest_sequence >= highest,
            "iteration {i}: the floor fell from {highest} to {}",
            m.highest_sequence
        );
        let active = m.active.as_ref().expect("an active version");
        if let Some(&last) = acked.iter().max() {
            assert!(
                m.highest_sequence >= last && active.sequence >= last,
                "iteration {i}: PUT {last} was acknowledged, the store has {active:?} (floor {})",
                m.highest_sequence
            );
        }
        let (_, bytes) = s.active(MODEL).unwrap().unwrap();
        let v = verify_plugin(&bytes, &trust, &Policy::default())
            .unwrap_or_else(|e| panic!("iteration {i}: active version: {e}"));
        assert_eq!(v.manifest.sequence, active.sequence);
        highest = m.highest_sequence;
        expected_digest = Some(active.digest.clone());
    }
    // The last restart serves the active version.
    let active = Store::open(&store)
        .unwrap()
        .active(MODEL)
        .unwrap()
        .unwrap()
        .0;
    let daemon = Daemon::start(&store, &public);
    let url = format!("{}/v1/models/{MODEL}/infer", daemon.base);
    let (status, _, body) = exchange(&agent, "POST", &url, &[1, 2, 3, 4]).unwrap();
    assert_eq!(status, 200, "{}", daemon.log_text());
    assert_eq!(body, vec![active.sequence as u8; 4]);
    let log = daemon.log_text();
    assert!(!log.contains("does not load"), "{log}");
    daemon.kill();
    println!(
        "daemon: {killed_puts} PUTs interrupted by SIGKILL ({torn} in a store write, {torn_cache} in a cache write), {acked_total} acknowledged; floor {highest}; one PUT: {put_time:?} us"
    );
    assert!(killed_puts > 0, "no PUT was interrupted");
    let _ = std::fs::remove_dir_all(&base);
}
