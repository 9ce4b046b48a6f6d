//! Mean and covariance of a feature set: the two numbers of a Gaussian that FID compares.
//!
//! The covariance is `np.cov(x, rowvar=False)`: centred, divided by `n - 1`. pytorch-fid
//! takes the mean of its `float32` activations in `float32`; here both are `f64`, which
//! moves FID by far less than its sampling noise.

use faer::Mat;

use crate::error::{MetricsError, Result};
use crate::features::Features;
use crate::linalg;

/// The Gaussian statistics of a feature set.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    pub mean: Vec<f64>,
    /// `dims x dims`, row-major, symmetric.
    pub cov: Vec<f64>,
    /// Number of samples the statistics came from.
    pub n: usize,
}

impl FeatureStats {
    /// Statistics someone else computed (clean-fid's or pytorch-fid's `.npz` `mu` and `sigma`).
    pub fn new(mean: Vec<f64>, cov: Vec<f64>, n: usize) -> Result<Self> {
        if cov.len() != mean.len() * mean.len() || mean.is_empty() {
            return Err(MetricsError::BadStats {
                mean: mean.len(),
                cov: cov.len(),
            });
        }
        Ok(Self { mean, cov, n })
    }

    /// Statistics of one `Vec<f32>` per image.
    pub fn from_features(rows: &[Vec<f32>]) -> Result<Self> {
        Self::from_matrix(&Features::from_rows("features", rows)?)
    }

    /// Statistics of a checked feature matrix (needs at least 2 rows).
    pub fn from_matrix(features: &Features) -> Result<Self> {
        let (n, d) = (features.rows(), features.dims());
        if n < 2 {
            return Err(MetricsError::TooFewRows {
                set: "for a covariance".into(),
                min: 2,
            });
        }
        let x = features.as_slice();
        let mut mean = vec![0.0f64; d];
        for row in x.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let centred = Mat::<f64>::from_fn(n, d, |i, j| x[i * d + j] - mean[j]);
        let cov = linalg::product(centred.transpose(), centred.as_ref(), 1.0 / (n - 1) as f64);
        // Symmetric by construction up to rounding; make it exactly so.
        let mut out = vec![0.0f64; d * d];
        for i in 0..d {
            for j in 0..=i {
                let v = 0.5 * (cov[(i, j)] + cov[(j, i)]);
                out[i * d + j] = v;
                out[j * d + i] = v;
            }
        }
        Ok(Self { mean, cov: out, n })
    }

    pub fn dims(&self) -> usize {
        self.mean.len()
    }

    pub(crate) fn trace(&self) -> f64 {
        let d = self.dims();
        (0..d).map(|i| self.cov[i * d + i]).sum()
    }
}

/// Statistics of any extractor's output (Inception, CLIP image embeddings), one row per image.
pub fn image_features_stats(set: &str, rows: &[Vec<f32>]) -> Result<FeatureStats> {
    FeatureStats::from_matrix(&Features::from_rows(set, rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_cov_by_hand() {
        // np.cov([[1, 2], [3, 5], [4, 4]], rowvar=False) = [[7/3, 11/6], [11/6, 7/3]]
        let s =
            FeatureStats::from_features(&[vec![1.0, 2.0], vec![3.0, 5.0], vec![4.0, 4.0]]).unwrap();
        assert_eq!(s.mean, vec![8.0 / 3.0, 11.0 / 3.0]);
        let expected = [7.0 / 3.0, 11.0 / 6.0, 11.0 / 6.0, 7.0 / 3.0];
        for (a, b) in s.cov.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{:?}", s.cov);
        }
        assert_eq!(s.n, 3);
    }

    #[test]
    fn one_row_is_an_error() {
        let err = FeatureStats::from_features(&[vec![1.0, 2.0]]).unwrap_err();
        assert!(
            matches!(err, MetricsError::TooFewRows { min: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn inconsistent_stats_are_rejected() {
        assert!(matches!(
            FeatureStats::new(vec![0.0; 3], vec![0.0; 8], 10),
            Err(MetricsError::BadStats { mean: 3, cov: 8 })
        ));
    }
}
