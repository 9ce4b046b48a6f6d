//! `incant redteam`'s engine: runs the guard's attack library against a prompt on one or
//! more providers, with and without the guard, and reports how exposed the prompt is.
//!
//! # An attempt
//! 1. The prompt is rendered with the attack in its user-facing input variable (or, for
//!    indirect injection, in its document variable; see [`target`]). The attacked
//!    variables' declared limits (length, pattern, allowed values) are lifted: a red team
//!    measures what the model does with hostile text, not whether a form would refuse it.
//! 2. A [`Canary`](incant_guard::Canary) derived from a secret, the prompt's name and its
//!    version is appended to the system prompt.
//! 3. Guard off: the model is called and its output judged as is. Guard on: the attack text
//!    is scanned first and a flagged one is blocked (no model call; the attempt is
//!    defended); otherwise the model's output is redacted by the guard before it is judged.
//!    When both modes run, the guarded attempt reuses the unguarded call (the guard does not
//!    change the request), so the two differ only by what the guard did.
//! 4. The judge is the guard's output side ([`incant_guard::Attack::judge`]): the canary in
//!    the output, the share of the system prompt's character n-grams over the threshold, or
//!    the hijack marker. An attack succeeds when it reaches its goal (leak or hijack); a
//!    leak is counted for any goal.
//!
//! # Report
//! [`RedteamReport`]: attack success rate and leak rate per category x provider x guard
//! mode, per prompt, the attempts worst first; rendered for a terminal, as JSON and as a
//! self-contained HTML page ([`render`]); stored as a run ([`store`]) so `incant compare`
//! pairs the attempts of two runs by prompt, attack, guard mode and repeat.

pub mod render;
pub mod report;
pub mod run;
pub mod store;
pub mod target;

pub use report::{Attempt, Cell, RedteamReport, Totals};
pub use run::{run, select_attacks, Progress};
pub use target::{Prepared, Target};

use incant_guard::Category;
use serde_json::{Map, Value};

/// The secret canaries are derived from when the caller gives none. A team that wants
/// canaries nobody outside can predict passes its own ([`RedteamOptions::canary_secret`]).
pub const DEFAULT_CANARY_SECRET: &[u8] = b"incant-redteam";

/// Which guard modes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardMode {
    /// Only with the guard (input scan, output redaction).
    On,
    /// Only without it.
    Off,
    /// Both, from the same model calls.
    Both,
}

impl GuardMode {
    /// Parses `on`, `off` or `both`.
    pub fn parse(text: &str) -> Result<Self, RedteamError> {
        match text {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            "both" => Ok(Self::Both),
            other => Err(RedteamError::Option {
                field: "guard".into(),
                reason: format!("`{other}` is not a guard mode (use on, off or both)"),
            }),
        }
    }

    /// Whether guarded attempts run.
    pub fn includes_on(self) -> bool {
        matches!(self, Self::On | Self::Both)
    }

    /// Whether unguarded attempts run.
    pub fn includes_off(self) -> bool {
        matches!(self, Self::Off | Self::Both)
    }
}

/// How to red-team.
#[derive(Debug, Clone)]
pub struct RedteamOptions {
    /// Guard modes.
    pub guard: GuardMode,
    /// Attack families to run (empty: all).
    pub categories: Vec<Category>,
    /// Attempts per attack, prompt and provider. With more than one, each repeat sends
    /// `seed` = [`RedteamOptions::seed`] + repeat, so sampled outputs differ and reproduce.
    pub repeats: usize,
    /// Seed of the attack sample and of the repeats.
    pub seed: u64,
    /// At most this many attacks (a seeded sample spread over the families).
    pub max_attacks: Option<usize>,
    /// The secret canaries are derived from.
    pub canary_secret: Vec<u8>,
    /// The variable that receives user-delivered attacks (default: found in the template).
    pub input_var: Option<String>,
    /// The variable that receives document-delivered attacks (default: found by name).
    pub document_var: Option<String>,
    /// Values of the prompt's other variables (e.g. a suite test's vars).
    pub vars: Map<String, Value>,
    /// Parameters laid over the prompt's (e.g. `max_tokens`).
    pub params: Map<String, Value>,
}

impl Default for RedteamOptions {
    fn default() -> Self {
        Self {
            guard: GuardMode::Both,
            categories: Vec::new(),
            repeats: 1,
            seed: 0,
            max_attacks: None,
            canary_secret: DEFAULT_CANARY_SECRET.to_vec(),
            input_var: None,
            document_var: None,
            vars: Map::new(),
            params: Map::new(),
        }
    }
}

/// Parses an attack family name (`system-prompt-extraction`, `encoding`, ...).
pub fn parse_category(name: &str) -> Result<Category, RedteamError> {
    serde_json::from_value(Value::String(name.to_string())).map_err(|_| RedteamError::Option {
        field: "categories".into(),
        reason: format!(
            "`{name}` is not an attack family (known: system-prompt-extraction, \
             instruction-override, role-play-jailbreak, delimiter-attack, encoding, \
             multilingual, indirect-injection, ascii-smuggling)"
        ),
    })
}

/// Everything that can stop a red-team run (a failed model call is an attempt result).
#[derive(Debug, thiserror::Error)]
pub enum RedteamError {
    /// An option is wrong.
    #[error("{field}: {reason}")]
    Option {
        /// The option.
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The prompt cannot be attacked as it is.
    #[error("{prompt}: {reason}")]
    Prompt {
        /// The prompt's file.
        prompt: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The prompt failed to render with an attack in it.
    #[error("{0}")]
    Render(#[from] incant_prompt::PromptError),
    /// A provider is misconfigured (calls that merely fail are results, not this).
    #[error("provider {provider}: {reason}")]
    Provider {
        /// The provider id.
        provider: String,
        /// The provider's message.
        reason: String,
    },
    /// The run could not be stored.
    #[error(transparent)]
    Store(#[from] incant_store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_categories_parse_with_clear_errors() {
        assert_eq!(GuardMode::parse("both").unwrap(), GuardMode::Both);
        assert!(GuardMode::On.includes_on() && !GuardMode::On.includes_off());
        let e = GuardMode::parse("yes").unwrap_err().to_string();
        assert!(e.contains("guard") && e.contains("on, off or both"), "{e}");
        assert_eq!(parse_category("encoding").unwrap(), Category::Encoding);
        assert_eq!(
            parse_category("ascii-smuggling").unwrap(),
            Category::AsciiSmuggling
        );
        let e = parse_category("dan").unwrap_err().to_string();
        assert!(e.contains("`dan`") && e.contains("multilingual"), "{e}");
    }
}
