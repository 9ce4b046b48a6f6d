//! Reference-overlap metrics: `rouge-n` and `bleu`.
//!
//! Both compare the output with reference text by shared n-grams, with promptfoo's exact
//! formulas so that a threshold carried over from a `promptfooconfig.yaml` means the same here:
//!
//! - **ROUGE-N** (promptfoo delegates to the `js-rouge` package, unigrams): the output and the
//!   reference are split into Penn Treebank tokens (case kept, punctuation split off);
//!   the score is the number of *distinct* output unigrams that also occur in the reference,
//!   divided by the number of reference unigrams (duplicates counted). Default threshold 0.75.
//! - **BLEU** (Papineni et al. 2002, as promptfoo computes it): lower-cased, whitespace
//!   tokens; modified precision for 1- to 4-grams with equal weights 0.25, each clipped against
//!   every reference separately and the best reference kept; a zero precision is smoothed to
//!   1e-7; brevity penalty `exp(1 - c/r)` when the output is not longer than the reference
//!   closest in length (ties: the first). Default threshold 0.5.
//!
//! One difference from `js-rouge`: line breaks and tabs separate tokens here (js-rouge splits
//! on spaces only, so it glues the words on either side of a line break into one token).

use super::text::as_text;
use super::Grade;
use regex::Regex;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// `rouge-n`: unigram ROUGE-N recall of the output against the reference, pass at
/// `score >= threshold` (default 0.75).
pub fn rouge_n(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
) -> Result<Grade, String> {
    let reference = match value {
        Some(Value::String(s)) => s.as_str(),
        other => {
            return Err(format!(
                "`rouge-n` needs a reference text as its value, got {}",
                as_text(other)
            ))
        }
    };
    let score = rouge_n_score(output, reference, 1)?;
    Ok(at_least("ROUGE-N", score, threshold.unwrap_or(0.75)))
}

/// A score that passes at >= `threshold`.
fn at_least(what: &str, score: f64, threshold: f64) -> Grade {
    let pass = score >= threshold;
    let cmp = if pass { ">=" } else { "<" };
    Grade::scored(
        pass,
        score,
        format!("{what} {score:.4} {cmp} threshold {threshold}"),
    )
}

/// ROUGE-N as js-rouge computes it: distinct candidate n-grams found in the reference over
/// the reference's n-gram count.
pub fn rouge_n_score(candidate: &str, reference: &str, n: usize) -> Result<f64, String> {
    let cand = ngrams(&treebank_tokenize(candidate), n);
    let refs = ngrams(&treebank_tokenize(reference), n);
    if cand.is_empty() {
        return Err(format!("`rouge-n`: the output has fewer than {n} tokens"));
    }
    if refs.is_empty() {
        return Err(format!(
            "`rouge-n`: the reference has fewer than {n} tokens"
        ));
    }
    let in_ref: HashSet<&String> = refs.iter().collect();
    let matched = cand
        .iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .filter(|g| in_ref.contains(g))
        .count();
    Ok(matched as f64 / refs.len() as f64)
}

/// `bleu`: BLEU-4 of the output against one reference or a list of them, pass at
/// `score >= threshold` (default 0.5).
pub fn bleu(output: &str, value: Option<&Value>, threshold: Option<f64>) -> Result<Grade, String> {
    let references: Vec<String> = match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
            a.iter().map(|v| as_text(Some(v))).collect()
        }
        other => {
            return Err(format!(
                "`bleu` needs a reference text or a list of them as its value, got {}",
                as_text(other)
            ))
        }
    };
    let refs: Vec<&str> = references.iter().map(String::as_str).collect();
    let score = bleu_score(output, &refs)?;
    Ok(at_least("BLEU", score, threshold.unwrap_or(0.5)))
}

/// Lower-cased whitespace tokens; an all-blank text is one empty token, as JavaScript's
/// `trim().split(/\s+/)` gives.
fn bleu_tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<String> = lower.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        vec![String::new()]
    } else {
        words
    }
}

