//! API keys and per-key rate limits.
//!
//! Keys are never stored in the clear: the keys file holds their sha256 (hex), and keys
//! given in `INCANT_API_KEYS` are hashed as they are read. A key may be scoped to some
//! prompts (`prompts: [capital, "complete*"]`; default: all) and may carry its own rate
//! limit. Each key has a token bucket; an empty bucket answers 429 with the seconds until
//! the next token in `Retry-After`.
//!
//! The keys file:
//!
//! ```yaml
//! keys:
//!   - name: web-ui
//!     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//!     prompts: [complete, "capital*"]
//!     rate_limit: { per_second: 5, burst: 10 }
//!     admin: false
//! ```

use crate::config::RateLimit;
use crate::ServerError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// The hex sha256 of a key, as the keys file stores it.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One configured key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// A label for logs and metrics.
    pub name: String,
    /// The key's sha256, hex.
    pub sha256: String,
    /// Prompt names (a trailing `*` matches a prefix); `None`: every prompt.
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// This key's rate limit (else the server's).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// May pin versions through the admin API.
    #[serde(default)]
    pub admin: bool,
}

impl KeyEntry {
    /// Whether this key may call `prompt`.
    pub fn allows(&self, prompt: &str) -> bool {
        self.prompts.as_ref().is_none_or(|list| {
            list.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => prompt.starts_with(prefix),
                None => p == prompt,
            })
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<KeyEntry>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The configured keys and their buckets.
pub struct Keys {
    by_hash: HashMap<String, KeyEntry>,
    default_limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// What authentication decided.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    /// No key was sent.
    Missing,
    /// The key is not known.
    Invalid,
    /// The key's bucket is empty; retry after this many seconds.
    RateLimited(u64),
}

impl Keys {
    /// Loads the keys file (if any) and the plain `env_keys` (comma-separated).
    pub fn load(
        file: Option<&Path>,
        env_keys: Option<&str>,
        default_limit: Option<RateLimit>,
    ) -> Result<Self, ServerError> {
        let mut by_hash = HashMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ServerError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let parsed: KeysFile =
                serde_norway::from_str(&text).map_err(|e| ServerError::Config {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                    hint: "a keys file is `keys:` with a list of {name, sha256, prompts, \
                           rate_limit, admin}; hash a key with `sha256sum`"
                        .into(),
                })?;
            for k in parsed.keys {
                let h = k.sha256.to_ascii_lowercase();
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ServerError::Config {
                        path: path.to_path_buf(),
                        message: format!("key `{}`: sha256 must be 64 hex digits", k.name),
                        hint: "store the hash of the key, never the key itself".into(),
                    });
                }
                by_hash.insert(h, k);
            }
        }
        for (i, key) in env_keys
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
        {
            let h = hash_key(key);
            by_hash.insert(
                h.clone(),
                KeyEntry {
                    name: format!("env-{}", i + 1),
                    sha256: h,
                    prompts: None,
                    rate_limit: None,
                    admin: true,
                },
            );
        }
        Ok(Self {
            by_hash,
            default_limit,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any key is configured (if not, the API is open and bound to loopback).
    pub fn enabled(&self) -> bool {
        !self.by_hash.is_empty()
    }

    /// Checks a presented key (`None`: none sent) and takes one token from its bucket.
    /// With no keys configured everything is allowed.
    pub fn check(&self, presented: Option<&str>) -> Result<Option<&KeyEntry>, AuthError> {
        if !self.enabled() {
            return Ok(None);
        }
        let key = presented.ok_or(AuthError::Missing)?;
        let entry = self.by_hash.get(&hash_key(key)).ok_or(AuthError::Invalid)?;
        if let Some(limit) = entry.rate_limit.or(self.default_limit) {
            self.take(&entry.sha256, limit)?;
        }
        Ok(Some(entry))
    }

    fn take(&self, id: &str, limit: RateLimit) -> Result<(), AuthError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(id.to_string()).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * limit.per_second;
        b.tokens = (b.tokens + refill).min(limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / limit.per_second.max(1e-9);
            Err(AuthError::RateLimited(wait.ceil().max(1.0) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_scopes_and_buckets() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.yaml");
        std::fs::write(
            &path,
            format!(
                "keys:\n  - name: a\n    sha256: {}\n    prompts: [cap*, other]\n    rate_limit: {{ per_second: 0.001, burst: 2 }}\n",
                hash_key("alpha")
            ),
        )
        .unwrap();
        let keys = Keys::load(Some(&path), Some(" beta ,"), None).unwrap();
        assert!(keys.enabled());
        assert_eq!(keys.check(None).unwrap_err(), AuthError::Missing);
        assert_eq!(keys.check(Some("gamma")).unwrap_err(), AuthError::Invalid);
        let a = keys.check(Some("alpha")).unwrap().unwrap();
        assert!(a.allows("capital") && a.allows("other") && !a.allows("summarize"));
        keys.check(Some("alpha")).unwrap();
        assert!(matches!(
            keys.check(Some("alpha")),
            Err(AuthError::RateLimited(s)) if s > 100
        ));
        let b = keys.check(Some("beta")).unwrap().unwrap();
        assert!(b.allows("anything"));
        std::fs::write(&path, "keys:\n  - name: a\n    sha256: plain-key\n").unwrap();
        let e = Keys::load(Some(&path), None, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        assert!(!Keys::load(None, None, None).unwrap().enabled());
    }
}
