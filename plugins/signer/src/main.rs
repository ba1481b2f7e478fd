//! Build-time tool of `edgeplug-plugins` (run by `plugins/build.rs`, never installed):
//! makes one signed plugin.
//!
//! `edgeplug-plugin-signer KEY_DIR CORE MODEL OUT NAME VERSION LABELS INTENDED_USE
//! TRAINING_DATA LIMITATIONS LICENSE AUTHORS` (LABELS and AUTHORS: one per line):
//!
//! 1. reads `KEY_DIR/dev.key`, or makes a key from OS randomness and writes `dev.key`
//!    (mode 0600, created exclusively) and `dev.pub` (its public half);
//! 2. imports the `.tflite` MODEL, packs it into the guest core module CORE's model slot
//!    (`plugins/src/pack.rs`) and componentizes it;
//! 3. unless `OUT` was already made from the same component, key and card (`OUT` with
//!    extension `stamp`): loads it on wasmi, runs the self-test input (SplitMix64 bytes,
//!    dynamic dimensions at 16, as the gateway host), and writes the manifest (model-info,
//!    card, memory and wasmi fuel measured, fuel x 1.5, self-test digest), signs it and
//!    checks the signature, then writes `OUT` atomically.
use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[allow(dead_code, unreachable_pub)]
#[path = "../../src/pack.rs"]
mod pack;

/// `pack.rs` refers to the runner module for `with_plugin_world` and `pack_runner`, which
/// this tool does not use.
#[allow(dead_code)]
const RUNNER_MODULE: &[u8] = &[];

/// Fuel budgets recorded in the manifest are the measured fuel times this, in percent
/// (as `edgeplug::package::FUEL_MARGIN_PERCENT`).
const FUEL_MARGIN_PERCENT: u64 = 150;

/// Seed of the self-test input (as `edgeplug::package::SELF_TEST_SEED`).
const SELF_TEST_SEED: u64 = 0x6564_6765_706c_7567;

/// Bump when the way a signed plugin is made changes, so cached plugins are remade.
const RECIPE: &str = "edgeplug-signed-plugin-v1";

/// One plugin to make (the command line).
struct Job {
    name: String,
    version: String,
    labels: Vec<String>,
    intended_use: String,
    training_data: String,
    limitations: String,
    license: String,
    authors: Vec<String>,
    model: PathBuf,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [
        key_dir,
        core,
        model,
        out,
        name,
        version,
        labels,
        intended_use,
        training_data,
        limitations,
        license,
        authors,
    ] = args.as_slice()
    else {
        eprintln!(
            "usage: edgeplug-plugin-signer KEY_DIR CORE MODEL OUT NAME VERSION LABELS \
             INTENDED_USE TRAINING_DATA LIMITATIONS LICENSE AUTHORS"
        );
        std::process::exit(2);
    };
    let job = Job {
        name: name.clone(),
        version: version.clone(),
        labels: lines(labels),
        intended_use: intended_use.clone(),
        training_data: training_data.clone(),
        limitations: limitations.clone(),
        license: license.clone(),
        authors: lines(authors),
        model: PathBuf::from(model),
    };
    let key = dev_key(Path::new(key_dir));
    let core = fs::read(core).unwrap_or_else(|e| panic!("cannot read {core}: {e}"));
    let out = PathBuf::from(out);
    make_signed(&job, &core, &key, &out);
}

/// Reads `dev.key` from `dir`, or makes a new key from OS randomness and writes `dev.key`
/// (mode 0600, created exclusively) and `dev.pub`.
fn dev_key(dir: &Path) -> edgeplug_signing::SecretKey {
    use edgeplug_signing::SecretKey;
    let key_path = dir.join("dev.key");
    let pub_path = dir.join("dev.pub");
    let key = match fs::read(&key_path) {
        Ok(bytes) => SecretKey::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{} is not a secret key: {e}", key_path.display())),
        Err(_) => {
            let key = SecretKey::generate().expect("OS randomness for the development key");
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&key_path) {
                Ok(mut file) => {
                    file.write_all(&key.to_bytes())
                        .and_then(|()| file.sync_all())
                        .unwrap_or_else(|e| panic!("cannot write {}: {e}", key_path.display()));
                    key
                }
                // Another build script made it first: use that one.
                Err(_) => SecretKey::from_bytes(&fs::read(&key_path).expect("read dev.key"))
                    .unwrap_or_else(|e| panic!("{} is not a secret key: {e}", key_path.display())),
            }
        }
    };
    let public = key.public_key().to_bytes();
    if fs::read(&pub_path).ok().as_deref() != Some(&public[..]) {
        write_atomic(&pub_path, &public);
    }
    key
}

/// Writes through a temporary file and a rename, so readers never see a partial file.
fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Hex SHA-256 of the parts, each prefixed with its length.
fn sha256_hex(parts: &[&[u8]]) -> String {
    let lens: Vec<[u8; 8]> = parts
        .iter()
        .map(|p| (p.len() as u64).to_le_bytes())
        .collect();
    let framed = lens.iter().zip(parts).flat_map(|(l, p)| [&l[..], p]);
    edgeplug_signing::SelfTest::output_digest(framed).to_string()
}

