//! PNG, JPEG and PPM images decoded to 8-bit RGB (or gray) pixels.

use super::{InputError, io_error};
use std::path::Path;

/// A decoded image: `height` rows of `width` pixels of `channels` bytes, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per pixel: 3 (RGB) or 1 (gray).
    pub channels: u32,
    /// `height * width * channels` bytes: the tensor data of shape `[height, width, channels]`.
    pub pixels: Vec<u8>,
}

/// Decodes the PNG, JPEG or PPM/PGM file at `path` (format from its content, not its name)
/// to RGB8 (`channels` 3) or 8-bit gray (`channels` 1). Corrupt, truncated or unsupported
/// files are [`InputError::BadImage`].
pub fn decode_image(path: &Path, channels: u32) -> Result<DecodedImage, InputError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    decode_image_bytes(&path.display().to_string(), &bytes, channels)
}

/// [`decode_image`] on bytes in memory; `name` is used in errors.
pub fn decode_image_bytes(
    name: &str,
    bytes: &[u8],
    channels: u32,
) -> Result<DecodedImage, InputError> {
    let bad = |reason: String| InputError::BadImage {
        path: name.to_string(),
        reason,
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let format = reader.format().ok_or_else(|| {
        bad("the format is not recognized (expected PNG, JPEG or PPM)".to_string())
    })?;
    if !matches!(
        format,
        image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::Pnm
    ) {
        return Err(bad(format!("{format:?} images are not supported")));
    }
    let img = reader.decode().map_err(|e| bad(one_line(&e.to_string())))?;
    let (width, height) = (img.width(), img.height());
    let pixels = match channels {
        1 => img.into_luma8().into_raw(),
        _ => img.into_rgb8().into_raw(),
    };
    Ok(DecodedImage {
        width,
        height,
        channels: if channels == 1 { 1 } else { 3 },
        pixels,
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
