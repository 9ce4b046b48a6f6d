//! Pairs the cases of two runs so that each case of run A meets its counterpart in run B.
//!
//! A case is identified by its prompt name, its test variables (as canonical JSON, keys
//! sorted), its repeat number and, when both runs used the same providers, its provider
//! label. Runs that used different providers are a migration: the provider is left out of
//! the key, so `gpt-a × case 3` meets `gpt-b × case 3`. Two tests with the same variables
//! (or several providers in a migration) share a key; their cases pair up in run order.

use crate::Case;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// What happened to one case between run A and run B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Failed in A, passes in B.
    Fixed,
    /// Passed in A, fails in B.
    Regressed,
    /// Fails in both.
    StillFailing,
    /// Passes in both.
    StillPassing,
    /// Only in B.
    New,
    /// Only in A.
    Gone,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 6] = [
        Status::Regressed,
        Status::Fixed,
        Status::StillFailing,
        Status::StillPassing,
        Status::New,
        Status::Gone,
    ];

    /// The label used in reports (`still failing`).
    pub fn label(self) -> &'static str {
        match self {
            Status::Fixed => "fixed",
            Status::Regressed => "regressed",
            Status::StillFailing => "still failing",
            Status::StillPassing => "still passing",
            Status::New => "new",
            Status::Gone => "gone",
        }
    }
}

/// One assertion whose verdict differs between the runs (matched by position and type).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AssertionChange {
    /// Position in the test's assertion list.
    pub position: usize,
    /// The assertion type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Verdict in A (`None`: not there).
    pub before: Option<bool>,
    /// Verdict in B (`None`: not there).
    pub after: Option<bool>,
    /// Score in B minus score in A (0 when either is missing).
    pub score_delta: f64,
    /// Why it failed or passed in B (else in A).
    pub reason: String,
}

/// A case of A and/or B, with what changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pair {
    /// Prompt name.
    pub prompt: String,
    /// Provider in A and in B (they differ in a migration).
    pub provider_a: Option<String>,
    /// Provider in B.
    pub provider_b: Option<String>,
    /// The test's description.
    pub description: Option<String>,
    /// The test's variables.
    pub vars: serde_json::Map<String, Value>,
    /// Repeat number.
    pub repeat: usize,
    /// What happened.
    pub status: Status,
    /// Score in B minus score in A (`None` for new and gone cases).
    pub score_delta: Option<f64>,
    /// Assertions whose verdict changed.
    pub assertion_changes: Vec<AssertionChange>,
    /// Embedding cosine of A's and B's outputs (only when drift was measured).
    pub output_similarity: Option<f64>,
    /// The case in A.
    pub a: Option<Case>,
    /// The case in B.
    pub b: Option<Case>,
}

impl Pair {
    /// How much this case matters for sorting: regressions first, by score lost.
    pub fn impact(&self) -> f64 {
        let base = match self.status {
            Status::Regressed => 2.0,
            Status::Fixed => -2.0,
            _ => 0.0,
        };
        base - self.score_delta.unwrap_or(0.0)
    }
}

/// Canonical JSON: object keys sorted at every depth, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    // serde_json may keep insertion order: build the string by hand for objects.
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s
}

/// Whether the runs used the same set of providers (then the provider is part of the key).
pub fn same_providers(a: &[Case], b: &[Case]) -> bool {
    let set =
        |cases: &[Case]| -> BTreeSet<String> { cases.iter().map(|c| c.provider.clone()).collect() };
    set(a) == set(b)
}

type Key = (String, String, usize, String, usize);

fn keys(cases: &[Case], with_provider: bool) -> Vec<Key> {
    let mut seen: HashMap<(String, String, usize, String), usize> = HashMap::new();
    cases
        .iter()
        .map(|c| {
            let provider = if with_provider {
                c.provider.clone()
            } else {
                String::new()
            };
            let base = (
                c.prompt.clone(),
                canonical_json(&Value::Object(c.vars.clone())),
                c.repeat,
                provider,
            );
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            (base.0, base.1, base.2, base.3, *n - 1)
        })
        .collect()
}

/// Pairs the cases of A and B: first A's cases in order (with their match in B, if any),
/// then the cases only B has.
pub fn align(a: Vec<Case>, b: Vec<Case>) -> Vec<Pair> {
    let with_provider = same_providers(&a, &b);
    let ka = keys(&a, with_provider);
    let kb = keys(&b, with_provider);
    let mut b_slots: Vec<Option<Case>> = b.into_iter().map(Some).collect();
    let index: HashMap<&Key, usize> = kb.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut pairs = Vec::with_capacity(a.len());
    for (case_a, key) in a.into_iter().zip(&ka) {
        let case_b = index.get(key).and_then(|&i| b_slots[i].take());
        pairs.push(pair(Some(case_a), case_b));
    }
    for case_b in b_slots.into_iter().flatten() {
        pairs.push(pair(None, Some(case_b)));
    }
    pairs
}

fn pair(a: Option<Case>, b: Option<Case>) -> Pair {
    let status = match (&a, &b) {
        (Some(x), Some(y)) => match (x.pass, y.pass) {
            (false, true) => Status::Fixed,
            (true, false) => Status::Regressed,
            (false, false) => Status::StillFailing,
            (true, true) => Status::StillPassing,
        },
        (Some(_), None) => Status::Gone,
        _ => Status::New,
    };
    let score_delta = match (&a, &b) {
        (Some(x), Some(y)) => Some(y.score - x.score),
        _ => None,
    };
    let assertion_changes = match (&a, &b) {
        (Some(x), Some(y)) => assertion_changes(x, y),
        _ => Vec::new(),
    };
    let any = a.as_ref().or(b.as_ref()).expect("a pair has a side");
    Pair {
        prompt: any.prompt.clone(),
        provider_a: a.as_ref().map(|c| c.provider.clone()),
        provider_b: b.as_ref().map(|c| c.provider.clone()),
        description: any.description.clone(),
        vars: any.vars.clone(),
        repeat: any.repeat,
        status,
        score_delta,
        assertion_changes,
        output_similarity: None,
        a,
        b,
    }
}

/// Assertions matched by position; a different type at the same position counts as one
/// removed and one added.
fn assertion_changes(a: &Case, b: &Case) -> Vec<AssertionChange> {
    let mut out = Vec::new();
    for i in 0..a.assertions.len().max(b.assertions.len()) {
        let (x, y) = (a.assertions.get(i), b.assertions.get(i));
        match (x, y) {
            (Some(x), Some(y)) if x.kind == y.kind => {
                if x.pass != y.pass {
                    out.push(AssertionChange {
                        position: i,
                        kind: x.kind.clone(),
                        before: Some(x.pass),
                        after: Some(y.pass),
                        score_delta: y.score - x.score,
                        reason: y.reason.clone(),
                    });
                }
            }
            _ => {
                if let Some(x) = x {
                    out.push(AssertionChange {
                        position: i,
                        kind: x.kind.clone(),
                        before: Some(x.pass),
                        after: None,
                        score_delta: 0.0,
                        reason: x.reason.clone(),
                    });
                }
                if let Some(y) = y {
                    out.push(AssertionChange {
                        position: i,
                        kind: y.kind.clone(),
                        before: None,
                        after: Some(y.pass),
                        score_delta: 0.0,
                        reason: y.reason.clone(),
                    });
                }
            }
        }
    }
    out
}
