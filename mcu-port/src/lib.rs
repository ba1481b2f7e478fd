//! A `no_std` edgeplug host for microcontrollers, on the wasmi interpreter.
//!
//! An edgeplug plugin is a WebAssembly component implementing the `edgeplug:ml` world
//! (`wit/edgeplug-ml.wit`). A microcontroller cannot run a component-model runtime, so this
//! crate does by hand what one would do:
//!
//! 1. [`core_module`] finds the plugin's core module inside the component (and checks that
//!    the component exports `edgeplug:ml/inference@0.1`);
//! 2. [`Plugin::new`] compiles it with wasmi, supplies the `edgeplug:ml/host` imports from
//!    the embedder's [`Host`] (a log line, a monotonic clock), instantiates it and reads the
//!    plugin's `model-info`;
//! 3. [`Plugin::infer`] lowers the input tensors into guest memory through `cabi_realloc`,
//!    calls the `infer` export, lifts the result and calls the post-return export, checking
//!    every pointer, length, discriminant and shape the guest returns: a malicious or broken
//!    plugin yields an [`Error`], never a host panic or an out-of-bounds access.
//!
//! Optional limits ([`Config`]): a fuel budget per call (wasmi fuel metering) and a cap on
//! linear memory. After a trap (including running out of fuel) the instance is poisoned, as
//! in the component model: later calls return [`Error::Poisoned`]; create a new [`Plugin`].
//!
//! ```no_run
//! use edgeplug_mcu::{Config, Level, Plugin, TensorRef, ElementType, Host};
//!
//! struct Board;
//! impl Host for Board {
//!     fn log(&mut self, _level: Level, _message: &str) { /* write to a UART */ }
//!     fn now_ns(&mut self) -> u64 { 0 /* read a timer */ }
//! }
//!
//! # fn run(component: &[u8]) -> Result<(), edgeplug_mcu::Error> {
//! let config = Config { fuel: Some(50_000_000), max_memory_bytes: Some(256 * 1024) };
//! let mut plugin = Plugin::new(component, Board, &config)?;
//! let spec = &plugin.info().inputs[0];
//! let input = vec![0u8; spec.byte_len().unwrap_or(0)];
//! let shape = spec.shape.clone();
//! let outputs = plugin.infer(&[TensorRef { shape: &shape, dtype: ElementType::Int8, data: &input }])?;
//! # let _ = outputs; Ok(()) }
//! ```
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod abi;
mod component;
mod error;
mod plugin;
pub mod slots;
mod types;
pub mod verify;

pub use component::{INTERFACE, core_module};
/// `edgeplug-signing`, re-exported for embedders (trust sets, keys, the manifest).
pub use edgeplug_signing as signing;
pub use error::Error;
pub use plugin::{Config, Host, NullHost, Plugin};
pub use types::{
    DYNAMIC_DEFAULT_EXTENT, ElementType, ErrorCode, Level, ModelInfo, Quantization, Tensor,
    TensorRef, TensorSpec, tensor_byte_len,
};
pub use verify::{SignatureVerifier, TrustError, VerifiedPlugin, check_loaded, verify_plugin};
