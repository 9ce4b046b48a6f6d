//! Measured assertions: edit distance, word count, latency, cost and perplexity.
//!
//! Perplexity comes from the per-token log-probabilities the provider returned with the
//! output (`exp` of minus their mean). promptfoo's two forms are kept: `perplexity` passes at
//! perplexity <= threshold (score 1 or 0), `perplexity-score` scores `1 / (1 + perplexity)`
//! and passes at score >= threshold. Without a threshold both pass, as in promptfoo.

use super::{js, Failure, Grade};
use serde_json::Value;

pub use incant_prompt::edit_distance;

/// `levenshtein`: distance to the value at most `threshold` (default 5), counted in UTF-16
/// code units as promptfoo (JavaScript) counts it: an emoji is two. The value must be a
/// string.
pub fn levenshtein(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
) -> Result<Grade, Failure> {
    let Some(Value::String(want)) = value else {
        return Err(Failure::Invalid(format!(
            "the value must be a string, got {}",
            value.map_or_else(|| "nothing".to_string(), Value::to_string)
        )));
    };
    let limit = threshold.unwrap_or(5.0);
    let d = js::utf16_distance(output, want);
    let pass = d as f64 <= limit;
    Ok(Grade::new(
        pass,
        format!(
            "Levenshtein distance {d} {} threshold {limit}",
            if pass { "<=" } else { ">" }
        ),
    ))
}

/// Words as promptfoo counts them: `trim().split(/\s+/)`, empty pieces dropped, with
/// JavaScript's whitespace (NBSP and U+FEFF separate words, U+0085 does not).
pub fn count_words(output: &str) -> usize {
    js::trim(output)
        .split(js::is_space)
        .filter(|w| !w.is_empty())
        .count()
}

/// `word-count`: exactly `value` words (a number, or a string `Number()` reads), or within
/// `{min, max}` (inclusive, either optional). Anything else is [`Failure::Invalid`], as
/// promptfoo rejects it.
pub fn word_count(output: &str, value: Option<&Value>) -> Result<Grade, Failure> {
    let n = count_words(output);
    let invalid = |why: String| Err(Failure::Invalid(why));
    let (min, max) = match value {
        Some(Value::Object(m)) => {
            let (min, max) = (
                m.get("min").map(js::to_number),
                m.get("max").map(js::to_number),
            );
            match (min, max) {
                (None, None) => {
                    return invalid("a {min, max} value needs `min` and/or `max`".into())
                }
                // NaN compares false too, as in JavaScript
                (Some(a), Some(b)) if a.is_nan() || b.is_nan() || a > b => {
                    return invalid(format!("min ({a}) must be at most max ({b})"))
                }
                bounds => bounds,
            }
        }
        Some(v @ (Value::Number(_) | Value::String(_))) => {
            let exact = js::to_number(v);
            if exact.is_nan() {
                return invalid(format!(
                    "the value must be a number or {{min, max}}, got {v}"
                ));
            }
            (Some(exact), Some(exact))
        }
        other => {
            return invalid(format!(
                "the value must be a number or {{min, max}}, got {}",
                other.map_or_else(|| "nothing".to_string(), Value::to_string)
            ))
        }
    };
    let count = n as f64;
    let pass = min.is_none_or(|m| count >= m) && max.is_none_or(|m| count <= m);
    let want = match (min, max) {
        (Some(a), Some(b)) if a == b => js::number_to_string(a),
        (Some(a), Some(b)) => format!("{}-{}", js::number_to_string(a), js::number_to_string(b)),
        (Some(a), None) => format!("at least {}", js::number_to_string(a)),
        (None, Some(b)) => format!("at most {}", js::number_to_string(b)),
        (None, None) => unreachable!("rejected above"),
    };
    Ok(Grade::new(pass, format!("{n} words, expected {want}")))
}

/// `latency` and `cost`: the measured quantity at most the threshold. No measurement is an
/// error (a failing grade even when negated).
pub fn at_most(
    what: &str,
    measured: Option<f64>,
    threshold: Option<f64>,
    unit: &str,
) -> Result<Grade, String> {
    match (measured, threshold) {
        (_, None) => Err(format!("`{what}` needs a `threshold`")),
        (None, Some(_)) => Err(format!(
            "no {what} was measured for this call (cached or not reported)"
        )),
        (Some(m), Some(t)) => Ok(Grade::new(
            m <= t,
            format!(
                "{what} {m:.3}{unit} {} threshold {t}{unit}",
                if m <= t { "<=" } else { ">" }
            ),
        )),
    }
}

/// Perplexity of a sequence from its per-token log-probabilities: `exp(-mean)`.
pub fn perplexity_of(logprobs: &[f32]) -> Option<f64> {
    if logprobs.is_empty() {
        return None;
    }
    let mean = logprobs.iter().map(|&l| f64::from(l)).sum::<f64>() / logprobs.len() as f64;
    Some((-mean).exp())
}

fn logprobs_perplexity(what: &str, logprobs: Option<&[f32]>) -> Result<f64, String> {
    let lp = logprobs.ok_or_else(|| {
        format!(
            "`{what}` needs token log-probabilities, and this provider returned none \
             (local models return them; for an API model enable logprobs)"
        )
    })?;
    perplexity_of(lp).ok_or_else(|| format!("`{what}`: the output has no tokens"))
}

