//! Test suites (`incant.yaml`): which prompts, which providers, which test cases.
//!
//! ```yaml
//! prompts: [prompts/*.prompt]          # paths and globs, relative to the suite
//! providers:
//!   - local:smollm2
//!   - id: openai:chat:gpt-4o-mini
//!     config: { apiBaseUrl: "http://127.0.0.1:8080/v1" }
//! defaultTest:
//!   assert: [{ type: not-contains, value: "As an AI" }]
//! tests:
//!   - description: capitals
//!     vars: { country: [France, Japan] }  # a list expands: one case per value
//!     assert: [{ type: icontains, value: "{{ capital }}" }]
//!   - file://cases.csv                    # or .jsonl / .yaml, one case per row
//! options: { maxConcurrency: 4, repeat: 1, seed: 0 }
//! ```
//!
//! Parsing resolves every file reference and expands list variables into a cartesian
//! product, so the runner sees a flat list of [`TestCase`]s. Unknown keys are errors that
//! name the nearest valid key; every error carries file:line:column.

use crate::cases::{load_cases, TestCase, TestList};
use crate::{nearest, PromptError};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Top-level keys of a suite.
const SUITE_KEYS: &[&str] = &[
    "description",
    "prompts",
    "providers",
    "targets",
    "tests",
    "defaultTest",
    "options",
    "outputPath",
];
/// Keys of one test.
const TEST_KEYS: &[&str] = &[
    "description",
    "vars",
    "assert",
    "options",
    "threshold",
    "metadata",
];
/// Keys of `options`.
const OPTION_KEYS: &[&str] = &["maxConcurrency", "repeat", "timeoutMs", "cache", "seed"];

/// A provider reference with its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    /// `local:smollm2`, `openai:chat:MODEL`, `exec:CMD`, `echo` ...
    pub id: String,
    /// Display name.
    pub label: Option<String>,
    /// Provider settings.
    pub config: Map<String, Value>,
}

/// Runner settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteOptions {
    /// Cases in flight at once.
    pub max_concurrency: usize,
    /// Runs of each case.
    pub repeat: usize,
    /// Per-call time limit.
    pub timeout_ms: Option<u64>,
    /// Use the response cache.
    pub cache: bool,
    /// Seed passed to providers that take one.
    pub seed: Option<u64>,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            max_concurrency: 4,
            repeat: 1,
            timeout_ms: None,
            cache: true,
            seed: None,
        }
    }
}

/// A parsed suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The suite file.
    pub path: PathBuf,
    /// What it tests.
    pub description: Option<String>,
    /// Prompt files (resolved paths) in order.
    pub prompt_files: Vec<PathBuf>,
    /// Inline prompt texts.
    pub inline_prompts: Vec<String>,
    /// Providers in order.
    pub providers: Vec<ProviderSpec>,
    /// Every case after expansion, with `defaultTest` merged in.
    pub tests: TestList,
    /// Runner settings.
    pub options: SuiteOptions,
    /// Where to write the report when the command line names none (`outputPath`,
    /// relative to the suite file).
    pub output_path: Option<PathBuf>,
}

