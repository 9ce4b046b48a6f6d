//! Tests of the snapshot store: recording, accepting, rejecting, stable files, bad folders.

use super::*;
use serde_json::json;

fn vars(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Every file in the folder with its text.
fn files(dir: &Path) -> BTreeMap<String, String> {
    match std::fs::read_dir(dir.join(DIR)) {
        Err(_) => BTreeMap::new(),
        Ok(rd) => rd
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect(),
    }
}

#[test]
fn keys_are_stable_and_sorted() {
    let a = case_key(
        "echo",
        &vars(json!({"b": {"y": 1, "x": 2}, "a": "hi"})),
        0,
        None,
    );
    let b = case_key(
        "echo",
        &vars(json!({"a": "hi", "b": {"x": 2, "y": 1}})),
        0,
        None,
    );
    assert_eq!(a, b);
    assert_eq!(a, r#"echo {"a":"hi","b":{"x":2,"y":1}} #1"#);
    assert_eq!(
        case_key("p", &vars(json!({})), 3, Some("tone")),
        "p {} @tone"
    );
    assert_eq!(file_stem("greet-v2.x"), "greet-v2.x");
    let odd = file_stem("suite.yaml#inline-1");
    assert!(
        odd.starts_with("suite.yaml_inline-1-") && odd.len() == 28,
        "{odd}"
    );
    assert_ne!(file_stem("a/b"), file_stem("a_b"));
}

#[test]
fn record_accept_reject() {
    let dir = tempfile::tempdir().unwrap();
    // No folder: an empty store; a run with nothing new writes nothing.
    let s = Session::open(dir.path()).unwrap();
    assert_eq!(s.finish().unwrap(), Written::default());
    assert!(files(dir.path()).is_empty());

    let s = Session::open(dir.path()).unwrap();
    s.record("greet", "k1", 1, "second repeat");
    s.record("greet", "k1", 0, "line one\nline two");
    s.record("greet", "k2", 0, "hello");
    assert_eq!(s.finish().unwrap().pending, 2);
    let f = files(dir.path());
    assert_eq!(f.keys().collect::<Vec<_>>(), ["greet.pending.json"]);
    assert_eq!(
        f["greet.pending.json"],
        r#"{
  "prompt": "greet",
  "snapshots": {
    "k1": {
      "output": [
        "line one",
        "line two"
      ]
    },
    "k2": {
      "output": "hello"
    }
  }
}
"#
    );

    let mut store = Store::open(dir.path()).unwrap();
    let pending = store.pending();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].pending, "line one\nline two");
    assert_eq!(pending[0].accepted, None);
    assert!(store.accept("greet", "k1").unwrap());
    assert!(store.reject("greet", "k2").unwrap());
    assert!(!store.reject("greet", "k2").unwrap());
    let f = files(dir.path());
    assert_eq!(f.keys().collect::<Vec<_>>(), ["greet.snap.json"]);
    let before = f["greet.snap.json"].clone();

    // A match drops nothing and writes nothing; a difference is pending beside the
    // accepted snapshot, which stays as it was.
    let s = Session::open(dir.path()).unwrap();
    assert_eq!(
        s.accepted("greet", "k1").as_deref(),
        Some("line one\nline two")
    );
    s.matched("greet", "k1");
    s.finish().unwrap();
    assert_eq!(files(dir.path()).len(), 1);
    let s = Session::open(dir.path()).unwrap();
    s.matched("greet", "k1");
    s.record("greet", "k1", 2, "line one\nline 2");
    s.finish().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.pending()[0].accepted.as_deref(),
        Some("line one\nline two")
    );
    assert_eq!(files(dir.path())["greet.snap.json"], before);
    // ...and a later match clears the stale pending entry.
    let s = Session::open(dir.path()).unwrap();
    s.matched("greet", "k1");
    s.finish().unwrap();
    assert_eq!(
        files(dir.path()).keys().collect::<Vec<_>>(),
        ["greet.snap.json"]
    );
}

#[test]
fn stray_corrupt_and_misnamed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join(DIR);
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::write(snaps.join("notes.txt"), "hi").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, SnapshotError::Stray(_)), "{e}");
    assert!(
        e.to_string().contains("notes.txt: not a snapshot file"),
        "{e}"
    );
    assert!(e.hint().contains("move the file"));
    std::fs::remove_file(snaps.join("notes.txt")).unwrap();

    std::fs::write(snaps.join("greet.snap.json"), "{\"prompt\": ").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, SnapshotError::Corrupt { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("greet.snap.json: corrupt snapshot file"));
    std::fs::write(
        snaps.join("greet.snap.json"),
        r#"{"prompt": "other", "snapshots": {}}"#,
    )
    .unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("belong in other.snap.json"), "{e}");
    std::fs::write(
        snaps.join("greet.snap.json"),
        r#"{"prompt": "greet", "snapshots": {"k": {"out": "x"}}}"#,
    )
    .unwrap();
    assert!(matches!(
        Store::open(dir.path()).unwrap_err(),
        SnapshotError::Corrupt { .. }
    ));
}

#[test]
fn line_diff_marks_changed_lines() {
    assert_eq!(line_diff("a\nb\nc", "a\nB\nc", 10), "  a\n- b\n+ B\n  c");
    assert_eq!(line_diff("x", "y", 1), "- x\n... (1 more lines)");
}

