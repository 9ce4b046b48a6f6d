//! AUTOMATIC1111's prompt chunking: a weighted, tokenised prompt cut into 75-token chunks,
//! each wrapped in start and end markers and padded to CLIP's 77 positions.
//!
//! This is `FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line` of A1111's
//! `modules/sd_hijack_clip.py` (the cutting itself is `incant_image_prompt::chunk_tokens`,
//! which `incant lint` uses too; this module adds the markers and the padding):
//!
//! - every token carries the weight of the prompt piece it came from;
//! - a chunk that is full (75 tokens) is closed before the next token goes in, but when a
//!   comma was seen no more than `backtrack` tokens before the boundary (A1111's
//!   `comma_padding_backtrack`, 20 by default), the tokens after that comma move to the next
//!   chunk so a phrase is not cut in half;
//! - `BREAK` closes the current chunk, padding it even when it is empty;
//! - the last chunk is closed if it holds anything, and an empty prompt gives one chunk;
//! - padding is the end token, weight 1; the markers have weight 1. Models whose tokenizer
//!   pads with another token (SD 2.x pads with `!`, id 0) get that token after the first end
//!   marker, as A1111's `process_tokens` does.

/// One piece of a weighted prompt after tokenising.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// The tokens of one `(text, weight)` pair.
    Tokens {
        /// The piece's token ids (no markers).
        ids: Vec<u32>,
        /// The attention weight of every token of the piece.
        weight: f64,
    },
    /// `BREAK` (A1111's `("BREAK", -1)` pair): start a new chunk.
    Break,
}

/// The token ids chunking needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// `<|startoftext|>`.
    pub start: u32,
    /// `<|endoftext|>`.
    pub end: u32,
    /// The padding token after the first end marker.
    pub pad: u32,
    /// `,</w>`, the token comma backtracking looks for.
    pub comma: Option<u32>,
}

/// One 77-token chunk and the weight of each position.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Start marker, up to 75 prompt tokens, end marker, padding.
    pub tokens: Vec<u32>,
    /// One weight per token (1 for markers and padding).
    pub weights: Vec<f64>,
}

/// Prompt tokens per chunk.
pub const CHUNK_TOKENS: usize = 75;
/// A1111's default `comma_padding_backtrack`.
pub const COMMA_BACKTRACK: usize = 20;

