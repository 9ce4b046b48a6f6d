//! Load-time helpers of [`Assertion::parse_in`](super::Assertion::parse_in): the keys an
//! assertion may have, its `provider`, reference lists and JSON Schema files.

use super::{AssertionError, KEYS, UNSUPPORTED_KEYS};
use serde_json::{Map, Value};
use std::path::Path;

/// Rejects keys incant does not read, naming the nearest valid one.
pub(super) fn check_keys(m: &Map<String, Value>) -> Result<(), AssertionError> {
    for key in m.keys() {
        if KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, instead)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| k == key) {
            return Err(AssertionError::new(
                format!("assertion key `{key}` is not supported by incant"),
                Some(instead),
            ));
        }
        let hint = incant_prompt::nearest(key, KEYS).map_or_else(
            || format!("assertion keys: {}", KEYS.join(", ")),
            |k| format!("did you mean `{k}`?"),
        );
        return Err(AssertionError::new(
            format!("unknown assertion key `{key}`"),
            Some(&hint),
        ));
    }
    Ok(())
}

/// `provider:` as an id, or a mapping with an `id`.
pub(super) fn provider(v: Option<&Value>, ty: &str) -> Result<Option<String>, AssertionError> {
    let hint = Some("e.g. `provider: local:minilm` or `provider: {id: openai:chat:gpt-4o-mini}`");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(Some(id.trim().to_string())),
        Some(Value::Object(p)) => {
            if let Some(k) = p.keys().find(|k| k.as_str() != "id") {
                return Err(AssertionError::new(
                    format!(
                        "`provider` of `{ty}`: only `id` is read here, not `{k}` \
                         (configure the provider in the suite's `providers`)"
                    ),
                    hint,
                ));
            }
            match p.get("id").and_then(Value::as_str) {
                Some(id) if !id.trim().is_empty() => Ok(Some(id.trim().to_string())),
                _ => Err(AssertionError::new(
                    format!("`provider` of `{ty}` needs an `id`"),
                    hint,
                )),
            }
        }
        Some(_) => Err(AssertionError::new(
            format!("`provider` of `{ty}` must be a provider id"),
            hint,
        )),
    }
}

pub(super) fn overlap_refs_invalid(v: &Value) -> bool {
    match v {
        Value::String(_) => false,
        Value::Array(a) => a.is_empty() || !a.iter().all(Value::is_string),
        _ => true,
    }
}

/// A JSON Schema from `file://` (JSON or YAML), relative to `base_dir`.
pub(super) fn read_schema(path: &str, base_dir: Option<&Path>) -> Result<Value, AssertionError> {
    let p = match base_dir {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => Path::new(path).to_path_buf(),
    };
    let text = std::fs::read_to_string(&p).map_err(|e| {
        AssertionError::new(
            format!("cannot read JSON Schema {}: {e}", p.display()),
            Some("relative paths start at the suite's folder"),
        )
    })?;
    serde_norway::from_str::<Value>(&text).map_err(|e| {
        AssertionError::new(
            format!("JSON Schema {} is not valid JSON or YAML: {e}", p.display()),
            None,
        )
    })
}
