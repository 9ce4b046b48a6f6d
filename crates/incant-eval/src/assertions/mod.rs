//! Assertions: what a test case requires of an output.
//!
//! One [`AssertionKind`] per type, parsed from the suite's YAML, each also negatable with a
//! `not-` prefix. Evaluation returns a [`Grade`]: pass/fail, a score in [0, 1], and a reason a
//! person can act on. Families live in their own modules: [`text`] (string matching),
//! [`json`] (JSON output and JSON Schema), [`measure`] (distances, counts, latency, cost,
//! perplexity), [`overlap`] (ROUGE-N, BLEU), [`similar`] (embedding similarity), [`judge`]
//! (`llm-rubric`, `factuality`), [`expr`] (minijinja expressions), [`python`] and
//! [`snapshot`] (accepted outputs kept in the repository); [`js`] and
//! [`js_regex`] hold the JavaScript semantics promptfoo's verdicts depend on.
//!
//! # Keys
//!
//! `type`, `value` (string values are templates over the test's variables), `threshold`,
//! `weight` (default 1), `metric` (a named score), `provider` (the model for `similar` and
//! the judges: an id, or `{id: ...}`), `config` (type-specific settings) and `timeout`
//! (milliseconds, `python`). Anything else is an error naming the nearest key. Everything that
//! can be checked without a model is checked when the suite loads ([`Assertion::parse_in`]):
//! JSON Schemas, expressions, python files, and literal values of the string and count types
//! that promptfoo would reject for every output. Model-graded types need a [`Grader`];
//! [`needs_grader`] tells the runner whether to build one.
//!
//! # Semantics
//!
//! promptfoo's semantics, so that a `promptfooconfig.yaml` gets the same verdicts (checked
//! case by case against promptfoo 0.121 by `scripts/parity-promptfoo`): `contains-any`
//! takes a list or a comma-separated string, `levenshtein` passes at distance <= threshold
//! (default 5), `similar` and `rouge-n` default to threshold 0.75, `bleu` to 0.5, a negated
//! assertion passes when the plain one fails and scores `1 - score`.
//!
//! promptfoo runs on JavaScript, and its verdicts follow JavaScript's rules; incant follows
//! them too, where they show:
//!
//! - `regex` is `new RegExp(value).test(output)`: JavaScript syntax and matching
//!   ([`js_regex`]): look-around and back-references work, `\w`, `\d` and `\b` are
//!   ASCII-only, `.` is one UTF-16 unit and not a line break, `$` is only the very end, and
//!   `(?i)` is a syntax error. A pattern JavaScript rejects fails the assertion, negated or
//!   not, with JavaScript's message (a failing grade, not a load error, as in promptfoo).
//! - Expected numbers and booleans are `String(value)`: `contains: 3.0` looks for `3`,
//!   `equals: 1.50` for `1.5`. `equals` with a mapping, a list or `null` compares with the
//!   output parsed by `JSON.parse` (numbers as doubles, key order free); any other value
//!   must equal the output exactly.
//! - `icontains*` lower-case with JavaScript's `toLowerCase` (full Unicode mappings, final
//!   sigma; `ß` does not become `ss`). A string value of `contains-any`/`-all` is split by
//!   promptfoo's comma parser (quoted items keep their commas); list items are used as
//!   written, untrimmed.
//! - `levenshtein` counts UTF-16 units (an emoji is 2); `word-count` splits the trimmed
//!   output on JavaScript's whitespace (NBSP and U+FEFF count, U+0085 does not) and reads a
//!   string value with `Number()`.
//! - `is-json` is `JSON.parse(output)` (a bare number is JSON); `contains-json` finds
//!   objects as promptfoo's `extractJsonObjects` does ([`json`]); a falsy value (`""`) is no
//!   schema.
//! - A value promptfoo throws on (`contains` with an empty string or a boolean,
//!   `starts-with`, `regex` or `levenshtein` with a number, `word-count` without a number or
//!   `{min, max}`, an unterminated quoted item) makes the whole case an error
//!   ([`Assertion::evaluate_case`]) when it comes from a template, and stops the load when
//!   it is written literally.
//!
//! Where incant differs from promptfoo, deliberately:
//!
//! - A grade that could not be computed (no grader, no log-probabilities, no latency
//!   measured, a python exception or timeout, a judge answer that cannot be read) fails even
//!   when negated: `not-llm-rubric` with a broken judge is not a pass.
//! - `latency` and `cost` without a `threshold`, invalid JSON Schemas, invalid expressions,
//!   missing python files and literal values promptfoo would throw on are errors when the
//!   suite loads, not failing cases at run time.
//! - JSON Schemas ignore unknown keywords (promptfoo's ajv strict mode rejects them).
//! - `rouge-n` splits tokens on line breaks too (js-rouge only on spaces).
//! - `llm-rubric`: a judge answer without `pass` is decided by its `score` (promptfoo passes
//!   it); judge, similarity and python scores are clamped to [0, 1].
//! - `factuality` reads category scores (`subset`, `superset`, `agree`, `disagree`,
//!   `differButFactual`) from the assertion's `config` (promptfoo: the test's
//!   `options.factuality`).
//! - `expr` is incant's own type (a minijinja expression); `javascript`, the RAG context
//!   types, `model-graded-closedqa`, `g-eval`, `select-best`, `transform` and `rubricPrompt`
//!   are not supported and say what to use instead.
//!
//! Where incant still differs without meaning to (rare inputs): `JSON.parse` accepts lone
//! surrogate escapes (`"\ud800"`), numbers beyond the double range and nesting deeper than
//! 128, serde_json does not; `contains-json` reads candidates with libyaml's grammar, not
//! js-yaml's: well-formed JSON (quoted keys) reads the same, but an unquoted key with no
//! space after its colon (`{a:[1]}`) or a value cut off at a lone `-` reads differently,
//! dates stay strings (js-yaml makes `Date` objects) and `.inf` becomes `null`; values
//! are rendered with minijinja, not nunjucks (a template error leaves the value as written
//! instead of failing the case); a regex that needs more than [`js_regex::STEP_BUDGET`]
//! steps fails instead of running on.

