//! The HTML grid: one self-contained page with a table per z value and every cell's
//! metadata.
//!
//! A contact sheet shows pictures; the page also shows what made them -- prompt, negative
//! prompt, seed, steps, CFG scale, sampler, provider, latency and, for failed cells, the
//! error -- so a user can tell why two cells differ. Images are embedded as data URIs (one
//! file to share) or referenced as files next to the page ([`write_cell_images`] writes
//! them under [`cell_file_name`]).

use crate::expand::{Cell, Label};
use crate::run::{CellResult, GridRun};
use crate::GridError;
use base64::Engine;
use std::fmt::Write;
use std::path::Path;

/// Where the page finds the images.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HtmlImages {
    /// Embedded as `data:image/png;base64,...`.
    #[default]
    DataUri,
    /// Files named by [`cell_file_name`] in this folder, relative to the page.
    Files(String),
}

/// Page options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtmlOptions {
    /// The page title.
    pub title: String,
    /// Where images live.
    pub images: HtmlImages,
}

/// `cell-z{z}-y{y}-x{x}.png`.
pub fn cell_file_name(cell: &Cell) -> String {
    format!("cell-z{}-y{}-x{}.png", cell.z, cell.y, cell.x)
}

/// Writes every successful cell's PNG into `dir` under [`cell_file_name`].
pub fn write_cell_images(run: &GridRun, dir: &Path) -> Result<(), GridError> {
    let io = |path: &Path, source| GridError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for (cell, result) in run.expansion.cells.iter().zip(&run.results) {
        if let Some(png) = &result.png {
            let path = dir.join(cell_file_name(cell));
            std::fs::write(&path, png).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn label_html(label: &Label) -> String {
    label
        .lines
        .iter()
        .map(|l| {
            if l.active {
                esc(&l.text)
            } else {
                format!("<s>{}</s>", esc(&l.text))
            }
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:2em}th,td{border:1px solid #ccc;padding:6px;vertical-align:top}\
th{background:#f4f4f4;font-weight:600}td img{max-width:256px;display:block}\
.failed{background:#303030;color:#eee;width:256px;min-height:120px;padding:8px;box-sizing:border-box}\
dl{margin:6px 0 0;font-size:12px;display:grid;grid-template-columns:auto 1fr;gap:0 8px;max-width:256px}\
dt{color:#777}dd{margin:0;word-break:break-word}s{color:#999}";

fn cell_html(out: &mut String, cell: &Cell, result: &CellResult, images: &HtmlImages) {
    let r = &cell.request;
    let _ = write!(
        out,
        "<td class=\"cell\" data-x=\"{}\" data-y=\"{}\" data-z=\"{}\">",
        cell.x, cell.y, cell.z
    );
    match (&result.png, &result.error) {
        (Some(png), _) => {
            let src = match images {
                HtmlImages::DataUri => format!(
                    "data:image/png;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(png)
                ),
                HtmlImages::Files(dir) => {
                    let dir = dir.trim_end_matches('/');
                    let name = cell_file_name(cell);
                    if dir.is_empty() {
                        name
                    } else {
                        format!("{dir}/{name}")
                    }
                }
            };
            let _ = write!(
                out,
                "<img src=\"{}\" alt=\"{}\">",
                esc(&src),
                esc(&r.prompt)
            );
        }
        (None, err) => {
            let _ = write!(
                out,
                "<div class=\"failed\"><b>failed</b><br>{}</div>",
                esc(err.as_deref().unwrap_or("no image"))
            );
        }
    }
    out.push_str("<dl>");
    let mut row = |k: &str, v: String| {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    };
    row("prompt", r.prompt.clone());
    if !r.negative_prompt.is_empty() {
        row("negative", r.negative_prompt.clone());
    }
    row(
        "seed",
        result
            .seed
            .or(r.seed)
            .map_or("random".into(), |s| s.to_string()),
    );
    row("steps", r.steps.to_string());
    row("cfg", crate::pyfmt::py_float_repr(r.cfg_scale));
    row(
        "sampler",
        r.sampler.clone().unwrap_or_else(|| "default".into()),
    );
    row("size", format!("{}x{}", r.width, r.height));
    row("provider", cell.provider.clone());
    for (k, v) in &cell.vars {
        row(&format!("var {k}"), v.clone());
    }
    if let Some(l) = result.latency {
        row("latency", format!("{:.0} ms", l.as_secs_f64() * 1000.0));
    }
    if let Some(e) = &result.error {
        row("error", e.clone());
    }
    for w in &result.warnings {
        row("warning", w.clone());
    }
    out.push_str("</dl></td>");
}

/// The page for a generated grid.
pub fn render_html(run: &GridRun, opts: &HtmlOptions) -> String {
    let e = &run.expansion;
    let title = if opts.title.is_empty() {
        "incant grid"
    } else {
        &opts.title
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    let axes: Vec<String> = ["X", "Y", "Z"]
        .iter()
        .zip(&e.titles)
        .filter(|(_, t)| !t.is_empty())
        .map(|(n, t)| format!("{n}: {}", esc(t)))
        .collect();
    let failed = run.results.iter().filter(|r| r.png.is_none()).count();
    let _ = writeln!(
        out,
        "<p>{} &middot; {} cells, {} failed</p>",
        axes.join(" &middot; "),
        e.cells.len(),
        failed
    );
    for z in 0..e.nz {
        if !e.z_labels[z].is_empty() {
            let _ = writeln!(out, "<h2>{}</h2>", label_html(&e.z_labels[z]));
        }
        out.push_str("<table><tr><th></th>");
        for l in &e.x_labels {
            let _ = write!(out, "<th>{}</th>", label_html(l));
        }
        out.push_str("</tr>\n");
        for y in 0..e.ny {
            let _ = write!(out, "<tr><th>{}</th>", label_html(&e.y_labels[y]));
            for x in 0..e.nx {
                let i = x + y * e.nx + z * e.nx * e.ny;
                cell_html(&mut out, &e.cells[i], &run.results[i], &opts.images);
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}
