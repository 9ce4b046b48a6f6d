//! [`ClipModel`]: a CLIP model folder loaded once, then captions and images embedded.
//!
//! A folder in transformers' layout holds `config.json`, `model.safetensors` (or shards
//! listed in `model.safetensors.index.json`), usually `preprocessor_config.json`, and the
//! tokenizer as `merges.txt` (+ `vocab.json`); OpenAI's `bpe_simple_vocab_16e6.txt.gz` is
//! accepted in its place. Weights in float16 or bfloat16 are widened to float32.
//!
//! Captions are tokenized by incant's CLIP BPE tokenizer (the same ids as OpenAI's
//! `simple_tokenizer`) and wrapped in `<|startoftext|>` ... `<|endoftext|>`. A caption longer
//! than the text tower's context (77 positions, so 75 caption tokens) is truncated as OpenAI's
//! `clip.tokenize(truncate=True)` and transformers' tokenizer truncate it: the first 75 tokens
//! are kept and the end marker stays last, so the pooled state is still the end marker's. The
//! caller gets a [`TruncationWarning`] naming the dropped words.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use incant_tokenize::clip::{ClipTokenizer, END_OF_TEXT, START_OF_TEXT};

use crate::config::ClipConfig;
use crate::model::{TextTower, VisionTower, DTYPE};
use crate::processor::ImageProcessor;
use crate::score::{clip_score_from_embeddings, ClipScore};
use crate::ClipError;

/// How many captions or images go through a tower at once.
const BATCH: usize = 16;

/// A caption cut to fit the text tower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncationWarning {
    /// The caption's index in the call.
    pub index: usize,
    /// Its token count without the start and end markers.
    pub tokens: usize,
    /// How many tokens were kept (75 for the published models).
    pub kept: usize,
    /// The dropped tail, decoded back to text.
    pub dropped_text: String,
}

impl fmt::Display for TruncationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "caption {} has {} tokens; CLIP reads only the first {}, so {} tokens were dropped: \"{}\"",
            self.index,
            self.tokens,
            self.kept,
            self.tokens - self.kept,
            self.dropped_text.trim()
        )
    }
}

/// A loaded CLIP model (both towers, the projections, the image processor and, when the
/// folder has one, the tokenizer). Runs on the CPU in float32.
pub struct ClipModel {
    config: ClipConfig,
    text: TextTower,
    vision: VisionTower,
    processor: ImageProcessor,
    tokenizer: Option<ClipTokenizer>,
    device: Device,
}

impl fmt::Debug for ClipModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClipModel")
            .field("config", &self.config)
            .field("processor", &self.processor)
            .field("has_tokenizer", &self.tokenizer.is_some())
            .finish()
    }
}