pub mod clip_score;
pub mod expr;
pub mod guard;
pub mod js;
pub mod js_regex;
pub mod json;
pub mod judge;
mod load;
pub mod measure;
pub mod overlap;
pub mod python;
pub mod similar;
pub mod snapshot;
pub mod text;

pub use similar::Similarity;

use load::{check_keys, overlap_refs_invalid, provider, read_schema};

use incant_prompt::file::Message;
use serde_json::{Map, Value};
use std::path::Path;

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
    /// Output is valid JSON (conforming to the JSON Schema `value`, if any).
    IsJson,
    /// Output contains a JSON object or array (one conforming to the schema, if any).
    ContainsJson,
    /// Levenshtein distance to the value at most the threshold.
    Levenshtein,
    /// Word count equal to the value, or within `{min, max}`.
    WordCount,
    /// Latency in milliseconds at most the threshold.
    Latency,
    /// Cost at most the threshold.
    Cost,
    /// ROUGE-N (unigram) of the output against the reference, at least the threshold.
    RougeN,
    /// BLEU-4 against one or more references, at least the threshold.
    Bleu,
    /// Perplexity from the output's log-probabilities, at most the threshold.
    Perplexity,
    /// `1 / (1 + perplexity)`, at least the threshold.
    PerplexityScore,
    /// Embedding similarity to the value (or any of a list of values).
    Similar(Similarity),
    /// A judge model grades the output against a rubric.
    LlmRubric,
    /// A judge model compares the output with a reference answer.
    Factuality,
    /// A minijinja expression over the output is true (or a score).
    Expr,
    /// Python code over the output returns true (or a score, or a grading result).
    Python,
    /// Output matches the case's accepted snapshot (exactly, or by embedding similarity).
    Snapshot,
    /// The case's images match a caption: CLIP score at least the threshold.
    ClipScore,
    /// The output leaks the secret (the system message): use as `not-leak`.
    Leak,
    /// The guard's injection score of the value (or the output) below the threshold.
    InjectionScore,
}

impl AssertionKind {
    /// Types whose literal values are checked at load by grading an empty output (their
    /// grading is pure and fast).
    fn checks_literal(self) -> bool {
        use AssertionKind as K;
        matches!(
            self,
            K::Contains
                | K::IContains
                | K::ContainsAny
                | K::ContainsAll
                | K::IContainsAny
                | K::IContainsAll
                | K::StartsWith
                | K::Levenshtein
                | K::WordCount
        )
    }
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
    ("rouge-n", AssertionKind::RougeN),
    ("bleu", AssertionKind::Bleu),
    ("perplexity", AssertionKind::Perplexity),
    ("perplexity-score", AssertionKind::PerplexityScore),
    ("similar", AssertionKind::Similar(Similarity::Cosine)),
    ("similar:cosine", AssertionKind::Similar(Similarity::Cosine)),
    ("similar:dot", AssertionKind::Similar(Similarity::Dot)),
    (
        "similar:euclidean",
        AssertionKind::Similar(Similarity::Euclidean),
    ),
    ("llm-rubric", AssertionKind::LlmRubric),
    ("factuality", AssertionKind::Factuality),
    ("expr", AssertionKind::Expr),
    ("python", AssertionKind::Python),
    ("snapshot", AssertionKind::Snapshot),
    ("clip-score", AssertionKind::ClipScore),
    ("leak", AssertionKind::Leak),
    ("injection-score", AssertionKind::InjectionScore),
];

