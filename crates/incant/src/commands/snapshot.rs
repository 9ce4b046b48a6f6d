//! `incant snapshot review`, and what `incant eval` needs to grade `snapshot` assertions.
//!
//! The store itself ([`incant_eval::snapshot`]) knows the files; this module is the
//! terminal side: it finds a suite's `__snapshots__` folder, turns a stray or corrupt file
//! into exit 2 with a hint, shows each pending output as a word diff against the accepted
//! one and reads the decision as a line on stdin (so it works in a pipe as well as in a
//! terminal).

use crate::cli::SnapshotReviewArgs;
use crate::report::{input_error, paint};
use anyhow::{Context as _, Result};
use incant_compare::diff::{word_diff, Piece};
use incant_eval::snapshot::{Pending, Session, SnapshotError, Store};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn snapshot_error(e: SnapshotError) -> anyhow::Error {
    input_error(e.to_string(), Some(e.hint()))
}

/// The folder `__snapshots__` lives in: the suite file's folder.
fn suite_dir(suite_file: &Path) -> PathBuf {
    match suite_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Opens the snapshots of the suite at `suite_file` for a run (exit 2 on a bad folder).
pub(super) fn open_session(suite_file: &Path) -> Result<Session> {
    Session::open(&suite_dir(suite_file)).map_err(snapshot_error)
}

/// Writes the run's pending snapshots and says how many wait for review.
pub(super) fn finish_session(session: Session, suite_file: &Path, json: bool) -> Result<()> {
    let written = session
        .finish()
        .map_err(anyhow::Error::from)
        .context("writing pending snapshots")?;
    if written.pending > 0 && !json {
        eprintln!(
            "{} snapshot(s) pending review: `incant snapshot review {}`",
            written.pending,
            suite_dir(suite_file).display()
        );
    }
    Ok(())
}

/// `incant snapshot review`.
pub fn review(args: SnapshotReviewArgs) -> Result<ExitCode> {
    let dir = if args.suite.is_dir() {
        args.suite.clone()
    } else if args.suite.is_file() {
        suite_dir(&args.suite)
    } else {
        return Err(input_error(
            format!("{}: no such suite file or folder", args.suite.display()),
            Some("give the suite's file or folder, as to `incant eval`"),
        ));
    };
    let mut store = Store::open(&dir).map_err(snapshot_error)?;
    let pending = store.pending();
    if args.json {
        let list: Vec<serde_json::Value> = pending
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p).expect("plain data");
                v["file"] = store.path(&p.prompt, true).display().to_string().into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if pending.is_empty() {
        println!("no pending snapshots in {}", store.dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    let (mut accepted, mut rejected) = (0, 0);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    for (i, p) in pending.iter().enumerate() {
        let decision = if args.accept_all {
            'a'
        } else if args.reject_all {
            'r'
        } else {
            show(p, i + 1, pending.len());
            match ask(&mut lines)? {
                Some(d) => d,
                None => break,
            }
        };
        match decision {
            'a' => {
                store.accept(&p.prompt, &p.key).map_err(snapshot_error)?;
                accepted += 1;
            }
            'r' => {
                store.reject(&p.prompt, &p.key).map_err(snapshot_error)?;
                rejected += 1;
            }
            _ => {}
        }
    }
    let skipped = pending.len() - accepted - rejected;
    println!("accepted {accepted}, rejected {rejected}, left pending {skipped}");
    if accepted > 0 {
        println!(
            "commit {} to keep the accepted snapshots",
            store.dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one pending change: where it is, then the new output or the word diff.
fn show(p: &Pending, n: usize, total: usize) {
    println!(
        "\n{} {}  {}",
        paint(&format!("[{n}/{total}]"), "1"),
        p.prompt,
        p.key
    );
    match &p.accepted {
        None => {
            println!("new snapshot:");
            for line in p.pending.split('\n') {
                println!("  {}", paint(line, "32"));
            }
        }
        Some(old) => {
            println!("changed ([-...-] removed, {{+...+}} added):");
            println!("  {}", render_diff(old, &p.pending).replace('\n', "\n  "));
        }
    }
}

/// A word diff as text: removed words in `[-...-]`, added ones in `{+...+}` (coloured
/// when stderr is a terminal).
fn render_diff(old: &str, new: &str) -> String {
    word_diff(old, new)
        .into_iter()
        .map(|piece| match piece {
            Piece::Same(s) => s.to_string(),
            Piece::Removed(s) => paint(&format!("[-{s}-]"), "31"),
            Piece::Added(s) => paint(&format!("{{+{s}+}}"), "32"),
        })
        .collect()
}

/// Reads answers until one is a, r or s; `None` at the end of stdin or on `q`.
fn ask(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Result<Option<char>> {
    loop {
        print!("accept (a), reject (r), skip (s), quit (q)? ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next() else {
            println!();
            return Ok(None);
        };
        let line = line.context("reading the answer from stdin")?;
        match line.trim().to_ascii_lowercase().as_str() {
            "a" | "accept" => return Ok(Some('a')),
            "r" | "reject" => return Ok(Some('r')),
            "s" | "skip" | "" => return Ok(Some('s')),
            "q" | "quit" => return Ok(None),
            other => println!("`{other}`: answer a, r, s or q"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_a_line_at_a_time() {
        let mut input = ["x", "A", "", "r", "q", "a"]
            .into_iter()
            .map(|s| Ok(s.to_string()));
        assert_eq!(ask(&mut input).unwrap(), Some('a'));
        assert_eq!(ask(&mut input).unwrap(), Some('s'));
        assert_eq!(ask(&mut input).unwrap(), Some('r'));
        assert_eq!(ask(&mut input).unwrap(), None);
        assert_eq!(ask(&mut input).unwrap(), Some('a'));
        assert_eq!(ask(&mut input).unwrap(), None);
    }

    #[test]
    fn diffs_mark_words() {
        std::env::set_var("NO_COLOR", "1");
        assert_eq!(
            render_diff("Say hi now", "Say hello now"),
            "Say [-hi-]{+hello+} now"
        );
    }
}
