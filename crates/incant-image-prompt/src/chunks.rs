//! CLIP token windows the way A1111 fills them: 75-token chunks, comma backtracking, `BREAK`.
//!
//! CLIP's text encoder sees 77 positions: a start marker, 75 tokens and an end marker. A1111
//! (and incant's local pipeline) encode longer prompts as several such chunks and concatenate
//! the results; other front ends (diffusers' default pipeline, most APIs built on it) keep the
//! first 75 tokens and drop the rest without a word. Where a chunk ends changes the image, so
//! [`chunk_tokens`] reproduces A1111's `tokenize_line` exactly:
//!
//! - tokens fill a chunk up to [`CHUNK_LENGTH`];
//! - when a chunk is full and a comma was seen within the last `backtrack` tokens (A1111's
//!   `comma_padding_backtrack` option, 20 by default), the tokens after that comma move to the
//!   next chunk, so a phrase is not cut in two;
//! - a `BREAK` (the attention parser's `("BREAK", -1.0)` piece; inside brackets its weight is
//!   no longer -1 and A1111 reads it as the word) closes the current chunk, even an empty one;
//! - an empty prompt is one empty chunk.
//!
//! The chunker is generic over an `origin` carried by each token, so the linter can say which
//! words start each chunk and the pipeline can carry weights.

/// Prompt tokens per chunk (77 positions minus the start and end markers).
pub const CHUNK_LENGTH: usize = 75;

/// A1111's default `comma_padding_backtrack`.
pub const COMMA_BACKTRACK: usize = 20;

/// One input to the chunker.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<O> {
    /// A token with its attention weight and where it came from.
    Token {
        /// The CLIP token id.
        id: u32,
        /// Its attention weight.
        weight: f64,
        /// The caller's note of where it came from.
        origin: O,
    },
    /// A `BREAK`: start a new chunk.
    Break,
}

/// One chunk's tokens (at most [`CHUNK_LENGTH`], without markers or padding).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<O> {
    /// `(id, weight, origin)` in order.
    pub tokens: Vec<(u32, f64, O)>,
}

impl<O> Chunk<O> {
    /// The 77 ids the encoder sees, and their weights: `bos`, the tokens, `eos`, then `pad`
    /// (A1111 pads with the end marker and, for OpenCLIP, turns everything after the first end
    /// marker into `pad`, id 0; for OpenAI CLIP `pad` is the end marker itself).
    pub fn padded(&self, bos: u32, eos: u32, pad: u32) -> (Vec<u32>, Vec<f64>) {
        let mut ids = Vec::with_capacity(CHUNK_LENGTH + 2);
        let mut weights = Vec::with_capacity(CHUNK_LENGTH + 2);
        ids.push(bos);
        weights.push(1.0);
        for (id, w, _) in &self.tokens {
            ids.push(*id);
            weights.push(*w);
        }
        ids.push(eos);
        weights.push(1.0);
        while ids.len() < CHUNK_LENGTH + 2 {
            ids.push(pad);
            weights.push(1.0);
        }
        (ids, weights)
    }
}

