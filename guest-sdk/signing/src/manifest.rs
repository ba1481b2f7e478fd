//! The plugin manifest: a versioned, postcard-encoded custom section covered by the signature.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::VerifyError;
use crate::wasm::{self, Sections};
use crate::{MANIFEST_SECTION, SIGNATURE_SECTION};

/// Version byte that starts the manifest section's data. A reader refuses other versions.
pub const MANIFEST_FORMAT_VERSION: u8 = 1;
/// Largest manifest section data accepted (1 MiB).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// The interface version of the `edgeplug:ml` world this crate was written for.
pub const INTERFACE_VERSION: &str = "edgeplug:ml@0.1.0";

/// Everything a host needs to know about a plugin before it runs it.
///
/// Encoded in the custom section `edgeplug-manifest` as [`MANIFEST_FORMAT_VERSION`] followed
/// by the postcard encoding of this struct (field order is the encoding: a new field means a
/// new format version). With a human-readable serde format (JSON) byte strings are hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Plugin name (1 to 128 bytes).
    pub name: String,
    /// Semantic version (semver 2.0.0) of the plugin.
    pub version: String,
    /// Monotonic anti-rollback number: a host refuses a plugin whose sequence is lower than
    /// the highest it has accepted ([`check_sequence`]).
    pub sequence: u64,
    /// The WIT interface version the plugin implements, e.g. [`INTERFACE_VERSION`].
    pub interface: String,
    /// The model card.
    pub card: ModelCard,
    /// Input tensors of `infer`, in call order.
    pub inputs: Vec<TensorSpec>,
    /// Output tensors of `infer`, in result order.
    pub outputs: Vec<TensorSpec>,
    /// Class labels of a classifier's output, in output order; empty otherwise.
    pub labels: Vec<String>,
    /// Resources the plugin needs.
    pub resources: Resources,
    /// Hosts the plugin is meant for (free-form names, e.g. `gateway`, `mcu-cortex-m4`).
    pub targets: Vec<String>,
    /// A known input and the digest of its expected output.
    pub self_test: SelfTest,
}

/// The model card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelCard {
    /// What the model is for, and what it is not for.
    pub intended_use: String,
    /// What data it was trained on.
    pub training_data: String,
    /// Measured quality.
    pub metrics: Vec<Metric>,
    /// Known limitations.
    pub limitations: String,
    /// License of the model (SPDX expression).
    pub license: String,
    /// Authors.
    pub authors: Vec<String>,
}

/// One measured quality number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Metric name, e.g. `top-1 accuracy`.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Data set it was measured on.
    pub dataset: String,
}

/// Element type of a tensor (as the WIT `element-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElementType::Int8 | ElementType::Uint8 => 1,
            ElementType::Int16 => 2,
            ElementType::Int32 | ElementType::Float32 => 4,
        }
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// Scale (finite, > 0).
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// One input or output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: ElementType,
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// Quantization, if quantized.
    pub quantization: Option<Quantization>,
}

/// The extent a self-test uses for a dimension a spec declares as 0 ("any extent >= 1"),
/// as `edgeplug_mcu::DYNAMIC_DEFAULT_EXTENT` and the gateway host's `infer_raw`.
pub const DYNAMIC_DEFAULT_EXTENT: u32 = 16;

impl TensorSpec {
    /// Bytes of data a tensor of this spec has, or `None` on overflow. A dynamic
    /// dimension (0) counts as 0: see [`TensorSpec::default_data_len`].
    pub fn data_len(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(self.dtype.size(), |acc, &d| acc.checked_mul(d as usize))
    }

    /// The spec's shape with every dynamic dimension (0) set to
    /// [`DYNAMIC_DEFAULT_EXTENT`]: the shape of the self-test input.
    pub fn default_shape(&self) -> Vec<u32> {
        self.shape
            .iter()
            .map(|&d| if d == 0 { DYNAMIC_DEFAULT_EXTENT } else { d })
            .collect()
    }

