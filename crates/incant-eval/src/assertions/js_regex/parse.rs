//! JavaScript pattern syntax (ECMAScript 2023 with Annex B, no flags) into a [`Node`] tree.
//!
//! The pattern is read as UTF-16 code units, as a JavaScript engine reads it without the `u`
//! flag: an emoji in a pattern is two units, and `[😀]` is a class of two surrogates. Annex B
//! is the grammar browsers and Node use for such patterns: `]`, `{` and `}` may stand for
//! themselves, `\8` is the digit 8, `\12` is an octal escape when there are fewer than 12
//! groups, `\c` without a letter is a backslash, and `[\d-z]` is a class of three parts.
//! Error messages are V8's, so a reason reads like promptfoo's.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Matches the empty string.
    Empty,
    /// One code unit.
    Unit(u16),
    /// One code unit from a set of inclusive ranges (sorted, disjoint).
    Set(Vec<(u16, u16)>),
    /// `^`: the start of the input (no multiline flag).
    Start,
    /// `$`: the very end of the input.
    End,
    /// `\b` (or `\B` when `negate`), with ASCII word characters.
    WordBoundary { negate: bool },
    /// `(?=)`, `(?!)`, `(?<=)`, `(?<!)`.
    Look {
        behind: bool,
        negate: bool,
        node: Box<Node>,
    },
    /// `( )` (capture number, from 1) or `(?: )`.
    Group {
        index: Option<usize>,
        node: Box<Node>,
    },
    /// `\1`, `\k<name>`.
    Backref(usize),
    /// `\k<name>` before names are resolved (never in a finished tree).
    NamedBackref(Vec<u16>),
    /// A sequence.
    Concat(Vec<Node>),
    /// Alternatives, the first preferred.
    Alt(Vec<Node>),
    /// A quantified atom; `groups` are the capture numbers inside it, reset on each
    /// iteration.
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        groups: std::ops::Range<usize>,
    },
}

/// The parsed pattern and how many capturing groups it has.
pub(super) struct Parsed {
    pub node: Node,
    pub groups: usize,
}

/// Parses `pattern` as `new RegExp(pattern)` would; the error is V8's message without the
/// `Invalid regular expression: /…/: ` prefix.
pub(super) fn parse(pattern: &[u16]) -> Result<Parsed, &'static str> {
    let (groups, named) = scan_groups(pattern);
    let mut p = Parser {
        p: pattern,
        i: 0,
        total_groups: groups,
        named,
        next_group: 1,
        names: Vec::new(),
    };
    let node = p.disjunction()?;
    if p.i < pattern.len() {
        // disjunction() stops only at `)` or the end.
        return Err("Unmatched ')'");
    }
    Ok(Parsed {
        node: resolve(node, &p.names)?,
        groups,
    })
}

/// Replaces named back-references by group numbers, once every group is known (a
/// reference may come before its group).
fn resolve(node: Node, names: &[(Vec<u16>, usize)]) -> Result<Node, &'static str> {
    let r = |n: Box<Node>| resolve(*n, names).map(Box::new);
    let all = |v: Vec<Node>| -> Result<Vec<Node>, &'static str> {
        v.into_iter().map(|n| resolve(n, names)).collect()
    };
    Ok(match node {
        Node::NamedBackref(name) => Node::Backref(
            names
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, i)| *i)
                .ok_or("Invalid named capture referenced")?,
        ),
        Node::Look {
            behind,
            negate,
            node,
        } => Node::Look {
            behind,
            negate,
            node: r(node)?,
        },
        Node::Group { index, node } => Node::Group {
            index,
            node: r(node)?,
        },
        Node::Concat(v) => Node::Concat(all(v)?),
        Node::Alt(v) => Node::Alt(all(v)?),
        Node::Repeat {
            node,
            min,
            max,
            greedy,
            groups,
        } => Node::Repeat {
            node: r(node)?,
            min,
            max,
            greedy,
            groups,
        },
        other => other,
    })
}

