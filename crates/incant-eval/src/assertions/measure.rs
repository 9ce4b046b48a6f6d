//! Measured assertions: edit distance, word count, latency, cost and perplexity.
//!
//! Perplexity comes from the per-token log-probabilities the provider returned with the
//! output (`exp` of minus their mean). promptfoo's two forms are kept: `perplexity` passes at
//! perplexity <= threshold (score 1 or 0), `perplexity-score` scores `1 / (1 + perplexity)`
//! and passes at score >= threshold. Without a threshold both pass, as in promptfoo.

use super::text::as_text;
use super::Grade;
use serde_json::Value;

pub use incant_prompt::edit_distance;

/// `levenshtein`: distance to the value at most `threshold` (default 5).
pub fn levenshtein(output: &str, value: Option<&Value>, threshold: Option<f64>) -> Grade {
    let want = as_text(value);
    let limit = threshold.unwrap_or(5.0);
    let d = edit_distance(output, &want);
    let pass = d as f64 <= limit;
    Grade::new(
        pass,
        format!(
            "Levenshtein distance {d} {} threshold {limit}",
            if pass { "<=" } else { ">" }
        ),
    )
}

/// Words as promptfoo counts them: runs of non-whitespace.
pub fn count_words(output: &str) -> usize {
    output.split_whitespace().count()
}

/// `word-count`: exactly `value` words, or within `{min, max}`.
pub fn word_count(output: &str, value: Option<&Value>) -> Grade {
    let n = count_words(output);
    let (min, max) = match value {
        Some(Value::Object(m)) => (
            m.get("min").and_then(Value::as_u64),
            m.get("max").and_then(Value::as_u64),
        ),
        Some(v) => match v.as_u64().or_else(|| as_text(Some(v)).trim().parse().ok()) {
            Some(exact) => (Some(exact), Some(exact)),
            None => {
                return Grade::new(
                    false,
                    format!("word-count value {v} is not a number or {{min, max}}"),
                )
            }
        },
        None => (None, None),
    };
    let pass = min.is_none_or(|m| n as u64 >= m) && max.is_none_or(|m| n as u64 <= m);
    let want = match (min, max) {
        (Some(a), Some(b)) if a == b => format!("{a}"),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any number of".into(),
    };
    Grade::new(pass, format!("{n} words, expected {want}"))
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

    #[test]
    fn distances_and_counts() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert!(levenshtein("kitten", Some(&json!("sitting")), None).pass);
        assert!(!levenshtein("kitten", Some(&json!("sitting")), Some(2.0)).pass);
        assert!(word_count("one two  three\n", Some(&json!(3))).pass);
        assert!(word_count("one two", Some(&json!({"min": 1, "max": 2}))).pass);
        assert!(!word_count("one two three", Some(&json!({"max": 2}))).pass);
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
