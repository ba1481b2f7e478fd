//! `verify_plugin` / `check_loaded` with real Ed25519 signatures (edgeplug-signing) on a real
//! plugin component (the runner carrying the hand-made model): every check refuses what it
//! should, with the error variant that names it.
use crate::common::{native, runner_component, tiny_epm};
use edgeplug_mcu::signing::{
    self, ElementType as ME, INTERFACE_VERSION, Manifest, ModelCard, Quantization as MQ, Resources,
    SecretKey, SelfTest, TensorSpec as MSpec, TrustSet, VerifyError,
};
use edgeplug_mcu::{
    Config, ElementType, NullHost, Plugin, TrustError, check_loaded, verify_plugin,
};

pub(crate) fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

pub(crate) fn trust(keys: &[&SecretKey]) -> TrustSet {
    let mut t = TrustSet::new();
    for k in keys {
        t.add(k.public_key()).unwrap();
    }
    t
}

fn spec(s: &edgeplug_mcu::TensorSpec) -> MSpec {
    MSpec {
        name: s.name.clone(),
        dtype: match s.dtype {
            ElementType::Int8 => ME::Int8,
            ElementType::Uint8 => ME::Uint8,
            ElementType::Int32 => ME::Int32,
            ElementType::Float32 => ME::Float32,
            ElementType::Int16 => ME::Int16,
        },
        shape: s.shape.clone(),
        quantization: s.quantization.map(|q| MQ {
            scale: q.scale,
            zero_point: q.zero_point,
        }),
    }
}

const LABELS: [&str; 4] = ["a", "b", "c", "d"];

/// The self-test input: 50 floats (the tiny model's [1,5,5,2] input).
fn self_test_input() -> Vec<u8> {
    crate::common::Rng(77).f32_bytes(50)
}

/// The runner component and the manifest the packer would write for it: specs from its
/// `model-info`, the self-test digest from the NATIVE executor's outputs (an independent
/// implementation of the same model), the given sequence.
fn component_and_manifest(sequence: u64) -> (Vec<u8>, Manifest) {
    let epm = tiny_epm();
    let component = runner_component(&epm, &LABELS);
    let plugin = Plugin::new(&component, NullHost, &Config::default()).unwrap();
    let info = plugin.info().clone();
    let input = self_test_input();
    let outputs = native(&epm, &[&input]);
    let manifest = Manifest {
        name: info.name.clone(),
        version: info.version.clone(),
        sequence,
        interface: INTERFACE_VERSION.into(),
        card: ModelCard::default(),
        inputs: info.inputs.iter().map(spec).collect(),
        outputs: info.outputs.iter().map(spec).collect(),
        labels: info.labels.clone(),
        resources: Resources::default(),
        targets: vec!["mcu".into()],
        self_test: SelfTest {
            inputs: vec![signing::Bytes(input)],
            output_sha256: SelfTest::output_digest(outputs.iter().map(|o| o.as_slice())),
        },
    };
    (component, manifest)
}

fn signed(component: &[u8], manifest: &Manifest, by: &SecretKey) -> Vec<u8> {
    signing::sign(&signing::embed_manifest(component, manifest).unwrap(), by).unwrap()
}

#[test]
fn a_signed_plugin_verifies_loads_and_passes_its_self_test() {
    let k = key(1);
    let (component, manifest) = component_and_manifest(3);
    let bytes = signed(&component, &manifest, &k);
    let v = verify_plugin(&bytes, &trust(&[&k]), Some(3)).unwrap();
    assert_eq!(v.manifest, manifest);
    assert_eq!(v.signers.iter().collect::<Vec<_>>(), vec![0]);
    assert_eq!(v.bytes.len(), bytes.len());
    let mut plugin = Plugin::new(v.bytes, NullHost, &Config::default()).unwrap();
    // wasmi's outputs hash to the native executor's digest.
    assert_eq!(
        check_loaded(&mut plugin, &v.manifest).unwrap(),
        manifest.self_test.output_sha256
    );
}

#[test]
fn every_tampered_byte_region_is_refused_by_the_signature_check() {
    let k = key(1);
    let (component, manifest) = component_and_manifest(1);
    let bytes = signed(&component, &manifest, &k);
    let t = trust(&[&k]);
    // Bytes after the signature section (code, data, manifest): digest or framing check.
    let n = bytes.len();
    for at in [n / 3, n / 2, n - 40, n - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        match verify_plugin(&bad, &t, None) {
            Err(TrustError::Signature(_)) => {}
            other => panic!("flip at {at} of {n}: {other:?}"),
        }
    }
    let mut bad = bytes.clone();
    bad[n / 2] ^= 0x01;
    assert_eq!(
        verify_plugin(&bad, &t, None),
        Err(TrustError::Signature(VerifyError::DigestMismatch))
    );
    // Unsigned.
    let unsigned = signing::embed_manifest(&component, &manifest).unwrap();
    assert_eq!(
        verify_plugin(&unsigned, &t, None),
        Err(TrustError::Signature(VerifyError::NoSignatureSection))
    );
}

