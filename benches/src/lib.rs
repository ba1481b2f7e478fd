//! Shared code of the criterion benches (`benches/models.rs`) and of the benchmark report
//! generator (`src/bin/report.rs`, run by `benches/report.sh`): the models measured, how a
//! model is packed into a runner plugin (the shared runner or another build of it), and a
//! plain wall-clock timer.
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