/// The keys an assertion may have.
pub const KEYS: &[&str] = &[
    "type",
    "value",
    "threshold",
    "weight",
    "metric",
    "provider",
    "config",
    "timeout",
];

/// promptfoo keys that incant knows but does not support, with what to use instead.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    (
        "transform",
        "check the transformed output with `expr` or `python` instead",
    ),
    (
        "contextTransform",
        "context-based assertions are not supported",
    ),
    (
        "rubricPrompt",
        "incant's judges use their own prompts; put the criteria in `value`",
    ),
];

/// promptfoo assertion types incant does not implement, with what to use instead.
const UNSUPPORTED_TYPES: &[(&str, &str)] = &[
    (
        "javascript",
        "write the check as `expr` (a minijinja expression) or `python`",
    ),
    (
        "model-graded-closedqa",
        "use `llm-rubric` with the criterion as its value",
    ),
    ("g-eval", "use `llm-rubric`"),
    ("answer-relevance", "use `llm-rubric` or `similar`"),
    ("context-faithfulness", "use `llm-rubric` or `factuality`"),
    ("context-recall", "use `llm-rubric` or `factuality`"),
    ("context-relevance", "use `llm-rubric`"),
    ("select-best", "compare runs with `incant compare`"),
];

/// One parsed assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// Its type.
    pub kind: AssertionKind,
    /// `not-` prefix: the verdict is inverted.
    pub negate: bool,
    /// The expected value, as written (strings are templates); for `is-json` /
    /// `contains-json` with `file://`, the schema read from the file.
    pub value: Option<Value>,
    /// Type-specific threshold.
    pub threshold: Option<f64>,
    /// Weight in the case's weighted score (default 1).
    pub weight: f64,
    /// Named metric this assertion contributes to.
    pub metric: Option<String>,
    /// The grading model (`similar`, `llm-rubric`, `factuality`); `None`: the default.
    pub provider: Option<String>,
    /// Type-specific settings (`config:`).
    pub config: Map<String, Value>,
    /// Time limit in milliseconds (`python`).
    pub timeout_ms: Option<u64>,
    /// A python script from `file://`, resolved when the suite loaded.
    pub script: Option<python::Source>,
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

impl AssertionError {
    fn new(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
}

/// Model access for model-graded assertions (`similar`, `llm-rubric`, `factuality`).
///
/// `provider` is the assertion's own `provider` setting when it has one (a provider id such
/// as `local:minilm` or `openai:embedding:text-embedding-3-small`); `None` asks for the
/// default (local MiniLM for embeddings, the local chat model for judges). Implementations
/// load each provider once and share it between cases; workers call them concurrently.
/// [`crate::grader::ProviderGrader`] is the implementation on top of the providers.
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

/// Why an assertion gave no ordinary verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No verdict could be reached (no grader, no log-probabilities, a broken judge, a
    /// regex JavaScript rejects): the assertion fails, negated or not.
    Ungraded(String),
    /// The value cannot be used at all (promptfoo throws, e.g. `starts-with` with a number
    /// or `contains` with an empty string): the whole case fails, whatever its threshold
    /// and weights.
    Invalid(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Ungraded(reason)
    }
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
    /// A pass/fail grade scored 1 or 0.
    pub(crate) fn new(pass: bool, reason: impl Into<String>) -> Self {
        Self {
            pass,
            score: if pass { 1.0 } else { 0.0 },
            reason: reason.into(),
        }
    }

    /// A grade with its own score, clamped to [0, 1] (NaN counts as 0).
    pub(crate) fn scored(pass: bool, score: f64, reason: impl Into<String>) -> Self {
        Self {
            pass,
            score: if score.is_nan() {
                0.0
            } else {
                score.clamp(0.0, 1.0)
            },
            reason: reason.into(),
        }
    }
}

