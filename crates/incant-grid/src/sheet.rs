//! Labelled PNG contact sheets, laid out as A1111's `image_grid` and
//! `draw_grid_annotations` lay them out.
//!
//! Cells sit edge to edge, x across and y down, all the size of the first image that came
//! back (others are resized). Above the columns and left of the rows go the labels on
//! white: em size `(cell_w + cell_h) / 25`, line spacing half that, the left margin three
//! quarters of a cell wide when any row has a label, the top margin the tallest column label
//! plus two line spacings, every label wrapped to its space and centred. Prompt matrix
//! labels list every part, the ones that are off grey and struck through. With several z
//! values A1111 puts the sub-grids side by side under a title each ([`SheetLayout::Combined`]);
//! [`SheetLayout::PerZ`] writes one sheet per z value instead. A failed cell is a dark
//! placeholder that says why.

use crate::canvas::{Canvas, Rgb, BLACK, WHITE};
use crate::expand::Label;
use crate::font::{draw_text, draw_text_centered, line_height, text_width, wrap};
use crate::run::GridRun;
use crate::GridError;

/// How z values are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SheetLayout {
    /// One sheet per z value.
    PerZ,
    /// All z values side by side on one sheet, as A1111 does.
    #[default]
    Combined,
}

/// Drawing options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetOptions {
    /// How z values are arranged.
    pub layout: SheetLayout,
    /// Draw the axis labels (A1111's "Draw legend").
    pub draw_legend: bool,
    /// Refuse sheets larger than this many pixels (A1111's `img_max_size_mp`).
    pub max_pixels: u64,
}

impl Default for SheetOptions {
    fn default() -> Self {
        Self {
            layout: SheetLayout::Combined,
            draw_legend: true,
            max_pixels: 200_000_000,
        }
    }
}

/// One PNG sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// The z index it shows (`None`: all of them).
    pub z: Option<usize>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The PNG bytes.
    pub png: Vec<u8>,
}

const INACTIVE: Rgb = [153, 153, 153];
const PLACEHOLDER_BG: Rgb = [48, 48, 48];
const PLACEHOLDER_FG: Rgb = [235, 235, 235];

/// Draws the sheets of a generated grid.
pub fn contact_sheets(run: &GridRun, opts: &SheetOptions) -> Result<Vec<Sheet>, GridError> {
    let e = &run.expansion;
    let decoded: Vec<Result<Canvas, String>> = run
        .results
        .iter()
        .map(|r| match (&r.png, &r.error) {
            (Some(png), _) => Canvas::decode_png(png)
                .map_err(|why| format!("the provider's image is unusable: {why}")),
            (None, Some(err)) => Err(err.clone()),
            (None, None) => Err("no image".into()),
        })
        .collect();
    let (cw, ch) = decoded
        .iter()
        .find_map(|d| d.as_ref().ok().map(|c| (c.w, c.h)))
        .unwrap_or_else(|| {
            let r = &e.cells[0].request;
            (r.width.clamp(64, 1024), r.height.clamp(64, 1024))
        });
    let total = (e.nx * e.ny * e.nz) as u64 * u64::from(cw) * u64::from(ch);
    if total > opts.max_pixels {
        return Err(GridError::TooLarge {
            width: e.nx as u64 * u64::from(cw),
            height: e.ny as u64 * u64::from(ch),
            hint: "use fewer values or smaller images".into(),
        });
    }
    let tiles: Vec<Canvas> = decoded
        .iter()
        .map(|d| match d {
            Ok(c) => c.resized(cw, ch),
            Err(why) => placeholder(cw, ch, why),
        })
        .collect();
    let sub_grids: Vec<Canvas> = (0..e.nz)
        .map(|z| {
            let mut grid = Canvas::new(cw * e.nx as u32, ch * e.ny as u32, BLACK);
            for y in 0..e.ny {
                for x in 0..e.nx {
                    let tile = &tiles[x + y * e.nx + z * e.nx * e.ny];
                    grid.paste(tile, x as u32 * cw, y as u32 * ch);
                }
            }
            if opts.draw_legend {
                annotate(&grid, cw, ch, label_size(cw, ch), &e.x_labels, &e.y_labels)
            } else {
                grid
            }
        })
        .collect();
    let has_z = e.z_labels.iter().any(|l| !l.is_empty());
    let title_size = label_size(cw, ch) * 1.5;
    match opts.layout {
        SheetLayout::PerZ => sub_grids
            .into_iter()
            .enumerate()
            .map(|(z, g)| {
                let g = if opts.draw_legend && has_z {
                    annotate(
                        &g,
                        g.w,
                        g.h,
                        title_size,
                        &e.z_labels[z..=z],
                        &[Label::default()],
                    )
                } else {
                    g
                };
                sheet(Some(z), &g)
            })
            .collect(),
        SheetLayout::Combined => {
            let (sw, sh) = (sub_grids[0].w, sub_grids[0].h);
            let mut all = Canvas::new(sw * sub_grids.len() as u32, sh, BLACK);
            for (z, g) in sub_grids.iter().enumerate() {
                all.paste(g, z as u32 * sw, 0);
            }
            let all = if opts.draw_legend && has_z {
                annotate(&all, sw, sh, title_size, &e.z_labels, &[Label::default()])
            } else {
                all
            };
            Ok(vec![sheet(None, &all)?])
        }
    }
}

