//! Assertions: what a test case requires of an output.
//!
//! One [`AssertionKind`] per type, parsed from the suite's YAML (`type`, `value`,
//! `threshold`, `weight`, `metric`), each also negatable with a `not-` prefix. Evaluation
//! returns a [`Grade`]: pass/fail, a score in [0, 1], and a reason a person can act on.
//! Families live in their own modules: [`text`] (string matching), [`json`] (JSON output),
//! [`measure`] (distances, counts, latency, cost).
//!
//! Semantics follow promptfoo's documentation: `contains-any` takes a list or a
//! comma-separated string, `levenshtein` passes at distance <= threshold (default 5),
//! string values are templates rendered with the test's variables.

pub mod json;
pub mod measure;
pub mod text;

use incant_prompt::file::Message;
use serde_json::{Map, Value};

/// The kinds of assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionKind {
    /// Output equals the value (JSON-equal when the value is structured).
    Equals,
    /// Output contains the value.
    Contains,
    /// Case-insensitive contains.
    IContains,
    /// Output contains at least one of the values.
    ContainsAny,
    /// Output contains every value.
    ContainsAll,
    /// Case-insensitive contains-any.
    IContainsAny,
    /// Case-insensitive contains-all.
    IContainsAll,
    /// Output starts with the value.
    StartsWith,
    /// Output matches the regex.
    Regex,
    /// Output is valid JSON.
    IsJson,
    /// Output contains a valid JSON object or array.
    ContainsJson,
    /// Levenshtein distance to the value at most the threshold.
    Levenshtein,
    /// Word count equal to the value, or within `{min, max}`.
    WordCount,
    /// Latency in milliseconds at most the threshold.
    Latency,
    /// Cost at most the threshold.
    Cost,
}

/// `(name, kind)` for every type, the registry that parsing and error hints use.
pub const KINDS: &[(&str, AssertionKind)] = &[
    ("equals", AssertionKind::Equals),
    ("contains", AssertionKind::Contains),
    ("icontains", AssertionKind::IContains),
    ("contains-any", AssertionKind::ContainsAny),
    ("contains-all", AssertionKind::ContainsAll),
    ("icontains-any", AssertionKind::IContainsAny),
    ("icontains-all", AssertionKind::IContainsAll),
    ("starts-with", AssertionKind::StartsWith),
    ("regex", AssertionKind::Regex),
    ("is-json", AssertionKind::IsJson),
    ("contains-json", AssertionKind::ContainsJson),
    ("levenshtein", AssertionKind::Levenshtein),
    ("word-count", AssertionKind::WordCount),
    ("latency", AssertionKind::Latency),
    ("cost", AssertionKind::Cost),
];

/// One parsed assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// Its type.
    pub kind: AssertionKind,
    /// `not-` prefix: the verdict is inverted.
    pub negate: bool,
    /// The expected value, as written (strings are templates).
    pub value: Option<Value>,
    /// Type-specific threshold.
    pub threshold: Option<f64>,
    /// Weight in the case's weighted score (default 1).
    pub weight: f64,
    /// Named metric this assertion contributes to.
    pub metric: Option<String>,
}

/// An assertion that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AssertionError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

/// Model access for model-graded assertions (`similar`, `llm-rubric`, `factuality`).
///
/// `provider` is the assertion's own `provider` setting when it has one (a provider id such
/// as `local:minilm` or `openai:embedding:text-embedding-3-small`); `None` asks for the
/// default (local MiniLM for embeddings, the local chat model for judges). Implementations
/// load each provider once and share it between cases; workers call them concurrently.
pub trait Grader: Sync {
    /// One embedding per text.
    fn embed(&self, provider: Option<&str>, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
    /// A judge model's answer to a chat.
    fn complete(&self, provider: Option<&str>, messages: &[Message]) -> Result<String, String>;
}

/// What an assertion sees besides the output.
#[derive(Clone, Default)]
pub struct Context<'a> {
    /// The test's variables (for templated values).
    pub vars: Option<&'a Map<String, Value>>,
    /// The rendered prompt as plain text (what the judge is told was asked).
    pub prompt: Option<&'a str>,
    /// Call latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Call cost in dollars.
    pub cost: Option<f64>,
    /// Per-token log-probabilities of the output, when the provider returned them.
    pub logprobs: Option<&'a [f32]>,
    /// Model access for model-graded assertions.
    pub grader: Option<&'a dyn Grader>,
}

/// The verdict on one assertion.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grade {
    /// Whether it passed.
    pub pass: bool,
    /// Score in [0, 1].
    pub score: f64,
    /// Why.
    pub reason: String,
}

impl Grade {
    pub(crate) fn new(pass: bool, reason: impl Into<String>) -> Self {
        Self {
            pass,
            score: if pass { 1.0 } else { 0.0 },
            reason: reason.into(),
        }
    }
}

