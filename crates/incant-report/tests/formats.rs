//! Each report format read back with a real parser: what went in comes out, and text
//! built to break escaping (quotes, line breaks, `</script>`, `]]>`, controls) survives.

mod common;

use common::{case, info, sample, write, xml_safe, NASTY};
use incant_eval::runner::CaseResult;
use incant_report::{Format, ReportWriter, RunInfo, Summary};
use quick_xml::events::Event;
use serde_json::Value;
use std::collections::HashMap;

fn expected_summary() -> (usize, usize, usize, usize) {
    (5, 2, 2, 1)
}

fn counts(s: &Summary) -> (usize, usize, usize, usize) {
    (s.total, s.passed, s.failed, s.errors)
}

#[test]
fn json_reads_back_into_the_same_cases() {
    let cases = sample();
    let (text, summary) = write(Format::Json, info(), &cases);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["run_id"], "20240501-abc");
    assert_eq!(doc["suite"], format!("suite {NASTY}.yaml"));
    assert_eq!(doc["description"], NASTY);
    assert_eq!(doc["started_at"], "2024-05-01T12:00:00Z");
    assert_eq!(doc["providers"][1], "local:smollm2");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    for (row, case) in results.iter().zip(&cases) {
        assert_eq!(row["run_id"], "20240501-abc");
        let back: CaseResult = serde_json::from_value(row.clone()).unwrap();
        assert_eq!(&back, case);
    }
    // Fields a reader looks for by name.
    assert_eq!(results[0]["description"], "greets by name");
    assert_eq!(results[0]["vars"]["name"], "Ada");
    assert_eq!(results[1]["output"], NASTY);
    assert_eq!(results[1]["pass"], false);
    assert_eq!(results[1]["score"], 0.5);
    assert_eq!(results[1]["assertions"][0]["type"], "contains");
    let s: Summary = serde_json::from_value(doc["summary"].clone()).unwrap();
    assert_eq!(s, summary);
    assert_eq!(counts(&s), expected_summary());
    assert_eq!(s.cached, 1);
    assert_eq!((s.prompt_tokens, s.completion_tokens), (48, 12));
    assert_eq!(s.cost, 1.0);
}

#[test]
fn json_without_cases_or_run_id_is_valid() {
    let info = RunInfo {
        suite: "s.yaml".into(),
        ..RunInfo::default()
    };
    let (text, _) = write(Format::Json, info, &[]);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["results"], Value::Array(Vec::new()));
    assert_eq!(doc["run_id"], Value::Null);
    assert_eq!(doc["summary"]["total"], 0);

    let (text, _) = write(Format::Json, RunInfo::default(), &[case(0, "p", "q")]);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["results"][0].get("run_id").is_none());
}

#[test]
fn jsonl_is_one_case_per_line() {
    let cases = sample();
    let (text, _) = write(Format::Jsonl, info(), &cases);
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len());
    for (line, case) in lines.iter().zip(&cases) {
        let row: Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["run_id"], "20240501-abc");
        let back: CaseResult = serde_json::from_value(row).unwrap();
        assert_eq!(&back, case);
    }
    let (text, _) = write(Format::Jsonl, info(), &[]);
    assert_eq!(text, "");
}

#[test]
fn csv_has_stable_columns_and_exact_values() {
    let cases = sample();
    let (text, _) = write(Format::Csv, info(), &cases);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "run_id",
            "index",
            "prompt",
            "provider",
            "description",
            "vars",
            "repeat",
            "pass",
            "score",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "cached",
            "error",
            "output",
            "failed_assertions"
        ]
    );
    let rows: Vec<HashMap<String, String>> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), cases.len());
    for (row, case) in rows.iter().zip(&cases) {
        assert_eq!(row["run_id"], "20240501-abc");
        assert_eq!(row["index"], case.index.to_string());
        assert_eq!(row["prompt"], case.prompt);
        assert_eq!(row["provider"], case.provider);
        assert_eq!(
            row["description"],
            case.description.clone().unwrap_or_default()
        );
        let vars: Value = serde_json::from_str(&row["vars"]).unwrap();
        assert_eq!(vars, Value::Object(case.vars.clone()));
        assert_eq!(row["pass"], case.pass.to_string());
        assert_eq!(row["score"].parse::<f64>().unwrap(), case.score);
        assert_eq!(row["latency_ms"].parse::<f64>().unwrap(), case.latency_ms);
        assert_eq!(row["output"], case.output.clone().unwrap_or_default());
        assert_eq!(row["error"], case.error.clone().unwrap_or_default());
    }
    assert_eq!(rows[1]["output"], NASTY);
    assert_eq!(rows[1]["cached"], "true");
    assert_eq!(
        rows[1]["failed_assertions"],
        format!("contains: output lacks {NASTY}")
    );
    assert_eq!(rows[0]["failed_assertions"], "");
    assert_eq!(rows[0]["prompt_tokens"], "12");
    assert_eq!(rows[0]["cost"], "0.25");
    assert_eq!(rows[2]["prompt_tokens"], "");
    assert_eq!(rows[2]["cost"], "");
    assert_eq!(rows[4]["repeat"], "1");
}

