//! Measured assertions: edit distance, word count, latency and cost.

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

/// `latency` and `cost`: the measured quantity at most the threshold.
pub fn at_most(what: &str, measured: Option<f64>, threshold: Option<f64>, unit: &str) -> Grade {
    match (measured, threshold) {
        (_, None) => Grade::new(false, format!("`{what}` needs a `threshold`")),
        (None, Some(_)) => Grade::new(
            false,
            format!("no {what} was measured for this call (cached or not reported)"),
        ),
        (Some(m), Some(t)) => Grade::new(
            m <= t,
            format!(
                "{what} {m:.3}{unit} {} threshold {t}{unit}",
                if m <= t { "<=" } else { ">" }
            ),
        ),
    }
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
        assert!(at_most("latency", Some(120.0), Some(200.0), "ms").pass);
        assert!(!at_most("latency", Some(320.0), Some(200.0), "ms").pass);
        assert!(!at_most("cost", None, Some(0.01), "$").pass);
        assert!(!at_most("cost", Some(0.0), None, "$").pass);
    }
}
