//! The gateway daemon (`edgeplug::serve`) over loopback HTTP: the API with the demo model,
//! adversarial plugins contained while other models keep answering, the pull channel, and
//! a load test that swaps a model more than 50 times under concurrent traffic (including
//! versions whose self-test fails and one that fails in probation) with zero failed
//! requests.
//!
//! Small test plugins are hand-written WAT core modules given the `edgeplug:ml` world and
//! componentized (as in `bad_plugins.rs`), with a hand-built manifest, signed with a test
//! key. Each answers the self-test input `[9, 9, 9, 9]` with its own 4 output bytes; what
//! it does on any other input depends on the test (answer the same, trap, loop, ...).

use crate::cli::tmpdir;
use edgeplug::ModelFile;
use edgeplug::package::{PackageOptions, package_plugin};
use edgeplug::serve::Server;
use edgeplug::serve::config::{GatewayConfig, Probation};
use edgeplug::serve::http::{HEADER_DIGEST, HEADER_RETRIED, HEADER_VERSION};
use edgeplug::store::Store;
use edgeplug::trust::TrustStore;
use edgeplug_signing::{
    Bytes, ElementType, EngineFuel, INTERFACE_VERSION, Manifest, ModelCard, Resources, SecretKey,
    SelfTest, TensorSpec,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DEMO_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/vibration_int8.tflite");
const DEMO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo");

/// The self-test input of every WAT test plugin.
const SELF_TEST_INPUT: [u8; 4] = [9, 9, 9, 9];

pub(crate) fn key() -> SecretKey {
    SecretKey::from_seed([42; 32])
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.add_key(key().public_key(), "serve test key").unwrap();
    t
}

/// Bounded wait: polls `f` every 20 ms for up to 60 s (a bound on the test's duration,
/// not a timing assertion).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// WAT plugins

/// A little-endian memory image builder.
struct Image(Vec<u8>);

impl Image {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        if self.0.len() < at + bytes.len() {
            self.0.resize(at + bytes.len(), 0);
        }
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u32s(&mut self, at: usize, values: &[u32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(at, &bytes);
    }
}

/// Memory image: model-info (0x100) of model `name` version `version` with one int8 [4]
/// input `x` and one int8 [4] output `y`; at 0x400 the result ok([int8 [4] = `out`]).
fn image(name: &str, version: &str, out: [u8; 4]) -> Vec<u8> {
    assert!(name.len() <= 16 && version.len() <= 16);
    let mut m = Image(Vec::new());
    m.u32s(
        0x100,
        &[
            0x200,
            name.len() as u32,
            0x210,
            version.len() as u32,
            0x300,
            1,
            0x340,
            1,
            0,
            0,
            1024,
            0,
        ],
    );
    m.put(0x200, name.as_bytes());
    m.put(0x210, version.as_bytes());
    m.put(0x220, b"x");
    m.put(0x230, b"y");
    m.u32s(0x300, &[0x220, 1, 0, 0x380, 1, 0]);
    m.u32s(0x340, &[0x230, 1, 0, 0x380, 1, 0]);
    m.u32s(0x380, &[4]);
    m.u32s(0x400, &[0, 0x420, 1]);
    m.u32s(0x420, &[0x380, 1, 0, 0x440, 4]);
    m.put(0x440, &out);
    m.0
}

/// What a WAT plugin does on an input other than the self-test's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Answers like for the self-test input.
    Good,
    /// Traps (`unreachable`).
    Trap,
    /// Loops forever.
    Loop,
    /// Grows its memory by 2 GiB; traps if refused.
    MemoryBomb,
    /// Grows its memory to 41 pages and returns a 2 MiB output, inside its memory but over
    /// the 1 MiB output bound the adversarial test gives the daemon.
    HugeOutput,
    /// Busy-waits about 300 ms on the host clock, then answers.
    Slow,
}

/// Instructions run before `infer` returns 0x400 when the first input byte is not 9.
fn misbehaviour(b: Behaviour) -> &'static str {
    match b {
        Behaviour::Good => "",
        Behaviour::Trap => "unreachable",
        Behaviour::Loop => "(loop $l (br $l))",
        Behaviour::MemoryBomb => {
            "(if (i32.eq (memory.grow (i32.const 32768)) (i32.const -1)) (then unreachable))"
        }
        Behaviour::HugeOutput => {
            "(drop (memory.grow (i32.const 40)))
             (i32.store (i32.const 0x430) (i32.const 0x200000)) (return (i32.const 0x400))"
        }
        Behaviour::Slow => {
            "(local.set $t (call $now))
             (block $done (loop $l
               (br_if $done (i64.gt_u (i64.sub (call $now) (local.get $t)) (i64.const 300000000)))
               (br $l)))"
        }
    }
}

