//! `edgeplug demo`: the project's demo keyword spotter (`demo/kws/`: a small DS-CNN trained
//! by `demo/kws/train.py` on synthetic speech, with features from edgeplug's own MFCC front
//! end) in the KWS plugin (`plugins/kws`), run on wasmtime on the bundled WAV samples.
//!
//! The plugin is `<target dir>/plugins/demo.wasm`, made by `edgeplug-plugins`' build script
//! (the KWS guest with `demo/kws/kws_demo_int8.tflite` in its model slot, a measured
//! manifest) and signed there with the development key of this build tree (`dev.key`,
//! generated on the first build; `dev.pub` beside it). The demo trusts that public key only
//! and loads the plugin as `edgeplug run --trust dev.pub` does: signature, manifest,
//! `model-info`, self-test. Each sample is one second of 16 kHz audio; the plugin computes
//! the MFCCs and runs the model; its output must equal, bit for bit, TensorFlow Lite
//! Micro's output on the same features (recorded by `train.py` in `samples.json`,
//! dequantized the way the plugin dequantizes).

use anyhow::{Context, Result, anyhow, bail};
use edgeplug::ModelFile;
use edgeplug::engine::{EngineConfig, EngineKind};
use edgeplug::trust::{Policy, TrustStore, Verification, hex, load_plugin};
use edgeplug_model::{Interpreter, model_stats};
use edgeplug_signing::PublicKey;
use serde_json::{Value, json};
use std::path::Path;

const MODEL: &[u8] = include_bytes!("../../demo/kws/kws_demo_int8.tflite");
const SAMPLES_JSON: &str = include_str!("../../demo/kws/samples/samples.json");

/// `(file name in demo/kws/samples, WAV bytes)`; `samples.json` says what each should give.
const SAMPLE_FILES: [(&str, &[u8]); 5] = [
    ("yes.wav", include_bytes!("../../demo/kws/samples/yes.wav")),
    (
        "down.wav",
        include_bytes!("../../demo/kws/samples/down.wav"),
    ),
    (
        "left.wav",
        include_bytes!("../../demo/kws/samples/left.wav"),
    ),
    (
        "unknown.wav",
        include_bytes!("../../demo/kws/samples/unknown.wav"),
    ),
    (
        "silence.wav",
        include_bytes!("../../demo/kws/samples/silence.wav"),
    ),
];

/// One bundled sample and what `train.py` recorded for it.
struct Sample {
    file: String,
    expected_label: String,
    spoken: String,
    pcm_le: Vec<u8>,
    /// TFLite Micro's int8 output on the plugin's int8 features.
    tflm_int8: Vec<i8>,
}

/// The samples listed in `samples.json`, their WAVs decoded, and the model's output
/// `(scale, zero point)`.
fn samples() -> Result<(Vec<Sample>, f32, i32)> {
    let meta: Value =
        serde_json::from_str(SAMPLES_JSON).context("demo/kws/samples/samples.json")?;
    let bad = |what: &str| anyhow!("demo/kws/samples/samples.json: bad or missing {what}");
    let out_scale = meta["output"]["scale"]
        .as_f64()
        .ok_or_else(|| bad("output.scale"))? as f32;
    let out_zp = meta["output"]["zero_point"]
        .as_i64()
        .and_then(|z| i32::try_from(z).ok())
        .ok_or_else(|| bad("output.zero_point"))?;
    let mut out = Vec::new();
    for s in meta["samples"].as_array().ok_or_else(|| bad("samples"))? {
        let file = s["file"].as_str().ok_or_else(|| bad("samples[].file"))?;
        let (_, wav) = SAMPLE_FILES
            .iter()
            .find(|(name, _)| *name == file)
            .ok_or_else(|| anyhow!("samples.json lists {file}, which is not bundled"))?;
        let reader = hound::WavReader::new(*wav).with_context(|| format!("samples/{file}"))?;
        let spec = reader.spec();
        if (spec.sample_rate, spec.channels, spec.bits_per_sample) != (16_000, 1, 16) {
            bail!("samples/{file}: not 16 kHz mono 16-bit ({spec:?})");
        }
        let pcm: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("samples/{file}"))?;
        let tflm_int8 = s["tflm_output_int8"]
            .as_array()
            .ok_or_else(|| bad("samples[].tflm_output_int8"))?
            .iter()
            .map(|v| v.as_i64().and_then(|v| i8::try_from(v).ok()))
            .collect::<Option<Vec<i8>>>()
            .ok_or_else(|| bad("samples[].tflm_output_int8"))?;
        out.push(Sample {
            file: file.to_string(),
            expected_label: s["expected_label"]
                .as_str()
                .ok_or_else(|| bad("samples[].expected_label"))?
                .to_string(),
            spoken: s["spoken"].as_str().unwrap_or_default().to_string(),
            pcm_le: pcm.iter().flat_map(|v| v.to_le_bytes()).collect(),
            tflm_int8,
        });
    }
    Ok((out, out_scale, out_zp))
}

