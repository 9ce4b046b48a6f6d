//! The HTML report: one self-contained file (inline CSS and JavaScript, nothing fetched
//! from the network) that opens quickly with tens of thousands of cases.
//!
//! The page is a static shell, three `<script type="application/json">` blocks and the
//! viewer script (`assets/report.js`, `assets/report.css`). The cases block is streamed:
//! one compact JSON array per case, written as the case arrives. Prompt and provider names
//! are replaced by numbers into name tables that are written after the last case, with the
//! summary and the list of field names that tells the viewer what each array position is.
//! The viewer builds the matrix from the cases, filters them in memory and puts one page of
//! rows in the DOM at a time, inserting every piece of data as text (never as markup).
//!
//! Inside a `<script>` element a `</script` in the data would end the element early, so
//! the JSON is written through [`script_json`], which escapes every `<`.

use crate::escape::{html, script_json};
use crate::{iso8601, RunInfo, Summary};
use incant_eval::runner::CaseResult;
use std::collections::HashMap;
use std::io::{self, Write};

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// The names of [`Packed`]'s positions, in order, for the viewer.
const FIELDS: [&str; 17] = [
    "index",
    "prompt",
    "provider",
    "description",
    "vars",
    "repeat",
    "rendered",
    "output",
    "error",
    "pass",
    "score",
    "assertions",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "cached",
];

/// One case as the HTML report stores it: an array, positions named by [`FIELDS`].
#[derive(serde::Serialize)]
struct Packed<'a>(
    usize,
    usize,
    usize,
    &'a Option<String>,
    &'a serde_json::Map<String, serde_json::Value>,
    usize,
    &'a Option<String>,
    &'a Option<String>,
    &'a Option<String>,
    bool,
    f64,
    Vec<(&'a str, bool, f64, &'a str)>,
    f64,
    Option<usize>,
    Option<usize>,
    Option<f64>,
    bool,
);

/// Names numbered in the order first seen.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    fn new(initial: &[String]) -> Self {
        let mut names = Self::default();
        for n in initial {
            names.id(n);
        }
        names
    }

    fn id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

/// Rounds to `digits` decimals: scores and latencies are shown with a few digits, and the
/// full binary expansion would make up much of the file.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The HTML writer.
pub(crate) struct HtmlWriter<W: Write> {
    out: W,
    first: bool,
    buf: Vec<u8>,
    prompts: Names,
    providers: Names,
}

impl<W: Write> HtmlWriter<W> {
    pub(crate) fn new(info: &RunInfo, mut out: W) -> io::Result<Self> {
        let title = if info.suite.is_empty() {
            "incant report".to_string()
        } else {
            format!("{} · incant report", info.suite)
        };
        write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light dark\">\n\
             <meta name=\"generator\" content=\"incant\">\n\
             <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n",
            html(&title)
        )?;
        out.write_all(BODY.as_bytes())?;

        let head = serde_json::json!({
            "run_id": info.run_id,
            "suite": info.suite,
            "description": info.description,
            "started_at": info.started_at.map(iso8601),
        });
        out.write_all(b"<script type=\"application/json\" id=\"incant-info\">")?;
        script_json(&serde_json::to_vec(&head)?, &mut out)?;
        out.write_all(b"</script>\n<script type=\"application/json\" id=\"incant-cases\">[")?;
        Ok(Self {
            out,
            first: true,
            buf: Vec::new(),
            prompts: Names::new(&info.prompts),
            providers: Names::new(&info.providers),
        })
    }

    pub(crate) fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let packed = Packed(
            c.index,
            self.prompts.id(&c.prompt),
            self.providers.id(&c.provider),
            &c.description,
            &c.vars,
            c.repeat,
            &c.rendered,
            &c.output,
            &c.error,
            c.pass,
            round(c.score, 4),
            c.assertions
                .iter()
                .map(|a| {
                    (
                        a.kind.as_str(),
                        a.grade.pass,
                        round(a.grade.score, 4),
                        a.grade.reason.as_str(),
                    )
                })
                .collect(),
            round(c.latency_ms, 1),
            c.usage.map(|u| u.prompt_tokens),
            c.usage.map(|u| u.completion_tokens),
            c.cost,
            c.cached,
        );
        self.buf.clear();
        if !self.first {
            self.buf.extend_from_slice(b",\n");
        }
        self.first = false;
        serde_json::to_writer(&mut self.buf, &packed)?;
        script_json(&self.buf, &mut self.out)
    }

    pub(crate) fn finish(mut self, summary: &Summary) -> io::Result<W> {
        let meta = serde_json::json!({
            "fields": FIELDS,
            "prompts": self.prompts.list,
            "providers": self.providers.list,
            "summary": summary,
        });
        self.out
            .write_all(b"]</script>\n<script type=\"application/json\" id=\"incant-meta\">")?;
        script_json(&serde_json::to_vec(&meta)?, &mut self.out)?;
        write!(
            self.out,
            "</script>\n<script>\n{JS}</script>\n</body>\n</html>\n"
        )?;
        Ok(self.out)
    }
}

