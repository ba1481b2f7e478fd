//! Packing a model into a plugin **with its manifest**, measured and self-tested, and
//! optionally signed.
//!
//! [`package_plugin`] = [`pack_plugin`](crate::pack_plugin) (runner + model, componentized)
//! → load it on wasmtime and on wasmi and run the self-test input on both and on the native
//! executor (the three outputs must be byte-identical, or packing is refused; a gateway-only
//! plugin, [`Runner::Simd128`], skips wasmi) → build the
//! [`Manifest`] (model-info, card, measured resources, self-test digest) → embed it →
//! sign it (if a key is given) → check the result like a host would ([`crate::trust`]).
//!
//! Resource needs are measured, not guessed:
//!
//! - `memory_bytes`: the largest linear memory size either engine reached after
//!   instantiation and one inference (wasm pages, so a multiple of 64 KiB);
//! - fuel, per engine (`wasmtime` and `wasmi`, each in its own unit, see
//!   [`EngineConfig::fuel`]): the fuel one `infer` call of the self-test input used, times
//!   [`FUEL_MARGIN_PERCENT`]/100, rounded up. The executor does the same work for every
//!   input of a given model (fixed shapes; only a few comparisons depend on the data), so
//!   the margin covers small data-dependent differences and the canonical-ABI copies, not a
//!   different model. Hosts grant this budget to each call ([`crate::trust::load_plugin`]).

use crate::engine::{EngineConfig, EngineKind, PluginInstance};
use crate::trust::{self, Policy, TrustStore, Verification, manifest_spec};
use crate::{ModelFile, PackPluginError, Runner};
use edgeplug_signing::{
    EngineFuel, INTERFACE_VERSION, Manifest, ModelCard, Resources, SecretKey, SelfTest,
};

/// Fuel budgets recorded in the manifest are the measured fuel times this, in percent.
pub const FUEL_MARGIN_PERCENT: u64 = 150;

/// Seed of the default self-test input ([`default_self_test_inputs`]).
pub const SELF_TEST_SEED: u64 = 0x6564_6765_706c_7567; // "edgeplug"

/// The targets recorded when none are given.
pub const DEFAULT_TARGETS: [&str; 2] = ["wasmtime", "wasmi"];

/// What goes into a packaged plugin besides the model.
#[derive(Clone, Debug, Default)]
pub struct PackageOptions {
    /// Plugin name (empty: the model's own name).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Class labels of the first output (empty: none).
    pub labels: Vec<String>,
    /// Anti-rollback sequence number.
    pub sequence: u64,
    /// The model card.
    pub card: ModelCard,
    /// Hosts the plugin is meant for (empty: [`DEFAULT_TARGETS`]).
    pub targets: Vec<String>,
    /// Self-test inputs, one per model input (`None`: [`default_self_test_inputs`]).
    pub self_test_inputs: Option<Vec<Vec<u8>>>,
    /// Sign with this key (`None`: the plugin is written unsigned).
    pub key: Option<SecretKey>,
    /// The runner build. [`Runner::Simd128`] makes a gateway-only plugin: its targets must
    /// be `wasmtime` only (the default then), and it is measured and self-tested on
    /// wasmtime and the native executor, not on wasmi.
    pub runner: Runner,
}

/// A packaged plugin.
#[derive(Clone, Debug)]
pub struct PackagedPlugin {
    /// The plugin file's bytes (signed if a key was given).
    pub bytes: Vec<u8>,
    /// Its manifest.
    pub manifest: Manifest,
    /// Whether it is signed.
    pub signed: bool,
    /// Fuel measured for one self-test inference (before the margin) on wasmtime and on
    /// wasmi (`None` for a plugin not meant for wasmi).
    pub measured_fuel: (u64, Option<u64>),
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// Packing the model into the runner failed.
    #[error(transparent)]
    Pack(#[from] PackPluginError),
    /// A self-test input does not fit the model.
    #[error("self-test input {index}: {reason}")]
    SelfTestInput {
        /// Which input.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The engines (or the native executor) disagree on the self-test output.
    #[error(
        "refusing to pack: the self-test output differs between {a} and {b} (SHA-256 {da} vs {db})"
    )]
    EnginesDisagree {
        /// One engine.
        a: &'static str,
        /// The other.
        b: &'static str,
        /// Its digest.
        da: String,
        /// Its digest.
        db: String,
    },
    /// The manifest could not be built or embedded.
    #[error("{0}")]
    Manifest(edgeplug_signing::ManifestError),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(edgeplug_signing::SignError),
    /// Running the packed plugin failed (while measuring or self-testing), or the final
    /// check of the packed plugin failed.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// The model could not be run natively.
    #[error(transparent)]
    Model(#[from] crate::HostError),
    /// A simd128 plugin was asked to target a host that cannot run it.
    #[error(
        "a simd128 plugin runs on wasmtime only (wasmi hosts need their `simd` feature, and MCU hosts refuse it by default): drop --target {0}, or pack the shared runner"
    )]
    Simd128Target(String),
}

