//! PIL's bicubic resampling of a float ("F" mode) image, step for step.
//!
//! clean-fid resizes each channel as a `float32` PIL image, so the resize that FID sees is
//! Pillow's `Resample.c`: a separable convolution, horizontal pass then vertical pass, with
//! the bicubic kernel (`a = -0.5`, support 2) stretched by the scale factor when
//! downsampling (an antialiasing filter, unlike OpenCV's or PyTorch's bicubic), weights
//! normalised per output pixel, sums in `f64` and the intermediate image stored as `f32`.

use crate::error::{MetricsError, Result};

/// Pillow's `bicubic_filter` with `a = -0.5`.
fn bicubic(x: f64) -> f64 {
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

/// Per output pixel: the first input index and its normalised weights (`precompute_coeffs`).
struct Coefficients {
    first: Vec<usize>,
    weights: Vec<Vec<f64>>,
}

fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    const SUPPORT: f64 = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = SUPPORT * filter_scale;
    let mut first = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's `(int)` truncates towards zero; negatives are clamped to 0 right after.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let mut w: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
            .collect();
        let total: f64 = w.iter().sum();
        if total != 0.0 {
            w.iter_mut().for_each(|v| *v /= total);
        }
        first.push(xmin);
        weights.push(w);
    }
    Coefficients { first, weights }
}

/// Resizes a row-major `width x height` float image to `out_width x out_height` exactly as
/// `Image.fromarray(x.astype(np.float32), mode="F").resize((out_width, out_height), BICUBIC)`.
pub fn resize_bicubic_f32(
    pixels: &[f32],
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
) -> Result<Vec<f32>> {
    if width == 0 || height == 0 || out_width == 0 || out_height == 0 {
        return Err(MetricsError::Image {
            what: "to resize".into(),
            detail: format!(
                "{width} x {height} to {out_width} x {out_height}: sizes must be positive"
            ),
        });
    }
    if pixels.len() != width * height {
        return Err(MetricsError::Image {
            what: "to resize".into(),
            detail: format!("{} values for {width} x {height} pixels", pixels.len()),
        });
    }
    // Pillow skips a pass whose size does not change (the box is always the whole image).
    let horizontal = if out_width != width {
        let c = coefficients(width, out_width);
        let mut out = vec![0f32; out_width * height];
        for y in 0..height {
            let row = &pixels[y * width..(y + 1) * width];
            for (xx, (first, w)) in c.first.iter().zip(&c.weights).enumerate() {
                let ss: f64 = w
                    .iter()
                    .zip(&row[*first..])
                    .map(|(k, &p)| f64::from(p) * k)
                    .sum();
                out[y * out_width + xx] = ss as f32;
            }
        }
        out
    } else {
        pixels.to_vec()
    };
    if out_height == height {
        return Ok(horizontal);
    }
    let c = coefficients(height, out_height);
    let mut out = vec![0f32; out_width * out_height];
    for (yy, (first, w)) in c.first.iter().zip(&c.weights).enumerate() {
        for xx in 0..out_width {
            let ss: f64 = w
                .iter()
                .enumerate()
                .map(|(i, k)| f64::from(horizontal[(first + i) * out_width + xx]) * k)
                .sum();
            out[yy * out_width + xx] = ss as f32;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_images_stay_constant() {
        let img = vec![42.5f32; 7 * 5];
        for (w, h) in [(3, 2), (20, 11), (7, 9)] {
            let out = resize_bicubic_f32(&img, 7, 5, w, h).unwrap();
            assert!(
                out.iter().all(|v| (v - 42.5).abs() < 1e-4),
                "{w}x{h}: {out:?}"
            );
        }
    }

    #[test]
    fn same_size_is_identity() {
        let img: Vec<f32> = (0..12).map(|v| v as f32 * 1.5).collect();
        assert_eq!(resize_bicubic_f32(&img, 4, 3, 4, 3).unwrap(), img);
        assert!(resize_bicubic_f32(&img, 4, 2, 4, 3).is_err());
        assert!(resize_bicubic_f32(&img, 4, 3, 0, 3).is_err());
    }

    #[test]
    fn kernel_matches_its_definition() {
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(2.0), 0.0);
        assert!((bicubic(0.5) - 0.5625).abs() < 1e-15);
        assert!((bicubic(-1.5) + 0.0625).abs() < 1e-15);
    }
}
