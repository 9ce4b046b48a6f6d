//! String assertions: equals, contains (and case-insensitive, any/all), starts-with, regex.
//!
//! Values compare as promptfoo compares them, in JavaScript: an expected number is
//! `String(value)` (`3.0` looks for `"3"`), case-insensitive forms lower-case both sides
//! with full Unicode rules (`ΟΔΟΣ` becomes `οδος` with a final sigma, `ß` stays `ß`), a
//! string value of an any/all type is split by promptfoo's comma parser (quoted items keep
//! their commas) while list items are used as written, and `regex` is a JavaScript regular
//! expression ([`super::js_regex`]). A value promptfoo rejects (an empty or boolean
//! `contains`, a number for `starts-with` or `regex`, an unterminated quoted item) is a
//! [`Failure::Invalid`].

use super::js_regex::JsRegex;
use super::{js, Failure, Grade};
use incant_prompt::expected::split_values;
use serde_json::Value;

/// The value as text (numbers and booleans as written).
pub(crate) fn as_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The start of a text, quoted, for reasons.
pub(crate) fn preview(s: &str) -> String {
    let short: String = s.chars().take(60).collect();
    if short.len() < s.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// `equals`: `String(value)` and the output are the same text, or, when the value is an
/// object, a list or null, the output parses as JSON equal to it (`1` equals `1.0`, key
/// order does not matter).
pub fn equals(output: &str, value: Option<&Value>) -> Grade {
    match value {
        Some(v @ (Value::Object(_) | Value::Array(_) | Value::Null)) => {
            let parsed: Option<Value> = serde_json::from_str(output).ok();
            let pass = parsed.is_some_and(|p| js::deep_equal(&p, v));
            Grade::new(
                pass,
                if pass {
                    "output equals the expected JSON".to_string()
                } else {
                    format!("expected JSON {v}, got {}", preview(output))
                },
            )
        }
        v => {
            let want = v.map(js::string).unwrap_or_default();
            let pass = output == want;
            Grade::new(
                pass,
                if pass {
                    "output equals the expected text".to_string()
                } else {
                    format!("expected {}, got {}", preview(&want), preview(output))
                },
            )
        }
    }
}

/// `contains` / `icontains`: the value is a non-empty string or a number.
pub fn contains(output: &str, value: Option<&Value>, ignore_case: bool) -> Result<Grade, Failure> {
    let want = match value {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(n @ Value::Number(_)) => js::string(n),
        other => {
            return Err(Failure::Invalid(format!(
                "the value must be a non-empty string or a number, got {}",
                shown(other)
            )))
        }
    };
    let pass = if ignore_case {
        output.to_lowercase().contains(&want.to_lowercase())
    } else {
        output.contains(&want)
    };
    Ok(Grade::new(
        pass,
        if pass {
            format!("output contains {}", preview(&want))
        } else {
            format!("output does not contain {}", preview(&want))
        },
    ))
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None => "nothing".into(),
        Some(Value::String(s)) if s.is_empty() => "an empty string".into(),
        Some(v) => v.to_string(),
    }
}

/// The expected values of an any/all assertion: list items as `String(item)`, or a string
/// split by promptfoo's comma parser ([`split_values`]).
fn values(value: Option<&Value>) -> Result<Vec<String>, Failure> {
    match value {
        Some(v) if !js::truthy(v) => Err(Failure::Invalid(format!(
            "the value must be a list or a comma-separated string, got {}",
            shown(Some(v))
        ))),
        Some(Value::Array(a)) => Ok(a.iter().map(js::string).collect()),
        Some(Value::String(s)) => split_values(s).map_err(Failure::Invalid),
        other => Err(Failure::Invalid(format!(
            "the value must be a list or a comma-separated string, got {}",
            shown(other)
        ))),
    }
}

/// `contains-any` / `contains-all` and their case-insensitive forms. An empty list
/// contains none (any) and all (all) of its items.
pub fn contains_set(
    output: &str,
    value: Option<&Value>,
    all: bool,
    ignore_case: bool,
) -> Result<Grade, Failure> {
    let hay = if ignore_case {
        output.to_lowercase()
    } else {
        output.to_string()
    };
    let wanted = values(value)?;
    let found: Vec<bool> = wanted
        .iter()
        .map(|w| {
            if ignore_case {
                hay.contains(&w.to_lowercase())
            } else {
                hay.contains(w.as_str())
            }
        })
        .collect();
    let pass = if all {
        found.iter().all(|f| *f)
    } else {
        found.iter().any(|f| *f)
    };
    let missing: Vec<&str> = wanted
        .iter()
        .zip(&found)
        .filter(|(_, f)| !**f)
        .map(|(w, _)| w.as_str())
        .collect();
    let reason = match (pass, all) {
        (true, true) => "output contains all of the expected values".to_string(),
        (true, false) => "output contains one of the expected values".to_string(),
        (false, true) => format!("output lacks {}", missing.join(", ")),
        (false, false) => format!("output contains none of {}", wanted.join(", ")),
    };
    Ok(Grade::new(pass, reason))
}

