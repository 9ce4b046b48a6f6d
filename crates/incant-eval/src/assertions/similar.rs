//! `similar`: the output means about the same as the expected text, by embeddings.
//!
//! The output and each expected text are embedded by the grader's embedding model (the
//! assertion's `provider`, else the suite's default, local MiniLM) and compared, as promptfoo
//! does: `similar` / `similar:cosine` by cosine similarity, `similar:dot` by dot product (both
//! pass at >= threshold), `similar:euclidean` by Euclidean distance (passes at <= threshold,
//! scored `1 / (1 + distance)`). Default threshold 0.75 for all three. With a list of
//! expected texts the assertion passes when any one passes and is scored by the closest;
//! negated, it passes only when the output is far from every one.
//!
//! Scores are clamped to [0, 1] (a cosine can be negative, a dot product above 1); the
//! reason always shows the raw value.

use super::text::{as_text, preview};
use super::{Grade, Grader};
use serde_json::Value;

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Similarity {
    /// Cosine similarity (the default).
    Cosine,
    /// Dot product (equal to cosine for normalised embeddings such as MiniLM's).
    Dot,
    /// Euclidean distance: lower is closer, the threshold is a maximum.
    Euclidean,
}

/// The expected texts of a `similar` assertion: a string or a non-empty list of strings.
pub fn expected(value: Option<&Value>) -> Result<Vec<String>, String> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
            Ok(a.iter().map(|v| as_text(Some(v))).collect())
        }
        Some(Value::Array(a)) if a.is_empty() => {
            Err("`similar` needs at least one expected text".into())
        }
        other => Err(format!(
            "`similar` needs an expected text or a list of them as its value, got {}",
            as_text(other)
        )),
    }
}

/// Cosine similarity; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

fn euclidean(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// One comparison: (pass, score in [0, 1], raw value).
fn compare(metric: Similarity, a: &[f32], b: &[f32], threshold: f64) -> (bool, f64, f64) {
    match metric {
        Similarity::Cosine | Similarity::Dot => {
            let s = if metric == Similarity::Cosine {
                cosine(a, b)
            } else {
                dot(a, b)
            };
            (s >= threshold - f64::EPSILON, s.clamp(0.0, 1.0), s)
        }
        Similarity::Euclidean => {
            let d = euclidean(a, b);
            (d <= threshold + f64::EPSILON, 1.0 / (1.0 + d), d)
        }
    }
}

/// Grades `output` against the expected texts with embeddings from `grader`.
pub fn similar(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
    metric: Similarity,
    provider: Option<&str>,
    grader: Option<&dyn Grader>,
) -> Result<Grade, String> {
    let expected = expected(value)?;
    let grader = grader
        .ok_or("`similar` needs an embedding model, and no grader was set up for this run")?;
    let threshold = threshold.unwrap_or(0.75);
    let mut texts = vec![output];
    texts.extend(expected.iter().map(String::as_str));
    let vectors = grader
        .embed(provider, &texts)
        .map_err(|e| format!("`similar`: embedding failed: {e}"))?;
    if vectors.len() != texts.len() {
        return Err(format!(
            "`similar`: the embedding model returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        ));
    }
    let (out, rest) = vectors.split_first().expect("at least two vectors");
    if rest.iter().any(|v| v.len() != out.len()) {
        return Err("`similar`: the embeddings have different sizes".into());
    }
    // The best comparison: any pass wins, else the highest score.
    let best = rest
        .iter()
        .zip(&expected)
        .map(|(v, text)| (compare(metric, out, v, threshold), text))
        .max_by(|((pa, sa, _), _), ((pb, sb, _), _)| pa.cmp(pb).then(sa.total_cmp(sb)))
        .expect("at least one expected text");
    let ((pass, score, raw), text) = best;
    let (what, cmp) = match metric {
        Similarity::Euclidean => ("distance", if pass { "<=" } else { ">" }),
        Similarity::Cosine => ("similarity", if pass { ">=" } else { "<" }),
        Similarity::Dot => ("dot product", if pass { ">=" } else { "<" }),
    };
    let to = if expected.len() > 1 {
        format!(" (closest: {})", preview(text))
    } else {
        String::new()
    };
    Ok(Grade::scored(
        pass,
        score,
        format!("{what} {raw:.4} {cmp} threshold {threshold}{to}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use incant_prompt::file::Message;
    use serde_json::json;

    /// Embeds by keyword: texts mentioning Paris point one way, bananas another.
    struct Keywords;
    impl Grader for Keywords {
        fn embed(&self, provider: Option<&str>, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            if provider == Some("broken") {
                return Err("model not found".into());
            }
            Ok(texts
                .iter()
                .map(|t| {
                    let t = t.to_lowercase();
                    vec![
                        f32::from(u8::from(t.contains("paris"))),
                        f32::from(u8::from(t.contains("banana"))),
                        0.1,
                    ]
                })
                .collect())
        }
        fn complete(&self, _: Option<&str>, _: &[Message]) -> Result<String, String> {
            Err("no judge".into())
        }
    }

    fn run(value: Value, metric: Similarity, threshold: Option<f64>) -> Grade {
        similar(
            "Paris it is",
            Some(&value),
            threshold,
            metric,
            None,
            Some(&Keywords),
        )
        .unwrap()
    }

    #[test]
    fn cosine_passes_for_the_same_meaning() {
        let g = run(json!("Paris, France"), Similarity::Cosine, None);
        assert!(g.pass && (g.score - 1.0).abs() < 1e-9, "{g:?}");
        let g = run(json!("Bananas"), Similarity::Cosine, None);
        assert!(!g.pass && g.reason.contains("< threshold 0.75"), "{g:?}");
    }

    #[test]
    fn a_list_passes_when_any_item_passes() {
        let g = run(json!(["Bananas", "paris"]), Similarity::Cosine, None);
        assert!(g.pass && g.reason.contains("closest: \"paris\""), "{g:?}");
        let g = run(json!(["Bananas", "yellow"]), Similarity::Cosine, None);
        assert!(!g.pass);
        // Scored by the closest: "yellow" -> (0, 0, 0.1) is parallel-ish to nothing, cosine
        // with (1, 0, 0.1) is 0.1 / sqrt(1.01) * 1 / 0.1 = 0.0995...; bananas 0.0099...
        assert!(
            (g.score - 0.01 / (1.01f64.sqrt() * 0.1)).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn dot_and_euclidean_metrics() {
        let g = run(json!("Paris"), Similarity::Dot, Some(1.0));
        assert!(g.pass, "{g:?}"); // 1 + 0.01
        let g = run(json!("Paris"), Similarity::Euclidean, Some(0.1));
        assert!(g.pass && g.score == 1.0, "{g:?}");
        let g = run(json!("Bananas"), Similarity::Euclidean, None);
        // distance sqrt(2) > 0.75, score 1 / (1 + sqrt 2)
        assert!(
            !g.pass && (g.score - 1.0 / (1.0 + 2f64.sqrt())).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        let e = similar("x", Some(&json!("y")), None, Similarity::Cosine, None, None).unwrap_err();
        assert!(e.contains("no grader"), "{e}");
        let e = similar(
            "x",
            Some(&json!("y")),
            None,
            Similarity::Cosine,
            Some("broken"),
            Some(&Keywords),
        )
        .unwrap_err();
        assert!(e.contains("model not found"), "{e}");
        assert!(expected(Some(&json!([]))).is_err());
        assert!(expected(Some(&json!(3))).is_err());
        assert!((cosine(&[0.0, 0.0], &[1.0, 0.0])).abs() < 1e-12);
    }
}
