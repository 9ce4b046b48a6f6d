//! P001 `undefined-variable` and P002 `unused-input`: a prompt's template against its
//! contract (the declared `inputs:` and, in a suite, the variables its test cases give).

use crate::collect::Context;
use crate::registry::Rule;
use crate::template::{first_use, used_variables};
use crate::Diagnostic;
use std::collections::BTreeSet;

/// The doc of P001.
pub const UNDEFINED_DOC: &str = r#"# undefined-variable (P001)

## What it does
Checks that every variable a template reads is defined: declared under the prompt's
`inputs:`, or given by every test case of the suite that runs the prompt. Variables the
template sets itself (`{% set %}`, `{% for x in … %}`) and built-ins (`loop`, `range`) are
not inputs, and a variable the template treats as optional (`x is defined`,
`x is undefined`, `x | default(…)`) may be missing. A prompt with no `inputs:` that is linted outside a suite has no contract to
check against, and this rule stays silent for it.

## Why is this bad?
incant renders strictly, so the prompt fails on every case that lacks the variable; other
tools render it as an empty string and the model silently receives a prompt with a hole in
it. Either way the fault is usually a typo or a rename that missed one place.

## Example
```text
---
inputs:
  question: { type: string }
---
user:
Answer briefly: {{ qustion }}
```

Use instead:
```text
user:
Answer briefly: {{ question }}
```
"#;

/// The doc of P002.
pub const UNUSED_DOC: &str = r#"# unused-input (P002)

## What it does
Checks that every input declared under `inputs:` is read by at least one section of the
template.

## Why is this bad?
An unused input is a promise the prompt does not keep: callers fill it in, tests vary it,
and nothing reaches the model. It is often the other half of an undefined variable (the
template was edited, the front matter was not).

## Example
```text
---
inputs:
  document: { type: string }
  tone: { type: string, default: neutral }
---
user:
Summarize: {{ document }}
```

Use instead (use the input, or delete it):
```text
user:
Summarize in a {{ tone }} tone: {{ document }}
```
"#;

/// Whether the template guards `name` against being absent.
fn optional(template: &str, name: &str) -> bool {
    let name = regex::escape(name);
    let guard = format!(
        r"\b{name}\s+is\s+(?:not\s+)?(?:defined|undefined)\b|\b{name}\s*\|\s*(?:default|d)\b"
    );
    regex::Regex::new(&guard).is_ok_and(|re| re.is_match(template))
}

/// P001: variables read by a section but defined by neither the inputs nor the tests.
pub fn check_undefined(cx: &Context, out: &mut Vec<Diagnostic>) {
    let inputs: BTreeSet<&str> = cx.prompt.inputs.keys().map(String::as_str).collect();
    let cases = cx.suite.map_or(&[][..], |s| &s.vars[..]);
    if inputs.is_empty() && cases.is_empty() {
        return;
    }
    for section in &cx.prompt.sections {
        for name in used_variables(&section.template) {
            if inputs.contains(name.as_str()) || optional(&section.template, &name) {
                continue;
            }
            let missing = cases.iter().filter(|v| !v.contains_key(&name)).count();
            if !cases.is_empty() && missing == 0 {
                continue;
            }
            let message = if cases.is_empty() {
                format!("undefined variable `{name}`: not declared under `inputs:`")
            } else if missing == cases.len() && !inputs.is_empty() {
                format!("undefined variable `{name}`: not declared under `inputs:` and no test case gives it")
            } else if missing == cases.len() {
                format!("undefined variable `{name}`: no test case gives it")
            } else {
                format!(
                    "undefined variable `{name}`: {missing} of {} test cases do not give it",
                    cases.len()
                )
            };
            let offset = first_use(&section.template, &name).unwrap_or(0);
            let at = cx.file.in_section(section, offset);
            out.push(cx.diagnostic(Rule::UndefinedVariable, at, message));
        }
    }
}

/// P002: declared inputs that no section reads.
pub fn check_unused(cx: &Context, out: &mut Vec<Diagnostic>) {
    let used: BTreeSet<String> = cx
        .prompt
        .sections
        .iter()
        .flat_map(|s| used_variables(&s.template))
        .collect();
    for name in cx.prompt.inputs.keys() {
        if used.contains(name) {
            continue;
        }
        let at = cx
            .file
            .front_matter_key(Some("inputs"), name)
            .unwrap_or((1, 1));
        let message = format!("input `{name}` is declared but no template uses it");
        out.push(cx.diagnostic(Rule::UnusedInput, at, message));
    }
}

#[cfg(test)]
mod tests {
    use crate::collect::SuiteInfo;
    use crate::registry::Rule;
    use crate::rules::test_support::lint;
    use std::path::PathBuf;

    const P: &str = "---\ninputs:\n  question: { type: string }\n  tone: string\n---\nsystem:\nBe {{ tone }}.\n\nuser:\nAnswer: {{ qustion }} {{ question }}\n";

    #[test]
    fn undefined_variable_points_at_its_first_use() {
        assert_eq!(
            lint(Rule::UndefinedVariable, "a.prompt", P, None),
            ["a.prompt:10:12 P001 undefined variable `qustion`: not declared under `inputs:`"]
        );
        let clean = P.replace("{{ qustion }} ", "");
        assert!(lint(Rule::UndefinedVariable, "a.prompt", &clean, None).is_empty());
        // Variables the template treats as optional may be missing.
        let optional = P.replace(
            "{{ qustion }}",
            "{% if style is defined %}{{ style }}{% endif %}{{ extra | default('') }}",
        );
        assert!(lint(Rule::UndefinedVariable, "a.prompt", &optional, None).is_empty());
    }

    #[test]
    fn test_cases_define_variables_for_prompts_without_inputs() {
        let text = "Translate {{ text }} to {{ lang }}";
        let vars = |v: serde_json::Value| v.as_object().unwrap().clone();
        let suite = SuiteInfo {
            path: PathBuf::from("incant.yaml"),
            vars: vec![
                vars(serde_json::json!({"text": "a", "lang": "fr"})),
                vars(serde_json::json!({"text": "b"})),
            ],
            providers: vec![],
        };
        assert_eq!(
            lint(Rule::UndefinedVariable, "t.prompt", text, Some(&suite)),
            ["t.prompt:1:28 P001 undefined variable `lang`: 1 of 2 test cases do not give it"]
        );
        // Alone, a prompt without inputs has no contract to check.
        assert!(lint(Rule::UndefinedVariable, "t.prompt", text, None).is_empty());
    }

    #[test]
    fn unused_input_points_at_its_declaration() {
        let text = P.replace("Be {{ tone }}.", "Be brief.");
        assert_eq!(
            lint(Rule::UnusedInput, "a.prompt", &text, None),
            ["a.prompt:4:3 P002 input `tone` is declared but no template uses it"]
        );
        assert!(lint(Rule::UnusedInput, "a.prompt", P, None).is_empty());
    }
}
