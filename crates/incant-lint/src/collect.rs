//! From command-line paths to prompts in context, and the driver that runs the rules.
//!
//! A path is a suite (`incant.yaml`, `promptfooconfig.yaml`, any `.yaml`/`.yml` file, or a
//! folder holding one), a prompt file, or a folder of `.prompt`/`.prompty` files. A prompt
//! linted through its suite also knows the suite's test cases (which variables they give)
//! and providers (which models it must fit); a prompt linted alone knows only itself.

use crate::registry::Rule;
use crate::rules::{self, context::Models};
use crate::source::SourceFile;
use crate::{Diagnostic, LintError};
use incant_prompt::{load_prompts, PromptFile, ProviderSpec, Suite};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these rules (all when empty).
    pub select: Vec<Rule>,
    /// Never these rules.
    pub ignore: Vec<Rule>,
    /// Where local models live (for context windows).
    pub models_dir: PathBuf,
}

impl Options {
    /// Whether a rule runs.
    pub fn enabled(&self, rule: Rule) -> bool {
        (self.select.is_empty() || self.select.contains(&rule)) && !self.ignore.contains(&rule)
    }
}

/// What a suite tells the rules about a prompt it runs.
#[derive(Debug, Clone)]
pub struct SuiteInfo {
    /// The suite file.
    pub path: PathBuf,
    /// Each test case's variables (`defaultTest` merged in).
    pub vars: Vec<Map<String, Value>>,
    /// The providers every prompt runs on.
    pub providers: Vec<ProviderSpec>,
}

/// One prompt with what the rules need around it.
pub struct Context<'a> {
    /// The prompt.
    pub prompt: &'a PromptFile,
    /// Its file's text.
    pub file: &'a SourceFile,
    /// The suite that runs it, if linted through one.
    pub suite: Option<&'a SuiteInfo>,
    /// Local models and their tokenizers.
    pub models: &'a Models,
}

impl Context<'_> {
    /// A finding at a position.
    pub fn diagnostic(
        &self,
        rule: Rule,
        (line, column): (usize, usize),
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            path: self.file.path.clone(),
            line,
            column,
            rule,
            message,
        }
    }

    /// The folder an `incant.lock` would sit in: the suite's, else the prompt file's.
    pub fn lock_dir(&self) -> PathBuf {
        let anchor = self.suite.map_or(&self.prompt.path, |s| &s.path);
        anchor.parent().unwrap_or(Path::new(".")).to_path_buf()
    }
}

/// Lints every prompt reachable from `paths`; findings sorted by file, line, column, code.
pub fn lint_paths(paths: &[PathBuf], opts: &Options) -> Result<Vec<Diagnostic>, LintError> {
    let models = Models::new(&opts.models_dir);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for path in paths {
        for (file, suite) in expand(path)? {
            let key = file.canonicalize().unwrap_or_else(|_| file.clone());
            if !seen.insert(key) {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(|source| LintError::Io {
                path: file.clone(),
                source,
            })?;
            let source = SourceFile::new(&tidy(&file), text);
            for prompt in load_prompts(&file)? {
                let cx = Context {
                    prompt: &prompt,
                    file: &source,
                    suite: suite.as_ref(),
                    models: &models,
                };
                rules::check(&cx, opts, &mut out);
            }
            if opts.enabled(Rule::SecretInPrompt) {
                rules::secrets::check_file(&source, &mut out);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The prompt files a path stands for, each with its suite (if any).
fn expand(path: &Path) -> Result<Vec<(PathBuf, Option<SuiteInfo>)>, LintError> {
    let suite_file = if path.is_dir() {
        [
            "incant.yaml",
            "incant.yml",
            "promptfooconfig.yaml",
            "promptfooconfig.yml",
        ]
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
    } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        Some(path.to_path_buf())
    } else {
        None
    };
    if let Some(suite_file) = suite_file {
        let suite = Suite::load(&suite_file)?;
        let info = SuiteInfo {
            path: suite.path.clone(),
            vars: suite.tests.iter().map(|t| t.vars).collect(),
            providers: suite.providers.clone(),
        };
        return Ok(suite
            .prompt_files
            .iter()
            .map(|p| (p.clone(), Some(info.clone())))
            .collect());
    }
    if path.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files.sort();
        return Ok(files.into_iter().map(|f| (f, None)).collect());
    }
    if !path.exists() {
        return Err(LintError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    Ok(vec![(path.to_path_buf(), None)])
}

/// `.prompt` and `.prompty` files under a folder, skipping hidden and build folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let io = |source| LintError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || matches!(name, "target" | "node_modules" | "models") {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "prompt" || e == "prompty")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The path without `./` parts, as people write it.
fn tidy(path: &Path) -> PathBuf {
    let p: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if p.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        p
    }
}
