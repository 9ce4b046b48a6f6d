//! Cases and run details shared by the report tests, including text built to break
//! escaping in every format.

#![allow(dead_code)]

use incant_eval::runner::{AssertionResult, CaseResult};
use incant_eval::Grade;
use incant_provider::Usage;
use incant_report::{Format, ReportWriter, RunInfo, Summary};
use serde_json::{json, Map, Value};

/// Quotes, separators, line breaks, markup, CDATA and script terminators, C0 controls
/// that XML 1.0 forbids, and text outside the BMP.
pub const NASTY: &str = "say \"hi\", it's; a\nnew line\r\ncrlf\ttab <b>bold</b> & &amp; ]]> \
    </script><script>alert(1)</script> <!-- x --> \u{1b}[31mred\u{1b}[0m nul\0 bell\u{7} \
    ünïcödé 漢字 😀 \u{2028}\u{FFFE}";

/// `NASTY` as XML carries it: forbidden characters replaced by U+FFFD.
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            c if (c as u32) < 0x20 => '\u{FFFD}',
            c => c,
        })
        .collect()
}

pub fn grade(kind: &str, pass: bool, score: f64, reason: &str) -> AssertionResult {
    AssertionResult {
        kind: kind.into(),
        grade: Grade {
            pass,
            score,
            reason: reason.into(),
        },
    }
}

fn vars(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// A blank passing case.
pub fn case(index: usize, prompt: &str, provider: &str) -> CaseResult {
    CaseResult {
        index,
        prompt: prompt.into(),
        provider: provider.into(),
        description: None,
        vars: Map::new(),
        repeat: 0,
        rendered: Some(format!("rendered {index}")),
        output: Some(format!("output {index}")),
        error: None,
        pass: true,
        score: 1.0,
        assertions: vec![grade("contains", true, 1.0, "ok")],
        latency_ms: 250.4,
        usage: Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
        }),
        cost: Some(0.25),
        cached: false,
    }
}

/// Five cases over two prompts and two providers: passes, failures (with and without a
/// failed assertion), an error, a repeat, and `NASTY` in every text field.
pub fn sample() -> Vec<CaseResult> {
    let mut pass = case(0, "greet", "echo");
    pass.description = Some("greets by name".into());
    pass.vars = vars(json!({"name": "Ada", "n": 3, "tags": ["a", "b"]}));

    let mut fail = case(1, "greet", "local:smollm2");
    fail.vars = vars(json!({"text": NASTY, "nested": {"k": NASTY}}));
    fail.rendered = Some(format!("Reply to: {NASTY}"));
    fail.output = Some(NASTY.into());
    fail.pass = false;
    fail.score = 0.5;
    fail.assertions = vec![
        grade("contains", false, 0.0, &format!("output lacks {NASTY}")),
        grade("not-equals", true, 1.0, "differs"),
    ];
    fail.cached = true;

    let mut error = case(2, "greet", "local:smollm2");
    error.vars = vars(json!({"name": "Bob"}));
    error.output = None;
    error.error = Some(format!("provider failed: {NASTY}"));
    error.pass = false;
    error.score = 0.0;
    error.assertions = Vec::new();
    error.usage = None;
    error.cost = None;

    let mut odd = case(3, "summarize <v2>", "echo");
    odd.description = Some(NASTY.into());

    let mut threshold = case(4, "summarize <v2>", "echo");
    threshold.repeat = 1;
    threshold.pass = false;
    threshold.score = 0.25;
    threshold.assertions = vec![grade("similar", true, 0.25, "cosine 0.25")];
    threshold.rendered = None;
    threshold.output = Some(String::new());

    vec![pass, fail, error, odd, threshold]
}

pub fn info() -> RunInfo {
    RunInfo {
        run_id: Some("20240501-abc".into()),
        suite: format!("suite {NASTY}.yaml"),
        description: Some(NASTY.into()),
        started_at: Some(1_714_564_800),
        prompts: vec!["greet".into(), "summarize <v2>".into()],
        providers: vec!["echo".into(), "local:smollm2".into()],
    }
}

/// Writes `cases` as one report in memory.
pub fn write(format: Format, info: RunInfo, cases: &[CaseResult]) -> (String, Summary) {
    let mut w = ReportWriter::new(format, info, Vec::new()).unwrap();
    for c in cases {
        w.case(c).unwrap();
    }
    let summary = *w.summary();
    let bytes = w.finish().unwrap();
    (String::from_utf8(bytes).unwrap(), summary)
}
