//! Shared helpers: `../shared` access, WAV reading, the signed plugins on wasmi, and the
//! native composition of each plugin's pipeline (front end + executor + post-processing,
//! written here independently of the guests) that the guests must reproduce bit for bit.

use edgeplug_dsp::{AdFrontend, KwsFrontend, Quant, ad, image};
use edgeplug_mcu::{ElementType, NullHost, Plugin, Tensor, TensorRef};
use edgeplug_model::{Interpreter, Model};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `../shared` relative to the workspace root, or `None` (after printing the skip line)
/// when it is absent. With `EDGEPLUG_REQUIRE_SHARED=1` absence is a test failure.
pub(crate) fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    if dir.join("models").is_dir() && dir.join("frontends").is_dir() {
        return Some(dir);
    }
    if std::env::var("EDGEPLUG_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "../shared/models not found at {} and EDGEPLUG_REQUIRE_SHARED=1",
            dir.display()
        );
    }
    println!("skipped: ../shared/models not found");
    None
}

/// `frontends/features.json`.
pub(crate) fn features_json(shared: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(shared.join("frontends/features.json")).unwrap()).unwrap()
}

/// The `.epm` of a shared `.tflite` model.
pub(crate) fn epm(shared: &Path, file: &str) -> Vec<u8> {
    let bytes = std::fs::read(shared.join("models").join(file)).unwrap();
    edgeplug_tflite::import_to_epm(&bytes).unwrap()
}

/// The samples of a 16-bit PCM mono 16 kHz WAV file (walks the RIFF chunks).
pub(crate) fn read_wav16(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{}",
        path.display()
    );
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..pos + 8 + len];
        match &bytes[pos..pos + 4] {
            b"fmt " => {
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
                let bits = u16::from_le_bytes([body[14], body[15]]);
                assert_eq!(
                    (channels, rate, bits),
                    (1, 16_000, 16),
                    "{}",
                    path.display()
                );
            }
            b"data" => {
                return body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display())
}

/// Little-endian bytes of int16 samples.
pub(crate) fn pcm_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Float32 values of little-endian bytes.
pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The signed plugin `name` from the build's output directory, loaded on wasmi, or `None`
/// if this build did not make it (then `../shared` is absent: [`shared_dir`] decides).
pub(crate) fn signed_plugin(name: &str) -> Option<Plugin<NullHost>> {
    if !edgeplug_plugins::SIGNED_PLUGINS.contains(&name) {
        return None;
    }
    let path = edgeplug_plugins::signed_plugins_dir().join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path).unwrap();
    Some(Plugin::new(&bytes, NullHost, &edgeplug_mcu::Config::default()).unwrap())
}

/// Runs one input through a plugin on wasmi.
pub(crate) fn run(
    plugin: &mut Plugin<NullHost>,
    shape: &[u32],
    dtype: ElementType,
    data: &[u8],
) -> Result<Vec<Tensor>, edgeplug_mcu::Error> {
    plugin.infer(&[TensorRef { shape, dtype, data }])
}

/// Runs a model natively: one input, its outputs' bytes.
fn invoke(model: &Model<'_>, interpreter: &mut Interpreter<'_>, input: &[u8]) -> Vec<Vec<u8>> {
    let mut outputs: Vec<Vec<u8>> = model
        .outputs
        .iter()
        .map(|&o| vec![0; model.tensors[o as usize].byte_len().unwrap()])
        .collect();
    let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    interpreter.invoke(&[input], &mut outs).unwrap();
    outputs
}

/// `(scale, zero point)` of a graph input or output tensor.
fn quant_of(model: &Model<'_>, tensor: u32) -> (f32, i32) {
    let q = model.tensors[tensor as usize]
        .quantization
        .as_ref()
        .unwrap();
    (q.scales[0], q.zero_points[0])
}

/// `(q - zero point) * scale` of int8 bytes, as float32 little-endian bytes.
fn dequantize(bytes: &[u8], (scale, zero_point): (f32, i32)) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|&q| ((i32::from(q as i8) - zero_point) as f32 * scale).to_le_bytes())
        .collect()
}

/// The KWS pipeline natively: `probabilities` bytes.
pub(crate) fn native_kws(epm: &[u8], pcm: &[i16]) -> Vec<u8> {
    let model = edgeplug_model::format::decode(epm).unwrap();
    let mut interpreter = Interpreter::new(&model).unwrap();
    let (scale, zp) = quant_of(&model, model.inputs[0]);
    let fe = KwsFrontend::with_quantization(scale, zp).unwrap();
    let mut features = [0i8; edgeplug_dsp::kws::FEATURES];
    fe.compute(pcm, &mut features).unwrap();
    let input: Vec<u8> = features.iter().map(|&q| q as u8).collect();
    let out = invoke(&model, &mut interpreter, &input);
    dequantize(&out[0], quant_of(&model, model.outputs[0]))
}

/// The anomaly pipeline natively: (`window_scores` bytes, `score` bytes).
pub(crate) fn native_anomaly(epm: &[u8], pcm: &[i16]) -> (Vec<u8>, Vec<u8>) {
    let model = edgeplug_model::format::decode(epm).unwrap();
    let mut interpreter = Interpreter::new(&model).unwrap();
    let (is, iz) = quant_of(&model, model.inputs[0]);
    let (os, oz) = quant_of(&model, model.outputs[0]);
    let fe =
        AdFrontend::with_quantization(Quant::new(is, iz).unwrap(), Quant::new(os, oz).unwrap());
    let mut features = vec![0f32; ad::FEATURES];
    fe.logmel(pcm, &mut features).unwrap();
    let mut all = Vec::new();
    let mut scores = Vec::new();
    for i in 0..ad::WINDOWS {
        let window = ad::window(&features, i).unwrap();
        let mut q = [0i8; ad::WINDOW_LEN];
        fe.quantize(window, &mut q).unwrap();
        let input: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        let out: Vec<i8> = invoke(&model, &mut interpreter, &input)[0]
            .iter()
            .map(|&b| b as i8)
            .collect();
        scores.extend_from_slice(&fe.window_score(&out, window).unwrap().to_le_bytes());
        all.extend_from_slice(&out);
    }
    let score = fe.anomaly_score(&features, &all).unwrap();
    (scores, score.to_le_bytes().to_vec())
}

/// The image pipeline natively: `probabilities` bytes of an `h x w x 3` image.
pub(crate) fn native_image(epm: &[u8], pixels: &[u8], h: usize, w: usize) -> Vec<u8> {
    let model = edgeplug_model::format::decode(epm).unwrap();
    let mut interpreter = Interpreter::new(&model).unwrap();
    let shape = &model.tensors[model.inputs[0] as usize].shape;
    let (mh, mw) = (shape[1] as usize, shape[2] as usize);
    let mut input = vec![0u8; mh * mw * 3];
    image::resize_bilinear(pixels, h, w, 3, &mut input, mh, mw).unwrap();
    image::to_int8(&mut input);
    let out = invoke(&model, &mut interpreter, &input);
    dequantize(&out[0], quant_of(&model, model.outputs[0]))
}

/// Index of the largest value (first on ties).
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}
