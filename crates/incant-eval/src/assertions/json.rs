//! JSON assertions: the output is JSON, or contains a JSON object or array, optionally
//! conforming to a JSON Schema.
//!
//! The schema is the assertion's `value`: a mapping written inline in the suite, a YAML or
//! JSON string, or (resolved when the suite loads) `file://schema.json|yaml`. It is compiled
//! when the suite loads, so a broken schema stops the run before any model is called.
//! `contains-json` passes when *any* JSON object or array found in the output validates,
//! as promptfoo does. Formats (`"format": "email"`) are checked, as promptfoo's ajv-formats
//! does; unlike ajv's strict mode, unknown keywords are ignored.

use super::Grade;
use serde_json::Value;

/// `is-json`: the whole output (trimmed) parses as JSON and, with a schema, validates.
pub fn is_json(output: &str, schema: Option<&Value>) -> Result<Grade, String> {
    let validator = schema.map(compile).transpose()?;
    let parsed = match serde_json::from_str::<Value>(output.trim()) {
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

/// Every JSON object or array embedded in `text`, in order, not overlapping.
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

/// `contains-json`: some object or array inside the output parses and, with a schema,
/// validates.
pub fn contains_json(output: &str, schema: Option<&Value>) -> Result<Grade, String> {
    let validator = schema.map(compile).transpose()?;
    let found = find_all_json(output);
    if found.is_empty() {
        return Ok(Grade::new(
            false,
            "output contains no valid JSON object or array",
        ));
    }
    let Some(validator) = validator else {
        return Ok(Grade::new(true, "output contains valid JSON"));
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
            "none of the {} JSON value(s) in the output conforms to the schema: {}",
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
    fn finds_embedded_json() {
        assert!(is_json(" {\"a\": [1, 2]} ", None).unwrap().pass);
        assert!(!is_json("Sure! {\"a\": 1}", None).unwrap().pass);
        assert!(
            contains_json("Sure! Here: {\"a\": 1} done", None)
                .unwrap()
                .pass
        );
        assert!(contains_json("list: [1, 2, 3]", None).unwrap().pass);
        assert!(!contains_json("no {json here", None).unwrap().pass);
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
