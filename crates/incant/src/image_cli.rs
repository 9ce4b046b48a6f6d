//! The command line of `incant image`: image prompts rendered per target, generated on image
//! providers, laid out as X/Y/Z grids, and measured (CLIP score, FID, KID, FID-vs-CLIP curves).
//!
//! Kept apart from `cli.rs` so that file stays readable; `cli.rs` mounts [`ImageCommand`].

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `incant image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show how an image prompt reads on each target, with what each one ignores.
    ///
    /// Renders the prompt file with --var values, then for each target: A1111 (as written),
    /// ComfyUI (explicit (text:weight) groups), diffusers and local:sd (weighted pieces),
    /// OpenAI images (plain text). Targets come from --provider ids, or all of them.
    ///
    /// Examples:
    ///   incant image render examples/images/fox.prompt
    ///   incant image render fox.prompt -p openai:image:gpt-image-1 --json
    #[command(verbatim_doc_comment)]
    Render(ImageRenderArgs),
    /// Generate images from an image prompt on one or more providers; PNGs plus metadata.
    ///
    /// Writes OUT/NAME-PROVIDER-SEED-I.png and a .json beside each image (prompt as sent,
    /// negative prompt, settings, seed, latency, provider metadata, warnings). A failed call
    /// is reported and the others go on; exit code 1 when any call failed.
    ///
    /// Providers: a1111:URL, comfyui:URL (config: workflow file via --workflow),
    ///   openai:image:MODEL (OPENAI_BASE_URL, OPENAI_API_KEY), local:sd:DIR (a diffusers
    ///   folder: SD 1.5, 2.1 or turbo, run on the CPU with candle).
    ///
    /// Examples:
    ///   incant image generate fox.prompt -p a1111:http://127.0.0.1:7860 --seed 42
    ///   incant image generate fox.prompt -p local:sd:models/sd-turbo --steps 1 --cfg-scale 1
    #[command(verbatim_doc_comment)]
    Generate(ImageGenerateArgs),
    /// An X/Y/Z plot like A1111's script: one labelled PNG contact sheet and an HTML grid.
    ///
    /// Each axis is `NAME: VALUES`. Names: Seed, Steps, CFG Scale, Sampler, Width, Height,
    /// Provider (values are provider ids), Prompt S/R (the first value is searched for in
    /// the prompt and replaced by each value), Negative S/R, Var:NAME (a template variable).
    /// Values are comma separated (CSV quoting); numbers take A1111's ranges: `1-5`,
    /// `1-5 (+2)`, `10-1 (-3)`, `1-10 [5]`, `1.5-3 (+0.5)`; seed -1 is random per value.
    ///
    /// Examples:
    ///   incant image grid fox.prompt -p local:sd:models/sd --x "Seed: 1-4" --y "CFG Scale: 3,7"
    ///   incant image grid matrix.prompt -p a1111:http://h:7860 --matrix
    ///   incant image grid fox.prompt -p a1111:http://h:7860 --x "Prompt S/R: fox,cat,owl" \
    ///       --y "Provider: a1111:http://h:7860, comfyui:http://h:8188" -o grid.png
    #[command(verbatim_doc_comment)]
    Grid(ImageGridArgs),
    /// CLIP score of images against their captions, as torchmetrics computes it.
    ///
    /// 100 x max(mean cosine, 0) over the pairs (the clamp is on the mean, as torchmetrics
    /// does; per-image scores are printed unclamped). Captions come from --caption (one
    /// for every image), --captions FILE (one line per image), else from the `prompt` in
    /// each image's .json (as `incant image generate` writes it). Captions over 77 CLIP
    /// tokens are truncated with a warning.
    ///
    /// Example:
    ///   incant image score --clip models/clip-vit-large-patch14 out/*.png
    #[command(verbatim_doc_comment)]
    Score(ImageScoreArgs),
    /// FID and KID between two sets of images (folders of PNGs) or of features (.npy).
    ///
    /// FID in f64 with pytorch-fid's formula (trace of the matrix square root from
    /// symmetric eigendecompositions); KID as clean-fid/torchmetrics: unbiased MMD with the
    /// cubic polynomial kernel over seeded subsets. Image folders are embedded with the
    /// CLIP image tower of --clip (FID on CLIP features); .npy files hold one feature row
    /// per image from any extractor. With --inception, folders go through pytorch-fid's
    /// Inception network after clean-fid's preprocessing instead.
    ///
    /// Examples:
    ///   incant image fid real/ generated/ --clip models/clip-vit-large-patch14
    ///   incant image fid real_inception.npy fake_inception.npy --json
    #[command(verbatim_doc_comment)]
    Fid(ImageFidArgs),
    /// FID against CLIP score while cfg scale sweeps, per provider: the SD2 model card chart
    /// for your prompts and models. Writes a PNG plot and a CSV.
    ///
    /// For each provider and cfg scale (default 1.5, 2, 3, 4, 5, 6, 7, 8), generates
    /// --images images per prompt (seeds 0..N), scores them against their prompts with
    /// CLIP and measures FID of their CLIP features against the --reference images.
    ///
    /// Example:
    ///   incant image curve fox.prompt owl.prompt -p local:sd:models/sd15 -p local:sd:models/sd21 \
    ///       --reference photos/ --clip models/clip-vit-large-patch14 -o curve.png
    #[command(verbatim_doc_comment)]
    Curve(ImageCurveArgs),
}

/// The prompt and the settings every image command shares.
#[derive(Debug, Args)]
pub struct ImagePromptArgs {
    /// The image prompt file (`kind: image`).
    #[arg(value_name = "PROMPT")]
    pub prompt: PathBuf,
    /// A template variable, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Overrides the prompt's seed.
    #[arg(long)]
    pub seed: Option<i64>,
    /// Overrides the prompt's steps.
    #[arg(long)]
    pub steps: Option<u32>,
    /// Overrides the prompt's cfg scale.
    #[arg(long)]
    pub cfg_scale: Option<f64>,
    /// Overrides the prompt's width.
    #[arg(long)]
    pub width: Option<u32>,
    /// Overrides the prompt's height.
    #[arg(long)]
    pub height: Option<u32>,
    /// Overrides the prompt's sampler (A1111 names: "Euler a", "DDIM", ...).
    #[arg(long)]
    pub sampler: Option<String>,
    /// ComfyUI workflow template (API format) for comfyui: providers.
    #[arg(long, value_name = "FILE")]
    pub workflow: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `incant image render`
#[derive(Debug, Args)]
pub struct ImageRenderArgs {
    #[command(flatten)]
    pub common: ImagePromptArgs,
    /// Provider ids whose targets to show (default: every target).
    #[arg(short, long = "provider", value_name = "ID")]
    pub providers: Vec<String>,
}

/// `incant image generate`
#[derive(Debug, Args)]
pub struct ImageGenerateArgs {
    #[command(flatten)]
    pub common: ImagePromptArgs,
    /// Image provider ids (repeatable).
    #[arg(short, long = "provider", value_name = "ID", required = true)]
    pub providers: Vec<String>,
    /// Images per call.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Output folder.
    #[arg(short, long, value_name = "DIR", default_value = "images")]
    pub out: PathBuf,
}

/// `incant image grid`
#[derive(Debug, Args)]
pub struct ImageGridArgs {
    #[command(flatten)]
    pub common: ImagePromptArgs,
    /// The provider of every cell (a Provider axis overrides it).
    #[arg(short, long = "provider", value_name = "ID", required = true)]
    pub provider: String,
    /// Columns: `NAME: VALUES`.
    #[arg(long, value_name = "AXIS", required_unless_present = "matrix")]
    pub x: Option<String>,
    /// A1111's prompt matrix instead of axes: the prompt's `|`-separated parts after the first
    /// are optional, and every combination is a cell.
    #[arg(long, conflicts_with_all = ["x", "y", "z"])]
    pub matrix: bool,
    /// Rows: `NAME: VALUES`.
    #[arg(long, value_name = "AXIS")]
    pub y: Option<String>,
    /// Sheets: `NAME: VALUES`.
    #[arg(long, value_name = "AXIS")]
    pub z: Option<String>,
    /// The contact sheet (one per z value: grid-1.png, grid-2.png, ... when there are several).
    #[arg(short, long, value_name = "FILE", default_value = "grid.png")]
    pub out: PathBuf,
    /// Also write an HTML grid with every cell's metadata (images beside it in FILE's folder).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `incant image score`
#[derive(Debug, Args)]
pub struct ImageScoreArgs {
    /// PNG files.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<PathBuf>,
    /// The CLIP model folder (transformers layout: config.json, model.safetensors).
    #[arg(long, value_name = "DIR")]
    pub clip: PathBuf,
    /// One caption for every image.
    #[arg(long, conflicts_with = "captions")]
    pub caption: Option<String>,
    /// A file with one caption per line, in image order.
    #[arg(long, value_name = "FILE")]
    pub captions: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `incant image fid`
#[derive(Debug, Args)]
pub struct ImageFidArgs {
    /// The reference set: a folder of PNGs or a .npy feature file.
    #[arg(value_name = "REAL")]
    pub real: PathBuf,
    /// The generated set: a folder of PNGs or a .npy feature file.
    #[arg(value_name = "FAKE")]
    pub fake: PathBuf,
    /// CLIP model folder for image folders (features: CLIP image embeddings).
    #[arg(long, value_name = "DIR", conflicts_with = "inception")]
    pub clip: Option<PathBuf>,
    /// pytorch-fid's Inception weights as safetensors, for image folders (2048-d pool3
    /// features after clean-fid's float resize to 299x299; convert the .pth once with
    /// scripts/reference/convert_fid_inception.py).
    #[arg(long, value_name = "FILE")]
    pub inception: Option<PathBuf>,
    /// KID subsets.
    #[arg(long, default_value_t = 100)]
    pub kid_subsets: usize,
    /// KID subset size (capped at the smaller set).
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Seed of the KID subset sampling.
    #[arg(long, default_value_t = 0)]
    pub kid_seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `incant image curve`
#[derive(Debug, Args)]
pub struct ImageCurveArgs {
    /// Image prompt files.
    #[arg(value_name = "PROMPT", required = true)]
    pub prompts: Vec<PathBuf>,
    /// Image provider ids, one curve each (repeatable).
    #[arg(short, long = "provider", value_name = "ID", required = true)]
    pub providers: Vec<String>,
    /// Reference images (a folder of PNGs) or features (.npy) for FID.
    #[arg(long, value_name = "PATH")]
    pub reference: PathBuf,
    /// The CLIP model folder (scores and FID features).
    #[arg(long, value_name = "DIR")]
    pub clip: PathBuf,
    /// cfg scales to sweep, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])]
    pub cfg: Vec<f64>,
    /// Images per prompt and cfg scale (seeds 0..N).
    #[arg(long, default_value_t = 4)]
    pub images: u32,
    /// Overrides the prompts' steps.
    #[arg(long)]
    pub steps: Option<u32>,
    /// The plot.
    #[arg(short, long, value_name = "FILE", default_value = "curve.png")]
    pub out: PathBuf,
    /// The figures as CSV (default: the plot's name with .csv).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
