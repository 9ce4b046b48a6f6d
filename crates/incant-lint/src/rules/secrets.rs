//! P006 `secret-in-prompt`: API keys and other credentials written into a prompt file.
//!
//! Checked on the whole file text (front matter included), so positions are exact in every
//! prompt format.

use crate::registry::Rule;
use crate::source::SourceFile;
use crate::Diagnostic;
use regex::Regex;
use std::sync::LazyLock;

/// The doc of P006.
pub const DOC: &str = r#"# secret-in-prompt (P006)

## What it does
Looks for credential-shaped strings anywhere in a prompt file: OpenAI and Anthropic keys
(`sk-…`), AWS access key ids (`AKIA…`), GitHub tokens (`ghp_…`, `gho_…`, `ghs_…`,
`github_pat_…`), Slack tokens (`xoxb-…`, `xoxp-…`), Google API keys (`AIza…`), private key
blocks, and long random-looking tokens (32+ characters mixing upper case, lower case and
digits with a Shannon entropy above 4.5 bits per character). Hex digests such as sha256
values are not random-looking by this measure and pass.

## Why is this bad?
Prompts are not secret: they are committed, shared, logged with every request, and models
can be talked into repeating them (prompt leaking). A key inside a prompt is a key
published to everyone who can read the repository or chat with the model.

## Example
```text
system:
Call the weather API with key sk-proj-4f9aZ2kLmQ8rT1vX7bN3cD5eH6jK0pW
```

Use instead (keep credentials in the provider's configuration or the environment; the
prompt only describes the task):
```text
system:
You can call the weather tool.
```
"#;

/// Named key shapes: (pattern, what it is).
static KEYS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"\bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{20,}",
            "an OpenAI/Anthropic-style API key",
        ),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
        (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", "a GitHub token"),
        (r"\bgithub_pat_[A-Za-z0-9_]{40,}", "a GitHub token"),
        (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "a Slack token"),
        (r"\bAIza[0-9A-Za-z_-]{35}", "a Google API key"),
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a private key"),
    ]
    .into_iter()
    .map(|(p, what)| (Regex::new(p).expect("valid"), what))
    .collect()
});

static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/=_-]{32,}").expect("valid"));

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn random_looking(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_uppercase())
        && token.bytes().any(|b| b.is_ascii_lowercase())
        && token.bytes().any(|b| b.is_ascii_digit())
        && entropy(token) > 4.5
}

/// P006 over a whole file.
pub fn check_file(file: &SourceFile, out: &mut Vec<Diagnostic>) {
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut push = |start: usize, end: usize, what: &str, out: &mut Vec<Diagnostic>| {
        if found.iter().any(|&(s, e)| start < e && s < end) {
            return;
        }
        found.push((start, end));
        let (line, column) = file.position(start);
        out.push(Diagnostic {
            path: file.path.clone(),
            line,
            column,
            rule: Rule::SecretInPrompt,
            message: format!("{what} is written in the prompt file; move it out of the prompt"),
        });
    };
    for (re, what) in KEYS.iter() {
        for m in re.find_iter(&file.text) {
            push(m.start(), m.end(), what, out);
        }
    }
    for m in TOKEN.find_iter(&file.text) {
        if random_looking(m.as_str()) {
            push(m.start(), m.end(), "a high-entropy token (a secret?)", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::lint;

    #[test]
    fn key_shapes_are_found_where_they_are() {
        let text = "---\nname: x\n---\nsystem:\nUse key sk-proj-4f9aZ2kLmQ8rT1vX7bN3cD5eH6jK0pW.\nAWS AKIAIOSFODNN7EXAMPLE and ghp_0123456789abcdefghijABCDEFGHIJ012345\n";
        assert_eq!(
            lint(Rule::SecretInPrompt, "a.prompt", text, None),
            [
                "a.prompt:5:9 P006 an OpenAI/Anthropic-style API key is written in the prompt file; move it out of the prompt",
                "a.prompt:6:5 P006 an AWS access key id is written in the prompt file; move it out of the prompt",
                "a.prompt:6:30 P006 a GitHub token is written in the prompt file; move it out of the prompt",
            ]
        );
    }

    #[test]
    fn random_tokens_count_but_digests_and_words_do_not() {
        let text = "Token: Zq8XvR2mLp5TnW9sKd3YbH7fJc4GaE6uQ1oN\n";
        assert_eq!(
            lint(Rule::SecretInPrompt, "a.prompt", text, None),
            ["a.prompt:1:8 P006 a high-entropy token (a secret?) is written in the prompt file; move it out of the prompt"]
        );
        let clean = "Digest e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nSee the_quick_brown_fox_jumps_over_the_lazy_dog_Again2 and task-ids like sk-short.\n";
        assert!(lint(Rule::SecretInPrompt, "a.prompt", clean, None).is_empty());
    }
}
