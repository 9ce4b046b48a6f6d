//! Chat generation with a llama-family GGUF: prompt in, streamed text out.
//!
//! [`ChatModel`] bundles what one GGUF file defines: the weights ([`Llama`]), the tokenizer
//! from its metadata, and its chat template. [`ChatModel::generate`] prefills the prompt in
//! chunks, then decodes token by token with the sampler, handing text to a callback as
//! soon as it is complete UTF-8 and cannot be the start of a stop string. The same steps
//! are open to servers: [`ChatModel::start`] reads a prompt (reusing a cached prefix) and
//! [`ChatModel::step`] decodes many [`Sequence`]s at once.

use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::gguf::GgufFile;
use crate::llama::{KvCache, Llama, LlamaConfig, Logits};
use crate::sampling::SamplingParams;
use crate::EngineError;
use incant_tokenize::BpeTokenizer;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod sequence;

pub use sequence::{Prefix, PromptCache, Sequence};

/// Prompts longer than this are prefilled in chunks, bounding the attention matrix.
const PREFILL_CHUNK: usize = 512;

/// What to generate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GenerateRequest {
    /// How tokens are picked.
    pub sampling: SamplingParams,
    /// The most new tokens to produce.
    pub max_tokens: usize,
    /// Generation ends before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// Report each token's log-probability.
    pub logprobs: bool,
    /// Keep going past the end-of-turn token (benchmarks that need exactly `max_tokens`).
    pub ignore_eos: bool,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            logprobs: false,
            ignore_eos: false,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced its end-of-turn token or a stop string appeared.
    Stop,
    /// `max_tokens` was reached.
    Length,
}

/// Wall-clock figures of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Loading the model (set by callers that loaded it).
    pub load_ms: f64,
    /// Running the prompt.
    pub prefill_ms: f64,
    /// Prompt tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Producing the new tokens.
    pub decode_ms: f64,
    /// New tokens per second (forward passes after the prompt).
    pub decode_tokens_per_s: f64,
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Generation {
    /// The generated text, without the stop string.
    pub text: String,
    /// The generated token ids (without the end-of-turn token).
    pub token_ids: Vec<u32>,
    /// Each token's log-probability under the model, when asked for.
    pub logprobs: Option<Vec<f32>>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Of which were not run again: their keys and values came from a [`PromptCache`].
    pub reused_prompt_tokens: usize,
    /// Timing figures.
    pub timings: Timings,
}

/// A GGUF chat model, loaded and ready.
pub struct ChatModel {
    path: PathBuf,
    model: Llama,
    tokenizer: BpeTokenizer,
    template: ChatTemplate,
    load_ms: f64,
}

