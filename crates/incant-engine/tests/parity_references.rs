//! Parity with transformers (chat templates) and sentence-transformers (embeddings).
//!
//! Reference data: `scripts/reference/make_chat_template_reference.py` and
//! `scripts/reference/make_embedding_reference.py`.

mod common;

use incant_engine::embed::cosine;
use incant_engine::{ChatMessage, ChatTemplate, EmbedOptions, SentenceEmbedder};

#[test]
fn chat_templates_render_like_transformers() {
    let data = common::reference("chat_templates.json");
    let templates = data["templates"].as_object().unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in cases {
        let name = c["template"].as_str().unwrap();
        let t = ChatTemplate::new(
            Some(templates[name].as_str().unwrap()),
            c["bos_token"].as_str().unwrap(),
            c["eos_token"].as_str().unwrap(),
        )
        .unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(c["messages"].clone()).unwrap();
        let got = t.render(&messages, c["add_generation_prompt"].as_bool().unwrap());
        match (&got, c["rendered"].as_str()) {
            (Ok(g), Some(want)) if g == want => {}
            (Err(e), None) => {
                // The template refused the conversation; so must we, with its message.
                let want = c["error"].as_str().unwrap();
                assert!(e.to_string().contains("alternate"), "{e} vs {want}");
            }
            _ => failures.push(format!(
                "{name} {:?}: got {got:?}, want {:?}",
                c["messages"], c["rendered"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn embeddings_match_sentence_transformers() {
    let data = common::reference("minilm_embeddings.json");
    let model = SentenceEmbedder::load(&common::minilm()).unwrap();
    assert_eq!(
        model.max_seq_length(),
        data["max_seq_length"].as_u64().unwrap() as usize
    );
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 200);
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let got = model
        .embed(&texts, EmbedOptions { batch_size: 32 })
        .unwrap();
    let mut worst = (1.0f32, "");
    for ((c, v), text) in cases.iter().zip(&got).zip(&texts) {
        let want: Vec<f32> = c["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(v.len(), want.len());
        let cos = cosine(v, &want);
        if cos < worst.0 {
            worst = (cos, text);
        }
        assert_eq!(
            model.count_tokens(text).unwrap(),
            c["n_tokens"].as_u64().unwrap() as usize,
            "token count of {text:?}"
        );
    }
    eprintln!("embeddings: worst cosine {:.6} ({:?})", worst.0, worst.1);
    assert!(worst.0 >= 0.9999, "cosine {} for {:?}", worst.0, worst.1);
}

#[test]
fn batch_size_does_not_change_the_vectors() {
    let model = SentenceEmbedder::load(&common::minilm()).unwrap();
    let texts = [
        "short",
        "a somewhat longer sentence about prompts and models",
        "",
    ];
    let one = model.embed(&texts, EmbedOptions { batch_size: 1 }).unwrap();
    let all = model.embed(&texts, EmbedOptions { batch_size: 8 }).unwrap();
    for (a, b) in one.iter().zip(&all) {
        assert!(cosine(a, b) > 0.99999);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "normalised");
    }
}
