//! Running plugin components: wasmtime (component model) and wasmi (`edgeplug-mcu`).
//!
//! A plugin is a WebAssembly component implementing the `edgeplug:ml` world
//! (`wit/edgeplug-ml.wit`). Both engines load the same bytes and give the same outputs:
//!
//! - [`WasmtimeEngine`] compiles a component with Cranelift (through the component model and
//!   `wasmtime::component::bindgen!` bindings), links the `host` imports (log lines go to
//!   stderr prefixed with the plugin's name, the clock is monotonic) and pre-instantiates it
//!   ([`CompiledPlugin`], an `InstancePre`); [`CompiledPlugin::instantiate`] is then cheap.
//!   Engines are shared per configuration (optionally with the pooling allocator), and a
//!   [`CompileCache`](crate::cache::CompileCache) keeps precompiled components on disk.
//! - [`WasmiInstance`] runs the component's core module on the wasmi interpreter with the
//!   hand-written canonical ABI of [`edgeplug_mcu`] (what a microcontroller does).
//!
//! Neither trusts the guest: `model-info` is checked when a plugin is loaded (at least one
//! input and output, sizes that fit in memory), inputs are checked against it before a call,
//! and every output is checked against it (count, element type, shape, byte length) after a
//! call. Every error is a [`PluginError`] that names the plugin. A trap, a canonical-ABI
//! violation or bad outputs *poison* the instance (later calls fail with
//! [`PluginErrorKind::Poisoned`]); a plugin's own error answer does not.
//!
//! Limits ([`EngineConfig`]) are per call: fuel, a wall-clock deadline (epoch interruption,
//! wasmtime only), a linear-memory cap (plus bounded tables and instances), and a bound on
//! the bytes a plugin hands back (refused before copying on wasmtime). Each has its typed
//! error ([`PluginErrorKind::OutOfFuel`], [`PluginErrorKind::DeadlineExceeded`],
//! [`PluginErrorKind::MemoryLimit`], [`PluginErrorKind::OutputTooLarge`]) and poisons the
//! instance; other instances, of the same plugin or others, are unaffected.
//!
//! The interface types are shared with `edgeplug-mcu` ([`ModelInfo`], [`TensorSpec`],
//! [`Tensor`], [`TensorRef`], ...), so code is written once for both engines through
//! [`PluginInstance`].

mod wasmi_host;
mod wasmtime_host;

pub use edgeplug_mcu::{
    ElementType, ErrorCode, Level, ModelInfo, Quantization, Tensor, TensorRef, TensorSpec,
};
pub use wasmi_host::WasmiInstance;
pub use wasmtime_host::{Allocator, CompiledPlugin, EPOCH_TICK, WasmtimeEngine, WasmtimeInstance};

use crate::TensorData;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Which engine runs a plugin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// wasmtime: Cranelift-compiled, component model. The gateway engine.
    #[default]
    Wasmtime,
    /// wasmi: an interpreter, through `edgeplug-mcu` (the microcontroller host).
    Wasmi,
}

impl EngineKind {
    /// `"wasmtime"` or `"wasmi"`.
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Wasmtime => "wasmtime",
            EngineKind::Wasmi => "wasmi",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = String;

    /// Parses `wasmtime` or `wasmi`; anything else is an error naming the choices.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "wasmtime" => Ok(EngineKind::Wasmtime),
            "wasmi" => Ok(EngineKind::Wasmi),
            _ => Err(format!("unknown engine `{s}` (expected wasmtime or wasmi)")),
        }
    }
}

