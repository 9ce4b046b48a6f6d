//! Batched decoding (several sequences per step, as a server runs them) gives every
//! sequence exactly the logits it gets on its own.

mod common;

use incant_engine::llama::{argmax, KvCache, Logits};
use incant_engine::ChatModel;

#[test]
fn batched_steps_equal_single_sequence_steps_bit_for_bit() {
    let m = ChatModel::load(&common::smollm2()).expect("SmolLM2 loads");
    let llama = m.llama();
    let prompts = [
        "The capital of France is",
        "Write a haiku about the sea and the wind over the harbour",
        "1, 2, 3,",
        "Prompt engineering",
        "A very short one",
    ];
    let vocab = llama.config().vocab_size;
    let mut single: Vec<(KvCache, u32)> = Vec::new();
    let mut batched: Vec<(KvCache, u32)> = Vec::new();
    for p in prompts {
        let ids = m.encode(p, false);
        let mut cache = KvCache::default();
        let logits = llama.forward(&ids, &mut cache, Logits::Last).unwrap();
        let next = argmax(&logits);
        single.push((cache.clone(), next));
        batched.push((cache, next));
    }
    for _ in 0..6 {
        let mut steps: Vec<(u32, &mut KvCache)> =
            batched.iter_mut().map(|(c, t)| (*t, c)).collect();
        let all = llama.forward_batch(&mut steps).unwrap();
        assert_eq!(all.len(), prompts.len() * vocab);
        for (i, (cache, tok)) in single.iter_mut().enumerate() {
            let want = llama.forward(&[*tok], cache, Logits::Last).unwrap();
            let got = &all[i * vocab..(i + 1) * vocab];
            assert!(
                want.iter()
                    .zip(got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "sequence {i} differs"
            );
            *tok = argmax(&want);
            batched[i].1 = *tok;
            assert_eq!(batched[i].0.len(), cache.len());
        }
    }
}

fn greedy(max_tokens: usize) -> incant_engine::generate::GenerateRequest {
    incant_engine::generate::GenerateRequest {
        sampling: incant_engine::SamplingParams::greedy(),
        max_tokens,
        ..Default::default()
    }
}

#[test]
fn sequences_stepped_together_generate_what_each_generates_alone() {
    let m = ChatModel::load(&common::smollm2()).expect("SmolLM2 loads");
    let prompts = [
        "The capital of France is",
        "Write a haiku about the sea",
        "1, 2, 3,",
    ];
    // Greedy, and seeded top-k sampling with log-probabilities: a batch samples its
    // sequences in parallel, each from its own random state.
    let sampled = incant_engine::generate::GenerateRequest {
        sampling: incant_engine::SamplingParams {
            temperature: 0.9,
            seed: 5,
            ..incant_engine::SamplingParams::default()
        },
        max_tokens: 12,
        logprobs: true,
        ..Default::default()
    };
    for req in [greedy(10), sampled] {
        let alone: Vec<_> = prompts
            .iter()
            .map(|p| m.generate(&m.encode(p, false), &req, &mut |_| {}).unwrap())
            .collect();
        let mut seqs: Vec<_> = prompts
            .iter()
            .map(|p| m.start(&m.encode(p, false), req.clone(), None).unwrap())
            .collect();
        let mut streamed = vec![String::new(); prompts.len()];
        loop {
            let mut refs: Vec<_> = seqs.iter_mut().collect();
            if !m
                .step(&mut refs, &mut |i, t| streamed[i].push_str(t))
                .unwrap()
            {
                break;
            }
        }
        for (i, seq) in seqs.into_iter().enumerate() {
            let (g, _) = seq.finish(&mut |t| streamed[i].push_str(t));
            assert_eq!(g.text, alone[i].text, "prompt {i}");
            assert_eq!(g.token_ids, alone[i].token_ids, "prompt {i}");
            assert_eq!(g.logprobs, alone[i].logprobs, "prompt {i}");
            assert_eq!(streamed[i], alone[i].text, "streamed text of prompt {i}");
        }
    }
}

#[test]
fn a_cached_prefix_is_not_read_again_and_changes_nothing() {
    let m = ChatModel::load(&common::smollm2()).expect("SmolLM2 loads");
    let req = greedy(8);
    let mut cache = incant_engine::generate::PromptCache::new(4096);
    let doc = "Continue the document.\nDocument:\nThe harbour town woke slowly that morning. Fishing boats";
    let first = m.start(&m.encode(doc, false), req.clone(), None).unwrap();
    let (_, prefix) = first.finish(&mut |_| {});
    cache.put(prefix);
    // The user typed a few more words.
    let typed = m.encode(&format!("{doc} rocked against the pier while"), false);
    let fresh = m.generate(&typed, &req, &mut |_| {}).unwrap();
    let seq = m.start(&typed, req.clone(), cache.get(&typed)).unwrap();
    let shared = m.encode(doc, false).len();
    assert!(
        seq.reused_tokens() + 2 >= shared && seq.reused_tokens() <= shared,
        "reused {} of the {shared} tokens the texts share",
        seq.reused_tokens()
    );
    let reused_tokens = seq.reused_tokens();
    let mut seqs = [seq];
    loop {
        let mut refs: Vec<_> = seqs.iter_mut().collect();
        if !m.step(&mut refs, &mut |_, _| {}).unwrap() {
            break;
        }
    }
    let [seq] = seqs;
    let (reused, prefix) = seq.finish(&mut |_| {});
    assert_eq!(reused.text, fresh.text);
    assert_eq!(reused.token_ids, fresh.token_ids);
    assert_eq!(reused.reused_prompt_tokens, reused_tokens);
    assert!(
        prefix.len() >= typed.len(),
        "the cache now holds the new text too"
    );
}
