//! The image-classification plugin (built into `ic.wasm` with ResNet-8 and `vww.wasm`
//! with MobileNet: the same code, a different model in the model slot).
//!
//! Input `image`: uint8 `[0, 0, C]` (height and width dynamic, any extent >= 1; `C` is the
//! model's channel count, 3 = RGB), interleaved, row-major. The plugin resizes it to the
//! model's input height and width with `edgeplug_dsp::image::resize_bilinear` (integer
//! bilinear with half-pixel centers: the identity when the image already has the model's
//! size), maps each pixel `p` to `q = p - 128` (the model input must be int8 with zero
//! point -128, i.e. it sees `real = p * scale`: IC scale 1.0, VWW scale 1/255), runs the
//! model, and returns `probabilities`: float32 `[N]`, the dequantized classifier output.
//! Labels come from the slot metadata.
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use edgeplug_dsp::image;
use edgeplug_guest::slot::Payload;
use edgeplug_guest::{
    ElementType, Error, ErrorCode, LazyState, LoadedModel, ModelInfo, Plugin, Tensor, TensorSpec,
    check_inputs, error, invalid_model_info,
};

edgeplug_guest::model_slot!();

struct State {
    model: LoadedModel,
    /// Model input `(height, width, channels)`.
    size: (usize, usize, usize),
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
    let (input, output) = model.single_input_output("image")?;
    let (input, output) = (input.clone(), output.clone());
    let (&[1, h, w, c], ElementType::Int8, Some(q)) =
        (input.shape.as_slice(), input.dtype, input.quantization)
    else {
        return Err(model_error(format!(
            "the image plugin needs a quantized int8 NHWC model input [1, H, W, C], got {:?} {:?}",
            input.dtype, input.shape
        )));
    };
    if q.zero_point != -128 {
        return Err(model_error(format!(
            "the image plugin maps pixels to q = p - 128 and needs an input zero point of -128, \
             got {}",
            q.zero_point
        )));
    }
    let (Some(oq), ElementType::Int8) = (output.quantization, output.dtype) else {
        return Err(model_error(
            "the image plugin needs a quantized int8 model output".to_string(),
        ));
    };
    let classes: u32 = output.shape.iter().product();
    let info = ModelInfo {
        name: payload.name().unwrap_or("image").to_string(),
        version: payload.version(),
        inputs: vec![TensorSpec {
            name: "image".into(),
            dtype: ElementType::Uint8,
            shape: vec![0, 0, c],
            quantization: None,
        }],
        outputs: vec![TensorSpec {
            name: "probabilities".into(),
            dtype: ElementType::Float32,
            shape: vec![classes],
            quantization: None,
        }],
        labels: payload.labels(),
        arena_bytes: model.arena_bytes(),
        memory_bytes: 0,
    };
    Ok(State {
        model,
        size: (h as usize, w as usize, c as usize),
        out_quant: (oq.scale, oq.zero_point),
        info,
    })
}

fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    STATE.with(load, f)
}

struct Image;

impl Plugin for Image {
    fn info() -> ModelInfo {
        with_state(|s| Ok(s.info.clone())).unwrap_or_else(invalid_model_info)
    }

    fn infer(inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        with_state(|s| {
            check_inputs(&inputs, &s.info.inputs)?;
            let t = &inputs[0];
            let (h, w, c) = s.size;
            let mut pixels = vec![0u8; h * w * c];
            image::resize_bilinear(
                &t.data,
                t.shape[0] as usize,
                t.shape[1] as usize,
                c,
                &mut pixels,
                h,
                w,
            )
            .map_err(|e| error(ErrorCode::InvalidInput, e.to_string()))?;
            image::to_int8(&mut pixels);
            let mut outputs = s.model.output_buffers();
            {
                let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
                s.model.invoke(&[&pixels], &mut outs)?;
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

edgeplug_guest::export!(Image);
