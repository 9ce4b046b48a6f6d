//! Run reports: the results of an eval run written as JSON, JSONL, CSV, JUnit XML or a
//! self-contained HTML viewer.
//!
//! Every format is written by one [`ReportWriter`] that takes cases one at a time, in any
//! order, and never keeps them: `incant eval -o FILE` feeds it as cases finish and
//! `incant runs export` feeds it from the store, so a run of a million cases writes a
//! report with the same memory as a run of ten. How each format manages that:
//!
//! - **JSON** opens the document with the run's details and `"results":[`, appends each
//!   case as it comes (one per line) and closes with the summary, which is only known at
//!   the end.
//! - **JSONL** and **CSV** are one line (row) per case.
//! - **JUnit XML** needs per-suite counts in each `<testsuite>` start tag, before its cases.
//!   Case elements are spooled to one anonymous temporary file and copied out, suite by
//!   suite, at [`ReportWriter::finish`]; memory holds only a list of file ranges per suite
//!   (one range per run of consecutive cases of a suite, so a handful in practice).
//! - **HTML** streams the cases into a `<script type="application/json">` block; the
//!   viewer's JavaScript renders a page of rows at a time, never the whole table.
//!
//! Output is written through `W` with many small writes: pass a `BufWriter` (as
//! [`ReportWriter::create`] does).

mod csv_report;
mod escape;
mod html;
mod json;
mod junit;

use incant_eval::runner::CaseResult;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON document: the run, `results` (every case) and `summary`.
    Json,
    /// One JSON object per case per line.
    Jsonl,
    /// One row per case with fixed columns.
    Csv,
    /// JUnit XML, one `<testsuite>` per prompt and provider, for CI test reports.
    Junit,
    /// A single HTML file with a matrix, a filterable case table and case details.
    Html,
}

/// What the hints list: the extensions [`Format::from_path`] understands.
const EXTENSIONS: &str = ".json, .jsonl, .csv, .xml (JUnit), .html";
/// What the hints list: the names [`Format::from_name`] understands.
const NAMES: &str = "json, jsonl, csv, junit, html";

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Jsonl,
        Format::Csv,
        Format::Junit,
        Format::Html,
    ];

    /// The format a file's extension asks for (case-insensitive): `.json`, `.jsonl` (or
    /// `.ndjson`), `.csv`, `.xml` (JUnit) and `.html` (or `.htm`).
    pub fn from_path(path: &Path) -> Result<Self, ReportError> {
        let Some(ext) = path.extension() else {
            return Err(ReportError::NoExtension {
                path: path.to_path_buf(),
            });
        };
        let ext = ext.to_string_lossy();
        match ext.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "xml" => Ok(Self::Junit),
            "html" | "htm" => Ok(Self::Html),
            _ => Err(ReportError::UnknownExtension {
                path: path.to_path_buf(),
                extension: ext.into_owned(),
            }),
        }
    }

    /// The format called `name` (case-insensitive): `json`, `jsonl`, `csv`, `junit` and
    /// `html`, plus the aliases `ndjson` and `xml`.
    pub fn from_name(name: &str) -> Result<Self, ReportError> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "junit" | "xml" => Ok(Self::Junit),
            "html" | "htm" => Ok(Self::Html),
            _ => Err(ReportError::UnknownFormat {
                name: name.to_string(),
            }),
        }
    }

    /// The format's name, as [`Format::from_name`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Junit => "junit",
            Self::Html => "html",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Junit => "xml",
            other => other.name(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

/// Everything that can go wrong choosing or opening a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An output path without an extension.
    #[error("cannot tell the report format of {}: the file name has no extension", path.display())]
    NoExtension {
        /// The path given.
        path: PathBuf,
    },
    /// An output path whose extension is not a report format.
    #[error("cannot tell the report format of {}: unknown extension `.{extension}`", path.display())]
    UnknownExtension {
        /// The path given.
        path: PathBuf,
        /// Its extension.
        extension: String,
    },
    /// A format name that does not exist.
    #[error("unknown report format `{name}`")]
    UnknownFormat {
        /// What the user typed.
        name: String,
    },
    /// The report file could not be created.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The report file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ReportError {
    /// A one-line suggestion of what to do about the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoExtension { .. } | Self::UnknownExtension { .. } => {
                Some(format!("name the file with one of {EXTENSIONS}"))
            }
            Self::UnknownFormat { .. } => Some(format!("formats: {NAMES}")),
            Self::Io { .. } => None,
        }
    }
}

