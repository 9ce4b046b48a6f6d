//! The rule registry: one table that maps each stable code to its name, level, one-line
//! summary and full doc, so `--list`, `--explain`, `--select` and the output all read the
//! same facts (the shape of ruff's `codes.rs`).

use crate::rules;
use std::fmt;

/// How serious a finding is. Errors make `incant lint` exit 1; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth a look; the prompt still works as written.
    Warning,
    /// The prompt is broken or unsafe as written.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// P001
    UndefinedVariable,
    /// P002
    UnusedInput,
    /// P003
    VersionNotBumped,
    /// P004
    ContextOverflow,
    /// P005
    UnguardedUserInputInSystem,
    /// P006
    SecretInPrompt,
    /// P007
    ClipTruncation,
    /// P008
    ClipChunks,
    /// P009
    IgnoredEmphasis,
}

/// What the registry knows about a rule.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// The rule.
    pub rule: Rule,
    /// Its stable code, e.g. `P001`.
    pub code: &'static str,
    /// Its kebab-case name, e.g. `undefined-variable`.
    pub name: &'static str,
    /// How serious its findings are.
    pub level: Level,
    /// One line for `--list`.
    pub summary: &'static str,
    /// The full doc for `--explain` (markdown: what it does, why, an example).
    pub doc: &'static str,
}

/// Every rule, in code order. Codes are never reused or renumbered.
pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        rule: Rule::UndefinedVariable,
        code: "P001",
        name: "undefined-variable",
        level: Level::Error,
        summary: "a template uses a variable that no input or test case defines",
        doc: rules::variables::UNDEFINED_DOC,
    },
    RuleInfo {
        rule: Rule::UnusedInput,
        code: "P002",
        name: "unused-input",
        level: Level::Warning,
        summary: "an input is declared but no template uses it",
        doc: rules::variables::UNUSED_DOC,
    },
    RuleInfo {
        rule: Rule::VersionNotBumped,
        code: "P003",
        name: "version-not-bumped",
        level: Level::Error,
        summary: "the prompt changed since incant.lock but its version did not",
        doc: rules::version::DOC,
    },
    RuleInfo {
        rule: Rule::ContextOverflow,
        code: "P004",
        name: "context-overflow",
        level: Level::Error,
        summary: "rendered prompt plus max_tokens exceeds the target model's context window",
        doc: rules::context::DOC,
    },
    RuleInfo {
        rule: Rule::UnguardedUserInputInSystem,
        code: "P005",
        name: "unguarded-user-input-in-system",
        level: Level::Warning,
        summary: "a variable is interpolated into the system message without delimiters",
        doc: rules::injection::DOC,
    },
    RuleInfo {
        rule: Rule::SecretInPrompt,
        code: "P006",
        name: "secret-in-prompt",
        level: Level::Error,
        summary: "an API-key shaped string is written in a prompt file",
        doc: rules::secrets::DOC,
    },
    RuleInfo {
        rule: Rule::ClipTruncation,
        code: "P007",
        name: "clip-truncation",
        level: Level::Error,
        summary: "an image prompt runs past CLIP's 75 tokens on a target that drops the rest",
        doc: rules::clip::TRUNCATION_DOC,
    },
    RuleInfo {
        rule: Rule::ClipChunks,
        code: "P008",
        name: "clip-chunks",
        level: Level::Warning,
        summary: "where A1111's 75-token chunks of a long image prompt begin",
        doc: rules::clip::CHUNKS_DOC,
    },
    RuleInfo {
        rule: Rule::IgnoredEmphasis,
        code: "P009",
        name: "ignored-emphasis",
        level: Level::Warning,
        summary: "image prompt syntax (weights, editing, AND, BREAK, negative) a target ignores",
        doc: rules::clip::IGNORED_DOC,
    },
];

impl Rule {
    /// The registry entry.
    pub fn info(self) -> &'static RuleInfo {
        RULES
            .iter()
            .find(|r| r.rule == self)
            .expect("every rule is in the registry")
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// The level of its findings.
    pub fn level(self) -> Level {
        self.info().level
    }

    /// Finds a rule by code (`P005`, any case) or name (`unguarded-user-input-in-system`).
    pub fn from_code(text: &str) -> Option<Self> {
        let t = text.trim();
        RULES
            .iter()
            .find(|r| r.code.eq_ignore_ascii_case(t) || r.name == t)
            .map(|r| r.rule)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_ordered_and_documented() {
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.code, format!("P{:03}", i + 1));
            assert_eq!(Rule::from_code(r.code), Some(r.rule));
            assert_eq!(Rule::from_code(&r.code.to_lowercase()), Some(r.rule));
            assert_eq!(Rule::from_code(r.name), Some(r.rule));
            for section in ["## What it does", "## Why is this bad?", "## Example"] {
                assert!(r.doc.contains(section), "{} lacks {section}", r.code);
            }
        }
        assert_eq!(Rule::from_code("P999"), None);
    }
}
