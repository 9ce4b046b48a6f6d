//! The official `openai` Python package against a real server (`tests/openai_client.py`):
//! chat completion by prompt name, streaming, n=2, a completion, the models list, errors.
//!
//! The Python comes from `INCANT_OPENAI_PYTHON` (a python that has `openai`), else a venv
//! this test creates once under cargo's target tmp dir with `pip install openai`. Only if
//! that cannot be made does the test skip, saying why.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

fn python_with_openai() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("INCANT_OPENAI_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openai-venv");
    let py = venv.join("bin/python");
    let has = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import openai"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has(&py) {
        return Ok(py);
    }
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new(&py)
        .args(["-m", "pip", "install", "-q", "openai"])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !out.status.success() || !has(&py) {
        return Err(format!(
            "pip install openai failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(py)
}

#[test]
fn the_official_openai_client_works() {
    let py = match python_with_openai() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: no Python with the openai package ({why})");
            return;
        }
    };
    let mut c = config(&fixtures());
    c.env_keys = Some("client-key".into());
    let state = incant_server::AppState::new(c).unwrap();
    let (addr, stop) = spawn_server(state);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let out = Command::new(py)
        .arg(script)
        .arg(format!("http://{addr}/v1"))
        .arg("client-key")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    eprintln!("{stdout}");
    stop.send(()).unwrap();
}
