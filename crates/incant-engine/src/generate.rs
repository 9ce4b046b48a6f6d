//! Chat generation with a llama-family GGUF: prompt in, streamed text out.
//!
//! [`ChatModel`] bundles what one GGUF file defines: the weights ([`Llama`]), the tokenizer
//! from its metadata, and its chat template. [`ChatModel::generate`] prefills the prompt in
//! chunks, then decodes token by token with the [`Sampler`], handing text to a callback as
//! soon as it is complete UTF-8 and cannot be the start of a stop string.

use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::gguf::GgufFile;
use crate::llama::{KvCache, Llama, LlamaConfig, Logits};
use crate::sampling::{log_prob, Sampler, SamplingParams};
use crate::EngineError;
use incant_tokenize::{BpeTokenizer, Utf8Stream};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
        Ok(self.encode(&text.join("\n"), false))
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
        let mut cache = KvCache::default();
        let prefill_start = Instant::now();
        let mut logits = None;
        for chunk in prompt.chunks(PREFILL_CHUNK) {
            logits = Some(self.model.forward(chunk, &mut cache, Logits::Last)?);
        }
        let mut logits: Vec<f32> = logits.expect("prompt is not empty");
        let prefill_s = prefill_start.elapsed().as_secs_f64();

        let decode_start = Instant::now();
        let mut sampler = Sampler::new(req.sampling.clone());
        let mut history = prompt.to_vec();
        let mut token_ids = Vec::new();
        let mut logprobs = req.logprobs.then(Vec::new);
        let mut utf8 = Utf8Stream::new();
        let mut stops = StopMatcher::new(&req.stop);
        let mut bytes = Vec::new();
        let mut forwards = 0usize;
        let mut finish = FinishReason::Length;
        for step in 0..req.max_tokens {
            let token = if let Some(lp) = logprobs.as_mut() {
                let mut work = logits.clone();
                let t = sampler.sample(&mut work, &history);
                lp.push(log_prob(&logits, t));
                t
            } else {
                sampler.sample(&mut logits, &history)
            };
            if !req.ignore_eos && self.tokenizer.is_end_of_generation(token) {
                if let Some(lp) = logprobs.as_mut() {
                    lp.pop();
                }
                finish = FinishReason::Stop;
                break;
            }
            token_ids.push(token);
            history.push(token);
            bytes.clear();
            self.tokenizer.token_bytes(token, false, &mut bytes)?;
            let piece = utf8.push(&bytes);
            if stops.push(&piece, on_text) {
                finish = FinishReason::Stop;
                break;
            }
            if step + 1 == req.max_tokens {
                break;
            }
            logits = self.model.forward(&[token], &mut cache, Logits::Last)?;
            forwards += 1;
        }
        if !stops.stopped {
            let rest = utf8.finish();
            if !stops.push(&rest, on_text) {
                stops.flush(on_text);
            }
        }
        let decode_s = decode_start.elapsed().as_secs_f64();
        let per_s = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        Ok(Generation {
            text: stops.text,
            token_ids,
            logprobs,
            finish_reason: finish,
            prompt_tokens: prompt.len(),
            timings: Timings {
                load_ms: 0.0,
                prefill_ms: prefill_s * 1e3,
                prefill_tokens_per_s: per_s(prompt.len(), prefill_s),
                decode_ms: decode_s * 1e3,
                decode_tokens_per_s: per_s(forwards, decode_s),
            },
        })
    }
}

/// Holds back text that could be the start of a stop string, and cuts at the first stop.
struct StopMatcher<'a> {
    stops: &'a [String],
    text: String,
    emitted: usize,
    stopped: bool,
}

impl<'a> StopMatcher<'a> {
    fn new(stops: &'a [String]) -> Self {
        Self {
            stops,
            text: String::new(),
            emitted: 0,
            stopped: false,
        }
    }

    /// Adds text; emits what is final; returns true when a stop string appeared.
    fn push(&mut self, piece: &str, on_text: &mut dyn FnMut(&str)) -> bool {
        if self.stopped {
            return true;
        }
        self.text.push_str(piece);
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let search_from = floor_char(&self.text, self.emitted.saturating_sub(longest));
        let found = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                self.text[search_from..]
                    .find(s.as_str())
                    .map(|i| search_from + i)
            })
            .min();
        if let Some(at) = found {
            self.text.truncate(at);
            if at > self.emitted {
                on_text(&self.text[self.emitted..]);
            }
            self.emitted = at;
            self.stopped = true;
            return true;
        }
        let hold = self.held_back();
        let upto = self.text.len() - hold;
        if upto > self.emitted {
            on_text(&self.text[self.emitted..upto]);
            self.emitted = upto;
        }
        false
    }

    /// Length of the longest suffix of the text that begins some stop string.
    fn held_back(&self) -> usize {
        let mut best = 0;
        for s in self.stops {
            for (i, _) in s.char_indices().skip(1) {
                if i > best && self.text.ends_with(&s[..i]) {
                    best = i;
                }
            }
        }
        best
    }

    fn flush(&mut self, on_text: &mut dyn FnMut(&str)) {
        if self.text.len() > self.emitted {
            on_text(&self.text[self.emitted..]);
            self.emitted = self.text.len();
        }
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = Vec::new();
        let mut stopped = false;
        for p in pieces {
            if m.push(p, &mut |t| out.push(t.to_string())) {
                stopped = true;
                break;
            }
        }
        if !stopped {
            m.flush(&mut |t| out.push(t.to_string()));
        }
        (out, m.text, stopped)
    }

    #[test]
    fn stop_split_across_tokens_is_never_emitted() {
        let (out, text, stopped) = run(&["END"], &["hello E", "N", "D more"]);
        assert!(stopped);
        assert_eq!(text, "hello ");
        assert_eq!(out.concat(), "hello ");
    }

    #[test]
    fn held_text_is_released_when_it_is_not_a_stop() {
        let (out, text, stopped) = run(&["END"], &["a E", "x"]);
        assert!(!stopped);
        assert_eq!(out, ["a ", "Ex"]);
        assert_eq!(text, "a Ex");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (_, text, _) = run(&["\n\n", "Q:"], &["answer Q: x\n\n"]);
        assert_eq!(text, "answer ");
    }
}
