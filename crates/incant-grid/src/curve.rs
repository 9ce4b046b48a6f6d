//! FID against CLIP score, one line per provider: the chart from the Stable Diffusion 2
//! model card, for a user's own prompts and models (`incant image curve`).
//!
//! Each provider is swept over CFG scales ([`default_cfg_scales`], the scales the SD model
//! cards used); every scale gives a point (CLIP score on x, FID on y, lower is better),
//! labelled with its scale, joined in scale order. The plot is drawn here on the same
//! raster and embedded font as the contact sheets (no plotting library or system font),
//! and the same numbers go to a CSV for spreadsheets.

use crate::canvas::{Canvas, Rgb, BLACK, WHITE};
use crate::font::{draw_text, line_height, text_width, wrap};
use crate::pyfmt::py_float_repr;
use crate::GridError;
use serde::{Deserialize, Serialize};

/// The CFG scales the Stable Diffusion model cards swept: 1.5, 2, 3, 4, 5, 6, 7, 8.
pub fn default_cfg_scales() -> Vec<f64> {
    vec![1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
}

/// One CFG scale's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The CFG scale.
    pub cfg_scale: f64,
    /// Mean CLIP score of the images at that scale.
    pub clip_score: f64,
    /// FID of the images at that scale against the reference set.
    pub fid: f64,
}

/// One provider's sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveSeries {
    /// The provider id.
    pub provider: String,
    /// Its points (any order; drawn in CFG order).
    pub points: Vec<CurvePoint>,
}

/// `provider,cfg_scale,clip_score,fid`, one row per point, in CFG order per provider.
pub fn curve_csv(series: &[CurveSeries]) -> String {
    let mut out = String::from("provider,cfg_scale,clip_score,fid\n");
    for s in series {
        let quoted = if s.provider.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.provider.replace('"', "\"\""))
        } else {
            s.provider.clone()
        };
        for p in sorted(&s.points) {
            out.push_str(&format!(
                "{quoted},{},{},{}\n",
                py_float_repr(p.cfg_scale),
                py_float_repr(p.clip_score),
                py_float_repr(p.fid)
            ));
        }
    }
    out
}

fn sorted(points: &[CurvePoint]) -> Vec<CurvePoint> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.cfg_scale.total_cmp(&b.cfg_scale));
    p
}

