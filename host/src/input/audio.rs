//! WAV clips (16 kHz mono 16-bit PCM) read incrementally and cut into windows.

use super::{InputError, io_error};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The sample rate of every audio input: plugins take 16 kHz mono 16-bit PCM.
pub const AUDIO_SAMPLE_RATE: u32 = 16_000;

/// A WAV clip being read sample by sample: 16 kHz, mono, 16-bit integer PCM, checked when it
/// is opened. Holds no samples itself: [`Windows`] keeps the one window it needs.
pub struct WavStream<R: Read> {
    name: String,
    reader: hound::WavReader<R>,
    frames: u64,
    read: u64,
}

impl<R: Read> std::fmt::Debug for WavStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavStream")
            .field("name", &self.name)
            .field("frames", &self.frames)
            .field("read", &self.read)
            .finish()
    }
}

/// A [`Read`] that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl WavStream<BufReader<File>> {
    /// Opens the WAV file at `path`: the header is read and checked (16 kHz, mono, 16-bit
    /// integer PCM; [`InputError::AudioFormat`] otherwise), and the file's size is checked
    /// against the length the header announces ([`InputError::Truncated`] if it is shorter).
    /// A clip without samples is [`InputError::EmptyClip`].
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let name = path.display().to_string();
        let open = || File::open(path).map_err(|e| io_error(path, e));
        // First pass: the header only, counting its bytes to find where the data starts.
        let file = open()?;
        let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
        let mut counting = Counting {
            inner: BufReader::new(file),
            count: 0,
        };
        let header = WavStream::new(&name, &mut counting)?;
        let announced = header.frames * 2;
        drop(header);
        let data_start = counting.count;
        let available = file_len.saturating_sub(data_start);
        if available < announced {
            return Err(InputError::Truncated {
                path: name,
                detail: format!(
                    "its header announces {} samples ({:.3} s), but the file holds {} ({:.3} s)",
                    announced / 2,
                    seconds(announced / 2),
                    available / 2,
                    seconds(available / 2)
                ),
            });
        }
        WavStream::new(&name, BufReader::new(open()?))
    }
}

impl<R: Read> WavStream<R> {
    /// Reads and checks the WAV header from `reader` (`name` is used in errors). Nothing
    /// past the header is read; a truncated data chunk is found while reading samples.
    pub fn new(name: &str, reader: R) -> Result<Self, InputError> {
        let reader = hound::WavReader::new(reader).map_err(|e| header_error(name, e))?;
        let spec = reader.spec();
        if spec.sample_rate != AUDIO_SAMPLE_RATE
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            let format = match spec.sample_format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            };
            return Err(InputError::AudioFormat {
                path: name.to_string(),
                found: format!(
                    "{} Hz, {} channel{}, {}-bit {format} PCM",
                    spec.sample_rate,
                    spec.channels,
                    if spec.channels == 1 { "" } else { "s" },
                    spec.bits_per_sample
                ),
            });
        }
        let frames = u64::from(reader.duration());
        if frames == 0 {
            return Err(InputError::EmptyClip {
                path: name.to_string(),
            });
        }
        Ok(WavStream {
            name: name.to_string(),
            reader,
            frames,
            read: 0,
        })
    }

    /// The clip's length in samples, as its header announces.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The clip's length in seconds.
    pub fn duration_s(&self) -> f64 {
        seconds(self.frames)
    }

    /// The name errors use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads up to `max` further samples, handing each to `sink`; returns how many were
    /// read (fewer than `max` only at the end of the clip). A data chunk shorter than the
    /// header announces is [`InputError::Truncated`].
    pub fn read_samples(
        &mut self,
        max: usize,
        mut sink: impl FnMut(i16),
    ) -> Result<usize, InputError> {
        let mut n = 0;
        let mut samples = self.reader.samples::<i16>();
        while n < max {
            match samples.next() {
                None => break,
                Some(Ok(s)) => {
                    sink(s);
                    n += 1;
                }
                Some(Err(hound::Error::IoError(e))) if is_eof(&e) => {
                    let read = self.read + n as u64;
                    return Err(InputError::Truncated {
                        path: self.name.clone(),
                        detail: format!(
                            "its header announces {} samples ({:.3} s), but the data ends after {read} ({:.3} s)",
                            self.frames,
                            seconds(self.frames),
                            seconds(read)
                        ),
                    });
                }
                Some(Err(hound::Error::IoError(e))) => {
                    return Err(InputError::Io {
                        path: self.name.clone(),
                        source: e,
                    });
                }
                Some(Err(e)) => {
                    return Err(InputError::NotWav {
                        path: self.name.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        self.read += n as u64;
        Ok(n)
    }
}

fn seconds(samples: u64) -> f64 {
    samples as f64 / f64::from(AUDIO_SAMPLE_RATE)
}

/// Whether hound's I/O error means the data ended early: hound reports that as an error of
/// kind `Other` with the message "Failed to read enough bytes." (hound 3.5), or as
/// `UnexpectedEof`.
fn is_eof(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::UnexpectedEof
        || (e.kind() == std::io::ErrorKind::Other
            && e.to_string() == "Failed to read enough bytes.")
}

fn header_error(name: &str, e: hound::Error) -> InputError {
    let path = name.to_string();
    match e {
        hound::Error::IoError(e) if is_eof(&e) => InputError::NotWav {
            path,
            reason: "the file ends inside the WAV header (empty or truncated file)".into(),
        },
        hound::Error::IoError(source) => InputError::Io { path, source },
        hound::Error::Unsupported => InputError::AudioFormat {
            path,
            found: "a compressed (non-PCM) WAV".into(),
        },
        other => InputError::NotWav {
            path,
            reason: other.to_string(),
        },
    }
}

/// What to do with a clip shorter than one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShortClip {
    /// Zero-pad it at the end to one window (how the KWS model was trained on clips
    /// shorter than 1 s).
    #[default]
    Pad,
    /// Refuse it with [`InputError::ClipTooShort`].
    Refuse,
}

/// How [`Windows`] cuts a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOptions {
    /// Samples per window (at least 1).
    pub window: usize,
    /// Samples between the starts of consecutive windows (at least 1). Larger than
    /// `window` skips audio between windows.
    pub stride: usize,
    /// What to do with a clip shorter than `window`.
    pub short: ShortClip,
}

/// One window of a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioWindow<'a> {
    /// 0 for the first window, then 1, 2, ...
    pub index: u64,
    /// The sample (of the clip) the window starts at.
    pub start: u64,
    /// Samples of the clip in the window: `samples.len()`, or fewer when a short clip was
    /// zero-padded.
    pub valid: usize,
    /// Exactly `window` samples.
    pub samples: &'a [i16],
}

impl AudioWindow<'_> {
    /// Start time in seconds.
    pub fn start_s(&self) -> f64 {
        seconds(self.start)
    }

    /// End time in seconds (of the clip's audio in the window, padding excluded).
    pub fn end_s(&self) -> f64 {
        seconds(self.start + self.valid as u64)
    }

    /// Writes the samples as little-endian bytes into `out` (cleared first): the tensor
    /// data of an `int16` input.
    pub fn le_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.samples.len() * 2);
        for s in self.samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
}

