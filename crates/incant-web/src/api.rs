//! The JSON runs API the UI's runs, matrix, case and compare views read.
//!
//! - `GET /api/runs`: every run, newest first.
//! - `GET /api/runs/{id}`: a run's summary and its matrix (per prompt × provider: cases,
//!   passed, failed, errors, mean score and latency). `latest` names the newest run.
//! - `GET /api/runs/{id}/cases?offset=&limit=&status=&prompt=&provider=&q=`: one page of
//!   the cases that pass the filters, with the filtered total. `status` is `pass`, `fail`
//!   (failed assertions, no error) or `error`; `q` is a case-insensitive substring of the
//!   description, variables, output or error.
//! - `GET /api/runs/{id}/cases/{n}`: one case's stored result.
//! - `GET /api/compare?a=&b=&offset=&limit=&status=`: [`incant_compare::compare`] on two
//!   runs: overall and per-prompt statistics and one page of the aligned pairs, biggest
//!   regressions first, optionally only one status (`regressed`, `fixed`, ...).
//!
//! Store reads run on tokio's blocking pool; SQLite calls never block the reactor.

use crate::index::RunIndex;
use crate::{WebError, WebState};
use axum::extract::{Path, Query, State};
use axum::Json;
use incant_compare::{Case, Comparison, Options, Status};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;
/// The largest page.
const MAX_LIMIT: usize = 1000;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
}

/// `GET /api/runs`.
pub async fn runs(State(state): State<WebState>) -> Result<Json<Value>, WebError> {
    let runs = blocking(move || {
        state
            .shared
            .with_store(&state.store_path, |store| match store {
                Some(s) => Ok(s.list_runs()?),
                None => Ok(Vec::new()),
            })
    })
    .await?;
    Ok(Json(json!({ "runs": runs })))
}

async fn index_of(state: &WebState, id: String) -> Result<Arc<RunIndex>, WebError> {
    let state = state.clone();
    blocking(move || state.shared.index(&state.store_path, &id)).await
}

/// Per prompt × provider figures of a run.
#[derive(Debug, Default, serde::Serialize)]
struct Cell {
    prompt: String,
    provider: String,
    cases: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    mean_score: f64,
    mean_latency_ms: Option<f64>,
}

fn matrix(ix: &RunIndex) -> Vec<Cell> {
    let mut cells: Vec<Cell> = Vec::new();
    let mut at: HashMap<(u32, u32), usize> = HashMap::new();
    let mut latency: Vec<(f64, usize)> = Vec::new();
    for r in &ix.rows {
        let i = *at.entry((r.prompt, r.provider)).or_insert_with(|| {
            cells.push(Cell {
                prompt: ix.prompts[r.prompt as usize].clone(),
                provider: ix.providers[r.provider as usize].clone(),
                ..Cell::default()
            });
            latency.push((0.0, 0));
            cells.len() - 1
        });
        let c = &mut cells[i];
        c.cases += 1;
        match (r.pass, r.error) {
            (true, _) => c.passed += 1,
            (false, true) => c.errors += 1,
            (false, false) => c.failed += 1,
        }
        c.mean_score += r.score;
        if let Some(ms) = r.latency_ms {
            latency[i].0 += ms;
            latency[i].1 += 1;
        }
    }
    for (c, (sum, n)) in cells.iter_mut().zip(latency) {
        c.mean_score /= c.cases.max(1) as f64;
        c.mean_latency_ms = (n > 0).then(|| sum / n as f64);
    }
    cells
}

/// `GET /api/runs/{id}`.
pub async fn run(
    State(state): State<WebState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, WebError> {
    let ix = index_of(&state, id).await?;
    Ok(Json(json!({
        "run": ix.summary,
        "prompts": ix.prompts,
        "providers": ix.providers,
        "matrix": matrix(&ix),
    })))
}

/// The query of the cases and compare endpoints (all strings: bad numbers get our error).
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    offset: Option<String>,
    limit: Option<String>,
    status: Option<String>,
    prompt: Option<String>,
    provider: Option<String>,
    q: Option<String>,
    a: Option<String>,
    b: Option<String>,
}

