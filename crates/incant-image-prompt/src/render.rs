//! One image prompt, written once in A1111's syntax, rendered for each target.
//!
//! Targets read prompt syntax differently, and a prompt tuned for one front end is quietly
//! misread by another:
//!
//! - **A1111** reads everything: the prompt goes as written.
//! - **ComfyUI** reads `(text)` and `(text:weight)` but not `[text]`, prompt editing,
//!   alternation, `AND` or `BREAK`: weights are rewritten as explicit `(text:weight)` groups
//!   and each unsupported construct is resolved with a warning.
//! - **diffusers** and the **local** candle pipeline take weights on the token embeddings
//!   (A1111's emphasis: hidden states scaled per token, the mean restored): the text is plain
//!   and [`Rendered::weighted`] holds the `(text, weight)` pieces, `BREAK`s included.
//! - **OpenAI images** take natural language: all syntax is stripped, with a warning that the
//!   weights are ignored, and a negative prompt cannot be sent.
//!
//! Prompt editing and alternation change the prompt during sampling; targets that cannot do
//! that get the text A1111 uses for the most steps.

use crate::{parse_prompt_attention, prompt_schedules, split_and, BREAK_WEIGHT};

/// A front end an image prompt is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// AUTOMATIC1111's web UI (and Forge): the full syntax.
    A1111,
    /// ComfyUI: `(text:weight)` only.
    ComfyUi,
    /// diffusers' pipelines: weights applied to the prompt embeddings by the caller.
    Diffusers,
    /// incant's local candle pipeline: weights applied to the embeddings, A1111-style.
    Local,
    /// OpenAI's image API: natural language.
    OpenAi,
}

impl Target {
    /// The target of a provider id (`a1111:URL`, `comfyui:URL`, `openai:image:MODEL`,
    /// `local:sd`, `diffusers`), or `None` for a text provider.
    pub fn from_provider_id(id: &str) -> Option<Self> {
        let scheme = id.split(':').next().unwrap_or(id);
        match scheme {
            "a1111" | "forge" => Some(Self::A1111),
            "comfyui" => Some(Self::ComfyUi),
            "diffusers" => Some(Self::Diffusers),
            "local" if id.starts_with("local:sd") => Some(Self::Local),
            "openai" if id.starts_with("openai:image:") => Some(Self::OpenAi),
            _ => None,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::A1111 => "A1111",
            Self::ComfyUi => "ComfyUI",
            Self::Diffusers => "diffusers",
            Self::Local => "local:sd",
            Self::OpenAi => "OpenAI images",
        }
    }

    /// Whether the target keeps only CLIP's first 75 tokens, dropping the rest silently.
    pub fn truncates_at_77(self) -> bool {
        matches!(self, Self::Diffusers)
    }

    /// Whether the target encodes long prompts in A1111's 75-token chunks.
    pub fn chunks_like_a1111(self) -> bool {
        matches!(self, Self::A1111 | Self::Local)
    }
}

/// A prompt as `(text, weight)` pieces, as `parse_prompt_attention` gives them.
pub type Weighted = Vec<(String, f64)>;

/// A prompt rendered for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The positive prompt text to send.
    pub prompt: String,
    /// The negative prompt text to send (empty when the target takes none).
    pub negative: String,
    /// For targets that weight embeddings: the `(text, weight)` pieces of the prompt and the
    /// negative prompt, as A1111's `parse_prompt_attention` gives them.
    pub weighted: Option<(Weighted, Weighted)>,
    /// What the target will not honour.
    pub warnings: Vec<String>,
}