fn sheet(z: Option<usize>, c: &Canvas) -> Result<Sheet, GridError> {
    Ok(Sheet {
        z,
        width: c.w,
        height: c.h,
        png: c.encode_png()?,
    })
}

/// A failed cell: dark, with "failed" and the reason wrapped to the cell.
fn placeholder(w: u32, h: u32, why: &str) -> Canvas {
    let mut c = Canvas::new(w, h, PLACEHOLDER_BG);
    let size = ((w + h) as f32 / 40.0).max(8.0);
    let pad = size;
    let lh = line_height(size);
    let mut y = pad;
    draw_text(&mut c, "failed", pad, y, size * 1.4, PLACEHOLDER_FG);
    y += line_height(size * 1.4) + lh * 0.5;
    for line in wrap(why, size, w as f32 - 2.0 * pad) {
        if y + lh > h as f32 - pad / 2.0 {
            break;
        }
        draw_text(&mut c, &line, pad, y, size, PLACEHOLDER_FG);
        y += lh;
    }
    c
}

/// A1111's label size for a cell: `(w + h) // 25` pixels per em.
fn label_size(w: u32, h: u32) -> f32 {
    ((w + h) / 25).max(6) as f32
}

struct Line {
    text: String,
    active: bool,
    height: f32,
}

fn wrapped(label: &Label, size: f32, width: f32) -> Vec<Line> {
    label
        .lines
        .iter()
        .flat_map(|l| {
            wrap(&l.text, size, width)
                .into_iter()
                .map(move |text| Line {
                    height: if text.is_empty() {
                        0.0
                    } else {
                        line_height(size)
                    },
                    text,
                    active: l.active,
                })
        })
        .collect()
}

/// A1111's `draw_grid_annotations`: column labels above, row labels to the left.
fn annotate(
    im: &Canvas,
    width: u32,
    height: u32,
    size: f32,
    hor: &[Label],
    ver: &[Label],
) -> Canvas {
    let spacing = (size / 2.0).floor();
    let pad_left = if ver.iter().all(Label::is_empty) {
        0
    } else {
        width * 3 / 4
    };
    let hor: Vec<Vec<Line>> = hor.iter().map(|l| wrapped(l, size, width as f32)).collect();
    let ver: Vec<Vec<Line>> = ver
        .iter()
        .map(|l| wrapped(l, size, pad_left as f32))
        .collect();
    let block = |lines: &[Line]| lines.iter().map(|l| l.height + spacing).sum::<f32>() - spacing;
    let hor_h: Vec<f32> = hor.iter().map(|l| block(l)).collect();
    // A1111 subtracts one spacing per line here (so row labels centre on their text alone).
    let ver_h: Vec<f32> = ver
        .iter()
        .map(|l| block(l) + spacing - spacing * l.len() as f32)
        .collect();
    let pad_top = (hor_h.iter().cloned().fold(0.0, f32::max) + spacing * 2.0).ceil() as u32;
    let mut out = Canvas::new(im.w + pad_left, im.h + pad_top, WHITE);
    out.paste(im, pad_left, pad_top);
    let mut draw = |lines: &[Line], cx: f32, mut y: f32| {
        for l in lines {
            let color = if l.active { BLACK } else { INACTIVE };
            draw_text_centered(&mut out, &l.text, cx, y + l.height / 2.0, size, color);
            if !l.active {
                let half = text_width(&l.text, size) / 2.0;
                let my = y + l.height / 2.0;
                out.line((cx - half, my), (cx + half, my), 4.0, INACTIVE);
            }
            y += l.height + spacing;
        }
    };
    for (col, lines) in hor.iter().enumerate() {
        let cx = pad_left as f32 + (width as usize * col) as f32 + width as f32 / 2.0;
        draw(lines, cx, pad_top as f32 / 2.0 - hor_h[col] / 2.0);
    }
    for (row, lines) in ver.iter().enumerate() {
        let cy = pad_top as f32 + (height as usize * row) as f32 + height as f32 / 2.0;
        draw(lines, pad_left as f32 / 2.0, cy - ver_h[row] / 2.0);
    }
    out
}
