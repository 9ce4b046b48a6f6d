//! `incant image`: render, generate, grid, score, fid, curve. Each subcommand has its module;
//! this one dispatches and holds `render` and `generate`, the two that only call providers.

pub(crate) mod as_text;
mod curve;
mod grid;
mod local_sd;
mod measure;
mod prepare;

use crate::image_cli::{ImageCommand, ImageGenerateArgs, ImageRenderArgs};
use crate::report::{input_error, paint};
use anyhow::{Context, Result};
use incant_image_prompt::{render as render_for, Target};
use indicatif::{ProgressBar, ProgressStyle};
use prepare::{for_provider, prepare, provider, slug};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Runs one `incant image` subcommand.
pub fn run(models_dir: &Path, command: ImageCommand) -> Result<ExitCode> {
    match command {
        ImageCommand::Render(args) => render(args),
        ImageCommand::Generate(args) => generate(models_dir, args),
        ImageCommand::Grid(args) => grid::run(models_dir, args),
        ImageCommand::Score(args) => measure::score(models_dir, args),
        ImageCommand::Fid(args) => measure::fid(models_dir, args),
        ImageCommand::Curve(args) => curve::run(models_dir, args),
    }
}

const ALL_TARGETS: [(&str, Target); 5] = [
    ("a1111", Target::A1111),
    ("comfyui", Target::ComfyUi),
    ("diffusers", Target::Diffusers),
    ("local:sd", Target::Local),
    ("openai:image", Target::OpenAi),
];

fn render(args: ImageRenderArgs) -> Result<ExitCode> {
    let p = prepare(&args.common)?;
    let targets: Vec<(String, Target)> = if args.providers.is_empty() {
        ALL_TARGETS
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect()
    } else {
        args.providers
            .iter()
            .map(|id| {
                Target::from_provider_id(id)
                    .map(|t| (id.clone(), t))
                    .ok_or_else(|| {
                        input_error(
                            format!("`{id}` is not an image provider"),
                            Some("image providers: a1111:URL, comfyui:URL, openai:image:MODEL, local:sd:DIR, diffusers"),
                        )
                    })
            })
            .collect::<Result<_>>()?
    };
    let rendered: Vec<_> = targets
        .iter()
        .map(|(id, t)| {
            let r = render_for(
                &p.request.prompt,
                &p.request.negative_prompt,
                *t,
                p.request.steps,
            );
            (id, t, r)
        })
        .collect();
    if args.common.json {
        let out: Vec<_> = rendered
            .iter()
            .map(|(id, t, r)| {
                json!({
                    "target": id,
                    "name": t.name(),
                    "prompt": r.prompt,
                    "negative": r.negative,
                    "weighted": r.weighted.as_ref().map(|(p, n)| json!({"prompt": p, "negative": n})),
                    "warnings": r.warnings,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (id, t, r) in &rendered {
        println!("{}", paint(&format!("{} ({id})", t.name()), "1"));
        println!("  prompt:   {}", r.prompt);
        if !r.negative.is_empty() {
            println!("  negative: {}", r.negative);
        }
        if let Some((pieces, _)) = &r.weighted {
            let weights: Vec<String> = pieces
                .iter()
                .filter(|(t, w)| *w != 1.0 && !(t == "BREAK" && *w == -1.0))
                .map(|(t, w)| format!("{:?} x{w:.3}", t.trim()))
                .collect();
            if !weights.is_empty() {
                println!("  weights:  {}", weights.join(", "));
            }
        }
        for w in &r.warnings {
            println!("  {} {w}", paint("warning:", "33"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar over `n` calls (hidden when stderr is not a terminal).
pub(crate) fn progress(n: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn generate(models_dir: &Path, args: ImageGenerateArgs) -> Result<ExitCode> {
    let p = prepare(&args.common)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut request = p.request.clone();
    if let Some(b) = args.batch_size {
        request.batch_size = b;
    }
    let bar = progress(args.providers.len() as u64, "generating");
    let mut records = Vec::new();
    let mut failed = false;
    for id in &args.providers {
        let provider = provider(id, models_dir, args.common.workflow.as_deref())?;
        let (req, mut warnings) = for_provider(&request, id);
        let result = provider.generate(&req);
        bar.inc(1);
        match result {
            Ok(resp) => {
                warnings.extend(resp.warnings.iter().cloned());
                for (i, img) in resp.images.iter().enumerate() {
                    let seed = img
                        .seed
                        .or(req.seed)
                        .map_or("random".into(), |s| s.to_string());
                    let stem = format!("{}-{}-{seed}-{i}", p.file.name, slug(id));
                    let png = args.out.join(format!("{stem}.png"));
                    std::fs::write(&png, &img.png)
                        .with_context(|| format!("cannot write {}", png.display()))?;
                    let meta = json!({
                        "image": png.display().to_string(),
                        "provider": id,
                        "prompt_file": p.file.path.display().to_string(),
                        "prompt_name": p.file.name,
                        "prompt_version": p.file.version.as_ref().map(ToString::to_string),
                        "vars": p.vars,
                        "prompt": req.prompt,
                        "negative_prompt": req.negative_prompt,
                        "width": req.width, "height": req.height, "steps": req.steps,
                        "cfg_scale": req.cfg_scale, "sampler": req.sampler,
                        "seed": img.seed.or(req.seed),
                        "latency_ms": resp.latency.as_millis() as u64,
                        "cost": resp.cost,
                        "warnings": warnings,
                        "metadata": resp.metadata,
                    });
                    let sidecar = args.out.join(format!("{stem}.json"));
                    std::fs::write(&sidecar, serde_json::to_string_pretty(&meta)?)
                        .with_context(|| format!("cannot write {}", sidecar.display()))?;
                    records.push(meta);
                }
            }
            Err(e) => {
                failed = true;
                records.push(json!({"provider": id, "error": e.to_string(), "warnings": warnings}));
            }
        }
    }
    bar.finish_and_clear();
    if args.common.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        for r in &records {
            let id = r["provider"].as_str().unwrap_or("");
            if let Some(e) = r["error"].as_str() {
                println!("{} {id}: {e}", paint("error", "31"));
                continue;
            }
            println!(
                "{}  {}  seed {}  {} ms",
                r["image"].as_str().unwrap_or(""),
                id,
                r["seed"],
                r["latency_ms"]
            );
            for w in r["warnings"].as_array().into_iter().flatten() {
                println!("  {} {}", paint("warning:", "33"), w.as_str().unwrap_or(""));
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
