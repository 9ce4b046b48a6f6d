//! Grid axes: what an axis varies, its parsed values, and their labels.
//!
//! The axis types are A1111's X/Y/Z plot options that make sense for incant's image
//! providers (Seed, Steps, CFG Scale, Sampler, Checkpoint name -> Provider, Prompt S/R) plus
//! Width, Height, Negative prompt S/R and `var:NAME` for a prompt template variable. Values
//! are read as A1111 reads them ([`crate::values`]) and labelled as A1111 labels them
//! (`Seed: 5`, `CFG Scale: 7.5`; S/R and sampler values bare), so a grid made here can be
//! compared with one from the web UI.

use crate::pyfmt::{py_float_repr, py_round8};
use crate::values::{parse_float_values, parse_int_values, split_values, ValueError};
use crate::GridError;
use serde::{Deserialize, Serialize};

/// What an axis varies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AxisKind {
    /// The seed; `-1` is replaced by one random seed per value (A1111's `fix_axis_seeds`).
    Seed,
    /// Sampling steps.
    Steps,
    /// Classifier-free guidance scale.
    CfgScale,
    /// The sampler name as A1111 spells it.
    Sampler,
    /// The image provider id (A1111's "Checkpoint name").
    Provider,
    /// Prompt search/replace: the first value is searched, every value replaces it (in the
    /// prompt and the negative prompt, as A1111 does).
    PromptSr,
    /// Search/replace in the negative prompt only.
    NegativePromptSr,
    /// A prompt template variable; the prompt is rendered again for each value.
    Var(String),
    /// Image width in pixels.
    Width,
    /// Image height in pixels.
    Height,
}

/// How values of an axis are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Int,
    Float,
    Text,
}

impl AxisKind {
    /// Reads an axis type as a user writes it: A1111's labels (`CFG Scale`, `Prompt S/R`,
    /// `Checkpoint name`) or short names (`cfg`, `prompt-sr`, `var:subject`), any case.
    pub fn parse(name: &str) -> Result<Self, GridError> {
        let trimmed = name.trim();
        if let Some(var) = trimmed
            .strip_prefix("var:")
            .or_else(|| trimmed.strip_prefix("Var:"))
            .or_else(|| trimmed.strip_prefix("VAR:"))
        {
            let var = var.trim();
            if var.is_empty() {
                return Err(GridError::AxisType {
                    name: name.to_string(),
                    hint: "name the variable: `var:subject`".into(),
                });
            }
            return Ok(Self::Var(var.to_string()));
        }
        let key: String = trimmed
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Ok(match key.as_str() {
            "seed" | "seeds" => Self::Seed,
            "steps" | "step" => Self::Steps,
            "cfg" | "cfgscale" | "guidance" => Self::CfgScale,
            "sampler" | "samplername" => Self::Sampler,
            "provider" | "providers" | "checkpoint" | "checkpointname" | "model" => Self::Provider,
            "promptsr" | "sr" | "prompt" => Self::PromptSr,
            "negativepromptsr" | "negativesr" | "negsr" | "negative" => Self::NegativePromptSr,
            "width" | "w" => Self::Width,
            "height" | "h" => Self::Height,
            _ => {
                return Err(GridError::AxisType {
                    name: name.to_string(),
                    hint: "use one of: seed, steps, cfg, sampler, provider, prompt-sr, negative-sr, width, height, var:NAME".into(),
                })
            }
        })
    }

    /// The axis title, as A1111 shows it.
    pub fn title(&self) -> String {
        match self {
            Self::Seed => "Seed".into(),
            Self::Steps => "Steps".into(),
            Self::CfgScale => "CFG Scale".into(),
            Self::Sampler => "Sampler".into(),
            Self::Provider => "Provider".into(),
            Self::PromptSr => "Prompt S/R".into(),
            Self::NegativePromptSr => "Negative prompt S/R".into(),
            Self::Var(name) => name.clone(),
            Self::Width => "Width".into(),
            Self::Height => "Height".into(),
        }
    }

    fn value_type(&self) -> ValueType {
        match self {
            Self::Seed | Self::Steps | Self::Width | Self::Height => ValueType::Int,
            Self::CfgScale => ValueType::Float,
            _ => ValueType::Text,
        }
    }

    /// A1111's generation cost: slow-to-switch axes (checkpoints, here providers) go in the
    /// outer loop.
    pub(crate) fn cost(&self) -> f64 {
        if *self == Self::Provider {
            1.0
        } else {
            0.0
        }
    }
}

/// One value on an axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AxisValue {
    /// Seed, steps, width, height.
    Int(i64),
    /// CFG scale.
    Float(f64),
    /// Sampler, provider, S/R text, variable value.
    Text(String),
}

/// An axis: its kind and its values in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// What the axis varies.
    pub kind: AxisKind,
    /// The values, ranges expanded.
    pub values: Vec<AxisValue>,
}

fn value_error(kind: &AxisKind, e: ValueError) -> GridError {
    GridError::AxisValue {
        axis: kind.title(),
        value: e.value,
        reason: e.reason,
        hint: e.hint,
    }
}

impl Axis {
    /// Parses `text` (comma-separated, CSV quoting, A1111 ranges on numeric axes) for `kind`
    /// and checks every value fits the field it sets.
    pub fn parse(kind: AxisKind, text: &str) -> Result<Self, GridError> {
        let values: Vec<AxisValue> = match kind.value_type() {
            ValueType::Int => parse_int_values(text)
                .map_err(|e| value_error(&kind, e))?
                .into_iter()
                .map(AxisValue::Int)
                .collect(),
            ValueType::Float => parse_float_values(text)
                .map_err(|e| value_error(&kind, e))?
                .into_iter()
                .map(AxisValue::Float)
                .collect(),
            ValueType::Text => split_values(text)
                .map_err(|e| value_error(&kind, e))?
                .into_iter()
                .map(AxisValue::Text)
                .collect(),
        };
        Self::new(kind, values)
    }

