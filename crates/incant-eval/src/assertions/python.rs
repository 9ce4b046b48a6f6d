//! `python`: a check written in Python, as promptfoo's python assertions.
//!
//! The `value` is either inline code or `file://path.py` (optionally `file://path.py:func`):
//!
//! - inline, one line: an expression, e.g. `len(output) < 100 and 'Paris' in output`;
//! - inline, several lines: the body of a function `main(output, context)` that `return`s;
//! - a file: its `get_assert(output, context)` (or the named function) is called. A relative
//!   path is resolved against the suite's folder when the suite loads, as promptfoo resolves
//!   it against the config's folder.
//!
//! `context` is a dict: `prompt`, `vars`, `test` (`{"vars": ...}`), `config` (the assertion's
//! `config`), `logProbs`, `latencyMs`, `cost`. The function may return a bool; a number (the
//! score, clamped to [0, 1]; passes at >= `threshold`, or > 0 without one); a string `"true"`
//! / `"false"` or a JSON object; or a dict `{"pass", "score", "reason"}` (a GradingResult;
//! `score` defaults to 1/0 from `pass`, and with a `threshold` a lower score fails).
//!
//! Each check runs in a fresh `python3` (or `$INCANT_PYTHON`) process: the code, output and
//! context go in on stdin as JSON, the result comes back on stdout; what the code prints goes
//! to stderr. A time limit (default 10 s; the assertion's `timeout` or `config.timeout`, in
//! milliseconds) kills a check that hangs. Exceptions, timeouts and results of the wrong
//! shape are failing grades that quote the end of stderr (even when negated).

use super::{Context, Grade};
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default time limit of one check.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Runs the user's code; a separate program text so that the user's code never needs
/// quoting: it arrives as data on stdin.
const RUNNER: &str = r#"
import importlib.util, json, os, sys
payload = json.load(sys.stdin)
real_stdout = sys.stdout
sys.stdout = sys.stderr
if payload.get("file"):
    path = payload["file"]
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("incant_assertion", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, payload["function"], None)
    if fn is None:
        raise SystemExit("%s has no function %s(output, context)" % (path, payload["function"]))
else:
    code = payload["code"]
    if "\n" in code.strip("\n"):
        lines = code.strip("\n").split("\n")
        indent = next((l[: len(l) - len(l.lstrip())] for l in lines if l.strip() and l[0].isspace()), "    ")
        body = "\n".join(indent + l for l in lines)
    else:
        body = "    return " + code.strip()
    scope = {"json": json}
    exec(compile("def main(output, context):\n" + body + "\n", "<assertion>", "exec"), scope)
    fn = scope["main"]
result = fn(payload["output"], payload["context"])
real_stdout.write(json.dumps({"result": result}, default=str))
real_stdout.flush()
"#;

/// Where the code comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Inline code.
    Inline(String),
    /// A file and the function to call.
    File {
        /// The script, resolved against the suite's folder.
        path: PathBuf,
        /// The function (default `get_assert`).
        function: String,
    },
}

/// Reads `file://path.py[:function]`, resolving the path against `base_dir`; `None` for
/// inline code.
pub fn file_source(value: &str, base_dir: Option<&Path>) -> Option<Result<Source, String>> {
    let rest = value.trim().strip_prefix("file://")?;
    let (file, function) = match rest.rsplit_once(':') {
        // `C:\x.py` is a drive letter, not a function.
        Some((f, func)) if !func.contains(['/', '\\']) && !func.is_empty() => (f, func),
        _ => (rest, "get_assert"),
    };
    let path = match base_dir {
        Some(dir) if Path::new(file).is_relative() => dir.join(file),
        _ => PathBuf::from(file),
    };
    Some(if path.is_file() {
        Ok(Source::File {
            path,
            function: function.to_string(),
        })
    } else {
        Err(format!(
            "python assertion file {} does not exist",
            path.display()
        ))
    })
}

/// The context dict the code sees.
fn context_json(ctx: &Context<'_>, config: &Map<String, Value>) -> Value {
    let vars = ctx.vars.cloned().unwrap_or_default();
    json!({
        "prompt": ctx.prompt,
        "vars": vars,
        "test": {"vars": vars},
        "config": config,
        "logProbs": ctx.logprobs,
        "latencyMs": ctx.latency_ms,
        "cost": ctx.cost,
    })
}

