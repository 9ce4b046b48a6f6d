//! Image prompts against CLIP's 77-token window and each target's syntax: P007
//! `clip-truncation`, P008 `clip-chunks` and P009 `ignored-emphasis`.
//!
//! An image prompt is read by CLIP's text encoder, 75 tokens at a time. A1111 (and incant's
//! local pipeline) encode longer prompts in several chunks, cut where A1111's comma
//! backtracking puts the boundary; diffusers' pipelines keep the first 75 tokens and drop the
//! rest without a word. And the emphasis syntax a prompt was tuned with means nothing to some
//! targets. The rules render the prompt for every image target the suite runs it on (A1111
//! when it names none), tokenize it with OpenAI's CLIP BPE (the `clip-bpe` model) and report
//! what each target will do with it.

use crate::collect::Context;
use crate::registry::Rule;
use crate::Diagnostic;
use incant_image_prompt::{
    chunk_tokens, parse_prompt_attention, render, Item, Target, COMMA_BACKTRACK,
};
use incant_models::{resolve, ModelKind};
use incant_prompt::{resolve_var_templates, PromptKind};
use incant_tokenize::clip::ClipTokenizer;
use std::path::Path;

/// The doc of P007.
pub const TRUNCATION_DOC: &str = r#"# clip-truncation (P007)

