//! JSON assertions: the output is JSON, or contains a JSON object or array.

use super::Grade;
use serde_json::Value;

/// `is-json`: the whole output (trimmed) parses as JSON.
pub fn is_json(output: &str) -> Grade {
    match serde_json::from_str::<Value>(output.trim()) {
        Ok(_) => Grade::new(true, "output is valid JSON"),
        Err(e) => Grade::new(false, format!("output is not valid JSON: {e}")),
    }
}

/// The first JSON object or array embedded in `text`, if any.
pub fn find_json(text: &str) -> Option<Value> {
    for (i, c) in text.char_indices() {
        if c != '{' && c != '[' {
            continue;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(v)) = stream.next() {
            if v.is_object() || v.is_array() {
                return Some(v);
            }
        }
    }
    None
}

/// `contains-json`: some object or array inside the output parses.
pub fn contains_json(output: &str) -> Grade {
    match find_json(output) {
        Some(_) => Grade::new(true, "output contains valid JSON"),
        None => Grade::new(false, "output contains no valid JSON object or array"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_embedded_json() {
        assert!(is_json(" {\"a\": [1, 2]} ").pass);
        assert!(!is_json("Sure! {\"a\": 1}").pass);
        assert!(contains_json("Sure! Here: {\"a\": 1} done").pass);
        assert!(contains_json("list: [1, 2, 3]").pass);
        assert!(!contains_json("no {json here").pass);
        assert_eq!(
            find_json("x {bad} then {\"ok\": true}").unwrap()["ok"],
            true
        );
    }
}
