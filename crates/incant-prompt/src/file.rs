//! Parsing a prompt file: front matter, then the body split into role sections.

use crate::inputs::{InputSpec, SPEC_FIELDS};
use crate::{nearest, PromptError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a prompt produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptKind {
    /// Chat messages.
    Chat,
    /// One plain text prompt.
    Completion,
    /// An image prompt.
    Image,
}

/// One role section of the body, as written (a template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `system`, `user`, `assistant`; `None` for a completion prompt's single section.
    pub role: Option<String>,
    /// The template text.
    pub template: String,
    /// The file line where the template text starts.
    pub line: usize,
}

/// A rendered chat message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Its role.
    pub role: String,
    /// Its text.
    pub content: String,
}

/// A parsed prompt file.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Its name (front matter, else the file stem).
    pub name: String,
    /// Its version, if declared.
    pub version: Option<semver::Version>,
    /// What it is for.
    pub description: Option<String>,
    /// Default model or provider id.
    pub model: Option<String>,
    /// Default parameters (temperature, max_tokens ...).
    pub params: Map<String, Value>,
    /// Typed inputs.
    pub inputs: BTreeMap<String, InputSpec>,
    /// Chat, completion or image.
    pub kind: PromptKind,
    /// The body, by role.
    pub sections: Vec<Section>,
    /// An image prompt's negative prompt (a template; role `negative`).
    pub negative: Option<Section>,
    /// An image prompt's generation settings, checked (`None` for text prompts).
    pub image: Option<crate::image::ImageParams>,
    /// The whole file text (for hashing and locks).
    pub source: String,
}

/// Front-matter keys of incant's own `.prompt` files.
const PROMPT_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "model",
    "params",
    "inputs",
    "kind",
    "negative",
    "tags",
];
/// Extra keys Prompty files carry; read (and `model.parameters` used) but otherwise ignored.
const PROMPTY_KEYS: &[&str] = &[
    "authors", "sample", "outputs", "template", "metadata", "base",
];

#[derive(Deserialize)]
struct FrontMatter {
    name: Option<String>,
    version: Option<Value>,
    description: Option<String>,
    model: Option<Value>,
    #[serde(default)]
    params: Map<String, Value>,
    #[serde(default)]
    inputs: BTreeMap<String, Value>,
    kind: Option<PromptKind>,
    negative: Option<String>,
}

impl PromptFile {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, PromptError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PromptError::new(path, format!("cannot read: {e}"))
                .hint("check the path in the suite's `prompts`")
        })?;
        Self::parse(path, &text)
    }

    /// Parses file text; `path` names it in errors and decides Prompty leniency.
    pub fn parse(path: &Path, text: &str) -> Result<Self, PromptError> {
        let prompty = path.extension().is_some_and(|e| e == "prompty");
        let (front, body, body_line) = split_front_matter(path, text)?;
        let fm = parse_front_matter(path, front, prompty)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let version = match &fm.version {
            None => None,
            Some(v) => {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(semver::Version::parse(&s).map_err(|e| {
                    let (l, c) = key_position(front, "version");
                    PromptError::new(path, format!("version `{s}` is not semver: {e}"))
                        .at(l, c)
                        .hint("write a version like 1.2.0 (major.minor.patch)")
                })?)
            }
        };
        let (model, params) = match fm.model {
            None => (None, fm.params),
            Some(Value::String(s)) => (Some(s), fm.params),
            // Prompty: model: { api, configuration: {...}, parameters: {...} }
            Some(Value::Object(m)) if prompty => {
                let params = m
                    .get("parameters")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let model = m
                    .get("configuration")
                    .and_then(|c| c.get("name").or_else(|| c.get("azure_deployment")))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                (model, params)
            }
            Some(_) => {
                let (l, c) = key_position(front, "model");
                return Err(PromptError::new(
                    path,
                    "`model` must be a provider id such as local:smollm2",
                )
                .at(l, c)
                .hint("put sampling settings under `params`"));
            }
        };
        let inputs = parse_inputs(path, front, fm.inputs, prompty)?;
        let sections = split_sections(path, body, body_line)?;
        let kind = fm
            .kind
            .unwrap_or(if sections.iter().any(|s| s.role.is_some()) {
                PromptKind::Chat
            } else {
                PromptKind::Completion
            });
        let negative = match fm.negative {
            None => None,
            Some(_) if kind != PromptKind::Image => {
                let (l, c) = key_position(front, "negative");
                return Err(PromptError::new(
                    path,
                    "`negative` is a negative prompt, which only image prompts have",
                )
                .at(l, c)
                .hint("add `kind: image`, or remove `negative`"));
            }
            Some(template) => Some(Section {
                role: Some("negative".into()),
                template,
                line: key_position(front, "negative").0,
            }),
        };
        let image = if kind == PromptKind::Image {
            let at = |key: &str| match key_line(front, key) {
                Some(pos) => pos,
                None => key_position(front, "params"),
            };
            Some(crate::image::ImageParams::from_params(path, &params, at)?)
        } else {
            None
        };
        Ok(Self {
            path: path.to_path_buf(),
            name: fm.name.unwrap_or(stem),
            version,
            description: fm.description,
            model,
            params,
            inputs,
            kind,
            sections,
            negative,
            image,
            source: text.to_string(),
        })
    }

    /// An image prompt's checked generation settings.
    pub fn image_params(&self) -> Option<&crate::image::ImageParams> {
        self.image.as_ref()
    }
}

