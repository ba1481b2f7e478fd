//! Sensor inputs: WAV clips (format checks, truncation, empty clips, windows, a streamed
//! 1-hour clip), PNG/JPEG/PPM images, raw tensors; and `edgeplug run` on WAV clips with
//! small hand-written WAT plugins (a classifier and a scorer with int16 audio inputs).

use crate::cli::{assert_one_line_error, edgeplug, p, tmpdir};
use edgeplug::engine::{ElementType, TensorSpec};
use edgeplug::input::{
    FileFormat, InputError, InputKind, ShortClip, WavStream, WindowOptions, Windows, decode_image,
    decode_image_bytes, load_input,
};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A WAV file's bytes: PCM, `rate` Hz, `channels`, `bits` per sample, the samples
/// interleaved (each written in `bits / 8` little-endian bytes). `data_len` overrides the
/// data chunk's announced length.
pub(crate) fn wav_bytes(
    rate: u32,
    channels: u16,
    bits: u16,
    samples: &[i32],
    data_len: Option<u32>,
) -> Vec<u8> {
    let width = usize::from(bits / 8);
    let mut data = Vec::with_capacity(samples.len() * width);
    for &s in samples {
        match width {
            1 => data.push((s + 128) as u8),
            2 => data.extend_from_slice(&(s as i16).to_le_bytes()),
            _ => data.extend_from_slice(&s.to_le_bytes()[..width]),
        }
    }
    let data_len = data_len.unwrap_or(data.len() as u32);
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    let block = u32::from(channels) * u32::from(bits / 8);
    out.extend_from_slice(&(rate * block).to_le_bytes());
    out.extend_from_slice(&(block as u16).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A 16 kHz mono 16-bit WAV of `samples`.
pub(crate) fn wav16(samples: &[i16]) -> Vec<u8> {
    let s: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
    wav_bytes(16_000, 1, 16, &s, None)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn spec(dtype: ElementType, shape: &[u32]) -> TensorSpec {
    TensorSpec {
        name: "x".into(),
        dtype,
        shape: shape.to_vec(),
        quantization: None,
    }
}

fn audio_spec(samples: u32) -> TensorSpec {
    spec(ElementType::Int16, &[samples])
}

/// The error's message is one line and contains every needle.
fn assert_error(err: &InputError, needles: &[&str]) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "multi-line: {text}");
    for n in needles {
        assert!(text.contains(n), "`{n}` not in: {text}");
    }
}

/// Sample `i` of the test clips: distinct for 30000 samples, so windows can be checked.
fn ramp(i: u64) -> i16 {
    (i % 30_000) as i16
}

#[test]
fn input_kinds_come_from_the_spec() {
    assert_eq!(
        InputKind::of(&audio_spec(16000)),
        InputKind::Audio {
            window: Some(16000)
        }
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Int16, &[1, 160000])),
        InputKind::Audio {
            window: Some(160000)
        }
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Int16, &[0])),
        InputKind::Audio { window: None }
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Uint8, &[0, 0, 3])),
        InputKind::Image {
            height: None,
            width: None,
            channels: 3
        }
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Uint8, &[1, 96, 96, 1])),
        InputKind::Image {
            height: Some(96),
            width: Some(96),
            channels: 1
        }
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Int8, &[1, 49, 10, 1])),
        InputKind::Raw
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Int16, &[49, 10])),
        InputKind::Raw
    );
    assert_eq!(
        InputKind::of(&spec(ElementType::Uint8, &[2, 8, 8, 3])),
        InputKind::Raw
    );
    assert_eq!(FileFormat::sniff(&wav16(&[1])), FileFormat::Wav);
    assert_eq!(FileFormat::sniff(b"P6\n1 1\n255\n"), FileFormat::Pnm);
    assert_eq!(FileFormat::sniff(b"RIFF"), FileFormat::Other);
}

