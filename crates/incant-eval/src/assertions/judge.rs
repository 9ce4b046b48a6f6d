//! Model-graded assertions: `llm-rubric` and `factuality`, decided by a judge model.
//!
//! The judge is the assertion's `provider`, else the suite's default (the local chat model).
//! incant writes its own judge prompts with promptfoo's contracts:
//!
//! - **llm-rubric**: the judge sees the rubric and the output and answers with a JSON object
//!   `{"reason": ..., "pass": bool, "score": number}`. With a `threshold` the grade passes
//!   only if the judge said pass *and* score >= threshold.
//! - **factuality**: the judge sees the question (the rendered prompt), the expert answer (the
//!   `value`) and the output, and picks one of OpenAI's fact-eval categories: (A) subset,
//!   (B) superset, (C) same details, (D) disagreement, (E) differences that do not matter.
//!   It answers `{"category": "A".."E", "reason": ...}`; a bare `(A)` answer is accepted too.
//!   A, B, C and E pass, D fails. The assertion's `config` can rescore categories as
//!   promptfoo's `factuality` options do (`subset`, `superset`, `agree`, `disagree`,
//!   `differButFactual`; a category scored 0 fails).
//!
//! Judges' answers are parsed leniently: the JSON may sit inside prose or a code fence, and
//! when no JSON object parses, `"pass": ...`, `"score": ...`, `"reason": "..."` pairs are
//! read one by one. An answer that still cannot be read is a failing grade that quotes it;
//! nothing here panics.
//!
//! Where incant differs from promptfoo: when the judge's JSON has no `pass`, promptfoo passes;
//! incant derives it from `score` (>= threshold, or >= 0.5 without one). Scores are clamped
//! to [0, 1].

use super::text::as_text;
use super::{Context, Grade, Grader};
use incant_prompt::file::Message;
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const RUBRIC_SYSTEM: &str = "You are a strict grader. You are given a rubric and an \
output. Decide whether the output satisfies the rubric. Answer with a single JSON object \
and nothing else, in this form:\n\
{\"reason\": \"<one or two sentences explaining the verdict>\", \"pass\": <true or false>, \
\"score\": <a number from 0.0 (fails completely) to 1.0 (satisfies fully)>}";

const FACTUALITY_SYSTEM: &str = "You compare a submitted answer with an expert answer to \
the same question. Judge only the facts; ignore style, grammar and punctuation. Pick the \
one category that fits:\n\
(A) The submitted answer is a subset of the expert answer and fully consistent with it.\n\
(B) The submitted answer is a superset of the expert answer and fully consistent with it.\n\
(C) The submitted answer contains all the same details as the expert answer.\n\
(D) The submitted answer and the expert answer disagree.\n\
(E) The answers differ, but the differences do not matter for factuality.\n\
Answer with a single JSON object and nothing else, in this form:\n\
{\"category\": \"<A, B, C, D or E>\", \"reason\": \"<one sentence>\"}";

const CATEGORIES: [(char, &str, &str); 5] = [
    (
        'A',
        "subset",
        "the output is a subset of the reference and consistent with it",
    ),
    (
        'B',
        "superset",
        "the output is a superset of the reference and consistent with it",
    ),
    (
        'C',
        "agree",
        "the output contains the same details as the reference",
    ),
    ('D', "disagree", "the output disagrees with the reference"),
    (
        'E',
        "differButFactual",
        "the answers differ, but not in ways that matter for factuality",
    ),
];

/// The chat sent to the `llm-rubric` judge.
pub fn rubric_messages(rubric: &str, output: &str) -> Vec<Message> {
    vec![
        message("system", RUBRIC_SYSTEM),
        message(
            "user",
            &format!("<rubric>\n{rubric}\n</rubric>\n\n<output>\n{output}\n</output>"),
        ),
    ]
}

/// The chat sent to the `factuality` judge.
pub fn factuality_messages(question: &str, reference: &str, output: &str) -> Vec<Message> {
    vec![
        message("system", FACTUALITY_SYSTEM),
        message(
            "user",
            &format!(
                "<question>\n{question}\n</question>\n\n<expert_answer>\n{reference}\n\
                 </expert_answer>\n\n<submitted_answer>\n{output}\n</submitted_answer>"
            ),
        ),
    ]
}

fn message(role: &str, content: &str) -> Message {
    Message {
        role: role.into(),
        content: content.into(),
    }
}

/// The run's grader, or why a judge cannot be asked.
fn grader<'a>(what: &str, ctx: &Context<'a>) -> Result<&'a dyn Grader, String> {
    ctx.grader.ok_or_else(|| {
        format!("`{what}` needs a judge model, and no grader was set up for this run")
    })
}

