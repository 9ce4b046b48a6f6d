//! Typed inputs: what a prompt accepts, checked before anything is rendered.
//!
//! Each input has a type, an optional default, and constraints (`enum`, `min`/`max` for
//! numbers, `min_length`/`max_length` and `pattern` for strings). Validation fills in
//! defaults and returns the first violation with the input's name, so an API caller or a
//! test suite hears "`bullets`: must be at most 10" rather than seeing a strange output.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The JSON type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Text.
    String,
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// true or false.
    Boolean,
    /// A list.
    Array,
    /// A map.
    Object,
}

impl InputType {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Number => v.is_number(),
            Self::Integer => v.as_i64().is_some() || v.as_u64().is_some(),
            Self::Boolean => v.is_boolean(),
            Self::Array => v.is_array(),
            Self::Object => v.is_object(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

/// The declaration of one input.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Its type (default: string).
    #[serde(rename = "type", default = "default_type")]
    pub kind: InputType,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Used when the caller gives nothing.
    #[serde(default)]
    pub default: Option<Value>,
    /// Whether it must be given (default: true unless there is a default).
    #[serde(default)]
    pub required: Option<bool>,
    /// Allowed values.
    #[serde(default, rename = "enum")]
    pub allowed: Option<Vec<Value>>,
    /// Smallest number.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest number.
    #[serde(default)]
    pub max: Option<f64>,
    /// Shortest string or array (in characters or items).
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Longest string or array.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// A regex the whole string must match.
    #[serde(default)]
    pub pattern: Option<String>,
}

fn default_type() -> InputType {
    InputType::String
}

/// The field names of [`InputSpec`], for suggestions.
pub const SPEC_FIELDS: &[&str] = &[
    "type",
    "description",
    "default",
    "required",
    "enum",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
];

/// A violation: the input's name and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The input.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input `{}`: {}", self.field, self.reason)
    }
}

/// Checks `given` against `specs`, returning the variables with defaults filled in.
/// Variables that are not declared pass through untouched (suites share variables across
/// prompts).
pub fn validate(
    specs: &BTreeMap<String, InputSpec>,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, InputError> {
    let mut out = given.clone();
    for (name, spec) in specs {
        let err = |reason: String| InputError {
            field: name.clone(),
            reason,
        };
        let value = match given.get(name) {
            Some(v) => v.clone(),
            None => match &spec.default {
                Some(d) => d.clone(),
                None if spec.required == Some(false) => continue,
                None => return Err(err("is required".into())),
            },
        };
        if !spec.kind.accepts(&value) {
            return Err(err(format!(
                "must be {}, got {}",
                spec.kind.name(),
                describe(&value)
            )));
        }
        if let Some(allowed) = &spec.allowed {
            if !allowed.contains(&value) {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(err(format!("must be one of {}", list.join(", "))));
            }
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = spec.min.filter(|m| n < *m) {
                return Err(err(format!("must be at least {min}")));
            }
            if let Some(max) = spec.max.filter(|m| n > *m) {
                return Err(err(format!("must be at most {max}")));
            }
        }
        let len = match &value {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            _ => None,
        };
        if let Some(len) = len {
            if let Some(min) = spec.min_length.filter(|m| len < *m) {
                return Err(err(format!(
                    "must have at least {min} characters or items, has {len}"
                )));
            }
            if let Some(max) = spec.max_length.filter(|m| len > *m) {
                return Err(err(format!(
                    "must have at most {max} characters or items, has {len}"
                )));
            }
        }
        if let (Some(pattern), Value::String(s)) = (&spec.pattern, &value) {
            let re = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| err(format!("invalid pattern: {e}")))?;
            if !re.is_match(s) {
                return Err(err(format!("must match /{pattern}/")));
            }
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn specs(yaml: &str) -> BTreeMap<String, InputSpec> {
        serde_norway::from_str(yaml).unwrap()
    }

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_fill_in_and_types_are_checked() {
        let s = specs("doc: {type: string}\nn: {type: integer, default: 3, min: 1, max: 10}");
        let out = validate(&s, &vars(json!({"doc": "x"}))).unwrap();
        assert_eq!(out["n"], 3);
        let e = validate(&s, &vars(json!({"doc": "x", "n": 11}))).unwrap_err();
        assert_eq!(e.to_string(), "input `n`: must be at most 10");
        let e = validate(&s, &vars(json!({"doc": 5}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `doc`: must be a string, got an integer"
        );
        let e = validate(&s, &vars(json!({}))).unwrap_err();
        assert_eq!(e.to_string(), "input `doc`: is required");
        let e = validate(&s, &vars(json!({"doc": "x", "n": 2.5}))).unwrap_err();
        assert!(e.reason.contains("integer"));
    }

    #[test]
    fn enums_lengths_and_patterns() {
        let s = specs("tone: {enum: [formal, casual]}\ncode: {pattern: '[A-Z]{3}', max_length: 3}");
        assert!(validate(&s, &vars(json!({"tone": "formal", "code": "ABC"}))).is_ok());
        assert!(validate(&s, &vars(json!({"tone": "rude", "code": "ABC"})))
            .unwrap_err()
            .reason
            .contains("one of"));
        assert!(
            validate(&s, &vars(json!({"tone": "formal", "code": "abc"})))
                .unwrap_err()
                .reason
                .contains("match")
        );
    }

    #[test]
    fn unknown_spec_fields_are_refused() {
        assert!(serde_norway::from_str::<BTreeMap<String, InputSpec>>("a: {typ: string}").is_err());
    }
}
