//! Expanding a grid into cells: one [`ImageRequest`] and provider per (x, y, z).
//!
//! A1111 copies the base processing object per cell and applies the x, y and z axes in that
//! order; S/R axes edit the prompt as it stands after the axes before them. Seeds are fixed
//! before anything runs: a random base seed is drawn once for the whole grid and every `-1`
//! on a seed axis once per axis value (`fix_axis_seeds`), so a row or column shares its seed
//! unless the user asks to keep `-1` (then each cell's provider picks). Generation order
//! follows A1111 too: the costliest axis to switch (the provider, A1111's checkpoint) is the
//! outer loop ([`Expansion::order`]).

use crate::axis::{value_label, Axis, AxisKind, AxisValue};
use crate::GridError;
use incant_image_provider::ImageRequest;
use serde::Serialize;
use std::collections::BTreeMap;

/// The most cells one grid may have (each is a generation).
pub const MAX_CELLS: usize = 100_000;

/// One line of an axis label; inactive lines (a prompt matrix part that is off) are drawn
/// grey and struck through, as A1111 draws them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelLine {
    /// The text.
    pub text: String,
    /// Whether the part is on.
    pub active: bool,
}

/// The label of one row, column or sheet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Label {
    /// Lines, top to bottom.
    pub lines: Vec<LabelLine>,
}

impl Label {
    /// A single active line (empty text: no label).
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        if text.is_empty() {
            return Self::default();
        }
        Self {
            lines: vec![LabelLine { text, active: true }],
        }
    }

    /// The active lines joined with `, ` (for HTML and alt texts).
    pub fn plain(&self) -> String {
        let active: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.active)
            .map(|l| l.text.as_str())
            .collect();
        active.join(", ")
    }

    /// Whether there is any text to draw.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.text.trim().is_empty())
    }
}

/// The axes of a grid; y and z are optional (A1111's "Nothing").
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Columns.
    pub x: Axis,
    /// Rows.
    pub y: Option<Axis>,
    /// Sheets.
    pub z: Option<Axis>,
}

/// What every cell starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct GridBase {
    /// The request as the prompt file and suite define it (prompt already rendered).
    pub request: ImageRequest,
    /// The provider id.
    pub provider: String,
    /// The template variables the prompt was rendered with (`var:` axes override them).
    pub vars: BTreeMap<String, String>,
}

/// A prompt rendered from template variables (for `var:` axes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPrompt {
    /// The positive prompt.
    pub prompt: String,
    /// The negative prompt.
    pub negative_prompt: String,
}

/// Seed handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpandOptions {
    /// A1111's "Keep -1 for seeds": leave random seeds to each call instead of fixing them.
    pub keep_random_seeds: bool,
    /// Seed of the generator that fixes random seeds (`None`: from the system).
    pub rng_seed: Option<u64>,
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Column index.
    pub x: usize,
    /// Row index.
    pub y: usize,
    /// Sheet index.
    pub z: usize,
    /// What to generate.
    pub request: ImageRequest,
    /// Which provider generates it.
    pub provider: String,
    /// The template variables after `var:` axes.
    pub vars: BTreeMap<String, String>,
}

/// A grid ready to generate: cells in index order (x fastest, then y, then z).
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// Number of columns.
    pub nx: usize,
    /// Number of rows.
    pub ny: usize,
    /// Number of sheets.
    pub nz: usize,
    /// Axis titles (empty when the axis is absent).
    pub titles: [String; 3],
    /// Column labels.
    pub x_labels: Vec<Label>,
    /// Row labels.
    pub y_labels: Vec<Label>,
    /// Sheet labels.
    pub z_labels: Vec<Label>,
    /// `cells[x + y * nx + z * nx * ny]`.
    pub cells: Vec<Cell>,
    /// Indices into `cells` in the order to generate them.
    pub order: Vec<usize>,
}

impl Expansion {
    /// The cell at (x, y, z).
    pub fn cell(&self, x: usize, y: usize, z: usize) -> &Cell {
        &self.cells[x + y * self.nx + z * self.nx * self.ny]
    }

    /// The column, row and sheet labels of a cell.
    pub fn labels_of(&self, cell: &Cell) -> [&Label; 3] {
        [
            &self.x_labels[cell.x],
            &self.y_labels[cell.y],
            &self.z_labels[cell.z],
        ]
    }
}

/// Draws the seeds of `-1` cells: splitmix64 from the given seed, else from the clock.
pub(crate) struct SeedRng(incant_rng::SplitMix64);

