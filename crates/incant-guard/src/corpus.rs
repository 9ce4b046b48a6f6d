//! The attack corpus and nearest-neighbour similarity with a sentence embedder.
//!
//! Rules catch phrasings someone wrote down; an embedder catches their paraphrases. The
//! corpus (`data/corpus/attacks.jsonl`) holds short attack exemplars of every family, and
//! `data/corpus/benign.jsonl` holds benign texts that share the attacks' words (requests
//! that say "ignore", "system", "instructions", role-play, code). A text's evidence is how
//! much closer it sits to the nearest attack than to the nearest benign exemplar: raw
//! similarity to attacks alone would flag every text that merely talks about prompts.
//! Neither file overlaps the evaluation set in `data/eval/`.
//!
//! Long texts are cut into windows (an injection hidden in the middle of a long document
//! would vanish in one mean-pooled vector, and MiniLM reads only 256 tokens) and the
//! closest window counts. The number of windows is capped, so cost stays bounded.

use crate::rules::Category;
use crate::GuardError;
use incant_engine::embed::cosine;
use incant_engine::{EmbedOptions, SentenceEmbedder};
use serde::{Deserialize, Serialize};

/// One corpus line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusEntry {
    /// The exemplar.
    pub text: String,
    /// Its attack family (attacks only).
    #[serde(default)]
    pub category: Option<Category>,
}

/// Attack and benign exemplars.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Attack exemplars.
    pub attacks: Vec<CorpusEntry>,
    /// Benign exemplars.
    pub benign: Vec<CorpusEntry>,
}

fn parse_jsonl(name: &str, text: &str) -> Result<Vec<CorpusEntry>, GuardError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| GuardError::Data {
                file: name.to_string(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

impl Corpus {
    /// The corpus shipped in the crate.
    pub fn builtin() -> Self {
        Self::parse(
            include_str!("../data/corpus/attacks.jsonl"),
            include_str!("../data/corpus/benign.jsonl"),
        )
        .expect("the built-in corpus parses (checked by a test)")
    }

    /// A corpus from JSON Lines texts (`{"text": ..., "category": ...}` per line).
    pub fn parse(attacks: &str, benign: &str) -> Result<Self, GuardError> {
        Ok(Self {
            attacks: parse_jsonl("attacks.jsonl", attacks)?,
            benign: parse_jsonl("benign.jsonl", benign)?,
        })
    }
}

/// Nearest-neighbour evidence for one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Nearest {
    /// Cosine similarity to the closest attack exemplar.
    pub attack: f32,
    /// Index of that exemplar in [`Corpus::attacks`].
    pub attack_index: usize,
    /// Cosine similarity to the closest benign exemplar.
    pub benign: f32,
}

/// Characters per window for long texts.
const WINDOW_CHARS: usize = 400;
/// Windows embedded per text at most.
const MAX_WINDOWS: usize = 8;

/// Texts per forward pass. The native encoder does not pad, so a batch costs what its
/// tokens cost; larger batches only mean fewer, better-filled parallel steps.
const BATCH_SIZE: usize = 64;

/// An embedder with the corpus embedded.
pub struct EmbeddingIndex {
    embedder: SentenceEmbedder,
    corpus: Corpus,
    attacks: Vec<Vec<f32>>,
    benign: Vec<Vec<f32>>,
    batch_size: usize,
}

impl EmbeddingIndex {
    /// Embeds `corpus` with `embedder`.
    pub fn new(embedder: SentenceEmbedder, corpus: Corpus) -> Result<Self, GuardError> {
        let opts = EmbedOptions {
            batch_size: BATCH_SIZE,
        };
        let a: Vec<&str> = corpus.attacks.iter().map(|e| e.text.as_str()).collect();
        let b: Vec<&str> = corpus.benign.iter().map(|e| e.text.as_str()).collect();
        let attacks = embedder.embed(&a, opts)?;
        let benign = embedder.embed(&b, opts)?;
        Ok(Self {
            embedder,
            corpus,
            attacks,
            benign,
            batch_size: BATCH_SIZE,
        })
    }

    /// The corpus.
    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    /// The embedder.
    pub fn embedder(&self) -> &SentenceEmbedder {
        &self.embedder
    }

    /// Embeds texts (one vector each, in order).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, GuardError> {
        Ok(self.embedder.embed(
            texts,
            EmbedOptions {
                batch_size: self.batch_size,
            },
        )?)
    }

    /// Nearest attack and benign exemplars of each text (the closest window of long texts).
    pub fn nearest(&self, texts: &[&str]) -> Result<Vec<Nearest>, GuardError> {
        let mut windows: Vec<&str> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for w in windows_of(t) {
                windows.push(w);
                owner.push(i);
            }
        }
        let vectors = self.embed(&windows)?;
        let mut out = vec![
            Nearest {
                attack: 0.0,
                attack_index: 0,
                benign: 0.0,
            };
            texts.len()
        ];
        let mut best_margin = vec![f32::NEG_INFINITY; texts.len()];
        for (v, &i) in vectors.iter().zip(&owner) {
            let (attack_index, attack) = best(&self.attacks, v);
            let benign = best(&self.benign, v).1;
            // The window that looks most like an attack relative to benign text wins.
            if attack - benign > best_margin[i] {
                best_margin[i] = attack - benign;
                out[i] = Nearest {
                    attack,
                    attack_index,
                    benign,
                };
            }
        }
        Ok(out)
    }
}

