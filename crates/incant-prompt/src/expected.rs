//! Assertions written as one string, as promptfoo's CSV `__expected` columns hold them:
//! `contains:Paris`, `not-icontains:london`, `icontains-any:a, b, "c, d"`, `similar(0.9):text`,
//! `llm-rubric:is polite`, `python:len(output) < 50`; anything else means `equals` with the
//! whole cell. The result is the mapping a YAML `assert` entry would hold, so the one
//! assertion parser checks both. The grammar and its defaults (threshold 0.75, or 0.8 for
//! `similar`, on the types that take one) follow promptfoo 0.121's CSV reader exactly, so a
//! promptfoo test file grades the same here.

use serde_json::{json, Map, Value};

/// Types promptfoo recognises in the `type(threshold):value` form, in its order (the first
/// that matches wins, as in its regular expression).
const TYPES: &[&str] = &[
    "agent-rubric",
    "answer-relevance",
    "bleu",
    "classifier",
    "contains",
    "contains-all",
    "contains-any",
    "contains-html",
    "contains-json",
    "contains-sql",
    "contains-xml",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "conversation-relevance",
    "cost",
    "equals",
    "factuality",
    "finish-reason",
    "g-eval",
    "gleu",
    "guardrails",
    "icontains",
    "icontains-all",
    "icontains-any",
    "is-html",
    "is-json",
    "is-refusal",
    "is-sql",
    "is-valid-function-call",
    "is-valid-openai-function-call",
    "is-valid-openai-tools-call",
    "is-xml",
    "javascript",
    "latency",
    "levenshtein",
    "llm-rubric",
    "pi",
    "meteor",
    "model-graded-closedqa",
    "model-graded-factuality",
    "moderation",
    "perplexity",
    "perplexity-score",
    "python",
    "regex",
    "rouge-n",
    "ruby",
    "similar",
    "similar:cosine",
    "similar:dot",
    "similar:euclidean",
    "starts-with",
    "webhook",
    "word-count",
];

/// Types that get a default threshold in the string form.
const THRESHOLD_TYPES: &[&str] = &[
    "answer-relevance",
    "classifier",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "cost",
    "latency",
    "levenshtein",
    "perplexity-score",
    "perplexity",
    "rouge-n",
    "similar",
    "starts-with",
];

/// One `__expected` cell (already trimmed) as an assertion mapping.
pub fn assertion_from_string(expected: &str) -> Value {
    let rest_after = |prefix: &str| expected.strip_prefix(prefix).map(str::trim);
    for prefix in ["javascript:", "fn:", "eval:"] {
        if let Some(code) = rest_after(prefix) {
            return json!({"type": "javascript", "value": code});
        }
    }
    if let Some(rubric) = expected
        .strip_prefix("grade:")
        .or_else(|| expected.strip_prefix("llm-rubric:"))
    {
        return json!({"type": "llm-rubric", "value": rubric});
    }
    if let Some(code) = rest_after("python:") {
        return json!({"type": "python", "value": code});
    }
    if let Some(path) = expected.strip_prefix("file://") {
        let ty = if path.ends_with(".py") || path.contains(".py:") {
            "python"
        } else {
            "javascript"
        };
        return json!({"type": ty, "value": path.trim()});
    }
    let (negate, body) = match expected.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, expected),
    };
    for ty in TYPES {
        let Some((threshold, value)) = body.strip_prefix(ty).and_then(split_tail) else {
            continue;
        };
        let full = if negate {
            format!("not-{ty}")
        } else {
            ty.to_string()
        };
        let mut m = Map::new();
        m.insert("type".into(), json!(full));
        match (*ty, value) {
            // promptfoo splits a non-empty value; an empty one, or one its parser rejects,
            // stays a string for the assertion to reject when the suite loads.
            ("contains-all" | "contains-any" | "icontains-all" | "icontains-any", Some(v)) => {
                let items = Some(v).filter(|v| !v.is_empty()).map(split_values);
                m.insert(
                    "value".into(),
                    match items {
                        Some(Ok(items)) => json!(items),
                        _ => json!(v),
                    },
                );
            }
            ("contains-json" | "is-json", Some(v)) => {
                m.insert("value".into(), json!(v));
            }
            (_, Some(v)) => {
                m.insert("value".into(), json!(v.trim()));
            }
            (_, None) => {}
        }
        if THRESHOLD_TYPES.contains(ty) {
            let default = if *ty == "similar" { 0.8 } else { 0.75 };
            m.insert("threshold".into(), json!(threshold.unwrap_or(default)));
        }
        return Value::Object(m);
    }
    json!({"type": "equals", "value": expected})
}

/// After the type name: nothing, `(N)`, `:value` or `(N):value`.
fn split_tail(tail: &str) -> Option<(Option<f64>, Option<&str>)> {
    let (threshold, rest) = match tail.strip_prefix('(') {
        Some(inner) => {
            let close = inner.find(')')?;
            let number = &inner[..close];
            let valid = !number.is_empty()
                && number.split_once('.').map_or_else(
                    || number.bytes().all(|b| b.is_ascii_digit()),
                    |(a, b)| {
                        !a.is_empty()
                            && !b.is_empty()
                            && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
                    },
                );
            if !valid {
                return None;
            }
            (number.parse().ok(), &inner[close + 1..])
        }
        None => (None, tail),
    };
    if rest.is_empty() {
        return Some((threshold, None));
    }
    rest.strip_prefix(':').map(|v| (threshold, Some(v)))
}

