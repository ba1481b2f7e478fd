//! edgeplug's built-in plugins and the tools that make components of them.
//!
//! The guest crates under `plugins/` (today: [`RUNNER_MODULE`], the generic model runner) are
//! compiled for `wasm32-unknown-unknown` by this crate's build script and embedded here as
//! *core modules*. [`componentize`] turns a core module into a component (with
//! `wit-component`, no WASI adapter), and [`pack_runner`] makes a complete plugin component
//! for any `.epm` model out of the runner without a Rust toolchain: this is what the CLI
//! will call.
//!
//! ```
//! use edgeplug_model::*;
//! use edgeplug_plugins::{RunnerMeta, pack_runner};
//!
//! let q = Some(Quantization::per_tensor(0.5, 0));
//! let model = Model {
//!     name: "reshape".into(),
//!     description: String::new(),
//!     tensors: vec![
//!         Tensor::activation("in", DType::I8, &[1, 2, 2, 1], q.clone()),
//!         Tensor::activation("out", DType::I8, &[1, 4], q),
//!     ],
//!     operators: vec![Operator { kind: OpKind::Reshape, inputs: vec![0], outputs: vec![1] }],
//!     inputs: vec![0],
//!     outputs: vec![1],
//! };
//! let epm = format::encode(&model).unwrap();
//! let meta = RunnerMeta { version: "1.2.0".into(), ..RunnerMeta::default() };
//! let component = pack_runner(&epm, &meta).unwrap();
//! assert_eq!(&component[..8], b"\0asm\x0d\0\x01\0"); // a component, not a core module
//! ```

mod pack;

pub use pack::{
    PackError, RunnerMeta, SLOT_MAGIC, componentize, pack_module, pack_runner, with_plugin_world,
};

/// The generic model-runner plugin (`plugins/runner`) as a `wasm32-unknown-unknown` core
/// module with an empty model slot and wit-bindgen's `component-type` custom section.
/// Use [`pack_runner`] to give it a model.
pub const RUNNER_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edgeplug_runner.wasm"));

/// [`RUNNER_MODULE`] built with Wasm SIMD (`-C target-feature=+simd128`: the kernels' simd128
/// paths). Faster on wasmtime; a wasmi host needs its `simd` feature to load it (the MCU
/// host refuses it by default), so it is for gateway-only plugins. Same outputs, byte for
/// byte.
pub const RUNNER_MODULE_SIMD128: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/edgeplug_runner_simd128.wasm"));

/// The keyword-spotting guest (`plugins/kws`) as a core module with an empty model slot:
/// 16 kHz int16 audio in, MFCC front end, any int8 model with a `[1,49,10,1]` input, class
/// probabilities out. Give it a model with [`pack_guest`].
pub const KWS_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edgeplug_kws.wasm"));

/// The anomaly-detection guest (`plugins/anomaly`) as a core module with an empty model
/// slot: 10 s of 16 kHz int16 audio in, log-mel front end, an int8 autoencoder with
/// 640-element input and output, window and clip scores out. See [`pack_guest`].
pub const ANOMALY_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/edgeplug_anomaly.wasm"));

/// The image-classification guest (`plugins/image`, used for `ic` and `vww`) as a core
/// module with an empty model slot: a uint8 `[H, W, C]` image of any size in, resized to
/// the model's NHWC int8 input (zero point -128), class probabilities out. See
/// [`pack_guest`].
pub const IMAGE_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edgeplug_image.wasm"));

/// [`pack_module`] then [`componentize`]: puts `epm` (and `meta`) into the model slot of a
/// guest core module ([`RUNNER_MODULE`], [`KWS_MODULE`], [`ANOMALY_MODULE`],
/// [`IMAGE_MODULE`]) and makes an (unsigned, manifest-less) plugin component. Whether the
/// guest accepts the model is checked when the plugin loads (its `model-info` then names
/// the problem).
pub fn pack_guest(core_module: &[u8], epm: &[u8], meta: &RunnerMeta) -> Result<Vec<u8>, PackError> {
    componentize(&pack_module(core_module, epm, meta)?)
}

/// The directory the build script wrote the signed plugins to:
/// `<cargo target dir>/plugins` (for example `target/plugins`). It holds `NAME.wasm` for
/// every name in [`SIGNED_PLUGINS`], and `dev.pub`, the public half of the development key
/// that signed them (`dev.key`, mode 0600, is the secret half; never commit it).
pub fn signed_plugins_dir() -> &'static std::path::Path {
    std::path::Path::new(env!("EDGEPLUG_SIGNED_PLUGINS_DIR"))
}

/// The signed plugins this build made, by name (`kws`, `anomaly`, `ic`, `vww` when
/// `../shared/models` exists; `demo` when `demo/kws/*.tflite` exists): the files are
/// `signed_plugins_dir().join(format!("{name}.wasm"))`.
pub const SIGNED_PLUGINS: &[&str] = include!(concat!(env!("OUT_DIR"), "/signed_plugins.rs"));