impl SeedRng {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let s = seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.finish()
        });
        Self(incant_rng::SplitMix64::new(s))
    }

    /// A seed in A1111's range, `random.randrange(4294967294)`.
    pub(crate) fn seed(&mut self) -> u64 {
        self.0.next_u64() % 4_294_967_294
    }
}

fn axes(grid: &Grid) -> [Option<&Axis>; 3] {
    [Some(&grid.x), grid.y.as_ref(), grid.z.as_ref()]
}

impl Grid {
    /// A grid over one axis.
    pub fn new(x: Axis) -> Self {
        Self {
            x,
            y: None,
            z: None,
        }
    }

    /// Expands the grid. A `var:` axis needs [`Grid::expand_with`].
    pub fn expand(&self, base: &GridBase, opts: &ExpandOptions) -> Result<Expansion, GridError> {
        self.expand_with(base, opts, |_| {
            Err("this grid has a var: axis but no prompt template was given".into())
        })
    }

    /// Expands the grid, rendering the prompt with `render` for every combination of
    /// `var:` values (only called when the grid has a `var:` axis).
    pub fn expand_with<F>(
        &self,
        base: &GridBase,
        opts: &ExpandOptions,
        mut render: F,
    ) -> Result<Expansion, GridError>
    where
        F: FnMut(&BTreeMap<String, String>) -> Result<RenderedPrompt, String>,
    {
        let axes = axes(self);
        let present: Vec<&Axis> = axes.iter().flatten().copied().collect();
        for (i, a) in present.iter().enumerate() {
            if present[..i].iter().any(|b| b.kind == a.kind) {
                return Err(GridError::DuplicateAxis {
                    axis: a.kind.title(),
                });
            }
        }
        let mut rng = SeedRng::new(opts.rng_seed);
        let mut base_request = base.request.clone();
        if base_request.seed.is_none() && !opts.keep_random_seeds {
            base_request.seed = Some(rng.seed());
        }
        // Fix -1 seeds once per axis value, x then y then z as A1111 does.
        let fixed: Vec<Option<Vec<AxisValue>>> = axes
            .iter()
            .map(|a| {
                a.map(|a| {
                    a.values
                        .iter()
                        .map(|v| match (&a.kind, v) {
                            (AxisKind::Seed, AxisValue::Int(-1)) if !opts.keep_random_seeds => {
                                AxisValue::Int(rng.seed() as i64)
                            }
                            _ => v.clone(),
                        })
                        .collect()
                })
            })
            .collect();
        let len = |i: usize| fixed[i].as_ref().map_or(1, Vec::len);
        let (nx, ny, nz) = (len(0), len(1), len(2));
        let total = nx.saturating_mul(ny).saturating_mul(nz);
        if total > MAX_CELLS {
            return Err(GridError::TooManyCells {
                cells: total,
                hint: format!(
                    "a grid holds at most {MAX_CELLS} cells; use fewer values or split the grid"
                ),
            });
        }
        let has_var = present.iter().any(|a| matches!(a.kind, AxisKind::Var(_)));
        let mut cells = Vec::with_capacity(nx * ny * nz);
        for iz in 0..nz {
            for iy in 0..ny {
                for ix in 0..nx {
                    let idx = [ix, iy, iz];
                    let mut request = base_request.clone();
                    let mut provider = base.provider.clone();
                    let mut vars = base.vars.clone();
                    for (k, (a, values)) in axes.iter().zip(&fixed).enumerate() {
                        if let (Some(a), Some(values)) = (a, values) {
                            if let (AxisKind::Var(name), AxisValue::Text(t)) =
                                (&a.kind, &values[idx[k]])
                            {
                                vars.insert(name.clone(), t.clone());
                            }
                        }
                    }
                    if has_var {
                        let rendered = render(&vars).map_err(|reason| GridError::Template {
                            axis: present
                                .iter()
                                .find(|a| matches!(a.kind, AxisKind::Var(_)))
                                .map(|a| a.kind.title())
                                .unwrap_or_default(),
                            reason,
                            hint: "check the variable names against the prompt file's inputs"
                                .into(),
                        })?;
                        request.prompt = rendered.prompt;
                        request.negative_prompt = rendered.negative_prompt;
                    }
                    for (k, (a, values)) in axes.iter().zip(&fixed).enumerate() {
                        if let (Some(a), Some(values)) = (a, values) {
                            apply(a, &values[idx[k]], &mut request, &mut provider)?;
                        }
                    }
                    cells.push(Cell {
                        x: ix,
                        y: iy,
                        z: iz,
                        request,
                        provider,
                        vars,
                    });
                }
            }
        }
        let labels = |i: usize| -> Vec<Label> {
            match (axes[i], &fixed[i]) {
                (Some(a), Some(values)) => values
                    .iter()
                    .map(|v| Label::text(value_label(&a.kind, v)))
                    .collect(),
                _ => vec![Label::default()],
            }
        };
        let costs = axes.map(|a| a.map_or(0.0, |a| a.kind.cost()));
        Ok(Expansion {
            nx,
            ny,
            nz,
            titles: axes.map(|a| a.map(|a| a.kind.title()).unwrap_or_default()),
            x_labels: labels(0),
            y_labels: labels(1),
            z_labels: labels(2),
            order: generation_order([nx, ny, nz], costs),
            cells,
        })
    }
}

