//! A1111's `parse_prompt_attention`: prompt text to (text, weight) pairs.
//!
//! This is what A1111 feeds its CLIP encoder: every run of text with the product of the
//! emphasis multipliers around it. The rules, all A1111's: `(x)` multiplies by 1.1, `[x]`
//! divides by 1.1, `(x:w)` (whitespace allowed around `w`) multiplies by `w`, nesting multiplies, `\(` `\)` `\[` `\]` `\\` are
//! literal characters (any other backslash is dropped), a bracket left open applies to the
//! rest of the prompt, a close without an open is literal text, `BREAK` (a whole word, with the
//! whitespace around it) becomes its own `("BREAK", -1)` pair that enclosing brackets still
//! multiply, adjacent pairs with exactly equal weights merge, and an empty result is
//! `[("", 1.0)]`. Weights are multiplied in A1111's order so the `f64` values are identical.

use crate::{find_word, py_space};

/// The weight A1111 gives the `BREAK` marker before any bracket multiplies it.
pub const BREAK_WEIGHT: f64 = -1.0;

const ROUND: f64 = 1.1;

/// One lexical token of A1111's attention regular expression.
enum Token<'a> {
    /// A backslash escape; the text after the backslash (empty for a lone backslash).
    Escape(&'a str),
    OpenRound,
    OpenSquare,
    /// `:weight)`: the raw weight text and the whole token.
    Weight(&'a str, &'a str),
    CloseRound,
    CloseSquare,
    /// Plain text, or a `:` that is not a weight.
    Text(&'a str),
}

fn is_special(c: char) -> bool {
    matches!(c, '\\' | '(' | ')' | '[' | ']' | ':')
}

/// The token at the start of `rest` and its byte length.
fn next_token(rest: &str) -> (Token<'_>, usize) {
    let mut chars = rest.chars();
    let c = chars.next().expect("next_token on empty text");
    match c {
        '\\' => match chars.next() {
            Some(e @ ('(' | ')' | '[' | ']' | '\\')) => {
                (Token::Escape(&rest[1..2]), 1 + e.len_utf8())
            }
            _ => (Token::Escape(""), 1),
        },
        '(' => (Token::OpenRound, 1),
        '[' => (Token::OpenSquare, 1),
        ')' => (Token::CloseRound, 1),
        ']' => (Token::CloseSquare, 1),
        ':' => {
            // `:\s*([+-]?[.\d]+)\s*\)`
            let body = rest[1..].trim_start_matches(py_space);
            let number_at = rest.len() - body.len();
            let sign = usize::from(body.starts_with(['+', '-']));
            let run = body[sign..]
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count();
            let after = body[sign + run..].trim_start_matches(py_space);
            if run > 0 && after.starts_with(')') {
                let len = rest.len() - after.len() + 1;
                let number = &rest[number_at..number_at + sign + run];
                (Token::Weight(number, &rest[..len]), len)
            } else {
                (Token::Text(":"), 1)
            }
        }
        _ => {
            let len = rest.find(is_special).unwrap_or(rest.len());
            (Token::Text(&rest[..len]), len)
        }
    }
}

/// Python's `re.split(r"\s*\bBREAK\b\s*", text)`.
fn split_break(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut last = 0;
    for (start, end) in find_word(text, "BREAK") {
        let mut s = start;
        while s > last {
            let c = text[..s].chars().next_back().expect("char before BREAK");
            if !py_space(c) {
                break;
            }
            s -= c.len_utf8();
        }
        let after = text[end..]
            .char_indices()
            .find(|(_, c)| !py_space(*c))
            .map_or(text.len(), |(i, _)| end + i);
        parts.push(&text[last..s]);
        last = after;
    }
    parts.push(&text[last..]);
    parts
}

/// A1111's `parse_prompt_attention`: text and weight pairs in prompt order.
///
/// One deliberate difference: where A1111 raises on a weight Python cannot read as a float
/// (`(x:1.2.3)`, `(x:.)`), the `:weight)` token is kept as plain text.
pub fn parse_prompt_attention(text: &str) -> Vec<(String, f64)> {
    let mut res: Vec<(String, f64)> = Vec::new();
    let mut round: Vec<usize> = Vec::new();
    let mut square: Vec<usize> = Vec::new();
    let multiply = |res: &mut Vec<(String, f64)>, from: usize, by: f64| {
        for pair in &mut res[from..] {
            pair.1 *= by;
        }
    };
    let mut pos = 0;
    while pos < text.len() {
        let (token, len) = next_token(&text[pos..]);
        pos += len;
        let plain = match token {
            Token::Escape(s) => {
                res.push((s.to_string(), 1.0));
                None
            }
            Token::OpenRound => {
                round.push(res.len());
                None
            }
            Token::OpenSquare => {
                square.push(res.len());
                None
            }
            Token::Weight(w, whole) => match (w.parse::<f64>(), round.is_empty()) {
                (Ok(w), false) => {
                    let from = round.pop().expect("checked non-empty");
                    multiply(&mut res, from, w);
                    None
                }
                _ => Some(whole),
            },
            Token::CloseRound => match round.pop() {
                Some(from) => {
                    multiply(&mut res, from, ROUND);
                    None
                }
                None => Some(")"),
            },
            Token::CloseSquare => match square.pop() {
                Some(from) => {
                    multiply(&mut res, from, 1.0 / ROUND);
                    None
                }
                None => Some("]"),
            },
            Token::Text(s) => Some(s),
        };
        if let Some(s) = plain {
            for (i, part) in split_break(s).into_iter().enumerate() {
                if i > 0 {
                    res.push(("BREAK".to_string(), BREAK_WEIGHT));
                }
                res.push((part.to_string(), 1.0));
            }
        }
    }
    for from in round {
        multiply(&mut res, from, ROUND);
    }
    for from in square {
        multiply(&mut res, from, 1.0 / ROUND);
    }
    if res.is_empty() {
        res.push((String::new(), 1.0));
    }
    let mut merged: Vec<(String, f64)> = Vec::with_capacity(res.len());
    for (text, weight) in res {
        match merged.last_mut() {
            #[allow(clippy::float_cmp)]
            Some(last) if last.1 == weight => last.0.push_str(&text),
            _ => merged.push((text, weight)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, f64)> {
        parse_prompt_attention(text)
    }

    fn v(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(t, w)| (t.to_string(), *w)).collect()
    }

    #[test]
    fn a1111_docstring_examples() {
        assert_eq!(p("normal text"), v(&[("normal text", 1.0)]));
        assert_eq!(
            p("an (important) word"),
            v(&[("an ", 1.0), ("important", 1.1), (" word", 1.0)])
        );
        assert_eq!(p("(unbalanced"), v(&[("unbalanced", 1.1)]));
        assert_eq!(p("\\(literal\\]"), v(&[("(literal]", 1.0)]));
        assert_eq!(p("(unnecessary)(parens)"), v(&[("unnecessaryparens", 1.1)]));
        assert_eq!(
            p("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."),
            v(&[
                ("a ", 1.0),
                ("house", 1.5730000000000004),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641000000000006),
                (".", 1.1),
            ])
        );
    }

    #[test]
    fn empty_and_break() {
        assert_eq!(p(""), v(&[("", 1.0)]));
        assert_eq!(
            p("a  BREAK\nb"),
            v(&[("a", 1.0), ("BREAK", -1.0), ("b", 1.0)])
        );
        assert_eq!(p("BREAKFAST"), v(&[("BREAKFAST", 1.0)]));
        assert_eq!(
            p("(a BREAK b)"),
            v(&[("a", 1.1), ("BREAK", -1.1), ("b", 1.1)])
        );
    }

    #[test]
    fn stray_weight_and_unreadable_weight_are_text() {
        assert_eq!(p("a:1.2)"), v(&[("a:1.2)", 1.0)]));
        assert_eq!(p("(a:1.2.3)"), v(&[("a:1.2.3)", 1.1)]));
    }
}
