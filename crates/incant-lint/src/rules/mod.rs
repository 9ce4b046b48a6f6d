//! The rules, one module per family, and [`check`], which runs the enabled ones on a prompt.
//!
//! Every rule module exports its doc as a `DOC` constant in ruff's sections (`## What it
//! does`, `## Why is this bad?`, `## Example`); the registry points at them.

pub mod clip;
pub mod context;
pub mod injection;
pub mod secrets;
pub mod variables;
pub mod version;

use crate::collect::{Context, Options};
use crate::registry::Rule;
use crate::Diagnostic;

/// Runs every enabled per-prompt rule (secrets are checked per file, by the caller).
pub fn check(cx: &Context, opts: &Options, out: &mut Vec<Diagnostic>) {
    if opts.enabled(Rule::UndefinedVariable) {
        variables::check_undefined(cx, out);
    }
    if opts.enabled(Rule::UnusedInput) {
        variables::check_unused(cx, out);
    }
    if opts.enabled(Rule::VersionNotBumped) {
        version::check(cx, out);
    }
    if opts.enabled(Rule::ContextOverflow) {
        context::check(cx, out);
    }
    if opts.enabled(Rule::UnguardedUserInputInSystem) {
        injection::check(cx, out);
    }
    let image_rules: Vec<Rule> = [
        Rule::ClipTruncation,
        Rule::ClipChunks,
        Rule::IgnoredEmphasis,
    ]
    .into_iter()
    .filter(|r| opts.enabled(*r))
    .collect();
    if !image_rules.is_empty() {
        clip::check(cx, &image_rules, out);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Linting one prompt text in memory, for the rules' unit tests.

    use super::*;
    use crate::collect::SuiteInfo;
    use crate::source::SourceFile;
    use incant_prompt::PromptFile;
    use std::path::Path;

    /// The findings of one rule on `text` (a file named `name`), as output lines.
    pub fn lint(rule: Rule, name: &str, text: &str, suite: Option<&SuiteInfo>) -> Vec<String> {
        let opts = Options {
            select: vec![rule],
            ..Options::default()
        };
        let models = context::Models::new(Path::new("no-models-here"));
        let file = SourceFile::new(Path::new(name), text.to_string());
        let mut out = Vec::new();
        {
            let prompt = PromptFile::parse(Path::new(name), text).unwrap();
            let cx = Context {
                prompt: &prompt,
                file: &file,
                suite,
                models: &models,
            };
            check(&cx, &opts, &mut out);
        }
        if rule == Rule::SecretInPrompt {
            secrets::check_file(&file, &mut out);
        }
        out.sort();
        out.iter().map(Diagnostic::to_line).collect()
    }
}