/// Limits and engine options.
///
/// `EngineConfig::default()`: 64 MiB of linear memory, no pooling allocator, no fuel
/// metering, no deadline, at most [`DEFAULT_MAX_OUTPUT_BYTES`] copied out of a plugin per
/// call.
///
/// On wasmtime, the fields split in two: those that shape the compiled code or the
/// allocator (whether `fuel` and `deadline` are set at all, `pool_instances`, and with a
/// pool `max_memory_bytes`) select the shared engine ([`WasmtimeEngine::new`] hands out one
/// engine per such configuration); the values themselves (the fuel budget, the deadline, the
/// memory and output caps) apply per instance and can differ between plugins of one engine
/// ([`CompiledPlugin::with_limits`]).
///
/// Every limit is enforced on wasmtime. On wasmi (`edgeplug-mcu`): `fuel` and
/// `max_memory_bytes` are enforced; `max_output_bytes` is checked after the outputs were
/// copied out (edgeplug-mcu lifts them itself, bounded by the plugin's memory); `deadline` is
/// **not** enforced (wasmi has no epoch interruption: bound a wasmi plugin's time with
/// `fuel`); `pool_instances` does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Most bytes a plugin's linear memory may grow to. A plugin whose initial memory is
    /// larger fails to instantiate; a `memory.grow` beyond it fails inside the guest (it
    /// returns -1). On wasmtime, a plugin that then traps (what a Rust guest does when an
    /// allocation fails) is reported as [`PluginErrorKind::MemoryLimit`], as is an
    /// instantiation that needs more; on wasmi it stays a [`PluginErrorKind::Trap`].
    pub max_memory_bytes: usize,
    /// wasmtime only: use the pooling instance allocator with room for this many
    /// concurrent instances (fast instantiation, memory reserved up front). `None`: the
    /// on-demand allocator. If the pool cannot be reserved (for example under a low
    /// virtual-memory limit) the engine falls back to the on-demand allocator, logs a
    /// warning and says so in [`WasmtimeEngine::allocator`]. The pool belongs to the
    /// shared engine: every handle of the same configuration draws from it, and an
    /// instantiation beyond it fails with [`PluginErrorKind::Instantiate`] until an instance
    /// is dropped. Each slot reserves address space for `max_memory_bytes` plus wasmtime's
    /// guard regions (a few GiB of virtual memory per slot on 64-bit hosts, not RAM).
    pub pool_instances: Option<u32>,
    /// Fuel granted to each call into the plugin (the `model-info` query when it is
    /// loaded, and each `infer`), in the engine's own unit: wasmi's fuel (about one per
    /// executed instruction) or wasmtime's `consume_fuel` (about one per Wasm operator).
    /// Running out is [`PluginErrorKind::OutOfFuel`]. `None`: unmetered.
    pub fuel: Option<u64>,
    /// wasmtime only: wall-clock time each call into the plugin may take (the
    /// `model-info` query at instantiation, and each `infer`), enforced by epoch
    /// interruption with one process-wide ticker thread ([`EPOCH_TICK`]): a call is stopped
    /// between `deadline` and `deadline` plus two ticks after it started, with
    /// [`PluginErrorKind::DeadlineExceeded`]. `None`: no deadline. Ignored by wasmi.
    pub deadline: Option<Duration>,
    /// Most bytes a plugin may hand to the host in one call: on wasmtime, every byte the
    /// host lifts out of the guest's memory (the output tensors' data, shapes and the
    /// per-tensor records; a `model-info`; a log message), refused **before** it is copied,
    /// so a plugin cannot make the host allocate more than this however its results alias
    /// its memory. Exceeding it is [`PluginErrorKind::OutputTooLarge`]. On wasmi the output
    /// data is counted after the copy.
    pub max_output_bytes: usize,
}

/// Default [`EngineConfig::max_output_bytes`]: 16 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 << 20;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_memory_bytes: 64 << 20,
            pool_instances: None,
            fuel: None,
            deadline: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// An error of one plugin: what went wrong and the plugin's name (usually its file name).
/// Displays as ``plugin `NAME`: WHAT``, on one line.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}`: {kind}")]
pub struct PluginError {
    /// The plugin's name as the caller gave it (a file name or path).
    pub plugin: String,
    /// What went wrong.
    pub kind: PluginErrorKind,
}

impl PluginError {
    /// A `kind` error of `plugin`.
    pub fn new(plugin: impl Into<String>, kind: PluginErrorKind) -> Self {
        PluginError {
            plugin: plugin.into(),
            kind,
        }
    }
}

