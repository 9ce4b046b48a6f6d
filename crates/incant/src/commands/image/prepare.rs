//! What every image command does first: read the prompt file, render it with the variables,
//! turn its params and the overrides into an [`ImageRequest`], render it for each provider's
//! target, and build the providers (the HTTP ones from `incant-image-provider`, `local:sd`
//! from `incant-sd`).

use super::local_sd::LocalSd;
use crate::image_cli::ImagePromptArgs;
use crate::report::input_error;
use anyhow::Result;
use incant_image_prompt::{render, Target};
use incant_image_provider::{ImageProvider, ImageRequest};
use incant_prompt::{PromptFile, PromptKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// An image prompt rendered with its variables, before any target.
pub struct Prepared {
    /// The prompt file.
    pub file: PromptFile,
    /// The variables it was rendered with.
    pub vars: BTreeMap<String, String>,
    /// The request in A1111 syntax, params and overrides applied.
    pub request: ImageRequest,
}

/// `NAME=VALUE` pairs.
pub fn parse_vars(vars: &[String]) -> Result<BTreeMap<String, String>> {
    vars.iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    input_error(
                        format!("--var `{v}` is not NAME=VALUE"),
                        Some("write e.g. --var subject=\"a red fox\""),
                    )
                })
        })
        .collect()
}

/// Renders the prompt file's positive and negative templates with `vars`.
pub fn render_file(file: &PromptFile, vars: &BTreeMap<String, String>) -> Result<(String, String)> {
    let map: Map<String, Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let r = file.render(&map).map_err(prompt_error)?;
    Ok((r.text(), r.negative.unwrap_or_default()))
}

/// A prompt error as an input error (exit 2) with its position and hint.
pub fn prompt_error(e: incant_prompt::PromptError) -> anyhow::Error {
    let hint = e.hint.clone();
    input_error(e.to_string(), hint.as_deref())
}

/// Loads and renders the prompt, applying the command-line overrides.
pub fn prepare(args: &ImagePromptArgs) -> Result<Prepared> {
    prepare_path(&args.prompt, args)
}

/// [`prepare`] for a given prompt path (curves take several).
pub fn prepare_path(path: &Path, args: &ImagePromptArgs) -> Result<Prepared> {
    let file = PromptFile::load(path).map_err(prompt_error)?;
    if file.kind != PromptKind::Image {
        return Err(input_error(
            format!("{} is not an image prompt", path.display()),
            Some("add `kind: image` to its front matter"),
        ));
    }
    let vars = parse_vars(&args.vars)?;
    let (prompt, negative) = render_file(&file, &vars)?;
    let p = file.image_params().cloned().unwrap_or_default();
    let seed = args.seed.or(p.seed).filter(|s| *s >= 0).map(|s| s as u64);
    let request = ImageRequest {
        prompt,
        negative_prompt: negative,
        width: args.width.or(p.width).unwrap_or(512),
        height: args.height.or(p.height).unwrap_or(512),
        steps: args.steps.or(p.steps).unwrap_or(20),
        cfg_scale: args.cfg_scale.or(p.cfg_scale).unwrap_or(7.0),
        sampler: args.sampler.clone().or(p.sampler),
        seed,
        batch_size: p.batch_size.unwrap_or(1),
    };
    Ok(Prepared {
        file,
        vars,
        request,
    })
}

/// The request as `provider` should receive it, and what its target ignores. `local:sd`
/// takes A1111 syntax (it applies the weights itself); the others get their dialect.
pub fn for_provider(request: &ImageRequest, provider: &str) -> (ImageRequest, Vec<String>) {
    let Some(target) = Target::from_provider_id(provider) else {
        return (request.clone(), Vec::new());
    };
    let r = render(
        &request.prompt,
        &request.negative_prompt,
        target,
        request.steps,
    );
    if target == Target::Local {
        // The local pipeline renders (and warns) itself.
        return (request.clone(), Vec::new());
    }
    let mut out = request.clone();
    out.prompt = r.prompt;
    out.negative_prompt = r.negative;
    (out, r.warnings)
}

/// Builds an image provider; `local:sd:DIR` loads the candle pipeline from a diffusers folder.
pub fn provider(
    id: &str,
    models_dir: &Path,
    workflow: Option<&Path>,
) -> Result<Box<dyn ImageProvider>> {
    let mut config = Map::new();
    if let Some(w) = workflow {
        config.insert("workflow".into(), Value::String(w.display().to_string()));
    }
    provider_with_config(id, &config, models_dir, Path::new("."))
}

/// [`provider`] with a suite's provider config; `base_dir` resolves relative paths in it.
pub fn provider_with_config(
    id: &str,
    config: &Map<String, Value>,
    models_dir: &Path,
    base_dir: &Path,
) -> Result<Box<dyn ImageProvider>> {
    if id == "local:sd" || id.starts_with("local:sd:") {
        return LocalSd::load(id, models_dir).map(|p| Box::new(p) as Box<dyn ImageProvider>);
    }
    incant_image_provider::from_spec(id, config, base_dir).map_err(|e| {
        input_error(
            e.to_string(),
            Some("image providers: a1111:URL, comfyui:URL, openai:image:MODEL, local:sd:DIR"),
        )
    })
}

/// A provider id as a file-name part (`a1111:http://h:7860` -> `a1111-h-7860`).
pub fn slug(id: &str) -> String {
    let id = id
        .replace("http://", "")
        .replace("https://", "")
        .replace("127.0.0.1", "local");
    let mut out = String::new();
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}
