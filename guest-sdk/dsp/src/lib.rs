//! Audio front ends of the MLPerf Tiny int8 models, in float32, `no_std` + `alloc`.
//!
//! - [`KwsFrontend`]: keyword spotting (DS-CNN). One second of 16 kHz int16 PCM in,
//!   `[49][10]` int8 MFCCs out, exactly as TensorFlow's `tf.signal` computes them.
//! - [`image`]: integer bilinear resizing of 8-bit images to an image model's input size
//!   and the uint8-to-int8 input mapping of the MLPerf Tiny image models.
//! - [`AdFrontend`]: anomaly detection (FC autoencoder). A 10 s clip in, `[200][128]`
//!   librosa log-mel features out, the 196 int8 model inputs, and the anomaly score from
//!   the model outputs.
//!
//! ```
//! use edgeplug_dsp::{AdFrontend, KwsFrontend, ad, kws};
//!
//! // KWS: one 1 s window of 16 kHz mono int16 audio -> the model input [1, 49, 10, 1].
//! let kws_fe = KwsFrontend::new(); // computes the tables once
//! let pcm: Vec<i16> = (0..16_000).map(|n| ((n as f32 * 0.2).sin() * 8000.0) as i16).collect();
//! let mut features = [0i8; kws::FEATURES];
//! kws_fe.compute(&pcm, &mut features)?;
//!
//! // Digital silence: c0 = -123.57 (int8 -128), c1..c9 = 0 (int8 83) in every frame.
//! kws_fe.compute(&[0i16; 16_000], &mut features)?;
//! assert_eq!(&features[..3], &[-128, 83, 83]);
//!
//! // AD: a 10 s clip -> 200 x 128 float features -> 196 int8 windows of 640.
//! let ad_fe = AdFrontend::new();
//! let clip: Vec<i16> = (0..160_000).map(|n| ((n * 7919) % 2001) as i16 - 1000).collect();
//! let mut logmel = vec![0f32; ad::FEATURES];
//! ad_fe.logmel(&clip, &mut logmel)?;
//! let mut input = [0i8; ad::WINDOW_LEN];
//! ad_fe.quantize(ad::window(&logmel, 0)?, &mut input)?;
//! // ... run the model on `input` to get `output`, then:
//! let output = [96i8; ad::WINDOW_LEN]; // (a model that outputs 0.0 everywhere)
//! let score = ad_fe.window_score(&output, ad::window(&logmel, 0)?)?;
//! assert!(score > 0.0);
//! # Ok::<(), edgeplug_dsp::DspError>(())
//! ```
//!
//! # Exactness
//!
//! Both pipelines follow `../shared/frontends/FRONTENDS.md` step by step in float32
//! (tables are computed in float32 or float64 exactly as TensorFlow and librosa compute
//! them). The FFT is `microfft`'s; the math functions are `libm`'s on every target, so
//! a gateway and a microcontroller compute the same bits (Rust never fuses
//! multiply-adds implicitly). Against the TensorFlow/librosa reference vectors the
//! features agree to float32 rounding; see the crate's tests for the measured
//! differences.
//!
//! # The all-zero KWS clip
//!
//! Upstream normalizes by `max(x)` with no guard, so digital silence gives NaN. This
//! crate skips the normalization when `max(x) == 0`, as the shared reference
//! (`kws_edge_digital_zero`) does: see [`kws`].
//!
//! # Features
//!
//! - `std` (off by default): links `std`. Nothing else depends on it; everything works
//!   without it ([`DspError`] implements `core::error::Error`).
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod ad;
mod error;
pub mod image;
pub mod kws;
mod mel;
mod quant;

pub use ad::AdFrontend;
pub use error::DspError;
pub use kws::{KwsFrontend, KwsStage};
pub use quant::Quant;