fn number(name: &'static str, v: &Option<String>, default: usize) -> Result<usize, WebError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => s.parse().map_err(|_| WebError::BadQuery {
            name,
            reason: format!("`{s}` is not a non-negative whole number"),
        }),
    }
}

fn page(q: &PageQuery) -> Result<(usize, usize), WebError> {
    let offset = number("offset", &q.offset, 0)?;
    let limit = number("limit", &q.limit, DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(WebError::BadQuery {
            name: "limit",
            reason: format!("{limit} is outside 1..={MAX_LIMIT}"),
        });
    }
    Ok((offset, limit))
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Which cases a status filter keeps.
#[derive(Clone, Copy)]
enum StatusFilter {
    All,
    Pass,
    Fail,
    Error,
}

impl StatusFilter {
    fn parse(v: &Option<String>) -> Result<Self, WebError> {
        match non_empty(v) {
            None | Some("all") => Ok(Self::All),
            Some("pass") => Ok(Self::Pass),
            Some("fail") => Ok(Self::Fail),
            Some("error") => Ok(Self::Error),
            Some(other) => Err(WebError::BadQuery {
                name: "status",
                reason: format!("`{other}` is not one of all, pass, fail, error"),
            }),
        }
    }

    fn keeps(self, pass: bool, error: bool) -> bool {
        match self {
            Self::All => true,
            Self::Pass => pass,
            Self::Fail => !pass && !error,
            Self::Error => !pass && error,
        }
    }
}

/// `GET /api/runs/{id}/cases`.
pub async fn cases(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, WebError> {
    let (offset, limit) = page(&q)?;
    let status = StatusFilter::parse(&q.status)?;
    let ix = index_of(&state, id).await?;
    let find = |list: &[String], v: &Option<String>| -> Option<Option<u32>> {
        non_empty(v).map(|name| list.iter().position(|n| n == name).map(|i| i as u32))
    };
    // An unknown prompt or provider filters everything out (`Some(None)`).
    let prompt = find(&ix.prompts, &q.prompt);
    let provider = find(&ix.providers, &q.provider);
    let needle = non_empty(&q.q).map(str::to_lowercase);
    let mut total = 0usize;
    let mut page = Vec::new();
    for r in &ix.rows {
        let keep = status.keeps(r.pass, r.error)
            && prompt.is_none_or(|p| p == Some(r.prompt))
            && provider.is_none_or(|p| p == Some(r.provider))
            && needle.as_deref().is_none_or(|n| r.haystack.contains(n));
        if !keep {
            continue;
        }
        if total >= offset && page.len() < limit {
            page.push(json!({
                "idx": r.idx,
                "prompt": ix.prompts[r.prompt as usize],
                "provider": ix.providers[r.provider as usize],
                "pass": r.pass,
                "error": r.error,
                "score": r.score,
                "latency_ms": r.latency_ms,
                "description": r.description,
                "vars": r.vars_preview,
                "output": r.output_preview,
            }));
        }
        total += 1;
    }
    Ok(Json(json!({
        "run": ix.summary.id,
        "total": total,
        "offset": offset,
        "limit": limit,
        "cases": page,
    })))
}

/// `GET /api/runs/{id}/cases/{n}`.
pub async fn case(
    State(state): State<WebState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<Value>, WebError> {
    let idx: usize = n.parse().map_err(|_| WebError::BadQuery {
        name: "n",
        reason: format!("case number `{n}` is not a non-negative whole number"),
    })?;
    let ix = index_of(&state, id).await?;
    let run = ix.summary.id.clone();
    let row = ix.row(idx).ok_or_else(|| WebError::NoSuchCase {
        run: run.clone(),
        index: idx,
    })?;
    let mut result: Value = serde_json::from_str(&row.raw).map_err(|source| WebError::BadCase {
        run: run.clone(),
        index: idx,
        source,
    })?;
    if !state.rendered_prompts {
        if let Some(obj) = result.as_object_mut() {
            obj.remove("rendered");
        }
    }
    Ok(Json(json!({
        "run": run,
        "idx": row.idx,
        "prompt": ix.prompts[row.prompt as usize],
        "provider": ix.providers[row.provider as usize],
        "pass": row.pass,
        "score": row.score,
        "result": result,
    })))
}

/// The last comparison, kept because the bootstrap over a big run takes a while.
pub(crate) struct CachedComparison {
    key: (String, usize, String, usize),
    comparison: Comparison,
}

fn cases_of(ix: &RunIndex) -> Result<Vec<Case>, WebError> {
    ix.rows
        .iter()
        .map(|r| {
            Case::from_json(&r.raw).map_err(|source| WebError::BadCase {
                run: ix.summary.id.clone(),
                index: r.idx,
                source,
            })
        })
        .collect()
}

fn status_label(s: Status) -> String {
    s.label().replace(' ', "_")
}

/// Both sides' outputs, when both calls succeeded.
fn outputs(p: &incant_compare::Pair) -> Option<(&str, &str)> {
    Some((
        p.a.as_ref()?.output.as_deref()?,
        p.b.as_ref()?.output.as_deref()?,
    ))
}

/// A word-level diff as `[{"op": "same" | "removed" | "added", "text"}]`.
fn word_diff(a: &str, b: &str) -> Value {
    use incant_compare::diff::Piece;
    let pieces: Vec<Value> = incant_compare::diff::word_diff(a, b)
        .into_iter()
        .map(|piece| {
            let (op, text) = match piece {
                Piece::Same(t) => ("same", t),
                Piece::Removed(t) => ("removed", t),
                Piece::Added(t) => ("added", t),
            };
            json!({ "op": op, "text": text })
        })
        .collect();
    Value::Array(pieces)
}

/// `GET /api/compare?a=&b=`.
pub async fn compare(
    State(state): State<WebState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, WebError> {
    let (offset, limit) = page(&q)?;
    let need = |name: &'static str, v: &Option<String>| {
        non_empty(v).map(str::to_string).ok_or(WebError::BadQuery {
            name,
            reason: "a run id is required (hint: `latest` names the newest run)".into(),
        })
    };
    let (a, b) = (need("a", &q.a)?, need("b", &q.b)?);
    let wanted = match non_empty(&q.status) {
        None | Some("all") => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| status_label(*st) == s)
                .ok_or_else(|| WebError::BadQuery {
                    name: "status",
                    reason: format!(
                        "`{s}` is not one of all, regressed, fixed, still_failing, still_passing, new, gone"
                    ),
                })?,
        ),
    };
    let (ia, ib) = (index_of(&state, a).await?, index_of(&state, b).await?);
    let key = (
        ia.summary.id.clone(),
        ia.summary.done,
        ib.summary.id.clone(),
        ib.summary.done,
    );
    let shared = state.shared.clone();
    let cached = shared
        .comparison
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .filter(|c| c.key == key);
    let cmp = match cached {
        Some(c) => c,
        None => {
            let (ia, ib) = (ia.clone(), ib.clone());
            let built = blocking(move || {
                let mut comparison =
                    incant_compare::compare(cases_of(&ia)?, cases_of(&ib)?, &Options::default());
                // Biggest regressions first; ties keep alignment order.
                comparison
                    .pairs
                    .sort_by(|x, y| y.impact().total_cmp(&x.impact()));
                Ok(Arc::new(CachedComparison { key, comparison }))
            })
            .await?;
            if let Ok(mut slot) = shared.comparison.lock() {
                *slot = Some(built.clone());
            }
            built
        }
    };
    let c = &cmp.comparison;
    let mut total = 0usize;
    let mut pairs = Vec::new();
    for p in c
        .pairs
        .iter()
        .filter(|p| wanted.is_none_or(|w| p.status == w))
    {
        if total >= offset && pairs.len() < limit {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            if let (Some(obj), Some((x, y))) = (v.as_object_mut(), outputs(p)) {
                obj.insert("diff".into(), word_diff(x, y));
            }
            pairs.push(v);
        }
        total += 1;
    }
    Ok(Json(json!({
        "a": ia.summary,
        "b": ib.summary,
        "providers_matched": c.providers_matched,
        "overall": c.overall,
        "prompts": c.prompts,
        "total": total,
        "offset": offset,
        "limit": limit,
        "pairs": pairs,
    })))
}
