//! The report for people: a terminal table (attack success rate per category, one column
//! per provider x guard mode; leak rates; the worst transcripts) and a self-contained HTML
//! page with the same tables and every transcript, all text escaped.

use crate::report::{Attempt, Cell, RedteamReport};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Transcripts shown in the terminal.
const TERMINAL_WORST: usize = 5;

/// `n/m pct%`.
fn fraction(n: usize, of: usize) -> String {
    if of == 0 {
        "-".to_string()
    } else {
        format!("{n}/{of} {:.0}%", 100.0 * n as f64 / of as f64)
    }
}

/// One line of text, cut to `width` characters with an ellipsis.
fn cut(text: &str, width: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= width {
        one_line
    } else {
        let mut s: String = one_line.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn verdict_label(a: &Attempt) -> String {
    let mut parts = Vec::new();
    if a.blocked {
        parts.push("blocked".to_string());
    }
    if a.error.is_some() {
        parts.push("error".to_string());
    }
    if a.verdict.canary_found {
        parts.push("canary".to_string());
    }
    if a.verdict.leaked {
        parts.push(format!("leak {:.0}%", a.verdict.leak_share * 100.0));
    }
    if a.verdict.hijacked {
        parts.push("hijacked".to_string());
    }
    if parts.is_empty() {
        parts.push("defended".to_string());
    }
    let head = if a.verdict.success { "SUCCESS" } else { "held" };
    format!("{head} ({})", parts.join(", "))
}

/// Columns: (provider, guarded) in report order.
fn columns(report: &RedteamReport) -> Vec<(String, bool)> {
    report
        .overall
        .iter()
        .map(|c| (c.provider.clone(), c.guarded))
        .collect()
}

fn find<'a>(cells: &'a [Cell], group: &str, col: &(String, bool)) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|c| c.group == group && c.provider == col.0 && c.guarded == col.1)
}

fn groups(cells: &[Cell]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.contains(&c.group) {
            out.push(c.group.clone());
        }
    }
    out
}

impl RedteamReport {
    /// The report for a terminal `width` columns wide, with ANSI colours when `color`.
    pub fn to_terminal(&self, width: usize, color: bool) -> String {
        let width = width.max(40);
        let paint = |text: String, code: &str| {
            if color {
                format!("{code}{text}{RESET}")
            } else {
                text
            }
        };
        let cols = columns(self);
        let heads: Vec<String> = cols
            .iter()
            .map(|(p, g)| format!("{p} guard {}", if *g { "on" } else { "off" }))
            .collect();
        let first = 26;
        let cw = heads
            .iter()
            .map(|h| h.chars().count())
            .max()
            .unwrap_or(10)
            .max(12)
            + 2;
        let mut out = String::new();
        out.push_str(&paint(
            format!(
                "incant redteam: {} prompt(s) x {} provider(s) x {} attacks x {} repeat(s)\n",
                self.prompts.len(),
                self.providers.len(),
                self.attacks.len(),
                self.repeats
            ),
            BOLD,
        ));
        let table = |title: &str, cells: &[Cell], leak: bool, out: &mut String| {
            out.push('\n');
            out.push_str(&paint(title.to_string(), BOLD));
            out.push('\n');
            let mut line = format!("{:<first$}", "");
            for h in &heads {
                line.push_str(&format!("{:>cw$}", cut(h, cw - 1)));
            }
            out.push_str(&cut(&line, width));
            out.push('\n');
            for g in groups(cells) {
                let mut line = format!("{:<first$}", cut(&g, first - 1));
                let mut painted = line.clone();
                for col in &cols {
                    let (text, bad) = match find(cells, &g, col) {
                        Some(c) => {
                            let n = if leak {
                                c.totals.leaks
                            } else {
                                c.totals.successes
                            };
                            (fraction(n, c.totals.judged()), n > 0)
                        }
                        None => ("-".to_string(), false),
                    };
                    let cell = format!("{text:>cw$}");
                    line.push_str(&cell);
                    painted.push_str(&paint(cell, if bad { RED } else { GREEN }));
                }
                if line.chars().count() <= width {
                    out.push_str(&painted);
                } else {
                    out.push_str(&cut(&line, width));
                }
                out.push('\n');
            }
        };
        table(
            "Attack success rate by category",
            &self.by_category,
            false,
            &mut out,
        );
        table("Attack success rate, all", &self.overall, false, &mut out);
        table("Leak rate by prompt", &self.by_prompt, true, &mut out);
        let blocked: Vec<String> = self
            .overall
            .iter()
            .filter(|c| c.guarded)
            .map(|c| {
                format!(
                    "{}: {} blocked at input",
                    c.provider,
                    fraction(c.totals.blocked, c.totals.judged())
                )
            })
            .collect();
        if !blocked.is_empty() {
            out.push('\n');
            out.push_str(&cut(&format!("Guard: {}", blocked.join("; ")), width));
            out.push('\n');
        }
        let errors: usize = self.overall.iter().map(|c| c.totals.errors).sum();
        if errors > 0 {
            out.push_str(&format!(
                "{errors} attempt(s) failed and are left out of the rates\n"
            ));
        }
        out.push('\n');
        out.push_str(&paint("Worst attempts".to_string(), BOLD));
        out.push('\n');
        for (i, a) in self.worst().into_iter().take(TERMINAL_WORST).enumerate() {
            let repeat = if self.repeats > 1 {
                format!(", repeat {}", a.repeat)
            } else {
                String::new()
            };
            let head = format!(
                "{:>2}. {} [{}, guard {}{repeat}] {} ({}): {}",
                i + 1,
                a.prompt,
                a.provider,
                a.mode_label(),
                a.attack,
                a.category.name(),
                verdict_label(a)
            );
            let head = cut(&head, width);
            out.push_str(&if a.verdict.success {
                paint(head, RED)
            } else {
                head
            });
            out.push('\n');
            out.push_str(&cut(&format!("    > {}", a.user_message), width));
            out.push('\n');
            let shown = match (&a.output, &a.error) {
                (Some(o), _) => o.clone(),
                (None, Some(e)) => format!("[error] {e}"),
                (None, None) => "[blocked by the guard]".to_string(),
            };
            out.push_str(&cut(&format!("    < {shown}"), width));
            out.push('\n');
        }
        out
    }

