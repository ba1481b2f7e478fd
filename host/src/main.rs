//! The `edgeplug` command-line tool.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use edgeplug::engine::EngineKind;
use edgeplug::{ModelFile, TensorData, write_atomic};
use edgeplug_model::{Interpreter, Model, OpKind, Tensor, model_stats};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `println!` that returns an error instead of panicking when stdout is closed (for example
/// `edgeplug model inspect m.tflite | head -1`); `main` ends quietly on a broken pipe. Defined
/// before the modules so that they use it too.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod demo;
mod gateway_cli;
mod run_cli;
mod trust_cli;

/// edgeplug: signed, sandboxed TinyML model plugins.
#[derive(Parser)]
#[command(
    name = "edgeplug",
    version,
    about = "Build, sign, verify and run TinyML model plugins (WebAssembly components)",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with int8 models (.tflite or .epm) directly, without a plugin.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run the bundled demo keyword-spotting plugin on its bundled WAV samples (needs no
    /// files): signed by the build's development key, verified, self-tested, on wasmtime.
    Demo(DemoArgs),
    /// Make a plugin component that carries a model (.tflite or .epm), using the built-in
    /// runner (no Rust toolchain needed), with a measured, self-tested manifest; signed
    /// with --key.
    // `--version` is the plugin's version here, not a request for edgeplug's.
    #[command(disable_version_flag = true)]
    Pack(PackArgs),
    /// Run a plugin on a WAV clip, an image or raw tensors (verified first: needs --trust, a
    /// trust directory, or --insecure-skip-verify). Clips longer than the plugin's audio
    /// input run in sliding windows, streamed.
    Run(PluginRunArgs),
    /// Scaffold a plugin crate (front end + model + post-processing) that builds for wasm32
    /// and passes its own `cargo test`.
    New(NewArgs),
    /// Generate a signing key pair: DIR/edgeplug.key (secret, mode 0600) and DIR/edgeplug.pub.
    Keygen(trust_cli::KeygenArgs),
    /// Sign a plugin component (for example one built with the SDK).
    Sign(trust_cli::SignArgs),
    /// Verify a plugin: exit 0 only if a trusted signature verifies, the manifest is valid
    /// and the self-test passes.
    Verify(trust_cli::VerifyArgs),
    /// Show a plugin's manifest, model card, signers, digests and sizes (signed or not).
    Inspect(trust_cli::InspectArgs),
    #[command(flatten)]
    Gateway(gateway_cli::GatewayCommand),
}

#[derive(Args)]
struct PackArgs {
    /// The model (.tflite or .epm).
    model: PathBuf,
    /// The plugin's name (default: the model's name, or the .tflite file's stem).
    #[arg(long)]
    name: Option<String>,
    /// The plugin's semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]).
    #[arg(long)]
    version: String,
    /// Where to write the plugin component (.wasm).
    #[arg(short, long)]
    output: PathBuf,
    /// A text file with one class label per line (as many as the model's classes).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Sign the plugin with this secret key (`edgeplug keygen`). Without it the plugin is
    /// written unsigned, and hosts refuse it unless told --insecure-skip-verify.
    #[arg(long, value_name = "SECRET_KEY")]
    key: Option<PathBuf>,
    /// The plugin's anti-rollback sequence number: hosts that accepted sequence N refuse
    /// anything lower. Increase it with every release.
    #[arg(long, default_value_t = 0)]
    sequence: u64,
    /// The model card (JSON: intended_use, training_data, metrics, limitations, license,
    /// authors; see the README).
    #[arg(long, value_name = "CARD.json")]
    card: Option<PathBuf>,
    /// A host the plugin is meant for (repeatable; default: wasmtime and wasmi, or wasmtime
    /// alone with --simd128).
    #[arg(long = "target", value_name = "HOST")]
    targets: Vec<String>,
    /// Build a gateway-only plugin with the Wasm SIMD (simd128) runner: faster on wasmtime,
    /// the same outputs, but wasmi hosts need their `simd` feature to load it and MCU hosts
    /// refuse it by default, so its manifest targets wasmtime only (see BENCHMARKS.md).
    #[arg(long)]
    simd128: bool,
    /// The self-test input (raw tensor; repeat for models with several inputs). Default:
    /// a seeded pseudo-random tensor.
    #[arg(long = "self-test-input", value_name = "FILE")]
    self_test_inputs: Vec<PathBuf>,
}

#[derive(Args)]
struct PluginRunArgs {
    /// The plugin component (.wasm), or a plugin crate directory of this workspace (such as
    /// `plugins/kws`: runs the signed plugin the workspace build made of it).
    plugin: PathBuf,
    /// An input file, read as the plugin's input spec says: a WAV clip (16 kHz mono 16-bit
    /// PCM) for an int16 audio input, a PNG, JPEG or PPM image for a uint8 [H,W,3] image
    /// input, otherwise raw bytes (row-major, little-endian, exactly the input's size).
    /// Repeat for plugins with several inputs, in order.
    #[arg(short, long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the raw output tensor. Repeat for plugins with several outputs.
    #[arg(short, long = "output")]
    outputs: Vec<PathBuf>,
    /// Print JSON instead of text: one object; for a clip longer than one window, one
    /// object per line (detections or windows, then a summary).
    #[arg(long)]
    json: bool,
    /// The engine that runs the plugin.
    #[arg(long, value_enum, default_value_t = EngineArg::Wasmtime)]
    engine: EngineArg,
    #[command(flatten)]
    trust: trust_cli::TrustArgs,
    /// Run the plugin without checking its signature (prints a warning). The self-test
    /// still runs if the plugin has a manifest.
    #[arg(long)]
    insecure_skip_verify: bool,
    /// WAV clips longer than the plugin's window: milliseconds between window starts
    /// (default: half a window for classifiers, 500 ms for a 1 s keyword spotter; a whole
    /// window for other plugins).
    #[arg(long, value_name = "MS")]
    stride_ms: Option<u32>,
    /// Long WAV clips on a classifier: the score (0..1) a window's top label needs to be a
    /// detection (default 0.5). Background labels (silence, unknown) are never detections.
    #[arg(long)]
    threshold: Option<f64>,
    /// Zero-pad a WAV clip shorter than the plugin's window (the default for classifiers;
    /// other plugins refuse such a clip without --pad).
    #[arg(long)]
    pad: bool,
    /// Long WAV clips on a classifier: also print every window's top label.
    #[arg(long)]
    all_windows: bool,
}

#[derive(Args)]
struct NewArgs {
    /// The plugin's (and its crate's) name: ASCII letters, digits, `-` and `_`, starting
    /// with a letter.
    name: String,
    /// The crate's directory (default: ./NAME). Created if missing; must be empty if it
    /// exists.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// The edgeplug guest SDK the crate depends on by path: an edgeplug checkout's
    /// `guest-sdk` directory (default: the one this edgeplug was built from).
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// wasmtime (Cranelift, component model): the gateway engine.
    Wasmtime,
    /// wasmi (an interpreter) through edgeplug-mcu: the microcontroller engine.
    Wasmi,
}

impl From<EngineArg> for EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Wasmtime => EngineKind::Wasmtime,
            EngineArg::Wasmi => EngineKind::Wasmi,
        }
    }
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Convert a .tflite model into edgeplug's compact .epm format.
    Import {
        /// The .tflite file.
        model: PathBuf,
        /// Where to write the .epm file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Describe a model: ops, shapes, quantization, parameters, MACs, arena bytes.
    Inspect {
        /// The model (.tflite or .epm).
        model: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a model once on raw tensors.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The model (.tflite or .epm).
    model: PathBuf,
    /// Raw input tensor (row-major, little-endian, exactly the input's size). Repeat for
    /// models with several inputs, in order.
    #[arg(short, long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the raw output tensor. Repeat for models with several outputs.
    #[arg(short, long = "output")]
    outputs: Vec<PathBuf>,
    /// A text file with one class label per line, for a readable result.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Whether `e` is stdout closing under us (the reader of a pipe went away): not an error
/// of ours, and nothing useful can be printed about it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Model(ModelCommand::Import { model, output }) => import(&model, &output),
        Command::Model(ModelCommand::Inspect { model, json }) => inspect(&model, json),
        Command::Model(ModelCommand::Run(args)) => run(&args),
        Command::Demo(args) => demo::run(args.json),
        Command::Pack(args) => pack(&args),
        Command::Run(args) => run_cli::run_plugin(&args),
        Command::New(args) => new_plugin(&args),
        Command::Keygen(args) => trust_cli::keygen(&args),
        Command::Sign(args) => trust_cli::sign(&args),
        Command::Verify(args) => trust_cli::verify(&args),
        Command::Inspect(args) => trust_cli::inspect(&args),
        Command::Gateway(command) => gateway_cli::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open(path: &Path) -> Result<ModelFile> {
    ModelFile::open(path).with_context(|| format!("failed to load model `{}`", path.display()))
}

fn import(model: &Path, output: &Path) -> Result<()> {
    let file = open(model)?;
    let epm = file.to_epm()?;
    // Check what we are about to write decodes and validates before writing it.
    let decoded = edgeplug_model::format::decode(&epm).map_err(|e| file.error(e))?;
    let interp = Interpreter::new(&decoded).map_err(|e| file.error(e))?;
    let arena = interp.arena_bytes();
    write_atomic(output, &epm)?;
    println!(
        "wrote {} ({} bytes, {} ops, arena {} bytes)",
        output.display(),
        epm.len(),
        decoded.operators.len(),
        arena
    );
    Ok(())
}

fn shape_str(shape: &[u32]) -> String {
    let dims: Vec<String> = shape.iter().map(u32::to_string).collect();
    format!("[{}]", dims.join(","))
}

fn quant_str(t: &Tensor<'_>) -> String {
    match &t.quantization {
        None => "-".into(),
        Some(q) if q.scales.len() == 1 => {
            format!(
                "scale {} zp {}",
                q.scales[0],
                q.zero_points.first().unwrap_or(&0)
            )
        }
        Some(q) => {
            let (lo, hi) = q
                .scales
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
                    (lo.min(s), hi.max(s))
                });
            format!(
                "per-channel axis {} ({} scales {lo:.3e}..{hi:.3e})",
                q.axis,
                q.scales.len()
            )
        }
    }
}

