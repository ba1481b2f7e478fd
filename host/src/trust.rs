//! Plugin trust: trust sets from key files, verification before anything parses a plugin,
//! the manifest checks, anti-rollback and the self-test.
//!
//! Loading an untrusted plugin file goes, in this order (each step refuses with a
//! [`TrustError`] that names the failed check):
//!
//! 1. [`verify_plugin`]: the Ed25519 signature check of `edgeplug-signing`
//!    ([`edgeplug_signing::verify`], which parses nothing but section headers) against a
//!    [`TrustStore`]; then the verified file must be a component; then its manifest (from
//!    the verified bytes) is decoded and validated, its `interface` must be
//!    [`INTERFACE_VERSION`], and its `sequence` must not be lower than the caller's
//!    anti-rollback floor ([`Policy::min_sequence`]);
//! 2. only then is the component given to an engine (wasmtime or wasmi), which compiles and
//!    instantiates it and reads its `model-info`;
//! 3. [`check_plugin`]: the plugin's `model-info` must match its manifest (name, version,
//!    inputs, outputs, labels), and the **self-test** must pass: the manifest's self-test
//!    inputs go through `infer`, and the SHA-256 of the outputs' data bytes, concatenated
//!    in output order ([`SelfTest::output_digest`]), must equal the manifest's
//!    `self_test.output_sha256`.
//!
//! [`load_plugin`] does all three. Anti-rollback state is the caller's: this module checks
//! a floor it is given (the CLI's `--min-sequence`); [`crate::store`] persists the highest
//! accepted sequence per model and passes it here.

use crate::engine::{EngineConfig, EngineKind, ModelInfo, PluginError, PluginInstance};
use edgeplug_signing::{
    INTERFACE_VERSION, KeyError, Layer, Manifest, ManifestError, PublicKey, RollbackError,
    SelfTest, Sha256Digest, TrustSet, VerifyError,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Extension of public key files in a trust directory.
pub const PUBLIC_KEY_EXTENSION: &str = "pub";

/// Environment variable naming a trust directory (all its `*.pub` files are trusted).
pub const TRUST_DIR_ENV: &str = "EDGEPLUG_TRUST_DIR";

/// The keys a host trusts, each with a label saying where it came from (its file).
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    set: TrustSet,
    labels: Vec<String>,
}

impl TrustStore {
    /// An empty store (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` (with its default key id), labelled `label` in messages.
    ///
    /// Errors: [`TrustError::Key`] if the key is already trusted or the store is full
    /// ([`edgeplug_signing::MAX_TRUSTED_KEYS`]).
    pub fn add_key(&mut self, key: PublicKey, label: &str) -> Result<usize, TrustError> {
        let index = self.set.add(key).map_err(|source| TrustError::Key {
            path: PathBuf::from(label),
            source,
        })?;
        self.labels.push(label.to_string());
        Ok(index)
    }

