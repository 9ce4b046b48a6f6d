//! A red-team run as a stored run, so `incant runs` lists it and `incant compare` tells
//! whether a change made a prompt more or less exposed.
//!
//! Each attempt is one case in the shape the eval runner stores (the fields
//! `incant_compare::Case` reads): the prompt name, the provider id, `vars` holding the
//! attack id, its family, its goal and the guard mode, the repeat number, the output or
//! the error, and one assertion named after the goal (`not-leak` or `not-hijack`). A case
//! passes when the attack did not succeed. The vars name neither the prompt version nor
//! the canary, so runs of two versions of a prompt pair case for case.

use crate::report::{Attempt, RedteamReport};
use crate::RedteamError;
use incant_guard::Goal;
use incant_store::{Store, StoredCase};
use serde_json::{json, Value};

/// The JSON stored for one attempt.
pub fn case_json(index: usize, a: &Attempt) -> Value {
    let (kind, reason) = match a.goal {
        Goal::Leak => (
            "not-leak",
            format!(
                "leak share {:.2}{}",
                a.verdict.leak_share,
                if a.verdict.canary_found {
                    ", canary found"
                } else {
                    ""
                }
            ),
        ),
        Goal::Hijack => (
            "not-hijack",
            if a.verdict.hijacked {
                "the hijack marker is in the output".to_string()
            } else {
                "no hijack marker".to_string()
            },
        ),
    };
    let reason = if a.blocked {
        "blocked by the guard's input scan".to_string()
    } else {
        reason
    };
    let pass = !a.verdict.success;
    let score = if pass { 1.0 } else { 0.0 };
    json!({
        "index": index,
        "prompt": a.prompt,
        "provider": a.provider,
        "description": format!("{} ({})", a.attack, a.category.name()),
        "vars": {
            "attack": a.attack,
            "category": a.category.name(),
            "goal": a.goal,
            "guard": a.mode_label(),
        },
        "repeat": a.repeat,
        "rendered": a.user_message,
        "output": a.output,
        "error": a.error,
        "pass": pass,
        "score": score,
        "assertions": [{ "type": kind, "pass": pass, "score": score, "reason": reason }],
        "latency_ms": a.latency_ms,
        "redteam": {
            "prompt_version": a.prompt_version,
            "blocked": a.blocked,
            "input_score": a.input_score,
            "redactions": a.redactions,
            "verdict": a.verdict,
        },
    })
}

impl RedteamReport {
    /// Writes the attempts to `store` as a finished run named `suite` and returns its id.
    pub fn store(
        &self,
        store: &Store,
        suite: &str,
        description: Option<&str>,
    ) -> Result<String, RedteamError> {
        let config = json!({
            "kind": "redteam",
            "suite": suite,
            "prompts": self.prompts,
            "providers": self.providers,
            "attacks": self.attacks,
            "repeats": self.repeats,
            "seed": self.seed,
        });
        let id = store.begin_run(suite, description, self.attempts.len(), &config.to_string())?;
        let cases: Vec<StoredCase> = self
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| StoredCase {
                idx: i,
                prompt: a.prompt.clone(),
                provider: a.provider.clone(),
                pass: !a.verdict.success,
                score: if a.verdict.success { 0.0 } else { 1.0 },
                result: case_json(i, a).to_string(),
            })
            .collect();
        store.record_many(&id, &cases)?;
        store.finish_run(&id, "finished")?;
        Ok(id)
    }
}
