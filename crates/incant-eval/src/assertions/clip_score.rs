//! `clip-score`: how well the images a case generated match a caption, as torchmetrics'
//! CLIP score (100 x max(mean cosine, 0) over the case's images), at least `threshold`.
//!
//! Image providers in a suite answer with a JSON object naming the PNG files they wrote
//! (`{"images": [...]}`); this reads them, embeds them and the caption with the CLIP model of
//! `config.model` (a transformers-layout folder, relative to the suite), and compares. The
//! caption is `value` when given, else the case's rendered prompt with A1111's syntax
//! removed (weights, editing and `BREAK` mean nothing to CLIP's text tower as a caption).
//! Models are loaded once per folder and shared by every case. The score is reported on
//! torchmetrics' 0-100 scale; the grade's score is that divided by 100.

use super::{Failure, Grade};
use incant_clip::{load_png, ClipModel};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

type Loaded = Result<Arc<ClipModel>, String>;

/// Loaded CLIP models by folder.
fn models() -> &'static Mutex<HashMap<PathBuf, Loaded>> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, Loaded>>> = OnceLock::new();
    MODELS.get_or_init(Default::default)
}

/// The CLIP model in `dir`, loaded once; a folder without tokenizer files gets the
/// `clip-bpe` vocabulary from the models folder.
fn model(dir: &Path) -> Loaded {
    let mut map = models().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = map.get(dir) {
        return m.clone();
    }
    let loaded = (|| {
        let model = ClipModel::load(dir).map_err(|e| e.to_string())?;
        let has_tokenizer =
            dir.join("merges.txt").is_file() || dir.join("bpe_simple_vocab_16e6.txt.gz").is_file();
        if has_tokenizer {
            return Ok(Arc::new(model));
        }
        let models_dir = incant_models::models_dir(None);
        let bpe = incant_models::resolve(
            "clip-bpe",
            &models_dir,
            incant_models::ModelKind::Vocabulary,
        )
        .map_err(|e| {
            format!(
                "{} has no tokenizer and the CLIP vocabulary is missing: {e}",
                dir.display()
            )
        })?;
        let file = if bpe.path.is_dir() {
            bpe.path.join("bpe_simple_vocab_16e6.txt.gz")
        } else {
            bpe.path
        };
        let tok = incant_tokenize::clip::ClipTokenizer::load(&file).map_err(|e| e.to_string())?;
        Ok(Arc::new(model.with_tokenizer(tok)))
    })();
    map.insert(dir.to_path_buf(), loaded.clone());
    loaded
}

/// Makes `config.model` absolute against the suite's folder; an error when it is missing.
pub fn resolve_model(
    config: &mut Map<String, Value>,
    base_dir: Option<&Path>,
) -> Result<(), String> {
    let Some(model) = config.get("model").and_then(Value::as_str) else {
        return Err("`clip-score` needs `config: {model: DIR}`, a CLIP model folder".into());
    };
    let path = PathBuf::from(model);
    if path.is_relative() {
        if let Some(base) = base_dir {
            config.insert(
                "model".into(),
                Value::String(base.join(path).display().to_string()),
            );
        }
    }
    Ok(())
}

/// The caption for a case: the value, else the prompt without A1111 syntax.
fn caption(value: Option<&Value>, prompt: Option<&str>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s.clone()),
        _ => prompt.map(|p| {
            incant_image_prompt::render(p, "", incant_image_prompt::Target::OpenAi, 20).prompt
        }),
    }
}

/// Grades one case's images.
pub fn clip_score(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
    config: &Map<String, Value>,
    prompt: Option<&str>,
) -> Result<Grade, Failure> {
    let parsed: Value = serde_json::from_str(output).map_err(|_| {
        Failure::Ungraded("clip-score: the output is not an image provider's JSON answer".into())
    })?;
    let files: Vec<&str> = parsed["images"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if files.is_empty() {
        return Err(Failure::Ungraded(
            "clip-score: the output names no images".into(),
        ));
    }
    let caption = caption(value, prompt)
        .ok_or_else(|| Failure::Ungraded("clip-score: no caption (give a value)".into()))?;
    let dir = config
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Invalid("clip-score needs config.model".into()))?;
    let model = model(Path::new(dir)).map_err(|e| Failure::Ungraded(format!("clip-score: {e}")))?;
    let images = files
        .iter()
        .map(|f| load_png(Path::new(f)).map_err(|e| Failure::Ungraded(format!("clip-score: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let captions = vec![caption.as_str(); images.len()];
    let s = model
        .clip_score(&images, &captions)
        .map_err(|e| Failure::Ungraded(format!("clip-score: {e}")))?;
    let t = threshold.unwrap_or(0.0);
    let pass = s.score >= t;
    Ok(Grade::scored(
        pass,
        s.score / 100.0,
        format!(
            "CLIP score {:.2} {} threshold {t} ({} image{}, caption {caption:?})",
            s.score,
            if pass { ">=" } else { "<" },
            images.len(),
            if images.len() == 1 { "" } else { "s" }
        ),
    ))
}