#[test]
fn untrusted_keys_and_empty_trust_sets_are_refused() {
    let (component, manifest) = component_and_manifest(1);
    let bytes = signed(&component, &manifest, &key(1));
    assert_eq!(
        verify_plugin(&bytes, &trust(&[&key(2)]), None),
        Err(TrustError::Signature(VerifyError::NoTrustedSignature {
            signatures: 1
        }))
    );
    assert_eq!(
        verify_plugin(&bytes, &TrustSet::new(), None),
        Err(TrustError::NoTrustAnchor)
    );
    // Rotation: signed by both, trusted by either.
    let both = signing::sign(&bytes, &key(2)).unwrap();
    for k in [key(1), key(2)] {
        assert!(verify_plugin(&both, &trust(&[&k]), None).is_ok());
    }
}

#[test]
fn layer_manifest_interface_and_rollback_checks_name_themselves() {
    let k = key(1);
    let t = trust(&[&k]);
    let (component, manifest) = component_and_manifest(5);
    // A signed core module (with a valid manifest) is not a plugin.
    let module = wat::parse_str("(module)").unwrap();
    assert_eq!(
        verify_plugin(&signed(&module, &manifest, &k), &t, None),
        Err(TrustError::NotAComponent)
    );
    // A signed component without a manifest.
    let bare = signing::sign(&component, &k).unwrap();
    assert_eq!(verify_plugin(&bare, &t, None), Err(TrustError::NoManifest));
    // Another interface version.
    let mut other = manifest.clone();
    other.interface = "edgeplug:ml@9.0.0".into();
    assert_eq!(
        verify_plugin(&signed(&component, &other, &k), &t, None),
        Err(TrustError::Interface {
            found: "edgeplug:ml@9.0.0".into()
        })
    );
    // Anti-rollback: below the floor refused, equal accepted (re-install).
    let bytes = signed(&component, &manifest, &k);
    let err = verify_plugin(&bytes, &t, Some(6)).unwrap_err();
    assert!(matches!(err, TrustError::Rollback(_)), "{err:?}");
    assert!(
        err.to_string().contains("anti-rollback check failed"),
        "{err}"
    );
    assert!(verify_plugin(&bytes, &t, Some(5)).is_ok());
    // The fixed texts name the checks too.
    assert_eq!(err.check(), "anti-rollback check failed: downgrade refused");
}

#[test]
fn model_info_mismatches_and_a_wrong_self_test_digest_are_refused_after_loading() {
    let k = key(1);
    let t = trust(&[&k]);
    let (component, manifest) = component_and_manifest(1);
    let load = |m: &Manifest| {
        let bytes = signed(&component, m, &k);
        let v = verify_plugin(&bytes, &t, None).unwrap();
        let mut plugin = Plugin::new(&bytes, NullHost, &Config::default()).unwrap();
        check_loaded(&mut plugin, &v.manifest)
    };
    let mut m = manifest.clone();
    m.labels[0] = "z".into();
    assert_eq!(load(&m), Err(TrustError::InfoMismatch { field: "labels" }));
    let mut m = manifest.clone();
    m.version = "1.2.4".into();
    assert_eq!(load(&m), Err(TrustError::InfoMismatch { field: "version" }));
    let mut m = manifest.clone();
    m.outputs[0].shape = vec![1, 5];
    assert_eq!(load(&m), Err(TrustError::InfoMismatch { field: "outputs" }));
    let mut m = manifest.clone();
    if let Some(q) = &mut m.inputs[0].quantization {
        q.scale = f32::from_bits(q.scale.to_bits() + 1);
    } else {
        m.inputs[0].name.push('x');
    }
    assert_eq!(load(&m), Err(TrustError::InfoMismatch { field: "inputs" }));
    // A manifest whose digest is not that of the plugin's outputs (one bit off).
    let mut m = manifest.clone();
    m.self_test.output_sha256.0[31] ^= 1;
    match load(&m) {
        Err(TrustError::SelfTestFailed { expected, got }) => {
            assert_eq!(expected, m.self_test.output_sha256);
            assert_eq!(got, manifest.self_test.output_sha256);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(load(&manifest), Ok(manifest.self_test.output_sha256));
}