/// `perplexity`: perplexity at most `threshold` (no threshold: pass).
pub fn perplexity(logprobs: Option<&[f32]>, threshold: Option<f64>) -> Result<Grade, String> {
    let ppl = logprobs_perplexity("perplexity", logprobs)?;
    Ok(match threshold {
        None => Grade::new(true, format!("perplexity {ppl:.3} (no threshold)")),
        Some(t) => Grade::new(
            ppl <= t,
            format!(
                "perplexity {ppl:.3} {} threshold {t}",
                if ppl <= t { "<=" } else { ">" }
            ),
        ),
    })
}

/// `perplexity-score`: `1 / (1 + perplexity)`, at least `threshold` (no threshold: pass).
pub fn perplexity_score(logprobs: Option<&[f32]>, threshold: Option<f64>) -> Result<Grade, String> {
    let ppl = logprobs_perplexity("perplexity-score", logprobs)?;
    let score = 1.0 / (1.0 + ppl);
    let pass = threshold.is_none_or(|t| score >= t);
    let against = threshold.map_or_else(
        || " (no threshold)".to_string(),
        |t| format!(" {} threshold {t}", if pass { ">=" } else { "<" }),
    );
    Ok(Grade::scored(
        pass,
        score,
        format!("perplexity score {score:.4} (perplexity {ppl:.3}){against}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(r: Result<Grade, Failure>) -> Grade {
        r.unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn levenshtein_counts_utf16_units() {
        assert!(ok(levenshtein("kitten", Some(&json!("sitting")), None)).pass);
        assert!(!ok(levenshtein("kitten", Some(&json!("sitting")), Some(2.0))).pass);
        // the emoji is two units: distance 2
        let g = ok(levenshtein("a 😀", Some(&json!("a ")), Some(1.0)));
        assert!(
            !g.pass && g.reason.starts_with("Levenshtein distance 2"),
            "{g:?}"
        );
        assert!(ok(levenshtein("42", Some(&json!("40")), Some(1.5))).pass);
        assert!(matches!(
            levenshtein("42", Some(&json!(42)), None),
            Err(Failure::Invalid(_))
        ));
    }

    #[test]
    fn word_counts_are_javascripts() {
        assert_eq!(count_words("  padded  x\tand   more \n"), 4);
        assert_eq!(count_words("   \n  "), 0);
        assert_eq!(count_words("a\u{a0}b\u{feff}c"), 3);
        assert_eq!(count_words("a\u{85}b"), 1);
        assert!(ok(word_count("one two  three\n", Some(&json!(3)))).pass);
        assert!(ok(word_count("one two  three", Some(&json!(" 3 ")))).pass);
        assert!(ok(word_count("", Some(&json!("0")))).pass);
        assert!(ok(word_count("one two", Some(&json!({"min": 1, "max": 2})))).pass);
        assert!(!ok(word_count("one two three", Some(&json!({"max": 2})))).pass);
        assert!(ok(word_count("one two three", Some(&json!({"min": "3"})))).pass);
        for bad in [
            json!({}),
            json!({"min": 3, "max": 2}),
            json!("three"),
            json!([3]),
            json!(true),
        ] {
            assert!(
                matches!(word_count("x", Some(&bad)), Err(Failure::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn latency_and_cost_need_a_threshold_and_a_measurement() {
        assert!(
            at_most("latency", Some(120.0), Some(200.0), "ms")
                .unwrap()
                .pass
        );
        assert!(
            !at_most("latency", Some(320.0), Some(200.0), "ms")
                .unwrap()
                .pass
        );
        assert!(at_most("cost", None, Some(0.01), "$").is_err());
        assert!(at_most("cost", Some(0.0), None, "$").is_err());
    }

    #[test]
    fn perplexity_is_exp_of_minus_the_mean_logprob() {
        // mean(-1, -2, -3) = -2 -> perplexity e^2 = 7.389..., score 1 / (1 + e^2) = 0.1192...
        let lp = [-1.0f32, -2.0, -3.0];
        let e2 = 2.0f64.exp();
        assert!((perplexity_of(&lp).unwrap() - e2).abs() < 1e-9);
        assert!(perplexity(Some(&lp), Some(8.0)).unwrap().pass);
        let g = perplexity(Some(&lp), Some(7.0)).unwrap();
        assert!(
            !g.pass && g.reason.contains("7.389 > threshold 7"),
            "{}",
            g.reason
        );
        assert!(perplexity(Some(&lp), None).unwrap().pass);
        let g = perplexity_score(Some(&lp), Some(0.1)).unwrap();
        assert!(g.pass && (g.score - 1.0 / (1.0 + e2)).abs() < 1e-9, "{g:?}");
        assert!(!perplexity_score(Some(&lp), Some(0.2)).unwrap().pass);
        let e = perplexity(None, Some(5.0)).unwrap_err();
        assert!(e.contains("returned none"), "{e}");
        assert!(perplexity_score(Some(&[]), None).is_err());
    }
}
