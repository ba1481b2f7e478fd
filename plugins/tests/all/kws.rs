//! The KWS plugin on every shared clip: wasmi == native, bytes; label == TFLM's.
use crate::common::*;
use edgeplug_mcu::ElementType;

#[test]
fn every_clip_gives_tflms_label_and_output_on_wasmi_and_natively() {
    let Some(shared) = shared_dir() else { return };
    let mut plugin = signed_plugin("kws").expect("kws.wasm is built when ../shared exists");
    let epm = epm(&shared, "kws_ds_cnn_int8.tflite");
    let labels = plugin.info().labels.clone();
    assert_eq!(labels.len(), 12);
    let json = features_json(&shared);
    let clips = json["kws"]["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 43);
    for clip in clips {
        let name = clip["name"].as_str().unwrap();
        let pcm = read_wav16(&shared.join("frontends/kws").join(format!("{name}.wav")));
        let out = run(&mut plugin, &[16_000], ElementType::Int16, &pcm_bytes(&pcm)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].shape, [12]);
        assert_eq!(
            out[0].data,
            native_kws(&epm, &pcm),
            "{name}: wasmi != native"
        );
        // The probabilities are TFLM's int8 output dequantized (scale 1/256, zp -128):
        // exact in float32.
        let tflm: Vec<f32> = clip["tflm_output_int8"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v.as_i64().unwrap() + 128) as f32 / 256.0)
            .collect();
        let probabilities = f32s(&out[0].data);
        assert_eq!(probabilities, tflm, "{name}");
        let label = &labels[argmax(&probabilities)];
        assert_eq!(label, clip["predicted_label"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn the_model_is_replaceable_without_rebuilding_the_guest() {
    // Pack the same guest core with another name, version and labels: model-info follows
    // the slot, not the build.
    let Some(shared) = shared_dir() else { return };
    let epm = epm(&shared, "kws_ds_cnn_int8.tflite");
    let meta = edgeplug_plugins::RunnerMeta {
        name: "my-kws".into(),
        version: "3.1.4".into(),
        labels: (0..12).map(|i| format!("word{i}")).collect(),
    };
    let component =
        edgeplug_plugins::pack_guest(edgeplug_plugins::KWS_MODULE, &epm, &meta).unwrap();
    let plugin = edgeplug_mcu::Plugin::new(
        &component,
        edgeplug_mcu::NullHost,
        &edgeplug_mcu::Config::default(),
    )
    .unwrap();
    let info = plugin.info();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("my-kws", "3.1.4")
    );
    assert_eq!(info.labels[11], "word11");
    assert_eq!(info.inputs[0].shape, [16_000]);
    assert_eq!(info.inputs[0].dtype, ElementType::Int16);
}

#[test]
fn a_model_that_does_not_fit_the_guest_is_reported_by_model_info() {
    // The AD autoencoder in the KWS guest: model-info names the problem, infer refuses.
    let Some(shared) = shared_dir() else { return };
    let epm = epm(&shared, "ad_autoencoder_int8.tflite");
    let component = edgeplug_plugins::pack_guest(
        edgeplug_plugins::KWS_MODULE,
        &epm,
        &edgeplug_plugins::RunnerMeta::default(),
    )
    .unwrap();
    match edgeplug_mcu::Plugin::new(&component, edgeplug_mcu::NullHost, &Default::default()) {
        // The MCU host refuses a plugin without inputs; either way it never runs.
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(p) => panic!("loaded: {:?}", p.info()),
    }
}