/// The page's static markup; the viewer script fills it in.
const BODY: &str = r##"<body>
<a class="skip" href="#cases-h">Skip to the cases</a>
<header class="top">
<h1 id="title">incant report</h1>
<p id="subtitle" class="muted"></p>
<dl id="summary" class="summary"></dl>
</header>
<main>
<section aria-labelledby="matrix-h">
<h2 id="matrix-h">Matrix</h2>
<p class="muted">Prompts by providers: pass rate, mean score, mean latency and cost. Select a cell to list its cases.</p>
<div class="scroll"><table id="matrix" class="matrix"></table></div>
</section>
<section aria-labelledby="cases-h">
<h2 id="cases-h" tabindex="-1">Cases</h2>
<form id="filters" class="filters" role="search">
<label>Show <select id="f-status">
<option value="all">All cases</option>
<option value="failing">Failures only</option>
<option value="error">Errors only</option>
<option value="pass">Passes only</option>
</select></label>
<label>Prompt <select id="f-prompt"><option value="-1">All prompts</option></select></label>
<label>Provider <select id="f-provider"><option value="-1">All providers</option></select></label>
<label class="grow">Search <input id="f-q" type="search" autocomplete="off" placeholder="variables, output, description"></label>
<button type="reset" id="f-reset">Reset</button>
</form>
<p id="count" class="muted" role="status" aria-live="polite"></p>
<div class="scroll"><table id="cases" class="cases">
<thead><tr>
<th scope="col" data-sort="index" aria-sort="ascending"><button type="button" aria-label="Case number">#</button></th>
<th scope="col" class="opt">Prompt</th>
<th scope="col" class="opt">Provider</th>
<th scope="col">Test</th>
<th scope="col" class="opt wide">Output</th>
<th scope="col" data-sort="score" class="num"><button type="button">Score</button></th>
<th scope="col" data-sort="latency" class="num opt"><button type="button">Latency</button></th>
<th scope="col">Result</th>
</tr></thead>
<tbody id="rows"></tbody>
</table></div>
<nav class="pager" aria-label="Case pages">
<button type="button" id="p-first">First</button>
<button type="button" id="p-prev">Previous</button>
<span id="p-where"></span>
<button type="button" id="p-next">Next</button>
<button type="button" id="p-last">Last</button>
<label>Rows per page <select id="p-size">
<option>25</option><option selected>100</option><option>250</option><option>500</option>
</select></label>
</nav>
</section>
</main>
<dialog id="detail" aria-labelledby="d-title">
<div class="d-head">
<h2 id="d-title">Case</h2>
<div class="d-nav">
<button type="button" id="d-prev">Previous case</button>
<button type="button" id="d-next">Next case</button>
<button type="button" id="d-close">Close</button>
</div>
</div>
<div id="d-body"></div>
</dialog>
<noscript><p class="noscript">This report needs JavaScript to show its cases; the data is in the page source as JSON.</p></noscript>
"##;