fn ask(
    what: &str,
    provider: Option<&str>,
    messages: &[Message],
    ctx: &Context<'_>,
) -> Result<String, String> {
    grader(what, ctx)?
        .complete(provider, messages)
        .map_err(|e| format!("`{what}`: the judge call failed: {e}"))
}

/// `llm-rubric`: the judge grades the output against the rubric (`value`).
pub fn llm_rubric(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
    provider: Option<&str>,
    ctx: &Context<'_>,
) -> Result<Grade, String> {
    let rubric = match value {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
        other => {
            return Err(format!(
                "`llm-rubric` needs a rubric as its value, got {}",
                as_text(other)
            ))
        }
    };
    let answer = ask(
        "llm-rubric",
        provider,
        &rubric_messages(&rubric, output),
        ctx,
    )?;
    parse_rubric_answer(&answer, threshold)
}

/// Reads a rubric judge's answer into a grade.
pub fn parse_rubric_answer(answer: &str, threshold: Option<f64>) -> Result<Grade, String> {
    let fields = json_object(answer)
        .or_else(|| loose_fields(answer))
        .ok_or_else(|| {
            unreadable(
                "llm-rubric",
                answer,
                "a JSON object with `pass` and `score`",
            )
        })?;
    let said_pass = fields.get("pass").and_then(truthy);
    let score = fields.get("score").and_then(number);
    if said_pass.is_none() && score.is_none() {
        return Err(unreadable(
            "llm-rubric",
            answer,
            "`pass` or `score` in the judge's JSON",
        ));
    }
    let score = score.unwrap_or(if said_pass == Some(true) { 1.0 } else { 0.0 });
    let mut pass = said_pass.unwrap_or_else(|| score >= threshold.unwrap_or(0.5));
    let mut why = fields
        .get("reason")
        .map(|r| as_text(Some(r)).trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "the judge gave no reason".into());
    if let Some(t) = threshold {
        if pass && score < t {
            pass = false;
            why = format!("score {score} below threshold {t}: {why}");
        }
    }
    Ok(Grade::scored(pass, score, why))
}

/// `factuality`: the judge compares the output with the reference answer (`value`) for the
/// question the prompt asked.
pub fn factuality(
    output: &str,
    value: Option<&Value>,
    config: &Map<String, Value>,
    provider: Option<&str>,
    ctx: &Context<'_>,
) -> Result<Grade, String> {
    let reference = match value {
        Some(Value::String(s)) => s.clone(),
        other => {
            return Err(format!(
                "`factuality` needs the reference answer as its value, got {}",
                as_text(other)
            ))
        }
    };
    grader("factuality", ctx)?;
    let question = ctx
        .prompt
        .ok_or("`factuality` needs the prompt that was asked, and this case has none")?;
    let messages = factuality_messages(question, &reference, output);
    let answer = ask("factuality", provider, &messages, ctx)?;
    parse_factuality_answer(&answer, config)
}

/// Reads a factuality judge's answer into a grade; `config` may rescore categories.
pub fn parse_factuality_answer(answer: &str, config: &Map<String, Value>) -> Result<Grade, String> {
    let json = json_object(answer);
    let from_json = json
        .as_ref()
        .and_then(|m| m.get("category"))
        .and_then(Value::as_str)
        .map(|c| {
            c.trim()
                .trim_matches(|c| c == '(' || c == ')')
                .to_ascii_uppercase()
        });
    let (letter, reason) = match from_json {
        Some(c) => {
            let letter = match c.as_bytes() {
                [l @ b'A'..=b'E'] => char::from(*l),
                _ => {
                    return Err(format!(
                        "`factuality`: the judge answered an invalid category {c:?}"
                    ))
                }
            };
            let reason = json
                .as_ref()
                .and_then(|m| m.get("reason"))
                .map(|r| as_text(Some(r)).trim().to_string());
            (letter, reason)
        }
        None => {
            // `(A) ...`, `A) ...`, `A. ...` or a bare `A` at the start; else `(A)` anywhere.
            static LEGACY: OnceLock<[Regex; 2]> = OnceLock::new();
            let [start, anywhere] = LEGACY.get_or_init(|| {
                [
                    Regex::new(r"(?s)^\s*\(?([A-Ea-e])(?:\)|\s*$|[.:]\s)(.*)")
                        .expect("static regex"),
                    Regex::new(r"(?s)\(([A-Ea-e])\)(.*)").expect("static regex"),
                ]
            });
            let caps = start
                .captures(answer)
                .or_else(|| anywhere.captures(answer))
                .ok_or_else(|| {
                    unreadable("factuality", answer, "a category A-E as JSON or as `(A)`")
                })?;
            let letter = caps[1].chars().next().unwrap_or('D').to_ascii_uppercase();
            (letter, Some(caps[2].trim().to_string()))
        }
    };
    let (_, key, meaning) = CATEGORIES
        .iter()
        .find(|(l, _, _)| *l == letter)
        .expect("A-E checked above");
    let score = config
        .get(*key)
        .and_then(Value::as_f64)
        .unwrap_or(if letter == 'D' { 0.0 } else { 1.0 });
    let reason = reason
        .filter(|r| !r.is_empty())
        .map_or_else(|| meaning.to_string(), |r| format!("{meaning}: {r}"));
    Ok(Grade::scored(
        score > 0.0,
        score,
        format!("category {letter}: {reason}"),
    ))
}

