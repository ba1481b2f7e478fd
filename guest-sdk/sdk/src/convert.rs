//! Conversions from `edgeplug_model` types to the interface types.

use crate::{ElementType, Error, ErrorCode, Quantization, TensorSpec};
use alloc::string::ToString;
use edgeplug_model::{DType, Tensor as ModelTensor};

/// The interface element type of a model element type.
pub fn element_type(dtype: DType) -> ElementType {
    match dtype {
        DType::I8 => ElementType::Int8,
        DType::I32 => ElementType::Int32,
        DType::F32 => ElementType::Float32,
    }
}

/// The interface description of a model tensor. Per-channel quantization (never used on
/// graph inputs and outputs) is reported as `None`.
pub fn tensor_spec(tensor: &ModelTensor<'_>) -> TensorSpec {
    let quantization = tensor.quantization.as_ref().and_then(|q| {
        match (q.scales.as_slice(), q.zero_points.as_slice()) {
            ([scale], [zero_point]) => Some(Quantization {
                scale: *scale,
                zero_point: *zero_point,
            }),
            _ => None,
        }
    });
    TensorSpec {
        name: tensor.name.clone(),
        dtype: element_type(tensor.dtype),
        shape: tensor.shape.clone(),
        quantization,
    }
}

/// The interface error for a model error: argument and buffer errors are
/// [`ErrorCode::InvalidInput`], unsupported operators [`ErrorCode::Unsupported`], the rest
/// [`ErrorCode::Model`]. The message is the model error's `Display`.
pub fn model_error(error: &edgeplug_model::Error) -> Error {
    use edgeplug_model::Error as E;
    let code = match error {
        E::ArgumentCount { .. } | E::BufferSize { .. } => ErrorCode::InvalidInput,
        E::UnsupportedOp { .. } | E::UnsupportedVersion { .. } => ErrorCode::Unsupported,
        _ => ErrorCode::Model,
    };
    Error {
        code,
        message: error.to_string(),
    }
}

/// Size in bytes of one element.
pub(crate) fn element_size(dtype: ElementType) -> usize {
    match dtype {
        ElementType::Int8 | ElementType::Uint8 => 1,
        ElementType::Int16 => 2,
        ElementType::Int32 | ElementType::Float32 => 4,
    }
}

/// The WIT name of an element type (`int8`, `uint8`, `int16`, `int32`, `float32`).
pub(crate) fn element_type_name(dtype: ElementType) -> &'static str {
    match dtype {
        ElementType::Int8 => "int8",
        ElementType::Uint8 => "uint8",
        ElementType::Int32 => "int32",
        ElementType::Float32 => "float32",
        ElementType::Int16 => "int16",
    }
}