/// `python`: runs the code and grades by what it returns.
pub fn python(
    output: &str,
    source: &Source,
    threshold: Option<f64>,
    config: &Map<String, Value>,
    timeout_ms: Option<u64>,
    ctx: &Context<'_>,
) -> Result<Grade, String> {
    let mut payload = json!({"output": output, "context": context_json(ctx, config)});
    match source {
        Source::Inline(code) => payload["code"] = json!(code),
        Source::File { path, function } => {
            payload["file"] = json!(path.to_string_lossy());
            payload["function"] = json!(function);
        }
    }
    let result = run(
        &payload,
        Duration::from_millis(timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
    )?;
    grade(result, threshold)
}

/// The interpreter: `$INCANT_PYTHON`, else `python3`.
fn interpreter() -> String {
    std::env::var("INCANT_PYTHON")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Runs the runner with `payload` on stdin; the returned value, or why there is none.
fn run(payload: &Value, limit: Duration) -> Result<Value, String> {
    let python = interpreter();
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(RUNNER)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{python}` for a python assertion: {e} (set INCANT_PYTHON to the interpreter)"))?;
    // Pipes are drained on their own threads so a chatty script cannot fill one and stall.
    let input = payload.to_string();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(format!(
                    "python assertion: waiting for `{python}` failed: {e}"
                ))
            }
        }
    };
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Err(()) => Err(format!(
            "python assertion timed out after {} ms (set `timeout`, in milliseconds){}",
            limit.as_millis(),
            tail(&stderr)
        )),
        Ok(s) if !s.success() => Err(format!("python assertion failed ({s}){}", tail(&stderr))),
        Ok(_) => serde_json::from_str::<Value>(stdout.trim())
            .ok()
            .and_then(|mut v| v.get_mut("result").map(Value::take))
            .ok_or_else(|| {
                format!(
                    "python assertion returned nothing readable{}",
                    tail(&stderr)
                )
            }),
    }
}

/// The last lines of stderr, for a reason.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut last = lines[lines.len().saturating_sub(6)..].join("\n");
    if last.chars().count() > 800 {
        last = last
            .chars()
            .rev()
            .take(800)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
    }
    format!(":\n{last}")
}

/// Reads what the code returned, with promptfoo's rules.
pub fn grade(result: Value, threshold: Option<f64>) -> Result<Grade, String> {
    let wrong = |r: &Value| {
        let shown: String = r.to_string().chars().take(200).collect();
        format!("python assertion must return a bool, a number or a dict {{pass, score, reason}}, got {shown}")
    };
    match result {
        Value::Bool(b) => Ok(Grade::new(b, format!("python returned {b}"))),
        Value::Number(n) => {
            let score = n.as_f64().ok_or_else(|| wrong(&Value::Number(n.clone())))?;
            let (pass, against) = super::code_score(score, threshold);
            Ok(Grade::scored(
                pass,
                score,
                format!("python returned {score} {against}"),
            ))
        }
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => {
            Ok(Grade::new(true, "python returned \"true\""))
        }
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
            Ok(Grade::new(false, "python returned \"false\""))
        }
        Value::String(s) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => grade(v, threshold),
                _ => Err(wrong(&Value::String(s))),
            }
        }
        Value::Object(m) => {
            let Some(pass) = m.get("pass").and_then(Value::as_bool) else {
                return Err(wrong(&Value::Object(m)));
            };
            let score =
                m.get("score")
                    .and_then(Value::as_f64)
                    .unwrap_or(if pass { 1.0 } else { 0.0 });
            let mut reason = m
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("python returned pass={pass}"));
            let mut pass = pass;
            if let Some(t) = threshold {
                if score < t {
                    pass = false;
                    reason = format!("python score {score} is less than threshold {t}: {reason}");
                }
            }
            Ok(Grade::scored(pass, score, reason))
        }
        other => Err(wrong(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(code: &str, output: &str) -> Result<Grade, String> {
        let vars = json!({"city": "Paris"}).as_object().unwrap().clone();
        let ctx = Context {
            vars: Some(&vars),
            prompt: Some("user: capital?"),
            ..Context::default()
        };
        python(
            output,
            &Source::Inline(code.into()),
            None,
            &Map::new(),
            None,
            &ctx,
        )
    }

    #[test]
    fn inline_expressions_and_bodies() {
        assert!(inline("'Paris' in output", "It is Paris.").unwrap().pass);
        assert!(!inline("len(output) < 3", "It is Paris.").unwrap().pass);
        assert!(
            inline(
                "context['vars']['city'] in output and context['prompt'].startswith('user')",
                "Paris"
            )
            .unwrap()
            .pass
        );
        let body = "words = output.split()\nprint('noise on stdout')\nreturn {'pass': len(words) == 3, 'score': 0.25, 'reason': 'three words'}";
        let g = inline(body, "one two three").unwrap();
        assert_eq!(
            (g.pass, g.score, g.reason.as_str()),
            (true, 0.25, "three words")
        );
        let g = inline("len(output) / 10", "12345").unwrap();
        assert!(g.pass && g.score == 0.5);
        assert!(
            inline("json.dumps({'a': 1}) == '{\"a\": 1}'", "x")
                .unwrap()
                .pass
        );
    }

    #[test]
    fn return_values_follow_promptfoo() {
        assert!(grade(json!("TRUE"), None).unwrap().pass);
        assert!(!grade(json!(false), None).unwrap().pass);
        assert!(!grade(json!(0), None).unwrap().pass);
        assert!(!grade(json!(0.4), Some(0.5)).unwrap().pass);
        let g = grade(
            json!(r#"{"pass": true, "score": 0.3, "reason": "r"}"#),
            Some(0.5),
        )
        .unwrap();
        assert!(
            !g.pass && g.reason.contains("less than threshold 0.5"),
            "{g:?}"
        );
        assert!(grade(json!({"pass": true}), None).unwrap().score == 1.0);
        assert!(grade(json!(null), None).is_err());
        assert!(grade(json!({"score": 1}), None).is_err());
        assert!(grade(json!("maybe"), None).is_err());
    }

    #[test]
    fn errors_quote_stderr_and_timeouts_kill() {
        let e = inline("1 / 0", "x").unwrap_err();
        assert!(e.contains("ZeroDivisionError"), "{e}");
        let e = inline("None", "x").unwrap_err();
        assert!(e.contains("got null"), "{e}");
        let e = inline("def broken(:", "x").unwrap_err();
        assert!(e.contains("SyntaxError"), "{e}");
        let start = Instant::now();
        let ctx = Context::default();
        let e = python(
            "x",
            &Source::Inline("__import__('time').sleep(30)".into()),
            None,
            &Map::new(),
            Some(300),
            &ctx,
        )
        .unwrap_err();
        assert!(e.contains("timed out after 300 ms"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn files_resolve_against_the_suite_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("check.py"),
            "import helper\ndef get_assert(output, context):\n    return helper.ok(output)\n\ndef other(output, context):\n    return 0.75\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("helper.py"),
            "def ok(o):\n    return o == 'yes'\n",
        )
        .unwrap();
        let src = file_source("file://check.py", Some(dir.path()))
            .unwrap()
            .unwrap();
        let ctx = Context::default();
        assert!(
            python("yes", &src, None, &Map::new(), None, &ctx)
                .unwrap()
                .pass
        );
        assert!(
            !python("no", &src, None, &Map::new(), None, &ctx)
                .unwrap()
                .pass
        );
        let src = file_source("file://check.py:other", Some(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            python("x", &src, None, &Map::new(), None, &ctx)
                .unwrap()
                .score,
            0.75
        );
        let src = file_source("file://check.py:missing", Some(dir.path()))
            .unwrap()
            .unwrap();
        let e = python("x", &src, None, &Map::new(), None, &ctx).unwrap_err();
        assert!(e.contains("has no function missing"), "{e}");
        let e = file_source("file://nope.py", Some(dir.path()))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(file_source("'x' in output", None).is_none());
    }
}
