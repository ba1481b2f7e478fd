//! `edgeplug run`: a plugin on raw tensors, images or WAV clips (windowed and streamed).

use crate::{PluginRunArgs, print_classified};
use anyhow::{Context, Result, bail};
use edgeplug::TensorData;
use edgeplug::engine::{ModelInfo, PluginInstance, TensorRef, anomaly_score};
use edgeplug::input::{
    AUDIO_SAMPLE_RATE, FileFormat, InputKind, ShortClip, WavStream, WindowOptions, Windows,
    load_input,
};
use edgeplug::write_atomic;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Labels that are not detections: the background classes of keyword spotters.
const BACKGROUND_LABELS: &[&str] = &[
    "silence",
    "unknown",
    "background",
    "background_noise",
    "noise",
];

/// Whether `label` names a background class (`silence`, `_unknown_`, ...), not a keyword.
fn is_background(label: &str) -> bool {
    let l = label.trim_matches('_').to_ascii_lowercase();
    BACKGROUND_LABELS.contains(&l.as_str())
}

/// A plugin file, or for a plugin crate directory (one with a `Cargo.toml`) the signed
/// plugin the workspace build made of it: `signed_plugins_dir()/<dir name>.wasm`.
pub(crate) fn resolve_plugin(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if !path.join("Cargo.toml").is_file() {
        bail!(
            "`{}` is a directory without a Cargo.toml: give a plugin file (.wasm) or a plugin crate directory",
            path.display()
        );
    }
    let canonical = path
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", path.display()))?;
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = edgeplug_plugins::signed_plugins_dir();
    let wasm = dir.join(format!("{name}.wasm"));
    if !wasm.is_file() {
        let built = edgeplug_plugins::SIGNED_PLUGINS;
        bail!(
            "plugin crate `{}` is not built: {} does not exist (the workspace build signs {} into {}; build it with `cargo build`, or give a .wasm file)",
            path.display(),
            wasm.display(),
            if built.is_empty() {
                "no plugins".to_string()
            } else {
                built.join(", ")
            },
            dir.display()
        );
    }
    Ok(wasm)
}

pub(crate) fn run_plugin(args: &PluginRunArgs) -> Result<()> {
    let plugin_path = resolve_plugin(&args.plugin)?;
    let mut plugin = crate::trust_cli::load_for_run(
        args.engine.into(),
        &plugin_path,
        &args.trust,
        args.insecure_skip_verify,
    )?
    .instance;
    let info = plugin.info().clone();
    let name = plugin_path.display().to_string();
    if args.inputs.len() != info.inputs.len() {
        bail!(
            "plugin `{name}` takes {} input(s), {} given",
            info.inputs.len(),
            args.inputs.len()
        );
    }
    if !args.outputs.is_empty() && args.outputs.len() != info.outputs.len() {
        bail!(
            "plugin `{name}` has {} output(s), {} --output given",
            info.outputs.len(),
            args.outputs.len()
        );
    }
    if let Some(threshold) = args.threshold
        && !(0.0..=1.0).contains(&threshold)
    {
        bail!("--threshold must be between 0 and 1, not {threshold}");
    }
    // Short clips: zero-padded for classifiers (as keyword spotters are trained), refused
    // for other plugins (padding would distort a score) unless --pad.
    let short = if args.pad || !info.labels.is_empty() {
        ShortClip::Pad
    } else {
        ShortClip::Refuse
    };
    if let ([path], [spec]) = (args.inputs.as_slice(), info.inputs.as_slice())
        && let InputKind::Audio {
            window: Some(window),
        } = InputKind::of(spec)
        && FileFormat::of_file(path)? == FileFormat::Wav
    {
        return run_audio(&mut plugin, &info, path, window, short, args);
    }
    if args.stride_ms.is_some() {
        bail!("--stride-ms applies to WAV clips on a plugin with one audio input");
    }
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for (pos, (path, spec)) in args.inputs.iter().zip(&info.inputs).enumerate() {
        let input = load_input(path, spec, short)
            .map_err(|e| anyhow::anyhow!("input {pos} of plugin `{name}`: {e}"))?;
        inputs.push(input);
    }
    let refs: Vec<TensorRef<'_>> = inputs
        .iter()
        .zip(&info.inputs)
        .map(|(input, spec)| TensorRef {
            shape: &input.shape,
            dtype: spec.dtype,
            data: &input.data,
        })
        .collect();
    let outputs = plugin.infer(&refs)?;
    let data = plugin.tensor_data(&outputs)?;
    write_outputs(args, &data)?;
    let anomaly = match (inputs.as_slice(), outputs.as_slice()) {
        ([input], [output]) => anomaly_score(&info, &input.data, output),
        _ => None,
    };
    print_single(&data, &info, anomaly, args.json)
}

