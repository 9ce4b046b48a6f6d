//! CLIP image preprocessing: `preprocessor_config.json` and the pixel values it produces,
//! as transformers' `CLIPImageProcessor` computes them with its PIL backend
//! (`CLIPImageProcessorPil` in transformers 5, the only backend in 4.x).
//!
//! The steps, each one optional as the config says:
//! 1. resize with Pillow (`resample`, bicubic for CLIP; [`crate::resample`]) so the shortest
//!    side is `size.shortest_edge` and the other is `int(shortest * long / short)`, or to
//!    `size.height x size.width`;
//! 2. center-crop to `crop_size` (top `(h - crop_h) // 2`, left `(w - crop_w) // 2`); a crop
//!    larger than the image pads it with zeros first, centred, as transformers does;
//! 3. rescale by `rescale_factor` (1/255);
//! 4. normalise per channel with `image_mean` / `image_std` (OpenAI's CLIP statistics).
//!
//! Input is 8-bit RGB ([`image::RgbImage`]): [`crate::decode_png`] drops an alpha channel and
//! widens grey as PIL's `convert("RGB")` does. transformers 5's default `CLIPImageProcessor`
//! resizes with torchvision instead; on the test images its pixel values differ from PIL's by
//! up to one 8-bit step (0.015 after normalisation), which is why this follows PIL, the
//! preprocessing CLIP was trained and evaluated with.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::resample::{resize_rgb, Filter};
use crate::ClipError;

/// OpenAI CLIP's per-channel mean (`OPENAI_CLIP_MEAN`).
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel standard deviation (`OPENAI_CLIP_STD`).
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The target of the resize step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    /// The shortest side becomes this; the aspect ratio is kept.
    ShortestEdge(usize),
    /// Exactly this height and width.
    Exact { height: usize, width: usize },
}

/// A parsed `preprocessor_config.json`.
#[derive(Debug, Clone)]
pub struct ImageProcessor {
    pub resize: Option<ResizeTo>,
    pub filter: Filter,
    /// `(height, width)` of the center crop, if any.
    pub crop: Option<(usize, usize)>,
    pub rescale_factor: Option<f64>,
    /// `(mean, std)` per channel, if normalising.
    pub normalize: Option<([f64; 3], [f64; 3])>,
}

#[derive(Deserialize)]
struct RawProcessor {
    #[serde(default = "yes")]
    do_resize: bool,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    resample: Option<u64>,
    #[serde(default = "yes")]
    do_center_crop: bool,
    #[serde(default)]
    crop_size: Option<Value>,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default)]
    rescale_factor: Option<f64>,
    #[serde(default = "yes")]
    do_normalize: bool,
    #[serde(default)]
    image_mean: Option<Value>,
    #[serde(default)]
    image_std: Option<Value>,
}

fn yes() -> bool {
    true
}

impl ImageProcessor {
    /// transformers' `CLIPImageProcessor` defaults with the resize and crop set to the vision
    /// tower's `image_size` (224 for the published models): what a folder without
    /// `preprocessor_config.json` gets.
    pub fn clip_default(image_size: usize) -> Self {
        Self {
            resize: Some(ResizeTo::ShortestEdge(image_size)),
            filter: Filter::Bicubic,
            crop: Some((image_size, image_size)),
            rescale_factor: Some(1.0 / 255.0),
            normalize: Some((CLIP_MEAN, CLIP_STD)),
        }
    }

