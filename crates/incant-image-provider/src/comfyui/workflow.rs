//! ComfyUI workflow templates: a workflow in ComfyUI's API format with `{{placeholders}}`
//! where the request's values go.
//!
//! A user builds the graph in ComfyUI, exports it with "Save (API Format)", and writes
//! `"{{prompt}}"` into the positive CLIPTextEncode's `text`, `"{{seed}}"` into the
//! KSampler's `seed`, and so on. A string that is exactly one placeholder is replaced by
//! the value itself, so `"{{steps}}"` becomes the JSON number `20` that ComfyUI's
//! validation wants; a placeholder inside a longer string is replaced by its text
//! (`"cat, {{prompt}}"`). The template is checked once, when the provider is built: it
//! must be API format, use `{{prompt}}`, and use only the placeholders in
//! [`PLACEHOLDERS`]; a mistake is a config error naming the file.

use crate::ImageError;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "prompt",
    "negative",
    "seed",
    "steps",
    "cfg",
    "width",
    "height",
    "sampler",
    "scheduler",
    "batch_size",
];

/// A checked workflow template.
#[derive(Debug, Clone)]
pub struct Workflow {
    template: Value,
    path: PathBuf,
    used: BTreeSet<String>,
}

impl Workflow {
    /// Reads and checks the template at `path`.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ImageError::Config(format!(
                "cannot read the ComfyUI workflow {}: {e}",
                path.display()
            ))
        })?;
        let template: Value = serde_json::from_str(&text).map_err(|e| {
            ImageError::Config(format!(
                "{}:{}:{}: the ComfyUI workflow is not valid JSON: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        Self::new(template, path)
    }

    /// Checks a parsed template; `path` names it in errors.
    pub fn new(template: Value, path: &Path) -> Result<Self, ImageError> {
        let fail = |msg: String| ImageError::Config(format!("{}: {msg}", path.display()));
        let Some(nodes) = template.as_object() else {
            return Err(fail(
                "a ComfyUI workflow must be a JSON object of nodes".into(),
            ));
        };
        if nodes.contains_key("nodes") && nodes.contains_key("links") {
            return Err(fail(
                "this is a workflow in ComfyUI's UI format; export it with \"Save (API \
                 Format)\" (enable the dev mode options in ComfyUI's settings)"
                    .into(),
            ));
        }
        for (id, node) in nodes {
            if node.get("class_type").and_then(Value::as_str).is_none()
                || !node.get("inputs").is_some_and(Value::is_object)
            {
                return Err(fail(format!(
                    "node `{id}` has no `class_type` and `inputs`: is this ComfyUI's API format?"
                )));
            }
        }
        let mut used = BTreeSet::new();
        let mut unknown = None;
        visit_strings(&template, &mut |s| {
            for name in placeholders(s) {
                if PLACEHOLDERS.contains(&name) {
                    used.insert(name.to_string());
                } else if unknown.is_none() {
                    unknown = Some(name.to_string());
                }
            }
        });
        if let Some(name) = unknown {
            let hint = incant_prompt::nearest(&name, PLACEHOLDERS)
                .map_or_else(String::new, |n| format!("did you mean `{{{{{n}}}}}`? "));
            return Err(fail(format!(
                "unknown placeholder `{{{{{name}}}}}` ({hint}known: {})",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !used.contains("prompt") {
            return Err(fail(
                "the workflow has no `{{prompt}}` placeholder: put \"{{prompt}}\" in the \
                 positive prompt node's `text` input"
                    .into(),
            ));
        }
        Ok(Self {
            template,
            path: path.to_path_buf(),
            used,
        })
    }

    /// Whether the template uses placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    /// The template's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The workflow with every placeholder replaced by its value from `values` (names the
    /// template uses must all be there).
    pub fn fill(&self, values: &BTreeMap<&str, Value>) -> Value {
        fill(&self.template, values)
    }
}

/// The placeholder names in `s`: `{{name}}` with an identifier inside (spaces around it
/// allowed); other braces are text.
fn placeholders(s: &str) -> Vec<&str> {
    spans(s).into_iter().map(|(_, _, name)| name).collect()
}

/// `(start, end, name)` of each placeholder in `s`.
fn spans(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| from + i) {
        let Some(close) = s[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let name = s[open + 2..close].trim();
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ident {
            out.push((open, close + 2, name));
            from = close + 2;
        } else {
            from = open + 2;
        }
    }
    out
}

fn visit_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

fn fill(v: &Value, values: &BTreeMap<&str, Value>) -> Value {
    match v {
        Value::String(s) => {
            let found = spans(s);
            match found.as_slice() {
                [] => v.clone(),
                [(0, end, name)] if *end == s.len() => {
                    values.get(name).cloned().unwrap_or_else(|| v.clone())
                }
                _ => {
                    let mut out = String::with_capacity(s.len());
                    let mut last = 0;
                    for (start, end, name) in found {
                        out.push_str(&s[last..start]);
                        match values.get(name) {
                            Some(Value::String(text)) => out.push_str(text),
                            Some(other) => out.push_str(&other.to_string()),
                            None => out.push_str(&s[start..end]),
                        }
                        last = end;
                    }
                    out.push_str(&s[last..]);
                    Value::String(out)
                }
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, values)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill(x, values)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(text: &str) -> Value {
        json!({
            "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": "{{ steps }}",
                  "cfg": "{{cfg}}", "model": ["4", 0]}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text}},
        })
    }

    #[test]
    fn whole_placeholders_become_values_and_embedded_ones_text() {
        let wf = Workflow::new(
            graph("photo of {{prompt}}, {{steps}} steps {not} {{ }}"),
            Path::new("w.json"),
        )
        .unwrap();
        assert!(wf.uses("seed") && wf.uses("steps") && !wf.uses("negative"));
        let values = BTreeMap::from([
            ("prompt", json!("a cat")),
            ("seed", json!(42)),
            ("steps", json!(20)),
            ("cfg", json!(7.5)),
        ]);
        let out = wf.fill(&values);
        assert_eq!(out["3"]["inputs"]["seed"], json!(42));
        assert_eq!(out["3"]["inputs"]["steps"], json!(20));
        assert_eq!(out["3"]["inputs"]["cfg"], json!(7.5));
        assert_eq!(out["3"]["inputs"]["model"], json!(["4", 0]));
        assert_eq!(
            out["6"]["inputs"]["text"],
            json!("photo of a cat, 20 steps {not} {{ }}")
        );
    }

    #[test]
    fn unknown_and_missing_placeholders_name_the_file() {
        let err = Workflow::new(graph("{{promt}}"), Path::new("flows/sd.json")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("flows/sd.json: unknown placeholder `{{promt}}` (did you mean `{{prompt}}`? known: {{prompt}}, {{negative}}"),
            "{msg}"
        );
        let err = Workflow::new(graph("a cat"), Path::new("flows/sd.json")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("flows/sd.json: the workflow has no `{{prompt}}` placeholder"));
    }

    #[test]
    fn ui_format_and_non_graphs_are_refused() {
        let ui = json!({"nodes": [], "links": [], "version": 0.4});
        let err = Workflow::new(ui, Path::new("ui.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Save (API Format)"), "{err}");
        let err = Workflow::new(json!([1]), Path::new("x.json")).unwrap_err();
        assert!(err.to_string().contains("JSON object of nodes"));
        let err = Workflow::new(json!({"1": {"inputs": {}}}), Path::new("x.json")).unwrap_err();
        assert!(err.to_string().contains("node `1` has no `class_type`"));
    }

    #[test]
    fn unreadable_and_invalid_files_are_config_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\n  \"3\": ,\n}").unwrap();
        let err = Workflow::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.json:2:8: the ComfyUI workflow is not valid JSON"),
            "{err}"
        );
        let err = Workflow::load(&dir.join("missing.json")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read the ComfyUI workflow"));
    }
}