    /// Reads a public key file (33 bytes: `0x01` then the Ed25519 key, as `edgeplug keygen`
    /// and `wasmsign2` write it) and trusts it.
    ///
    /// Errors: [`TrustError::Io`], [`TrustError::Key`] (wrong length or invalid key,
    /// duplicate, too many).
    pub fn add_key_file(&mut self, path: &Path) -> Result<usize, TrustError> {
        let bytes = std::fs::read(path).map_err(|source| TrustError::Io {
            action: "cannot read public key",
            path: path.to_path_buf(),
            source,
        })?;
        let key = PublicKey::from_bytes(&bytes).map_err(|source| TrustError::Key {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_key(key, &path.display().to_string())
    }

    /// Trusts every `*.pub` file of `dir` (not recursive, in file-name order). Returns how
    /// many keys were added.
    ///
    /// Errors: [`TrustError::Io`] if the directory cannot be read, [`TrustError::EmptyTrustDir`]
    /// if it has no `*.pub` file, and the errors of [`add_key_file`](Self::add_key_file).
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize, TrustError> {
        let io = |source| TrustError::Io {
            action: "cannot read trust directory",
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == PUBLIC_KEY_EXTENSION) && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(TrustError::EmptyTrustDir(dir.to_path_buf()));
        }
        files.sort();
        for f in &files {
            self.add_key_file(f)?;
        }
        Ok(files.len())
    }

    /// The trusted keys, for [`edgeplug_signing::verify`].
    pub fn set(&self) -> &TrustSet {
        &self.set
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Number of trusted keys.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Where trusted key `index` came from (its file, or the label given to
    /// [`add_key`](Self::add_key)); `"?"` for an unknown index.
    pub fn label(&self, index: usize) -> &str {
        self.labels.get(index).map_or("?", String::as_str)
    }
}

/// What a caller requires of a plugin besides a trusted signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Anti-rollback floor: the highest sequence number this host has accepted; a plugin
    /// with a lower `sequence` is refused ([`TrustError::Rollback`]). `None`: no floor.
    pub min_sequence: Option<u64>,
}

/// Why a plugin is not trusted or not loaded. Each message names the failed check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A key file, trust directory or plugin could not be read.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A key file is not a valid key, or the key cannot be added to the trust set.
    #[error("key `{path}`: {source}")]
    Key {
        /// The key file (or label).
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// A trust directory holds no `*.pub` file.
    #[error("trust directory `{0}` holds no public key (*.pub) file")]
    EmptyTrustDir(PathBuf),
    /// No trusted key was given.
    #[error(
        "no trusted key: give --trust PUBLIC_KEY, --trust-dir DIR or set EDGEPLUG_TRUST_DIR (or --insecure-skip-verify)"
    )]
    NoTrustAnchor,
    /// Signature verification failed (the message names which check).
    #[error("{0}")]
    Verify(VerifyError),
    /// The signed file is a core module, not a component.
    #[error(
        "layer check failed: the signed file is a core module, not a component (plugins are components)"
    )]
    NotAComponent,
    /// The file carries no `edgeplug-manifest` section.
    #[error(
        "manifest check failed: the plugin has no edgeplug-manifest section (make plugins with `edgeplug pack`, or add one with `edgeplug sign --manifest`)"
    )]
    NoManifest,
    /// The manifest does not decode or is invalid.
    #[error("manifest check failed: {0}")]
    Manifest(ManifestError),
    /// The manifest declares another interface version than this host implements.
    #[error(
        "interface check failed: the plugin targets `{found}`, this host implements `{expected}`"
    )]
    Interface {
        /// The manifest's interface.
        found: String,
        /// This host's.
        expected: &'static str,
    },
    /// Anti-rollback: the plugin's sequence is lower than the floor.
    #[error("{0}")]
    Rollback(RollbackError),
    /// The plugin's `model-info` disagrees with its manifest.
    #[error(
        "manifest/model-info check failed: the manifest says {field} is {manifest}, the plugin reports {plugin}"
    )]
    InfoMismatch {
        /// Which field.
        field: &'static str,
        /// The manifest's value.
        manifest: String,
        /// The plugin's value.
        plugin: String,
    },
    /// The self-test's outputs do not have the expected digest.
    #[error(
        "self-test failed on {engine}: the outputs' SHA-256 is {got}, the manifest expects {expected}"
    )]
    SelfTestFailed {
        /// The engine that ran it.
        engine: EngineKind,
        /// The manifest's digest.
        expected: Sha256Digest,
        /// The digest of the actual outputs.
        got: Sha256Digest,
    },
    /// The plugin could not be loaded or run by the engine (including during the self-test).
    #[error("{0}")]
    Plugin(#[from] PluginError),
}

/// A plugin whose signature, layer and manifest have been checked ([`verify_plugin`]).
#[derive(Clone, Debug)]
pub struct VerifiedPlugin {
    /// The decoded, validated manifest (read from the verified bytes).
    pub manifest: Manifest,
    /// SHA-256 of every byte after the `signature` section: the plugin's content id.
    pub digest: [u8; 32],
    /// Indices (in the [`TrustStore`]) of the trusted keys whose signature verified.
    pub signers: Vec<usize>,
}

/// Verifies `bytes` against `trust` and `policy` **before anything else parses them**:
/// signature (edgeplug-signing's [`verify`](edgeplug_signing::verify)), then the layer
/// (component), the manifest (decoded from the verified bytes, validated), the interface
/// version, and anti-rollback.
///
/// Errors: [`TrustError::NoTrustAnchor`] for an empty store, [`TrustError::Verify`],
/// [`TrustError::NotAComponent`], [`TrustError::NoManifest`], [`TrustError::Manifest`],
/// [`TrustError::Interface`], [`TrustError::Rollback`].
pub fn verify_plugin(
    bytes: &[u8],
    trust: &TrustStore,
    policy: &Policy,
) -> Result<VerifiedPlugin, TrustError> {
    if trust.is_empty() {
        return Err(TrustError::NoTrustAnchor);
    }
    let verified = edgeplug_signing::verify(bytes, trust.set()).map_err(TrustError::Verify)?;
    if verified.layer() != Layer::Component {
        return Err(TrustError::NotAComponent);
    }
    let data = verified.manifest_bytes().ok_or(TrustError::NoManifest)?;
    let manifest = Manifest::decode(data).map_err(TrustError::Manifest)?;
    check_manifest(&manifest, policy)?;
    Ok(VerifiedPlugin {
        manifest,
        digest: *verified.digest(),
        signers: verified.signers().iter().collect(),
    })
}

