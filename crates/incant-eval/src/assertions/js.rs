//! The JavaScript conversions promptfoo's assertions rely on, so that values compare as
//! they do there: `String(v)` for expected values (YAML `3.0` is `"3"`), `Number(s)` for
//! word counts, JavaScript's whitespace (`trim`, `/\s/`: NBSP and U+FEFF yes, U+0085 no),
//! truthiness (an empty schema means none), `util.isDeepStrictEqual` for `equals` on
//! structured values, and string lengths and distances in UTF-16 code units.

use serde_json::Value;

pub use incant_prompt::expected::is_js_space as is_space;

/// `s.trim()`.
pub fn trim(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `Number.prototype.toString()`: `3` not `3.0`, `1e+21`, `1e-7`, `0.000001`.
pub fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // Shortest round-trip digits and exponent, e.g. "1.5e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().expect("integer exponent") + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat(-n as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let e = (n - 1).abs();
        if k == 1 {
            format!("{digits}e{sign}{e}")
        } else {
            format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
        }
    }
}

/// `String(v)` of a JSON value: numbers as JavaScript prints them, arrays joined with `,`
/// (null items empty), objects `[object Object]`.
pub fn string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                if i.is_null() {
                    String::new()
                } else {
                    string(i)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `Number(s)`: trimmed; empty is 0; `0x`/`0o`/`0b` integers; `Infinity`; decimal literals;
/// anything else NaN.
pub fn string_to_number(s: &str) -> f64 {
    let s = trim(s);
    if s.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if s.len() > 2 && s.as_bytes()[..2].eq_ignore_ascii_case(prefix.as_bytes()) {
            let digits = &s[2..];
            if !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |acc, c| {
                acc * f64::from(radix) + f64::from(c.to_digit(radix).expect("checked"))
            });
        }
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned == "Infinity" {
        return if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    if is_decimal_literal(unsigned) {
        s.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// `digits [. digits] [e [+-] digits]` or `. digits [...]` (no sign).
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    let int = digits(&mut i);
    let frac = if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i)
    } else {
        false
    };
    if !int && !frac {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// `Number(v)` of a JSON value (`null` is 0, `true` 1, arrays and objects through their
/// string form).
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        other => string_to_number(&string(other)),
    }
}

/// JavaScript truthiness: `""`, `0`, `false` and `null` are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `util.isDeepStrictEqual` of two parsed JSON values: numbers compare as doubles (`1` and
/// `1.0` are equal, `0` and `-0` are not), object key order does not matter.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            x == y && x.map(f64::is_sign_negative) == y.map(f64::is_sign_negative)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (a, b) => a == b,
    }
}

/// Levenshtein distance over UTF-16 code units, as JavaScript strings measure it (an emoji
/// is two units, so replacing one costs 2).
pub fn utf16_distance(a: &str, b: &str) -> usize {
    let a: Vec<u16> = a.encode_utf16().collect();
    let b: Vec<u16> = b.encode_utf16().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(x != y);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_in_javascript() {
        let cases = [
            (3.0, "3"),
            (1.5, "1.5"),
            (-0.0, "0"),
            (42.0, "42"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
        ];
        for (x, want) in cases {
            assert_eq!(number_to_string(x), want, "{x}");
        }
        assert_eq!(string(&json!(3.0)), "3");
        assert_eq!(string(&json!(true)), "true");
        assert_eq!(string(&json!([1, null, "a", [2, 3]])), "1,,a,2,3");
        assert_eq!(string(&json!({"a": 1})), "[object Object]");
    }

    #[test]
    fn strings_convert_to_numbers_as_in_javascript() {
        let cases = [
            ("7", 7.0),
            (" 7\n", 7.0),
            ("", 0.0),
            ("  ", 0.0),
            ("0x10", 16.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("-Infinity", f64::NEG_INFINITY),
        ];
        for (s, want) in cases {
            assert_eq!(string_to_number(s), want, "{s:?}");
        }
        for s in [
            "abc", "inf", "NaN", "1_000", "-0x10", "1e", "e5", ".", "x\u{85}y", "é",
        ] {
            assert!(string_to_number(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn whitespace_truthiness_and_equality() {
        assert_eq!(trim("\u{feff}\u{a0} x \u{2028}"), "x");
        assert_eq!(trim("\u{85}x"), "\u{85}x");
        assert!(!truthy(&json!("")) && !truthy(&json!(0)) && !truthy(&json!(false)));
        assert!(truthy(&json!("0")) && truthy(&json!([])) && truthy(&json!({})));
        assert!(deep_equal(
            &json!({"a": 1, "b": [1.0]}),
            &json!({"b": [1], "a": 1.0})
        ));
        assert!(!deep_equal(&json!({"a": 1}), &json!({"a": "1"})));
        assert!(!deep_equal(&json!(0.0), &json!(-0.0)));
    }

    #[test]
    fn distances_count_utf16_units() {
        assert_eq!(utf16_distance("kitten", "sitting"), 3);
        assert_eq!(utf16_distance("a😀", "a"), 2);
        assert_eq!(utf16_distance("é", "e"), 1);
        assert_eq!(utf16_distance("", "abc"), 3);
    }
}
