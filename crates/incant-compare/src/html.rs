//! The comparison as one self-contained HTML page: the verdict per prompt, then every
//! aligned case with A's and B's outputs side by side and the changed words highlighted.
//! Rows start sorted by impact (regressions losing the most score first) and any column
//! sorts on a click. Everything from the runs is escaped; the page loads nothing.

use crate::diff::{word_diff, Piece};
use crate::{Comparison, Group, Pair, Status};
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;font-size:13px}
th{background:#f4f4f4;cursor:pointer;user-select:none}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px}
del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}
.regressed{color:#b00;font-weight:bold}.fixed{color:#070;font-weight:bold}
.gone,.new{color:#777}.verdict-significant_regression{color:#b00;font-weight:bold}
.verdict-significant_improvement{color:#070;font-weight:bold}";

const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach((th,i)=>{
th.addEventListener('click',()=>{const tb=th.closest('table').tBodies[0];
const rows=[...tb.rows];const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
const key=r=>{const c=r.cells[i];const v=c.dataset.v;return v!==undefined?parseFloat(v):c.textContent;};
rows.sort((a,b)=>{const x=key(a),y=key(b);const d=typeof x==='number'?x-y:String(x).localeCompare(y);return asc?d:-d;});
rows.forEach(r=>tb.appendChild(r));});});";

/// The page.
pub fn render(cmp: &Comparison, title_a: &str, title_b: &str) -> String {
    render_with_preface(cmp, title_a, title_b, "")
}

/// The page with `preface` (HTML, already escaped) between the overall verdict and the
/// tables: `incant migrate` puts its broken prompts there.
pub fn render_with_preface(
    cmp: &Comparison,
    title_a: &str,
    title_b: &str,
    preface: &str,
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>incant compare {} vs {}</title><style>{STYLE}</style></head><body>",
        escape(title_a),
        escape(title_b)
    );
    let _ = write!(
        h,
        "<h1>{} &rarr; {}</h1><p>Overall: <span class=\"verdict-{v}\">{}</span>{}</p>",
        escape(title_a),
        escape(title_b),
        cmp.overall.significance.label(),
        if cmp.providers_matched {
            ""
        } else {
            " (different providers: cases aligned without the provider)"
        },
        v = significance_key(&cmp.overall),
    );
    h.push_str(preface);
    h.push_str("<table><thead><tr><th>prompt</th>");
    for s in Status::ALL {
        let _ = write!(h, "<th>{}</th>", s.label());
    }
    h.push_str("<th>pass rate A</th><th>pass rate B</th><th>mean score &Delta;</th><th>95% CI</th><th>McNemar p</th><th>verdict</th></tr></thead><tbody>");
    for g in cmp.prompts.iter().chain(std::iter::once(&cmp.overall)) {
        group_row(&mut h, g);
    }
    h.push_str("</tbody></table>");
    h.push_str("<table class=\"sortable\"><thead><tr><th>impact</th><th>status</th><th>prompt</th><th>provider</th><th>vars</th><th>score &Delta;</th><th>assertions changed</th><th>output A</th><th>output B</th></tr></thead><tbody>");
    let mut order: Vec<&Pair> = cmp.pairs.iter().collect();
    order.sort_by(|x, y| y.impact().total_cmp(&x.impact()));
    for p in order {
        pair_row(&mut h, p);
    }
    let _ = writeln!(h, "</tbody></table><script>{SCRIPT}</script></body></html>");
    h
}

fn significance_key(g: &Group) -> &'static str {
    match g.significance {
        crate::Significance::SignificantRegression => "significant_regression",
        crate::Significance::SignificantImprovement => "significant_improvement",
        crate::Significance::NoSignificantChange => "no_significant_change",
    }
}

fn group_row(h: &mut String, g: &Group) {
    let name = g.prompt.as_deref().map_or("<b>all</b>".to_string(), escape);
    let _ = write!(h, "<tr><td>{name}</td>");
    for s in Status::ALL {
        let _ = write!(h, "<td>{}</td>", g.count(s));
    }
    let ci = g.ci95.map_or("–".to_string(), |c| {
        format!("[{:+.3}, {:+.3}]", c.lo, c.hi)
    });
    let _ = write!(
        h,
        "<td>{:.1}%</td><td>{:.1}%</td><td>{:+.3}</td><td>{ci}</td><td>{:.3}</td><td class=\"verdict-{}\">{}</td></tr>",
        100.0 * g.pass_rate_a,
        100.0 * g.pass_rate_b,
        g.mean_score_delta,
        g.mcnemar_p,
        significance_key(g),
        g.significance.label()
    );
}

fn pair_row(h: &mut String, p: &Pair) {
    let provider = match (&p.provider_a, &p.provider_b) {
        (Some(a), Some(b)) if a != b => format!("{a} → {b}"),
        (Some(a), _) => a.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => String::new(),
    };
    let vars = serde_json::Value::Object(p.vars.clone()).to_string();
    let delta = p
        .score_delta
        .map_or("–".to_string(), |d| format!("{d:+.3}"));
    let changes: Vec<String> = p
        .assertion_changes
        .iter()
        .map(|c| {
            let v = |x: Option<bool>| match x {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "–",
            };
            format!(
                "#{} {}: {} → {} <small>{}</small>",
                c.position,
                escape(&c.kind),
                v(c.before),
                v(c.after),
                escape(&c.reason)
            )
        })
        .collect();
    let (old, new) = outputs(p);
    let status_class = p.status.label().replace(' ', "_");
    let _ = write!(
        h,
        "<tr><td data-v=\"{:.6}\">{:.3}</td><td class=\"{status_class}\">{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td data-v=\"{}\">{delta}</td><td>{}</td><td><pre>{old}</pre></td><td><pre>{new}</pre></td></tr>",
        p.impact(),
        p.impact(),
        p.status.label(),
        escape(&p.prompt),
        escape(&provider),
        escape(&vars),
        p.score_delta.unwrap_or(0.0),
        changes.join("<br>"),
    );
}

/// A's output with removed words marked, B's with added words marked.
fn outputs(p: &Pair) -> (String, String) {
    let a = p.a.as_ref().map(|c| c.shown_output());
    let b = p.b.as_ref().map(|c| c.shown_output());
    match (a, b) {
        (Some(a), Some(b)) => {
            let (mut old, mut new) = (String::new(), String::new());
            for piece in word_diff(&a, &b) {
                match piece {
                    Piece::Same(s) => {
                        old.push_str(&escape(s));
                        new.push_str(&escape(s));
                    }
                    Piece::Removed(s) => {
                        let _ = write!(old, "<del>{}</del>", escape(s));
                    }
                    Piece::Added(s) => {
                        let _ = write!(new, "<ins>{}</ins>", escape(s));
                    }
                }
            }
            (old, new)
        }
        (a, b) => (
            a.map(|s| escape(&s)).unwrap_or_default(),
            b.map(|s| escape(&s)).unwrap_or_default(),
        ),
    }
}