/// The checks of a decoded manifest that do not need the plugin: interface version and
/// anti-rollback ([`TrustError::Interface`], [`TrustError::Rollback`]).
pub fn check_manifest(manifest: &Manifest, policy: &Policy) -> Result<(), TrustError> {
    if manifest.interface != INTERFACE_VERSION {
        return Err(TrustError::Interface {
            found: manifest.interface.clone(),
            expected: INTERFACE_VERSION,
        });
    }
    edgeplug_signing::check_sequence(manifest.sequence, policy.min_sequence)
        .map_err(TrustError::Rollback)
}

/// The outcome of a passed self-test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfTestReport {
    /// The engine that ran it.
    pub engine: EngineKind,
    /// The digest of the outputs (equal to the manifest's).
    pub digest: Sha256Digest,
}

/// Checks a loaded plugin against its (verified) manifest: `model-info` must match it
/// ([`TrustError::InfoMismatch`]), then the self-test must pass
/// ([`TrustError::SelfTestFailed`], or [`TrustError::Plugin`] if `infer` fails).
pub fn check_plugin(
    manifest: &Manifest,
    plugin: &mut PluginInstance,
) -> Result<SelfTestReport, TrustError> {
    check_info(manifest, plugin.info())?;
    let digest = self_test_digest(manifest, plugin)?;
    if digest != manifest.self_test.output_sha256 {
        return Err(TrustError::SelfTestFailed {
            engine: plugin.engine(),
            expected: manifest.self_test.output_sha256,
            got: digest,
        });
    }
    Ok(SelfTestReport {
        engine: plugin.engine(),
        digest,
    })
}

/// Runs the manifest's self-test inputs through `plugin` and returns the SHA-256 of the
/// outputs' data bytes concatenated in output order ([`SelfTest::output_digest`]).
pub fn self_test_digest(
    manifest: &Manifest,
    plugin: &mut PluginInstance,
) -> Result<Sha256Digest, TrustError> {
    let inputs: Vec<&[u8]> = manifest
        .self_test
        .inputs
        .iter()
        .map(|b| b.0.as_slice())
        .collect();
    let outputs = plugin.infer_raw(&inputs)?;
    Ok(SelfTest::output_digest(
        outputs.iter().map(|t| t.data.as_slice()),
    ))
}

/// Checks `info` (what the plugin reports) against `manifest`: name, version, inputs and
/// outputs (name, element type, shape, quantization) and labels.
pub fn check_info(manifest: &Manifest, info: &ModelInfo) -> Result<(), TrustError> {
    let mismatch = |field, manifest: String, plugin: String| {
        Err(TrustError::InfoMismatch {
            field,
            manifest,
            plugin,
        })
    };
    if manifest.name != info.name {
        return mismatch("the name", q(&manifest.name), q(&info.name));
    }
    if manifest.version != info.version {
        return mismatch("the version", q(&manifest.version), q(&info.version));
    }
    let specs = |m: &[edgeplug_signing::TensorSpec]| m.iter().map(spec_text).collect::<Vec<_>>();
    let info_specs =
        |m: &[crate::engine::TensorSpec]| m.iter().map(info_spec_text).collect::<Vec<_>>();
    let (mi, pi) = (specs(&manifest.inputs), info_specs(&info.inputs));
    if mi != pi {
        return mismatch("the inputs", mi.join(", "), pi.join(", "));
    }
    let (mo, po) = (specs(&manifest.outputs), info_specs(&info.outputs));
    if mo != po {
        return mismatch("the outputs", mo.join(", "), po.join(", "));
    }
    if manifest.labels != info.labels {
        return mismatch(
            "the labels",
            format!("{:?}", manifest.labels),
            format!("{:?}", info.labels),
        );
    }
    Ok(())
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

/// `name dtype [shape] (scale S zp Z)`: the same text for a manifest spec and a
/// `model-info` spec exactly when they are equal (scales printed with their exact bits).
fn spec_parts(name: &str, dtype: &str, shape: &[u32], quant: Option<(f32, i32)>) -> String {
    let mut s = format!("`{name}` {dtype} {shape:?}");
    if let Some((scale, zp)) = quant {
        let _ = write!(s, " (scale {scale:?} zp {zp})");
    }
    s
}

/// The manifest's name of an element type.
pub fn manifest_dtype_name(dtype: edgeplug_signing::ElementType) -> &'static str {
    use edgeplug_signing::ElementType as E;
    match dtype {
        E::Int8 => "int8",
        E::Uint8 => "uint8",
        E::Int32 => "int32",
        E::Float32 => "float32",
        E::Int16 => "int16",
    }
}

fn spec_text(s: &edgeplug_signing::TensorSpec) -> String {
    spec_parts(
        &s.name,
        manifest_dtype_name(s.dtype),
        &s.shape,
        s.quantization.map(|q| (q.scale, q.zero_point)),
    )
}