impl Assertion {
    /// Parses one entry of a test's `assert` list.
    pub fn parse(v: &Value) -> Result<Self, AssertionError> {
        let Value::Object(m) = v else {
            return Err(AssertionError {
                message: "an assertion is a mapping with a `type`".into(),
                hint: Some("e.g. `{type: contains, value: Paris}`".into()),
            });
        };
        let ty = m
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| AssertionError {
                message: "assertion has no `type`".into(),
                hint: Some(format!("types: {}", names().join(", "))),
            })?;
        let (negate, name) = match ty.strip_prefix("not-") {
            Some(rest) => (true, rest),
            None => (false, ty),
        };
        let kind = KINDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let hint = incant_prompt::nearest(name, &names()).map_or_else(
                    || format!("types: {}", names().join(", ")),
                    |n| format!("did you mean `{n}`?"),
                );
                AssertionError {
                    message: format!("unknown assertion type `{ty}`"),
                    hint: Some(hint),
                }
            })?;
        let number = |key: &str| -> Result<Option<f64>, AssertionError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or_else(|| AssertionError {
                    message: format!("`{key}` of `{ty}` must be a number"),
                    hint: None,
                }),
            }
        };
        let a = Self {
            kind,
            negate,
            value: m.get("value").cloned(),
            threshold: number("threshold")?,
            weight: number("weight")?.unwrap_or(1.0),
            metric: m.get("metric").and_then(Value::as_str).map(str::to_string),
        };
        let needs_value = !matches!(
            kind,
            AssertionKind::IsJson
                | AssertionKind::ContainsJson
                | AssertionKind::Latency
                | AssertionKind::Cost
        );
        if needs_value && a.value.is_none() {
            return Err(AssertionError {
                message: format!("`{ty}` needs a `value`"),
                hint: None,
            });
        }
        if matches!(kind, AssertionKind::IsJson | AssertionKind::ContainsJson) && a.value.is_some()
        {
            // Refused rather than ignored: a schema that is silently skipped passes bad output.
            return Err(AssertionError {
                message: format!("`{ty}` with a JSON Schema `value` is not supported yet"),
                hint: Some("drop the `value` to check only that the output is JSON".into()),
            });
        }
        if kind == AssertionKind::Regex {
            if let Some(Value::String(p)) = &a.value {
                if !p.contains("{{") {
                    regex::Regex::new(p).map_err(|e| AssertionError {
                        message: format!("invalid regex `{p}`: {e}"),
                        hint: Some(
                            "the pattern is a Rust/ECMAScript-style regular expression".into(),
                        ),
                    })?;
                }
            }
        }
        Ok(a)
    }

    /// Grades `output`.
    pub fn evaluate(&self, output: &str, ctx: &Context<'_>) -> Grade {
        let value = self.value.as_ref().map(|v| render(v, ctx));
        let grade = match self.kind {
            AssertionKind::Equals => text::equals(output, value.as_ref()),
            AssertionKind::Contains => text::contains(output, value.as_ref(), false),
            AssertionKind::IContains => text::contains(output, value.as_ref(), true),
            AssertionKind::ContainsAny => text::contains_set(output, value.as_ref(), false, false),
            AssertionKind::ContainsAll => text::contains_set(output, value.as_ref(), true, false),
            AssertionKind::IContainsAny => text::contains_set(output, value.as_ref(), false, true),
            AssertionKind::IContainsAll => text::contains_set(output, value.as_ref(), true, true),
            AssertionKind::StartsWith => text::starts_with(output, value.as_ref()),
            AssertionKind::Regex => text::regex(output, value.as_ref()),
            AssertionKind::IsJson => json::is_json(output),
            AssertionKind::ContainsJson => json::contains_json(output),
            AssertionKind::Levenshtein => {
                measure::levenshtein(output, value.as_ref(), self.threshold)
            }
            AssertionKind::WordCount => measure::word_count(output, value.as_ref()),
            AssertionKind::Latency => {
                measure::at_most("latency", ctx.latency_ms, self.threshold, "ms")
            }
            AssertionKind::Cost => measure::at_most("cost", ctx.cost, self.threshold, "$"),
        };
        if self.negate {
            let pass = !grade.pass;
            Grade {
                pass,
                score: if pass { 1.0 } else { 0.0 },
                reason: if pass {
                    format!("passed (negated: {})", grade.reason)
                } else {
                    format!("negated assertion failed: {}", grade.reason)
                },
            }
        } else {
            grade
        }
    }
}

fn names() -> Vec<&'static str> {
    KINDS.iter().map(|(n, _)| *n).collect()
}

/// String values (and strings inside lists) are templates over the test's variables.
fn render(v: &Value, ctx: &Context<'_>) -> Value {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let env = minijinja::Environment::new();
            let vars = ctx.vars.cloned().unwrap_or_default();
            Value::String(env.render_str(s, vars).unwrap_or_else(|_| s.clone()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| render(x, ctx)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grade(a: Value, output: &str) -> Grade {
        Assertion::parse(&a)
            .unwrap()
            .evaluate(output, &Context::default())
    }

    #[test]
    fn parses_and_negates() {
        assert!(
            grade(
                json!({"type": "contains", "value": "Paris"}),
                "It is Paris."
            )
            .pass
        );
        assert!(
            !grade(
                json!({"type": "not-contains", "value": "Paris"}),
                "It is Paris."
            )
            .pass
        );
        assert!(
            grade(
                json!({"type": "not-icontains", "value": "london"}),
                "It is Paris."
            )
            .pass
        );
    }

    #[test]
    fn unknown_types_suggest_the_nearest() {
        let e = Assertion::parse(&json!({"type": "contians", "value": "x"})).unwrap_err();
        assert_eq!(e.message, "unknown assertion type `contians`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `contains`?"));
        let e = Assertion::parse(&json!({"type": "regex", "value": "(unclosed"})).unwrap_err();
        assert!(e.message.starts_with("invalid regex"));
        assert!(Assertion::parse(&json!({"type": "equals"})).is_err());
        let e =
            Assertion::parse(&json!({"type": "is-json", "value": {"type": "object"}})).unwrap_err();
        assert!(e.message.contains("not supported yet"));
    }

    #[test]
    fn values_are_templates_over_vars() {
        let vars = json!({"city": "Paris"}).as_object().unwrap().clone();
        let a = Assertion::parse(&json!({"type": "icontains", "value": "{{ city }}"})).unwrap();
        let ctx = Context {
            vars: Some(&vars),
            ..Context::default()
        };
        assert!(a.evaluate("paris is big", &ctx).pass);
    }
}