/// What went wrong with a plugin. Messages are single lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginErrorKind {
    /// The plugin file could not be read.
    #[error("cannot read the file: {0}")]
    Io(std::io::Error),
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary")]
    NotWasm,
    /// The bytes are a core module, not a component.
    #[error(
        "a core WebAssembly module, not a component (plugins are components: make one with `edgeplug pack`)"
    )]
    NotAComponent,
    /// The component does not implement the `edgeplug:ml` `plugin` world: a missing or
    /// mistyped export, or an import this host does not provide.
    #[error("not an edgeplug:ml plugin: {0}")]
    WrongWorld(String),
    /// The engine rejected the code (malformed or invalid Wasm, unsupported proposal).
    #[error("invalid plugin code: {0}")]
    Compile(String),
    /// Instantiation failed (for example its memory exceeds the limit).
    #[error("cannot instantiate the plugin: {0}")]
    Instantiate(String),
    /// The plugin trapped.
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The plugin used up its fuel budget for one call ([`EngineConfig::fuel`]).
    #[error("the plugin ran out of fuel (it used its whole per-call fuel budget)")]
    OutOfFuel,
    /// A call ran past its deadline ([`EngineConfig::deadline`]) and was interrupted.
    #[error("the plugin exceeded its deadline of {} ms per call and was stopped", .deadline.as_millis())]
    DeadlineExceeded {
        /// The deadline per call.
        deadline: Duration,
    },
    /// The plugin needed more linear memory than its cap ([`EngineConfig::max_memory_bytes`]):
    /// a `memory.grow` was refused and the plugin then trapped, or its initial memory is
    /// larger than the cap.
    #[error(
        "the plugin hit its memory limit: it asked for {requested} bytes of linear memory, the limit is {limit} bytes"
    )]
    MemoryLimit {
        /// The cap in bytes.
        limit: usize,
        /// The memory size the plugin asked for, in bytes.
        requested: usize,
    },
    /// The plugin tried to hand the host more bytes in one call than
    /// [`EngineConfig::max_output_bytes`]; nothing beyond the limit was copied.
    #[error(
        "the plugin's output is too large: it tried to pass more than the limit of {limit} bytes to the host in one call"
    )]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The plugin violated the canonical ABI (an out-of-bounds or misaligned pointer from
    /// `cabi_realloc` or in its results, an invalid discriminant, invalid UTF-8).
    #[error("the plugin broke the canonical ABI: {0}")]
    Abi(String),
    /// The plugin's `model-info` is unusable (no inputs or outputs, absurd sizes).
    #[error("the plugin's model-info is invalid: {0}")]
    BadInfo(String),
    /// The plugin's outputs do not match its own `model-info`.
    #[error("the plugin returned bad outputs: {0}")]
    BadOutput(String),
    /// The caller's inputs do not match the plugin's `model-info`.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The plugin's `infer` answered with an error.
    #[error("the plugin reported an error ({}): {message}", code.name())]
    Plugin {
        /// The plugin's error code.
        code: ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// An earlier call trapped, hit a limit (fuel, deadline, memory, output size), broke the
    /// ABI or returned bad outputs; the instance must not be used again (instantiate the
    /// plugin again: other instances are unaffected).
    #[error("the plugin instance is unusable after an earlier failure; load it again")]
    Poisoned,
    /// An output of an element type the host cannot represent as [`TensorData`].
    #[error("{0}")]
    Unsupported(String),
    /// The engine itself could not be set up.
    #[error("cannot set up {engine}: {message}")]
    Engine {
        /// Which engine.
        engine: EngineKind,
        /// Why.
        message: String,
    },
}

impl PluginErrorKind {
    /// Whether the instance must not be used after this error (it is then
    /// [`PluginErrorKind::Poisoned`] for every later call).
    pub fn poisons(&self) -> bool {
        matches!(
            self,
            PluginErrorKind::Trap(_)
                | PluginErrorKind::OutOfFuel
                | PluginErrorKind::DeadlineExceeded { .. }
                | PluginErrorKind::MemoryLimit { .. }
                | PluginErrorKind::OutputTooLarge { .. }
                | PluginErrorKind::Abi(_)
                | PluginErrorKind::BadOutput(_)
        )
    }
}

/// A loaded, instantiated plugin on either engine.
#[allow(clippy::large_enum_variant)]
pub enum PluginInstance {
    /// Running on wasmtime.
    Wasmtime(WasmtimeInstance),
    /// Running on wasmi.
    Wasmi(WasmiInstance),
}

impl PluginInstance {
    /// Loads `bytes` (a plugin component called `name` in errors) on `engine`:
    /// for wasmtime, compiles it on the shared [`WasmtimeEngine`] of `config` and
    /// instantiates it (use [`WasmtimeEngine`] directly to compile once, with a
    /// [`CompileCache`](crate::cache::CompileCache), and instantiate many times).
    pub fn load(
        engine: EngineKind,
        name: &str,
        bytes: &[u8],
        config: &EngineConfig,
    ) -> Result<Self, PluginError> {
        match engine {
            EngineKind::Wasmtime => {
                let wasmtime =
                    WasmtimeEngine::new(config).map_err(|e| PluginError::new(name, e))?;
                Ok(PluginInstance::Wasmtime(
                    wasmtime.compile(name, bytes)?.instantiate()?,
                ))
            }
            EngineKind::Wasmi => Ok(PluginInstance::Wasmi(WasmiInstance::load(
                name, bytes, config,
            )?)),
        }
    }

    /// Reads the plugin file at `path` and [`load`](Self::load)s it; errors name the path.
    pub fn open(
        engine: EngineKind,
        path: &Path,
        config: &EngineConfig,
    ) -> Result<Self, PluginError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| PluginError::new(name.clone(), PluginErrorKind::Io(e)))?;
        Self::load(engine, &name, &bytes, config)
    }

    /// Which engine runs this instance.
    pub fn engine(&self) -> EngineKind {
        match self {
            PluginInstance::Wasmtime(_) => EngineKind::Wasmtime,
            PluginInstance::Wasmi(_) => EngineKind::Wasmi,
        }
    }

    /// The name errors use for this plugin.
    pub fn name(&self) -> &str {
        match self {
            PluginInstance::Wasmtime(p) => p.name(),
            PluginInstance::Wasmi(p) => p.name(),
        }
    }

    /// The plugin's `model-info`, read (and checked) when it was loaded.
    pub fn info(&self) -> &ModelInfo {
        match self {
            PluginInstance::Wasmtime(p) => p.info(),
            PluginInstance::Wasmi(p) => p.info(),
        }
    }

    /// Runs one inference. `inputs` must match `info().inputs` in count, element type,
    /// shape and byte length ([`PluginErrorKind::InvalidInput`] otherwise, before the
    /// plugin is called); the outputs are checked against `info().outputs`.
    pub fn infer(&mut self, inputs: &[TensorRef<'_>]) -> Result<Vec<Tensor>, PluginError> {
        match self {
            PluginInstance::Wasmtime(p) => p.infer(inputs),
            PluginInstance::Wasmi(p) => p.infer(inputs),
        }
    }

    /// Runs one inference on raw input buffers, taking element types from `info().inputs`
    /// and shapes from [`TensorSpec::default_shape`] (the declared shape, dynamic
    /// dimensions set to [`edgeplug_mcu::DYNAMIC_DEFAULT_EXTENT`]); each buffer must have
    /// exactly that shape's byte length.
    pub fn infer_raw(&mut self, inputs: &[&[u8]]) -> Result<Vec<Tensor>, PluginError> {
        let specs = self.info().inputs.clone();
        let shapes: Vec<Vec<u32>> = specs.iter().map(TensorSpec::default_shape).collect();
        if specs.len() != inputs.len() {
            return Err(self.error(PluginErrorKind::InvalidInput(format!(
                "the plugin takes {} input(s), {} given",
                specs.len(),
                inputs.len()
            ))));
        }
        let refs: Vec<TensorRef<'_>> = specs
            .iter()
            .zip(&shapes)
            .zip(inputs)
            .map(|((spec, shape), data)| TensorRef {
                shape,
                dtype: spec.dtype,
                data,
            })
            .collect();
        self.infer(&refs)
    }

    /// Fuel the last `infer` call used (its `cabi_realloc` and post-return calls
    /// included), when the instance was loaded with [`EngineConfig::fuel`]; `None` otherwise.
    pub fn last_fuel_used(&self) -> Option<u64> {
        match self {
            PluginInstance::Wasmtime(p) => p.last_fuel_used(),
            PluginInstance::Wasmi(p) => p.last_fuel_used(),
        }
    }

    /// Whether an earlier failure (a trap, a limit hit, an ABI violation, bad outputs) made
    /// this instance unusable: every later call fails with [`PluginErrorKind::Poisoned`];
    /// instantiate the plugin again.
    pub fn is_poisoned(&self) -> bool {
        match self {
            PluginInstance::Wasmtime(p) => p.is_poisoned(),
            PluginInstance::Wasmi(p) => p.is_poisoned(),
        }
    }

    /// Current size of the plugin's linear memory in bytes (wasmtime: the largest size it
    /// has grown to, which is the same thing since memories never shrink).
    pub fn memory_bytes(&self) -> usize {
        match self {
            PluginInstance::Wasmtime(p) => p.memory_bytes(),
            PluginInstance::Wasmi(p) => p.memory_bytes(),
        }
    }

    /// The outputs as [`TensorData`] (named and quantized as `info().outputs` says), for
    /// printing. An output of a type [`TensorData`] cannot hold (uint8) is
    /// [`PluginErrorKind::Unsupported`].
    pub fn tensor_data(&self, outputs: &[Tensor]) -> Result<Vec<TensorData>, PluginError> {
        tensor_data(&self.info().outputs, outputs).map_err(|kind| self.error(kind))
    }

    fn error(&self, kind: PluginErrorKind) -> PluginError {
        PluginError::new(self.name(), kind)
    }
}

