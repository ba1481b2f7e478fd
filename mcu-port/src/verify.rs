//! Plugin trust on the microcontroller: the same checks, on the same bytes, in the same order
//! as the gateway host (`edgeplug-host`'s `trust` module), with `edgeplug-signing`.
//!
//! Before anything parses an untrusted plugin ([`verify_plugin`]):
//!
//! 1. **signature**: [`edgeplug_signing::verify`] against a [`TrustSet`] (it reads nothing but
//!    section headers, does not allocate, and hashes every byte after the `signature`
//!    section);
//! 2. **layer**: the verified file must be a component;
//! 3. **manifest**: the `edgeplug-manifest` section of the verified bytes is decoded and
//!    validated;
//! 4. **interface**: the manifest's `interface` must be [`INTERFACE_VERSION`];
//! 5. **anti-rollback**: its `sequence` must not be below the caller's floor
//!    ([`edgeplug_signing::check_sequence`]).
//!
//! Only then may [`Plugin::new`] parse and instantiate it. After loading,
//! [`check_loaded`] checks the plugin's `model-info` against the manifest (name, version,
//! inputs, outputs with exact quantization, labels) and runs the **self-test**: the
//! manifest's self-test inputs through `infer`, whose outputs' data bytes, concatenated in
//! output order, must have the manifest's SHA-256 ([`SelfTest::output_digest`]).
//!
//! [`SignatureVerifier`] plugs the pre-load checks into the A/B slots
//! ([`crate::slots::Verifier`]).

use crate::slots::{Verified, Verifier};
use crate::{ElementType, Error, Host, Plugin, TensorRef, TensorSpec};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use edgeplug_signing::{
    INTERFACE_VERSION, Layer, Manifest, ManifestError, RollbackError, SelfTest, Sha256Digest,
    SignerSet, TrustSet, VerifyError,
};

/// Why a plugin was refused. Each variant (and its `Display`) names the check that failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TrustError {
    /// The trust set is empty: nothing could ever verify.
    NoTrustAnchor,
    /// The signature check of `edgeplug-signing` failed (framing, placement, format,
    /// untrusted or invalid signature, or content changed after signing).
    Signature(VerifyError),
    /// The signed file is a core module, not a component.
    NotAComponent,
    /// The verified file has no `edgeplug-manifest` section.
    NoManifest,
    /// The manifest does not decode or is invalid.
    Manifest(ManifestError),
    /// The manifest declares another interface version than this host implements.
    Interface {
        /// The manifest's interface.
        found: String,
    },
    /// Anti-rollback: the plugin's sequence is below the floor.
    Rollback(RollbackError),
    /// The loaded plugin's `model-info` disagrees with its manifest in `field`.
    InfoMismatch {
        /// `name`, `version`, `inputs`, `outputs` or `labels`.
        field: &'static str,
    },
    /// The self-test could not run: the plugin's `infer` failed.
    SelfTestRun(Error),
    /// The self-test's outputs do not have the manifest's digest.
    SelfTestFailed {
        /// The manifest's digest.
        expected: Sha256Digest,
        /// The digest of the actual outputs.
        got: Sha256Digest,
    },
}

impl TrustError {
    /// A fixed text naming the failed check (for APIs that take a `&'static str`, such as
    /// [`crate::slots::Verifier`]); `Display` gives the details.
    pub fn check(&self) -> &'static str {
        match self {
            TrustError::NoTrustAnchor => "trust check failed: no trusted key",
            TrustError::Signature(e) => match e {
                VerifyError::NoSignatureSection => {
                    "signature check failed: the plugin is not signed"
                }
                VerifyError::InvalidSignature { .. } => {
                    "signature check failed: invalid signature by a trusted key"
                }
                VerifyError::NoTrustedSignature { .. } => {
                    "trust check failed: no valid signature by a trusted key"
                }
                VerifyError::DigestMismatch => {
                    "digest check failed: the content changed after signing"
                }
                _ => "signature check failed: not a well-formed signed plugin",
            },
            TrustError::NotAComponent => "layer check failed: not a component",
            TrustError::NoManifest => "manifest check failed: no edgeplug-manifest section",
            TrustError::Manifest(_) => "manifest check failed: invalid manifest",
            TrustError::Interface { .. } => "interface check failed: unsupported interface",
            TrustError::Rollback(_) => "anti-rollback check failed: downgrade refused",
            TrustError::InfoMismatch { .. } => {
                "manifest/model-info check failed: the plugin disagrees with its manifest"
            }
            TrustError::SelfTestRun(_) => "self-test failed: infer returned an error",
            TrustError::SelfTestFailed { .. } => "self-test failed: wrong output digest",
        }
    }
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::NoTrustAnchor => {
                f.write_str("trust check failed: the trust set is empty (no trusted key)")
            }
            TrustError::Signature(e) => write!(f, "{e}"),
            TrustError::NotAComponent => f.write_str(
                "layer check failed: the signed file is a core module, not a component (plugins are components)",
            ),
            TrustError::NoManifest => {
                f.write_str("manifest check failed: the plugin has no edgeplug-manifest section")
            }
            TrustError::Manifest(e) => write!(f, "manifest check failed: {e}"),
            TrustError::Interface { found } => write!(
                f,
                "interface check failed: the plugin targets `{found}`, this host implements `{INTERFACE_VERSION}`"
            ),
            TrustError::Rollback(e) => write!(f, "{e}"),
            TrustError::InfoMismatch { field } => write!(
                f,
                "manifest/model-info check failed: the plugin's {field} differ from its manifest's"
            ),
            TrustError::SelfTestRun(e) => write!(f, "self-test failed: infer: {e}"),
            TrustError::SelfTestFailed { expected, got } => write!(
                f,
                "self-test failed: the outputs' SHA-256 is {got}, the manifest expects {expected}"
            ),
        }
    }
}

