//! The two CLIP towers on candle, layer for layer as transformers' `modeling_clip.py`.
//!
//! candle-transformers 0.11 has a CLIP module, but its text tower always uses quick GELU, it
//! has no exact (erf) GELU, its layer-norm epsilon is fixed at 1e-5 and it pools only at the
//! argmax of the ids, so it cannot run OpenCLIP ViT-H/14 or a config with a real
//! `eos_token_id`. This module is the compact replacement, with weight names as transformers
//! saves them (`text_model.encoder.layers.N.self_attn.q_proj.weight`, ...):
//!
//! - each encoder layer is pre-norm: `x + attn(ln1(x))`, then `x + fc2(act(fc1(ln2(x))))`;
//!   attention scales the queries' dot products by `head_dim^-0.5`;
//! - the text tower adds token and position embeddings, runs the layers with a causal mask,
//!   applies `final_layer_norm` and takes the state at the pooled position;
//! - the vision tower cuts the image into patches with a stride-`patch` convolution (no bias),
//!   prepends `class_embedding`, adds position embeddings, applies `pre_layrnorm` (sic), runs
//!   the layers without a mask and applies `post_layernorm` to the class position.
//!
//! Padding a text batch is harmless: with the causal mask, no position before the pooled one
//! can see a later (padding) position, so every caption gets the state it would get alone.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::{Activation, TextConfig, VisionConfig};

fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    match act {
        Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::Relu => x.relu(),
    }
}

/// The sizes one encoder needs (shared by both towers).
struct EncoderShape {
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    act: Activation,
    eps: f64,
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn new(s: &EncoderShape, vb: VarBuilder) -> Result<Self> {
        let lin = |name: &str| candle_nn::linear(s.hidden, s.hidden, vb.pp(name));
        let head_dim = s.hidden / s.heads;
        Ok(Self {
            q: lin("q_proj")?,
            k: lin("k_proj")?,
            v: lin("v_proj")?,
            out: lin("out_proj")?,
            heads: s.heads,
            head_dim,
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    /// `x`: (batch, seq, hidden); `mask`: an additive (seq, seq) mask.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, s, d) = x.dims3()?;
        let split = |t: Tensor| {
            t.reshape((b, s, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let mut scores = (q.matmul(&k.t()?)? * self.scale)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, s, d))?;
        self.out.forward(&y)
    }
}

struct Layer {
    attn: Attention,
    ln1: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ln2: LayerNorm,
    act: Activation,
}

impl Layer {
    fn new(s: &EncoderShape, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            attn: Attention::new(s, vb.pp("self_attn"))?,
            ln1: candle_nn::layer_norm(s.hidden, s.eps, vb.pp("layer_norm1"))?,
            fc1: candle_nn::linear(s.hidden, s.intermediate, vb.pp("mlp.fc1"))?,
            fc2: candle_nn::linear(s.intermediate, s.hidden, vb.pp("mlp.fc2"))?,
            ln2: candle_nn::layer_norm(s.hidden, s.eps, vb.pp("layer_norm2"))?,
            act: s.act,
        })
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let h = (x + self.attn.forward(&self.ln1.forward(x)?, mask)?)?;
        let m = self.fc1.forward(&self.ln2.forward(&h)?)?;
        &h + self.fc2.forward(&activate(self.act, &m)?)?
    }
}

struct Encoder {
    layers: Vec<Layer>,
}

impl Encoder {
    fn new(s: &EncoderShape, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("layers");
        let layers = (0..s.layers)
            .map(|i| Layer::new(s, vb.pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, mask)?;
        }
        Ok(x)
    }
}

/// `text_model` plus `text_projection`.
pub(crate) struct TextTower {
    token_embedding: Embedding,
    position_embedding: Embedding,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
    projection: Linear,
}

impl TextTower {
    pub(crate) fn new(c: &TextConfig, projection_dim: usize, vb: &VarBuilder) -> Result<Self> {
        let shape = EncoderShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        let tm = vb.pp("text_model");
        Ok(Self {
            token_embedding: candle_nn::embedding(
                c.vocab_size,
                c.hidden_size,
                tm.pp("embeddings.token_embedding"),
            )?,
            position_embedding: candle_nn::embedding(
                c.max_position_embeddings,
                c.hidden_size,
                tm.pp("embeddings.position_embedding"),
            )?,
            encoder: Encoder::new(&shape, tm.pp("encoder"))?,
            final_layer_norm: candle_nn::layer_norm(
                c.hidden_size,
                c.layer_norm_eps,
                tm.pp("final_layer_norm"),
            )?,
            projection: candle_nn::linear_no_bias(
                c.hidden_size,
                projection_dim,
                vb.pp("text_projection"),
            )?,
        })
    }

