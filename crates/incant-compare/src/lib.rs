//! `incant compare`: what changed between two stored eval runs, and whether it is more
//! than noise.
//!
//! The store keeps every case as the JSON of the runner's `CaseResult`; this crate reads
//! only the fields it needs ([`Case`]), so it depends on no other incant crate and reports
//! can evolve without it. The steps:
//!
//! 1. [`align`] pairs the cases of run A and run B (prompt, vars, repeat, and provider
//!    unless the runs used different providers) and classifies each pair: fixed,
//!    regressed, still failing, still passing, new, gone; with score deltas and the
//!    assertions whose verdict flipped.
//! 2. [`compare`] groups the pairs per prompt and overall and runs the [`stats`] on each
//!    group: the exact McNemar test on the discordant pairs and a seeded paired bootstrap
//!    interval of the mean score delta. A change is called significant only when both
//!    agree; otherwise the report says "no significant change".
//! 3. [`html`] renders a self-contained report with word-level diffs ([`diff`]).

pub mod align;
pub mod diff;
pub mod html;
pub mod stats;

pub use align::{align, AssertionChange, Pair, Status};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One assertion's verdict as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// The assertion type as written.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Whether it passed.
    #[serde(default)]
    pub pass: bool,
    /// Its score.
    #[serde(default)]
    pub score: f64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// The parts of a stored case result a comparison reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    /// Position in its run.
    #[serde(default)]
    pub index: usize,
    /// Prompt name.
    pub prompt: String,
    /// Provider label.
    pub provider: String,
    /// The test's description.
    #[serde(default)]
    pub description: Option<String>,
    /// The test's variables.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// Repeat number.
    #[serde(default)]
    pub repeat: usize,
    /// The output, when the call succeeded.
    #[serde(default)]
    pub output: Option<String>,
    /// The error, when it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The verdict.
    pub pass: bool,
    /// The score.
    pub score: f64,
    /// Each assertion's verdict.
    #[serde(default)]
    pub assertions: Vec<Verdict>,
}

impl Case {
    /// Parses a stored result.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The output, or the error in its place.
    pub fn shown_output(&self) -> String {
        match (&self.output, &self.error) {
            (Some(o), _) => o.clone(),
            (None, Some(e)) => format!("[error] {e}"),
            (None, None) => String::new(),
        }
    }
}

/// How to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Significance level of the McNemar test.
    pub alpha: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            resamples: stats::DEFAULT_RESAMPLES,
            seed: stats::DEFAULT_SEED,
            alpha: 0.05,
        }
    }
}

/// The verdict on a group of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Significance {
    /// Worse, and not by chance.
    SignificantRegression,
    /// Better, and not by chance.
    SignificantImprovement,
    /// Anything else.
    NoSignificantChange,
}

impl Significance {
    /// The words reports use.
    pub fn label(self) -> &'static str {
        match self {
            Significance::SignificantRegression => "significant regression",
            Significance::SignificantImprovement => "significant improvement",
            Significance::NoSignificantChange => "no significant change",
        }
    }
}

/// Mean score of one assertion type (a metric) in A and B over the paired cases.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricDelta {
    /// Assertion type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Assertions compared.
    pub n: usize,
    /// Mean score in A.
    pub mean_a: f64,
    /// Mean score in B.
    pub mean_b: f64,
    /// `mean_b - mean_a`.
    pub delta: f64,
}

/// Counts, statistics and verdict of a group of pairs (one prompt, or all of them).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    /// The prompt, or `None` for the whole comparison.
    pub prompt: Option<String>,
    /// Pairs per status (label → count; every status present).
    pub counts: BTreeMap<Status, usize>,
    /// Cases present in both runs.
    pub paired: usize,
    /// Pass rate in A over the paired cases.
    pub pass_rate_a: f64,
    /// Pass rate in B over the paired cases.
    pub pass_rate_b: f64,
    /// Mean score delta (B - A) over the paired cases.
    pub mean_score_delta: f64,
    /// Exact McNemar p-value (regressed vs fixed).
    pub mcnemar_p: f64,
    /// 95% paired bootstrap interval of the mean score delta.
    pub ci95: Option<stats::Interval>,
    /// The verdict.
    pub significance: Significance,
    /// Per assertion type.
    pub metrics: Vec<MetricDelta>,
    /// Mean embedding cosine of A's and B's outputs (only when drift was measured).
    pub mean_output_similarity: Option<f64>,
}

