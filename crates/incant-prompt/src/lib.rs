//! Prompt files: the unit incant versions, tests, locks and serves.
//!
//! A prompt file is YAML front matter (name, semver version, description, default model and
//! parameters, typed inputs) followed by a minijinja body split into chat messages by role
//! lines (`system:`, `user:`, `assistant:`), the shape Microsoft's Prompty files use, so
//! `.prompty` files read as they are:
//!
//! ```text
//! ---
//! name: summarize
//! version: 1.0.0
//! inputs:
//!   document: { type: string }
//!   bullets: { type: integer, default: 3, min: 1, max: 10 }
//! ---
//! system:
//! You are concise.
//!
//! user:
//! Summarize in {{ bullets }} bullet points:
//! {{ document }}
//! ```
//!
//! Templates are strict: an undefined variable is an error, not an empty string. Every
//! error names the file, line and column, with a hint ([`PromptError`]).
//!
//! Modules: [`file`] (parsing), [`foreign`] (promptfoo's `.txt` and `.json` prompt files),
//! [`inputs`] (typed input validation), [`render`]
//! (messages from a prompt and its variables), [`suite`] (test suites: prompts x providers x
//! expanded test cases).

pub mod cases;
pub mod expected;
pub mod file;
pub mod foreign;
pub mod image;
pub mod inputs;
pub mod render;
pub mod suite;

pub use cases::{TestCase, TestList};
pub use file::{Message, PromptFile, PromptKind, Section};
pub use foreign::load_prompts;
pub use image::{ImageParams, IMAGE_PARAM_KEYS};
pub use inputs::{InputSpec, InputType};
pub use render::{resolve_var_templates, RenderedPrompt};
pub use suite::{ProviderSpec, Suite, SuiteOptions};

use std::fmt;
use std::path::PathBuf;

/// An error in a prompt file or in the variables given to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PromptError {
    /// The file (or a label such as `<inline>`).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl PromptError {
    pub(crate) fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// A YAML parse error at its location; `line_offset` is the file line before the YAML text.
pub(crate) fn yaml_error(
    file: &std::path::Path,
    e: &serde_norway::Error,
    line_offset: usize,
    what: &str,
) -> PromptError {
    let (l, c) = e
        .location()
        .map_or((1, 1), |loc| (loc.line(), loc.column()));
    PromptError::new(file, format!("invalid {what}: {e}"))
        .at(l + line_offset, c)
        .hint("check the YAML indentation and quoting")
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word` by edit distance, if one is close enough to suggest
/// ("did you mean ...?").
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_file_line_column() {
        let e = PromptError::new("a.prompt", "bad").at(3, 7);
        assert_eq!(e.to_string(), "a.prompt:3:7: bad");
    }

    #[test]
    fn nearest_suggests_close_words_only() {
        assert_eq!(nearest("verison", &["version", "name"]), Some("version"));
        assert_eq!(nearest("zzz", &["version", "name"]), None);
    }
}
