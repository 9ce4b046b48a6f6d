//! Composable diffusion: A1111 splits a prompt on the word `AND` into sub-prompts, each with an
//! optional trailing `:weight`, and denoises with their weighted sum.
//!
//! This module reproduces `get_multicond_prompt_list` for one prompt: the split on `\bAND\b`,
//! then A1111's weight pattern, which keeps leading whitespace (a sub-prompt of whitespace
//! only becomes empty), drops trailing whitespace and reads a number such as `1`, `1.`, `.5`
//! or `-2` after the last colon.

use crate::{find_word, py_space};

/// The sub-prompts of `prompt` and their weights, as A1111's `get_multicond_prompt_list`.
pub fn split_and(prompt: &str) -> Vec<(String, f64)> {
    let mut parts = Vec::new();
    let mut last = 0;
    for (start, end) in find_word(prompt, "AND") {
        parts.push(&prompt[last..start]);
        last = end;
    }
    parts.push(&prompt[last..]);
    parts.into_iter().map(weighted).collect()
}

/// A1111's `^((?:\s|.)*?)(?:\s*:\s*(NUMBER))?\s*$` on one sub-prompt: the shortest text
/// after which the rest is an optional weight and whitespace.
fn weighted(part: &str) -> (String, f64) {
    part.char_indices()
        .map(|(i, _)| i)
        .chain([part.len()])
        .find_map(|end| tail(&part[end..]).map(|weight| (part[..end].to_string(), weight)))
        .expect("the empty rest always matches")
}

/// `(?:\s*:\s*NUMBER)?\s*$`: the weight (1.0 when absent), or `None` when `rest` is not that.
fn tail(rest: &str) -> Option<f64> {
    let trimmed = rest.trim_start_matches(py_space);
    if trimmed.is_empty() {
        return Some(1.0);
    }
    let after_colon = trimmed.strip_prefix(':')?.trim_start_matches(py_space);
    let number_len = after_colon.find(py_space).unwrap_or(after_colon.len());
    let (number, trailing) = after_colon.split_at(number_len);
    if !trailing.chars().all(py_space) || !is_number(number) {
        return None;
    }
    number.parse().ok()
}

/// `[-+]?(?:\d+\.?|\d*\.\d+)`, matched in full.
fn is_number(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_whitespace() {
        assert_eq!(
            split_and("a cat AND a dog:1.5 AND  sky : .5 "),
            vec![
                ("a cat".to_string(), 1.0),
                (" a dog".to_string(), 1.5),
                ("  sky".to_string(), 0.5)
            ]
        );
        assert_eq!(split_and("ANDROID"), vec![("ANDROID".to_string(), 1.0)]);
        assert_eq!(split_and("a\nb"), vec![("a\nb".to_string(), 1.0)]);
        assert_eq!(split_and(" "), vec![(String::new(), 1.0)]);
        assert_eq!(split_and("a\nb :2"), vec![("a\nb".to_string(), 2.0)]);
    }
}