pub(crate) fn run(as_json: bool) -> Result<()> {
    let file = ModelFile::from_bytes("demo/kws/kws_demo_int8.tflite", MODEL.to_vec())?;
    let model = file.model()?;
    let stats = model_stats(&model);
    let arena = Interpreter::new(&model)
        .map_err(|e| file.error(e))?
        .arena_bytes();
    let (samples, out_scale, out_zp) = samples()?;

    // The plugin and the key that signed it, both made by edgeplug-plugins' build script.
    let dir = edgeplug_plugins::signed_plugins_dir();
    let plugin_path = dir.join("demo.wasm");
    let pub_path = dir.join("dev.pub");
    let missing = |p: &Path| {
        anyhow!(
            "{} not found: the demo plugin is made when edgeplug is built from its repository \
             (plugins/build.rs packs demo/kws/kws_demo_int8.tflite into the KWS guest); run \
             `cargo run --release -p edgeplug -- demo` from the repository",
            p.display()
        )
    };
    let bytes = std::fs::read(&plugin_path).map_err(|_| missing(&plugin_path))?;
    if !pub_path.is_file() {
        return Err(missing(&pub_path));
    }
    if !as_json {
        println!(
            "edgeplug demo: keyword spotter (demo/kws/MODEL_CARD.md; trained on synthetic speech)"
        );
        println!(
            "model: {} ops, {} MACs, {} params, arena {} bytes; input: 1 s of 16 kHz audio -> MFCC [49x10] inside the plugin",
            model.operators.len(),
            stats.macs,
            stats.params,
            arena
        );
    }
    let public_key = std::fs::read(&pub_path)
        .map_err(anyhow::Error::from)
        .and_then(|b| PublicKey::from_bytes(&b).map_err(|e| anyhow!("{e}")))
        .with_context(|| pub_path.display().to_string())?;
    let key_id = hex(&public_key.key_id());
    let mut trust = TrustStore::new();
    trust.add_key(public_key, &pub_path.display().to_string())?;
    let loaded = load_plugin(
        EngineKind::Wasmtime,
        &plugin_path.display().to_string(),
        &bytes,
        Verification::Required(&trust, Policy::default()),
        &EngineConfig::default(),
    )?;
    let verified = loaded
        .verified
        .as_ref()
        .ok_or_else(|| anyhow!("the demo plugin was not verified"))?;
    let manifest = &verified.manifest;
    let digest = hex(&verified.digest);
    let labels = manifest.labels.clone();
    let mut plugin = loaded.instance;
    if !as_json {
        println!(
            "plugin: `{}` {} ({} bytes, {}), signed at build time with this build's development key (id {key_id}, {}); signature verified, self-test passed on wasmtime",
            manifest.name,
            manifest.version,
            bytes.len(),
            plugin_path.display(),
            pub_path.display(),
        );
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for s in &samples {
        let outputs = plugin.infer_raw(&[&s.pcm_le])?;
        let outputs = plugin.tensor_data(&outputs)?;
        // The plugin dequantizes the model's int8 output as (q - zero point) * scale in f32.
        let expected: Vec<u8> = s
            .tflm_int8
            .iter()
            .flat_map(|&q| ((i32::from(q) - out_zp) as f32 * out_scale).to_le_bytes())
            .collect();
        let matches = outputs[0].bytes == expected;
        let class = outputs[0]
            .classification(&labels)
            .ok_or_else(|| anyhow!("the demo plugin's output is not a classification"))?;
        let (_, label, score) = class.top().clone();
        let correct = label == s.expected_label;
        if !matches || !correct {
            failures.push(s.file.clone());
        }
        if as_json {
            results.push(json!({
                "sample": format!("demo/kws/samples/{}", s.file),
                "spoken": s.spoken,
                "expected_label": s.expected_label,
                "label": label,
                "score": score,
                "correct": correct,
                "matches_tflm": matches,
                "outputs": outputs.iter().map(edgeplug::TensorData::to_json).collect::<Vec<_>>(),
            }));
        } else {
            println!(
                "sample {:<12} -> {:<10} score {:.3}   expected {:<10} {}   output {} TFLite Micro's",
                s.file,
                label,
                score,
                s.expected_label,
                if correct { "ok  " } else { "MISS" },
                if matches {
                    "identical to"
                } else {
                    "DIFFERS from"
                }
            );
        }
    }
    if as_json {
        println!(
            "{}",
            json!({
                "model": model.name,
                "macs": stats.macs,
                "arena_bytes": arena,
                "plugin": {
                    "name": manifest.name,
                    "version": manifest.version,
                    "path": plugin_path.display().to_string(),
                    "bytes": bytes.len(),
                    "engine": "wasmtime",
                    "signed_with": "this build's development key (plugins/build.rs)",
                    "key_id": key_id,
                    "content_sha256": digest,
                    "signature_verified": true,
                    "self_test_passed": loaded.self_test.is_some(),
                },
                "samples": results,
            })
        );
    } else if failures.is_empty() {
        println!(
            "all {n} samples classified as expected; all {n} outputs are byte-identical to TensorFlow Lite Micro's",
            n = samples.len()
        );
    }
    if !failures.is_empty() {
        bail!(
            "demo samples not classified as expected or differing from TensorFlow Lite Micro: {}",
            failures.join(", ")
        );
    }
    Ok(())
}
