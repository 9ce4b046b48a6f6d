//! clean-fid's "clean" preprocessing: how an image becomes Inception's 299 x 299 input.
//!
//! Parmar et al. ("On Aliased Resizing and Surprising Subtleties in GAN Evaluation", 2022)
//! showed that FID moves with the resize library and with the quantisation after it. Their
//! clean-fid fixes one recipe, implemented here:
//!
//! 1. decode to 8-bit RGB (grey and palette images converted to RGB; the caller decodes);
//! 2. per channel, convert to `float32` and resize to 299 x 299 with PIL's antialiasing
//!    bicubic in "F" mode ([`crate::resize::resize_bicubic_f32`]) — no rounding back to
//!    `uint8` afterwards;
//! 3. clip to `[0, 255]` (bicubic overshoots at edges);
//! 4. the network input is `(x - 128) / 128` ([`inception_input`]), as clean-fid's
//!    Inception wrapper applies before its first convolution.
//!
//! pytorch-fid instead resizes a `uint8` image bilinearly inside the network and scales by
//! `2x/255 - 1`; that legacy path is not reproduced here.

use crate::error::{MetricsError, Result};
use crate::resize::resize_bicubic_f32;

/// Side of Inception's square input.
pub const INCEPTION_SIZE: usize = 299;

/// An interleaved 8-bit RGB image resized channel by channel as floats, clipped to
/// `[0, 255]`; returns planar `3 x out_height x out_width` values (CHW).
pub fn resize_rgb_float(
    rgb: &[u8],
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
) -> Result<Vec<f32>> {
    if rgb.len() != width * height * 3 {
        return Err(MetricsError::Image {
            what: "to resize".into(),
            detail: format!(
                "{} bytes for {width} x {height} RGB, expected {} (3 bytes per pixel)",
                rgb.len(),
                width * height * 3
            ),
        });
    }
    let mut out = Vec::with_capacity(3 * out_width * out_height);
    for c in 0..3 {
        let channel: Vec<f32> = rgb
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| f32::from(v))
            .collect();
        let resized = resize_bicubic_f32(&channel, width, height, out_width, out_height)?;
        out.extend(resized.into_iter().map(|v| v.clamp(0.0, 255.0)));
    }
    Ok(out)
}

/// clean-fid's preprocessing to 299 x 299: planar CHW floats in `[0, 255]`.
pub fn clean_fid_resize(rgb: &[u8], width: usize, height: usize) -> Result<Vec<f32>> {
    resize_rgb_float(rgb, width, height, INCEPTION_SIZE, INCEPTION_SIZE)
}

/// The Inception network input from [`clean_fid_resize`]'s output: `(x - 128) / 128`.
pub fn inception_input(resized: &[f32]) -> Vec<f32> {
    resized.iter().map(|v| (v - 128.0) / 128.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_sizes_are_errors() {
        let err = resize_rgb_float(&[0; 10], 2, 2, 4, 4).unwrap_err();
        assert!(
            err.to_string()
                .contains("10 bytes for 2 x 2 RGB, expected 12"),
            "{err}"
        );
        assert!(resize_rgb_float(&[], 0, 2, 4, 4).is_err());
    }

    #[test]
    fn output_is_planar_and_clipped() {
        // A hard black/white edge overshoots under bicubic; the clip keeps it in range.
        let mut rgb = Vec::new();
        for x in 0..8 {
            let v = if x < 4 { 0 } else { 255 };
            rgb.extend([v, 255 - v, 7]);
        }
        let out = resize_rgb_float(&rgb, 8, 1, 13, 1).unwrap();
        assert_eq!(out.len(), 3 * 13);
        assert!(out.iter().all(|v| (0.0..=255.0).contains(v)));
        assert_eq!(out[0], 0.0);
        assert_eq!(out[13], 255.0);
        assert!(out[26..].iter().all(|v| (v - 7.0).abs() < 1e-4));
        assert_eq!(
            inception_input(&[0.0, 128.0, 255.0]),
            vec![-1.0, 0.0, 127.0 / 128.0]
        );
    }
}