impl Suite {
    /// Reads a suite file, or `DIR/incant.yaml` when given a folder.
    pub fn load(path: &Path) -> Result<Self, PromptError> {
        let path = if path.is_dir() {
            path.join("incant.yaml")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PromptError::new(&path, format!("cannot read suite: {e}"))
                .hint("pass a suite file or a folder holding incant.yaml")
        })?;
        Self::parse(&path, &text)
    }

    /// Parses suite text; relative paths resolve against the file's folder.
    pub fn parse(path: &Path, text: &str) -> Result<Self, PromptError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let raw: Value =
            serde_norway::from_str(text).map_err(|e| crate::yaml_error(path, &e, 0, "YAML"))?;
        let Value::Object(map) = raw else {
            return Err(PromptError::new(path, "a suite must be a YAML mapping").at(1, 1));
        };
        let locate = |key: &str| find_key(text, key);
        check_keys(path, &map, SUITE_KEYS, &locate, "suite")?;
        let mut prompt_files = Vec::new();
        let mut inline_prompts = Vec::new();
        for p in seq(&map, "prompts") {
            match p {
                Value::String(s) if s.contains("{{") || s.contains('\n') => {
                    inline_prompts.push(s.clone())
                }
                Value::String(s) => prompt_files.extend(expand_path(
                    path,
                    dir,
                    s.trim_start_matches("file://"),
                    &locate,
                )?),
                Value::Object(m) => match m
                    .get("raw")
                    .or_else(|| m.get("path"))
                    .and_then(Value::as_str)
                {
                    Some(s) if m.contains_key("raw") => inline_prompts.push(s.to_string()),
                    Some(s) => prompt_files.extend(expand_path(path, dir, s, &locate)?),
                    None => {
                        let (l, c) = locate("prompts");
                        return Err(
                            PromptError::new(path, "a prompt entry needs `raw` or `path`").at(l, c),
                        );
                    }
                },
                _ => {
                    let (l, c) = locate("prompts");
                    return Err(
                        PromptError::new(path, "prompts are paths, globs or inline text").at(l, c),
                    );
                }
            }
        }
        let providers = seq(&map, "providers")
            .chain(seq(&map, "targets"))
            .map(|p| provider(path, p, &locate))
            .collect::<Result<Vec<_>, _>>()?;
        let default = map
            .get("defaultTest")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let mut tests = TestList::default();
        let add =
            |tests: &mut TestList, cases: Vec<TestCase>| cases.iter().for_each(|c| tests.push(c));
        let items = list_items(text, "tests");
        for (k, t) in seq(&map, "tests").enumerate() {
            match t {
                Value::String(s) => {
                    let rel = s.trim_start_matches("file://");
                    load_cases(path, dir, rel, &locate, &mut |row, n| {
                        add(
                            &mut tests,
                            expand(
                                path,
                                &row,
                                &default,
                                format!("{}:{n}", dir.join(rel).display()),
                                &locate,
                            )?,
                        );
                        Ok(())
                    })?;
                }
                Value::Object(_) => {
                    let (l, c) = items.get(k).copied().unwrap_or_else(|| locate("tests"));
                    let origin = format!("{}:{l}:{c}", path.display());
                    add(&mut tests, expand(path, t, &default, origin, &locate)?);
                }
                _ => {
                    let (l, c) = locate("tests");
                    return Err(PromptError::new(
                        path,
                        "a test is a mapping or a file:// reference",
                    )
                    .at(l, c));
                }
            }
        }
        if tests.is_empty() && map.contains_key("defaultTest") {
            add(
                &mut tests,
                expand(
                    path,
                    &Value::Object(Map::new()),
                    &default,
                    path.display().to_string(),
                    &locate,
                )?,
            );
        }
        let options = options(path, map.get("options"), &locate)?;
        let output_path = match map.get("outputPath") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(dir.join(p)),
            Some(_) => {
                let (l, c) = locate("outputPath");
                return Err(PromptError::new(path, "`outputPath` must be a file path").at(l, c));
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            description: map
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            prompt_files,
            inline_prompts,
            providers,
            tests,
            options,
            output_path,
        })
    }
}

fn seq<'a>(map: &'a Map<String, Value>, key: &str) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
    match map.get(key) {
        Some(Value::Array(a)) => Box::new(a.iter()),
        Some(v @ Value::String(_)) | Some(v @ Value::Object(_)) => Box::new(std::iter::once(v)),
        _ => Box::new(std::iter::empty()),
    }
}

fn check_keys(
    path: &Path,
    map: &Map<String, Value>,
    valid: &[&str],
    locate: &dyn Fn(&str) -> (usize, usize),
    what: &str,
) -> Result<(), PromptError> {
    for key in map.keys() {
        if !valid.contains(&key.as_str()) {
            let (l, c) = locate(key);
            let e = PromptError::new(path, format!("unknown {what} key `{key}`")).at(l, c);
            return Err(match nearest(key, valid) {
                Some(n) => e.hint(format!("did you mean `{n}`?")),
                None => e.hint(format!("valid keys: {}", valid.join(", "))),
            });
        }
    }
    Ok(())
}

/// (line, column) of each `- ` item of the block list under the top-level `key:`, so an
/// error in the third test points at the third test. Flow lists (`[a, b]`) have none.
fn list_items(text: &str, key: &str) -> Vec<(usize, usize)> {
    let mut items = Vec::new();
    let mut item_indent = None;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if !inside {
            inside = indent == 0
                && trimmed
                    .strip_prefix(key)
                    .is_some_and(|r| r.starts_with(':'));
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent == 0 && !trimmed.starts_with("- ") {
            break;
        }
        if trimmed.starts_with("- ") && *item_indent.get_or_insert(indent) == indent {
            items.push((i + 1, indent + 1));
        }
    }
    items
}

