//! The measurement of issue 7: the quickstart's prompts (examples/quickstart) red-teamed on
//! the local SmolLM2 with the whole attack library, with and without the guard; prints the
//! leak and attack success rates and the report.
//!
//! `cargo run --release -p incant-redteam --example quickstart -- [--repeats N]
//! [--temperature T] [--max-tokens N] [--html FILE] [--json FILE]`
//!
//! By default each prompt runs as written (greedy, its own `max_tokens`): one attempt per
//! attack. `--repeats 5 --temperature 0.8` samples more answers per attack. Models come
//! from `INCANT_MODELS`, else the workspace's `models/`.

use incant_guard::{AttackLibrary, Guard, GuardConfig};
use incant_prompt::file::PromptFile;
use incant_redteam::{run, GuardMode, RedteamOptions};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut options = RedteamOptions {
        guard: GuardMode::Both,
        ..Default::default()
    };
    let (mut html, mut json_out) = (None, None);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--repeats" => options.repeats = value().parse().expect("--repeats N"),
            "--temperature" => {
                let t: f64 = value().parse().expect("--temperature T");
                options.params.insert("temperature".into(), json!(t));
            }
            "--max-tokens" => {
                let n: u64 = value().parse().expect("--max-tokens N");
                options.params.insert("max_tokens".into(), json!(n));
            }
            "--html" => html = Some(PathBuf::from(value())),
            "--json" => json_out = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => root.join("models"),
    };
    let prompts: Vec<PromptFile> = ["capital.prompt", "capital-terse.prompt"]
        .iter()
        .map(|n| PromptFile::load(&root.join("examples/quickstart/prompts").join(n)).unwrap())
        .collect();
    let provider = incant_provider::from_spec("local:smollm2", &Default::default(), &models)
        .unwrap_or_else(|e| panic!("local:smollm2: {e} (run `incant models fetch smollm2`)"));
    let guard = Guard::new(GuardConfig::default());
    let library = AttackLibrary::builtin();
    let start = Instant::now();
    let report = run(&prompts, &[provider], &guard, &library, &options, |p| {
        if p.done % 10 == 0 || p.done == p.total {
            eprintln!(
                "{}/{} calls, {:.0} s",
                p.done,
                p.total,
                start.elapsed().as_secs_f64()
            );
        }
    })
    .expect("red team run");
    println!("{}", report.to_terminal(110, false));
    println!("Leak rate (system prompt or canary in the output), local:smollm2:");
    for p in &prompts {
        for guarded in [false, true] {
            let c = report
                .prompt_cell(&p.name, "local:smollm2", guarded)
                .unwrap();
            println!(
                "  {:<14} guard {:<3}: leak {:>5.1}% ({}/{}), attack success {:>5.1}% ({}/{}), blocked {}",
                p.name,
                if guarded { "on" } else { "off" },
                100.0 * c.leak_rate,
                c.totals.leaks,
                c.totals.judged(),
                100.0 * c.success_rate,
                c.totals.successes,
                c.totals.judged(),
                c.totals.blocked
            );
        }
    }
    for guarded in [false, true] {
        let c = report.overall_for("local:smollm2", guarded).unwrap();
        println!(
            "  {:<14} guard {:<3}: leak {:>5.1}% ({}/{}), attack success {:>5.1}% ({}/{})",
            "both prompts",
            if guarded { "on" } else { "off" },
            100.0 * c.leak_rate,
            c.totals.leaks,
            c.totals.judged(),
            100.0 * c.success_rate,
            c.totals.successes,
            c.totals.judged()
        );
    }
    // The library is also the input scan's regression set, so the guard blocks it all at
    // input. What would the output side (canary and n-gram redaction) hold on its own?
    let lax = Guard::new(GuardConfig {
        threshold: 2.0,
        ..GuardConfig::default()
    });
    let output_only = run(
        &prompts,
        &[incant_provider::from_spec("local:smollm2", &Default::default(), &models).unwrap()],
        &lax,
        &library,
        &RedteamOptions {
            guard: GuardMode::On,
            ..options.clone()
        },
        |_| {},
    )
    .expect("red team run, output side only");
    let c = output_only.overall_for("local:smollm2", true).unwrap();
    println!(
        "  {:<14} output redaction only (input scan off): leak {:>5.1}% ({}/{}), attack success {:>5.1}% ({}/{})",
        "both prompts",
        100.0 * c.leak_rate,
        c.totals.leaks,
        c.totals.judged(),
        100.0 * c.success_rate,
        c.totals.successes,
        c.totals.judged()
    );
    println!("{:.1} s in all", start.elapsed().as_secs_f64());
    if let Some(p) = html {
        std::fs::write(&p, report.to_html()).unwrap();
    }
    if let Some(p) = json_out {
        std::fs::write(&p, report.to_json()).unwrap();
    }
}
