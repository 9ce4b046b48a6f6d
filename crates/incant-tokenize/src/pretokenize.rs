//! Pre-tokenizers: how text is cut into words before BPE merges run inside each word.
//!
//! HF tokenizers and llama.cpp describe pre-tokenizers as regexes with look-ahead
//! (`\s+(?!\S)`), which the `regex` crate cannot run. llama.cpp itself hand-codes the common
//! ones; this module does the same, codepoint by codepoint, so that the word boundaries (and
//! therefore the token ids) match llama.cpp exactly:
//!
//! - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! - `smollm` and its relatives (`starcoder`, `refact`, `command-r`, `codeshell`, `exaone`,
//!   `minerva`): first every `\p{N}` codepoint on its own, then `gpt2` inside each piece.

use std::ops::Range;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// A pre-tokenizer as named by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's regex.
    Gpt2,
    /// Single digits first, then GPT-2's regex (SmolLM, StarCoder and friends).
    DigitsThenGpt2,
}

impl PreTokenizer {
    /// The names accepted in `tokenizer.ggml.pre`, for error messages.
    pub const SUPPORTED: &'static str =
        "gpt2, smollm, starcoder, refact, command-r, codeshell, exaone, minerva";

    /// Looks up a pre-tokenizer by its GGUF name.
    pub fn from_gguf_name(name: &str) -> Option<Self> {
        match name {
            "gpt2" | "mpt" | "olmo" | "jais" => Some(Self::Gpt2),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva" => Some(Self::DigitsThenGpt2),
            _ => None,
        }
    }

    /// Splits `text` into word byte ranges, in order, covering all of `text`.
    pub fn split(self, text: &str, out: &mut Vec<Range<usize>>) {
        let cpts: Vec<(usize, char)> = text.char_indices().collect();
        let end_byte = text.len();
        let byte_at = |i: usize| cpts.get(i).map_or(end_byte, |&(b, _)| b);
        let mut pieces = Vec::new();
        match self {
            Self::Gpt2 => gpt2(&cpts, 0..cpts.len(), &mut pieces),
            Self::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, &(_, c)) in cpts.iter().enumerate() {
                    if is_number(c) {
                        if start < i {
                            gpt2(&cpts, start..i, &mut pieces);
                        }
                        pieces.push(i..i + 1);
                        start = i + 1;
                    }
                }
                if start < cpts.len() {
                    gpt2(&cpts, start..cpts.len(), &mut pieces);
                }
            }
        }
        out.extend(pieces.into_iter().map(|r| byte_at(r.start)..byte_at(r.end)));
    }
}

fn is_letter(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Letter
}

fn is_number(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Number
}

/// Character classes of one codepoint, `None` past the end of the fragment.
#[derive(Clone, Copy)]
struct Flags {
    letter: bool,
    number: bool,
    space: bool,
}

/// GPT-2's regex over the codepoints `range` of `cpts`, pushing codepoint ranges.
fn gpt2(cpts: &[(usize, char)], range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let end = range.end;
    let cpt = |i: usize| (i < end).then(|| cpts[i].1);
    let flags = |i: usize| {
        cpt(i).map(|c| Flags {
            letter: is_letter(c),
            number: is_number(c),
            space: c.is_whitespace(),
        })
    };
    let mut pos = range.start;
    while pos < end {
        let start = pos;
        let c = cpts[pos].1;
        // 's|'t|'re|'ve|'m|'ll|'d
        if c == '\'' {
            let next = cpt(pos + 1);
            if matches!(next, Some('s' | 't' | 'm' | 'd')) {
                pos += 2;
                out.push(start..pos);
                continue;
            }
            let next2 = cpt(pos + 2);
            if matches!(
                (next, next2),
                (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
            ) {
                pos += 3;
                out.push(start..pos);
                continue;
            }
        }
        let lead_space = c == ' ';
        let f2 = if lead_space {
            flags(pos + 1)
        } else {
            flags(pos)
        };
        if let Some(f2) = f2 {
            // ` ?\p{L}+` / ` ?\p{N}+` / ` ?[^\s\p{L}\p{N}]+`
            let class: Option<fn(Flags) -> bool> = if f2.letter {
                Some(|f| f.letter)
            } else if f2.number {
                Some(|f| f.number)
            } else if !(f2.space || f2.letter || f2.number) {
                Some(|f| !(f.space || f.letter || f.number))
            } else {
                None
            };
            if let Some(class) = class {
                pos += usize::from(lead_space);
                while flags(pos).is_some_and(class) {
                    pos += 1;
                }
                out.push(start..pos);
                continue;
            }
        }
        let mut spaces = 0;
        while flags(pos + spaces).is_some_and(|f| f.space) {
            spaces += 1;
        }
        if spaces > 1 && pos + spaces < end {
            // \s+(?!\S): leave the last space to the next word.
            pos += spaces - 1;
        } else if spaces > 0 {
            pos += spaces;
        } else {
            pos += 1;
        }
        out.push(start..pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(p: PreTokenizer, text: &str) -> Vec<&str> {
        let mut r = Vec::new();
        p.split(text, &mut r);
        r.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn gpt2_splits_like_the_regex() {
        assert_eq!(
            words(PreTokenizer::Gpt2, "Hello world's  end!!\n\nok"),
            ["Hello", " world", "'s", " ", " end", "!!", "\n", "\n", "ok"]
        );
    }

    #[test]
    fn trailing_spaces_stay_together() {
        assert_eq!(words(PreTokenizer::Gpt2, "a   "), ["a", "   "]);
    }

    #[test]
    fn digits_are_split_one_by_one() {
        assert_eq!(
            words(PreTokenizer::DigitsThenGpt2, "pi 3.14 x"),
            ["pi", " ", "3", ".", "1", "4", " x"]
        );
    }

    #[test]
    fn covers_every_byte() {
        let text = "中文 text\u{200b} 😀😀 \t\tend";
        let mut r = Vec::new();
        PreTokenizer::DigitsThenGpt2.split(text, &mut r);
        let joined: String = r.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(joined, text);
    }
}