/// promptfoo's comma parser for `contains-any` and its kin, in CSV cells and in string
/// values alike: `a, b , "c, d"` is three items. Commas (repeated ones too) and whitespace
/// separate items, unquoted items are trimmed, double-quoted items keep their commas and
/// whitespace (`\"`, `\\` and `""` inside), and only whitespace may follow a quoted item
/// before the next comma. Whitespace is JavaScript's ([`is_js_space`]).
pub fn split_values(v: &str) -> Result<Vec<String>, String> {
    let c: Vec<char> = v.chars().collect();
    let skip_space = |mut i: usize| {
        while i < c.len() && is_js_space(c[i]) {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        loop {
            i = skip_space(i);
            if c.get(i) != Some(&',') {
                break;
            }
            i += 1;
        }
        if i >= c.len() {
            break;
        }
        if c[i] == '"' {
            let mut field = String::new();
            let mut closed = false;
            i += 1;
            while i < c.len() {
                match (c[i], c.get(i + 1)) {
                    ('\\', Some(&q @ ('"' | '\\'))) | ('"', Some(&q @ '"')) => {
                        field.push(q);
                        i += 2;
                    }
                    ('"', _) => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    (ch, _) => {
                        field.push(ch);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(format!("unterminated quoted item in {v:?}"));
            }
            out.push(field);
            i = skip_space(i);
            if i < c.len() && c[i] != ',' {
                return Err(format!("expected a comma after a quoted item in {v:?}"));
            }
        } else {
            let start = i;
            while i < c.len() && c[i] != ',' {
                i += 1;
            }
            let item: String = c[start..i].iter().collect();
            out.push(item.trim_matches(is_js_space).to_string());
        }
    }
    Ok(out)
}

/// JavaScript's WhiteSpace and LineTerminator characters (`/\s/`, `trim()`): Rust's
/// whitespace without U+0085, plus U+FEFF.
pub fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_parser_is_promptfoos() {
        let s = |v: &str| split_values(v).unwrap();
        assert_eq!(s("a , b,,c,"), ["a", "b", "c"]);
        assert_eq!(s("\u{a0}a\u{feff},b"), ["a", "b"]);
        assert_eq!(s(r#""alpha, beta",zeta"#), ["alpha, beta", "zeta"]);
        assert_eq!(s(r#""say \"hi\"" , "a""b""#), ["say \"hi\"", "a\"b"]);
        assert_eq!(s(r#""""#), [""]);
        assert!(s(" , ").is_empty());
        assert!(split_values(r#""open"#).is_err());
        assert!(split_values(r#""a"b"#).is_err());
    }

    #[test]
    fn promptfoo_expected_strings() {
        let a = assertion_from_string;
        assert_eq!(a("42"), json!({"type": "equals", "value": "42"}));
        assert_eq!(a("equals: 42 "), json!({"type": "equals", "value": "42"}));
        assert_eq!(
            a("not-contains:Paris"),
            json!({"type": "not-contains", "value": "Paris"})
        );
        assert_eq!(
            a(r#"icontains-any:a , b,"c, d",,"say ""hi""""#),
            json!({"type": "icontains-any", "value": ["a", "b", "c, d", "say \"hi\""]})
        );
        // promptfoo keeps an empty or unparsable list as a string
        assert_eq!(
            a("contains-any:"),
            json!({"type": "contains-any", "value": ""})
        );
        assert_eq!(
            a(r#"contains-all:"a"b,c"#),
            json!({"type": "contains-all", "value": "\"a\"b,c"})
        );
        assert_eq!(
            a("similar(0.9):The sky"),
            json!({"type": "similar", "value": "The sky", "threshold": 0.9})
        );
        assert_eq!(
            a("similar:The sky"),
            json!({"type": "similar", "value": "The sky", "threshold": 0.8})
        );
        assert_eq!(
            a("levenshtein:kitten"),
            json!({"type": "levenshtein", "value": "kitten", "threshold": 0.75})
        );
        assert_eq!(a("is-json"), json!({"type": "is-json"}));
        assert_eq!(
            a("contains-json: {\"a\": 1}"),
            json!({"type": "contains-json", "value": " {\"a\": 1}"})
        );
        assert_eq!(
            a("grade:is polite"),
            json!({"type": "llm-rubric", "value": "is polite"})
        );
        assert_eq!(
            a("python: len(output) < 5"),
            json!({"type": "python", "value": "len(output) < 5"})
        );
        assert_eq!(a("fn:output.length")["type"], "javascript");
        // Not a type: the whole cell is the expected value.
        assert_eq!(
            a("containsX:y"),
            json!({"type": "equals", "value": "containsX:y"})
        );
        assert_eq!(
            a("latency(abc)"),
            json!({"type": "equals", "value": "latency(abc)"})
        );
    }
}
