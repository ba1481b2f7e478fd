//! edgeplug's plugin artifact format: signatures and the manifest.
//!
//! A plugin is one WebAssembly component (or, for tests and other tools, a core module)
//! carrying
//!
//! - an `edgeplug-manifest` custom section ([`Manifest`], [`embed_manifest`]), and
//! - a `signature` custom section, first in the file, in the WebAssembly tool-conventions
//!   signature format that `wasmsign2` implements: Ed25519 over a SHA-256 of every other
//!   section, so code, weights and manifest are all covered ([`sign`], [`verify`]).
//!
//! [`verify`] is `no_std`, does not allocate, and bounds its work by the `MAX_*` limits plus
//! one SHA-256 over the input, so the gateway host and the microcontroller check the same
//! bytes the same way, before anything else parses them. `SIGNATURES.md` next to this
//! crate's manifest is the written specification, including how components are signed and
//! what `wasmsign2` accepts.
//!
//! ```
//! use edgeplug_signing::{sign, verify, SecretKey, TrustSet, VerifyError};
//!
//! let old = SecretKey::from_seed([1; 32]);
//! let new = SecretKey::from_seed([2; 32]);
//! let module = b"\0asm\x01\0\0\0";
//! // Signed by both keys during a key rotation.
//! let signed = sign(&sign(module, &old).unwrap(), &new).unwrap();
//!
//! let mut trust = TrustSet::new();
//! trust.add(new.public_key()).unwrap();
//! assert_eq!(verify(&signed, &trust).unwrap().signers().len(), 1);
//!
//! let mut other = TrustSet::new();
//! other.add(SecretKey::from_seed([3; 32]).public_key()).unwrap();
//! assert_eq!(
//!     verify(&signed, &other),
//!     Err(VerifyError::NoTrustedSignature { signatures: 2 })
//! );
//! ```
#![no_std]

extern crate alloc;

mod error;
mod hex;
mod keys;
mod manifest;
mod sigdata;
mod sign;
mod verify;
mod wasm;

pub use error::{SignError, VerifyError};
#[cfg(feature = "std")]
pub use keys::keygen;
pub use keys::{
    DEFAULT_KEY_ID_LEN, ED25519_PUBLIC_KEY_ID, ED25519_SECRET_KEY_ID, KeyError, PublicKey,
    SecretKey,
};
pub use manifest::{
    Bytes, DYNAMIC_DEFAULT_EXTENT, ElementType, EngineFuel, INTERFACE_VERSION,
    MANIFEST_FORMAT_VERSION, MAX_MANIFEST_BYTES, Manifest, ManifestError, Metric, ModelCard,
    Quantization, Resources, RollbackError, SelfTest, Sha256Digest, TensorSpec, check_sequence,
    embed_manifest, is_semver, read_manifest,
};
pub use sign::{
    SignatureEntry, SignatureReport, inspect_signatures, sign, sign_with_key_id, strip_signatures,
};
pub use verify::{SignerSet, TrustSet, TrustedKey, Verified, verify};
pub use wasm::Layer;

/// Name of the custom section holding the signature data.
pub const SIGNATURE_SECTION: &str = "signature";
/// Name of the custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "edgeplug-manifest";
/// Signature data specification version.
pub const SPEC_VERSION: u8 = 0x01;
/// Content type of signature data, for core modules and components alike (see
/// `SIGNATURES.md`, "Components").
pub const CONTENT_TYPE_WASM: u8 = 0x01;
/// Hash function identifier: SHA-256.
pub const HASH_SHA256: u8 = 0x01;

/// Most keys a [`TrustSet`] holds.
pub const MAX_TRUSTED_KEYS: usize = 16;
/// Most signed hash sets a file may carry.
pub const MAX_SIGNED_HASH_SETS: usize = 16;
/// Most hashes in one signed hash set (as `wasmsign2`).
pub const MAX_HASHES_PER_SET: usize = 64;
/// Most signature records in a file, over all sets.
pub const MAX_SIGNATURES: usize = 32;
/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 64;
/// Most Ed25519 verifications one [`verify`] call performs.
pub const MAX_SIGNATURE_CHECKS: usize = 64;
