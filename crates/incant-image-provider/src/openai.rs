//! `openai:image:MODEL`: OpenAI's image generation API (`dall-e-2`, `dall-e-3`,
//! `gpt-image-1`, ...) and servers that speak it.
//!
//! `POST {base}/images/generations` with `model`, `prompt`, `n` (the batch size) and
//! `size` (`WxH`). DALL·E models are asked for `response_format: "b64_json"`; the
//! gpt-image models always answer base64 and reject that field, so it is left out for
//! them. `dall-e-3` makes one image per call, so a batch is that many calls. The answer's
//! `data[].b64_json` are the images (a server that answers `url` instead is followed, without the API key),
//! `revised_prompt`, `usage` and the other top-level fields go into the metadata.
//!
//! The base URL and key are found as the text provider finds them, with promptfoo's key
//! names: `apiBaseUrl` (including `/v1`), else `apiHost`, else `OPENAI_BASE_URL`, else
//! OpenAI; `apiKey`, else the variable named by `apiKeyEnvar` (default `OPENAI_API_KEY`).
//! `quality`, `style`, `background`, `moderation`, `output_format` (png only: incant
//! stores PNGs), `output_compression` and `user` are passed through. OpenAI images have no
//! negative prompt, steps, cfg scale, sampler or seed; a request that sets them (steps and
//! cfg count as set when they differ from [`ImageRequest::default`]) gets a warning.
//! Errors are read in OpenAI's shape (`error.message`); 429 and 5xx are retried, honouring
//! `Retry-After`. Cost is `costPerImage` from the config, else OpenAI's list prices.

use crate::config::{Config, HTTP_KEYS};
use crate::http::{head, raw_explanation, Http};
use crate::png_check::{check_png, decode_base64};
use crate::{GeneratedImage, ImageError, ImageProvider, ImageRequest, ImageResponse};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// Request fields a config may set; sent unchanged.
pub const PASSTHROUGH: &[&str] = &[
    "quality",
    "style",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "user",
];

/// Keys that configure the provider itself.
const PROVIDER_KEYS: &[&str] = &[
    "apiBaseUrl",
    "apiHost",
    "apiKey",
    "apiKeyEnvar",
    "organization",
    "costPerImage",
];

/// Fields incant fills from the request; a config may not set them.
const FROM_REQUEST: &[(&str, &str)] = &[
    ("prompt", "the prompt comes from the prompt file"),
    ("n", "`n` is the prompt's batch_size"),
    ("size", "`size` is the prompt's width x height"),
    (
        "response_format",
        "incant asks for b64_json where the model accepts it",
    ),
    ("model", "the model is the last part of the provider id"),
];

/// Sizes the DALL·E models accept.
const DALL_E_SIZES: &[(&str, &[&str])] = &[
    ("dall-e-2", &["256x256", "512x512", "1024x1024"]),
    ("dall-e-3", &["1024x1024", "1792x1024", "1024x1792"]),
];

/// An OpenAI images provider.
pub struct OpenAiImages {
    id: String,
    model: String,
    url: String,
    extra: Map<String, Value>,
    cost_per_image: Option<f64>,
    http: Http,
}