/// A number returned by code (`expr`, `python`) as a verdict, promptfoo's way: the score,
/// passing at >= `threshold`, or at > 0 without one. Returns the pass and how it compares.
pub(crate) fn code_score(n: f64, threshold: Option<f64>) -> (bool, String) {
    match threshold {
        Some(t) if n >= t => (true, format!(">= threshold {t}")),
        Some(t) => (false, format!("< threshold {t}")),
        None if n > 0.0 => (true, "> 0".into()),
        None => (false, "<= 0".into()),
    }
}

/// Whether any of `assertions` needs a [`Grader`] (embeddings or a judge), so that a run
/// builds one only when a suite uses model-graded types.
pub fn needs_grader<'a>(assertions: impl IntoIterator<Item = &'a Assertion>) -> bool {
    assertions.into_iter().any(Assertion::needs_grader)
}

/// Whether a string value is a template rendered per case (so it can only be checked then).
fn templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl Assertion {
    /// Parses one entry of a test's `assert` list; relative `file://` paths are resolved
    /// against the current directory (see [`Assertion::parse_in`]).
    pub fn parse(v: &Value) -> Result<Self, AssertionError> {
        Self::parse_in(v, None)
    }

    /// Parses one entry of a test's `assert` list, resolving relative `file://` paths
    /// against `base_dir` (the suite's folder, as promptfoo resolves them against the
    /// config's folder).
    pub fn parse_in(v: &Value, base_dir: Option<&Path>) -> Result<Self, AssertionError> {
        let Value::Object(m) = v else {
            return Err(AssertionError::new(
                "an assertion is a mapping with a `type`",
                Some("e.g. `{type: contains, value: Paris}`"),
            ));
        };
        check_keys(m)?;
        let ty = m.get("type").and_then(Value::as_str).ok_or_else(|| {
            AssertionError::new(
                "assertion has no `type`",
                Some(&format!("types: {}", names().join(", "))),
            )
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
                if let Some((_, instead)) = UNSUPPORTED_TYPES.iter().find(|(t, _)| *t == name) {
                    return AssertionError::new(
                        format!("assertion type `{ty}` is not supported by incant"),
                        Some(instead),
                    );
                }
                let hint = incant_prompt::nearest(name, &names()).map_or_else(
                    || format!("types: {}", names().join(", ")),
                    |n| format!("did you mean `{n}`?"),
                );
                AssertionError::new(format!("unknown assertion type `{ty}`"), Some(&hint))
            })?;
        let number = |key: &str| -> Result<Option<f64>, AssertionError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                    AssertionError::new(format!("`{key}` of `{ty}` must be a number"), None)
                }),
            }
        };
        let config = match m.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(c)) => c.clone(),
            Some(_) => {
                return Err(AssertionError::new(
                    format!("`config` of `{ty}` must be a mapping"),
                    None,
                ))
            }
        };
        let timeout = match number("timeout")? {
            Some(t) => Some(t),
            None => config.get("timeout").and_then(Value::as_f64),
        };
        let metric = match m.get("metric") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(AssertionError::new(
                    format!("`metric` of `{ty}` must be a string"),
                    None,
                ))
            }
        };
        let mut a = Self {
            kind,
            negate,
            // `equals: null` compares with the parsed output; elsewhere null is no value
            value: m
                .get("value")
                .cloned()
                .filter(|v| !v.is_null() || kind == AssertionKind::Equals),
            threshold: number("threshold")?,
            weight: number("weight")?.unwrap_or(1.0),
            metric,
            provider: provider(m.get("provider"), ty)?,
            config,
            timeout_ms: timeout.map(|t| t.max(1.0) as u64),
            script: None,
        };
        a.check(ty, base_dir)?;
        Ok(a)
    }

    /// Type-specific checks at load time.
    fn check(&mut self, ty: &str, base_dir: Option<&Path>) -> Result<(), AssertionError> {
        use AssertionKind as K;
        let err = |message: String, hint: Option<&str>| Err(AssertionError::new(message, hint));
        let optional_value = matches!(
            self.kind,
            K::IsJson
                | K::ContainsJson
                | K::Latency
                | K::Cost
                | K::Perplexity
                | K::PerplexityScore
                | K::Snapshot
                | K::ClipScore
                | K::Leak
                | K::InjectionScore
        );
        if self.kind == K::Snapshot {
            snapshot::check(self)?;
        }
        if !optional_value && self.value.is_none() {
            return err(format!("`{ty}` needs a `value`"), None);
        }
        if self.kind == K::ClipScore {
            if self.threshold.is_none() {
                return err(
                    format!("`{ty}` needs a `threshold`"),
                    Some("the lowest acceptable CLIP score (0-100); matching pairs score about 25-35 with ViT-L/14"),
                );
            }
            if let Err(e) = clip_score::resolve_model(&mut self.config, base_dir) {
                return err(
                    e,
                    Some("e.g. `config: {model: models/clip-vit-large-patch14}`"),
                );
            }
        }
        if matches!(self.kind, K::Latency | K::Cost) && self.threshold.is_none() {
            let unit = if self.kind == K::Latency {
                "milliseconds"
            } else {
                "dollars"
            };
            return err(
                format!("`{ty}` needs a `threshold`"),
                Some(&format!(
                    "the largest acceptable {}, in {unit}",
                    ty.trim_start_matches("not-")
                )),
            );
        }
        if matches!(self.kind, K::IsJson | K::ContainsJson) {
            // promptfoo: an empty (falsy) value is no schema; `true` is not a schema
            if self.value.as_ref().is_some_and(|v| !js::truthy(v)) {
                self.value = None;
            }
            if self.value == Some(Value::Bool(true)) {
                return err(
                    format!("the value of `{ty}` must be a JSON Schema, got true"),
                    Some("the value is a JSON Schema, e.g. `{type: object, required: [name]}`"),
                );
            }
        }
        let literal = match &self.value {
            Some(Value::String(s)) if templated(s) => None,
            other => other.clone(),
        };
        // A literal value promptfoo rejects for every output (a number for `starts-with`,
        // an empty `contains`, an unterminated quoted item) stops the load here; a rendered
        // one fails its case at run time. A regex JavaScript rejects is a failing grade, as
        // in promptfoo, not a load error.
        if let (true, Some(v)) = (self.kind.checks_literal(), &literal) {
            if let Err(Failure::Invalid(e)) = self.grade("", Some(v), &Context::default()) {
                return err(format!("`{ty}`: {e}"), None);
            }
        }
        match (self.kind, &literal) {
            (K::IsJson | K::ContainsJson, Some(v)) => {
                if let Some(path) = v.as_str().and_then(|s| s.strip_prefix("file://")) {
                    let schema = read_schema(path, base_dir)?;
                    self.value = Some(schema);
                }
                if let Err(e) = json::compile(self.value.as_ref().expect("set")) {
                    return err(
                        format!("`{ty}`: {e}"),
                        Some("the value is a JSON Schema, e.g. `{type: object, required: [name]}`"),
                    );
                }
            }
            (K::Similar(_), Some(v)) => {
                if let Err(e) = similar::expected(Some(v)) {
                    return err(e, Some("e.g. `value: The capital of France is Paris.`"));
                }
            }
            (K::RougeN | K::Factuality | K::Expr | K::Python, Some(v)) if !v.is_string() => {
                return err(
                    format!("the value of `{ty}` must be a string, got {v}"),
                    None,
                );
            }
            (K::Bleu, Some(v)) if overlap_refs_invalid(v) => {
                return err(
                    format!(
                        "the value of `{ty}` must be a reference text or a list of them, got {v}"
                    ),
                    None,
                );
            }
            (K::Expr, Some(Value::String(src))) => {
                if let Err(e) = expr::check(src) {
                    return err(
                        e,
                        Some("an expression such as `\"Paris\" in output` or `output | length < 100`"),
                    );
                }
            }
            (K::Python, Some(Value::String(code))) => {
                if let Some(source) = python::file_source(code, base_dir) {
                    self.script = Some(source.map_err(|e| {
                        AssertionError::new(e, Some("relative paths start at the suite's folder"))
                    })?);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Something wrong that promptfoo does not refuse either, said once when the suite
    /// loads: a literal `regex` pattern that JavaScript cannot compile (every case with it
    /// fails, negated or not, as in promptfoo).
    pub fn warning(&self) -> Option<String> {
        let (AssertionKind::Regex, Some(Value::String(p))) = (self.kind, &self.value) else {
            return None;
        };
        if templated(p) {
            return None;
        }
        js_regex::JsRegex::new(p)
            .err()
            .map(|e| format!("invalid regex `{p}`: {e}; every case with it fails"))
    }

    /// Whether grading this assertion needs a [`Grader`].
    pub fn needs_grader(&self) -> bool {
        matches!(
            self.kind,
            AssertionKind::Similar(_) | AssertionKind::LlmRubric | AssertionKind::Factuality
        ) || (self.kind == AssertionKind::Snapshot && self.threshold.is_some())
    }

    /// Grades `output`; an assertion that cannot apply to this case (see
    /// [`Assertion::evaluate_case`]) is a failing grade.
    pub fn evaluate(&self, output: &str, ctx: &Context<'_>) -> Grade {
        self.evaluate_case(output, ctx)
            .unwrap_or_else(|reason| Grade::new(false, reason))
    }

    /// Grades `output`, or says why the assertion cannot apply to this case at all: its
    /// rendered value is one promptfoo rejects (it throws, and the whole case is an error,
    /// whatever the test's threshold and the assertions' weights).
    pub fn evaluate_case(&self, output: &str, ctx: &Context<'_>) -> Result<Grade, String> {
        let value = self.value.as_ref().map(|v| render(v, ctx));
        match self.grade(output, value.as_ref(), ctx) {
            Ok(g) if self.negate => {
                let pass = !g.pass;
                Ok(Grade::scored(
                    pass,
                    1.0 - g.score,
                    if pass {
                        format!("passed (negated: {})", g.reason)
                    } else {
                        format!("negated assertion failed: {}", g.reason)
                    },
                ))
            }
            Ok(g) => Ok(g),
            Err(Failure::Ungraded(reason)) => Ok(Grade::new(false, reason)),
            Err(Failure::Invalid(reason)) => Err(reason),
        }
    }

    /// The plain (not negated) verdict, or why none could be reached.
    fn grade(
        &self,
        output: &str,
        value: Option<&Value>,
        ctx: &Context<'_>,
    ) -> Result<Grade, Failure> {
        use AssertionKind as K;
        let provider = self.provider.as_deref();
        let t = self.threshold;
        Ok(match self.kind {
            K::Equals => text::equals(output, value),
            K::Contains => text::contains(output, value, false)?,
            K::IContains => text::contains(output, value, true)?,
            K::ContainsAny => text::contains_set(output, value, false, false)?,
            K::ContainsAll => text::contains_set(output, value, true, false)?,
            K::IContainsAny => text::contains_set(output, value, false, true)?,
            K::IContainsAll => text::contains_set(output, value, true, true)?,
            K::StartsWith => text::starts_with(output, value)?,
            K::Regex => text::regex(output, value)?,
            K::IsJson => json::is_json(output, value)?,
            K::ContainsJson => json::contains_json(output, value)?,
            K::Levenshtein => measure::levenshtein(output, value, t)?,
            K::WordCount => measure::word_count(output, value)?,
            K::Latency => measure::at_most("latency", ctx.latency_ms, t, "ms")?,
            K::Cost => measure::at_most("cost", ctx.cost, t, "$")?,
            K::RougeN => overlap::rouge_n(output, value, t)?,
            K::Bleu => overlap::bleu(output, value, t)?,
            K::Perplexity => measure::perplexity(ctx.logprobs, t)?,
            K::PerplexityScore => measure::perplexity_score(ctx.logprobs, t)?,
            K::Similar(metric) => similar::similar(output, value, t, metric, provider, ctx.grader)?,
            K::LlmRubric => judge::llm_rubric(output, value, t, provider, ctx)?,
            K::Factuality => judge::factuality(output, value, &self.config, provider, ctx)?,
            K::Expr => expr::expr(output, value, t, ctx)?,
            K::Python => {
                let inline;
                let source = match &self.script {
                    Some(s) => s,
                    None => {
                        inline = python::Source::Inline(text::as_text(value));
                        &inline
                    }
                };
                python::python(output, source, t, &self.config, self.timeout_ms, ctx)?
            }
            K::Snapshot => return Err(Failure::Ungraded(snapshot::UNGRADED.into())),
            K::ClipScore => clip_score::clip_score(output, value, t, &self.config, ctx.prompt)?,
            K::Leak => guard::leak(output, value, t, ctx.prompt)?,
            K::InjectionScore => guard::injection_score(output, value, t)?,
        })
    }
}

fn names() -> Vec<&'static str> {
    KINDS.iter().map(|(n, _)| *n).collect()
}

/// String values (and strings inside lists) are templates over the test's variables.
fn render(v: &Value, ctx: &Context<'_>) -> Value {
    match v {
        Value::String(s) if templated(s) => {
            let env = minijinja::Environment::new();
            let vars = ctx.vars.cloned().unwrap_or_default();
            Value::String(env.render_str(s, vars).unwrap_or_else(|_| s.clone()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| render(x, ctx)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
