//! The `edgeplug` binary on good and bad input: results, one-line errors, exit codes.

use crate::shared::models_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn edgeplug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeplug"))
        .args(args)
        .output()
        .expect("run edgeplug")
}

pub(crate) fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeplug-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The warning `run --insecure-skip-verify` prints first on stderr.
pub(crate) const SKIP_WARNING: &str = "WARNING: signature verification skipped (--insecure-skip-verify): this plugin's origin is not proven";

/// Asserts a clean failure: non-zero exit, exactly one line on stderr starting with
/// `error:` that contains every `needle`, and no panic. Warning lines (`WARNING: `, such as
/// the `--insecure-skip-verify` one, [`SKIP_WARNING`]) are not counted.
pub(crate) fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("WARNING: "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` not in: {stderr}");
    }
}

/// `edgeplug keygen --out DIR`; returns the paths of the secret and the public key.
pub(crate) fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let out = edgeplug(&["keygen", "--out", p(dir)]);
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("edgeplug.key"), dir.join("edgeplug.pub"))
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A minimal `.tflite` with one operator (int8 [1,4] -> [1,4]) of the given builtin code.
fn tflite_with_op(builtin_code: i32, version: i32) -> Vec<u8> {
    use flatbuffers::{FlatBufferBuilder, WIPOffset};
    let mut b = FlatBufferBuilder::new();
    // Buffers: 0 is the conventional empty buffer.
    let empty = {
        let s = b.start_table();
        b.end_table(s)
    };
    let buffers = b.create_vector(&[empty]);
    let tensor = |b: &mut FlatBufferBuilder<'_>, name: &str| {
        let shape = b.create_vector(&[1i32, 4]);
        let name = b.create_string(name);
        let scale = b.create_vector(&[0.5f32]);
        let zp = b.create_vector(&[0i64]);
        let qs = b.start_table();
        b.push_slot_always(6, scale); // QuantizationParameters.scale (field 2)
        b.push_slot_always(8, zp); // zero_point (field 3)
        let q: WIPOffset<flatbuffers::TableFinishedWIPOffset> = b.end_table(qs);
        let s = b.start_table();
        b.push_slot_always(4, shape); // Tensor.shape (0)
        b.push_slot::<i8>(6, 9, 0); // type (1) = INT8
        b.push_slot::<u32>(8, 0, u32::MAX); // buffer (2)
        b.push_slot_always(10, name); // name (3)
        b.push_slot_always(12, q); // quantization (4)
        b.end_table(s)
    };
    let t0 = tensor(&mut b, "in");
    let t1 = tensor(&mut b, "out");
    let tensors = b.create_vector(&[t0, t1]);
    let ins = b.create_vector(&[0i32]);
    let outs = b.create_vector(&[1i32]);
    let op_ins = b.create_vector(&[0i32]);
    let op_outs = b.create_vector(&[1i32]);
    let op = {
        let s = b.start_table();
        b.push_slot::<u32>(4, 0, u32::MAX); // opcode_index (0)
        b.push_slot_always(6, op_ins); // inputs (1)
        b.push_slot_always(8, op_outs); // outputs (2)
        b.end_table(s)
    };
    let ops = b.create_vector(&[op]);
    let sg = {
        let s = b.start_table();
        b.push_slot_always(4, tensors); // tensors (0)
        b.push_slot_always(6, ins); // inputs (1)
        b.push_slot_always(8, outs); // outputs (2)
        b.push_slot_always(10, ops); // operators (3)
        b.end_table(s)
    };
    let subgraphs = b.create_vector(&[sg]);
    let code = {
        let s = b.start_table();
        b.push_slot::<i8>(4, builtin_code.min(127) as i8, -1); // deprecated_builtin_code (0)
        b.push_slot::<i32>(8, version, 0); // version (2)
        b.push_slot::<i32>(10, builtin_code, -1); // builtin_code (3)
        b.end_table(s)
    };
    let codes = b.create_vector(&[code]);
    let desc = b.create_string("cli test model");
    let root = {
        let s = b.start_table();
        b.push_slot::<u32>(4, 3, 0); // version (0)
        b.push_slot_always(6, codes); // operator_codes (1)
        b.push_slot_always(8, subgraphs); // subgraphs (2)
        b.push_slot_always(10, desc); // description (3)
        b.push_slot_always(12, buffers); // buffers (4)
        b.end_table(s)
    };
    b.finish(root, Some("TFL3"));
    b.finished_data().to_vec()
}

#[test]
fn unsupported_op_is_named_with_its_version() {
    let dir = tmpdir("unsupported");
    let model = dir.join("mean.tflite");
    std::fs::write(&model, tflite_with_op(40, 2)).unwrap(); // 40 = MEAN
    std::fs::write(dir.join("in.bin"), [0u8; 4]).unwrap();
    let out = edgeplug(&["model", "run", p(&model), "--input", p(&dir.join("in.bin"))]);
    assert_one_line_error(&out, &["MEAN", "version 2", "mean.tflite"]);
    let out = edgeplug(&["model", "inspect", p(&model)]);
    assert_one_line_error(&out, &["MEAN"]);
}

#[test]
fn not_a_model_and_missing_file() {
    let dir = tmpdir("junk");
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"definitely not a model").unwrap();
    let out = edgeplug(&["model", "inspect", p(&junk)]);
    assert_one_line_error(&out, &["junk.bin", "neither"]);
    let out = edgeplug(&["model", "inspect", p(&dir.join("missing.tflite"))]);
    assert_one_line_error(&out, &["missing.tflite"]);
    let empty = dir.join("empty.epm");
    std::fs::write(&empty, b"").unwrap();
    let out = edgeplug(&["model", "inspect", p(&empty)]);
    assert_one_line_error(&out, &["empty.epm"]);
}

#[test]
fn kws_import_inspect_run_and_bad_inputs() {
    let Some(models) = models_dir() else { return };
    let dir = tmpdir("kws");
    let tflite = models.join("kws_ds_cnn_int8.tflite");
    let epm = dir.join("kws.epm");
    let out = edgeplug(&["model", "import", p(&tflite), "-o", p(&epm)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = edgeplug(&["model", "inspect", p(&epm), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["macs"], 2_656_768);
    assert_eq!(info["params"], 22_604);
    assert_eq!(info["ops"].as_array().unwrap().len(), 13);
    assert!(info["arena_bytes"].as_u64().unwrap() > 0);
    let text = edgeplug(&["model", "inspect", p(&tflite)]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("DEPTHWISE_CONV_2D") && text.contains("arena:"),
        "{text}"
    );

    // Run on the .tflite and on the .epm: both match TFLM's output byte for byte.
    let vectors = models.join("vectors/kws_ds_cnn_int8");
    let input = vectors.join("in_11.bin");
    let expected = std::fs::read(vectors.join("out_11.bin")).unwrap();
    for model in [&tflite, &epm] {
        let out_file = dir.join("out.bin");
        let out = edgeplug(&[
            "model",
            "run",
            p(model),
            "--input",
            p(&input),
            "--output",
            p(&out_file),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&out_file).unwrap(), expected);
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let data: Vec<i64> = result["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let want: Vec<i64> = expected.iter().map(|&b| i64::from(b as i8)).collect();
        assert_eq!(data, want);
        assert_eq!(result["outputs"][0]["shape"], serde_json::json!([1, 12]));
        assert_eq!(result["outputs"][0]["dtype"], "int8");
        assert!(result["label"].is_string() && result["score"].is_number());
    }

    // Wrong-size input.
    let short = dir.join("short.bin");
    std::fs::write(&short, [0u8; 489]).unwrap();
    let out_file = dir.join("never.bin");
    let out = edgeplug(&[
        "model",
        "run",
        p(&epm),
        "--input",
        p(&short),
        "--output",
        p(&out_file),
    ]);
    assert_one_line_error(&out, &["short.bin", "489", "490"]);
    assert!(!out_file.exists(), "no output may be written on error");

    // Truncated models, at several lengths, both formats.
    let tflite_bytes = std::fs::read(&tflite).unwrap();
    let epm_bytes = std::fs::read(&epm).unwrap();
    for (bytes, name) in [(&tflite_bytes, "cut.tflite"), (&epm_bytes, "cut.epm")] {
        for len in [3, 16, 100, bytes.len() / 2, bytes.len() - 1] {
            let cut = dir.join(name);
            std::fs::write(&cut, &bytes[..len]).unwrap();
            let out = edgeplug(&["model", "run", p(&cut), "--input", p(&input)]);
            assert_one_line_error(&out, &[name]);
        }
    }

    // A corrupted weight byte in the .epm is caught by the checksum.
    let mut bad = epm_bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    let corrupt = dir.join("corrupt.epm");
    std::fs::write(&corrupt, &bad).unwrap();
    let out = edgeplug(&["model", "run", p(&corrupt), "--input", p(&input)]);
    assert_one_line_error(&out, &["corrupt.epm", "corrupt"]);
}

/// The README's main job: the bundled demo model on its bundled samples, needing no files.
#[test]
fn demo_runs_without_files_and_matches_tflm() {
    let out = edgeplug(&["demo", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5);
    for s in samples {
        // demo/kws/samples/samples.json records each clip's spoken word (what train.py
        // synthesized) and TFLM's output on it; the plugin must give both.
        assert_eq!(s["label"], s["expected_label"], "{s}");
        assert_eq!(s["correct"], true, "{s}");
        assert_eq!(s["matches_tflm"], true, "{s}");
    }
    let text = edgeplug(&["demo"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("left.wav"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("-> left "), "{line}");
    assert!(text.contains("all 5 outputs are byte-identical"), "{text}");
}

/// `model run` with `--labels` on the demo model, from the files in `demo/`.
#[test]
fn run_demo_model_with_labels() {
    let demo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../demo"));
    let out = edgeplug(&[
        "model",
        "run",
        p(&demo.join("vibration_int8.tflite")),
        "--input",
        p(&demo.join("samples/imbalance.bin")),
        "--labels",
        p(&demo.join("labels.txt")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("result: imbalance (score 0.898)"),
        "{text}"
    );
}

/// A reader that goes away (`edgeplug demo | head -1`) ends the CLI quietly, not in a panic.
#[test]
fn closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeplug"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the demo (which verifies and self-tests first) prints.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
