//! [`ModelPlugin`]: a plugin that runs one `.epm` model.

use crate::convert::{element_size, element_type, element_type_name, model_error, tensor_spec};
use crate::{
    Error, ErrorCode, ModelInfo, Plugin, Tensor, TensorSpec, TryCell, error, invalid_model_info,
};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use edgeplug_model::{Interpreter, Model};

/// A plugin that runs one `.epm` model, with optional pre- and post-processing. Every
/// `ModelPlugin` is a [`Plugin`]; export it with [`export!`](crate::export!).
///
/// The model is decoded, validated and given its arena on the first call of `info` or
/// `infer`, and kept for the life of the instance. A component carries one plugin, so the
/// state lives in one crate-wide slot: implementing `ModelPlugin` for two types in one
/// binary and calling both is reported as an [`ErrorCode::Internal`] error.
pub trait ModelPlugin: 'static {
    /// The `.epm` bytes (usually `include_bytes!`). Called once.
    fn model_bytes() -> &'static [u8];

    /// Semantic version reported in `model-info`.
    fn version() -> String;

    /// Name reported in `model-info`; by default the model's own name.
    fn name(model: &Model<'_>) -> String {
        model.name.clone()
    }

    /// Class labels reported in `model-info`; empty by default.
    fn labels() -> Vec<String> {
        Vec::new()
    }

    /// Adjusts the description derived from the model: a plugin whose [`front_end`]
    /// accepts other inputs than the model (audio instead of features) or whose
    /// [`post_process`] returns other outputs says so here. Identity by default.
    ///
    /// [`front_end`]: ModelPlugin::front_end
    /// [`post_process`]: ModelPlugin::post_process
    fn adjust_info(info: ModelInfo) -> ModelInfo {
        info
    }

    /// Turns the caller's inputs into the model's raw input buffers (one per model input,
    /// each exactly as long as the model tensor). By default [`check_inputs`] against the
    /// model's input specs, then the data as is.
    fn front_end(inputs: Vec<Tensor>, model_inputs: &[TensorSpec]) -> Result<Vec<Vec<u8>>, Error> {
        check_inputs(&inputs, model_inputs)?;
        Ok(inputs.into_iter().map(|t| t.data).collect())
    }

    /// Turns the model's outputs into the plugin's outputs. Identity by default.
    fn post_process(outputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        Ok(outputs)
    }
}

