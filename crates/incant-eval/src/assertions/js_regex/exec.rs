//! A backtracking matcher over UTF-16 code units, following the ECMAScript specification's
//! matcher semantics step by step: alternatives and quantifiers in the order the spec tries
//! them, captures inside a quantified atom reset on every iteration, an optional iteration
//! that matches the empty string fails (so `(a*)*` ends), lookarounds are atomic, lookbehind
//! matches right to left, and a back-reference to a group that has not matched matches
//! the empty string.
//!
//! The [`Node`] tree is compiled to a small instruction list; the matcher keeps an explicit
//! stack of choice points and an undo log for registers (captures, loop counters), so its
//! depth does not grow with the input. A quantified single unit (`.*`, `\d+`) matches its
//! run in one go and backtracks one unit at a time, skipping lengths that the literal after
//! it cannot follow; a pattern starting with `^` is tried at position 0 only. A step budget
//! stops patterns that would backtrack for too long.

use super::parse::{Node, WORD};

/// Registers that hold "no position".
const UNSET: usize = usize::MAX;

#[derive(Debug, Clone)]
enum Inst {
    /// One code unit, read forwards or (in a lookbehind) backwards.
    Unit {
        unit: u16,
        back: bool,
    },
    /// One code unit from a set.
    Set {
        set: usize,
        back: bool,
    },
    Start,
    End,
    WordBoundary {
        negate: bool,
    },
    /// Entering capture group `group`: remember where.
    Open {
        group: usize,
    },
    /// Leaving it: the capture is set, both ends at once (as the spec does).
    Close {
        group: usize,
        back: bool,
    },
    /// Try `first`; on failure come back and try `second`.
    Split {
        first: usize,
        second: usize,
    },
    Jmp(usize),
    Backref {
        group: usize,
        back: bool,
    },
    /// A lookaround whose body starts at the next instruction and ends with `LookEnd` at
    /// `end`.
    Look {
        negate: bool,
        end: usize,
    },
    LookEnd,
    /// Loop counter := 0.
    RepInit {
        reg: usize,
    },
    /// A quantified single unit (`.*`, `\d+`, `a{2,}?`): runs of it are matched in one go,
    /// and backtracking gives back (greedy) or takes (lazy) one unit at a time.
    SetRepeat {
        set: usize,
        back: bool,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
    /// Decide whether to run another iteration (at `body`) or leave (to `exit`).
    RepLoop {
        reg: usize,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        body: usize,
        exit: usize,
    },
    /// Loop start := position; reset the captures in `caps` (register range).
    IterStart {
        reg: usize,
        caps: std::ops::Range<usize>,
    },
    /// End of an iteration: fail if an optional iteration matched nothing, else count it.
    IterEnd {
        reg: usize,
        min: u32,
        repeat: usize,
    },
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(super) struct Program {
    insts: Vec<Inst>,
    sets: Vec<Vec<(u16, u16)>>,
    /// Captures take registers `2g` and `2g + 1`, then one per group for where it was
    /// entered, then two per loop (counter, start).
    registers: usize,
    groups: usize,
}

/// Compiles a pattern with `groups` capturing groups.
pub(super) fn compile(node: &Node, groups: usize) -> Program {
    let mut c = Compiler {
        insts: Vec::new(),
        sets: Vec::new(),
        registers: 3 * (groups + 1),
    };
    c.node(node, false);
    c.insts.push(Inst::Match);
    Program {
        insts: c.insts,
        sets: c.sets,
        registers: c.registers,
        groups,
    }
}

struct Compiler {
    insts: Vec<Inst>,
    sets: Vec<Vec<(u16, u16)>>,
    registers: usize,
}

impl Compiler {
    fn node(&mut self, node: &Node, back: bool) {
        match node {
            Node::Empty => {}
            Node::Unit(unit) => self.insts.push(Inst::Unit { unit: *unit, back }),
            Node::Set(ranges) => {
                self.sets.push(ranges.clone());
                let set = self.sets.len() - 1;
                self.insts.push(Inst::Set { set, back });
            }
            Node::Start => self.insts.push(Inst::Start),
            Node::End => self.insts.push(Inst::End),
            Node::WordBoundary { negate } => {
                self.insts.push(Inst::WordBoundary { negate: *negate })
            }
            Node::Look {
                behind,
                negate,
                node,
            } => {
                let at = self.insts.len();
                self.insts.push(Inst::Jmp(0)); // placeholder
                self.node(node, *behind);
                let end = self.insts.len();
                self.insts.push(Inst::LookEnd);
                self.insts[at] = Inst::Look {
                    negate: *negate,
                    end,
                };
            }
            Node::Group { index, node } => match index {
                None => self.node(node, back),
                Some(g) => {
                    self.insts.push(Inst::Open { group: *g });
                    self.node(node, back);
                    self.insts.push(Inst::Close { group: *g, back });
                }
            },
            Node::Backref(group) => self.insts.push(Inst::Backref {
                group: *group,
                back,
            }),
            Node::Concat(items) => {
                if back {
                    items.iter().rev().for_each(|n| self.node(n, back));
                } else {
                    items.iter().for_each(|n| self.node(n, back));
                }
            }
            Node::Alt(alts) => {
                let mut jumps = Vec::new();
                for (k, alt) in alts.iter().enumerate() {
                    if k + 1 == alts.len() {
                        self.node(alt, back);
                        break;
                    }
                    let split = self.insts.len();
                    self.insts.push(Inst::Jmp(0)); // placeholder
                    self.node(alt, back);
                    jumps.push(self.insts.len());
                    self.insts.push(Inst::Jmp(0));
                    self.insts[split] = Inst::Split {
                        first: split + 1,
                        second: self.insts.len(),
                    };
                }
                let end = self.insts.len();
                for j in jumps {
                    self.insts[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat {
                node,
                min,
                max,
                greedy,
                groups,
            } => {
                if *max == Some(0) {
                    return;
                }
                // One unit per iteration: no captures to reset, never empty.
                let single = match &**node {
                    Node::Unit(u) => Some(vec![(*u, *u)]),
                    Node::Set(ranges) => Some(ranges.clone()),
                    _ => None,
                };
                if let Some(ranges) = single {
                    self.sets.push(ranges);
                    self.insts.push(Inst::SetRepeat {
                        set: self.sets.len() - 1,
                        back,
                        min: *min,
                        max: *max,
                        greedy: *greedy,
                    });
                    return;
                }
                let reg = self.registers;
                self.registers += 2;
                self.insts.push(Inst::RepInit { reg });
                let repeat = self.insts.len();
                self.insts.push(Inst::Jmp(0)); // placeholder
                self.insts.push(Inst::IterStart {
                    reg,
                    caps: 2 * groups.start..2 * groups.end,
                });
                self.node(node, back);
                self.insts.push(Inst::IterEnd {
                    reg,
                    min: *min,
                    repeat,
                });
                self.insts[repeat] = Inst::RepLoop {
                    reg,
                    min: *min,
                    max: *max,
                    greedy: *greedy,
                    body: repeat + 1,
                    exit: self.insts.len(),
                };
            }
            Node::NamedBackref(_) => unreachable!("resolved by the parser"),
        }
    }
}

/// The matcher ran out of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooComplex;

struct Choice {
    pc: usize,
    pos: usize,
    undo: usize,
    retry: Retry,
}

/// What a choice point of a [`Inst::SetRepeat`] tries after `pos`.
#[derive(Clone, Copy)]
enum Retry {
    /// Nothing more.
    Once,
    /// Greedy: `pos`, then one unit less each time, down to `floor`.
    Shrink { floor: usize, back: bool },
    /// Lazy: one more unit than `pos` if it matches (at most `left` more).
    Grow {
        set: usize,
        back: bool,
        left: Option<u32>,
    },
}

struct Vm<'a> {
    prog: &'a Program,
    text: &'a [u16],
    regs: Vec<usize>,
    undo: Vec<(usize, usize)>,
    choices: Vec<Choice>,
    steps: u64,
    budget: u64,
}

/// Whether the program matches somewhere in `text` (`RegExp.prototype.test`), within
/// `budget` steps.
pub(super) fn is_match(prog: &Program, text: &[u16], budget: u64) -> Result<bool, TooComplex> {
    let mut vm = Vm {
        prog,
        text,
        regs: vec![UNSET; prog.registers],
        undo: Vec::new(),
        choices: Vec::new(),
        steps: 0,
        budget,
    };
    // A pattern that starts with `^` can only match at 0.
    let last = if matches!(prog.insts.first(), Some(Inst::Start)) {
        0
    } else {
        text.len()
    };
    for start in 0..=last {
        if vm.run(0, start)?.is_some() {
            return Ok(true);
        }
        vm.rollback(0);
    }
    Ok(false)
}

fn is_word(text: &[u16], i: usize) -> bool {
    text.get(i)
        .is_some_and(|&c| WORD.iter().any(|&(a, b)| (a..=b).contains(&c)))
}

impl Vm<'_> {
    fn set(&mut self, reg: usize, value: usize) {
        self.undo.push((reg, self.regs[reg]));
        self.regs[reg] = value;
    }

    fn rollback(&mut self, to: usize) {
        while self.undo.len() > to {
            let (reg, old) = self.undo.pop().expect("non-empty");
            self.regs[reg] = old;
        }
    }

    fn in_set(&self, set: usize, c: u16) -> bool {
        self.prog.sets[set]
            .binary_search_by(|&(a, b)| {
                if b < c {
                    std::cmp::Ordering::Less
                } else if a > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// The unit that a step in direction `back` would read at `pos`, and the position after.
    fn step(&self, pos: usize, back: bool) -> Option<(u16, usize)> {
        if back {
            let p = pos.checked_sub(1)?;
            Some((self.text[p], p))
        } else {
            self.text.get(pos).map(|&c| (c, pos + 1))
        }
    }

    /// Runs from `pc` at `pos` until `Match` or `LookEnd` (the position there), or until
    /// every choice made in this call is exhausted (`None`).
    fn run(&mut self, mut pc: usize, mut pos: usize) -> Result<Option<usize>, TooComplex> {
        let base = self.choices.len();
        loop {
            self.steps += 1;
            if self.steps > self.budget {
                return Err(TooComplex);
            }
            let ok = match &self.prog.insts[pc] {
                Inst::Unit { unit, back } => match self.step(pos, *back) {
                    Some((c, next)) if c == *unit => {
                        pos = next;
                        pc += 1;
                        true
                    }
                    _ => false,
                },
                Inst::Set { set, back } => match self.step(pos, *back) {
                    Some((c, next)) if self.in_set(*set, c) => {
                        pos = next;
                        pc += 1;
                        true
                    }
                    _ => false,
                },
                Inst::Start => {
                    pc += 1;
                    pos == 0
                }
                Inst::End => {
                    pc += 1;
                    pos == self.text.len()
                }
                Inst::WordBoundary { negate } => {
                    let edge = (pos > 0 && is_word(self.text, pos - 1)) != is_word(self.text, pos);
                    pc += 1;
                    edge != *negate
                }
                Inst::Open { group } => {
                    let reg = 2 * (self.prog.groups + 1) + group;
                    self.set(reg, pos);
                    pc += 1;
                    true
                }
                Inst::Close { group, back } => {
                    let (group, back) = (*group, *back);
                    let entered = self.regs[2 * (self.prog.groups + 1) + group];
                    // Backwards, the group was entered at its end.
                    let (s, e) = if back { (pos, entered) } else { (entered, pos) };
                    self.set(2 * group, s);
                    self.set(2 * group + 1, e);
                    pc += 1;
                    true
                }
                Inst::Split { first, second } => {
                    self.choices.push(Choice {
                        pc: *second,
                        pos,
                        undo: self.undo.len(),
                        retry: Retry::Once,
                    });
                    pc = *first;
                    true
                }
                Inst::Jmp(to) => {
                    pc = *to;
                    true
                }
                Inst::Backref { group, back } => {
                    let (s, e) = (self.regs[2 * group], self.regs[2 * group + 1]);
                    if s == UNSET || e == UNSET {
                        pc += 1;
                        true
                    } else {
                        let cap = &self.text[s..e];
                        let range = if *back {
                            pos.checked_sub(cap.len()).map(|f| f..pos)
                        } else {
                            Some(pos..pos + cap.len()).filter(|r| r.end <= self.text.len())
                        };
                        match range {
                            Some(r) if &self.text[r.clone()] == cap => {
                                pos = if *back { r.start } else { r.end };
                                pc += 1;
                                true
                            }
                            _ => false,
                        }
                    }
                }
                Inst::Look { negate, end } => {
                    let (negate, end) = (*negate, *end);
                    let mark = self.undo.len();
                    let inner = self.choices.len();
                    let found = self.run(pc + 1, pos)?.is_some();
                    // Atomic: the body's remaining choices are dropped.
                    self.choices.truncate(inner);
                    if !found || negate {
                        // A failed body, or any negative lookaround, leaves no captures.
                        self.rollback(mark);
                    }
                    pc = end + 1;
                    found != negate
                }
                Inst::LookEnd | Inst::Match => return Ok(Some(pos)),
                Inst::SetRepeat {
                    set,
                    back,
                    min,
                    max,
                    greedy,
                } => {
                    let (set, back, min, max) = (*set, *back, *min as usize, *max);
                    let limit = max.map_or(usize::MAX, |m| m as usize);
                    let want = if *greedy { limit } else { min };
                    let mut n = 0;
                    let mut at = pos;
                    while n < want {
                        match self.step(at, back) {
                            Some((c, next)) if self.in_set(set, c) => {
                                at = next;
                                n += 1;
                            }
                            _ => break,
                        }
                    }
                    self.steps += n as u64;
                    if n < min {
                        false
                    } else {
                        let retry = if *greedy {
                            let floor = if back { pos - min } else { pos + min };
                            Retry::Shrink { floor, back }
                        } else {
                            Retry::Grow {
                                set,
                                back,
                                left: max.map(|m| m - min as u32),
                            }
                        };
                        self.choices.push(Choice {
                            pc: pc + 1,
                            pos: at,
                            undo: self.undo.len(),
                            retry,
                        });
                        false // taken from the choice just pushed
                    }
                }
                Inst::RepInit { reg } => {
                    let reg = *reg;
                    self.set(reg, 0);
                    pc += 1;
                    true
                }
                Inst::RepLoop {
                    reg,
                    min,
                    max,
                    greedy,
                    body,
                    exit,
                } => {
                    let k = self.regs[*reg];
                    let (body, exit) = (*body, *exit);
                    if k < *min as usize {
                        pc = body;
                    } else if max.is_some_and(|m| k >= m as usize) {
                        pc = exit;
                    } else {
                        let (now, later) = if *greedy { (body, exit) } else { (exit, body) };
                        self.choices.push(Choice {
                            pc: later,
                            pos,
                            undo: self.undo.len(),
                            retry: Retry::Once,
                        });
                        pc = now;
                    }
                    true
                }
                Inst::IterStart { reg, caps } => {
                    let (reg, caps) = (*reg, caps.clone());
                    self.set(reg + 1, pos);
                    for c in caps {
                        if self.regs[c] != UNSET {
                            self.set(c, UNSET);
                        }
                    }
                    pc += 1;
                    true
                }
                Inst::IterEnd { reg, min, repeat } => {
                    let (reg, repeat) = (*reg, *repeat);
                    let k = self.regs[reg];
                    if k >= *min as usize && pos == self.regs[reg + 1] {
                        false
                    } else {
                        self.set(reg, k + 1);
                        pc = repeat;
                        true
                    }
                }
            };
            if !ok {
                if self.choices.len() == base {
                    return Ok(None);
                }
                let c = self.choices.pop().expect("above base");
                self.rollback(c.undo);
                pc = c.pc;
                pos = c.pos;
                match c.retry {
                    Retry::Once => {}
                    Retry::Shrink { floor, back } => {
                        // When a literal unit follows, skip the lengths it cannot follow.
                        if let Inst::Unit { unit, back: b } = self.prog.insts[pc] {
                            if b == back {
                                let mut skipped = 0;
                                while pos != floor
                                    && self.step(pos, back).is_none_or(|(u, _)| u != unit)
                                {
                                    pos = if back { pos + 1 } else { pos - 1 };
                                    skipped += 1;
                                }
                                self.steps += skipped;
                            }
                        }
                        if pos != floor {
                            let fewer = if back { pos + 1 } else { pos - 1 };
                            self.choices.push(Choice { pos: fewer, ..c });
                        }
                    }
                    Retry::Grow { set, back, left } => {
                        // the shortest run is tried first; come back for a longer one
                        if left != Some(0) {
                            if let Some((u, next)) = self.step(pos, back) {
                                if self.in_set(set, u) {
                                    self.choices.push(Choice {
                                        pos: next,
                                        retry: Retry::Grow {
                                            set,
                                            back,
                                            left: left.map(|l| l - 1),
                                        },
                                        ..c
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
