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
