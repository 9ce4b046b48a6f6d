//! The crate's one error type: every failure names what was wrong and, where it helps, what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("feature set {set} is empty; give at least {min} rows")]
    TooFewRows { set: String, min: usize },
    #[error("feature set {set}: row {row} has {found} values, expected {expected} (every row needs the same number of dimensions)")]
    RaggedRows {
        set: String,
        row: usize,
        found: usize,
        expected: usize,
    },
    #[error("feature set {set}: {len} values do not divide into rows of {dims} dimensions")]
    BadShape {
        set: String,
        len: usize,
        dims: usize,
    },
    #[error("feature set {set}: value at row {row}, column {col} is {value} (features must be finite; check the extractor's output)")]
    NonFinite {
        set: String,
        row: usize,
        col: usize,
        value: f64,
    },
    #[error("feature dimensions differ: {a} against {b} (both sets must come from the same feature extractor)")]
    DimensionMismatch { a: usize, b: usize },
    #[error("statistics are inconsistent: mean has {mean} values but the covariance holds {cov} (expected {mean}²)")]
    BadStats { mean: usize, cov: usize },
    #[error("the eigendecomposition of {what} did not converge")]
    Eigen { what: &'static str },
    #[error(
        "KID needs subsets of at least 2 rows (got {size}); raise the subset size or add samples"
    )]
    SubsetTooSmall { size: usize },
    #[error("KID needs at least one subset")]
    NoSubsets,
    #[error("{file}: {detail}")]
    Npy { file: String, detail: String },
    #[error("Inception weights {path}: {detail}")]
    ModelFile { path: String, detail: String },
    #[error("Inception weights {path}: {source} (expected pytorch-fid's state dict keys, e.g. Conv2d_1a_3x3.conv.weight; see scripts/reference/convert_fid_inception.py)")]
    Model {
        path: String,
        #[source]
        source: candle_core::Error,
    },
    #[error("Inception forward pass: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("image {what}: {detail}")]
    Image { what: String, detail: String },
}

pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