/// Returns (front matter text, body text, 1-based line where the body starts).
fn split_front_matter<'a>(
    path: &Path,
    text: &'a str,
) -> Result<(&'a str, &'a str, usize), PromptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line_end = text.find('\n').map_or(text.len(), |i| i + 1);
    if text[..first_line_end].trim_end() != "---" {
        return Ok(("", text, 1));
    }
    let rest = &text[first_line_end..];
    let mut offset = 0;
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            let front = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Ok((front, body, i + 3));
        }
        offset += line.len();
    }
    Err(
        PromptError::new(path, "front matter opened with `---` is never closed")
            .at(1, 1)
            .hint("end the YAML front matter with a line containing only `---`"),
    )
}

fn parse_front_matter(path: &Path, front: &str, prompty: bool) -> Result<FrontMatter, PromptError> {
    if front.trim().is_empty() {
        return Ok(FrontMatter {
            name: None,
            version: None,
            description: None,
            model: None,
            params: Map::new(),
            inputs: BTreeMap::new(),
            kind: None,
            negative: None,
        });
    }
    let raw: Value = serde_norway::from_str(front)
        .map_err(|e| crate::yaml_error(path, &e, 1, "front matter"))?;
    let Value::Object(map) = &raw else {
        return Err(PromptError::new(path, "front matter must be a YAML mapping").at(2, 1));
    };
    for key in map.keys() {
        let known = PROMPT_KEYS.contains(&key.as_str())
            || (prompty && PROMPTY_KEYS.contains(&key.as_str()));
        if !known {
            let (l, c) = key_position(front, key);
            let mut e =
                PromptError::new(path, format!("unknown front-matter key `{key}`")).at(l, c);
            e = match nearest(key, PROMPT_KEYS) {
                Some(n) => e.hint(format!("did you mean `{n}`?")),
                None => e.hint(format!("valid keys: {}", PROMPT_KEYS.join(", "))),
            };
            return Err(e);
        }
    }
    serde_json::from_value(raw).map_err(|e| {
        PromptError::new(path, format!("invalid front matter: {e}"))
            .at(2, 1)
            .hint("check the types: `params` and `inputs` are mappings")
    })
}

fn parse_inputs(
    path: &Path,
    front: &str,
    raw: BTreeMap<String, Value>,
    prompty: bool,
) -> Result<BTreeMap<String, InputSpec>, PromptError> {
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        let (l, c) = key_position(front, &name);
        let v = match v {
            // `name: string` shorthand.
            Value::String(t) => serde_json::json!({ "type": t }),
            Value::Null => serde_json::json!({}),
            other => other,
        };
        if let Value::Object(m) = &v {
            for k in m.keys() {
                let prompty_extra = prompty && matches!(k.as_str(), "sample" | "is_required");
                if !SPEC_FIELDS.contains(&k.as_str()) && !prompty_extra {
                    let mut e =
                        PromptError::new(path, format!("input `{name}` has unknown field `{k}`"))
                            .at(l, c);
                    e = match nearest(k, SPEC_FIELDS) {
                        Some(n) => e.hint(format!("did you mean `{n}`?")),
                        None => e.hint(format!("valid fields: {}", SPEC_FIELDS.join(", "))),
                    };
                    return Err(e);
                }
            }
        }
        let mut v = v;
        if let Value::Object(m) = &mut v {
            m.remove("sample");
            if let Some(r) = m.remove("is_required") {
                m.insert("required".into(), r);
            }
        }
        let spec: InputSpec = serde_json::from_value(v).map_err(|e| {
            PromptError::new(path, format!("input `{name}`: {e}"))
                .at(l, c)
                .hint("types are string, number, integer, boolean, array, object")
        })?;
        if let Some(p) = &spec.pattern {
            regex::Regex::new(p).map_err(|e| {
                PromptError::new(path, format!("input `{name}`: invalid pattern: {e}")).at(l, c)
            })?;
        }
        out.insert(name, spec);
    }
    Ok(out)
}

/// 1-based (line, column) of `key:` in the front matter, as file coordinates (the front
/// matter starts on line 2); (2, 1) when not found.
fn key_position(front: &str, key: &str) -> (usize, usize) {
    key_line(front, key).unwrap_or((2, 1))
}

/// Where `key:` starts a line of the front matter, if it does.
fn key_line(front: &str, key: &str) -> Option<(usize, usize)> {
    for (i, line) in front.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            return Some((i + 2, line.len() - trimmed.len() + 1));
        }
    }
    None
}

