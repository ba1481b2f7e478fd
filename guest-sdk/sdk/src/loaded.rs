//! [`LoadedModel`]: a decoded, validated model with its arena, for plugins that call the
//! model themselves (several times per `infer`, or between a front end and a scoring step).

use crate::convert::{model_error, tensor_spec};
use crate::{Error, ErrorCode, TensorSpec, error};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use edgeplug_model::{Interpreter, Model};

/// A model decoded from `'static` bytes (borrowed, not copied), validated, with its arena
/// planned. Keep it for the instance's life (in a [`TryCell`](crate::TryCell)).
pub struct LoadedModel {
    model: &'static Model<'static>,
    interpreter: Interpreter<'static>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

impl core::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("name", &self.model.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Decodes and validates `epm`. Errors: [`ErrorCode::Model`] (or
    /// [`ErrorCode::Unsupported`]) with the model error's message.
    pub fn load(epm: &'static [u8]) -> Result<Self, Error> {
        let model = edgeplug_model::format::decode(epm).map_err(|e| model_error(&e))?;
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
        let inputs = model.inputs.iter().map(spec).collect::<Result<_, _>>()?;
        let outputs = model.outputs.iter().map(spec).collect::<Result<_, _>>()?;
        Ok(Self {
            model,
            interpreter,
            inputs,
            outputs,
        })
    }

    /// The model.
    pub fn model(&self) -> &'static Model<'static> {
        self.model
    }

    /// The model's input specs, in graph order.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// The model's output specs, in graph order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The specs of the model's only input and only output, for plugins (called `plugin`
    /// in the message) that need exactly one of each.
    ///
    /// # Errors
    /// [`ErrorCode::Model`] naming `plugin` and both counts when the model has another
    /// number of inputs or outputs.
    pub fn single_input_output(&self, plugin: &str) -> Result<(&TensorSpec, &TensorSpec), Error> {
        match (self.inputs(), self.outputs()) {
            ([i], [o]) => Ok((i, o)),
            (i, o) => Err(error(
                ErrorCode::Model,
                format!(
                    "the {plugin} plugin needs a model with 1 input and 1 output, this one has {} and {}",
                    i.len(),
                    o.len()
                ),
            )),
        }
    }

    /// Bytes of the activation arena (saturated to `u32`).
    pub fn arena_bytes(&self) -> u32 {
        u32::try_from(self.interpreter.arena_bytes()).unwrap_or(u32::MAX)
    }

    /// Zeroed buffers of the right size for every output, in graph order.
    pub fn output_buffers(&self) -> Vec<Vec<u8>> {
        self.model
            .outputs
            .iter()
            .map(|&i| vec![0u8; self.model.tensors[i as usize].byte_len().unwrap_or(0)])
            .collect()
    }

    /// Runs the model once: `inputs` and `outputs` are raw buffers of exactly the tensors'
    /// sizes, in graph order ([`ErrorCode::InvalidInput`] otherwise).
    pub fn invoke(&mut self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> Result<(), Error> {
        self.interpreter
            .invoke(inputs, outputs)
            .map_err(|e| model_error(&e))
    }
}