fn write_outputs(args: &PluginRunArgs, data: &[TensorData]) -> Result<()> {
    for (path, t) in args.outputs.iter().zip(data) {
        write_atomic(path, &t.bytes)
            .with_context(|| format!("failed to write output `{}`", path.display()))?;
    }
    Ok(())
}

/// The classification of a plugin's outputs: by its labels; for a plugin without labels,
/// only when its first output is integer class scores (a packed model's softmax), never
/// for float outputs (scores, such as anomaly scores).
fn classify(data: &[TensorData], info: &ModelInfo) -> Option<edgeplug::Classification> {
    let first = data.first()?;
    if info.labels.is_empty() && first.dtype == edgeplug_model::DType::F32 {
        return None;
    }
    first.classification(&info.labels)
}

/// One result, as `model run` prints it; for plugins whose outputs are not a
/// classification, preceded by a `result:` line summarizing them (scores).
fn print_single(
    data: &[TensorData],
    info: &ModelInfo,
    anomaly: Option<f64>,
    as_json: bool,
) -> Result<()> {
    let class = match anomaly {
        Some(_) => None,
        None => classify(data, info),
    };
    if !as_json && anomaly.is_none() && class.is_none() {
        println!("result: {}", scores_line(data));
    }
    print_classified(data, class.as_ref(), anomaly, as_json)
}

/// `score 10.0812; window_scores: 196 values, mean 10.0812, min 9.1 (#3), max 12.3 (#57)`:
/// single values by name, longer outputs as statistics.
fn scores_line(data: &[TensorData]) -> String {
    let parts: Vec<String> = data
        .iter()
        .map(|t| {
            let v = t.real_values();
            match v.as_slice() {
                [x] => format!("{} {x:.4}", t.name),
                _ => {
                    let s = Stats::of(&v);
                    format!(
                        "{}: {} values, mean {:.4}, min {:.4} (#{}), max {:.4} (#{})",
                        t.name,
                        v.len(),
                        s.mean,
                        s.min,
                        s.argmin,
                        s.max,
                        s.argmax
                    )
                }
            }
        })
        .collect();
    parts.join("; ")
}

#[derive(Debug)]
struct Stats {
    mean: f64,
    min: f64,
    max: f64,
    argmin: usize,
    argmax: usize,
}

impl Stats {
    fn of(v: &[f64]) -> Stats {
        let mut s = Stats {
            mean: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            argmin: 0,
            argmax: 0,
        };
        for (i, &x) in v.iter().enumerate() {
            s.mean += x;
            if x < s.min {
                s.min = x;
                s.argmin = i;
            }
            if x > s.max {
                s.max = x;
                s.argmax = i;
            }
        }
        if !v.is_empty() {
            s.mean /= v.len() as f64;
        }
        s
    }
}

/// `mm:ss.ss`, or `h:mm:ss.ss` from one hour on.
fn timestamp(s: f64) -> String {
    let centis = (s * 100.0).round() as u64;
    let (h, rem) = (centis / 360_000, centis % 360_000);
    let (m, rem) = (rem / 6000, rem % 6000);
    let sec = rem as f64 / 100.0;
    if h > 0 {
        format!("{h}:{m:02}:{sec:05.2}")
    } else {
        format!("{m:02}:{sec:05.2}")
    }
}

/// A keyword detection: consecutive windows with the same top label above the threshold.
struct Event {
    label: String,
    index: usize,
    start_s: f64,
    end_s: f64,
    score: f64,
    windows: u64,
}

