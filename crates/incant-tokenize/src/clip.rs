//! OpenAI CLIP's BPE tokenizer, id for id the same as `clip/simple_tokenizer.py`.
//!
//! Stable Diffusion 1.x and every OpenAI CLIP model read a prompt through this tokenizer and
//! silently drop everything past 77 tokens (75 plus the start and end markers). incant's
//! lint rules, token windows and CLIP score need the exact ids to say where a prompt is cut,
//! so this module follows OpenAI's code step by step:
//!
//! 1. clean the text ([`crate::clip_clean::clean`]: ftfy-style fixes, HTML unescaping twice,
//!    whitespace collapsed, lowercase);
//! 2. split it with OpenAI's regex (the two special tokens, English contractions, runs of
//!    letters, single digits, runs of other non-space characters);
//! 3. map each piece's UTF-8 bytes through GPT-2's byte-to-unicode table, mark the last
//!    character with `</w>` and apply the ranked merges of `bpe_simple_vocab_16e6.txt.gz`.
//!
//! The vocabulary is rebuilt as OpenAI builds it: the 256 byte characters, the same with
//! `</w>`, one token per merge (the first 48,894 merge lines), then `<|startoftext|>`
//! (49406) and `<|endoftext|>` (49407).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use regex::Regex;

use crate::bytes::{byte_to_char, decode_token};
use crate::clip_clean::clean;
use crate::TokenizeError;

/// The id of `<|startoftext|>`.
pub const START_OF_TEXT: u32 = 49406;
/// The id of `<|endoftext|>`.
pub const END_OF_TEXT: u32 = 49407;
/// CLIP's context: 77 positions, 75 of them for the prompt.
pub const CONTEXT_LENGTH: usize = 77;

/// The number of merge lines OpenAI reads (`merges[1:49152-256-2+1]`).
const MERGES: usize = 49152 - 256 - 2;

/// OpenAI's pre-tokenizer pattern (case-insensitive).
const PATTERN: &str =
    r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

/// A loaded CLIP tokenizer.
#[derive(Debug)]
pub struct ClipTokenizer {
    encoder: HashMap<String, u32>,
    decoder: Vec<String>,
    ranks: HashMap<(String, String), u32>,
    pattern: Regex,
}

