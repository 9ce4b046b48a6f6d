//! Prompt conditioning as AUTOMATIC1111 computes it: a weighted prompt tokenised piece by
//! piece, chunked ([`crate::chunks`]), every chunk encoded by CLIP, the hidden states
//! multiplied by their tokens' weights and rescaled so the chunk's mean is what it was
//! before weighting (A1111's "Original" emphasis: `z * w`, then `z * (old_mean / new_mean)`),
//! and the chunks concatenated along the sequence.

use candle_core::{DType, Device, Tensor};
use incant_tokenize::clip::{ClipTokenizer, END_OF_TEXT, START_OF_TEXT};

use crate::chunks::{chunk_prompt, Chunk, Piece, SpecialIds, COMMA_BACKTRACK};
use crate::text_encoder::ClipTextEncoder;

/// Tokenises a weighted prompt (what `incant_image_prompt::parse_prompt_attention`
/// returns); A1111's `("BREAK", -1)` pair becomes [`Piece::Break`].
pub fn tokenize_pieces(tokenizer: &ClipTokenizer, prompt: &[(String, f64)]) -> Vec<Piece> {
    prompt
        .iter()
        .map(|(text, weight)| {
            if text == "BREAK" && *weight == -1.0 {
                Piece::Break
            } else {
                Piece::Tokens {
                    ids: tokenizer.encode(text),
                    weight: *weight,
                }
            }
        })
        .collect()
}

/// The special ids of `tokenizer` with the folder's pad token.
pub fn special_ids(tokenizer: &ClipTokenizer, pad: Option<u32>) -> SpecialIds {
    let comma = tokenizer.encode(",");
    SpecialIds {
        start: START_OF_TEXT,
        end: END_OF_TEXT,
        pad: pad.unwrap_or(END_OF_TEXT),
        comma: (comma.len() == 1).then(|| comma[0]),
    }
}

/// The chunks of a weighted prompt.
pub fn prompt_chunks(
    tokenizer: &ClipTokenizer,
    ids: &SpecialIds,
    prompt: &[(String, f64)],
) -> Vec<Chunk> {
    chunk_prompt(&tokenize_pieces(tokenizer, prompt), ids, COMMA_BACKTRACK)
}

/// Encodes `chunks` into `(1, 77 * chunks, hidden)` conditioning with the weights applied
/// and each chunk's mean restored.
pub fn encode_chunks(
    encoder: &ClipTextEncoder,
    chunks: &[Chunk],
    device: &Device,
) -> candle_core::Result<Tensor> {
    let n = chunks.len();
    let len = chunks.first().map_or(0, |c| c.tokens.len());
    let ids: Vec<u32> = chunks
        .iter()
        .flat_map(|c| c.tokens.iter().copied())
        .collect();
    let ids = Tensor::from_vec(ids, (n, len), device)?;
    let z = encoder.forward(&ids)?.to_dtype(DType::F32)?;
    let weights: Vec<f32> = chunks
        .iter()
        .flat_map(|c| c.weights.iter().map(|&w| w as f32))
        .collect();
    let weights = Tensor::from_vec(weights, (n, len, 1), device)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let zi = z.narrow(0, i, 1)?;
        let original_mean = zi.mean_all()?;
        let weighted = zi.broadcast_mul(&weights.narrow(0, i, 1)?)?;
        let new_mean = weighted.mean_all()?;
        let ratio = (original_mean / new_mean)?;
        out.push(weighted.broadcast_mul(&ratio)?);
    }
    Tensor::cat(&out, 1)
}

/// Appends encodings of the empty prompt to the shorter of `cond` and `uncond` until both
/// have the same number of chunks (A1111's `pad_cond`).
pub fn pad_to_same_length(
    cond: Tensor,
    uncond: Tensor,
    empty: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (lc, lu, le) = (cond.dim(1)?, uncond.dim(1)?, empty.dim(1)?);
    let pad = |t: Tensor, by: usize| -> candle_core::Result<Tensor> {
        if by == 0 {
            return Ok(t);
        }
        let mut parts = vec![t];
        parts.extend(std::iter::repeat_n(empty.clone(), by));
        Tensor::cat(&parts, 1)
    };
    if lc >= lu {
        let by = (lc - lu) / le;
        Ok((cond, pad(uncond, by)?))
    } else {
        let by = (lu - lc) / le;
        Ok((pad(cond, by)?, uncond))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_appends_empty_chunks_to_the_shorter_side() {
        let dev = Device::Cpu;
        let chunk = |v: f32, n: usize| Tensor::full(v, (1, 77 * n, 4), &dev).unwrap();
        let (c, u) = pad_to_same_length(chunk(1.0, 3), chunk(2.0, 1), &chunk(0.0, 1)).unwrap();
        assert_eq!(c.dims(), &[1, 231, 4]);
        assert_eq!(u.dims(), &[1, 231, 4]);
        let u: Vec<f32> = u.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(u[0], 2.0);
        assert_eq!(u[77 * 4], 0.0);
        let (c, u) = pad_to_same_length(chunk(1.0, 1), chunk(2.0, 2), &chunk(0.0, 1)).unwrap();
        assert_eq!((c.dim(1).unwrap(), u.dim(1).unwrap()), (154, 154));
    }
}
