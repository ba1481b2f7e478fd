//! Sensor inputs for `edgeplug run`: WAV audio and PNG/JPEG/PPM images turned into plugin
//! tensors, chosen from the plugin's input spec (not from the file name).
//!
//! - An `int16` input with one non-unit dimension (`[16000]`, `[1, 16000]`, ...) is audio:
//!   16 kHz mono 16-bit PCM read from a WAV file ([`WavStream`]). A clip longer than the
//!   input is cut into windows with a stride ([`Windows`]), read incrementally: only one
//!   window of samples is ever held, whatever the clip's length.
//! - A `uint8` input shaped `[.., H, W, C]` with `C` 1 or 3 (`H`, `W` may be 0: any size) is
//!   an image: PNG, JPEG or PPM/PGM decoded to RGB8 (or 8-bit gray for `C` = 1), shape
//!   `[H, W, C]` with the image's own size ([`decode_image`]); resizing is the plugin's job.
//! - Anything else, and a file that is none of these formats for an input of fixed size, is a
//!   raw tensor: row-major little-endian bytes, exactly the input's size.
//!
//! Every error is an [`InputError`] that names the file and says what was wrong, on one line.

mod audio;
mod image;

pub use audio::{AUDIO_SAMPLE_RATE, AudioWindow, ShortClip, WavStream, WindowOptions, Windows};
pub use image::{DecodedImage, decode_image, decode_image_bytes};

use edgeplug_mcu::{ElementType, TensorSpec};
use std::io::Read;
use std::path::Path;

/// Why an input file could not be turned into a tensor. Displays as one line that names the
/// file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a WAV file (or its header is malformed or cut short).
    #[error("`{path}` is not a valid WAV file: {reason}")]
    NotWav {
        /// The file.
        path: String,
        /// What the WAV reader found wrong.
        reason: String,
    },
    /// The WAV file ends before the end its header announces.
    #[error("`{path}` is truncated: {detail}")]
    Truncated {
        /// The file.
        path: String,
        /// How much the header announced and how much there was.
        detail: String,
    },
    /// The WAV file holds no samples.
    #[error("`{path}` holds no audio samples (empty clip)")]
    EmptyClip {
        /// The file.
        path: String,
    },
    /// The WAV file is not 16 kHz mono 16-bit integer PCM.
    #[error(
        "`{path}` is {found}, but the plugin needs 16 kHz mono 16-bit PCM (convert it first, for example `sox IN.wav -r 16000 -c 1 -b 16 OUT.wav`)"
    )]
    AudioFormat {
        /// The file.
        path: String,
        /// What the file holds, for example `44100 Hz, 2 channels, 16-bit integer PCM`.
        found: String,
    },
    /// The clip is shorter than the plugin's window and [`ShortClip::Refuse`] applies.
    #[error(
        "`{path}` is {clip_s:.3} s long, shorter than the plugin's {window_s:.3} s window; zero-padding it would distort the result (pass --pad to pad it anyway)"
    )]
    ClipTooShort {
        /// The file.
        path: String,
        /// The clip's length in seconds.
        clip_s: f64,
        /// The window's length in seconds.
        window_s: f64,
    },
    /// The file is not an image the decoder accepts (corrupt, truncated or unsupported).
    #[error("`{path}` is not a readable PNG, JPEG or PPM image: {reason}")]
    BadImage {
        /// The file.
        path: String,
        /// What the decoder found wrong.
        reason: String,
    },
    /// The file does not suit the plugin's input (wrong size, format or shape).
    #[error("`{path}`: {reason}")]
    Unsuitable {
        /// The file.
        path: String,
        /// What the input needs and what the file is.
        reason: String,
    },
}

/// What kind of data a plugin input takes, derived from its spec alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputKind {
    /// 16 kHz mono PCM samples (`int16` with one non-unit dimension). `window` is that
    /// dimension's extent in samples, or `None` when it is dynamic (0).
    Audio {
        /// Samples per call, or `None` for any number.
        window: Option<usize>,
    },
    /// An image `[.., H, W, C]` (`uint8`, leading dimensions 1 or dynamic, `C` 1 or 3).
    Image {
        /// Height the plugin requires, or `None` for any.
        height: Option<u32>,
        /// Width the plugin requires, or `None` for any.
        width: Option<u32>,
        /// 1 (gray) or 3 (RGB).
        channels: u32,
    },
    /// Raw little-endian bytes of exactly the input's size.
    Raw,
}

