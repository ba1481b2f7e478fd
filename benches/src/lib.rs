//! Shared code of the criterion benches (`benches/models.rs`) and of the benchmark report
//! generator (`src/bin/report/`, run by `benches/report.sh`): the models measured, how a
//! model is packed into a runner plugin (the shared runner or another build of it) or
//! packaged as a signed plugin with a throwaway key, a trivial model for the per-call cost of
//! `infer`, a plain wall-clock timer and per-thread CPU time.
//!
//! Nothing here asserts timings: the benches and the report print them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The four MLPerf Tiny models: (short name, file stem under `../shared/models`).
pub const MLPERF_MODELS: [(&str, &str); 4] = [
    ("kws", "kws_ds_cnn_int8"),
    ("vww", "vww_mobilenet_int8"),
    ("ic", "ic_resnet8_int8"),
    ("ad", "ad_autoencoder_int8"),
];

/// One model to measure: its `.tflite` bytes and one input tensor's bytes.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Short name (`demo`, `kws`, `vww`, `ic`, `ad`), used in bench ids and tables.
    pub short: &'static str,
    /// The `.tflite` file it was read from.
    pub tflite_path: PathBuf,
    /// The `.tflite` bytes.
    pub tflite: Vec<u8>,
    /// The input file it was read from (raw int8 tensor bytes).
    pub input_path: PathBuf,
    /// The first input tensor's bytes.
    pub input: Vec<u8>,
}

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `../shared/models` beside the workspace, or `None` when it is absent, after printing
/// `skipped: ../shared/models not found`.
///
/// # Panics
/// When it is absent and `EDGEPLUG_REQUIRE_SHARED=1`.
pub fn shared_models() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared/models");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("EDGEPLUG_REQUIRE_SHARED").as_deref() != Ok("1"),
        "../shared/models not found and EDGEPLUG_REQUIRE_SHARED=1"
    );
    println!("skipped: ../shared/models not found");
    None
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The demo model (`demo/vibration_int8.tflite` with `demo/samples/bearing_fault.bin`) and,
/// when `shared` is given, the four MLPerf Tiny models with their first TFLM test vector
/// (`vectors/<stem>/in_0.bin`).
///
/// # Errors
/// When a file cannot be read.
pub fn workloads(shared: Option<&Path>) -> Result<Vec<Workload>> {
    let root = workspace_root();
    let mut out = Vec::new();
    let demo_tflite = root.join("demo/vibration_int8.tflite");
    let demo_input = root.join("demo/samples/bearing_fault.bin");
    out.push(Workload {
        short: "demo",
        tflite: read(&demo_tflite)?,
        tflite_path: demo_tflite,
        input: read(&demo_input)?,
        input_path: demo_input,
    });
    if let Some(dir) = shared {
        for (short, stem) in MLPERF_MODELS {
            let tflite_path = dir.join(format!("{stem}.tflite"));
            let input_path = dir.join("vectors").join(stem).join("in_0.bin");
            out.push(Workload {
                short,
                tflite: read(&tflite_path)?,
                tflite_path,
                input: read(&input_path)?,
                input_path,
            });
        }
    }
    Ok(out)
}

/// Packs `epm` into a runner plugin component: into the shared runner
/// ([`edgeplug_plugins::RUNNER_MODULE`], what `edgeplug pack` uses) when `runner_core` is
/// `None`, else into the given runner core module (another build of `plugins/runner`, e.g.
/// one compiled with `simd128`).
///
/// # Errors
/// When the model or the module is refused by the packer.
pub fn pack(epm: &[u8], runner_core: Option<&[u8]>) -> Result<Vec<u8>> {
    let meta = edgeplug_plugins::RunnerMeta {
        version: "1.0.0".into(),
        ..edgeplug_plugins::RunnerMeta::default()
    };
    let core = runner_core.unwrap_or(edgeplug_plugins::RUNNER_MODULE);
    let module = edgeplug_plugins::pack_module(core, epm, &meta)?;
    Ok(edgeplug_plugins::componentize(&module)?)
}

/// The runner core module named by the environment variable `var` (a path to a
/// `wasm32-unknown-unknown` build of `plugins/runner`), or `None` when it is unset.
///
/// # Errors
/// When the variable is set but [`read_runner`] refuses the file.
pub fn runner_from_env(var: &str) -> Result<Option<Vec<u8>>> {
    match std::env::var_os(var) {
        Some(path) => read_runner(Path::new(&path))
            .with_context(|| var.to_string())
            .map(Some),
        None => Ok(None),
    }
}

/// Reads a runner core module from `path`.
///
/// # Errors
/// When the file cannot be read or does not start with the core Wasm module header.
pub fn read_runner(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    if !bytes.starts_with(b"\0asm\x01\0\0\0") {
        bail!("{}: not a core Wasm module", path.display());
    }
    Ok(bytes)
}

/// Wall-clock statistics of repeated calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Median of the per-call times.
    pub median: Duration,
    /// Fastest call.
    pub min: Duration,
    /// Number of calls timed (after the warm-up call).
    pub samples: usize,
}

