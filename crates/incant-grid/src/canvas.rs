//! An RGB raster: the few drawing operations sheets and plots need, and PNG in and out.
//!
//! Cells arrive as PNG bytes in any colour type; they are decoded to 8-bit RGB (alpha
//! composited over white), resized when a provider returned a different size than the
//! first cell, and pasted into the sheet. Lines are anti-aliased by distance to the
//! segment so that curve plots read well at small sizes.

use crate::GridError;

/// An 8-bit RGB image, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Canvas {
    pub w: u32,
    pub h: u32,
    pub px: Vec<u8>,
}

pub(crate) type Rgb = [u8; 3];
pub(crate) const WHITE: Rgb = [255, 255, 255];
pub(crate) const BLACK: Rgb = [0, 0, 0];

impl Canvas {
    pub fn new(w: u32, h: u32, fill: Rgb) -> Self {
        let mut px = Vec::with_capacity(w as usize * h as usize * 3);
        for _ in 0..(w as usize * h as usize) {
            px.extend_from_slice(&fill);
        }
        Self { w, h, px }
    }

    fn offset(&self, x: u32, y: u32) -> usize {
        (y as usize * self.w as usize + x as usize) * 3
    }

    pub fn get(&self, x: u32, y: u32) -> Rgb {
        let o = self.offset(x, y);
        [self.px[o], self.px[o + 1], self.px[o + 2]]
    }

    /// Blends `color` over pixel (x, y) with coverage `a` in 0..=1; outside pixels are skipped.
    pub fn blend(&mut self, x: i64, y: i64, color: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.w) || y >= i64::from(self.h) || a <= 0.0 {
            return;
        }
        let a = a.min(1.0);
        let o = self.offset(x as u32, y as u32);
        for (c, &v) in color.iter().enumerate() {
            let old = f32::from(self.px[o + c]);
            self.px[o + c] = (old + (f32::from(v) - old) * a).round() as u8;
        }
    }

    /// Copies `src` with its top-left corner at (x, y).
    pub fn paste(&mut self, src: &Canvas, x: u32, y: u32) {
        for sy in 0..src.h {
            let ty = y + sy;
            if ty >= self.h {
                break;
            }
            let n = src.w.min(self.w.saturating_sub(x)) as usize * 3;
            let so = src.offset(0, sy);
            let to = self.offset(x, ty);
            self.px[to..to + n].copy_from_slice(&src.px[so..so + n]);
        }
    }

    /// An anti-aliased line `width` pixels wide.
    pub fn line(&mut self, (x0, y0): (f32, f32), (x1, y1): (f32, f32), width: f32, color: Rgb) {
        let r = width / 2.0;
        let (minx, maxx) = (x0.min(x1) - r - 1.0, x0.max(x1) + r + 1.0);
        let (miny, maxy) = (y0.min(y1) - r - 1.0, y0.max(y1) + r + 1.0);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-12);
        for py in miny.floor() as i64..=maxy.ceil() as i64 {
            for px in minx.floor() as i64..=maxx.ceil() as i64 {
                let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                let t = (((cx - x0) * dx + (cy - y0) * dy) / len2).clamp(0.0, 1.0);
                let (qx, qy) = (x0 + t * dx - cx, y0 + t * dy - cy);
                let d = (qx * qx + qy * qy).sqrt();
                self.blend(px, py, color, r + 0.5 - d);
            }
        }
    }

    /// A filled anti-aliased disc.
    pub fn disc(&mut self, cx: f32, cy: f32, radius: f32, color: Rgb) {
        for py in (cy - radius - 1.0).floor() as i64..=(cy + radius + 1.0).ceil() as i64 {
            for px in (cx - radius - 1.0).floor() as i64..=(cx + radius + 1.0).ceil() as i64 {
                let d = ((px as f32 + 0.5 - cx).powi(2) + (py as f32 + 0.5 - cy).powi(2)).sqrt();
                self.blend(px, py, color, radius + 0.5 - d);
            }
        }
    }

    /// Bilinear resize (cells from a provider that ignored the requested size).
    pub fn resized(&self, w: u32, h: u32) -> Canvas {
        if w == self.w && h == self.h {
            return self.clone();
        }
        let mut out = Canvas::new(w, h, BLACK);
        let sx = self.w as f32 / w as f32;
        let sy = self.h as f32 / h as f32;
        for y in 0..h {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (self.h - 1) as f32);
            let (y0, ty) = (fy.floor() as u32, fy.fract());
            let y1 = (y0 + 1).min(self.h - 1);
            for x in 0..w {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (self.w - 1) as f32);
                let (x0, tx) = (fx.floor() as u32, fx.fract());
                let x1 = (x0 + 1).min(self.w - 1);
                let (a, b, c, d) = (
                    self.get(x0, y0),
                    self.get(x1, y0),
                    self.get(x0, y1),
                    self.get(x1, y1),
                );
                let o = out.offset(x, y);
                for k in 0..3 {
                    let top = f32::from(a[k]) * (1.0 - tx) + f32::from(b[k]) * tx;
                    let bottom = f32::from(c[k]) * (1.0 - tx) + f32::from(d[k]) * tx;
                    out.px[o + k] = (top * (1.0 - ty) + bottom * ty).round() as u8;
                }
            }
        }
        out
    }

    pub fn encode_png(&self) -> Result<Vec<u8>, GridError> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w, self.h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header()?;
            writer.write_image_data(&self.px)?;
        }
        Ok(out)
    }

    /// Decodes PNG bytes of any colour type and depth; `Err` with a readable reason.
    pub fn decode_png(bytes: &[u8]) -> Result<Canvas, String> {
        let mut dec = png::Decoder::new(bytes);
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec
            .read_info()
            .map_err(|e| format!("not a readable PNG: {e}"))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| format!("not a readable PNG: {e}"))?;
        let (w, h) = (info.width, info.height);
        if w == 0 || h == 0 {
            return Err("the PNG is empty".into());
        }
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err("an indexed PNG that did not expand".into()),
        };
        let mut c = Canvas::new(w, h, WHITE);
        for (i, p) in buf[..info.buffer_size()].chunks_exact(channels).enumerate() {
            let (rgb, a) = match channels {
                1 => ([p[0]; 3], 255),
                2 => ([p[0]; 3], p[1]),
                3 => ([p[0], p[1], p[2]], 255),
                _ => ([p[0], p[1], p[2]], p[3]),
            };
            let (x, y) = ((i % w as usize) as i64, (i / w as usize) as i64);
            c.blend(x, y, rgb, f32::from(a) / 255.0);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_and_resize() {
        let mut c = Canvas::new(4, 3, WHITE);
        c.blend(1, 1, [10, 20, 30], 1.0);
        c.blend(2, 1, [10, 20, 30], 0.5);
        let back = Canvas::decode_png(&c.encode_png().unwrap()).unwrap();
        assert_eq!(back, c);
        let r = c.resized(8, 6);
        assert_eq!((r.w, r.h), (8, 6));
        assert!(Canvas::decode_png(b"not a png")
            .unwrap_err()
            .contains("not a readable PNG"));
    }
}