fn info_spec_text(s: &crate::engine::TensorSpec) -> String {
    spec_parts(
        &s.name,
        crate::engine::dtype_name(s.dtype),
        &s.shape,
        s.quantization.map(|q| (q.scale, q.zero_point)),
    )
}

/// Converts a `model-info` tensor spec into the manifest's form.
pub fn manifest_spec(s: &crate::engine::TensorSpec) -> edgeplug_signing::TensorSpec {
    use crate::engine::ElementType as W;
    use edgeplug_signing::ElementType as E;
    edgeplug_signing::TensorSpec {
        name: s.name.clone(),
        dtype: match s.dtype {
            W::Int8 => E::Int8,
            W::Uint8 => E::Uint8,
            W::Int32 => E::Int32,
            W::Float32 => E::Float32,
            W::Int16 => E::Int16,
        },
        shape: s.shape.clone(),
        quantization: s.quantization.map(|q| edgeplug_signing::Quantization {
            scale: q.scale,
            zero_point: q.zero_point,
        }),
    }
}

/// How [`load_plugin`] treats signatures.
#[derive(Clone, Copy, Debug)]
pub enum Verification<'a> {
    /// Require a trusted signature and a valid manifest ([`verify_plugin`]).
    Required(&'a TrustStore, Policy),
    /// `--insecure-skip-verify`: no signature check. If the plugin has a manifest it is
    /// still decoded (unverified), checked ([`check_manifest`]) and its self-test run; a
    /// plugin without one is loaded without a self-test.
    Skip(Policy),
}

/// A plugin loaded through [`load_plugin`].
pub struct LoadedPlugin {
    /// The instance, ready for `infer`.
    pub instance: PluginInstance,
    /// The verification result (`None` with [`Verification::Skip`]).
    pub verified: Option<VerifiedPlugin>,
    /// The manifest (verified, or read unverified when skipping verification; `None` if
    /// the plugin has none).
    pub manifest: Option<Manifest>,
    /// The passed self-test (`None` if the plugin has no manifest).
    pub self_test: Option<SelfTestReport>,
}

/// The engine a host-side check (`edgeplug verify`, `edgeplug sign`, the packer's final
/// check) runs a plugin's self-test on: wasmi, the cheaper one to load, unless the manifest
/// names its target hosts and wasmi is not among them (a gateway-only simd128 plugin:
/// wasmi without its `simd` feature cannot load it); then wasmtime.
pub fn check_engine(manifest: Option<&Manifest>) -> EngineKind {
    match manifest {
        Some(m) if !m.targets.is_empty() && !m.targets.iter().any(|t| t == "wasmi") => {
            EngineKind::Wasmtime
        }
        _ => EngineKind::Wasmi,
    }
}

/// Verifies (unless told to skip), loads `bytes` on `engine`, checks `model-info` against
/// the manifest and runs the self-test: everything a host does before it lets a plugin
/// serve requests. `name` names the plugin in errors. Unless `config` sets a fuel budget,
/// each call gets the manifest's budget for `engine` ([`fuel_budget`]; unmetered if none),
/// so a plugin that uses more than it declared fails with
/// [`PluginErrorKind::OutOfFuel`](crate::engine::PluginErrorKind::OutOfFuel).
pub fn load_plugin(
    engine: EngineKind,
    name: &str,
    bytes: &[u8],
    verification: Verification<'_>,
    config: &EngineConfig,
) -> Result<LoadedPlugin, TrustError> {
    let (verified, manifest) = match verification {
        Verification::Required(trust, policy) => {
            let v = verify_plugin(bytes, trust, &policy)?;
            let m = v.manifest.clone();
            (Some(v), Some(m))
        }
        Verification::Skip(policy) => {
            let m = edgeplug_signing::read_manifest(bytes).map_err(TrustError::Manifest)?;
            if let Some(m) = &m {
                check_manifest(m, &policy)?;
            }
            (None, m)
        }
    };
    let mut config = *config;
    if config.fuel.is_none() {
        config.fuel = manifest.as_ref().and_then(|m| fuel_budget(m, engine));
    }
    let mut instance = PluginInstance::load(engine, name, bytes, &config)?;
    let self_test = match &manifest {
        Some(m) => Some(check_plugin(m, &mut instance)?),
        None => None,
    };
    Ok(LoadedPlugin {
        instance,
        verified,
        manifest,
        self_test,
    })
}

/// The manifest's fuel budget per inference for `engine`, if it declares one.
pub fn fuel_budget(manifest: &Manifest, engine: EngineKind) -> Option<u64> {
    manifest
        .resources
        .fuel
        .iter()
        .find(|f| f.engine == engine.name())
        .map(|f| f.fuel_per_inference)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