impl Event {
    fn print(&self, as_json: bool) -> Result<()> {
        if as_json {
            println!(
                "{}",
                json!({
                    "type": "detection",
                    "label": self.label,
                    "index": self.index,
                    "score": self.score,
                    "start_s": self.start_s,
                    "end_s": self.end_s,
                    "windows": self.windows,
                })
            );
        } else {
            println!(
                "{}-{}  {:<12} {:.3}{}",
                timestamp(self.start_s),
                timestamp(self.end_s),
                self.label,
                self.score,
                if self.windows > 1 {
                    format!("  ({} windows)", self.windows)
                } else {
                    String::new()
                }
            );
        }
        Ok(())
    }
}

/// Per-output running statistics over windows, for single-value outputs (scores).
struct ScoreTrack {
    name: String,
    sum: f64,
    max: f64,
    max_at: (f64, f64),
}

fn run_audio(
    plugin: &mut PluginInstance,
    info: &ModelInfo,
    path: &Path,
    window: usize,
    short: ShortClip,
    args: &PluginRunArgs,
) -> Result<()> {
    let classifier = !info.labels.is_empty();
    let rate = u64::from(AUDIO_SAMPLE_RATE);
    let stride = match args.stride_ms {
        Some(0) => bail!("--stride-ms must be at least 1"),
        Some(ms) => usize::try_from(u64::from(ms) * rate / 1000)
            .unwrap_or(usize::MAX)
            .max(1),
        // Classifiers: half a window (500 ms for a 1 s keyword spotter), so a word is whole
        // in at least one window. Scorers: consecutive windows.
        None if classifier => (window / 2).max(1),
        None => window,
    };
    let stream = WavStream::open(path)?;
    let mut windows = Windows::new(
        stream,
        WindowOptions {
            window,
            stride,
            short,
        },
    )?;
    let total = windows.count();
    let spec = &info.inputs[0];
    let mut bytes = Vec::with_capacity(window * 2);
    if total == 1 {
        let Some(w) = windows.next_window()? else {
            bail!("`{}` gives no window", path.display());
        };
        if w.valid < window {
            eprintln!(
                "note: `{}` is {:.3} s long, zero-padded to the plugin's {:.3} s window",
                path.display(),
                w.end_s(),
                window as f64 / rate as f64
            );
        }
        w.le_bytes(&mut bytes);
        let shape = concrete_shape(&spec.shape, window);
        let outputs = plugin.infer(&[TensorRef {
            shape: &shape,
            dtype: spec.dtype,
            data: &bytes,
        }])?;
        let data = plugin.tensor_data(&outputs)?;
        write_outputs(args, &data)?;
        return print_single(&data, info, None, args.json);
    }
    if !args.outputs.is_empty() {
        bail!(
            "--output needs a clip of at most one window ({:.3} s); `{}` is {:.3} s long",
            window as f64 / rate as f64,
            path.display(),
            windows.stream().duration_s()
        );
    }
    let threshold = args.threshold.unwrap_or(0.5);
    let window_s = window as f64 / rate as f64;
    let stride_s = stride as f64 / rate as f64;
    let duration_s = windows.stream().duration_s();
    if !args.json {
        println!(
            "{}: {duration_s:.2} s of 16 kHz mono audio, {total} windows of {window_s:.3} s every {stride_s:.3} s{}",
            path.display(),
            if classifier {
                format!("; detections (top label not a background class, score >= {threshold}):")
            } else {
                String::new()
            }
        );
    }
    let shape = concrete_shape(&spec.shape, window);
    let mut event: Option<Event> = None;
    let mut detections = 0u64;
    let mut tracks: Vec<ScoreTrack> = Vec::new();
    let mut count = 0u64;
    while let Some(w) = windows.next_window()? {
        let (index, start_s, end_s) = (w.index, w.start_s(), w.end_s());
        w.le_bytes(&mut bytes);
        let outputs = plugin
            .infer(&[TensorRef {
                shape: &shape,
                dtype: spec.dtype,
                data: &bytes,
            }])
            .with_context(|| {
                format!(
                    "window {index} ({}-{}) of `{}`",
                    timestamp(start_s),
                    timestamp(end_s),
                    path.display()
                )
            })?;
        let data = plugin.tensor_data(&outputs)?;
        count += 1;
        let class = if classifier {
            classify(&data, info)
        } else {
            None
        };
        if let Some(c) = &class {
            let (i, label, score) = c.top().clone();
            if args.all_windows {
                if args.json {
                    println!(
                        "{}",
                        json!({"type": "window", "window": index, "start_s": start_s,
                               "end_s": end_s, "label": label, "index": i, "score": score})
                    );
                } else {
                    println!(
                        "  window {index:>5} {}-{}  {label:<12} {score:.3}",
                        timestamp(start_s),
                        timestamp(end_s)
                    );
                }
            }
            let detected = !is_background(&label) && score >= threshold;
            let extends = matches!(
                &event,
                Some(e) if detected && e.label == label && start_s <= e.end_s
            );
            if extends {
                if let Some(e) = event.as_mut() {
                    e.end_s = end_s;
                    e.score = e.score.max(score);
                    e.windows += 1;
                }
            } else {
                if let Some(e) = event.take() {
                    e.print(args.json)?;
                }
                if detected {
                    detections += 1;
                    event = Some(Event {
                        label,
                        index: i,
                        start_s,
                        end_s,
                        score,
                        windows: 1,
                    });
                }
            }
            continue;
        }
        // Scorers: one line per window, and statistics of single-value outputs.
        for t in &data {
            if let [x] = t.real_values().as_slice() {
                let track = match tracks.iter_mut().position(|k| k.name == t.name) {
                    Some(k) => &mut tracks[k],
                    None => {
                        tracks.push(ScoreTrack {
                            name: t.name.clone(),
                            sum: 0.0,
                            max: f64::NEG_INFINITY,
                            max_at: (0.0, 0.0),
                        });
                        tracks.last_mut().expect("just pushed")
                    }
                };
                track.sum += x;
                if *x > track.max {
                    track.max = *x;
                    track.max_at = (start_s, end_s);
                }
            }
        }
        if args.json {
            let outputs: serde_json::Map<String, serde_json::Value> = data
                .iter()
                .map(|t| {
                    let v = t.real_values();
                    let value = match v.as_slice() {
                        [x] => json!(x),
                        _ => json!(v),
                    };
                    (t.name.clone(), value)
                })
                .collect();
            println!(
                "{}",
                json!({"type": "window", "window": index, "start_s": start_s,
                       "end_s": end_s, "outputs": outputs})
            );
        } else {
            println!(
                "{}-{}  {}",
                timestamp(start_s),
                timestamp(end_s),
                scores_line(&data)
            );
        }
    }
    if let Some(e) = event.take() {
        e.print(args.json)?;
    }
    let scores: serde_json::Map<String, serde_json::Value> = tracks
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                json!({"mean": t.sum / count.max(1) as f64, "max": t.max,
                       "max_start_s": t.max_at.0, "max_end_s": t.max_at.1}),
            )
        })
        .collect();
    if args.json {
        let mut summary = json!({
            "type": "summary", "file": path.display().to_string(), "duration_s": duration_s,
            "windows": count, "window_s": window_s, "stride_s": stride_s,
        });
        if classifier {
            summary["detections"] = json!(detections);
            summary["threshold"] = json!(threshold);
        } else {
            summary["scores"] = json!(scores);
        }
        println!("{summary}");
    } else if classifier {
        println!("{count} windows: {detections} detection(s)");
    } else {
        let parts: Vec<String> = tracks
            .iter()
            .map(|t| {
                format!(
                    "{} mean {:.4}, max {:.4} at {}-{}",
                    t.name,
                    t.sum / count.max(1) as f64,
                    t.max,
                    timestamp(t.max_at.0),
                    timestamp(t.max_at.1)
                )
            })
            .collect();
        println!("{count} windows: {}", parts.join("; "));
    }
    Ok(())
}

/// `shape` with a dynamic dimension (0) set to `window`.
fn concrete_shape(shape: &[u32], window: usize) -> Vec<u32> {
    shape
        .iter()
        .map(|&d| if d == 0 { window as u32 } else { d })
        .collect()
}