impl ClipModel {
    /// Loads a model folder in transformers' layout (see the module doc).
    pub fn load(dir: &Path) -> Result<Self, ClipError> {
        if !dir.is_dir() {
            return Err(ClipError::NotAModel {
                path: dir.to_path_buf(),
                reason: "not a folder".into(),
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(ClipError::NotAModel {
                path: dir.to_path_buf(),
                reason: "no config.json".into(),
            });
        }
        let config = ClipConfig::from_file(&config_path)?;
        let processor_path = dir.join("preprocessor_config.json");
        let processor = if processor_path.is_file() {
            ImageProcessor::from_file(&processor_path)?
        } else {
            ImageProcessor::clip_default(config.vision.image_size)
        };
        let device = Device::Cpu;
        let (tensors, weights_path) = load_weights(dir, &device)?;
        let vb = VarBuilder::from_tensors(tensors, DTYPE, &device);
        let wrap = |source| ClipError::Weights {
            path: weights_path.clone(),
            source,
        };
        let text = TextTower::new(&config.text, config.projection_dim, &vb).map_err(wrap)?;
        let vision = VisionTower::new(&config.vision, config.projection_dim, &vb).map_err(wrap)?;
        let tokenizer = find_tokenizer(dir)?;
        Ok(Self {
            config,
            text,
            vision,
            processor,
            tokenizer,
            device,
        })
    }

    /// Uses `tokenizer` for captions (for a folder without tokenizer files).
    pub fn with_tokenizer(mut self, tokenizer: ClipTokenizer) -> Self {
        self.tokenizer = Some(tokenizer);
        self
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The image preprocessing in use.
    pub fn processor(&self) -> &ImageProcessor {
        &self.processor
    }

    /// The size of an embedding (`projection_dim`).
    pub fn embedding_dim(&self) -> usize {
        self.config.projection_dim
    }

    /// The ids the text tower reads for each caption (start marker, at most
    /// `max_position_embeddings - 2` caption tokens, end marker), with a warning for each
    /// caption that was cut.
    pub fn tokenize(
        &self,
        captions: &[&str],
    ) -> Result<(Vec<Vec<u32>>, Vec<TruncationWarning>), ClipError> {
        let tokenizer = self.tokenizer.as_ref().ok_or(ClipError::NoTokenizer)?;
        let room = self.config.text.max_position_embeddings - 2;
        let mut warnings = Vec::new();
        let ids = captions
            .iter()
            .enumerate()
            .map(|(index, caption)| {
                let mut body = tokenizer.encode(caption);
                if body.len() > room {
                    // Ids from this tokenizer always decode; lossy text at worst.
                    let dropped_text = tokenizer.decode(&body[room..]).unwrap_or_default();
                    warnings.push(TruncationWarning {
                        index,
                        tokens: body.len(),
                        kept: room,
                        dropped_text,
                    });
                    body.truncate(room);
                }
                let mut ids = Vec::with_capacity(body.len() + 2);
                ids.push(START_OF_TEXT);
                ids.extend(body);
                ids.push(END_OF_TEXT);
                ids
            })
            .collect();
        Ok((ids, warnings))
    }

    /// The projected text embedding of each caption (not normalised, as
    /// `CLIPModel.get_text_features`), and the truncation warnings.
    pub fn embed_texts(
        &self,
        captions: &[&str],
    ) -> Result<(Vec<Vec<f32>>, Vec<TruncationWarning>), ClipError> {
        let (ids, warnings) = self.tokenize(captions)?;
        Ok((self.embed_token_ids(&ids)?, warnings))
    }

    /// The projected text embedding of each id sequence, as `get_text_features(input_ids)`
    /// on that sequence alone: pooled where transformers pools for this config
    /// ([`crate::config::TextConfig::pooling`]).
    pub fn embed_token_ids(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ClipError> {
        let t = &self.config.text;
        for (index, seq) in sequences.iter().enumerate() {
            if seq.is_empty() || seq.len() > t.max_position_embeddings {
                return Err(ClipError::BadSequence {
                    index,
                    reason: format!(
                        "{} tokens; the text tower takes 1 to {}",
                        seq.len(),
                        t.max_position_embeddings
                    ),
                });
            }
            if let Some(&id) = seq.iter().find(|&&id| id as usize >= t.vocab_size) {
                return Err(ClipError::BadSequence {
                    index,
                    reason: format!(
                        "token id {id} is outside the vocabulary of {}",
                        t.vocab_size
                    ),
                });
            }
        }
        let pooling = t.pooling();
        let mut out = Vec::with_capacity(sequences.len());
        for batch in sequences.chunks(BATCH) {
            let len = batch.iter().map(Vec::len).max().unwrap_or(1);
            let mut flat = Vec::with_capacity(batch.len() * len);
            let mut pooled = Vec::with_capacity(batch.len());
            for seq in batch {
                pooled.push(pooling.position(seq));
                flat.extend_from_slice(seq);
                // Causal attention: padding after a caption never reaches its positions.
                flat.resize(flat.len() + len - seq.len(), 0);
            }
            let ids = Tensor::from_vec(flat, (batch.len(), len), &self.device)?;
            out.extend(self.text.forward(&ids, &pooled)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// The projected image embedding of each image (not normalised, as
    /// `CLIPModel.get_image_features`), after [`ImageProcessor::preprocess`].
    pub fn embed_images(&self, images: &[image::RgbImage]) -> Result<Vec<Vec<f32>>, ClipError> {
        let pixels = images
            .iter()
            .enumerate()
            .map(|(i, img)| {
                self.processor.preprocess(img).map_err(|e| match e {
                    ClipError::BadImage(reason) => {
                        ClipError::BadImage(format!("image {i}: {reason}"))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_pixel_values(&pixels)
    }

    /// [`Self::embed_images`] of PNG files' bytes; a PNG that does not decode is an error
    /// naming its index.
    pub fn embed_pngs(&self, pngs: &[&[u8]]) -> Result<Vec<Vec<f32>>, ClipError> {
        let images = pngs
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                crate::decode_png(bytes).map_err(|e| ClipError::BadImage(format!("image {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_images(&images)
    }

    /// The projected embedding of already preprocessed images (`channels x size x size`
    /// floats each, channel-major, as `pixel_values`).
    pub fn embed_pixel_values(&self, pixels: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ClipError> {
        let (c, h, w) = self.vision.input_shape();
        if let Some(index) = pixels.iter().position(|p| p.len() != c * h * w) {
            let (ph, pw) = self.processor.crop.unwrap_or((0, 0));
            return Err(ClipError::BadImage(format!(
                "image {index}: {} pixel values, but the vision tower takes {c}x{h}x{w} \
                 (the image processor crops to {ph}x{pw}; check preprocessor_config.json \
                 against vision_config.image_size)",
                pixels[index].len()
            )));
        }
        let mut out = Vec::with_capacity(pixels.len());
        for batch in pixels.chunks(BATCH) {
            let flat: Vec<f32> = batch.iter().flatten().copied().collect();
            let x = Tensor::from_vec(flat, (batch.len(), c, h, w), &self.device)?;
            out.extend(self.vision.forward(&x)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// CLIP score of image `i` against caption `i`, as torchmetrics' `clip_score`
    /// ([`crate::score`]: the clamp at 0 applies to the mean, not to each pair).
    pub fn clip_score(
        &self,
        images: &[image::RgbImage],
        captions: &[&str],
    ) -> Result<ClipScore, ClipError> {
        if images.len() != captions.len() {
            return Err(ClipError::CountMismatch {
                images: images.len(),
                captions: captions.len(),
            });
        }
        let image_emb = self.embed_images(images)?;
        let (text_emb, warnings) = self.embed_texts(captions)?;
        let (score, per_sample) = clip_score_from_embeddings(&image_emb, &text_emb)?;
        Ok(ClipScore {
            score,
            per_sample,
            warnings,
        })
    }
}

/// `model.safetensors`, or every shard of `model.safetensors.index.json`, as named tensors.
fn load_weights(
    dir: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, PathBuf), ClipError> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<PathBuf> = if single.is_file() {
        vec![single.clone()]
    } else if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| ClipError::Io {
            path: index.clone(),
            source,
        })?;
        let parsed: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ClipError::Config {
                path: index.clone(),
                message: format!("not a safetensors index: {e}"),
            })?;
        let map = parsed
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| ClipError::Config {
                path: index.clone(),
                message: "no weight_map object".into(),
            })?;
        let mut shards: Vec<PathBuf> = map
            .values()
            .filter_map(|v| v.as_str())
            .map(|s| dir.join(s))
            .collect();
        shards.sort();
        shards.dedup();
        shards
    } else {
        return Err(ClipError::NotAModel {
            path: dir.to_path_buf(),
            reason: "no model.safetensors (or model.safetensors.index.json); a PyTorch \
                     .bin checkpoint must be converted to safetensors first"
                .into(),
        });
    };
    let mut tensors = HashMap::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| ClipError::Io {
            path: file.clone(),
            source,
        })?;
        let loaded = candle_core::safetensors::load_buffer(&bytes, device).map_err(|source| {
            ClipError::Weights {
                path: file.clone(),
                source,
            }
        })?;
        tensors.extend(loaded);
    }
    let shown = if files.len() == 1 {
        files[0].clone()
    } else {
        index
    };
    Ok((tensors, shown))
}

/// The tokenizer a model folder ships: `merges.txt` (transformers) or OpenAI's gzipped BPE
/// file; `None` when there is neither.
fn find_tokenizer(dir: &Path) -> Result<Option<ClipTokenizer>, ClipError> {
    let merges = dir.join("merges.txt");
    if merges.is_file() {
        let text = std::fs::read_to_string(&merges).map_err(|source| ClipError::Io {
            path: merges.clone(),
            source,
        })?;
        return ClipTokenizer::from_merges(&text)
            .map(Some)
            .map_err(|source| ClipError::Tokenizer {
                path: merges,
                source,
            });
    }
    let gz = dir.join("bpe_simple_vocab_16e6.txt.gz");
    if gz.is_file() {
        return ClipTokenizer::load(&gz)
            .map(Some)
            .map_err(|source| ClipError::Tokenizer { path: gz, source });
    }
    Ok(None)
}