/// Cuts `pieces` into chunks of [`CHUNK_TOKENS`] prompt tokens (see the module doc);
/// `backtrack` 0 turns comma backtracking off.
pub fn chunk_prompt(pieces: &[Piece], ids: &SpecialIds, backtrack: usize) -> Vec<Chunk> {
    use incant_image_prompt::{chunk_tokens, Item};
    let items = pieces.iter().flat_map(|piece| match piece {
        Piece::Break => vec![Item::Break],
        Piece::Tokens { ids, weight } => ids
            .iter()
            .map(|&id| Item::Token {
                id,
                weight: *weight,
                origin: (),
            })
            .collect(),
    });
    // Without a comma token nothing matches it, so nothing is backtracked.
    let comma = ids.comma.unwrap_or(u32::MAX);
    chunk_tokens(items, comma, backtrack)
        .iter()
        .map(|chunk| {
            let (tokens, weights) = chunk.padded(ids.start, ids.end, ids.pad);
            Chunk { tokens, weights }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: SpecialIds = SpecialIds {
        start: 1000,
        end: 1001,
        pad: 1001,
        comma: Some(9),
    };

    fn words(n: usize, from: u32) -> Vec<u32> {
        (from..from + n as u32).collect()
    }

    fn piece(ids: Vec<u32>, weight: f64) -> Piece {
        Piece::Tokens { ids, weight }
    }

    /// The prompt tokens of a chunk (between the start marker and the first end marker).
    fn body(c: &Chunk) -> &[u32] {
        let end = c.tokens.iter().position(|&t| t == IDS.end).unwrap();
        &c.tokens[1..end]
    }

    #[test]
    fn empty_prompt_is_one_padded_chunk() {
        let chunks = chunk_prompt(&[], &IDS, COMMA_BACKTRACK);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].tokens.len(), 77);
        assert_eq!(chunks[0].tokens[0], IDS.start);
        assert!(chunks[0].tokens[1..].iter().all(|&t| t == IDS.end));
        assert!(chunks[0].weights.iter().all(|&w| w == 1.0));
    }

    #[test]
    fn tokens_carry_their_piece_weight() {
        let chunks = chunk_prompt(
            &[
                piece(vec![10, 11], 1.0),
                piece(vec![12], 1.21),
                piece(vec![13], 0.5),
            ],
            &IDS,
            COMMA_BACKTRACK,
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(body(&chunks[0]), &[10, 11, 12, 13]);
        assert_eq!(&chunks[0].weights[..6], &[1.0, 1.0, 1.0, 1.21, 0.5, 1.0]);
    }

    #[test]
    fn seventy_five_tokens_fit_seventy_six_do_not() {
        let one = chunk_prompt(&[piece(words(75, 100), 1.0)], &IDS, COMMA_BACKTRACK);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].tokens[76], IDS.end);
        let two = chunk_prompt(&[piece(words(76, 100), 1.0)], &IDS, COMMA_BACKTRACK);
        assert_eq!(two.len(), 2);
        assert_eq!(body(&two[0]).len(), 75);
        assert_eq!(body(&two[1]), &[175]);
    }

    #[test]
    fn comma_within_backtrack_moves_the_phrase_to_the_next_chunk() {
        // 70 words, a comma at index 70, then 10 more words: the boundary falls 5 tokens
        // after the comma, so the 4 words after it move on with the rest.
        let mut ids = words(70, 100);
        ids.push(9);
        ids.extend(words(10, 500));
        let chunks = chunk_prompt(&[piece(ids.clone(), 1.3)], &IDS, COMMA_BACKTRACK);
        assert_eq!(chunks.len(), 2);
        assert_eq!(body(&chunks[0]).len(), 71);
        assert_eq!(*body(&chunks[0]).last().unwrap(), 9);
        assert_eq!(body(&chunks[1]), &words(10, 500)[..]);
        assert!(chunks[1].weights[1..11].iter().all(|&w| w == 1.3));
        // Backtracking off: a hard cut at 75.
        let hard = chunk_prompt(&[piece(ids, 1.0)], &IDS, 0);
        assert_eq!(body(&hard[0]).len(), 75);
        assert_eq!(body(&hard[1]).len(), 6);
    }

    #[test]
    fn comma_too_far_back_is_a_hard_cut() {
        // The comma sits 30 tokens before the boundary: more than 20, so no backtracking.
        let mut ids = words(44, 100);
        ids.push(9);
        ids.extend(words(40, 500));
        let chunks = chunk_prompt(&[piece(ids, 1.0)], &IDS, COMMA_BACKTRACK);
        assert_eq!(body(&chunks[0]).len(), 75);
        assert_eq!(body(&chunks[1]).len(), 10);
    }

    #[test]
    fn break_starts_a_new_chunk_even_an_empty_one() {
        let chunks = chunk_prompt(
            &[piece(vec![10], 1.0), Piece::Break, piece(vec![11], 1.0)],
            &IDS,
            COMMA_BACKTRACK,
        );
        assert_eq!(chunks.len(), 2);
        assert_eq!(body(&chunks[0]), &[10]);
        assert_eq!(body(&chunks[1]), &[11]);
        let leading = chunk_prompt(&[Piece::Break, piece(vec![11], 1.0)], &IDS, COMMA_BACKTRACK);
        assert_eq!(leading.len(), 2);
        assert!(body(&leading[0]).is_empty());
        let trailing = chunk_prompt(&[piece(vec![11], 1.0), Piece::Break], &IDS, COMMA_BACKTRACK);
        assert_eq!(trailing.len(), 1);
    }

    #[test]
    fn another_pad_token_follows_the_first_end_marker() {
        let ids = SpecialIds { pad: 0, ..IDS };
        let chunks = chunk_prompt(&[piece(vec![10, 11], 2.0)], &ids, COMMA_BACKTRACK);
        let t = &chunks[0].tokens;
        assert_eq!(&t[..4], &[1000, 10, 11, 1001]);
        assert!(t[4..].iter().all(|&x| x == 0));
    }
}
