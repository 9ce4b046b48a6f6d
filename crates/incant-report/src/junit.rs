//! JUnit XML reports, so CI systems (GitLab, Jenkins, GitHub test reporters) list each case.
//!
//! Layout: `<testsuites>` holds one `<testsuite>` per prompt and provider, in matrix order;
//! each case is a `<testcase name="description or vars" classname="prompt.provider"
//! time="seconds">` with a `<failure>` naming the failed assertions, an `<error>` when
//! rendering or the call failed, and the output in `<system-out>`.
//!
//! CI tools read the `tests`/`failures`/`errors` counts from the `<testsuite>` start tag,
//! which comes before the cases, while cases arrive in any order (a live run interleaves
//! providers) and may be millions. So each case element is formatted as it arrives into
//! its suite's pending buffer; when the buffers together pass [`PENDING_BYTES`] they are
//! all appended to one anonymous temporary file (deleted by the OS even if the process
//! dies), each suite remembering the byte ranges of its elements there (merged when
//! adjacent). At the end the header is written with the counts and each suite's ranges
//! are copied out. Memory is the pending budget plus at most one range (16 bytes) per
//! suite per 4 MiB of report.

use crate::escape::{xml_attr, xml_text};
use crate::{case_label, failed_assertions, iso8601, shorten, Outcome, RunInfo, Summary};
use incant_eval::runner::CaseResult;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// How many bytes of formatted case elements wait in memory before they are spooled.
const PENDING_BYTES: usize = 4 << 20;

/// The longest `message` attribute; the element's text has everything.
const MESSAGE_CHARS: usize = 300;

/// One `<testsuite>`: a prompt and a provider.
struct Group {
    prompt: String,
    provider: String,
    /// The smallest case index seen, which orders the suites as the matrix is ordered.
    first_index: usize,
    counts: Summary,
    /// Case elements not yet spooled.
    pending: String,
    /// Byte ranges (start, length) of its case elements in the spool, in arrival order.
    ranges: Vec<(u64, u64)>,
}

/// The JUnit writer.
pub(crate) struct JunitWriter<W: Write> {
    out: W,
    info: RunInfo,
    spool: BufWriter<File>,
    spool_len: u64,
    groups: Vec<Group>,
    by_key: HashMap<(String, String), usize>,
    /// The group of the previous case, checked before the map.
    last: Option<usize>,
    /// Bytes in all the groups' `pending` buffers.
    pending_bytes: usize,
}

impl<W: Write> JunitWriter<W> {
    pub(crate) fn new(info: RunInfo, out: W) -> io::Result<Self> {
        Ok(Self {
            out,
            info,
            spool: BufWriter::new(tempfile::tempfile()?),
            spool_len: 0,
            groups: Vec::new(),
            by_key: HashMap::new(),
            last: None,
            pending_bytes: 0,
        })
    }

    fn group_of(&mut self, c: &CaseResult) -> usize {
        if let Some(g) = self.last {
            let group = &self.groups[g];
            if group.prompt == c.prompt && group.provider == c.provider {
                return g;
            }
        }
        let key = (c.prompt.clone(), c.provider.clone());
        *self.by_key.entry(key).or_insert_with(|| {
            self.groups.push(Group {
                prompt: c.prompt.clone(),
                provider: c.provider.clone(),
                first_index: c.index,
                counts: Summary::default(),
                pending: String::new(),
                ranges: Vec::new(),
            });
            self.groups.len() - 1
        })
    }

    pub(crate) fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let g = self.group_of(c);
        self.last = Some(g);
        let group = &mut self.groups[g];
        group.first_index = group.first_index.min(c.index);
        group.counts.add(c);
        let before = group.pending.len();
        testcase(c, &mut group.pending);
        self.pending_bytes += group.pending.len() - before;
        if self.pending_bytes > PENDING_BYTES {
            self.spill()?;
        }
        Ok(())
    }

    /// Appends every group's pending elements to the spool.
    fn spill(&mut self) -> io::Result<()> {
        for group in &mut self.groups {
            if group.pending.is_empty() {
                continue;
            }
            let pending = std::mem::take(&mut group.pending);
            self.spool.write_all(pending.as_bytes())?;
            let (start, len) = (self.spool_len, pending.len() as u64);
            self.spool_len += len;
            match group.ranges.last_mut() {
                Some((s, l)) if *s + *l == start => *l += len,
                _ => group.ranges.push((start, len)),
            }
        }
        self.pending_bytes = 0;
        Ok(())
    }

    pub(crate) fn finish(mut self, summary: &Summary) -> io::Result<W> {
        self.spill()?;
        let mut spool = self.spool.into_inner().map_err(|e| e.into_error())?;
        self.groups.sort_by_key(|g| g.first_index);

        let mut head = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
        attr(&mut head, "name", &self.info.suite);
        counts(&mut head, summary);
        head.push_str(">\n");
        self.out.write_all(head.as_bytes())?;

        let timestamp = self
            .info
            .started_at
            .map(|t| iso8601(t).trim_end_matches('Z').to_string());
        for (id, group) in self.groups.iter().enumerate() {
            let mut head = String::from("  <testsuite");
            attr(
                &mut head,
                "name",
                &format!("{} / {}", group.prompt, group.provider),
            );
            let _ = write!(head, " id=\"{id}\"");
            counts(&mut head, &group.counts);
            if let Some(t) = &timestamp {
                attr(&mut head, "timestamp", t);
            }
            head.push_str(">\n    <properties>\n");
            let mut property = |name: &str, value: &str| {
                head.push_str("      <property");
                attr(&mut head, "name", name);
                attr(&mut head, "value", value);
                head.push_str("/>\n");
            };
            if let Some(run) = &self.info.run_id {
                property("incant.run_id", run);
            }
            property("incant.suite", &self.info.suite);
            property("incant.prompt", &group.prompt);
            property("incant.provider", &group.provider);
            head.push_str("    </properties>\n");
            self.out.write_all(head.as_bytes())?;

            for &(start, len) in &group.ranges {
                spool.seek(SeekFrom::Start(start))?;
                let copied = io::copy(&mut (&mut spool).take(len), &mut self.out)?;
                if copied != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the JUnit spool file is shorter than what was written to it",
                    ));
                }
            }
            self.out.write_all(b"  </testsuite>\n")?;
        }
        self.out.write_all(b"</testsuites>\n")?;
        Ok(self.out)
    }
}