/// Renders `prompt` and `negative` (A1111 syntax) for `target`; `steps` resolves prompt
/// editing for targets without it.
pub fn render(prompt: &str, negative: &str, target: Target, steps: u32) -> Rendered {
    let mut warnings = Vec::new();
    if target == Target::A1111 {
        return Rendered {
            prompt: prompt.to_string(),
            negative: negative.to_string(),
            weighted: None,
            warnings,
        };
    }
    let pos = Resolved::new(prompt, target, steps, "prompt", &mut warnings);
    let neg = Resolved::new(negative, target, steps, "negative prompt", &mut warnings);
    match target {
        Target::A1111 => unreachable!("returned above"),
        Target::ComfyUi => Rendered {
            prompt: comfy_syntax(&pos.pieces, "prompt", &mut warnings),
            negative: comfy_syntax(&neg.pieces, "negative prompt", &mut warnings),
            weighted: None,
            warnings,
        },
        Target::Diffusers | Target::Local => Rendered {
            prompt: plain(&pos.pieces),
            negative: plain(&neg.pieces),
            weighted: Some((pos.pieces, neg.pieces)),
            warnings,
        },
        Target::OpenAi => {
            if pos
                .pieces
                .iter()
                .any(|(t, w)| *w != 1.0 && !is_break(t, *w))
            {
                warnings.push(
                    "OpenAI images take natural language: attention weights are ignored \
                     (the syntax was removed)"
                        .into(),
                );
            }
            if pos.pieces.iter().any(|(t, w)| is_break(t, *w)) {
                warnings.push("OpenAI images: BREAK was removed".into());
            }
            if !plain(&neg.pieces).is_empty() {
                warnings.push(
                    "OpenAI images take no negative prompt: it was not sent (describe what \
                     you want instead)"
                        .into(),
                );
            }
            Rendered {
                prompt: plain(&pos.pieces),
                negative: String::new(),
                weighted: None,
                warnings,
            }
        }
    }
}

/// A prompt with editing, alternation and `AND` resolved for a target without them.
struct Resolved {
    pieces: Vec<(String, f64)>,
}

impl Resolved {
    fn new(text: &str, target: Target, steps: u32, what: &str, warnings: &mut Vec<String>) -> Self {
        let steps = i64::from(steps.max(1));
        let schedules = prompt_schedules(text, steps);
        let text = if schedules.len() > 1 {
            // The schedule used for the most steps (the earliest on a tie).
            let mut best = (0i64, String::new());
            let mut from = 0i64;
            for (end, s) in &schedules {
                if end - from > best.0 {
                    best = (end - from, s.clone());
                }
                from = *end;
            }
            warnings.push(format!(
                "{}: prompt editing and alternation are A1111 features; the {what} used for \
                 most steps was sent: {:?}",
                target.name(),
                best.1
            ));
            best.1
        } else {
            schedules
                .into_iter()
                .next()
                .map_or_else(|| text.to_string(), |s| s.1)
        };
        let parts = split_and(&text);
        let text = if parts.len() > 1 {
            warnings.push(format!(
                "{}: composable `AND` is an A1111 feature; the {what}'s sub-prompts were \
                 joined with commas",
                target.name()
            ));
            parts
                .iter()
                .map(|(p, _)| p.trim())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            text
        };
        Self {
            pieces: parse_prompt_attention(&text),
        }
    }
}

#[allow(clippy::float_cmp)]
fn is_break(text: &str, weight: f64) -> bool {
    text == "BREAK" && weight == BREAK_WEIGHT
}

/// The text of the pieces with the syntax gone and whitespace tidied.
fn plain(pieces: &[(String, f64)]) -> String {
    let joined: String = pieces
        .iter()
        .map(|(t, w)| if is_break(t, *w) { " " } else { t.as_str() })
        .collect();
    tidy(&joined)
}

/// Collapses whitespace runs and removes spaces before commas and periods.
fn tidy(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace(" ,", ",").replace(" .", ".")
}

