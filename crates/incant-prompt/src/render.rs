//! Rendering a prompt with variables: validated inputs in, messages out.
//!
//! The template environment is strict: a variable that is neither given nor declared with a
//! default stops rendering with the file, line and column of its use, and the names that
//! were available. A silent empty string is how prompts break unnoticed.
//! [`resolve_var_templates`] gives variables that refer to other variables their values,
//! as promptfoo does.

use crate::file::{Message, PromptFile, PromptKind};
use crate::inputs;
use crate::PromptError;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// A prompt ready to send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedPrompt {
    /// Chat messages (for a completion prompt, one `user` message).
    pub messages: Vec<Message>,
    /// Chat, completion or image.
    pub kind: PromptKind,
    /// An image prompt's rendered negative prompt.
    pub negative: Option<String>,
}

impl RenderedPrompt {
    /// The prompt as one text (completion prompts; chat messages joined for display).
    pub fn text(&self) -> String {
        match self.kind {
            PromptKind::Chat => self
                .messages
                .iter()
                .map(|m| format!("{}: {}", m.role, m.content))
                .collect::<Vec<_>>()
                .join("\n\n"),
            _ => self
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Variables whose values are themselves templates over the other variables
/// (`question: "{{topic}} rocks"`), rendered as promptfoo does: up to five passes, each
/// string value that holds `{{` or `{%` rendered against the others. A value that cannot
/// render (it names a variable nobody gave) stays as written.
pub fn resolve_var_templates(vars: &Map<String, Value>) -> Map<String, Value> {
    let is_template = |s: &str| s.contains("{{") || s.contains("{%");
    if !vars.values().any(|v| v.as_str().is_some_and(is_template)) {
        return vars.clone();
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let mut resolved = vars.clone();
    for _ in 0..5 {
        let mut changed = false;
        for (k, v) in vars {
            let Some(current) = resolved.get(k).and_then(Value::as_str) else {
                continue;
            };
            if !is_template(current) || v.as_str().is_none() {
                continue;
            }
            if let Ok(out) = env.render_str(current, &resolved) {
                if out != current {
                    resolved.insert(k.clone(), Value::String(out));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    resolved
}

impl PromptFile {
    /// Validates `vars` against the declared inputs and renders every section.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<RenderedPrompt, PromptError> {
        let vars = inputs::validate(&self.inputs, vars).map_err(|e| {
            PromptError::new(&self.path, e.to_string())
                .hint("see the prompt's `inputs:` for what it accepts")
        })?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(false);
        let mut messages = Vec::with_capacity(self.sections.len());
        for s in &self.sections {
            let out = env
                .render_str(&s.template, &vars)
                .map_err(|e| self.template_error(s, &e, &vars))?;
            messages.push(Message {
                role: s.role.clone().unwrap_or_else(|| "user".into()),
                content: out,
            });
        }
        let negative = match &self.negative {
            Some(s) => Some(
                env.render_str(&s.template, &vars)
                    .map_err(|e| self.template_error(s, &e, &vars))?,
            ),
            None => None,
        };
        Ok(RenderedPrompt {
            messages,
            kind: self.kind,
            negative,
        })
    }

    fn template_error(
        &self,
        s: &crate::Section,
        e: &minijinja::Error,
        vars: &Map<String, Value>,
    ) -> PromptError {
        let line_in = e.line().unwrap_or(1);
        let (snippet, column) = match e.range() {
            Some(r) => {
                let before = &s.template[..r.start.min(s.template.len())];
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                (s.template.get(r).unwrap_or("").trim().to_string(), col)
            }
            None => (String::new(), 1),
        };
        let mut available: Vec<&str> = vars.keys().map(String::as_str).collect();
        available.sort_unstable();
        let (message, hint) = if e.kind() == minijinja::ErrorKind::UndefinedError {
            let name = snippet
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .find(|w| !w.is_empty())
                .unwrap_or(&snippet)
                .to_string();
            let hint = match crate::nearest(&name, &available) {
                Some(n) => format!("did you mean `{n}`? declare it under `inputs:` or give it in the test's vars"),
                None if available.is_empty() => "no variables were given; declare it under `inputs:` or give it in the test's vars".to_string(),
                None => format!("available: {}", available.join(", ")),
            };
            (format!("undefined variable `{name}`"), hint)
        } else {
            (
                format!(
                    "template error: {}",
                    e.detail().unwrap_or(&e.kind().to_string())
                ),
                "check the {{ }} and {% %} syntax at this position".to_string(),
            )
        };
        PromptError::new(&self.path, message)
            .at(s.line + line_in - 1, column)
            .hint(hint)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn variables_that_refer_to_variables_resolve() {
        let vars = serde_json::json!({
            "topic": "granite", "q": "{{topic}} rocks", "qq": "{{ q }}!",
            "loose": "{{ nobody }}", "n": 3
        });
        let r = super::resolve_var_templates(vars.as_object().unwrap());
        assert_eq!(r["q"], "granite rocks");
        assert_eq!(r["qq"], "granite rocks!");
        assert_eq!(r["loose"], "{{ nobody }}");
        assert_eq!(r["n"], 3);
    }

    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn prompt(text: &str) -> PromptFile {
        PromptFile::parse(Path::new("p.prompt"), text).unwrap()
    }

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn renders_messages_with_defaults() {
        let p = prompt("---\ninputs:\n  doc: {type: string}\n  n: {type: integer, default: 3}\n---\nsystem:\nBe brief.\n\nuser:\n{{ n }} points: {{ doc }}\n");
        let r = p.render(&vars(json!({"doc": "text"}))).unwrap();
        assert_eq!(
            r.messages[0],
            Message {
                role: "system".into(),
                content: "Be brief.".into()
            }
        );
        assert_eq!(r.messages[1].content, "3 points: text");
    }

    #[test]
    fn undefined_variable_is_an_error_at_its_position() {
        let p = prompt("---\nname: x\n---\nuser:\nHello\nDear {{ nmae }}!\n");
        let e = p.render(&vars(json!({"name": "Ada"}))).unwrap_err();
        assert_eq!(e.to_string(), "p.prompt:6:9: undefined variable `nmae`");
        assert!(e.hint.unwrap().contains("did you mean `name`?"));
    }

    #[test]
    fn input_violations_name_the_field() {
        let p = prompt("---\ninputs:\n  n: {type: integer, max: 5}\n---\n{{ n }}");
        let e = p.render(&vars(json!({"n": 9}))).unwrap_err();
        assert!(
            e.to_string().ends_with("input `n`: must be at most 5"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let p = prompt("user:\nok\n{% if x %}\nnever closed\n");
        let e = p.render(&vars(json!({"x": true}))).unwrap_err();
        assert!(e.message.starts_with("template error"), "{e}");
        assert!(e.line.is_some());
    }
}
