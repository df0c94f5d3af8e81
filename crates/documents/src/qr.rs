//! QR codes as SVG text, which templates place with `image(bytes(..), format: "svg")`: no file
//! per code, so a batch of any size uses a fixed set of typst file ids.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::DocumentError;

/// An SVG of `payload` at error-correction level M (survives a crease or a smudge on paper).
pub fn svg(payload: &str) -> Result<String, DocumentError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| DocumentError::Qr(e.to_string()))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}
