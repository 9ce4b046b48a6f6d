//! Axis value lists as AUTOMATIC1111's X/Y/Z plot reads them.
//!
//! A1111 splits the text with Python's `csv.reader` (default dialect, so `"1,5"` is one
//! value and a newline starts a new row), strips every value, and expands ranges on int and
//! float axes with four regexes: `1-5`, `1-5 (+2)` and `10-1 (-3)` (inclusive end, Python's
//! `range` for ints, numpy's `arange(start, end + step, step)` for floats) and `1-10 [5]`
//! (numpy's `linspace` with that many values, truncated with `int()` on int axes). Users
//! copy value strings between A1111 and incant, so every quirk is kept -- the regexes are
//! A1111's own text (including the unescaped `.` in the float pattern, so `1e2-3` is a
//! range from 100) and the arithmetic follows numpy's so float steps land on the same
//! doubles. `tests/a1111_reference.rs` checks this against A1111's code on 240 inputs.

use crate::pyfmt::{py_float, py_int, py_strip};
use regex::Regex;
use std::sync::LazyLock;

/// The most values one range may produce; A1111 has no limit and would try to allocate.
pub const MAX_RANGE_VALUES: usize = 100_000;

/// Why one value could not be read (the axis layer adds the axis name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// The offending value as the user wrote it (after CSV splitting and stripping).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
    /// How to write it instead.
    pub hint: String,
}

fn err(value: &str, reason: impl Into<String>, hint: impl Into<String>) -> ValueError {
    ValueError {
        value: value.to_string(),
        reason: reason.into(),
        hint: hint.into(),
    }
}

const INT_HINT: &str = "write integers or ranges: `1-5`, `1-5 (+2)`, `10-1 (-3)`, `1-10 [5]`";
const FLOAT_HINT: &str = "write numbers or ranges: `1.5-3 (+0.5)`, `1-2 [5]`";

// A1111's patterns, verbatim; `fullmatch` becomes an anchored group.
static RE_RANGE: LazyLock<Regex> =
    LazyLock::new(|| full(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*"));
static RE_RANGE_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    full(
        r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*",
    )
});
static RE_RANGE_COUNT: LazyLock<Regex> =
    LazyLock::new(|| full(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*"));
static RE_RANGE_COUNT_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    full(r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*")
});

fn full(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("A1111's range patterns are valid regexes")
}

/// `csv_string_to_list_strip`: Python's `csv.reader` (default dialect, not strict) over the
/// lines of `text`, every field stripped, rows concatenated.
pub fn split_values(text: &str) -> Result<Vec<String>, ValueError> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        StartRecord,
        StartField,
        InField,
        InQuoted,
        QuoteInQuoted,
        EatCrnl,
    }
    let mut out = Vec::new();
    let mut field = String::new();
    let mut st = St::StartRecord;
    // Python iterates the StringIO by lines ending in '\n' and feeds an end-of-line marker
    // after each; `None` stands for that marker.
    let lines = text.split_inclusive('\n');
    for line in lines {
        for c in line.chars().map(Some).chain(std::iter::once(None)) {
            if st == St::StartRecord {
                match c {
                    None => continue,
                    Some('\n' | '\r') => {
                        st = St::EatCrnl;
                        continue;
                    }
                    _ => st = St::StartField,
                }
            }
            match st {
                St::StartRecord => unreachable!("handled above"),
                St::StartField | St::InField => match c {
                    None | Some('\n' | '\r') => {
                        out.push(std::mem::take(&mut field));
                        st = if c.is_none() {
                            St::StartRecord
                        } else {
                            St::EatCrnl
                        };
                    }
                    Some('"') if st == St::StartField => st = St::InQuoted,
                    Some(',') => {
                        out.push(std::mem::take(&mut field));
                        st = St::StartField;
                    }
                    Some(ch) => {
                        field.push(ch);
                        st = St::InField;
                    }
                },
                St::InQuoted => match c {
                    None => {}
                    Some('"') => st = St::QuoteInQuoted,
                    Some(ch) => field.push(ch),
                },
                St::QuoteInQuoted => match c {
                    Some('"') => {
                        field.push('"');
                        st = St::InQuoted;
                    }
                    Some(',') => {
                        out.push(std::mem::take(&mut field));
                        st = St::StartField;
                    }
                    None | Some('\n' | '\r') => {
                        out.push(std::mem::take(&mut field));
                        st = if c.is_none() {
                            St::StartRecord
                        } else {
                            St::EatCrnl
                        };
                    }
                    Some(ch) => {
                        field.push(ch);
                        st = St::InField;
                    }
                },
                St::EatCrnl => {
                    match c {
                        Some('\n' | '\r') => {}
                        None => st = St::StartRecord,
                        Some(_) => return Err(err(
                            text,
                            "a carriage return inside an unquoted value",
                            "put values with line breaks in double quotes, or use plain newlines",
                        )),
                    }
                }
            }
        }
    }
    // End of data inside a quoted field: the non-strict reader keeps what it has.
    if !field.is_empty() || st == St::InQuoted {
        out.push(field);
    }
    Ok(out.into_iter().map(|v| py_strip(&v).to_string()).collect())
}