/// A componentized WAT plugin (unsigned, no manifest).
fn wat_component(name: &str, version: &str, out: [u8; 4], behaviour: Behaviour) -> Vec<u8> {
    let data: String = image(name, version, out)
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let bad = misbehaviour(behaviour);
    let core = wat::parse_str(format!(
        r#"(module
            (import "edgeplug:ml/host@0.1.0" "log" (func $log (param i32 i32 i32)))
            (import "edgeplug:ml/host@0.1.0" "now-ns" (func $now (result i64)))
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 0x1000))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $r i32)
                (local.set $r (global.get $bump))
                (global.set $bump (i32.add (global.get $bump)
                    (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
                (local.get $r))
            (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const 0x100))
            (func (export "edgeplug:ml/inference@0.1.0#infer") (param i32 i32) (result i32)
                (local $t i64)
                (global.set $bump (i32.const 0x1000))
                (if (i32.ne (i32.load8_u (i32.load offset=12 (local.get 0))) (i32.const 9))
                    (then {bad}))
                (i32.const 0x400))
            (data (i32.const 0) "{data}"))"#
    ))
    .expect("valid WAT");
    let core = edgeplug_plugins::with_plugin_world(&core).expect("world");
    edgeplug_plugins::componentize(&core).expect("componentize")
}

fn int8_4(name: &str) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: ElementType::Int8,
        shape: vec![4],
        quantization: None,
    }
}

/// The manifest of a WAT plugin; `self_test_output` is what its self-test must produce.
fn wat_manifest(
    name: &str,
    version: &str,
    sequence: u64,
    self_test_output: [u8; 4],
    fuel: u64,
) -> Manifest {
    Manifest {
        name: name.into(),
        version: version.into(),
        sequence,
        interface: INTERFACE_VERSION.into(),
        card: ModelCard::default(),
        inputs: vec![int8_4("x")],
        outputs: vec![int8_4("y")],
        labels: vec![],
        resources: Resources {
            memory_bytes: 65536,
            fuel: vec![EngineFuel {
                engine: "wasmtime".into(),
                fuel_per_inference: fuel,
            }],
        },
        targets: vec!["wasmtime".into()],
        self_test: SelfTest {
            inputs: vec![Bytes(SELF_TEST_INPUT.to_vec())],
            output_sha256: SelfTest::output_digest([&self_test_output[..]]),
        },
    }
}

/// A signed WAT plugin answering `out`. With `lie`, its manifest expects other self-test
/// outputs than it produces (its self-test fails).
pub(crate) fn wat_plugin(
    name: &str,
    version: &str,
    sequence: u64,
    out: [u8; 4],
    behaviour: Behaviour,
    lie: bool,
) -> Vec<u8> {
    let component = wat_component(name, version, out, behaviour);
    let expected = if lie { out.map(|b| b ^ 0x55) } else { out };
    // Fuel: plenty for an answer, an endless loop runs out; the slow plugin's busy wait
    // needs more.
    let fuel = if behaviour == Behaviour::Slow {
        1 << 40
    } else {
        5_000_000
    };
    let manifest = wat_manifest(name, version, sequence, expected, fuel);
    let with_manifest = edgeplug_signing::embed_manifest(&component, &manifest).unwrap();
    edgeplug_signing::sign(&with_manifest, &key()).unwrap()
}

// ---------------------------------------------------------------------------------------
// HTTP client helpers

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("HTTP exchange");
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(server: &Server) -> Self {
        Client {
            agent: agent(),
            base: format!("http://{}", server.addr()),
        }
    }
    fn get(&self, path: &str) -> Reply {
        reply(self.agent.get(format!("{}{path}", self.base)).call())
    }
    fn put(&self, path: &str, body: &[u8]) -> Reply {
        reply(self.agent.put(format!("{}{path}", self.base)).send(body))
    }
    fn post(&self, path: &str, body: &[u8]) -> Reply {
        reply(self.agent.post(format!("{}{path}", self.base)).send(body))
    }
    fn post_json(&self, path: &str, body: &[u8]) -> Reply {
        reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Accept", "application/json")
                .send(body),
        )
    }
    fn infer(&self, model: &str, body: &[u8]) -> Reply {
        self.post(&format!("/v1/models/{model}/infer"), body)
    }
    fn install(&self, model: &str, plugin: &[u8]) -> Reply {
        self.put(&format!("/v1/models/{model}"), plugin)
    }
    fn active_version(&self, model: &str) -> String {
        let r = self.get(&format!("/v1/models/{model}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["version"].as_str().unwrap().to_string()
    }
}

fn config() -> GatewayConfig {
    let mut c = GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..GatewayConfig::default()
    };
    c.limits.max_concurrency = 8;
    c
}

