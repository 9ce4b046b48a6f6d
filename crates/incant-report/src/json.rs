//! JSON and JSONL reports: the cases as the runner made them, plus the run id.
//!
//! A JSON report is one document, `{"run_id", "suite", ..., "results": [...], "summary"}`,
//! but it is written as a stream: the opening (everything up to `"results":[`) when the
//! writer starts, each case on its own line as it arrives, and the summary at the end.
//! Every case object is a [`CaseResult`] with `run_id` first, so it reads back into a
//! `CaseResult` and still says which run it came from when copied out of the file.

use crate::{iso8601, RunInfo, Summary};
use incant_eval::runner::CaseResult;
use std::io::{self, Write};

/// One case as JSON reports write it.
#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    #[serde(flatten)]
    case: &'a CaseResult,
}

fn write_row(out: &mut impl Write, run_id: Option<&str>, case: &CaseResult) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Row { run_id, case }).map_err(io::Error::from)
}

/// Writes `"key":value,`.
fn field(out: &mut impl Write, key: &str, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, key)?;
    out.write_all(b":")?;
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b",")
}

/// The JSON document writer.
pub(crate) struct JsonWriter<W: Write> {
    out: W,
    run_id: Option<String>,
    first: bool,
}

impl<W: Write> JsonWriter<W> {
    pub(crate) fn new(info: &RunInfo, mut out: W) -> io::Result<Self> {
        out.write_all(b"{")?;
        field(&mut out, "run_id", &info.run_id)?;
        field(&mut out, "suite", &info.suite)?;
        field(&mut out, "description", &info.description)?;
        field(&mut out, "started_at", &info.started_at.map(iso8601))?;
        field(&mut out, "prompts", &info.prompts)?;
        field(&mut out, "providers", &info.providers)?;
        out.write_all(b"\"results\":[")?;
        Ok(Self {
            out,
            run_id: info.run_id.clone(),
            first: true,
        })
    }

    pub(crate) fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        write_row(&mut self.out, self.run_id.as_deref(), c)
    }

    pub(crate) fn finish(mut self, summary: &Summary) -> io::Result<W> {
        self.out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary)?;
        self.out.write_all(b"}\n")?;
        Ok(self.out)
    }
}

/// The JSON Lines writer: one case object per line and nothing else, so the file can be
/// appended to, split, and read by line-oriented tools.
pub(crate) struct JsonlWriter<W: Write> {
    out: W,
    run_id: Option<String>,
}

impl<W: Write> JsonlWriter<W> {
    pub(crate) fn new(info: &RunInfo, out: W) -> Self {
        Self {
            out,
            run_id: info.run_id.clone(),
        }
    }

    pub(crate) fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        write_row(&mut self.out, self.run_id.as_deref(), c)?;
        self.out.write_all(b"\n")
    }

    pub(crate) fn finish(self) -> W {
        self.out
    }
}