/// Checks `inputs` against `specs`: same count, and for each input the same element type,
/// a shape the spec accepts ([`shape_matches`]: a spec dimension of 0 means any extent of
/// at least 1), and `data.len() == product(input shape) * element size`. Errors are
/// [`ErrorCode::InvalidInput`] and name the offending input.
pub fn check_inputs(inputs: &[Tensor], specs: &[TensorSpec]) -> Result<(), Error> {
    if inputs.len() != specs.len() {
        return Err(error(
            ErrorCode::InvalidInput,
            format!("expected {} inputs, got {}", specs.len(), inputs.len()),
        ));
    }
    for (i, (input, spec)) in inputs.iter().zip(specs).enumerate() {
        if input.dtype != spec.dtype {
            return Err(error(
                ErrorCode::InvalidInput,
                format!(
                    "input {i} ({}): expected {}, got {}",
                    spec.name,
                    element_type_name(spec.dtype),
                    element_type_name(input.dtype)
                ),
            ));
        }
        if !shape_matches(&spec.shape, &input.shape) {
            return Err(error(
                ErrorCode::InvalidInput,
                format!(
                    "input {i} ({}): expected shape {:?}, got {:?}",
                    spec.name, spec.shape, input.shape
                ),
            ));
        }
        let expected = byte_len(&input.shape, element_size(spec.dtype));
        if expected != Some(input.data.len()) {
            return Err(error(
                ErrorCode::InvalidInput,
                format!(
                    "input {i} ({}): expected {} bytes of data, got {}",
                    spec.name,
                    expected.unwrap_or(usize::MAX),
                    input.data.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a tensor of shape `shape` fits the spec shape `spec`: same rank, every static
/// dimension equal, every dynamic dimension (0 in `spec`) at least 1.
pub fn shape_matches(spec: &[u32], shape: &[u32]) -> bool {
    spec.len() == shape.len()
        && spec
            .iter()
            .zip(shape)
            .all(|(&want, &got)| if want == 0 { got >= 1 } else { want == got })
}

fn byte_len(shape: &[u32], elem: usize) -> Option<usize> {
    shape
        .iter()
        .try_fold(elem, |acc, &d| acc.checked_mul(d as usize))
}

/// A loaded model: what survives between calls.
struct Loaded {
    /// `TypeId`-free identity of the plugin type that loaded it (its `model_bytes` fn).
    owner: fn() -> &'static [u8],
    model: &'static Model<'static>,
    interpreter: Interpreter<'static>,
    /// The model's own input specs (before `adjust_info`).
    model_inputs: Vec<TensorSpec>,
    /// `model-info` after `adjust_info`.
    info: ModelInfo,
}

static STATE: TryCell<Option<Loaded>> = TryCell::new(None);

fn internal(message: impl Into<String>) -> Error {
    error(ErrorCode::Internal, message)
}

fn load<M: ModelPlugin>() -> Result<Loaded, Error> {
    let bytes = M::model_bytes();
    let model = edgeplug_model::format::decode(bytes).map_err(|e| model_error(&e))?;
    // Leaked once per instance: the interpreter borrows the model for the instance's life.
    let model: &'static Model<'static> = Box::leak(Box::new(model));
    let interpreter = Interpreter::new(model).map_err(|e| model_error(&e))?;
    let spec = |&index: &u32| {
        model
            .tensors
            .get(index as usize)
            .map(tensor_spec)
            .ok_or_else(|| {
                error(
                    ErrorCode::Model,
                    format!("graph names missing tensor {index}"),
                )
            })
    };
    let model_inputs = model
        .inputs
        .iter()
        .map(spec)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = model
        .outputs
        .iter()
        .map(spec)
        .collect::<Result<Vec<_>, _>>()?;
    let arena_bytes = u32::try_from(interpreter.arena_bytes()).unwrap_or(u32::MAX);
    let info = M::adjust_info(ModelInfo {
        name: M::name(model),
        version: M::version(),
        inputs: model_inputs.clone(),
        outputs,
        labels: M::labels(),
        arena_bytes,
        memory_bytes: 0,
    });
    Ok(Loaded {
        owner: M::model_bytes,
        model,
        interpreter,
        model_inputs,
        info,
    })
}

/// Runs `f` on the loaded model of `M`, loading it first if needed.
fn with_loaded<M: ModelPlugin, R>(
    f: impl FnOnce(&mut Loaded) -> Result<R, Error>,
) -> Result<R, Error> {
    STATE
        .with(|state| {
            if state.is_none() {
                *state = Some(load::<M>()?);
            }
            match state {
                Some(loaded)
                    if core::ptr::fn_addr_eq(
                        loaded.owner,
                        M::model_bytes as fn() -> &'static [u8],
                    ) =>
                {
                    f(loaded)
                }
                _ => Err(internal("two ModelPlugin types in one plugin")),
            }
        })
        .map_err(|busy| internal(alloc::string::ToString::to_string(&busy)))?
}

impl<M: ModelPlugin> Plugin for M {
    /// The model's description after [`ModelPlugin::adjust_info`]. If the model cannot be
    /// loaded, a description named `"<invalid model>"` with no inputs and outputs whose
    /// version carries the error message (`info` has no error channel; `infer` reports the
    /// same failure as an error).
    fn info() -> ModelInfo {
        with_loaded::<M, _>(|loaded| Ok(loaded.info.clone())).unwrap_or_else(invalid_model_info)
    }

    fn infer(inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let outputs = with_loaded::<M, _>(|loaded| {
            let buffers = M::front_end(inputs, &loaded.model_inputs)?;
            let model = loaded.model;
            let mut outputs = model
                .outputs
                .iter()
                .map(|&i| {
                    let t = &model.tensors[i as usize];
                    let len = t
                        .byte_len()
                        .ok_or_else(|| error(ErrorCode::Model, "output tensor too large"))?;
                    Ok(Tensor {
                        shape: t.shape.clone(),
                        dtype: element_type(t.dtype),
                        data: vec![0u8; len],
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let ins: Vec<&[u8]> = buffers.iter().map(Vec::as_slice).collect();
            let mut outs: Vec<&mut [u8]> =
                outputs.iter_mut().map(|t| t.data.as_mut_slice()).collect();
            loaded
                .interpreter
                .invoke(&ins, &mut outs)
                .map_err(|e| model_error(&e))?;
            Ok(outputs)
        })?;
        M::post_process(outputs)
    }
}
