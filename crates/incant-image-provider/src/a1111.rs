//! `a1111:URL`: AUTOMATIC1111's Stable Diffusion web UI (and Forge, which keeps its API)
//! started with `--api`.
//!
//! One `POST {URL}/sdapi/v1/txt2img` per request, with the request's fields under A1111's
//! names (`prompt`, `negative_prompt`, `seed` (-1: random), `steps`, `cfg_scale`, `width`,
//! `height`, `sampler_name`, `batch_size`), plus any config key from [`PASSTHROUGH`]
//! (`override_settings`, `scheduler`, `enable_hr`, `alwayson_scripts`, ...) sent as it is.
//! The answer holds `images` (base64), `parameters` (the request as A1111 read it) and
//! `info`, a JSON document inside a string that says which seeds were used
//! (`all_seeds`) and whether a grid came first (`index_of_first_image`).
//!
//! Provider keys: `apiAuth` (`user:password`, for `--api-auth`), `timeoutMs` (default
//! 600,000: a large batch on a small GPU is slow), `maxRetries`, `headers`. A 500 is an
//! exception inside A1111 (out of memory, a missing model) and is not retried; 429 and
//! 502 to 504 (a proxy or queue in front of it) are.

use crate::config::{base_url, Config, HTTP_KEYS};
use crate::http::{raw_explanation, Http};
use crate::png_check::{check_png, decode_base64, encode_base64};
use crate::{GeneratedImage, ImageError, ImageProvider, ImageRequest, ImageResponse};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// Fields of A1111's `StableDiffusionTxt2ImgProcessingAPI` that a config may set; they
/// are sent unchanged.
pub const PASSTHROUGH: &[&str] = &[
    "styles",
    "subseed",
    "subseed_strength",
    "seed_resize_from_h",
    "seed_resize_from_w",
    "scheduler",
    "n_iter",
    "restore_faces",
    "tiling",
    "do_not_save_samples",
    "do_not_save_grid",
    "eta",
    "denoising_strength",
    "s_min_uncond",
    "s_churn",
    "s_tmax",
    "s_tmin",
    "s_noise",
    "override_settings",
    "override_settings_restore_afterwards",
    "refiner_checkpoint",
    "refiner_switch_at",
    "disable_extra_networks",
    "comments",
    "enable_hr",
    "firstphase_width",
    "firstphase_height",
    "hr_scale",
    "hr_upscaler",
    "hr_second_pass_steps",
    "hr_resize_x",
    "hr_resize_y",
    "hr_checkpoint_name",
    "hr_sampler_name",
    "hr_scheduler",
    "hr_prompt",
    "hr_negative_prompt",
    "force_task_id",
    "script_name",
    "script_args",
    "save_images",
    "alwayson_scripts",
    "infotext",
];

/// A1111 fields that come from the [`ImageRequest`] (the prompt file's `params`).
const FROM_REQUEST: &[&str] = &[
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "sampler_name",
    "sampler_index",
    "batch_size",
    "send_images",
];

/// Keys that configure the provider itself.
const PROVIDER_KEYS: &[&str] = &["apiAuth"];

/// How to make A1111 send PNGs.
const PNG_HINT: &str = "A1111 encodes API images in its `samples_format` setting: set it to png, \
                        or add `override_settings: {samples_format: png}` to the config";

/// An A1111 server.
pub struct A1111 {
    id: String,
    url: String,
    extra: Map<String, Value>,
    http: Http,
}