    /// An axis from values already typed; checks them as [`Axis::parse`] does.
    pub fn new(kind: AxisKind, values: Vec<AxisValue>) -> Result<Self, GridError> {
        let bad = |value: String, reason: &str, hint: &str| GridError::AxisValue {
            axis: kind.title(),
            value,
            reason: reason.into(),
            hint: hint.into(),
        };
        if values.is_empty() {
            return Err(bad(
                String::new(),
                "the axis has no values",
                "give at least one value, e.g. `1-4` or `7, 8`",
            ));
        }
        for v in &values {
            match (&kind, v) {
                (AxisKind::Seed, AxisValue::Int(s)) if *s < -1 => {
                    return Err(bad(
                        s.to_string(),
                        "seeds are non-negative",
                        "use -1 for a random seed",
                    ))
                }
                (AxisKind::Steps | AxisKind::Width | AxisKind::Height, AxisValue::Int(n))
                    if *n < 1 || *n > i64::from(u32::MAX) =>
                {
                    return Err(bad(
                        n.to_string(),
                        "must be a positive integer",
                        "e.g. `20-40 (+10)` or `512, 768`",
                    ))
                }
                (AxisKind::CfgScale, AxisValue::Float(f)) if !f.is_finite() => {
                    return Err(bad(
                        py_float_repr(*f),
                        "must be a finite number",
                        "e.g. `3-9 (+1.5)`",
                    ))
                }
                (AxisKind::Sampler | AxisKind::Provider, AxisValue::Text(t)) if t.is_empty() => {
                    return Err(bad(
                        String::new(),
                        "an empty name",
                        "remove the stray comma",
                    ))
                }
                (AxisKind::PromptSr | AxisKind::NegativePromptSr, AxisValue::Text(t))
                    if std::ptr::eq(v, &values[0]) && t.is_empty() =>
                {
                    return Err(bad(
                        String::new(),
                        "the search string (the first value) is empty",
                        "start with the text to replace, e.g. `cat, dog, fox`",
                    ))
                }
                (_, AxisValue::Int(_)) if kind.value_type() == ValueType::Int => {}
                (_, AxisValue::Float(_)) if kind.value_type() == ValueType::Float => {}
                (_, AxisValue::Text(_)) if kind.value_type() == ValueType::Text => {}
                (_, other) => {
                    return Err(bad(
                        format!("{other:?}"),
                        "the value has the wrong type for this axis",
                        "numbers for seed/steps/cfg/width/height, text otherwise",
                    ))
                }
            }
        }
        Ok(Self { kind, values })
    }

    /// The label of every value, as A1111's format functions write it.
    pub fn labels(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| value_label(&self.kind, v))
            .collect()
    }
}

/// A1111's `format_value_add_label` for numeric axes (`Seed: 5`, `CFG Scale: 7.0`, floats
/// rounded to 8 places and written as Python writes them) and `format_value` for text
/// axes (the value itself); variables read `name: value`.
pub fn value_label(kind: &AxisKind, value: &AxisValue) -> String {
    let shown = match value {
        AxisValue::Int(i) => i.to_string(),
        AxisValue::Float(f) => py_float_repr(py_round8(*f)),
        AxisValue::Text(t) => t.clone(),
    };
    match kind {
        AxisKind::Seed
        | AxisKind::Steps
        | AxisKind::CfgScale
        | AxisKind::Width
        | AxisKind::Height => {
            format!("{}: {shown}", kind.title())
        }
        AxisKind::Var(name) => format!("{name}: {shown}"),
        AxisKind::Sampler
        | AxisKind::Provider
        | AxisKind::PromptSr
        | AxisKind::NegativePromptSr => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_a1111_labels_and_short_names() {
        assert_eq!(AxisKind::parse("CFG Scale").unwrap(), AxisKind::CfgScale);
        assert_eq!(AxisKind::parse("Prompt S/R").unwrap(), AxisKind::PromptSr);
        assert_eq!(
            AxisKind::parse("Checkpoint name").unwrap(),
            AxisKind::Provider
        );
        assert_eq!(
            AxisKind::parse("var:subject").unwrap(),
            AxisKind::Var("subject".into())
        );
        assert!(matches!(
            AxisKind::parse("eta"),
            Err(GridError::AxisType { .. })
        ));
    }

    #[test]
    fn errors_name_axis_and_value() {
        let e = Axis::parse(AxisKind::Steps, "10, 2x, 30").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("Steps") && msg.contains("2x"), "{msg}");
        let e = Axis::parse(AxisKind::Seed, "-5").unwrap_err().to_string();
        assert!(e.contains("-1 for a random seed"), "{e}");
        assert!(Axis::parse(AxisKind::CfgScale, "nan").is_err());
    }

    #[test]
    fn labels() {
        let a = Axis::parse(AxisKind::CfgScale, "7, 7.5").unwrap();
        assert_eq!(a.labels(), ["CFG Scale: 7.0", "CFG Scale: 7.5"]);
        let a = Axis::parse(AxisKind::PromptSr, "cat, dog").unwrap();
        assert_eq!(a.labels(), ["cat", "dog"]);
    }
}
