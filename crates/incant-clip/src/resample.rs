//! Pillow's `Image.resize` for 8-bit RGB images, byte for byte.
//!
//! CLIP's preprocessing resizes with PIL (OpenAI's `clip.load` transform and transformers'
//! PIL image processor both call `Image.resize(..., BICUBIC)`), and one step of 8-bit
//! rounding moves a normalised pixel by ~0.015, far above the 1e-4 a parity test allows. So
//! this module follows Pillow's `Resample.c` algorithm rather than a textbook bicubic:
//!
//! - separable, two passes: horizontal first (only over the rows the vertical pass reads),
//!   then vertical, each pass rounding to `u8`; a pass whose size does not change is skipped;
//! - for output pixel `i`, the source centre is `(i + 0.5) * scale`; when downscaling the
//!   filter is stretched by `scale` (antialiasing), the support is `filter support * scale`;
//!   taps run from `round(centre - support)` to `round(centre + support)` clamped to the image,
//!   each weighted `filter((x - centre + 0.5) / filterscale)`, normalised to sum 1;
//! - weights become fixed-point integers with 22 fractional bits (rounded half away from 0);
//!   a pixel is `(2^21 + sum(w * p)) >> 22`, clamped to 0..=255.
//!
//! The filters are Pillow's: bicubic with `a = -0.5`, bilinear (triangle), Lanczos-3, box
//! and Hamming. Nearest neighbour (0) takes another code path in Pillow and is not offered.

use crate::ClipError;

/// Fixed-point precision of Pillow's 8-bit resampling (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// A Pillow resampling filter (the `resample` number in `preprocessor_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.LANCZOS` (1).
    Lanczos,
    /// `Image.BILINEAR` (2).
    Bilinear,
    /// `Image.BICUBIC` (3), CLIP's.
    Bicubic,
    /// `Image.BOX` (4).
    Box,
    /// `Image.HAMMING` (5).
    Hamming,
}

impl Filter {
    /// The filter for Pillow's number.
    pub fn from_pil(code: u64) -> Result<Self, ClipError> {
        match code {
            1 => Ok(Self::Lanczos),
            2 => Ok(Self::Bilinear),
            3 => Ok(Self::Bicubic),
            4 => Ok(Self::Box),
            5 => Ok(Self::Hamming),
            _ => Err(ClipError::Unsupported(format!(
                "resample {code} (supported: 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)"
            ))),
        }
    }

    fn support(self) -> f64 {
        match self {
            Self::Box => 0.5,
            Self::Bilinear | Self::Hamming => 1.0,
            Self::Bicubic => 2.0,
            Self::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Self::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Self::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let px = x * std::f64::consts::PI;
                    px.sin() / px * (0.54 + 0.46 * px.cos())
                }
            }
            Self::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Self::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = x * std::f64::consts::PI;
        px.sin() / px
    }
}

/// The taps of one output pixel: the first source index and the fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc` for a whole-image box.
fn coefficients(in_size: usize, out_size: usize, filter: Filter) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's `(int)` truncates toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let count = xmax.saturating_sub(xmin);
            let raw: Vec<f64> = (0..count)
                .map(|x| filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = raw.iter().sum();
            let unit = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    if w < 0.0 {
                        (-0.5 + w * unit) as i32
                    } else {
                        (0.5 + w * unit) as i32
                    }
                })
                .collect();
            Taps {
                start: xmin,
                weights,
            }
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes packed RGB bytes (`width * height * 3`) to `out_w x out_h` as Pillow does.
pub fn resize_rgb(
    pixels: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
    filter: Filter,
) -> Vec<u8> {
    let need_h = out_w != width;
    let need_v = out_h != height;
    if !need_h && !need_v {
        return pixels.to_vec();
    }
    let vert = coefficients(height, out_h, filter);
    // The horizontal pass only covers the rows the vertical pass reads.
    let (first_row, last_row) = if need_v {
        let last = vert.last().map_or(height, |t| t.start + t.weights.len());
        (vert[0].start, last)
    } else {
        (0, height)
    };
    let half = 1i64 << (PRECISION_BITS - 1);
    let (src, src_w, row0) = if need_h {
        let horiz = coefficients(width, out_w, filter);
        let rows = last_row - first_row;
        let mut tmp = vec![0u8; out_w * rows * 3];
        for y in 0..rows {
            let row = &pixels[(y + first_row) * width * 3..(y + first_row + 1) * width * 3];
            for (x, taps) in horiz.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = half;
                    for (k, &w) in taps.weights.iter().enumerate() {
                        acc += i64::from(row[(taps.start + k) * 3 + c]) * i64::from(w);
                    }
                    tmp[(y * out_w + x) * 3 + c] = clip8(acc);
                }
            }
        }
        (tmp, out_w, first_row)
    } else {
        (pixels.to_vec(), width, 0)
    };
    if !need_v {
        return src;
    }
    let mut out = vec![0u8; src_w * out_h * 3];
    for (y, taps) in vert.iter().enumerate() {
        for x in 0..src_w {
            for c in 0..3 {
                let mut acc = half;
                for (k, &w) in taps.weights.iter().enumerate() {
                    let sy = taps.start + k - row0;
                    acc += i64::from(src[(sy * src_w + x) * 3 + c]) * i64::from(w);
                }
                out[(y * src_w + x) * 3 + c] = clip8(acc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for filter in [Filter::Bicubic, Filter::Bilinear, Filter::Lanczos] {
            for taps in coefficients(97, 32, filter) {
                let sum: i64 = taps.weights.iter().map(|&w| i64::from(w)).sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= 8,
                    "{filter:?}: {sum}"
                );
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = vec![77u8; 13 * 9 * 3];
        let out = resize_rgb(&img, 13, 9, 5, 20, Filter::Bicubic);
        assert_eq!(out.len(), 5 * 20 * 3);
        assert!(out.iter().all(|&p| p == 77));
    }

    #[test]
    fn same_size_is_a_copy() {
        let img: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8).collect();
        assert_eq!(resize_rgb(&img, 4, 3, 4, 3, Filter::Bicubic), img);
    }
}
