//! Image prompt dialects, starting with AUTOMATIC1111's prompt syntax.
//!
//! Stable Diffusion front ends read more than plain text: A1111 gives `(x)`, `[x]` and
//! `(x:1.3)` attention weights, `BREAK` chunk boundaries, prompt editing `[from:to:when]`,
//! alternation `[a|b]` and composable `AND`. incant has to read those prompts the way A1111
//! does, so every function here reproduces A1111's result on the same text (checked against
//! reference data made by A1111's own `modules/prompt_parser.py`):
//!
//! - [`parse_prompt_attention`]: the flat list of text and weight pairs;
//! - [`parse_schedule`] and [`prompt_schedules`]: the editing/alternation syntax tree and the
//!   prompt text at each sampling step;
//! - [`split_and`]: the composable sub-prompts and their weights;
//! - [`chunk_tokens`]: CLIP's 75-token windows as A1111 fills them (comma backtracking,
//!   `BREAK`);
//! - [`render()`]: the prompt as each target reads it (A1111, ComfyUI, diffusers, the local
//!   pipeline, OpenAI images), with warnings for what a target ignores.

mod attention;
pub mod chunks;
mod compose;
pub mod render;
mod schedule;

pub use attention::{parse_prompt_attention, BREAK_WEIGHT};
pub use chunks::{chunk_tokens, Chunk, Item, CHUNK_LENGTH, COMMA_BACKTRACK};
pub use compose::split_and;
pub use render::{render, Rendered, Target, Weighted};
pub use schedule::{parse_schedule, prompt_schedules, Node, ScheduleError};

/// Python's `str.isspace`, which is what `\s` means in A1111's regular expressions.
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `\w` on `str` patterns: letters, digits and the underscore.
pub(crate) fn py_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges of `\bWORD\b` in `text`, left to right and not overlapping, as `re` finds them.
pub(crate) fn find_word(text: &str, word: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find(word) {
        let start = from + rel;
        let end = start + word.len();
        let before_ok = !text[..start].chars().next_back().is_some_and(py_word);
        let after_ok = !text[end..].chars().next().is_some_and(py_word);
        if before_ok && after_ok {
            found.push((start, end));
            from = end;
        } else {
            from = start + word.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}
