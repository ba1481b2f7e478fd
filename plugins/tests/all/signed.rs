//! The signed plugins the build wrote: signature by `dev.pub`, manifest == model-info,
//! self-test passes on wasmi within the manifest's fuel budget, dev key handling.
use edgeplug_mcu::{Config, NullHost, Plugin, TensorRef};
use edgeplug_plugins::{SIGNED_PLUGINS, signed_plugins_dir};
use edgeplug_signing::{PublicKey, SecretKey, TrustSet};

fn trust() -> TrustSet {
    let public =
        PublicKey::from_bytes(&std::fs::read(signed_plugins_dir().join("dev.pub")).unwrap())
            .unwrap();
    let mut trust = TrustSet::new();
    trust.add(public).unwrap();
    trust
}

#[test]
fn the_dev_key_is_private_and_matches_dev_pub() {
    let dir = signed_plugins_dir();
    let secret = SecretKey::from_bytes(&std::fs::read(dir.join("dev.key")).unwrap()).unwrap();
    let public = std::fs::read(dir.join("dev.pub")).unwrap();
    assert_eq!(public, secret.public_key().to_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("dev.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn every_signed_plugin_verifies_and_passes_its_self_test_within_budget() {
    if crate::common::shared_dir().is_some() {
        for name in ["kws", "anomaly", "ic", "vww"] {
            assert!(SIGNED_PLUGINS.contains(&name), "{name} not built");
        }
    }
    let trust = trust();
    for name in SIGNED_PLUGINS {
        let bytes = std::fs::read(signed_plugins_dir().join(format!("{name}.wasm"))).unwrap();
        let verified = edgeplug_signing::verify(&bytes, &trust).unwrap();
        assert_eq!(verified.signers().len(), 1, "{name}");
        let manifest = edgeplug_signing::read_manifest(&bytes).unwrap().unwrap();
        assert_eq!(manifest.name, *name);
        let fuel = manifest
            .resources
            .fuel
            .iter()
            .find(|f| f.engine == "wasmi")
            .unwrap()
            .fuel_per_inference;
        let config = Config {
            fuel: Some(fuel),
            max_memory_bytes: Some(manifest.resources.memory_bytes as usize),
        };
        let mut plugin = Plugin::new(&bytes, NullHost, &config).unwrap();
        // The MCU host's own load check (model-info == manifest, then the self-test with
        // dynamic dimensions at their default extent) accepts what the build signed.
        let digest = edgeplug_mcu::check_loaded(&mut plugin, &manifest)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(digest, manifest.self_test.output_sha256, "{name}");
        // A flipped byte anywhere in the code section breaks the signature.
        let mut tampered = bytes.clone();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        assert!(
            edgeplug_signing::verify(&tampered, &trust).is_err(),
            "{name}"
        );
    }
}

#[test]
fn an_image_plugins_fuel_does_not_grow_with_the_image() {
    // The resize costs the same per output pixel whatever the input size, so the budget
    // measured on the 16x16 self-test covers a 640x480 photo.
    let trust = trust();
    for name in ["ic", "vww"] {
        if !SIGNED_PLUGINS.contains(&name) {
            continue;
        }
        let bytes = std::fs::read(signed_plugins_dir().join(format!("{name}.wasm"))).unwrap();
        edgeplug_signing::verify(&bytes, &trust).unwrap();
        let manifest = edgeplug_signing::read_manifest(&bytes).unwrap().unwrap();
        let fuel = manifest.resources.fuel[0].fuel_per_inference;
        let mut plugin = Plugin::new(
            &bytes,
            NullHost,
            &Config {
                fuel: Some(fuel),
                max_memory_bytes: None,
            },
        )
        .unwrap();
        let photo: Vec<u8> = (0..480 * 640 * 3).map(|i| (i * 7 % 251) as u8).collect();
        plugin
            .infer(&[TensorRef {
                shape: &[480, 640, 3],
                dtype: edgeplug_mcu::ElementType::Uint8,
                data: &photo,
            }])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
