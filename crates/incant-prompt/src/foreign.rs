//! Prompt files in promptfoo's forms, read as [`PromptFile`]s so a `promptfooconfig.yaml`
//! runs unchanged: a `.txt` file holds one or more plain prompts separated by lines of
//! `---` (one prompt each, named `STEM`, `STEM#2`, ...), and a `.json` file holds a chat
//! as a list of `{role, content}` messages (contents are templates). incant's own
//! `.prompt` and Prompty `.prompty` files go through [`PromptFile::parse`].

use crate::file::{PromptFile, PromptKind, Section};
use crate::PromptError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads every prompt in a file (most files hold one).
pub fn load_prompts(path: &Path) -> Result<Vec<PromptFile>, PromptError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PromptError::new(path, format!("cannot read: {e}"))
            .hint("check the path in the suite's `prompts`")
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("txt") => Ok(split_text(path, &text)),
        Some("json") => Ok(vec![chat_json(path, &text)?]),
        _ => Ok(vec![PromptFile::parse(path, &text)?]),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn prompt(
    path: &Path,
    name: String,
    kind: PromptKind,
    sections: Vec<Section>,
    source: &str,
) -> PromptFile {
    PromptFile {
        path: path.to_path_buf(),
        name,
        version: None,
        description: None,
        model: None,
        params: Map::new(),
        inputs: BTreeMap::new(),
        kind,
        sections,
        negative: None,
        image: None,
        source: source.to_string(),
    }
}

/// promptfoo's `.txt` prompts: the text, split on lines that are exactly `---`.
fn split_text(path: &Path, text: &str) -> Vec<PromptFile> {
    let mut parts: Vec<(String, usize)> = vec![(String::new(), 1)];
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end_matches(['\n', '\r']) == "---" {
            parts.push((String::new(), i + 2));
        } else if let Some((part, _)) = parts.last_mut() {
            part.push_str(line);
        }
    }
    let parts: Vec<(String, usize)> = parts
        .into_iter()
        .map(|(t, line)| (t.trim().to_string(), line))
        .filter(|(t, _)| !t.is_empty())
        .collect();
    let stem = stem(path);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (template, line))| {
            let name = if i == 0 {
                stem.clone()
            } else {
                format!("{stem}#{}", i + 1)
            };
            let sections = vec![Section {
                role: None,
                template: template.clone(),
                line,
            }];
            prompt(path, name, PromptKind::Completion, sections, &template)
        })
        .collect()
}

/// promptfoo's `.json` chat prompts: `[{"role": "system", "content": "..."}, ...]`.
fn chat_json(path: &Path, text: &str) -> Result<PromptFile, PromptError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        PromptError::new(path, format!("invalid JSON: {e}")).at(e.line(), e.column())
    })?;
    let bad = || {
        PromptError::new(path, "a .json prompt is a list of {role, content} messages")
            .at(1, 1)
            .hint(r#"e.g. [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{question}}"}]"#)
    };
    let Value::Array(messages) = v else {
        return Err(bad());
    };
    let sections = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).ok_or_else(bad)?;
            let content = m.get("content").and_then(Value::as_str).ok_or_else(bad)?;
            Ok(Section {
                role: Some(role.to_string()),
                template: content.to_string(),
                line: 1,
            })
        })
        .collect::<Result<Vec<_>, PromptError>>()?;
    if sections.is_empty() {
        return Err(bad());
    }
    Ok(prompt(path, stem(path), PromptKind::Chat, sections, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_split_on_dashes_and_json_files_are_chats() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("answer.txt");
        std::fs::write(&txt, "Say {{ a }}\n---\nShout {{ a }}\n---\n").unwrap();
        let ps = load_prompts(&txt).unwrap();
        let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["answer", "answer#2"]);
        assert_eq!(ps[1].sections[0].template, "Shout {{ a }}");
        assert_eq!(ps[1].sections[0].line, 3);
        let vars = serde_json::json!({"a": "hi"}).as_object().unwrap().clone();
        assert_eq!(ps[0].render(&vars).unwrap().messages[0].content, "Say hi");

        let json = dir.path().join("chat.json");
        std::fs::write(
            &json,
            r#"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ a }}?"}]"#,
        )
        .unwrap();
        let p = &load_prompts(&json).unwrap()[0];
        assert_eq!(p.kind, PromptKind::Chat);
        let m = p.render(&vars).unwrap().messages;
        assert_eq!((m[1].role.as_str(), m[1].content.as_str()), ("user", "hi?"));

        std::fs::write(&json, r#"{"role": "user"}"#).unwrap();
        let e = load_prompts(&json).unwrap_err();
        assert!(e.to_string().contains("list of {role, content}"), "{e}");
        std::fs::write(&json, "[1,").unwrap();
        assert!(load_prompts(&json)
            .unwrap_err()
            .to_string()
            .contains("invalid JSON"));
    }
}