/// One `<testcase>` as parsed back.
#[derive(Debug, Default)]
struct TestCase {
    suite: String,
    attrs: HashMap<String, String>,
    /// Child element name -> (message attribute, text).
    children: HashMap<String, (Option<String>, String)>,
}

/// A parsed JUnit report: `<testsuites>` attributes, each `<testsuite>`'s attributes and
/// properties, and every test case. Fails on anything that is not well-formed.
struct Junit {
    root: HashMap<String, String>,
    suites: Vec<(HashMap<String, String>, HashMap<String, String>)>,
    cases: Vec<TestCase>,
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.unwrap();
            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
            (key, a.unescape_value().unwrap().into_owned())
        })
        .collect()
}

fn parse_junit(text: &str) -> Junit {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Junit {
        root: HashMap::new(),
        suites: Vec::new(),
        cases: Vec::new(),
    };
    let mut stack: Vec<String> = Vec::new();
    let mut child: Option<(String, Option<String>, String)> = None;
    loop {
        let event = reader.read_event().unwrap();
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let a = attrs(e);
                match name.as_str() {
                    "testsuites" => out.root = a,
                    "testsuite" => out.suites.push((a, HashMap::new())),
                    "property" => {
                        let props = &mut out.suites.last_mut().unwrap().1;
                        props.insert(a["name"].clone(), a["value"].clone());
                    }
                    "testcase" => out.cases.push(TestCase {
                        suite: out.suites.last().unwrap().0["name"].clone(),
                        attrs: a,
                        ..TestCase::default()
                    }),
                    "failure" | "error" | "system-out" => {
                        child = Some((name.clone(), a.get("message").cloned(), String::new()))
                    }
                    "properties" => {}
                    other => panic!("unexpected element {other}"),
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                } else if let Some((name, message, text)) = child.take() {
                    let case = out.cases.last_mut().unwrap();
                    case.children.insert(name, (message, text));
                }
            }
            Event::End(_) => {
                let name = stack.pop().unwrap();
                if child.as_ref().is_some_and(|c| c.0 == name) {
                    let (name, message, text) = child.take().unwrap();
                    let case = out.cases.last_mut().unwrap();
                    case.children.insert(name, (message, text));
                }
            }
            Event::Text(t) => {
                // As a conforming parser reads it: line ends normalised.
                let t = t.xml10_content().unwrap();
                match &mut child {
                    Some((_, _, text)) => text.push_str(&t),
                    None => assert!(t.trim().is_empty(), "stray text {t:?}"),
                }
            }
            Event::GeneralRef(r) => {
                // quick-xml reports references in text separately.
                let c = match r.resolve_char_ref().unwrap() {
                    Some(c) => c,
                    None => match r.decode().unwrap().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unknown entity {other}"),
                    },
                };
                if let Some((_, _, text)) = &mut child {
                    text.push(c);
                }
            }
            Event::Decl(_) => {}
            Event::Eof => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(stack.is_empty());
    out
}

