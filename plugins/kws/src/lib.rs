//! The keyword-spotting plugin.
//!
//! Input `audio`: int16 `[16000]`, one second of 16 kHz mono PCM. The plugin computes the
//! MLPerf Tiny KWS MFCC front end (`edgeplug_dsp::KwsFrontend`, `tf.signal` exactly),
//! quantizes the `[49][10]` features with the **model's** input quantization (truncation,
//! as upstream), runs the model from its model slot (any int8 model with a 490-element
//! input and one int8 classifier output) and returns `probabilities`: float32 `[N]`, the
//! dequantized output `(q - zero_point) * scale`. The labels come from the slot metadata.
//!
//! The plugin is compiled without a model: `edgeplug_plugins::pack_module` puts one into
//! its model slot (see `plugins/README.md`), so the model can be replaced without a Rust
//! toolchain.
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use edgeplug_dsp::{KwsFrontend, kws};
use edgeplug_guest::slot::Payload;
use edgeplug_guest::{
    ElementType, Error, ErrorCode, LazyState, LoadedModel, ModelInfo, Plugin, Tensor, TensorSpec,
    check_inputs, error, invalid_model_info,
};

edgeplug_guest::model_slot!();

struct State {
    model: LoadedModel,
    frontend: KwsFrontend,
    /// Output quantization `(scale, zero point)`.
    out_quant: (f32, i32),
    info: ModelInfo,
}

static STATE: LazyState<State> = LazyState::new();

fn model_error(message: String) -> Error {
    error(ErrorCode::Model, message)
}

fn load() -> Result<State, Error> {
    let payload = Payload::parse(MODEL_SLOT.payload());
    let model = LoadedModel::load(payload.epm)?;
    let (input, output) = model.single_input_output("KWS")?;
    let (input, output) = (input.clone(), output.clone());
    let elements = |s: &TensorSpec| s.shape.iter().map(|&d| d as usize).product::<usize>();
    if input.dtype != ElementType::Int8 || elements(&input) != kws::FEATURES {
        return Err(model_error(format!(
            "the KWS plugin needs an int8 model input of {} elements ([1,49,10,1]), got {:?} {:?}",
            kws::FEATURES,
            input.dtype,
            input.shape
        )));
    }
    let Some(q) = input.quantization else {
        return Err(model_error("the model input is not quantized".to_string()));
    };
    let frontend = KwsFrontend::with_quantization(q.scale, q.zero_point)
        .map_err(|e| model_error(format!("model input quantization: {e}")))?;
    let (Some(oq), ElementType::Int8) = (output.quantization, output.dtype) else {
        return Err(model_error(
            "the KWS plugin needs a quantized int8 model output".to_string(),
        ));
    };
    let classes = elements(&output) as u32;
    let labels = payload.labels();
    let info = ModelInfo {
        name: payload.name().unwrap_or("kws").to_string(),
        version: payload.version(),
        inputs: vec![TensorSpec {
            name: "audio".into(),
            dtype: ElementType::Int16,
            shape: vec![kws::CLIP_SAMPLES as u32],
            quantization: None,
        }],
        outputs: vec![TensorSpec {
            name: "probabilities".into(),
            dtype: ElementType::Float32,
            shape: vec![classes],
            quantization: None,
        }],
        labels,
        arena_bytes: model.arena_bytes(),
        memory_bytes: 0,
    };
    Ok(State {
        model,
        frontend,
        out_quant: (oq.scale, oq.zero_point),
        info,
    })
}

fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    STATE.with(load, f)
}

struct Kws;

impl Plugin for Kws {
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
            let mut features = [0i8; kws::FEATURES];
            s.frontend
                .compute(&pcm, &mut features)
                .map_err(|e| error(ErrorCode::InvalidInput, e.to_string()))?;
            let features: Vec<u8> = features.iter().map(|&q| q as u8).collect();
            let mut outputs = s.model.output_buffers();
            {
                let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
                s.model.invoke(&[&features], &mut outs)?;
            }
            let (scale, zero_point) = s.out_quant;
            let data: Vec<u8> = outputs[0]
                .iter()
                .flat_map(|&q| (((q as i8 as i32) - zero_point) as f32 * scale).to_le_bytes())
                .collect();
            Ok(vec![Tensor {
                shape: s.info.outputs[0].shape.clone(),
                dtype: ElementType::Float32,
                data,
            }])
        })
    }
}

edgeplug_guest::export!(Kws);