/// Checks a plugin's `model-info`: at least one input and one output, every tensor's byte
/// length fits in 32 bits.
pub(crate) fn check_info(info: &ModelInfo) -> Result<(), PluginErrorKind> {
    if info.inputs.is_empty() || info.outputs.is_empty() {
        return Err(PluginErrorKind::BadInfo(format!(
            "it declares {} inputs and {} outputs",
            info.inputs.len(),
            info.outputs.len()
        )));
    }
    for spec in info.inputs.iter().chain(&info.outputs) {
        if spec.byte_len().is_none_or(|n| u32::try_from(n).is_err()) {
            return Err(PluginErrorKind::BadInfo(format!(
                "tensor `{}` {:?} is larger than 4 GiB",
                spec.name, spec.shape
            )));
        }
    }
    Ok(())
}

/// Checks caller inputs against the plugin's input specs.
pub(crate) fn check_inputs(
    specs: &[TensorSpec],
    inputs: &[TensorRef<'_>],
) -> Result<(), PluginErrorKind> {
    if specs.len() != inputs.len() {
        return Err(PluginErrorKind::InvalidInput(format!(
            "the plugin takes {} input(s), {} given",
            specs.len(),
            inputs.len()
        )));
    }
    for (i, (spec, input)) in specs.iter().zip(inputs).enumerate() {
        if input.dtype != spec.dtype || !spec.accepts_shape(input.shape) {
            return Err(PluginErrorKind::InvalidInput(format!(
                "input {i} is {} {:?}, the plugin's input `{}` is {} {:?}",
                dtype_name(input.dtype),
                input.shape,
                spec.name,
                dtype_name(spec.dtype),
                spec.shape
            )));
        }
        let want = edgeplug_mcu::tensor_byte_len(input.shape, spec.dtype).unwrap_or(usize::MAX);
        if input.data.len() != want {
            return Err(PluginErrorKind::InvalidInput(format!(
                "input {i} has {} bytes, the plugin's input `{}` ({} {:?}) needs {want}",
                input.data.len(),
                spec.name,
                dtype_name(spec.dtype),
                spec.shape
            )));
        }
    }
    Ok(())
}

/// Checks a plugin's outputs against its output specs: count, element type, shape, bytes.
pub(crate) fn check_outputs(
    specs: &[TensorSpec],
    outputs: &[Tensor],
) -> Result<(), PluginErrorKind> {
    if specs.len() != outputs.len() {
        return Err(PluginErrorKind::BadOutput(format!(
            "{} outputs, model-info declares {}",
            outputs.len(),
            specs.len()
        )));
    }
    for (i, (spec, out)) in specs.iter().zip(outputs).enumerate() {
        if out.dtype != spec.dtype || !spec.accepts_shape(&out.shape) {
            return Err(PluginErrorKind::BadOutput(format!(
                "output {i} (`{}`) is {} {:?}, model-info declares {} {:?}",
                spec.name,
                dtype_name(out.dtype),
                out.shape,
                dtype_name(spec.dtype),
                spec.shape
            )));
        }
        let want = edgeplug_mcu::tensor_byte_len(&out.shape, spec.dtype).unwrap_or(usize::MAX);
        if out.data.len() != want {
            return Err(PluginErrorKind::BadOutput(format!(
                "output {i} (`{}`) has {} bytes, expected {want}",
                spec.name,
                out.data.len()
            )));
        }
    }
    Ok(())
}

/// The WIT name of an element type (`int8`, `uint8`, `int16`, `int32`, `float32`).
pub fn dtype_name(dtype: ElementType) -> &'static str {
    match dtype {
        ElementType::Int8 => "int8",
        ElementType::Uint8 => "uint8",
        ElementType::Int32 => "int32",
        ElementType::Float32 => "float32",
        ElementType::Int16 => "int16",
    }
}

