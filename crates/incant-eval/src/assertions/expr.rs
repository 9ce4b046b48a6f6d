//! `expr`: a one-line check written as a minijinja expression, for conditions no built-in
//! type covers without reaching for Python (`"Paris" in output`,
//! `output | length < 100`, `json.items | length == 3`, `latency < 500 and cost == 0`).
//!
//! This is incant's own type (promptfoo's nearest is `javascript`); it uses the template
//! language suites already use for variables. The expression sees:
//!
//! | name      | value                                                           |
//! | --------- | --------------------------------------------------------------- |
//! | `output`  | the output text                                                 |
//! | `json`    | the output parsed as JSON, or none when it is not JSON          |
//! | `vars`    | the test's variables                                            |
//! | `prompt`  | the rendered prompt                                             |
//! | `latency` | call latency in milliseconds (none when unknown)                |
//! | `cost`    | call cost in dollars (none when unknown)                        |
//!
//! Python-style string methods work (`output.lower()`, `output.startswith("A")`). Undefined
//! names are errors, not silently false. The verdict: a boolean passes or fails; a number is
//! the score (clamped to [0, 1]) and passes at >= `threshold`, or at > 0 without one (as
//! promptfoo reads numbers returned by code assertions); none fails; any other value passes
//! when it is truthy (a non-empty string or list).
//!
//! Syntax errors are found when the suite loads.

use super::{Context, Grade};
use minijinja::value::ValueKind;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env
}

/// Checks that `src` compiles, for the suite loader.
pub fn check(src: &str) -> Result<(), String> {
    environment()
        .compile_expression(src)
        .map(|_| ())
        .map_err(|e| format!("invalid expression `{src}`: {}", detail(&e)))
}

/// The error and its cause, on one line.
fn detail(e: &minijinja::Error) -> String {
    let mut s = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    s
}

/// Evaluates the expression `value` against the output.
pub fn expr(
    output: &str,
    value: Option<&Value>,
    threshold: Option<f64>,
    ctx: &Context<'_>,
) -> Result<Grade, String> {
    let Some(Value::String(src)) = value else {
        return Err("`expr` needs an expression as its value".into());
    };
    let env = environment();
    let compiled = env
        .compile_expression(src)
        .map_err(|e| format!("invalid expression `{src}`: {}", detail(&e)))?;
    let json: Option<Value> = serde_json::from_str(output.trim()).ok();
    let scope = serde_json::json!({
        "output": output,
        "json": json,
        "vars": ctx.vars.cloned().unwrap_or_default(),
        "prompt": ctx.prompt,
        "latency": ctx.latency_ms,
        "cost": ctx.cost,
    });
    let result = compiled
        .eval(scope)
        .map_err(|e| format!("`{src}` failed: {}", detail(&e)))?;
    let shown = short(&result.to_string());
    Ok(match result.kind() {
        ValueKind::Bool => Grade::new(result.is_true(), format!("`{src}` is {}", result.is_true())),
        ValueKind::Number => {
            let n = f64::try_from(result).map_err(|e| format!("`{src}`: {e}"))?;
            let (pass, against) = super::code_score(n, threshold);
            Grade::scored(pass, n, format!("`{src}` is {n} {against}"))
        }
        ValueKind::None | ValueKind::Undefined => Grade::new(false, format!("`{src}` is none")),
        _ => Grade::new(
            result.is_true(),
            format!(
                "`{src}` is {shown} ({})",
                if result.is_true() { "truthy" } else { "falsy" }
            ),
        ),
    })
}

fn short(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, output: &str) -> Result<Grade, String> {
        let vars = json!({"city": "Paris", "n": 3})
            .as_object()
            .unwrap()
            .clone();
        let ctx = Context {
            vars: Some(&vars),
            latency_ms: Some(120.0),
            cost: Some(0.0),
            prompt: Some("user: capital?"),
            ..Context::default()
        };
        expr(output, Some(&json!(src)), None, &ctx)
    }

    #[test]
    fn booleans_pass_and_fail() {
        assert!(eval(r#""Paris" in output"#, "It is Paris.").unwrap().pass);
        assert!(!eval(r#""Rome" in output"#, "It is Paris.").unwrap().pass);
        assert!(eval("output | length < 100", "short").unwrap().pass);
        assert!(
            eval(
                "vars.city in output and latency < 500 and cost == 0",
                "Paris"
            )
            .unwrap()
            .pass
        );
        assert!(
            eval(r#"output.lower().startswith("it")"#, "It is")
                .unwrap()
                .pass
        );
        assert!(
            eval("json.items | length == 2", r#"{"items": [1, 2]}"#)
                .unwrap()
                .pass
        );
        assert!(
            eval("prompt is string and vars.missing is not defined", "x")
                .unwrap()
                .pass
        );
        let g = eval("output == 'no'", "yes").unwrap();
        assert_eq!(g.reason, "`output == 'no'` is false");
    }

    #[test]
    fn numbers_are_scores() {
        let g = eval("(output | length) / 10", "12345").unwrap();
        assert!(g.pass && g.score == 0.5, "{g:?}");
        assert!(!eval("0", "x").unwrap().pass);
        let ctx = Context::default();
        let g = expr("x", Some(&json!("0.5")), Some(0.6), &ctx).unwrap();
        assert!(!g.pass && g.reason.contains("< threshold 0.6"), "{g:?}");
        assert_eq!(eval("7", "x").unwrap().score, 1.0);
    }

    #[test]
    fn other_values_by_truthiness_and_errors_are_reported() {
        assert!(eval("output", "text").unwrap().pass);
        assert!(!eval("json", "not json").unwrap().pass);
        let e = eval("vars.nope == 1", "x").unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        assert!(check("output |").is_err());
        assert!(check("\"Paris\" in output").is_ok());
        let e = check("output ==").unwrap_err();
        assert!(e.starts_with("invalid expression `output ==`"), "{e}");
    }
}
