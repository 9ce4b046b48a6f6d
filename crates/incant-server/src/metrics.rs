//! Prometheus metrics in the text exposition format, written by hand: per prompt and
//! version a latency histogram, token and cost counters; cache hits and misses, coalesced
//! requests, responses by status, and each local model's queue depth at scrape time.
//! Labels carry prompt names and versions only, never prompt text.

use crate::engine::EngineSnapshot;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Histogram bucket bounds, seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default, Clone)]
struct PerPrompt {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    per_prompt: Mutex<BTreeMap<(String, String), PerPrompt>>,
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// Cache hits.
    pub cache_hits: AtomicU64,
    /// Cache misses (cacheable requests that ran).
    pub cache_misses: AtomicU64,
    /// Requests answered by another identical in-flight request.
    pub coalesced: AtomicU64,
    /// Outputs redacted or blocked by the leak filter.
    pub leaks_filtered: AtomicU64,
}

/// Escapes a label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Records one completed generation of `prompt`@`version` (a model id for plain calls).
    pub fn observe(
        &self,
        prompt: &str,
        version: &str,
        seconds: f64,
        tokens: (usize, usize),
        cost: f64,
    ) {
        let mut map = self.per_prompt.lock().unwrap_or_else(|e| e.into_inner());
        let p = map
            .entry((prompt.to_string(), version.to_string()))
            .or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                p.counts[i] += 1;
            }
        }
        p.count += 1;
        p.sum += seconds;
        p.prompt_tokens += tokens.0 as u64;
        p.completion_tokens += tokens.1 as u64;
        p.cost += cost;
    }

    /// Counts a response status.
    pub fn status(&self, code: u16) {
        *self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// The exposition text; `engines` are the local models' counters read now.
    pub fn render(&self, engines: &[(String, EngineSnapshot)], cache_entries: usize) -> String {
        let mut o = String::with_capacity(4096);
        let per = self
            .per_prompt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        o.push_str("# HELP incant_request_duration_seconds Time to answer a generation request.\n# TYPE incant_request_duration_seconds histogram\n");
        for ((p, v), m) in &per {
            let l = format!("prompt=\"{}\",version=\"{}\"", label(p), label(v));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "incant_request_duration_seconds_bucket{{{l},le=\"{b}\"}} {}",
                    m.counts[i]
                );
            }
            let _ = writeln!(
                o,
                "incant_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}",
                m.count
            );
            let _ = writeln!(o, "incant_request_duration_seconds_sum{{{l}}} {}", m.sum);
            let _ = writeln!(
                o,
                "incant_request_duration_seconds_count{{{l}}} {}",
                m.count
            );
        }
        o.push_str(
            "# HELP incant_tokens_total Tokens processed.\n# TYPE incant_tokens_total counter\n",
        );
        for ((p, v), m) in &per {
            let l = format!("prompt=\"{}\",version=\"{}\"", label(p), label(v));
            let _ = writeln!(
                o,
                "incant_tokens_total{{{l},kind=\"prompt\"}} {}",
                m.prompt_tokens
            );
            let _ = writeln!(
                o,
                "incant_tokens_total{{{l},kind=\"completion\"}} {}",
                m.completion_tokens
            );
        }
        o.push_str("# HELP incant_cost_dollars_total Cost of generations.\n# TYPE incant_cost_dollars_total counter\n");
        for ((p, v), m) in &per {
            let _ = writeln!(
                o,
                "incant_cost_dollars_total{{prompt=\"{}\",version=\"{}\"}} {}",
                label(p),
                label(v),
                m.cost
            );
        }
        let counters = [
            (
                "incant_cache_hits_total",
                "Responses served from the cache.",
                &self.cache_hits,
            ),
            (
                "incant_cache_misses_total",
                "Cacheable requests that ran.",
                &self.cache_misses,
            ),
            (
                "incant_coalesced_total",
                "Requests that shared an identical in-flight request's answer.",
                &self.coalesced,
            ),
            (
                "incant_leak_filtered_total",
                "Outputs redacted or blocked for repeating a hidden prompt.",
                &self.leaks_filtered,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP incant_cache_entries Entries in the response cache.\n# TYPE incant_cache_entries gauge\nincant_cache_entries {cache_entries}"
        );
        type Row = fn(&EngineSnapshot) -> Vec<(&'static str, u64)>;
        let families: [(&str, &str, &str, Row); 3] = [
            ("incant_queue_depth", "gauge", "Jobs waiting or running per local model.", |e| {
                vec![("", e.depth as u64)]
            }),
            (
                "incant_engine_cancelled_total",
                "counter",
                "Generations stopped because the client went away.",
                |e| vec![("", e.cancelled)],
            ),
            (
                "incant_prompt_tokens_total",
                "counter",
                "Prompt tokens per local model: read by the model, or reused from the prompt cache.",
                |e| {
                    vec![
                        (",source=\"read\"", e.prompt_tokens_read),
                        (",source=\"cache\"", e.prompt_tokens_reused),
                    ]
                },
            ),
        ];
        for (name, kind, help, rows) in families {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (m, e) in engines {
                for (extra, v) in rows(e) {
                    let _ = writeln!(o, "{name}{{model=\"{}\"{extra}}} {v}", label(m));
                }
            }
        }
        o.push_str("# HELP incant_responses_total Responses by HTTP status.\n# TYPE incant_responses_total counter\n");
        for (code, n) in self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(o, "incant_responses_total{{status=\"{code}\"}} {n}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe("cap", "1.0.0", 0.003, (10, 2), 0.5);
        m.observe("cap", "1.0.0", 0.2, (10, 3), 0.25);
        let engine = EngineSnapshot {
            depth: 2,
            cancelled: 1,
            prompt_tokens_reused: 90,
            prompt_tokens_read: 10,
        };
        let t = m.render(&[("local:smollm2".into(), engine)], 7);
        assert!(t.contains("incant_request_duration_seconds_bucket{prompt=\"cap\",version=\"1.0.0\",le=\"0.005\"} 1"), "{t}");
        assert!(t.contains("le=\"0.25\"} 2"));
        assert!(t.contains("le=\"+Inf\"} 2"));
        assert!(t.contains(
            "incant_tokens_total{prompt=\"cap\",version=\"1.0.0\",kind=\"completion\"} 5"
        ));
        assert!(t.contains("incant_cost_dollars_total{prompt=\"cap\",version=\"1.0.0\"} 0.75"));
        assert!(t.contains("incant_queue_depth{model=\"local:smollm2\"} 2"));
        assert!(t.contains("incant_engine_cancelled_total{model=\"local:smollm2\"} 1"));
        assert!(
            t.contains("incant_prompt_tokens_total{model=\"local:smollm2\",source=\"cache\"} 90")
        );
        assert!(t.contains("incant_cache_entries 7"));
    }
}
