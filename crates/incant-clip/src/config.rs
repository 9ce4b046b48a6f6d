//! `config.json` of a CLIP model in transformers' layout, read the way transformers reads it.
//!
//! A downloaded `openai/clip-vit-large-patch14` or `laion/CLIP-ViT-H-14-laion2B-s32B-b79K`
//! folder describes its two towers in `text_config` and `vision_config`; every key a file
//! leaves out takes transformers' default (`CLIPTextConfig`, `CLIPVisionConfig`), so the
//! defaults below are transformers' own. Older files also carry `text_config_dict` /
//! `vision_config_dict`; transformers then builds the tower from that dict over its defaults
//! and lets it override `text_config` key by key, and so does this module.
//!
//! The text tower's pooling depends on `eos_token_id`: the legacy value 2 (files written
//! before transformers PR #24773, OpenAI's among them) means "the position of the largest id",
//! anything else "the first position holding `eos_token_id`" ([`TextConfig::pooling`]). A
//! file without the key takes transformers 5's default, 49407 (4.x defaulted to 2); on ids
//! from the tokenizer, where the end marker is the largest id, both rules pick the same
//! position.

use std::path::Path;

use serde::Deserialize;

use crate::ClipError;

/// The MLP activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `quick_gelu`: `x * sigmoid(1.702 x)` (OpenAI's CLIP).
    QuickGelu,
    /// `gelu`: the exact, erf-based GELU (OpenCLIP ViT-H/14 as published for transformers).
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

impl Activation {
    /// Parses transformers' `ACT2FN` key.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "quick_gelu" => Some(Self::QuickGelu),
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Activation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unsupported hidden_act `{name}` (supported: quick_gelu, gelu, gelu_new, \
                 gelu_pytorch_tanh, gelu_fast, relu)"
            ))
        })
    }
}

/// Where the text tower takes its pooled state (transformers' `CLIPTextTransformer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first position of the largest id (`eos_token_id == 2`, the legacy configs).
    ArgmaxId,
    /// The first position holding this id; position 0 if there is none, as torch's argmax of
    /// an all-zero mask gives.
    FirstId(u32),
}

/// `text_config`, with transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub eos_token_id: i64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

impl TextConfig {
    /// The pooling rule transformers applies for this config.
    pub fn pooling(&self) -> Pooling {
        if self.eos_token_id == 2 {
            Pooling::ArgmaxId
        } else {
            // A negative or huge id matches no token: pooling falls back to position 0.
            Pooling::FirstId(u32::try_from(self.eos_token_id).unwrap_or(u32::MAX))
        }
    }
}

impl Pooling {
    /// The pooled position in `ids` (first occurrence on ties, as torch's argmax).
    pub fn position(&self, ids: &[u32]) -> usize {
        match *self {
            Pooling::ArgmaxId => {
                let mut best = 0;
                for (i, &id) in ids.iter().enumerate() {
                    if id > ids[best] {
                        best = i;
                    }
                }
                best
            }
            Pooling::FirstId(eos) => ids.iter().position(|&id| id == eos).unwrap_or(0),
        }
    }
}

/// `vision_config`, with transformers' defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl VisionConfig {
    /// Patches per side (`image_size // patch_size`).
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// A whole `config.json` (`CLIPConfig`).
#[derive(Debug, Clone)]
pub struct ClipConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    /// The size of both projections (the top-level `projection_dim`; the towers' own
    /// `projection_dim` keys are ignored, as `CLIPModel` ignores them).
    pub projection_dim: usize,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    text_config: Option<serde_json::Value>,
    #[serde(default)]
    text_config_dict: Option<serde_json::Value>,
    #[serde(default)]
    vision_config: Option<serde_json::Value>,
    #[serde(default)]
    vision_config_dict: Option<serde_json::Value>,
    #[serde(default = "default_projection")]
    projection_dim: usize,
}

fn default_projection() -> usize {
    512
}

impl ClipConfig {
    /// Reads `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ClipError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the text of a `config.json`; the error says which key is wrong.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| format!("not a CLIP config: {e}"))?;
        let text = tower::<TextConfig>("text_config", raw.text_config, raw.text_config_dict)?;
        let vision =
            tower::<VisionConfig>("vision_config", raw.vision_config, raw.vision_config_dict)?;
        let config = Self {
            text,
            vision,
            projection_dim: raw.projection_dim,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let t = &self.text;
        let v = &self.vision;
        if t.num_attention_heads == 0 || !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(format!(
                "text_config.hidden_size {} is not a multiple of num_attention_heads {}",
                t.hidden_size, t.num_attention_heads
            ));
        }
        if v.num_attention_heads == 0 || !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(format!(
                "vision_config.hidden_size {} is not a multiple of num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            ));
        }
        if v.patch_size == 0 || v.grid() == 0 {
            return Err(format!(
                "vision_config.patch_size {} does not fit image_size {}",
                v.patch_size, v.image_size
            ));
        }
        if t.max_position_embeddings < 2 {
            return Err("text_config.max_position_embeddings must be at least 2".into());
        }
        Ok(())
    }
}

/// One tower's config: `<name>` over the defaults, or, when the legacy `<name>_dict` is
/// present, that dict over the defaults (transformers lets it replace every key).
fn tower<T: Default + for<'de> Deserialize<'de>>(
    name: &str,
    config: Option<serde_json::Value>,
    legacy: Option<serde_json::Value>,
) -> Result<T, String> {
    let (key, value) = match (legacy, config) {
        (Some(v), _) if !v.is_null() => (format!("{name}_dict"), v),
        (_, Some(v)) if !v.is_null() => (name.to_string(), v),
        _ => return Ok(T::default()),
    };
    serde_json::from_value(value).map_err(|e| format!("{key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_transformers_defaults() {
        let c = ClipConfig::from_json("{}").unwrap();
        assert_eq!(c.text.vocab_size, 49408);
        assert_eq!(c.text.hidden_act, Activation::QuickGelu);
        assert_eq!(c.text.pooling(), Pooling::FirstId(49407));
        assert_eq!(c.vision.patch_size, 32);
        assert_eq!(c.projection_dim, 512);
    }

    #[test]
    fn legacy_dict_overrides_config() {
        let c = ClipConfig::from_json(
            r#"{"text_config": {"hidden_size": 768, "eos_token_id": 2},
                "text_config_dict": {"hidden_size": 1024, "num_attention_heads": 16},
                "projection_dim": 768}"#,
        )
        .unwrap();
        assert_eq!(c.text.hidden_size, 1024);
        // The dict was expanded over the defaults, so the default eos id wins too.
        assert_eq!(c.text.eos_token_id, 49407);
        assert_eq!(c.projection_dim, 768);
    }

    #[test]
    fn pooling_rules() {
        let ids = [49406, 320, 49407, 49407];
        assert_eq!(Pooling::ArgmaxId.position(&ids), 2);
        assert_eq!(Pooling::FirstId(49407).position(&ids), 2);
        assert_eq!(Pooling::FirstId(7).position(&ids), 0);
        assert_eq!(Pooling::ArgmaxId.position(&[5, 9, 3]), 1);
    }

    #[test]
    fn bad_configs_name_the_key() {
        let e = ClipConfig::from_json(r#"{"vision_config": {"hidden_act": "swish"}}"#).unwrap_err();
        assert!(e.contains("vision_config") && e.contains("swish"), "{e}");
        let e = ClipConfig::from_json(
            r#"{"text_config": {"hidden_size": 10, "num_attention_heads": 3}}"#,
        )
        .unwrap_err();
        assert!(e.contains("text_config.hidden_size"), "{e}");
    }
}