/// BLEU-4 with uniform weights, promptfoo's clipping, smoothing and brevity penalty.
pub fn bleu_score(candidate: &str, references: &[&str]) -> Result<f64, String> {
    if candidate.trim().is_empty() {
        return Err("`bleu`: the output is empty".into());
    }
    if references.is_empty() {
        return Err("`bleu`: no reference text".into());
    }
    let cand = bleu_tokens(candidate);
    let refs: Vec<Vec<String>> = references.iter().map(|r| bleu_tokens(r)).collect();
    let c = cand.len();
    let closest = refs
        .iter()
        .map(Vec::len)
        .reduce(|best, len| {
            if len.abs_diff(c) < best.abs_diff(c) {
                len
            } else {
                best
            }
        })
        .unwrap_or(0);
    let mut log_sum = 0.0;
    for n in 1..=4 {
        let cand_grams = ngrams(&cand, n);
        let cand_counts = counts(&cand_grams);
        let total: usize = cand_counts.values().sum();
        let best = refs
            .iter()
            .map(|r| {
                let ref_grams = ngrams(r, n);
                let ref_counts = counts(&ref_grams);
                cand_counts
                    .iter()
                    .map(|(g, k)| (*k).min(ref_counts.get(g).copied().unwrap_or(0)))
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0);
        let precision = if total > 0 {
            best as f64 / total as f64
        } else {
            0.0
        };
        let smoothed = if precision == 0.0 { 1e-7 } else { precision };
        log_sum += 0.25 * smoothed.ln();
    }
    let bp = if c > closest {
        1.0
    } else {
        (1.0 - c as f64 / closest as f64).exp()
    };
    Ok(bp * log_sum.exp())
}

/// Contiguous n-grams, each joined with a space; none when there are fewer than `n` tokens.
pub fn ngrams(tokens: &[String], n: usize) -> Vec<String> {
    if n == 0 || tokens.len() < n {
        return Vec::new();
    }
    tokens.windows(n).map(|w| w.join(" ")).collect()
}

fn counts(grams: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for g in grams {
        *m.entry(g.as_str()).or_insert(0) += 1;
    }
    m
}

/// One compiled rewrite rule of the tokenizer: every match of the pattern (or only the
/// first, for the contraction rules) is replaced.
struct Rule {
    re: Regex,
    with: &'static str,
    all: bool,
}

fn rules() -> &'static [Vec<Rule>; 2] {
    static RULES: OnceLock<[Vec<Rule>; 2]> = OnceLock::new();
    RULES.get_or_init(|| {
        let rule = |p: &str, with: &'static str, all: bool| Rule {
            re: Regex::new(p).expect("tokenizer rule"),
            with,
            all,
        };
        // Before padding: quotes that open, ellipses, symbols, a sentence-final period,
        // commas and sentence marks, brackets, dashes.
        let first = vec![
            rule(r#"^""#, " `` ", true),
            rule(r#"([ (\[{<])""#, "$1 `` ", true),
            rule(r"\.\.\.*", " ... ", true),
            rule(r"[;@#$%&]", " $0 ", true),
            rule(r#"([^.])(\.)([\])}>"']*)\s*$"#, "$1 $2$3 ", true),
            rule(r"[,?!]", " $0 ", true),
            rule(r"[\]\[(){}<>]", " $0 ", true),
            rule(r"---*", " -- ", true),
        ];
        // After padding with spaces: closing quotes, clitics, then split contractions
        // (first occurrence each, case-insensitive).
        let mut second = vec![
            rule(r#"""#, " '' ", true),
            rule(r"([^'])' ", "$1 ' ", true),
            rule(r"'([sSmMdD]) ", " '$1 ", true),
            rule(r"('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", " $1 ", true),
        ];
        for p in [
            r"(?i)\b(can)(not)\b",
            r"(?i)\b(d)('ye)\b",
            r"(?i)\b(gim)(me)\b",
            r"(?i)\b(gon)(na)\b",
            r"(?i)\b(got)(ta)\b",
            r"(?i)\b(lem)(me)\b",
            r"(?i)\b(more)('n)\b",
            r"(?i)\b(wan)(na) ",
            r"(?i) ('t)(is)\b",
            r"(?i) ('t)(was)\b",
        ] {
            second.push(rule(p, " $1 $2 ", false));
        }
        [first, second]
    })
}

fn apply(text: String, rules: &[Rule]) -> String {
    rules.iter().fold(text, |t, r| {
        if r.all {
            r.re.replace_all(&t, r.with).into_owned()
        } else {
            r.re.replace(&t, r.with).into_owned()
        }
    })
}

/// Penn Treebank word tokens, the tokenization ROUGE uses: punctuation and clitics
/// (`'s`, `n't`) become tokens of their own, case is kept.
pub fn treebank_tokenize(text: &str) -> Vec<String> {
    let [first, second] = rules();
    let text = apply(text.to_string(), first);
    let text = apply(format!(" {text} "), second);
    text.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toks(s: &str) -> Vec<String> {
        treebank_tokenize(s)
    }

    #[test]
    fn treebank_splits_punctuation_and_clitics() {
        assert_eq!(toks("The cat sat."), ["The", "cat", "sat", "."]);
        assert_eq!(
            toks("I can't go, can you?"),
            ["I", "ca", "n't", "go", ",", "can", "you", "?"]
        );
        assert_eq!(
            toks("She's (not) here"),
            ["She", "'s", "(", "not", ")", "here"]
        );
        assert_eq!(toks("\"Hi\" cannot"), ["``", "Hi", "''", "can", "not"]);
        assert_eq!(toks("e.g. this"), ["e.g.", "this"]);
        assert_eq!(toks("a\nb"), ["a", "b"]);
        assert!(toks("").is_empty());
    }

    #[test]
    fn rouge_n_is_distinct_matches_over_reference_unigrams() {
        // Distinct output unigrams {the, cat, sat, on, mat}; in the reference: the, cat,
        // on, mat = 4; the reference has 6 unigrams.
        let s = rouge_n_score("the cat sat on the mat", "the cat was on the mat", 1).unwrap();
        assert!((s - 4.0 / 6.0).abs() < 1e-12, "{s}");
        // Case is kept: "The" does not match "the"; the period is a token of its own.
        let s = rouge_n_score("The cat.", "the cat.", 1).unwrap();
        assert!((s - 2.0 / 3.0).abs() < 1e-12, "{s}");
        assert_eq!(rouge_n_score("x y", "x y", 1).unwrap(), 1.0);
        assert!(rouge_n_score("", "x", 1).is_err());
    }

    #[test]
    fn rouge_n_grades_against_the_threshold() {
        let v = json!("the cat was on the mat");
        let g = rouge_n("the cat sat on the mat", Some(&v), None).unwrap();
        assert!(!g.pass && (g.score - 4.0 / 6.0).abs() < 1e-12);
        assert!(g.reason.contains("0.6667 < threshold 0.75"), "{}", g.reason);
        assert!(
            rouge_n("the cat sat on the mat", Some(&v), Some(0.6))
                .unwrap()
                .pass
        );
        assert!(rouge_n("x", Some(&json!(["a"])), None).is_err());
    }

    #[test]
    fn bleu_identical_text_scores_one() {
        let s = bleu_score("The cat sat on the mat", &["the cat sat on the mat"]).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn bleu_matches_a_hand_computation() {
        // Output "the cat the cat" (4 words) against "the cat sat" (3 words):
        // p1 = min(2,1)+min(2,1) / 4 = 0.5; p2 = "the cat" clipped to 1 of 3 bigrams = 1/3;
        // p3 = p4 = 0 -> smoothed to 1e-7; c = 4 > r = 3 so no brevity penalty.
        let s = bleu_score("the cat the cat", &["the cat sat"]).unwrap();
        let want = (0.5f64 * (1.0 / 3.0) * 1e-7 * 1e-7).powf(0.25);
        assert!((s - want).abs() < 1e-15, "{s} vs {want}");
        // A short output pays the brevity penalty exp(1 - c/r) against the closest reference:
        // "a b" vs "a b c" -> p1 = 1, p2 = 1, p3 = p4 = 1e-7, bp = exp(1 - 2/3).
        let s = bleu_score("a b", &["a b c d e f g", "a b c"]).unwrap();
        let want = (1e-14f64).powf(0.25) * (1.0f64 - 2.0 / 3.0).exp();
        assert!((s - want).abs() < 1e-15, "{s} vs {want}");
    }

    #[test]
    fn bleu_takes_the_best_reference_per_order() {
        let refs = ["the dog ran home", "a cat sat on a mat"];
        let s = bleu_score("a cat sat on a mat", &refs).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        let g = bleu("a cat sat on a mat", Some(&json!(refs)), None).unwrap();
        assert!(g.pass);
        let g = bleu("completely different words here", Some(&json!(refs)), None).unwrap();
        assert!(!g.pass && g.score < 0.01, "{g:?}");
        assert!(bleu("", Some(&json!("x")), None).is_err());
        assert!(bleu("x", Some(&json!({"a": 1})), None).is_err());
    }
}
