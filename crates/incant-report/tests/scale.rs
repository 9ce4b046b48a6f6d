//! Reports of a large run: 50,000 cases of realistic size. Prints the time and size of
//! each report (run with `--nocapture`); asserts only generous bounds, since timing on a
//! shared machine is no test. With `INCANT_REPORT_DUMP=FILE.html` set, the HTML report is
//! also written to that file, to look at in a browser.

mod common;

use common::{case, grade};
use incant_eval::runner::CaseResult;
use incant_report::{Format, ReportWriter, RunInfo};
use serde_json::json;
use std::time::Instant;

const PROMPTS: usize = 4;
const PROVIDERS: usize = 5;
const TESTS: usize = 2_500;

/// Case `i` of a 4 x 5 x 2,500 matrix: two variables, a rendered prompt of ~300
/// characters, an output of ~200, two assertions, one case in seven failing.
fn synthetic(i: usize) -> CaseResult {
    let (prompt, rest) = (i / (PROVIDERS * TESTS), i % (PROVIDERS * TESTS));
    let (provider, test) = (rest / TESTS, rest % TESTS);
    let mut c = case(
        i,
        &format!("prompt-{prompt}"),
        &format!("local:model-{provider}"),
    );
    let topic = format!("topic number {test} about <things> & \"stuff\"");
    let audience = ["kids", "adults"][test % 2];
    c.vars = match json!({"topic": topic, "audience": audience}) {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    c.rendered = Some(format!(
        "system: You are a helpful assistant who writes short, accurate summaries.\n\
         user: Write three sentences about {topic} for an audience of {audience}. Keep it under \
         sixty words, avoid jargon, and end with a question for the reader."
    ));
    c.output = Some(format!(
        "Here is a short summary of {topic}. It covers the basics in plain words and \
         leaves out the details. Case {i} ends here </script> with a question: what next?"
    ));
    c.pass = i % 7 != 0;
    c.score = if c.pass { 1.0 } else { 0.5 };
    c.assertions = vec![
        grade("contains", true, 1.0, "output contains \"summary\""),
        grade(
            "llm-rubric",
            c.pass,
            c.score,
            "the answer ends with a question and stays under sixty words",
        ),
    ];
    c.latency_ms = 100.0 + (i % 997) as f64 * 1.37;
    c
}

fn info() -> RunInfo {
    RunInfo {
        run_id: Some("bench".into()),
        suite: "bench.yaml".into(),
        prompts: (0..PROMPTS).map(|p| format!("prompt-{p}")).collect(),
        providers: (0..PROVIDERS).map(|p| format!("local:model-{p}")).collect(),
        ..RunInfo::default()
    }
}

#[test]
fn fifty_thousand_cases_in_every_format() {
    let total = PROMPTS * PROVIDERS * TESTS;
    let cases: Vec<CaseResult> = (0..total).map(synthetic).collect();
    for format in Format::ALL {
        let start = Instant::now();
        let mut w = ReportWriter::new(format, info(), Vec::with_capacity(64 << 20)).unwrap();
        for c in &cases {
            w.case(c).unwrap();
        }
        assert_eq!(w.summary().total, total);
        let out = w.finish().unwrap();
        let elapsed = start.elapsed();
        let mib = out.len() as f64 / f64::from(1 << 20);
        println!(
            "{format:>5}: {total} cases, {mib:.1} MiB, {:.0} bytes/case, {:.3} s",
            out.len() as f64 / total as f64,
            elapsed.as_secs_f64()
        );
        // Generous: the raw case data is ~700 bytes per case.
        assert!(out.len() < total * 2_500, "{format}: {} bytes", out.len());
        assert!(elapsed.as_secs() < 60, "{format}: {elapsed:?}");
        if format == Format::Html {
            if let Some(path) = std::env::var_os("INCANT_REPORT_DUMP") {
                std::fs::write(path, &out).unwrap();
            }
            let html = String::from_utf8(out).unwrap();
            assert_eq!(html.matches("</script>").count(), 4);
        }
    }
}
