//! Prompt editing and alternation: A1111's schedule syntax as a tree, and the prompt text at
//! each sampling step.
//!
//! A1111 parses `[from:to:when]`, `[to:when]`, `[from::when]` and `[a|b|c]` with a lark
//! grammar and, for every step where something changes, renders the prompt that the model is
//! conditioned on up to that step. This module is a recursive-descent parser for the same
//! grammar and the same rendering:
//!
//! - emphasis brackets `(x)`, `(x:y)`, `[x]` are kept as written (the attention parser reads
//!   them later), as are escapes;
//! - `when` written with a `.` is a fraction of the steps, otherwise a step (A1111's current
//!   scheduling, not its `use_old_scheduling` option nor hires-fix steps); it is truncated and
//!   capped at the step count, a switch before step 1 adds no step, and the `from` text is used
//!   while `step <= when`;
//! - alternation adds every step and picks branch `(step - 1) mod n`; a branch may be empty;
//! - outside any construct a bracket or colon that fits no rule is literal text, and a prompt
//!   the grammar rejects (a `|` outside brackets, a trailing lone backslash) is used unchanged
//!   for every step.

use crate::py_space;

/// One node of the schedule syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Plain text and whitespace, escapes kept as written.
    Text(String),
    /// A bracket or colon outside any construct, kept as written.
    Literal(char),
    /// `(body)`, `(body:weight)` or `[body]`; rendered as written.
    Emphasis {
        square: bool,
        body: Vec<Node>,
        weight: Option<Vec<Node>>,
    },
    /// `[from:to:when]`; `from` is `None` for `[to:when]`.
    Edit {
        from: Option<Vec<Node>>,
        to: Vec<Node>,
        /// The number as written.
        when: String,
    },
    /// `[a|b|...]`.
    Alternate(Vec<Vec<Node>>),
}

/// A prompt that A1111's schedule grammar rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prompt syntax: unexpected {found:?} at column {column}")]
pub struct ScheduleError {
    /// 1-based column in characters, as an editor shows it.
    pub column: usize,
    pub found: char,
}

struct Parser<'a> {
    s: &'a str,
}

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s[i..].chars().next()
    }

    /// Items of a `prompt` from `i`, as many as parse, and where they stop.
    fn prompt(&self, mut i: usize) -> (Vec<Node>, usize) {
        let mut nodes = Vec::new();
        while let Some((node, j)) = self.item(i) {
            nodes.push(node);
            i = j;
        }
        (nodes, i)
    }

    fn item(&self, i: usize) -> Option<(Node, usize)> {
        match self.at(i)? {
            '(' => self.round(i + 1),
            '[' => self.square(i + 1),
            ')' | ']' | ':' | '|' => None,
            _ => self.plain(i),
        }
    }

    fn plain(&self, start: usize) -> Option<(Node, usize)> {
        let mut chars = self.s[start..].char_indices().peekable();
        let mut end = start;
        while let Some((off, c)) = chars.next() {
            match c {
                '[' | ']' | '(' | ')' | ':' | '|' => break,
                '\\' => match chars.peek() {
                    Some(&(next_off, e)) if e != '\n' => {
                        chars.next();
                        end = start + next_off + e.len_utf8();
                    }
                    _ => break,
                },
                _ => end = start + off + c.len_utf8(),
            }
        }
        (end > start).then(|| (Node::Text(self.s[start..end].to_string()), end))
    }

    fn round(&self, i: usize) -> Option<(Node, usize)> {
        let (body, j) = self.prompt(i);
        match self.at(j)? {
            ')' => Some((
                Node::Emphasis {
                    square: false,
                    body,
                    weight: None,
                },
                j + 1,
            )),
            ':' => {
                let (weight, k) = self.prompt(j + 1);
                (self.at(k)? == ')').then_some((
                    Node::Emphasis {
                        square: false,
                        body,
                        weight: Some(weight),
                    },
                    k + 1,
                ))
            }
            _ => None,
        }
    }

    fn square(&self, i: usize) -> Option<(Node, usize)> {
        let (first, j) = self.prompt(i);
        match self.at(j)? {
            ']' => Some((
                Node::Emphasis {
                    square: true,
                    body: first,
                    weight: None,
                },
                j + 1,
            )),
            '|' => {
                let mut alternatives = vec![first];
                let mut k = j;
                while self.at(k) == Some('|') {
                    let (next, after) = self.prompt(k + 1);
                    alternatives.push(next);
                    k = after;
                }
                (self.at(k)? == ']').then_some((Node::Alternate(alternatives), k + 1))
            }
            ':' => {
                if let Some((when, end)) = self.when(j + 1) {
                    return Some((
                        Node::Edit {
                            from: None,
                            to: first,
                            when,
                        },
                        end,
                    ));
                }
                let (to, k) = self.prompt(j + 1);
                if self.at(k)? != ':' {
                    return None;
                }
                let (when, end) = self.when(k + 1)?;
                Some((
                    Node::Edit {
                        from: Some(first),
                        to,
                        when,
                    },
                    end,
                ))
            }
            _ => None,
        }
    }

    /// `[WHITESPACE] NUMBER [WHITESPACE] "]"` from `i`: the number and the position after `]`.
    fn when(&self, i: usize) -> Option<(String, usize)> {
        let rest = &self.s[i..];
        let number = rest.trim_start_matches(py_space);
        let close = number.find(']')?;
        let text = number[..close].trim_end_matches(py_space);
        is_signed_number(text)
            .then(|| (text.to_string(), i + rest.len() - number.len() + close + 1))
    }
}

