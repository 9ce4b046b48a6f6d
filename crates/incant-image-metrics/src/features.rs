//! A feature matrix (one row per image) checked once on the way in, so the metrics can trust it.
//!
//! Any extractor feeds the metrics through this type: pytorch-fid's Inception pool3
//! activations (2,048 dimensions), CLIP image embeddings, or an `.npy` matrix a user already
//! has. Values are kept as `f64` because FID and KID are computed in `f64` end to end.

use crate::error::{MetricsError, Result};

/// `rows x dims` features, row-major, all finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    data: Vec<f64>,
    rows: usize,
    dims: usize,
}

impl Features {
    /// Builds the matrix from one `Vec` per image. `set` names the set in errors ("A", a folder).
    pub fn from_rows<T: Copy + Into<f64>>(set: &str, rows: &[Vec<T>]) -> Result<Self> {
        let dims = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * dims);
        for (row, values) in rows.iter().enumerate() {
            if values.len() != dims {
                return Err(MetricsError::RaggedRows {
                    set: set.to_string(),
                    row,
                    found: values.len(),
                    expected: dims,
                });
            }
            data.extend(values.iter().map(|&v| v.into()));
        }
        Self::from_flat(set, data, dims)
    }

    /// Builds the matrix from row-major values, `dims` per row (an `N x D` `.npy` body).
    pub fn from_flat(set: &str, data: Vec<f64>, dims: usize) -> Result<Self> {
        if dims == 0 || data.is_empty() {
            return Err(MetricsError::TooFewRows {
                set: set.to_string(),
                min: 1,
            });
        }
        if !data.len().is_multiple_of(dims) {
            return Err(MetricsError::BadShape {
                set: set.to_string(),
                len: data.len(),
                dims,
            });
        }
        if let Some(at) = data.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite {
                set: set.to_string(),
                row: at / dims,
                col: at % dims,
                value: data[at],
            });
        }
        let rows = data.len() / dims;
        Ok(Self { data, rows, dims })
    }

    /// Like [`Features::from_flat`] for `f32` values (what most extractors produce).
    pub fn from_flat_f32(set: &str, data: &[f32], dims: usize) -> Result<Self> {
        Self::from_flat(set, data.iter().map(|&v| f64::from(v)).collect(), dims)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_rows_name_the_row() {
        let err = Features::from_rows("A", &[vec![1.0f32, 2.0], vec![3.0]]).unwrap_err();
        assert!(
            err.to_string().contains("row 1 has 1 values, expected 2"),
            "{err}"
        );
    }

    #[test]
    fn nan_is_located() {
        let err = Features::from_flat("B", vec![0.0, 1.0, 2.0, f64::NAN], 2).unwrap_err();
        assert!(
            matches!(err, MetricsError::NonFinite { row: 1, col: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("feature set B:"), "{err}");
    }

    #[test]
    fn empty_and_misshaped_sets_are_errors() {
        assert!(matches!(
            Features::from_rows::<f32>("A", &[]),
            Err(MetricsError::TooFewRows { .. })
        ));
        assert!(matches!(
            Features::from_flat("A", vec![1.0; 5], 2),
            Err(MetricsError::BadShape {
                len: 5,
                dims: 2,
                ..
            })
        ));
    }

    #[test]
    fn rows_are_row_major() {
        let f = Features::from_rows("A", &[vec![1.0f32, 2.0], vec![3.0, 4.0]]).unwrap();
        assert_eq!((f.rows(), f.dims()), (2, 2));
        assert_eq!(f.row(1), &[3.0, 4.0]);
    }
}