impl A1111 {
    /// Reads `a1111:URL` and its config.
    pub fn new(id: &str, url: &str, config: &Map<String, Value>) -> Result<Self, ImageError> {
        let c = Config::new(id, config);
        for key in FROM_REQUEST {
            if config.contains_key(*key) {
                let why = if *key == "send_images" {
                    "incant needs the images in the answer".to_string()
                } else {
                    format!("`{key}` comes from the prompt's params, not the provider config")
                };
                return Err(c.error(format!("config key `{key}` is not allowed: {why}")));
            }
        }
        c.check_keys(&[PASSTHROUGH, PROVIDER_KEYS, HTTP_KEYS])?;
        let mut http = Http::new(c.http(Duration::from_secs(600))?, explain, false);
        if let Some(auth) = c.string("apiAuth")? {
            if !auth.contains(':') {
                return Err(c.error("`apiAuth` must be `user:password`, as in --api-auth"));
            }
            http.add_header(
                "Authorization",
                format!("Basic {}", encode_base64(auth.as_bytes())),
            );
        }
        let extra = config
            .iter()
            .filter(|(k, _)| PASSTHROUGH.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            id: id.to_string(),
            url: base_url(id, url, "a1111:http://127.0.0.1:7860")?,
            extra,
            http,
        })
    }

    /// The JSON body sent to `/sdapi/v1/txt2img`.
    pub fn body(&self, req: &ImageRequest) -> Value {
        let mut body = json!({
            "prompt": req.prompt,
            "negative_prompt": req.negative_prompt,
            "seed": req.seed.map_or(json!(-1), |s| json!(s)),
            "steps": req.steps,
            "cfg_scale": req.cfg_scale,
            "width": req.width,
            "height": req.height,
            "batch_size": req.batch_size,
        });
        let map = body.as_object_mut().expect("an object literal");
        if let Some(s) = &req.sampler {
            map.insert("sampler_name".into(), json!(s));
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        body
    }
}

/// A1111's explanation of an error status: FastAPI's validation `detail` list, its own
/// exception body (`error` and `errors`), or a plain `detail` string.
fn explain(status: u16, body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return raw_explanation(body);
    };
    if let Some(items) = v.get("detail").and_then(Value::as_array) {
        let parts: Vec<String> = items
            .iter()
            .map(|item| {
                let loc = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                if loc.is_empty() {
                    msg.to_string()
                } else {
                    format!("{loc}: {msg}")
                }
            })
            .collect();
        return format!("invalid request: {}", parts.join("; "));
    }
    if let Some(kind) = v.get("error").and_then(Value::as_str) {
        let text = v
            .get("errors")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| v.get("detail").and_then(Value::as_str))
            .unwrap_or("");
        return if text.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {text}")
        };
    }
    if let Some(detail) = v.get("detail").and_then(Value::as_str) {
        let hint = match status {
            404 => " (is A1111 started with --api? /sdapi/v1 exists only then)",
            401 => " (set `apiAuth: user:password` as given to --api-auth)",
            _ => "",
        };
        return format!("{detail}{hint}");
    }
    raw_explanation(body)
}

