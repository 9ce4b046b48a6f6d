//! Reading a provider's `config` mapping strictly.
//!
//! A key that is neither sent to the server nor understood by incant would be silently
//! ignored, and a typo (`timeoutMS`, `overide_settings`) would quietly change nothing. So
//! every provider lists the keys it knows, and anything else is a [`ImageError::Config`]
//! naming the key and the nearest valid one. The typed getters say which key has the wrong
//! type, and the settings every HTTP provider shares (`timeoutMs`, `maxRetries`,
//! `headers`) are read in one place.

use crate::ImageError;
use incant_provider::retry::RetryPolicy;
use serde_json::{Map, Value};
use std::time::Duration;

/// Keys every HTTP image provider understands.
pub(crate) const HTTP_KEYS: &[&str] = &["timeoutMs", "maxRetries", "maxConcurrency", "headers"];

/// A provider's config, read on behalf of provider `id`.
pub(crate) struct Config<'a> {
    pub(crate) id: &'a str,
    pub(crate) map: &'a Map<String, Value>,
}

/// The settings every HTTP provider shares.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) headers: Vec<(String, String)>,
    /// `maxConcurrency`, when set (at least 1).
    pub(crate) max_concurrency: Option<usize>,
}

impl<'a> Config<'a> {
    pub(crate) fn new(id: &'a str, map: &'a Map<String, Value>) -> Self {
        Self { id, map }
    }

    /// A config error prefixed with the provider id.
    pub(crate) fn error(&self, msg: impl std::fmt::Display) -> ImageError {
        ImageError::Config(format!("{}: {msg}", self.id))
    }

    /// Refuses keys outside `known` (the union of the given lists), naming the nearest one.
    pub(crate) fn check_keys(&self, known: &[&[&str]]) -> Result<(), ImageError> {
        let all: Vec<&str> = known.iter().flat_map(|l| l.iter().copied()).collect();
        for key in self.map.keys() {
            if !all.contains(&key.as_str()) {
                let hint = incant_prompt::nearest(key, &all)
                    .map_or_else(String::new, |n| format!(" (did you mean `{n}`?)"));
                return Err(self.error(format!("unknown config key `{key}`{hint}")));
            }
        }
        Ok(())
    }

    /// A string value, `None` when absent or null.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, ImageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(format!("`{key}` must be a string"))),
        }
    }

    /// A whole number, `None` when absent or null.
    pub(crate) fn count(&self, key: &str) -> Result<Option<u64>, ImageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a whole number"))),
        }
    }

    /// A number, `None` when absent or null.
    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, ImageError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a number"))),
        }
    }

    /// `timeoutMs` (default `default_timeout`), `maxRetries` (default 4, at most 20),
    /// `maxConcurrency` and `headers` (a mapping of strings).
    pub(crate) fn http(&self, default_timeout: Duration) -> Result<HttpSettings, ImageError> {
        let timeout = self
            .count("timeoutMs")?
            .map_or(default_timeout, Duration::from_millis);
        if timeout.is_zero() {
            return Err(self.error("`timeoutMs` must be above 0"));
        }
        let retry = RetryPolicy {
            max_retries: self.count("maxRetries")?.map_or(4, |n| n.min(20) as u32),
            ..RetryPolicy::default()
        };
        let mut headers = Vec::new();
        match self.map.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(h)) => {
                for (k, v) in h {
                    let v = v
                        .as_str()
                        .ok_or_else(|| self.error(format!("header `{k}` must be a string")))?;
                    headers.push((k.clone(), v.to_string()));
                }
            }
            Some(_) => return Err(self.error("`headers` must be a mapping")),
        }
        let max_concurrency = self.count("maxConcurrency")?.map(|n| n.max(1) as usize);
        Ok(HttpSettings {
            timeout,
            retry,
            headers,
            max_concurrency,
        })
    }
}

/// Checks that a server address from a provider id is an http(s) URL and drops the
/// trailing slash.
pub(crate) fn base_url(id: &str, url: &str, example: &str) -> Result<String, ImageError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ImageError::Config(format!(
            "{id}: the server address must be an http(s) URL, got `{url}` (e.g. {example})"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_name_the_nearest_known_one() {
        let map = json!({"timeoutMS": 5}).as_object().unwrap().clone();
        let c = Config::new("a1111:http://x", &map);
        let err = c.check_keys(&[HTTP_KEYS]).unwrap_err().to_string();
        assert_eq!(
            err,
            "a1111:http://x: unknown config key `timeoutMS` (did you mean `timeoutMs`?)"
        );
    }

    #[test]
    fn typed_getters_name_the_key_with_the_wrong_type() {
        let map = json!({"timeoutMs": "soon", "headers": {"X": 1}, "maxRetries": 99})
            .as_object()
            .unwrap()
            .clone();
        let c = Config::new("p", &map);
        assert_eq!(
            c.count("timeoutMs").unwrap_err().to_string(),
            "p: `timeoutMs` must be a whole number"
        );
        let map2 = json!({"headers": {"X": 1}}).as_object().unwrap().clone();
        let err = Config::new("p", &map2).http(Duration::from_secs(1));
        assert_eq!(
            err.unwrap_err().to_string(),
            "p: header `X` must be a string"
        );
        let map3 = json!({"maxRetries": 99}).as_object().unwrap().clone();
        let s = Config::new("p", &map3)
            .http(Duration::from_secs(1))
            .unwrap();
        assert_eq!(s.retry.max_retries, 20);
        assert!(base_url("p", "localhost:7860", "a1111:http://127.0.0.1:7860").is_err());
        assert_eq!(base_url("p", "http://h:1/", "").unwrap(), "http://h:1");
    }
}
