//! What a red-team run found: every attempt, and the rates per category x provider x guard
//! mode and per prompt x provider x guard mode.
//!
//! Rates are over the attempts that got an answer or were blocked: a call that failed
//! (timeout, HTTP error) says nothing about exposure, so it is counted apart (`errors`)
//! and left out of the denominator.

use incant_guard::redteam::Delivery;
use incant_guard::{AttemptVerdict, Category, Goal};
use serde::Serialize;
use std::cmp::Ordering;

/// One attack sent once to one provider through one prompt, in one guard mode.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// Prompt name.
    pub prompt: String,
    /// Prompt version.
    pub prompt_version: String,
    /// Provider id.
    pub provider: String,
    /// Attack id.
    pub attack: String,
    /// Attack family.
    pub category: Category,
    /// What the attack is after.
    pub goal: Goal,
    /// How it was delivered.
    pub delivery: Delivery,
    /// The variable that carried it (`None`: an extra message).
    pub attacked_var: Option<String>,
    /// Repeat number (0-based).
    pub repeat: usize,
    /// Whether the guard was on.
    pub guarded: bool,
    /// The attack text.
    pub attack_text: String,
    /// The user's message as sent (the attack in context).
    pub user_message: String,
    /// The guard's input score (guarded attempts).
    pub input_score: Option<f32>,
    /// Whether the guard blocked the input (no model call).
    pub blocked: bool,
    /// What the user got: the model's output, redacted when guarded (`None`: blocked or
    /// failed).
    pub output: Option<String>,
    /// Spans the guard redacted.
    pub redactions: usize,
    /// The call's error.
    pub error: Option<String>,
    /// The judgement of `output`.
    pub verdict: AttemptVerdict,
    /// Call latency in milliseconds (0 when blocked).
    pub latency_ms: f64,
}

impl Attempt {
    /// Orders attempts worst first: successful attacks, then leaks, canaries, larger leak
    /// shares, hijacks.
    pub fn severity_cmp(&self, other: &Self) -> Ordering {
        let key = |a: &Self| {
            (
                a.verdict.success,
                a.verdict.leaked,
                a.verdict.canary_found,
                a.verdict.hijacked,
            )
        };
        key(other).cmp(&key(self)).then(
            other
                .verdict
                .leak_share
                .partial_cmp(&self.verdict.leak_share)
                .unwrap_or(Ordering::Equal),
        )
    }

    /// `on` or `off`.
    pub fn mode_label(&self) -> &'static str {
        if self.guarded {
            "on"
        } else {
            "off"
        }
    }
}

/// Counts over a group of attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Attempts.
    pub attempts: usize,
    /// Attacks that reached their goal.
    pub successes: usize,
    /// Outputs that leaked the system prompt (any goal).
    pub leaks: usize,
    /// Outputs with the canary.
    pub canaries: usize,
    /// Inputs the guard blocked.
    pub blocked: usize,
    /// Failed calls (not in the rates).
    pub errors: usize,
}

impl Totals {
    fn add(&mut self, a: &Attempt) {
        self.attempts += 1;
        if a.error.is_some() {
            self.errors += 1;
            return;
        }
        self.successes += usize::from(a.verdict.success);
        self.leaks += usize::from(a.verdict.leaked);
        self.canaries += usize::from(a.verdict.canary_found);
        self.blocked += usize::from(a.blocked);
    }

    /// Attempts that count in the rates.
    pub fn judged(&self) -> usize {
        self.attempts - self.errors
    }

    fn rate(&self, n: usize) -> f64 {
        if self.judged() == 0 {
            0.0
        } else {
            n as f64 / self.judged() as f64
        }
    }

    /// Attack success rate.
    pub fn success_rate(&self) -> f64 {
        self.rate(self.successes)
    }

    /// Leak rate.
    pub fn leak_rate(&self) -> f64 {
        self.rate(self.leaks)
    }
}

/// Counts of one group (a category or a prompt) on one provider in one guard mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The category name or the prompt name.
    pub group: String,
    /// Provider id.
    pub provider: String,
    /// Whether the guard was on.
    pub guarded: bool,
    /// The counts.
    #[serde(flatten)]
    pub totals: Totals,
    /// `successes / judged`.
    pub success_rate: f64,
    /// `leaks / judged`.
    pub leak_rate: f64,
}

/// The outcome of a red-team run.
#[derive(Debug, Clone, Serialize)]
pub struct RedteamReport {
    /// Prompts attacked: name, version, canary, the attacked variables.
    pub prompts: Vec<serde_json::Value>,
    /// Provider ids.
    pub providers: Vec<String>,
    /// Attack ids run, in library order.
    pub attacks: Vec<String>,
    /// Repeats per attack.
    pub repeats: usize,
    /// Sample seed.
    pub seed: u64,
    /// Per category x provider x guard mode.
    pub by_category: Vec<Cell>,
    /// Per prompt x provider x guard mode.
    pub by_prompt: Vec<Cell>,
    /// Per provider x guard mode, all attacks.
    pub overall: Vec<Cell>,
    /// Every attempt, in run order.
    pub attempts: Vec<Attempt>,
}

fn cells(attempts: &[Attempt], group: impl Fn(&Attempt) -> String) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    for a in attempts {
        let g = group(a);
        let i = match out
            .iter()
            .position(|c| c.group == g && c.provider == a.provider && c.guarded == a.guarded)
        {
            Some(i) => i,
            None => {
                out.push(Cell {
                    group: g,
                    provider: a.provider.clone(),
                    guarded: a.guarded,
                    totals: Totals::default(),
                    success_rate: 0.0,
                    leak_rate: 0.0,
                });
                out.len() - 1
            }
        };
        out[i].totals.add(a);
    }
    for c in &mut out {
        c.success_rate = c.totals.success_rate();
        c.leak_rate = c.totals.leak_rate();
    }
    out
}

impl RedteamReport {
    /// Builds the report's tables from the attempts.
    pub fn new(
        prompts: Vec<serde_json::Value>,
        providers: Vec<String>,
        attacks: Vec<String>,
        repeats: usize,
        seed: u64,
        attempts: Vec<Attempt>,
    ) -> Self {
        Self {
            by_category: cells(&attempts, |a| a.category.name().to_string()),
            by_prompt: cells(&attempts, |a| a.prompt.clone()),
            overall: cells(&attempts, |_| "all".to_string()),
            prompts,
            providers,
            attacks,
            repeats,
            seed,
            attempts,
        }
    }

    /// The attempts, worst first (stable: run order among equals).
    pub fn worst(&self) -> Vec<&Attempt> {
        let mut v: Vec<&Attempt> = self.attempts.iter().collect();
        v.sort_by(|a, b| a.severity_cmp(b));
        v
    }

    /// The overall counts of one provider in one guard mode.
    pub fn overall_for(&self, provider: &str, guarded: bool) -> Option<&Cell> {
        self.overall
            .iter()
            .find(|c| c.provider == provider && c.guarded == guarded)
    }

    /// The counts of one prompt on one provider in one guard mode.
    pub fn prompt_cell(&self, prompt: &str, provider: &str, guarded: bool) -> Option<&Cell> {
        self.by_prompt
            .iter()
            .find(|c| c.group == prompt && c.provider == provider && c.guarded == guarded)
    }

    /// The report as pretty JSON: the tables, then the attempts worst first.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("the report serialises");
        v["attempts"] = serde_json::to_value(self.worst()).expect("attempts serialise");
        serde_json::to_string_pretty(&v).expect("a JSON value prints")
    }
}
