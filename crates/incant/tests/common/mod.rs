//! Helpers shared by the `incant` binary's end-to-end tests: where the real models are, a
//! command for the built binary with the test defaults, files written and read back.
//! (Each test file uses a part of them.)
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The real local models: `INCANT_MODELS`, else the workspace's `models/`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// The built `incant` with the real models, no colour and a 100-column terminal; callers
/// add arguments, a folder, a store (`INCANT_DB`) or other variables (later ones win).
pub fn incant_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incant"));
    c.env("INCANT_MODELS", models_dir())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    c
}

/// Runs `cmd` with `stdin` as its input (empty when `None`) and collects its output.
pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Writes `text` to `dir/name`, creating folders.
pub fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// Every file under `dir` with its bytes, except under folders named `skip` (the run
/// store), to show that a command changed nothing on disk.
pub fn files(dir: &Path, skip: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.ends_with(skip) {
                continue;
            } else if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