/// `info` is a JSON document inside a string; older builds or extensions may send an
/// object or something unreadable, which is kept as it is.
fn parse_info(info: Option<&Value>) -> Value {
    match info {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

impl ImageProvider for A1111 {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.http.max_concurrency(Some(1))
    }

    fn generate(&self, req: &ImageRequest) -> Result<ImageResponse, ImageError> {
        let start = Instant::now();
        let url = format!("{}/sdapi/v1/txt2img", self.url);
        let answer = self.http.post_json(&url, &self.body(req), None)?;
        let encoded = answer
            .get("images")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ImageError::Call(format!(
                    "answer from {url} has no `images` list: {}",
                    crate::http::head(&answer.to_string(), 200)
                ))
            })?;
        let info = parse_info(answer.get("info"));
        let first = info
            .get("index_of_first_image")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let seeds: Option<Vec<u64>> = info
            .get("all_seeds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect());
        let available = encoded.len().saturating_sub(first);
        let count = seeds.as_ref().map_or(available, |s| s.len().min(available));
        if count == 0 {
            return Err(ImageError::Call(format!(
                "{url} answered no images (is `save_images`/`send_images` off, or did a script \
                 drop them?)"
            )));
        }
        let mut warnings = Vec::new();
        let hires = self.extra.get("enable_hr").and_then(Value::as_bool) == Some(true);
        let mut images = Vec::with_capacity(count);
        for (i, item) in encoded.iter().enumerate().skip(first).take(count) {
            let what = format!("image {} from {}", i + 1, self.id);
            let text = item
                .as_str()
                .ok_or_else(|| ImageError::Call(format!("{what} is not a base64 string")))?;
            let png = decode_base64(text, &what)?;
            let size = check_png(&png, &what, PNG_HINT)?;
            if !hires && (size.width, size.height) != (req.width, req.height) {
                warnings.push(format!(
                    "{what} is {}x{}, not the requested {}x{}",
                    size.width, size.height, req.width, req.height
                ));
            }
            let seed = match &seeds {
                Some(s) => s.get(i - first).copied(),
                None => req.seed.map(|s| s + (i - first) as u64),
            };
            images.push(GeneratedImage { png, seed });
        }
        let others = encoded.len() - count;
        if others > 0 {
            warnings.push(format!(
                "A1111 also sent {others} other image(s) (a grid or an extension's output); \
                 only the {count} generated image(s) are kept"
            ));
        }
        Ok(ImageResponse {
            images,
            latency: start.elapsed(),
            cost: None,
            metadata: json!({
                "parameters": answer.get("parameters").cloned().unwrap_or(Value::Null),
                "info": info,
            }),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_validation_exception_and_plain_bodies() {
        let body = r#"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"},{"loc":["body","width"],"msg":"field required","type":"value_error.missing"}]}"#;
        assert_eq!(
            explain(422, body),
            "invalid request: body.steps: value is not a valid integer; body.width: field required"
        );
        let body = r#"{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 2.00 GiB"}"#;
        assert_eq!(
            explain(500, body),
            "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        );
        assert_eq!(
            explain(404, r#"{"detail":"Not Found"}"#),
            "Not Found (is A1111 started with --api? /sdapi/v1 exists only then)"
        );
        assert_eq!(explain(502, "Bad Gateway"), "Bad Gateway");
        assert_eq!(explain(500, ""), "(empty body)");
    }

    #[test]
    fn config_keys_are_checked() {
        let cfg = |v: Value| v.as_object().unwrap().clone();
        let err = A1111::new("a", "http://h", &cfg(json!({"overide_settings": {}})));
        assert_eq!(
            err.err().unwrap().to_string(),
            "a: unknown config key `overide_settings` (did you mean `override_settings`?)"
        );
        let err = A1111::new("a", "http://h", &cfg(json!({"steps": 30})));
        assert_eq!(
            err.err().unwrap().to_string(),
            "a: config key `steps` is not allowed: `steps` comes from the prompt's params, not \
             the provider config"
        );
        let err = A1111::new("a", "http://h", &cfg(json!({"apiAuth": "nopassword"})));
        assert!(err.err().unwrap().to_string().contains("user:password"));
    }

    #[test]
    fn the_body_has_a1111_names_and_passthrough_keys() {
        let cfg =
            json!({"scheduler": "Karras", "override_settings": {"CLIP_stop_at_last_layers": 2}});
        let p = A1111::new("a", "http://h/", cfg.as_object().unwrap()).unwrap();
        let req = ImageRequest {
            prompt: "a cat".into(),
            sampler: Some("DPM++ 2M".into()),
            ..ImageRequest::default()
        };
        let body = p.body(&req);
        assert_eq!(body["seed"], json!(-1));
        assert_eq!(body["sampler_name"], json!("DPM++ 2M"));
        assert_eq!(body["cfg_scale"], json!(7.0));
        assert_eq!(body["scheduler"], json!("Karras"));
        assert_eq!(
            body["override_settings"]["CLIP_stop_at_last_layers"],
            json!(2)
        );
        assert_eq!(p.url, "http://h");
    }
}
