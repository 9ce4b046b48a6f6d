//! P003 `version-not-bumped`: a prompt whose text changed since `incant.lock` was written
//! while its version stayed the same.
//!
//! The lock belongs to `incant lock` (crate `incant-lock`); this rule reads only what it
//! needs and tolerates the rest, so a lock from a newer or older format never stops `lint`:
//! entries that start with `[[prompt]]`/`[[prompts]]` (or `[prompt.NAME]`) and carry
//! `name`, `file`, `version` and the sha256 of the prompt's text (`sha256`, or `hash`,
//! `content_hash`, `content_sha256`; hex, optionally prefixed `sha256:`). No lock, an entry
//! it cannot read, or a prompt the lock does not name: the rule says nothing. Checking the
//! whole lock (models, providers, the suite) is `incant check`'s job.

use crate::collect::Context;
use crate::registry::Rule;
use crate::Diagnostic;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The doc of P003.
pub const DOC: &str = r#"# version-not-bumped (P003)

## What it does
Compares each prompt with its entry in the `incant.lock` next to the suite (or next to the
prompt file when it is linted alone): when the sha256 of the prompt file differs from the
locked one but the `version:` in the front matter is still the locked version, the prompt
changed without a version bump. Without a lock, or for a prompt the lock does not list,
the rule does nothing.

## Why is this bad?
A version is a promise that the same version behaves the same. Results, snapshots and
served clients pinned to `1.2.0` silently start getting a different prompt; comparisons
between runs attribute the change to the model instead of the prompt.

## Example
`incant.lock` holds `name = "summarize"`, `version = "1.2.0"` and a hash; the file now
reads:
```text
---
name: summarize
version: 1.2.0
---
user:
Summarize in three bullets: {{ document }}
```

Use instead (bump the version, then run `incant lock` again):
```text
---
name: summarize
version: 1.3.0
---
```
"#;

/// One `[[prompt]]` entry of the lock, as far as this rule reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedPrompt {
    /// The prompt's name.
    pub name: Option<String>,
    /// Its file, relative to the lock's folder.
    pub file: Option<String>,
    /// Its locked version.
    pub version: Option<String>,
    /// The locked sha256 of its file text (lower-case hex).
    pub sha256: Option<String>,
}