#[test]
fn a_one_second_clip_is_one_tensor_of_its_samples() {
    let dir = tmpdir("in-wav-ok");
    let samples: Vec<i16> = (0..16000).map(|i| ramp(i) - 15000).collect();
    let path = write(&dir, "ok.wav", &wav16(&samples));
    let stream = WavStream::open(&path).unwrap();
    assert_eq!(stream.frames(), 16000);
    assert_eq!(stream.duration_s(), 1.0);
    let input = load_input(&path, &audio_spec(16000), ShortClip::Refuse).unwrap();
    assert_eq!(input.shape, [16000]);
    let expected: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(input.data, expected);
    // A dynamic audio input takes the whole clip.
    let input = load_input(&path, &spec(ElementType::Int16, &[1, 0]), ShortClip::Refuse).unwrap();
    assert_eq!(input.shape, [1, 16000]);
    assert_eq!(input.data, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wavs_that_are_not_16khz_mono_16bit_are_refused_naming_what_they_are() {
    let dir = tmpdir("in-wav-format");
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        (
            "stereo.wav",
            wav_bytes(16_000, 2, 16, &[0; 3200], None),
            &["16000 Hz", "2 channels", "16 kHz mono 16-bit"],
        ),
        (
            "cd.wav",
            wav_bytes(44_100, 1, 16, &[0; 4410], None),
            &["44100 Hz", "1 channel,", "16 kHz mono 16-bit"],
        ),
        (
            "cd-stereo.wav",
            wav_bytes(44_100, 2, 16, &[0; 4410], None),
            &["44100 Hz", "2 channels"],
        ),
        (
            "8bit.wav",
            wav_bytes(16_000, 1, 8, &[0; 1600], None),
            &["8-bit integer PCM", "16 kHz mono 16-bit"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let path = write(&dir, name, &bytes);
        let err = WavStream::open(&path).unwrap_err();
        assert!(
            matches!(err, InputError::AudioFormat { .. }),
            "{name}: {err}"
        );
        let mut all = vec![name];
        all.extend_from_slice(needles);
        assert_error(&err, &all);
        let err = load_input(&path, &audio_spec(16000), ShortClip::Pad).unwrap_err();
        assert_error(&err, &all);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_non_wav_and_empty_files_are_one_line_errors() {
    let dir = tmpdir("in-wav-bad");
    let good = wav16(&[7; 16000]);
    // Cut inside the header (every length of it), and an empty file.
    for cut in [0, 4, 11, 12, 20, 36, 43] {
        let path = write(&dir, "cut.wav", &good[..cut]);
        let err = WavStream::open(&path).unwrap_err();
        assert!(matches!(err, InputError::NotWav { .. }), "cut {cut}: {err}");
        assert_error(&err, &["cut.wav", "not a valid WAV file"]);
    }
    // Cut inside the data: refused up front, saying how much is missing.
    let path = write(&dir, "short-data.wav", &good[..44 + 16000]);
    let err = WavStream::open(&path).unwrap_err();
    assert!(matches!(err, InputError::Truncated { .. }), "{err}");
    assert_error(
        &err,
        &["short-data.wav", "truncated", "16000 samples", "holds 8000"],
    );
    // From a reader (no file size to check): found while reading the samples.
    let stream = WavStream::new(
        "pipe.wav",
        std::io::Cursor::new(good[..44 + 16000].to_vec()),
    )
    .unwrap();
    let mut windows = Windows::new(
        stream,
        WindowOptions {
            window: 16000,
            stride: 8000,
            short: ShortClip::Pad,
        },
    )
    .unwrap();
    let err = windows.next_window().unwrap_err();
    assert_error(&err, &["pipe.wav", "truncated", "ends after 8000"]);
    // An odd number of data bytes, a chunk length beyond the file.
    let mut odd = good[..44 + 101].to_vec();
    odd[40..44].copy_from_slice(&101u32.to_le_bytes());
    let err = WavStream::open(&write(&dir, "odd.wav", &odd)).unwrap_err();
    assert_error(&err, &["odd.wav", "not a valid WAV file"]);
    // Not a WAV at all.
    let path = write(&dir, "notes.wav", b"these are my notes, not audio at all\n");
    let err = WavStream::open(&path).unwrap_err();
    assert_error(&err, &["notes.wav", "not a valid WAV file", "RIFF"]);
    // A valid header with no samples.
    let path = write(&dir, "empty.wav", &wav16(&[]));
    let err = WavStream::open(&path).unwrap_err();
    assert!(matches!(err, InputError::EmptyClip { .. }), "{err}");
    assert_error(&err, &["empty.wav", "empty clip"]);
    // A missing file.
    let err = WavStream::open(&dir.join("missing.wav")).unwrap_err();
    assert_error(&err, &["missing.wav", "cannot read"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Collects `(index, start, valid, first sample, last sample)` of every window.
fn windows_of(samples: &[i16], window: usize, stride: usize, short: ShortClip) -> Vec<[i64; 5]> {
    let stream = WavStream::new("clip.wav", std::io::Cursor::new(wav16(samples))).unwrap();
    let mut w = Windows::new(
        stream,
        WindowOptions {
            window,
            stride,
            short,
        },
    )
    .unwrap();
    let count = w.count();
    let mut out = Vec::new();
    while let Some(win) = w.next_window().unwrap() {
        assert_eq!(win.samples.len(), window);
        out.push([
            win.index as i64,
            win.start as i64,
            win.valid as i64,
            i64::from(win.samples[0]),
            i64::from(win.samples[window - 1]),
        ]);
    }
    assert_eq!(count, out.len() as u64, "count() agrees with the windows");
    assert!(w.next_window().unwrap().is_none(), "stays finished");
    out
}

#[test]
fn windows_slide_by_the_stride_and_the_last_one_ends_at_the_clip_end() {
    let clip: Vec<i16> = (0..35).map(ramp).collect();
    // 35 samples, window 10, stride 5: starts 0, 5, ..., 25, then 25 is also the end-aligned
    // start (35 - 10), so no extra window.
    let w = windows_of(&clip, 10, 5, ShortClip::Refuse);
    let starts: Vec<i64> = w.iter().map(|x| x[1]).collect();
    assert_eq!(starts, [0, 5, 10, 15, 20, 25]);
    for x in &w {
        assert_eq!(x[2], 10);
        assert_eq!(x[3], x[1], "first sample is the sample at the start");
        assert_eq!(x[4], x[1] + 9);
    }
    // 37 samples: one more window ending at the end.
    let clip: Vec<i16> = (0..37).map(ramp).collect();
    let starts: Vec<i64> = windows_of(&clip, 10, 5, ShortClip::Refuse)
        .iter()
        .map(|x| x[1])
        .collect();
    assert_eq!(starts, [0, 5, 10, 15, 20, 25, 27]);
    // Stride = window: consecutive windows, then the tail window.
    let w = windows_of(&clip, 10, 10, ShortClip::Refuse);
    assert_eq!(
        w.iter().map(|x| [x[1], x[3], x[4]]).collect::<Vec<_>>(),
        [[0, 0, 9], [10, 10, 19], [20, 20, 29], [27, 27, 36]]
    );
    // Stride larger than the window skips audio between windows.
    let w = windows_of(&clip, 10, 15, ShortClip::Refuse);
    assert_eq!(
        w.iter().map(|x| [x[1], x[3]]).collect::<Vec<_>>(),
        [[0, 0], [15, 15], [27, 27]]
    );
    // Exactly one window.
    let clip: Vec<i16> = (0..10).map(ramp).collect();
    assert_eq!(
        windows_of(&clip, 10, 5, ShortClip::Refuse),
        [[0, 0, 10, 0, 9]]
    );
}

#[test]
fn short_clips_are_zero_padded_or_refused() {
    let clip: Vec<i16> = (1..=6).map(|i| i * 100).collect();
    let w = windows_of(&clip, 10, 5, ShortClip::Pad);
    assert_eq!(w, [[0, 0, 6, 100, 0]], "padded with zeros at the end");
    let stream = WavStream::new("short.wav", std::io::Cursor::new(wav16(&clip))).unwrap();
    let mut w = Windows::new(
        stream,
        WindowOptions {
            window: 16000,
            stride: 16000,
            short: ShortClip::Refuse,
        },
    )
    .unwrap();
    let err = w.next_window().unwrap_err();
    assert!(matches!(err, InputError::ClipTooShort { .. }), "{err}");
    assert_error(
        &err,
        &["short.wav", "0.000 s long", "1.000 s window", "--pad"],
    );
    // The same through load_input, with the padded samples checked.
    let dir = tmpdir("in-wav-short");
    let path = write(&dir, "short.wav", &wav16(&clip));
    let input = load_input(&path, &audio_spec(8), ShortClip::Pad).unwrap();
    let expected: Vec<u8> = [100i16, 200, 300, 400, 500, 600, 0, 0]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    assert_eq!(input.data, expected);
    // A clip longer than a single input (several inputs: no windowing) is refused.
    let err = load_input(&path, &audio_spec(4), ShortClip::Pad).unwrap_err();
    assert_error(&err, &["short.wav", "longer than plugin input"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WAV of `frames` samples generated on the fly as it is read: sample `i` is
/// [`ramp`]`(i)`. Nothing but the header and the current read is ever in memory.
struct GeneratedWav {
    header: Vec<u8>,
    pos: u64,
    frames: u64,
}

impl GeneratedWav {
    fn new(frames: u64) -> Self {
        let mut header = wav16(&[]);
        let data_len = (frames * 2) as u32;
        header[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
        header[40..44].copy_from_slice(&data_len.to_le_bytes());
        GeneratedWav {
            header,
            pos: 0,
            frames,
        }
    }
}

impl Read for GeneratedWav {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let total = self.header.len() as u64 + self.frames * 2;
        let mut n = 0;
        while n < buf.len() && self.pos < total {
            let h = self.header.len() as u64;
            buf[n] = if self.pos < h {
                self.header[self.pos as usize]
            } else {
                let i = self.pos - h;
                ramp(i / 2).to_le_bytes()[(i % 2) as usize]
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

/// One hour of 16 kHz audio (57.6 million samples, 115 MB as a file) streamed through 1 s
/// windows every 0.5 s: every window is present, in order, with the right samples.
#[test]
fn a_one_hour_clip_is_streamed_window_by_window() {
    let frames = 3600 * 16_000u64;
    let stream = WavStream::new("hour.wav", GeneratedWav::new(frames)).unwrap();
    assert_eq!(stream.duration_s(), 3600.0);
    let mut windows = Windows::new(
        stream,
        WindowOptions {
            window: 16000,
            stride: 8000,
            short: ShortClip::Refuse,
        },
    )
    .unwrap();
    assert_eq!(windows.count(), 7199);
    let mut n = 0u64;
    let mut last_end = 0.0;
    while let Some(w) = windows.next_window().unwrap() {
        assert_eq!(w.index, n);
        assert_eq!(w.start, n * 8000);
        assert_eq!(w.samples[0], ramp(w.start));
        assert_eq!(w.samples[8000], ramp(w.start + 8000));
        assert_eq!(w.samples[15999], ramp(w.start + 15999));
        last_end = w.end_s();
        n += 1;
    }
    assert_eq!(n, 7199);
    assert_eq!(last_end, 3600.0);
}

fn png(img: image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A 5x3 RGB image whose pixel (x, y) is (10x, 20y, 7).
fn rgb_5x3() -> image::RgbImage {
    image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([10 * x as u8, 20 * y as u8, 7]))
}

#[test]
fn png_jpeg_and_ppm_decode_to_rgb_rows() {
    let rgb = rgb_5x3();
    let expected = rgb.clone().into_raw();
    // PNG, RGB: exact.
    let img = decode_image_bytes("a.png", &png(rgb.clone().into()), 3).unwrap();
    assert_eq!((img.width, img.height, img.channels), (5, 3, 3));
    assert_eq!(img.pixels, expected);
    // PNG with alpha: the alpha channel is dropped.
    let rgba = image::RgbaImage::from_fn(5, 3, |x, y| {
        image::Rgba([10 * x as u8, 20 * y as u8, 7, 99])
    });
    let img = decode_image_bytes("a.png", &png(rgba.into()), 3).unwrap();
    assert_eq!(img.pixels, expected);
    // Gray PNG: replicated to RGB; and to one channel for a gray input.
    let gray = image::GrayImage::from_fn(4, 2, |x, y| image::Luma([(x * 2 + y) as u8 * 30]));
    let img = decode_image_bytes("g.png", &png(gray.clone().into()), 3).unwrap();
    let want: Vec<u8> = gray.as_raw().iter().flat_map(|&v| [v, v, v]).collect();
    assert_eq!(img.pixels, want);
    let img = decode_image_bytes("g.png", &png(gray.clone().into()), 1).unwrap();
    assert_eq!(
        (img.channels, img.pixels.as_slice()),
        (1, gray.as_raw().as_slice())
    );
    // PPM (P6), written by hand: exact.
    let mut ppm = b"P6\n5 3\n255\n".to_vec();
    ppm.extend_from_slice(&expected);
    let img = decode_image_bytes("a.ppm", &ppm, 3).unwrap();
    assert_eq!((img.width, img.height), (5, 3));
    assert_eq!(img.pixels, expected);
    // JPEG of a flat color: lossy, so within a few steps.
    let flat = image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::from(flat)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let img = decode_image_bytes("a.jpg", jpeg.get_ref(), 3).unwrap();
    assert_eq!(
        (img.width, img.height, img.pixels.len()),
        (16, 8, 16 * 8 * 3)
    );
    for px in img.pixels.chunks(3) {
        for (got, want) in px.iter().zip([200u8, 100, 50]) {
            assert!(got.abs_diff(want) <= 3, "{px:?}");
        }
    }
}

#[test]
fn images_become_h_w_3_tensors_of_their_own_size() {
    let dir = tmpdir("in-img");
    let path = write(&dir, "photo.png", &png(rgb_5x3().into()));
    let input = load_input(&path, &spec(ElementType::Uint8, &[0, 0, 3]), ShortClip::Pad).unwrap();
    assert_eq!(input.shape, [3, 5, 3], "[height, width, 3]");
    assert_eq!(input.data, rgb_5x3().into_raw());
    let input = load_input(
        &path,
        &spec(ElementType::Uint8, &[1, 3, 5, 3]),
        ShortClip::Pad,
    )
    .unwrap();
    assert_eq!(input.shape, [1, 3, 5, 3]);
    // A fixed size the image does not have: refused, naming both sizes.
    let err = load_input(
        &path,
        &spec(ElementType::Uint8, &[96, 96, 3]),
        ShortClip::Pad,
    )
    .unwrap_err();
    assert_error(&err, &["photo.png", "5x3", "96x96", "resize"]);
    // The extension does not matter: the content does.
    let path = write(&dir, "photo.dat", &png(rgb_5x3().into()));
    let input = load_input(&path, &spec(ElementType::Uint8, &[0, 0, 3]), ShortClip::Pad).unwrap();
    assert_eq!(input.shape, [3, 5, 3]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_images_are_one_line_errors() {
    let good = png(rgb_5x3().into());
    let mut corrupt = good.clone();
    for b in corrupt.iter_mut().skip(40) {
        *b ^= 0x5a;
    }
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::from(rgb_5x3())
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let jpeg = jpeg.into_inner();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.png", good[..good.len() / 2].to_vec()),
        ("corrupt.png", corrupt),
        ("truncated.jpg", jpeg[..jpeg.len() / 3].to_vec()),
        ("header-only.jpg", vec![0xff, 0xd8, 0xff]),
        ("short.ppm", b"P6\n5 3\n255\n\x01\x02".to_vec()),
        ("garbage.ppm", b"P6\nfive three\n".to_vec()),
        ("text.png", b"not an image".to_vec()),
        ("empty.png", Vec::new()),
    ];
    for (name, bytes) in cases {
        let err = decode_image_bytes(name, &bytes, 3).unwrap_err();
        assert!(matches!(err, InputError::BadImage { .. }), "{name}: {err}");
        assert_error(&err, &[name]);
    }
    // Through a file too.
    let dir = tmpdir("in-img-bad");
    let path = write(&dir, "cut.png", &good[..30]);
    let err = decode_image(&path, 3).unwrap_err();
    assert_error(&err, &["cut.png", "not a readable PNG, JPEG or PPM image"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn raw_tensors_and_files_of_the_wrong_kind() {
    let dir = tmpdir("in-raw");
    let int8 = spec(ElementType::Int8, &[4]);
    let path = write(&dir, "x.bin", &[1, 2, 3, 4]);
    let input = load_input(&path, &int8, ShortClip::Pad).unwrap();
    assert_eq!(
        (input.shape.as_slice(), input.data.as_slice()),
        (&[4u32][..], &[1u8, 2, 3, 4][..])
    );
    let path = write(&dir, "x5.bin", &[1, 2, 3, 4, 5]);
    let err = load_input(&path, &int8, ShortClip::Pad).unwrap_err();
    assert_error(&err, &["x5.bin", "5 bytes", "needs 4"]);
    // Raw samples for an audio input of exactly the right size are fine.
    let path = write(&dir, "pcm.raw", &[1, 0, 2, 0]);
    let input = load_input(&path, &audio_spec(2), ShortClip::Pad).unwrap();
    assert_eq!(input.data, [1, 0, 2, 0]);
    // A WAV for an int8 model input, an image for an audio input, a WAV for an image input.
    let wav = write(&dir, "clip.wav", &wav16(&[0; 100]));
    let err = load_input(&wav, &int8, ShortClip::Pad).unwrap_err();
    assert_error(&err, &["clip.wav", "WAV", "raw tensor"]);
    let img = write(&dir, "pic.png", &png(rgb_5x3().into()));
    let err = load_input(&img, &audio_spec(16000), ShortClip::Pad).unwrap_err();
    assert_error(&err, &["pic.png", "PNG", "give a WAV file"]);
    let err = load_input(&wav, &spec(ElementType::Uint8, &[0, 0, 3]), ShortClip::Pad).unwrap_err();
    assert_error(&err, &["clip.wav", "image input"]);
    // Raw bytes cannot fill a dynamic image input.
    let err = load_input(&path, &spec(ElementType::Uint8, &[0, 0, 3]), ShortClip::Pad).unwrap_err();
    assert_error(&err, &["pcm.raw", "dynamic shape"]);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// `edgeplug run` on WAV clips, with WAT plugins.

/// A little-endian memory image builder.
struct Mem(Vec<u8>);

impl Mem {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        if self.0.len() < at + bytes.len() {
            self.0.resize(at + bytes.len(), 0);
        }
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u32s(&mut self, at: usize, values: &[u32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(at, &bytes);
    }
    fn f32s(&mut self, at: usize, values: &[f32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(at, &bytes);
    }
}

/// Window length of the WAT audio plugins: 1600 samples (0.1 s).
pub(crate) const WAT_WINDOW: u32 = 1600;

/// A plugin component taking `audio` int16 [1600] that looks only at the window's first
/// sample `x`:
/// - `classifier`: labels `_silence_`, `beep`, `boop`; output `probabilities` float32 [3]:
///   `beep` 0.9 if `x` == 1000, `boop` 0.8 if `x` == 2000, else `_silence_` 1.0;
/// - otherwise no labels; output `score` float32 [1] = `x`.
pub(crate) fn audio_plugin(classifier: bool) -> Vec<u8> {
    let mut m = Mem(Vec::new());
    let (outputs_len, labels_len) = if classifier { (1, 3) } else { (1, 0) };
    // model-info at 0x100.
    m.u32s(
        0x100,
        &[
            0x200,
            3,
            0x210,
            5,
            0x300,
            1,
            0x340,
            outputs_len,
            0x3a0,
            labels_len,
            0,
            0,
        ],
    );
    m.put(0x200, b"wat");
    m.put(0x210, b"1.0.0");
    m.put(0x220, b"audio");
    // tensor-spec: name, dtype at +8, shape at +12, option<quantization> at +20.
    m.u32s(0x300, &[0x220, 5, 4, 0x380, 1, 0]); // int16 [1600]
    m.u32s(0x380, &[WAT_WINDOW]);
    if classifier {
        m.put(0x230, b"probabilities");
        m.u32s(0x340, &[0x230, 13, 3, 0x388, 1, 0]); // float32 [3]
        m.u32s(0x388, &[3]);
        m.put(0x240, b"_silence_beepboop");
        m.u32s(0x3a0, &[0x240, 9, 0x249, 4, 0x24d, 4]);
    } else {
        m.put(0x230, b"score");
        m.u32s(0x340, &[0x230, 5, 3, 0x38c, 1, 0]); // float32 [1]
        m.u32s(0x38c, &[1]);
    }
    // Results: ok(list of one tensor record at R+0x20): shape ptr, rank, dtype, data, len.
    for (i, probs) in [[1.0f32, 0.0, 0.0], [0.05, 0.9, 0.05], [0.1, 0.1, 0.8]]
        .iter()
        .enumerate()
    {
        let r = 0x400 + 0x80 * i;
        m.u32s(r, &[0, (r + 0x20) as u32, 1]);
        m.u32s(r + 0x20, &[0x388, 1, 3, (r + 0x40) as u32, 12]);
        m.f32s(r + 0x40, probs);
    }
    m.u32s(0x600, &[0, 0x620, 1]);
    m.u32s(0x620, &[0x38c, 1, 3, 0x640, 4]);
    let infer = if classifier {
        "(if (result i32) (i32.eq (local.get $x) (i32.const 1000))
            (then (i32.const 0x480))
            (else (if (result i32) (i32.eq (local.get $x) (i32.const 2000))
                (then (i32.const 0x500)) (else (i32.const 0x400)))))"
    } else {
        "(f32.store (i32.const 0x640) (f32.convert_i32_s (local.get $x))) (i32.const 0x600)"
    };
    let data: String = m.0.iter().map(|b| format!("\\{b:02x}")).collect();
    let core = wat::parse_str(format!(
        r#"(module
            (import "edgeplug:ml/host@0.1.0" "log" (func $log (param i32 i32 i32)))
            (memory (export "memory") 2)
            (global $bump (mut i32) (i32.const 0x1000))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $r i32)
                (local.set $r (global.get $bump))
                (global.set $bump (i32.add (global.get $bump)
                    (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
                (local.get $r))
            (func (export "edgeplug:ml/inference@0.1.0#info") (result i32) (i32.const 0x100))
            (func (export "edgeplug:ml/inference@0.1.0#infer") (param $p i32) (param $n i32) (result i32)
                (local $x i32)
                ;; the first tensor's data pointer is at +12 of its record
                (local.set $x (i32.load16_s (i32.load offset=12 (local.get $p))))
                ;; every input buffer is dead now: reuse the memory for the next call
                (global.set $bump (i32.const 0x1000))
                {infer})
            (data (i32.const 0) "{data}"))"#
    ))
    .expect("valid WAT");
    let core = edgeplug_plugins::with_plugin_world(&core).expect("world");
    edgeplug_plugins::componentize(&core).expect("componentize")
}

/// `edgeplug run PLUGIN --insecure-skip-verify --input CLIP ARGS...`.
fn run(plugin: &Path, clip: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        p(plugin),
        "--insecure-skip-verify",
        "--input",
        p(clip),
    ];
    args.extend_from_slice(extra);
    edgeplug(&args)
}

fn stdout_ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn run_detects_keywords_in_a_long_clip_with_timestamps() {
    let dir = tmpdir("in-run-kws");
    let plugin = write(&dir, "kws.wasm", &audio_plugin(true));
    // 5 s: `beep` samples (1000) in 1.00..1.20 s, `boop` (2000) in 3.00..3.10 s.
    let mut clip = vec![0i16; 80_000];
    clip[16_000..19_200].fill(1000);
    clip[48_000..49_600].fill(2000);
    let wav = write(&dir, "long.wav", &wav16(&clip));
    // Default stride: half a window (800 samples). Windows starting at 16000, 16800, 17600,
    // 18400 see 1000 first: one event 1.00-1.25 s; 48000 and 48800 see 2000: 3.00-3.15 s.
    let lines = json_lines(&stdout_ok(&run(&plugin, &wav, &["--json"])));
    let detections: Vec<(String, f64, f64, u64)> = lines
        .iter()
        .filter(|v| v["type"] == "detection")
        .map(|v| {
            (
                v["label"].as_str().unwrap().to_string(),
                v["start_s"].as_f64().unwrap(),
                v["end_s"].as_f64().unwrap(),
                v["windows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        detections,
        [
            ("beep".to_string(), 1.0, 1.25, 4),
            ("boop".to_string(), 3.0, 3.15, 2)
        ]
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["windows"], 99, "(80000 - 1600) / 800 + 1");
    assert_eq!(summary["detections"], 2);
    // A threshold above boop's 0.8 keeps only beep; text output has timestamps.
    let text = stdout_ok(&run(&plugin, &wav, &["--threshold", "0.85"]));
    assert!(text.contains("00:01.00-00:01.25  beep"), "{text}");
    assert!(!text.contains("boop"), "{text}");
    assert!(text.contains("99 windows: 1 detection(s)"), "{text}");
    // A stride of 1 s: windows at 0, 1, 2, 3, 4 s and the tail at 4.9 s.
    let lines = json_lines(&stdout_ok(&run(
        &plugin,
        &wav,
        &["--json", "--stride-ms", "1000", "--all-windows"],
    )));
    let windows: Vec<(f64, String)> = lines
        .iter()
        .filter(|v| v["type"] == "window")
        .map(|v| {
            (
                v["start_s"].as_f64().unwrap(),
                v["label"].as_str().unwrap().into(),
            )
        })
        .collect();
    let starts: Vec<f64> = windows.iter().map(|w| w.0).collect();
    assert_eq!(starts, [0.0, 1.0, 2.0, 3.0, 4.0, 4.9]);
    assert_eq!(windows[1].1, "beep");
    assert_eq!(windows[3].1, "boop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_on_a_single_window_prints_one_result() {
    let dir = tmpdir("in-run-one");
    let plugin = write(&dir, "kws.wasm", &audio_plugin(true));
    let wav = write(&dir, "one.wav", &wav16(&[1000; WAT_WINDOW as usize]));
    let v: Value = serde_json::from_str(&stdout_ok(&run(&plugin, &wav, &["--json"]))).unwrap();
    assert_eq!(v["label"], "beep");
    assert!((v["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    let text = stdout_ok(&run(&plugin, &wav, &[]));
    assert!(text.contains("result: beep (score 0.900)"), "{text}");
    // A shorter clip is zero-padded for a classifier (with a note), and --output works.
    let short = write(&dir, "short.wav", &wav16(&[2000; 100]));
    let out_path = dir.join("out.bin");
    let out = run(&plugin, &short, &["--json", "-o", p(&out_path)]);
    let v: Value = serde_json::from_str(&stdout_ok(&out)).unwrap();
    assert_eq!(v["label"], "boop");
    assert!(String::from_utf8_lossy(&out.stderr).contains("zero-padded"));
    let floats: Vec<u8> = [0.1f32, 0.1, 0.8]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    assert_eq!(std::fs::read(&out_path).unwrap(), floats);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_scores_every_window_of_a_scorer() {
    let dir = tmpdir("in-run-score");
    let plugin = write(&dir, "ad.wasm", &audio_plugin(false));
    // 4000 samples: windows at 0, 1600 and the tail at 2400 (whole windows by default).
    let mut clip = vec![5i16; 4000];
    clip[1600] = 70;
    clip[2400] = -3;
    let wav = write(&dir, "clip.wav", &wav16(&clip));
    let lines = json_lines(&stdout_ok(&run(&plugin, &wav, &["--json"])));
    let windows: Vec<(f64, f64)> = lines
        .iter()
        .filter(|v| v["type"] == "window")
        .map(|v| {
            (
                v["start_s"].as_f64().unwrap(),
                v["outputs"]["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(windows, [(0.0, 5.0), (0.1, 70.0), (0.15, -3.0)]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["scores"]["score"]["max"], 70.0);
    assert_eq!(summary["scores"]["score"]["max_start_s"], 0.1);
    assert!((summary["scores"]["score"]["mean"].as_f64().unwrap() - 24.0).abs() < 1e-9);
    let text = stdout_ok(&run(&plugin, &wav, &[]));
    assert!(text.contains("00:00.10-00:00.20  score 70.0000"), "{text}");
    assert!(
        text.contains("3 windows: score mean 24.0000, max 70.0000 at 00:00.10-00:00.20"),
        "{text}"
    );
    // A clip shorter than the window: refused for a scorer unless --pad.
    let short = write(&dir, "short.wav", &wav16(&[9; 1000]));
    assert_one_line_error(
        &run(&plugin, &short, &[]),
        &[
            "short.wav",
            "shorter than the plugin's 0.100 s window",
            "--pad",
        ],
    );
    let v: Value =
        serde_json::from_str(&stdout_ok(&run(&plugin, &short, &["--pad", "--json"]))).unwrap();
    assert_eq!(v["outputs"][0]["data"][0], 9.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_refuses_bad_wavs_with_one_line() {
    let dir = tmpdir("in-run-bad");
    let plugin = write(&dir, "kws.wasm", &audio_plugin(true));
    let good = wav16(&[0; 3200]);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "stereo.wav",
            wav_bytes(16_000, 2, 16, &[0; 3200], None),
            vec!["stereo.wav", "2 channels", "16 kHz mono"],
        ),
        (
            "cd.wav",
            wav_bytes(44_100, 1, 16, &[0; 4410], None),
            vec!["cd.wav", "44100 Hz"],
        ),
        (
            "cut-header.wav",
            good[..30].to_vec(),
            vec!["cut-header.wav", "not a valid WAV"],
        ),
        (
            "cut-data.wav",
            good[..1000].to_vec(),
            vec!["cut-data.wav", "truncated"],
        ),
        ("empty.wav", wav16(&[]), vec!["empty.wav", "empty clip"]),
        (
            "notes.txt",
            b"hello".to_vec(),
            vec!["notes.txt", "5 bytes of raw data", "needs 3200", "WAV"],
        ),
        ("zero.wav", Vec::new(), vec!["zero.wav", "needs 3200"]),
    ];
    for (name, bytes, needles) in cases {
        let wav = write(&dir, name, &bytes);
        assert_one_line_error(&run(&plugin, &wav, &[]), &needles);
    }
    let long = write(&dir, "long.wav", &wav16(&[0; 4000]));
    assert_one_line_error(
        &run(&plugin, &long, &["-o", p(&dir.join("o.bin"))]),
        &["--output needs a clip of at most one window"],
    );
    assert_one_line_error(
        &run(&plugin, &long, &["--stride-ms", "0"]),
        &["--stride-ms must be at least 1"],
    );
    assert_one_line_error(
        &run(&plugin, &long, &["--threshold", "2"]),
        &["--threshold must be between 0 and 1"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