/// (line, column) of the first `key:` in the text; (1, 1) when not found.
fn find_key(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start().trim_start_matches("- ");
        if t.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

fn expand_path(
    suite: &Path,
    dir: &Path,
    pattern: &str,
    locate: &dyn Fn(&str) -> (usize, usize),
) -> Result<Vec<PathBuf>, PromptError> {
    let full = dir.join(pattern);
    let (l, c) = locate("prompts");
    if !pattern.contains(['*', '?', '[']) {
        if !full.is_file() {
            return Err(PromptError::new(
                suite,
                format!("prompt file {} does not exist", full.display()),
            )
            .at(l, c)
            .hint("paths are relative to the suite file"));
        }
        return Ok(vec![full]);
    }
    let mut found: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
        .map_err(|e| PromptError::new(suite, format!("bad glob `{pattern}`: {e}")).at(l, c))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(
            PromptError::new(suite, format!("glob `{pattern}` matches no file"))
                .at(l, c)
                .hint("paths are relative to the suite file"),
        );
    }
    Ok(found)
}

fn provider(
    path: &Path,
    v: &Value,
    locate: &dyn Fn(&str) -> (usize, usize),
) -> Result<ProviderSpec, PromptError> {
    match v {
        Value::String(id) => Ok(ProviderSpec {
            id: id.clone(),
            label: None,
            config: Map::new(),
        }),
        Value::Object(m) => {
            let id = m.get("id").and_then(Value::as_str).ok_or_else(|| {
                let (l, c) = locate("providers");
                PromptError::new(path, "a provider needs an `id`")
                    .at(l, c)
                    .hint("e.g. `id: local:smollm2`")
            })?;
            Ok(ProviderSpec {
                id: id.to_string(),
                label: m.get("label").and_then(Value::as_str).map(str::to_string),
                config: m
                    .get("config")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        }
        _ => {
            let (l, c) = locate("providers");
            Err(PromptError::new(path, "a provider is an id or a mapping with `id`").at(l, c))
        }
    }
}

/// One test mapping merged with `defaultTest` and expanded over list variables.
fn expand(
    path: &Path,
    test: &Value,
    default: &Value,
    origin: String,
    locate: &dyn Fn(&str) -> (usize, usize),
) -> Result<Vec<TestCase>, PromptError> {
    let Value::Object(t) = test else {
        return Err(PromptError::new(path, "a test must be a mapping").at(locate("tests").0, 1));
    };
    check_keys(path, t, TEST_KEYS, locate, "test")?;
    // promptfoo's per-test `options` (prefix, suffix, transform, grader provider ...) are
    // not mapped; refuse them rather than run the test differently from what it says.
    if let Some(Value::Object(o)) = t.get("options").or_else(|| default.get("options")) {
        if let Some(key) = o.keys().next() {
            let (l, c) = locate(key);
            return Err(PromptError::new(
                path,
                format!("test option `{key}` is not supported"),
            )
            .at(l, c)
            .hint("set grader providers on the assertion (`provider:`); put prefixes into the prompt"));
        }
    }
    let mut vars = default
        .get("vars")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(v) = t.get("vars").and_then(Value::as_object) {
        vars.extend(v.clone());
    }
    let mut assert: Vec<Value> = default
        .get("assert")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert.extend(
        t.get("assert")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    let description = t
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let threshold = match t.get("threshold").or_else(|| default.get("threshold")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| {
            let (l, c) = locate("threshold");
            PromptError::new(path, "a test's `threshold` must be a number").at(l, c)
        })?),
    };
    // Cartesian product over variables whose value is a list.
    let mut combos: Vec<Map<String, Value>> = vec![Map::new()];
    for (k, v) in &vars {
        let choices: Vec<Value> = match v {
            Value::Array(a) if !a.is_empty() => a.clone(),
            other => vec![other.clone()],
        };
        combos = combos
            .into_iter()
            .flat_map(|c| {
                choices.iter().map(move |choice| {
                    let mut c = c.clone();
                    c.insert(k.clone(), choice.clone());
                    c
                })
            })
            .collect();
    }
    Ok(combos
        .into_iter()
        .map(|vars| TestCase {
            description: description.clone(),
            vars,
            assert: assert.clone(),
            origin: origin.clone(),
            threshold,
        })
        .collect())
}

fn options(
    path: &Path,
    v: Option<&Value>,
    locate: &dyn Fn(&str) -> (usize, usize),
) -> Result<SuiteOptions, PromptError> {
    let mut o = SuiteOptions::default();
    let Some(v) = v else { return Ok(o) };
    let Value::Object(m) = v else {
        let (l, c) = locate("options");
        return Err(PromptError::new(path, "`options` must be a mapping").at(l, c));
    };
    check_keys(path, m, OPTION_KEYS, locate, "options")?;
    let num = |k: &str| -> Result<Option<u64>, PromptError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                let (l, c) = locate(k);
                PromptError::new(path, format!("`options.{k}` must be a whole number")).at(l, c)
            }),
        }
    };
    if let Some(n) = num("maxConcurrency")? {
        o.max_concurrency = (n as usize).max(1);
    }
    if let Some(n) = num("repeat")? {
        o.repeat = (n as usize).max(1);
    }
    o.timeout_ms = num("timeoutMs")?;
    o.seed = num("seed")?;
    if let Some(c) = m.get("cache") {
        o.cache = c.as_bool().ok_or_else(|| {
            let (l, col) = locate("cache");
            PromptError::new(path, "`options.cache` must be true or false").at(l, col)
        })?;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn expands_globs_lists_files_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "prompts/a.prompt", "Say {{ word }}");
        write(d, "prompts/b.prompt", "Shout {{ word }}");
        write(d, "cases.csv", "word,__expected\nhi,contains:hi\nyo,\n");
        write(
            d,
            "cases.jsonl",
            "{\"vars\": {\"word\": \"x\"}}\n\n{\"vars\": {\"word\": \"y\"}}\n",
        );
        let suite = write(
            d,
            "incant.yaml",
            "prompts: [prompts/*.prompt, 'Inline {{ word }}']\nproviders:\n  - echo\n  - id: local:smollm2\n    label: small\n    config: {temperature: 0}\ndefaultTest:\n  assert: [{type: not-contains, value: error}]\ntests:\n  - vars: {word: [a, b, c], n: 1}\n  - file://cases.csv\n  - file://cases.jsonl\noptions: {maxConcurrency: 8, repeat: 2}\n",
        );
        let s = Suite::load(d).unwrap();
        assert_eq!(s.path, suite);
        assert_eq!(s.prompt_files.len(), 2);
        assert_eq!(s.inline_prompts, ["Inline {{ word }}"]);
        assert_eq!(s.providers[1].label.as_deref(), Some("small"));
        assert_eq!(s.providers[1].config["temperature"], 0);
        // 3 from the list, 2 CSV rows, 2 JSONL rows.
        assert_eq!(s.tests.len(), 7);
        assert!(s
            .tests
            .iter()
            .all(|t| t.assert[0]["type"] == "not-contains"));
        assert_eq!(
            s.tests.get(3).assert[1],
            serde_json::json!({"type": "contains", "value": "hi"})
        );
        assert_eq!(s.tests.get(3).vars["word"], "hi");
        assert_eq!(s.options.max_concurrency, 8);
        assert_eq!(s.options.repeat, 2);
    }

    #[test]
    fn unknown_keys_and_missing_files_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = write(d, "incant.yaml", "prompts: [x.prompt]\nprovider: [echo]\n");
        let e = Suite::load(&p).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.hint.as_deref(), Some("did you mean `providers`?"));
        let p = write(d, "incant.yaml", "prompts: [missing.prompt]\n");
        let e = Suite::load(&p).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        let p = write(
            d,
            "incant.yaml",
            "tests:\n  - vars: {a: 1}\n    asert: []\n",
        );
        let e = Suite::load(&p).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.hint.as_deref(), Some("did you mean `assert`?"));
        let p = write(d, "incant.yaml", "tests: file://nope.csv\n");
        assert!(Suite::load(&p)
            .unwrap_err()
            .message
            .contains("cannot read test cases"));
        let p = write(d, "incant.yaml", "options: {repeat: two}\n");
        assert!(Suite::load(&p)
            .unwrap_err()
            .message
            .contains("whole number"));
        let p = write(d, "incant.yaml", "prompts: [a\n");
        assert!(Suite::load(&p)
            .unwrap_err()
            .message
            .contains("invalid YAML"));
    }

    #[test]
    fn bad_jsonl_row_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "c.jsonl", "{\"vars\": {}}\n{broken\n");
        let p = write(d, "incant.yaml", "tests: [file://c.jsonl]\n");
        let e = Suite::load(&p).unwrap_err();
        assert!(e.to_string().contains("c.jsonl:2:"), "{e}");
    }
}
