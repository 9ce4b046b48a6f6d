//! File coordinates: turning an offset into a prompt's template (or into the file) into the
//! `line:col` a person can jump to.
//!
//! Prompt parsing keeps each section's starting line but trims its text, and a `.json` chat
//! prompt stores its templates as escaped JSON strings; this module finds each template
//! back in the file text so columns are exact in both cases.

use incant_prompt::Section;
use std::path::{Path, PathBuf};

/// A prompt file's full text, indexed by line.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path to print.
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Indexes `text`, printed as `path`.
    pub fn new(path: &Path, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path: path.to_path_buf(),
            text,
            line_starts,
        }
    }

    /// 1-based (line, column in characters) of a byte offset into the file.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        Some(self.text[start..end].trim_end_matches(['\n', '\r']))
    }

    /// 1-based (line, column) of a byte offset into a section's template.
    pub fn in_section(&self, section: &Section, offset: usize) -> (usize, usize) {
        let t = &section.template;
        let offset = offset.min(t.len());
        if self.path.extension().is_some_and(|e| e == "json") {
            if let Some(base) = find_json_string(&self.text, t) {
                return self.position(base + json_escaped_len(&t[..offset]));
            }
        } else if let Some(start) = section
            .line
            .checked_sub(1)
            .and_then(|l| self.line_starts.get(l))
        {
            let first = t.lines().next().unwrap_or("");
            let indent = self.line(section.line).and_then(|l| l.find(first));
            return self.position(start + indent.unwrap_or(0) + offset);
        }
        // Fall back to counting inside the template from its first line.
        let before = &t[..offset];
        let line = section.line + before.matches('\n').count();
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, col)
    }

    /// 1-based (line, column) of `key:` inside the front matter's `parent:` mapping (or at
    /// the top level when `parent` is `None`).
    pub fn front_matter_key(&self, parent: Option<&str>, key: &str) -> Option<(usize, usize)> {
        let mut lines = self.text.lines().enumerate();
        if lines.next()?.1.trim_end() != "---" {
            return None;
        }
        let mut inside: Option<usize> = None;
        for (i, line) in lines {
            if line.trim_end() == "---" {
                break;
            }
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let is_key = |k: &str| {
                trimmed
                    .strip_prefix(k)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            };
            match (parent, inside) {
                (None, _) if indent == 0 && is_key(key) => return Some((i + 1, 1)),
                (Some(p), _) if indent == 0 => inside = is_key(p).then_some(0),
                (Some(_), Some(_)) if is_key(key) => return Some((i + 1, indent + 1)),
                _ => {}
            }
        }
        None
    }
}

/// Offset of a JSON string literal's contents equal to `value` in `text`.
fn find_json_string(text: &str, value: &str) -> Option<usize> {
    let quoted = serde_json::to_string(value).ok()?;
    text.find(&quoted).map(|i| i + 1)
}

fn json_escaped_len(value: &str) -> usize {
    serde_json::to_string(value).map_or(value.len(), |s| s.len() - 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(role: &str, template: &str, line: usize) -> Section {
        Section {
            role: Some(role.into()),
            template: template.into(),
            line,
        }
    }

    #[test]
    fn positions_inside_sections_and_json() {
        let f = SourceFile::new(
            Path::new("a.prompt"),
            "user:\n  Hi {{ x }}\nand {{ y }}\n".into(),
        );
        let s = section("user", "Hi {{ x }}\nand {{ y }}", 2);
        assert_eq!(f.in_section(&s, 6), (2, 9));
        assert_eq!(f.in_section(&s, s.template.find('y').unwrap()), (3, 8));

        let text = "[\n {\"role\": \"user\", \"content\": \"a\\n{{ q }}\"}\n]";
        let f = SourceFile::new(Path::new("c.json"), text.into());
        let s = section("user", "a\n{{ q }}", 1);
        assert_eq!(f.in_section(&s, s.template.find('q').unwrap()), (2, 37));
    }

    #[test]
    fn front_matter_keys() {
        let f = SourceFile::new(
            Path::new("a.prompt"),
            "---\nname: x\ninputs:\n  a: string\n  b: {type: string}\nversion: 1.0.0\n---\nhi"
                .into(),
        );
        assert_eq!(f.front_matter_key(Some("inputs"), "b"), Some((5, 3)));
        assert_eq!(f.front_matter_key(None, "version"), Some((6, 1)));
        assert_eq!(f.front_matter_key(Some("inputs"), "name"), None);
    }
}