/// Reads the prompt entries of a lock file's text; anything else is skipped.
pub fn parse_lock(text: &str) -> Vec<LockedPrompt> {
    let mut out: Vec<LockedPrompt> = Vec::new();
    let mut current: Option<LockedPrompt> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            out.extend(current.take());
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            if matches!(header, "prompt" | "prompts") {
                current = Some(LockedPrompt::default());
            } else if let Some(name) = header
                .strip_prefix("prompt.")
                .or_else(|| header.strip_prefix("prompts."))
            {
                current = Some(LockedPrompt {
                    name: Some(name.trim_matches('"').to_string()),
                    ..LockedPrompt::default()
                });
            }
            continue;
        }
        let (Some(entry), Some((key, value))) = (current.as_mut(), line.split_once('=')) else {
            continue;
        };
        let value = value.trim();
        let Some(value) = value
            .strip_prefix('"')
            .and_then(|v| v.split_once('"'))
            .map(|(v, _)| v.to_string())
        else {
            continue;
        };
        match key.trim() {
            "name" => entry.name = Some(value),
            "file" => entry.file = Some(value),
            "version" => entry.version = Some(value),
            "sha256" | "hash" | "content_hash" | "content_sha256" => {
                let hex = value.strip_prefix("sha256:").unwrap_or(&value);
                entry.sha256 = Some(hex.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// P003 for one prompt.
pub fn check(cx: &Context, out: &mut Vec<Diagnostic>) {
    let Some(version) = &cx.prompt.version else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(cx.lock_dir().join("incant.lock")) else {
        return;
    };
    let version = version.to_string();
    let lock_dir = cx.lock_dir();
    let named: Vec<LockedPrompt> = parse_lock(&text)
        .into_iter()
        .filter(|e| e.name.as_deref() == Some(cx.prompt.name.as_str()))
        .collect();
    // Two prompts may share a name in different files; the file then decides.
    let same_file = |e: &&LockedPrompt| {
        e.file
            .as_ref()
            .is_some_and(|f| same_path(&lock_dir.join(f), &cx.prompt.path))
    };
    let Some(entry) = named.iter().find(same_file).or(named.first()) else {
        return;
    };
    let (Some(locked_version), Some(locked_hash)) = (&entry.version, &entry.sha256) else {
        return;
    };
    let looks_like_sha256 =
        locked_hash.len() == 64 && locked_hash.bytes().all(|b| b.is_ascii_hexdigit());
    if !looks_like_sha256
        || *locked_version != version
        || *locked_hash == sha256_hex(&cx.prompt.source)
    {
        return;
    }
    let at = cx.file.front_matter_key(None, "version").unwrap_or((1, 1));
    let message = format!(
        "prompt `{}` changed since incant.lock but its version is still {version}",
        cx.prompt.name
    );
    out.push(cx.diagnostic(Rule::VersionNotBumped, at, message));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::SuiteInfo;
    use crate::rules::test_support::lint;

    #[test]
    fn lock_entries_are_read_tolerantly() {
        let lock = "version = 1\n[[prompt]]\nname = \"a\"\nversion = \"1.0.0\"\nsha256 = \"sha256:ABC\"\n[[provider]]\nname = \"x\"\n[prompts.b]\nversion = \"2.0.0\" # note\n";
        let entries = parse_lock(lock);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].sha256.as_deref(), Some("abc"));
        assert_eq!(entries[1].name.as_deref(), Some("b"));
        assert_eq!(entries[1].version.as_deref(), Some("2.0.0"));

        // The shape `incant lock` writes.
        let lock = "# incant.lock\nversion = 1\n\n[suite]\npath = \"incant.yaml\"\nsha256 = \"aa\"\n\n[[prompt]]\nname = \"capital\"\nfile = \"prompts/capital.prompt\"\nversion = \"1.0.0\"\nsha256 = \"bb\"\ntemplate_sha256 = \"cc\"\n\n[[provider]]\nid = \"echo\"\nconfig_sha256 = \"dd\"\n";
        let entries = parse_lock(lock);
        assert_eq!(
            entries,
            [LockedPrompt {
                name: Some("capital".into()),
                file: Some("prompts/capital.prompt".into()),
                version: Some("1.0.0".into()),
                sha256: Some("bb".into()),
            }]
        );
    }

    #[test]
    fn changed_prompt_with_the_same_version_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let old = "---\nname: s\nversion: 1.0.0\n---\nSummarize {{ d }}\n";
        let new = old.replace("Summarize", "Summarize briefly");
        let lock = |v: &str| {
            format!(
                "[[prompt]]\nname = \"s\"\nversion = \"{v}\"\nsha256 = \"{}\"\n",
                sha256_hex(old)
            )
        };
        std::fs::write(dir.path().join("incant.lock"), lock("1.0.0")).unwrap();
        let suite = SuiteInfo {
            path: dir.path().join("incant.yaml"),
            vars: vec![],
            providers: vec![],
        };
        let run = |text: &str| lint(Rule::VersionNotBumped, "s.prompt", text, Some(&suite));
        assert_eq!(
            run(&new),
            ["s.prompt:3:1 P003 prompt `s` changed since incant.lock but its version is still 1.0.0"]
        );
        assert!(run(old).is_empty());
        assert!(run(&new.replace("1.0.0", "1.1.0")).is_empty());
        // No lock: nothing to compare against.
        std::fs::remove_file(dir.path().join("incant.lock")).unwrap();
        assert!(run(&new).is_empty());
    }
}
