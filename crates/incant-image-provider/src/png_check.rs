//! Checking that what a server sent back is a PNG, and decoding base64 images.
//!
//! incant stores, hashes and compares PNG files, so bytes in another format must not slip
//! through as if they were one: A1111 encodes its API images in its `samples_format`
//! setting (JPEG and WebP are common choices), ComfyUI workflows can save WebP, and a
//! proxy can answer an HTML error page with status 200. The PNG signature and header are
//! decoded (the image's size comes from there); anything else is an error that names the
//! format it looks like.

use crate::ImageError;
use base64::Engine;

/// Width and height from a PNG's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Checks that `bytes` are a PNG; `what` names the image in errors ("image 2 from
/// a1111:http://..."), `hint` says how to get PNGs from that server.
pub fn check_png(bytes: &[u8], what: &str, hint: &str) -> Result<PngInfo, ImageError> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        };
        return Err(ImageError::Call(format!(
            "{what} is {}, not a PNG{hint}",
            sniff(bytes)
        )));
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder
        .read_info()
        .map_err(|e| ImageError::Call(format!("{what} is not a valid PNG: {e}")))?;
    let info = reader.info();
    Ok(PngInfo {
        width: info.width,
        height: info.height,
    })
}

/// What a non-PNG file looks like, from its first bytes.
pub fn sniff(bytes: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.is_empty() {
        "empty"
    } else if starts(b"\xff\xd8\xff") {
        "a JPEG"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "a WebP image"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "a GIF"
    } else if starts(b"BM") {
        "a BMP image"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "a TIFF image"
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        match &bytes[8..12] {
            b"avif" | b"avis" => "an AVIF image",
            _ => "a HEIF/MP4 file",
        }
    } else if starts(b"\x00\x00\x00\x0cjXL ") || starts(b"\xff\x0a") {
        "a JPEG XL image"
    } else {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
        let t = text.trim_start().to_ascii_lowercase();
        if t.starts_with("<!doctype html") || t.starts_with("<html") {
            "an HTML page"
        } else if t.starts_with('{') || t.starts_with('[') {
            "JSON"
        } else {
            "not an image format incant knows"
        }
    }
}

/// Decodes a base64 image as servers send it: plain, or as a `data:` URL.
pub fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, ImageError> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map_or(rest, |(_, data)| data),
        None => text,
    };
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| ImageError::Call(format!("{what} is not valid base64: {e}")))
}

/// Encodes bytes as standard base64 (HTTP basic auth).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&vec![200; (w * h * 3) as usize])
            .unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn a_png_reports_its_size() {
        let info = check_png(&tiny_png(3, 2), "image 1", "").unwrap();
        assert_eq!(
            info,
            PngInfo {
                width: 3,
                height: 2
            }
        );
    }

    #[test]
    fn other_formats_are_named() {
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F'];
        let err = check_png(&jpeg, "image 1 from a1111", "set samples_format to png");
        assert_eq!(
            err.unwrap_err().to_string(),
            "image 1 from a1111 is a JPEG, not a PNG (set samples_format to png)"
        );
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), "a WebP image");
        assert_eq!(sniff(b"GIF89a..."), "a GIF");
        assert_eq!(sniff(b"\n<!DOCTYPE html><html>"), "an HTML page");
        assert_eq!(sniff(b""), "empty");
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), "an AVIF image");
    }

    #[test]
    fn a_corrupt_header_is_an_error() {
        let mut png = tiny_png(2, 2);
        png[20] ^= 0xff; // inside IHDR: the CRC no longer matches
        let err = check_png(&png, "image 1", "").unwrap_err().to_string();
        assert!(err.starts_with("image 1 is not a valid PNG"), "{err}");
    }

    #[test]
    fn base64_plain_and_data_urls() {
        let png = tiny_png(1, 1);
        let b64 = encode_base64(&png);
        assert_eq!(decode_base64(&b64, "x").unwrap(), png);
        let url = format!("data:image/png;base64,{b64}");
        assert_eq!(decode_base64(&url, "x").unwrap(), png);
        let err = decode_base64("not base64!", "image 1").unwrap_err();
        assert!(err.to_string().starts_with("image 1 is not valid base64"));
    }
}