/// Cuts a [`WavStream`] into windows of `window` samples every `stride` samples, reading
/// incrementally: it holds one window of samples, whatever the clip's length.
///
/// Windows start at 0, `stride`, `2*stride`, ... while they fit in the clip; if audio is
/// left after the last of them, one more window ends exactly at the clip's end (so the end
/// is always covered, and no window is padded). A clip shorter than `window` gives one
/// window, zero-padded at the end, or [`InputError::ClipTooShort`] (see [`ShortClip`]).
pub struct Windows<R: Read> {
    stream: WavStream<R>,
    options: WindowOptions,
    /// The last `window` samples read (fewer before the first window).
    ring: VecDeque<i16>,
    /// Samples read so far.
    end: u64,
    next_index: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Windows<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Windows")
            .field("stream", &self.stream)
            .field("options", &self.options)
            .field("end", &self.end)
            .finish()
    }
}

impl<R: Read> Windows<R> {
    /// Windows over `stream`. A zero `window` or `stride` is an error.
    pub fn new(stream: WavStream<R>, options: WindowOptions) -> Result<Self, InputError> {
        if options.window == 0 || options.stride == 0 {
            return Err(InputError::Unsuitable {
                path: stream.name.clone(),
                reason: "the window and the stride must be at least one sample".into(),
            });
        }
        Ok(Windows {
            ring: VecDeque::with_capacity(options.window),
            stream,
            options,
            end: 0,
            next_index: 0,
            done: false,
        })
    }

    /// The clip being read.
    pub fn stream(&self) -> &WavStream<R> {
        &self.stream
    }

    /// How many windows the clip gives, from the length its header announces.
    pub fn count(&self) -> u64 {
        let (frames, w, s) = (
            self.stream.frames,
            self.options.window as u64,
            self.options.stride as u64,
        );
        if frames <= w {
            return 1;
        }
        let full = (frames - w) / s + 1;
        if (frames - w) % s == 0 {
            full
        } else {
            full + 1
        }
    }

    /// The next window, or `None` after the last.
    pub fn next_window(&mut self) -> Result<Option<AudioWindow<'_>>, InputError> {
        if self.done {
            return Ok(None);
        }
        let w = self.options.window;
        let ring = &mut self.ring;
        let mut push = |s: i16| {
            if ring.len() == w {
                ring.pop_front();
            }
            ring.push_back(s);
        };
        let mut valid = w;
        if self.next_index == 0 {
            let n = self.stream.read_samples(w, &mut push)?;
            self.end = n as u64;
            if n == 0 {
                self.done = true;
                return Err(InputError::EmptyClip {
                    path: self.stream.name.clone(),
                });
            }
            if n < w {
                if self.options.short == ShortClip::Refuse {
                    self.done = true;
                    return Err(InputError::ClipTooShort {
                        path: self.stream.name.clone(),
                        clip_s: seconds(n as u64),
                        window_s: seconds(w as u64),
                    });
                }
                self.ring.resize(w, 0);
                self.done = true;
                valid = n;
            }
        } else {
            let n = self.stream.read_samples(self.options.stride, &mut push)?;
            self.end += n as u64;
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            if n < self.options.stride {
                // The tail: one last window ending at the clip's end.
                self.done = true;
            }
        }
        let index = self.next_index;
        self.next_index += 1;
        let start = self.end.saturating_sub(w as u64);
        Ok(Some(AudioWindow {
            index,
            start,
            valid,
            samples: self.ring.make_contiguous(),
        }))
    }
}