    /// Bytes of data of a tensor of [`TensorSpec::default_shape`] (the self-test input's
    /// size), or `None` on overflow. Equal to [`TensorSpec::data_len`] for static specs.
    pub fn default_data_len(&self) -> Option<usize> {
        self.shape.iter().try_fold(self.dtype.size(), |acc, &d| {
            acc.checked_mul(if d == 0 { DYNAMIC_DEFAULT_EXTENT } else { d } as usize)
        })
    }
}

/// Resources a plugin needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes of linear memory the plugin needs in total (0: unknown).
    pub memory_bytes: u64,
    /// Fuel budget of one inference, per engine (engine names unique).
    pub fuel: Vec<EngineFuel>,
}

/// The fuel budget of one inference on one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFuel {
    /// Engine name, e.g. `wasmtime` or `wasmi`.
    pub engine: String,
    /// Fuel one `infer` call may use.
    pub fuel_per_inference: u64,
}

/// The self-test a host runs before it promotes a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTest {
    /// Data bytes of each input tensor, in `inputs` order (shapes and types from the specs).
    pub inputs: Vec<Bytes>,
    /// SHA-256 of the outputs' data bytes concatenated in `outputs` order.
    pub output_sha256: Sha256Digest,
}

impl SelfTest {
    /// The digest [`SelfTest::output_sha256`] is compared with: SHA-256 of `outputs`
    /// concatenated.
    pub fn output_digest<'b>(outputs: impl IntoIterator<Item = &'b [u8]>) -> Sha256Digest {
        let mut h = Sha256::new();
        for o in outputs {
            h.update(o);
        }
        Sha256Digest(h.finalize().into())
    }

    /// Whether `outputs` (data bytes in `outputs` order) are the expected ones.
    pub fn passes<'b>(&self, outputs: impl IntoIterator<Item = &'b [u8]>) -> bool {
        Self::output_digest(outputs) == self.output_sha256
    }
}

/// A byte string; hex text in human-readable serde formats, bytes otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

/// A SHA-256 digest; hex text in human-readable serde formats, 32 bytes otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write(f, &self.0)
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut text = String::with_capacity(self.0.len() * 2);
            crate::hex::write(&mut text, &self.0).map_err(serde::ser::Error::custom)?;
            s.serialize_str(&text)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut text = String::with_capacity(64);
            crate::hex::write(&mut text, &self.0).map_err(serde::ser::Error::custom)?;
            s.serialize_str(&text)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

/// Visitor accepting hex text, a byte string or a sequence of bytes.
struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hex string or a byte string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        crate::hex::decode(v).map_err(|_| E::custom("malformed hex string"))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::new();
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(BytesVisitor).map(Bytes)
        } else {
            d.deserialize_bytes(BytesVisitor).map(Bytes)
        }
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = if d.is_human_readable() {
            d.deserialize_str(BytesVisitor)?
        } else {
            d.deserialize_bytes(BytesVisitor)?
        };
        let arr: [u8; 32] = v
            .try_into()
            .map_err(|_| serde::de::Error::custom("a SHA-256 digest has 32 bytes"))?;
        Ok(Sha256Digest(arr))
    }
}

/// Why a manifest could not be encoded, decoded, embedded or read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest section data is empty.
    Empty,
    /// The manifest section data is larger than [`MAX_MANIFEST_BYTES`].
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// The manifest format version is not [`MANIFEST_FORMAT_VERSION`].
    UnknownVersion(u8),
    /// The postcard encoding does not decode (or has trailing bytes).
    Decode,
    /// A field is invalid: `field` and why.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file's framing is wrong.
    Format(VerifyError),
    /// The file is already signed: a manifest must be embedded before signing.
    AlreadySigned,
    /// The file has more than one `edgeplug-manifest` section.
    DuplicateManifestSection,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Empty => f.write_str("manifest: empty section"),
            ManifestError::TooLarge { len } => write!(
                f,
                "manifest: {len} bytes, more than the {MAX_MANIFEST_BYTES} allowed"
            ),
            ManifestError::UnknownVersion(v) => write!(
                f,
                "manifest: unknown format version {v} (this reader knows {MANIFEST_FORMAT_VERSION})"
            ),
            ManifestError::Decode => f.write_str("manifest: the encoding does not decode"),
            ManifestError::Invalid { field, reason } => {
                write!(f, "manifest: invalid `{field}`: {reason}")
            }
            ManifestError::Format(e) => write!(f, "manifest: {e}"),
            ManifestError::AlreadySigned => f.write_str(
                "manifest: the file is already signed; embed the manifest before signing",
            ),
            ManifestError::DuplicateManifestSection => {
                f.write_str("manifest: more than one `edgeplug-manifest` section")
            }
        }
    }
}