    /// Reads `preprocessor_config.json`; keys it leaves out take `CLIPImageProcessor`'s
    /// defaults.
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ClipError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the text of a `preprocessor_config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawProcessor = serde_json::from_str(text)
            .map_err(|e| format!("not an image processor config: {e}"))?;
        let resize = if raw.do_resize {
            Some(match raw.size {
                None => ResizeTo::ShortestEdge(224),
                Some(v) => parse_resize(&v)?,
            })
        } else {
            None
        };
        let filter = Filter::from_pil(raw.resample.unwrap_or(3)).map_err(|e| e.to_string())?;
        let crop = if raw.do_center_crop {
            Some(match raw.crop_size {
                None => (224, 224),
                Some(v) => parse_crop(&v)?,
            })
        } else {
            None
        };
        let rescale_factor = raw
            .do_rescale
            .then(|| raw.rescale_factor.unwrap_or(1.0 / 255.0));
        let normalize = if raw.do_normalize {
            let mean = channels("image_mean", raw.image_mean, CLIP_MEAN)?;
            let std = channels("image_std", raw.image_std, CLIP_STD)?;
            if std.contains(&0.0) {
                return Err("image_std has a zero entry".into());
            }
            Some((mean, std))
        } else {
            None
        };
        Ok(Self {
            resize,
            filter,
            crop,
            rescale_factor,
            normalize,
        })
    }

    /// The `(height, width)` of the pixel values an image of `height x width` becomes.
    pub fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        let (h, w) = self.resized_size(height, width);
        self.crop.unwrap_or((h, w))
    }

    fn resized_size(&self, height: usize, width: usize) -> (usize, usize) {
        match self.resize {
            None => (height, width),
            Some(ResizeTo::Exact { height, width }) => (height, width),
            Some(ResizeTo::ShortestEdge(s)) => {
                let (short, long) = if width <= height {
                    (width, height)
                } else {
                    (height, width)
                };
                // Python's int(s * long / short): a float division, truncated.
                let new_long = (s as f64 * long as f64 / short as f64) as usize;
                if width <= height {
                    (new_long, s)
                } else {
                    (s, new_long)
                }
            }
        }
    }

    /// The pixel values of one image, channel-major (`3 x height x width`, as
    /// `pixel_values[i]`).
    pub fn preprocess(&self, image: &image::RgbImage) -> Result<Vec<f32>, ClipError> {
        let (w0, h0) = (image.width() as usize, image.height() as usize);
        if w0 == 0 || h0 == 0 {
            return Err(ClipError::BadImage("the image is empty (0 pixels)".into()));
        }
        let (h, w) = self.resized_size(h0, w0);
        if h == 0 || w == 0 {
            return Err(ClipError::BadImage(format!(
                "a {w0}x{h0} image resizes to {w}x{h}, which is empty"
            )));
        }
        let pixels = resize_rgb(image.as_raw(), w0, h0, w, h, self.filter);
        let (ch, cw) = self.crop.unwrap_or((h, w));
        let cropped = center_crop(&pixels, h, w, ch, cw);
        let mut out = vec![0f32; 3 * ch * cw];
        for c in 0..3 {
            for i in 0..ch * cw {
                let mut v = f64::from(cropped[i * 3 + c]);
                if let Some(f) = self.rescale_factor {
                    // transformers rescales in f64 and stores f32.
                    v = f64::from((v * f) as f32);
                }
                if let Some((mean, std)) = &self.normalize {
                    v = (v - mean[c]) / std[c];
                }
                out[c * ch * cw + i] = v as f32;
            }
        }
        Ok(out)
    }
}

/// transformers' `center_crop` on packed RGB: crop, or zero-pad then crop when the crop is
/// larger than the image.
fn center_crop(pixels: &[u8], h: usize, w: usize, ch: usize, cw: usize) -> Vec<u8> {
    let (h_i, w_i, ch_i, cw_i) = (h as i64, w as i64, ch as i64, cw as i64);
    let mut top = (h_i - ch_i).div_euclid(2);
    let mut left = (w_i - cw_i).div_euclid(2);
    let (mut pad_top, mut pad_left) = (0, 0);
    if top < 0 || left < 0 {
        // Python: new = max(crop, orig); pad = ceil((new - orig) / 2); shift the box.
        let new_h = ch_i.max(h_i);
        let new_w = cw_i.max(w_i);
        pad_top = (new_h - h_i + 1) / 2;
        pad_left = (new_w - w_i + 1) / 2;
        top += pad_top;
        left += pad_left;
    }
    let mut out = vec![0u8; ch * cw * 3];
    for y in 0..ch_i {
        let sy = y + top - pad_top;
        if sy < 0 || sy >= h_i {
            continue;
        }
        for x in 0..cw_i {
            let sx = x + left - pad_left;
            if sx < 0 || sx >= w_i {
                continue;
            }
            let src = ((sy * w_i + sx) * 3) as usize;
            let dst = ((y * cw_i + x) * 3) as usize;
            out[dst..dst + 3].copy_from_slice(&pixels[src..src + 3]);
        }
    }
    out
}

fn as_size(v: &Value, key: &str) -> Result<usize, String> {
    v.as_u64()
        .filter(|&n| n > 0)
        .map(|n| n as usize)
        .ok_or_else(|| format!("{key} must be a positive integer, got {v}"))
}

fn parse_resize(v: &Value) -> Result<ResizeTo, String> {
    if v.is_u64() {
        // An int means the shortest edge for CLIP (`default_to_square=False`).
        return Ok(ResizeTo::ShortestEdge(as_size(v, "size")?));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| format!("size must be an integer or an object, got {v}"))?;
    if obj.contains_key("longest_edge") {
        return Err(
            "size.longest_edge is not supported (CLIP resizes by the shortest edge)".into(),
        );
    }
    if let Some(s) = obj.get("shortest_edge") {
        return Ok(ResizeTo::ShortestEdge(as_size(s, "size.shortest_edge")?));
    }
    match (obj.get("height"), obj.get("width")) {
        (Some(h), Some(w)) => Ok(ResizeTo::Exact {
            height: as_size(h, "size.height")?,
            width: as_size(w, "size.width")?,
        }),
        _ => Err(format!(
            "size must have shortest_edge, or height and width; got {v}"
        )),
    }
}

fn parse_crop(v: &Value) -> Result<(usize, usize), String> {
    if v.is_u64() {
        let s = as_size(v, "crop_size")?;
        return Ok((s, s));
    }
    match (v.get("height"), v.get("width")) {
        (Some(h), Some(w)) => Ok((
            as_size(h, "crop_size.height")?,
            as_size(w, "crop_size.width")?,
        )),
        _ => Err(format!(
            "crop_size must be an integer or have height and width; got {v}"
        )),
    }
}

fn channels(key: &str, v: Option<Value>, default: [f64; 3]) -> Result<[f64; 3], String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            Ok([x; 3])
        }
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0.0; 3];
            for (o, x) in out.iter_mut().zip(&a) {
                *o = x
                    .as_f64()
                    .ok_or_else(|| format!("{key} must hold numbers, got {x}"))?;
            }
            Ok(out)
        }
        Some(other) => Err(format!(
            "{key} must be a number or 3 numbers (RGB), got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_edge_sizes_truncate() {
        let p = ImageProcessor::clip_default(224);
        assert_eq!(p.resized_size(480, 640), (224, 298));
        assert_eq!(p.resized_size(640, 480), (298, 224));
        assert_eq!(p.output_size(640, 480), (224, 224));
    }

    #[test]
    fn legacy_int_sizes() {
        let p = ImageProcessor::from_json(r#"{"size": 336, "crop_size": 336}"#).unwrap();
        assert_eq!(p.resize, Some(ResizeTo::ShortestEdge(336)));
        assert_eq!(p.crop, Some((336, 336)));
        assert_eq!(p.filter, Filter::Bicubic);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ImageProcessor::from_json(r#"{"image_mean": [0.5, 0.5]}"#).unwrap_err();
        assert!(e.contains("image_mean"), "{e}");
        let e = ImageProcessor::from_json(r#"{"resample": 0}"#).unwrap_err();
        assert!(e.contains("resample 0"), "{e}");
        let e = ImageProcessor::from_json(r#"{"size": {"longest_edge": 3}}"#).unwrap_err();
        assert!(e.contains("longest_edge"), "{e}");
    }

    #[test]
    fn crop_pads_when_larger() {
        // A 1x2 image into a 3x2 crop: one zero row above and below.
        let px = [1, 1, 1, 2, 2, 2];
        let out = center_crop(&px, 1, 2, 3, 2);
        assert_eq!(
            out,
            vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0]
        );
    }
}
