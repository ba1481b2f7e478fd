//! Classifies 16 kHz mono 16-bit WAV clips natively with a KWS model the way the KWS plugin
//! does: `edgeplug_dsp::KwsFrontend` with the **model's** input quantization, then
//! edgeplug's executor (`edgeplug_tflite::import` + `edgeplug_model::Interpreter`, bit-exact
//! with TensorFlow Lite Micro). Used by `demo/kws/train.py` to check the demo samples.
//!
//! ```text
//! cargo run --release -p edgeplug-dsp --example kws_classify -- \
//!     MODEL.tflite [--labels LABELS.txt] WAV...
//! ```
//!
//! The model must have one int8 input of 490 elements (`[1,49,10,1]`) quantized per
//! tensor, and one int8 output. Each WAV is one clip of 1..=16000 samples. Prints one JSON
//! object per WAV and line: `{"file", "output_int8", "label", "index", "score"}`, where
//! `index` is the first maximum of the output, `label` its line in `LABELS.txt` (or
//! `class N`) and `score` the dequantized output there. Exit status 1 with a message on
//! any error.

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

use edgeplug_dsp::{KwsFrontend, kws};
use edgeplug_model::{DType, Interpreter};

type Res<T> = Result<T, Box<dyn Error>>;

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

/// Per-tensor `(scale, zero point)` of an int8 tensor.
fn int8_quant(t: &edgeplug_model::Tensor<'_>, what: &str) -> Res<(f32, i32)> {
    match (&t.dtype, &t.quantization) {
        (DType::I8, Some(q)) if q.scales.len() == 1 && q.zero_points.len() == 1 => {
            Ok((q.scales[0], q.zero_points[0]))
        }
        _ => Err(format!("the model {what} is not int8 with per-tensor quantization").into()),
    }
}

fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: kws_classify MODEL.tflite [--labels LABELS.txt] WAV...";
    let model_path = args.next().ok_or(usage)?;
    let mut labels = Vec::new();
    let mut wavs = Vec::new();
    while let Some(a) = args.next() {
        if a == "--labels" {
            let p = args.next().ok_or("--labels needs a value")?;
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
            labels = text.lines().map(|l| l.trim().to_string()).collect();
        } else {
            wavs.push(a);
        }
    }
    if wavs.is_empty() {
        return Err(usage.into());
    }
    let bytes = std::fs::read(&model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = edgeplug_tflite::import(&bytes).map_err(|e| format!("{model_path}: {e}"))?;
    let mut interp = Interpreter::new(&model).map_err(|e| format!("{model_path}: {e}"))?;
    let (input, output) = match (interp.input(0), interp.output(0)) {
        (Some(i), Some(o)) if interp.inputs().len() == 1 && interp.outputs().len() == 1 => (i, o),
        _ => return Err("the model must have exactly one input and one output".into()),
    };
    let elements = |t: &edgeplug_model::Tensor<'_>| t.shape.iter().map(|&d| d as usize).product();
    if elements(input) != kws::FEATURES {
        return Err(format!(
            "the model input has shape {:?}, not [1,49,10,1]",
            input.shape
        )
        .into());
    }
    let (in_scale, in_zp) = int8_quant(input, "input")?;
    let (out_scale, out_zp) = int8_quant(output, "output")?;
    let n_out: usize = elements(output);
    let fe = KwsFrontend::with_quantization(in_scale, in_zp)
        .map_err(|e| format!("model input quantization: {e}"))?;
    for wav in &wavs {
        let pcm = read_wav(Path::new(wav)).map_err(|e| format!("{wav}: {e}"))?;
        let mut q = [0_i8; kws::FEATURES];
        fe.compute(&pcm, &mut q)
            .map_err(|e| format!("{wav}: {e}"))?;
        let q_bytes: Vec<u8> = q.iter().map(|&v| v.to_le_bytes()[0]).collect();
        let mut out = vec![0_u8; n_out];
        interp
            .invoke(&[&q_bytes], &mut [&mut out])
            .map_err(|e| format!("{wav}: {e}"))?;
        let out: Vec<i8> = out.iter().map(|&b| i8::from_le_bytes([b])).collect();
        // First maximum, as numpy's argmax.
        let best = (0..out.len()).fold(0, |b, i| if out[i] > out[b] { i } else { b });
        let label = labels
            .get(best)
            .cloned()
            .unwrap_or_else(|| format!("class {best}"));
        let score = (i32::from(out[best]) - out_zp) as f32 * out_scale;
        let values: Vec<String> = out.iter().map(i8::to_string).collect();
        println!(
            "{{\"file\": {wav:?}, \"output_int8\": [{}], \"label\": {label:?}, \"index\": {best}, \"score\": {score}}}",
            values.join(", ")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kws_classify: {e}");
            ExitCode::FAILURE
        }
    }
}
