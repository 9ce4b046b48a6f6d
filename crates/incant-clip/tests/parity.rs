//! Parity with transformers and torchmetrics on tiny random CLIP models.
//!
//! `tests/data/` is written once by `scripts/reference/make_clip_model_reference.py`: three
//! models saved by transformers' `CLIPModel.save_pretrained` (quick_gelu with argmax pooling,
//! exact gelu with eos pooling and layer_norm_eps 1e-6, and a full 49,408-token vocabulary in
//! float16), test PNGs, the pixel values of `CLIPImageProcessorPil`, the features of
//! `get_image_features` / `get_text_features`, and torchmetrics' `clip_score` results.
//! The full-vocabulary test reads the CLIP BPE vocabulary (`incant models fetch`), found
//! under `INCANT_MODELS` or the workspace's `models/`.

use std::path::{Path, PathBuf};

use incant_clip::{clip_score_from_embeddings, load_png, ClipModel, ImageProcessor};
use incant_tokenize::clip::ClipTokenizer;
use serde::Deserialize;

const TOL: f64 = 1e-4;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn image(name: &str) -> image::RgbImage {
    load_png(&data().join("images").join(format!("{name}.png"))).unwrap()
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

fn flatten(chw: &[Vec<Vec<f64>>]) -> Vec<f64> {
    chw.iter().flatten().flatten().copied().collect()
}

#[derive(Deserialize)]
struct PreCase {
    image: String,
    resample: u64,
    pixel_values: Vec<Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct Padded {
    image: String,
    size: usize,
    crop_height: usize,
    crop_width: usize,
    pixel_values: Vec<Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct PreReference {
    cases: Vec<PreCase>,
    padded: Padded,
}

fn processor_json(shortest: usize, crop_h: usize, crop_w: usize, resample: u64) -> ImageProcessor {
    ImageProcessor::from_json(&format!(
        r#"{{"size": {{"shortest_edge": {shortest}}}, "crop_size": {{"height": {crop_h}, "width": {crop_w}}}, "resample": {resample}}}"#
    ))
    .unwrap()
}

#[test]
fn preprocessing_matches_clip_image_processor() {
    let reference: PreReference = read_json(&data().join("preprocess_reference.json"));
    assert!(reference.cases.len() >= 7);
    let mut worst: f64 = 0.0;
    for case in &reference.cases {
        let p = processor_json(32, 32, 32, case.resample);
        let got = p.preprocess(&image(&case.image)).unwrap();
        let d = max_diff(&got, &flatten(&case.pixel_values));
        assert!(
            d < TOL,
            "{} resample {}: max |diff| {d}",
            case.image,
            case.resample
        );
        worst = worst.max(d);
    }
    eprintln!("pixel values: max |diff| {worst:.2e}");
    let pad = &reference.padded;
    let p = processor_json(pad.size, pad.crop_height, pad.crop_width, 3);
    let got = p.preprocess(&image(&pad.image)).unwrap();
    let d = max_diff(&got, &flatten(&pad.pixel_values));
    assert!(d < TOL, "padded crop: max |diff| {d}");
}

#[derive(Deserialize)]
struct TextCase {
    ids: Vec<u32>,
    embedding: Vec<f64>,
}

#[derive(Deserialize)]
struct CaptionCase {
    caption: String,
    ids: Vec<u32>,
    embedding: Vec<f64>,
}

#[derive(Deserialize)]
struct ScoreCase {
    images: Vec<String>,
    captions: Vec<String>,
    score: f64,
}

#[derive(Deserialize)]
struct ModelReference {
    images: std::collections::BTreeMap<String, Vec<f64>>,
    texts: Vec<TextCase>,
    #[serde(default)]
    captions: Vec<CaptionCase>,
    #[serde(default)]
    torchmetrics_clip_score: Vec<ScoreCase>,
}

fn load_variant(name: &str) -> (ClipModel, ModelReference) {
    let dir = data().join(name);
    let model = ClipModel::load(&dir).unwrap();
    (model, read_json(&dir.join("reference.json")))
}

/// The largest difference of the image embeddings from the reference.
fn image_diff(model: &ClipModel, reference: &ModelReference) -> f64 {
    let names: Vec<&String> = reference.images.keys().collect();
    let imgs: Vec<_> = names.iter().map(|n| image(n)).collect();
    let got = model.embed_images(&imgs).unwrap();
    names
        .iter()
        .zip(&got)
        .map(|(n, emb)| max_diff(emb, &reference.images[*n]))
        .fold(0.0, f64::max)
}

/// The largest difference of the id sequences' text embeddings from the reference, all
/// sequences in one batch of mixed lengths (padded inside).
fn text_diff(model: &ClipModel, reference: &ModelReference) -> f64 {
    assert!(!reference.texts.is_empty());
    let ids: Vec<Vec<u32>> = reference.texts.iter().map(|t| t.ids.clone()).collect();
    let got = model.embed_token_ids(&ids).unwrap();
    got.iter()
        .zip(&reference.texts)
        .map(|(emb, case)| max_diff(emb, &case.embedding))
        .fold(0.0, f64::max)
}

fn check_images(name: &str, model: &ClipModel, reference: &ModelReference) {
    let d = image_diff(model, reference);
    eprintln!("{name}: image embeddings max |diff| {d:.2e}");
    assert!(d < TOL, "{name} images: max |diff| {d}");
}

fn check_ids(name: &str, model: &ClipModel, reference: &ModelReference) {
    let d = text_diff(model, reference);
    eprintln!("{name}: text embeddings max |diff| {d:.2e}");
    assert!(d < TOL, "{name} texts: max |diff| {d}");
}

#[test]
fn quick_gelu_model_matches_transformers() {
    let (model, reference) = load_variant("quick_gelu");
    assert_eq!(
        model.config().text.hidden_act,
        incant_clip::Activation::QuickGelu
    );
    assert_eq!(
        model.config().text.pooling(),
        incant_clip::Pooling::ArgmaxId
    );
    check_images("quick_gelu", &model, &reference);
    check_ids("quick_gelu", &model, &reference);
}

#[test]
fn gelu_model_matches_transformers() {
    let (model, reference) = load_variant("gelu");
    assert_eq!(
        model.config().vision.hidden_act,
        incant_clip::Activation::Gelu
    );
    assert_eq!(
        model.config().text.pooling(),
        incant_clip::Pooling::FirstId(300)
    );
    check_images("gelu", &model, &reference);
    check_ids("gelu", &model, &reference);
}

/// The `gelu` model with `config.json` edited: the parity checks must notice a wrong
/// activation or pooling rule, or they prove nothing.
#[test]
fn parity_detects_wrong_activation_and_pooling() {
    let (_, reference) = load_variant("gelu");
    let src = data().join("gelu");
    let config: serde_json::Value = read_json(&src.join("config.json"));
    let edits: [(&str, &str, serde_json::Value); 3] = [
        ("text_config", "hidden_act", "quick_gelu".into()),
        ("vision_config", "hidden_act", "gelu_new".into()),
        ("text_config", "eos_token_id", 2.into()),
    ];
    for (tower, key, value) in edits {
        let tmp = std::env::temp_dir().join(format!(
            "incant-clip-edit-{}-{tower}-{key}",
            std::process::id()
        ));
        std::fs::create_dir_all(&tmp).unwrap();
        for f in ["model.safetensors", "preprocessor_config.json"] {
            std::fs::copy(src.join(f), tmp.join(f)).unwrap();
        }
        let mut edited = config.clone();
        edited[tower][key] = value;
        std::fs::write(tmp.join("config.json"), edited.to_string()).unwrap();
        let model = ClipModel::load(&tmp).unwrap();
        let d = if tower == "text_config" {
            text_diff(&model, &reference)
        } else {
            image_diff(&model, &reference)
        };
        eprintln!("gelu with {tower}.{key} edited: max |diff| {d:.2e}");
        assert!(
            d > 5.0 * TOL,
            "{tower}.{key} edited, yet max |diff| is only {d}"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}

/// `INCANT_MODELS`, else the workspace's `models/`.
fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

fn clip_tokenizer() -> ClipTokenizer {
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

#[test]
fn full_path_matches_transformers_and_torchmetrics() {
    let (model, reference) = load_variant("full_vocab");
    check_images("full_vocab", &model, &reference);
    // No tokenizer in the folder: captions are an error with a hint, ids still work.
    let err = model.embed_texts(&["a cat"]).unwrap_err().to_string();
    assert!(
        err.contains("no tokenizer") && err.contains("hint"),
        "{err}"
    );
    let model = model.with_tokenizer(clip_tokenizer());

    let captions: Vec<&str> = reference
        .captions
        .iter()
        .map(|c| c.caption.as_str())
        .collect();
    let (ids, warnings) = model.tokenize(&captions).unwrap();
    for (got, case) in ids.iter().zip(&reference.captions) {
        assert_eq!(got, &case.ids, "ids of {:?}", case.caption);
    }
    // Exactly the long caption was cut, to 75 tokens plus the markers.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!((w.index, w.kept), (4, 75));
    // OpenAI's decode: every digit is its own word.
    assert!(
        w.tokens > 75 && w.dropped_text.trim_end().ends_with("detail number 3 9"),
        "{w}"
    );
    assert!(w.to_string().contains("dropped"), "{w}");

    let (embs, _) = model.embed_texts(&captions).unwrap();
    let mut worst: f64 = 0.0;
    for (emb, case) in embs.iter().zip(&reference.captions) {
        let d = max_diff(emb, &case.embedding);
        assert!(d < TOL, "caption {:?}: max |diff| {d}", case.caption);
        worst = worst.max(d);
    }
    eprintln!("full_vocab: caption embeddings max |diff| {worst:.2e}");

    assert!(reference.torchmetrics_clip_score.len() > 10);
    let mut clamped = 0;
    let mut worst: f64 = 0.0;
    for case in &reference.torchmetrics_clip_score {
        let imgs: Vec<_> = case.images.iter().map(|n| image(n)).collect();
        let caps: Vec<&str> = case.captions.iter().map(String::as_str).collect();
        let got = model.clip_score(&imgs, &caps).unwrap();
        assert!(
            (got.score - case.score).abs() < 1e-3,
            "{:?} x {:?}: {} vs torchmetrics {}",
            case.images,
            case.captions,
            got.score,
            case.score
        );
        assert_eq!(got.per_sample.len(), caps.len());
        worst = worst.max((got.score - case.score).abs());
        if case.score == 0.0 {
            clamped += 1;
            assert!(got.per_sample.iter().sum::<f64>() < 0.0);
        }
        // The clamp applies to the mean: a batch with a negative pair still scores its mean.
        if got.per_sample.iter().any(|&s| s < 0.0) && case.score > 0.0 {
            let mean = got.per_sample.iter().sum::<f64>() / got.per_sample.len() as f64;
            assert!((case.score - mean).abs() < 1e-3);
        }
    }
    assert!(
        clamped > 0,
        "the reference must include a clamped (negative) case"
    );
    eprintln!(
        "CLIP score vs torchmetrics, {} cases: max |diff| {worst:.2e}",
        reference.torchmetrics_clip_score.len()
    );
}

/// A folder in transformers' full layout: the tokenizer comes from `merges.txt` (the first
/// 48,894 merges of OpenAI's file under a `#version: 0.2` header, as transformers ships it).
#[test]
fn tokenizer_found_as_merges_txt() {
    use std::io::Read;
    let model = incant_models::registry::find("clip-bpe").unwrap();
    let gz = incant_models::reference::installed_path(&models_dir(), model);
    let mut text = String::new();
    flate2_read(&gz).read_to_string(&mut text).unwrap();
    let merges: Vec<&str> = text.lines().skip(1).take(49152 - 256 - 2).collect();
    let tmp = std::env::temp_dir().join(format!("incant-clip-merges-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let src = data().join("full_vocab");
    for f in [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ] {
        std::fs::copy(src.join(f), tmp.join(f)).unwrap();
    }
    std::fs::write(
        tmp.join("merges.txt"),
        format!("#version: 0.2\n{}\n", merges.join("\n")),
    )
    .unwrap();
    let model = ClipModel::load(&tmp).unwrap();
    let reference: ModelReference = read_json(&src.join("reference.json"));
    let captions: Vec<&str> = reference
        .captions
        .iter()
        .map(|c| c.caption.as_str())
        .collect();
    let (ids, _) = model.tokenize(&captions).unwrap();
    for (got, case) in ids.iter().zip(&reference.captions) {
        assert_eq!(got, &case.ids, "ids of {:?}", case.caption);
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn flate2_read(path: &Path) -> impl std::io::Read {
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
}

#[test]
fn score_formula_matches_torchmetrics_on_reference_embeddings() {
    // torchmetrics' scores from the reference embeddings alone (no Rust model involved).
    let reference: ModelReference = read_json(&data().join("full_vocab/reference.json"));
    let text_of = |caption: &str| {
        reference
            .captions
            .iter()
            .find(|c| c.caption == caption)
            .map(|c| c.embedding.iter().map(|&x| x as f32).collect::<Vec<f32>>())
            .unwrap()
    };
    let mut mixed = false;
    for case in &reference.torchmetrics_clip_score {
        let imgs: Vec<Vec<f32>> = case
            .images
            .iter()
            .map(|n| reference.images[n].iter().map(|&x| x as f32).collect())
            .collect();
        let txts: Vec<Vec<f32>> = case.captions.iter().map(|c| text_of(c)).collect();
        let (score, per) = clip_score_from_embeddings(&imgs, &txts).unwrap();
        assert!(
            (score - case.score).abs() < 1e-3,
            "{score} vs {}",
            case.score
        );
        mixed |= case.score > 0.0 && per.iter().any(|&s| s < 0.0);
    }
    assert!(
        mixed,
        "the reference must include a positive batch with a negative pair"
    );
}

#[test]
fn model_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ClipModel>();
}

#[test]
fn bad_inputs_are_clear_errors() {
    let tmp = std::env::temp_dir().join(format!("incant-clip-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();

    let err = ClipModel::load(&tmp.join("missing"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a CLIP model folder"), "{err}");
    let err = ClipModel::load(&tmp).unwrap_err().to_string();
    assert!(err.contains("no config.json"), "{err}");

    // The gelu config with the quick_gelu weights: shapes differ, the error names the file.
    std::fs::copy(data().join("gelu/config.json"), tmp.join("config.json")).unwrap();
    std::fs::copy(
        data().join("quick_gelu/model.safetensors"),
        tmp.join("model.safetensors"),
    )
    .unwrap();
    let err = ClipModel::load(&tmp).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("do not fit"),
        "{err}"
    );

    std::fs::write(tmp.join("model.safetensors"), b"not safetensors").unwrap();
    let err = ClipModel::load(&tmp).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    std::fs::write(
        tmp.join("config.json"),
        r#"{"text_config": {"hidden_act": "swish"}}"#,
    )
    .unwrap();
    let err = ClipModel::load(&tmp).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("swish"),
        "{err}"
    );

    let err = incant_clip::decode_png(b"GIF89a....")
        .unwrap_err()
        .to_string();
    assert!(err.contains("PNG"), "{err}");
    std::fs::write(tmp.join("x.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let err = load_png(&tmp.join("x.png")).unwrap_err().to_string();
    assert!(err.contains("x.png"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();

    let (model, reference) = load_variant("quick_gelu");
    // PNG bytes give the same embedding as the decoded image; bad bytes name their index.
    let png = std::fs::read(data().join("images/wide.png")).unwrap();
    let got = model.embed_pngs(&[&png, &png]).unwrap();
    assert!(max_diff(&got[1], &reference.images["wide"]) < TOL);
    let err = model.embed_pngs(&[&png, b"nope"]).unwrap_err().to_string();
    assert!(err.contains("image 1") && err.contains("PNG"), "{err}");
    let err = model
        .clip_score(&[image("wide")], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 images but 0 captions"), "{err}");
    let err = model
        .embed_token_ids(&[vec![1, 600]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("600") && err.contains("vocabulary"), "{err}");
    let err = model
        .embed_token_ids(&[vec![1; 78]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("78 tokens"), "{err}");
    let err = model
        .embed_pixel_values(&[vec![0.0; 10]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("3x32x32"), "{err}");
}