impl InputKind {
    /// The kind of input `spec` describes (see the module documentation for the rules).
    pub fn of(spec: &TensorSpec) -> InputKind {
        let non_unit: Vec<usize> = (0..spec.shape.len())
            .filter(|&i| spec.shape[i] != 1)
            .collect();
        if spec.dtype == ElementType::Int16 && non_unit.len() == 1 {
            let extent = spec.shape[non_unit[0]];
            return InputKind::Audio {
                window: (extent != 0).then_some(extent as usize),
            };
        }
        if spec.dtype == ElementType::Uint8 && spec.shape.len() >= 3 {
            let rank = spec.shape.len();
            let (lead, hwc) = spec.shape.split_at(rank - 3);
            let (h, w, c) = (hwc[0], hwc[1], hwc[2]);
            if (c == 1 || c == 3) && lead.iter().all(|&d| d <= 1) {
                return InputKind::Image {
                    height: (h != 0).then_some(h),
                    width: (w != 0).then_some(w),
                    channels: c,
                };
            }
        }
        InputKind::Raw
    }
}

/// A file format recognized from a file's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    /// RIFF/WAVE.
    Wav,
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// Netpbm (`P1`..`P6`: PBM, PGM, PPM).
    Pnm,
    /// None of these: raw bytes.
    Other,
}

impl FileFormat {
    /// Recognizes a format from the first bytes of a file (12 are enough).
    pub fn sniff(head: &[u8]) -> FileFormat {
        if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
            FileFormat::Wav
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            FileFormat::Png
        } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
            FileFormat::Jpeg
        } else if head.len() >= 3
            && head[0] == b'P'
            && (b'1'..=b'6').contains(&head[1])
            && head[2].is_ascii_whitespace()
        {
            FileFormat::Pnm
        } else {
            FileFormat::Other
        }
    }

    /// Reads the first bytes of `path` and [`sniff`](Self::sniff)s them.
    pub fn of_file(path: &Path) -> Result<FileFormat, InputError> {
        let mut head = [0u8; 12];
        let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(path, e)),
            }
        }
        Ok(FileFormat::sniff(&head[..n]))
    }

    /// A name for messages: `WAV`, `PNG`, `JPEG`, `PPM` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Wav => "WAV",
            FileFormat::Png => "PNG",
            FileFormat::Jpeg => "JPEG",
            FileFormat::Pnm => "PPM",
            FileFormat::Other => "raw",
        }
    }
}

