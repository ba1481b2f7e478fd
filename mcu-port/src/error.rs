use crate::ErrorCode;
use alloc::string::String;
use core::fmt;

/// Why a plugin could not be loaded or run.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not WebAssembly at all.
    NotWasm,
    /// The bytes are a core module, not a component.
    NotAComponent,
    /// The component's binary encoding is malformed.
    MalformedComponent(String),
    /// The component is well-formed but not shaped like a plugin: no core module, more than
    /// one candidate for the plugin's module, or a core module that is neither the plugin
    /// nor a `wit-component` adapter shim.
    UnsupportedComponent(String),
    /// The component does not implement the `edgeplug:ml` world: it does not export
    /// `edgeplug:ml/inference@0.1`, or its core module lacks a required export.
    WrongWorld(String),
    /// The plugin imports something this host does not provide.
    UnsupportedImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// wasmi rejected the core module (invalid Wasm or an unsupported proposal).
    Compile(String),
    /// The plugin's code uses WebAssembly SIMD (`simd128`: built with `-C
    /// target-feature=+simd128`), and this host was built without wasmi's SIMD support
    /// (`edgeplug-mcu`'s `simd` feature).
    SimdNotEnabled {
        /// Offset in the core module where wasmi's decoder stopped: the first SIMD
        /// instruction, or near the first `v128` type.
        offset: usize,
    },
    /// Instantiation failed (import type mismatch, memory over the limit, start trapped).
    Instantiate(String),
    /// The plugin trapped (including a trap raised by this host while lifting a host
    /// call's arguments, and a failed memory growth under the memory limit).
    Trap(String),
    /// The plugin used up its fuel budget for this call.
    OutOfFuel,
    /// The plugin violated the canonical ABI: an out-of-bounds or misaligned pointer, an
    /// invalid discriminant, invalid UTF-8, or more data than its memory can hold.
    Abi(String),
    /// The plugin's outputs do not match its own `model-info` (count, type, shape, size),
    /// or its `model-info` is inconsistent.
    BadOutput(String),
    /// The caller's inputs cannot be passed (a length that does not fit in 32 bits).
    InvalidInput(String),
    /// The plugin's `infer` returned an error.
    Plugin {
        /// The plugin's error code.
        code: ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// An earlier call trapped or broke the ABI; the instance must not be used again.
    Poisoned,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotWasm => f.write_str("not a WebAssembly binary"),
            Error::NotAComponent => {
                f.write_str("a core WebAssembly module, not a component (plugins are components)")
            }
            Error::MalformedComponent(e) => write!(f, "malformed component: {e}"),
            Error::UnsupportedComponent(e) => write!(f, "unsupported component layout: {e}"),
            Error::WrongWorld(e) => write!(f, "not an edgeplug:ml plugin: {e}"),
            Error::UnsupportedImport { module, name } => {
                write!(
                    f,
                    "the plugin imports `{module}`.`{name}`, which this host does not provide"
                )
            }
            Error::Compile(e) => write!(f, "invalid plugin code: {e}"),
            Error::SimdNotEnabled { offset } => write!(
                f,
                "the plugin uses WebAssembly SIMD (simd128; first at offset {offset:#x} of its core module), \
                 which this host was built without: use a plugin built without +simd128, \
                 or a host built with edgeplug-mcu's `simd` feature"
            ),
            Error::Instantiate(e) => write!(f, "cannot instantiate the plugin: {e}"),
            Error::Trap(e) => write!(f, "the plugin trapped: {e}"),
            Error::OutOfFuel => f.write_str("the plugin ran out of fuel"),
            Error::Abi(e) => write!(f, "the plugin broke the canonical ABI: {e}"),
            Error::BadOutput(e) => write!(f, "the plugin returned bad outputs: {e}"),
            Error::InvalidInput(e) => write!(f, "invalid input: {e}"),
            Error::Plugin { code, message } => {
                write!(
                    f,
                    "the plugin reported an error ({}): {message}",
                    code.name()
                )
            }
            Error::Poisoned => {
                f.write_str("the plugin instance is unusable after an earlier trap; load it again")
            }
        }
    }
}

impl core::error::Error for Error {}
