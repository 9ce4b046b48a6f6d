//! The red-team loop: prompts x providers x attacks x repeats, each call judged with and/or
//! without the guard.
//!
//! Calls are made one at a time, in a fixed order, so a run with a greedy local model
//! reproduces exactly. A provider's configuration error stops the run (every call would
//! fail the same way); a failed call is an attempt with an error.

use crate::report::{Attempt, RedteamReport};
use crate::target::Target;
use crate::{RedteamError, RedteamOptions};
use incant_guard::{Attack, AttackLibrary, AttemptVerdict, Category, Guard};
use incant_prompt::file::PromptFile;
use incant_provider::{Provider, ProviderError};
use serde_json::{json, Value};
use std::time::Instant;

/// Where a run is, after each attempt.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Model calls made or skipped so far (one per attack x prompt x provider x repeat).
    pub done: usize,
    /// All of them.
    pub total: usize,
    /// The attempts just judged (one per guard mode).
    pub attempts: &'a [Attempt],
}

/// The attacks to run: the requested families, then at most `max_attacks` of them, drawn
/// (seeded) in turn from each family so that a small sample still covers them all; kept in
/// library order.
pub fn select_attacks<'a>(
    library: &'a AttackLibrary,
    options: &RedteamOptions,
) -> Result<Vec<&'a Attack>, RedteamError> {
    let wanted: Vec<&Attack> = library
        .attacks()
        .filter(|a| options.categories.is_empty() || options.categories.contains(&a.category))
        .collect();
    if wanted.is_empty() {
        return Err(RedteamError::Option {
            field: "categories".into(),
            reason: "no attack in the library belongs to the chosen families".into(),
        });
    }
    let max = match options.max_attacks {
        Some(0) => {
            return Err(RedteamError::Option {
                field: "max_attacks".into(),
                reason: "must be at least 1".into(),
            })
        }
        Some(m) if m < wanted.len() => m,
        _ => return Ok(wanted),
    };
    let mut families: Vec<(Category, Vec<usize>)> = Vec::new();
    for (i, a) in wanted.iter().enumerate() {
        match families.iter_mut().find(|(c, _)| *c == a.category) {
            Some((_, v)) => v.push(i),
            None => families.push((a.category, vec![i])),
        }
    }
    let mut rng = incant_rng::SplitMix64::new(options.seed);
    for (_, v) in &mut families {
        for i in (1..v.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
    let mut chosen = Vec::with_capacity(max);
    let mut round = 0;
    while chosen.len() < max {
        for (_, v) in &families {
            if let Some(&i) = v.get(round) {
                if chosen.len() < max {
                    chosen.push(i);
                }
            }
        }
        round += 1;
    }
    chosen.sort_unstable();
    Ok(chosen.into_iter().map(|i| wanted[i]).collect())
}

const DEFENDED: AttemptVerdict = AttemptVerdict {
    success: false,
    leaked: false,
    canary_found: false,
    leak_share: 0.0,
    hijacked: false,
};

/// Runs `library` (filtered and sampled by `options`) against every prompt on every
/// provider, judging with `guard`'s output detectors and, in guarded mode, defending with
/// its input scan and redaction. `progress` hears about every call.
pub fn run(
    prompts: &[PromptFile],
    providers: &[Box<dyn Provider>],
    guard: &Guard,
    library: &AttackLibrary,
    options: &RedteamOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<RedteamReport, RedteamError> {
    if prompts.is_empty() || providers.is_empty() {
        return Err(RedteamError::Option {
            field: if prompts.is_empty() {
                "prompts"
            } else {
                "providers"
            }
            .into(),
            reason: "nothing to red-team: give at least one prompt and one provider".into(),
        });
    }
    let repeats = options.repeats.max(1);
    let attacks = select_attacks(library, options)?;
    let targets = prompts
        .iter()
        .map(|p| Target::new(p, options))
        .collect::<Result<Vec<_>, _>>()?;
    let total = targets.len() * providers.len() * attacks.len() * repeats;
    let mut attempts = Vec::with_capacity(total * 2);
    let mut done = 0;
    for target in &targets {
        for provider in providers {
            for attack in &attacks {
                let text = attack.render();
                let prepared = target.prepare(&text, attack.delivery)?;
                let scan = options.guard.includes_on().then(|| guard.scan_input(&text));
                let blocked = scan.as_ref().is_some_and(|s| s.flagged);
                for repeat in 0..repeats {
                    let mut request = prepared.request.clone();
                    if repeats > 1 {
                        request
                            .params
                            .insert("seed".into(), json!(options.seed + repeat as u64));
                    }
                    let called = if options.guard.includes_off() || !blocked {
                        let start = Instant::now();
                        let r = provider.call(&request);
                        let ms = start.elapsed().as_secs_f64() * 1000.0;
                        match r {
                            Err(ProviderError::Config(reason)) => {
                                return Err(RedteamError::Provider {
                                    provider: provider.id().to_string(),
                                    reason,
                                })
                            }
                            Err(e) => Some((Err(e.to_string()), ms)),
                            Ok(resp) => Some((Ok(resp.output), ms)),
                        }
                    } else {
                        None
                    };
                    let user_message = request
                        .messages
                        .iter()
                        .rev()
                        .find(|m| m.role == "user")
                        .map(|m| m.content.clone())
                        .unwrap_or_default();
                    let base = Attempt {
                        prompt: target.name().to_string(),
                        prompt_version: target.version.clone(),
                        provider: provider.id().to_string(),
                        attack: attack.id.clone(),
                        category: attack.category,
                        goal: attack.goal,
                        delivery: attack.delivery,
                        attacked_var: prepared.attacked_var.clone(),
                        repeat,
                        guarded: false,
                        attack_text: text.clone(),
                        user_message,
                        input_score: None,
                        blocked: false,
                        output: None,
                        redactions: 0,
                        error: None,
                        verdict: DEFENDED,
                        latency_ms: 0.0,
                    };
                    let first = attempts.len();
                    if options.guard.includes_off() {
                        let mut a = base.clone();
                        if let Some((result, ms)) = &called {
                            a.latency_ms = *ms;
                            match result {
                                Ok(out) => {
                                    a.verdict = attack.judge(guard, out, &prepared.secret);
                                    a.output = Some(out.clone());
                                }
                                Err(e) => a.error = Some(e.clone()),
                            }
                        }
                        attempts.push(a);
                    }
                    if let Some(scan) = &scan {
                        let mut a = base;
                        a.guarded = true;
                        a.input_score = Some(scan.score);
                        a.blocked = blocked;
                        if let (false, Some((result, ms))) = (blocked, &called) {
                            a.latency_ms = *ms;
                            match result {
                                Ok(out) => {
                                    let red = guard.redact(out, &prepared.secret);
                                    a.verdict = attack.judge(guard, &red.text, &prepared.secret);
                                    a.redactions = red.redactions;
                                    a.output = Some(red.text);
                                }
                                Err(e) => a.error = Some(e.clone()),
                            }
                        }
                        attempts.push(a);
                    }
                    done += 1;
                    progress(Progress {
                        done,
                        total,
                        attempts: &attempts[first..],
                    });
                }
            }
        }
    }
    let prompt_info: Vec<Value> = targets
        .iter()
        .map(|t| {
            json!({
                "name": t.name(),
                "version": t.version,
                "path": t.prompt.path.display().to_string(),
                "canary": t.canary.token,
                "user_var": t.user_var,
                "document_var": t.document_var,
            })
        })
        .collect();
    Ok(RedteamReport::new(
        prompt_info,
        providers.iter().map(|p| p.id().to_string()).collect(),
        attacks.iter().map(|a| a.id.clone()).collect(),
        repeats,
        options.seed,
        attempts,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn samples_are_seeded_spread_over_families_and_in_library_order() {
        let lib = AttackLibrary::builtin();
        let all: Vec<&str> = lib.attacks().map(|a| a.id.as_str()).collect();
        let pick = |seed, max| {
            let o = RedteamOptions {
                seed,
                max_attacks: Some(max),
                ..Default::default()
            };
            select_attacks(&lib, &o)
                .unwrap()
                .iter()
                .map(|a| a.id.clone())
                .collect::<Vec<_>>()
        };
        let a = pick(1, 8);
        assert_eq!(a, pick(1, 8));
        assert_eq!(a.len(), 8);
        let fams: HashSet<Category> = select_attacks(
            &lib,
            &RedteamOptions {
                seed: 1,
                max_attacks: Some(8),
                ..Default::default()
            },
        )
        .unwrap()
        .iter()
        .map(|a| a.category)
        .collect();
        assert_eq!(fams.len(), 8);
        let pos: Vec<usize> = a
            .iter()
            .map(|id| all.iter().position(|x| x == id).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
        assert!(
            (0..20).any(|s| pick(s, 8) != a),
            "the seed changes the sample"
        );
        assert_eq!(pick(0, 1000).len(), all.len());
        let o = RedteamOptions {
            categories: vec![Category::Encoding],
            ..Default::default()
        };
        assert!(select_attacks(&lib, &o)
            .unwrap()
            .iter()
            .all(|a| a.category == Category::Encoding));
        let o = RedteamOptions {
            max_attacks: Some(0),
            ..Default::default()
        };
        assert!(select_attacks(&lib, &o).is_err());
    }
}
