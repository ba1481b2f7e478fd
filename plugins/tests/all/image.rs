//! The image plugins (ic, vww) and the resize rule.
use crate::common::*;
use edgeplug_dsp::image::resize_bilinear;
use edgeplug_mcu::ElementType;

/// Deterministic pseudo-random pixels.
fn pixels(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 56) as u8
        })
        .collect()
}

#[test]
fn resize_matches_hand_computed_half_pixel_bilinear() {
    // 1x2 -> 1x4: source x = (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped
    // 0, 255 * 0.25 = 63.75, 255 * 0.75 = 191.25, 255 (edge): rounded 0, 64, 191, 255
    // (OpenCV INTER_LINEAR gives the same).
    let mut out = [0u8; 4];
    resize_bilinear(&[0, 255], 1, 2, 1, &mut out, 1, 4).unwrap();
    assert_eq!(out, [0, 64, 191, 255]);
    // 2x2 -> 1x1: the centre, the mean of the four: (10 + 20 + 30 + 40) / 4 = 25.
    let mut one = [0u8; 1];
    resize_bilinear(&[10, 20, 30, 40], 2, 2, 1, &mut one, 1, 1).unwrap();
    assert_eq!(one, [25]);
}

#[test]
fn resize_to_the_same_size_is_the_identity_and_constants_stay_constant() {
    for (h, w) in [(1, 1), (3, 5), (32, 32), (96, 96)] {
        let src = pixels(h * w * 3, (h * w) as u64);
        let mut out = vec![0; src.len()];
        resize_bilinear(&src, h, w, 3, &mut out, h, w).unwrap();
        assert_eq!(out, src, "{h}x{w}");
    }
    for (h, w, oh, ow) in [(7, 300, 32, 32), (1, 1, 96, 96), (500, 3, 96, 96)] {
        let src = vec![77u8; h * w * 3];
        let mut out = vec![0; oh * ow * 3];
        resize_bilinear(&src, h, w, 3, &mut out, oh, ow).unwrap();
        assert!(out.iter().all(|&p| p == 77), "{h}x{w} -> {oh}x{ow}");
    }
}

#[test]
fn resize_refuses_bad_sizes() {
    let mut out = [0u8; 12];
    assert!(resize_bilinear(&[], 0, 2, 3, &mut out, 2, 2).is_err());
    assert!(resize_bilinear(&[0; 5], 1, 2, 3, &mut out, 2, 2).is_err());
    assert!(resize_bilinear(&[0; 6], 1, 2, 3, &mut out[..11], 2, 2).is_err());
    assert!(resize_bilinear(&[0; 6], usize::MAX, 2, 3, &mut out, 2, 2).is_err());
}

/// The shared vectors' inputs as images at the model size: output == TFLM's, on wasmi and
/// natively; other sizes: wasmi == native.
fn check_model(name: &str, file: &str, dir: &str, size: u32, classes: usize) {
    let Some(shared) = shared_dir() else { return };
    let mut plugin = signed_plugin(name).expect("built when ../shared exists");
    let epm = epm(&shared, file);
    assert_eq!(plugin.info().labels.len(), classes);
    assert_eq!(plugin.info().inputs[0].shape, [0, 0, 3]);
    let vectors = shared.join("models/vectors").join(dir);
    for id in 0..11 {
        let q = std::fs::read(vectors.join(format!("in_{id}.bin"))).unwrap();
        let image: Vec<u8> = q.iter().map(|&b| b ^ 0x80).collect(); // pixel = q + 128
        let out = run(&mut plugin, &[size, size, 3], ElementType::Uint8, &image).unwrap();
        let s = size as usize;
        assert_eq!(out[0].data, native_image(&epm, &image, s, s), "{name} {id}");
        let tflm: Vec<f32> = std::fs::read(vectors.join(format!("out_{id}.bin")))
            .unwrap()
            .iter()
            .map(|&b| (i32::from(b as i8) + 128) as f32 / 256.0)
            .collect();
        assert_eq!(f32s(&out[0].data), tflm, "{name} vector {id}");
    }
    for (h, w) in [(1, 1), (16, 16), (37, 50), (size * 3 + 1, size / 2)] {
        let image = pixels((h * w * 3) as usize, u64::from(h * 1000 + w));
        let out = run(&mut plugin, &[h, w, 3], ElementType::Uint8, &image).unwrap();
        assert_eq!(out[0].shape, [classes as u32]);
        let native = native_image(&epm, &image, h as usize, w as usize);
        assert_eq!(out[0].data, native, "{name} {h}x{w}");
        let sum: f32 = f32s(&out[0].data).iter().sum();
        assert!(
            (sum - 1.0).abs() < 0.05,
            "{name} {h}x{w}: probabilities sum to {sum}"
        );
    }
}

#[test]
fn ic_reproduces_tflm_and_native() {
    check_model("ic", "ic_resnet8_int8.tflite", "ic_resnet8_int8", 32, 10);
}

#[test]
fn vww_reproduces_tflm_and_native() {
    check_model(
        "vww",
        "vww_mobilenet_int8.tflite",
        "vww_mobilenet_int8",
        96,
        2,
    );
}
