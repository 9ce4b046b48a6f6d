//! Test cases: reading them from CSV, JSONL and YAML files, and keeping the expanded list.
//!
//! A suite can expand to a million cases (a large CSV, list variables multiplied out).
//! Rows are read one at a time and expanded at once, and the expanded cases are kept as
//! compact JSON text in a [`TestList`] (about the size of the row in the file instead of
//! several kilobytes of parsed maps), decoded again when a case runs. Memory stays close to
//! the size of the input, whatever the number of cases.

use crate::PromptError;
use serde_json::{Map, Value};
use std::io::BufRead;
use std::path::Path;

/// One expanded test case.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestCase {
    /// Its description, when given.
    pub description: Option<String>,
    /// Variables for the prompt.
    pub vars: Map<String, Value>,
    /// Assertions as written (the runner interprets them).
    pub assert: Vec<Value>,
    /// Where it was defined (`file:line`), for reports.
    pub origin: String,
    /// When set, the case passes if its weighted score reaches this, whatever its
    /// individual assertions say (promptfoo's test-level `threshold`).
    pub threshold: Option<f64>,
}

/// The expanded test cases of a suite, each stored as compact JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestList {
    items: Vec<Box<str>>,
}

impl TestList {
    /// Number of cases.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds a case.
    pub fn push(&mut self, case: &TestCase) {
        let text = serde_json::to_string(case).expect("a test case is always serialisable");
        self.items.push(text.into_boxed_str());
    }

    /// Case `i`, decoded.
    ///
    /// # Panics
    /// When `i` is out of bounds.
    pub fn get(&self, i: usize) -> TestCase {
        serde_json::from_str(&self.items[i]).expect("stored by push, so it decodes")
    }

