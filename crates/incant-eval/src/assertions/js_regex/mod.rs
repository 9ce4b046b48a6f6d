//! JavaScript regular expressions, as promptfoo's `regex` assertion runs them:
//! `new RegExp(value).test(output)`, with no flags.
//!
//! Rust's `regex` crate differs from JavaScript in ways that change verdicts: it has no
//! look-around or back-references, its `\w`, `\d` and `\b` are Unicode-aware (JavaScript's are
//! ASCII-only), its `.` matches a whole character (JavaScript's matches one UTF-16 code unit,
//! half of an emoji), and it accepts syntax JavaScript rejects (`(?i)`) and the reverse
//! (`]`, `a{`, `\8` are literals in JavaScript). Translating patterns for another engine
//! cannot make `.` match half a character, so incant runs JavaScript's own semantics:
//! `parse` reads a pattern as a browser or Node does (ECMAScript 2023 with Annex B, over
//! UTF-16 code units, V8's error messages) and `exec` is a backtracking matcher that
//! follows the specification's matcher. Patterns are checked as Node 20 checks them (the
//! promptfoo peer's runtime): the ES2025 `(?i:…)` modifiers and duplicate group names in
//! different alternatives are syntax errors there, and here.
//!
//! Known differences from V8: a match that needs more than [`STEP_BUDGET`] matcher steps
//! is abandoned with an error (V8 would keep going, possibly for hours); group names written
//! with `\u` escapes are rejected.

mod exec;
mod parse;

/// Matcher steps one `test` may take before it gives up (a few seconds of work).
pub const STEP_BUDGET: u64 = 500_000_000;

/// A compiled JavaScript regular expression (no flags).
#[derive(Debug, Clone)]
pub struct JsRegex {
    program: exec::Program,
    source: String,
}

impl JsRegex {
    /// Compiles `pattern` as `new RegExp(pattern)`; the error is JavaScript's message, e.g.
    /// `Invalid regular expression: /(?i)a/: Invalid group`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let units: Vec<u16> = pattern.encode_utf16().collect();
        let parsed = parse::parse(&units)
            .map_err(|e| format!("Invalid regular expression: /{pattern}/: {e}"))?;
        Ok(Self {
            program: exec::compile(&parsed.node, parsed.groups),
            source: pattern.to_string(),
        })
    }

    /// `regex.test(text)`; an error when the match needs more than [`STEP_BUDGET`] steps.
    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        self.is_match_within(text, STEP_BUDGET)
    }

    fn is_match_within(&self, text: &str, budget: u64) -> Result<bool, String> {
        let units: Vec<u16> = text.encode_utf16().collect();
        exec::is_match(&self.program, &units, budget).map_err(|_| {
            format!(
                "/{}/ needs too much backtracking on this output (more than {budget} steps)",
                self.source
            )
        })
    }
}

#[cfg(test)]
mod tests;
