//! Fréchet Inception Distance between two Gaussians, in `f64`, as pytorch-fid defines it.
//!
//! `FID = ||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr sqrt(S1 S2)`.
//!
//! pytorch-fid takes `scipy.linalg.sqrtm(S1 @ S2)` (a Schur decomposition of a non-symmetric
//! matrix, with an `eps` retry and a complex part to discard). The trace needs only the
//! eigenvalues of `sqrt(S1 S2)`, and `S1 S2` is similar to the symmetric positive
//! semi-definite `S1^½ S2 S1^½`, so here:
//!
//! 1. `S1 = U diag(l) Uᵀ` (symmetric eigendecomposition), tiny negative `l` clamped to 0;
//! 2. `B = U diag(sqrt l)`, so `Bᵀ S2 B` is `S1^½ S2 S1^½` turned by the orthogonal `U`
//!    (same eigenvalues, one matrix product fewer);
//! 3. `Tr sqrt(S1 S2) = Σ sqrt(max(λ, 0))` over the eigenvalues `λ` of `Bᵀ S2 B`.
//!
//! Both decompositions are symmetric ones, which are stable and several times faster than
//! `sqrtm`. With fewer samples than dimensions a covariance is singular: the value is still
//! computed (and agrees with pytorch-fid), but it is dominated by the estimate's bias, so a
//! [`FidWarning::FewerSamplesThanDims`] comes with it.

use std::fmt;

use crate::error::{MetricsError, Result};
use crate::linalg;
use crate::stats::FeatureStats;

/// Eigenvalues below `-NEGATIVE_TOLERANCE * largest` mean the input was not a covariance.
const NEGATIVE_TOLERANCE: f64 = 1e-8;

/// An FID value and what the caller should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fid {
    pub value: f64,
    pub warnings: Vec<FidWarning>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FidWarning {
    /// `samples < dims`: the covariance is singular and FID is strongly biased upwards.
    FewerSamplesThanDims {
        set: &'static str,
        samples: usize,
        dims: usize,
    },
    /// A matrix that should be positive semi-definite had clearly negative eigenvalues
    /// (statistics not from [`FeatureStats::from_matrix`], or broken); they were clamped to 0.
    NegativeEigenvalue {
        matrix: &'static str,
        min: f64,
        largest: f64,
    },
}

impl fmt::Display for FidWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FewerSamplesThanDims { set, samples, dims } => write!(
                f,
                "set {set} has {samples} samples for {dims} feature dimensions: its covariance is \
                 singular and FID is biased; use at least {dims} images (10,000 or more for \
                 numbers comparable with papers)"
            ),
            Self::NegativeEigenvalue {
                matrix,
                min,
                largest,
            } => write!(
                f,
                "{matrix} has a negative eigenvalue {min:e} (largest {largest:e}); it is not a \
                 covariance matrix, values were clamped to 0"
            ),
        }
    }
}

/// FID between two feature sets' statistics.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<Fid> {
    let d = a.dims();
    if b.dims() != d {
        return Err(MetricsError::DimensionMismatch { a: d, b: b.dims() });
    }
    for s in [a, b] {
        if s.cov.len() != d * d {
            return Err(MetricsError::BadStats {
                mean: d,
                cov: s.cov.len(),
            });
        }
    }
    let mut warnings = Vec::new();
    for (set, s) in [("A", a), ("B", b)] {
        if s.n < d {
            warnings.push(FidWarning::FewerSamplesThanDims {
                set,
                samples: s.n,
                dims: d,
            });
        }
    }

    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();

    let s1 = linalg::square(&a.cov, d);
    let s2 = linalg::square(&b.cov, d);
    let (l1, u1) = linalg::symmetric_eigen(s1.as_ref(), "the covariance of set A")?;
    check_psd(&l1, "the covariance of set A", &mut warnings);
    // B = U diag(sqrt l): scale the eigenvector columns.
    let mut half = u1;
    for (j, l) in l1.iter().enumerate() {
        let r = l.max(0.0).sqrt();
        half.col_mut(j).iter_mut().for_each(|v| *v *= r);
    }
    let s2_half = linalg::product(s2.as_ref(), half.as_ref(), 1.0);
    let mut inner = linalg::product(half.transpose(), s2_half.as_ref(), 1.0);
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (inner[(i, j)] + inner[(j, i)]);
            inner[(i, j)] = v;
            inner[(j, i)] = v;
        }
    }
    let l = linalg::symmetric_eigenvalues(inner.as_ref(), "S1^1/2 S2 S1^1/2")?;
    check_psd(&l, "S1^1/2 S2 S1^1/2", &mut warnings);
    let trace_sqrt: f64 = l.iter().map(|v| v.max(0.0).sqrt()).sum();

    let value = mean_term + a.trace() + b.trace() - 2.0 * trace_sqrt;
    Ok(Fid { value, warnings })
}

fn check_psd(ascending: &[f64], matrix: &'static str, warnings: &mut Vec<FidWarning>) {
    let (Some(&min), Some(&largest)) = (ascending.first(), ascending.last()) else {
        return;
    };
    if min < -NEGATIVE_TOLERANCE * largest.abs().max(f64::MIN_POSITIVE) {
        warnings.push(FidWarning::NegativeEigenvalue {
            matrix,
            min,
            largest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag_stats(mean: Vec<f64>, diag: &[f64], n: usize) -> FeatureStats {
        let d = diag.len();
        let mut cov = vec![0.0; d * d];
        for (i, v) in diag.iter().enumerate() {
            cov[i * d + i] = *v;
        }
        FeatureStats::new(mean, cov, n).unwrap()
    }

    #[test]
    fn diagonal_gaussians_have_a_closed_form() {
        // For diagonal covariances FID = |mu1-mu2|² + Σ (sqrt a_i - sqrt b_i)².
        let a = diag_stats(vec![0.0, 1.0, 2.0], &[1.0, 4.0, 9.0], 100);
        let b = diag_stats(vec![1.0, 1.0, 0.0], &[4.0, 1.0, 1.0], 100);
        let fid = frechet_distance(&a, &b).unwrap();
        let expected = 1.0 + 0.0 + 4.0 + (1.0 + 1.0 + 4.0);
        assert!((fid.value - expected).abs() < 1e-12, "{fid:?}");
        assert!(fid.warnings.is_empty());
    }

    #[test]
    fn few_samples_warn_and_mismatched_dims_fail() {
        let a = diag_stats(vec![0.0; 3], &[1.0; 3], 2);
        let b = diag_stats(vec![0.0; 3], &[1.0; 3], 50);
        let fid = frechet_distance(&a, &b).unwrap();
        assert_eq!(
            fid.warnings,
            vec![FidWarning::FewerSamplesThanDims {
                set: "A",
                samples: 2,
                dims: 3
            }]
        );
        assert!(fid.warnings[0]
            .to_string()
            .contains("use at least 3 images"));
        let c = diag_stats(vec![0.0; 2], &[1.0; 2], 50);
        assert!(matches!(
            frechet_distance(&a, &c),
            Err(MetricsError::DimensionMismatch { a: 3, b: 2 })
        ));
    }

    #[test]
    fn a_non_covariance_is_flagged() {
        let a = diag_stats(vec![0.0; 2], &[1.0, -0.5], 50);
        let b = diag_stats(vec![0.0; 2], &[1.0, 1.0], 50);
        let fid = frechet_distance(&a, &b).unwrap();
        assert!(matches!(
            fid.warnings[..],
            [FidWarning::NegativeEigenvalue { min, .. }] if min == -0.5
        ));
    }
}