/// The self-test input of a tensor of `len` bytes (as `edgeplug::package`'s default
/// self-test inputs): SplitMix64 bytes seeded with [`SELF_TEST_SEED`] plus the input's
/// index.
fn self_test_input(index: usize, len: usize) -> Vec<u8> {
    let mut state = SELF_TEST_SEED.wrapping_add(index as u64);
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn manifest_dtype(d: edgeplug_mcu::ElementType) -> edgeplug_signing::ElementType {
    use edgeplug_mcu::ElementType as M;
    use edgeplug_signing::ElementType as S;
    match d {
        M::Int8 => S::Int8,
        M::Uint8 => S::Uint8,
        M::Int32 => S::Int32,
        M::Float32 => S::Float32,
        M::Int16 => S::Int16,
    }
}

fn manifest_spec(s: &edgeplug_mcu::TensorSpec) -> edgeplug_signing::TensorSpec {
    edgeplug_signing::TensorSpec {
        name: s.name.clone(),
        dtype: manifest_dtype(s.dtype),
        shape: s.shape.clone(),
        quantization: s.quantization.map(|q| edgeplug_signing::Quantization {
            scale: q.scale,
            zero_point: q.zero_point,
        }),
    }
}

/// Packs, self-tests, signs and writes `<dir>/<name>.wasm`, unless the file made from the
/// same component and key is already there (`<name>.stamp`).
fn make_signed(plugin: &Job, core: &[u8], key: &edgeplug_signing::SecretKey, out: &Path) {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        panic!("signed plugin {}: {what}: {e}", plugin.name)
    };
    let tflite = fs::read(&plugin.model).unwrap_or_else(|e| fail("cannot read the model", &e));
    let model = edgeplug_tflite::import(&tflite).unwrap_or_else(|e| fail("import", &e));
    let epm = edgeplug_model::format::encode(&model).unwrap_or_else(|e| fail("encode", &e));
    let meta = pack::RunnerMeta {
        name: plugin.name.clone(),
        version: plugin.version.clone(),
        labels: plugin.labels.clone(),
    };
    let packed = pack::pack_module(core, &epm, &meta).unwrap_or_else(|e| fail("pack", &e));
    let component = pack::componentize(&packed).unwrap_or_else(|e| fail("componentize", &e));

    let stamp_path = out.with_extension("stamp");
    let card_text = format!(
        "{}\n{}\n{}\n{}\n{:?}",
        plugin.intended_use,
        plugin.training_data,
        plugin.limitations,
        plugin.license,
        plugin.authors
    );
    let stamp = sha256_hex(&[
        RECIPE.as_bytes(),
        &component,
        &key.public_key().to_bytes(),
        card_text.as_bytes(),
    ]);
    if out.is_file() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        return;
    }

    // The self-test on wasmi: model-info, outputs, fuel and memory.
    const MEASURING_FUEL: u64 = 1 << 50;
    let config = edgeplug_mcu::Config {
        fuel: Some(MEASURING_FUEL),
        max_memory_bytes: None,
    };
    let mut instance = edgeplug_mcu::Plugin::new(&component, edgeplug_mcu::NullHost, &config)
        .unwrap_or_else(|e| fail("load on wasmi", &e));
    let info = instance.info().clone();
    let shapes: Vec<Vec<u32>> = info.inputs.iter().map(|s| s.default_shape()).collect();
    let inputs: Vec<Vec<u8>> = info
        .inputs
        .iter()
        .zip(&shapes)
        .enumerate()
        .map(|(i, (spec, shape))| {
            let len = edgeplug_mcu::tensor_byte_len(shape, spec.dtype).unwrap_or(0);
            self_test_input(i, len)
        })
        .collect();
    let refs: Vec<edgeplug_mcu::TensorRef<'_>> = info
        .inputs
        .iter()
        .zip(&shapes)
        .zip(&inputs)
        .map(|((spec, shape), data)| edgeplug_mcu::TensorRef {
            shape,
            dtype: spec.dtype,
            data,
        })
        .collect();
    let outputs = instance
        .infer(&refs)
        .unwrap_or_else(|e| fail("self-test on wasmi", &e));
    let fuel_used = MEASURING_FUEL - instance.fuel_left().unwrap_or(0);
    let manifest = edgeplug_signing::Manifest {
        name: info.name.clone(),
        version: info.version.clone(),
        sequence: 1,
        interface: edgeplug_signing::INTERFACE_VERSION.to_string(),
        card: edgeplug_signing::ModelCard {
            intended_use: plugin.intended_use.clone(),
            training_data: plugin.training_data.clone(),
            metrics: Vec::new(),
            limitations: plugin.limitations.clone(),
            license: plugin.license.clone(),
            authors: plugin.authors.clone(),
        },
        inputs: info.inputs.iter().map(manifest_spec).collect(),
        outputs: info.outputs.iter().map(manifest_spec).collect(),
        labels: info.labels.clone(),
        resources: edgeplug_signing::Resources {
            memory_bytes: instance.memory_bytes() as u64,
            fuel: vec![edgeplug_signing::EngineFuel {
                engine: "wasmi".into(),
                fuel_per_inference: fuel_used.saturating_mul(FUEL_MARGIN_PERCENT).div_ceil(100),
            }],
        },
        targets: vec!["wasmtime".into(), "wasmi".into()],
        self_test: edgeplug_signing::SelfTest {
            inputs: inputs.into_iter().map(edgeplug_signing::Bytes).collect(),
            output_sha256: edgeplug_signing::SelfTest::output_digest(
                outputs.iter().map(|t| t.data.as_slice()),
            ),
        },
    };
    let with_manifest = edgeplug_signing::embed_manifest(&component, &manifest)
        .unwrap_or_else(|e| fail("manifest", &e));
    let signed = edgeplug_signing::sign(&with_manifest, key).unwrap_or_else(|e| fail("sign", &e));
    let mut trust = edgeplug_signing::TrustSet::new();
    trust
        .add(key.public_key())
        .unwrap_or_else(|e| fail("trust", &e));
    edgeplug_signing::verify(&signed, &trust).unwrap_or_else(|e| fail("verify", &e));
    write_atomic(out, &signed);
    write_atomic(&stamp_path, stamp.as_bytes());
}