/// A non-empty string value (`starts-with`, `regex`).
fn nonempty_string(value: Option<&Value>) -> Result<&str, Failure> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        other => Err(Failure::Invalid(format!(
            "the value must be a non-empty string, got {}",
            shown(other)
        ))),
    }
}

/// `starts-with`.
pub fn starts_with(output: &str, value: Option<&Value>) -> Result<Grade, Failure> {
    let want = nonempty_string(value)?;
    let pass = output.starts_with(want);
    Ok(Grade::new(
        pass,
        if pass {
            format!("output starts with {}", preview(want))
        } else {
            format!("output does not start with {}", preview(want))
        },
    ))
}

/// `regex`: the JavaScript pattern matches somewhere in the output. A pattern JavaScript
/// rejects fails the assertion, negated or not (promptfoo's verdict).
pub fn regex(output: &str, value: Option<&Value>) -> Result<Grade, Failure> {
    let pattern = nonempty_string(value)?;
    let re = JsRegex::new(pattern).map_err(Failure::Ungraded)?;
    let pass = re.is_match(output).map_err(Failure::Ungraded)?;
    Ok(Grade::new(
        pass,
        if pass {
            format!("output matches /{pattern}/")
        } else {
            format!("output does not match /{pattern}/")
        },
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
    fn equals_text_and_json() {
        assert!(equals("42", Some(&json!(42))).pass);
        assert!(equals("3", Some(&json!(3.0))).pass);
        assert!(equals("1.5", Some(&json!(1.50))).pass);
        assert!(equals("true", Some(&json!(true))).pass);
        assert!(equals("{\"a\": 1}", Some(&json!({"a": 1}))).pass);
        assert!(equals("{\"a\": 1.0}", Some(&json!({"a": 1}))).pass);
        assert!(!equals("{\"a\": 2}", Some(&json!({"a": 1}))).pass);
        assert!(equals(" [1]\n", Some(&json!([1]))).pass);
        assert!(!equals("\u{a0}[1]", Some(&json!([1]))).pass);
        assert!(equals("null", Some(&Value::Null)).pass);
        assert!(!equals("Paris ", Some(&json!("Paris"))).pass);
    }

    #[test]
    fn contains_takes_strings_and_numbers_only() {
        assert!(ok(contains("The answer is 3.", Some(&json!(3.0)), false)).pass);
        assert!(ok(contains("420", Some(&json!(42)), true)).pass);
        assert!(ok(contains("Paris", Some(&json!("PARIS")), true)).pass);
        assert!(!ok(contains("Paris", Some(&json!("PARIS")), false)).pass);
        for bad in [json!(""), json!(true), json!(["a"]), Value::Null] {
            assert!(matches!(
                contains("x", Some(&bad), false),
                Err(Failure::Invalid(_))
            ));
        }
    }

    #[test]
    fn lowercasing_is_javascripts() {
        let out = "Café naïve ΟΔΟΣ straße";
        assert!(ok(contains(out, Some(&json!("οδος")), true)).pass);
        assert!(!ok(contains(out, Some(&json!("οδοσ")), true)).pass);
        assert!(!ok(contains(out, Some(&json!("STRASSE")), true)).pass);
        assert!(ok(contains(out, Some(&json!("CAFÉ")), true)).pass);
    }

    #[test]
    fn any_all_take_lists_or_commas() {
        let g = |out, v: Value, all, ic| ok(contains_set(out, Some(&v), all, ic));
        assert!(g("red and blue", json!("green, blue"), false, false).pass);
        assert!(!g("red and blue", json!(["red", "green"]), true, false).pass);
        assert!(g("RED and BLUE", json!(["red", "blue"]), true, true).pass);
        assert_eq!(
            g("red", json!(["red", "green"]), true, false).reason,
            "output lacks green"
        );
        // list items are not trimmed; string items are
        assert!(!g("alpha, beta", json!([" gamma", "beta "]), false, false).pass);
        assert!(g("alpha, beta", json!(" gamma , beta "), false, false).pass);
        assert!(g("x", json!([]), true, false).pass);
        assert!(!g("x", json!([]), false, false).pass);
        assert!(g("3 apples", json!([3.0]), true, false).pass);
        assert!(matches!(
            contains_set("x", Some(&json!("")), false, false),
            Err(Failure::Invalid(_))
        ));
        assert!(matches!(
            contains_set("x", Some(&json!(5)), false, false),
            Err(Failure::Invalid(_))
        ));
    }

    #[test]
    fn prefix_and_regex() {
        assert!(ok(starts_with("Hello there", Some(&json!("Hello")))).pass);
        assert!(matches!(
            starts_with("42", Some(&json!(4))),
            Err(Failure::Invalid(_))
        ));
        assert!(ok(regex("order #123", Some(&json!(r"#\d+")))).pass);
        assert!(!ok(regex("order", Some(&json!(r"#\d+")))).pass);
        assert!(ok(regex("quick brown", Some(&json!("quick(?= brown)")))).pass);
        assert!(matches!(
            regex("Hello", Some(&json!("(?i)hello"))),
            Err(Failure::Ungraded(e)) if e.ends_with("Invalid group")
        ));
        assert!(matches!(
            regex("x", Some(&json!(""))),
            Err(Failure::Invalid(_))
        ));
    }
}