impl core::error::Error for ManifestError {}

impl From<wasm::FrameError> for ManifestError {
    fn from(e: wasm::FrameError) -> Self {
        ManifestError::Format(e.into())
    }
}

/// Shorthand for an `Invalid` error.
fn invalid(field: &'static str, reason: &'static str) -> ManifestError {
    ManifestError::Invalid { field, reason }
}

impl Manifest {
    /// Checks every field: name (1..=128 bytes), semver `version`, `interface` of the form
    /// `namespace:package@semver`, at least one input and output, tensor shapes whose data
    /// size fits in `usize`, finite positive scales, unique engine names, and a self-test
    /// with one input per input tensor of exactly the tensor's data size (dynamic
    /// dimensions at [`DYNAMIC_DEFAULT_EXTENT`]: [`TensorSpec::default_data_len`]).
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.name.is_empty() || self.name.len() > 128 {
            return Err(invalid("name", "must be 1 to 128 bytes"));
        }
        if !is_semver(&self.version) {
            return Err(invalid(
                "version",
                "not a semantic version (MAJOR.MINOR.PATCH)",
            ));
        }
        if !is_interface(&self.interface) {
            return Err(invalid(
                "interface",
                "must look like namespace:package@MAJOR.MINOR.PATCH",
            ));
        }
        if self.inputs.is_empty() {
            return Err(invalid("inputs", "at least one input tensor"));
        }
        if self.outputs.is_empty() {
            return Err(invalid("outputs", "at least one output tensor"));
        }
        for spec in self.inputs.iter().chain(&self.outputs) {
            if spec.data_len().is_none() {
                return Err(invalid("shape", "data size overflows"));
            }
            if let Some(q) = spec.quantization
                && !(q.scale.is_finite() && q.scale > 0.0)
            {
                return Err(invalid("quantization.scale", "must be finite and > 0"));
            }
        }
        for (i, a) in self.resources.fuel.iter().enumerate() {
            if a.engine.is_empty() {
                return Err(invalid("resources.fuel.engine", "empty engine name"));
            }
            if self.resources.fuel[..i]
                .iter()
                .any(|b| b.engine == a.engine)
            {
                return Err(invalid("resources.fuel.engine", "engine named twice"));
            }
        }
        if self.self_test.inputs.len() != self.inputs.len() {
            return Err(invalid(
                "self_test.inputs",
                "must have one entry per input tensor",
            ));
        }
        for (data, spec) in self.self_test.inputs.iter().zip(&self.inputs) {
            if Some(data.0.len()) != spec.default_data_len() {
                return Err(invalid(
                    "self_test.inputs",
                    "an entry's length is not its tensor's data size",
                ));
            }
        }
        Ok(())
    }

    /// Validates and encodes the manifest section data: version byte, then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        let mut out = alloc::vec![MANIFEST_FORMAT_VERSION];
        let body = postcard::to_allocvec(self).map_err(|_| ManifestError::Decode)?;
        out.extend_from_slice(&body);
        if out.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { len: out.len() });
        }
        Ok(out)
    }

    /// Decodes and validates manifest section data (e.g. [`crate::Verified::manifest_bytes`]).
    pub fn decode(data: &[u8]) -> Result<Self, ManifestError> {
        let Some((&version, body)) = data.split_first() else {
            return Err(ManifestError::Empty);
        };
        if data.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { len: data.len() });
        }
        if version != MANIFEST_FORMAT_VERSION {
            return Err(ManifestError::UnknownVersion(version));
        }
        let (manifest, rest) =
            postcard::take_from_bytes::<Manifest>(body).map_err(|_| ManifestError::Decode)?;
        if !rest.is_empty() {
            return Err(ManifestError::Decode);
        }
        manifest.validate()?;
        Ok(manifest)
    }
}