impl OpenAiImages {
    /// Reads `openai:image:MODEL` (`model` is the part after `openai:image:`) and its config.
    pub fn new(id: &str, model: &str, config: &Map<String, Value>) -> Result<Self, ImageError> {
        let c = Config::new(id, config);
        if model.is_empty() {
            return Err(c.error("no model name (e.g. openai:image:gpt-image-1)"));
        }
        for (key, why) in FROM_REQUEST {
            if config.contains_key(*key) {
                return Err(c.error(format!("config key `{key}` is not allowed: {why}")));
            }
        }
        c.check_keys(&[PASSTHROUGH, PROVIDER_KEYS, HTTP_KEYS])?;
        if let Some(f) = c.string("output_format")? {
            if f != "png" {
                return Err(c.error(format!(
                    "`output_format: {f}` is not supported: incant stores PNG images (use png \
                     or leave it out)"
                )));
            }
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = match (c.string("apiBaseUrl")?, c.string("apiHost")?) {
            (Some(url), _) => url,
            (None, Some(host)) => format!("https://{host}/v1"),
            (None, None) => env("OPENAI_BASE_URL")
                .or_else(|| env("OPENAI_API_BASE_URL"))
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(c.error(format!("`apiBaseUrl` must be an http(s) URL, got `{url}`")));
        }
        let key_var = c
            .string("apiKeyEnvar")?
            .unwrap_or_else(|| "OPENAI_API_KEY".into());
        let api_key = c.string("apiKey")?.or_else(|| env(&key_var));
        if api_key.is_none() && url.contains("api.openai.com") {
            return Err(c.error(format!(
                "no API key: set {key_var}, or `apiKeyEnvar` to the variable that holds it"
            )));
        }
        let cost_per_image = c.number("costPerImage")?;
        let mut http = Http::new(c.http(Duration::from_secs(300))?, explain, true);
        if let Some(key) = api_key {
            http.add_header("Authorization", format!("Bearer {key}"));
        }
        if let Some(org) = c.string("organization")? {
            http.add_header("OpenAI-Organization", org);
        }
        let extra = config
            .iter()
            .filter(|(k, _)| PASSTHROUGH.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            id: id.to_string(),
            model: model.to_string(),
            url: url.trim_end_matches('/').to_string(),
            extra,
            cost_per_image,
            http,
        })
    }

    fn gpt_image(&self) -> bool {
        self.model.starts_with("gpt-image")
    }

    /// The JSON body of one call for `n` images.
    pub fn body(&self, req: &ImageRequest, n: u32) -> Value {
        let mut body = json!({
            "model": self.model,
            "prompt": req.prompt,
            "n": n,
            "size": format!("{}x{}", req.width, req.height),
        });
        let map = body.as_object_mut().expect("an object literal");
        if !self.gpt_image() {
            map.insert("response_format".into(), json!("b64_json"));
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        body
    }

    /// What the request asks for that OpenAI images cannot do.
    fn warnings(&self, req: &ImageRequest) -> Vec<String> {
        let defaults = ImageRequest::default();
        let mut ignored = Vec::new();
        if !req.negative_prompt.is_empty() {
            ignored.push("a negative prompt");
        }
        if req.seed.is_some() {
            ignored.push("a seed");
        }
        if req.sampler.is_some() {
            ignored.push("a sampler");
        }
        if req.steps != defaults.steps {
            ignored.push("steps");
        }
        if req.cfg_scale != defaults.cfg_scale {
            ignored.push("a cfg scale");
        }
        ignored
            .into_iter()
            .map(|what| format!("{} does not support {what}; it is ignored", self.id))
            .collect()
    }

    /// OpenAI's list price of the images of one answer, when known.
    fn list_price(&self, req: &ImageRequest, answer: &Value, images: usize) -> Option<f64> {
        let size = format!("{}x{}", req.width, req.height);
        let hd = self.extra.get("quality").and_then(Value::as_str) == Some("hd");
        let each = match self.model.as_str() {
            "dall-e-2" => match size.as_str() {
                "256x256" => Some(0.016),
                "512x512" => Some(0.018),
                _ => Some(0.02),
            },
            "dall-e-3" => match (size.as_str(), hd) {
                ("1024x1024", false) => Some(0.04),
                ("1024x1024", true) | (_, false) => Some(0.08),
                (_, true) => Some(0.12),
            },
            _ => None,
        };
        if let Some(each) = each {
            return Some(each * images as f64);
        }
        // Token-priced models: dollars per million text-in, image-in and image-out tokens.
        let (text_in, image_in, out) = match self.model.as_str() {
            m if m.starts_with("gpt-image-1-mini") => (2.0, 2.5, 8.0),
            m if m.starts_with("gpt-image-1") => (5.0, 10.0, 40.0),
            _ => return None,
        };
        let usage = answer.get("usage")?;
        let n = |p: &str| usage.pointer(p).and_then(Value::as_f64);
        let input = n("/input_tokens").unwrap_or(0.0);
        let (text, image) = match (
            n("/input_tokens_details/text_tokens"),
            n("/input_tokens_details/image_tokens"),
        ) {
            (Some(t), i) => (t, i.unwrap_or(0.0)),
            (None, _) => (input, 0.0),
        };
        let output = n("/output_tokens")?;
        Some((text * text_in + image * image_in + output * out) / 1e6)
    }

    /// Reads the images of one answer.
    fn images(
        &self,
        answer: &Value,
        first: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<GeneratedImage>, ImageError> {
        let url = format!("{}/images/generations", self.url);
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ImageError::Call(format!(
                    "answer from {url} has no `data` list: {}",
                    head(&answer.to_string(), 200)
                ))
            })?;
        let mut out = Vec::with_capacity(data.len());
        for (i, item) in data.iter().enumerate() {
            let what = format!("image {} from {}", first + i + 1, self.id);
            let png = if let Some(b64) = item.get("b64_json").and_then(Value::as_str) {
                decode_base64(b64, &what)?
            } else if let Some(link) = item.get("url").and_then(Value::as_str) {
                self.http.get_link(link, deadline)?
            } else {
                return Err(ImageError::Call(format!(
                    "{what} has neither `b64_json` nor `url`: {}",
                    head(&item.to_string(), 200)
                )));
            };
            check_png(&png, &what, "leave `output_format` out or set it to png")?;
            out.push(GeneratedImage { png, seed: None });
        }
        Ok(out)
    }
}