/// What a report says about the run as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    /// The run's id in the store, copied into every case of JSON, JSONL and CSV reports.
    pub run_id: Option<String>,
    /// The suite file, as the user named it.
    pub suite: String,
    /// The suite's description.
    pub description: Option<String>,
    /// When the run started, in Unix seconds (reports show it as UTC, ISO 8601).
    pub started_at: Option<i64>,
    /// Prompt names in matrix order (the HTML matrix's rows; names first seen in cases are
    /// added after these).
    pub prompts: Vec<String>,
    /// Provider labels in matrix order (the HTML matrix's columns).
    pub providers: Vec<String>,
}

/// Totals over the cases written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Cases.
    pub total: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases that ran and failed an assertion.
    pub failed: usize,
    /// Cases whose rendering or call failed (these have no verdict of their own).
    pub errors: usize,
    /// Cases answered from the response cache.
    pub cached: usize,
    /// Prompt tokens over all cases.
    pub prompt_tokens: u64,
    /// Generated tokens over all cases.
    pub completion_tokens: u64,
    /// Cost in dollars over the cases that report one.
    pub cost: f64,
    /// Wall time of the calls, summed, in milliseconds.
    pub latency_ms: f64,
}

impl Summary {
    /// Counts one case.
    pub fn add(&mut self, c: &CaseResult) {
        self.total += 1;
        match Outcome::of(c) {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Error => self.errors += 1,
        }
        self.cached += usize::from(c.cached);
        if let Some(u) = c.usage {
            self.prompt_tokens += u.prompt_tokens as u64;
            self.completion_tokens += u.completion_tokens as u64;
        }
        self.cost += c.cost.filter(|x| x.is_finite()).unwrap_or(0.0);
        if c.latency_ms.is_finite() {
            self.latency_ms += c.latency_ms;
        }
    }
}

/// A case's verdict as reports count it: an error wins over the assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Fail,
    Error,
}

impl Outcome {
    pub(crate) fn of(c: &CaseResult) -> Self {
        if c.error.is_some() {
            Self::Error
        } else if c.pass {
            Self::Pass
        } else {
            Self::Fail
        }
    }
}

/// A short human name for a case: its description, else its variables (`k=v, ...`,
/// shortened), else its index; repeats after the first are marked.
pub(crate) fn case_label(c: &CaseResult) -> String {
    const VALUE_CHARS: usize = 40;
    const LABEL_CHARS: usize = 120;
    let mut label = match c.description.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => d.to_string(),
        None if c.vars.is_empty() => format!("case {}", c.index),
        None => {
            let parts: Vec<String> = c
                .vars
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    format!("{k}={}", shorten(&v, VALUE_CHARS))
                })
                .collect();
            shorten(&parts.join(", "), LABEL_CHARS)
        }
    };
    if c.repeat > 0 {
        label.push_str(&format!(" (repeat {})", c.repeat));
    }
    label
}

/// Each failed assertion as `type: reason`.
pub(crate) fn failed_assertions(c: &CaseResult) -> Vec<String> {
    c.assertions
        .iter()
        .filter(|a| !a.grade.pass)
        .map(|a| format!("{}: {}", a.kind, a.grade.reason))
        .collect()
}

