//! Where variables sit in a minijinja template.
//!
//! minijinja answers *which* variables a template reads (`undeclared_variables`) but not
//! *where*; rules need a line and column. This module scans the template text for its
//! `{{ … }}` and `{% … %}` blocks (skipping comments, `raw` blocks and string literals) and
//! lists the root identifiers in each, with byte offsets into the template.

use minijinja::Environment;
use std::collections::BTreeSet;

/// Names the default environment provides, which are never template inputs.
const BUILTINS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
];

/// Words of the template language that look like identifiers.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "endif",
    "for",
    "endfor",
    "set",
    "endset",
    "with",
    "endwith",
    "block",
    "endblock",
    "extends",
    "include",
    "import",
    "from",
    "as",
    "macro",
    "endmacro",
    "call",
    "endcall",
    "filter",
    "endfilter",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "recursive",
    "autoescape",
    "endautoescape",
    "raw",
    "endraw",
    "continue",
    "break",
    "do",
    "ignore",
    "missing",
];

/// The variables a template reads from its context (not set or looped over inside it).
/// A template that does not parse reads nothing here; rendering reports its syntax error.
pub fn used_variables(template: &str) -> BTreeSet<String> {
    let env = Environment::new();
    let Ok(t) = env.template_from_str(template) else {
        return BTreeSet::new();
    };
    t.undeclared_variables(false)
        .into_iter()
        .filter(|v| !BUILTINS.contains(&v.as_str()))
        .collect()
}

/// Whether a block prints (`{{ … }}`) or controls (`{% … %}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `{{ … }}`
    Expression,
    /// `{% … %}`
    Statement,
}

/// One `{{ … }}` or `{% … %}` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Printing or controlling.
    pub kind: BlockKind,
    /// Offset of the opening `{{` / `{%`.
    pub start: usize,
    /// Offset just past the closing `}}` / `%}`.
    pub end: usize,
    /// Offset where the inner text starts (after the delimiter and any `-`/`+`).
    pub inner_start: usize,
    /// The inner text.
    pub inner: String,
}

impl Block {
    /// The root identifiers in the block with their template offsets: not attributes
    /// (`a.b` gives `a`), filter or test names, keyword arguments or keywords.
    pub fn identifiers(&self) -> Vec<(usize, String)> {
        root_identifiers(&self.inner)
            .into_iter()
            .map(|(o, name)| (self.inner_start + o, name))
            .collect()
    }
}

/// Every block of the template, in order.
pub fn blocks(template: &str) -> Vec<Block> {
    let b = template.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let (kind, close) = match b[i + 1] {
            b'{' => (BlockKind::Expression, "}}"),
            b'%' => (BlockKind::Statement, "%}"),
            b'#' => {
                i = template[i + 2..]
                    .find("#}")
                    .map_or(b.len(), |e| i + 2 + e + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let mut inner_start = i + 2;
        if matches!(b.get(inner_start), Some(b'-' | b'+')) {
            inner_start += 1;
        }
        let Some(close_at) = find_close(template, inner_start, close) else {
            break;
        };
        let mut inner_end = close_at;
        if inner_end > inner_start && matches!(b[inner_end - 1], b'-' | b'+') {
            inner_end -= 1;
        }
        let inner = template[inner_start..inner_end].to_string();
        let end = close_at + 2;
        let is_raw = kind == BlockKind::Statement && inner.trim() == "raw";
        out.push(Block {
            kind,
            start: i,
            end,
            inner_start,
            inner,
        });
        i = end;
        if is_raw {
            i = find_endraw(template, i).unwrap_or(b.len());
        }
    }
    out
}

/// The offset of `close` at or after `from`, outside string literals.
fn find_close(text: &str, from: usize, close: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = from;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None if b[i] == b'"' || b[i] == b'\'' => quote = Some(b[i]),
            None if text[i..].starts_with(close) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// The offset just past the `{% endraw %}` that closes a raw block opened before `from`.
fn find_endraw(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = text[at..].find("{%") {
        let start = at + rel;
        let close = text[start..].find("%}")? + start;
        let inner = text[start + 2..close].trim_matches(|c: char| c == '-' || c == '+');
        if inner.trim() == "endraw" {
            return Some(close + 2);
        }
        at = close + 2;
    }
    None
}

fn root_identifiers(inner: &str) -> Vec<(usize, String)> {
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The last significant token before the current one: a punctuation byte, or `is`.
    let mut prev: Option<u8> = None;
    let mut prev_word = String::new();
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            let mut j = i + 1;
            while j < b.len() && b[j] != c {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            prev = Some(b'"');
            prev_word.clear();
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &inner[start..i];
            let rest = inner[i..].trim_start();
            let kwarg = rest.starts_with('=') && !rest.starts_with("==");
            let after_is = prev_word == "is" || (prev_word == "not" && prev == Some(b'i'));
            let root = !matches!(prev, Some(b'.' | b'|'))
                && !after_is
                && !kwarg
                && !KEYWORDS.contains(&word);
            if root {
                out.push((start, word.to_string()));
            }
            // `is not` keeps the test position open for the following name.
            prev = if word == "is" || (word == "not" && prev_word == "is") {
                Some(b'i')
            } else {
                Some(b'a')
            };
            prev_word = word.to_string();
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            prev = Some(b'0');
            prev_word.clear();
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = Some(c);
            prev_word.clear();
        }
        i += 1;
    }
    out
}

/// The offset of the first use of `name` as a root identifier in any block.
pub fn first_use(template: &str, name: &str) -> Option<usize> {
    blocks(template)
        .iter()
        .flat_map(Block::identifiers)
        .find(|(_, n)| n == name)
        .map(|(o, _)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_variables_skip_locals_and_builtins() {
        let t = "{% set x = 1 %}{% for d in docs %}{{ d.title }}{{ loop.index }}{% endfor %}{{ x }}{{ who | upper }}{% for i in range(3) %}{% endfor %}";
        let v: Vec<String> = used_variables(t).into_iter().collect();
        assert_eq!(v, ["docs", "who"]);
    }

    #[test]
    fn identifiers_are_roots_with_offsets() {
        let t = "Hi {{ user.name | default(fallback) }} {% if flag is defined and not other %}x{% endif %}{# {{ hidden }} #}{{ \"lit {{ q }}\" }}{{ f(a, key=b) }}";
        let ids: Vec<(usize, String)> = blocks(t).iter().flat_map(Block::identifiers).collect();
        let names: Vec<&str> = ids.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["user", "fallback", "flag", "other", "f", "a", "b"]);
        assert_eq!(&t[ids[0].0..ids[0].0 + 4], "user");
        assert_eq!(first_use(t, "flag"), t.find("flag"));
        assert_eq!(first_use(t, "hidden"), None);
        assert_eq!(first_use(t, "key"), None);
    }

    #[test]
    fn raw_blocks_and_trim_markers() {
        let t = "{% raw %}{{ nope }}{% endraw %}{{- yes -}}";
        let bs = blocks(t);
        assert_eq!(bs.len(), 2);
        assert_eq!(bs[1].inner.trim(), "yes");
        assert_eq!(first_use(t, "nope"), None);
        assert_eq!(first_use(t, "yes"), t.find("yes"));
    }
}
