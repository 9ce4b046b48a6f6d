//! `incant image score` and `incant image fid`: CLIP score (torchmetrics' definition) and
//! FID/KID (pytorch-fid's formula, clean-fid's KID) on image folders or feature files, plus
//! the CLIP loading and feature extraction `curve` shares.

use super::progress;
use crate::image_cli::{ImageFidArgs, ImageScoreArgs};
use crate::report::{input_error, paint};
use anyhow::{Context, Result};
use incant_clip::{load_png, ClipModel};
use incant_image_metrics::{
    clean_fid_resize, frechet_distance, kernel_inception_distance, read_npy, FeatureStats,
    Features, FidInceptionV3, KidOptions,
};
use incant_models::{resolve, ModelKind};
use incant_tokenize::clip::ClipTokenizer;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Loads a CLIP model folder; a folder without tokenizer files gets the `clip-bpe` vocabulary.
pub fn load_clip(dir: &Path, models_dir: &Path) -> Result<ClipModel> {
    let model = ClipModel::load(dir).map_err(|e| {
        input_error(
            format!("--clip {}: {e}", dir.display()),
            Some("a CLIP folder in transformers' layout: config.json and model.safetensors"),
        )
    })?;
    let has_tokenizer =
        dir.join("merges.txt").is_file() || dir.join("bpe_simple_vocab_16e6.txt.gz").is_file();
    if has_tokenizer {
        return Ok(model);
    }
    let bpe = resolve("clip-bpe", models_dir, ModelKind::Vocabulary).map_err(|e| {
        input_error(
            format!(
                "{} has no tokenizer and the CLIP vocabulary is missing: {e}",
                dir.display()
            ),
            Some("run `incant models fetch clip-bpe`"),
        )
    })?;
    let file = if bpe.path.is_dir() {
        bpe.path.join("bpe_simple_vocab_16e6.txt.gz")
    } else {
        bpe.path
    };
    let tok =
        ClipTokenizer::load(&file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(model.with_tokenizer(tok))
}

/// The PNG files in a folder, sorted.
pub fn pngs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    out.sort();
    Ok(out)
}