impl Group {
    /// The count of one status.
    pub fn count(&self, s: Status) -> usize {
        self.counts.get(&s).copied().unwrap_or(0)
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Whether providers were part of the alignment key (false: a migration).
    pub providers_matched: bool,
    /// All pairs together.
    pub overall: Group,
    /// One group per prompt, in first-seen order.
    pub prompts: Vec<Group>,
    /// Every pair, in alignment order.
    pub pairs: Vec<Pair>,
}

impl Comparison {
    /// The pairs whose outputs can be compared for drift (both sides have an output), as
    /// (pair index, A's output, B's output).
    pub fn output_pairs(&self) -> Vec<(usize, &str, &str)> {
        self.pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let a = p.a.as_ref()?.output.as_deref()?;
                let b = p.b.as_ref()?.output.as_deref()?;
                Some((i, a, b))
            })
            .collect()
    }

    /// Records each pair's output similarity (by pair index) and each group's mean.
    pub fn set_output_similarity(&mut self, sims: &[(usize, f64)]) {
        for &(i, s) in sims {
            self.pairs[i].output_similarity = Some(s);
        }
        let mean = |prompt: Option<&str>| {
            let v: Vec<f64> = self
                .pairs
                .iter()
                .filter(|p| prompt.is_none_or(|n| p.prompt == n))
                .filter_map(|p| p.output_similarity)
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        self.overall.mean_output_similarity = mean(None);
        let means: Vec<Option<f64>> = self
            .prompts
            .iter()
            .map(|g| mean(g.prompt.as_deref()))
            .collect();
        for (g, m) in self.prompts.iter_mut().zip(means) {
            g.mean_output_similarity = m;
        }
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += f64::from(x) * f64::from(y);
        na += f64::from(x) * f64::from(x);
        nb += f64::from(y) * f64::from(y);
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Aligns the two runs' cases and computes every group's statistics.
pub fn compare(a: Vec<Case>, b: Vec<Case>, opts: &Options) -> Comparison {
    let providers_matched = align::same_providers(&a, &b);
    let pairs = align(a, b);
    let mut names: Vec<&str> = Vec::new();
    for p in &pairs {
        if !names.contains(&p.prompt.as_str()) {
            names.push(&p.prompt);
        }
    }
    let prompts = names
        .iter()
        .map(|name| {
            let members: Vec<&Pair> = pairs.iter().filter(|p| p.prompt == *name).collect();
            group(Some(name.to_string()), &members, opts)
        })
        .collect();
    let all: Vec<&Pair> = pairs.iter().collect();
    Comparison {
        providers_matched,
        overall: group(None, &all, opts),
        prompts,
        pairs,
    }
}

fn group(prompt: Option<String>, pairs: &[&Pair], opts: &Options) -> Group {
    let mut counts: BTreeMap<Status, usize> = Status::ALL.iter().map(|&s| (s, 0)).collect();
    for p in pairs {
        *counts.entry(p.status).or_default() += 1;
    }
    let both: Vec<(&Case, &Case)> = pairs
        .iter()
        .filter_map(|p| Some((p.a.as_ref()?, p.b.as_ref()?)))
        .collect();
    let n = both.len();
    let rate = |f: &dyn Fn(&(&Case, &Case)) -> bool| {
        if n == 0 {
            0.0
        } else {
            both.iter().filter(|x| f(x)).count() as f64 / n as f64
        }
    };
    let deltas: Vec<f64> = both.iter().map(|(a, b)| b.score - a.score).collect();
    let mean = if n == 0 {
        0.0
    } else {
        deltas.iter().sum::<f64>() / n as f64
    };
    let regressed = counts[&Status::Regressed] as u64;
    let fixed = counts[&Status::Fixed] as u64;
    let p = stats::mcnemar_exact(regressed, fixed);
    let ci = stats::bootstrap_mean_ci(&deltas, 0.95, opts.resamples, opts.seed);
    let verdict = match ci {
        Some(ci) if p < opts.alpha && regressed > fixed && ci.hi < 0.0 => {
            Significance::SignificantRegression
        }
        Some(ci) if p < opts.alpha && fixed > regressed && ci.lo > 0.0 => {
            Significance::SignificantImprovement
        }
        _ => Significance::NoSignificantChange,
    };
    Group {
        prompt,
        counts,
        paired: n,
        pass_rate_a: rate(&|(a, _)| a.pass),
        pass_rate_b: rate(&|(_, b)| b.pass),
        mean_score_delta: mean,
        mcnemar_p: p,
        ci95: ci,
        significance: verdict,
        metrics: metrics(&both),
        mean_output_similarity: None,
    }
}

/// Mean score per assertion type, over assertions at the same position with the same type.
fn metrics(both: &[(&Case, &Case)]) -> Vec<MetricDelta> {
    let mut sums: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for (a, b) in both {
        for (x, y) in a.assertions.iter().zip(&b.assertions) {
            if x.kind == y.kind {
                let e = sums.entry(&x.kind).or_default();
                e.0 += 1;
                e.1 += x.score;
                e.2 += y.score;
            }
        }
    }
    sums.into_iter()
        .map(|(kind, (n, sa, sb))| MetricDelta {
            kind: kind.to_string(),
            n,
            mean_a: sa / n as f64,
            mean_b: sb / n as f64,
            delta: (sb - sa) / n as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests;
