//! Shared by the web tests: stored cases in the runner's `CaseResult` shape.

#![allow(dead_code)]

use incant_store::StoredCase;
use serde_json::{json, Value};

/// A stored case: the runner's `CaseResult` JSON made of `fields` plus the index, prompt,
/// provider, verdict, score and one assertion (`kind`) that passed or failed.
pub fn stored_case(
    idx: usize,
    prompt: &str,
    provider: &str,
    pass: bool,
    kind: &str,
    fields: Value,
) -> StoredCase {
    let score = if pass { 1.0 } else { 0.0 };
    let mut value = json!({
        "index": idx, "prompt": prompt, "provider": provider, "repeat": 0,
        "pass": pass, "score": score, "cached": false,
        "assertions": [{"type": kind, "pass": pass, "score": score, "reason": "checked"}],
    });
    if let (Some(v), Value::Object(extra)) = (value.as_object_mut(), fields) {
        v.extend(extra);
    }
    StoredCase {
        idx,
        prompt: prompt.into(),
        provider: provider.into(),
        pass,
        score,
        result: value.to_string(),
    }
}