impl ChatModel {
    /// Loads a GGUF file: weights, tokenizer and chat template.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let start = Instant::now();
        let mut file = GgufFile::open(path)?;
        let tokenizer = BpeTokenizer::new(file.vocab()?)?;
        let text_of = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token_text(i))
                .unwrap_or_default()
                .to_string()
        };
        let template = ChatTemplate::new(
            file.chat_template()?.as_deref(),
            &text_of(tokenizer.bos()),
            &text_of(tokenizer.eos()),
        )?;
        let model = Llama::load(&mut file)?;
        if model.config().vocab_size < tokenizer.vocab_size() {
            return Err(crate::bad_model(
                path,
                format!(
                    "the tokenizer has {} tokens but the embedding table only {}",
                    tokenizer.vocab_size(),
                    model.config().vocab_size
                ),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            model,
            tokenizer,
            template,
            load_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokenizer from the GGUF metadata.
    pub fn tokenizer(&self) -> &BpeTokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        self.model.config()
    }

    /// The transformer itself (for callers that manage their own caches).
    pub fn llama(&self) -> &Llama {
        &self.model
    }

    /// Milliseconds spent in [`ChatModel::load`].
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// Renders a conversation with the model's template and opens the assistant's turn.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        self.template.render(messages, true)
    }

    /// Token ids of a rendered prompt; special-token text (`<|im_start|>`) is parsed when
    /// `parse_special` is set, as it must be for template output.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        self.tokenizer.encode(text, true, parse_special)
    }

    /// Token ids of a prompt as callers send it: chat messages through the model's own
    /// template, or (not `chat`) the messages' texts joined by newlines as plain text.
    pub fn prompt_ids(
        &self,
        messages: &[ChatMessage],
        chat: bool,
    ) -> Result<Vec<u32>, EngineError> {
        if chat {
            let text = self.render_chat(messages)?;
            return Ok(self.encode(&text, true));
        }
        let text: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let ids = self.encode(&text.join("\n"), false);
        if ids.is_empty() {
            // Nothing typed yet: start a document the way the model saw documents start.
            if let Some(start) = self.tokenizer.bos().or(self.tokenizer.eos()) {
                return Ok(vec![start]);
            }
        }
        Ok(ids)
    }

    /// Logits of every position of `tokens`, from an empty cache (teacher forcing).
    pub fn logits_all(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, EngineError> {
        let mut cache = KvCache::default();
        let mut out = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            let flat = self.model.forward(chunk, &mut cache, Logits::All)?;
            let vocab = flat.len() / chunk.len();
            out.extend(flat.chunks_exact(vocab).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// Generates a continuation of `prompt`, calling `on_text` with each piece of text as it
    /// becomes final.
    pub fn generate(
        &self,
        prompt: &[u32],
        req: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, EngineError> {
        let mut seq = self.start(prompt, req.clone(), None)?;
        while let Some(token) = seq.advance(&self.tokenizer, on_text)? {
            let logits = self.model.forward(&[token], &mut seq.cache, Logits::Last)?;
            seq.accept(logits);
        }
        Ok(seq.finish(on_text).0)
    }

    /// Reads `prompt` and returns the sequence ready to pick its first token. With a
    /// `prefix` (from a [`PromptCache`]) only the tokens after the part it shares with the
    /// prompt are run.
    pub fn start(
        &self,
        prompt: &[u32],
        req: GenerateRequest,
        prefix: Option<Prefix>,
    ) -> Result<Sequence, EngineError> {
        req.sampling.validate()?;
        let context = self.config().context_length;
        if prompt.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "prompt",
                reason: "the prompt has no tokens".into(),
            });
        }
        if prompt.len() + req.max_tokens > context {
            return Err(EngineError::ContextOverflow {
                prompt_tokens: prompt.len(),
                max_tokens: req.max_tokens,
                context,
            });
        }
        let (reused, mut cache) = prefix.map_or((0, KvCache::default()), |p| p.reuse_for(prompt));
        let prefill_start = Instant::now();
        let mut logits = Vec::new();
        for chunk in prompt[reused..].chunks(PREFILL_CHUNK) {
            logits = self.model.forward(chunk, &mut cache, Logits::Last)?;
        }
        let prefill_ms = prefill_start.elapsed().as_secs_f64() * 1e3;
        Ok(Sequence::new(
            req, prompt, cache, reused, logits, prefill_ms,
        ))
    }

    /// One decoding step of every sequence in `seqs`: each picks its next token (text that
    /// became final goes to `on_text` with the sequence's index), then the tokens of those
    /// still running go through the model together, the weights read once for all. Returns
    /// whether any sequence is still running.
    pub fn step(
        &self,
        seqs: &mut [&mut Sequence],
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Result<bool, EngineError> {
        for (i, seq) in seqs.iter_mut().enumerate() {
            seq.advance(&self.tokenizer, &mut |t| on_text(i, t))?;
        }
        let mut running: Vec<&mut Sequence> = seqs
            .iter_mut()
            .filter(|s| s.pending().is_some())
            .map(|s| &mut **s)
            .collect();
        if running.is_empty() {
            return Ok(false);
        }
        let vocab = self.config().vocab_size;
        let mut steps: Vec<(u32, &mut KvCache)> = running
            .iter_mut()
            .map(|s| (s.pending().expect("filtered"), &mut s.cache))
            .collect();
        let rows = self.model.forward_batch(&mut steps)?;
        // Each sequence takes its row of logits and samples its next token, in parallel:
        // with top-k sampling over 49,152 candidates that is about 0.1 ms a sequence.
        let mut work: Vec<(&mut Sequence, &[f32])> = running
            .iter_mut()
            .map(|s| &mut **s)
            .zip(rows.chunks_exact(vocab))
            .collect();
        crate::pool::for_each_mut(&mut work, |_, (seq, row)| {
            seq.accept(row.to_vec());
            seq.pick();
        });
        Ok(true)
    }
}
