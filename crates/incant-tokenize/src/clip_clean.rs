//! The text cleaning OpenAI's CLIP tokenizer applies before it splits a prompt.
//!
//! OpenAI's `simple_tokenizer` runs `ftfy.fix_text`, then `html.unescape` twice, strips the
//! text, collapses every run of whitespace to one space and lowercases. A prompt written
//! with curly quotes, a fullwidth comma or `&amp;` therefore reaches the model as if it had
//! been typed plainly, and incant must clean the same way to count the same tokens.
//!
//! What is implemented of ftfy (6.x, default configuration), in its order, repeated until
//! the text stops changing:
//! - HTML entities ending in `;` (skipped when the text contains `<`, as ftfy does),
//! - Latin ligatures (`ﬁ` -> `fi`), halfwidth and fullwidth forms (`Ａ` -> `A`, U+3000 -> space),
//! - curly quotes to straight ones, line breaks to `\n`, control characters removed,
//! - NFC normalisation.
//!
//! Left out: ftfy's mojibake repair (`fix_encoding`, C1 controls decoded as Windows-1252)
//! and ANSI terminal escapes. Entities come from a table of the common names plus numeric
//! references, not the full HTML5 list of 2,231 names.

use unicode_normalization::UnicodeNormalization;

/// Cleans `text` the way `simple_tokenizer.encode` does before tokenizing: ftfy's fixes,
/// HTML unescaping twice, whitespace collapsed and stripped, lowercase.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed, false), false);
    let collapsed = unescaped.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.to_lowercase()
}

/// ftfy's `fix_text` as far as it matters for prompts (see the module docs).
pub fn fix_text(text: &str) -> String {
    let unescape = !text.contains('<');
    let mut text = text.to_string();
    loop {
        let orig = text.clone();
        if unescape {
            text = html_unescape(&text, true);
        }
        text = fix_chars(&text);
        text = text.nfc().collect();
        if text == orig {
            return text;
        }
    }
}

/// Ligatures, widths, quotes, line breaks and control characters in one pass.
fn fix_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{0132}' => out.push_str("IJ"),
            '\u{0133}' => out.push_str("ij"),
            '\u{0149}' => out.push_str("\u{02bc}n"),
            '\u{01f1}' => out.push_str("DZ"),
            '\u{01f2}' => out.push_str("Dz"),
            '\u{01f3}' => out.push_str("dz"),
            '\u{01c4}' => out.push_str("D\u{017d}"),
            '\u{01c5}' => out.push_str("D\u{017e}"),
            '\u{01c6}' => out.push_str("d\u{017e}"),
            '\u{01c7}' => out.push_str("LJ"),
            '\u{01c8}' => out.push_str("Lj"),
            '\u{01c9}' => out.push_str("lj"),
            '\u{01ca}' => out.push_str("NJ"),
            '\u{01cb}' => out.push_str("Nj"),
            '\u{01cc}' => out.push_str("nj"),
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' => out.push_str("\u{017f}t"),
            '\u{fb06}' => out.push_str("st"),
            '\u{3000}' => out.push(' '),
            '\u{ff01}'..='\u{ffef}' => out.extend(c.nfkc()),
            '\u{02bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
            '\u{201c}'..='\u{201f}' => out.push('"'),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
            '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{206a}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffc}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Named entities this module decodes (name without `&` and `;`).
const ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"),
    ("AMP", "&"),
    ("LT", "<"),
    ("GT", ">"),
    ("QUOT", "\""),
    ("COPY", "\u{a9}"),
    ("REG", "\u{ae}"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", "\u{a0}"),
    ("copy", "\u{a9}"),
    ("reg", "\u{ae}"),
    ("trade", "\u{2122}"),
    ("hellip", "\u{2026}"),
    ("mdash", "\u{2014}"),
    ("ndash", "\u{2013}"),
    ("lsquo", "\u{2018}"),
    ("rsquo", "\u{2019}"),
    ("ldquo", "\u{201c}"),
    ("rdquo", "\u{201d}"),
    ("laquo", "\u{ab}"),
    ("raquo", "\u{bb}"),
    ("deg", "\u{b0}"),
    ("times", "\u{d7}"),
    ("divide", "\u{f7}"),
    ("middot", "\u{b7}"),
    ("bull", "\u{2022}"),
    ("euro", "\u{20ac}"),
    ("pound", "\u{a3}"),
    ("yen", "\u{a5}"),
    ("cent", "\u{a2}"),
    ("sect", "\u{a7}"),
    ("para", "\u{b6}"),
    ("plusmn", "\u{b1}"),
    ("frac12", "\u{bd}"),
    ("frac14", "\u{bc}"),
    ("frac34", "\u{be}"),
    ("hearts", "\u{2665}"),
    ("star", "\u{2606}"),
    ("check", "\u{2713}"),
    ("eacute", "\u{e9}"),
    ("egrave", "\u{e8}"),
    ("aacute", "\u{e1}"),
    ("agrave", "\u{e0}"),
    ("ouml", "\u{f6}"),
    ("uuml", "\u{fc}"),
    ("auml", "\u{e4}"),
    ("ntilde", "\u{f1}"),
    ("ccedil", "\u{e7}"),
    ("szlig", "\u{df}"),
];