impl From<crate::engine::PluginError> for PackageError {
    fn from(e: crate::engine::PluginError) -> Self {
        PackageError::Trust(e.into())
    }
}

/// The default self-test input of a tensor of `len` bytes of element type `dtype`: a
/// pseudo-random tensor from SplitMix64 seeded with [`SELF_TEST_SEED`] plus the input's
/// index. Integer types get uniform bytes; float32 gets values in [-1, 1).
pub fn default_self_test_inputs(specs: &[crate::engine::TensorSpec]) -> Vec<Vec<u8>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let len = edgeplug_mcu::tensor_byte_len(&spec.default_shape(), spec.dtype).unwrap_or(0);
            let mut state = SELF_TEST_SEED.wrapping_add(i as u64);
            let mut next = move || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            match spec.dtype {
                crate::engine::ElementType::Float32 => (0..len / 4)
                    .flat_map(|_| {
                        let v = (next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                        v.to_le_bytes()
                    })
                    .collect(),
                _ => (0..len).map(|_| next() as u8).collect(),
            }
        })
        .collect()
}

fn digest_text(outputs: &[Vec<u8>]) -> String {
    SelfTest::output_digest(outputs.iter().map(Vec::as_slice)).to_string()
}

/// Runs the model natively (reference executor).
fn run_native(model: &ModelFile, inputs: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, crate::HostError> {
    let decoded = model.model()?;
    let mut interp = edgeplug_model::Interpreter::new(&decoded).map_err(|e| model.error(e))?;
    let mut outputs: Vec<Vec<u8>> = decoded
        .outputs
        .iter()
        .map(|&o| vec![0; decoded.tensors[o as usize].byte_len().unwrap_or(0)])
        .collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    interp
        .invoke(&refs, &mut outs)
        .map_err(|e| model.error(e))?;
    Ok(outputs)
}

/// Large enough for any model this packer accepts, small enough not to overflow.
const MEASURING_FUEL: u64 = 1 << 50;

/// Loads `bytes` on `engine` with fuel metering and runs `inputs` once: (outputs, fuel used
/// by the `infer` call, linear memory bytes afterwards).
fn run_metered(
    engine: EngineKind,
    name: &str,
    bytes: &[u8],
    inputs: &[Vec<u8>],
) -> Result<(Vec<Vec<u8>>, u64, usize), PackageError> {
    let config = EngineConfig {
        fuel: Some(MEASURING_FUEL),
        ..EngineConfig::default()
    };
    let mut plugin = PluginInstance::load(engine, name, bytes, &config)?;
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let outputs = plugin.infer_raw(&refs)?;
    let used = plugin.last_fuel_used().unwrap_or(0);
    Ok((
        outputs.into_iter().map(|t| t.data).collect(),
        used,
        plugin.memory_bytes(),
    ))
}

/// Packs `model` into a plugin with a manifest (see the module documentation), signed
/// with `options.key` if given.
pub fn package_plugin(
    model: &ModelFile,
    options: &PackageOptions,
) -> Result<PackagedPlugin, PackageError> {
    let config = EngineConfig::default();
    let targets: Vec<String> = match (options.runner, options.targets.is_empty()) {
        (Runner::Simd128, true) => vec!["wasmtime".to_string()],
        (_, true) => DEFAULT_TARGETS.iter().map(|s| s.to_string()).collect(),
        (_, false) => options.targets.clone(),
    };
    if options.runner == Runner::Simd128
        && let Some(t) = targets.iter().find(|t| *t != "wasmtime")
    {
        return Err(PackageError::Simd128Target(t.clone()));
    }
    // wasmi measures and self-tests the plugin only if it is meant for wasmi.
    let on_wasmi = targets.iter().any(|t| t == "wasmi");
    let component = crate::pack_plugin_with(
        options.runner,
        model,
        &options.name,
        &options.version,
        &options.labels,
    )?;
    let name = model.path().display().to_string();
    // model-info from the engine a host check uses (wasmi is cheap to load); the self-test
    // runs on every target engine below.
    let first = if on_wasmi {
        EngineKind::Wasmi
    } else {
        EngineKind::Wasmtime
    };
    let info = PluginInstance::load(first, &name, &component, &config)?
        .info()
        .clone();
    let inputs = match &options.self_test_inputs {
        Some(given) => {
            if given.len() != info.inputs.len() {
                return Err(PackageError::SelfTestInput {
                    index: given.len().min(info.inputs.len()),
                    reason: format!(
                        "{} self-test input(s) given, the model takes {}",
                        given.len(),
                        info.inputs.len()
                    ),
                });
            }
            for (index, (data, spec)) in given.iter().zip(&info.inputs).enumerate() {
                let want =
                    edgeplug_mcu::tensor_byte_len(&spec.default_shape(), spec.dtype).unwrap_or(0);
                if data.len() != want {
                    return Err(PackageError::SelfTestInput {
                        index,
                        reason: format!(
                            "{} bytes, but input `{}` needs {want}",
                            data.len(),
                            spec.name
                        ),
                    });
                }
            }
            given.clone()
        }
        None => default_self_test_inputs(&info.inputs),
    };
    let (wt_out, wasmtime_fuel, wt_memory) =
        run_metered(EngineKind::Wasmtime, &name, &component, &inputs)?;
    let wasmi = if on_wasmi {
        Some(run_metered(EngineKind::Wasmi, &name, &component, &inputs)?)
    } else {
        None
    };
    let native = run_native(model, &inputs)?;
    let mut pairs = vec![("wasmtime", &wt_out, "the native executor", &native)];
    if let Some((wi_out, _, _)) = &wasmi {
        pairs.insert(0, ("wasmtime", &wt_out, "wasmi", wi_out));
    }
    for (a, da, b, db) in pairs {
        if da != db {
            return Err(PackageError::EnginesDisagree {
                a,
                b,
                da: digest_text(da),
                db: digest_text(db),
            });
        }
    }
    let wasmi_fuel = wasmi.as_ref().map(|&(_, fuel, _)| fuel);
    let memory = wasmi
        .as_ref()
        .map_or(wt_memory, |&(_, _, wi_memory)| wt_memory.max(wi_memory));
    let mut fuel = vec![(EngineKind::Wasmtime, wasmtime_fuel)];
    if let Some(f) = wasmi_fuel {
        fuel.push((EngineKind::Wasmi, f));
    }
    let manifest = Manifest {
        name: info.name.clone(),
        version: info.version.clone(),
        sequence: options.sequence,
        interface: INTERFACE_VERSION.to_string(),
        card: options.card.clone(),
        inputs: info.inputs.iter().map(manifest_spec).collect(),
        outputs: info.outputs.iter().map(manifest_spec).collect(),
        labels: info.labels.clone(),
        resources: Resources {
            memory_bytes: memory as u64,
            fuel: fuel
                .into_iter()
                .map(|(engine, used)| EngineFuel {
                    engine: engine.name().into(),
                    fuel_per_inference: with_margin(used),
                })
                .collect(),
        },
        targets,
        self_test: SelfTest {
            inputs: inputs
                .iter()
                .cloned()
                .map(edgeplug_signing::Bytes)
                .collect(),
            output_sha256: SelfTest::output_digest(wt_out.iter().map(Vec::as_slice)),
        },
    };
    let with_manifest =
        edgeplug_signing::embed_manifest(&component, &manifest).map_err(PackageError::Manifest)?;
    let (bytes, verification_store) = match &options.key {
        Some(key) => {
            let signed = edgeplug_signing::sign(&with_manifest, key).map_err(PackageError::Sign)?;
            let mut store = TrustStore::new();
            store.add_key(key.public_key(), "the signing key")?;
            (signed, Some(store))
        }
        None => (with_manifest, None),
    };
    // Check the result as a host would (on wasmi if it is a target: cheap, and it reads the
    // manifest from the final bytes, so a packing bug cannot produce a plugin that hosts
    // refuse).
    let verification = match &verification_store {
        Some(store) => Verification::Required(store, Policy::default()),
        None => Verification::Skip(Policy::default()),
    };
    let engine = trust::check_engine(Some(&manifest));
    trust::load_plugin(engine, &name, &bytes, verification, &config)?;
    Ok(PackagedPlugin {
        bytes,
        manifest,
        signed: options.key.is_some(),
        measured_fuel: (wasmtime_fuel, wasmi_fuel),
    })
}

/// A measured fuel figure with [`FUEL_MARGIN_PERCENT`] applied, rounded up.
fn with_margin(used: u64) -> u64 {
    used.saturating_mul(FUEL_MARGIN_PERCENT).div_ceil(100)
}

/// Keys of the model card JSON file, in the order they are documented.
pub const CARD_FIELDS: [&str; 6] = [
    "intended_use",
    "training_data",
    "metrics",
    "limitations",
    "license",
    "authors",
];

/// Parses a model card JSON file (see the README: an object with the keys of
/// [`CARD_FIELDS`], all optional; `metrics` is a list of `{name, value, dataset}`).
/// Unknown keys are refused, so a typo does not silently drop a field.
pub fn parse_card(text: &str) -> Result<ModelCard, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let obj = value
        .as_object()
        .ok_or_else(|| "the model card must be a JSON object".to_string())?;
    if let Some(k) = obj.keys().find(|k| !CARD_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key `{k}` (known: {})",
            CARD_FIELDS.join(", ")
        ));
    }
    let mut full = serde_json::json!({
        "intended_use": "", "training_data": "", "metrics": [], "limitations": "",
        "license": "", "authors": [],
    });
    for (k, v) in obj {
        full[k] = v.clone();
    }
    serde_json::from_value(full).map_err(|e| e.to_string())
}