    /// Every case, in order.
    pub fn iter(&self) -> impl Iterator<Item = TestCase> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl From<Vec<TestCase>> for TestList {
    fn from(cases: Vec<TestCase>) -> Self {
        let mut list = Self::default();
        for c in &cases {
            list.push(c);
        }
        list
    }
}

/// Reads a CSV, JSONL or YAML cases file and hands each row to `on_row` as a test mapping
/// (with its line in the file; for YAML, its position in the list) as soon as it is read, so a file of a million rows is
/// never held in memory as parsed values.
pub(crate) fn load_cases(
    suite: &Path,
    dir: &Path,
    rel: &str,
    locate: &dyn Fn(&str) -> (usize, usize),
    on_row: &mut dyn FnMut(Value, usize) -> Result<(), PromptError>,
) -> Result<(), PromptError> {
    let file = dir.join(rel);
    let (l, c) = locate("tests");
    let open_error = |e: std::io::Error| {
        PromptError::new(
            suite,
            format!("cannot read test cases {}: {e}", file.display()),
        )
        .at(l, c)
        .hint("paths are relative to the suite file")
    };
    let reader = std::io::BufReader::new(std::fs::File::open(&file).map_err(open_error)?);
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "csv" => {
            let mut rdr = csv::Reader::from_reader(reader);
            let headers = rdr
                .headers()
                .map_err(|e| PromptError::new(&file, format!("invalid CSV header: {e}")).at(1, 1))?
                .clone();
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.map_err(|e| {
                    PromptError::new(&file, format!("invalid CSV row: {e}")).at(i + 2, 1)
                })?;
                let mut vars = Map::new();
                let mut asserts = Vec::new();
                let mut t = Map::new();
                let mut metric = None;
                let mut thresholds = Vec::new();
                for (h, v) in headers.iter().map(str::trim).zip(rec.iter()) {
                    let unsupported = |what: &str| {
                        PromptError::new(&file, format!("column `{h}` ({what}) is not supported"))
                            .at(1, 1)
                            .hint("remove the column; put the text into the prompt instead")
                    };
                    if h.starts_with("__expected") {
                        if !v.trim().is_empty() {
                            asserts.push(crate::expected::assertion_from_string(v.trim()));
                        }
                    } else if h == "__description" {
                        t.insert("description".into(), Value::String(v.to_string()));
                    } else if h == "__metric" {
                        metric = Some(v.to_string()).filter(|m| !m.is_empty());
                    } else if h == "__threshold" {
                        if let Ok(x) = v.trim().parse::<f64>() {
                            t.insert("threshold".into(), x.into());
                        }
                    } else if let Some(rest) = h.strip_prefix("__config:") {
                        let index = rest
                            .strip_suffix(":threshold")
                            .and_then(|e| e.strip_prefix("__expected"))
                            .and_then(|n| {
                                if n.is_empty() {
                                    Some(1)
                                } else {
                                    n.parse().ok()
                                }
                            })
                            .filter(|n: &usize| *n >= 1)
                            .ok_or_else(|| {
                                PromptError::new(&file, format!("invalid column `{h}`"))
                                    .at(1, 1)
                                    .hint("write __config:__expected<N>:threshold")
                            })?;
                        let x: f64 = v.trim().parse().map_err(|_| {
                            PromptError::new(
                                &file,
                                format!("`{v}` in column `{h}` is not a number"),
                            )
                            .at(i + 2, 1)
                        })?;
                        thresholds.push((index - 1, x));
                    } else if h.starts_with("__metadata") {
                        continue;
                    } else if h == "__prefix" || h == "__suffix" {
                        return Err(unsupported("prompt prefix/suffix"));
                    } else if h == "__providerOutput" {
                        return Err(unsupported("canned provider output"));
                    } else {
                        vars.insert(h.to_string(), Value::String(v.to_string()));
                    }
                }
                for (n, a) in asserts.iter_mut().enumerate() {
                    if let Some(m) = &metric {
                        a["metric"] = Value::String(m.clone());
                    }
                    if let Some((_, x)) = thresholds.iter().find(|(k, _)| *k == n) {
                        a["threshold"] = (*x).into();
                    }
                }
                t.insert("vars".into(), Value::Object(vars));
                if !asserts.is_empty() {
                    t.insert("assert".into(), Value::Array(asserts));
                }
                // The row's line in the file (the header is line 1; cells may span lines).
                let line = rec.position().map_or(i + 2, |p| p.line() as usize);
                on_row(Value::Object(t), line)?;
            }
            Ok(())
        }
        "jsonl" => {
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(open_error)?;
                if line.trim().is_empty() {
                    continue;
                }
                let row = serde_json::from_str(&line).map_err(|e| {
                    PromptError::new(&file, format!("invalid JSON: {e}")).at(i + 1, e.column())
                })?;
                on_row(row, i + 1)?;
            }
            Ok(())
        }
        "yaml" | "yml" => {
            let v: Value = serde_norway::from_reader(reader)
                .map_err(|e| crate::yaml_error(&file, &e, 0, "YAML"))?;
            match v {
                Value::Array(a) => {
                    for (i, row) in a.into_iter().enumerate() {
                        on_row(row, i + 1)?;
                    }
                    Ok(())
                }
                _ => Err(PromptError::new(&file, "a cases file holds a list of tests").at(1, 1)),
            }
        }
        other => Err(PromptError::new(
            suite,
            format!("test cases file type `.{other}` is not supported"),
        )
        .at(l, c)
        .hint("use .csv, .jsonl or .yaml")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cases_round_trip_through_the_compact_list() {
        let case = TestCase {
            description: Some("d".into()),
            vars: json!({"a": 1.5, "b": [1, "x"], "c": {"k": null}, "big": u64::MAX})
                .as_object()
                .unwrap()
                .clone(),
            assert: vec![json!({"type": "equals", "value": 0.1})],
            origin: "s.yaml:3".into(),
            threshold: Some(0.5),
        };
        let list = TestList::from(vec![case.clone(), case.clone()]);
        assert_eq!(list.len(), 2);
        assert_eq!(list.get(1), case);
        assert_eq!(list.iter().count(), 2);
    }
}
