//! CLIP score exactly as torchmetrics defines it (`torchmetrics.functional.multimodal.
//! clip_score` and the `CLIPScore` metric, torchmetrics 1.9).
//!
//! For pairs `(image_i, caption_i)`, torchmetrics L2-normalises each embedding, takes
//! `100 * <e_img, e_txt>` per pair (the cosine times 100), averages over the pairs, and only
//! then clamps: `max(mean, 0)`. **The clamp is on the mean, not per sample**: a negative pair
//! pulls the batch score down; only a negative mean is reported as 0. The paper's
//! `CLIPScore(I, C) = max(100 * cos(E_I, E_C), 0)` is the single-pair case of that. So
//! [`ClipScore::per_sample`] holds the unclamped `100 * cos` of each pair, and
//! [`ClipScore::score`] is `max(mean(per_sample), 0)`; the score of one pair on its own is
//! `max(per_sample[i], 0)`.
//!
//! One difference from torchmetrics' code, on purpose: torchmetrics cuts a caption over 77
//! tokens by slicing the ids, which drops the end marker, so the text tower pools at some
//! other token (the largest id for the OpenAI configs). incant truncates as OpenAI and
//! transformers' tokenizer do (75 caption tokens, end marker kept) and warns
//! ([`crate::TruncationWarning`]). Captions within 77 tokens score the same in both.
//!
//! Sums run in f64 (torchmetrics uses f32; the difference is below 1e-4 on a score of 100).

use crate::clip::TruncationWarning;
use crate::ClipError;

/// The result of [`crate::ClipModel::clip_score`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClipScore {
    /// `max(mean(per_sample), 0)`: torchmetrics' CLIP score of the batch.
    pub score: f64,
    /// `100 * cos(image_i, caption_i)` for each pair, not clamped.
    pub per_sample: Vec<f64>,
    /// Captions that were cut to fit the text tower.
    pub warnings: Vec<TruncationWarning>,
}

/// `100 * cos(a, b)`, unclamped. Errors on a zero or non-finite vector (the cosine is
/// undefined; torchmetrics would return NaN).
pub fn cosine_score(a: &[f32], b: &[f32]) -> Result<f64, ClipError> {
    if a.len() != b.len() {
        return Err(ClipError::Embedding(format!(
            "embeddings of different sizes ({} and {})",
            a.len(),
            b.len()
        )));
    }
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let na = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    if !(na > 0.0 && nb > 0.0 && na.is_finite() && nb.is_finite() && dot.is_finite()) {
        return Err(ClipError::Embedding(
            "an embedding is zero or not finite, so its cosine is undefined".into(),
        ));
    }
    Ok(100.0 * dot / (na * nb))
}

/// torchmetrics' CLIP score of pairs `(images[i], texts[i])`: `(max(mean, 0), per-pair
/// 100 * cos)`. Errors when the counts differ or there are no pairs.
pub fn clip_score_from_embeddings(
    images: &[Vec<f32>],
    texts: &[Vec<f32>],
) -> Result<(f64, Vec<f64>), ClipError> {
    if images.len() != texts.len() {
        return Err(ClipError::CountMismatch {
            images: images.len(),
            captions: texts.len(),
        });
    }
    if images.is_empty() {
        return Err(ClipError::Embedding(
            "no image and caption pairs to score".into(),
        ));
    }
    let per_sample = images
        .iter()
        .zip(texts)
        .enumerate()
        .map(|(i, (a, b))| {
            cosine_score(a, b).map_err(|e| ClipError::Embedding(format!("pair {i}: {e}")))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    let mean = per_sample.iter().sum::<f64>() / per_sample.len() as f64;
    Ok((mean.max(0.0), per_sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_is_on_the_mean() {
        let imgs = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let txts = vec![vec![1.0, 0.0], vec![-1.0, 0.2]];
        let (score, per) = clip_score_from_embeddings(&imgs, &txts).unwrap();
        assert!((per[0] - 100.0).abs() < 1e-9);
        assert!(per[1] < 0.0);
        // A per-sample clamp would give (100 + 0) / 2.
        assert!((score - (per[0] + per[1]) / 2.0).abs() < 1e-9 && score < 50.0);
        let (score, _) = clip_score_from_embeddings(&imgs[1..], &txts[1..]).unwrap();
        assert_eq!(score, 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(clip_score_from_embeddings(&[vec![1.0]], &[]).is_err());
        assert!(clip_score_from_embeddings(&[], &[]).is_err());
        assert!(cosine_score(&[0.0, 0.0], &[1.0, 0.0]).is_err());
        assert!(cosine_score(&[f32::NAN, 1.0], &[1.0, 0.0]).is_err());
        assert!(cosine_score(&[1.0], &[1.0, 0.0]).is_err());
    }
}