/// Splits tokens into chunks as A1111's `tokenize_line` does (see the module doc).
pub fn chunk_tokens<O: Clone>(
    items: impl IntoIterator<Item = Item<O>>,
    comma_id: u32,
    backtrack: usize,
) -> Vec<Chunk<O>> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<(u32, f64, O)> = Vec::new();
    // Index in `chunk` of the last comma, if any since the chunk began.
    let mut last_comma: Option<usize> = None;
    for item in items {
        let (id, weight, origin) = match item {
            Item::Break => {
                chunks.push(Chunk {
                    tokens: std::mem::take(&mut chunk),
                });
                last_comma = None;
                continue;
            }
            Item::Token { id, weight, origin } => (id, weight, origin),
        };
        if id == comma_id {
            last_comma = Some(chunk.len());
        } else if let Some(comma) = last_comma.filter(|&c| {
            backtrack != 0 && chunk.len() == CHUNK_LENGTH && chunk.len() - c <= backtrack
        }) {
            let moved = chunk.split_off(comma + 1);
            chunks.push(Chunk {
                tokens: std::mem::replace(&mut chunk, moved),
            });
            last_comma = None;
        }
        if chunk.len() == CHUNK_LENGTH {
            chunks.push(Chunk {
                tokens: std::mem::take(&mut chunk),
            });
            last_comma = None;
        }
        chunk.push((id, weight, origin));
    }
    if !chunk.is_empty() || chunks.is_empty() {
        chunks.push(Chunk { tokens: chunk });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMA: u32 = 267;

    fn tokens(ids: &[u32]) -> Vec<Item<usize>> {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| Item::Token {
                id,
                weight: 1.0,
                origin: i,
            })
            .collect()
    }

    fn lens(chunks: &[Chunk<usize>]) -> Vec<usize> {
        chunks.iter().map(|c| c.tokens.len()).collect()
    }

    #[test]
    fn short_and_empty_prompts_are_one_chunk() {
        assert_eq!(lens(&chunk_tokens(tokens(&[1, 2, 3]), COMMA, 20)), [3]);
        assert_eq!(lens(&chunk_tokens(tokens(&[]), COMMA, 20)), [0]);
    }

    #[test]
    fn exactly_75_is_one_chunk_and_76_is_two() {
        assert_eq!(lens(&chunk_tokens(tokens(&[5; 75]), COMMA, 20)), [75]);
        assert_eq!(lens(&chunk_tokens(tokens(&[5; 76]), COMMA, 20)), [75, 1]);
        assert_eq!(lens(&chunk_tokens(tokens(&[5; 150]), COMMA, 20)), [75, 75]);
    }

    #[test]
    fn a_comma_near_the_end_moves_the_phrase_after_it() {
        // Comma at index 60: the chunk is cut after it; 14 tokens move on.
        let mut ids = vec![5u32; 80];
        ids[60] = COMMA;
        let chunks = chunk_tokens(tokens(&ids), COMMA, 20);
        assert_eq!(lens(&chunks), [61, 19]);
        assert_eq!(chunks[1].tokens[0].2, 61);
        // Too far back (index 50: 25 tokens): no backtracking.
        let mut ids = vec![5u32; 80];
        ids[50] = COMMA;
        assert_eq!(lens(&chunk_tokens(tokens(&ids), COMMA, 20)), [75, 5]);
        // Backtracking off.
        let mut ids = vec![5u32; 80];
        ids[60] = COMMA;
        assert_eq!(lens(&chunk_tokens(tokens(&ids), COMMA, 0)), [75, 5]);
    }

    #[test]
    fn a_comma_as_the_76th_token_stays_whole() {
        // The 76th token is a comma: it is not backtracked over, it starts the next chunk.
        let mut ids = vec![5u32; 77];
        ids[75] = COMMA;
        assert_eq!(lens(&chunk_tokens(tokens(&ids), COMMA, 20)), [75, 2]);
    }

    #[test]
    fn break_closes_the_chunk_even_when_empty() {
        let mut items = tokens(&[1, 2]);
        items.push(Item::Break);
        items.extend(tokens(&[3]));
        assert_eq!(lens(&chunk_tokens(items, COMMA, 20)), [2, 1]);
        let items: Vec<Item<usize>> = vec![Item::Break];
        assert_eq!(lens(&chunk_tokens(items, COMMA, 20)), [0]);
        let mut items: Vec<Item<usize>> = vec![Item::Break];
        items.extend(tokens(&[1]));
        assert_eq!(lens(&chunk_tokens(items, COMMA, 20)), [0, 1]);
    }

    #[test]
    fn padding_puts_markers_around_the_tokens() {
        let chunk = &chunk_tokens(tokens(&[7, 8]), COMMA, 20)[0];
        let (ids, weights) = chunk.padded(49406, 49407, 0);
        assert_eq!(ids.len(), 77);
        assert_eq!(&ids[..4], &[49406, 7, 8, 49407]);
        assert!(ids[4..].iter().all(|&i| i == 0));
        assert!(weights.iter().all(|&w| w == 1.0));
    }
}
