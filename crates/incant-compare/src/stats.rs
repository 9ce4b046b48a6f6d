//! The statistics behind a comparison's verdict, written out so that they can be checked
//! against reference values (scipy) and reproduced bit for bit.
//!
//! - [`mcnemar_exact`]: the exact McNemar test on the discordant pairs of a paired
//!   pass/fail comparison, i.e. a two-sided exact binomial test of `b` successes in `b + c`
//!   trials with p = 1/2 (the value `scipy.stats.binomtest(b, b + c, 0.5).pvalue` gives).
//!   The tail is summed in log space, so thousands of discordant pairs neither overflow nor
//!   underflow.
//! - [`bootstrap_mean_ci`]: a paired bootstrap percentile interval of the mean score delta,
//!   drawn with a seeded xoshiro256** generator ([`incant_rng`]), so the same runs always
//!   give the same interval.

use incant_rng::Xoshiro256;

/// Two-sided exact McNemar p-value for `b` pairs that went one way and `c` the other.
///
/// With p = 1/2 the binomial distribution is symmetric, so the two-sided p-value is twice
/// the smaller tail, capped at 1; no discordant pairs (or a tie) gives 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    let k = b.min(c);
    if n == 0 || b == c {
        return 1.0;
    }
    // ln C(n, k) - n ln 2, as a compensated sum of O(1) terms.
    let mut sum = Neumaier::default();
    for j in 1..=k {
        sum.add(((n - k + j) as f64 / j as f64).ln());
    }
    sum.add(-(n as f64) * std::f64::consts::LN_2);
    let log_top = sum.value();
    // The tail below k relative to its largest term C(n, k): each step down multiplies by
    // i / (n - i + 1) < 1 (k < n / 2), so the partial products only shrink.
    let mut ratio = 1.0f64;
    let mut tail = Neumaier::default();
    tail.add(1.0);
    for i in (1..=k).rev() {
        ratio *= i as f64 / (n - i + 1) as f64;
        if ratio < 1e-300 {
            break;
        }
        tail.add(ratio);
    }
    (2.0 * (log_top + tail.value().ln()).exp()).min(1.0)
}

/// Neumaier's compensated summation: error independent of the number of terms.
#[derive(Default)]
struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// The default seed of the bootstrap (any fixed value would do; this one spells incant).
pub const DEFAULT_SEED: u64 = 0x0016_CA17;

/// The default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 10_000;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Paired bootstrap percentile interval of the mean of `deltas` at `level` (0.95 for a
/// 95% interval), from `resamples` resamples drawn with a generator seeded by `seed`.
/// `None` when there is nothing to resample.
pub fn bootstrap_mean_ci(
    deltas: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    let n = deltas.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = Xoshiro256::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let total: f64 = (0..n).map(|_| deltas[rng.below(n as u64) as usize]).sum();
            total / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        lo: quantile(&means, alpha),
        hi: quantile(&means, 1.0 - alpha),
    })
}

/// The `q` quantile of sorted values, interpolated linearly (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_small_cases_by_hand() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(1, 0), 1.0);
        assert_eq!(mcnemar_exact(10, 10), 1.0);
        // 2 * (1/2)^5
        assert!((mcnemar_exact(5, 0) - 0.0625).abs() < 1e-15);
        // 2 * (1 + 6) / 64
        assert!((mcnemar_exact(1, 5) - 14.0 / 64.0).abs() < 1e-15);
        assert_eq!(mcnemar_exact(3, 12), mcnemar_exact(12, 3));
    }

    #[test]
    fn mcnemar_large_n_stays_finite() {
        let p = mcnemar_exact(5000, 5400);
        assert!(p > 0.0 && p < 0.01, "{p}");
        assert_eq!(mcnemar_exact(0, 5000), 0.0); // below f64's range
        assert!((mcnemar_exact(50_000, 50_001) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_reproducible_and_sensible() {
        let deltas: Vec<f64> = (0..50)
            .map(|i| if i % 5 == 0 { -1.0 } else { 0.0 })
            .collect();
        let a = bootstrap_mean_ci(&deltas, 0.95, DEFAULT_RESAMPLES, DEFAULT_SEED).unwrap();
        let b = bootstrap_mean_ci(&deltas, 0.95, DEFAULT_RESAMPLES, DEFAULT_SEED).unwrap();
        assert_eq!(a, b);
        assert!(a.lo < -0.2 && a.hi < 0.0 && a.hi > -0.2, "{a:?}");
        let same = bootstrap_mean_ci(&[0.5; 10], 0.95, 100, 1).unwrap();
        assert_eq!((same.lo, same.hi), (0.5, 0.5));
        assert_eq!(bootstrap_mean_ci(&[], 0.95, 100, 1), None);
    }
}
