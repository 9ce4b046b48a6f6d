//! P004 `context-overflow`: a rendered prompt plus the tokens it asks for, against the
//! context window of each model that runs it.
//!
//! Windows come from a provider's `contextWindow` setting, else, for `local:MODEL`, from
//! the GGUF metadata (`ARCH.context_length`). Local prompts are counted exactly: the
//! model's own chat template and tokenizer, read from the GGUF metadata without loading
//! any weights. Other models are estimated at four characters a token.

use crate::collect::Context;
use crate::registry::Rule;
use crate::Diagnostic;
use incant_engine::gguf::GgufFile;
use incant_engine::{ChatMessage, ChatTemplate};
use incant_models::{resolve, ModelKind};
use incant_prompt::{resolve_var_templates, Message, PromptKind};
use incant_tokenize::BpeTokenizer;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The doc of P004.
pub const DOC: &str = r#"# context-overflow (P004)

## What it does
Renders the prompt with each test case's variables (with the inputs' defaults when it is
linted outside a suite; as written when it cannot render), counts its tokens, adds
`max_tokens` (from the prompt's `params`, else the provider's config; 256 for `local:`
models, which is their default, else 0) and compares the sum with the context window of
every model that runs the prompt: the suite's providers and the prompt's own `model`.

The window is the provider's `contextWindow` setting when it has one, else for `local:`
models the `context_length` in the GGUF file. Local models are counted exactly with their
own chat template and tokenizer; others are estimated at 4 characters per token plus 4
tokens per message, so a finding near the limit on a remote model is approximate. Models
with no known window are skipped.

## Why is this bad?
A prompt over the window is cut or refused: local engines stop with an error, APIs return
400s, some servers silently drop the start of the prompt (the system message first). A
prompt that fits but leaves no room for `max_tokens` produces truncated answers that look
like model failures.

## Example
With `providers: [{id: openai:chat:small, config: {contextWindow: 4096}}]`:
```text
---
params: { max_tokens: 2048 }
---
user:
Summarize this 3,000-token report: {{ report }}
```

Use instead: lower `max_tokens`, shorten or chunk the input, or target a model with a
larger window.
"#;

/// A local model's window, tokenizer and chat template.
pub struct LocalModel {
    /// `ARCH.context_length`.
    pub window: u64,
    tokenizer: BpeTokenizer,
    template: Option<ChatTemplate>,
}

impl LocalModel {
    /// Reads metadata only (no weights) from a GGUF file.
    pub fn open(path: &Path) -> Option<Self> {
        let file = GgufFile::open(path).ok()?;
        let arch = file.string("general.architecture").ok()?;
        let window = file.uint(&format!("{arch}.context_length")).ok()?;
        let tokenizer = BpeTokenizer::new(file.vocab().ok()?).ok()?;
        let text_of = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token_text(i))
                .unwrap_or_default()
                .to_string()
        };
        let source = file.chat_template().ok()?;
        let template = ChatTemplate::new(
            source.as_deref(),
            &text_of(tokenizer.bos()),
            &text_of(tokenizer.eos()),
        )
        .ok();
        Some(Self {
            window,
            tokenizer,
            template,
        })
    }

    /// Exact token count of the prompt as the local provider sends it.
    pub fn count(&self, kind: PromptKind, messages: &[Message]) -> usize {
        let chat: Vec<ChatMessage> = messages
            .iter()
            .map(|m| ChatMessage::new(&m.role, &m.content))
            .collect();
        let text = match (&self.template, kind) {
            (Some(t), PromptKind::Chat) => t.render(&chat, true).ok(),
            _ => None,
        };
        match text {
            Some(text) => self.tokenizer.encode(&text, true, true).len(),
            None => messages
                .iter()
                .map(|m| self.tokenizer.encode(&m.content, false, false).len() + 4)
                .sum(),
        }
    }
}

/// Local models by name, opened once per lint run.
pub struct Models {
    dir: PathBuf,
    cache: RefCell<HashMap<String, Option<Rc<LocalModel>>>>,
}

impl Models {
    /// Models under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            cache: RefCell::default(),
        }
    }

    /// The models folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The local model a reference names, if it is installed and readable.
    pub fn local(&self, reference: &str) -> Option<Rc<LocalModel>> {
        if let Some(m) = self.cache.borrow().get(reference) {
            return m.clone();
        }
        let model = resolve(reference, &self.dir, ModelKind::Chat)
            .ok()
            .and_then(|r| LocalModel::open(&r.path))
            .map(Rc::new);
        self.cache
            .borrow_mut()
            .insert(reference.to_string(), model.clone());
        model
    }
}

/// Estimated tokens at 4 characters each, plus 4 per message.
fn estimate(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| m.content.chars().count().div_ceil(4) + 4)
        .sum()
}

fn number(map: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Value::as_u64))
}