impl core::error::Error for TrustError {}

/// A plugin that passed [`verify_plugin`]: its bytes may now be parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedPlugin<'a> {
    /// The verified file (the same bytes that were given).
    pub bytes: &'a [u8],
    /// The decoded, validated manifest (from the verified bytes).
    pub manifest: Manifest,
    /// SHA-256 of every byte after the `signature` section: the plugin's content id.
    pub digest: [u8; 32],
    /// Indices (in the [`TrustSet`]) of the trusted keys whose signature verified.
    pub signers: SignerSet,
}

/// Verifies `bytes` against `trust` **before anything else parses them**: signature, then
/// layer (component), manifest (decoded from the verified bytes and validated), interface
/// version ([`INTERFACE_VERSION`]) and anti-rollback (`sequence` not below `min_sequence`,
/// the highest sequence this device has accepted; `None`: no floor).
///
/// The same checks in the same order as the gateway host's `verify_plugin`. Errors:
/// [`TrustError::NoTrustAnchor`], [`TrustError::Signature`], [`TrustError::NotAComponent`],
/// [`TrustError::NoManifest`], [`TrustError::Manifest`], [`TrustError::Interface`],
/// [`TrustError::Rollback`].
pub fn verify_plugin<'a>(
    bytes: &'a [u8],
    trust: &TrustSet,
    min_sequence: Option<u64>,
) -> Result<VerifiedPlugin<'a>, TrustError> {
    if trust.is_empty() {
        return Err(TrustError::NoTrustAnchor);
    }
    let verified = edgeplug_signing::verify(bytes, trust).map_err(TrustError::Signature)?;
    if verified.layer() != Layer::Component {
        return Err(TrustError::NotAComponent);
    }
    let data = verified.manifest_bytes().ok_or(TrustError::NoManifest)?;
    let manifest = Manifest::decode(data).map_err(TrustError::Manifest)?;
    if manifest.interface != INTERFACE_VERSION {
        return Err(TrustError::Interface {
            found: manifest.interface.clone(),
        });
    }
    edgeplug_signing::check_sequence(manifest.sequence, min_sequence)
        .map_err(TrustError::Rollback)?;
    Ok(VerifiedPlugin {
        bytes,
        manifest,
        digest: *verified.digest(),
        signers: verified.signers(),
    })
}

/// The checks after [`Plugin::new`]: the plugin's `model-info` must match `manifest`
/// ([`TrustError::InfoMismatch`]: name, version, inputs and outputs with name, element
/// type, shape and exact quantization, labels), then the self-test must pass
/// ([`TrustError::SelfTestRun`] if `infer` fails, [`TrustError::SelfTestFailed`] if the
/// outputs' digest differs). Returns the outputs' digest.
pub fn check_loaded<H: Host + 'static>(
    plugin: &mut Plugin<H>,
    manifest: &Manifest,
) -> Result<Sha256Digest, TrustError> {
    check_info(plugin.info(), manifest)?;
    let digest = self_test_digest(plugin, manifest)?;
    if digest != manifest.self_test.output_sha256 {
        return Err(TrustError::SelfTestFailed {
            expected: manifest.self_test.output_sha256,
            got: digest,
        });
    }
    Ok(digest)
}

