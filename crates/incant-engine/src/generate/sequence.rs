//! One generation as a state machine, so a server can run many of them in one batch.
//!
//! [`ChatModel::generate`](super::ChatModel::generate) runs a prompt to the end on its own;
//! a server with several users wants to interleave them: read each prompt, then take one
//! decoding step of every live sequence together ([`ChatModel::step`](super::ChatModel::step),
//! which reads the weights once for all of them) and drop a sequence the moment its client
//! leaves. [`Sequence`] holds what one generation needs between steps (its KV cache,
//! sampler, stop matcher and partial UTF-8), and both paths share it, so a batched
//! sequence produces exactly what `generate` does.
//!
//! [`PromptCache`] keeps the KV caches of finished sequences with the tokens that made
//! them. Inline completion sends nearly the same prompt again and again (the same hidden
//! instructions, the same document with a few more characters typed), so a new sequence
//! starts from the cached one that shares the longest prefix and reads only what is new.

use super::{FinishReason, GenerateRequest, Generation, Timings};
use crate::llama::KvCache;
use crate::sampling::{log_prob, Sampler};
use crate::EngineError;
use incant_tokenize::{BpeTokenizer, Utf8Stream};
use std::time::Instant;

/// A KV cache with the tokens whose keys and values it holds.
#[derive(Debug, Clone, Default)]
pub struct Prefix {
    tokens: Vec<u32>,
    cache: KvCache,
}

impl Prefix {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Splits into the tokens and the cache, cut to the longest prefix it shares with
    /// `prompt` (at most `prompt.len() - 1`: the last prompt token is always run, because
    /// its logits pick the first new token).
    pub(super) fn reuse_for(mut self, prompt: &[u32]) -> (usize, KvCache) {
        let shared = common_prefix(&self.tokens, prompt).min(prompt.len().saturating_sub(1));
        self.cache.truncate(shared);
        (shared, self.cache)
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The KV caches of recent sequences, most recently used first, within a budget of
/// tokens (a cache's memory grows with its length, so the budget bounds memory).
#[derive(Debug)]
pub struct PromptCache {
    entries: Vec<Prefix>,
    max_tokens: usize,
}

impl PromptCache {
    /// Keeps caches holding at most `max_tokens` positions in all.
    pub fn new(max_tokens: usize) -> Self {
        Self {
            entries: Vec::new(),
            max_tokens,
        }
    }

    /// A copy of the cache sharing the longest prefix with `prompt`, if any shares at least
    /// one token; the entry stays (several sequences may start from one prompt, as the
    /// alternatives of one request do) and becomes the most recently used.
    pub fn get(&mut self, prompt: &[u32]) -> Option<Prefix> {
        let (best, shared) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, p)| (i, common_prefix(&p.tokens, prompt)))
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))?;
        if shared == 0 {
            return None;
        }
        let entry = self.entries.remove(best);
        let copy = entry.clone();
        self.entries.insert(0, entry);
        Some(copy)
    }

    /// Keeps `prefix` as the most recent entry. Entries it extends are dropped (it holds
    /// all they hold), then the oldest until the budget holds.
    pub fn put(&mut self, prefix: Prefix) {
        if prefix.is_empty() || prefix.len() > self.max_tokens {
            return;
        }
        self.entries
            .retain(|e| common_prefix(&e.tokens, &prefix.tokens) < e.tokens.len());
        self.entries.insert(0, prefix);
        while self.tokens() > self.max_tokens {
            self.entries.pop();
        }
    }

    /// Positions held in all.
    pub fn tokens(&self) -> usize {
        self.entries.iter().map(Prefix::len).sum()
    }

    /// Caches held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A generation between steps: the prompt has been read, tokens are picked one at a time.
pub struct Sequence {
    pub(super) req: GenerateRequest,
    pub(super) cache: KvCache,
    /// Prompt and new tokens; the first `cache.len()` of them are in the cache.
    pub(super) tokens: Vec<u32>,
    pub(super) prompt_tokens: usize,
    pub(super) reused_tokens: usize,
    pub(super) prefill_ms: f64,
    pub(super) logits: Vec<f32>,
    sampler: Sampler,
    token_ids: Vec<u32>,
    logprobs: Option<Vec<f32>>,
    utf8: Utf8Stream,
    stops: StopMatcher,
    bytes: Vec<u8>,
    finish: Option<FinishReason>,
    pending: Option<u32>,
    /// The next token, sampled ahead of [`Self::advance`] (see [`Self::pick`]).
    picked: Option<u32>,
    decode_start: Option<Instant>,
    forwards: usize,
}