fn role_marker(line: &str) -> Option<String> {
    let t = line.trim();
    let role = t.strip_suffix(':')?.trim();
    matches!(
        role.to_ascii_lowercase().as_str(),
        "system" | "user" | "assistant"
    )
    .then(|| role.to_ascii_lowercase())
}

fn split_sections(path: &Path, body: &str, body_line: usize) -> Result<Vec<Section>, PromptError> {
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    let has_roles = lines.iter().any(|l| role_marker(l).is_some());
    if !has_roles {
        return Ok(vec![Section {
            role: None,
            template: body.trim().to_string(),
            line: body_line,
        }]);
    }
    let mut sections: Vec<Section> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let file_line = body_line + i;
        if let Some(role) = role_marker(line) {
            sections.push(Section {
                role: Some(role),
                template: String::new(),
                line: file_line + 1,
            });
        } else if let Some(s) = sections.last_mut() {
            s.template.push_str(line);
        } else if !line.trim().is_empty() {
            return Err(PromptError::new(path, "text before the first role line")
                .at(file_line, 1)
                .hint("start the body with `system:` or `user:` on a line of its own"));
        }
    }
    for s in &mut sections {
        // Leading blank lines shift the template's own line numbers; count them.
        let lead = s.template.len() - s.template.trim_start_matches(['\n', '\r']).len();
        s.line += s.template[..lead].matches('\n').count();
        s.template = s.template.trim().to_string();
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nname: summarize\nversion: 1.2.0\nmodel: local:smollm2\nparams:\n  temperature: 0\ninputs:\n  doc: {type: string}\n  n: {type: integer, default: 3}\n---\nsystem:\nYou are concise.\n\nuser:\nSummarize in {{ n }} points:\n{{ doc }}\n";

    #[test]
    fn parses_front_matter_and_sections() {
        let p = PromptFile::parse(Path::new("s.prompt"), GOOD).unwrap();
        assert_eq!(p.name, "summarize");
        assert_eq!(p.version.unwrap().to_string(), "1.2.0");
        assert_eq!(p.model.as_deref(), Some("local:smollm2"));
        assert_eq!(p.params["temperature"], 0);
        assert_eq!(p.kind, PromptKind::Chat);
        assert_eq!(p.sections.len(), 2);
        assert_eq!(p.sections[0].template, "You are concise.");
        assert_eq!(p.sections[0].line, 12);
        assert_eq!(p.sections[1].role.as_deref(), Some("user"));
        assert_eq!(p.sections[1].line, 15);
    }

    #[test]
    fn no_roles_means_completion() {
        let p = PromptFile::parse(Path::new("c.prompt"), "Translate: {{ text }}").unwrap();
        assert_eq!(p.kind, PromptKind::Completion);
        assert_eq!(p.name, "c");
    }

    #[test]
    fn unknown_key_points_at_it_with_a_suggestion() {
        let e = PromptFile::parse(
            Path::new("a.prompt"),
            "---\nname: x\nverison: 1.0.0\n---\nhi",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.prompt:3:1: unknown front-matter key `verison`"
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean `version`?"));
    }

    #[test]
    fn bad_yaml_and_bad_semver_have_locations() {
        let e =
            PromptFile::parse(Path::new("a.prompt"), "---\nname: [unclosed\n---\nhi").unwrap_err();
        assert!(
            e.line.is_some() && e.message.contains("invalid front matter"),
            "{e}"
        );
        let e = PromptFile::parse(Path::new("a.prompt"), "---\nname: x\nversion: one\n---\nhi")
            .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("not semver"));
        let e = PromptFile::parse(Path::new("a.prompt"), "---\nname: x\nhi").unwrap_err();
        assert!(e.message.contains("never closed"));
    }

    #[test]
    fn input_field_typo_is_named() {
        let e = PromptFile::parse(
            Path::new("a.prompt"),
            "---\ninputs:\n  doc: {tpye: string}\n---\nhi",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.hint.as_deref(), Some("did you mean `type`?"));
    }

    #[test]
    fn prompty_files_read_as_they_are() {
        let text = "---\nname: Basic\ndescription: A basic prompt\nauthors: [someone]\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    name: gpt-4o-mini\n  parameters:\n    max_tokens: 128\nsample:\n  firstName: Jane\ninputs:\n  firstName:\n    type: string\n    sample: Jane\n---\nsystem:\nYou are an AI assistant.\n\nuser:\nHi, I am {{firstName}}.\n";
        let p = PromptFile::parse(Path::new("basic.prompty"), text).unwrap();
        assert_eq!(p.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(p.params["max_tokens"], 128);
        assert_eq!(p.sections.len(), 2);
        // The same keys are refused in incant's own format.
        assert!(PromptFile::parse(Path::new("basic.prompt"), text).is_err());
    }

    #[test]
    fn text_before_first_role_is_an_error() {
        let e = PromptFile::parse(Path::new("a.prompt"), "intro\nuser:\nhi").unwrap_err();
        assert_eq!(e.line, Some(1));
    }
}