/// Runs `f` once and returns its result: a call that a profiler can select by name
/// (`valgrind --tool=callgrind --toggle-collect='*measured*'`, see `report count`).
#[inline(never)]
pub fn measured<R>(f: impl FnOnce() -> R) -> R {
    std::hint::black_box(f())
}

/// Calls `f` once to warm up, then repeatedly until both `min_samples` calls and
/// `min_time` have passed (at most `max_samples` calls), timing each call.
pub fn time_calls(
    mut f: impl FnMut(),
    min_samples: usize,
    max_samples: usize,
    min_time: Duration,
) -> Timing {
    f();
    let start = Instant::now();
    let mut times = Vec::with_capacity(min_samples);
    while times.len() < max_samples.max(1)
        && (times.len() < min_samples.max(1) || start.elapsed() < min_time)
    {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    Timing {
        median: times[times.len() / 2],
        min: times[0],
        samples: times.len(),
    }
}

/// Multiply-accumulates of one inference of [`tiny_fc_model`].
pub const TINY_FC_MACS: u64 = 32;

/// Weights of [`tiny_fc_model`] (int8, `[4, 8]`), a fixed small pattern.
static TINY_FC_WEIGHTS: [u8; 32] = [
    3, 250, 7, 1, 254, 9, 0, 5, 251, 2, 4, 253, 6, 1, 255, 8, 2, 2, 249, 3, 5, 0, 252, 7, 1, 255,
    3, 6, 254, 4, 2, 250,
];

/// Bias of [`tiny_fc_model`] (int32 little-endian, `[4]`): 10, -20, 30, -40.
static TINY_FC_BIAS: [u8; 16] = [
    10, 0, 0, 0, 236, 255, 255, 255, 30, 0, 0, 0, 216, 255, 255, 255,
];

/// A trivial model for measuring the fixed cost of one `infer` call (canonical-ABI copies,
/// host marshalling, the executor's per-call set-up) rather than kernels: one int8
/// FULLY_CONNECTED layer, input `[1, 8]` → output `[1, 4]` ([`TINY_FC_MACS`] MACs), no
/// activation, per-tensor quantization (input scale 0.05, weights 0.02, bias their product,
/// output 0.01, zero points 0).
pub fn tiny_fc_model() -> edgeplug_model::Model<'static> {
    use edgeplug_model::{
        Activation, DType, FullyConnectedOptions, Model, OpKind, Operator, Quantization, Tensor,
    };
    let q = |s: f32| Some(Quantization::per_tensor(s, 0));
    let (in_scale, w_scale) = (0.05f32, 0.02f32);
    Model {
        name: "tiny_fc".into(),
        description: "one 8x4 int8 fully-connected layer (call-overhead benchmark)".into(),
        tensors: vec![
            Tensor::activation("input", DType::I8, &[1, 8], q(in_scale)),
            Tensor {
                data: Some(&TINY_FC_WEIGHTS),
                ..Tensor::activation("fc/weights", DType::I8, &[4, 8], q(w_scale))
            },
            Tensor {
                data: Some(&TINY_FC_BIAS),
                ..Tensor::activation("fc/bias", DType::I32, &[4], q(in_scale * w_scale))
            },
            Tensor::activation("output", DType::I8, &[1, 4], q(0.01)),
        ],
        operators: vec![Operator {
            kind: OpKind::FullyConnected(FullyConnectedOptions {
                activation: Activation::None,
                keep_num_dims: false,
            }),
            inputs: vec![0, 1, 2],
            outputs: vec![3],
        }],
        inputs: vec![0],
        outputs: vec![3],
    }
}

/// The input [`tiny_fc_model`] is measured with (8 int8 values).
pub const TINY_FC_INPUT: [u8; 8] = [1, 2, 3, 4, 252, 251, 250, 249];

/// A throwaway signing key for benchmarks (derived from a fixed seed: never trust it
/// outside a benchmark's temporary trust store).
pub fn throwaway_key() -> edgeplug_signing::SecretKey {
    edgeplug_signing::SecretKey::from_seed([0x5a; 32])
}

/// A trust store holding only `key`'s public key.
///
/// # Errors
/// Never in practice (an empty store accepts one key).
pub fn trust_only(key: &edgeplug_signing::SecretKey) -> Result<edgeplug::trust::TrustStore> {
    let mut trust = edgeplug::trust::TrustStore::new();
    trust.add_key(key.public_key(), "benchmark key")?;
    Ok(trust)
}

/// `w`'s model packaged as a signed plugin (`edgeplug::package::package_plugin`: the shared
/// runner, a manifest with the self-test measured on wasmtime, wasmi and natively) called
/// `name`, version `1.0.<sequence>`, anti-rollback `sequence`, signed with `key`.
///
/// # Errors
/// When the model cannot be read or packaged.
pub fn signed_plugin(
    w: &Workload,
    name: &str,
    sequence: u64,
    key: &edgeplug_signing::SecretKey,
) -> Result<Vec<u8>> {
    let model = edgeplug::ModelFile::from_bytes(&w.tflite_path, w.tflite.clone())?;
    let options = edgeplug::package::PackageOptions {
        name: name.into(),
        version: format!("1.0.{sequence}"),
        sequence,
        key: Some(key.clone()),
        ..edgeplug::package::PackageOptions::default()
    };
    let packaged = edgeplug::package::package_plugin(&model, &options)
        .with_context(|| format!("packaging {}", w.short))?;
    Ok(packaged.bytes)
}