fn tensor_data(
    specs: &[TensorSpec],
    outputs: &[Tensor],
) -> Result<Vec<TensorData>, PluginErrorKind> {
    use edgeplug_model::DType;
    specs
        .iter()
        .zip(outputs)
        .map(|(spec, t)| {
            let dtype = match t.dtype {
                ElementType::Int8 => DType::I8,
                ElementType::Int32 => DType::I32,
                ElementType::Float32 => DType::F32,
                ElementType::Uint8 | ElementType::Int16 => {
                    return Err(PluginErrorKind::Unsupported(format!(
                        "output `{}` is {}, which this host cannot display",
                        spec.name,
                        dtype_name(t.dtype)
                    )));
                }
            };
            Ok(TensorData {
                name: spec.name.clone(),
                dtype,
                shape: t.shape.clone(),
                quantization: spec
                    .quantization
                    .map(|q| edgeplug_model::Quantization::per_tensor(q.scale, q.zero_point)),
                bytes: t.data.clone(),
            })
        })
        .collect()
}

/// The anomaly score of an autoencoder-style detector: the mean squared difference between
/// the real (dequantized) values of its input and of its reconstruction.
///
/// Applies when the plugin declares no labels, one input and one output, both int8 and
/// quantized, with the same number of elements (the MLPerf Tiny anomaly-detection model is
/// such an autoencoder; its reference scoring is this mean squared error). `None` otherwise.
pub fn anomaly_score(info: &ModelInfo, input: &[u8], output: &Tensor) -> Option<f64> {
    let ([input_spec], [output_spec]) = (info.inputs.as_slice(), info.outputs.as_slice()) else {
        return None;
    };
    if !info.labels.is_empty()
        || input_spec.dtype != ElementType::Int8
        || output_spec.dtype != ElementType::Int8
        || input.len() != output.data.len()
        || input.is_empty()
    {
        return None;
    }
    let (qi, qo) = (input_spec.quantization?, output_spec.quantization?);
    let real = |q: Quantization, b: u8| {
        f64::from(q.scale) * (f64::from(b as i8) - f64::from(q.zero_point))
    };
    let sum: f64 = input
        .iter()
        .zip(&output.data)
        .map(|(&i, &o)| {
            let d = real(qi, i) - real(qo, o);
            d * d
        })
        .sum();
    Some(sum / input.len() as f64)
}

/// Checks that `bytes` look like a component (the binary header), before an engine parses
/// them: [`PluginErrorKind::NotWasm`] or [`PluginErrorKind::NotAComponent`] otherwise.
pub(crate) fn check_component_header(bytes: &[u8]) -> Result<(), PluginErrorKind> {
    if bytes.len() < 8 || bytes[..4] != *b"\0asm" {
        return Err(PluginErrorKind::NotWasm);
    }
    // Core modules: version 1, layer 0. Components: layer 1.
    match bytes[4..8] {
        [_, _, 0, 0] => Err(PluginErrorKind::NotAComponent),
        [_, _, 1, 0] => Ok(()),
        _ => Err(PluginErrorKind::NotWasm),
    }
}
