//! Choosing the next token from the model's logits.
//!
//! The chain follows llama.cpp's default order: repetition penalty, top-k, top-p, min-p,
//! temperature, then a draw from the seeded [`Rng`]. A temperature of 0 is greedy (the
//! highest logit, the lowest id on ties), which is what the parity tests compare against
//! llama.cpp. The log-probability reported for a token is always that of the model's own
//! distribution (log-softmax of the raw logits), whatever the sampling settings, so it can
//! be used for perplexity and judges.

use crate::rng::Rng;
use crate::EngineError;

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingParams {
    /// 0 is greedy; higher is more random.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1: off).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0: off).
    pub min_p: f32,
    /// Divide (positive) or multiply (negative) the logits of recent tokens (1: off).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the random draw.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |name, reason: &str| {
            Err(EngineError::InvalidParam {
                name,
                reason: reason.to_string(),
            })
        };
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature", "must be a number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", "must be in [0, 1]");
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad("repeat_penalty", "must be a number > 0");
        }
        Ok(())
    }
}

/// Picks tokens; holds the random state of one sequence.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    /// A sampler seeded by `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = Rng::new(params.seed);
        Self {
            params,
            rng,
            candidates: Vec::new(),
        }
    }

    /// Picks the next token; `logits` may be modified (penalties). `recent` is the sequence so
    /// far, for the repetition penalty.
    pub fn sample(&mut self, logits: &mut [f32], recent: &[u32]) -> u32 {
        let p = &self.params;
        if p.repeat_penalty != 1.0 && p.repeat_last_n > 0 {
            let from = recent.len().saturating_sub(p.repeat_last_n);
            let mut seen = recent[from..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 {
                        *l / p.repeat_penalty
                    } else {
                        *l * p.repeat_penalty
                    };
                }
            }
        }
        if p.temperature <= 0.0 {
            return crate::llama::argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(logits.iter().enumerate().map(|(i, &l)| (i as u32, l)));
        // Largest logit first, the lower id first on ties: a strict total order, so the
        // top k found by selection and then sorted are the first k of a full sort. Sorting
        // all 49,152 candidates took longer than the model's own step.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < c.len() {
            c.select_nth_unstable_by(p.top_k - 1, order);
            c.truncate(p.top_k);
        }
        c.sort_unstable_by(order);
        // Probabilities at temperature 1 for top-p and min-p, as llama.cpp computes them.
        let probs = softmax(c.iter().map(|x| x.1), 1.0);
        if p.top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = c.len();
            for (i, pr) in probs.iter().enumerate() {
                cum += pr;
                if cum >= f64::from(p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            c.truncate(keep.max(1));
        }
        if p.min_p > 0.0 {
            let threshold = probs[0] * f64::from(p.min_p);
            let keep = probs[..c.len()]
                .iter()
                .take_while(|&&pr| pr >= threshold)
                .count();
            c.truncate(keep.max(1));
        }
        let probs = softmax(c.iter().map(|x| x.1), p.temperature);
        let r = self.rng.next_f64();
        let mut cum = 0.0;
        for (i, pr) in probs.iter().enumerate() {
            cum += pr;
            if r < cum {
                return c[i].0;
            }
        }
        c[c.len() - 1].0
    }
}

fn softmax(logits: impl Iterator<Item = f32> + Clone, temperature: f32) -> Vec<f64> {
    let t = f64::from(temperature);
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.map(|l| ((f64::from(l) - max) / t).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The log-probability of `token` under softmax(`logits`).
pub fn log_prob(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    (f64::from(logits[token as usize] - max) - sum.ln()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&mut [0.1, 3.0, 3.0, -1.0], &[]), 1);
    }

    #[test]
    fn selected_top_k_is_the_head_of_a_full_sort() {
        let mut next = crate::kernels::test_data::uniform_draws(4, 6.0);
        // Few distinct values: ties everywhere, broken by the lower id.
        let logits: Vec<f32> = (0..5000).map(|_| next().round()).collect();
        let mut full: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        full.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for k in [1, 7, 40, 4999] {
            let mut s = Sampler::new(SamplingParams {
                temperature: 1.0,
                top_k: k,
                top_p: 1.0,
                min_p: 0.0,
                ..SamplingParams::default()
            });
            s.sample(&mut logits.clone(), &[]);
            assert_eq!(s.candidates, full[..k], "top {k}");
        }
    }

    #[test]
    fn same_seed_same_choices() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 9,
            ..SamplingParams::default()
        };
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |p: SamplingParams| {
            let mut s = Sampler::new(p);
            (0..20)
                .map(|_| s.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(params.clone()), run(params.clone()));
        assert_ne!(
            run(params.clone()),
            run(SamplingParams { seed: 10, ..params })
        );
    }

    #[test]
    fn top_k_one_is_greedy_and_penalty_changes_the_pick() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 1,
            ..SamplingParams::default()
        };
        let mut s = Sampler::new(params.clone());
        assert_eq!(s.sample(&mut [1.0, 2.0, 0.5], &[]), 1);
        let mut s = Sampler::new(SamplingParams {
            repeat_penalty: 4.0,
            ..params
        });
        assert_eq!(s.sample(&mut [1.0, 2.0, 0.5], &[1]), 0);
    }

    #[test]
    fn log_prob_matches_the_formula() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        assert!((f64::from(log_prob(&l, 2)) - (3.0 - z.ln())).abs() < 1e-6);
    }

    #[test]
    fn bad_params_are_rejected() {
        let p = SamplingParams {
            top_p: 0.0,
            ..SamplingParams::default()
        };
        assert!(p.validate().is_err());
        assert!(SamplingParams {
            temperature: -1.0,
            ..SamplingParams::default()
        }
        .validate()
        .is_err());
    }
}
