//! The snapshot store: accepted and pending outputs of `snapshot` assertions, kept in the
//! repository next to the suite so that a change of model or prompt shows up in review and
//! in `git diff`, the way insta keeps Rust test snapshots.
//!
//! # Layout
//!
//! `<suite folder>/__snapshots__/` holds, per prompt, `<prompt>.snap.json` (the accepted
//! outputs) and `<prompt>.pending.json` (outputs waiting for `incant snapshot review`).
//! A prompt name with characters other than `A-Z a-z 0-9 . _ -` is written with those
//! replaced by `_` and an 8-digit hash of the full name appended, so two names never share
//! a file. Anything else in the folder is an error (a stray file), as is a file that does
//! not parse: the run or the review stops before anything is written.
//!
//! # Format
//!
//! ```json
//! {
//!   "prompt": "greet",
//!   "snapshots": {
//!     "echo {\"word\":\"hi\"} #1": {
//!       "output": "Say hi"
//!     }
//!   }
//! }
//! ```
//!
//! Keys are sorted and the JSON is pretty-printed with a final newline, so a file changes
//! only where an output changed. A multi-line output is written as a list of its lines
//! (joined with `\n` when read), so that `git diff` shows the changed lines.
//!
//! # Keys
//!
//! A case key is `<provider label> <vars> <slot>`: the test's variables as compact JSON
//! with keys sorted at every level, and the slot `#N` (the assertion's 1-based position in
//! the test's `assert` list) or `@name` when the assertion's `value` names the snapshot
//! (a name survives reordering the assertions). The prompt name picks the file. Repeats of
//! a case share its key.
//!
//! # Runs
//!
//! [`Session`] is what a run grades against: the accepted snapshots, read once, and the
//! outcome of each checked key behind a mutex (workers grade concurrently). Only keys are
//! kept for matches and only the differing output for pending ones, so memory grows with
//! the number of snapshot assertions, not with outputs seen. [`Session::finish`] writes
//! the pending files once the run is over: an output matching its accepted snapshot drops
//! a stale pending entry, a new or differing one replaces it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The folder, inside the suite's folder.
pub const DIR: &str = "__snapshots__";
const ACCEPTED: &str = ".snap.json";
const PENDING: &str = ".pending.json";

/// What can go wrong reading or writing snapshots.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file in the folder that is not a snapshot file.
    #[error("{}: not a snapshot file", .0.display())]
    Stray(PathBuf),
    /// A snapshot file that does not parse.
    #[error("{}: corrupt snapshot file: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A snapshot file whose name is not the one its prompt would get.
    #[error("{}: holds snapshots of prompt `{prompt}`, which belong in {expected}", path.display())]
    Misnamed {
        /// The file.
        path: PathBuf,
        /// The prompt it names.
        prompt: String,
        /// The file name that prompt gets.
        expected: String,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl SnapshotError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Stray(_) => {
                "__snapshots__ holds only <prompt>.snap.json and <prompt>.pending.json; move the file elsewhere"
            }
            Self::Corrupt { .. } => {
                "restore it from git (`git checkout -- <file>`), or delete it to record the snapshots again"
            }
            Self::Misnamed { .. } => "rename the file, or restore it from git",
            Self::Io { .. } => "check the folder's permissions",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An output as stored: one string, or its lines when it has several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    Lines(Vec<String>),
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        if s.contains('\n') {
            Text::Lines(s.split('\n').map(str::to_string).collect())
        } else {
            Text::One(s.to_string())
        }
    }
}

impl Text {
    fn joined(&self) -> String {
        match self {
            Text::One(s) => s.clone(),
            Text::Lines(l) => l.join("\n"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    output: Text,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapFile {
    prompt: String,
    snapshots: BTreeMap<String, Entry>,
}

/// One prompt's snapshots.
#[derive(Debug, Default, Clone)]
struct Prompt {
    accepted: BTreeMap<String, String>,
    pending: BTreeMap<String, String>,
}

/// A pending change, as review shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    /// The prompt.
    pub prompt: String,
    /// The case key.
    pub key: String,
    /// The accepted output, if any (`None`: a new snapshot).
    pub accepted: Option<String>,
    /// The output waiting for review.
    pub pending: String,
}

/// The snapshots of one suite, read whole from its `__snapshots__` folder.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    prompts: BTreeMap<String, Prompt>,
}

/// The file stem a prompt's snapshots are written under.
pub fn file_stem(prompt: &str) -> String {
    let clean: String = prompt
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == prompt && !prompt.is_empty() && !prompt.starts_with('.') {
        return clean;
    }
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(prompt.as_bytes());
    format!(
        "{clean}-{:02x}{:02x}{:02x}{:02x}",
        hash[0], hash[1], hash[2], hash[3]
    )
}

/// The case key (see the module docs): `position` is 0-based; `name` is the assertion's
/// `value`, when it is a string.
pub fn case_key(
    provider: &str,
    vars: &serde_json::Map<String, Value>,
    position: usize,
    name: Option<&str>,
) -> String {
    // serde_json may keep insertion order; write the keys sorted whatever it does.
    let mut vars_json = String::from("{");
    let sorted: BTreeMap<&String, &Value> = vars.iter().collect();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            vars_json.push(',');
        }
        vars_json.push_str(&Value::String(k.clone()).to_string());
        vars_json.push(':');
        vars_json.push_str(&sorted_json(v));
    }
    vars_json.push('}');
    let slot = match name {
        Some(n) => format!("@{n}"),
        None => format!("#{}", position + 1),
    };
    format!("{provider} {vars_json} {slot}")
}

