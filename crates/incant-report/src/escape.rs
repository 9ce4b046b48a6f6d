//! Escaping for the markup formats, in one place so every writer gets it right.
//!
//! Model outputs are untrusted text: they can hold quotes, markup, `]]>`, `</script>` and
//! control characters. XML 1.0 cannot carry most C0 controls (`\u{1b}` from a terminal
//! colour code, a stray NUL) even as character references, so [`xml_text`] and
//! [`xml_attr`] replace them with U+FFFD; a parser would otherwise reject the whole file.
//! [`script_json`] makes serialised JSON safe inside an HTML `<script>` element.

use std::io::{self, Write};

/// Whether XML 1.0 allows the character at all (its `Char` production).
fn xml_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Appends `s` escaped for XML element content. A carriage return becomes a character
/// reference: parsers turn a literal `\r\n` into `\n`.
pub(crate) fn xml_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // `>` only has to be escaped in `]]>`; escaping it always is simpler.
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if xml_allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Appends `s` escaped for a double-quoted XML attribute. Line breaks and tabs become
/// character references, which attribute-value normalisation would otherwise turn into
/// spaces.
pub(crate) fn xml_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if xml_allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// `s` escaped for HTML text or a double-quoted attribute.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes serialised JSON for the inside of a `<script>` element: every `<` becomes the
/// JSON escape `\u003c`, so the text can contain neither `</script` nor `<!--` (which
/// would end the element, or change how the HTML parser looks for its end). JSON has `<`
/// only inside strings, where the escape means the same character.
pub(crate) fn script_json(json: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut rest = json;
    while let Some(at) = rest.iter().position(|&b| b == b'<') {
        out.write_all(&rest[..at])?;
        out.write_all(b"\\u003c")?;
        rest = &rest[at + 1..];
    }
    out.write_all(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_escapes_markup_and_replaces_forbidden_characters() {
        let mut out = String::new();
        xml_text("a<b>&]]>\u{1b}[31m\0\t\r\n\u{FFFE}é😀", &mut out);
        assert_eq!(
            out,
            "a&lt;b&gt;&amp;]]&gt;\u{FFFD}[31m\u{FFFD}\t&#13;\n\u{FFFD}é😀"
        );
    }

    #[test]
    fn xml_attr_keeps_line_breaks_as_references() {
        let mut out = String::new();
        xml_attr("say \"hi\"\r\n\tnow\u{7}", &mut out);
        assert_eq!(out, "say &quot;hi&quot;&#13;&#10;&#9;now\u{FFFD}");
    }

    #[test]
    fn html_escapes_quotes_and_tags() {
        assert_eq!(
            html("<a href='x'>\"&\""),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;"
        );
    }

    #[test]
    fn script_json_never_contains_a_tag_opener() {
        let json = serde_json::to_vec(&"</script><!--<script>").unwrap();
        let mut out = Vec::new();
        script_json(&json, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('<'));
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "</script><!--<script>");
    }
}
