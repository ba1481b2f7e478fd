//! The edgeplug plugin SDK.
//!
//! A plugin is a WebAssembly component that implements the `edgeplug:ml` world
//! (`wit/edgeplug-ml.wit` at the workspace root): it exports `info` and `infer` and may
//! import only a log line and a monotonic clock. This crate generates the canonical-ABI glue
//! with `wit-bindgen` and hides it behind one trait, [`Plugin`], and one macro, [`export!`].
//! For the common case, a plugin that runs one `.epm` model with optional pre- and
//! post-processing, implement [`ModelPlugin`] instead: every [`ModelPlugin`] is a [`Plugin`].
//!
//! On `wasm32` targets the default `runtime` feature also installs a global allocator
//! (dlmalloc) and a panic handler that logs the panic message through the host and then
//! traps, so a plugin crate needs nothing else: `#![no_std]`, `extern crate alloc`, a
//! `cdylib` crate type, and:
//!
//! ```
//! use edgeplug_guest::ModelPlugin;
//!
//! struct Echo;
//!
//! impl ModelPlugin for Echo {
//!     fn model_bytes() -> &'static [u8] {
//!         // Usually `include_bytes!("model.epm")`; here a one-op reshape model.
//!         # static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
//!         # BYTES.get_or_init(|| {
//!         #     use edgeplug_model::*;
//!         #     let q = Some(Quantization::per_tensor(0.5, 0));
//!         #     format::encode(&Model {
//!         #         name: "echo".into(), description: String::new(),
//!         #         tensors: vec![
//!         #             Tensor::activation("in", DType::I8, &[1, 4], q.clone()),
//!         #             Tensor::activation("out", DType::I8, &[4], q),
//!         #         ],
//!         #         operators: vec![Operator { kind: OpKind::Reshape, inputs: vec![0], outputs: vec![1] }],
//!         #         inputs: vec![0], outputs: vec![1],
//!         #     }).unwrap()
//!         # })
//!     }
//!     fn version() -> String {
//!         "1.0.0".into()
//!     }
//! }
//!
//! edgeplug_guest::export!(Echo);
//!
//! // What a host sees (called directly here; in a component the host calls the exports):
//! use edgeplug_guest::{ElementType, Plugin, Tensor};
//! let info = <Echo as Plugin>::info();
//! assert_eq!(info.inputs[0].shape, [1, 4]);
//! let out = <Echo as Plugin>::infer(vec![Tensor {
//!     shape: vec![1, 4],
//!     dtype: ElementType::Int8,
//!     data: vec![1, 2, 3, 4],
//! }])
//! .unwrap();
//! assert_eq!(out[0].data, [1, 2, 3, 4]);
//! ```
#![no_std]

extern crate alloc;

#[doc(hidden)]
pub mod __bindings;
use __bindings as bindings;
mod cell;
mod convert;
mod loaded;
mod model_plugin;
#[cfg(all(target_arch = "wasm32", feature = "runtime"))]
mod runtime;
pub mod slot;

pub use bindings::edgeplug::ml::host::Level;
pub use bindings::exports::edgeplug::ml::inference::{
    ElementType, Error, ErrorCode, ModelInfo, Quantization, Tensor, TensorSpec,
};
pub use cell::{Busy, LazyState, TryCell};
pub use convert::{element_type, model_error, tensor_spec};
pub use edgeplug_model;
pub use loaded::LoadedModel;
pub use model_plugin::{ModelPlugin, check_inputs, shape_matches};

use alloc::string::String;
use alloc::vec::Vec;

/// What a plugin implements. The two functions are the `edgeplug:ml/inference` exports;
/// [`export!`] wires a type that implements this trait to the component's exports.
///
/// Contract (what hosts rely on):
/// - `info` is cheap, has no side effects a host could observe, and returns the same value
///   every time.
/// - `infer` takes the inputs in `info().inputs` order and returns the outputs in
///   `info().outputs` order, each with exactly the declared type and shape and
///   `data.len() == product(shape) * element size`. Bad inputs yield
///   [`ErrorCode::InvalidInput`], never a trap.
pub trait Plugin {
    /// Describes the model.
    fn info() -> ModelInfo;
    /// Runs the model.
    fn infer(inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error>;
}

/// Makes a [`Plugin`] type the component's `edgeplug:ml/inference` export.
///
/// Use it exactly once per plugin crate, at module level: `edgeplug_guest::export!(MyPlugin);`
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        const _: () = {
            struct __EdgeplugExport;
            impl $crate::__bindings::exports::edgeplug::ml::inference::Guest for __EdgeplugExport {
                fn info() -> $crate::ModelInfo {
                    <$plugin as $crate::Plugin>::info()
                }
                fn infer(
                    inputs: $crate::__private::Vec<$crate::Tensor>,
                ) -> ::core::result::Result<$crate::__private::Vec<$crate::Tensor>, $crate::Error>
                {
                    <$plugin as $crate::Plugin>::infer(inputs)
                }
            }
            $crate::__bindings::__export_edgeplug_ml!(__EdgeplugExport with_types_in $crate::__bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use alloc::vec::Vec;
}

/// Writes one line to the host's log. Costs a host call: keep it out of inner loops.
pub fn log(level: Level, message: &str) {
    bindings::edgeplug::ml::host::log(level, message);
}

/// Nanoseconds of the host's monotonic clock (arbitrary origin).
pub fn now_ns() -> u64 {
    bindings::edgeplug::ml::host::now_ns()
}

/// Builds an [`Error`] from a code and a message.
pub fn error(code: ErrorCode, message: impl Into<String>) -> Error {
    Error {
        code,
        message: message.into(),
    }
}

/// The [`ModelInfo`] a plugin reports from `info` when its model cannot be loaded: named
/// `"<invalid model>"`, no inputs, outputs or labels, and `load_error`'s message as its
/// version (`info` has no error channel; `infer` reports the same failure as an error, and
/// hosts refuse a plugin without inputs).
pub fn invalid_model_info(load_error: Error) -> ModelInfo {
    ModelInfo {
        name: "<invalid model>".into(),
        version: load_error.message,
        inputs: Vec::new(),
        outputs: Vec::new(),
        labels: Vec::new(),
        arena_bytes: 0,
        memory_bytes: 0,
    }
}