/// Embeds a text as (length, 1): texts of about the same length are "similar".
struct LengthGrader;

impl crate::Grader for LengthGrader {
    fn embed(&self, _: Option<&str>, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }

    fn complete(
        &self,
        _: Option<&str>,
        _: &[incant_prompt::file::Message],
    ) -> Result<String, String> {
        Err("no judge".into())
    }
}

fn run_suite(
    dir: &Path,
    prompt: &str,
    assert: Value,
    grader: Option<&dyn crate::Grader>,
) -> Vec<crate::runner::CaseResult> {
    use crate::runner::{run, Plan, Target};
    use incant_prompt::{PromptFile, TestCase, TestList};
    let prompts = vec![PromptFile::parse(Path::new("greet.prompt"), prompt).unwrap()];
    let echo = incant_provider::echo::Echo;
    let targets = vec![Target {
        label: "echo".into(),
        provider: &echo,
        config: serde_json::Map::new(),
    }];
    let tests: Vec<TestCase> = (0..8)
        .map(|i| TestCase {
            description: None,
            vars: vars(json!({ "n": i })),
            assert: vec![json!({"type": "contains", "value": "Say"}), assert.clone()],
            origin: "t".into(),
            threshold: None,
        })
        .collect();
    let session = Session::open(dir).unwrap();
    let plan = Plan {
        prompts: &prompts,
        targets: &targets,
        tests: &TestList::from(tests),
        base_dir: Some(dir),
        repeat: 2,
        cache: None,
        grader,
        snapshots: Some(&session),
    };
    let mut results = Vec::new();
    run(&plan, 4, &Default::default(), &Default::default(), |r| {
        results.push(r)
    });
    session.finish().unwrap();
    results.sort_by_key(|r| r.index);
    results
}

#[test]
fn runs_record_then_compare_exactly_or_semantically() {
    let dir = tempfile::tempdir().unwrap();
    let exact = json!({"type": "snapshot"});
    let r = run_suite(dir.path(), "Say {{ n }}", exact.clone(), None);
    assert!(r.iter().all(|r| r.pass), "{:?}", r[0]);
    assert!(r[0].assertions[1].grade.reason.starts_with("new snapshot"));
    let mut store = Store::open(dir.path()).unwrap();
    let pending = store.pending();
    assert_eq!(pending.len(), 8, "repeats share a key");
    assert_eq!(pending[0].key, r#"echo {"n":0} #2"#);
    for p in &pending {
        store.accept(&p.prompt, &p.key).unwrap();
    }
    let r = run_suite(dir.path(), "Say {{ n }}", exact.clone(), None);
    assert!(r.iter().all(|r| r.pass));
    assert_eq!(r[0].assertions[1].grade.reason, "matches the snapshot");
    // One character more: the exact snapshot fails, a semantic one at 0.99 passes.
    let r = run_suite(dir.path(), "Say: {{ n }}", exact, None);
    assert!(r.iter().all(|r| !r.pass));
    let why = &r[3].assertions[1].grade.reason;
    assert!(
        why.starts_with(r#"differs from the snapshot, line 1: "Say 1" -> "Say: 1""#),
        "{why}"
    );
    assert_eq!(Store::open(dir.path()).unwrap().pending().len(), 8);
    let semantic = json!({"type": "snapshot", "threshold": 0.99});
    let r = run_suite(
        dir.path(),
        "Say: {{ n }}",
        semantic.clone(),
        Some(&LengthGrader),
    );
    assert!(r.iter().all(|r| r.pass), "{:?}", r[0].assertions);
    assert!(r[0].assertions[1].grade.reason.contains("similarity"));
    assert!(
        Store::open(dir.path()).unwrap().pending().is_empty(),
        "matches clear stale pending entries"
    );
    // Without a grader a semantic snapshot cannot be graded.
    let r = run_suite(dir.path(), "Say: {{ n }}", semantic, None);
    assert!(r[0].assertions[1]
        .grade
        .reason
        .contains("needs an embedding model"));
}

#[test]
fn snapshot_assertions_are_checked_when_loading() {
    use crate::Assertion;
    let a = Assertion::parse(&json!({"type": "snapshot"})).unwrap();
    assert!(!a.needs_grader());
    assert!(
        Assertion::parse(&json!({"type": "snapshot", "threshold": 0.9}))
            .unwrap()
            .needs_grader()
    );
    for bad in [
        json!({"type": "not-snapshot"}),
        json!({"type": "snapshot", "value": 3}),
        json!({"type": "snapshot", "threshold": 2}),
    ] {
        assert!(Assertion::parse(&bad).is_err(), "{bad}");
    }
    let g = a.evaluate("x", &crate::Context::default());
    assert!(!g.pass && g.reason.contains("graded only in a run"));
}

#[test]
fn line_diff_keeps_one_line_of_context() {
    assert_eq!(
        line_diff("a\nb\nc\nd", "a\nb\nX\nY\nd", 10),
        "  b\n- c\n+ X\n+ Y\n  d"
    );
    assert_eq!(line_diff("a", "a\nb", 10), "  a\n+ b");
}