/// Python's `range(start, end, step)` as a list.
/// Computed in i128 so that no input can overflow; every value produced lies between
/// `start` and `end`, so it fits back in i64.
fn int_range(value: &str, start: i64, end: i128, step: i64) -> Result<Vec<i64>, ValueError> {
    if step == 0 {
        return Err(err(value, "the step is 0", "use a step like (+1) or (-2)"));
    }
    let (start, step) = (i128::from(start), i128::from(step));
    let span = if step > 0 { end - start } else { start - end };
    let count = if span <= 0 {
        0
    } else {
        (span - 1) / step.abs() + 1
    };
    if count > MAX_RANGE_VALUES as i128 {
        return Err(err(
            value,
            format!("the range has {count} values"),
            format!("keep ranges under {MAX_RANGE_VALUES} values"),
        ));
    }
    Ok((0..count).map(|i| (start + i * step) as i64).collect())
}

/// numpy's `linspace(start, stop, num)` for float64, endpoint included.
pub(crate) fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = num.saturating_sub(1) as f64;
    let delta = stop - start;
    let mut y: Vec<f64> = (0..num).map(|i| i as f64).collect();
    if num > 1 {
        let step = delta / div;
        if step == 0.0 {
            for v in &mut y {
                *v = *v / div * delta;
            }
        } else {
            for v in &mut y {
                *v *= step;
            }
        }
    } else {
        for v in &mut y {
            *v *= delta;
        }
    }
    for v in &mut y {
        *v += start;
    }
    if num > 1 {
        y[num - 1] = stop;
    }
    y
}

/// numpy's `arange(start, stop, step)` for float64: `ceil((stop - start) / step)` values,
/// the second one `start + step`, the rest `start + i * (second - start)`.
fn arange(value: &str, start: f64, stop: f64, step: f64) -> Result<Vec<f64>, ValueError> {
    if step == 0.0 {
        return Err(err(
            value,
            "the step is 0",
            "use a step like (+0.5) or (-1)",
        ));
    }
    let len = ((stop - start) / step).ceil();
    if len.is_nan() {
        return Err(err(value, "the range has no length", FLOAT_HINT));
    }
    if len > MAX_RANGE_VALUES as f64 {
        return Err(err(
            value,
            format!("the range has {len} values"),
            format!("keep ranges under {MAX_RANGE_VALUES} values"),
        ));
    }
    let len = if len <= 0.0 { 0 } else { len as usize };
    let mut out = Vec::with_capacity(len);
    if len >= 1 {
        out.push(start);
    }
    if len >= 2 {
        out.push(start + step);
    }
    if len > 2 {
        let delta = out[1] - start;
        out.extend((2..len).map(|i| start + i as f64 * delta));
    }
    Ok(out)
}

