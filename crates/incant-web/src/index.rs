//! Per-run in-memory indexes, so the matrix view can filter and page 50,000 cases fast.
//!
//! The store hands out a run's cases only as a stream ([`Store::for_each_case`]). Reading
//! and parsing that stream on every page request would cost a full scan per click, so the
//! first request for a run builds a [`RunIndex`]: one compact [`Row`] per case (interned
//! prompt and provider, verdict, score, short previews, a lowercase search text and the raw
//! result for the details view). Later requests filter the rows in memory.
//!
//! An index stays valid while the run's stored case count and status are unchanged, so a
//! run still being written is re-read as it grows. A few indexes are kept (least recently
//! built evicted first), and stores are opened once and pooled: opening runs migrations
//! inside a write transaction, which is needless work per request.

use crate::WebError;
use incant_store::{RunSummary, Store};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How many run indexes are kept in memory.
const KEEP_INDEXES: usize = 6;
/// Characters of output shown in a matrix row.
const OUTPUT_PREVIEW: usize = 240;
/// Characters of the variables shown in a matrix row.
const VARS_PREVIEW: usize = 160;

/// State shared by every handler: pooled store connections and built indexes.
#[derive(Default)]
pub(crate) struct Shared {
    stores: Mutex<Vec<Store>>,
    indexes: Mutex<VecDeque<Arc<RunIndex>>>,
    pub(crate) comparison: Mutex<Option<Arc<crate::api::CachedComparison>>>,
}

impl Shared {
    /// Runs `f` with a pooled connection to the store at `path` (`None`: no store file).
    pub(crate) fn with_store<T>(
        &self,
        path: &Path,
        f: impl FnOnce(Option<&Store>) -> Result<T, WebError>,
    ) -> Result<T, WebError> {
        if !path.exists() {
            return f(None);
        }
        let pooled = self.stores.lock().map(|mut s| s.pop()).unwrap_or(None);
        let store = match pooled {
            Some(s) => s,
            None => Store::open(path)?,
        };
        let out = f(Some(&store));
        if let Ok(mut pool) = self.stores.lock() {
            pool.push(store);
        }
        out
    }

    /// The index of run `id` (`latest` allowed), rebuilt when the run changed.
    pub(crate) fn index(&self, path: &Path, id: &str) -> Result<Arc<RunIndex>, WebError> {
        self.with_store(path, |store| {
            let store = store.ok_or_else(|| WebError::NoSuchRun(id.to_string()))?;
            let summary = match store.run(id) {
                Ok(s) => s,
                Err(incant_store::StoreError::NoSuchRun(_)) => {
                    return Err(WebError::NoSuchRun(id.to_string()))
                }
                Err(e) => return Err(e.into()),
            };
            let cached = self.indexes.lock().ok().and_then(|list| {
                list.iter()
                    .find(|ix| {
                        ix.summary.id == summary.id
                            && ix.summary.done == summary.done
                            && ix.summary.status == summary.status
                    })
                    .cloned()
            });
            if let Some(ix) = cached {
                return Ok(ix);
            }
            let ix = Arc::new(RunIndex::build(store, summary)?);
            if let Ok(mut list) = self.indexes.lock() {
                list.retain(|old| old.summary.id != ix.summary.id);
                if list.len() >= KEEP_INDEXES {
                    list.pop_front();
                }
                list.push_back(ix.clone());
            }
            Ok(ix)
        })
    }
}

/// One case as the matrix view needs it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Position in the run.
    pub idx: usize,
    /// Index into [`RunIndex::prompts`].
    pub prompt: u32,
    /// Index into [`RunIndex::providers`].
    pub provider: u32,
    /// Verdict.
    pub pass: bool,
    /// Whether the call or rendering failed.
    pub error: bool,
    /// Score.
    pub score: f64,
    /// Wall time of the call, when stored.
    pub latency_ms: Option<f64>,
    /// The test's description.
    pub description: Option<String>,
    /// The variables as short JSON.
    pub vars_preview: String,
    /// The start of the output (or error).
    pub output_preview: String,
    /// Lowercase description, variables, output and error: what `q` searches.
    pub haystack: String,
    /// The stored result JSON.
    pub raw: String,
}

/// The fields of a stored result the index reads (the rest stays in [`Row::raw`]).
#[derive(serde::Deserialize, Default)]
struct Light {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    latency_ms: Option<f64>,
}

/// A run's cases, ready to filter.
#[derive(Debug)]
pub struct RunIndex {
    /// The run's summary when the index was built.
    pub summary: RunSummary,
    /// Prompt names in first-seen order.
    pub prompts: Vec<String>,
    /// Provider labels in first-seen order.
    pub providers: Vec<String>,
    /// One row per stored case, in run order.
    pub rows: Vec<Row>,
}

fn intern(list: &mut Vec<String>, name: &str) -> u32 {
    match list.iter().position(|n| n == name) {
        Some(i) => i as u32,
        None => {
            list.push(name.to_string());
            (list.len() - 1) as u32
        }
    }
}

/// The first `n` characters of `s`, with an ellipsis when cut.
pub(crate) fn preview(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

impl RunIndex {
    /// Reads every case of the run into rows.
    pub fn build(store: &Store, summary: RunSummary) -> Result<Self, WebError> {
        let mut prompts = Vec::new();
        let mut providers = Vec::new();
        let mut rows = Vec::with_capacity(summary.done);
        store.for_each_case(&summary.id, |c| {
            // A result that does not parse still shows up, with what the columns hold.
            let light: Light = serde_json::from_str(&c.result).unwrap_or_default();
            let vars = Value::Object(light.vars).to_string();
            let shown = match (&light.output, &light.error) {
                (Some(o), _) => o.as_str(),
                (None, Some(e)) => e.as_str(),
                (None, None) => "",
            };
            let mut haystack = String::new();
            for part in [
                light.description.as_deref().unwrap_or(""),
                &vars,
                light.output.as_deref().unwrap_or(""),
                light.error.as_deref().unwrap_or(""),
            ] {
                haystack.push_str(&part.to_lowercase());
                haystack.push('\n');
            }
            rows.push(Row {
                idx: c.idx,
                prompt: intern(&mut prompts, &c.prompt),
                provider: intern(&mut providers, &c.provider),
                pass: c.pass,
                error: light.error.is_some(),
                score: c.score,
                latency_ms: light.latency_ms,
                description: light.description,
                vars_preview: preview(&vars, VARS_PREVIEW),
                output_preview: preview(shown, OUTPUT_PREVIEW),
                haystack,
                raw: c.result,
            });
        })?;
        Ok(Self {
            summary,
            prompts,
            providers,
            rows,
        })
    }

    /// The row of case `idx` (rows are stored in index order).
    pub fn row(&self, idx: usize) -> Option<&Row> {
        self.rows
            .binary_search_by_key(&idx, |r| r.idx)
            .ok()
            .map(|i| &self.rows[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_on_characters_not_bytes() {
        assert_eq!(preview("short", 10), "short");
        assert_eq!(preview("abcdef", 3), "abc…");
        assert_eq!(preview("ééééé", 2), "éé…");
        assert_eq!(preview("北京欢迎你", 4), "北京欢迎…");
        assert_eq!(preview("", 0), "");
    }

    #[test]
    fn names_are_interned_in_first_seen_order() {
        let mut list = Vec::new();
        assert_eq!(
            ["b", "a", "b", "c", "a"].map(|n| intern(&mut list, n)),
            [0, 1, 0, 2, 1]
        );
        assert_eq!(list, ["b", "a", "c"]);
    }
}
