//! Packing a model into a plugin component with the embedded runner (no Rust toolchain).

use crate::{HostError, ModelFile};

/// Why a model could not be packed into a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackPluginError {
    /// The version is not a semantic version (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`).
    #[error(
        "`{version}` is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]): {reason}"
    )]
    Version {
        /// The rejected text.
        version: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The plugin name is empty or contains control characters.
    #[error("invalid plugin name {0:?}: it must be non-empty and on one line")]
    Name(String),
    /// The labels do not fit the model's first output.
    #[error("{given} labels given, but the model's first output `{output}` has {classes} classes")]
    Labels {
        /// Number of labels given.
        given: usize,
        /// The output's name.
        output: String,
        /// Elements in its last dimension.
        classes: usize,
    },
    /// The model file could not be loaded or converted.
    #[error(transparent)]
    Model(#[from] HostError),
    /// The packer refused the model or could not make a component.
    #[error("cannot pack `{path}`: {source}")]
    Pack {
        /// The model file.
        path: String,
        /// Why.
        #[source]
        source: edgeplug_plugins::PackError,
    },
}

/// Checks `version` is a semantic version 2.0.0: three numeric parts without leading
/// zeros, then optional `-` pre-release and `+` build identifiers (dot-separated,
/// non-empty, ASCII alphanumerics and `-`; numeric pre-release identifiers without leading
/// zeros).
pub fn check_semver(version: &str) -> Result<(), PackPluginError> {
    let fail = |reason| PackPluginError::Version {
        version: version.to_string(),
        reason,
    };
    let (rest, build) = match version.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return Err(fail("it needs exactly three numbers separated by dots"));
    }
    for p in &parts {
        if !numeric(p) {
            return Err(fail("MAJOR, MINOR and PATCH must be numbers"));
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(fail("numbers must not have leading zeros"));
        }
        if p.parse::<u64>().is_err() {
            return Err(fail("a number is too large"));
        }
    }
    let identifiers_ok = |s: &str, pre: bool| {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(pre && numeric(id) && id.len() > 1 && id.starts_with('0'))
        })
    };
    if let Some(pre) = pre
        && !identifiers_ok(pre, true)
    {
        return Err(fail("invalid pre-release identifiers"));
    }
    if let Some(build) = build
        && !identifiers_ok(build, false)
    {
        return Err(fail("invalid build metadata"));
    }
    Ok(())
}

/// Which build of the embedded model runner a plugin carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runner {
    /// [`edgeplug_plugins::RUNNER_MODULE`]: scalar Wasm, runs on every host (the shared
    /// artifact).
    #[default]
    Shared,
    /// [`edgeplug_plugins::RUNNER_MODULE_SIMD128`]: Wasm SIMD kernels, faster on wasmtime;
    /// wasmi hosts need their `simd` feature (MCU hosts refuse it by default). For
    /// gateway-only plugins.
    Simd128,
}

impl Runner {
    /// The runner's core module.
    pub fn module(self) -> &'static [u8] {
        match self {
            Runner::Shared => edgeplug_plugins::RUNNER_MODULE,
            Runner::Simd128 => edgeplug_plugins::RUNNER_MODULE_SIMD128,
        }
    }
}

/// Makes a plugin component running `model` with the embedded runner
/// ([`edgeplug_plugins::RUNNER_MODULE`]): checks `name` (empty means the model's own
/// name), the semantic `version` and that `labels` (if any) match the model's first output,
/// converts the model to `.epm`, and packs and componentizes it. The model is validated by
/// the executor before packing.
pub fn pack_plugin(
    model: &ModelFile,
    name: &str,
    version: &str,
    labels: &[String],
) -> Result<Vec<u8>, PackPluginError> {
    pack_plugin_with(Runner::Shared, model, name, version, labels)
}

/// [`pack_plugin`] with the given build of the runner.
pub fn pack_plugin_with(
    runner: Runner,
    model: &ModelFile,
    name: &str,
    version: &str,
    labels: &[String],
) -> Result<Vec<u8>, PackPluginError> {
    check_semver(version)?;
    if name.chars().any(char::is_control) {
        return Err(PackPluginError::Name(name.to_string()));
    }
    let decoded = model.model()?;
    let name = if name.is_empty() {
        decoded.name.clone()
    } else {
        name.to_string()
    };
    if name.is_empty() {
        return Err(PackPluginError::Name(name));
    }
    if !labels.is_empty() {
        let out = decoded
            .outputs
            .first()
            .and_then(|&o| decoded.tensors.get(o as usize));
        let classes = out.and_then(|t| t.shape.last()).map_or(0, |&d| d as usize);
        if classes != labels.len() {
            return Err(PackPluginError::Labels {
                given: labels.len(),
                output: out.map(|t| t.name.clone()).unwrap_or_default(),
                classes,
            });
        }
    }
    let epm = model.to_epm()?;
    let meta = edgeplug_plugins::RunnerMeta {
        name,
        version: version.to_string(),
        labels: labels.to_vec(),
    };
    edgeplug_plugins::pack_guest(runner.module(), &epm, &meta).map_err(|source| {
        PackPluginError::Pack {
            path: model.path().display().to_string(),
            source,
        }
    })
}