/// CLIP image embeddings of PNG files, in batches of 16 with a progress bar.
pub fn clip_features(clip: &ClipModel, files: &[PathBuf], set: &str) -> Result<Features> {
    let bar = progress(files.len() as u64, &format!("embedding {set}"));
    let mut rows = Vec::with_capacity(files.len());
    for batch in files.chunks(16) {
        let images = batch
            .iter()
            .map(|f| {
                load_png(f)
                    .map_err(|e| input_error(e.to_string(), Some("images must be PNG files")))
            })
            .collect::<Result<Vec<_>>>()?;
        rows.extend(
            clip.embed_images(&images)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Features::from_rows(set, &rows).map_err(|e| input_error(e.to_string(), None))
}

/// Inception pool3 features of PNG files after clean-fid's float resize, 8 at a time.
fn inception_features(model: &FidInceptionV3, files: &[PathBuf], set: &str) -> Result<Features> {
    let device = candle_core::Device::Cpu;
    let bar = progress(files.len() as u64, &format!("inception {set}"));
    let mut rows = Vec::with_capacity(files.len());
    for batch in files.chunks(8) {
        let inputs = batch
            .iter()
            .map(|f| {
                let img = load_png(f)
                    .map_err(|e| input_error(e.to_string(), Some("images must be PNG files")))?;
                let (w, h) = img.dimensions();
                clean_fid_resize(img.as_raw(), w as usize, h as usize)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        rows.extend(
            model
                .features(&inputs, 8, &device)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Features::from_rows(set, &rows).map_err(|e| input_error(e.to_string(), None))
}

/// The feature extractor for image folders.
enum Extractor {
    Clip(Box<ClipModel>),
    Inception(Box<FidInceptionV3>),
}

/// A feature set from a `.npy` file, or the features of a folder of PNGs.
fn feature_set(path: &Path, extractor: Option<&Extractor>, set: &str) -> Result<Features> {
    if path.extension().is_some_and(|e| e == "npy") {
        return read_npy(path).map_err(|e| {
            input_error(
                format!("{}: {e}", path.display()),
                Some("a .npy file of float32/float64 features, one row per image"),
            )
        });
    }
    if !path.is_dir() {
        return Err(input_error(
            format!(
                "{} is neither a folder of PNGs nor a .npy file",
                path.display()
            ),
            None,
        ));
    }
    let Some(extractor) = extractor else {
        return Err(input_error(
            format!(
                "{} is a folder of images: features need a model",
                path.display()
            ),
            Some("pass --clip DIR (CLIP image embeddings) or --inception FILE, or give .npy features"),
        ));
    };
    let files = pngs_in(path)?;
    if files.len() < 2 {
        return Err(input_error(
            format!(
                "{} holds {} PNG files; FID needs at least 2",
                path.display(),
                files.len()
            ),
            None,
        ));
    }
    match extractor {
        Extractor::Clip(clip) => clip_features(clip, &files, set),
        Extractor::Inception(model) => inception_features(model, &files, set),
    }
}

/// FID and KID between two feature sets, with FID's warnings.
pub fn fid_kid(
    a: &Features,
    b: &Features,
    kid: &KidOptions,
) -> Result<(f64, Vec<String>, incant_image_metrics::Kid)> {
    let err = |e: incant_image_metrics::MetricsError| input_error(e.to_string(), None);
    let sa = FeatureStats::from_matrix(a).map_err(err)?;
    let sb = FeatureStats::from_matrix(b).map_err(err)?;
    let fid = frechet_distance(&sa, &sb).map_err(err)?;
    let k = kernel_inception_distance(a, b, kid).map_err(err)?;
    Ok((
        fid.value,
        fid.warnings.iter().map(ToString::to_string).collect(),
        k,
    ))
}

/// `incant image fid`.
pub fn fid(models_dir: &Path, args: ImageFidArgs) -> Result<ExitCode> {
    let extractor = match (&args.clip, &args.inception) {
        (Some(dir), _) => Some(Extractor::Clip(Box::new(load_clip(dir, models_dir)?))),
        (None, Some(file)) => Some(Extractor::Inception(Box::new(
            FidInceptionV3::load(file, &candle_core::Device::Cpu).map_err(|e| {
                input_error(
                    format!("--inception {}: {e}", file.display()),
                    Some("pytorch-fid's pt_inception weights as safetensors (scripts/reference/convert_fid_inception.py)"),
                )
            })?,
        ))),
        (None, None) => None,
    };
    let a = feature_set(&args.real, extractor.as_ref(), "real")?;
    let b = feature_set(&args.fake, extractor.as_ref(), "fake")?;
    let opts = KidOptions {
        subsets: args.kid_subsets,
        subset_size: args.kid_subset_size,
        seed: args.kid_seed,
    };
    let (fid, warnings, kid) = fid_kid(&a, &b, &opts)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "fid": fid,
                "kid_mean": kid.mean,
                "kid_std": kid.std,
                "kid_subsets": kid.subsets,
                "kid_subset_size": kid.subset_size,
                "real": a.rows(), "fake": b.rows(), "dims": a.dims(),
                "features": match extractor {
                    Some(Extractor::Clip(_)) => "clip",
                    Some(Extractor::Inception(_)) => "inception",
                    None => "npy",
                },
                "warnings": warnings,
            }))?
        );
    } else {
        println!("FID {fid:.4}");
        println!(
            "KID {:.6} ± {:.6} ({} subsets of {})",
            kid.mean, kid.std, kid.subsets, kid.subset_size
        );
        println!(
            "{} real, {} generated, {} dimensions",
            a.rows(),
            b.rows(),
            a.dims()
        );
        for w in &warnings {
            eprintln!("{} {w}", paint("warning:", "33"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The caption of each image: one for all, a file of lines, or each image's `.json` sidecar.
fn captions(args: &ImageScoreArgs) -> Result<Vec<String>> {
    if let Some(c) = &args.caption {
        return Ok(vec![c.clone(); args.images.len()]);
    }
    if let Some(file) = &args.captions {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() != args.images.len() {
            return Err(input_error(
                format!(
                    "{} has {} lines for {} images",
                    file.display(),
                    lines.len(),
                    args.images.len()
                ),
                Some("one caption per line, in the order of the images"),
            ));
        }
        return Ok(lines);
    }
    args.images
        .iter()
        .map(|img| {
            let sidecar = img.with_extension("json");
            let text = std::fs::read_to_string(&sidecar).map_err(|_| {
                input_error(
                    format!(
                        "no caption for {}: {} is missing",
                        img.display(),
                        sidecar.display()
                    ),
                    Some("pass --caption TEXT or --captions FILE"),
                )
            })?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", sidecar.display()))?;
            v["prompt"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| input_error(format!("{} has no `prompt`", sidecar.display()), None))
        })
        .collect()
}

/// `incant image score`.
pub fn score(models_dir: &Path, args: ImageScoreArgs) -> Result<ExitCode> {
    let captions = captions(&args)?;
    let clip = load_clip(&args.clip, models_dir)?;
    let images = args
        .images
        .iter()
        .map(|f| {
            load_png(f).map_err(|e| input_error(e.to_string(), Some("images must be PNG files")))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let s = clip
        .clip_score(&images, &refs)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let warnings: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "clip_score": s.score,
                "images": args.images.iter().zip(&s.per_sample).zip(&captions).map(|((f, v), c)| json!({"image": f.display().to_string(), "score": v, "caption": c})).collect::<Vec<_>>(),
                "warnings": warnings,
            }))?
        );
    } else {
        for ((f, v), c) in args.images.iter().zip(&s.per_sample).zip(&captions) {
            println!("{v:>7.3}  {}  {c:?}", f.display());
        }
        println!("CLIP score {:.4} over {} images", s.score, images.len());
        for w in &warnings {
            eprintln!("{} {w}", paint("warning:", "33"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
