//! The noise schedule of `scheduler/scheduler_config.json` and the samplers that walk it:
//! DDIM, Euler and Euler ancestral, following diffusers' `DDIMScheduler`,
//! `EulerDiscreteScheduler` and `EulerAncestralDiscreteScheduler` step for step.
//!
//! candle-transformers has DDIM and Euler ancestral, but its ancestral step draws noise from
//! candle's unseedable CPU RNG (a seed would not fix the picture) and it has no plain Euler;
//! the schedule arithmetic is small, so it lives here in f64, with the noise handed in by the
//! caller from [`crate::rng::NoiseRng`].
//!
//! A sampler is picked by its AUTOMATIC1111 name (`DDIM`, `Euler`, `Euler a`) or, when the
//! request names none, from the config's `_class_name` (turbo folders say
//! `EulerDiscreteScheduler`; classes without a sampler here, such as SD 1.5's PNDM, run DDIM).
//! As diffusers' `from_config` does, keys the config leaves out take the chosen sampler's
//! defaults (`timestep_spacing` is `leading` for DDIM and `linspace` for the Euler family).

use std::path::Path;

use candle_core::Tensor;
use serde::Deserialize;

use crate::config::read_json;
use crate::SdError;

/// The samplers this pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// Deterministic DDIM (eta = 0).
    Ddim,
    /// Euler's method on the k-diffusion sigmas.
    Euler,
    /// Euler with fresh noise at each step ("Euler a").
    EulerAncestral,
}

impl SamplerKind {
    /// Every accepted sampler name, for error messages.
    pub const NAMES: &'static str = "\"DDIM\", \"Euler\", \"Euler a\"";

    /// Parses an AUTOMATIC1111 sampler name (case and `_`/space insensitive; diffusers class
    /// names and k-diffusion's `k_euler`/`k_euler_a` are accepted too).
    pub fn from_name(name: &str) -> Result<Self, SdError> {
        let norm: String = name
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect();
        match norm.as_str() {
            "ddim" | "ddimscheduler" => Ok(SamplerKind::Ddim),
            "euler" | "keuler" | "eulerdiscretescheduler" => Ok(SamplerKind::Euler),
            "eulera" | "keulera" | "eulerancestral" | "eulerancestraldiscretescheduler" => {
                Ok(SamplerKind::EulerAncestral)
            }
            _ => Err(SdError::Request {
                field: "sampler",
                message: format!("unknown sampler {name:?}; use one of {}", Self::NAMES),
            }),
        }
    }

    /// The sampler a scheduler config's `_class_name` asks for.
    pub fn from_class(class: Option<&str>) -> Self {
        match class {
            Some("EulerDiscreteScheduler") => SamplerKind::Euler,
            Some("EulerAncestralDiscreteScheduler") => SamplerKind::EulerAncestral,
            _ => SamplerKind::Ddim,
        }
    }

    /// The AUTOMATIC1111 name.
    pub fn a1111_name(self) -> &'static str {
        match self {
            SamplerKind::Ddim => "DDIM",
            SamplerKind::Euler => "Euler",
            SamplerKind::EulerAncestral => "Euler a",
        }
    }
}

/// What the UNet predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The noise (SD 1.x, SD 2.x base, turbo).
    Epsilon,
    /// The velocity (SD 2.x 768).
    VPrediction,
    /// The clean sample.
    Sample,
}

/// How betas grow over the training timesteps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// Linear in beta.
    Linear,
    /// Linear in sqrt(beta) (every SD model).
    ScaledLinear,
    /// The Glide cosine schedule.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredCosCapV2,
}

/// Where the inference timesteps fall (Table 2 of "Common Diffusion Noise Schedules and
/// Sample Steps are Flawed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// `arange(n) * (T / n)` plus `steps_offset`.
    Leading,
    /// `linspace(0, T - 1, n)`.
    Linspace,
    /// Counting down from `T - 1` (turbo).
    Trailing,
}