/// lark's `SIGNED_NUMBER`: `[+-]? (INT EXP | INT "." INT? EXP? | "." INT EXP? | INT)`.
fn is_signed_number(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(e) => (&body[..e], Some(&body[e + 1..])),
        None => (body, None),
    };
    if let Some(exp) = exponent {
        if !digits(exp.strip_prefix(['+', '-']).unwrap_or(exp)) {
            return false;
        }
    }
    match mantissa.split_once('.') {
        None => digits(mantissa),
        Some((int, frac)) => {
            (digits(int) && (frac.is_empty() || digits(frac))) || (int.is_empty() && digits(frac))
        }
    }
}

/// Parses `prompt` with A1111's schedule grammar.
pub fn parse_schedule(prompt: &str) -> Result<Vec<Node>, ScheduleError> {
    let parser = Parser { s: prompt };
    let mut nodes = Vec::new();
    let mut i = 0;
    while let Some(c) = parser.at(i) {
        if let Some((node, j)) = parser.item(i) {
            // Where `(x):` or `[x]:` at the top level could also be read as literal brackets,
            // lark's Earley parser mostly picks the literal reading, so an edit inside such a
            // group is not one. A heuristic found from the reference data, not lark's rule.
            let literal = matches!(node, Node::Emphasis { weight: None, .. })
                && parser.at(j) == Some(':')
                && !prompt[i..j].contains('|');
            if literal {
                nodes.push(Node::Text(prompt[i..j].to_string()));
            } else {
                nodes.push(node);
            }
            i = j;
        } else if matches!(c, '[' | ']' | '(' | ')' | ':') {
            nodes.push(Node::Literal(c));
            i += 1;
        } else {
            return Err(ScheduleError {
                column: prompt[..i].chars().count() + 1,
                found: c,
            });
        }
    }
    Ok(nodes)
}

/// The step at which an edit switches, as A1111 computes it.
fn edit_step(when: &str, steps: i64) -> i64 {
    let mut value: f64 = when.parse().unwrap_or(0.0);
    if when.contains('.') {
        value *= steps as f64;
    }
    (value.trunc() as i64).min(steps)
}

fn collect_steps(nodes: &[Node], steps: i64, out: &mut Vec<i64>) {
    for node in nodes {
        match node {
            Node::Text(_) | Node::Literal(_) => {}
            Node::Emphasis { body, weight, .. } => {
                collect_steps(body, steps, out);
                if let Some(weight) = weight {
                    collect_steps(weight, steps, out);
                }
            }
            Node::Edit { from, to, when } => {
                if let Some(from) = from {
                    collect_steps(from, steps, out);
                }
                collect_steps(to, steps, out);
                let step = edit_step(when, steps);
                if step >= 1 {
                    out.push(step);
                }
            }
            Node::Alternate(alternatives) => {
                for alternative in alternatives {
                    collect_steps(alternative, steps, out);
                }
                out.extend(1..=steps);
            }
        }
    }
}

fn render(nodes: &[Node], step: i64, steps: i64, out: &mut String) {
    for node in nodes {
        render_node(node, step, steps, out);
    }
}