/// tab10, the matplotlib default cycle.
const PALETTE: [Rgb; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
const GRID: Rgb = [225, 225, 225];

const W: u32 = 960;
const H: u32 = 640;
const LEFT: f32 = 80.0;
const RIGHT: f32 = 230.0;
const TOP: f32 = 72.0;
const BOTTOM: f32 = 64.0;

/// Ticks at 1, 2 or 5 times a power of ten, about six over the range; the range is
/// widened to whole ticks.
fn ticks(min: f64, max: f64) -> (f64, f64, Vec<f64>, usize) {
    let (min, max) = if max - min < 1e-9 {
        (min - 1.0, max + 1.0)
    } else {
        (min, max)
    };
    let raw = (max - min) / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let lo = (min / step).floor() * step;
    let hi = (max / step).ceil() * step;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let n = ((hi - lo) / step).round() as usize;
    (
        lo,
        hi,
        (0..=n).map(|i| lo + i as f64 * step).collect(),
        decimals,
    )
}

/// The plot as PNG bytes.
pub fn curve_png(series: &[CurveSeries]) -> Result<Vec<u8>, GridError> {
    let all: Vec<&CurvePoint> = series.iter().flat_map(|s| &s.points).collect();
    if all.is_empty() {
        return Err(GridError::Curve(
            "no points to plot; hint: run at least one provider at one CFG scale".into(),
        ));
    }
    if let Some(bad) = all
        .iter()
        .find(|p| !(p.clip_score.is_finite() && p.fid.is_finite() && p.cfg_scale.is_finite()))
    {
        return Err(GridError::Curve(format!(
            "a point is not finite (cfg {}, clip {}, fid {}); hint: a metric failed for that scale, check its images",
            bad.cfg_scale, bad.clip_score, bad.fid
        )));
    }
    let fold = |f: fn(&CurvePoint) -> f64| {
        all.iter()
            .map(|p| f(p))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            })
    };
    let (xmin, xmax) = fold(|p| p.clip_score);
    let (ymin, ymax) = fold(|p| p.fid);
    let (x0, x1, xt, xd) = ticks(xmin, xmax);
    let (y0, y1, yt, yd) = ticks(ymin, ymax);
    let (pw, ph) = (W as f32 - LEFT - RIGHT, H as f32 - TOP - BOTTOM);
    let sx = |v: f64| LEFT + ((v - x0) / (x1 - x0)) as f32 * pw;
    let sy = |v: f64| TOP + ph - ((v - y0) / (y1 - y0)) as f32 * ph;

    let mut c = Canvas::new(W, H, WHITE);
    let small = 13.0;
    for (i, &t) in xt.iter().enumerate() {
        let x = sx(t);
        c.line((x, TOP), (x, TOP + ph), 1.0, GRID);
        c.line((x, TOP + ph), (x, TOP + ph + 5.0), 1.0, BLACK);
        let s = format!("{t:.xd$}");
        if i < xt.len() {
            draw_text(
                &mut c,
                &s,
                x - text_width(&s, small) / 2.0,
                TOP + ph + 8.0,
                small,
                BLACK,
            );
        }
    }
    for &t in &yt {
        let y = sy(t);
        c.line((LEFT, y), (LEFT + pw, y), 1.0, GRID);
        c.line((LEFT - 5.0, y), (LEFT, y), 1.0, BLACK);
        let s = format!("{t:.yd$}");
        draw_text(
            &mut c,
            &s,
            LEFT - 8.0 - text_width(&s, small),
            y - line_height(small) / 2.0,
            small,
            BLACK,
        );
    }
    c.line((LEFT, TOP), (LEFT, TOP + ph), 1.5, BLACK);
    c.line((LEFT, TOP + ph), (LEFT + pw, TOP + ph), 1.5, BLACK);
    let title = "FID vs CLIP score by CFG scale";
    draw_text(
        &mut c,
        title,
        LEFT + pw / 2.0 - text_width(title, 18.0) / 2.0,
        14.0,
        18.0,
        BLACK,
    );
    let xl = "CLIP score (higher is better)";
    draw_text(
        &mut c,
        xl,
        LEFT + pw / 2.0 - text_width(xl, 15.0) / 2.0,
        H as f32 - 30.0,
        15.0,
        BLACK,
    );
    draw_text(
        &mut c,
        "FID (lower is better)",
        12.0,
        TOP - 46.0,
        15.0,
        BLACK,
    );

    let mut legend_y = TOP + 4.0;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts = sorted(&s.points);
        for w in pts.windows(2) {
            c.line(
                (sx(w[0].clip_score), sy(w[0].fid)),
                (sx(w[1].clip_score), sy(w[1].fid)),
                2.0,
                color,
            );
        }
        for p in &pts {
            let (x, y) = (sx(p.clip_score), sy(p.fid));
            c.disc(x, y, 4.0, color);
            draw_text(
                &mut c,
                &py_float_repr(p.cfg_scale),
                x + 6.0,
                y - line_height(11.0) - 2.0,
                11.0,
                color,
            );
        }
        let lx = LEFT + pw + 20.0;
        c.line(
            (lx, legend_y + 8.0),
            (lx + 22.0, legend_y + 8.0),
            3.0,
            color,
        );
        for line in wrap(&s.provider, small, RIGHT - 56.0) {
            draw_text(&mut c, &line, lx + 30.0, legend_y, small, BLACK);
            legend_y += line_height(small);
        }
        legend_y += 6.0;
    }
    draw_text(
        &mut c,
        "points: CFG scale",
        LEFT + pw + 20.0,
        legend_y + 8.0,
        11.0,
        [110, 110, 110],
    );
    c.encode_png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range() {
        let (lo, hi, t, d) = ticks(21.3, 27.9);
        assert!(lo <= 21.3 && hi >= 27.9 && t.len() >= 4, "{lo} {hi} {t:?}");
        assert_eq!(d, 0);
        let (_, _, t, _) = ticks(5.0, 5.0);
        assert!(t.len() >= 2);
    }
}
