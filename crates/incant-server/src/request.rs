//! Reading request bodies: options checked field by field (a 400 names the field), and
//! the mapping from OpenAI messages to a prompt's typed inputs.
//!
//! How an OpenAI request fills a served prompt's inputs, in order:
//! 1. an `inputs` object in the request body (an incant extension) is used as it is;
//! 2. otherwise the text of the last `user` message (for `/v1/completions`, `prompt`):
//!    - a prompt without inputs ignores it;
//!    - if the text is a JSON object and the prompt has more than one input, its fields
//!      are the inputs;
//!    - else it fills the input named `input`, `text`, `prefix`, `query`, `message` or
//!      `prompt` (the first declared, in that order), else the prompt's only string
//!      input, else its only required string input;
//! 3. `suffix` (completions) fills an input named `suffix` when the prompt declares one.
//!
//! The caller's system messages are ignored for prompts: the prompt's own system message
//! is the product, and callers do not get to replace it.

use crate::complete::GenOptions;
use crate::error::ApiError;
use incant_prompt::{InputType, PromptFile};
use serde_json::{Map, Value};

/// Most alternatives per request.
pub const MAX_N: usize = 16;
/// Most tokens per request.
pub const MAX_TOKENS: usize = 8192;

/// Parses a body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_json(
            "the request body is empty; send a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_json("the request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_json(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn uint(m: &Map<String, Value>, k: &str, lo: u64, hi: u64) -> Result<Option<u64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                k,
                format!("`{k}` must be an integer from {lo} to {hi}"),
            )),
        },
    }
}

fn float(m: &Map<String, Value>, k: &str, lo: f64, hi: f64) -> Result<Option<f64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(ApiError::invalid(
                k,
                format!("`{k}` must be a number from {lo} to {hi}"),
            )),
        },
    }
}

/// The generation options of a request body.
pub fn options(m: &Map<String, Value>) -> Result<GenOptions, ApiError> {
    let stop = match m.get("stop") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        ),
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "`stop` must be a string or a list of up to 4 strings",
            ))
        }
    };
    let stream = match m.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::invalid(
                "stream",
                "`stream` must be true or false",
            ))
        }
    };
    let max_tokens = match uint(m, "max_completion_tokens", 1, MAX_TOKENS as u64)? {
        Some(v) => Some(v),
        None => uint(m, "max_tokens", 1, MAX_TOKENS as u64)?,
    };
    Ok(GenOptions {
        n: uint(m, "n", 1, MAX_N as u64)?.unwrap_or(1) as usize,
        max_tokens: max_tokens.map(|v| v as usize),
        temperature: float(m, "temperature", 0.0, 2.0)?,
        top_p: float(m, "top_p", 0.0, 1.0)?,
        seed: match m.get("seed") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ApiError::invalid("seed", "`seed` must be a non-negative integer")
            })?),
        },
        stop,
        stream,
        provider: match m.get("provider") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 200 => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "provider",
                    "`provider` must be a model id such as `local:smollm2`",
                ))
            }
        },
    })
}

/// The text of a message's `content` (a string or a list of text parts).
pub fn content_text(v: &Value, param: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                match p.get("text").and_then(Value::as_str) {
                    Some(t) => out.push_str(t),
                    None => {
                        return Err(ApiError::invalid(
                            param,
                            "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported",
                        ))
                    }
                }
            }
            Ok(out)
        }
        Value::Null => Ok(String::new()),
        _ => Err(ApiError::invalid(
            param,
            "`content` must be a string or a list of text parts",
        )),
    }
}

/// Names checked, in order, for the input that takes the caller's text.
const TEXT_INPUTS: &[&str] = &["input", "text", "prefix", "query", "message", "prompt"];

/// Fills `file`'s inputs from a caller's text (and `suffix`), as the module doc says.
pub fn inputs_from_text(
    file: &PromptFile,
    text: &str,
    suffix: Option<&str>,
    param: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    if let (Some(s), true) = (suffix, file.inputs.contains_key("suffix")) {
        out.insert("suffix".into(), Value::String(s.to_string()));
    }
    let free: Vec<(&String, &incant_prompt::InputSpec)> = file
        .inputs
        .iter()
        .filter(|(k, _)| !out.contains_key(*k))
        .collect();
    if free.is_empty() {
        return Ok(out);
    }
    if free.len() > 1 {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
            out.extend(m);
            return Ok(out);
        }
    }
    let strings: Vec<&String> = free
        .iter()
        .filter(|(_, s)| s.kind == InputType::String)
        .map(|(k, _)| *k)
        .collect();
    let required: Vec<&String> = free
        .iter()
        .filter(|(_, s)| {
            s.kind == InputType::String && s.default.is_none() && s.required != Some(false)
        })
        .map(|(k, _)| *k)
        .collect();
    let chosen = TEXT_INPUTS
        .iter()
        .find_map(|n| strings.iter().find(|k| k.as_str() == *n))
        .or_else(|| (strings.len() == 1).then(|| &strings[0]))
        .or_else(|| (required.len() == 1).then(|| &required[0]));
    match chosen {
        Some(k) => {
            out.insert((*k).clone(), Value::String(text.to_string()));
            Ok(out)
        }
        None => {
            let names: Vec<&str> = free.iter().map(|(k, _)| k.as_str()).collect();
            Err(ApiError::invalid(
                param,
                format!(
                    "prompt `{}` takes the inputs {}: send them as a JSON object in the last user message or as `inputs`",
                    file.name,
                    names.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn file(inputs: &str) -> PromptFile {
        let text = format!("---\nname: p\ninputs:\n{inputs}---\nuser:\nx\n");
        PromptFile::parse(Path::new("p.prompt"), &text).unwrap()
    }

    #[test]
    fn options_name_the_bad_field() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let o = options(&m(
            json!({"n": 2, "max_tokens": 5, "stop": "\n", "seed": 3}),
        ))
        .unwrap();
        assert_eq!((o.n, o.max_tokens, o.seed), (2, Some(5), Some(3)));
        assert_eq!(o.stop, Some(vec!["\n".to_string()]));
        for (body, field) in [
            (json!({"n": 0}), "n"),
            (json!({"n": "2"}), "n"),
            (json!({"temperature": 3}), "temperature"),
            (json!({"stop": 5}), "stop"),
            (json!({"stream": "yes"}), "stream"),
            (json!({"seed": -1}), "seed"),
            (json!({"max_tokens": 0}), "max_tokens"),
        ] {
            let e = options(&m(body)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(field));
        }
        assert!(parse_object(b"{")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
        assert!(parse_object(b"[1]").is_err());
    }

    #[test]
    fn text_fills_the_declared_input() {
        let one = file("  country: { type: string }\n");
        assert_eq!(
            inputs_from_text(&one, "France", None, "messages").unwrap()["country"],
            "France"
        );
        let named = file("  prefix: { type: string }\n  suffix: { type: string, default: '' }\n  k: { type: integer, default: 3 }\n");
        let got = inputs_from_text(&named, "Once", Some(" end"), "prompt").unwrap();
        assert_eq!(got["prefix"], "Once");
        assert_eq!(got["suffix"], " end");
        let two = file("  a: { type: string }\n  b: { type: string }\n");
        let got = inputs_from_text(&two, r#"{"a": "x", "b": "y"}"#, None, "messages").unwrap();
        assert_eq!(got["b"], "y");
        let e = inputs_from_text(&two, "plain", None, "messages").unwrap_err();
        assert!(e.message.contains("a, b"), "{}", e.message);
    }
}
