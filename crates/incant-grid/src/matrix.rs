//! Prompt matrices, as A1111's "Prompt matrix" script makes them.
//!
//! `a | b | c` splits at `|`; the first part is always in the prompt and every combination
//! of the others follows, combination `n` taking part `i + 1` when bit `i` of `n` is set
//! (so `a`, `a, b`, `a, c`, `a, b, c`). The optional parts are stripped of spaces and
//! commas, the first part is kept as written. In the sheet the first half of the optional
//! parts (rounded up) labels the columns and the rest the rows, each label listing all of
//! its parts with the ones that are off greyed out -- A1111's `draw_prompt_matrix`.

use crate::expand::{Cell, ExpandOptions, Expansion, GridBase, Label, LabelLine, SeedRng};
use serde::Serialize;

/// How the chosen parts are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum MatrixDelimiter {
    /// `", "` (A1111's default).
    #[default]
    Comma,
    /// `" "`.
    Space,
}

/// A1111's prompt matrix options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatrixOptions {
    /// "Set at prompt start": the optional parts go before the first part.
    pub put_at_start: bool,
    /// "Random seeds": cell `i` uses seed + i instead of one seed for all.
    pub different_seeds: bool,
    /// Apply the matrix to the negative prompt instead of the prompt.
    pub negative: bool,
    /// Joining text.
    pub delimiter: MatrixDelimiter,
}

/// The parts of a matrix prompt and every combination, in A1111's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptMatrix {
    /// The `|`-separated parts as written.
    pub parts: Vec<String>,
    /// One prompt per combination.
    pub prompts: Vec<String>,
}

/// Splits `prompt` at `|` and builds every combination of the optional parts.
pub fn prompt_matrix(prompt: &str, opts: &MatrixOptions) -> PromptMatrix {
    let parts: Vec<String> = prompt.split('|').map(str::to_string).collect();
    let delimiter = match opts.delimiter {
        MatrixDelimiter::Comma => ", ",
        MatrixDelimiter::Space => " ",
    };
    let optional = &parts[1..];
    let count = 1usize << optional.len();
    let prompts = (0..count)
        .map(|n| {
            let mut selected: Vec<&str> = optional
                .iter()
                .enumerate()
                .filter(|(i, _)| n & (1 << i) != 0)
                .map(|(_, t)| t.trim().trim_matches(','))
                .collect();
            if opts.put_at_start {
                selected.push(&parts[0]);
            } else {
                selected.insert(0, &parts[0]);
            }
            selected.join(delimiter)
        })
        .collect();
    PromptMatrix { parts, prompts }
}

impl PromptMatrix {
    /// Number of optional parts in the column labels (the first half, rounded up).
    fn horizontal(&self) -> usize {
        (self.parts.len() - 1).div_ceil(2)
    }

    /// Cells for the matrix: combination `n` at column `n % cols`, row `n / cols`, as A1111's
    /// `image_grid` with `rows = 1 << (parts / 2)` lays them out.
    pub fn expansion(
        &self,
        base: &GridBase,
        opts: &MatrixOptions,
        expand: &ExpandOptions,
    ) -> Expansion {
        let optional = &self.parts[1..];
        let h = self.horizontal();
        let nx = 1usize << h;
        let ny = 1usize << (optional.len() - h);
        let mut rng = SeedRng::new(expand.rng_seed);
        let seed = base
            .request
            .seed
            .or_else(|| (!expand.keep_random_seeds).then(|| rng.seed()));
        let cells = self
            .prompts
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let mut request = base.request.clone();
                if opts.negative {
                    request.negative_prompt = p.clone();
                } else {
                    request.prompt = p.clone();
                }
                request.seed = seed.map(|s| {
                    if opts.different_seeds {
                        s + n as u64
                    } else {
                        s
                    }
                });
                Cell {
                    x: n % nx,
                    y: n / nx,
                    z: 0,
                    request,
                    provider: base.provider.clone(),
                    vars: base.vars.clone(),
                }
            })
            .collect();
        let label = |parts: &[String], pos: usize| Label {
            lines: parts
                .iter()
                .enumerate()
                .map(|(i, t)| LabelLine {
                    text: t.trim().trim_matches(',').trim().to_string(),
                    active: pos & (1 << i) != 0,
                })
                .collect(),
        };
        Expansion {
            nx,
            ny,
            nz: 1,
            titles: [
                "Prompt matrix".into(),
                "Prompt matrix".into(),
                String::new(),
            ],
            x_labels: (0..nx).map(|pos| label(&optional[..h], pos)).collect(),
            y_labels: (0..ny).map(|pos| label(&optional[h..], pos)).collect(),
            z_labels: vec![Label::default()],
            order: (0..nx * ny).collect(),
            cells,
        }
    }
}
