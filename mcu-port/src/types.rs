//! Host-side mirrors of the `edgeplug:ml` interface types.

use alloc::string::String;
use alloc::vec::Vec;

/// `element-type`: element type of a tensor (data is raw little-endian bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Signed 32-bit integer.
    Int32,
    /// IEEE-754 binary32.
    Float32,
    /// Signed 16-bit integer.
    Int16,
}

impl ElementType {
    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            ElementType::Int8 | ElementType::Uint8 => 1,
            ElementType::Int16 => 2,
            ElementType::Int32 | ElementType::Float32 => 4,
        }
    }

    /// The canonical-ABI discriminant (declaration order in the WIT file).
    pub(crate) const fn discriminant(self) -> u8 {
        match self {
            ElementType::Int8 => 0,
            ElementType::Uint8 => 1,
            ElementType::Int32 => 2,
            ElementType::Float32 => 3,
            ElementType::Int16 => 4,
        }
    }

    /// The element type of a canonical-ABI discriminant, if valid.
    pub(crate) const fn from_discriminant(d: u8) -> Option<Self> {
        match d {
            0 => Some(ElementType::Int8),
            1 => Some(ElementType::Uint8),
            2 => Some(ElementType::Int32),
            3 => Some(ElementType::Float32),
            4 => Some(ElementType::Int16),
            _ => None,
        }
    }
}

/// `quantization`: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantization {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// `tensor-spec`: one input or output of `infer`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: ElementType,
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// Quantization, if any.
    pub quantization: Option<Quantization>,
}

/// The extent a self-test (and [`TensorSpec::default_shape`]) uses for a dimension that a
/// spec declares as 0 ("any extent").
pub const DYNAMIC_DEFAULT_EXTENT: u32 = edgeplug_signing::DYNAMIC_DEFAULT_EXTENT;

impl TensorSpec {
    /// Bytes of a tensor of this spec, or `None` on overflow. A dynamic dimension (0)
    /// counts as 0, so this is 0 for a dynamic spec: use [`TensorSpec::default_shape`].
    pub fn byte_len(&self) -> Option<usize> {
        byte_len(&self.shape, self.dtype)
    }

    /// Whether a dimension is 0, which the interface defines as "any extent of at least 1".
    pub fn is_dynamic(&self) -> bool {
        self.shape.contains(&0)
    }

    /// The spec's shape with every dynamic dimension set to [`DYNAMIC_DEFAULT_EXTENT`]:
    /// the shape a self-test or a raw-bytes call uses.
    pub fn default_shape(&self) -> Vec<u32> {
        self.shape
            .iter()
            .map(|&d| if d == 0 { DYNAMIC_DEFAULT_EXTENT } else { d })
            .collect()
    }

    /// Whether a tensor of shape `shape` matches this spec: same rank, every static
    /// dimension equal, every dynamic dimension at least 1.
    pub fn accepts_shape(&self, shape: &[u32]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(&want, &got)| if want == 0 { got >= 1 } else { want == got })
    }
}

/// Bytes of a tensor of `shape` and `dtype`, or `None` on overflow.
pub fn tensor_byte_len(shape: &[u32], dtype: ElementType) -> Option<usize> {
    byte_len(shape, dtype)
}

pub(crate) fn byte_len(shape: &[u32], dtype: ElementType) -> Option<usize> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d as usize))
}

/// `model-info`: what the plugin says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// Name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Inputs of `infer`, in order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs of `infer`, in order.
    pub outputs: Vec<TensorSpec>,
    /// Class labels (in output order), empty if not a classifier.
    pub labels: Vec<String>,
    /// Bytes of the activation arena.
    pub arena_bytes: u32,
    /// Bytes of linear memory the plugin needs (0 if unknown).
    pub memory_bytes: u32,
}

/// An input tensor, borrowed from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorRef<'a> {
    /// Dimensions, outermost first.
    pub shape: &'a [u32],
    /// Element type.
    pub dtype: ElementType,
    /// Raw little-endian row-major data.
    pub data: &'a [u8],
}

/// An output tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// Element type.
    pub dtype: ElementType,
    /// Raw little-endian row-major data.
    pub data: Vec<u8>,
}

/// `error-code`: why the plugin's `infer` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The inputs do not match the plugin's input specs.
    InvalidInput,
    /// The plugin cannot run this request.
    Unsupported,
    /// The model is corrupt or failed while running.
    Model,
    /// Any other failure inside the plugin.
    Internal,
}

impl ErrorCode {
    pub(crate) const fn from_discriminant(d: u8) -> Option<Self> {
        match d {
            0 => Some(ErrorCode::InvalidInput),
            1 => Some(ErrorCode::Unsupported),
            2 => Some(ErrorCode::Model),
            3 => Some(ErrorCode::Internal),
            _ => None,
        }
    }

    /// The WIT name (`invalid-input`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Model => "model",
            ErrorCode::Internal => "internal",
        }
    }
}

/// `host.level`: severity of a plugin's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Error.
    Error,
    /// Warning.
    Warn,
    /// Information.
    Info,
    /// Debugging detail.
    Debug,
    /// Tracing detail.
    Trace,
}

impl Level {
    pub(crate) const fn from_discriminant(d: i32) -> Option<Self> {
        match d {
            0 => Some(Level::Error),
            1 => Some(Level::Warn),
            2 => Some(Level::Info),
            3 => Some(Level::Debug),
            4 => Some(Level::Trace),
            _ => None,
        }
    }
}
