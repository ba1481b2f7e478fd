//! The anomaly-detection plugin.
//!
//! Input `audio`: int16 `[160000]`, ten seconds of 16 kHz mono PCM. The plugin computes
//! the MLPerf Tiny AD log-mel front end (`edgeplug_dsp::AdFrontend`, librosa exactly:
//! frames 50..249, 128 bands), runs the 196 windows of 5 frames through the model from
//! its model slot (an int8 autoencoder with 640-element input and output; the input is
//! quantized with the model's quantization, rounding as upstream), and returns
//! `window_scores`: float32 `[196]`, each `mean((dequantized output - float features)^2)`,
//! and `score`: float32 `[1]`, the mean of the window scores (computed in float64, as
//! `edgeplug_dsp::AdFrontend::anomaly_score`). Higher means more anomalous; there is no
//! threshold (upstream reports an AUC).
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use edgeplug_dsp::{AdFrontend, Quant, ad};
use edgeplug_guest::slot::Payload;
use edgeplug_guest::{
    ElementType, Error, ErrorCode, LazyState, LoadedModel, ModelInfo, Plugin, Tensor, TensorSpec,
    check_inputs, error, invalid_model_info,
};

edgeplug_guest::model_slot!();

/// Samples the plugin takes: 10 s at 16 kHz.
const CLIP_SAMPLES: u32 = 160_000;

struct State {
    model: LoadedModel,
    frontend: AdFrontend,
    info: ModelInfo,
}

static STATE: LazyState<State> = LazyState::new();

fn model_error(message: String) -> Error {
    error(ErrorCode::Model, message)
}

fn quant(spec: &TensorSpec, what: &str) -> Result<Quant, Error> {
    let elements: usize = spec.shape.iter().map(|&d| d as usize).product();
    match spec.quantization {
        Some(q) if spec.dtype == ElementType::Int8 && elements == ad::WINDOW_LEN => {
            Quant::new(q.scale, q.zero_point)
                .map_err(|e| model_error(format!("model {what} quantization: {e}")))
        }
        _ => Err(model_error(format!(
            "the anomaly plugin needs a quantized int8 model {what} of {} elements, got {:?} {:?}",
            ad::WINDOW_LEN,
            spec.dtype,
            spec.shape
        ))),
    }
}

fn load() -> Result<State, Error> {
    let payload = Payload::parse(MODEL_SLOT.payload());
    let model = LoadedModel::load(payload.epm)?;
    let (input, output) = model.single_input_output("anomaly")?;
    let (input, output) = (quant(input, "input")?, quant(output, "output")?);
    let spec = |name: &str, len: u32| TensorSpec {
        name: name.into(),
        dtype: ElementType::Float32,
        shape: vec![len],
        quantization: None,
    };
    let info = ModelInfo {
        name: payload.name().unwrap_or("anomaly").to_string(),
        version: payload.version(),
        inputs: vec![TensorSpec {
            name: "audio".into(),
            dtype: ElementType::Int16,
            shape: vec![CLIP_SAMPLES],
            quantization: None,
        }],
        outputs: vec![spec("window_scores", ad::WINDOWS as u32), spec("score", 1)],
        labels: payload.labels(),
        arena_bytes: model.arena_bytes(),
        memory_bytes: 0,
    };
    Ok(State {
        model,
        frontend: AdFrontend::with_quantization(input, output),
        info,
    })
}

fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    STATE.with(load, f)
}

fn dsp_error(e: edgeplug_dsp::DspError) -> Error {
    error(ErrorCode::InvalidInput, e.to_string())
}

struct Anomaly;

impl Plugin for Anomaly {
    fn info() -> ModelInfo {
        with_state(|s| Ok(s.info.clone())).unwrap_or_else(invalid_model_info)
    }

    fn infer(inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        with_state(|s| {
            check_inputs(&inputs, &s.info.inputs)?;
            let pcm: Vec<i16> = inputs[0]
                .data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            drop(inputs);
            let mut features = vec![0f32; ad::FEATURES];
            s.frontend.logmel(&pcm, &mut features).map_err(dsp_error)?;
            drop(pcm);
            let mut outputs = vec![0u8; ad::WINDOWS * ad::WINDOW_LEN];
            let mut input = [0i8; ad::WINDOW_LEN];
            let mut window_scores = Vec::with_capacity(ad::WINDOWS * 4);
            for (i, out) in outputs.chunks_exact_mut(ad::WINDOW_LEN).enumerate() {
                let window = ad::window(&features, i).map_err(dsp_error)?;
                s.frontend.quantize(window, &mut input).map_err(dsp_error)?;
                let bytes: [u8; ad::WINDOW_LEN] = input.map(|q| q as u8);
                s.model.invoke(&[&bytes], &mut [out])?;
                let out_i8: Vec<i8> = out.iter().map(|&b| b as i8).collect();
                let score = s
                    .frontend
                    .window_score(&out_i8, window)
                    .map_err(dsp_error)?;
                window_scores.extend_from_slice(&score.to_le_bytes());
            }
            let outputs_i8: Vec<i8> = outputs.iter().map(|&b| b as i8).collect();
            let score = s
                .frontend
                .anomaly_score(&features, &outputs_i8)
                .map_err(dsp_error)?;
            Ok(vec![
                Tensor {
                    shape: vec![ad::WINDOWS as u32],
                    dtype: ElementType::Float32,
                    data: window_scores,
                },
                Tensor {
                    shape: vec![1],
                    dtype: ElementType::Float32,
                    data: score.to_le_bytes().to_vec(),
                },
            ])
        })
    }
}

edgeplug_guest::export!(Anomaly);