/// Runs the manifest's self-test inputs (shapes and element types from the manifest's input
/// specs) through `plugin` and returns the SHA-256 of the outputs' data bytes concatenated
/// in output order.
pub fn self_test_digest<H: Host + 'static>(
    plugin: &mut Plugin<H>,
    manifest: &Manifest,
) -> Result<Sha256Digest, TrustError> {
    // Dynamic dimensions (0) take the interface's default extent, as on every host.
    let shapes: Vec<Vec<u32>> = manifest.inputs.iter().map(|s| s.default_shape()).collect();
    let inputs: Vec<TensorRef<'_>> = manifest
        .inputs
        .iter()
        .zip(&shapes)
        .zip(&manifest.self_test.inputs)
        .map(|((spec, shape), data)| TensorRef {
            shape,
            dtype: dtype(spec.dtype),
            data: &data.0,
        })
        .collect();
    let outputs = plugin.infer(&inputs).map_err(TrustError::SelfTestRun)?;
    Ok(SelfTest::output_digest(
        outputs.iter().map(|t| t.data.as_slice()),
    ))
}

fn dtype(d: edgeplug_signing::ElementType) -> ElementType {
    use edgeplug_signing::ElementType as E;
    match d {
        E::Int8 => ElementType::Int8,
        E::Uint8 => ElementType::Uint8,
        E::Int32 => ElementType::Int32,
        E::Float32 => ElementType::Float32,
        E::Int16 => ElementType::Int16,
    }
}

fn same_spec(info: &TensorSpec, manifest: &edgeplug_signing::TensorSpec) -> bool {
    let quant = |q: Option<(f32, i32)>| q.map(|(s, z)| (s.to_bits(), z));
    info.name == manifest.name
        && info.dtype == dtype(manifest.dtype)
        && info.shape == manifest.shape
        && quant(info.quantization.map(|q| (q.scale, q.zero_point)))
            == quant(manifest.quantization.map(|q| (q.scale, q.zero_point)))
}

fn same_specs(info: &[TensorSpec], manifest: &[edgeplug_signing::TensorSpec]) -> bool {
    info.len() == manifest.len() && info.iter().zip(manifest).all(|(i, m)| same_spec(i, m))
}

/// Checks a plugin's `model-info` against its manifest ([`TrustError::InfoMismatch`]).
pub fn check_info(info: &crate::ModelInfo, manifest: &Manifest) -> Result<(), TrustError> {
    let field = if info.name != manifest.name {
        "name"
    } else if info.version != manifest.version {
        "version"
    } else if !same_specs(&info.inputs, &manifest.inputs) {
        "inputs"
    } else if !same_specs(&info.outputs, &manifest.outputs) {
        "outputs"
    } else if info.labels != manifest.labels {
        "labels"
    } else {
        return Ok(());
    };
    Err(TrustError::InfoMismatch { field })
}

/// The A/B slots' [`Verifier`] with real signatures: [`verify_plugin`] against a trust set
/// and an anti-rollback floor. The sequence it reports is the verified manifest's.
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    trust: TrustSet,
    min_sequence: Option<u64>,
}

impl SignatureVerifier {
    /// Trusts the keys of `trust`; refuses plugins whose sequence is below `min_sequence`
    /// (`None`: no floor).
    pub fn new(trust: TrustSet, min_sequence: Option<u64>) -> Self {
        SignatureVerifier {
            trust,
            min_sequence,
        }
    }

    /// Raises (or sets) the anti-rollback floor, e.g. after a plugin was confirmed. The
    /// floor never goes down: a lower value is ignored.
    pub fn raise_floor(&mut self, sequence: u64) {
        self.min_sequence = Some(self.min_sequence.map_or(sequence, |m| m.max(sequence)));
    }

    /// The anti-rollback floor.
    pub fn min_sequence(&self) -> Option<u64> {
        self.min_sequence
    }

    /// The trusted keys.
    pub fn trust(&self) -> &TrustSet {
        &self.trust
    }

    /// [`verify_plugin`] with this verifier's keys and floor.
    pub fn verify_plugin<'a>(&self, bytes: &'a [u8]) -> Result<VerifiedPlugin<'a>, TrustError> {
        verify_plugin(bytes, &self.trust, self.min_sequence)
    }
}

impl Verifier for SignatureVerifier {
    fn verify(&self, image: &[u8]) -> Result<Verified, &'static str> {
        self.verify_plugin(image)
            .map(|v| Verified {
                sequence: v.manifest.sequence,
            })
            .map_err(|e| e.check())
    }
}