fn default_prediction() -> Prediction {
    Prediction::Epsilon
}
fn default_train() -> usize {
    1000
}
fn default_beta_start() -> f64 {
    0.0001
}
fn default_beta_end() -> f64 {
    0.02
}
fn default_beta_schedule() -> BetaSchedule {
    BetaSchedule::Linear
}
fn default_clip_range() -> f64 {
    1.0
}

/// `scheduler/scheduler_config.json`, the fields the samplers here read.
#[derive(Debug, Clone, Deserialize)]
pub struct NoiseSchedule {
    /// The diffusers scheduler class the folder was saved with.
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
    /// Beta at the first training timestep.
    #[serde(default = "default_beta_start")]
    pub beta_start: f64,
    /// Beta at the last training timestep.
    #[serde(default = "default_beta_end")]
    pub beta_end: f64,
    /// How beta grows.
    #[serde(default = "default_beta_schedule")]
    pub beta_schedule: BetaSchedule,
    /// Training timesteps (1000).
    #[serde(default = "default_train")]
    pub num_train_timesteps: usize,
    /// What the UNet predicts.
    #[serde(default = "default_prediction")]
    pub prediction_type: Prediction,
    /// Added to `leading` timesteps.
    #[serde(default)]
    pub steps_offset: usize,
    /// The spacing; absent means the sampler's own default.
    #[serde(default)]
    pub timestep_spacing: Option<Spacing>,
    /// DDIM: clamp the predicted clean sample.
    #[serde(default)]
    pub clip_sample: bool,
    /// DDIM: the clamp range.
    #[serde(default = "default_clip_range")]
    pub clip_sample_range: f64,
    /// DDIM: the last step goes to alpha = 1 instead of `alphas_cumprod[0]`.
    #[serde(default)]
    pub set_alpha_to_one: bool,
    #[serde(default)]
    thresholding: bool,
    #[serde(default)]
    rescale_betas_zero_snr: bool,
    #[serde(default)]
    use_karras_sigmas: bool,
    #[serde(default)]
    trained_betas: Option<serde_json::Value>,
}

impl NoiseSchedule {
    /// Reads the scheduler config, refusing options the samplers here do not implement.
    pub fn load(path: &Path) -> Result<Self, SdError> {
        let s: NoiseSchedule = read_json(path, "the scheduler's diffusers config")?;
        let refused = [
            ("thresholding", s.thresholding),
            ("rescale_betas_zero_snr", s.rescale_betas_zero_snr),
            ("use_karras_sigmas", s.use_karras_sigmas),
            (
                "trained_betas",
                s.trained_betas.as_ref().is_some_and(|v| !v.is_null()),
            ),
        ];
        if let Some((field, _)) = refused.iter().find(|(_, on)| *on) {
            return Err(SdError::config(
                path,
                field,
                "is set but not supported; remove it or set it to false/null",
            ));
        }
        if s.num_train_timesteps == 0 {
            return Err(SdError::config(
                path,
                "num_train_timesteps",
                "must be positive",
            ));
        }
        Ok(s)
    }

