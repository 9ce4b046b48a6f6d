//! CLIP score of PNG images against captions, with timings: a manual check against a real
//! model folder (a download of `openai/clip-vit-large-patch14`, say).
//!
//! ```text
//! cargo run --release -p incant-clip --example clip_score -- MODEL_DIR [--bpe FILE] \
//!     IMAGE.png=CAPTION [IMAGE.png=CAPTION ...]
//! ```
//! Prints one JSON object: the score, the per-pair scores, any truncation warnings, both
//! embeddings of each pair and the seconds spent loading and embedding.

use std::path::PathBuf;
use std::time::Instant;

use incant_clip::{clip_score_from_embeddings, load_png, ClipModel};
use incant_tokenize::clip::ClipTokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: clip_score MODEL_DIR [--bpe FILE] IMAGE=CAPTION...")?,
    );
    let mut bpe = None;
    let mut pairs = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--bpe" {
            bpe = Some(PathBuf::from(args.next().ok_or("--bpe needs a file")?));
        } else {
            let (img, caption) = arg.split_once('=').ok_or("pairs are IMAGE.png=CAPTION")?;
            pairs.push((PathBuf::from(img), caption.to_string()));
        }
    }
    let t0 = Instant::now();
    let mut model = ClipModel::load(&dir)?;
    if let Some(bpe) = bpe {
        model = model.with_tokenizer(ClipTokenizer::load(&bpe)?);
    }
    let load_s = t0.elapsed().as_secs_f64();
    let images = pairs
        .iter()
        .map(|(p, _)| load_png(p))
        .collect::<Result<Vec<_>, _>>()?;
    let captions: Vec<&str> = pairs.iter().map(|(_, c)| c.as_str()).collect();
    let t1 = Instant::now();
    let image_emb = model.embed_images(&images)?;
    let images_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let (text_emb, warnings) = model.embed_texts(&captions)?;
    let texts_s = t2.elapsed().as_secs_f64();
    let (score, per_sample) = clip_score_from_embeddings(&image_emb, &text_emb)?;
    let out = serde_json::json!({
        "score": score,
        "per_sample": per_sample,
        "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "image_embeddings": image_emb,
        "text_embeddings": text_emb,
        "seconds": {"load": load_s, "images": images_s, "texts": texts_s},
    });
    println!("{out}");
    Ok(())
}