/// ComfyUI's syntax for the pieces: `(text:weight)` for weighted text, brackets escaped.
fn comfy_syntax(pieces: &[(String, f64)], what: &str, warnings: &mut Vec<String>) -> String {
    let mut out = String::new();
    for (text, weight) in pieces {
        if is_break(text, *weight) {
            warnings.push(format!(
                "ComfyUI: BREAK in the {what} has no meaning there and was replaced by a comma \
                 (use a Conditioning Concat node for separate chunks)"
            ));
            out.push_str(", ");
            continue;
        }
        let escaped = text
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        #[allow(clippy::float_cmp)]
        if *weight == 1.0 || text.trim().is_empty() {
            out.push_str(&escaped);
        } else {
            // Keep surrounding spaces outside the group, as a person would write it.
            let lead = &escaped[..escaped.len() - escaped.trim_start().len()];
            let trail = &escaped[escaped.trim_end().len()..];
            out.push_str(&format!(
                "{lead}({}:{}){trail}",
                escaped.trim(),
                format_weight(*weight)
            ));
        }
    }
    out
}

/// A weight with at most four decimals and no trailing zeros (`1.1`, `0.9091`, `1.331`).
fn format_weight(w: f64) -> String {
    let s = format!("{w:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1111_keeps_everything() {
        let p = "a (cat:1.2) [from:to:5] AND b BREAK c";
        let r = render(p, "ugly", Target::A1111, 20);
        assert_eq!(r.prompt, p);
        assert_eq!(r.negative, "ugly");
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn comfyui_gets_explicit_weights() {
        let r = render(
            "a ((cat)), [dog] on (grass:1.3) \\(x\\)",
            "(blurry:1.2)",
            Target::ComfyUi,
            20,
        );
        assert_eq!(
            r.prompt,
            "a (cat:1.21), (dog:0.9091) on (grass:1.3) \\(x\\)"
        );
        assert_eq!(r.negative, "(blurry:1.2)");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn editing_resolves_to_the_longest_schedule_with_a_warning() {
        let r = render("a [dog:cat:5] in a field", "", Target::ComfyUi, 20);
        assert_eq!(r.prompt, "a cat in a field");
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("prompt editing"), "{:?}", r.warnings);
    }

    #[test]
    fn local_gets_weighted_pieces() {
        let r = render("a (red:1.5) fox BREAK snow", "", Target::Local, 20);
        assert_eq!(r.prompt, "a red fox snow");
        let (pos, neg) = r.weighted.unwrap();
        assert_eq!(
            pos,
            vec![
                ("a ".to_string(), 1.0),
                ("red".to_string(), 1.5),
                (" fox".to_string(), 1.0),
                ("BREAK".to_string(), -1.0),
                ("snow".to_string(), 1.0)
            ]
        );
        assert_eq!(neg, vec![(String::new(), 1.0)]);
    }

    #[test]
    fn openai_strips_syntax_and_warns() {
        let r = render(
            "a ((red)) fox , [snow] AND sky",
            "blurry",
            Target::OpenAi,
            20,
        );
        assert_eq!(r.prompt, "a red fox, snow, sky");
        assert_eq!(r.negative, "");
        let all = r.warnings.join("\n");
        assert!(all.contains("weights are ignored"), "{all}");
        assert!(all.contains("no negative prompt"), "{all}");
        assert!(all.contains("AND"), "{all}");
    }

    #[test]
    fn targets_from_provider_ids() {
        assert_eq!(
            Target::from_provider_id("a1111:http://127.0.0.1:7860"),
            Some(Target::A1111)
        );
        assert_eq!(
            Target::from_provider_id("comfyui:http://h:8188"),
            Some(Target::ComfyUi)
        );
        assert_eq!(
            Target::from_provider_id("openai:image:gpt-image-1"),
            Some(Target::OpenAi)
        );
        assert_eq!(Target::from_provider_id("local:sd"), Some(Target::Local));
        assert_eq!(Target::from_provider_id("local:smollm2"), None);
        assert_eq!(Target::from_provider_id("openai:chat:gpt-4o"), None);
    }
}