/// Appends ` name="value"`, escaped.
fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    xml_attr(value, out);
    out.push('"');
}

/// Appends the count attributes JUnit readers expect on `<testsuites>` and `<testsuite>`.
fn counts(out: &mut String, s: &Summary) {
    let _ = write!(
        out,
        " tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\"",
        s.total,
        s.failed,
        s.errors,
        seconds(s.latency_ms)
    );
}

/// Milliseconds as JUnit's seconds with three decimals.
fn seconds(ms: f64) -> String {
    let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
    format!("{:.3}", ms / 1000.0)
}

/// Formats one `<testcase>` element.
fn testcase(c: &CaseResult, out: &mut String) {
    out.push_str("    <testcase");
    attr(out, "name", &case_label(c));
    attr(out, "classname", &format!("{}.{}", c.prompt, c.provider));
    let _ = write!(out, " time=\"{}\"", seconds(c.latency_ms));
    out.push_str(">\n");
    match Outcome::of(c) {
        Outcome::Pass => {}
        Outcome::Error => {
            let error = c.error.as_deref().unwrap_or_default();
            out.push_str("      <error");
            attr(out, "message", &shorten(error, MESSAGE_CHARS));
            attr(out, "type", "error");
            out.push('>');
            xml_text(error, out);
            out.push_str("</error>\n");
        }
        Outcome::Fail => {
            let failed = failed_assertions(c);
            let message = if failed.is_empty() {
                format!("score {:.3} is below the case's threshold", c.score)
            } else {
                failed.join("; ")
            };
            out.push_str("      <failure");
            attr(out, "message", &shorten(&message, MESSAGE_CHARS));
            attr(out, "type", "assertion");
            out.push('>');
            let mut body = String::new();
            for a in &c.assertions {
                let verdict = if a.grade.pass { "PASS" } else { "FAIL" };
                let _ = writeln!(
                    body,
                    "{verdict} {} (score {:.3}): {}",
                    a.kind, a.grade.score, a.grade.reason
                );
            }
            let _ = write!(body, "score: {:.3}", c.score);
            if !c.vars.is_empty() {
                let vars = serde_json::to_string(&c.vars).unwrap_or_default();
                let _ = write!(body, "\nvars: {vars}");
            }
            xml_text(&body, out);
            out.push_str("</failure>\n");
        }
    }
    if let Some(output) = &c.output {
        out.push_str("      <system-out>");
        xml_text(output, out);
        out.push_str("</system-out>\n");
    }
    out.push_str("    </testcase>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(index: usize, provider: &str) -> CaseResult {
        CaseResult {
            index,
            prompt: "p".into(),
            provider: provider.into(),
            description: None,
            vars: serde_json::Map::new(),
            repeat: 0,
            rendered: None,
            output: Some("x".repeat(200)),
            error: None,
            pass: true,
            score: 1.0,
            assertions: Vec::new(),
            latency_ms: 1.0,
            usage: None,
            cost: None,
            cached: false,
        }
    }

    /// Providers running side by side interleave their cases; the bookkeeping must not
    /// grow with the number of cases.
    #[test]
    fn interleaved_cases_keep_few_ranges() {
        let mut w = JunitWriter::new(RunInfo::default(), io::sink()).unwrap();
        let n = 60_000;
        for i in 0..n {
            w.case(&case(i, if i % 2 == 0 { "a" } else { "b" }))
                .unwrap();
        }
        w.spill().unwrap();
        let ranges: usize = w.groups.iter().map(|g| g.ranges.len()).sum();
        let spooled = usize::try_from(w.spool_len).unwrap();
        assert!(spooled > 2 * PENDING_BYTES, "{spooled} bytes spooled");
        assert!(
            ranges <= 2 * (spooled / PENDING_BYTES + 1),
            "{ranges} ranges"
        );
        assert_eq!(w.groups.iter().map(|g| g.counts.total).sum::<usize>(), n);
    }
}