/// Compact JSON with sorted keys (independent of serde_json's map order).
fn sorted_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), sorted_json(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(sorted_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn read_file(path: &Path) -> Result<SnapFile, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|source| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

fn render(prompt: &str, entries: &BTreeMap<String, String>) -> String {
    let file = SnapFile {
        prompt: prompt.to_string(),
        snapshots: entries
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Entry {
                        output: Text::from(v.as_str()),
                    },
                )
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&file).expect("plain data serialises");
    s.push('\n');
    s
}

impl Store {
    /// Reads `<suite_dir>/__snapshots__` (an absent folder is an empty store). Fails on a
    /// stray or corrupt file, before anything is written.
    pub fn open(suite_dir: &Path) -> Result<Self, SnapshotError> {
        let dir = suite_dir.join(DIR);
        let mut prompts: BTreeMap<String, Prompt> = BTreeMap::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self { dir, prompts }),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut paths = Vec::new();
        for e in entries {
            paths.push(e.map_err(io(&dir))?.path());
        }
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let (stem, pending) = match (name.strip_suffix(ACCEPTED), name.strip_suffix(PENDING)) {
                (Some(s), _) if path.is_file() => (s.to_string(), false),
                (_, Some(s)) if path.is_file() => (s.to_string(), true),
                _ => return Err(SnapshotError::Stray(path)),
            };
            let file = read_file(&path)?;
            if file_stem(&file.prompt) != stem {
                let suffix = if pending { PENDING } else { ACCEPTED };
                return Err(SnapshotError::Misnamed {
                    path,
                    expected: format!("{}{suffix}", file_stem(&file.prompt)),
                    prompt: file.prompt,
                });
            }
            let p = prompts.entry(file.prompt).or_default();
            let target = if pending {
                &mut p.pending
            } else {
                &mut p.accepted
            };
            for (k, e) in file.snapshots {
                target.insert(k, e.output.joined());
            }
        }
        Ok(Self { dir, prompts })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The accepted output of a case.
    pub fn accepted(&self, prompt: &str, key: &str) -> Option<&str> {
        self.prompts
            .get(prompt)?
            .accepted
            .get(key)
            .map(String::as_str)
    }

    /// Every pending change, by prompt and key.
    pub fn pending(&self) -> Vec<Pending> {
        self.prompts
            .iter()
            .flat_map(|(prompt, p)| {
                p.pending.iter().map(|(key, out)| Pending {
                    prompt: prompt.clone(),
                    key: key.clone(),
                    accepted: p.accepted.get(key).cloned(),
                    pending: out.clone(),
                })
            })
            .collect()
    }

    /// Moves a pending output into the accepted snapshots and writes both files.
    pub fn accept(&mut self, prompt: &str, key: &str) -> Result<bool, SnapshotError> {
        let Some(p) = self.prompts.get_mut(prompt) else {
            return Ok(false);
        };
        let Some(out) = p.pending.remove(key) else {
            return Ok(false);
        };
        p.accepted.insert(key.to_string(), out);
        self.write(prompt, false)?;
        self.write(prompt, true)?;
        Ok(true)
    }

    /// Drops a pending output (the accepted snapshot stays) and writes the pending file.
    pub fn reject(&mut self, prompt: &str, key: &str) -> Result<bool, SnapshotError> {
        let removed = self
            .prompts
            .get_mut(prompt)
            .is_some_and(|p| p.pending.remove(key).is_some());
        if removed {
            self.write(prompt, true)?;
        }
        Ok(removed)
    }

    /// The path of a prompt's accepted or pending file.
    pub fn path(&self, prompt: &str, pending: bool) -> PathBuf {
        let suffix = if pending { PENDING } else { ACCEPTED };
        self.dir.join(format!("{}{suffix}", file_stem(prompt)))
    }

    /// Writes one of a prompt's files (a temporary file renamed into place); an empty
    /// pending file is removed instead.
    fn write(&self, prompt: &str, pending: bool) -> Result<(), SnapshotError> {
        let path = self.path(prompt, pending);
        let empty = BTreeMap::new();
        let p = self.prompts.get(prompt);
        let entries = match (p, pending) {
            (Some(p), true) => &p.pending,
            (Some(p), false) => &p.accepted,
            (None, _) => &empty,
        };
        if entries.is_empty() && (pending || !path.exists()) {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
                _ => Ok(()),
            };
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, render(prompt, entries)).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }
}

