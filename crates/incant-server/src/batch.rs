//! The engine thread of a local chat model: continuous batching with a prompt cache.
//!
//! One model, many users. Running requests one after another makes the sixteenth user wait
//! for fifteen whole generations; instead the thread keeps up to [`MAX_BATCH`] sequences
//! live: each turn it admits waiting jobs (reading their prompts), then takes one decoding
//! step of every live sequence together, which reads the weights once for all of them. A
//! sequence whose client went away (its reply or its stream was dropped) is ended at the
//! next step, so a cancelled request stops costing compute at once.
//!
//! Finished sequences leave their KV caches in a [`PromptCache`]: inline completion sends
//! the same hidden instructions and nearly the same document again with each keystroke,
//! so the next request reads only the tokens that changed.

use crate::engine::{sampling, BackendError, EngineStats, GenOutput, LocalJob};
use incant_engine::generate::{GenerateRequest, PromptCache, Sequence};
use incant_engine::{ChatMessage, ChatModel, EngineError, FinishReason, Generation};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

/// Sequences decoded together at most.
pub const MAX_BATCH: usize = 16;
/// Positions of KV cache kept for prompt reuse (about 46 KB each for SmolLM2-135M).
const PROMPT_CACHE_TOKENS: usize = 4096;

struct Live {
    item: LocalJob,
    seq: Sequence,
    queue_ms: f64,
    /// When the engine took the job: its engine time runs from here (prompt cache
    /// look-up and copies, reading, decoding steps shared with other sequences).
    picked: Instant,
}

impl Live {
    fn gone(&self) -> bool {
        self.item.reply.is_closed() || self.item.stream.as_ref().is_some_and(|s| s.is_closed())
    }
}

/// Runs jobs from `rx` until every sender is gone.
pub(crate) fn engine_loop(
    model: ChatModel,
    mut rx: mpsc::Receiver<LocalJob>,
    stats: Arc<EngineStats>,
) {
    let mut cache = PromptCache::new(PROMPT_CACHE_TOKENS);
    let mut live: Vec<Live> = Vec::new();
    let mut open = true;
    loop {
        // Admit waiting jobs: block only when nothing is running.
        while open && live.len() < MAX_BATCH {
            let item = if live.is_empty() {
                match rx.blocking_recv() {
                    Some(item) => item,
                    None => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(item) => item,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            };
            // A client that left while waiting costs nothing.
            if item.reply.is_closed() {
                stats.depth.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            let picked = Instant::now();
            let queue_ms = picked.duration_since(item.enqueued).as_secs_f64() * 1e3;
            match start(&model, &item, &mut cache) {
                Ok(seq) => {
                    let reused = seq.reused_tokens() as u64;
                    let read = seq.prompt_tokens() as u64 - reused;
                    stats
                        .prompt_tokens_reused
                        .fetch_add(reused, Ordering::Relaxed);
                    stats.prompt_tokens_read.fetch_add(read, Ordering::Relaxed);
                    live.push(Live {
                        queue_ms,
                        picked,
                        item,
                        seq,
                    })
                }
                Err(e) => {
                    // The gauge drops before the reply, so a client never sees its own
                    // finished job in /metrics.
                    stats.depth.fetch_sub(1, Ordering::Relaxed);
                    let _ = item.reply.send(Err(e));
                }
            }
        }
        if live.is_empty() {
            if !open {
                return;
            }
            continue;
        }
        let step = {
            let senders: Vec<_> = live.iter().map(|l| l.item.stream.clone()).collect();
            let mut seqs: Vec<&mut Sequence> = live.iter_mut().map(|l| &mut l.seq).collect();
            model.step(&mut seqs, &mut |i, text| {
                if let Some(tx) = &senders[i] {
                    let _ = tx.send(text.to_string());
                }
            })
        };
        if let Err(e) = step {
            // A failed step fails every sequence in it; the model itself stays usable.
            for l in live.drain(..) {
                stats.depth.fetch_sub(1, Ordering::Relaxed);
                let _ = l.item.reply.send(Err(BackendError::Failed(e.to_string())));
            }
            continue;
        }
        let mut i = 0;
        while i < live.len() {
            if live[i].seq.is_finished() || live[i].gone() {
                let l = live.swap_remove(i);
                if !l.seq.is_finished() {
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                }
                let (generation, prefix) = l.seq.finish(&mut |t| {
                    if let Some(tx) = &l.item.stream {
                        let _ = tx.send(t.to_string());
                    }
                });
                cache.put(prefix);
                let engine_ms = l.picked.elapsed().as_secs_f64() * 1e3;
                stats.depth.fetch_sub(1, Ordering::Relaxed);
                let _ = l
                    .item
                    .reply
                    .send(Ok(output(generation, l.queue_ms, engine_ms)));
            } else {
                i += 1;
            }
        }
    }
}

/// Reads a job's prompt, starting from the cached prefix it shares most with; text that
/// is final after the first pick goes out on the next step.
fn start(
    model: &ChatModel,
    item: &LocalJob,
    cache: &mut PromptCache,
) -> Result<Sequence, BackendError> {
    let job = &item.job;
    let messages: Vec<ChatMessage> = job
        .messages
        .iter()
        .map(|m| ChatMessage::new(m.role.clone(), m.content.clone()))
        .collect();
    let ids = model
        .prompt_ids(&messages, job.chat)
        .map_err(|e| BackendError::Failed(e.to_string()))?;
    let req = GenerateRequest {
        sampling: sampling(&job.params),
        max_tokens: job.params.max_tokens,
        stop: job.params.stop.clone(),
        logprobs: false,
        ignore_eos: false,
    };
    let prefix = cache.get(&ids);
    let seq = model.start(&ids, req, prefix).map_err(|e| match e {
        EngineError::ContextOverflow { .. } => BackendError::Invalid {
            param: "max_tokens",
            message: e.to_string(),
        },
        EngineError::InvalidParam { name, .. } => BackendError::Invalid {
            param: if name == "prompt" {
                "prompt"
            } else {
                "sampling"
            },
            message: e.to_string(),
        },
        other => BackendError::Failed(other.to_string()),
    })?;
    // Jobs behind this one with the same prompt (alternatives) start from it at once.
    cache.put(seq.prompt_prefix());
    Ok(seq)
}

fn output(out: Generation, queue_ms: f64, engine_ms: f64) -> GenOutput {
    GenOutput {
        prompt_tokens: out.prompt_tokens,
        completion_tokens: out.token_ids.len(),
        finish_reason: match out.finish_reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        },
        text: out.text,
        cost: Some(0.0),
        engine_ms,
        prefill_ms: out.timings.prefill_ms,
        queue_ms,
    }
}
