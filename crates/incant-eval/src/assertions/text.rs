//! String assertions: equals, contains (and case-insensitive, any/all), starts-with, regex.

use super::Grade;
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

/// `equals`: exact text, or JSON equality when the expected value is an object or array.
pub fn equals(output: &str, value: Option<&Value>) -> Grade {
    match value {
        Some(v @ (Value::Object(_) | Value::Array(_))) => {
            let parsed: Option<Value> = serde_json::from_str(output.trim()).ok();
            let pass = parsed.as_ref() == Some(v);
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
            let want = as_text(v);
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

/// `contains` / `icontains`.
pub fn contains(output: &str, value: Option<&Value>, ignore_case: bool) -> Grade {
    let want = as_text(value);
    let pass = if ignore_case {
        output.to_lowercase().contains(&want.to_lowercase())
    } else {
        output.contains(&want)
    };
    Grade::new(
        pass,
        if pass {
            format!("output contains {}", preview(&want))
        } else {
            format!("output does not contain {}", preview(&want))
        },
    )
}

/// The expected values of an any/all assertion: a list, or a comma-separated string.
fn values(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(a)) => a.iter().map(|v| as_text(Some(v))).collect(),
        v => as_text(v)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// `contains-any` / `contains-all` and their case-insensitive forms.
pub fn contains_set(output: &str, value: Option<&Value>, all: bool, ignore_case: bool) -> Grade {
    let hay = if ignore_case {
        output.to_lowercase()
    } else {
        output.to_string()
    };
    let wanted = values(value);
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
        (true, _) => "output contains the expected values".to_string(),
        (false, true) => format!("output lacks {}", missing.join(", ")),
        (false, false) => format!("output contains none of {}", wanted.join(", ")),
    };
    Grade::new(pass, reason)
}

/// `starts-with`.
pub fn starts_with(output: &str, value: Option<&Value>) -> Grade {
    let want = as_text(value);
    let pass = output.starts_with(&want);
    Grade::new(
        pass,
        if pass {
            format!("output starts with {}", preview(&want))
        } else {
            format!("output does not start with {}", preview(&want))
        },
    )
}

/// `regex`: the pattern matches somewhere in the output.
pub fn regex(output: &str, value: Option<&Value>) -> Grade {
    let pattern = as_text(value);
    match regex::Regex::new(&pattern) {
        Ok(re) => {
            let pass = re.is_match(output);
            Grade::new(
                pass,
                if pass {
                    format!("output matches /{pattern}/")
                } else {
                    format!("output does not match /{pattern}/")
                },
            )
        }
        Err(e) => Grade::new(false, format!("invalid regex /{pattern}/: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equals_text_and_json() {
        assert!(equals("42", Some(&json!(42))).pass);
        assert!(equals("{\"a\": 1}", Some(&json!({"a": 1}))).pass);
        assert!(!equals("{\"a\": 2}", Some(&json!({"a": 1}))).pass);
        assert!(!equals("Paris ", Some(&json!("Paris"))).pass);
    }

    #[test]
    fn any_all_take_lists_or_commas() {
        assert!(contains_set("red and blue", Some(&json!("green, blue")), false, false).pass);
        assert!(!contains_set("red and blue", Some(&json!(["red", "green"])), true, false).pass);
        assert!(contains_set("RED and BLUE", Some(&json!(["red", "blue"])), true, true).pass);
        let g = contains_set("red", Some(&json!(["red", "green"])), true, false);
        assert_eq!(g.reason, "output lacks green");
    }

    #[test]
    fn regex_and_prefix() {
        assert!(regex("order #123", Some(&json!(r"#\d+"))).pass);
        assert!(!regex("order", Some(&json!(r"#\d+"))).pass);
        assert!(starts_with("Hello there", Some(&json!("Hello"))).pass);
        assert!(contains("Paris", Some(&json!("PARIS")), true).pass);
        assert!(!contains("Paris", Some(&json!("PARIS")), false).pass);
    }
}