fn op_detail(kind: &OpKind, model: &Model<'_>, inputs: &[i32]) -> String {
    let filter = |i: usize| {
        inputs
            .get(i)
            .and_then(|&t| usize::try_from(t).ok())
            .and_then(|t| model.tensors.get(t))
            .map(|t| t.shape.clone())
            .unwrap_or_default()
    };
    let act = |a: edgeplug_model::Activation| format!("{a:?}").to_uppercase();
    match kind {
        OpKind::Conv2d(o) => {
            let f = filter(1);
            let k = if f.len() == 4 {
                format!("{}x{}", f[1], f[2])
            } else {
                "?".into()
            };
            format!(
                "{k} s{}x{} {:?} {}",
                o.stride_h,
                o.stride_w,
                o.padding,
                act(o.activation)
            )
        }
        OpKind::DepthwiseConv2d(o) => {
            let f = filter(1);
            let k = if f.len() == 4 {
                format!("{}x{}", f[1], f[2])
            } else {
                "?".into()
            };
            format!(
                "{k} s{}x{} {:?} {}",
                o.stride_h,
                o.stride_w,
                o.padding,
                act(o.activation)
            )
        }
        OpKind::FullyConnected(o) => act(o.activation),
        OpKind::Add { activation } => act(*activation),
        OpKind::AveragePool2d(o) | OpKind::MaxPool2d(o) => format!(
            "{}x{} s{}x{} {:?} {}",
            o.filter_h,
            o.filter_w,
            o.stride_h,
            o.stride_w,
            o.padding,
            act(o.activation)
        ),
        OpKind::Softmax { beta } => format!("beta {beta}"),
        OpKind::Reshape | OpKind::Quantize | OpKind::Dequantize => String::new(),
    }
}

