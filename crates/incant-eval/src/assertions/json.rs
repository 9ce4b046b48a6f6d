//! JSON assertions: the output is JSON, or contains a JSON object, optionally conforming to
//! a JSON Schema.
//!
//! The schema is the assertion's `value`: a mapping written inline in the suite, a YAML or
//! JSON string, or (resolved when the suite loads) `file://schema.json|yaml`; an empty value
//! means no schema, as in promptfoo. It is compiled when the suite loads, so a broken schema
//! stops the run before any model is called. Formats (`"format": "email"`) are checked, as
//! promptfoo's ajv-formats does; unlike ajv's strict mode, unknown keywords are ignored.
//!
//! Both follow promptfoo's reading of the output. `is-json` is `JSON.parse(output)`: any
//! JSON value passes (a bare `42` too), and only JSON's own whitespace may surround it.
//! `contains-json` is promptfoo's `extractJsonObjects`: from each `{`, braces are counted
//! (braces inside strings too) up to the one that balances it, or to the end of the output
//! with the missing braces added; `//` comments become `#`; the text is read as YAML (so
//! `{topic: a}` counts); the first candidate that reads as a mapping is kept and the scan
//! goes on after it, and a failed candidate moves the scan one character on (so an inner
//! object of a broken outer one may be found). Arrays are never candidates. The assertion
//! passes when any object is found and, with a schema, when any of them validates.

use super::{js, Failure, Grade};
use serde_json::Value;

/// `is-json`: `JSON.parse(output)` succeeds and, with a schema, the value validates.
pub fn is_json(output: &str, schema: Option<&Value>) -> Result<Grade, Failure> {
    let validator = validator(schema)?;
    let parsed = match serde_json::from_str::<Value>(output) {
        Ok(v) => v,
        Err(e) => return Ok(Grade::new(false, format!("output is not valid JSON: {e}"))),
    };
    Ok(match validator {
        None => Grade::new(true, "output is valid JSON"),
        Some(v) => match violations(&v, &parsed) {
            None => Grade::new(true, "output is valid JSON and conforms to the schema"),
            Some(errors) => Grade::new(
                false,
                format!("JSON does not conform to the schema: {errors}"),
            ),
        },
    })
}

/// The schema's validator; a falsy value (`""`, `0`, `false`) is no schema.
fn validator(schema: Option<&Value>) -> Result<Option<jsonschema::Validator>, Failure> {
    schema
        .filter(|v| js::truthy(v))
        .map(compile)
        .transpose()
        .map_err(Failure::Invalid)
}

/// The objects promptfoo's `extractJsonObjects` finds in `text` (see the module docs).
pub fn extract_json_objects(text: &str) -> Vec<Value> {
    // Positions are UTF-16 units, as in JavaScript (for the length limit).
    const MAX_LEN: usize = 100_000;
    let units: Vec<u16> = text.encode_utf16().collect();
    let (open_brace, close_brace) = (u16::from(b'{'), u16::from(b'}'));
    let mut found = Vec::new();
    let mut i = 0;
    while i < units.len() {
        if units[i] == open_brace {
            let (mut open, mut close) = (1usize, 0usize);
            let mut j = i + 1;
            let limit = (i + MAX_LEN).min(units.len());
            while j < limit && open > close {
                if units[j] == open_brace {
                    open += 1;
                }
                if units[j] == close_brace {
                    close += 1;
                }
                j += 1;
                if open == close || j == units.len() || j == i + MAX_LEN {
                    let mut candidate = String::from_utf16_lossy(&units[i..j]);
                    candidate.push_str(&"}".repeat(open - close));
                    match yaml_object(&slash_comments_to_hash(&candidate)) {
                        Some(v) => {
                            found.push(v);
                            i = j - 1;
                            break;
                        }
                        None if open == close => break,
                        None => {}
                    }
                }
            }
        }
        i += 1;
    }
    found
}

/// A YAML text as a JSON object or array, keys as JavaScript strings them; `None` when it
/// does not parse or is a scalar.
fn yaml_object(text: &str) -> Option<Value> {
    // Straight into JSON values first: a repeated key keeps its last value, as js-yaml's
    // `json` mode does (a YAML mapping would reject it). Non-string keys need the detour.
    if let Ok(v @ (Value::Object(_) | Value::Array(_))) = serde_norway::from_str::<Value>(text) {
        return Some(v);
    }
    match serde_norway::from_str::<serde_norway::Value>(text).ok()? {
        v @ (serde_norway::Value::Mapping(_) | serde_norway::Value::Sequence(_)) => {
            Some(yaml_to_json(v))
        }
        _ => None,
    }
}

fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                // .inf and .nan have no JSON form
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (js::string(&yaml_to_json(k)), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// promptfoo's `convertSlashCommentsToHash`, line by line: outside quotes, `//` and more
/// slashes become half as many `#` (a token with `://` in it, a URL, is left alone).
/// A `'` opens a quote unless it follows a letter, and closes one unless a letter follows.
fn slash_comments_to_hash(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let c: Vec<char> = line.chars().collect();
            let escaped =
                |i: usize| c[..i].iter().rev().take_while(|&&b| b == '\\').count() % 2 == 1;
            let mut out = String::with_capacity(line.len());
            let mut quote: Option<char> = None;
            let mut i = 0;
            while i < c.len() {
                let ch = c[i];
                match quote {
                    None if ch == '\'' && !(i > 0 && c[i - 1].is_ascii_alphabetic()) => {
                        quote = Some(ch)
                    }
                    None if ch == '"' => quote = Some(ch),
                    None if ch == '/' && c.get(i + 1) == Some(&'/') => {
                        let token_start = c[..i]
                            .iter()
                            .rposition(|&b| js::is_space(b))
                            .map_or(0, |j| j + 1);
                        let token: String = c[token_start..i + 2].iter().collect();
                        if !token.contains("://") {
                            let mut n = 2;
                            while c.get(i + n) == Some(&'/') {
                                n += 1;
                            }
                            out.push_str(&"#".repeat(n / 2));
                            out.extend(&c[i + n..]);
                            return out;
                        }
                    }
                    Some('\'')
                        if ch == '\''
                            && !escaped(i)
                            && c.get(i + 1).is_some_and(|n| !n.is_ascii_alphabetic()) =>
                    {
                        quote = None
                    }
                    Some('"') if ch == '"' && !escaped(i) => quote = None,
                    _ => {}
                }
                out.push(ch);
                i += 1;
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every JSON object or array embedded in `text`, in order, not overlapping (strict JSON;
/// for reading judge answers).
pub fn find_all_json(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(off) = text[i..].find(['{', '[']) {
        let start = i + off;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) if v.is_object() || v.is_array() => {
                found.push(v);
                i = start + stream.byte_offset();
            }
            _ => i = start + 1,
        }
    }
    found
}

/// The first JSON object or array embedded in `text`, if any.
pub fn find_json(text: &str) -> Option<Value> {
    find_all_json(text).into_iter().next()
}

/// `contains-json`: the output holds an object ([`extract_json_objects`]) and, with a
/// schema, one of them validates.
pub fn contains_json(output: &str, schema: Option<&Value>) -> Result<Grade, Failure> {
    let validator = validator(schema)?;
    let found = extract_json_objects(output);
    if found.is_empty() {
        return Ok(Grade::new(false, "output contains no JSON object"));
    }
    let Some(validator) = validator else {
        return Ok(Grade::new(true, "output contains a JSON object"));
    };
    let mut first_errors = None;
    for v in &found {
        match violations(&validator, v) {
            None => {
                return Ok(Grade::new(
                    true,
                    "output contains JSON that conforms to the schema",
                ))
            }
            Some(e) => {
                first_errors.get_or_insert(e);
            }
        }
    }
    Ok(Grade::new(
        false,
        format!(
            "none of the {} JSON object(s) in the output conforms to the schema: {}",
            found.len(),
            first_errors.unwrap_or_default()
        ),
    ))
}

/// The schema as JSON: a mapping as written, or a YAML/JSON string parsed.
pub fn schema_value(value: &Value) -> Result<Value, String> {
    match value {
        Value::Object(_) | Value::Bool(_) => Ok(value.clone()),
        Value::String(s) => serde_norway::from_str::<Value>(s)
            .map_err(|e| format!("the JSON Schema is not valid YAML or JSON: {e}"))
            .and_then(|v| match v {
                Value::Object(_) | Value::Bool(_) => Ok(v),
                other => Err(format!("a JSON Schema is a mapping, got {other}")),
            }),
        other => Err(format!("a JSON Schema is a mapping, got {other}")),
    }
}

/// Compiles a schema (checked against its meta-schema).
pub fn compile(value: &Value) -> Result<jsonschema::Validator, String> {
    let schema = schema_value(value)?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("invalid JSON Schema: {e}"))
}

/// The first few validation errors, each with where it happened; `None` when valid.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Option<String> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(3)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn is_json_is_json_parse() {
        assert!(is_json(" {\"a\": [1, 2]} \n", None).unwrap().pass);
        assert!(is_json("42", None).unwrap().pass);
        assert!(is_json("[2, \"a\", true]", None).unwrap().pass);
        assert!(!is_json("Sure! {\"a\": 1}", None).unwrap().pass);
        assert!(!is_json("   \n  ", None).unwrap().pass);
        assert!(!is_json("\u{a0}42", None).unwrap().pass);
        assert!(!is_json("{topic: a}", None).unwrap().pass);
        // an empty value is no schema
        assert!(is_json("42", Some(&json!(""))).unwrap().pass);
    }

    #[test]
    fn contains_json_extracts_objects_as_promptfoo() {
        let found = |s: &str| extract_json_objects(s);
        assert_eq!(found("Here: {\"a\": 1} -- done."), [json!({"a": 1})]);
        assert_eq!(found("```json\n{\"a\": 1}\n```"), [json!({"a": 1})]);
        assert_eq!(
            found("first {\"a\": 1} and then {\"b\": 2}"),
            [json!({"a": 1}), json!({"b": 2})]
        );
        // arrays are not candidates
        assert!(found("[3, \"a\", true]").is_empty());
        // YAML flow mappings count, and missing closing braces are added
        assert_eq!(
            found("{topic: a, count: 3}"),
            [json!({"topic": "a", "count": 3})]
        );
        assert_eq!(
            found("{\"topic\": \"a\", \"count\": "),
            [json!({"topic": "a", "count": null})]
        );
        assert_eq!(found("no {json here"), [json!({"json here": null})]);
        // the outer object is kept, its inner ones are not tried
        assert_eq!(found("{\"o\": {\"i\": 1}}").len(), 1);
        // a broken outer object lets an inner one through
        assert_eq!(found("{\"o\": {\"i\": 1}, ]}"), [json!({"i": 1})]);
        // comments, keys as JavaScript strings them
        assert_eq!(
            found("{\"a\": 1, // note\n \"u\": \"http://x\"}"),
            [json!({"a": 1, "u": "http://x"})]
        );
        assert_eq!(found("{1: a, true: b}"), [json!({"1": "a", "true": "b"})]);
        // a repeated key keeps its last value (js-yaml's json mode)
        assert_eq!(found("{\"a\": 1, \"a\": [2]}"), [json!({"a": [2]})]);
        assert!(found("The quick brown fox.").is_empty());
        assert!(!contains_json("[1, 2, 3]", None).unwrap().pass);
        assert!(contains_json("Sure! {\"a\": 1} done", None).unwrap().pass);
    }

    #[test]
    fn slash_comments_become_hashes_outside_quotes() {
        assert_eq!(slash_comments_to_hash("a: 1 // c"), "a: 1 # c");
        assert_eq!(slash_comments_to_hash("a: 1 //// c"), "a: 1 ## c");
        assert_eq!(slash_comments_to_hash("\"a // b\": 1"), "\"a // b\": 1");
        assert_eq!(slash_comments_to_hash("'x // y' // z"), "'x // y' # z");
        assert_eq!(slash_comments_to_hash("it's // z"), "it's # z");
        assert_eq!(slash_comments_to_hash("u: http://x"), "u: http://x");
        assert_eq!(slash_comments_to_hash("a //\nb // c"), "a #\nb # c");
    }

    #[test]
    fn finds_strict_json_for_judges() {
        assert_eq!(
            find_json("x {bad} then {\"ok\": true}").unwrap()["ok"],
            true
        );
        assert_eq!(
            find_all_json("```json\n{\"a\": {\"b\": 1}}\n``` and [2]"),
            [json!({"a": {"b": 1}}), json!([2])]
        );
    }

    fn person() -> Value {
        json!({
            "type": "object",
            "required": ["name", "age"],
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
        })
    }

    #[test]
    fn is_json_validates_against_a_schema() {
        let s = person();
        assert!(
            is_json(r#"{"name": "Ada", "age": 36}"#, Some(&s))
                .unwrap()
                .pass
        );
        let g = is_json(r#"{"name": "Ada", "age": -1}"#, Some(&s)).unwrap();
        assert!(!g.pass);
        assert!(g.reason.contains("/age"), "{}", g.reason);
        let g = is_json(r#"{"name": "Ada"}"#, Some(&s)).unwrap();
        assert!(!g.pass && g.reason.contains("age"), "{}", g.reason);
        assert!(!is_json("not json", Some(&s)).unwrap().pass);
    }

    #[test]
    fn schemas_may_be_yaml_strings_and_formats_are_checked() {
        let s = json!("type: object\nproperties:\n  mail: {type: string, format: email}\n");
        assert!(is_json(r#"{"mail": "a@b.org"}"#, Some(&s)).unwrap().pass);
        assert!(!is_json(r#"{"mail": "nope"}"#, Some(&s)).unwrap().pass);
        assert!(compile(&json!({"type": "objekt"})).is_err());
        assert!(compile(&json!("[1, 2]")).is_err());
        assert!(compile(&json!("{unclosed")).is_err());
    }

    #[test]
    fn contains_json_passes_when_any_candidate_validates() {
        let s = person();
        let out = r#"First {"name": 1} then {"name": "Ada", "age": 3}."#;
        assert!(contains_json(out, Some(&s)).unwrap().pass);
        let g = contains_json(r#"only {"name": 1}"#, Some(&s)).unwrap();
        assert!(
            !g.pass && g.reason.contains("none of the 1"),
            "{}",
            g.reason
        );
    }
}
