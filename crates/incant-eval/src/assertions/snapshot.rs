//! `snapshot`: the output matches the accepted snapshot of its case.
//!
//! The runner grades it (it knows the case key and holds the run's
//! [`crate::snapshot::Session`]); elsewhere the assertion fails as ungraded. Without a
//! `threshold` the output must equal the accepted one exactly; with one it must mean about
//! the same: embedding cosine similarity (the grader's embedding model, or the assertion's
//! `provider`) at least the threshold, for sampled outputs. `value`, when given, names the
//! snapshot instead of the assertion's position (see [`crate::snapshot`] for keys).
//!
//! With no accepted snapshot the output is recorded as pending and the assertion passes
//! ("new snapshot, pending review"), as insta does; a mismatch fails with a line diff and
//! records the new output as pending, for `incant snapshot review`.

use super::similar::cosine;
use super::text::preview;
use super::{Assertion, AssertionError, Context, Failure, Grade, Grader};
use crate::snapshot::{line_diff, Session};
use serde_json::Value;

/// Why a `snapshot` graded outside a run fails.
pub(crate) const UNGRADED: &str =
    "`snapshot` is graded only in a run of a suite (its snapshots live next to the suite)";

/// Load-time checks: no negation, a string name if any, a threshold in [0, 1].
pub(crate) fn check(a: &Assertion) -> Result<(), AssertionError> {
    if a.negate {
        return Err(AssertionError::new(
            "`not-snapshot` is not supported",
            Some("a snapshot says what the output must stay; use `snapshot`"),
        ));
    }
    if let Some(v) = a.value.as_ref().filter(|v| !v.is_string()) {
        return Err(AssertionError::new(
            format!("the value of `snapshot` names the snapshot and must be a string, got {v}"),
            Some("leave `value` out to key the snapshot by the assertion's position"),
        ));
    }
    if let Some(t) = a.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(AssertionError::new(
            format!("the threshold of `snapshot` is a cosine similarity in [0, 1], got {t}"),
            Some("leave it out for an exact match, or use e.g. `threshold: 0.9`"),
        ));
    }
    Ok(())
}

impl Assertion {
    /// Grades a `snapshot` assertion against its case's [`Slot`] (the runner's way in;
    /// [`Assertion::evaluate`] cannot know the case).
    pub fn evaluate_snapshot(&self, output: &str, ctx: &Context<'_>, slot: &Slot<'_>) -> Grade {
        snapshot(
            output,
            self.threshold,
            self.provider.as_deref(),
            ctx.grader,
            slot,
        )
        .unwrap_or_else(|f| match f {
            Failure::Ungraded(r) | Failure::Invalid(r) => Grade::new(false, r),
        })
    }

    /// The snapshot's name (its `value`), when it has one.
    pub fn snapshot_name(&self) -> Option<&str> {
        self.value.as_ref().and_then(Value::as_str)
    }
}

/// Where a snapshot assertion's case is kept.
pub struct Slot<'a> {
    /// The run's snapshots.
    pub session: &'a Session,
    /// The prompt's name.
    pub prompt: &'a str,
    /// The case key.
    pub key: String,
    /// The repeat being graded.
    pub repeat: usize,
}

/// Grades `output` against its case's snapshot.
pub fn snapshot(
    output: &str,
    threshold: Option<f64>,
    provider: Option<&str>,
    grader: Option<&dyn Grader>,
    slot: &Slot<'_>,
) -> Result<Grade, Failure> {
    let Slot {
        session,
        prompt,
        key,
        repeat,
    } = slot;
    let Some(accepted) = session.accepted(prompt, key) else {
        session.record(prompt, key, *repeat, output);
        return Ok(Grade::new(
            true,
            "new snapshot, pending review (`incant snapshot review`)",
        ));
    };
    let (pass, score, how) = match threshold {
        None => {
            let same = accepted == output;
            (same, if same { 1.0 } else { 0.0 }, String::new())
        }
        Some(t) => {
            let grader = grader.ok_or_else(|| {
                Failure::Ungraded("a semantic `snapshot` needs an embedding model".into())
            })?;
            let e = grader
                .embed(provider, &[output, accepted.as_str()])
                .map_err(|e| Failure::Ungraded(format!("embedding failed: {e}")))?;
            let (Some(a), Some(b)) = (e.first(), e.get(1)) else {
                return Err(Failure::Ungraded(
                    "the embedding model returned nothing".into(),
                ));
            };
            let c = cosine(a, b);
            (c >= t, c, format!("similarity {c:.3} vs threshold {t}"))
        }
    };
    if pass {
        session.matched(prompt, key);
        let reason = if how.is_empty() {
            "matches the snapshot".to_string()
        } else {
            format!("matches the snapshot ({how})")
        };
        return Ok(Grade::scored(true, score, reason));
    }
    session.record(prompt, key, *repeat, output);
    let what = if how.is_empty() {
        "differs from the snapshot".to_string()
    } else {
        format!("drifted from the snapshot ({how})")
    };
    Ok(Grade::scored(
        false,
        score,
        format!(
            "{what}, {}; pending review (`incant snapshot review`)\n{}",
            first_change(&accepted, output),
            line_diff(&accepted, output, 20)
        ),
    ))
}

/// The first line that differs, old and new, for a one-line reason.
fn first_change(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.split('\n').collect(), new.split('\n').collect());
    let n = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    let show = |l: Option<&&str>| l.map_or_else(|| "(no line)".to_string(), |l| preview(l));
    format!("line {}: {} -> {}", n + 1, show(a.get(n)), show(b.get(n)))
}