/// OpenAI's explanation of an error: `error.message`, with its `code` when given.
fn explain(_status: u16, body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return raw_explanation(body);
    };
    let Some(e) = v.get("error") else {
        return raw_explanation(body);
    };
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str());
    match (message, e.get("code").and_then(Value::as_str)) {
        (Some(m), Some(code)) => format!("{m} ({code})"),
        (Some(m), None) => m.to_string(),
        (None, _) => raw_explanation(body),
    }
}

impl ImageProvider for OpenAiImages {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.http.max_concurrency(None)
    }

    fn generate(&self, req: &ImageRequest) -> Result<ImageResponse, ImageError> {
        let start = Instant::now();
        let size = format!("{}x{}", req.width, req.height);
        if let Some((model, sizes)) = DALL_E_SIZES.iter().find(|(m, _)| *m == self.model) {
            if !sizes.contains(&size.as_str()) {
                return Err(ImageError::Config(format!(
                    "{}: {model} cannot draw {size} (sizes: {})",
                    self.id,
                    sizes.join(", ")
                )));
            }
        }
        // dall-e-3 draws one image per call.
        let calls: Vec<u32> = if self.model == "dall-e-3" {
            vec![1; req.batch_size.max(1) as usize]
        } else {
            vec![req.batch_size.max(1)]
        };
        let url = format!("{}/images/generations", self.url);
        let mut images = Vec::new();
        let mut answers = Vec::new();
        let mut cost = Some(0.0);
        for n in calls {
            let answer = self.http.post_json(&url, &self.body(req, n), None)?;
            let got = self.images(&answer, images.len(), None)?;
            let price = match self.cost_per_image {
                Some(each) => Some(each * got.len() as f64),
                None => self.list_price(req, &answer, got.len()),
            };
            cost = cost.zip(price).map(|(a, b)| a + b);
            images.extend(got);
            answers.push(answer);
        }
        let revised: Vec<Value> = answers
            .iter()
            .flat_map(|a| {
                a.get("data")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|d| d.get("revised_prompt").cloned())
            .collect();
        let mut metadata = Map::new();
        if let [only] = answers.as_slice() {
            for (k, v) in only.as_object().into_iter().flatten() {
                if k != "data" {
                    metadata.insert(k.clone(), v.clone());
                }
            }
        } else {
            let rest: Vec<Value> = answers
                .iter()
                .map(|a| {
                    let mut a = a.clone();
                    if let Some(o) = a.as_object_mut() {
                        o.remove("data");
                    }
                    a
                })
                .collect();
            metadata.insert("calls".into(), Value::Array(rest));
        }
        if !revised.is_empty() {
            metadata.insert("revised_prompts".into(), Value::Array(revised));
        }
        Ok(ImageResponse {
            images,
            latency: start.elapsed(),
            cost,
            metadata: Value::Object(metadata),
            warnings: self.warnings(req),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(model: &str, extra: Value) -> OpenAiImages {
        let mut c = json!({"apiBaseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-x"})
            .as_object()
            .unwrap()
            .clone();
        c.extend(extra.as_object().unwrap().clone());
        OpenAiImages::new(&format!("openai:image:{model}"), model, &c).unwrap()
    }

    #[test]
    fn response_format_only_for_dall_e_and_passthrough_keys() {
        let req = ImageRequest {
            prompt: "a fox".into(),
            width: 1024,
            height: 1024,
            ..ImageRequest::default()
        };
        let dalle =
            provider("dall-e-3", json!({"quality": "hd", "style": "natural"})).body(&req, 1);
        assert_eq!(dalle["response_format"], json!("b64_json"));
        assert_eq!(dalle["size"], json!("1024x1024"));
        assert_eq!(dalle["style"], json!("natural"));
        let gpt = provider("gpt-image-1", json!({"quality": "low"})).body(&req, 2);
        assert!(gpt.get("response_format").is_none());
        assert_eq!(gpt["n"], json!(2));
        assert_eq!(gpt["quality"], json!("low"));
    }

    #[test]
    fn list_prices() {
        let req = |w, h| ImageRequest {
            width: w,
            height: h,
            ..ImageRequest::default()
        };
        let p = provider("dall-e-3", json!({"quality": "hd"}));
        assert_eq!(p.list_price(&req(1792, 1024), &json!({}), 2), Some(0.24));
        let p = provider("dall-e-2", json!({}));
        assert_eq!(p.list_price(&req(256, 256), &json!({}), 1), Some(0.016));
        let p = provider("gpt-image-1", json!({}));
        let usage = json!({"usage": {"input_tokens": 50, "output_tokens": 4160,
            "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}}});
        let cost = p.list_price(&req(1024, 1024), &usage, 1).unwrap();
        assert!((cost - (40.0 * 5.0 + 10.0 * 10.0 + 4160.0 * 40.0) / 1e6).abs() < 1e-12);
        assert_eq!(
            provider("my-model", json!({})).list_price(&req(1, 1), &usage, 1),
            None
        );
    }

    #[test]
    fn config_errors() {
        let c = |v: Value| v.as_object().unwrap().clone();
        let err = |model: &str, v: Value| {
            OpenAiImages::new("openai:image:x", model, &c(v))
                .err()
                .unwrap()
                .to_string()
        };
        let base = json!({"apiBaseUrl": "http://h/v1"});
        assert!(err("", base.clone()).contains("no model name"));
        assert!(err(
            "dall-e-3",
            json!({"apiBaseUrl": "http://h/v1", "size": "1x1"})
        )
        .contains("`size` is the prompt's width x height"));
        assert!(err(
            "dall-e-3",
            json!({"apiBaseUrl": "http://h/v1", "qualty": "hd"})
        )
        .contains("did you mean `quality`?"));
        assert!(err(
            "gpt-image-1",
            json!({"apiBaseUrl": "http://h/v1", "output_format": "webp"})
        )
        .contains("incant stores PNG images"));
        assert!(err("dall-e-3", json!({"apiBaseUrl": "ftp://h"})).contains("http(s) URL"));
    }

    #[test]
    fn explains_openai_errors() {
        let body = r#"{"error":{"message":"Your request was rejected by the safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#;
        assert_eq!(
            explain(400, body),
            "Your request was rejected by the safety system. (content_policy_violation)"
        );
        assert_eq!(explain(500, "oops"), "oops");
    }
}
