//! End-to-end pipelines on the shared front-end clips: `edgeplug run plugins/kws --trust
//! dev.pub --input X.wav` (the CLI binary, on the signed plugins the workspace build makes)
//! reproduces TFLM's recorded label for every KWS clip, and the anomaly plugin reproduces the
//! recorded AD scores, anomalous clips above normal ones.
//!
//! Skips when `../shared` is absent (a failure with `EDGEPLUG_REQUIRE_SHARED=1`); the
//! plugins themselves are built (and signed) from `../shared/models` by `plugins/build.rs`.

use crate::cli::{edgeplug, p};
use crate::shared::models_dir;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `../shared/frontends` and its parsed `features.json`, or `None` after the skip line.
fn frontends() -> Option<(PathBuf, Value)> {
    let models = models_dir()?;
    let dir = models.join("../frontends");
    let text = std::fs::read_to_string(dir.join("features.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("features.json").display()));
    Some((dir, serde_json::from_str(&text).unwrap()))
}

/// The plugin crate directory `plugins/NAME`; the build must have signed it.
fn plugin_crate(name: &str) -> PathBuf {
    let dir = root().join("plugins").join(name);
    assert!(
        dir.join("Cargo.toml").is_file(),
        "{} missing",
        dir.display()
    );
    assert!(
        edgeplug_plugins::SIGNED_PLUGINS.contains(&name),
        "the build did not sign `{name}`: {:?}",
        edgeplug_plugins::SIGNED_PLUGINS
    );
    dir
}

/// The development public key the workspace build signs the plugins with.
fn dev_pub() -> PathBuf {
    edgeplug_plugins::signed_plugins_dir().join("dev.pub")
}

/// Runs `plugin_dir` on `wav` with `--json` and returns the parsed result.
fn run_json(plugin_dir: &Path, wav: &Path) -> Value {
    let out = edgeplug(&[
        "run",
        p(plugin_dir),
        "--trust",
        p(&dev_pub()),
        "--input",
        p(wav),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}: {}",
        wav.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            wav.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `_silence_` and `silence` are the same label.
fn norm(label: &str) -> String {
    label.trim_matches('_').to_ascii_lowercase()
}

#[test]
fn kws_plugin_gives_tflms_label_for_every_clip() {
    let Some((dir, features)) = frontends() else {
        return;
    };
    let kws = plugin_crate("kws");
    let clips = features["kws"]["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 43);
    let mut wrong = Vec::new();
    for clip in clips {
        let wav = dir.join("kws").join(clip["wav"]["file"].as_str().unwrap());
        let v = run_json(&kws, &wav);
        let want = clip["predicted_label"].as_str().unwrap();
        let got = v["label"].as_str().unwrap_or("<none>");
        if norm(got) != norm(want) {
            wrong.push(format!("{}: {got}, TFLM {want}", clip["name"]));
        }
    }
    assert!(wrong.is_empty(), "labels differ from TFLM's: {wrong:?}");
}

/// The values of output `name` in a `run --json` result.
fn output(v: &Value, name: &str) -> Vec<f64> {
    v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output `{name}` in {v}"))["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn anomaly_plugin_reproduces_the_recorded_scores() {
    let Some((dir, features)) = frontends() else {
        return;
    };
    let anomaly = plugin_crate("anomaly");
    let clips = features["ad"]["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 4);
    let mut normal_max = f64::NEG_INFINITY;
    let mut anomalous_min = f64::INFINITY;
    for clip in clips {
        let name = clip["name"].as_str().unwrap();
        let wav = dir.join("ad").join(clip["wav"]["file"].as_str().unwrap());
        let v = run_json(&anomaly, &wav);
        let score = output(&v, "score");
        assert_eq!(score.len(), 1, "{name}");
        let want = clip["anomaly_score"].as_f64().unwrap();
        let rel = (score[0] - want).abs() / want.abs();
        assert!(
            rel <= 1e-3,
            "{name}: score {} vs recorded {want} (rel {rel:e})",
            score[0]
        );
        // The per-window scores: FRONTENDS.md allows a 1-step difference on < 0.01% of the
        // int8 features, which moves a window score by far less than 1%.
        let windows = output(&v, "window_scores");
        let bytes = std::fs::read(dir.join("ad").join(format!("{name}.scores.f32.bin"))).unwrap();
        let recorded: Vec<f64> = bytes
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        assert_eq!(windows.len(), recorded.len(), "{name}");
        for (i, (got, want)) in windows.iter().zip(&recorded).enumerate() {
            let rel = (got - want).abs() / want.abs();
            assert!(rel <= 1e-2, "{name} window {i}: {got} vs recorded {want}");
        }
        match clip["label"].as_str().unwrap() {
            "normal" => normal_max = normal_max.max(score[0]),
            _ => anomalous_min = anomalous_min.min(score[0]),
        }
    }
    assert!(
        anomalous_min > normal_max,
        "anomalous {anomalous_min} not above normal {normal_max}"
    );
}

/// A plugin crate directory that was not built (or is not a crate) is refused clearly.
#[test]
fn a_plugin_directory_that_is_not_built_is_a_clear_error() {
    let dir = crate::cli::tmpdir("pipe-unbuilt");
    let krate = dir.join("no-such-plugin-xyz");
    std::fs::create_dir_all(&krate).unwrap();
    let clip = dir.join("x.wav");
    std::fs::write(&clip, crate::inputs::wav16(&[0; 16000])).unwrap();
    let out = edgeplug(&[
        "run",
        p(&krate),
        "--insecure-skip-verify",
        "--input",
        p(&clip),
    ]);
    crate::cli::assert_one_line_error(&out, &["no-such-plugin-xyz", "without a Cargo.toml"]);
    std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let out = edgeplug(&[
        "run",
        p(&krate),
        "--insecure-skip-verify",
        "--input",
        p(&clip),
    ]);
    crate::cli::assert_one_line_error(
        &out,
        &["plugin crate", "is not built", "no-such-plugin-xyz.wasm"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
