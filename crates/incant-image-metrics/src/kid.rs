//! Kernel Inception Distance: the unbiased MMD² with a cubic polynomial kernel, averaged over
//! random subsets.
//!
//! `k(x, y) = (x·y / d + 1)³`; for subsets `X`, `Y` of `m` rows each
//! `MMD² = [Σ_{i≠j} k(xi, xj) + Σ_{i≠j} k(yi, yj)] / (m(m-1)) - 2 Σ_{i,j} k(xi, yj) / m²`,
//! the formula of torchmetrics' `poly_mmd` and clean-fid's `kernel_distance` (Bińkowski et al.
//! 2018). Defaults follow them: 100 subsets of 1,000 rows, the size capped at the smaller set.
//! The mean and the population standard deviation over subsets are reported (torchmetrics'
//! `std(unbiased=False)`; clean-fid reports only the mean). Subsets are drawn without
//! replacement with our own seeded [`SplitMix64`], so the subsets, unlike the per-subset
//! value, differ from theirs. The unbiased estimate can be slightly negative for close sets.

use faer::Mat;

use crate::error::{MetricsError, Result};
use crate::features::Features;
use crate::linalg;
use incant_rng::SplitMix64;

#[derive(Debug, Clone, PartialEq)]
pub struct KidOptions {
    pub subsets: usize,
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kid {
    pub mean: f64,
    /// Population standard deviation of the per-subset values.
    pub std: f64,
    pub subsets: usize,
    /// The subset size used (the requested size capped at the smaller set).
    pub subset_size: usize,
    /// Set when the requested subset size was larger than a set.
    pub capped_from: Option<usize>,
}

/// KID between feature sets `a` and `b`.
pub fn kernel_inception_distance(a: &Features, b: &Features, options: &KidOptions) -> Result<Kid> {
    if a.dims() != b.dims() {
        return Err(MetricsError::DimensionMismatch {
            a: a.dims(),
            b: b.dims(),
        });
    }
    if options.subsets == 0 {
        return Err(MetricsError::NoSubsets);
    }
    let m = options.subset_size.min(a.rows()).min(b.rows());
    if m < 2 {
        return Err(MetricsError::SubsetTooSmall { size: m });
    }
    let mut rng = SplitMix64::new(options.seed);
    let mut values = Vec::with_capacity(options.subsets);
    for _ in 0..options.subsets {
        let ia = rng.choose(a.rows(), m);
        let ib = rng.choose(b.rows(), m);
        values.push(mmd2(&gather(a, &ia), &gather(b, &ib)));
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / values.len() as f64;
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subsets: options.subsets,
        subset_size: m,
        capped_from: (m < options.subset_size).then_some(options.subset_size),
    })
}

/// The unbiased polynomial-kernel MMD² between two sets of the same size (all rows).
pub fn polynomial_mmd2(x: &Features, y: &Features) -> Result<f64> {
    if x.dims() != y.dims() {
        return Err(MetricsError::DimensionMismatch {
            a: x.dims(),
            b: y.dims(),
        });
    }
    if x.rows() != y.rows() || x.rows() < 2 {
        return Err(MetricsError::SubsetTooSmall {
            size: x.rows().min(y.rows()),
        });
    }
    let all: Vec<usize> = (0..x.rows()).collect();
    Ok(mmd2(&gather(x, &all), &gather(y, &all)))
}

fn gather(f: &Features, rows: &[usize]) -> Mat<f64> {
    Mat::from_fn(rows.len(), f.dims(), |i, j| f.row(rows[i])[j])
}

/// Sums of the cubic kernel over `lhs rhsᵀ`: (all entries, the diagonal).
fn kernel_sums(lhs: &Mat<f64>, rhs: &Mat<f64>) -> (f64, f64) {
    let d = lhs.ncols() as f64;
    let dot = linalg::product(lhs.as_ref(), rhs.transpose(), 1.0 / d);
    let k = |v: f64| (v + 1.0).powi(3);
    let total = dot.col_iter().flat_map(|c| c.iter().copied()).map(k).sum();
    let diagonal = (0..dot.nrows().min(dot.ncols()))
        .map(|i| k(dot[(i, i)]))
        .sum();
    (total, diagonal)
}

fn mmd2(x: &Mat<f64>, y: &Mat<f64>) -> f64 {
    let m = x.nrows() as f64;
    let (xx, xx_diag) = kernel_sums(x, x);
    let (yy, yy_diag) = kernel_sums(y, y);
    let (xy, _) = kernel_sums(x, y);
    (xx - xx_diag + yy - yy_diag) / (m * (m - 1.0)) - 2.0 * xy / (m * m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(seed: u64, n: usize, d: usize, shift: f64) -> Features {
        let mut r = SplitMix64::new(seed);
        let data = (0..n * d).map(|_| r.next_f64() + shift).collect();
        Features::from_flat("t", data, d).unwrap()
    }

    #[test]
    fn two_points_by_hand() {
        // x = {0, 2}, y = {1, 1} in 1-d: k(a, b) = (ab + 1)³.
        let x = Features::from_flat("x", vec![0.0, 2.0], 1).unwrap();
        let y = Features::from_flat("y", vec![1.0, 1.0], 1).unwrap();
        // xx off-diagonal: 2 * k(0, 2) = 2; yy: 2 * 8 = 16; xy: 1 + 1 + 27 + 27 = 56.
        let expected = (2.0 + 16.0) / 2.0 - 2.0 * 56.0 / 4.0;
        assert!((polynomial_mmd2(&x, &y).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn shifted_sets_score_higher_and_seeds_repeat() {
        let a = set(1, 120, 8, 0.0);
        let near = set(2, 100, 8, 0.0);
        let far = set(3, 100, 8, 0.5);
        let options = KidOptions {
            subsets: 20,
            subset_size: 1000,
            seed: 9,
        };
        let k_near = kernel_inception_distance(&a, &near, &options).unwrap();
        let k_far = kernel_inception_distance(&a, &far, &options).unwrap();
        assert!(
            k_far.mean > 10.0 * k_near.mean.abs(),
            "{k_near:?} {k_far:?}"
        );
        assert_eq!((k_near.subset_size, k_near.capped_from), (100, Some(1000)));
        assert!(k_near.std > 0.0);
        assert_eq!(
            k_near,
            kernel_inception_distance(&a, &near, &options).unwrap()
        );
        let other_seed = KidOptions {
            seed: 10,
            ..options
        };
        assert_ne!(
            k_near.mean,
            kernel_inception_distance(&a, &near, &other_seed)
                .unwrap()
                .mean
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = set(1, 10, 4, 0.0);
        let b = set(2, 10, 3, 0.0);
        let one = set(3, 1, 4, 0.0);
        let opts = KidOptions::default();
        assert!(matches!(
            kernel_inception_distance(&a, &b, &opts),
            Err(MetricsError::DimensionMismatch { .. })
        ));
        assert!(matches!(
            kernel_inception_distance(&a, &one, &opts),
            Err(MetricsError::SubsetTooSmall { size: 1 })
        ));
        let none = KidOptions { subsets: 0, ..opts };
        assert!(matches!(
            kernel_inception_distance(&a, &a, &none),
            Err(MetricsError::NoSubsets)
        ));
    }
}