fn tensor_of<'m>(model: &'m Model<'m>, idx: i64) -> Option<&'m Tensor<'m>> {
    usize::try_from(idx).ok().and_then(|i| model.tensors.get(i))
}

fn inspect(path: &Path, as_json: bool) -> Result<()> {
    let file = open(path)?;
    let model = file.model()?;
    let interp = Interpreter::new(&model).map_err(|e| file.error(e))?;
    let stats = model_stats(&model);
    let io = |idx: &[u32]| -> Vec<serde_json::Value> {
        idx.iter()
            .filter_map(|&i| model.tensors.get(i as usize).map(|t| (i, t)))
            .map(|(i, t)| {
                json!({
                    "index": i, "name": t.name, "dtype": t.dtype.name(), "shape": t.shape,
                    "scale": t.quantization.as_ref().map(|q| q.scales.clone()),
                    "zero_point": t.quantization.as_ref().map(|q| q.zero_points.clone()),
                })
            })
            .collect()
    };
    if as_json {
        let ops: Vec<_> = model
            .operators
            .iter()
            .enumerate()
            .map(|(i, op)| {
                json!({
                    "index": i,
                    "op": op.kind.name(),
                    "detail": op_detail(&op.kind, &model, &op.inputs),
                    "inputs": op.inputs,
                    "outputs": op.outputs,
                    "output_shape": op.outputs.first()
                        .and_then(|&o| tensor_of(&model, i64::from(o)))
                        .map(|t| t.shape.clone()),
                    "macs": stats.ops.get(i).map(|s| s.macs).unwrap_or(0),
                })
            })
            .collect();
        let out = json!({
            "name": model.name,
            "format": format!("{:?}", file.kind()).to_lowercase(),
            "file_bytes": file.bytes().len(),
            "inputs": io(&model.inputs),
            "outputs": io(&model.outputs),
            "ops": ops,
            "tensors": model.tensors.len(),
            "macs": stats.macs,
            "params": stats.params,
            "constant_bytes": stats.constant_bytes,
            "arena_bytes": interp.arena_bytes(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "model:     {} ({:?}, {} bytes)",
        model.name,
        file.kind(),
        file.bytes().len()
    );
    if !model.description.is_empty() {
        println!("about:     {}", model.description);
    }
    for (what, idx) in [("input ", &model.inputs), ("output", &model.outputs)] {
        for &i in idx {
            if let Some(t) = model.tensors.get(i as usize) {
                println!(
                    "{what}:    {} {} {} ({})",
                    t.name,
                    t.dtype.name(),
                    shape_str(&t.shape),
                    quant_str(t)
                );
            }
        }
    }
    println!("ops:");
    println!(
        "  {:>3}  {:<18} {:<26} {:<16} {:>10}",
        "#", "op", "options", "output", "MACs"
    );
    for (i, op) in model.operators.iter().enumerate() {
        let out = op
            .outputs
            .first()
            .and_then(|&o| tensor_of(&model, i64::from(o)))
            .map(|t| shape_str(&t.shape))
            .unwrap_or_default();
        println!(
            "  {:>3}  {:<18} {:<26} {:<16} {:>10}",
            i,
            op.kind.name(),
            op_detail(&op.kind, &model, &op.inputs),
            out,
            stats.ops.get(i).map(|s| s.macs).unwrap_or(0)
        );
    }
    println!("tensors:   {}", model.tensors.len());
    println!(
        "params:    {} ({} bytes of constants)",
        stats.params, stats.constant_bytes
    );
    println!("MACs:      {}", stats.macs);
    println!("arena:     {} bytes", interp.arena_bytes());
    Ok(())
}

fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read labels `{}`", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Runs `model` on raw input byte buffers and returns the outputs.
pub(crate) fn run_model(
    file: &ModelFile,
    model: &Model<'_>,
    inputs: &[Vec<u8>],
) -> Result<Vec<TensorData>> {
    let mut interp = Interpreter::new(model).map_err(|e| file.error(e))?;
    let mut outputs: Vec<TensorData> = model
        .outputs
        .iter()
        .map(|&o| {
            let t = &model.tensors[o as usize];
            TensorData {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                quantization: t.quantization.clone(),
                bytes: vec![0; t.byte_len().unwrap_or(0)],
            }
        })
        .collect();
    let input_refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut output_refs: Vec<&mut [u8]> =
        outputs.iter_mut().map(|t| t.bytes.as_mut_slice()).collect();
    interp
        .invoke(&input_refs, &mut output_refs)
        .map_err(|e| file.error(e))?;
    Ok(outputs)
}

fn run(args: &RunArgs) -> Result<()> {
    let file = open(&args.model)?;
    let model = file.model()?;
    if args.inputs.len() != model.inputs.len() {
        bail!(
            "model `{}` takes {} input(s), {} given",
            args.model.display(),
            model.inputs.len(),
            args.inputs.len()
        );
    }
    if !args.outputs.is_empty() && args.outputs.len() != model.outputs.len() {
        bail!(
            "model `{}` has {} output(s), {} --output given",
            args.model.display(),
            model.outputs.len(),
            args.outputs.len()
        );
    }
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for (pos, path) in args.inputs.iter().enumerate() {
        let bytes = std::fs::read(path)
            .with_context(|| format!("failed to read input `{}`", path.display()))?;
        let t = &model.tensors[model.inputs[pos] as usize];
        let expected = t.byte_len().unwrap_or(0);
        if bytes.len() != expected {
            bail!(
                "input `{}` has {} bytes, but input {pos} of the model ({} {} {}) needs {expected}",
                path.display(),
                bytes.len(),
                t.name,
                t.dtype.name(),
                shape_str(&t.shape)
            );
        }
        inputs.push(bytes);
    }
    let labels = match &args.labels {
        Some(p) => read_labels(p)?,
        None => Vec::new(),
    };
    let outputs = run_model(&file, &model, &inputs)?;
    for (path, t) in args.outputs.iter().zip(&outputs) {
        write_atomic(path, &t.bytes)
            .with_context(|| format!("failed to write output `{}`", path.display()))?;
    }
    print_outputs(&outputs, &labels, args.json)
}

/// Prints outputs as text (a readable classification where one applies) or one JSON object.
pub(crate) fn print_outputs(
    outputs: &[TensorData],
    labels: &[String],
    as_json: bool,
) -> Result<()> {
    print_results(outputs, labels, None, as_json)
}

/// [`print_outputs`], or with `anomaly` set, an anomaly score (`anomaly_score` in JSON)
/// instead of a classification.
fn print_results(
    outputs: &[TensorData],
    labels: &[String],
    anomaly: Option<f64>,
    as_json: bool,
) -> Result<()> {
    let class = match anomaly {
        Some(_) => None,
        None => outputs.first().and_then(|t| t.classification(labels)),
    };
    print_classified(outputs, class.as_ref(), anomaly, as_json)
}

/// [`print_results`] with the classification (if any) chosen by the caller.
fn print_classified(
    outputs: &[TensorData],
    class: Option<&edgeplug::Classification>,
    anomaly: Option<f64>,
    as_json: bool,
) -> Result<()> {
    if as_json {
        let mut obj = serde_json::Map::new();
        if let Some(score) = anomaly {
            obj.insert("anomaly_score".into(), json!(score));
        }
        if let Some(c) = &class {
            let (index, label, score) = c.top();
            obj.insert("label".into(), json!(label));
            obj.insert("index".into(), json!(index));
            obj.insert("score".into(), json!(score));
        }
        let tensors: Vec<_> = outputs.iter().map(TensorData::to_json).collect();
        obj.insert("outputs".into(), json!(tensors));
        println!("{}", serde_json::Value::Object(obj));
        return Ok(());
    }
    if let Some(score) = anomaly {
        println!("result: anomaly score {score:.6} (mean squared reconstruction error)");
    }
    if let Some(c) = &class {
        let (_, label, score) = c.top();
        println!("result: {label} (score {score:.3})");
        for (i, label, score) in c.ranked.iter().take(5) {
            println!("  {i:>3} {label:<16} {score:.4}");
        }
    }
    for t in outputs {
        let values = t.values();
        let shown: Vec<String> = values.iter().take(16).map(|v| v.to_string()).collect();
        let more = if values.len() > 16 {
            format!(", ... ({} values)", values.len())
        } else {
            String::new()
        };
        println!(
            "output {} {} {}: [{}{more}]",
            t.name,
            t.dtype.name(),
            shape_str(&t.shape),
            shown.join(", ")
        );
    }
    Ok(())
}

fn pack(args: &PackArgs) -> Result<()> {
    // Refuse a bad version, key or card before the (slower) model import.
    edgeplug::check_semver(&args.version)?;
    let key = match &args.key {
        Some(path) => Some(trust_cli::read_secret_key(path)?),
        None => None,
    };
    let card = match &args.card {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read model card `{}`", path.display()))?;
            edgeplug::package::parse_card(&text)
                .map_err(|e| anyhow::anyhow!("model card `{}`: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let self_test_inputs =
        if args.self_test_inputs.is_empty() {
            None
        } else {
            let mut v = Vec::new();
            for path in &args.self_test_inputs {
                v.push(std::fs::read(path).with_context(|| {
                    format!("failed to read self-test input `{}`", path.display())
                })?);
            }
            Some(v)
        };
    let file = open(&args.model)?;
    let labels = match &args.labels {
        Some(p) => read_labels(p)?,
        None => Vec::new(),
    };
    let packaged = edgeplug::package::package_plugin(
        &file,
        &edgeplug::package::PackageOptions {
            name: args.name.clone().unwrap_or_default(),
            version: args.version.clone(),
            labels: labels.clone(),
            sequence: args.sequence,
            card,
            targets: args.targets.clone(),
            self_test_inputs,
            key: key.clone(),
            runner: if args.simd128 {
                edgeplug::Runner::Simd128
            } else {
                edgeplug::Runner::Shared
            },
        },
    )?;
    write_atomic(&args.output, &packaged.bytes)?;
    let model = file.model()?;
    let m = &packaged.manifest;
    println!(
        "wrote {} ({} bytes: plugin `{}` {}, model {} with {} ops{})",
        args.output.display(),
        packaged.bytes.len(),
        m.name,
        m.version,
        args.model.display(),
        model.operators.len(),
        if labels.is_empty() {
            String::new()
        } else {
            format!(", {} labels", labels.len())
        }
    );
    let fuel: Vec<String> = m
        .resources
        .fuel
        .iter()
        .map(|f| format!("{} {}", f.engine, f.fuel_per_inference))
        .collect();
    let engines = if packaged.measured_fuel.1.is_some() {
        "wasmtime, wasmi and the native executor"
    } else {
        "wasmtime and the native executor"
    };
    println!(
        "manifest: sequence {}, targets {}, memory {} bytes, fuel per inference {}, self-test output sha256 {} (identical on {engines})",
        m.sequence,
        m.targets.join(", "),
        m.resources.memory_bytes,
        fuel.join(", "),
        m.self_test.output_sha256
    );
    match &key {
        Some(k) => println!(
            "signed with key id {}",
            edgeplug::trust::hex(&k.public_key().key_id())
        ),
        None => eprintln!(
            "note: {} is UNSIGNED (no --key): hosts refuse it unless run with --insecure-skip-verify; sign it with `edgeplug sign`",
            args.output.display()
        ),
    }
    Ok(())
}

fn new_plugin(args: &NewArgs) -> Result<()> {
    use edgeplug::scaffold::{ScaffoldOptions, default_sdk_dir, scaffold};
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let written = scaffold(&ScaffoldOptions {
        name: args.name.clone(),
        dir: dir.clone(),
        sdk: args.sdk.clone().unwrap_or_else(default_sdk_dir),
    })?;
    println!(
        "created plugin crate `{}` in {} ({} files: front end and post-processing in src/lib.rs, model in model.epm)",
        args.name,
        dir.display(),
        written.len()
    );
    println!(
        "next: cd {} && cargo test && cargo build --release --target wasm32-unknown-unknown",
        dir.display()
    );
    Ok(())
}