/// One input tensor read from a file: its shape (dynamic dimensions resolved) and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedInput {
    /// The tensor's shape; accepted by the spec it was loaded for.
    pub shape: Vec<u32>,
    /// Row-major little-endian bytes, exactly `shape`'s size.
    pub data: Vec<u8>,
    /// What the file was, for messages (`PNG 640x480`, `raw 490 bytes`, `WAV 1.000 s`).
    pub description: String,
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> InputError {
    InputError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn unsuitable(path: &Path, reason: impl Into<String>) -> InputError {
    InputError::Unsuitable {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn spec_str(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec.shape.iter().map(u32::to_string).collect();
    format!(
        "`{}` ({} [{}])",
        spec.name,
        crate::engine::dtype_name(spec.dtype),
        dims.join(",")
    )
}

/// Reads the file at `path` as one whole input tensor for `spec`: an image for an image
/// input, a WAV clip for an audio input (at most one window long; a shorter clip is handled
/// as `short` says), raw bytes otherwise. For audio inputs longer than one window, use
/// [`WavStream`] and [`Windows`] instead.
///
/// Raw bytes are accepted for any input of fixed shape whose size they match exactly
/// (unless they are recognizably a WAV or image file of the wrong kind for the input).
pub fn load_input(
    path: &Path,
    spec: &TensorSpec,
    short: ShortClip,
) -> Result<LoadedInput, InputError> {
    let format = FileFormat::of_file(path)?;
    let kind = InputKind::of(spec);
    match (kind, format) {
        (InputKind::Audio { window }, FileFormat::Wav) => {
            let stream = WavStream::open(path)?;
            let frames = stream.frames();
            let window = match window {
                Some(w) => w,
                None => {
                    // A dynamic audio input gets the whole clip in one call, within reason.
                    let w = usize::try_from(frames).unwrap_or(usize::MAX);
                    if w > MAX_DYNAMIC_AUDIO_SAMPLES {
                        return Err(unsuitable(
                            path,
                            format!(
                                "the clip is {:.1} s long; plugin input {} takes the whole clip in one call, at most {} s",
                                frames as f64 / f64::from(AUDIO_SAMPLE_RATE),
                                spec_str(spec),
                                MAX_DYNAMIC_AUDIO_SAMPLES / AUDIO_SAMPLE_RATE as usize
                            ),
                        ));
                    }
                    w.max(1)
                }
            };
            if frames > window as u64 {
                return Err(unsuitable(
                    path,
                    format!(
                        "the clip is {:.3} s long, longer than plugin input {} ({:.3} s); with several inputs, clips are not windowed",
                        frames as f64 / f64::from(AUDIO_SAMPLE_RATE),
                        spec_str(spec),
                        window as f64 / f64::from(AUDIO_SAMPLE_RATE)
                    ),
                ));
            }
            let mut windows = Windows::new(
                stream,
                WindowOptions {
                    window,
                    stride: window,
                    short,
                },
            )?;
            let w = windows
                .next_window()?
                .ok_or_else(|| unsuitable(path, "the clip yields no window"))?;
            let description = format!("WAV {:.3} s", w.valid as f64 / f64::from(AUDIO_SAMPLE_RATE));
            let mut shape = spec.shape.clone();
            for d in &mut shape {
                if *d == 0 {
                    *d = window as u32;
                }
            }
            let mut data = Vec::new();
            w.le_bytes(&mut data);
            Ok(LoadedInput {
                shape,
                data,
                description,
            })
        }
        (InputKind::Image { .. }, FileFormat::Png | FileFormat::Jpeg | FileFormat::Pnm) => {
            let img = decode_image(path, kind_channels(kind))?;
            let shape = image_shape(path, spec, kind, &img)?;
            Ok(LoadedInput {
                shape,
                description: format!("{} {}x{}", format.name(), img.width, img.height),
                data: img.pixels,
            })
        }
        _ => load_raw(path, spec, kind, format),
    }
}

/// The most samples a dynamic audio input receives in one call (10 minutes at 16 kHz).
const MAX_DYNAMIC_AUDIO_SAMPLES: usize = 600 * AUDIO_SAMPLE_RATE as usize;

fn kind_channels(kind: InputKind) -> u32 {
    match kind {
        InputKind::Image { channels, .. } => channels,
        _ => 3,
    }
}

/// The tensor shape of `img` for `spec`, or an error if the plugin needs another size.
fn image_shape(
    path: &Path,
    spec: &TensorSpec,
    kind: InputKind,
    img: &DecodedImage,
) -> Result<Vec<u32>, InputError> {
    let InputKind::Image { height, width, .. } = kind else {
        return Err(unsuitable(path, "not an image input"));
    };
    if height.is_some_and(|h| h != img.height) || width.is_some_and(|w| w != img.width) {
        return Err(unsuitable(
            path,
            format!(
                "the image is {}x{} (width x height), but plugin input {} needs {}x{}; resize it first",
                img.width,
                img.height,
                spec_str(spec),
                width.map_or("any".to_string(), |w| w.to_string()),
                height.map_or("any".to_string(), |h| h.to_string())
            ),
        ));
    }
    let rank = spec.shape.len();
    let mut shape: Vec<u32> = spec.shape[..rank - 3].iter().map(|_| 1).collect();
    shape.extend([img.height, img.width, img.channels]);
    Ok(shape)
}

fn load_raw(
    path: &Path,
    spec: &TensorSpec,
    kind: InputKind,
    format: FileFormat,
) -> Result<LoadedInput, InputError> {
    let expected = spec.byte_len().unwrap_or(usize::MAX);
    let len = std::fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .len();
    if !spec.is_dynamic() && len == expected as u64 {
        // Exactly the input's size: raw bytes, even if they happen to start like a header.
        let data = std::fs::read(path).map_err(|e| io_error(path, e))?;
        return Ok(LoadedInput {
            shape: spec.shape.clone(),
            description: format!("raw {} bytes", data.len()),
            data,
        });
    }
    let wrong_kind = match (kind, format) {
        (InputKind::Audio { .. }, FileFormat::Png | FileFormat::Jpeg | FileFormat::Pnm) => {
            Some("an image, but it is an audio input (give a WAV file)")
        }
        (InputKind::Image { .. }, FileFormat::Wav) => {
            Some("a WAV file, but it is an image input (give a PNG, JPEG or PPM image)")
        }
        (InputKind::Raw, FileFormat::Wav) => {
            Some("a WAV file, but it takes neither audio nor images: give a raw tensor")
        }
        (InputKind::Raw, FileFormat::Png | FileFormat::Jpeg | FileFormat::Pnm) => {
            Some("an image, but it takes neither audio nor images: give a raw tensor")
        }
        _ => None,
    };
    if let Some(why) = wrong_kind {
        return Err(unsuitable(
            path,
            format!(
                "the file is {} for plugin input {}: {why}",
                format.name(),
                spec_str(spec)
            ),
        ));
    }
    if spec.is_dynamic() {
        let what = match kind {
            InputKind::Audio { .. } => "a WAV file",
            InputKind::Image { .. } => "a PNG, JPEG or PPM image",
            InputKind::Raw => "a tensor of fixed shape",
        };
        return Err(unsuitable(
            path,
            format!(
                "not {what}; plugin input {} has a dynamic shape, so raw bytes cannot be used",
                spec_str(spec)
            ),
        ));
    }
    let hint = match kind {
        InputKind::Audio { .. } => " (or a WAV file)",
        InputKind::Image { .. } => " (or a PNG, JPEG or PPM image)",
        InputKind::Raw => "",
    };
    Err(unsuitable(
        path,
        format!(
            "has {len} bytes of raw data, but plugin input {} needs {expected}{hint}",
            spec_str(spec)
        ),
    ))
}