/// Starts a daemon on `127.0.0.1:0` over the store in `dir`.
fn start(config: GatewayConfig, dir: &std::path::Path) -> Server {
    let store = Arc::new(Store::open(&dir.join("store")).expect("store opens"));
    Server::start(config, trust(), store).expect("server starts")
}

fn error_check(r: &Reply) -> String {
    r.json()["error"]["check"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `edgeplug_NAME{labels} VALUE` from the metrics text, 0 if absent.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn the_config_example_in_gateway_md_parses_and_typos_are_refused() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/GATEWAY.md"))
        .expect("host/GATEWAY.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a ```toml example in GATEWAY.md");
    let c = GatewayConfig::from_toml(example).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert!(c.store.is_some() && !c.trust.is_empty());
    assert_eq!(
        c.probation,
        Probation {
            requests: 100,
            seconds: 60,
            max_errors: 2
        }
    );
    // Everything has a default.
    assert_eq!(
        GatewayConfig::from_toml("").unwrap(),
        GatewayConfig::default()
    );
    let err = GatewayConfig::from_toml("[limits]\ndeadline = 5\n").unwrap_err();
    assert!(err.contains("deadline"), "{err}");
    let err = GatewayConfig::from_toml("listen = \"nonsense\"\n").unwrap_err();
    assert!(err.contains("listen") || err.contains("address"), "{err}");
}

/// Packs the demo model into `vibration` plugins: one measured with `package_plugin`, and
/// cheaper repacks of the same model with another version/sequence (same manifest, so the
/// same self-test).
fn demo_plugins(versions: &[(&str, u64)]) -> Vec<Vec<u8>> {
    let file = ModelFile::open(DEMO_MODEL).unwrap();
    let labels: Vec<String> = std::fs::read_to_string(format!("{DEMO_DIR}/labels.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let base = package_plugin(
        &file,
        &PackageOptions {
            name: "vibration".into(),
            version: versions[0].0.into(),
            sequence: versions[0].1,
            labels: labels.clone(),
            key: Some(key()),
            ..PackageOptions::default()
        },
    )
    .unwrap();
    let mut out = vec![base.bytes.clone()];
    for &(version, sequence) in &versions[1..] {
        let component = edgeplug::pack_plugin(&file, "vibration", version, &labels).unwrap();
        let manifest = Manifest {
            version: version.into(),
            sequence,
            ..base.manifest.clone()
        };
        let with = edgeplug_signing::embed_manifest(&component, &manifest).unwrap();
        out.push(edgeplug_signing::sign(&with, &key()).unwrap());
    }
    out
}

#[test]
fn the_api_serves_the_demo_model_and_refuses_bad_installs_naming_the_check() {
    let plugins = demo_plugins(&[("1.0.0", 1), ("1.1.0", 2), ("1.0.1", 1)]);
    let dir = tmpdir("serve-api");
    let server = start(config(), &dir);
    let c = Client::new(&server);
    assert_eq!(c.get("/healthz").status, 200);
    assert_eq!(c.infer("vibration", &[0; 384]).status, 404);

    let r = c.install("vibration", &plugins[0]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], "1.0.0");
    let models = c.get("/v1/models").json();
    assert_eq!(models["models"][0]["name"], "vibration");
    assert_eq!(
        models["models"][0]["inputs"][0]["shape"],
        serde_json::json!([1, 128, 1, 3])
    );

    // Every bundled sample gives TFLite Micro's recorded output (demo/samples/*.expected.bin,
    // produced by the TFLM reference interpreter, see demo/train.py), raw and as JSON.
    let labels = std::fs::read_to_string(format!("{DEMO_DIR}/labels.txt")).unwrap();
    let labels: Vec<&str> = labels.lines().collect();
    for sample in [
        "normal",
        "imbalance",
        "misalignment",
        "bearing_fault",
        "off",
    ] {
        let input = std::fs::read(format!("{DEMO_DIR}/samples/{sample}.bin")).unwrap();
        let expected = std::fs::read(format!("{DEMO_DIR}/samples/{sample}.expected.bin")).unwrap();
        let r = c.infer("vibration", &input);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, expected, "{sample}");
        assert_eq!(r.header(HEADER_VERSION), "1.0.0");
        let j = c.post_json("/v1/models/vibration/infer", &input).json();
        let data: Vec<i64> = j["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(
            data,
            expected
                .iter()
                .map(|&b| i64::from(b as i8))
                .collect::<Vec<_>>()
        );
        let argmax = (0..expected.len())
            .max_by_key(|&i| (expected[i] as i8, std::cmp::Reverse(i)))
            .unwrap();
        assert_eq!(j["top"]["label"], labels[argmax], "{sample}");
        assert_eq!(j["outputs"][0]["dtype"], "int8");
    }
    // A body of the wrong size is the client's error, named.
    let r = c.infer("vibration", &[0; 10]);
    assert_eq!(r.status, 400);
    assert_eq!(error_check(&r), "input");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("384")
    );

    // Refused installs name the failed check and leave 1.0.0 serving.
    let mut tampered = plugins[1].clone();
    let n = tampered.len();
    tampered[n - 100] ^= 1;
    let r = c.install("vibration", &tampered);
    assert_eq!((r.status, error_check(&r).as_str()), (403, "signature"));
    let r = c.install("other", &plugins[1]);
    assert_eq!((r.status, error_check(&r).as_str()), (400, "name"));
    let liar = wat_plugin("vibration", "9.0.0", 9, [1, 2, 3, 4], Behaviour::Good, true);
    let r = c.install("vibration", &liar);
    assert_eq!(
        (r.status, error_check(&r).as_str()),
        (422, "self-test"),
        "{}",
        r.json()
    );
    assert_eq!(c.active_version("vibration"), "1.0.0");

    // Upgrade, then a downgrade is refused, then a manual rollback.
    let r = c.install("vibration", &plugins[1]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(c.active_version("vibration"), "1.1.0");
    let r = c.install("vibration", &plugins[0]);
    assert_eq!((r.status, error_check(&r).as_str()), (409, "downgrade"));
    let r = c.post("/v1/models/vibration/rollback", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(c.active_version("vibration"), "1.0.0");
    let r = c.post("/v1/models/vibration/rollback", b"");
    assert_eq!((r.status, error_check(&r).as_str()), (404, "not-found"));

    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    assert_eq!(
        metric(
            &m,
            "edgeplug_requests_total{model=\"vibration\",outcome=\"ok\"}"
        ),
        10
    );
    assert_eq!(metric(&m, "edgeplug_swaps_total{model=\"vibration\"}"), 2);
    assert_eq!(
        metric(
            &m,
            "edgeplug_rollbacks_total{model=\"vibration\",reason=\"manual\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            "edgeplug_installs_refused_total{model=\"vibration\",check=\"downgrade\"}"
        ),
        1
    );
    assert!(
        m.contains("edgeplug_request_duration_seconds_bucket{model=\"vibration\",le=\"+Inf\"} 11"),
        "{m}"
    );
    server.shutdown().unwrap();

    // After a restart: the store's active version (verified and self-tested again) serves,
    // the rolled-back version stays refused, and the anti-rollback floor (sequence 2) holds.
    let server = start(config(), &dir);
    let c = Client::new(&server);
    assert_eq!(c.active_version("vibration"), "1.0.0");
    let input = std::fs::read(format!("{DEMO_DIR}/samples/normal.bin")).unwrap();
    let expected = std::fs::read(format!("{DEMO_DIR}/samples/normal.expected.bin")).unwrap();
    assert_eq!(c.infer("vibration", &input).body, expected);
    let r = c.install("vibration", &plugins[1]);
    assert_eq!((r.status, error_check(&r).as_str()), (409, "marked-bad"));
    let r = c.install("vibration", &plugins[2]);
    assert_eq!((r.status, error_check(&r).as_str()), (409, "downgrade"));
    // Re-installing the active version changes nothing.
    assert_eq!(c.install("vibration", &plugins[0]).status, 200);
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn adversarial_plugins_are_contained_and_other_models_keep_answering() {
    let mut config = config();
    config.limits.max_memory_bytes = 16 << 20;
    config.limits.max_output_bytes = 1 << 20;
    let dir = tmpdir("serve-adversarial");
    let server = start(config, &dir);
    let c = Client::new(&server);
    let cases = [
        ("trap", Behaviour::Trap, "trap"),
        ("loop", Behaviour::Loop, "fuel"),
        ("bomb", Behaviour::MemoryBomb, "memory"),
        ("huge", Behaviour::HugeOutput, "output_too_large"),
    ];
    let good = wat_plugin("good", "1.0.0", 1, [1, 2, 3, 4], Behaviour::Good, false);
    assert_eq!(c.install("good", &good).status, 200);
    for (name, behaviour, _) in cases {
        let p = wat_plugin(name, "1.0.0", 1, [5, 6, 7, 8], behaviour, false);
        let r = c.install(name, &p);
        assert_eq!(
            r.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let slow = wat_plugin("slow", "1.0.0", 1, [3, 3, 3, 3], Behaviour::Slow, false);
    assert_eq!(c.install("slow", &slow).status, 200);

    // Slow requests in flight while the others run.
    let base = format!("http://{}", server.addr());
    let slow_clients: Vec<_> = (0..2)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                reply(
                    agent()
                        .post(format!("{base}/v1/models/slow/infer"))
                        .send(&[1u8; 4][..]),
                )
            })
        })
        .collect();
    for round in 0..3 {
        for (name, _, kind) in cases {
            let r = c.infer(name, &[1, 1, 1, 1]);
            assert_eq!(r.status, 500, "{name}");
            assert_eq!(error_check(&r), kind, "{name} round {round}: {}", r.json());
            // The instance was replaced: the self-test input still works.
            let r = c.infer(name, &SELF_TEST_INPUT);
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, &[5u8, 6, 7, 8][..]),
                "{name}"
            );
            let r = c.infer("good", &[1, 1, 1, 1]);
            assert_eq!((r.status, r.body.as_slice()), (200, &[1u8, 2, 3, 4][..]));
        }
    }
    for t in slow_clients {
        let r = t.join().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &[3u8, 3, 3, 3][..]));
    }
    let m = String::from_utf8(c.get("/metrics").body).unwrap();
    assert_eq!(
        metric(&m, "edgeplug_errors_total{model=\"loop\",kind=\"fuel\"}"),
        3
    );
    assert_eq!(
        metric(
            &m,
            "edgeplug_requests_total{model=\"trap\",outcome=\"error\"}"
        ),
        3
    );
    assert_eq!(
        metric(&m, "edgeplug_requests_total{model=\"good\",outcome=\"ok\"}"),
        12
    );
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `bytes` to `dir/name` atomically (the watcher never sees a partial file).
fn drop_file(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!("{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn the_pull_channel_installs_newer_signed_plugins_from_a_directory() {
    let dir = tmpdir("serve-watch");
    let mut config = config();
    config.watch.dir = Some(dir.join("incoming"));
    config.watch.interval_ms = 20;
    let server = start(config, &dir);
    let dir = dir.join("incoming");
    std::fs::create_dir_all(&dir).unwrap();
    let c = Client::new(&server);
    drop_file(
        &dir,
        "a.wasm",
        &wat_plugin("pulled", "1.0.0", 5, [1, 1, 1, 1], Behaviour::Good, false),
    );
    eventually("1.0.0 pulled", || c.get("/v1/models/pulled").status == 200);
    assert_eq!(c.infer("pulled", &[0; 4]).body, [1, 1, 1, 1]);
    // A lower sequence is refused; a higher one is installed; an unsigned one refused.
    drop_file(
        &dir,
        "b.wasm",
        &wat_plugin("pulled", "0.9.0", 4, [2, 2, 2, 2], Behaviour::Good, false),
    );
    let unsigned = wat_component("pulled", "3.0.0", [4, 4, 4, 4], Behaviour::Good);
    drop_file(&dir, "c.wasm", &unsigned);
    drop_file(
        &dir,
        "d.wasm",
        &wat_plugin("pulled", "2.0.0", 6, [3, 3, 3, 3], Behaviour::Good, false),
    );
    eventually("2.0.0 pulled", || c.active_version("pulled") == "2.0.0");
    eventually("refusals counted", || {
        let m = String::from_utf8(c.get("/metrics").body).unwrap();
        metric(
            &m,
            "edgeplug_installs_refused_total{model=\"?\",check=\"downgrade\"}",
        ) == 1
            && metric(
                &m,
                "edgeplug_installs_refused_total{model=\"?\",check=\"signature\"}",
            ) == 1
    });
    assert_eq!(c.infer("pulled", &[0; 4]).body, [3, 3, 3, 3]);
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// What the load test swaps in, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Swap {
    Good,
    SelfTestFails,
    FailsInProbation,
}

#[test]
fn load_test_hot_swaps_under_traffic_without_failing_a_request() {
    const SWAPS: u64 = 60;
    let mut config = config();
    config.probation = Probation {
        requests: 25,
        seconds: 3600,
        max_errors: 2,
    };
    let dir = tmpdir("serve-load");
    let server = start(config, &dir);
    let admin = Client::new(&server);
    // The plugins: version 1.0.k answers [k, k+1, k+2, k+3] (mod 256) on every input; the
    // probation-failing ones answer the self-test input and trap on anything else.
    let output = |k: u64| [k as u8, (k + 1) as u8, (k + 2) as u8, (k + 3) as u8];
    let plan: Vec<Swap> = (1..=SWAPS)
        .map(|k| match k % 10 {
            3 => Swap::SelfTestFails,
            7 => Swap::FailsInProbation,
            _ => Swap::Good,
        })
        .collect();
    let mut valid: HashMap<String, [u8; 4]> = HashMap::new();
    let first = wat_plugin("swap", "1.0.0", 0, output(0), Behaviour::Good, false);
    valid.insert("1.0.0".into(), output(0));
    let plugins: Vec<(String, Swap, Vec<u8>)> = plan
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let k = i as u64 + 1;
            let version = format!("1.0.{k}");
            let (behaviour, lie) = match kind {
                Swap::Good => (Behaviour::Good, false),
                Swap::SelfTestFails => (Behaviour::Good, true),
                Swap::FailsInProbation => (Behaviour::Trap, false),
            };
            if kind == Swap::Good {
                valid.insert(version.clone(), output(k));
            }
            let p = wat_plugin("swap", &version, k, output(k), behaviour, lie);
            (version, kind, p)
        })
        .collect();
    assert_eq!(admin.install("swap", &first).status, 200);
    // A second model under traffic the whole time.
    let demo = demo_plugins(&[("1.0.0", 1)]).remove(0);
    assert_eq!(admin.install("vibration", &demo).status, 200);
    let sample = std::fs::read(format!("{DEMO_DIR}/samples/imbalance.bin")).unwrap();
    let sample_out = std::fs::read(format!("{DEMO_DIR}/samples/imbalance.expected.bin")).unwrap();

    let valid = Arc::new(valid);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let base = format!("http://{}", server.addr());
    let clients: Vec<_> = (0..4)
        .map(|id| {
            let (valid, stop, answered, retried, base) = (
                valid.clone(),
                stop.clone(),
                answered.clone(),
                retried.clone(),
                base.clone(),
            );
            let (sample, sample_out) = (sample.clone(), sample_out.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut failures = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if id == 3 && n.is_multiple_of(4) {
                        let r = reply(
                            agent
                                .post(format!("{base}/v1/models/vibration/infer"))
                                .send(&sample[..]),
                        );
                        if r.status != 200 || r.body != sample_out {
                            failures.push(format!("vibration: {} {:?}", r.status, r.body));
                        }
                        continue;
                    }
                    let r = reply(
                        agent
                            .post(format!("{base}/v1/models/swap/infer"))
                            .send(&[7u8; 4][..]),
                    );
                    let version = r.header(HEADER_VERSION).to_string();
                    match valid.get(&version) {
                        Some(out) if r.status == 200 && r.body == out[..] => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            if r.header(HEADER_RETRIED) == "1" {
                                retried.fetch_add(1, Ordering::Relaxed);
                            }
                            assert_eq!(r.header(HEADER_DIGEST).len(), 64);
                        }
                        _ => failures.push(format!(
                            "swap: status {} version {version:?} body {:?} {}",
                            r.status,
                            r.body,
                            String::from_utf8_lossy(&r.body)
                        )),
                    }
                }
                failures
            })
        })
        .collect();

    let mut promoted = 0;
    let mut rollbacks = 0;
    let mut refused = 0;
    let mut swap_times = Vec::new();
    for (version, kind, plugin) in &plugins {
        let before = admin.active_version("swap");
        let t = Instant::now();
        let r = admin.install("swap", plugin);
        swap_times.push(t.elapsed());
        match kind {
            Swap::Good => {
                assert_eq!(
                    r.status,
                    200,
                    "{version}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                promoted += 1;
                // Let some traffic reach the new version.
                let seen = answered.load(Ordering::Relaxed);
                eventually("traffic", || answered.load(Ordering::Relaxed) >= seen + 3);
            }
            Swap::SelfTestFails => {
                assert_eq!((r.status, error_check(&r).as_str()), (422, "self-test"));
                assert_eq!(
                    admin.active_version("swap"),
                    before,
                    "old version keeps serving"
                );
                refused += 1;
            }
            Swap::FailsInProbation => {
                assert_eq!(
                    r.status,
                    200,
                    "{version}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                promoted += 1;
                // Traffic makes it fail; it is rolled back automatically.
                eventually("automatic rollback", || {
                    admin.active_version("swap") == before
                });
                rollbacks += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(promoted >= 50, "{promoted}");
    assert!(refused > 0 && rollbacks > 0);
    let answered = answered.load(Ordering::Relaxed);
    let retried = retried.load(Ordering::Relaxed);
    assert!(retried >= rollbacks, "{retried} retried");

    let m = String::from_utf8(admin.get("/metrics").body).unwrap();
    assert_eq!(
        metric(&m, "edgeplug_swaps_total{model=\"swap\"}"),
        promoted + 1
    );
    assert_eq!(
        metric(
            &m,
            "edgeplug_rollbacks_total{model=\"swap\",reason=\"probation\"}"
        ),
        rollbacks
    );
    assert_eq!(
        metric(
            &m,
            "edgeplug_installs_refused_total{model=\"swap\",check=\"self-test\"}"
        ),
        refused
    );
    assert_eq!(
        metric(
            &m,
            "edgeplug_requests_total{model=\"swap\",outcome=\"error\"}"
        ),
        0
    );
    swap_times.sort();
    eprintln!(
        "load test: {answered} swap requests answered ({retried} retried on the previous version), \
         {promoted} promotions, {rollbacks} automatic rollbacks, {refused} refused; \
         PUT latency median {:?}, max {:?}",
        swap_times[swap_times.len() / 2],
        swap_times[swap_times.len() - 1]
    );
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn puts_and_restarts_compile_through_the_cache_in_the_store() {
    let dir = tmpdir("serve-cache");
    let store_dir = dir.join("store");
    let v1 = wat_plugin("cached", "1.0.0", 1, [1, 1, 1, 1], Behaviour::Good, false);
    let v2 = wat_plugin("cached", "2.0.0", 2, [2, 2, 2, 2], Behaviour::Good, false);
    let liar = wat_plugin("cached", "3.0.0", 3, [3, 3, 3, 3], Behaviour::Good, true);
    let outcome = |server: &Server| {
        server
            .registry()
            .get("cached")
            .expect("served")
            .active()
            .cache_outcome()
            .clone()
    };
    {
        let server = start(config(), &dir);
        let cache = server
            .registry()
            .compile_cache()
            .expect("cache on by default");
        assert_eq!(
            cache.dir(),
            store_dir.join(edgeplug::serve::config::DEFAULT_CACHE_DIR)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        let c = Client::new(&server);
        for plugin in [&v1, &v2] {
            let r = c.install("cached", plugin);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            // Compiled once, by the PUT, and stored in the cache.
            assert_eq!(outcome(&server), edgeplug::cache::CacheOutcome::Miss);
        }
        // A version whose self-test fails is refused and leaves no staged version.
        let r = c.install("cached", &liar);
        assert_eq!((r.status, error_check(&r).as_str()), (422, "self-test"));
        assert_eq!(c.active_version("cached"), "2.0.0");
        let entries = std::fs::read_dir(cache.dir()).unwrap().count();
        assert_eq!(entries, 3, "one entry per compiled plugin");
        server.shutdown().unwrap();
    }
    // The store ignores the cache directory inside it: it opens, checks, and recorded
    // only the two good versions.
    let store = Store::open(&store_dir).unwrap();
    assert_eq!(store.check().unwrap(), 2);
    drop(store);

    // A restart deserializes the active version instead of compiling it, and prunes the
    // entry of the version that failed its self-test (the store does not hold it).
    let server = start(config(), &dir);
    assert_eq!(outcome(&server), edgeplug::cache::CacheOutcome::Hit);
    let cache_dir = store_dir.join(edgeplug::serve::config::DEFAULT_CACHE_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = [&v1, &v2]
        .iter()
        .map(|p| edgeplug::store::digest_hex(p))
        .collect();
    expected.sort();
    let digests: Vec<&str> = names.iter().map(|n| &n[..64]).collect();
    assert_eq!(digests, expected, "{names:?}");
    let c = Client::new(&server);
    let r = c.infer("cached", &[1, 2, 3, 4]);
    assert_eq!((r.status, r.body.as_slice()), (200, &[2u8, 2, 2, 2][..]));
    server.shutdown().unwrap();

    // A corrupted entry is rebuilt, never loaded.
    for e in std::fs::read_dir(&cache_dir).unwrap() {
        let path = e.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let server = start(config(), &dir);
    assert!(
        matches!(
            outcome(&server),
            edgeplug::cache::CacheOutcome::Rebuilt { .. }
        ),
        "{:?}",
        outcome(&server)
    );
    server.shutdown().unwrap();

    // Off: compiled, nothing stored.
    let server = start(
        GatewayConfig {
            cache: false,
            ..config()
        },
        &dir,
    );
    assert!(server.registry().compile_cache().is_none());
    assert_eq!(outcome(&server), edgeplug::cache::CacheOutcome::Uncached);
    server.shutdown().unwrap();

    // An explicitly configured cache directory that others can write: refused at start.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let public = dir.join("public-cache");
        std::fs::create_dir_all(&public).unwrap();
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o777)).unwrap();
        let store = Arc::new(Store::open(&store_dir).unwrap());
        let err = Server::start(
            GatewayConfig {
                cache_dir: Some(public),
                ..config()
            },
            trust(),
            store,
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("not private"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cache_flags_override_the_config_file() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: edgeplug::serve::ServeArgs,
    }
    let resolve = |args: &[&str]| {
        let mut all = vec!["serve", "--store", "s", "--trust", "k.pub"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| c.serve.resolve().unwrap())
    };
    let c = resolve(&[]).unwrap();
    assert!(c.cache && c.cache_dir.is_none());
    assert_eq!(
        c.compile_cache_dir(std::path::Path::new("s")),
        Some(std::path::Path::new("s").join("compile-cache"))
    );
    let c = resolve(&["--cache", "/tmp/cc"]).unwrap();
    assert_eq!(
        c.compile_cache_dir(std::path::Path::new("s")),
        Some("/tmp/cc".into())
    );
    let c = resolve(&["--no-cache"]).unwrap();
    assert_eq!(c.compile_cache_dir(std::path::Path::new("s")), None);
    assert!(resolve(&["--no-cache", "--cache", "/tmp/cc"]).is_err());
    let c = GatewayConfig::from_toml("cache = false\n").unwrap();
    assert!(!c.cache);
    let c = GatewayConfig::from_toml("cache_dir = \"/var/cache/edgeplug\"\n").unwrap();
    assert_eq!(c.cache_dir, Some("/var/cache/edgeplug".into()));
}

#[test]
fn the_pooling_allocator_serves_and_swaps_and_can_be_turned_off() {
    let dir = tmpdir("serve-pool");
    let mut c = config();
    c.limits.pool_instances = 64;
    // Its own memory cap, so this pool is not shared with other tests' engines.
    c.limits.max_memory_bytes = 3 << 20;
    let server = start(c, &dir);
    let client = Client::new(&server);
    for k in 1..=5u8 {
        let plugin = wat_plugin(
            "pooled",
            &format!("{k}.0.0"),
            k.into(),
            [k; 4],
            Behaviour::Good,
            false,
        );
        let r = client.install("pooled", &plugin);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        for _ in 0..3 {
            let r = client.infer("pooled", &[1, 2, 3, 4]);
            assert_eq!((r.status, r.body.as_slice()), (200, &[k; 4][..]));
        }
    }
    let active = server.registry().get("pooled").unwrap().active();
    match active.allocator() {
        edgeplug::engine::Allocator::Pooling { instances } => assert_eq!(*instances, 64),
        // A host that cannot reserve the pool (a low virtual-memory limit) falls back.
        edgeplug::engine::Allocator::PoolingFailed { reason, .. } => {
            println!("pooling allocator unavailable here: {reason}")
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().unwrap();
    // `pool_instances = 0`: the on-demand allocator.
    let mut c = config();
    c.limits.pool_instances = 0;
    let server = start(c, &dir);
    assert_eq!(
        server
            .registry()
            .get("pooled")
            .unwrap()
            .active()
            .allocator(),
        &edgeplug::engine::Allocator::OnDemand
    );
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