    /// The cumulative products of (1 - beta) over the training timesteps.
    pub fn alphas_cumprod(&self) -> Vec<f64> {
        let t = self.num_train_timesteps;
        let lin = |a: f64, b: f64, i: usize| {
            if t == 1 {
                a
            } else {
                a + (b - a) * i as f64 / (t - 1) as f64
            }
        };
        let betas: Vec<f64> = (0..t)
            .map(|i| match self.beta_schedule {
                BetaSchedule::Linear => lin(self.beta_start, self.beta_end, i),
                BetaSchedule::ScaledLinear => {
                    lin(self.beta_start.sqrt(), self.beta_end.sqrt(), i).powi(2)
                }
                BetaSchedule::SquaredCosCapV2 => {
                    let f = |x: f64| {
                        ((x + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                            .cos()
                            .powi(2)
                    };
                    (1.0 - f((i + 1) as f64 / t as f64) / f(i as f64 / t as f64)).min(0.999)
                }
            })
            .collect();
        let mut acc = 1.0;
        betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect()
    }
}

/// One sampling run: the timesteps the UNet sees and the state each step needs.
#[derive(Debug, Clone)]
pub struct Sampler {
    kind: SamplerKind,
    prediction: Prediction,
    timesteps: Vec<f64>,
    /// DDIM: alpha-bar per training timestep.
    alphas_cumprod: Vec<f64>,
    /// DDIM: training timesteps between two inference steps.
    step_ratio: usize,
    /// DDIM: alpha-bar after the last step.
    final_alpha: f64,
    clip_sample: Option<f64>,
    /// Euler family: the sigma at each inference step, then 0.
    sigmas: Vec<f64>,
    init_noise_sigma: f64,
}

impl Sampler {
    /// Sets up `steps` inference steps of `kind` on `schedule`.
    pub fn new(kind: SamplerKind, schedule: &NoiseSchedule, steps: usize) -> Result<Self, SdError> {
        let t = schedule.num_train_timesteps;
        if steps == 0 || steps > t {
            return Err(SdError::Request {
                field: "steps",
                message: format!("{steps} is out of range; use 1 to {t}"),
            });
        }
        let spacing = schedule.timestep_spacing.unwrap_or(match kind {
            SamplerKind::Ddim => Spacing::Leading,
            SamplerKind::Euler | SamplerKind::EulerAncestral => Spacing::Linspace,
        });
        let timesteps = timesteps(
            spacing,
            t,
            steps,
            schedule.steps_offset,
            kind == SamplerKind::Ddim,
        );
        let alphas_cumprod = schedule.alphas_cumprod();
        let mut sampler = Sampler {
            kind,
            prediction: schedule.prediction_type,
            timesteps,
            step_ratio: t / steps,
            final_alpha: if schedule.set_alpha_to_one {
                1.0
            } else {
                alphas_cumprod[0]
            },
            clip_sample: schedule.clip_sample.then_some(schedule.clip_sample_range),
            alphas_cumprod,
            sigmas: Vec::new(),
            init_noise_sigma: 1.0,
        };
        if kind != SamplerKind::Ddim {
            let all: Vec<f64> = sampler
                .alphas_cumprod
                .iter()
                .map(|a| ((1.0 - a) / a).sqrt())
                .collect();
            let mut sigmas: Vec<f64> = sampler
                .timesteps
                .iter()
                .map(|&ts| interp(ts, &all))
                .collect();
            let max = sigmas.iter().copied().fold(0.0, f64::max);
            sampler.init_noise_sigma = match spacing {
                Spacing::Linspace | Spacing::Trailing => max,
                Spacing::Leading => (max * max + 1.0).sqrt(),
            };
            sigmas.push(0.0);
            sampler.sigmas = sigmas;
        }
        Ok(sampler)
    }

    /// The sampler kind.
    pub fn kind(&self) -> SamplerKind {
        self.kind
    }

    /// The timestep the UNet is given at each step (fractional for Euler with `linspace`).
    pub fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// The Euler family's sigmas (one per step, then 0); empty for DDIM.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The initial latents are standard noise times this.
    pub fn init_noise_sigma(&self) -> f64 {
        self.init_noise_sigma
    }

    /// Whether [`Sampler::step`] consumes fresh noise.
    pub fn needs_noise(&self) -> bool {
        self.kind == SamplerKind::EulerAncestral
    }

    /// Scales the latents before the UNet sees them at step `i`.
    pub fn scale_model_input(&self, x: &Tensor, i: usize) -> candle_core::Result<Tensor> {
        match self.kind {
            SamplerKind::Ddim => Ok(x.clone()),
            _ => x / (self.sigmas[i].powi(2) + 1.0).sqrt(),
        }
    }

    /// One step from `x` at step `i` given the UNet's output; `noise` (standard normal, the
    /// shape of `x`) is used by Euler ancestral only.
    pub fn step(
        &self,
        out: &Tensor,
        i: usize,
        x: &Tensor,
        noise: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        match self.kind {
            SamplerKind::Ddim => self.ddim_step(out, i, x),
            SamplerKind::Euler | SamplerKind::EulerAncestral => {
                let sigma = self.sigmas[i];
                let next = self.sigmas[i + 1];
                let x0 = match self.prediction {
                    Prediction::Epsilon => (x - (out * sigma)?)?,
                    Prediction::VPrediction => {
                        ((out * (-sigma / (sigma * sigma + 1.0).sqrt()))?
                            + (x / (sigma * sigma + 1.0))?)?
                    }
                    Prediction::Sample => out.clone(),
                };
                let derivative = ((x - x0)? / sigma)?;
                if self.kind == SamplerKind::Euler {
                    return x + (derivative * (next - sigma))?;
                }
                let up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).sqrt();
                let down = (next * next - up * up).sqrt();
                let prev = (x + (derivative * (down - sigma))?)?;
                match noise {
                    Some(n) if up > 0.0 => prev + (n * up)?,
                    _ => Ok(prev),
                }
            }
        }
    }

    fn ddim_step(&self, out: &Tensor, i: usize, x: &Tensor) -> candle_core::Result<Tensor> {
        let t = self.timesteps[i] as usize;
        let a_t = self.alphas_cumprod[t.min(self.alphas_cumprod.len() - 1)];
        let a_prev = match t.checked_sub(self.step_ratio) {
            Some(p) => self.alphas_cumprod[p],
            None => self.final_alpha,
        };
        let b_t = 1.0 - a_t;
        let (x0, eps) = match self.prediction {
            Prediction::Epsilon => (((x - (out * b_t.sqrt())?)? / a_t.sqrt())?, out.clone()),
            Prediction::VPrediction => (
                ((x * a_t.sqrt())? - (out * b_t.sqrt())?)?,
                ((out * a_t.sqrt())? + (x * b_t.sqrt())?)?,
            ),
            Prediction::Sample => (out.clone(), ((x - (out * a_t.sqrt())?)? / b_t.sqrt())?),
        };
        let (x0, eps) = match self.clip_sample {
            Some(r) => {
                let x0 = x0.clamp(-r, r)?;
                // diffusers re-derives epsilon from the clipped sample.
                let eps = ((x - (&x0 * a_t.sqrt())?)? / b_t.sqrt())?;
                (x0, eps)
            }
            None => (x0, eps),
        };
        (x0 * a_prev.sqrt())? + (eps * (1.0 - a_prev).sqrt())?
    }
}

/// The inference timesteps, descending, rounded as numpy rounds (half to even). DDIM's are
/// integers; the Euler family keeps
/// `linspace`'s fractions (diffusers' float32 timesteps).
fn timesteps(spacing: Spacing, t: usize, n: usize, offset: usize, integer: bool) -> Vec<f64> {
    let mut ts: Vec<f64> = match spacing {
        Spacing::Linspace => (0..n)
            .map(|i| {
                let v = if n == 1 {
                    0.0
                } else {
                    (t - 1) as f64 * i as f64 / (n - 1) as f64
                };
                if integer {
                    v.round_ties_even()
                } else {
                    v as f32 as f64
                }
            })
            .collect(),
        Spacing::Leading => (0..n).map(|i| (i * (t / n) + offset) as f64).collect(),
        Spacing::Trailing => {
            let ratio = t as f64 / n as f64;
            (0..n)
                .map(|i| (t as f64 - i as f64 * ratio).round_ties_even() - 1.0)
                .rev()
                .collect()
        }
    };
    ts.reverse();
    ts
}

/// numpy's `interp(x, arange(len(ys)), ys)`.
fn interp(x: f64, ys: &[f64]) -> f64 {
    if x <= 0.0 {
        return ys[0];
    }
    let last = ys.len() - 1;
    if x >= last as f64 {
        return ys[last];
    }
    let i = x.floor() as usize;
    let frac = x - i as f64;
    ys[i] + (ys[i + 1] - ys[i]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd15() -> NoiseSchedule {
        serde_json::from_str(
            r#"{"_class_name":"PNDMScheduler","beta_start":0.00085,"beta_end":0.012,
                "beta_schedule":"scaled_linear","num_train_timesteps":1000,"steps_offset":1}"#,
        )
        .unwrap()
    }

    #[test]
    fn names_parse_like_a1111() {
        assert_eq!(SamplerKind::from_name("DDIM").unwrap(), SamplerKind::Ddim);
        assert_eq!(
            SamplerKind::from_name("Euler a").unwrap(),
            SamplerKind::EulerAncestral
        );
        assert_eq!(
            SamplerKind::from_name("k_euler").unwrap(),
            SamplerKind::Euler
        );
        let err = SamplerKind::from_name("DPM++ 2M").unwrap_err().to_string();
        assert!(err.contains("sampler") && err.contains("Euler a"), "{err}");
    }

    /// diffusers: DDIMScheduler(...sd15 config).set_timesteps(4).timesteps == [751, 501, 251, 1].
    #[test]
    fn ddim_leading_timesteps() {
        let s = Sampler::new(SamplerKind::Ddim, &sd15(), 4).unwrap();
        assert_eq!(s.timesteps(), &[751.0, 501.0, 251.0, 1.0]);
    }

    /// diffusers: EulerDiscreteScheduler.from_config(sd15 config) keeps the missing
    /// timestep_spacing at its own default, linspace: linspace(0, 999, 4)[::-1].
    #[test]
    fn euler_linspace_and_trailing_timesteps() {
        let s = Sampler::new(SamplerKind::Euler, &sd15(), 4).unwrap();
        assert_eq!(s.timesteps(), &[999.0, 666.0, 333.0, 0.0]);
        assert_eq!(s.sigmas().len(), 5);
        assert_eq!(*s.sigmas().last().unwrap(), 0.0);
        let mut turbo = sd15();
        turbo.timestep_spacing = Some(Spacing::Trailing);
        let s = Sampler::new(SamplerKind::Euler, &turbo, 1).unwrap();
        assert_eq!(s.timesteps(), &[999.0]);
        // trailing: init sigma is the largest sigma itself (about 14.6 for SD).
        assert!((s.init_noise_sigma() - s.sigmas()[0]).abs() < 1e-12);
        assert!((s.sigmas()[0] - 14.6146).abs() < 1e-3, "{}", s.sigmas()[0]);
    }

    /// The last alpha-bar of the SD schedule is 0.0047 (sigma_max = 14.6146).
    #[test]
    fn scaled_linear_alphas() {
        let a = sd15().alphas_cumprod();
        assert_eq!(a.len(), 1000);
        assert!((a[0] - (1.0 - 0.00085)).abs() < 1e-12);
        assert!((a[999] - 0.004_660_5).abs() < 1e-6, "{}", a[999]);
    }

    #[test]
    fn euler_step_on_exact_noise_prediction_reaches_the_clean_sample() {
        let dev = candle_core::Device::Cpu;
        let clean = Tensor::new(&[0.5f32, -0.25], &dev).unwrap();
        let noise = Tensor::new(&[1.0f32, -2.0], &dev).unwrap();
        let s = Sampler::new(SamplerKind::Euler, &sd15(), 1).unwrap();
        let sigma = s.sigmas()[0];
        let x = (&clean + (&noise * sigma).unwrap()).unwrap();
        let out = s
            .step(&noise, 0, &x, None)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            (out[0] - 0.5).abs() < 1e-4 && (out[1] + 0.25).abs() < 1e-4,
            "{out:?}"
        );
    }

    #[test]
    fn refuses_unsupported_options_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scheduler_config.json");
        std::fs::write(&p, r#"{"use_karras_sigmas": true}"#).unwrap();
        let err = NoiseSchedule::load(&p).unwrap_err().to_string();
        assert!(err.contains("use_karras_sigmas"), "{err}");
    }
}