#[test]
fn junit_is_well_formed_with_counts_per_suite() {
    let cases = sample();
    let (text, _) = write(Format::Junit, info(), &cases);
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    let junit = parse_junit(&text);

    let root = &junit.root;
    assert_eq!(root["name"], xml_safe(&format!("suite {NASTY}.yaml")));
    let total = |k: &str| root[k].parse::<usize>().unwrap();
    assert_eq!(
        (total("tests"), total("failures"), total("errors")),
        (5, 2, 1)
    );
    assert_eq!(root["time"], "1.252");

    let suites: Vec<(&str, &str, &str, &str)> = junit
        .suites
        .iter()
        .map(|(a, _)| {
            (
                a["name"].as_str(),
                a["tests"].as_str(),
                a["failures"].as_str(),
                a["errors"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        suites,
        [
            ("greet / echo", "1", "0", "0"),
            ("greet / local:smollm2", "2", "1", "1"),
            ("summarize <v2> / echo", "2", "1", "0"),
        ]
    );
    let (first, props) = &junit.suites[0];
    assert_eq!(first["timestamp"], "2024-05-01T12:00:00");
    assert_eq!(props["incant.run_id"], "20240501-abc");
    assert_eq!(props["incant.provider"], "echo");

    assert_eq!(junit.cases.len(), 5);
    let c = &junit.cases;
    assert_eq!(c[0].attrs["name"], "greets by name");
    assert_eq!(c[0].attrs["classname"], "greet.echo");
    assert_eq!(c[0].attrs["time"], "0.250");
    assert!(!c[0].children.contains_key("failure"));
    assert_eq!(c[0].children["system-out"].1, "output 0");

    // The failing case: name from its variables, the failed assertion in the message.
    assert!(
        c[1].attrs["name"].starts_with("nested={\"k\":"),
        "{}",
        c[1].attrs["name"]
    );
    let (message, body) = &c[1].children["failure"];
    let message = message.as_deref().unwrap();
    assert!(
        message.starts_with("contains: output lacks say \"hi\""),
        "{message}"
    );
    assert!(body.contains(&xml_safe(&format!(
        "FAIL contains (score 0.000): output lacks {NASTY}"
    ))));
    assert!(body.contains("PASS not-equals (score 1.000): differs"));
    assert_eq!(c[1].children["system-out"].1, xml_safe(NASTY));

    let (message, body) = &c[2].children["error"];
    assert!(message
        .as_deref()
        .unwrap()
        .starts_with("provider failed: say"));
    assert_eq!(body, &xml_safe(&format!("provider failed: {NASTY}")));
    assert!(!c[2].children.contains_key("system-out"));

    assert_eq!(c[3].attrs["name"], xml_safe(NASTY));
    assert_eq!(c[3].attrs["classname"], "summarize <v2>.echo");
    assert_eq!(c[4].attrs["name"], "case 4 (repeat 1)");
    let message = c[4].children["failure"].0.as_deref().unwrap();
    assert_eq!(message, "score 0.250 is below the case's threshold");
}

#[test]
fn junit_groups_interleaved_cases_into_their_suites() {
    // A live run finishes cases in any order; suites still come out whole, in matrix order.
    let mut cases: Vec<CaseResult> = (0..40)
        .map(|i| {
            let mut c = case(i, ["p1", "p2"][i / 20], ["a", "b"][i / 10 % 2]);
            c.pass = i % 3 != 0;
            c
        })
        .collect();
    cases.reverse();
    cases.swap(3, 30);
    let (text, summary) = write(Format::Junit, RunInfo::default(), &cases);
    assert_eq!(summary.failed, 14);
    let junit = parse_junit(&text);
    let names: Vec<&str> = junit.suites.iter().map(|s| s.0["name"].as_str()).collect();
    assert_eq!(names, ["p1 / a", "p1 / b", "p2 / a", "p2 / b"]);
    for (suite, _) in &junit.suites {
        assert_eq!(suite["tests"], "10");
        let in_suite = junit
            .cases
            .iter()
            .filter(|c| c.suite == suite["name"])
            .count();
        assert_eq!(in_suite, 10);
    }
    let failures: usize = junit
        .suites
        .iter()
        .map(|s| s.0["failures"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(failures, 14);
}

#[test]
fn junit_without_cases_is_valid() {
    let (text, _) = write(Format::Junit, RunInfo::default(), &[]);
    let junit = parse_junit(&text);
    assert_eq!(junit.root["tests"], "0");
    assert!(junit.suites.is_empty());
}

/// The JSON inside `<script type="application/json" id="ID">`.
fn script_block<'a>(html: &'a str, id: &str) -> &'a str {
    let open = format!("<script type=\"application/json\" id=\"{id}\">");
    let start = html.find(&open).unwrap() + open.len();
    let len = html[start..].find("</script>").unwrap();
    &html[start..start + len]
}

#[test]
fn html_embeds_every_case_without_breaking_out_of_the_script() {
    let cases = sample();
    let (html, summary) = write(Format::Html, info(), &cases);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.ends_with("</html>\n"));
    // Three data blocks and the viewer: no case text may close a script early.
    assert_eq!(html.matches("</script>").count(), 4);
    assert_eq!(html.matches("<script").count(), 4);
    assert!(!html.contains("alert(1)</script>"));
    assert!(!html.contains("<!-- x"));
    assert!(!html.contains("<b>bold"));
    // Self-contained: nothing is loaded from elsewhere.
    for needle in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(needle), "report contains {needle:?}");
    }
    // The title is escaped text.
    assert!(html.contains("<title>suite say &quot;hi&quot;, it&#39;s; a\nnew line"));

    let meta: Value = serde_json::from_str(script_block(&html, "incant-meta")).unwrap();
    let fields: Vec<&str> = meta["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let at = |name: &str| fields.iter().position(|f| *f == name).unwrap();
    assert_eq!(
        meta["prompts"],
        serde_json::json!(["greet", "summarize <v2>"])
    );
    assert_eq!(
        meta["providers"],
        serde_json::json!(["echo", "local:smollm2"])
    );
    let s: Summary = serde_json::from_value(meta["summary"].clone()).unwrap();
    assert_eq!(s, summary);

    let info_block: Value = serde_json::from_str(script_block(&html, "incant-info")).unwrap();
    assert_eq!(info_block["description"], NASTY);

    let rows: Vec<Vec<Value>> = serde_json::from_str(script_block(&html, "incant-cases")).unwrap();
    assert_eq!(rows.len(), cases.len());
    for (row, case) in rows.iter().zip(&cases) {
        assert_eq!(row.len(), fields.len());
        assert_eq!(row[at("index")], case.index);
        let prompt = row[at("prompt")].as_u64().unwrap() as usize;
        assert_eq!(meta["prompts"][prompt], case.prompt.as_str());
        let provider = row[at("provider")].as_u64().unwrap() as usize;
        assert_eq!(meta["providers"][provider], case.provider.as_str());
        assert_eq!(row[at("vars")], Value::Object(case.vars.clone()));
        assert_eq!(row[at("output")], serde_json::json!(case.output));
        assert_eq!(row[at("rendered")], serde_json::json!(case.rendered));
        assert_eq!(row[at("error")], serde_json::json!(case.error));
        assert_eq!(row[at("pass")], case.pass);
        assert_eq!(row[at("score")], case.score);
        assert_eq!(row[at("repeat")], case.repeat);
        assert_eq!(row[at("cached")], case.cached);
        let assertions = row[at("assertions")].as_array().unwrap();
        assert_eq!(assertions.len(), case.assertions.len());
        for (a, want) in assertions.iter().zip(&case.assertions) {
            assert_eq!(a[0], want.kind.as_str());
            assert_eq!(a[1], want.grade.pass);
            assert_eq!(a[2], want.grade.score);
            assert_eq!(a[3], want.grade.reason.as_str());
        }
    }
    assert_eq!(rows[1][at("output")], NASTY);
}

#[test]
fn html_names_prompts_and_providers_first_seen_in_cases() {
    let (html, _) = write(
        Format::Html,
        RunInfo::default(),
        &[case(0, "late", "x"), case(1, "late", "y")],
    );
    let meta: Value = serde_json::from_str(script_block(&html, "incant-meta")).unwrap();
    assert_eq!(meta["prompts"], serde_json::json!(["late"]));
    assert_eq!(meta["providers"], serde_json::json!(["x", "y"]));
    assert!(html.contains("<title>incant report</title>"));

    let (html, _) = write(Format::Html, RunInfo::default(), &[]);
    assert_eq!(script_block(&html, "incant-cases"), "[]");
}

#[test]
fn create_picks_the_format_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.CSV");
    let mut w = ReportWriter::create(&path, info()).unwrap();
    w.case(&case(0, "p", "q")).unwrap();
    w.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("run_id,index,prompt,"));

    let err = ReportWriter::create(&dir.path().join("results.txt"), info())
        .err()
        .unwrap();
    assert!(err.hint().unwrap().contains(".html"));
    assert!(!dir.path().join("results.txt").exists());
}
