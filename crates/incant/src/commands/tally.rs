//! What `incant eval` keeps of a run while it streams: per-cell totals for the matrix and
//! the first few failing cases, never the cases themselves, so a run of a million cases
//! needs no more memory than a run of ten. Also the terminal view built from them.

use crate::report::paint;
use incant_eval::runner::CaseResult;
use std::collections::BTreeMap;

/// Failing cases shown in the terminal.
const SHOWN: usize = 10;

/// Totals of one (prompt, provider) cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cell {
    pub cases: usize,
    pub passed: usize,
    pub errors: usize,
    pub score: f64,
    pub latency_ms: f64,
    pub cost: f64,
}

/// Running totals of a run.
#[derive(Default)]
pub struct Tally {
    cells: BTreeMap<(String, String), Cell>,
    /// The failing cases with the lowest indices, at most [`SHOWN`].
    failures: BTreeMap<usize, CaseResult>,
    pub cases: usize,
    pub failed: usize,
}

impl Tally {
    /// Counts one case (and keeps it if it is among the first failures).
    pub fn add(&mut self, r: &CaseResult) {
        self.cases += 1;
        let cell = self
            .cells
            .entry((r.prompt.clone(), r.provider.clone()))
            .or_default();
        cell.cases += 1;
        cell.passed += usize::from(r.pass);
        cell.errors += usize::from(r.error.is_some());
        cell.score += r.score;
        cell.latency_ms += r.latency_ms;
        cell.cost += r.cost.unwrap_or(0.0);
        if !r.pass {
            self.failed += 1;
            let keep = self.failures.len() < SHOWN
                || self
                    .failures
                    .last_key_value()
                    .is_some_and(|(k, _)| *k > r.index);
            if keep {
                self.failures.insert(r.index, r.clone());
                if self.failures.len() > SHOWN {
                    self.failures.pop_last();
                }
            }
        }
    }

    /// Prints the matrix (prompts x providers) sized to the terminal, then the failures.
    pub fn print(&self, prompts: &[String], providers: &[String]) {
        let width = terminal_width();
        let name_width = prompts
            .iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(6)
            .clamp(6, 28);
        // Each provider column: "12/14 92% 0.86 130ms $0.0012" fits in 30; narrow
        // terminals drop the latency and cost.
        let wide = (width.saturating_sub(name_width)) / providers.len().max(1) >= 32;
        let col = if wide { 30 } else { 14 };
        let mut header = format!("{:name_width$}", "prompt");
        for t in providers {
            header.push_str(&format!("  {:>col$}", truncate(t, col)));
        }
        println!("{}", paint(&header, "1"));
        for p in prompts {
            let mut line = format!("{:name_width$}", truncate(p, name_width));
            for t in providers {
                let c = self
                    .cells
                    .get(&(p.clone(), t.clone()))
                    .copied()
                    .unwrap_or_default();
                let n = c.cases.max(1) as f64;
                let text = if c.cases == 0 {
                    "-".to_string()
                } else if wide {
                    format!(
                        "{}/{} score {:.2} {:.0}ms{}",
                        c.passed,
                        c.cases,
                        c.score / n,
                        c.latency_ms / n,
                        if c.cost > 0.0 {
                            format!(" ${:.4}", c.cost)
                        } else {
                            String::new()
                        }
                    )
                } else {
                    format!("{}/{} {:.2}", c.passed, c.cases, c.score / n)
                };
                let color = if c.passed == c.cases { "32" } else { "31" };
                line.push_str("  ");
                line.push_str(&paint(&format!("{:>col$}", truncate(&text, col)), color));
            }
            println!("{line}");
        }
        println!("\n{}/{} cases passed", self.cases - self.failed, self.cases);
        self.print_failures(width);
    }

    fn print_failures(&self, width: usize) {
        let room = width.saturating_sub(12).max(40);
        for r in self.failures.values() {
            let vars: Vec<String> = r
                .vars
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    format!("{k}={}", truncate(&v, 30))
                })
                .collect();
            let title = format!("{} × {} [{}]", r.prompt, r.provider, vars.join(", "));
            println!("\n{} {}", paint("FAIL", "1;31"), truncate(&title, room));
            if let Some(e) = &r.error {
                println!("  error: {}", truncate(e, room));
                continue;
            }
            if let Some(o) = &r.output {
                println!("  output: {}", truncate(&o.replace('\n', " "), room));
            }
            for a in r.assertions.iter().filter(|a| !a.grade.pass) {
                println!("  {}: {}", a.kind, truncate(&a.grade.reason, room));
            }
        }
        if self.failed > self.failures.len() {
            println!(
                "\n… and {} more failing cases (-o report.html or `incant runs show` for all)",
                self.failed - self.failures.len()
            );
        }
    }
}

/// Columns of the terminal ($COLUMNS, else 100).
pub(super) fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(100)
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(index: usize, pass: bool) -> CaseResult {
        CaseResult {
            index,
            prompt: "p".into(),
            provider: "echo".into(),
            description: None,
            vars: Default::default(),
            repeat: 0,
            rendered: None,
            output: Some("x".into()),
            error: None,
            pass,
            score: f64::from(u8::from(pass)),
            assertions: vec![],
            latency_ms: 2.0,
            usage: None,
            cost: None,
            cached: false,
        }
    }

    #[test]
    fn keeps_totals_and_only_the_first_failures() {
        let mut t = Tally::default();
        for i in (0..1000).rev() {
            t.add(&case(i, i % 3 != 0));
        }
        assert_eq!((t.cases, t.failed), (1000, 334));
        let kept: Vec<usize> = t.failures.keys().copied().collect();
        assert_eq!(kept, (0..10).map(|i| i * 3).collect::<Vec<_>>());
        let c = t.cells[&("p".to_string(), "echo".to_string())];
        assert_eq!((c.cases, c.passed), (1000, 666));
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
