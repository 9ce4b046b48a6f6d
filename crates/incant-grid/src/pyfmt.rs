//! Python's number conversions, as A1111's axis code relies on them.
//!
//! A1111 turns axis values into numbers with Python's `int()` and `float()` and labels them
//! with `f"{label}: {round(x, 8)}"`, i.e. Python's `repr` of a float. The exact text a user
//! sees in a grid label and which inputs are accepted follow these rules, so they are
//! reproduced here instead of using Rust's parsers and `Display`, which differ (underscores
//! between digits, surrounding whitespace, `7.0` printed as `7`, exponent thresholds).

/// `str.strip()`: Python's whitespace also covers the ASCII separators 0x1C..0x1F.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Removes underscores that Python accepts in numeric literals (only between two digits);
/// `None` when an underscore is misplaced.
fn strip_digit_underscores(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            let before = i > 0 && chars[i - 1].is_ascii_digit();
            let after = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if !(before && after) {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Python's `int(text)` for base 10, limited to `i64`.
pub(crate) fn py_int(text: &str) -> Option<i64> {
    let s = py_strip(text);
    let cleaned = strip_digit_underscores(s)?;
    let digits = cleaned.strip_prefix(['+', '-']).unwrap_or(&cleaned);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    cleaned.parse::<i64>().ok()
}

/// Python's `float(text)`: decimal literals with optional exponent and underscores between
/// digits, `inf`, `infinity` and `nan` in any case, surrounding whitespace ignored.
pub(crate) fn py_float(text: &str) -> Option<f64> {
    let s = py_strip(text);
    let cleaned = strip_digit_underscores(s)?;
    let body = cleaned.strip_prefix(['+', '-']).unwrap_or(&cleaned);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return cleaned.parse::<f64>().ok();
    }
    // Rust accepts exactly Python's decimal grammar once underscores are gone, but check the
    // characters so that nothing exotic slips through.
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

/// Python's `round(x, 8)`: the double nearest to `x` rounded to 8 decimal places.
pub(crate) fn py_round8(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 1e15 {
        return x;
    }
    format!("{x:.8}").parse().unwrap_or(x)
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integral values, scientific
/// notation below 1e-4 and from 1e16 on (`1e-05`, `1e+16`).
pub(crate) fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: `d.ddddde±x`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{digits}{}.0", "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let mant = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        for (x, want) in [
            (7.0, "7.0"),
            (7.5, "7.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (-2.0, "-2.0"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(py_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn int_and_float_follow_python() {
        assert_eq!(py_int(" 1_000 "), Some(1000));
        assert_eq!(py_int("+7"), Some(7));
        assert_eq!(py_int("- 5"), None);
        assert_eq!(py_int("1_"), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_float("1_5"), Some(15.0));
        assert_eq!(py_float("1e2"), Some(100.0));
        assert_eq!(py_float("2."), Some(2.0));
        assert_eq!(py_float("1x5"), None);
        assert_eq!(py_float("-5-"), None);
        assert!(py_float("NaN").unwrap().is_nan());
        assert_eq!(py_round8(0.1 + 0.2), 0.3);
    }
}
