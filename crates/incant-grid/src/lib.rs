//! X/Y/Z grids for image prompts, as AUTOMATIC1111's X/Y/Z plot and prompt matrix scripts
//! make them, and the pictures that show them.
//!
//! The flow: parse axes ([`Axis::parse`], A1111's value syntax and ranges), expand a
//! [`Grid`] over a base request into [`Cell`]s ([`Grid::expand`]; or a [`PromptMatrix`]),
//! let the caller generate each cell through a closure ([`run_cells`]; this crate never
//! talks to a model itself), then draw the results: labelled PNG contact sheets
//! ([`contact_sheets`], labels set in the embedded Roboto font), a self-contained HTML grid
//! with every cell's metadata ([`render_html`]), and for `incant image curve` the FID
//! against CLIP score line plot with its CSV ([`curve_png`], [`curve_csv`]).

mod axis;
mod canvas;
mod curve;
mod expand;
mod font;
mod html;
mod matrix;
mod pyfmt;
mod run;
mod sheet;
pub mod values;

pub use axis::{value_label, Axis, AxisKind, AxisValue};
pub use curve::{curve_csv, curve_png, default_cfg_scales, CurvePoint, CurveSeries};
pub use expand::{
    Cell, ExpandOptions, Expansion, Grid, GridBase, Label, LabelLine, RenderedPrompt, MAX_CELLS,
};
pub use html::{cell_file_name, render_html, write_cell_images, HtmlImages, HtmlOptions};
pub use matrix::{prompt_matrix, MatrixDelimiter, MatrixOptions, PromptMatrix};
pub use run::{run_cells, CellResult, GridRun};
pub use sheet::{contact_sheets, Sheet, SheetLayout, SheetOptions};

/// Everything that can go wrong while building or drawing a grid.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// An axis type nobody knows.
    #[error("unknown axis type `{name}`; hint: {hint}")]
    AxisType {
        /// What the user wrote.
        name: String,
        /// The accepted names.
        hint: String,
    },
    /// A value on an axis could not be read.
    #[error("axis {axis}: value `{value}`: {reason}; hint: {hint}")]
    AxisValue {
        /// The axis title (`Steps`, `CFG Scale`, ...).
        axis: String,
        /// The offending value.
        value: String,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// A Prompt S/R search string that is not in the prompt.
    #[error("axis {axis}: the search string `{search}` is not in the {field}; hint: the first value of a search/replace axis must appear in the prompt it edits")]
    SearchNotFound {
        /// The axis title.
        axis: String,
        /// The first value.
        search: String,
        /// Where it was looked for (`prompt or negative prompt`, `negative prompt`).
        field: String,
    },
    /// A `var:` axis without a way to render the prompt, or a failed render.
    #[error("axis {axis}: {reason}; hint: {hint}")]
    Template {
        /// The axis title.
        axis: String,
        /// What went wrong.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// The same axis kind twice (the second would overwrite the first).
    #[error("axis {axis} is used twice; hint: give each axis a different type")]
    DuplicateAxis {
        /// The axis title.
        axis: String,
    },
    /// A grid with more cells than anyone would generate.
    #[error("the grid has {cells} cells; hint: {hint}")]
    TooManyCells {
        /// x values times y values times z values.
        cells: usize,
        /// How to shrink it.
        hint: String,
    },
    /// A grid too large to draw.
    #[error("the grid would be {width}x{height} pixels; hint: {hint}")]
    TooLarge {
        /// Sheet width.
        width: u64,
        /// Sheet height.
        height: u64,
        /// How to shrink it.
        hint: String,
    },
    /// Curve input that cannot be plotted.
    #[error("curve: {0}")]
    Curve(String),
    /// A PNG that could not be encoded.
    #[error("encoding PNG: {0}")]
    Png(#[from] png::EncodingError),
    /// Writing output files.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
