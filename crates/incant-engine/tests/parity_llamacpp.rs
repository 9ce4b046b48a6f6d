//! Parity with llama.cpp on the real SmolLM2 GGUF: tokenizer ids and greedy decoding.
//!
//! Reference data: `scripts/reference/make_llamacpp_reference.py` (llama-cpp-python 0.3.36).

mod common;

use incant_engine::generate::GenerateRequest;
use incant_engine::{ChatModel, SamplingParams};
use std::sync::OnceLock;

fn model() -> &'static ChatModel {
    static MODEL: OnceLock<ChatModel> = OnceLock::new();
    MODEL.get_or_init(|| ChatModel::load(&common::smollm2()).expect("SmolLM2 loads"))
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn tokenizer_ids_equal_llama_cpp_on_every_reference_string() {
    let data = common::reference("smollm2_tokens.json");
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 1000, "at least 500 strings, both modes");
    let tok = model().tokenizer();
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let special = c["parse_special"].as_bool().unwrap();
        let got = tok.encode(text, true, special);
        if got != ids(&c["ids"]) {
            failures.push(format!(
                "{text:?} (special={special}): got {got:?}, want {:?}",
                c["ids"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}

#[test]
fn decoding_reference_ids_gives_back_the_text() {
    let data = common::reference("smollm2_tokens.json");
    let tok = model().tokenizer();
    for c in data["cases"].as_array().unwrap() {
        if c["parse_special"].as_bool().unwrap() {
            continue;
        }
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.decode(&ids(&c["ids"]), true).unwrap(), text);
    }
}

#[test]
fn chat_prompts_render_and_tokenize_like_llama_cpp() {
    let data = common::reference("smollm2_greedy.json");
    let m = model();
    for run in data["runs"].as_array().unwrap() {
        let prompt = run["prompt"].as_str().unwrap();
        let rendered = m
            .render_chat(&[incant_engine::ChatMessage::new("user", prompt)])
            .unwrap();
        assert_eq!(rendered, run["rendered"].as_str().unwrap());
        assert_eq!(m.encode(&rendered, true), ids(&run["prompt_ids"]));
    }
}

#[test]
fn greedy_decoding_matches_llama_cpp() {
    let data = common::reference("smollm2_greedy.json");
    let m = model();
    let runs = data["runs"].as_array().unwrap();
    let mut exact = 0;
    let (mut agree, mut total) = (0usize, 0usize);
    let mut report = Vec::new();
    let mut max_lp_err = 0f64;
    for run in runs {
        let prompt = ids(&run["prompt_ids"]);
        let mut want = ids(&run["generated_ids"]);
        // llama.cpp's list ends with the end-of-turn token when the reply ended; incant
        // reports that as `finish_reason: stop` instead of a token.
        let ended = want.last() == m.tokenizer().eos().as_ref();
        if ended {
            want.pop();
        }
        let req = GenerateRequest {
            sampling: SamplingParams::greedy(),
            max_tokens: if ended { want.len() + 1 } else { want.len() },
            logprobs: true,
            ..GenerateRequest::default()
        };
        let got = m.generate(&prompt, &req, &mut |_| {}).unwrap();
        let same = got.token_ids == want
            && (got.finish_reason == incant_engine::FinishReason::Stop) == ended;
        exact += usize::from(same);
        // Teacher forcing: llama.cpp's top-1 at every position of prompt + its generation.
        let seq: Vec<u32> = prompt
            .iter()
            .chain(&ids(&run["generated_ids"]))
            .copied()
            .collect();
        let logits = m.logits_all(&seq).unwrap();
        let top1 = ids(&run["top1_next"]);
        for (row, want) in logits.iter().zip(&top1) {
            total += 1;
            agree += usize::from(incant_engine::llama::argmax(row) == *want);
        }
        // llama.cpp's reference log-probabilities come from its batched pass over prompt +
        // generation; incant's batched pass must give the same numbers.
        let want_lp: Vec<f64> = run["generated_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        for (i, w) in want_lp.iter().enumerate() {
            let row = &logits[prompt.len() - 1 + i];
            let t = seq[prompt.len() + i];
            let g = f64::from(incant_engine::sampling::log_prob(row, t));
            max_lp_err = max_lp_err.max((g - w).abs());
        }
        let lps = got.logprobs.unwrap();
        assert_eq!(lps.len(), got.token_ids.len());
        assert!(lps.iter().all(|l| l.is_finite() && *l <= 0.0));
        report.push(format!(
            "{:?}: {}",
            run["prompt"].as_str().unwrap(),
            if same { "same" } else { "differs" }
        ));
    }
    let rate = agree as f64 / total as f64;
    eprintln!(
        "greedy: {exact}/{} identical; teacher-forced top-1 agreement {agree}/{total} = {rate:.4}; \
         largest log-probability difference {max_lp_err:.4}",
        runs.len()
    );
    assert!(
        max_lp_err < 1e-3,
        "log-probabilities differ by {max_lp_err}"
    );
    assert!(
        exact >= 9,
        "only {exact} of {} greedy runs equal llama.cpp's:\n{}",
        runs.len(),
        report.join("\n")
    );
    assert!(rate >= 0.98, "teacher-forced agreement {rate}");
}
