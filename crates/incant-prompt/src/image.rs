//! Image prompt files: `kind: image`, a `negative` prompt and typed generation `params`.
//!
//! An image prompt is a template like any other (its body is the positive prompt, in A1111's
//! syntax; `negative:` in the front matter is a second template), but its `params` are not free
//! form: every image provider reads the same handful of settings, so a typo (`cfg: 7`,
//! `steps: "20"`) must be an error at the file's line and column, not a setting silently
//! dropped on the way to the server.

use crate::{nearest, PromptError};
use serde_json::{Map, Value};
use std::path::Path;

/// The generation settings of an image prompt (all optional: providers have defaults).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImageParams {
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Sampling steps.
    pub steps: Option<u32>,
    /// Classifier-free guidance scale.
    pub cfg_scale: Option<f64>,
    /// Sampler, as A1111 names it (`Euler a`, `DPM++ 2M`, `DDIM`).
    pub sampler: Option<String>,
    /// Seed (-1 or absent: random).
    pub seed: Option<i64>,
    /// Images per call.
    pub batch_size: Option<u32>,
}

/// The `params` keys of an image prompt.
pub const IMAGE_PARAM_KEYS: &[&str] = &[
    "width",
    "height",
    "steps",
    "cfg_scale",
    "sampler",
    "seed",
    "batch_size",
];

impl ImageParams {
    /// Reads and checks `params`; `at` gives the file position of a key for errors.
    pub fn from_params(
        path: &Path,
        params: &Map<String, Value>,
        at: impl Fn(&str) -> (usize, usize),
    ) -> Result<Self, PromptError> {
        let mut out = Self::default();
        for (key, value) in params {
            let (line, col) = at(key);
            let err = |msg: String, hint: &str| {
                PromptError::new(path, format!("params.{key}: {msg}"))
                    .at(line, col)
                    .hint(hint.to_string())
            };
            let positive = |max: u64| -> Result<u32, PromptError> {
                value
                    .as_u64()
                    .filter(|v| (1..=max).contains(v))
                    .map(|v| v as u32)
                    .ok_or_else(|| {
                        err(
                            format!("expected a whole number from 1 to {max}, got {value}"),
                            "write it without quotes, e.g. 512",
                        )
                    })
            };
            match key.as_str() {
                "width" | "height" => {
                    let v = positive(8192)?;
                    if v % 8 != 0 {
                        return Err(err(
                            format!("{v} is not a multiple of 8"),
                            "Stable Diffusion works in 8-pixel latent cells: use 512, 768, 1024 ...",
                        ));
                    }
                    if key == "width" {
                        out.width = Some(v);
                    } else {
                        out.height = Some(v);
                    }
                }
                "steps" => out.steps = Some(positive(1000)?),
                "batch_size" => out.batch_size = Some(positive(64)?),
                "cfg_scale" => {
                    out.cfg_scale =
                        Some(value.as_f64().filter(|v| *v >= 0.0).ok_or_else(|| {
                            err(
                                format!("expected a number >= 0, got {value}"),
                                "typical values are 1.5 to 12; 7 is A1111's default",
                            )
                        })?);
                }
                "sampler" => {
                    out.sampler = Some(value.as_str().map(str::to_string).ok_or_else(|| {
                        err(
                            format!("expected a sampler name, got {value}"),
                            "e.g. \"Euler a\", \"DDIM\", \"DPM++ 2M\"",
                        )
                    })?);
                }
                "seed" => {
                    out.seed = Some(value.as_i64().filter(|v| *v >= -1).ok_or_else(|| {
                        err(
                            format!("expected a whole number >= -1, got {value}"),
                            "-1 means a random seed",
                        )
                    })?);
                }
                other => {
                    let hint = match nearest(other, IMAGE_PARAM_KEYS).or_else(|| alias(other)) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("image params are {}", IMAGE_PARAM_KEYS.join(", ")),
                    };
                    return Err(
                        PromptError::new(path, format!("unknown image param `{other}`"))
                            .at(line, col)
                            .hint(hint),
                    );
                }
            }
        }
        Ok(out)
    }
}

/// Names other tools use for the same settings.
fn alias(key: &str) -> Option<&'static str> {
    match key {
        "cfg" | "guidance_scale" | "guidance" | "scale" => Some("cfg_scale"),
        "num_inference_steps" | "sampling_steps" => Some("steps"),
        "sampler_name" | "scheduler" => Some("sampler"),
        "n" | "num_images" | "n_iter" => Some("batch_size"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::file::{PromptFile, PromptKind};
    use serde_json::json;
    use std::path::Path;

    fn parse(text: &str) -> Result<PromptFile, crate::PromptError> {
        PromptFile::parse(Path::new("cat.prompt"), text)
    }

    #[test]
    fn an_image_prompt_with_negative_and_params() {
        let p = parse(
            "---\nkind: image\nnegative: \"blurry, {{ avoid }}\"\nparams:\n  width: 512\n  height: 768\n  steps: 25\n  cfg_scale: 6.5\n  sampler: Euler a\n  seed: 42\ninputs:\n  subject: string\n  avoid: { type: string, default: text }\n---\na (photo:1.2) of {{ subject }}\n",
        )
        .unwrap();
        assert_eq!(p.kind, PromptKind::Image);
        let img = p.image_params().unwrap();
        assert_eq!(img.width, Some(512));
        assert_eq!(img.cfg_scale, Some(6.5));
        assert_eq!(img.sampler.as_deref(), Some("Euler a"));
        assert_eq!(img.seed, Some(42));
        let vars = json!({"subject": "a cat"});
        let r = p.render(vars.as_object().unwrap()).unwrap();
        assert_eq!(r.text(), "a (photo:1.2) of a cat");
        assert_eq!(r.negative.as_deref(), Some("blurry, text"));
    }

    #[test]
    fn a_misspelt_param_is_an_error_at_its_line() {
        let e = parse("---\nkind: image\nparams:\n  width: 512\n  cfg: 7\n---\nx\n").unwrap_err();
        assert!(e.to_string().contains("unknown image param `cfg`"), "{e}");
        assert_eq!(e.line, Some(5));
        assert!(e.hint.unwrap().contains("cfg_scale"));
    }

    #[test]
    fn wrong_types_and_sizes_are_errors() {
        let e = parse("---\nkind: image\nparams: { steps: \"20\" }\n---\nx\n").unwrap_err();
        assert!(e.to_string().contains("params.steps"), "{e}");
        let e = parse("---\nkind: image\nparams: { width: 500 }\n---\nx\n").unwrap_err();
        assert!(e.to_string().contains("multiple of 8"), "{e}");
    }

    #[test]
    fn negative_only_on_image_prompts() {
        let e = parse("---\nnegative: blurry\n---\nuser:\nhi\n").unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        assert!(e.hint.unwrap().contains("kind: image"));
    }

    #[test]
    fn an_undefined_variable_in_the_negative_prompt_is_an_error() {
        let p = parse("---\nkind: image\nnegative: \"{{ nope }}\"\n---\nx\n").unwrap();
        let e = p.render(&serde_json::Map::new()).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert_eq!(e.line, Some(3));
    }
}