    /// `ids`: (batch, seq) u32; `pooled`: one position per row. Returns (batch, projection).
    pub(crate) fn forward(&self, ids: &Tensor, pooled: &[usize]) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let device = ids.device();
        let positions = Tensor::arange(0u32, s as u32, device)?;
        let x = self
            .token_embedding
            .forward(ids)?
            .broadcast_add(&self.position_embedding.forward(&positions)?)?;
        let mask = causal_mask(s, device)?;
        let x = self.encoder.forward(&x, Some(&mask))?;
        let x = self.final_layer_norm.forward(&x)?;
        let d = x.dim(D::Minus1)?;
        let rows: Vec<u32> = pooled
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * s + p) as u32)
            .collect();
        let rows = Tensor::from_vec(rows, b, device)?;
        let pooled = x.reshape((b * s, d))?.index_select(&rows, 0)?;
        self.projection.forward(&pooled)
    }
}

/// 0 on and below the diagonal, -inf above (a position sees itself and earlier ones).
fn causal_mask(s: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..s)
        .flat_map(|i| (0..s).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (s, s), device)
}

/// `vision_model` plus `visual_projection`.
pub(crate) struct VisionTower {
    patch_embedding: Conv2d,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    encoder: Encoder,
    post_layernorm: LayerNorm,
    projection: Linear,
    image_size: usize,
    channels: usize,
}

impl VisionTower {
    pub(crate) fn new(c: &VisionConfig, projection_dim: usize, vb: &VarBuilder) -> Result<Self> {
        let shape = EncoderShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        let vm = vb.pp("vision_model");
        let emb = vm.pp("embeddings");
        let conv = Conv2dConfig {
            stride: c.patch_size,
            ..Default::default()
        };
        let positions = c.grid() * c.grid() + 1;
        Ok(Self {
            patch_embedding: candle_nn::conv2d_no_bias(
                c.num_channels,
                c.hidden_size,
                c.patch_size,
                conv,
                emb.pp("patch_embedding"),
            )?,
            class_embedding: emb.get(c.hidden_size, "class_embedding")?,
            position_embedding: emb.get((positions, c.hidden_size), "position_embedding.weight")?,
            pre_layrnorm: candle_nn::layer_norm(
                c.hidden_size,
                c.layer_norm_eps,
                vm.pp("pre_layrnorm"),
            )?,
            encoder: Encoder::new(&shape, vm.pp("encoder"))?,
            post_layernorm: candle_nn::layer_norm(
                c.hidden_size,
                c.layer_norm_eps,
                vm.pp("post_layernorm"),
            )?,
            projection: candle_nn::linear_no_bias(
                c.hidden_size,
                projection_dim,
                vb.pp("visual_projection"),
            )?,
            image_size: c.image_size,
            channels: c.num_channels,
        })
    }

    /// The (channels, height, width) the tower takes.
    pub(crate) fn input_shape(&self) -> (usize, usize, usize) {
        (self.channels, self.image_size, self.image_size)
    }

    /// `pixels`: (batch, channels, size, size) f32. Returns (batch, projection).
    pub(crate) fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let b = pixels.dim(0)?;
        let patches = self.patch_embedding.forward(pixels)?; // (b, d, g, g)
        let d = patches.dim(1)?;
        let patches = patches.flatten_from(2)?.transpose(1, 2)?; // (b, g*g, d)
        let class = self.class_embedding.reshape((1, 1, d))?.repeat((b, 1, 1))?;
        let x = Tensor::cat(&[&class, &patches], 1)?
            .broadcast_add(&self.position_embedding.unsqueeze(0)?)?;
        let x = self.pre_layrnorm.forward(&x)?;
        let x = self.encoder.forward(&x, None)?;
        let cls = x.narrow(1, 0, 1)?.squeeze(1)?;
        let cls = self.post_layernorm.forward(&cls)?;
        self.projection.forward(&cls)
    }
}

/// The float type the towers compute in.
pub(crate) const DTYPE: DType = DType::F32;
