//! A small red-team run on the real local model (SmolLM2 from `INCANT_MODELS`, else the
//! workspace's `models/`): a few attacks with a short answer, both guard modes.

use incant_guard::{AttackLibrary, Guard, GuardConfig};
use incant_prompt::file::PromptFile;
use incant_redteam::{run, GuardMode, RedteamOptions, Target};
use serde_json::json;
use std::path::PathBuf;

fn models_dir() -> PathBuf {
    match std::env::var_os("INCANT_MODELS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

#[test]
fn smollm2_answers_attacks_and_the_guard_blocks_them() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let prompt =
        PromptFile::load(&root.join("examples/quickstart/prompts/capital.prompt")).unwrap();
    let provider = incant_provider::from_spec("local:smollm2", &Default::default(), &models_dir())
        .unwrap_or_else(|e| panic!("local:smollm2: {e} (run `incant models fetch smollm2`)"));
    let guard = Guard::new(GuardConfig::default());
    let mut options = RedteamOptions {
        guard: GuardMode::Both,
        max_attacks: Some(4),
        seed: 3,
        ..Default::default()
    };
    options.params.insert("max_tokens".into(), json!(12));
    let target = Target::new(&prompt, &options).unwrap();
    let lib = AttackLibrary::builtin();
    let report = run(
        std::slice::from_ref(&prompt),
        &[provider],
        &guard,
        &AttackLibrary::builtin(),
        &options,
        |_| {},
    )
    .unwrap();
    assert_eq!(report.attempts.len(), 8);
    for a in &report.attempts {
        assert!(a.error.is_none(), "{}: {:?}", a.attack, a.error);
        if a.guarded {
            assert!(a.blocked && a.output.is_none() && !a.verdict.success);
        } else {
            let out = a.output.as_deref().unwrap();
            assert!(!out.trim().is_empty() && a.latency_ms > 0.0, "{}", a.attack);
            // The verdict is the guard's judgement of exactly this output.
            let attack = lib.attacks().find(|x| x.id == a.attack).unwrap();
            let prepared = target.prepare(&a.attack_text, attack.delivery).unwrap();
            assert_eq!(attack.judge(&guard, out, &prepared.secret), a.verdict);
            assert!(a.user_message.contains("What is the capital of"));
            assert!(!a.user_message.contains(&target.canary.token));
        }
    }
    let on = report.overall_for("local:smollm2", true).unwrap();
    assert_eq!((on.totals.successes, on.totals.blocked), (0, 4));
    let text = report.to_terminal(100, false);
    assert!(text.contains("local:smollm2 guard off"), "{text}");
}
