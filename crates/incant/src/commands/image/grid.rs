//! `incant image grid`: A1111's X/Y/Z plot over any provider. Axes are parsed and expanded by
//! `incant-grid`; this module renders the prompt for `var:` axes, builds each provider once,
//! sends every cell in its target's dialect, and writes the contact sheet and the HTML grid.

use super::prepare::{for_provider, prepare, provider, render_file};
use super::progress;
use crate::image_cli::ImageGridArgs;
use crate::report::input_error;
use anyhow::{Context, Result};
use incant_grid::{
    contact_sheets, prompt_matrix, render_html, run_cells, write_cell_images, Axis, AxisKind,
    ExpandOptions, Grid, GridBase, HtmlImages, HtmlOptions, MatrixOptions, RenderedPrompt,
    SheetOptions,
};
use incant_image_provider::ImageProvider;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

/// `NAME: VALUES` (`var:NAME: VALUES` for template variables).
fn parse_axis(which: &str, text: &str) -> Result<Axis> {
    let skip = if text.trim_start().to_ascii_lowercase().starts_with("var:") {
        text.find(':').map_or(0, |i| i + 1)
    } else {
        0
    };
    let Some(colon) = text[skip..].find(':').map(|i| i + skip) else {
        return Err(input_error(
            format!("--{which} `{text}` has no `NAME:` before its values"),
            Some("write e.g. --x \"Seed: 1-4\" or --y \"CFG Scale: 3, 7\""),
        ));
    };
    let grid_error = |e: incant_grid::GridError| {
        input_error(
            format!("--{which}: {e}"),
            Some("axes: seed, steps, cfg, sampler, provider, prompt-sr, negative-sr, width, height, var:NAME"),
        )
    };
    let kind = AxisKind::parse(&text[..colon]).map_err(grid_error)?;
    Axis::parse(kind, text[colon + 1..].trim()).map_err(grid_error)
}

/// Runs the grid.
pub fn run(models_dir: &Path, args: ImageGridArgs) -> Result<ExitCode> {
    let p = prepare(&args.common)?;
    let base = GridBase {
        request: p.request.clone(),
        provider: args.provider.clone(),
        vars: p.vars.clone(),
    };
    let expansion = if args.matrix {
        let opts = MatrixOptions::default();
        let matrix = prompt_matrix(&p.request.prompt, &opts);
        if matrix.parts.len() < 2 {
            return Err(input_error(
                format!(
                    "{} has no `|` parts for a prompt matrix",
                    p.file.path.display()
                ),
                Some("write the prompt as `base | option 1 | option 2`"),
            ));
        }
        matrix.expansion(&base, &opts, &ExpandOptions::default())
    } else {
        let grid = Grid {
            x: parse_axis("x", args.x.as_deref().unwrap_or_default())?,
            y: args.y.as_deref().map(|y| parse_axis("y", y)).transpose()?,
            z: args.z.as_deref().map(|z| parse_axis("z", z)).transpose()?,
        };
        grid.expand_with(&base, &ExpandOptions::default(), |vars| {
            render_file(&p.file, vars)
                .map(|(prompt, negative_prompt)| RenderedPrompt {
                    prompt,
                    negative_prompt,
                })
                .map_err(|e| e.to_string())
        })
        .map_err(|e| input_error(e.to_string(), Some("check the axis values")))?
    };
    // Build every provider before generating anything, so a bad id fails fast.
    let mut providers: HashMap<String, Box<dyn ImageProvider>> = HashMap::new();
    for cell in &expansion.cells {
        if !providers.contains_key(&cell.provider) {
            let built = provider(&cell.provider, models_dir, args.common.workflow.as_deref())?;
            providers.insert(cell.provider.clone(), built);
        }
    }
    let bar = progress(expansion.cells.len() as u64, "grid");
    let run = run_cells(expansion, |cell| {
        let (req, warnings) = for_provider(&cell.request, &cell.provider);
        let out = providers[&cell.provider].generate(&req).map(|mut r| {
            r.warnings.splice(0..0, warnings);
            r
        });
        bar.inc(1);
        out
    });
    bar.finish_and_clear();
    let sheets = contact_sheets(&run, &SheetOptions::default())
        .map_err(|e| anyhow::anyhow!("cannot draw the grid: {e}"))?;
    let mut written = Vec::new();
    for (i, sheet) in sheets.iter().enumerate() {
        let path = if sheets.len() == 1 {
            args.out.clone()
        } else {
            let stem = args.out.file_stem().unwrap_or_default().to_string_lossy();
            args.out.with_file_name(format!("{stem}-{}.png", i + 1))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &sheet.png)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push((path, sheet.width, sheet.height));
    }
    if let Some(html) = &args.html {
        let dir = html.parent().unwrap_or(Path::new("."));
        let stem = html.file_stem().unwrap_or_default().to_string_lossy();
        let cells = format!("{stem}-cells");
        write_cell_images(&run, &dir.join(&cells))
            .map_err(|e| anyhow::anyhow!("cannot write the cell images: {e}"))?;
        let page = render_html(
            &run,
            &HtmlOptions {
                title: format!("{} grid", p.file.name),
                images: HtmlImages::Files(cells),
            },
        );
        std::fs::write(html, page).with_context(|| format!("cannot write {}", html.display()))?;
    }
    let failed = run.results.iter().filter(|r| r.error.is_some()).count();
    let summary = serde_json::json!({
        "sheets": written.iter().map(|(p, w, h)| serde_json::json!({"path": p.display().to_string(), "width": w, "height": h})).collect::<Vec<_>>(),
        "html": args.html.as_ref().map(|h| h.display().to_string()),
        "cells": run.results.len(),
        "failed": failed,
        "errors": run.results.iter().filter_map(|r| r.error.clone()).collect::<Vec<_>>(),
    });
    if args.common.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for (path, w, h) in &written {
            println!("{} ({w}x{h})", path.display());
        }
        if let Some(h) = &args.html {
            println!("{}", h.display());
        }
        println!("{} cells, {failed} failed", run.results.len());
        for e in run.results.iter().filter_map(|r| r.error.as_deref()) {
            println!("  error: {e}");
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