impl Sequence {
    pub(super) fn new(
        req: GenerateRequest,
        prompt: &[u32],
        cache: KvCache,
        reused_tokens: usize,
        logits: Vec<f32>,
        prefill_ms: f64,
    ) -> Self {
        Self {
            sampler: Sampler::new(req.sampling.clone()),
            logprobs: req.logprobs.then(Vec::new),
            stops: StopMatcher::new(req.stop.clone()),
            req,
            cache,
            tokens: prompt.to_vec(),
            prompt_tokens: prompt.len(),
            reused_tokens,
            prefill_ms,
            logits,
            token_ids: Vec::new(),
            utf8: Utf8Stream::new(),
            bytes: Vec::new(),
            finish: None,
            pending: None,
            picked: None,
            decode_start: None,
            forwards: 0,
        }
    }

    /// Whether generation has ended.
    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Time spent reading the prompt, ms.
    pub fn prefill_ms(&self) -> f64 {
        self.prefill_ms
    }

    /// A copy of the prompt's cache (before any new token), for a [`PromptCache`]: other
    /// sequences starting with the same prompt, such as the alternatives of one request
    /// admitted together, then skip reading it.
    pub fn prompt_prefix(&self) -> Prefix {
        let mut cache = self.cache.clone();
        cache.truncate(self.prompt_tokens);
        Prefix {
            tokens: self.tokens[..cache.len()].to_vec(),
            cache,
        }
    }

    /// Tokens in the prompt.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// Prompt tokens whose keys and values came from a [`PromptCache`].
    pub fn reused_tokens(&self) -> usize {
        self.reused_tokens
    }

    /// The token that must go through the model before the next [`Self::advance`].
    pub(super) fn pending(&self) -> Option<u32> {
        self.pending
    }

    /// Takes the logits of the pending token.
    pub(super) fn accept(&mut self, logits: Vec<f32>) {
        self.logits = logits;
        self.pending = None;
        self.forwards += 1;
    }

    /// Samples the next token from the current logits ahead of [`Self::advance`], which then
    /// takes it: the sequences of a batch sample in parallel, and hand out their text in
    /// order afterwards. Does nothing where `advance` would not sample.
    pub(super) fn pick(&mut self) {
        if self.finish.is_none()
            && self.picked.is_none()
            && self.token_ids.len() < self.req.max_tokens
        {
            self.picked = Some(self.sample());
        }
    }

    fn sample(&mut self) -> u32 {
        if let Some(lp) = self.logprobs.as_mut() {
            let mut work = self.logits.clone();
            let t = self.sampler.sample(&mut work, &self.tokens);
            lp.push(log_prob(&self.logits, t));
            t
        } else {
            self.sampler.sample(&mut self.logits, &self.tokens)
        }
    }