## What it does
Tokenizes an image prompt with CLIP's BPE (as the target's text encoder does) and, for targets
that keep only the first 75 tokens (diffusers' pipelines: `diffusers` providers), names the
words past the window.

## Why is this bad?
CLIP reads 77 positions: a start marker, 75 tokens, an end marker. diffusers truncates the rest
and logs it at most, so the words at the end of a long prompt (often the style and quality
keywords) do nothing on that target while they still work on A1111, which encodes long prompts
in chunks. The same prompt gives different pictures, and nobody is told why.

## Example
```text
---
kind: image
---
a detailed portrait of an old fisherman ... (80 tokens) ..., golden hour, film grain
```
On a `diffusers` provider, `golden hour, film grain` never reach the model.

Use instead: move what matters to the front, shorten, or target a front end that chunks.
"#;

/// The doc of P008.
pub const CHUNKS_DOC: &str = r#"# clip-chunks (P008)

## What it does
For targets that encode long prompts in 75-token chunks the way A1111 does (A1111, Forge,
`local:sd`), shows where each chunk after the first begins: the word, at its place in the
file. A1111 moves the words after a comma into the next chunk when the comma is within 20
tokens of the boundary (`comma_padding_backtrack`), and `BREAK` starts a new chunk.

## Why is this bad?
Each chunk is encoded on its own: words in different chunks do not attend to each other, so
"red" at the end of one chunk no longer colours the "dress" that starts the next. Knowing
where the boundaries fall tells you where to put a `BREAK` or a comma on purpose.

## Example
```text
a woman in a long flowing (red:1.2) ... (74 tokens) ... dress
```
P008 reports that chunk 2 starts at `dress`.

Use instead: end each idea before the boundary, or place `BREAK` where you want it.
"#;

/// The doc of P009.
pub const IGNORED_DOC: &str = r#"# ignored-emphasis (P009)

## What it does
Renders an image prompt written in A1111's syntax for each target the suite runs it on and
reports what the target ignores: attention weights on OpenAI images, `[de-emphasis]`, prompt
editing, alternation, `AND` and `BREAK` on ComfyUI, a negative prompt where none can be sent.

## Why is this bad?
Weights tuned for hours on one front end are silently dropped by another; the comparison
between targets then measures the syntax, not the models.

## Example
```text
---
kind: image
negative: blurry
---
a ((red)) fox [in:on:10] the snow
```
On `openai:image:gpt-image-1`: the weights are ignored, the edit is resolved to one text, and
the negative prompt is not sent.

Use instead: a prompt per target family, or plain wording for natural-language targets.
"#;

/// The image targets of a prompt: its suite's providers and its own model; A1111 if none.
fn targets(cx: &Context) -> Vec<(String, Target)> {
    let mut ids: Vec<String> = cx
        .suite
        .map(|s| s.providers.iter().map(|p| p.id.clone()).collect())
        .unwrap_or_default();
    ids.extend(cx.prompt.model.clone());
    let mut out: Vec<(String, Target)> = Vec::new();
    for id in ids {
        if let Some(t) = Target::from_provider_id(&id) {
            if !out.iter().any(|(i, _)| *i == id) {
                out.push((id, t));
            }
        }
    }
    if out.is_empty() {
        out.push(("a1111 (no image provider named)".into(), Target::A1111));
    }
    out
}

/// The positive and negative prompt rendered with the first test case (or the defaults), else
/// as written.
fn rendered(cx: &Context) -> (String, String) {
    let vars = cx
        .suite
        .and_then(|s| s.vars.first())
        .map(resolve_var_templates)
        .unwrap_or_default();
    if let Ok(r) = cx.prompt.render(&vars) {
        return (r.text(), r.negative.unwrap_or_default());
    }
    let body = cx
        .prompt
        .sections
        .iter()
        .map(|s| s.template.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let negative = cx
        .prompt
        .negative
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    (body, negative)
}

/// The CLIP tokenizer, if `clip-bpe` is installed.
fn tokenizer(models_dir: &Path) -> Option<ClipTokenizer> {
    let model = resolve("clip-bpe", models_dir, ModelKind::Vocabulary).ok()?;
    let file = if model.path.is_dir() {
        model.path.join("bpe_simple_vocab_16e6.txt.gz")
    } else {
        model.path
    };
    ClipTokenizer::load(&file).ok()
}

/// Where the `nth` (0-based) occurrence of `word` is in the prompt body (file position), else
/// the body's start (a word that came from a variable).
fn position_of(cx: &Context, word: &str, nth: usize) -> (usize, usize) {
    let body_line = cx.prompt.sections.first().map_or(1, |s| s.line);
    let mut seen = 0;
    for (i, line) in cx
        .file
        .text
        .lines()
        .enumerate()
        .skip(body_line.saturating_sub(1))
    {
        for (byte, _) in line.match_indices(word) {
            if seen == nth {
                return (i + 1, line[..byte].chars().count() + 1);
            }
            seen += 1;
        }
    }
    (body_line, 1)
}

/// A word of the prompt and how many times the same word came before it.
type Origin = (String, usize);

/// Numbers each word by its earlier occurrences, so a finding points at the right one.
fn numbered<'a>(words: impl Iterator<Item = &'a str>) -> Vec<Origin> {
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    words
        .map(|w| {
            let n = counts.entry(w).or_default();
            *n += 1;
            (w.to_string(), *n - 1)
        })
        .collect()
}

/// Whether a piece is A1111's `BREAK` (inside brackets its weight changes and it is a word).
#[allow(clippy::float_cmp)]
fn is_break(text: &str, weight: f64) -> bool {
    text == "BREAK" && weight == incant_image_prompt::BREAK_WEIGHT
}

/// The words of `pieces` as chunker items, each token carrying its word.
fn items(tok: &ClipTokenizer, pieces: &[(String, f64)]) -> Vec<Item<Origin>> {
    let words: Vec<&str> = pieces
        .iter()
        .filter(|(t, w)| !is_break(t, *w))
        .flat_map(|(t, _)| t.split_whitespace())
        .collect();
    let mut origins = numbered(words.into_iter()).into_iter();
    let mut out = Vec::new();
    for (text, weight) in pieces {
        if is_break(text, *weight) {
            out.push(Item::Break);
            continue;
        }
        for word in text.split_whitespace() {
            let origin = origins.next().unwrap_or_else(|| (word.to_string(), 0));
            for id in tok.encode(word) {
                out.push(Item::Token {
                    id,
                    weight: *weight,
                    origin: origin.clone(),
                });
            }
        }
    }
    out
}

/// P007, P008 and P009 for one image prompt.
pub fn check(cx: &Context, rules: &[Rule], out: &mut Vec<Diagnostic>) {
    if cx.prompt.kind != PromptKind::Image {
        return;
    }
    let (prompt, negative) = rendered(cx);
    let steps = cx.prompt.image.as_ref().and_then(|p| p.steps).unwrap_or(20);
    let tok = (rules.contains(&Rule::ClipTruncation) || rules.contains(&Rule::ClipChunks))
        .then(|| tokenizer(cx.models.dir()))
        .flatten();
    let comma = tok.as_ref().and_then(|t| t.encode(",").first().copied());
    for (id, target) in targets(cx) {
        let r = render(&prompt, &negative, target, steps);
        if rules.contains(&Rule::IgnoredEmphasis) {
            for w in &r.warnings {
                out.push(cx.diagnostic(
                    Rule::IgnoredEmphasis,
                    position_of(cx, "", 0),
                    format!("on `{id}`: {w}"),
                ));
            }
        }
        let (Some(tok), Some(comma)) = (&tok, comma) else {
            continue;
        };
        if target.truncates_at_77() && rules.contains(&Rule::ClipTruncation) {
            let words = numbered(r.prompt.split_whitespace());
            let mut used = 0;
            let mut dropped: Vec<&Origin> = Vec::new();
            for w in &words {
                let n = tok.encode(&w.0).len();
                if used + n > incant_image_prompt::CHUNK_LENGTH {
                    dropped.push(w);
                }
                used += n;
            }
            if let Some((first, nth)) = dropped.first() {
                let dropped: Vec<&str> = dropped.iter().map(|w| w.0.as_str()).collect();
                out.push(cx.diagnostic(
                    Rule::ClipTruncation,
                    position_of(cx, first, *nth),
                    format!(
                        "on `{id}` the prompt is {used} CLIP tokens; everything past token 75 \
                         is dropped silently: `{}`",
                        dropped.join(" ")
                    ),
                ));
            }
        }
        if target.chunks_like_a1111() && rules.contains(&Rule::ClipChunks) {
            let pieces = parse_prompt_attention(&prompt);
            let chunks = chunk_tokens(items(tok, &pieces), comma, COMMA_BACKTRACK);
            let n = chunks.len();
            for (i, chunk) in chunks.iter().enumerate().skip(1) {
                let Some((_, _, (word, nth))) = chunk.tokens.first() else {
                    continue;
                };
                out.push(cx.diagnostic(
                    Rule::ClipChunks,
                    position_of(cx, word, *nth),
                    format!(
                        "on `{id}` the prompt is encoded in {n} CLIP chunks of up to 75 tokens; \
                         chunk {} ({} tokens) starts at `{word}`",
                        i + 1,
                        chunk.tokens.len()
                    ),
                ));
            }
        }
    }
}
