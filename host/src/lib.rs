//! The edgeplug host library.
//!
//! What the `edgeplug` CLI is built on: loading a model from a `.tflite` or `.epm` file,
//! describing it, and running it natively with the reference executor; packing a model into
//! a plugin component ([`pack_plugin`]); running plugin components on wasmtime or wasmi
//! under per-plugin limits ([`engine`], with the on-disk compile cache in [`cache`]); packing
//! with a signed, self-tested manifest ([`package`]); verifying plugins before they run
//! ([`trust`]); sensor inputs ([`input`]: WAV, PNG/JPEG/PPM); the crash-consistent plugin
//! store ([`store`]); the gateway daemon with hot swap ([`serve`]); and the plugin-crate
//! scaffold ([`scaffold`]).
//!
//! ```
//! use edgeplug::ModelFile;
//!
//! // Anything that is neither a .tflite flatbuffer nor an .epm container is refused with
//! // an error that says so.
//! let err = ModelFile::from_bytes("junk.bin", b"hello".to_vec()).unwrap_err();
//! assert!(err.to_string().contains("junk.bin"));
//! ```

pub mod cache;
pub mod engine;
pub mod input;
mod model_file;
mod output;
mod pack;
pub mod package;
pub mod scaffold;
pub mod serve;
pub mod store;
pub mod trust;

pub use model_file::{ModelFile, ModelKind};
pub use output::{Classification, TensorData, dequantize, write_atomic};
pub use pack::{PackPluginError, Runner, check_semver, pack_plugin, pack_plugin_with};

use std::path::PathBuf;

/// Errors of the host library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A file could not be read or written.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done (`cannot read`, `cannot write`...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is neither a `.tflite` flatbuffer nor an `.epm` model.
    #[error("`{0}` is neither a TensorFlow Lite model (.tflite) nor an edgeplug model (.epm)")]
    UnknownFormat(PathBuf),
    /// The `.tflite` file could not be imported.
    #[error("cannot import `{path}`: {source}")]
    Import {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: edgeplug_tflite::ImportError,
    },
    /// The model could not be decoded, validated or run.
    #[error("model `{path}`: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: edgeplug_model::Error,
    },
    /// An input given by the user does not fit the model.
    #[error("{0}")]
    BadInput(String),
}
