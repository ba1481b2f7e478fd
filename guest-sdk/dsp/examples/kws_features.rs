//! Float32 (and optionally int8) KWS MFCC features of 16 kHz mono 16-bit WAV files,
//! computed by [`edgeplug_dsp::KwsFrontend`]: the very code a KWS plugin runs, so a model
//! trained on these features sees exactly what it will see when deployed.
//!
//! ```text
//! cargo run --release -p edgeplug-dsp --example kws_features -- \
//!     [--split] [--list PATHS.txt] --out FEATURES.f32 \
//!     [--int8-out FEATURES.i8 --scale S --zero-point Z] [WAV...]
//! ```
//!
//! - Every WAV must be 16 kHz, mono, 16-bit integer PCM (anything else is an error).
//! - Without `--split` each WAV is one clip of 1..=16000 samples (shorter clips are
//!   zero-padded by the front end after normalization, as `KwsFrontend` documents).
//!   With `--split` each WAV holds one or more clips back to back: its length must be a
//!   multiple of 16000 samples, and sample range `[16000 i, 16000 (i + 1))` is clip `i`.
//! - `--list FILE` reads more WAV paths from `FILE`, one per line (empty lines ignored);
//!   they come after the paths given as arguments.
//!
//! Output (`--out`): the float32 features of every clip, in input order (WAV by WAV, clip
//! by clip), as raw little-endian float32 with no header: `[clips][49 frames][10 coeffs]`
//! (the model input layout), read in numpy with
//! `np.fromfile(path, "<f4").reshape(-1, 49, 10)`. These are `KwsFrontend::compute_f32`'s
//! values, before int8 quantization.
//!
//! `--int8-out` (needs `--scale` and `--zero-point`, the model's input quantization) also
//! writes the int8 model inputs `[clips][49][10]` exactly as a plugin computes them:
//! `KwsFrontend::with_quantization(scale, zero_point)` and `compute` (truncating rule,
//! `edgeplug_dsp::Quant::quantize_trunc`). Read with
//! `np.fromfile(path, np.int8).reshape(-1, 49, 10)`.
//!
//! A summary line (`clips N`) goes to stderr. Exit status 1 with a message naming the
//! file on any error; no output file is left half-written (each is written at the end).

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplug_dsp::{KwsFrontend, kws};

type Res<T> = Result<T, Box<dyn Error>>;

struct Args {
    split: bool,
    wavs: Vec<PathBuf>,
    out: PathBuf,
    int8: Option<(PathBuf, f32, i32)>,
}

fn usage() -> String {
    "usage: kws_features [--split] [--list PATHS.txt] --out FEATURES.f32 \
     [--int8-out FEATURES.i8 --scale S --zero-point Z] [WAV...]"
        .to_string()
}

fn parse_args() -> Res<Args> {
    let mut split = false;
    let mut wavs = Vec::new();
    let mut lists = Vec::new();
    let mut out = None;
    let mut int8_out = None;
    let mut scale = None;
    let mut zero_point = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--split" => split = true,
            "--list" => lists.push(PathBuf::from(value("--list")?)),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--int8-out" => int8_out = Some(PathBuf::from(value("--int8-out")?)),
            "--scale" => {
                let v = value("--scale")?;
                scale = Some(
                    v.parse::<f32>()
                        .map_err(|e| format!("--scale {v:?}: {e}"))?,
                );
            }
            "--zero-point" => {
                let v = value("--zero-point")?;
                zero_point = Some(
                    v.parse::<i32>()
                        .map_err(|e| format!("--zero-point {v:?}: {e}"))?,
                );
            }
            "-h" | "--help" => return Err(usage().into()),
            s if s.starts_with("--") => {
                return Err(format!("unknown option {s}\n{}", usage()).into());
            }
            _ => wavs.push(PathBuf::from(a)),
        }
    }
    for list in lists {
        let text = fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
        wavs.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(PathBuf::from),
        );
    }
    let out = out.ok_or_else(|| format!("--out is required\n{}", usage()))?;
    let int8 = match (int8_out, scale, zero_point) {
        (None, None, None) => None,
        (Some(p), Some(s), Some(z)) => Some((p, s, z)),
        _ => return Err("--int8-out, --scale and --zero-point go together".into()),
    };
    if wavs.is_empty() {
        return Err(format!("no WAV files given\n{}", usage()).into());
    }
    Ok(Args {
        split,
        wavs,
        out,
        int8,
    })
}

/// The samples of a 16 kHz mono 16-bit WAV file.
fn read_wav(path: &Path) -> Res<Vec<i16>> {
    let reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    if spec.sample_rate != kws::SAMPLE_RATE
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "need 16 kHz mono 16-bit integer PCM, found {} Hz, {} channel(s), {} bits {:?}",
            spec.sample_rate, spec.channels, spec.bits_per_sample, spec.sample_format
        )
        .into());
    }
    Ok(reader.into_samples::<i16>().collect::<Result<_, _>>()?)
}

/// The clips of one WAV's samples, following `--split`.
fn clips(samples: &[i16], split: bool) -> Res<Vec<&[i16]>> {
    if !split {
        return Ok(vec![samples]);
    }
    if samples.is_empty() || !samples.len().is_multiple_of(kws::CLIP_SAMPLES) {
        return Err(format!(
            "--split needs a whole number of {}-sample clips, found {} samples",
            kws::CLIP_SAMPLES,
            samples.len()
        )
        .into());
    }
    Ok(samples.chunks_exact(kws::CLIP_SAMPLES).collect())
}

fn run() -> Res<usize> {
    let args = parse_args()?;
    let fe = KwsFrontend::new();
    let fe_q = match &args.int8 {
        Some((_, scale, zp)) => Some(
            KwsFrontend::with_quantization(*scale, *zp)
                .map_err(|e| format!("--scale/--zero-point: {e}"))?,
        ),
        None => None,
    };
    let mut f32_bytes = Vec::new();
    let mut i8_bytes = Vec::new();
    let mut count = 0;
    let mut feats = [0.0_f32; kws::FEATURES];
    let mut q = [0_i8; kws::FEATURES];
    for path in &args.wavs {
        let named = |e: Box<dyn Error>| format!("{}: {e}", path.display());
        let samples = read_wav(path).map_err(named)?;
        for clip in clips(&samples, args.split).map_err(named)? {
            fe.compute_f32(clip, &mut feats)
                .map_err(|e| named(e.into()))?;
            f32_bytes.extend(feats.iter().flat_map(|v| v.to_le_bytes()));
            if let Some(fe_q) = &fe_q {
                fe_q.compute(clip, &mut q).map_err(|e| named(e.into()))?;
                i8_bytes.extend(q.iter().map(|&v| v.to_le_bytes()[0]));
            }
            count += 1;
        }
    }
    fs::write(&args.out, &f32_bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
    if let Some((path, _, _)) = &args.int8 {
        fs::write(path, &i8_bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(count)
}

fn main() -> ExitCode {
    match run() {
        Ok(n) => {
            eprintln!("clips {n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kws_features: {e}");
            ExitCode::FAILURE
        }
    }
}