impl ClipTokenizer {
    /// Loads `bpe_simple_vocab_16e6.txt.gz` (the `clip-bpe` model of `incant models fetch`).
    pub fn load(path: &Path) -> Result<Self, TokenizeError> {
        let io = |e: std::io::Error| {
            TokenizeError::InvalidVocab(format!("cannot read {}: {e}", path.display()))
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .map_err(io)?;
        Self::from_merges(&text)
    }

    /// Builds the tokenizer from the decompressed merges file (a header line, then one
    /// `left right` pair per line).
    pub fn from_merges(text: &str) -> Result<Self, TokenizeError> {
        let lines: Vec<&str> = text.split('\n').skip(1).take(MERGES).collect();
        if lines.len() != MERGES {
            return Err(TokenizeError::InvalidVocab(format!(
                "CLIP merges file has {} merge lines, expected at least {MERGES}",
                lines.len()
            )));
        }
        let mut byte_chars: Vec<char> = (0..=255u8).map(byte_to_char).collect();
        // OpenAI's order: the printable bytes first, then the remapped ones, which is
        // ascending code point order of the table's characters.
        byte_chars.sort_unstable();
        let mut decoder: Vec<String> = byte_chars.iter().map(|c| c.to_string()).collect();
        decoder.extend(byte_chars.iter().map(|c| format!("{c}</w>")));
        let mut ranks = HashMap::with_capacity(MERGES);
        for (rank, line) in lines.iter().enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                return Err(TokenizeError::InvalidVocab(format!(
                    "CLIP merge line {} is not a pair: {line:?}",
                    rank + 2
                )));
            };
            decoder.push(format!("{a}{b}"));
            ranks.insert((a.to_string(), b.to_string()), rank as u32);
        }
        decoder.push("<|startoftext|>".to_string());
        decoder.push("<|endoftext|>".to_string());
        let encoder = decoder
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let pattern = Regex::new(PATTERN).expect("the CLIP pattern is valid");
        Ok(Self {
            encoder,
            decoder,
            ranks,
            pattern,
        })
    }

    /// The vocabulary size (49,408).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// The token ids of `text`, without the start and end markers (OpenAI's `encode`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.pieces(text).into_iter().map(|(_, id)| id).collect()
    }

    /// The ids wrapped in `<|startoftext|>` ... `<|endoftext|>`, as the text encoder sees them.
    pub fn encode_with_specials(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![START_OF_TEXT];
        ids.extend(self.encode(text));
        ids.push(END_OF_TEXT);
        ids
    }

    /// Each token as its vocabulary string (with `</w>` on word ends) and its id.
    pub fn pieces(&self, text: &str) -> Vec<(String, u32)> {
        let cleaned = clean(text);
        let mut out = Vec::new();
        for m in self.pattern.find_iter(&cleaned) {
            let word = m.as_str();
            if word == "<|startoftext|>" || word == "<|endoftext|>" {
                out.push((word.to_string(), self.encoder[word]));
                continue;
            }
            let mapped: Vec<char> = word.bytes().map(byte_to_char).collect();
            for piece in self.bpe(&mapped) {
                let id = self.encoder[&piece];
                out.push((piece, id));
            }
        }
        out
    }

    /// The ranked merges of one pre-tokenized word (already byte-mapped).
    fn bpe(&self, chars: &[char]) -> Vec<String> {
        let mut word: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|w| self.ranks.get(&(w[0].clone(), w[1].clone())))
                .min()
                .copied();
            let Some(best) = best else { break };
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len()
                    && self.ranks.get(&(word[i].clone(), word[i + 1].clone())) == Some(&best)
                {
                    merged.push(format!("{}{}", word[i], word[i + 1]));
                    i += 2;
                } else {
                    merged.push(word[i].clone());
                    i += 1;
                }
            }
            word = merged;
        }
        word
    }

    /// The text of `ids` as OpenAI's `decode` returns it: word ends become spaces, invalid
    /// UTF-8 is replaced.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizeError> {
        let mut bytes = Vec::new();
        for &id in ids {
            let token = self
                .decoder
                .get(id as usize)
                .ok_or(TokenizeError::UnknownId {
                    id,
                    size: self.decoder.len(),
                })?;
            decode_token(token, &mut bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).replace("</w>", " "))
    }

    /// The prompt's ids cut into windows of `size` tokens (75 for CLIP: each window is one
    /// 77-token encoder pass with its start and end markers). An empty prompt has no window.
    pub fn token_windows(&self, text: &str, size: usize) -> Vec<Vec<u32>> {
        let size = size.max(1);
        self.encode(text)
            .chunks(size)
            .map(<[u32]>::to_vec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny merges file: `c a`, `ca t</w>`.
    fn tiny() -> ClipTokenizer {
        let mut text = String::from("#version\nc a\nca t</w>\n");
        for i in 0..MERGES - 2 {
            text.push_str(&format!("x{i} y\n"));
        }
        ClipTokenizer::from_merges(&text).unwrap()
    }

    #[test]
    fn builds_openai_vocab_layout() {
        let t = tiny();
        assert_eq!(t.vocab_size(), 49408);
        assert_eq!(t.encoder["!"], 0);
        assert_eq!(t.encoder["!</w>"], 256);
        assert_eq!(t.encoder["ca"], 512);
        assert_eq!(t.encoder["cat</w>"], 513);
        assert_eq!(t.encoder["<|endoftext|>"], END_OF_TEXT);
    }

    #[test]
    fn merges_and_decodes() {
        let t = tiny();
        assert_eq!(t.encode("CAT"), vec![513]);
        assert_eq!(
            t.encode_with_specials("cat"),
            vec![START_OF_TEXT, 513, END_OF_TEXT]
        );
        assert_eq!(t.decode(&[513, 513]).unwrap(), "cat cat ");
        assert!(t.decode(&[49408]).is_err());
        assert_eq!(
            t.token_windows("cat cat cat", 2),
            vec![vec![513, 513], vec![513]]
        );
    }

    #[test]
    fn short_merges_file_is_an_error() {
        assert!(ClipTokenizer::from_merges("#v\na b\n").is_err());
    }
}
