//! QR payloads rendered as PNG images, with no image library beyond the PNG encoder.

use qrcode::{Color, QrCode};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QrError {
    #[error("payload cannot be encoded as a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("png encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Pixels per module: 8 keeps a 2@… payload (about 70 modules) readable on a phone at ~700 px.
const SCALE: usize = 8;
/// The quiet zone the QR specification asks for, in modules.
const QUIET: usize = 4;

/// Renders `payload` exactly (no parsing, no trimming) as a black-on-white greyscale PNG.
pub fn render_png(payload: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(payload.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_square_png() {
        let png_bytes = render_png("2@abc,def,ghi,jkl").unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % SCALE, 0);
    }

    #[test]
    fn an_impossibly_long_payload_is_an_error_not_a_panic() {
        assert!(render_png(&"x".repeat(5000)).is_err());
    }
}
