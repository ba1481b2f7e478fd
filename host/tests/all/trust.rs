//! Signing and trust through the CLI: keygen, pack --key, sign, verify, inspect, and `run`
//! refusing unsigned, untrusted, tampered, downgraded and self-test-failing plugins.

use crate::cli::{SKIP_WARNING, assert_one_line_error, edgeplug, keygen, p, tmpdir};
use edgeplug_signing::{Manifest, SecretKey, SelfTest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo");

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn demo(rel: &str) -> PathBuf {
    Path::new(DEMO).join(rel)
}

/// Packs the demo model (labels, card), signed with `key` if given.
fn pack_demo(out: &Path, key: Option<&Path>, sequence: u64, extra: &[&str]) -> Output {
    let (model, labels, card) = (
        demo("vibration_int8.tflite"),
        demo("labels.txt"),
        demo("card.json"),
    );
    let seq = sequence.to_string();
    let mut args = vec![
        "pack",
        p(&model),
        "--name",
        "vibration",
        "--version",
        "1.2.0",
        "--labels",
        p(&labels),
        "--card",
        p(&card),
        "--sequence",
        &seq,
        "-o",
        p(out),
    ];
    if let Some(k) = key {
        args.extend(["--key", p(k)]);
    }
    args.extend_from_slice(extra);
    edgeplug(&args)
}

fn run_json(wasm: &Path, extra: &[&str]) -> Output {
    let sample = demo("samples/imbalance.bin");
    let mut args = vec!["run", p(wasm), "-i", p(&sample), "--json"];
    args.extend_from_slice(extra);
    edgeplug(&args)
}

/// Replaces the manifest of a signed plugin with `edit(manifest)` and signs it again with
/// `key` (what an attacker holding the key, or a careless release, could produce).
fn resign(wasm: &Path, key: &Path, out: &Path, edit: impl FnOnce(&mut Manifest)) {
    let bytes = std::fs::read(wasm).unwrap();
    let mut manifest = edgeplug_signing::read_manifest(&bytes).unwrap().unwrap();
    edit(&mut manifest);
    let unsigned = edgeplug_signing::strip_signatures(&bytes).unwrap();
    let embedded = edgeplug_signing::embed_manifest(&unsigned, &manifest).unwrap();
    let key = SecretKey::from_bytes(&std::fs::read(key).unwrap()).unwrap();
    std::fs::write(out, edgeplug_signing::sign(&embedded, &key).unwrap()).unwrap();
}

#[test]
fn keygen_writes_a_0600_secret_key_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir("keygen");
    let keys = dir.join("keys");
    let (secret, public) = keygen(&keys);
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "secret key mode {mode:o}");
    let sk = SecretKey::from_bytes(&std::fs::read(&secret).unwrap()).unwrap();
    let pk = std::fs::read(&public).unwrap();
    assert_eq!(pk, sk.public_key().to_bytes());
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 2);
    let out = edgeplug(&["keygen", "--out", p(&keys)]);
    assert_one_line_error(&out, &["already exists", "--force"]);
    assert_eq!(std::fs::read(&public).unwrap(), pk, "key overwritten");
    ok(&edgeplug(&["keygen", "--out", p(&keys), "--force"]));
    assert_ne!(
        std::fs::read(&public).unwrap(),
        pk,
        "--force kept the old key"
    );
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The whole signed path, plus every refusal that needs no re-packing.
#[test]
fn signed_pack_verifies_runs_and_everything_else_is_refused() {
    let dir = tmpdir("trust-signed");
    let (key_a, pub_a) = keygen(&dir.join("a"));
    let (_, pub_b) = keygen(&dir.join("b"));
    let wasm = dir.join("vibration.wasm");
    let out = pack_demo(&wasm, Some(&key_a), 5, &[]);
    let stdout = ok(&out);
    assert!(stdout.contains("signed"), "{stdout}");

    // verify: exit 0 only with the right key.
    let text = ok(&edgeplug(&["verify", p(&wasm), "--trust", p(&pub_a)]));
    assert!(text.contains("signature OK"), "{text}");
    assert!(text.contains("self-test passed"), "{text}");
    let v: Value = serde_json::from_str(&ok(&edgeplug(&[
        "verify",
        p(&wasm),
        "--trust",
        p(&pub_a),
        "--json",
    ])))
    .unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["sequence"], 5);
    assert_eq!(v["signers"][0]["trusted_key"], p(&pub_a));
    assert_eq!(v["self_test"], "passed");
    let out = edgeplug(&["verify", p(&wasm), "--trust", p(&pub_b)]);
    assert_one_line_error(&out, &["vibration.wasm", "trust check failed"]);
    // Either key trusted: verifies.
    ok(&edgeplug(&[
        "verify",
        p(&wasm),
        "--trust",
        p(&pub_b),
        "--trust",
        p(&pub_a),
    ]));

    // run: trusted key, trust directory, environment variable.
    let v: Value = serde_json::from_str(&ok(&run_json(&wasm, &["--trust", p(&pub_a)]))).unwrap();
    assert_eq!(v["label"], "imbalance", "{v}");
    let trust_dir = dir.join("a");
    for engine in ["wasmtime", "wasmi"] {
        ok(&run_json(
            &wasm,
            &["--trust-dir", p(&trust_dir), "--engine", engine],
        ));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeplug"))
        .args(["run", p(&wasm), "-i", p(&demo("samples/off.bin"))])
        .env("EDGEPLUG_TRUST_DIR", &trust_dir)
        .output()
        .unwrap();
    assert!(ok(&out).contains("result: off"));
    // Untrusted key, no trust at all.
    let out = run_json(&wasm, &["--trust", p(&pub_b)]);
    assert_one_line_error(&out, &["refusing", "trust check failed"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeplug"))
        .args(["run", p(&wasm), "-i", p(&demo("samples/off.bin"))])
        .env_remove("EDGEPLUG_TRUST_DIR")
        .output()
        .unwrap();
    assert_one_line_error(&out, &["no trusted key", "--trust"]);

    // Downgrade: a correctly signed N-1 is refused by a host that has N.
    let older = dir.join("older.wasm");
    resign(&wasm, &key_a, &older, |m| m.sequence = 4);
    ok(&edgeplug(&["verify", p(&older), "--trust", p(&pub_a)]));
    ok(&edgeplug(&[
        "verify",
        p(&wasm),
        "--trust",
        p(&pub_a),
        "--min-sequence",
        "5",
    ]));
    let out = edgeplug(&[
        "verify",
        p(&older),
        "--trust",
        p(&pub_a),
        "--min-sequence",
        "5",
    ]);
    assert_one_line_error(&out, &["anti-rollback", "sequence 4", "downgrade"]);
    let out = run_json(&older, &["--trust", p(&pub_a), "--min-sequence", "5"]);
    assert_one_line_error(&out, &["anti-rollback", "downgrade"]);

    // A self-test that fails (wrong expected digest, correctly signed) is refused, also
    // when signature verification is skipped.
    let bad = dir.join("bad-self-test.wasm");
    resign(&wasm, &key_a, &bad, |m| m.self_test.output_sha256.0[0] ^= 1);
    let out = edgeplug(&["verify", p(&bad), "--trust", p(&pub_a)]);
    assert_one_line_error(&out, &["self-test failed", "bad-self-test.wasm"]);
    for engine in ["wasmtime", "wasmi"] {
        let out = run_json(&bad, &["--trust", p(&pub_a), "--engine", engine]);
        assert_one_line_error(&out, &["self-test failed on", engine]);
    }
    let out = run_json(&bad, &["--insecure-skip-verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("self-test failed"));

    // A manifest that disagrees with the plugin's model-info is refused.
    let renamed = dir.join("renamed.wasm");
    resign(&wasm, &key_a, &renamed, |m| {
        m.name = "something-else".into()
    });
    let out = edgeplug(&["verify", p(&renamed), "--trust", p(&pub_a)]);
    assert_one_line_error(&out, &["manifest/model-info check failed", "name"]);
    // The manifest's fuel budget is enforced (here during the self-test).
    let starved = dir.join("starved.wasm");
    resign(&wasm, &key_a, &starved, |m| {
        for f in &mut m.resources.fuel {
            f.fuel_per_inference = 10_000;
        }
    });
    for engine in ["wasmtime", "wasmi"] {
        let out = run_json(&starved, &["--trust", p(&pub_a), "--engine", engine]);
        assert_one_line_error(&out, &["starved.wasm", "ran out of fuel"]);
    }
    // Another interface version is refused before the plugin is loaded.
    let other = dir.join("other-interface.wasm");
    resign(&wasm, &key_a, &other, |m| {
        m.interface = "edgeplug:ml@9.0.0".into()
    });
    let out = run_json(&other, &["--trust", p(&pub_a)]);
    assert_one_line_error(&out, &["interface check failed", "edgeplug:ml@9.0.0"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One byte flipped in the signature, the code, the model weights or the manifest: refused
/// by `verify` and `run`, with the failed check named.
#[test]
fn tampered_plugins_are_refused_naming_the_check() {
    let dir = tmpdir("trust-tamper");
    let (key, public) = keygen(&dir.join("k"));
    let wasm = dir.join("v.wasm");
    ok(&pack_demo(&wasm, Some(&key), 1, &[]));
    let bytes = std::fs::read(&wasm).unwrap();
    let find = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .rposition(|w| w == needle)
            .unwrap()
    };
    let manifest_at = find(b"edgeplug-manifest") + 60;
    let weights_at = find(b"EPM\0") + 2000;
    // The signature section comes first (id byte at offset 8, then its LEB128 size); its
    // last 64 bytes are the Ed25519 signature.
    let (mut size, mut shift, mut i) = (0usize, 0, 9);
    loop {
        let b = bytes[i];
        size |= usize::from(b & 0x7f) << shift;
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let sig_end = i + size; // one past the signature section
    let code_at = bytes.len() / 3;
    assert!(code_at > sig_end && code_at < weights_at);
    for (what, at, check) in [
        ("signature", sig_end - 10, "signature check failed"),
        ("code", code_at, "digest check failed"),
        ("weights", weights_at, "digest check failed"),
        ("manifest", manifest_at, "digest check failed"),
    ] {
        let mut t = bytes.clone();
        t[at] ^= 0x10;
        let path = dir.join(format!("tampered-{what}.wasm"));
        std::fs::write(&path, &t).unwrap();
        let out = edgeplug(&["verify", p(&path), "--trust", p(&public)]);
        assert_one_line_error(&out, &[&format!("tampered-{what}.wasm"), check]);
        let out = run_json(&path, &["--trust", p(&public)]);
        assert_one_line_error(&out, &["refusing", check]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unsigned_plugins_need_insecure_skip_verify_which_warns() {
    let dir = tmpdir("trust-unsigned");
    let (_, public) = keygen(&dir.join("k"));
    let wasm = dir.join("unsigned.wasm");
    let out = pack_demo(&wasm, None, 0, &[]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UNSIGNED"), "{stderr}");
    let out = run_json(&wasm, &["--trust", p(&public)]);
    assert_one_line_error(&out, &["refusing", "not signed"]);
    let out = edgeplug(&["verify", p(&wasm), "--trust", p(&public)]);
    assert_one_line_error(&out, &["not signed"]);
    for engine in ["wasmtime", "wasmi"] {
        let out = run_json(&wasm, &["--insecure-skip-verify", "--engine", engine]);
        let v: Value = serde_json::from_str(&ok(&out)).unwrap();
        assert_eq!(v["label"], "imbalance");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.lines().any(|l| l == SKIP_WARNING), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `inspect --json`: manifest, model card, signers, digests; the self-test digest of a
/// given input is TFLM's output's (from `demo/samples`, not computed by edgeplug).
#[test]
fn inspect_json_shows_manifest_card_signers_and_digests() {
    let dir = tmpdir("trust-inspect");
    let (key, public) = keygen(&dir.join("k"));
    let wasm = dir.join("v.wasm");
    let sample = demo("samples/misalignment.bin");
    ok(&pack_demo(
        &wasm,
        Some(&key),
        7,
        &["--self-test-input", p(&sample)],
    ));
    let v: Value = serde_json::from_str(&ok(&edgeplug(&[
        "inspect",
        p(&wasm),
        "--json",
        "--trust",
        p(&public),
    ])))
    .unwrap();
    assert_eq!(v["signed"], true);
    assert_eq!(v["layer"], "component");
    assert_eq!(
        v["file_bytes"],
        std::fs::metadata(&wasm).unwrap().len(),
        "{v}"
    );
    let pk = edgeplug_signing::PublicKey::from_bytes(&std::fs::read(&public).unwrap()).unwrap();
    let key_id: String = pk.key_id().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["signatures"][0]["key_id"], key_id.as_str());
    assert_eq!(v["signatures"][0]["algorithm"], "ed25519");
    assert_eq!(v["signatures"][0]["trusted_key"], p(&public));
    assert_eq!(v["verification"]["ok"], true);
    assert_eq!(v["content_sha256"].as_str().unwrap().len(), 64);
    let m = &v["manifest"];
    assert_eq!(m["name"], "vibration");
    assert_eq!(m["version"], "1.2.0");
    assert_eq!(m["sequence"], 7);
    assert_eq!(m["interface"], "edgeplug:ml@0.1.0");
    assert_eq!(m["labels"][1], "imbalance");
    assert_eq!(m["card"]["license"], "Apache-2.0");
    assert!(m["card"]["metrics"][0]["value"].as_f64().unwrap() > 0.9);
    assert_eq!(m["inputs"][0]["shape"], serde_json::json!([1, 128, 1, 3]));
    assert_eq!(m["targets"], serde_json::json!(["wasmtime", "wasmi"]));
    assert!(m["resources"]["memory_bytes"].as_u64().unwrap() >= 65536);
    // A fuel budget per engine, measured; each engine executes at least one instruction per
    // MAC of the model's 226,464 (demo/MODEL_CARD.md).
    for (i, engine) in ["wasmtime", "wasmi"].into_iter().enumerate() {
        let fuel = &m["resources"]["fuel"][i];
        assert_eq!(fuel["engine"], engine);
        assert!(
            fuel["fuel_per_inference"].as_u64().unwrap() > 226_464,
            "{fuel}"
        );
    }
    let tflm = std::fs::read(demo("samples/misalignment.expected.bin")).unwrap();
    assert_eq!(
        m["self_test"]["output_sha256"],
        SelfTest::output_digest([tflm.as_slice()]).to_string()
    );
    let input = std::fs::read(&sample).unwrap();
    let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(m["self_test"]["inputs"][0], hex.as_str());
    // Text form and an unsigned plugin.
    let text = ok(&edgeplug(&["inspect", p(&wasm)]));
    assert!(text.contains("intended use:"), "{text}");
    assert!(text.contains(&key_id), "{text}");
    let unsigned = dir.join("u.wasm");
    std::fs::write(
        &unsigned,
        edgeplug_signing::strip_signatures(&std::fs::read(&wasm).unwrap()).unwrap(),
    )
    .unwrap();
    let v: Value =
        serde_json::from_str(&ok(&edgeplug(&["inspect", p(&unsigned), "--json"]))).unwrap();
    assert_eq!(v["signed"], false);
    assert_eq!(v["manifest"]["sequence"], 7);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plugin built without `edgeplug pack` (the runner packed by the library, as an SDK
/// build would be) has no manifest: `sign` refuses and says how to add one; with
/// `--manifest` it signs, and the result verifies and runs.
#[test]
fn sign_an_sdk_built_plugin() {
    let dir = tmpdir("trust-sign");
    let (key, public) = keygen(&dir.join("k"));
    let file = edgeplug::ModelFile::open(demo("vibration_int8.tflite")).unwrap();
    let meta = edgeplug_plugins::RunnerMeta {
        name: "vibration".into(),
        version: "1.2.0".into(),
        labels: std::fs::read_to_string(demo("labels.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    };
    let bare = edgeplug_plugins::pack_runner(&file.to_epm().unwrap(), &meta).unwrap();
    let plain = dir.join("sdk.wasm");
    std::fs::write(&plain, &bare).unwrap();
    let signed = dir.join("sdk-signed.wasm");
    let out = edgeplug(&["sign", p(&plain), "--key", p(&key), "-o", p(&signed)]);
    assert_one_line_error(&out, &["no edgeplug-manifest", "--manifest"]);
    assert!(!signed.exists());
    // A manifest for it: the one `pack` makes for the same model (via inspect --json).
    let packed = dir.join("packed.wasm");
    ok(&pack_demo(&packed, None, 3, &[]));
    let v: Value =
        serde_json::from_str(&ok(&edgeplug(&["inspect", p(&packed), "--json"]))).unwrap();
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, v["manifest"].to_string()).unwrap();
    let text = ok(&edgeplug(&[
        "sign",
        p(&plain),
        "--key",
        p(&key),
        "-o",
        p(&signed),
        "--manifest",
        p(&manifest),
    ]));
    assert!(text.contains("self-test passed"), "{text}");
    ok(&edgeplug(&["verify", p(&signed), "--trust", p(&public)]));
    let v: Value = serde_json::from_str(&ok(&run_json(&signed, &["--trust", p(&public)]))).unwrap();
    assert_eq!(v["label"], "imbalance");
    // Signing the already-packed (unsigned, with manifest) plugin needs no --manifest.
    let signed2 = dir.join("packed-signed.wasm");
    ok(&edgeplug(&[
        "sign",
        p(&packed),
        "--key",
        p(&key),
        "-o",
        p(&signed2),
    ]));
    ok(&edgeplug(&["verify", p(&signed2), "--trust", p(&public)]));
    // A manifest whose self-test does not match the plugin is not signed.
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["self_test"]["output_sha256"] = Value::String("00".repeat(32));
    std::fs::write(&manifest, m.to_string()).unwrap();
    let refused = dir.join("refused.wasm");
    let out = edgeplug(&[
        "sign",
        p(&plain),
        "--key",
        p(&key),
        "-o",
        p(&refused),
        "--manifest",
        p(&manifest),
    ]);
    assert_one_line_error(&out, &["refusing to sign", "self-test failed"]);
    assert!(!refused.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--trust A.pub B.pub` (the issue's `--trust PUB...`) and `--trust A --trust B` both give a
/// trust set of two keys: a plugin signed by either verifies, and the plugin path may come
/// before the keys.
#[test]
fn several_trusted_keys_after_one_flag() {
    let dir = tmpdir("trust-many");
    let (key_a, pub_a) = keygen(&dir.join("a"));
    let (_, pub_b) = keygen(&dir.join("b"));
    let wasm = dir.join("signed.wasm");
    ok(&pack_demo(&wasm, Some(&key_a), 1, &[]));
    ok(&edgeplug(&[
        "verify",
        p(&wasm),
        "--trust",
        p(&pub_b),
        p(&pub_a),
    ]));
    ok(&edgeplug(&[
        "verify",
        p(&wasm),
        "--trust",
        p(&pub_b),
        "--trust",
        p(&pub_a),
    ]));
    let out = run_json(&wasm, &["--trust", p(&pub_b), p(&pub_a)]);
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["label"], "imbalance");
    // Only the untrusted key: refused.
    let out = edgeplug(&["verify", p(&wasm), "--trust", p(&pub_b)]);
    assert_one_line_error(&out, &["trust check failed"]);
}

/// `pack --simd128`: a gateway-only plugin with the Wasm SIMD runner. Its manifest targets
/// wasmtime only and has no wasmi fuel budget; `verify` and `sign` check it on wasmtime; it
/// gives the shared plugin's outputs byte for byte; wasmi refuses it naming SIMD; asking
/// for a wasmi target is refused.
#[test]
fn simd128_pack_makes_a_gateway_only_plugin_with_the_same_outputs() {
    let dir = tmpdir("trust-simd128");
    let (key, public) = keygen(&dir.join("k"));
    let (shared, simd) = (dir.join("shared.wasm"), dir.join("simd.wasm"));
    ok(&pack_demo(&shared, Some(&key), 1, &[]));
    let stdout = ok(&pack_demo(&simd, Some(&key), 1, &["--simd128"]));
    assert!(stdout.contains("targets wasmtime,"), "{stdout}");
    assert!(
        stdout.contains("identical on wasmtime and the native executor"),
        "{stdout}"
    );
    let (a, b) = (
        std::fs::read(&shared).unwrap(),
        std::fs::read(&simd).unwrap(),
    );
    assert_ne!(a, b, "the simd128 plugin carries another runner");
    let manifest = edgeplug_signing::read_manifest(&b).unwrap().unwrap();
    assert_eq!(manifest.targets, ["wasmtime"]);
    let engines: Vec<&str> = manifest
        .resources
        .fuel
        .iter()
        .map(|f| f.engine.as_str())
        .collect();
    assert_eq!(engines, ["wasmtime"]);
    let shared_manifest = edgeplug_signing::read_manifest(&a).unwrap().unwrap();
    assert_eq!(
        manifest.self_test.output_sha256, shared_manifest.self_test.output_sha256,
        "same self-test output as the shared runner"
    );

    let text = ok(&edgeplug(&["verify", p(&simd), "--trust", p(&public)]));
    assert!(text.contains("self-test passed"), "{text}");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    for sample in ["imbalance.bin", "off.bin", "bearing_fault.bin"] {
        let input = demo(&format!("samples/{sample}"));
        let run = |wasm: &Path, out: &Path| {
            ok(&edgeplug(&[
                "run",
                p(wasm),
                "--trust",
                p(&public),
                "-i",
                p(&input),
                "-o",
                p(out),
            ]))
        };
        let (x, y) = (out_dir.join("shared.bin"), out_dir.join("simd.bin"));
        run(&shared, &x);
        run(&simd, &y);
        assert_eq!(
            std::fs::read(&x).unwrap(),
            std::fs::read(&y).unwrap(),
            "{sample}: simd128 and shared runners differ"
        );
    }
    let out = run_json(&simd, &["--trust", p(&public), "--engine", "wasmi"]);
    assert_one_line_error(&out, &["SIMD"]);
    let out = pack_demo(
        &dir.join("refused.wasm"),
        Some(&key),
        1,
        &["--simd128", "--target", "wasmi"],
    );
    assert_one_line_error(&out, &["simd128", "wasmtime only", "--target wasmi"]);
    assert!(!dir.join("refused.wasm").exists(), "nothing written");
}