/// The first JSON object in the text that parses.
fn json_object(text: &str) -> Option<Map<String, Value>> {
    super::json::find_all_json(text)
        .into_iter()
        .find_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
}

/// `"key": value` pairs read one at a time, for JSON that does not parse as a whole
/// (trailing commas, unescaped quotes in the reason, a missing brace).
fn loose_fields(text: &str) -> Option<Map<String, Value>> {
    static PAIRS: OnceLock<[Regex; 3]> = OnceLock::new();
    let [pass, score, reason] = PAIRS.get_or_init(|| {
        [
            Regex::new(r#"(?i)"?pass"?\s*:\s*"?(true|false|yes|no)\b"#).expect("static regex"),
            Regex::new(r#"(?i)"?score"?\s*:\s*"?(-?[0-9]+(?:\.[0-9]+)?)"#).expect("static regex"),
            Regex::new(r#"(?is)"?reason"?\s*:\s*"(.*?)"\s*(?:,\s*"|\}|$)"#).expect("static regex"),
        ]
    });
    let mut m = Map::new();
    if let Some(c) = pass.captures(text) {
        m.insert("pass".into(), Value::String(c[1].to_string()));
    }
    if let Some(c) = score.captures(text) {
        m.insert("score".into(), Value::String(c[1].to_string()));
    }
    if let Some(c) = reason.captures(text) {
        m.insert("reason".into(), Value::String(c[1].to_string()));
    }
    (m.contains_key("pass") || m.contains_key("score")).then_some(m)
}

/// A judge's `pass`: a boolean, or `true`/`yes`/`pass`/`y` (any case) as promptfoo reads it.
fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            Some(matches!(s.as_str(), "true" | "yes" | "pass" | "y"))
        }
        Value::Number(n) => n.as_f64().map(|x| x > 0.0),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

fn unreadable(what: &str, answer: &str, wanted: &str) -> String {
    let flat = answer.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = flat.chars().take(160).collect();
    let more = if short.len() < flat.len() { "…" } else { "" };
    format!("`{what}`: could not read the judge's answer (expected {wanted}): {short:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    fn rubric(answer: &str, threshold: Option<f64>) -> Result<Grade, String> {
        parse_rubric_answer(answer, threshold)
    }

    #[test]
    fn rubric_answers_in_json_prose_and_fences() {
        let g = rubric(r#"{"reason": "Polite.", "pass": true, "score": 0.9}"#, None).unwrap();
        assert_eq!((g.pass, g.score, g.reason.as_str()), (true, 0.9, "Polite."));
        let g = rubric(
            "Sure!\n```json\n{\"pass\": false, \"score\": 0, \"reason\": \"Rude\"}\n```",
            None,
        )
        .unwrap();
        assert!(!g.pass && g.score == 0.0 && g.reason == "Rude");
        let g = rubric(r#"{"pass": "yes", "score": "0.7"}"#, None).unwrap();
        assert!(g.pass && g.score == 0.7 && g.reason == "the judge gave no reason");
        // Broken JSON (trailing comma) still reads.
        let g = rubric(r#"{"reason": "ok", "pass": true, "score": 1,}"#, None).unwrap();
        assert!(g.pass && g.score == 1.0 && g.reason == "ok", "{g:?}");
    }

    #[test]
    fn rubric_thresholds_and_missing_fields() {
        let g = rubric(
            r#"{"pass": true, "score": 0.6, "reason": "meh"}"#,
            Some(0.8),
        )
        .unwrap();
        assert!(
            !g.pass && g.reason.starts_with("score 0.6 below threshold 0.8"),
            "{g:?}"
        );
        // No `pass`: derived from the score.
        assert!(rubric(r#"{"score": 0.6}"#, None).unwrap().pass);
        assert!(!rubric(r#"{"score": 0.6}"#, Some(0.7)).unwrap().pass);
        // No score: 1 or 0 from pass.
        assert_eq!(rubric(r#"{"pass": false}"#, None).unwrap().score, 0.0);
        // Scores are clamped.
        assert_eq!(
            rubric(r#"{"pass": true, "score": 7}"#, None).unwrap().score,
            1.0
        );
    }

    #[test]
    fn unreadable_rubric_answers_fail_quoting_the_answer() {
        let e = rubric("I think it is fine.", None).unwrap_err();
        assert!(
            e.contains("could not read") && e.contains("I think it is fine."),
            "{e}"
        );
        let e = rubric(r#"{"verdict": "good"}"#, None).unwrap_err();
        assert!(e.contains("`pass` or `score`"), "{e}");
        let long = "x".repeat(1000);
        assert!(rubric(&long, None).unwrap_err().len() < 400);
    }

    #[test]
    fn factuality_categories() {
        let none = Map::new();
        let g =
            parse_factuality_answer(r#"{"category": "A", "reason": "Subset."}"#, &none).unwrap();
        assert!(
            g.pass && g.score == 1.0 && g.reason.starts_with("category A:"),
            "{g:?}"
        );
        let g = parse_factuality_answer(r#"{"category": "d", "reason": "Wrong city."}"#, &none)
            .unwrap();
        assert!(
            !g.pass && g.score == 0.0 && g.reason.contains("Wrong city."),
            "{g:?}"
        );
        let g = parse_factuality_answer("(E) Same facts, other words.", &none).unwrap();
        assert!(g.pass && g.reason.contains("Same facts"), "{g:?}");
        let g = parse_factuality_answer("The category is (D) because", &none).unwrap();
        assert!(!g.pass && g.reason.contains("because"), "{g:?}");
        let g = parse_factuality_answer("  b) more detail", &none).unwrap();
        assert!(g.pass && g.reason.starts_with("category B"), "{g:?}");
        assert!(parse_factuality_answer("C", &none).unwrap().pass);
        assert!(parse_factuality_answer(r#"{"category": "F"}"#, &none).is_err());
        let e = parse_factuality_answer("An answer without a category", &none).unwrap_err();
        assert!(e.contains("could not read"), "{e}");
        // Rescored categories: a superset no longer passes.
        let strict = json!({"superset": 0}).as_object().unwrap().clone();
        assert!(!parse_factuality_answer("(B)", &strict).unwrap().pass);
        let half = json!({"differButFactual": 0.5})
            .as_object()
            .unwrap()
            .clone();
        let g = parse_factuality_answer("(E)", &half).unwrap();
        assert!(g.pass && g.score == 0.5);
    }

    /// A judge that records what it was asked and answers from a script.
    struct Scripted(Mutex<Vec<(Option<String>, Vec<Message>)>>, &'static str);
    impl Grader for Scripted {
        fn embed(&self, _: Option<&str>, _: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            Err("no embeddings".into())
        }
        fn complete(&self, provider: Option<&str>, messages: &[Message]) -> Result<String, String> {
            self.0
                .lock()
                .unwrap()
                .push((provider.map(str::to_string), messages.to_vec()));
            Ok(self.1.to_string())
        }
    }

    #[test]
    fn the_judge_sees_the_rubric_the_question_and_the_output() {
        let judge = Scripted(
            Mutex::default(),
            r#"{"category": "C", "pass": true, "score": 1}"#,
        );
        let ctx = Context {
            prompt: Some("user: What is the capital of France?"),
            grader: Some(&judge),
            ..Context::default()
        };
        let g = llm_rubric(
            "Paris.",
            Some(&json!("Names a city")),
            None,
            Some("local:x"),
            &ctx,
        )
        .unwrap();
        assert!(g.pass);
        let g = factuality("Paris.", Some(&json!("Paris")), &Map::new(), None, &ctx).unwrap();
        assert!(g.pass);
        let calls = judge.0.lock().unwrap();
        assert_eq!(calls[0].0.as_deref(), Some("local:x"));
        assert!(
            calls[0].1[1].content.contains("Names a city")
                && calls[0].1[1].content.contains("Paris.")
        );
        assert_eq!(calls[1].0, None);
        let user = &calls[1].1[1].content;
        assert!(user.contains("capital of France") && user.contains("<expert_answer>\nParis\n"));
    }

    #[test]
    fn judges_need_a_grader_and_factuality_a_prompt() {
        let e = llm_rubric("x", Some(&json!("r")), None, None, &Context::default()).unwrap_err();
        assert!(e.contains("no grader"), "{e}");
        let judge = Scripted(Mutex::default(), "(A)");
        let ctx = Context {
            grader: Some(&judge),
            ..Context::default()
        };
        let e = factuality("x", Some(&json!("y")), &Map::new(), None, &ctx).unwrap_err();
        assert!(e.contains("needs the prompt"), "{e}");
    }
}
