//! The anomaly plugin on the shared clips: wasmi == native, recorded scores reproduced,
//! anomalous above normal.
use crate::common::*;
use edgeplug_mcu::ElementType;

#[test]
fn clips_reproduce_the_recorded_scores_on_wasmi_and_natively() {
    let Some(shared) = shared_dir() else { return };
    let mut plugin = signed_plugin("anomaly").expect("anomaly.wasm is built when ../shared exists");
    let epm = epm(&shared, "ad_autoencoder_int8.tflite");
    let json = features_json(&shared);
    let clips = json["ad"]["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 4);
    let (mut normal_max, mut anomalous_min) = (f32::MIN, f32::MAX);
    for clip in clips {
        let name = clip["name"].as_str().unwrap();
        let dir = shared.join("frontends/ad");
        let pcm = read_wav16(&dir.join(format!("{name}.wav")));
        let out = run(
            &mut plugin,
            &[160_000],
            ElementType::Int16,
            &pcm_bytes(&pcm),
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].shape.as_slice(), out[1].shape.as_slice()),
            (&[196][..], &[1][..])
        );
        let (windows, score) = native_anomaly(&epm, &pcm);
        assert_eq!(
            out[0].data, windows,
            "{name}: window scores, wasmi != native"
        );
        assert_eq!(out[1].data, score, "{name}: score, wasmi != native");
        let recorded = f32s(&std::fs::read(dir.join(format!("{name}.scores.f32.bin"))).unwrap());
        for (i, (got, want)) in f32s(&out[0].data).iter().zip(&recorded).enumerate() {
            assert!(
                ((got - want) / want).abs() <= 1e-3,
                "{name} window {i}: {got} vs recorded {want}"
            );
        }
        let score = f32s(&out[1].data)[0];
        let want = clip["anomaly_score"].as_f64().unwrap();
        assert!(
            ((f64::from(score) - want) / want).abs() <= 1e-3,
            "{name}: score {score} vs recorded {want}"
        );
        match clip["label"].as_str().unwrap() {
            "normal" => normal_max = normal_max.max(score),
            _ => anomalous_min = anomalous_min.min(score),
        }
    }
    assert!(
        anomalous_min > normal_max,
        "anomalous {anomalous_min} <= normal {normal_max}"
    );
}