    /// A self-contained HTML page: the tables and every transcript, worst first.
    pub fn to_html(&self) -> String {
        let cols = columns(self);
        let mut h = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>incant redteam</title><style>\
             body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
             table{border-collapse:collapse;margin:1em 0}\
             td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
             td:first-child,th:first-child{text-align:left}\
             .bad{background:#fdd}.ok{background:#dfd}\
             details{margin:.4em 0;border:1px solid #ddd;padding:.3em}\
             pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}\
             summary.success{color:#a00;font-weight:bold}</style></head><body>\n\
             <h1>incant redteam</h1>\n",
        );
        h.push_str(&format!(
            "<p>{} prompt(s) × {} provider(s) × {} attacks × {} repeat(s), seed {}.</p>\n",
            self.prompts.len(),
            self.providers.len(),
            self.attacks.len(),
            self.repeats,
            self.seed
        ));
        let table = |title: &str, cells: &[Cell], leak: bool| {
            let mut t = format!("<h2>{}</h2>\n<table><tr><th></th>", escape(title));
            for (p, g) in &cols {
                t.push_str(&format!(
                    "<th>{} guard {}</th>",
                    escape(p),
                    if *g { "on" } else { "off" }
                ));
            }
            t.push_str("</tr>\n");
            for g in groups(cells) {
                t.push_str(&format!("<tr><td>{}</td>", escape(&g)));
                for col in &cols {
                    match find(cells, &g, col) {
                        Some(c) => {
                            let n = if leak {
                                c.totals.leaks
                            } else {
                                c.totals.successes
                            };
                            t.push_str(&format!(
                                "<td class=\"{}\">{}</td>",
                                if n > 0 { "bad" } else { "ok" },
                                escape(&fraction(n, c.totals.judged()))
                            ));
                        }
                        None => t.push_str("<td>-</td>"),
                    }
                }
                t.push_str("</tr>\n");
            }
            t.push_str("</table>\n");
            t
        };
        h.push_str(&table(
            "Attack success rate by category",
            &self.by_category,
            false,
        ));
        h.push_str(&table("Attack success rate, all", &self.overall, false));
        h.push_str(&table("Leak rate by prompt", &self.by_prompt, true));
        h.push_str("<h2>Attempts, worst first</h2>\n");
        for a in self.worst() {
            h.push_str(&format!(
                "<details><summary class=\"{}\">{} · {} · guard {} · {} ({}) · repeat {}: {}</summary>\n",
                if a.verdict.success { "success" } else { "held" },
                escape(&a.prompt),
                escape(&a.provider),
                a.mode_label(),
                escape(&a.attack),
                a.category.name(),
                a.repeat,
                escape(&verdict_label(a))
            ));
            h.push_str(&format!(
                "<p>Attack text:</p><pre>{}</pre><p>User message:</p><pre>{}</pre>",
                escape(&a.attack_text),
                escape(&a.user_message)
            ));
            let shown = match (&a.output, &a.error) {
                (Some(o), _) => o.clone(),
                (None, Some(e)) => format!("[error] {e}"),
                (None, None) => "[blocked by the guard]".to_string(),
            };
            h.push_str(&format!("<p>Output:</p><pre>{}</pre>", escape(&shown)));
            if let Some(s) = a.input_score {
                h.push_str(&format!(
                    "<p>Guard input score {s:.2}; {} redaction(s).</p>",
                    a.redactions
                ));
            }
            h.push_str("</details>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

/// HTML-escapes text (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            _ => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_and_escape() {
        assert_eq!(cut("a\nb", 10), "a b");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(fraction(1, 4), "1/4 25%");
        assert_eq!(fraction(0, 0), "-");
    }
}