fn best(set: &[Vec<f32>], v: &[f32]) -> (usize, f32) {
    set.iter()
        .enumerate()
        .map(|(i, e)| (i, cosine(e, v)))
        .fold((0, 0.0), |b, x| if x.1 > b.1 { x } else { b })
}

/// Windows of about [`WINDOW_CHARS`] characters, cut at whitespace, at most
/// [`MAX_WINDOWS`] spread evenly over the text. Empty text gives one empty window.
pub(crate) fn windows_of(text: &str) -> Vec<&str> {
    if text.len() <= WINDOW_CHARS * 3 / 2 {
        return vec![text];
    }
    let mut cuts = vec![0];
    let mut pos = 0;
    while text.len() - pos > WINDOW_CHARS * 3 / 2 {
        let mut end = pos + WINDOW_CHARS;
        while !text.is_char_boundary(end) {
            end += 1;
        }
        // Prefer a cut at whitespace within the next 80 bytes.
        let cut = text[end..]
            .char_indices()
            .take(80)
            .find(|(_, c)| c.is_whitespace())
            .map_or(end, |(j, _)| end + j);
        cuts.push(cut);
        pos = cut;
    }
    cuts.push(text.len());
    let all: Vec<&str> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    if all.len() <= MAX_WINDOWS {
        return all;
    }
    (0..MAX_WINDOWS)
        .map(|k| all[k * (all.len() - 1) / (MAX_WINDOWS - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_corpus_parses_and_covers_every_family() {
        let c = Corpus::builtin();
        assert!(c.attacks.len() >= 50 && c.benign.len() >= 30);
        for cat in [
            Category::SystemPromptExtraction,
            Category::InstructionOverride,
            Category::RolePlayJailbreak,
            Category::DelimiterAttack,
            Category::IndirectInjection,
            Category::Multilingual,
        ] {
            assert!(c.attacks.iter().any(|e| e.category == Some(cat)), "{cat:?}");
        }
    }

    #[test]
    fn bad_corpus_line_is_located() {
        let err = Corpus::parse("{\"text\": \"a\"}\nnot json\n", "").unwrap_err();
        assert!(err.to_string().contains("attacks.jsonl:2"), "{err}");
    }

    #[test]
    fn windows_cover_long_text_boundedly() {
        assert_eq!(windows_of(""), vec![""]);
        assert_eq!(windows_of("short"), vec!["short"]);
        let long = "word ".repeat(200);
        let w = windows_of(&long);
        assert!(w.len() >= 2 && w.len() <= MAX_WINDOWS);
        assert_eq!(w.concat(), long);
        let huge = "汉字 ".repeat(500_000);
        assert_eq!(windows_of(&huge).len(), MAX_WINDOWS);
    }
}
