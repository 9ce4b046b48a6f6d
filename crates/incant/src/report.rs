//! How the binary talks to people: errors with hints, colours that respect `NO_COLOR`,
//! and the mapping from error kinds to exit codes.

use incant_engine::EngineError;
use incant_models::ModelError;
use std::io::IsTerminal;
use std::process::ExitCode;

/// A problem with what the user gave us (exit code 2), with an optional hint.
#[derive(Debug)]
pub struct InputError {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for an [`InputError`] as an `anyhow::Error`.
pub fn input_error(message: impl Into<String>, hint: Option<&str>) -> anyhow::Error {
    InputError {
        message: message.into(),
        hint: hint.map(str::to_string),
    }
    .into()
}

/// Whether stderr should be coloured.
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Wraps `text` in an ANSI style when colour is on.
pub fn paint(text: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Prints the error and returns its exit code.
pub fn error(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let (code, hint) = classify(err);
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !message.contains(&c) {
            message.push_str(": ");
            message.push_str(&c);
        }
    }
    eprintln!("{} {message}", paint("error:", "1;31"));
    if let Some(hint) = hint {
        eprintln!("  {} {hint}", paint("hint:", "1;36"));
    }
    ExitCode::from(code)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn classify(err: &anyhow::Error) -> (u8, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<InputError>() {
            return (2, e.hint.clone());
        }
        if let Some(e) = cause.downcast_ref::<ModelError>() {
            return (2, e.hint());
        }
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            let code = if matches!(e, EngineError::Compute(_)) {
                1
            } else {
                2
            };
            return (code, e.hint().map(str::to_string));
        }
    }
    (1, None)
}