/// Decodes `&name;`, `&#NN;` and `&#xNN;`. `strict` is ftfy's variant (only references that
/// end in `;`, at most 24 characters, uppercase names of lowercase entities accepted);
/// otherwise Python's `html.unescape`, which also accepts a missing `;` after the legacy
/// names and numeric references.
pub fn html_unescape(text: &str, strict: bool) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        match entity_at(rest, strict) {
            Some((decoded, len)) => {
                out.push_str(&decoded);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The decoded text of the reference at the start of `s` (which starts with `&`) and its
/// length in bytes.
fn entity_at(s: &str, strict: bool) -> Option<(String, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        if strict {
            // ftfy: `&#[0-9A-Za-z]{1,24};`, decoded by html.unescape unless a `;` is left.
            let all = num
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            if all == 0 || all > 24 || !num[all..].starts_with(';') {
                return None;
            }
            let slice = &s[..2 + all + 1];
            let (mut decoded, len) = entity_at(slice, false)?;
            decoded.push_str(&slice[len..]);
            return (!decoded.contains(';')).then_some((decoded, slice.len()));
        }
        let (hex, digits) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (true, h),
            None => (false, num),
        };
        let n = digits
            .chars()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if n == 0 {
            return None;
        }
        let prefix = s.len() - digits.len();
        let semi = digits[n..].starts_with(';');
        let value = u32::from_str_radix(&digits[..n], if hex { 16 } else { 10 }).ok();
        return Some((numeric_char(value), prefix + n + usize::from(semi)));
    }
    let n = body
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if n == 0 {
        return None;
    }
    let name = &body[..n];
    let semi = body[n..].starts_with(';');
    if semi {
        if let Some((_, v)) = ENTITIES.iter().find(|(k, _)| *k == name) {
            return Some((v.to_string(), 1 + n + 1));
        }
        if strict && name.len() <= 24 && name.bytes().all(|b| !b.is_ascii_lowercase()) {
            let lower = name.to_ascii_lowercase();
            if let Some((_, v)) = ENTITIES.iter().find(|(k, _)| *k == lower) {
                return Some((v.to_uppercase(), 1 + n + 1));
            }
        }
    }
    if strict {
        return None;
    }
    // html.unescape: the legacy names may stand without `;` (longest prefix wins).
    const LEGACY: &[&str] = &[
        "amp", "lt", "gt", "quot", "nbsp", "copy", "reg", "AMP", "LT", "GT", "QUOT", "COPY", "REG",
    ];
    LEGACY
        .iter()
        .filter(|k| name.starts_with(**k))
        .max_by_key(|k| k.len())
        .and_then(|k| ENTITIES.iter().find(|(e, _)| e == k))
        .map(|(k, v)| (v.to_string(), 1 + k.len()))
}

/// Python's `html.unescape` rules for a numeric reference's value.
fn numeric_char(value: Option<u32>) -> String {
    const CP1252: [char; 32] = [
        '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}',
        '\u{8f}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}',
        '\u{178}',
    ];
    match value {
        Some(v @ 0x80..=0x9f) => CP1252[(v - 0x80) as usize].to_string(),
        Some(0) => '\u{fffd}'.to_string(),
        Some(0x0d) => "\r".to_string(),
        Some(0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f | 0xfdd0..=0xfdef) => String::new(),
        Some(v) if v & 0xfffe == 0xfffe && v <= 0x10ffff => String::new(),
        Some(v) => char::from_u32(v).unwrap_or('\u{fffd}').to_string(),
        None => '\u{fffd}'.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_simple_tokenizer() {
        assert_eq!(clean("  Rock &amp;amp; Roll  "), "rock & roll");
        assert_eq!(clean("“Hi”\t\n ‘there’"), "\"hi\" 'there'");
        assert_eq!(clean("ＦＵＬＬ\u{3000}ｗｉｄｔｈ"), "full width");
        assert_eq!(clean("ﬁne e\u{301}"), "fine \u{e9}");
        assert_eq!(clean("&#39;s &#x41; &lt;3"), "'s a <3");
    }

    #[test]
    fn ftfy_skips_entities_when_text_has_a_tag() {
        assert_eq!(fix_text("<b>&amp;</b>"), "<b>&amp;</b>");
        assert_eq!(fix_text("&amp;amp;"), "&");
    }
}