/// The first `max` characters of `s` on one line, with an ellipsis when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Unix seconds as UTC ISO 8601 (`2024-05-01T12:00:00Z`).
pub(crate) fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian), by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The format-specific part of a [`ReportWriter`].
enum Sink<W: Write> {
    Json(json::JsonWriter<W>),
    Jsonl(json::JsonlWriter<W>),
    Csv(csv_report::CsvWriter<W>),
    Junit(junit::JunitWriter<W>),
    Html(html::HtmlWriter<W>),
}

/// Writes one report, a case at a time, in constant memory.
///
/// ```no_run
/// # use incant_report::{Format, ReportWriter, RunInfo};
/// # fn cases() -> Vec<incant_eval::runner::CaseResult> { Vec::new() }
/// let info = RunInfo { suite: "incant.yaml".into(), ..RunInfo::default() };
/// let mut report = ReportWriter::create("results.html".as_ref(), info)?;
/// for case in cases() {
///     report.case(&case)?;
/// }
/// report.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReportWriter<W: Write> {
    sink: Sink<W>,
    summary: Summary,
}

impl ReportWriter<BufWriter<File>> {
    /// Creates (or truncates) `path` and starts a report in the format its extension names.
    pub fn create(path: &Path, info: RunInfo) -> Result<Self, ReportError> {
        let format = Format::from_path(path)?;
        let io_err = |source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(io_err)?;
        Self::new(format, info, BufWriter::new(file)).map_err(io_err)
    }
}

impl<W: Write> ReportWriter<W> {
    /// Starts a report: writes whatever comes before the first case.
    pub fn new(format: Format, info: RunInfo, out: W) -> io::Result<Self> {
        let sink = match format {
            Format::Json => Sink::Json(json::JsonWriter::new(&info, out)?),
            Format::Jsonl => Sink::Jsonl(json::JsonlWriter::new(&info, out)),
            Format::Csv => Sink::Csv(csv_report::CsvWriter::new(&info, out)?),
            Format::Junit => Sink::Junit(junit::JunitWriter::new(info, out)?),
            Format::Html => Sink::Html(html::HtmlWriter::new(&info, out)?),
        };
        Ok(Self {
            sink,
            summary: Summary::default(),
        })
    }

    /// Adds one case. Cases may come in any order; JSON, JSONL, CSV and HTML keep the
    /// order they are given, JUnit groups them by prompt and provider.
    pub fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        match &mut self.sink {
            Sink::Json(w) => w.case(c)?,
            Sink::Jsonl(w) => w.case(c)?,
            Sink::Csv(w) => w.case(c)?,
            Sink::Junit(w) => w.case(c)?,
            Sink::Html(w) => w.case(c)?,
        }
        self.summary.add(c);
        Ok(())
    }

    /// Totals over the cases written so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Writes whatever comes after the last case, flushes, and hands back the output.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.sink {
            Sink::Json(w) => w.finish(&self.summary)?,
            Sink::Jsonl(w) => w.finish(),
            Sink::Csv(w) => w.finish()?,
            Sink::Junit(w) => w.finish(&self.summary)?,
            Sink::Html(w) => w.finish(&self.summary)?,
        };
        out.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_extensions_and_names() {
        for f in Format::ALL {
            let path = format!("out/report.{}", f.extension().to_uppercase());
            assert_eq!(Format::from_path(Path::new(&path)).unwrap(), f);
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert_eq!(
            Format::from_path(Path::new("a.ndjson")).unwrap(),
            Format::Jsonl
        );
        let e = Format::from_path(Path::new("results.txt")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot tell the report format of results.txt: unknown extension `.txt`"
        );
        assert!(e.hint().unwrap().contains(".jsonl"));
        let e = Format::from_path(Path::new("results")).unwrap_err();
        assert!(e.to_string().contains("no extension"));
        let e = Format::from_name("yaml").unwrap_err();
        assert_eq!(e.hint().unwrap(), "formats: json, jsonl, csv, junit, html");
    }

    #[test]
    fn iso8601_matches_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("héllo\nwörld", 20), "héllo wörld");
        assert_eq!(shorten("ééééé", 3), "ééé…");
    }
}