/// The prompt's messages for each set of variables it can be rendered with.
fn renderings(cx: &Context) -> Vec<(String, Vec<Message>)> {
    let cases: Vec<(String, Map<String, Value>)> = match cx.suite {
        Some(s) if !s.vars.is_empty() => s
            .vars
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("test case {}", i + 1), resolve_var_templates(v)))
            .collect(),
        _ => vec![("its defaults".into(), Map::new())],
    };
    let rendered: Vec<(String, Vec<Message>)> = cases
        .into_iter()
        .filter_map(|(label, vars)| Some((label, cx.prompt.render(&vars).ok()?.messages)))
        .collect();
    if !rendered.is_empty() {
        return rendered;
    }
    let as_written = cx
        .prompt
        .sections
        .iter()
        .map(|s| Message {
            role: s.role.clone().unwrap_or_else(|| "user".into()),
            content: s.template.clone(),
        })
        .collect();
    vec![("the template as written".into(), as_written)]
}

/// P004 for one prompt.
pub fn check(cx: &Context, out: &mut Vec<Diagnostic>) {
    let mut targets: Vec<(String, Map<String, Value>)> = cx
        .suite
        .map(|s| {
            s.providers
                .iter()
                .map(|p| (p.id.clone(), p.config.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(model) = &cx.prompt.model {
        if !targets.iter().any(|(id, _)| id == model) {
            targets.push((model.clone(), Map::new()));
        }
    }
    if targets.is_empty() {
        return;
    }
    let renderings = renderings(cx);
    let params = &cx.prompt.params;
    for (id, config) in targets {
        let local = id.strip_prefix("local:").and_then(|m| cx.models.local(m));
        let window = number(&config, &["contextWindow", "context_window"])
            .or(local.as_ref().map(|m| m.window));
        let Some(window) = window else {
            continue;
        };
        let default_max = if local.is_some() { 256 } else { 0 };
        let max_tokens = number(params, &["max_tokens", "maxTokens"])
            .or_else(|| number(&config, &["max_tokens", "maxTokens"]))
            .unwrap_or(default_max);
        let worst = renderings
            .iter()
            .map(|(label, messages)| {
                let n = match &local {
                    Some(m) => m.count(cx.prompt.kind, messages),
                    None => estimate(messages),
                };
                (n as u64, label)
            })
            .max_by_key(|(n, _)| *n);
        let Some((tokens, label)) = worst else {
            continue;
        };
        if tokens + max_tokens <= window {
            continue;
        }
        let approx = if local.is_some() { "" } else { "~" };
        let message = format!(
            "{approx}{tokens} prompt tokens ({label}) + max_tokens {max_tokens} = {approx}{} exceeds the {window}-token context window of {id}",
            tokens + max_tokens
        );
        let at = cx
            .file
            .front_matter_key(Some("params"), "max_tokens")
            .or_else(|| cx.prompt.sections.first().map(|s| (s.line, 1)))
            .unwrap_or((1, 1));
        out.push(cx.diagnostic(Rule::ContextOverflow, at, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::SuiteInfo;
    use crate::rules::test_support::lint;
    use incant_prompt::ProviderSpec;

    fn suite(window: u64) -> SuiteInfo {
        let config = serde_json::json!({ "contextWindow": window });
        SuiteInfo {
            path: PathBuf::from("incant.yaml"),
            vars: vec![
                serde_json::json!({"doc": "short"})
                    .as_object()
                    .unwrap()
                    .clone(),
                serde_json::json!({"doc": "x".repeat(400)})
                    .as_object()
                    .unwrap()
                    .clone(),
            ],
            providers: vec![ProviderSpec {
                id: "openai:chat:small".into(),
                label: None,
                config: config.as_object().unwrap().clone(),
            }],
        }
    }

    const P: &str =
        "---\nparams:\n  temperature: 0\n  max_tokens: 100\n---\nuser:\nSummarize: {{ doc }}\n";

    #[test]
    fn longest_rendering_plus_max_tokens_over_the_window_is_flagged() {
        // "Summarize: " + 400 chars = 411 chars -> 103 + 4 tokens.
        assert_eq!(
            lint(Rule::ContextOverflow, "a.prompt", P, Some(&suite(200))),
            ["a.prompt:4:3 P004 ~107 prompt tokens (test case 2) + max_tokens 100 = ~207 exceeds the 200-token context window of openai:chat:small"]
        );
        assert!(lint(Rule::ContextOverflow, "a.prompt", P, Some(&suite(207))).is_empty());
        // No known window: nothing to compare with.
        assert!(lint(Rule::ContextOverflow, "a.prompt", P, None).is_empty());
    }

    #[test]
    fn local_models_are_counted_with_their_own_tokenizer() {
        let dir = std::env::var_os("INCANT_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
        let models = Models::new(&dir);
        let m = models
            .local("smollm2")
            .expect("smollm2 is installed (run `incant models fetch`; scripts/test does)");
        assert_eq!(m.window, 8192);
        let messages = [Message {
            role: "user".into(),
            content: "Hello, world!".into(),
        }];
        let n = m.count(PromptKind::Chat, &messages);
        assert!((5..40).contains(&n), "{n}");
        assert!(m.count(PromptKind::Completion, &messages) < n);
    }
}
