//! `incant image curve`: the FID-vs-CLIP-score chart of the Stable Diffusion model cards, for
//! a user's own prompts and providers. For every provider and cfg scale it generates images
//! of every prompt (seeds 0..N), scores them against their prompts with CLIP and measures
//! the FID of their CLIP features against the reference set.

use super::measure::{clip_features, fid_kid, load_clip, pngs_in};
use super::prepare::{for_provider, prepare_path, provider};
use super::progress;
use crate::image_cli::{ImageCurveArgs, ImagePromptArgs};
use crate::report::{input_error, paint};
use anyhow::{Context, Result};
use incant_clip::decode_png;
use incant_grid::{curve_csv, curve_png, CurvePoint, CurveSeries};
use incant_image_metrics::{read_npy, KidOptions};
use incant_image_prompt::{render, Target};
use std::path::Path;
use std::process::ExitCode;

/// Runs the sweep and writes the plot and the CSV.
pub fn run(models_dir: &Path, args: ImageCurveArgs) -> Result<ExitCode> {
    if args.cfg.is_empty() || args.images == 0 {
        return Err(input_error(
            "nothing to sweep: --cfg is empty or --images is 0",
            None,
        ));
    }
    let clip = load_clip(&args.clip, models_dir)?;
    let reference = if args.reference.extension().is_some_and(|e| e == "npy") {
        read_npy(&args.reference).map_err(|e| input_error(e.to_string(), None))?
    } else {
        clip_features(&clip, &pngs_in(&args.reference)?, "reference")?
    };
    let prompt_args = ImagePromptArgs {
        prompt: args.prompts[0].clone(),
        vars: Vec::new(),
        seed: None,
        steps: args.steps,
        cfg_scale: None,
        width: None,
        height: None,
        sampler: None,
        workflow: None,
        json: false,
    };
    let prompts = args
        .prompts
        .iter()
        .map(|p| prepare_path(p, &prompt_args))
        .collect::<Result<Vec<_>>>()?;
    let per_point = prompts.len() as u64 * u64::from(args.images);
    let bar = progress(
        per_point * args.cfg.len() as u64 * args.providers.len() as u64,
        "curve",
    );
    let mut series = Vec::new();
    let mut warnings = Vec::new();
    for id in &args.providers {
        let backend = provider(id, models_dir, None)?;
        let mut points = Vec::new();
        for &cfg in &args.cfg {
            let mut images = Vec::new();
            let mut captions = Vec::new();
            for p in &prompts {
                let caption = render(&p.request.prompt, "", Target::OpenAi, p.request.steps).prompt;
                for seed in 0..u64::from(args.images) {
                    let mut req = p.request.clone();
                    req.cfg_scale = cfg;
                    req.seed = Some(seed);
                    req.batch_size = 1;
                    let (req, _) = for_provider(&req, id);
                    let resp = backend.generate(&req).map_err(|e| {
                        anyhow::anyhow!("{id} failed at cfg {cfg}, seed {seed}: {e}")
                    })?;
                    for img in resp.images {
                        images
                            .push(decode_png(&img.png).map_err(|e| anyhow::anyhow!("{id}: {e}"))?);
                        captions.push(caption.clone());
                    }
                    bar.inc(1);
                }
            }
            let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
            let score = clip
                .clip_score(&images, &refs)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let emb = clip
                .embed_images(&images)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let features = incant_image_metrics::Features::from_rows("generated", &emb)
                .map_err(|e| input_error(e.to_string(), None))?;
            let (fid, w, _) = fid_kid(
                &reference,
                &features,
                &KidOptions {
                    subsets: 10,
                    subset_size: 1000,
                    seed: 0,
                },
            )?;
            for w in w {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            points.push(CurvePoint {
                cfg_scale: cfg,
                clip_score: score.score,
                fid,
            });
        }
        series.push(CurveSeries {
            provider: id.clone(),
            points,
        });
    }
    bar.finish_and_clear();
    let png = curve_png(&series).map_err(|e| anyhow::anyhow!("cannot draw the curve: {e}"))?;
    std::fs::write(&args.out, png)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let csv_path = args
        .csv
        .clone()
        .unwrap_or_else(|| args.out.with_extension("csv"));
    std::fs::write(&csv_path, curve_csv(&series))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    if args.json {
        let out: Vec<_> = series
            .iter()
            .map(|s| {
                serde_json::json!({
                    "provider": s.provider,
                    "points": s.points.iter().map(|p| serde_json::json!({"cfg_scale": p.cfg_scale, "clip_score": p.clip_score, "fid": p.fid})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "plot": args.out.display().to_string(),
                "csv": csv_path.display().to_string(),
                "series": out,
                "warnings": warnings,
            }))?
        );
    } else {
        for s in &series {
            println!("{}", paint(&s.provider, "1"));
            println!("  {:>6}  {:>10}  {:>10}", "cfg", "CLIP score", "FID");
            for p in &s.points {
                println!(
                    "  {:>6}  {:>10.3}  {:>10.3}",
                    p.cfg_scale, p.clip_score, p.fid
                );
            }
        }
        println!("{}  {}", args.out.display(), csv_path.display());
        for w in &warnings {
            eprintln!("{} {w}", paint("warning:", "33"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