/// Embeds `manifest` as the `edgeplug-manifest` custom section, at the end of the file,
/// replacing any existing one. Must be done before signing: a signed file is refused.
/// Other sections are copied unchanged.
pub fn embed_manifest(bytes: &[u8], manifest: &Manifest) -> Result<Vec<u8>, ManifestError> {
    wasm::read_preamble(bytes)?;
    let data = manifest.encode()?;
    let mut out = Vec::with_capacity(bytes.len() + data.len() + 32);
    out.extend_from_slice(&bytes[..8]);
    for section in Sections::new(bytes, 8) {
        let section = section?;
        if section.is_custom(SIGNATURE_SECTION) {
            return Err(ManifestError::AlreadySigned);
        }
        if !section.is_custom(MANIFEST_SECTION) {
            out.extend_from_slice(&bytes[section.start..section.end]);
        }
    }
    wasm::write_custom_section(&mut out, MANIFEST_SECTION, &data);
    Ok(out)
}

/// Reads the manifest of a file **without verifying it** (for tooling such as `inspect`; a
/// host decodes [`crate::Verified::manifest_bytes`] instead). `Ok(None)`: no manifest.
pub fn read_manifest(bytes: &[u8]) -> Result<Option<Manifest>, ManifestError> {
    wasm::read_preamble(bytes)?;
    let mut found = None;
    for section in Sections::new(bytes, 8) {
        let section = section?;
        if section.is_custom(MANIFEST_SECTION) {
            if found.is_some() {
                return Err(ManifestError::DuplicateManifestSection);
            }
            found = section.custom.map(|(_, d)| d);
        }
    }
    found.map(Manifest::decode).transpose()
}

/// A plugin was refused because its `sequence` is lower than one already accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackError {
    /// The refused plugin's sequence.
    pub candidate: u64,
    /// The highest sequence the host has accepted.
    pub highest_seen: u64,
}

impl fmt::Display for RollbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "anti-rollback check failed: sequence {} is lower than {} already accepted (downgrade refused)",
            self.candidate, self.highest_seen
        )
    }
}

impl core::error::Error for RollbackError {}

/// Anti-rollback: accepts `candidate` iff no higher sequence was accepted before
/// (`highest_seen`, `None` if none). Equal is accepted (re-installing the same version). The
/// host stores the highest accepted value persistently, after the new plugin is promoted.
pub fn check_sequence(candidate: u64, highest_seen: Option<u64>) -> Result<(), RollbackError> {
    match highest_seen {
        Some(highest) if candidate < highest => Err(RollbackError {
            candidate,
            highest_seen: highest,
        }),
        _ => Ok(()),
    }
}

/// A numeric semver identifier: digits, no leading zero.
fn is_numeric_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`; numeric ones without leading zeros if
/// `strict_numeric`.
fn is_ids(s: &str, strict_numeric: bool) -> bool {
    s.split('.').all(|id| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && (!strict_numeric || !id.bytes().all(|b| b.is_ascii_digit()) || is_numeric_id(id))
    })
}

/// Whether `s` is a semantic version 2.0.0 string.
pub fn is_semver(s: &str) -> bool {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core_part, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let mut parts = core_part.split('.');
    let ok_core = (0..3).all(|_| parts.next().is_some_and(is_numeric_id)) && parts.next().is_none();
    ok_core && pre.is_none_or(|p| is_ids(p, true)) && build.is_none_or(|b| is_ids(b, false))
}

/// Whether `s` looks like `namespace:package@semver`.
fn is_interface(s: &str) -> bool {
    let Some((name, version)) = s.split_once('@') else {
        return false;
    };
    let Some((ns, pkg)) = name.split_once(':') else {
        return false;
    };
    let word = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    word(ns) && word(pkg) && is_semver(version)
}
