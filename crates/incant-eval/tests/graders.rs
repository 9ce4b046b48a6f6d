//! Model-graded assertions through [`ProviderGrader`] with the real local models: MiniLM for
//! `similar`, SmolLM2 as the judge. A 135M judge's verdicts are not reliable, so the judge
//! tests check the plumbing (a well-formed grade from a real answer); the parsing of
//! answers is tested deterministically in the unit tests.

use incant_eval::{Assertion, Context, Grade, Grader, ProviderGrader};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The models folder: `INCANT_MODELS`, else `<workspace>/models`.
fn models_dir() -> PathBuf {
    let dir = match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    };
    for model in ["all-MiniLM-L6-v2", "SmolLM2-135M-Instruct.Q4_1.gguf"] {
        assert!(
            dir.join(model).exists(),
            "{} is missing: run `cargo run -p incant -- models fetch`",
            dir.join(model).display()
        );
    }
    dir
}

fn evaluate(grader: &dyn Grader, assertion: Value, output: &str, prompt: &str) -> Grade {
    let a = Assertion::parse(&assertion).unwrap();
    let ctx = Context {
        prompt: Some(prompt),
        grader: Some(grader),
        ..Context::default()
    };
    a.evaluate(output, &ctx)
}

#[test]
fn similar_with_minilm_tells_paraphrases_from_unrelated_text() {
    let grader = ProviderGrader::new(models_dir());
    let out = "The capital of France is Paris.";
    let same = json!({"type": "similar", "value": "Paris is France's capital.", "threshold": 0.75});
    let g = evaluate(&grader, same, out, "");
    assert!(g.pass, "{g:?}");
    let other = json!({"type": "similar", "value": "Bananas are yellow.", "threshold": 0.75});
    let g = evaluate(&grader, other.clone(), out, "");
    assert!(!g.pass && g.score < 0.5, "{g:?}");
    let mut negated = other;
    negated["type"] = json!("not-similar");
    assert!(evaluate(&grader, negated, out, "").pass);
    // A list passes on its closest item; embeddings of repeated texts come from the cache.
    let list =
        json!({"type": "similar", "value": ["Bananas are yellow.", "Paris is France's capital."]});
    let g = evaluate(&grader, list, out, "");
    assert!(g.pass && g.reason.contains("closest"), "{g:?}");
    // The provider can be named; a chat model cannot embed and says so.
    let named = json!({"type": "similar", "value": "x", "provider": "local:smollm2"});
    let g = evaluate(&grader, named, out, "");
    assert!(!g.pass && g.reason.contains("does not embed"), "{g:?}");
}

/// The judge answered (a verdict, or an answer it could not read, quoted), not a missing
/// model or a failed call.
fn assert_judged(g: &Grade) {
    assert!((0.0..=1.0).contains(&g.score), "{g:?}");
    assert!(!g.reason.trim().is_empty(), "{g:?}");
    assert!(
        !g.reason.contains("no grader") && !g.reason.contains("judge call failed"),
        "{g:?}"
    );
}

#[test]
fn llm_rubric_with_the_local_judge_gives_a_well_formed_grade() {
    let grader = ProviderGrader::new(models_dir());
    let rubric = json!({"type": "llm-rubric", "value": "The answer names a city."});
    assert_judged(&evaluate(
        &grader,
        rubric,
        "Paris.",
        "user: What is the capital of France?",
    ));
}

#[test]
fn factuality_with_the_local_judge_gives_a_well_formed_grade() {
    let grader = ProviderGrader::new(models_dir());
    let fact = json!({"type": "factuality", "value": "Paris"});
    assert_judged(&evaluate(
        &grader,
        fact,
        "Paris.",
        "user: What is the capital of France?",
    ));
}