/// Sets one axis value on a request.
fn apply(
    axis: &Axis,
    value: &AxisValue,
    request: &mut ImageRequest,
    provider: &mut String,
) -> Result<(), GridError> {
    match (&axis.kind, value) {
        (AxisKind::Seed, AxisValue::Int(s)) => {
            request.seed = if *s < 0 { None } else { Some(*s as u64) }
        }
        (AxisKind::Steps, AxisValue::Int(n)) => request.steps = *n as u32,
        (AxisKind::Width, AxisValue::Int(n)) => request.width = *n as u32,
        (AxisKind::Height, AxisValue::Int(n)) => request.height = *n as u32,
        (AxisKind::CfgScale, AxisValue::Float(f)) => request.cfg_scale = *f,
        (AxisKind::Sampler, AxisValue::Text(t)) => request.sampler = Some(t.clone()),
        (AxisKind::Provider, AxisValue::Text(t)) => *provider = t.clone(),
        (AxisKind::PromptSr, AxisValue::Text(t)) => {
            let search = search_of(axis);
            if !request.prompt.contains(search) && !request.negative_prompt.contains(search) {
                return Err(GridError::SearchNotFound {
                    axis: axis.kind.title(),
                    search: search.to_string(),
                    field: "prompt or negative prompt".into(),
                });
            }
            request.prompt = request.prompt.replace(search, t);
            request.negative_prompt = request.negative_prompt.replace(search, t);
        }
        (AxisKind::NegativePromptSr, AxisValue::Text(t)) => {
            let search = search_of(axis);
            if !request.negative_prompt.contains(search) {
                return Err(GridError::SearchNotFound {
                    axis: axis.kind.title(),
                    search: search.to_string(),
                    field: "negative prompt".into(),
                });
            }
            request.negative_prompt = request.negative_prompt.replace(search, t);
        }
        (AxisKind::Var(_), _) => {}
        (kind, v) => unreachable!("Axis::new checks value types ({kind:?}, {v:?})"),
    }
    Ok(())
}

fn search_of(axis: &Axis) -> &str {
    match &axis.values[0] {
        AxisValue::Text(t) => t,
        _ => "",
    }
}

/// A1111's loop nesting: the axis with the highest cost outermost, then the next; ties keep
/// z outer, then y, x innermost.
fn generation_order(n: [usize; 3], cost: [f64; 3]) -> Vec<usize> {
    let (first, second) = if cost[0] > cost[1] && cost[0] > cost[2] {
        (0, if cost[1] > cost[2] { 1 } else { 2 })
    } else if cost[1] > cost[0] && cost[1] > cost[2] {
        (1, if cost[0] > cost[2] { 0 } else { 2 })
    } else if cost[2] > cost[0] && cost[2] > cost[1] {
        (2, if cost[0] > cost[1] { 0 } else { 1 })
    } else {
        (2, 1)
    };
    let third = 3 - first - second;
    let mut order = Vec::with_capacity(n[0] * n[1] * n[2]);
    for a in 0..n[first] {
        for b in 0..n[second] {
            for c in 0..n[third] {
                let mut idx = [0; 3];
                idx[first] = a;
                idx[second] = b;
                idx[third] = c;
                order.push(idx[0] + idx[1] * n[0] + idx[2] * n[0] * n[1]);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_order_is_z_then_y_then_x() {
        assert_eq!(generation_order([2, 2, 1], [0.0; 3]), [0, 1, 2, 3]);
        // A provider on x: x is the outer loop.
        assert_eq!(generation_order([2, 2, 1], [1.0, 0.0, 0.0]), [0, 2, 1, 3]);
        assert_eq!(generation_order([2, 1, 2], [0.0, 0.0, 0.0]), [0, 1, 2, 3]);
    }
}