    /// Picks the next token from the current logits and hands any text that became final
    /// to `on_text`. Returns the token to run through the model next, or `None` when the
    /// sequence has ended (end of turn, a stop string, `max_tokens`).
    pub(super) fn advance(
        &mut self,
        tokenizer: &BpeTokenizer,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Option<u32>, EngineError> {
        if self.finish.is_some() {
            return Ok(None);
        }
        debug_assert!(
            self.pending.is_none(),
            "advance before the pending token ran"
        );
        self.decode_start.get_or_insert_with(Instant::now);
        if self.token_ids.len() >= self.req.max_tokens {
            self.finish = Some(FinishReason::Length);
            return Ok(None);
        }
        let token = match self.picked.take() {
            Some(t) => t,
            None => self.sample(),
        };
        if !self.req.ignore_eos && tokenizer.is_end_of_generation(token) {
            if let Some(lp) = self.logprobs.as_mut() {
                lp.pop();
            }
            self.finish = Some(FinishReason::Stop);
            return Ok(None);
        }
        self.token_ids.push(token);
        self.tokens.push(token);
        self.bytes.clear();
        tokenizer.token_bytes(token, false, &mut self.bytes)?;
        let piece = self.utf8.push(&self.bytes);
        if self.stops.push(&piece, on_text) {
            self.finish = Some(FinishReason::Stop);
            return Ok(None);
        }
        if self.token_ids.len() == self.req.max_tokens {
            self.finish = Some(FinishReason::Length);
            return Ok(None);
        }
        self.pending = Some(token);
        Ok(Some(token))
    }

    /// Ends the sequence (whether or not it finished): flushes held-back text and returns
    /// the generation and the cache for a [`PromptCache`].
    pub fn finish(mut self, on_text: &mut dyn FnMut(&str)) -> (Generation, Prefix) {
        if !self.stops.stopped {
            let rest = self.utf8.finish();
            if !self.stops.push(&rest, on_text) {
                self.stops.flush(on_text);
            }
        }
        let decode_s = self.decode_start.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let per_s = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        let read = self.prompt_tokens - self.reused_tokens;
        let generation = Generation {
            text: std::mem::take(&mut self.stops.text),
            token_ids: self.token_ids,
            logprobs: self.logprobs,
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            prompt_tokens: self.prompt_tokens,
            reused_prompt_tokens: self.reused_tokens,
            timings: Timings {
                load_ms: 0.0,
                prefill_ms: self.prefill_ms,
                prefill_tokens_per_s: per_s(read, self.prefill_ms / 1e3),
                decode_ms: decode_s * 1e3,
                decode_tokens_per_s: per_s(self.forwards, decode_s),
            },
        };
        let mut tokens = self.tokens;
        tokens.truncate(self.cache.len());
        let prefix = Prefix {
            tokens,
            cache: self.cache,
        };
        (generation, prefix)
    }
}

/// Holds back text that could be the start of a stop string, and cuts at the first stop.
struct StopMatcher {
    stops: Vec<String>,
    text: String,
    emitted: usize,
    stopped: bool,
}

impl StopMatcher {
    fn new(stops: Vec<String>) -> Self {
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
        for s in &self.stops {
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
        let mut m = StopMatcher::new(stops);
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

    fn prefix(tokens: &[u32]) -> Prefix {
        Prefix {
            tokens: tokens.to_vec(),
            cache: KvCache::default(),
        }
    }

    #[test]
    fn the_cache_sharing_the_longest_prefix_is_found_and_kept() {
        let mut c = PromptCache::new(9);
        c.put(prefix(&[1, 2, 3]));
        c.put(prefix(&[1, 2, 9, 9]));
        c.put(prefix(&[7, 7]));
        let got = c.get(&[1, 2, 9, 4]).expect("a cache shares 3 tokens");
        assert_eq!(got.tokens, [1, 2, 9, 9]);
        assert_eq!(c.len(), 3, "the entry stays for the next sequence");
        assert_eq!(c.get(&[1, 2, 9, 4]).unwrap().tokens, [1, 2, 9, 9]);
        assert!(c.get(&[5]).is_none(), "nothing shares a token with [5]");
        // [1, 2, 3] is the least recently used: the budget of 9 tokens drops it.
        c.put(prefix(&[8, 8]));
        assert_eq!(c.tokens(), 8);
        assert_eq!(c.get(&[1, 2, 3]).unwrap().tokens, [1, 2, 9, 9]);
    }

    #[test]
    fn a_longer_cache_replaces_the_ones_it_extends() {
        let mut c = PromptCache::new(100);
        c.put(prefix(&[1, 2]));
        c.put(prefix(&[1, 2, 3]));
        c.put(prefix(&[1, 2, 3, 4]));
        c.put(prefix(&[1, 5]));
        assert_eq!(c.len(), 2);
        assert_eq!(c.tokens(), 6);
        c.put(prefix(&[0; 101]));
        assert_eq!(c.len(), 2, "an entry over the whole budget is not kept");
    }

    #[test]
    fn the_last_prompt_token_is_always_run_again() {
        let (shared, _) = prefix(&[1, 2, 3]).reuse_for(&[1, 2, 3]);
        assert_eq!(shared, 2);
        let (shared, _) = prefix(&[1, 2, 3, 4]).reuse_for(&[1, 2, 5]);
        assert_eq!(shared, 2);
        let (shared, _) = prefix(&[4]).reuse_for(&[1]);
        assert_eq!(shared, 0);
    }
}