/// A private (mode `0700`) temporary directory, removed with its contents when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates a new empty directory under the system temporary directory; `tag` is part
    /// of its name.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn new(tag: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("edgeplug-bench-{tag}-{}-{n}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(ScratchDir(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Total on-CPU time of this process's threads whose name starts with `prefix`, read
/// from `/proc/self/task/*/schedstat` (nanoseconds, Linux with schedstats), else from
/// `/proc/self/task/*/stat` (`utime + stime` in clock ticks, assumed 100 Hz). Threads that
/// have exited are not counted. `None` when `/proc` cannot be read (not Linux).
pub fn threads_cpu_time(prefix: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let task = entry.ok()?.path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // exited meanwhile
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let from_schedstat = std::fs::read_to_string(task.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos);
        let time = from_schedstat.or_else(|| {
            let stat = std::fs::read_to_string(task.join("stat")).ok()?;
            // Fields after the parenthesized name; utime and stime are fields 14 and 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(Duration::from_millis(ticks * 10))
        });
        total += time.unwrap_or_default();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_calls_counts_and_orders() {
        let mut calls = 0;
        let t = time_calls(|| calls += 1, 5, 7, Duration::ZERO);
        assert_eq!(t.samples, 5);
        assert_eq!(calls, 6, "one warm-up call plus the samples");
        assert!(t.min <= t.median);
        let t = time_calls(|| (), 1, 3, Duration::from_secs(3600));
        assert_eq!(t.samples, 3, "max_samples bounds the loop");
    }

    #[test]
    fn tiny_fc_model_matches_a_hand_computation() {
        let model = tiny_fc_model();
        assert_eq!(edgeplug_model::model_stats(&model).macs, TINY_FC_MACS);
        let mut interp = edgeplug_model::Interpreter::new(&model).unwrap();
        let mut out = [0u8; 4];
        interp.invoke(&[&TINY_FC_INPUT], &mut [&mut out]).unwrap();
        // Real arithmetic (MODELS.md: the multiplier is formed in double): out =
        // round((x . w + b) * 0.05 * 0.02 / 0.01) with x, w int8 and zero points 0; no
        // accumulator here lands near a rounding tie, so double rounding cannot differ.
        let x: Vec<i32> = TINY_FC_INPUT.iter().map(|&v| i32::from(v as i8)).collect();
        let bias = [10, -20, 30, -40];
        for (o, got) in out.iter().enumerate() {
            let acc: i32 = (0..8)
                .map(|i| x[i] * i32::from(TINY_FC_WEIGHTS[o * 8 + i] as i8))
                .sum::<i32>()
                + bias[o];
            let m = f64::from(0.05f32) * f64::from(0.02f32) / f64::from(0.01f32);
            let real = f64::from(acc) * m;
            assert!((real.fract().abs() - 0.5).abs() > 0.01, "tie at {acc}");
            let want = real.round().clamp(-128.0, 127.0) as i8;
            assert_eq!(*got as i8, want, "output {o} (accumulator {acc})");
        }
    }

    #[test]
    fn threads_cpu_time_counts_a_named_thread() {
        if std::fs::read_dir("/proc/self/task").is_err() {
            return; // not Linux
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("cpu-probe-x".into())
            .spawn(move || {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < Duration::from_millis(50) {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
                ready_tx.send(()).unwrap();
                rx.recv().unwrap();
                n
            })
            .unwrap();
        ready_rx.recv().unwrap();
        let busy = threads_cpu_time("cpu-probe-x").unwrap();
        let none = threads_cpu_time("no-such-thread-name").unwrap();
        tx.send(()).unwrap();
        handle.join().unwrap();
        assert!(
            busy > Duration::ZERO,
            "a thread that spun for 50 ms used no CPU"
        );
        assert_eq!(none, Duration::ZERO);
    }

    #[test]
    fn scratch_dir_is_private_and_removed() {
        let path = {
            let d = ScratchDir::new("test").unwrap();
            std::fs::write(d.path().join("f"), b"x").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700);
            }
            d.path().to_path_buf()
        };
        assert!(!path.exists());
    }

    #[test]
    fn read_runner_checks_the_header() {
        let dir = std::env::temp_dir().join(format!("edgeplug-benches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not.wasm");
        std::fs::write(&path, b"hello").unwrap();
        assert!(read_runner(&path).is_err());
        std::fs::write(&path, edgeplug_plugins::RUNNER_MODULE).unwrap();
        assert_eq!(read_runner(&path).unwrap(), edgeplug_plugins::RUNNER_MODULE);
        assert!(read_runner(&dir.join("absent.wasm")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            runner_from_env("EDGEPLUG_BENCHES_TEST_UNSET_VARIABLE")
                .unwrap()
                .is_none()
        );
    }
}
