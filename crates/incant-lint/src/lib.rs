//! `incant lint`: checks prompt files before they run, the way ruff checks Python.
//!
//! Prompts fail in ways a test run finds late or never: a variable nobody fills, an input
//! nobody reads, an edit shipped under an old version, a rendered prompt that no longer fits
//! the model, user text pasted into the system message, an API key committed in a prompt.
//! Each of those is a rule with a stable code (`P001`…), a level, and a doc in ruff's shape
//! (`## What it does`, `## Why is this bad?`, `## Example`) that `incant lint --explain`
//! prints. [`registry`] is the one table of rules; [`rules`] holds one module per rule
//! family; [`collect`] turns command-line paths into prompts with their suite around them;
//! [`template`] and [`source`] find where in the file a finding is.
//!
//! Findings print as `file:line:col code message`, sorted; errors make the command exit 1.

pub mod collect;
pub mod registry;
pub mod rules;
pub mod source;
pub mod template;

pub use collect::{lint_paths, Options};
pub use registry::{Level, Rule, RuleInfo, RULES};

use std::path::PathBuf;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file, as the user named it (or as the suite resolved it).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The rule that found it.
    pub rule: Rule,
    /// What is wrong, in one line.
    pub message: String,
}

impl Diagnostic {
    /// The `file:line:col code message` line.
    pub fn to_line(&self) -> String {
        format!(
            "{}:{}:{} {} {}",
            self.path.display(),
            self.line,
            self.column,
            self.rule.code(),
            self.message
        )
    }

    /// The finding as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let info = self.rule.info();
        serde_json::json!({
            "file": self.path.display().to_string(),
            "line": self.line,
            "column": self.column,
            "code": info.code,
            "name": info.name,
            "level": info.level,
            "message": self.message,
        })
    }
}

/// Why linting could not run at all (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A prompt file or suite does not parse.
    #[error(transparent)]
    Prompt(#[from] incant_prompt::PromptError),
    /// A path cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// `--select`/`--ignore`/`--explain` named no rule.
    #[error("unknown rule `{0}`")]
    UnknownRule(String),
}

impl LintError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Prompt(e) => e.hint.clone(),
            Self::Io { .. } => Some("pass suite files, folders or prompt files".into()),
            Self::UnknownRule(_) => Some(format!(
                "rules are {}; `incant lint --list` describes them",
                RULES.iter().map(|r| r.code).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// Parses a comma-separated list of codes or names (`P001,secret-in-prompt`).
pub fn parse_rules(list: &[String]) -> Result<Vec<Rule>, LintError> {
    list.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| Rule::from_code(s).ok_or_else(|| LintError::UnknownRule(s.trim().to_string())))
        .collect()
}
