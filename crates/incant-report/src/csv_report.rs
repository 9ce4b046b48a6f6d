//! CSV reports: one row per case under a fixed header, for spreadsheets and dataframes.
//!
//! The columns are a stable interface (scripts index them by name): new columns may be
//! added at the end, existing ones never move. Variables are one JSON object per cell,
//! since suites differ in their variables and a column per variable would change the
//! header from suite to suite. Values are written as they are, quoted by the `csv` crate
//! where needed; a spreadsheet that evaluates a cell starting with `=` is the
//! spreadsheet's business, and altering outputs would make the file lie about them.

use crate::{failed_assertions, RunInfo};
use incant_eval::runner::CaseResult;
use std::borrow::Cow;
use std::io::{self, Write};

/// The header, in column order.
pub(crate) const COLUMNS: [&str; 17] = [
    "run_id",
    "index",
    "prompt",
    "provider",
    "description",
    "vars",
    "repeat",
    "pass",
    "score",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "cached",
    "error",
    "output",
    "failed_assertions",
];

/// The CSV writer.
pub(crate) struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    run_id: String,
}

impl<W: Write> CsvWriter<W> {
    pub(crate) fn new(info: &RunInfo, out: W) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(COLUMNS)?;
        Ok(Self {
            out,
            run_id: info.run_id.clone().unwrap_or_default(),
        })
    }

    pub(crate) fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        fn text(x: &Option<String>) -> Cow<'_, str> {
            Cow::Borrowed(x.as_deref().unwrap_or(""))
        }
        let number = |x: Option<String>| Cow::Owned(x.unwrap_or_default());
        let record: [Cow<'_, str>; COLUMNS.len()] = [
            Cow::Borrowed(&self.run_id),
            Cow::Owned(c.index.to_string()),
            Cow::Borrowed(&c.prompt),
            Cow::Borrowed(&c.provider),
            text(&c.description),
            Cow::Owned(serde_json::to_string(&c.vars)?),
            Cow::Owned(c.repeat.to_string()),
            Cow::Owned(c.pass.to_string()),
            Cow::Owned(c.score.to_string()),
            Cow::Owned(c.latency_ms.to_string()),
            number(c.usage.map(|u| u.prompt_tokens.to_string())),
            number(c.usage.map(|u| u.completion_tokens.to_string())),
            number(c.cost.map(|x| x.to_string())),
            Cow::Owned(c.cached.to_string()),
            text(&c.error),
            text(&c.output),
            Cow::Owned(failed_assertions(c).join("\n")),
        ];
        self.out.write_record(record.iter().map(|f| f.as_bytes()))?;
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}