/// What a run found for one key.
#[derive(Debug)]
enum Outcome {
    /// The output matched the accepted snapshot.
    Matched,
    /// New or different: the output of the lowest repeat that was.
    Pending { repeat: usize, output: String },
}

/// What [`Session::finish`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Outputs now pending review.
    pub pending: usize,
}

/// A run's view of the store: read once, outcomes collected concurrently, pending files
/// written at the end.
#[derive(Debug)]
pub struct Session {
    store: Mutex<Store>,
    outcomes: Mutex<BTreeMap<(String, String), Outcome>>,
}

impl Session {
    /// Opens the suite's store (see [`Store::open`]).
    pub fn open(suite_dir: &Path) -> Result<Self, SnapshotError> {
        Ok(Self {
            store: Mutex::new(Store::open(suite_dir)?),
            outcomes: Mutex::default(),
        })
    }

    /// The accepted output of a case.
    pub fn accepted(&self, prompt: &str, key: &str) -> Option<String> {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.accepted(prompt, key).map(str::to_string)
    }

    /// Records that a case matched its snapshot (a differing repeat still wins).
    pub fn matched(&self, prompt: &str, key: &str) {
        let mut o = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        o.entry((prompt.to_string(), key.to_string()))
            .or_insert(Outcome::Matched);
    }

    /// Records a new or differing output for review (the lowest repeat's is kept).
    pub fn record(&self, prompt: &str, key: &str, repeat: usize, output: &str) {
        let mut o = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        let slot = o
            .entry((prompt.to_string(), key.to_string()))
            .or_insert(Outcome::Matched);
        let replace = match slot {
            Outcome::Matched => true,
            Outcome::Pending { repeat: r, .. } => repeat < *r,
        };
        if replace {
            *slot = Outcome::Pending {
                repeat,
                output: output.to_string(),
            };
        }
    }

    /// Writes the pending files of every prompt the run checked.
    pub fn finish(self) -> Result<Written, SnapshotError> {
        let mut store = self.store.into_inner().unwrap_or_else(|e| e.into_inner());
        let outcomes = self
            .outcomes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let mut touched = std::collections::BTreeSet::new();
        let mut written = Written::default();
        for ((prompt, key), outcome) in outcomes {
            let p = store.prompts.entry(prompt.clone()).or_default();
            let changed = match outcome {
                Outcome::Matched => p.pending.remove(&key).is_some(),
                Outcome::Pending { output, .. } => {
                    written.pending += 1;
                    p.pending.insert(key, output.clone()).as_ref() != Some(&output)
                }
            };
            if changed {
                touched.insert(prompt);
            }
        }
        for prompt in touched {
            store.write(&prompt, true)?;
        }
        Ok(written)
    }
}

/// A line diff from `old` to `new`: the lines both share at the start and the end are kept
/// as context (one on each side, prefixed ` `), the lines between are shown removed (`-`)
/// then added (`+`); at most `max` lines.
pub fn line_diff(old: &str, new: &str, max: usize) -> String {
    let a: Vec<&str> = old.split('\n').collect();
    let b: Vec<&str> = new.split('\n').collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut lines = Vec::new();
    if head > 0 {
        lines.push(format!("  {}", a[head - 1]));
    }
    lines.extend(a[head..a.len() - tail].iter().map(|l| format!("- {l}")));
    lines.extend(b[head..b.len() - tail].iter().map(|l| format!("+ {l}")));
    if tail > 0 {
        lines.push(format!("  {}", a[a.len() - tail]));
    }
    if lines.len() > max {
        let more = lines.len() - max;
        lines.truncate(max);
        lines.push(format!("... ({more} more lines)"));
    }
    lines.join("\n")
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