/// Counts capturing groups and tells whether any is named, before parsing: a decimal
/// escape is a back-reference only up to the total count, and `\k` is special only in
/// patterns with named groups (both as V8's pre-scan decides).
fn scan_groups(p: &[u16]) -> (usize, bool) {
    let (mut count, mut named) = (0, false);
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            BACKSLASH => i += 1,
            LBRACKET => {
                i += 1;
                while i < p.len() && p[i] != RBRACKET {
                    if p[i] == BACKSLASH {
                        i += 1;
                    }
                    i += 1;
                }
            }
            LPAREN => {
                if p.get(i + 1) != Some(&QUESTION) {
                    count += 1;
                } else if p.get(i + 2) == Some(&LT)
                    && !matches!(p.get(i + 3), Some(&EQ) | Some(&BANG))
                {
                    count += 1;
                    named = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (count, named)
}

const BACKSLASH: u16 = b'\\' as u16;
const LBRACKET: u16 = b'[' as u16;
const RBRACKET: u16 = b']' as u16;
const LPAREN: u16 = b'(' as u16;
const RPAREN: u16 = b')' as u16;
const QUESTION: u16 = b'?' as u16;
const LT: u16 = b'<' as u16;
const GT: u16 = b'>' as u16;
const EQ: u16 = b'=' as u16;
const BANG: u16 = b'!' as u16;
const DASH: u16 = b'-' as u16;
const LBRACE: u16 = b'{' as u16;

/// The code unit of an ASCII character.
const fn u(c: char) -> u16 {
    c as u16
}

/// `\d`, `\w`, `\s` and what `.` excludes, as code-unit ranges.
pub(super) const DIGIT: &[(u16, u16)] = &[(u('0'), u('9'))];
pub(super) const WORD: &[(u16, u16)] = &[
    (u('0'), u('9')),
    (u('A'), u('Z')),
    (u('_'), u('_')),
    (u('a'), u('z')),
];
/// JavaScript's WhiteSpace and LineTerminator characters.
pub(super) const SPACE: &[(u16, u16)] = &[
    (0x09, 0x0D),
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
];
const LINE_TERMINATORS: &[(u16, u16)] = &[(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)];

/// Sorted, merged ranges.
fn normalize(mut r: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    r.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(r.len());
    for (a, b) in r {
        match out.last_mut() {
            Some((_, hi)) if u32::from(a) <= u32::from(*hi) + 1 => *hi = (*hi).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The code units not in `r` (which is normalized).
fn complement(r: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(a, b) in r {
        if u32::from(a) > next {
            out.push((next as u16, a - 1));
        }
        next = u32::from(b) + 1;
    }
    if next <= 0xFFFF {
        out.push((next as u16, 0xFFFF));
    }
    out
}

/// A class escape's set: `\d \D \s \S \w \W`.
fn class_escape(c: u16) -> Option<Vec<(u16, u16)>> {
    let (base, negate) = match c {
        0x64 => (DIGIT, false), // d
        0x44 => (DIGIT, true),  // D
        0x73 => (SPACE, false), // s
        0x53 => (SPACE, true),  // S
        0x77 => (WORD, false),  // w
        0x57 => (WORD, true),   // W
        _ => return None,
    };
    Some(if negate {
        complement(base)
    } else {
        base.to_vec()
    })
}

/// What `.` matches: any unit but a line terminator.
pub(super) fn dot() -> Vec<(u16, u16)> {
    complement(LINE_TERMINATORS)
}

/// One element of a character class.
enum ClassAtom {
    Unit(u16),
    Set(Vec<(u16, u16)>),
}

struct Parser<'a> {
    p: &'a [u16],
    i: usize,
    total_groups: usize,
    named: bool,
    next_group: usize,
    names: Vec<(Vec<u16>, usize)>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u16> {
        self.p.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u16> {
        self.p.get(self.i + k).copied()
    }

    fn eat(&mut self, c: u16) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn disjunction(&mut self) -> Result<Node, &'static str> {
        let mut alts = vec![self.alternative()?];
        while self.eat(u('|')) {
            alts.push(self.alternative()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            Node::Alt(alts)
        })
    }

    fn alternative(&mut self) -> Result<Node, &'static str> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == u('|') || c == RPAREN {
                break;
            }
            items.push(self.term()?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().expect("one"),
            _ => Node::Concat(items),
        })
    }

    fn term(&mut self) -> Result<Node, &'static str> {
        let c = self.peek().expect("caller checked");
        let first_group = self.next_group;
        // (atom, whether a quantifier may follow it)
        let (atom, quantifiable) = match c {
            0x5E => {
                self.i += 1;
                (Node::Start, false)
            }
            0x24 => {
                self.i += 1;
                (Node::End, false)
            }
            BACKSLASH if matches!(self.peek_at(1), Some(0x62 | 0x42)) => {
                let negate = self.peek_at(1) == Some(0x42);
                self.i += 2;
                (Node::WordBoundary { negate }, false)
            }
            LPAREN => self.group()?,
            0x2E => {
                self.i += 1;
                (Node::Set(dot()), true)
            }
            LBRACKET => (self.class()?, true),
            0x2A | 0x2B | QUESTION => return Err("Nothing to repeat"),
            LBRACE => {
                if self.quantifier_at(self.i).is_some() {
                    return Err("Nothing to repeat");
                }
                self.i += 1;
                (Node::Unit(LBRACE), true)
            }
            BACKSLASH => (self.atom_escape()?, true),
            _ => {
                self.i += 1;
                (Node::Unit(c), true)
            }
        };
        let Some((min, max, end)) = self.quantifier_at(self.i) else {
            return Ok(atom);
        };
        if !quantifiable {
            return Err(match atom {
                Node::Look { .. } => "Invalid quantifier",
                _ => "Nothing to repeat",
            });
        }
        self.i = end;
        if let Some(max) = max {
            if min > max {
                return Err("numbers out of order in {} quantifier");
            }
        }
        let greedy = !self.eat(QUESTION);
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
            groups: first_group..self.next_group,
        })
    }

    /// A quantifier starting at `i`: (min, max, index after it). A `{` that does not form
    /// `{n}`, `{n,}` or `{n,m}` is no quantifier (Annex B: it is a literal brace).
    fn quantifier_at(&self, i: usize) -> Option<(u32, Option<u32>, usize)> {
        match self.p.get(i).copied()? {
            0x2A => Some((0, None, i + 1)),
            0x2B => Some((1, None, i + 1)),
            QUESTION => Some((0, Some(1), i + 1)),
            LBRACE => {
                let (min, mut j) = self.number_at(i + 1)?;
                let max = if self.p.get(j) == Some(&u(',')) {
                    j += 1;
                    match self.number_at(j) {
                        Some((m, k)) => {
                            j = k;
                            Some(m)
                        }
                        None => None,
                    }
                } else {
                    Some(min)
                };
                (self.p.get(j) == Some(&u('}'))).then_some((min, max, j + 1))
            }
            _ => None,
        }
    }

    /// Decimal digits at `i` (saturating): (value, index after them).
    fn number_at(&self, mut i: usize) -> Option<(u32, usize)> {
        let start = i;
        let mut n: u32 = 0;
        while let Some(d) = self.p.get(i).filter(|d| is_digit(**d)) {
            n = n.saturating_mul(10).saturating_add(u32::from(d - u('0')));
            i += 1;
        }
        (i > start).then_some((n, i))
    }

    fn group(&mut self) -> Result<(Node, bool), &'static str> {
        self.i += 1; // (
        let mut index = None;
        let mut look = None;
        if self.eat(QUESTION) {
            match (self.peek(), self.peek_at(1)) {
                (Some(0x3A), _) => self.i += 1, // ?:
                (Some(EQ), _) => {
                    self.i += 1;
                    look = Some((false, false));
                }
                (Some(BANG), _) => {
                    self.i += 1;
                    look = Some((false, true));
                }
                (Some(LT), Some(EQ)) => {
                    self.i += 2;
                    look = Some((true, false));
                }
                (Some(LT), Some(BANG)) => {
                    self.i += 2;
                    look = Some((true, true));
                }
                (Some(LT), _) => {
                    self.i += 1;
                    let name = self.group_name()?;
                    if self.names.iter().any(|(n, _)| *n == name) {
                        return Err("Duplicate capture group name");
                    }
                    self.names.push((name, self.next_group));
                    index = Some(self.next_group);
                    self.next_group += 1;
                }
                _ => return Err("Invalid group"),
            }
        } else {
            index = Some(self.next_group);
            self.next_group += 1;
        }
        let node = Box::new(self.disjunction()?);
        if !self.eat(RPAREN) {
            return Err("Unterminated group");
        }
        Ok(match look {
            Some((behind, negate)) => (
                Node::Look {
                    behind,
                    negate,
                    node,
                },
                !behind,
            ),
            None => (Node::Group { index, node }, true),
        })
    }

    /// `name>` after `(?<` or `\k<`: an identifier (ASCII letters, digits, `$`, `_`, and
    /// non-ASCII letters and digits, surrogate pairs decoded).
    fn group_name(&mut self) -> Result<Vec<u16>, &'static str> {
        let start = self.i;
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("Invalid capture group name");
            };
            if c == GT {
                break;
            }
            let (ch, len) = match c {
                0xD800..=0xDBFF => match self.peek_at(1) {
                    Some(lo @ 0xDC00..=0xDFFF) => {
                        (char::decode_utf16([c, lo]).next().and_then(Result::ok), 2)
                    }
                    _ => (None, 1),
                },
                _ => (char::from_u32(u32::from(c)), 1),
            };
            let ok = ch.is_some_and(|ch| {
                ch == '$'
                    || ch == '_'
                    || ch.is_ascii_alphabetic()
                    || (!ch.is_ascii() && ch.is_alphabetic())
                    || (!first
                        && (ch.is_ascii_digit()
                            || ch == '\u{200C}'
                            || ch == '\u{200D}'
                            || (!ch.is_ascii() && ch.is_alphanumeric())))
            });
            if !ok {
                return Err("Invalid capture group name");
            }
            first = false;
            self.i += len;
        }
        if self.i == start {
            return Err("Invalid capture group name");
        }
        let name = self.p[start..self.i].to_vec();
        self.i += 1; // >
        Ok(name)
    }

    /// After `\` outside a class.
    fn atom_escape(&mut self) -> Result<Node, &'static str> {
        let Some(c) = self.peek_at(1) else {
            return Err("\\ at end of pattern");
        };
        if let Some(set) = class_escape(c) {
            self.i += 2;
            return Ok(Node::Set(set));
        }
        if c == u('k') && self.named {
            self.i += 2;
            if !self.eat(LT) {
                return Err("Invalid named reference");
            }
            return Ok(Node::NamedBackref(self.group_name()?));
        }
        if (u('1')..=u('9')).contains(&c) {
            let (n, end) = self.number_at(self.i + 1).expect("a digit");
            if (n as usize) <= self.total_groups {
                self.i = end;
                return Ok(Node::Backref(n as usize));
            }
        }
        if c == u('c') && !self.peek_at(2).is_some_and(is_ascii_letter) {
            // `\c` without a control letter: a backslash; the `c` is read next.
            self.i += 1;
            return Ok(Node::Unit(BACKSLASH));
        }
        self.i += 1;
        Ok(Node::Unit(self.character_escape(false)?))
    }

    /// A character escape at `self.i` (just after the `\`), shared by atoms and classes.
    fn character_escape(&mut self, in_class: bool) -> Result<u16, &'static str> {
        let c = self.peek().expect("caller checked");
        self.i += 1;
        Ok(match c {
            0x66 => 0x0C, // f
            0x6E => 0x0A, // n
            0x72 => 0x0D, // r
            0x74 => 0x09, // t
            0x76 => 0x0B, // v
            0x63 => {
                // c + letter (a class also takes a digit or `_`); callers handle the rest
                let l = self.peek().expect("caller checked");
                self.i += 1;
                l % 32
            }
            0x30..=0x37 => {
                // `\0` alone is NUL; otherwise a legacy octal escape of up to three digits
                // (at most \377).
                let mut v = c - u('0');
                if let Some(d) = self.peek().filter(|d| is_octal(*d)) {
                    v = v * 8 + (d - u('0'));
                    self.i += 1;
                    if c <= u('3') {
                        if let Some(d) = self.peek().filter(|d| is_octal(*d)) {
                            v = v * 8 + (d - u('0'));
                            self.i += 1;
                        }
                    }
                }
                v
            }
            0x78 => self.hex(2).unwrap_or(c), // x
            0x75 => self.hex(4).unwrap_or(c), // u
            0x6B if self.named => {
                // k: in a pattern with named groups only `\k<name>`, and never in a class
                return Err(if in_class {
                    "Invalid escape"
                } else {
                    "Invalid named reference"
                });
            }
            _ => c,
        })
    }

    /// `n` hex digits at `self.i`, consumed only when all are there.
    fn hex(&mut self, n: usize) -> Option<u16> {
        let digits = self.p.get(self.i..self.i + n)?;
        let mut v: u16 = 0;
        for &d in digits {
            v = v * 16 + char::from_u32(u32::from(d))?.to_digit(16)? as u16;
        }
        self.i += n;
        Some(v)
    }

    fn class(&mut self) -> Result<Node, &'static str> {
        self.i += 1; // [
        let negate = self.eat(u('^'));
        let mut ranges = Vec::new();
        let push = |ranges: &mut Vec<(u16, u16)>, a: ClassAtom| match a {
            ClassAtom::Unit(c) => ranges.push((c, c)),
            ClassAtom::Set(s) => ranges.extend(s),
        };
        loop {
            match self.peek() {
                None => return Err("Unterminated character class"),
                Some(RBRACKET) => {
                    self.i += 1;
                    break;
                }
                Some(_) => {}
            }
            let a = self.class_atom()?;
            if self.peek() == Some(DASH) && self.peek_at(1).is_some_and(|c| c != RBRACKET) {
                self.i += 1;
                let b = self.class_atom()?;
                match (a, b) {
                    (ClassAtom::Unit(x), ClassAtom::Unit(y)) => {
                        if x > y {
                            return Err("Range out of order in character class");
                        }
                        ranges.push((x, y));
                    }
                    // Annex B: a class escape on either side makes the dash literal.
                    (a, b) => {
                        push(&mut ranges, a);
                        ranges.push((DASH, DASH));
                        push(&mut ranges, b);
                    }
                }
            } else {
                push(&mut ranges, a);
            }
        }
        let ranges = normalize(ranges);
        Ok(Node::Set(if negate { complement(&ranges) } else { ranges }))
    }

    fn class_atom(&mut self) -> Result<ClassAtom, &'static str> {
        let c = self.peek().expect("caller checked");
        if c != BACKSLASH {
            self.i += 1;
            return Ok(ClassAtom::Unit(c));
        }
        let Some(e) = self.peek_at(1) else {
            return Err("\\ at end of pattern");
        };
        if let Some(set) = class_escape(e) {
            self.i += 2;
            return Ok(ClassAtom::Set(set));
        }
        match e {
            0x62 => {
                // \b: backspace
                self.i += 2;
                Ok(ClassAtom::Unit(0x08))
            }
            0x63 if !self
                .peek_at(2)
                .is_some_and(|l| is_ascii_letter(l) || is_digit(l) || l == u('_')) =>
            {
                self.i += 1;
                Ok(ClassAtom::Unit(BACKSLASH))
            }
            _ => {
                self.i += 1;
                Ok(ClassAtom::Unit(self.character_escape(true)?))
            }
        }
    }
}

fn is_digit(c: u16) -> bool {
    (u('0')..=u('9')).contains(&c)
}

fn is_octal(c: u16) -> bool {
    (u('0')..=u('7')).contains(&c)
}

fn is_ascii_letter(c: u16) -> bool {
    (u('a')..=u('z')).contains(&c) || (u('A')..=u('Z')).contains(&c)
}
