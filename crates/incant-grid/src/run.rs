//! Generating a grid's cells through the caller's closure.
//!
//! The crate does no model I/O: the caller passes a closure that runs one cell (usually by
//! looking up the cell's provider and calling `ImageProvider::generate`). Cells run in the
//! expansion's generation order and come back in index order; a failed call becomes a cell
//! with an error, drawn as a labelled placeholder, never a crash -- the same rule as for
//! text providers.

use crate::expand::{Cell, Expansion};
use incant_image_provider::{ImageError, ImageResponse};
use std::time::Duration;

/// One generated (or failed) cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    /// The PNG of the first image, when the call succeeded.
    pub png: Option<Vec<u8>>,
    /// The seed the provider reports, else the one requested.
    pub seed: Option<u64>,
    /// Wall time of the call, when it returned.
    pub latency: Option<Duration>,
    /// Why the cell has no image.
    pub error: Option<String>,
    /// What the provider said about the generation.
    pub metadata: serde_json::Value,
    /// The provider's warnings.
    pub warnings: Vec<String>,
}

impl CellResult {
    /// A result from one provider call.
    pub fn from_response(cell: &Cell, response: Result<ImageResponse, ImageError>) -> Self {
        match response {
            Ok(r) => {
                let first = r.images.into_iter().next();
                let error = first
                    .is_none()
                    .then(|| "the provider returned no image".to_string());
                Self {
                    seed: first.as_ref().and_then(|i| i.seed).or(cell.request.seed),
                    png: first.map(|i| i.png),
                    latency: Some(r.latency),
                    error,
                    metadata: r.metadata,
                    warnings: r.warnings,
                }
            }
            Err(e) => Self {
                png: None,
                seed: cell.request.seed,
                latency: None,
                error: Some(e.to_string()),
                metadata: serde_json::Value::Null,
                warnings: Vec::new(),
            },
        }
    }
}

/// A generated grid: the expansion and one result per cell (same indices).
#[derive(Debug, Clone, PartialEq)]
pub struct GridRun {
    /// The grid.
    pub expansion: Expansion,
    /// `results[i]` belongs to `expansion.cells[i]`.
    pub results: Vec<CellResult>,
}

impl GridRun {
    /// The grid as JSON for `--json` output: axes, labels and per cell its indices, labels,
    /// request, provider, variables, seed, latency, error, warnings and the provider's
    /// metadata (images are not included; see `write_cell_images`).
    pub fn to_json(&self) -> serde_json::Value {
        let e = &self.expansion;
        let labels = |ls: &[crate::expand::Label]| ls.iter().map(|l| l.plain()).collect::<Vec<_>>();
        let cells: Vec<serde_json::Value> = e
            .cells
            .iter()
            .zip(&self.results)
            .map(|(cell, r)| {
                let [lx, ly, lz] = e.labels_of(cell);
                serde_json::json!({
                    "x": cell.x,
                    "y": cell.y,
                    "z": cell.z,
                    "labels": [lx.plain(), ly.plain(), lz.plain()],
                    "provider": cell.provider,
                    "request": cell.request,
                    "vars": cell.vars,
                    "seed": r.seed,
                    "latency_ms": r.latency.map(|d| d.as_secs_f64() * 1000.0),
                    "ok": r.png.is_some(),
                    "error": r.error,
                    "warnings": r.warnings,
                    "metadata": r.metadata,
                })
            })
            .collect();
        serde_json::json!({
            "axes": {"x": e.titles[0], "y": e.titles[1], "z": e.titles[2]},
            "size": {"x": e.nx, "y": e.ny, "z": e.nz},
            "labels": {"x": labels(&e.x_labels), "y": labels(&e.y_labels), "z": labels(&e.z_labels)},
            "cells": cells,
        })
    }
}

/// Runs every cell through `generate` in generation order.
pub fn run_cells<F>(expansion: Expansion, mut generate: F) -> GridRun
where
    F: FnMut(&Cell) -> Result<ImageResponse, ImageError>,
{
    let mut results: Vec<Option<CellResult>> = vec![None; expansion.cells.len()];
    for &i in &expansion.order {
        let cell = &expansion.cells[i];
        results[i] = Some(CellResult::from_response(cell, generate(cell)));
    }
    let results = results
        .into_iter()
        .map(|r| r.expect("the generation order visits every cell once"))
        .collect();
    GridRun { expansion, results }
}