fn render_node(node: &Node, step: i64, steps: i64, out: &mut String) {
    match node {
        Node::Text(text) => out.push_str(text),
        Node::Literal(c) => out.push(*c),
        Node::Emphasis {
            square,
            body,
            weight,
        } => {
            out.push(if *square { '[' } else { '(' });
            render(body, step, steps, out);
            if let Some(weight) = weight {
                out.push(':');
                render(weight, step, steps, out);
            }
            out.push(if *square { ']' } else { ')' });
        }
        Node::Edit { from, to, when } => {
            if step <= edit_step(when, steps) {
                if let Some(from) = from {
                    render(from, step, steps, out);
                }
            } else {
                render(to, step, steps, out);
            }
        }
        Node::Alternate(alternatives) => {
            let n = alternatives.len() as i64;
            render(
                &alternatives[(step - 1).rem_euclid(n) as usize],
                step,
                steps,
                out,
            );
        }
    }
}

/// A1111's `get_learned_conditioning_prompt_schedules` for one prompt: `(end step, text)`
/// pairs, the text being used up to and including its step.
pub fn prompt_schedules(prompt: &str, steps: i64) -> Vec<(i64, String)> {
    let Ok(nodes) = parse_schedule(prompt) else {
        return vec![(steps, prompt.to_string())];
    };
    let mut at = vec![steps];
    collect_steps(&nodes, steps, &mut at);
    at.sort_unstable();
    at.dedup();
    at.into_iter()
        .map(|step| {
            let mut text = String::new();
            render(&nodes, step, steps, &mut text);
            (step, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(prompt: &str) -> Vec<(i64, String)> {
        prompt_schedules(prompt, 10)
    }

    fn v(pairs: &[(i64, &str)]) -> Vec<(i64, String)> {
        pairs.iter().map(|(s, t)| (*s, t.to_string())).collect()
    }

    #[test]
    fn a1111_docstring_examples() {
        assert_eq!(g("test"), v(&[(10, "test")]));
        assert_eq!(g("a [b:3]"), v(&[(3, "a "), (10, "a b")]));
        assert_eq!(g("a [b: 3]"), v(&[(3, "a "), (10, "a b")]));
        assert_eq!(g("a [[[b]]:2]"), v(&[(2, "a "), (10, "a [[b]]")]));
        assert_eq!(g("[(a:2):3]"), v(&[(3, ""), (10, "(a:2)")]));
        assert_eq!(g("a [b : c : 1] d"), v(&[(1, "a b  d"), (10, "a  c  d")]));
        assert_eq!(
            g("a[b:[c:d:2]:1]e"),
            v(&[(1, "abe"), (2, "ace"), (10, "ade")])
        );
        assert_eq!(g("a [unbalanced"), v(&[(10, "a [unbalanced")]));
        assert_eq!(g("a [b:.5] c"), v(&[(5, "a  c"), (10, "a b c")]));
        // A1111's docstring shows an older result here; its grammar now rejects the prompt.
        assert_eq!(g("a [{b|d{:.5] c"), v(&[(10, "a [{b|d{:.5] c")]));
        assert_eq!(
            g("((a][:b:c [d:3]"),
            v(&[(3, "((a][:b:c "), (10, "((a][:b:c d")])
        );
        let alternating: Vec<(i64, String)> = (1..=10)
            .map(|s| (s, if s % 2 == 1 { "a" } else { "(b:1.1)" }.to_string()))
            .collect();
        assert_eq!(g("[a|(b:1.1)]"), alternating);
        let female: Vec<(i64, String)> = (1..=10)
            .map(|s| (s, if s % 4 == 1 { "female" } else { "male" }.to_string()))
            .collect();
        assert_eq!(g("[fe|||]male"), female);
        assert_eq!(g("a [b:1.5] c"), v(&[(10, "a  c")]));
        assert_eq!(g("a [b:0] c"), v(&[(10, "a b c")]));
    }

    #[test]
    fn group_before_a_top_level_colon_is_literal_as_lark_resolves_it() {
        assert_eq!(g("a ([b::0.5]):1.2"), v(&[(10, "a ([b::0.5]):1.2")]));
        assert_eq!(g("[([b:5])"), v(&[(5, "[()"), (10, "[(b)")]));
    }

    #[test]
    fn rejected_prompt_reports_the_column() {
        let err = parse_schedule("a|b").unwrap_err();
        assert_eq!((err.column, err.found), (2, '|'));
        assert_eq!(g("a|b"), v(&[(10, "a|b")]));
    }
}