fn count_of(value: &str, group: Option<regex::Match<'_>>) -> Result<usize, ValueError> {
    let Some(g) = group else { return Ok(1) };
    let n = py_int(g.as_str()).ok_or_else(|| {
        err(
            value,
            format!("the count `{}` is not an integer", g.as_str()),
            "write the count as `[5]`",
        )
    })?;
    let n = n as usize;
    if n > MAX_RANGE_VALUES {
        return Err(err(
            value,
            format!("the count {n} is too large"),
            format!("keep ranges under {MAX_RANGE_VALUES} values"),
        ));
    }
    Ok(n)
}

/// Reads an int axis: values and ranges, as A1111's `process_axis` does for `int` options.
pub fn parse_int_values(text: &str) -> Result<Vec<i64>, ValueError> {
    let mut out = Vec::new();
    for val in split_values(text)? {
        let num = |s: &str| {
            py_int(s)
                .ok_or_else(|| err(&val, format!("`{}` is not an integer", s.trim()), INT_HINT))
        };
        if let Some(m) = RE_RANGE.captures(&val) {
            let start = num(&m[1])?;
            let end = i128::from(num(&m[2])?) + 1;
            let step = m.get(3).map(|g| num(g.as_str())).transpose()?.unwrap_or(1);
            out.extend(int_range(&val, start, end, step)?);
        } else if let Some(m) = RE_RANGE_COUNT.captures(&val) {
            let start = num(&m[1])?;
            let end = num(&m[2])?;
            let n = count_of(&val, m.get(3))?;
            // Python's int() on a float truncates toward zero.
            out.extend(
                linspace(start as f64, end as f64, n)
                    .into_iter()
                    .map(|x| x.trunc() as i64),
            );
        } else {
            out.push(num(&val)?);
        }
    }
    Ok(out)
}

/// Reads a float axis: values and ranges, as A1111's `process_axis` does for `float` options.
pub fn parse_float_values(text: &str) -> Result<Vec<f64>, ValueError> {
    let mut out = Vec::new();
    for val in split_values(text)? {
        let num = |s: &str| {
            py_float(s)
                .ok_or_else(|| err(&val, format!("`{}` is not a number", s.trim()), FLOAT_HINT))
        };
        if let Some(m) = RE_RANGE_FLOAT.captures(&val) {
            let start = num(&m[1])?;
            let end = num(&m[2])?;
            let step = m
                .get(3)
                .map(|g| num(g.as_str()))
                .transpose()?
                .unwrap_or(1.0);
            out.extend(arange(&val, start, end + step, step)?);
        } else if let Some(m) = RE_RANGE_COUNT_FLOAT.captures(&val) {
            let start = num(&m[1])?;
            let end = num(&m[2])?;
            let n = count_of(&val, m.get(3))?;
            out.extend(linspace(start, end, n));
        } else {
            out.push(num(&val)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_as_python() {
        assert_eq!(split_values(r#""1,5", 2"#).unwrap(), ["1,5", "2"]);
        assert_eq!(split_values(r#""a"b"#).unwrap(), ["ab"]);
        assert_eq!(split_values(r#"a"b"#).unwrap(), [r#"a"b"#]);
        assert_eq!(split_values("1\n\n2").unwrap(), ["1", "2"]);
        assert_eq!(split_values("").unwrap(), Vec::<String>::new());
        assert_eq!(split_values("7,").unwrap(), ["7", ""]);
        assert!(split_values("1\r2").is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_int_values("10-1 (-3)").unwrap(), [10, 7, 4]);
        assert_eq!(parse_int_values("1-10 [5]").unwrap(), [1, 3, 5, 7, 10]);
        assert_eq!(
            parse_float_values("1.5-3 (+0.5)").unwrap(),
            [1.5, 2.0, 2.5, 3.0]
        );
        let e = parse_int_values("1-5 (+0)").unwrap_err();
        assert!(e.reason.contains("step is 0"), "{e:?}");
        // Extreme ends neither overflow nor allocate without bound.
        assert_eq!(
            parse_int_values("9223372036854775807-9223372036854775807").unwrap(),
            [i64::MAX]
        );
        assert!(parse_int_values("-9223372036854775808-9223372036854775807").is_err());
        assert!(parse_float_values("0-1e300").is_err());
    }
}
